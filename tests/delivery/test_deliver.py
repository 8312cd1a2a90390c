"""Tests for tailor.delivery.deliver: the consent re-check right before sending, chunked hand-over to
send_many, and the email_sends table."""

import hashlib
import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tailor.delivery.deliver import EMAIL_SENDS_COLUMNS, EmailSendsSchema, deliver
from tailor.delivery.ledger import SendLedger
from tailor.delivery.protocol import SendResult
from tailor.delivery.sender import EmailSender

NOW = datetime(2025, 3, 14, 9, 30)
CAMPAIGN = "spring_sale"


def key(customer_id: str, campaign_id: str = CAMPAIGN) -> str:
    return hashlib.sha256(f"{campaign_id}|{customer_id}".encode()).hexdigest()[:32]


def profile(cid, email, consent=True, suppressed=None, first="Anna", last="Klein"):
    return {"customer_id": cid, "email": email, "first_name": first, "last_name": last,
            "marketing_consent": consent, "suppressed_reason": suppressed}


def rendered_row(cid, email):
    return {"customer_id": cid, "campaign_id": CAMPAIGN, "message_key": key(cid), "to_email": email,
            "subject": f"Hi {cid}", "html": f"<p>Hello {cid}</p>", "text": f"Hello {cid}",
            "blocks": json.dumps({"hero": "hero_default"})}


PROFILES = pd.DataFrame([
    profile("cus_000001", "ok@example.com"),
    profile("cus_000002", "revoked@example.com", consent=False),
    profile("cus_000003", "unsub@example.com", suppressed="unsubscribe"),
    profile("cus_000004", "bounce@example.com", suppressed="bounce"),
    profile("cus_000005", "spam@example.com", suppressed="spamreport"),
    profile("cus_000006", "unknown@example.com", consent=None),
    profile("cus_000008", "new-address@example.com"),
    profile("cus_000009", None),
    profile("cus_000010", "second@example.com", first=None, last=None),
])
RENDERED = pd.DataFrame([
    rendered_row("cus_000001", "ok@example.com"),
    rendered_row("cus_000002", "revoked@example.com"),
    rendered_row("cus_000003", "unsub@example.com"),
    rendered_row("cus_000004", "bounce@example.com"),
    rendered_row("cus_000005", "spam@example.com"),
    rendered_row("cus_000006", "unknown@example.com"),
    rendered_row("cus_000007", "deleted@example.com"),  # no current profile any more
    rendered_row("cus_000008", "old-address@example.com"),  # email changed since rendering
    rendered_row("cus_000009", "was-there@example.com"),
    rendered_row("cus_000010", "second@example.com"),
])
ALLOWED = {"cus_000001", "cus_000010"}


class RecordingSender:
    """Wraps the real EmailSender and records what it was asked to send."""

    def __init__(self, inner):
        self.inner, self.sent_to = inner, []

    @property
    def provider(self):
        return self.inner.provider

    def send_many(self, emails):
        self.sent_to.extend(email.to_email for email in emails)
        return self.inner.send_many(emails)


@pytest.fixture
def sender(tmp_path):
    return RecordingSender(EmailSender(outbox_dir=str(tmp_path / "outbox"),
                                       ledger_path=str(tmp_path / "ledger.sqlite")))


