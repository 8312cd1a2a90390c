"""Per-recipient render contexts (docs/internal-spec.md, "Render context per recipient").

One recommender: the personal ``products`` come from the ``product_recommendations`` table
(tailor/recommendations.py), after the customer's viewed-not-bought products that the recommendations block
promises first. The ``bestsellers`` block is a different thing — the shop's ranking by units sold, the same for
everyone — and is ranked in the warehouse by ``bestsellers_sql``. Heavy work is done once (SQL, vectorised
catalogue); the per-customer part is a cheap loop over plain Python lists and dicts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tailor.content.render import send_mask
from tailor.content.subject import render_subject
from tailor.delivery.keys import message_key
from tailor.warehouse.sql import CUSTOMER_LINKS_CTE

#: Products per list in a context (every product block shows three).
MAX_PRODUCTS = 3


#: Bestsellers considered beyond MAX_PRODUCTS per customer, to make room for the ones they already bought.
BESTSELLER_CANDIDATES = 20


REASON_VIEWED = "Because you viewed it"


REASON_BESTSELLER = "Bestseller"


REASON_CART = "In your cart"


@dataclass(frozen=True)
class RenderSettings:
    company_name: str = "Tailor Shop"
    company_address: str = "Tailor Shop GmbH, Musterstraße 1, 10115 Berlin, Germany"
    unsubscribe_base_url: str = "https://shop.example/unsubscribe"
    preferences_base_url: str = "https://shop.example/preferences"
    #: Storefront root used by call-to-action buttons (extra context key ``shop_url``).
    shop_url: str = "https://shop.example"


def _with_key(base_url: str, key: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}m={key}"  # key is hex: nothing to encode


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _json_list(value: Any) -> list[Any]:
    if is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if not text:
        return []
    parsed = json.loads(text)
    return parsed if isinstance(parsed, list) else []


def _json_object(value: Any) -> dict[str, Any]:
    if is_missing(value):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value).strip()
    if not text:
        return {}
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _str_or_none(value: Any) -> str | None:
    if is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def _catalogue(products: pd.DataFrame, shop_url: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """product_id -> base product dict (context shape without reason) and the set of in-stock ids."""
    frame = products.drop_duplicates("product_id", keep="last")
    in_stock_col = frame["in_stock"] if "in_stock" in frame else pd.Series(True, index=frame.index)
    in_stock_mask = in_stock_col.map(lambda v: bool(v) if not is_missing(v) else False)
    url_col = frame["url"] if "url" in frame else pd.Series(None, index=frame.index)
    image_col = frame["image_url"] if "image_url" in frame else pd.Series(None, index=frame.index)
    catalogue: dict[str, dict[str, Any]] = {}
    for pid, name, price, currency, url, image in zip(
        frame["product_id"], frame["name"], frame["price"], frame["currency"], url_col, image_col, strict=True
    ):
        catalogue[pid] = {
            "product_id": pid,
            "name": name,
            "price": None if is_missing(price) else float(price),
            "currency": currency,
            "url": _str_or_none(url) or shop_url,
            "image_url": _str_or_none(image),
        }
    in_stock = set(frame.loc[in_stock_mask.to_numpy(dtype=bool), "product_id"])
    return catalogue, in_stock


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


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
    lower = frame.rename(columns={c: str(c).lower() for c in frame.columns})  # Snowflake returns upper case
    missing = [c for c in columns if c not in lower.columns]
    if missing:
        raise ValueError(f"{table}: missing column(s) {', '.join(missing)} (needed to build render contexts)")
    return lower


def _capitalised(reason: str) -> str:
    # product_recommendations writes "bought with Rain Jacket" (a phrase for rules and analysts); in the email
    # the reason is an eyebrow label that starts with a capital, like the other reasons
    return reason[:1].upper() + reason[1:]


def _recommended(recommendations: pd.DataFrame) -> dict[str, list[tuple[str, str]]]:
    """customer_id -> [(product_id, reason), ...] in the order of product_recommendations (best first)."""
    recs = _require(recommendations, "product_recommendations", ("customer_id", "recommendations"))
    out: dict[str, list[tuple[str, str]]] = {}
    for cid, value in zip(recs["customer_id"], recs["recommendations"], strict=True):
        try:
            items = _json_list(value)
        except ValueError as exc:
            raise ValueError(f"product_recommendations: customer {cid!r}: recommendations is not JSON ({exc})") from exc
        pairs: list[tuple[str, str]] = []
        for i in items:
            if not isinstance(i, Mapping) or not isinstance(i.get("product_id"), str) \
                    or not isinstance(i.get("reason"), str) or not i["reason"]:
                raise ValueError(f"product_recommendations: customer {cid!r}: every recommendation needs a "
                                 f"product_id and a reason, got {i!r}")
            pairs.append((i["product_id"], _capitalised(i["reason"])))
        out[cid] = pairs
    return out


def _bestsellers_by_customer(bestsellers: pd.DataFrame) -> dict[str, list[tuple[str, int]]]:
    """customer_id -> (product id, shop rank) from the rows of bestsellers_sql (ordered by bestseller_rank)."""
    rows = _require(bestsellers, "bestsellers query", ("customer_id", "product_id", "bestseller_rank"))
    rows = rows.sort_values(["customer_id", "bestseller_rank"], kind="stable")
    out: dict[str, list[tuple[str, int]]] = {}
    for cid, pid, rank in zip(rows["customer_id"], rows["product_id"], rows["bestseller_rank"], strict=True):
        out.setdefault(cid, []).append((pid, int(rank)))
    return out


def _default_preheader(blocks: Mapping[str, Any], first_name: str, discount_percent: Any,
                       company_name: str) -> str:
    if blocks.get("offer") == "discount_offer" and discount_percent:
        return f"Your {discount_percent}% thank-you is inside, {first_name}."
    main = blocks.get("main")
    if main == "abandoned_cart":
        return "We saved your cart. Pick up right where you left off."
    if main == "product_recommendations":
        return f"Hand-picked for you, {first_name}: a few things we think you'll love."
    if main == "bestsellers":
        return "The pieces everyone is loving right now."
    return f"News and new arrivals from {company_name}."


def build_render_contexts(
    decisions: pd.DataFrame,
    profiles: pd.DataFrame,
    features: pd.DataFrame,
    products: pd.DataFrame,
    recommendations: pd.DataFrame,
    bestsellers: pd.DataFrame,
    settings: RenderSettings,
) -> dict[str, dict[str, Any]]:
    """Render context for every decision with ``send == True``, keyed by customer_id.

    ``features``: customer_id, viewed_not_bought, abandoned_cart_products (customer_features);
    ``recommendations``: customer_id, recommendations (product_recommendations);
    ``bestsellers``: the rows of ``bestsellers_sql()``. Customers missing from any of them get empty lists.
    """
    send = decisions.loc[send_mask(decisions), ["customer_id", "campaign_id", "subject", "blocks", "params"]]
    duplicated = send["customer_id"][send["customer_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"email_decisions has several sendable rows for customer {duplicated.iloc[0]!r}; "
                         "render contexts are keyed by customer_id (one campaign per run)")

    profile_cols = profiles[["customer_id", "email", "first_name"]].drop_duplicates("customer_id")
    feature_cols = [c for c in ("viewed_not_bought", "abandoned_cart_products") if c in features]
    merged = send.merge(profile_cols, on="customer_id", how="left")
    merged = merged.merge(features[["customer_id", *feature_cols]].drop_duplicates("customer_id"),
                          on="customer_id", how="left")
    for col in ("viewed_not_bought", "abandoned_cart_products"):
        if col not in merged:
            merged[col] = None

    catalogue, in_stock = _catalogue(products, settings.shop_url)
    recommended_by_customer = _recommended(recommendations)
    bestsellers_by_customer = _bestsellers_by_customer(bestsellers)
    nothing: list[Any] = []

    def item(pid: str, reason: str) -> dict[str, Any]:
        return {**catalogue[pid], "reason": reason}

    contexts: dict[str, dict[str, Any]] = {}
    for cid, campaign_id, subject_tpl, blocks_json, params_json, email, first_name, viewed_json, cart_json in zip(
        merged["customer_id"], merged["campaign_id"], merged["subject"], merged["blocks"], merged["params"],
        merged["email"], merged["first_name"], merged["viewed_not_bought"], merged["abandoned_cart_products"],
        strict=True,
    ):
        # Recommendations block: what the customer viewed and did not buy (customer_features excludes purchases),
        # then product_recommendations in its order. In stock is checked again here because the catalogue, not
        # the recommender, decides what a product card can show; a product appears once, with its first reason.
        recommended: list[dict[str, Any]] = []
        chosen: set[str] = set()
        candidates = [(pid, REASON_VIEWED) for pid in _json_list(viewed_json)]
        candidates += recommended_by_customer.get(cid, nothing)
        for pid, reason in candidates:
            if len(recommended) == MAX_PRODUCTS:
                break
            if pid in in_stock and pid not in chosen:
                recommended.append(item(pid, reason))
                chosen.add(pid)

        # the shop's rank, not the place in this customer's list: "#3 Bestseller" is true for everyone
        best = [{**item(pid, REASON_BESTSELLER), "rank": rank} for pid, rank in bestsellers_by_customer.get(cid, nothing)
                if pid in in_stock][:MAX_PRODUCTS]

        cart: list[dict[str, Any]] = []
        seen_cart: set[str] = set()
        for pid in _json_list(cart_json):
            if len(cart) == MAX_PRODUCTS:
                break
            if pid in in_stock and pid not in seen_cart:
                cart.append(item(pid, REASON_CART))
                seen_cart.add(pid)

        blocks = _json_object(blocks_json)
        params = _json_object(params_json)
        name = _str_or_none(first_name) or "there"
        key = message_key(campaign_id, cid)
        discount_percent = params.get("discount_percent")
        context: dict[str, Any] = {
            "first_name": name,
            "email": _str_or_none(email),
            "customer_id": cid,
            "campaign_id": campaign_id,
            "subject": "",
            "products": recommended,
            "cart_products": cart,
            "bestsellers": best,
            "discount_percent": discount_percent,
            "discount_code": params.get("discount_code"),
            "unsubscribe_url": _with_key(settings.unsubscribe_base_url, key),
            "preferences_url": _with_key(settings.preferences_base_url, key),
            "preheader": params.get("preheader")
            or _default_preheader(blocks, name, discount_percent, settings.company_name),
            "company_name": settings.company_name,
            "company_address": settings.company_address,
            "shop_url": settings.shop_url,
        }
        subject_template = _str_or_none(subject_tpl)
        if subject_template is not None:
            context["subject"] = render_subject(subject_template, context)
        contexts[cid] = context
    return contexts
