"""The durable_rules side of the condition language, as JSON: conditions over ``m``, and the values facts carry.

:func:`to_durable` turns a condition into durable_rules' JSON condition language; :func:`durable_value` and
:func:`json_number` turn literals and fact values into what its parser accepts. The reserved fact keys live here
too, so that validating a rule file (:mod:`tailor.rules.email_rules`) knows them without importing durable_rules,
which only :mod:`tailor.rules.engine` does.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import TYPE_CHECKING, Any

from tailor.lazy_imports import LazyModule
from tailor.rules.condition import AllOf, AnyOf, Compare, Condition, Contains, InSet, Missing, Not

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
else:
    np = LazyModule("numpy", globals(), "np")


#: Every customer fact carries this key and value, and every compiled rule asks for it (see tailor.rules.engine).
FACT_MARKER = "tailor_fact__"
FACT_MARKER_VALUE = "customer"
#: The names of the rules whose condition was evaluated in Python and held (see tailor.rules.engine_plan).
PYTHON_HELD = "tailor_held__"
#: Keys a rule may not read: durable_rules' own, the marker and the list above.
RESERVED_FIELDS = frozenset({"sid", "id", FACT_MARKER, PYTHON_HELD})


# durable_rules' JSON parser rejects exponent notation (1e-05, 1e+16), which Python emits for very small
# and very large floats; literals are therefore limited to 0 or 0.001 <= |x| < 1e15, and fact values
# outside that window are clamped in a way that keeps every such comparison's result (see json_number).
MIN_ABS_NUMBER = 0.001
MAX_ABS_NUMBER = 1e15
#: What a non-zero fact value closer to 0 becomes (with its sign): below every literal, and printed without exponent.
TINY_FACT_NUMBER = 1e-4

#: Dates are posted and compared as seconds since this moment (naive UTC).
EPOCH = _dt.datetime(1970, 1, 1)

_INVERSE = {"eq": "ne", "ne": "eq", "gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}


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
    if a < TINY_FACT_NUMBER:
        return math.copysign(TINY_FACT_NUMBER, x)
    if a >= MAX_ABS_NUMBER:
        return math.copysign(MAX_ABS_NUMBER, x)
    return float(x)


def durable_value(value: Any, kind: str) -> Any:
    """A literal as it appears in facts and durable conditions."""
    if kind == "datetime":
        return json_number(float((value - EPOCH).total_seconds()))
    if isinstance(value, str):      # before numpy: rule literals are plain Python (tailor rules check needs no numpy)
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < MAX_ABS_NUMBER else json_number(float(value))
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value) if abs(int(value)) < MAX_ABS_NUMBER else json_number(float(value))
    if isinstance(value, np.floating):
        return json_number(float(value))
    return value


def _and(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _or(parts: list[dict]) -> dict:
    return parts[0] if len(parts) == 1 else {"$or": parts}


def to_durable(cond: Condition) -> dict:
    """The durable_rules JSON condition over ``m`` for a condition, e.g. ``{"$gt": {"recency_days": 30}}``.

    Facts must be prepared like :mod:`tailor.rules.facts` does: missing values and empty lists are *omitted*
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
