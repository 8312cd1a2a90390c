"""Delivery: turn ``rendered_emails`` into sends, re-checking consent at the last moment.

:func:`deliver` is pure apart from the ``sender`` it is given (anything with ``.provider`` and
``.send(OutgoingEmail) -> SendResult``, optionally ``.send_many(list) -> list[SendResult]``, e.g.
``tailor.delivery.sender.EmailSender``). It returns the ``email_sends`` table (see docs/internal-spec.md,
Delivery). Rows are processed in chunks (``chunk_size``, default 200): consent is re-checked for the chunk,
then the chunk's allowed rows go to ``sender.send_many`` in one call (one ledger claim transaction, concurrent
provider calls, one results transaction); a sender without ``send_many`` gets one ``send`` per row.

Safety rules enforced here, per row, right before sending:

- the CURRENT profile (not the one the email was rendered from) must exist, have ``marketing_consent`` exactly
  True, no ``suppressed_reason`` (bounce / spamreport / unsubscribe) and an email equal to the rendered
  ``to_email``; otherwise the row is ``blocked_no_consent`` and the sender is never called;
- idempotency (never send twice) is the sender's job: its ledger answers ``skipped_already_sent``;
- only masked addresses (``tailor.governance.masking.mask_email``) leave this module.
"""

from __future__ import annotations

import math
import os
from datetime import datetime
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive
from tailor.delivery.messages import OutgoingEmail
from tailor.delivery.protocol import PROVIDERS, SEND_CHUNK_SIZE, SEND_STATUSES, Sender, SendResult
from tailor.governance.masking import mask_email, mask_emails_in_text

EMAIL_SENDS_COLUMNS = [
    "customer_id", "campaign_id", "message_key", "status", "provider", "provider_message_id",
    "to_email_masked", "sent_at", "error",
]


RENDERED_REQUIRED = ["customer_id", "campaign_id", "message_key", "to_email", "subject", "html", "text"]


PROFILES_REQUIRED = ["customer_id", "email", "marketing_consent", "suppressed_reason"]


DEFAULT_UNSUBSCRIBE_BASE_URL = "https://shop.example/unsubscribe"


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


def _blank(value: object) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _is_true(value: object) -> bool:
    """Consent must be an actual boolean True; None/NaN/'true'/1 do not count."""
    return value is True or (isinstance(value, np.bool_) and bool(value))


def _unsubscribe_url(row: dict, base_url: str) -> str:
    explicit = row.get("unsubscribe_url")
    if not _blank(explicit):
        return str(explicit)
    # Same shape as the link in the rendered body (tailor.content.context): <base>?m=<message_key>
    query = urlencode({"m": row["message_key"]})
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def _display_name(profile: dict) -> str | None:
    parts = [str(profile.get(c)).strip() for c in ("first_name", "last_name") if not _blank(profile.get(c))]
    return " ".join(parts) or None


def block_reason(rendered_to_email: object, profile: dict | None) -> str | None:
    """Why this recipient must not be emailed right now, or None when sending is allowed."""
    if profile is None:
        return "no current profile for this customer_id"
    if not _is_true(profile.get("marketing_consent")):
        return "no marketing consent in the current profile"
    if not _blank(profile.get("suppressed_reason")):
        return f"suppressed: {profile['suppressed_reason']}"
    if _blank(profile.get("email")):
        return "no email in the current profile"
    if _blank(rendered_to_email):
        return "rendered email has no to_email"
    if str(rendered_to_email).strip().lower() != str(profile["email"]).strip().lower():
        return "profile email changed since rendering; re-render before sending"
    return None


def _check_columns(df: pd.DataFrame, required: list[str], table: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"deliver(): table {table} is missing column(s) {missing}; has {list(df.columns)}")


def _outgoing(row: dict, out: dict, profile: dict, from_email: str, from_name: str | None,
              base_url: str) -> OutgoingEmail:
    return OutgoingEmail(
        message_key=out["message_key"],
        campaign_id=out["campaign_id"],
        customer_id=out["customer_id"],
        to_email=str(profile["email"]).strip(),
        to_name=_display_name(profile),
        from_email=from_email,
        from_name=from_name,
        subject=str(row["subject"]) if not _blank(row["subject"]) else "",
        html=str(row["html"]) if not _blank(row["html"]) else "",
        text=str(row["text"]) if not _blank(row["text"]) else "",
        unsubscribe_url=_unsubscribe_url(row, base_url),
        categories=(out["campaign_id"],),
    )


def _failed(sender: Sender, exc: Exception) -> SendResult:
    return SendResult("failed", sender.provider, None, mask_emails_in_text(f"{type(exc).__name__}: {exc}")[:500])


