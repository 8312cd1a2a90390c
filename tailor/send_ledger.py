"""Send ledger: makes email sends idempotent by ``message_key`` (sqlite3, stdlib).

Protocol, per message (claim-before-send, i.e. **at-most-once**)::

    if ledger.claim(key, campaign_id, customer_id):   # atomic reservation, committed before any send
        try:   provider_id = provider.send(...)
        except DefinitelyNotSent as e: ledger.mark_failed(key, str(e))   # may be claimed again next run
        else:  ledger.mark_sent(key, provider, provider_id)
    else:
        ...  # already sent, or claimed by an in-flight / crashed attempt: do NOT send

Why claim first: if we sent first and recorded afterwards, a crash (or kill, OOM, deploy) between the
provider accepting the message and the ledger write would leave no trace, and the next run would send the
same email again. Claiming first turns that window into the opposite, safer failure: a crash after ``claim``
leaves the row in status ``claimed`` and the email is never sent automatically again. Such rows (the email
may or may not have gone out) need a human: list them with :meth:`SendLedger.stale_claims`, check the
provider (SendGrid Activity / the outbox folder), then resolve with :meth:`mark_sent` or :meth:`mark_failed`
(which makes the key claimable again).

Statuses: ``claimed`` (reserved / in flight / unresolved), ``sent``, ``failed`` (definitely not sent;
re-claimable). ``sent`` is final: nothing downgrades it.

Concurrency: every operation opens its own short connection in autocommit mode; claims are single
UPSERT statements, so two processes (or threads) claiming the same key cannot both win. The database uses
WAL journaling and a busy timeout so concurrent writers wait instead of failing. Keep the file on a local
disk (sqlite locking is unreliable on network file systems).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
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


class SendLedger:
    """Idempotency ledger for email sends, stored in a sqlite file at ``path`` (created on first use)."""

    def __init__(self, path: str | Path, busy_timeout_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout_seconds = busy_timeout_seconds
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_seconds, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds * 1000)}")
        conn.execute("PRAGMA synchronous = FULL")  # a 'claimed'/'sent' row must survive a power cut
        return conn

    def _execute(self, sql: str, params: tuple) -> int:
        with closing(self._connect()) as conn:
            return conn.execute(sql, params).rowcount

    # -- the protocol ---------------------------------------------------------------------------------

    def claim(self, message_key: str, campaign_id: str, customer_id: str, now: datetime | None = None) -> bool:
        """Atomically reserve ``message_key`` before sending. True = you own it and may send it now.

        False when the key is already ``sent`` or ``claimed`` (in flight elsewhere, or an unresolved
        earlier attempt). A ``failed`` key is re-claimed (attempts + 1).
        """
        ts = _iso(now or _utcnow())
        return self._execute(_CLAIM, (message_key, campaign_id, customer_id, ts, ts)) == 1

    def mark_sent(self, message_key: str, provider: str, provider_message_id: str | None,
                  now: datetime | None = None) -> None:
        """Record that the provider accepted the message. Final; also resolves a stale claim manually."""
        changed = self._execute(
            "UPDATE email_send_ledger SET status = 'sent', provider = ?, provider_message_id = ?, error = NULL,"
            " updated_at = ? WHERE message_key = ?",
            (provider, provider_message_id, _iso(now or _utcnow()), message_key),
        )
        if changed != 1:
            raise KeyError(f"send ledger {self.path}: message_key {message_key!r} was never claimed")

    def mark_failed(self, message_key: str, error: str, provider: str | None = None,
                    now: datetime | None = None) -> bool:
        """Record that the message was definitely NOT sent; the key may be claimed again later.

        Only a ``claimed`` row changes; a ``sent`` row is never downgraded (returns False).
        """
        return self._execute(
            "UPDATE email_send_ledger SET status = 'failed', error = ?, provider = COALESCE(?, provider),"
            " updated_at = ? WHERE message_key = ? AND status = 'claimed'",
            (error, provider, _iso(now or _utcnow()), message_key),
        ) == 1

    def mark_uncertain(self, message_key: str, error: str, provider: str | None = None,
                       now: datetime | None = None) -> bool:
        """The outcome is unknown (e.g. timeout after the request left): keep ``claimed``, note the error.

        The key is then neither re-sent automatically nor reported as sent; it shows up in
        :meth:`stale_claims` for manual review.
        """
        return self._execute(
            "UPDATE email_send_ledger SET error = ?, provider = COALESCE(?, provider), updated_at = ?"
            " WHERE message_key = ? AND status = 'claimed'",
            (error, provider, _iso(now or _utcnow()), message_key),
        ) == 1

    # -- queries --------------------------------------------------------------------------------------

    def status(self, message_key: str) -> str | None:
        """'claimed' | 'sent' | 'failed', or None for an unknown key."""
        entry = self.get(message_key)
        return entry.status if entry else None

    def get(self, message_key: str) -> LedgerEntry | None:
        rows = self._select("WHERE message_key = ?", (message_key,))
        return rows[0] if rows else None

    def stale_claims(self, older_than: timedelta = timedelta(minutes=15),
                     now: datetime | None = None) -> list[LedgerEntry]:
        """Rows still ``claimed`` whose last update is older than ``older_than``: crashed or uncertain
        sends that need manual review (check the provider, then mark_sent / mark_failed)."""
        cutoff = _iso((now or _utcnow()) - older_than)
        return self._select("WHERE status = 'claimed' AND updated_at < ? ORDER BY updated_at", (cutoff,))

    def counts(self) -> dict[str, int]:
        with closing(self._connect()) as conn:
            rows = conn.execute("SELECT status, COUNT(*) FROM email_send_ledger GROUP BY status").fetchall()
        return {status: 0 for status in STATUSES} | dict(rows)

    def _select(self, where: str, params: tuple) -> list[LedgerEntry]:
        with closing(self._connect()) as conn:
            rows = conn.execute(
                "SELECT message_key, campaign_id, customer_id, status, provider, provider_message_id, error,"
                f" attempts, created_at, updated_at FROM email_send_ledger {where}",
                params,
            ).fetchall()
        return [
            LedgerEntry(*row[:8], created_at=datetime.fromisoformat(row[8]), updated_at=datetime.fromisoformat(row[9]))
            for row in rows
        ]
