"""What every asset shows in the UI: row counts, a masked preview, figures Dagster plots, its column schema, and
the result of its pandera check."""


from typing import Any

import pandas as pd
import pandera.pandas as pa
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MetadataValue,
    TableColumn,
    TableColumnConstraints,
    TableConstraints,
    TableSchema,
)
from pandera.errors import SchemaErrors

from tailor.governance.masking import mask_email, mask_emails_in_text

SCHEMA_CHECK = "pandera_schema"
COLUMN_SCHEMA = "dagster/column_schema"
#: Columns whose values are personal data: never shown in a preview or a failed check's examples. (A subject
#: carries the first name; a quarantine reason quotes the raw value it refused.)
_PERSONAL_COLUMNS = {"email", "to_email", "phone", "first_name", "last_name", "postcode", "city", "raw", "html",
                     "text", "subject", "email_norm", "phone_e164", "first_key", "last_key", "postcode_key",
                     "city_key", "email_typo_suggestion"}
_QUOTED = r"'[^']*'"
#: Significant digits of float figures: enough for model parameters, short enough to read.
FIGURE_DIGITS = 6


def schema_check_spec(asset: str, description: str | None = None) -> AssetCheckSpec:
    """A blocking pandera check: bad rows never flow on towards a customer's inbox."""
    return AssetCheckSpec(
        name=SCHEMA_CHECK,
        asset=AssetKey(asset),
        blocking=True,
        description=description or f"Every row of {asset} matches its pandera schema.",
    )


def column_schema(schema: type[pa.DataFrameModel] | pa.DataFrameSchema) -> TableSchema:
    """The table's columns as Dagster shows them (the asset page's Columns section), read from its pandera schema."""
    frame_schema = schema.to_schema() if isinstance(schema, type) else schema
    unique = frame_schema.unique or []
    columns = []
    for name, column in frame_schema.columns.items():
        checks = [str(check.name) for check in column.checks]
        columns.append(TableColumn(
            name=str(name),
            type=str(column.dtype),
            description=column.description,
            constraints=TableColumnConstraints(nullable=bool(column.nullable), unique=bool(column.unique),
                                               other=checks),
        ))
    together = [f"unique together: {', '.join(unique)}"] if isinstance(unique, list) and len(unique) > 1 else []
    return TableSchema(columns=columns, constraints=TableConstraints(other=together) if together else None)


def table_definition_metadata(schema: type[pa.DataFrameModel] | pa.DataFrameSchema) -> dict[str, Any]:
    """Metadata known before any run: the column schema."""
    return {COLUMN_SCHEMA: column_schema(schema)}


def _mask_value(value: Any) -> Any:
    if isinstance(value, str) and "@" in value:
        return mask_emails_in_text(value)
    return value


def masked_preview(df: pd.DataFrame, rows: int = 10) -> MetadataValue:
    """A markdown preview without personal data: emails masked, free-text personal columns dropped."""
    head = df.head(rows).copy()
    for column in head.columns:
        if column == "email" or column == "to_email":
            head[column] = head[column].map(mask_email)
        elif column in _PERSONAL_COLUMNS:
            head = head.drop(columns=column)
        elif column == "reason" and head[column].dtype == object:   # quarantine reasons quote the refused value
            head[column] = head[column].str.replace(_QUOTED, "'…'", regex=True)
        elif head[column].dtype == object:
            head[column] = head[column].map(_mask_value)
    for column in head.columns:
        if head[column].dtype == object:
            head[column] = head[column].map(lambda v: v[:60] + "…" if isinstance(v, str) and len(v) > 60 else v)
    return MetadataValue.md(head.to_markdown(index=False) if len(head) else "_(no rows)_")


def figure(value: float | int) -> MetadataValue:
    """A number Dagster plots over runs: integers as they are, floats to FIGURE_DIGITS significant digits."""
    if isinstance(value, (bool, int)) or (hasattr(value, "dtype") and getattr(value.dtype, "kind", "") in "iub"):
        return MetadataValue.int(int(value))
    return MetadataValue.float(float(f"{float(value):.{FIGURE_DIGITS}g}"))


def table_metadata(df: pd.DataFrame, **figures: float | int) -> dict[str, Any]:
    """Row count (Dagster plots it over time), a masked preview, and any extra numeric figures."""
    meta: dict[str, Any] = {"dagster/row_count": MetadataValue.int(len(df)), "preview": masked_preview(df)}
    for name, value in figures.items():
        meta[name] = figure(value)
    return meta


def schema_check_result(asset: str, schema: type[pa.DataFrameModel] | pa.DataFrameSchema,
                        df: pd.DataFrame) -> AssetCheckResult:
    """Validate ``df`` lazily; on failure, report how many cases failed and the first few of them."""
    try:
        schema.validate(df, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases.copy()
        personal = cases["column"].isin(_PERSONAL_COLUMNS)
        cases["failure_case"] = cases["failure_case"].map(_mask_value).where(~personal, "(personal data, not shown)")
        shown = cases[["column", "check", "failure_case", "index"]].head(20)
        return AssetCheckResult(
            asset_key=AssetKey(asset),
            check_name=SCHEMA_CHECK,
            passed=False,
            severity=AssetCheckSeverity.ERROR,
            metadata={
                "failure_cases": MetadataValue.int(len(cases)),
                "first_failures": MetadataValue.md(shown.to_markdown(index=False)),
            },
        )
    return AssetCheckResult(
        asset_key=AssetKey(asset),
        check_name=SCHEMA_CHECK,
        passed=True,
        metadata={"rows_checked": MetadataValue.int(len(df))},
    )
