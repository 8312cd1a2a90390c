"""The send ledger's files: owner-only permissions, and the key of its recipient hashes.

Why owner-only: the ledger says who was emailed which campaign when; its key turns an address into the hash the
ledger keeps. sqlite creates ``-wal`` and ``-shm`` with the permissions of the database file, so creating that
file 0600 before sqlite opens it covers all three; files left 0644 by an earlier version are tightened on open.

Why a keyed hash and not the normalised address: the ledger then holds no address at all (a copy, a backup or a
support dump of it names nobody), and after a person is erased (issue 17) their hash can stay as the guard that
still refuses to send them the campaign again, without keeping their address. Why the key lives in its own file
(``<ledger>.key``) and not in the ledger: a copy of the ledger alone cannot be tested against a list of guessed
addresses. The price: the key must travel with the ledger (back both up together); without it the ledger refuses
to open (:class:`LedgerKeyError`) rather than silently matching nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from tailor.addresses import normalize_address

PRIVATE = 0o600
_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


class LedgerKeyError(RuntimeError):
    """The ledger holds recipient hashes, but its key file is missing or holds another key."""


def make_private(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist; tighten it and sqlite's side files to 0600."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), PRIVATE))
    for candidate in (path, *(path.with_name(path.name + suffix) for suffix in _SQLITE_SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o077:
                os.chmod(candidate, PRIVATE)


def key_path(ledger_path: Path) -> Path:
    return ledger_path.with_name(ledger_path.name + ".key")


def read_or_create_key(path: Path, *, may_create: bool) -> bytes:
    """The 32-byte key in ``path`` (64 hex characters), created owner-only when missing and ``may_create``.

    Two processes creating it at once agree: the key is written to a private temporary file and linked into
    place, which fails for the slower one, who then reads the winner's key."""
    if not path.exists():
        if not may_create:
            raise LedgerKeyError(
                f"the send ledger holds recipient hashes, but their key file {path} is missing: restore it from "
                f"the backup of the ledger. Without it the ledger cannot tell whom it has emailed.")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), PRIVATE)
        try:
            os.write(fd, secrets.token_hex(32).encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    make_private(path)
    text = path.read_text("ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise LedgerKeyError(f"the send ledger's key file {path} does not hold 64 hex characters")
    return key


def key_id(key: bytes) -> str:
    """What the ledger stores to recognise its key (not the key itself)."""
    return hashlib.sha256(b"tailor-send-ledger-key-id|" + key).hexdigest()[:16]


def recipient_hash(key: bytes, address: object) -> str | None:
    """HMAC-SHA256 of the normalised address (tailor.addresses), hex; None when it is not an address."""
    normalized = normalize_address(address)
    if normalized is None:
        return None
    return hmac.new(key, normalized.encode("utf-8"), hashlib.sha256).hexdigest()
