from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tailor.contracts import CONSENT_EVENTS, CRM_CUSTOMERS, EMAIL_EVENTS, ORDERS, PRODUCTS, WEB_EVENTS
from tailor.ingest import (
    MANIFEST_TABLE,
    LandingFileError,
    ingest_source,
    parse_landing_file,
    quarantine_table,
    table_schema,
)
from tests.conftest import write

CRM_HEADER = "customer_ref,email,first_name,last_name,phone,country,city,postcode,timezone,created_at,updated_at\n"


def crm_file(tmp_path: Path) -> Path:
    return write(
        tmp_path / "landing" / "crm" / "customers.csv",
        CRM_HEADER
        + "CRM-1,anna@example.com,Anna,Schmidt,,DE,Berlin,10115,Europe/Berlin,2024-01-01T10:00:00+01:00,2024-01-02\n"
        + "CRM-2,ben@example.com,Ben,Carter,,GB,London,,Europe/London,yesterday,\n"
        + ",chloe@example.com,Chloé,Dubois,,FR,,,,2024-01-01,\n"
        + "CRM-1,other@example.com,Anna,S,,DE,,,,2024-01-01,\n"
        + "CRM-5,too,many,fields,,,,,,,,,,\n"
        + "CRM-6,dmitri@example.com,Dmitri,Ivanov,,US,,,,2024-03-05T08:30:00-05:00,\n",
    )


def test_csv_rows_are_typed_and_bad_rows_quarantined_with_line_and_reason(tmp_path):
    parsed = parse_landing_file(CRM_CUSTOMERS, crm_file(tmp_path), "crm/customers.csv")
    assert parsed.rows_read == 6
    assert parsed.rows_accepted == 2
    table = parsed.tables["crm_customers"]
    assert table["customer_ref"].tolist() == ["CRM-1", "CRM-6"]
    # +01:00 and -05:00 offsets both land in UTC; a date without a zone is UTC midnight
    assert table["created_at"].tolist() == [pd.Timestamp("2024-01-01 09:00"), pd.Timestamp("2024-03-05 13:30")]
    assert table["updated_at"].iloc[0] == pd.Timestamp("2024-01-02")
    assert table["_source_line"].tolist() == [2, 7]
    q = parsed.quarantined
    assert q["line"].tolist() == [3, 4, 5, 6]
    assert q["reason"].tolist() == [
        "created_at: cannot read 'yesterday' as an ISO-8601 timestamp",
        "customer_ref: required value is missing",
        "customer_ref: duplicate value 'CRM-1' (first seen at line 2)",
        "expected 11 fields, found 14",
    ]
    assert json.loads(q["raw"].iloc[0])["email"] == "ben@example.com"
    assert set(q["source"]) == {"crm_customers"} and set(q["file"]) == {"crm/customers.csv"}
    table_schema(CRM_CUSTOMERS, "crm_customers").validate(table)


def test_orders_are_split_into_orders_and_items_and_a_bad_item_quarantines_its_order(tmp_path):
    path = write(
        tmp_path / "orders.ndjson",
        '{"order_id":"O1","customer_ref":"CRM-1","ordered_at":"2024-03-01T10:00:00Z","currency":"EUR","status":"completed",'
        '"items":[{"product_id":"P1","quantity":2,"unit_price":10.5},{"product_id":"P2","quantity":1,"unit_price":3}]}\n'
        '{"order_id":"O2","customer_ref":"CRM-2","ordered_at":"2024-03-01T10:00:00-05:00","currency":"EUR","status":"shipped",'
        '"items":[{"product_id":"P1","quantity":"abc","unit_price":10.5}]}\n'
        "{not json\n"
        '{"order_id":"O3","customer_ref":"CRM-2","ordered_at":"2024-03-02","currency":"EUR","status":"completed","items":[]}\n',
    )
    parsed = parse_landing_file(ORDERS, path, "orders/orders.ndjson")
    assert (parsed.rows_read, parsed.rows_accepted, parsed.rows_quarantined) == (4, 1, 3)
    orders, items = parsed.tables["orders"], parsed.tables["order_items"]
    assert orders.loc[0, ["order_id", "order_total", "item_count"]].tolist() == ["O1", 24.0, 2]
    assert items["line_total"].tolist() == [21.0, 3.0]
    assert items["line_no"].tolist() == [1, 2]
    assert parsed.quarantined["reason"].tolist() == [
        "status: 'shipped' is not one of completed, refunded, cancelled; items[1].quantity: cannot read 'abc' as a whole number",
        "not valid JSON: Expecting property name enclosed in double quotes at column 2",
        "items: an order needs a non-empty list of line items",
    ]
    table_schema(ORDERS, "orders").validate(orders)
    table_schema(ORDERS, "order_items").validate(items)


def test_email_events_use_sendgrid_names_and_unix_time(tmp_path):
    path = write(
        tmp_path / "e.ndjson",
        '{"sg_event_id":"e1","sg_message_id":"m1","email":"a@example.com","timestamp":1700000000,"event":"open"}\n'
        '{"sg_event_id":"e2","sg_message_id":"m1","email":"a@example.com","timestamp":"soon","event":"open"}\n'
        '{"sg_event_id":"e3","sg_message_id":"m1","email":"a@example.com","timestamp":1700000000,"event":"teleport"}\n',
    )
    parsed = parse_landing_file(EMAIL_EVENTS, path, "email_events/e.ndjson")
    table = parsed.tables["email_events"]
    assert list(table.columns[:5]) == ["event_id", "message_id", "email", "event_type", "occurred_at"]
    assert table["occurred_at"].iloc[0] == pd.Timestamp("2023-11-14 22:13:20")
    assert [r.split(":")[0] for r in parsed.quarantined["reason"]] == ["timestamp", "event"]


