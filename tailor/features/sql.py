"""The SQL text of ``customer_features`` (Snowflake dialect): one ``SELECT`` over the sources, one row per customer.

The text runs unchanged on Snowflake and, transpiled with sqlglot (``read="snowflake", write="duckdb"``), on
DuckDB (the embedded warehouse and fakesnow). Portability choices:

* ``last_seen_at`` is ``MAX`` over a ``UNION ALL`` of activity timestamps, not ``GREATEST(...)``: Snowflake's
  ``GREATEST`` returns NULL if any argument is NULL, DuckDB's ignores NULLs.
* Lists are ``TO_JSON(ARRAY_AGG(x) WITHIN GROUP (ORDER BY ...))`` over rows pre-filtered to non-NULL values
  (Snowflake drops NULLs, DuckDB and fakesnow keep them): compact JSON text on both engines.
* Booleans are comparisons (``COALESCE(n, 0) > 0``), not ``BOOLOR_AGG``/``MAX(boolean)``; counts of "messages
  with an open" use ``MAX(CASE ... THEN 1 ELSE 0 END)`` per message.
* Fractional days are ``DATEDIFF(second, a, b) / 86400.0`` (both engines count second boundaries).
* RFM buckets are integer comparisons, never a division, so both engines agree exactly.
"""

from __future__ import annotations

from datetime import datetime

from tailor.features.settings import (
    AFFINITY_SHARE_DECIMALS,
    AFFINITY_SPEND_WEIGHT,
    AFFINITY_TOP_N,
    AFFINITY_VIEW_WEIGHT,
    AFFINITY_VIEW_WINDOW_DAYS,
    CART_GRACE_HOURS,
    CART_WINDOW_DAYS,
    DISCOUNT_TOLERANCE,
    INTENT_HALF_LIFE_HOURS,
    INTENT_WEIGHTS,
    INTENT_WINDOW_DAYS,
    RFM_BUCKETS,
    VIEW_WINDOW_DAYS,
    VIEWED_NOT_BOUGHT_MAX,
)
from tailor.warehouse.sql import CUSTOMER_LINKS_CTE, timestamp_literal


def _rfm_score(rank: str, n: str) -> str:
    """Bucket = ceil(5 * rank / n) in integer comparisons only (no division: exact on both engines)."""
    whens = " ".join(f"WHEN {RFM_BUCKETS} * {rank} <= {k} * {n} THEN {k}" for k in range(1, RFM_BUCKETS))
    return f"CASE {whens} ELSE {RFM_BUCKETS} END"


