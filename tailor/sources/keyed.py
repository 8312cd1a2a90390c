"""Loading the new rows of a keyed source so that its table holds one row per key, in warehouse SQL.

Two rules (the contract says which):

* **first wins** (events and orders, ``dedupe_across_files``): an id already loaded, or repeated in the batch, is
  a replay; the copy already loaded stays, else the one of the file that sorts first, then the lowest line.
* **latest wins** (CRM records and products, ``latest_wins``): a key in several files is one record updated over
  time. The version kept has the latest *update time*: the record's ``version_column`` (``updated_at``) when
  present, else its file's arrival; ties go to the later-arriving file, then the file that sorts last. A loaded
  row can lose to a new one: it moves to the duplicates table and its file's counts in the manifest follow.

Every row not kept is listed in ``<source>__duplicates`` with the row that is kept (``first_file``,
``first_line``) and whether its content differs. All Snowflake-dialect SQL: a 20M-row table never comes to pandas.
"""

from __future__ import annotations

import pandas as pd

from tailor.sources.contracts import SourceContract
from tailor.sources.parse import ParsedFile
from tailor.sources.tables import MANIFEST_TABLE, duplicates_table, empty_table, output_tables
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.sql import string_literal


def compared_columns(contract: SourceContract) -> list[str]:
    """The columns compared to say whether a row not kept differs from the one kept."""
    key = contract.unique_key
    columns = [c.table_name for c in contract.columns if c.table_name != key]
    return columns + (["order_total", "item_count"] if contract.nested else [])


def _first_wins_sql(contract: SourceContract, main: str, stage: str, dups: str) -> str:
    key, compared = contract.unique_key, compared_columns(contract)
    same = " AND ".join(f"EQUAL_NULL(s.{c}, f.{c})" for c in compared)
    return f"""
        CREATE OR REPLACE TABLE {dups} AS
        WITH existing AS (
            SELECT t.* FROM {main} t WHERE t.{key} IN (SELECT {key} FROM {stage})
        ),
        repeated AS (
            SELECT {key} FROM {stage} GROUP BY {key} HAVING COUNT(*) > 1
        ),
        staged AS (
            -- Only rows whose key was loaded before or comes twice in this batch can be duplicates: the window
            -- (which holds whole rows) runs over those few, not over the 20M staged rows of a first load.
            SELECT *, ROW_NUMBER() OVER (PARTITION BY {key} ORDER BY _source_file, _source_line) AS rn
            FROM {stage}
            WHERE {key} IN (SELECT {key} FROM repeated) OR {key} IN (SELECT {key} FROM existing)
        ),
        firsts AS (
            SELECT {key}, _source_file, _source_line, {', '.join(compared)} FROM existing
            UNION ALL
            SELECT s.{key}, s._source_file, s._source_line, {', '.join('s.' + c for c in compared)}
            FROM staged s LEFT JOIN existing e ON e.{key} = s.{key}
            WHERE s.rn = 1 AND e.{key} IS NULL
        )
        SELECT '{contract.name}' AS source, s._source_file AS file, s._source_line AS line, s.{key} AS key,
               f._source_file AS first_file, f._source_line AS first_line,
               NOT ({same}) AS content_differs
        FROM staged s JOIN firsts f ON f.{key} = s.{key}
        WHERE NOT (s._source_file = f._source_file AND s._source_line = f._source_line)
        """


def _latest_wins_sql(contract: SourceContract, main: str, stage: str, dups: str, arrivals: str) -> str:
    key, compared = contract.unique_key, compared_columns(contract)
    version = contract.version_column or "CAST(NULL AS TIMESTAMP_NTZ)"
    cols = f"{key}, _source_file, _source_line, {', '.join(compared)}, {version} AS _version"
    same = " AND ".join(f"EQUAL_NULL(l.{c}, w.{c})" for c in compared)
    return f"""
        CREATE OR REPLACE TABLE {dups} AS
        WITH repeated AS (
            SELECT {key} FROM {stage} GROUP BY {key} HAVING COUNT(*) > 1
        ),
        candidates AS (
            -- the loaded rows of the new keys, and the new rows whose key is loaded or comes twice
            SELECT {cols} FROM {main} WHERE {key} IN (SELECT {key} FROM {stage})
            UNION ALL
            SELECT {cols} FROM {stage}
            WHERE {key} IN (SELECT {key} FROM repeated) OR {key} IN (SELECT {key} FROM {main})
        ),
        ranked AS (
            SELECT c.*, ROW_NUMBER() OVER (
                PARTITION BY c.{key}
                ORDER BY COALESCE(c._version, a.arrived_at) DESC, a.arrived_at DESC,
                         c._source_file DESC, c._source_line DESC) AS rn
            FROM candidates c LEFT JOIN {arrivals} a ON a.file = c._source_file
        )
        SELECT '{contract.name}' AS source, l._source_file AS file, l._source_line AS line, l.{key} AS key,
               w._source_file AS first_file, w._source_line AS first_line,
               NOT ({same}) AS content_differs
        FROM ranked l JOIN ranked w ON w.{key} = l.{key} AND w.rn = 1
        WHERE l.rn > 1
        """