def test_negative_price_and_boolean_parsing(tmp_path):
    path = write(
        tmp_path / "p.csv",
        "product_id,name,category,brand,price,currency,in_stock,url,image_url\n"
        "P1,Shirt,apparel,Acme,19.90,EUR,true,,\n"
        "P2,Hat,apparel,Acme,-5,EUR,no,,\n"
        "P3,Sock,apparel,Acme,2.5,EUR,maybe,,\n",
    )
    parsed = parse_landing_file(PRODUCTS, path, "products/p.csv")
    assert parsed.tables["products"]["in_stock"].tolist() == [True]
    assert parsed.quarantined["reason"].tolist() == [
        "price: -5.0 is below the minimum 0",
        "in_stock: cannot read 'maybe' as true or false",
    ]


@pytest.mark.parametrize(
    ("contract", "name", "content", "problem"),
    [
        (CRM_CUSTOMERS, "crm/a.csv", "email,first_name\nx@example.com,X\n", "missing required column(s) customer_ref"),
        (CRM_CUSTOMERS, "crm/b.csv", "", "the file is empty"),
        (WEB_EVENTS, "events/c.ndjson", "this is not json\nnor this\n", "not a newline-delimited JSON file"),
        (CONSENT_EVENTS, "consent/d.csv", "email,purpose,changed_at\n", "missing required column(s) status"),
    ],
)
def test_broken_files_fail_with_the_file_name_and_the_problem(tmp_path, contract, name, content, problem):
    path = write(tmp_path / name, content) if content else (tmp_path / name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    if content:
        path.write_text(content)
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(contract, path, name)
    assert str(err.value).startswith(f"{name}: ")
    assert problem in str(err.value)


def test_not_utf8_is_a_file_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"customer_ref,email\nCRM-1,\xff\xfe\n")
    with pytest.raises(LandingFileError, match="crm/x.csv: not UTF-8"):
        parse_landing_file(CRM_CUSTOMERS, path, "crm/x.csv")


def test_ingestion_is_idempotent_incremental_and_replaces_corrected_files(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm_file(tmp_path)
    first = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert (first.rows_read, first.rows_accepted, first.rows_quarantined) == (6, 2, 4)
    assert first.table_rows == {"crm_customers": 2} and first.quarantine_rows == 4

    again = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert again.files_loaded == [] and again.files_unchanged == 1
    assert warehouse.row_count("crm_customers") == 2 and warehouse.row_count(quarantine_table("crm_customers")) == 4

    write(landing / "crm" / "more.csv", CRM_HEADER + "CRM-9,eva@example.com,Eva,Novak,,CZ,,,,2024-02-02,\n")
    more = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert [f.file for f in more.files_loaded] == ["crm/more.csv"]  # the old file is not read again
    assert warehouse.row_count("crm_customers") == 3

    # a corrected version of the first file replaces every row (and quarantined row) of the earlier one
    write(landing / "crm" / "customers.csv", CRM_HEADER + "CRM-1,anna@example.com,Anna,Schmidt,,DE,,,,2024-01-01,\n")
    fixed = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert [f.file for f in fixed.files_loaded] == ["crm/customers.csv"]
    assert sorted(warehouse.read_table("crm_customers")["customer_ref"]) == ["CRM-1", "CRM-9"]
    assert warehouse.row_count(quarantine_table("crm_customers")) == 0
    manifest = warehouse.read_table(MANIFEST_TABLE).set_index("file")
    assert manifest.loc["crm/customers.csv", "rows_read"] == 1
    assert (manifest["rows_read"] == manifest["rows_accepted"] + manifest["rows_quarantined"]).all()


def test_a_broken_file_loads_nothing_of_its_source(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm_file(tmp_path)
    write(landing / "crm" / "zz_broken.csv", "first_name\nX\n")
    with pytest.raises(LandingFileError, match="crm/zz_broken.csv"):
        ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert not warehouse.table_exists("crm_customers")


def test_an_empty_source_still_creates_typed_tables(tmp_path, warehouse):
    report = ingest_source(ORDERS, tmp_path / "landing", warehouse)
    assert report.table_rows == {"orders": 0, "order_items": 0}
    assert warehouse.read_table("orders")["ordered_at"].dtype.kind == "M"


def test_every_deliberately_bad_demo_row_is_quarantined_and_nothing_else(tmp_path, warehouse):
    from datetime import datetime, timezone

    from tailor.contracts import ALL_SOURCES
    from tailor.demo_data import write_demo_data

    summary = write_demo_data(tmp_path / "landing", customers=800, seed=5, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
    reports = [ingest_source(c, tmp_path / "landing", warehouse) for c in ALL_SOURCES]
    assert sum(r.rows_read for r in reports) == sum(r.rows_accepted + r.rows_quarantined for r in reports)
    truth = pd.read_csv(tmp_path / "demo_truth" / "bad_rows.csv")
    quarantined = pd.concat([warehouse.read_table(quarantine_table(c.name)) for c in ALL_SOURCES])
    assert len(quarantined) == summary.bad_rows == len(truth)
    assert sorted(zip(quarantined["file"], quarantined["line"])) == sorted(zip(truth["file"], truth["line"]))
    assert warehouse.row_count("orders") == summary.orders and warehouse.row_count("web_events") == summary.web_events
