"""Rows that have landed since the last ingest, read without loading them: what send-time checks read so that a
revocation or an unsubscribe landed after ``customer_profiles`` was built still stops the send."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from tailor.sources.contracts import SourceContract
from tailor.sources.load import changed_files, current_fx_rates, landing_files_of, manifest_entries, parse_files
from tailor.sources.tables import empty_table, output_tables
from tailor.warehouse.session import WarehouseSession

_ALL_ROWS = 2**62  # every parsed row is kept in memory: landed files are the few since the last ingest


def landed_rows(contract: SourceContract, landing_dir: Path, session: WarehouseSession) -> pd.DataFrame:
    """The accepted rows of ``contract``'s landing files that the manifest does not hold yet (new, or changed since
    the last ingest), in the columns of the source's table (``orders`` for orders), with ``_source_file`` and
    ``_source_line``; an empty frame of those columns when there are none.

    Parsed exactly as ingestion parses them (the same contract, quarantine rules, size limits and future-timestamp
    check, the arrival being the file's modification time): a quarantined row is not returned. Read-only: the
    ``session`` is only queried (the manifest, and fx_rates for orders) and nothing is written to the warehouse;
    parsing happens in a temporary folder that is removed.

    For sources with event ids unique across files (``email_events``), an id repeated among the landed files is
    returned once (its first copy by file, then line), as ingestion would load it; ids already loaded from other
    files are *not* removed (a repeated unsubscribe is still an unsubscribe). Rows of files removed since the last
    ingest are still in the table until the next ingest: this function only adds what has landed.

    Raises ``LandingFileError`` where ingestion would (a broken file, a link out of the landing folder): a caller
    deciding whether it may send should treat that as "consent unknown".
    """
    by_file = landing_files_of(landing_dir, contract)
    files = changed_files(by_file, manifest_entries(session, contract.name))
    table = output_tables(contract)[0]
    columns = list(empty_table(contract, table).columns)
    if not files:
        return empty_table(contract, table)
    fx = current_fx_rates(session) if "fx_rates" in contract.depends_on else None
    with tempfile.TemporaryDirectory(prefix=f"tailor-landed-{contract.name}-") as tmp:
        parsed = parse_files(contract, landing_dir, by_file, sorted(files), Path(tmp), fx, {}, _ALL_ROWS)
    frames = [f.samples[table] for f in parsed if len(f.samples.get(table, ()))]
    if not frames:
        return empty_table(contract, table)
    rows = pd.concat(frames, ignore_index=True)[columns]
    if contract.dedupe_across_files:
        rows = rows.sort_values(["_source_file", "_source_line"], kind="stable")
        rows = rows.drop_duplicates(subset=[str(contract.unique_key)], keep="first")
    return rows.reset_index(drop=True)
