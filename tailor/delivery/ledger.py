"""Send ledger: makes email sends idempotent by ``message_key`` and by (campaign, recipient) (sqlite3, stdlib).

Protocol, per batch of messages (claim-before-send, i.e. **at-most-once**)::

    claims = ledger.claim_chunk(rows, provider=...)   # ONE transaction, committed before anything is sent
    ...                                 # send claims.claimed only: any other key is already sent, claimed by an
                                        # in-flight / crashed attempt, or its campaign went to that address
    ledger.record_outcomes(sent=..., failed=..., uncertain=...)   # ONE transaction

Why claim first: if we sent first and recorded afterwards, a crash (or kill, OOM, deploy) between the
provider accepting the message and the ledger write would leave no trace, and the next run would send the
same email again. Claiming first turns that window into the opposite, safer failure: a crash after the claim
leaves the row in status ``claimed`` and the email is never sent automatically again. Such rows (the email
may or may not have gone out) need a human: list them with :meth:`SendLedger.stale_claims`, check the
provider (SendGrid Activity / the outbox folder), then resolve with :meth:`mark_sent` or :meth:`mark_failed`
(which makes the key claimable again).

Per recipient: a claim carries the recipient address, kept as a keyed hash (``recipient``; why and where the key
lives: :mod:`tailor.delivery.ledger_files`). Inside the same claim transaction, a key whose campaign already has
a ``claimed`` or ``sent`` row for that recipient under another key is refused (:attr:`Claims.same_recipient`
names the earlier key), so a person whose customer id changed, or two customers sharing one address, get a
campaign once. Rows written before this guard existed have no ``recipient`` and are guarded by key only.

Statuses: ``claimed`` (reserved / in flight / unresolved), ``sent``, ``failed`` (definitely not sent;
re-claimable). ``sent`` is final: nothing downgrades it. One transaction per batch is one fsync per batch,
not two per message. A claim records its provider and its process (``claimed_by``, ``<host>:<pid>``), so a
claim left by a killed process can be told from one in flight (:meth:`SendLedger.abandoned_claims`,
:meth:`SendLedger.unresolved_claims`).

Concurrency: each ``SendLedger`` keeps ONE sqlite connection (opened lazily, guarded by a lock, so one
instance may be shared by threads; a forked child opens its own). Claims are UPSERT statements inside a
``BEGIN IMMEDIATE`` transaction, so two processes (or threads) claiming the same key cannot both win. The
database uses WAL journaling, ``synchronous=FULL`` (a committed claim survives a power cut) and a busy
timeout so concurrent writers wait instead of failing. Keep the file on a local disk (sqlite locking is
unreliable on network file systems).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tailor.delivery.ledger_files import (
    LedgerKeyError,
    key_id,
    key_path,
    make_private,
    read_or_create_key,
    recipient_hash,
)

__all__ = ["CLAIMED", "FAILED", "SENT", "STATUSES", "Claims", "LedgerEntry", "LedgerKeyError", "Recorded",
           "SendLedger"]

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
    updated_at           TEXT NOT NULL,
    recipient            TEXT,
    claimed_by           TEXT
);
CREATE INDEX IF NOT EXISTS email_send_ledger_status ON email_send_ledger (status, updated_at);
CREATE TABLE IF NOT EXISTS email_send_ledger_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added since the first ledger files (migrated in place by ALTER TABLE on open).
#   recipient:  HMAC of the normalised recipient address; NULL on rows claimed before the per-recipient guard.
#   claimed_by: "<host>:<pid>" of the process that claimed the row last; NULL on older rows.
_ADDED_COLUMNS = {"recipient": "TEXT", "claimed_by": "TEXT"}
_RECIPIENT_INDEX = ("CREATE INDEX IF NOT EXISTS email_send_ledger_recipient"
                    " ON email_send_ledger (campaign_id, recipient)")


# One statement = one atomic decision. New key -> inserted as 'claimed'. Existing key -> re-claimed only
# when its last attempt definitely failed; 'claimed' and 'sent' rows are left untouched (0 rows changed).
# The provider is recorded at the claim, so that a crashed claim says who may have sent it.
_CLAIM = """
INSERT INTO email_send_ledger
    (message_key, campaign_id, customer_id, status, provider, attempts, created_at, updated_at, recipient,
     claimed_by)
