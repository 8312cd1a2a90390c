"""TODO docstring (split from resources/warehouse.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Protocol

import pandas as pd

WriteMode = Literal["replace", "append"]


class WarehouseSession(Protocol):
    """What assets can do inside one warehouse transaction."""

    def query(self, sql: str) -> pd.DataFrame: ...
    def execute(self, sql: str) -> None: ...
    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None: ...
    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None: ...
    def table_exists(self, name: str) -> bool: ...
    def append_parquet(self, name: str, paths: list[Path]) -> None: ...
