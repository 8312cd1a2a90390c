"""Vectorised corruption of text columns, the kinds record-linkage benchmarks (FEBRL, GeCo) apply to the
duplicates they make: keyboard typos (a character inserted, deleted, replaced by a neighbouring key, or two
swapped), phonetic misspellings (ph/f, ie/y, ck/k, ß/ss, ä/ae, ei/ai ...), OCR confusions (rn/m, 0/O, 1/l),
wrong postcode digits.

Every function takes a NumPy byte-string (UTF-8) array and per-row random draws, and returns the edited array
and which rows were edited (a row the edit does not fit, e.g. a transposition in "Jo", is left for the caller
to fall back on another kind). Edits are made on whole arrays with ``np.strings``: no Python loop per row.
"""

from __future__ import annotations

import numpy as np

INSERT, DELETE, SUBSTITUTE, TRANSPOSE = range(4)
CHAR_EDITS = ("insert", "delete", "substitute", "transpose")  # tag names, by code

# keyboard layouts: rows of letter keys (the next row starts half a key to the right)
LAYOUTS = {"qwerty": ("qwertyuiop", "asdfghjkl", "zxcvbnm"), "qwertz": ("qwertzuiop", "asdfghjkl", "yxcvbnm"),
           "azerty": ("azertyuiop", "qsdfghjklm", "wxcvbn")}
LAYOUT_OF_COUNTRY = {"DE": "qwertz", "AT": "qwertz", "CH": "qwertz", "FR": "azerty"}  # others: qwerty
_MAXNB = 6

# (written, misheard/misspelt as): applied to one occurrence, case-insensitively
PHONETIC = [("ph", "f"), ("f", "ph"), ("ie", "y"), ("y", "ie"), ("ck", "k"), ("k", "ck"), ("ß", "ss"), ("ä", "ae"),
            ("ö", "oe"), ("ü", "ue"), ("ei", "ai"), ("ai", "ei"), ("ey", "ei"),
            ("ei", "ey"), ("th", "t"), ("dt", "tt"), ("tt", "dt"), ("tz", "z"), ("c", "k"), ("k", "c"), ("v", "w"),
            ("w", "v"), ("ll", "l"), ("mm", "m"), ("nn", "n"), ("ss", "s"), ("sch", "sh"), ("ou", "u"), ("ij", "y"),
            ("é", "e"), ("è", "e"), ("ë", "e"), ("ï", "i"), ("ç", "c"), ("á", "a"), ("í", "i"), ("ó", "o"), ("ú", "u"),
            ("ñ", "n"), ("ł", "l"), ("ś", "s"), ("ć", "c"), ("ż", "z"), ("ź", "z"), ("ą", "a"), ("ę", "e"), ("ń", "n"),
            ("qu", "kw"), ("x", "ks"), ("z", "s"), ("s", "z")]
# (printed, read as): applied to one occurrence, case-sensitively (shapes, not sounds)
OCR = [("rn", "m"), ("m", "rn"), ("cl", "d"), ("d", "cl"), ("l", "1"), ("I", "l"), ("i", "l"), ("o", "0"),
       ("O", "0"), ("e", "c"), ("c", "e"), ("h", "b"), ("u", "v"), ("n", "ri"), ("w", "vv"), ("S", "5"), ("B", "8"),
       ("g", "q"), ("a", "o")]
POSTCODE_OCR = [("0", "O"), ("1", "I"), ("5", "S"), ("8", "B"), ("2", "Z"), ("6", "G")]


def _neighbour_table() -> tuple[np.ndarray, np.ndarray]:
    """Per layout and ASCII code the lower-case letters next to that key (codes, NUL padded) and how many."""
    table = np.zeros((len(LAYOUTS), 128, _MAXNB), dtype=np.uint32)
    count = np.zeros((len(LAYOUTS), 128), dtype=np.int64)
    for li, rows in enumerate(LAYOUTS.values()):
        at = {ch: (r, c) for r, row in enumerate(rows) for c, ch in enumerate(row)}
        for ch, (r, c) in at.items():
            cand = [(r, c - 1), (r, c + 1), (r - 1, c), (r - 1, c + 1), (r + 1, c - 1), (r + 1, c)]
            nb = [rows[rr][cc] for rr, cc in cand if 0 <= rr < len(rows) and 0 <= cc < len(rows[rr])]
            for code in (ord(ch), ord(ch.upper())):
                table[li, code, :len(nb)] = [ord(x) for x in nb]
                count[li, code] = len(nb)
    return table, count


_NB, _NB_COUNT = _neighbour_table()


def layout_codes(country_codes: list[str], country: np.ndarray) -> np.ndarray:
    """Per row the index of its keyboard layout (into LAYOUTS) from its country (index into country_codes)."""
    names = list(LAYOUTS)
    per_country = np.array([names.index(LAYOUT_OF_COUNTRY.get(c, "qwerty")) for c in country_codes], dtype=np.int64)
    return per_country[country]


