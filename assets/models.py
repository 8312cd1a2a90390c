"""Stage 3b — models: BG/NBD + Gamma-Gamma fits, per-customer predictions and product recommendations.

A group of its own between features and segments: fitted models and their outputs, with their own history
(``model_fits`` is appended, one fit per as_of), their own cadence (a daily fit is plenty while features may
refresh hourly) and their own owner (data science).
"""


from datetime import datetime, timezone

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset
from pydantic import Field

from assets.as_of import AsOfConfig, run_as_of
from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.warehouse import WarehouseResource
from tailor.models.clv import DEFAULT_MIN_REPEAT_CUSTOMERS
from tailor.models.predictions import (
    CustomerPredictionsTableSchema,
    ModelFitsSchema,
    fit_customer_models,
    fit_metadata,
    latest_fit,
    predict_from_warehouse,
    prediction_figures,
    record_fits,
)
from tailor.models.recommendations import (
    DEFAULT_MAX_PRODUCTS,
    DEFAULT_MIN_SUPPORT,
    DEFAULT_VIEW_WINDOW_DAYS,
    ProductRecommendationsSchema,
    compute_recommendations,
    recommendation_figures,
)


class ModelsConfig(AsOfConfig):
    min_repeat_customers: int = Field(default=DEFAULT_MIN_REPEAT_CUSTOMERS,
                                      description="Fewer repeat buyers than this: the BG/NBD model is not fitted.")
    l2_penalty: float = Field(default=0.0, description="Optional L2 penalty on the log-parameters (docs/models.md).")


class RecommendationsConfig(AsOfConfig):
    max_products: int = Field(default=DEFAULT_MAX_PRODUCTS, description="Products per customer.")
    min_support: int = Field(default=DEFAULT_MIN_SUPPORT, description="Co-occurrences a pair needs.")
    view_window_days: int = Field(default=DEFAULT_VIEW_WINDOW_DAYS, description="Days of views that count.")


@asset(
    deps=["orders", "customer_identity_links"],
    kinds={"scipy"},
    description=(
        "BG/NBD (purchases, probability alive) and Gamma-Gamma (order value) fitted by maximum likelihood on the "
        "completed orders (EUR) as of `as_of`. One row per model and fit, appended: fits stay comparable over "
        "time (a rerun for the same as_of replaces its rows). Parameters and log-likelihood are plotted in the "
        "metadata. See docs/models.md."
    ),
    check_specs=[schema_check_spec("model_fits", "The rows of this fit match the pandera schema.")],
    metadata=table_definition_metadata(ModelFitsSchema),
)
def model_fits(context: AssetExecutionContext, config: ModelsConfig, warehouse: WarehouseResource) -> MaterializeResult:
    as_of = run_as_of(context, config)
    fitted_at = datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse.session() as s:
        fits, summary = fit_customer_models(s, as_of, fitted_at, config.min_repeat_customers, config.l2_penalty)
        total = record_fits(s, fits)
    for row in fits.itertuples(index=False):
        if not row.usable:
            context.log.warning(f"{row.model}: {row.note}; its predictions are left empty")
    meta = table_metadata(fits, buyers=len(summary), repeat_buyers=int((summary["frequency"] > 0).sum()),
                          **fit_metadata(fits))
    meta["dagster/row_count"] = MetadataValue.int(total)
    meta["as_of"] = as_of.isoformat()
    return MaterializeResult(metadata=meta, check_results=[schema_check_result("model_fits", ModelFitsSchema, fits)])


@asset(
    deps=["model_fits", "orders", "customer_identity_links", "customer_profiles"],
    kinds={"scipy"},
    description=(
        "One row per customer: expected purchases in the next 90 days, P(alive) now and 30 days ago (same "
        "parameters, data cut at as_of - 30 days), churn risk, expected order value and 12-month CLV in EUR "
        "(10 % a year discount), scored as of `as_of` with the latest fit of model_fits at or before it. "
        "Customers without a purchase have prediction_status 'no_purchase' and no predictions."
    ),
    check_specs=[schema_check_spec("customer_predictions")],
    metadata=table_definition_metadata(CustomerPredictionsTableSchema),
)
def customer_predictions(context: AssetExecutionContext, config: AsOfConfig, warehouse: WarehouseResource) -> MaterializeResult:
    as_of = run_as_of(context, config)
    with warehouse.session() as s:
        fits = latest_fit(s, as_of)
        customers = s.query("SELECT customer_id FROM customer_profiles ORDER BY customer_id")
        predictions = predict_from_warehouse(s, fits, customers["customer_id"], as_of)
        s.write_table("customer_predictions", predictions)
    meta = table_metadata(predictions, **prediction_figures(predictions))
    meta["as_of"] = as_of.isoformat()
    meta["fit_as_of"] = str(fits["as_of"].iloc[0])
    return MaterializeResult(
        metadata=meta,
        check_results=[schema_check_result("customer_predictions", CustomerPredictionsTableSchema, predictions)])


@asset(
    deps=["orders", "order_items", "products", "web_events", "customer_identity_links", "customer_profiles",
          "customer_features"],
    kinds={"sql"},
    description=(
        "Per customer up to N in-stock products they have not bought, each with a reason: 'bought with X' "
        "(co-purchase), 'viewed with X' (co-view in a session), else 'popular in <category>'. Co-occurrences "
        "are counted in the warehouse. `recommended_products` (JSON list) is a field of segment and email "
        "rules; `recommendations` carries the reasons for the emails."
    ),
    check_specs=[schema_check_spec("product_recommendations")],
    metadata=table_definition_metadata(ProductRecommendationsSchema),
)
def product_recommendations(context: AssetExecutionContext, config: RecommendationsConfig,
                            warehouse: WarehouseResource) -> MaterializeResult:
    as_of = run_as_of(context, config)
    with warehouse.session() as s:
        customers = s.query("SELECT customer_id FROM customer_profiles ORDER BY customer_id")
        recs = compute_recommendations(s, customers["customer_id"], as_of, config.max_products, config.min_support,
                                       config.view_window_days)
        s.write_table("product_recommendations", recs)
    meta = table_metadata(recs, **recommendation_figures(recs))
    meta["as_of"] = as_of.isoformat()
    return MaterializeResult(
        metadata=meta,
        check_results=[schema_check_result("product_recommendations", ProductRecommendationsSchema, recs)])


ASSETS = [model_fits, customer_predictions, product_recommendations]
