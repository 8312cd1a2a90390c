"""Ingestion of landing files: parse, validate against the contract, quarantine, load incrementally.

Nothing is lost: for every file, rows read = rows accepted + rows quarantined, and each quarantined
row keeps its file, line, raw text and a readable reason. A file that cannot be read at all, or that
misses a required column, raises ``LandingFileError`` before anything of its source is written.
Files are tracked by path and content hash in the ``landing_files`` manifest: unchanged files are
skipped, new ones are loaded, and a changed file replaces every row of its earlier version.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Protocol

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pandera.typing import Series

from tailor.contracts import ALL_SOURCES, Column, SourceContract

MANIFEST_TABLE = "landing_files"
QUARANTINE_COLUMNS = ["source", "file", "line", "raw", "reason"]
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class QuarantineSchema(pa.DataFrameModel):
    source: Series[str] = pa.Field(isin=[c.name for c in ALL_SOURCES])
    file: Series[str]
    line: Series[int] = pa.Field(ge=1)
    raw: Series[str]
    reason: Series[str] = pa.Field(str_length={"min_value": 1})


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
    tables: dict[str, pd.DataFrame]  # accepted rows per warehouse table
    quarantined: pd.DataFrame

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantined)

    @property
    def rows_accepted(self) -> int:
        return self.rows_read - self.rows_quarantined


# --------------------------------------------------------------------------- reading raw rows


@dataclass
class _RawRows:
    lines: list[int]  # 1-based line number of each record
    raw: list[str]  # the raw text of each record, kept for the quarantine
    records: list[dict[str, Any] | None]  # None when the record itself is unreadable
    problems: list[str | None]  # why a record is unreadable


def _read_csv(text: str, file: str, contract: SourceContract) -> _RawRows:
    reader = csv.reader(io.StringIO(text, newline=""))
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
    rows = _RawRows([], [], [], [])
    line = 1
    try:
        for values in reader:
            start = line + 1
            line = reader.line_num
            if not values or all(v.strip() == "" for v in values):
                continue
            raw = json.dumps(dict(zip(header, values)) if len(values) == len(header) else values, ensure_ascii=False)
            rows.lines.append(start)
            rows.raw.append(raw)
            if len(values) != len(header):
                rows.records.append(None)
                rows.problems.append(f"expected {len(header)} fields, found {len(values)}")
            else:
                rows.records.append(dict(zip(header, values)))
                rows.problems.append(None)
    except csv.Error as exc:
        raise LandingFileError(file, f"not a valid CSV file at line {line + 1}: {exc}") from None
    return rows


def _read_ndjson(text: str, file: str, contract: SourceContract) -> _RawRows:
    rows = _RawRows([], [], [], [])
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        rows.lines.append(number)
        rows.raw.append(line)
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.records.append(None)
            rows.problems.append(f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(record, dict):
            rows.records.append(None)
            rows.problems.append(f"expected a JSON object, found {type(record).__name__}")
            continue
        rows.records.append(record)
        rows.problems.append(None)
    if rows.records and all(r is None for r in rows.records):
        raise LandingFileError(file, f"not a newline-delimited JSON file: {rows.problems[0]} (line {rows.lines[0]})")
    seen = {key for r in rows.records if r is not None for key in r}
    missing = [c for c in contract.required_columns if c not in seen]
    if rows.records and missing:
        raise LandingFileError(file, f"missing required field(s) {', '.join(missing)} in every record")
    return rows


# --------------------------------------------------------------------------- typing and validation


def _blank_to_none(series: pd.Series) -> pd.Series:
    as_text = series.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())
    return as_text.where(as_text.fillna("") != "", None)


def _coerce(column: Column, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return the typed column and a mask of values that were present but could not be read."""
    present = text.notna()
    if column.kind == "string":
        return text.astype(object), pd.Series(False, index=text.index)
    if column.kind == "timestamp":
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        typed = parsed.dt.tz_convert("UTC").dt.tz_localize(None).astype("datetime64[ns]")
    elif column.kind == "unix_timestamp":
        seconds = pd.to_numeric(text, errors="coerce")
        typed = pd.to_datetime(seconds, unit="s", errors="coerce").astype("datetime64[ns]")
    elif column.kind in ("number", "integer"):
        typed = pd.to_numeric(text, errors="coerce").astype(float)
        if column.kind == "integer":
            not_whole = typed.notna() & (typed != typed.round())
            typed = typed.where(~not_whole)
            typed = typed.astype("Int64")
    elif column.kind == "boolean":
        lowered = text.str.lower()
        typed = pd.Series(pd.NA, index=text.index, dtype="boolean")
        typed[lowered.isin(_TRUE)] = True
        typed[lowered.isin(_FALSE)] = False
    else:  # pragma: no cover - the contract's Kind literal is exhaustive
        raise ValueError(column.kind)
    return typed, present & typed.isna()


