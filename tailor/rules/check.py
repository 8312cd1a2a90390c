"""``tailor rules check``: both rule files checked together, every problem as ``file:line: what is wrong``.

Segments and email rules are read against the field catalog (the customer table's schemas), the template
library's blocks (read from the block files' headers, without compiling MJML) and each other (the segment names
the rules use); then rules that can never change an email are looked for (:mod:`tailor.rules.reachability`).
Meant to run on every save, so it needs no data and imports neither pandas nor pandera; the rule file readers
are imported when checking, not with this module, which every ``tailor`` command loads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tailor.content.vocabulary import template_blocks
from tailor.rules.condition import condition_segments
from tailor.rules.limits import PLAN_STACK
from tailor.rules.problems import RuleFileError, error_lines, format_problem, problem_lines

if TYPE_CHECKING:  # pragma: no cover
    from tailor.rules.ruleset import EmailRuleSet
    from tailor.rules.segments import SegmentDefinition


# The rule files of a rules folder, and its folder of example cases (tailor rules test).
SEGMENTS_FILE = "segments.yaml"
EMAIL_RULES_FILE = "email_rules.yaml"
TESTS_DIR = "tests"


@dataclass
class CheckReport:
    """What ``tailor rules check`` prints: the problem lines, a summary line and notes (not problems)."""

    problems: list[str]
    summary: str
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_rules(rules_dir: str | Path, templates_dir: str | Path) -> CheckReport:
    """Check ``segments.yaml`` and ``email_rules.yaml`` of ``rules_dir`` (every problem of both files)."""
    from tailor.rules.email_rules import check_rule_file
    from tailor.rules.fields import spec_field_kinds
    from tailor.rules.reachability import search_unreachable
    from tailor.rules.segments import check_segment_file

    rules_dir = Path(rules_dir)
    problems: list[str] = []
    notes: list[str] = []
    try:
        fields = spec_field_kinds()
    except RuntimeError as exc:    # SchemaReadError: a developer's schema change the catalog cannot read
        return CheckReport(problems=[f"{exc} (the list of fields rules may use is read from it)"],
                           summary="the field catalog could not be read; no rule file was checked")
    blocks, block_problems = template_blocks(templates_dir)
    problems += [format_problem(path, line, message) for path, line, message in block_problems]
    n_blocks = sum(len(b) for b in blocks.values())
    if not n_blocks:   # one problem, not one per slot of every rule
        problems.append(format_problem(templates_dir, None, "no block files found: the block names of the rule "
                                                            "file were not checked"))
        blocks = {slot: _AnyBlock() for slot in blocks}

    seg_path, rules_path = rules_dir / SEGMENTS_FILE, rules_dir / EMAIL_RULES_FILE
    segment_names: list[str] | None = None
    definitions: list[SegmentDefinition] = []
    try:
        definitions, segment_names, seg_problems = check_segment_file(seg_path, fields)
        problems += problem_lines(seg_problems)
    except RuleFileError as exc:
        problems += error_lines(exc)

    ruleset = None
    try:
        ruleset, rule_problems = check_rule_file(rules_path, fields, blocks, known_segments=segment_names)
        problems += problem_lines(rule_problems)
    except RuleFileError as exc:
        problems += error_lines(exc)

    if ruleset is not None:
        reach = search_unreachable(ruleset, {d.name: d.condition for d in definitions})
        for u in reach.found:
            problems.append(format_problem(rules_path, u.line, u.message))
        if not reach.complete:
            assert reach.unchecked is not None
            notes.append(f"{rules_path}:{reach.unchecked.line}: the search for rules that can never change an email "
                         f"stopped after {reach.steps:,} steps (the limit): rule {reach.unchecked.name!r} and the "
                         f"rules ranked below it were not looked at")
        notes += engine_notes(rules_path, ruleset)
        used = {s for r in ruleset.ranked for s in condition_segments(r.condition)}
        unused = [n for n in segment_names or [] if n not in used]
        if unused:
            notes.append(f"segments no active email rule uses: {', '.join(unused)}")
        disabled = [r.name for r in ruleset.rules if not r.enabled]
        if disabled:
            notes.append(f"switched off (enabled: false): {', '.join(disabled)}")

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


def engine_notes(rules_path: Path, ruleset: EmailRuleSet) -> list[str]:
    """How durable_rules will decide the rules, when that is not one rule set (:mod:`tailor.rules.engine_plan`):
    not a problem, the decisions are the same; said so that nobody is surprised by a slower run."""
    from tailor.rules.engine_plan import plan_engine

    plan = plan_engine(ruleset.ranked)
    lines = {r.name: r.line for r in ruleset.ranked}
    notes = [f"{rules_path}:{lines[r.name]}: rule {r.name!r} is evaluated in Python, not by durable_rules: "
             f"{r.in_python}" for r in plan.in_python]
    if len(plan.groups) > 1:
        notes.append(f"the {len(ruleset.ranked)} active rules are decided in {len(plan.groups)} durable_rules rule "
                     f"sets (durable_rules walks at most {PLAN_STACK - 1} tests that hold at once in one); each "
                     f"customer is posted to each, which takes longer")
    return notes


class _AnyBlock(set):
    """Accepts every block name (no block files to check them against)."""

    def __contains__(self, item: object) -> bool:
        return True

