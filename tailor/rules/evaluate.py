"""Conditions evaluated on a pandas frame: one boolean mask per condition, vectorised.

This is how segments are computed, and the reference semantics of the condition language (see
:mod:`tailor.rules.parser`): a missing value never satisfies a test, and list cells — python lists or the
JSON-list text the tables store — that are null or empty are the same thing. tests/rules/test_decisions.py checks
that durable_rules (:mod:`tailor.rules.durable`) decides exactly as this module does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailor.clock import utc_naive_series_coerced
from tailor.lazy_imports import LazyModule
from tailor.rules.condition import AllOf, AnyOf, Compare, Condition, Contains, InSet, Missing, Not
from tailor.warehouse.cells import is_missing, list_cell

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


def list_column(s: pd.Series) -> list[list]:
    """Every cell of a list column read with :func:`tailor.warehouse.cells.list_cell`; errors name the row."""
    out: list[list] = []
    for pos, v in enumerate(s.tolist()):
        try:
            out.append(list_cell(v))
        except ValueError as exc:    # json.JSONDecodeError is one
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
                conv = utc_naive_series_coerced(s)
            elif kind == "string":
                conv = s if s.dtype == object and all(isinstance(v, str) or is_missing(v) for v in s.tolist()) \
                    else s.astype("string")
            else:  # boolean
                conv = s.astype("object").where(s.notna(), None)
            self._cache[key] = conv
        return self._cache[key]


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

