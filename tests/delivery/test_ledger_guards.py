"""The ledger's per-recipient guard (issue 11, item 5) and its files (item 17): "nothing is sent twice" holds per
(campaign, recipient address), not only per message key; the address is kept as a keyed hash; an old ledger file
is migrated; the ledger, its WAL, shared memory and key files are owner-only."""

import json
import os
import re
import sqlite3
import stat
from datetime import timedelta

import pandas as pd
import pytest

from tailor.delivery.deliver import EmailSendsSchema, deliver
from tailor.delivery.ledger import LedgerKeyError, SendLedger
from tailor.delivery.sender import EmailSender
from tests.delivery.test_deliver import NOW, key, profile, rendered_row
from tests.delivery.test_ledger import run_in_processes
from tests.delivery.test_sender import FakeSendGrid, make_email, outbox_sender, sendgrid_sender

ANNA = "anna.k@example.com"
K1, K2, K3 = "a" * 32, "b" * 32, "c" * 32


def test_a_second_key_for_the_same_campaign_and_address_is_refused_naming_the_first(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    first = ledger.claim_chunk([(K1, "spring", "cus_1", ANNA)])
    assert first.claimed == {K1} and first.same_recipient == {}
    ledger.mark_sent(K1, "outbox", "m1")
    # the same person under a new customer id; the address differs only in case and a zero-width space
    again = ledger.claim_chunk([(K2, "spring", "cus_9", " Anna.K@Example.com\u200b")])
    assert again.claimed == set() and again.same_recipient == {K2: K1}
    assert ledger.status(K2) is None  # nothing reserved for the refused key
    other_campaign = ledger.claim_chunk([(K3, "autumn", "cus_9", ANNA)])
    assert other_campaign.claimed == {K3}


def test_the_guard_holds_within_one_chunk_and_a_failed_send_does_not_block(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    chunk = ledger.claim_chunk([(K1, "spring", "cus_1", ANNA), (K2, "spring", "cus_2", ANNA.upper())])
    assert chunk.claimed == {K1} and chunk.same_recipient == {K2: K1}
    ledger.mark_failed(K1, "SendGrid HTTP 500")  # definitely not sent: the address is free again
    retry = ledger.claim_chunk([(K2, "spring", "cus_2", ANNA), (K1, "spring", "cus_1", ANNA)])
    assert retry.claimed == {K2} and retry.same_recipient == {K1: K2}
    assert ledger.claim_many([(K3, "spring", "cus_3")]) == {K3}  # rows without an address: key guard only


def test_two_processes_claiming_one_address_under_two_keys_exactly_one_wins(tmp_path):
    db = tmp_path / "ledger.sqlite"
    SendLedger(db)

    def claim(start, queue):
        ledger = SendLedger(db)
        start.wait()
        won = [bool(ledger.claim_chunk([(f"{os.getpid()}-{i}", "spring", f"cus_{os.getpid()}",
                                          f"shared{i}@example.com")]).claimed) for i in range(150)]
        queue.put(won)

    a, b = run_in_processes(claim)
    assert all(x != y for x, y in zip(a, b))  # per address exactly one process claimed it
    assert SendLedger(db).counts()["claimed"] == 150


def test_the_address_is_stored_as_a_keyed_hash_never_in_clear(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    ledger.claim_chunk([(K1, "spring", "cus_1", ANNA)])
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        rows = conn.execute("SELECT * FROM email_send_ledger").fetchall()
        recipient = conn.execute("SELECT recipient FROM email_send_ledger").fetchone()[0]
    assert "anna" not in repr(rows) and "@" not in repr(rows)
    assert re.fullmatch(r"[0-9a-f]{64}", recipient)
    other = SendLedger(tmp_path / "other.sqlite")  # another ledger, another key: another hash
    other.claim_chunk([(K1, "spring", "cus_1", ANNA)])
    with sqlite3.connect(tmp_path / "other.sqlite") as conn:
        assert conn.execute("SELECT recipient FROM email_send_ledger").fetchone()[0] != recipient
    assert ledger.get(K1).recipient == recipient


def test_a_lost_key_file_stops_the_ledger_instead_of_silently_guarding_nothing(tmp_path):
    SendLedger(tmp_path / "ledger.sqlite").claim_chunk([(K1, "spring", "cus_1", ANNA)])
    key_file = tmp_path / "ledger.sqlite.key"
    saved = key_file.read_bytes()
    key_file.unlink()
    with pytest.raises(LedgerKeyError, match="ledger.sqlite.key"):
        SendLedger(tmp_path / "ledger.sqlite")
    key_file.write_bytes(b"0" * 64)  # another key
    with pytest.raises(LedgerKeyError, match="another key"):
        SendLedger(tmp_path / "ledger.sqlite")
    key_file.write_bytes(saved)
    assert SendLedger(tmp_path / "ledger.sqlite").claim_chunk([(K2, "spring", "cus_2", ANNA)]).same_recipient == {
        K2: K1}


OLD_SCHEMA = """
CREATE TABLE email_send_ledger (
    message_key TEXT PRIMARY KEY, campaign_id TEXT NOT NULL, customer_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')), provider TEXT, provider_message_id TEXT,
    error TEXT, attempts INTEGER NOT NULL DEFAULT 1, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
CREATE INDEX email_send_ledger_status ON email_send_ledger (status, updated_at);
INSERT INTO email_send_ledger VALUES
    ('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'spring', 'cus_1', 'sent', 'outbox', 'm1', NULL, 1,
     '2025-03-01T09:00:00.000000', '2025-03-01T09:00:00.000000'),
    ('dddddddddddddddddddddddddddddddd', 'spring', 'cus_4', 'failed', 'sendgrid', NULL, 'HTTP 500', 1,
     '2025-03-01T09:00:00.000000', '2025-03-01T09:00:00.000000');
"""


def test_an_old_ledger_file_is_migrated_in_place_and_keeps_its_rows(tmp_path):
    db = tmp_path / "ledger.sqlite"
    with sqlite3.connect(db) as conn:
        conn.executescript(OLD_SCHEMA)
    os.chmod(db, 0o644)
    ledger = SendLedger(db)
    with sqlite3.connect(db) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(email_send_ledger)")}
    assert {"recipient", "claimed_by"} <= columns
    old = ledger.get(K1)
    assert (old.status, old.provider_message_id, old.recipient) == ("sent", "m1", None)
    assert ledger.claim_chunk([(K1, "spring", "cus_1", ANNA)]).claimed == set()  # the key guard still holds
    # an old row does not know its address: another key for it is not refused (docs/delivery.md, Migration)
    assert ledger.claim_chunk([(K2, "spring", "cus_2", ANNA)]).claimed == {K2}
    retried = ledger.claim_chunk([("d" * 32, "spring", "cus_4", "dora@example.com")])
    assert retried.claimed == {"d" * 32} and ledger.get("d" * 32).recipient is not None
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    SendLedger(db)  # opening a migrated file again changes nothing
    assert ledger.counts() == {"claimed": 2, "sent": 1, "failed": 0}


def test_ledger_wal_shm_and_key_files_are_owner_only(tmp_path):
    old_umask = os.umask(0o022)
    try:
        ledger = SendLedger(tmp_path / "ledger.sqlite")
        ledger.claim_chunk([(K1, "spring", "cus_1", ANNA)])  # a write: the -wal and -shm files exist now
        names = ["ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm", "ledger.sqlite.key"]
        assert {n: stat.S_IMODE((tmp_path / n).stat().st_mode) for n in names} == {n: 0o600 for n in names}
        for name in names:  # the first ledger keeps its connection open, so the -wal and -shm files stay
            os.chmod(tmp_path / name, 0o644)  # e.g. files made by an earlier version
        SendLedger(tmp_path / "ledger.sqlite").claim_chunk([(K2, "spring", "cus_2", "ben@example.com")])
        assert {n: stat.S_IMODE((tmp_path / n).stat().st_mode) for n in names} == {n: 0o600 for n in names}
    finally:
        os.umask(old_umask)


# --- through the sender and deliver(): the reported outcome ------------------------------------------------

def test_a_new_customer_id_for_the_same_person_is_not_sent_the_campaign_again(tmp_path):
    sender = outbox_sender(tmp_path)
    assert sender.send_many([make_email(K1, customer_id="cus_000042")])[0].status == "sent"
    again = sender.send_many([make_email(K2, customer_id="cus_000777", to_email="ANNA.K@example.com")])[0]
    assert again.status == "skipped_already_sent" and again.provider_message_id is None
    assert K1 in again.error and "anna" not in again.error.lower()
    assert sorted(p.stem for p in (tmp_path / "outbox" / "spring_sale").glob("*.eml")) == [K1]
    assert SendLedger(tmp_path / "ledger.sqlite").status(K2) is None


def test_sendgrid_sends_one_request_per_address_and_campaign(tmp_path):
    emails = [make_email(K1, customer_id="cus_1"), make_email(K2, customer_id="cus_2"),
              make_email(K3, customer_id="cus_3", to_email="ben@example.com")]
    with FakeSendGrid() as fake:
        results = sendgrid_sender(tmp_path, fake.host).send_many(emails)
        assert [r.status for r in results] == ["sent", "skipped_already_sent", "sent"]
        assert sorted(r["json"]["personalizations"][0]["to"][0]["email"] for r in fake.requests) == [
            ANNA, "ben@example.com"]
        fake.status_for = lambda k: 500  # the first attempt fails: the second row must not be reported sent
        results = sendgrid_sender(tmp_path, fake.host).send_many([make_email("e" * 32, campaign_id="autumn"),
                                                                   make_email("f" * 32, campaign_id="autumn")])
    assert [r.status for r in results] == ["failed", "failed"]
    assert "e" * 32 in results[1].error and "failed" in results[1].error


def test_family_addresses_shared_by_two_customers_get_the_campaign_once_per_run_and_after(tmp_path):
    profiles, rendered = [], []
    for i in range(20):
        cid, address = f"cus_{i:06d}", f"family{i % 14}@example.com"  # 6 addresses shared by two customers
        profiles.append(profile(cid, address))
        rendered.append(rendered_row(cid, address))
    profiles, rendered = pd.DataFrame(profiles), pd.DataFrame(rendered)
    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))
    sends = deliver(rendered, profiles, sender, "hello@tailor.example", "Tailor Shop", NOW, chunk_size=7)
    EmailSendsSchema.validate(sends)
    assert sends["status"].tolist() == ["sent"] * 14 + ["skipped_already_sent"] * 6
    assert [e.split("message_key ")[1][:32] for e in sends["error"][14:]] == [key(f"cus_{i:06d}") for i in range(6)]
    assert len(list((tmp_path / "outbox" / "spring_sale").glob("*.eml"))) == 14
    again = deliver(rendered, profiles, sender, "hello@tailor.example", "Tailor Shop", NOW + timedelta(hours=1))
    assert again["status"].tolist() == ["skipped_already_sent"] * 20
    assert SendLedger(tmp_path / "ledger.sqlite").counts() == {"claimed": 0, "sent": 14, "failed": 0}
    payloads = [json.loads(p.read_bytes()) for p in (tmp_path / "outbox" / "spring_sale").glob("*.json")]
    assert len({p["personalizations"][0]["to"][0]["email"] for p in payloads}) == 14