def test_deliver_sends_only_to_currently_consented_profiles(tmp_path, sender):
    sends = deliver(RENDERED, PROFILES, sender, "hello@tailor.example", "Tailor Shop", NOW)

    assert list(sends.columns) == EMAIL_SENDS_COLUMNS
    EmailSendsSchema.validate(sends)
    by = sends.set_index("customer_id")
    assert sorted(by.index[by["status"] == "sent"]) == sorted(ALLOWED)
    assert sorted(sender.sent_to) == ["ok@example.com", "second@example.com"]
    blocked = by[by["status"] == "blocked_no_consent"]
    assert sorted(blocked.index) == sorted(set(RENDERED["customer_id"]) - ALLOWED)
    assert by.loc["cus_000002", "error"] == "no marketing consent in the current profile"
    assert by.loc["cus_000003", "error"] == "suppressed: unsubscribe"
    assert by.loc["cus_000004", "error"] == "suppressed: bounce"
    assert by.loc["cus_000005", "error"] == "suppressed: spamreport"
    assert by.loc["cus_000006", "error"] == "no marketing consent in the current profile"
    assert by.loc["cus_000007", "error"] == "no current profile for this customer_id"
    assert by.loc["cus_000008", "error"] == "profile email changed since rendering; re-render before sending"
    assert by.loc["cus_000009", "error"] == "no email in the current profile"
    assert by.loc["cus_000001", "to_email_masked"] == "o***@example.com"
    assert by.loc["cus_000001", "sent_at"] == pd.Timestamp(NOW)
    assert by.loc["cus_000001", "provider"] == "outbox"
    assert by.loc["cus_000001", "provider_message_id"] == f"{key('cus_000001')}@tailor.example"
    assert by.loc["cus_000001", "message_key"] == key("cus_000001")
    assert pd.isna(by.loc["cus_000001", "error"])
    assert by.loc[sorted(blocked.index), "sent_at"].isna().all()
    assert (by.loc[sorted(blocked.index), "provider_message_id"].isna()).all()

    # nothing for blocked customers in the outbox
    files = sorted(p.name for p in (tmp_path / "outbox" / CAMPAIGN).iterdir())
    assert files == sorted(f"{key(c)}{ext}" for c in ALLOWED for ext in (".eml", ".sendgrid.json"))
    # no raw recipient address anywhere in the table
    raw = set(RENDERED["to_email"]) | set(PROFILES["email"].dropna())
    cells = " ".join(sends.astype(str).to_numpy().ravel())
    assert not [address for address in raw if address in cells]


def test_deliver_second_run_skips_already_sent(tmp_path, sender):
    deliver(RENDERED, PROFILES, sender, "hello@tailor.example", "Tailor Shop", NOW)
    sender.sent_to.clear()
    again = deliver(RENDERED, PROFILES, sender, "hello@tailor.example", "Tailor Shop", NOW + timedelta(hours=1))
    EmailSendsSchema.validate(again)
    by = again.set_index("customer_id")
    assert set(by.index[by["status"] == "skipped_already_sent"]) == ALLOWED
    assert by.loc["cus_000001", "provider_message_id"] == f"{key('cus_000001')}@tailor.example"
    assert by.loc[sorted(ALLOWED), "sent_at"].isna().all()
    assert (by["status"] != "sent").all()
    assert SendLedger(tmp_path / "ledger.sqlite").counts() == {"claimed": 0, "sent": 2, "failed": 0}


def test_consent_revoked_after_rendering_blocks_send(tmp_path, sender):
    """A rendered row exists (consent was granted at render time), then the customer revokes / unsubscribes
    / bounces: the current profile wins and nothing is sent."""
    rendered = pd.DataFrame([rendered_row("cus_000001", "ok@example.com")])
    for change in ({"marketing_consent": False}, {"suppressed_reason": "unsubscribe"},
                   {"suppressed_reason": "bounce"}, {"marketing_consent": np.nan}):
        current = pd.DataFrame([profile("cus_000001", "ok@example.com") | change])
        sends = deliver(rendered, current, sender, "hello@tailor.example", "Tailor Shop", NOW)
        assert sends["status"].tolist() == ["blocked_no_consent"]
    assert sender.sent_to == []
    assert not (tmp_path / "outbox").exists()
    assert SendLedger(tmp_path / "ledger.sqlite").status(key("cus_000001")) is None


def test_consent_must_be_a_real_boolean(sender):
    rendered = pd.DataFrame([rendered_row("cus_000001", "ok@example.com")])
    for value in ("true", 1, "yes", None):
        current = pd.DataFrame([profile("cus_000001", "ok@example.com", consent=value)])
        assert deliver(rendered, current, sender, "h@tailor.example", None, NOW)["status"].tolist() == [
            "blocked_no_consent"]
    numpy_true = pd.DataFrame([profile("cus_000001", "ok@example.com")]).astype({"marketing_consent": bool})
    assert deliver(rendered, numpy_true, sender, "h@tailor.example", None, NOW)["status"].tolist() == ["sent"]


def test_unsubscribe_url_defaults_to_env_base(tmp_path, sender, monkeypatch):
    monkeypatch.setenv("TAILOR_UNSUBSCRIBE_BASE_URL", "https://news.shop.example/unsub?lang=de")
    deliver(pd.DataFrame([rendered_row("cus_000001", "ok@example.com")]), PROFILES, sender,
            "hello@tailor.example", "Tailor Shop", NOW)
    payload = json.loads((tmp_path / "outbox" / CAMPAIGN / f"{key('cus_000001')}.sendgrid.json").read_text())
    assert payload["headers"]["List-Unsubscribe"] == (
        f"<https://news.shop.example/unsub?lang=de&m={key('cus_000001')}>")


