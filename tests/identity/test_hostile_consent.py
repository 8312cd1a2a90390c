"""Consent as of the run's moment, and one tie rule for every purpose (issue 11, item 6).

A grant dated after ``as_of`` (``granted, 2099-01-01``) must not override an earlier revocation or unsubscribe;
at equal timestamps a revocation beats a grant and an unsubscribe beats a grant, whatever the table order, for
marketing e-mail, SMS and personalization alike."""

from __future__ import annotations

import pandas as pd
import pytest

from tailor.identity.consent import consent_state, latest_status, purpose_consent
from tailor.identity.matching_view import normalize_records
from tailor.identity.profiles import CustomerProfilesSchema, build_customer_profiles, profiles_from_warehouse
from tailor.warehouse.duckdb_connection import DuckDBFile
from tests.tables import as_crm_customers

T = pd.Timestamp
AS_OF = T("2026-11-15 12:00")
EMAIL = "lena.weber@example.com"
CONSENT_COLUMNS = ["email", "purpose", "status", "changed_at"]


def crm() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_ref": ["CRM-000001"], "email": [EMAIL], "first_name": ["Lena"], "last_name": ["Weber"],
        "phone": ["+49 30 55512345"], "country": ["DE"], "city": ["Berlin"], "postcode": ["10115"],
        "timezone": [None], "created_at": [T("2023-01-01")], "updated_at": [T("2024-01-01")],
        "source_system": ["shop"],
    })


def links() -> pd.DataFrame:
    return pd.DataFrame({"source_record_id": ["CRM-000001"], "customer_id": ["cus_000001"]})


def consent(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=CONSENT_COLUMNS)


def esp(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["email", "event_type", "occurred_at"])


def profile(events: pd.DataFrame, esp_events: pd.DataFrame | None = None, **kwargs) -> pd.Series:
    profiles = build_customer_profiles(crm(), links(), events, esp() if esp_events is None else esp_events, **kwargs)
    CustomerProfilesSchema.validate(profiles)
    return profiles.set_index("customer_id").loc["cus_000001"]


CONSENT_COLUMN = {"marketing_email": "marketing_consent", "marketing_sms": "sms_consent",
                  "personalization": "personalization_consent"}


@pytest.mark.parametrize("purpose", list(CONSENT_COLUMN))
def test_a_grant_dated_after_as_of_does_not_override_an_earlier_revocation(purpose):
    events = consent((EMAIL, purpose, "granted", T("2024-01-01")), (EMAIL, purpose, "revoked", T("2026-05-01")),
                     (EMAIL, purpose, "granted", T("2099-01-01")))
    assert not profile(events, as_of=AS_OF)[CONSENT_COLUMN[purpose]]


@pytest.mark.parametrize("purpose", list(CONSENT_COLUMN))
def test_a_grant_dated_after_as_of_does_not_count_even_when_plausible(purpose):
    # a run replayed as of 15 November does not see the grant of the 20th
    events = consent((EMAIL, purpose, "revoked", T("2026-01-01")), (EMAIL, purpose, "granted", T("2026-11-20")))
    assert not profile(events, as_of=AS_OF)[CONSENT_COLUMN[purpose]]
    # the same grant seen by a run as of the 21st counts
    assert profile(events, as_of=T("2026-11-21"))[CONSENT_COLUMN[purpose]]


@pytest.mark.parametrize("purpose", list(CONSENT_COLUMN))
def test_a_revocation_dated_after_as_of_still_counts(purpose):
    # fail safe: delivery re-checks the current profile, so a run replayed for a past moment must not mail or
    # personalise for someone who has objected since
    events = consent((EMAIL, purpose, "granted", T("2026-01-01")), (EMAIL, purpose, "revoked", T("2026-11-20")))
    assert not profile(events, as_of=AS_OF)[CONSENT_COLUMN[purpose]]


@pytest.mark.parametrize("purpose", list(CONSENT_COLUMN))
@pytest.mark.parametrize("revoked_first", [True, False])
def test_at_equal_timestamps_a_revocation_beats_a_grant_in_any_table_order(purpose, revoked_first):
    at = T("2026-03-01 09:30")
    rows = [(EMAIL, purpose, "revoked", at), (EMAIL, purpose, "granted", at)]
    events = consent(*(rows if revoked_first else rows[::-1]))
    assert not profile(events, as_of=AS_OF)[CONSENT_COLUMN[purpose]]


