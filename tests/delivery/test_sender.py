"""Tests for tailor.delivery.sender (and the EmailSenderResource that builds it): outbox files, the real
SendGrid client against a local HTTP server, concurrent batches, and at-most-once sending across processes."""

import email
import email.policy
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import pytest

from resources.email_sender import EmailSenderResource
from tailor.delivery.ledger import SendLedger
from tailor.delivery.messages import OutgoingEmail, build_sendgrid_payload
from tailor.delivery.sender import EmailSender
from tests.delivery.test_ledger import run_in_processes

API_KEY = "SG.test_key_ABC123.secretpart_XYZ789"
KEY = "0123456789abcdef0123456789abcdef"


def make_email(message_key: str = KEY, **overrides) -> OutgoingEmail:
    base = dict(
        message_key=message_key,
        campaign_id="spring_sale",
        customer_id="cus_000042",
        to_email="anna.k@example.com",
        to_name="Anna",
        from_email="hello@tailor.example",
        from_name="Tailor Shop",
        subject="Anna, your picks are back in stock",
        html="<p>Hi Anna, the <b>Rain Jacket</b> is back.</p>",
        text="Hi Anna, the Rain Jacket is back.\n",
        unsubscribe_url=f"https://shop.example/unsubscribe?message_key={message_key}",
        categories=("spring_sale",),
    )
    base.update(overrides)
    return OutgoingEmail(**base)


def outbox_sender(tmp_path, **kw) -> EmailSender:
    return EmailSender(outbox_dir=str(tmp_path / "outbox"), ledger_path=str(tmp_path / "ledger.sqlite"), **kw)


def test_outbox_writes_eml_and_exact_payload(tmp_path):
    sender = outbox_sender(tmp_path)
    assert sender.provider == "outbox"
    msg_in = make_email()
    result = sender.send_many([msg_in])[0]
    assert (result.status, result.provider, result.provider_message_id, result.error) == (
        "sent", "outbox", f"{KEY}@tailor.example", None)

    folder = tmp_path / "outbox" / "spring_sale"
    assert sorted(p.name for p in folder.iterdir()) == [f"{KEY}.eml", f"{KEY}.sendgrid.json"]
    msg = email.message_from_bytes((folder / f"{KEY}.eml").read_bytes(), policy=email.policy.default)
    assert msg["To"] == "Anna <anna.k@example.com>"
    assert msg["X-Tailor-Message-Key"] == KEY
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Rain Jacket" in msg.get_body(("html",)).get_content()
    assert json.loads((folder / f"{KEY}.sendgrid.json").read_text("utf-8")) == build_sendgrid_payload(msg_in)
    assert SendLedger(tmp_path / "ledger.sqlite").status(KEY) == "sent"


def test_outbox_second_send_of_same_key_writes_nothing_and_skips(tmp_path):
    sender = outbox_sender(tmp_path)
    assert sender.send_many([make_email()])[0].status == "sent"
    folder = tmp_path / "outbox" / "spring_sale"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}

    # even with different content, the same message_key is never sent again
    again = sender.send_many([make_email(subject="A different subject")])[0]
    assert (again.status, again.provider, again.provider_message_id) == (
        "skipped_already_sent", "outbox", f"{KEY}@tailor.example")
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.iterdir()}
    assert after == before  # no new file, no temp file left behind, nothing rewritten


def test_invalid_email_fails_without_claiming(tmp_path):
    sender = outbox_sender(tmp_path)
    result = sender.send_many([make_email(unsubscribe_url="")])[0]
    assert result.status == "failed" and "unsubscribe_url" in result.error
    assert SendLedger(tmp_path / "ledger.sqlite").status(KEY) is None
    assert not (tmp_path / "outbox" / "spring_sale").exists()


def test_in_flight_claim_blocks_send(tmp_path):
    sender = outbox_sender(tmp_path)
    SendLedger(tmp_path / "ledger.sqlite").claim_many([(KEY, "spring_sale", "cus_000042")])  # e.g. a crashed run
    result = sender.send_many([make_email()])[0]
    assert result.status == "failed" and "stale_claims" in result.error
    assert not (tmp_path / "outbox" / "spring_sale").exists()


def test_outbox_write_failure_marks_failed_and_retry_works(tmp_path):
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the outbox folder should be")
    sender = outbox_sender(tmp_path)
    result = sender.send_many([make_email()])[0]
    assert result.status == "failed" and "outbox write failed" in result.error
    assert SendLedger(tmp_path / "ledger.sqlite").status(KEY) == "failed"
    blocker.unlink()
    assert sender.send_many([make_email()])[0].status == "sent"


