"""Hostile values in CRM records, consent rows and ESP events (issue 11, item 8).

Addresses go through :mod:`tailor.addresses` everywhere in identity, so a zero-width space in a consent row
still reaches the customer, and ``probe09@example.com>`` or an address with a NUL is no address. Names, cities
and postcodes never carry control or format characters out of identity, and a 10,000-character name is no name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from tailor.addresses import normalize_address
from tailor.identity.consent import consent_state
from tailor.identity.matching_view import normalize_records
from tailor.identity.normalize import (
    MAX_NAME_LENGTH,
    clean_text,
    email_columns,
    name_key,
    normalize_email_column,
    normalize_name,
)
from tailor.identity.profiles import (
    CustomerProfilesSchema,
    build_customer_profiles,
    is_normalised_address,
    profiles_from_warehouse,
)
from tailor.identity.resolve import resolve_identities
from tailor.warehouse.duckdb_connection import DuckDBFile
from tests.tables import as_crm_customers

T = pd.Timestamp
HOSTILE_ADDRESSES = [
    "zw.test@example.com\u200b", "\ufeffZW.Test@Example.com ", "probe09@example.com>", "a\x00b@example.com",
    "anna@example.com\x00", "anna@example.com\r\nBcc: all@example.com", "Anna <anna@example.com>",
    "\u202eanna@example.com", "x" * 65 + "@example.com", "ｆｕｌｌ@example.com", None, float("nan"), 42,
]


def crm(*rows) -> pd.DataFrame:
    """CRM records (ref, email, first name, last name)."""
    frame = pd.DataFrame(list(rows), columns=["customer_ref", "email", "first_name", "last_name"])
    return frame.assign(phone=None, country="DE", city="Berlin", postcode="10115", timezone=None,
                        created_at=T("2024-01-01"), updated_at=T("2024-01-01"), source_system="shop")


def consent(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["email", "purpose", "status", "changed_at"])


def esp(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["email", "event_type", "occurred_at"])


def profiles(records: pd.DataFrame, events: pd.DataFrame, esp_events: pd.DataFrame | None = None) -> pd.DataFrame:
    built = build_customer_profiles(records, resolve_identities(records), events,
                                    esp() if esp_events is None else esp_events, as_of=T("2026-11-15"))
    CustomerProfilesSchema.validate(built)
    return built.set_index("customer_id")


def test_identity_normalises_addresses_exactly_as_tailor_addresses_does():
    raw = pd.Series(HOSTILE_ADDRESSES, dtype=object)
    expected = [normalize_address(v) for v in raw]
    assert normalize_email_column(raw).tolist() == expected
    assert email_columns(raw)["email_norm"].tolist() == expected
    assert expected[:4] == ["zw.test@example.com", "zw.test@example.com", None, None]


@pytest.mark.parametrize("raw", ["probe09@example.com>", "a\x00b@example.com", "anna@example.com\x00",
                                 "anna@example.com\r\nBcc: all@example.com", "Anna <anna@example.com>"])
def test_a_hostile_address_is_no_address_for_identity(raw):
    out = email_columns(pd.Series([raw], dtype=object))
    assert out.iloc[0].tolist() == [None, False, None]


def test_a_revocation_with_a_zero_width_space_reaches_the_customer():
    records = crm(("CRM-000001", "zw.test@example.com", "Zoe", "Test"))
    events = consent(("zw.test@example.com", "marketing_email", "granted", T("2024-01-01")),
                     ("zw.test@example.com\u200b", "marketing_email", "revoked", T("2024-06-01")),
                     ("zw.test@example.com", "marketing_sms", "granted", T("2024-01-01")),
                     ("\u200bzw.test@example.com", "marketing_sms", "revoked", T("2024-06-01")),
                     ("ZW.test@example.com\ufeff", "personalization", "revoked", T("2024-06-01")))
    p = profiles(records, events).loc["cus_000001"]
    assert p["email"] == "zw.test@example.com"
    assert (p["marketing_consent"], p["sms_consent"], p["personalization_consent"]) == (False, False, False)


def test_an_unsubscribe_with_format_characters_suppresses_the_customer():
    events = consent(("zw.test@example.com", "marketing_email", "granted", T("2024-01-01")))
    state = consent_state(events, esp(("zw.test@example.com\u2060", "unsubscribe", T("2024-06-01"))))
    assert state.loc["zw.test@example.com"].tolist() == [False, "unsubscribe"]


def test_crm_records_differing_by_a_format_character_are_one_customer():
    records = crm(("CRM-000001", "zw.test@example.com", "Zoe", "Test"),
                  ("CRM-000002", "zw.test@example.com\u200b", "Zoe", "Test"))
    links = resolve_identities(records).set_index("source_record_id")
    assert links["customer_id"].tolist() == ["cus_000001", "cus_000001"]
    assert links.loc["CRM-000002", "rule"] == "exact_email"


def test_a_customer_with_a_hostile_crm_address_has_no_email_rather_than_a_bad_one():
    records = crm(("CRM-000001", "probe09@example.com>", "Paul", "Probe"),
                  ("CRM-000002", "nul\x00@example.com", "Nina", "Null"))
    events = consent(("probe09@example.com>", "marketing_email", "granted", T("2024-01-01")),
                     ("probe09@example.com", "marketing_email", "granted", T("2024-01-01")),
                     ("nul\x00@example.com", "marketing_email", "granted", T("2024-01-01")))
    p = profiles(records, events)
    assert p[["email", "marketing_consent"]].values.tolist() == [[None, False], [None, False]]


def test_the_profile_schema_refuses_an_address_that_is_not_normalised():
    good = profiles(crm(("CRM-000001", "anna@example.com", "Anna", "Weber")), consent()).reset_index()
    for bad in ("probe09@example.com>", "anna@example.com\x00", "zw@example.com\u200b", "Anna@Example.com"):
        with pytest.raises(pandera.errors.SchemaError):
            CustomerProfilesSchema.validate(good.assign(email=bad))


def test_a_zero_width_revocation_through_the_warehouse(tmp_path):
    records = crm(("CRM-000001", "zw.test@example.com", "Zoe", "Test"),
                  ("CRM-000002", "probe09@example.com>", "Paul", "Probe"))
    events = consent(("zw.test@example.com", "marketing_email", "granted", T("2024-01-01")),
                     ("zw.test@example.com\u200b", "marketing_email", "revoked", T("2024-06-01")),
                     ("probe09@example.com", "marketing_email", "granted", T("2024-01-01")))
    warehouse = DuckDBFile(str(tmp_path / "warehouse.duckdb"))
    with warehouse.session() as s:
        s.write_table("crm_customers", as_crm_customers(records))
        s.write_table("crm_normalized", normalize_records(records))
        s.write_table("customer_identity_links", resolve_identities(records))
        s.write_table("consent_events", events)
        s.write_table("email_events", esp(("zw.test@example.com", "open", T("2024-02-01"))))
    with warehouse.session() as s:
        p = profiles_from_warehouse(s, as_of=T("2026-11-15")).set_index("customer_id")
    CustomerProfilesSchema.validate(p.reset_index())
    assert p.loc["cus_000001", ["email", "marketing_consent"]].tolist() == ["zw.test@example.com", False]
    assert p.loc["cus_000002", ["email", "marketing_consent"]].tolist() == [None, False]


@pytest.mark.parametrize(("raw", "expected"), [
    ("Anna\r\nBcc: x@example.com", "Anna Bcc: x@example.com"),  # line breaks are spaces, never a new header line
    ("Anna\x00", "Anna"), ("An\x00na", "An na"), ("\tBen\x7f", "Ben"), ("Chlo\u00e9\u0085", "Chloé"),
    ("\u202eAnna\u202c", "Anna"), ("Zo\u200be", "Zoe"), ("\ufeffMüller", "Müller"), ("Lena\u2028Marie", "Lena Marie"),
    ("\u200b\u200d", None), ("\x00\r\n", None), ("a\ud800b", "Ab"),  # a lone surrogate cannot be encoded
])
def test_names_lose_control_and_format_characters(raw, expected):
    assert normalize_name(raw) == expected


def test_a_name_longer_than_the_limit_is_no_name():
    assert normalize_name("A" * 10_000) is None and name_key("A" * 10_000) is None
    assert normalize_name("x" * MAX_NAME_LENGTH) == "X" + "x" * (MAX_NAME_LENGTH - 1)
    assert normalize_name("x" * (MAX_NAME_LENGTH + 1)) is None
    # the limit applies after cleaning: invisible characters do not count
    assert normalize_name("Anna" + "\u200b" * 500) == "Anna"


def test_clean_text_for_cities_and_postcodes():
    assert clean_text(" Berlin\r\n") == "Berlin" and clean_text("10\u200b115") == "10115"
    assert clean_text("\x00") is None and clean_text("B" * (MAX_NAME_LENGTH + 1)) is None and clean_text(None) is None


def test_profiles_hand_out_no_control_or_format_character():
    records = crm(("CRM-000001", "anna@example.com", "An\u200bna\r\n", "Web\x00er"),
                  ("CRM-000002", "ben@example.com", "B" * 10_000, "Carter\u202e"))
    records.loc[0, ["city", "postcode"]] = ["Ber\nlin", "101\u200b15"]
    p = profiles(records, consent())
    cleaned = p.loc["cus_000001", ["first_name", "last_name", "city", "postcode"]].tolist()
    assert cleaned == ["Anna", "Web er", "Ber lin", "10115"]
    assert p.loc["cus_000002", ["first_name", "last_name"]].tolist() == [None, "Carter"]
    text = p.select_dtypes(include="object").stack()
    assert not text.map(lambda v: isinstance(v, str) and not v.isprintable()).any()


def test_normalize_address_is_the_rule():
    # the identity column is the tailor.addresses rule, value by value
    values = ["A@B.com", "x@y.com\u200b", "bad", "probe09@example.com>"]
    assert normalize_email_column(pd.Series(values)).tolist() == [normalize_address(v) for v in values]


def test_the_plain_address_shortcut_of_the_profile_check_never_disagrees_with_the_rule():
    rng = np.random.default_rng(11)
    alphabet = list("abcz09._+-@AZ <>\x00\u200b\u00e9\u212a\uff41\t,;:\"()[]\\")

    def part() -> str:  # mostly plain letters, now and then one of the hostile characters
        return "".join(rng.choice(alphabet[:4] if rng.random() < 0.7 else alphabet, int(rng.integers(1, 6))))

    values = [f"{part()}@{part()}.{part()}" for _ in range(20_000)]
    values += ["a@b.c", "-@-.-", "a..b@c.d", ".a@b.c", "a@b..c", "a@.b.c", "a@b.c.", "x" * 64 + "@b.cd",
               "x" * 65 + "@b.cd", "a@" + "b" * 250 + ".cd", "lena+news@example.com", "K@example.com", None]
    raw = pd.Series(values, dtype=object)
    expected = [isinstance(v, str) and normalize_address(v) == v for v in values]
    assert is_normalised_address(raw).tolist() == expected
    assert sum(expected) > 100  # the random values include real addresses, not only broken ones


def test_postcode_keys_ignore_format_and_control_characters():
    records = crm(("CRM-000001", None, "Lena", "Weber"), ("CRM-000002", None, "Lena", "Weber"))
    records["postcode"] = ["10115", "10\u200b115\x00"]
    assert normalize_records(records)["postcode_key"].tolist() == ["10115", "10115"]


def test_a_name_written_as_an_encoded_word_is_no_name():
    """Issue 11 #1: mail software decodes it, CR/LF included; delivery refuses such names, so identity drops them
    and the email goes out with the default greeting instead of failing on every run."""
    from tailor.identity.normalize import normalize_name

    assert normalize_name("=?utf-8?q?x=0D=0ABcc=3A_attacker=40evil=2Eexample?=") is None
    assert normalize_name("=?utf-8?b?eA0KQmNjOiBhdHRhY2tlckBldmlsLmV4YW1wbGU=?=") is None
    assert normalize_name("anna") == "Anna"
