"""Customer profiles (tailor.identity.profiles, consent): survivorship through whole CRM records, consent and
suppression per address and per person, profiles read from a warehouse session."""

from __future__ import annotations

import pandas as pd

from tailor.identity.consent import consent_state
from tailor.identity.matching_view import normalize_records
from tailor.identity.profiles import (
    CustomerProfilesSchema,
    build_customer_profiles,
    profiles_from_warehouse,
)
from tailor.identity.resolve import CustomerIdentityLinksSchema, resolve_identities
from tailor.sources.contracts import CRM_COLUMNS
from tailor.warehouse.duckdb_connection import DuckDBFile
from tests.tables import as_crm_customers

T = pd.Timestamp


def crm() -> pd.DataFrame:
    rows = [
        # ref, email, first, last, phone, country, city, postcode, tz, created, updated
        ("CRM-000001", "anna.schmidt@example.com", "Anna", "Schmidt", None, "Germany", "Berlin", "10115", "Europe/Berlin", T("2023-01-01"), T("2024-01-01")),
        ("CRM-000007", "  Anna.Schmidt@EXAMPLE.com ", "Ana", "Schmidt", "+4930123", "DE", "Hamburg", None, None, T("2023-06-01"), T("2024-06-01")),
        ("CRM-000002", "ben@example.co.uk", "BEN", "carter", None, "UK", "London", None, None, T("2023-02-01"), T("2023-02-01")),
        ("CRM-000003", None, "Chloé", "Dubois", None, "fr", None, None, "Not/AZone", T("2023-03-01"), T("2023-03-01")),
        ("CRM-000004", "dmitri@example.com", "Dmitri", "Ivanov", None, "USA", None, None, None, T("2023-04-01"), T("2023-04-01")),
    ]
    columns = ["customer_ref", "email", "first_name", "last_name", "phone", "country", "city", "postcode", "timezone", "created_at", "updated_at"]
    return pd.DataFrame(rows, columns=columns)


def consent() -> pd.DataFrame:
    return pd.DataFrame(
        [
            ("anna.schmidt@example.com", "marketing_email", "granted", T("2023-01-01")),
            ("BEN@example.co.uk", "marketing_email", "granted", T("2023-02-01")),
            ("dmitri@example.com", "marketing_email", "granted", T("2023-04-01")),
            ("dmitri@example.com", "marketing_email", "revoked", T("2024-04-01")),
        ],
        columns=["email", "purpose", "status", "changed_at"],
    )


def esp(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["email", "event_type", "occurred_at"])


def test_records_with_the_same_normalised_email_become_one_customer():
    links = resolve_identities(crm())
    CustomerIdentityLinksSchema.validate(links)
    by_ref = links.set_index("source_record_id")
    assert by_ref.loc["CRM-000001", "customer_id"] == by_ref.loc["CRM-000007", "customer_id"] == "cus_000001"
    assert by_ref.loc["CRM-000001", "rule"] == "exact_email"
    # no email is never a match key: such a record stays on its own
    assert by_ref.loc["CRM-000003", ["customer_id", "rule"]].tolist() == ["cus_000003", "single_record"]
    assert links["customer_id"].nunique() == 4


def test_profiles_survive_latest_values_and_carry_consent():
    records = crm()
    profiles = build_customer_profiles(records, resolve_identities(records), consent(), esp()).set_index("customer_id")
    CustomerProfilesSchema.validate(profiles.reset_index())
    anna = profiles.loc["cus_000001"]
    # the later record (CRM-000007, updated 2024-06) wins where it has a value; earlier values fill the gaps;
    # names keep the most complete spelling ("Anna" over the later typo "Ana")
    assert (anna["first_name"], anna["city"], anna["postcode"], anna["phone"]) == ("Anna", "Hamburg", "10115", "+4930123")
    assert (anna["email"], anna["country"], anna["timezone"]) == ("anna.schmidt@example.com", "DE", "Europe/Berlin")
    assert anna["created_at"] == T("2023-01-01") and anna["updated_at"] == T("2024-06-01")
    assert anna["source_record_count"] == 2 and anna["marketing_consent"]
    ben = profiles.loc["cus_000002"]
    assert (ben["first_name"], ben["last_name"], ben["country"], ben["timezone"]) == ("Ben", "Carter", "GB", "Europe/London")
    assert ben["marketing_consent"]  # consent email typed in upper case still matches
    chloe = profiles.loc["cus_000003"]
    assert chloe["email"] is None and not chloe["marketing_consent"] and chloe["timezone"] == "Europe/Paris"
    assert not profiles.loc["cus_000004", "marketing_consent"]  # revoked later


