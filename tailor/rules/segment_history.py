"""Segment membership history (table ``segment_membership_history``): who entered or left which segment, on which day.

One row per change: ``customer_id, segment, event ("entered" | "exited"), day, segments_file_hash, recorded_at``.
A day's changes are today's memberships (``customer_segments``) compared with the state the history gives for
the end of the previous recorded day (the last event per customer and segment before ``day``). The comparison
runs in the warehouse (one SQL statement); only the changes come back.

* Idempotent: recording a day again first deletes that day's rows, so a rerun on the same day gives the same
  table (the comparison is with the days before, not with itself).
* Days are recorded in order: recording a day earlier than the last recorded one raises (the later days were
  computed from a state that would change); delete those days first to rebuild.
* A customer who disappears (merged into another profile, deleted) exits all segments.

"Who entered at_risk this week" is :func:`entered_this_week_sql` (docs/models.md).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.clock import utc_naive
from tailor.rules.segments import SEGMENT_NAME_RE
from tailor.warehouse.session import WarehouseSession
from tailor.warehouse.sql import timestamp_literal

TABLE = "segment_membership_history"
HISTORY_COLUMNS = ["customer_id", "segment", "event", "day", "segments_file_hash", "recorded_at"]
EVENTS = ("entered", "exited")


class SegmentMembershipHistorySchema(pa.DataFrameModel):
    """``segment_membership_history``: one row per entry into or exit from a segment."""

    customer_id: Series[str] = pa.Field(nullable=False)
    segment: Series[str] = pa.Field(nullable=False, str_matches=SEGMENT_NAME_RE.pattern)
    event: Series[str] = pa.Field(isin=list(EVENTS))
    day: Series[pa.DateTime] = pa.Field(nullable=False)
    segments_file_hash: Series[str] = pa.Field(nullable=False, str_length={"min_value": 64, "max_value": 64})
    recorded_at: Series[pa.DateTime] = pa.Field(nullable=False)

    class Config:
        strict = True
        ordered = True
        coerce = False
        unique = ["customer_id", "segment", "day"]

    @pa.dataframe_check(name="day_is_a_utc_midnight")
    def _midnight(cls, df: pd.DataFrame) -> pd.Series:
        return df["day"] == df["day"].dt.normalize()


def file_hash(path: str | Path) -> str:
    """sha256 of the segments file: which version of the definitions made a change."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def as_day(moment: datetime | date | str) -> pd.Timestamp:
    """The UTC calendar day of ``moment`` as a midnight Timestamp (naive = UTC)."""
    return utc_naive(moment).normalize()


def changes_sql(day: pd.Timestamp, history_exists: bool, memberships_table: str = "customer_segments") -> str:
    """One ``SELECT`` (Snowflake dialect): customer_id, segment, event of ``day`` — memberships of
    ``memberships_table`` compared with the state at the end of the last recorded day before ``day``."""
    d = timestamp_literal(day)
    if history_exists:
        previous = f"""
last_event AS (
    SELECT customer_id, segment, event,
           ROW_NUMBER() OVER (PARTITION BY customer_id, segment ORDER BY day DESC) AS rn
    FROM {TABLE}
    WHERE day < {d}
),
previous AS (
    SELECT customer_id, segment FROM last_event WHERE rn = 1 AND event = 'entered'
),"""
    else:
        # first day ever recorded: nobody was in any segment before
        previous = """
previous AS (
    SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS segment WHERE 1 = 0
),"""
    return f"""
WITH{previous}
current_members AS (
    SELECT DISTINCT customer_id, segment FROM {memberships_table}
)
SELECT c.customer_id, c.segment, 'entered' AS event
FROM current_members c
LEFT JOIN previous p ON p.customer_id = c.customer_id AND p.segment = c.segment
WHERE p.customer_id IS NULL
UNION ALL
SELECT p.customer_id, p.segment, 'exited' AS event
FROM previous p
LEFT JOIN current_members c ON c.customer_id = p.customer_id AND c.segment = p.segment
WHERE c.customer_id IS NULL
ORDER BY segment, event, customer_id
""".strip()


