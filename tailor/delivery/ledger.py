"""Send ledger: makes email sends idempotent by ``message_key`` (sqlite3, stdlib).

Protocol, per batch of messages (claim-before-send, i.e. **at-most-once**)::

    claimed = ledger.claim_many(rows)   # ONE transaction, committed before anything is sent
    ...                                 # send the claimed keys only: any other key is already sent, or
                                        # claimed by an in-flight / crashed attempt
    ledger.record_outcomes(sent=..., failed=..., uncertain=...)   # ONE transaction

Why claim first: if we sent first and recorded afterwards, a crash (or kill, OOM, deploy) between the
provider accepting the message and the ledger write would leave no trace, and the next run would send the
same email again. Claiming first turns that window into the opposite, safer failure: a crash after the claim
leaves the row in status ``claimed`` and the email is never sent automatically again. Such rows (the email
may or may not have gone out) need a human: list them with :meth:`SendLedger.stale_claims`, check the
provider (SendGrid Activity / the outbox folder), then resolve with :meth:`mark_sent` or :meth:`mark_failed`
(which makes the key claimable again).

Statuses: ``claimed`` (reserved / in flight / unresolved), ``sent``, ``failed`` (definitely not sent;
re-claimable). ``sent`` is final: nothing downgrades it. One transaction per batch is one fsync per batch,
not two per message.

Concurrency: each ``SendLedger`` keeps ONE sqlite connection (opened lazily, guarded by a lock, so one
instance may be shared by threads; a forked child opens its own). Claims are UPSERT statements inside a
``BEGIN IMMEDIATE`` transaction, so two processes (or threads) claiming the same key cannot both win. The
database uses WAL journaling, ``synchronous=FULL`` (a committed claim survives a power cut) and a busy
timeout so concurrent writers wait instead of failing. Keep the file on a local disk (sqlite locking is
unreliable on network file systems).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

CLAIMED = "claimed"
SENT = "sent"
FAILED = "failed"
STATUSES = (CLAIMED, SENT, FAILED)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS email_send_ledger (
    message_key          TEXT PRIMARY KEY,
    campaign_id          TEXT NOT NULL,
    customer_id          TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('claimed', 'sent', 'failed')),
    provider             TEXT,
    provider_message_id  TEXT,
    error                TEXT,
    attempts             INTEGER NOT NULL DEFAULT 1,
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS email_send_ledger_status ON email_send_ledger (status, updated_at);
"""


# One statement = one atomic decision. New key -> inserted as 'claimed'. Existing key -> re-claimed only
# when its last attempt definitely failed; 'claimed' and 'sent' rows are left untouched (0 rows changed).
_CLAIM = """
INSERT INTO email_send_ledger
    (message_key, campaign_id, customer_id, status, attempts, created_at, updated_at)
VALUES (?, ?, ?, 'claimed', 1, ?, ?)
ON CONFLICT (message_key) DO UPDATE SET
    status = 'claimed', error = NULL, provider = NULL, provider_message_id = NULL,
    attempts = email_send_ledger.attempts + 1, updated_at = excluded.updated_at
WHERE email_send_ledger.status = 'failed'
"""


_MARK_SENT = ("UPDATE email_send_ledger SET status = 'sent', provider = ?, provider_message_id = ?, error = NULL,"
              " updated_at = ? WHERE message_key = ?")
_MARK_FAILED = ("UPDATE email_send_ledger SET status = 'failed', error = ?, provider = COALESCE(?, provider),"
                " updated_at = ? WHERE message_key = ? AND status = 'claimed'")
_MARK_UNCERTAIN = ("UPDATE email_send_ledger SET error = ?, provider = COALESCE(?, provider), updated_at = ?"
                   " WHERE message_key = ? AND status = 'claimed'")


_SELECT = ("SELECT message_key, campaign_id, customer_id, status, provider, provider_message_id, error,"
           " attempts, created_at, updated_at FROM email_send_ledger")
