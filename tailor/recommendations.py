"""Product recommendations per customer (table ``product_recommendations``), with a reason a person can read.

Candidates, best first (docs/models.md "Recommendations"):

1. **bought with X** — co-purchase: X is a product the customer bought; the candidate was bought by at least
   ``min_support`` other customers who also bought X (score = number of such customers).
2. **viewed with X** — co-view: X is a product the customer viewed in the last ``view_window_days``; the
   candidate was viewed in the same session as X in at least ``min_support`` sessions (anonymous sessions
   count too: co-viewing needs no identity). Score = number of sessions.
3. **popular in <category>** — the most bought products (distinct buyers) of the customer's ``top_category``
   (customer_features), then of the whole shop (the reason names the product's own category).

A product is never recommended to a customer who bought it, only in-stock products are recommended, and each
product appears once per customer (with its best reason). Ties are broken by product_id, so the result is
deterministic. The co-occurrence counting runs in the warehouse (one SQL statement, Snowflake dialect); only
the final <= N rows per customer come back, to be packed into JSON lists.

Point in time: only orders and events up to ``as_of`` are read (stock is the catalogue's current state).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

#: Products per customer.
DEFAULT_MAX_PRODUCTS = 5
#: Fewest co-occurrences (customers for co-purchase, sessions for co-view) for a pair to count: one shared
#: basket is chance; two is the smallest evidence of a pattern.
DEFAULT_MIN_SUPPORT = 2
#: Product views older than this (days before as_of) are not used (co-view pairs and the customer's anchors).
DEFAULT_VIEW_WINDOW_DAYS = 90
#: Neighbours kept per anchor product and popular products kept per category: bounds the candidate rows per
#: customer whatever the catalogue size (a customer needs only max_products of them after exclusions).
NEIGHBOURS_PER_PRODUCT = 20

SOURCE_BOUGHT_WITH = "bought_with"
SOURCE_VIEWED_WITH = "viewed_with"
SOURCE_POPULAR_IN_CATEGORY = "popular_in_category"  # the customer's top category
SOURCE_POPULAR = "popular"  # the whole shop
SOURCES = (SOURCE_BOUGHT_WITH, SOURCE_VIEWED_WITH, SOURCE_POPULAR_IN_CATEGORY, SOURCE_POPULAR)

RECOMMENDATION_COLUMNS = ["customer_id", "as_of", "recommended_products", "recommendations", "recommendation_count"]
#: What rules see through customer_table_sql (a list field: ``recommended_products: {contains: P1}``).
RECOMMENDATION_FIELD_KINDS = {"recommended_products": "list"}


def _timestamp_literal(moment: datetime) -> str:
    ts = pd.Timestamp(moment)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    fmt = "%Y-%m-%d %H:%M:%S.%f" if ts.microsecond else "%Y-%m-%d %H:%M:%S"
    return f"TIMESTAMP '{ts.strftime(fmt)}'"


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"recommendations: {name} must be a whole number >= 1, got {value!r}")
    return int(value)


def recommendations_sql(
    as_of: datetime,
    max_products: int = DEFAULT_MAX_PRODUCTS,
    min_support: int = DEFAULT_MIN_SUPPORT,
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS,
) -> str:
    """One ``SELECT`` (Snowflake dialect): customer_id, rec_rank (1 = best), product_id, source, anchor_product_id,
    reason, score — at most ``max_products`` rows per customer of customer_profiles."""
    max_products = _positive_int("max_products", max_products)
    min_support = _positive_int("min_support", min_support)
    view_window_days = _positive_int("view_window_days", view_window_days)
    t = _timestamp_literal(as_of)
    view_from = f"DATEADD(day, -{view_window_days}, {t})"
    k = NEIGHBOURS_PER_PRODUCT
    return f"""
