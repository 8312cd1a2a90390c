"""Email decisions: one ``email_decisions`` row per customer, from the rules of ``rules/email_rules.yaml``.

How a decision is made for one customer (the rule file is read by :mod:`tailor.rules.email_rules`):

1. The customer's fields are posted as a *fact* to a private durable_rules host (:mod:`tailor.rules.engine`);
   every rule whose condition holds fires (firing order: highest priority first).
2. Resolution (:meth:`tailor.rules.ruleset.EmailRuleSet.resolve`): start from ``defaults``; apply the fired rules
   from the lowest priority to the highest, so the highest-priority rule's settings win wherever it sets
   something. ``reason`` is ``rule:<highest fired>`` or ``no_rule_matched``. The experiment of the
   highest-priority fired rule that has one applies: the customer's sticky variant's settings go on top of that
   rule's ``then``; holdout customers get ``send = False``, ``holdout:<name>``.
3. Gates, after the rules: no email -> ``no_email``; suppressed -> ``suppressed:<reason>``; no marketing
   consent -> ``no_consent``; each forces ``send = False`` (``rules_fired`` is kept for provenance).
4. Provenance per row: ``rules_fired``, ``rule_file_hash``, ``facts_used`` (the values of exactly the fields the
   rules read, :mod:`tailor.rules.provenance`), ``experiment``/``variant``.

A customer whose ``personalization_consent`` is not true is never posted: the defaults, reason
``no_personalization_consent``, no rule fired, ``facts_used`` = ``{}`` (the gates of step 3 still apply first).

Large inputs are decided on several processes (:func:`decide`, :func:`decision_pool`): durable_rules state is
per process and not thread-safe. Workers come from a fork server, so a script calling :func:`decide` on a large
frame needs the usual ``if __name__ == "__main__":`` guard (Dagster's and tailor's entry points have it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tailor.clock import utc_naive
from tailor.config import setting
from tailor.lazy_imports import LazyModule
from tailor.rules.decisions_schema import (
    EMAIL_DECISIONS_COLUMNS,
    PERSONALIZATION_CONSENT,
    REASON_NO_CONSENT,
    REASON_NO_EMAIL,
    REASON_NO_PERSONALIZATION,
    REASON_SUPPRESSED_PREFIX,
)
from tailor.rules.durable import FACT_MARKER, FACT_MARKER_VALUE
from tailor.rules.facts import facts_with
from tailor.rules.provenance import facts_used
from tailor.rules.ruleset import EmailRuleSet, Resolution
from tailor.warehouse.cells import is_missing, is_true
from tailor.warehouse.json_lists import COMPACT_JSON

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ProcessPoolExecutor

    import numpy as np
    import pandas as pd
else:
    np = LazyModule("numpy", globals(), "np")
    pd = LazyModule("pandas", globals(), "pd")


_GATE_COLUMNS = ("customer_id", "email", "marketing_consent", "suppressed_reason")


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
    return np.fromiter((is_true(v) for v in customers[PERSONALIZATION_CONSENT].tolist()), dtype=bool,
                       count=len(customers))


def decision_workers() -> int:
    """How many processes :func:`decide` uses by default: the setting ``TAILOR_DECISION_WORKERS``, else the CPUs
    this process may run on."""
    import os

    raw = setting("TAILOR_DECISION_WORKERS").strip()
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
    :func:`tailor.rules.facts.build_decision_input`).

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
    from concurrent.futures.process import BrokenProcessPool  # here: `tailor rules check` needs no multiprocessing

    with decision_pool(ruleset, n_workers) as pool:
        try:
            for part in pool.map(_decide_chunk, chunks):    # in input order
                for name in _VARYING:
                    columns[name].extend(part[name])
        except BrokenProcessPool as exc:
            raise RuntimeError(_worker_died(pool, n_workers, exc)) from exc
    return _decisions_frame(ids, columns, ruleset, decided_at)


def _worker_died(pool: ProcessPoolExecutor, n_workers: int, exc: BaseException) -> str:
    """What to say when a decision worker process ended without an answer (durable_rules crashed in it, it ran
    out of memory, it was killed): its exit code, so that the run fails with the cause instead of hanging."""
    import signal

    processes = list((getattr(pool, "_processes", None) or {}).values())
    codes = [p.exitcode for p in processes if p.exitcode not in (None, 0, -signal.SIGTERM)]
    if not codes:   # the pool terminated the others; or the code is not known
        codes = [p.exitcode for p in processes if p.exitcode not in (None, 0)]

    def said(code: int) -> str:
        if code < 0:
            try:
                return f"killed by signal {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"

    how = ", ".join(dict.fromkeys(said(c) for c in codes)) or "exit code unknown"
    return (f"a decision worker process died ({how}) while deciding the email rules on {n_workers} processes, so no "
            f"decision was written; the worker's own output, above, may say why (e.g. durable_rules crashing) "
            f"[{type(exc).__name__}: {exc}]")


def decision_pool(ruleset: EmailRuleSet, workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` processes that each hold ``ruleset`` compiled once (in :data:`_WORKER_RULESET`).

    Processes come from a fork server preloaded with numpy, pandas, durable_rules and this module: forking a
    process that runs threads (Dagster's does) is unsafe, and spawning would import pandas in every worker
    (~2 s on a small machine). The fork server starts once per parent process (~2 s), workers then in ms.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor  # here: `tailor rules check` does without multiprocessing

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
        facts_with(personal, names_read, ruleset.fields, {FACT_MARKER: FACT_MARKER_VALUE}), owned=True)
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
        elif not is_missing(s) and str(s).strip():
            send[i], reason[i] = False, f"{REASON_SUPPRESSED_PREFIX}{str(s).strip()}"
        elif not is_true(consent[i]):   # only an explicit true is consent
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
        encode = COMPACT_JSON.encode
        hit = cache[(names, variant)] = (res.subject, encode(res.blocks), encode(res.params), encode(list(res.rules_fired)))
    return hit