_KIND_WORDS = {
    "timestamp": "an ISO-8601 timestamp",
    "unix_timestamp": "a unix timestamp in seconds",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _contract_schema(columns: Iterable[Column]) -> pa.DataFrameSchema:
    checks: dict[str, pa.Column] = {}
    for c in columns:
        column_checks = []
        if c.choices:
            column_checks.append(pa.Check.isin(list(c.choices)))
        if c.minimum is not None:
            column_checks.append(pa.Check.ge(c.minimum))
        checks[c.name] = pa.Column(nullable=not c.required, checks=column_checks)
    return pa.DataFrameSchema(checks)


def _describe_failure(column: str, check: str, value: Any, columns: dict[str, Column]) -> str:
    spec = columns.get(column)
    if check == "not_nullable":
        return f"{column}: required value is missing"
    if spec is not None and spec.choices and check.startswith("isin"):
        return f"{column}: {value!r} is not one of {', '.join(spec.choices)}"
    if spec is not None and spec.minimum is not None and check.startswith("greater_than"):
        return f"{column}: {value!r} is below the minimum {spec.minimum:g}"
    return f"{column}: {value!r} fails {check}"


def _validate(frame: pd.DataFrame, columns: tuple[Column, ...], texts: dict[str, pd.Series]) -> pd.Series:
    """Type and check every row; return a reason per row (None for a valid row)."""
    reasons: dict[int, list[str]] = {}
    by_name = {c.name: c for c in columns}
    for c in columns:
        typed, unreadable = _coerce(c, texts[c.name])
        frame[c.name] = typed
        for idx in frame.index[unreadable.to_numpy()]:
            reasons.setdefault(idx, []).append(
                f"{c.name}: cannot read {texts[c.name][idx]!r} as {_KIND_WORDS[c.kind]}"
            )
    unreadable_rows = list(reasons)
    checkable = frame.drop(index=unreadable_rows)
    try:
        _contract_schema(columns).validate(checkable, lazy=True)
    except SchemaErrors as err:
        cases = err.failure_cases
        for row in cases.itertuples(index=False):
            if row.index is None or (isinstance(row.index, float) and np.isnan(row.index)):
                continue
            reasons.setdefault(int(row.index), []).append(
                _describe_failure(str(row.column), str(row.check), row.failure_case, by_name)
            )
    out = pd.Series(None, index=frame.index, dtype=object)
    for idx, items in reasons.items():
        out[idx] = "; ".join(dict.fromkeys(items))
    return out


def _typed_frame(records: list[dict[str, Any]], columns: tuple[Column, ...]) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    texts = {c.name: _blank_to_none(pd.Series([r.get(c.name) for r in records], dtype=object)) for c in columns}
    return pd.DataFrame(index=pd.RangeIndex(len(records))), texts


def _finish(frame: pd.DataFrame, columns: tuple[Column, ...]) -> pd.DataFrame:
    return frame[[c.name for c in columns]].rename(columns={c.name: c.table_name for c in columns})


def table_schema(contract: SourceContract, table: str) -> pa.DataFrameSchema:
    """The pandera schema of a loaded table: the contract's types and checks, plus provenance columns."""
    by_name = {c.table_name: c for c in contract.columns}
    columns: dict[str, pa.Column] = {}
    for name, dtype in empty_table(contract, table).dtypes.items():
        spec = by_name.get(str(name))
        checks = []
        if spec is not None and spec.choices:
            checks.append(pa.Check.isin(list(spec.choices)))
        if spec is not None and spec.minimum is not None:
            checks.append(pa.Check.ge(spec.minimum))
        required = (spec is not None and spec.required) or str(name) in ("_source_file", "_source_line", "line_no")
        columns[str(name)] = pa.Column(
            str if dtype == object else dtype,
            nullable=not required,
            checks=checks,
            unique=(table != "order_items" and str(name) == contract.unique_key),
        )
    return pa.DataFrameSchema(columns, strict=True, ordered=True, name=table)


# --------------------------------------------------------------------------- one file


def _join_reasons(a: Any, b: Any) -> str | None:
    return "; ".join(x for x in (a, b) if isinstance(x, str)) or None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_landing_file(contract: SourceContract, path: Path, file: str) -> ParsedFile:
    """Parse one file of ``contract``; ``file`` is its name relative to the landing folder."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LandingFileError(file, f"not UTF-8 text (byte {exc.start})") from None
    raw = _read_csv(text, file, contract) if contract.file_format == "csv" else _read_ndjson(text, file, contract)

    readable = [i for i, r in enumerate(raw.records) if r is not None]
    records = [raw.records[i] for i in readable]
    frame, texts = _typed_frame(records, contract.columns)
    reasons = _validate(frame, contract.columns, texts)

    items = pd.DataFrame()
    if contract.nested:
        items, item_reasons = _parse_items(records, contract.nested)
        reasons = reasons.combine(item_reasons, _join_reasons)

    if contract.unique_key:
        key = next(c.name for c in contract.columns if c.table_name == contract.unique_key)
        ok = reasons.isna()
        duplicated = frame[key].where(ok).duplicated(keep="first") & ok & frame[key].notna()
        first_line = {}
        for pos, value in zip(frame.index, frame[key]):
            first_line.setdefault(value, raw.lines[readable[pos]])
        for idx in frame.index[duplicated.to_numpy()]:
            reasons[idx] = f"{key}: duplicate value {frame.at[idx, key]!r} (first seen at line {first_line[frame.at[idx, key]]})"

    lines = np.array(raw.lines, dtype=np.int64)
    frame["_source_file"] = file
    frame["_source_line"] = lines[readable] if readable else np.array([], dtype=np.int64)

    quarantine_rows: list[dict[str, Any]] = [
        {"source": contract.name, "file": file, "line": raw.lines[i], "raw": raw.raw[i], "reason": raw.problems[i]}
        for i, r in enumerate(raw.records)
        if r is None
    ]
    bad = reasons.notna()
    for pos in frame.index[bad.to_numpy()]:
        i = readable[pos]
        quarantine_rows.append(
            {"source": contract.name, "file": file, "line": raw.lines[i], "raw": raw.raw[i], "reason": reasons[pos]}
        )
    quarantined = pd.DataFrame(quarantine_rows, columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
    quarantined = quarantined.sort_values("line", kind="stable").reset_index(drop=True)

    good = frame[~bad.to_numpy()]
    table = _finish(good, contract.columns)
    table["_source_file"] = good["_source_file"].astype(object)
    table["_source_line"] = good["_source_line"].astype("int64")
    tables = {contract.name: table.reset_index(drop=True)}
    if contract.nested:
        tables.update(_order_tables(tables.pop(contract.name), items, good.index))
    return ParsedFile(
        source=contract.name,
        file=file,
        sha256=hashlib.sha256(data).hexdigest(),
        rows_read=len(raw.records),
        tables=tables,
        quarantined=quarantined,
    )


# --------------------------------------------------------------------------- orders with line items


def _parse_items(records: list[dict[str, Any]], columns: tuple[Column, ...]) -> tuple[pd.DataFrame, pd.Series]:
    """Flatten each order's ``items`` list; a bad or missing item quarantines its whole order."""
    flat: list[dict[str, Any]] = []
    owner: list[int] = []
    position: list[int] = []
    reasons = pd.Series(None, index=pd.RangeIndex(len(records)), dtype=object)
    for idx, record in enumerate(records):
        items = record.get("items")
        if not isinstance(items, list) or not items:
            reasons[idx] = "items: an order needs a non-empty list of line items"
            continue
        for n, item in enumerate(items, start=1):
            if not isinstance(item, dict):
                reasons[idx] = f"items[{n}]: expected an object"
                continue
            flat.append(item)
            owner.append(idx)
            position.append(n)
    frame, texts = _typed_frame(flat, columns)
    item_reasons = _validate(frame, columns, texts)
    for pos in frame.index[item_reasons.notna().to_numpy()]:
        idx = owner[pos]
        text = f"items[{position[pos]}].{item_reasons[pos]}"
        reasons[idx] = _join_reasons(reasons[idx], text)
    frame["_order_pos"] = np.array(owner, dtype=np.int64)
    frame["line_no"] = np.array(position, dtype=np.int64)
    return frame, reasons


def _order_tables(orders: pd.DataFrame, items: pd.DataFrame, kept_positions: pd.Index) -> dict[str, pd.DataFrame]:
    position_to_order = pd.Series(orders["order_id"].to_numpy(), index=kept_positions)
    kept = items[items["_order_pos"].isin(kept_positions)].copy()
    kept["order_id"] = kept["_order_pos"].map(position_to_order)
    kept["quantity"] = kept["quantity"].astype("int64")
    kept["line_total"] = (kept["quantity"] * kept["unit_price"]).round(2)
    kept["_source_file"] = kept["_order_pos"].map(pd.Series(orders["_source_file"].to_numpy(), index=kept_positions))
    kept["_source_line"] = kept["_order_pos"].map(pd.Series(orders["_source_line"].to_numpy(), index=kept_positions))
    order_items = kept[["order_id", "line_no", "product_id", "quantity", "unit_price", "line_total", "_source_file", "_source_line"]]
    order_items = order_items.astype({"_source_line": "int64"})
    totals = order_items.groupby("order_id", sort=False).agg(order_total=("line_total", "sum"), item_count=("line_no", "count"))
    orders = orders.join(totals, on="order_id")
    orders["order_total"] = orders["order_total"].astype(float).round(2)
    orders["item_count"] = orders["item_count"].fillna(0).astype("int64")
    ordered = ["order_id", "customer_ref", "ordered_at", "currency", "status", "order_total", "item_count"]
    orders = orders[ordered + ["_source_file", "_source_line"]]
    return {"orders": orders.reset_index(drop=True), "order_items": order_items.reset_index(drop=True)}


# --------------------------------------------------------------------------- a whole source, incrementally


class _Session(Protocol):
    def query(self, sql: str) -> pd.DataFrame: ...
    def write_table(self, name: str, df: pd.DataFrame, mode: str = "replace") -> None: ...
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

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files_loaded)

    @property
    def rows_accepted(self) -> int:
        return sum(f.rows_accepted for f in self.files_loaded)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files_loaded)


