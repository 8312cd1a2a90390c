"""A small seeded benchmark of matching keys (crm_normalized rows) for the linkage tests: persons with corrupted
duplicates (typos, nicknames, swapped names, initials, missing fields, wrong postcode digits, changed e-mails,
moves, birth-date slips), households sharing surname, address, phone and e-mail, and twins sharing the birth date
as well. Independent of the demo generator, so the model's levels can all be exercised."""

from __future__ import annotations

import numpy as np
import pandas as pd

CONSONANTS = list("bdfghklmnprstvz") + ["ch", "st", "br", "tr"]
VOWELS = list("aeiou") + ["ei", "au", "ia"]
PROVIDERS = ["gmx.de", "web.de", "gmail.com", "posteo.de", "outlook.com"]


def _words(rng: np.random.Generator, n: int, syllables: tuple[int, int]) -> list[str]:
    out: set[str] = set()
    while len(out) < n:
        k = rng.integers(syllables[0], syllables[1] + 1)
        out.add("".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(k)) + rng.choice(["", "n", "r", "s"]))
    return sorted(out)


def _zipf(rng: np.random.Generator, values: list[str], size: int, a: float = 1.1) -> np.ndarray:
    w = 1.0 / np.arange(1, len(values) + 1) ** a
    return rng.choice(np.array(values, dtype=object), size=size, p=w / w.sum())


def _typo(rng: np.random.Generator, s: str) -> str:
    if not s or len(s) < 3:
        return s
    k = int(rng.integers(1, len(s) - 1))
    kind = rng.integers(4)
    if kind == 0:
        return s[:k] + s[k + 1:]
    if kind == 1:
        return s[:k] + s[k] + s[k:]
    if kind == 2:
        return s[:k] + str(rng.choice(list("aeiounrst"))) + s[k + 1:]
    return s[:k - 1] + s[k] + s[k - 1] + s[k + 1:]


def _digit(rng: np.random.Generator, s: str) -> str:
    k = int(rng.integers(len(s)))
    return s[:k] + str((int(s[k]) + 1 + int(rng.integers(8))) % 10) + s[k + 1:]


