"""TODO docstring (split from tailor/conditions.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union


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
