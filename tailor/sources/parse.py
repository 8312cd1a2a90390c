"""Parsing one landing file: every row typed against its source's contract, or quarantined with a reason.

The file's text goes into a private in-memory DuckDB as raw text columns (CSV through Python's csv module,
NDJSON as one Arrow string per physical line), the SQL of :mod:`tailor.sources.parse_sql` types every column
and words every row's reason, and the valid rows are written to Parquet for the warehouse to load. Nothing
here touches the warehouse: a file that cannot be read at all raises :class:`LandingFileError` before any of
its source is loaded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa_arrow

from tailor.sources.contracts import SourceContract, currency_minor_units
from tailor.sources.files import file_arrival, file_stamp, read_landing_file
from tailor.sources.limits import MAX_ROW_BYTES, RAW_EXCERPT_CHARS
from tailor.sources.parse_sql import (
    NON_JSON_NUMBER,
    convert_to_eur,
    flatten_order_items,
    output_selects,
    shown_value_sql,
    trimmed_sql,
    validation_select,
)
from tailor.sources.tables import QUARANTINE_COLUMNS
from tailor.warehouse.sql import string_literal

PANDERA_ROWS_PER_FILE = 50_000  # a single file parsed on its own (parse_landing_file's default)
# Each parse connection's own cap (its tables are one file's rows; above it DuckDB spills to the temp folder).
PARSE_MEMORY_LIMIT = "1GB"
# Python's csv module fails a whole file on a field over 128 KB (its default); fields are judged against
# MAX_FIELD_BYTES / MAX_ROW_BYTES in SQL instead, row by row. (The limit is process-wide, hence one value.)
_CSV_READER_FIELD_LIMIT = 2**31 - 1


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
    arrived_at: datetime | None = None  # when the file arrived (naive UTC): no timestamp may be later (+ skew)
    rows_duplicate: int = 0  # set when loaded: valid rows whose key was already loaded
    duplicates: pd.DataFrame | None = None  # a few of them, with where they first appeared

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def rows_accepted(self) -> int:
        return self.rows_valid - self.rows_duplicate


def _with_project_dtypes(df: pd.DataFrame, booleans: tuple[str, ...] = ()) -> pd.DataFrame:
    """The project's dtypes: timestamps as datetime64[ns] (DuckDB hands out microseconds), booleans nullable."""
    for column in df.columns:
        if df[column].dtype.kind == "M":
            df[column] = df[column].astype("datetime64[ns]")
        elif df[column].dtype == bool or column in booleans:
            df[column] = df[column].astype("boolean")
    return df


