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
