"""What every warehouse query shares: identifiers checked, literals written safely, Snowflake's dialect translated
for DuckDB, times as tz-naive UTC literals, and the way source records reach master customers."""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from tailor.clock import utc_naive

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")

#: A ``WITH`` item: source ``customer_ref`` -> master ``customer_id`` (several refs may map to one customer).
CUSTOMER_LINKS_CTE = """links AS (
    SELECT DISTINCT source_record_id AS customer_ref, customer_id
    FROM customer_identity_links
    WHERE source_record_id IS NOT NULL AND customer_id IS NOT NULL
)"""


def check_identifier(name: str) -> str:
    """``name`` if it is a plain lower-case table or column name (everything Tailor creates is), else ValueError."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid table or column name {name!r}: use lower-case letters, digits and _")
    return name


def string_literal(text: str) -> str:
    """A SQL string literal (``'it''s'``)."""
    return "'" + text.replace("'", "''") + "'"


def timestamp_literal(moment: datetime | pd.Timestamp) -> str:
    """A Snowflake-dialect ``TIMESTAMP '...'`` literal of ``moment`` in UTC (transpiled to DuckDB as is)."""
    ts = utc_naive(moment)
    fmt = "%Y-%m-%d %H:%M:%S.%f" if ts.microsecond else "%Y-%m-%d %H:%M:%S"
    return f"TIMESTAMP '{ts.strftime(fmt)}'"


@lru_cache(maxsize=512)
def snowflake_to_duckdb(sql: str) -> str:
    """Translate one or more Snowflake statements into DuckDB's dialect (sqlglot, as fakesnow does)."""
    import sqlglot

    return ";\n".join(sqlglot.transpile(sql, read="snowflake", write="duckdb"))
