"""JSON lists as the tables store them: compact text, the form DuckDB's and Snowflake's ``TO_JSON`` write.

``customer_features`` (viewed and abandoned products, affinities) and ``product_recommendations`` (products,
reasons) hold their lists this way, so a list built in the warehouse and one built in Python are the same text.
"""

from __future__ import annotations

import json
from typing import Any

#: Encodes as ``TO_JSON`` does: no spaces, non-ASCII characters kept as they are.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_list_of(value: Any, kind: type) -> list[Any] | None:
    """The list that JSON text ``value`` holds when every item is a ``kind``; None for anything else."""
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return None
    return items if isinstance(items, list) and all(isinstance(i, kind) for i in items) else None


def is_distinct_string_list(value: Any, max_len: int | None = None) -> bool:
    """Whether ``value`` is JSON text of distinct strings (at most ``max_len`` of them), e.g. product ids."""
    items = json_list_of(value, str)
    return items is not None and len(set(items)) == len(items) and (max_len is None or len(items) <= max_len)
