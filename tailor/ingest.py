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

import csv
import hashlib
import io
import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import duckdb
import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pa_arrow
from pandera.typing import Series

from tailor.contracts import ALL_SOURCES, SOURCES_BY_NAME, Column, SourceContract, currency_minor_units

MANIFEST_TABLE = "landing_files"
MANIFEST_COLUMNS = [
    "source", "file", "sha256", "rows_read", "rows_accepted", "rows_quarantined", "rows_duplicate",
    "depends_on", "file_stamp", "ingested_at",
]
QUARANTINE_COLUMNS = ["source", "file", "line", "raw", "reason"]
DUPLICATE_COLUMNS = ["source", "file", "line", "key", "first_file", "first_line", "content_differs"]
# Pandera checks every new row of a file when the run's budget allows, else a seeded sample: the budget is
# PANDERA_ROWS_PER_RUN rows per source and run, shared by its files (never fewer than PANDERA_MIN_ROWS_PER_FILE
# each). Every row has already passed the same rules in SQL, pandera is the independent second look; the
# samples are held as DataFrames until the run ends, so a fixed 50k per file cost 5M rows (~3 GB) at 1M
# customers.
PANDERA_ROWS_PER_RUN = 200_000
PANDERA_MIN_ROWS_PER_FILE = 2_000
PANDERA_ROWS_PER_FILE = 50_000  # a single file parsed on its own (parse_landing_file's default)
# Files are parsed by this many threads at once, each with its own single-threaded DuckDB (which releases the
# GIL): a file of 200k lines is too small for DuckDB to spread one query over the cores itself.
PARSE_WORKERS = max(1, min(4, os.cpu_count() or 1))
# Each parse connection's own cap (its tables are one file's rows; above it DuckDB spills to the temp folder).
PARSE_MEMORY_LIMIT = "1GB"
_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")
# What Python's datetime.fromisoformat reads (the documented rule), minus its exotic forms; TRY_CAST does
# the calendar check (2025-02-30 fails), the pattern keeps out what DuckDB alone would accept ('infinity').
_ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)?"
_DECIMAL = r"[+-]?\d+(\.\d+)?"
# DuckDB's JSON reader accepts NaN, Infinity and -Infinity as numbers; JSON (RFC 8259) has no such values. A
# line holding one of the words outside a string (strings are cut out first) goes to the Python fallback.
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
_NON_JSON_NUMBER = f"regexp_matches(regexp_replace(text, '{_JSON_STRING}', '', 'g'), 'NaN|Infinity')"


class QuarantineSchema(pa.DataFrameModel):
    source: Series[str] = pa.Field(isin=[c.name for c in ALL_SOURCES])
    file: Series[str]
    line: Series[int] = pa.Field(ge=1)
    raw: Series[str]
    reason: Series[str] = pa.Field(str_length={"min_value": 1})


class DuplicateSchema(pa.DataFrameModel):
    source: Series[str] = pa.Field(isin=[c.name for c in ALL_SOURCES if c.dedupe_across_files])
    file: Series[str]
    line: Series[int] = pa.Field(ge=1)
    key: Series[str]
    first_file: Series[str]
    first_line: Series[int] = pa.Field(ge=1)
    content_differs: Series[bool]


class LandingFileError(ValueError):
    """A landing file that cannot be loaded at all. The message names the file and the problem."""

    def __init__(self, file: str, problem: str) -> None:
        super().__init__(f"{file}: {problem}")
        self.file = file
        self.problem = problem


@dataclass
class ParsedFile:
    source: str
    file: str  # relative to the landing folder
    sha256: str
    rows_read: int
    parquet: dict[str, Path]  # valid rows per warehouse table (not yet deduplicated across files)
    rows_valid: int  # rows that passed the contract (main table)
    quarantined: pd.DataFrame
    samples: dict[str, pd.DataFrame]  # rows for pandera: all of them, or a seeded sample (see PANDERA_ROWS_PER_RUN)
    stamp: str = ""  # size:mtime_ns when parsed; an unchanged stamp spares hashing the file next time
    rows_duplicate: int = 0  # set when loaded: valid rows whose key was already loaded
    duplicates: pd.DataFrame | None = None  # a few of them, with where they first appeared

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def rows_accepted(self) -> int:
        return self.rows_valid - self.rows_duplicate

    def table(self, name: str) -> pd.DataFrame:
        """The valid rows of one table as a DataFrame (tests and small files; the loader never does this)."""
        with duckdb.connect() as con:
            return _ns(con.execute("SELECT * FROM read_parquet(?)", [str(self.parquet[name])]).df())


def _ns(df: pd.DataFrame, booleans: tuple[str, ...] = ()) -> pd.DataFrame:
    """The project's dtypes: timestamps as datetime64[ns] (DuckDB hands out microseconds), booleans nullable."""
    for column in df.columns:
        if df[column].dtype.kind == "M":
            df[column] = df[column].astype("datetime64[ns]")
        elif df[column].dtype == bool or column in booleans:
            df[column] = df[column].astype("boolean")
    return df


