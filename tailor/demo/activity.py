"""Shopping behaviour of the random people, one generation block at a time: heavy-tailed orders with
discounts, the web session that bought each order, browsing sessions (some anonymous) and visitors who
never became customers.

Tables are dicts of equally long columns; ``person`` is the index into ``People``, ``ref`` the CRM number
the row is written with (the duplicate record's for some rows after it was created; 0 = none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tailor.demo.arrays import concat_columns, group_positions, pick, take_rows
from tailor.demo.catalogue import Catalogue, choose_products
from tailor.demo.encoding import civil_date
from tailor.demo.people import People
from tailor.demo.personas import N_PERSONAS
from tailor.demo.vocabulary import (
    ADD_TO_CART,
    CHECKOUT_STARTED,
    DAY,
    ORDER_STATUS,
    PAGE_VIEW,
    PRODUCT_VIEW,
    TS_MS_Z,
    TS_NAIVE,
    TS_OFFSET,
    TS_Z,
    WINDOW_DAYS,
)

_ANONYMOUS = np.uint64(1 << 62)  # anonymous ids of visitors who are nobody's cookie


@dataclass
class ActivityBlock:
    """The persons ``lo..hi-1`` and the random stream their activity draws from (in a fixed order)."""

    rng: np.random.Generator
    people: People
    lo: int
    hi: int
    cat: Catalogue
    as_of_s: int
    m: int = field(init=False)
    created: np.ndarray = field(init=False)
    a0: np.ndarray = field(init=False)  # active period [a0, a1)
    a1: np.ndarray = field(init=False)
    span: np.ndarray = field(init=False)
    real: np.ndarray = field(init=False)  # not a persona (their activity is hand-made)
    fav: np.ndarray = field(init=False)
    start: int = field(init=False)  # of the window

    def __post_init__(self) -> None:
        P, lo, hi = self.people, self.lo, self.hi
        self.m = hi - lo
        self.created, self.a0, self.a1 = P.created[lo:hi], P.act_start[lo:hi], P.act_end[lo:hi]
        self.span = (self.a1 - self.a0).astype(np.int64)
        self.real = ~P.persona[lo:hi]
        self.fav = P.fav[lo:hi]
        self.start = self.as_of_s - WINDOW_DAYS * DAY

    def ref_at(self, person_local: np.ndarray, t: np.ndarray) -> np.ndarray:
        """The CRM number a row of the person at time t is written with: after the duplicate record was
        created, half of the rows carry the duplicate's."""
        P = self.people
        g = person_local + self.lo
        use_dup = P.dup[g] & (t >= P.dup_created[g]) & (self.rng.random(len(g)) < 0.5)
        primary = np.where(g < N_PERSONAS, g + 1, g + 2)
        return np.where(use_dup, P.dup_ref[g], primary)


def orders(b: ActivityBlock) -> tuple[dict, dict]:
    """Orders (heavy-tailed: ~30% never buy, many one-off, some repeat buyers) and their items, with
    discounts of 10-40 %: some lines at any time, many in sales periods (January, July, Black Friday week),
    and most lines of "discount seekers"; products.price stays the list price."""
    rng, P, lo = b.rng, b.people, b.lo
    buyer = (rng.random(b.m) < 0.70) & b.real
    lam = rng.gamma(0.45, 6.0, b.m) * np.clip(b.span / (365 * DAY), 0.05, 1.0)
    n_orders = np.where(buyer, 1 + rng.poisson(lam), 0).clip(0, 60)
    o_person, o_pos = group_positions(n_orders)
    n_o = len(o_person)
    ot = b.a0[o_person] + (rng.random(n_o) * b.span[o_person]).astype(np.int64)
    at_signup = (o_pos == 0) & (rng.random(n_o) < 0.4) & (b.created[o_person] >= b.start)
    ot = np.where(at_signup, b.created[o_person] + rng.integers(120, 1800, n_o), ot)
    ot = np.minimum(ot, b.as_of_s - 120)
    status = pick(rng, ORDER_STATUS, [0.92, 0.04, 0.04], n_o)
    n_items = (1 + rng.poisson(1.0, n_o)).clip(1, 8)
    i_order, _ = group_positions(n_items)
    n_i = len(i_order)
    prod = choose_products(rng, b.cat, b.fav[o_person[i_order]], 0.6)
    qty = np.array([1, 2, 3, 4])[pick(rng, [1, 2, 3, 4], [0.86, 0.10, 0.03, 0.01], n_i)]
    cents = b.cat.cents[prod]
    _, mo, dd = civil_date(ot[i_order] // DAY)
    in_sale = ((mo == 1) & (dd <= 20)) | (mo == 7) | ((mo == 11) & (dd >= 24)) | ((mo == 12) & (dd <= 2))
    seeker = P.seeker[lo:b.hi][o_person[i_order]]
    disc = rng.random(n_i) < np.where(seeker, 0.75, np.where(in_sale, 0.35, 0.05))
    pct = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40])[
        pick(rng, list(range(6)), [0.25, 0.15, 0.25, 0.10, 0.15, 0.10], n_i)]
    cents = np.where(disc, np.round(cents * (1 - pct)), cents)
    order_table = {"person": o_person + lo, "ref": b.ref_at(o_person, ot), "t": ot, "status": status,
                   "style": np.array([TS_Z, TS_OFFSET, TS_NAIVE, TS_MS_Z])[
                       pick(rng, [0, 1, 2, 3], [0.5, 0.3, 0.1, 0.1], n_o)],
                   "off": P.off[o_person + lo], "n_items": n_items}
    items = {"order": i_order, "product": prod, "qty": qty, "cents": cents.astype(np.int64)}
    return order_table, items


