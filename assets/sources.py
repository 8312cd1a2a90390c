"""Stage 1 — sources: one asset per landing source, loaded incrementally, bad rows quarantined.

Ingestion of one source is a factory over the contracts (tailor/sources/contracts.py): the graph really varies
with them. A source with two tables (orders and their items come from the same landing file) is one
subsettable multi-asset: selected alone, one table still loads with its partner (they are one file, one
transaction), and the partner's materialization is recorded too, so the UI shows what was written.
"""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.metadata import (
    SCHEMA_CHECK,
    masked_preview,
    schema_check_result,
    schema_check_spec,
    table_definition_metadata,
    table_metadata,
)
from resources.landing import LandingZone
from resources.warehouse import WarehouseResource
from tailor.sources.contracts import ALL_SOURCES, SourceContract
from tailor.sources.load import IngestReport, ingest_source, key_repeats
from tailor.sources.quarantine import QUARANTINED_ROWS, gather_quarantined_rows, reasons_summary
from tailor.sources.tables import QuarantineSchema, empty_table, output_tables, table_schema

DESCRIPTIONS = {
    "crm_customers": "Customer records exported from the CRM (landing `crm/*.csv`), one row per CRM record.",
    "products": "The product catalog (landing `products/*.csv`).",
    "orders": "Orders from the shop (landing `orders/*.ndjson`), with totals computed from their line items.",
    "order_items": "Line items of the orders, one row per product line (from the same landing files as orders).",
    "web_events": "Web and app behaviour: page and product views, add-to-cart, checkout (landing `events/*.ndjson`).",
    "email_events": "SendGrid engagement events: delivered, open, click, bounce, unsubscribe (landing `email_events/*.ndjson`).",
    "consent_events": "Consent changes per email and purpose (landing `consent/*.csv`).",
    "fx_rates": "EUR value of one unit of each other currency per business day (landing `fx_rates/*.csv`); "
    "orders are converted with the latest rate on or before their UTC date.",
}
_TRACKED = " Files are tracked by path and content hash; unchanged files are skipped."
_DEDUP = (" Ids are unique across files: a repeat (replayed export, overlapping files) is not loaded again but counted "
          "in `{source}__duplicates` with the file and line it first appeared at.")
_LATEST = (" One row per key: a later record for the same key (by `updated_at`, else the later file, as daily delta "
           "exports arrive) is an update, and the versions it replaced are counted in `{source}__duplicates`.")
_REMOVED = " A file removed from the landing folder takes its rows with it at the next ingest."


def _spec(contract: SourceContract, table: str) -> AssetSpec:
    return AssetSpec(
        table,
        description=DESCRIPTIONS[table] + _TRACKED + _REMOVED + _key_rule(contract),
        deps=list(contract.depends_on),
        kinds={"pandas"},
        tags={"landing_folder": contract.folder},
        metadata=table_definition_metadata(table_schema(contract, table)),
    )


def _key_rule(contract: SourceContract) -> str:
    if contract.latest_wins:
        return _LATEST.format(source=contract.name)
    return _DEDUP.format(source=contract.name) if contract.dedupe_across_files else ""


def _files_markdown(report: IngestReport) -> str:
    lines = [f"- `{file}`: removed from the landing folder, its rows removed" for file in report.files_removed]
    for f in report.files_loaded:
        line = (f"- `{f.file}`: {f.rows_read} read = {f.rows_accepted} accepted + {f.rows_quarantined} quarantined"
                f" + {f.rows_duplicate} duplicates")
        if f.duplicates is not None and len(f.duplicates):
            first = f.duplicates.iloc[0]
            line += f" (e.g. line {first['line']} repeats `{first['first_file']}` line {first['first_line']})"
        lines.append(line)
    return "\n".join(lines) or "_(no new or changed files)_"


