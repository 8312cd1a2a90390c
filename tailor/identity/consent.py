"""Consent and suppression, from the consent log (``consent_events``) and the ESP's events (``email_events``).

Marketing e-mail consent and suppression belong to an address: the latest change for it, overruled by a later
unsubscribe, and a bounce or spam report that stops all mail to it. Consent for SMS and personalization
belongs to the person: the latest change sent from any of the customer's addresses.

Every purpose reads its log the same way (:func:`latest_status`), as of the run's moment ``as_of``:

* a grant counts only when it is dated at or before ``as_of`` (a grant dated 2099, or one a replayed run could
  not yet have seen, is ignored); a revocation, an unsubscribe, a bounce and a spam report count whenever they
  are dated, because delivery re-checks the current profile and must never mail someone who objected since;
* at one instant a revocation beats a grant, and an unsubscribe beats a grant, whatever the table order.

Without ``as_of`` the moment is the present (UTC): nobody can have granted consent in the future.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pandas as pd

from tailor.clock import utc_naive, utc_naive_series
from tailor.identity.normalize import email_columns
from tailor.sources.contracts import CONSENT_PURPOSES

UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe")
HARD_SUPPRESSION_EVENTS = {"bounce": "bounce", "spamreport": "spamreport"}  # event type -> suppressed_reason
UNSUBSCRIBE_REASON = "unsubscribe"  # suppressed_reason of an address unsubscribed after its latest consent change
#: Every ``suppressed_reason`` of ``customer_profiles``.
SUPPRESSED_REASONS = (*HARD_SUPPRESSION_EVENTS.values(), UNSUBSCRIBE_REASON)
GRANTED = "granted"


def consent_moment(as_of: datetime | pd.Timestamp | str | None) -> pd.Timestamp:
    """``as_of`` as tz-naive UTC, or the present moment when it is None."""
    return utc_naive(datetime.now(timezone.utc) if as_of is None else as_of)


def latest_status(events: pd.DataFrame, key: str, *, as_of: datetime | pd.Timestamp | str | None = None,
                  time: str = "changed_at") -> pd.DataFrame:
    """Per ``key``: ``status`` and ``changed_at`` of the latest consent change that counts as of ``as_of``.

    The one reading of a consent log for every purpose (module docstring): grants after ``as_of`` (or without a
    time) are ignored, revocations always count (one without a time counts as the latest), and at equal times the
    revocation wins."""
    at = utc_naive_series(events[time])
    counts = (events["status"] != GRANTED).to_numpy() | (at <= consent_moment(as_of)).to_numpy()
    kept = pd.DataFrame({key: events[key].to_numpy()[counts], "status": events["status"].to_numpy()[counts],
                         "changed_at": at.to_numpy()[counts]})
    # sorted by time, a revocation after a grant of the same instant, missing times last: the last row wins
    kept["revokes"] = kept["status"] != GRANTED
    kept = kept.sort_values(["changed_at", "revokes"], kind="stable", na_position="last")
    return kept.drop_duplicates(key, keep="last").set_index(key)[["status", "changed_at"]]


def _email_keys(emails: pd.Series) -> pd.Series:
    """Normalised e-mails that can carry consent: placeholders (``test@test.com``) are nobody's."""
    cols = email_columns(emails)
    return cols["email_norm"].where(~cols["email_placeholder"], None)


def with_email_keys(consent_events: pd.DataFrame) -> pd.DataFrame:
    """Consent events with ``email_norm`` (computed once when the caller has not done it yet)."""
    if "email_norm" in consent_events.columns:
        return consent_events
    return consent_events.assign(email_norm=_email_keys(consent_events["email"]))


def consent_state(consent_events: pd.DataFrame, email_events: pd.DataFrame, *,
                  as_of: datetime | pd.Timestamp | str | None = None) -> pd.DataFrame:
    """Per normalised email: marketing (e-mail) consent and suppression as of ``as_of``, from consent changes and
    ESP events (an unsubscribe at the same instant as a grant wins)."""
    consent = with_email_keys(consent_events[consent_events["purpose"] == "marketing_email"])
    latest = latest_status(consent.dropna(subset=["email_norm"]), "email_norm", as_of=as_of)

    esp = email_events[["email", "event_type"]].assign(email_norm=_email_keys(email_events["email"]))
    # an unsubscribe only ever stops mail, so it counts whenever it is dated; one without a time counts as the latest
    esp["occurred_at"] = utc_naive_series(email_events["occurred_at"]).fillna(pd.Timestamp.max)
    unsubscribed_at = esp[esp["event_type"].isin(UNSUBSCRIBE_EVENTS)].groupby("email_norm")["occurred_at"].max()
    state = latest.join(unsubscribed_at.rename("unsubscribed_at"), how="outer")
    unsubscribed_later = state["unsubscribed_at"].notna() & (
        state["changed_at"].isna() | (state["unsubscribed_at"] >= state["changed_at"])
    )
    state["marketing_consent"] = (state["status"] == GRANTED) & ~unsubscribed_later

    hard = esp[esp["event_type"].isin(list(HARD_SUPPRESSION_EVENTS))]
    # A spam report outranks a bounce: it is the stronger reason never to write again.
    rank = hard["event_type"].map({"spamreport": 0, "bounce": 1})
    hardest = hard.assign(rank=rank).sort_values("rank").groupby("email_norm")["event_type"].first()
    state["suppressed_reason"] = hardest.map(HARD_SUPPRESSION_EVENTS).reindex(state.index)
    state.loc[state["suppressed_reason"].isna() & unsubscribed_later, "suppressed_reason"] = UNSUBSCRIBE_REASON
    state["suppressed_reason"] = state["suppressed_reason"].astype(object).where(state["suppressed_reason"].notna(), None)
    return state[["marketing_consent", "suppressed_reason"]]


def purpose_consent(consent_events: pd.DataFrame, emails: pd.DataFrame, purpose: str, *,
                    as_of: datetime | pd.Timestamp | str | None = None) -> pd.Series:
    """Per customer: the status (``granted``/``revoked``) of the latest ``purpose`` event as of ``as_of``
    (:func:`latest_status`) for ANY of the customer's e-mails, or missing when there is none.

    ``emails`` has customer_id and email_norm (every usable e-mail of every record). Consent for SMS and
    for personalization belongs to the person, not to one address: an objection sent from an old address
    still counts."""
    if purpose not in CONSENT_PURPOSES:
        raise ValueError(f"unknown consent purpose {purpose!r}; expected one of {', '.join(CONSENT_PURPOSES)}")
    events = with_email_keys(consent_events[consent_events["purpose"] == purpose]).dropna(subset=["email_norm"])
    owners = emails.dropna(subset=["email_norm"]).drop_duplicates(["customer_id", "email_norm"])
    joined = events.merge(owners, on="email_norm")
    return latest_status(joined, "customer_id", as_of=as_of)["status"]
