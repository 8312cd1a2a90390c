"""The warehouse as a Dagster resource: the embedded DuckDB file by default, Snowflake in production.

Configuration and construction only: sessions are :mod:`tailor.warehouse`'s, the same for the pipeline and the
command line. The Snowflake resource lives in resources/snowflake_warehouse.py, imported only when Snowflake is
configured (its stack costs seconds to import, which every run launch would pay).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

from tailor.warehouse.duckdb_connection import DuckDBFile
from tailor.warehouse.session import WarehouseSession, WriteMode
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

    path: str = Field(description="The DuckDB file (TAILOR_WAREHOUSE_PATH).")
    memory_limit: str = Field(default="", description="DuckDB's memory cap, e.g. 4GB; empty: 80 % of RAM. Above "
                                                      "it, big joins and sorts spill to disk.")

    @property
    def kind(self) -> str:
        return "duckdb"

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        with DuckDBFile(self.path, memory_limit=self.memory_limit).session() as session:
            yield session
