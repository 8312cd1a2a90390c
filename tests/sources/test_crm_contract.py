"""The CRM contract's street and birth-date columns (issue 12): optional, so older exports still load; a birth date
that cannot be read, lies before 1900 or after the file arrived is quarantined, naming ``date_of_birth``."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from tailor.identity.matching_view import CrmNormalizedSchema, normalize_records
from tailor.sources.contracts import CRM_COLUMNS, CRM_CUSTOMERS
from tailor.sources.load import ingest_source
from tailor.sources.parse import parse_landing_file
from tailor.sources.tables import table_schema
from tests.conftest import write
from tests.tables import read_table

ARRIVAL = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)

OLD_HEADER = "customer_ref,email,first_name,last_name,phone,country,city,postcode,timezone,created_at,updated_at\n"
NEW_HEADER = ("customer_ref,email,first_name,last_name,phone,country,city,postcode,street,address_line2,house_number,"
              "timezone,date_of_birth,created_at,updated_at,source_system\n")



def arrived(path: Path) -> Path:
    os.utime(path, (ARRIVAL.timestamp(), ARRIVAL.timestamp()))
    return path


def parse(tmp_path: Path, body: str, header: str = NEW_HEADER, name: str = "crm/c.csv"):
    path = arrived(write(tmp_path / "landing" / name, header + body))
    return parse_landing_file(CRM_CUSTOMERS, path, name, tmp_path)


def test_the_new_columns_are_optional_and_in_the_documented_order():
    names = [c.name for c in CRM_CUSTOMERS.columns]
    assert names == ["customer_ref", "email", "first_name", "last_name", "phone", "country", "city", "postcode",
                     "street", "address_line2", "house_number", "timezone", "date_of_birth", "created_at",
                     "updated_at", "source_system"]
    assert CRM_COLUMNS == ", ".join(names)
    assert CRM_CUSTOMERS.required_columns == ["customer_ref"]
    dob = next(c for c in CRM_CUSTOMERS.columns if c.name == "date_of_birth")
    assert (dob.kind, dob.earliest, dob.not_after_arrival) == ("date", "1900-01-01", True)


def test_an_export_without_the_new_columns_still_loads(tmp_path):
    parsed = parse(tmp_path, "CRM-000001,anna@example.com,Anna,Schmidt,,DE,Berlin,10115,Europe/Berlin,2024-01-01,\n",
                   header=OLD_HEADER)
    assert (parsed.rows_accepted, parsed.rows_quarantined) == (1, 0)
    table = parsed.samples["crm_customers"]
    assert table[["street", "address_line2", "house_number", "date_of_birth"]].isna().all().all()
    table_schema(CRM_CUSTOMERS, "crm_customers").validate(table)


def test_streets_and_birth_dates_are_loaded_typed(tmp_path):
    parsed = parse(
        tmp_path,
        'CRM-000001,anna@example.com,Anna,Schmidt,,DE,Berlin,10115,"Hauptstr. 5a",Hinterhaus,,Europe/Berlin,'
        "1980-05-17,2024-01-01,,shop\n"
        'CRM-000002,ben@example.co.uk,Ben,Carter,,GB,London,E1 6AN,"Flat 3, 12 High St",,12,Europe/London,,'
        "2024-01-01,,pos\n",
    )
    assert (parsed.rows_accepted, parsed.rows_quarantined) == (2, 0)
    table = parsed.samples["crm_customers"]
    table_schema(CRM_CUSTOMERS, "crm_customers").validate(table)
    assert table["street"].tolist() == ["Hauptstr. 5a", "Flat 3, 12 High St"]
    assert table["address_line2"].tolist() == ["Hinterhaus", None]
    assert table["house_number"].tolist() == [None, "12"]
    assert table["date_of_birth"].iloc[0] == pd.Timestamp("1980-05-17") and pd.isna(table["date_of_birth"].iloc[1])
    # and what identity matches them on
    view = normalize_records(table)
    CrmNormalizedSchema.validate(view)
    assert view[["street_key", "house_number_key", "birth_date"]].values.tolist() == [
        ["hauptstrasse", "5a", "1980-05-17"], ["highstreet", "12", None]]


@pytest.mark.parametrize("text", ["17.05.1980", "05/17/1980", "1980-02-30", "1980-13-01", "yesterday", "1980"])
def test_a_malformed_birth_date_is_quarantined_naming_the_field(tmp_path, text):
    parsed = parse(tmp_path, f"CRM-000001,,Anna,,,,,,,,,,{text},,,\n")
    assert (parsed.rows_accepted, parsed.rows_quarantined) == (0, 1)
    assert parsed.quarantined["reason"].tolist() == [f"date_of_birth: cannot read '{text}' as a date (YYYY-MM-DD)"]


def test_a_birth_date_after_the_files_arrival_is_quarantined(tmp_path):
    parsed = parse(tmp_path, "CRM-000001,,Anna,,,,,,,,,,2026-06-02,,,\nCRM-000002,,Ben,,,,,,,,,,2026-05-31,,,\n")
    assert parsed.samples["crm_customers"]["customer_ref"].tolist() == ["CRM-000002"]
    (reason,) = parsed.quarantined["reason"]
    assert reason.startswith("date_of_birth: '2026-06-02' is later than the file's arrival")


@pytest.mark.parametrize("text", ["1899-12-31", "1753-01-01", "0001-01-01"])
def test_a_birth_date_before_1900_is_quarantined(tmp_path, text):
    parsed = parse(tmp_path, f"CRM-000001,,Anna,,,,,,,,,,{text},,,\n")
    assert (parsed.rows_accepted, parsed.rows_quarantined) == (0, 1)
    assert parsed.quarantined["reason"].tolist() == [f"date_of_birth: '{text}' is before 1900-01-01"]


def test_system_dates_out_of_range_do_not_break_the_file(tmp_path):
    # .NET's DateTime.MinValue and SAP's "open end" are outside what a pandas timestamp holds: without the range
    # check one such row made the whole file fail to parse
    parsed = parse(tmp_path, "CRM-000001,,Anna,,,,,,,,,,0001-01-01,,,\nCRM-000002,,Ben,,,,,,,,,,9999-12-31,,,\n"
                             "CRM-000003,,Chloé,,,,,,,,,,1985-03-04,,,\n")
    assert (parsed.rows_accepted, parsed.rows_quarantined) == (1, 2)
    assert [r.split(":")[0] for r in parsed.quarantined["reason"]] == ["date_of_birth", "date_of_birth"]


def test_old_and_new_exports_load_into_one_table(tmp_path, warehouse):
    landing = tmp_path / "landing"
    arrived(write(landing / "crm" / "a-old.csv",
                  OLD_HEADER + "CRM-000001,anna@example.com,Anna,Schmidt,,DE,Berlin,10115,,2024-01-01,\n"))
    arrived(write(landing / "crm" / "b-new.csv",
                  NEW_HEADER + "CRM-000002,ben@example.co.uk,Ben,Carter,,GB,London,,12 High St,,,,1975-11-30,"
                               "2024-01-01,,shop\n"))
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert (report.rows_accepted, report.rows_quarantined) == (2, 0)
    table = read_table(warehouse, "crm_customers").sort_values("customer_ref")
    assert list(table.columns)[: len(CRM_CUSTOMERS.columns)] == [c.table_name for c in CRM_CUSTOMERS.columns]
    assert table["street"].tolist() == [None, "12 High St"]
    assert pd.isna(table["date_of_birth"].iloc[0]) and table["date_of_birth"].iloc[1] == pd.Timestamp("1975-11-30")


def test_a_warehouse_built_before_the_new_crm_columns_is_rebuilt_from_its_files(tmp_path, warehouse):
    """Rows are appended by position: a crm_customers table without the new columns must not take new rows."""
    from tailor.sources.contracts import CRM_CUSTOMERS
    from tailor.sources.load import ingest_source
    from tests.conftest import write
    from tests.tables import execute, read_table

    landing = tmp_path / "landing"
    write(landing / "crm" / "a.csv", "customer_ref,email,first_name\nCRM-1,a@example.com,Anna\n")
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    execute(warehouse, "CREATE OR REPLACE TABLE crm_customers AS SELECT customer_ref, email, first_name, last_name, "
                       "phone, country, city, postcode, timezone, created_at, updated_at, source_system, "
                       "_source_file, _source_line FROM crm_customers")  # as an older Tailor built it
    write(landing / "crm" / "b.csv", "customer_ref,email,street,date_of_birth\nCRM-2,b@example.com,Hauptstr. 5,1980-05-06\n")
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    rows = read_table(warehouse, "crm_customers").sort_values("customer_ref")
    assert rows["customer_ref"].tolist() == ["CRM-1", "CRM-2"] and report.rows_accepted == 2
    assert rows["street"].tolist()[1] == "Hauptstr. 5"