def test_campaign_folder_name_is_sanitised(tmp_path):
    sender = outbox_sender(tmp_path)
    assert sender.send_many([make_email(campaign_id="../../evil campaign")])[0].status == "sent"
    assert (tmp_path / "outbox" / "_.._evil_campaign" / f"{KEY}.eml").exists()


class _BacklogServer(ThreadingHTTPServer):
    request_queue_size = 64  # concurrent clients connect at once
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that timed out closed the connection: expected in the timeout tests


class FakeSendGrid:
    def __init__(self):
        self.requests: list[dict] = []
        self.responses: list[tuple[int, dict, bytes]] = []  # queued answers; default 202
        self.delay_seconds = 0.0
        self.status_for = None  # optional: message_key -> HTTP status (used when no answer is queued)
        self.delay_for = None  # optional: message_key -> seconds to wait before answering
        self.in_flight = 0
        self.max_in_flight = 0  # most requests being handled at the same moment
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                message = json.loads(body)
                with fake.lock:
                    fake.in_flight += 1
                    fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
                    fake.requests.append({"path": self.path, "headers": dict(self.headers), "json": message})
                    n = len(fake.requests)
                    if fake.responses:
                        status, headers, payload = fake.responses.pop(0)
                    elif fake.status_for is not None and fake.status_for(_key_of(message)) != 202:
                        status, headers, payload = fake.status_for(_key_of(message)), {}, b'{"errors": []}'
                    else:
                        status, headers, payload = 202, {"X-Message-Id": f"sgmsg-{n}"}, b""
                delay = fake.delay_seconds + (fake.delay_for(_key_of(message)) if fake.delay_for else 0.0)
                if delay:
                    time.sleep(delay)
                with fake.lock:
                    fake.in_flight -= 1
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = _BacklogServer(("127.0.0.1", 0), Handler)
        self.host = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _key_of(message: dict) -> str:
    return message["personalizations"][0]["custom_args"]["message_key"]


@pytest.fixture
def fake_sendgrid():
    with FakeSendGrid() as fake:
        yield fake


def sendgrid_sender(tmp_path, host, **kw) -> EmailSender:
    return outbox_sender(tmp_path, sendgrid_api_key=API_KEY, sendgrid_api_host=host, **kw)


def test_sendgrid_send_posts_exact_payload_with_bearer_key(tmp_path, fake_sendgrid):
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host)
    assert sender.provider == "sendgrid"
    result = sender.send_many([make_email()])[0]

    assert (result.status, result.provider, result.provider_message_id, result.error) == (
        "sent", "sendgrid", "sgmsg-1", None)
    assert len(fake_sendgrid.requests) == 1
    req = fake_sendgrid.requests[0]
    assert req["path"] == "/v3/mail/send"
    assert req["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["json"]
    assert body == build_sendgrid_payload(make_email())
    assert body["personalizations"][0]["to"] == [{"email": "anna.k@example.com", "name": "Anna"}]
    assert body["personalizations"][0]["custom_args"] == {
        "message_key": KEY, "campaign_id": "spring_sale", "customer_id": "cus_000042"}
    assert body["subject"] == "Anna, your picks are back in stock"
    assert body["content"] == [
        {"type": "text/plain", "value": "Hi Anna, the Rain Jacket is back.\n"},
        {"type": "text/html", "value": "<p>Hi Anna, the <b>Rain Jacket</b> is back.</p>"},
    ]
    entry = SendLedger(tmp_path / "ledger.sqlite").get(KEY)
    assert (entry.status, entry.provider, entry.provider_message_id) == ("sent", "sendgrid", "sgmsg-1")
    assert not (tmp_path / "outbox").exists()  # SendGrid mode writes no outbox files

    again = sender.send_many([make_email()])[0]
    assert again.status == "skipped_already_sent" and again.provider_message_id == "sgmsg-1"
    assert len(fake_sendgrid.requests) == 1


@pytest.mark.parametrize("status", [400, 500])
def test_sendgrid_error_is_failed_masked_and_retry_works(tmp_path, fake_sendgrid, status):
    error_body = json.dumps({"errors": [{
        "field": "personalizations.0.to.0.email",
        "message": f"rejected anna.k@example.com (auth was Bearer {API_KEY}, key {API_KEY})",
    }]}).encode()
    fake_sendgrid.responses.append((status, {"Content-Type": "application/json"}, error_body))
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host)

    failed = sender.send_many([make_email()])[0]
    assert failed.status == "failed" and failed.provider == "sendgrid" and failed.provider_message_id is None
    assert f"SendGrid HTTP {status}" in failed.error
    assert "personalizations.0.to.0.email" in failed.error
    assert API_KEY not in failed.error and "secretpart" not in failed.error
    assert "anna.k@example.com" not in failed.error and "a***@example.com" in failed.error
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.status(KEY) == "failed"
    assert API_KEY not in ledger.get(KEY).error

    retry = sender.send_many([make_email()])[0]
    assert (retry.status, retry.provider_message_id) == ("sent", "sgmsg-2")
    assert ledger.status(KEY) == "sent" and ledger.get(KEY).attempts == 2
    assert len(fake_sendgrid.requests) == 2


