"""``tailor rules test``: example cases in ``rules/tests/*.yaml``, each a customer and what their decision must be.

A case file is read like the rule files — every problem with its line, unknown fields, segments, blocks and rule
names named with the closest valid one — and each case goes through the pipeline's own code: the customer's
segments (as given, or computed from ``segments.yaml``), then :func:`tailor.rules.decide.decide` with its
priorities, experiments and gates. Only what a case's ``expect`` lists is compared.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tailor.rules.customer_table import SEGMENTS_FIELD
from tailor.rules.problems import Problems, RuleFileError, did_you_mean

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from tailor.rules.ruleset import EmailRuleSet
    from tailor.rules.segments import SegmentDefinition


# The keys of a case file, of a case, and of what a case expects.
_CASE_FILE_KEYS = ("base_customer", "cases")
_CASE_KEYS = ("name", "description", "customer", "segments", "expect")
_EXPECT_KEYS = ("send", "reason", "subject", "blocks", "params", "rules_fired", "experiment", "variant")


@dataclass(frozen=True)
class Case:
    """One validated case: its customer's fields, its segments if given, and the expected decision."""

    name: str
    path: str
    line: int | None
    customer: dict[str, Any]
    segments: tuple[str, ...] | None      # None: computed from segments.yaml
    expect: dict[str, Any]

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


def load_cases(path: str | Path, *, known_fields: Mapping[str, str], blocks: Mapping[str, Collection[str]],
               segment_names: Collection[str] | None, rule_names: Collection[str] | None) -> tuple[list[Case], Problems]:
    """Read and validate a case file. Returns the valid cases and the problems (``file:line``)."""
    # here, not at the top: the YAML reader is only needed when cases run (every `tailor` command imports this)
    from tailor.rules.yaml_lines import describe_value, line_of, load_yaml

    problems = Problems(path)
    try:
        data, _ = load_yaml(path, problems)
    except RuleFileError as exc:
        problems.items.extend(exc.problems)
        return [], problems
    if not isinstance(data, dict) or "cases" not in data:
        problems.add(getattr(data, "line", 1), "a test file needs `cases:` — a list of cases, each with name, "
                                                "customer, segments and expect")
        return [], problems
    for key in data:
        if key not in _CASE_FILE_KEYS:
            problems.add(line_of(data, key), f"unknown key {key!r}{did_you_mean(key, _CASE_FILE_KEYS)} "
                                             f"(keys: {', '.join(_CASE_FILE_KEYS)})")
    checker = _CaseChecker(problems, known_fields, blocks, segment_names, rule_names)
    base: dict[str, Any] = {}
    if data.get("base_customer") is not None:
        base = checker.customer(data["base_customer"], line_of(data, "base_customer"), "base_customer") or {}
    items = data["cases"]
    if not isinstance(items, list) or not items:
        problems.add(line_of(data, "cases"), "`cases:` must be a list with at least one case (`- name: ...`)")
        return [], problems
    cases: list[Case] = []
    seen: dict[str, int | None] = {}
    for i, item in enumerate(items):
        iline = line_of(items, i)
        if not isinstance(item, dict):
            problems.add(iline, f"each case must be a mapping with name, customer, segments and expect; got "
                                f"{describe_value(item)}")
            continue
        before = len(problems.items)
        for key in item:
            if key not in _CASE_KEYS:
                problems.add(line_of(item, key), f"unknown key {key!r}{did_you_mean(key, _CASE_KEYS)} in a case "
                                                 f"(keys: {', '.join(_CASE_KEYS)})")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            problems.add(iline, f"case #{i + 1}: needs a `name` (text), got {describe_value(name)}")
            name = f"#{i + 1}"
        elif name in seen:
            problems.add(line_of(item, "name"), f"duplicate case name {name!r} (first defined on line {seen[name]})")
        else:
            seen[name] = line_of(item, "name")
        label = f"case {name!r}"
        customer = dict(base)
        if item.get("customer") is not None:
            customer.update(checker.customer(item["customer"], line_of(item, "customer"), label) or {})
        segments = None
        if "segments" in item:
            segments = checker.segments(item["segments"], line_of(item, "segments"), label)
        expect = None
        if "expect" not in item:
            problems.add(iline, f"{label}: missing required key `expect` (what the decision must be)")
        else:
            expect = checker.expect(item["expect"], line_of(item, "expect"), label)
        if len(problems.items) == before and expect is not None:
            cases.append(Case(name=name, path=str(path), line=iline, customer=customer,
                              segments=tuple(segments) if segments is not None else None, expect=expect))
    return cases, problems


