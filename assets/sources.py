"""Stage 1 — sources: one asset per landing source, loaded incrementally, bad rows quarantined."""


import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    asset,
    multi_asset,
)

from assets.metadata import SCHEMA_CHECK, masked_preview, schema_check_result, schema_check_spec, table_metadata
from resources.landing import LandingZone
from resources.warehouse import Warehouse
from tailor.sources.contracts import ALL_SOURCES, SourceContract
from tailor.sources.load import ingest_source, key_repeats
from tailor.sources.tables import (
    QUARANTINE_COLUMNS,
    QuarantineSchema,
    empty_table,
    output_tables,
    quarantine_table,
    table_schema,
)

GROUP = "sources"
OWNERS = ["team:data-engineering"]

DESCRIPTIONS = {
    "crm_customers": "Customer records exported from the CRM (landing `crm/*.csv`), one row per CRM record.",
    "products": "The product catalog (landing `products/*.csv`).",
    "orders": "Orders from the shop (landing `orders/*.ndjson`), with totals computed from their line items.",
    "order_items": "Line items of the orders, one row per product line.",
    "web_events": "Web and app behaviour: page and product views, add-to-cart, checkout (landing `events/*.ndjson`).",
    "email_events": "SendGrid engagement events: delivered, open, click, bounce, unsubscribe (landing `email_events/*.ndjson`).",
    "consent_events": "Consent changes per email and purpose (landing `consent/*.csv`).",
    "fx_rates": "EUR value of one unit of each other currency per business day (landing `fx_rates/*.csv`); "
    "orders are converted with the latest rate on or before their UTC date.",
}
DEDUP_NOTE = (
    " Ids are unique across files: a repeat (replayed export, overlapping files) is not loaded again but counted "
    "in `{source}__duplicates` with the file and line it first appeared at."
)


def _source_asset(contract: SourceContract, warehouse_kind: str):
    tables = output_tables(contract)

    @multi_asset(
        name=f"ingest_{contract.name}",
        specs=[
            AssetSpec(
                t,
                group_name=GROUP,
                description=DESCRIPTIONS[t] + " Files are tracked by path and content hash; unchanged files are skipped."
                + (DEDUP_NOTE.format(source=contract.name) if contract.dedupe_across_files else ""),
                deps=list(contract.depends_on),
                kinds={"pandas", warehouse_kind},
                owners=OWNERS,
                tags={"stage": "sources", "landing_folder": contract.folder},
            )
            for t in tables
        ],
        check_specs=[schema_check_spec(t) for t in tables],
    )
    def _ingest(context: AssetExecutionContext, warehouse: Warehouse, landing: LandingZone):
        report = ingest_source(contract, landing.root, warehouse)
        context.log.info(
            f"{contract.name}: {len(report.files_loaded)} new or changed file(s), {report.files_unchanged} unchanged; "
            f"{report.rows_read} rows read = {report.rows_accepted} accepted + {report.rows_quarantined} quarantined"
            f" + {report.rows_duplicate} duplicates"
        )
        if report.files_reread:
            context.log.info(f"unchanged files read again (rates changed, or ids freed by a corrected file): {report.files_reread}")
        repeats = key_repeats(warehouse, contract)
        for table in tables:
            # Every row passed the contract in SQL; pandera re-checks every new row of a small run and a seeded
            # sample of PANDERA_ROWS_PER_RUN rows per source and run, shared by its files (at least
            # PANDERA_MIN_ROWS_PER_FILE each). Key uniqueness: SQL over the whole table.
            checked = report.samples(table)
            if checked.empty:
                checked = empty_table(contract, table)
            meta = table_metadata(
                checked,
                files_loaded=len(report.files_loaded),
                files_unchanged=report.files_unchanged,
                rows_read=report.rows_read,
                rows_accepted=report.rows_accepted,
                rows_quarantined=report.rows_quarantined,
                rows_duplicate=report.rows_duplicate,
            )
            meta["dagster/row_count"] = MetadataValue.int(report.table_rows[table])
            meta["files"] = MetadataValue.md(_files_markdown(report))
            check = schema_check_result(table, table_schema(contract, table, check_unique=False), checked)
            if repeats and table == tables[0]:
                check = AssetCheckResult(
                    asset_key=AssetKey(table), check_name=SCHEMA_CHECK, passed=False, severity=AssetCheckSeverity.ERROR,
                    metadata={"key_repeats_in_table": MetadataValue.int(repeats)},
                )
            yield MaterializeResult(asset_key=table, metadata=meta, check_results=[check])

    return _ingest


def _files_markdown(report) -> str:
    lines = []
    for f in report.files_loaded:
        line = (f"- `{f.file}`: {f.rows_read} read = {f.rows_accepted} accepted + {f.rows_quarantined} quarantined"
                f" + {f.rows_duplicate} duplicates")
        if f.duplicates is not None and len(f.duplicates):
            first = f.duplicates.iloc[0]
            line += f" (e.g. line {first['line']} repeats `{first['first_file']}` line {first['first_line']})"
        lines.append(line)
    return "\n".join(lines) or "_(no new or changed files)_"


def source_assets(warehouse_kind: str) -> list:
    return [_source_asset(contract, warehouse_kind) for contract in ALL_SOURCES]


def quarantine_asset(warehouse_kind: str):
    source_tables = [t for contract in ALL_SOURCES for t in output_tables(contract)]

    @asset(
        name="quarantined_rows",
        group_name=GROUP,
        deps=source_tables,
        kinds={"pandas", warehouse_kind},
        owners=OWNERS,
        tags={"stage": "sources"},
        description=(
            "Every landing row that failed its contract, with the source, file, line, the raw row and a readable "
            "reason. Nothing is dropped silently: for each file, rows read = rows accepted + rows quarantined."
        ),
        check_specs=[schema_check_spec("quarantined_rows")],
    )
    def quarantined_rows(warehouse: Warehouse) -> MaterializeResult:
        with warehouse.session() as s:
            parts = [
                f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM {quarantine_table(c.name)}"
                for c in ALL_SOURCES
                if s.table_exists(quarantine_table(c.name))
            ]
            if parts:
                s.execute("CREATE OR REPLACE TABLE quarantined_rows AS " + " UNION ALL ".join(parts))
                rows = s.query("SELECT * FROM quarantined_rows ORDER BY source, file, line")
            else:
                rows = pd.DataFrame(columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
                s.write_table("quarantined_rows", rows)
        by_source = rows.groupby("source").size().to_dict()
        meta = table_metadata(rows, **{f"quarantined/{k}": int(v) for k, v in by_source.items()})
        meta["by_reason"] = masked_preview(
            rows.assign(reason=rows["reason"].str.replace(r"'[^']*'", "'…'", regex=True))
            .groupby(["source", "reason"]).size().rename("rows").reset_index()
            .sort_values("rows", ascending=False),
            rows=30,
        )
        return MaterializeResult(
            metadata=meta, check_results=[schema_check_result("quarantined_rows", QuarantineSchema, rows)]
        )

    return quarantined_rows

