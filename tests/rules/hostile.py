"""Hostile and oversized rule files for the hardening tests, and a way to decide them in a child process.

Deciding is run in a child process (``python -m tests.rules.hostile RULES_FILE CUSTOMERS_JSON WORKERS``) where a
rule file used to crash durable_rules (abort, segfault) or hang it: the test process survives and sees the exit
code. The child prints one JSON line: the decisions' ``rules_fired`` per customer, or the error it raised.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tailor.rules.ruleset import EmailRuleSet

ROOT = Path(__file__).resolve().parents[2]

HEADER = """\
campaign:
  id: hardening
  name: Hardening
defaults:
  subject: "Hello {{ first_name }}"
  hero: hero_default
  main: bestsellers
  send: true
rules:
"""


def email_rules(rules: Iterable[str]) -> str:
    """An email rule file: the header, then each rule (one flow mapping per rule, one line each)."""
    return HEADER + "".join(f"  - {r}\n" for r in rules)


def distinct_matching_rules(n: int) -> list[str]:
    """``n`` rules with distinct conditions that all hold for a customer spending 5,000 EUR (each still changes
    the email: a higher threshold ranks higher)."""
    return [f"{{name: r{i}, priority: {i}, when: {{total_spend: {{gte: {i + 1}}}}}, then: {{hero: hero_vip}}}}"
            for i in range(n)]


def segment_rules(n: int, segment: str = "vip") -> list[str]:
    """``n`` rules on one segment (``in_segment`` tests are never shared inside durable_rules)."""
    return [f"{{name: s{i}, priority: {i}, when: {{in_segment: {segment}}}, then: {{hero: hero_vip}}}}"
            for i in range(n)]


def any_of_matching(n: int, then: str = "{hero: hero_vip}") -> str:
    """One rule whose ``any:`` has ``n`` alternatives that all hold at once for a customer spending 5,000 EUR."""
    alternatives = ", ".join(f"{{total_spend: {{gte: {i + 1}}}}}" for i in range(n))
    return f"{{name: wide, priority: 1, when: {{any: [{alternatives}]}}, then: {then}}}"


def alias_tree_rule(levels: int, fanout: int = 3) -> str:
    """A rule whose condition is an alias tree, nested all/any: ``fanout ** levels`` tests once expanded."""
    def level(k: int) -> str:
        if k == 0:
            return "&a0 {total_spend: {gte: 1}}"
        kind = "any" if k % 2 else "all"
        return f"&a{k} {{{kind}: [{', '.join([level(k - 1)] + [f'*a{k - 1}'] * (fanout - 1))}]}}"

    return HEADER + f"  - name: aliased\n    priority: 1\n    when: {level(levels)}\n    then: {{hero: hero_vip}}\n"


def alias_bomb(levels: int, fanout: int = 9) -> str:
    """A few hundred bytes that expand to ``fanout ** levels`` tests ("billion laughs"): each level on its line."""
    lines = ["  - name: bomb", "    priority: 1", "    when:", "      all:", "        - &a0 {total_spend: {gte: 1}}"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * fanout)
        lines.append(f"        - &a{i} {{{'any' if i % 2 else 'all'}: [{refs}]}}")
    lines.append("    then: {hero: hero_vip}")
    return HEADER + "\n".join(lines) + "\n"


def write_rule_dir(tmp_path: Path, email_rules_text: str, segments_text: str | None = None) -> Path:
    """A rules folder with ``email_rules.yaml`` and a segments file (the frozen v1 one by default)."""
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "email_rules.yaml").write_text(email_rules_text, encoding="utf-8")
    seg = segments_text if segments_text is not None else (ROOT / "tests" / "data" / "segments_v1.yaml").read_text()
    (d / "segments.yaml").write_text(seg, encoding="utf-8")
    return d


def decide_in_child(rules_file: Path, customers: Sequence[dict[str, Any]], workers: int = 1,
                    timeout: float = 300) -> tuple[int, dict[str, Any] | None, str]:
    """Decide ``customers`` with ``rules_file`` in a child process: (exit code, its JSON answer or None, stderr).
    A child that hangs is killed after ``timeout`` seconds (exit code -9 then)."""
    args = [sys.executable, "-m", "tests.rules.hostile", str(rules_file), json.dumps(list(customers)), str(workers)]
    try:
        out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return -9, None, f"killed after {timeout} s: {exc.stderr!r}"
    answer = None
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            answer = json.loads(line)
    return out.returncode, answer, out.stderr[-2000:]


def _decide_main(rules_file: str, customers_json: str, workers: str) -> None:
    from datetime import datetime

    import pandas as pd

    from tailor.rules.decide import decide
    from tailor.rules.email_rules import load_rule_file
    from tailor.rules.facts import build_decision_input
    from tailor.rules.fields import field_kinds
    from tests.shipped import SHIPPED_BLOCKS

    rows = json.loads(customers_json)
    base = {"email": "a@example.com", "first_name": "Ann", "marketing_consent": True, "suppressed_reason": None,
            "personalization_consent": True, "total_spend": 0.0, "frequency": 0, "recency_days": 30.0,
            "order_count": 1}
    frame = pd.DataFrame([{"customer_id": f"c{i}", **base, **{k: v for k, v in r.items() if k != "segments"}}
                          for i, r in enumerate(rows)])
    segments = pd.DataFrame([{"customer_id": f"c{i}", "segment": s} for i, r in enumerate(rows)
                             for s in r.get("segments", [])], columns=["customer_id", "segment"])
    facts = build_decision_input(frame, segments=segments)
    ruleset = load_rule_file(rules_file, field_kinds(facts), SHIPPED_BLOCKS)
    try:
        out = decide(facts, ruleset, datetime(2025, 3, 1), workers=int(workers))
    except Exception as exc:  # noqa: BLE001 - reported to the parent test
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}), flush=True)
        return
    print(json.dumps({"rules_fired": [json.loads(x) for x in out["rules_fired"]],
                      "reason": out["reason"].tolist()}), flush=True)


def die(how: str) -> None:
    """End this process the way a crashing C extension does."""
    import ctypes
    import os

    if how == "abort":
        os.abort()
    if how == "exit":
        os._exit(3)
    ctypes.string_at(0)   # segfault


class _DyingEngine:
    def __init__(self, how: str):
        self.how = how

    def fire_many(self, facts: Any, **kwargs: Any) -> Any:
        die(self.how)


class DyingRuleSet(EmailRuleSet):
    """A copy of an email rule set whose decision worker dies: ``how`` is ``abort`` (SIGABRT, like durable_rules'
    ``munmap_chunk(): invalid pointer``), ``exit`` (``os._exit(3)``) or ``segfault``; ``when`` is ``init`` (while
    the worker compiles the rules) or ``decide`` (in its first slice of customers).

    Everything else is the real code path: the real pool and worker processes, the rule set pickled to them; only
    the engine a worker compiles kills its process, and never outside a worker."""

    how = "abort"
    when = "decide"

    @classmethod
    def of(cls, ruleset: EmailRuleSet, how: str, when: str) -> DyingRuleSet:
        copy = cls.__new__(cls)
        copy.__setstate__(ruleset.__getstate__())
        copy.how, copy.when = how, when
        return copy

    @property
    def engine(self) -> Any:
        import multiprocessing

        if multiprocessing.parent_process() is None:
            raise AssertionError("a dying rule set dies in decision workers only")
        if self.when == "init":
            die(self.how)
        return _DyingEngine(self.how)


if __name__ == "__main__":
    _decide_main(*sys.argv[1:4])