class _CaseChecker:
    """Checks the parts of a case (customer, segments, expect), adding every problem to ``problems``."""

    def __init__(self, problems: Problems, known_fields: Mapping[str, str], blocks: Mapping[str, Collection[str]],
                 segment_names: Collection[str] | None, rule_names: Collection[str] | None):
        self.p = problems
        self.fields = {k: v for k, v in known_fields.items() if k != SEGMENTS_FIELD}
        self.blocks = blocks
        self.segment_names = set(segment_names) if segment_names is not None else None
        self.rule_names = set(rule_names) if rule_names is not None else None

    def customer(self, raw: Any, line: int | None, label: str) -> dict[str, Any] | None:
        from tailor.rules.parser import parse_datetime_literal
        from tailor.rules.yaml_lines import describe_value, line_of

        if not isinstance(raw, dict):
            self.p.add(line, f"{label}: the customer must be a mapping of field: value, got {describe_value(raw)}")
            return None
        out: dict[str, Any] = {}
        for key, value in raw.items():
            kline = line_of(raw, key, line)
            if key == "segments":
                self.p.add(kline, f"{label}: give segments with the case's own `segments:` key, not in the customer")
                continue
            kind = self.fields.get(key) if isinstance(key, str) else None
            if kind is None:
                self.p.add(kline, f"{label}: unknown field {key!r}{did_you_mean(key, self.fields)}")
                continue
            if value is None:
                out[key] = None
                continue
            bad = None
            if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                bad = "a number"
            elif kind == "string" and not isinstance(value, str):
                bad = f"text (put it in quotes: \"{value}\")" if isinstance(value, (int, float, bool)) else "text"
            elif kind == "boolean" and not isinstance(value, bool):
                bad = "true or false"
            elif kind == "datetime":
                parsed = parse_datetime_literal(value) if not isinstance(value, bool) else None
                if parsed is None:
                    bad = "a date such as 2025-03-01 or 2025-03-01T08:00:00Z"
                else:
                    value = parsed
            elif kind == "list" and not (isinstance(value, list) and all(
                    isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value)):
                bad = "a list such as [P0001, P0002]"
            if bad:
                self.p.add(kline, f"{label}: {key} must be {bad}, got {describe_value(value)}")
                continue
            out[key] = value
        return out

    def segments(self, raw: Any, line: int | None, label: str) -> list[str] | None:
        from tailor.rules.yaml_lines import describe_value

        if raw is None:
            return []
        if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
            self.p.add(line, f"{label}: segments must be a list of segment names such as [vip, lapsed] (or [] for "
                             f"none), got {describe_value(raw)}")
            return None
        for s in raw:
            if self.segment_names is not None and s not in self.segment_names:
                self.p.add(line, f"{label}: unknown segment {s!r}{did_you_mean(s, self.segment_names)} "
                                 f"(segments: {', '.join(sorted(self.segment_names))})")
                return None
        return list(dict.fromkeys(raw))

    def expect(self, raw: Any, line: int | None, label: str) -> dict[str, Any] | None:
        from tailor.rules.yaml_lines import describe_value, line_of

        if not isinstance(raw, dict) or not raw:
            self.p.add(line, f"{label}: `expect:` must be a mapping with what the decision must be "
                             f"({', '.join(_EXPECT_KEYS)}), got {describe_value(raw)}")
            return None
        before = len(self.p.items)
        out: dict[str, Any] = {}
        for key, value in raw.items():
            kline = line_of(raw, key, line)
            if key not in _EXPECT_KEYS:
                hint = did_you_mean(key, _EXPECT_KEYS)
                if key in self.blocks:
                    hint = f" — slots go under `blocks:`, e.g. `blocks: {{{key}: ...}}`"
                self.p.add(kline, f"{label}: unknown key {key!r}{hint} in expect (keys: {', '.join(_EXPECT_KEYS)})")
            elif key == "send" and not isinstance(value, bool):
                self.p.add(kline, f"{label}: send must be true or false, got {describe_value(value)}")
            elif key in ("reason",) and not isinstance(value, str):
                self.p.add(kline, f"{label}: reason must be text such as rule:vip_picks or no_consent, got "
                                  f"{describe_value(value)}")
            elif key in ("subject", "experiment", "variant") and value is not None and not isinstance(value, str):
                self.p.add(kline, f"{label}: {key} must be text (or null), got {describe_value(value)}")
            elif key == "blocks":
                if not isinstance(value, dict):
                    self.p.add(kline, f"{label}: blocks must be a mapping of slot: block, e.g. "
                                      f"{{hero: hero_vip, main: bestsellers}}, got {describe_value(value)}")
                    continue
                for slot, block in value.items():
                    sline = line_of(value, slot, kline)
                    if slot not in self.blocks:
                        self.p.add(sline, f"{label}: unknown slot {slot!r}{did_you_mean(slot, self.blocks)} "
                                          f"(slots: {', '.join(self.blocks)})")
                    elif block is not None and block not in self.blocks[slot]:
                        self.p.add(sline, f"{label}: unknown block {block!r} for slot {slot!r}"
                                          f"{did_you_mean(block, self.blocks[slot])}")
            elif key == "params" and not isinstance(value, dict):
                self.p.add(kline, f"{label}: params must be a mapping, got {describe_value(value)}")
            elif key == "rules_fired":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    self.p.add(kline, f"{label}: rules_fired must be a list of rule names, highest priority "
                                      f"first, got {describe_value(value)}")
                    continue
                for name in value:
                    if self.rule_names is not None and name not in self.rule_names:
                        self.p.add(kline, f"{label}: unknown rule {name!r}{did_you_mean(name, self.rule_names)}")
            if len(self.p.items) == before:
                out[key] = dict(value) if isinstance(value, dict) else (list(value) if isinstance(value, list) else value)
        if len(self.p.items) > before:
            return None
        return out


