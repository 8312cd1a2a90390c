"""product_recommendations on a tiny hand-made data set (as_of 2024-06-30 12:00 UTC), DuckDB and fakesnow paths.

Products: P1 Shoes (shoes), P2 Shirt, P3 Hat (apparel), P4 Bag (bags), P5 Socks (apparel, OUT OF STOCK),
P6 Watch, P7 Belt (accessories).

Completed purchases up to as_of: c1 {P1, P2}, c2 {P1, P2, P3}, c3 {P1, P3, P5}, c4 {P6}. Ignored: c1's cancelled P4,
c4's P7 bought after as_of.
Co-purchase (customers who bought both): P1-P2 = 2 (c1, c2), P1-P3 = 2 (c2, c3), P2-P3 = 1, P1-P5 = P3-P5 = 1.
With min_support 2 only P1-P2 and P1-P3 count.

Product-view sessions in the 90-day window: S1 (anonymous) {P4, P6}, S2 (c6) {P4, P6, P7}, S3 (c6) {P6, P7},
S4 and S5 (anonymous) {P4, P5}, S6 (c4) {P4}; S0 {P6, P7} is 120 days old (outside the window).
Co-view (sessions): P4-P6 = 2, P6-P7 = 2, P4-P7 = 1, P4-P5 = 2 (but P5 is out of stock).

Popularity (distinct buyers, in stock): P1 3, P2 2, P3 2, P6 1 (P5 is out of stock) -> P1, P2, P3, P6.
top_category (customer_features): c1 apparel, c2 none, c3 shoes, c4 accessories, c5 accessories, c6 accessories.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from tailor.models.recommendation_sql import naive_recommendations_sql, recommendations_sql
from tailor.models.recommendations import ProductRecommendationsSchema, compute_recommendations, pack_recommendations
from tests.tables import query, query_on_fakesnow, read_table, write_table

AS_OF = datetime(2024, 6, 30, 12, 0, 0)
T = pd.Timestamp
CUSTOMERS = [f"cus_00000{i}" for i in range(1, 7)]


def tables(p5_in_stock: bool = False) -> dict[str, pd.DataFrame]:
    ids = CUSTOMERS
    links = pd.DataFrame({"source": "crm", "source_record_id": [c.replace("cus_", "CRM-") for c in ids],
                          "customer_id": ids, "rule": "single_record", "score": 1.0})
    profiles = pd.DataFrame({"customer_id": ids})
    features = pd.DataFrame({"customer_id": ids,
                             "top_category": ["apparel", None, "shoes", "accessories", "accessories", "accessories"]})
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
            "name": ["Shoes", "Shirt", "Hat", "Bag", "Socks", "Watch", "Belt"],
            "category": ["shoes", "apparel", "apparel", "bags", "apparel", "accessories", "accessories"],
            "brand": "B",
            "price": [50.0, 20.0, 15.0, 80.0, 5.0, 120.0, 25.0],
            "currency": "EUR",
            "in_stock": [True, True, True, True, p5_in_stock, True, True],
        }
    )
    order_rows = [
        # order_id, customer_ref, ordered_at, status, products
        ("O1", "CRM-000001", "2024-03-01 10:00", "completed", ["P1", "P2"]),
        ("O2", "CRM-000001", "2024-04-01 10:00", "cancelled", ["P4"]),
        ("O3", "CRM-000002", "2024-03-02 10:00", "completed", ["P1"]),
        ("O4", "CRM-000002", "2024-05-02 10:00", "completed", ["P2", "P3"]),
        ("O5", "CRM-000003", "2024-03-03 10:00", "completed", ["P1", "P3", "P5"]),
        ("O6", "CRM-000004", "2024-06-01 10:00", "completed", ["P6"]),
        ("O7", "CRM-000004", "2024-07-05 10:00", "completed", ["P7"]),  # after as_of
    ]
    orders = pd.DataFrame(
        [(o, c, T(t), "EUR", s, 10.0 * len(p), 10.0 * len(p), len(p)) for o, c, t, s, p in order_rows],
        columns=["order_id", "customer_ref", "ordered_at", "currency", "status", "order_total", "order_total_eur",
                 "item_count"],
    )
    items = pd.DataFrame(
        [(o, i + 1, pid, 1, 10.0, 10.0, 10.0) for o, _, _, _, p in order_rows for i, pid in enumerate(p)],
        columns=["order_id", "line_no", "product_id", "quantity", "unit_price", "line_total", "line_total_eur"],
    )
    views = [
        # session, customer_ref (None = anonymous), product, occurred_at
        ("S0", "CRM-000006", "P6", "2024-03-02 10:00"), ("S0", "CRM-000006", "P7", "2024-03-02 10:05"),  # 120 days
        ("S1", None, "P4", "2024-06-01 10:00"), ("S1", None, "P6", "2024-06-01 10:01"),
        ("S2", "CRM-000006", "P4", "2024-06-10 10:00"), ("S2", "CRM-000006", "P6", "2024-06-10 10:01"),
        ("S2", "CRM-000006", "P7", "2024-06-10 10:02"), ("S2", "CRM-000006", "P7", "2024-06-10 10:03"),  # twice
        ("S3", "CRM-000006", "P6", "2024-06-20 10:00"), ("S3", "CRM-000006", "P7", "2024-06-20 10:01"),
        ("S4", None, "P4", "2024-06-21 10:00"), ("S4", None, "P5", "2024-06-21 10:01"),
        ("S5", None, "P4", "2024-06-22 10:00"), ("S5", None, "P5", "2024-06-22 10:01"),
        ("S6", "CRM-000004", "P4", "2024-06-23 10:00"),
    ]
    web = pd.DataFrame(
        [(f"E{i}", c, f"anon-{s}", "product_view", p, T(t), "web", s) for i, (s, c, p, t) in enumerate(views)],
        columns=["event_id", "customer_ref", "anonymous_id", "event_type", "product_id", "occurred_at", "platform",
                 "session_id"],
    )
    # an add_to_cart (not a view) in S1 does not count as a co-view
    web.loc[len(web)] = ["E99", None, "anon-S1", "add_to_cart", "P7", T("2024-06-01 10:02"), "web", "S1"]
    return {"customer_identity_links": links, "customer_profiles": profiles, "customer_features": features,
            "products": products, "orders": orders, "order_items": items, "web_events": web}


EXPECTED = {
    # c1 bought P1, P2: P3 was bought by 2 other P1 buyers; then the most popular product it lacks (P6)
    "cus_000001": [("P3", "bought with Shoes", "bought_with", "P1"), ("P6", "popular in accessories", "popular", None)],
    # c2 bought every co-purchased product and has no top category: the shop-wide bestseller it lacks
    "cus_000002": [("P6", "popular in accessories", "popular", None)],
    "cus_000003": [("P2", "bought with Shoes", "bought_with", "P1"), ("P6", "popular in accessories", "popular", None)],
    # c4 viewed P4, whose only in-stock co-view neighbour (P6) c4 bought; P7 was bought after as_of: no buyers
    "cus_000004": [("P1", "popular in shoes", "popular", None), ("P2", "popular in apparel", "popular", None),
                   ("P3", "popular in apparel", "popular", None)],
    # c5 bought and viewed nothing: the bestseller of its top category first, then the shop's
    "cus_000005": [("P6", "popular in accessories", "popular_in_category", None),
                   ("P1", "popular in shoes", "popular", None), ("P2", "popular in apparel", "popular", None),
                   ("P3", "popular in apparel", "popular", None)],
    # c6 viewed P4, P6, P7: P4 (co-viewed with P6, 2 sessions), P6 (with P4 or P7, 2 each: anchor P4 first by id),
    # P7 (with P6); then P6 would be "popular in accessories" (already in); then shop-wide P1, P2
    "cus_000006": [("P4", "viewed with Watch", "viewed_with", "P6"), ("P6", "viewed with Bag", "viewed_with", "P4"),
                   ("P7", "viewed with Watch", "viewed_with", "P6"), ("P1", "popular in shoes", "popular", None),
                   ("P2", "popular in apparel", "popular", None)],
}


def as_tuples(recs: pd.DataFrame) -> dict[str, list[tuple]]:
    return {
        row.customer_id: [(i["product_id"], i["reason"], i["source"], i["anchor_product_id"])
                          for i in json.loads(row.recommendations)]
        for row in recs.itertuples(index=False)
    }


def run(warehouse, data=None, **kwargs) -> pd.DataFrame:
    for name, df in (data or tables()).items():
        write_table(warehouse, name, df)
    with warehouse.session() as session:
        out = compute_recommendations(session, CUSTOMERS, AS_OF, **kwargs)
    ProductRecommendationsSchema.validate(out)
    return out


def test_recommendations_hand_checked(warehouse):
    out = run(warehouse)
    assert as_tuples(out) == EXPECTED
    by = out.set_index("customer_id")
    assert by.loc["cus_000006", "recommended_products"] == '["P4","P6","P7","P1","P2"]'
    assert by["recommendation_count"].tolist() == [2, 1, 2, 3, 4, 5]
    assert (out["as_of"] == T(AS_OF)).all()


def test_never_bought_never_out_of_stock(warehouse):
    data = tables()
    out = run(warehouse, data)
    bought = {"cus_000001": {"P1", "P2"}, "cus_000002": {"P1", "P2", "P3"}, "cus_000003": {"P1", "P3", "P5"},
              "cus_000004": {"P6"}}
    for row in out.itertuples(index=False):
        products = json.loads(row.recommended_products)
        assert not set(products) & bought.get(row.customer_id, set())
        assert "P5" not in products
    # back in stock, Socks is co-viewed with the Bag in 2 sessions: c4 (viewed the Bag) is offered it first
    restocked = as_tuples(run(warehouse, tables(p5_in_stock=True)))
    assert restocked["cus_000004"][0] == ("P5", "viewed with Bag", "viewed_with", "P4")


def test_limits_and_support(warehouse):
    two = as_tuples(run(warehouse, max_products=2))
    assert two["cus_000006"] == EXPECTED["cus_000006"][:2]
    # min_support 1: a single shared session is enough: c4 viewed the Bag, co-viewed once with the Belt (S2)
    loose = as_tuples(run(warehouse, min_support=1))
    assert loose["cus_000004"][0] == ("P7", "viewed with Bag", "viewed_with", "P4")
    # a 130-day window brings session S0 in: P6-P7 co-viewed in 3 sessions, so for c6 the Watch (best anchor now
    # the Belt, 3) and the Belt (3) rank above the Bag (2)
    wide = as_tuples(run(warehouse, view_window_days=130))
    assert wide["cus_000006"][:3] == [("P6", "viewed with Belt", "viewed_with", "P7"),
                                      ("P7", "viewed with Watch", "viewed_with", "P6"),
                                      ("P4", "viewed with Watch", "viewed_with", "P6")]
    with pytest.raises(ValueError, match="max_products must be a whole number >= 1, got 0"):
        recommendations_sql(AS_OF, max_products=0)


def test_nothing_after_as_of_is_used(warehouse):
    data = tables()
    late = data["orders"].iloc[[0]].assign(order_id="O99", customer_ref="CRM-000005", ordered_at=T("2024-07-01"))
    data["orders"] = pd.concat([data["orders"], late], ignore_index=True)
    data["order_items"] = pd.concat(
        [data["order_items"], data["order_items"].iloc[[0]].assign(order_id="O99", product_id="P6")], ignore_index=True)
    web = data["web_events"]
    data["web_events"] = pd.concat(
        [web, web.iloc[[2, 3]].assign(event_id=["L1", "L2"], session_id="S9", occurred_at=T("2024-07-01"))],
        ignore_index=True)
    assert as_tuples(run(warehouse, data)) == EXPECTED


def test_pack_keeps_every_customer_and_checks_duplicates():
    long = pd.DataFrame({"customer_id": ["b", "b"], "rec_rank": [2, 1], "product_id": ["P2", "P1"],
                         "source": ["popular", "bought_with"], "anchor_product_id": [None, "P9"],
                         "reason": ["popular in x", "bought with Y"], "score": [1, 2]})
    out = pack_recommendations(long, ["b", "a"], AS_OF)
    assert out["customer_id"].tolist() == ["a", "b"]
    assert out["recommended_products"].tolist() == ["[]", '["P1","P2"]']
    assert json.loads(out["recommendations"].iloc[1])[0] == {
        "product_id": "P1", "reason": "bought with Y", "source": "bought_with", "anchor_product_id": "P9"}
    ProductRecommendationsSchema.validate(out)
    with pytest.raises(ValueError, match="customer_id 'a' appears more than once"):
        pack_recommendations(long, ["a", "a"], AS_OF)


def test_sql_runs_unchanged_on_snowflake_through_fakesnow(warehouse):
    pytest.importorskip("fakesnow")
    raw = query_on_fakesnow(tables(), recommendations_sql(AS_OF))
    assert as_tuples(pack_recommendations(raw, CUSTOMERS, AS_OF)) == EXPECTED


def test_product_recommendations_asset(warehouse):
    from dagster import materialize

    from assets.models import ASSETS

    for name, df in tables().items():
        write_table(warehouse, name, df)
    asset = [a for a in ASSETS if a.key.path[-1] == "product_recommendations"]
    result = materialize(asset, resources={"warehouse": warehouse}, run_config={
        "ops": {"product_recommendations": {"config": {"as_of": AS_OF.isoformat(), "max_products": 5}}}})
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    assert as_tuples(read_table(warehouse, "product_recommendations")) == EXPECTED
    meta = result.asset_materializations_for_node("product_recommendations")[0].metadata
    assert meta["bought_with"].value == 2 and meta["viewed_with"].value == 3 and meta["popular"].value == 12


def random_shop(seed: int) -> dict[str, pd.DataFrame]:
    """A shop where the trimming of recommendations_sql matters: heavy buyers (up to 14 of 24 products), skewed
    popularity (ties in scores), out-of-stock products, products sold but not in the catalogue, customers with no
    features, anonymous sessions, orders after as_of and views outside the window."""
    rng = np.random.default_rng(seed)
    n_customers, n_products = 120, 24
    ids = [f"cus_{i:06d}" for i in range(n_customers)]
    refs = [f"CRM-{i:06d}" for i in range(n_customers)]
    products = pd.DataFrame({
        "product_id": [f"P{i:02d}" for i in range(n_products)],
        "name": [f'Name "{i}" ü' for i in range(n_products)],  # JSON escaping of the reasons
        "category": [f"cat{i % 3}" for i in range(n_products)],
        "brand": "B", "price": 10.0, "currency": "EUR",
        "in_stock": [i % 7 != 3 for i in range(n_products)],
    })
    weights = 1.0 / np.arange(1, n_products + 3) ** 0.8  # two more products, unknown to the catalogue
    weights /= weights.sum()
    names = [f"P{i:02d}" for i in range(n_products + 2)]
    orders, items = [], []
    for c in range(n_customers):
        for o in range(int(rng.choice([0, 1, 2, 4, 7], p=[0.25, 0.3, 0.2, 0.15, 0.1]))):
            oid = f"O{c}-{o}"
            when = T("2024-01-01") + pd.Timedelta(days=int(rng.integers(0, 200)))  # some after as_of
            status = "completed" if rng.random() < 0.9 else "cancelled"
            picked = rng.choice(names, size=int(rng.integers(1, 4)), replace=False, p=weights)
            orders.append((oid, refs[c], when, "EUR", status, 10.0, 10.0, len(picked)))
            items += [(oid, i + 1, p, 1, 10.0, 10.0, 10.0) for i, p in enumerate(picked)]
    events = []
    for s in range(300):
        who = refs[int(rng.integers(0, n_customers))] if rng.random() < 0.6 else None
        when = T("2024-06-29") - pd.Timedelta(days=int(rng.integers(0, 120)))
        for p in rng.choice(names, size=int(rng.integers(1, 5)), replace=False, p=weights):
            events.append((f"E{len(events)}", who, f"anon-{s}", "product_view", p, when, "web", f"S{s}"))
    tables_ = tables()
    tables_.update(
        customer_identity_links=pd.DataFrame({"source": "crm", "source_record_id": refs, "customer_id": ids,
                                              "rule": "single_record", "score": 1.0}),
        customer_profiles=pd.DataFrame({"customer_id": ids}),
        customer_features=pd.DataFrame({"customer_id": ids[:100],
                                        "top_category": [None if i % 5 == 0 else f"cat{i % 4}" for i in range(100)]}),
        products=products,
        orders=pd.DataFrame(orders, columns=tables_["orders"].columns),
        order_items=pd.DataFrame(items, columns=tables_["order_items"].columns),
        web_events=pd.DataFrame(events, columns=tables_["web_events"].columns),
    )
    return tables_


@pytest.mark.parametrize("seed", [1, 2])
def test_trimmed_sql_gives_the_rows_of_the_plain_definition(warehouse, monkeypatch, seed):
    # short neighbour lists (4) so that lists are cut, tiers run out and later tiers are needed
    monkeypatch.setattr("tailor.models.recommendation_sql.NEIGHBOURS_PER_PRODUCT", 4)
    for name, df in random_shop(seed).items():
        write_table(warehouse, name, df)
    ids = query(warehouse, "SELECT customer_id FROM customer_profiles")["customer_id"]
    sources_seen = set()
    for options in ({}, {"max_products": 1}, {"max_products": 3, "min_support": 1}, {"max_products": 8},
                    {"min_support": 3, "view_window_days": 30}):
        order = ["customer_id", "rec_rank"]
        fast = query(warehouse, recommendations_sql(AS_OF, **options)).sort_values(order, ignore_index=True)
        plain = query(warehouse, naive_recommendations_sql(AS_OF, **options)).sort_values(order, ignore_index=True)
        pd.testing.assert_frame_equal(fast, plain, check_dtype=False)
        with warehouse.session() as session:
            packed = compute_recommendations(session, ids, AS_OF, **options)
        ProductRecommendationsSchema.validate(packed)
        reference = plain.groupby("customer_id")["product_id"].agg(list).to_dict()
        assert {c: json.loads(p) for c, p in zip(packed["customer_id"], packed["recommended_products"])} == {
            c: reference.get(c, []) for c in ids}
        sources_seen |= set(plain["source"])
    # every tier was reached, so every trimming rule was exercised
    assert sources_seen == {"bought_with", "viewed_with", "popular_in_category", "popular"}


def test_pack_encodes_like_json_dumps():
    long = pd.DataFrame({
        "CUSTOMER_ID": ["x", "y", "x", "y", "x"], "REC_RANK": [2, 1, 1, 2, 3],
        "PRODUCT_ID": ["P2", "P1", "P1", "P3", "P4"],
        "SOURCE": ["viewed_with", "bought_with", "bought_with", "popular", "popular"],
        "ANCHOR_PRODUCT_ID": ["P9", "P8", "P8", None, np.nan],
        "REASON": ['viewed with Sh"oe\\ é', "bought with A\nB", "bought with A\nB", "popular in x", "popular in x"],
        "SCORE": [3, 4, 4, 9, 8],
    }).rename(columns=str.lower)  # Snowflake's names, folded to lower case as SnowflakeSession.query returns them
    out = pack_recommendations(long, ["y", "x", "z"], AS_OF).set_index("customer_id")
    expect_x = [{"product_id": "P1", "reason": "bought with A\nB", "source": "bought_with", "anchor_product_id": "P8"},
                {"product_id": "P2", "reason": 'viewed with Sh"oe\\ é', "source": "viewed_with",
                 "anchor_product_id": "P9"},
                {"product_id": "P4", "reason": "popular in x", "source": "popular", "anchor_product_id": None}]
    assert out.loc["x", "recommendations"] == json.dumps(expect_x, separators=(",", ":"), ensure_ascii=False)
    assert out.loc["x", "recommended_products"] == '["P1","P2","P4"]'
    assert out.loc["y", "recommended_products"] == '["P1","P3"]'
    assert out.loc["z", "recommendations"] == "[]" and out.loc["z", "recommendation_count"] == 0
    assert out["recommendation_count"].tolist() == [3, 2, 0]


def test_recommendation_figures_count_customers_and_sources(warehouse):
    from tailor.models.recommendations import recommendation_figures

    recs = run(warehouse)
    sources = [i["source"] for items in recs["recommendations"] for i in json.loads(items)]
    assert recommendation_figures(recs) == {
        "customers_with_recommendations": 6,
        "mean_recommendations": pytest.approx(17 / 6),  # 2 + 1 + 2 + 3 + 4 + 5
        "bought_with": sources.count("bought_with"),
        "viewed_with": sources.count("viewed_with"),
        "popular": sources.count("popular") + sources.count("popular_in_category"),  # both popularity tiers
    }
    assert recommendation_figures(recs)["bought_with"] == 2 and recommendation_figures(recs)["popular"] == 12
    empty = pack_recommendations(pd.DataFrame(columns=["customer_id", "rec_rank", "product_id", "source",
                                                       "anchor_product_id", "reason"]), ["a"], AS_OF)
    assert recommendation_figures(empty) == {"customers_with_recommendations": 0, "mean_recommendations": 0.0,
                                             "bought_with": 0, "viewed_with": 0, "popular": 0}
    assert recommendation_figures(empty.iloc[0:0])["mean_recommendations"] == 0.0
