"""Point-in-time customer features (table ``customer_features``).

One SQL statement in Snowflake's dialect computes every feature per ``customer_id`` of ``customer_profiles``;
:func:`finalize_features` only fixes dtypes, turns the SQL arrays into JSON-list strings and adds the smoothed
email rates. Definitions: ``docs/features.md``.

Point-in-time rule: no row whose timestamp (``orders.ordered_at``, ``web_events.occurred_at``,
``email_events.occurred_at``) is after ``as_of`` is read. ``as_of`` is UTC; naive datetimes are taken as UTC,
aware ones are converted to UTC. Rows exactly at ``as_of`` are included.

The SQL is written to run unchanged on Snowflake and, transpiled with sqlglot (``read="snowflake",
write="duckdb"``), on DuckDB (the embedded warehouse and fakesnow). Portability choices:

* ``last_seen_at`` is ``MAX`` over a ``UNION ALL`` of activity timestamps, not ``GREATEST(...)``: Snowflake's
  ``GREATEST`` returns NULL if any argument is NULL, DuckDB's ignores NULLs.
* Lists are ``ARRAY_AGG(x) WITHIN GROUP (ORDER BY ...)`` over rows pre-filtered to non-NULL values (Snowflake
  drops NULLs, DuckDB and fakesnow keep them). The driver returns them as a JSON string (Snowflake, fakesnow) or
  as a list/array (DuckDB); :func:`finalize_features` accepts both.
* Booleans are comparisons (``COALESCE(n, 0) > 0``), not ``BOOLOR_AGG``/``MAX(boolean)``; counts of "messages
  with an open" use ``MAX(CASE ... THEN 1 ELSE 0 END)`` per message.
* Fractional days are ``DATEDIFF(second, a, b) / 86400.0`` (both engines count second boundaries).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

#: Column order of ``customer_features`` (internal spec, "Features").
FEATURE_COLUMNS: list[str] = [
    "customer_id",
    "as_of",
    "order_count",
    "frequency",
    "total_spend",
    "monetary_value",
    "first_order_at",
    "last_order_at",
    "recency_days",
    "tenure_days",
    "last_seen_at",
    "days_since_last_seen",
    "product_views_30d",
    "viewed_not_bought",
    "cart_abandoned",
    "abandoned_cart_products",
    "top_category",
    "emails_delivered",
    "email_opens",
    "email_clicks",
    "open_rate",
    "click_rate",
]

#: Columns the SQL returns (everything but the two rates, which finalize_features derives).
SQL_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in ("open_rate", "click_rate")]

VIEW_WINDOW_DAYS = 30
CART_WINDOW_DAYS = 7
CART_GRACE_HOURS = 1
VIEWED_NOT_BOUGHT_MAX = 10

_INT_COLUMNS = ["order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks"]
_FLOAT_COLUMNS = ["monetary_value", "recency_days", "tenure_days", "days_since_last_seen"]
_TS_COLUMNS = ["first_order_at", "last_order_at", "last_seen_at"]
_LIST_COLUMNS = ["viewed_not_bought", "abandoned_cart_products"]


def _as_of_utc_naive(as_of: datetime) -> pd.Timestamp:
    """``as_of`` as a tz-naive UTC ``Timestamp`` (naive input is already UTC by convention)."""
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is not None:
        ts = ts.tz_convert(timezone.utc).tz_localize(None)
    return ts


def _timestamp_literal(as_of: datetime) -> str:
    ts = _as_of_utc_naive(as_of)
    fmt = "%Y-%m-%d %H:%M:%S.%f" if ts.microsecond else "%Y-%m-%d %H:%M:%S"
    return f"TIMESTAMP '{ts.strftime(fmt)}'"


def customer_features_sql(as_of: datetime) -> str:
    """One ``SELECT`` (Snowflake dialect) returning :data:`SQL_COLUMNS`, one row per ``customer_profiles`` row."""
    t = _timestamp_literal(as_of)
    view_from = f"DATEADD(day, -{VIEW_WINDOW_DAYS}, {t})"
    cart_from = f"DATEADD(day, -{CART_WINDOW_DAYS}, {t})"
    cart_to = f"DATEADD(hour, -{CART_GRACE_HOURS}, {t})"
    return f"""
