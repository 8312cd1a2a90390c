"""Every click the Dagster UI offers works: each asset with all its upstream ("materialize upstream", `*asset`),
each group, and "Materialize all" (the global asset job, which must stay unpartitioned) — run for real, in the
order a user might click them, on a small generated data set."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from dagster import AssetKey, AssetSelection, DagsterInstance

from assets.as_of import AS_OF_TAG
from tailor.demo.generator import write_demo_data

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def ui(tmp_path_factory):
    root = tmp_path_factory.mktemp("selections")
    env = {"TAILOR_LANDING_DIR": str(root / "landing"), "TAILOR_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
           "TAILOR_OUTBOX_DIR": str(root / "outbox"), "TAILOR_SEND_LEDGER_PATH": str(root / "ledger.sqlite")}
    saved = {k: os.environ.get(k) for k in [*env, "SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"]}
    os.environ.update(env)
    for k in ("SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"):
        os.environ.pop(k, None)
    write_demo_data(root / "landing", customers=60, seed=5, as_of=AS_OF)
    from tailor.definitions import build_definitions

    defs = build_definitions()
    yield {"defs": defs, "graph": defs.resolve_asset_graph(), "job": defs.resolve_implicit_global_asset_job_def(),
           "instance": DagsterInstance.ephemeral()}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _launch(ui, keys):
    """What the UI launches for a selection: the global asset job, subset to those assets."""
    return ui["job"].execute_in_process(asset_selection=list(keys), instance=ui["instance"],
                                        tags={AS_OF_TAG: AS_OF.isoformat()}, raise_on_error=False)


def test_materialize_all_is_one_unpartitioned_run(ui):
    assert ui["job"].partitions_def is None   # no partition dialog, no greyed-out launch button
    every = [k for k in ui["graph"].get_all_asset_keys() if ui["graph"].get(k).is_materializable]
    result = _launch(ui, every)
    assert result.success
    assert {e.asset_key for e in result.get_asset_materialization_events()} == set(every)


def test_every_asset_with_all_its_upstream_materializes(ui):
    graph = ui["graph"]
    failed = []
    for key in graph.toposorted_asset_keys:
        if not graph.get(key).is_materializable:
            continue
        selection = AssetSelection.assets(key).upstream().resolve(graph)
        result = _launch(ui, selection)
        materialized = {e.asset_key for e in result.get_asset_materialization_events()}
        if not result.success or not selection <= materialized:
            failed.append(key.to_user_string())
    assert failed == []


def test_every_group_materializes(ui):
    graph = ui["graph"]
    groups = sorted({graph.get(k).group_name for k in graph.get_all_asset_keys()})
    assert groups == ["delivery", "features", "models", "personalization", "profiles", "segments", "sources"]
    for group in groups:
        keys = {k for k in AssetSelection.groups(group).resolve(graph) if graph.get(k).is_materializable}
        result = _launch(ui, keys)
        assert result.success, group
        assert keys <= {e.asset_key for e in result.get_asset_materialization_events()}, group


def test_one_table_of_a_two_table_source_loads_and_records_its_partner(ui):
    result = _launch(ui, [AssetKey("order_items")])
    assert result.success
    events = {e.asset_key: e for e in result.get_asset_materialization_events()}
    # both tables come from the same landing files, loaded in one transaction: the partner's materialization is
    # recorded too (with what it was loaded with), so the UI shows what was written
    assert set(events) == {AssetKey("order_items"), AssetKey("orders")}
    assert events[AssetKey("orders")].materialization.metadata["loaded_with"].value == "order_items"
