"""CRM delta files and removed landing files (issue 11, item 12): a later record for the same key is an update (one
row per key), and every row of a file that has disappeared goes, in every table of its source."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tailor.sources.contracts import CRM_CUSTOMERS, ORDERS, PRODUCTS, WEB_EVENTS
from tailor.sources.load import ingest_source, key_repeats
from tailor.sources.tables import MANIFEST_TABLE, duplicates_table, quarantine_table
from tests.conftest import write
from tests.tables import query, read_table, row_count

HEADER = "customer_ref,email,first_name,updated_at\n"


def crm(landing: Path, name: str, rows: str, arrived: datetime | None = None) -> Path:
    path = write(landing / "crm" / name, HEADER + rows)
    if arrived is not None:
        os.utime(path, (arrived.timestamp(), arrived.timestamp()))
    return path


def day(d: int) -> datetime:
    return datetime(2026, 3, d, 9, tzinfo=timezone.utc)


def assert_books_balance(warehouse, source: str, table: str, key: str):
    """Per file: read = accepted + quarantined + duplicate, the counts match the tables, one row per key."""
    manifest = query(warehouse, f"SELECT * FROM {MANIFEST_TABLE} WHERE source = '{source}'").set_index("file")
    assert (manifest["rows_read"] == manifest["rows_accepted"] + manifest["rows_quarantined"]
            + manifest["rows_duplicate"]).all()
    rows = read_table(warehouse, table)
    assert rows[key].is_unique
    accepted = rows.groupby("_source_file").size().reindex(manifest.index, fill_value=0)
    assert accepted.to_dict() == manifest["rows_accepted"].to_dict()
    dups = read_table(warehouse, duplicates_table(source)).groupby("file").size()
    assert dups.reindex(manifest.index, fill_value=0).to_dict() == manifest["rows_duplicate"].to_dict()
    return manifest


def by_ref(warehouse) -> dict[str, tuple[str, str]]:
    rows = read_table(warehouse, "crm_customers")
    return {ref: (email, file) for ref, email, file in zip(rows["customer_ref"], rows["email"], rows["_source_file"])}


def test_a_crm_ref_in_two_delta_files_is_one_updated_row(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm(landing, "crm-0001.csv", "CRM-1,old@example.com,Anna,2026-03-01\nCRM-2,ben@example.com,Ben,2026-03-01\n")
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    crm(landing, "crm-0002.csv", "CRM-1,new@example.com,Anna,2026-03-02\n")
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert [f.file for f in report.files_loaded] == ["crm/crm-0002.csv"]  # the first file is not read again
    assert by_ref(warehouse) == {"CRM-1": ("new@example.com", "crm/crm-0002.csv"),
                                 "CRM-2": ("ben@example.com", "crm/crm-0001.csv")}
    assert key_repeats(warehouse, CRM_CUSTOMERS) == 0
    dups = read_table(warehouse, duplicates_table("crm_customers"))
    assert dups[["file", "line", "key", "first_file", "first_line", "content_differs"]].values.tolist() == [
        ["crm/crm-0001.csv", 2, "CRM-1", "crm/crm-0002.csv", 2, True]]
    manifest = assert_books_balance(warehouse, "crm_customers", "crm_customers", "customer_ref")
    assert manifest.loc["crm/crm-0001.csv", ["rows_accepted", "rows_duplicate"]].tolist() == [1, 1]


def test_updated_at_decides_before_the_order_files_arrive_in(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm(landing, "b.csv", "CRM-1,newer@example.com,Anna,2026-03-05\n", arrived=day(6))
    crm(landing, "a.csv", "CRM-1,older@example.com,Anna,2026-03-01\n", arrived=day(10))  # a late re-send
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert by_ref(warehouse) == {"CRM-1": ("newer@example.com", "crm/b.csv")}
    assert_books_balance(warehouse, "crm_customers", "crm_customers", "customer_ref")


def test_without_updated_at_the_later_arriving_file_wins_whatever_its_name(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm(landing, "z-old.csv", "CRM-1,first@example.com,Anna,\n", arrived=day(1))
    crm(landing, "a-new.csv", "CRM-1,second@example.com,Anna,\n", arrived=day(2))
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert by_ref(warehouse) == {"CRM-1": ("second@example.com", "crm/a-new.csv")}


def test_deleting_the_winning_file_brings_the_earlier_record_back(tmp_path, warehouse):
    landing = tmp_path / "landing"
    crm(landing, "crm-0001.csv", "CRM-1,old@example.com,Anna,2026-03-01\n,nobody@example.com,X,\n")
    later = crm(landing, "crm-0002.csv", "CRM-1,new@example.com,Anna,2026-03-02\nCRM-3,c@example.com,C,\n"
                                         "CRM-3,c2@example.com,C,\n")
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert row_count(warehouse, quarantine_table("crm_customers")) == 2
    later.unlink()
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert report.files_removed == ["crm/crm-0002.csv"]
    assert by_ref(warehouse) == {"CRM-1": ("old@example.com", "crm/crm-0001.csv")}
    assert read_table(warehouse, quarantine_table("crm_customers"))["file"].tolist() == ["crm/crm-0001.csv"]
    assert row_count(warehouse, duplicates_table("crm_customers")) == 0
    manifest = assert_books_balance(warehouse, "crm_customers", "crm_customers", "customer_ref")
    assert manifest.index.tolist() == ["crm/crm-0001.csv"]


def test_three_versions_loaded_one_by_one_then_removed_newest_first(tmp_path, warehouse):
    landing = tmp_path / "landing"
    files = []
    for n in (1, 2, 3):
        files.append(crm(landing, f"crm-000{n}.csv", f"CRM-1,v{n}@example.com,Anna,2026-03-0{n}\n"))
        ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert by_ref(warehouse) == {"CRM-1": ("v3@example.com", "crm/crm-0003.csv")}
    dups = read_table(warehouse, duplicates_table("crm_customers")).sort_values("file")
    # both older versions name the version kept now, not the one that was kept when they lost
    assert dups[["file", "first_file"]].values.tolist() == [["crm/crm-0001.csv", "crm/crm-0003.csv"],
                                                            ["crm/crm-0002.csv", "crm/crm-0003.csv"]]
    assert_books_balance(warehouse, "crm_customers", "crm_customers", "customer_ref")
    for expected in ("v2@example.com", "v1@example.com"):
        files.pop().unlink()
        ingest_source(CRM_CUSTOMERS, landing, warehouse)
        assert by_ref(warehouse)["CRM-1"][0] == expected
        assert_books_balance(warehouse, "crm_customers", "crm_customers", "customer_ref")


def test_a_product_in_two_catalogue_files_is_one_row(tmp_path, warehouse):
    landing = tmp_path / "landing"
    head = "product_id,name,category,price,currency\n"
    path = write(landing / "products" / "p-1.csv", head + "P1,Boot,shoes,10.00,EUR\n")
    os.utime(path, (day(1).timestamp(),) * 2)
    write(landing / "products" / "p-2.csv", head + "P1,Boot,shoes,12.00,EUR\n")
    ingest_source(PRODUCTS, landing, warehouse)
    assert read_table(warehouse, "products")["price"].tolist() == [12.0]
    assert key_repeats(warehouse, PRODUCTS) == 0


EVENT = '{"event_id":"%s","customer_ref":"CRM-1","event_type":"page_view","occurred_at":"2026-01-01T10:00:00Z"}\n'


def test_a_deleted_event_file_goes_and_its_ids_no_longer_count_as_duplicates(tmp_path, warehouse):
    landing = tmp_path / "landing"
    a = write(landing / "events" / "a.ndjson", EVENT % "e1" + EVENT % "e2" + "{broken\n")
    write(landing / "events" / "b.ndjson", EVENT % "e2" + EVENT % "e3")
    ingest_source(WEB_EVENTS, landing, warehouse)
    assert row_count(warehouse, duplicates_table("web_events")) == 1
    a.unlink()
    report = ingest_source(WEB_EVENTS, landing, warehouse)
    assert report.files_removed == ["events/a.ndjson"] and report.files_reread == ["events/b.ndjson"]
    rows = read_table(warehouse, "web_events").set_index("event_id")
    assert rows["_source_file"].to_dict() == {"e2": "events/b.ndjson", "e3": "events/b.ndjson"}
    assert row_count(warehouse, duplicates_table("web_events")) == 0
    assert row_count(warehouse, quarantine_table("web_events")) == 0
    manifest = assert_books_balance(warehouse, "web_events", "web_events", "event_id")
    assert manifest["rows_accepted"].to_dict() == {"events/b.ndjson": 2}


def test_a_deleted_orders_file_takes_its_items_along(tmp_path, warehouse):
    landing = tmp_path / "landing"
    line = ('{"order_id":"%s","customer_ref":"CRM-1","ordered_at":"2026-01-01T10:00:00Z","currency":"EUR",'
            '"status":"completed","items":[{"product_id":"P1","quantity":1,"unit_price":1}]}\n')
    gone = write(landing / "orders" / "a.ndjson", line % "O1")
    write(landing / "orders" / "b.ndjson", line % "O2")
    ingest_source(ORDERS, landing, warehouse)
    gone.unlink()
    ingest_source(ORDERS, landing, warehouse)
    assert read_table(warehouse, "orders")["order_id"].tolist() == ["O2"]
    assert read_table(warehouse, "order_items")["order_id"].tolist() == ["O2"]
    files = query(warehouse, f"SELECT file FROM {MANIFEST_TABLE} WHERE source = 'orders'")["file"].tolist()
    assert files == ["orders/b.ndjson"]


def test_removing_every_file_of_a_source_empties_it(tmp_path, warehouse):
    landing = tmp_path / "landing"
    only = crm(landing, "crm-0001.csv", "CRM-1,a@example.com,Anna,\n")
    ingest_source(CRM_CUSTOMERS, landing, warehouse)
    only.unlink()
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert report.table_rows == {"crm_customers": 0} and report.files_removed == ["crm/crm-0001.csv"]
    assert query(warehouse, f"SELECT COUNT(*) AS n FROM {MANIFEST_TABLE}")["n"].iloc[0] == 0


def test_updates_and_removals_on_snowflake_through_fakesnow(tmp_path):
    fakesnow = pytest.importorskip("fakesnow")
    from dagster_snowflake import SnowflakeResource

    from resources.snowflake_warehouse import SnowflakeWarehouse

    landing = tmp_path / "landing"
    crm(landing, "crm-0001.csv", "CRM-1,old@example.com,Anna,2026-03-01\nCRM-2,ben@example.com,Ben,\n", arrived=day(1))
    with fakesnow.patch():
        w = SnowflakeWarehouse(
            snowflake=SnowflakeResource(account="test", user="u", password="p", database="TAILOR", schema="PUBLIC")
        )
        ingest_source(CRM_CUSTOMERS, landing, w)
        later = crm(landing, "crm-0002.csv", "CRM-1,new@example.com,Anna,2026-03-02\n")
        ingest_source(CRM_CUSTOMERS, landing, w)
        assert by_ref(w) == {"CRM-1": ("new@example.com", "crm/crm-0002.csv"),
                             "CRM-2": ("ben@example.com", "crm/crm-0001.csv")}
        assert_books_balance(w, "crm_customers", "crm_customers", "customer_ref")
        later.unlink()
        ingest_source(CRM_CUSTOMERS, landing, w)
        assert by_ref(w)["CRM-1"] == ("old@example.com", "crm/crm-0001.csv")
        assert row_count(w, duplicates_table("crm_customers")) == 0
