"""Stage 3b — models: BG/NBD + Gamma-Gamma fits, per-customer predictions and product recommendations.

A group of its own ("models", between features and segments in the UI) rather than "features": these assets are
fitted models and their outputs, with their own history (``model_fits`` is appended, one fit per as_of), their
own cadence (a daily fit is plenty while features may refresh hourly) and their own owner (data science).
"""

from datetime import datetime, timezone

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.features import FeaturesConfig, run_as_of
from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.warehouse import Warehouse
from tailor.models.clv import DEFAULT_MIN_REPEAT_CUSTOMERS
from tailor.models.predictions import (
    STATUS_NO_MODEL,
    STATUS_NO_PURCHASE,
    STATUS_PREDICTED,
    CustomerPredictionsTableSchema,
    ModelFitsSchema,
    fit_customer_models,
    fit_metadata,
    predict_from_warehouse,
)
from tailor.models.recommendations import (
    DEFAULT_MAX_PRODUCTS,
    DEFAULT_MIN_SUPPORT,
    DEFAULT_VIEW_WINDOW_DAYS,
    ProductRecommendationsSchema,
    compute_recommendations,
)
from tailor.warehouse.sql import timestamp_literal

GROUP = "models"
OWNERS = ["team:data-science"]


class ModelsConfig(FeaturesConfig):
    """``as_of`` as for customer_features; the minimum-data rule and the optional L2 penalty (docs/models.md)."""

    min_repeat_customers: int = DEFAULT_MIN_REPEAT_CUSTOMERS
    l2_penalty: float = 0.0


class RecommendationsConfig(FeaturesConfig):
    """``as_of`` as for customer_features; how many products, the co-occurrence floor, the view window (days)."""

    max_products: int = DEFAULT_MAX_PRODUCTS
    min_support: int = DEFAULT_MIN_SUPPORT
    view_window_days: int = DEFAULT_VIEW_WINDOW_DAYS


