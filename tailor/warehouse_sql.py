"""What every warehouse query shares: times are tz-naive UTC (docs/internal-spec.md), written as SQL timestamp
literals, and source records reach master customers through ``customer_identity_links``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def utc_naive(moment: datetime | pd.Timestamp | str | Any) -> pd.Timestamp:
    """``moment`` as a tz-naive UTC ``Timestamp`` (a naive input is already UTC by convention)."""
    import pandas as pd  # here, not at import: `tailor rules check` loads decisions without pandas

    ts = pd.Timestamp(moment)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    return ts


def timestamp_literal(moment: datetime | pd.Timestamp) -> str:
    """A Snowflake-dialect ``TIMESTAMP '...'`` literal of ``moment`` in UTC (transpiled to DuckDB as is)."""
    ts = utc_naive(moment)
    fmt = "%Y-%m-%d %H:%M:%S.%f" if ts.microsecond else "%Y-%m-%d %H:%M:%S"
    return f"TIMESTAMP '{ts.strftime(fmt)}'"


#: A ``WITH`` item: source ``customer_ref`` -> master ``customer_id`` (several refs may map to one customer).
CUSTOMER_LINKS_CTE = """links AS (
    SELECT DISTINCT source_record_id AS customer_ref, customer_id
    FROM customer_identity_links
    WHERE source_record_id IS NOT NULL AND customer_id IS NOT NULL
)"""
