"""Whether one condition implies another: every customer who satisfies ``a`` is sure to satisfy ``b``.

``tailor rules check`` uses it to find email rules that can never change an email
(:mod:`tailor.rules.reachability`). It is sound but not complete: True is a proof, False only means "not shown".
Both conditions are brought to negation normal form, then compared structurally — ``a`` implies an ``all`` when
it implies each item, an ``any`` when it implies one, and ``a``'s ``all`` when one of its items does — down to
single tests on the same field, where value sets are compared (``gt: 200`` implies ``gt: 180``; ``in: [DE]``
implies ``ne: FR``; every comparison implies ``not_null``). With the segments' own conditions at hand,
``in_segment`` tests are also compared through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tailor.rules.condition import AllOf, AnyOf, Compare, Condition, Contains, InSet, Missing, Not
from tailor.rules.customer_table import SEGMENTS_FIELD


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
    """True when every customer that satisfies ``a`` is sure to satisfy ``b`` (see the module docstring).

    ``segments``: segment name -> its condition, to look into ``in_segment`` tests."""
    if a == b or _implies(negation_normal_form(a), negation_normal_form(b)):
        return True
    if segments:
        ea, eb = expand_segments(a, segments), expand_segments(b, segments)
        if (ea, eb) != (a, b):
            return _implies(negation_normal_form(ea), negation_normal_form(eb))
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
