"""Point-in-time customer features (table ``customer_features``).

One SQL statement in Snowflake's dialect computes the features per ``customer_id`` of ``customer_profiles``,
and a second small one counts opens and clicks per UTC quarter hour for the preferred send hour (no time-zone
conversion in DuckDB's SQL here). :func:`finalize_features` fixes dtypes, fits the population's empirical-Bayes
priors (smoothed email rates, discount sensitivity) and converts the send hours to each customer's zone.
Definitions: ``docs/features.md``.

Point-in-time rule: no row whose timestamp (``orders.ordered_at``, ``web_events.occurred_at``,
``email_events.occurred_at``) is after ``as_of`` is read. ``as_of`` is UTC; naive datetimes are taken as UTC,
aware ones are converted to UTC. Rows exactly at ``as_of`` are included.

The SQL is written to run unchanged on Snowflake and, transpiled with sqlglot (``read="snowflake",
write="duckdb"``), on DuckDB (the embedded warehouse and fakesnow). Portability choices:

* ``last_seen_at`` is ``MAX`` over a ``UNION ALL`` of activity timestamps, not ``GREATEST(...)``: Snowflake's
  ``GREATEST`` returns NULL if any argument is NULL, DuckDB's ignores NULLs.
* Lists are ``ARRAY_AGG(x) WITHIN GROUP (ORDER BY ...)`` over rows pre-filtered to non-NULL values (Snowflake
  drops NULLs, DuckDB and fakesnow keep them). The driver returns them as a JSON string (Snowflake, fakesnow) or
  as a list/array (DuckDB); :func:`finalize_features` accepts both.
* Booleans are comparisons (``COALESCE(n, 0) > 0``), not ``BOOLOR_AGG``/``MAX(boolean)``; counts of "messages
  with an open" use ``MAX(CASE ... THEN 1 ELSE 0 END)`` per message.
* Fractional days are ``DATEDIFF(second, a, b) / 86400.0`` (both engines count second boundaries).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.warehouse_sql import CUSTOMER_LINKS_CTE, timestamp_literal, utc_naive

#: Column order of ``customer_features``: the internal spec's columns first, issue 5's appended after them.
FEATURE_COLUMNS: list[str] = [
    "customer_id",
    "as_of",
    "order_count",
    "frequency",
    "total_spend",
    "monetary_value",
    "first_order_at",
    "last_order_at",
    "recency_days",
    "tenure_days",
    "last_seen_at",
    "days_since_last_seen",
    "product_views_30d",
    "viewed_not_bought",
    "cart_abandoned",
    "abandoned_cart_products",
    "top_category",
    "emails_delivered",
    "email_opens",
    "email_clicks",
    "open_rate",
    "click_rate",
    # issue 5 (appended so that existing readers keep their column positions)
    "rfm_recency_score",
    "rfm_frequency_score",
    "rfm_monetary_score",
    "category_affinity",
    "brand_affinity",
    "units_bought",
    "units_bought_discounted",
    "discount_sensitivity",
    "sessions_30d",
    "browsing_intent_score",
    "emails_sent",
    "open_rate_eb",
    "click_rate_eb",
    "preferred_send_hour",
    "send_hour_events",
]

#: Columns finalize_features derives in Python (population priors, time-zone conversion).
_DERIVED_COLUMNS = {
    "open_rate", "click_rate", "discount_sensitivity", "open_rate_eb", "click_rate_eb", "preferred_send_hour",
    "send_hour_events",
}
#: Columns the main SQL returns.
SQL_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in _DERIVED_COLUMNS]

# ---- every tunable constant of the features, in one place (documented in docs/features.md) ----
VIEW_WINDOW_DAYS = 30  # product_views_30d, viewed_not_bought, sessions_30d
CART_WINDOW_DAYS = 7
CART_GRACE_HOURS = 1  # default N of "cart with no purchase after N hours" (a parameter of the SQL)
VIEWED_NOT_BOUGHT_MAX = 10
RFM_BUCKETS = 5  # quintiles
AFFINITY_TOP_N = 3
AFFINITY_VIEW_WINDOW_DAYS = 90
AFFINITY_SPEND_WEIGHT = 0.7  # spend says more about taste than a view...
AFFINITY_VIEW_WEIGHT = 0.3  # ...but views are the only signal for non-buyers and fresher for buyers
DISCOUNT_TOLERANCE = 0.01  # paid < 99 % of list price = discounted (rounding cents and FX noise are not discounts)
#: Browsing intent: weight of one event by type, halved every INTENT_HALF_LIFE_HOURS of age.
INTENT_WEIGHTS: dict[str, float] = {"page_view": 1.0, "product_view": 2.0, "add_to_cart": 5.0, "checkout_started": 8.0}
INTENT_HALF_LIFE_HOURS = 72.0
INTENT_WINDOW_DAYS = 30  # 10 half-lives: older events would add < 0.1 % of their weight
#: Empirical-Bayes Beta priors: bounds on the prior strength alpha + beta (pseudo-observations).
PRIOR_STRENGTH_MIN = 2.0  # never weaker than Laplace's Beta(1, 1)
PRIOR_STRENGTH_MAX = 1000.0  # no measurable spread between customers: everyone gets (almost) the mean
DEFAULT_SEND_HOUR = 10  # local hour when neither the customer nor anybody else has opened or clicked
SEND_HOUR_EVENTS = ("open", "click")

_INT_COLUMNS = [
    "order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks",
    "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score", "units_bought", "units_bought_discounted",
    "sessions_30d", "emails_sent",
]
_FLOAT_COLUMNS = ["monetary_value", "recency_days", "tenure_days", "days_since_last_seen"]
_TS_COLUMNS = ["first_order_at", "last_order_at", "last_seen_at"]
_JSON_COLUMNS = ["viewed_not_bought", "abandoned_cart_products", "category_affinity", "brand_affinity"]
AFFINITY_SHARE_DECIMALS = 4


def _rfm_score(rank: str, n: str) -> str:
    """Bucket = ceil(5 * rank / n) in integer comparisons only (no division: exact on both engines)."""
    whens = " ".join(f"WHEN {RFM_BUCKETS} * {rank} <= {k} * {n} THEN {k}" for k in range(1, RFM_BUCKETS))
    return f"CASE {whens} ELSE {RFM_BUCKETS} END"


def _affinity_ctes(dim: str, aff_from: str) -> str:
    """CTEs ``aff_{dim}_top``: per customer the top categories/brands as two parallel arrays (names, shares).

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
    """One ``SELECT`` (Snowflake dialect) returning :data:`SQL_COLUMNS`, one row per ``customer_profiles`` row.

    ``cart_grace_hours`` is the N of "an add to cart with no purchase after N hours is abandoned".
    """
    if not isinstance(cart_grace_hours, int) or isinstance(cart_grace_hours, bool) or not 0 <= cart_grace_hours < 24 * CART_WINDOW_DAYS:
        raise ValueError(
            f"customer_features: cart_grace_hours must be an integer in [0, {24 * CART_WINDOW_DAYS}), got {cart_grace_hours!r}"
        )
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


