"""The SQL that types a landing file's rows and words their reasons, run in a parse connection's DuckDB.

Every column arrives as trimmed text (``txt_<column>``, NULL when blank); :func:`validation_select` gives the
typed value of each and one reason per bad row, naming the field and the value as a reader would want it
("price: -5 is below the minimum 0"). Orders' line items are flattened and judged the same way, non-EUR
orders get their FX rate, and :func:`output_selects` shapes the good rows as the warehouse tables.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import pandas as pd

from tailor.sources.contracts import Column, SourceContract
from tailor.sources.limits import CLOCK_SKEW_TOLERANCE, MAX_FIELD_BYTES
from tailor.warehouse.sql import string_literal

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

_TRUE = ("true", "1", "yes", "y", "t")
_FALSE = ("false", "0", "no", "n", "f")


# What Python's datetime.fromisoformat reads (the documented rule), minus its exotic forms; TRY_CAST does
# the calendar check (2025-02-30 fails), the pattern keeps out what DuckDB alone would accept ('infinity').
_ISO_TIMESTAMP = r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}([.,]\d{1,9})?)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)?"
_DECIMAL = r"[+-]?\d+(\.\d+)?"


# DuckDB's JSON reader accepts NaN, Infinity and -Infinity as numbers; JSON (RFC 8259) has no such values. A
# line holding one of the words outside a string (strings are cut out first) goes to the Python fallback.
_JSON_STRING = r'"(?:[^"\\]|\\.)*"'
NON_JSON_NUMBER = f"regexp_matches(regexp_replace(text, '{_JSON_STRING}', '', 'g'), 'NaN|Infinity')"


def shown_value_sql(expr: str) -> str:
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


def _typed_expr(c: Column, t: str) -> str:
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
        true = ", ".join(string_literal(v) for v in _TRUE)
        false = ", ".join(string_literal(v) for v in _FALSE)
        return f"CASE WHEN lower({t}) IN ({true}) THEN TRUE WHEN lower({t}) IN ({false}) THEN FALSE END"
    raise ValueError(c.kind)  # pragma: no cover - Kind is a closed literal


def _future_reason(c: Column, t: str, v: str, arrived_at: datetime) -> str:
    """A reason when the timestamp ``v`` is later than the file's arrival plus the clock-skew tolerance."""
    limit = (arrived_at + CLOCK_SKEW_TOLERANCE).strftime("%Y-%m-%d %H:%M:%S.%f")
    minutes = CLOCK_SKEW_TOLERANCE.total_seconds() / 60
    words = (f" is later than the file's arrival ({arrived_at:%Y-%m-%d %H:%M:%S} UTC) plus {minutes:g} minutes "
             "allowed for clock skew")
    return (f"CASE WHEN {v} > TIMESTAMP '{limit}' "
            f"THEN '{c.name}: ' || {shown_value_sql(t)} || {string_literal(words)} END")


def _reason_exprs(c: Column, t: str, v: str, minor_units: str | None, known_currency: str | None,
                  arrived_at: datetime | None = None) -> list[str]:
    """SQL expressions, each NULL or one reason why the column's value is bad."""
    out: list[str] = [
        f"CASE WHEN strlen({t}) > {MAX_FIELD_BYTES} THEN '{c.name}: the value is ' || format('{{:,}}', strlen({t})) "
        f"|| ' bytes, above the limit of {MAX_FIELD_BYTES:,} bytes per field' END"
    ]
    if arrived_at is not None and (c.kind in ("timestamp", "unix_timestamp") or c.not_after_arrival):
        out.append(_future_reason(c, t, v, arrived_at))
    if c.earliest is not None:
        out.append(f"CASE WHEN {v} < TIMESTAMP '{c.earliest}' "
                   f"THEN '{c.name}: ' || {shown_value_sql(t)} || ' is before {c.earliest}' END")
    if c.kind not in ("string", "currency"):
        words = _KIND_WORDS[c.kind]
        out.append(f"CASE WHEN {t} IS NOT NULL AND {v} IS NULL THEN '{c.name}: cannot read ' || {shown_value_sql(t)} || ' as {words}' END")
    if c.required:
        out.append(f"CASE WHEN {t} IS NULL THEN '{c.name}: required value is missing' END")
    if c.choices:
        allowed = ", ".join(string_literal(x) for x in c.choices)
        out.append(
            f"CASE WHEN {v} IS NOT NULL AND {v} NOT IN ({allowed}) "
            f"THEN '{c.name}: ' || {shown_value_sql(t)} || ' is not one of {', '.join(c.choices)}' END"
        )
    if c.kind == "currency" and known_currency is not None:
        out.append(
            f"CASE WHEN {v} IS NOT NULL AND {known_currency} IS NULL "
            f"THEN '{c.name}: ' || {shown_value_sql(t)} || ' is not an ISO 4217 currency code (upper case, e.g. EUR)' END"
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


def validation_select(
    columns: tuple[Column, ...], source: str, currency: str | None, extra_reasons: list[str],
    keep: tuple[str, ...] = (), join: str = "", arrived_at: datetime | None = None,
) -> str:
    """One SELECT over ``source`` (trimmed text columns, aliased ``src``) giving typed columns and a reason per row.

    ``currency`` is the SQL of the row's currency text (for money columns and the ISO 4217 check); the
    ``_cur`` table of codes and minor units is joined on it. ``extra_reasons`` are more reason expressions,
    over the tables of ``join`` (the orders' item reasons); ``keep`` are columns of ``src`` passed through.
    ``arrived_at`` (naive UTC): a timestamp later than it plus ``CLOCK_SKEW_TOLERANCE`` is a reason.
    """
    typed: list[str] = []
    reasons: list[str] = []
    minor = "_cur.minor_units" if currency else None
    known = "_cur.code" if currency else None
    for c in columns:
        t = f'src."txt_{c.name}"'
        v = _typed_expr(c, t)
        typed.append(f'{v} AS "{c.name}"')
        reasons.extend(_reason_exprs(c, t, f"({v})", minor, known, arrived_at))
    reasons.extend(extra_reasons)
    reason = f"NULLIF(concat_ws('; ', {', '.join(reasons)}), '')" if reasons else "NULL"
    joins = " ".join(j for j in (join, f"LEFT JOIN _cur ON _cur.code = {currency}" if currency else "") if j)
    kept = "".join(f", src.{k}" for k in keep)
    return f"SELECT src.line{kept}, {', '.join(typed)}, {reason} AS _reason FROM {source} AS src {joins}"


def trimmed_sql(expr: str) -> str:
    return f"NULLIF(trim({expr}), '')"  # blanks at either end are no data; an empty value is missing


def flatten_order_items(con: duckdb.DuckDBPyConnection, contract: SourceContract) -> None:
    """Flatten each order's ``items``; ``_item_reasons`` says why an order's items make it bad."""
    columns = contract.nested
    paths = ", ".join(string_literal(f"$.{c.name}") for c in columns)
    fields = ", ".join(f'{trimmed_sql(f"v[{i + 1}]")} AS "txt_{c.name}"' for i, c in enumerate(columns))
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
    select = validation_select(columns, "_item_txt", "src.currency", [], keep=("line_no", "is_object"))
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


def convert_to_eur(con: duckdb.DuckDBPyConnection, fx_rates: pd.DataFrame | None) -> None:
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


def output_selects(contract: SourceContract, file: str) -> dict[str, str]:
    """SELECTs of the valid rows in table shape (money as exact decimals, cast to DOUBLE at the very end)."""
    f = string_literal(file)

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
