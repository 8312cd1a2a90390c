"""The SQL texts of ``product_recommendations`` (Snowflake dialect): candidates, best first, with a reason.

Candidates (docs/models.md "Recommendations"):

1. **bought with X** — co-purchase: X is a product the customer bought; the candidate was bought by at least
   ``min_support`` other customers who also bought X (score = number of such customers).
2. **viewed with X** — co-view: X is a product the customer viewed in the last ``view_window_days``; the
   candidate was viewed in the same session as X in at least ``min_support`` sessions (anonymous sessions
   count too: co-viewing needs no identity). Score = number of sessions.
3. **popular in <category>** — the most bought products (distinct buyers) of the customer's ``top_category``
   (customer_features), then of the whole shop (the reason names the product's own category).

A product is never recommended to a customer who bought it, only in-stock products are recommended, and each
product appears once per customer (with its best reason). Ties are broken by product_id, so the result is
deterministic. Only the final <= N rows per customer leave the warehouse.

Scale (1M customers): every anchor product keeps a short list of neighbours (``NEIGHBOURS_PER_PRODUCT``), and a
customer reads only the head of each list that can still reach their top N (see :func:`recommendations_sql`), so
the rows ranked per customer are a few times N, not (anchors x list length x tiers).
:func:`naive_recommendations_sql` is the same definition written plainly (every candidate of every list, two
window functions): the tests and bench/bench_models.py check that both give the same rows.

Point in time: only orders and events up to ``as_of`` are read (stock is the catalogue's current state).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from tailor.warehouse.sql import CUSTOMER_LINKS_CTE, timestamp_literal

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

# One BIGINT orders a customer's candidate rows for a product: tier, then score (descending), then the anchor's
# place in product-id order. Bits: tier <= 4 (3 bits) | score < 2**40 | anchor number < 2**20 (63 bits in all).
_SCORE_BITS = 40
_ANCHOR_BITS = 20

#: The ``source`` of a recommendation, by tier.
SOURCE_BOUGHT_WITH = "bought_with"
SOURCE_VIEWED_WITH = "viewed_with"
SOURCE_POPULAR_IN_CATEGORY = "popular_in_category"  # the customer's top category
SOURCE_POPULAR = "popular"  # the whole shop
SOURCES = (SOURCE_BOUGHT_WITH, SOURCE_VIEWED_WITH, SOURCE_POPULAR_IN_CATEGORY, SOURCE_POPULAR)


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"recommendations: {name} must be a whole number >= 1, got {value!r}")
    return int(value)


def _checked_options(max_products: int, min_support: int, view_window_days: int) -> tuple[int, int, int]:
    return (
        _positive_int("max_products", max_products),
        _positive_int("min_support", min_support),
        _positive_int("view_window_days", view_window_days),
    )


def _shared_ctes(as_of: datetime, min_support: int, view_window_days: int) -> str:
    """The CTEs both SQL texts share: purchases, views, neighbour lists, popularity (Snowflake dialect)."""
    t = timestamp_literal(as_of)
    view_from = f"DATEADD(day, -{view_window_days}, {t})"
    k = NEIGHBOURS_PER_PRODUCT
    return f"""
{CUSTOMER_LINKS_CTE},
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
bought_pairs AS (
    -- a customer's ordered pairs of two different bought products
    SELECT a.customer_id, a.product_id AS anchor_id, b.product_id
    FROM bought a
    JOIN bought b ON b.customer_id = a.customer_id AND b.product_id <> a.product_id
),
co_purchase AS (
    -- customers who bought both: customer-level ("customers who bought X also bought Y")
    SELECT anchor_id, product_id, COUNT(*) AS score
    FROM bought_pairs
    GROUP BY anchor_id, product_id
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
    -- the best in-stock neighbours of every anchor product, per kind of co-occurrence; rn = place in the list
    SELECT anchor_id, product_id, score, tier, rn
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
)""".strip()


def _final_select(max_products: int, ordered: bool) -> str:
    """The output rows from ``ranked`` (customer_id, product_id, anchor_id, score, tier, rec_rank)."""
    order = "\nORDER BY r.customer_id, r.rec_rank" if ordered else ""
    return f"""
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
WHERE r.rec_rank <= {max_products}{order}""".strip()


def recommendations_sql(
    as_of: datetime,
    max_products: int = DEFAULT_MAX_PRODUCTS,
    min_support: int = DEFAULT_MIN_SUPPORT,
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS,
) -> str:
    """One ``SELECT`` (Snowflake dialect): customer_id, rec_rank (1 = best), product_id, source, anchor_product_id,
    reason, score — at most ``max_products`` rows per customer of customer_profiles, in no particular order.

    Same rows as ``naive_recommendations_sql``, with far fewer candidate rows: a pick is at most ``max_products``
    + (products above it that are excluded) down its list, and only those rows are generated:

    * co-purchase list of an anchor X the customer bought: ``max_products + b`` rows, b = how many of the
      customer's other purchases are in X's list (X itself never is);
    * co-view list of a viewed product, category and shop bestsellers: ``max_products + n_bought`` rows (a pick
      of a later tier is also pushed down by products an earlier tier offers, but a later tier is only read
      while the earlier ones offer fewer than ``max_products``: see ``sure1..3`` below, lower bounds of what
      the tiers offer);
    * a list's score at its last needed place is a floor for that tier's picks of the customer (that head alone
      offers ``max_products`` products the customer did not buy): lower-scored rows of other lists are dropped.

    Each (customer, product) then keeps its best row by one grouped ``MIN_BY`` instead of a window over all rows.
    """
    max_products, min_support, view_window_days = _checked_options(max_products, min_support, view_window_days)
    n = max_products
    k = NEIGHBOURS_PER_PRODUCT
    tier_unit = 1 << (_SCORE_BITS + _ANCHOR_BITS)
    score_top = (1 << _SCORE_BITS) - 1
    anchor_unit = 1 << _ANCHOR_BITS
    return f"""
