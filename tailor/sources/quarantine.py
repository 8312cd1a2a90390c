"""Every quarantined landing row of every source in one table, ``quarantined_rows``: each source keeps its own
``<source>__quarantine`` table (replaced per file like its data), so gathering them anew never double counts."""

from __future__ import annotations

import pandas as pd

from tailor.sources.contracts import ALL_SOURCES
from tailor.sources.tables import QUARANTINE_COLUMNS, quarantine_table
from tailor.warehouse.session import WarehouseSession

QUARANTINED_ROWS = "quarantined_rows"


def gather_quarantined_rows(session: WarehouseSession) -> pd.DataFrame:
    """Rebuild ``quarantined_rows`` from the sources' quarantine tables; its rows, ordered by source, file, line."""
    parts = [f"SELECT {', '.join(QUARANTINE_COLUMNS)} FROM {quarantine_table(c.name)}"
             for c in ALL_SOURCES if session.table_exists(quarantine_table(c.name))]
    if not parts:
        rows = pd.DataFrame(columns=QUARANTINE_COLUMNS).astype({"line": "int64"})
        session.write_table(QUARANTINED_ROWS, rows)
        return rows
    session.execute(f"CREATE OR REPLACE TABLE {QUARANTINED_ROWS} AS " + " UNION ALL ".join(parts))
    return session.query(f"SELECT * FROM {QUARANTINED_ROWS} ORDER BY source, file, line")


def reasons_summary(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows per source and reason, quoted values elided (they may be personal data), most frequent first."""
    generic = rows.assign(reason=rows["reason"].str.replace(r"'[^']*'", "'…'", regex=True))
    return (generic.groupby(["source", "reason"]).size().rename("rows").reset_index()
            .sort_values("rows", ascending=False))
