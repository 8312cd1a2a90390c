"""The embedded provider: every message as a real ``.eml`` file (opens in any mail client) beside the exact
SendGrid request body, ``<outbox_dir>/<campaign_id>/<message_key>.eml`` and ``.sendgrid.json``, written
atomically and durably (fsync of the file, then of its folder) before the ledger says "sent".

Because a complete ``.eml`` is the send, the outcome of a crashed outbox claim can be read back from the outbox
(:func:`resolve_abandoned_claims`): complete means sent, anything else means it never left."""

from __future__ import annotations

import contextlib
import os
import re
import threading
from datetime import timedelta
from pathlib import Path

from tailor.delivery.ledger import SendLedger
from tailor.delivery.messages import OutgoingEmail, mime_closing_delimiter
from tailor.delivery.protocol import NotSent

#: The error of an outbox claim found unwritten after its run stopped (it is sent by the next run).
NEVER_WRITTEN = "not sent: the run that claimed it stopped before its .eml was completely written; retried"
_MESSAGE_ID = re.compile(rb"\r\nMessage-ID: <([^<>\s]+)>\r\n")


def safe_path_part(value: str) -> str:
    """A campaign id as one safe folder name."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", value).lstrip(".")
    return cleaned or "_"


def outbox_complete(eml_path: Path, message_key: str) -> bool:
    """True when ``eml_path`` exists and ends with the message's closing MIME delimiter (a whole message)."""
    tail = mime_closing_delimiter(message_key)
    try:
        with open(eml_path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < len(tail):
                return False
            fh.seek(size - len(tail))
            return fh.read() == tail
    except OSError:
        return False


def fsync_dir(folder: Path) -> None:
    """Make the entries of ``folder`` (created / renamed files) durable. No-op where directories cannot be
    opened (Windows)."""
    if os.name == "nt":
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, fsync, then rename over ``path`` (atomic on POSIX).

    The file's data is fsynced before the rename; the rename itself is made durable by one ``fsync_dir``
    per folder per chunk (``tailor.delivery.sender.EmailSender``), before the ledger records the send."""
    # Unique per process and thread; a message_key is written by one thread of one process at a time (it
    # holds the claim). Owner-only permissions, as tempfile.mkstemp gave: an .eml carries personal data.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
        fd = os.open(tmp, flags, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def outbox_paths(outbox_dir: str | Path, email: OutgoingEmail) -> tuple[Path, Path]:
    """(<outbox_dir>/<campaign>/<key>.eml, <outbox_dir>/<campaign>/<key>.sendgrid.json)."""
    eml = eml_path(outbox_dir, email.campaign_id, email.message_key)
    return eml, eml.with_name(f"{email.message_key}.sendgrid.json")


def eml_path(outbox_dir: str | Path, campaign_id: str, message_key: str) -> Path:
    return Path(outbox_dir) / safe_path_part(campaign_id) / f"{message_key}.eml"


def resolve_abandoned_claims(ledger: SendLedger, outbox_dir: str | Path, older_than: timedelta) -> int:
    """Record the outcome of outbox claims nobody works on any more (:meth:`SendLedger.abandoned_claims`: their
    process was killed, or they are older than ``older_than``), read from the outbox: a complete ``.eml`` went
    out (``sent``, with its Message-ID), anything else never left (``failed``: the next run sends it). One
    ledger transaction; returns how many rows it resolved."""
    entries = ledger.abandoned_claims("outbox", older_than=older_than)
    sent, failed = [], []
    for entry in entries:
        path = eml_path(outbox_dir, entry.campaign_id, entry.message_key)
        if outbox_complete(path, entry.message_key):
            sent.append((entry.message_key, "outbox", _message_id(path)))
        else:
            failed.append((entry.message_key, NEVER_WRITTEN, "outbox"))
    if not entries:
        return 0
    recorded = ledger.record_outcomes(sent=sent, failed=failed)
    return len(recorded.sent) + len(recorded.failed)


def _message_id(path: Path) -> str | None:
    """The Message-ID of a complete .eml (the outbox's provider_message_id), read from its header block."""
    with contextlib.suppress(OSError):
        with open(path, "rb") as fh:
            match = _MESSAGE_ID.search(fh.read(16384))
            return match.group(1).decode("ascii") if match else None
    return None


def write_to_outbox(outbox_dir: str | Path, email: OutgoingEmail, json_bytes: bytes, mime_bytes: bytes,
                    listing: set[str] | OSError | None = None) -> bool:
    """Write the message's two files; True when a complete ``.eml`` of it was already there (nothing written).

    ``listing``: the names in the campaign folder, listed once per chunk (or the error of creating / listing
    it); without it, the folder is created and checked here. Raises :class:`NotSent` when writing fails."""
    eml_path, json_path = outbox_paths(outbox_dir, email)
    if listing is None or (isinstance(listing, set) and eml_path.name in listing):
        if outbox_complete(eml_path, email.message_key):
            # The ledger lost track of it (e.g. the sqlite file was deleted), but the outbox has it already.
            return True
    try:
        if isinstance(listing, OSError):
            raise listing
        if listing is None:
            eml_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(json_path, json_bytes)
        atomic_write(eml_path, mime_bytes)  # last: a complete .eml means "in the outbox"
    except OSError as exc:
        with contextlib.suppress(OSError):
            json_path.unlink(missing_ok=True)
        raise NotSent(f"outbox write failed: {type(exc).__name__}: {exc.strerror or exc}") from None
    return False
