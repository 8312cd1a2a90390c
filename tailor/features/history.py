"""Feature history: ``customer_features`` rebuilt as of the end of each UTC day (table ``customer_features_history``).

One partition per UTC day ``D``, holding the features as of ``D + 1 day 00:00:00`` UTC (the end of ``D``: every
row up to and including that instant), computed by the same SQL as ``customer_features``. A partition is written
idempotently: its rows (``feature_date = D``) are deleted and re-inserted in one warehouse transaction, so a
re-run or a backfill of a day replaces that day and nothing else. Why partitions and not snapshots:
docs/features.md, "History".
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

from tailor.features.customer_features import (
    FEATURE_COLUMNS,
    CustomerFeaturesSchema,
    compute_customer_features,
    feature_figures,
)
from tailor.warehouse.session import WarehouseSession

HISTORY_TABLE = "customer_features_history"

#: First day of the daily partitions (the demo data covers about two years before "now").
HISTORY_START_DATE = "2024-01-01"

HISTORY_COLUMNS: list[str] = [*FEATURE_COLUMNS, "feature_date"]


def parse_day(day: str) -> date:
    """A partition key ``YYYY-MM-DD`` as a date, with an error that names the bad key."""
    try:
        return date.fromisoformat(day)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{HISTORY_TABLE}: partition key {day!r} is not a YYYY-MM-DD day") from err


def partition_as_of(day: str) -> datetime:
    """The end of UTC day ``day``: the next midnight, tz-naive UTC (rows exactly at it are included)."""
    d = parse_day(day)
    return datetime(d.year, d.month, d.day) + timedelta(days=1)


def history_partition(features: pd.DataFrame, day: str) -> pd.DataFrame:
    """``customer_features`` computed as of :func:`partition_as_of` -> rows of the history table."""
    expected = pd.Timestamp(partition_as_of(day))
    if len(features) and not (features["as_of"] == expected).all():
        found = sorted(features["as_of"].astype(str).unique())[:3]
        raise ValueError(f"{HISTORY_TABLE}: partition {day} must hold features as of {expected}, found as_of {found}")
    return features.assign(feature_date=parse_day(day).isoformat())[HISTORY_COLUMNS]


class CustomerFeaturesHistorySchema(CustomerFeaturesSchema):
    """One partition of ``customer_features_history``: ``customer_features`` plus its ``feature_date``."""

    feature_date: Series[str] = pa.Field(nullable=False, str_matches=r"^\d{4}-\d{2}-\d{2}$")

    @pa.dataframe_check(name="feature_date_is_the_day_before_as_of")
    def _date_matches_as_of(cls, df: pd.DataFrame) -> pd.Series:
        return df["feature_date"] == (df["as_of"] - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")


def write_partition(session: WarehouseSession, day: str, rows: pd.DataFrame) -> None:
    """Replace day ``day`` in the history table inside ``session`` (one transaction: delete, then append).

    Fails with a clear message when the table was created with other columns (a feature added or renamed since):
    rebuild it with a backfill.
    """
    if list(rows.columns) != HISTORY_COLUMNS:
        raise ValueError(f"{HISTORY_TABLE}: rows must have the columns {HISTORY_COLUMNS}, got {list(rows.columns)}")
    if session.table_exists(HISTORY_TABLE):
        existing = list(session.query(f"SELECT * FROM {HISTORY_TABLE} LIMIT 0").columns)
        if existing != HISTORY_COLUMNS:
            added = [c for c in HISTORY_COLUMNS if c not in existing]
            dropped = [c for c in existing if c not in HISTORY_COLUMNS]
            raise ValueError(
                f"{HISTORY_TABLE}: the table has other columns than the features now computed (new: {added}, "
                f"gone: {dropped}). Drop the table and backfill the days you need, so that every day is comparable."
            )
    session.delete_where_in(HISTORY_TABLE, "feature_date", [parse_day(day).isoformat()])
    session.write_table(HISTORY_TABLE, rows, mode="append")


def build_history_day(session: WarehouseSession, day: str,
                      cart_grace_hours: int) -> tuple[pd.DataFrame, dict, datetime]:
    """Compute day ``day`` of the history (the features as of :func:`partition_as_of`), validate it and replace
    that day in the table, inside ``session``: (the rows written, their :func:`feature_figures`, the as_of).

    A day that fails its schema raises before anything is written, so it never replaces a good one."""
    as_of = partition_as_of(day)
    features = compute_customer_features(session, as_of, cart_grace_hours)
    rows = history_partition(features, day)
    try:
        CustomerFeaturesHistorySchema.validate(rows, lazy=True)
    except SchemaErrors as err:
        first = err.failure_cases[["column", "check", "index"]].head(5).to_dict("records")
        raise ValueError(f"{HISTORY_TABLE} partition {day}: {len(err.failure_cases)} schema failures, "
                         f"first: {first}") from err
    write_partition(session, day, rows)
    return rows, feature_figures(features), as_of


def history_day_sql(day: str) -> str:
    """One day of the history (Snowflake dialect)."""
    return f"SELECT * FROM {HISTORY_TABLE} WHERE feature_date = '{parse_day(day).isoformat()}' ORDER BY customer_id"


_NOT_COMPARED = {"customer_id", "as_of", "feature_date"}


def compare_days(day_a: pd.DataFrame, day_b: pd.DataFrame) -> pd.DataFrame:
    """How features moved between two history days: per feature, customers whose value changed, and means.

    Customers present on only one day count as changed. Columns: ``feature, customers_changed, mean_a, mean_b``
    (means only for numeric and boolean features).
    """
    a = day_a.set_index("customer_id")
    b = day_b.set_index("customer_id")
    ids = a.index.union(b.index)
    a, b = a.reindex(ids), b.reindex(ids)
    rows = []
    for col in [c for c in FEATURE_COLUMNS if c not in _NOT_COMPARED]:
        x, y = a[col], b[col]
        same = (x == y) | (x.isna() & y.isna())
        numeric = pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)
        rows.append(
            {
                "feature": col,
                "customers_changed": int((~same).sum()),
                "mean_a": float(x.astype("float64").mean()) if numeric else np.nan,
                "mean_b": float(y.astype("float64").mean()) if numeric else np.nan,
            }
        )
    return pd.DataFrame(rows)