WITH
links AS (
    SELECT DISTINCT source_record_id AS customer_ref, customer_id
    FROM customer_identity_links
    WHERE source_record_id IS NOT NULL AND customer_id IS NOT NULL
),
product_dim AS (
    SELECT product_id, MIN(name) AS name, MIN(category) AS category,
           MAX(CASE WHEN in_stock THEN 1 ELSE 0 END) AS in_stock
    FROM products
    GROUP BY product_id
),
bought AS (
    -- (customer, product) pairs of completed orders up to as_of
    SELECT DISTINCT l.customer_id, oi.product_id
    FROM orders o
    JOIN links l ON l.customer_ref = o.customer_ref
    JOIN order_items oi ON oi.order_id = o.order_id
    WHERE o.status = 'completed' AND o.ordered_at <= {t} AND oi.product_id IS NOT NULL
),
co_purchase AS (
    -- customers who bought both: customer-level ("customers who bought X also bought Y")
    SELECT a.product_id AS anchor_id, b.product_id, COUNT(*) AS score
    FROM bought a
    JOIN bought b ON b.customer_id = a.customer_id AND b.product_id <> a.product_id
    GROUP BY a.product_id, b.product_id
    HAVING COUNT(*) >= {min_support}
),
session_views AS (
    SELECT DISTINCT session_id, product_id
    FROM web_events
    WHERE event_type = 'product_view' AND product_id IS NOT NULL AND session_id IS NOT NULL
      AND occurred_at <= {t} AND occurred_at >= {view_from}
),
co_view AS (
    SELECT a.product_id AS anchor_id, b.product_id, COUNT(*) AS score
    FROM session_views a
    JOIN session_views b ON b.session_id = a.session_id AND b.product_id <> a.product_id
    GROUP BY a.product_id, b.product_id
    HAVING COUNT(*) >= {min_support}
),
neighbours AS (
    -- the best in-stock neighbours of every anchor product, per kind of co-occurrence
    SELECT anchor_id, product_id, score, tier
    FROM (
        SELECT n.anchor_id, n.product_id, n.score, n.tier,
               ROW_NUMBER() OVER (PARTITION BY n.tier, n.anchor_id ORDER BY n.score DESC, n.product_id) AS rn
        FROM (
            SELECT anchor_id, product_id, score, 1 AS tier FROM co_purchase
            UNION ALL
            SELECT anchor_id, product_id, score, 2 AS tier FROM co_view
        ) n
        JOIN product_dim d ON d.product_id = n.product_id
        WHERE d.in_stock = 1
    ) ranked
    WHERE rn <= {k}
),
customer_views AS (
    SELECT DISTINCT l.customer_id, w.product_id
    FROM web_events w
    JOIN links l ON l.customer_ref = w.customer_ref
    WHERE w.event_type = 'product_view' AND w.product_id IS NOT NULL
      AND w.occurred_at <= {t} AND w.occurred_at >= {view_from}
),
popular AS (
    SELECT b.product_id, d.category, COUNT(*) AS buyers
    FROM bought b
    JOIN product_dim d ON d.product_id = b.product_id
    WHERE d.in_stock = 1
    GROUP BY b.product_id, d.category
),
popular_ranked AS (
    SELECT product_id, category, buyers,
           ROW_NUMBER() OVER (PARTITION BY category ORDER BY buyers DESC, product_id) AS rn_category,
           ROW_NUMBER() OVER (ORDER BY buyers DESC, product_id) AS rn_overall
    FROM popular
),
candidates AS (
    SELECT a.customer_id, n.product_id, a.product_id AS anchor_id, n.score, 1 AS tier
    FROM bought a
    JOIN neighbours n ON n.tier = 1 AND n.anchor_id = a.product_id
    UNION ALL
    SELECT v.customer_id, n.product_id, v.product_id AS anchor_id, n.score, 2 AS tier
    FROM customer_views v
    JOIN neighbours n ON n.tier = 2 AND n.anchor_id = v.product_id
    UNION ALL
    SELECT f.customer_id, pr.product_id, NULL AS anchor_id, pr.buyers AS score, 3 AS tier
    FROM customer_features f
    JOIN popular_ranked pr ON pr.category = f.top_category AND pr.rn_category <= {k}
    UNION ALL
    SELECT p.customer_id, pr.product_id, NULL AS anchor_id, pr.buyers AS score, 4 AS tier
    FROM customer_profiles p
    CROSS JOIN popular_ranked pr
    WHERE pr.rn_overall <= {k}
),
not_bought AS (
    SELECT c.customer_id, c.product_id, c.anchor_id, c.score, c.tier,
           ROW_NUMBER() OVER (PARTITION BY c.customer_id, c.product_id
                              ORDER BY c.tier, c.score DESC, c.anchor_id) AS rn_product
    FROM candidates c
    LEFT JOIN bought b ON b.customer_id = c.customer_id AND b.product_id = c.product_id
    WHERE b.product_id IS NULL
),
ranked AS (
    SELECT customer_id, product_id, anchor_id, score, tier,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY tier, score DESC, product_id) AS rec_rank
    FROM not_bought
    WHERE rn_product = 1
)
SELECT
    r.customer_id,
    r.rec_rank,
    r.product_id,
    CASE r.tier WHEN 1 THEN '{SOURCE_BOUGHT_WITH}' WHEN 2 THEN '{SOURCE_VIEWED_WITH}'
                WHEN 3 THEN '{SOURCE_POPULAR_IN_CATEGORY}' ELSE '{SOURCE_POPULAR}' END AS source,
    r.anchor_id AS anchor_product_id,
    CASE r.tier WHEN 1 THEN 'bought with ' || COALESCE(a.name, r.anchor_id)
                WHEN 2 THEN 'viewed with ' || COALESCE(a.name, r.anchor_id)
                ELSE 'popular in ' || COALESCE(d.category, 'the shop') END AS reason,
    r.score
