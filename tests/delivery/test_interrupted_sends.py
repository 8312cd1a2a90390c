"""Interrupted and killed sends (issue 11, item 13), with real processes: what is known to be unsent is recorded
``failed`` (and sent by the next run), what may have gone out stays ``claimed`` and is reported, nothing is sent
twice."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tailor.delivery.ledger import SendLedger
from tailor.delivery.sender import EmailSender
from tests.delivery.test_sender import _BacklogServer

ROOT = Path(__file__).resolve().parents[2]
API_KEY = "SG.test_key_ABC123.secretpart_XYZ789"

# The child builds the same messages as the parent (no pytest, no dagster: it starts in about a second).
MESSAGES = textwrap.dedent("""
    from tailor.delivery.messages import OutgoingEmail

    def messages(n):
        return [OutgoingEmail(
            message_key=f"{i:032x}", campaign_id="spring_sale", customer_id=f"cus_{i}", to_email=f"c{i}@example.com",
            to_name="Anna", from_email="hello@tailor.example", from_name="Tailor Shop", subject="Your picks",
            html=f"<p>Hello {i}</p>", text=f"Hello {i}", unsubscribe_url=f"https://shop.example/u?m={i:032x}",
        ) for i in range(n)]
""")


def messages(n):
    namespace: dict = {}
    exec(MESSAGES, namespace)
    return namespace["messages"](n)


def start_child(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", MESSAGES + textwrap.dedent(code), *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


class HoldingSendGrid:
    """A local SendGrid that answers the first ``answer_first`` requests at once and holds the later ones until
    ``release`` is set (the child's requests are then in flight)."""

    def __init__(self, answer_first: int):
        self.received: list[str] = []
        self.release = threading.Event()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                import json
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with fake.lock:
                    fake.received.append(body["personalizations"][0]["custom_args"]["message_key"])
                    n = len(fake.received)
                if n > answer_first:
                    fake.release.wait(30)
                self.send_response(202)
                self.send_header("X-Message-Id", f"sg-{n}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = _BacklogServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


SENDGRID_CHILD = """
    import signal
    import sys
    # Ctrl-C as a terminal delivers it, even when this test runs under a shell that started it in the background
    # (which makes SIGINT ignored, and Python then keeps it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from tailor.delivery.sender import EmailSender
    sender = EmailSender(outbox_dir=sys.argv[1] + "/outbox", ledger_path=sys.argv[1] + "/ledger.sqlite",
                         sendgrid_api_key=sys.argv[3], sendgrid_api_host=sys.argv[2], max_concurrent_sends=2,
                         request_timeout_seconds=20)
    try:
        sender.send_many(messages(40), chunk_size=40)
    except KeyboardInterrupt:
        print("INTERRUPTED", flush=True)
        sys.exit(3)
    print("FINISHED", flush=True)
"""


def test_sigint_mid_chunk_records_unstarted_sends_failed_and_the_next_run_sends_them_once(tmp_path):
    fake = HoldingSendGrid(answer_first=5)
    try:
        child = start_child(SENDGRID_CHILD, str(tmp_path), fake.host, API_KEY)
        wait_for(lambda: len(fake.received) >= 7)  # 5 answered, one held in each of the two worker threads
        child.send_signal(signal.SIGINT)
        time.sleep(0.5)
        fake.release.set()  # the two requests in flight are answered: their outcome is known
        out, err = child.communicate(timeout=60)
        assert (child.returncode, out.strip()) == (3, "INTERRUPTED"), err
        ledger = SendLedger(tmp_path / "ledger.sqlite")
        entries = ledger.get_many(e.message_key for e in messages(40))
        received = set(fake.received)
        assert {k for k, e in entries.items() if e.status == "sent"} == received
        failed = {k: e for k, e in entries.items() if e.status == "failed"}
        assert set(failed) == {e.message_key for e in messages(40)} - received and len(failed) >= 30
        assert all("interrupted before it was handed to the provider" in e.error for e in failed.values())
        assert ledger.counts()["claimed"] == 0

        rerun = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"),
                            sendgrid_api_key=API_KEY, sendgrid_api_host=fake.host).send_many(messages(40))
        assert {e.message_key: r.status for e, r in zip(messages(40), rerun)} == {
            k: "skipped_already_sent" if k in received else "sent" for k in entries}
        assert sorted(fake.received) == sorted(entries)  # every message requested exactly once in all
    finally:
        fake.close()


def test_sigkill_mid_chunk_in_sendgrid_mode_leaves_the_chunk_claimed_and_reported_never_resent(tmp_path):
    fake = HoldingSendGrid(answer_first=2)
    try:
        child = start_child(SENDGRID_CHILD, str(tmp_path), fake.host, API_KEY)
        wait_for(lambda: len(fake.received) >= 4)
        child.kill()
        child.communicate(timeout=30)
        assert child.returncode == -signal.SIGKILL
        fake.release.set()
        ledger = SendLedger(tmp_path / "ledger.sqlite")
        assert ledger.counts() == {"claimed": 40, "sent": 0, "failed": 0}  # outcomes are recorded per chunk
        sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"),
                             sendgrid_api_key=API_KEY, sendgrid_api_host=fake.host)
        again = sender.send_many(messages(40))
        assert {r.status for r in again} == {"failed"} and len(fake.received) == 4  # nothing sent a second time
        unresolved = sender.unresolved_claims()
        assert len(unresolved) == 40 and {e.provider for e in unresolved} == {"sendgrid"}
    finally:
        fake.close()