WITH
links AS (
    -- source customer_ref -> golden customer_id (several refs may map to one customer)
    SELECT DISTINCT source_record_id AS customer_ref, customer_id
    FROM customer_identity_links
    WHERE source_record_id IS NOT NULL AND customer_id IS NOT NULL
),
customer_emails AS (
    SELECT customer_id, LOWER(TRIM(email)) AS email_norm
    FROM customer_profiles
    WHERE email IS NOT NULL
),
product_dim AS (
    SELECT product_id, MIN(category) AS category
    FROM products
    GROUP BY product_id
),
customer_orders AS (
    -- every order (any status) up to as_of
    SELECT l.customer_id, o.order_id, o.ordered_at, o.status, o.order_total
    FROM orders o
    JOIN links l ON l.customer_ref = o.customer_ref
    WHERE o.ordered_at <= {t}
),
purchases AS (
    SELECT customer_id, order_id, ordered_at, order_total
    FROM customer_orders
    WHERE status = 'completed'
),
order_stats AS (
    SELECT
        customer_id,
        COUNT(DISTINCT order_id) AS order_count,
        COUNT(DISTINCT CAST(ordered_at AS DATE)) - 1 AS frequency,
        SUM(order_total) AS total_spend,
        AVG(order_total) AS monetary_value,
        MIN(ordered_at) AS first_order_at,
        MAX(ordered_at) AS last_order_at
    FROM purchases
    GROUP BY customer_id
),
purchased_items AS (
    SELECT p.customer_id, oi.product_id, oi.line_total
    FROM purchases p
    JOIN order_items oi ON oi.order_id = p.order_id
    WHERE oi.product_id IS NOT NULL
),
bought AS (
    SELECT DISTINCT customer_id, product_id FROM purchased_items
),
customer_web AS (
    -- identified web events up to as_of (customer_ref NULL = anonymous, dropped by the join)
    SELECT l.customer_id, w.event_id, w.event_type, w.product_id, w.occurred_at
    FROM web_events w
    JOIN links l ON l.customer_ref = w.customer_ref
    WHERE w.occurred_at <= {t}
),
views_30d AS (
    SELECT customer_id, COUNT(DISTINCT event_id) AS product_views_30d
    FROM customer_web
    WHERE event_type = 'product_view' AND occurred_at >= {view_from}
    GROUP BY customer_id
),
recent_views AS (
    SELECT customer_id, product_id, MAX(occurred_at) AS last_viewed_at
    FROM customer_web
    WHERE event_type = 'product_view' AND product_id IS NOT NULL AND occurred_at >= {view_from}
    GROUP BY customer_id, product_id
),
not_bought_ranked AS (
    SELECT
        v.customer_id,
        v.product_id,
        ROW_NUMBER() OVER (PARTITION BY v.customer_id ORDER BY v.last_viewed_at DESC, v.product_id) AS rn
    FROM recent_views v
    LEFT JOIN bought b ON b.customer_id = v.customer_id AND b.product_id = v.product_id
    WHERE b.product_id IS NULL
),
viewed_not_bought AS (
    SELECT customer_id, ARRAY_AGG(product_id) WITHIN GROUP (ORDER BY rn) AS viewed_not_bought
    FROM not_bought_ranked
    WHERE rn <= {VIEWED_NOT_BOUGHT_MAX}
    GROUP BY customer_id
),
abandoned_adds AS (
    -- add_to_cart in [as_of - 7 days, as_of - 1 hour] with no completed order at or after it (up to as_of)
    SELECT w.customer_id, w.product_id, MAX(w.occurred_at) AS last_added_at
    FROM customer_web w
    LEFT JOIN order_stats os ON os.customer_id = w.customer_id
    WHERE w.event_type = 'add_to_cart'
      AND w.product_id IS NOT NULL
      AND w.occurred_at >= {cart_from}
      AND w.occurred_at <= {cart_to}
      AND (os.last_order_at IS NULL OR os.last_order_at < w.occurred_at)
    GROUP BY w.customer_id, w.product_id
),
abandoned_cart AS (
    SELECT
        customer_id,
        COUNT(*) AS abandoned_product_count,
        ARRAY_AGG(product_id) WITHIN GROUP (ORDER BY last_added_at DESC, product_id) AS abandoned_cart_products
    FROM abandoned_adds
    GROUP BY customer_id
),
category_spend AS (
    SELECT
        pit.customer_id,
        pdim.category,
        ROW_NUMBER() OVER (PARTITION BY pit.customer_id ORDER BY SUM(pit.line_total) DESC, pdim.category) AS rn
    FROM purchased_items pit
    JOIN product_dim pdim ON pdim.product_id = pit.product_id
    WHERE pdim.category IS NOT NULL
    GROUP BY pit.customer_id, pdim.category
    HAVING SUM(pit.line_total) > 0
),
category_views AS (
    SELECT
        w.customer_id,
        pdim.category,
        ROW_NUMBER() OVER (PARTITION BY w.customer_id ORDER BY COUNT(DISTINCT w.event_id) DESC, pdim.category) AS rn
    FROM customer_web w
    JOIN product_dim pdim ON pdim.product_id = w.product_id
    WHERE w.event_type = 'product_view' AND pdim.category IS NOT NULL
    GROUP BY w.customer_id, pdim.category
),
email_messages AS (
    -- one row per (address, message): which of delivered / open / click happened up to as_of
    SELECT
        LOWER(TRIM(email)) AS email_norm,
        message_id,
        MAX(CASE WHEN event_type = 'delivered' THEN 1 ELSE 0 END) AS is_delivered,
        MAX(CASE WHEN event_type = 'open' THEN 1 ELSE 0 END) AS is_opened,
        MAX(CASE WHEN event_type = 'click' THEN 1 ELSE 0 END) AS is_clicked
    FROM email_events
    WHERE occurred_at <= {t} AND email IS NOT NULL AND message_id IS NOT NULL
    GROUP BY LOWER(TRIM(email)), message_id
),
email_stats AS (
    SELECT
        email_norm,
        SUM(is_delivered) AS emails_delivered,
        SUM(is_delivered * is_opened) AS email_opens,
        SUM(is_delivered * is_clicked) AS email_clicks
    FROM email_messages
    GROUP BY email_norm
),
activity AS (
    SELECT customer_id, occurred_at AS seen_at FROM customer_web
    UNION ALL
    SELECT customer_id, ordered_at AS seen_at FROM customer_orders
    UNION ALL
    SELECT ce.customer_id, ee.occurred_at AS seen_at
    FROM email_events ee
    JOIN customer_emails ce ON ce.email_norm = LOWER(TRIM(ee.email))
    WHERE ee.event_type IN ('open', 'click') AND ee.occurred_at <= {t}
),
last_seen AS (
    SELECT customer_id, MAX(seen_at) AS last_seen_at
    FROM activity
    GROUP BY customer_id
)
SELECT
    p.customer_id,
    {t} AS as_of,
    COALESCE(os.order_count, 0) AS order_count,
    COALESCE(os.frequency, 0) AS frequency,
    COALESCE(os.total_spend, 0.0) AS total_spend,
    os.monetary_value,
    os.first_order_at,
    os.last_order_at,
    DATEDIFF(second, os.last_order_at, {t}) / 86400.0 AS recency_days,
    CASE WHEN p.created_at <= {t} THEN DATEDIFF(second, p.created_at, {t}) / 86400.0 END AS tenure_days,
    ls.last_seen_at,
    DATEDIFF(second, ls.last_seen_at, {t}) / 86400.0 AS days_since_last_seen,
    COALESCE(v.product_views_30d, 0) AS product_views_30d,
    vnb.viewed_not_bought,
    COALESCE(ac.abandoned_product_count, 0) > 0 AS cart_abandoned,
    ac.abandoned_cart_products,
    COALESCE(cs.category, cv.category) AS top_category,
    COALESCE(es.emails_delivered, 0) AS emails_delivered,
    COALESCE(es.email_opens, 0) AS email_opens,
    COALESCE(es.email_clicks, 0) AS email_clicks