def send_hour_counts_sql(as_of: datetime) -> str:
    """Opens and clicks up to ``as_of`` per customer, time zone and UTC quarter hour (Snowflake dialect).

    Returns ``customer_id, timezone, utc_quarter (timestamp), events``. Quarter hours, not hours, because some
    zones are offset by 30 or 45 minutes (India +05:30, Nepal +05:45): the local hour of 03:40 UTC in
    Asia/Kolkata is 09, of 03:20 UTC it is 08. :func:`preferred_send_hours` converts them per event date.
    """
    t = timestamp_literal(as_of)
    kinds = ", ".join(f"'{k}'" for k in SEND_HOUR_EVENTS)
    quarter = "DATEADD(minute, 15 * FLOOR(MINUTE(ee.occurred_at) / 15), DATE_TRUNC('hour', ee.occurred_at))"
    return f"""
SELECT p.customer_id, p.timezone, {quarter} AS utc_quarter, COUNT(*) AS events
FROM email_events ee
JOIN customer_profiles p ON LOWER(TRIM(p.email)) = LOWER(TRIM(ee.email))
WHERE ee.event_type IN ({kinds}) AND ee.occurred_at <= {t} AND p.email IS NOT NULL
GROUP BY p.customer_id, p.timezone, {quarter}
""".strip()