def _decode(s: np.ndarray) -> np.ndarray:
    return np.strings.decode(s, "utf-8") if len(s) else np.zeros(0, dtype="U1")


def _encode(u: np.ndarray) -> np.ndarray:
    return np.strings.encode(u, "utf-8") if len(u) else np.zeros(0, dtype="S1")


def utf8_upper(s: np.ndarray) -> np.ndarray:
    """Upper case of a UTF-8 byte-string array (np.strings.upper on bytes would only touch ASCII)."""
    return _encode(np.strings.upper(_decode(s)))


def utf8_lower(s: np.ndarray) -> np.ndarray:
    return _encode(np.strings.lower(_decode(s)))


def _char_at(u: np.ndarray, i: np.ndarray) -> np.ndarray:
    """The code point at position i of every row (0 past the end)."""
    one = np.strings.slice(u, i, i + 1).astype("U1")
    return one.view(np.uint32).astype(np.int64)


def _from_codes(codes: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(codes.astype(np.uint32)).view("U1")


def _is_letter(code: np.ndarray) -> np.ndarray:
    low = code | 0x20
    return (low >= ord("a")) & (low <= ord("z"))


def _neighbour(code: np.ndarray, layout: np.ndarray, r: np.ndarray) -> np.ndarray:
    """A key next to each ASCII letter (same case); other characters come back unchanged."""
    c = np.where(_is_letter(code), code, 0)
    cnt = _NB_COUNT[layout, c]
    pick = _NB[layout, c, (r * np.maximum(cnt, 1)).astype(np.int64) % _MAXNB].astype(np.int64)
    upper = (code >= ord("A")) & (code <= ord("Z"))
    pick = np.where(upper, pick - 32, pick)
    return np.where(cnt > 0, pick, code)


def _position(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A random integer in [lo, hi] per row (hi >= lo)."""
    return lo + (rng.random(len(lo)) * (hi - lo + 1)).astype(np.int64)


def char_edit(rng: np.random.Generator, s: np.ndarray, kind: np.ndarray,
              layout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One keyboard typo per row of the UTF-8 array ``s``: ``kind`` (INSERT, DELETE, SUBSTITUTE, TRANSPOSE) per
    row. The first character is kept (people rarely mistype it); a deletion or transposition needs 3 characters
    and a substitution or transposition ASCII letters, else the row gets an insertion. Returns the edited array
    and the kind applied per row."""
    n = len(s)
    if n == 0:
        return s, kind
    u = _decode(s)
    L = np.strings.str_len(u).astype(np.int64)
    kind = np.where((kind != INSERT) & (L < 3), INSERT, kind)
    one = np.ones(n, dtype=np.int64)
    # substitution: a letter at 1..L-1; transposition: two different letters at i, i+1 with 1 <= i <= L-2
    sub_i = np.zeros(n, dtype=np.int64)
    sub_ok = np.zeros(n, dtype=bool)
    tr_i = np.zeros(n, dtype=np.int64)
    tr_ok = np.zeros(n, dtype=bool)
    for _ in range(4):
        i = _position(rng, one, np.maximum(L - 1, 1))
        good = ~sub_ok & _is_letter(_char_at(u, i))
        sub_i, sub_ok = np.where(good, i, sub_i), sub_ok | good
        j = _position(rng, one, np.maximum(L - 2, 1))
        a, b = _char_at(u, j), _char_at(u, j + 1)
        good = ~tr_ok & _is_letter(a) & _is_letter(b) & (a != b) & (L >= 3)
        tr_i, tr_ok = np.where(good, j, tr_i), tr_ok | good
    kind = np.where(((kind == SUBSTITUTE) & ~sub_ok) | ((kind == TRANSPOSE) & ~tr_ok), INSERT, kind)
    out = u.astype(f"U{u.dtype.itemsize // 4 + 1}")
    r = rng.random(n)
    sel = np.flatnonzero(kind == DELETE)
    if len(sel):
        i = _position(rng, one[sel], L[sel] - 1)
        out[sel] = np.strings.add(np.strings.slice(u[sel], 0, i), np.strings.slice(u[sel], i + 1, L[sel]))
    sel = np.flatnonzero(kind == SUBSTITUTE)
    if len(sel):
        i = sub_i[sel]
        ch = _from_codes(_neighbour(_char_at(u[sel], i), layout[sel], r[sel]))
        out[sel] = np.strings.add(np.strings.add(np.strings.slice(u[sel], 0, i), ch),
                                  np.strings.slice(u[sel], i + 1, L[sel]))
    sel = np.flatnonzero(kind == TRANSPOSE)
    if len(sel):
        i, us = tr_i[sel], u[sel]
        out[sel] = np.strings.add(np.strings.add(np.strings.slice(us, 0, i), np.strings.slice(us, i + 1, i + 2)),
                                  np.strings.add(np.strings.slice(us, i, i + 1), np.strings.slice(us, i + 2, L[sel])))
    sel = np.flatnonzero(kind == INSERT)
    if len(sel):
        i = _position(rng, one[sel], L[sel])  # after character i - 1
        prev = _char_at(u[sel], i - 1)
        double = rng.random(len(sel)) < 0.5  # a key hit twice, or a neighbouring key hit as well
        ch = _from_codes(np.where(double, prev, _neighbour(prev, layout[sel], r[sel])))
        out[sel] = np.strings.add(np.strings.add(np.strings.slice(u[sel], 0, i), ch),
                                  np.strings.slice(u[sel], i, L[sel]))
    return _encode(out), kind


def replace_pattern(rng: np.random.Generator, s: np.ndarray, rules: list[tuple[str, str]],
                    ignore_case: bool) -> tuple[np.ndarray, np.ndarray]:
    """Replace one occurrence of one applicable ``(old, new)`` rule per row (chosen at random among the rules
    that occur in it). Ignoring case, a replacement at the start of a capitalised word is capitalised ("Ph" ->
    "F"). Returns
    the edited array and which rows had a rule that applied."""
    n = len(s)
    if n == 0:
        return s, np.zeros(0, dtype=bool)
    u = _decode(s)
    hay = np.strings.lower(u) if ignore_case else u
    pos = np.stack([np.strings.find(hay, old) for old, _ in rules], axis=1) if rules else np.full((n, 0), -1)
    score = np.where(pos >= 0, rng.random(pos.shape) + 1e-9, 0.0)
    rule = np.argmax(score, axis=1)
    ok = score[np.arange(n), rule] > 0
    i = np.maximum(pos[np.arange(n), rule], 0)
    old_len = np.array([len(o) for o, _ in rules], dtype=np.int64)[rule]
    new = np.array([nw for _, nw in rules] or [""])[rule]
    first_upper = np.strings.isupper(np.strings.slice(u, 0, 1))
    if ignore_case:
        new = np.where((i == 0) & first_upper, np.strings.capitalize(new), new)
    L = np.strings.str_len(u).astype(np.int64)
    edited = np.strings.add(np.strings.add(np.strings.slice(u, 0, i), new), np.strings.slice(u, i + old_len, L))
    return np.where(ok, _encode(edited), s), ok


def wrong_digit(rng: np.random.Generator, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One digit of each ASCII value (postcodes) replaced by another digit; rows without digits unchanged."""
    n = len(s)
    if n == 0:
        return s, np.zeros(0, dtype=bool)
    w = s.dtype.itemsize
    m = s.view(np.uint8).reshape(n, w).copy()
    digit = (m >= 48) & (m <= 57)
    j = np.argmax(np.where(digit, rng.random((n, w)) + 1e-9, 0.0), axis=1)
    ok = digit.any(axis=1)
    rows = np.flatnonzero(ok)
    old = m[rows, j[rows]].astype(np.int64) - 48
    m[rows, j[rows]] = 48 + (old + rng.integers(1, 10, len(rows))) % 10
    return np.ascontiguousarray(m).view(f"S{w}").ravel(), ok


def swap_digits(rng: np.random.Generator, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two different adjacent digits of each ASCII value swapped; rows without such a pair unchanged."""
    n = len(s)
    if n == 0 or s.dtype.itemsize < 2:
        return s, np.zeros(n, dtype=bool)
    w = s.dtype.itemsize
    m = s.view(np.uint8).reshape(n, w).copy()
    digit = (m >= 48) & (m <= 57)
    pair = digit[:, :-1] & digit[:, 1:] & (m[:, :-1] != m[:, 1:])
    j = np.argmax(np.where(pair, rng.random((n, w - 1)) + 1e-9, 0.0), axis=1)
    ok = pair.any(axis=1)
    rows = np.flatnonzero(ok)
    a, b = m[rows, j[rows]].copy(), m[rows, j[rows] + 1].copy()
    m[rows, j[rows]], m[rows, j[rows] + 1] = b, a
    return np.ascontiguousarray(m).view(f"S{w}").ravel(), ok


def tag_codes(tags: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Boolean rows x tags (at most 64) -> per row an index into the returned labels: the row's tags joined by
    ';' in ``names`` order; label 0 is "" (no tag)."""
    n, k = tags.shape
    if k > 64:
        raise ValueError(f"tag_codes packs the tags of a row into 64 bits, got {k}")
    bits = (tags.astype(np.uint64) << np.arange(k, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)
    patterns, inverse = np.unique(np.concatenate([np.zeros(1, np.uint64), bits]), return_inverse=True)
    labels = [";".join(names[j] for j in range(k) if int(p) >> j & 1) for p in patterns]  # patterns[0] == 0
    return inverse.reshape(-1)[1:].astype(np.int64), labels


def tag_text(tags: np.ndarray, names: list[str]) -> np.ndarray:
    """Boolean rows x tags -> the tags of each row joined by ';' in ``names`` order (b"" for none)."""
    codes, labels = tag_codes(tags, names)
    return np.array([x.encode() for x in labels])[codes] if len(codes) else np.zeros(0, dtype="S1")
