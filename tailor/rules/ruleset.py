"""A validated email rule file, and how its rules resolve into one email: :class:`EmailRuleSet`.

What the rules set is an :class:`Outcome` (``defaults``, a rule's ``then``, a variant's settings). For a customer
whose rules fired, :meth:`EmailRuleSet.resolve` starts from the defaults and applies the fired rules from the lowest
priority to the highest, so the highest-priority rule's settings win wherever it sets something (a slot set to
null is cleared; params are merged key by key, null removes a key); the experiment of the highest-priority fired
rule that has one applies on top (:class:`Experiment`: sticky variants and a holdout). Resolutions are cached per
set of fired rules: a million customers fire a few dozen distinct sets.

Which rules fire is durable_rules' part (:mod:`tailor.rules.engine`), compiled on first use, so reading and
checking a rule file never loads it.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tailor.rules.condition import Condition, condition_kinds

if TYPE_CHECKING:  # pragma: no cover
    from tailor.rules.engine import CompiledRules

#: The reason of a customer no rule fired for (the defaults apply).
REASON_NO_RULE = "no_rule_matched"
#: ``rule:<name>``: the reason of a customer whose highest-priority fired rule is <name>.
REASON_RULE_PREFIX = "rule:"
#: ``holdout:<experiment>``: the reason of a customer the experiment holds out.
REASON_HOLDOUT_PREFIX = "holdout:"
#: The ``variant`` recorded for customers an experiment holds out (never sent; reason ``holdout:<experiment>``).
HOLDOUT = "holdout"

# The names of rules, experiments and variants, and campaign ids.
RULE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
CAMPAIGN_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
    """One arm of an experiment; its share of the audience is its weight / the sum of the weights."""

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
        """What any of the variants sets (see :meth:`Outcome.settings`)."""
        out: set[str] = set()
        for v in self.variants:
            out |= v.outcome.settings()
        return out


@dataclass(frozen=True)
class EmailRule:
    """One entry of ``rules:``; ``line`` is where it starts in the file."""

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
        self._engine: CompiledRules | None = None
        self._lock = threading.Lock()
        self._resolved: dict[tuple[tuple[str, ...], str | None], Resolution] = {}
        self._experiment_of: dict[tuple[str, ...], EmailRule | None] = {}

    def __repr__(self) -> str:
        return f"EmailRuleSet(campaign_id={self.campaign_id!r}, rules={[r.name for r in self.ranked]}, path={self.path!r})"

    def __getstate__(self) -> dict[str, Any]:
        # sent to decision worker processes (see tailor.rules.decide): the compiled engine, its lock and the caches stay
        # here — each worker compiles its own engine once (durable_rules hosts live in one process)
        state = dict(self.__dict__)
        state.update(_engine=None, _lock=None, _resolved={}, _experiment_of={})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def engine(self) -> CompiledRules:
        """The rules compiled to durable_rules (once; again after durable_rules failed on a customer)."""
        with self._lock:
            if self._engine is None or self._engine.broken is not None:
                from tailor.rules.engine import CompiledRules  # durable_rules: only when deciding

                self._engine = CompiledRules(self.ranked)
            return self._engine

    def fire(self, facts: Sequence[dict[str, Any]]) -> list[tuple[str, ...]]:
        """Post prepared facts (see :func:`tailor.rules.facts.build_facts`); the names of the rules that fired for each, in
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
        reason = f"{REASON_RULE_PREFIX}{ordered[0]}" if ordered else REASON_NO_RULE
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
