"""The whole asset graph, materialized for real on a small generated data set into a temporary DuckDB file."""

from __future__ import annotations

import email
import html
import json
import os
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import fakesnow
import pandas as pd
import pytest
from dagster import materialize
from dagster_snowflake import SnowflakeResource

from resources.email_sender import EmailSenderResource
from resources.landing import LandingZone
from resources.snowflake_warehouse import SnowflakeWarehouse
from resources.warehouse import DuckDBWarehouse
from tailor.addresses import normalize_address
from tailor.demo.generator import write_demo_data
from tailor.demo.run import pipeline_summary, run_pipeline
from tests.tables import read_table

AS_OF = datetime(2026, 11, 1, 12, 0, tzinfo=timezone.utc)
ANNA, BEN, CHLOE, DMITRI, EVA, FARID = (f"cus_00000{i}" for i in range(1, 7))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    env = {
        "TAILOR_LANDING_DIR": str(root / "landing"),
        "TAILOR_WAREHOUSE_PATH": str(root / "warehouse.duckdb"),
        "TAILOR_OUTBOX_DIR": str(root / "outbox"),
        "TAILOR_SEND_LEDGER_PATH": str(root / "ledger.sqlite"),
    }
    saved = {k: os.environ.get(k) for k in [*env, "SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"]}
    os.environ.update(env)
    for k in ("SENDGRID_API_KEY", "SNOWFLAKE_ACCOUNT", "DAGSTER_HOME"):
        os.environ.pop(k, None)
    summary = write_demo_data(root / "landing", customers=400, seed=11, as_of=AS_OF)
    result = run_pipeline(as_of=AS_OF)
    yield {"root": root, "summary": summary, "result": result, "warehouse": DuckDBWarehouse(path=env["TAILOR_WAREHOUSE_PATH"])}
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def table(demo, name: str) -> pd.DataFrame:
    return read_table(demo["warehouse"], name)


def test_every_asset_materialized_and_every_pandera_check_passed(demo):
    result = demo["result"]
    assert result.success
    materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
    assert {
        "crm_customers", "products", "orders", "order_items", "web_events", "email_events", "consent_events",
        "quarantined_rows", "customer_identity_links", "customer_profiles", "customer_features",
        "customer_segments", "model_fits", "customer_predictions", "product_recommendations",
        "segment_membership_history", "email_decisions", "rendered_emails", "email_sends",
    } <= materialized
    checks = result.get_asset_check_evaluations()
    assert len(checks) >= len(materialized)
    assert all(c.passed for c in checks), [c.asset_check_key for c in checks if not c.passed]


def test_nothing_is_lost_between_landing_and_tables(demo):
    manifest = table(demo, "landing_files")
    assert (manifest["rows_read"] == manifest["rows_accepted"] + manifest["rows_quarantined"]).all()
    quarantined = table(demo, "quarantined_rows")
    assert len(quarantined) == int(manifest["rows_quarantined"].sum()) > 0
    assert quarantined["reason"].str.len().min() > 0


def test_duplicate_crm_records_of_one_person_become_one_profile(demo):
    profiles = table(demo, "customer_profiles").set_index("customer_id")
    links = table(demo, "customer_identity_links").set_index("source_record_id")
    assert links.loc["CRM-000007", "customer_id"] == ANNA
    assert profiles.loc[ANNA, "source_record_count"] == 2
    assert profiles.loc[ANNA, "email"] == "anna.schmidt@example.com"