@dataclass
class CaseResult:
    """A case run: what differs from ``expect`` (empty when it passed) and the decision made."""

    case: Case
    mismatches: list[tuple[str, Any, Any]]      # (what, expected, got)
    decision: dict[str, Any]

    @property
    def passed(self) -> bool:
        return not self.mismatches


def case_input(case: Case, known_fields: Mapping[str, str], definitions: Sequence[SegmentDefinition]) -> pd.DataFrame:
    """The decision input frame of one case: the customer's fields (every catalog field; those not given have
    no value) and its segments — as given, or computed with the segment definitions."""
    import pandas as pd

    from tailor.rules.decisions_schema import PERSONALIZATION_CONSENT
    from tailor.rules.facts import build_decision_input
    from tailor.rules.segments import assign_segments

    row: dict[str, Any] = {name: None for name in known_fields if name != SEGMENTS_FIELD}
    if PERSONALIZATION_CONSENT in row:
        # the profiles' default (docs/internal-spec.md): a case is about personalised content unless it says
        # `personalization_consent: false`
        row[PERSONALIZATION_CONSENT] = True
    row.update(case.customer)
    row["customer_id"] = case.customer.get("customer_id") or case.name
    frame = pd.DataFrame([row])
    for name, kind in known_fields.items():
        if name == SEGMENTS_FIELD:
            continue
        if kind == "datetime":
            frame[name] = pd.to_datetime(frame[name], utc=True).dt.tz_localize(None)
        elif kind == "number":
            frame[name] = pd.to_numeric(frame[name])
        elif kind == "list":
            frame[name] = [row[name] if row[name] is not None else []]
    if case.segments is not None:
        segments = pd.DataFrame({"customer_id": [row["customer_id"]] * len(case.segments),
                                 "segment": list(case.segments)})
    else:
        segments = assign_segments(frame, definitions)
    return build_decision_input(frame, segments=segments)


def run_case(case: Case, ruleset: EmailRuleSet, known_fields: Mapping[str, str],
             definitions: Sequence[SegmentDefinition], decided_at: datetime | None = None) -> CaseResult:
    """Decide the case's customer with the real :func:`tailor.rules.decide.decide` and compare with ``expect``."""
    from tailor.rules.decide import decide

    inp = case_input(case, known_fields, definitions)
    row = decide(inp, ruleset, decided_at or datetime.now(timezone.utc)).iloc[0].to_dict()
    got = {
        "send": bool(row["send"]), "reason": row["reason"], "subject": row["subject"],
        "blocks": json.loads(row["blocks"]), "params": json.loads(row["params"]),
        "rules_fired": json.loads(row["rules_fired"]), "experiment": row["experiment"], "variant": row["variant"],
        "segments": list(inp["segments"].iloc[0]), "facts_used": json.loads(row["facts_used"]),
    }
    mismatches: list[tuple[str, Any, Any]] = []
    for key, want in case.expect.items():
        have = got[key]
        if key in ("blocks", "params"):
            for k in [*want, *(k for k in have if k not in want)]:
                if want.get(k) != have.get(k):
                    mismatches.append((f"{key}.{k}", want.get(k), have.get(k)))
        elif want != have:
            mismatches.append((key, want, have))
    return CaseResult(case=case, mismatches=mismatches, decision=got)


def _show(v: Any) -> str:
    if v is None:
        return "(nothing)"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    return json.dumps(v, ensure_ascii=False, default=str)


def format_result(result: CaseResult) -> list[str]:
    """``PASS name``, or ``FAIL name (file:line)`` and, per mismatch, what was expected and what came out."""
    c = result.case
    if result.passed:
        return [f"PASS  {c.name}"]
    lines = [f"FAIL  {c.name}  ({c.source})"]
    width = max(len(w) for w, _, _ in result.mismatches)
    for what, want, have in result.mismatches:
        lines.append(f"        {what:<{width}}  expected {_show(want)}")
        lines.append(f"        {'':<{width}}  got      {_show(have)}")
    d = result.decision
    lines.append(f"        (segments {_show(d['segments'])}, rules fired {_show(d['rules_fired'])}, "
                 f"reason {d['reason']})")
    return lines