def _write_arrivals(s: WarehouseSession, contract: SourceContract, loaded: list[ParsedFile], table: str) -> None:
    """When each file of the source arrived: the loaded ones, and from the manifest the ones already loaded."""
    known = s.query(f"SELECT file, arrived_at FROM {MANIFEST_TABLE} WHERE source = {string_literal(contract.name)}")
    new = pd.DataFrame({"file": [f.file for f in loaded], "arrived_at": [f.arrived_at for f in loaded]})
    frames = [df for df in (known, new) if len(df)]
    arrivals = pd.concat(frames, ignore_index=True) if frames else new
    s.write_table(table, arrivals.astype({"file": object, "arrived_at": "datetime64[ns]"}))


def load_keyed(s: WarehouseSession, contract: SourceContract, loaded: list[ParsedFile]) -> dict[str, int]:
    """Stage the ``loaded`` files' rows, find the rows not kept (see the module), load the rest; sets each loaded
    file's ``rows_duplicate`` and ``duplicates``. Returns the rows that loaded files *not* in the batch lost to
    newer versions, per file (latest wins only), for their manifest counts."""
    main = output_tables(contract)[0]
    assert isinstance(contract.unique_key, str)
    stage, dups, arrivals = f"_ingest_stage_{main}", f"_ingest_dups_{contract.name}", f"_ingest_arrivals_{main}"
    s.execute(f"DROP TABLE IF EXISTS {stage}")
    s.append_parquet(stage, [f.parquet[main] for f in loaded])
    if contract.latest_wins:
        _write_arrivals(s, contract, loaded, arrivals)
        s.execute(_latest_wins_sql(contract, main, stage, dups, arrivals))
    else:
        s.execute(_first_wins_sql(contract, main, stage, dups))
    s.execute(f"INSERT INTO {duplicates_table(contract.name)} SELECT * FROM {dups}")
    batch = {f.file for f in loaded}
    per_file = s.query(f"SELECT file, COUNT(*) AS n FROM {dups} GROUP BY file")
    counts = dict(zip(per_file["file"], per_file["n"].astype(int)))
    superseded = {f: n for f, n in counts.items() if f not in batch}
    if superseded:  # loaded rows that lost to a newer version leave the table
        s.execute(f"DELETE FROM {main} WHERE EXISTS (SELECT 1 FROM {dups} d "
                  f"WHERE d.file = {main}._source_file AND d.line = {main}._source_line)")
        # and rows they had superseded name the version kept now
        dup_table = duplicates_table(contract.name)
        s.execute(f"UPDATE {dup_table} SET first_file = d.first_file, first_line = d.first_line FROM {dups} d "
                  f"WHERE {dup_table}.first_file = d.file AND {dup_table}.first_line = d.line")
    for table in output_tables(contract):
        source = stage if table == main else f"_ingest_stage_{table}"
        if table != main:
            s.execute(f"DROP TABLE IF EXISTS {source}")
            s.append_parquet(source, [f.parquet[table] for f in loaded])
        columns = ", ".join(f"x.{c}" for c in empty_table(contract, table).columns)
        s.execute(
            f"""
            INSERT INTO {table}
            SELECT {columns} FROM {source} x
            LEFT JOIN {dups} d ON d.file = x._source_file AND d.line = x._source_line
            WHERE d.line IS NULL
            """
        )
        s.execute(f"DROP TABLE IF EXISTS {source}")
    examples = s.query(f"SELECT * FROM {dups} ORDER BY file, line LIMIT 1000")
    for f in loaded:
        f.rows_duplicate = counts.get(f.file, 0)
        f.duplicates = examples[examples["file"] == f.file].reset_index(drop=True)
    for table in (dups, arrivals):
        s.execute(f"DROP TABLE IF EXISTS {table}")
    return superseded
