"""The six hand-made personas (persons 1..6, CRM-000001..6, and Anna's duplicate record CRM-000007): their
CRM records and their whole activity, fixed relative to ``as_of`` and independent of the seed, so that
documentation and tests can tell their story (the loyal VIP, the lapsed customer, the abandoned cart, the
revoked consent, the unsubscribe and the bounce)."""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np

from tailor.demo.arrays import concat_columns
from tailor.demo.catalogue import FIXED_PRODUCTS, Catalogue
from tailor.demo.vocabulary import (
    ADD_TO_CART,
    CHECKOUT_STARTED,
    DAY,
    FROM_CHECKOUT,
    FROM_PREFERENCE_CENTER,
    FROM_SIGNUP_FORM,
    GRANTED,
    HOUR,
    MAIL_BOUNCE,
    MAIL_CLICK,
    MAIL_DELIVERED,
    MAIL_DROPPED,
    MAIL_OPEN,
    MAIL_PROCESSED,
    MAIL_UNSUBSCRIBE,
    PAGE_VIEW,
    PRODUCT_VIEW,
    PURPOSE_EMAIL,
    REVOKED,
    SYSTEM_IMPORT,
    SYSTEM_NEWSLETTER,
    SYSTEM_POS,
    SYSTEM_SHOP,
    TS_MS_Z,
    TS_NAIVE,
    TS_NAIVE_SPACE,
    TS_OFFSET,
    TS_UTC_OFFSET,
    TS_Z,
)

PERSONAS = [  # ref, persona, first, last, email, phone, country, city, postcode, tz, offset, created days ago
    (1, "loyal_vip", "Anna", "Schmidt", "anna.schmidt@example.com", "+49 30 55501001", "DE", "Berlin", "10115",
     "Europe/Berlin", 60, 700),
    (2, "lapsed", "Ben", "Carter", "ben.carter@example.co.uk", "+44 7700 900123", "GB", "London", "SW1A 1AA",
     "Europe/London", 0, 650),
    (3, "new_with_abandoned_cart", "Chloé", "Dubois", "chloe.dubois@example.fr", "+33 6 39 98 12 34", "FR",
     "Paris", "75011", "Europe/Paris", 60, 10),
    (4, "consent_revoked", "Dmitri", "Ivanov", "dmitri.ivanov@example.com", "+1 212 555 0147", "US",
     "New York", "10001", "America/New_York", -300, 500),
    (5, "unsubscribed", "Eva", "Novak", "eva.novak@example.com", "+43 1 5550123", "Austria", "Wien", "1010",
     "Europe/Vienna", 60, 400),
    (6, "bounced", "Farid", "Haddad", "farid.haddad@example.com", "", "Deutschland", "Köln", "50667", "", 60,
     300),
]
ANNA_DUPLICATE = (7, "loyal_vip_duplicate", "Ana", "Schmidt", "  Anna.Schmidt@EXAMPLE.com ", "030 55501001",
                  "Germany", "Berlin", "10115", "Europe/Berlin", 60, 150)
ANNA_DUPLICATE_EMAIL = b"Anna.Schmidt@EXAMPLE.com"  # as the duplicate record has it, stripped
# street, address line 2, house number (the POS and import systems keep it apart), date of birth; records 1..7
PERSONA_ADDRESSES = [
    ("Schönhauser Allee 12", "3. OG", "", "1986-04-12"), ("14 Elm Park Road", "Flat 2", "", "1979-11-03"),
    ("27 rue Oberkampf", "", "", "1995-07-21"), ("W 42nd St", "Apt 12C", "350", "1982-02-09"),
    ("Rotenturmstraße 5", "Top 4", "", "1990-09-30"), ("Venloer Straße", "", "88", ""),
    ("", "", "", ""),  # Anna's duplicate came from the newsletter sign-up: no address, no birth date
]
N_PERSONAS = len(PERSONAS)
PERSONA_COUNTRIES = ("DE", "GB", "FR", "US", "AT", "DE")  # the country codes of the free-text countries

