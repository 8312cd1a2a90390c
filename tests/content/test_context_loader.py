"""Tests for tailor.content.context_loader: the bestseller ranking in SQL (DuckDB and, through fakesnow,
Snowflake) and the loader on a small DuckDB warehouse holding the tables of tests/content/test_context.py."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from tailor.content.context import build_render_contexts
from tailor.content.context_loader import bestsellers_sql, load_render_contexts
from tailor.warehouse.duckdb_connection import DuckDBFile
from tests.content.test_context import (
    SETTINGS,
    bestsellers_frame,
    decisions_frame,
    features_frame,
    order_tables,
    products_frame,
    profiles_frame,
    recommendations_frame,
)
from tests.tables import execute, query, write_table


def write_bestseller_tables(write) -> None:
    decisions = decisions_frame()[["customer_id", "send"]]
    profiles = pd.DataFrame({"customer_id": decisions["customer_id"], "personalization_consent": True})
    for name, df in {**order_tables(), "products": products_frame(), "email_decisions": decisions,
                     "customer_profiles": profiles}.items():
        write(name, df)


def test_bestsellers_sql_hand_checked(warehouse) -> None:
    write_bestseller_tables(lambda name, df: write_table(warehouse, name, df))
    assert query(warehouse, bestsellers_sql()).to_dict("records") == bestsellers_frame().to_dict("records")
    # one each: the top seller each recipient has not bought
    one = query(warehouse, bestsellers_sql(1))
    assert list(zip(one["customer_id"], one["product_id"], strict=True)) == [
        ("cus_1", "P6"), ("cus_2", "P3"), ("cus_3", "P6")]
    with pytest.raises(ValueError, match="max_products must be a whole number >= 1, got 0"):
        bestsellers_sql(0)


def test_bestsellers_ignore_purchases_of_customers_without_personalization_consent(warehouse) -> None:
    write_bestseller_tables(lambda name, df: write_table(warehouse, name, df))
    execute(warehouse, "UPDATE customer_profiles SET personalization_consent = FALSE WHERE customer_id = 'cus_2'")
    rows = query(warehouse, bestsellers_sql())
    # cus_2 bought P6 (#1) and P4 (#3), but may not be profiled: the plain shop ranking
    assert rows[rows["customer_id"] == "cus_2"]["product_id"].tolist() == ["P6", "P3", "P4"]
    assert rows[rows["customer_id"] == "cus_1"]["product_id"].tolist() == ["P6", "P4", "P7"]


def test_bestsellers_sql_runs_unchanged_on_snowflake_through_fakesnow() -> None:
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector
    import snowflake.connector.pandas_tools

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with fakesnow.patch():
            conn = snowflake.connector.connect(database="tailor", schema="analytics")
            write_bestseller_tables(lambda name, df: snowflake.connector.pandas_tools.write_pandas(
                conn, df, name, auto_create_table=True, use_logical_type=True, quote_identifiers=False))
            cur = conn.cursor()
            cur.execute(bestsellers_sql())
            raw = cur.fetch_pandas_all()
            conn.close()
    raw.columns = [c.lower() for c in raw.columns]
    assert list(zip(raw["customer_id"], raw["product_id"], raw["bestseller_rank"].astype(int), strict=True)) == \
        list(bestsellers_frame().itertuples(index=False, name=None))



class RecordingSession:
    """A warehouse session that keeps every frame its queries returned."""

    def __init__(self, inner) -> None:
        self.inner, self.results = inner, []

    def query(self, sql: str) -> pd.DataFrame:
        frame = self.inner.query(sql)
        self.results.append(frame)
        return frame


def test_load_render_contexts_reads_the_recipients_and_builds_their_contexts(tmp_path) -> None:
    profiles = profiles_frame().assign(personalization_consent=True)
    tables = {**order_tables(), "products": products_frame(), "email_decisions": decisions_frame(),
              "customer_profiles": profiles, "customer_features": features_frame(),
              "product_recommendations": recommendations_frame()}
    with DuckDBFile(str(tmp_path / "warehouse.duckdb")).session() as session:
        for name, df in tables.items():
            session.write_table(name, df)
        recording = RecordingSession(session)
        decisions, contexts = load_render_contexts(recording, SETTINGS)

    assert decisions["customer_id"].tolist() == ["cus_1", "cus_2", "cus_3"]  # cus_4 is not set to send
    assert set(decisions.columns) == set(decisions_frame().columns)
    expected = build_render_contexts(decisions_frame(), profiles_frame(), features_frame(), products_frame(),
                                     recommendations_frame(), bestsellers_frame(), SETTINGS)
    assert contexts == expected
    # only the recipients' rows (cus_4 has features and recommendations) and the columns the contexts use
    by_columns = {tuple(frame.columns): frame for frame in recording.results}
    assert sorted(by_columns[("customer_id", "email", "first_name")]["customer_id"]) == ["cus_1", "cus_2", "cus_3"]
    features = by_columns[("customer_id", "viewed_not_bought", "abandoned_cart_products")]
    assert sorted(features["customer_id"]) == ["cus_1", "cus_2"]
    assert sorted(by_columns[("customer_id", "recommendations")]["customer_id"]) == ["cus_1", "cus_2"]
    assert len(recording.results) == 6


def test_load_render_contexts_without_url_columns_in_products(tmp_path) -> None:
    products = products_frame().drop(columns=["url", "image_url"])
    tables = {**order_tables(), "products": products, "email_decisions": decisions_frame().iloc[:1],
              "customer_profiles": profiles_frame().assign(personalization_consent=True),
              "customer_features": features_frame(), "product_recommendations": recommendations_frame()}
    with DuckDBFile(str(tmp_path / "warehouse.duckdb")).session() as session:
        for name, df in tables.items():
            session.write_table(name, df)
        _, contexts = load_render_contexts(session, SETTINGS)
    jacket = contexts["cus_1"]["products"][0]
    assert (jacket["product_id"], jacket["url"], jacket["image_url"]) == ("P2", SETTINGS.shop_url, None)
