"""The review queue and the decisions a person makes on it.

``identity_review`` lists the pairs the model is unsure about: a match probability in the uncertain band
(``review_min_probability`` <= p < ``link_min_probability``), not vetoed by a guard, the two records in different
customers, and not decided yet. A person decides in a CSV file (``rules/identity_decisions.csv``, the
``TAILOR_RULES_DIR``) that the next run honours: ``merge`` links the two records (whatever the model and the vetoes
say), ``split`` removes every link between them and keeps them in different customers.

The file::

    customer_ref_a,customer_ref_b,decision,decided_by,note
    CRM-000012,CRM-004711,merge,anna@shop.example,called her: same person
    CRM-000031,CRM-000032,split,,twins

``customer_ref_a``, ``customer_ref_b`` and ``decision`` are required; ``decided_by``, ``decided_at`` and ``note`` are
optional; lines starting with ``#`` and blank lines are skipped. Every problem is reported as ``file:line: what``.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

DECISIONS_FILE = "identity_decisions.csv"
DECISIONS = ("merge", "split")
REQUIRED_COLUMNS = ("customer_ref_a", "customer_ref_b", "decision")
OPTIONAL_COLUMNS = ("decided_by", "decided_at", "note")
MAX_DECISION_LINES = 1_000_000


class IdentityReviewSchema(pa.DataFrameModel):
    """Pairs in the uncertain band for a person to decide (``merge`` or ``split`` in the decisions file)."""

    customer_ref_a: Series[str]
    customer_ref_b: Series[str]
    customer_id_a: Series[str] = pa.Field(str_startswith="cus_")
    customer_id_b: Series[str] = pa.Field(str_startswith="cus_")
    match_probability: Series[float] = pa.Field(ge=0, le=1)
    match_weight: Series[float]
    model_version: Series[str]
    evidence: Series[str]

    class Config:
        strict = True
        ordered = True
        unique = ["customer_ref_a", "customer_ref_b"]


REVIEW_COLUMNS = list(IdentityReviewSchema.to_schema().columns)


class DecisionFileError(ValueError):
    """The decisions file is malformed; the message names every bad line as ``file:line: what``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Decisions:
    """The decisions of the file: one row per pair (``customer_ref_a`` < ``customer_ref_b``), ``decision``, ``line``."""

    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["customer_ref_a", "customer_ref_b", "decision", "line"]))
    source: str = ""

    def pairs(self, decision: str) -> pd.DataFrame:
        return self.table.loc[self.table["decision"] == decision, ["customer_ref_a", "customer_ref_b"]]

    def __len__(self) -> int:
        return len(self.table)


NO_DECISIONS = Decisions()


def parse_decisions(text: str, source: str = DECISIONS_FILE) -> Decisions:
    """The decisions of a file's text; :class:`DecisionFileError` lists every problem with its line."""
    problems: list[str] = []
    lines = text.splitlines()
    if len(lines) > MAX_DECISION_LINES:
        raise DecisionFileError([f"{source}: {len(lines)} lines, more than {MAX_DECISION_LINES}"])
    header_at = None
    header: list[str] = []
    rows: list[tuple[int, str, str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            cells = next(csv.reader(io.StringIO(line)))
        except csv.Error as err:
            problems.append(f"{source}:{number}: not a CSV line ({err})")
            continue
        cells = [c.strip() for c in cells]
        if header_at is None:
            header_at, header = number, [c.lower() for c in cells]
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
            repeated = sorted({c for c in header if header.count(c) > 1})
            if missing:
                problems.append(f"{source}:{number}: the header lacks {', '.join(missing)} (expected "
                                f"{','.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)})")
            if unknown:
                problems.append(f"{source}:{number}: unknown column(s) {', '.join(unknown)}")
            if repeated:
                problems.append(f"{source}:{number}: repeated column(s) {', '.join(repeated)}")
            if missing or repeated:
                raise DecisionFileError(problems)
            continue
        if len(cells) != len(header):
            problems.append(f"{source}:{number}: {len(cells)} fields, the header has {len(header)}")
            continue
        row = dict(zip(header, cells))
        a, b, decision = row["customer_ref_a"], row["customer_ref_b"], row["decision"].lower()
        bad = []
        if not a or not b:
            bad.append("both customer_ref_a and customer_ref_b are needed")
        elif a == b:
            bad.append(f"a record cannot be decided against itself ({a})")
        if decision not in DECISIONS:
            bad.append(f"decision must be merge or split, not {row['decision']!r}")
        if bad:
            problems.extend(f"{source}:{number}: {b_}" for b_ in bad)
            continue
        rows.append((number, *sorted((a, b)), decision))
    seen: dict[tuple[str, str], tuple[int, str]] = {}
    kept = []
    for number, a, b, decision in rows:
        earlier = seen.get((a, b))
        if earlier is None:
            seen[(a, b)] = (number, decision)
            kept.append((a, b, decision, number))
        elif earlier[1] != decision:
            problems.append(f"{source}:{number}: {a} / {b} is decided {decision} here and {earlier[1]} on line "
                            f"{earlier[0]}")
    if problems:
        raise DecisionFileError(problems)
    table = pd.DataFrame(kept, columns=["customer_ref_a", "customer_ref_b", "decision", "line"])
    return Decisions(table=table, source=source)


def read_decisions(path: str | Path) -> Decisions:
    """The decisions file at ``path``; no file: no decisions."""
    path = Path(path)
    if not path.is_file():
        return Decisions(source=str(path))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise DecisionFileError([f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"]) from None
    return parse_decisions(text, str(path))


def empty_review() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c in ("match_probability", "match_weight") else object)
                         for c in REVIEW_COLUMNS})