class Vocabulary:
    def __init__(self, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.first = _words(rng, 500, (2, 3))
        self.last = _words(rng, 2000, (2, 4))
        self.nick = {}  # katharina -> kati (one formal name per nickname)
        for f in self.first[:80]:
            if len(f) > 5 and f[:3] + "i" not in self.nick.values() and f[:3] + "i" not in self.first:
                self.nick[f] = f[:3] + "i"
        self.postcodes = [f"{p:05d}" for p in rng.choice(np.arange(10000, 99999), 500, replace=False)]
        cities = _words(rng, 80, (2, 3))
        self.city = {p: cities[int(rng.integers(len(cities)))] for p in self.postcodes}
        self.streets = _words(rng, 600, (2, 3))


VOCAB = Vocabulary()


def generate(persons: int, seed: int, prefix: str = "R") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(crm_normalized-like records, truth with person_id, role and corruption) for ``persons`` persons."""
    rng = np.random.default_rng(seed)
    v = VOCAB
    first = _zipf(rng, v.first, persons)
    last = _zipf(rng, v.last, persons)
    postcode = rng.choice(np.array(v.postcodes, dtype=object), persons)
    street = rng.choice(np.array(v.streets, dtype=object), persons)
    number = rng.integers(1, 200, persons).astype(str)
    dob = pd.to_datetime("1940-01-01") + pd.to_timedelta(rng.integers(0, 365 * 65, persons), unit="D")
    people = pd.DataFrame({"person": np.arange(persons), "first": first, "last": last, "postcode": postcode,
                           "street": street, "number": number, "dob": dob.strftime("%Y-%m-%d"),
                           "household": np.arange(persons), "role": "person"})
    # households (a spouse or child: same surname and address, phone, often e-mail) and twins (same birth date)
    house = rng.random(persons) < 0.06
    twin = house & (rng.random(persons) < 0.2)
    for p in np.flatnonzero(house):
        if p == 0:
            continue
        q = p - 1
        people.loc[p, ["last", "postcode", "street", "number"]] = people.loc[q, ["last", "postcode", "street", "number"]].to_numpy()
        people.loc[p, "household"] = people.loc[q, "household"]
        people.loc[p, "role"] = "twin" if twin[p] else "household"
        if twin[p]:
            people.loc[p, "dob"] = people.loc[q, "dob"]
        while people.loc[p, "first"] == people.loc[q, "first"]:
            people.loc[p, "first"] = str(rng.choice(v.first))
    people["email"] = [f"{f}.{la}{k}@{rng.choice(PROVIDERS)}"  # one mailbox per person
                       for k, (f, la) in enumerate(zip(people["first"], people["last"]))]
    people["phone"] = [f"+4930{int(rng.integers(1_000_000, 9_999_999))}" for _ in range(persons)]
    family = people["role"] != "person"
    # a household shares the home phone, half of them the e-mail as well
    prev = np.flatnonzero(family.to_numpy())
    people.loc[prev, "phone"] = people.loc[prev - 1, "phone"].to_numpy()
    shared = prev[rng.random(len(prev)) < 0.5]
    people.loc[shared, "email"] = people.loc[shared - 1, "email"].to_numpy()

    rows, truth = [], []

    def emit(p: pd.Series, role: str, corruption: str, **over):
        rec = {"first": p["first"], "last": p["last"], "postcode": p["postcode"], "city": VOCAB.city[p["postcode"]],
               "street": p["street"], "number": p["number"], "dob": p["dob"], "email": p["email"],
               "phone": p["phone"], **over}
        ref = f"{prefix}-{len(rows):06d}"
        rows.append({"customer_ref": ref, **rec})
        truth.append({"customer_ref": ref, "person_id": int(p["person"]), "household": int(p["household"]),
                      "role": role, "corruption": corruption})

    kinds = ["first_typo", "last_typo", "nickname", "swap", "initial", "first_missing", "last_missing",
             "postcode_digit", "postcode_missing", "city_missing", "city_typo", "email_changed", "email_typo", "email_missing", "phone_missing",
             "dob_digit", "dob_daymonth", "dob_missing", "street_typo", "number_missing", "moved"]
    for _, p in people.iterrows():
        emit(p, p["role"], "")
        if rng.random() >= 0.3:
            continue
        for _ in range(int(rng.integers(1, 3))):
            rec = {}
            chosen = rng.choice(kinds, size=int(rng.integers(1, 4)), replace=False)
            if rng.random() < 0.6 and not {"email_changed", "email_typo"} & set(chosen):
                chosen = np.append(chosen, "email_changed")  # most duplicates come with another address
            for kind in chosen:
                f, la = rec.get("first", p["first"]), rec.get("last", p["last"])
                if kind == "first_typo" and f:
                    rec["first"] = _typo(rng, f)
                elif kind == "last_typo" and la:
                    rec["last"] = _typo(rng, la)
                elif kind == "nickname" and p["first"] in v.nick:
                    rec["first"] = v.nick[p["first"]]
                elif kind == "swap" and f and la:
                    rec["first"], rec["last"] = la, f
                elif kind == "initial" and f:
                    rec["first"] = f[0]
                elif kind == "first_missing":
                    rec["first"] = None
                elif kind == "last_missing":
                    rec["last"] = None
                elif kind == "postcode_digit":
                    rec["postcode"] = _digit(rng, p["postcode"])
                elif kind == "postcode_missing":
                    rec["postcode"] = None
                elif kind == "city_missing":
                    rec["city"] = None
                elif kind == "city_typo":
                    rec["city"] = _typo(rng, VOCAB.city[p["postcode"]]) + "x"
                elif kind == "email_typo" and rec.get("email", p["email"]):
                    local, domain = rec.get("email", p["email"]).split("@")
                    rec["email"] = local[:1] + ("q" if local[1] != "q" else "w") + local[2:] + "@" + domain
                elif kind == "email_changed":
                    rec["email"] = f"{p['first'][:1]}{p['last']}.{int(p['person'])}x@{rng.choice(PROVIDERS)}"
                elif kind == "email_missing":
                    rec["email"] = None
                elif kind == "phone_missing":
                    rec["phone"] = None
                elif kind == "dob_digit":
                    y, m, d = p["dob"].split("-")
                    rec["dob"] = f"{y[:3]}{(int(y[3]) + 1) % 10}-{m}-{d}"
                elif kind == "dob_daymonth" and int(p["dob"][8:]) <= 12:
                    y, m, d = p["dob"].split("-")
                    rec["dob"] = f"{y}-{d}-{m}"
                elif kind == "dob_missing":
                    rec["dob"] = None
                elif kind == "street_typo":
                    rec["street"] = _typo(rng, p["street"])
                elif kind == "number_missing":
                    rec["number"] = None
                elif kind == "moved":
                    rec["postcode"] = str(rng.choice(v.postcodes))
                    rec["city"] = VOCAB.city[rec["postcode"]]
                    rec["street"] = str(rng.choice(v.streets))
                    rec["number"] = str(rng.integers(1, 200))
                    rec["phone"] = None
            emit(p, "duplicate", ";".join(sorted(chosen)), **rec)
    df = pd.DataFrame(rows)
    canon = {n: f for f, n in VOCAB.nick.items()}
    crm = pd.DataFrame({
        "customer_ref": df["customer_ref"], "email_norm": df["email"], "email_placeholder": False,
        "email_typo_suggestion": None, "country_iso": "DE", "phone_e164": df["phone"], "first_key": df["first"],
        "last_key": df["last"], "postcode_key": df["postcode"], "city_key": df["city"],
        "street_key": df["street"], "house_number_key": df["number"], "birth_date": df["dob"],
        "first_canon": df["first"].map(lambda f: canon.get(f, f) if isinstance(f, str) else None),
    })
    crm = crm.astype(object).where(crm.notna(), None)
    crm["email_placeholder"] = False
    return crm, pd.DataFrame(truth)