def quarantine_table(source: str) -> str:
    return f"{source}__quarantine"


def discover_files(landing_dir: Path, contract: SourceContract) -> list[Path]:
    folder = landing_dir / contract.folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in contract.suffixes)


def output_tables(contract: SourceContract) -> list[str]:
    return ["orders", "order_items"] if contract.nested else [contract.name]


def ingest_source(contract: SourceContract, landing_dir: Path, warehouse: _Warehouse) -> IngestReport:
    """Load new and changed files of one source; unchanged files are not read again."""
    paths = discover_files(landing_dir, contract)
    with warehouse.session() as s:
        known = _manifest(s, contract.name)
    loaded: list[ParsedFile] = []
    for path in paths:
        file = path.relative_to(landing_dir).as_posix()
        digest = file_sha256(path)
        if known.get(file) == digest:
            continue
        parsed = parse_landing_file(contract, path, file)  # raises before anything is written
        loaded.append(parsed)

    now = datetime.now(timezone.utc).replace(tzinfo=None)
    tables = output_tables(contract)
    with warehouse.session() as s:
        replaced = [f.file for f in loaded]
        for table in [*tables, quarantine_table(contract.name), MANIFEST_TABLE]:
            column = "file" if table == MANIFEST_TABLE or table.endswith("__quarantine") else "_source_file"
            s.delete_where_in(table, column, replaced)
        for table in tables:
            parts = [f.tables[table] for f in loaded]
            if parts or not s.table_exists(table):
                s.write_table(table, _concat(parts, table, contract), mode="append")
        parts = [f.quarantined for f in loaded]
        s.write_table(quarantine_table(contract.name), _concat(parts, "q", contract, QUARANTINE_COLUMNS), mode="append")
        manifest = pd.DataFrame(
            [
                {
                    "source": contract.name, "file": f.file, "sha256": f.sha256, "rows_read": f.rows_read,
                    "rows_accepted": f.rows_accepted, "rows_quarantined": f.rows_quarantined, "ingested_at": now,
                }
                for f in loaded
            ],
            columns=["source", "file", "sha256", "rows_read", "rows_accepted", "rows_quarantined", "ingested_at"],
        ).astype({"rows_read": "int64", "rows_accepted": "int64", "rows_quarantined": "int64", "ingested_at": "datetime64[ns]"})
        s.write_table(MANIFEST_TABLE, manifest, mode="append")
        counts = {t: int(s.query(f"SELECT COUNT(*) AS n FROM {t}")["n"].iloc[0]) for t in tables}
        quarantined = int(s.query(f"SELECT COUNT(*) AS n FROM {quarantine_table(contract.name)}")["n"].iloc[0])
    return IngestReport(
        source=contract.name,
        files_seen=len(paths),
        files_loaded=loaded,
        files_unchanged=len(paths) - len(loaded),
        table_rows=counts,
        quarantine_rows=quarantined,
    )