OUTBOX_CHILD = """
    import sys, threading
    from pathlib import Path
    import tailor.delivery.outbox as outbox
    from tailor.delivery.sender import EmailSender

    root = Path(sys.argv[1])
    real_write, lock, written = outbox.atomic_write, threading.Lock(), []

    def write(path, data):  # the real write; once 60 .eml are in place, every later write hangs (a slow disk)
        with lock:
            hang = len(written) >= 60
        if hang:
            (root / "READY").touch()
            threading.Event().wait()
        real_write(path, data)
        if path.suffix == ".eml":
            with lock:
                written.append(path.name)

    outbox.atomic_write = write
    sender = EmailSender(outbox_dir=str(root / "outbox"), ledger_path=str(root / "ledger.sqlite"),
                         max_concurrent_sends=2)
    sender.send_many(messages(200), chunk_size=200)
"""


def test_sigkill_mid_chunk_in_outbox_mode_is_resolved_by_the_next_run_from_the_outbox(tmp_path):
    child = start_child(OUTBOX_CHILD, str(tmp_path))
    wait_for(lambda: (tmp_path / "READY").exists() or child.poll() is not None)
    child.kill()
    _, err = child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL, err
    folder = tmp_path / "outbox" / "spring_sale"
    complete = {p.stem: p.stat().st_mtime_ns for p in folder.glob("*.eml")}
    assert 60 <= len(complete) <= 62
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.counts() == {"claimed": 200, "sent": 0, "failed": 0}
    assert {e.claimed_by.rpartition(":")[2] for e in ledger.unresolved_claims()} == {str(child.pid)}

    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))
    results = sender.send_many(messages(200))
    assert {e.message_key: r.status for e, r in zip(messages(200), results)} == {
        e.message_key: "skipped_already_sent" if e.message_key in complete else "sent" for e in messages(200)}
    assert {p.stem: p.stat().st_mtime_ns for p in folder.glob("*.eml") if p.stem in complete} == complete
    assert len(list(folder.glob("*.eml"))) == 200 and not list(folder.glob(".*.tmp"))
    assert ledger.counts() == {"claimed": 0, "sent": 200, "failed": 0}
    assert sender.unresolved_claims() == []
    first = ledger.get(next(iter(complete)))
    assert (first.attempts, first.provider_message_id) == (1, f"{first.message_key}@tailor.example")
    retried = ledger.get(next(e.message_key for e in messages(200) if e.message_key not in complete))
    assert retried.attempts == 2


def test_an_outbox_claim_of_a_live_process_is_left_alone(tmp_path):
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    ledger.claim_chunk([(m.message_key, m.campaign_id, m.customer_id, m.to_email) for m in messages(3)],
                       provider="outbox")  # this process holds them, as if a send were in flight right now
    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))
    results = sender.send_many(messages(3))
    assert [r.status for r in results] == ["failed"] * 3 and all("stale_claims" in r.error for r in results)
    assert not (tmp_path / "outbox").exists()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_while_building_releases_the_whole_claimed_chunk(tmp_path, monkeypatch, exc):
    import tailor.delivery.sender as sender_module

    calls = []
    real = sender_module.build_mime_bytes

    def build(email, *args, **kwargs):
        calls.append(email.message_key)
        if len(calls) == 5:
            raise exc()
        return real(email, *args, **kwargs)

    monkeypatch.setattr(sender_module, "build_mime_bytes", build)
    sender = EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"))
    with pytest.raises(exc):
        sender.send_many(messages(20))
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.counts() == {"claimed": 0, "sent": 0, "failed": 20}  # nothing had been handed over
    monkeypatch.setattr(sender_module, "build_mime_bytes", real)
    assert [r.status for r in sender.send_many(messages(20))] == ["sent"] * 20


CLAIMING_CHILD = """
    import sys, time
    from tailor.delivery.ledger import SendLedger
    SendLedger(sys.argv[1]).claim_chunk([(m.message_key, m.campaign_id, m.customer_id, m.to_email)
                                         for m in messages(2)], provider="sendgrid")
    print("CLAIMED", flush=True)
    time.sleep(120)  # as if its requests were still in flight
"""


def test_claims_of_another_live_process_count_as_in_flight_only_while_young(tmp_path):
    from datetime import datetime, timedelta, timezone

    SendLedger(tmp_path / "ledger.sqlite")
    child = start_child(CLAIMING_CHILD, str(tmp_path / "ledger.sqlite"))
    try:
        assert child.stdout.readline().strip() == "CLAIMED"
        ledger = SendLedger(tmp_path / "ledger.sqlite")
        assert ledger.unresolved_claims() == []  # in flight in the other process right now
        later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(minutes=16)
        assert len(ledger.unresolved_claims(now=later)) == 2  # too old to be in flight (or a reused pid): reported
        assert ledger.abandoned_claims("sendgrid", now=later) == []  # but never resolved automatically
    finally:
        child.kill()
        child.communicate(timeout=30)
    assert len(ledger.unresolved_claims()) == 2 and len(ledger.abandoned_claims("sendgrid")) == 2  # gone
