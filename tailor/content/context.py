"""Per-recipient render contexts (docs/internal-spec.md, "Render context per recipient").

One recommender: the personal ``products`` come from the ``product_recommendations`` table
(tailor/models/recommendations.py), after the customer's viewed-not-bought products that the recommendations
block promises first. The ``bestsellers`` block is a different thing — the shop's ranking by units sold, the
same for everyone — ranked in the warehouse (``bestsellers_sql`` in tailor/content/context_loader.py). Heavy
work is done once (SQL, vectorised catalogue); the per-customer part is a cheap loop over plain Python lists
and dicts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tailor.config import DEFAULTS
from tailor.content.subject import render_subject
from tailor.content.urls import safe_http_url
from tailor.content.vocabulary import DEFAULT_FIRST_NAME, REASON_BESTSELLER, REASON_CART, REASON_VIEWED
from tailor.delivery.keys import keyed_link, message_key
from tailor.warehouse.cells import is_missing, json_list, json_object, text_or_none, true_mask

#: Products per list in a context (every product block shows three).
MAX_PRODUCTS = 3


@dataclass(frozen=True)
class RenderSettings:
    """The sender's legal details and where the links of every context point (defaults: tailor/config.py)."""

    company_name: str = DEFAULTS["TAILOR_FROM_NAME"]
    company_address: str = DEFAULTS["TAILOR_COMPANY_ADDRESS"]
    unsubscribe_base_url: str = DEFAULTS["TAILOR_UNSUBSCRIBE_BASE_URL"]
    preferences_base_url: str = DEFAULTS["TAILOR_PREFERENCES_BASE_URL"]
    #: Storefront root used by call-to-action buttons (extra context key ``shop_url``).
    shop_url: str = DEFAULTS["TAILOR_SHOP_URL"]

    def __post_init__(self) -> None:
        # every email links to these: a setting that is not an absolute http(s) URL is refused here rather than
        # left out of each email (the unsubscribe link is required)
        for name, variable in _URL_SETTINGS.items():
            if safe_http_url(getattr(self, name)) is None:
                raise ValueError(f"render settings: {name} ({variable}) must be an absolute http:// or https:// URL")


_URL_SETTINGS = {"shop_url": "TAILOR_SHOP_URL", "unsubscribe_base_url": "TAILOR_UNSUBSCRIBE_BASE_URL",
                 "preferences_base_url": "TAILOR_PREFERENCES_BASE_URL"}


@dataclass(frozen=True)
class _Catalogue:
    """The products a card may show: product_id -> card without reason, and the ids in stock."""

    cards: dict[str, dict[str, Any]]
    in_stock: set[str]

    def pick(self, candidates: Iterable[tuple[str, str]]) -> list[dict[str, Any]]:
        """Cards for the first MAX_PRODUCTS in-stock candidates (product id, reason); a product appears once,
        with its first reason."""
        picked: list[dict[str, Any]] = []
        seen: set[str] = set()
        for pid, reason in candidates:
            if len(picked) == MAX_PRODUCTS:
                break
            if pid in self.in_stock and pid not in seen:
                picked.append({**self.cards[pid], "reason": reason})
                seen.add(pid)
        return picked

    def ranked(self, bestsellers: Iterable[tuple[str, int]]) -> list[dict[str, Any]]:
        """Bestseller cards with the shop's rank, not the place in this customer's list: "#3 Bestseller" is
        true for everyone."""
        return [{**self.cards[pid], "reason": REASON_BESTSELLER, "rank": rank}
                for pid, rank in bestsellers if pid in self.in_stock][:MAX_PRODUCTS]


