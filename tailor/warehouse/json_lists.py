"""JSON text as the tables store it: compact, the form DuckDB's and Snowflake's ``TO_JSON`` write, and the checks
the tables' schemas make of their JSON text columns. Standard library only.

``customer_features`` (viewed and abandoned products, affinities) and ``product_recommendations`` (products,
reasons) hold their lists this way, so a list built in the warehouse and one built in Python are the same text;
``email_decisions`` (blocks, params, rules fired, facts used) and ``rendered_emails`` (blocks) are written with
the same encoder.
"""

from __future__ import annotations

import json
from typing import Any

#: Encodes as ``TO_JSON`` does: no spaces, non-ASCII characters kept as they are.
COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def json_list_of(value: Any, kind: type = object) -> list[Any] | None:
    """The list that JSON text ``value`` holds when every item is a ``kind``; None for anything else."""
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return None
    return items if isinstance(items, list) and all(isinstance(i, kind) for i in items) else None


def json_object_of(value: Any, kind: type = object) -> dict[str, Any] | None:
    """The object that JSON text ``value`` holds when every value in it is a ``kind``; None for anything else."""
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return None
    return items if isinstance(items, dict) and all(isinstance(v, kind) for v in items.values()) else None


def is_distinct_string_list(value: Any, max_len: int | None = None) -> bool:
    """Whether ``value`` is JSON text of distinct strings (at most ``max_len`` of them), e.g. product ids."""
    items = json_list_of(value, str)
    return items is not None and len(set(items)) == len(items) and (max_len is None or len(items) <= max_len)
