"""One campaign's email decisions for the current customers: the rule files read afresh (an edit applies to the
next run, no code change), the block names taken from the template headers, every customer decided."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tailor.content.vocabulary import template_blocks
from tailor.rules.decide import decide, plan_workers
from tailor.rules.email_rules import load_email_ruleset
from tailor.rules.facts import build_decision_input
from tailor.rules.fields import field_kinds

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from tailor.rules.ruleset import EmailRuleSet


@dataclass(frozen=True)
class DecisionRun:
    decisions: pd.DataFrame
    ruleset: EmailRuleSet
    workers: int
    seconds: float


def decide_emails(customers: pd.DataFrame, segments: pd.DataFrame, *, rules_file: Path, segments_file: Path,
                  templates_dir: Path, decided_at: datetime) -> DecisionRun:
    """``customers``: the customer table (tailor.rules.customer_table); ``segments``: customer_segments."""
    facts = build_decision_input(customers, segments=segments)
    blocks, _ = template_blocks(templates_dir)   # the templates themselves are validated where they render
    ruleset, _ = load_email_ruleset(rules_file, segments_file, field_kinds(facts), blocks)
    workers = plan_workers(len(facts), None)   # TAILOR_DECISION_WORKERS, else every CPU, for large bases only
    started = time.perf_counter()
    decisions = decide(facts, ruleset, decided_at, workers=workers)
    # nullable text columns as the string dtype, so that an all-null column is still created as text
    decisions = decisions.astype({"subject": "string", "experiment": "string", "variant": "string"})
    return DecisionRun(decisions, ruleset, workers, time.perf_counter() - started)
