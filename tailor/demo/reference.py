"""Reference data of the demo people: countries (spellings, cities, postcodes, time zones), phone formats,
placeholder values people type, e-mail domains and currencies; and ``ReferenceTables``, which flattens them with
the names (tailor.demo.names) and streets (tailor.demo.streets) into arrays."""

from __future__ import annotations

import numpy as np

from tailor.demo.addresses import StreetTables, group_cumulative
from tailor.demo.corruption import layout_codes
from tailor.demo.encoding import fold_for_email
from tailor.demo.names import DOUBLE_SURNAME, FIRST_NAMES, LAST_NAMES, NAME_ZIPF, NICKNAMES
from tailor.demo.streets import CITY_ALIASES

# country code -> (weight, [(free-text variant, weight)], [(city, postcode template, tz, tz std offset min)],
#                  phone format id); the names are in tailor.demo.names, the streets in tailor.demo.streets
# postcode template: '#' random digit, '@' random upper-case letter.
COUNTRIES: dict[str, tuple] = {
    "DE": (0.3, [("Germany", 4), ("DE", 3), ("de", 1), ("Deutschland", 2), ("GERMANY", 0.5), ("Germany ", 0.5)],
           [("Berlin", "10###", "Europe/Berlin", 60), ("Hamburg", "20###", "Europe/Berlin", 60),
            ("München", "80###", "Europe/Berlin", 60), ("Köln", "50###", "Europe/Berlin", 60),
            ("Frankfurt am Main", "60###", "Europe/Berlin", 60), ("Leipzig", "04###", "Europe/Berlin", 60),
            ("Dresden", "01###", "Europe/Berlin", 60)], "DE"),
    "GB": (0.15, [("United Kingdom", 4), ("UK", 3), ("GB", 2), ("Great Britain", 1), ("England", 1)],
           [("London", "E# #@@", "Europe/London", 0), ("London", "SW## #@@", "Europe/London", 0),
            ("Manchester", "M## #@@", "Europe/London", 0), ("Bristol", "BS# #@@", "Europe/London", 0),
            ("Leeds", "LS# #@@", "Europe/London", 0), ("Edinburgh", "EH# #@@", "Europe/London", 0)], "GB"),
    "FR": (0.12, [("France", 4), ("FR", 3), ("fr", 1), ("FRANCE", 1)],
           [("Paris", "75###", "Europe/Paris", 60), ("Lyon", "690##", "Europe/Paris", 60),
            ("Marseille", "13###", "Europe/Paris", 60), ("Toulouse", "31###", "Europe/Paris", 60),
            ("Bordeaux", "33###", "Europe/Paris", 60), ("Nantes", "44###", "Europe/Paris", 60)], "FR"),
    "US": (0.13, [("United States", 4), ("USA", 3), ("US", 3), ("U.S.", 1), ("United States of America", 1)],
           [("New York", "10###", "America/New_York", -300), ("Brooklyn", "11###", "America/New_York", -300),
            ("Boston", "02###", "America/New_York", -300), ("Chicago", "60###", "America/Chicago", -360),
            ("Austin", "78###", "America/Chicago", -360), ("Denver", "80###", "America/Denver", -420),
            ("Seattle", "98###", "America/Los_Angeles", -480),
            ("Los Angeles", "90###", "America/Los_Angeles", -480)], "US"),
    "NL": (0.07, [("Netherlands", 4), ("NL", 3), ("The Netherlands", 1), ("Nederland", 1), ("Holland", 1)],
           [("Amsterdam", "10## @@", "Europe/Amsterdam", 60), ("Rotterdam", "30## @@", "Europe/Amsterdam", 60),
            ("Utrecht", "35## @@", "Europe/Amsterdam", 60), ("Eindhoven", "56## @@", "Europe/Amsterdam", 60)], "NL"),
    "AT": (0.06, [("Austria", 4), ("AT", 3), ("Österreich", 2)],
           [("Wien", "1###", "Europe/Vienna", 60), ("Graz", "8###", "Europe/Vienna", 60),
            ("Linz", "4###", "Europe/Vienna", 60), ("Salzburg", "5###", "Europe/Vienna", 60)], "AT"),
    "CH": (0.04, [("Switzerland", 4), ("CH", 3), ("Schweiz", 2), ("Suisse", 1)],
           [("Zürich", "8###", "Europe/Zurich", 60), ("Bern", "3###", "Europe/Zurich", 60),
            ("Basel", "4###", "Europe/Zurich", 60), ("Genève", "1###", "Europe/Zurich", 60)], "CH"),
    "ES": (0.05, [("Spain", 4), ("ES", 3), ("España", 2)],
           [("Madrid", "28###", "Europe/Madrid", 60), ("Barcelona", "08###", "Europe/Madrid", 60),
            ("Valencia", "46###", "Europe/Madrid", 60), ("Sevilla", "41###", "Europe/Madrid", 60)], "ES"),
    "IT": (0.05, [("Italy", 4), ("IT", 3), ("Italia", 2)],
           [("Milano", "20###", "Europe/Rome", 60), ("Roma", "00###", "Europe/Rome", 60),
            ("Torino", "10###", "Europe/Rome", 60), ("Napoli", "80###", "Europe/Rome", 60)], "IT"),
    "PL": (0.03, [("Poland", 4), ("PL", 3), ("Polska", 2)],
           [("Warszawa", "0#-###", "Europe/Warsaw", 60), ("Kraków", "3#-###", "Europe/Warsaw", 60),
            ("Wrocław", "5#-###", "Europe/Warsaw", 60), ("Gdańsk", "80-###", "Europe/Warsaw", 60)], "PL"),
}