def _affinity_ctes(dim: str, aff_from: str) -> str:
    """CTEs ending in ``aff_{dim}_top``: per customer the top categories/brands as one JSON list of
    ``{dim: name, "share": s}`` objects, best first.

    share(x) = (w_spend * spend_share(x) + w_view * view_share(x)) / (w_spend * [has spend] + w_view * [has views]);
    each side's shares sum to 1, so the shares of all values sum to 1 per customer.
    """
    return f"""
aff_{dim}_spend AS (
    SELECT pit.customer_id, pdim.{dim} AS name, SUM(pit.line_total_eur) AS amount
    FROM purchased_items pit
    JOIN product_dim pdim ON pdim.product_id = pit.product_id
    WHERE pdim.{dim} IS NOT NULL
    GROUP BY pit.customer_id, pdim.{dim}
    HAVING SUM(pit.line_total_eur) > 0
),
aff_{dim}_views AS (
    SELECT w.customer_id, pdim.{dim} AS name, COUNT(DISTINCT w.event_id) AS amount
    FROM customer_web w
    JOIN product_dim pdim ON pdim.product_id = w.product_id
    WHERE w.event_type = 'product_view' AND w.occurred_at >= {aff_from} AND pdim.{dim} IS NOT NULL
    GROUP BY w.customer_id, pdim.{dim}
),
aff_{dim}_spend_total AS (
    SELECT customer_id, SUM(amount) AS total FROM aff_{dim}_spend GROUP BY customer_id
),
aff_{dim}_views_total AS (
    SELECT customer_id, SUM(amount) AS total FROM aff_{dim}_views GROUP BY customer_id
),
aff_{dim}_weight AS (
    -- the weights of the sides the customer has: 0.7 + 0.3, or only one of them
    SELECT customer_id, SUM(w) AS weight
    FROM (SELECT customer_id, {AFFINITY_SPEND_WEIGHT} AS w FROM aff_{dim}_spend_total
          UNION ALL
          SELECT customer_id, {AFFINITY_VIEW_WEIGHT} AS w FROM aff_{dim}_views_total) sides
    GROUP BY customer_id
),
aff_{dim}_parts AS (
    -- totals by GROUP BY + join rather than SUM() OVER (PARTITION BY ...): a hash join, not a sort
    SELECT s.customer_id, s.name, {AFFINITY_SPEND_WEIGHT} * s.amount / t.total AS part
    FROM aff_{dim}_spend s JOIN aff_{dim}_spend_total t ON t.customer_id = s.customer_id
    UNION ALL
    SELECT v.customer_id, v.name, {AFFINITY_VIEW_WEIGHT} * v.amount / t.total AS part
    FROM aff_{dim}_views v JOIN aff_{dim}_views_total t ON t.customer_id = v.customer_id
),
aff_{dim}_scores AS (
    SELECT p.customer_id, p.name, SUM(p.part) / MIN(w.weight) AS share
    FROM aff_{dim}_parts p JOIN aff_{dim}_weight w ON w.customer_id = p.customer_id
    GROUP BY p.customer_id, p.name
),
aff_{dim}_ranked AS (
    SELECT customer_id, name, share,
           -- ranked on the shown (rounded) share: shares equal on paper but apart by float noise (0.1 vs
           -- 0.1000000001) then tie-break by name on every engine
           ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ROUND(share, {AFFINITY_SHARE_DECIMALS}) DESC, name) AS rn
    FROM aff_{dim}_scores
),
aff_{dim}_top AS (
    -- JSON text built in the warehouse ([{{"<dim>":"x","share":0.6125}}, ...]): no per-row work in Python
    SELECT
        customer_id,
        TO_JSON(ARRAY_AGG(OBJECT_CONSTRUCT('{dim}', name, 'share', ROUND(share, {AFFINITY_SHARE_DECIMALS})))
                WITHIN GROUP (ORDER BY rn)) AS affinity
    FROM aff_{dim}_ranked
    WHERE rn <= {AFFINITY_TOP_N}
    GROUP BY customer_id
),"""