def test_a_known_customer_gets_the_right_segment_blocks_subject_and_personal_line(demo):
    segments = table(demo, "customer_segments")
    assert "vip" in set(segments.loc[segments["customer_id"] == ANNA, "segment"])
    assert "cart_abandoners" in set(segments.loc[segments["customer_id"] == CHLOE, "segment"])

    decisions = table(demo, "email_decisions").set_index("customer_id")
    anna = decisions.loc[ANNA]
    assert bool(anna["send"]) is True
    blocks = json.loads(anna["blocks"])
    assert blocks["hero"] == "hero_vip" and blocks["main"] == "product_recommendations"
    assert json.loads(anna["rules_fired"])[0] == "vip_picks" and anna["reason"] == "rule:vip_picks"
    assert len(anna["rule_file_hash"]) == 64

    rendered = table(demo, "rendered_emails").set_index("customer_id")
    mail = rendered.loc[ANNA]
    assert "Anna" in mail["subject"]
    assert "Anna" in mail["html"] and "Anna" in mail["text"]
    features = table(demo, "customer_features").set_index("customer_id")
    products = table(demo, "products").set_index("product_id")
    viewed = json.loads(features.loc[ANNA, "viewed_not_bought"])
    assert viewed, "the demo persona viewed products she did not buy"
    assert products.loc[viewed[0], "name"] in mail["text"]
    assert html.escape(products.loc[viewed[0], "name"], quote=True) in mail["html"] or products.loc[viewed[0], "name"] in mail["html"]

    chloe = json.loads(decisions.loc[CHLOE, "blocks"])
    assert chloe["main"] == "abandoned_cart"


def test_customers_without_consent_or_suppressed_receive_nothing(demo):
    decisions = table(demo, "email_decisions").set_index("customer_id")
    assert decisions.loc[DMITRI, ["send", "reason"]].tolist() == [False, "no_consent"]
    assert decisions.loc[EVA, ["send", "reason"]].tolist() == [False, "suppressed:unsubscribe"]
    assert decisions.loc[FARID, ["send", "reason"]].tolist() == [False, "suppressed:bounce"]
    blocked = {DMITRI, EVA, FARID}
    assert not blocked & set(table(demo, "rendered_emails")["customer_id"])
    sends = table(demo, "email_sends")
    assert not blocked & set(sends.loc[sends["status"] == "sent", "customer_id"])
    profiles = table(demo, "customer_profiles")
    no_consent = set(profiles.loc[~profiles["marketing_consent"], "customer_id"])
    assert not no_consent & set(sends.loc[sends["status"] == "sent", "customer_id"])
    outbox_text = "\n".join(p.read_text(errors="replace") for p in Path(demo["root"], "outbox").rglob("*.eml"))
    assert "dmitri.ivanov@example.com" not in outbox_text and "eva.novak@example.com" not in outbox_text


def distinct_recipients(rendered) -> int:
    """How many emails the rendered rows make: one per campaign and normalised address."""
    return len(rendered.assign(address=rendered["to_email"].map(normalize_address))[["campaign_id", "address"]]
               .drop_duplicates())


def test_outbox_holds_real_eml_files_with_the_sendgrid_payload_beside_them(demo):
    sends = table(demo, "email_sends")
    sent = sends[sends["status"] == "sent"]
    assert len(sent) == distinct_recipients(table(demo, "rendered_emails")) > 0
    emls = sorted(Path(demo["root"], "outbox").rglob("*.eml"))
    assert len(emls) == len(sent)
    anna_key = table(demo, "rendered_emails").set_index("customer_id").loc[ANNA, "message_key"]
    eml = next(p for p in emls if p.stem == anna_key)
    message = email.message_from_bytes(eml.read_bytes())
    assert message["To"].endswith("<anna.schmidt@example.com>") or message["To"] == "anna.schmidt@example.com"
    assert message.is_multipart() and {p.get_content_type() for p in message.walk()} >= {"text/plain", "text/html"}
    payload = json.loads(eml.with_name(f"{anna_key}.sendgrid.json").read_text())
    assert payload["personalizations"][0]["to"][0]["email"] == "anna.schmidt@example.com"
    assert payload["subject"] == message["Subject"]


