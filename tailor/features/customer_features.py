"""Point-in-time customer features (table ``customer_features``): the column order, the finishing step in Python,
and the table's schema.

The warehouse computes the features per ``customer_id`` of ``customer_profiles`` in one SQL statement
(:mod:`tailor.features.sql`) and counts opens and clicks per UTC quarter hour in a second, small one
(:mod:`tailor.features.send_hour`). :func:`finalize_features` fixes dtypes, fits the population's empirical-Bayes
priors (smoothed email rates, discount sensitivity; :mod:`tailor.features.priors`) and converts the send hours to
each customer's zone. Definitions: ``docs/features.md``.

Point-in-time rule: no row whose timestamp (``orders.ordered_at``, ``web_events.occurred_at``,
``email_events.occurred_at``) is after ``as_of`` is read. ``as_of`` is UTC; naive datetimes are taken as UTC,
aware ones are converted to UTC. Rows exactly at ``as_of`` are included.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive, utc_naive_series
from tailor.features.priors import population_priors, smoothed_rate
from tailor.features.send_hour import preferred_send_hours, send_hour_counts_sql
from tailor.features.settings import AFFINITY_TOP_N, CART_GRACE_HOURS, RFM_BUCKETS, VIEWED_NOT_BOUGHT_MAX
from tailor.features.sql import customer_features_sql
from tailor.warehouse.json_lists import COMPACT_JSON, is_distinct_string_list, json_list_of
from tailor.warehouse.session import WarehouseSession

#: Column order of ``customer_features``: RFM, browsing and e-mail counts first, then the scores, affinities and
#: empirical-Bayes rates. New columns go at the end, so readers keep their column positions.
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
    # scores, affinities, discounts, sessions and empirical-Bayes rates
    "rfm_recency_score",
    "rfm_frequency_score",
    "rfm_monetary_score",
    "category_affinity",
    "brand_affinity",
    "units_bought",
    "units_bought_discounted",
    "discount_sensitivity",
    "sessions_30d",
    "browsing_intent_score",
    "emails_sent",
    "open_rate_eb",
    "click_rate_eb",
    "preferred_send_hour",
    "send_hour_events",
]

#: Columns finalize_features derives in Python (population priors, time-zone conversion).
_DERIVED_COLUMNS = {
    "open_rate", "click_rate", "discount_sensitivity", "open_rate_eb", "click_rate_eb", "preferred_send_hour",
    "send_hour_events",
}
#: Columns the main SQL returns.
SQL_COLUMNS: list[str] = [c for c in FEATURE_COLUMNS if c not in _DERIVED_COLUMNS]

_INT_COLUMNS = [
    "order_count", "frequency", "product_views_30d", "emails_delivered", "email_opens", "email_clicks",
    "rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score", "units_bought", "units_bought_discounted",
    "sessions_30d", "emails_sent",
]
_FLOAT_COLUMNS = ["monetary_value", "recency_days", "tenure_days", "days_since_last_seen"]
_TS_COLUMNS = ["first_order_at", "last_order_at", "last_seen_at"]
_JSON_COLUMNS = ["viewed_not_bought", "abandoned_cart_products", "category_affinity", "brand_affinity"]


def _sql_array(value: Any) -> list[Any]:
    """SQL array value (JSON text from Snowflake/fakesnow, list/ndarray from DuckDB, NULL) -> list without NULLs."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        items = json.loads(value) if value.strip() else []
        if not isinstance(items, list):
            raise ValueError(f"customer_features: expected a JSON array from SQL, got {value!r}")
    else:
        items = list(value)
    return [i for i in items if i is not None]


def _json_list(value: Any) -> str:
    """SQL array value -> compact JSON list (elements as they are: strings, or objects for the affinities)."""
    return COMPACT_JSON.encode([i if isinstance(i, dict) else str(i) for i in _sql_array(value)])


def _json_column(values: pd.Series) -> pd.Series:
    """JSON built by the warehouse (``TO_JSON``) -> compact JSON text, ``"[]"`` for NULL.

    Compact text (DuckDB, Snowflake's ``TO_JSON``) is kept as is: no per-row work for a million customers.
    Pretty-printed text (Snowflake's raw ARRAY_AGG) or a driver-side list is re-encoded compactly.
    """
    out = values.astype(object).where(values.notna(), "[]")
    is_text = out.map(lambda v: isinstance(v, str))
    if is_text.all():
        loose = out.str.contains("\n", regex=False)
        if loose.any():
            out = out.where(~loose, out[loose].map(_json_list))
        return out.astype(object)
    return out.map(_json_list).astype(object)