def customer_features_sql(as_of: datetime, cart_grace_hours: int = CART_GRACE_HOURS) -> str:
    """One ``SELECT`` returning :data:`tailor.features.customer_features.SQL_COLUMNS`, one row per
    ``customer_profiles`` row, sorted by ``customer_id``.

    ``cart_grace_hours`` is the N of "an add to cart with no purchase after N hours is abandoned".
    """
    whole = isinstance(cart_grace_hours, int) and not isinstance(cart_grace_hours, bool)
    if not whole or not 0 <= cart_grace_hours < 24 * CART_WINDOW_DAYS:
        raise ValueError(f"customer_features: cart_grace_hours must be an integer in [0, {24 * CART_WINDOW_DAYS}), "
                         f"got {cart_grace_hours!r}")
    t = timestamp_literal(as_of)
    view_from = f"DATEADD(day, -{VIEW_WINDOW_DAYS}, {t})"
    cart_from = f"DATEADD(day, -{CART_WINDOW_DAYS}, {t})"
    cart_to = f"DATEADD(hour, -{cart_grace_hours}, {t})"
    aff_from = f"DATEADD(day, -{AFFINITY_VIEW_WINDOW_DAYS}, {t})"
    intent_from = f"DATEADD(day, -{INTENT_WINDOW_DAYS}, {t})"
    intent_weight = "CASE w.event_type " + " ".join(
        f"WHEN '{etype}' THEN {weight}" for etype, weight in INTENT_WEIGHTS.items()
    ) + " ELSE 0.0 END"
    half_life_s = INTENT_HALF_LIFE_HOURS * 3600.0
    return f"""
WITH
{CUSTOMER_LINKS_CTE},
customer_emails AS (
    SELECT customer_id, LOWER(TRIM(email)) AS email_norm
    FROM customer_profiles
    WHERE email IS NOT NULL
),
product_dim AS (
    -- list price only when it is in EUR: discounts are measured against EUR amounts
    SELECT
        product_id,
        MIN(category) AS category,
        MIN(brand) AS brand,
        MIN(CASE WHEN currency = 'EUR' THEN price END) AS list_price_eur
    FROM products
    GROUP BY product_id
),
customer_orders AS (
    -- every order (any status) up to as_of; money in EUR (order_total_eur)
    SELECT l.customer_id, o.order_id, o.ordered_at, o.status, o.order_total_eur
    FROM orders o
    JOIN links l ON l.customer_ref = o.customer_ref
    WHERE o.ordered_at <= {t}
),
purchases AS (
    SELECT customer_id, order_id, ordered_at, order_total_eur
    FROM customer_orders
    WHERE status = 'completed'
),
order_stats AS (
    SELECT
        customer_id,
        COUNT(DISTINCT order_id) AS order_count,
        COUNT(DISTINCT CAST(ordered_at AS DATE)) - 1 AS frequency,
        SUM(order_total_eur) AS total_spend,
        AVG(order_total_eur) AS monetary_value,
        MIN(ordered_at) AS first_order_at,
        MAX(ordered_at) AS last_order_at
    FROM purchases
    GROUP BY customer_id
),
rfm AS (
    -- ranks among buyers as of as_of; RANK gives ties the lowest rank, so a tie never lifts a score
    SELECT
        customer_id,
        RANK() OVER (ORDER BY last_order_at) AS r_rank,
        RANK() OVER (ORDER BY frequency) AS f_rank,
        RANK() OVER (ORDER BY monetary_value) AS m_rank,
        COUNT(*) OVER () AS n_buyers
    FROM order_stats
),
purchased_items AS (
    SELECT p.customer_id, oi.product_id, oi.quantity, oi.line_total_eur
    FROM purchases p
    JOIN order_items oi ON oi.order_id = p.order_id
    WHERE oi.product_id IS NOT NULL
),
bought AS (
    SELECT DISTINCT customer_id, product_id FROM purchased_items
),
discounts AS (
    -- units with a known EUR list price; discounted when paid below (1 - tolerance) x list price
    SELECT
        pit.customer_id,
        SUM(pit.quantity) AS units_bought,
        SUM(CASE WHEN pit.line_total_eur < {1 - DISCOUNT_TOLERANCE} * pdim.list_price_eur * pit.quantity
                 THEN pit.quantity ELSE 0 END) AS units_bought_discounted
    FROM purchased_items pit
    JOIN product_dim pdim ON pdim.product_id = pit.product_id
    WHERE pdim.list_price_eur > 0 AND pit.quantity > 0 AND pit.line_total_eur IS NOT NULL
    GROUP BY pit.customer_id
),
customer_web AS (
    -- identified web events up to as_of (customer_ref NULL = anonymous, dropped by the join)
    SELECT l.customer_id, w.event_id, w.event_type, w.product_id, w.occurred_at, w.session_id
    FROM web_events w
    JOIN links l ON l.customer_ref = w.customer_ref
    WHERE w.occurred_at <= {t}
),
views_30d AS (
    SELECT customer_id, COUNT(DISTINCT event_id) AS product_views_30d
    FROM customer_web
    WHERE event_type = 'product_view' AND occurred_at >= {view_from}
    GROUP BY customer_id
),
sessions_30d AS (
    SELECT customer_id, COUNT(DISTINCT session_id) AS sessions_30d
    FROM customer_web
    WHERE occurred_at >= {view_from} AND session_id IS NOT NULL
    GROUP BY customer_id
),
intent AS (
    -- sum of event weight x 0.5 ^ (age / half-life); one row per event_id (a re-delivered event counts once)
    SELECT w.customer_id,
           SUM({intent_weight} * POWER(0.5, DATEDIFF(second, w.occurred_at, {t}) / {half_life_s})) AS browsing_intent_score
    FROM (SELECT DISTINCT customer_id, event_id, event_type, occurred_at FROM customer_web
          WHERE occurred_at >= {intent_from}) w
    GROUP BY w.customer_id
),
recent_views AS (
    SELECT customer_id, product_id, MAX(occurred_at) AS last_viewed_at
    FROM customer_web
    WHERE event_type = 'product_view' AND product_id IS NOT NULL AND occurred_at >= {view_from}
    GROUP BY customer_id, product_id
),
not_bought_ranked AS (
    SELECT
        v.customer_id,
        v.product_id,
        ROW_NUMBER() OVER (PARTITION BY v.customer_id ORDER BY v.last_viewed_at DESC, v.product_id) AS rn
    FROM recent_views v
    LEFT JOIN bought b ON b.customer_id = v.customer_id AND b.product_id = v.product_id
    WHERE b.product_id IS NULL
),
viewed_not_bought AS (
    SELECT customer_id, TO_JSON(ARRAY_AGG(product_id) WITHIN GROUP (ORDER BY rn)) AS viewed_not_bought
    FROM not_bought_ranked
    WHERE rn <= {VIEWED_NOT_BOUGHT_MAX}
    GROUP BY customer_id
),
abandoned_adds AS (
    -- add_to_cart in [as_of - 7 days, as_of - N hours] with no completed order at or after it (up to as_of)
    SELECT w.customer_id, w.product_id, MAX(w.occurred_at) AS last_added_at
    FROM customer_web w
    LEFT JOIN order_stats os ON os.customer_id = w.customer_id
    WHERE w.event_type = 'add_to_cart'
      AND w.product_id IS NOT NULL
      AND w.occurred_at >= {cart_from}
      AND w.occurred_at <= {cart_to}
      AND (os.last_order_at IS NULL OR os.last_order_at < w.occurred_at)
    GROUP BY w.customer_id, w.product_id
),
abandoned_cart AS (
    SELECT
        customer_id,
        COUNT(*) AS abandoned_product_count,
        TO_JSON(ARRAY_AGG(product_id) WITHIN GROUP (ORDER BY last_added_at DESC, product_id)) AS abandoned_cart_products
    FROM abandoned_adds
    GROUP BY customer_id
),
category_spend AS (
    SELECT
        pit.customer_id,
        pdim.category,
        ROW_NUMBER() OVER (PARTITION BY pit.customer_id ORDER BY SUM(pit.line_total_eur) DESC, pdim.category) AS rn
    FROM purchased_items pit
    JOIN product_dim pdim ON pdim.product_id = pit.product_id
    WHERE pdim.category IS NOT NULL
    GROUP BY pit.customer_id, pdim.category
    HAVING SUM(pit.line_total_eur) > 0
),
category_views AS (
    SELECT
        w.customer_id,
        pdim.category,
        ROW_NUMBER() OVER (PARTITION BY w.customer_id ORDER BY COUNT(DISTINCT w.event_id) DESC, pdim.category) AS rn
    FROM customer_web w
    JOIN product_dim pdim ON pdim.product_id = w.product_id
    WHERE w.event_type = 'product_view' AND pdim.category IS NOT NULL
    GROUP BY w.customer_id, pdim.category
),{_affinity_ctes("category", aff_from)}{_affinity_ctes("brand", aff_from)}
email_messages AS (
    -- one row per (address, message): which of delivered / open / click happened up to as_of
    SELECT
        LOWER(TRIM(email)) AS email_norm,
        message_id,
        MAX(CASE WHEN event_type = 'delivered' THEN 1 ELSE 0 END) AS is_delivered,
        MAX(CASE WHEN event_type = 'open' THEN 1 ELSE 0 END) AS is_opened,
        MAX(CASE WHEN event_type = 'click' THEN 1 ELSE 0 END) AS is_clicked
    FROM email_events
    WHERE occurred_at <= {t} AND email IS NOT NULL AND message_id IS NOT NULL
    GROUP BY LOWER(TRIM(email)), message_id
),
email_stats AS (
    SELECT
        email_norm,
        COUNT(*) AS emails_sent,
        SUM(is_delivered) AS emails_delivered,
        SUM(is_delivered * is_opened) AS email_opens,
        SUM(is_delivered * is_clicked) AS email_clicks
    FROM email_messages
    GROUP BY email_norm
),
activity AS (
    SELECT customer_id, occurred_at AS seen_at FROM customer_web
    UNION ALL
    SELECT customer_id, ordered_at AS seen_at FROM customer_orders
    UNION ALL
    SELECT ce.customer_id, ee.occurred_at AS seen_at
    FROM email_events ee
    JOIN customer_emails ce ON ce.email_norm = LOWER(TRIM(ee.email))
    WHERE ee.event_type IN ('open', 'click') AND ee.occurred_at <= {t}
),
last_seen AS (
    SELECT customer_id, MAX(seen_at) AS last_seen_at
    FROM activity
    GROUP BY customer_id
)
SELECT
    p.customer_id,
    {t} AS as_of,
    COALESCE(os.order_count, 0) AS order_count,
    COALESCE(os.frequency, 0) AS frequency,
    COALESCE(os.total_spend, 0.0) AS total_spend,
    os.monetary_value,
    os.first_order_at,
    os.last_order_at,
    DATEDIFF(second, os.last_order_at, {t}) / 86400.0 AS recency_days,
    CASE WHEN p.created_at <= {t} THEN DATEDIFF(second, p.created_at, {t}) / 86400.0 END AS tenure_days,
    ls.last_seen_at,
    DATEDIFF(second, ls.last_seen_at, {t}) / 86400.0 AS days_since_last_seen,
    COALESCE(v.product_views_30d, 0) AS product_views_30d,
    vnb.viewed_not_bought,
    COALESCE(ac.abandoned_product_count, 0) > 0 AS cart_abandoned,
    ac.abandoned_cart_products,
    COALESCE(cs.category, cv.category) AS top_category,
    COALESCE(es.emails_delivered, 0) AS emails_delivered,
    COALESCE(es.email_opens, 0) AS email_opens,
    COALESCE(es.email_clicks, 0) AS email_clicks,
    CASE WHEN rfm.customer_id IS NULL THEN 0 ELSE {_rfm_score("rfm.r_rank", "rfm.n_buyers")} END AS rfm_recency_score,
    CASE WHEN rfm.customer_id IS NULL THEN 0 ELSE {_rfm_score("rfm.f_rank", "rfm.n_buyers")} END AS rfm_frequency_score,
    CASE WHEN rfm.customer_id IS NULL THEN 0 ELSE {_rfm_score("rfm.m_rank", "rfm.n_buyers")} END AS rfm_monetary_score,
    COALESCE(d.units_bought, 0) AS units_bought,
    COALESCE(d.units_bought_discounted, 0) AS units_bought_discounted,
    COALESCE(s30.sessions_30d, 0) AS sessions_30d,
    COALESCE(it.browsing_intent_score, 0.0) AS browsing_intent_score,
    COALESCE(es.emails_sent, 0) AS emails_sent,
    cat.affinity AS category_affinity,
    br.affinity AS brand_affinity
FROM customer_profiles p
LEFT JOIN order_stats os ON os.customer_id = p.customer_id
LEFT JOIN rfm ON rfm.customer_id = p.customer_id
LEFT JOIN discounts d ON d.customer_id = p.customer_id
LEFT JOIN last_seen ls ON ls.customer_id = p.customer_id
LEFT JOIN views_30d v ON v.customer_id = p.customer_id
LEFT JOIN sessions_30d s30 ON s30.customer_id = p.customer_id
LEFT JOIN intent it ON it.customer_id = p.customer_id
LEFT JOIN viewed_not_bought vnb ON vnb.customer_id = p.customer_id
LEFT JOIN abandoned_cart ac ON ac.customer_id = p.customer_id
LEFT JOIN category_spend cs ON cs.customer_id = p.customer_id AND cs.rn = 1
LEFT JOIN category_views cv ON cv.customer_id = p.customer_id AND cv.rn = 1
LEFT JOIN aff_category_top cat ON cat.customer_id = p.customer_id
LEFT JOIN aff_brand_top br ON br.customer_id = p.customer_id
LEFT JOIN email_stats es ON es.email_norm = LOWER(TRIM(p.email))
ORDER BY p.customer_id
""".strip()
