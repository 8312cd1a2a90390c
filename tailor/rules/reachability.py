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
from tailor.rules.implication import implies
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


def unreachable_rules(ruleset: EmailRuleSet,
                      segment_conditions: Mapping[str, Condition] | None = None) -> list[UnreachableRule]:
    """Active rules whose outcome is fully overridden, for every customer they can match, by higher-ranked rules
    whose conditions their own condition implies (:func:`tailor.rules.implication.implies`: identical conditions,
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