def _changes_frame(raw: pd.DataFrame, day: pd.Timestamp, segments_file_hash: str, recorded_at: datetime) -> pd.DataFrame:
    df = raw   # sessions hand back lower-case columns on every warehouse
    out = pd.DataFrame(
        {
            "customer_id": df["customer_id"].astype(str).to_numpy(dtype=object),
            "segment": df["segment"].astype(str).to_numpy(dtype=object),
            "event": df["event"].astype(str).to_numpy(dtype=object),
        }
    )
    out["day"] = pd.Series(day, index=out.index, dtype="datetime64[ns]")
    out["segments_file_hash"] = segments_file_hash
    out["recorded_at"] = pd.Series(pd.Timestamp(recorded_at), index=out.index, dtype="datetime64[ns]")
    return out[HISTORY_COLUMNS]


def record_day(
    session: WarehouseSession,
    day: datetime | date | str,
    segments_file_hash: str,
    recorded_at: datetime,
    memberships_table: str = "customer_segments",
) -> pd.DataFrame:
    """Record the entries and exits of ``day`` in ``segment_membership_history`` (inside ``session``, one
    transaction) and return them. Rerunning the same day replaces that day's rows."""
    d = as_day(day)
    exists = session.table_exists(TABLE)
    if exists:
        last = session.query(f"SELECT MAX(day) AS last_day FROM {TABLE}")["last_day"].iloc[0]
        if last is not None and not pd.isna(last) and as_day(last) > d:
            raise ValueError(
                f"{TABLE}: cannot record {d.date()}: days up to {as_day(last).date()} are already recorded and were "
                f"computed from the state of this day; delete the rows with day > {d.date()} first to rebuild them"
            )
        session.execute(f"DELETE FROM {TABLE} WHERE day = {timestamp_literal(d)}")
    changes = _changes_frame(session.query(changes_sql(d, exists, memberships_table)), d, segments_file_hash,
                             utc_naive(recorded_at))
    if len(changes) or not exists:
        session.write_table(TABLE, changes, mode="append")
    return changes


def segment_sizes_sql(day: datetime | date | str) -> str:
    """Size of every segment at the end of ``day`` from the history alone (entries minus exits up to it)."""
    d = timestamp_literal(as_day(day))
    return f"""
SELECT segment,
       SUM(CASE WHEN event = 'entered' THEN 1 ELSE -1 END) AS members
FROM {TABLE}
WHERE day <= {d}
GROUP BY segment
ORDER BY segment
""".strip()


def entered_this_week_sql(segment: str, today: datetime | date | str | None = None) -> str:
    """Customers who entered ``segment`` this week (Monday to ``today``, UTC), newest first.

    With ``today`` None the query uses ``CURRENT_DATE``: the text in docs/models.md.
    """
    if not SEGMENT_NAME_RE.match(segment):
        raise ValueError(f"entered_this_week_sql: {segment!r} is not a segment name (lower-case letters, digits, _)")
    ref = "CURRENT_DATE" if today is None else f"DATE '{as_day(today).strftime('%Y-%m-%d')}'"
    return f"""
SELECT customer_id, day
FROM {TABLE}
WHERE segment = '{segment}' AND event = 'entered'
  AND day >= DATE_TRUNC('week', {ref}) AND day <= {ref}
ORDER BY day DESC, customer_id
""".strip()


def size_metadata(memberships: pd.DataFrame, changes: pd.DataFrame, segment_names: list[str]) -> dict[str, int]:
    """``segment_size/<name>``, ``segment_entered/<name>``, ``segment_exited/<name>`` for every segment of the file
    (0 for an empty one, so its plot does not have a gap)."""
    sizes = memberships.groupby("segment").size() if len(memberships) else pd.Series(dtype=np.int64)
    counts = changes.groupby(["segment", "event"]).size() if len(changes) else pd.Series(dtype=np.int64)
    names = list(dict.fromkeys([*segment_names, *map(str, sizes.index)]))
    out: dict[str, int] = {}
    for name in names:
        out[f"segment_size/{name}"] = int(sizes.get(name, 0))
        out[f"segment_entered/{name}"] = int(counts.get((name, "entered"), 0))
        out[f"segment_exited/{name}"] = int(counts.get((name, "exited"), 0))
    return out
