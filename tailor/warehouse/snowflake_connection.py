"""TODO docstring (split from resources/warehouse.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from tailor.warehouse.session import WriteMode
from tailor.warehouse.sql import check_identifier


class SnowflakeSession:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def query(self, sql: str) -> pd.DataFrame:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
            df = cur.fetch_pandas_all()
        finally:
            cur.close()
        df.columns = [str(c).lower() for c in df.columns]
        return df

    def execute(self, sql: str) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def table_exists(self, name: str) -> bool:
        cur = self._conn.cursor()
        try:
            cur.execute(
                "SELECT COUNT(*) FROM information_schema.tables "
                f"WHERE LOWER(table_name) = '{check_identifier(name)}' AND table_schema = CURRENT_SCHEMA()"
            )
            return bool(cur.fetchone()[0])
        finally:
            cur.close()

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        from snowflake.connector.pandas_tools import write_pandas

        name = check_identifier(name)
        upper = df.rename(columns={c: str(c).upper() for c in df.columns})
        write_pandas(
            self._conn,
            upper,
            name.upper(),
            auto_create_table=True,
            overwrite=(mode == "replace"),
            quote_identifiers=False,
            use_logical_type=True,
        )

    def append_parquet(self, name: str, paths: list[Path]) -> None:
        """Append local Parquet files. write_pandas stages Parquet and runs COPY INTO; at scale, production would
        PUT the files to a stage and COPY INTO directly (docs/data-contracts.md, "Ingestion at scale")."""
        for path in paths:
            self.write_table(name, pd.read_parquet(path), mode="append")

    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None:
        if values and self.table_exists(name):
            cur = self._conn.cursor()
            try:
                placeholders = ", ".join(["%s"] * len(values))
                cur.execute(
                    f"DELETE FROM {check_identifier(name)} WHERE {check_identifier(column)} IN ({placeholders})",
                    list(values),
                )
            finally:
                cur.close()
