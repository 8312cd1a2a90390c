"""Product recommendations per customer (table ``product_recommendations``), with a reason a person can read.

The warehouse ranks the candidates (:mod:`tailor.models.recommendation_sql`: co-purchase, co-view, then
bestsellers; docs/models.md "Recommendations"); here its <= N rows per customer are packed into two JSON lists
per customer, vectorised (each distinct item is encoded once), and the table's schema is checked.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive
from tailor.models.recommendation_sql import (
    DEFAULT_MAX_PRODUCTS,
    DEFAULT_MIN_SUPPORT,
    DEFAULT_VIEW_WINDOW_DAYS,
    SOURCE_BOUGHT_WITH,
    SOURCE_POPULAR,
    SOURCE_POPULAR_IN_CATEGORY,
    SOURCE_VIEWED_WITH,
    SOURCES,
    recommendations_sql,
)
from tailor.warehouse.json_lists import COMPACT_JSON, is_distinct_string_list, json_list_of
from tailor.warehouse.session import WarehouseSession

#: Columns of ``product_recommendations`` (the order of the table).
RECOMMENDATION_COLUMNS = ["customer_id", "as_of", "recommended_products", "recommendations", "recommendation_count"]

#: What rules see through customer_table_sql (a list field: ``recommended_products: {contains: P1}``).
RECOMMENDATION_FIELD_KINDS = {"recommended_products": "list"}


#: How an item of ``recommendations`` names its source: ``"source":"bought_with"`` (compact JSON, as packed).
_SOURCE_FIELD = '"source":'


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer code per row (-1 = missing) and the distinct values, in order of first appearance."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return codes.astype(np.int64), np.asarray(uniques, dtype=object)


def _json_texts(uniques: np.ndarray) -> np.ndarray:
    """JSON text of each distinct value, and "null" last (for code -1)."""
    return np.array([COMPACT_JSON.encode(u) for u in uniques] + ["null"], dtype=object)


def _joined_lists(texts: np.ndarray, which: np.ndarray, first: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``"[a,b,c]"`` per group of consecutive rows (groups begin at ``starts``; ``first`` marks those rows);
    row i's element is ``texts[which[i]]``. The comma goes into a second copy of the few distinct texts, not into
    a new string per row."""
    with_comma = "," + texts
    pieces = np.where(first, texts[which], with_comma[which])
    return "[" + np.add.reduceat(pieces, starts) + "]"


def pack_recommendations(long: pd.DataFrame, customer_ids: Any, as_of: datetime) -> pd.DataFrame:
    """One row per customer of ``customer_ids`` from the SQL rows (customers without any: empty lists).

    ``recommended_products``: JSON list of product ids, best first; ``recommendations``: JSON list of objects
    ``{"product_id", "reason", "source", "anchor_product_id"}`` in the same order. Vectorised: each distinct
    item (product, reason, source, anchor) is JSON-encoded once however many customers get it, and a customer's
    items are concatenated by ``np.add.reduceat`` (no Python loop over customers or rows).
    """
    ids = pd.Series(list(customer_ids), dtype=object).astype(str)
    if ids.duplicated().any():
        raise ValueError(f"pack_recommendations: customer_id {ids[ids.duplicated()].iloc[0]!r} appears more than once")
    out = pd.DataFrame({"customer_id": ids.to_numpy(dtype=object)})
    out["as_of"] = pd.Series(utc_naive(as_of), index=out.index).astype("datetime64[ns]")
    products = np.full(len(out), "[]", dtype=object)
    items = np.full(len(out), "[]", dtype=object)
    counts = np.zeros(len(out), dtype=np.int64)
    if len(long):
        customer, customers = _codes(long["customer_id"].astype(str))
        rank = long["rec_rank"].to_numpy(dtype=np.int64)
        order = np.lexsort((rank, customer))  # rows of a customer together, best first
        customer = customer[order]
        first = np.r_[True, customer[1:] != customer[:-1]]
        starts = np.flatnonzero(first)
        product, product_ids = _codes(long["product_id"].astype(str))
        reason, reasons = _codes(long["reason"].astype(str))
        source, sources = _codes(long["source"].astype(str))
        anchor_col = long["anchor_product_id"].astype(object)
        anchor, anchors = _codes(anchor_col.where(anchor_col.notna(), None))
        # one code per distinct (product, reason, source, anchor): its text is built once
        item = np.zeros(len(long), dtype=np.int64)
        for codes, size in ((product, len(product_ids)), (reason, len(reasons)), (source, len(sources)),
                            (anchor, len(anchors))):
            item = pd.factorize(item * (size + 1) + codes + 1)[0].astype(np.int64)
        item_row = np.full(item.max() + 1, -1, dtype=np.int64)
        item_row[item] = np.arange(len(item))  # some row holding each item (they are all alike)
        item_texts = (
            '{"product_id":' + _json_texts(product_ids)[product[item_row]]
            + ',"reason":' + _json_texts(reasons)[reason[item_row]]
            + "," + _SOURCE_FIELD + _json_texts(sources)[source[item_row]]
            + ',"anchor_product_id":' + _json_texts(anchors)[anchor[item_row]]
            + "}"
        )
        row = pd.Index(customers[customer[starts]]).get_indexer(out["customer_id"])
        found = row >= 0
        products[found] = _joined_lists(_json_texts(product_ids), product[order], first, starts)[row[found]]
        items[found] = _joined_lists(item_texts, item[order], first, starts)[row[found]]
        counts[found] = np.diff(np.r_[starts, len(order)])[row[found]]
    out["recommended_products"] = products
    out["recommendations"] = items
    out["recommendation_count"] = counts
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)[RECOMMENDATION_COLUMNS]