def _purchase_sessions(b: ActivityBlock, order_table: dict, items: dict) -> tuple[dict, int]:
    """For ~90% of the orders the session that bought it: a product view and an add-to-cart per item, then
    the checkout. Returns the events and the number of sessions (numbered from 0)."""
    rng = b.rng
    o_person, ot, n_items = order_table["person"] - b.lo, order_table["t"], order_table["n_items"]
    prod = items["product"]
    so = np.flatnonzero(rng.random(len(ot)) < 0.9)
    e_sess, e_pos = group_positions(2 * n_items[so] + 1)
    o_of_e = so[e_sess]
    ni = n_items[o_of_e]
    is_chk = e_pos == 2 * ni
    item_j = np.minimum(e_pos // 2, ni - 1)
    first_item = np.cumsum(n_items) - n_items
    p_of_e = np.where(is_chk, -1, prod[first_item[o_of_e] + item_j])
    typ = np.where(is_chk, CHECKOUT_STARTED, np.where(e_pos % 2 == 0, PRODUCT_VIEW, ADD_TO_CART))
    s_start = ot[so] - (120 * n_items[so] + 300 + rng.integers(0, 900, len(so)))
    et = s_start[e_sess] + np.where(is_chk, 120 * ni + 200, 120 * item_j + np.where(e_pos % 2, 80, 20))
    pplat = b.people.plat[b.lo:b.hi]
    s_plat = np.where(rng.random(len(so)) < 0.8, pplat[o_person[so]], rng.integers(0, 3, len(so)))
    return {"ref": order_table["ref"][so][e_sess], "anon": (o_person[so][e_sess] + b.lo).astype(np.uint64),
            "type": typ, "product": p_of_e, "t": et, "platform": s_plat[e_sess],
            "session": e_sess.astype(np.int64)}, len(so)


def _browsing_sessions(b: ActivityBlock, first_session: int) -> tuple[dict, int]:
    """Browsing sessions of customers (logged in 85%, else only the cookie id). An add-to-cart refers to the
    last product viewed in the session (without one it is a product view); a checkout needs a cart."""
    rng = b.rng
    lam_b = rng.gamma(1.0, 6.0, b.m) * np.clip(b.span / (365 * DAY), 0.15, 1.5) * b.real
    b_person, _ = group_positions(rng.poisson(lam_b))
    nb = len(b_person)
    b_start = b.a0[b_person] + (rng.random(nb) * b.span[b_person]).astype(np.int64)
    k_b = (1 + rng.poisson(3.0, nb)).clip(1, 40)
    be_s, be_pos = group_positions(k_b)
    ne = len(be_s)
    gaps = rng.exponential(45.0, ne).astype(np.int64) + 3
    gaps[be_pos == 0] = 0
    cs = np.cumsum(gaps)
    first_e = np.cumsum(k_b) - k_b
    bt = b_start[be_s] + cs - cs[first_e][be_s]
    u = rng.random(ne)
    btyp = np.where(u < 0.33, PAGE_VIEW, np.where(u < 0.85, PRODUCT_VIEW, np.where(u < 0.97, ADD_TO_CART,
                                                                                     CHECKOUT_STARTED)))
    btyp = np.where((be_pos == 0) & (rng.random(ne) < 0.7), PAGE_VIEW, btyp)
    bprod = choose_products(rng, b.cat, b.fav[b_person[be_s]], 0.65)
    idx = np.arange(ne)
    last_pv = np.maximum.accumulate(np.where(btyp == PRODUCT_VIEW, idx, -1))
    has_pv = last_pv >= first_e[be_s]
    btyp = np.where((btyp == ADD_TO_CART) & ~has_pv, PRODUCT_VIEW, btyp)
    last_pv = np.maximum.accumulate(np.where(btyp == PRODUCT_VIEW, idx, -1))
    bprod = np.where(btyp == ADD_TO_CART, bprod[np.maximum(last_pv, 0)], bprod)
    last_atc = np.maximum.accumulate(np.where(btyp == ADD_TO_CART, idx, -1))
    btyp = np.where((btyp == CHECKOUT_STARTED) & (last_atc < first_e[be_s]), PAGE_VIEW, btyp)
    bprod = np.where((btyp == PAGE_VIEW) | (btyp == CHECKOUT_STARTED), -1, bprod)
    logged = rng.random(nb) < 0.85
    bref = np.where(logged, b.ref_at(b_person, b_start), 0)
    b_plat = np.where(rng.random(nb) < 0.8, b.people.plat[b.lo:b.hi][b_person], rng.integers(0, 3, nb))
    return {"ref": bref[be_s], "anon": (b_person[be_s] + b.lo).astype(np.uint64), "type": btyp,
            "product": bprod, "t": bt, "platform": b_plat[be_s],
            "session": (be_s + first_session).astype(np.int64)}, nb


def _visitor_sessions(b: ActivityBlock, first_session: int) -> dict:
    """Anonymous visitors who never became customers (about one per two people)."""
    rng = b.rng
    na = int(rng.poisson(0.5 * b.m))
    ae_s, ae_pos = group_positions((1 + rng.poisson(1.5, na)).clip(1, 20))
    nae = len(ae_s)
    a_start = b.start + (rng.random(na) * (WINDOW_DAYS * DAY)).astype(np.int64)
    at = a_start[ae_s] + ae_pos * (20 + rng.integers(0, 90, nae))
    atyp = np.where((ae_pos == 0) | (rng.random(nae) < 0.4), PAGE_VIEW, PRODUCT_VIEW)
    aprod = np.where(atyp == PRODUCT_VIEW, choose_products(rng, b.cat, np.zeros(nae, dtype=np.int64), 0.0), -1)
    return {"ref": np.zeros(nae, dtype=np.int64),
            "anon": (_ANONYMOUS | (ae_s + b.lo * 64).astype(np.uint64)), "type": atyp,
            "product": aprod, "t": at, "platform": rng.integers(0, 3, na)[ae_s],
            "session": (ae_s + first_session).astype(np.int64)}


def web_events(b: ActivityBlock, order_table: dict, items: dict) -> dict:
    """All web events of the block before ``as_of``; sessions are numbered within the block."""
    rng = b.rng
    purchase, n_purchase = _purchase_sessions(b, order_table, items)
    browse, n_browse = _browsing_sessions(b, n_purchase)
    anon = _visitor_sessions(b, n_purchase + n_browse)
    web = concat_columns([purchase, browse, anon])
    nw = len(web["t"])
    web["ms"] = rng.integers(0, 1000, nw)
    own = web["anon"] < _ANONYMOUS
    web["off"] = np.where(own, b.people.off[np.where(own, web["anon"], 0).astype(np.int64)], 0)
    web["style"] = np.array([TS_Z, TS_MS_Z, TS_OFFSET, TS_NAIVE])[
        pick(rng, [0, 1, 2, 3], [0.55, 0.2, 0.15, 0.1], nw)]
    return take_rows(web, web["t"] < b.as_of_s - 1)