def model_assets(warehouse_kind: str) -> list:
    @asset(
        group_name=GROUP,
        deps=["orders", "customer_identity_links"],
        kinds={"scipy", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "models"},
        description=(
            "BG/NBD (purchases, probability alive) and Gamma-Gamma (order value) fitted by maximum likelihood on the "
            "completed orders (EUR) as of `as_of`. One row per model and fit, appended: fits stay comparable over "
            "time (a rerun for the same as_of replaces its rows). Parameters and log-likelihood are plotted in the "
            "metadata. See docs/models.md."
        ),
        check_specs=[schema_check_spec("model_fits", "The rows of this fit match the pandera schema.")],
    )
    def model_fits(context: AssetExecutionContext, config: ModelsConfig, warehouse: Warehouse) -> MaterializeResult:
        as_of = run_as_of(context, config)
        fitted_at = datetime.now(timezone.utc).replace(tzinfo=None)
        fits, summary = fit_customer_models(
            warehouse.query, as_of, fitted_at, config.min_repeat_customers, config.l2_penalty
        )
        with warehouse.session() as s:
            s.delete_where_in("model_fits", "fit_id", fits["fit_id"].tolist())
            s.write_table("model_fits", fits, mode="append")
            total = int(s.query("SELECT COUNT(*) AS n FROM model_fits")["n"].iloc[0])
        for row in fits.itertuples(index=False):
            if not row.usable:
                context.log.warning(f"{row.model}: {row.note}; its predictions are left empty")
        meta = table_metadata(
            fits,
            buyers=len(summary),
            repeat_buyers=int((summary["frequency"] > 0).sum()),
            **fit_metadata(fits),
        )
        meta["dagster/row_count"] = MetadataValue.int(total)
        meta["as_of"] = as_of.isoformat()
        return MaterializeResult(
            metadata=meta, check_results=[schema_check_result("model_fits", ModelFitsSchema, fits)]
        )

    @asset(
        group_name=GROUP,
        deps=["model_fits", "orders", "customer_identity_links", "customer_profiles"],
        kinds={"scipy", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "models"},
        description=(
            "One row per customer: expected purchases in the next 90 days, P(alive) now and 30 days ago (same "
            "parameters, data cut at as_of - 30 days), churn risk, expected order value and 12-month CLV in EUR "
            "(10 % a year discount), with the parameters of model_fits for the same as_of. Customers without a "
            "purchase have prediction_status 'no_purchase' and no predictions."
        ),
        check_specs=[schema_check_spec("customer_predictions")],
    )
    def customer_predictions(context: AssetExecutionContext, config: FeaturesConfig, warehouse: Warehouse) -> MaterializeResult:
        as_of = run_as_of(context, config)
        with warehouse.session() as s:
            fits = s.query(f"SELECT * FROM model_fits WHERE as_of = {timestamp_literal(as_of)}")
            customers = s.query("SELECT customer_id FROM customer_profiles ORDER BY customer_id")
        if fits.empty:
            raise ValueError(
                f"customer_predictions: model_fits has no fit as of {as_of.isoformat()}; materialize model_fits with "
                f"the same as_of (run config) first"
            )
        predictions = predict_from_warehouse(warehouse.query, fits, customers["customer_id"], as_of)
        warehouse.write_table("customer_predictions", predictions)
        status = predictions["prediction_status"].value_counts()
        predicted = predictions[predictions["prediction_status"] == STATUS_PREDICTED]
        figures: dict = {
            "predicted": int(status.get(STATUS_PREDICTED, 0)),
            "no_purchase": int(status.get(STATUS_NO_PURCHASE, 0)),
            "no_model": int(status.get(STATUS_NO_MODEL, 0)),
        }
        if len(predicted):
            figures.update(
                mean_probability_alive=float(predicted["probability_alive"].mean()),
                expected_purchases_90d_total=float(predicted["expected_purchases_90d"].sum()),
                probability_alive_falling_10pts=int((predicted["probability_alive_change_30d"] <= -0.1).sum()),
            )
            clv = predicted["clv_12m_eur"].dropna()
            if len(clv):
                figures.update(clv_12m_eur_total=float(clv.sum()), clv_12m_eur_median=float(clv.median()))
        meta = table_metadata(predictions, **figures)
        meta["as_of"] = as_of.isoformat()
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("customer_predictions", CustomerPredictionsTableSchema, predictions)],
        )

    @asset(
        group_name=GROUP,
        deps=["orders", "order_items", "products", "web_events", "customer_identity_links", "customer_profiles",
              "customer_features"],
        kinds={"sql", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "models"},
        description=(
            "Per customer up to N in-stock products they have not bought, each with a reason: 'bought with X' "
            "(co-purchase), 'viewed with X' (co-view in a session), else 'popular in <category>'. Co-occurrences "
            "are counted in the warehouse. `recommended_products` (JSON list) is a field of segment and email "
            "rules; `recommendations` carries the reasons for the emails."
        ),
        check_specs=[schema_check_spec("product_recommendations")],
    )
    def product_recommendations(
        context: AssetExecutionContext, config: RecommendationsConfig, warehouse: Warehouse
    ) -> MaterializeResult:
        as_of = run_as_of(context, config)
        customers = warehouse.query("SELECT customer_id FROM customer_profiles ORDER BY customer_id")
        recs = compute_recommendations(
            warehouse.query, customers["customer_id"], as_of, config.max_products, config.min_support,
            config.view_window_days,
        )
        warehouse.write_table("product_recommendations", recs)
        counts = recs["recommendation_count"]
        sources = recs["recommendations"].str.count('"source":"bought_with"').sum()
        meta = table_metadata(
            recs,
            customers_with_recommendations=int((counts > 0).sum()),
            mean_recommendations=float(counts.mean()) if len(recs) else 0.0,
            bought_with=int(sources),
            viewed_with=int(recs["recommendations"].str.count('"source":"viewed_with"').sum()),
            popular=int(recs["recommendations"].str.count('"source":"popular').sum()),
        )
        meta["as_of"] = as_of.isoformat()
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("product_recommendations", ProductRecommendationsSchema, recs)],
        )

    return [model_fits, customer_predictions, product_recommendations]