def test_unsubscribe_bounce_and_spam_reports_suppress():
    events = esp(
        ("anna.schmidt@example.com", "unsubscribe", T("2024-02-01")),
        ("ben@example.co.uk", "bounce", T("2024-02-01")),
        ("dmitri@example.com", "bounce", T("2024-02-01")),
        ("dmitri@example.com", "spamreport", T("2024-03-01")),
    )
    state = consent_state(consent(), events)
    assert state.loc["anna.schmidt@example.com"].tolist() == [False, "unsubscribe"]
    assert state.loc["ben@example.co.uk"].tolist() == [True, "bounce"]  # consent stands, but the address bounces
    assert state.loc["dmitri@example.com", "suppressed_reason"] == "spamreport"


def test_consent_granted_again_after_an_unsubscribe_counts():
    events = esp(("anna.schmidt@example.com", "unsubscribe", T("2022-12-01")))
    state = consent_state(consent(), events)
    assert state.loc["anna.schmidt@example.com"].tolist() == [True, None]


def survivors(*rows) -> pd.Series:
    """Profile of ONE customer built from hand-made CRM rows (ref, email, first, last, phone, city, postcode,
    updated, source_system)."""
    cols = ["customer_ref", "email", "first_name", "last_name", "phone", "city", "postcode", "updated_at", "source_system"]
    frame = pd.DataFrame(list(rows), columns=cols)
    frame["country"], frame["timezone"] = "AT", None
    frame["created_at"] = frame["updated_at"] - pd.Timedelta(days=10)
    links = pd.DataFrame({"source_record_id": frame["customer_ref"], "customer_id": "cus_000001"})
    no_consent = pd.DataFrame(columns=["email", "purpose", "status", "changed_at"])
    profiles = build_customer_profiles(frame, links, no_consent, esp())
    CustomerProfilesSchema.validate(profiles)
    assert len(profiles) == 1
    return profiles.iloc[0]


def test_survivorship_by_source_priority_recency_completeness_and_typo():
    p = survivors(
        ("CRM-000001", "k.berger@example.com", "Katharina", "Berger", "+43 664 5551234", "Wien", "1010", T("2024-01-01"), "shop"),
        ("CRM-000002", "kathi@gmial.com", "Kathi", "Berger-Huber", None, "Graz", "8010", T("2024-06-01"), "newsletter"),
        ("CRM-000003", "katharina.b@example.org", "Katharine", "Bergerr", "0664 5559999", None, None, T("2024-03-01"), "pos"),
    )
    # names: the most trusted system (shop) wins although the newsletter record is newer
    assert (p["first_name"], p["last_name"]) == ("Katharina", "Berger")
    # e-mail: the newest one WITHOUT a suspected typo (the typo'd newsletter address is newer still)
    assert p["email"] == "katharina.b@example.org" and p["email_typo_suggestion"] is None
    # phone: the newest record that has one, in E.164; address: the newest record that has it
    assert p["phone"] == "+436645559999" and (p["city"], p["postcode"]) == ("Graz", "8010")
    assert p["created_at"] == T("2023-12-22") and p["updated_at"] == T("2024-06-01")
    assert p["timezone"] == "Europe/Vienna" and p["source_record_count"] == 3


def test_survivorship_tie_breaks():
    # unknown source ranks after every known one; equal source: the longer name; equal length: the lower ref
    p = survivors(("CRM-000002", None, "Jo", "Ng", None, None, None, T("2024-01-01"), None),
                  ("CRM-000003", None, "Joe", "Ngo", None, None, None, T("2024-01-01"), "newsletter"),
                  ("CRM-000004", None, "Joa", "Nga", None, None, None, T("2024-01-01"), "newsletter"))
    assert (p["first_name"], p["last_name"], p["email"]) == ("Joe", "Ngo", None)
    # only a typo'd address: kept (never rewritten) and flagged
    p = survivors(("CRM-000001", "Lena@Hotmial.com ", "Lena", "Weber", None, None, None, T("2024-01-01"), "shop"))
    assert (p["email"], p["email_typo_suggestion"]) == ("lena@hotmial.com", "hotmail.com")


