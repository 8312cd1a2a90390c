"""The audit trail of a delivery run: ``email_sends`` rows that reach the warehouse whatever happens after the
sends, and the ledger's unresolved claims summarised for the asset check (no addresses)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from tailor.delivery.deliver import concat_email_sends
from tailor.delivery.ledger import LedgerEntry
from tailor.delivery.ledger_files import PRIVATE
from tailor.governance.masking import mask_emails_in_text

#: Keys listed in the check's metadata (the count is always complete).
_LISTED = 20


class EmailSendsNotWritten(RuntimeError):
    """The warehouse refused this run's email_sends rows; they are kept in the file the message names."""


def deliver_and_record(chunks: Iterable[pd.DataFrame], write: Callable[[pd.DataFrame], None],
                       spill_dir: Path) -> pd.DataFrame:
    """Consume :func:`tailor.delivery.deliver.deliver_chunks` and hand everything it produced to ``write`` once
    (one warehouse session, after sending: never a transaction held while sending).

    Why here and not after the loop only: the emails are out once a chunk is sent, so its audit rows must not be
    lost. If delivery stops half-way (an interrupt, an error), the rows of the finished chunks are written and
    the exception goes on. If the warehouse refuses the rows, they are kept in a Parquet file in ``spill_dir``
    (owner-only; masked addresses only, as in the table) and :class:`EmailSendsNotWritten` names it; while
    another exception is on its way, that one goes on with a note naming the file."""
    done: list[pd.DataFrame] = []
    try:
        for chunk in chunks:
            done.append(chunk)
    except BaseException as exc:
        try:
            _write_or_spill(concat_email_sends(done), write, spill_dir)
        except EmailSendsNotWritten as unwritten:
            exc.add_note(str(unwritten))
        raise
    sends = concat_email_sends(done)
    _write_or_spill(sends, write, spill_dir)
    return sends


def _write_or_spill(sends: pd.DataFrame, write: Callable[[pd.DataFrame], None], spill_dir: Path) -> None:
    if not len(sends):
        return
    try:
        write(sends)
    except Exception as exc:
        path = _spill(sends, spill_dir)
        raise EmailSendsNotWritten(
            f"the warehouse refused the {len(sends)} email_sends rows of this run ({type(exc).__name__}: "
            f"{mask_emails_in_text(str(exc))[:300]}); the emails were handled and the ledger knows them. The rows "
            f"are kept in {path}: load them with session.append_parquet('email_sends', [path]) once the table is "
            f"fixed") from exc


def _spill(sends: pd.DataFrame, spill_dir: Path) -> Path:
    spill_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = spill_dir / f"email_sends_{stamp}_{os.getpid()}.parquet"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), PRIVATE)
    with os.fdopen(fd, "wb") as fh:
        sends.to_parquet(fh, index=False)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def stale_claims_summary(entries: list[LedgerEntry]) -> dict[str, Any]:
    """What the ``no_stale_claims`` check shows: the count, per provider, the oldest, and the first keys (message
    keys and masked errors only: a ledger row holds no address, and its errors are masked when recorded)."""
    listed = [{"message_key": e.message_key, "campaign_id": e.campaign_id, "provider": e.provider or "(unknown)",
               "claimed_at": e.updated_at.isoformat(timespec="seconds"),
               "error": mask_emails_in_text(e.error or "(no outcome recorded: the run stopped)")[:120]}
              for e in entries[:_LISTED]]
    return {
        "stale_claims": len(entries),
        "by_provider": dict(Counter(e.provider or "(unknown)" for e in entries)),
        "oldest_claimed_at": entries[0].updated_at.isoformat(timespec="seconds") if entries else None,
        "first_claims": pd.DataFrame(listed, columns=["message_key", "campaign_id", "provider", "claimed_at",
                                                      "error"]),
    }
