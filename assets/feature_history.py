"""The daily history of the customer features: one partition per UTC day, the features as of its end.

Built by its own partitioned job (daily schedule, or backfills from the job's Partitions tab), never by the
unpartitioned runs of the graph: "Materialize all", `tailor demo` and the landing sensor's jobs stay
unpartitioned. The asset is declared as a spec (it shows partition health in the catalog) and materialized by
the job's op, which records each day it writes.
"""


from dagster import (
    AssetMaterialization,
    AssetSpec,
    Config,
    DailyPartitionsDefinition,
    MetadataValue,
    OpExecutionContext,
    build_schedule_from_partitioned_job,
    job,
    op,
)
from pandera.errors import SchemaErrors
from pydantic import Field

from assets.features import FEATURE_DEPS, figures_and_priors
from assets.metadata import table_definition_metadata, table_metadata
from resources.warehouse import Warehouse
from tailor.features.customer_features import compute_customer_features
from tailor.features.history import (
    HISTORY_START_DATE,
    HISTORY_TABLE,
    CustomerFeaturesHistorySchema,
    feature_summary,
    history_partition,
    partition_as_of,
    write_partition,
)
from tailor.features.settings import CART_GRACE_HOURS

HISTORY_PARTITIONS = DailyPartitionsDefinition(start_date=HISTORY_START_DATE, timezone="UTC")
HISTORY_JOB = "customer_features_history_daily"

customer_features_history = AssetSpec(
    HISTORY_TABLE,
    deps=FEATURE_DEPS,
    kinds={"sql"},
    partitions_def=HISTORY_PARTITIONS,
    description=(
        "customer_features as of the end of each UTC day (one daily partition = the features at the next midnight "
        f"UTC, same SQL), so a past day can be rebuilt and compared. Built by the job `{HISTORY_JOB}` (its "
        "schedule, or a backfill from the job's Partitions tab); writing a day replaces exactly that day."
    ),
    metadata=table_definition_metadata(CustomerFeaturesHistorySchema),
)


class FeatureHistoryConfig(Config):
    cart_abandon_hours: int = Field(default=CART_GRACE_HOURS, description="As for customer_features.")


@op(description="Compute one day of customer_features_history, validate it, replace that day, record it.")
def build_feature_history_day(context: OpExecutionContext, config: FeatureHistoryConfig, warehouse: Warehouse) -> None:
    day = context.partition_key
    as_of = partition_as_of(day)
    with warehouse.session() as s:
        features = compute_customer_features(s, as_of, config.cart_abandon_hours)
    rows = history_partition(features, day)
    try:   # a day that fails its schema never replaces a good one
        CustomerFeaturesHistorySchema.validate(rows, lazy=True)
    except SchemaErrors as err:
        first = err.failure_cases[["column", "check", "index"]].head(5).to_dict("records")
        raise ValueError(f"{HISTORY_TABLE} partition {day}: {len(err.failure_cases)} schema failures, "
                         f"first: {first}") from err
    with warehouse.session() as s:
        write_partition(s, day, rows)
    meta = table_metadata(rows, **figures_and_priors(features, feature_summary(features)))
    meta["as_of"] = as_of.isoformat()
    meta["pandera_schema"] = MetadataValue.text("passed")
    context.log_event(AssetMaterialization(asset_key=HISTORY_TABLE, partition=day, metadata=meta))


@job(name=HISTORY_JOB, partitions_def=HISTORY_PARTITIONS,
     description="customer_features as of the end of one UTC day, into customer_features_history.",
     tags={"stage": "features"})
def customer_features_history_daily():
    build_feature_history_day()


feature_history_schedule = build_schedule_from_partitioned_job(
    customer_features_history_daily, minute_of_hour=15,
    description="Every day at 00:15 UTC: yesterday's partition of customer_features_history (stopped until you "
                "start it in the UI).",
)