COUNTRY_CODES = list(COUNTRIES)

# phone formats per country ('#' = random digit): national, international ("+", "00"), spaces, dashes, dots,
# slashes, brackets. The 555 blocks and Ofcom's 07700 range keep them recognisably fictional; the spaces are
# large enough (10^6-10^8 per format) that two random people rarely draw the same number.
PHONE_FORMATS = {
    "DE": ["+49 30 5#######", "030 5#######", "(030) 5#######", "030/5#######", "+49 151 5#######",
           "0049 171 5######", "+4917655######", "0151-5#######", "+49 (0)89 5#######"],
    "GB": ["+44 77## ######", "077## ######", "+4477## ######", "(0)77## ### ###", "0044 77## ######",
           "077##-###-###"],
    "FR": ["+33 6 ## ## ## ##", "06 ## ## ## ##", "+336########", "06.##.##.##.##", "0033 6 ## ## ## ##"],
    "US": ["+1 2## 555 ####", "(3##) 555-####", "4##-555-####", "+16##555####", "1-7##-555-####", "8##.555.####",
           "001 9## 555 ####"],
    "NL": ["+31 6 5#######", "06-5#######", "+31655######", "0031 6 5#######"],
    "AT": ["+43 1 5######", "0664 5######", "+43664#######", "0043 664 5######"],
    "CH": ["+41 44 5## ## ##", "044 5## ## ##", "+41795######", "0041 79 5## ## ##"],
    "ES": ["+34 612 ### ###", "612 ### ###", "+34612######", "0034 612 ######"],
    "IT": ["+39 02 5######", "347 5######", "+39347#######", "0039 347 5######"],
    "PL": ["+48 22 5## ## ##", "600 ### ###", "+48600######", "0048 600 ######"],
}

# Placeholders typed instead of a real phone: shared by unrelated people, never an identity key.
PLACEHOLDER_PHONES = [b"0000000000", b"1234567890", b"+1 555 555 5555", b"000 000 0000", b"+49 000 0000000"]
PLACEHOLDER_EMAILS = [b"test@test.com", b"noemail@example.com", b"none@none.com", b"NOEMAIL@EXAMPLE.COM",
                      b"Test@Test.com", b"no-email@example.org"]
# Misspelt big mailbox domains (never mailed: these people get no consent or e-mail events).
TYPO_DOMAINS = [b"gmial.com", b"hotmial.com", b"yaho.com", b"gmail.con", b"outlok.com"]

# Only reserved (RFC 2606) domains for random people.
MAIL_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example.com", "post.example.org",
                         "web.example.net"])
MAIL_DOMAIN_WEIGHTS = np.array([0.40, 0.20, 0.15, 0.12, 0.07, 0.06])

FX_CURRENCIES = {"GBP": 1.17, "USD": 0.92}  # EUR per unit at the start of the window
CURRENCY_OF = {"GB": "GBP", "US": "USD"}  # everyone else pays EUR


