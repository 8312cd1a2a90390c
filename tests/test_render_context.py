"""Tests for tailor.render_context with hand-made tiny frames."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tailor.render_context import RenderSettings, build_render_contexts
from tailor.rendering import TemplateLibrary, message_key, render_emails

TEMPLATES = Path(__file__).resolve().parents[1] / "email_templates"
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


def order_items_frame() -> pd.DataFrame:
    # (order_id, customer_id, status, product_id, quantity)
    rows = [
        ("O1", "cus_9", "completed", "P6", 10),
        ("O2", "cus_9", "completed", "P3", 5),
        ("O3", "cus_1", "completed", "P3", 1),  # Anna bought the socks
        ("O4", "cus_9", "completed", "P4", 4),
        ("O5", "cus_9", "completed", "P7", 3),
        ("O6", "cus_9", "completed", "P1", 2),
        ("O7", "cus_9", "completed", "P5", 50),  # bestseller but out of stock
        ("O8", "cus_9", "refunded", "P2", 100),  # refunded: does not count as sold
        ("O9", "cus_2", "completed", "P6", 1),
        ("O9", "cus_2", "completed", "P4", 1),
    ]
    frame = pd.DataFrame(rows, columns=["order_id", "customer_id", "status", "product_id", "quantity"])
    frame["line_no"] = frame.groupby("order_id").cumcount() + 1
    frame["unit_price"] = 10.0
    frame["line_total"] = frame["unit_price"] * frame["quantity"]
    return frame


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
        "top_category": ["Shoes", "Shoes", None],
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


@pytest.fixture(scope="module")
def contexts() -> dict:
    return build_render_contexts(decisions_frame(), profiles_frame(), features_frame(), products_frame(),
                                 order_items_frame(), SETTINGS)


def ids_and_reasons(items: list[dict]) -> list[tuple[str, str]]:
    return [(p["product_id"], p["reason"]) for p in items]


def test_only_send_true_customers_get_a_context(contexts: dict) -> None:
    assert list(contexts) == ["cus_1", "cus_2", "cus_3"]


def test_viewed_not_bought_first_then_category_bestsellers(contexts: dict) -> None:
    # P5 out of stock and P9 unknown are skipped; P3 (Shoes bestseller) was bought by Anna
    assert ids_and_reasons(contexts["cus_1"]["products"]) == [
        ("P2", "Because you viewed it"),
        ("P1", "Because you viewed it"),
        ("P4", "Popular in Shoes"),
    ]


def test_category_then_global_bestsellers_excluding_purchases(contexts: dict) -> None:
    # Ben bought P6 and P4; Shoes ranking is P3 (6 units), P4 (5), P1 (2); P5 is out of stock
    assert ids_and_reasons(contexts["cus_2"]["products"]) == [
        ("P3", "Popular in Shoes"),
        ("P1", "Popular in Shoes"),
        ("P7", "Bestseller"),
    ]


def test_customer_without_features_gets_global_bestsellers(contexts: dict) -> None:
    cleo = contexts["cus_3"]
    assert ids_and_reasons(cleo["products"]) == [("P6", "Bestseller"), ("P3", "Bestseller"), ("P4", "Bestseller")]
    assert cleo["first_name"] == "there"
    assert cleo["subject"] == "Welcome, there"


def test_bestsellers_rank_by_units_completed_orders_only(contexts: dict) -> None:
    # P2 had 100 refunded units, P5 is out of stock: neither is a bestseller
    assert [p["product_id"] for p in contexts["cus_3"]["bestsellers"]] == ["P6", "P3", "P4"]
    assert [p["product_id"] for p in contexts["cus_1"]["bestsellers"]] == ["P6", "P4", "P7"]  # P3 bought
    assert all(p["reason"] == "Bestseller" for p in contexts["cus_1"]["bestsellers"])


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
    ctx = build_render_contexts(decisions_frame().iloc[:1], profiles_frame(), features_frame(), products_frame(),
                                order_items_frame(), settings)
    assert ctx["cus_1"]["unsubscribe_url"] == f"https://shop.example/u?lang=de&m={message_key(CAMPAIGN, 'cus_1')}"


def test_order_items_without_customer_id_warns_and_cannot_exclude_purchases() -> None:
    items = order_items_frame().drop(columns=["customer_id"])
    with pytest.warns(UserWarning, match="order_items has no customer_id column"):
        ctx = build_render_contexts(decisions_frame(), profiles_frame(), features_frame(), products_frame(), items,
                                    SETTINGS)
    # Anna's bought socks (P3) are no longer known as bought
    assert ids_and_reasons(ctx["cus_1"]["products"])[2] == ("P3", "Popular in Shoes")


def test_contexts_render_end_to_end(contexts: dict) -> None:
    library = TemplateLibrary.load(TEMPLATES)
    out = render_emails(decisions_frame(), contexts, library)
    assert out["customer_id"].tolist() == ["cus_1", "cus_2", "cus_3"]
    anna = out.iloc[0]
    assert anna["subject"] == "Anna, picked for you"
    for name in ("Rain Jacket", "Trail Running Shoe", "Leather Boots"):
        assert name in anna["html"] and name in anna["text"]
    assert "VIP10" in anna["html"]
    assert contexts["cus_1"]["unsubscribe_url"] in anna["text"]
    assert "Canvas Tote" in out.iloc[2]["html"]  # bestsellers block for Cleo
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
    n_items = 60_000
    order_items = pd.DataFrame({
        "order_id": [f"O{i // 2}" for i in range(n_items)],
        "customer_id": rng.choice(cids, n_items), "status": "completed",
        "product_id": rng.choice(pids, n_items), "quantity": rng.integers(1, 4, n_items),
    })
    features = pd.DataFrame({
        "customer_id": cids,
        "viewed_not_bought": [json.dumps(list(rng.choice(pids, rng.integers(0, 6)))) for _ in cids],
        "abandoned_cart_products": [json.dumps(list(rng.choice(pids, rng.integers(0, 3)))) for _ in cids],
        "top_category": [f"Cat{i % 12}" if i % 5 else None for i in range(n_customers)],
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
    contexts = build_render_contexts(decisions, profiles, features, products, order_items, SETTINGS)
    elapsed = time.perf_counter() - start
    print(f"\nbuild_render_contexts: {len(contexts):,} contexts in {elapsed:.2f} s")
    assert len(contexts) == 9_000
    assert all(len(c["products"]) == 3 for c in contexts.values())
    assert elapsed < 3.0
