"""The landing sensor's refresh jobs, run as the daemon runs them after a full pipeline run: a new consent file
refreshes profiles, segments, decisions and sends (issue 11 #11: they failed at customer_predictions, whose
model_fits are not part of those jobs)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dagster import DagsterInstance

from assets.run_tags import AS_OF_TAG, TRIGGER_TAG
from assets.sensors import plan_landing_runs
from tests.conftest import write

AS_OF = datetime(2026, 11, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def demo_base(tmp_path, monkeypatch):
    paths = {"TAILOR_LANDING_DIR": "landing", "TAILOR_WAREHOUSE_PATH": "warehouse.duckdb",
             "TAILOR_OUTBOX_DIR": "outbox", "TAILOR_SEND_LEDGER_PATH": "ledger.sqlite"}
    for name, path in paths.items():
        monkeypatch.setenv(name, str(tmp_path / path))
    for name in ("SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    from tailor.demo.generator import write_demo_data
    from tailor.demo.run import run_pipeline

    write_demo_data(tmp_path / "landing", customers=120, seed=5, as_of=AS_OF)
    run_pipeline(as_of=AS_OF)
    return tmp_path


def test_a_consent_file_landing_after_a_full_run_refreshes_everything_downstream(demo_base):
    from resources.warehouse import DuckDBWarehouse
    from tailor.definitions import build_definitions
    from tests.tables import query

    landing = demo_base / "landing"
    _, cursor = plan_landing_runs(landing, None)
    warehouse = DuckDBWarehouse(path=str(demo_base / "warehouse.duckdb"))
    consented = query(warehouse, "SELECT email FROM customer_profiles WHERE marketing_consent ORDER BY customer_id")
    revoked = consented["email"].iloc[0]
    write(landing / "consent" / "consent-late.csv",
          f"email,purpose,status,changed_at,source\n{revoked},marketing_email,revoked,2026-11-01 12:30:00,preference_center\n")
    (planned,) = plan_landing_runs(landing, cursor)[0]
    assert planned.job_name == "refresh_from_consent_events"

    job = build_definitions().resolve_job_def(planned.job_name)
    later = AS_OF.replace(hour=13)
    result = job.execute_in_process(instance=DagsterInstance.ephemeral(), raise_on_error=False,
                                    tags={AS_OF_TAG: later.isoformat(), TRIGGER_TAG: "landing sensor"})
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert {"consent_events", "customer_profiles", "customer_predictions", "customer_segments", "email_decisions",
            "email_sends"} <= materialized
    now = query(warehouse, f"SELECT marketing_consent FROM customer_profiles WHERE email = '{revoked}'")
    assert now["marketing_consent"].tolist() == [False]


def test_a_revocation_landed_after_the_profiles_were_built_stops_the_next_send(tmp_path, monkeypatch):
    """Issue 11 #7: email_sends honours consent that has landed, not only the last customer_profiles build."""
    from dagster import AssetKey

    from resources.warehouse import DuckDBWarehouse
    from tailor.addresses import normalize_address
    from tailor.definitions import PIPELINE_JOB, build_definitions
    from tailor.demo.generator import write_demo_data
    from tests.tables import query

    for name, path in {"TAILOR_LANDING_DIR": "landing", "TAILOR_WAREHOUSE_PATH": "warehouse.duckdb",
                       "TAILOR_OUTBOX_DIR": "outbox", "TAILOR_SEND_LEDGER_PATH": "ledger.sqlite"}.items():
        monkeypatch.setenv(name, str(tmp_path / path))
    for name in ("SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"):
        monkeypatch.delenv(name, raising=False)
    landing = tmp_path / "landing"
    write_demo_data(landing, customers=120, seed=5, as_of=AS_OF)
    job = build_definitions().resolve_job_def(PIPELINE_JOB)
    tags = {AS_OF_TAG: AS_OF.isoformat()}
    keys = [k for k in job.asset_layer.selected_asset_keys if k != AssetKey("email_sends")]
    assert job.execute_in_process(instance=DagsterInstance.ephemeral(), tags=tags, asset_selection=keys).success

    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    rendered = query(warehouse, "SELECT customer_id, to_email FROM rendered_emails ORDER BY customer_id")
    revoked, unsubscribed = rendered.iloc[0], rendered.iloc[1]
    write(landing / "consent" / "consent-late.csv", "email,purpose,status,changed_at,source\n"
          f"{revoked['to_email'].upper()},marketing_email,revoked,2026-11-01 12:30:00,preference_center\n")
    write(landing / "email_events" / "late.ndjson",
          f'{{"sg_event_id":"late-1","email":"{unsubscribed["to_email"]}","event":"unsubscribe",'
          f'"timestamp":{int(AS_OF.timestamp()) + 1800}}}\n')

    assert job.execute_in_process(instance=DagsterInstance.ephemeral(), tags=tags,
                                  asset_selection=[AssetKey("email_sends")]).success
    sends = query(warehouse, "SELECT customer_id, status FROM email_sends").set_index("customer_id")["status"]
    # consent belongs to an address: everyone rendered to one of those two addresses is stopped, nobody else
    stopped = {normalize_address(revoked["to_email"]), normalize_address(unsubscribed["to_email"])}
    expected = set(rendered.loc[rendered["to_email"].map(normalize_address).isin(stopped), "customer_id"])
    assert set(sends[sends == "blocked_no_consent"].index) == expected >= {revoked["customer_id"], unsubscribed["customer_id"]}
    assert set(sends[~sends.index.isin(expected)]) <= {"sent", "skipped_already_sent"}
