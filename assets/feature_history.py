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
from pydantic import Field

from assets.features import FEATURE_DEPS
from assets.metadata import table_definition_metadata, table_metadata
from assets.stages import FEATURES
from resources.warehouse import WarehouseResource
from tailor.features.history import (
    HISTORY_START_DATE,
    HISTORY_TABLE,
    CustomerFeaturesHistorySchema,
    build_history_day,
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
def build_feature_history_day(context: OpExecutionContext, config: FeatureHistoryConfig, warehouse: WarehouseResource) -> None:
    day = context.partition_key
    with warehouse.session() as s:
        rows, figures, as_of = build_history_day(s, day, config.cart_abandon_hours)
    meta = table_metadata(rows, **figures)
    meta["as_of"] = as_of.isoformat()
    meta["pandera_schema"] = MetadataValue.text("passed")
    context.log_event(AssetMaterialization(asset_key=HISTORY_TABLE, partition=day, metadata=meta))


@job(name=HISTORY_JOB, partitions_def=HISTORY_PARTITIONS,
     description="customer_features as of the end of one UTC day, into customer_features_history.",
     tags={"stage": FEATURES.name})
def customer_features_history_daily():
    build_feature_history_day()


feature_history_schedule = build_schedule_from_partitioned_job(
    customer_features_history_daily, minute_of_hour=15,
    description="Every day at 00:15 UTC: yesterday's partition of customer_features_history (stopped until you "
                "start it in the UI).",
)
