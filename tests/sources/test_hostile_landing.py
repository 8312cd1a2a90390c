"""A hostile or careless landing folder (issue 11, items 2 and 15): links out of the folder, error texts that
could echo file content, oversized rows, a repeated header column, all-blank rows."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tailor.sources.contracts import CONSENT_EVENTS, CRM_CUSTOMERS, WEB_EVENTS
from tailor.sources.files import discover_files
from tailor.sources.limits import MAX_FIELD_BYTES, MAX_ROW_BYTES, RAW_EXCERPT_CHARS
from tailor.sources.load import ingest_source
from tailor.sources.parse import LandingFileError, parse_landing_file
from tests.conftest import write
from tests.tables import read_table, table_exists

CRM_HEADER = "customer_ref,email,first_name,last_name,phone,country,city,postcode,timezone,created_at,updated_at\n"
SECRET = "SG.this-is-the-sendgrid-key-0123456789"


def crm_row(ref: str, email: str = "anna@example.com") -> str:
    return f"{ref},{email},Anna,Schmidt,,DE,Berlin,10115,Europe/Berlin,2024-01-01T10:00:00Z,\n"


def landing_with_good_crm(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    write(landing / "crm" / "customers.csv", CRM_HEADER + crm_row("CRM-1"))
    return landing


def assert_refused(landing: Path, warehouse, name: str, *secrets: str) -> LandingFileError:
    with pytest.raises(LandingFileError) as err:
        ingest_source(CRM_CUSTOMERS, landing, warehouse)
    message = str(err.value)
    assert err.value.file == name and message.startswith(f"{name}: ")
    for secret in secrets:
        assert secret not in message
    assert not table_exists(warehouse, "crm_customers")  # nothing of the source is loaded
    return err.value


# --- item 2: links out of the landing folder ------------------------------------------------------------------


def test_a_link_to_a_secret_outside_the_landing_folder_is_refused_without_reading_it(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    secret = write(tmp_path / "elsewhere" / "env", f"SENDGRID_API_KEY={SECRET}\nPATH=/usr/bin\n")
    (landing / "crm" / "env.csv").symlink_to(secret)
    err = assert_refused(landing, warehouse, "crm/env.csv", SECRET, "SENDGRID_API_KEY", str(secret))
    assert "outside the landing folder" in err.problem


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_link_to_proc_self_environ_is_refused(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    (landing / "crm" / "env.csv").symlink_to("/proc/self/environ")
    values = [v for v in os.environ.values() if len(v) >= 8]
    assert_refused(landing, warehouse, "crm/env.csv", *values)


@pytest.mark.skipif(not Path("/etc/passwd").exists(), reason="needs /etc/passwd")
def test_a_link_to_etc_passwd_is_refused_and_its_first_line_not_echoed(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    (landing / "crm" / "passwd.csv").symlink_to("/etc/passwd")
    first_line = Path("/etc/passwd").read_text().splitlines()[0]
    assert_refused(landing, warehouse, "crm/passwd.csv", first_line, first_line.split(":")[0] + ":")


def test_a_link_to_a_valid_csv_elsewhere_is_not_ingested_silently(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    other = write(tmp_path / "other_system" / "export.csv", CRM_HEADER + crm_row("CRM-666", "x@example.com"))
    (landing / "crm" / "export.csv").symlink_to(other)
    assert_refused(landing, warehouse, "crm/export.csv")


def test_a_symlinked_subfolder_or_source_folder_outside_is_refused(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    outside = tmp_path / "outside"
    write(outside / "more.csv", CRM_HEADER + crm_row("CRM-7"))
    (landing / "crm" / "archive").symlink_to(outside, target_is_directory=True)
    err = assert_refused(landing, warehouse, "crm/archive")
    assert "folder" in err.problem and "outside the landing folder" in err.problem

    (landing / "crm" / "archive").unlink()
    (landing / "crm" / "customers.csv").unlink()
    (landing / "crm").rmdir()
    (landing / "crm").symlink_to(outside, target_is_directory=True)
    assert_refused(landing, warehouse, "crm")


def test_the_sensors_file_listing_never_offers_a_link_out_of_the_folder(tmp_path):
    landing = landing_with_good_crm(tmp_path)
    other = write(tmp_path / "other" / "x.csv", CRM_HEADER)
    (landing / "crm" / "x.csv").symlink_to(other)
    assert [p.relative_to(landing).as_posix() for p in discover_files(landing, CRM_CUSTOMERS)] == ["crm/customers.csv"]


def test_links_that_stay_inside_the_landing_folder_are_followed(tmp_path, warehouse):
    real = tmp_path / "real_landing"
    write(real / "crm" / "customers.csv", CRM_HEADER + crm_row("CRM-1"))
    write(real / "archive" / "2026" / "delta.csv", CRM_HEADER + crm_row("CRM-2", "ben@example.com"))
    (real / "crm" / "delta.csv").symlink_to(real / "archive" / "2026" / "delta.csv")
    (real / "crm" / "archive").symlink_to(Path("..") / "archive" / "2026", target_is_directory=True)
    landing = tmp_path / "landing"  # the landing folder itself may be a link (TAILOR_LANDING_DIR)
    landing.symlink_to(real, target_is_directory=True)
    report = ingest_source(CRM_CUSTOMERS, landing, warehouse)
    assert sorted(f.file for f in report.files_loaded) == ["crm/archive/delta.csv", "crm/customers.csv",
                                                          "crm/delta.csv"]
    assert sorted(set(read_table(warehouse, "crm_customers")["customer_ref"])) == ["CRM-1", "CRM-2"]


def test_a_folder_link_loop_is_walked_once_and_a_dangling_link_is_refused(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    (landing / "crm" / "again").symlink_to(Path("."), target_is_directory=True)  # crm/again -> crm
    assert [p.relative_to(landing).as_posix() for p in discover_files(landing, CRM_CUSTOMERS)] == ["crm/customers.csv"]
    (landing / "crm" / "gone.csv").symlink_to(tmp_path / "nowhere.csv")
    err = assert_refused(landing, warehouse, "crm/gone.csv")
    assert "does not exist" in err.problem


def test_a_fifo_or_device_in_the_folder_is_refused_not_read(tmp_path, warehouse):
    landing = landing_with_good_crm(tmp_path)
    os.mkfifo(landing / "crm" / "pipe.csv")  # reading it would block the run for ever
    err = assert_refused(landing, warehouse, "crm/pipe.csv")
    assert "not a regular file" in err.problem


# --- item 2: error texts never quote file content --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("crm/header.csv", f"SENDGRID_API_KEY={SECRET},email\nx,y\n"),  # no customer_ref: the header is not echoed
        ("crm/quote.csv", f'"{SECRET}\n'),  # a malformed header (unterminated quote)
        ("crm/nul.csv", f"customer_ref\x00{SECRET}\n"),
        ("consent/passwd.csv", f"root:x:0:0:{SECRET}:/root:/bin/bash\n"),
    ],
)
def test_a_malformed_header_or_missing_column_never_echoes_the_file(tmp_path, name, content):
    contract = CONSENT_EVENTS if name.startswith("consent") else CRM_CUSTOMERS
    path = write(tmp_path / name, content)
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(contract, path, name, tmp_path)
    assert str(err.value).startswith(f"{name}: ") and SECRET not in str(err.value)
    assert "SENDGRID" not in str(err.value) and "root:x" not in str(err.value)


def test_the_missing_column_error_names_only_expected_columns(tmp_path):
    path = write(tmp_path / "a.csv", f"email,{SECRET},first_name\nx,y,z\n")
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(CRM_CUSTOMERS, path, "crm/a.csv", tmp_path)
    assert str(err.value) == (
        "crm/a.csv: missing required column(s) customer_ref; of the 3 columns in the header, these are expected: "
        "email, first_name"
    )


def test_non_utf8_and_non_json_errors_name_a_position_not_the_bytes(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"customer_ref,email\nCRM-1," + SECRET.encode() + b"\xff\n")
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(CRM_CUSTOMERS, path, "crm/x.csv", tmp_path)
    assert str(err.value) == f"crm/x.csv: not UTF-8 text (byte {25 + len(SECRET)})"
    path = write(tmp_path / "e.ndjson", f"{SECRET}\n{SECRET}\n")
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    assert SECRET not in str(err.value) and "(line 1)" in str(err.value)


# --- item 15: oversized rows, a repeated header column, all-blank rows ------------------------------------------


def test_a_csv_field_over_the_limit_quarantines_its_row_not_the_file(tmp_path):
    big = "x" * (200 * 1024)  # over Python's csv default of 128 KB, and over MAX_FIELD_BYTES
    assert len(big) > MAX_FIELD_BYTES
    path = write(tmp_path / "c.csv", CRM_HEADER + crm_row("CRM-1") + crm_row("CRM-2", big) + crm_row("CRM-3"))
    parsed = parse_landing_file(CRM_CUSTOMERS, path, "crm/c.csv", tmp_path)
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_quarantined) == (3, 2, 1)
    assert parsed.samples["crm_customers"]["customer_ref"].tolist() == ["CRM-1", "CRM-3"]
    (row,) = parsed.quarantined.itertuples()
    assert row.line == 3
    assert row.reason == f"email: the value is {len(big):,} bytes, above the limit of {MAX_FIELD_BYTES:,} bytes per field"
    assert len(row.raw) <= RAW_EXCERPT_CHARS + 1 and row.raw.endswith("…")


def test_a_csv_row_over_the_row_limit_is_quarantined_with_an_excerpt(tmp_path):
    # An extra column the contract does not know: no field limit applies to it, the row limit does.
    header = CRM_HEADER.rstrip("\n") + ",notes\n"
    wide = "y" * (MAX_FIELD_BYTES - 10)
    n = MAX_ROW_BYTES // len(wide) + 1
    rows = crm_row("CRM-1").rstrip("\n") + ",ok\n" + crm_row("CRM-2").rstrip("\n") + f',"{wide * n}"\n'
    path = write(tmp_path / "c.csv", header + rows)
    parsed = parse_landing_file(CRM_CUSTOMERS, path, "crm/c.csv", tmp_path)
    assert (parsed.rows_read, parsed.rows_valid) == (2, 1)
    reason = parsed.quarantined["reason"].iloc[0]
    assert reason.startswith("the row is ") and f"above the limit of {MAX_ROW_BYTES:,} bytes" in reason
    assert len(parsed.quarantined["raw"].iloc[0]) <= RAW_EXCERPT_CHARS + 1


EVENT = '{"event_id":"%s","customer_ref":"CRM-1","event_type":"page_view","occurred_at":"2026-01-01T10:00:00Z"%s}\n'


def test_an_oversized_ndjson_line_valid_or_not_is_quarantined_with_a_bounded_excerpt(tmp_path):
    padding = "z" * (MAX_ROW_BYTES + 100)
    body = (EVENT % ("e1", "")) + (EVENT % ("e2", f',"session_id":"{padding}"')) + '{"event_id": "' + padding + "\n"
    body += EVENT % ("e3", "")
    path = write(tmp_path / "e.ndjson", body)
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    assert parsed.samples["web_events"]["event_id"].tolist() == ["e1", "e3"]
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_quarantined) == (4, 2, 2)
    q = parsed.quarantined
    assert q["line"].tolist() == [2, 3]
    assert all(r.startswith("the line is ") and f"above the limit of {MAX_ROW_BYTES:,} bytes" in r for r in q["reason"])
    assert q["raw"].str.len().max() <= RAW_EXCERPT_CHARS + 1


def test_a_long_field_of_an_ndjson_line_under_the_row_limit_is_quarantined(tmp_path):
    long_id = "s" * (MAX_FIELD_BYTES + 1)
    path = write(tmp_path / "e.ndjson", (EVENT % ("e1", f',"session_id":"{long_id}"')) + EVENT % ("e2", ""))
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    assert parsed.samples["web_events"]["event_id"].tolist() == ["e2"]
    assert parsed.quarantined["reason"].tolist() == [
        f"session_id: the value is {len(long_id):,} bytes, above the limit of {MAX_FIELD_BYTES:,} bytes per field"
    ]


def test_a_quarantined_row_keeps_at_most_an_excerpt(tmp_path):
    path = write(tmp_path / "e.ndjson", '{"event_id": "e1", "x": "' + "q" * 50_000 + "\n" + EVENT % ("e2", ""))
    parsed = parse_landing_file(WEB_EVENTS, path, "events/e.ndjson", tmp_path)
    raw = parsed.quarantined["raw"].iloc[0]
    assert len(raw) == RAW_EXCERPT_CHARS + 1 and raw.startswith('{"event_id": "e1"') and raw.endswith("…")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        (CRM_HEADER.replace("phone", "email"), "the column email appears twice in the header (columns 2 and 5)"),
        (CRM_HEADER.rstrip("\n") + ",notes,notes\n", "a column name appears twice in the header (columns 12 and 13)"),
    ],
)
def test_a_csv_with_a_repeated_header_column_is_refused(tmp_path, header, problem):
    path = write(tmp_path / "c.csv", header + crm_row("CRM-1").rstrip("\n") + ",a,b\n")
    with pytest.raises(LandingFileError) as err:
        parse_landing_file(CRM_CUSTOMERS, path, "crm/c.csv", tmp_path)
    assert str(err.value) == f"crm/c.csv: {problem}"


def test_all_blank_csv_rows_are_counted_and_quarantined_empty_lines_are_no_rows(tmp_path):
    body = CRM_HEADER + crm_row("CRM-1") + ",,,,,,,,,,\n" + "\n" + " , ,  ,,,,,,,,\n" + crm_row("CRM-2")
    path = write(tmp_path / "c.csv", body)
    parsed = parse_landing_file(CRM_CUSTOMERS, path, "crm/c.csv", tmp_path)
    assert (parsed.rows_read, parsed.rows_valid, parsed.rows_quarantined) == (4, 2, 2)
    assert parsed.quarantined[["line", "reason"]].values.tolist() == [
        [3, "every field is blank"], [5, "every field is blank"],
    ]
    assert json.loads(parsed.quarantined["raw"].iloc[0])["customer_ref"] == ""
    assert parsed.samples["crm_customers"]["_source_line"].tolist() == [2, 6]
