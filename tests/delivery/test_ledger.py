"""Tests for tailor.delivery.ledger: claims, outcomes and manual resolution, and at-most-once claims across
threads and forked processes."""

import multiprocessing
import sqlite3
import threading
from datetime import datetime, timedelta

import pytest

from tailor.delivery.ledger import SendLedger

KEY = "0123456789abcdef0123456789abcdef"
ROW = (KEY, "spring_sale", "cus_000042")


def test_ledger_claim_twice_second_loses(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.status(KEY) is None
    assert ledger.claim_many([ROW]) == {KEY}
    assert ledger.status(KEY) == "claimed"
    assert ledger.claim_many([ROW]) == set()  # in flight
    ledger.mark_sent(KEY, "sendgrid", "msg-1")
    assert ledger.status(KEY) == "sent"
    assert ledger.claim_many([ROW]) == set()  # sent is final
    assert ledger.mark_failed(KEY, "late error") is False  # never downgraded
    entry = ledger.get(KEY)
    assert (entry.status, entry.provider, entry.provider_message_id, entry.attempts) == ("sent", "sendgrid", "msg-1", 1)


def test_ledger_failed_key_can_be_claimed_again(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.claim_many([ROW]) == {KEY}
    assert ledger.mark_failed(KEY, "SendGrid HTTP 500") is True
    assert ledger.get(KEY).error == "SendGrid HTTP 500"
    assert ledger.claim_many([ROW]) == {KEY}
    entry = ledger.get(KEY)
    assert (entry.status, entry.attempts, entry.error) == ("claimed", 2, None)
    assert ledger.claim_many([ROW]) == set()


def test_ledger_stale_claims_and_manual_resolution(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    t0 = datetime(2025, 3, 14, 9, 0)
    ledger.claim_many([("old", "c", "cus_1"), ("done", "c", "cus_3")], now=t0)
    ledger.claim_many([("new", "c", "cus_2")], now=t0 + timedelta(minutes=55))
    ledger.mark_sent("done", "outbox", "x", now=t0)
    stale = ledger.stale_claims(older_than=timedelta(minutes=30), now=t0 + timedelta(hours=1))
    assert [e.message_key for e in stale] == ["old"]
    # operator checked the provider: it was not sent -> releasable
    ledger.mark_failed("old", "manual review: not in SendGrid activity")
    assert ledger.claim_many([("old", "c", "cus_1")]) == {"old"}
    assert ledger.counts() == {"claimed": 2, "sent": 1, "failed": 0}
    with pytest.raises(KeyError):
        ledger.mark_sent("never-claimed", "outbox", None)


def test_ledger_uses_wal(tmp_path):
    SendLedger(tmp_path / "ledger.sqlite")
    with sqlite3.connect(tmp_path / "ledger.sqlite") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def run_in_processes(target, n: int = 2) -> list:
    """Run ``target(start_event, queue)`` in n forked processes released at the same instant."""
    ctx = multiprocessing.get_context("fork")  # forked children reuse the parent's imports: fast start
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(start, queue)) for _ in range(n)]
    for p in procs:
        p.start()
    start.set()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    return results


def test_ledger_concurrent_claims_from_two_processes_exactly_one_wins(tmp_path):
    db = tmp_path / "ledger.sqlite"
    SendLedger(db)

    def claim_all(start, queue):
        ledger = SendLedger(db)
        start.wait()
        queue.put([bool(ledger.claim_many([(f"k{i}", "c", f"cus_{i}")])) for i in range(300)])

    a, b = run_in_processes(claim_all)
    assert len(a) == len(b) == 300
    assert all(x != y for x, y in zip(a, b))  # for every key exactly one process won
    assert SendLedger(db).counts()["claimed"] == 300


def test_claim_many_returns_exactly_the_new_and_failed_keys(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    ledger.claim_many([("done", "c", "cus_1"), ("busy", "c", "cus_2"), ("retry", "c", "cus_3")])
    ledger.mark_sent("done", "outbox", "m-done")
    ledger.mark_failed("retry", "SendGrid HTTP 500")

    rows = [("done", "c", "cus_1"), ("new1", "c", "cus_4"), ("busy", "c", "cus_2"), ("retry", "c", "cus_3"),
            ("new2", "c", "cus_5"), ("new1", "c", "cus_4")]  # new1 twice: claimed once
    assert ledger.claim_many(rows) == {"new1", "new2", "retry"}
    assert {k: ledger.status(k) for k in ("done", "busy", "retry", "new1", "new2")} == {
        "done": "sent", "busy": "claimed", "retry": "claimed", "new1": "claimed", "new2": "claimed"}
    assert ledger.get("retry").attempts == 2 and ledger.get("new1").attempts == 1
    assert ledger.get("done").provider_message_id == "m-done"  # untouched
    assert ledger.claim_many(rows) == set()
    assert ledger.claim_many([]) == set()


def test_claim_many_is_one_transaction_all_or_nothing(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    with pytest.raises(Exception):
        ledger.claim_many([("a", "c", "cus_1"), ("b", None, "cus_2")])  # NOT NULL violation on the 2nd row
    assert ledger.counts() == {"claimed": 0, "sent": 0, "failed": 0}  # the 1st row was rolled back too
    assert ledger.claim_many([("a", "c", "cus_1")]) == {"a"}


def test_record_outcomes_in_one_call(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.claim_many([(k, "c", f"cus_{k}") for k in "abcde"]) == set("abcde")
    ledger.mark_sent("e", "outbox", "m-e")
    recorded = ledger.record_outcomes(
        sent=[("a", "sendgrid", "sg-a"), ("never", "sendgrid", "x")],
        failed=[("b", "HTTP 500", "sendgrid"), ("e", "late error", "sendgrid")],  # e is sent: not downgraded
        uncertain=[("c", "read timeout", "sendgrid")],
    )
    assert recorded.sent == {"a"} and recorded.failed == {"b"} and recorded.uncertain == {"c"}
    assert {k: ledger.status(k) for k in "abcde"} == {
        "a": "sent", "b": "failed", "c": "claimed", "d": "claimed", "e": "sent"}
    assert ledger.get("c").error == "read timeout" and ledger.get("a").provider_message_id == "sg-a"
    assert ledger.record_outcomes(failed=[("d", "x", None), ("a", "x", None)]).failed == {"d"}  # a is sent
    assert ledger.record_outcomes(sent=[("d", "outbox", "m-d")]).sent == {"d"}
    assert set(ledger.get_many(["a", "d", "unknown"])) == {"a", "d"}


def test_one_ledger_shared_by_threads_claims_each_key_once(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    keys = [(f"k{i}", "c", f"cus_{i}") for i in range(200)]
    barrier = threading.Barrier(8)
    won: list[set] = []

    def worker(seed):
        barrier.wait()
        got = set()
        for start in range(0, 200, 25):  # overlapping batches, different orders per thread
            part = keys[start:start + 25]
            got |= ledger.claim_many(part if seed % 2 else list(reversed(part)))
            got |= {k for k, _, _ in part if ledger.claim_many([(k, "c", "x")])}
        won.append(got)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(len(w) for w in won) == 200 and set().union(*won) == {k for k, _, _ in keys}


def test_ledger_instance_used_before_fork_works_in_children(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    ledger.claim_many([("before-fork", "c", "cus_0")])  # the parent's connection is open now

    def claim_all(start, queue):
        start.wait()
        queue.put([bool(ledger.claim_many([(f"k{i}", "c", f"cus_{i}")])) for i in range(100)])  # the inherited instance

    a, b = run_in_processes(claim_all)
    assert all(x != y for x, y in zip(a, b))
    assert ledger.counts()["claimed"] == 101

