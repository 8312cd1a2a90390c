"""The condition AST: what a ``when:`` of ``rules/segments.yaml`` or ``rules/email_rules.yaml`` becomes once parsed.

A condition is a small tree of frozen dataclasses — single tests (:class:`Compare`, :class:`InSet`,
:class:`Missing`, :class:`Contains`) under ``all``/``any``/``not`` — built by :mod:`tailor.rules.parser` and read
by the back ends (:mod:`tailor.rules.evaluate` for pandas, :mod:`tailor.rules.durable` for durable_rules) and by
:mod:`tailor.rules.implication`. Every test carries the field's kind it was validated against, and the file line
it was written on (which does not take part in equality: the same test on two lines is the same test).

Standard library only: ``tailor rules check`` builds these trees on every save.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from tailor.rules.customer_table import SEGMENTS_FIELD


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
    """``all:`` — every item holds."""

    items: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class AnyOf:
    """``any:`` — at least one item holds."""

    items: tuple[Condition, ...]
    line: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Not:
    """``not:`` — plain negation (true for a customer without a value, where the item is false)."""

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


def condition_segments(cond: Condition) -> list[str]:
    """The segment names the condition's ``in_segment`` tests refer to, in the order written."""
    if isinstance(cond, Contains) and cond.field == SEGMENTS_FIELD:
        return [str(cond.value)]
    if isinstance(cond, (AllOf, AnyOf)):
        return [s for item in cond.items for s in condition_segments(item)]
    if isinstance(cond, Not):
        return condition_segments(cond.item)
    return []


def condition_tests(cond: Condition) -> int:
    """How many tests a condition makes: one per test, one per value of an ``in:``/``not_in:`` list and per segment
    of an ``in_segment:`` list (what tailor.rules.limits.MAX_CONDITION_TESTS counts)."""
    if isinstance(cond, (AllOf, AnyOf)):
        return sum(condition_tests(item) for item in cond.items)
    if isinstance(cond, Not):
        return condition_tests(cond.item)
    if isinstance(cond, InSet):
        return len(cond.values)
    return 1
