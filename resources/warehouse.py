"""The warehouse: an embedded DuckDB file by default, Snowflake in production.

Every SQL text in Tailor is written in Snowflake's dialect. Snowflake runs it as is; the DuckDB
warehouse transpiles it with sqlglot (the same translation fakesnow relies on), so one SQL text
serves both and heavy work stays inside the warehouse instead of being pulled into pandas.
Identifiers are lower-case everywhere; Snowflake's upper-cased result columns are folded back.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Literal, Protocol

import pandas as pd
import sqlglot
from dagster import ConfigurableResource
from dagster_duckdb import DuckDBResource
from dagster_snowflake import SnowflakeResource

WriteMode = Literal["replace", "append"]
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def _check_identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"invalid table or column name {name!r}: use lower-case letters, digits and _")
    return name


@lru_cache(maxsize=512)
def snowflake_to_duckdb(sql: str) -> str:
    """Translate one or more Snowflake statements into DuckDB's dialect."""
    return ";\n".join(sqlglot.transpile(sql, read="snowflake", write="duckdb"))


class WarehouseSession(Protocol):
    """What assets can do inside one warehouse transaction."""

    def query(self, sql: str) -> pd.DataFrame: ...
    def execute(self, sql: str) -> None: ...
    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None: ...
    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None: ...
    def table_exists(self, name: str) -> bool: ...
    def append_parquet(self, name: str, paths: list[Path]) -> None: ...


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
        return self.query(f"SELECT * FROM {_check_identifier(name)}")

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        with self.session() as s:
            s.write_table(name, df, mode)

    def table_exists(self, name: str) -> bool:
        with self.session() as s:
            return s.table_exists(name)

    def row_count(self, name: str) -> int:
        return int(self.query(f"SELECT COUNT(*) AS n FROM {_check_identifier(name)}")["n"].iloc[0])


# --------------------------------------------------------------------------- DuckDB


class _DuckDBSession:
    def __init__(self, con: Any) -> None:
        self._con = con

    def query(self, sql: str) -> pd.DataFrame:
        return self._con.execute(snowflake_to_duckdb(sql)).df()

    def execute(self, sql: str) -> None:
        self._con.execute(snowflake_to_duckdb(sql))

    def table_exists(self, name: str) -> bool:
        found = self._con.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_schema = current_schema()",
            [_check_identifier(name)],
        ).fetchall()
        return bool(found)

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        name = _check_identifier(name)
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
        name = _check_identifier(name)
        files = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"
        if self.table_exists(name):
            self._con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM read_parquet({files})")
        else:
            self._con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet({files})")

    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None:
        if values and self.table_exists(name):
            placeholders = ", ".join("?" for _ in values)
            self._con.execute(
                f"DELETE FROM {_check_identifier(name)} WHERE {_check_identifier(column)} IN ({placeholders})",
                list(values),
            )


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
                yield _DuckDBSession(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")


# --------------------------------------------------------------------------- Snowflake


class _SnowflakeSession:
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
                f"WHERE LOWER(table_name) = '{_check_identifier(name)}' AND table_schema = CURRENT_SCHEMA()"
            )
            return bool(cur.fetchone()[0])
        finally:
            cur.close()

    def write_table(self, name: str, df: pd.DataFrame, mode: WriteMode = "replace") -> None:
        from snowflake.connector.pandas_tools import write_pandas

        name = _check_identifier(name)
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
                    f"DELETE FROM {_check_identifier(name)} WHERE {_check_identifier(column)} IN ({placeholders})",
                    list(values),
                )
            finally:
                cur.close()


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
                yield _SnowflakeSession(conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