# --------------------------------------------------------------------------- SQL pieces (local DuckDB)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _quoted(expr: str) -> str:
    """SQL giving the value as Python would show it in a reason: 'abc' (cut at 60 characters)."""
    return f"'''' || left({expr}, 60) || ''''"


_KIND_WORDS = {
    "timestamp": "an ISO-8601 timestamp",
    "unix_timestamp": "a unix timestamp in seconds",
    "date": "a date (YYYY-MM-DD)",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "money": "a decimal amount (digits and a point, e.g. 12.50)",
    "rate": "a decimal number (digits and a point)",
}


def _typed_expr(c: Column, t: str, minor_units: str | None) -> str:
    """SQL for the typed value of column ``c`` whose trimmed text (NULL when blank) is ``t``."""
    if c.kind in ("string", "currency"):
        return t
    if c.kind == "timestamp":
        # ICU (statically linked) reads any offset; the session is UTC, so naive text means UTC.
        return f"CASE WHEN regexp_full_match({t}, '{_ISO_TIMESTAMP}') THEN TRY_CAST({t} AS TIMESTAMPTZ)::TIMESTAMP END"
    if c.kind == "unix_timestamp":
        return f"CASE WHEN regexp_full_match({t}, '\\d{{1,11}}(\\.\\d+)?') THEN to_timestamp(TRY_CAST({t} AS DOUBLE))::TIMESTAMP END"
    if c.kind == "date":
        return f"CASE WHEN regexp_full_match({t}, '\\d{{4}}-\\d{{2}}-\\d{{2}}') THEN TRY_CAST({t} AS DATE)::TIMESTAMP END"
    if c.kind == "integer":
        return f"CASE WHEN regexp_full_match({t}, '[+-]?\\d{{1,18}}(\\.0+)?') THEN TRY_CAST(TRY_CAST({t} AS DECIMAL(38, 4)) AS BIGINT) END"
    if c.kind == "number":
        return f"TRY_CAST({t} AS DOUBLE)"
    if c.kind in ("money", "rate"):
        # Exact decimals: a JSON number reaches us as its shortest round-trip text (95.19 -> '95.19').
        scale = 4 if c.kind == "money" else 10
        return f"CASE WHEN regexp_full_match({t}, '{_DECIMAL}') THEN TRY_CAST({t} AS DECIMAL(28, {scale})) END"
    if c.kind == "boolean":
        true = ", ".join(_lit(v) for v in _TRUE)
        false = ", ".join(_lit(v) for v in _FALSE)
        return f"CASE WHEN lower({t}) IN ({true}) THEN TRUE WHEN lower({t}) IN ({false}) THEN FALSE END"
    raise ValueError(c.kind)  # pragma: no cover - Kind is a closed literal


def _reason_exprs(c: Column, t: str, v: str, minor_units: str | None, known_currency: str | None) -> list[str]:
    """SQL expressions, each NULL or one reason why the column's value is bad."""
    out: list[str] = []
    if c.kind not in ("string", "currency"):
        words = _KIND_WORDS[c.kind]
        out.append(f"CASE WHEN {t} IS NOT NULL AND {v} IS NULL THEN '{c.name}: cannot read ' || {_quoted(t)} || ' as {words}' END")
    if c.required:
        out.append(f"CASE WHEN {t} IS NULL THEN '{c.name}: required value is missing' END")
    if c.choices:
        allowed = ", ".join(_lit(x) for x in c.choices)
        out.append(
            f"CASE WHEN {v} IS NOT NULL AND {v} NOT IN ({allowed}) "
            f"THEN '{c.name}: ' || {_quoted(t)} || ' is not one of {', '.join(c.choices)}' END"
        )
    if c.kind == "currency" and known_currency is not None:
        out.append(
            f"CASE WHEN {v} IS NOT NULL AND {known_currency} IS NULL "
            f"THEN '{c.name}: ' || {_quoted(t)} || ' is not an ISO 4217 currency code (upper case, e.g. EUR)' END"
        )
    if c.minimum is not None:
        op, words = ("<=", "must be above") if c.exclusive_minimum else ("<", "is below the minimum")
        out.append(f"CASE WHEN {v} {op} {c.minimum:g} THEN '{c.name}: ' || {t} || ' {words} {c.minimum:g}' END")
    if c.kind == "money" and minor_units is not None:
        decimals = f"length(regexp_extract({t}, '\\.(\\d*?)0*$', 1))"  # trailing zeros do not count
        out.append(
            f"CASE WHEN {v} IS NOT NULL AND {minor_units} IS NOT NULL AND {decimals} > {minor_units} "
            f"THEN '{c.name}: ' || {t} || ' has ' || {decimals} || ' decimals, ' || {known_currency} "
            f"|| ' allows ' || {minor_units} END"
        )
    return out