def _table_result(contract: SourceContract, table: str, report: IngestReport, repeats: int) -> tuple[dict, AssetCheckResult]:
    # Every row passed the contract in SQL; pandera re-checks every new row of a small run and a seeded sample of
    # a large one (tailor/sources/load.py). Key uniqueness: SQL over the whole table.
    checked = report.samples(table)
    if checked.empty:
        checked = empty_table(contract, table)
    meta = table_metadata(
        checked, files_loaded=len(report.files_loaded), files_unchanged=report.files_unchanged,
        rows_read=report.rows_read, rows_accepted=report.rows_accepted, rows_quarantined=report.rows_quarantined,
        rows_duplicate=report.rows_duplicate, files_removed=len(report.files_removed),
    )
    meta["dagster/row_count"] = MetadataValue.int(report.table_rows[table])
    meta["files"] = MetadataValue.md(_files_markdown(report))
    check = schema_check_result(table, table_schema(contract, table, check_unique=False), checked)
    if repeats and table == output_tables(contract)[0]:
        check = AssetCheckResult(asset_key=AssetKey(table), check_name=SCHEMA_CHECK, passed=False,
                                 severity=AssetCheckSeverity.ERROR,
                                 metadata={"key_repeats_in_table": MetadataValue.int(repeats)})
    return meta, check


def ingest_asset(contract: SourceContract):
    tables = output_tables(contract)

    @multi_asset(
        name=f"ingest_{contract.name}",
        specs=[_spec(contract, t) for t in tables],
        check_specs=[schema_check_spec(t) for t in tables],
        can_subset=len(tables) > 1,
    )
    def _ingest(context: AssetExecutionContext, warehouse: WarehouseResource, landing: LandingZone):
        report = ingest_source(contract, landing.root, warehouse)
        context.log.info(
            f"{contract.name}: {len(report.files_loaded)} new or changed file(s), {report.files_unchanged} unchanged; "
            f"{report.rows_read} rows read = {report.rows_accepted} accepted + {report.rows_quarantined} quarantined"
            f" + {report.rows_duplicate} duplicates")
        if report.files_removed:
            context.log.info(f"files gone from the landing folder, their rows removed: {report.files_removed}")
        if report.files_reread:
            context.log.info(f"unchanged files read again (rates changed, or ids freed by a corrected file): "
                             f"{report.files_reread}")
        repeats = key_repeats(warehouse, contract)
        for table in tables:
            meta, check = _table_result(contract, table, report, repeats)
            if AssetKey(table) in context.selected_asset_keys:
                yield MaterializeResult(asset_key=table, metadata=meta, check_results=[check])
            else:   # loaded with its partner from the same files: say so rather than hide it
                meta["loaded_with"] = MetadataValue.text(", ".join(t for t in tables if t != table))
                context.log_event(AssetMaterialization(asset_key=table, metadata=meta))

    return _ingest


SOURCE_ASSETS = [ingest_asset(contract) for contract in ALL_SOURCES]
SOURCE_TABLES = [table for contract in ALL_SOURCES for table in output_tables(contract)]


@asset(
    deps=SOURCE_TABLES,
    kinds={"pandas"},
    description=(
        "Every landing row that failed its contract, with the source, file, line, the raw row and a readable "
        "reason. Nothing is dropped silently: for each file, rows read = rows accepted + rows quarantined."
    ),
    check_specs=[schema_check_spec(QUARANTINED_ROWS)],
    metadata=table_definition_metadata(QuarantineSchema),
)
def quarantined_rows(warehouse: WarehouseResource) -> MaterializeResult:
    with warehouse.session() as s:
        rows = gather_quarantined_rows(s)
    by_source = rows.groupby("source").size().to_dict()
    meta = table_metadata(rows, **{f"quarantined/{k}": int(v) for k, v in by_source.items()})
    meta["by_reason"] = masked_preview(reasons_summary(rows), rows=30)
    return MaterializeResult(metadata=meta,
                             check_results=[schema_check_result(QUARANTINED_ROWS, QuarantineSchema, rows)])


ASSETS = [*SOURCE_ASSETS, quarantined_rows]
