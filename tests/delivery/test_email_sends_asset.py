"""The email_sends asset on a real DuckDB warehouse (issue 11, items 9 and 13): its audit rows survive a run with
errors after a clean one, a warehouse that refuses them, and an interrupted delivery; stale claims fail the
``no_stale_claims`` check with their count and no address."""

import multiprocessing
import os
from datetime import datetime

import dagster as dg
import pandas as pd
import pytest

from assets.delivery import email_sends
from resources.content import MarketingContent
from resources.email_sender import EmailSenderResource
from resources.landing import LandingZone
from resources.warehouse import DuckDBWarehouse
from tailor.delivery.audit import EmailSendsNotWritten, deliver_and_record
from tailor.delivery.deliver import EMAIL_SENDS_COLUMNS, deliver_chunks
from tailor.delivery.ledger import SendLedger
from tailor.delivery.sender import EmailSender
from tests.delivery.test_deliver import NOW, key, profile, rendered_row
from tests.tables import read_table, write_table


def resources(tmp_path) -> dict:
    return {
        "warehouse": DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")),
        "landing": LandingZone(path=str(tmp_path / "landing")),
        "email_sender": EmailSenderResource(outbox_dir=str(tmp_path / "outbox"),
                                            ledger_path=str(tmp_path / "ledger.sqlite"),
                                            from_email="hello@tailor.example", from_name="Tailor Shop",
                                            max_concurrent_sends=2),
        "content": MarketingContent(rules_dir=str(tmp_path), templates_dir=str(tmp_path), company_name="Tailor",
                                    company_address="1 Main St", unsubscribe_base_url="https://shop.example/u",
                                    preferences_base_url="https://shop.example/p", shop_url="https://shop.example"),
    }


def seed(tmp_path, customers: list[tuple[str, str, bool]]) -> None:
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    write_table(warehouse, "customer_profiles",
                pd.DataFrame([profile(cid, address, consent=consent) for cid, address, consent in customers]))
    write_table(warehouse, "rendered_emails",
                pd.DataFrame([rendered_row(cid, address) for cid, address, _ in customers]))
    # send time re-derives consent from the consent log (tailor/identity/live_consent.py): the grants behind it
    write_table(warehouse, "consent_events", pd.DataFrame(
        [{"email": address, "purpose": "marketing_email", "status": "granted", "changed_at": datetime(2026, 1, 1)}
         for _, address, consent in customers if consent]))


def materialize(tmp_path, **kw) -> dg.ExecuteInProcessResult:
    return dg.materialize([email_sends], resources=resources(tmp_path), **kw)


def check(result, name: str) -> dg.AssetCheckEvaluation:
    return next(c for c in result.get_asset_check_evaluations() if c.check_name == name)