# (person index, CRM ref, days before as_of, [(product index, qty)], ts style)
_PERSONA_ORDERS = (
    [(0, 1, d, items, TS_OFFSET) for d, items in [
        (392, [(0, 1), (1, 1)]), (333, [(10, 1), (11, 1)]), (290, [(4, 1), (5, 1), (6, 1)]), (248, [(8, 2)]),
        (215, [(1, 1), (6, 1)]), (181, [(0, 1)]), (150, [(10, 1), (11, 1)]), (122, [(5, 1), (4, 1)]),
        (88, [(1, 1), (11, 1), (6, 1)]), (61, [(10, 1)]), (33, [(8, 1), (6, 1)]), (5, [(0, 1), (1, 1)])]]
    + [(0, 7, 100, [(5, 1)], TS_Z)]
    + [(1, 2, d, it, TS_Z) for d, it in [(520, [(2, 1)]), (410, [(9, 1), (11, 1)]), (300, [(7, 1)])]]
    + [(2, 3, 9, [(6, 1), (9, 1)], TS_NAIVE)]
    + [(3, 4, d, it, TS_OFFSET) for d, it in [(180, [(7, 1)]), (120, [(3, 1)]), (60, [(10, 1), (11, 1)]),
                                               (15, [(0, 1)])]]
    + [(4, 5, d, it, TS_MS_Z) for d, it in [(250, [(6, 1), (4, 1)]), (90, [(8, 1)])]]
    + [(5, 6, d, it, TS_UTC_OFFSET) for d, it in [(200, [(2, 1)]), (45, [(11, 1)])]]
)
PERSONA_ORDER_OFFSET = 1800  # persona orders are placed 30 minutes before the whole day mark


def persona_records(as_of_s: int) -> dict:
    """The seven persona CRM records (CRM-000001..7) as record columns: text fields as bytes (the address and
    birth date from PERSONA_ADDRESSES), ``created`` and
    ``updated`` in Unix seconds with their timestamp ``style`` and zone offset ``off``, ``system`` the
    SOURCE_SYSTEMS code."""
    records = PERSONAS + [ANNA_DUPLICATE]
    text = lambda i: np.array([p[i].encode() for p in records])  # noqa: E731
    created = np.array([as_of_s - p[11] * DAY for p in records], dtype=np.int64)
    return {
        "ref": np.array([p[0] for p in records], dtype=np.int64),
        "email": text(4), "first_name": text(2), "last_name": text(3), "phone": text(5), "country": text(6),
        "city": text(7), "postcode": text(8), "timezone": text(9),
        "created": created,
        "updated": created + np.array([30, 2, 0, 5, 1, 3, 0]) * DAY,
        "style": np.array([TS_Z, TS_UTC_OFFSET, TS_OFFSET, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE, TS_MS_Z]),
        "off": np.array([p[10] for p in records]),
        "system": np.array([SYSTEM_SHOP, SYSTEM_SHOP, SYSTEM_SHOP, SYSTEM_POS, SYSTEM_SHOP, SYSTEM_IMPORT,
                            SYSTEM_NEWSLETTER]),
        **{k: np.array([a[i].encode() for a in PERSONA_ADDRESSES])
           for i, k in enumerate(("street", "address_line2", "house_number", "date_of_birth"))},
    }