FROM customer_profiles p
LEFT JOIN order_stats os ON os.customer_id = p.customer_id
LEFT JOIN last_seen ls ON ls.customer_id = p.customer_id
LEFT JOIN views_30d v ON v.customer_id = p.customer_id
LEFT JOIN viewed_not_bought vnb ON vnb.customer_id = p.customer_id
LEFT JOIN abandoned_cart ac ON ac.customer_id = p.customer_id
LEFT JOIN category_spend cs ON cs.customer_id = p.customer_id AND cs.rn = 1
LEFT JOIN category_views cv ON cv.customer_id = p.customer_id AND cv.rn = 1
LEFT JOIN email_stats es ON es.email_norm = LOWER(TRIM(p.email))
ORDER BY p.customer_id
""".strip()


_JSON = json.JSONEncoder(separators=(",", ":"))


def _json_list(value: Any) -> str:
    """SQL array value (JSON text from Snowflake/fakesnow, list/ndarray from DuckDB, NULL) -> compact JSON list."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return "[]"
    if isinstance(value, str):
        items = json.loads(value) if value.strip() else []
        if not isinstance(items, list):
            raise ValueError(f"customer_features: expected a JSON array from SQL, got {value!r}")
    else:
        items = list(value)
    return _JSON.encode([str(i) for i in items if i is not None])


