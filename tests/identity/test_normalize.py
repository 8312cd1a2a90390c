"""Normalisation of e-mails, phones, names, countries and time zones (tailor.identity.normalize)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tailor.identity.normalize import (
    default_timezone,
    email_columns,
    email_typo_suggestion,
    is_placeholder_phone,
    map_distinct,
    name_key,
    normalize_country,
    normalize_email_column,
    normalize_name,
    normalize_phone,
    normalize_timezone,
    phone_column,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Anna.Schmidt@EXAMPLE.com ", "anna.schmidt@example.com"), ("ｆｕｌｌ@example.com", "full@example.com"),
     ("not-an-email", None), ("two@@example.com", None), ("", None), (None, None), (float("nan"), None)],
)
def test_normalize_email(raw, expected):
    assert normalize_email_column(pd.Series([raw], dtype=object)).tolist() == [expected]


@pytest.mark.parametrize("email", ["test@test.com", "noemail@example.com", "none@none.com", "no-email@example.org",
                                  "dummy@shop.example", "x@example.com", "lena@mailinator.com"])
def test_placeholder_emails(email):
    assert email_columns(pd.Series([email]))["email_placeholder"].tolist() == [True]


@pytest.mark.parametrize("email", ["lena.weber@example.com", "testa@example.com", "anna@test.de.example.com", None])
def test_real_emails_are_not_placeholders(email):
    assert email_columns(pd.Series([email], dtype=object))["email_placeholder"].tolist() == [False]


@pytest.mark.parametrize(
    ("email", "suggestion"),
    [("lena@gmial.com", "gmail.com"), ("lena@gmail.con", "gmail.com"), ("lena@hotmial.com", "hotmail.com"),
     ("lena@yaho.com", "yahoo.com"), ("lena@outlok.com", "outlook.com"), ("lena@gmail.com", None),
     ("lena@mail.com", None), ("lena@email.com", None), ("lena@hotmail.de", None), ("lena@example.com", None),
     ("lena@yahoo.de", None), (None, None), ("no-at-sign", None)],
)
def test_typos_of_big_domains_are_flagged_never_rewritten(email, suggestion):
    assert email_typo_suggestion(email) == suggestion


def test_email_columns_work_per_distinct_value():
    out = email_columns(pd.Series([" Lena@GMIAL.com", "lena@gmial.com", "TEST@test.com", None, "bad"]))
    assert out["email_norm"].tolist() == ["lena@gmial.com", "lena@gmial.com", "test@test.com", None, None]
    assert out["email_placeholder"].tolist() == [False, False, True, False, False]
    assert out["email_typo_suggestion"].tolist() == ["gmail.com", "gmail.com", None, None, None]


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 30 55512345", "DE", "+493055512345"), ("030 55512345", "DE", "+493055512345"),
        ("(030) 555 123-45", "DE", "+493055512345"), ("030/55512345", "DE", "+493055512345"),
        ("0049 30 55512345", None, "+493055512345"),  # 00 prefix readable without a region
        ("+49 (0)30 55512345", "DE", "+493055512345"), ("07700 900123", "GB", "+447700900123"),
        ("(212) 555-0147", "US", "+12125550147"), ("1-312-555-0184", "US", "+13125550184"),
        ("06.39.98.12.34", "FR", "+33639981234"), ("347 555 1234", "IT", "+393475551234"),
        ("030 55512345", None, None),  # national number without a country: unreadable
        ("0000000000", "DE", None), ("1234567890", "US", None), ("+1 555 555 5555", "US", None),
        ("000 000 0000", "GB", None), ("+49 000 0000000", "DE", None), ("12", "DE", None), ("", "DE", None),
        ("call me", "DE", None), (None, "DE", None),
    ],
)
def test_normalize_phone_to_e164(raw, region, e164):
    assert normalize_phone(raw, region) == e164


def test_placeholder_phone_digits():
    assert is_placeholder_phone("5555555555") and is_placeholder_phone("0123456789")
    assert is_placeholder_phone("9876543210") and not is_placeholder_phone("3055512345")


def test_phone_column_equals_the_library_value_by_value():
    """The shape cache must give exactly what phonenumbers gives for every value."""
    rng = np.random.default_rng(3)
    formats = {"DE": ["+49 30 5{7}", "030 5{7}", "(030) 5{7}", "+49 151 5{7}", "0049 171 5{6}", "0151-5{7}"],
               "GB": ["+44 77{2} {6}", "077{2} {6}", "(0)77{2} {3} {3}"],
               "US": ["+1 2{2} 555 {4}", "(3{2}) 555-{4}", "1-7{2}-555-{4}"],
               "IT": ["+39 02 5{6}", "347 5{6}", "06 {8}"], "FR": ["06 {2} {2} {2} {2}", "+33 6{8}"]}
    raw, region = [], []
    for country, fmts in formats.items():
        for f in fmts:
            for _ in range(40):
                text = f
                while "{" in text:
                    a = text.index("{")
                    b = text.index("}", a)
                    text = text[:a] + "".join(str(d) for d in rng.integers(0, 10, int(text[a + 1:b]))) + text[b + 1:]
                raw.append(text)
                region.append(country)
    raw += ["0000000000", "+1 555 555 5555", None, "", "12"]
    region += ["DE", "US", "DE", "DE", None]
    fast = phone_column(pd.Series(raw, dtype=object), pd.Series(region, dtype=object))
    slow = [normalize_phone(r, c) for r, c in zip(raw, region)]
    assert fast.tolist() == slow
    assert sum(v is not None for v in slow) >= 0.9 * (len(raw) - 5)


def test_names_countries_and_time_zones():
    assert normalize_name("  BEN ") == "Ben" and normalize_name("McDonald") == "McDonald"
    assert normalize_name("anna  maria") == "Anna Maria" and normalize_name("") is None and normalize_name(None) is None
    assert name_key(" Müller-Lüdenscheidt") == "mullerludenscheidt" and name_key("Łucja") == "lucja"
    assert name_key("O'Brien") == "obrien" and name_key("Groß") == "gross" and name_key("--") is None
    assert [normalize_country(c) for c in ["Germany", "de", "Deutschland", "UK", "United States", "U.S.",
                                           "Polska", "Österreich", "Holland", " España ", "Atlantis", ""]] == [
        "DE", "DE", "DE", "GB", "US", "US", "PL", "AT", "NL", "ES", None, None]
    assert default_timezone("FR") == "Europe/Paris" and default_timezone("US") == "America/New_York"
    assert default_timezone(None) is None
    assert normalize_timezone(" Europe/Berlin ") == "Europe/Berlin" and normalize_timezone("Not/AZone") is None


def test_map_distinct_calls_once_per_value():
    calls = []
    out = map_distinct(pd.Series(["a", "b", "a", None, "a"]), lambda v: calls.append(v) or v.upper())
    assert out.tolist() == ["A", "B", "A", None, "A"] and sorted(calls) == ["a", "b"]
