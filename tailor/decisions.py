"""Email decisions: ``rules/email_rules.yaml`` compiled to durable_rules, one decision per customer.

The rule file (format in docs/rules.md) has a ``campaign`` (id, name), ``defaults`` (subject, one block
per slot, params, send) and ``rules`` — each with a name, priority (higher wins), ``when`` (a condition in
the language of :mod:`tailor.conditions`), ``then`` (blocks per slot, subject, params, send) and optionally an
``experiment`` (weighted variants applied on top of ``then``, and a holdout share; see :class:`Experiment`).

How a decision is made for one customer:

1. The customer's fields are posted as a *fact* to a private durable_rules host; every rule whose condition
   holds fires (firing order: highest priority first).
2. Resolution: start from ``defaults``; apply the fired rules from the lowest priority to the highest, so the
   highest-priority rule's settings win wherever it sets something (a slot set to null is cleared; params
   are merged key by key, null removes a key). ``reason`` is ``rule:<highest fired>`` or ``no_rule_matched``.
   The experiment of the highest-priority fired rule that has one applies: the customer's sticky variant's
   settings go on top of that rule's ``then``; holdout customers get ``send = False``, ``holdout:<name>``.
3. Gates, after the rules: no email -> ``no_email``; suppressed -> ``suppressed:<reason>``; no marketing
   consent -> ``no_consent``; each forces ``send = False`` (``rules_fired`` is kept for provenance).
4. Provenance per row: ``rules_fired``, ``rule_file_hash``, ``facts_used`` (the values of exactly the fields the
   rules read), ``experiment``/``variant``.

A customer whose ``personalization_consent`` is not true is never posted: the defaults, reason
``no_personalization_consent``, no rule fired, ``facts_used`` = ``{}`` (the gates of step 3 still apply first).

Large inputs are decided on several processes (:func:`decide`, :func:`decision_pool`): durable_rules state is
per process and not thread-safe. Workers come from a fork server, so a script calling :func:`decide` on a large
frame needs the usual ``if __name__ == "__main__":`` guard (Dagster's and tailor's entry points have it).

Static checks for ``tailor rules check``: :func:`check_rule_file` (all problems, no raising) and
:func:`unreachable_rules` (rules fully overridden by higher-ranked rules whose conditions theirs implies).

durable_rules 2.0.28 notes (all handled here, see tests/test_decisions.py):

* Facts are posted with ``assert_fact`` and their state is ALWAYS deleted afterwards (the state pool is
  fixed-size). Each rule's condition is ANDed with a marker only customer facts carry, so no rule can ever
  match the engine's own state object (``top_category: {is_null: true}`` alone would, and re-fire forever), and
  a lowest-priority catch-all rule makes every fact "handled": deleting the state of a never-handled first
  fact corrupts the engine's memory (segfault), so that path is never taken.
* :class:`_SyncHost` does not start ``Host``'s two background dispatch threads (they poll every 0.2 s forever,
  for every host created, and could run actions outside our synchronous call).
* A rule whose condition has alternatives (``any``, or ``not`` over ``all``) fires once per alternative a
  fact matches; each rule is recorded once.
* The engine's JSON parser rejects exponent notation and the ``id``/``sid`` keys are its own: facts carry only
  the fields the rules use, missing values and empty lists are omitted, numbers go through
  :func:`tailor.conditions.json_number`, datetimes become epoch seconds.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
import jinja2.sandbox
from durable.engine import Host, MessageNotHandledException

from tailor.conditions import (
    _EPOCH,
    SEGMENTS_FIELD,
    Condition,
    ConditionParser,
    LazyModule,
    LineDict,
    Problems,
    check_named_item,
    RuleFileError,
    _as_naive_utc,
    _is_missing,
    condition_kinds,
    describe_value,
    did_you_mean,
    implies,
    json_number,
    line_of,
    load_yaml,
    parse_list_value,
    to_durable,
)
from tailor.warehouse_sql import utc_naive

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import pandas as pd
else:   # checking rule files needs neither (see tailor.conditions.LazyModule)
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")

#: Layout order of the slots (spec). The footer is always present and is not a slot.
SLOTS: tuple[str, ...] = ("hero", "main", "offer", "note")

#: The spec's block library (the pipeline passes the template library's real ``blocks_by_slot``).
SPEC_BLOCKS: dict[str, set[str]] = {
    "hero": {"hero_welcome", "hero_vip", "hero_winback", "hero_default"},
    "main": {"product_recommendations", "abandoned_cart", "bestsellers"},
    "offer": {"discount_offer"},
    "note": {"reengagement_note"},
}

#: Params the render context reads (tailor/render_context.py), with their kind.
KNOWN_PARAMS: dict[str, str] = {"discount_percent": "number", "discount_code": "string", "preheader": "string"}

#: Variables a subject line may use: the render context of the spec.
SUBJECT_VARIABLES: frozenset[str] = frozenset({
    "first_name", "email", "customer_id", "campaign_id", "products", "cart_products", "bestsellers",
    "discount_percent", "discount_code", "unsubscribe_url", "preferences_url", "preheader", "company_name",
    "company_address", "shop_url",
})

EMAIL_DECISIONS_COLUMNS: tuple[str, ...] = (
    "customer_id", "campaign_id", "send", "reason", "subject", "blocks", "params", "rules_fired",
    "rule_file_hash", "facts_used", "experiment", "variant", "decided_at",
)

REASON_NO_RULE = "no_rule_matched"
REASON_NO_EMAIL = "no_email"
REASON_NO_CONSENT = "no_consent"
#: Reason of a customer without personalization consent: the rule file's defaults, no rule evaluated, no field read
REASON_NO_PERSONALIZATION = "no_personalization_consent"
#: The profile column of the personalization consent purpose (docs/internal-spec.md, session 2 decisions)
PERSONALIZATION_CONSENT = "personalization_consent"
REASON_HOLDOUT_PREFIX = "holdout:"

#: The ``variant`` recorded for customers an experiment holds out (never sent; reason ``holdout:<experiment>``).
HOLDOUT = "holdout"

RULE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
CAMPAIGN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_FACT_MARKER = "tailor_fact__"
_FACT_MARKER_VALUE = "customer"
_CATCH_ALL = "__tailor_catch_all__"
_RESERVED_FIELDS = frozenset({"sid", "id", _FACT_MARKER})

_TOP_KEYS = ("campaign", "defaults", "rules")
_CAMPAIGN_KEYS = ("id", "name", "description")
_RULE_KEYS = ("name", "description", "priority", "when", "then", "enabled", "experiment")
_EXPERIMENT_KEYS = ("name", "description", "holdout", "variants")
_VARIANT_KEYS = ("name", "weight")   # plus the slots and settings of `then:`
_SETTINGS = ("subject", "params", "send")

_SUBJECT_ENV = jinja2.sandbox.SandboxedEnvironment(autoescape=False)


# ------------------------------------------------------------------------------------------------ the rule set

@dataclass(frozen=True)
class Outcome:
    """What ``defaults`` or a rule's ``then`` sets. Only keys present in the file are set."""

    subject: str | None = None
    blocks: Mapping[str, str | None] = field(default_factory=dict)   # slot -> block (None clears the slot)
    params: Mapping[str, Any] = field(default_factory=dict)          # None removes the param
    send: bool | None = None

    def settings(self) -> set[str]:
        """What this outcome sets: ``subject``, ``send``, slot names, ``params.<name>``."""
        out = set(self.blocks) | {f"params.{k}" for k in self.params}
        if self.subject is not None:
            out.add("subject")
        if self.send is not None:
            out.add("send")
        return out

    def then(self, other: Outcome) -> Outcome:
        """This outcome with ``other`` applied on top (``other`` wins wherever it sets something)."""
        return Outcome(
            subject=other.subject if other.subject is not None else self.subject,
            blocks={**self.blocks, **other.blocks},
            params={**self.params, **other.params},
            send=other.send if other.send is not None else self.send,
        )


