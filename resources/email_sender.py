"""EmailSender: the only place Tailor actually sends email (side effects live here).

Two providers, chosen by configuration:

- ``sendgrid`` when ``sendgrid_api_key`` is set: the official ``sendgrid`` client posts the payload of
  :func:`tailor.messages.build_sendgrid_payload` to ``<host>/v3/mail/send``;
- ``outbox`` otherwise: ``<outbox_dir>/<campaign_id>/<message_key>.eml`` (the MIME message, opens in any mail
  client) and ``<message_key>.sendgrid.json`` (the exact SendGrid request body) are written atomically.

Every send goes through the :class:`tailor.send_ledger.SendLedger` (claim before send => at most once).
Errors returned in :class:`SendResult` never contain the API key or a raw email address.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
import urllib.error
from pathlib import Path

import python_http_client.exceptions as http_errors
import sendgrid
from dagster import ConfigurableResource
from pydantic import Field, PrivateAttr

from tailor.delivery import SendResult
from tailor.masking import mask_emails_in_text
from tailor.messages import OutgoingEmail, build_mime_message, build_sendgrid_payload, message_id_for
from tailor.send_ledger import SENT, SendLedger

__all__ = ["EmailSender", "SendResult", "SENDGRID_DEFAULT_HOST"]

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"
_MAX_ERROR_CHARS = 500


class _NotSent(Exception):
    """The provider definitely did not accept the message; safe to retry later."""


class _Uncertain(Exception):
    """The request may have reached the provider; must not be retried automatically."""


class EmailSender(ConfigurableResource):
    """Sends one :class:`OutgoingEmail` at a time, idempotently by ``message_key``."""

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
        provider = self.provider
        # 1. Build everything that can fail on bad input BEFORE claiming: nothing is reserved or sent yet.
        try:
            payload = build_sendgrid_payload(email)
            mime_bytes = build_mime_message(email).as_bytes() if provider == "outbox" else b""
        except Exception as exc:
            return SendResult("failed", provider, None, self._safe_error(f"invalid message: {exc}"))

        # 2. Claim (at most once). A refused claim means: already sent, or in flight / unresolved elsewhere.
        ledger = self.ledger
        if not ledger.claim(email.message_key, email.campaign_id, email.customer_id):
            entry = ledger.get(email.message_key)
            if entry is not None and entry.status == SENT:
                return SendResult("skipped_already_sent", entry.provider or provider, entry.provider_message_id)
            return SendResult(
                "failed", provider, None,
                "not sent: message_key is claimed by an in-flight or unresolved earlier attempt "
                "(see SendLedger.stale_claims; resolve with mark_sent / mark_failed)",
            )

        # 3. Hand over to the provider.
        if provider == "outbox" and self.outbox_paths(email)[0].exists():
            # The ledger lost track of it (e.g. the sqlite file was deleted), but the outbox has it already.
            message_id = message_id_for(email).strip("<>")
            ledger.mark_sent(email.message_key, provider, message_id)
            return SendResult("skipped_already_sent", provider, message_id)
        try:
            if provider == "outbox":
                provider_message_id = self._write_outbox(email, mime_bytes, payload)
            else:
                provider_message_id = self._post_sendgrid(payload)
        except _NotSent as exc:
            error = self._safe_error(str(exc))
            ledger.mark_failed(email.message_key, error, provider)
            return SendResult("failed", provider, None, error)
        except _Uncertain as exc:
            error = self._safe_error(f"outcome unknown, left claimed for manual review (not retried): {exc}")
            ledger.mark_uncertain(email.message_key, error, provider)
            return SendResult("failed", provider, None, error)

        # 4. Record. If only this write fails, the row stays 'claimed' (never re-sent) and we still say sent.
        try:
            ledger.mark_sent(email.message_key, provider, provider_message_id)
        except Exception as exc:
            return SendResult("sent", provider, provider_message_id,
                              self._safe_error(f"sent, but the ledger could not record it: {exc}"))
        return SendResult("sent", provider, provider_message_id)

    # -- outbox ---------------------------------------------------------------------------------------

    def outbox_paths(self, email: OutgoingEmail) -> tuple[Path, Path]:
        """(<outbox_dir>/<campaign>/<key>.eml, <outbox_dir>/<campaign>/<key>.sendgrid.json)."""
        folder = Path(self.outbox_dir) / _safe_path_part(email.campaign_id)
        return folder / f"{email.message_key}.eml", folder / f"{email.message_key}.sendgrid.json"

    def _write_outbox(self, email: OutgoingEmail, mime_bytes: bytes, payload: dict) -> str:
        eml_path, json_path = self.outbox_paths(email)
        message_id = message_id_for(email).strip("<>")
        try:
            eml_path.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(json_path, (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
            _atomic_write(eml_path, mime_bytes)  # last: the .eml's existence means "sent"
        except OSError as exc:
            with contextlib.suppress(OSError):
                json_path.unlink(missing_ok=True)
            raise _NotSent(f"outbox write failed: {type(exc).__name__}: {exc.strerror or exc}") from None
        return message_id

    # -- SendGrid -------------------------------------------------------------------------------------

    def _post_sendgrid(self, payload: dict) -> str | None:
        try:
            client = sendgrid.SendGridAPIClient(api_key=self._api_key, host=self.api_host)
        except Exception as exc:
            raise _NotSent(f"SendGrid client setup failed: {type(exc).__name__}") from None
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


def _atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path`` (atomic on POSIX)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
