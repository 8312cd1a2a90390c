"""Stage 3 — features: per-customer behaviour, computed in the warehouse as of a point in time.

``customer_features`` holds the features as of one moment (``as_of``, default the start of the run);
``customer_features_history`` keeps one daily partition per UTC day, so any past day can be rebuilt (a backfill
from the UI) and compared (docs/features.md, "History").
"""


from datetime import datetime, timezone

from dagster import (
    AssetExecutionContext,
    Config,
    DailyPartitionsDefinition,
    MaterializeResult,
    MetadataValue,
    ScheduleDefinition,
    asset,
    build_schedule_from_partitioned_job,
    define_asset_job,
)
from pandera.errors import SchemaErrors

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.warehouse import Warehouse
from tailor.features.customer_features import CustomerFeaturesSchema, compute_customer_features
from tailor.features.history import (
    HISTORY_START_DATE,
    HISTORY_TABLE,
    CustomerFeaturesHistorySchema,
    feature_summary,
    history_partition,
    partition_as_of,
    write_partition,
)
from tailor.features.priors import population_priors
from tailor.features.settings import CART_GRACE_HOURS

GROUP = "features"
OWNERS = ["team:data-engineering"]
FEATURE_DEPS = ["customer_profiles", "customer_identity_links", "orders", "order_items", "products", "web_events", "email_events"]
HISTORY_PARTITIONS = DailyPartitionsDefinition(start_date=HISTORY_START_DATE, timezone="UTC")


class FeaturesConfig(Config):
    """``as_of``: an ISO-8601 time (UTC when no offset); empty means the start of the run.
    (Shared by the assets computed as of a moment: segments and models subclass it.)"""

    as_of: str = ""


class CustomerFeaturesConfig(FeaturesConfig):
    """``cart_abandon_hours``: an add to cart with no purchase for this many hours is an abandoned cart."""

    cart_abandon_hours: int = CART_GRACE_HOURS


class FeatureHistoryConfig(Config):
    cart_abandon_hours: int = CART_GRACE_HOURS


def resolve_as_of(value: str, default: datetime) -> datetime:
    """A tz-naive UTC datetime, as every table stores time."""
    if not value:
        moment = default
    else:
        moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def run_as_of(context: AssetExecutionContext, config: FeaturesConfig) -> datetime:
    """``config.as_of``, or the start of the run: the run's recorded start time, identical for every asset of the
    run (so customer_predictions finds the fit model_fits made in the same run), else the current time."""
    default = datetime.now(timezone.utc)
    record = context.instance.get_run_record_by_id(context.run_id)
    if record is not None and record.start_time is not None:
        default = datetime.fromtimestamp(record.start_time, tz=timezone.utc)
    return resolve_as_of(config.as_of, default)


def _figures_and_priors(features) -> dict:
    figures = feature_summary(features)
    for name, (alpha, beta) in population_priors(features).items():
        figures[f"prior_{name}_alpha"] = alpha
        figures[f"prior_{name}_beta"] = beta
    return figures


def feature_assets(warehouse_kind: str) -> list:
    @asset(
        group_name=GROUP,
        deps=FEATURE_DEPS,
        kinds={"sql", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "features"},
        description=(
            "One row per customer: RFM and quintile scores, spend in EUR, category and brand affinity, discount "
            "sensitivity, sessions, browsing intent, products viewed but not bought, cart abandonment, email "
            "sends/opens/clicks with empirical-Bayes rates, preferred local send hour — computed in the warehouse "
            "from nothing later than `as_of` (see docs/features.md)."
        ),
        check_specs=[schema_check_spec("customer_features")],
    )
    def customer_features(context: AssetExecutionContext, config: CustomerFeaturesConfig, warehouse: Warehouse) -> MaterializeResult:
        as_of = run_as_of(context, config)
        features = compute_customer_features(warehouse.query, as_of, config.cart_abandon_hours)
        warehouse.write_table("customer_features", features)
        meta = table_metadata(features, **_figures_and_priors(features))
        meta["as_of"] = as_of.isoformat()
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("customer_features", CustomerFeaturesSchema, features)],
        )

    @asset(
        group_name=GROUP,
        deps=FEATURE_DEPS,
        kinds={"sql", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "features"},
        partitions_def=HISTORY_PARTITIONS,
        # A run of the whole graph (make demo, the landing sensor's jobs) has no partition key: the history
        # is then left alone instead of failing the run; days are built by partitioned runs and backfills.
        output_required=False,
        description=(
            "customer_features as of the end of each UTC day (one daily partition = the features at the next "
            "midnight UTC, same SQL), so a past day can be rebuilt with a backfill and compared. Writing a day "
            "replaces exactly that day (feature_date)."
        ),
    )
    def customer_features_history(context: AssetExecutionContext, config: FeatureHistoryConfig, warehouse: Warehouse):
        if not context.has_partition_key:
            context.log.info(f"{HISTORY_TABLE}: not a partitioned run, no day to build; skipped")
            return
        day = context.partition_key
        as_of = partition_as_of(day)
        features = compute_customer_features(warehouse.query, as_of, config.cart_abandon_hours)
        rows = history_partition(features, day)
        # Validated before writing: a partition that fails its schema never replaces a good day. (A blocking
        # asset check would make every unpartitioned run of the graph fail for want of this asset's output.)
        try:
            CustomerFeaturesHistorySchema.validate(rows, lazy=True)
        except SchemaErrors as err:
            first = err.failure_cases[["column", "check", "index"]].head(5).to_dict("records")
            raise ValueError(
                f"{HISTORY_TABLE} partition {day}: {len(err.failure_cases)} schema failures, first: {first}"
            ) from err
        with warehouse.session() as session:
            write_partition(session, day, rows)
        meta = table_metadata(rows, **_figures_and_priors(features))
        meta["as_of"] = as_of.isoformat()
        meta["pandera_schema"] = MetadataValue.text("passed")
        yield MaterializeResult(metadata=meta)

    return [customer_features, customer_features_history]


def feature_history_schedule() -> ScheduleDefinition:
    """Every day shortly after midnight UTC, build yesterday's partition (stopped by default; start it in the UI)."""
    job = define_asset_job(
        "customer_features_history_daily",
        selection=["customer_features_history"],
        partitions_def=HISTORY_PARTITIONS,
        description="customer_features as of the end of the previous UTC day, into customer_features_history.",
    )
    return build_schedule_from_partitioned_job(job, minute_of_hour=15)
