"""Rows landed since the last ingest, read without writing (issue 11, item 7): what send-time consent reads so that
a revocation landed after customer_profiles was built still stops the send."""

from __future__ import annotations

import os

import pytest

from tailor.sources.contracts import CONSENT_EVENTS, EMAIL_EVENTS
from tailor.sources.landed import landed_rows
from tailor.sources.load import ingest_source
from tailor.sources.parse import LandingFileError
from tailor.sources.tables import empty_table
from tests.conftest import write
from tests.tables import query, read_table

HEADER = "email,purpose,status,changed_at,source\n"


def warehouse_state(warehouse) -> dict:
    tables = query(warehouse, "SELECT table_name FROM information_schema.tables ORDER BY table_name")["table_name"]
    return {t: read_table(warehouse, t).to_csv(index=False) for t in tables}


def landed(warehouse, landing):
    with warehouse.session() as s:
        return landed_rows(CONSENT_EVENTS, landing, s)


def test_a_consent_file_landed_after_the_ingest_is_returned_and_nothing_is_written(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "consent" / "consent-0001.csv", HEADER + "dmitri@example.com,marketing_email,granted,2026-01-01,checkout\n")
    ingest_source(CONSENT_EVENTS, landing, warehouse)
    write(landing / "consent" / "consent-0002.csv",
          HEADER + "dmitri@example.com,marketing_email,revoked,2026-11-30T10:00:00Z,preference_center\n"
          + "broken@example.com,marketing_email,maybe,2026-11-30,x\n"  # quarantined as ingestion would
          + "forged@example.com,marketing_email,granted,2099-01-01,x\n")  # from the future: quarantined too
    before = warehouse_state(warehouse)
    rows = landed(warehouse, landing)
    assert list(rows.columns) == list(empty_table(CONSENT_EVENTS, "consent_events").columns)
    assert rows[["email", "status", "_source_file", "_source_line"]].values.tolist() == [
        ["dmitri@example.com", "revoked", "consent/consent-0002.csv", 2]]
    assert rows["changed_at"].dtype.kind == "M"
    assert warehouse_state(warehouse) == before


def test_an_already_loaded_file_is_not_returned(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "consent" / "consent-0001.csv", HEADER + "a@example.com,marketing_email,revoked,2026-01-01,x\n")
    ingest_source(CONSENT_EVENTS, landing, warehouse)
    rows = landed(warehouse, landing)
    assert rows.empty and list(rows.columns) == list(empty_table(CONSENT_EVENTS, "consent_events").columns)


def test_a_changed_file_gives_its_new_version(tmp_path, warehouse):
    landing = tmp_path / "landing"
    path = write(landing / "consent" / "consent-0001.csv", HEADER + "a@example.com,marketing_email,granted,2026-01-01,x\n")
    ingest_source(CONSENT_EVENTS, landing, warehouse)
    write(path, HEADER + "a@example.com,marketing_email,granted,2026-01-01,x\n"
          + "a@example.com,marketing_email,revoked,2026-11-01,x\n")
    os.utime(path, None)
    rows = landed(warehouse, landing)
    assert rows[["status", "_source_line"]].values.tolist() == [["granted", 2], ["revoked", 3]]


def test_before_any_ingest_every_file_is_landed(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "consent" / "c.csv", HEADER + "a@example.com,marketing_email,revoked,2026-01-01,x\n")
    assert len(landed(warehouse, landing)) == 1


def test_landed_email_events_repeat_no_event_id(tmp_path, warehouse):
    landing = tmp_path / "landing"
    line = '{"sg_event_id":"%s","email":"a@example.com","event":"unsubscribe","timestamp":1764000000}\n'
    write(landing / "email_events" / "a.ndjson", line % "e1" + line % "e2")
    write(landing / "email_events" / "b.ndjson", line % "e2" + line % "e3")
    with warehouse.session() as s:
        rows = landed_rows(EMAIL_EVENTS, landing, s)
    assert rows[["event_id", "_source_file"]].values.tolist() == [
        ["e1", "email_events/a.ndjson"], ["e2", "email_events/a.ndjson"], ["e3", "email_events/b.ndjson"]]
    # nothing is created, not even the manifest
    assert not query(warehouse, "SELECT table_name FROM information_schema.tables").shape[0]


def test_a_link_out_of_the_landing_folder_fails_as_in_ingestion(tmp_path, warehouse):
    landing = tmp_path / "landing"
    outside = write(tmp_path / "outside.csv", HEADER + "a@example.com,marketing_email,granted,2026-01-01,x\n")
    (landing / "consent").mkdir(parents=True)
    (landing / "consent" / "x.csv").symlink_to(outside)
    with pytest.raises(LandingFileError, match="consent/x.csv: a symbolic link"):
        landed(warehouse, landing)
