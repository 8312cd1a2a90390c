"""The warehouse tables ingestion writes, as the contracts define them: a source's data tables (orders also
``order_items``), its ``<source>__quarantine`` and ``<source>__duplicates`` tables and the ``landing_files``
manifest; their typed empty frames, their CREATE statements and the pandera schemas of loaded rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.sources.contracts import ALL_SOURCES, SourceContract, currency_minor_units

MANIFEST_TABLE = "landing_files"
MANIFEST_COLUMNS = [
    "source", "file", "sha256", "rows_read", "rows_accepted", "rows_quarantined", "rows_duplicate",
    "depends_on", "file_stamp", "arrived_at", "ingested_at",
]


QUARANTINE_COLUMNS = ["source", "file", "line", "raw", "reason"]


class QuarantineSchema(pa.DataFrameModel):
    source: Series[str] = pa.Field(isin=[c.name for c in ALL_SOURCES])
    file: Series[str]
    line: Series[int] = pa.Field(ge=1)
    raw: Series[str]
    reason: Series[str] = pa.Field(str_length={"min_value": 1})


def output_tables(contract: SourceContract) -> list[str]:
    return ["orders", "order_items"] if contract.nested else [contract.name]


_DTYPES = {"string": object, "currency": object, "integer": "int64", "number": float, "money": float, "rate": float,
           "boolean": "boolean", "timestamp": "datetime64[ns]", "unix_timestamp": "datetime64[ns]",
           "date": "datetime64[ns]"}


def empty_table(contract: SourceContract, table: str) -> pd.DataFrame:
    """A typed, empty table, so that the first load of an empty source still creates the right columns."""
    if table == "order_items":
        spec = {"order_id": object, "line_no": "int64", "product_id": object, "quantity": "int64",
                "unit_price": float, "line_total": float, "line_total_eur": float}
    else:
        spec = {c.table_name: _DTYPES[c.kind] for c in contract.columns}
        if table == "orders":
            spec.update({"order_total": float, "item_count": "int64", "order_total_eur": float})
    spec.update({"_source_file": object, "_source_line": "int64"})
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in spec.items()})


def table_schema(contract: SourceContract, table: str, check_unique: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a loaded table: the contract's types and checks, plus provenance columns.

    ``check_unique=False`` for a sample of new rows taken before cross-file deduplication: uniqueness over
    the whole table is checked in SQL instead (``key_repeats``).
    """
    by_name = {c.table_name: c for c in (*contract.columns, *contract.nested)}
    unique = contract.unique_key if isinstance(contract.unique_key, str) and table != "order_items" else None
    unique = unique if check_unique else None
    columns: dict[str, pa.Column] = {}
    for name, dtype in empty_table(contract, table).dtypes.items():
        spec = by_name.get(str(name))
        checks = []
        if spec is not None and spec.choices:
            checks.append(pa.Check.isin(list(spec.choices)))
        if spec is not None and spec.minimum is not None:
            checks.append(pa.Check.gt(spec.minimum) if spec.exclusive_minimum else pa.Check.ge(spec.minimum))
        if spec is not None and spec.kind == "currency":
            checks.append(pa.Check.isin(sorted(currency_minor_units())))
        if str(name) in ("order_total", "order_total_eur", "line_total", "line_total_eur"):
            checks.append(pa.Check.ge(0))
        required = (spec is not None and spec.required) or str(name) in (
            "_source_file", "_source_line", "line_no", "order_total", "order_total_eur", "item_count",
            "line_total", "line_total_eur",
        )
        columns[str(name)] = pa.Column(
            str if dtype == object else dtype,
            nullable=not required,
            checks=checks,
            unique=(str(name) == unique),
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=table)


def quarantine_table(source: str) -> str:
    return f"{source}__quarantine"


def duplicates_table(source: str) -> str:
    return f"{source}__duplicates"


def create_sql(table: str, empty: pd.DataFrame) -> str:
    """CREATE TABLE (Snowflake types) from a typed empty frame: an empty object column would have no type."""
    def sql_type(dtype: Any) -> str:
        kind = np.dtype(dtype).kind if not isinstance(dtype, pd.BooleanDtype) else "b"
        return {"i": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN", "M": "TIMESTAMP_NTZ"}.get(kind, "VARCHAR")

    columns = ", ".join(f"{name} {sql_type(dtype)}" for name, dtype in empty.dtypes.items())
    return f"CREATE TABLE {table} ({columns})"


def empty_duplicates() -> pd.DataFrame:
    """The ``<source>__duplicates`` table, empty: each row not loaded because another row of its key is kept (a
    repeated event id, or a CRM record or product superseded by a later version); ``first_file`` and ``first_line``
    name the row that is kept (for events the first copy, for records the latest version)."""
    return pd.DataFrame({
        "source": pd.Series(dtype=object), "file": pd.Series(dtype=object), "line": pd.Series(dtype="int64"),
        "key": pd.Series(dtype=object), "first_file": pd.Series(dtype=object),
        "first_line": pd.Series(dtype="int64"), "content_differs": pd.Series(dtype=bool),
    })
