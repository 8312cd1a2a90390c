"""Consent and suppression, from the consent log (``consent_events``) and the ESP's events (``email_events``).

Marketing e-mail consent and suppression belong to an address: the latest change for it, overruled by a later
unsubscribe, and a bounce or spam report that stops all mail to it. Consent for SMS and personalization
belongs to the person: the latest change sent from any of the customer's addresses.
"""

from __future__ import annotations

import pandas as pd

from tailor.identity.normalize import email_columns
from tailor.sources.contracts import CONSENT_PURPOSES

UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe")
HARD_SUPPRESSION_EVENTS = {"bounce": "bounce", "spamreport": "spamreport"}  # event type -> suppressed_reason
UNSUBSCRIBE_REASON = "unsubscribe"  # suppressed_reason of an address unsubscribed after its latest consent change
#: Every ``suppressed_reason`` of ``customer_profiles``.
SUPPRESSED_REASONS = (*HARD_SUPPRESSION_EVENTS.values(), UNSUBSCRIBE_REASON)


def _email_keys(emails: pd.Series) -> pd.Series:
    """Normalised e-mails that can carry consent: placeholders (``test@test.com``) are nobody's."""
    cols = email_columns(emails)
    return cols["email_norm"].where(~cols["email_placeholder"], None)


def with_email_keys(consent_events: pd.DataFrame) -> pd.DataFrame:
    """Consent events with ``email_norm`` (computed once when the caller has not done it yet)."""
    if "email_norm" in consent_events.columns:
        return consent_events
    return consent_events.assign(email_norm=_email_keys(consent_events["email"]))


def consent_state(consent_events: pd.DataFrame, email_events: pd.DataFrame) -> pd.DataFrame:
    """Per normalised email: marketing (e-mail) consent and suppression, from consent changes and ESP events."""
    consent = consent_events[consent_events["purpose"] == "marketing_email"]
    consent = with_email_keys(consent)
    consent = consent.dropna(subset=["email_norm"]).sort_values("changed_at", kind="stable")
    latest = consent.groupby("email_norm").agg(status=("status", "last"), changed_at=("changed_at", "last"))

    esp = email_events[["email", "event_type", "occurred_at"]].copy()
    esp["email_norm"] = _email_keys(esp["email"])
    unsubscribed_at = esp[esp["event_type"].isin(UNSUBSCRIBE_EVENTS)].groupby("email_norm")["occurred_at"].max()
    state = latest.join(unsubscribed_at.rename("unsubscribed_at"), how="outer")
    unsubscribed_later = state["unsubscribed_at"].notna() & (
        state["changed_at"].isna() | (state["unsubscribed_at"] >= state["changed_at"])
    )
    state["marketing_consent"] = (state["status"] == "granted") & ~unsubscribed_later

    hard = esp[esp["event_type"].isin(list(HARD_SUPPRESSION_EVENTS))]
    # A spam report outranks a bounce: it is the stronger reason never to write again.
    rank = hard["event_type"].map({"spamreport": 0, "bounce": 1})
    hardest = hard.assign(rank=rank).sort_values("rank").groupby("email_norm")["event_type"].first()
    state["suppressed_reason"] = hardest.map(HARD_SUPPRESSION_EVENTS).reindex(state.index)
    state.loc[state["suppressed_reason"].isna() & unsubscribed_later, "suppressed_reason"] = UNSUBSCRIBE_REASON
    state["suppressed_reason"] = state["suppressed_reason"].astype(object).where(state["suppressed_reason"].notna(), None)
    return state[["marketing_consent", "suppressed_reason"]]


def purpose_consent(consent_events: pd.DataFrame, emails: pd.DataFrame, purpose: str) -> pd.Series:
    """Per customer: the status (``granted``/``revoked``) of the latest ``purpose`` event for ANY of the
    customer's e-mails, or missing when there is none.

    ``emails`` has customer_id and email_norm (every usable e-mail of every record). Consent for SMS and
    for personalization belongs to the person, not to one address: an objection sent from an old address
    still counts."""
    if purpose not in CONSENT_PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(CONSENT_PURPOSES)}")
    events = with_email_keys(consent_events[consent_events["purpose"] == purpose]).dropna(subset=["email_norm"])
    owners = emails.dropna(subset=["email_norm"]).drop_duplicates(["customer_id", "email_norm"])
    joined = events.merge(owners, on="email_norm")
    latest = joined.sort_values(["changed_at", "status"], kind="stable").groupby("customer_id")["status"].last()
    return latest
