"""The landing files' lines: each source's tables rendered as CSV or NDJSON bytes, by ``encoding.assemble``
(one ``(blob, ends)`` pair per batch: the bytes and the end offset of every line)."""

from __future__ import annotations

import numpy as np

from tailor.demo.arrays import group_positions, take_rows
from tailor.demo.catalogue import SHOP_URL, Catalogue
from tailor.demo.encoding import (
    TWO_DIGITS,
    assemble,
    b64_id,
    civil_date,
    crm_ref,
    hex16,
    int_text,
    iso_timestamp,
    mix,
    money,
    uuid_text,
    zfill,
)
from tailor.demo.reference import FX_CURRENCIES
from tailor.demo.vocabulary import (
    CONSENT_PURPOSES,
    CONSENT_SOURCES,
    CONSENT_STATUS,
    MAIL_BOUNCE,
    MAIL_CLICK,
    MAIL_DROPPED,
    MAIL_TYPES,
    ORDER_STATUS,
    PLATFORMS,
    WEB_TYPES,
)

CRM_HEADER = ("customer_ref,email,first_name,last_name,phone,country,city,postcode,timezone,created_at,updated_at,"
              "source_system,street,address_line2,house_number,date_of_birth")
PRODUCTS_HEADER = "product_id,name,category,brand,price,currency,in_stock,url,image_url"
CONSENT_HEADER = "email,purpose,status,changed_at,source"
FX_HEADER = "rate_date,currency,eur_per_unit"


def _texts(values: list[str]) -> np.ndarray:
    return np.array([s.encode() for s in values])


def csv_lines(columns: dict, header: str, idx=None) -> tuple[bytes, np.ndarray]:
    """The rows ``idx`` (default: all) of a table whose columns are already text, in ``header``'s order."""
    cols = columns if idx is None else take_rows(columns, idx)
    names = header.split(",")
    n = len(cols[names[0]])
    pieces: list = []
    for i, k in enumerate(names):
        if i:
            pieces.append(b",")
        pieces.append(cols[k])
    pieces.append(b"\n")
    return assemble(pieces, n)


def order_lines(o: dict, it: dict, order_no: np.ndarray, cat: Catalogue) -> tuple[bytes, np.ndarray]:
    """One JSON object per order with its items (at most 8) nested."""
    n = len(o["t"])
    ni = len(it["order"])
    _, line = group_positions(o["n_items"])
    item = [np.where(line == 0, b"", b","), b'{"product_id":"', cat.ids[it["product"]], b'","quantity":',
            int_text(it["qty"]), b',"unit_price":', money(it["cents"]), b"}"]
    iblob, iends = assemble(item, ni)
    istr = np.frombuffer(iblob, dtype=np.uint8)
    # place the item strings into 8 fixed slots per order
    width = int(np.max(np.diff(np.concatenate([[0], iends])))) if ni else 1
    slots = np.zeros((n, 8, width), dtype=np.uint8)
    starts = np.concatenate([[0], iends[:-1]]) if ni else iends
    ln = iends - starts
    row = np.repeat(np.arange(ni), ln)
    col = np.arange(len(istr)) - np.repeat(starts, ln)
    slots[it["order"][row], line[row], col] = istr
    pieces = [b'{"order_id":"ORD-', zfill(order_no, 8), b'","customer_ref":"', crm_ref(o["ref"]),
              b'","ordered_at":"', iso_timestamp(o["t"], o["style"], o["off"], o["t"] % 997),
              b'","currency":"', np.array([b"EUR"] + [c.encode() for c in FX_CURRENCIES])[o["cur"]],
              b'","status":"', _texts(ORDER_STATUS)[o["status"]],
              b'","items":[', slots.reshape(n, 8 * width).view(f"S{8 * width}").ravel(), b"]}\n"]
    return assemble(pieces, n)


