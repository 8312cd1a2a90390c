"""The one Definitions object loads, and the environment switches the warehouse and the sender."""

from __future__ import annotations

import importlib

from dagster import in_process_executor, multiprocess_executor

from resources.snowflake_warehouse import SnowflakeWarehouse
from resources.warehouse import DuckDBWarehouse


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
    assert defs.resources["email_sender"].provider == "outbox"
    assert defs.executor == in_process_executor
    assert defs.resolve_sensor_def("landing_file_sensor") is not None
    assert defs.resolve_job_def("refresh_from_web_events") is not None
    groups = {defs.resolve_assets_def(k).group_names_by_key[k] for k in defs.resolve_all_asset_keys()}
    assert groups == {"sources", "profiles", "features", "models", "segments", "personalization", "delivery"}
    for key in defs.resolve_all_asset_keys():
        spec = defs.resolve_assets_def(key).specs_by_key[key]
        assert spec.description, f"{key} has no description"


def test_production_switches(monkeypatch):
    defs = load(
        monkeypatch,
        SNOWFLAKE_ACCOUNT="acme-eu1", SNOWFLAKE_USER="u", SNOWFLAKE_PASSWORD="p",
        SNOWFLAKE_DATABASE="D", SNOWFLAKE_SCHEMA="S", SENDGRID_API_KEY="SG.x",
    )
    assert isinstance(defs.resources["warehouse"], SnowflakeWarehouse)
    assert defs.resources["email_sender"].provider == "sendgrid"
    assert defs.executor == multiprocess_executor
    monkeypatch.delenv("SNOWFLAKE_ACCOUNT")
    monkeypatch.delenv("SENDGRID_API_KEY")
    import tailor.definitions as module

    importlib.reload(module)