class _PersonaLog:
    """The personas' activity rows, as tuples of codes, in the order they are made up."""

    def __init__(self) -> None:
        self.orders, self.items, self.web, self.consent, self.msgs, self.mev = [], [], [], [], [], []
        self.sessions = 0

    def session(self, person: int, ref: int, t0: int, steps: list[tuple[int, int, int]], plat: int = 0) -> None:
        """steps: list of (seconds after t0, type, product index or -1)."""
        s = self.sessions
        self.sessions += 1
        for dt, typ, prod in steps:
            self.web.append((ref, person, typ, prod, t0 + dt, plat, s, TS_Z if person != 3 else TS_OFFSET))

    def mail(self, campaigns: np.ndarray, as_of_s: int, person: int, email: bytes, g: int, r: int,
             open_rule: Callable[[int, int], bool], click_rule: Callable[[int, int], bool],
             stop: tuple[int, int] | None = None) -> None:
        """Every campaign sent in the consent window [g, r), opened and clicked by a rule of (campaign time,
        message number); ``stop`` (event, time) ends the programme with a bounce or an unsubscribe."""
        sends = [(ci, int(tc) + 600 + 97 * person, False) for ci, tc in enumerate(campaigns)
                 if g <= tc < r and int(tc) + 600 + 97 * person < as_of_s]
        unsub_k = -1
        if stop and stop[0] == MAIL_BOUNCE:  # this person's send of the latest campaign went out late and bounced
            prev = max(i for i, x in enumerate(campaigns) if x <= stop[1])
            sends = sorted([x for x in sends if x[0] != prev] + [(prev, stop[1] - 45, True)], key=lambda x: x[1])
        elif stop:  # unsubscribe from the last message sent at least 2 hours before stop_t
            unsub_k = max(k for k, x in enumerate(sends) if x[1] + 2 * HOUR < stop[1])
        stopped = False
        for k, (ci, send, bounce) in enumerate(sends):
            mi = len(self.msgs)
            self.msgs.append((person, email, ci, send))
            self.mev.append((mi, MAIL_PROCESSED, send, -1))
            if stopped:
                self.mev.append((mi, MAIL_DROPPED, send + 1, -1))
                continue
            if bounce:
                self.mev.append((mi, MAIL_BOUNCE, stop[1], -1))
                stopped = True
                continue
            self.mev.append((mi, MAIL_DELIVERED, send + 4, -1))
            opened = open_rule(tc := int(campaigns[ci]), k) or k == unsub_k
            if opened:
                self.mev.append((mi, MAIL_OPEN, send + 2 * HOUR, -1))
                if click_rule(tc, k):
                    self.mev.append((mi, MAIL_CLICK, send + 2 * HOUR + 180, (k * 5) % len(FIXED_PRODUCTS)))
            if k == unsub_k:
                self.mev.append((mi, stop[0], stop[1], -1))
                stopped = True


def _add_orders(log: _PersonaLog, as_of_s: int, cat: Catalogue) -> None:
    """The orders, each with the session that bought it."""
    for person, ref, days, its, style in _PERSONA_ORDERS:
        t = as_of_s - days * DAY - PERSONA_ORDER_OFFSET
        oi = len(log.orders)
        log.orders.append((person, ref, t, 0, style, len(its)))
        for p, q in its:
            log.items.append((oi, p, q, int(cat.cents[p])))
        steps = [(0, PAGE_VIEW, -1)]
        for j, (p, _) in enumerate(its):
            steps += [(60 + 120 * j, PRODUCT_VIEW, p), (100 + 120 * j, ADD_TO_CART, p)]
        steps.append((120 * len(its) + 200, CHECKOUT_STARTED, -1))
        log.session(person, ref, t - (120 * len(its) + 400), steps, plat=person % 2)


