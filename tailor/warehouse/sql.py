"""What every warehouse query shares: times are tz-naive UTC (docs/internal-spec.md), written as SQL timestamp
literals, and source records reach master customers through ``customer_identity_links``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tailor.clock import utc_naive

if TYPE_CHECKING:
    import pandas as pd
import re
from functools import lru_cache

import pandas as pd
import sqlglot


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


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid table or column name {name!r}: use lower-case letters, digits and _")
    return name


@lru_cache(maxsize=512)
def snowflake_to_duckdb(sql: str) -> str:
    """Translate one or more Snowflake statements into DuckDB's dialect."""
    return ";\n".join(sqlglot.transpile(sql, read="snowflake", write="duckdb"))