def currency_of_country() -> np.ndarray:
    """Per country (index into COUNTRY_CODES) the currency it pays in: 0 = EUR, 1 + index into FX_CURRENCIES."""
    return np.array([1 + list(FX_CURRENCIES).index(CURRENCY_OF[c]) if c in CURRENCY_OF else 0
                     for c in COUNTRY_CODES], dtype=np.int64)


class ReferenceTables:
    """The country tables flattened into byte arrays, so people are built by integer indexing only.

    Per country (index into ``codes``) ``<list>_start`` and ``<list>_count`` give the slice of its first names,
    last names, spellings of the country (``variant``, drawn with ``variant_w``), cities (with their postcode
    formats, time zones and offsets) and phone formats. First and last names are drawn by rank
    (``first_cum``/``last_cum`` for ``addresses.weighted_within``); per first name ``nick_start``/``nick_count``
    give its nicknames in ``nick``, per city ``alias_start``/``alias_count`` its other names in ``alias``;
    ``streets`` are the street vocabularies and ``layout`` each country's keyboard."""

    def __init__(self) -> None:
        enc = lambda xs: np.array([x.encode() for x in xs]) if xs else np.zeros(0, dtype="S1")  # noqa: E731
        self.codes = COUNTRY_CODES
        self.weights = [COUNTRIES[c][0] for c in self.codes]
        fn, ln, vn, vw, cn, ct, cz, co, ph, nk, al = [], [], [], [], [], [], [], [], [], [], []
        self.first_start, self.first_count, self.last_start, self.last_count = [], [], [], []
        self.variant_start, self.variant_count, self.city_start, self.city_count = [], [], [], []
        self.phone_start, self.phone_count, self.nick_start, self.nick_count = [], [], [], []
        self.alias_start, self.alias_count = [], []
        for code in self.codes:
            _, variants, cities, phone = COUNTRIES[code]
            firsts, lasts = FIRST_NAMES[code], LAST_NAMES[code]
            for start, count, lst, items in (
                    (self.first_start, self.first_count, fn, firsts), (self.last_start, self.last_count, ln, lasts),
                    (self.variant_start, self.variant_count, vn, [v for v, _ in variants]),
                    (self.city_start, self.city_count, cn, [c[0] for c in cities]),
                    (self.phone_start, self.phone_count, ph, PHONE_FORMATS[phone])):
                start.append(len(lst))
                count.append(len(items))
                lst.extend(items)
            vw.append(np.array([w for _, w in variants], dtype=float) / sum(w for _, w in variants))
            ct += [c[1] for c in cities]
            cz += [c[2] for c in cities]
            co += [c[3] for c in cities]
            for name in firsts:
                nicks = NICKNAMES[code].get(name, [])
                self.nick_start.append(len(nk))
                self.nick_count.append(len(nicks))
                nk.extend(nicks)
            for city in cities:
                aliases = CITY_ALIASES.get(city[0], [])
                self.alias_start.append(len(al))
                self.alias_count.append(len(aliases))
                al.extend(aliases)
        self.variant_w = vw
        rank_weights = lambda names: 1 / (1 + np.arange(len(names))) ** NAME_ZIPF  # noqa: E731
        self.first_cum, _ = group_cumulative([rank_weights(FIRST_NAMES[c]) for c in self.codes])
        self.last_cum, _ = group_cumulative([rank_weights(LAST_NAMES[c]) for c in self.codes])
        self.double_surname = np.array([DOUBLE_SURNAME.get(c, 0.0) for c in self.codes])
        self.first, self.first_lo = enc(fn), enc([x.lower() for x in fn])
        self.first_fold = enc([fold_for_email(x) for x in fn])
        self.last = enc(ln)
        self.last_fold = enc([fold_for_email(x) for x in ln])
        self.nick, self.alias = enc(nk), enc(al)
        self.variant, self.city, self.postcode_format, self.tz = enc(vn), enc(cn), enc(ct), enc(cz)
        self.tz_off = np.array(co, dtype=np.int64)
        self.phone_format = enc(ph)
        for k in ("first_start", "first_count", "last_start", "last_count", "variant_start", "variant_count",
                  "city_start", "city_count", "phone_start", "phone_count", "nick_start", "nick_count",
                  "alias_start", "alias_count"):
            setattr(self, k, np.array(getattr(self, k), dtype=np.int64))
        self.streets = StreetTables(self.codes)
        self.layout = layout_codes(self.codes, np.arange(len(self.codes)))