def _to_utc_naive_datetime(series: pd.Series) -> pd.Series:
    out = pd.to_datetime(series)
    if isinstance(out.dtype, pd.DatetimeTZDtype):
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out.astype("datetime64[ns]")


def finalize_features(raw: pd.DataFrame, as_of: datetime) -> pd.DataFrame:
    """Turn the raw result of :func:`customer_features_sql` into ``customer_features`` (spec column order).

    Accepts upper-case column names (Snowflake), DuckDB list values or Snowflake JSON arrays, Decimal numbers.
    """
    df = raw.rename(columns={c: str(c).lower() for c in raw.columns})
    missing = [c for c in SQL_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"customer_features: SQL result is missing columns {missing}")

    out = pd.DataFrame(index=df.index)
    out["customer_id"] = df["customer_id"].astype(object)
    out["as_of"] = pd.Series(_as_of_utc_naive(as_of), index=df.index).astype("datetime64[ns]")
    for col in _INT_COLUMNS:
        out[col] = pd.to_numeric(df[col]).fillna(0).astype("int64")
    out["total_spend"] = df["total_spend"].astype("float64").fillna(0.0)
    for col in _FLOAT_COLUMNS:
        out[col] = df[col].astype("float64")
    for col in _TS_COLUMNS:
        out[col] = _to_utc_naive_datetime(df[col])
    for col in _LIST_COLUMNS:
        out[col] = df[col].map(_json_list).astype(object)
    out["cart_abandoned"] = df["cart_abandoned"].astype("boolean").fillna(False).astype(bool)
    out["top_category"] = df["top_category"].astype(object).where(df["top_category"].notna(), None)
    out["open_rate"] = (out["email_opens"] + 1) / (out["emails_delivered"] + 2)
    out["click_rate"] = (out["email_clicks"] + 1) / (out["emails_delivered"] + 2)

    out = out[FEATURE_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)
    return out


def compute_customer_features(query: Callable[[str], pd.DataFrame], as_of: datetime) -> pd.DataFrame:
    """Run the feature SQL through ``query`` (e.g. ``Warehouse.query``) and finalize the result."""
    return finalize_features(query(customer_features_sql(as_of)), as_of)


# --------------------------------------------------------------------------------------------- schema
def _is_json_str_list(value: Any, max_len: int | None = None) -> bool:
    try:
        items = json.loads(value)
    except (TypeError, ValueError):
        return False
    return (
        isinstance(items, list)
        and all(isinstance(i, str) for i in items)
        and len(set(items)) == len(items)
        and (max_len is None or len(items) <= max_len)
    )


