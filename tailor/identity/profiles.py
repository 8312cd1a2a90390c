"""Customer profiles: one cleaned profile per master customer, merged by ``SURVIVORSHIP``, with its consent.

Identity resolution (:mod:`tailor.identity.resolve`) says which CRM records are one customer. Here each
record's values are cleaned (:mod:`tailor.identity.normalize`), the customer's records compete field by field
(:mod:`tailor.identity.survivorship`), and consent is joined by e-mail (:mod:`tailor.identity.consent`).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.addresses import MAX_ADDRESS_LENGTH, normalize_address
from tailor.identity.consent import (
    HARD_SUPPRESSION_EVENTS,
    SUPPRESSED_REASONS,
    UNSUBSCRIBE_EVENTS,
    consent_moment,
    consent_state,
    purpose_consent,
    with_email_keys,
)
from tailor.identity.matching_view import normalize_records
from tailor.identity.normalize import (
    clean_text,
    default_timezone,
    email_typo_suggestion,
    map_distinct,
    normalize_name,
    normalize_timezone,
)
from tailor.identity.resolve import ref_order
from tailor.identity.survivorship import SOURCE_PRIORITY, survive
from tailor.sources.contracts import CRM_COLUMNS
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.sql import string_literal


class CustomerProfilesSchema(pa.DataFrameModel):
    customer_id: Series[str] = pa.Field(unique=True, str_startswith="cus_")
    email: Series[str] = pa.Field(nullable=True)  # a normalised address (the check below)
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
    suppressed_reason: Series[str] = pa.Field(nullable=True, isin=list(SUPPRESSED_REASONS))
    # the typo flag and the consents of the other purposes follow (readers select columns by name; the columns
    # above keep their positions)
    email_typo_suggestion: Series[str] = pa.Field(nullable=True)
    sms_consent: Series[bool]
    personalization_consent: Series[bool]

    class Config:
        strict = True
        ordered = True

    @pa.check("email", name="normalised_address")
    @classmethod
    def email_is_a_normalised_address(cls, email: Series[str]) -> Series[bool]:
        """Every e-mail is what tailor.addresses makes of it: no format or control character, no ``>``, lower case.
        Guards against a ``crm_normalized`` table written by an older normalisation."""
        return is_normalised_address(email)


# A shortcut, not the rule: lower-case ASCII letters, digits and ``._+-`` around one ``@`` and a dotted domain are
# always their own normalisation (tests/identity/test_hostile_values.py checks it), so only the other values pay
# for tailor.addresses value by value (a million plain profile addresses: 0.7 s instead of 4 s).
_PLAIN_ADDRESS = r"[a-z0-9._+-]{1,64}@[a-z0-9-]+(?:\.[a-z0-9-]+)+"


def is_normalised_address(email: pd.Series) -> pd.Series:
    """Per value: True when it equals :func:`tailor.addresses.normalize_address` of itself (False for missing)."""
    text = email.astype(object)
    ok = (text.str.fullmatch(_PLAIN_ADDRESS).eq(True) & text.str.len().le(MAX_ADDRESS_LENGTH)).to_numpy()
    others = np.flatnonzero(~ok & text.notna().to_numpy())
    rest = text.iloc[others]
    ok[others] = (map_distinct(rest, normalize_address) == rest).to_numpy()
    return pd.Series(ok, index=email.index, dtype=bool)


PROFILE_COLUMNS = list(CustomerProfilesSchema.to_schema().columns)


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


def survivorship_records(crm: pd.DataFrame, links: pd.DataFrame, normalized: pd.DataFrame) -> pd.DataFrame:
    """What :func:`~tailor.identity.survivorship.survive` reads: one row per CRM record (in ``crm``'s order) with
    its customer, its ranks and its cleaned values; ``normalized`` is aligned with ``crm``.

    ``email`` is the usable address (placeholders are nobody's): the profile's e-mail, and the names' evidence
    of their spelling."""
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
    records["email"] = normalized["email_norm"].where(~normalized["email_placeholder"].astype(bool), None)
    records["email_typo"] = normalized["email_typo_suggestion"].notna()
    records["first_name"] = map_distinct(crm["first_name"], normalize_name)
    records["last_name"] = map_distinct(crm["last_name"], normalize_name)
    records["phone"] = normalized["phone_e164"]
    records["country"] = normalized["country_iso"]
    for column in ("city", "postcode"):
        records[column] = map_distinct(crm[column], lambda v: clean_text(str(v)))
    records["timezone"] = map_distinct(crm["timezone"], normalize_timezone)
    records["created_at"] = pd.to_datetime(crm["created_at"])
    return records


def build_customer_profiles(
    crm: pd.DataFrame, links: pd.DataFrame, consent_events: pd.DataFrame, email_events: pd.DataFrame,
    normalized: pd.DataFrame | None = None, *, as_of: datetime | pd.Timestamp | None = None,
) -> pd.DataFrame:
    """One row per master customer, cleaned, merged by ``SURVIVORSHIP``, with consent per purpose as of ``as_of``
    (the run's moment; None: now): grants dated after it are ignored (:mod:`tailor.identity.consent`).

    ``normalized`` (``tailor.identity.matching_view.normalize_records(crm)``, e.g. the ``crm_normalized`` table the
    identity step wrote) may be passed to avoid normalising twice; its rows are matched to ``crm`` by
    ``customer_ref``, so the two may come from the warehouse in any order."""
    crm = crm.reset_index(drop=True)
    norm = normalize_records(crm) if normalized is None else _aligned(normalized, crm)
    records = survivorship_records(crm, links, norm)
    profiles = survive(records)
    profiles["source_record_count"] = records.groupby("customer_id").size().reindex(profiles.index).astype("int64")
    profiles = profiles.reset_index()
    profiles["timezone"] = profiles["timezone"].fillna(map_distinct(profiles["country"], default_timezone))
    profiles = _with_consent(profiles, records[["customer_id", "email"]], consent_events, email_events,
                             consent_moment(as_of))
    for column in ("created_at", "updated_at"):
        profiles[column] = pd.to_datetime(profiles[column]).astype("datetime64[ns]")
    text_columns = ["email", "first_name", "last_name", "phone", "country", "city", "postcode", "timezone",
                    "email_typo_suggestion"]
    for column in text_columns:
        profiles[column] = profiles[column].astype(object).where(profiles[column].notna(), None)
    return profiles[PROFILE_COLUMNS].reset_index(drop=True)


def _with_consent(profiles: pd.DataFrame, emails: pd.DataFrame, consent_events: pd.DataFrame,
                  email_events: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """``profiles`` with marketing consent and suppression of the profile's e-mail, the domain typo flag, and SMS
    and personalization consent of any of the customer's ``emails`` (customer_id, email: every usable one), all
    as of the one moment ``as_of``."""
    consent_events = with_email_keys(consent_events)  # normalise the consent log's addresses once for all purposes
    profiles = profiles.join(consent_state(consent_events, email_events, as_of=as_of), on="email")
    profiles["marketing_consent"] = profiles["marketing_consent"].astype("boolean").fillna(False).astype(bool)
    profiles.loc[profiles["email"].isna(), "marketing_consent"] = False
    reason = profiles["suppressed_reason"]
    profiles["suppressed_reason"] = reason.astype(object).where(reason.notna(), None)
    profiles["email_typo_suggestion"] = map_distinct(profiles["email"], email_typo_suggestion)

    emails = emails.rename(columns={"email": "email_norm"})
    sms = profiles["customer_id"].map(purpose_consent(consent_events, emails, "marketing_sms", as_of=as_of))
    profiles["sms_consent"] = (sms == "granted").astype(bool)  # opt-in: nothing recorded means no
    personal = profiles["customer_id"].map(purpose_consent(consent_events, emails, "personalization", as_of=as_of))
    profiles["personalization_consent"] = (personal != "revoked").astype(bool)  # legitimate interest unless objected
    return profiles


def profiles_from_warehouse(session: WarehouseSession, *, as_of: datetime | pd.Timestamp | None = None) -> pd.DataFrame:
    """Read what customer_profiles needs in one warehouse ``session`` and build the profiles, consent as of
    ``as_of`` (the run's moment; None: now).

    The identity step's normalised values (``crm_normalized``) are reused, not computed a second time, and only
    the e-mail events that change consent are read: filtered in the warehouse, not in pandas.
    """
    suppressing = ", ".join(string_literal(e) for e in (*UNSUBSCRIBE_EVENTS, *HARD_SUPPRESSION_EVENTS))
    crm = session.query(f"SELECT {CRM_COLUMNS} FROM crm_customers")
    links = session.query("SELECT source_record_id, customer_id FROM customer_identity_links")
    norm = session.query("SELECT customer_ref, email_norm, email_placeholder, email_typo_suggestion, country_iso, "
                         "phone_e164 FROM crm_normalized")
    consent = session.query("SELECT email, purpose, status, changed_at FROM consent_events")
    esp = session.query(
        f"SELECT email, event_type, occurred_at FROM email_events WHERE event_type IN ({suppressing})")
    return build_customer_profiles(crm, links, consent, esp, normalized=norm, as_of=as_of)
