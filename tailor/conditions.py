"""The condition language shared by ``rules/segments.yaml`` and ``rules/email_rules.yaml``.

Marketers write conditions in YAML; this module turns them into a small typed AST, validates every field,
operator and value against a field catalog (``known_fields``: name -> kind), and offers two back ends:

* :func:`evaluate` — a vectorised pandas mask (used for segments; also the reference semantics), and
* :func:`to_durable` — a durable_rules JSON condition over ``m`` (used for the email rules).

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
without a recency). Both back ends implement exactly these semantics (tests/test_conditions.py checks that
they agree).

Errors: every problem is reported as ``<file>:<line>: <what is wrong>``, all problems of a file at once, in a
:class:`RuleFileError`.
"""

from __future__ import annotations

import datetime as _dt
import difflib
import importlib
import json
import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import yaml


class LazyModule:
    """A module imported on first attribute access, which then takes this object's place in the owner's globals.

    Checking rule files (``tailor rules check``, run on every save) needs neither pandas, numpy nor pandera —
    about 2 s of imports on a small machine. The data paths import them on first use; after that, the module
    global *is* the real module, so hot loops pay nothing.
    """

    __slots__ = ("_name", "_namespace", "_alias")

    def __init__(self, name: str, namespace: dict[str, Any], alias: str):
        self._name, self._namespace, self._alias = name, namespace, alias

    def load(self) -> Any:
        module = importlib.import_module(self._name)
        if self._namespace.get(self._alias) is self:
            self._namespace[self._alias] = module
        return module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.load(), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")

# ----------------------------------------------------------------------------------------------- field catalog

KINDS = ("number", "string", "boolean", "datetime", "list")

def spec_field_kinds() -> dict[str, str]:
    """Every field rules may use -> its kind: the columns of the customer table (profiles, features, predictions,
    recommendations) read from their pandera schemas, plus ``segments`` — see :mod:`tailor.customer_table`.
    Adding a column to one of those schemas makes it a field; nothing here needs editing.

    Used to validate rule files without data at hand (``tailor rules check``) and as the fallback of
    :func:`field_kinds` when a column's kind cannot be told from its data (e.g. an all-null object column).
    Cheap: the schemas are read with :mod:`ast` (no pandas/pandera import), once per process.
    """
    from tailor.customer_table import customer_field_kinds

    return customer_field_kinds()


def list_fields() -> frozenset[str]:
    """Columns that are multi-valued by contract (JSON-list strings in tables, python lists in memory)."""
    return frozenset(k for k, v in spec_field_kinds().items() if v == "list")


def __getattr__(name: str) -> Any:
    # SPEC_FIELD_KINDS / LIST_FIELDS were hand-kept literals; they stay importable, now derived from the schemas
    if name == "SPEC_FIELD_KINDS":
        return dict(spec_field_kinds())
    if name == "LIST_FIELDS":
        return list_fields()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def field_kinds(df: pd.DataFrame) -> dict[str, str]:
    """The field catalog of a frame: column name -> one of :data:`KINDS`.

    Decided from the dtype; object columns are inspected (bools, lists / JSON-list strings, numbers,
    datetimes, else text). Columns whose data says nothing (all null) fall back to :func:`spec_field_kinds`.
    """
    spec = spec_field_kinds()
    return {str(col): _kind_of(str(col), df[col], spec) for col in df.columns}


def _kind_of(name: str, s: pd.Series, spec: Mapping[str, str]) -> str:
    if spec.get(name) == "list":
        return "list"
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    sample = [v for v in s.head(500).tolist() if not _is_missing(v)][:100]
    if not sample:
        return spec.get(name, "string")
    if all(isinstance(v, (bool, np.bool_)) for v in sample):
        return "boolean"
    if all(isinstance(v, (list, tuple, np.ndarray, set, frozenset)) for v in sample):
        return "list"
    if all(isinstance(v, str) for v in sample):
        if all(v.lstrip().startswith("[") and v.rstrip().endswith("]") for v in sample):
            return "list"
        return "string"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in sample):
        return "number"
    if all(isinstance(v, (_dt.date, pd.Timestamp, np.datetime64)) for v in sample):
        return "datetime"
    return spec.get(name, "string")


def _is_missing(v: Any) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, (float, np.floating)):
        return math.isnan(v)
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return bool(pd.isna(v))
    return False


# ------------------------------------------------------------------------------------------------------ errors

