"""`tailor rules check | test | diff`: the marketer's tools for ``rules/segments.yaml`` and ``rules/email_rules.yaml``.

* ``check`` validates both files against the field catalog (:func:`tailor.conditions.spec_field_kinds`: the
  columns of the customer table, read from the tables' pandera schemas without importing pandera),
  the template blocks and the segment names, and finds rules that can never change an email. It is meant to
  run on every save: it imports neither pandas nor pandera nor the MJML compiler (see
  :class:`tailor.conditions.LazyModule`), and reads the block list from the block files' headers.
* ``test`` runs the example cases in ``rules/tests/*.yaml`` through the real :func:`tailor.decisions.decide`.
* ``diff`` compares the decisions (or segment memberships) of two rule files on the current customers in the
  warehouse, before anything is sent. The comparisons are pure functions (:func:`compare_decisions`,
  :func:`compare_segments`).

Output lines about a file start with ``file:line:``; exit code 0 = all good, 1 = problems or failures.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from tailor.conditions import Problems
    from tailor.decisions import EmailRuleSet
    from tailor.segments import SegmentDefinition

SEGMENTS_FILE = "segments.yaml"
EMAIL_RULES_FILE = "email_rules.yaml"
TESTS_DIR = "tests"


def _default_dir(variable: str) -> str:
    from tailor.config import setting

    return setting(variable)


def _format(path: str | Path, line: int | None, message: str) -> str:
    return f"{path}:{line}: {message}" if line is not None else f"{path}: {message}"


def _problem_lines(problems: Problems) -> list[str]:
    return [_format(problems.path, p.line, p.message)
            for p in sorted(problems.items, key=lambda p: (p.line is None, p.line or 0))]


def _error_lines(err: Exception) -> list[str]:
    """Lines of a RuleFileError (one per problem)."""
    problems = getattr(err, "problems", None)
    path = getattr(err, "path", None)
    if problems is None or path is None:
        return [str(err)]
    return [_format(path, p.line, p.message) for p in problems]


# ============================================================================================== template blocks

_HEADER_RE = re.compile(r"\A(\s*)<!--(.*?)-->", re.S)      # as tailor.rendering reads block headers
_BLOCK_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def template_blocks(templates_dir: str | Path) -> tuple[dict[str, set[str]], list[str]]:
    """slot -> block names of ``<templates_dir>/blocks/*.mjml``, read from each block's header comment
    (``slot: hero``) — the same list as ``TemplateLibrary.load(dir).blocks_by_slot`` without compiling any
    MJML (which takes seconds). Returns (blocks by slot, problem lines). Full template validation is the
    pipeline's job (``TemplateLibrary.load``)."""
    from tailor.decisions import SLOTS

    templates_dir = Path(templates_dir)
    blocks: dict[str, set[str]] = {slot: set() for slot in SLOTS}
    problems: list[str] = []
    block_dir = templates_dir / "blocks"
    if not block_dir.is_dir():
        return blocks, [_format(block_dir, None, "templates folder without a blocks/ folder; give the right "
                                                "one with --templates-dir")]
    for path in sorted(block_dir.glob("*.mjml")):
        if not _BLOCK_NAME_RE.match(path.stem):
            problems.append(_format(path, None, "block file names must be lower_snake_case (letters, digits, _)"))
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(_format(path, None, f"cannot read the block: {exc}"))
            continue
        m = _HEADER_RE.match(text)
        slot = None
        if m:
            for raw in m.group(2).splitlines():
                key, sep, value = raw.strip().partition(":")
                if sep and key.strip().lower() == "slot":
                    slot = value.strip()
        if slot not in SLOTS:
            line = text[: m.start(2)].count("\n") + 1 if m else 1
            problems.append(_format(path, line, f"the block's header comment must declare its slot "
                                                f"({', '.join(SLOTS)}), e.g. <!-- slot: main -->; got {slot!r}"))
            continue
        blocks[slot].add(path.stem)
    return blocks, problems


# ============================================================================================== check

@dataclass
class CheckReport:
    problems: list[str]
    summary: str
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_rules(rules_dir: str | Path, templates_dir: str | Path) -> CheckReport:
    """Check ``segments.yaml`` and ``email_rules.yaml`` of ``rules_dir`` (every problem of both files)."""
    from tailor.conditions import RuleFileError, spec_field_kinds
    from tailor.decisions import SPEC_BLOCKS, check_rule_file, unreachable_rules
    from tailor.segments import check_segment_file

    rules_dir = Path(rules_dir)
    problems: list[str] = []
    notes: list[str] = []
    try:
        fields = spec_field_kinds()
    except RuntimeError as exc:    # SchemaReadError: a developer's schema change the catalog cannot read
        return CheckReport(problems=[f"{exc} (the list of fields rules may use is read from it)"],
                           summary="the field catalog could not be read; no rule file was checked")
    blocks, block_problems = template_blocks(templates_dir)
    problems += block_problems
    if not any(blocks.values()):
        blocks = {s: set(b) for s, b in SPEC_BLOCKS.items()}   # avoid one error per slot of every rule
        notes.append(f"no blocks found in {templates_dir}; checked the slots against the spec's block list")

    seg_path, rules_path = rules_dir / SEGMENTS_FILE, rules_dir / EMAIL_RULES_FILE
    segment_names: list[str] | None = None
    definitions: list[SegmentDefinition] = []
    try:
        definitions, segment_names, seg_problems = check_segment_file(seg_path, fields)
        problems += _problem_lines(seg_problems)
    except RuleFileError as exc:
        problems += _error_lines(exc)

    ruleset = None
    try:
        ruleset, rule_problems = check_rule_file(rules_path, fields, blocks, known_segments=segment_names)
        problems += _problem_lines(rule_problems)
    except RuleFileError as exc:
        problems += _error_lines(exc)

    if ruleset is not None:
        for u in unreachable_rules(ruleset, {d.name: d.condition for d in definitions}):
            problems.append(_format(rules_path, u.line, u.message))
        used = {f"{c}" for r in ruleset.ranked for c in _segments_in(r.condition)}
        unused = [n for n in segment_names or [] if n not in used]
        if unused:
            notes.append(f"segments no active email rule uses: {', '.join(unused)}")
        disabled = [r.name for r in ruleset.rules if not r.enabled]
        if disabled:
            notes.append(f"switched off (enabled: false): {', '.join(disabled)}")

    n_blocks = sum(len(b) for b in blocks.values())
    if problems:
        files = {line.split(":", 1)[0] for line in problems}
        summary = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}"
    else:
        assert ruleset is not None
        experiments = [r.experiment.name for r in ruleset.experiment_rules if r.experiment is not None]
        summary = (f"OK: {seg_path} ({len(definitions)} segments), {rules_path} (campaign {ruleset.campaign_id!r}, "
                   f"{len(ruleset.ranked)} active rules, {len(experiments)} experiment{'s' if len(experiments) != 1 else ''}"
                   f"{': ' + ', '.join(experiments) if experiments else ''}), {n_blocks} blocks in {templates_dir}")
    return CheckReport(problems=problems, summary=summary, notes=notes)


def _segments_in(cond: Any) -> list[str]:
    from tailor.conditions import SEGMENTS_FIELD, AllOf, AnyOf, Contains, Not

    if isinstance(cond, Contains) and cond.field == SEGMENTS_FIELD:
        return [str(cond.value)]
    if isinstance(cond, (AllOf, AnyOf)):
        return [s for i in cond.items for s in _segments_in(i)]
    if isinstance(cond, Not):
        return _segments_in(cond.item)
    return []


def cmd_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    started = time.perf_counter()
    report = check_rules(args.rules_dir or _default_dir("TAILOR_RULES_DIR"),
                         args.templates_dir or _default_dir("TAILOR_TEMPLATES_DIR"))
    for line in report.problems:
        print(line, file=out)
    for note in report.notes:
        print(f"note: {note}", file=out)
    print(f"{report.summary} — checked in {time.perf_counter() - started:.2f}s", file=out)
    return 0 if report.ok else 1


# ============================================================================================== test

_CASE_FILE_KEYS = ("base_customer", "cases")
_CASE_KEYS = ("name", "description", "customer", "segments", "expect")
_EXPECT_KEYS = ("send", "reason", "subject", "blocks", "params", "rules_fired", "experiment", "variant")


@dataclass(frozen=True)
class Case:
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
    from tailor.conditions import Problems, RuleFileError, describe_value, did_you_mean, line_of, load_yaml

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
    def __init__(self, problems: Problems, known_fields: Mapping[str, str], blocks: Mapping[str, Collection[str]],
                 segment_names: Collection[str] | None, rule_names: Collection[str] | None):
        from tailor.conditions import SEGMENTS_FIELD

        self.p = problems
        self.fields = {k: v for k, v in known_fields.items() if k != SEGMENTS_FIELD}
        self.blocks = blocks
        self.segment_names = set(segment_names) if segment_names is not None else None
        self.rule_names = set(rule_names) if rule_names is not None else None

    def customer(self, raw: Any, line: int | None, label: str) -> dict[str, Any] | None:
        from tailor.conditions import describe_value, did_you_mean, line_of, parse_datetime_literal

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
        from tailor.conditions import describe_value, did_you_mean

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
        from tailor.conditions import describe_value, did_you_mean, line_of

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

    from tailor.conditions import SEGMENTS_FIELD
    from tailor.decisions import PERSONALIZATION_CONSENT, build_decision_input
    from tailor.segments import assign_segments

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
    """Decide the case's customer with the real :func:`tailor.decisions.decide` and compare with ``expect``."""
    from tailor.decisions import decide

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


def cmd_test(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from tailor.conditions import RuleFileError, spec_field_kinds
    from tailor.decisions import load_rule_file
    from tailor.segments import load_segment_definitions

    out = out or sys.stdout
    started = time.perf_counter()
    rules_dir = Path(args.rules_dir or _default_dir("TAILOR_RULES_DIR"))
    templates_dir = Path(args.templates_dir or _default_dir("TAILOR_TEMPLATES_DIR"))
    fields = dict(spec_field_kinds())
    blocks, block_problems = template_blocks(templates_dir)
    for line in block_problems:
        print(line, file=out)
    try:
        definitions = load_segment_definitions(rules_dir / SEGMENTS_FILE, fields)
        ruleset = load_rule_file(rules_dir / EMAIL_RULES_FILE, fields, blocks,
                                 known_segments=[d.name for d in definitions])
    except RuleFileError as exc:
        for line in _error_lines(exc):
            print(line, file=out)
        print("the rule files have mistakes (see `tailor rules check`); no case was run", file=out)
        return 1
    files = sorted((rules_dir / TESTS_DIR).glob("*.yaml")) + sorted((rules_dir / TESTS_DIR).glob("*.yml"))
    if args.files:
        files = [Path(f) for f in args.files]
    if not files:
        print(f"no test cases: write some in {rules_dir / TESTS_DIR}/*.yaml (see docs/rules.md)", file=out)
        return 1
    passed = failed = problems = 0
    decided_at = datetime.now(timezone.utc)
    for path in files:
        cases, file_problems = load_cases(path, known_fields=fields, blocks=blocks,
                                          segment_names=[d.name for d in definitions],
                                          rule_names=[r.name for r in ruleset.rules])
        print(f"{path}", file=out)
        for line in _problem_lines(file_problems):
            print(f"  {line}", file=out)
        problems += len(file_problems.items)
        for case in cases:
            if args.k and args.k.lower() not in case.name.lower():
                continue
            result = run_case(case, ruleset, fields, definitions, decided_at)
            for line in format_result(result):
                print(f"  {line}", file=out)
            passed += result.passed
            failed += not result.passed
    tail = f", {problems} problem{'s' if problems != 1 else ''} in the case files" if problems else ""
    print(f"{passed} passed, {failed} failed{tail} ({time.perf_counter() - started:.2f}s)", file=out)
    return 0 if failed == 0 and problems == 0 and passed > 0 else 1


# ============================================================================================== diff

@dataclass
class DecisionsDiff:
    """How the decisions of two rule files differ on the same customers (see :func:`compare_decisions`)."""

    customers: int
    changed: int                                  # send, blocks, subject or params differ
    changed_and_sent: int                         # ... and at least one of the two decisions sends
    send_changed: int
    newly_sent: int
    no_longer_sent: int
    blocks_changed: int
    subject_changed: int
    params_changed: int
    reason_changed: int
    slot_changes: dict[str, Counter] = field(default_factory=dict)    # slot -> Counter[(old, new)]
    subject_changes: Counter = field(default_factory=Counter)         # Counter[(old, new)]
    reason_changes: Counter = field(default_factory=Counter)
    examples: list[tuple[str, list[str]]] = field(default_factory=list)   # (customer_id, what changes)
    only_old: int = 0
    only_new: int = 0


def _loads(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v if isinstance(v, dict) else ({} if v is None or v != v else v)


def _short(v: Any) -> str:
    """A block name (or ``(none)`` for an empty slot)."""
    return "(none)" if v is None else str(v)


def _quoted(v: Any, width: int = 48) -> str:
    """A subject: always quoted, shortened to ``width``."""
    if v is None:
        return "(none)"
    text = str(v)
    return json.dumps(text if len(text) <= width else text[: width - 1] + "…", ensure_ascii=False)


def compare_decisions(old: pd.DataFrame, new: pd.DataFrame, examples: int = 5) -> DecisionsDiff:
    """Compare two ``email_decisions`` frames customer by customer (``customer_id``, ``send``, ``reason``,
    ``subject``, ``blocks``, ``params``; blocks/params as JSON text or dicts). Pure: no I/O.

    ``examples``: how many customers to show — one per kind of change, most frequent kind first.
    """
    import pandas as pd

    cols = ["customer_id", "send", "reason", "subject", "blocks", "params"]
    merged = pd.merge(old[cols], new[cols], on="customer_id", how="outer", suffixes=("_old", "_new"), indicator=True)
    only_old = int((merged["_merge"] == "left_only").sum())
    only_new = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"]
    diff = DecisionsDiff(customers=len(both), changed=0, changed_and_sent=0, send_changed=0, newly_sent=0,
                         no_longer_sent=0, blocks_changed=0, subject_changed=0, params_changed=0, reason_changed=0,
                         only_old=only_old, only_new=only_new)
    kinds: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for r in both.itertuples(index=False):
        changes: list[str] = []
        kind: list[str] = []
        s_old, s_new = bool(r.send_old), bool(r.send_new)
        if s_old != s_new:
            diff.send_changed += 1
            diff.newly_sent += s_new
            diff.no_longer_sent += s_old
            changes.append(f"send {str(s_old).lower()} -> {str(s_new).lower()}")
            kind.append(f"send:{s_new}")
        same_blocks = isinstance(r.blocks_old, str) and r.blocks_old == r.blocks_new
        b_old, b_new = ({}, {}) if same_blocks else (_loads(r.blocks_old) or {}, _loads(r.blocks_new) or {})
        if b_old != b_new:
            diff.blocks_changed += 1
            for slot in [*b_old, *(s for s in b_new if s not in b_old)]:
                if b_old.get(slot) != b_new.get(slot):
                    diff.slot_changes.setdefault(slot, Counter())[(b_old.get(slot), b_new.get(slot))] += 1
                    changes.append(f"{slot} {_short(b_old.get(slot))} -> {_short(b_new.get(slot))}")
                    kind.append(f"{slot}:{b_old.get(slot)}>{b_new.get(slot)}")
        subj_old = r.subject_old if isinstance(r.subject_old, str) else None
        subj_new = r.subject_new if isinstance(r.subject_new, str) else None
        if subj_old != subj_new:
            diff.subject_changed += 1
            diff.subject_changes[(subj_old, subj_new)] += 1
            changes.append(f"subject {_quoted(subj_old, 36)} -> {_quoted(subj_new, 36)}")
            kind.append(f"subject:{subj_new}")
        same_params = isinstance(r.params_old, str) and r.params_old == r.params_new
        p_old, p_new = ({}, {}) if same_params else (_loads(r.params_old) or {}, _loads(r.params_new) or {})
        if p_old != p_new:
            diff.params_changed += 1
            changes.append(f"params {json.dumps(p_old, sort_keys=True)} -> {json.dumps(p_new, sort_keys=True)}")
            kind.append("params")
        if r.reason_old != r.reason_new:
            diff.reason_changed += 1
            diff.reason_changes[(r.reason_old, r.reason_new)] += 1
        if changes:
            diff.changed += 1
            diff.changed_and_sent += s_old or s_new
            if r.reason_old != r.reason_new:
                changes.append(f"reason {r.reason_old} -> {r.reason_new}")
            kinds.setdefault(tuple(kind), []).append((str(r.customer_id), changes))
    ranked = sorted(kinds.values(), key=lambda v: (-len(v), v[0][0]))
    picked = [min(group) for group in ranked[:examples]]
    if len(picked) < examples:       # fewer kinds than examples wanted: fill up with more of the biggest kinds
        rest = sorted(c for group in ranked for c in group if c not in picked)
        picked += rest[: examples - len(picked)]
    diff.examples = picked
    return diff


@dataclass
class SegmentsDiff:
    """How segment memberships differ between two segment files on the same customers."""

    customers: int
    sizes: dict[str, tuple[int | None, int | None]]    # segment -> (members before, after); None: not defined
    joined: dict[str, int]
    left: dict[str, int]
    changed: int                                        # customers whose set of segments changes
    examples: list[tuple[str, list[str]]] = field(default_factory=list)   # (customer_id, ["+vip", "-lapsed"])


def compare_segments(old: pd.DataFrame, new: pd.DataFrame, customer_ids: Sequence[Any],
                     old_names: Sequence[str] | None = None, new_names: Sequence[str] | None = None,
                     examples: int = 5) -> SegmentsDiff:
    """Compare two ``customer_segments`` frames (long format: customer_id, segment) over ``customer_ids``.
    ``old_names``/``new_names``: the segments each file defines (so that empty segments are listed). Pure."""
    old_sets: dict[str, set[str]] = {}
    new_sets: dict[str, set[str]] = {}
    for frame, sets in ((old, old_sets), (new, new_sets)):
        for cid, seg in zip(frame["customer_id"].astype(str).tolist(), frame["segment"].astype(str).tolist()):
            sets.setdefault(cid, set()).add(seg)
    o_names = list(old_names) if old_names is not None else sorted(set(old["segment"].astype(str)))
    n_names = list(new_names) if new_names is not None else sorted(set(new["segment"].astype(str)))
    names = list(dict.fromkeys([*n_names, *o_names]))
    old_count = Counter(s for v in old_sets.values() for s in v)
    new_count = Counter(s for v in new_sets.values() for s in v)
    joined: Counter = Counter()
    left: Counter = Counter()
    changed: list[tuple[str, list[str]]] = []
    for cid in sorted({str(c) for c in customer_ids}):
        a, b = old_sets.get(cid, set()), new_sets.get(cid, set())
        if a != b:
            for s in b - a:
                joined[s] += 1
            for s in a - b:
                left[s] += 1
            changed.append((cid, [f"+{s}" for s in names if s in b - a] + [f"-{s}" for s in names if s in a - b]))
    sizes = {s: (old_count.get(s, 0) if s in o_names else None, new_count.get(s, 0) if s in n_names else None)
             for s in names}
    kinds: dict[tuple[str, ...], list[tuple[str, list[str]]]] = {}
    for cid, what in changed:
        kinds.setdefault(tuple(what), []).append((cid, what))
    ranked = sorted(kinds.values(), key=lambda v: (-len(v), v[0][0]))
    picked = [group[0] for group in ranked[:examples]]
    if len(picked) < examples:
        picked += [c for c in changed if c not in picked][: examples - len(picked)]
    return SegmentsDiff(customers=len(set(map(str, customer_ids))), sizes=sizes, joined=dict(joined),
                        left=dict(left), changed=len(changed), examples=picked)


def _pct(n: int, total: int) -> str:
    return f"{100.0 * n / total:.1f}%" if total else "0%"


def format_decisions_diff(d: DecisionsDiff, top: int = 3) -> list[str]:
    if d.changed == 0:
        return [f"No change: all {d.customers:,} customers get the same decision (send, blocks, subject, params)."]
    lines = [f"{d.changed:,} of {d.customers:,} customers ({_pct(d.changed, d.customers)}) would get a different "
             f"decision; {d.changed_and_sent:,} of them are sent an email under the old or the new rules."]
    lines.append(f"  send     {d.send_changed:>8,}   (+{d.newly_sent:,} now sent, -{d.no_longer_sent:,} no longer sent)")
    lines.append(f"  blocks   {d.blocks_changed:>8,}")
    for slot, counter in d.slot_changes.items():
        for (a, b), n in counter.most_common(top):
            lines.append(f"             {slot}: {_short(a)} -> {_short(b)}  {n:,}")
    lines.append(f"  subject  {d.subject_changed:>8,}")
    for (a, b), n in d.subject_changes.most_common(top):
        lines.append(f"             {_quoted(a, 40)} -> {_quoted(b, 40)}  {n:,}")
    lines.append(f"  params   {d.params_changed:>8,}")
    lines.append(f"  reason   {d.reason_changed:>8,}")
    for (a, b), n in d.reason_changes.most_common(top):
        lines.append(f"             {a} -> {b}  {n:,}")
    if d.examples:
        lines.append("Examples (customer ids only):")
        for cid, changes in d.examples:
            lines.append(f"  {cid}  " + "; ".join(changes))
    if d.only_old or d.only_new:
        lines.append(f"({d.only_old:,} customers only in the old decisions, {d.only_new:,} only in the new)")
    return lines


def format_segments_diff(d: SegmentsDiff) -> list[str]:
    lines = []
    width = max([len(s) for s in d.sizes] + [7])
    lines.append(f"  {'segment':<{width}}  {'before':>8}  {'after':>8}  {'joined':>7}  {'left':>7}")
    for s, (a, b) in d.sizes.items():
        fa = "—" if a is None else f"{a:,}"
        fb = "—" if b is None else f"{b:,}"
        note = "  (new)" if a is None else ("  (removed)" if b is None else "")
        lines.append(f"  {s:<{width}}  {fa:>8}  {fb:>8}  {'+' + format(d.joined.get(s, 0), ','):>7}  "
                     f"{'-' + format(d.left.get(s, 0), ','):>7}{note}")
    lines.append(f"{d.changed:,} of {d.customers:,} customers ({_pct(d.changed, d.customers)}) change segments.")
    if d.examples:
        lines.append("Examples (customer ids only):")
        for cid, what in d.examples:
            lines.append(f"  {cid}  {' '.join(what)}")
    return lines


def rule_file_kind(path: str | Path) -> str:
    """``"segments"`` or ``"email_rules"``, from the file's top-level keys."""
    from tailor.conditions import RuleFileError, load_yaml

    data, _ = load_yaml(path)
    if isinstance(data, dict):
        if "segments" in data:
            return "segments"
        if {"rules", "campaign", "defaults"} & set(data):
            return "email_rules"
    raise RuleFileError(path, "neither a segments file (`segments:`) nor an email rules file (`campaign:`, "
                              "`defaults:`, `rules:`)", getattr(data, "line", 1))


def read_customers(warehouse: Any = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current customers (the customer table the rules read) and their segments, from the warehouse.

    ``warehouse``: anything with a ``session()`` like the pipeline's resources; by default the warehouse of the
    environment, opened read-only without Dagster (:func:`open_warehouse`)."""
    from tailor.customer_table import customer_table_sql

    with (warehouse.session() if warehouse is not None else open_warehouse()) as s:
        missing = [t for t in ("customer_profiles", "customer_features", "customer_segments") if not s.table_exists(t)]
        if missing:
            raise LookupError(f"the warehouse has no {', '.join(missing)} yet: run the pipeline once "
                              f"(`tailor demo` or materialize the assets)")
        customers = s.query(customer_table_sql())
        segments = s.query("SELECT customer_id, segment FROM customer_segments")
    return customers, segments


class _ReadSession:
    """What ``diff`` needs of a warehouse: ``query`` (Snowflake SQL) and ``table_exists``."""

    def __init__(self, query: Any, table_exists: Any):
        self.query, self.table_exists = query, table_exists


@contextmanager
def open_warehouse(retry_seconds: float = 30.0) -> Iterator[_ReadSession]:
    """The environment's warehouse (``$TAILOR_WAREHOUSE_PATH``, or Snowflake when ``$SNOWFLAKE_ACCOUNT`` is set),
    read-only, through the drivers themselves.

    The pipeline's resources (resources/warehouse.py) import Dagster and dagster-snowflake: ~14 s before the
    first query, for a command that marketers run before every change. The SQL is the same (Snowflake dialect,
    transpiled for DuckDB with sqlglot as the DuckDB resource does); DuckDB is opened read-only and retried while a
    pipeline run holds the file's write lock."""
    from tailor.config import setting, snowflake_enabled

    if snowflake_enabled():
        import snowflake.connector

        optional = {k: os.environ[v] for k, v in (("warehouse", "SNOWFLAKE_WAREHOUSE"), ("role", "SNOWFLAKE_ROLE"))
                    if os.environ.get(v)}
        conn = snowflake.connector.connect(
            account=os.environ["SNOWFLAKE_ACCOUNT"], user=os.environ["SNOWFLAKE_USER"],
            password=os.environ["SNOWFLAKE_PASSWORD"], database=os.environ["SNOWFLAKE_DATABASE"],
            schema=os.environ["SNOWFLAKE_SCHEMA"], **optional)

        def sf_query(sql: str) -> pd.DataFrame:
            cur = conn.cursor()
            try:
                cur.execute(sql)
                df = cur.fetch_pandas_all()
            finally:
                cur.close()
            df.columns = [str(c).lower() for c in df.columns]
            return df

        def sf_exists(name: str) -> bool:
            out = sf_query("SELECT COUNT(*) AS n FROM information_schema.tables WHERE LOWER(table_name) = "
                           f"'{_identifier(name)}' AND table_schema = CURRENT_SCHEMA()")
            return bool(out["n"].iloc[0])

        try:
            yield _ReadSession(sf_query, sf_exists)
        finally:
            conn.close()
        return

    import duckdb
    import sqlglot

    path = setting("TAILOR_WAREHOUSE_PATH")
    if not Path(path).exists():
        raise LookupError(f"no warehouse at {path} yet: run the pipeline once (`tailor demo` or materialize the "
                          f"assets), or set TAILOR_WAREHOUSE_PATH")
    deadline = time.monotonic() + retry_seconds
    while True:
        try:
            con = duckdb.connect(path, read_only=True)
            break
        except duckdb.IOException as exc:    # a pipeline run is writing: wait for it, as the resource does
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise LookupError(f"cannot open the warehouse {path}: {exc}") from exc
            time.sleep(0.5)

    def duck_query(sql: str) -> pd.DataFrame:
        return con.execute(";\n".join(sqlglot.transpile(sql, read="snowflake", write="duckdb"))).df()

    def duck_exists(name: str) -> bool:
        return bool(con.execute("SELECT 1 FROM information_schema.tables WHERE table_name = ? AND table_schema = "
                                "current_schema()", [_identifier(name)]).fetchall())

    try:
        yield _ReadSession(duck_query, duck_exists)
    finally:
        con.close()


def _identifier(name: str) -> str:
    if not re.match(r"^[a-z_][a-z0-9_]*$", name):
        raise ValueError(f"invalid table name {name!r}")
    return name


def diff_rule_files(old: str | Path, new: str | Path, *, rules_dir: str | Path, templates_dir: str | Path,
                    customers: pd.DataFrame, segments: pd.DataFrame, examples: int = 5,
                    decided_at: datetime | None = None) -> list[str]:
    """The report lines of ``tailor rules diff`` for two files of the same kind on the given customers.
    Raises RuleFileError when a file has mistakes."""
    from tailor.conditions import field_kinds
    from tailor.decisions import build_decision_input, decide, load_rule_file
    from tailor.segments import assign_segments, load_segment_definitions

    decided_at = decided_at or datetime.now(timezone.utc)
    kind = rule_file_kind(old)
    if rule_file_kind(new) != kind:
        raise ValueError(f"{old} and {new} are not the same kind of file (segments vs email rules)")
    blocks, _ = template_blocks(templates_dir)
    rules_dir = Path(rules_dir)
    lines: list[str] = []
    if kind == "email_rules":
        facts = build_decision_input(customers, segments=segments)
        fields = field_kinds(facts)
        current_segments = [d.name for d in load_segment_definitions(rules_dir / SEGMENTS_FILE, field_kinds(customers))]
        rs_old = load_rule_file(old, fields, blocks, known_segments=current_segments)
        rs_new = load_rule_file(new, fields, blocks, known_segments=current_segments)
        lines.append(f"Email decisions of {len(facts):,} current customers (segments as in the warehouse):")
        for tag, rs in (("old", rs_old), ("new", rs_new)):
            lines.append(f"  {tag}: {rs.path}  (campaign {rs.campaign_id!r}, {len(rs.ranked)} active rules, "
                         f"hash {rs.file_hash[:12]})")
        d = compare_decisions(decide(facts, rs_old, decided_at), decide(facts, rs_new, decided_at), examples)
        return lines + format_decisions_diff(d)

    kinds = field_kinds(customers)
    defs_old = load_segment_definitions(old, kinds)
    defs_new = load_segment_definitions(new, kinds)
    mem_old, mem_new = assign_segments(customers, defs_old), assign_segments(customers, defs_new)
    lines.append(f"Segments of {len(customers):,} current customers:")
    lines.append(f"  old: {old}  ({len(defs_old)} segments)")
    lines.append(f"  new: {new}  ({len(defs_new)} segments)")
    sd = compare_segments(mem_old, mem_new, customers["customer_id"].tolist(),
                          [d.name for d in defs_old], [d.name for d in defs_new], examples)
    lines += format_segments_diff(sd)
    # what it does to the emails, with the current email rules
    rules_path = rules_dir / EMAIL_RULES_FILE
    facts_old = build_decision_input(customers, segments=mem_old)
    facts_new = build_decision_input(customers, segments=mem_new)
    ruleset = load_rule_file(rules_path, field_kinds(facts_new), blocks)
    used = {s for r in ruleset.ranked for s in _segments_in(r.condition)}
    gone = sorted(used - {d.name for d in defs_new})
    lines.append(f"Effect on the email decisions of {rules_path}:")
    if gone:
        lines.append(f"  warning: {rules_path} uses segment(s) {', '.join(gone)} that {new} does not define — the "
                     f"pipeline would stop with an error until the rules are changed too")
    d = compare_decisions(decide(facts_old, ruleset, decided_at), decide(facts_new, ruleset, decided_at), examples)
    return lines + ["  " + x for x in format_decisions_diff(d)]


def cmd_diff(args: argparse.Namespace, out: TextIO | None = None, warehouse: Any = None) -> int:
    from tailor.conditions import RuleFileError

    out = out or sys.stdout
    started = time.perf_counter()
    rules_dir = Path(args.rules_dir or _default_dir("TAILOR_RULES_DIR"))
    templates_dir = Path(args.templates_dir or _default_dir("TAILOR_TEMPLATES_DIR"))
    try:
        kind = rule_file_kind(args.old)
        new = args.new or str(rules_dir / (SEGMENTS_FILE if kind == "segments" else EMAIL_RULES_FILE))
        customers, segments = read_customers(warehouse)    # without Dagster unless a warehouse is given
        lines = diff_rule_files(args.old, new, rules_dir=rules_dir, templates_dir=templates_dir,
                                customers=customers, segments=segments, examples=args.examples)
    except RuleFileError as exc:
        for line in _error_lines(exc):
            print(line, file=out)
        return 1
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=out)
        return 1
    for line in lines:
        print(line, file=out)
    print(f"(nothing was sent; {time.perf_counter() - started:.1f}s)", file=out)
    return 0


# ============================================================================================== argparse

def register(subparsers: Any) -> None:
    """Add ``rules check|test|diff`` to the ``tailor`` command line."""
    rules = subparsers.add_parser("rules", help="check, test and diff the marketing rule files (rules/*.yaml)",
                                  description="Check, test and compare rules/segments.yaml and rules/email_rules.yaml.")
    sub = rules.add_subparsers(dest="rules_command", required=True)

    def dirs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--rules-dir", help="folder with segments.yaml and email_rules.yaml (default: $TAILOR_RULES_DIR or rules)")
        p.add_argument("--templates-dir", help="email templates folder (default: $TAILOR_TEMPLATES_DIR or email_templates)")

    check = sub.add_parser("check", help="validate the rule files (fast: run it on every save)")
    dirs(check)
    check.set_defaults(func=cmd_check)

    test = sub.add_parser("test", help="run the example cases in rules/tests/*.yaml through the real decisions")
    dirs(test)
    test.add_argument("files", nargs="*", help="case files (default: every rules/tests/*.yaml)")
    test.add_argument("-k", help="only cases whose name contains this text")
    test.set_defaults(func=cmd_test)

    diff = sub.add_parser("diff", help="compare two rule files on the current customers in the warehouse")
    diff.add_argument("old", help="the old email rules or segments file (e.g. a copy from git)")
    diff.add_argument("new", nargs="?", help="the new file (default: the one of the same kind in --rules-dir)")
    dirs(diff)
    diff.add_argument("--examples", type=int, default=5, help="how many example customers to show (default 5)")
    diff.set_defaults(func=cmd_diff)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tailor")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["rules", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
