"""The files of a landing folder: which belong to a source, and how a file is recognised again (its size and
modification time as a cheap stamp, its sha256 as its identity)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tailor.sources.contracts import SourceContract


def discover_files(landing_dir: Path, contract: SourceContract) -> list[Path]:
    folder = landing_dir / contract.folder
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in contract.suffixes)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_stamp(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"
