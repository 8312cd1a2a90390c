"""Ingestion of landing files: parse, validate against the contract, quarantine, deduplicate, load incrementally.

Nothing is lost and nothing is counted twice. For every file:
``rows read = rows accepted + rows quarantined + rows duplicate``; each quarantined row keeps its file, line,
raw text and a readable reason, and each duplicate (an event id already loaded, from this or another file)
names the file and line where it first appeared. A file that cannot be read at all, or that misses a
required column, raises ``LandingFileError`` before anything of its source is written.

How (and why this way): the per-line Python parser ran at ~50k rows/s, 400 s for 20M web events. Now a
local, in-memory DuckDB does the heavy part for every file: the NDJSON lines are handed to it as one Arrow
string column (zero-copy over the file's bytes, so physical line numbers are exact), JSON fields are pulled
out with ``json_extract_string`` as text, and one generated SQL statement types every column and gives each
row its reason (NULL for a good row). Only lines DuckDB cannot parse as JSON go through Python's ``json``,
to word the reason (and lines with a bare NaN/Infinity, which DuckDB would accept). Files are parsed on
several threads at once, one single-threaded DuckDB each (PARSE_WORKERS). CSV files are read by Python's csv
module (C code; exact line numbers even with quoted newlines), then typed by the same SQL. Good rows are
written to a Parquet file; the warehouse loads it (``append_parquet``: DuckDB reads it natively; on Snowflake
it goes through ``write_pandas``, which stages Parquet and runs COPY INTO — see docs/data-contracts.md,
"Ingestion at scale").

Files are tracked by path and content hash in the ``landing_files`` manifest: unchanged files are skipped,
new ones are loaded, and a changed file replaces every row of its earlier version. Deduplication of event
ids across files is SQL in the warehouse (Snowflake dialect), against the rows already loaded.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from tailor.sources.contracts import ALL_SOURCES, SourceContract
from tailor.sources.files import discover_files, file_sha256, file_stamp
from tailor.sources.parse import ParsedFile, parse_landing_file
from tailor.sources.tables import (
    MANIFEST_COLUMNS,
    MANIFEST_TABLE,
    QUARANTINE_COLUMNS,
    create_sql,
    duplicates_table,
    empty_duplicates,
    empty_table,
    output_tables,
    quarantine_table,
)
from tailor.warehouse.session import Warehouse, WarehouseSession
from tailor.warehouse.sql import string_literal

# Pandera checks every new row of a file when the run's budget allows, else a seeded sample: the budget is
# PANDERA_ROWS_PER_RUN rows per source and run, shared by its files (never fewer than PANDERA_MIN_ROWS_PER_FILE
# each). Every row has already passed the same rules in SQL, pandera is the independent second look; the
# samples are held as DataFrames until the run ends, so a fixed 50k per file cost 5M rows (~3 GB) at 1M
# customers.
PANDERA_ROWS_PER_RUN = 200_000
PANDERA_MIN_ROWS_PER_FILE = 2_000


# Files are parsed by this many threads at once, each with its own single-threaded DuckDB (which releases the
# GIL): a file of 200k lines is too small for DuckDB to spread one query over the cores itself.
PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass
class IngestReport:
    source: str
    files_seen: int
    files_loaded: list[ParsedFile]
    files_unchanged: int
    table_rows: dict[str, int]  # rows now in each table of the source
    quarantine_rows: int
    duplicate_rows: int = 0  # rows now in the source's duplicates table
    files_reread: list[str] = field(default_factory=list)  # unchanged files read again: fx_rates changed, or ids freed

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files_loaded)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files_loaded)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files_loaded)

    @property
    def rows_duplicate(self) -> int:
        return sum(f.rows_duplicate for f in self.files_loaded)

    def samples(self, table: str) -> pd.DataFrame:
        """The rows pandera checks for ``table``: every new row, or a seeded sample per file."""
        parts = [f.samples[table] for f in self.files_loaded if table in f.samples]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _dependency_version(session: WarehouseSession, contract: SourceContract) -> str:
    """A hash of the files the source's ingestion depends on (orders: the fx_rates files), '' if none."""
    if not contract.depends_on or not session.table_exists(MANIFEST_TABLE):
        return ""
    names = ", ".join(string_literal(d) for d in contract.depends_on)
    rows = session.query(f"SELECT source, file, sha256 FROM {MANIFEST_TABLE} WHERE source IN ({names})")
    text = "|".join(sorted(f"{r.source}:{r.file}:{r.sha256}" for r in rows.itertuples()))
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def _fx_rates(session: WarehouseSession) -> pd.DataFrame | None:
    if not session.table_exists("fx_rates"):
        return None
    # Where two files give a rate for the same day, the file that sorts last (the later export) wins.
    return session.query(
        "SELECT rate_date, currency, eur_per_unit FROM fx_rates "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY rate_date, currency ORDER BY _source_file DESC, _source_line DESC) = 1"
    )


