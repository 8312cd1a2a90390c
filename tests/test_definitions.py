"""The one Definitions object loads, shows what a user of the UI needs (groups, owners, kinds, descriptions, column
schemas), the environment switches the warehouse and the sender, and the README's picture matches the graph."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from dagster import in_process_executor, multiprocess_executor

from resources.snowflake_warehouse import SnowflakeWarehouse
from resources.warehouse import DuckDBWarehouse
from tailor.graph_shape import graph_shape, shape_text


def load(monkeypatch, **env):
    for key in ("SNOWFLAKE_ACCOUNT", "SENDGRID_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    import tailor.definitions as module

    return importlib.reload(module).defs


def test_embedded_default(monkeypatch):
    defs = load(monkeypatch)
    keys = {k.path[-1] for k in defs.resolve_all_asset_keys()}
    assert {"customer_profiles", "customer_features", "customer_segments", "email_decisions", "rendered_emails", "email_sends"} <= keys
    assert isinstance(defs.resources["warehouse"], DuckDBWarehouse)
    assert defs.resources["email_sender"].build().provider == "outbox"
    assert defs.executor == in_process_executor
    assert defs.resolve_sensor_def("landing_file_sensor") is not None
    assert defs.resolve_job_def("refresh_from_web_events") is not None
    groups = {defs.resolve_assets_def(k).group_names_by_key[k] for k in defs.resolve_all_asset_keys()}
    assert groups == {"sources", "profiles", "features", "models", "segments", "personalization", "delivery"}
    for key in defs.resolve_all_asset_keys():
        spec = defs.resolve_assets_def(key).specs_by_key[key]
        assert spec.description, f"{key} has no description"


def test_every_asset_shows_its_owner_kinds_and_columns_before_any_run(monkeypatch):
    defs = load(monkeypatch)
    graph = defs.resolve_asset_graph()
    owners = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert "duckdb" in node.kinds and len(node.kinds) == 2, (key, node.kinds)   # what it is made with + where
        assert node.tags.get("stage") == node.group_name
        owners[node.group_name] = tuple(node.owners)
        columns = node.metadata["dagster/column_schema"].columns
        assert columns and all(c.type for c in columns), key
    # one owner per stage, the same for every asset of it
    assert owners == {"sources": ("team:data-engineering",), "profiles": ("team:data-engineering",),
                      "features": ("team:data-engineering",), "models": ("team:data-science",),
                      "segments": ("team:marketing",), "personalization": ("team:marketing",),
                      "delivery": ("team:marketing",)}
    assert all(s.description for s in defs.schedules)
    assert defs.resolve_job_def("tailor_pipeline").description


def test_the_readme_picture_is_of_the_current_graph(monkeypatch):
    # docs/asset-graph.keys is written with docs/asset-graph.png by scripts/screenshot_asset_graph.py: when the
    # graph changes, retake the picture (`make screenshot`)
    recorded = (Path(__file__).resolve().parents[1] / "docs" / "asset-graph.keys").read_text(encoding="utf-8")
    assert shape_text(graph_shape(load(monkeypatch))) == recorded, "docs/asset-graph.png is older than the graph"


def test_loading_the_code_location_imports_no_snowflake_stack():
    # (an empty `snowflake` namespace package is looked up by a probe elsewhere; it costs nothing)
    code = ("import sys, tailor.definitions; "
            "print(sorted(m for m in sys.modules if m.startswith(('dagster_snowflake', 'snowflake.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={k: v for k, v in __import__("os").environ.items() if k != "SNOWFLAKE_ACCOUNT"})
    assert out.stdout.strip() == "[]"


def test_production_switches(monkeypatch):
    defs = load(
        monkeypatch,
        SNOWFLAKE_ACCOUNT="acme-eu1", SNOWFLAKE_USER="u", SNOWFLAKE_PASSWORD="p",
        SNOWFLAKE_DATABASE="D", SNOWFLAKE_SCHEMA="S", SENDGRID_API_KEY="SG.x",
    )
    assert isinstance(defs.resources["warehouse"], SnowflakeWarehouse)
    assert defs.resources["email_sender"].build().provider == "sendgrid"
    assert defs.executor == multiprocess_executor
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT")
    monkeypatch.delenv("SENDGRID_API_KEY")
    import tailor.definitions as module

    importlib.reload(module)