# ------------------------------------------------------------------------------------- population priors
def fit_beta_prior(successes: pd.Series | np.ndarray, trials: pd.Series | np.ndarray) -> tuple[float, float]:
    """Empirical-Bayes Beta(alpha, beta) prior for per-customer rates, by the method of moments.

    Uses customers with at least one trial. With the pooled mean ``mu = sum(k) / sum(n)``, the observed rates
    ``p_i = k_i / n_i`` of a beta-binomial population have ``E[(p_i - mu)^2] = mu (1 - mu) (1/n_i + (1 - 1/n_i) rho)``
    where ``rho = 1 / (alpha + beta + 1)``. Averaging over customers (``h = mean(1/n_i)``, ``s2 = mean((p_i - mu)^2)``):
    ``rho = (s2 / (mu (1 - mu)) - h) / (1 - h)``, so the binomial noise of small ``n_i`` is not mistaken for a
    real spread between customers. The strength ``alpha + beta = 1/rho - 1`` is clipped to
    [PRIOR_STRENGTH_MIN, PRIOR_STRENGTH_MAX]. Falls back to Beta(1, 1) (Laplace) when fewer than two customers
    have trials or the pooled mean is 0 or 1 (no spread can be estimated, and a prior at 0 or 1 is improper).
    """
    k = np.asarray(successes, dtype="float64")
    n = np.asarray(trials, dtype="float64")
    if k.shape != n.shape:
        raise ValueError(f"fit_beta_prior: successes {k.shape} and trials {n.shape} differ in shape")
    has = n > 0
    if np.any(k[has] > n[has]) or np.any(k < 0):
        raise ValueError("fit_beta_prior: successes must be between 0 and the number of trials")
    k, n = k[has], n[has]
    if len(n) < 2:
        return 1.0, 1.0
    mu = k.sum() / n.sum()
    if mu <= 0.0 or mu >= 1.0:
        return 1.0, 1.0
    h = float(np.mean(1.0 / n))
    s2 = float(np.mean((k / n - mu) ** 2))
    if h >= 1.0:  # every customer has exactly one trial: the spread between customers is not identifiable
        strength = PRIOR_STRENGTH_MIN
    else:
        rho = (s2 / (mu * (1.0 - mu)) - h) / (1.0 - h)
        strength = 1.0 / rho - 1.0 if rho > 0 else PRIOR_STRENGTH_MAX
    strength = float(np.clip(strength, PRIOR_STRENGTH_MIN, PRIOR_STRENGTH_MAX))
    return float(mu * strength), float((1.0 - mu) * strength)


def smoothed_rate(successes: pd.Series, trials: pd.Series, prior: tuple[float, float]) -> pd.Series:
    """Posterior mean ``(k + alpha) / (n + alpha + beta)``: the prior mean with no trials."""
    alpha, beta = prior
    return (successes.astype("float64") + alpha) / (trials.astype("float64") + alpha + beta)


