"""Stage 4 — segments: named groups of customers, defined by marketers in rules/segments.yaml."""


from dagster import MaterializeResult, MetadataValue, asset

from assets.metadata import schema_check_result, schema_check_spec, table_metadata
from resources.content import MarketingContent
from resources.warehouse import Warehouse
from tailor.conditions import field_kinds
from tailor.segments import CustomerSegmentsSchema, assign_segments, load_segment_definitions

GROUP = "segments"
OWNERS = ["team:marketing"]


def customer_table_sql() -> str:
    """Profiles joined with features: the fields segment and email rules may use."""
    return "SELECT * FROM customer_profiles LEFT JOIN customer_features USING (customer_id) ORDER BY customer_id"


def segment_assets(warehouse_kind: str) -> list:
    @asset(
        group_name=GROUP,
        deps=["customer_profiles", "customer_features"],
        kinds={"pandas", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "segments"},
        description=(
            "Segment memberships (customer_id, segment), one row per membership; a customer may be in several. "
            "Segments are defined in rules/segments.yaml, which marketers edit — no Python change needed."
        ),
        check_specs=[schema_check_spec("customer_segments")],
    )
    def customer_segments(warehouse: Warehouse, content: MarketingContent) -> MaterializeResult:
        customers = warehouse.query(customer_table_sql())
        definitions = load_segment_definitions(content.segments_file, field_kinds(customers))
        memberships = assign_segments(customers, definitions)
        warehouse.write_table("customer_segments", memberships)
        sizes = memberships.groupby("segment").size()
        figures = {f"segment/{d.name}": int(sizes.get(d.name, 0)) for d in definitions}
        meta = table_metadata(memberships, customers_in_any_segment=int(memberships["customer_id"].nunique()), **figures)
        meta["definitions"] = MetadataValue.path(str(content.segments_file))
        return MaterializeResult(
            metadata=meta,
            check_results=[schema_check_result("customer_segments", CustomerSegmentsSchema, memberships)],
        )

    return [customer_segments]