def finalize_features(raw: pd.DataFrame, as_of: datetime, *, send_hour_counts: pd.DataFrame) -> pd.DataFrame:
    """Turn the raw results of :func:`customer_features_sql` and :func:`send_hour_counts_sql` into
    ``customer_features`` (column order of :data:`FEATURE_COLUMNS`).

    Column names are lower case, as every session returns them (``SnowflakeSession.query`` folds Snowflake's upper
    case); accepts DuckDB list values or Snowflake JSON arrays, Decimal numbers.
    Fits the empirical-Bayes priors on this population (everybody in ``raw``, as of ``as_of``).
    """
    missing = [c for c in SQL_COLUMNS if c not in raw.columns]
    if missing:
        raise ValueError(f"customer_features: SQL result is missing columns {missing}")

    out = pd.DataFrame(index=raw.index)
    out["customer_id"] = raw["customer_id"].astype(object)
    out["as_of"] = pd.Series(utc_naive(as_of), index=raw.index).astype("datetime64[ns]")
    for col in _INT_COLUMNS:
        out[col] = pd.to_numeric(raw[col]).fillna(0).astype("int64")
    out["total_spend"] = raw["total_spend"].astype("float64").fillna(0.0)
    out["browsing_intent_score"] = raw["browsing_intent_score"].astype("float64").fillna(0.0)
    for col in _FLOAT_COLUMNS:
        out[col] = raw[col].astype("float64")
    for col in _TS_COLUMNS:
        out[col] = utc_naive_series(raw[col])
    for col in _JSON_COLUMNS:
        out[col] = _json_column(raw[col])
    out["cart_abandoned"] = raw["cart_abandoned"].astype("boolean").fillna(False).astype(bool)
    out["top_category"] = raw["top_category"].astype(object).where(raw["top_category"].notna(), None)
    out["open_rate"] = (out["email_opens"] + 1) / (out["emails_delivered"] + 2)
    out["click_rate"] = (out["email_clicks"] + 1) / (out["emails_delivered"] + 2)
    priors = population_priors(out)
    out["discount_sensitivity"] = smoothed_rate(
        out["units_bought_discounted"], out["units_bought"], priors["discount_sensitivity"]
    )
    out["open_rate_eb"] = smoothed_rate(out["email_opens"], out["emails_delivered"], priors["open_rate_eb"])
    out["click_rate_eb"] = smoothed_rate(out["email_clicks"], out["emails_delivered"], priors["click_rate_eb"])
    hours = preferred_send_hours(send_hour_counts, out["customer_id"])
    out["preferred_send_hour"] = hours["preferred_send_hour"].to_numpy()
    out["send_hour_events"] = hours["send_hour_events"].to_numpy()

    out = out[FEATURE_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)
    return out


def compute_customer_features(
    session: WarehouseSession, as_of: datetime, cart_grace_hours: int = CART_GRACE_HOURS
) -> pd.DataFrame:
    """``customer_features`` as of ``as_of``: the feature SQL and the send-hour counts in ``session``, finalized."""
    raw = session.query(customer_features_sql(as_of, cart_grace_hours))
    counts = session.query(send_hour_counts_sql(as_of))
    return finalize_features(raw, as_of, send_hour_counts=counts)


def feature_summary(features: pd.DataFrame) -> dict[str, float | int]:
    """The figures Dagster plots per materialization (current features and every history partition)."""
    buyers = features[features["order_count"] > 0]

    def mean(s: pd.Series) -> float:
        return float(s.mean()) if len(s) else 0.0

    return {
        "customers": int(len(features)),
        "buyers": int(len(buyers)),
        "mean_order_value_eur": mean(buyers["monetary_value"]),
        "median_recency_days": float(buyers["recency_days"].median()) if len(buyers) else 0.0,
        "total_spend_eur": float(features["total_spend"].sum()),
        "cart_abandoners": int(features["cart_abandoned"].sum()),
        "mean_browsing_intent_score": mean(features["browsing_intent_score"]),
        "mean_sessions_30d": mean(features["sessions_30d"]),
        "mean_open_rate_eb": mean(features["open_rate_eb"]),
        "mean_click_rate_eb": mean(features["click_rate_eb"]),
        "mean_discount_sensitivity_buyers": mean(buyers["discount_sensitivity"]),
        "total_email_opens": int(features["email_opens"].sum()),
    }


