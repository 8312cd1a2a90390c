"""Per-recipient render contexts (docs/internal-spec.md, "Render context per recipient").

Heavy work (joins, bestseller ranking, purchase sets, catalogue lookup) is vectorised with pandas and
done once; the per-customer part is a cheap loop over plain Python lists and dicts.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tailor.rendering import message_key, render_subject, send_mask

__all__ = ["RenderSettings", "build_render_contexts", "MAX_PRODUCTS"]

MAX_PRODUCTS = 3
REASON_VIEWED = "Because you viewed it"
REASON_BESTSELLER = "Bestseller"
REASON_CART = "In your cart"


def _reason_category(category: str) -> str:
    return f"Popular in {category}"


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


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _json_list(value: Any) -> list[Any]:
    if _is_missing(value):
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    text = str(value).strip()
    if not text:
        return []
    parsed = json.loads(text)
    return parsed if isinstance(parsed, list) else []


def _json_object(value: Any) -> dict[str, Any]:
    if _is_missing(value):
        return {}
    if isinstance(value, Mapping):
        return dict(value)
    text = str(value).strip()
    if not text:
        return {}
    parsed = json.loads(text)
    return parsed if isinstance(parsed, dict) else {}


def _str_or_none(value: Any) -> str | None:
    if _is_missing(value):
        return None
    text = str(value).strip()
    return text or None


def _catalogue(products: pd.DataFrame, shop_url: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """product_id -> base product dict (context shape without reason) and the set of in-stock ids."""
    frame = products.drop_duplicates("product_id", keep="last")
    in_stock_col = frame["in_stock"] if "in_stock" in frame else pd.Series(True, index=frame.index)
    in_stock_mask = in_stock_col.map(lambda v: bool(v) if not _is_missing(v) else False)
    url_col = frame["url"] if "url" in frame else pd.Series(None, index=frame.index)
    image_col = frame["image_url"] if "image_url" in frame else pd.Series(None, index=frame.index)
    catalogue: dict[str, dict[str, Any]] = {}
    for pid, name, price, currency, url, image in zip(
        frame["product_id"], frame["name"], frame["price"], frame["currency"], url_col, image_col, strict=True
    ):
        catalogue[pid] = {
            "product_id": pid,
            "name": name,
            "price": None if _is_missing(price) else float(price),
            "currency": currency,
            "url": _str_or_none(url) or shop_url,
            "image_url": _str_or_none(image),
        }
    in_stock = set(frame.loc[in_stock_mask.to_numpy(dtype=bool), "product_id"])
    return catalogue, in_stock


def _bestseller_ranking(order_items: pd.DataFrame, products: pd.DataFrame,
                        in_stock: set[str]) -> tuple[list[str], dict[str, list[str]]]:
    """In-stock products by units sold (desc, ties by product_id); overall and per category."""
    items = order_items
    if "status" in items.columns:
        items = items[items["status"] == "completed"]
    if items.empty:
        return [], {}
    units = items.groupby("product_id", sort=False)["quantity"].sum().rename("units").reset_index()
    units = units[units["product_id"].isin(in_stock) & (units["units"] > 0)]
    units = units.merge(products[["product_id", "category"]].drop_duplicates("product_id", keep="last"),
                        on="product_id", how="inner")
    units = units.sort_values(["units", "product_id"], ascending=[False, True], kind="mergesort")
    overall = units["product_id"].tolist()
    by_category = {cat: grp["product_id"].tolist() for cat, grp in units.groupby("category", sort=False)}
    return overall, by_category


def _purchases(order_items: pd.DataFrame) -> dict[str, set[str]]:
    """customer_id -> product_ids ever ordered (needs a ``customer_id`` column in order_items)."""
    if "customer_id" not in order_items.columns:
        warnings.warn(
            "order_items has no customer_id column, so already-bought products cannot be excluded from "
            "recommendations; join orders and customer_identity_links (orders.customer_ref = "
            "customer_identity_links.source_record_id) and select the customer_id",
            UserWarning,
            stacklevel=3,
        )
        return {}
    if order_items.empty:
        return {}
    pairs = order_items[["customer_id", "product_id"]].dropna().drop_duplicates()
    bought: dict[str, set[str]] = {}
    for cid, pid in zip(pairs["customer_id"], pairs["product_id"], strict=True):
        bought.setdefault(cid, set()).add(pid)
    return bought


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
    order_items: pd.DataFrame,
    settings: RenderSettings,
) -> dict[str, dict[str, Any]]:
    """Render context for every decision with ``send == True``, keyed by customer_id.

    ``order_items`` is the order_items table; to exclude what a customer already bought it must carry
    a ``customer_id`` column (join orders + customer_identity_links), and if it carries the order
    ``status`` only completed orders count as sales for the bestseller ranking.
    """
    send = decisions.loc[send_mask(decisions), ["customer_id", "campaign_id", "subject", "blocks", "params"]]
    duplicated = send["customer_id"][send["customer_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"email_decisions has several sendable rows for customer {duplicated.iloc[0]!r}; "
                         "render contexts are keyed by customer_id (one campaign per run)")

    profile_cols = profiles[["customer_id", "email", "first_name"]].drop_duplicates("customer_id")
    feature_cols = [c for c in ("viewed_not_bought", "abandoned_cart_products", "top_category") if c in features]
    merged = send.merge(profile_cols, on="customer_id", how="left")
    merged = merged.merge(features[["customer_id", *feature_cols]].drop_duplicates("customer_id"),
                          on="customer_id", how="left")
    for col in ("viewed_not_bought", "abandoned_cart_products", "top_category"):
        if col not in merged:
            merged[col] = None

    catalogue, in_stock = _catalogue(products, settings.shop_url)
    overall, by_category = _bestseller_ranking(order_items, products, in_stock)
    purchased_by_customer = _purchases(order_items)
    no_purchases: set[str] = set()

    def item(pid: str, reason: str) -> dict[str, Any]:
        return {**catalogue[pid], "reason": reason}

    contexts: dict[str, dict[str, Any]] = {}
    for cid, campaign_id, subject_tpl, blocks_json, params_json, email, first_name, viewed_json, cart_json, top_cat in zip(
        merged["customer_id"], merged["campaign_id"], merged["subject"], merged["blocks"], merged["params"],
        merged["email"], merged["first_name"], merged["viewed_not_bought"], merged["abandoned_cart_products"],
        merged["top_category"], strict=True,
    ):
        bought = purchased_by_customer.get(cid, no_purchases)

        # Recommendations: viewed-not-bought, then bestsellers of the top category, then overall bestsellers.
        recommended: list[dict[str, Any]] = []
        chosen: set[str] = set()
        for pid in _json_list(viewed_json):
            if len(recommended) == MAX_PRODUCTS:
                break
            if pid in in_stock and pid not in bought and pid not in chosen:
                recommended.append(item(pid, REASON_VIEWED))
                chosen.add(pid)
        category = _str_or_none(top_cat)
        if category is not None and len(recommended) < MAX_PRODUCTS:
            reason = _reason_category(category)
            for pid in by_category.get(category, ()):
                if len(recommended) == MAX_PRODUCTS:
                    break
                if pid not in bought and pid not in chosen:
                    recommended.append(item(pid, reason))
                    chosen.add(pid)
        bestsellers: list[dict[str, Any]] = []
        for pid in overall:
            if len(bestsellers) == MAX_PRODUCTS and len(recommended) == MAX_PRODUCTS:
                break
            if pid in bought:
                continue
            if len(bestsellers) < MAX_PRODUCTS:
                bestsellers.append(item(pid, REASON_BESTSELLER))
            if len(recommended) < MAX_PRODUCTS and pid not in chosen:
                recommended.append(item(pid, REASON_BESTSELLER))
                chosen.add(pid)

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
            "bestsellers": bestsellers,
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
