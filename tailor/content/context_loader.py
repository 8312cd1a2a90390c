"""What the render contexts of one run need, read from the warehouse: the decisions set to send and, for
their recipients only, the profiles, features and recommendations, plus the catalogue and the bestsellers
ranked in SQL. Every query is Snowflake's dialect (the DuckDB session transpiles it)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tailor.content.context import MAX_PRODUCTS, RenderSettings, build_render_contexts
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.sql import CUSTOMER_LINKS_CTE

#: Bestsellers considered beyond MAX_PRODUCTS per customer, to make room for the ones they already bought.
BESTSELLER_CANDIDATES = 20

_RECIPIENTS = "SELECT DISTINCT customer_id FROM email_decisions WHERE send"


def load_render_contexts(session: WarehouseSession,
                         settings: RenderSettings) -> tuple[pd.DataFrame, dict[str, dict[str, Any]]]:
    """(the rows of email_decisions with ``send``, their render contexts keyed by customer_id).

    Only the recipients' rows and the columns the contexts use are read; ``url`` and ``image_url`` are
    optional in the products contract, so the catalogue is read whole and copes without them.
    """
    decisions = session.query("SELECT * FROM email_decisions WHERE send")
    profiles = session.query("SELECT customer_id, email, first_name FROM customer_profiles "
                             f"WHERE customer_id IN ({_RECIPIENTS})")
    features = session.query("SELECT customer_id, viewed_not_bought, abandoned_cart_products FROM customer_features "
                             f"WHERE customer_id IN ({_RECIPIENTS})")
    recommendations = session.query("SELECT customer_id, recommendations FROM product_recommendations "
                                    f"WHERE customer_id IN ({_RECIPIENTS})")
    products = session.query("SELECT * FROM products")
    bestsellers = session.query(bestsellers_sql())
    contexts = build_render_contexts(decisions, profiles, features, products, recommendations, bestsellers, settings)
    return decisions, contexts


def bestsellers_sql(max_products: int = MAX_PRODUCTS) -> str:
    """One ``SELECT`` (Snowflake dialect): customer_id, product_id, bestseller_rank — for every customer set to
    send in email_decisions, the first ``max_products`` shop bestsellers they have not bought, best first
    (customers without personalization consent get the plain shop ranking: their purchases are not read).

    Bestsellers: in-stock products by units sold in completed orders (desc, ties by product_id) — the same list
    for everyone, which is what the bestsellers block shows (``#1 Bestseller``...). Only the top
    ``max_products + BESTSELLER_CANDIDATES`` are considered, so a customer who bought more than
    BESTSELLER_CANDIDATES of them gets fewer than ``max_products``; that bound keeps the per-customer cross join
    small whatever the catalogue size.
    """
    if isinstance(max_products, bool) or not isinstance(max_products, int) or max_products < 1:
        raise ValueError(f"bestsellers_sql: max_products must be a whole number >= 1, got {max_products!r}")
    top = max_products + BESTSELLER_CANDIDATES
    return f"""
WITH
{CUSTOMER_LINKS_CTE},
stocked AS (
    SELECT product_id
    FROM products
    GROUP BY product_id
    HAVING MAX(CASE WHEN in_stock THEN 1 ELSE 0 END) = 1
),
sold AS (
    -- refunded or cancelled orders are not sales
    SELECT oi.product_id, SUM(oi.quantity) AS units
    FROM order_items oi
    JOIN orders o ON o.order_id = oi.order_id
    WHERE o.status = 'completed' AND oi.product_id IS NOT NULL
    GROUP BY oi.product_id
    HAVING SUM(oi.quantity) > 0
),
top_sellers AS (
    SELECT product_id, overall_rank
    FROM (
        SELECT s.product_id, ROW_NUMBER() OVER (ORDER BY s.units DESC, s.product_id) AS overall_rank
        FROM sold s
        JOIN stocked k ON k.product_id = s.product_id
    ) ranked
    WHERE overall_rank <= {top}
),
recipients AS (
    -- excluding what someone bought uses their purchase data: only with personalization consent
    SELECT DISTINCT d.customer_id, COALESCE(p.personalization_consent, FALSE) AS personalized
    FROM email_decisions d
    LEFT JOIN customer_profiles p ON p.customer_id = d.customer_id
    WHERE d.send
),
bought AS (
    -- what a recipient bought among the top sellers (completed orders, as in product_recommendations)
    SELECT DISTINCT l.customer_id, oi.product_id
    FROM orders o
    JOIN links l ON l.customer_ref = o.customer_ref
    JOIN recipients r ON r.customer_id = l.customer_id AND r.personalized
    JOIN order_items oi ON oi.order_id = o.order_id
    JOIN top_sellers t ON t.product_id = oi.product_id
    WHERE o.status = 'completed'
),
not_bought AS (
    SELECT r.customer_id, t.product_id, t.overall_rank,
           ROW_NUMBER() OVER (PARTITION BY r.customer_id ORDER BY t.overall_rank) AS rn
    FROM recipients r
    CROSS JOIN top_sellers t
    LEFT JOIN bought b ON b.customer_id = r.customer_id AND b.product_id = t.product_id
    WHERE b.product_id IS NULL
)
SELECT customer_id, product_id, overall_rank AS bestseller_rank
FROM not_bought
WHERE rn <= {max_products}
ORDER BY customer_id, overall_rank
""".strip()
