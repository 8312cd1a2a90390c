"""Stage 4 — segments: named groups of customers, defined by marketers in rules/segments.yaml."""


from datetime import datetime, timezone

from dagster import AssetExecutionContext, MaterializeResult, MetadataValue, asset

from assets.as_of import AsOfConfig, run_as_of
from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.content import MarketingContent
from resources.warehouse import WarehouseResource
from tailor.rules.customer_table import customer_table_sql
from tailor.rules.fields import field_kinds
from tailor.rules.segment_history import (
    SegmentMembershipHistorySchema,
    as_day,
    file_hash,
    record_day,
    size_metadata,
)
from tailor.rules.segments import (
    CustomerSegmentsSchema,
    assign_segments,
    declared_segment_names,
    load_segment_definitions,
)


@asset(
    # the tables customer_table_sql joins
    deps=["customer_profiles", "customer_features", "customer_predictions", "product_recommendations"],
    kinds={"pandas"},
    description=(
        "Segment memberships (customer_id, segment), one row per membership; a customer may be in several. "
        "Segments are defined in rules/segments.yaml, which marketers edit — no Python change needed."
    ),
    check_specs=[schema_check_spec("customer_segments")],
    metadata=table_definition_metadata(CustomerSegmentsSchema),
)
def customer_segments(warehouse: WarehouseResource, content: MarketingContent) -> MaterializeResult:
    with warehouse.session() as s:
        customers = s.query(customer_table_sql())
        definitions = load_segment_definitions(content.segments_file, field_kinds(customers))
        memberships = assign_segments(customers, definitions)
        s.write_table("customer_segments", memberships)
    sizes = memberships.groupby("segment").size()
    figures = {f"segment/{d.name}": int(sizes.get(d.name, 0)) for d in definitions}
    meta = table_metadata(memberships, customers_in_any_segment=int(memberships["customer_id"].nunique()), **figures)
    meta["definitions"] = MetadataValue.path(str(content.segments_file))
    return MaterializeResult(
        metadata=meta,
        check_results=[schema_check_result("customer_segments", CustomerSegmentsSchema, memberships)])


@asset(
    deps=["customer_segments"],
    kinds={"sql"},
    description=(
        "Entries and exits per segment with the day (UTC day of `as_of`): \"who entered at_risk this week\" is a "
        "query (docs/models.md). Rerunning a day replaces that day's rows. Segment sizes, entries and exits are "
        "in the metadata, so the UI plots them over time."
    ),
    check_specs=[schema_check_spec("segment_membership_history", "This day's rows match the pandera schema.")],
    metadata=table_definition_metadata(SegmentMembershipHistorySchema),
)
def segment_membership_history(context: AssetExecutionContext, config: AsOfConfig, warehouse: WarehouseResource,
                               content: MarketingContent) -> MaterializeResult:
    day = as_day(run_as_of(context, config))
    recorded_at = datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse.session() as s:
        changes = record_day(s, day, file_hash(content.segments_file), recorded_at)
        memberships = s.query("SELECT customer_id, segment FROM customer_segments")
        total = int(s.query("SELECT COUNT(*) AS n FROM segment_membership_history")["n"].iloc[0])
    # every segment the file declares, so an empty one is plotted as 0 rather than missing
    names = declared_segment_names(content.segments_file)
    meta = table_metadata(changes, **size_metadata(memberships, changes, names))
    meta["dagster/row_count"] = MetadataValue.int(total)
    meta["day"] = day.date().isoformat()
    return MaterializeResult(
        metadata=meta,
        check_results=[schema_check_result("segment_membership_history", SegmentMembershipHistorySchema, changes)])


ASSETS = [customer_segments, segment_membership_history]
