"""The condition language shared by ``rules/segments.yaml`` and ``rules/email_rules.yaml``: parsing and validation.

Marketers write conditions in YAML; this module turns them into the typed AST of :mod:`tailor.rules.condition`,
validating every field, operator and value against a field catalog (``known_fields``: name -> kind, see
:mod:`tailor.rules.fields`). Two back ends read the AST:

* :func:`tailor.rules.evaluate.evaluate` — a vectorised pandas mask (used for segments; also the reference
  semantics), and
* :func:`tailor.rules.durable.to_durable` — a durable_rules JSON condition over ``m`` (used for the email rules).

Syntax (see docs/rules.md for the marketer-facing description)::

    all:                                   # every item must hold      (also: any:, not:)
      - recency_days: {between: [90, 180]} # inclusive range
      - order_count: {gte: 1}              # eq ne gt gte lt lte
      - country: [DE, AT]                  # shorthand for {in: [DE, AT]}; a bare value means eq
      - cart_abandoned: true
      - top_category: {not_null: true}     # is_null / not_null
      - viewed_not_bought: {not_empty: true}   # list fields: contains / not_contains / is_empty / not_empty
      - in_segment: vip                    # = segments: {contains: vip}; a list means "any of"

Semantics: a missing value (None/NaN/NaT) never satisfies a comparison — ``gt``, ``ne``, ``in``, ``not_in``
... are all false for it; ask for it explicitly with ``is_null``. For list fields, null and ``[]`` are the
same thing ("empty"). ``not:`` is plain boolean negation (``not: {recency_days: {gt: 30}}`` includes customers
without a recency). Both back ends implement exactly these semantics (tests/rules/test_decisions.py checks that
they agree).

Errors: every problem is reported as ``<file>:<line>: <what is wrong>``, all problems of a file at once, in a
:class:`tailor.rules.problems.RuleFileError`.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from tailor.lazy_imports import LazyModule
from tailor.rules.condition import AllOf, AnyOf, Compare, Condition, Contains, InSet, Missing, Not, condition_tests
from tailor.rules.customer_table import SEGMENTS_FIELD
from tailor.rules.durable import MAX_ABS_NUMBER, MIN_ABS_NUMBER
from tailor.rules.fields import KINDS, spec_field_kinds
from tailor.rules.limits import MAX_CONDITION_TESTS, MAX_FILE_TESTS
from tailor.rules.problems import Problems, did_you_mean, suggest
from tailor.rules.yaml_lines import describe_value, line_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
else:
    pd = LazyModule("pandas", globals(), "pd")


COMBINATORS = ("all", "any", "not")
SEGMENT_KEY = "in_segment"

OPERATORS_BY_KIND: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "is_null", "not_null"),
    "datetime": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null", "not_null"),
    "string": ("eq", "ne", "in", "not_in", "is_null", "not_null"),
    "boolean": ("eq", "ne", "is_null", "not_null"),
    "list": ("contains", "not_contains", "is_empty", "not_empty"),
}
ALL_OPERATORS = tuple(dict.fromkeys(op for ops in OPERATORS_BY_KIND.values() for op in ops))


# Spellings people naturally try; only used to suggest the right operator in the error message.
_OPERATOR_HINTS = {
    ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "eq", "==": "eq", "!=": "ne", "<>": "ne",
    "greater": "gt", "greater_than": "gt", "more_than": "gt", "more": "gt", "bigger": "gt", "after": "gt",
    "less": "lt", "smaller": "lt", "fewer": "lt", "before": "lt", "ge": "gte", "le": "lte", "neq": "ne",
    "above": "gt", "over": "gt", "at_least": "gte", "min": "gte",
    "less_than": "lt", "below": "lt", "under": "lt", "at_most": "lte", "max": "lte",
    "equals": "eq", "equal": "eq", "is": "eq", "not_equals": "ne", "not_equal": "ne", "is_not": "ne",
    "one_of": "in", "any_of": "in", "none_of": "not_in", "not_one_of": "not_in", "range": "between",
    "has": "contains", "includes": "contains", "empty": "is_empty", "exists": "not_null",
    "missing": "is_null", "null": "is_null", "none": "is_null",
}


def _squash(word: str) -> str:
    return re.sub(r"[\s_\-]+", "", word.lower())


_SQUASHED_HINTS = {**{_squash(k): v for k, v in _OPERATOR_HINTS.items()},
                   **{_squash(op): op for op in ("eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in",
                                                 "is_null", "not_null", "contains", "not_contains", "is_empty",
                                                 "not_empty")}}


def _operator_hint(op: Any) -> str | None:
    """The operator someone probably meant (`atleast`, `Greater Than`, `>=` ...), if obvious."""
    if not isinstance(op, str):
        return None
    return _OPERATOR_HINTS.get(op) or _SQUASHED_HINTS.get(_squash(op))


KIND_WORDS = {"number": "a number", "string": "a text", "boolean": "a true/false", "datetime": "a date",
              "list": "a list"}


class _Invalid(Exception):
    """A value failed validation (message already recorded)."""


class ConditionParser:
    """Parses YAML condition trees into the AST, adding every problem to ``problems``."""

    def __init__(self, known_fields: Mapping[str, str], problems: Problems, *,
                 allow_segments: bool = True, known_segments: Collection[str] | None = None,
                 reserved_fields: Collection[str] = (), where: str = "rules"):
        bad = {k: v for k, v in known_fields.items() if v not in KINDS}
        if bad:
            raise ValueError(f"unknown field kinds {bad}; kinds are {KINDS}")
        self.known = dict(known_fields)
        self.problems = problems
        self.allow_segments = allow_segments
        self.known_segments = set(known_segments) if known_segments is not None else None
        self.reserved = set(reserved_fields)
        self.where = where
        #: tests of the conditions parsed so far (see :meth:`within_limits`)
        self.tests = 0
        self._file_limit_told = False

    def within_limits(self, cond: Condition | None, line: int | None, label: str) -> Condition | None:
        """``cond``, or None when it has more tests than one condition may (MAX_CONDITION_TESTS) or takes the
        file's conditions past MAX_FILE_TESTS in all (each told once, at ``line``, starting with ``label``)."""
        if cond is None:
            return None
        n = condition_tests(cond)
        self.tests += n
        if n > MAX_CONDITION_TESTS:
            self.problems.add(line, f"{label}: the condition has {n:,} tests (each value of an in:, not_in: or "
                                    f"in_segment: list counts as one); a condition may have at most "
                                    f"{MAX_CONDITION_TESTS:,}")
            return None
        if self.tests > MAX_FILE_TESTS:
            if not self._file_limit_told:
                self._file_limit_told = True
                self.problems.add(line, f"{label}: the conditions up to here have {self.tests:,} tests in all; the "
                                        f"conditions of one file may have at most {MAX_FILE_TESTS:,}")
            return None
        return cond

    def parse(self, raw: Any, line: int | None) -> Condition | None:
        """A condition (mapping, or list = all of them). None when invalid (problems recorded)."""
        if isinstance(raw, list):
            return self._list(raw, line, "all", AllOf)
        if not isinstance(raw, dict):
            self.problems.add(line, f"a condition must be a mapping such as `recency_days: {{gt: 30}}`, "
                                    f"got {describe_value(raw)}")
            return None
        if not raw:
            self.problems.add(line, "empty condition {}: say what must hold, e.g. `order_count: {gte: 1}`")
            return None
        parts: list[Condition | None] = []
        ok = True
        for key, value in raw.items():
            kline = line_of(raw, key, line)
            if key in ("all", "any"):
                node_type = AllOf if key == "all" else AnyOf
                if not isinstance(value, list):
                    self.problems.add(kline, f"`{key}:` needs a list of conditions (one per line starting with `- `), "
                                             f"got {describe_value(value)}")
                    ok = False
                    continue
                parts.append(self._list(value, kline, key, node_type))
            elif key == "not":
                inner = self.parse(value, kline)
                parts.append(Not(inner, kline) if inner is not None else None)
            elif key == SEGMENT_KEY:
                parts.append(self._segment(value, kline))
            elif not isinstance(key, str):
                self.problems.add(kline, f"{describe_value(key)} is not a field name")
                ok = False
            elif key in self.reserved:
                self.problems.add(kline, f"field {key!r} is reserved by the rules engine and cannot be used")
                ok = False
            elif key in self.known:
                parts.append(self._field(key, self.known[key], value, kline))
            elif key in ALL_OPERATORS or key in _OPERATOR_HINTS:
                self.problems.add(kline, f"operator {key!r} must be written under a field, "
                                         f"e.g. `recency_days: {{{_operator_hint(key) or key}: 30}}`")
                ok = False
            else:
                hint = did_you_mean(key, list(self.known) + list(COMBINATORS) + [SEGMENT_KEY])
                if not hint and key in spec_field_kinds():
                    hint = " — it is not available in this data"
                self.problems.add(kline, f"unknown field {key!r}{hint}")
                ok = False
        if not ok or any(p is None for p in parts):
            return None
        good = [p for p in parts if p is not None]
        return good[0] if len(good) == 1 else AllOf(tuple(good), line)

    def _list(self, raw: list, line: int | None, key: str, node_type: type) -> Condition | None:
        if not raw:
            self.problems.add(line, f"`{key}:` needs at least one condition")
            return None
        items = [self.parse(item, line_of(raw, i, line)) for i, item in enumerate(raw)]
        if any(i is None for i in items):
            return None
        if len(items) == 1:
            return items[0]
        return node_type(tuple(items), line)

    def _segment(self, value: Any, line: int | None) -> Condition | None:
        if not self.allow_segments:
            self.problems.add(line, "`in_segment` cannot be used here: segments are computed from customer "
                                    "fields only, not from other segments")
            return None
        if self.known.get(SEGMENTS_FIELD) != "list":
            self.problems.add(line, "`in_segment` needs the `segments` field, which this data does not have")
            return None
        names = value if isinstance(value, list) else [value]
        if not names:
            self.problems.add(line, "`in_segment:` needs a segment name, or a list of names (= any of them)")
            return None
        out: list[Condition] = []
        ok = True
        for i, name in enumerate(names):
            nline = line_of(value, i, line) if isinstance(value, list) else line
            if not isinstance(name, str) or not name.strip():
                self.problems.add(nline, f"a segment name must be text, got {describe_value(name)}")
                ok = False
                continue
            if self.known_segments is not None and name not in self.known_segments:
                self.problems.add(nline, f"unknown segment {name!r}{did_you_mean(name, self.known_segments)} "
                                         f"(segments: {', '.join(sorted(self.known_segments))})")
                ok = False
                continue
            out.append(Contains(SEGMENTS_FIELD, "list", name, nline))
        if not ok:
            return None
        return out[0] if len(out) == 1 else AnyOf(tuple(out), line)

    def _field(self, name: str, kind: str, value: Any, line: int | None) -> Condition | None:
        if value is None:
            self.problems.add(line, f"no condition given for field {name!r}; to select customers without a value "
                                    f"write `{name}: {{{'is_empty' if kind == 'list' else 'is_null'}: true}}`")
            return None
        if isinstance(value, dict):
            if not value:
                self.problems.add(line, f"no operator given for field {name!r}, e.g. "
                                        f"`{name}: {{{OPERATORS_BY_KIND[kind][0]}: ...}}`")
                return None
            items = [self._op(name, kind, op, arg, line_of(value, op, line)) for op, arg in value.items()]
            if any(i is None for i in items):
                return None
            return items[0] if len(items) == 1 else AllOf(tuple(items), line)  # type: ignore[arg-type]
        if kind == "list":
            example = value[0] if isinstance(value, list) and value else value
            self.problems.add(line, f"{name!r} is a list field: write `{name}: {{contains: {example}}}` or "
                                    f"`{name}: {{not_empty: true}}`")
            return None
        if isinstance(value, list):
            return self._op(name, kind, "in", value, line)
        return self._op(name, kind, "eq", value, line)

    def _op(self, name: str, kind: str, op: Any, arg: Any, line: int | None) -> Condition | None:
        allowed = OPERATORS_BY_KIND[kind]
        if op not in ALL_OPERATORS:
            hint = _operator_hint(op)
            if hint is None or hint not in allowed:
                hint = suggest(op, allowed)
            tip = f" — did you mean {hint}?" if hint else ""
            self.problems.add(line, f"unknown operator {op!r} on field {name!r}{tip} "
                                    f"(operators for {KIND_WORDS[kind]} field: {', '.join(allowed)})")
            return None
        if op not in allowed:
            extra = ""
            if kind == "list" and op in ("is_null", "not_null"):
                extra = f" — use {'is_empty' if op == 'is_null' else 'not_empty'}"
            elif kind == "list" and op in ("eq", "in"):
                extra = " — use contains"
            elif op in ("is_empty", "not_empty"):
                extra = f" — use {'is_null' if op == 'is_empty' else 'not_null'}"
            self.problems.add(line, f"operator {op!r} cannot be used on {name!r}, which is {KIND_WORDS[kind]} "
                                    f"field{extra} (operators for it: {', '.join(allowed)})")
            return None
        try:
            if op in ("eq", "ne", "gt", "gte", "lt", "lte"):
                return Compare(name, kind, op, self._value(name, kind, op, arg, line), line)
            if op == "between":
                if not isinstance(arg, list) or len(arg) != 2:
                    self.problems.add(line, f"`between` on {name!r} needs two values [low, high], "
                                            f"e.g. `{name}: {{between: [90, 180]}}`, got {describe_value(arg)}")
                    return None
                low = self._value(name, kind, op, arg[0], line)
                high = self._value(name, kind, op, arg[1], line)
                if low > high:
                    self.problems.add(line, f"`between` on {name!r}: the low value {arg[0]} is above the high "
                                            f"value {arg[1]}; write [low, high]")
                    return None
                return AllOf((Compare(name, kind, "gte", low, line), Compare(name, kind, "lte", high, line)), line)
            if op in ("in", "not_in"):
                if not isinstance(arg, list) or not arg:
                    self.problems.add(line, f"`{op}` on {name!r} needs a non-empty list, e.g. "
                                            f"`{name}: {{{op}: [a, b]}}`, got {describe_value(arg)}")
                    return None
                values = tuple(dict.fromkeys(self._value(name, kind, op, v, line) for v in arg))
                return InSet(name, kind, values, op == "not_in", line)
            if op in ("is_null", "not_null", "is_empty", "not_empty"):
                if not isinstance(arg, bool):
                    self.problems.add(line, f"`{op}` on {name!r} takes true or false, got {describe_value(arg)}")
                    return None
                missing = Missing(name, kind, line)
                want_missing = arg if op in ("is_null", "is_empty") else not arg
                return missing if want_missing else Not(missing, line)
            if op in ("contains", "not_contains"):
                if isinstance(arg, bool) or not isinstance(arg, (str, int, float)) or (isinstance(arg, str) and not arg):
                    self.problems.add(line, f"`{op}` on {name!r} takes one item (text or number), "
                                            f"got {describe_value(arg)}")
                    return None
                if isinstance(arg, float):
                    self._number_range(name, arg, line)
                node = Contains(name, kind, arg, line)
                return node if op == "contains" else Not(node, line)
        except _Invalid:
            return None
        raise AssertionError(op)  # pragma: no cover

    def _value(self, name: str, kind: str, op: str, v: Any, line: int | None) -> Any:
        if kind == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                quoted = ""
                if isinstance(v, str):
                    try:
                        float(v)
                        quoted = " (remove the quotes)"
                    except ValueError:
                        pass
                self.problems.add(line, f"wrong type for {name!r} ({op}): {name} is a number field but got "
                                        f"{describe_value(v)}{quoted}; write a number such as 30")
                raise _Invalid
            self._number_range(name, v, line)
            return v
        if kind == "string":
            if not isinstance(v, str):
                tip = ""
                if isinstance(v, (bool, int, float, _dt.date)):
                    tip = f"; if you mean the text, put it in quotes: \"{_plain(v)}\""
                self.problems.add(line, f"wrong type for {name!r} ({op}): {name} is a text field but got "
                                        f"{describe_value(v)}{tip}")
                raise _Invalid
            return v
        if kind == "boolean":
            if not isinstance(v, bool):
                self.problems.add(line, f"wrong type for {name!r} ({op}): {name} is a true/false field; "
                                        f"write true or false, not {describe_value(v)}")
                raise _Invalid
            return v
        if kind == "datetime":
            if isinstance(v, bool) or not isinstance(v, (str, _dt.date)):
                self.problems.add(line, f"wrong type for {name!r} ({op}): {name} is a date field; write a date "
                                        f"such as 2024-06-30 or 2024-06-30T08:00:00Z, not {describe_value(v)}")
                raise _Invalid
            ts = parse_datetime_literal(v)
            if ts is None:
                self.problems.add(line, f"{v!r} is not a date (for {name!r}); write e.g. 2024-06-30")
                raise _Invalid
            return ts
        raise AssertionError(kind)  # pragma: no cover

    def _number_range(self, name: str, v: float, line: int | None) -> None:
        if isinstance(v, float) and not math.isfinite(v):
            self.problems.add(line, f"{v!r} is not a usable number (for {name!r})")
            raise _Invalid
        if v != 0 and not (MIN_ABS_NUMBER <= abs(v) < MAX_ABS_NUMBER):
            self.problems.add(line, f"number {v!r} for {name!r} is out of range: rules support 0 and numbers "
                                    f"between 0.001 and 999999999999999 (positive or negative)")
            raise _Invalid


def parse_datetime_literal(v: Any) -> _dt.datetime | None:
    """A date/time literal of a rule file as a naive UTC ``datetime`` (None if it is not a date).

    ISO-8601 text and YAML dates are read without pandas (so checking rule files stays fast); other spellings
    pandas understands (``2024/06/30``) are read with pandas. Offsets are converted to UTC.
    """
    if isinstance(v, _dt.datetime):
        ts = v
    elif isinstance(v, _dt.date):
        ts = _dt.datetime(v.year, v.month, v.day)
    elif isinstance(v, str):
        text = v.strip()
        try:
            ts = _dt.datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
        except ValueError:
            try:
                parsed = pd.Timestamp(text)
            except (ValueError, TypeError, OverflowError):
                return None
            if pd.isna(parsed):
                return None
            ts = parsed.to_pydatetime(warn=False)
    else:
        return None
    if ts.tzinfo is not None:
        ts = ts.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return ts


def _plain(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)

