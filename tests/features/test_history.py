"""customer_features_history: daily partitions as of the end of each UTC day, written idempotently, comparable.

Uses the hand-made tables of tests/features/test_customer_features.py, loaded into a temporary DuckDB warehouse,
and the real Dagster job that builds the history (run in process, partition by partition).
"""

from __future__ import annotations

import json
from datetime import datetime

import pandas as pd
import pytest
from dagster import AssetKey, materialize

from assets.feature_history import customer_features_history_daily, feature_history_schedule
from assets.features import customer_features
from resources.warehouse import DuckDBWarehouse
from tailor.features.history import (
    HISTORY_COLUMNS,
    HISTORY_TABLE,
    CustomerFeaturesHistorySchema,
    compare_days,
    history_day_sql,
    history_partition,
    partition_as_of,
    write_partition,
)
from tests.features.test_customer_features import base_tables, run_duckdb
from tests.tables import query, read_table, table_exists, write_table


def test_a_day_is_as_of_the_next_midnight_utc():
    assert partition_as_of("2024-06-29") == datetime(2024, 6, 30, 0, 0, 0)
    assert partition_as_of("2024-12-31") == datetime(2025, 1, 1)
    with pytest.raises(ValueError, match="partition key '2024-13-01' is not a YYYY-MM-DD day"):
        partition_as_of("2024-13-01")


def test_history_partition_checks_its_as_of():
    features = run_duckdb(base_tables(), partition_as_of("2024-06-29"))
    rows = history_partition(features, "2024-06-29")
    assert list(rows.columns) == HISTORY_COLUMNS and set(rows["feature_date"]) == {"2024-06-29"}
    CustomerFeaturesHistorySchema.validate(rows)
    with pytest.raises(ValueError, match="partition 2024-06-28 must hold features as of 2024-06-29 00:00:00"):
        history_partition(features, "2024-06-28")


@pytest.fixture
def loaded(tmp_path) -> DuckDBWarehouse:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "wh.duckdb"))
    for name, df in base_tables().items():
        write_table(warehouse, name, df)
    return warehouse


def _build_day(warehouse: DuckDBWarehouse, day: str):
    return customer_features_history_daily.execute_in_process(partition_key=day, resources={"warehouse": warehouse})


def test_partitions_are_rebuilt_idempotently_and_comparable(loaded: DuckDBWarehouse):
    first = _build_day(loaded, "2024-06-29")
    assert first.success
    day = query(loaded, history_day_sql("2024-06-29"))
    # exactly the features as of 2024-06-30 00:00 UTC, plus the day
    expected = history_partition(run_duckdb(base_tables(), datetime(2024, 6, 30)), "2024-06-29")
    pd.testing.assert_frame_equal(day[HISTORY_COLUMNS], expected, check_exact=False, rtol=1e-12, check_dtype=False)
    # at the end of 06-29 Ben's order O5 (06-29 20:00) counts; his GBP order is 40 EUR
    ben = day.set_index("customer_id").loc["cus_000002"]
    assert ben["order_count"] == 1 and ben["total_spend"] == 40.0

    # the same day again replaces it (no duplicates), another day is added beside it
    assert _build_day(loaded, "2024-06-29").success
    assert _build_day(loaded, "2024-06-25").success
    counts = query(loaded, f"SELECT feature_date, COUNT(*) AS n FROM {HISTORY_TABLE} GROUP BY feature_date ORDER BY 1")
    assert counts.values.tolist() == [["2024-06-25", 4], ["2024-06-29", 4]]

    diff = compare_days(query(loaded, history_day_sql("2024-06-25")), query(loaded, history_day_sql("2024-06-29")))
    by = diff.set_index("feature")
    assert by.loc["order_count", "customers_changed"] == 1  # Ben's first order on 06-29
    assert by.loc["order_count", "mean_a"] == 0.75 and by.loc["order_count", "mean_b"] == 1.0  # (3+0+0+0)/4 -> (3+1)/4
    assert by.loc["tenure_days", "customers_changed"] == 3  # everybody existing is 4 days older; Dave has none yet

    # metadata Dagster plots over the partitions
    [event] = first.get_asset_materialization_events()
    mat = event.materialization
    assert mat.asset_key == AssetKey(HISTORY_TABLE) and mat.partition == "2024-06-29"
    assert mat.metadata["buyers"].value == 2 and mat.metadata["mean_order_value_eur"].value == pytest.approx(47.5)
    assert mat.metadata["as_of"].value == "2024-06-30T00:00:00"


