"""The matching view (tailor.identity.matching_view.normalize_records, CrmNormalizedSchema): the street, house number,
birth date and nickname keys next to the older ones, for exports with and without the new columns."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from tailor.identity.matching_view import CrmNormalizedSchema, normalize_records
from tailor.identity.nicknames import canonical_first_name, first_canon_column, nickname_table
from tailor.identity.normalize import (
    PLACEHOLDER_BIRTH_DATES,
    birth_date_column,
    birth_date_key,
    map_distinct_rows,
    name_key,
)

COLUMNS = ["customer_ref", "email_norm", "email_placeholder", "email_typo_suggestion", "country_iso", "phone_e164",
           "first_key", "last_key", "postcode_key", "city_key", "street_key", "house_number_key", "birth_date",
           "first_canon"]


def crm(**extra) -> pd.DataFrame:
    """CRM records as the contract's columns before streets and birth dates (``extra``: more columns)."""
    frame = pd.DataFrame({
        "customer_ref": ["CRM-000001", "CRM-000002", "CRM-000003", "CRM-000004"],
        "email": ["bill.smith@example.com", None, "hans@example.de", "alex@example.fr"],
        "first_name": ["Bill", "Kasia", "Hans", "Alex"],
        "last_name": ["Smith", "Nowak", "Müller", "Dubois"],
        "phone": [None, None, "030 5551234", None],
        "country": ["UK", "Polska", "Deutschland", "France"],
        "city": ["London", "Kraków", "Berlin", "Paris"],
        "postcode": ["E1 6AN", "30-001", "10115", "75002"],
        "timezone": [None, None, None, None],
    })
    return frame.assign(**extra)


def test_an_export_without_streets_and_birth_dates_gets_empty_keys():
    out = normalize_records(crm())
    assert list(out.columns) == COLUMNS
    CrmNormalizedSchema.validate(out)
    assert out[["street_key", "house_number_key", "birth_date"]].isna().all().all()
    assert out["first_canon"].tolist() == ["william", "katarzyna", "johannes", "alexandre"]


def test_streets_birth_dates_and_nicknames_through_the_view():
    records = crm(
        street=["Flat 3, 12 High St.", "ul. Długa 7/3", "Haupt-Str 5 A", None],
        address_line2=[None, None, None, "5 bis rue de la Paix"],
        house_number=[None, None, "7", None],
        date_of_birth=pd.to_datetime(["1980-05-17", "1900-01-01", None, "2000-01-01"]),
    )
    out = normalize_records(records)
    assert list(out.columns) == COLUMNS
    CrmNormalizedSchema.validate(out)
    assert out["street_key"].tolist() == ["highstreet", "dluga", "hauptstrasse", "ruedelapaix"]
    # a separate house number wins over the one in the street line
    assert out["house_number_key"].tolist() == ["12", "7", "7", "5bis"]
    assert out["birth_date"].tolist() == ["1980-05-17", None, None, None]
    assert out.index.equals(records.index)


def test_birth_dates_as_text_are_read_too():
    out = normalize_records(crm(date_of_birth=["1980-05-17", "17.05.1980", "1970-01-01", None]))
    assert out["birth_date"].tolist() == ["1980-05-17", None, None, None]


def test_the_schema_refuses_keys_of_another_shape():
    out = normalize_records(crm(street=["12 High St", None, None, None],
                                date_of_birth=["1980-05-17", None, None, None]))
    for column, bad in (("street_key", "high street"), ("birth_date", "17.05.1980"), ("first_canon", "Bill"),
                        ("house_number_key", "a5")):
        broken = out.copy()
        broken.loc[0, column] = bad
        with pytest.raises(pandera.errors.SchemaError):
            CrmNormalizedSchema.validate(broken)
    # the columns are in the order the view writes them
    with pytest.raises((pandera.errors.SchemaError, pandera.errors.SchemaErrors)):
        CrmNormalizedSchema.validate(out[[*COLUMNS[:-2], "first_canon", "birth_date"]])


# ------------------------------------------------------------------------------------------------- birth dates

TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1980-05-17", "1980-05-17"), (pd.Timestamp("1980-05-17"), "1980-05-17"), (date(1980, 5, 17), "1980-05-17"),
     (np.datetime64("1980-05-17"), "1980-05-17"), ("1980-05-17T00:00:00", "1980-05-17"), ("1980-01-01", "1980-01-01"),
     ("1900-01-01", None), ("1970-01-01", None), ("2000-01-01", None), ("1899-12-30", None), ("0001-01-01", None),
     ("9999-12-31", None), ("1850-06-01", None), ("2026-06-02", None), ("2026-06-01", "2026-06-01"),
     ("1980-02-30", None), ("17.05.1980", None), ("05/17/1980", None), ("", None), (None, None), (pd.NaT, None),
     (float("nan"), None)],
)
def test_birth_dates_placeholders_and_implausible_dates_are_none(raw, expected):
    assert birth_date_key(raw, today=TODAY) == expected


