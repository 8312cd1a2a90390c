"""``facts_used``: per decision, the values of exactly the fields the rules read, as a person reads them.

Recorded with every row of ``email_decisions`` so that a decision can be explained later without the data of that
day. Unlike the facts posted to the engine (:mod:`tailor.rules.facts`), nothing is clamped or turned into epoch
seconds: dates are ISO-8601 UTC text, integers stay integers. Email addresses are masked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tailor.clock import utc_naive_series_coerced
from tailor.lazy_imports import LazyModule
from tailor.rules.facts import list_cells, list_item
from tailor.warehouse.cells import is_missing
from tailor.warehouse.json_lists import COMPACT_JSON

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


def provenance_values(s: pd.Series, kind: str) -> list[Any]:
    """A column as the JSON values recorded in ``facts_used``: numbers (ints stay ints), ISO-8601 UTC text for
    dates, text, true/false, lists (``[]`` when empty); None when the customer has no value. Unlike the facts
    posted to the engine, nothing is clamped or converted to epoch seconds — this is what a person reads."""
    if kind == "number":
        num = pd.to_numeric(s, errors="coerce")
        if pd.api.types.is_integer_dtype(num.dtype):
            return [None if v is pd.NA else int(v) for v in num.astype(object).tolist()]
        return [x if x == x and x not in (math.inf, -math.inf) else None
                for x in num.to_numpy(dtype="float64", na_value=np.nan).tolist()]
    if kind == "datetime":
        return [None if t is pd.NaT else t.isoformat() for t in utc_naive_series_coerced(s).tolist()]
    if kind == "string":
        return [v if isinstance(v, str) else (None if is_missing(v) else str(v)) for v in s.tolist()]
    if kind == "boolean":
        return [None if is_missing(v) else bool(v) for v in s.tolist()]
    if kind == "list":
        return list_cells(s, lambda x: [list_item(i) for i in x])
    raise ValueError(f"unknown kind {kind!r}")


def _json_cells(values: list[Any], kind: str) -> list[str]:
    """Each value as JSON text; repeated values are encoded once (fast path of :func:`facts_used`)."""
    if kind == "number":      # ints and finite floats: their repr is their JSON
        return ["null" if v is None else repr(v) for v in values]
    if kind == "boolean":
        return ["null" if v is None else ("true" if v else "false") for v in values]
    encode = COMPACT_JSON.encode     # every value is JSON already: text, numbers, true/false, lists of those
    cache: dict[Any, str] = {}
    out: list[str] = []
    for v in values:
        key = tuple(v) if isinstance(v, list) else v
        try:
            text = cache.get(key)
        except TypeError:          # an unhashable list item
            out.append(encode(v))
            continue
        if text is None:
            text = cache[key] = encode(v)
        out.append(text)
    return out


def facts_used(customers: pd.DataFrame, fields: Mapping[str, str]) -> list[str]:
    """Per row, a JSON object with exactly ``fields`` (the fields the rules read) and the row's values.

    An ``email`` field is recorded masked (``a***@example.com``): decisions are read widely.
    """
    from tailor.governance.masking import mask_email

    names = list(fields)
    if not names:
        return ["{}"] * len(customers)
    columns = []
    for name in names:
        values = provenance_values(customers[name], fields[name])
        if name == "email":
            values = [mask_email(v) if isinstance(v, str) else v for v in values]
        columns.append(_json_cells(values, fields[name]))
    template = "{" + ",".join(COMPACT_JSON.encode(n).replace("%", "%%") + ":%s" for n in names) + "}"
    return [template % row for row in zip(*columns)]