def web_lines(w: dict, event_key: np.ndarray, session_key: np.ndarray, cat: Catalogue) -> tuple[bytes, np.ndarray]:
    n = len(w["t"])
    ref = np.where(w["ref"] > 0, np.strings.add(np.strings.add(b'"', crm_ref(w["ref"])), b'"'), b"null")
    prod = np.where(w["product"] >= 0,
                    np.strings.add(np.strings.add(b'"', cat.ids[np.maximum(w["product"], 0)]), b'"'), b"null")
    pieces = [b'{"event_id":"ev_', hex16(mix(event_key, 11)), b'","customer_ref":', ref,
              b',"anonymous_id":"', uuid_text(w["anon"], 21), b'","event_type":"',
              _texts(WEB_TYPES)[w["type"]], b'","product_id":', prod,
              b',"occurred_at":"', iso_timestamp(w["t"], w["style"], w["off"], w["ms"]), b'","platform":"',
              _texts(PLATFORMS)[w["platform"]], b'","session_id":"s_',
              hex16(mix(session_key, 31)), b'"}\n']
    return assemble(pieces, n)


def mail_lines(ev: dict, msgs: dict, event_key: np.ndarray, msg_key: np.ndarray, camp_ids: list[bytes],
               cat: Catalogue) -> tuple[bytes, np.ndarray]:
    """SendGrid-style event webhook objects; clicks carry the URL (a product or the home page)."""
    n = len(ev["t"])
    mi = ev["msg"]
    camp = np.array(camp_ids)[msgs["campaign"][mi]]
    prod = ev["product"]
    url = np.where(prod == -2, SHOP_URL.encode() + b"/?utm_source=newsletter&utm_campaign=",
                   np.strings.add(np.strings.add(SHOP_URL.encode() + b"/products/", cat.ids[np.maximum(prod, 0)]),
                                  b"?utm_source=newsletter&utm_campaign="))
    url = np.where(ev["type"] == MAIL_CLICK,
                   np.strings.add(np.strings.add(np.strings.add(b',"url":"', url), camp), b'"'), b"")
    reason = np.select([ev["type"] == MAIL_BOUNCE, ev["type"] == MAIL_DROPPED],
                       [b',"reason":"550 5.1.1 The email account that you tried to reach does not exist"',
                        b',"reason":"Suppressed address"'], b"")
    msg_id = np.strings.add(b64_id(msg_key[mi], 41), b".filterdrecv-6c9f8b7d5-x2k4p-1-0.0")
    pieces = [b'{"email":"', msgs["email"][mi], b'","timestamp":', int_text(ev["t"]), b',"event":"',
              _texts(MAIL_TYPES)[ev["type"]], b'","sg_event_id":"',
              b64_id(event_key, 51), b'","sg_message_id":"', msg_id, b'","campaign_id":"', camp, b'"', url,
              reason, b"}\n"]
    return assemble(pieces, n)


def consent_lines(c: dict) -> tuple[bytes, np.ndarray]:
    n = len(c["t"])
    pieces = [c["email"], b",", _texts(CONSENT_PURPOSES)[c["purpose"]], b",",
              _texts(CONSENT_STATUS)[c["status"]],
              b",", iso_timestamp(c["t"], c["style"], c["off"]), b",",
              _texts(CONSENT_SOURCES)[c["source"]], b"\n"]
    return assemble(pieces, n)


def fx_lines(day0: int, fx: np.ndarray) -> tuple[bytes, np.ndarray]:
    """``rate_date,currency,eur_per_unit`` rows, by date then currency (``fx``: currency x day, in 1/10,000)."""
    k, n_days = fx.shape
    days = np.repeat(np.arange(n_days) + day0, k)
    y, m, d = civil_date(days)
    date = np.strings.add(np.strings.add(np.strings.add(np.strings.add(zfill(y, 4), b"-"), TWO_DIGITS[m]), b"-"),
                          TWO_DIGITS[d])
    cur = np.tile(np.array([c.encode() for c in FX_CURRENCIES]), n_days)
    v = fx.T.ravel()
    rate = np.strings.add(np.strings.add(int_text(v // 10_000), b"."), zfill(v % 10_000, 4))
    return assemble([date, b",", cur, b",", rate, b"\n"], len(days))