@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str


class RuleFileError(ValueError):
    """One or more problems in a marketer-edited rule file.

    ``path``: the file; ``line``: the line of the first problem (1-based, None if unknown);
    ``problems``: every :class:`Problem` found (the whole file is checked before raising).
    ``str(err)`` lists them as ``<path>:<line>: <message>``.
    """

    def __init__(self, path: str | Path, problems: Iterable[Problem] | str, line: int | None = None):
        if isinstance(problems, str):
            problems = [Problem(line, problems)]
        self.path = str(path)
        self.problems: list[Problem] = sorted(problems, key=lambda p: (p.line is None, p.line or 0))
        self.line = self.problems[0].line if self.problems else None
        lines = [self._format(p) for p in self.problems]
        if len(lines) == 1:
            self.message = lines[0]
        else:
            self.message = f"{len(lines)} problems in {self.path}:\n" + "\n".join("  " + x for x in lines)
        super().__init__(self.message)

    def _format(self, p: Problem) -> str:
        return f"{self.path}:{p.line}: {p.message}" if p.line is not None else f"{self.path}: {p.message}"


class Problems:
    """Collects the problems of one file; :meth:`raise_if_any` raises them together."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        self.items: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.items.append(Problem(line, message))

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise RuleFileError(self.path, self.items)


def suggest(word: Any, options: Iterable[str]) -> str | None:
    """The closest valid name for a typo (case, prefix/containment, then difflib), or None."""
    if not isinstance(word, str):
        return None
    opts = sorted(set(options))
    w = word.strip().lower()
    for o in opts:
        if o.lower() == w:
            return o
    if len(w) >= 4:
        starts = [o for o in opts if o.lower().startswith(w) or w.startswith(o.lower())]
        if len(starts) == 1:
            return starts[0]
        inside = [o for o in opts if w in o.lower()]
        if len(inside) == 1:
            return inside[0]
    close = difflib.get_close_matches(w, opts, n=1, cutoff=0.5)
    return close[0] if close else None


def did_you_mean(word: Any, options: Iterable[str]) -> str:
    s = suggest(word, options)
    return f" — did you mean {s}?" if s else ""


# ------------------------------------------------------------------------------------- YAML with line numbers

class LineDict(dict):
    """A YAML mapping that remembers where it and each key start (1-based lines)."""

    line: int
    key_lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list):
    """A YAML sequence that remembers where it and each item start (1-based lines)."""

    line: int
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class _LineLoader(yaml.SafeLoader):
    """Safe loader recording start lines; YAML-1.2 booleans (only true/false — `NO` stays the text "NO");
    duplicate keys are reported instead of silently overwritten."""

    problems: Problems | None = None


_LineLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_LineLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        kline = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            if loader.problems is not None:
                loader.problems.add(kline, "a key must be a plain name, not a list or mapping")
            continue
        value = loader.construct_object(value_node, deep=True)
        if key in result:
            if loader.problems is not None:
                loader.problems.add(kline, f"duplicate key {key!r} (first given on line {result.key_lines[key]}); "
                                           "the second one would silently win")
            continue
        result[key] = value
        result.key_lines[key] = kline
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)


def load_yaml(path: str | Path, problems: Problems | None = None) -> tuple[Any, bytes]:
    """Parse a rule file keeping line numbers. Returns (data, raw bytes).

    Syntax errors raise :class:`RuleFileError` at once (nothing else can be checked); duplicate keys are
    added to ``problems`` (raised at once when no collector is given).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RuleFileError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    own = problems is None
    problems = problems if problems is not None else Problems(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RuleFileError(path, "the file is not valid UTF-8 text", line) from exc
    loader = _LineLoader(text)
    loader.problems = problems
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or str(exc)
        raise RuleFileError(path, f"YAML syntax error: {what}", line) from exc
    except yaml.YAMLError as exc:
        raise RuleFileError(path, f"YAML syntax error: {exc}") from exc
    finally:
        loader.dispose()
    if own:
        problems.raise_if_any()
    return data, raw


def line_of(container: Any, key: Any, default: int | None = None) -> int | None:
    if isinstance(container, LineDict):
        return container.line_of(key)
    if isinstance(container, LineList) and isinstance(key, int):
        return container.line_of(key)
    return getattr(container, "line", default)


def describe_value(v: Any) -> str:
    """How a YAML value reads to a marketer, for error messages."""
    if v is None:
        return "nothing (null)"
    if isinstance(v, bool):
        return f"true/false value {str(v).lower()}"
    if isinstance(v, (int, float)):
        return f"number {v!r}"
    if isinstance(v, str):
        return f"text {v!r}"
    if isinstance(v, (_dt.date, _dt.datetime)):
        return f"date {v.isoformat()}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return repr(v)

def check_named_item(
    items: list[Any],
    index: int,
    problems: "Problems",
    seen: dict[str, int | None],
    *,
    kind: str,
    keys: Iterable[str],
    name_re: "re.Pattern[str]",
    name_hint: str,
    required_keys_text: str,
) -> tuple[Any, str, bool] | None:
    """The checks every named entry of a rule file shares (a rule, a segment).

    Reports a non-mapping entry, unknown keys, a missing, malformed or duplicate ``name``. Returns None when
    the entry is not a mapping at all, else ``(name, label for messages, name_ok)``.
    """
    item = items[index]
    item_line = line_of(items, index)
    if not isinstance(item, dict):
        problems.add(item_line, f"each {kind} must be a mapping with {required_keys_text}; got {describe_value(item)}")
        return None
    keys = tuple(keys)
    for key in item:
        if key not in keys:
            problems.add(line_of(item, key), f"unknown key {key!r}{did_you_mean(key, keys)} in a {kind} "
                                             f"(keys: {', '.join(keys)})")
    name = item.get("name")
    label = f"{kind} {name!r}" if isinstance(name, str) else f"{kind} #{index + 1}"
    if "name" not in item:
        problems.add(item_line, f"{label}: missing required key `name`")
        return name, label, False
    if not isinstance(name, str) or not name_re.match(name):
        problems.add(line_of(item, "name"), f"{kind} name {describe_value(name)} is not valid: use {name_hint}")
        return name, label, False
    if name in seen:
        problems.add(line_of(item, "name"), f"duplicate {kind} name {name!r} (first defined on line {seen[name]})")
        return name, label, False
    seen[name] = line_of(item, "name")
    return name, label, True



# ---------------------------------------------------------------------------------------------------- the AST

@dataclass(frozen=True)
class Compare:
    """``field <op> value``; op in eq, ne, gt, gte, lt, lte. False when the field is missing."""

    field: str
    kind: str
    op: str
    value: Any
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class InSet:
    """``field in values`` (``negate``: ``not_in`` — present and none of values). False when missing."""

    field: str
    kind: str
    values: tuple[Any, ...]
    negate: bool = False
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Missing:
    """The field has no value (null/NaN/NaT; for lists: null or empty)."""

    field: str
    kind: str
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Contains:
    """A list field contains ``value``."""

    field: str
    kind: str
    value: Any
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AllOf:
    items: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    item: Condition
    line: int | None = field(default=None, compare=False)


Condition = Union[Compare, InSet, Missing, Contains, AllOf, AnyOf, Not]


def condition_fields(cond: Condition) -> set[str]:
    """Every field a condition reads."""
    if isinstance(cond, (AllOf, AnyOf)):
        out: set[str] = set()
        for item in cond.items:
            out |= condition_fields(item)
        return out
    if isinstance(cond, Not):
        return condition_fields(cond.item)
    return {cond.field}


def condition_kinds(cond: Condition) -> dict[str, str]:
    """Every field a condition reads, with the kind it was validated against."""
    if isinstance(cond, (AllOf, AnyOf)):
        out: dict[str, str] = {}
        for item in cond.items:
            out.update(condition_kinds(item))
        return out
    if isinstance(cond, Not):
        return condition_kinds(cond.item)
    return {cond.field: cond.kind}


# ------------------------------------------------------------------------------------------------------ parser

COMBINATORS = ("all", "any", "not")
SEGMENT_KEY = "in_segment"
SEGMENTS_FIELD = "segments"

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
    "less": "lt", "smaller": "lt", "fewer": "lt", "before": "lt", "ge": "gte", "le": "lte", "neq": "ne", "above": "gt", "over": "gt", "at_least": "gte", "min": "gte",
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

# durable_rules' JSON parser rejects exponent notation (1e-05, 1e+16), which Python emits for very small
# and very large floats; literals are therefore limited to 0 or 0.001 <= |x| < 1e15, and fact values
# outside that window are clamped in a way that keeps every such comparison's result (see json_number).
MIN_ABS_NUMBER = 0.001
MAX_ABS_NUMBER = 1e15


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

    # -- entry point
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
    pandas understands (``2024/06/30``) are accepted as before. Offsets are converted to UTC.
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


def parse_condition(raw: Any, known_fields: Mapping[str, str], *, path: str | Path = "<condition>",
                    line: int | None = None, allow_segments: bool = True,
                    known_segments: Collection[str] | None = None) -> Condition:
    """Parse and validate one condition (already-loaded YAML). Raises :class:`RuleFileError`."""
    problems = Problems(path)
    cond = ConditionParser(known_fields, problems, allow_segments=allow_segments,
                           known_segments=known_segments).parse(raw, line if line is not None else getattr(raw, "line", None))
    problems.raise_if_any()
    assert cond is not None
    return cond


def parse_condition_text(text: str, known_fields: Mapping[str, str], **kwargs: Any) -> Condition:
    """Parse a condition written as YAML text (handy in tests and notebooks)."""
    loader = _LineLoader(text)
    try:
        raw = loader.get_single_data()
    finally:
        loader.dispose()
    return parse_condition(raw, known_fields, **kwargs)


# ------------------------------------------------------------------------------------------ durable_rules JSON

_INVERSE = {"eq": "ne", "ne": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}
_EPOCH = _dt.datetime(1970, 1, 1)


def json_number(x: float) -> float | None:
    """A float durable_rules can parse (no exponent notation); NaN -> None.

    Non-zero magnitudes below 1e-4 become ±0.0001 and magnitudes from 1e15 become ±1e15; as rule literals
    are 0 or 0.001 <= |c| < 1e15, no comparison with a literal changes its result.
    """
    if x != x:  # NaN
        return None
    if x == 0:
        return 0.0
    a = abs(x)
    if a < 1e-4:
        return math.copysign(1e-4, x)
    if a >= MAX_ABS_NUMBER:
        return math.copysign(MAX_ABS_NUMBER, x)
    return float(x)


def durable_value(value: Any, kind: str) -> Any:
    """A literal as it appears in facts and durable conditions."""
    if kind == "datetime":
        return json_number(float((value - _EPOCH).total_seconds()))
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value) if abs(int(value)) < MAX_ABS_NUMBER else json_number(float(value))
    if isinstance(value, (float, np.floating)):
        return json_number(float(value))
    return value