def test_unsubscribe_url_and_recipient_name(tmp_path, sender):
    rendered = pd.DataFrame([rendered_row("cus_000001", "OK@Example.com ")])
    deliver(rendered, PROFILES, sender, "hello@tailor.example", "Tailor Shop", NOW,
            unsubscribe_base_url="https://shop.example/u")
    payload = json.loads((tmp_path / "outbox" / CAMPAIGN / f"{key('cus_000001')}.sendgrid.json").read_text())
    assert payload["personalizations"][0]["to"] == [{"email": "ok@example.com", "name": "Anna Klein"}]
    assert payload["headers"]["List-Unsubscribe"] == (
        f"<https://shop.example/u?m={key('cus_000001')}>")
    assert payload["categories"] == [CAMPAIGN]

    explicit = pd.DataFrame([rendered_row("cus_000010", "second@example.com")
                             | {"unsubscribe_url": "https://shop.example/unsub/tok123"}])
    deliver(explicit, PROFILES, sender, "hello@tailor.example", "Tailor Shop", NOW)
    payload = json.loads((tmp_path / "outbox" / CAMPAIGN / f"{key('cus_000010')}.sendgrid.json").read_text())
    assert payload["headers"]["List-Unsubscribe"] == "<https://shop.example/unsub/tok123>"
    assert payload["personalizations"][0]["to"] == [{"email": "second@example.com"}]


class FlakySender:
    """Raises for a batch with cus_000001 in it; answers every other message with a failure naming its address."""

    provider = "sendgrid"

    def send_many(self, emails):
        if any(email.customer_id == "cus_000001" for email in emails):
            raise RuntimeError(f"socket closed while talking about {emails[0].to_email}")
        return [SendResult("failed", "sendgrid", None, f"SendGrid HTTP 400 Bad Request: bad {email.to_email}")
                for email in emails]


def test_sender_errors_become_failed_rows_without_raw_emails():
    sends = deliver(RENDERED, PROFILES, FlakySender(), "hello@tailor.example", "Tailor Shop", NOW, chunk_size=1)
    EmailSendsSchema.validate(sends)
    by = sends.set_index("customer_id")
    assert by.loc["cus_000001", "status"] == "failed"
    assert by.loc["cus_000001", "error"] == "RuntimeError: socket closed while talking about o***@example.com"
    assert by.loc["cus_000010", "error"] == "SendGrid HTTP 400 Bad Request: bad s***@example.com"
    assert by.loc["cus_000002", "provider"] == "sendgrid"


def test_tz_aware_now_is_stored_as_utc_naive(sender):
    rendered = pd.DataFrame([rendered_row("cus_000001", "ok@example.com")])
    berlin = timezone(timedelta(hours=1))
    sends = deliver(rendered, PROFILES, sender, "h@tailor.example", None, datetime(2025, 3, 14, 10, 30, tzinfo=berlin))
    assert sends["sent_at"].dtype == "datetime64[ns]"
    assert sends.loc[0, "sent_at"] == pd.Timestamp("2025-03-14 09:30:00")


def test_empty_input_gives_empty_valid_table(sender):
    sends = deliver(RENDERED.iloc[0:0], PROFILES, sender, "h@tailor.example", None, NOW)
    assert list(sends.columns) == EMAIL_SENDS_COLUMNS and len(sends) == 0
    EmailSendsSchema.validate(sends)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"rendered_emails is missing column\(s\) \['html'\]"):
        deliver(RENDERED.drop(columns=["html"]), PROFILES, None, "h@tailor.example", None, NOW)
    with pytest.raises(ValueError, match=r"customer_profiles is missing column\(s\) \['suppressed_reason'\]"):
        deliver(RENDERED, PROFILES.drop(columns=["suppressed_reason"]), None, "h@tailor.example", None, NOW)
    dup = pd.concat([PROFILES, PROFILES.iloc[[0]]])
    with pytest.raises(ValueError, match="duplicate customer_id.*cus_000001"):
        deliver(RENDERED, dup, None, "h@tailor.example", None, NOW)


