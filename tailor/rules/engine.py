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
* The engine's JSON parser rejects exponent notation and the ``id``/``sid`` keys are its own: facts carry only
  the fields the rules use, missing values and empty lists are omitted, numbers go through
  :func:`tailor.rules.durable.json_number`, datetimes become epoch seconds (:mod:`tailor.rules.facts`); rules may
  not read the reserved keys (:data:`tailor.rules.durable.RESERVED_FIELDS`).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

from durable.engine import Host, MessageNotHandledException

from tailor.rules.condition import Condition
from tailor.rules.durable import FACT_MARKER, FACT_MARKER_VALUE, to_durable


class RankedRule(Protocol):
    """What the engine needs of a rule (tailor.rules.ruleset.EmailRule): its name and condition."""

    name: str
    condition: Condition

_CATCH_ALL = "__tailor_catch_all__"


class _SyncHost(Host):
    """A durable_rules Host without the background dispatch/timer threads: everything here is synchronous."""

    def _run(self) -> None:  # noqa: D401 - overriding the thread starter
        return None


class CompiledRules:
    """One private host + one uniquely named ruleset per compiled rule set."""

    def __init__(self, ranked: Sequence[RankedRule]):
        self.name = f"tailor_email_{uuid.uuid4().hex}"
        self._fired: list[str] = []
        self._lock = threading.Lock()
        self._sid = 0
        marker = {FACT_MARKER: FACT_MARKER_VALUE}
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
                    fact = {**fact, FACT_MARKER: FACT_MARKER_VALUE, "sid": sid}
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