def test_customer_features_is_built_without_the_history(loaded: DuckDBWarehouse):
    result = materialize([customer_features], resources={"warehouse": loaded},
                         run_config={"ops": {"customer_features": {"config": {"as_of": "2024-06-30T12:00:00"}}}})
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == {AssetKey("customer_features")}
    assert not table_exists(loaded, HISTORY_TABLE)
    features = read_table(loaded, "customer_features")
    assert len(features) == 4
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["prior_open_rate_eb_alpha"].value == pytest.approx(500.0)  # see test_customer_features: Beta(500, 500)
    assert json.loads(features.set_index("customer_id").loc["cus_000003", "category_affinity"])[0] == {
        "category": "accessories", "share": 0.6667}


def test_a_history_table_with_other_columns_is_not_mixed(loaded: DuckDBWarehouse):
    write_table(loaded, HISTORY_TABLE, pd.DataFrame({"customer_id": ["x"], "feature_date": ["2024-01-01"]}))
    rows = history_partition(run_duckdb(base_tables(), partition_as_of("2024-06-29")), "2024-06-29")
    with pytest.raises(ValueError, match="Drop the table and backfill"):
        with loaded.session() as s:
            write_partition(s, "2024-06-29", rows)


def test_daily_schedule_builds_yesterdays_partition():
    from dagster import Definitions, build_schedule_context

    schedule = feature_history_schedule
    defs = Definitions(jobs=[customer_features_history_daily], schedules=[schedule],
                       resources={"warehouse": DuckDBWarehouse(path=":memory:")})
    job = defs.resolve_job_def("customer_features_history_daily")
    assert job.partitions_def is not None
    assert schedule.cron_schedule == "15 0 * * *" and "yesterday" in schedule.description
    from datetime import timezone as tz

    ctx = build_schedule_context(scheduled_execution_time=datetime(2026, 11, 2, 0, 15, tzinfo=tz.utc))
    [request] = list(schedule.evaluate_tick(ctx).run_requests)
    assert request.partition_key == "2026-11-01"


def test_build_history_day_writes_the_validated_day_and_returns_its_figures(loaded: DuckDBWarehouse):
    from tailor.features.customer_features import feature_figures
    from tailor.features.history import build_history_day
    from tailor.features.settings import CART_GRACE_HOURS

    with loaded.session() as s:
        rows, figures, as_of = build_history_day(s, "2024-06-29", CART_GRACE_HOURS)
    assert as_of == datetime(2024, 6, 30)
    features = run_duckdb(base_tables(), as_of)
    pd.testing.assert_frame_equal(rows, history_partition(features, "2024-06-29"), check_exact=False, rtol=1e-12)
    assert figures == pytest.approx(feature_figures(features)) and "prior_open_rate_eb_alpha" in figures
    written = query(loaded, history_day_sql("2024-06-29"))
    pd.testing.assert_frame_equal(written[HISTORY_COLUMNS], rows, check_exact=False, rtol=1e-12, check_dtype=False)


def test_build_history_day_never_writes_a_day_that_fails_its_schema(loaded: DuckDBWarehouse, monkeypatch):
    import tailor.features.history as history
    from tailor.features.settings import CART_GRACE_HOURS

    compute = history.compute_customer_features

    def broken(session, as_of, cart_grace_hours):
        features = compute(session, as_of, cart_grace_hours)
        features.loc[0, "open_rate_eb"] = 1.0  # a rate of 1 is outside (0, 1)
        return features

    monkeypatch.setattr(history, "compute_customer_features", broken)
    with pytest.raises(ValueError, match=r"^customer_features_history partition 2024-06-29: 1 schema failures, "
                                         r"first: \[\{'column': 'open_rate_eb'"):
        with loaded.session() as s:
            history.build_history_day(s, "2024-06-29", CART_GRACE_HOURS)
    assert not table_exists(loaded, HISTORY_TABLE)
