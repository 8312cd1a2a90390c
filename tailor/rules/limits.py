"""Every limit of the rule files and of the rules engine, in one place (docs/rules.md, "Limits").

Two kinds:

* **Rule files** (``rules/segments.yaml``, ``rules/email_rules.yaml``, the case files): how big a file may be, how
  deeply it may nest, how far its YAML aliases may expand, how many rules, segments and tests it may have. A file
  past one of them is refused — by ``tailor rules check`` and by the pipeline alike — with ``file:line``, what
  was counted and the limit. They keep reading and checking a file fast and bounded on any input.
* **durable_rules 2.0.28**, measured (tests/rules/test_engine_limits.py reproduces each): the engine does not
  check most of them safely, it crashes, hangs or fails on the customer. Rule files never run into them:
  :mod:`tailor.rules.engine_plan` splits the rules over several rule sets and evaluates in Python the conditions
  too large for one (the ``PLAN_*`` numbers, with a margin below the measured ones).

Standard library only: ``tailor rules check`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- rule files ------------------------------------------------------------------------------------------------

#: Bytes of one rule file (the shipped email rules are about 4 KB).
MAX_FILE_BYTES = 1_000_000
#: Lines of one rule file.
MAX_FILE_LINES = 20_000
#: YAML values (each mapping, list and single value) of one file once its aliases (``*name``) are expanded:
#: a few hundred bytes of nested aliases otherwise expand to millions (the shipped files have about 200).
MAX_YAML_VALUES = 100_000
#: How deeply lists and mappings may nest (the shipped files nest 6 deep).
MAX_YAML_DEPTH = 50
#: Entries of ``rules:`` in an email rule file (switched-off rules included).
MAX_RULES = 500
#: Entries of ``segments:`` in a segments file.
MAX_SEGMENTS = 200
#: Tests in one ``when:`` (each field test counts one, each value of an ``in:``/``not_in:`` list and each segment
#: of an ``in_segment:`` list one more after the first), after aliases are expanded.
MAX_CONDITION_TESTS = 1_000
#: Tests in all the ``when:`` of one file together.
MAX_FILE_TESTS = 10_000
#: Steps the search for "rules that can never change an email" (``tailor rules check``) may take; past it the
#: search stops, and check says which rules it did not look at (a note, not a problem).
MAX_REACHABILITY_STEPS = 1_000_000

# --- durable_rules 2.0.28, as measured --------------------------------------------------------------------------

#: Tests that can be pending at once while one customer is posted (the engine's walk has a stack of 64 entries):
#: 65 rules with different conditions that all hold, 65 ``in_segment`` rules on a segment the customer is in, or an
#: ``any:`` with 65 alternatives that hold make it fail with error 303, and deleting that customer's state then
#: aborts the process (``free(): invalid pointer`` / ``munmap_chunk(): invalid pointer``, exit 134) or segfaults.
DURABLE_STACK = 64
#: ``$and``/``$or`` in one rule's condition (error 113 when compiling: a 729-test alias tree, 16 nested all/any).
DURABLE_EXPRESSIONS = 15
#: Different tests directly under one test (e.g. an ``in:`` list of 512 values): at 512 compiling never ends.
DURABLE_CHILDREN = 511
#: "Has no value" tests and ``any:`` ends directly under one test (error 107 from 129).
DURABLE_ABSENT_CHILDREN = 128
#: Rules ending on the same test — e.g. with the same condition (error 108 from 257).
DURABLE_RULES_PER_TEST = 256
#: Keys of one posted customer, its session and message ids included (error 302 from 255).
DURABLE_FACT_KEYS = 254
#: Rules of one rule set (error 106; from durable_rules' source, MAX_ACTIONS).
DURABLE_RULES = 4096


@dataclass(frozen=True)
class PlanLimits:
    """What one compiled durable_rules rule set may hold (see :mod:`tailor.rules.engine_plan`)."""

    #: worst-case pending tests while posting a customer (sum over the rule set's rules, see engine_plan)
    stack: int = 48
    #: ``$and``/``$or`` of one rule's condition; more: the condition is evaluated in Python
    expressions: int = 12
    #: different tests under one test
    children: int = 384
    #: "has no value" tests and ``any:`` ends under one test
    absent_children: int = 96
    #: rules ending on one test
    rules_per_test: int = 192
    #: rules of one rule set
    rules: int = 1000
    #: fields one customer may carry (the field catalog has about 70)
    fact_fields: int = 200


#: The limits Tailor compiles rule sets within: each a margin below durable_rules' measured ones.
PLAN_LIMITS = PlanLimits()
PLAN_STACK = PLAN_LIMITS.stack
