"""Email rules that can never change an email, found without data: ``tailor rules check`` reports them.

A rule is unreachable when every customer it can match also fires rules ranked above it that, between them, set
everything it sets: it would only ever show up in ``rules_fired``. "Every customer it can match" is decided by
condition implication (:mod:`tailor.rules.implication`), looking into segment definitions where given — so the
report is certain, never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from tailor.rules.condition import Condition
from tailor.rules.implication import ImplicationSearch, OutOfSteps, Prepared
from tailor.rules.limits import MAX_REACHABILITY_STEPS
from tailor.rules.ruleset import EmailRule, EmailRuleSet


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


@dataclass(frozen=True)
class Reachability:
    """What :func:`search_unreachable` found. ``unchecked``: the first rule (in rank order) it did not look at
    because it ran out of steps — it and the rules ranked below it were not checked; None when it finished."""

    found: list[UnreachableRule]
    steps: int
    unchecked: EmailRule | None = None

    @property
    def complete(self) -> bool:
        return self.unchecked is None


def unreachable_rules(ruleset: EmailRuleSet,
                      segment_conditions: Mapping[str, Condition] | None = None) -> list[UnreachableRule]:
    """The rules :func:`search_unreachable` finds (within its default number of steps)."""
    return search_unreachable(ruleset, segment_conditions).found


def search_unreachable(ruleset: EmailRuleSet, segment_conditions: Mapping[str, Condition] | None = None, *,
                       max_steps: int = MAX_REACHABILITY_STEPS) -> Reachability:
    """Active rules whose outcome is fully overridden, for every customer they can match, by higher-ranked rules
    whose conditions their own condition implies (:func:`tailor.rules.implication.implies`: identical conditions,
    the same segment, narrower ranges, ...; with ``segment_conditions``, ``in_segment`` is also compared
    through the segments' definitions).

    Conservative: a rule is reported only when that is certain. A rule with an experiment and a holdout is
    never reported (the holdout keeps customers from being sent, whatever the other rules say) unless a
    covering rule's own experiment takes precedence; a covering rule only counts with its ``then`` (its
    variants apply to part of its audience).

    Bounded: each condition is normalised once, a higher rule is compared only when it could matter (it sets
    something the rule sets, or has an experiment) and when what the two conditions mention allows an
    implication, and the comparisons take at most ``max_steps`` steps in all
    (:class:`tailor.rules.implication.ImplicationSearch`); past them the search stops and says where.
    """
    search = ImplicationSearch(max_steps)
    ranked = ruleset.ranked
    out: list[UnreachableRule] = []
    prepared: list[Prepared] = []
    for i, rule in enumerate(ranked):
        try:
            search.step()
            prepared.append(Prepared(rule.condition, segment_conditions))
            found = _unreachable(ruleset, i, prepared, search)
        except OutOfSteps:
            return Reachability(out, search.max_steps, rule)
        if found is not None:
            out.append(found)
    return Reachability(out, search.steps)


def _unreachable(ruleset: EmailRuleSet, i: int, prepared: list[Prepared],
                 search: ImplicationSearch) -> UnreachableRule | None:
    ranked = ruleset.ranked
    rule = ranked[i]
    settings = rule.then.settings()
    matters = settings | (rule.experiment.settings() if rule.experiment is not None else set())
    # only a higher rule that sets something this one may set, or has an experiment, can change the answer
    covering = [h for k, h in enumerate(ranked[:i])
                if (not matters or h.then.settings() & matters or h.experiment is not None)
                and search.implies(prepared[i], prepared[k])]
    if not covering:
        return None
    if rule.experiment is not None and not any(h.experiment is not None for h in covering):
        if rule.experiment.holdout > 0:
            return None
        settings |= rule.experiment.settings()
    covered: set[str] = set()
    for h in covering:
        covered |= h.then.settings()
    if not settings <= covered:
        return None
    needed = tuple(h for h in covering if h.then.settings() & settings)
    if not needed:   # a rule that sets nothing: named with the first higher rule that covers it
        needed = (next(h for k, h in enumerate(ranked[:i]) if search.implies(prepared[i], prepared[k])),)
    order = {s: k for k, s in enumerate(("subject",) + ruleset.slots + ("send",))}
    return UnreachableRule(rule, needed, tuple(sorted(settings, key=lambda s: (order.get(s, 99), s))))