def feature_figures(features: pd.DataFrame) -> dict[str, float | int]:
    """:func:`feature_summary` plus the population priors fitted on ``features``, as
    ``prior_<name>_alpha`` / ``prior_<name>_beta``: the figures of a materialization."""
    figures: dict[str, float | int] = feature_summary(features)
    for name, (alpha, beta) in population_priors(features).items():
        figures[f"prior_{name}_alpha"] = alpha
        figures[f"prior_{name}_beta"] = beta
    return figures


def _is_affinity_json(value: Any, key: str) -> bool:
    """A JSON list of at most AFFINITY_TOP_N ``{key: str, "share": [0, 1]}``, distinct names, shares descending."""
    items = json_list_of(value, dict)
    if items is None or len(items) > AFFINITY_TOP_N:
        return False
    if not all(set(i) == {key, "share"} and isinstance(i[key], str) for i in items):
        return False
    shares = [i["share"] for i in items]
    return (
        all(isinstance(x, (int, float)) and 0 <= x <= 1 for x in shares)
        and shares == sorted(shares, reverse=True)
        and sum(shares) <= 1 + 1e-3  # rounded to 4 decimals each
        and len({i[key] for i in items}) == len(items)
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
    rfm_recency_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    rfm_frequency_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    rfm_monetary_score: Series[np.int64] = pa.Field(ge=0, le=RFM_BUCKETS)
    category_affinity: Series[str] = pa.Field(nullable=False)
    brand_affinity: Series[str] = pa.Field(nullable=False)
    units_bought: Series[np.int64] = pa.Field(ge=0)
    units_bought_discounted: Series[np.int64] = pa.Field(ge=0)
    discount_sensitivity: Series[np.float64] = pa.Field(gt=0, lt=1)
    sessions_30d: Series[np.int64] = pa.Field(ge=0)
    browsing_intent_score: Series[np.float64] = pa.Field(ge=0, nullable=False)
    emails_sent: Series[np.int64] = pa.Field(ge=0)
    open_rate_eb: Series[np.float64] = pa.Field(gt=0, lt=1)
    click_rate_eb: Series[np.float64] = pa.Field(gt=0, lt=1)
    preferred_send_hour: Series[np.int64] = pa.Field(ge=0, le=23)
    send_hour_events: Series[np.int64] = pa.Field(ge=0)

    class Config:
        strict = True
        ordered = True
        coerce = False

    @pa.check("viewed_not_bought", name="json_list_max_10")
    def _viewed_not_bought_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: is_distinct_string_list(v, VIEWED_NOT_BOUGHT_MAX))

    @pa.check("abandoned_cart_products", name="json_list")
    def _abandoned_is_json_list(cls, s: Series[str]) -> Series[bool]:
        return s.map(is_distinct_string_list)

    @pa.check("category_affinity", name="affinity_json")
    def _category_affinity(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_affinity_json(v, "category"))

    @pa.check("brand_affinity", name="affinity_json")
    def _brand_affinity(cls, s: Series[str]) -> Series[bool]:
        return s.map(lambda v: _is_affinity_json(v, "brand"))

    @pa.dataframe_check(name="rfm_scores_iff_buyer")
    def _rfm_iff_buyer(cls, df: pd.DataFrame) -> pd.Series:
        buyer = df["order_count"] > 0
        ok = pd.Series(True, index=df.index)
        for col in ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score"):
            ok &= buyer == (df[col] > 0)
        return ok

    @pa.dataframe_check(name="discounted_units_within_units")
    def _discount_units(cls, df: pd.DataFrame) -> pd.Series:
        return df["units_bought_discounted"] <= df["units_bought"]

    @pa.dataframe_check(name="sent_at_least_delivered")
    def _sent(cls, df: pd.DataFrame) -> pd.Series:
        return df["emails_sent"] >= df["emails_delivered"]

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
