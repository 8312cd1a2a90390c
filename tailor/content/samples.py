"""The sample recipients every template is rendered with when the library loads and every subject when the rule
file is checked: one with every list and param filled, one with nothing but the defaults. Standard library only
(``tailor rules check`` uses them)."""

from __future__ import annotations

from typing import Any

from tailor.content.vocabulary import CONTEXT_DEFAULTS, REASON_BESTSELLER, REASON_CART, REASON_VIEWED


def _sample_product(i: int, reason: str) -> dict[str, Any]:
    return {"product_id": f"P{i:04d}", "name": f"Sample product {i}", "price": 10.0 * i, "currency": "EUR",
            "url": f"https://shop.example/p/P{i:04d}", "image_url": f"https://shop.example/img/P{i:04d}.jpg",
            "reason": reason}


SAMPLE_CONTEXTS: tuple[dict[str, Any], ...] = (
    {
        **CONTEXT_DEFAULTS, "first_name": "Anna", "email": "anna@example.com", "customer_id": "cus_000001",
        "campaign_id": "sample", "subject": "Sample", "preheader": "Sample preheader",
        "products": [_sample_product(i, REASON_VIEWED) for i in (1, 2, 3)],
        "cart_products": [_sample_product(i, REASON_CART) for i in (4, 5)],
        "bestsellers": [{**_sample_product(i, REASON_BESTSELLER), "rank": i - 5} for i in (6, 7, 8)],
        "discount_percent": 10, "discount_code": "SAMPLE10",
        "unsubscribe_url": "https://shop.example/unsubscribe?m=0", "preferences_url": "https://shop.example/p?m=0",
        "company_name": "Tailor Shop", "company_address": "Main St 1, Berlin", "shop_url": "https://shop.example",
    },
    {**CONTEXT_DEFAULTS},
)
