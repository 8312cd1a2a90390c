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

from tailor.features import (
    FEATURE_COLUMNS,
    CustomerFeaturesSchema,
    compute_customer_features,
    customer_features_sql,
    finalize_features,
)

AS_OF = datetime(2024, 6, 30, 12, 0, 0)
T = pd.Timestamp


# ------------------------------------------------------------------------------------------------ data
def base_tables() -> dict[str, pd.DataFrame]:
    profiles = pd.DataFrame(
        {
            "customer_id": ["cus_000001", "cus_000002", "cus_000003", "cus_000004"],
            "email": ["anna@example.com", "ben@example.com", "cara@example.com", None],
            "first_name": ["Anna", "Ben", "Cara", "Dave"],
            "country": ["DE", "AT", "DE", "FR"],
            "created_at": [T("2023-01-01 00:00:00"), T("2024-06-01 12:00:00"), T("2024-06-29 00:00:00"),
                           T("2024-07-15 00:00:00")],  # Dave is created after as_of
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
            "brand": ["B"] * 7,
            "price": [50.0, 20.0, 15.0, 80.0, 5.0, 120.0, 25.0],
            "currency": ["EUR"] * 7,
            "in_stock": [True] * 7,
        }
    )
    orders = pd.DataFrame(
        [
            # order_id, customer_ref, ordered_at, status, order_total, item_count
            ("O1", "CRM-000001", T("2024-01-10 09:00:00"), "completed", 70.0, 2),
            ("O2", "CRM-000007", T("2024-01-10 18:00:00"), "completed", 15.0, 1),  # same day as O1
            ("O3", "CRM-000001", T("2024-06-20 08:00:00"), "completed", 80.0, 1),
            ("O4", "CRM-000007", T("2024-06-25 10:00:00"), "cancelled", 120.0, 1),
            ("O5", "CRM-000002", T("2024-06-29 20:00:00"), "completed", 40.0, 2),
            ("O6", "CRM-000002", T("2024-07-01 10:00:00"), "completed", 100.0, 2),  # after as_of
            ("O7", "CRM-000003", T("2024-06-30 06:00:00"), "refunded", 5.0, 1),
            ("O8", "CRM-000004", T("2024-07-20 10:00:00"), "completed", 80.0, 1),  # after as_of
            ("O9", "CRM-000099", T("2024-06-01 10:00:00"), "completed", 50.0, 1),  # ref without a profile
        ],
        columns=["order_id", "customer_ref", "ordered_at", "status", "order_total", "item_count"],
    )
    orders.insert(3, "currency", "EUR")
    order_items = pd.DataFrame(
        [
            ("O1", 1, "P1", 1, 50.0, 50.0),
            ("O1", 2, "P2", 1, 20.0, 20.0),
            ("O2", 1, "P3", 1, 15.0, 15.0),
            ("O3", 1, "P4", 1, 80.0, 80.0),
            ("O4", 1, "P6", 1, 120.0, 120.0),
            ("O5", 1, "P2", 2, 20.0, 40.0),
            ("O6", 1, "P1", 2, 50.0, 100.0),
            ("O7", 1, "P5", 1, 5.0, 5.0),
            ("O8", 1, "P4", 1, 80.0, 80.0),
            ("O9", 1, "P1", 1, 50.0, 50.0),
        ],
        columns=["order_id", "line_no", "product_id", "quantity", "unit_price", "line_total"],
    )
    web = pd.DataFrame(
        [
            # event_id, customer_ref, event_type, product_id, occurred_at
            ("E01", "CRM-000001", "product_view", "P2", T("2024-06-28 10:00:00")),
            ("E02", "CRM-000007", "product_view", "P6", T("2024-06-29 09:00:00")),
            ("E03", "CRM-000001", "product_view", "P5", T("2024-06-10 12:00:00")),
            ("E04", "CRM-000001", "product_view", "P6", T("2024-06-05 08:00:00")),
            ("E05", "CRM-000007", "product_view", "P7", T("2024-05-31 11:59:59")),  # 1 s before the 30 d window
            ("E06", "CRM-000001", "add_to_cart", "P4", T("2024-06-19 10:00:00")),  # before the 7 d window
            ("E07", "CRM-000007", "add_to_cart", "P1", T("2024-06-24 09:00:00")),
            ("E08", "CRM-000001", "product_view", "P1", T("2024-07-02 10:00:00")),  # after as_of
            ("E09", "CRM-000001", "page_view", None, T("2024-06-30 09:00:00")),
            ("E10", "CRM-000007", "add_to_cart", "P2", T("2024-06-30 11:00:00")),  # exactly as_of - 1 h
            ("E11", "CRM-000001", "product_view", "P3", T("2024-05-31 12:00:00")),  # exactly as_of - 30 d
            ("B01", "CRM-000002", "add_to_cart", "P2", T("2024-06-29 19:00:00")),
            ("B02", "CRM-000002", "add_to_cart", "P3", T("2024-06-30 11:30:00")),  # within the last hour
            ("B03", "CRM-000002", "product_view", "P4", T("2024-06-29 18:00:00")),
            ("B04", "CRM-000002", "product_view", "P3", T("2024-06-30 11:20:00")),
            ("B05", "CRM-000002", "add_to_cart", "P5", T("2024-06-29 20:00:00")),  # same instant as order O5
            ("C01", "CRM-000003", "product_view", "P6", T("2024-06-29 09:00:00")),
            ("C02", "CRM-000003", "product_view", "P6", T("2024-06-29 10:00:00")),
            ("C02", "CRM-000003", "product_view", "P6", T("2024-06-29 10:00:00")),  # duplicate record
            ("C03", "CRM-000003", "product_view", "P4", T("2024-06-29 11:00:00")),
            ("C04", "CRM-000003", "add_to_cart", "P6", T("2024-06-29 12:00:00")),
            ("C05", "CRM-000003", "add_to_cart", "P4", T("2024-06-23 12:00:00")),  # exactly as_of - 7 d
            ("C06", "CRM-000003", "add_to_cart", "P5", T("2024-06-23 11:59:59")),  # 1 s before the 7 d window
            ("D01", "CRM-000004", "product_view", "P1", T("2024-06-30 12:00:00")),  # exactly as_of
            ("D02", "CRM-000004", "product_view", "P2", T("2024-07-16 10:00:00")),  # after as_of
            ("A01", None, "product_view", "P6", T("2024-06-30 10:00:00")),  # anonymous
            ("A02", None, "add_to_cart", "P6", T("2024-06-30 10:01:00")),  # anonymous
        ],
        columns=["event_id", "customer_ref", "event_type", "product_id", "occurred_at"],
    )
    web["anonymous_id"] = [f"anon-{i % 3}" for i in range(len(web))]
    web["platform"] = "web"
    web["session_id"] = [f"s{i // 4}" for i in range(len(web))]
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
    """Everything that would change every feature of every customer if it leaked (all strictly after AS_OF)."""
    t = {k: v.copy() for k, v in tables.items()}
    after = [T(AS_OF) + timedelta(seconds=1), T(AS_OF) + timedelta(days=3)]
    refs = ["CRM-000001", "CRM-000007", "CRM-000002", "CRM-000003", "CRM-000004"]
    orders, items, web, email = [], [], [], []
    for i, ref in enumerate(refs):
        for j, ts in enumerate(after):
            oid = f"LATE-{i}-{j}"
            orders.append((oid, ref, ts, "EUR", "completed", 200.0, 2))
            items.append((oid, 1, "P6", 1, 120.0, 120.0))
            items.append((oid, 2, "P7", 1, 80.0, 80.0))
            for k, (etype, pid) in enumerate([("product_view", "P7"), ("add_to_cart", "P7"), ("page_view", None)]):
                web.append((f"LW-{i}-{j}-{k}", ref, etype, pid, ts, "anon-x", "web", "late"))
    for i, addr in enumerate(["anna@example.com", "ben@example.com", "cara@example.com"]):
        for j, ts in enumerate(after):
            for etype in ("delivered", "open", "click"):
                email.append((f"LE-{i}-{j}-{etype}", f"LM-{i}-{j}", addr, etype, ts, None, "late"))
    t["orders"] = pd.concat([t["orders"], pd.DataFrame(orders, columns=t["orders"].columns)], ignore_index=True)
    t["order_items"] = pd.concat(
        [t["order_items"], pd.DataFrame(items, columns=t["order_items"].columns)], ignore_index=True
    )
    web_df = pd.DataFrame(
        web,
        columns=["event_id", "customer_ref", "event_type", "product_id", "occurred_at", "anonymous_id", "platform",
                 "session_id"],
    )[t["web_events"].columns]
    t["web_events"] = pd.concat([t["web_events"], web_df], ignore_index=True)
    t["email_events"] = pd.concat(
        [t["email_events"], pd.DataFrame(email, columns=t["email_events"].columns)], ignore_index=True
    )
    return t