def test_consent_per_purpose_and_placeholders():
    records = pd.DataFrame({
        "customer_ref": ["CRM-000001", "CRM-000002", "CRM-000003", "CRM-000004"],
        "email": ["old@example.com", "new@example.com", "test@test.com", "solo@example.com"],
        "first_name": ["Lena", "Lena", "Tom", "Eva"], "last_name": ["Weber", "Weber", "Kraus", "Bauer"],
        "phone": None, "country": "DE", "city": None, "postcode": None, "timezone": None,
        "created_at": [T("2023-01-01"), T("2024-01-01"), T("2023-01-01"), T("2023-01-01")],
        "updated_at": [T("2023-01-01"), T("2024-01-01"), T("2023-01-01"), T("2023-01-01")],
    })
    links = pd.DataFrame({"source_record_id": records["customer_ref"],
                          "customer_id": ["cus_000001", "cus_000001", "cus_000003", "cus_000004"]})
    events = pd.DataFrame([
        ("new@example.com", "marketing_email", "granted", T("2024-01-01")),
        ("new@example.com", "marketing_sms", "granted", T("2024-01-02")),
        ("old@example.com", "personalization", "revoked", T("2024-02-01")),  # objected from the old address
        ("test@test.com", "marketing_email", "granted", T("2024-01-01")),  # nobody's: a placeholder
        ("solo@example.com", "marketing_sms", "granted", T("2024-01-01")),
        ("Solo@Example.com", "marketing_sms", "revoked", T("2024-03-01")),
        ("solo@example.com", "personalization", "revoked", T("2024-01-01")),
        ("solo@example.com", "personalization", "granted", T("2024-02-01")),
    ], columns=["email", "purpose", "status", "changed_at"])
    p = build_customer_profiles(records, links, events, esp()).set_index("customer_id")
    CustomerProfilesSchema.validate(p.reset_index())
    assert p.loc["cus_000001", ["email", "marketing_consent", "sms_consent", "personalization_consent"]].tolist() == [
        "new@example.com", True, True, False]
    assert p.loc["cus_000003", ["email", "marketing_consent", "sms_consent", "personalization_consent"]].tolist() == [
        None, False, False, True]
    assert p.loc["cus_000004", ["marketing_consent", "sms_consent", "personalization_consent"]].tolist() == [
        False, False, True]
    assert list(p.reset_index().columns[-3:]) == ["email_typo_suggestion", "sms_consent", "personalization_consent"]


def test_profiles_from_a_warehouse_session_equal_the_profiles_built_in_memory(tmp_path):
    records = crm().assign(source_system="shop")
    links = resolve_identities(records)
    events = esp(("anna.schmidt@example.com", "unsubscribe", T("2024-02-01")),
                 ("ben@example.co.uk", "open", T("2024-02-01")))  # not a consent change: not read
    warehouse = DuckDBFile(str(tmp_path / "warehouse.duckdb"))
    with warehouse.session() as s:
        s.write_table("crm_customers", as_crm_customers(records))
        s.write_table("crm_normalized", normalize_records(records))
        s.write_table("customer_identity_links", links)
        s.write_table("consent_events", consent())
        s.write_table("email_events", events)
    with warehouse.session() as s:
        read = list(s.query(f"SELECT {CRM_COLUMNS} FROM crm_customers").columns)
        assert read == [c.strip() for c in CRM_COLUMNS.split(",")] and set(crm().columns) < set(read)
        profiles = profiles_from_warehouse(s)
    CustomerProfilesSchema.validate(profiles)
    expected = build_customer_profiles(records, links, consent(), events.iloc[:1])
    pd.testing.assert_frame_equal(profiles, expected)
    assert profiles.set_index("customer_id").loc["cus_000001", "suppressed_reason"] == "unsubscribe"
