"""Ingestion (tailor.sources): parsing files against their contracts, quarantine with reasons, incremental loads,
exact money and FX, event ids deduplicated across files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tailor.sources.contracts import (
    CONSENT_EVENTS,
    CRM_COLUMNS,
    CRM_CUSTOMERS,
    EMAIL_EVENTS,
    FX_RATES,
    ORDERS,
    PRODUCTS,
    WEB_EVENTS,
)
from tailor.sources.load import ingest_source
from tailor.sources.parse import LandingFileError, parse_landing_file
from tailor.sources.tables import MANIFEST_TABLE, duplicates_table, empty_duplicates, quarantine_table, table_schema
from tests.conftest import write
from tests.tables import query, read_table, row_count, table_exists, write_table

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


def test_a_contract_gives_a_columns_choices_by_landing_or_table_name():
    assert EMAIL_EVENTS.choices("event") == EMAIL_EVENTS.choices("event_type")
    assert "bounce" in EMAIL_EVENTS.choices("event")
    assert CRM_CUSTOMERS.choices("source_system") == ("shop", "pos", "newsletter", "import")
    with pytest.raises(KeyError, match="crm_customers: no column 'email' with a list of choices"):
        CRM_CUSTOMERS.choices("email")
    # what identity and profiles select from crm_customers: the contract's columns, not the lineage columns
    assert CRM_COLUMNS.startswith("customer_ref, email, ") and CRM_COLUMNS.endswith(", source_system")
    assert "_source_file" not in CRM_COLUMNS


def test_csv_rows_are_typed_and_bad_rows_quarantined_with_line_and_reason(tmp_path):
    parsed = parse_landing_file(CRM_CUSTOMERS, crm_file(tmp_path), "crm/customers.csv", tmp_path)
    assert parsed.rows_read == 6
    assert parsed.rows_accepted == 2
    table = parsed.samples["crm_customers"]
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
    parsed = parse_landing_file(ORDERS, path, "orders/orders.ndjson", tmp_path)
    assert (parsed.rows_read, parsed.rows_accepted, parsed.rows_quarantined) == (4, 1, 3)
    orders, items = parsed.samples["orders"], parsed.samples["order_items"]
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
    parsed = parse_landing_file(EMAIL_EVENTS, path, "email_events/e.ndjson", tmp_path)
    table = parsed.samples["email_events"]
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
    parsed = parse_landing_file(PRODUCTS, path, "products/p.csv", tmp_path)
    assert parsed.samples["products"]["in_stock"].tolist() == [True]
    assert parsed.quarantined["reason"].tolist() == [
        "price: -5 is below the minimum 0",
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
        parse_landing_file(contract, path, name, tmp_path)
    assert str(err.value).startswith(f"{name}: ")
    assert problem in str(err.value)


def test_not_utf8_is_a_file_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"customer_ref,email\nCRM-1,\xff\xfe\n")
    with pytest.raises(LandingFileError, match="crm/x.csv: not UTF-8"):
        parse_landing_file(CRM_CUSTOMERS, path, "crm/x.csv", tmp_path)


def test_ingestion_is_idempotent_incremental_and_replaces_corrected_files(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm_file(tmp_path)
    first = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert (first.rows_read, first.rows_accepted, first.rows_quarantined) == (6, 2, 4)
    assert first.table_rows == {"crm_customers": 2} and first.quarantine_rows == 4

    again = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert again.files_loaded == [] and again.files_unchanged == 1
    assert row_count(warehouse, "crm_customers") == 2 and row_count(warehouse, quarantine_table("crm_customers")) == 4

    write(landing / "crm" / "more.csv", CRM_HEADER + "CRM-9,eva@example.com,Eva,Novak,,CZ,,,,2024-02-02,\n")
    more = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert [f.file for f in more.files_loaded] == ["crm/more.csv"]  # the old file is not read again
    assert row_count(warehouse, "crm_customers") == 3

    # a corrected version of the first file replaces every row (and quarantined row) of the earlier one
    write(landing / "crm" / "customers.csv", CRM_HEADER + "CRM-1,anna@example.com,Anna,Schmidt,,DE,,,,2024-01-01,\n")
    fixed = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert [f.file for f in fixed.files_loaded] == ["crm/customers.csv"]
    assert sorted(read_table(warehouse, "crm_customers")["customer_ref"]) == ["CRM-1", "CRM-9"]
    assert row_count(warehouse, quarantine_table("crm_customers")) == 0
    manifest = read_table(warehouse, MANIFEST_TABLE).set_index("file")
    assert manifest.loc["crm/customers.csv", "rows_read"] == 1
    assert (manifest["rows_read"] == manifest["rows_accepted"] + manifest["rows_quarantined"]).all()


def test_a_broken_file_loads_nothing_of_its_source(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm_file(tmp_path)
    write(landing / "crm" / "zz_broken.csv", "first_name\nX\n")
    with pytest.raises(LandingFileError, match="crm/zz_broken.csv"):
        ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert not table_exists(warehouse, "crm_customers")


def test_an_empty_source_still_creates_typed_tables(tmp_path, warehouse):
    report = ingest_source(ORDERS, tmp_path / "landing", warehouse)
    assert report.table_rows == {"orders": 0, "order_items": 0}
    assert read_table(warehouse, "orders")["ordered_at"].dtype.kind == "M"


def test_every_deliberately_bad_demo_row_is_quarantined_and_nothing_else(tmp_path, warehouse):
    from datetime import datetime, timezone

    from tailor.demo.generator import write_demo_data
    from tailor.sources.contracts import ALL_SOURCES

    summary = write_demo_data(tmp_path / "landing", customers=800, seed=5, as_of=datetime(2026, 11, 1, tzinfo=timezone.utc))
    reports = [ingest_source(c, tmp_path / "landing", warehouse) for c in ALL_SOURCES]
    assert sum(r.rows_read for r in reports) == sum(r.rows_accepted + r.rows_quarantined for r in reports)
    truth = pd.read_csv(tmp_path / "demo_truth" / "bad_rows.csv")
    quarantined = pd.concat([read_table(warehouse, quarantine_table(c.name)) for c in ALL_SOURCES])
    assert len(quarantined) == summary.bad_rows == len(truth)
    assert sorted(zip(quarantined["file"], quarantined["line"])) == sorted(zip(truth["file"], truth["line"]))
    assert row_count(warehouse, "orders") == summary.orders and row_count(warehouse, "web_events") == summary.web_events


ORDER = (
    '{"order_id":"%s","customer_ref":"CRM-1","ordered_at":"%s","currency":"%s","status":"%s",'
    '"items":[{"product_id":"P1","quantity":%s,"unit_price":%s}]}\n'
)


def order(order_id, at="2025-01-03T10:00:00Z", currency="EUR", status="completed", quantity="1", price="10.00"):
    return ORDER % (order_id, at, currency, status, quantity, price)


FX = "rate_date,currency,eur_per_unit\n2025-01-02,GBP,1.1876\n2025-01-02,USD,0.9600\n2025-01-06,GBP,1.2000\n"


def test_amounts_are_exact_decimals_in_an_iso_4217_currency(tmp_path):
    path = write(
        tmp_path / "o.ndjson",
        order("O1", price='"12.50"', quantity="3")  # 37.50 exactly
        + order("O2", price='"12,50"')
        + order("O3", price="10.555")
        + order("O4", currency="JPY", price="500.5")
        + order("O5", currency="JPY", price="500")
        + order("O6", currency="XYZ")
        + order("O7", currency="eur")
        + order("O8", price="-1")
        + order("O9", currency="KWD", price="1.125"),
    )
    fx = pd.DataFrame({"rate_date": pd.to_datetime(["2025-01-01", "2025-01-01"]), "currency": ["JPY", "KWD"],
                       "eur_per_unit": [0.0061, 2.9]})
    parsed = parse_landing_file(ORDERS, path, "orders/o.ndjson", tmp_path, fx_rates=fx)
    orders = parsed.samples["orders"].set_index("order_id")
    assert sorted(orders.index) == ["O1", "O5", "O9"]
    assert orders.loc["O1", "order_total"] == 37.5 and orders.loc["O1", "order_total_eur"] == 37.5
    assert orders.loc["O5", ["order_total", "order_total_eur"]].tolist() == [500.0, 3.05]  # 500 * 0.0061
    assert orders.loc["O9", ["order_total", "order_total_eur"]].tolist() == [1.125, 3.26]  # 1.125 * 2.9 = 3.2625
    assert parsed.quarantined["reason"].tolist() == [
        "items[1].unit_price: cannot read '12,50' as a decimal amount (digits and a point, e.g. 12.50)",
        "items[1].unit_price: 10.555 has 3 decimals, EUR allows 2",
        "items[1].unit_price: 500.5 has 1 decimals, JPY allows 0",
        "currency: 'XYZ' is not an ISO 4217 currency code (upper case, e.g. EUR)",
        "currency: 'eur' is not an ISO 4217 currency code (upper case, e.g. EUR)",
        "items[1].unit_price: -1 is below the minimum 0",
    ]
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_quarantined) == (9, 3, 6)


def test_orders_use_the_latest_rate_on_or_before_their_utc_date_and_wait_for_a_missing_rate(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "fx_rates" / "fx_rates-0001.csv", FX)
    write(
        landing / "orders" / "orders-0001.ndjson",
        order("G1", at="2025-01-03T10:00:00Z", currency="GBP", quantity="2", price="10.00")  # rate of 01-02
        + order("G2", at="2025-01-06T00:30:00+02:00", currency="GBP", price="10.00")  # UTC 01-05: still 01-02
        + order("G3", at="2025-01-06T00:30:00Z", currency="GBP", price="10.00")  # the 01-06 rate
        + order("U1", at="2025-01-02T00:00:00Z", currency="USD", price="99.99")
        + order("U0", at="2025-01-01T23:59:59Z", currency="USD", price="5.00")  # before the first USD rate
        + order("C1", at="2025-01-03T10:00:00Z", currency="CHF", price="5.00"),  # no CHF rate at all
    )
    fx = ingest_source(FX_RATES, landing, warehouse)
    assert (fx.rows_read, fx.rows_accepted) == (3, 3)
    report = ingest_source(ORDERS, landing, warehouse)
    orders = read_table(warehouse, "orders").set_index("order_id")
    assert orders.loc[["G1", "G2", "G3", "U1"], "order_total_eur"].tolist() == [23.75, 11.88, 12.0, 95.99]
    items = read_table(warehouse, "order_items").set_index("order_id")
    assert items.loc["G1", "line_total_eur"] == 23.75 and items.loc["U1", "line_total"] == 99.99
    q = read_table(warehouse, quarantine_table("orders")).sort_values("line")
    assert q["reason"].tolist() == [
        "currency: no FX rate for USD on or before 2025-01-01 in fx_rates",
        "currency: no FX rate for CHF on or before 2025-01-03 in fx_rates",
    ]
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (6, 4, 2)

    # The missing rates arrive: the unchanged orders file is converted again, and nothing is counted twice.
    write(landing / "fx_rates" / "fx_rates-0002.csv", "rate_date,currency,eur_per_unit\n2024-12-31,USD,0.95\n2025-01-03,CHF,1.05\n")
    ingest_source(FX_RATES, landing, warehouse)
    again = ingest_source(ORDERS, landing, warehouse)
    assert again.files_reread == ["orders/orders-0001.ndjson"]
    orders = read_table(warehouse, "orders").set_index("order_id")
    assert sorted(orders.index) == ["C1", "G1", "G2", "G3", "U0", "U1"]
    assert orders.loc[["U0", "C1"], "order_total_eur"].tolist() == [4.75, 5.25]
    assert row_count(warehouse, quarantine_table("orders")) == 0 and row_count(warehouse, "order_items") == 6
    assert ingest_source(ORDERS, landing, warehouse).files_loaded == []  # and then it is quiet again


def test_fx_rates_contract(tmp_path):
    path = write(
        tmp_path / "fx.csv",
        "rate_date,currency,eur_per_unit\n2025-01-02,GBP,1.1876\n2025-01-02,GBP,1.19\n2025-13-01,USD,0.9\n"
        "2025-01-02,USD,0\n2025-01-02,ABC,1\n",
    )
    parsed = parse_landing_file(FX_RATES, path, "fx_rates/fx.csv", tmp_path)
    assert parsed.samples["fx_rates"]["eur_per_unit"].tolist() == [1.1876]
    assert parsed.quarantined["reason"].tolist() == [
        "rate_date, currency: duplicate value '2025-01-02 00:00:00', 'GBP' (first seen at line 2)",
        "rate_date: cannot read '2025-13-01' as a date (YYYY-MM-DD)",
        "eur_per_unit: 0 must be above 0",
        "currency: 'ABC' is not an ISO 4217 currency code (upper case, e.g. EUR)",
    ]
    table_schema(FX_RATES, "fx_rates").validate(parsed.samples["fx_rates"])


EVENT = '{"event_id":"%s","customer_ref":"CRM-1","event_type":"%s","product_id":"P1","occurred_at":"2026-01-01T10:00:00Z"}\n'


def events(*ids, event_type="product_view"):
    return "".join(EVENT % (i, event_type) for i in ids)


def assert_books_balance(warehouse, source):
    """Per file: read = accepted + quarantined + duplicates, and the table never holds an id twice."""
    manifest = query(warehouse, f"SELECT * FROM {MANIFEST_TABLE} WHERE source = '{source}'")
    assert (manifest["rows_read"] == manifest["rows_accepted"] + manifest["rows_quarantined"] + manifest["rows_duplicate"]).all()
    table, key = {"web_events": ("web_events", "event_id"), "orders": ("orders", "order_id")}[source]
    rows = read_table(warehouse, table)
    assert rows[key].is_unique
    per_file = rows.groupby("_source_file").size().reindex(manifest["file"], fill_value=0)
    dups = read_table(warehouse, duplicates_table(source))
    assert list(dups.columns) == list(empty_duplicates().columns)
    assert set(dups["source"]) <= {source} and (dups["line"] >= 1).all() and (dups["first_line"] >= 1).all()
    assert per_file.tolist() == manifest["rows_accepted"].tolist()
    return manifest.set_index("file")


def test_a_replayed_file_under_a_new_name_loads_nothing_twice(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "events" / "events-0001.ndjson", events("e1", "e2", "e3"))
    ingest_source(WEB_EVENTS, landing, warehouse)
    write(landing / "events" / "events-0002.ndjson", events("e1", "e2", "e3", "e4"))  # replay + one new
    report = ingest_source(WEB_EVENTS, landing, warehouse)
    (loaded,) = report.files_loaded
    assert (loaded.rows_read, loaded.rows_accepted, loaded.rows_duplicate) == (4, 1, 3)
    assert loaded.duplicates[["line", "key", "first_file", "first_line"]].values.tolist() == [
        [1, "e1", "events/events-0001.ndjson", 1],
        [2, "e2", "events/events-0001.ndjson", 2],
        [3, "e3", "events/events-0001.ndjson", 3],
    ]
    assert not loaded.duplicates["content_differs"].any()
    assert report.table_rows == {"web_events": 4} and report.duplicate_rows == 3
    manifest = assert_books_balance(warehouse, "web_events")
    assert manifest["rows_duplicate"].to_dict() == {"events/events-0001.ndjson": 0, "events/events-0002.ndjson": 3}


def test_overlapping_files_and_the_same_file_twice_in_one_run(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", events("e1", "e2", "e3"))
    write(landing / "events" / "b.ndjson", events("e3", "e4", "e4"))  # overlaps a; e4 repeated inside b
    write(landing / "events" / "c.ndjson", events("e1", "e2", "e3"))  # a, byte for byte, under another name
    report = ingest_source(WEB_EVENTS, landing, warehouse)
    assert sorted(read_table(warehouse, "web_events")["event_id"]) == ["e1", "e2", "e3", "e4"]
    by_file = {f.file: (f.rows_read, f.rows_accepted, f.rows_duplicate) for f in report.files_loaded}
    assert by_file == {"events/a.ndjson": (3, 3, 0), "events/b.ndjson": (3, 1, 2), "events/c.ndjson": (3, 0, 3)}
    dups = read_table(warehouse, duplicates_table("web_events")).sort_values(["file", "line"])
    assert dups[["file", "line", "first_file", "first_line"]].values.tolist() == [
        ["events/b.ndjson", 1, "events/a.ndjson", 3],
        ["events/b.ndjson", 3, "events/b.ndjson", 2],
        ["events/c.ndjson", 1, "events/a.ndjson", 1],
        ["events/c.ndjson", 2, "events/a.ndjson", 2],
        ["events/c.ndjson", 3, "events/a.ndjson", 3],
    ]
    assert_books_balance(warehouse, "web_events")
    again = ingest_source(WEB_EVENTS, landing, warehouse)  # idempotent
    assert again.files_loaded == [] and again.table_rows == {"web_events": 4} and again.duplicate_rows == 5


def test_a_corrected_file_replaces_its_earlier_version_and_frees_ids_that_later_files_repeated(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", events("e1", "e2", "e3"))
    write(landing / "events" / "b.ndjson", events("e3", "e4"))
    ingest_source(WEB_EVENTS, landing, warehouse)
    assert row_count(warehouse, "web_events") == 4
    # The corrected a.ndjson no longer has e3 and fixes e2's type: b's copy of e3 is now the first one.
    write(landing / "events" / "a.ndjson", events("e1") + events("e2", event_type="add_to_cart"))
    report = ingest_source(WEB_EVENTS, landing, warehouse)
    assert sorted(f.file for f in report.files_loaded) == ["events/a.ndjson", "events/b.ndjson"]
    rows = read_table(warehouse, "web_events").set_index("event_id").sort_index()
    assert rows["_source_file"].to_dict() == {
        "e1": "events/a.ndjson", "e2": "events/a.ndjson", "e3": "events/b.ndjson", "e4": "events/b.ndjson",
    }
    assert rows.loc["e2", "event_type"] == "add_to_cart"
    assert row_count(warehouse, duplicates_table("web_events")) == 0
    manifest = assert_books_balance(warehouse, "web_events")
    assert manifest.loc["events/a.ndjson", "rows_read"] == 2


def test_a_resent_order_with_a_changed_status_is_flagged_not_applied(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "orders" / "orders-0001.ndjson", order("O1") + order("O2"))
    ingest_source(ORDERS, landing, warehouse)
    write(landing / "orders" / "orders-0002.ndjson", order("O1", status="refunded") + order("O2") + order("O3"))
    report = ingest_source(ORDERS, landing, warehouse)
    (loaded,) = report.files_loaded
    assert (loaded.rows_read, loaded.rows_accepted, loaded.rows_duplicate) == (3, 1, 2)
    assert loaded.duplicates[["key", "content_differs"]].values.tolist() == [["O1", True], ["O2", False]]
    orders = read_table(warehouse, "orders").set_index("order_id")
    assert orders.loc["O1", "status"] == "completed"  # the first version stays; the conflict is on record
    assert row_count(warehouse, "order_items") == 3  # items of duplicates are not loaded either
    assert_books_balance(warehouse, "orders")


def test_ingestion_on_snowflake_through_fakesnow(tmp_path):
    fakesnow = pytest.importorskip("fakesnow")
    from dagster_snowflake import SnowflakeResource

    from resources.snowflake_warehouse import SnowflakeWarehouse

    landing = tmp_path / "landing"
    write(landing / "fx_rates" / "fx.csv", FX)
    write(landing / "orders" / "a.ndjson", order("G1", currency="GBP", quantity="2") + order("O2") + "{broken\n")
    write(landing / "orders" / "b.ndjson", order("O2") + order("O3", at="2025-01-01T10:00:00Z", currency="USD"))
    with fakesnow.patch():
        w = SnowflakeWarehouse(
            snowflake=SnowflakeResource(account="test", user="u", password="p", database="TAILOR", schema="PUBLIC")
        )
        ingest_source(FX_RATES, landing, w)
        report = ingest_source(ORDERS, landing, w)
        by_file = {f.file: (f.rows_read, f.rows_accepted, f.rows_quarantined, f.rows_duplicate) for f in report.files_loaded}
        assert by_file == {"orders/a.ndjson": (3, 2, 1, 0), "orders/b.ndjson": (2, 0, 1, 1)}
        orders = read_table(w, "orders").set_index("order_id")
        assert orders.loc["G1", "order_total_eur"] == 23.75
        assert row_count(w, "order_items") == 2 and row_count(w, duplicates_table("orders")) == 1
        assert ingest_source(ORDERS, landing, w).files_loaded == []


def test_ndjson_line_numbers_survive_blank_lines_crlf_a_bom_and_non_objects(tmp_path):
    path = tmp_path / "e.ndjson"
    body = events("e1") + "\n   \n" + "[1, 2]\n" + events("e2").replace("\n", "\r\n") + '{"event_id": "e9", "event_type\n' + events("e3")
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    assert parsed.samples["web_events"]["_source_line"].tolist() == [1, 5, 7]
    assert (parsed.rows_read, parsed.rows_valid) == (5, 3)  # the two blank lines are no rows
    assert parsed.quarantined[["line", "raw", "reason"]].values.tolist() == [
        [4, "[1, 2]", "expected a JSON object, found list"],
        [6, '{"event_id": "e9", "event_type', "not valid JSON: Unterminated string starting at at column 20"],
    ]


def test_a_manifest_from_before_duplicate_counts_rebuilds_the_sources_once(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "events" / "a.ndjson", events("e1", "e2"))
    write_table(warehouse, MANIFEST_TABLE, pd.DataFrame({"source": ["web_events"], "file": ["events/a.ndjson"], "sha256": ["old"]}))
    write_table(warehouse, "web_events", pd.DataFrame({"event_id": ["stale"]}))
    report = ingest_source(WEB_EVENTS, landing, warehouse)
    assert sorted(read_table(warehouse, "web_events")["event_id"]) == ["e1", "e2"] and report.rows_accepted == 2


def test_nan_and_infinity_are_not_json_even_though_duckdb_reads_them(tmp_path):
    # DuckDB's JSON reader takes NaN / Infinity / -Infinity as numbers; RFC 8259 has no such values. The same
    # words inside a string are data and stay (line 4), also next to an escaped quote (line 5).
    path = tmp_path / "e.ndjson"
    body = (
        events("e1")
        + '{"event_id": "e2", "event_type": "product_view", "occurred_at": "2026-01-01T00:00:00Z", "product_id": NaN}\n'
        + '{"event_id": "e3", "event_type": "product_view", "occurred_at": "2026-01-01T00:00:00Z", "session_id": -Infinity}\n'
        + '{"event_id": "e4", "event_type": "product_view", "occurred_at": "2026-01-01T00:00:00Z", "product_id": "NaN Infinity"}\n'
        + '{"event_id": "e5", "event_type": "product_view", "occurred_at": "2026-01-01T00:00:00Z", "product_id": "a\\"NaN"}\n'
    )
    path.write_text(body)
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    good = parsed.samples["web_events"]
    assert good["event_id"].tolist() == ["e1", "e4", "e5"]
    assert good["product_id"].tolist()[1:] == ["NaN Infinity", 'a"NaN']
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_quarantined) == (5, 3, 2)
    assert parsed.quarantined[["line", "reason"]].values.tolist() == [
        [2, "not valid JSON: NaN is not a JSON value (JSON has no NaN or Infinity; send null or a string)"],
        [3, "not valid JSON: -Infinity is not a JSON value (JSON has no NaN or Infinity; send null or a string)"],
    ]
    assert parsed.quarantined["raw"].tolist() == body.splitlines()[1:3]
