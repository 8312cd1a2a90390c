"""Tests for tailor.content.context with hand-made tiny frames.

Catalogue: P1 Trail Running Shoe, P3 Wool Socks, P4 Leather Boots, P5 Sold-out Sneaker (OUT OF STOCK) — Shoes;
P2 Rain Jacket (Outerwear), P6 Canvas Tote (Bags), P7 Beanie (Accessories, no url).

Completed units sold: P6 11 (O1 10 + O9 1), P3 6, P4 5, P7 3, P1 2; P5 (50) is out of stock, P2's 100 units were
refunded and Anna's P6 order was cancelled -> bestsellers P6, P3, P4, P7, P1.
Bought (completed): Anna (cus_1, through her shop ref) P3; Ben (cus_2) P6, P4.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.content.context import RenderSettings, build_render_contexts
from tailor.content.library import TemplateLibrary
from tailor.content.render import render_emails
from tailor.delivery.keys import message_key

TEMPLATES = Path(__file__).resolve().parents[2] / "email_templates"
SETTINGS = RenderSettings(
    company_name="Tailor Shop",
    company_address="Tailor Shop GmbH, Musterstraße 1, 10115 Berlin, Germany",
    unsubscribe_base_url="https://shop.example/unsubscribe",
    preferences_base_url="https://shop.example/preferences",
)
CAMPAIGN = "spring_2025"


def products_frame() -> pd.DataFrame:
    rows = [
        ("P1", "Trail Running Shoe", "Shoes", 120.0, True),
        ("P2", "Rain Jacket", "Outerwear", 150.0, True),
        ("P3", "Wool Socks", "Shoes", 15.0, True),
        ("P4", "Leather Boots", "Shoes", 200.0, True),
        ("P5", "Sold-out Sneaker", "Shoes", 90.0, False),
        ("P6", "Canvas Tote", "Bags", 25.0, True),
        ("P7", "Beanie", "Accessories", 20.0, True),
    ]
    frame = pd.DataFrame(rows, columns=["product_id", "name", "category", "price", "in_stock"])
    frame["brand"] = "Tailor"
    frame["currency"] = "EUR"
    frame["url"] = "https://shop.example/p/" + frame["product_id"]
    frame.loc[frame["product_id"] == "P7", "url"] = np.nan
    frame["image_url"] = "https://cdn.shop.example/" + frame["product_id"] + ".jpg"
    return frame


def order_tables() -> dict[str, pd.DataFrame]:
    """orders, order_items and customer_identity_links behind the bestseller ranking."""
    # (order_id, customer_ref, status, product_id, quantity)
    rows = [
        ("O1", "crm-9", "completed", "P6", 10),
        ("O2", "crm-9", "completed", "P3", 5),
        ("O3", "shop-1", "completed", "P3", 1),  # Anna bought the socks (shop account, linked to cus_1)
        ("O4", "crm-9", "completed", "P4", 4),
        ("O5", "crm-9", "completed", "P7", 3),
        ("O6", "crm-9", "completed", "P1", 2),
        ("O7", "crm-9", "completed", "P5", 50),  # bestseller but out of stock
        ("O8", "crm-9", "refunded", "P2", 100),  # refunded: not sold
        ("O9", "crm-2", "completed", "P6", 1),
        ("O9", "crm-2", "completed", "P4", 1),
        ("O10", "crm-1", "cancelled", "P6", 1),  # cancelled: Anna did not buy the tote
    ]
    frame = pd.DataFrame(rows, columns=["order_id", "customer_ref", "status", "product_id", "quantity"])
    orders = frame[["order_id", "customer_ref", "status"]].drop_duplicates("order_id").reset_index(drop=True)
    items = frame[["order_id", "product_id", "quantity"]].copy()
    items["line_no"] = items.groupby("order_id").cumcount() + 1
    links = pd.DataFrame({
        "source": ["crm", "shop", "crm", "crm"],
        "source_record_id": ["crm-1", "shop-1", "crm-2", "crm-9"],
        "customer_id": ["cus_1", "cus_1", "cus_2", "cus_9"],
    })
    return {"orders": orders, "order_items": items, "customer_identity_links": links}


def bestsellers_frame() -> pd.DataFrame:
    """What bestsellers_sql() returns for these tables (asserted in test_context_loader.py)."""
    rows = [("cus_1", "P6", 1), ("cus_1", "P4", 3), ("cus_1", "P7", 4),   # P3 (#2) bought
            ("cus_2", "P3", 2), ("cus_2", "P7", 4), ("cus_2", "P1", 5),   # P6 (#1), P4 (#3) bought
            ("cus_3", "P6", 1), ("cus_3", "P3", 2), ("cus_3", "P4", 3)]
    return pd.DataFrame(rows, columns=["customer_id", "product_id", "bestseller_rank"])


def recommendations_frame() -> pd.DataFrame:
    """product_recommendations as tailor/models/recommendations.py writes it (cus_3 has no row)."""
    def recs(*items):
        return json.dumps([{"product_id": pid, "reason": reason, "source": source, "anchor_product_id": anchor}
                           for pid, reason, source, anchor in items])

    return pd.DataFrame({
        "customer_id": ["cus_1", "cus_2", "cus_4"],
        "as_of": pd.Timestamp("2025-03-01"),
        "recommended_products": ['["P1","P4","P6"]', '["P5","P3","P1","P7"]', '["P2"]'],
        "recommendations": [
            recs(("P1", "viewed with Rain Jacket", "viewed_with", "P2"),  # also viewed: shown once, as viewed
                 ("P4", "bought with Wool Socks", "bought_with", "P3"),
                 ("P6", "popular in Bags", "popular", None)),
            recs(("P5", "popular in Shoes", "popular_in_category", None),  # out of stock since
                 ("P3", "popular in Shoes", "popular_in_category", None),
                 ("P1", "popular in Shoes", "popular_in_category", None),
                 ("P7", "popular in Accessories", "popular", None)),
            recs(("P2", "popular in Outerwear", "popular", None)),
        ],
        "recommendation_count": [3, 4, 1],
    })


def profiles_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["cus_1", "cus_2", "cus_3", "cus_4"],
        "email": ["anna.k@example.com", "ben@example.com", "cleo@example.com", "dan@example.com"],
        "first_name": ["Anna", "Ben", None, "Dan"],
        "last_name": ["K", "B", "C", "D"],
    })


def features_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["cus_1", "cus_2", "cus_4"],
        "viewed_not_bought": ['["P5", "P9", "P2", "P1"]', "[]", '["P1"]'],
        "abandoned_cart_products": ['["P5", "P6"]', "[]", "[]"],
    })


def decisions_frame() -> pd.DataFrame:
    def row(cid, send, blocks, params, subject):
        return {"customer_id": cid, "campaign_id": CAMPAIGN, "send": send, "reason": "rule:test",
                "subject": subject, "blocks": json.dumps(blocks), "params": json.dumps(params),
                "rules_fired": '["test"]', "rule_file_hash": "0" * 64, "decided_at": pd.Timestamp("2025-03-01")}

    return pd.DataFrame([
        row("cus_1", True, {"hero": "hero_vip", "main": "product_recommendations", "offer": "discount_offer"},
            {"discount_percent": 10, "discount_code": "VIP10"}, "{{ first_name }}, picked for you"),
        row("cus_2", True, {"hero": "hero_default", "main": "product_recommendations"}, {}, "New for you"),
        row("cus_3", True, {"hero": "hero_welcome", "main": "bestsellers"}, {}, "Welcome, {{ first_name }}"),
        row("cus_4", False, {}, {}, None),
    ])


def build(decisions=None, recommendations=None, settings=SETTINGS) -> dict:
    return build_render_contexts(
        decisions_frame() if decisions is None else decisions, profiles_frame(), features_frame(), products_frame(),
        recommendations_frame() if recommendations is None else recommendations, bestsellers_frame(), settings,
    )


@pytest.fixture(scope="module")
def contexts() -> dict:
    return build()


def ids_and_reasons(items: list[dict]) -> list[tuple[str, str]]:
    return [(p["product_id"], p["reason"]) for p in items]


def test_only_send_true_customers_get_a_context(contexts: dict) -> None:
    assert list(contexts) == ["cus_1", "cus_2", "cus_3"]


def test_viewed_not_bought_first_then_product_recommendations(contexts: dict) -> None:
    # viewed: P5 out of stock and P9 unknown are skipped; recommendations: P1 is already there (as viewed)
    assert ids_and_reasons(contexts["cus_1"]["products"]) == [
        ("P2", "Because you viewed it"),
        ("P1", "Because you viewed it"),
        ("P4", "Bought with Wool Socks"),
    ]


def test_recommendations_in_their_order_in_stock_only(contexts: dict) -> None:
    # nothing viewed; P5 went out of stock after product_recommendations ran
    assert ids_and_reasons(contexts["cus_2"]["products"]) == [
        ("P3", "Popular in Shoes"),
        ("P1", "Popular in Shoes"),
        ("P7", "Popular in Accessories"),
    ]


def test_customer_without_features_or_recommendations(contexts: dict) -> None:
    cleo = contexts["cus_3"]
    assert cleo["products"] == [] and cleo["cart_products"] == []
    assert ids_and_reasons(cleo["bestsellers"]) == [("P6", "Bestseller"), ("P3", "Bestseller"), ("P4", "Bestseller")]
    assert cleo["first_name"] == "there"
    assert cleo["subject"] == "Welcome, there"


def test_bestsellers_per_customer_in_rank_order(contexts: dict) -> None:
    assert [p["product_id"] for p in contexts["cus_1"]["bestsellers"]] == ["P6", "P4", "P7"]
    assert [p["product_id"] for p in contexts["cus_2"]["bestsellers"]] == ["P3", "P7", "P1"]
    # the shop's rank travels with each product ("#2 Bestseller" means the same for everyone)
    assert [p["rank"] for p in contexts["cus_2"]["bestsellers"]] == [2, 4, 5]
    # the rows may come back unordered (a warehouse without ORDER BY guarantees): bestseller_rank decides
    shuffled = bestsellers_frame().iloc[::-1]
    ctx = build_render_contexts(decisions_frame(), profiles_frame(), features_frame(), products_frame(),
                                recommendations_frame(), shuffled, SETTINGS)
    assert [p["product_id"] for p in ctx["cus_1"]["bestsellers"]] == ["P6", "P4", "P7"]


def test_product_shape_and_values(contexts: dict) -> None:
    jacket = contexts["cus_1"]["products"][0]
    assert jacket == {
        "product_id": "P2", "name": "Rain Jacket", "price": 150.0, "currency": "EUR",
        "url": "https://shop.example/p/P2", "image_url": "https://cdn.shop.example/P2.jpg",
        "reason": "Because you viewed it",
    }
    beanie = contexts["cus_2"]["products"][2]
    assert beanie["url"] == "https://shop.example"  # missing product url falls back to the shop


def test_cart_params_urls_and_settings(contexts: dict) -> None:
    anna = contexts["cus_1"]
    assert ids_and_reasons(anna["cart_products"]) == [("P6", "In your cart")]  # P5 out of stock
    assert anna["discount_percent"] == 10 and anna["discount_code"] == "VIP10"
    key = message_key(CAMPAIGN, "cus_1")
    assert anna["unsubscribe_url"] == f"https://shop.example/unsubscribe?m={key}"
    assert anna["preferences_url"] == f"https://shop.example/preferences?m={key}"
    assert "anna" not in anna["unsubscribe_url"] and "@" not in anna["unsubscribe_url"]
    assert anna["email"] == "anna.k@example.com"
    assert anna["customer_id"] == "cus_1" and anna["campaign_id"] == CAMPAIGN
    assert anna["subject"] == "Anna, picked for you"
    assert anna["preheader"] == "Your 10% thank-you is inside, Anna."
    assert anna["company_name"] == "Tailor Shop"
    assert anna["company_address"] == "Tailor Shop GmbH, Musterstraße 1, 10115 Berlin, Germany"
    assert contexts["cus_2"]["discount_percent"] is None and contexts["cus_2"]["discount_code"] is None


def test_base_url_with_query_string() -> None:
    settings = RenderSettings(unsubscribe_base_url="https://shop.example/u?lang=de",
                              preferences_base_url="https://shop.example/p")
    ctx = build(decisions=decisions_frame().iloc[:1], settings=settings)
    assert ctx["cus_1"]["unsubscribe_url"] == f"https://shop.example/u?lang=de&m={message_key(CAMPAIGN, 'cus_1')}"


def test_bad_recommendations_are_a_clear_error() -> None:
    broken = recommendations_frame()
    broken.loc[1, "recommendations"] = '[{"product_id": "P3"'
    with pytest.raises(ValueError, match="product_recommendations: customer 'cus_2': recommendations is not JSON"):
        build(recommendations=broken)
    broken.loc[1, "recommendations"] = '[{"product_id": "P3"}]'
    with pytest.raises(ValueError, match="customer 'cus_2': every recommendation needs a product_id and a reason"):
        build(recommendations=broken)
    with pytest.raises(ValueError, match=r"product_recommendations: missing column\(s\) recommendations"):
        build(recommendations=recommendations_frame().drop(columns=["recommendations"]))


def test_contexts_render_end_to_end(contexts: dict) -> None:
    library = TemplateLibrary.load(TEMPLATES)
    out = render_emails(decisions_frame(), contexts, library)
    assert out["customer_id"].tolist() == ["cus_1", "cus_2", "cus_3"]
    anna = out.iloc[0]
    assert anna["subject"] == "Anna, picked for you"
    for name in ("Rain Jacket", "Trail Running Shoe", "Leather Boots"):
        assert name in anna["html"] and name in anna["text"]
    assert "Bought with Wool Socks" in anna["html"] and "Bought with Wool Socks" in anna["text"]
    assert "VIP10" in anna["html"]
    assert contexts["cus_1"]["unsubscribe_url"] in anna["text"]
    cleo = out.iloc[2]["html"]  # bestsellers block
    assert "#1 Bestseller" in cleo
    assert cleo.index("Canvas Tote") < cleo.index("Wool Socks") < cleo.index("Leather Boots")
    assert library.compile_count == 3


def test_build_10000_contexts_fast() -> None:
    rng = np.random.default_rng(7)
    n_customers, n_products = 10_000, 300
    pids = [f"P{i:04d}" for i in range(n_products)]
    products = pd.DataFrame({
        "product_id": pids, "name": [f"Product {i}" for i in range(n_products)],
        "category": [f"Cat{i % 12}" for i in range(n_products)], "brand": "B",
        "price": rng.uniform(5, 300, n_products).round(2), "currency": "EUR",
        "in_stock": rng.random(n_products) > 0.1, "url": [f"https://shop.example/p/{p}" for p in pids],
        "image_url": [f"https://cdn.shop.example/{p}.jpg" for p in pids],
    })
    cids = [f"cus_{i:06d}" for i in range(n_customers)]
    stocked = [p for p, ok in zip(pids, products["in_stock"], strict=True) if ok]
    reasons = ["bought with Product 1", "viewed with Product 2", "popular in Cat3", "popular in Cat4"]
    recommendations = pd.DataFrame({
        "customer_id": cids,
        "recommendations": [json.dumps([{"product_id": str(p), "reason": reasons[j % 4], "source": "popular",
                                         "anchor_product_id": None}
                                        for j, p in enumerate(rng.choice(stocked, 5, replace=False))]) for _ in cids],
    })
    bestsellers = pd.DataFrame({"customer_id": np.repeat(cids, 3), "product_id": stocked[:3] * n_customers,
                                "bestseller_rank": [1, 2, 3] * n_customers})
    features = pd.DataFrame({
        "customer_id": cids,
        "viewed_not_bought": [json.dumps(list(rng.choice(pids, rng.integers(0, 6)))) for _ in cids],
        "abandoned_cart_products": [json.dumps(list(rng.choice(pids, rng.integers(0, 3)))) for _ in cids],
    })
    profiles = pd.DataFrame({"customer_id": cids, "email": [f"{c}@example.com" for c in cids],
                             "first_name": [f"Name{i}" for i in range(n_customers)]})
    decisions = pd.DataFrame({
        "customer_id": cids, "campaign_id": CAMPAIGN, "send": [i % 10 != 0 for i in range(n_customers)],
        "subject": "{{ first_name }}, picked for you",
        "blocks": '{"hero":"hero_default","main":"product_recommendations"}',
        "params": '{"discount_percent": 10, "discount_code": "SPRING10"}',
    })
    start = time.perf_counter()
    contexts = build_render_contexts(decisions, profiles, features, products, recommendations, bestsellers,
                                     SETTINGS)
    elapsed = time.perf_counter() - start
    print(f"\nbuild_render_contexts: {len(contexts):,} contexts in {elapsed:.2f} s")
    assert len(contexts) == 9_000
    # 5 distinct in-stock recommendations each (the recommender's promise): always 3 products
    assert all(len(c["products"]) == 3 for c in contexts.values())
    assert all(len(c["bestsellers"]) == 3 for c in contexts.values())
    assert elapsed < 3.0