def _catalogue(products: pd.DataFrame, shop_url: str) -> _Catalogue:
    frame = products.drop_duplicates("product_id", keep="last")
    in_stock_col = frame["in_stock"] if "in_stock" in frame else pd.Series(True, index=frame.index)
    in_stock_mask = in_stock_col.map(lambda v: bool(v) if not is_missing(v) else False)
    url_col = frame["url"] if "url" in frame else pd.Series(None, index=frame.index)
    image_col = frame["image_url"] if "image_url" in frame else pd.Series(None, index=frame.index)
    cards: dict[str, dict[str, Any]] = {}
    for pid, name, price, currency, url, image in zip(
        frame["product_id"], frame["name"], frame["price"], frame["currency"], url_col, image_col, strict=True
    ):
        cards[pid] = {
            "product_id": pid,
            "name": name,
            "price": None if is_missing(price) else float(price),
            "currency": currency,
            # only absolute http(s) links reach href/src: another link goes to the shop, another image is left out
            "url": safe_http_url(text_or_none(url)) or shop_url,
            "image_url": safe_http_url(text_or_none(image)),
        }
    in_stock = set(frame.loc[in_stock_mask.to_numpy(dtype=bool), "product_id"])
    return _Catalogue(cards, in_stock)


def _require(frame: pd.DataFrame, table: str, columns: tuple[str, ...]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{table}: missing column(s) {', '.join(missing)} (needed to build render contexts)")
    return frame


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
            items = json_list(value)
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


def _recipients(decisions: pd.DataFrame, profiles: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """One row per sendable decision with the recipient's email, first name and product lists (JSON)."""
    send = decisions.loc[true_mask(decisions["send"]), ["customer_id", "campaign_id", "subject", "blocks", "params"]]
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
    return merged


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


def _context(cid: str, campaign_id: str, subject_template: Any, blocks_json: Any, params_json: Any, email: Any,
             first_name: Any, products: dict[str, list[dict[str, Any]]], settings: RenderSettings) -> dict[str, Any]:
    """The context of one recipient; ``products``: the three product lists by context key."""
    blocks = json_object(blocks_json)
    params = json_object(params_json)
    name = text_or_none(first_name) or DEFAULT_FIRST_NAME
    key = message_key(campaign_id, cid)
    discount_percent = params.get("discount_percent")
    context: dict[str, Any] = {
        "first_name": name,
        "email": text_or_none(email),
        "customer_id": cid,
        "campaign_id": campaign_id,
        "subject": "",
        **products,
        "discount_percent": discount_percent,
        "discount_code": params.get("discount_code"),
        "unsubscribe_url": keyed_link(settings.unsubscribe_base_url, key),
        "preferences_url": keyed_link(settings.preferences_base_url, key),
        "preheader": params.get("preheader")
        or _default_preheader(blocks, name, discount_percent, settings.company_name),
        "company_name": settings.company_name,
        "company_address": settings.company_address,
        "shop_url": settings.shop_url,
    }
    subject = text_or_none(subject_template)
    if subject is not None:
        context["subject"] = render_subject(subject, context)
    return context


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
    recipients = _recipients(decisions, profiles, features)
    catalogue = _catalogue(products, settings.shop_url)
    recommended_by_customer = _recommended(recommendations)
    bestsellers_by_customer = _bestsellers_by_customer(bestsellers)
    nothing: list[Any] = []
    contexts: dict[str, dict[str, Any]] = {}
    for cid, campaign_id, subject, blocks, params, email, first_name, viewed, cart in zip(
        recipients["customer_id"], recipients["campaign_id"], recipients["subject"], recipients["blocks"],
        recipients["params"], recipients["email"], recipients["first_name"], recipients["viewed_not_bought"],
        recipients["abandoned_cart_products"], strict=True,
    ):
        # What the customer viewed and did not buy (customer_features excludes purchases), then
        # product_recommendations in its order. In stock is checked again because the catalogue, not the
        # recommender, decides what a product card can show.
        personal = [(pid, REASON_VIEWED) for pid in json_list(viewed)] + recommended_by_customer.get(cid, nothing)
        lists = {
            "products": catalogue.pick(personal),
            "cart_products": catalogue.pick((pid, REASON_CART) for pid in json_list(cart)),
            "bestsellers": catalogue.ranked(bestsellers_by_customer.get(cid, nothing)),
        }
        contexts[cid] = _context(cid, campaign_id, subject, blocks, params, email, first_name, lists, settings)
    return contexts