FROM ranked r
JOIN product_dim d ON d.product_id = r.product_id
LEFT JOIN product_dim a ON a.product_id = r.anchor_id
WHERE r.rec_rank <= {max_products}
ORDER BY r.customer_id, r.rec_rank
""".strip()


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def pack_recommendations(long: pd.DataFrame, customer_ids: Any, as_of: datetime) -> pd.DataFrame:
    """One row per customer of ``customer_ids`` from the SQL rows (customers without any: empty lists).

    ``recommended_products``: JSON list of product ids, best first; ``recommendations``: JSON list of objects
    ``{"product_id", "reason", "source", "anchor_product_id"}`` in the same order.
    """
    df = long.rename(columns={c: str(c).lower() for c in long.columns})
    ids = pd.Series(list(customer_ids), dtype=object).astype(str)
    if ids.duplicated().any():
        raise ValueError(f"pack_recommendations: customer_id {ids[ids.duplicated()].iloc[0]!r} appears more than once")
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    products: dict[str, list[str]] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    if len(df):
        df = df.sort_values(["customer_id", "rec_rank"], kind="stable")
        anchors = df["anchor_product_id"].astype(object).where(df["anchor_product_id"].notna(), None)
        for cid, pid, reason, source, anchor in zip(
            df["customer_id"].astype(str), df["product_id"].astype(str), df["reason"], df["source"], anchors,
            strict=True,
        ):
            products.setdefault(cid, []).append(pid)
            items.setdefault(cid, []).append(
                {"product_id": pid, "reason": str(reason), "source": str(source), "anchor_product_id": anchor}
            )
    empty = "[]"
    out = pd.DataFrame({"customer_id": ids.to_numpy(dtype=object)})
    out["as_of"] = pd.Series(ts, index=out.index).astype("datetime64[ns]")
    out["recommended_products"] = [_JSON.encode(products[c]) if c in products else empty for c in out["customer_id"]]
    out["recommendations"] = [_JSON.encode(items[c]) if c in items else empty for c in out["customer_id"]]
    out["recommendation_count"] = np.array([len(products.get(c, ())) for c in out["customer_id"]], dtype=np.int64)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)[RECOMMENDATION_COLUMNS]


def compute_recommendations(
    query: Callable[[str], pd.DataFrame],
    customer_ids: Any,
    as_of: datetime,
    max_products: int = DEFAULT_MAX_PRODUCTS,
    min_support: int = DEFAULT_MIN_SUPPORT,
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS,
) -> pd.DataFrame:
    """``product_recommendations`` for ``customer_ids`` (the customers of customer_profiles)."""
    long = query(recommendations_sql(as_of, max_products, min_support, view_window_days))
    return pack_recommendations(long, customer_ids, as_of)


def _json_list_of(value: Any, kind: type) -> list[Any] | None:
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return None
    return items if isinstance(items, list) and all(isinstance(i, kind) for i in items) else None


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
        def ok(v: Any) -> bool:
            items = _json_list_of(v, str)
            return items is not None and len(set(items)) == len(items)

        return s.map(ok)

    @pa.dataframe_check(name="reasons_match_products")
    def _reasons(cls, df: pd.DataFrame) -> pd.Series:
        def ok(products: str, recs: str, count: int) -> bool:
            items = _json_list_of(recs, dict)
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
