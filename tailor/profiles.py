"""Customer profiles: normalise source records, resolve them to one master customer, attach consent.

Identity here is exact: records whose normalised email is equal belong to one customer. Which value
of each field survives a merge is decided in ``SURVIVORSHIP`` (one readable place).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pandas as pd
import pandera.pandas as pa
import pycountry
import pytz
from pandera.typing import Series

# Spellings people type that ISO's own names do not cover.
COUNTRY_ALIASES = {
    "uk": "GB", "england": "GB", "great britain": "GB", "scotland": "GB", "wales": "GB",
    "deutschland": "DE", "allemagne": "DE", "frankreich": "FR", "espana": "ES", "españa": "ES",
    "italia": "IT", "nederland": "NL", "holland": "NL", "the netherlands": "NL", "österreich": "AT",
    "schweiz": "CH", "suisse": "CH", "usa": "US", "u.s.a.": "US", "u.s.": "US", "america": "US",
    "united states of america": "US",
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_WHITESPACE = re.compile(r"\s+")

# Survivorship: for each profile field, how the winning value is chosen among a customer's records.
#   "most_complete": the longest non-empty value (a typo drops letters more often than it adds them);
#                    on a tie, the most recently updated record's
#   "latest": the non-empty value of the most recently updated record
#   "earliest": the smallest value;  "latest_value": the largest value
SURVIVORSHIP: dict[str, str] = {
    "first_name": "most_complete",
    "last_name": "most_complete",
    "phone": "latest",
    "country": "latest",
    "city": "latest",
    "postcode": "latest",
    "timezone": "latest",
    "created_at": "earliest",
    "updated_at": "latest_value",
}

UNSUBSCRIBE_EVENTS = ("unsubscribe", "group_unsubscribe")
HARD_SUPPRESSION_EVENTS = {"bounce": "bounce", "spamreport": "spamreport"}


def normalize_email(raw: object) -> str | None:
    """Trim, Unicode-normalise (NFKC) and lower-case; None when it is not an address at all."""
    if not isinstance(raw, str):
        return None
    email = unicodedata.normalize("NFKC", raw).strip().lower()
    return email if _EMAIL.match(email) else None


def normalize_name(raw: object) -> str | None:
    if not isinstance(raw, str) or not raw.strip():
        return None
    name = _WHITESPACE.sub(" ", unicodedata.normalize("NFC", raw).strip())
    # Only fix names typed all in one case; "McDonald" or "van der Berg" are left as the person wrote them.
    return name.title() if name.isupper() or name.islower() else name


@lru_cache(maxsize=4096)
def normalize_country(raw: str | None) -> str | None:
    """ISO-3166 alpha-2 code for a country typed as a code or a name; None when unknown."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    text = raw.strip()
    alias = COUNTRY_ALIASES.get(text.lower())
    if alias:
        return alias
    try:
        return pycountry.countries.lookup(text).alpha_2
    except LookupError:
        return None


@lru_cache(maxsize=512)
def default_timezone(country: str | None) -> str | None:
    """The main time zone of a country (its first IANA zone), for customers who did not give one."""
    if not country:
        return None
    zones = pytz.country_timezones.get(country.lower())
    return zones[0] if zones else None


def _valid_timezone(tz: object) -> str | None:
    return tz if isinstance(tz, str) and tz in pytz.all_timezones_set else None


def customer_id_for(customer_ref: str) -> str:
    """A stable master id from the lowest source reference of the merged records."""
    return "cus_" + re.sub(r"[^0-9a-z]+", "", customer_ref.lower().removeprefix("crm-"))


class CustomerIdentityLinksSchema(pa.DataFrameModel):
    source: Series[str]
    source_record_id: Series[str] = pa.Field(unique=True)
    customer_id: Series[str] = pa.Field(str_startswith="cus_")
    rule: Series[str] = pa.Field(isin=["exact_email", "single_record"])
    score: Series[float] = pa.Field(ge=0, le=1)


class CustomerProfilesSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(unique=True, str_startswith="cus_")
    email: Series[str] = pa.Field(nullable=True, str_matches=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    first_name: Series[str] = pa.Field(nullable=True)
    last_name: Series[str] = pa.Field(nullable=True)
    phone: Series[str] = pa.Field(nullable=True)
    country: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    city: Series[str] = pa.Field(nullable=True)
    postcode: Series[str] = pa.Field(nullable=True)
    timezone: Series[str] = pa.Field(nullable=True)
    created_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    updated_at: Series[pd.Timestamp] = pa.Field(nullable=True)
    source_record_count: Series[int] = pa.Field(ge=1)
    marketing_consent: Series[bool]
    suppressed_reason: Series[str] = pa.Field(nullable=True, isin=["bounce", "spamreport", "unsubscribe"])

    class Config:
        strict = True
        ordered = True


PROFILE_COLUMNS = list(CustomerProfilesSchema.to_schema().columns)


def resolve_identities(crm: pd.DataFrame) -> pd.DataFrame:
    """Link every CRM record to a master customer id (exact match on the normalised email)."""
    records = crm[["customer_ref", "email"]].copy()
    records["email_norm"] = records["email"].map(normalize_email)
    has_email = records["email_norm"].notna()
    group_key = records["email_norm"].where(has_email, "ref:" + records["customer_ref"])
    lowest_ref = records.groupby(group_key)["customer_ref"].transform("min")
    group_size = records.groupby(group_key)["customer_ref"].transform("size")
    links = pd.DataFrame(
        {
            "source": "crm",
            "source_record_id": records["customer_ref"].astype(str),
            "customer_id": lowest_ref.map(customer_id_for),
            "rule": (group_size > 1).map({True: "exact_email", False: "single_record"}),
            "score": 1.0,
        }
    )
    return links.sort_values("source_record_id", kind="stable").reset_index(drop=True)


def _survive(records: pd.DataFrame) -> pd.DataFrame:
    ordered = records.sort_values(["customer_id", "updated_at", "customer_ref"], na_position="first", kind="stable")
    grouped = ordered.groupby("customer_id", sort=True)
    out = pd.DataFrame(index=grouped.size().index)
    for field, rule in SURVIVORSHIP.items():
        if rule == "latest":
            out[field] = grouped[field].last()  # last non-null value in updated_at order
        elif rule == "most_complete":
            length = ordered[field].str.len().fillna(-1)
            # stable sort by length keeps updated_at order among equals: the last row is the winner
            longest = ordered.assign(_len=length).sort_values(["customer_id", "_len"], kind="stable")
            out[field] = longest.groupby("customer_id", sort=True)[field].last()
        elif rule == "earliest":
            out[field] = grouped[field].min()
        elif rule == "latest_value":
            out[field] = grouped[field].max()
        else:  # pragma: no cover - SURVIVORSHIP is a literal table above
            raise ValueError(f"unknown survivorship rule {rule!r} for {field}")
    out["email"] = grouped["email_norm"].first()
    out["source_record_count"] = grouped.size().astype("int64")
    return out.reset_index()


def consent_state(consent_events: pd.DataFrame, email_events: pd.DataFrame) -> pd.DataFrame:
    """Per normalised email: marketing consent and suppression, from consent changes and ESP events."""
    consent = consent_events[consent_events["purpose"] == "marketing_email"].copy()
    consent["email_norm"] = consent["email"].map(normalize_email)
    consent = consent.dropna(subset=["email_norm"]).sort_values("changed_at", kind="stable")
    latest = consent.groupby("email_norm").agg(status=("status", "last"), changed_at=("changed_at", "last"))

    esp = email_events[["email", "event_type", "occurred_at"]].copy()
    esp["email_norm"] = esp["email"].map(normalize_email)
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


def build_customer_profiles(
    crm: pd.DataFrame, links: pd.DataFrame, consent_events: pd.DataFrame, email_events: pd.DataFrame
) -> pd.DataFrame:
    """One row per master customer, cleaned, merged by ``SURVIVORSHIP``, with consent state."""
    records = crm.merge(links[["source_record_id", "customer_id"]], left_on="customer_ref", right_on="source_record_id")
    records["email_norm"] = records["email"].map(normalize_email)
    for column in ("first_name", "last_name"):
        records[column] = records[column].map(normalize_name)
    records["country"] = records["country"].map(normalize_country)
    records["timezone"] = records["timezone"].map(_valid_timezone)
    for column in ("phone", "city", "postcode"):
        records[column] = records[column].where(records[column].notna(), None)
    profiles = _survive(records)
    profiles["timezone"] = profiles["timezone"].fillna(profiles["country"].map(default_timezone))

    state = consent_state(consent_events, email_events)
    profiles = profiles.join(state, on="email")
    profiles["marketing_consent"] = profiles["marketing_consent"].astype("boolean").fillna(False).astype(bool)
    profiles.loc[profiles["email"].isna(), "marketing_consent"] = False
    profiles["suppressed_reason"] = profiles["suppressed_reason"].astype(object).where(profiles["suppressed_reason"].notna(), None)
    for column in ("created_at", "updated_at"):
        profiles[column] = pd.to_datetime(profiles[column]).astype("datetime64[ns]")
    text_columns = ["email", "first_name", "last_name", "phone", "country", "city", "postcode", "timezone"]
    for column in text_columns:
        profiles[column] = profiles[column].astype(object).where(profiles[column].notna(), None)
    return profiles[PROFILE_COLUMNS].reset_index(drop=True)