_MAX_PARAMS = 500  # keys per "IN (...)" query; well under sqlite's host-parameter limit

# Connections inherited through fork() must never be used or closed in the child (closing one would drop
# the child's own POSIX locks on the file). The child parks them here, so the GC never closes them.
_INHERITED: list[sqlite3.Connection] = []
# The ledgers of this process: a forked child makes each of them forget the parent's connection.
_LIVE: weakref.WeakSet[SendLedger] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for ledger in list(_LIVE):
        ledger._guard()


def _utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(ts: datetime) -> str:
    if ts.tzinfo is not None:
        ts = ts.astimezone(timezone.utc).replace(tzinfo=None)
    return ts.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class LedgerEntry:
    message_key: str
    campaign_id: str
    customer_id: str
    status: str
    provider: str | None
    provider_message_id: str | None
    error: str | None
    attempts: int
    created_at: datetime  # UTC, naive
    updated_at: datetime  # UTC, naive


@dataclass(frozen=True)
class Recorded:
    """Keys whose row :meth:`SendLedger.record_outcomes` changed, per outcome."""

    sent: frozenset[str]
    failed: frozenset[str]
    uncertain: frozenset[str]


class SendLedger:
    """Idempotency ledger for email sends, stored in a sqlite file at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._open()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
        _LIVE.add(self)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None,
                               check_same_thread=False)  # shared by threads; every use holds self._lock
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")  # a 'claimed'/'sent' row must survive a power cut
        return conn

    def _guard(self) -> threading.RLock:
        """The lock to hold while using the connection. In a forked child, first forget the parent's
        connection (never use or close it there) and its lock (another thread may have held it)."""
        if self._pid != os.getpid():
            if self._conn is not None:
                _INHERITED.append(self._conn)
            self._conn, self._pid, self._lock = None, os.getpid(), threading.RLock()
        return self._lock

    def _connection(self) -> sqlite3.Connection:
        """The instance's one connection, opened on first use (caller holds ``self._guard()``)."""
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock up front (waiting up to the busy
        timeout), so the statements inside cannot fail half-way on a lock upgrade; one commit = one fsync."""
        with self._guard():
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, params: tuple | list = ()) -> list[tuple]:
        with self._guard():
            return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the connection (it is reopened on next use)."""
        with self._guard():
            if self._conn is not None:
                self._conn.close()
            self._conn = None

    def __enter__(self) -> "SendLedger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict:  # copy / pickle without the connection or the lock
        return {"path": self.path, "busy_timeout_seconds": self.busy_timeout_seconds}

    def __setstate__(self, state: dict) -> None:
        self.path, self.busy_timeout_seconds = state["path"], state["busy_timeout_seconds"]
        self._lock, self._conn, self._pid = threading.RLock(), None, os.getpid()
        _LIVE.add(self)

    def claim_many(self, rows: Iterable[tuple[str, str, str]], now: datetime | None = None) -> set[str]:
        """Atomically reserve many ``(message_key, campaign_id, customer_id)`` in ONE transaction.

        Returns exactly the keys this call claimed (new keys, and ``failed`` keys with attempts + 1). Keys
        that are ``sent`` or ``claimed`` (including a key repeated within ``rows``) are left alone and are not
        in the result. All or nothing: if the transaction fails, nothing is claimed and the error is raised.
        """
        ts = _iso(now or _utcnow())
        claimed: set[str] = set()
        with self._transaction() as conn:
            for message_key, campaign_id, customer_id in rows:
                if conn.execute(_CLAIM, (message_key, campaign_id, customer_id, ts, ts)).rowcount == 1:
                    claimed.add(message_key)
        return claimed

    def record_outcomes(
        self,
        sent: Iterable[tuple[str, str, str | None]] = (),
        failed: Iterable[tuple[str, str, str | None]] = (),
        uncertain: Iterable[tuple[str, str, str | None]] = (),
        now: datetime | None = None,
    ) -> Recorded:
        """Record many send results in ONE transaction (one fsync).

        * ``sent``: ``(message_key, provider, provider_message_id)`` -> ``sent`` (final), as :meth:`mark_sent`;
        * ``failed``: ``(message_key, error, provider)`` -> ``failed`` (re-claimable), only from ``claimed``;
        * ``uncertain``: ``(message_key, error, provider)`` -> stays ``claimed`` with the error noted.
        """
        ts = _iso(now or _utcnow())
        done: dict[str, set[str]] = {"sent": set(), "failed": set(), "uncertain": set()}
        with self._transaction() as conn:
            for key, provider, provider_message_id in sent:
                if conn.execute(_MARK_SENT, (provider, provider_message_id, ts, key)).rowcount == 1:
                    done["sent"].add(key)
            for name, sql, items in (("failed", _MARK_FAILED, failed), ("uncertain", _MARK_UNCERTAIN, uncertain)):
                for key, error, provider in items:
                    if conn.execute(sql, (error, provider, ts, key)).rowcount == 1:
                        done[name].add(key)
        return Recorded(frozenset(done["sent"]), frozenset(done["failed"]), frozenset(done["uncertain"]))

    def mark_sent(self, message_key: str, provider: str, provider_message_id: str | None,
                  now: datetime | None = None) -> None:
        """Record that the provider accepted the message. Final; resolves a stale claim by hand."""
        if not self.record_outcomes(sent=[(message_key, provider, provider_message_id)], now=now).sent:
            raise KeyError(f"send ledger {self.path}: message_key {message_key!r} was never claimed")

    def mark_failed(self, message_key: str, error: str, provider: str | None = None,
                    now: datetime | None = None) -> bool:
        """Record that the message was definitely NOT sent (by hand, after checking the provider); the key may
        be claimed again. Only a ``claimed`` row changes; a ``sent`` row is never downgraded (returns False).
        """
        return bool(self.record_outcomes(failed=[(message_key, error, provider)], now=now).failed)

    def status(self, message_key: str) -> str | None:
        """'claimed' | 'sent' | 'failed', or None for an unknown key."""
        entry = self.get(message_key)
        return entry.status if entry else None

    def get(self, message_key: str) -> LedgerEntry | None:
        rows = self._select("WHERE message_key = ?", (message_key,))
        return rows[0] if rows else None

    def get_many(self, message_keys: Iterable[str]) -> dict[str, LedgerEntry]:
        """Entries for the given keys (unknown keys are absent), a few queries of <= 500 keys each."""
        keys = list(dict.fromkeys(message_keys))
        found: dict[str, LedgerEntry] = {}
        for start in range(0, len(keys), _MAX_PARAMS):
            part = keys[start:start + _MAX_PARAMS]
            for entry in self._select(f"WHERE message_key IN ({', '.join('?' * len(part))})", tuple(part)):
                found[entry.message_key] = entry
        return found

    def stale_claims(self, older_than: timedelta = timedelta(minutes=15),
                     now: datetime | None = None) -> list[LedgerEntry]:
        """Rows still ``claimed`` whose last update is older than ``older_than``: crashed or uncertain
        sends that need manual review (check the provider, then mark_sent / mark_failed)."""
        cutoff = _iso((now or _utcnow()) - older_than)
        return self._select("WHERE status = 'claimed' AND updated_at < ? ORDER BY updated_at", (cutoff,))

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) FROM email_send_ledger GROUP BY status")
        return {status: 0 for status in STATUSES} | dict(rows)

    def _select(self, where: str, params: tuple) -> list[LedgerEntry]:
        rows = self._read(f"{_SELECT} {where}", params)
        return [
            LedgerEntry(*row[:8], created_at=datetime.fromisoformat(row[8]), updated_at=datetime.fromisoformat(row[9]))
            for row in rows
        ]


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
