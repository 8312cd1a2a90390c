"""Vectorised text encoding of the demo rows: ids, numbers, money, ISO timestamps, and the assembly of
fixed-width byte columns into lines.

Every function maps whole numpy arrays to NumPy byte-string (``S``) arrays, so no Python code runs per row.
"""

from __future__ import annotations

import base64
import unicodedata

import numpy as np

from tailor.demo.vocabulary import DAY, TS_MS_Z, TS_NAIVE_SPACE, TS_OFFSET, TS_UTC_OFFSET, TS_Z

_GOLDEN = 0x9E3779B97F4A7C15
_HEX2 = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)
TWO_DIGITS = np.array([f"{i:02d}".encode() for i in range(100)], dtype="S2")  # "00" .. "99"


def mix(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so distinct keys give distinct ids."""
    z = np.asarray(x).astype(np.uint64) + np.uint64((salt * _GOLDEN) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def hex16(x: np.ndarray) -> np.ndarray:
    """uint64 -> 16 lower-case hex chars (S16)."""
    b = np.ascontiguousarray(x.astype(">u8")).view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(_HEX2[b]).view("S16").ravel()


def b64_id(key: np.ndarray, salt: int, nchars: int = 22) -> np.ndarray:
    """Unique URL-safe base64 ids (the first 8 bytes are a bijection of ``key``)."""
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=f"S{nchars}")
    raw = np.empty((n, 18), dtype=np.uint8)
    a = mix(key, salt)
    b = mix(a, salt + 1)
    raw[:, :8] = a.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8:16] = b.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 16:] = raw[:, 0:2] ^ raw[:, 8:10]
    enc = np.frombuffer(base64.urlsafe_b64encode(raw.tobytes()), dtype=np.uint8).reshape(n, 24)
    return np.ascontiguousarray(enc[:, :nchars]).view(f"S{nchars}").ravel()


def uuid_text(key: np.ndarray, salt: int) -> np.ndarray:
    """uint64 keys -> UUID-v4-looking strings (S36), unique per key."""
    n = len(key)
    a = mix(key, salt)
    h = np.empty((n, 32), dtype=np.uint8)
    h[:, :16] = hex16(a).view(np.uint8).reshape(n, 16)
    h[:, 16:] = hex16(mix(a, salt + 7)).view(np.uint8).reshape(n, 16)
    h[:, 12] = ord("4")
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst, w in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst:dst + w] = h[:, src:src + w]
    return out.view("S36").ravel()


def zfill(x: np.ndarray, width: int) -> np.ndarray:
    """Integers as decimal text, zero-padded to ``width``."""
    return np.strings.zfill(np.asarray(x, dtype=np.int64).astype("S20"), width)


def int_text(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).astype("S20")


def crm_ref(number: np.ndarray) -> np.ndarray:
    """CRM record numbers -> ``CRM-000123``."""
    return np.strings.add(b"CRM-", zfill(number, 6))


def person_id(number: np.ndarray) -> np.ndarray:
    """Person numbers (1..n) -> ``person-0000123`` (the truth files' id)."""
    return np.strings.add(b"person-", zfill(number, 7))


def money(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> 'E.CC' (S24), negatives allowed."""
    cents = np.asarray(cents, dtype=np.int64)
    neg = cents < 0
    a = np.abs(cents)
    s = np.strings.add(np.strings.add(int_text(a // 100), b"."), TWO_DIGITS[a % 100])
    return np.where(neg, np.strings.add(b"-", s), s).astype("S24")


def civil_date(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days since 1970-01-01 -> (year, month, day) (H. Hinnant's algorithm, vectorised)."""
    z = days + 719468
    era = np.floor_divide(z, 146097)
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = np.where(mp < 10, mp + 3, mp - 9)
    y = yoe + era * 400 + (m <= 2)
    return y, m, d


def iso_timestamp(t: np.ndarray, style: np.ndarray, off_min: np.ndarray, ms: np.ndarray | None = None) -> np.ndarray:
    """Unix seconds -> ISO-8601 text (S29) in the given style (``TS_*``); offsets keep the same instant."""
    t = np.asarray(t, dtype=np.int64)
    n = len(t)
    style = np.broadcast_to(np.asarray(style, dtype=np.int8), (n,))
    off = np.broadcast_to(np.asarray(off_min, dtype=np.int64), (n,))
    off = np.where(style == TS_OFFSET, off, 0)
    local = t + off * 60
    days, sod = np.divmod(local, DAY)
    y, mo, d = civil_date(days)
    hh, rem = np.divmod(sod, 3600)
    mi, ss = np.divmod(rem, 60)
    out = np.zeros((n, 29), dtype=np.uint8)

    def put(col: int, val: np.ndarray, w: int, rows=slice(None)) -> None:
        for k in range(w):
            out[rows, col + k] = 48 + (val // 10 ** (w - 1 - k)) % 10

    put(0, y, 4)
    out[:, 4] = out[:, 7] = ord("-")
    put(5, mo, 2)
    put(8, d, 2)
    out[:, 10] = np.where(style == TS_NAIVE_SPACE, ord(" "), ord("T"))
    put(11, hh, 2)
    out[:, 13] = out[:, 16] = ord(":")
    put(14, mi, 2)
    put(17, ss, 2)
    out[style == TS_Z, 19] = ord("Z")
    r = style == TS_MS_Z
    if r.any():
        msv = np.zeros(n, dtype=np.int64) if ms is None else np.asarray(ms, dtype=np.int64)
        out[r, 19] = ord(".")
        put(20, msv[r], 3, r)
        out[r, 23] = ord("Z")
    r = (style == TS_OFFSET) | (style == TS_UTC_OFFSET)
    if r.any():
        o = off[r]
        out[r, 19] = np.where(o < 0, ord("-"), ord("+"))
        ao = np.abs(o)
        put(20, ao // 60, 2, r)
        out[r, 22] = ord(":")
        put(23, ao % 60, 2, r)
    return out.view("S29").ravel()


def assemble(pieces: list, n: int) -> tuple[bytes, np.ndarray]:
    """Render ``n`` rows from constant ``bytes`` and fixed-width ``S`` columns (NUL padded).

    Returns the concatenated bytes and the end offset of each row. Pieces must not contain
    real NUL characters (padding NULs are removed)."""
    if n == 0:
        return b"", np.zeros(0, dtype=np.int64)
    cols = []
    for p in pieces:
        if isinstance(p, bytes):
            cols.append((np.frombuffer(p, dtype=np.uint8), len(p)))
        else:
            a = np.ascontiguousarray(p)
            if a.dtype.kind != "S":
                raise TypeError(f"piece dtype {a.dtype} is not bytes")
            w = a.dtype.itemsize
            if w > 8:  # drop unused padding: fewer NULs to strip later
                used = int(np.strings.str_len(a).max())
                if used < w:
                    a, w = a.astype(f"S{max(used, 1)}"), max(used, 1)
            if w:
                cols.append((a.view(np.uint8).reshape(n, w), w))
    width = sum(w for _, w in cols)
    mat = np.zeros((n, width), dtype=np.uint8)
    o = 0
    for c, w in cols:
        mat[:, o:o + w] = c
        o += w
    lens = np.count_nonzero(mat, axis=1)
    return mat.tobytes().translate(None, b"\x00"), np.cumsum(lens)


def split_rows(blob: bytes, ends: np.ndarray, idx: np.ndarray) -> list[bytes]:
    """The rows ``idx`` of an ``assemble`` result, as separate lines."""
    starts = np.concatenate([[0], ends[:-1]])
    return [blob[int(starts[i]):int(ends[i])] for i in idx]


def utf8(a) -> np.ndarray:
    """str array -> UTF-8 S array."""
    a = np.asarray(a, dtype=str)
    if a.size == 0:
        return np.zeros(0, dtype="S1")
    return np.strings.encode(a, "utf-8")


def fold_for_email(s: str) -> str:
    """ASCII-fold a name for an e-mail local part."""
    s = s.lower().replace("ß", "ss").replace("ł", "l").replace("ø", "o").replace("'", "").replace(" ", "")
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def block_keys(block: int, numbers: np.ndarray) -> np.ndarray:
    """Keys unique across generation blocks (the block number in the high bits), for the ``mix`` based ids."""
    return (np.uint64(block) << np.uint64(40)) | np.asarray(numbers).astype(np.uint64)