def _apply(out: dict, result: SendResult, sent_at: pd.Timestamp) -> None:
    out |= {
        "status": result.status,
        "provider": result.provider,
        "provider_message_id": result.provider_message_id,
        "sent_at": sent_at if result.status == "sent" else pd.NaT,
        "error": None if result.error is None else mask_emails_in_text(result.error),
    }


def empty_email_sends() -> pd.DataFrame:
    df = pd.DataFrame({c: pd.Series(dtype="object") for c in EMAIL_SENDS_COLUMNS})
    df["sent_at"] = pd.Series(dtype="datetime64[ns]")
    return df


def deliver(
    rendered: pd.DataFrame,
    profiles: pd.DataFrame,
    sender: Sender,
    from_email: str,
    from_name: str | None,
    now: datetime,
    *,
    unsubscribe_base_url: str | None = None,
    chunk_size: int = SEND_CHUNK_SIZE,
) -> pd.DataFrame:
    """Send every row of ``rendered`` (rendered_emails) that is still allowed; return email_sends.

    ``profiles`` is the CURRENT customer_profiles table. ``now`` (UTC; naive = UTC) stamps ``sent_at``.
    The unsubscribe URL (List-Unsubscribe header) is taken from a ``rendered.unsubscribe_url`` column when
    present, else built as ``<unsubscribe_base_url>?m=<message_key>`` — the same link the rendered body carries.
    ``unsubscribe_base_url`` defaults to $TAILOR_UNSUBSCRIBE_BASE_URL, else https://shop.example/unsubscribe.
    ``chunk_size`` rows are consent-checked and handed to the sender together (see the module docstring);
    the output has one row per input row, in input order.
    """
    base_url = (unsubscribe_base_url or os.environ.get("TAILOR_UNSUBSCRIBE_BASE_URL")
                or DEFAULT_UNSUBSCRIBE_BASE_URL)
    _check_columns(rendered, RENDERED_REQUIRED, "rendered_emails")
    _check_columns(profiles, PROFILES_REQUIRED, "customer_profiles")
    dupes = profiles["customer_id"][profiles["customer_id"].duplicated()].unique().tolist()
    if dupes:
        raise ValueError(f"deliver(): customer_profiles has duplicate customer_id(s) {dupes[:10]}")
    if chunk_size < 1:
        raise ValueError(f"deliver(): chunk_size must be >= 1, got {chunk_size}")

    sent_at = utc_naive(now)
    by_customer = {str(p["customer_id"]): p for p in profiles.to_dict("records")}
    send_many = getattr(sender, "send_many", None)
    records = rendered.to_dict("records")
    rows: list[dict] = []
    for start in range(0, len(records), chunk_size):
        chunk_rows: list[dict] = []
        pending: list[tuple[dict, OutgoingEmail]] = []  # (output row, message) for the allowed rows
        for row in records[start:start + chunk_size]:
            customer_id = str(row["customer_id"])
            profile = by_customer.get(customer_id)
            out = {
                "customer_id": customer_id,
                "campaign_id": str(row["campaign_id"]),
                "message_key": str(row["message_key"]),
                "to_email_masked": mask_email(None if _blank(row["to_email"]) else str(row["to_email"])),
            }
            chunk_rows.append(out)
            reason = block_reason(row["to_email"], profile)
            if reason is not None:
                out |= {"status": "blocked_no_consent", "provider": sender.provider,
                        "provider_message_id": None, "sent_at": pd.NaT, "error": reason}
                continue
            try:
                pending.append((out, _outgoing(row, out, profile, from_email, from_name, base_url)))
            except Exception as exc:
                _apply(out, _failed(sender, exc), sent_at)

        if pending and send_many is not None:
            try:
                results = list(send_many([email for _, email in pending]))
                if len(results) != len(pending):
                    raise RuntimeError(f"send_many returned {len(results)} results for {len(pending)} emails")
            except Exception as exc:  # the ledger still prevents double sends on the next run
                results = [_failed(sender, exc)] * len(pending)
            for (out, _), result in zip(pending, results):
                _apply(out, result, sent_at)
        else:
            for out, email in pending:
                try:
                    result = sender.send(email)
                except Exception as exc:  # one bad row must not stop the run; the ledger prevents double sends
                    result = _failed(sender, exc)
                _apply(out, result, sent_at)
        rows.extend(chunk_rows)

    if not rows:
        return empty_email_sends()
    df = pd.DataFrame(rows, columns=EMAIL_SENDS_COLUMNS)
    df["sent_at"] = pd.to_datetime(df["sent_at"]).astype("datetime64[ns]")
    df["provider_message_id"] = df["provider_message_id"].astype("object").where(
        df["provider_message_id"].notna(), None)
    df["error"] = df["error"].astype("object").where(df["error"].notna(), None)
    return df