def test_a_run_with_errors_after_a_clean_run_appends_its_audit_rows(tmp_path):
    seed(tmp_path, [("cus_000001", "ok@example.com", True), ("cus_000002", "two@example.com", True)])
    first = materialize(tmp_path)
    assert first.success
    seed(tmp_path, [("cus_000001", "ok@example.com", True), ("cus_000002", "two@example.com", True),
                    ("cus_000003", "revoked@example.com", False)])
    second = materialize(tmp_path)  # its third row carries an error text; the first run's error column had none
    assert second.success
    sends = read_table(DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb")), "email_sends")
    assert list(sends.columns) == EMAIL_SENDS_COLUMNS
    assert sends["status"].tolist() == ["sent", "sent", "skipped_already_sent", "skipped_already_sent",
                                        "blocked_no_consent"]
    assert sends["error"].tolist()[4] == "no marketing consent in the current profile"
    assert all(c.passed for c in second.get_asset_check_evaluations())


def test_audit_rows_the_warehouse_refuses_are_kept_in_a_file_that_loads_back(tmp_path):
    seed(tmp_path, [("cus_000001", "ok@example.com", True), ("cus_000002", "two@example.com", True)])
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    with warehouse.session() as s:  # an email_sends table the rows do not fit (e.g. damaged by hand)
        s.execute("CREATE TABLE email_sends (customer_id INTEGER, campaign_id VARCHAR)")
    result = materialize(tmp_path, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.cause  # Dagster wraps the asset's error
    assert failure.cls_name == "EmailSendsNotWritten" and "append_parquet" in failure.message
    spilled = list((tmp_path / "email_sends_unwritten").glob("email_sends_*.parquet"))
    assert len(spilled) == 1 and oct(spilled[0].stat().st_mode & 0o777) == "0o600"
    assert str(spilled[0]) in failure.message
    assert SendLedger(tmp_path / "ledger.sqlite").counts()["sent"] == 2  # the sends happened
    with warehouse.session() as s:
        s.execute("DROP TABLE email_sends")
        s.append_parquet("email_sends", spilled)
    loaded = read_table(warehouse, "email_sends")
    assert loaded["status"].tolist() == ["sent", "sent"]
    assert loaded["to_email_masked"].tolist() == ["o***@example.com", "t***@example.com"]


def test_an_interrupted_delivery_still_writes_the_rows_of_its_finished_chunks(tmp_path, monkeypatch):
    import tailor.delivery.sender as sender_module

    customers = [(f"cus_{i:06d}", f"c{i}@example.com", True) for i in range(10)]
    rendered = pd.DataFrame([rendered_row(c, a) for c, a, _ in customers])
    profiles = pd.DataFrame([profile(c, a) for c, a, _ in customers])
    real, built = sender_module.build_mime_bytes, []

    def build(email, *args, **kwargs):
        built.append(email.message_key)
        if len(built) == 6:  # in the second chunk of four
            raise KeyboardInterrupt
        return real(email, *args, **kwargs)

    monkeypatch.setattr(sender_module, "build_mime_bytes", build)
    warehouse = DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))
    chunks = deliver_chunks(rendered, profiles, sender, "hello@tailor.example", None, NOW, chunk_size=4)
    with pytest.raises(KeyboardInterrupt):
        deliver_and_record(chunks, lambda df: write_table(warehouse, "email_sends", df, "append"), tmp_path / "spill")
    sends = read_table(warehouse, "email_sends")
    assert sends["message_key"].tolist() == [key(c) for c, _, _ in customers[:4]]
    assert sends["status"].tolist() == ["sent"] * 4
    assert SendLedger(tmp_path / "ledger.sqlite").counts() == {"claimed": 0, "sent": 4, "failed": 4}


def _crash_after_claiming(ledger_path, rows_by_provider) -> None:
    ledger = SendLedger(ledger_path)
    for provider, rows in rows_by_provider.items():
        ledger.claim_chunk(rows, provider=provider)
    os._exit(0)  # no outcome recorded: like a run killed between claim and record


def test_stale_claims_fail_the_check_with_their_count_and_no_address(tmp_path):
    seed(tmp_path, [("cus_000001", "ok@example.com", True)])
    rows = {"sendgrid": [(f"{i:032x}", "spring_sale", f"cus_9{i}", f"hidden{i}@example.com") for i in range(3)],
            "outbox": [(f"{10 + i:032x}", "spring_sale", f"cus_8{i}", f"gone{i}@example.com") for i in range(2)]}
    SendLedger(tmp_path / "ledger.sqlite")
    child = multiprocessing.get_context("fork").Process(target=_crash_after_claiming,
                                                        args=(tmp_path / "ledger.sqlite", rows))
    child.start()
    child.join(30)
    result = materialize(tmp_path)
    assert result.success  # the check fails, the run does not: the sends of this run are fine
    stale = check(result, "no_stale_claims")
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
    assert stale.metadata["stale_claims"].value == 3  # the outbox ones were resolved from the outbox
    assert stale.metadata["by_provider"].value == {"sendgrid": 3}
    shown = " ".join(str(v.value) for v in stale.metadata.values())
    assert "hidden" not in shown and "@" not in shown and f"{0:032x}" in shown
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert {ledger.status(r[0]) for r in rows["outbox"]} == {"failed"}
    assert check(result, "pandera_schema").passed

    for message_key, *_ in rows["sendgrid"]:
        ledger.mark_failed(message_key, "manual review: not in SendGrid activity")
    assert check(materialize(tmp_path), "no_stale_claims").passed


def test_email_sends_declares_both_checks():
    specs = {spec.name: spec for spec in email_sends.check_specs}
    assert set(specs) == {"pandera_schema", "no_stale_claims"}
    assert specs["pandera_schema"].blocking and not specs["no_stale_claims"].blocking
    assert isinstance(NOW, datetime) and EmailSendsNotWritten.__mro__[1] is RuntimeError