WITH
{_shared_ctes(as_of, min_support, view_window_days)},
list_lengths AS (
    -- per tier and anchor: the length of its list, and the anchor's number in product-id order (a tie-break)
    SELECT l.tier, l.anchor_id, l.listed, c.anchor_no
    FROM (SELECT tier, anchor_id, COUNT(*) AS listed FROM neighbours GROUP BY tier, anchor_id) l
    JOIN (
        SELECT anchor_id, ROW_NUMBER() OVER (ORDER BY anchor_id) AS anchor_no
        FROM (SELECT DISTINCT anchor_id FROM neighbours) d
    ) c ON c.anchor_id = l.anchor_id
),
category_lengths AS (
    SELECT category, COUNT(*) AS listed FROM popular_ranked WHERE rn_category <= {k} GROUP BY category
),
bought_count AS (
    SELECT customer_id, COUNT(*) AS n_bought FROM bought GROUP BY customer_id
),
purchase_anchors AS (
    -- every bought product that has a co-purchase list, with how many of the customer's other purchases it lists
    SELECT a.customer_id, a.product_id AS anchor_id, ll.anchor_no, ll.listed,
           COALESCE(x.bought_listed, 0) AS bought_listed
    FROM bought a
    JOIN list_lengths ll ON ll.tier = 1 AND ll.anchor_id = a.product_id
    LEFT JOIN (
        SELECT p.customer_id, p.anchor_id, COUNT(*) AS bought_listed
        FROM bought_pairs p
        JOIN neighbours n ON n.tier = 1 AND n.anchor_id = p.anchor_id AND n.product_id = p.product_id
        GROUP BY p.customer_id, p.anchor_id
    ) x ON x.customer_id = a.customer_id AND x.anchor_id = a.product_id
),
customers AS (
    -- per customer of customer_profiles: sure1 <= the products not bought that co-purchase offers, sure2 the same
    -- for co-purchase and co-view together, sure3 with the category's bestsellers too (one list of L products
    -- holds at least L - (its bought products) that the customer did not buy)
    SELECT p.customer_id, f.top_category, COALESCE(bc.n_bought, 0) AS n_bought,
           COALESCE(s1.longest, 0) AS sure1,
           GREATEST(COALESCE(s1.longest, 0), COALESCE(s2.longest - bc.n_bought, s2.longest, 0)) AS sure2,
           GREATEST(COALESCE(s1.longest, 0), COALESCE(s2.longest - bc.n_bought, s2.longest, 0),
                    COALESCE(cl.listed - bc.n_bought, cl.listed, 0)) AS sure3
    FROM customer_profiles p
    LEFT JOIN bought_count bc ON bc.customer_id = p.customer_id
    LEFT JOIN (
        SELECT customer_id, MAX(listed - bought_listed) AS longest FROM purchase_anchors GROUP BY customer_id
    ) s1 ON s1.customer_id = p.customer_id
    LEFT JOIN (
        SELECT v.customer_id, MAX(ll.listed) AS longest
        FROM customer_views v
        JOIN list_lengths ll ON ll.tier = 2 AND ll.anchor_id = v.product_id
        GROUP BY v.customer_id
    ) s2 ON s2.customer_id = p.customer_id
    LEFT JOIN customer_features f ON f.customer_id = p.customer_id
    LEFT JOIN category_lengths cl ON cl.category = f.top_category
),
anchors AS (
    -- the anchors of a customer's co-purchase (tier 1) and co-view (tier 2) candidates, and how far down the
    -- anchor's list a pick can be (list_limit); co-view only for customers co-purchase may leave short
    SELECT customer_id, anchor_id, anchor_no, 1 AS tier, {n} + bought_listed AS list_limit
    FROM purchase_anchors
    UNION ALL
    SELECT v.customer_id, v.product_id AS anchor_id, ll.anchor_no, 2 AS tier, {n} + c.n_bought AS list_limit
    FROM customer_views v
    JOIN list_lengths ll ON ll.tier = 2 AND ll.anchor_id = v.product_id
    JOIN customers c ON c.customer_id = v.customer_id
    WHERE c.sure1 < {n}
),
anchor_lists AS (
    -- min_score: the best score found at any of the customer's list_limit places of that tier
    SELECT a.customer_id, a.anchor_id, a.anchor_no, a.tier, a.list_limit, t.min_score
    FROM anchors a
    LEFT JOIN (
        SELECT a.customer_id, a.tier, MAX(n.score) AS min_score
        FROM anchors a
        JOIN neighbours n ON n.tier = a.tier AND n.anchor_id = a.anchor_id AND n.rn = a.list_limit
        GROUP BY a.customer_id, a.tier
    ) t ON t.customer_id = a.customer_id AND t.tier = a.tier
),
candidates AS (
    SELECT a.customer_id, n.product_id, a.anchor_id, a.anchor_no, n.score, a.tier
    FROM anchor_lists a
    JOIN neighbours n ON n.tier = a.tier AND n.anchor_id = a.anchor_id AND n.rn <= a.list_limit
                     AND n.score >= COALESCE(a.min_score, 0)
    UNION ALL
    SELECT c.customer_id, pr.product_id, NULL AS anchor_id, 0 AS anchor_no, pr.buyers AS score, 3 AS tier
    FROM customers c
    JOIN popular_ranked pr ON pr.category = c.top_category AND pr.rn_category <= {k}
                          AND pr.rn_category <= {n} + c.n_bought
    WHERE c.sure2 < {n}
    UNION ALL
    SELECT c.customer_id, pr.product_id, NULL AS anchor_id, 0 AS anchor_no, pr.buyers AS score, 4 AS tier
    FROM customers c
    JOIN popular_ranked pr ON pr.rn_overall <= {k} AND pr.rn_overall <= {n} + c.n_bought
    WHERE c.sure3 < {n}
),
best AS (
    -- each (customer, product) not bought once, with its best row: lowest tier, highest score, lowest anchor_id
    SELECT customer_id, product_id, MIN(tier) AS tier, MIN_BY(score, row_key) AS score,
           MIN_BY(anchor_id, row_key) AS anchor_id
    FROM (
        SELECT c.customer_id, c.product_id, c.tier, c.score, c.anchor_id,
               c.tier * {tier_unit} + ({score_top} - c.score) * {anchor_unit} + c.anchor_no AS row_key
        FROM candidates c
        LEFT JOIN bought b ON b.customer_id = c.customer_id AND b.product_id = c.product_id
        WHERE b.product_id IS NULL
    ) nb
    GROUP BY customer_id, product_id
),
ranked AS (
    SELECT customer_id, product_id, anchor_id, score, tier,
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY tier, score DESC, product_id) AS rec_rank
    FROM best
)
{_final_select(n, ordered=False)}
""".strip()


def naive_recommendations_sql(
    as_of: datetime,
    max_products: int = DEFAULT_MAX_PRODUCTS,
    min_support: int = DEFAULT_MIN_SUPPORT,
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS,
) -> str:
    """The definition written plainly, same output as ``recommendations_sql``: every customer gets every product
    of every list of every tier, deduplicated and ranked by two window functions. Too slow past ~100k customers
    (~200 s and 12 GB at 1M); kept as the reference the tests and bench/bench_models.py compare with."""
    max_products, min_support, view_window_days = _checked_options(max_products, min_support, view_window_days)
    k = NEIGHBOURS_PER_PRODUCT
    return f"""
WITH
{_shared_ctes(as_of, min_support, view_window_days)},
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
{_final_select(max_products, ordered=True)}
""".strip()