def _add_browsing(log: _PersonaLog, as_of_s: int) -> None:
    s = log.session
    # Anna: three products viewed (never bought) in the last 10 days, plus some older browsing of items she owns
    s(0, 1, as_of_s - 3 * DAY + 5 * HOUR, [(0, PAGE_VIEW, -1), (40, PRODUCT_VIEW, 3), (130, PAGE_VIEW, -1)])
    s(0, 1, as_of_s - 6 * DAY + 2 * HOUR, [(0, PRODUCT_VIEW, 7), (95, PAGE_VIEW, -1)])
    s(0, 1, as_of_s - 9 * DAY + 7 * HOUR, [(0, PAGE_VIEW, -1), (30, PRODUCT_VIEW, 2), (70, PRODUCT_VIEW, 2)])
    for d in (370, 260, 200, 140, 70, 45):
        s(0, 1, as_of_s - d * DAY, [(0, PAGE_VIEW, -1), (50, PRODUCT_VIEW, 0), (120, PRODUCT_VIEW, 11)])
    # Ben: some browsing long ago, nothing in the last 200 days
    s(1, 2, as_of_s - 330 * DAY, [(0, PAGE_VIEW, -1), (60, PRODUCT_VIEW, 2), (200, PAGE_VIEW, -1)])
    s(1, 2, as_of_s - 250 * DAY, [(0, PAGE_VIEW, -1)])
    # Chloé: abandoned cart (two products) 2 days before as_of
    s(2, 3, as_of_s - 2 * DAY - 900, [(0, PAGE_VIEW, -1), (60, PRODUCT_VIEW, 1), (300, ADD_TO_CART, 1),
                                      (420, PRODUCT_VIEW, 10), (600, ADD_TO_CART, 10)])
    # Dmitri: active browser
    for d in (100, 40, 12, 4):
        s(3, 4, as_of_s - d * DAY + 3 * HOUR, [(0, PAGE_VIEW, -1), (45, PRODUCT_VIEW, 7), (110, PRODUCT_VIEW, 3)])


def _add_consent(log: _PersonaLog, as_of_s: int) -> None:
    # (person, email, status, t, source, style); all for marketing e-mail
    log.consent += [
        (0, b"anna.schmidt@example.com", GRANTED, as_of_s - 700 * DAY + 120, FROM_SIGNUP_FORM, TS_Z),
        (1, b"ben.carter@example.co.uk", GRANTED, as_of_s - 650 * DAY + 60, FROM_SIGNUP_FORM, TS_UTC_OFFSET),
        (2, b"chloe.dubois@example.fr", GRANTED, as_of_s - 10 * DAY + 60, FROM_SIGNUP_FORM, TS_OFFSET),
        (3, b"dmitri.ivanov@example.com", GRANTED, as_of_s - 200 * DAY, FROM_CHECKOUT, TS_OFFSET),
        (3, b"dmitri.ivanov@example.com", REVOKED, as_of_s - 20 * DAY, FROM_PREFERENCE_CENTER, TS_NAIVE),
        (4, b"eva.novak@example.com", GRANTED, as_of_s - 400 * DAY + 300, FROM_SIGNUP_FORM, TS_Z),
        (5, b"farid.haddad@example.com", GRANTED, as_of_s - 300 * DAY + 300, FROM_CHECKOUT, TS_NAIVE_SPACE),
    ]


def _add_mail(log: _PersonaLog, as_of_s: int, campaigns: np.ndarray) -> None:
    mail = partial(log.mail, campaigns, as_of_s)
    far = as_of_s + DAY
    mail(0, b"anna.schmidt@example.com", as_of_s - 700 * DAY, as_of_s - 150 * DAY, lambda t, k: k % 5 != 4,
         lambda t, k: k % 2 == 0)
    # after the duplicate record was created, newsletters also went to the duplicate's address
    mail(0, ANNA_DUPLICATE_EMAIL, as_of_s - 150 * DAY, far, lambda t, k: True, lambda t, k: k % 2 == 1)
    mail(1, b"ben.carter@example.co.uk", as_of_s - 650 * DAY, far,
         lambda t, k: t < as_of_s - 200 * DAY and k % 3 == 0, lambda t, k: False)
    mail(2, b"chloe.dubois@example.fr", as_of_s - 10 * DAY, far, lambda t, k: True, lambda t, k: True)
    mail(3, b"dmitri.ivanov@example.com", as_of_s - 200 * DAY, as_of_s - 20 * DAY,
         lambda t, k: k % 2 == 0, lambda t, k: False)
    mail(4, b"eva.novak@example.com", as_of_s - 400 * DAY, far, lambda t, k: k % 3 == 0, lambda t, k: False,
         stop=(MAIL_UNSUBSCRIBE, as_of_s - 30 * DAY))
    mail(5, b"farid.haddad@example.com", as_of_s - 300 * DAY, far, lambda t, k: k % 2 == 1, lambda t, k: False,
         stop=(MAIL_BOUNCE, as_of_s - 40 * DAY))


