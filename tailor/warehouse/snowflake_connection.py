"""Production warehouse: Snowflake. One session type for the pipeline (through dagster-snowflake's resource) and
for the command line (through the connector alone, so that `tailor rules diff` never imports Dagster).

Importing the Snowflake stack costs seconds: nothing here imports it at module level, and the code location
only loads the Snowflake resource (resources/snowflake_warehouse.py) when ``SNOWFLAKE_ACCOUNT`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.warehouse.session import WriteMode
from tailor.warehouse.sql import check_identifier

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Environment variable -> connection parameter; the first five are required.
SNOWFLAKE_SETTINGS = {"SNOWFLAKE_ACCOUNT": "account", "SNOWFLAKE_USER": "user", "SNOWFLAKE_PASSWORD": "password",
                      "SNOWFLAKE_DATABASE": "database", "SNOWFLAKE_SCHEMA": "schema",
                      "SNOWFLAKE_WAREHOUSE": "warehouse", "SNOWFLAKE_ROLE": "role"}
_REQUIRED = tuple(SNOWFLAKE_SETTINGS)[:5]


def snowflake_parameters(environ: Any = os.environ) -> dict[str, str]:
    """The connection parameters the environment gives (optional ones only when set); names what is missing."""
    missing = [name for name in _REQUIRED if not environ.get(name)]
    if missing:
        raise KeyError(f"Snowflake is switched on by SNOWFLAKE_ACCOUNT but {', '.join(missing)} "
                       f"{'is' if len(missing) == 1 else 'are'} not set")
    return {param: environ[name] for name, param in SNOWFLAKE_SETTINGS.items() if environ.get(name)}


@contextmanager
def snowflake_transaction(conn: Any) -> Iterator[SnowflakeSession]:
    """One transaction on an open connection: committed when the block ends, rolled back when it raises."""
    conn.autocommit(False)
    try:
        yield SnowflakeSession(conn)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


@dataclass(frozen=True)
class SnowflakeConnection:
    """Snowflake through the connector alone (the CLI's path); the pipeline uses resources/snowflake_warehouse.py."""

    parameters: dict[str, str] = field(repr=False)

    @property
    def kind(self) -> str:
        return "snowflake"

    @contextmanager
    def session(self) -> Iterator[SnowflakeSession]:
        import snowflake.connector

        conn = snowflake.connector.connect(**self.parameters)
        try:
            with snowflake_transaction(conn) as session:
                yield session
        finally:
            conn.close()


class SnowflakeSession:
    """A :class:`~tailor.warehouse.session.WarehouseSession` on one Snowflake connection (result columns folded to
    lower case, as Tailor names everything)."""

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
        import pandas as pd

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