def test_the_issue_example_a_future_grant_against_a_revocation_and_an_unsubscribe():
    events = consent((EMAIL, "marketing_email", "granted", T("2024-01-01")),
                     (EMAIL, "marketing_email", "revoked", T("2026-06-01")),
                     (EMAIL, "marketing_email", "granted", T("2099-01-01")))
    unsubscribe = esp((EMAIL, "unsubscribe", T("2026-07-01")))
    state = consent_state(events, unsubscribe, as_of=AS_OF)
    assert state.loc[EMAIL].tolist() == [False, "unsubscribe"]
    p = profile(events, unsubscribe, as_of=AS_OF)
    assert (p["marketing_consent"], p["suppressed_reason"]) == (False, "unsubscribe")


def test_an_unsubscribe_at_the_same_instant_as_a_grant_wins():
    at = T("2026-03-01 09:30")
    events = consent((EMAIL, "marketing_email", "granted", at))
    state = consent_state(events, esp((EMAIL, "unsubscribe", at)), as_of=AS_OF)
    assert state.loc[EMAIL].tolist() == [False, "unsubscribe"]
    # one second later the grant is newer than the unsubscribe and counts again
    state = consent_state(events, esp((EMAIL, "unsubscribe", at - pd.Timedelta(seconds=1))), as_of=AS_OF)
    assert state.loc[EMAIL].tolist() == [True, None]


def test_an_unsubscribe_dated_after_as_of_still_suppresses():
    events = consent((EMAIL, "marketing_email", "granted", T("2026-01-01")))
    state = consent_state(events, esp((EMAIL, "group_unsubscribe", T("2026-11-20"))), as_of=AS_OF)
    assert state.loc[EMAIL].tolist() == [False, "unsubscribe"]


def test_a_grant_exactly_at_as_of_counts():
    events = consent((EMAIL, "marketing_email", "granted", AS_OF))
    assert consent_state(events, esp(), as_of=AS_OF).loc[EMAIL].tolist() == [True, None]


def test_without_as_of_a_grant_dated_in_the_future_of_the_clock_is_ignored():
    # nobody can have granted consent in 2099: with no as_of the cutoff is the present moment
    events = consent((EMAIL, "marketing_sms", "revoked", T("2024-01-01")),
                     (EMAIL, "marketing_sms", "granted", T("2099-01-01")))
    assert not profile(events)["sms_consent"]
    owners = pd.DataFrame({"customer_id": ["cus_000001"], "email_norm": [EMAIL]})
    assert purpose_consent(events, owners, "marketing_sms").to_dict() == {"cus_000001": "revoked"}


def test_latest_status_is_one_helper_for_every_purpose():
    at = T("2026-03-01")
    events = pd.DataFrame({
        "key": ["a", "a", "b", "b", "c", "c", "d"],
        "status": ["revoked", "granted", "granted", "revoked", "granted", "revoked", "granted"],
        "changed_at": [at, at, at, at + pd.Timedelta(days=1), T("2099-01-01"), at, T("2026-11-16")],
    })
    latest = latest_status(events, "key", as_of=AS_OF)
    # a: tie -> revoked; b: the later revocation; c: the 2099 grant is ignored; d: only a grant after as_of -> none
    assert latest["status"].to_dict() == {"a": "revoked", "b": "revoked", "c": "revoked"}
    assert latest.loc["b", "changed_at"] == at + pd.Timedelta(days=1)


def test_a_grant_without_a_time_is_ignored_and_a_revocation_without_one_counts():
    events = pd.DataFrame({"key": ["a", "b", "b"], "status": ["granted", "granted", "revoked"],
                           "changed_at": [pd.NaT, T("2026-01-01"), pd.NaT]})
    assert latest_status(events, "key", as_of=AS_OF)["status"].to_dict() == {"b": "revoked"}


def test_profiles_from_a_warehouse_are_built_as_of_the_given_moment(tmp_path):
    records = crm()
    events = consent((EMAIL, "marketing_email", "revoked", T("2026-06-01")),
                     (EMAIL, "marketing_email", "granted", T("2099-01-01")),
                     (EMAIL, "marketing_sms", "granted", T("2026-11-20")))
    warehouse = DuckDBFile(str(tmp_path / "warehouse.duckdb"))
    with warehouse.session() as s:
        s.write_table("crm_customers", as_crm_customers(records))
        s.write_table("crm_normalized", normalize_records(records))
        s.write_table("customer_identity_links", links())
        s.write_table("consent_events", events)
        s.write_table("email_events", esp((EMAIL, "open", T("2026-01-01"))))
    with warehouse.session() as s:
        before = profiles_from_warehouse(s, as_of=AS_OF).set_index("customer_id").loc["cus_000001"]
        after = profiles_from_warehouse(s, as_of=T("2026-11-21")).set_index("customer_id").loc["cus_000001"]
    assert (before["marketing_consent"], before["sms_consent"]) == (False, False)
    assert (after["marketing_consent"], after["sms_consent"]) == (False, True)