def compute_recommendations(
    session: WarehouseSession,
    customer_ids: Any,
    as_of: datetime,
    max_products: int = DEFAULT_MAX_PRODUCTS,
    min_support: int = DEFAULT_MIN_SUPPORT,
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS,
) -> pd.DataFrame:
    """``product_recommendations`` for ``customer_ids`` (the customers of customer_profiles)."""
    long = session.query(recommendations_sql(as_of, max_products, min_support, view_window_days))
    return pack_recommendations(long, customer_ids, as_of)


def recommendation_figures(recs: pd.DataFrame) -> dict[str, int | float]:
    """The figures Dagster plots per materialization: customers with at least one recommendation, the mean
    count per customer, and how many recommendations each source gave (``popular``: the customer's top category
    and the whole shop together)."""
    counts = recs["recommendation_count"]

    def given(*sources: str) -> int:  # items of these sources, counted in the text pack_recommendations wrote
        return sum(int(recs["recommendations"].str.count(re.escape(_SOURCE_FIELD + COMPACT_JSON.encode(source)))
                       .sum()) for source in sources)

    return {
        "customers_with_recommendations": int((counts > 0).sum()),
        "mean_recommendations": float(counts.mean()) if len(recs) else 0.0,
        "bought_with": given(SOURCE_BOUGHT_WITH),
        "viewed_with": given(SOURCE_VIEWED_WITH),
        "popular": given(SOURCE_POPULAR_IN_CATEGORY, SOURCE_POPULAR),
    }


class ProductRecommendationsSchema(pa.DataFrameModel):
    """``product_recommendations``: one row per customer of customer_profiles."""

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    as_of: Series[pa.DateTime] = pa.Field(nullable=False)
    recommended_products: Series[str] = pa.Field(nullable=False)
    recommendations: Series[str] = pa.Field(nullable=False)
    recommendation_count: Series[np.int64] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.check("recommended_products", name="json_list_of_distinct_product_ids")
    def _products(cls, s: Series[str]) -> Series[bool]:
        return s.map(is_distinct_string_list)

    @pa.dataframe_check(name="reasons_match_products")
    def _reasons(cls, df: pd.DataFrame) -> pd.Series:
        def ok(products: str, recs: str, count: int) -> bool:
            items = json_list_of(recs, dict)
            if items is None:
                return False
            ids = json.loads(products)
            return (
                len(ids) == count
                and [i.get("product_id") for i in items] == ids
                and all(i.get("source") in SOURCES and isinstance(i.get("reason"), str) and i["reason"] for i in items)
            )

        return pd.Series(
            [ok(p, r, c) for p, r, c in zip(df["recommended_products"], df["recommendations"],
                                            df["recommendation_count"], strict=True)],
            index=df.index,
        )
