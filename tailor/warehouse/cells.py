"""Reading single cells of warehouse tables: what counts as missing, what counts as True, and the JSON text
columns (lists of product ids, segments, block choices, params) that DuckDB and Snowflake hand back as strings.

One reading for every stage that needs it: the rules (segments, decisions, their provenance), the render
contexts, rendering, and the consent re-check of delivery, where a ``send`` flag or a consent is only ever an
actual boolean True. Light to import: numpy and pandas are loaded on first use
(:class:`tailor.lazy_imports.LazyModule`), so ``tailor rules check`` loads the rules without them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tailor.lazy_imports import LazyModule

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


def is_missing(value: Any) -> bool:
    """None, NaN (a Python or numpy float), pd.NA, pd.NaT or numpy's NaT: how a NULL arrives from the warehouse."""
    if value is None or value is pd.NaT or value is pd.NA:
        return True
    if isinstance(value, (float, np.floating)):
        return math.isnan(value)
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    return False


def is_true(value: Any) -> bool:
    """An actual boolean True (Python or numpy); None/NaN/'true'/1 do not count."""
    return value is True or (isinstance(value, np.bool_) and bool(value))


def true_mask(column: pd.Series) -> pd.Series:
    """Which cells of ``column`` are exactly True (see :func:`is_true`), as a boolean mask."""
    return column.map(is_true).astype(bool)


def text_or_none(value: Any) -> str | None:
    """The cell as stripped text; None when missing or blank."""
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


class NotAList(ValueError):
    """A list cell holding something else: a JSON value that is not an array, or an object that is not a list."""


def list_cell(value: Any) -> list[Any]:
    """A list cell as a list: JSON-array text (how the tables store lists) or a driver-side list, tuple, set or
    array; [] when missing, blank or JSON ``null``. A list is returned as it is, not copied.

    Raises :class:`NotAList` for anything else, and ``json.JSONDecodeError`` (a ValueError too) for text that is
    not JSON: a list column holding something else is a broken table.
    """
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        parsed = json.loads(text)
        if parsed is None:
            return []
        if not isinstance(parsed, list):
            raise NotAList(f"expected a JSON list, got {text[:60]!r}")
        return parsed
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if is_missing(value):
        return []
    raise NotAList(f"expected a list or a JSON list, got {type(value).__name__} {value!r:.60}")


def json_list(value: Any) -> list[Any]:
    """:func:`list_cell`, except that a cell holding something other than a list reads as [] instead of raising.

    The reading of the render contexts: a product list that is not a list shows no products rather than stopping
    every email of the run (the tables' schemas reject such cells when they are written). Text that is not JSON
    still raises. The rules read with :func:`list_cell`, where such a cell is an error naming the row.
    """
    try:
        return list_cell(value)
    except NotAList:
        return []


def json_object(value: Any) -> dict[str, Any]:
    """A JSON object cell (or a mapping) as a dict; {} when missing, blank or not an object."""
    if is_missing(value):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value).strip()
    if not text:
        return {}
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}
