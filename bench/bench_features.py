"""Benchmark of customer_features: the warehouse SQL (DuckDB) against a plain-pandas version of the same features.

    flock /tmp/tailor-bench.lock .venv/bin/python bench/bench_features.py --customers 1000000

Input tables are generated directly in DuckDB with SQL (deterministic: every random column is a hash of the
row number), written to ``--dir`` (default /tmp/tailor-bench-features). Per customer on average: 18 web
events and ~2 email events (so 20 events per customer: 20,000,000 at 1,000,000 customers), ~1.5 orders with
2 items each, 1.03 CRM refs. 5,000 products, 20 categories, 200 brands.

Each phase runs in its own process so that its peak RSS is its own:

1. ``generate``  build the tables (skipped when the file exists for the same sizes);
2. ``sql``       ``compute_customer_features`` on all customers (transpile + SQL + send-hour SQL + finalize);
3. ``subset``    the first ``--pandas-customers`` customers and everything of theirs, loaded into pandas; the
                 plain-pandas features and the SQL features (fresh in-memory DuckDB over the same frames) are
                 timed and must be equal. The pandas time is extrapolated linearly to all customers
                 (pandas needs everything in memory; at 1M customers / 20M events that is ~10 GB of object
                 columns on a 23 GB machine shared by five people, so the full pandas run is not attempted).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = datetime(2026, 11, 1, 12, 0, 0)
N_PRODUCTS = 5000
WEB_PER_CUSTOMER = 18
MESSAGES_PER_CUSTOMER = 0.8  # each with processed + delivered, 30 % opened, 8 % clicked: ~2 email events


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def generation_sql(n: int) -> list[str]:
    """DuckDB SQL building every input table. ``u(x)`` is a uniform [0, 1) number from a hash."""
    as_of = f"TIMESTAMP '{AS_OF:%Y-%m-%d %H:%M:%S}'"
    n_web = WEB_PER_CUSTOMER * n
    n_msg = int(MESSAGES_PER_CUSTOMER * n)
    zones = "['Europe/Berlin', 'Europe/London', 'America/New_York', 'Asia/Kolkata', 'Europe/Paris', NULL]"
    return [
        "CREATE OR REPLACE MACRO u(x) AS (hash(x) % 1000003) / 1000003.0",
        f"""CREATE OR REPLACE TABLE customer_profiles AS
            SELECT 'cus_' || lpad(i::VARCHAR, 7, '0') AS customer_id,
                   'user' || i || '@example.com' AS email,
                   {as_of} - to_seconds(CAST(u(i * 11 + 1) * 900 * 86400 AS BIGINT)) AS created_at,
                   {zones}[1 + CAST(u(i * 11 + 2) * 6 AS INTEGER)] AS timezone
            FROM range({n}) r(i)""",
        f"""CREATE OR REPLACE TABLE customer_identity_links AS
            SELECT 'crm' AS source, 'CRM-' || i AS source_record_id, 'cus_' || lpad(i::VARCHAR, 7, '0') AS customer_id,
                   'single_record' AS rule, 1.0 AS score
            FROM range({n}) r(i)
            UNION ALL
            SELECT 'crm', 'CRM-' || ({n} + i), 'cus_' || lpad(i::VARCHAR, 7, '0'), 'exact_email', 1.0
            FROM range({n}) r(i) WHERE i % 33 = 0""",
        f"""CREATE OR REPLACE TABLE products AS
            SELECT 'P' || lpad(i::VARCHAR, 5, '0') AS product_id, 'Product ' || i AS name,
                   'cat' || (i % 20) AS category, CASE WHEN i % 50 = 7 THEN NULL ELSE 'brand' || (i % 200) END AS brand,
                   ROUND(5 + u(i * 13 + 3) * 195, 2) AS price, 'EUR' AS currency, TRUE AS in_stock
            FROM range({N_PRODUCTS}) r(i)""",
        # 60 % of customers buy, 1-4 orders each; 5 % of orders lie after as_of (must be ignored)
        f"""CREATE OR REPLACE TABLE orders_base AS
            WITH buyers AS (
                SELECT i, 1 + CAST(u(i * 17 + 4) * 4 AS INTEGER) AS k FROM range({n}) r(i) WHERE u(i * 17 + 5) < 0.6
            )
            SELECT 'O' || b.i || '-' || j.j AS order_id,
                   CASE WHEN b.i % 33 = 0 AND j.j % 2 = 1 THEN 'CRM-' || ({n} + b.i) ELSE 'CRM-' || b.i END AS customer_ref,
                   {as_of} - to_seconds(CAST((u(b.i * 101 + j.j) * 740 - 10) * 86400 AS BIGINT)) AS ordered_at,
                   CASE WHEN u(b.i * 103 + j.j) < 0.85 THEN 'EUR' ELSE 'GBP' END AS currency,
                   CASE WHEN u(b.i * 107 + j.j) < 0.9 THEN 'completed'
                        WHEN u(b.i * 107 + j.j) < 0.95 THEN 'refunded' ELSE 'cancelled' END AS status
            FROM buyers b, LATERAL (SELECT unnest(range(b.k)) AS j) j""",
        f"""CREATE OR REPLACE TABLE order_items AS
            SELECT o.order_id, l.line_no,
                   p.product_id, 1 + CAST(u(o.order_id || '#q' || l.line_no) * 2 AS INTEGER) AS quantity,
                   p.price * CASE WHEN u(o.order_id || '#d' || l.line_no) < 0.2 THEN 0.8 ELSE 1.0 END AS unit_eur
            FROM orders_base o, (SELECT 1 AS line_no UNION ALL SELECT 2) l,
                 products p
            WHERE p.product_id = 'P' || lpad(CAST(CAST(u(o.order_id || '#p' || l.line_no) * {N_PRODUCTS} AS INTEGER) AS VARCHAR), 5, '0')""",
        """CREATE OR REPLACE TABLE order_items AS
            SELECT order_id, line_no, product_id, quantity, ROUND(unit_eur, 2) AS unit_price,
                   ROUND(unit_eur * quantity, 2) AS line_total, ROUND(unit_eur * quantity, 2) AS line_total_eur
            FROM order_items""",
        """CREATE OR REPLACE TABLE orders AS
            SELECT o.*, t.total AS order_total, t.items AS item_count, t.total AS order_total_eur
            FROM orders_base o JOIN (SELECT order_id, SUM(line_total_eur) AS total, COUNT(*) AS items
                                     FROM order_items GROUP BY order_id) t USING (order_id)""",
        "DROP TABLE orders_base",
        # web events over the last 120 days (+2 days after as_of), 5 % anonymous
        f"""CREATE OR REPLACE TABLE web_events AS
            WITH e AS (
                SELECT j, CAST(u(j * 3 + 1) * {n} AS BIGINT) AS c, u(j * 3 + 2) AS r,
                       {as_of} - to_seconds(CAST((u(j * 3 + 3) * 122 - 2) * 86400 AS BIGINT)) AS occurred_at
                FROM range({n_web}) r(j)
            )
            SELECT 'w' || j AS event_id,
                   CASE WHEN j % 20 = 0 THEN NULL WHEN c % 33 = 0 AND j % 2 = 1 THEN 'CRM-' || ({n} + c)
                        ELSE 'CRM-' || c END AS customer_ref,
                   'anon-' || c AS anonymous_id,
                   CASE WHEN r < 0.5 THEN 'product_view' WHEN r < 0.85 THEN 'page_view'
                        WHEN r < 0.95 THEN 'add_to_cart' ELSE 'checkout_started' END AS event_type,
                   CASE WHEN r < 0.5 OR (r >= 0.85 AND r < 0.95)
                        THEN 'P' || lpad(CAST(CAST(u(j * 5 + 7) * {N_PRODUCTS} AS INTEGER) AS VARCHAR), 5, '0') END AS product_id,
                   occurred_at, 'web' AS platform,
                   's' || c || '-' || CAST(date_trunc('day', occurred_at) AS DATE) AS session_id
            FROM e""",
        f"""CREATE OR REPLACE TABLE email_events AS
            WITH m AS (
                SELECT k, CAST(u(k * 7 + 1) * {n} AS BIGINT) AS c,
                       {as_of} - to_seconds(CAST((u(k * 7 + 2) * 365 - 1) * 86400 AS BIGINT)) AS sent_at,
                       u(k * 7 + 3) AS r
                FROM range({n_msg}) r(k)
            ), ev AS (
                SELECT k, c, 'processed' AS event_type, sent_at AS occurred_at FROM m
                UNION ALL SELECT k, c, 'delivered', sent_at + INTERVAL 1 MINUTE FROM m WHERE r < 0.97
                UNION ALL SELECT k, c, 'open', sent_at + to_seconds(CAST(u(k * 7 + 4) * 36 * 3600 AS BIGINT))
                    FROM m WHERE r < 0.3
                UNION ALL SELECT k, c, 'click', sent_at + to_seconds(CAST(u(k * 7 + 5) * 40 * 3600 AS BIGINT))
                    FROM m WHERE r < 0.08
            )
            SELECT 'e' || k || '-' || event_type AS event_id, 'msg' || k AS message_id,
                   'user' || c || '@example.com' AS email, event_type, occurred_at,
                   CASE WHEN event_type = 'click' THEN 'https://shop.example/p' END AS url, 'c' || (k % 40) AS campaign_id
            FROM ev""",
    ]


def phase_generate(args: argparse.Namespace) -> dict:
    import duckdb

    db = Path(args.dir) / f"bench_{args.customers}.duckdb"
    if db.exists():
        return {"skipped": str(db)}
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    start = time.perf_counter()
    con = duckdb.connect(str(tmp))
    for sql in generation_sql(args.customers):
        con.execute(sql)
    counts = {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
    con.close()
    tmp.rename(db)
    return {"seconds": time.perf_counter() - start, "rows": counts}


TABLES = ["customer_profiles", "customer_identity_links", "products", "orders", "order_items", "web_events",
          "email_events"]


def phase_sql(args: argparse.Namespace) -> dict:
    import duckdb

    from tailor.features.customer_features import compute_customer_features
    from tailor.warehouse.duckdb_connection import DuckDBSession

    con = duckdb.connect(str(Path(args.dir) / f"bench_{args.customers}.duckdb"), read_only=True)
    start = time.perf_counter()
    features = compute_customer_features(DuckDBSession(con), AS_OF)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "rows": len(features), "buyers": int((features["order_count"] > 0).sum()),
            "cart_abandoners": int(features["cart_abandoned"].sum())}


def load_subset(con, k: int) -> dict:
    """The first ``k`` customers and all their rows, as pandas frames."""
    con.execute(f"""CREATE TEMP TABLE sub_links AS SELECT * FROM customer_identity_links
                    WHERE customer_id < 'cus_{k:07d}'""")
    q = {
        "customer_profiles": f"SELECT * FROM customer_profiles WHERE customer_id < 'cus_{k:07d}'",
        "customer_identity_links": "SELECT * FROM sub_links",
        "products": "SELECT * FROM products",
        "orders": "SELECT * FROM orders WHERE customer_ref IN (SELECT source_record_id FROM sub_links)",
        "order_items": """SELECT * FROM order_items WHERE order_id IN (SELECT order_id FROM orders
                          WHERE customer_ref IN (SELECT source_record_id FROM sub_links))""",
        "web_events": "SELECT * FROM web_events WHERE customer_ref IN (SELECT source_record_id FROM sub_links)",
        "email_events": f"""SELECT * FROM email_events WHERE email IN (SELECT email FROM customer_profiles
                            WHERE customer_id < 'cus_{k:07d}')""",
    }
    return {name: con.execute(sql).df() for name, sql in q.items()}


def _top_by(df, keys, sort_cols, ascending, n):
    return df.sort_values([keys, *sort_cols], ascending=[True, *ascending], kind="stable").groupby(keys).head(n)


def pandas_features(t: dict, as_of: datetime, cart_grace_hours: int = 1):
    """The same features as tailor.features.customer_features, in plain pandas (group-bys and merges), for the benchmark."""
    import numpy as np
    import pandas as pd

    from tailor.features import customer_features, priors, send_hour, settings

    enc = json.JSONEncoder(separators=(",", ":"))
    ts = pd.Timestamp(as_of)
    view_from = ts - pd.Timedelta(days=settings.VIEW_WINDOW_DAYS)
    prof = t["customer_profiles"]
    links = (t["customer_identity_links"][["source_record_id", "customer_id"]].dropna().drop_duplicates()
             .rename(columns={"source_record_id": "customer_ref"}))
    pdim = t["products"].assign(list_price_eur=lambda d: d["price"].where(d["currency"] == "EUR")).groupby(
        "product_id", as_index=False).agg(category=("category", "min"), brand=("brand", "min"),
                                          list_price_eur=("list_price_eur", "min"))
    orders = t["orders"][t["orders"]["ordered_at"] <= ts].merge(links, on="customer_ref")
    purch = orders[orders["status"] == "completed"]
    g = purch.assign(day=purch["ordered_at"].dt.floor("D")).groupby("customer_id")
    stats = pd.DataFrame({
        "order_count": g["order_id"].nunique(), "frequency": g["day"].nunique() - 1,
        "total_spend": g["order_total_eur"].sum(), "monetary_value": g["order_total_eur"].mean(),
        "first_order_at": g["ordered_at"].min(), "last_order_at": g["ordered_at"].max(),
    })
    nb = len(stats)
    for col, src in (("rfm_recency_score", "last_order_at"), ("rfm_frequency_score", "frequency"),
                     ("rfm_monetary_score", "monetary_value")):
        r = stats[src].rank(method="min").astype("int64")
        stats[col] = (settings.RFM_BUCKETS * r + nb - 1) // nb
    items = purch[["customer_id", "order_id"]].merge(
        t["order_items"][["order_id", "product_id", "quantity", "line_total_eur"]], on="order_id")
    items = items[items["product_id"].notna()].merge(pdim, on="product_id", how="left")
    bought = items[["customer_id", "product_id"]].drop_duplicates()
    d = items[(items["list_price_eur"] > 0) & (items["quantity"] > 0) & items["line_total_eur"].notna()]
    d = d.assign(disc=np.where(d["line_total_eur"] < (1 - settings.DISCOUNT_TOLERANCE) * d["list_price_eur"] * d["quantity"],
                               d["quantity"], 0))
    disc = d.groupby("customer_id").agg(units_bought=("quantity", "sum"), units_bought_discounted=("disc", "sum"))

    web = t["web_events"][t["web_events"]["occurred_at"] <= ts].merge(links, on="customer_ref")
    recent = web[web["occurred_at"] >= view_from]
    views = recent[recent["event_type"] == "product_view"]
    views_30d = views.groupby("customer_id")["event_id"].nunique().rename("product_views_30d")
    sessions = recent[recent["session_id"].notna()].groupby("customer_id")["session_id"].nunique().rename("sessions_30d")
    iw = web[web["occurred_at"] >= ts - pd.Timedelta(days=settings.INTENT_WINDOW_DAYS)].drop_duplicates(
        ["customer_id", "event_id", "event_type", "occurred_at"])
    age = (ts - iw["occurred_at"]).dt.total_seconds()
    score = iw["event_type"].map(settings.INTENT_WEIGHTS).fillna(0.0) * np.power(0.5, age / (settings.INTENT_HALF_LIFE_HOURS * 3600))
    intent = score.groupby(iw["customer_id"]).sum().rename("browsing_intent_score")
    rv = views[views["product_id"].notna()].groupby(["customer_id", "product_id"], as_index=False)["occurred_at"].max()
    rv = rv.merge(bought, on=["customer_id", "product_id"], how="left", indicator=True)
    rv = _top_by(rv[rv["_merge"] == "left_only"], "customer_id", ["occurred_at", "product_id"], [False, True],
                 settings.VIEWED_NOT_BOUGHT_MAX)
    vnb = rv.groupby("customer_id")["product_id"].agg(lambda s: enc.encode(list(s))).rename("viewed_not_bought")
    adds = web[(web["event_type"] == "add_to_cart") & web["product_id"].notna()
               & (web["occurred_at"] >= ts - pd.Timedelta(days=settings.CART_WINDOW_DAYS))
               & (web["occurred_at"] <= ts - pd.Timedelta(hours=cart_grace_hours))]
    adds = adds.merge(stats["last_order_at"], left_on="customer_id", right_index=True, how="left")
    adds = adds[adds["last_order_at"].isna() | (adds["last_order_at"] < adds["occurred_at"])]
    adds = adds.groupby(["customer_id", "product_id"], as_index=False)["occurred_at"].max()
    adds = adds.sort_values(["customer_id", "occurred_at", "product_id"], ascending=[True, False, True])
    abandoned = adds.groupby("customer_id")["product_id"].agg(lambda s: enc.encode(list(s))).rename(
        "abandoned_cart_products")
    cs = items[items["category"].notna()].groupby(["customer_id", "category"], as_index=False)["line_total_eur"].sum()
    cs = _top_by(cs[cs["line_total_eur"] > 0], "customer_id", ["line_total_eur", "category"], [False, True], 1)
    cv = web[web["event_type"] == "product_view"].merge(pdim[["product_id", "category"]], on="product_id")
    cv = cv[cv["category"].notna()].groupby(["customer_id", "category"], as_index=False)["event_id"].nunique()
    cv = _top_by(cv, "customer_id", ["event_id", "category"], [False, True], 1)
    top_category = cs.set_index("customer_id")["category"].combine_first(cv.set_index("customer_id")["category"])

    aff_views = web[(web["event_type"] == "product_view")
                    & (web["occurred_at"] >= ts - pd.Timedelta(days=settings.AFFINITY_VIEW_WINDOW_DAYS))].merge(
        pdim, on="product_id")
    affinity = {}
    for dim in ("category", "brand"):
        sp = items[items[dim].notna()].groupby(["customer_id", dim], as_index=False)["line_total_eur"].sum()
        sp = sp[sp["line_total_eur"] > 0].rename(columns={"line_total_eur": "amount"})
        vw = aff_views[aff_views[dim].notna()].groupby(["customer_id", dim], as_index=False)["event_id"].nunique()
        vw = vw.rename(columns={"event_id": "amount"})
        parts = []
        for frame, weight in ((sp, settings.AFFINITY_SPEND_WEIGHT), (vw, settings.AFFINITY_VIEW_WEIGHT)):
            parts.append(frame.assign(part=weight * frame["amount"] / frame.groupby("customer_id")["amount"].transform("sum")))
        sc = pd.concat(parts).groupby(["customer_id", dim], as_index=False)["part"].sum()
        sc["share"] = sc["part"] / sc.groupby("customer_id")["part"].transform("sum")
        sc["shown"] = sc["share"].round(settings.AFFINITY_SHARE_DECIMALS)
        sc = _top_by(sc, "customer_id", ["shown", dim], [False, True], settings.AFFINITY_TOP_N)
        affinity[dim] = sc.groupby("customer_id").apply(
            lambda x, dim=dim: enc.encode([{dim: n, "share": round(float(s), settings.AFFINITY_SHARE_DECIMALS)}
                                           for n, s in zip(x[dim], x["share"])]), include_groups=False)

    ee = t["email_events"]
    ee = ee[(ee["occurred_at"] <= ts) & ee["email"].notna() & ee["message_id"].notna()]
    ee = ee.assign(email_norm=ee["email"].str.strip().str.lower())
    msg = ee.assign(d=ee["event_type"] == "delivered", o=ee["event_type"] == "open", c=ee["event_type"] == "click"
                    ).groupby(["email_norm", "message_id"])[["d", "o", "c"]].max()
    msg = msg.assign(o=msg["d"] & msg["o"], c=msg["d"] & msg["c"]).groupby("email_norm").agg(
        emails_sent=("d", "size"), emails_delivered=("d", "sum"), email_opens=("o", "sum"), email_clicks=("c", "sum"))
    pe = prof[["customer_id", "email", "timezone"]].assign(email_norm=prof["email"].str.strip().str.lower())
    engaged = ee[ee["event_type"].isin(settings.SEND_HOUR_EVENTS)].merge(pe[["customer_id", "email_norm", "timezone"]],
                                                                  on="email_norm")
    seen = pd.concat([web[["customer_id", "occurred_at"]], orders[["customer_id", "ordered_at"]].rename(
        columns={"ordered_at": "occurred_at"}), engaged[["customer_id", "occurred_at"]]])
    last_seen = seen.groupby("customer_id")["occurred_at"].max().rename("last_seen_at")

    out = pe[["customer_id", "email_norm"]].merge(msg, left_on="email_norm", right_index=True, how="left")
    out = out.set_index("customer_id").join([stats, disc, views_30d, sessions, intent, vnb, abandoned, last_seen])
    out["top_category"] = top_category
    out["category_affinity"] = affinity["category"]
    out["brand_affinity"] = affinity["brand"]
    out = out.reset_index()
    created = prof.set_index("customer_id")["created_at"].reindex(out["customer_id"]).to_numpy()
    out["tenure_days"] = np.where(created <= np.datetime64(ts), (ts - pd.to_datetime(created)).total_seconds() / 86400, np.nan)
    out["recency_days"] = (ts - out["last_order_at"]).dt.total_seconds() / 86400
    out["days_since_last_seen"] = (ts - out["last_seen_at"]).dt.total_seconds() / 86400
    out["cart_abandoned"] = out["abandoned_cart_products"].notna()
    for col in ("viewed_not_bought", "abandoned_cart_products", "category_affinity", "brand_affinity"):
        out[col] = out[col].fillna("[]")
    for col in ("order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks",
                "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score", "units_bought",
                "units_bought_discounted", "sessions_30d", "emails_sent"):
        out[col] = out[col].fillna(0).astype("int64")
    out["total_spend"] = out["total_spend"].fillna(0.0)
    out["browsing_intent_score"] = out["browsing_intent_score"].fillna(0.0)
    out["top_category"] = out["top_category"].astype(object).where(out["top_category"].notna(), None)
    out["as_of"] = ts
    out["open_rate"] = (out["email_opens"] + 1) / (out["emails_delivered"] + 2)
    out["click_rate"] = (out["email_clicks"] + 1) / (out["emails_delivered"] + 2)
    fitted = priors.population_priors(out)
    out["discount_sensitivity"] = priors.smoothed_rate(out["units_bought_discounted"], out["units_bought"],
                                                       fitted["discount_sensitivity"])
    out["open_rate_eb"] = priors.smoothed_rate(out["email_opens"], out["emails_delivered"], fitted["open_rate_eb"])
    out["click_rate_eb"] = priors.smoothed_rate(out["email_clicks"], out["emails_delivered"], fitted["click_rate_eb"])
    q = engaged["occurred_at"].dt.floor("15min")
    counts = engaged.assign(utc_quarter=q).groupby(["customer_id", "timezone", "utc_quarter"], dropna=False,
                                                   as_index=False).size().rename(columns={"size": "events"})
    hours = send_hour.preferred_send_hours(counts, out["customer_id"])
    out["preferred_send_hour"] = hours["preferred_send_hour"].to_numpy()
    out["send_hour_events"] = hours["send_hour_events"].to_numpy()
    for col in ("as_of", "first_order_at", "last_order_at", "last_seen_at"):
        out[col] = out[col].astype("datetime64[ns]")
    return out[customer_features.FEATURE_COLUMNS].sort_values("customer_id").reset_index(drop=True)


def phase_subset(args: argparse.Namespace) -> dict:
    import duckdb
    import pandas as pd

    from tailor.features.customer_features import CustomerFeaturesSchema, compute_customer_features
    from tailor.warehouse.duckdb_connection import DuckDBSession

    con = duckdb.connect(str(Path(args.dir) / f"bench_{args.customers}.duckdb"), read_only=True)
    k = min(args.pandas_customers, args.customers)
    tables = load_subset(con, k)
    con.close()
    rows = {name: len(df) for name, df in tables.items()}
    start = time.perf_counter()
    by_pandas = pandas_features(tables, AS_OF)
    pandas_s = time.perf_counter() - start
    pandas_rss = peak_rss_mb()

    mem = duckdb.connect()
    for name, df in tables.items():
        mem.register(name + "_df", df)
        mem.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_df")
    start = time.perf_counter()
    by_sql = compute_customer_features(DuckDBSession(mem), AS_OF)
    sql_s = time.perf_counter() - start
    CustomerFeaturesSchema.validate(by_sql, lazy=True)
    affinity = ["category_affinity", "brand_affinity"]
    pd.testing.assert_frame_equal(by_pandas.drop(columns=affinity), by_sql.drop(columns=affinity),
                                  check_exact=False, rtol=1e-9, check_dtype=False)
    # shares are rounded to 4 decimals after float sums in a different order: a share on a rounding edge
    # (x.xxxx5) may come out 1e-4 apart; names and order must agree, shares within 1e-4
    off = 0
    for col in affinity:
        for a, b in zip(by_pandas[col], by_sql[col]):
            if a != b:
                la, lb = json.loads(a), json.loads(b)
                key = col.split("_")[0]
                same = [x[key] for x in la] == [y[key] for y in lb] and all(
                    abs(x["share"] - y["share"]) <= 1.0001e-4 for x, y in zip(la, lb))
                if not same:
                    raise AssertionError(f"{col} differs beyond rounding: pandas {a} / SQL {b}")
                off += 1
    return {"customers": k, "rows": rows, "pandas_seconds": pandas_s, "sql_seconds": sql_s,
            "pandas_peak_rss_mb_after_pandas": pandas_rss, "affinity_rows_rounded_apart": off}


def run_phase(phase: str, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--phase", phase, "--customers", str(args.customers),
           "--pandas-customers", str(args.pandas_customers), "--dir", args.dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"phase {phase} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--pandas-customers", type=int, default=100_000)
    ap.add_argument("--dir", default="/tmp/tailor-bench-features")
    ap.add_argument("--phase", choices=["generate", "sql", "subset"])
    args = ap.parse_args()
    if args.phase:
        result = {"generate": phase_generate, "sql": phase_sql, "subset": phase_subset}[args.phase](args)
        result["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(result))
        return

    import duckdb

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"DuckDB {duckdb.__version__}; {datetime.now():%Y-%m-%d %H:%M}")
    gen = run_phase("generate", args)
    print("generate:", json.dumps(gen))
    sql = run_phase("sql", args)
    print(f"SQL (DuckDB), {args.customers:,} customers: {sql['seconds']:.1f} s, peak RSS {sql['peak_rss_mb']:.0f} MB "
          f"({sql['buyers']:,} buyers, {sql['cart_abandoners']:,} cart abandoners)")
    sub = run_phase("subset", args)
    k = sub["customers"]
    scale = args.customers / k
    pandas_full = sub["pandas_seconds"] * scale
    print(f"subset of {k:,} customers ({sub['rows']['web_events']:,} web events, {sub['rows']['email_events']:,} "
          f"email events): pandas {sub['pandas_seconds']:.1f} s, SQL {sub['sql_seconds']:.1f} s, same output "
          f"({sub['affinity_rows_rounded_apart']} affinity lists with a share 1e-4 apart from rounding); "
          f"pandas process peak RSS {sub['peak_rss_mb']:.0f} MB")
    print(f"pandas extrapolated to {args.customers:,} customers (x{scale:g}): {pandas_full:.0f} s; "
          f"ratio pandas / SQL: {pandas_full / sql['seconds']:.1f}x at full size (measured SQL), "
          f"{sub['pandas_seconds'] / sub['sql_seconds']:.1f}x on the subset (both measured)")


if __name__ == "__main__":
    main()
