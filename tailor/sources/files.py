"""The files of a landing folder: which belong to a source, which are refused, how a file is read and how it is
recognised again (its size and modification time as a cheap stamp, its sha256 as its identity).

Links are followed only while they stay inside the landing folder. A file, source folder or subfolder whose
real path is outside it (``crm/env.csv -> /proc/self/environ``, ``crm/archive -> /mnt/other``) is *refused*:
it is listed with the reason, never opened, and ingestion of its source fails naming it (see
:func:`landing_listing`). So is anything in a source folder with a source's suffix that is not a regular file
(a FIFO would block the run, a device would never end).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tailor.sources.contracts import SourceContract

OUTSIDE = "a symbolic link that resolves outside the landing folder; links are followed only inside it, so it was not read"
OUTSIDE_FOLDER = "a folder link that resolves outside the landing folder; links are followed only inside it, so it was not read"
NOT_REGULAR = "not a regular file (a pipe, device or socket), so it was not read"


@dataclass
class LandingListing:
    """A source's files: ``files`` (name relative to the landing folder -> path to read, by name) and ``refused``
    (name -> why it is not read)."""

    files: dict[str, Path] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def landing_listing(landing_dir: Path, contract: SourceContract) -> LandingListing:
    """Every file of ``contract`` below ``landing_dir/<folder>`` (sorted by name), and every refused one.

    The landing folder itself may be a link (``TAILOR_LANDING_DIR``); below it, a link is followed when its
    real path is inside the landing folder, and a folder reached twice through links is walked once."""
    root = landing_dir.resolve()
    listing = LandingListing()
    top = landing_dir / contract.folder
    if not top.exists() and not top.is_symlink():
        return listing
    found: dict[str, Path] = {}
    visited: set[Path] = set()
    pending = [top]
    while pending:
        folder = pending.pop()
        name = folder.relative_to(landing_dir).as_posix()
        real = folder.resolve()
        if not _inside(real, root):
            listing.refused[name] = OUTSIDE_FOLDER
            continue
        if real in visited or not real.is_dir():
            continue
        visited.add(real)
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
        subfolders = []
        for entry in entries:
            path = folder / entry.name
            if entry.is_dir():  # follows a link: a folder link is judged when it is walked
                subfolders.append(path)
            elif entry.name.lower().endswith(contract.suffixes):
                found[path.relative_to(landing_dir).as_posix()] = path
        pending.extend(reversed(subfolders))  # walked in name order, so a folder reached twice keeps its first name
    for name in sorted(found):
        problem = file_problem(found[name], root)
        if problem:
            listing.refused[name] = problem
        else:
            listing.files[name] = found[name]
    listing.refused = dict(sorted(listing.refused.items()))
    return listing


def file_problem(path: Path, root: Path) -> str | None:
    """Why ``path`` must not be read as a landing file of the folder ``root`` (resolved), or None."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # a dangling link, or a loop of links
        return "does not exist (a dangling link, or removed while being listed), so it was not read"
    if not _inside(real, root):
        return OUTSIDE
    if not stat.S_ISREG(real.stat().st_mode):
        return NOT_REGULAR
    return None


def discover_files(landing_dir: Path, contract: SourceContract) -> list[Path]:
    """The paths of the source's files that may be read (refused ones left out), sorted by name; what the landing
    sensor hashes. Ingestion uses :func:`landing_listing`, which also says what was refused."""
    return list(landing_listing(landing_dir, contract).files.values())


def read_landing_file(path: Path, landing_dir: Path) -> bytes:
    """The bytes of a landing file, checked again at the moment it is opened: its real path is inside the landing
    folder and it is a regular file (a link swapped since the listing is refused, not followed)."""
    root = landing_dir.resolve()
    problem = file_problem(path, root)
    if problem:
        raise PermissionError(problem)
    real = path.resolve(strict=True)
    fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise PermissionError(NOT_REGULAR)
        return fh.read()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_stamp(path: Path) -> str:
    stat_result = path.stat()
    return f"{stat_result.st_size}:{stat_result.st_mtime_ns}"


def file_arrival(path: Path, now: datetime | None = None) -> datetime:
    """When a file arrived, as far as the folder can tell: its modification time, but never later than ``now`` (a
    forged future mtime must not make future-dated rows plausible). UTC, naive like every table's timestamps."""
    now = now or datetime.now(timezone.utc)
    mtime = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return min(mtime, now.astimezone(timezone.utc)).replace(tzinfo=None)
