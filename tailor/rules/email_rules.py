"""TODO docstring (split from tailor/decisions.py)."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from tailor.content.subject import subject_problem
from tailor.content.vocabulary import KNOWN_PARAMS, SLOTS, SUBJECT_VARIABLES
from tailor.rules.engine import RESERVED_FIELDS
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
from tailor.rules.yaml_lines import LineDict, check_named_item, describe_value, line_of, load_yaml

_TOP_KEYS = ("campaign", "defaults", "rules")


_CAMPAIGN_KEYS = ("id", "name", "description")


_RULE_KEYS = ("name", "description", "priority", "when", "then", "enabled", "experiment")


_EXPERIMENT_KEYS = ("name", "description", "holdout", "variants")


_VARIANT_KEYS = ("name", "weight")   # plus the slots and settings of `then:`


_SETTINGS = ("subject", "params", "send")




def load_rule_file(path: str | Path, known_fields: Mapping[str, str], known_blocks: Mapping[str, Collection[str]],
                   *, known_segments: Collection[str] | None = None) -> EmailRuleSet:
    """Read and validate ``email_rules.yaml``. Raises :class:`RuleFileError` listing every problem.

    ``known_fields``: field catalog (see :func:`tailor.conditions.field_kinds`); ``known_blocks``: slot ->
    block names (the template library's); ``known_segments``: if given, ``in_segment`` names are checked.
    """
    problems = Problems(path)
    data, raw = load_yaml(path, problems)
    ruleset = _parse_rule_file(data, raw, str(path), known_fields, known_blocks, known_segments, problems)
    problems.raise_if_any()
    assert ruleset is not None
    return ruleset


def _parse_rule_file(data: Any, raw: bytes, path: str, known_fields: Mapping[str, str],
                     known_blocks: Mapping[str, Collection[str]], known_segments: Collection[str] | None,
                     problems: Problems) -> EmailRuleSet | None:
    slots = tuple([s for s in SLOTS if s in known_blocks] + [s for s in known_blocks if s not in SLOTS])
    blocks = {s: set(known_blocks[s]) for s in slots}
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

    campaign_id, campaign_name = "", ""
    camp = data.get("campaign")
    if "campaign" in data:
        cline = line_of(data, "campaign")
        if not isinstance(camp, dict):
            problems.add(cline, "`campaign:` must be a mapping with id and name")
        else:
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

    outcome_parser = _OutcomeParser(slots, blocks, problems)
    defaults = Outcome()
    if "defaults" in data:
        d = data["defaults"]
        dline = line_of(data, "defaults")
        if not isinstance(d, dict):
            problems.add(dline, "`defaults:` must be a mapping (subject, one block per slot, params, send)")
        else:
            defaults = outcome_parser.parse(d, dline, "defaults", is_defaults=True) or Outcome()

    fields = dict(known_fields)
    parser = ConditionParser(fields, problems, known_segments=known_segments, reserved_fields=RESERVED_FIELDS)
    rules: list[EmailRule] = []
    items = data.get("rules")
    if "rules" in data:
        rline = line_of(data, "rules")
        if items is None:
            items = []
        if not isinstance(items, list):
            problems.add(rline, "`rules:` must be a list; start each rule with `- name: ...`")
            items = []
    else:
        items = []
    seen: dict[str, int | None] = {}
    seen_experiments: dict[str, int | None] = {}
    for i, item in enumerate(items):
        iline = line_of(items, i)
        checked = check_named_item(
            items, i, problems, seen, kind="rule", keys=_RULE_KEYS, name_re=RULE_NAME_RE,
            name_hint="letters, digits, _ and - (e.g. vip_welcome)", required_keys_text="name, priority, when and then",
        )
        if checked is None:
            continue
        name, label, ok = checked
        description = item.get("description") or ""
        if not isinstance(description, str):
            problems.add(line_of(item, "description"), f"{label}: description must be text")
            ok = False
        priority = item.get("priority")
        if "priority" not in item:
            problems.add(iline, f"{label}: missing required key `priority` (a whole number; higher wins)")
            ok = False
        elif isinstance(priority, bool) or not isinstance(priority, int):
            problems.add(line_of(item, "priority"), f"{label}: priority must be a whole number such as 50, "
                                                    f"got {describe_value(priority)}")
            ok = False
        enabled = item.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.add(line_of(item, "enabled"), f"{label}: enabled must be true or false, got {describe_value(enabled)}")
            ok = False
        cond = None
        if "when" not in item:
            problems.add(iline, f"{label}: missing required key `when` (the condition for this rule)")
            ok = False
        else:
            cond = parser.parse(item["when"], line_of(item, "when"))
        experiment = None
        if "experiment" in item:
            experiment = _parse_experiment(item["experiment"], line_of(item, "experiment"), label, outcome_parser,
                                           problems, seen_experiments)
            if experiment is None:
                ok = False
        then = None
        if "then" not in item:
            if "experiment" in item:      # the variants may carry all the changes
                then = Outcome()
            else:
                problems.add(iline, f"{label}: missing required key `then` (what this rule changes)")
                ok = False
        elif not isinstance(item["then"], dict) or not item["then"]:
            problems.add(line_of(item, "then"), f"{label}: `then:` must be a mapping saying what the rule changes "
                                                f"(blocks per slot, subject, params, send)")
            ok = False
        else:
            then = outcome_parser.parse(item["then"], line_of(item, "then"), label, is_defaults=False)
        if ok and cond is not None and then is not None:
            rules.append(EmailRule(name=name, description=description.strip(), priority=priority, condition=cond,
                                   then=then, line=iline, enabled=enabled, experiment=experiment))
    if problems:
        return None
    return EmailRuleSet(path=path, campaign_id=campaign_id, campaign_name=campaign_name,
                        file_hash=hashlib.sha256(raw).hexdigest(), defaults=defaults, rules=rules, slots=slots)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _parse_experiment(raw: Any, line: int | None, label: str, outcome_parser: _OutcomeParser, problems: Problems,
                      seen: dict[str, int | None]) -> Experiment | None:
    """``experiment: {name, holdout, variants: [{name, weight, <slots/settings>}]}`` of a rule."""
    before = len(problems.items)
    if not isinstance(raw, dict):
        problems.add(line, f"{label}: `experiment:` must be a mapping with name, holdout and variants, "
                           f"got {describe_value(raw)}")
        return None
    for key in raw:
        if key not in _EXPERIMENT_KEYS:
            problems.add(line_of(raw, key, line), f"{label}: unknown key {key!r} in the experiment"
                                                  f"{did_you_mean(key, _EXPERIMENT_KEYS)} (keys: "
                                                  f"{', '.join(_EXPERIMENT_KEYS)})")
    name = raw.get("name")
    if "name" not in raw:
        problems.add(line, f"{label}: the experiment needs a `name` (recorded with every decision, e.g. vip_subject_test)")
    elif not isinstance(name, str) or not RULE_NAME_RE.match(name):
        problems.add(line_of(raw, "name", line), f"{label}: experiment name {describe_value(name)} is not valid: "
                                                 f"use letters, digits, _ and - (e.g. vip_subject_test)")
    elif name in seen:
        problems.add(line_of(raw, "name", line), f"{label}: duplicate experiment name {name!r} (first defined on "
                                                 f"line {seen[name]}); each experiment needs its own name")
    else:
        seen[name] = line_of(raw, "name", line)
    exp_label = f"{label}, experiment {name!r}" if isinstance(name, str) else f"{label}, experiment"
    holdout = raw.get("holdout", 0)
    if holdout is None:
        holdout = 0
    if not _is_number(holdout) or not (0 <= holdout < 1):
        tip = ""
        if isinstance(holdout, str) and holdout.strip().endswith("%"):
            tip = "; write a share such as 0.1 for 10%"
        elif _is_number(holdout) and 1 <= holdout < 100:
            tip = f"; write a share, e.g. {holdout / 100:g} for {holdout:g}%"
        problems.add(line_of(raw, "holdout", line), f"{exp_label}: holdout must be a number from 0 up to (not "
                                                    f"including) 1, got {describe_value(holdout)}{tip}")
    variants: list[Variant] = []
    raw_variants = raw.get("variants")
    vline = line_of(raw, "variants", line)
    if "variants" not in raw:
        problems.add(line, f"{exp_label}: missing required key `variants` (a list with at least one variant, "
                           f"e.g. `- {{name: a, weight: 1, subject: ...}}`)")
    elif not isinstance(raw_variants, list) or not raw_variants:
        got = "an empty list" if isinstance(raw_variants, list) else describe_value(raw_variants)
        problems.add(vline, f"{exp_label}: `variants:` must be a list with at least one variant "
                            f"(`- name: a`), got {got}")
    else:
        names: dict[str, int | None] = {}
        for i, v in enumerate(raw_variants):
            iline = line_of(raw_variants, i, vline)
            if not isinstance(v, dict):
                problems.add(iline, f"{exp_label}: each variant must be a mapping with a name, a weight and what it "
                                    f"changes, got {describe_value(v)}")
                continue
            vname = v.get("name")
            v_label = f"{exp_label}, variant {vname!r}" if isinstance(vname, str) else f"{exp_label}, variant #{i + 1}"
            ok = True
            if "name" not in v:
                problems.add(iline, f"{v_label}: missing required key `name`")
                ok = False
            elif not isinstance(vname, str) or not RULE_NAME_RE.match(vname):
                problems.add(line_of(v, "name", iline), f"{exp_label}: variant name {describe_value(vname)} is not "
                                                        f"valid: use letters, digits, _ and - (e.g. a, short_subject)")
                ok = False
            elif vname == HOLDOUT:
                problems.add(line_of(v, "name", iline), f"{exp_label}: {HOLDOUT!r} cannot be a variant name: it is "
                                                        f"what the held-out customers are recorded as (set the share "
                                                        f"with `holdout:`)")
                ok = False
            elif vname in names:
                problems.add(line_of(v, "name", iline), f"{exp_label}: duplicate variant name {vname!r} (first "
                                                        f"defined on line {names[vname]})")
                ok = False
            else:
                names[vname] = line_of(v, "name", iline)
            weight = v.get("weight", 1)
            if not _is_number(weight) or weight <= 0:
                problems.add(line_of(v, "weight", iline), f"{v_label}: weight must be a number above 0 (the variant's "
                                                          f"share is its weight / the sum of weights), got "
                                                          f"{describe_value(weight)}")
                ok = False
            settings = LineDict({k: val for k, val in v.items() if k not in _VARIANT_KEYS})
            settings.line = getattr(v, "line", iline)
            settings.key_lines = {k: line_of(v, k, iline) for k in settings}
            outcome = outcome_parser.parse(settings, iline, v_label, is_defaults=False)
            if ok and outcome is not None:
                variants.append(Variant(name=vname, weight=float(weight), outcome=outcome, line=iline))
    if len(problems.items) > before:
        return None
    desc = raw.get("description") or ""
    return Experiment(name=name, holdout=float(holdout), variants=tuple(variants), line=line,
                      description=desc if isinstance(desc, str) else "")


class _OutcomeParser:
    def __init__(self, slots: tuple[str, ...], blocks: Mapping[str, set[str]], problems: Problems):
        self.slots = slots
        self.blocks = blocks
        self.problems = problems
        self.slot_of = {b: s for s, names in blocks.items() for b in names}

    def parse(self, raw: Mapping[str, Any], line: int | None, label: str, *, is_defaults: bool) -> Outcome | None:
        p = self.problems
        before = len(p.items)
        subject: str | None = None
        blocks: dict[str, str | None] = {}
        params: dict[str, Any] = {}
        send: bool | None = None
        for key, value in raw.items():
            kline = line_of(raw, key, line)
            if key in self.slots:
                if value is None:
                    blocks[key] = None
                elif not isinstance(value, str):
                    p.add(kline, f"{label}: slot {key!r} takes one block name (or null to leave it empty), "
                                 f"got {describe_value(value)}")
                elif value in self.blocks[key]:
                    blocks[key] = value
                elif value in self.slot_of:
                    p.add(kline, f"{label}: block {value!r} belongs in slot {self.slot_of[value]!r}, not {key!r}")
                else:
                    p.add(kline, f"{label}: unknown block {value!r} for slot {key!r}"
                                 f"{did_you_mean(value, self.blocks[key])} "
                                 f"(blocks for {key}: {', '.join(sorted(self.blocks[key])) or 'none'})")
            elif key == "subject":
                subject = self._subject(value, kline, label)
            elif key == "send":
                if not isinstance(value, bool):
                    p.add(kline, f"{label}: send must be true or false, got {describe_value(value)}")
                else:
                    send = value
            elif key == "params":
                params = self._params(value, kline, label, is_defaults)
            elif key == "blocks" and isinstance(value, dict):
                p.add(kline, f"{label}: write the slots directly under `{'defaults' if is_defaults else 'then'}:` "
                             f"(e.g. `hero: hero_vip`), without a `blocks:` level")
            else:
                options = list(self.slots) + list(_SETTINGS)
                hint = did_you_mean(key, options)
                if not hint and isinstance(key, str) and key in self.slot_of:
                    hint = f" — {key!r} is a block; write `{self.slot_of[key]}: {key}`"
                p.add(kline, f"{label}: unknown slot or setting {key!r}{hint} "
                             f"(slots: {', '.join(self.slots)}; settings: {', '.join(_SETTINGS)})")
        if is_defaults:
            if "subject" not in raw:
                p.add(line, "defaults: missing required key `subject` (the subject when no rule sets one)")
        if len(p.items) > before:
            return None
        return Outcome(subject=subject, blocks=blocks, params=params, send=send)

    def _subject(self, value: Any, line: int | None, label: str) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problems.add(line, f"{label}: subject must be non-empty text, got {describe_value(value)}")
            return None
        found = subject_problem(value)
        if found is not None:
            message, unknown = found
            if unknown is not None:
                message += (f"{did_you_mean(unknown, SUBJECT_VARIABLES)} "
                            f"(placeholders: {', '.join(sorted(SUBJECT_VARIABLES))})")
            self.problems.add(line, f"{label}: {message}")
            return None
        return value

    def _params(self, value: Any, line: int | None, label: str, is_defaults: bool) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problems.add(line, f"{label}: params must be a mapping such as `{{discount_percent: 15, "
                                    f"discount_code: COMEBACK15}}`, got {describe_value(value)}")
            return {}
        out: dict[str, Any] = {}
        for k, v in value.items():
            kline = line_of(value, k, line)
            kind = KNOWN_PARAMS.get(k) if isinstance(k, str) else None
            if kind is None:
                self.problems.add(kline, f"{label}: unknown param {k!r}{did_you_mean(k, KNOWN_PARAMS)} "
                                         f"(params: {', '.join(KNOWN_PARAMS)})")
                continue
            if v is None:
                if not is_defaults:
                    out[k] = None   # removes a param set by defaults or a lower-priority rule
                continue
            if kind == "number":
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    self.problems.add(kline, f"{label}: param {k!r} must be a number, got {describe_value(v)}")
                    continue
                if k == "discount_percent" and not (0 < v <= 100):
                    self.problems.add(kline, f"{label}: discount_percent must be above 0 and at most 100, got {v}")
                    continue
            elif not isinstance(v, str) or not v.strip():
                tip = f'; put it in quotes: "{v}"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
                self.problems.add(kline, f"{label}: param {k!r} must be text, got {describe_value(v)}{tip}")
                continue
            out[k] = v
        return out


def check_rule_file(path: str | Path, known_fields: Mapping[str, str], known_blocks: Mapping[str, Collection[str]],
                    *, known_segments: Collection[str] | None = None) -> tuple[EmailRuleSet | None, Problems]:
    """Like :func:`load_rule_file` but returns the problems instead of raising: (rule set or None, problems).
    A YAML syntax error still raises :class:`RuleFileError`."""
    problems = Problems(path)
    data, raw = load_yaml(path, problems)
    ruleset = _parse_rule_file(data, raw, str(path), known_fields, known_blocks, known_segments, problems)
    return (None if problems else ruleset), problems
