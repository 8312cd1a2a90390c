"""customer_features on a tiny hand-made data set: DuckDB (sqlglot-transpiled) and Snowflake (fakesnow) paths.

as_of = 2024-06-30 12:00:00 UTC. Windows: product views [2024-05-31 12:00:00, as_of];
abandoned carts: add_to_cart in [2024-06-23 12:00:00, 2024-06-30 11:00:00].
"""

from __future__ import annotations

import json
import math
import warnings
from datetime import datetime, timedelta, timezone

import duckdb
import numpy as np
import pandas as pd
import pytest
import sqlglot
from sqlglot import exp

from tailor.features.customer_features import (
    FEATURE_COLUMNS,
    SQL_COLUMNS,
    CustomerFeaturesSchema,
    compute_customer_features,
    finalize_features,
)
from tailor.features.priors import fit_beta_prior, smoothed_rate
from tailor.features.send_hour import preferred_send_hours
from tailor.features.settings import DEFAULT_SEND_HOUR
from tailor.features.sql import customer_features_sql
from tailor.warehouse.duckdb_connection import DuckDBSession
from tailor.warehouse.snowflake_connection import SnowflakeSession

AS_OF = datetime(2024, 6, 30, 12, 0, 0)
T = pd.Timestamp


def base_tables() -> dict[str, pd.DataFrame]:
    profiles = pd.DataFrame(
        {
            "customer_id": ["cus_000001", "cus_000002", "cus_000003", "cus_000004"],
            "email": ["anna@example.com", "ben@example.com", "cara@example.com", None],
            "first_name": ["Anna", "Ben", "Cara", "Dave"],
            "country": ["DE", "AT", "DE", "FR"],
            "created_at": [T("2023-01-01 00:00:00"), T("2024-06-01 12:00:00"), T("2024-06-29 00:00:00"),
                           T("2024-07-15 00:00:00")],  # Dave is created after as_of
            # Anna CEST (UTC+2 in June), Ben IST (UTC+05:30), Cara unknown (-> UTC), Dave EDT (UTC-4)
            "timezone": ["Europe/Berlin", "Asia/Kolkata", None, "America/New_York"],
            "source_record_count": [2, 1, 1, 1],
        }
    )
    links = pd.DataFrame(
        {
            "source": ["crm"] * 5,
            # Anna is a duplicate-record customer: CRM-000001 and CRM-000007 are merged into cus_000001
            "source_record_id": ["CRM-000001", "CRM-000007", "CRM-000002", "CRM-000003", "CRM-000004"],
            "customer_id": ["cus_000001", "cus_000001", "cus_000002", "cus_000003", "cus_000004"],
            "rule": ["email_exact", "email_exact", "single", "single", "single"],
            "score": [1.0, 1.0, 1.0, 1.0, 1.0],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4", "P5", "P6", "P7"],
            "name": ["Shoes", "Shirt", "Hat", "Bag", "Socks", "Watch", "Belt"],
            "category": ["shoes", "apparel", "apparel", "bags", "apparel", "accessories", "accessories"],
            "brand": ["Nordi", "Kova", "Kova", "Lumo", "Kova", "Lumo", None],
            # list prices: P1 60 (Anna paid 50 in O1: discounted), P4 80.50 (paid 80: within the 1 % tolerance)
            "price": [60.0, 20.0, 15.0, 80.5, 5.0, 120.0, 25.0],
            "currency": ["EUR"] * 7,
            "in_stock": [True] * 7,
        }
    )
    orders = pd.DataFrame(
        [
            # order_id, customer_ref, ordered_at, currency, status, order_total, item_count, order_total_eur
            ("O1", "CRM-000001", T("2024-01-10 09:00:00"), "EUR", "completed", 70.0, 2, 70.0),
            ("O2", "CRM-000007", T("2024-01-10 18:00:00"), "EUR", "completed", 15.0, 1, 15.0),  # same day as O1
            ("O3", "CRM-000001", T("2024-06-20 08:00:00"), "EUR", "completed", 80.0, 1, 80.0),
            ("O4", "CRM-000007", T("2024-06-25 10:00:00"), "EUR", "cancelled", 120.0, 1, 120.0),
            # Ben pays in GBP: every money feature must use the EUR amount (40), not the GBP one (34)
            ("O5", "CRM-000002", T("2024-06-29 20:00:00"), "GBP", "completed", 34.0, 2, 40.0),
            ("O6", "CRM-000002", T("2024-07-01 10:00:00"), "EUR", "completed", 100.0, 2, 100.0),  # after as_of
            ("O7", "CRM-000003", T("2024-06-30 06:00:00"), "EUR", "refunded", 5.0, 1, 5.0),
            ("O8", "CRM-000004", T("2024-07-20 10:00:00"), "EUR", "completed", 80.0, 1, 80.0),  # after as_of
            ("O9", "CRM-000099", T("2024-06-01 10:00:00"), "EUR", "completed", 50.0, 1, 50.0),  # ref without a profile
        ],
        columns=["order_id", "customer_ref", "ordered_at", "currency", "status", "order_total", "item_count",
                 "order_total_eur"],
    )
    order_items = pd.DataFrame(
        [
            ("O1", 1, "P1", 1, 50.0, 50.0, 50.0),
            ("O1", 2, "P2", 1, 20.0, 20.0, 20.0),
            ("O2", 1, "P3", 1, 15.0, 15.0, 15.0),
            ("O3", 1, "P4", 1, 80.0, 80.0, 80.0),
            ("O4", 1, "P6", 1, 120.0, 120.0, 120.0),
            ("O5", 1, "P2", 2, 17.0, 34.0, 40.0),  # GBP 17 x 2 = EUR 40 (list 20 x 2: not discounted)
            ("O6", 1, "P1", 2, 50.0, 100.0, 100.0),
            ("O7", 1, "P5", 1, 5.0, 5.0, 5.0),
            ("O8", 1, "P4", 1, 80.0, 80.0, 80.0),
            ("O9", 1, "P1", 1, 50.0, 50.0, 50.0),
        ],
        columns=["order_id", "line_no", "product_id", "quantity", "unit_price", "line_total", "line_total_eur"],
    )
    web = pd.DataFrame(
        [
            # event_id, customer_ref, event_type, product_id, occurred_at, session_id
            ("E01", "CRM-000001", "product_view", "P2", T("2024-06-28 10:00:00"), "sa1"),
            ("E02", "CRM-000007", "product_view", "P6", T("2024-06-29 09:00:00"), "sa2"),
            ("E03", "CRM-000001", "product_view", "P5", T("2024-06-10 12:00:00"), "sa3"),
            ("E04", "CRM-000001", "product_view", "P6", T("2024-06-05 08:00:00"), "sa4"),
            ("E05", "CRM-000007", "product_view", "P7", T("2024-05-31 11:59:59"), "sa0"),  # 1 s before the 30 d window
            ("E06", "CRM-000001", "add_to_cart", "P4", T("2024-06-19 10:00:00"), "sa5"),  # before the 7 d window
            ("E07", "CRM-000007", "add_to_cart", "P1", T("2024-06-24 09:00:00"), "sa6"),
            ("E08", "CRM-000001", "product_view", "P1", T("2024-07-02 10:00:00"), "sa9"),  # after as_of
            ("E09", "CRM-000001", "page_view", None, T("2024-06-30 09:00:00"), None),  # no session id
            ("E10", "CRM-000007", "add_to_cart", "P2", T("2024-06-30 11:00:00"), "sa7"),  # exactly as_of - 1 h
            ("E11", "CRM-000001", "product_view", "P3", T("2024-05-31 12:00:00"), "sa0"),  # exactly as_of - 30 d
            ("B01", "CRM-000002", "add_to_cart", "P2", T("2024-06-29 19:00:00"), "sb1"),
            ("B02", "CRM-000002", "add_to_cart", "P3", T("2024-06-30 11:30:00"), "sb2"),  # within the last hour
            ("B03", "CRM-000002", "product_view", "P4", T("2024-06-29 18:00:00"), "sb1"),
            ("B04", "CRM-000002", "product_view", "P3", T("2024-06-30 11:20:00"), "sb2"),
            ("B05", "CRM-000002", "add_to_cart", "P5", T("2024-06-29 20:00:00"), "sb1"),  # same instant as order O5
            ("B06", "CRM-000002", "checkout_started", None, T("2024-06-29 19:30:00"), "sb1"),
            ("C01", "CRM-000003", "product_view", "P6", T("2024-06-29 09:00:00"), "sc1"),
            ("C02", "CRM-000003", "product_view", "P6", T("2024-06-29 10:00:00"), "sc1"),
            ("C02", "CRM-000003", "product_view", "P6", T("2024-06-29 10:00:00"), "sc1"),  # duplicate record
            ("C03", "CRM-000003", "product_view", "P4", T("2024-06-29 11:00:00"), "sc1"),
            ("C04", "CRM-000003", "add_to_cart", "P6", T("2024-06-29 12:00:00"), "sc2"),
            ("C05", "CRM-000003", "add_to_cart", "P4", T("2024-06-23 12:00:00"), "sc3"),  # exactly as_of - 7 d
            ("C06", "CRM-000003", "add_to_cart", "P5", T("2024-06-23 11:59:59"), "sc4"),  # 1 s before the 7 d window
            ("D01", "CRM-000004", "product_view", "P1", T("2024-06-30 12:00:00"), "sd1"),  # exactly as_of
            ("D02", "CRM-000004", "product_view", "P2", T("2024-07-16 10:00:00"), "sd2"),  # after as_of
            ("A01", None, "product_view", "P6", T("2024-06-30 10:00:00"), "sx"),  # anonymous
            ("A02", None, "add_to_cart", "P6", T("2024-06-30 10:01:00"), "sx"),  # anonymous
        ],
        columns=["event_id", "customer_ref", "event_type", "product_id", "occurred_at", "session_id"],
    )
    web["anonymous_id"] = [f"anon-{i % 3}" for i in range(len(web))]
    web["platform"] = "web"
    email = pd.DataFrame(
        [
            # event_id, message_id, email, event_type, occurred_at
            ("ev01", "M1", "anna@example.com", "delivered", T("2024-06-01 10:00:00")),
            ("ev02", "M1", " Anna@Example.com ", "open", T("2024-06-01 11:00:00")),
            ("ev03", "M1", "anna@example.com", "open", T("2024-06-02 09:00:00")),  # repeat open, same message
            ("ev04", "M1", "anna@example.com", "click", T("2024-06-01 11:05:00")),
            ("ev05", "M2", "ANNA@EXAMPLE.COM", "delivered", T("2024-06-15 10:00:00")),
            ("ev06", "M3", "anna@example.com", "delivered", T("2024-06-29 10:00:00")),
            ("ev07", "M3", "anna@example.com", "open", T("2024-06-30 11:15:00")),
            ("ev08", "M3", "anna@example.com", "click", T("2024-06-30 12:00:01")),  # 1 s after as_of
            ("ev09", "M4", "anna@example.com", "delivered", T("2024-07-01 10:00:00")),  # after as_of
            ("ev10", "M4", "anna@example.com", "open", T("2024-07-01 11:00:00")),  # after as_of
            ("ev11", "M6", "ben@example.com", "open", T("2024-06-10 09:00:00")),  # open without a delivered event
            ("ev12", "M5", "cara@example.com", "delivered", T("2024-06-29 08:00:00")),
            ("ev13", "M7", "cara@example.com", "bounce", T("2024-06-29 08:30:00")),
            ("ev14", "M8", "unknown@example.com", "delivered", T("2024-06-20 08:00:00")),
            ("ev15", "M8", "unknown@example.com", "open", T("2024-06-20 09:00:00")),
        ],
        columns=["event_id", "message_id", "email", "event_type", "occurred_at"],
    )
    email["url"] = np.where(email["event_type"] == "click", "https://shop.example/p", None)
    email["campaign_id"] = "spring"
    return {
        "customer_profiles": profiles,
        "customer_identity_links": links,
        "products": products,
        "orders": orders,
        "order_items": order_items,
        "web_events": web,
        "email_events": email,
    }


