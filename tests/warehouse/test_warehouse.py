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


def test_a_text_column_empty_on_the_first_write_takes_text_on_the_next(any_warehouse):
    """Issue 11 #9: a clean first run wrote ``error`` as DuckDB's NULL type, and the next run's error text was
    refused after sending."""
    w = any_warehouse
    clean = pd.DataFrame({"message_key": ["k1"], "error": pd.Series([None], dtype=object)})
    write_table(w, "audit", clean)
    write_table(w, "audit", pd.DataFrame({"message_key": ["k2"], "error": ["timeout"]}), mode="append")
    assert read_table(w, "audit").sort_values("message_key")["error"].tolist() == [None, "timeout"]
    write_table(w, "empty_audit", clean.iloc[0:0])  # no rows at all: the same
    write_table(w, "empty_audit", pd.DataFrame({"message_key": ["k3"], "error": ["bounce"]}), mode="append")
    assert read_table(w, "empty_audit")["error"].tolist() == ["bounce"]


def test_a_null_typed_column_of_an_older_warehouse_is_repaired_on_append(tmp_path):
    import duckdb

    path = str(tmp_path / "old.duckdb")
    with duckdb.connect(path) as con:  # what the previous write_table created
        con.execute("CREATE TABLE audit AS SELECT 'k1' AS message_key, NULL AS error")
        assert con.execute("SELECT data_type FROM information_schema.columns WHERE column_name = 'error'").fetchone()[0] == '"NULL"'
    w = DuckDBWarehouse(path=path)
    write_table(w, "audit", pd.DataFrame({"message_key": ["k2"], "error": ["timeout"]}), mode="append")
    assert query(w, "SELECT error FROM audit ORDER BY message_key")["error"].tolist() == [None, "timeout"]


def test_the_warehouse_file_is_readable_by_its_owner_only(tmp_path):
    """Issue 11 #17: the file holds every customer's personal data; DuckDB created it 0644."""
    path = tmp_path / "w.duckdb"
    w = DuckDBWarehouse(path=str(path))
    write_table(w, "facts", FRAME)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)  # a file an older Tailor created
    assert row_count(w, "facts") == 3
    assert path.stat().st_mode & 0o777 == 0o600
    wal = tmp_path / "w.duckdb.wal"
    assert not wal.exists() or wal.stat().st_mode & 0o777 == 0o600


def test_a_refused_write_reports_its_own_error(tmp_path):
    import duckdb

    w = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    write_table(w, "facts", FRAME)
    with pytest.raises(duckdb.ConversionException):  # not the TransactionException of cleaning up after it
        write_table(w, "facts", FRAME.assign(spend=["not a number", "x", "y"]), mode="append")