def test_running_the_pipeline_again_sends_nothing_twice(demo):
    before = sorted(p.name for p in Path(demo["root"], "outbox").rglob("*.eml"))
    again = run_pipeline(as_of=AS_OF)
    assert again.success
    after = sorted(p.name for p in Path(demo["root"], "outbox").rglob("*.eml"))
    assert after == before
    sends = table(demo, "email_sends")  # a log of every attempt: the first run's sends, then the skips
    rendered = table(demo, "rendered_emails")
    once = distinct_recipients(rendered)  # a family address shared by two customers gets each campaign once
    assert 0 < once < len(rendered)
    assert sends["status"].value_counts().to_dict() == {"sent": once, "skipped_already_sent": 2 * len(rendered) - once}
    summary = pipeline_summary()
    assert summary["customers"] == len(table(demo, "customer_profiles"))


class _SendGridStandIn(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append({"path": self.path, "auth": self.headers["Authorization"], "body": json.loads(body)})
        self.send_response(202)
        self.send_header("X-Message-Id", f"sg-{len(type(self).received)}")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_sendgrid_path_posts_every_rendered_email_to_the_api(demo, tmp_path):
    from assets.delivery import email_sends
    from tailor.definitions import build_definitions

    server = ThreadingHTTPServer(("127.0.0.1", 0), _SendGridStandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        defs = build_definitions()
        sender = EmailSenderResource(
            outbox_dir=str(tmp_path / "unused-outbox"),
            ledger_path=str(tmp_path / "fresh-ledger.sqlite"),
            sendgrid_api_key="SG.test-key",
            sendgrid_api_host=f"http://127.0.0.1:{server.server_port}",
            from_email="hello@tailor.example", from_name="Tailor Shop", max_concurrent_sends=8,
        )
        result = materialize(
            [email_sends], resources={"warehouse": demo["warehouse"], "email_sender": sender,
                                      "content": defs.resources["content"], "landing": defs.resources["landing"]}
        )
        assert result.success
    finally:
        server.shutdown()
    rendered = table(demo, "rendered_emails").set_index("customer_id")
    received = _SendGridStandIn.received
    assert len(received) == distinct_recipients(rendered.reset_index())
    assert {r["path"] for r in received} == {"/v3/mail/send"} and {r["auth"] for r in received} == {"Bearer SG.test-key"}
    anna = next(r["body"] for r in received if r["body"]["personalizations"][0]["to"][0]["email"] == "anna.schmidt@example.com")
    assert anna["subject"] == rendered.loc[ANNA, "subject"]
    assert [c["type"] for c in anna["content"]] == ["text/plain", "text/html"]
    assert anna["personalizations"][0]["custom_args"]["message_key"] == rendered.loc[ANNA, "message_key"]
    assert not (tmp_path / "unused-outbox").exists()


def test_profiles_materialize_on_snowflake_through_fakesnow(demo):
    from assets import profiles, sources
    from tailor.definitions import build_definitions

    wanted = {"crm_customers", "consent_events", "email_events"}
    selected = [a for a in sources.ASSETS if {k.path[-1] for k in a.keys} & wanted] + profiles.ASSETS
    with fakesnow.patch():
        snowflake = SnowflakeWarehouse(
            snowflake=SnowflakeResource(account="test", user="u", password="p", database="TAILOR", schema="PUBLIC")
        )
        result = materialize(
            selected, resources={"warehouse": snowflake, "landing": LandingZone(path=str(demo["root"] / "landing")),
                                 "content": build_definitions().resources["content"]}  # the identity decisions file
        )
        assert result.success
        assert all(c.passed for c in result.get_asset_check_evaluations())
        on_snowflake = read_table(snowflake, "customer_profiles").sort_values("customer_id").reset_index(drop=True)
    on_duckdb = table(demo, "customer_profiles").sort_values("customer_id").reset_index(drop=True)
    assert len(on_snowflake) == len(on_duckdb)
    assert on_snowflake["customer_id"].tolist() == on_duckdb["customer_id"].tolist()
    assert on_snowflake["marketing_consent"].tolist() == on_duckdb["marketing_consent"].tolist()
    anna = on_snowflake.set_index("customer_id").loc[ANNA]
    assert anna["source_record_count"] == 2 and anna["email"] == "anna.schmidt@example.com"
