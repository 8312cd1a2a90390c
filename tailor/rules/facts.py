"""The facts posted to durable_rules: one JSON-ready dict per customer, with the fields the email rules read.

:func:`build_decision_input` assembles what the email rules see (profile and feature columns, and each
customer's segments as a list); :func:`build_facts` turns its rows into facts the engine's parser accepts —
missing values and empty lists omitted (so ``$nex`` means "missing"), dates as epoch seconds, numbers clamped by
:func:`tailor.rules.durable.json_number` — column by column, as deciding a million customers needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tailor.clock import utc_naive_series_coerced
from tailor.lazy_imports import LazyModule
from tailor.rules.customer_table import SEGMENTS_FIELD
from tailor.rules.durable import EPOCH, MAX_ABS_NUMBER, TINY_FACT_NUMBER, json_number
from tailor.warehouse.cells import is_missing, list_cell

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


def build_decision_input(profiles: pd.DataFrame, features: pd.DataFrame | None = None,
                         segments: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer: profile columns + feature columns + ``segments`` (python list of names).

    ``build_decision_input(profiles, features, segments)``; a frame that already joins profiles and
    features may be passed alone: ``build_decision_input(customers, segments=segments)``.
    Customers in no segment get ``[]``.
    """
    if "customer_id" not in profiles.columns:
        raise ValueError("build_decision_input: profiles need a customer_id column")
    if profiles["customer_id"].duplicated().any():
        dup = profiles.loc[profiles["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"build_decision_input: customer_id {dup!r} appears more than once in profiles")
    out = profiles.reset_index(drop=True)
    if features is not None:
        if "customer_id" not in features.columns:
            raise ValueError("build_decision_input: features need a customer_id column")
        if features["customer_id"].duplicated().any():
            dup = features.loc[features["customer_id"].duplicated(), "customer_id"].iloc[0]
            raise ValueError(f"build_decision_input: customer_id {dup!r} appears more than once in features")
        extra = ["customer_id"] + [c for c in features.columns if c not in out.columns]
        out = out.merge(features[extra], on="customer_id", how="left", validate="one_to_one")
    if SEGMENTS_FIELD in out.columns:
        out = out.drop(columns=[SEGMENTS_FIELD])
    if segments is not None and len(segments):
        missing = {"customer_id", "segment"} - set(segments.columns)
        if missing:
            raise ValueError(f"build_decision_input: segments need columns customer_id, segment (missing {sorted(missing)})")
        grouped: dict[Any, list[str]] = {}
        for cid, seg in zip(segments["customer_id"].tolist(), segments["segment"].tolist()):
            lst = grouped.setdefault(cid, [])
            if seg not in lst:
                lst.append(seg)
        out[SEGMENTS_FIELD] = [list(grouped.get(cid, ())) for cid in out["customer_id"].tolist()]
    else:
        out[SEGMENTS_FIELD] = [[] for _ in range(len(out))]
    return out


def _number_values(arr: np.ndarray) -> list[Any]:
    """:func:`json_number` over a whole column at once."""
    a = np.asarray(arr, dtype="float64").copy()
    with np.errstate(invalid="ignore"):
        tiny = (a != 0) & (np.abs(a) < TINY_FACT_NUMBER)
        a[tiny] = np.copysign(TINY_FACT_NUMBER, a[tiny])
        big = np.abs(a) >= MAX_ABS_NUMBER
        a[big] = np.copysign(MAX_ABS_NUMBER, a[big])
    return [None if x != x else x for x in a.tolist()]


def list_item(v: Any) -> Any:
    """One item of a list cell as JSON: text, true/false, a number durable_rules can parse, else its text."""
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v) if abs(int(v)) < MAX_ABS_NUMBER else json_number(float(v))
    if isinstance(v, (float, np.floating)):
        return json_number(float(v))
    return str(v)


def fact_values(s: pd.Series, kind: str) -> list[Any]:
    """A column as JSON-ready fact values (None = omit): numbers, epoch seconds, text, bools, lists."""
    if kind == "number":
        return _number_values(pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    if kind == "datetime":
        secs = (utc_naive_series_coerced(s) - EPOCH).dt.total_seconds()
        return _number_values(secs.to_numpy(dtype="float64", na_value=np.nan))
    if kind == "string":
        return [v if isinstance(v, str) else (None if is_missing(v) else str(v)) for v in s.tolist()]
    if kind == "boolean":
        return [None if is_missing(v) else bool(v) for v in s.tolist()]
    if kind == "list":
        return list_cells(s, lambda x: [list_item(i) for i in x] if x else None)
    raise ValueError(f"unknown kind {kind!r}")


_MISS = object()


def list_cells(s: pd.Series, convert: Any) -> list[Any]:
    """``convert(parsed list)`` for every cell of a list column, computed once per distinct cell: list columns
    repeat a few values (segment combinations, "[]"), and parsing + converting each cell was a noticeable part
    of deciding a million customers. Equal cells share the result object (callers never mutate it)."""
    cache: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    values = s.tolist()
    for pos, v in enumerate(values):
        try:
            key = v if isinstance(v, str) else (tuple(v) if isinstance(v, list) else None)
            hit = cache.get(key, _MISS) if key is not None else _MISS
        except TypeError:        # an unhashable item: no caching for this cell
            key, hit = None, _MISS
        if hit is _MISS:
            try:
                hit = convert(list_cell(v))
            except ValueError as exc:    # json.JSONDecodeError is one
                raise ValueError(f"column {s.name!r}, row {pos} (index {s.index[pos]!r}): {exc}") from exc
            if key is not None:
                cache[key] = hit
        append(hit)
    return out


def build_facts(customers: pd.DataFrame, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """One JSON-serialisable dict per row with the given fields; missing values and empty lists omitted."""
    names = list(fields)
    absent = [n for n in names if n not in customers.columns]
    if absent:
        raise ValueError(f"the customers frame lacks fields the rules use: {', '.join(absent)}")
    return facts_with(customers, names, fields, {})


def facts_with(customers: pd.DataFrame, names: list[str], fields: Mapping[str, str],
               extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`build_facts` with ``extra`` keys in every fact (the engine's marker: one dict per customer, not
    a copy with the marker added later)."""
    if not names:
        return [dict(extra) for _ in range(len(customers))]
    columns = [fact_values(customers[n], fields[n]) for n in names]
    if len(names) == 1:      # the common case (the shipped rules read `segments` only)
        name = names[0]
        return [{name: v, **extra} if v is not None else dict(extra) for v in columns[0]]
    return [{**{k: v for k, v in zip(names, row) if v is not None}, **extra} for row in zip(*columns)]