def _utf8_text(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LandingFileError(file, f"not UTF-8 text (byte {exc.start})") from None


def _check_required_fields(con: duckdb.DuckDBPyConnection, contract: SourceContract, file: str) -> None:
    """A required field that no record has at all is a broken file, not a file of bad rows.

    Checked on the first 1,000 readable records, and on all of them only when one looks missing there.
    """
    present = ", ".join(f"bool_or(json_exists(r.raw, {string_literal('$.' + c)}))" for c in contract.required_columns)
    for limit in (" LIMIT 1000", ""):
        found = con.execute(
            f"SELECT {present} FROM (SELECT line FROM _txt ORDER BY line{limit}) t JOIN _raw r USING (line)"
        ).fetchone()
        missing = [c for c, ok in zip(contract.required_columns, found) if not ok]
        if not missing:
            return
    raise LandingFileError(file, f"missing required field(s) {', '.join(missing)} in every record")


def _ndjson_lines(data: bytes, file: str) -> pa_arrow.Table:
    """Every physical line as one Arrow string (its newline included), built over the bytes without copying, and
    its size in bytes without the newline."""
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
        _utf8_text(data, file)
        raise  # pragma: no cover - _utf8_text names the byte
    sizes = np.diff(offsets)
    sizes[: len(newlines)] -= 1  # every line but the last ends in a newline
    return pa_arrow.table({"line": pa_arrow.array(np.arange(1, n + 1, dtype=np.int64)), "text": texts,
                           "bytes": pa_arrow.array(sizes.astype(np.int64))})


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


def _check_header(header: list[str], file: str, contract: SourceContract) -> None:
    """A header that repeats a name (the second column would win silently) or lacks a required column is a broken
    file. The error names only columns the contract expects: a header can be anything (a secret, a password line)."""
    expected = {c.name for c in contract.columns}
    first_at: dict[str, int] = {}
    for i, name in enumerate(header, start=1):
        if name in first_at:
            what = f"the column {name}" if name in expected else "a column name"
            raise LandingFileError(file, f"{what} appears twice in the header (columns {first_at[name]} and {i})")
        first_at[name] = i
    missing = [c for c in contract.required_columns if c not in first_at]
    if missing:
        known = [h for h in header if h in expected]
        raise LandingFileError(
            file, f"missing required column(s) {', '.join(missing)}; of the {len(header)} columns in the header, "
                  f"these are expected: {', '.join(known) or 'none'}"
        )


def _read_csv(data: bytes, file: str, contract: SourceContract) -> _Csv:
    csv.field_size_limit(_CSV_READER_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(_utf8_text(data, file), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise LandingFileError(file, "the file is empty (no header row)") from None
    except csv.Error as exc:  # the csv module's messages name no content (e.g. "unexpected end of data")
        raise LandingFileError(file, f"not a valid CSV file: {exc}") from None
    header = [h.strip() for h in header]
    _check_header(header, file, contract)
    width = len(header)
    lines: list[int] = []
    rows: list[list[str]] = []
    bad: list[dict[str, Any]] = []
    line = 1
    try:
        for values in reader:
            start = line + 1
            line = reader.line_num
            if len(values) != width:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue  # an empty or blank line is no row (as in NDJSON); ",,," is, and is judged in SQL
                raw = json.dumps(values, ensure_ascii=False)
                bad.append({"line": start, "raw": excerpt(raw),
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


def excerpt(text: str) -> str:
    """At most RAW_EXCERPT_CHARS of a bad row's raw text for quarantine; a cut one ends in an ellipsis."""
    return text if len(text) <= RAW_EXCERPT_CHARS else text[:RAW_EXCERPT_CHARS] + "…"


def _excerpt_sql(expr: str) -> str:
    return f"CASE WHEN length({expr}) > {RAW_EXCERPT_CHARS} THEN left({expr}, {RAW_EXCERPT_CHARS}) || '…' ELSE {expr} END"


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
    sample_rows: int = PANDERA_ROWS_PER_FILE, threads: int | None = None, arrived_at: datetime | None = None,
    landing_dir: Path | None = None,
) -> ParsedFile:
    """Parse one file of ``contract``; ``file`` is its name relative to the landing folder.

    Valid rows go to Parquet files in ``out_dir``; ``fx_rates`` (rate_date, currency, eur_per_unit) is
    needed for orders (a non-EUR order without a rate on or before its UTC date is quarantined). At most
    ``sample_rows`` valid rows per table are kept for pandera; ``threads``: the parse connection's DuckDB threads.
    ``arrived_at`` (naive UTC) is when the file arrived, default its modification time (at most now): a timestamp
    later than that plus ``CLOCK_SKEW_TOLERANCE`` quarantines its row. With ``landing_dir``, the file is read only
    if its real path is inside that folder (``read_landing_file``).
    """
    stamp = file_stamp(path)
    arrived_at = arrived_at or file_arrival(path)
    if landing_dir is None:
        data = path.read_bytes()
    else:
        try:
            data = read_landing_file(path, landing_dir)
        except PermissionError as exc:
            raise LandingFileError(file, str(exc)) from None
    sha256 = hashlib.sha256(data).hexdigest()
    data = data.removeprefix(b"\xef\xbb\xbf")  # a BOM is no data
    try:
        with _connect(threads, out_dir) as con:
            if contract.file_format == "csv":
                rows_read, unreadable = _stage_csv(con, contract, data, file)
            else:
                rows_read, unreadable = _stage_ndjson(con, contract, data, file)
            _type_rows(con, contract, arrived_at)
            if contract.key_columns and not contract.dedupe_across_files:
                _quarantine_repeated_keys(con, contract.key_columns)
            if contract.name == "orders":
                convert_to_eur(con, fx_rates)
            quarantined = _quarantined(con, contract, file, unreadable)
            stem = f"{contract.name}-{sha256[:16]}-{abs(hash(file)) % 10**8}"
            parquet, samples, rows_valid = _write_valid_rows(con, contract, file, out_dir / stem, sample_rows)
    except duckdb.Error as exc:
        # DuckDB's messages quote the input ("Input: ..."): an error text must never carry the file's content.
        raise LandingFileError(file, f"could not be parsed (DuckDB {type(exc).__name__}; details withheld, "
                                     "they may quote the file)") from None
    return ParsedFile(
        source=contract.name, file=file, sha256=sha256, rows_read=int(rows_read), parquet=parquet,
        rows_valid=int(rows_valid), quarantined=quarantined, samples=samples, stamp=stamp, arrived_at=arrived_at,
    )


def _size_words(what: str, size_sql: str) -> str:
    return f"'the {what} is ' || format('{{:,}}', {size_sql}) || ' bytes, above the limit of {MAX_ROW_BYTES:,} bytes'"


def _stage_csv(con: duckdb.DuckDBPyConnection, contract: SourceContract, data: bytes,
               file: str) -> tuple[int, list[dict[str, Any]]]:
    """Tables ``_txt`` (line and the trimmed text of every contract column), ``_raw`` (line, raw row as JSON) and
    ``_row_problems`` (line, reason: rows over MAX_ROW_BYTES, rows whose every field is blank) of a CSV file;
    returns the rows read and the rows with the wrong number of fields."""
    parsed = _read_csv(data, file, contract)
    con.register("_csv", parsed.table)
    index = {h: i for i, h in enumerate(parsed.header)}
    fields = ", ".join(
        f'{trimmed_sql(f"c{index[c.name]}") if c.name in index else "NULL::VARCHAR"} AS "txt_{c.name}"'
        for c in contract.columns
    )
    row_bytes = " + ".join(f"strlen(c{i})" for i in range(len(parsed.header)))
    all_blank = " AND ".join(f"trim(c{i}) = ''" for i in range(len(parsed.header)))
    problem = f"CASE WHEN {row_bytes} > {MAX_ROW_BYTES} THEN {_size_words('row', row_bytes)} " \
              f"WHEN {all_blank} THEN 'every field is blank' END"
    con.execute(f"CREATE TABLE _txt AS SELECT line, {problem} AS _problem, {fields} FROM _csv")
    rows_read = con.execute("SELECT COUNT(*) FROM _txt").fetchone()[0] + len(parsed.bad)
    con.execute("CREATE TABLE _row_problems AS SELECT line, _problem AS reason FROM _txt WHERE _problem IS NOT NULL")
    con.execute("DELETE FROM _txt WHERE _problem IS NOT NULL")
    # The raw row (JSON of the header's values) is only built for the rows that are quarantined.
    raw = "json_object(" + ", ".join(f"{string_literal(h)}, c{i}" for i, h in enumerate(parsed.header)) + ")"
    con.execute(f"CREATE VIEW _raw AS SELECT line, CAST({raw} AS VARCHAR) AS raw FROM _csv")
    return rows_read, parsed.bad


def _stage_ndjson(con: duckdb.DuckDBPyConnection, contract: SourceContract, data: bytes,
                  file: str) -> tuple[int, list[dict[str, Any]]]:
    """Tables ``_txt``, ``_raw`` and ``_row_problems`` (as :func:`_stage_csv`: lines over MAX_ROW_BYTES, never taken
    apart) of an NDJSON file; returns the rows read (blank lines are none) and the lines that are no JSON object,
    each with Python's reason."""
    lines = _ndjson_lines(data, file)
    con.register("_lines", lines)
    con.execute("CREATE VIEW _raw AS SELECT line, rtrim(text, chr(13) || chr(10)) AS raw FROM _lines")
    names = [c.name for c in contract.columns] + (["items"] if contract.nested else [])
    paths = ", ".join(string_literal(f"$.{n}") for n in names)
    # One pass: json_valid is cheap, so only valid objects are taken apart; the rest (bad or blank
    # lines, a handful) go to Python, which words the reason.
    extract = f"json_extract_string(text, [{paths}])"
    fields = ", ".join(f"{trimmed_sql(f'v[{i + 1}]')} AS \"txt_{n}\"" for i, n in enumerate(names))
    con.execute(
        f"""
        CREATE TABLE _txt AS
        SELECT line, v IS NOT NULL AS _ok, bytes, {fields}
        FROM (
            SELECT line, bytes, CASE WHEN bytes > {MAX_ROW_BYTES} OR NOT json_valid(text) THEN NULL
                              WHEN (contains(text, 'NaN') OR contains(text, 'Infinity'))
                                   AND {NON_JSON_NUMBER} THEN NULL
                              WHEN starts_with(text, '{{') THEN {extract}
                              WHEN json_type(text) = 'OBJECT' THEN {extract} END AS v
            FROM _lines
        )
        """
    )
    con.execute(f"CREATE TABLE _row_problems AS SELECT line, {_size_words('line', 'bytes')} AS reason "
                f"FROM _txt WHERE bytes > {MAX_ROW_BYTES}")
    oversized = con.execute("SELECT COUNT(*) FROM _row_problems").fetchone()[0]
    bad_lines = (f"SELECT r.line, r.raw FROM _txt p JOIN _raw r USING (line) "
                 f"WHERE NOT p._ok AND p.bytes <= {MAX_ROW_BYTES} ORDER BY r.line")
    unreadable: list[dict[str, Any]] = []
    blank = 0
    for line, text in con.execute(bad_lines).fetchall():
        if text.strip() == "":
            blank += 1  # an empty line is no row
            continue
        unreadable.append({"line": line, "raw": excerpt(text), "reason": _json_problem(text)})
    rows_read = lines.num_rows - blank
    if rows_read and len(unreadable) == rows_read:
        first = unreadable[0]
        raise LandingFileError(file, f"not a newline-delimited JSON file: {first['reason']} (line {first['line']})")
    con.execute("DELETE FROM _txt WHERE NOT _ok")
    if rows_read > len(unreadable) + oversized and contract.required_columns:
        _check_required_fields(con, contract, file)
    return rows_read, unreadable


def _type_rows(con: duckdb.DuckDBPyConnection, contract: SourceContract, arrived_at: datetime) -> None:
    """Table ``_typed``: every staged row's typed columns and ``_reason`` (NULL for a good row); an order's bad
    line items make the whole order bad."""
    currency = next((f'src."txt_{c.name}"' for c in contract.columns if c.kind == "currency"), None)
    if contract.nested:
        flatten_order_items(con, contract)
        select = validation_select(contract.columns, "_txt", currency, ["_it.reason"],
                                   join="LEFT JOIN _item_reasons AS _it ON _it.line = src.line", arrived_at=arrived_at)
    else:
        select = validation_select(contract.columns, "_txt", currency, [], arrived_at=arrived_at)
    con.execute(f"CREATE TABLE _typed AS {select}")


def _quarantine_repeated_keys(con: duckdb.DuckDBPyConnection, keys: tuple[str, ...]) -> None:
    """Inside one file a repeated key of a CRM record, product or rate is a conflict: every good row after the
    first of its key gets a reason. (Event ids are deduplicated across all files in the warehouse instead.)"""
    key_cols = ", ".join(f'"{k}"' for k in keys)
    key_names = ", ".join(keys)
    shown = " || ', ' || ".join(shown_value_sql(f'CAST(t."{k}" AS VARCHAR)') for k in keys)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE _typed AS
        WITH firsts AS (
            SELECT *, MIN(line) OVER (PARTITION BY {key_cols}) AS _first_line
            FROM _typed WHERE _reason IS NULL
        )
        SELECT t.* REPLACE (
            COALESCE(t._reason, CASE WHEN f._first_line < t.line
                THEN '{key_names}: duplicate value ' || {shown} || ' (first seen at line ' || f._first_line || ')' END
            ) AS _reason)
        FROM _typed t LEFT JOIN firsts f ON f.line = t.line
        """
    )


def _quarantined(con: duckdb.DuckDBPyConnection, contract: SourceContract, file: str,
                 unreadable: list[dict[str, Any]]) -> pd.DataFrame:
    """The file's bad rows in ``QUARANTINE_COLUMNS``, by line: the typed rows with a reason, the rows refused before
    typing and the unreadable; each raw text cut to an excerpt (RAW_EXCERPT_CHARS)."""
    typed = con.execute(
        f"""
        SELECT b.line, {_excerpt_sql("r.raw")} AS raw, b.reason
        FROM (SELECT line, _reason AS reason FROM _typed WHERE _reason IS NOT NULL
              UNION ALL SELECT line, reason FROM _row_problems) b
        JOIN _raw r USING (line)
        """
    ).df()
    rows = pd.concat([typed, pd.DataFrame(unreadable, columns=["line", "raw", "reason"])], ignore_index=True)
    rows.insert(0, "file", file)
    rows.insert(0, "source", contract.name)
    rows = rows[QUARANTINE_COLUMNS].astype({"line": "int64", "raw": object, "reason": object})
    return rows.sort_values("line", kind="stable").reset_index(drop=True)


def _write_valid_rows(con: duckdb.DuckDBPyConnection, contract: SourceContract, file: str, stem: Path,
                      sample_rows: int) -> tuple[dict[str, Path], dict[str, pd.DataFrame], int]:
    """The good rows of every output table to the Parquet file ``<stem>-<table>.parquet``; returns the files,
    the rows pandera checks (all of them up to ``sample_rows``, else a seeded sample) and the valid rows."""
    parquet: dict[str, Path] = {}
    samples: dict[str, pd.DataFrame] = {}
    rows_valid = 0
    booleans = tuple(c.table_name for c in contract.columns if c.kind == "boolean")
    for table, select in output_selects(contract, file).items():
        target = stem.with_name(f"{stem.name}-{table}.parquet")
        order = " ORDER BY _source_line" + (", line_no" if table == "order_items" else "")
        con.execute(f"COPY ({select}{order}) TO {string_literal(str(target))} (FORMAT parquet)")
        parquet[table] = target
        n = con.execute("SELECT COUNT(*) FROM read_parquet(?)", [str(target)]).fetchone()[0]
        if table == contract.name or (contract.nested and table == "orders"):
            rows_valid = n
        sample = "" if n <= sample_rows else f" USING SAMPLE reservoir({sample_rows} ROWS) REPEATABLE (42)"
        rows = con.execute(f"SELECT * FROM read_parquet(?){sample}", [str(target)]).df()
        samples[table] = _with_project_dtypes(rows, booleans)
    return parquet, samples, rows_valid