def population_priors(features: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """The three fitted priors of a ``customer_features`` frame (for metadata and for explaining a rate)."""
    return {
        "open_rate_eb": fit_beta_prior(features["email_opens"], features["emails_delivered"]),
        "click_rate_eb": fit_beta_prior(features["email_clicks"], features["emails_delivered"]),
        "discount_sensitivity": fit_beta_prior(features["units_bought_discounted"], features["units_bought"]),
    }


# ------------------------------------------------------------------------------------- preferred send hour
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ValueError(f"customer_profiles.timezone: {name!r} is not an IANA time zone ({err})") from err


def preferred_send_hours(counts: pd.DataFrame, customer_ids: pd.Series) -> pd.DataFrame:
    """Per customer: the local hour (0-23) with the most opens + clicks, and how many events it rests on.

    ``counts`` is the result of :func:`send_hour_counts_sql`. Each UTC quarter hour is converted with the
    customer's zone (NULL = UTC) *at that instant*, so DST is respected per event date. Ties go to the earlier
    hour. Customers without events get the population's preferred local hour (same rule over everybody's
    events) and ``send_hour_events = 0``; :data:`DEFAULT_SEND_HOUR` if nobody has any.
    """
    c = counts.rename(columns={col: str(col).lower() for col in counts.columns})
    out = pd.DataFrame({"customer_id": customer_ids.astype(object).to_numpy()})
    if len(c):
        c = c.assign(
            timezone=c["timezone"].where(c["timezone"].notna(), "UTC").astype(str),
            utc_quarter=_to_utc_naive_datetime(c["utc_quarter"]),
            events=pd.to_numeric(c["events"]).astype("int64"),
        )
        local_hour = pd.Series(0, index=c.index, dtype="int64")
        for zone_name, idx in c.groupby("timezone").groups.items():
            instants = pd.DatetimeIndex(c.loc[idx, "utc_quarter"]).tz_localize("UTC").tz_convert(_zone(zone_name))
            local_hour.loc[idx] = instants.hour.astype("int64")
        per_hour = c.assign(hour=local_hour).groupby(["customer_id", "hour"], as_index=False)["events"].sum()
        best = per_hour.sort_values(["customer_id", "events", "hour"], ascending=[True, False, True], kind="stable")
        best = best.drop_duplicates("customer_id")
        totals = per_hour.groupby("customer_id")["events"].sum()
        overall = per_hour.groupby("hour")["events"].sum()
        default_hour = int(overall[overall == overall.max()].index.min())
        hour_map = best.set_index("customer_id")["hour"]
        out["preferred_send_hour"] = out["customer_id"].map(hour_map).fillna(default_hour).astype("int64")
        out["send_hour_events"] = out["customer_id"].map(totals).fillna(0).astype("int64")
    else:
        out["preferred_send_hour"] = np.int64(DEFAULT_SEND_HOUR)
        out["send_hour_events"] = np.int64(0)
    return out


_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # as DuckDB's and Snowflake's TO_JSON


def _sql_array(value: Any) -> list[Any]:
    """SQL array value (JSON text from Snowflake/fakesnow, list/ndarray from DuckDB, NULL) -> list without NULLs."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        items = json.loads(value) if value.strip() else []
        if not isinstance(items, list):
            raise ValueError(f"customer_features: expected a JSON array from SQL, got {value!r}")
    else:
        items = list(value)
    return [i for i in items if i is not None]


def _json_list(value: Any) -> str:
    """SQL array value -> compact JSON list (elements as they are: strings, or objects for the affinities)."""
    return _JSON.encode([i if isinstance(i, dict) else str(i) for i in _sql_array(value)])


def _json_column(values: pd.Series) -> pd.Series:
    """JSON built by the warehouse (``TO_JSON``) -> compact JSON text, ``"[]"`` for NULL.

    Compact text (DuckDB, Snowflake's ``TO_JSON``) is kept as is: no per-row work for a million customers.
    Pretty-printed text (Snowflake's raw ARRAY_AGG) or a driver-side list is re-encoded compactly.
    """
    out = values.astype(object).where(values.notna(), "[]")
    is_text = out.map(lambda v: isinstance(v, str))
    if is_text.all():
        loose = out.str.contains("\n", regex=False)
        if loose.any():
            out = out.where(~loose, out[loose].map(_json_list))
        return out.astype(object)
    return out.map(_json_list).astype(object)


def _to_utc_naive_datetime(series: pd.Series) -> pd.Series:
    out = pd.to_datetime(series)
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def finalize_features(raw: pd.DataFrame, as_of: datetime, *, send_hour_counts: pd.DataFrame) -> pd.DataFrame:
    """Turn the raw results of :func:`customer_features_sql` and :func:`send_hour_counts_sql` into
    ``customer_features`` (column order of :data:`FEATURE_COLUMNS`).

    Accepts upper-case column names (Snowflake), DuckDB list values or Snowflake JSON arrays, Decimal numbers.
    Fits the empirical-Bayes priors on this population (everybody in ``raw``, as of ``as_of``).
    """
    df = raw.rename(columns={c: str(c).lower() for c in raw.columns})
    missing = [c for c in SQL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"customer_features: SQL result is missing columns {missing}")

    out = pd.DataFrame(index=df.index)
    out["customer_id"] = df["customer_id"].astype(object)
    out["as_of"] = pd.Series(utc_naive(as_of), index=df.index).astype("datetime64[ns]")
    for col in _INT_COLUMNS:
        out[col] = pd.to_numeric(df[col]).fillna(0).astype("int64")
    out["total_spend"] = df["total_spend"].astype("float64").fillna(0.0)
    out["browsing_intent_score"] = df["browsing_intent_score"].astype("float64").fillna(0.0)
    for col in _FLOAT_COLUMNS:
        out[col] = df[col].astype("float64")
    for col in _TS_COLUMNS:
        out[col] = _to_utc_naive_datetime(df[col])
    for col in _JSON_COLUMNS:
        out[col] = _json_column(df[col])
    out["cart_abandoned"] = df["cart_abandoned"].astype("boolean").fillna(False).astype(bool)
    out["top_category"] = df["top_category"].astype(object).where(df["top_category"].notna(), None)
    out["open_rate"] = (out["email_opens"] + 1) / (out["emails_delivered"] + 2)
    out["click_rate"] = (out["email_clicks"] + 1) / (out["emails_delivered"] + 2)
    priors = population_priors(out)
    out["discount_sensitivity"] = smoothed_rate(
        out["units_bought_discounted"], out["units_bought"], priors["discount_sensitivity"]
    )
    out["open_rate_eb"] = smoothed_rate(out["email_opens"], out["emails_delivered"], priors["open_rate_eb"])
    out["click_rate_eb"] = smoothed_rate(out["email_clicks"], out["emails_delivered"], priors["click_rate_eb"])
    hours = preferred_send_hours(send_hour_counts, out["customer_id"])
    out["preferred_send_hour"] = hours["preferred_send_hour"].to_numpy()
    out["send_hour_events"] = hours["send_hour_events"].to_numpy()

    out = out[FEATURE_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)
    return out


def compute_customer_features(
    query: Callable[[str], pd.DataFrame], as_of: datetime, cart_grace_hours: int = CART_GRACE_HOURS
) -> pd.DataFrame:
    """Run the feature SQL (and the send-hour counts) through ``query`` (e.g. ``Warehouse.query``) and finalize."""
    raw = query(customer_features_sql(as_of, cart_grace_hours))
    counts = query(send_hour_counts_sql(as_of))
    return finalize_features(raw, as_of, send_hour_counts=counts)


# --------------------------------------------------------------------------------------------- schema
def _is_json_str_list(value: Any, max_len: int | None = None) -> bool:
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return False
    return (
        isinstance(items, list)
        and all(isinstance(i, str) for i in items)
        and len(set(items)) == len(items)
        and (max_len is None or len(items) <= max_len)
    )


def _is_affinity_json(value: Any, key: str) -> bool:
    """A JSON list of at most AFFINITY_TOP_N ``{key: str, "share": [0, 1]}``, distinct names, shares descending."""
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return False
    if not isinstance(items, list) or len(items) > AFFINITY_TOP_N:
        return False
    if not all(isinstance(i, dict) and set(i) == {key, "share"} and isinstance(i[key], str) for i in items):
        return False
    shares = [i["share"] for i in items]
    return (
        all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in shares)
        and shares == sorted(shares, reverse=True)
        and sum(shares) <= 1 + 1e-3  # rounded to 4 decimals each
        and len({i[key] for i in items}) == len(items)
    )


class CustomerFeaturesSchema(pa.DataFrameModel):
    """``customer_features``: one row per customer_id, as of ``as_of`` (UTC, tz-naive)."""

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    as_of: Series[pa.DateTime] = pa.Field(nullable=False)
    order_count: Series[np.int64] = pa.Field(ge=0)
    frequency: Series[np.int64] = pa.Field(ge=0)
    total_spend: Series[np.float64] = pa.Field(ge=0, nullable=False)
    monetary_value: Series[np.float64] = pa.Field(ge=0, nullable=True)
    first_order_at: Series[pa.DateTime] = pa.Field(nullable=True)
    last_order_at: Series[pa.DateTime] = pa.Field(nullable=True)
    recency_days: Series[np.float64] = pa.Field(ge=0, nullable=True)
    tenure_days: Series[np.float64] = pa.Field(ge=0, nullable=True)
    last_seen_at: Series[pa.DateTime] = pa.Field(nullable=True)
    days_since_last_seen: Series[np.float64] = pa.Field(ge=0, nullable=True)
    product_views_30d: Series[np.int64] = pa.Field(ge=0)
    viewed_not_bought: Series[str] = pa.Field(nullable=False)
    cart_abandoned: Series[bool] = pa.Field(nullable=False)
    abandoned_cart_products: Series[str] = pa.Field(nullable=False)
    top_category: Series[str] = pa.Field(nullable=True)
    emails_delivered: Series[np.int64] = pa.Field(ge=0)
    email_opens: Series[np.int64] = pa.Field(ge=0)
    email_clicks: Series[np.int64] = pa.Field(ge=0)
    open_rate: Series[np.float64] = pa.Field(gt=0, lt=1)
    click_rate: Series[np.float64] = pa.Field(gt=0, lt=1)
    rfm_recency_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    rfm_frequency_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    rfm_monetary_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    category_affinity: Series[str] = pa.Field(nullable=False)
    brand_affinity: Series[str] = pa.Field(nullable=False)
    units_bought: Series[np.int64] = pa.Field(ge=0)
    units_bought_discounted: Series[np.int64] = pa.Field(ge=0)
    discount_sensitivity: Series[np.float64] = pa.Field(gt=0, lt=1)
    sessions_30d: Series[np.int64] = pa.Field(ge=0)
    browsing_intent_score: Series[np.float64] = pa.Field(ge=0, nullable=False)
    emails_sent: Series[np.int64] = pa.Field(ge=0)
    open_rate_eb: Series[np.float64] = pa.Field(gt=0, lt=1)
    click_rate_eb: Series[np.float64] = pa.Field(gt=0, lt=1)
    preferred_send_hour: Series[np.int64] = pa.Field(ge=0, le=23)
    send_hour_events: Series[np.int64] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.check("viewed_not_bought", name="json_list_max_10")
    def _viewed_not_bought_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_json_str_list(v, VIEWED_NOT_BOUGHT_MAX))

    @pa.check("abandoned_cart_products", name="json_list")
    def _abandoned_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(_is_json_str_list)

    @pa.check("category_affinity", name="affinity_json")
    def _category_affinity(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_affinity_json(v, "category"))

    @pa.check("brand_affinity", name="affinity_json")
    def _brand_affinity(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_affinity_json(v, "brand"))

    @pa.dataframe_check(name="rfm_scores_iff_buyer")
    def _rfm_iff_buyer(cls, df: pd.DataFrame) -> pd.Series:
        buyer = df["order_count"] > 0
        ok = pd.Series(True, index=df.index)
        for col in ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score"):
            ok &= buyer == (df[col] > 0)
        return ok

    @pa.dataframe_check(name="discounted_units_within_units")
    def _discount_units(cls, df: pd.DataFrame) -> pd.Series:
        return df["units_bought_discounted"] <= df["units_bought"]

    @pa.dataframe_check(name="sent_at_least_delivered")
    def _sent(cls, df: pd.DataFrame) -> pd.Series:
        return df["emails_sent"] >= df["emails_delivered"]

    @pa.dataframe_check(name="single_as_of")
    def _single_as_of(cls, df: pd.DataFrame) -> bool:
        return df["as_of"].nunique() <= 1

    @pa.dataframe_check(name="nothing_after_as_of")
    def _nothing_after_as_of(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        for col in ("first_order_at", "last_order_at", "last_seen_at"):
            ok &= df[col].isna() | (df[col] <= df["as_of"])
        return ok

    @pa.dataframe_check(name="order_fields_consistent")
    def _order_fields_consistent(cls, df: pd.DataFrame) -> pd.Series:
        none = df["order_count"] == 0
        return (
            (df["frequency"] <= (df["order_count"] - 1).clip(lower=0))
            & (none == df["monetary_value"].isna())
            & (none == df["last_order_at"].isna())
            & (none == df["first_order_at"].isna())
            & (none == df["recency_days"].isna())
            & (none | (df["first_order_at"] <= df["last_order_at"]))
            & (~none | (df["total_spend"] == 0))
        )

    @pa.dataframe_check(name="email_counts_within_delivered")
    def _email_counts(cls, df: pd.DataFrame) -> pd.Series:
        return (df["email_opens"] <= df["emails_delivered"]) & (df["email_clicks"] <= df["emails_delivered"])

    @pa.dataframe_check(name="cart_abandoned_iff_products")
    def _cart_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return df["cart_abandoned"] == (df["abandoned_cart_products"] != "[]")

    @pa.dataframe_check(name="last_seen_consistent")
    def _last_seen_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return df["last_seen_at"].isna() == df["days_since_last_seen"].isna()
