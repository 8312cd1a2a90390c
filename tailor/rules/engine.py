"""The durable_rules side of the email rules: one private, synchronous host per compiled rule set.

durable_rules 2.0.28 notes (all handled here, see tests/rules/test_decisions.py):

* Facts are posted with ``assert_fact`` and their state is ALWAYS deleted afterwards (the state pool is
  fixed-size). Each rule's condition is ANDed with a marker only customer facts carry, so no rule can ever
  match the engine's own state object (``top_category: {is_null: true}`` alone would, and re-fire forever), and
  a lowest-priority catch-all rule makes every fact "handled": deleting the state of a never-handled first
  fact corrupts the engine's memory (segfault), so that path is never taken.
* :class:`_SyncHost` does not start ``Host``'s two background dispatch threads (they poll every 0.2 s forever,
  for every host created, and could run actions outside our synchronous call).
* A rule whose condition has alternatives (``any``, or ``not`` over ``all``) fires once per alternative a
  fact matches; each rule is recorded once.
* Its limits (tailor.rules.limits) are never reached: the rules are cut into several rule sets, each posted the
  customer in turn, and conditions too large for any are evaluated in Python (:mod:`tailor.rules.engine_plan`).
  Should durable_rules still fail on a customer, its state is NOT deleted (deleting the state of a failed post
  corrupts its memory: ``free(): invalid pointer``, exit 134) and the engine is discarded: it raises, and the
  rule set compiles a fresh one next time.
* The engine's JSON parser rejects exponent notation and the ``id``/``sid`` keys are its own: facts carry only
  the fields the rules use, missing values and empty lists are omitted, numbers go through
  :func:`tailor.rules.durable.json_number`, datetimes become epoch seconds (:mod:`tailor.rules.facts`); rules may
  not read the reserved keys (:data:`tailor.rules.durable.RESERVED_FIELDS`).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from durable.engine import Host, MessageNotHandledException

from tailor.rules.durable import FACT_MARKER, FACT_MARKER_VALUE, PYTHON_HELD
from tailor.rules.engine_plan import EnginePlan, RankedRule, plan_engine, python_holds
from tailor.rules.limits import (
    DURABLE_ABSENT_CHILDREN,
    DURABLE_EXPRESSIONS,
    DURABLE_FACT_KEYS,
    DURABLE_RULES,
    DURABLE_RULES_PER_TEST,
    DURABLE_STACK,
    PLAN_LIMITS,
    PlanLimits,
)

__all__ = ["CompiledRules", "RankedRule"]

_CATCH_ALL = "__tailor_catch_all__"

#: What durable_rules' error codes mean (rules.h), for messages.
_ERRORS = {
    106: "more rules or tests under one test than it takes",
    107: f"more than {DURABLE_ABSENT_CHILDREN} 'has no value' tests or any: alternatives under one test",
    108: f"more than {DURABLE_RULES_PER_TEST} rules ending on one test",
    113: f"more than {DURABLE_EXPRESSIONS} all/any in one rule",
    302: f"more than {DURABLE_FACT_KEYS} keys in one customer",
    303: f"more tests holding at once than its stack takes (at most {DURABLE_STACK})",
    313: "a customer larger than it takes",
    314: "a value larger than it takes (16 MB)",
}


def _meaning(exc: Exception) -> str:
    found = re.search(r"error code: (\d+)", str(exc))
    code = int(found.group(1)) if found else None
    return f"error {code}: {_ERRORS.get(code, 'see durable_rules rules.h')}" if code else str(exc)


class _SyncHost(Host):
    """A durable_rules Host without the background dispatch/timer threads: everything here is synchronous."""

    def _run(self) -> None:  # noqa: D401 - overriding the thread starter
        return None


class CompiledRules:
    """One private host with the rule sets of :func:`tailor.rules.engine_plan.plan_engine` (usually one)."""

    def __init__(self, ranked: Sequence[RankedRule], *, limits: PlanLimits = PLAN_LIMITS):
        self.name = f"tailor_email_{uuid.uuid4().hex}"
        self.plan: EnginePlan = plan_engine(ranked, limits)
        self._fired: list[str] = []
        self._lock = threading.Lock()
        self._sid = 0
        #: why this engine may not be used any more (durable_rules failed on a customer), else None
        self.broken: str | None = None
        self._in_python = tuple((r.name, r.condition) for r in self.plan.in_python)
        marker = {FACT_MARKER: FACT_MARKER_VALUE}
        rulesets: dict[str, dict[str, Any]] = {}
        for g, group in enumerate(self.plan.groups):
            definition: dict[str, Any] = {}
            for rule in group.rules:      # durable_rules runs lower `pri` first
                definition[rule.name] = {"all": [{"m": rule.posted}], "pri": rule.rank + 1,
                                         "run": self._recorder(rule.name)}
            definition[_CATCH_ALL] = {"all": [{"m": marker}], "pri": DURABLE_RULES * 1000, "run": _ignore}
            rulesets[self.name if g == 0 else f"{self.name}_{g}"] = definition
        self.ruleset_names = tuple(rulesets)
        self.definition_json = json.dumps({name: {k: {kk: vv for kk, vv in v.items() if kk != "run"}
                                                  for k, v in definition.items()}
                                           for name, definition in rulesets.items()}, ensure_ascii=False)
        self.host = _SyncHost()
        try:
            self.host.register_rulesets(rulesets)
        except Exception as exc:   # the plan keeps within the limits: a bug, said as such
            raise RuntimeError(f"durable_rules could not compile the email rules ({_meaning(exc)}) although they "
                               f"were cut into {len(rulesets)} rule set(s) within its limits") from exc

    def _recorder(self, name: str):
        fired = self._fired

        def record(c: Any) -> None:
            # a condition with `any`/`not` is expanded by durable_rules into several alternatives, and a fact
            # matching two of them runs the action twice: record each rule once
            if name not in fired:
                fired.append(name)

        return record

    def fire_many(self, facts: Sequence[dict[str, Any]], *, owned: bool = False) -> list[tuple[str, ...]]:
        """Post each fact to each rule set, each time in its own session (state deleted afterwards); the rules that
        fired, highest priority first. ``owned``: the facts already carry the marker and are ours to change (the
        session id is set in place instead of copying every fact)."""
        out: list[tuple[str, ...]] = []
        host, names, fired, in_python = self.host, self.ruleset_names, self._fired, self._in_python
        with self._lock:
            if self.broken is not None:
                raise RuntimeError(self.broken)
            for fact in facts:
                if not owned:
                    fact = {**fact, FACT_MARKER: FACT_MARKER_VALUE}
                if in_python:
                    fact.pop(PYTHON_HELD, None)
                    held = [name for name, cond in in_python if python_holds(cond, fact)]
                    if held:
                        fact[PYTHON_HELD] = held
                fired.clear()
                for name in names:
                    self._sid += 1
                    sid = fact["sid"] = str(self._sid)
                    try:
                        host.assert_fact(name, fact)
                    except MessageNotHandledException:
                        pass   # no rule matched (cannot happen with the catch-all, kept as a safety net)
                    except Exception as exc:
                        # never delete the state of a failed post: that corrupts durable_rules' memory
                        self.broken = (f"durable_rules failed on a customer ({_meaning(exc)}; fields: "
                                       f"{sorted(k for k in fact if k != 'sid')}); this engine is discarded")
                        raise RuntimeError(self.broken) from exc
                    host.delete_state(name, sid)
                out.append(tuple(fired))
        return out


def _ignore(c: Any) -> None:
    return None
