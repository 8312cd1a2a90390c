"""Stage 3 — features: per-customer behaviour, computed in the warehouse as of a point in time.

``customer_features`` holds the features as of one moment (``as_of``: see assets/as_of.py). The daily history of
the same features is assets/feature_history.py.
"""


from dagster import AssetExecutionContext, MaterializeResult, asset
from pydantic import Field

from assets.as_of import AsOfConfig, run_as_of
from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.warehouse import WarehouseResource
from tailor.features.customer_features import CustomerFeaturesSchema, compute_customer_features, feature_figures
from tailor.features.settings import CART_GRACE_HOURS

#: The tables the feature SQL reads.
FEATURE_DEPS = ["customer_profiles", "customer_identity_links", "orders", "order_items", "products", "web_events",
                "email_events"]


class CustomerFeaturesConfig(AsOfConfig):
    cart_abandon_hours: int = Field(default=CART_GRACE_HOURS, description="An add to cart with no purchase for "
                                                                          "this many hours is an abandoned cart.")


@asset(
    deps=FEATURE_DEPS,
    kinds={"sql"},
    description=(
        "One row per customer: RFM and quintile scores, spend in EUR, category and brand affinity, discount "
        "sensitivity, sessions, browsing intent, products viewed but not bought, cart abandonment, email "
        "sends/opens/clicks with empirical-Bayes rates, preferred local send hour — computed in the warehouse "
        "from nothing later than `as_of` (see docs/features.md)."
    ),
    check_specs=[schema_check_spec("customer_features")],
    metadata=table_definition_metadata(CustomerFeaturesSchema),
)
def customer_features(context: AssetExecutionContext, config: CustomerFeaturesConfig,
                      warehouse: WarehouseResource) -> MaterializeResult:
    as_of = run_as_of(context, config)
    with warehouse.session() as s:
        features = compute_customer_features(s, as_of, config.cart_abandon_hours)
        s.write_table("customer_features", features)
    meta = table_metadata(features, **feature_figures(features))
    meta["as_of"] = as_of.isoformat()
    return MaterializeResult(
        metadata=meta, check_results=[schema_check_result("customer_features", CustomerFeaturesSchema, features)])


ASSETS = [customer_features]
