"""The embedded warehouse: one DuckDB file, opened without Dagster (the pipeline, the CLI and the rules tools
share this code).

DuckDB allows one writing process per file. Opening waits a bounded time for a writer that holds the file
(a run that is finishing) and then fails with :class:`WarehouseBusy` naming the file, rather than retrying
forever. Timestamps are stored tz-naive UTC, so no ICU extension (which cannot be downloaded offline) is needed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.warehouse.session import WarehouseBusy, WriteMode
from tailor.warehouse.sql import check_identifier, snowflake_to_duckdb

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: How long opening the file waits for another process's write lock to go.
LOCK_WAIT_SECONDS = 30.0


def connect_duckdb(path: str, *, read_only: bool = False, memory_limit: str = "",
                   lock_wait_seconds: float = LOCK_WAIT_SECONDS) -> Any:
    """A DuckDB connection to ``path``; waits up to ``lock_wait_seconds`` while another process holds the file."""
    import duckdb

    if read_only and not Path(path).exists():
        raise FileNotFoundError(f"no warehouse at {path} yet: run the pipeline once (`tailor demo` or materialize "
                                f"the assets), or set TAILOR_WAREHOUSE_PATH")
    if not read_only and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    config = {"memory_limit": memory_limit} if memory_limit else {}
    deadline = time.monotonic() + lock_wait_seconds
    while True:
        try:
            con = duckdb.connect(path, read_only=read_only, config=config)
            if not read_only:
                owner_only(path)
            return con
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(f"the warehouse {path} is held by another process (DuckDB has one writer per "
                                    f"file); waited {lock_wait_seconds:.0f} s: {exc}") from exc
            time.sleep(0.25)


def _typed_select(df: pd.DataFrame) -> str:
    """``SELECT`` over the registered frame in which text columns holding no value yet are VARCHAR: DuckDB types
    an all-None object column as ``NULL``, and such a column refuses every later text (an ``error`` column that
    is empty on a clean first run must still take an error text on the next)."""
    untyped = [check_identifier(str(c)) for c in df.columns if df[c].dtype == object and df[c].isna().all()]
    if not untyped:
        return "SELECT * FROM _tailor_incoming"
    return ("SELECT * REPLACE (" + ", ".join(f"CAST({c} AS VARCHAR) AS {c}" for c in untyped)
            + ") FROM _tailor_incoming")


def owner_only(path: str) -> None:
    """Make the warehouse file and its write-ahead log readable by their owner only (0600, as the outbox's .eml
    files): they hold every customer's personal data, and DuckDB creates them under the usual umask (0644)."""
    if path == ":memory:":
        return
    for file in (Path(path), Path(f"{path}.wal")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
        except (FileNotFoundError, PermissionError):  # no WAL right now; a file someone else owns stays theirs
            pass


@dataclass(frozen=True)
class DuckDBFile:
    """The embedded warehouse: ``session()`` opens the file, runs one transaction and closes it again."""

    path: str
    memory_limit: str = ""      # DuckDB's cap (e.g. "4GB"); empty: its default, 80 % of RAM
    read_only: bool = False

    @property
    def kind(self) -> str:
        return "duckdb"

    @contextmanager
    def session(self) -> Iterator[DuckDBSession]:
        con = connect_duckdb(self.path, read_only=self.read_only, memory_limit=self.memory_limit)
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                yield DuckDBSession(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()
            if not self.read_only:
                owner_only(self.path)


class DuckDBSession:
    """A :class:`~tailor.warehouse.session.WarehouseSession` on one DuckDB connection (Snowflake SQL transpiled)."""

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
                self._repair_null_typed_columns(name)
                self._con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM _tailor_incoming")
            else:
                self._con.execute(f"CREATE OR REPLACE TABLE {name} AS {_typed_select(df)}")
        except BaseException:
            # In an aborted transaction unregistering fails too: the first error is the one to see.
            with contextlib.suppress(Exception):
                self._con.unregister("_tailor_incoming")
            raise
        self._con.unregister("_tailor_incoming")

    def _repair_null_typed_columns(self, name: str) -> None:
        """Give text type to columns an older Tailor created as DuckDB's ``NULL`` type (see :func:`_typed_select`),
        so that the first value ever written to them is not refused after an email was already sent."""
        untyped = self._con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND data_type = '\"NULL\"'"
            " AND table_schema = current_schema()", [name]).fetchall()
        for (column,) in untyped:
            self._con.execute(f"ALTER TABLE {name} ALTER COLUMN {check_identifier(column)} SET DATA TYPE VARCHAR")

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
