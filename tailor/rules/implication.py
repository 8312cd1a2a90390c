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
    if a == b or _implies(negation_normal_form(a), negation_normal_form(b), None):
        return True
    if segments:
        ea, eb = expand_segments(a, segments), expand_segments(b, segments)
        if (ea, eb) != (a, b):
            return _implies(negation_normal_form(ea), negation_normal_form(eb), None)
    return False


class OutOfSteps(Exception):
    """An :class:`ImplicationSearch` used up its steps."""


class Prepared:
    """A condition brought to negation normal form once — as written and with its segments expanded — with
    what it mentions (:func:`_mentions`) and what a condition implying it must mention (:func:`_needs`)."""

    __slots__ = ("condition", "plain", "expanded", "plain_mentions", "plain_needs", "expanded_mentions",
                 "expanded_needs")

    def __init__(self, cond: Condition, segments: Mapping[str, Condition] | None):
        self.condition = cond
        self.plain = negation_normal_form(cond)
        expanded = expand_segments(cond, segments) if segments else cond
        self.expanded = negation_normal_form(expanded) if expanded != cond else None
        self.plain_mentions, self.plain_needs = _mentions(self.plain), _needs(self.plain)
        if self.expanded is not None:
            self.expanded_mentions, self.expanded_needs = _mentions(self.expanded), _needs(self.expanded)
        else:
            self.expanded_mentions, self.expanded_needs = self.plain_mentions, self.plain_needs


class ImplicationSearch:
    """:func:`implies` for many pairs of :class:`Prepared` conditions: a pair whose conditions cannot imply
    each other by what they mention is skipped, the answers for sub-conditions are remembered while a pair is
    compared (the conditions stay alive, so their ids do), and every pair and comparison is one step: past
    ``max_steps`` it raises :class:`OutOfSteps` — the search is bounded whatever the conditions."""

    def __init__(self, max_steps: int):
        self.max_steps = max_steps
        self.steps = 0
        self.memo: dict[tuple[int, int], bool] = {}

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise OutOfSteps

    def implies(self, a: Prepared, b: Prepared) -> bool:
        self.step()
        self.memo.clear()   # ids of one pair's sub-conditions: memory stays that of one comparison
        if _may_imply(a.plain_mentions, b.plain_needs) and (a.condition == b.condition
                                                            or _implies(a.plain, b.plain, self)):
            return True
        if (a.expanded is not None or b.expanded is not None) and _may_imply(a.expanded_mentions, b.expanded_needs):
            return _implies(a.expanded if a.expanded is not None else a.plain,
                            b.expanded if b.expanded is not None else b.plain, self)
        return False


_NO_VALUE = object()      # the key of a "has no value" test in what a condition mentions


def _literal_keys(c: Condition) -> tuple[str, Any]:
    inner = c.item if isinstance(c, Not) else c
    return inner.field, (inner.value if isinstance(inner, Contains) else None)


def _mentions(c: Condition) -> set[tuple[str, Any]]:
    """(field, None) for every field a test of ``c`` is on, (field, item) for list-item tests, (field, NO_VALUE)
    for "has no value" tests."""
    if isinstance(c, (AllOf, AnyOf)):
        return set().union(*(_mentions(i) for i in c.items))
    field, item = _literal_keys(c)
    out = {(field, None)}
    if item is not None:
        out.add((field, item))
    if isinstance(c, Missing):
        out.add((field, _NO_VALUE))
    return out


def _needs(c: Condition) -> list[set[tuple[str, Any]]]:
    """Clauses a condition implying ``c`` must meet, each by mentioning one of its keys (sound, not complete:
    ``_implies`` compares single tests on the same field only)."""
    if isinstance(c, AllOf):
        return [clause for i in c.items for clause in _needs(i)]
    if isinstance(c, AnyOf):
        return [set().union(*(clause for i in c.items for clause in _needs(i)))]
    return [{_literal_keys(c)}]


def _may_imply(mentions: set[tuple[str, Any]], needs: list[set[tuple[str, Any]]]) -> bool:
    for clause in needs:
        for field, item in clause:
            if (field, item) in mentions or (item is not None and (field, _NO_VALUE) in mentions):
                break
        else:
            return False
    return True


def _implies(a: Condition, b: Condition, search: ImplicationSearch | None) -> bool:
    if search is None:
        return _implies_once(a, b, None)
    key = (id(a), id(b))
    hit = search.memo.get(key)
    if hit is None:
        search.step()
        hit = search.memo[key] = _implies_once(a, b, search)
    return hit


def _implies_once(a: Condition, b: Condition, search: ImplicationSearch | None) -> bool:
    if a == b:
        return True
    if isinstance(b, AllOf):
        return all(_implies(a, x, search) for x in b.items)
    if isinstance(a, AnyOf):
        return all(_implies(x, b, search) for x in a.items)
    if isinstance(b, AnyOf) and any(_implies(a, x, search) for x in b.items):
        return True
    if isinstance(a, AllOf):
        return any(_implies(x, b, search) for x in a.items)
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
