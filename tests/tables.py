"""Reading and writing whole tables of a test's warehouse, each in its own session (the pipeline itself always
works inside one ``warehouse.session()``)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tailor.warehouse.sql import check_identifier


def query(warehouse: Any, sql: str) -> pd.DataFrame:
    with warehouse.session() as s:
        return s.query(sql)


def read_table(warehouse: Any, name: str) -> pd.DataFrame:
    return query(warehouse, f"SELECT * FROM {check_identifier(name)}")


def row_count(warehouse: Any, name: str) -> int:
    return int(query(warehouse, f"SELECT COUNT(*) AS n FROM {check_identifier(name)}")["n"].iloc[0])


def write_table(warehouse: Any, name: str, df: pd.DataFrame, mode: str = "replace") -> None:
    with warehouse.session() as s:
        s.write_table(name, df, mode)


def table_exists(warehouse: Any, name: str) -> bool:
    with warehouse.session() as s:
        return s.table_exists(name)


def execute(warehouse: Any, sql: str) -> None:
    with warehouse.session() as s:
        s.execute(sql)


def query_on_fakesnow(tables: dict[str, pd.DataFrame], sql: str) -> pd.DataFrame:
    """Load ``tables`` into a fakesnow Snowflake and run ``sql`` through the pipeline's Snowflake session."""
    import warnings

    import fakesnow
    import snowflake.connector
    import snowflake.connector.pandas_tools

    from tailor.warehouse.snowflake_connection import SnowflakeSession

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with fakesnow.patch():
            conn = snowflake.connector.connect(database="tailor", schema="analytics")
            try:
                for name, df in tables.items():
                    snowflake.connector.pandas_tools.write_pandas(
                        conn, df, name, auto_create_table=True, use_logical_type=True, quote_identifiers=False)
                return SnowflakeSession(conn).query(sql)   # result columns folded to lower case
            finally:
                conn.close()


def empty_joined_tables(ids: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """The tables the customer table joins after features (predictions, recommendations), for ``ids``, with no
    values: every column of the kind its schema declares, all missing."""
    import numpy as np

    from tailor.rules.customer_table import CUSTOMER_TABLES, joined_columns, schema_kinds

    empty = {"number": lambda n: np.full(n, np.nan), "list": lambda n: ["[]"] * n,
             "string": lambda n: pd.Series([None] * n, dtype="string"),
             "boolean": lambda n: pd.Series([None] * n, dtype="boolean"),
             "datetime": lambda n: pd.Series([pd.NaT] * n, dtype="datetime64[ns]")}
    out = []
    for t in CUSTOMER_TABLES[2:]:
        kinds = schema_kinds(t.module, t.schema)
        out.append((t.table, pd.DataFrame({"customer_id": ids, **{c: empty[kinds[c]](len(ids)) for c in joined_columns(t)}})))
    return out


def as_crm_customers(records: pd.DataFrame, source_file: str = "crm/crm-0001.csv") -> pd.DataFrame:
    """Hand-made CRM records as the ``crm_customers`` table holds them: every contract column (the optional ones
    a test leaves out are empty), then the lineage columns."""
    from tailor.sources.contracts import CRM_CUSTOMERS
    from tailor.sources.tables import empty_table

    columns = list(empty_table(CRM_CUSTOMERS, "crm_customers").columns)
    table = records.assign(_source_file=source_file)
    for column in columns:
        if column not in table.columns:
            table[column] = pd.Series([None] * len(table), index=table.index, dtype=object)
    return table[[c for c in columns if c in table.columns]]
