"""Reading single cells of warehouse tables: what counts as missing, what counts as True, and the JSON text
columns (lists of product ids, block choices, params) that DuckDB and Snowflake hand back as strings.

One reading for every stage that needs it: the render contexts, rendering, and the consent re-check of
delivery, where a ``send`` flag or a consent is only ever an actual boolean True.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd


def is_missing(value: Any) -> bool:
    """None, NaN, pd.NA or pd.NaT: how a NULL arrives from the warehouse."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def is_true(value: Any) -> bool:
    """An actual boolean True (Python or numpy); None/NaN/'true'/1 do not count."""
    return isinstance(value, (bool, np.bool_)) and bool(value)


def true_mask(column: pd.Series) -> pd.Series:
    """Which cells of ``column`` are exactly True (see :func:`is_true`), as a boolean mask."""
    return column.map(is_true).astype(bool)


def text_or_none(value: Any) -> str | None:
    """The cell as stripped text; None when missing or blank."""
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def json_list(value: Any) -> list[Any]:
    """A JSON array cell (or a driver-side list) as a list; [] when missing, blank or not an array."""
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if not text:
        return []
    parsed = json.loads(text)
    return parsed if isinstance(parsed, list) else []


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