def _and(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def to_durable(cond: Condition) -> dict:
    """The durable_rules JSON condition over ``m`` for a condition, e.g. ``{"$gt": {"recency_days": 30}}``.

    Facts must be prepared like :func:`tailor.decisions` does: missing values and empty lists are *omitted*
    (so ``$nex`` means "missing"), datetimes are epoch seconds, numbers pass through :func:`json_number`.
    ``not`` is pushed down to the leaves (durable_rules has no negation operator).
    """
    return _durable(cond, False)


def _durable(c: Condition, neg: bool) -> dict:
    if isinstance(c, Compare):
        f, v = c.field, durable_value(c.value, c.kind)
        op = _INVERSE[c.op] if neg else c.op
        if not neg and op == "ne":      # present and different
            return {"$and": [{"$ex": {f: 1}}, {"$neq": {f: v}}]}
        if neg and c.op == "ne":        # not (present and different) = missing or equal
            return {"$or": [{"$nex": {f: 1}}, {f: v}]}
        leaf = {f: v} if op == "eq" else {f"${'neq' if op == 'ne' else op}": {f: v}}
        return {"$or": [{"$nex": {f: 1}}, leaf]} if neg else leaf
    if isinstance(c, InSet):
        f = c.field
        vals = [durable_value(v, c.kind) for v in c.values]
        inside = _or([{f: v} for v in vals])
        none_of = [{"$neq": {f: v}} for v in vals]
        if not c.negate:   # in: present and one of; negated: missing or none of
            return {"$or": [{"$nex": {f: 1}}, _and(none_of)]} if neg else inside
        # not_in: present and none of; negated: missing or one of
        return {"$or": [{"$nex": {f: 1}}, inside]} if neg else _and([{"$ex": {f: 1}}] + none_of)
    if isinstance(c, Missing):
        return {"$ex": {c.field: 1}} if neg else {"$nex": {c.field: 1}}
    if isinstance(c, Contains):
        f, v = c.field, durable_value(c.value, "number" if isinstance(c.value, float) else "string")
        if neg:
            return {"$or": [{"$nex": {f: 1}}, {"$iall": {f: {"$neq": {"$i": v}}}}]}
        return {"$iany": {f: {"$i": v}}}
    if isinstance(c, AllOf):
        parts = [_durable(i, neg) for i in c.items]
        return _or(parts) if neg else _and(parts)
    if isinstance(c, AnyOf):
        parts = [_durable(i, neg) for i in c.items]
        return _and(parts) if neg else _or(parts)
    if isinstance(c, Not):
        return _durable(c.item, not neg)
    raise TypeError(f"not a condition: {c!r}")


# ------------------------------------------------------------------------------------------- pandas evaluation

def parse_list_value(v: Any) -> list:
    """A multi-valued cell as a python list: JSON-list text, list/tuple/array, or missing (-> [])."""
    if isinstance(v, list):
        return v
    if isinstance(v, str):
        text = v.strip()
        if not text:
            return []
        parsed = json.loads(text)
        if parsed is None:
            return []
        if not isinstance(parsed, list):
            raise ValueError(f"expected a JSON list, got {text[:60]!r}")
        return parsed
    if isinstance(v, (tuple, set, frozenset)):
        return list(v)
    if isinstance(v, np.ndarray):
        return v.tolist()
    if _is_missing(v):
        return []
    raise ValueError(f"expected a list or a JSON list, got {type(v).__name__} {v!r:.60}")


def list_column(s: pd.Series) -> list[list]:
    """Every cell of a list column parsed with :func:`parse_list_value`; errors name the row."""
    out: list[list] = []
    for pos, v in enumerate(s.tolist()):
        try:
            out.append(parse_list_value(v))
        except (ValueError, json.JSONDecodeError) as exc:
            raise ValueError(f"column {s.name!r}, row {pos} (index {s.index[pos]!r}): {exc}") from exc
    return out


class _Frame:
    """Per-evaluation caches of converted columns."""

    def __init__(self, df: pd.DataFrame):
        self.df = df
        self._cache: dict[tuple[str, str], Any] = {}

    def column(self, name: str, kind: str) -> Any:
        key = (name, kind)
        if key not in self._cache:
            if name not in self.df.columns:
                raise KeyError(f"field {name!r} is not a column of the frame being evaluated")
            s = self.df[name]
            if kind == "list":
                conv: Any = [set(x) if all(isinstance(i, (str, int, float)) for i in x) else x
                             for x in list_column(s)]
            elif kind == "number":
                conv = pd.to_numeric(s, errors="coerce").astype("float64")
            elif kind == "datetime":
                conv = _as_naive_utc(s)
            elif kind == "string":
                conv = s if s.dtype == object and all(isinstance(v, str) or _is_missing(v) for v in s.tolist()) \
                    else s.astype("string")
            else:  # boolean
                conv = s.astype("object").where(s.notna(), None)
            self._cache[key] = conv
        return self._cache[key]


def _as_naive_utc(s: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        if getattr(s.dt, "tz", None) is not None:
            return s.dt.tz_convert("UTC").dt.tz_localize(None)
        return s
    out = pd.to_datetime(s, errors="coerce", utc=True)
    return out.dt.tz_localize(None)


def _mask(x: Any) -> np.ndarray:
    if isinstance(x, pd.Series):
        return x.fillna(False).to_numpy(dtype=bool) if x.dtype != bool else x.to_numpy()
    return np.asarray(x, dtype=bool)


def evaluate(cond: Condition, df: pd.DataFrame) -> pd.Series:
    """The rows of ``df`` a condition selects, as a boolean Series aligned on ``df.index``.

    Missing values never match a comparison; list cells may be python lists or JSON-list strings.
    """
    frame = _Frame(df)
    return pd.Series(_eval(cond, frame), index=df.index, dtype=bool)


def _eval(c: Condition, fr: _Frame) -> np.ndarray:
    n = len(fr.df)
    if isinstance(c, Compare):
        s = fr.column(c.field, c.kind)
        present = s.notna().to_numpy()
        if c.kind == "boolean":
            vals = s.to_numpy(dtype=object)
            eq = np.fromiter((v is not None and bool(v) == c.value for v in vals), dtype=bool, count=n)
            return eq if c.op == "eq" else present & ~eq
        method = {"eq": "eq", "ne": "ne", "gt": "gt", "gte": "ge", "lt": "lt", "lte": "le"}[c.op]
        return _mask(getattr(s, method)(c.value)) & present
    if isinstance(c, InSet):
        s = fr.column(c.field, c.kind)
        present = s.notna().to_numpy()
        inside = _mask(s.isin(list(c.values)))
        return present & (~inside if c.negate else inside)
    if isinstance(c, Missing):
        if c.kind == "list":
            return np.fromiter((len(x) == 0 for x in fr.column(c.field, "list")), dtype=bool, count=n)
        return fr.column(c.field, c.kind).isna().to_numpy()
    if isinstance(c, Contains):
        v = c.value
        return np.fromiter((v in x for x in fr.column(c.field, "list")), dtype=bool, count=n)
    if isinstance(c, AllOf):
        out = np.ones(n, dtype=bool)
        for item in c.items:
            out &= _eval(item, fr)
        return out
    if isinstance(c, AnyOf):
        out = np.zeros(n, dtype=bool)
        for item in c.items:
            out |= _eval(item, fr)
        return out
    if isinstance(c, Not):
        return ~_eval(c.item, fr)
    raise TypeError(f"not a condition: {c!r}")


def evaluate_row(cond: Condition, row: Mapping[str, Any]) -> bool:
    """Evaluate on one record (a dict); same semantics as :func:`evaluate`."""
    return bool(evaluate(cond, pd.DataFrame([dict(row)])).iloc[0])


# ------------------------------------------------------------------------------------- implication (static)
#
# Used by `tailor rules check` to find rules that can never change an email. ``implies(a, b)`` is *sound*
# (True only when every customer satisfying ``a`` satisfies ``b``) but not complete: it recognises identical
# conditions, narrower ranges of the same field (``gt: 200`` -> ``gt: 180``), subsets (``in: [DE]`` ->
# ``in: [DE, AT]``), ``all``/``any`` structure and — given the segment definitions — ``in_segment`` through
# the segment's own condition. Anything it cannot prove is reported as "not implied".

def negation_normal_form(cond: Condition) -> Condition:
    """The same condition with ``not`` pushed down to single tests, and nested all/any flattened."""
    return _nnf(cond, False)


def _nnf(c: Condition, neg: bool) -> Condition:
    if isinstance(c, Not):
        return _nnf(c.item, not neg)
    if isinstance(c, (AllOf, AnyOf)):
        conj = isinstance(c, AllOf) != neg          # De Morgan
        node = AllOf if conj else AnyOf
        items: list[Condition] = []
        for i in c.items:
            n = _nnf(i, neg)
            items.extend(n.items if isinstance(n, node) else [n])
        unique = tuple(dict.fromkeys(items))
        return unique[0] if len(unique) == 1 else node(unique, c.line)
    return Not(c, c.line) if neg else c


def expand_segments(cond: Condition, segments: Mapping[str, Condition]) -> Condition:
    """``in_segment: x`` replaced by segment x's own condition (segments are computed from exactly that)."""
    if isinstance(cond, Contains) and cond.field == SEGMENTS_FIELD and cond.value in segments:
        return segments[cond.value]
    if isinstance(cond, AllOf):
        return AllOf(tuple(expand_segments(i, segments) for i in cond.items), cond.line)
    if isinstance(cond, AnyOf):
        return AnyOf(tuple(expand_segments(i, segments) for i in cond.items), cond.line)
    if isinstance(cond, Not):
        return Not(expand_segments(cond.item, segments), cond.line)
    return cond


def implies(a: Condition, b: Condition, segments: Mapping[str, Condition] | None = None) -> bool:
    """True when every customer that satisfies ``a`` is sure to satisfy ``b`` (see the section comment)."""
    if a == b or _implies(_nnf(a, False), _nnf(b, False)):
        return True
    if segments:
        ea, eb = expand_segments(a, segments), expand_segments(b, segments)
        if (ea, eb) != (a, b):
            return _implies(_nnf(ea, False), _nnf(eb, False))
    return False


def _implies(a: Condition, b: Condition) -> bool:
    if a == b:
        return True
    if isinstance(b, AllOf):
        return all(_implies(a, x) for x in b.items)
    if isinstance(a, AnyOf):
        return all(_implies(x, b) for x in a.items)
    if isinstance(b, AnyOf) and any(_implies(a, x) for x in b.items):
        return True
    if isinstance(a, AllOf):
        return any(_implies(x, b) for x in a.items)
    if isinstance(b, AnyOf):
        return False
    return _literal_implies(a, b)


# A positive test on a field that must have a value, as the set of values it accepts:
# ("set", frozenset) | ("not_set", frozenset) | ("range", low, low_inclusive, high, high_inclusive)

def _value_set(c: Condition) -> tuple | None:
    if isinstance(c, Compare):
        if c.kind == "boolean":
            if c.op == "eq":
                return ("set", frozenset([c.value]))
            if c.op == "ne":
                return ("set", frozenset([not c.value]))
            return None
        if c.op == "eq":
            return ("set", frozenset([c.value]))
        if c.op == "ne":
            return ("not_set", frozenset([c.value]))
        if c.op in ("gt", "gte"):
            return ("range", c.value, c.op == "gte", None, False)
        if c.op in ("lt", "lte"):
            return ("range", None, False, c.value, c.op == "lte")
        return None
    if isinstance(c, InSet):
        return ("not_set" if c.negate else "set", frozenset(c.values))
    return None


def _in_value_set(v: Any, vs: tuple) -> bool:
    if vs[0] == "set":
        return v in vs[1]
    if vs[0] == "not_set":
        return v not in vs[1]
    _, lo, lo_inc, hi, hi_inc = vs
    try:
        if lo is not None and (v < lo or (v == lo and not lo_inc)):
            return False
        if hi is not None and (v > hi or (v == hi and not hi_inc)):
            return False
    except TypeError:
        return False
    return True


def _range_within(a: tuple, b: tuple) -> bool:
    """Range a inside range b."""
    _, alo, alo_inc, ahi, ahi_inc = a
    _, blo, blo_inc, bhi, bhi_inc = b
    try:
        if blo is not None:
            if alo is None or alo < blo or (alo == blo and alo_inc and not blo_inc):
                return False
        if bhi is not None:
            if ahi is None or ahi > bhi or (ahi == bhi and ahi_inc and not bhi_inc):
                return False
    except TypeError:
        return False
    return True


def _subset(a: tuple, b: tuple) -> bool:
    if a[0] == "set":
        return all(_in_value_set(v, b) for v in a[1])
    if a[0] == "not_set":
        return b[0] == "not_set" and b[1] <= a[1]
    if b[0] == "range":
        return _range_within(a, b)
    if b[0] == "not_set":
        return not any(_in_value_set(v, a) for v in b[1])
    return False


def _disjoint(a: tuple, b: tuple) -> bool:
    if a[0] == "set":
        return not any(_in_value_set(v, b) for v in a[1])
    if b[0] == "set":
        return _disjoint(b, a)
    if a[0] == "range" and b[0] == "range":
        # the ranges do not overlap: one ends before the other starts
        def before(x: tuple, y: tuple) -> bool:
            _, _, _, xhi, xhi_inc = x
            _, ylo, ylo_inc, _, _ = y
            if xhi is None or ylo is None:
                return False
            try:
                return xhi < ylo or (xhi == ylo and not (xhi_inc and ylo_inc))
            except TypeError:
                return False
        return before(a, b) or before(b, a)
    return False


def _needs_value(c: Condition) -> bool:
    """The test can only hold for a customer who has a value for its field."""
    return isinstance(c, (Compare, InSet, Contains))


def _literal_implies(a: Condition, b: Condition) -> bool:
    """Both are single tests or ``not`` of a single test (negation normal form)."""
    if isinstance(a, Not) and isinstance(b, Not):
        return _literal_implies(b.item, a.item)       # contrapositive
    if isinstance(a, Not):
        return False
    b_field = b.item.field if isinstance(b, Not) else b.field
    if a.field != b_field:
        return False
    if isinstance(b, Not):
        inner = b.item
        if isinstance(inner, Missing):                # b: "has a value"
            return _needs_value(a)
        if isinstance(a, Missing):                    # no value: every comparison is false
            return _needs_value(inner)
        va, vb = _value_set(a), _value_set(inner)
        return va is not None and vb is not None and _disjoint(va, vb)
    if isinstance(a, Missing) or isinstance(b, Missing):
        return isinstance(a, Missing) and isinstance(b, Missing)
    if isinstance(a, Contains) or isinstance(b, Contains):
        return a == b
    va, vb = _value_set(a), _value_set(b)
    return va is not None and vb is not None and _subset(va, vb)
