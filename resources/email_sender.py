"""EmailSender: the only place Tailor actually sends email (side effects live here).

Two providers, chosen by configuration:

- ``sendgrid`` when ``sendgrid_api_key`` is set: the official ``sendgrid`` client posts the payload of
  :func:`tailor.messages.build_sendgrid_payload` to ``<host>/v3/mail/send``;
- ``outbox`` otherwise: ``<outbox_dir>/<campaign_id>/<message_key>.eml`` (the MIME message, opens in any mail
  client) and ``<message_key>.sendgrid.json`` (the exact SendGrid request body) are written atomically.

Every send goes through the :class:`tailor.send_ledger.SendLedger` (claim before send => at most once).
:meth:`EmailSender.send_many` works in chunks: one ledger transaction claims the chunk, the claimed messages
are handed to the provider by up to ``max_concurrent_sends`` threads, and one transaction records the results.
Errors returned in :class:`SendResult` never contain the API key or a raw email address.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import urllib.error
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import python_http_client.exceptions as http_errors
import sendgrid
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from tailor.delivery import SendResult
from tailor.masking import mask_emails_in_text
from tailor.messages import (
    OutgoingEmail,
    build_mime_bytes,
    build_sendgrid_payload,
    message_id_for,
    mime_closing_delimiter,
    sendgrid_request_body,
)
from tailor.send_ledger import CLAIMED, FAILED, SENT, LedgerEntry, SendLedger

__all__ = ["EmailSender", "SendResult", "SENDGRID_DEFAULT_HOST", "DEFAULT_CHUNK_SIZE"]

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"
DEFAULT_CHUNK_SIZE = 200  # messages per claim transaction / results transaction
_MAX_ERROR_CHARS = 500
_IN_FLIGHT = ("not sent: message_key is claimed by an in-flight or unresolved earlier attempt "
              "(see SendLedger.stale_claims; resolve with mark_sent / mark_failed)")


class _NotSent(Exception):
    """The provider definitely did not accept the message; safe to retry later."""


class _Uncertain(Exception):
    """The request may have reached the provider; must not be retried automatically."""


@dataclass(frozen=True)
class _Outcome:
    """What the provider step did with one claimed message."""

    kind: str  # "sent" | "in_outbox" (found complete in the outbox) | "not_sent" | "uncertain"
    provider_message_id: str | None = None
    error: str | None = None


class _ClientPerThread:
    """One ``SendGridAPIClient`` per worker thread, reused for all of that thread's requests.

    Not shared between threads: ``python_http_client.Client`` hands one mutable ``request_headers`` dict to
    every derived client (``client.mail.send``) and mutates it per request (``setdefault("Content-Type")``,
    ``request_headers=`` updates) while ``urllib.request.Request`` iterates it, so it is not thread-safe.
    """

    def __init__(self, api_key: str | None, host: str) -> None:
        self.api_key, self.host = api_key, host
        self._local = threading.local()

    def get(self) -> sendgrid.SendGridAPIClient:
        client = getattr(self._local, "client", None)
        if client is None:
            try:
                client = sendgrid.SendGridAPIClient(api_key=self.api_key, host=self.host)
            except Exception as exc:
                raise _NotSent(f"SendGrid client setup failed: {type(exc).__name__}") from None
            self._local.client = client
        return client


class EmailSender(ConfigurableResource):
    """Sends :class:`OutgoingEmail` messages idempotently by ``message_key``: ``send`` for one,
    ``send_many`` for a batch (chunked ledger transactions, ``max_concurrent_sends`` provider calls at once)."""

    outbox_dir: str = Field(default="data/outbox", description="Outbox folder (TAILOR_OUTBOX_DIR).")
    ledger_path: str = Field(default="data/send_ledger.sqlite",
                             description="sqlite send ledger (TAILOR_SEND_LEDGER_PATH).")
    sendgrid_api_key: str | None = Field(default=None,
                                         description="SendGrid API key (SENDGRID_API_KEY); unset = outbox.")
    sendgrid_api_host: str | None = Field(default=None,
                                          description="SendGrid API base URL (SENDGRID_API_HOST).")
    from_email: str = Field(default="hello@tailor.example", description="Sender address (TAILOR_FROM_EMAIL).")
    from_name: str = Field(default="Tailor Shop", description="Sender name (TAILOR_FROM_NAME).")
    request_timeout_seconds: float = Field(default=30.0, description="HTTP timeout for SendGrid calls.")
    max_concurrent_sends: int = Field(
        default=8, description="Messages handed to the provider at the same time (threads; >= 1).")

    _ledger: SendLedger | None = PrivateAttr(default=None)

    # -- configuration --------------------------------------------------------------------------------

    @property
    def provider(self) -> str:
        return "sendgrid" if self._api_key else "outbox"

    @property
    def _api_key(self) -> str | None:
        key = (self.sendgrid_api_key or "").strip()
        return key or None

    @property
    def api_host(self) -> str:
        return ((self.sendgrid_api_host or "").strip() or SENDGRID_DEFAULT_HOST).rstrip("/")

    @property
    def ledger(self) -> SendLedger:
        if self._ledger is None or str(self._ledger.path) != str(Path(self.ledger_path)):
            self._ledger = SendLedger(self.ledger_path)
        return self._ledger

    # -- sending --------------------------------------------------------------------------------------

    def send(self, email: OutgoingEmail) -> SendResult:
        """Send one message (claim, hand over, record). Same protocol as :meth:`send_many`."""
        return self.send_many([email])[0]

    def send_many(self, emails: Iterable[OutgoingEmail], chunk_size: int = DEFAULT_CHUNK_SIZE) -> list[SendResult]:
        """Send many messages; one :class:`SendResult` per input, in input order.

        Per chunk of ``chunk_size``: keys the ledger already has as ``sent`` / ``claimed`` are answered
        without building anything; the rest are validated (bad input -> ``failed``, nothing claimed), claimed
        in ONE ledger transaction, built and handed to the provider by up to ``max_concurrent_sends`` threads,
        and their outcomes recorded in ONE transaction. A crash inside a chunk leaves that chunk's claimed
        keys ``claimed`` (never re-sent automatically; see ``SendLedger.stale_claims``).
        """
        emails = list(emails)
        if chunk_size < 1:
            raise ValueError(f"send_many(): chunk_size must be >= 1, got {chunk_size}")
        workers = int(self.max_concurrent_sends)
        if workers < 1:
            raise ValueError(f"EmailSender.max_concurrent_sends must be >= 1, got {workers}")
        clients = _ClientPerThread(self._api_key, self.api_host) if self.provider == "sendgrid" else None
        results: list[SendResult] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-send") as pool:
            for start in range(0, len(emails), chunk_size):
                results.extend(self._send_chunk(emails[start:start + chunk_size], pool, clients))
        return results

    def _send_chunk(self, emails: Sequence[OutgoingEmail], pool: ThreadPoolExecutor,
                    clients: _ClientPerThread | None) -> list[SendResult]:
        provider = self.provider
        ledger = self.ledger
        results: list[SendResult | None] = [None] * len(emails)

        # 1. Keys the ledger has already decided (sent, or claimed elsewhere) are answered without building.
        #    This read is only a shortcut: the claim below is what decides.
        known = ledger.get_many(e.message_key for e in emails)
        candidates: list[tuple[int, OutgoingEmail]] = []
        for i, email in enumerate(emails):
            entry = known.get(email.message_key)
            if entry is not None and entry.status in (SENT, CLAIMED):
                results[i] = self._refused(entry, provider)
                continue
            # 2. Reject bad input BEFORE claiming: nothing is reserved or sent yet.
            try:
                email.validate()
            except Exception as exc:
                results[i] = SendResult("failed", provider, None, self._safe_error(f"invalid message: {exc}"))
            else:
                candidates.append((i, email))

        # 3. Claim the whole chunk in one transaction (at most once). A refused key is already sent, claimed
        #    elsewhere, or a repeat of a key claimed earlier in this chunk.
        claimed = ledger.claim_many(
            (e.message_key, e.campaign_id, e.customer_id) for _, e in candidates
        ) if candidates else set()
        to_send: list[tuple[int, OutgoingEmail]] = []
        refused: list[int] = []
        for i, email in candidates:
            if email.message_key in claimed:
                claimed.discard(email.message_key)  # a repeated key is sent by its first row only
                to_send.append((i, email))
            else:
                refused.append(i)

        # 4. Build each message and hand it to a worker thread (provider I/O runs concurrently).
        # 5. Record all outcomes in one transaction. Outcomes already known when an interrupt arrives
        #    (KeyboardInterrupt, Dagster run termination) are still recorded; the rest stay claimed.
        outcomes: dict[int, _Outcome] = {}
        try:
            self._transmit(to_send, outcomes, pool, clients, provider)
        except BaseException:
            with contextlib.suppress(Exception):
                self._record(ledger, to_send, outcomes, provider)
            raise
        record_error = None
        try:
            self._record(ledger, to_send, outcomes, provider)
        except Exception as exc:
            record_error = self._safe_error(f"the ledger could not record the outcome: {type(exc).__name__}: {exc}")
        for i, _ in to_send:
            results[i] = self._result(outcomes[i], provider, record_error)

        if refused:
            entries = ledger.get_many(emails[i].message_key for i in refused)
            for i in refused:
                results[i] = self._refused(entries.get(emails[i].message_key), provider)
        return results  # type: ignore[return-value]  # every slot is filled above

    def _transmit(self, to_send: list[tuple[int, OutgoingEmail]], outcomes: dict[int, _Outcome],
                  pool: ThreadPoolExecutor, clients: _ClientPerThread | None, provider: str) -> None:
        """Fill ``outcomes`` for every claimed message.

        This thread first builds the chunk's messages (CPU: MIME, JSON); then the workers do the I/O (file
        writes + fsync, or the HTTP calls) while this thread only waits. Building while the workers run was
        measured slower: a CPU-busy thread makes every worker wait for the GIL after each system call.
        """
        jobs: list[tuple[int, OutgoingEmail, tuple[dict, bytes, bytes]]] = []
        for i, email in to_send:
            try:
                jobs.append((i, email, self._build(email, provider)))
            except Exception as exc:  # after the claim, but nothing has left: definitely not sent
                outcomes[i] = _Outcome("not_sent", error=f"invalid message: {type(exc).__name__}: {exc}")
        present: dict[Path, set[str] | OSError] = {}
        if provider == "outbox":  # one mkdir + listdir per folder, not a stat per message
            for folder in {self.outbox_paths(email)[0].parent for _, email, _ in jobs}:
                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    present[folder] = set(os.listdir(folder))
                except OSError as exc:
                    present[folder] = exc
        futures: dict[Future, int] = {}
        try:
            for i, email, built in jobs:
                args = (email, built, provider, clients, present)
                if len(jobs) == 1:  # a single message: no thread hand-off
                    outcomes[i] = self._transmit_one_safely(*args)
                else:
                    futures[pool.submit(self._transmit_one_safely, *args)] = i
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        except BaseException:
            for future in futures:
                future.cancel()  # not started: stays claimed-but-unsent, held for review
            for future, i in futures.items():  # started: wait, so its outcome can be recorded
                if future.cancelled():
                    continue
                try:
                    error = future.exception()  # waits; returns (does not raise) what the worker raised
                except Exception:
                    continue
                if error is None:
                    outcomes[i] = future.result()
            raise

    @staticmethod
    def _build(email: OutgoingEmail, provider: str) -> tuple[dict, bytes, bytes]:
        """(SendGrid payload, outbox .sendgrid.json bytes, outbox .eml bytes); the bytes only for the outbox."""
        payload = build_sendgrid_payload(email, validate=False)  # validated before the claim
        if provider != "outbox":
            return payload, b"", b""
        return payload, sendgrid_request_body(payload), build_mime_bytes(email, validate=False)

    def _transmit_one_safely(self, email: OutgoingEmail, built: tuple[dict, bytes, bytes], provider: str,
                             clients: _ClientPerThread | None, present: dict[Path, set[str] | OSError]) -> _Outcome:
        payload, json_bytes, mime_bytes = built
        try:
            if provider == "outbox":
                return self._to_outbox(email, json_bytes, mime_bytes, present)
            return _Outcome("sent", self._post_sendgrid(payload, clients))
        except _NotSent as exc:
            return _Outcome("not_sent", error=str(exc))
        except _Uncertain as exc:
            return _Outcome("uncertain", error=str(exc))
        except Exception as exc:  # unknown failure after the claim: it may have gone out, so hold it
            return _Outcome("uncertain", error=f"unexpected error: {type(exc).__name__}: {exc}")

    def _record(self, ledger: SendLedger, to_send: list[tuple[int, OutgoingEmail]],
                outcomes: dict[int, _Outcome], provider: str) -> None:
        if provider == "outbox":
            # Each file was fsynced before its rename; the directory entries (the renames) become durable with
            # one fsync per folder per chunk, before the ledger says "sent".
            written = [(i, e) for i, e in to_send if i in outcomes and outcomes[i].kind == "sent"]
            folders = {self.outbox_paths(e)[0].parent for _, e in written}
            if folders:  # the campaign folders, and the outbox root / its parent (mkdir may have created them)
                folders |= {Path(self.outbox_dir), Path(self.outbox_dir).absolute().parent}
            try:
                for folder in sorted(folders):
                    _fsync_dir(folder)
            except OSError as exc:
                error = f"outbox written, but the folder could not be synced: {type(exc).__name__}: {exc.strerror}"
                for i, _ in written:
                    outcomes[i] = _Outcome("uncertain", error=error)
        sent, failed, uncertain = [], [], []
        for i, email in to_send:
            outcome, key = outcomes.get(i), email.message_key
            if outcome is None:
                continue  # interrupted before it finished: stays claimed
            if outcome.kind in ("sent", "in_outbox"):
                sent.append((key, provider, outcome.provider_message_id))
            elif outcome.kind == "not_sent":
                failed.append((key, self._safe_error(outcome.error or ""), provider))
            else:
                uncertain.append((key, self._uncertain_error(outcome.error), provider))
        if sent or failed or uncertain:
            ledger.record_outcomes(sent=sent, failed=failed, uncertain=uncertain)

    def _result(self, outcome: _Outcome, provider: str, record_error: str | None) -> SendResult:
        if outcome.kind == "in_outbox":
            return SendResult("skipped_already_sent", provider, outcome.provider_message_id, record_error)
        if outcome.kind == "sent":
            # If only the ledger write failed, the row stays 'claimed' (never re-sent) and we still say sent.
            error = f"sent, but {record_error}" if record_error else None
            return SendResult("sent", provider, outcome.provider_message_id, error)
        error = self._safe_error(outcome.error or "") if outcome.kind == "not_sent" else \
            self._uncertain_error(outcome.error)
        if record_error:
            error = self._safe_error(f"{error}; {record_error} (left claimed for manual review)")
        return SendResult("failed", provider, None, error)

    def _uncertain_error(self, error: str | None) -> str:
        return self._safe_error(f"outcome unknown, left claimed for manual review (not retried): {error}")

    @staticmethod
    def _refused(entry: LedgerEntry | None, provider: str) -> SendResult:
        """Result for a key this run did not (or could not) claim."""
        if entry is not None and entry.status == SENT:
            return SendResult("skipped_already_sent", entry.provider or provider, entry.provider_message_id)
        if entry is not None and entry.status == FAILED:  # an earlier row with the same key failed just now
            return SendResult("failed", provider, None,
                              "not sent: an attempt with the same message_key failed earlier in this run")
        return SendResult("failed", provider, None, _IN_FLIGHT)

    # -- outbox ---------------------------------------------------------------------------------------

    def outbox_paths(self, email: OutgoingEmail) -> tuple[Path, Path]:
        """(<outbox_dir>/<campaign>/<key>.eml, <outbox_dir>/<campaign>/<key>.sendgrid.json)."""
        folder = Path(self.outbox_dir) / _safe_path_part(email.campaign_id)
        return folder / f"{email.message_key}.eml", folder / f"{email.message_key}.sendgrid.json"

    def _to_outbox(self, email: OutgoingEmail, json_bytes: bytes, mime_bytes: bytes,
                   present: dict[Path, set[str] | OSError] | None = None) -> _Outcome:
        """Write the two files. ``present``: folder -> names listed before the chunk (or the error of
        creating / listing it); without it, the folder is created and checked here."""
        eml_path, json_path = self.outbox_paths(email)
        message_id = message_id_for(email).strip("<>")
        listing = (present or {}).get(eml_path.parent)
        if listing is None or (isinstance(listing, set) and eml_path.name in listing):
            if _outbox_complete(eml_path, email.message_key):
                # The ledger lost track of it (e.g. the sqlite file was deleted), but the outbox has it already.
                return _Outcome("in_outbox", message_id)
        try:
            if isinstance(listing, OSError):
                raise listing
            if listing is None:
                eml_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(json_path, json_bytes)
            _atomic_write(eml_path, mime_bytes)  # last: a complete .eml means "in the outbox"
        except OSError as exc:
            with contextlib.suppress(OSError):
                json_path.unlink(missing_ok=True)
            raise _NotSent(f"outbox write failed: {type(exc).__name__}: {exc.strerror or exc}") from None
        return _Outcome("sent", message_id)

    # -- SendGrid -------------------------------------------------------------------------------------

    def _post_sendgrid(self, payload: dict, clients: _ClientPerThread | None = None) -> str | None:
        client = (clients or _ClientPerThread(self._api_key, self.api_host)).get()
        try:
            response = client.client.mail.send.post(request_body=payload, timeout=self.request_timeout_seconds)
        except http_errors.HTTPError as exc:
            # SendGrid answered with an error status: the message was not accepted.
            raise _NotSent(_describe_http_error(exc)) from None
        except urllib.error.URLError as exc:
            # urllib raises URLError only while connecting / writing the request (DNS, refused, connect
            # timeout, reset mid-body): the request never arrived complete, so it was not accepted.
            reason = exc.reason
            raise _NotSent(f"SendGrid unreachable: {type(reason).__name__}: {reason}") from None
        except Exception as exc:  # read timeout / reset while awaiting the answer: it may have been accepted
            raise _Uncertain(f"SendGrid request error: {type(exc).__name__}: {exc}") from None
        status = int(response.status_code)
        if not 200 <= status < 300:
            raise _Uncertain(f"SendGrid answered unexpected HTTP {status}")
        message_id = response.headers.get("X-Message-Id") if response.headers is not None else None
        return message_id or None

    # -- helpers --------------------------------------------------------------------------------------

    def _safe_error(self, text: str) -> str:
        """Readable one-line error without the API key or raw email addresses."""
        key = self._api_key
        if key:
            text = text.replace(key, "***")
        text = re.sub(r"Bearer\s+\S+", "Bearer ***", text)
        text = mask_emails_in_text(" ".join(text.split()))
        return text[:_MAX_ERROR_CHARS]


def _describe_http_error(exc: http_errors.HTTPError) -> str:
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    detail = body
    try:
        errors = json.loads(body).get("errors") or []
        parts = [": ".join(str(x) for x in (e.get("field"), e.get("message")) if x) for e in errors]
        if any(parts):
            detail = "; ".join(p for p in parts if p)
    except (ValueError, AttributeError):
        pass
    return f"SendGrid HTTP {exc.status_code} {exc.reason}: {detail}".strip().rstrip(":")


def _safe_path_part(value: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value).lstrip(".")
    return cleaned or "_"


def _outbox_complete(eml_path: Path, message_key: str) -> bool:
    """True when ``eml_path`` exists and ends with the message's closing MIME delimiter (a whole message)."""
    tail = mime_closing_delimiter(message_key)
    try:
        with open(eml_path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < len(tail):
                return False
            fh.seek(size - len(tail))
            return fh.read() == tail
    except OSError:
        return False


def _fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (created / renamed files) durable. No-op where directories cannot be
    opened (Windows)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path`` (atomic on POSIX).

    The file's data is fsynced before the rename; the rename itself is made durable by one ``_fsync_dir``
    per folder per chunk (``EmailSender._record``), before the ledger records the send."""
    # Unique per process and thread; a message_key is written by one thread of one process at a time (it
    # holds the claim). Owner-only permissions, as tempfile.mkstemp gave: an .eml carries personal data.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