def _validation_select(
    columns: tuple[Column, ...], source: str, currency: str | None, extra_reasons: list[str], keep: tuple[str, ...] = ()
) -> str:
    """One SELECT over ``source`` (trimmed text columns) giving typed columns and a reason per row.

    ``currency`` is the SQL of the row's currency text (for money columns and the ISO 4217 check); the
    ``_cur`` table of codes and minor units is joined on it.
    """
    typed: list[str] = []
    reasons: list[str] = []
    minor = "_cur.minor_units" if currency else None
    known = "_cur.code" if currency else None
    for c in columns:
        t = f'src."txt_{c.name}"'
        v = _typed_expr(c, t, minor)
        typed.append(f'{v} AS "{c.name}"')
        reasons.extend(_reason_exprs(c, t, f"({v})", minor, known))
    reasons.extend(extra_reasons)
    reason = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
    join = f"LEFT JOIN _cur ON _cur.code = {currency}" if currency else ""
    kept = "".join(f", src.{k}" for k in keep)
    return f"SELECT src.line{kept}, {', '.join(typed)}, {reason} AS _reason FROM {source} AS src {join}"


# --------------------------------------------------------------------------- reading raw text


def _decode_check(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LandingFileError(file, f"not UTF-8 text (byte {exc.start})") from None


def _check_required_fields(con: duckdb.DuckDBPyConnection, contract: SourceContract, file: str) -> None:
    """A required field that no record has at all is a broken file, not a file of bad rows.

    Checked on the first 1,000 readable records, and on all of them only when one looks missing there.
    """
    present = ", ".join(f"bool_or(json_exists(r.raw, {_lit('$.' + c)}))" for c in contract.required_columns)
    for limit in (" LIMIT 1000", ""):
        found = con.execute(
            f"SELECT {present} FROM (SELECT line FROM _txt ORDER BY line{limit}) t JOIN _raw r USING (line)"
        ).fetchone()
        missing = [c for c, ok in zip(contract.required_columns, found) if not ok]
        if not missing:
            return
    raise LandingFileError(file, f"missing required field(s) {', '.join(missing)} in every record")


def _ndjson_lines(data: bytes, file: str) -> pa_arrow.Table:
    """Every physical line as one Arrow string (its newline included), built over the bytes without copying."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    offsets = np.concatenate([[0], newlines + 1, [len(data)]])
    n = len(offsets) - 1
    if len(data) < 2**31 - 1:
        texts = pa_arrow.StringArray.from_buffers(n, pa_arrow.py_buffer(offsets.astype(np.int32)), pa_arrow.py_buffer(data))
    else:
        texts = pa_arrow.LargeStringArray.from_buffers(n, pa_arrow.py_buffer(offsets.astype(np.int64)), pa_arrow.py_buffer(data))
    try:
        texts.validate(full=True)  # UTF-8 check without decoding the file into a Python str
    except pa_arrow.ArrowInvalid:
        _decode_check(data, file)
        raise  # pragma: no cover - _decode_check names the byte
    return pa_arrow.table({"line": pa_arrow.array(np.arange(1, n + 1, dtype=np.int64)), "text": texts})


def _reject_constant(word: str) -> Any:
    raise ValueError(f"{word} is not a JSON value (JSON has no NaN or Infinity; send null or a string)")


def _json_problem(line: str) -> str:
    """Why DuckDB could not read a line as a JSON object, in Python's words (the per-line fallback)."""
    try:
        value = json.loads(line, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:  # NaN/Infinity, or e.g. a number too large for Python
        return f"not valid JSON: {exc}"
    if isinstance(value, dict):
        return "not strict JSON (NaN, Infinity or similar are not allowed)"
    return f"expected a JSON object, found {type(value).__name__}"


@dataclass
class _Csv:
    header: list[str]
    table: pa_arrow.Table  # line, then the raw text of every header column as c0, c1, ...
    bad: list[dict[str, Any]]  # rows with the wrong number of fields


def _read_csv(data: bytes, file: str, contract: SourceContract) -> _Csv:
    reader = csv.reader(io.StringIO(_decode_check(data, file), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise LandingFileError(file, "the file is empty (no header row)") from None
    except csv.Error as exc:
        raise LandingFileError(file, f"not a valid CSV file: {exc}") from None
    header = [h.strip() for h in header]
    missing = [c for c in contract.required_columns if c not in header]
    if missing:
        raise LandingFileError(
            file, f"missing required column(s) {', '.join(missing)}; the header has: {', '.join(header)}"
        )
    width = len(header)
    lines: list[int] = []
    rows: list[list[str]] = []
    bad: list[dict[str, Any]] = []
    line = 1
    try:
        for values in reader:
            start = line + 1
            line = reader.line_num
            if not values or all(v.strip() == "" for v in values):
                continue
            if len(values) != width:
                bad.append({"line": start, "raw": json.dumps(values, ensure_ascii=False),
                            "reason": f"expected {width} fields, found {len(values)}"})
                continue
            lines.append(start)
            rows.append(values)
    except csv.Error as exc:
        raise LandingFileError(file, f"not a valid CSV file at line {line + 1}: {exc}") from None
    columns = list(zip(*rows)) if rows else [() for _ in header]
    arrays = {"line": pa_arrow.array(lines, type=pa_arrow.int64())}
    arrays.update({f"c{i}": pa_arrow.array(col, type=pa_arrow.string()) for i, col in enumerate(columns)})
    return _Csv(header, pa_arrow.table(arrays), bad)


# --------------------------------------------------------------------------- one file


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _trimmed(expr: str) -> str:
    return f"NULLIF(trim({expr}), '')"  # blanks at either end are no data; an empty value is missing


def _connect(threads: int | None = None, temp_dir: Path | None = None) -> duckdb.DuckDBPyConnection:
    config: dict[str, Any] = {"memory_limit": PARSE_MEMORY_LIMIT}
    if threads:
        config["threads"] = threads
    if temp_dir is not None:
        config["temp_directory"] = str(temp_dir)  # not DuckDB's default '.tmp' in the working directory
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    con.register("_cur_df", pd.DataFrame(list(currency_minor_units().items()), columns=["code", "minor_units"]))
    con.execute("CREATE TABLE _cur AS SELECT code, minor_units::INTEGER AS minor_units FROM _cur_df")
    return con


def parse_landing_file(
    contract: SourceContract, path: Path, file: str, out_dir: Path, fx_rates: pd.DataFrame | None = None,
    sample_rows: int = PANDERA_ROWS_PER_FILE, threads: int | None = None,
) -> ParsedFile:
    """Parse one file of ``contract``; ``file`` is its name relative to the landing folder.

    Valid rows go to Parquet files in ``out_dir``; ``fx_rates`` (rate_date, currency, eur_per_unit) is
    needed for orders (a non-EUR order without a rate on or before its UTC date is quarantined). At most
    ``sample_rows`` valid rows per table are kept for pandera; ``threads``: the parse connection's DuckDB threads.
    """
    stamp = _stamp(path)
    data = path.read_bytes()
    sha256 = hashlib.sha256(data).hexdigest()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    with _connect(threads, out_dir) as con:
        pre_bad: list[dict[str, Any]] = []
        if contract.file_format == "csv":
            parsed = _read_csv(data, file, contract)
            pre_bad = parsed.bad
            con.register("_csv", parsed.table)
            index = {h: i for i, h in enumerate(parsed.header)}
            raw = "json_object(" + ", ".join(f"{_lit(h)}, c{i}" for i, h in enumerate(parsed.header)) + ")"
            fields = ", ".join(
                f'{_trimmed(f"c{index[c.name]}") if c.name in index else "NULL::VARCHAR"} AS "txt_{c.name}"'
                for c in contract.columns
            )
            con.execute(f"CREATE TABLE _txt AS SELECT line, {fields} FROM _csv")
            # The raw row (JSON of the header's values) is only built for the rows that are quarantined.
            con.execute(f"CREATE VIEW _raw AS SELECT line, {raw} AS raw FROM _csv")
            rows_read = con.execute("SELECT COUNT(*) FROM _txt").fetchone()[0] + len(pre_bad)
        else:
            lines = _ndjson_lines(data, file)
            con.register("_lines", lines)
            con.execute("CREATE VIEW _raw AS SELECT line, rtrim(text, chr(13) || chr(10)) AS raw FROM _lines")
            names = [c.name for c in contract.columns] + (["items"] if contract.nested else [])
            paths = ", ".join(_lit(f"$.{n}") for n in names)
            # One pass: json_valid is cheap, so only valid objects are taken apart; the rest (bad or blank
            # lines, a handful) go to Python, which words the reason.
            extract = f"json_extract_string(text, [{paths}])"
            fields = ", ".join(f"{_trimmed(f'v[{i + 1}]')} AS \"txt_{n}\"" for i, n in enumerate(names))
            con.execute(
                f"""
                CREATE TABLE _txt AS
                SELECT line, v IS NOT NULL AS _ok, {fields}
                FROM (
                    SELECT line, CASE WHEN NOT json_valid(text) THEN NULL
                                      WHEN (contains(text, 'NaN') OR contains(text, 'Infinity'))
                                           AND {_NON_JSON_NUMBER} THEN NULL
                                      WHEN starts_with(text, '{{') THEN {extract}
                                      WHEN json_type(text) = 'OBJECT' THEN {extract} END AS v
                    FROM _lines
                )
                """
            )
            bad_lines = "SELECT r.line, r.raw FROM _txt p JOIN _raw r USING (line) WHERE NOT p._ok ORDER BY r.line"
            blank = 0
            for line, text in con.execute(bad_lines).fetchall():
                if text.strip() == "":
                    blank += 1  # an empty line is no row
                    continue
                pre_bad.append({"line": line, "raw": text, "reason": _json_problem(text)})
            rows_read = lines.num_rows - blank
            if rows_read and len(pre_bad) == rows_read:
                first = pre_bad[0]
                raise LandingFileError(file, f"not a newline-delimited JSON file: {first['reason']} (line {first['line']})")
            con.execute("DELETE FROM _txt WHERE NOT _ok")
            if rows_read > len(pre_bad) and contract.required_columns:
                _check_required_fields(con, contract, file)

        currency = next((f'src."txt_{c.name}"' for c in contract.columns if c.kind == "currency"), None)
        item_reasons: list[str] = []
        if contract.nested:
            _items(con, contract)
            item_reasons = ["_it.reason"]
            select = _validation_select(contract.columns, "_txt", currency, item_reasons)
            select = select.replace(" AS src ", " AS src LEFT JOIN _item_reasons AS _it ON _it.line = src.line ", 1)
        else:
            select = _validation_select(contract.columns, "_txt", currency, [])
        con.execute(f"CREATE TABLE _typed AS {select}")

        keys = contract.key_columns
        if keys and not contract.dedupe_across_files:
            # Inside one file a repeated key of a CRM record, product or rate is a conflict: quarantine it.
            # (Event ids are deduplicated across all files in the warehouse instead: see _load.)
            key_cols = ", ".join(f'"{k}"' for k in keys)
            shown = " || ', ' || ".join(_quoted(f'CAST(t."{k}" AS VARCHAR)') for k in keys)
            key_name = ", ".join(keys)
            con.execute(
                f"""
                CREATE OR REPLACE TABLE _typed AS
                WITH firsts AS (
                    SELECT *, MIN(line) OVER (PARTITION BY {key_cols}) AS _first_line
                    FROM _typed WHERE _reason IS NULL
                )
                SELECT t.* REPLACE (
                    COALESCE(t._reason, CASE WHEN f._first_line < t.line
                        THEN '{key_name}: duplicate value ' || {shown} || ' (first seen at line ' || f._first_line || ')' END
                    ) AS _reason)
                FROM _typed t LEFT JOIN firsts f ON f.line = t.line
                """
            )

        if contract.name == "orders":
            _convert_to_eur(con, fx_rates)

        quarantined = con.execute(
            "SELECT t.line, r.raw, t._reason AS reason FROM _typed t JOIN _raw r USING (line) WHERE t._reason IS NOT NULL"
        ).df()
        quarantined = pd.concat([quarantined, pd.DataFrame(pre_bad, columns=["line", "raw", "reason"])], ignore_index=True)
        quarantined.insert(0, "file", file)
        quarantined.insert(0, "source", contract.name)
        quarantined = quarantined[QUARANTINE_COLUMNS].astype({"line": "int64", "raw": object, "reason": object})
        quarantined = quarantined.sort_values("line", kind="stable").reset_index(drop=True)

        outputs = _output_selects(contract, file)
        stem = f"{contract.name}-{sha256[:16]}-{abs(hash(file)) % 10**8}"
        parquet: dict[str, Path] = {}
        samples: dict[str, pd.DataFrame] = {}
        rows_valid = 0
        for table, select in outputs.items():
            target = out_dir / f"{stem}-{table}.parquet"
            order = " ORDER BY _source_line" + (", line_no" if table == "order_items" else "")
            con.execute(f"COPY ({select}{order}) TO {_lit(str(target))} (FORMAT parquet)")
            parquet[table] = target
            n = con.execute("SELECT COUNT(*) FROM read_parquet(?)", [str(target)]).fetchone()[0]
            if table == contract.name or (contract.nested and table == "orders"):
                rows_valid = n
            sample = "" if n <= sample_rows else f" USING SAMPLE reservoir({sample_rows} ROWS) REPEATABLE (42)"
            booleans = tuple(c.table_name for c in contract.columns if c.kind == "boolean")
            samples[table] = _ns(con.execute(f"SELECT * FROM read_parquet(?){sample}", [str(target)]).df(), booleans)
    return ParsedFile(
        source=contract.name, file=file, sha256=sha256, rows_read=int(rows_read), parquet=parquet,
        rows_valid=int(rows_valid), quarantined=quarantined, samples=samples, stamp=stamp,
    )


def _items(con: duckdb.DuckDBPyConnection, contract: SourceContract) -> None:
    """Flatten each order's ``items``; ``_item_reasons`` says why an order's items make it bad."""
    columns = contract.nested
    paths = ", ".join(_lit(f"$.{c.name}") for c in columns)
    fields = ", ".join(f'{_trimmed(f"v[{i + 1}]")} AS "txt_{c.name}"' for i, c in enumerate(columns))
    con.execute(
        """
        CREATE TABLE _orders_items AS
        SELECT line, txt_items AS items, txt_currency AS currency FROM _txt
        """
    )
    con.execute(
        f"""
        CREATE TABLE _item_txt AS
        SELECT line, line_no, item, json_type(item) = 'OBJECT' AS is_object, currency, {fields}
        FROM (
            SELECT o.line, u.n AS line_no, u.item, o.currency,
                   json_extract_string(u.item, [{paths}]) AS v
            FROM _orders_items o, unnest(json_extract(o.items, '$[*]')) WITH ORDINALITY AS u(item, n)
            WHERE json_type(o.items) = 'ARRAY'
        )
        """
    )
    select = _validation_select(columns, "_item_txt", "src.currency", [], keep=("line_no", "is_object"))
    con.execute(f"CREATE TABLE _item_typed AS {select}")
    con.execute(
        """
        CREATE TABLE _item_reasons AS
        WITH per_item AS (
            SELECT line, line_no,
                   CASE WHEN NOT is_object THEN 'items[' || line_no || ']: expected an object'
                        WHEN _reason IS NOT NULL THEN 'items[' || line_no || '].' || _reason END AS reason
            FROM _item_typed
        )
        SELECT o.line,
               CASE WHEN o.items IS NULL OR json_type(o.items) <> 'ARRAY' OR json_array_length(o.items) = 0
                    THEN 'items: an order needs a non-empty list of line items'
                    ELSE (SELECT string_agg(p.reason, '; ' ORDER BY p.line_no) FROM per_item p WHERE p.line = o.line)
               END AS reason
        FROM _orders_items o
        """
    )


def _convert_to_eur(con: duckdb.DuckDBPyConnection, fx_rates: pd.DataFrame | None) -> None:
    """Rate of each valid order: the latest one on or before its UTC date (EUR is 1); none -> quarantined."""
    fx = fx_rates if fx_rates is not None else pd.DataFrame(columns=["rate_date", "currency", "eur_per_unit"])
    con.register("_fx_df", fx)
    con.execute(
        """
        CREATE TABLE _fx AS
        SELECT CAST(rate_date AS DATE) AS rate_date, CAST(currency AS VARCHAR) AS currency,
               CAST(eur_per_unit AS DECIMAL(28, 10)) AS eur_per_unit
        FROM _fx_df
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE _typed AS
        SELECT t.* REPLACE (
                   COALESCE(t._reason, CASE WHEN t.currency <> 'EUR' AND fx.eur_per_unit IS NULL
                       THEN 'currency: no FX rate for ' || t.currency || ' on or before '
                            || strftime(CAST(t.ordered_at AS DATE), '%Y-%m-%d') || ' in fx_rates' END) AS _reason),
               CASE WHEN t.currency = 'EUR' THEN 1 ELSE fx.eur_per_unit END AS _eur_per_unit
        FROM _typed t
        ASOF LEFT JOIN _fx fx ON fx.currency = t.currency AND CAST(t.ordered_at AS DATE) >= fx.rate_date
        """
    )


def _output_selects(contract: SourceContract, file: str) -> dict[str, str]:
    """SELECTs of the valid rows in table shape (money as exact decimals, cast to DOUBLE at the very end)."""
    f = _lit(file)

    def value(c: Column) -> str:
        v = f'"{c.name}"'
        return f"CAST({v} AS DOUBLE)" if c.kind in ("money", "rate", "number") else v

    if contract.nested:
        good = "(SELECT * FROM _typed WHERE _reason IS NULL)"
        items = f"""
            SELECT i.line, i.line_no, i.product_id, i.quantity, i.unit_price,
                   i.quantity * i.unit_price AS line_total, o._eur_per_unit, o.order_id
            FROM _item_typed i JOIN {good} o ON o.line = i.line
        """
        order_items = f"""
            SELECT order_id, line_no::BIGINT AS line_no, product_id, quantity, CAST(unit_price AS DOUBLE) AS unit_price,
                   CAST(line_total AS DOUBLE) AS line_total,
                   CAST(ROUND(line_total * _eur_per_unit, 2) AS DOUBLE) AS line_total_eur,
                   {f} AS _source_file, line AS _source_line
            FROM ({items})
        """
        orders = f"""
            SELECT o.order_id, o.customer_ref, o.ordered_at, o.currency, o.status,
                   CAST(s.total AS DOUBLE) AS order_total, s.item_count,
                   CAST(ROUND(s.total * o._eur_per_unit, 2) AS DOUBLE) AS order_total_eur,
                   {f} AS _source_file, o.line AS _source_line
            FROM {good} o
            JOIN (SELECT line, SUM(line_total) AS total, COUNT(*)::BIGINT AS item_count FROM ({items}) GROUP BY line) s
              ON s.line = o.line
        """
        return {"orders": orders, "order_items": order_items}
    cols = ", ".join(f'{value(c)} AS "{c.table_name}"' for c in contract.columns)
    return {contract.name: f"SELECT {cols}, {f} AS _source_file, line AS _source_line FROM _typed WHERE _reason IS NULL"}


# --------------------------------------------------------------------------- tables and schemas


def output_tables(contract: SourceContract) -> list[str]:
    return ["orders", "order_items"] if contract.nested else [contract.name]


_DTYPES = {"string": object, "currency": object, "integer": "int64", "number": float, "money": float, "rate": float,
           "boolean": "boolean", "timestamp": "datetime64[ns]", "unix_timestamp": "datetime64[ns]",
           "date": "datetime64[ns]"}


def empty_table(contract: SourceContract, table: str) -> pd.DataFrame:
    """A typed, empty table, so that the first load of an empty source still creates the right columns."""
    if table == "order_items":
        spec = {"order_id": object, "line_no": "int64", "product_id": object, "quantity": "int64",
                "unit_price": float, "line_total": float, "line_total_eur": float}
    else:
        spec = {c.table_name: _DTYPES[c.kind] for c in contract.columns}
        if table == "orders":
            spec.update({"order_total": float, "item_count": "int64", "order_total_eur": float})
    spec.update({"_source_file": object, "_source_line": "int64"})
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in spec.items()})


def table_schema(contract: SourceContract, table: str, check_unique: bool = True) -> pa.DataFrameSchema:
    """The pandera schema of a loaded table: the contract's types and checks, plus provenance columns.

    ``check_unique=False`` for a sample of new rows taken before cross-file deduplication: uniqueness over
    the whole table is checked in SQL instead (``key_repeats``).
    """
    by_name = {c.table_name: c for c in (*contract.columns, *contract.nested)}
    unique = contract.unique_key if isinstance(contract.unique_key, str) and table != "order_items" else None
    unique = unique if check_unique else None
    columns: dict[str, pa.Column] = {}
    for name, dtype in empty_table(contract, table).dtypes.items():
        spec = by_name.get(str(name))
        checks = []
        if spec is not None and spec.choices:
            checks.append(pa.Check.isin(list(spec.choices)))
        if spec is not None and spec.minimum is not None:
            checks.append(pa.Check.gt(spec.minimum) if spec.exclusive_minimum else pa.Check.ge(spec.minimum))
        if spec is not None and spec.kind == "currency":
            checks.append(pa.Check.isin(sorted(currency_minor_units())))
        if str(name) in ("order_total", "order_total_eur", "line_total", "line_total_eur"):
            checks.append(pa.Check.ge(0))
        required = (spec is not None and spec.required) or str(name) in (
            "_source_file", "_source_line", "line_no", "order_total", "order_total_eur", "item_count",
            "line_total", "line_total_eur",
        )
        columns[str(name)] = pa.Column(
            str if dtype == object else dtype,
            nullable=not required,
            checks=checks,
            unique=(str(name) == unique),
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=table)


# --------------------------------------------------------------------------- a whole source, incrementally


class _Session(Protocol):
    def query(self, sql: str) -> pd.DataFrame: ...
    def execute(self, sql: str) -> None: ...
    def write_table(self, name: str, df: pd.DataFrame, mode: str = "replace") -> None: ...
    def append_parquet(self, name: str, paths: list[Path]) -> None: ...
    def delete_where_in(self, name: str, column: str, values: list[Any]) -> None: ...
    def table_exists(self, name: str) -> bool: ...


class _Warehouse(Protocol):
    def session(self) -> Any: ...


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


def quarantine_table(source: str) -> str:
    return f"{source}__quarantine"


def duplicates_table(source: str) -> str:
    return f"{source}__duplicates"


def discover_files(landing_dir: Path, contract: SourceContract) -> list[Path]:
    folder = landing_dir / contract.folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in contract.suffixes)


def _dependency_version(session: _Session, contract: SourceContract) -> str:
    """A hash of the files the source's ingestion depends on (orders: the fx_rates files), '' if none."""
    if not contract.depends_on or not session.table_exists(MANIFEST_TABLE):
        return ""
    names = ", ".join(_lit(d) for d in contract.depends_on)
    rows = session.query(f"SELECT source, file, sha256 FROM {MANIFEST_TABLE} WHERE source IN ({names})")
    text = "|".join(sorted(f"{r.source}:{r.file}:{r.sha256}" for r in rows.itertuples()))
    return hashlib.sha256(text.encode()).hexdigest()[:16] if text else ""


def _fx_rates(session: _Session) -> pd.DataFrame | None:
    if not session.table_exists("fx_rates"):
        return None
    # Where two files give a rate for the same day, the file that sorts last (the later export) wins.
    return session.query(
        "SELECT rate_date, currency, eur_per_unit FROM fx_rates "
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY rate_date, currency ORDER BY _source_file DESC, _source_line DESC) = 1"
    )