def _unit(*parts: str) -> float:
    """A stable pseudo-random number in [0, 1) from text: the first 53 bits of sha256 (same on every machine,
    run and Python version — unlike ``hash()``)."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return (int.from_bytes(digest[:8], "big") >> 11) / 9007199254740992.0   # 2**53


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float
    outcome: Outcome          # the variant's own settings, applied on top of the rule's `then`
    line: int | None = None


@dataclass(frozen=True)
class Experiment:
    """A rule's audience split into weighted variants and an optional holdout group.

    Assignment is sticky: it depends only on (experiment name, customer_id) — through two independent sha256
    draws, one for the holdout and one for the variant — never on the run, the order of customers or the other
    customers. Changing ``holdout`` moves customers between the holdout and the variants without reshuffling
    who gets which variant.
    """

    name: str
    holdout: float
    variants: tuple[Variant, ...]
    line: int | None = None
    description: str = ""

    def assign(self, customer_id: Any) -> str:
        """The variant name for a customer, or :data:`HOLDOUT`."""
        cid = str(customer_id)
        if self.holdout > 0 and _unit("holdout", self.name, cid) < self.holdout:
            return HOLDOUT
        total = sum(v.weight for v in self.variants)
        u = _unit("variant", self.name, cid) * total
        acc = 0.0
        for v in self.variants:
            acc += v.weight
            if u < acc:
                return v.name
        return self.variants[-1].name

    def settings(self) -> set[str]:
        out: set[str] = set()
        for v in self.variants:
            out |= v.outcome.settings()
        return out


@dataclass(frozen=True)
class EmailRule:
    name: str
    description: str
    priority: int
    condition: Condition
    then: Outcome
    line: int | None
    enabled: bool = True
    experiment: Experiment | None = None


@dataclass(frozen=True)
class Resolution:
    """The rule-level outcome for one set of fired rules (before the consent/suppression gates)."""

    subject: str | None
    blocks: dict[str, str]
    params: dict[str, Any]
    send: bool
    reason: str
    rules_fired: tuple[str, ...]
    experiment: str | None = None
    variant: str | None = None


class EmailRuleSet:
    """A validated ``email_rules.yaml``; compiled to durable_rules on first use (see :meth:`fire`)."""

    def __init__(self, *, path: str, campaign_id: str, campaign_name: str, file_hash: str, defaults: Outcome,
                 rules: Sequence[EmailRule], slots: Sequence[str]):
        self.path = path
        self.campaign_id = campaign_id
        self.campaign_name = campaign_name
        self.file_hash = file_hash
        self.defaults = defaults
        self.rules: tuple[EmailRule, ...] = tuple(rules)
        self.slots: tuple[str, ...] = tuple(slots)
        active = [r for r in self.rules if r.enabled]
        # precedence: higher priority first; on equal priority the rule written first in the file wins
        self.ranked: tuple[EmailRule, ...] = tuple(sorted(active, key=lambda r: -r.priority))
        self._rank = {r.name: i for i, r in enumerate(self.ranked)}
        self._by_name = {r.name: r for r in self.ranked}
        kinds: dict[str, str] = {}
        for r in self.ranked:
            kinds.update(condition_kinds(r.condition))
        #: the fields the rules read (name -> kind); only these are posted to the engine, and exactly these are
        #: recorded per customer in ``facts_used``
        self.fields: dict[str, str] = dict(sorted(kinds.items()))
        #: active rules with an experiment, highest priority first
        self.experiment_rules: tuple[EmailRule, ...] = tuple(r for r in self.ranked if r.experiment is not None)
        self._engine: _CompiledRules | None = None
        self._lock = threading.Lock()
        self._resolved: dict[tuple[tuple[str, ...], str | None], Resolution] = {}
        self._experiment_of: dict[tuple[str, ...], EmailRule | None] = {}

    def __repr__(self) -> str:
        return f"EmailRuleSet(campaign_id={self.campaign_id!r}, rules={[r.name for r in self.ranked]}, path={self.path!r})"

    def __getstate__(self) -> dict[str, Any]:
        # sent to decision worker processes (see decide): the compiled engine, its lock and the caches stay
        # here — each worker compiles its own engine once (durable_rules hosts live in one process)
        state = dict(self.__dict__)
        state.update(_engine=None, _lock=None, _resolved={}, _experiment_of={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def engine(self) -> _CompiledRules:
        with self._lock:
            if self._engine is None:
                self._engine = _CompiledRules(self.ranked)
            return self._engine

    def fire(self, facts: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
        """Post prepared facts (see :func:`build_facts`); the names of the rules that fired for each, in
        firing order (highest priority first)."""
        return self.engine.fire_many(facts)

    def experiment_rule(self, fired: Sequence[str]) -> EmailRule | None:
        """The rule whose experiment applies to a customer with these fired rules: the highest-priority fired
        rule that has one (a customer is in at most one experiment), or None."""
        key = tuple(fired)
        if key not in self._experiment_of:
            ranked = sorted(key, key=self._rank.__getitem__)
            self._experiment_of[key] = next(
                (self._by_name[n] for n in ranked if self._by_name[n].experiment is not None), None)
        return self._experiment_of[key]

    def resolve(self, fired: Sequence[str], variant: str | None = None) -> Resolution:
        """Defaults, then the fired rules from the lowest priority to the highest.

        ``variant``: the customer's assignment in the experiment of :meth:`experiment_rule` (a variant name
        or :data:`HOLDOUT`). A variant's settings apply on top of its rule's ``then``; holdout customers get
        the rule's ``then`` alone, ``send = False`` and reason ``holdout:<experiment>``.
        """
        key = tuple(fired)
        hit = self._resolved.get((key, variant))
        if hit is not None:
            return hit
        by_name = self._by_name
        ordered = sorted(key, key=self._rank.__getitem__)   # highest priority first
        exp_rule = self.experiment_rule(key)
        if variant is not None and exp_rule is None:
            raise ValueError(f"variant {variant!r} given, but none of the rules {list(key)} has an experiment")
        chosen: Variant | None = None
        if exp_rule is not None and variant not in (None, HOLDOUT):
            assert exp_rule.experiment is not None
            chosen = next((v for v in exp_rule.experiment.variants if v.name == variant), None)
            if chosen is None:
                raise ValueError(f"experiment {exp_rule.experiment.name!r} has no variant {variant!r}")
        subject = self.defaults.subject
        blocks: dict[str, str | None] = {s: self.defaults.blocks.get(s) for s in self.slots}
        params: dict[str, Any] = {k: v for k, v in self.defaults.params.items() if v is not None}
        send = True if self.defaults.send is None else self.defaults.send
        for name in reversed(ordered):
            then = by_name[name].then
            if chosen is not None and exp_rule is not None and name == exp_rule.name:
                then = then.then(chosen.outcome)
            if then.subject is not None:
                subject = then.subject
            blocks.update(then.blocks)
            for k, v in then.params.items():
                if v is None:
                    params.pop(k, None)
                else:
                    params[k] = v
            if then.send is not None:
                send = then.send
        reason = f"rule:{ordered[0]}" if ordered else REASON_NO_RULE
        experiment = exp_rule.experiment.name if exp_rule is not None and exp_rule.experiment is not None else None
        if variant == HOLDOUT:
            send, reason = False, f"{REASON_HOLDOUT_PREFIX}{experiment}"
        res = Resolution(
            subject=subject,
            blocks={s: b for s, b in blocks.items() if b},
            params=params,
            send=bool(send),
            reason=reason,
            rules_fired=key,
            experiment=experiment if variant is not None else None,
            variant=variant,
        )
        self._resolved[(key, variant)] = res
        return res

    def assign(self, fired: Sequence[str], customer_id: Any) -> str | None:
        """The customer's variant (or :data:`HOLDOUT`) in the experiment that applies to them, else None."""
        rule = self.experiment_rule(fired) if self.experiment_rules else None
        return rule.experiment.assign(customer_id) if rule is not None and rule.experiment is not None else None


