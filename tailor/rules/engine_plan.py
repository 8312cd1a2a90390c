"""How the email rules are handed to durable_rules so that it never runs into its limits (tailor.rules.limits).

durable_rules 2.0.28 compiles the conditions of a rule set into one network of tests (rete.c) and, for each
customer posted, walks the tests that hold with a fixed stack of 64 entries; past that (65 rules that hold for
one customer, an ``any:`` with 65 alternatives that hold) it fails and its memory is corrupted. Other limits
apply when compiling (tests under one test, rules ending on one test, ``$and``/``$or`` per rule). So:

* :func:`plan_engine` models the network durable_rules builds (:class:`_Network`: the same sharing of equal
  tests as its ``findAlpha``) and cuts the rules, in rank order, into **several rule sets**: each customer is
  posted to each of them, and the rules that fired are put together in rank order — the same result as one rule
  set. Each rule set stays within :data:`tailor.rules.limits.PLAN_LIMITS` (a margin below the measured limits).
* A rule whose own condition is too large for any rule set (more ``$and``/``$or`` than durable_rules compiles, an
  ``any:`` with more alternatives that can hold at once than the stack, an ``in:`` list longer than the tests one
  test may have under it) is **evaluated in Python** (:func:`python_holds`, on the very fact durable_rules would
  get): durable_rules is then given one test, "this rule's condition held" (the rule's name in the fact's list
  :data:`PYTHON_HELD`), and the rule takes part in priorities as any other.

The stack bound of a rule set is the sum over its rules of each rule's worst case alone (every test that can hold
at once does): at any moment of the walk, the pending tests each belong to a rule, and no rule has more pending
than in its own worst case. Pure Python, no durable_rules: ``tailor rules check`` uses it to tell what happens.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from tailor.rules.condition import Condition, condition_fields
from tailor.rules.durable import FACT_MARKER, FACT_MARKER_VALUE, PYTHON_HELD, to_durable
from tailor.rules.limits import PLAN_LIMITS, PlanLimits

MARKER = {FACT_MARKER: FACT_MARKER_VALUE}


class RankedRule(Protocol):
    """What the plan needs of a rule (tailor.rules.ruleset.EmailRule): its name and condition."""

    name: str
    condition: Condition


@dataclass(frozen=True)
class PlannedRule:
    """One rule as durable_rules gets it. ``condition``: the rule's own durable_rules condition (the marker
    included); ``posted``: what its rule set is compiled with — ``condition``, or for a rule evaluated in Python
    (``in_python`` says why) the test that its name is in :data:`PYTHON_HELD`."""

    name: str
    rank: int
    condition: dict
    posted: dict
    weight: int
    in_python: str | None = None


@dataclass(frozen=True)
class RuleGroup:
    """The rules of one durable_rules rule set, consecutive in rank order; ``stack_bound``: the most stack entries
    posting a customer to it can take (the catch-all rule's included)."""

    rules: tuple[PlannedRule, ...]
    stack_bound: int


@dataclass(frozen=True)
class EnginePlan:
    groups: tuple[RuleGroup, ...]

    @property
    def rulesets(self) -> tuple[tuple[PlannedRule, ...], ...]:
        return tuple(g.rules for g in self.groups)

    @property
    def rules(self) -> tuple[PlannedRule, ...]:
        return tuple(r for g in self.groups for r in g.rules)

    @property
    def in_python(self) -> tuple[PlannedRule, ...]:
        return tuple(r for r in self.rules if r.in_python is not None)

    @property
    def stack_bound(self) -> int:
        return max((g.stack_bound for g in self.groups), default=1)


def rule_condition(cond: Condition) -> dict:
    """A rule's durable_rules condition: the customer marker and the condition, nested ``$and``/``$or`` flattened
    (the same network for durable_rules, fewer of the expressions it is limited in)."""
    inner = compact(to_durable(cond))
    items = inner["$and"] if set(inner) == {"$and"} else [inner]
    return {"$and": [MARKER, *items]}


def held_test(name: str) -> dict:
    """What durable_rules is given for a rule evaluated in Python: its name is in the fact's :data:`PYTHON_HELD`."""
    return {"$and": [MARKER, {"$iany": {PYTHON_HELD: {"$i": name}}}]}


def compact(c: dict) -> dict:
    """``$and`` directly in ``$and`` and ``$or`` directly in ``$or`` flattened; an ``$and``/``$or`` of one item
    replaced by the item."""
    if set(c) not in ({"$and"}, {"$or"}):
        return c
    (op, items), = c.items()
    flat: list[dict] = []
    for item in items:
        item = compact(item)
        flat.extend(item[op] if set(item) == {op} else [item])
    return flat[0] if len(flat) == 1 else {op: flat}


def expressions(c: dict) -> int:
    """``$and``/``$or`` in a condition: durable_rules compiles at most DURABLE_EXPRESSIONS per rule."""
    if set(c) in ({"$and"}, {"$or"}):
        return 1 + sum(expressions(i) for i in next(iter(c.values())))
    return 0


def plan_engine(ranked: Sequence[RankedRule], limits: PlanLimits = PLAN_LIMITS) -> EnginePlan:
    """The rule sets for ``ranked`` (highest priority first), each within ``limits``."""
    fields = {f for rule in ranked for f in condition_fields(rule.condition)}
    if len(fields) > limits.fact_fields:
        raise ValueError(f"the email rules read {len(fields)} fields; durable_rules takes at most "
                         f"{limits.fact_fields} per customer here")
    planned = [_plan_rule(rank, rule, limits) for rank, rule in enumerate(ranked)]
    groups: list[RuleGroup] = []
    current: list[PlannedRule] = []
    network, bound = _Network(), 1            # the catch-all rule's entry
    for rule in planned:
        journal = network.add(rule.posted)
        if current and (bound + rule.weight > limits.stack or len(current) >= limits.rules
                        or network.over(limits, journal)):
            network.undo(journal)
            groups.append(RuleGroup(tuple(current), bound))
            current, network, bound = [], _Network(), 1
            network.add(rule.posted)
        current.append(rule)
        bound += rule.weight
    if current or not groups:
        groups.append(RuleGroup(tuple(current), bound))
    return EnginePlan(tuple(groups))


def _plan_rule(rank: int, rule: RankedRule, limits: PlanLimits) -> PlannedRule:
    cond = rule_condition(rule.condition)
    alone = _Network()
    alone.add(cond)
    weight = alone.stack_bound()
    why = None
    n_expr = expressions(cond)
    if n_expr > limits.expressions:
        why = (f"its condition makes {n_expr} and/or groups in durable_rules (`ne`, `not_in` and `not:` make some "
               f"too; durable_rules compiles at most {limits.expressions} per rule here)")
    elif 1 + weight > limits.stack:
        why = (f"up to {weight} of its tests can hold at once (durable_rules walks at most {limits.stack - 1} per "
               f"rule set here)")
    else:
        over = alone.worst(limits)
        if over:
            why = over
    if why is None:
        return PlannedRule(rule.name, rank, cond, cond, weight)
    posted = held_test(rule.name)
    return PlannedRule(rule.name, rank, cond, posted, _weight(posted), why)


def _weight(cond: dict) -> int:
    network = _Network()
    network.add(cond)
    return network.stack_bound()


class _Network:
    """The tests durable_rules' rete.c builds for some conditions: ``$and`` chains its items, each ``$or``
    alternative starts from the same parent and ends in a shared "forward" node, equal tests under the same
    parent are one node (``findAlpha``: same field, operator and JSON type and value) except ``$iany``/``$iall``,
    which are never shared. Adding returns a journal with which the addition can be undone."""

    ROOT = 0

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.index: dict[int, dict[tuple, int]] = defaultdict(dict)   # parent -> test key -> node
        self.keys: dict[int, tuple] = {}                               # node -> its test key
        self.present: dict[int, list[int]] = defaultdict(list)        # tests of a value under a node
        self.absent: dict[int, list[int]] = defaultdict(list)         # $nex tests and $or ends (with repeats)
        self.rules_at: dict[int, int] = defaultdict(int)

    def add(self, cond: dict) -> list[tuple]:
        journal: list[tuple] = []
        end = self._build(cond, self.ROOT, journal)
        self.rules_at[end] += 1
        journal.append(("rule", end))
        return journal

    def undo(self, journal: list[tuple]) -> None:
        for entry in reversed(journal):
            if entry[0] == "rule":
                self.rules_at[entry[1]] -= 1
            elif entry[0] == "node":
                _, parent, key, node, where = entry
                del self.index[parent][key]
                (self.present if where == "present" else self.absent)[parent].pop()
            else:   # ("forward", end)
                self.absent[entry[1]].pop()

    def _build(self, c: dict, parent: int, journal: list[tuple]) -> int:
        (op, body), = c.items()
        if op == "$and":
            for item in body:
                parent = self._build(item, parent, journal)
            return parent
        if op == "$or":
            forward = next(self._ids)
            self.keys[forward] = ("$forward",)
            for item in body:
                end = self._build(item, parent, journal)
                self.absent[end].append(forward)
                journal.append(("forward", end))
            return forward
        key = _test_key(op, body)
        if key[0] in ("$iany", "$iall"):
            key = (*key, next(self._ids))          # never shared
        node = self.index[parent].get(key)
        if node is None:
            node = next(self._ids)
            self.index[parent][key] = node
            self.keys[node] = key
            where = "absent" if key[0] == "$nex" else "present"
            (self.absent if where == "absent" else self.present)[parent].append(node)
            journal.append(("node", parent, key, node, where))
        return node

    def stack_bound(self) -> int:
        """The most stack entries the walk of one customer can take (every test that can hold at once does):
        a node's children that can hold together, plus the deepest of them."""
        memo: dict[int, int] = {}
        order = self._postorder()
        for node in order:
            children = self.present.get(node, []) + self.absent.get(node, [])
            if not children:
                memo[node] = 0
                continue
            width = (_can_hold_together([self.keys[c] for c in self.present.get(node, [])])
                     + len(self.absent.get(node, [])))
            memo[node] = max(width, width - 1 + max(memo[c] for c in children))
        return memo.get(self.ROOT, 0)

    def _postorder(self) -> list[int]:
        out: list[int] = []
        seen: set[int] = set()
        stack: list[tuple[int, bool]] = [(self.ROOT, False)]
        while stack:                                   # iterative: no recursion limit on deep conditions
            node, done = stack.pop()
            if done:
                out.append(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            stack.append((node, True))
            for child in self.present.get(node, []) + self.absent.get(node, []):
                if child not in seen:
                    stack.append((child, False))
        return out

    def over(self, limits: PlanLimits, journal: list[tuple]) -> bool:
        """Whether a node the journal's addition touched has more under it than ``limits`` allow."""
        touched = {e[1] for e in journal}
        return any(self._over_at(n, limits) for n in touched)

    def worst(self, limits: PlanLimits) -> str | None:
        """What the whole network has beyond ``limits`` under one node, in words, or None."""
        for node in set(self.present) | set(self.absent) | set(self.rules_at):
            found = self._over_at(node, limits)
            if found:
                return found
        return None

    def _over_at(self, node: int, limits: PlanLimits) -> str | None:
        if len(self.present.get(node, ())) > limits.children:
            return (f"{len(self.present[node])} different tests side by side, e.g. the values of an in: list "
                    f"(durable_rules takes at most {limits.children} here)")
        if len(self.absent.get(node, ())) > limits.absent_children:
            return (f"{len(self.absent[node])} 'has no value' tests and any: alternatives side by side "
                    f"(durable_rules takes at most {limits.absent_children} here)")
        if self.rules_at.get(node, 0) > limits.rules_per_test:
            return f"{self.rules_at[node]} rules with the same condition (at most {limits.rules_per_test} here)"
        return None


def _test_key(op: str, body: Any) -> tuple:
    """A single test as durable_rules tells tests apart: operator, field, JSON type and value."""
    if not op.startswith("$"):                 # {field: value} is equality
        return ("$eq", op, type(body).__name__, _json_value(body))
    (field, value), = body.items()
    return (op, field, type(value).__name__, _json_value(value))


def _json_value(v: Any) -> Any:
    return repr(v) if isinstance(v, (dict, list)) else v


def _can_hold_together(keys: list[tuple]) -> int:
    """How many of these tests (under one node) can hold for one customer: all of them, except that equality
    tests on one field hold for one value only (numbers compared by value, so 5 and 5.0 are one value)."""
    others = 0
    equal: dict[str, dict[Any, int]] = defaultdict(lambda: defaultdict(int))
    for key in keys:
        op, field, kind, value = key[:4]
        if op != "$eq":
            others += 1
        elif kind in ("int", "float"):
            equal[field][("number", float(value))] += 1
        else:
            equal[field][(kind, value)] += 1
    return others + sum(max(values.values()) for values in equal.values())


def python_holds(cond: dict, fact: dict[str, Any]) -> bool:
    """Whether a durable_rules condition (:func:`rule_condition`) holds for a fact, evaluated in Python the way
    durable_rules does: a test on a field the fact does not have never holds, except ``$nex``."""
    (op, body), = cond.items()
    if op == "$and":
        return all(python_holds(item, fact) for item in body)
    if op == "$or":
        return any(python_holds(item, fact) for item in body)
    if not op.startswith("$"):
        op, body = "$eq", {op: body}
    (field, value), = body.items()
    if op == "$nex":
        return field not in fact
    if field not in fact:
        return False
    x = fact[field]
    if op == "$ex":
        return True
    if op in ("$iany", "$iall"):
        if not isinstance(x, list) or not x:
            return False
        (item_op, item), = value.items()
        want = item["$i"] if item_op == "$neq" else item
        test = (lambda i: not _same(i, want)) if item_op == "$neq" else (lambda i: _same(i, want))
        return any(map(test, x)) if op == "$iany" else all(map(test, x))
    if op == "$eq":
        return _same(x, value)
    if op == "$neq":
        return not _same(x, value)
    if isinstance(x, (bool, str)) or isinstance(value, (bool, str)):
        return False
    return {"$gt": x > value, "$gte": x >= value, "$lt": x < value, "$lte": x <= value}[op]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b
