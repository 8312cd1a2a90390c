from __future__ import annotations

import os

from dagster import SensorResult, build_sensor_context

from assets.sensors import landing_file_sensor, plan_landing_runs
from resources.landing import LandingZone
from tests.conftest import write

EVENT = '{"event_id":"%s","customer_ref":"CRM-1","event_type":"product_view","product_id":"P1","occurred_at":"2026-01-01T10:00:00Z"}\n'


def evaluate(landing, cursor=None, instance=None) -> SensorResult:
    context = build_sensor_context(cursor=cursor, resources={"landing": LandingZone(path=str(landing))}, instance=instance)
    return landing_file_sensor(context)


def test_new_files_request_one_run_per_source_and_never_twice(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", EVENT % "e1")
    write(landing / "events" / "b.ndjson", EVENT % "e2")
    write(landing / "crm" / "c.csv", "customer_ref,email\nCRM-1,a@example.com\n")

    first = evaluate(landing)
    requests = {r.job_name: r for r in first.run_requests}
    assert set(requests) == {"refresh_from_web_events", "refresh_from_crm_customers"}
    assert requests["refresh_from_web_events"].tags["tailor/landing_files"] == "events/a.ndjson, events/b.ndjson"
    assert requests["refresh_from_web_events"].run_key.startswith("web_events:")

    second = evaluate(landing, cursor=first.cursor)
    assert not second.run_requests  # same files, nothing to do

    write(landing / "events" / "c.ndjson", EVENT % "e3")
    third = evaluate(landing, cursor=second.cursor)
    assert [r.tags["tailor/landing_files"] for r in third.run_requests] == ["events/c.ndjson"]


def test_a_touched_but_identical_file_does_not_trigger_and_a_corrected_one_does(tmp_path):
    landing = tmp_path / "landing"
    path = write(landing / "events" / "a.ndjson", EVENT % "e1")
    _, cursor = plan_landing_runs(landing, None)
    os.utime(path, ns=(1, 1))  # new mtime, same bytes
    runs, cursor = plan_landing_runs(landing, cursor)
    assert runs == []
    path.write_text(EVENT % "e1-fixed")
    runs, _ = plan_landing_runs(landing, cursor)
    assert [r.files for r in runs] == [("events/a.ndjson",)]


def test_the_same_content_gives_the_same_run_key(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", EVENT % "e1")
    runs_a, _ = plan_landing_runs(landing, None)
    runs_b, _ = plan_landing_runs(landing, None)  # e.g. a lost cursor: Dagster dedups by run key
    assert runs_a[0].run_key == runs_b[0].run_key


def test_no_files_is_a_skip(tmp_path):
    result = evaluate(tmp_path / "nothing")
    assert not result.run_requests and result.skip_reason is not None


def test_a_new_fx_rates_file_refreshes_fx_rates_and_the_orders_converted_with_them(tmp_path):
    from dagster import AssetKey

    from tailor.definitions import defs

    landing = tmp_path / "landing"
    write(landing / "fx_rates" / "fx_rates-0001.csv", "rate_date,currency,eur_per_unit\n2025-01-02,GBP,1.1876\n")
    (run,) = evaluate(landing).run_requests
    assert run.job_name == "refresh_from_fx_rates" and run.tags["tailor/landing_files"] == "fx_rates/fx_rates-0001.csv"
    job = defs.resolve_job_def("refresh_from_fx_rates")
    selected = {key.path[-1] for key in job.asset_layer.selected_asset_keys}
    assert {"fx_rates", "orders", "order_items"} <= selected and "crm_customers" not in selected
    assert AssetKey("fx_rates") in defs.resolve_assets_def("orders").asset_deps[AssetKey("orders")]


def test_a_removed_file_refreshes_its_source_once(tmp_path):
    """A removed landing file's rows go at its source's next ingest: the removal must start that ingest."""
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", EVENT % "e1")
    gone = write(landing / "events" / "b.ndjson", EVENT % "e2")
    write(landing / "crm" / "c.csv", "customer_ref,email\nCRM-1,a@example.com\n")
    _, cursor = plan_landing_runs(landing, None)
    gone.unlink()
    runs, cursor = plan_landing_runs(landing, cursor)
    assert [(r.job_name, r.files) for r in runs] == [("refresh_from_web_events", ("events/b.ndjson",))]
    assert plan_landing_runs(landing, cursor)[0] == []


def test_a_cursor_written_before_sources_were_recorded_still_sees_removals(tmp_path):
    import json

    landing = tmp_path / "landing"
    gone = write(landing / "crm" / "c.csv", "customer_ref,email\nCRM-1,a@example.com\n")
    _, cursor = plan_landing_runs(landing, None)
    old_cursor = json.dumps({f: {k: v for k, v in e.items() if k != "source"} for f, e in json.loads(cursor).items()})
    gone.unlink()
    (run,), _ = plan_landing_runs(landing, old_cursor)
    assert run.job_name == "refresh_from_crm_customers" and run.files == ("crm/c.csv",)