VALUES (?, ?, ?, 'claimed', ?, 1, ?, ?, ?, ?)
ON CONFLICT (message_key) DO UPDATE SET
    status = 'claimed', error = NULL, provider = excluded.provider, provider_message_id = NULL,
    attempts = email_send_ledger.attempts + 1, updated_at = excluded.updated_at,
    recipient = COALESCE(excluded.recipient, email_send_ledger.recipient), claimed_by = excluded.claimed_by
WHERE email_send_ledger.status = 'failed'
"""
# Who already holds this campaign for this recipient under another key: a sent row first, else the oldest claim.
_HOLDER = """
SELECT message_key FROM email_send_ledger
WHERE campaign_id = ? AND recipient = ? AND message_key <> ? AND status IN ('claimed', 'sent')
ORDER BY status = 'sent' DESC, created_at LIMIT 1
"""


_MARK_SENT = ("UPDATE email_send_ledger SET status = 'sent', provider = ?, provider_message_id = ?, error = NULL,"
              " updated_at = ? WHERE message_key = ?")
_MARK_FAILED = ("UPDATE email_send_ledger SET status = 'failed', error = ?, provider = COALESCE(?, provider),"
                " updated_at = ? WHERE message_key = ? AND status = 'claimed'")
_MARK_UNCERTAIN = ("UPDATE email_send_ledger SET error = ?, provider = COALESCE(?, provider), updated_at = ?"
                   " WHERE message_key = ? AND status = 'claimed'")


_SELECT = ("SELECT message_key, campaign_id, customer_id, status, provider, provider_message_id, error,"
           " attempts, created_at, updated_at, recipient, claimed_by FROM email_send_ledger")
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
    recipient: str | None = None  # keyed hash of the address; None on rows from before the guard
    claimed_by: str | None = None  # "<host>:<pid>" of the last claim; None on older rows


@dataclass(frozen=True)
class Claims:
    """What :meth:`SendLedger.claim_chunk` reserved: the claimed keys, and each key refused because its campaign
    is already claimed or sent to the same recipient under another key (refused key -> that earlier key)."""

    claimed: set[str] = field(default_factory=set)
    same_recipient: dict[str, str] = field(default_factory=dict)


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
        make_private(self.path)  # before sqlite creates it: its -wal and -shm take the database file's mode
        with closing(self._open()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)
            self._key = self._migrate(conn)
        _LIVE.add(self)

    def _migrate(self, conn: sqlite3.Connection) -> bytes:
        """Bring a ledger file of an earlier version up to date (columns, index), and return the key of its
        recipient hashes, checked against the key id the ledger recorded. One write transaction, so two
        processes opening an old file at once migrate it once."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(email_send_ledger)")}
            for name, kind in _ADDED_COLUMNS.items():
                if name not in columns:
                    conn.execute(f"ALTER TABLE email_send_ledger ADD COLUMN {name} {kind}")
            conn.execute(_RECIPIENT_INDEX)
            stored = conn.execute("SELECT value FROM email_send_ledger_meta WHERE name = 'recipient_key_id'").fetchone()
            hashed = conn.execute("SELECT 1 FROM email_send_ledger WHERE recipient IS NOT NULL LIMIT 1").fetchone()
            key = read_or_create_key(key_path(self.path), may_create=hashed is None)
            if stored is not None and stored[0] != key_id(key) and hashed is not None:
                raise LedgerKeyError(
                    f"the send ledger {self.path} holds recipient hashes made with another key than the one in "
                    f"{key_path(self.path)}: restore the key file that belongs to this ledger")
            if stored is None or stored[0] != key_id(key):  # a new ledger, or a new key before any hash
                conn.execute("INSERT OR REPLACE INTO email_send_ledger_meta VALUES ('recipient_key_id', ?)",
                             (key_id(key),))
            conn.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        make_private(self.path)  # the -wal / -shm files journal_mode=WAL just created
        return key

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
        return {"path": self.path, "busy_timeout_seconds": self.busy_timeout_seconds, "key": self._key}

    def __setstate__(self, state: dict) -> None:
        self.path, self.busy_timeout_seconds = state["path"], state["busy_timeout_seconds"]
        self._key = state["key"]
        self._lock, self._conn, self._pid = threading.RLock(), None, os.getpid()
        _LIVE.add(self)

    def claim_many(self, rows: Iterable[Sequence], now: datetime | None = None) -> set[str]:
        """:meth:`claim_chunk`, returning only the claimed keys."""
        return self.claim_chunk(rows, now).claimed

    def claim_chunk(self, rows: Iterable[Sequence], now: datetime | None = None, *,
                    provider: str | None = None) -> Claims:
        """Atomically reserve many ``(message_key, campaign_id, customer_id[, recipient_address])`` in ONE
        transaction; ``provider`` is recorded on the claims.

        Claimed: new keys, and ``failed`` keys (attempts + 1). Left alone: keys that are ``sent`` or ``claimed``
        (including a key repeated within ``rows``), and keys whose campaign is ``claimed`` or ``sent`` to the
        same recipient under another key, earlier or in this very call (:attr:`Claims.same_recipient`). All or
        nothing: if the transaction fails, nothing is claimed and the error is raised.
        """
        ts = _iso(now or _utcnow())
        claimant = _this_process()
        result = Claims()
        with self._transaction() as conn:
            for row in rows:
                message_key, campaign_id, customer_id = row[0], row[1], row[2]
                recipient = recipient_hash(self._key, row[3]) if len(row) > 3 else None
                if recipient is not None:
                    holder = conn.execute(_HOLDER, (campaign_id, recipient, message_key)).fetchone()
                    if holder is not None:
                        result.same_recipient[message_key] = holder[0]
                        continue
                params = (message_key, campaign_id, customer_id, provider, ts, ts, recipient, claimant)
                if conn.execute(_CLAIM, params).rowcount == 1:
                    result.claimed.add(message_key)
        return result

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

    def unresolved_claims(self, in_flight_for: timedelta = timedelta(minutes=15),
                          now: datetime | None = None) -> list[LedgerEntry]:
        """Every ``claimed`` row except those another live process on this host claimed less than
        ``in_flight_for`` ago (in flight): what a human must resolve, oldest first. A claim from another host
        always counts (its process cannot be seen from here), and so does an old one of a "live" process (its
        pid may have been reused by another program)."""
        cutoff = (now or _utcnow()) - in_flight_for
        rows = self._select("WHERE status = 'claimed' ORDER BY updated_at", ())
        return [e for e in rows if not (_claimant(e.claimed_by) == "alive" and e.updated_at >= cutoff)]

    def abandoned_claims(self, provider: str, older_than: timedelta = timedelta(minutes=15),
                         now: datetime | None = None) -> list[LedgerEntry]:
        """``claimed`` rows of ``provider`` that nobody is working on: their claiming process on this host is
        gone (e.g. killed), or they were claimed by this process, another host or an unknown process more than
        ``older_than`` ago. A claim of another live process on this host is never abandoned."""
        cutoff = (now or _utcnow()) - older_than
        rows = self._select("WHERE status = 'claimed' AND provider = ? ORDER BY updated_at", (provider,))
        return [e for e in rows if (state := _claimant(e.claimed_by)) == "gone"
                or (state != "alive" and e.updated_at < cutoff)]

    def counts(self) -> dict[str, int]:
        rows = self._read("SELECT status, COUNT(*) FROM email_send_ledger GROUP BY status")
        return {status: 0 for status in STATUSES} | dict(rows)

    def _select(self, where: str, params: tuple) -> list[LedgerEntry]:
        rows = self._read(f"{_SELECT} {where}", params)
        return [
            LedgerEntry(*row[:8], created_at=datetime.fromisoformat(row[8]), updated_at=datetime.fromisoformat(row[9]),
                        recipient=row[10], claimed_by=row[11])
            for row in rows
        ]


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claimant(claimed_by: str | None) -> str:
    """Whether the process that claimed a row is this one ("self"), another live one on this host ("alive"),
    gone ("gone"), or cannot be told from here ("unknown": another host, or a row from before claimed_by).
    A recycled pid reads as "alive": the safe direction (the claim is left alone)."""
    host, _, pid_text = (claimed_by or "").rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return "unknown"
    pid = int(pid_text)
    if pid == os.getpid():
        return "self"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "gone"
    except OSError:  # PermissionError: it exists, under another user
        return "alive"
    return "alive"


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
