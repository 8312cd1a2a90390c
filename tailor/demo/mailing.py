"""Consent and e-mail of the random people, one generation block at a time: consent rows per purpose
(marketing e-mail, SMS, personalization), the campaign calendar, which campaigns reach whom, and the
webhook events of every message (delivery, opens, clicks, bounces, spam reports, unsubscribes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from tailor.demo.activity import ActivityBlock
from tailor.demo.arrays import concat_columns, group_positions, pick, take_rows
from tailor.demo.catalogue import choose_products
from tailor.demo.vocabulary import (
    DAY,
    FROM_CHECKOUT,
    FROM_IMPORT,
    FROM_PREFERENCE_CENTER,
    FROM_SIGNUP_FORM,
    GRANTED,
    HOUR,
    MAIL_BOUNCE,
    MAIL_CLICK,
    MAIL_DELIVERED,
    MAIL_DROPPED,
    MAIL_GROUP_UNSUBSCRIBE,
    MAIL_OPEN,
    MAIL_PROCESSED,
    MAIL_SPAMREPORT,
    MAIL_UNSUBSCRIBE,
    PURPOSE_EMAIL,
    PURPOSE_PERSONALIZATION,
    PURPOSE_SMS,
    REVOKED,
    TS_NAIVE_SPACE,
    TS_OFFSET,
    TS_Z,
    WINDOW_DAYS,
)


def campaign_calendar(as_of_s: int) -> tuple[np.ndarray, list[bytes]]:
    """Monthly newsletter (3rd of the month, 08:00 UTC) plus quarterly promos (15th, 16:00 UTC): send times
    and campaign ids, by time."""
    start = as_of_s - WINDOW_DAYS * DAY
    d0 = datetime.fromtimestamp(start, tz=timezone.utc)
    y, m = d0.year, d0.month
    times, ids = [], []
    while True:
        for day, hour, kind in ((3, 8, "newsletter"), (15, 16, "promo")):
            if kind == "promo" and m % 3 != 2:
                continue
            t = int(datetime(y, m, day, hour, tzinfo=timezone.utc).timestamp())
            if start <= t < as_of_s - 2 * HOUR:
                times.append(t)
                ids.append(f"{kind}-{y:04d}-{m:02d}".encode())
        if datetime(y, m, 1, tzinfo=timezone.utc).timestamp() > as_of_s:
            break
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    order = np.argsort(times, kind="stable")
    return np.array(times, dtype=np.int64)[order], [ids[i] for i in order]


@dataclass
class EmailConsent:
    """Per person of the block: marketing e-mail granted at ``granted_at``, maybe revoked at ``revoked_at``
    and granted again at ``regranted_at`` (the flags say which happened)."""

    granted: np.ndarray
    granted_at: np.ndarray
    revoked: np.ndarray
    revoked_at: np.ndarray
    regranted: np.ndarray
    regranted_at: np.ndarray


def consent(b: ActivityBlock) -> tuple[dict, EmailConsent]:
    """Consent rows (~80% of people with an e-mail grant marketing e-mail; some revoke later). SMS marketing
    is asked at checkout from people with a real phone (some revoke later); personalization runs on
    legitimate interest, so its rows are mostly objections from the preference centre. Some rows carry the
    duplicate record's address."""
    rng, P, lo, m, as_of_s, start, a0, created = b.rng, b.people, b.lo, b.m, b.as_of_s, b.start, b.a0, b.created
    emails = P.email[lo:b.hi]
    has_e = (emails != b"") & b.real
    grant = has_e & (rng.random(m) < 0.80)
    legacy = created < start
    g_late = rng.random(m) < 0.15
    g_t = np.where(legacy, start + rng.integers(0, 7 * DAY, m),
                   np.where(g_late, a0 + (rng.random(m) * (as_of_s - a0)).astype(np.int64),
                            created + rng.integers(5, 600, m)))
    g_t = np.minimum(g_t, as_of_s - 60)
    g_src = np.where(legacy, FROM_IMPORT, np.where(g_late, FROM_PREFERENCE_CENTER,
                                                   np.where(rng.random(m) < 0.6, FROM_SIGNUP_FORM, FROM_CHECKOUT)))
    revoke = grant & (rng.random(m) < 0.10)
    r_t = g_t + (rng.random(m) * (as_of_s - 60 - g_t)).astype(np.int64)
    regrant = revoke & (rng.random(m) < 0.15)
    g2_t = r_t + (rng.random(m) * (as_of_s - 60 - r_t)).astype(np.int64)
    twice = grant & ~revoke & (rng.random(m) < 0.05)  # granted again, e.g. at a later checkout
    t2_t = g_t + (rng.random(m) * (as_of_s - 60 - g_t)).astype(np.int64)
    declined = has_e & ~grant & (rng.random(m) < 0.3)
    sms = has_e & P.has_phone[lo:b.hi] & (rng.random(m) < 0.30)
    sms_t = a0 + (rng.random(m) * (as_of_s - 60 - a0)).astype(np.int64)
    sms_rev = sms & (rng.random(m) < 0.15)
    sms_rt = sms_t + (rng.random(m) * (as_of_s - 60 - sms_t)).astype(np.int64)
    pers_g = has_e & (rng.random(m) < 0.10)
    pers_gt = created + rng.integers(5, 600, m)
    pers_r = has_e & (rng.random(m) < 0.06)
    pers_rt = np.maximum(pers_gt, a0) + (rng.random(m) * (as_of_s - 60 - np.maximum(pers_gt, a0))).astype(np.int64)
    dup_mail = P.dup[lo:b.hi] & (P.dup_email[lo:b.hi] != b"")
    parts = []
    pref = np.full(m, FROM_PREFERENCE_CENTER)
    for mask, tt, st, src, purpose in (
            (grant, g_t, GRANTED, g_src, PURPOSE_EMAIL), (revoke, r_t, REVOKED, pref, PURPOSE_EMAIL),
            (regrant, g2_t, GRANTED, pref, PURPOSE_EMAIL),
            (twice, t2_t, GRANTED, np.full(m, FROM_CHECKOUT), PURPOSE_EMAIL),
            (declined, a0 + 30, REVOKED, np.where(legacy, FROM_IMPORT, FROM_SIGNUP_FORM), PURPOSE_EMAIL),
            (sms, sms_t, GRANTED, np.full(m, FROM_CHECKOUT), PURPOSE_SMS),
            (sms_rev, sms_rt, REVOKED, pref, PURPOSE_SMS),
            (pers_g, pers_gt, GRANTED, np.full(m, FROM_SIGNUP_FORM), PURPOSE_PERSONALIZATION),
            (pers_r, pers_rt, REVOKED, pref, PURPOSE_PERSONALIZATION)):
        s = np.flatnonzero(mask)
        use_dup = dup_mail[s] & (tt[s] >= P.dup_created[s + lo]) & (rng.random(len(s)) < 0.3)
        parts.append({"person": s + lo, "email": np.where(use_dup, P.dup_email[s + lo], emails[s]),
                      "status": np.full(len(s), st), "t": tt[s], "source": src[s],
                      "purpose": np.full(len(s), purpose)})
    rows = concat_columns(parts)
    rows["t"] = np.minimum(rows["t"], as_of_s - 30)
    rows["style"] = np.array([TS_Z, TS_OFFSET, TS_NAIVE_SPACE])[pick(rng, [0, 1, 2], [0.5, 0.3, 0.2], len(rows["t"]))]
    rows["off"] = P.off[rows["person"]]
    return rows, EmailConsent(grant, g_t, revoke, r_t, regrant, g2_t)


