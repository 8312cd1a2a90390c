"""The warehouse: an embedded DuckDB file by default, Snowflake in production.

Every SQL text in Tailor is written in Snowflake's dialect. Snowflake runs it as is; the DuckDB
warehouse transpiles it with sqlglot (the same translation fakesnow relies on), so one SQL text
serves both and heavy work stays inside the warehouse instead of being pulled into pandas.
Identifiers are lower-case everywhere; Snowflake's upper-cased result columns are folded back.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pandas as pd
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource

from tailor.warehouse.duckdb_connection import DuckDBSession
from tailor.warehouse.session import WarehouseSession, WriteMode
from tailor.warehouse.snowflake_connection import SnowflakeSession
from tailor.warehouse.sql import check_identifier


class Warehouse(ConfigurableResource):
    """Base of both warehouses. Every method runs in its own transaction; use ``session()`` to group."""

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        raise NotImplementedError

    def query(self, sql: str) -> pd.DataFrame:
        with self.session() as s:
            return s.query(sql)

    def execute(self, sql: str) -> None:
        with self.session() as s:
            s.execute(sql)

    def read_table(self, name: str) -> pd.DataFrame:
        return self.query(f"SELECT * FROM {check_identifier(name)}")

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        with self.session() as s:
            s.write_table(name, df, mode)

    def table_exists(self, name: str) -> bool:
        with self.session() as s:
            return s.table_exists(name)

    def row_count(self, name: str) -> int:
        return int(self.query(f"SELECT COUNT(*) AS n FROM {check_identifier(name)}")["n"].iloc[0])


class DuckDBWarehouse(Warehouse):
    """Embedded default: one DuckDB file (``TAILOR_WAREHOUSE_PATH``)."""

    path: str  # TAILOR_WAREHOUSE_PATH; the default lives in tailor/config.py
    # DuckDB's own cap on its memory (e.g. "4GB"); empty: DuckDB's default, 80 % of RAM, which it fills with
    # cached table pages on big data. Above the cap, big joins and sorts spill to disk instead.
    memory_limit: str = ""

    @property
    def kind(self) -> str:
        return "duckdb"

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        from pathlib import Path

        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        # DuckDBResource retries while another process holds the file lock.
        # Timestamps are stored tz-naive UTC: no ICU extension (it cannot be downloaded offline) is needed.
        config = {"memory_limit": self.memory_limit} if self.memory_limit else {}
        with DuckDBResource(database=self.path, connection_config=config).get_connection() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield DuckDBSession(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


class SnowflakeWarehouse(Warehouse):
    """Production: Snowflake through dagster-snowflake's resource (switched on by ``SNOWFLAKE_ACCOUNT``)."""

    snowflake: SnowflakeResource

    @property
    def kind(self) -> str:
        return "snowflake"

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        with self.snowflake.get_connection() as conn:
            conn.autocommit(False)
            try:
                yield SnowflakeSession(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
