"""The shape of the asset graph as the README's picture shows it: every asset key with its group, one per line.

docs/asset-graph.keys records the shape the committed docs/asset-graph.png was taken of; a test compares it with
the definitions, so a picture older than the graph fails CI instead of misleading readers.
"""

from __future__ import annotations

from typing import Any


def graph_shape(defs: Any) -> list[tuple[str, str]]:
    """(group, asset key) of every asset of the ``Definitions``, sorted."""
    graph = defs.resolve_asset_graph()
    return sorted((graph.get(key).group_name or "default", key.to_user_string()) for key in graph.get_all_asset_keys())


def shape_text(shape: list[tuple[str, str]]) -> str:
    return "".join(f"{group}/{key}\n" for group, key in shape)