def test_the_placeholder_list_is_iso_dates():
    assert all(date.fromisoformat(d).isoformat() == d for d in PLACEHOLDER_BIRTH_DATES)
    assert {"1900-01-01", "1970-01-01", "2000-01-01"} <= PLACEHOLDER_BIRTH_DATES


def test_birth_date_column_of_timestamps_and_of_text():
    stamps = pd.Series(pd.to_datetime(["1980-05-17", None, "1970-01-01", "1980-05-17"]), index=[5, 6, 7, 8])
    out = birth_date_column(stamps, today=TODAY)
    assert out.tolist() == ["1980-05-17", None, None, "1980-05-17"] and list(out.index) == [5, 6, 7, 8]
    assert birth_date_column(pd.Series(["1980-05-17", None, "x"]), today=TODAY).tolist() == ["1980-05-17", None, None]
    assert birth_date_column(pd.Series([], dtype="datetime64[ns]")).tolist() == []


# --------------------------------------------------------------------------------------------------- nicknames

@pytest.mark.parametrize(
    ("first", "country", "canonical"),
    [("Bill", "GB", "william"), ("Billy", "US", "william"), ("Will", "GB", "william"), ("Bob", "US", "robert"),
     ("Liz", "GB", "elizabeth"), ("Beth", "US", "elizabeth"), ("Hans", "DE", "johannes"), ("Hans", "NL", "johannes"),
     ("Sasha", "GB", "alexander"), ("Sascha", "DE", "alexander"), ("Alex", "FR", "alexandre"),
     ("Alex", "IT", "alessandro"), ("Alex", "ES", "alejandro"), ("Alex", None, "alexander"),
     ("Max", "DE", "maximilian"),
     ("Max", "FR", "maxime"), ("Max", "IT", "massimo"), ("Max", "AT", "maximilian"), ("Kasia", "PL", "katarzyna"),
     ("Małgosia", "PL", "malgorzata"), ("Kuba", "PL", "jakub"), ("Pepe", "ES", "jose"), ("Paco", "ES", "francisco"),
     ("Beppe", "IT", "giuseppe"), ("Gianni", "IT", "giovanni"), ("Kees", "NL", "cornelis"), ("Sepp", "AT", "josef"),
     ("Toni", "CH", "anton"), ("Manu", "FR", "emmanuel"), ("Käthe", "DE", "katharina")],
)
def test_nicknames_give_the_name_they_stand_for(first, country, canonical):
    assert canonical_first_name(name_key(first), country) == canonical


@pytest.mark.parametrize(
    ("first", "country"),
    [("William", "GB"), ("Harry", "GB"), ("Henry", "GB"), ("Lena", "DE"), ("Daan", "NL"), ("Tim", "NL"),
     ("Jan", "PL"), ("Jan", "DE"), ("Liam", "US"), ("Lisa", "AT"), ("Anna", "PL"), ("Zoé", "FR")],
)
def test_names_that_are_no_nickname_are_their_own_key(first, country):
    key = name_key(first)
    assert canonical_first_name(key, country) == key


def test_no_first_name_no_canonical_name():
    assert canonical_first_name(None, "GB") is None and canonical_first_name("", "GB") is None


def test_the_nickname_table_is_packaged_and_consistent():
    assert resources.files("tailor.identity").joinpath("nicknames.csv").is_file()
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert "tailor" in pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]  # ships non-.py files too
    table = nickname_table()
    assert set(table) == {"en", "de", "fr", "nl", "pl", "es", "it"} and sum(map(len, table.values())) > 250
    for language, names in table.items():
        for nick, canonical in names.items():
            assert name_key(nick) == nick and name_key(canonical) == canonical, (language, nick)
            assert names.get(canonical, canonical) == canonical, (language, nick, canonical)  # no chains


def test_first_canon_column_per_record():
    keys = pd.Series(["bill", "alex", None, "alex", "anna"], index=[3, 4, 5, 6, 7])
    countries = pd.Series(["GB", "FR", "GB", None, "PL"], index=keys.index)
    out = first_canon_column(keys, countries)
    assert out.tolist() == ["william", "alexandre", None, "alexander", "anna"] and list(out.index) == [3, 4, 5, 6, 7]


# ----------------------------------------------------------------------------------------------- map_distinct_rows

def test_map_distinct_rows_calls_once_per_distinct_row():
    calls: list[tuple] = []

    def fn(a, b):
        calls.append((a, b))
        return f"{a}|{b}"

    a = pd.Series(["x", "x", None, "y", "x", None, np.nan])
    b = pd.Series(["1", "1", "1", None, "2", None, None])
    out = map_distinct_rows([a, b], fn)
    assert out.tolist() == ["x|1", "x|1", "None|1", "y|None", "x|2", "None|None", "None|None"]
    assert len(calls) == len(set(calls)) == 5
    skipped = map_distinct_rows([a, b], fn, skip_when_missing=1)
    assert skipped.tolist() == ["x|1", "x|1", None, "y|None", "x|2", None, None]
    assert map_distinct_rows([pd.Series([], dtype=object)], fn).tolist() == []