def _manifest_is_current(session: WarehouseSession) -> bool:
    if not session.table_exists(MANIFEST_TABLE):
        return True
    columns = set(session.query(f"SELECT * FROM {MANIFEST_TABLE} LIMIT 0").columns)
    return set(MANIFEST_COLUMNS) <= columns


def _tables_of(contract: SourceContract) -> list[str]:
    tables = [*output_tables(contract), quarantine_table(contract.name)]
    return tables + ([duplicates_table(contract.name)] if contract.dedupe_across_files else [])


def ingest_source(contract: SourceContract, landing_dir: Path, warehouse: Warehouse) -> IngestReport:
    """Load new and changed files of one source; unchanged files are not read again."""
    paths = discover_files(landing_dir, contract)
    by_file = {p.relative_to(landing_dir).as_posix(): p for p in paths}
    with warehouse.session() as s:
        if not _manifest_is_current(s):
            # A manifest from before the duplicate counts: rebuild every source from its files, once.
            for c in ALL_SOURCES:
                for t in _tables_of(c):
                    s.execute(f"DROP TABLE IF EXISTS {t}")
            s.execute(f"DROP TABLE IF EXISTS {MANIFEST_TABLE}")
        known = _manifest(s, contract.name)
        version = _dependency_version(s, contract)
        fx = _fx_rates(s) if "fx_rates" in contract.depends_on else None
        # Like the sensor: a file whose size and mtime are unchanged is not hashed again (7 GB at 1M customers).
        changed = [
            f for f, p in by_file.items()
            if f not in known or (known[f][2] != file_stamp(p) and known[f][0] != file_sha256(p))
        ]
        stale = [f for f in by_file if f in known and known[f][1] != version and f not in changed]
        reload = set(changed) | set(stale)
        if contract.dedupe_across_files and reload and s.table_exists(duplicates_table(contract.name)):
            # A file whose rows were duplicates of a replaced file's rows must be judged again: if the new
            # version no longer has those ids, the later file's copies are the first ones now.
            while True:
                names = ", ".join(string_literal(f) for f in sorted(reload))
                more = s.query(
                    f"SELECT DISTINCT file FROM {duplicates_table(contract.name)} WHERE first_file IN ({names})"
                )
                extra = {f for f in more["file"] if f in by_file} - reload
                if not extra:
                    break
                reload |= extra

    files = sorted(reload)
    sample_rows = max(PANDERA_MIN_ROWS_PER_FILE, PANDERA_ROWS_PER_RUN // max(1, len(files)))
    workers = min(PARSE_WORKERS, len(files)) or 1
    with tempfile.TemporaryDirectory(prefix=f"tailor-ingest-{contract.name}-") as tmp:
        def parse(file: str) -> ParsedFile:
            return parse_landing_file(contract, by_file[file], file, Path(tmp), fx_rates=fx, sample_rows=sample_rows,
                                      threads=1 if workers > 1 else None)

        # Parsing writes nothing to the warehouse, so a broken file raises before anything is loaded; map()
        # gives the results (and the first error) in file order, as a sequential loop would.
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tailor-parse") as pool:
            loaded = list(pool.map(parse, files))
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        with warehouse.session() as s:
            counts = _load_parsed_files(s, contract, loaded, version, now)
    return IngestReport(
        source=contract.name,
        files_seen=len(paths),
        files_loaded=loaded,
        files_unchanged=len(paths) - len(loaded),
        table_rows={t: counts[t] for t in output_tables(contract)},
        quarantine_rows=counts[quarantine_table(contract.name)],
        duplicate_rows=counts.get(duplicates_table(contract.name), 0),
        files_reread=sorted(set(loaded_f.file for loaded_f in loaded) - set(changed)),
    )


def _load_parsed_files(s: WarehouseSession, contract: SourceContract, loaded: list[ParsedFile], version: str,
                       now: datetime) -> dict[str, int]:
    """Replace the earlier versions of the ``loaded`` files by their rows, quarantined rows and manifest entries;
    returns the rows now in each of the source's tables."""
    tables = output_tables(contract)
    replaced = [f.file for f in loaded]
    for table in _tables_of(contract) + [MANIFEST_TABLE]:
        column = "_source_file" if table in tables else "file"
        if table == MANIFEST_TABLE:
            if replaced and s.table_exists(MANIFEST_TABLE):
                files = ", ".join(string_literal(f) for f in replaced)
                s.execute(f"DELETE FROM {MANIFEST_TABLE} WHERE source = {string_literal(contract.name)} AND file IN ({files})")
        else:
            s.delete_where_in(table, column, replaced)
    for table in tables:
        if not s.table_exists(table):
            s.execute(create_sql(table, empty_table(contract, table)))
    if contract.dedupe_across_files:
        if not s.table_exists(duplicates_table(contract.name)):
            s.execute(create_sql(duplicates_table(contract.name), empty_duplicates()))
        if loaded:
            _load_deduplicated(s, contract, loaded)
    else:
        for table in tables:
            if loaded:
                s.append_parquet(table, [f.parquet[table] for f in loaded])

    q = [f.quarantined for f in loaded if len(f.quarantined)]
    quarantined = pd.concat(q, ignore_index=True) if q else pd.DataFrame(columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
    if not s.table_exists(quarantine_table(contract.name)):
        s.execute(create_sql(quarantine_table(contract.name), quarantined.head(0)))
    if q:
        s.write_table(quarantine_table(contract.name), quarantined, mode="append")

    manifest = pd.DataFrame(
        [
            {
                "source": contract.name, "file": f.file, "sha256": f.sha256, "rows_read": f.rows_read,
                "rows_accepted": f.rows_accepted, "rows_quarantined": f.rows_quarantined,
                "rows_duplicate": f.rows_duplicate, "depends_on": version, "file_stamp": f.stamp, "ingested_at": now,
            }
            for f in loaded
        ],
        columns=MANIFEST_COLUMNS,
    ).astype({"rows_read": "int64", "rows_accepted": "int64", "rows_quarantined": "int64",
              "rows_duplicate": "int64", "ingested_at": "datetime64[ns]"})
    if not s.table_exists(MANIFEST_TABLE):
        s.execute(create_sql(MANIFEST_TABLE, manifest.head(0)))
    if loaded:
        s.write_table(MANIFEST_TABLE, manifest, mode="append")
    counted = _tables_of(contract)
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, COUNT(*) AS n FROM {t}" for t in counted)
    got = s.query(sql)
    return dict(zip(got["t"], got["n"].astype(int)))


# The columns compared to say whether a duplicate's content differs from the first copy.
_COMPARED = {
    "orders": ["customer_ref", "ordered_at", "currency", "status", "order_total", "item_count"],
    "web_events": ["customer_ref", "anonymous_id", "event_type", "product_id", "occurred_at", "platform", "session_id"],
    "email_events": ["message_id", "email", "event_type", "occurred_at", "url", "campaign_id"],
}


def _load_deduplicated(s: WarehouseSession, contract: SourceContract, loaded: list[ParsedFile]) -> None:
    """Stage the new rows, find the ones whose key was loaded before (or earlier in this batch), load the rest.

    All Snowflake-dialect SQL in the warehouse: the existing table can be 20M rows, it never comes to pandas.
    The first copy of a key is the one already loaded, else the one of the first file (by path) and line.
    """
    main = output_tables(contract)[0]
    key = contract.unique_key
    assert isinstance(key, str)
    stage = f"_ingest_stage_{main}"
    dups = f"_ingest_dups_{contract.name}"
    s.execute(f"DROP TABLE IF EXISTS {stage}")
    s.append_parquet(stage, [f.parquet[main] for f in loaded])
    same = " AND ".join(f"EQUAL_NULL(s.{c}, f.{c})" for c in _COMPARED[main])
    s.execute(
        f"""
        CREATE OR REPLACE TABLE {dups} AS
        WITH existing AS (
            SELECT t.* FROM {main} t WHERE t.{key} IN (SELECT {key} FROM {stage})
        ),
        repeated AS (
            SELECT {key} FROM {stage} GROUP BY {key} HAVING COUNT(*) > 1
        ),
        staged AS (
            -- Only rows whose key was loaded before or comes twice in this batch can be duplicates: the window
            -- (which holds whole rows) runs over those few, not over the 20M staged rows of a first load.
            SELECT *, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY _source_file, _source_line) AS rn
            FROM {stage}
            WHERE {key} IN (SELECT {key} FROM repeated) OR {key} IN (SELECT {key} FROM existing)
        ),
        firsts AS (
            SELECT {key}, _source_file, _source_line, {', '.join(_COMPARED[main])} FROM existing
            UNION ALL
            SELECT s.{key}, s._source_file, s._source_line, {', '.join('s.' + c for c in _COMPARED[main])}
            FROM staged s LEFT JOIN existing e ON e.{key} = s.{key}
            WHERE s.rn = 1 AND e.{key} IS NULL
        )
        SELECT '{contract.name}' AS source, s._source_file AS file, s._source_line AS line, s.{key} AS key,
               f._source_file AS first_file, f._source_line AS first_line,
               NOT ({same}) AS content_differs
        FROM staged s JOIN firsts f ON f.{key} = s.{key}
        WHERE NOT (s._source_file = f._source_file AND s._source_line = f._source_line)
        """
    )
    s.execute(f"INSERT INTO {duplicates_table(contract.name)} SELECT * FROM {dups}")
    for table in output_tables(contract):
        source = stage if table == main else f"_ingest_stage_{table}"
        if table != main:
            s.execute(f"DROP TABLE IF EXISTS {source}")
            s.append_parquet(source, [f.parquet[table] for f in loaded])
        columns = ", ".join(f"x.{c}" for c in empty_table(contract, table).columns)
        s.execute(
            f"""
            INSERT INTO {table}
            SELECT {columns} FROM {source} x
            LEFT JOIN {dups} d ON d.file = x._source_file AND d.line = x._source_line
            WHERE d.line IS NULL
            """
        )
        if table != main:
            s.execute(f"DROP TABLE IF EXISTS {source}")
    per_file = s.query(f"SELECT file, COUNT(*) AS n FROM {dups} GROUP BY file")
    counts = dict(zip(per_file["file"], per_file["n"].astype(int)))
    examples = s.query(f"SELECT * FROM {dups} ORDER BY file, line LIMIT 1000")
    for f in loaded:
        f.rows_duplicate = counts.get(f.file, 0)
        f.duplicates = examples[examples["file"] == f.file].reset_index(drop=True)
    s.execute(f"DROP TABLE IF EXISTS {stage}")
    s.execute(f"DROP TABLE IF EXISTS {dups}")


def _manifest(session: WarehouseSession, source: str) -> dict[str, tuple[str, str, str]]:
    if not session.table_exists(MANIFEST_TABLE):
        return {}
    rows = session.query(f"SELECT file, sha256, depends_on, file_stamp FROM {MANIFEST_TABLE} WHERE source = {string_literal(source)}")
    return {r.file: (r.sha256, r.depends_on or "", r.file_stamp or "") for r in rows.itertuples()}


def key_repeats(warehouse: Warehouse, contract: SourceContract) -> int:
    """How many rows of the source's table repeat a key already in it (0 expected); SQL over the whole table."""
    if not isinstance(contract.unique_key, str):
        return 0
    table, key = output_tables(contract)[0], contract.unique_key
    with warehouse.session() as s:
        return int(s.query(f"SELECT COUNT(*) - COUNT(DISTINCT {key}) AS n FROM {table}")["n"].iloc[0])
