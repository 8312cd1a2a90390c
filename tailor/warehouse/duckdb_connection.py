"""TODO docstring (split from resources/warehouse.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tailor.warehouse.session import WriteMode
from tailor.warehouse.sql import check_identifier, snowflake_to_duckdb


class DuckDBSession:
    def __init__(self, con: Any) -> None:
        self._con = con

    def query(self, sql: str) -> pd.DataFrame:
        return self._con.execute(snowflake_to_duckdb(sql)).df()

    def execute(self, sql: str) -> None:
        self._con.execute(snowflake_to_duckdb(sql))

    def table_exists(self, name: str) -> bool:
        found = self._con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
            [check_identifier(name)],
        ).fetchall()
        return bool(found)

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        name = check_identifier(name)
        self._con.register("_tailor_incoming", df)
        try:
            if mode == "append" and self.table_exists(name):
                self._con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _tailor_incoming")
            else:
                self._con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM _tailor_incoming")
        finally:
            self._con.unregister("_tailor_incoming")

    def append_parquet(self, name: str, paths: list[Path]) -> None:
        """Append local Parquet files (ingestion's parsed rows) by column name; DuckDB reads them natively."""
        name = check_identifier(name)
        files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
        if self.table_exists(name):
            self._con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM read_parquet({files})")
        else:
            self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet({files})")

    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None:
        if values and self.table_exists(name):
            placeholders = ", ".join("?" for _ in values)
            self._con.execute(
                f"DELETE FROM {check_identifier(name)} WHERE {check_identifier(column)} IN ({placeholders})",
                list(values),
            )
