"""Customer profiles: one cleaned profile per master customer, merged by ``SURVIVORSHIP``, with consent.

Normalisation lives in ``tailor.normalize`` and identity resolution (which records are one person) in
``tailor.identity``; both are re-exported here for the callers that imported them from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.identity import (
    CustomerIdentityLinksSchema,
    customer_id_for,
    normalize_records,
    ref_order,
    resolve_identities,
)
from tailor.normalize import (
    COUNTRY_ALIASES,
    default_timezone,
    email_columns,
    email_typo_suggestion,
    map_distinct,
    normalize_country,
    normalize_email,
    normalize_name,
    normalize_timezone,
)

__all__ = [
    "COUNTRY_ALIASES", "CustomerIdentityLinksSchema", "CustomerProfilesSchema", "HARD_SUPPRESSION_EVENTS",
    "PROFILE_COLUMNS", "SOURCE_PRIORITY", "SURVIVORSHIP", "UNSUBSCRIBE_EVENTS", "build_customer_profiles",
    "consent_state", "customer_id_for", "default_timezone", "normalize_country", "normalize_email", "normalize_name",
    "purpose_consent", "resolve_identities", "survive",
]

# Which CRM system is trusted most for the values a person typed about themselves:
#   shop        the customer typed it at checkout, and delivery and invoices depend on it being right;
#   pos         typed by staff at the till, face to face, but by someone else (spelling of names suffers);
#   import      legacy bulk loads: once right, but old and converted at least once;
#   newsletter  a signup form that asks for little and checks nothing but the e-mail.
# A record without a (known) source_system ranks after all of them.
SOURCE_PRIORITY = ("shop", "pos", "import", "newsletter")


@dataclass(frozen=True)
class Rule:
    """How the winning value of a field is chosen among a customer's records that have one.

    ``criteria`` are applied in order, each a tie-break for the one before; a final tie-break on the lowest
    CRM ref makes the choice deterministic. Criteria: ``source_priority`` (SOURCE_PRIORITY order), ``recency``
    (latest ``updated_at`` first), ``completeness`` (longest value first), ``no_typo`` (an e-mail without a
    suspected domain typo first), ``earliest`` / ``latest`` (smallest / largest value: timestamps)."""

    criteria: tuple[str, ...]
    why: str


# Survivorship: for each profile field, how the winning value is chosen among a customer's records.
SURVIVORSHIP: dict[str, Rule] = {
    "email": Rule(("no_typo", "recency", "source_priority"),
                  "people change address: the newest usable one reaches them; one without a typo beats all"),
    "first_name": Rule(("source_priority", "completeness", "recency"),
                       "typed by the person in the most trusted system; a typo drops letters more often than it adds"),
    "last_name": Rule(("source_priority", "recency", "completeness"),
                      "trusted system first; then the newest, because last names change (marriage)"),
    "phone": Rule(("recency", "source_priority"), "numbers change: the newest valid E.164 number"),
    "country": Rule(("recency", "source_priority"), "people move: the newest address"),
    "city": Rule(("recency", "source_priority"), "people move: the newest address"),
    "postcode": Rule(("recency", "source_priority"), "people move: the newest address"),
    "timezone": Rule(("recency", "source_priority"), "follows the newest address (else the country's default)"),
    "created_at": Rule(("earliest",), "the customer exists since their first record"),
    "updated_at": Rule(("latest",), "the profile changed when any record did"),
}

UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe")
HARD_SUPPRESSION_EVENTS = {"bounce": "bounce", "spamreport": "spamreport"}
CONSENT_PURPOSES = ("marketing_email", "marketing_sms", "personalization")


class CustomerProfilesSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(unique=True, str_startswith="cus_")
    email: Series[str] = pa.Field(nullable=True, str_matches=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    first_name: Series[str] = pa.Field(nullable=True)
    last_name: Series[str] = pa.Field(nullable=True)
    phone: Series[str] = pa.Field(nullable=True, str_matches=r"^\+[1-9]\d{4,14}$")  # E.164
    country: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    city: Series[str] = pa.Field(nullable=True)
    postcode: Series[str] = pa.Field(nullable=True)
    timezone: Series[str] = pa.Field(nullable=True)
    created_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    updated_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    source_record_count: Series[int] = pa.Field(ge=1)
    marketing_consent: Series[bool]
    suppressed_reason: Series[str] = pa.Field(nullable=True, isin=["bounce", "spamreport", "unsubscribe"])
    # appended in session 2 (other modules select columns by name; the order above is stable)
    email_typo_suggestion: Series[str] = pa.Field(nullable=True)
    sms_consent: Series[bool]
    personalization_consent: Series[bool]

    class Config:
        strict = True
        ordered = True


PROFILE_COLUMNS = list(CustomerProfilesSchema.to_schema().columns)


def survive(records: pd.DataFrame, rules: dict[str, Rule] = SURVIVORSHIP) -> pd.DataFrame:
    """One row per ``customer_id`` with the winning value of every field in ``rules``.

    ``records`` has ``customer_id``, ``ref_rank`` (lower = lower CRM ref), ``updated_at``, ``source_rank``
    (index in SOURCE_PRIORITY, len(SOURCE_PRIORITY) when unknown), the fields, and ``email_typo`` (bool)
    when ``email`` is a field. Missing values never win."""
    codes, customers = pd.factorize(records["customer_id"], sort=True)
    customers = pd.Index(customers, name="customer_id")
    out = pd.DataFrame(index=customers)
    updated = _ns(records["updated_at"])
    recency = np.where(records["updated_at"].isna().to_numpy(), np.iinfo(np.int64).max, -updated)
    for field, rule in rules.items():
        has = records[field].notna().to_numpy()
        cand = records[has]
        cand_codes = codes[has]
        keys: list[np.ndarray] = []
        for criterion in rule.criteria:
            if criterion == "source_priority":
                keys.append(cand["source_rank"].to_numpy())
            elif criterion == "recency":
                keys.append(recency[has])
            elif criterion == "completeness":
                keys.append(-cand[field].astype(str).str.len().to_numpy())
            elif criterion == "no_typo":
                keys.append(cand["email_typo"].to_numpy(dtype=bool).astype(np.int8))
            elif criterion == "earliest":
                keys.append(_ns(cand[field]))
            elif criterion == "latest":
                keys.append(-_ns(cand[field]))
            else:
                raise ValueError(f"SURVIVORSHIP[{field!r}]: unknown criterion {criterion!r}")
        # np.lexsort sorts by the LAST key first: customer, then the criteria in order, then the lowest ref
        order = np.lexsort([cand["ref_rank"].to_numpy(), *reversed(keys), cand_codes])
        first = np.ones(len(order), dtype=bool)
        first[1:] = cand_codes[order][1:] != cand_codes[order][:-1]
        won = order[first]
        column = pd.Series(None, index=customers, dtype=object)
        column.iloc[cand_codes[won]] = cand[field].to_numpy()[won]
        out[field] = column
    return out


def _ns(values: pd.Series) -> np.ndarray:
    """Timestamps as int64 nanoseconds (NaT as the smallest int64)."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[ns]").view(np.int64)