def test_sendgrid_unreachable_is_failed_and_retryable(tmp_path, fake_sendgrid):
    closed = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead_host = f"http://127.0.0.1:{closed.server_address[1]}"
    closed.server_close()  # nothing listens there now
    result = sendgrid_sender(tmp_path, dead_host).send_many([make_email()])[0]
    assert result.status == "failed" and "unreachable" in result.error and API_KEY not in result.error
    assert SendLedger(tmp_path / "ledger.sqlite").status(KEY) == "failed"
    assert sendgrid_sender(tmp_path, fake_sendgrid.host).send_many([make_email()])[0].status == "sent"


def test_sendgrid_timeout_is_left_claimed_and_never_resent(tmp_path, fake_sendgrid):
    fake_sendgrid.delay_seconds = 2.0  # SendGrid got the request but we stop waiting for the answer
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host, request_timeout_seconds=0.5)
    result = sender.send_many([make_email()])[0]
    assert result.status == "failed" and "outcome unknown" in result.error
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.status(KEY) == "claimed"
    a_second_later = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=1)
    assert [e.message_key for e in ledger.stale_claims(older_than=timedelta(0), now=a_second_later)] == [KEY]
    fake_sendgrid.delay_seconds = 0.0
    assert sender.send_many([make_email()])[0].status == "failed"  # not retried automatically
    assert len(fake_sendgrid.requests) == 1


def test_two_processes_sending_the_same_batch_send_each_message_once(tmp_path, fake_sendgrid):
    emails = [make_email(f"{i:032x}", customer_id=f"cus_{i}", to_email=f"c{i}@example.com") for i in range(40)]

    def send_all(start, queue):
        sender = sendgrid_sender(tmp_path, fake_sendgrid.host)
        start.wait()
        queue.put([sender.send_many([e])[0].status for e in emails])

    a, b = run_in_processes(send_all)
    for x, y in zip(a, b):
        # per message: exactly one process sent it; the other skipped it, or (if it came while the
        # winner was still in flight) reported failed without sending
        assert sorted([x, y]) in (["sent", "skipped_already_sent"], ["failed", "sent"])
    sent_keys = [r["json"]["personalizations"][0]["custom_args"]["message_key"] for r in fake_sendgrid.requests]
    assert sorted(sent_keys) == sorted(e.message_key for e in emails)


def test_resource_in_dagster_with_env_vars(tmp_path, fake_sendgrid, monkeypatch):
    monkeypatch.setenv("SENDGRID_API_KEY", API_KEY)
    monkeypatch.setenv("SENDGRID_API_HOST", fake_sendgrid.host)
    monkeypatch.setenv("TAILOR_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("TAILOR_SEND_LEDGER_PATH", str(tmp_path / "ledger.sqlite"))

    @dg.asset
    def one_send(email_sender: EmailSenderResource) -> dg.MaterializeResult:
        result = email_sender.build().send_many([make_email()])[0]
        return dg.MaterializeResult(metadata={"status": result.status, "provider": result.provider})

    sender = EmailSenderResource(
        outbox_dir=dg.EnvVar("TAILOR_OUTBOX_DIR"),
        ledger_path=dg.EnvVar("TAILOR_SEND_LEDGER_PATH"),
        sendgrid_api_key=dg.EnvVar("SENDGRID_API_KEY"),
        sendgrid_api_host=dg.EnvVar("SENDGRID_API_HOST"),
        from_email="hello@tailor.example", from_name="Tailor Shop", max_concurrent_sends=8,
    )
    res = dg.materialize([one_send], resources={"email_sender": sender})
    assert res.success
    meta = res.asset_materializations_for_node("one_send")[0].metadata
    assert meta["status"].value == "sent" and meta["provider"].value == "sendgrid"
    assert len(fake_sendgrid.requests) == 1
    assert fake_sendgrid.requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


def test_outbox_file_without_ledger_row_is_not_rewritten(tmp_path):
    sender = outbox_sender(tmp_path)
    assert sender.send_many([make_email()])[0].status == "sent"
    (tmp_path / "ledger.sqlite").unlink()  # the ledger is lost, the outbox is not
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"ledger.sqlite{suffix}").unlink(missing_ok=True)
    eml = tmp_path / "outbox" / "spring_sale" / f"{KEY}.eml"
    before = eml.stat().st_mtime_ns
    fresh = outbox_sender(tmp_path)
    assert fresh.send_many([make_email()])[0].status == "skipped_already_sent"
    assert eml.stat().st_mtime_ns == before
    assert SendLedger(tmp_path / "ledger.sqlite").status(KEY) == "sent"


