"""The warehouse the environment configures, for code that runs outside Dagster (the command line)."""

from __future__ import annotations

import os

from tailor.config import setting, snowflake_enabled
from tailor.warehouse.duckdb_connection import DuckDBFile
from tailor.warehouse.session import Warehouse
from tailor.warehouse.snowflake_connection import SnowflakeConnection, snowflake_parameters


def warehouse_from_environment(*, read_only: bool = False) -> Warehouse:
    """Snowflake when ``SNOWFLAKE_ACCOUNT`` is set, else the DuckDB file ``TAILOR_WAREHOUSE_PATH``."""
    if snowflake_enabled():
        return SnowflakeConnection(snowflake_parameters(os.environ))
    return DuckDBFile(setting("TAILOR_WAREHOUSE_PATH"), read_only=read_only)
