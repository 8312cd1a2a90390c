"""The at-most-once send protocol: every message is claimed in the send ledger before it leaves.

:class:`EmailSender` hands :class:`OutgoingEmail` messages to one of two providers:

- ``sendgrid`` when an API key is configured: the official client posts the payload of
  :func:`tailor.delivery.messages.build_sendgrid_payload` (:mod:`tailor.delivery.sendgrid_api`);
- ``outbox`` otherwise: the ``.eml`` and the exact SendGrid request body as files (:mod:`tailor.delivery.outbox`).

:meth:`EmailSender.send_many` works in chunks: one ledger transaction claims the chunk
(:class:`tailor.delivery.ledger.SendLedger`: claim before send => at most once), the claimed messages are
handed to the provider by up to ``max_concurrent_sends`` threads, and one transaction records the results.
Errors returned in :class:`SendResult` never contain the API key or a raw email address. Plain Python: the
Dagster resource (resources/email_sender.py) only configures and builds it.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from tailor.config import DEFAULTS
from tailor.delivery.ledger import CLAIMED, FAILED, SENT, Claims, LedgerEntry, SendLedger
from tailor.delivery.messages import (
    OutgoingEmail,
    build_mime_bytes,
    build_sendgrid_payload,
    message_id_for,
    sendgrid_request_body,
)
from tailor.delivery.outbox import fsync_dir, outbox_paths, resolve_abandoned_claims, write_to_outbox
from tailor.delivery.protocol import MAX_ERROR_CHARS, SEND_CHUNK_SIZE, NotSent, SendResult, Uncertain
from tailor.delivery.sendgrid_api import SENDGRID_DEFAULT_HOST, ClientPerThread, post_mail
from tailor.governance.masking import mask_emails_in_text

_IN_FLIGHT = ("not sent: message_key is claimed by an in-flight or unresolved earlier attempt "
              "(see SendLedger.stale_claims; resolve with mark_sent / mark_failed)")
#: The error of a claimed message that an interrupt stopped before any worker started on it (retried next run).
INTERRUPTED = "not sent: interrupted before it was handed to the provider; the next run sends it"


@dataclass(frozen=True)
class _Outcome:
    """What the provider step did with one claimed message."""

    kind: str  # "sent" | "in_outbox" (found complete in the outbox) | "not_sent" | "uncertain"
    provider_message_id: str | None = None
    error: str | None = None


@dataclass
class EmailSender:
    """Sends :class:`OutgoingEmail` messages idempotently by ``message_key`` (chunked ledger transactions,
    ``max_concurrent_sends`` provider calls at once)."""

    outbox_dir: str = DEFAULTS["TAILOR_OUTBOX_DIR"]
    ledger_path: str = DEFAULTS["TAILOR_SEND_LEDGER_PATH"]
    sendgrid_api_key: str | None = None       # unset: the outbox
    sendgrid_api_host: str | None = None      # another API host (tests point it at a local server)
    request_timeout_seconds: float = 30.0
    max_concurrent_sends: int = int(DEFAULTS["TAILOR_MAX_CONCURRENT_SENDS"])
    #: An outbox claim nobody works on is resolved from the outbox at once when its process is gone (this host),
    #: else after this long (a claim of this process or of another host); see outbox.resolve_abandoned_claims.
    abandoned_claim_minutes: float = 15.0
    _ledger: SendLedger | None = field(default=None, init=False, repr=False)

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

    def outbox_paths(self, email: OutgoingEmail) -> tuple[Path, Path]:
        """Where the outbox keeps ``email``: (.eml, .sendgrid.json)."""
        return outbox_paths(self.outbox_dir, email)

    def send_many(self, emails: Iterable[OutgoingEmail], chunk_size: int = SEND_CHUNK_SIZE) -> list[SendResult]:
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
        clients = ClientPerThread(self._api_key, self.api_host) if self.provider == "sendgrid" else None
        if self.provider == "outbox":  # a crashed run's claims: complete .eml -> sent, anything else -> failed
            self.resolve_abandoned_outbox_claims()
        results: list[SendResult] = []
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-send") as pool:
            for start in range(0, len(emails), chunk_size):
                results.extend(self._send_chunk(emails[start:start + chunk_size], pool, clients))
        return results

    def resolve_abandoned_outbox_claims(self) -> int:
        """Record the outbox claims of crashed or killed runs from what the outbox holds; how many."""
        return resolve_abandoned_claims(self.ledger, self.outbox_dir,
                                        older_than=timedelta(minutes=float(self.abandoned_claim_minutes)))

    def unresolved_claims(self) -> list[LedgerEntry]:
        """The ledger rows still ``claimed`` that no live process is working on (outbox claims of crashed runs
        are resolved first): sends whose outcome a human must decide (docs/delivery.md)."""
        if self.provider == "outbox":
            self.resolve_abandoned_outbox_claims()
        return self.ledger.unresolved_claims()

    def _send_chunk(self, emails: Sequence[OutgoingEmail], pool: ThreadPoolExecutor,
                    clients: ClientPerThread | None) -> list[SendResult]:
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

        # 3. Claim the whole chunk in one transaction (at most once, per key and per campaign + address). A
        #    refused key is already sent, claimed elsewhere, a repeat of a key claimed earlier in this chunk, or
        #    its campaign is claimed / sent to the same address under another key.
        claims = ledger.claim_chunk(
            ((e.message_key, e.campaign_id, e.customer_id, e.to_email) for _, e in candidates), provider=provider,
        ) if candidates else Claims()
        claimed = set(claims.claimed)
        to_send: list[tuple[int, OutgoingEmail]] = []
        refused: list[int] = []
        for i, email in candidates:
            if email.message_key in claimed:
                claimed.discard(email.message_key)  # a repeated key is sent by its first row only
                to_send.append((i, email))
            else:
                refused.append(i)

        # 4. Build each message and hand it to a worker thread (provider I/O runs concurrently).
        # 5. Record all outcomes in one transaction. On an interrupt (KeyboardInterrupt, SystemExit, Dagster run
        #    termination) the finished sends are recorded, the claims no worker had started are released as
        #    failed (known unsent: retried next run), and only those in flight stay claimed; then it re-raises.
        outcomes: dict[int, _Outcome] = {}
        handed: set[int] = set()
        try:
            self._transmit(to_send, outcomes, handed, pool, clients, provider)
        except BaseException:
            for i, _ in to_send:
                if i not in outcomes and i not in handed:
                    outcomes[i] = _Outcome("not_sent", error=INTERRUPTED)
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
            self._answer_refused(emails, refused, claims, results, provider)
        return results  # type: ignore[return-value]  # every slot is filled above

    def _answer_refused(self, emails: Sequence[OutgoingEmail], refused: list[int], claims: Claims,
                        results: list[SendResult | None], provider: str) -> None:
        """Results for the keys the claim refused, read after this chunk's outcomes are recorded (an earlier row
        of the same chunk may have just been sent or failed)."""
        earlier = claims.same_recipient
        entries = self.ledger.get_many([emails[i].message_key for i in refused] + list(earlier.values()))
        for i in refused:
            key = emails[i].message_key
            if key in earlier:
                results[i] = self._same_recipient(earlier[key], entries.get(earlier[key]), provider)
            else:
                results[i] = self._refused(entries.get(key), provider)

    def _transmit(self, to_send: list[tuple[int, OutgoingEmail]], outcomes: dict[int, _Outcome], handed: set[int],
                  pool: ThreadPoolExecutor, clients: ClientPerThread | None, provider: str) -> None:
        """Fill ``outcomes`` for every claimed message; ``handed`` collects those given to a worker (or started
        in this thread). On an interrupt, a handed message whose worker never started it is ``not_sent``.

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
                handed.add(i)
                if len(jobs) == 1:  # a single message: no thread hand-off
                    outcomes[i] = self._transmit_one_safely(*args)
                else:
                    futures[pool.submit(self._transmit_one_safely, *args)] = i
            for future in as_completed(futures):
                outcomes[futures[future]] = future.result()
        except BaseException:
            for future, i in futures.items():
                if future.cancel():  # no worker ever started it: known unsent
                    outcomes[i] = _Outcome("not_sent", error=INTERRUPTED)
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
                             clients: ClientPerThread | None, present: dict[Path, set[str] | OSError]) -> _Outcome:
        payload, json_bytes, mime_bytes = built
        try:
            if provider == "outbox":
                listing = (present or {}).get(self.outbox_paths(email)[0].parent)
                found = write_to_outbox(self.outbox_dir, email, json_bytes, mime_bytes, listing)
                return _Outcome("in_outbox" if found else "sent", message_id_for(email).strip("<>"))
            client = (clients or ClientPerThread(self._api_key, self.api_host)).get()
            return _Outcome("sent", post_mail(client, payload, self.request_timeout_seconds))
        except NotSent as exc:
            return _Outcome("not_sent", error=str(exc))
        except Uncertain as exc:
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
                    fsync_dir(folder)
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
    def _same_recipient(earlier_key: str, entry: LedgerEntry | None, provider: str) -> SendResult:
        """Result for a key refused because its campaign is claimed or sent to the same address as ``earlier_key``
        (never naming the address). No provider message id: it belongs to the earlier row."""
        if entry is not None and entry.status == SENT:
            return SendResult("skipped_already_sent", entry.provider or provider, None,
                              f"not sent again: this campaign already went to the same address as message_key "
                              f"{earlier_key}")
        if entry is not None and entry.status == FAILED:
            return SendResult("failed", provider, None,
                              f"not sent: sending this campaign to the same address as message_key {earlier_key} "
                              "failed just now; the next run retries")
        return SendResult("failed", provider, None,
                          f"not sent: this campaign is claimed for the same address by message_key {earlier_key} "
                          "(in flight or unresolved; see SendLedger.stale_claims)")

    @staticmethod
    def _refused(entry: LedgerEntry | None, provider: str) -> SendResult:
        """Result for a key this run did not (or could not) claim."""
        if entry is not None and entry.status == SENT:
            return SendResult("skipped_already_sent", entry.provider or provider, entry.provider_message_id)
        if entry is not None and entry.status == FAILED:  # an earlier row with the same key failed just now
            return SendResult("failed", provider, None,
                              "not sent: an attempt with the same message_key failed earlier in this run")
        return SendResult("failed", provider, None, _IN_FLIGHT)

    def _safe_error(self, text: str) -> str:
        """Readable one-line error without the API key or raw email addresses."""
        key = self._api_key
        if key:
            text = text.replace(key, "***")
        text = re.sub(r"Bearer\s+\S+", "Bearer ***", text)
        text = mask_emails_in_text(" ".join(text.split()))
        return text[:MAX_ERROR_CHARS]
