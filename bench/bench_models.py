"""Benchmark of the models stage at scale: RFM summary SQL + BG/NBD and Gamma-Gamma fits + scoring (now and 30 days
ago), then product recommendations (SQL + JSON packing), on DuckDB.

    flock /tmp/tailor-bench.lock .venv/bin/python bench/bench_models.py 1000000

Synthetic data, generated in DuckDB (deterministic: every random column is a hash of the row number), written to
``--dir`` (default /tmp/tailor-bench-models): N customers, 1.75 N orders (70 % of customers buy, 5 % of orders
refunded) over two years with 1-2 items each, 2,000 products in 20 categories (1 in 17 out of stock), 5 N product
views in sessions of 4 over 120 days (a third anonymous).

Baseline in the same run (``--baseline-customers``, default 100,000; 0 skips it), in a child process so the main
figure's peak RSS is its own: the plain recommendations (``naive_recommendations_sql`` + the per-row Python
packing loop this module replaced) against ``compute_recommendations`` on the same data; the two tables must be
equal, and the speed-up is printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tailor.models.clv import fit_models
from tailor.models.predictions import load_rfm_summary, lookback, score_customers
from tailor.models.recommendation_sql import naive_recommendations_sql
from tailor.models.recommendations import RECOMMENDATION_COLUMNS, compute_recommendations
from tailor.warehouse.duckdb_connection import DuckDBSession

AS_OF = datetime(2025, 12, 31, 12)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(con: duckdb.DuckDBPyConnection, n: int) -> str:
    t = time.time()
    con.execute(f"""
CREATE OR REPLACE TABLE customer_profiles AS SELECT 'cus_' || lpad(i::VARCHAR, 7, '0') AS customer_id FROM range({n}) r(i);
CREATE OR REPLACE TABLE customer_identity_links AS SELECT 'crm' AS source, replace(customer_id, 'cus_', 'CRM-') AS source_record_id, customer_id FROM customer_profiles;
CREATE OR REPLACE TABLE customer_features AS SELECT customer_id, 'cat' || (hash(customer_id) % 20)::VARCHAR AS top_category FROM customer_profiles;
CREATE OR REPLACE TABLE products AS SELECT 'P' || lpad(i::VARCHAR, 5, '0') AS product_id, 'Product ' || i AS name, 'cat' || (i % 20)::VARCHAR AS category, (i % 17) <> 0 AS in_stock FROM range(2000) r(i);
-- ~2.5 orders per buyer, 70 % buyers, over two years
CREATE OR REPLACE TABLE orders AS
SELECT 'O' || i::VARCHAR AS order_id, 'CRM-' || lpad((hash(i) % {int(n * 0.7)})::VARCHAR, 7, '0') AS customer_ref,
       TIMESTAMP '2024-01-01' + INTERVAL (hash(i * 7) % (730 * 86400)) SECOND AS ordered_at,
       CASE WHEN hash(i * 3) % 20 = 0 THEN 'refunded' ELSE 'completed' END AS status,
       10 + (hash(i * 11) % 20000) / 100.0 AS order_total_eur
