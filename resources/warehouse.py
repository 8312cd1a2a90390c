"""The warehouse as a Dagster resource: the embedded DuckDB file by default, Snowflake in production.

Configuration and construction only: a resource opens sessions (tailor/warehouse/session.py), the same sessions
the command line opens without Dagster. The Snowflake resource lives in resources/snowflake_warehouse.py,
imported only when Snowflake is configured (its stack costs seconds to import, which every run launch would pay).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import ConfigurableResource
from pydantic import Field

from tailor.warehouse.duckdb_connection import DuckDBFile
from tailor.warehouse.session import WarehouseSession


class WarehouseResource(ConfigurableResource):
    """Base of both warehouse resources: ``kind`` and ``session()`` (one transaction), nothing else."""

    @property
    def kind(self) -> str:
        raise NotImplementedError

    @contextmanager
    def session(self) -> Iterator[WarehouseSession]:
        raise NotImplementedError


class DuckDBWarehouse(WarehouseResource):
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
