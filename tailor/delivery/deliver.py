"""Delivery: turn ``rendered_emails`` into sends, re-checking consent at the last moment.

:func:`deliver` is pure apart from the ``sender`` it is given (a :class:`~tailor.delivery.protocol.Sender`:
``.provider`` and ``.send_many(list[OutgoingEmail]) -> list[SendResult]``, e.g.
``tailor.delivery.sender.EmailSender``). It returns the ``email_sends`` table (see docs/internal-spec.md,
Delivery). Rows are processed in chunks (``chunk_size``, default 200): consent is re-checked for the chunk,
then the chunk's allowed rows go to ``sender.send_many`` in one call (one ledger claim transaction, concurrent
provider calls, one results transaction).

Safety rules enforced here, per row, right before sending:

- the CURRENT profile (not the one the email was rendered from) must exist, have ``marketing_consent`` exactly
  True, no ``suppressed_reason`` (bounce / spamreport / unsubscribe) and an email equal to the rendered
  ``to_email``; otherwise the row is ``blocked_no_consent`` and the sender is never called;
- idempotency (never send twice) is the sender's job: its ledger answers ``skipped_already_sent``;
- only masked addresses (``tailor.governance.masking.mask_email``) leave this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import Any

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.addresses import normalize_address
from tailor.clock import utc_naive
from tailor.config import setting
from tailor.delivery.keys import keyed_link
from tailor.delivery.messages import OutgoingEmail
from tailor.delivery.protocol import MAX_ERROR_CHARS, PROVIDERS, SEND_CHUNK_SIZE, SEND_STATUSES, Sender, SendResult
from tailor.governance.masking import mask_email, mask_emails_in_text
from tailor.warehouse.cells import is_missing, is_true

EMAIL_SENDS_COLUMNS = [
    "customer_id", "campaign_id", "message_key", "status", "provider", "provider_message_id",
    "to_email_masked", "sent_at", "error",
]
RENDERED_REQUIRED = ["customer_id", "campaign_id", "message_key", "to_email", "subject", "html", "text"]
PROFILES_REQUIRED = ["customer_id", "email", "marketing_consent", "suppressed_reason"]

#: (rendered row, output row, current profile) -> the message to send.
_Compose = Callable[[dict, dict, dict], OutgoingEmail]
#: An output row of email_sends and the message of its allowed rendered row.
_Pending = tuple[dict, OutgoingEmail]


class EmailSendsSchema(pa.DataFrameModel):
    """email_sends: one row per rendered email per delivery run. ``sent_at`` is UTC (naive), set only for
    ``sent``. ``to_email_masked`` is always masked (``a***@example.com``) — never a raw address."""

    customer_id: Series[str]
    campaign_id: Series[str]
    message_key: Series[str]
    status: Series[str] = pa.Field(isin=list(SEND_STATUSES))
    provider: Series[str] = pa.Field(isin=list(PROVIDERS))
    provider_message_id: Series[str] = pa.Field(nullable=True)
    to_email_masked: Series[str] = pa.Field(str_matches=r"^[^@]?\*\*\*(@[^@]*)?$")
    sent_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    error: Series[str] = pa.Field(nullable=True)

    class Config:
        strict = True
        ordered = True

    @pa.dataframe_check
    def sent_at_only_when_sent(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["status"] == "sent") == df["sent_at"].notna()


def _is_blank(value: object) -> bool:
    return is_missing(value) or (isinstance(value, str) and not value.strip())


def _unsubscribe_url(row: dict, base_url: str) -> str:
    explicit = row.get("unsubscribe_url")
    if not _is_blank(explicit):
        return str(explicit)
    return keyed_link(base_url, row["message_key"])  # the link the rendered body carries


def _display_name(profile: dict) -> str | None:
    parts = [str(profile.get(c)).strip() for c in ("first_name", "last_name") if not _is_blank(profile.get(c))]
    return " ".join(parts) or None


def block_reason(rendered_to_email: object, profile: dict | None) -> str | None:
    """Why this recipient must not be emailed right now, or None when sending is allowed."""
    if profile is None:
        return "no current profile for this customer_id"
    if not is_true(profile.get("marketing_consent")):
        return "no marketing consent in the current profile"
    if not _is_blank(profile.get("suppressed_reason")):
        return f"suppressed: {profile['suppressed_reason']}"
    if _is_blank(profile.get("email")):
        return "no email in the current profile"
    if _is_blank(rendered_to_email):
        return "rendered email has no to_email"
    if _comparable(rendered_to_email) != _comparable(profile["email"]):
        return "profile email changed since rendering; re-render before sending"
    return None


def _comparable(address: object) -> str:
    """The address as tailor.addresses normalises it (so a zero-width space or a case change is no change); an
    unusable address compares as trimmed lower-case text, and the sender refuses it with the reason."""
    return normalize_address(address) or str(address).strip().lower()


def _check_columns(df: pd.DataFrame, required: list[str], table: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"deliver(): table {table} is missing column(s) {missing}; has {list(df.columns)}")


def _outgoing(row: dict, out: dict, profile: dict, *, from_email: str, from_name: str | None,
              base_url: str) -> OutgoingEmail:
    return OutgoingEmail(
        message_key=out["message_key"],
        campaign_id=out["campaign_id"],
        customer_id=out["customer_id"],
        to_email=str(profile["email"]).strip(),
        to_name=_display_name(profile),
        from_email=from_email,
        from_name=from_name,
        subject=str(row["subject"]) if not _is_blank(row["subject"]) else "",
        html=str(row["html"]) if not _is_blank(row["html"]) else "",
        text=str(row["text"]) if not _is_blank(row["text"]) else "",
        unsubscribe_url=_unsubscribe_url(row, base_url),
        categories=(out["campaign_id"],),
    )


def _failed(provider: str, exc: Exception) -> SendResult:
    error = mask_emails_in_text(f"{type(exc).__name__}: {exc}")[:MAX_ERROR_CHARS]
    return SendResult("failed", provider, None, error)


def _apply(out: dict, result: SendResult, sent_at: pd.Timestamp) -> None:
    out |= {
        "status": result.status,
        "provider": result.provider,
        "provider_message_id": result.provider_message_id,
        "sent_at": sent_at if result.status == "sent" else pd.NaT,
        "error": None if result.error is None else mask_emails_in_text(result.error),
    }


def _screen(records: list[dict], by_customer: dict[str, dict], provider: str, compose: _Compose,
            sent_at: pd.Timestamp) -> tuple[list[dict], list[_Pending]]:
    """The output rows of one chunk, in order, and the messages of the rows still allowed. Blocked rows (and
    rows whose message cannot be built) are complete; the pending ones get their status from the sender."""
    rows: list[dict] = []
    pending: list[_Pending] = []
    for row in records:
        customer_id = str(row["customer_id"])
        profile = by_customer.get(customer_id)
        out = {
            "customer_id": customer_id,
            "campaign_id": str(row["campaign_id"]),
            "message_key": str(row["message_key"]),
            "to_email_masked": mask_email(None if _is_blank(row["to_email"]) else str(row["to_email"])),
        }
        rows.append(out)
        reason = block_reason(row["to_email"], profile)
        if reason is not None:
            out |= {"status": "blocked_no_consent", "provider": provider,
                    "provider_message_id": None, "sent_at": pd.NaT, "error": reason}
            continue
        try:
            pending.append((out, compose(row, out, profile)))
        except Exception as exc:
            _apply(out, _failed(provider, exc), sent_at)
    return rows, pending


def _send(sender: Sender, pending: list[_Pending], sent_at: pd.Timestamp) -> None:
    """Hand the pending messages to ``sender.send_many`` in one call and record each result in its row."""
    if not pending:
        return
    try:
        results = list(sender.send_many([email for _, email in pending]))
        if len(results) != len(pending):
            raise RuntimeError(f"send_many returned {len(results)} results for {len(pending)} emails")
    except Exception as exc:  # the ledger still prevents double sends on the next run
        results = [_failed(sender.provider, exc)] * len(pending)
    for (out, _), result in zip(pending, results, strict=True):
        _apply(out, result, sent_at)


def empty_email_sends() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in EMAIL_SENDS_COLUMNS})
    df["sent_at"] = pd.Series(dtype="datetime64[ns]")
    return df


def _email_sends(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return empty_email_sends()
    df = pd.DataFrame(rows, columns=EMAIL_SENDS_COLUMNS)
    df["sent_at"] = pd.to_datetime(df["sent_at"]).astype("datetime64[ns]")
    df["provider_message_id"] = df["provider_message_id"].astype("object").where(
        df["provider_message_id"].notna(), None)
    df["error"] = df["error"].astype("object").where(df["error"].notna(), None)
    return df


def deliver(rendered: pd.DataFrame, profiles: pd.DataFrame, sender: Sender, from_email: str,
            from_name: str | None, now: datetime, **options: Any) -> pd.DataFrame:
    """Send every row of ``rendered`` (rendered_emails) that is still allowed; return email_sends, one row per input
    row, in input order: :func:`deliver_chunks` (same arguments) gathered into one table."""
    return concat_email_sends(list(deliver_chunks(rendered, profiles, sender, from_email, from_name, now, **options)))


def deliver_chunks(
    rendered: pd.DataFrame,
    profiles: pd.DataFrame,
    sender: Sender,
    from_email: str,
    from_name: str | None,
    now: datetime,
    *,
    unsubscribe_base_url: str | None = None,
    chunk_size: int = SEND_CHUNK_SIZE,
) -> Iterator[pd.DataFrame]:
    """Send every row of ``rendered`` that is still allowed, yielding one ``email_sends`` frame per chunk as soon as
    the chunk is sent, so that a caller keeps the rows of the finished chunks when a later one is interrupted
    (tailor.delivery.audit.deliver_and_record). The arguments are checked before anything is sent.

    ``profiles`` is the CURRENT customer_profiles table. ``now`` (UTC; naive = UTC) stamps ``sent_at``.
    The unsubscribe URL (List-Unsubscribe header) is taken from a ``rendered.unsubscribe_url`` column when
    present, else built as ``<unsubscribe_base_url>?m=<message_key>`` — the same link the rendered body carries.
    ``unsubscribe_base_url`` defaults to the setting TAILOR_UNSUBSCRIBE_BASE_URL (tailor/config.py).
    ``chunk_size`` rows are consent-checked and handed to the sender together (see the module docstring)."""
    base_url = unsubscribe_base_url or setting("TAILOR_UNSUBSCRIBE_BASE_URL")
    _check_columns(rendered, RENDERED_REQUIRED, "rendered_emails")
    _check_columns(profiles, PROFILES_REQUIRED, "customer_profiles")
    dupes = profiles["customer_id"][profiles["customer_id"].duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"deliver(): customer_profiles has duplicate customer_id(s) {dupes[:10]}")
    if chunk_size < 1:
        raise ValueError(f"deliver(): chunk_size must be >= 1, got {chunk_size}")
    return _chunks(rendered, profiles, sender, from_email, from_name, now, base_url, chunk_size)


def _chunks(rendered: pd.DataFrame, profiles: pd.DataFrame, sender: Sender, from_email: str, from_name: str | None,
            now: datetime, base_url: str, chunk_size: int) -> Iterator[pd.DataFrame]:
    sent_at = utc_naive(now)
    by_customer = {str(p["customer_id"]): p for p in profiles.to_dict("records")}
    compose = partial(_outgoing, from_email=from_email, from_name=from_name, base_url=base_url)
    records = rendered.to_dict("records")
    for start in range(0, len(records), chunk_size):
        chunk_rows, pending = _screen(records[start:start + chunk_size], by_customer, sender.provider, compose,
                                      sent_at)
        _send(sender, pending, sent_at)
        yield _email_sends(chunk_rows)


def concat_email_sends(chunks: list[pd.DataFrame]) -> pd.DataFrame:
    """The chunks of :func:`deliver_chunks` as one email_sends table (typed even when empty)."""
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return empty_email_sends()
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
