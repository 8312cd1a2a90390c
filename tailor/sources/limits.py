"""The limits ingestion holds every landing file to (docs/data-contracts.md, "Limits").

A landing row is a customer record, an event or an order: none is anywhere near these sizes, so a row above
them is a broken or hostile export. It is quarantined (counted, with its file, line and a reason), not loaded,
and it never fails the rest of its file.
"""

from __future__ import annotations

from datetime import timedelta

MAX_FIELD_BYTES = 64 * 1024  # one value of a contract column (UTF-8 bytes, after trimming)
MAX_ROW_BYTES = 1024 * 1024  # one NDJSON line, or the fields of one CSV row together (UTF-8 bytes)
RAW_EXCERPT_CHARS = 4096  # what quarantine keeps of a bad row's raw text; a cut excerpt ends in "…"

# A timestamp later than its file's arrival plus this is implausible (a clock that is wrong, or a record
# forged to win): the row is quarantined. Five minutes is the usual bound for clock skew between hosts
# (Kerberos' default), far above what NTP leaves.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)