def _manifest(session: _Session, source: str) -> dict[str, str]:
    if not session.table_exists(MANIFEST_TABLE):
        return {}
    rows = session.query(f"SELECT file, sha256 FROM {MANIFEST_TABLE} WHERE source = '{source}'")
    return dict(zip(rows["file"], rows["sha256"]))


def _concat(parts: list[pd.DataFrame], table: str, contract: SourceContract, columns: list[str] | None = None) -> pd.DataFrame:
    if parts:
        return pd.concat(parts, ignore_index=True)
    if columns is not None:
        return pd.DataFrame(columns=columns).astype({"line": "int64"})
    return empty_table(contract, table)


def empty_table(contract: SourceContract, table: str) -> pd.DataFrame:
    """A typed, empty table, so that the first load of an empty source still creates the right columns."""
    dtypes = {"string": object, "integer": "int64", "number": float, "boolean": "boolean",
              "timestamp": "datetime64[ns]", "unix_timestamp": "datetime64[ns]"}
    if table == "order_items":
        spec = {"order_id": object, "line_no": "int64", "product_id": object, "quantity": "int64",
                "unit_price": float, "line_total": float}
    else:
        spec = {c.table_name: dtypes[c.kind] for c in contract.columns}
        if table == "orders":
            spec.update({"order_total": float, "item_count": "int64"})
    spec.update({"_source_file": object, "_source_line": "int64"})
    return pd.DataFrame({k: pd.Series(dtype=v) for k, v in spec.items()})