FROM range({int(n * 1.75)}) r(i);
CREATE OR REPLACE TABLE order_items AS
SELECT o.order_id, k AS line_no, 'P' || lpad(((hash(o.order_id || k::VARCHAR) % 2000))::VARCHAR, 5, '0') AS product_id
FROM orders o, range(1, 3) k(k) WHERE k = 1 OR hash(o.order_id) % 2 = 0;
-- 5 product views per customer in sessions of ~4 views, in the last 120 days; a third anonymous
CREATE OR REPLACE TABLE web_events AS
SELECT 'E' || i::VARCHAR AS event_id,
       CASE WHEN i % 3 = 0 THEN NULL ELSE 'CRM-' || lpad(((i // 4) % {n})::VARCHAR, 7, '0') END AS customer_ref,
       'product_view' AS event_type,
       'P' || lpad(((hash(i // 4) % 100) * 20 + hash(i) % 20)::VARCHAR, 5, '0') AS product_id,
       TIMESTAMP '2025-09-01' + INTERVAL (hash(i // 4) % (120 * 86400)) SECOND AS occurred_at,
       'S' || (i // 4)::VARCHAR AS session_id
FROM range({5 * n}) r(i);
""")
    count = lambda table: con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: E731
    return (f"data: {n} customers, {count('orders')} orders, {count('order_items')} items, "
            f"{count('web_events')} views; built in {time.time() - t:.1f}s")


def connect(directory: Path, n: int) -> tuple[duckdb.DuckDBPyConnection, str]:
    directory.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(directory / f"models_{n}.duckdb"))
    con.execute("PRAGMA threads=2")
    return con, build(con, n)


def old_pack(long: pd.DataFrame, customer_ids: Any, as_of: datetime) -> pd.DataFrame:
    """The packing this module replaced (one Python dict per recommendation), kept here as the baseline."""
    encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
    df = long.rename(columns={c: str(c).lower() for c in long.columns})
    ids = pd.Series(list(customer_ids), dtype=object).astype(str)
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    products: dict[str, list[str]] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    df = df.sort_values(["customer_id", "rec_rank"], kind="stable")
    anchors = df["anchor_product_id"].astype(object).where(df["anchor_product_id"].notna(), None)
    for cid, pid, reason, source, anchor in zip(df["customer_id"].astype(str), df["product_id"].astype(str),
                                                df["reason"], df["source"], anchors, strict=True):
        products.setdefault(cid, []).append(pid)
        items.setdefault(cid, []).append(
            {"product_id": pid, "reason": str(reason), "source": str(source), "anchor_product_id": anchor})
    out = pd.DataFrame({"customer_id": ids.to_numpy(dtype=object)})
    out["as_of"] = pd.Series(ts, index=out.index).astype("datetime64[ns]")
    out["recommended_products"] = [encoder.encode(products[c]) if c in products else "[]" for c in out["customer_id"]]
    out["recommendations"] = [encoder.encode(items[c]) if c in items else "[]" for c in out["customer_id"]]
    out["recommendation_count"] = np.array([len(products.get(c, ())) for c in out["customer_id"]], dtype=np.int64)
    return out.sort_values("customer_id", kind="stable").reset_index(drop=True)[RECOMMENDATION_COLUMNS]


def baseline(directory: Path, n: int) -> None:
    con, built = connect(directory, n)
    print(f"baseline {built}", flush=True)
    session = DuckDBSession(con)
    ids = session.query("SELECT customer_id FROM customer_profiles")["customer_id"]
    t = time.time()
    naive = old_pack(session.query(naive_recommendations_sql(AS_OF)), ids, AS_OF)
    t_naive = time.time() - t
    t = time.time()
    fast = compute_recommendations(session, ids, AS_OF)
    t_fast = time.time() - t
    same = naive.equals(fast)
    print(f"baseline at {n} customers: plain SQL + per-row packing {t_naive:.1f}s, compute_recommendations "
          f"{t_fast:.1f}s: {t_naive / t_fast:.1f}x faster; tables {'identical' if same else 'DIFFERENT'}", flush=True)
    if not same:
        raise SystemExit("baseline and compute_recommendations differ")


def main_run(directory: Path, n: int) -> None:
    con, built = connect(directory, n)
    print(built, flush=True)
    session = DuckDBSession(con)
    t = time.time()
    summary = load_rfm_summary(session, AS_OF)
    t_sum = time.time() - t
    t = time.time()
    fits = fit_models(summary)
    t_fit = time.time() - t
    t = time.time()
    past = load_rfm_summary(session, lookback(AS_OF))
    ids = session.query("SELECT customer_id FROM customer_profiles")["customer_id"]
    scored = score_customers(ids, summary, past, fits.bgnbd, fits.gamma_gamma, AS_OF)
    t_score = time.time() - t
    print(f"predictions: summary SQL {t_sum:.1f}s ({len(summary)} buyers), fits {t_fit:.1f}s "
          f"(converged {[f.converged for f in fits.fits]}), past summary + scoring {t_score:.1f}s "
          f"({len(scored)} rows); peak RSS so far {peak_rss_mb():.0f} MB", flush=True)
    t = time.time()
    recs = compute_recommendations(session, ids, AS_OF)
    t_rec = time.time() - t
    print(f"recommendations: {t_rec:.1f}s ({(recs.recommendation_count > 0).sum()} customers with "
          f"recommendations, mean {recs.recommendation_count.mean():.2f})")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("customers", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--baseline-customers", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/tailor-bench-models"))
    parser.add_argument("--phase", choices=["all", "baseline", "main"], default="all")
    args = parser.parse_args()
    if args.phase == "baseline":
        baseline(args.dir, args.customers)
        return
    if args.phase == "all" and args.baseline_customers:
        subprocess.run([sys.executable, __file__, str(args.baseline_customers), "--phase", "baseline",
                        "--dir", str(args.dir)], check=True)
    main_run(args.dir, args.customers)


if __name__ == "__main__":
    main()
