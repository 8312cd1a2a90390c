"""The same warehouse code on DuckDB and on Snowflake (fakesnow stands in for Snowflake)."""

from __future__ import annotations

import fakesnow
import pandas as pd
import pytest
from dagster_snowflake import SnowflakeResource

from resources.snowflake_warehouse import SnowflakeWarehouse
from resources.warehouse import DuckDBWarehouse
from tailor.warehouse.sql import snowflake_to_duckdb
from tests.tables import query, read_table, row_count, table_exists, write_table

FRAME = pd.DataFrame(
    {
        "customer_id": ["cus_1", "cus_2", "cus_3"],
        "seen_at": pd.to_datetime(["2026-01-01 10:00", "2026-02-01 00:00", "2026-03-01 12:00"]),
        "spend": [10.5, None, 3.0],
        "consent": [True, False, True],
    }
)
SQL = (
    "SELECT customer_id, DATEDIFF(day, seen_at, '2026-03-02'::timestamp) AS days, COALESCE(spend, 0) AS spend "
    "FROM facts WHERE consent QUALIFY ROW_NUMBER() OVER (PARTITION BY consent ORDER BY seen_at DESC) <= 5 ORDER BY customer_id"
)


@pytest.fixture(params=["duckdb", "snowflake"])
def any_warehouse(request, tmp_path):
    if request.param == "duckdb":
        yield DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
        return
    with fakesnow.patch():
        yield SnowflakeWarehouse(
            snowflake=SnowflakeResource(account="test", user="u", password="p", database="TAILOR", schema="PUBLIC")
        )


def test_write_query_append_delete_roundtrip(any_warehouse):
    w = any_warehouse
    assert not table_exists(w, "facts")
    write_table(w, "facts", FRAME)
    assert table_exists(w, "facts")
    result = query(w, SQL)
    assert result["customer_id"].tolist() == ["cus_1", "cus_3"]
    assert result["days"].tolist() == [60, 1]
    assert result["spend"].tolist() == [10.5, 3.0]
    write_table(w, "facts", FRAME, mode="append")
    assert row_count(w, "facts") == 6
    with w.session() as s:
        s.delete_where_in("facts", "customer_id", ["cus_1", "cus_2"])
    assert row_count(w, "facts") == 2
    back = read_table(w, "facts")
    assert back["seen_at"].dtype.kind == "M" and back["seen_at"].iloc[0] == pd.Timestamp("2026-03-01 12:00")
    write_table(w, "facts", FRAME)  # replace
    assert row_count(w, "facts") == 3


def test_a_failed_session_rolls_back(any_warehouse):
    w = any_warehouse
    write_table(w, "facts", FRAME)
    with pytest.raises(RuntimeError):
        with w.session() as s:
            s.delete_where_in("facts", "customer_id", ["cus_1"])
            raise RuntimeError("boom")
    assert row_count(w, "facts") == 3


def test_snowflake_sql_is_transpiled_for_duckdb():
    assert "DATE_DIFF('DAY'" in snowflake_to_duckdb("SELECT DATEDIFF(day, a, b) FROM t")


def test_bad_identifiers_are_refused(tmp_path):
    with pytest.raises(ValueError, match="invalid table or column name"):
        with DuckDBWarehouse(path=str(tmp_path / "w.duckdb")).session() as s:
            s.write_table("x; DROP TABLE y", FRAME)