def _sends(b: ActivityBlock, window: EmailConsent, campaigns: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each consenting person receives part of the campaigns in the consent window: (person in the block,
    campaign, send time) per message, sorted by person, then campaign time."""
    rng, m = b.rng, b.m
    tc = campaigns[None, :]
    inf = np.iinfo(np.int64).max
    end1 = np.where(window.revoked, window.revoked_at, inf)[:, None]
    g2 = np.where(window.regranted, window.regranted_at, inf)[:, None]
    q = rng.beta(2.3, 3.75, m)[:, None]  # how much of the programme reaches this person
    elig = window.granted[:, None] & (((tc >= window.granted_at[:, None]) & (tc < end1)) | (tc >= g2))
    recv = elig & (rng.random((m, len(campaigns))) < q)
    mp, mc = np.nonzero(recv)
    send = campaigns[mc] + rng.integers(0, 4 * HOUR, m)[mp] + rng.integers(0, 60, len(mp))
    ok = send < b.as_of_s - 120
    return mp[ok], mc[ok], send[ok]


def _fates(b: ActivityBlock, mp: np.ndarray, send: np.ndarray) -> dict:
    """What happens to each message: a per-person stop event (bounce / spam report / unsubscribe / group
    unsubscribe) at a random message drops all later ones; opens and clicks per person propensity, rare
    after the person's active period."""
    rng, m, nm = b.rng, b.m, len(mp)
    _, mrank = group_positions(np.bincount(mp, minlength=m))
    n_msg = np.bincount(mp, minlength=m)
    u = rng.random(m)
    stop_kind = np.select([u < 0.010, u < 0.012, u < 0.027, u < 0.030],
                          [MAIL_BOUNCE, MAIL_SPAMREPORT, MAIL_UNSUBSCRIBE, MAIL_GROUP_UNSUBSCRIBE], -1)
    stop_kind = np.where(n_msg > 0, stop_kind, -1)
    stop_at = (rng.random(m) * n_msg).astype(np.int64)
    sk = stop_kind[mp]
    is_stop = (sk >= 0) & (mrank == stop_at[mp])
    after = (sk >= 0) & (mrank > stop_at[mp])
    bounced = is_stop & (sk == MAIL_BOUNCE)
    delivered = ~after & ~bounced
    p_open = rng.beta(2.0, 4.5, m)
    p_click = rng.beta(1.5, 6.0, m)
    late = send > b.a1[mp]
    opened = delivered & ((rng.random(nm) < p_open[mp] * np.where(late, 0.25, 1.0)) |
                          (is_stop & (sk != MAIL_BOUNCE)))
    n_open = np.where(opened, 1 + rng.poisson(0.5, nm), 0)
    clicked = opened & (rng.random(nm) < p_click[mp])
    n_click = np.where(clicked, 1 + rng.poisson(0.3, nm), 0)
    t_deliv = send + rng.integers(2, 120, nm)
    t_open1 = t_deliv + rng.exponential(6 * HOUR, nm).astype(np.int64) + 30
    return {"stop_kind": sk, "is_stop": is_stop, "after": after, "bounced": bounced, "delivered": delivered,
            "n_open": n_open, "n_click": n_click, "t_deliv": t_deliv, "t_open1": t_open1}


def _events(b: ActivityBlock, mp: np.ndarray, send: np.ndarray, fate: dict) -> dict:
    """The webhook events of the messages (``msg``: index of the message), before ``as_of``."""
    rng, nm = b.rng, len(mp)
    sk, t_deliv, t_open1 = fate["stop_kind"], fate["t_deliv"], fate["t_open1"]
    ev = []
    ev.append({"msg": np.arange(nm), "type": np.full(nm, MAIL_PROCESSED), "t": send, "product": np.full(nm, -1)})
    s = np.flatnonzero(fate["delivered"])
    ev.append({"msg": s, "type": np.full(len(s), MAIL_DELIVERED), "t": t_deliv[s], "product": np.full(len(s), -1)})
    s = np.flatnonzero(fate["bounced"])
    ev.append({"msg": s, "type": np.full(len(s), MAIL_BOUNCE), "t": send[s] + rng.integers(5, 600, len(s)),
               "product": np.full(len(s), -1)})
    s = np.flatnonzero(fate["after"])
    ev.append({"msg": s, "type": np.full(len(s), MAIL_DROPPED), "t": send[s] + 1, "product": np.full(len(s), -1)})
    oo, opos = group_positions(fate["n_open"])
    ot_ = t_open1[oo] + (opos * rng.exponential(20 * HOUR, len(oo))).astype(np.int64)
    ev.append({"msg": oo, "type": np.full(len(oo), MAIL_OPEN), "t": ot_, "product": np.full(len(oo), -1)})
    co, cpos = group_positions(fate["n_click"])
    ct = t_open1[co] + 20 + (rng.exponential(120, len(co)) * (1 + cpos)).astype(np.int64)
    cprod = choose_products(rng, b.cat, b.fav[mp[co]], 0.7)
    cprod = np.where(rng.random(len(co)) < 0.2, -2, cprod)  # -2: home page
    ev.append({"msg": co, "type": np.full(len(co), MAIL_CLICK), "t": ct, "product": cprod})
    s = np.flatnonzero(fate["is_stop"] & (sk != MAIL_BOUNCE))
    ev.append({"msg": s, "type": sk[s], "t": t_open1[s] + rng.integers(30, 2 * DAY, len(s)),
               "product": np.full(len(s), -1)})
    mev = concat_columns(ev)
    return take_rows(mev, mev["t"] < b.as_of_s - 1)


def email(b: ActivityBlock, window: EmailConsent, campaigns: np.ndarray) -> tuple[dict, dict]:
    """The block's messages (person, address, campaign, send time) and their events. A duplicate record's
    address receives some of the messages after it was created."""
    P, lo = b.people, b.lo
    mp, mc, send = _sends(b, window, campaigns)
    fate = _fates(b, mp, send)
    dm = (P.dup[mp + lo] & (P.dup_email[mp + lo] != b"") & (send >= P.dup_created[mp + lo])
          & (b.rng.random(len(mp)) < 0.3))
    address = np.where(dm, P.dup_email[mp + lo], P.email[lo:b.hi][mp])
    msgs = {"person": mp + lo, "email": address, "campaign": mc, "t": send}
    return msgs, _events(b, mp, send, fate)
