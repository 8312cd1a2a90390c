"""The one port every stage talks to the warehouse through: a session (one transaction) and what opens one.

The embedded DuckDB file (:mod:`tailor.warehouse.duckdb_connection`) and Snowflake
(:mod:`tailor.warehouse.snowflake_connection`) both provide it; the Dagster resources (resources/warehouse.py)
only configure them. Every SQL text is Snowflake's dialect; the DuckDB session transpiles it.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

WriteMode = Literal["replace", "append"]


class WarehouseSession(Protocol):
    """What a stage can do inside one warehouse transaction."""

    def query(self, sql: str) -> pd.DataFrame: ...
    def execute(self, sql: str) -> None: ...
    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None: ...
    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None: ...
    def table_exists(self, name: str) -> bool: ...
    def append_parquet(self, name: str, paths: list[Path]) -> None: ...


class Warehouse(Protocol):
    """Anything that opens sessions: the plain connections here, or the pipeline's resources."""

    @property
    def kind(self) -> str: ...

    def session(self) -> AbstractContextManager[WarehouseSession]: ...


class WarehouseBusy(RuntimeError):
    """The warehouse could not be opened in time because another process holds it (DuckDB: its one writer)."""