# -------------------------------------------------------------------------------------------- engines
def duckdb_query_fn(tables: dict[str, pd.DataFrame]):
    con = duckdb.connect()
    for name, df in tables.items():
        con.register("_df", df)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _df")
        con.unregister("_df")

    def query(sql: str) -> pd.DataFrame:
        (duck_sql,) = sqlglot.transpile(sql, read="snowflake", write="duckdb")
        return con.execute(duck_sql).df()

    return query


def run_duckdb(tables: dict[str, pd.DataFrame], as_of: datetime = AS_OF) -> pd.DataFrame:
    return compute_customer_features(duckdb_query_fn(tables), as_of)


def run_fakesnow(tables: dict[str, pd.DataFrame], as_of: datetime = AS_OF) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The untranspiled Snowflake SQL through fakesnow; returns (raw result, finalized features)."""
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
            conn.close()
    return raw, finalize_features(raw, as_of)


# ------------------------------------------------------------------------------------------- expected
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
        ),
    ]
    df = pd.DataFrame(rows, columns=FEATURE_COLUMNS)
    for c in ("as_of", "first_order_at", "last_order_at", "last_seen_at"):
        df[c] = df[c].astype("datetime64[ns]")
    for c in ("order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks"):
        df[c] = df[c].astype("int64")
    return df


# ----------------------------------------------------------------------------------------------- tests
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
    pd.testing.assert_frame_equal(leaked, duck_features, check_exact=True)


def test_rows_after_as_of_are_used_for_a_later_as_of():
    # sanity check of the leakage test: the same extra rows do change features once as_of passes them
    later = AS_OF + timedelta(days=5)
    before = run_duckdb(base_tables(), later)
    after = run_duckdb(with_rows_after_as_of(base_tables()), later)
    assert (after["order_count"] - before["order_count"]).tolist() == [4, 2, 2, 2]  # 2 late orders per ref
    assert after["viewed_not_bought"].str.contains("P7").sum() == 0  # P7 bought late -> no longer "not bought"


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
    assert {c.upper() for c in raw.columns} == {c.upper() for c in FEATURE_COLUMNS if not c.endswith("_rate")}
    assert raw.columns[0] == "CUSTOMER_ID"  # Snowflake upper-cases unquoted identifiers
    pd.testing.assert_frame_equal(snow, duck_features, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(snow, expected_features(), check_exact=False, rtol=1e-12)
    CustomerFeaturesSchema.validate(snow)


def test_snowflake_path_no_leakage():
    _, snow = run_fakesnow(with_rows_after_as_of(base_tables()))
    pd.testing.assert_frame_equal(snow, expected_features(), check_exact=False, rtol=1e-12)


def test_finalize_accepts_snowflake_shaped_raw_values():
    # Snowflake returns upper-case names, JSON arrays as pretty-printed text and NUMBER columns as Decimal
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
        }
    )
    out = finalize_features(raw, AS_OF)
    assert out.loc[0, "viewed_not_bought"] == '["P9","P8"]' and out.loc[0, "abandoned_cart_products"] == "[]"
    assert out.loc[0, "open_rate"] == pytest.approx(0.4) and out.loc[0, "click_rate"] == pytest.approx(0.1)
    assert out.loc[0, "top_category"] is None and math.isnan(out.loc[0, "tenure_days"])
    CustomerFeaturesSchema.validate(out)
