"""Implausible future timestamps (issue 11, item 6): a row dated after its file arrived (its modification time when
first seen, never later than the ingestion) plus CLOCK_SKEW_TOLERANCE is quarantined, naming the field."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

from tailor.sources.contracts import CONSENT_EVENTS, CRM_CUSTOMERS, EMAIL_EVENTS, FX_RATES, ORDERS, WEB_EVENTS
from tailor.sources.limits import CLOCK_SKEW_TOLERANCE
from tailor.sources.load import ingest_source
from tailor.sources.parse import parse_landing_file
from tests.conftest import write
from tests.tables import read_table

ARRIVAL = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)
SKEW = "plus 5 minutes allowed for clock skew"


def arrived(path: Path, when: datetime = ARRIVAL) -> Path:
    os.utime(path, (when.timestamp(), when.timestamp()))
    return path


def test_a_future_dated_consent_grant_is_quarantined_naming_the_field(tmp_path, warehouse):
    landing = tmp_path / "landing"
    arrived(write(
        landing / "consent" / "consent.csv",
        "email,purpose,status,changed_at,source\n"
        "dmitri@example.com,marketing_email,granted,2099-01-01,forged\n"
        "dmitri@example.com,marketing_email,revoked,2026-05-20T10:00:00Z,preference_center\n",
    ))
    report = ingest_source(CONSENT_EVENTS, landing, warehouse)
    assert (report.rows_read, report.rows_accepted, report.rows_quarantined) == (2, 1, 1)
    assert read_table(warehouse, "consent_events")["status"].tolist() == ["revoked"]
    (reason,) = read_table(warehouse, "consent_events__quarantine")["reason"]
    assert reason == f"changed_at: '2099-01-01' is later than the file's arrival (2026-06-01 12:00:00 UTC) {SKEW}"


def test_the_tolerance_allows_clock_skew_and_no_more(tmp_path):
    within = ARRIVAL + CLOCK_SKEW_TOLERANCE - timedelta(seconds=1)
    beyond = ARRIVAL + CLOCK_SKEW_TOLERANCE + timedelta(seconds=1)
    path = arrived(write(
        tmp_path / "e.ndjson",
        "".join(
            f'{{"event_id":"{i}","event_type":"page_view","occurred_at":"{t:%Y-%m-%dT%H:%M:%S}Z"}}\n'
            for i, t in (("e1", ARRIVAL - timedelta(days=1)), ("e2", within), ("e3", beyond))
        ),
    ))
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    assert parsed.samples["web_events"]["event_id"].tolist() == ["e1", "e2"]
    assert parsed.quarantined["reason"].str.startswith("occurred_at: '2026-06-01T12:05:01Z' is later than").all()
    assert parsed.arrived_at == ARRIVAL.replace(tzinfo=None)


def test_every_source_with_event_timestamps_quarantines_future_rows(tmp_path):
    future_unix = int(datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp())
    cases = [
        (EMAIL_EVENTS, "email_events/e.ndjson",
         f'{{"sg_event_id":"e1","email":"a@example.com","event":"unsubscribe","timestamp":{future_unix}}}\n',
         "timestamp"),
        (ORDERS, "orders/o.ndjson",
         '{"order_id":"O1","customer_ref":"CRM-1","ordered_at":"2030-01-01T00:00:00+01:00","currency":"EUR",'
         '"status":"completed","items":[{"product_id":"P1","quantity":1,"unit_price":1}]}\n', "ordered_at"),
        (CRM_CUSTOMERS, "crm/c.csv", "customer_ref,updated_at\nCRM-1,2027-01-01\n", "updated_at"),
        (CRM_CUSTOMERS, "crm/d.csv", "customer_ref,created_at\nCRM-1,2027-01-01\n", "created_at"),
    ]
    for contract, name, body, field in cases:
        path = arrived(write(tmp_path / name, body))
        parsed = parse_landing_file(contract, path, name, tmp_path)
        assert parsed.rows_valid == 0 and parsed.rows_quarantined == 1, name
        assert parsed.quarantined["reason"].iloc[0].startswith(f"{field}: "), name
        assert parsed.quarantined["reason"].iloc[0].endswith(SKEW), name


def test_fx_rate_dates_are_business_days_not_event_times(tmp_path):
    # A rate for the day of arrival (its midnight is before the arrival) is fine; dates are not judged.
    path = arrived(write(tmp_path / "fx.csv", "rate_date,currency,eur_per_unit\n2026-06-01,GBP,1.17\n"))
    assert parse_landing_file(FX_RATES, path, "fx_rates/fx.csv", tmp_path).rows_valid == 1


def test_a_forged_future_mtime_does_not_make_future_rows_plausible(tmp_path):
    path = arrived(write(tmp_path / "consent.csv", "email,purpose,status,changed_at\n"
                                                   "a@example.com,marketing_email,granted,2099-01-01\n"),
                   datetime(2099, 6, 1, tzinfo=timezone.utc))
    parsed = parse_landing_file(CONSENT_EVENTS, path, "consent/consent.csv", tmp_path)
    assert parsed.rows_valid == 0
    assert parsed.arrived_at <= datetime.now(timezone.utc).replace(tzinfo=None)


def test_a_file_read_again_keeps_the_arrival_it_was_first_seen_with(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "fx_rates" / "fx-1.csv", "rate_date,currency,eur_per_unit\n2026-05-01,GBP,1.17\n")
    orders = arrived(write(
        landing / "orders" / "orders.ndjson",
        '{"order_id":"O1","customer_ref":"CRM-1","ordered_at":"2026-06-01T11:00:00Z","currency":"GBP",'
        '"status":"completed","items":[{"product_id":"P1","quantity":1,"unit_price":1}]}\n'
        '{"order_id":"O2","customer_ref":"CRM-1","ordered_at":"2026-06-01T13:00:00Z","currency":"EUR",'
        '"status":"completed","items":[{"product_id":"P1","quantity":1,"unit_price":1}]}\n',
    ))
    ingest_source(FX_RATES, landing, warehouse)
    first = ingest_source(ORDERS, landing, warehouse)
    assert (first.rows_accepted, first.rows_quarantined) == (1, 1)
    # Touched later (same bytes), then read again because the rates changed: O2 is still from the future.
    arrived(orders, ARRIVAL + timedelta(days=1))
    write(landing / "fx_rates" / "fx-2.csv", "rate_date,currency,eur_per_unit\n2026-05-02,GBP,1.18\n")
    ingest_source(FX_RATES, landing, warehouse)
    again = ingest_source(ORDERS, landing, warehouse)
    assert again.files_reread == ["orders/orders.ndjson"]
    assert (again.rows_accepted, again.rows_quarantined) == (1, 1)
    manifest = read_table(warehouse, "landing_files").set_index("file")
    assert manifest.loc["orders/orders.ndjson", "arrived_at"] == pd.Timestamp("2026-06-01 12:00")