def _as_tables(log: _PersonaLog, off: np.ndarray) -> dict:
    """The log as the column tables of ``activity.block_activity``."""
    o = np.array(log.orders, dtype=np.int64).reshape(-1, 6)
    it = np.array(log.items, dtype=np.int64).reshape(-1, 4)
    w = np.array(log.web, dtype=np.int64).reshape(-1, 8)
    c, ms = log.consent, log.msgs
    ev = np.array(log.mev, dtype=np.int64).reshape(-1, 4)
    return {
        "orders": {"person": o[:, 0], "ref": o[:, 1], "t": o[:, 2], "status": o[:, 3], "style": o[:, 4],
                   "off": off[o[:, 0]], "n_items": o[:, 5]},
        "items": {"order": it[:, 0], "product": it[:, 1], "qty": it[:, 2], "cents": it[:, 3]},
        "web": {"ref": w[:, 0], "anon": w[:, 1].astype(np.uint64), "type": w[:, 2], "product": w[:, 3],
                "t": w[:, 4], "ms": (w[:, 4] * 7 % 1000), "platform": w[:, 5], "session": w[:, 6],
                "style": w[:, 7], "off": off[w[:, 1]]},
        "consent": {"person": np.array([x[0] for x in c]), "email": np.array([x[1] for x in c], dtype="S80"),
                    "status": np.array([x[2] for x in c]), "t": np.array([x[3] for x in c], dtype=np.int64),
                    "source": np.array([x[4] for x in c]), "style": np.array([x[5] for x in c]),
                    "off": off[np.array([x[0] for x in c])], "purpose": np.full(len(c), PURPOSE_EMAIL)},
        "msgs": {"person": np.array([m[0] for m in ms]), "email": np.array([m[1] for m in ms], dtype="S80"),
                 "campaign": np.array([m[2] for m in ms]), "t": np.array([m[3] for m in ms], dtype=np.int64)},
        "mev": {"msg": ev[:, 0], "type": ev[:, 1], "t": ev[:, 2], "product": ev[:, 3]},
        "n_sessions": log.sessions,
    }


def persona_activity(as_of_s: int, off: np.ndarray, cat: Catalogue, campaigns: np.ndarray) -> dict:
    """Orders, items, web events, consent rows and e-mail messages/events of the six personas (``off``: every
    person's zone offset in minutes)."""
    log = _PersonaLog()
    _add_orders(log, as_of_s, cat)
    _add_browsing(log, as_of_s)
    _add_consent(log, as_of_s)
    _add_mail(log, as_of_s, campaigns)
    return _as_tables(log, off)


def merge_personas(act: dict, per: dict) -> dict:
    """Put the personas' rows in front of block 0's random rows (fixing up the internal indexes)."""
    out = dict(act)
    no = len(per["orders"]["t"])
    out["orders"] = concat_columns([per["orders"], act["orders"]])
    out["items"] = concat_columns([per["items"], {**act["items"], "order": act["items"]["order"] + no}])
    pw = dict(per["web"])
    aw = dict(act["web"])
    aw["session"] = aw["session"] + per["n_sessions"]
    out["web"] = concat_columns([pw, {k: aw[k] for k in pw}])
    pc = per["consent"]
    out["consent"] = concat_columns([pc, {k: act["consent"][k] for k in pc}])
    nm = len(per["msgs"]["t"])
    out["msgs"] = concat_columns([per["msgs"], {k: act["msgs"][k] for k in per["msgs"]}])
    out["mev"] = concat_columns([per["mev"], {**act["mev"], "msg": act["mev"]["msg"] + nm}])
    return out
