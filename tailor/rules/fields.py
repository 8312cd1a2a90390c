"""The field catalog: which fields a rule may use, and each field's kind (number, string, boolean, datetime, list).

The kind decides which operators and values a condition may use on a field (:mod:`tailor.rules.parser`). It
comes from two places: :func:`spec_field_kinds`, the customer table's columns as its pandera schemas declare
them (all ``tailor rules check`` needs, without data), and :func:`field_kinds`, read from the dtypes of a frame at
hand (the pipeline's, which may carry more columns), falling back to the schemas where the data says nothing.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import TYPE_CHECKING

from tailor.lazy_imports import LazyModule
from tailor.rules.customer_table import customer_field_kinds
from tailor.warehouse.cells import is_missing

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


KINDS = ("number", "string", "boolean", "datetime", "list")


def spec_field_kinds() -> dict[str, str]:
    """Every field rules may use -> its kind: the columns of the customer table (profiles, features, predictions,
    recommendations) read from their pandera schemas, plus ``segments`` — see :mod:`tailor.rules.customer_table`.
    Adding a column to one of those schemas makes it a field; nothing here needs editing.

    Used to validate rule files without data at hand (``tailor rules check``) and as the fallback of
    :func:`field_kinds` when a column's kind cannot be told from its data (e.g. an all-null object column).
    Cheap: the schemas are read with :mod:`ast` (no pandas/pandera import), once per process.
    """
    return customer_field_kinds()


def field_kinds(df: pd.DataFrame) -> dict[str, str]:
    """The field catalog of a frame: column name -> one of :data:`KINDS`.

    Decided from the dtype; object columns are inspected (bools, lists / JSON-list strings, numbers,
    datetimes, else text). Columns whose data says nothing (all null) fall back to :func:`spec_field_kinds`.
    """
    spec = spec_field_kinds()
    return {str(col): _kind_of(str(col), df[col], spec) for col in df.columns}


def _kind_of(name: str, s: pd.Series, spec: Mapping[str, str]) -> str:
    if spec.get(name) == "list":
        return "list"
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_numeric_dtype(dtype):
        return "number"
    sample = [v for v in s.head(500).tolist() if not is_missing(v)][:100]
    if not sample:
        return spec.get(name, "string")
    if all(isinstance(v, (bool, np.bool_)) for v in sample):
        return "boolean"
    if all(isinstance(v, (list, tuple, np.ndarray, set, frozenset)) for v in sample):
        return "list"
    if all(isinstance(v, str) for v in sample):
        if all(v.lstrip().startswith("[") and v.rstrip().endswith("]") for v in sample):
            return "list"
        return "string"
    if all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))
           for v in sample):
        return "number"
    if all(isinstance(v, (_dt.date, pd.Timestamp, np.datetime64)) for v in sample):
        return "datetime"
    return spec.get(name, "string")

