"""Stage 3 — features: per-customer behaviour, computed in the warehouse as of a point in time."""


from datetime import datetime, timezone

from dagster import AssetExecutionContext, Config, MaterializeResult, asset

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.warehouse import Warehouse
from tailor.features import CustomerFeaturesSchema, compute_customer_features

GROUP = "features"
OWNERS = ["team:data-engineering"]


class FeaturesConfig(Config):
    """``as_of``: an ISO-8601 time (UTC when no offset); empty means the start of the run."""

    as_of: str = ""


def resolve_as_of(value: str, default: datetime) -> datetime:
    """A tz-naive UTC datetime, as every table stores time."""
    if not value:
        moment = default
    else:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def feature_assets(warehouse_kind: str) -> list:
    @asset(
        group_name=GROUP,
        deps=["customer_profiles", "customer_identity_links", "orders", "order_items", "products", "web_events", "email_events"],
        kinds={"sql", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "features"},
        description=(
            "One row per customer: recency, frequency, monetary value, last seen, products viewed but not "
            "bought, cart abandonment, email opens and clicks — computed in the warehouse from nothing later "
            "than `as_of` (see docs/features.md)."
        ),
        check_specs=[schema_check_spec("customer_features")],
    )
    def customer_features(context: AssetExecutionContext, config: FeaturesConfig, warehouse: Warehouse) -> MaterializeResult:
        run_start = datetime.now(timezone.utc)
        as_of = resolve_as_of(config.as_of, run_start)
        features = compute_customer_features(warehouse.query, as_of)
        warehouse.write_table("customer_features", features)
        buyers = features[features["order_count"] > 0]
        meta = table_metadata(
            features,
            buyers=len(buyers),
            cart_abandoners=int(features["cart_abandoned"].sum()),
            mean_order_value=float(buyers["monetary_value"].mean()) if len(buyers) else 0.0,
            median_recency_days=float(buyers["recency_days"].median()) if len(buyers) else 0.0,
            total_email_opens=int(features["email_opens"].sum()),
        )
        meta["as_of"] = as_of.isoformat()
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("customer_features", CustomerFeaturesSchema, features)],
        )

    return [customer_features]
