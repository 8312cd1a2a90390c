"""Reading ``rules/email_rules.yaml``: the marketer's file, validated into an email rule set.

The file (format in docs/rules.md) has a ``campaign`` (id, name), ``defaults`` (subject, one block per slot,
params, send) and ``rules`` — each with a name, priority (higher wins), ``when`` (a condition,
:mod:`tailor.rules.parser`), ``then`` (what it sets, :mod:`tailor.rules.outcome_parser`) and optionally an
``experiment``: weighted variants applied on top of ``then``, and a holdout share
(:class:`tailor.rules.ruleset.Experiment`). The result is a :class:`tailor.rules.ruleset.EmailRuleSet`.

The whole file is checked before anything is reported, so every mistake comes at once, each with its line
(:func:`check_rule_file` returns them, :func:`load_rule_file` raises them). Nothing is compiled here — the rule
set compiles itself to durable_rules when it first decides — so ``tailor rules check`` reads the file without
durable_rules or pandas.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tailor.content.vocabulary import SLOTS
from tailor.rules.durable import RESERVED_FIELDS
from tailor.rules.limits import MAX_RULES
from tailor.rules.outcome_parser import OutcomeParser
from tailor.rules.parser import ConditionParser
from tailor.rules.problems import Problems, did_you_mean
from tailor.rules.ruleset import (
    CAMPAIGN_ID_RE,
    HOLDOUT,
    RULE_NAME_RE,
    EmailRule,
    EmailRuleSet,
    Experiment,
    Outcome,
    Variant,
)
from tailor.rules.segments import SegmentDefinition, load_segment_definitions
from tailor.rules.yaml_lines import LineDict, check_named_item, describe_value, line_of, load_yaml

# The keys each part of the file may have.
_TOP_KEYS = ("campaign", "defaults", "rules")
_CAMPAIGN_KEYS = ("id", "name", "description")
_RULE_KEYS = ("name", "description", "priority", "when", "then", "enabled", "experiment")
_EXPERIMENT_KEYS = ("name", "description", "holdout", "variants")
_VARIANT_KEYS = ("name", "weight")   # plus the slots and settings of `then:`


def load_rule_file(path: str | Path, known_fields: Mapping[str, str], known_blocks: Mapping[str, Collection[str]],
                   *, known_segments: Collection[str] | None = None) -> EmailRuleSet:
    """Read and validate ``email_rules.yaml``. Raises :class:`tailor.rules.problems.RuleFileError` listing every
    problem.

    ``known_fields``: field catalog (see :func:`tailor.rules.fields.field_kinds`); ``known_blocks``: slot ->
    block names (the template library's); ``known_segments``: if given, ``in_segment`` names are checked.
    """
    ruleset, problems = check_rule_file(path, known_fields, known_blocks, known_segments=known_segments)
    problems.raise_if_any()
    assert ruleset is not None
    return ruleset


def load_email_ruleset(rules_file: str | Path, segments_file: str | Path, known_fields: Mapping[str, str],
                       known_blocks: Mapping[str, Collection[str]]) -> tuple[EmailRuleSet, list[SegmentDefinition]]:
    """The email rule set as the decisions use it, and the segment definitions it was checked against.

    The segments file is read against ``known_fields`` (its conditions cannot use ``segments`` itself), then the
    rules file against ``known_fields``, ``known_blocks`` (slot -> block names, see
    :func:`tailor.content.vocabulary.template_blocks`) and the names of those segments. Raises
    :class:`tailor.rules.problems.RuleFileError` for the first of the two files that has mistakes.
    """
    definitions = load_segment_definitions(segments_file, known_fields)
    ruleset = load_rule_file(rules_file, known_fields, known_blocks, known_segments=[d.name for d in definitions])
    return ruleset, definitions


def check_rule_file(path: str | Path, known_fields: Mapping[str, str], known_blocks: Mapping[str, Collection[str]],
                    *, known_segments: Collection[str] | None = None) -> tuple[EmailRuleSet | None, Problems]:
    """Like :func:`load_rule_file` but returns the problems instead of raising: (rule set or None, problems).
    A YAML syntax error still raises :class:`tailor.rules.problems.RuleFileError`."""
    problems = Problems(path)
    data, raw = load_yaml(path, problems)
    ruleset = _parse_rule_file(data, raw, str(path), known_fields, known_blocks, known_segments, problems)
    return (None if problems else ruleset), problems


def _parse_rule_file(data: Any, raw: bytes, path: str, known_fields: Mapping[str, str],
                     known_blocks: Mapping[str, Collection[str]], known_segments: Collection[str] | None,
                     problems: Problems) -> EmailRuleSet | None:
    slots = tuple([s for s in SLOTS if s in known_blocks] + [s for s in known_blocks if s not in SLOTS])
    if not isinstance(data, dict):
        problems.add(getattr(data, "line", 1), "the file must be a mapping with campaign:, defaults: and rules:")
        return None
    for key in data:
        if key not in _TOP_KEYS:
            problems.add(line_of(data, key), f"unknown key {key!r}{did_you_mean(key, _TOP_KEYS)} "
                                             f"(top-level keys: {', '.join(_TOP_KEYS)})")
    for key in _TOP_KEYS:
        if key not in data:
            problems.add(data.line, f"missing required key `{key}:`")
    campaign_id, campaign_name = _parse_campaign(data, problems)
    outcomes = OutcomeParser(slots, {s: set(known_blocks[s]) for s in slots}, problems)
    defaults = _parse_defaults(data, outcomes, problems)
    conditions = ConditionParser(known_fields, problems, known_segments=known_segments,
                                 reserved_fields=RESERVED_FIELDS)
    rules = _RuleParser(conditions, outcomes, problems).rules(_rule_items(data, problems))
    if problems:
        return None
    return EmailRuleSet(path=path, campaign_id=campaign_id, campaign_name=campaign_name,
                        file_hash=hashlib.sha256(raw).hexdigest(), defaults=defaults, rules=rules, slots=slots)


def _parse_campaign(data: Mapping[str, Any], problems: Problems) -> tuple[str, str]:
    """``campaign: {id, name, description}`` -> (id, name); empty texts where missing or invalid."""
    campaign_id, campaign_name = "", ""
    if "campaign" not in data:
        return campaign_id, campaign_name
    camp = data["campaign"]
    cline = line_of(data, "campaign")
    if not isinstance(camp, dict):
        problems.add(cline, "`campaign:` must be a mapping with id and name")
        return campaign_id, campaign_name
    for key in camp:
        if key not in _CAMPAIGN_KEYS:
            problems.add(line_of(camp, key), f"unknown key {key!r}{did_you_mean(key, _CAMPAIGN_KEYS)} in "
                                             f"campaign (keys: {', '.join(_CAMPAIGN_KEYS)})")
    cid = camp.get("id")
    if "id" not in camp:
        problems.add(cline, "campaign: missing required key `id`")
    elif not isinstance(cid, str) or not CAMPAIGN_ID_RE.match(cid):
        problems.add(line_of(camp, "id"), f"campaign id {describe_value(cid)} is not valid: use letters, digits, "
                                          f"_ - and . (e.g. spring_2025)")
    else:
        campaign_id = cid
    name = camp.get("name", cid)
    if name is not None and not isinstance(name, str):
        problems.add(line_of(camp, "name"), f"campaign name must be text, got {describe_value(name)}")
    else:
        campaign_name = name or campaign_id
    desc = camp.get("description")
    if desc is not None and not isinstance(desc, str):
        problems.add(line_of(camp, "description"), "campaign description must be text")
    return campaign_id, campaign_name


def _parse_defaults(data: Mapping[str, Any], outcomes: OutcomeParser, problems: Problems) -> Outcome:
    if "defaults" not in data:
        return Outcome()
    raw, line = data["defaults"], line_of(data, "defaults")
    if not isinstance(raw, dict):
        problems.add(line, "`defaults:` must be a mapping (subject, one block per slot, params, send)")
        return Outcome()
    return outcomes.parse(raw, line, "defaults", is_defaults=True) or Outcome()


def _rule_items(data: Mapping[str, Any], problems: Problems) -> list[Any]:
    """The entries of ``rules:`` (an empty ``rules:`` is no rules)."""
    items = data.get("rules")
    if items is None:
        return []
    if not isinstance(items, list):
        problems.add(line_of(data, "rules"), "`rules:` must be a list; start each rule with `- name: ...`")
        return []
    if len(items) > MAX_RULES:
        problems.add(line_of(items, MAX_RULES), f"the file has {len(items):,} rules; an email rule file may have at "
                                                f"most {MAX_RULES:,} (those past it were not checked)")
        return items[:MAX_RULES]
    return items


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


class _RuleParser:
    """Reads the entries of ``rules:`` and their experiments, adding every problem to ``problems``."""

    def __init__(self, conditions: ConditionParser, outcomes: OutcomeParser, problems: Problems):
        self.conditions = conditions
        self.outcomes = outcomes
        self.problems = problems
        self.rule_lines: dict[str, int | None] = {}          # rule name -> line, for duplicates
        self.experiment_lines: dict[str, int | None] = {}    # experiment name -> line, for duplicates

    def rules(self, items: list[Any]) -> list[EmailRule]:
        """The valid rules, in the order written."""
        return [rule for i in range(len(items)) if (rule := self.rule(items, i)) is not None]

    def rule(self, items: list[Any], index: int) -> EmailRule | None:
        """``items[index]``: name, description, priority, enabled, when, then, experiment."""
        checked = check_named_item(
            items, index, self.problems, self.rule_lines, kind="rule", keys=_RULE_KEYS, name_re=RULE_NAME_RE,
            name_hint="letters, digits, _ and - (e.g. vip_welcome)", required_keys_text="name, priority, when and then",
        )
        if checked is None:
            return None
        name, label, ok = checked
        item, line, problems = items[index], line_of(items, index), self.problems
        description = item.get("description") or ""
        if not isinstance(description, str):
            problems.add(line_of(item, "description"), f"{label}: description must be text")
            ok = False
        priority = item.get("priority")
        if "priority" not in item:
            problems.add(line, f"{label}: missing required key `priority` (a whole number; higher wins)")
            ok = False
        elif isinstance(priority, bool) or not isinstance(priority, int):
            problems.add(line_of(item, "priority"), f"{label}: priority must be a whole number such as 50, "
                                                    f"got {describe_value(priority)}")
            ok = False
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.add(line_of(item, "enabled"), f"{label}: enabled must be true or false, got "
                                                   f"{describe_value(enabled)}")
            ok = False
        cond = None
        if "when" not in item:
            problems.add(line, f"{label}: missing required key `when` (the condition for this rule)")
            ok = False
        else:
            cond = self.conditions.parse(item["when"], line_of(item, "when"))
            cond = self.conditions.within_limits(cond, line_of(item, "when"), label)
            ok = ok and cond is not None
        experiment = None
        if "experiment" in item:
            experiment = self.experiment(item["experiment"], line_of(item, "experiment"), label)
            ok = ok and experiment is not None
        then = self._then(item, line, label)
        if not ok or cond is None or then is None:
            return None
        return EmailRule(name=name, description=description.strip(), priority=priority, condition=cond, then=then,
                         line=line, enabled=enabled, experiment=experiment)

    def _then(self, item: Mapping[str, Any], line: int | None, label: str) -> Outcome | None:
        if "then" not in item:
            if "experiment" in item:      # the variants may carry all the changes
                return Outcome()
            self.problems.add(line, f"{label}: missing required key `then` (what this rule changes)")
            return None
        raw = item["then"]
        if not isinstance(raw, dict) or not raw:
            self.problems.add(line_of(item, "then"), f"{label}: `then:` must be a mapping saying what the rule "
                                                     f"changes (blocks per slot, subject, params, send)")
            return None
        return self.outcomes.parse(raw, line_of(item, "then"), label, is_defaults=False)

    def experiment(self, raw: Any, line: int | None, label: str) -> Experiment | None:
        """``experiment: {name, description, holdout, variants: [{name, weight, <slots/settings>}]}``."""
        before = len(self.problems.items)
        if not isinstance(raw, dict):
            self.problems.add(line, f"{label}: `experiment:` must be a mapping with name, holdout and variants, "
                                    f"got {describe_value(raw)}")
            return None
        for key in raw:
            if key not in _EXPERIMENT_KEYS:
                self.problems.add(line_of(raw, key, line), f"{label}: unknown key {key!r} in the experiment"
                                                           f"{did_you_mean(key, _EXPERIMENT_KEYS)} (keys: "
                                                           f"{', '.join(_EXPERIMENT_KEYS)})")
        name = self._experiment_name(raw, line, label)
        exp_label = f"{label}, experiment {name!r}" if isinstance(name, str) else f"{label}, experiment"
        holdout = self._holdout(raw, line, exp_label)
        variants = self._variants(raw, line, exp_label)
        if len(self.problems.items) > before:
            return None
        desc = raw.get("description") or ""
        return Experiment(name=name, holdout=holdout, variants=tuple(variants), line=line,
                          description=desc if isinstance(desc, str) else "")

    def _experiment_name(self, raw: Mapping[str, Any], line: int | None, label: str) -> Any:
        """The experiment's name as written (checked: present, valid, not used by another experiment)."""
        name = raw.get("name")
        name_line = line_of(raw, "name", line)
        if "name" not in raw:
            self.problems.add(line, f"{label}: the experiment needs a `name` (recorded with every decision, e.g. "
                                    f"vip_subject_test)")
        elif not isinstance(name, str) or not RULE_NAME_RE.match(name):
            self.problems.add(name_line, f"{label}: experiment name {describe_value(name)} is not valid: use "
                                         f"letters, digits, _ and - (e.g. vip_subject_test)")
        elif name in self.experiment_lines:
            self.problems.add(name_line, f"{label}: duplicate experiment name {name!r} (first defined on line "
                                         f"{self.experiment_lines[name]}); each experiment needs its own name")
        else:
            self.experiment_lines[name] = name_line
        return name

    def _holdout(self, raw: Mapping[str, Any], line: int | None, exp_label: str) -> float:
        """The share held out, 0 <= share < 1 (0 when not given)."""
        holdout = raw.get("holdout", 0)
        if holdout is None:
            holdout = 0
        if _is_number(holdout) and 0 <= holdout < 1:
            return float(holdout)
        tip = ""
        if isinstance(holdout, str) and holdout.strip().endswith("%"):
            tip = "; write a share such as 0.1 for 10%"
        elif _is_number(holdout) and 1 <= holdout < 100:
            tip = f"; write a share, e.g. {holdout / 100:g} for {holdout:g}%"
        self.problems.add(line_of(raw, "holdout", line), f"{exp_label}: holdout must be a number from 0 up to (not "
                                                         f"including) 1, got {describe_value(holdout)}{tip}")
        return 0.0

    def _variants(self, raw: Mapping[str, Any], line: int | None, exp_label: str) -> list[Variant]:
        """The valid variants of ``variants:`` (at least one is required)."""
        items = raw.get("variants")
        vline = line_of(raw, "variants", line)
        if "variants" not in raw:
            self.problems.add(line, f"{exp_label}: missing required key `variants` (a list with at least one "
                                    f"variant, e.g. `- {{name: a, weight: 1, subject: ...}}`)")
            return []
        if not isinstance(items, list) or not items:
            got = "an empty list" if isinstance(items, list) else describe_value(items)
            self.problems.add(vline, f"{exp_label}: `variants:` must be a list with at least one variant "
                                     f"(`- name: a`), got {got}")
            return []
        name_lines: dict[str, int | None] = {}
        variants = [self._variant(items[i], line_of(items, i, vline), i, name_lines, exp_label)
                    for i in range(len(items))]
        return [v for v in variants if v is not None]

    def _variant(self, raw: Any, line: int | None, index: int, name_lines: dict[str, int | None],
                 exp_label: str) -> Variant | None:
        """One variant: a name, a weight and what it sets on top of the rule's ``then``."""
        if not isinstance(raw, dict):
            self.problems.add(line, f"{exp_label}: each variant must be a mapping with a name, a weight and what it "
                                    f"changes, got {describe_value(raw)}")
            return None
        name = raw.get("name")
        label = f"{exp_label}, variant {name!r}" if isinstance(name, str) else f"{exp_label}, variant #{index + 1}"
        ok = self._variant_name_ok(raw, line, label, name_lines, exp_label)
        weight = raw.get("weight", 1)
        if not _is_number(weight) or weight <= 0:
            self.problems.add(line_of(raw, "weight", line), f"{label}: weight must be a number above 0 (the "
                                                            f"variant's share is its weight / the sum of weights), "
                                                            f"got {describe_value(weight)}")
            ok = False
        settings = LineDict({k: v for k, v in raw.items() if k not in _VARIANT_KEYS})
        settings.line = getattr(raw, "line", line)
        settings.key_lines = {k: line_of(raw, k, line) for k in settings}
        outcome = self.outcomes.parse(settings, line, label, is_defaults=False)
        if not ok or outcome is None:
            return None
        return Variant(name=name, weight=float(weight), outcome=outcome, line=line)

    def _variant_name_ok(self, raw: Mapping[str, Any], line: int | None, label: str,
                         name_lines: dict[str, int | None], exp_label: str) -> bool:
        name = raw.get("name")
        name_line = line_of(raw, "name", line)
        if "name" not in raw:
            self.problems.add(line, f"{label}: missing required key `name`")
        elif not isinstance(name, str) or not RULE_NAME_RE.match(name):
            self.problems.add(name_line, f"{exp_label}: variant name {describe_value(name)} is not valid: use "
                                         f"letters, digits, _ and - (e.g. a, short_subject)")
        elif name == HOLDOUT:
            self.problems.add(name_line, f"{exp_label}: {HOLDOUT!r} cannot be a variant name: it is what the "
                                         f"held-out customers are recorded as (set the share with `holdout:`)")
        elif name in name_lines:
            self.problems.add(name_line, f"{exp_label}: duplicate variant name {name!r} (first defined on line "
                                         f"{name_lines[name]})")
        else:
            name_lines[name] = name_line
            return True
        return False