def test_schema_rejects_raw_email_and_unknown_status():
    good = pd.DataFrame([{"customer_id": "cus_1", "campaign_id": "c", "message_key": "k", "status": "sent",
                          "provider": "outbox", "provider_message_id": "m", "to_email_masked": "a***@x.com",
                          "sent_at": pd.Timestamp(NOW), "error": None}])
    EmailSendsSchema.validate(good)
    with pytest.raises(Exception):
        EmailSendsSchema.validate(good.assign(to_email_masked="anna@x.com"))
    with pytest.raises(Exception):
        EmailSendsSchema.validate(good.assign(status="queued"))
    with pytest.raises(Exception):
        EmailSendsSchema.validate(good.assign(sent_at=pd.NaT))  # sent rows need sent_at


def many(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    cids = [f"cus_{i:06d}" for i in range(n)]
    rendered = pd.DataFrame([rendered_row(c, f"{c}@example.com") for c in cids])
    profiles = pd.DataFrame([profile(c, f"{c}@example.com", consent=(i % 50 != 7)) for i, c in enumerate(cids)])
    return rendered, profiles


def test_chunked_deliver_of_500_outbox_emails_then_a_rerun_sends_none(tmp_path):
    rendered, profiles = many(500)
    profiles["marketing_consent"] = True
    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))

    sends = deliver(rendered, profiles, sender, "hello@tailor.example", "Tailor Shop", NOW)
    EmailSendsSchema.validate(sends)
    assert sends["message_key"].tolist() == rendered["message_key"].tolist()  # input order
    assert sends["status"].tolist() == ["sent"] * 500
    folder = tmp_path / "outbox" / CAMPAIGN
    emls = {p.name: p.stat().st_mtime_ns for p in folder.glob("*.eml")}
    assert len(emls) == 500 and len(list(folder.glob("*.sendgrid.json"))) == 500
    assert not list(folder.glob(".*.tmp"))
    assert SendLedger(tmp_path / "ledger.sqlite").counts() == {"claimed": 0, "sent": 500, "failed": 0}

    again = deliver(rendered, profiles, sender, "hello@tailor.example", "Tailor Shop", NOW + timedelta(hours=1))
    EmailSendsSchema.validate(again)
    assert again["status"].tolist() == ["skipped_already_sent"] * 500
    assert again["provider_message_id"].tolist() == sends["provider_message_id"].tolist()
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("*.eml")} == emls  # nothing rewritten


class BatchRecordingSender:
    """Wraps the real EmailSender; records the batches deliver() hands to send_many."""

    def __init__(self, inner):
        self.inner, self.batches = inner, []

    @property
    def provider(self):
        return self.inner.provider

    def send_many(self, emails):
        self.batches.append([e.customer_id for e in emails])
        return self.inner.send_many(emails)


def test_deliver_hands_chunks_of_allowed_rows_to_send_many(tmp_path):
    rendered, profiles = many(130)  # every 50th row from index 7 has no consent
    sender = BatchRecordingSender(EmailSender(outbox_dir=str(tmp_path / "outbox"),
                                              ledger_path=str(tmp_path / "ledger.sqlite")))
    sends = deliver(rendered, profiles, sender, "hello@tailor.example", None, NOW, chunk_size=40)
    EmailSendsSchema.validate(sends)
    blocked = {f"cus_{i:06d}" for i in (7, 57, 107)}
    assert [len(b) for b in sender.batches] == [39, 39, 39, 10]  # 40-row chunks minus blocked rows
    assert not blocked & {c for b in sender.batches for c in b}  # blocked rows never reach the sender
    assert sends["customer_id"].tolist() == rendered["customer_id"].tolist()
    assert set(sends.loc[sends["status"] == "blocked_no_consent", "customer_id"]) == blocked
    assert (sends.loc[~sends["customer_id"].isin(blocked), "status"] == "sent").all()


class ExplodingBatchSender:
    provider = "sendgrid"

    def __init__(self):
        self.calls = 0

    def send_many(self, emails):
        self.calls += 1
        if self.calls == 2:
            raise RuntimeError(f"ledger is locked while sending to {emails[0].to_email}")
        return [SendResult("sent", "sendgrid", f"sg-{e.customer_id}") for e in emails]


def test_a_failing_batch_fails_only_its_rows_and_the_run_continues():
    rendered, profiles = many(10)
    profiles["marketing_consent"] = True
    sends = deliver(rendered, profiles, ExplodingBatchSender(), "h@tailor.example", None, NOW, chunk_size=4)
    EmailSendsSchema.validate(sends)
    assert sends["status"].tolist() == ["sent"] * 4 + ["failed"] * 4 + ["sent"] * 2
    assert sends.loc[4, "error"] == "RuntimeError: ledger is locked while sending to c***@example.com"