def _manifest_is_current(session: _Session) -> bool:
    if not session.table_exists(MANIFEST_TABLE):
        return True
    columns = set(session.query(f"SELECT * FROM {MANIFEST_TABLE} LIMIT 0").columns)
    return set(MANIFEST_COLUMNS) <= columns


def _tables_of(contract: SourceContract) -> list[str]:
    tables = [*output_tables(contract), quarantine_table(contract.name)]
    return tables + ([duplicates_table(contract.name)] if contract.dedupe_across_files else [])


def ingest_source(contract: SourceContract, landing_dir: Path, warehouse: _Warehouse) -> IngestReport:
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
            if f not in known or (known[f][2] != _stamp(p) and known[f][0] != file_sha256(p))
        ]
        stale = [f for f in by_file if f in known and known[f][1] != version and f not in changed]
        reload = set(changed) | set(stale)
        if contract.dedupe_across_files and reload and s.table_exists(duplicates_table(contract.name)):
            # A file whose rows were duplicates of a replaced file's rows must be judged again: if the new
            # version no longer has those ids, the later file's copies are the first ones now.
            while True:
                names = ", ".join(_lit(f) for f in sorted(reload))
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
            counts = _load(s, contract, loaded, version, now)
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


def _load(s: _Session, contract: SourceContract, loaded: list[ParsedFile], version: str, now: datetime) -> dict[str, int]:
    tables = output_tables(contract)
    replaced = [f.file for f in loaded]
    for table in _tables_of(contract) + [MANIFEST_TABLE]:
        column = "_source_file" if table in tables else "file"
        if table == MANIFEST_TABLE:
            if replaced and s.table_exists(MANIFEST_TABLE):
                files = ", ".join(_lit(f) for f in replaced)
                s.execute(f"DELETE FROM {MANIFEST_TABLE} WHERE source = {_lit(contract.name)} AND file IN ({files})")
        else:
            s.delete_where_in(table, column, replaced)
    for table in tables:
        if not s.table_exists(table):
            s.execute(_create_sql(table, empty_table(contract, table)))
    if contract.dedupe_across_files:
        if not s.table_exists(duplicates_table(contract.name)):
            s.execute(_create_sql(duplicates_table(contract.name), _empty_duplicates()))
        if loaded:
            _load_deduplicated(s, contract, loaded)
    else:
        for table in tables:
            if loaded:
                s.append_parquet(table, [f.parquet[table] for f in loaded])

    q = [f.quarantined for f in loaded if len(f.quarantined)]
    quarantined = pd.concat(q, ignore_index=True) if q else pd.DataFrame(columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
    if not s.table_exists(quarantine_table(contract.name)):
        s.execute(_create_sql(quarantine_table(contract.name), quarantined.head(0)))
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
        s.execute(_create_sql(MANIFEST_TABLE, manifest.head(0)))
    if loaded:
        s.write_table(MANIFEST_TABLE, manifest, mode="append")
    counted = _tables_of(contract)
    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, COUNT(*) AS n FROM {t}" for t in counted)
    got = s.query(sql)
    return dict(zip(got["t"], got["n"].astype(int)))


def _create_sql(table: str, empty: pd.DataFrame) -> str:
    """CREATE TABLE (Snowflake types) from a typed empty frame: an empty object column would have no type."""
    def sql_type(dtype: Any) -> str:
        kind = np.dtype(dtype).kind if not isinstance(dtype, pd.BooleanDtype) else "b"
        return {"i": "BIGINT", "f": "DOUBLE", "b": "BOOLEAN", "M": "TIMESTAMP_NTZ"}.get(kind, "VARCHAR")

    columns = ", ".join(f"{name} {sql_type(dtype)}" for name, dtype in empty.dtypes.items())
    return f"CREATE TABLE {table} ({columns})"


def _empty_duplicates() -> pd.DataFrame:
    return pd.DataFrame({
        "source": pd.Series(dtype=object), "file": pd.Series(dtype=object), "line": pd.Series(dtype="int64"),
        "key": pd.Series(dtype=object), "first_file": pd.Series(dtype=object),
        "first_line": pd.Series(dtype="int64"), "content_differs": pd.Series(dtype=bool),
    })


# The columns compared to say whether a duplicate's content differs from the first copy.
_COMPARED = {
    "orders": ["customer_ref", "ordered_at", "currency", "status", "order_total", "item_count"],
    "web_events": ["customer_ref", "anonymous_id", "event_type", "product_id", "occurred_at", "platform", "session_id"],
    "email_events": ["message_id", "email", "event_type", "occurred_at", "url", "campaign_id"],
}


def _load_deduplicated(s: _Session, contract: SourceContract, loaded: list[ParsedFile]) -> None:
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


def _manifest(session: _Session, source: str) -> dict[str, tuple[str, str, str]]:
    if not session.table_exists(MANIFEST_TABLE):
        return {}
    rows = session.query(f"SELECT file, sha256, depends_on, file_stamp FROM {MANIFEST_TABLE} WHERE source = {_lit(source)}")
    return {r.file: (r.sha256, r.depends_on or "", r.file_stamp or "") for r in rows.itertuples()}


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def key_repeats(warehouse: _Warehouse, contract: SourceContract) -> int:
    """How many rows of the source's table repeat a key already in it (0 expected); SQL over the whole table."""
    if not isinstance(contract.unique_key, str):
        return 0
    table, key = output_tables(contract)[0], contract.unique_key
    with warehouse.session() as s:
        return int(s.query(f"SELECT COUNT(*) - COUNT(DISTINCT {key}) AS n FROM {table}")["n"].iloc[0])


__all__ = [
    "ALL_SOURCES", "SOURCES_BY_NAME", "DuplicateSchema", "IngestReport", "LandingFileError", "ParsedFile",
    "QuarantineSchema", "key_repeats", "discover_files", "duplicates_table", "empty_table", "file_sha256",
    "ingest_source", "output_tables", "parse_landing_file", "quarantine_table", "table_schema",
]