def batch(n: int, prefix: str = "") -> list[OutgoingEmail]:
    return [make_email(f"{prefix}{i:032x}"[-32:], customer_id=f"cus_{i}", to_email=f"c{i}@example.com")
            for i in range(n)]


def test_send_many_sendgrid_concurrently_each_key_once_also_when_run_twice(tmp_path, fake_sendgrid):
    fake_sendgrid.delay_seconds = 0.05
    emails = batch(60)
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host, max_concurrent_sends=8)

    results = sender.send_many(emails, chunk_size=25)
    assert [r.status for r in results] == ["sent"] * 60
    keys = [_key_of(r["json"]) for r in fake_sendgrid.requests]
    assert len(keys) == 60 and sorted(keys) == sorted(e.message_key for e in emails)  # N requests, N keys
    assert 2 <= fake_sendgrid.max_in_flight <= 8  # concurrent, but never more than max_concurrent_sends
    assert len({r.provider_message_id for r in results}) == 60
    assert {r["headers"]["Authorization"] for r in fake_sendgrid.requests} == {f"Bearer {API_KEY}"}
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.counts() == {"claimed": 0, "sent": 60, "failed": 0}
    assert [ledger.get(e.message_key).provider_message_id for e in emails] == [r.provider_message_id for r in results]

    again = sendgrid_sender(tmp_path, fake_sendgrid.host, max_concurrent_sends=8).send_many(emails)
    assert [r.status for r in again] == ["skipped_already_sent"] * 60
    assert [r.provider_message_id for r in again] == [r.provider_message_id for r in results]
    assert len(fake_sendgrid.requests) == 60  # nothing sent twice


def test_send_many_reuses_one_client_per_worker_thread(tmp_path, fake_sendgrid, monkeypatch):
    import tailor.delivery.sendgrid_api as sendgrid_api

    made = []
    real = sendgrid_api.sendgrid.SendGridAPIClient

    def counting_client(*args, **kwargs):
        made.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(sendgrid_api.sendgrid, "SendGridAPIClient", counting_client)
    results = sendgrid_sender(tmp_path, fake_sendgrid.host, max_concurrent_sends=4).send_many(batch(40))
    assert [r.status for r in results] == ["sent"] * 40
    assert 1 <= len(made) <= 4 and len(made) == len(set(made))  # at most one client per worker thread


def test_send_many_http_500_fails_exactly_those_and_a_rerun_sends_only_them(tmp_path, fake_sendgrid):
    emails = batch(50)
    failing = {e.message_key for e in emails[3::7]}
    fake_sendgrid.status_for = lambda key: 500 if key in failing else 202
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host, max_concurrent_sends=8)

    first = sender.send_many(emails, chunk_size=20)
    assert {e.message_key for e, r in zip(emails, first) if r.status == "failed"} == failing
    assert {e.message_key for e, r in zip(emails, first) if r.status == "sent"} == {
        e.message_key for e in emails} - failing
    assert all("SendGrid HTTP 500" in r.error for r in first if r.status == "failed")
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.counts() == {"claimed": 0, "sent": 50 - len(failing), "failed": len(failing)}
    assert len(fake_sendgrid.requests) == 50

    fake_sendgrid.status_for = None  # SendGrid is healthy again
    second = sender.send_many(emails, chunk_size=20)
    retried = [_key_of(r["json"]) for r in fake_sendgrid.requests[50:]]
    assert sorted(retried) == sorted(failing)  # only the failed ones were sent again, once each
    assert {e.message_key: r.status for e, r in zip(emails, second)} == {
        e.message_key: ("sent" if e.message_key in failing else "skipped_already_sent") for e in emails}
    assert ledger.counts() == {"claimed": 0, "sent": 50, "failed": 0}
    assert all(ledger.get(k).attempts == 2 for k in failing)


