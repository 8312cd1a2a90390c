"""TODO docstring (split from tailor/rules_cli.py)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd



class _ReadSession:
    """What ``diff`` needs of a warehouse: ``query`` (Snowflake SQL) and ``table_exists``."""

    def __init__(self, query: Any, table_exists: Any):
        self.query, self.table_exists = query, table_exists


@contextmanager
def open_warehouse(retry_seconds: float = 30.0) -> Iterator[_ReadSession]:
    """The environment's warehouse (``$TAILOR_WAREHOUSE_PATH``, or Snowflake when ``$SNOWFLAKE_ACCOUNT`` is set),
    read-only, through the drivers themselves.

    The pipeline's resources (resources/warehouse.py) import Dagster and dagster-snowflake: ~14 s before the
    first query, for a command that marketers run before every change. The SQL is the same (Snowflake dialect,
    transpiled for DuckDB with sqlglot as the DuckDB resource does); DuckDB is opened read-only and retried while a
    pipeline run holds the file's write lock."""
    from tailor.config import setting, snowflake_enabled

    if snowflake_enabled():
        import snowflake.connector

        optional = {k: os.environ[v] for k, v in (("warehouse", "SNOWFLAKE_WAREHOUSE"), ("role", "SNOWFLAKE_ROLE"))
                    if os.environ.get(v)}
        conn = snowflake.connector.connect(
            account=os.environ["SNOWFLAKE_ACCOUNT"], user=os.environ["SNOWFLAKE_USER"],
            password=os.environ["SNOWFLAKE_PASSWORD"], database=os.environ["SNOWFLAKE_DATABASE"],
            schema=os.environ["SNOWFLAKE_SCHEMA"], **optional)

        def sf_query(sql: str) -> pd.DataFrame:
            cur = conn.cursor()
            try:
                cur.execute(sql)
                df = cur.fetch_pandas_all()
            finally:
                cur.close()
            df.columns = [str(c).lower() for c in df.columns]
            return df

        def sf_exists(name: str) -> bool:
            out = sf_query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE LOWER(table_name) = "
                           f"'{_identifier(name)}' AND table_schema = CURRENT_SCHEMA()")
            return bool(out["n"].iloc[0])

        try:
            yield _ReadSession(sf_query, sf_exists)
        finally:
            conn.close()
        return

    import duckdb
    import sqlglot

    path = setting("TAILOR_WAREHOUSE_PATH")
    if not Path(path).exists():
        raise LookupError(f"no warehouse at {path} yet: run the pipeline once (`tailor demo` or materialize the "
                          f"assets), or set TAILOR_WAREHOUSE_PATH")
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            con = duckdb.connect(path, read_only=True)
            break
        except duckdb.IOException as exc:    # a pipeline run is writing: wait for it, as the resource does
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise LookupError(f"cannot open the warehouse {path}: {exc}") from exc
            time.sleep(0.5)

    def duck_query(sql: str) -> pd.DataFrame:
        return con.execute(";\n".join(sqlglot.transpile(sql, read="snowflake", write="duckdb"))).df()

    def duck_exists(name: str) -> bool:
        return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_schema = "
                                "current_schema()", [_identifier(name)]).fetchall())

    try:
        yield _ReadSession(duck_query, duck_exists)
    finally:
        con.close()


def _identifier(name: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"invalid table name {name!r}")
    return name