# ------------------------------------------------------------------------------------------------ durable glue

class _SyncHost(Host):
    """A durable_rules Host without the background dispatch/timer threads: everything here is synchronous."""

    def _run(self) -> None:  # noqa: D401 - overriding the thread starter
        return None


class _CompiledRules:
    """One private host + one uniquely named ruleset per compiled rule set."""

    def __init__(self, ranked: Sequence[EmailRule]):
        self.name = f"tailor_email_{uuid.uuid4().hex}"
        self._fired: list[str] = []
        self._lock = threading.Lock()
        self._sid = 0
        marker = {_FACT_MARKER: _FACT_MARKER_VALUE}
        definition: dict[str, Any] = {}
        for pri, rule in enumerate(ranked, start=1):   # durable_rules runs lower `pri` first
            definition[rule.name] = {
                "all": [{"m": {"$and": [marker, to_durable(rule.condition)]}}],
                "pri": pri,
                "run": self._recorder(rule.name),
            }
        definition[_CATCH_ALL] = {"all": [{"m": marker}], "pri": len(ranked) + 1, "run": _ignore}
        self.definition_json = json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "run"}
                                           for k, v in definition.items()}, ensure_ascii=False)
        self.host = _SyncHost()
        self.host.register_rulesets({self.name: definition})

    def _recorder(self, name: str):
        fired = self._fired

        def record(c: Any) -> None:
            # a condition with `any`/`not` is expanded by durable_rules into several alternatives, and a fact
            # matching two of them runs the action twice: record each rule once
            if name not in fired:
                fired.append(name)

        return record

    def fire_many(self, facts: Sequence[dict[str, Any]], *, owned: bool = False) -> list[tuple[str, ...]]:
        """Post each fact in its own session (state deleted afterwards). ``owned``: the facts already carry the
        marker and are ours to change (the session id is set in place instead of copying every fact)."""
        out: list[tuple[str, ...]] = []
        host, name, fired = self.host, self.name, self._fired
        with self._lock:
            for fact in facts:
                self._sid += 1
                sid = str(self._sid)
                if owned:
                    fact["sid"] = sid
                else:
                    fact = {**fact, _FACT_MARKER: _FACT_MARKER_VALUE, "sid": sid}
                fired.clear()
                try:
                    host.assert_fact(name, fact)
                except MessageNotHandledException:
                    pass   # no rule matched (cannot happen with the catch-all, kept as a safety net)
                except Exception as exc:
                    try:
                        host.delete_state(name, sid)
                    except Exception:  # the state may never have been created
                        pass
                    raise RuntimeError(f"durable_rules rejected a fact: {exc} "
                                       f"(fields: {sorted(k for k in fact if k != 'sid')})") from exc
                host.delete_state(name, sid)
                out.append(tuple(fired))
        return out