def test_send_many_timeouts_stay_claimed_others_sent(tmp_path, fake_sendgrid):
    emails = batch(12)
    slow = {emails[2].message_key, emails[9].message_key}
    fake_sendgrid.delay_for = lambda key: 1.5 if key in slow else 0.0  # answered after the client gave up
    sender = sendgrid_sender(tmp_path, fake_sendgrid.host, max_concurrent_sends=4, request_timeout_seconds=0.5)
    results = sender.send_many(emails)
    by_key = {e.message_key: r for e, r in zip(emails, results)}
    assert {k for k, r in by_key.items() if r.status == "failed"} == slow
    assert all("outcome unknown" in by_key[k].error for k in slow)
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert {k for k in by_key if ledger.status(k) == "claimed"} == slow
    assert ledger.counts()["sent"] == 10
    fake_sendgrid.delay_for = None
    again = sender.send_many(emails)  # uncertain ones are held, never re-sent automatically
    assert len(fake_sendgrid.requests) == 12
    assert {e.message_key for e, r in zip(emails, again) if r.status == "failed"} == slow


def test_send_many_outbox_keeps_order_and_rejects_bad_input_without_claiming(tmp_path):
    emails = batch(30)
    emails[7] = make_email(emails[7].message_key, unsubscribe_url="", customer_id="cus_7")
    sender = outbox_sender(tmp_path, max_concurrent_sends=8)
    results = sender.send_many(emails, chunk_size=10)
    assert [r.status for r in results] == ["failed" if i == 7 else "sent" for i in range(30)]
    assert [r.provider_message_id for r in results] == [
        None if i == 7 else f"{e.message_key}@tailor.example" for i, e in enumerate(emails)]
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert ledger.status(emails[7].message_key) is None
    folder = tmp_path / "outbox" / "spring_sale"
    assert len(list(folder.glob("*.eml"))) == 29 and not list(folder.glob(".*.tmp"))
    for e in emails[:3]:
        assert json.loads((folder / f"{e.message_key}.sendgrid.json").read_bytes()) == build_sendgrid_payload(e)


def test_truncated_outbox_file_without_ledger_row_is_rewritten(tmp_path):
    sender = outbox_sender(tmp_path)
    eml = tmp_path / "outbox" / "spring_sale" / f"{KEY}.eml"
    eml.parent.mkdir(parents=True)
    eml.write_bytes(b"From: x\r\n")  # e.g. a power cut after the rename, before the data reached the disk
    assert sender.send_many([make_email()])[0].status == "sent"
    msg = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert msg["X-Tailor-Message-Key"] == KEY and msg.get_content_type() == "multipart/alternative"


def test_interrupt_mid_chunk_records_finished_sends_releases_unstarted_and_holds_the_rest(tmp_path, monkeypatch):
    import tailor.delivery.outbox as outbox
    from tailor.delivery.sender import INTERRUPTED

    emails = batch(40)
    culprit = emails[5].message_key
    real_write = outbox.atomic_write

    def write(path, data):
        if path.name == f"{culprit}.eml":
            raise KeyboardInterrupt  # e.g. Ctrl-C / run termination while this message is being written
        real_write(path, data)

    monkeypatch.setattr(outbox, "atomic_write", write)
    sender = outbox_sender(tmp_path, max_concurrent_sends=4)
    with pytest.raises(KeyboardInterrupt):
        sender.send_many(emails, chunk_size=40)
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    entries = {e.message_key: ledger.get(e.message_key) for e in emails}
    statuses = {k: e.status for k, e in entries.items()}
    assert statuses[culprit] == "claimed"  # its worker had started: held for review
    assert set(statuses.values()) == {"sent", "claimed", "failed"}  # every row claimed before the interrupt
    assert all(e.error == INTERRUPTED for e in entries.values() if e.status == "failed")  # never started
    folder = tmp_path / "outbox" / "spring_sale"
    assert {p.stem for p in folder.glob("*.eml")} == {k for k, s in statuses.items() if s == "sent"}

    monkeypatch.setattr(outbox, "atomic_write", real_write)
    again = outbox_sender(tmp_path).send_many(emails)  # released rows are sent; claimed ones are held
    assert {e.message_key: r.status for e, r in zip(emails, again)} == {
        k: {"sent": "skipped_already_sent", "failed": "sent", "claimed": "failed"}[s] for k, s in statuses.items()}
    assert all("stale_claims" in r.error for r in again if r.status == "failed")