def with_rows_after_as_of(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Everything that would change every feature of every customer if it leaked (all strictly after AS_OF).

    Late orders (completed, discounted P6, new brand/category mix -> RFM, affinities, discounts, spend), late
    web events of every type in a new session (views, sessions, intent, carts), late email messages with
    opens and clicks at an hour nobody else uses (counts, rates, priors, preferred send hour).
    """
    t = {k: v.copy() for k, v in tables.items()}
    after = [T(AS_OF) + timedelta(seconds=1), T(AS_OF) + timedelta(days=3)]
    refs = ["CRM-000001", "CRM-000007", "CRM-000002", "CRM-000003", "CRM-000004"]
    orders, items, web, email = [], [], [], []
    for i, ref in enumerate(refs):
        for j, ts in enumerate(after):
            oid = f"LATE-{i}-{j}"
            orders.append(dict(order_id=oid, customer_ref=ref, ordered_at=ts, currency="EUR", status="completed",
                               order_total=180.0 + 100 * i, item_count=2, order_total_eur=180.0 + 100 * i))
            items.append(dict(order_id=oid, line_no=1, product_id="P6", quantity=1, unit_price=100.0,
                              line_total=100.0, line_total_eur=100.0))  # list 120: discounted
            items.append(dict(order_id=oid, line_no=2, product_id="P7", quantity=1, unit_price=80.0 + 100 * i,
                              line_total=80.0 + 100 * i, line_total_eur=80.0 + 100 * i))
            for k, (etype, pid) in enumerate(
                [("product_view", "P7"), ("add_to_cart", "P7"), ("page_view", None), ("checkout_started", None)]
            ):
                web.append(dict(event_id=f"LW-{i}-{j}-{k}", customer_ref=ref, event_type=etype, product_id=pid,
                                occurred_at=ts, session_id=f"late-{i}-{j}", anonymous_id="anon-x", platform="web"))
    for i, addr in enumerate(["anna@example.com", "ben@example.com", "cara@example.com"]):
        for j, ts in enumerate(after):
            for etype in ("processed", "delivered", "open", "click", "open"):
                email.append(dict(event_id=f"LE-{i}-{j}-{etype}-{len(email)}", message_id=f"LM-{i}-{j}",
                                  email=addr, event_type=etype, occurred_at=ts + timedelta(hours=5), url=None,
                                  campaign_id="late"))
    for name, rows in (("orders", orders), ("order_items", items), ("web_events", web), ("email_events", email)):
        late = pd.DataFrame(rows)[t[name].columns]
        t[name] = pd.concat([t[name], late], ignore_index=True)
    return t


def duckdb_session(tables: dict[str, pd.DataFrame]) -> DuckDBSession:
    """The tables in an in-memory DuckDB, as the warehouse session the features are computed in."""
    session = DuckDBSession(duckdb.connect())
    for name, df in tables.items():
        session.write_table(name, df)
    return session


def run_duckdb(tables: dict[str, pd.DataFrame], as_of: datetime = AS_OF, **kwargs) -> pd.DataFrame:
    return compute_customer_features(duckdb_session(tables), as_of, **kwargs)


def run_fakesnow(tables: dict[str, pd.DataFrame], as_of: datetime = AS_OF) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The untranspiled Snowflake SQL through fakesnow; returns (raw result as Snowflake names its columns, the
    features computed through a SnowflakeSession)."""
    fakesnow = pytest.importorskip("fakesnow")
    import snowflake.connector
    import snowflake.connector.pandas_tools  # patched by fakesnow.patch(); call it through the module

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # fakesnow: "Arrow output on a DB-API result makes a copy"
        with fakesnow.patch():
            conn = snowflake.connector.connect(database="tailor", schema="analytics")
            for name, df in tables.items():
                snowflake.connector.pandas_tools.write_pandas(
                    conn, df, name, auto_create_table=True, use_logical_type=True, quote_identifiers=False
                )
            cur = conn.cursor()
            cur.execute(customer_features_sql(as_of))
            raw = cur.fetch_pandas_all()
            cur.close()
            features = compute_customer_features(SnowflakeSession(conn), as_of)
            conn.close()
    return raw, features


def decay(weight: float, age_hours: float) -> float:
    """One event's browsing-intent contribution: weight halved every 72 hours of age."""
    return weight * 0.5 ** (age_hours / 72)


def expected_features() -> pd.DataFrame:
    nat = pd.NaT
    rows = [
        dict(
            customer_id="cus_000001",  # Anna: CRM-000001 + CRM-000007
            as_of=T(AS_OF),
            # completed O1 (01-10 09:00, 70), O2 (01-10 18:00, 15, via CRM-000007), O3 (06-20 08:00, 80);
            # O4 is cancelled -> 3 orders
            order_count=3,
            # purchase days {2024-01-10, 2024-06-20} -> 2 - 1
            frequency=1,
            total_spend=165.0,  # 70 + 15 + 80
            monetary_value=55.0,  # 165 / 3
            first_order_at=T("2024-01-10 09:00:00"),
            last_order_at=T("2024-06-20 08:00:00"),
            recency_days=10 + 4 / 24,  # 06-20 08:00 -> 06-30 12:00 = 10 d 4 h
            tenure_days=546.5,  # 2023-01-01 -> 2024-01-01 = 365 d; -> 2024-06-30 = 181 d (leap Feb); + 12 h
            # web max E10 06-30 11:00, order max O4 06-25 10:00 (any status), email open M3 06-30 11:15 -> 11:15
            last_seen_at=T("2024-06-30 11:15:00"),
            days_since_last_seen=45 / 1440,  # 45 min
            # E01, E02, E03, E04, E11 (at window start); E05 1 s before window, E08 after as_of
            product_views_30d=5,
            # last view: P6 06-29 09:00 (E02), P2 06-28 (bought O1), P5 06-10, P3 05-31 (bought O2 via other ref)
            viewed_not_bought='["P6","P5"]',
            # E10 P2 at as_of-1h (included), E07 P1 06-24 09:00 (after last completed order 06-20; cancelled O4
            # doesn't count); E06 is before the window -> most recent add first
            cart_abandoned=True,
            abandoned_cart_products='["P2","P1"]',
            top_category="bags",  # bags 80 > shoes 50 > apparel 20 + 15 = 35 (cancelled accessories 120 ignored)
            # messages M1 (delivered, 2 opens, click), M2 (delivered), M3 (delivered, open; click 1 s after
            # as_of); M4 after as_of. Addresses " Anna@Example.com " / "ANNA@EXAMPLE.COM" normalise to anna's
            emails_delivered=3,
            email_opens=2,  # M1, M3 (unique per message)
            email_clicks=1,  # M1
            open_rate=0.6,  # (2 + 1) / (3 + 2)
            click_rate=0.4,  # (1 + 1) / (3 + 2)
            # issue 5's columns
            # buyers as of as_of: Anna (last 06-20, frequency 1, mean 55), Ben (last 06-29, 0, 40); n = 2:
            # score = ceil(5 * rank / 2): rank 1 -> 3, rank 2 -> 5
            rfm_recency_score=3,
            rfm_frequency_score=5,
            rfm_monetary_score=5,
            # spend (165): bags 80, shoes 50, apparel 35; views in 90 d (6): apparel E01 E03 E11, accessories
            # E02 E04 E05 -> bags .7*80/165 = .3394, apparel .7*35/165 + .3*3/6 = .2985, shoes .7*50/165 = .2121
            # (accessories .3*3/6 = .15 is 4th)
            category_affinity='[{"category":"bags","share":0.3394},{"category":"apparel","share":0.2985},'
                              '{"category":"shoes","share":0.2121}]',
            # spend: Lumo 80, Nordi 50, Kova 35; views with a brand (5; P7 has none): Kova 3, Lumo 2
            # Lumo .7*80/165 + .3*2/5 = .4594, Kova .7*35/165 + .3*3/5 = .3285, Nordi .7*50/165 = .2121
            brand_affinity='[{"brand":"Lumo","share":0.4594},{"brand":"Kova","share":0.3285},'
                           '{"brand":"Nordi","share":0.2121}]',
            units_bought=4,  # P1, P2, P3, P4 (one each)
            units_bought_discounted=1,  # P1 at 50 < .99 * 60; P4 at 80 >= .99 * 80.5 is not a discount
            # prior from Anna 1/4 and Ben 0/2: mu = 1/6, no spread beyond binomial noise -> strength 1000
            discount_sensitivity=(1 + 1000 / 6) / (4 + 1000),
            sessions_30d=8,  # sa0 (E11 at window start; E05 same session outside) .. sa7; E09 has no session
            browsing_intent_score=decay(2, 50) + decay(2, 27) + decay(2, 480) + decay(2, 604) + decay(5, 266)
            + decay(5, 147) + decay(1, 3) + decay(5, 1) + decay(2, 720),  # E01 E02 E03 E04 E06 E07 E09 E10 E11
            emails_sent=3,  # M1, M2, M3 (M4 after as_of)
            # open prior from Anna 2/3, Cara 0/1: mu = 2/4, strength clipped to 1000 -> Beta(500, 500)
            open_rate_eb=(2 + 500) / (3 + 1000),
            # click prior from Anna 1/3, Cara 0/1: mu = 1/4 -> Beta(250, 750)
            click_rate_eb=(1 + 250) / (3 + 1000),
            # opens/clicks 06-01 11:00, 11:05, 06-30 11:15, 06-02 09:00 UTC = 13, 13, 13, 11 h CEST
            preferred_send_hour=13,
            send_hour_events=4,
        ),
        dict(
            customer_id="cus_000002",  # Ben
            as_of=T(AS_OF),
            order_count=1,  # O5; O6 is after as_of
            frequency=0,  # one purchase day
            total_spend=40.0,
            monetary_value=40.0,
            first_order_at=T("2024-06-29 20:00:00"),
            last_order_at=T("2024-06-29 20:00:00"),
            recency_days=16 / 24,  # 06-29 20:00 -> 06-30 12:00
            tenure_days=29.0,  # 06-01 12:00 -> 06-30 12:00
            last_seen_at=T("2024-06-30 11:30:00"),  # B02 add_to_cart
            days_since_last_seen=30 / 1440,
            product_views_30d=2,  # B03, B04
            viewed_not_bought='["P3","P4"]',  # P3 06-30 11:20, P4 06-29 18:00; Ben bought only P2
            # completed O5 (06-29 20:00) is at/after B01 (19:00) and B05 (20:00:00); B02 is < 1 h before as_of
            cart_abandoned=False,
            abandoned_cart_products="[]",
            top_category="apparel",  # P2 x2 = 40
            emails_delivered=0,
            email_opens=0,  # M6 open has no delivered event -> not counted
            email_clicks=0,
            open_rate=0.5,  # (0 + 1) / (0 + 2)
            click_rate=0.5,
            rfm_recency_score=5,
            rfm_frequency_score=3,
            rfm_monetary_score=3,
            # spend: apparel 40 EUR (GBP order); views: bags (B03), apparel (B04)
            category_affinity='[{"category":"apparel","share":0.85},{"category":"bags","share":0.15}]',
            brand_affinity='[{"brand":"Kova","share":0.85},{"brand":"Lumo","share":0.15}]',
            units_bought=2,
            units_bought_discounted=0,  # EUR 40 for 2 x list 20
            discount_sensitivity=(1000 / 6) / (2 + 1000),
            sessions_30d=2,  # sb1, sb2
            browsing_intent_score=decay(5, 17) + decay(5, 0.5) + decay(2, 18) + decay(2, 2 / 3) + decay(5, 16)
            + decay(8, 16.5),  # B01 .. B06
            emails_sent=1,  # M6 (an open without delivered is still a message sent to him)
            open_rate_eb=0.5,  # no delivered message: the prior mean
            click_rate_eb=0.25,
            preferred_send_hour=14,  # open 06-10 09:00 UTC = 14:30 IST
            send_hour_events=1,
        ),
        dict(
            customer_id="cus_000003",  # Cara: only a refunded order
            as_of=T(AS_OF),
            order_count=0,
            frequency=0,
            total_spend=0.0,
            monetary_value=math.nan,
            first_order_at=nat,
            last_order_at=nat,
            recency_days=math.nan,
            tenure_days=1.5,  # 06-29 00:00 -> 06-30 12:00
            last_seen_at=T("2024-06-30 06:00:00"),  # refunded O7 beats web C04 06-29 12:00
            days_since_last_seen=0.25,  # 6 h
            product_views_30d=3,  # C01, C02 (twice, same event_id), C03
            viewed_not_bought='["P4","P6"]',  # P4 06-29 11:00, P6 06-29 10:00
            # C04 P6 06-29 12:00, C05 P4 at window start; C06 1 s before the window
            cart_abandoned=True,
            abandoned_cart_products='["P6","P4"]',
            top_category="accessories",  # no spend -> views: accessories (C01, C02) 2 > bags (C03) 1
            emails_delivered=1,  # M5; M7 bounced
            email_opens=0,
            email_clicks=0,
            open_rate=1 / 3,  # (0 + 1) / (1 + 2)
            click_rate=1 / 3,
            rfm_recency_score=0,  # not a buyer (refunded only)
            rfm_frequency_score=0,
            rfm_monetary_score=0,
            category_affinity='[{"category":"accessories","share":0.6667},{"category":"bags","share":0.3333}]',
            brand_affinity='[{"brand":"Lumo","share":1.0}]',  # P6 and P4 are both Lumo
            units_bought=0,
            units_bought_discounted=0,
            discount_sensitivity=1 / 6,  # the prior mean
            sessions_30d=4,  # sc1 .. sc4 (C06 is outside the cart window, not the 30 d window)
            browsing_intent_score=decay(2, 27) + decay(2, 26) + decay(2, 25) + decay(5, 24) + decay(5, 168)
            + decay(5, 168 + 1 / 3600),  # C01, C02 (once), C03, C04, C05, C06
            emails_sent=2,  # M5, M7 (bounced)
            open_rate_eb=500 / (1 + 1000),
            click_rate_eb=250 / (1 + 1000),
            # no opens: the population's hour (13: 3 events, 11: 1, 14: 1)
            preferred_send_hour=13,
            send_hour_events=0,
        ),
        dict(
            customer_id="cus_000004",  # Dave: no email, created after as_of, one view exactly at as_of
            as_of=T(AS_OF),
            order_count=0,  # O8 after as_of
            frequency=0,
            total_spend=0.0,
            monetary_value=math.nan,
            first_order_at=nat,
            last_order_at=nat,
            recency_days=math.nan,
            tenure_days=math.nan,  # created_at 2024-07-15 > as_of
            last_seen_at=T("2024-06-30 12:00:00"),  # D01 at as_of (inclusive)
            days_since_last_seen=0.0,
            product_views_30d=1,
            viewed_not_bought='["P1"]',
            cart_abandoned=False,
            abandoned_cart_products="[]",
            top_category="shoes",  # viewed P1
            emails_delivered=0,
            email_opens=0,
            email_clicks=0,
            open_rate=0.5,
            click_rate=0.5,
            rfm_recency_score=0,
            rfm_frequency_score=0,
            rfm_monetary_score=0,
            category_affinity='[{"category":"shoes","share":1.0}]',
            brand_affinity='[{"brand":"Nordi","share":1.0}]',
            units_bought=0,
            units_bought_discounted=0,
            discount_sensitivity=1 / 6,
            sessions_30d=1,  # sd1 (sd2 after as_of)
            browsing_intent_score=2.0,  # one product view exactly at as_of: full weight
            emails_sent=0,
            open_rate_eb=0.5,
            click_rate_eb=0.25,
            preferred_send_hour=13,
            send_hour_events=0,
        ),
    ]
    df = pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    for c in ("as_of", "first_order_at", "last_order_at", "last_seen_at"):
        df[c] = df[c].astype("datetime64[ns]")
    for c in ("order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks",
              "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score", "units_bought",
              "units_bought_discounted", "sessions_30d", "emails_sent", "preferred_send_hour", "send_hour_events"):
        df[c] = df[c].astype("int64")
    return df


@pytest.fixture(scope="module")
def duck_features() -> pd.DataFrame:
    return run_duckdb(base_tables())


def test_sql_is_one_snowflake_select_with_literal_as_of():
    sql = customer_features_sql(AS_OF)
    statements = sqlglot.parse(sql, read="snowflake")
    assert len(statements) == 1 and isinstance(statements[0], exp.Select)
    assert "TIMESTAMP '2024-06-30 12:00:00'" in sql
    # tz-aware as_of is converted to UTC
    aware = datetime(2024, 6, 30, 14, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert customer_features_sql(aware) == sql


def test_every_feature_hand_computed_duckdb(duck_features: pd.DataFrame):
    expected = expected_features()
    assert list(duck_features.columns) == FEATURE_COLUMNS
    for col in FEATURE_COLUMNS:  # column by column for readable failures
        pd.testing.assert_series_equal(duck_features[col], expected[col], check_exact=False, rtol=1e-12, obj=col)
    pd.testing.assert_frame_equal(duck_features, expected, check_exact=False, rtol=1e-12)


def test_dtypes(duck_features: pd.DataFrame):
    dtypes = duck_features.dtypes.astype(str).to_dict()
    assert dtypes["customer_id"] == "object"
    assert all(dtypes[c] == "datetime64[ns]" for c in ("as_of", "first_order_at", "last_order_at", "last_seen_at"))
    assert dtypes["cart_abandoned"] == "bool"
    assert dtypes["order_count"] == dtypes["email_opens"] == "int64"
    assert dtypes["recency_days"] == dtypes["open_rate"] == "float64"
    assert json.loads(duck_features.loc[0, "viewed_not_bought"]) == ["P6", "P5"]


def test_schema_validates(duck_features: pd.DataFrame):
    CustomerFeaturesSchema.validate(duck_features, lazy=True)


def test_schema_rejects_bad_rows(duck_features: pd.DataFrame):
    import pandera.errors

    bad = duck_features.copy()
    bad.loc[1, "customer_id"] = "cus_000001"  # duplicate id
    with pytest.raises(pandera.errors.SchemaError):
        CustomerFeaturesSchema.validate(bad)
    bad = duck_features.copy()
    bad.loc[0, "last_seen_at"] = T("2024-07-01")  # after as_of
    with pytest.raises(pandera.errors.SchemaError):
        CustomerFeaturesSchema.validate(bad)
    bad = duck_features.copy()
    bad.loc[0, "open_rate"] = 1.0
    with pytest.raises(pandera.errors.SchemaError):
        CustomerFeaturesSchema.validate(bad)


def test_no_leakage_rows_after_as_of_change_nothing(duck_features: pd.DataFrame):
    leaked = run_duckdb(with_rows_after_as_of(base_tables()))
    # exact for everything but float sums (browsing intent), whose summation order the engine may change
    exact = [c for c in FEATURE_COLUMNS if c != "browsing_intent_score"]
    pd.testing.assert_frame_equal(leaked[exact], duck_features[exact], check_exact=True)
    pd.testing.assert_series_equal(
        leaked["browsing_intent_score"], duck_features["browsing_intent_score"], check_exact=False, rtol=1e-12
    )


def test_rows_after_as_of_are_used_for_a_later_as_of():
    # sanity check of the leakage test: the same extra rows do change features once as_of passes them
    later = AS_OF + timedelta(days=5)
    before = run_duckdb(base_tables(), later)
    after = run_duckdb(with_rows_after_as_of(base_tables()), later)
    assert (after["order_count"] - before["order_count"]).tolist() == [4, 2, 2, 2]  # 2 late orders per ref
    assert after["viewed_not_bought"].str.contains("P7").sum() == 0  # P7 bought late -> no longer "not bought"
    # every feature (but the profile-only tenure) is moved by the late rows for some customer, so the leakage
    # test above really covers every feature
    for col in FEATURE_COLUMNS:
        if col in ("customer_id", "as_of", "tenure_days"):
            continue
        same = (before[col] == after[col]) | (before[col].isna() & after[col].isna())
        assert not same.all(), f"{col} is not exercised by with_rows_after_as_of"


def test_cart_grace_hours_is_a_parameter():
    tables = base_tables()
    zero = run_duckdb(tables, cart_grace_hours=0).set_index("customer_id")["abandoned_cart_products"]
    day = run_duckdb(tables, cart_grace_hours=24).set_index("customer_id")["abandoned_cart_products"]
    # N = 0: Ben's B02 (P3, 06-30 11:30, after his last order 06-29 20:00) counts at once
    assert zero.to_dict() == {"cus_000001": '["P2","P1"]', "cus_000002": '["P3"]', "cus_000003": '["P6","P4"]',
                              "cus_000004": "[]"}
    # N = 24: only adds up to 06-29 12:00: Anna's E10 (06-30 11:00) is too recent; Cara's C04 is exactly on the edge
    assert day.to_dict() == {"cus_000001": '["P1"]', "cus_000002": "[]", "cus_000003": '["P6","P4"]',
                             "cus_000004": "[]"}
    with pytest.raises(ValueError, match="cart_grace_hours"):
        customer_features_sql(AS_OF, cart_grace_hours=-1)


def rfm_tables() -> dict[str, pd.DataFrame]:
    """Six buyers with one product P1 each, and one non-buyer (c7)."""
    t = base_tables()
    ids = [f"c{i}" for i in range(1, 8)]
    t["customer_profiles"] = pd.DataFrame({"customer_id": ids, "email": None, "created_at": T("2024-01-01"),
                                           "timezone": None})
    t["customer_identity_links"] = pd.DataFrame({"source": "crm", "source_record_id": ids, "customer_id": ids,
                                                 "rule": "single_record", "score": 1.0})
    orders = [  # customer, day in June, EUR total
        ("c1", 1, 10.0), ("c2", 2, 10.0), ("c3", 3, 20.0), ("c4", 4, 30.0), ("c5", 5, 40.0),
        ("c6", 6, 50.0), ("c6", 7, 50.0),  # c6: two purchase days (the only frequency 1), last on 06-07
    ]
    t["orders"] = pd.DataFrame(
        [dict(order_id=f"R{i}", customer_ref=c, ordered_at=T(f"2024-06-{d:02d} 10:00"), currency="EUR",
              status="completed", order_total=v, item_count=1, order_total_eur=v) for i, (c, d, v) in enumerate(orders)]
    )
    t["order_items"] = pd.DataFrame(
        [dict(order_id=f"R{i}", line_no=1, product_id="P1", quantity=1, unit_price=v, line_total=v, line_total_eur=v)
         for i, (_, _, v) in enumerate(orders)]
    )
    t["web_events"] = t["web_events"].iloc[0:0]
    t["email_events"] = t["email_events"].iloc[0:0]
    return t


def test_rfm_quintiles_ties_and_non_buyers():
    out = run_duckdb(rfm_tables()).set_index("customer_id")
    # n = 6 buyers; score = ceil(5 * rank / 6), rank = SQL RANK (ties share the lowest rank)
    # recency: last orders 06-01 .. 06-05, 06-07 -> ranks 1..6 -> ceil(5/6, 10/6, 15/6, 20/6, 25/6, 30/6)
    assert out["rfm_recency_score"].tolist() == [1, 2, 3, 4, 5, 5, 0]
    # frequency: five one-day buyers tie at rank 1 -> 1; c6 rank 6 -> 5
    assert out["rfm_frequency_score"].tolist() == [1, 1, 1, 1, 1, 5, 0]
    # monetary: 10, 10 (tie, rank 1), 20 (rank 3), 30 (4), 40 (5), 50 (6) -> 1, 1, 3, 4, 5, 5
    assert out["rfm_monetary_score"].tolist() == [1, 1, 3, 4, 5, 5, 0]
    CustomerFeaturesSchema.validate(out.reset_index())


def test_beta_prior_method_of_moments_hand_computed():
    # two customers with 20 trials: 2 and 8 successes. mu = 10/40 = .25; p = .1, .4; s2 = .15^2 = .0225;
    # h = 1/20; rho = (.0225 / (.25 * .75) - .05) / .95 = .07 / .95; alpha + beta = .95 / .07 - 1 = 88/7
    alpha, beta = fit_beta_prior(pd.Series([2, 8]), pd.Series([20, 20]))
    assert alpha == pytest.approx(0.25 * 88 / 7, rel=1e-12) and beta == pytest.approx(0.75 * 88 / 7, rel=1e-12)
    # k/n = 0/4 .. 4/4: mu = .5, s2 = .125, h = .25 -> rho = 1/3 -> strength 2 -> Beta(1, 1)
    assert fit_beta_prior(pd.Series([0, 1, 2, 3, 4]), pd.Series([4] * 5)) == pytest.approx((1.0, 1.0))
    # less spread than binomial noise alone (rho <= 0): the strength is capped at 1000
    assert fit_beta_prior(pd.Series([2, 2, 3, 3]), pd.Series([10] * 4)) == pytest.approx((250.0, 750.0))
    # customers without trials are ignored; fewer than two with trials, or a mean of 0 or 1 -> Beta(1, 1)
    assert fit_beta_prior(pd.Series([0, 3]), pd.Series([0, 5])) == (1.0, 1.0)
    assert fit_beta_prior(pd.Series([0, 0]), pd.Series([3, 5])) == (1.0, 1.0)
    with pytest.raises(ValueError, match="between 0 and the number of trials"):
        fit_beta_prior(pd.Series([3]), pd.Series([2]))


def test_one_open_of_one_is_not_rated_above_forty_of_fifty():
    # a population of 10: four 2/20, four 8/20, one 1/1 and one 40/50 (the prior is fitted on all of them)
    opens = pd.Series([2] * 4 + [8] * 4 + [1, 40])
    delivered = pd.Series([20] * 8 + [1, 50])
    # mu = 81/211 = .383886; h = (8/20 + 1 + 1/50) / 10 = .142; s2 = .0876151; rho = .266245
    # alpha + beta = 2.755943 -> alpha = 1.057969, beta = 1.697974
    alpha, beta = fit_beta_prior(opens, delivered)
    assert alpha == pytest.approx(1.057969, abs=1e-6) and beta == pytest.approx(1.697974, abs=1e-6)
    rates = smoothed_rate(opens, delivered, (alpha, beta))
    assert rates[8] == pytest.approx(0.547923, abs=1e-6)  # 1/1: (1 + 1.057969) / (1 + 2.755943)
    assert rates[9] == pytest.approx(0.778262, abs=1e-6)  # 40/50: (40 + 1.057969) / (50 + 2.755943)
    assert rates[8] < rates[9]  # raw rates would say 1.0 > 0.8


def test_preferred_send_hour_in_the_customers_zone_dst_per_event_date():
    counts = pd.DataFrame(
        [
            # customer_id, timezone, utc_quarter, events
            ("c1", "Europe/Berlin", T("2024-01-15 08:00"), 1),  # CET (UTC+1): 09 local
            ("c2", "Europe/Berlin", T("2024-07-15 08:00"), 1),  # CEST (UTC+2): the same UTC hour is 10 local
            ("c3", "Asia/Kolkata", T("2024-06-10 03:15"), 1),  # +05:30 -> 08:45 -> 8
            ("c3", "Asia/Kolkata", T("2024-06-11 03:30"), 2),  # 09:00 -> 9 (hour buckets would say 8 for both)
            ("c4", "America/New_York", T("2024-03-01 14:00"), 1),  # EST: 09
            ("c4", "America/New_York", T("2024-03-20 19:00"), 1),  # EDT: 15 -> a tie, the earlier hour wins
            ("c5", None, T("2024-03-01 23:45"), 1),  # no zone: UTC
        ],
        columns=["customer_id", "timezone", "utc_quarter", "events"],
    )
    out = preferred_send_hours(counts, pd.Series(["c1", "c2", "c3", "c4", "c5", "c6"]))
    assert out["preferred_send_hour"].tolist() == [9, 10, 9, 9, 23, 9]
    assert out["send_hour_events"].tolist() == [1, 1, 3, 2, 1, 0]
    # c6 has none: the population's hour, 9 (c1 1 + c3 2 + c4 1 = 4 events) beats 10, 8, 15 and 23
    empty = preferred_send_hours(counts.iloc[0:0], pd.Series(["c1"]))
    assert empty["preferred_send_hour"].tolist() == [DEFAULT_SEND_HOUR] and empty["send_hour_events"].tolist() == [0]
    bad = counts.assign(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="'Mars/Olympus_Mons' is not an IANA time zone"):
        preferred_send_hours(bad, pd.Series(["c1"]))


def test_schema_rejects_bad_new_columns(duck_features: pd.DataFrame):
    import pandera.errors

    for col, value in [
        ("rfm_recency_score", 0),  # Anna is a buyer: 0 is reserved for non-buyers
        ("category_affinity", '[{"category":"bags","share":0.2},{"category":"shoes","share":0.3}]'),  # not sorted
        ("brand_affinity", '["Lumo"]'),  # not objects
        ("units_bought_discounted", 5),  # more than units_bought (4)
        ("preferred_send_hour", 24),
        ("open_rate_eb", 1.0),
    ]:
        bad = duck_features.copy()
        bad.loc[0, col] = value
        with pytest.raises(pandera.errors.SchemaError):
            CustomerFeaturesSchema.validate(bad)


def test_every_profile_gets_one_row_even_without_activity():
    tables = base_tables()
    for name in ("orders", "order_items", "web_events", "email_events", "customer_identity_links"):
        tables[name] = tables[name].iloc[0:0]
    out = run_duckdb(tables)
    assert out["customer_id"].tolist() == ["cus_000001", "cus_000002", "cus_000003", "cus_000004"]
    assert out[["order_count", "frequency", "product_views_30d", "emails_delivered"]].to_numpy().sum() == 0
    assert (out["total_spend"] == 0.0).all() and out["monetary_value"].isna().all()
    assert (out["viewed_not_bought"] == "[]").all() and (~out["cart_abandoned"]).all()
    assert out["top_category"].isna().all() and (out["open_rate"] == 0.5).all()
    CustomerFeaturesSchema.validate(out)


def test_snowflake_path_fakesnow_matches_duckdb(duck_features: pd.DataFrame):
    raw, snow = run_fakesnow(base_tables())
    assert {c.upper() for c in raw.columns} == {c.upper() for c in SQL_COLUMNS}
    assert raw.columns[0] == "CUSTOMER_ID"  # Snowflake upper-cases unquoted identifiers
    pd.testing.assert_frame_equal(snow, duck_features, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(snow, expected_features(), check_exact=False, rtol=1e-12)
    CustomerFeaturesSchema.validate(snow)


def test_snowflake_path_no_leakage():
    _, snow = run_fakesnow(with_rows_after_as_of(base_tables()))
    pd.testing.assert_frame_equal(snow, expected_features(), check_exact=False, rtol=1e-12)


def test_finalize_accepts_snowflake_shaped_raw_values():
    # Snowflake returns JSON arrays as pretty-printed text and NUMBER columns as Decimal (and upper-case names,
    # which SnowflakeSession.query folds to lower case before finalize_features sees them)
    from decimal import Decimal

    raw = pd.DataFrame(
        {
            "CUSTOMER_ID": ["cus_1"],
            "AS_OF": [T(AS_OF)],
            "ORDER_COUNT": [Decimal(2)],
            "FREQUENCY": [Decimal(1)],
            "TOTAL_SPEND": [Decimal("30.5")],
            "MONETARY_VALUE": [Decimal("15.25")],
            "FIRST_ORDER_AT": [T("2024-06-01")],
            "LAST_ORDER_AT": [T("2024-06-02")],
            "RECENCY_DAYS": [Decimal("28.5")],
            "TENURE_DAYS": [None],
            "LAST_SEEN_AT": [T("2024-06-02")],
            "DAYS_SINCE_LAST_SEEN": [Decimal("28.5")],
            "PRODUCT_VIEWS_30D": [Decimal(3)],
            "VIEWED_NOT_BOUGHT": ['[\n  "P9",\n  "P8"\n]'],
            "CART_ABANDONED": [False],
            "ABANDONED_CART_PRODUCTS": [None],
            "TOP_CATEGORY": [None],
            "EMAILS_DELIVERED": [Decimal(8)],
            "EMAIL_OPENS": [Decimal(3)],
            "EMAIL_CLICKS": [Decimal(0)],
            "RFM_RECENCY_SCORE": [Decimal(5)],
            "RFM_FREQUENCY_SCORE": [Decimal(5)],
            "RFM_MONETARY_SCORE": [Decimal(5)],
            "UNITS_BOUGHT": [Decimal("3.0")],  # Snowflake SUM of a NUMBER column
            "UNITS_BOUGHT_DISCOUNTED": [Decimal("1.0")],
            "SESSIONS_30D": [Decimal(2)],
            "BROWSING_INTENT_SCORE": [Decimal("3.25")],
            "EMAILS_SENT": [Decimal(9)],
            "CATEGORY_AFFINITY": ['[\n  {\n    "category": "shoes",\n    "share": 0.756\n  },\n  {\n    "category": "bags",\n    "share": 0.244\n  }\n]'],
            "BRAND_AFFINITY": [None],
        }
    )
    counts = pd.DataFrame(
        {"CUSTOMER_ID": ["cus_1"], "TIMEZONE": [None], "UTC_QUARTER": [T("2024-06-01 07:45")], "EVENTS": [Decimal(2)]}
    )
    raw, counts = raw.rename(columns=str.lower), counts.rename(columns=str.lower)  # as SnowflakeSession.query
    out = finalize_features(raw, AS_OF, send_hour_counts=counts)
    assert out.loc[0, "category_affinity"] == '[{"category":"shoes","share":0.756},{"category":"bags","share":0.244}]'
    assert out.loc[0, "brand_affinity"] == "[]"
    assert out.loc[0, "units_bought"] == 3 and out.loc[0, "browsing_intent_score"] == 3.25
    # one customer: every prior falls back to Beta(1, 1)
    assert out.loc[0, "open_rate_eb"] == pytest.approx(4 / 10) and out.loc[0, "discount_sensitivity"] == pytest.approx(2 / 5)
    assert out.loc[0, "preferred_send_hour"] == 7 and out.loc[0, "send_hour_events"] == 2  # NULL zone = UTC
    assert out.loc[0, "viewed_not_bought"] == '["P9","P8"]' and out.loc[0, "abandoned_cart_products"] == "[]"
    assert out.loc[0, "open_rate"] == pytest.approx(0.4) and out.loc[0, "click_rate"] == pytest.approx(0.1)
    assert out.loc[0, "top_category"] is None and math.isnan(out.loc[0, "tenure_days"])
    CustomerFeaturesSchema.validate(out)


def test_feature_figures_are_the_summary_and_the_fitted_priors(duck_features: pd.DataFrame):
    from tailor.features.customer_features import feature_figures, feature_summary

    summary = feature_summary(duck_features)
    assert summary["customers"] == 4 and summary["buyers"] == 2  # Anna and Ben
    assert summary["total_spend_eur"] == pytest.approx(duck_features["total_spend"].sum())
    figures = feature_figures(duck_features)
    assert {k: figures[k] for k in summary} == summary
    assert {k: v for k, v in figures.items() if k not in summary} == pytest.approx({
        "prior_open_rate_eb_alpha": 500.0, "prior_open_rate_eb_beta": 500.0,  # the priors of expected_features
        "prior_click_rate_eb_alpha": 250.0, "prior_click_rate_eb_beta": 750.0,
        "prior_discount_sensitivity_alpha": 1000 / 6, "prior_discount_sensitivity_beta": 5000 / 6,
    })