class CustomerFeaturesSchema(pa.DataFrameModel):
    """``customer_features``: one row per customer_id, as of ``as_of`` (UTC, tz-naive)."""

    customer_id: Series[str] = pa.Field(unique=True, nullable=False)
    as_of: Series[pa.DateTime] = pa.Field(nullable=False)
    order_count: Series[np.int64] = pa.Field(ge=0)
    frequency: Series[np.int64] = pa.Field(ge=0)
    total_spend: Series[np.float64] = pa.Field(ge=0, nullable=False)
    monetary_value: Series[np.float64] = pa.Field(ge=0, nullable=True)
    first_order_at: Series[pa.DateTime] = pa.Field(nullable=True)
    last_order_at: Series[pa.DateTime] = pa.Field(nullable=True)
    recency_days: Series[np.float64] = pa.Field(ge=0, nullable=True)
    tenure_days: Series[np.float64] = pa.Field(ge=0, nullable=True)
    last_seen_at: Series[pa.DateTime] = pa.Field(nullable=True)
    days_since_last_seen: Series[np.float64] = pa.Field(ge=0, nullable=True)
    product_views_30d: Series[np.int64] = pa.Field(ge=0)
    viewed_not_bought: Series[str] = pa.Field(nullable=False)
    cart_abandoned: Series[bool] = pa.Field(nullable=False)
    abandoned_cart_products: Series[str] = pa.Field(nullable=False)
    top_category: Series[str] = pa.Field(nullable=True)
    emails_delivered: Series[np.int64] = pa.Field(ge=0)
    email_opens: Series[np.int64] = pa.Field(ge=0)
    email_clicks: Series[np.int64] = pa.Field(ge=0)
    open_rate: Series[np.float64] = pa.Field(gt=0, lt=1)
    click_rate: Series[np.float64] = pa.Field(gt=0, lt=1)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.check("viewed_not_bought", name="json_list_max_10")
    def _viewed_not_bought_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_json_str_list(v, VIEWED_NOT_BOUGHT_MAX))

    @pa.check("abandoned_cart_products", name="json_list")
    def _abandoned_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(_is_json_str_list)

    @pa.dataframe_check(name="single_as_of")
    def _single_as_of(cls, df: pd.DataFrame) -> bool:
        return df["as_of"].nunique() <= 1

    @pa.dataframe_check(name="nothing_after_as_of")
    def _nothing_after_as_of(cls, df: pd.DataFrame) -> pd.Series:
        ok = pd.Series(True, index=df.index)
        for col in ("first_order_at", "last_order_at", "last_seen_at"):
            ok &= df[col].isna() | (df[col] <= df["as_of"])
        return ok

    @pa.dataframe_check(name="order_fields_consistent")
    def _order_fields_consistent(cls, df: pd.DataFrame) -> pd.Series:
        none = df["order_count"] == 0
        return (
            (df["frequency"] <= (df["order_count"] - 1).clip(lower=0))
            & (none == df["monetary_value"].isna())
            & (none == df["last_order_at"].isna())
            & (none == df["first_order_at"].isna())
            & (none == df["recency_days"].isna())
            & (none | (df["first_order_at"] <= df["last_order_at"]))
            & (~none | (df["total_spend"] == 0))
        )

    @pa.dataframe_check(name="email_counts_within_delivered")
    def _email_counts(cls, df: pd.DataFrame) -> pd.Series:
        return (df["email_opens"] <= df["emails_delivered"]) & (df["email_clicks"] <= df["emails_delivered"])

    @pa.dataframe_check(name="cart_abandoned_iff_products")
    def _cart_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return df["cart_abandoned"] == (df["abandoned_cart_products"] != "[]")

    @pa.dataframe_check(name="last_seen_consistent")
    def _last_seen_consistent(cls, df: pd.DataFrame) -> pd.Series:
        return df["last_seen_at"].isna() == df["days_since_last_seen"].isna()
