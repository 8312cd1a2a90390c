"""The landing files: rows are written into numbered files of a bounded size, with the bad rows put between
the good ones, and where every bad row landed is recorded for the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class Sink:
    """Writes rows into ``<folder>/<stem>-NNNN.<ext>`` with at most ``rows_per_file`` rows per file,
    and records where each bad row landed (1-based physical line numbers; a CSV header is line 1)."""

    def __init__(self, root: Path, source: str, ext: str, rows_per_file: int, header: str | None = None):
        self.root, self.source, self.ext, self.rpf = root, source, ext, rows_per_file
        self.header = None if header is None else (header + "\n").encode()
        self.files: list[str] = []
        self.bad: list[tuple[str, str, int, str]] = []
        self.good = 0
        self._fh = None
        self._rows = 0
        (root / source).mkdir(parents=True, exist_ok=True)

    def _rotate(self) -> None:
        if self._fh is not None:
            self._fh.close()
        rel = f"{self.source}/{self.source}-{len(self.files) + 1:04d}.{self.ext}"
        self.files.append(rel)
        self._fh = open(self.root / rel, "wb")
        if self.header:
            self._fh.write(self.header)
        self._rows = 0

    def _good(self, blob: memoryview, ends: np.ndarray, a: int, b: int) -> None:
        while a < b:
            if self._fh is None or self._rows >= self.rpf:
                self._rotate()
            m = min(self.rpf - self._rows, b - a)
            start = int(ends[a - 1]) if a > 0 else 0
            self._fh.write(blob[start:int(ends[a + m - 1])])
            self._rows += m
            self.good += m
            a += m

    def write(self, blob: bytes, ends: np.ndarray, bad: list[tuple[int, bytes, str]] = ()) -> None:
        """Write good rows (``blob``/``ends`` from ``encoding.assemble``) with bad lines inserted before
        the good row index given with each (sorted by that index)."""
        mv = memoryview(blob)
        a = 0
        for pos, line, kind in sorted(bad, key=lambda x: x[0]):
            self._good(mv, ends, a, pos)
            a = max(a, pos)
            if self._fh is None or self._rows >= self.rpf:
                self._rotate()
            self._fh.write(line)
            self._rows += 1
            self.bad.append((self.source, self.files[-1], self._rows + (1 if self.header else 0), kind))
        self._good(mv, ends, a, len(ends))

    def close(self) -> None:
        if self._fh is None:
            self._rotate()
        self._fh.close()
        self._fh = None