def _email_keys(emails: pd.Series) -> pd.Series:
    """Normalised e-mails that can carry consent: placeholders (``test@test.com``) are nobody's."""
    cols = email_columns(emails)
    return cols["email_norm"].where(~cols["email_placeholder"], None)


def _keyed(consent_events: pd.DataFrame) -> pd.DataFrame:
    """Consent events with ``email_norm`` (computed once when the caller has not done it yet)."""
    if "email_norm" in consent_events.columns:
        return consent_events
    return consent_events.assign(email_norm=_email_keys(consent_events["email"]))


def consent_state(consent_events: pd.DataFrame, email_events: pd.DataFrame) -> pd.DataFrame:
    """Per normalised email: marketing (e-mail) consent and suppression, from consent changes and ESP events."""
    consent = consent_events[consent_events["purpose"] == "marketing_email"]
    consent = _keyed(consent)
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
    state.loc[state["suppressed_reason"].isna() & unsubscribed_later, "suppressed_reason"] = "unsubscribe"
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
    events = _keyed(consent_events[consent_events["purpose"] == purpose]).dropna(subset=["email_norm"])
    owners = emails.dropna(subset=["email_norm"]).drop_duplicates(["customer_id", "email_norm"])
    joined = events.merge(owners, on="email_norm")
    latest = joined.sort_values(["changed_at", "status"], kind="stable").groupby("customer_id")["status"].last()
    return latest


def _aligned(normalized: pd.DataFrame, crm: pd.DataFrame) -> pd.DataFrame:
    """``normalized`` in the row order of ``crm`` (by customer_ref); an error names refs it lacks."""
    refs = crm["customer_ref"].astype(str)
    norm = normalized.reset_index(drop=True)
    if "customer_ref" not in norm.columns or norm["customer_ref"].astype(str).equals(refs):
        return norm
    norm = norm.set_index(norm["customer_ref"].astype(str)).reindex(refs)
    if norm["customer_ref"].isna().any():
        missing = refs[norm["customer_ref"].isna().to_numpy()].head(5).tolist()
        raise ValueError(f"build_customer_profiles: CRM records without normalised values, e.g. {missing}")
    return norm.reset_index(drop=True)