def _ignore(c: Any) -> None:
    return None


# ------------------------------------------------------------------------------------------------ rule file

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
    parser = ConditionParser(fields, problems, known_segments=known_segments, reserved_fields=_RESERVED_FIELDS)
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
        try:
            ast = _SUBJECT_ENV.parse(value)
        except jinja2.TemplateSyntaxError as exc:
            self.problems.add(line, f"{label}: subject is not a valid template: {exc.message}")
            return None
        for var in sorted(jinja2.meta.find_undeclared_variables(ast)):
            if var not in SUBJECT_VARIABLES:
                self.problems.add(line, f"{label}: unknown placeholder {{{{ {var} }}}} in the subject"
                                        f"{did_you_mean(var, SUBJECT_VARIABLES)} "
                                        f"(placeholders: {', '.join(sorted(SUBJECT_VARIABLES))})")
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


# ------------------------------------------------------------------------------------------------ inputs

def build_decision_input(profiles: pd.DataFrame, features: pd.DataFrame | None = None,
                         segments: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per customer: profile columns + feature columns + ``segments`` (python list of names).

    ``build_decision_input(profiles, features, segments)``; a frame that already joins profiles and
    features may be passed alone: ``build_decision_input(customers, segments=segments)``.
    Customers in no segment get ``[]``.
    """
    if "customer_id" not in profiles.columns:
        raise ValueError("build_decision_input: profiles need a customer_id column")
    if profiles["customer_id"].duplicated().any():
        dup = profiles.loc[profiles["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"build_decision_input: customer_id {dup!r} appears more than once in profiles")
    out = profiles.reset_index(drop=True)
    if features is not None:
        if "customer_id" not in features.columns:
            raise ValueError("build_decision_input: features need a customer_id column")
        if features["customer_id"].duplicated().any():
            dup = features.loc[features["customer_id"].duplicated(), "customer_id"].iloc[0]
            raise ValueError(f"build_decision_input: customer_id {dup!r} appears more than once in features")
        extra = ["customer_id"] + [c for c in features.columns if c not in out.columns]
        out = out.merge(features[extra], on="customer_id", how="left", validate="one_to_one")
    if SEGMENTS_FIELD in out.columns:
        out = out.drop(columns=[SEGMENTS_FIELD])
    if segments is not None and len(segments):
        missing = {"customer_id", "segment"} - set(segments.columns)
        if missing:
            raise ValueError(f"build_decision_input: segments need columns customer_id, segment (missing {sorted(missing)})")
        grouped: dict[Any, list[str]] = {}
        for cid, seg in zip(segments["customer_id"].tolist(), segments["segment"].tolist()):
            lst = grouped.setdefault(cid, [])
            if seg not in lst:
                lst.append(seg)
        out[SEGMENTS_FIELD] = [list(grouped.get(cid, ())) for cid in out["customer_id"].tolist()]
    else:
        out[SEGMENTS_FIELD] = [[] for _ in range(len(out))]
    return out


def _number_values(arr: np.ndarray) -> list[Any]:
    a = np.asarray(arr, dtype="float64").copy()
    with np.errstate(invalid="ignore"):
        tiny = (a != 0) & (np.abs(a) < 1e-4)
        a[tiny] = np.copysign(1e-4, a[tiny])
        big = np.abs(a) >= 1e15
        a[big] = np.copysign(1e15, a[big])
    return [None if x != x else x for x in a.tolist()]


def _list_item(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v) if abs(int(v)) < 1e15 else json_number(float(v))
    if isinstance(v, (float, np.floating)):
        return json_number(float(v))
    return str(v)


def fact_values(s: pd.Series, kind: str) -> list[Any]:
    """A column as JSON-ready fact values (None = omit): numbers, epoch seconds, text, bools, lists."""
    if kind == "number":
        return _number_values(pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan))
    if kind == "datetime":
        secs = (_as_naive_utc(s) - _EPOCH).dt.total_seconds()
        return _number_values(secs.to_numpy(dtype="float64", na_value=np.nan))
    if kind == "string":
        return [v if isinstance(v, str) else (None if _is_missing(v) else str(v)) for v in s.tolist()]
    if kind == "boolean":
        return [None if _is_missing(v) else bool(v) for v in s.tolist()]
    if kind == "list":
        return _list_cells(s, lambda x: [_list_item(i) for i in x] if x else None)
    raise ValueError(f"unknown kind {kind!r}")


def _list_cells(s: pd.Series, convert: Any) -> list[Any]:
    """``convert(parsed list)`` for every cell of a list column, computed once per distinct cell: list columns
    repeat a few values (segment combinations, "[]"), and parsing + converting each cell was a noticeable part
    of deciding a million customers. Equal cells share the result object (callers never mutate it)."""
    cache: dict[Any, Any] = {}
    out: list[Any] = []
    append = out.append
    values = s.tolist()
    for pos, v in enumerate(values):
        try:
            key = v if isinstance(v, str) else (tuple(v) if isinstance(v, list) else None)
            hit = cache.get(key, _MISS) if key is not None else _MISS
        except TypeError:        # an unhashable item: no caching for this cell
            key, hit = None, _MISS
        if hit is _MISS:
            try:
                hit = convert(parse_list_value(v))
            except (ValueError, json.JSONDecodeError) as exc:
                raise ValueError(f"column {s.name!r}, row {pos} (index {s.index[pos]!r}): {exc}") from exc
            if key is not None:
                cache[key] = hit
        append(hit)
    return out


_MISS = object()


def build_facts(customers: pd.DataFrame, fields: Mapping[str, str]) -> list[dict[str, Any]]:
    """One JSON-serialisable dict per row with the given fields; missing values and empty lists omitted."""
    names = list(fields)
    absent = [n for n in names if n not in customers.columns]
    if absent:
        raise ValueError(f"the customers frame lacks fields the rules use: {', '.join(absent)}")
    return _facts(customers, names, fields, {})


def _facts(customers: pd.DataFrame, names: list[str], fields: Mapping[str, str],
           extra: Mapping[str, Any]) -> list[dict[str, Any]]:
    """:func:`build_facts` with ``extra`` keys in every fact (the engine's marker: one dict per customer, not
    a copy with the marker added later)."""
    if not names:
        return [dict(extra) for _ in range(len(customers))]
    columns = [fact_values(customers[n], fields[n]) for n in names]
    if len(names) == 1:      # the common case (the shipped rules read `segments` only)
        name = names[0]
        return [{name: v, **extra} if v is not None else dict(extra) for v in columns[0]]
    return [{**{k: v for k, v in zip(names, row) if v is not None}, **extra} for row in zip(*columns)]


# ------------------------------------------------------------------------------------------------ decide

_GATE_COLUMNS = ("customer_id", "email", "marketing_consent", "suppressed_reason")


def _consented(v: Any) -> bool:
    """Only an explicit true is consent (None/NaN/False/anything else is not)."""
    return v is True or (isinstance(v, np.bool_) and bool(v))


def _json(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def _personalization_allowed(customers: pd.DataFrame) -> np.ndarray:
    """Per row, whether the customer allows personalization (``personalization_consent`` is exactly true).

    Only an explicit true counts, like marketing consent: a missing value is no consent (privacy errs on the
    safe side). A frame without the column is an error, not a silent "everyone consents".
    """
    if PERSONALIZATION_CONSENT not in customers.columns:
        raise ValueError(
            f"the decision input has no {PERSONALIZATION_CONSENT!r} column (customer_profiles provides it); "
            "without it nobody may be decided on personal data"
        )
    return np.fromiter((_consented(v) for v in customers[PERSONALIZATION_CONSENT].tolist()), dtype=bool,
                       count=len(customers))


def decision_workers() -> int:
    """How many processes :func:`decide` uses by default: ``$TAILOR_DECISION_WORKERS``, else the CPUs this
    process may run on."""
    import os

    raw = os.environ.get("TAILOR_DECISION_WORKERS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"TAILOR_DECISION_WORKERS must be a whole number of at least 1, got {raw!r}")
        return value
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:   # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


#: With automatic worker counts, a process is only worth it for at least this many customers: a worker costs
#: ~0.1 s to start and compile the rules (plus ~2 s once per parent process for the fork server), while one
#: core decides ~20,000 customers per second.
MIN_CUSTOMERS_PER_WORKER = 25_000
#: Customers per task sent to a worker: small enough to balance the load and bound memory, large enough that
#: the per-task cost (pickling a slice of the frame and its result) stays negligible.
CHUNK_CUSTOMERS = 20_000


def chunk_size(n: int, workers: int) -> int:
    """Customers per task for ``n`` customers on ``workers`` processes: about four tasks per worker (so that a
    worker slowed down by others on the machine does not hold up the end), at most :data:`CHUNK_CUSTOMERS`."""
    return max(1, min(CHUNK_CUSTOMERS, -(-n // (workers * 4))))


def plan_workers(n: int, workers: int | None) -> int:
    """The number of processes :func:`decide` uses for ``n`` customers: ``workers`` as given (at most one per
    customer), or, when None, :func:`decision_workers` — but only as many as have
    :data:`MIN_CUSTOMERS_PER_WORKER` customers each (1 = decide in this process)."""
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"decide: workers must be a whole number of at least 1, got {workers!r}")
        return max(1, min(workers, n))
    return max(1, min(decision_workers(), n // MIN_CUSTOMERS_PER_WORKER))


def decide(customers: pd.DataFrame, ruleset: EmailRuleSet, decided_at: datetime, *,
           workers: int | None = None) -> pd.DataFrame:
    """The ``email_decisions`` rows for ``customers`` (one per row, in their order; see
    :func:`build_decision_input`).

    ``decided_at`` is stored as UTC (tz-naive); an aware datetime is converted. Each row records the rules
    that fired, the rule file's hash, the values of the fields the rules read (``facts_used``) and the
    customer's ``experiment``/``variant`` (None when no experiment applies). A customer whose
    ``personalization_consent`` is not true gets the rule file's defaults (reason ``no_personalization_consent``,
    no rule evaluated, ``facts_used`` = ``{}``).

    ``workers``: processes to decide in (see :func:`plan_workers`; default: :func:`decision_workers`, for
    large inputs only). durable_rules is not thread-safe, so parallelism is processes: contiguous slices of
    the customers go to a pool whose workers compile the rules once each; results come back in input order
    and are identical to deciding in one process.
    """
    missing = [c for c in _GATE_COLUMNS if c not in customers.columns]
    if missing:
        raise ValueError(f"decide: the customers frame lacks {', '.join(missing)} (needed for the consent and "
                         f"suppression gates)")
    absent = [f for f in ruleset.fields if f not in customers.columns]
    if absent:
        raise ValueError(f"the customers frame lacks fields the rules use: {', '.join(absent)}")
    if customers["customer_id"].duplicated().any():
        dup = customers.loc[customers["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"decide: customer_id {dup!r} appears more than once")
    n = len(customers)
    n_workers = plan_workers(n, workers)
    ids = customers["customer_id"].tolist()
    if n_workers <= 1:
        return _decisions_frame(ids, _decide_columns(customers, ruleset), ruleset, decided_at)
    # only the columns deciding reads travel to the workers
    needed = list(dict.fromkeys([*_GATE_COLUMNS, *ruleset.fields,
                                 *([PERSONALIZATION_CONSENT] if PERSONALIZATION_CONSENT in customers.columns else [])]))
    frame = customers[needed]
    size = chunk_size(n, n_workers)
    chunks = (frame.iloc[i:i + size] for i in range(0, n, size))
    columns: dict[str, list[Any]] = {name: [] for name in _VARYING}
    with decision_pool(ruleset, n_workers) as pool:
        for part in pool.map(_decide_chunk, chunks):    # in input order
            for name in _VARYING:
                columns[name].extend(part[name])
    return _decisions_frame(ids, columns, ruleset, decided_at)


def decision_pool(ruleset: EmailRuleSet, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that each hold ``ruleset`` compiled once (in :data:`_WORKER_RULESET`).

    Processes come from a fork server preloaded with numpy, pandas, durable_rules and this module: forking a
    process that runs threads (Dagster's does) is unsafe, and spawning would import pandas in every worker
    (~2 s on a small machine). The fork server starts once per parent process (~2 s), workers then in ms.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor   # here: `tailor rules check` does without multiprocessing

    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["numpy", "pandas", "durable.engine", __name__])
    else:  # pragma: no cover - Windows
        ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(ruleset,))


#: The rule set of a decision worker process, compiled once by :func:`_init_worker`.
_WORKER_RULESET: EmailRuleSet | None = None


def _init_worker(ruleset: EmailRuleSet) -> None:
    global _WORKER_RULESET
    _WORKER_RULESET = ruleset
    ruleset.engine   # compile now, once per process, not inside the first task


def _decide_chunk(customers: pd.DataFrame) -> dict[str, Any]:
    if _WORKER_RULESET is None:  # pragma: no cover - only if a pool is built without _init_worker
        raise RuntimeError("decision worker without a rule set")
    return _decide_columns(customers, _WORKER_RULESET)


#: The columns :func:`_decide_columns` returns (the others are the customer ids and per-run constants).
_VARYING = ("send", "reason", "subject", "blocks", "params", "rules_fired", "facts_used", "experiment", "variant")


def _decide_columns(customers: pd.DataFrame, ruleset: EmailRuleSet) -> dict[str, Any]:
    """The per-customer columns of the decisions (see :data:`_VARYING`), in this process. A worker sends only
    these back: the ids and the constant columns are added once by :func:`_decisions_frame`."""
    n = len(customers)
    ids = customers["customer_id"].tolist()
    allowed = _personalization_allowed(customers)
    # customers without personalization consent are not posted: no rule may read their data
    personal = customers if allowed.all() else customers[allowed]
    names_read = list(ruleset.fields)
    fired_personal = ruleset.engine.fire_many(
        _facts(personal, names_read, ruleset.fields, {_FACT_MARKER: _FACT_MARKER_VALUE}), owned=True)
    used_personal = facts_used(personal, ruleset.fields)
    if personal is customers:
        fired: list[tuple[str, ...] | None] = fired_personal   # type: ignore[assignment]
        used = used_personal
    else:
        fired, used = [None] * n, ["{}"] * n
        for i, f, u in zip(np.flatnonzero(allowed).tolist(), fired_personal, used_personal):
            fired[i], used[i] = f, u

    subject: list[Any] = [None] * n
    blocks: list[str] = [""] * n
    params: list[str] = [""] * n
    rules_fired: list[str] = [""] * n
    experiment: list[Any] = [None] * n
    variant: list[Any] = [None] * n
    send = np.zeros(n, dtype=bool)
    reason: list[str] = [""] * n
    rendered: dict[tuple[tuple[str, ...], str | None], tuple[Any, str, str, str]] = {}
    with_experiments = bool(ruleset.experiment_rules)
    for i, names in enumerate(fired):
        if names is None:      # no personalization consent: the defaults, as for no rule, with its own reason
            res = ruleset.resolve(())
            subject[i], blocks[i], params[i], rules_fired[i] = _rendered(rendered, (), None, res)
            send[i], reason[i] = res.send, REASON_NO_PERSONALIZATION
            continue
        v = ruleset.assign(names, ids[i]) if with_experiments else None
        res = ruleset.resolve(names, v)
        subject[i], blocks[i], params[i], rules_fired[i] = _rendered(rendered, names, v, res)
        send[i] = res.send
        reason[i] = res.reason
        experiment[i], variant[i] = res.experiment, res.variant

    # gates (in order of precedence): no email, suppressed, no consent — they also override a holdout reason
    emails = customers["email"].tolist()
    suppressed = customers["suppressed_reason"].tolist()
    consent = customers["marketing_consent"].tolist()
    for i in range(n):
        e = emails[i]
        s = suppressed[i]
        if not isinstance(e, str) or not e.strip():
            send[i], reason[i] = False, REASON_NO_EMAIL
        elif not _is_missing(s) and str(s).strip():
            send[i], reason[i] = False, f"suppressed:{str(s).strip()}"
        elif not _consented(consent[i]):
            send[i], reason[i] = False, REASON_NO_CONSENT
    return {"send": send, "reason": reason, "subject": subject, "blocks": blocks, "params": params,
            "rules_fired": rules_fired, "facts_used": used, "experiment": experiment, "variant": variant}


def _decisions_frame(ids: list[Any], columns: Mapping[str, Any], ruleset: EmailRuleSet,
                     decided_at: datetime) -> pd.DataFrame:
    n = len(ids)
    fixed = {"customer_id": ids, "campaign_id": [ruleset.campaign_id] * n, "rule_file_hash": [ruleset.file_hash] * n}
    out: dict[str, np.ndarray] = {}
    for name in EMAIL_DECISIONS_COLUMNS:      # built in the final order: no reordering copy of a million rows
        if name == "send":
            out[name] = np.asarray(columns[name], dtype=bool)
        elif name == "decided_at":
            out[name] = np.full(n, utc_naive(decided_at).to_datetime64().astype("datetime64[ns]"))
        else:
            out[name] = np.array(fixed[name] if name in fixed else columns[name], dtype=object)
    return pd.DataFrame(out, copy=False)


def _rendered(cache: dict, names: tuple[str, ...], variant: str | None, res: Resolution) -> tuple[Any, str, str, str]:
    """subject and the JSON texts of blocks, params and rules_fired, encoded once per distinct resolution."""
    hit = cache.get((names, variant))
    if hit is None:
        hit = cache[(names, variant)] = (res.subject, _json(res.blocks), _json(res.params), _json(list(res.rules_fired)))
    return hit



# ------------------------------------------------------------------------------------------------ provenance

def provenance_values(s: pd.Series, kind: str) -> list[Any]:
    """A column as the JSON values recorded in ``facts_used``: numbers (ints stay ints), ISO-8601 UTC text for
    dates, text, true/false, lists (``[]`` when empty); None when the customer has no value. Unlike the facts
    posted to the engine, nothing is clamped or converted to epoch seconds — this is what a person reads."""
    if kind == "number":
        num = pd.to_numeric(s, errors="coerce")
        if pd.api.types.is_integer_dtype(num.dtype):
            return [None if v is pd.NA else int(v) for v in num.astype(object).tolist()]
        return [x if x == x and x not in (math.inf, -math.inf) else None
                for x in num.to_numpy(dtype="float64", na_value=np.nan).tolist()]
    if kind == "datetime":
        return [None if t is pd.NaT else t.isoformat() for t in _as_naive_utc(s).tolist()]
    if kind == "string":
        return [v if isinstance(v, str) else (None if _is_missing(v) else str(v)) for v in s.tolist()]
    if kind == "boolean":
        return [None if _is_missing(v) else bool(v) for v in s.tolist()]
    if kind == "list":
        return _list_cells(s, lambda x: [_list_item(i) for i in x])
    raise ValueError(f"unknown kind {kind!r}")


def _json_cells(values: list[Any], kind: str) -> list[str]:
    """Each value as JSON text; repeated values are encoded once (fast path of :func:`facts_used`)."""
    if kind == "number":      # ints and finite floats: their repr is their JSON
        return ["null" if v is None else repr(v) for v in values]
    if kind == "boolean":
        return ["null" if v is None else ("true" if v else "false") for v in values]
    encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
    cache: dict[Any, str] = {}
    out: list[str] = []
    for v in values:
        key = tuple(v) if isinstance(v, list) else v
        try:
            text = cache.get(key)
        except TypeError:          # an unhashable list item
            out.append(encode(v))
            continue
        if text is None:
            text = cache[key] = encode(v)
        out.append(text)
    return out


def facts_used(customers: pd.DataFrame, fields: Mapping[str, str]) -> list[str]:
    """Per row, a JSON object with exactly ``fields`` (the fields the rules read) and the row's values.

    An ``email`` field is recorded masked (``a***@example.com``): decisions are read widely.
    """
    from tailor.masking import mask_email

    names = list(fields)
    if not names:
        return ["{}"] * len(customers)
    columns = []
    for name in names:
        values = provenance_values(customers[name], fields[name])
        if name == "email":
            values = [mask_email(v) if isinstance(v, str) else v for v in values]
        columns.append(_json_cells(values, fields[name]))
    template = "{" + ",".join(json.dumps(n, ensure_ascii=False).replace("%", "%%") + ":%s" for n in names) + "}"
    return [template % row for row in zip(*columns)]


# ------------------------------------------------------------------------------------------------ schema

_REASON_RE = (r"^(rule:[A-Za-z0-9][A-Za-z0-9_-]*|holdout:[A-Za-z0-9][A-Za-z0-9_-]*|no_consent|no_email"
              r"|no_rule_matched|no_personalization_consent|suppressed:.+)$")
_GATED = ("no_consent", "no_email")


def _json_ok(text: Any, kind: type) -> bool:
    try:
        return isinstance(json.loads(text), kind)
    except (TypeError, ValueError):
        return False


def _build_schema() -> type:
    """email_decisions' pandera model, built on first use (pandera costs ~2 s of imports, which checking rule
    files does without). Exported as :data:`EmailDecisionsSchema`."""
    global pa, Series
    import pandera.pandas as pa
    from pandera.typing import Series

    class EmailDecisionsSchema(pa.DataFrameModel):
        """email_decisions: one row per customer and campaign — send or not, why, with which content, and the
        provenance: rules fired, rule file hash, the field values the rules read, experiment and variant."""

        customer_id: Series[str] = pa.Field(unique=True, nullable=False)
        campaign_id: Series[str] = pa.Field(nullable=False, str_matches=CAMPAIGN_ID_RE.pattern)
        send: Series[bool] = pa.Field(nullable=False)
        reason: Series[str] = pa.Field(nullable=False, str_matches=_REASON_RE)
        subject: Series[str] = pa.Field(nullable=True)
        blocks: Series[str] = pa.Field(nullable=False)
        params: Series[str] = pa.Field(nullable=False)
        rules_fired: Series[str] = pa.Field(nullable=False)
        rule_file_hash: Series[str] = pa.Field(nullable=False, str_matches=r"^[0-9a-f]{64}$")
        facts_used: Series[str] = pa.Field(nullable=False)
        experiment: Series[str] = pa.Field(nullable=True, str_matches=RULE_NAME_RE.pattern)
        variant: Series[str] = pa.Field(nullable=True, str_matches=RULE_NAME_RE.pattern)
        decided_at: Series[pa.DateTime] = pa.Field(nullable=False)

        class Config:
            strict = True

        @pa.check("blocks", name="json_object_of_slots")
        def _blocks_json(cls, s: pd.Series) -> pd.Series:
            def ok(t: Any) -> bool:
                try:
                    d = json.loads(t)
                except (TypeError, ValueError):
                    return False
                return isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())
            return s.map(ok)

        @pa.check("params", name="json_object")
        def _params_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, dict))

        @pa.check("rules_fired", name="json_list")
        def _rules_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, list))

        @pa.check("facts_used", name="json_object")
        def _facts_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, dict))

        @pa.dataframe_check(name="gated_rows_never_send")
        def _gates(cls, df: pd.DataFrame) -> pd.Series:
            gated = df["reason"].isin(_GATED) | df["reason"].str.startswith("suppressed:")
            return ~(gated & df["send"])

        @pa.dataframe_check(name="sends_have_subject_and_blocks")
        def _sendable(cls, df: pd.DataFrame) -> pd.Series:
            has_subject = df["subject"].map(lambda x: isinstance(x, str) and bool(x.strip()))
            has_blocks = df["blocks"].map(lambda t: _json_ok(t, dict) and bool(json.loads(t)))
            return ~df["send"] | (has_subject & has_blocks)

        @pa.dataframe_check(name="reason_is_first_rule_fired")
        def _reason_matches(cls, df: pd.DataFrame) -> pd.Series:
            def ok(reason: str, fired: str) -> bool:
                if not reason.startswith("rule:"):
                    return reason != REASON_NO_RULE or fired == "[]"
                try:
                    names = json.loads(fired)
                except ValueError:
                    return False
                return bool(names) and names[0] == reason[5:]
            return pd.Series([ok(r, f) for r, f in zip(df["reason"], df["rules_fired"])], index=df.index)

        @pa.dataframe_check(name="experiment_and_variant_together")
        def _experiment_variant(cls, df: pd.DataFrame) -> pd.Series:
            return df["experiment"].isna() == df["variant"].isna()

        @pa.dataframe_check(name="holdout_never_sent")
        def _holdout(cls, df: pd.DataFrame) -> pd.Series:
            held = df["variant"] == HOLDOUT
            holdout_reason = df["reason"].str.startswith(REASON_HOLDOUT_PREFIX)
            names_match = pd.Series(
                [(not r.startswith(REASON_HOLDOUT_PREFIX)) or r[len(REASON_HOLDOUT_PREFIX):] == e
                 for r, e in zip(df["reason"], df["experiment"])], index=df.index)
            return ~(held & df["send"]) & (~holdout_reason | held) & names_match

    EmailDecisionsSchema.__qualname__ = "EmailDecisionsSchema"
    return EmailDecisionsSchema


def __getattr__(name: str) -> Any:
    if name == "EmailDecisionsSchema":
        schema = globals()["EmailDecisionsSchema"] = _build_schema()
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------------ static checks

@dataclass(frozen=True)
class UnreachableRule:
    """A rule that can never change an email: every customer it matches also fires ``covered_by`` (rules ranked
    above it), which between them set everything it sets."""

    rule: EmailRule
    covered_by: tuple[EmailRule, ...]
    settings: tuple[str, ...]

    @property
    def line(self) -> int | None:
        return self.rule.line

    @property
    def message(self) -> str:
        r = self.rule
        others = ", ".join(f"{h.name!r} (priority {h.priority})" for h in self.covered_by)
        one = len(self.covered_by) == 1
        return (f"rule {r.name!r} (priority {r.priority}) can never change an email: every customer it matches "
                f"also matches {'rule' if one else 'rules'} {others}, which {'ranks' if one else 'rank'} higher and "
                f"already {'sets' if one else 'set'} everything it sets ({', '.join(self.settings)}); "
                f"give it a higher priority, narrow its `when:`, or switch it off with `enabled: false`")


def unreachable_rules(ruleset: EmailRuleSet,
                      segment_conditions: Mapping[str, Condition] | None = None) -> list[UnreachableRule]:
    """Active rules whose outcome is fully overridden, for every customer they can match, by higher-ranked rules
    whose conditions their own condition implies (:func:`tailor.conditions.implies`: identical conditions,
    the same segment, narrower ranges, ...; with ``segment_conditions``, ``in_segment`` is also compared
    through the segments' definitions).

    Conservative: a rule is reported only when that is certain. A rule with an experiment and a holdout is
    never reported (the holdout keeps customers from being sent, whatever the other rules say) unless a
    covering rule's own experiment takes precedence; a covering rule only counts with its ``then`` (its
    variants apply to part of its audience).
    """
    out: list[UnreachableRule] = []
    for i, rule in enumerate(ruleset.ranked):
        covering = [h for h in ruleset.ranked[:i] if implies(rule.condition, h.condition, segment_conditions)]
        if not covering:
            continue
        settings = rule.then.settings()
        if rule.experiment is not None and not any(h.experiment is not None for h in covering):
            if rule.experiment.holdout > 0:
                continue
            settings |= rule.experiment.settings()
        covered: set[str] = set()
        for h in covering:
            covered |= h.then.settings()
        if settings <= covered:
            needed = tuple(h for h in covering if h.then.settings() & settings) or (covering[0],)
            order = {s: k for k, s in enumerate(("subject",) + ruleset.slots + ("send",))}
            out.append(UnreachableRule(rule, needed, tuple(sorted(settings, key=lambda s: (order.get(s, 99), s)))))
    return out


def check_rule_file(path: str | Path, known_fields: Mapping[str, str], known_blocks: Mapping[str, Collection[str]],
                    *, known_segments: Collection[str] | None = None) -> tuple[EmailRuleSet | None, Problems]:
    """Like :func:`load_rule_file` but returns the problems instead of raising: (rule set or None, problems).
    A YAML syntax error still raises :class:`RuleFileError`."""
    problems = Problems(path)
    data, raw = load_yaml(path, problems)
    ruleset = _parse_rule_file(data, raw, str(path), known_fields, known_blocks, known_segments, problems)
    return (None if problems else ruleset), problems


def check_rule_files(rules_dir: str | Path = "rules", known_fields: Mapping[str, str] | None = None,
                     known_blocks: Mapping[str, Collection[str]] | None = None) -> EmailRuleSet:
    """Validate ``segments.yaml`` and ``email_rules.yaml`` of a folder together (segment names included).

    Defaults to the spec's field catalog and block library. Raises :class:`RuleFileError`.
    """
    from tailor.conditions import spec_field_kinds
    from tailor.segments import load_segment_definitions

    rules_dir = Path(rules_dir)
    fields = dict(known_fields or spec_field_kinds())
    definitions = load_segment_definitions(rules_dir / "segments.yaml", fields)
    return load_rule_file(rules_dir / "email_rules.yaml", fields, known_blocks or SPEC_BLOCKS,
                          known_segments=[d.name for d in definitions])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tailor.decisions [rules_dir]``: check the rule files, print problems or a summary."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    rules_dir = Path(args[0]) if args else Path("rules")
    try:
        ruleset = check_rule_files(rules_dir)
    except RuleFileError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"OK: campaign {ruleset.campaign_id!r}, {len(ruleset.ranked)} active rules "
          f"({', '.join(r.name for r in ruleset.ranked)}), file hash {ruleset.file_hash[:12]}")
    return 0


__all__ = [
    "EMAIL_DECISIONS_COLUMNS",
    "EmailDecisionsSchema",
    "EmailRule",
    "EmailRuleSet",
    "KNOWN_PARAMS",
    "Outcome",
    "Resolution",
    "RuleFileError",
    "SLOTS",
    "SPEC_BLOCKS",
    "build_decision_input",
    "HOLDOUT",
    "Experiment",
    "UnreachableRule",
    "Variant",
    "build_facts",
    "check_rule_file",
    "check_rule_files",
    "facts_used",
    "decide",
    "chunk_size",
    "decision_pool",
    "decision_workers",
    "plan_workers",
    "PERSONALIZATION_CONSENT",
    "REASON_NO_PERSONALIZATION",
    "load_rule_file",
    "unreachable_rules",
]


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