def build_customer_profiles(
    crm: pd.DataFrame, links: pd.DataFrame, consent_events: pd.DataFrame, email_events: pd.DataFrame,
    normalized: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per master customer, cleaned, merged by ``SURVIVORSHIP``, with consent per purpose.

    ``normalized`` (``tailor.identity.normalize_records(crm)``, e.g. the ``crm_normalized`` table the
    identity step wrote) may be passed to avoid normalising twice; its rows are matched to ``crm`` by
    ``customer_ref``, so the two may come from the warehouse in any order."""
    crm = crm.reset_index(drop=True)
    norm = normalize_records(crm) if normalized is None else _aligned(normalized, crm)
    customer_of = links.set_index("source_record_id")["customer_id"]
    records = pd.DataFrame({"customer_id": crm["customer_ref"].astype(str).map(customer_of)})
    if records["customer_id"].isna().any():
        missing = crm.loc[records["customer_id"].isna(), "customer_ref"].head(5).tolist()
        raise ValueError(f"build_customer_profiles: CRM records without an identity link, e.g. {missing}")
    records["ref_rank"] = ref_order(crm["customer_ref"].astype(str))
    records["updated_at"] = pd.to_datetime(crm["updated_at"])
    system = crm["source_system"] if "source_system" in crm.columns else pd.Series(None, index=crm.index)
    rank = {s: i for i, s in enumerate(SOURCE_PRIORITY)}
    records["source_rank"] = system.map(rank).fillna(len(SOURCE_PRIORITY)).astype(np.int64)
    usable = norm["email_norm"].where(~norm["email_placeholder"].astype(bool), None)
    records["email"] = usable
    records["email_typo"] = norm["email_typo_suggestion"].notna()
    records["first_name"] = map_distinct(crm["first_name"], normalize_name)
    records["last_name"] = map_distinct(crm["last_name"], normalize_name)
    records["phone"] = norm["phone_e164"]
    records["country"] = norm["country_iso"]
    for column in ("city", "postcode"):
        records[column] = map_distinct(crm[column], lambda v: str(v).strip() or None)
    records["timezone"] = map_distinct(crm["timezone"], normalize_timezone)
    records["created_at"] = pd.to_datetime(crm["created_at"])
    profiles = survive(records)
    profiles["source_record_count"] = records.groupby("customer_id").size().reindex(profiles.index).astype("int64")
    profiles = profiles.reset_index()
    profiles["timezone"] = profiles["timezone"].fillna(map_distinct(profiles["country"], default_timezone))

    consent_events = _keyed(consent_events)  # normalise the consent log's addresses once for all purposes
    state = consent_state(consent_events, email_events)
    profiles = profiles.join(state, on="email")
    profiles["marketing_consent"] = profiles["marketing_consent"].astype("boolean").fillna(False).astype(bool)
    profiles.loc[profiles["email"].isna(), "marketing_consent"] = False
    profiles["suppressed_reason"] = profiles["suppressed_reason"].astype(object).where(profiles["suppressed_reason"].notna(), None)
    profiles["email_typo_suggestion"] = map_distinct(profiles["email"], email_typo_suggestion)

    emails = pd.DataFrame({"customer_id": records["customer_id"], "email_norm": usable})
    sms = profiles["customer_id"].map(purpose_consent(consent_events, emails, "marketing_sms"))
    profiles["sms_consent"] = (sms == "granted").astype(bool)  # opt-in: nothing recorded means no
    personal = profiles["customer_id"].map(purpose_consent(consent_events, emails, "personalization"))
    profiles["personalization_consent"] = (personal != "revoked").astype(bool)  # legitimate interest unless objected
    for column in ("created_at", "updated_at"):
        profiles[column] = pd.to_datetime(profiles[column]).astype("datetime64[ns]")
    text_columns = ["email", "first_name", "last_name", "phone", "country", "city", "postcode", "timezone",
                    "email_typo_suggestion"]
    for column in text_columns:
        profiles[column] = profiles[column].astype(object).where(profiles[column].notna(), None)
    return profiles[PROFILE_COLUMNS].reset_index(drop=True)


#: The CRM columns identity and profiles read (the warehouse table has lineage columns besides).
CRM_COLUMNS = ("customer_ref, email, first_name, last_name, phone, country, city, postcode, timezone, "
               "created_at, updated_at, source_system")


def profiles_from_warehouse(query: Callable[[str], pd.DataFrame]) -> pd.DataFrame:
    """Read what customer_profiles needs through ``query`` (one warehouse session) and build the profiles.

    The identity step's normalised values (``crm_normalized``) are reused, not computed a second time, and only
    the e-mail events that change consent are read: filtered in the warehouse, not in pandas.
    """
    suppressing = ", ".join(f"'{e}'" for e in (*UNSUBSCRIBE_EVENTS, *HARD_SUPPRESSION_EVENTS))
    crm = query(f"SELECT {CRM_COLUMNS} FROM crm_customers")
    links = query("SELECT source_record_id, customer_id FROM customer_identity_links")
    norm = query("SELECT customer_ref, email_norm, email_placeholder, email_typo_suggestion, country_iso, "
                 "phone_e164 FROM crm_normalized")
    consent = query("SELECT email, purpose, status, changed_at FROM consent_events")
    esp = query(f"SELECT email, event_type, occurred_at FROM email_events WHERE event_type IN ({suppressing})")
    return build_customer_profiles(crm, links, consent, esp, normalized=norm)
