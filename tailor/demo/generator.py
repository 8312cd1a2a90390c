"""Seeded generator of realistic, *messy* demo data in the landing-folder layout.

``write_demo_data(landing_dir, customers, seed, as_of)`` writes one folder per source (see
``docs/data-contracts.md`` for the file contracts and the full list of deliberate messiness)::

    crm/crm-0001.csv                products/products-0001.csv     orders/orders-0001.ndjson
    events/events-0001.ndjson       email_events/email_events-0001.ndjson
    consent/consent-0001.csv

and the ground truth (never ingested) into ``truth_dir`` (default ``landing_dir.parent / "demo_truth"``):
``identities.csv`` (customer_ref -> person_id), ``personas.csv`` (customer_ref -> persona) and
``bad_rows.csv`` (source, file, line, kind).

Design notes
------------
* Deterministic: every random draw comes from a ``SeedSequence(seed, spawn_key=(stream, block))`` and
  the output bytes depend only on ``(customers, seed, as_of)``; ``events_per_file`` only moves the file
  boundaries.
* Scales: people are processed in blocks of ``_BLOCK`` persons; within a block everything is numpy
  vectorised. Rows are rendered by writing fixed-width byte columns into one ``uint8`` matrix (NUL padded)
  and deleting the NULs, so no Python loop runs per good row. Python loops only touch the ~0.5 % bad rows,
  the six hand-made personas and the ~5 % duplicate CRM records (name typos).
* All generated activity lies in ``[as_of - ~2 years, as_of)``.
"""

from __future__ import annotations

import base64
import json
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import phonenumbers

DAY = 86_400


HOUR = 3_600


WINDOW_DAYS = 730


_BLOCK = 10_000  # persons per generation block (fixed: part of the determinism contract)


_CRM_CHUNK = 100_000  # CRM rows rendered at a time


BAD_RATE = 0.005


# stream ids for the RNG
_S_PRODUCTS, _S_PEOPLE, _S_ACTIVITY, _S_BAD, _S_CRMBAD, _S_FX = 1, 2, 3, 4, 5, 6


CATEGORIES = ["Shoes", "Apparel", "Outdoor", "Home & Living", "Kitchen", "Beauty", "Electronics", "Books"]


_CAT_WEIGHTS = np.array([0.16, 0.18, 0.14, 0.12, 0.11, 0.12, 0.10, 0.07])


_BRANDS = {
    "Shoes": ["Trailwise", "Stridekraft", "Pace & Co"],
    "Apparel": ["Nordkamm", "Linnea", "Urban Fjord", "Pace & Co"],
    "Outdoor": ["Alpenrot", "Kestrel", "Trailwise"],
    "Home & Living": ["Hearth", "Linnea", "Casa Lume"],
    "Kitchen": ["Lumen", "Casa Lume", "Ferro"],
    "Beauty": ["Velora", "Blossom Lab", "Dermaline"],
    "Electronics": ["Pixelwerk", "Voltaic", "Sonix"],
    "Books": ["Papierboot Press", "Atlas Books"],
}


_ADJ = ["Classic", "Essential", "Pro", "Lite", "Everyday", "Urban", "Alpine", "Coastal", "Nordic", "Premium",
        "Eco", "Summit", "Daily", "Heritage", "Studio", "Active"]


_NOUNS = {
    "Shoes": ["Running Shoe", "Hiking Boot", "Sneaker", "Trail Runner", "Sandal", "Loafer", "Chelsea Boot"],
    "Apparel": ["T-Shirt", "Hoodie", "Merino Base Layer", "Rain Jacket", "Chino", "Wool Sweater", "Beanie"],
    "Outdoor": ["Tent 2P", "Sleeping Bag", "Daypack 22L", "Trekking Poles", "Headlamp", "Down Jacket"],
    "Home & Living": ["Linen Duvet Cover", "Throw Blanket", "Table Lamp", "Cushion Cover", "Scented Candle"],
    "Kitchen": ["Chef Knife", "Cast Iron Skillet", "Pour-Over Set", "Cutting Board", "Espresso Cups (2)"],
    "Beauty": ["Face Cream", "Hand Balm", "Shampoo Bar", "Lip Balm", "Serum 30ml", "Body Lotion"],
    "Electronics": ["Wireless Earbuds", "Power Bank", "Bluetooth Speaker", "USB-C Charger", "Smart Plug"],
    "Books": ["Field Guide", "Cookbook", "Travel Journal", "Novel", "Photo Book"],
}


# median price (EUR) and log-sd per category
_PRICE = {"Shoes": (95, 0.35), "Apparel": (45, 0.45), "Outdoor": (110, 0.6), "Home & Living": (55, 0.5),
          "Kitchen": (40, 0.5), "Beauty": (22, 0.4), "Electronics": (80, 0.7), "Books": (19, 0.3)}


# The fixed catalogue head: personas reference these product ids, so they do not depend on the seed.
_FIXED_PRODUCTS = [  # (name, category, brand, price_cents)
    ("Trailwise Summit GTX Hiking Boot", "Shoes", "Trailwise", 18900),
    ("Nordkamm Merino Base Layer", "Apparel", "Nordkamm", 7995),
    ("Alpenrot Down Jacket", "Outdoor", "Alpenrot", 24900),
    ("Kestrel Ultralight Tent 2P", "Outdoor", "Kestrel", 32900),
    ("Lumen Pour-Over Coffee Set", "Kitchen", "Lumen", 4990),
    ("Lumen Cast Iron Skillet 28cm", "Kitchen", "Lumen", 5900),
    ("Velora Hydrating Face Cream", "Beauty", "Velora", 2450),
    ("Pixelwerk Wireless Earbuds", "Electronics", "Pixelwerk", 12900),
    ("Hearth Linen Duvet Cover", "Home & Living", "Hearth", 8900),
    ("Papierboot Press Alpine Field Guide", "Books", "Papierboot Press", 1800),
    ("Trailwise Pace 3 Running Shoe", "Shoes", "Trailwise", 11900),
    ("Nordkamm Wool Beanie", "Apparel", "Nordkamm", 2995),
]


# country code -> (weight, [(free-text variant, weight)], [(city, postcode template, tz, tz std offset min)],
#                  first names, last names, phone format id)
# postcode template: '#' random digit, '@' random upper-case letter.
_COUNTRIES: dict[str, tuple] = {
    "DE": (0.30, [("Germany", 4), ("DE", 3), ("de", 1), ("Deutschland", 2), ("GERMANY", 0.5), ("Germany ", 0.5)],
           [("Berlin", "10###", "Europe/Berlin", 60), ("Hamburg", "20###", "Europe/Berlin", 60),
            ("München", "80###", "Europe/Berlin", 60), ("Köln", "50###", "Europe/Berlin", 60),
            ("Frankfurt am Main", "60###", "Europe/Berlin", 60), ("Leipzig", "04###", "Europe/Berlin", 60),
            ("Dresden", "01###", "Europe/Berlin", 60)],
           ["Anna", "Lena", "Jonas", "Lukas", "Sophie", "Maximilian", "Marie", "Felix", "Jürgen", "Katrin",
            "Paul", "Hannah", "Tobias", "Sabine", "Mia", "Niklas", "Stefan", "Andrea", "Michael", "Claudia", "Thomas",
            "Petra", "Florian", "Julia", "Sebastian", "Laura", "Moritz", "Emilia", "Leon", "Greta", "Matthias", "Ute"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
            "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Zimmermann", "Braun",
            "Krüger", "Hofmann", "Hartmann", "Lange", "Schmitt", "Werner", "Krause", "Meier", "Lehmann", "Köhler",
            "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller"], "DE"),
    "GB": (0.15, [("United Kingdom", 4), ("UK", 3), ("GB", 2), ("Great Britain", 1), ("England", 1)],
           [("London", "E# #@@", "Europe/London", 0), ("London", "SW## #@@", "Europe/London", 0),
            ("Manchester", "M## #@@", "Europe/London", 0), ("Bristol", "BS# #@@", "Europe/London", 0),
            ("Leeds", "LS# #@@", "Europe/London", 0), ("Edinburgh", "EH# #@@", "Europe/London", 0)],
           ["Oliver", "Amelia", "Harry", "Isla", "George", "Olivia", "Jack", "Emily", "Charlotte", "James",
            "Sophie", "Thomas", "Grace", "William", "Chloe", "Ben", "Lucy", "Henry", "Jessica", "Daniel", "Hannah",
            "Samuel", "Ella", "Joseph", "Freya", "Alfie", "Poppy", "Oscar", "Ruby", "Arthur", "Evie", "Leo"],
           ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Evans", "Walker",
            "O'Brien", "Carter", "Hughes", "Green", "Wright", "Clarke", "Robinson", "Thompson", "White", "Edwards",
            "Hall", "Wood", "Harris", "Martin", "Jackson", "Clark", "Turner", "Hill", "Cooper", "Ward", "Morris",
            "Moore", "King", "Watson", "Baker", "Harrison", "Morgan", "Patel", "Young", "Allen", "Mitchell"], "GB"),
    "FR": (0.12, [("France", 4), ("FR", 3), ("fr", 1), ("FRANCE", 1)],
           [("Paris", "75###", "Europe/Paris", 60), ("Lyon", "690##", "Europe/Paris", 60),
            ("Marseille", "13###", "Europe/Paris", 60), ("Toulouse", "31###", "Europe/Paris", 60),
            ("Bordeaux", "33###", "Europe/Paris", 60), ("Nantes", "44###", "Europe/Paris", 60)],
           ["Chloé", "Léa", "Hugo", "Louis", "Camille", "Manon", "Théo", "Inès", "Jules", "Élodie", "Lucas",
            "Margaux", "Antoine", "Zoé", "Gabriel", "Sarah", "Nathan", "Clara", "Mathis", "Lina", "Raphaël", "Jade",
            "Arthur", "Louise", "Adam", "Alice", "Maxime", "Juliette", "Paul", "Anaïs", "Victor", "Émilie"],
           ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
            "Lefèvre", "Garnier", "Faure", "Rousseau", "Girard", "Mercier", "Simon", "Laurent", "Michel", "Lefebvre",
            "Fontaine", "Chevalier", "Roux", "Vincent", "Fournier", "Morel", "Girard", "André", "Blanc", "Guerin",
            "Boyer", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Gauthier", "Perrin", "Clément", "Morin"], "FR"),
    "US": (0.13, [("United States", 4), ("USA", 3), ("US", 3), ("U.S.", 1), ("United States of America", 1)],
           [("New York", "10###", "America/New_York", -300), ("Brooklyn", "11###", "America/New_York", -300),
            ("Boston", "02###", "America/New_York", -300), ("Chicago", "60###", "America/Chicago", -360),
            ("Austin", "78###", "America/Chicago", -360), ("Denver", "80###", "America/Denver", -420),
            ("Seattle", "98###", "America/Los_Angeles", -480),
            ("Los Angeles", "90###", "America/Los_Angeles", -480)],
           ["Emma", "Liam", "Ava", "Noah", "Mason", "Harper", "Ethan", "Madison", "Logan", "Abigail", "Jacob",
            "Ella", "Aiden", "Avery", "Carter", "Riley", "Olivia", "James", "Sophia", "Benjamin", "Isabella", "Lucas",
            "Mia", "Henry", "Charlotte", "Alexander", "Amelia", "Daniel", "Evelyn", "Michael", "Emily", "Owen"],
           ["Johnson", "Miller", "Davis", "Garcia", "Rodriguez", "Martinez", "Anderson", "Thompson", "White",
            "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "Smith", "Brown", "Jones", "Williams",
            "Wilson", "Moore", "Taylor", "Jackson", "Lee", "Perez", "Hall", "Wright", "King", "Scott", "Green",
            "Baker", "Adams", "Nelson", "Hill", "Ramirez", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips"], "US"),
    "NL": (0.07, [("Netherlands", 4), ("NL", 3), ("The Netherlands", 1), ("Nederland", 1), ("Holland", 1)],
           [("Amsterdam", "10## @@", "Europe/Amsterdam", 60), ("Rotterdam", "30## @@", "Europe/Amsterdam", 60),
            ("Utrecht", "35## @@", "Europe/Amsterdam", 60), ("Eindhoven", "56## @@", "Europe/Amsterdam", 60)],
           ["Daan", "Sem", "Julia", "Fleur", "Bram", "Sanne", "Lotte", "Ruben", "Femke", "Thijs", "Anouk", "Jesse",
            "Lieke", "Milan", "Noor", "Lars", "Emma", "Tim", "Eva", "Sven", "Roos", "Joost"],
           ["de Jong", "Jansen", "de Vries", "van Dijk", "Bakker", "Visser", "Smit", "Meijer", "de Boer",
            "Mulder", "Bos", "Vos", "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra",
            "Smits", "de Graaf", "van der Meer", "van den Berg", "Kok", "Jacobs", "de Haan", "Vermeulen"], "NL"),
    "AT": (0.06, [("Austria", 4), ("AT", 3), ("Österreich", 2)],
           [("Wien", "1###", "Europe/Vienna", 60), ("Graz", "8###", "Europe/Vienna", 60),
            ("Linz", "4###", "Europe/Vienna", 60), ("Salzburg", "5###", "Europe/Vienna", 60)],
           ["Lukas", "Anna", "Florian", "Katharina", "Stefan", "Julia", "Matthias", "Lisa", "Elias", "Sarah",
            "David", "Johanna", "Maximilian", "Valentina", "Simon", "Theresa", "Fabian", "Magdalena", "Jakob", "Verena"],
           ["Gruber", "Huber", "Bauer", "Wagner", "Pichler", "Steiner", "Moser", "Mayer", "Hofer", "Leitner",
            "Berger", "Fuchs", "Eder", "Fischer", "Schmid", "Winkler", "Weber", "Schwarz", "Maier", "Reiter",
            "Schneider", "Brunner", "Lang", "Baumgartner", "Auer", "Wimmer", "Egger", "Lehner", "Haas", "Wolf"],
           "AT"),
    "CH": (0.04, [("Switzerland", 4), ("CH", 3), ("Schweiz", 2), ("Suisse", 1)],
           [("Zürich", "8###", "Europe/Zurich", 60), ("Bern", "3###", "Europe/Zurich", 60),
            ("Basel", "4###", "Europe/Zurich", 60), ("Genève", "1###", "Europe/Zurich", 60)],
           ["Noah", "Mia", "Luca", "Lea", "Nico", "Laura", "Jan", "Nina", "Reto", "Andrea", "Leon", "Elena",
            "Matteo", "Alina", "Levin", "Sara", "Jonas", "Lara", "Samuel", "Chiara"],
           ["Müller", "Meier", "Schmid", "Keller", "Weber", "Huber", "Brunner", "Baumann", "Gerber", "Frei",
            "Schneider", "Moser", "Widmer", "Wyss", "Graf", "Zimmermann", "Roth", "Fischer", "Steiner", "Bühler",
            "Suter", "Kuhn", "Fuchs", "Lüthi", "Marti", "Brun", "Hofer", "Bachmann", "Kaufmann", "Hess"],
           "CH"),
    "ES": (0.05, [("Spain", 4), ("ES", 3), ("España", 2)],
           [("Madrid", "28###", "Europe/Madrid", 60), ("Barcelona", "08###", "Europe/Madrid", 60),
            ("Valencia", "46###", "Europe/Madrid", 60), ("Sevilla", "41###", "Europe/Madrid", 60)],
           ["Lucía", "Hugo", "Martina", "Pablo", "Sofía", "Álvaro", "Carmen", "Javier", "Elena", "Diego",
            "Valeria", "Adrián", "Paula", "Mateo", "Daniela", "Sergio", "Irene", "Marcos", "Claudia", "Raúl"],
           ["García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez", "Pérez", "Gómez",
            "Ruiz", "Díaz", "Hernández", "Jiménez", "Moreno", "Muñoz", "Álvarez", "Romero", "Alonso", "Gutiérrez",
            "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano", "Blanco", "Molina"], "ES"),
    "IT": (0.05, [("Italy", 4), ("IT", 3), ("Italia", 2)],
           [("Milano", "20###", "Europe/Rome", 60), ("Roma", "00###", "Europe/Rome", 60),
            ("Torino", "10###", "Europe/Rome", 60), ("Napoli", "80###", "Europe/Rome", 60)],
           ["Giulia", "Francesco", "Sofia", "Alessandro", "Chiara", "Lorenzo", "Martina", "Matteo", "Aurora",
            "Niccolò", "Giorgia", "Leonardo", "Alice", "Tommaso", "Beatrice", "Riccardo", "Ginevra", "Edoardo",
            "Emma", "Gabriele"],
           ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco",
            "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti",
            "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone"],
           "IT"),
    "PL": (0.03, [("Poland", 4), ("PL", 3), ("Polska", 2)],
           [("Warszawa", "0#-###", "Europe/Warsaw", 60), ("Kraków", "3#-###", "Europe/Warsaw", 60),
            ("Wrocław", "5#-###", "Europe/Warsaw", 60), ("Gdańsk", "80-###", "Europe/Warsaw", 60)],
           ["Zofia", "Jakub", "Julia", "Antoni", "Maja", "Szymon", "Łucja", "Kacper", "Hanna", "Michał", "Filip",
            "Oliwia", "Wojciech", "Alicja", "Piotr", "Natalia", "Tomasz", "Wiktoria", "Mateusz", "Agnieszka"],
           ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski", "Zieliński",
            "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur", "Wojciechowski", "Kwiatkowski",
            "Krawczyk", "Kaczmarek", "Piotrowski", "Grabowski", "Zając", "Pawłowski", "Michalski", "Król"], "PL"),
}


# phone formats per country ('#' = random digit): national, international ("+", "00"), spaces, dashes, dots,
# slashes, brackets. The 555 blocks and Ofcom's 07700 range keep them recognisably fictional; the spaces are
# large enough (10^6-10^8 per format) that two random people rarely draw the same number.
_PHONES = {
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
_PLACEHOLDER_PHONES = [b"0000000000", b"1234567890", b"+1 555 555 5555", b"000 000 0000", b"+49 000 0000000"]


_PLACEHOLDER_EMAILS = [b"test@test.com", b"noemail@example.com", b"none@none.com", b"NOEMAIL@EXAMPLE.COM",
                       b"Test@Test.com", b"no-email@example.org"]


# Misspelt big mailbox domains (never mailed: these people get no consent or e-mail events).
_TYPO_DOMAINS = [b"gmial.com", b"hotmial.com", b"yaho.com", b"gmail.con", b"outlok.com"]


SOURCE_SYSTEMS = ["shop", "pos", "newsletter", "import"]


_SS_SHOP, _SS_POS, _SS_NEWSLETTER, _SS_IMPORT = range(4)


CONSENT_PURPOSES = ["marketing_email", "marketing_sms", "personalization"]


_P_EMAIL, _P_SMS, _P_PERS = range(3)


FX_CURRENCIES = {"GBP": 1.17, "USD": 0.92}  # EUR per unit at the start of the window


_CURRENCY_OF = {"GB": "GBP", "US": "USD"}  # everyone else pays EUR


# Only reserved (RFC 2606) domains for random people.
_DOMAINS = np.array(["example.com", "example.org", "example.net", "mail.example.com", "post.example.org",
                     "web.example.net"])


_DOMAIN_W = np.array([0.40, 0.20, 0.15, 0.12, 0.07, 0.06])


# event / status vocabularies (index = code used in the arrays)
WEB_TYPES = ["page_view", "product_view", "add_to_cart", "checkout_started"]


PLATFORMS = ["web", "ios", "android"]


ORDER_STATUS = ["completed", "refunded", "cancelled"]


MAIL_TYPES = ["processed", "delivered", "open", "click", "bounce", "dropped", "spamreport", "unsubscribe",
              "group_unsubscribe"]


CONSENT_STATUS = ["granted", "revoked"]


CONSENT_SOURCES = ["signup_form", "preference_center", "import", "checkout"]


_PV, _PROD, _ATC, _CHK = 0, 1, 2, 3


_M_PROC, _M_DELIV, _M_OPEN, _M_CLICK, _M_BOUNCE, _M_DROP, _M_SPAM, _M_UNSUB, _M_GUNSUB = range(9)


_C_GRANTED, _C_REVOKED = 0, 1


_SRC_SIGNUP, _SRC_PREF, _SRC_IMPORT, _SRC_CHECKOUT = 0, 1, 2, 3


# timestamp styles
TS_Z, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE, TS_MS_Z, TS_UTC_OFFSET = range(6)


CRM_HEADER = ("customer_ref,email,first_name,last_name,phone,country,city,postcode,timezone,created_at,updated_at,"
              "source_system")


PRODUCTS_HEADER = "product_id,name,category,brand,price,currency,in_stock,url,image_url"


CONSENT_HEADER = "email,purpose,status,changed_at,source"


FX_HEADER = "rate_date,currency,eur_per_unit"


SHOP_URL = "https://shop.example"


IMG_URL = "https://cdn.shop.example/img"


@dataclass(frozen=True)
class DemoDataSummary:
    """Counts of *good* rows per source (bad rows are counted once, across all sources, in ``bad_rows``)."""

    customers: int
    crm_records: int
    orders: int
    order_items: int
    web_events: int
    email_events: int
    consent_events: int
    products: int
    bad_rows: int
    files: list[str]


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=int(seed) % (1 << 64), spawn_key=keys))


_GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray, salt: int) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so distinct keys give distinct ids."""
    z = np.asarray(x).astype(np.uint64) + np.uint64((salt * _GOLDEN) & 0xFFFFFFFFFFFFFFFF)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


_HEX2 = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2").view(np.uint16)


def _hex16(x: np.ndarray) -> np.ndarray:
    """uint64 -> 16 lower-case hex chars (S16)."""
    b = np.ascontiguousarray(x.astype(">u8")).view(np.uint8).reshape(-1, 8)
    return np.ascontiguousarray(_HEX2[b]).view("S16").ravel()


def _b64id(key: np.ndarray, salt: int, nchars: int = 22) -> np.ndarray:
    """Unique URL-safe base64 ids (the first 8 bytes are a bijection of ``key``)."""
    n = len(key)
    if n == 0:
        return np.zeros(0, dtype=f"S{nchars}")
    raw = np.empty((n, 18), dtype=np.uint8)
    a = _mix(key, salt)
    b = _mix(a, salt + 1)
    raw[:, :8] = a.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 8:16] = b.astype(">u8").view(np.uint8).reshape(n, 8)
    raw[:, 16:] = raw[:, 0:2] ^ raw[:, 8:10]
    enc = np.frombuffer(base64.urlsafe_b64encode(raw.tobytes()), dtype=np.uint8).reshape(n, 24)
    return np.ascontiguousarray(enc[:, :nchars]).view(f"S{nchars}").ravel()


def _uuid(key: np.ndarray, salt: int) -> np.ndarray:
    """uint64 keys -> UUID-v4-looking strings (S36), unique per key."""
    n = len(key)
    a = _mix(key, salt)
    h = np.empty((n, 32), dtype=np.uint8)
    h[:, :16] = _hex16(a).view(np.uint8).reshape(n, 16)
    h[:, 16:] = _hex16(_mix(a, salt + 7)).view(np.uint8).reshape(n, 16)
    h[:, 12] = ord("4")
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    for src, dst, w in ((0, 0, 8), (8, 9, 4), (12, 14, 4), (16, 19, 4), (20, 24, 12)):
        out[:, dst:dst + w] = h[:, src:src + w]
    return out.view("S36").ravel()


def _zfill(x: np.ndarray, width: int) -> np.ndarray:
    return np.strings.zfill(np.asarray(x, dtype=np.int64).astype("S20"), width)


def _ints(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.int64).astype("S20")


_TWO = np.array([f"{i:02d}".encode() for i in range(100)], dtype="S2")


def _money(cents: np.ndarray) -> np.ndarray:
    """Integer cents -> 'E.CC' (S24), negatives allowed."""
    cents = np.asarray(cents, dtype=np.int64)
    neg = cents < 0
    a = np.abs(cents)
    s = np.strings.add(np.strings.add(_ints(a // 100), b"."), _TWO[a % 100])
    return np.where(neg, np.strings.add(b"-", s), s).astype("S24")


def _civil(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _iso(t: np.ndarray, style: np.ndarray, off_min: np.ndarray, ms: np.ndarray | None = None) -> np.ndarray:
    """Unix seconds -> ISO-8601 text (S29) in the given style; offsets keep the same instant."""
    t = np.asarray(t, dtype=np.int64)
    n = len(t)
    style = np.broadcast_to(np.asarray(style, dtype=np.int8), (n,))
    off = np.broadcast_to(np.asarray(off_min, dtype=np.int64), (n,))
    off = np.where(style == TS_OFFSET, off, 0)
    local = t + off * 60
    days, sod = np.divmod(local, DAY)
    y, mo, d = _civil(days)
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


def _assemble(pieces: list, n: int) -> tuple[bytes, np.ndarray]:
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


def _pick(rng: np.random.Generator, items: list, weights, size: int) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return rng.choice(len(items), size=size, p=w / w.sum())


def _fill_template(rng: np.random.Generator, tmpl: np.ndarray) -> np.ndarray:
    """Replace '#' by random digits and '@' by random capitals in an S array of templates."""
    n = len(tmpl)
    if n == 0:
        return tmpl
    w = tmpl.dtype.itemsize
    m = tmpl.view(np.uint8).reshape(n, w).copy()
    digits = rng.integers(48, 58, size=(n, w), dtype=np.uint8)
    letters = rng.integers(65, 91, size=(n, w), dtype=np.uint8)
    m = np.where(m == ord("#"), digits, m)
    m = np.where(m == ord("@"), letters, m)
    return np.ascontiguousarray(m).view(f"S{w}").ravel()


def _fold(s: str) -> str:
    """ASCII-fold a name for an e-mail local part."""
    s = s.lower().replace("ß", "ss").replace("ł", "l").replace("ø", "o").replace("'", "").replace(" ", "")
    s = s.replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    return unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()


def _enc(a) -> np.ndarray:
    """str array -> UTF-8 S array."""
    a = np.asarray(a, dtype=str)
    if a.size == 0:
        return np.zeros(0, dtype="S1")
    return np.strings.encode(a, "utf-8")


def _group_pos(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of the given sizes: owner index and 0-based position of every element."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return owner, np.arange(int(counts.sum())) - starts[owner]


def _cat(parts: list[dict]) -> dict:
    parts = [p for p in parts if p]
    keys = parts[0].keys()
    return {k: np.concatenate([p[k] for p in parts]) for k in keys}


def _take(d: dict, idx) -> dict:
    return {k: v[idx] for k, v in d.items()}


class _Sink:
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
        """Write good rows (``blob``/``ends`` from ``_assemble``) with bad lines inserted before
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


def _n_bad(rng: np.random.Generator, n_good: int, force_one: bool) -> int:
    k = int(rng.binomial(n_good, BAD_RATE)) if n_good else 0
    return max(k, 1) if force_one and n_good else k


@dataclass
class _Catalogue:
    n: int
    category: np.ndarray  # int
    cents: np.ndarray  # int64
    weight: np.ndarray  # popularity (sums to 1)
    cat_order: np.ndarray  # product indexes sorted by category
    cat_cdf: np.ndarray  # per-category cumulative weights shifted by category index (monotone)
    cat_cdf_global: np.ndarray
    ids: np.ndarray  # S


def _make_catalogue(rng: np.random.Generator, n_products: int) -> tuple[_Catalogue, dict]:
    nf = len(_FIXED_PRODUCTS)
    nr = n_products - nf
    cat = np.empty(n_products, dtype=np.int64)
    cents = np.empty(n_products, dtype=np.int64)
    names = np.empty(n_products, dtype=object)
    brands = np.empty(n_products, dtype=object)
    for i, (nm, c, br, ce) in enumerate(_FIXED_PRODUCTS):
        names[i], cat[i], brands[i], cents[i] = nm, CATEGORIES.index(c), br, ce
    rc = _pick(rng, CATEGORIES, _CAT_WEIGHTS, nr)
    cat[nf:] = rc
    u_brand, u_adj, u_noun = rng.random(nr), rng.integers(0, len(_ADJ), nr), rng.random(nr)
    med = np.array([_PRICE[c][0] for c in CATEGORIES])[rc]
    sd = np.array([_PRICE[c][1] for c in CATEGORIES])[rc]
    euros = np.exp(np.log(med) + sd * rng.standard_normal(nr)).clip(3, 900)
    ending = np.array([99, 95, 0, 90])[_pick(rng, [0, 1, 2, 3], [0.5, 0.2, 0.2, 0.1], nr)]
    cents[nf:] = np.floor(euros).astype(np.int64) * 100 + ending
    for ci, c in enumerate(CATEGORIES):  # vectorised per category
        sel = np.flatnonzero(rc == ci)
        bl, nl = np.array(_BRANDS[c], dtype=object), np.array(_NOUNS[c], dtype=object)
        b = bl[(u_brand[sel] * len(bl)).astype(int)]
        nn = nl[(u_noun[sel] * len(nl)).astype(int)]
        names[nf + sel] = b + " " + np.array(_ADJ, dtype=object)[u_adj[sel]] + " " + nn
        brands[nf + sel] = b
    # popularity: Zipf over a random rank
    rank = rng.permutation(n_products) + 1
    w = 1.0 / rank ** 0.9
    w /= w.sum()
    order = np.lexsort((np.arange(n_products), cat))
    cdf = np.empty(n_products)
    for ci in range(len(CATEGORIES)):  # positions of a category in ``order`` are contiguous
        pos = cat[order] == ci
        if pos.any():
            cw = np.cumsum(w[order[pos]])
            cdf[pos] = ci + cw / cw[-1]
    gcdf = np.cumsum(w)
    gcdf /= gcdf[-1]
    ids = np.strings.add(b"P", _zfill(np.arange(1, n_products + 1), 4))
    in_stock = np.where(rng.random(n_products) < 0.9, b"true", b"false")
    in_stock[:nf] = b"true"
    img = np.strings.add(np.strings.add(IMG_URL.encode() + b"/", ids), b".jpg")
    img = np.where(rng.random(n_products) < 0.05, b"", img)
    img[:nf] = np.strings.add(np.strings.add(IMG_URL.encode() + b"/", ids[:nf]), b".jpg")
    cols = {
        "product_id": ids, "name": _enc(names.astype(str)), "category": _enc(np.array(CATEGORIES)[cat]),
        "brand": _enc(brands.astype(str)), "price": _money(cents),
        "currency": np.full(n_products, b"EUR", dtype="S3"), "in_stock": in_stock,
        "url": np.strings.add(SHOP_URL.encode() + b"/products/", ids), "image_url": img,
    }
    return _Catalogue(n_products, cat, cents, w, order, cdf, gcdf, ids), cols


def _choose_products(rng: np.random.Generator, cat: _Catalogue, fav: np.ndarray, p_fav: float) -> np.ndarray:
    """Popularity-weighted product draws; with probability p_fav from the given favourite category."""
    n = len(fav)
    u = rng.random(n)
    use_fav = rng.random(n) < p_fav
    out = np.searchsorted(cat.cat_cdf_global, u, side="right").clip(0, cat.n - 1)
    if use_fav.any():
        pos = np.searchsorted(cat.cat_cdf, fav[use_fav] + u[use_fav], side="right").clip(0, cat.n - 1)
        cand = cat.cat_order[pos]
        ok = cat.category[cand] == fav[use_fav]  # guard for empty categories
        out[np.flatnonzero(use_fav)[ok]] = cand[ok]
    return out


@dataclass
class _People:
    n: int
    created: np.ndarray
    act_start: np.ndarray
    act_end: np.ndarray
    off: np.ndarray  # std UTC offset (minutes) of the person's zone
    email: np.ndarray  # S, stripped primary e-mail as the person types it (b"" = none)
    dup: np.ndarray  # bool
    dup_ref: np.ndarray  # CRM number of the duplicate record (0 = none)
    dup_created: np.ndarray
    dup_email: np.ndarray  # S, stripped e-mail of the duplicate record
    fav: np.ndarray  # favourite category
    plat: np.ndarray  # preferred platform
    persona: np.ndarray  # bool
    country: np.ndarray  # index into _Tables.codes
    has_phone: np.ndarray  # bool: a real (non-placeholder) phone, for SMS consent
    seeker: np.ndarray  # bool: buys mostly on discount


_PERSONAS = [  # ref, persona, first, last, email, phone, country, city, postcode, tz, offset, created days ago
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


_ANNA_DUP = (7, "loyal_vip_duplicate", "Ana", "Schmidt", "  Anna.Schmidt@EXAMPLE.com ", "030 55501001",
             "Germany", "Berlin", "10115", "Europe/Berlin", 60, 150)


N_PERSONAS = len(_PERSONAS)


# identity case of each CRM record (demo_truth/identity_cases.csv): what identity resolution must do with it
IDENTITY_CASES = ["primary", "persona", "same_email_duplicate", "changed_email_duplicate", "family_member",
                  "family_shared_email", "placeholder_phone", "placeholder_email", "email_typo"]


(_K_PRIMARY, _K_PERSONA, _K_SAME_EMAIL_DUP, _K_CHANGED_EMAIL_DUP, _K_FAMILY_PHONE, _K_FAMILY_EMAIL,
 _K_PLACEHOLDER_PHONE, _K_PLACEHOLDER_EMAIL, _K_EMAIL_TYPO) = range(len(IDENTITY_CASES))


DISCOUNT_SEEKER_SHARE = 0.12


def _reformat_phone(raw: str, country: str, style: int) -> str:
    """The same number written another way: national, international, E.164 or with the 00 prefix."""
    text = "+" + raw[2:] if raw.startswith("00") else raw
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return raw
    fmt = [phonenumbers.PhoneNumberFormat.NATIONAL, phonenumbers.PhoneNumberFormat.INTERNATIONAL,
           phonenumbers.PhoneNumberFormat.E164, phonenumbers.PhoneNumberFormat.E164][style]
    out = phonenumbers.format_number(number, fmt)
    return "00" + out[1:] if style == 3 else out


def _typo(name: str, r: float, r2: float) -> str:
    """A plausible typo: drop, double or swap a letter."""
    if len(name) < 3:
        return name
    i = 1 + int(r2 * (len(name) - 2))
    if r < 0.4:
        return name[:i] + name[i + 1:]
    if r < 0.7:
        return name[:i] + name[i] + name[i:]
    return name[:i - 1] + name[i] + name[i - 1] + name[i + 1:]


class _Tables:
    """Reference data flattened into byte arrays, so people are built by integer indexing only."""

    def __init__(self) -> None:
        enc = lambda xs: np.array([x.encode() for x in xs])  # noqa: E731
        self.codes = list(_COUNTRIES)
        self.weights = [_COUNTRIES[c][0] for c in self.codes]
        fn, ln, vn, vw, cn, ct, cz, co, ph = [], [], [], [], [], [], [], [], []
        self.f_start, self.f_n, self.l_start, self.l_n = [], [], [], []
        self.v_start, self.v_n, self.c_start, self.c_n, self.p_start, self.p_n = [], [], [], [], [], []
        for code in self.codes:
            _, variants, cities, firsts, lasts, phone = _COUNTRIES[code]
            for start, count, lst, items in ((self.f_start, self.f_n, fn, firsts), (self.l_start, self.l_n, ln, lasts),
                                             (self.v_start, self.v_n, vn, [v for v, _ in variants]),
                                             (self.c_start, self.c_n, cn, [c[0] for c in cities]),
                                             (self.p_start, self.p_n, ph, _PHONES[phone])):
                start.append(len(lst))
                count.append(len(items))
                lst.extend(items)
            vw.append(np.array([w for _, w in variants], dtype=float) / sum(w for _, w in variants))
            ct += [c[1] for c in cities]
            cz += [c[2] for c in cities]
            co += [c[3] for c in cities]
        self.variant_w = vw
        self.first, self.first_up, self.first_lo = enc(fn), enc([x.upper() for x in fn]), enc([x.lower() for x in fn])
        self.first_fold = enc([_fold(x) for x in fn])
        self.last, self.last_up, self.last_fold = enc(ln), enc([x.upper() for x in ln]), enc([_fold(x) for x in ln])
        self.variant, self.city, self.pc_tmpl, self.tz = enc(vn), enc(cn), enc(ct), enc(cz)
        self.tz_off = np.array(co, dtype=np.int64)
        self.phone_tmpl = enc(ph)
        for k in ("f_start", "f_n", "l_start", "l_n", "v_start", "v_n", "c_start", "c_n", "p_start", "p_n"):
            setattr(self, k, np.array(getattr(self, k), dtype=np.int64))


def _make_people(rng: np.random.Generator, n: int, as_of_s: int) -> tuple[_People, dict, list]:
    """Persons 0..5 are the personas; the rest are random. Returns people, CRM columns (good
    records in file order) and truth rows (customer_ref, person_id)."""
    T = _Tables()
    A = np.strings.add
    nr = n - N_PERSONAS
    cidx = _pick(rng, T.codes, T.weights, nr)

    def within(start: np.ndarray, count: np.ndarray) -> np.ndarray:
        return start[cidx] + (rng.random(nr) * count[cidx]).astype(np.int64)

    gf, gl, gc, gp = within(T.f_start, T.f_n), within(T.l_start, T.l_n), within(T.c_start, T.c_n), within(
        T.p_start, T.p_n)
    gv = np.empty(nr, dtype=np.int64)
    for ci in range(len(T.codes)):
        sel = np.flatnonzero(cidx == ci)
        gv[sel] = T.v_start[ci] + rng.choice(int(T.v_n[ci]), size=len(sel), p=T.variant_w[ci])
    country = np.where(rng.random(nr) < 0.01, b"", T.variant[gv])
    city, tz, off = T.city[gc], T.tz[gc], T.tz_off[gc]
    tz = np.where(rng.random(nr) < 0.08, b"", tz)
    postcode = _fill_template(rng, T.pc_tmpl[gc])
    phone = _fill_template(rng, T.phone_tmpl[gp])

    # e-mail addresses: realistic local parts on reserved domains, unique (case-insensitively)
    ff, lf = T.first_fold[gf], T.last_fold[gl]
    pat = rng.integers(0, 7, nr)
    num2, num3 = _TWO[rng.integers(0, 100, nr)], _ints(rng.integers(1, 1000, nr))
    local = np.zeros(nr, dtype="S48")
    for k, fn in enumerate([lambda i: A(A(ff[i], b"."), lf[i]), lambda i: A(ff[i], lf[i]),
                            lambda i: A(A(np.strings.slice(ff[i], 1), b"."), lf[i]),
                            lambda i: A(A(ff[i], b"_"), lf[i]), lambda i: A(A(A(ff[i], b"."), lf[i]), num2[i]),
                            lambda i: A(ff[i], num3[i]), lambda i: A(A(lf[i], b"."), ff[i])]):
        sel = np.flatnonzero(pat == k)
        local[sel] = fn(sel)
    dom = _DOMAINS.astype("S")[_pick(rng, list(_DOMAINS), _DOMAIN_W, nr)]
    email = A(A(local, b"@"), dom)
    allmail = np.concatenate([np.array([p[4].encode() for p in _PERSONAS]), email])
    _, first_idx = np.unique(allmail, return_index=True)
    dupl = np.ones(len(allmail), dtype=bool)
    dupl[first_idx] = False
    dupl = dupl[N_PERSONAS:]
    if dupl.any():  # make unique by appending the person number
        sel = np.flatnonzero(dupl)
        email[sel] = A(A(A(A(local[sel], b"."), _ints(sel + N_PERSONAS + 1)), b"@"), dom[sel])
    # typed e-mail as the person has it: mostly lower-case, some Title/upper-case
    r = rng.random(nr)
    typed = np.where(r < 0.03, np.strings.title(email), np.where(r < 0.04, np.strings.upper(email), email))
    no_email = rng.random(nr) < 0.005
    typed = np.where(no_email, b"", typed)
    crm_email = np.where(rng.random(nr) < 0.01, A(typed, b" "), typed)  # trailing blank
    crm_email = np.where(no_email, b"", crm_email)

    # names: mostly clean, some upper/lower-case or padded with blanks
    r = rng.random(nr)
    first_s = np.where(r < 0.01, T.first_lo[gf], np.where(r < 0.02, A(T.first[gf], b" "), T.first[gf]))
    last_s = np.where((r >= 0.02) & (r < 0.04), T.last_up[gl], T.last[gl])

    # family members: share a phone, postcode, city and last name with another person (different first name);
    # some families also share one e-mail address ("the.muellers.123@example.com"): they are still two people
    phone = np.where(rng.random(nr) < 0.15, b"", phone).astype("S24")
    email, typed, crm_email = email.astype("S96"), typed.astype("S96"), crm_email.astype("S96")
    first_s = first_s.astype(f"S{max(first_s.dtype.itemsize, T.first.dtype.itemsize)}")
    kind = np.zeros(nr, dtype=np.int64)  # identity case of the primary record (see IDENTITY_CASES)
    if nr:
        n_fam = int(round(nr * 0.008))
        a = rng.choice(nr, size=2 * n_fam, replace=False) if 2 * n_fam <= nr else np.zeros(0, dtype=int)
        src, dst = a[:n_fam], a[n_fam:]
        phone[dst], postcode[dst], last_s[dst] = phone[src], postcode[src], last_s[src]
        city[dst], country[dst], tz[dst], off[dst], cidx[dst] = city[src], country[src], tz[src], off[src], cidx[src]
        # a family member has another first name (of the same country) than the person they live with
        fst, fn_ = T.f_start[cidx[src]], T.f_n[cidx[src]]
        gf[dst] = fst + (gf[src] - fst + 1 + (rng.random(n_fam) * (fn_ - 1)).astype(np.int64)) % fn_
        first_s[dst] = T.first[gf[dst]]
        kind[src] = kind[dst] = _K_FAMILY_PHONE
        share = rng.random(n_fam) < 0.4
        fs, fd = src[share], dst[share]
        fam = A(A(A(A(A(b"the.", lf[fs]), b"s."), _ints(fs + N_PERSONAS + 1)), b"@"), dom[fs])
        email[fs] = email[fd] = typed[fs] = typed[fd] = crm_email[fs] = crm_email[fd] = fam
        no_email[fs] = no_email[fd] = False
        kind[fs] = kind[fd] = _K_FAMILY_EMAIL
        # placeholder phones, typed by unrelated people
        free = np.flatnonzero(kind == 0)
        n_ph = min(len(free), max(3, int(round(nr * 0.002))))
        sel = rng.choice(free, size=n_ph, replace=False)
        phone[sel] = np.array(_PLACEHOLDER_PHONES)[rng.integers(0, len(_PLACEHOLDER_PHONES), n_ph)]
        kind[sel] = _K_PLACEHOLDER_PHONE
        # placeholder e-mails and misspelt big domains: these people are never mailed
        free = np.flatnonzero((kind == 0) & ~no_email)
        n_pe = min(len(free), max(3, int(round(nr * 0.003))))
        n_ty = min(len(free) - n_pe, max(2, int(round(nr * 0.002))))
        sel = rng.choice(free, size=n_pe + n_ty, replace=False)
        pe, ty = sel[:n_pe], sel[n_pe:]
        email[pe] = np.array(_PLACEHOLDER_EMAILS)[rng.integers(0, len(_PLACEHOLDER_EMAILS), n_pe)]
        crm_email[pe] = email[pe]
        kind[pe] = _K_PLACEHOLDER_EMAIL
        email[ty] = A(A(local[ty], b"@"), np.array(_TYPO_DOMAINS)[rng.integers(0, len(_TYPO_DOMAINS), n_ty)])
        crm_email[ty] = email[ty]
        kind[ty] = _K_EMAIL_TYPO
        typed[sel] = b""  # activity (consent, e-mail events) uses ``typed``: nothing is ever sent to them

    # lifecycle
    start = as_of_s - WINDOW_DAYS * DAY
    legacy = rng.random(nr) < 0.12
    created = np.where(legacy, start - (rng.random(nr) * 730 * DAY).astype(np.int64),
                       start + (np.sqrt(rng.random(nr)) * (WINDOW_DAYS * DAY - 2 * HOUR)).astype(np.int64))
    life = (rng.exponential(450, nr) * DAY).astype(np.int64)
    act_start = np.maximum(created, start)
    act_end = np.clip(created + life, act_start + HOUR, as_of_s - 60)
    updated = np.where(rng.random(nr) < 0.4, created,
                       created + (rng.random(nr) * (as_of_s - 60 - created)).astype(np.int64))
    style = np.array([TS_Z, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE])[
        _pick(rng, [0, 1, 2, 3], [0.35, 0.3, 0.15, 0.2], nr)]
    # the system a record came from: legacy records mostly from an import
    ssys = _pick(rng, SOURCE_SYSTEMS, [0.5, 0.25, 0.15, 0.10], nr)
    ssys = np.where(legacy & (rng.random(nr) < 0.7), _SS_IMPORT, ssys)

    # duplicate CRM records with the same e-mail (~5 % of random people with a usable e-mail)
    cand = np.flatnonzero(~no_email & ((kind == 0) | (kind == _K_FAMILY_PHONE) | (kind == _K_PLACEHOLDER_PHONE)))
    n_dup = min(len(cand), int(round(0.05 * nr)))
    dsel = np.sort(rng.choice(cand, size=n_dup, replace=False)) if n_dup else np.zeros(0, dtype=np.int64)
    # ... and with a *changed* e-mail (~2 %): only name + address (or the phone) tell they are one person
    rest = np.setdiff1d(cand, dsel)
    n_chg = min(len(rest), int(round(0.02 * nr)))
    csel = np.sort(rng.choice(rest, size=n_chg, replace=False)) if n_chg else np.zeros(0, dtype=np.int64)
    allsel = np.concatenate([dsel, csel])
    n_all = len(allsel)
    dref = np.arange(n_all) + n + 2  # after the primaries (CRM-000007 is Anna's duplicate)
    dcreated = created[allsel] + (rng.random(n_all) * (as_of_s - 2 * HOUR - created[allsel])).astype(np.int64)
    dcreated = np.minimum(np.maximum(dcreated, act_start[allsel] + HOUR), as_of_s - HOUR)
    base = email[dsel]
    v = rng.integers(0, 4, n_dup)
    demail = np.select([v == 0, v == 1, v == 2],
                       [np.strings.title(base), np.strings.upper(base), np.strings.capitalize(base)], base)
    # the changed address: another local part and provider (unique: it carries the person number)
    cdom = _DOMAINS.astype("S")[_pick(rng, list(_DOMAINS), _DOMAIN_W, n_chg)]
    cv = rng.integers(0, 3, n_chg)
    cnum = _ints(csel + N_PERSONAS + 1)
    clocal = np.select([cv == 0, cv == 1], [A(A(A(ff[csel], lf[csel]), b"."), cnum),
                                            A(A(A(np.strings.slice(ff[csel], 1), lf[csel]), b"_"), cnum)],
                       A(A(A(lf[csel], b"."), ff[csel]), A(b".", cnum)))
    cemail = A(A(clocal, b"@"), cdom)
    demail = np.concatenate([demail, cemail]).astype(f"S{max(demail.dtype.itemsize, cemail.dtype.itemsize, 1)}")
    pad = rng.integers(0, 4, n_all)
    d_crm_email = np.select([pad == 0, pad == 1, pad == 2],
                            [A(b" ", demail), A(demail, b" "), A(A(b"  ", demail), b" ")], demail)
    ru, r2 = rng.random(n_all), rng.random(n_all)
    dfirst = T.first[gf[allsel]].astype(f"S{T.first.dtype.itemsize + 2}")
    dlast = last_s[allsel].astype(f"S{last_s.dtype.itemsize + 2}")
    # typos (Python loop over ~3 % of the records): first names in half of them, last names in 1 of 5
    typo = np.flatnonzero(ru < 0.5)
    dfirst[typo] = [_typo(x.decode(), a / 0.5, b).encode() for x, a, b in zip(dfirst[typo], ru[typo], r2[typo])]
    lt = np.flatnonzero((ru >= 0.5) & (ru < 0.6))
    dlast[lt] = [_typo(x.decode(), (a - 0.5) / 0.1, b).encode() for x, a, b in zip(dlast[lt], ru[lt], r2[lt])]
    # the duplicate may spell the country differently and often lacks phone / time zone
    alt = T.v_start[cidx[allsel]] + (rng.random(n_all) * T.v_n[cidx[allsel]]).astype(np.int64)
    dcountry = np.where(rng.random(n_all) < 0.5, T.variant[alt], country[allsel])
    dtz = np.where(rng.random(n_all) < 0.3, b"", tz[allsel])
    # the phone: missing in 40 % (55 % after an e-mail change), else the same number, half of the time
    # written in another format (national / international / E.164 / 00-prefix)
    u = rng.random(n_all)
    changed = np.arange(n_all) >= n_dup
    dphone = np.where(u < np.where(changed, 0.55, 0.4), b"", phone[allsel]).astype(f"S{phone.dtype.itemsize + 8}")
    refmt = np.flatnonzero((dphone != b"") & (rng.random(n_all) < 0.5))
    styles = rng.integers(0, 4, len(refmt))
    dphone[refmt] = [_reformat_phone(p.decode(), T.codes[c], k).encode()
                     for p, c, k in zip(phone[allsel][refmt], cidx[allsel][refmt], styles)]
    dstyle = style[rng.integers(0, nr, n_all)] if nr else style[:0]
    dss = _pick(rng, SOURCE_SYSTEMS, [0.35, 0.3, 0.3, 0.05], n_all)

    # ----- assemble CRM columns (personas, Anna's duplicate, random primaries, duplicates)
    pr = _PERSONAS + [_ANNA_DUP]
    pcol = lambda i: np.array([p[i].encode() for p in pr])  # noqa: E731
    p_created = np.array([as_of_s - p[11] * DAY for p in pr], dtype=np.int64)
    p_updated = p_created + np.array([30, 2, 0, 5, 1, 3, 0]) * DAY
    p_style = np.array([TS_Z, TS_UTC_OFFSET, TS_OFFSET, TS_OFFSET, TS_NAIVE, TS_NAIVE_SPACE, TS_MS_Z])
    p_off = np.array([p[10] for p in pr])
    p_ss = np.array([_SS_SHOP, _SS_SHOP, _SS_SHOP, _SS_POS, _SS_SHOP, _SS_IMPORT, _SS_NEWSLETTER])
    refs = np.concatenate([[p[0] for p in pr], np.arange(nr) + N_PERSONAS + 2, dref]).astype(np.int64)
    all_created = np.concatenate([p_created, created, dcreated])
    all_updated = np.concatenate([p_updated, updated, np.maximum(dcreated, updated[allsel])])
    all_style = np.concatenate([p_style, style, dstyle])
    all_off = np.concatenate([p_off, off, off[allsel]])
    crm = {
        "customer_ref": np.strings.add(b"CRM-", _zfill(refs, 6)),
        "email": np.concatenate([pcol(4), crm_email, d_crm_email]),
        "first_name": np.concatenate([pcol(2), first_s, dfirst]),
        "last_name": np.concatenate([pcol(3), last_s, dlast]),
        "phone": np.concatenate([pcol(5), phone, dphone]),
        "country": np.concatenate([pcol(6), country, dcountry]),
        "city": np.concatenate([pcol(7), city, city[allsel]]),
        "postcode": np.concatenate([pcol(8), postcode, postcode[allsel]]),
        "timezone": np.concatenate([pcol(9), tz, dtz]),
        "created_at": _iso(all_created, all_style, all_off),
        "updated_at": _iso(all_updated, all_style, all_off),
        "source_system": np.array([x.encode() for x in SOURCE_SYSTEMS])[np.concatenate([p_ss, ssys, dss])],
    }
    pid = np.concatenate([np.arange(1, N_PERSONAS + 1), [1], np.arange(N_PERSONAS + 1, n + 1),
                          allsel + N_PERSONAS + 1])
    case = np.concatenate([np.full(N_PERSONAS, _K_PERSONA), [_K_SAME_EMAIL_DUP], kind,
                           np.where(changed, _K_CHANGED_EMAIL_DUP, _K_SAME_EMAIL_DUP)])
    truth = [crm["customer_ref"], np.strings.add(b"person-", _zfill(pid, 7)),
             np.array([c.encode() for c in IDENTITY_CASES])[case]]

    # ----- person-level arrays (index 0..n-1)
    p_email = np.concatenate([pcol(4)[:N_PERSONAS], np.strings.strip(typed)])
    dup_ref = np.zeros(n, dtype=np.int64)
    dup_created = np.full(n, np.iinfo(np.int64).max // 2, dtype=np.int64)
    dup_email = np.zeros(n, dtype=np.concatenate([p_email, demail]).dtype)
    dup_ref[allsel + N_PERSONAS] = dref
    dup_created[allsel + N_PERSONAS] = dcreated
    dup_email[allsel + N_PERSONAS] = np.strings.strip(demail)
    dup_ref[0], dup_created[0], dup_email[0] = 7, p_created[6], b"Anna.Schmidt@EXAMPLE.com"
    p_country = np.array([T.codes.index(c) for c in ("DE", "GB", "FR", "US", "AT", "DE")], dtype=np.int64)
    has_phone = np.concatenate([np.array([bool(p[5]) for p in _PERSONAS]),
                                (phone != b"") & (kind != _K_PLACEHOLDER_PHONE)])
    people = _People(
        n=n,
        created=np.concatenate([p_created[:N_PERSONAS], created]),
        act_start=np.concatenate([p_created[:N_PERSONAS], act_start]),
        act_end=np.concatenate([np.full(N_PERSONAS, as_of_s - 60), act_end]),
        off=np.concatenate([p_off[:N_PERSONAS], off]),
        email=p_email,
        dup=dup_ref > 0,
        dup_ref=dup_ref,
        dup_created=dup_created,
        dup_email=dup_email,
        fav=np.concatenate([np.zeros(N_PERSONAS, dtype=np.int64), _pick(rng, CATEGORIES, _CAT_WEIGHTS, nr)]),
        plat=np.concatenate([np.zeros(N_PERSONAS, dtype=np.int64), _pick(rng, PLATFORMS, [0.6, 0.25, 0.15], nr)]),
        persona=np.arange(n) < N_PERSONAS,
        country=np.concatenate([p_country, cidx]),
        has_phone=has_phone,
        seeker=np.concatenate([np.zeros(N_PERSONAS, dtype=bool), rng.random(nr) < DISCOUNT_SEEKER_SHARE]),
    )
    return people, crm, truth


def _crm_lines(crm: dict, idx=None) -> tuple[bytes, np.ndarray]:
    cols = crm if idx is None else _take(crm, idx)
    n = len(cols["customer_ref"])
    pieces: list = []
    for i, k in enumerate(CRM_HEADER.split(",")):
        if i:
            pieces.append(b",")
        pieces.append(cols[k])
    pieces.append(b"\n")
    return _assemble(pieces, n)


def _campaigns(as_of_s: int) -> tuple[np.ndarray, list[bytes]]:
    """Monthly newsletter (3rd of the month, 08:00 UTC) plus quarterly promos (15th, 16:00 UTC)."""
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


def _persona_activity(as_of_s: int, people: _People, cat: _Catalogue, campaigns: np.ndarray) -> dict:
    """Orders, items, web events, consent rows and e-mail messages/events of the six personas."""
    orders, items, web, consent, msgs, mev = [], [], [], [], [], []
    sess = [0]

    def session(person, ref, t0, steps, plat=0):
        """steps: list of (seconds after t0, type, product index or -1)."""
        s = sess[0]
        sess[0] += 1
        for dt, typ, prod in steps:
            web.append((ref, person, typ, prod, t0 + dt, plat, s, TS_Z if person != 3 else TS_OFFSET))

    for person, ref, days, its, style in _PERSONA_ORDERS:
        t = as_of_s - days * DAY - PERSONA_ORDER_OFFSET
        oi = len(orders)
        orders.append((person, ref, t, 0, style, len(its)))
        for p, q in its:
            items.append((oi, p, q, int(cat.cents[p])))
        steps = [(0, _PV, -1)]
        for j, (p, _) in enumerate(its):
            steps += [(60 + 120 * j, _PROD, p), (100 + 120 * j, _ATC, p)]
        steps.append((120 * len(its) + 200, _CHK, -1))
        session(person, ref, t - (120 * len(its) + 400), steps, plat=person % 2)
    # Anna: three products viewed (never bought) in the last 10 days, plus some older browsing of items she owns
    session(0, 1, as_of_s - 3 * DAY + 5 * HOUR, [(0, _PV, -1), (40, _PROD, 3), (130, _PV, -1)])
    session(0, 1, as_of_s - 6 * DAY + 2 * HOUR, [(0, _PROD, 7), (95, _PV, -1)])
    session(0, 1, as_of_s - 9 * DAY + 7 * HOUR, [(0, _PV, -1), (30, _PROD, 2), (70, _PROD, 2)])
    for d in (370, 260, 200, 140, 70, 45):
        session(0, 1, as_of_s - d * DAY, [(0, _PV, -1), (50, _PROD, 0), (120, _PROD, 11)])
    # Ben: some browsing long ago, nothing in the last 200 days
    session(1, 2, as_of_s - 330 * DAY, [(0, _PV, -1), (60, _PROD, 2), (200, _PV, -1)])
    session(1, 2, as_of_s - 250 * DAY, [(0, _PV, -1)])
    # Chloé: abandoned cart (two products) 2 days before as_of
    session(2, 3, as_of_s - 2 * DAY - 900, [(0, _PV, -1), (60, _PROD, 1), (300, _ATC, 1), (420, _PROD, 10),
                                            (600, _ATC, 10)])
    # Dmitri: active browser
    for d in (100, 40, 12, 4):
        session(3, 4, as_of_s - d * DAY + 3 * HOUR, [(0, _PV, -1), (45, _PROD, 7), (110, _PROD, 3)])

    # consent: (person, email, status, t, source, style)
    consent += [
        (0, b"anna.schmidt@example.com", _C_GRANTED, as_of_s - 700 * DAY + 120, _SRC_SIGNUP, TS_Z),
        (1, b"ben.carter@example.co.uk", _C_GRANTED, as_of_s - 650 * DAY + 60, _SRC_SIGNUP, TS_UTC_OFFSET),
        (2, b"chloe.dubois@example.fr", _C_GRANTED, as_of_s - 10 * DAY + 60, _SRC_SIGNUP, TS_OFFSET),
        (3, b"dmitri.ivanov@example.com", _C_GRANTED, as_of_s - 200 * DAY, _SRC_CHECKOUT, TS_OFFSET),
        (3, b"dmitri.ivanov@example.com", _C_REVOKED, as_of_s - 20 * DAY, _SRC_PREF, TS_NAIVE),
        (4, b"eva.novak@example.com", _C_GRANTED, as_of_s - 400 * DAY + 300, _SRC_SIGNUP, TS_Z),
        (5, b"farid.haddad@example.com", _C_GRANTED, as_of_s - 300 * DAY + 300, _SRC_CHECKOUT, TS_NAIVE_SPACE),
    ]

    # e-mail: every campaign inside the consent window; opens/clicks by a per-persona rule
    def mail(person, email, g, r, open_rule, click_rule, stop=None):
        sends = [(ci, int(tc) + 600 + 97 * person, False) for ci, tc in enumerate(campaigns)
                 if g <= tc < r and int(tc) + 600 + 97 * person < as_of_s]
        unsub_k = -1
        if stop and stop[0] == _M_BOUNCE:  # this person's send of the latest campaign went out late and bounced
            prev = max(i for i, x in enumerate(campaigns) if x <= stop[1])
            sends = sorted([x for x in sends if x[0] != prev] + [(prev, stop[1] - 45, True)], key=lambda x: x[1])
        elif stop:  # unsubscribe from the last message sent at least 2 hours before stop_t
            unsub_k = max(k for k, x in enumerate(sends) if x[1] + 2 * HOUR < stop[1])
        stopped = False
        for k, (ci, send, bounce) in enumerate(sends):
            mi = len(msgs)
            msgs.append((person, email, ci, send))
            mev.append((mi, _M_PROC, send, -1))
            if stopped:
                mev.append((mi, _M_DROP, send + 1, -1))
                continue
            if bounce:
                mev.append((mi, _M_BOUNCE, stop[1], -1))
                stopped = True
                continue
            mev.append((mi, _M_DELIV, send + 4, -1))
            opened = open_rule(tc := int(campaigns[ci]), k) or k == unsub_k
            if opened:
                mev.append((mi, _M_OPEN, send + 2 * HOUR, -1))
                if click_rule(tc, k):
                    mev.append((mi, _M_CLICK, send + 2 * HOUR + 180, (k * 5) % len(_FIXED_PRODUCTS)))
            if k == unsub_k:
                mev.append((mi, stop[0], stop[1], -1))
                stopped = True

    far = as_of_s + DAY
    anna_e, anna_dup_e = b"anna.schmidt@example.com", b"Anna.Schmidt@EXAMPLE.com"
    mail(0, anna_e, as_of_s - 700 * DAY, as_of_s - 150 * DAY, lambda t, k: k % 5 != 4, lambda t, k: k % 2 == 0)
    # after the duplicate record was created, newsletters also went to the duplicate's address
    mail(0, anna_dup_e, as_of_s - 150 * DAY, far, lambda t, k: True, lambda t, k: k % 2 == 1)
    mail(1, b"ben.carter@example.co.uk", as_of_s - 650 * DAY, far,
         lambda t, k: t < as_of_s - 200 * DAY and k % 3 == 0, lambda t, k: False)
    mail(2, b"chloe.dubois@example.fr", as_of_s - 10 * DAY, far, lambda t, k: True, lambda t, k: True)
    mail(3, b"dmitri.ivanov@example.com", as_of_s - 200 * DAY, as_of_s - 20 * DAY,
         lambda t, k: k % 2 == 0, lambda t, k: False)
    mail(4, b"eva.novak@example.com", as_of_s - 400 * DAY, far, lambda t, k: k % 3 == 0, lambda t, k: False,
         stop=(_M_UNSUB, as_of_s - 30 * DAY))
    mail(5, b"farid.haddad@example.com", as_of_s - 300 * DAY, far, lambda t, k: k % 2 == 1, lambda t, k: False,
         stop=(_M_BOUNCE, as_of_s - 40 * DAY))

    o = np.array(orders, dtype=np.int64).reshape(-1, 6)
    it = np.array(items, dtype=np.int64).reshape(-1, 4)
    w = np.array(web, dtype=np.int64).reshape(-1, 8)
    c, ms = consent, msgs
    ev = np.array(mev, dtype=np.int64).reshape(-1, 4)
    off = people.off
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
                    "off": off[np.array([x[0] for x in c])], "purpose": np.full(len(c), _P_EMAIL)},
        "msgs": {"person": np.array([m[0] for m in ms]), "email": np.array([m[1] for m in ms], dtype="S80"),
                 "campaign": np.array([m[2] for m in ms]), "t": np.array([m[3] for m in ms], dtype=np.int64)},
        "mev": {"msg": ev[:, 0], "type": ev[:, 1], "t": ev[:, 2], "product": ev[:, 3]},
        "n_sessions": sess[0],
    }


def _block_activity(rng: np.random.Generator, P: _People, lo: int, hi: int, cat: _Catalogue, as_of_s: int,
                    campaigns: np.ndarray) -> dict:
    m = hi - lo
    created, a0, a1 = P.created[lo:hi], P.act_start[lo:hi], P.act_end[lo:hi]
    span = (a1 - a0).astype(np.int64)
    real = ~P.persona[lo:hi]
    fav = P.fav[lo:hi]
    start = as_of_s - WINDOW_DAYS * DAY

    def ref_at(person_local: np.ndarray, t: np.ndarray) -> np.ndarray:
        g = person_local + lo
        use_dup = P.dup[g] & (t >= P.dup_created[g]) & (rng.random(len(g)) < 0.5)
        primary = np.where(g < N_PERSONAS, g + 1, g + 2)
        return np.where(use_dup, P.dup_ref[g], primary)

    # ---------------- orders (heavy-tailed: ~30% never buy, many one-off, some repeat buyers)
    buyer = (rng.random(m) < 0.70) & real
    lam = rng.gamma(0.45, 6.0, m) * np.clip(span / (365 * DAY), 0.05, 1.0)
    n_orders = np.where(buyer, 1 + rng.poisson(lam), 0).clip(0, 60)
    o_person, o_pos = _group_pos(n_orders)
    n_o = len(o_person)
    ot = a0[o_person] + (rng.random(n_o) * span[o_person]).astype(np.int64)
    at_signup = (o_pos == 0) & (rng.random(n_o) < 0.4) & (created[o_person] >= start)
    ot = np.where(at_signup, created[o_person] + rng.integers(120, 1800, n_o), ot)
    ot = np.minimum(ot, as_of_s - 120)
    status = _pick(rng, ORDER_STATUS, [0.92, 0.04, 0.04], n_o)
    n_items = (1 + rng.poisson(1.0, n_o)).clip(1, 8)
    i_order, _ = _group_pos(n_items)
    n_i = len(i_order)
    prod = _choose_products(rng, cat, fav[o_person[i_order]], 0.6)
    qty = np.array([1, 2, 3, 4])[_pick(rng, [1, 2, 3, 4], [0.86, 0.10, 0.03, 0.01], n_i)]
    # discounts of 10-40 %: some lines at any time, many in sales periods (January, July, Black Friday week),
    # and most lines of "discount seekers"; products.price stays the list price
    cents = cat.cents[prod]
    _, mo, dd = _civil(ot[i_order] // DAY)
    in_sale = ((mo == 1) & (dd <= 20)) | (mo == 7) | ((mo == 11) & (dd >= 24)) | ((mo == 12) & (dd <= 2))
    seeker = P.seeker[lo:hi][o_person[i_order]]
    disc = rng.random(n_i) < np.where(seeker, 0.75, np.where(in_sale, 0.35, 0.05))
    pct = np.array([0.10, 0.15, 0.20, 0.25, 0.30, 0.40])[
        _pick(rng, list(range(6)), [0.25, 0.15, 0.25, 0.10, 0.15, 0.10], n_i)]
    cents = np.where(disc, np.round(cents * (1 - pct)), cents)
    orders = {"person": o_person + lo, "ref": ref_at(o_person, ot), "t": ot, "status": status,
              "style": np.array([TS_Z, TS_OFFSET, TS_NAIVE, TS_MS_Z])[
                  _pick(rng, [0, 1, 2, 3], [0.5, 0.3, 0.1, 0.1], n_o)],
              "off": P.off[o_person + lo], "n_items": n_items}
    items = {"order": i_order, "product": prod, "qty": qty, "cents": cents.astype(np.int64)}

    # ---------------- web sessions: purchase sessions for ~90% of orders
    has_sess = rng.random(n_o) < 0.9
    so = np.flatnonzero(has_sess)
    k_ev = 2 * n_items[so] + 1
    e_sess, e_pos = _group_pos(k_ev)
    o_of_e = so[e_sess]
    ni = n_items[o_of_e]
    is_chk = e_pos == 2 * ni
    item_j = np.minimum(e_pos // 2, ni - 1)
    first_item = np.cumsum(n_items) - n_items
    p_of_e = np.where(is_chk, -1, prod[first_item[o_of_e] + item_j])
    typ = np.where(is_chk, _CHK, np.where(e_pos % 2 == 0, _PROD, _ATC))
    s_start = ot[so] - (120 * n_items[so] + 300 + rng.integers(0, 900, len(so)))
    et = s_start[e_sess] + np.where(is_chk, 120 * ni + 200, 120 * item_j + np.where(e_pos % 2, 80, 20))
    pplat = P.plat[lo:hi]
    s_plat = np.where(rng.random(len(so)) < 0.8, pplat[o_person[so]], rng.integers(0, 3, len(so)))
    purchase = {"ref": orders["ref"][so][e_sess], "anon": (o_person[so][e_sess] + lo).astype(np.uint64),
                "type": typ, "product": p_of_e, "t": et, "platform": s_plat[e_sess],
                "session": e_sess.astype(np.int64)}
    n_sess = len(so)

    # ---------------- browsing sessions of customers (logged in 85%, else only the cookie id)
    lam_b = rng.gamma(1.0, 6.0, m) * np.clip(span / (365 * DAY), 0.15, 1.5) * real
    n_b = rng.poisson(lam_b)
    b_person, _ = _group_pos(n_b)
    nb = len(b_person)
    b_start = a0[b_person] + (rng.random(nb) * span[b_person]).astype(np.int64)
    k_b = (1 + rng.poisson(3.0, nb)).clip(1, 40)
    be_s, be_pos = _group_pos(k_b)
    ne = len(be_s)
    gaps = rng.exponential(45.0, ne).astype(np.int64) + 3
    gaps[be_pos == 0] = 0
    cs = np.cumsum(gaps)
    first_e = np.cumsum(k_b) - k_b
    bt = b_start[be_s] + cs - cs[first_e][be_s]
    u = rng.random(ne)
    btyp = np.where(u < 0.33, _PV, np.where(u < 0.85, _PROD, np.where(u < 0.97, _ATC, _CHK)))
    btyp = np.where((be_pos == 0) & (rng.random(ne) < 0.7), _PV, btyp)
    bprod = _choose_products(rng, cat, fav[b_person[be_s]], 0.65)
    # add_to_cart refers to the last product viewed in the session; without one it is a product view
    idx = np.arange(ne)
    last_pv = np.maximum.accumulate(np.where(btyp == _PROD, idx, -1))
    has_pv = last_pv >= first_e[be_s]
    btyp = np.where((btyp == _ATC) & ~has_pv, _PROD, btyp)
    last_pv = np.maximum.accumulate(np.where(btyp == _PROD, idx, -1))
    bprod = np.where(btyp == _ATC, bprod[np.maximum(last_pv, 0)], bprod)
    last_atc = np.maximum.accumulate(np.where(btyp == _ATC, idx, -1))
    btyp = np.where((btyp == _CHK) & (last_atc < first_e[be_s]), _PV, btyp)
    bprod = np.where((btyp == _PV) | (btyp == _CHK), -1, bprod)
    logged = rng.random(nb) < 0.85
    bref = np.where(logged, ref_at(b_person, b_start), 0)
    b_plat = np.where(rng.random(nb) < 0.8, pplat[b_person], rng.integers(0, 3, nb))
    browse = {"ref": bref[be_s], "anon": (b_person[be_s] + lo).astype(np.uint64), "type": btyp,
              "product": bprod, "t": bt, "platform": b_plat[be_s], "session": (be_s + n_sess).astype(np.int64)}
    n_sess += nb

    # ---------------- anonymous visitors who never became customers
    na = int(rng.poisson(0.5 * m))
    k_a = (1 + rng.poisson(1.5, na)).clip(1, 20)
    ae_s, ae_pos = _group_pos(k_a)
    nae = len(ae_s)
    a_start = start + (rng.random(na) * (WINDOW_DAYS * DAY)).astype(np.int64)
    at = a_start[ae_s] + ae_pos * (20 + rng.integers(0, 90, nae))
    atyp = np.where((ae_pos == 0) | (rng.random(nae) < 0.4), _PV, _PROD)
    aprod = np.where(atyp == _PROD, _choose_products(rng, cat, np.zeros(nae, dtype=np.int64), 0.0), -1)
    anon = {"ref": np.zeros(nae, dtype=np.int64),
            "anon": (np.uint64(1 << 62) | (ae_s + lo * 64).astype(np.uint64)), "type": atyp,
            "product": aprod, "t": at, "platform": rng.integers(0, 3, na)[ae_s],
            "session": (ae_s + n_sess).astype(np.int64)}
    n_sess += na
    web = _cat([purchase, browse, anon])
    nw = len(web["t"])
    web["ms"] = rng.integers(0, 1000, nw)
    own = web["anon"] < np.uint64(1 << 62)
    web["off"] = np.where(own, P.off[np.where(own, web["anon"], 0).astype(np.int64)], 0)
    web["style"] = np.array([TS_Z, TS_MS_Z, TS_OFFSET, TS_NAIVE])[
        _pick(rng, [0, 1, 2, 3], [0.55, 0.2, 0.15, 0.1], nw)]
    keep = web["t"] < as_of_s - 1
    web = _take(web, keep)

    # ---------------- consent (~80% of people with an e-mail grant; some revoke later)
    emails = P.email[lo:hi]
    has_e = (emails != b"") & real
    grant = has_e & (rng.random(m) < 0.80)
    legacy = created < start
    g_late = rng.random(m) < 0.15
    g_t = np.where(legacy, start + rng.integers(0, 7 * DAY, m),
                   np.where(g_late, a0 + (rng.random(m) * (as_of_s - a0)).astype(np.int64),
                            created + rng.integers(5, 600, m)))
    g_t = np.minimum(g_t, as_of_s - 60)
    g_src = np.where(legacy, _SRC_IMPORT, np.where(g_late, _SRC_PREF,
                                                   np.where(rng.random(m) < 0.6, _SRC_SIGNUP, _SRC_CHECKOUT)))
    revoke = grant & (rng.random(m) < 0.10)
    r_t = g_t + (rng.random(m) * (as_of_s - 60 - g_t)).astype(np.int64)
    regrant = revoke & (rng.random(m) < 0.15)
    g2_t = r_t + (rng.random(m) * (as_of_s - 60 - r_t)).astype(np.int64)
    twice = grant & ~revoke & (rng.random(m) < 0.05)  # granted again, e.g. at a later checkout
    t2_t = g_t + (rng.random(m) * (as_of_s - 60 - g_t)).astype(np.int64)
    declined = has_e & ~grant & (rng.random(m) < 0.3)
    # SMS marketing is asked at checkout from people with a real phone (some revoke later); personalization
    # runs on legitimate interest, so its rows are mostly objections from the preference centre
    sms = has_e & P.has_phone[lo:hi] & (rng.random(m) < 0.30)
    sms_t = a0 + (rng.random(m) * (as_of_s - 60 - a0)).astype(np.int64)
    sms_rev = sms & (rng.random(m) < 0.15)
    sms_rt = sms_t + (rng.random(m) * (as_of_s - 60 - sms_t)).astype(np.int64)
    pers_g = has_e & (rng.random(m) < 0.10)
    pers_gt = created + rng.integers(5, 600, m)
    pers_r = has_e & (rng.random(m) < 0.06)
    pers_rt = np.maximum(pers_gt, a0) + (rng.random(m) * (as_of_s - 60 - np.maximum(pers_gt, a0))).astype(np.int64)
    dup_mail = P.dup[lo:hi] & (P.dup_email[lo:hi] != b"")
    parts = []
    pref = np.full(m, _SRC_PREF)
    for mask, tt, st, src, purpose in (
            (grant, g_t, _C_GRANTED, g_src, _P_EMAIL), (revoke, r_t, _C_REVOKED, pref, _P_EMAIL),
            (regrant, g2_t, _C_GRANTED, pref, _P_EMAIL), (twice, t2_t, _C_GRANTED, np.full(m, _SRC_CHECKOUT), _P_EMAIL),
            (declined, a0 + 30, _C_REVOKED, np.where(legacy, _SRC_IMPORT, _SRC_SIGNUP), _P_EMAIL),
            (sms, sms_t, _C_GRANTED, np.full(m, _SRC_CHECKOUT), _P_SMS), (sms_rev, sms_rt, _C_REVOKED, pref, _P_SMS),
            (pers_g, pers_gt, _C_GRANTED, np.full(m, _SRC_SIGNUP), _P_PERS),
            (pers_r, pers_rt, _C_REVOKED, pref, _P_PERS)):
        s = np.flatnonzero(mask)
        use_dup = dup_mail[s] & (tt[s] >= P.dup_created[s + lo]) & (rng.random(len(s)) < 0.3)
        parts.append({"person": s + lo, "email": np.where(use_dup, P.dup_email[s + lo], emails[s]),
                      "status": np.full(len(s), st), "t": tt[s], "source": src[s],
                      "purpose": np.full(len(s), purpose)})
    consent = _cat(parts)
    nc = len(consent["t"])
    consent["t"] = np.minimum(consent["t"], as_of_s - 30)
    consent["style"] = np.array([TS_Z, TS_OFFSET, TS_NAIVE_SPACE])[_pick(rng, [0, 1, 2], [0.5, 0.3, 0.2], nc)]
    consent["off"] = P.off[consent["person"]]

    # ---------------- e-mail: each consenting person receives part of the campaigns in the consent window
    nc_ = len(campaigns)
    tc = campaigns[None, :]
    inf = np.iinfo(np.int64).max
    end1 = np.where(revoke, r_t, inf)[:, None]
    g2 = np.where(regrant, g2_t, inf)[:, None]
    q = rng.beta(2.3, 3.75, m)[:, None]  # how much of the programme reaches this person
    elig = grant[:, None] & (((tc >= g_t[:, None]) & (tc < end1)) | (tc >= g2))
    recv = elig & (rng.random((m, nc_)) < q)
    mp, mc = np.nonzero(recv)  # sorted by person, then campaign time
    nm = len(mp)
    send = campaigns[mc] + rng.integers(0, 4 * HOUR, m)[mp] + rng.integers(0, 60, nm)
    ok = send < as_of_s - 120
    mp, mc, send = mp[ok], mc[ok], send[ok]
    nm = len(mp)
    _, mrank = _group_pos(np.bincount(mp, minlength=m))
    n_msg = np.bincount(mp, minlength=m)
    # per-person stop event (bounce / spam report / unsubscribe / group unsubscribe) at a random message
    u = rng.random(m)
    stop_kind = np.select([u < 0.010, u < 0.012, u < 0.027, u < 0.030],
                          [_M_BOUNCE, _M_SPAM, _M_UNSUB, _M_GUNSUB], -1)
    stop_kind = np.where(n_msg > 0, stop_kind, -1)
    stop_at = (rng.random(m) * n_msg).astype(np.int64)
    sk = stop_kind[mp]
    is_stop = (sk >= 0) & (mrank == stop_at[mp])
    after = (sk >= 0) & (mrank > stop_at[mp])
    bounced = is_stop & (sk == _M_BOUNCE)
    delivered = ~after & ~bounced
    p_open = rng.beta(2.0, 4.5, m)
    p_click = rng.beta(1.5, 6.0, m)
    late = send > a1[mp]  # after the person's active period opens become rare
    opened = delivered & ((rng.random(nm) < p_open[mp] * np.where(late, 0.25, 1.0)) |
                          (is_stop & (sk != _M_BOUNCE)))
    n_open = np.where(opened, 1 + rng.poisson(0.5, nm), 0)
    clicked = opened & (rng.random(nm) < p_click[mp])
    n_click = np.where(clicked, 1 + rng.poisson(0.3, nm), 0)
    t_deliv = send + rng.integers(2, 120, nm)
    t_open1 = t_deliv + rng.exponential(6 * HOUR, nm).astype(np.int64) + 30
    # the e-mail address the message went to (a duplicate record's address receives some messages)
    dm = P.dup[mp + lo] & (send >= P.dup_created[mp + lo]) & (rng.random(nm) < 0.3)
    memail = np.where(dm, P.dup_email[mp + lo], emails[mp])
    msgs = {"person": mp + lo, "email": memail, "campaign": mc, "t": send}
    ev = []
    ar = np.arange(nm)
    ev.append({"msg": ar, "type": np.full(nm, _M_PROC), "t": send, "product": np.full(nm, -1)})
    s = np.flatnonzero(delivered)
    ev.append({"msg": s, "type": np.full(len(s), _M_DELIV), "t": t_deliv[s], "product": np.full(len(s), -1)})
    s = np.flatnonzero(bounced)
    ev.append({"msg": s, "type": np.full(len(s), _M_BOUNCE), "t": send[s] + rng.integers(5, 600, len(s)),
               "product": np.full(len(s), -1)})
    s = np.flatnonzero(after)
    ev.append({"msg": s, "type": np.full(len(s), _M_DROP), "t": send[s] + 1, "product": np.full(len(s), -1)})
    oo, opos = _group_pos(n_open)
    ot_ = t_open1[oo] + (opos * rng.exponential(20 * HOUR, len(oo))).astype(np.int64)
    ev.append({"msg": oo, "type": np.full(len(oo), _M_OPEN), "t": ot_, "product": np.full(len(oo), -1)})
    co, cpos = _group_pos(n_click)
    ct = t_open1[co] + 20 + (rng.exponential(120, len(co)) * (1 + cpos)).astype(np.int64)
    cprod = _choose_products(rng, cat, fav[mp[co]], 0.7)
    cprod = np.where(rng.random(len(co)) < 0.2, -2, cprod)  # -2: home page
    ev.append({"msg": co, "type": np.full(len(co), _M_CLICK), "t": ct, "product": cprod})
    s = np.flatnonzero(is_stop & (sk != _M_BOUNCE))
    ev.append({"msg": s, "type": sk[s], "t": t_open1[s] + rng.integers(30, 2 * DAY, len(s)),
               "product": np.full(len(s), -1)})
    mev = _cat(ev)
    mev = _take(mev, mev["t"] < as_of_s - 1)
    return {"orders": orders, "items": items, "web": web, "consent": consent, "msgs": msgs, "mev": mev,
            "n_sessions": n_sess}


def _crm_ref(num: np.ndarray) -> np.ndarray:
    return np.strings.add(b"CRM-", _zfill(num, 6))


def _order_lines(o: dict, it: dict, order_no: np.ndarray, cat: _Catalogue) -> tuple[bytes, np.ndarray]:
    n = len(o["t"])
    ni = len(it["order"])
    _, line = _group_pos(o["n_items"])
    item = [np.where(line == 0, b"", b","), b'{"product_id":"', cat.ids[it["product"]], b'","quantity":',
            _ints(it["qty"]), b',"unit_price":', _money(it["cents"]), b"}"]
    iblob, iends = _assemble(item, ni)
    istr = np.frombuffer(iblob, dtype=np.uint8)
    # place the item strings into 8 fixed slots per order
    width = int(np.max(np.diff(np.concatenate([[0], iends])))) if ni else 1
    slots = np.zeros((n, 8, width), dtype=np.uint8)
    starts = np.concatenate([[0], iends[:-1]]) if ni else iends
    ln = iends - starts
    row = np.repeat(np.arange(ni), ln)
    col = np.arange(len(istr)) - np.repeat(starts, ln)
    slots[it["order"][row], line[row], col] = istr
    pieces = [b'{"order_id":"ORD-', _zfill(order_no, 8), b'","customer_ref":"', _crm_ref(o["ref"]),
              b'","ordered_at":"', _iso(o["t"], o["style"], o["off"], o["t"] % 997),
              b'","currency":"', np.array([b"EUR"] + [c.encode() for c in FX_CURRENCIES])[o["cur"]],
              b'","status":"', np.array([s.encode() for s in ORDER_STATUS])[o["status"]],
              b'","items":[', slots.reshape(n, 8 * width).view(f"S{8 * width}").ravel(), b"]}\n"]
    return _assemble(pieces, n)


def _web_lines(w: dict, event_key: np.ndarray, session_key: np.ndarray, cat: _Catalogue) -> tuple[bytes, np.ndarray]:
    n = len(w["t"])
    ref = np.where(w["ref"] > 0, np.strings.add(np.strings.add(b'"', _crm_ref(w["ref"])), b'"'), b"null")
    prod = np.where(w["product"] >= 0,
                    np.strings.add(np.strings.add(b'"', cat.ids[np.maximum(w["product"], 0)]), b'"'), b"null")
    pieces = [b'{"event_id":"ev_', _hex16(_mix(event_key, 11)), b'","customer_ref":', ref,
              b',"anonymous_id":"', _uuid(w["anon"], 21), b'","event_type":"',
              np.array([s.encode() for s in WEB_TYPES])[w["type"]], b'","product_id":', prod,
              b',"occurred_at":"', _iso(w["t"], w["style"], w["off"], w["ms"]), b'","platform":"',
              np.array([s.encode() for s in PLATFORMS])[w["platform"]], b'","session_id":"s_',
              _hex16(_mix(session_key, 31)), b'"}\n']
    return _assemble(pieces, n)


def _mail_lines(ev: dict, msgs: dict, event_key: np.ndarray, msg_key: np.ndarray, camp_ids: list[bytes],
                cat: _Catalogue) -> tuple[bytes, np.ndarray]:
    n = len(ev["t"])
    mi = ev["msg"]
    camp = np.array(camp_ids)[msgs["campaign"][mi]]
    prod = ev["product"]
    url = np.where(prod == -2, SHOP_URL.encode() + b"/?utm_source=newsletter&utm_campaign=",
                   np.strings.add(np.strings.add(SHOP_URL.encode() + b"/products/", cat.ids[np.maximum(prod, 0)]),
                                  b"?utm_source=newsletter&utm_campaign="))
    url = np.where(ev["type"] == _M_CLICK,
                   np.strings.add(np.strings.add(np.strings.add(b',"url":"', url), camp), b'"'), b"")
    reason = np.select([ev["type"] == _M_BOUNCE, ev["type"] == _M_DROP],
                       [b',"reason":"550 5.1.1 The email account that you tried to reach does not exist"',
                        b',"reason":"Suppressed address"'], b"")
    msg_id = np.strings.add(_b64id(msg_key[mi], 41), b".filterdrecv-6c9f8b7d5-x2k4p-1-0.0")
    pieces = [b'{"email":"', msgs["email"][mi], b'","timestamp":', _ints(ev["t"]), b',"event":"',
              np.array([s.encode() for s in MAIL_TYPES])[ev["type"]], b'","sg_event_id":"',
              _b64id(event_key, 51), b'","sg_message_id":"', msg_id, b'","campaign_id":"', camp, b'"', url,
              reason, b"}\n"]
    return _assemble(pieces, n)


def _consent_lines(c: dict) -> tuple[bytes, np.ndarray]:
    n = len(c["t"])
    pieces = [c["email"], b",", np.array([s.encode() for s in CONSENT_PURPOSES])[c["purpose"]], b",",
              np.array([s.encode() for s in CONSENT_STATUS])[c["status"]],
              b",", _iso(c["t"], c["style"], c["off"]), b",",
              np.array([s.encode() for s in CONSENT_SOURCES])[c["source"]], b"\n"]
    return _assemble(pieces, n)


def _fx_rates(rng: np.random.Generator, n_days: int) -> np.ndarray:
    """EUR per unit of each of FX_CURRENCIES per day, in 1/10,000 (4 decimals): a log-normal random walk."""
    start = np.array(list(FX_CURRENCIES.values()))[:, None]
    steps = rng.normal(0.0, 0.004, (len(FX_CURRENCIES), n_days))
    steps[:, 0] = 0.0
    return np.round(start * np.exp(np.cumsum(steps, axis=1)) * 10_000).astype(np.int64)


def _fx_lines(day0: int, fx: np.ndarray) -> tuple[bytes, np.ndarray]:
    """``rate_date,currency,eur_per_unit`` rows, by date then currency."""
    k, n_days = fx.shape
    days = np.repeat(np.arange(n_days) + day0, k)
    y, m, d = _civil(days)
    date = np.strings.add(np.strings.add(np.strings.add(np.strings.add(_zfill(y, 4), b"-"), _TWO[m]), b"-"), _TWO[d])
    cur = np.tile(np.array([c.encode() for c in FX_CURRENCIES]), n_days)
    v = fx.T.ravel()
    rate = np.strings.add(np.strings.add(_ints(v // 10_000), b"."), _zfill(v % 10_000, 4))
    return _assemble([date, b",", cur, b",", rate, b"\n"], len(days))


def _split_lines(blob: bytes, ends: np.ndarray, idx: np.ndarray) -> list[bytes]:
    starts = np.concatenate([[0], ends[:-1]])
    return [blob[int(starts[i]):int(ends[i])] for i in idx]


_BAD_TS = ["2025-02-30T10:00:00Z", "31/02/2025 25:61", "not a date", "yesterday", "2025-13-45T10:00:00+01:00", ""]


def _bad_json(rng: np.random.Generator, lines: list[bytes], kinds: list[str], edit) -> list[tuple[bytes, str]]:
    """Corrupt template JSON lines; only runs for the ~0.5% bad rows."""
    out = []
    for line, kind in zip(lines, kinds):
        if kind == "invalid_json":
            cut = int(len(line) * (0.3 + 0.5 * rng.random()))
            out.append((line[:cut].rstrip(b"\n") + b"\n", kind))
            continue
        obj = json.loads(line)
        edit(obj, kind)
        out.append(((json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n").encode(), kind))
    return out


def _templates(rng: np.random.Generator, allowed: np.ndarray, k: int) -> np.ndarray:
    """Indexes of ``k`` good rows (among the allowed ones) that bad rows are copied from."""
    cand = np.flatnonzero(allowed)
    return cand[rng.integers(0, len(cand), k)] if k and len(cand) else np.zeros(0, dtype=np.int64)


def _bad_positions(rng: np.random.Generator, n_good: int, k: int) -> np.ndarray:
    return np.sort(rng.integers(0, n_good + 1, k))


def write_demo_data(landing_dir: Path, customers: int, seed: int, as_of: datetime, truth_dir: Path | None = None,
                    events_per_file: int = 1_000_000) -> DemoDataSummary:
    """Write messy demo landing files for ``customers`` people; see docs/data-contracts.md.

    Same ``(customers, seed, as_of)`` -> byte-identical files. Every timestamp is before ``as_of``.
    Files named ``<source>-NNNN.<ext>`` in the six source folders are replaced.
    """
    if customers < N_PERSONAS:
        raise ValueError(f"customers must be >= {N_PERSONAS} (the fixed personas), got {customers}")
    if as_of.tzinfo is None or as_of.utcoffset() is None:
        raise ValueError(f"as_of must be timezone-aware (UTC), got naive {as_of.isoformat()}")
    if events_per_file < 1:
        raise ValueError(f"events_per_file must be >= 1, got {events_per_file}")
    landing_dir = Path(landing_dir)
    truth_dir = Path(truth_dir) if truth_dir is not None else landing_dir.parent / "demo_truth"
    lr, tr = landing_dir.resolve(), truth_dir.resolve()
    if tr == lr or lr in tr.parents:
        raise ValueError(f"truth_dir {truth_dir} must be outside the landing folder {landing_dir}")
    as_of_s = int(np.floor(as_of.astimezone(timezone.utc).timestamp()))
    landing_dir.mkdir(parents=True, exist_ok=True)
    truth_dir.mkdir(parents=True, exist_ok=True)
    for src, ext in (("crm", "csv"), ("products", "csv"), ("orders", "ndjson"), ("events", "ndjson"),
                     ("email_events", "ndjson"), ("consent", "csv"), ("fx_rates", "csv")):
        for f in (landing_dir / src).glob(f"{src}-[0-9][0-9][0-9][0-9].{ext}"):
            f.unlink()

    n = int(customers)
    n_products = min(5000, max(50, n // 100))
    cat, pcols = _make_catalogue(_rng(seed, _S_PRODUCTS), n_products)
    people, crm, truth = _make_people(_rng(seed, _S_PEOPLE), n, as_of_s)
    campaigns, camp_ids = _campaigns(as_of_s)
    bad_rng = _rng(seed, _S_BAD)

    sinks = {
        "crm": _Sink(landing_dir, "crm", "csv", events_per_file, CRM_HEADER),
        "products": _Sink(landing_dir, "products", "csv", events_per_file, PRODUCTS_HEADER),
        "orders": _Sink(landing_dir, "orders", "ndjson", events_per_file),
        "events": _Sink(landing_dir, "events", "ndjson", events_per_file),
        "email_events": _Sink(landing_dir, "email_events", "ndjson", events_per_file),
        "consent": _Sink(landing_dir, "consent", "csv", events_per_file, CONSENT_HEADER),
        "fx_rates": _Sink(landing_dir, "fx_rates", "csv", events_per_file, FX_HEADER),
    }

    # ---------- exchange rates: one row per day of the window and currency (a random walk)
    fx_day0 = (as_of_s - WINDOW_DAYS * DAY) // DAY
    n_days = (as_of_s - 1) // DAY - fx_day0 + 1
    fx = _fx_rates(_rng(seed, _S_FX), n_days)
    blob, ends = _fx_lines(fx_day0, fx)
    sinks["fx_rates"].write(blob, ends)
    # rate table by currency code (0 = EUR) and day; the rounded rates, exactly as written
    fx_table = np.vstack([np.ones(n_days), fx / 10_000])
    cur_of_country = np.array([1 + list(FX_CURRENCIES).index(_CURRENCY_OF[c]) if c in _CURRENCY_OF else 0
                               for c in _Tables().codes], dtype=np.int64)

    # ---------- products
    names = PRODUCTS_HEADER.split(",")
    pieces: list = []
    for i, k in enumerate(names):
        pieces += ([b","] if i else []) + [pcols[k]]
    blob, ends = _assemble(pieces + [b"\n"], n_products)
    kb = max(1, int(round(BAD_RATE * n_products)))
    tmpl = _split_lines(blob, ends, bad_rng.integers(len(_FIXED_PRODUCTS), n_products, kb))
    bad = []
    for j, line in enumerate(tmpl):
        f = line.rstrip(b"\n").split(b",")
        kind = ["negative_price", "bad_price", "missing_id"][j % 3]
        f[0] = b"" if kind == "missing_id" else b"P" + str(n_products + 1 + j).zfill(4).encode()
        if kind == "negative_price":
            f[4] = b"-" + f[4]
        elif kind == "bad_price":
            f[4] = [b"abc", b"N/A"][(j // 3) % 2]
        bad.append((int(bad_rng.integers(0, n_products + 1)), b",".join(f) + b"\n", kind))
    sinks["products"].write(blob, ends, bad)

    # ---------- CRM (rendered in chunks to bound memory)
    n_crm = len(crm["customer_ref"])
    kb = max(1, int(round(BAD_RATE * n_crm)))
    crm_rng = _rng(seed, _S_CRMBAD)
    tidx = crm_rng.integers(N_PERSONAS + 1, n_crm, kb) if n_crm > N_PERSONAS + 1 else np.full(kb, n_crm - 1)
    blob, ends = _crm_lines(crm, tidx)
    bad = []
    next_ref = n_crm + 1  # refs of the good records end at n_crm
    for j, line in enumerate(_split_lines(blob, ends, np.arange(kb))):
        f = line.rstrip(b"\n").split(b",")
        kind = "missing_id" if j % 2 else "bad_timestamp"
        if kind == "missing_id":
            f[0] = b""
        else:
            f[0] = b"CRM-" + str(next_ref).zfill(6).encode()
            next_ref += 1
            f[9] = _BAD_TS[j % 5].encode()
        bad.append((int(crm_rng.integers(N_PERSONAS + 1, n_crm + 1)), b",".join(f) + b"\n", kind))
    for a in range(0, n_crm, _CRM_CHUNK):
        z = min(n_crm, a + _CRM_CHUNK)
        blob, ends = _crm_lines(crm, slice(a, z))
        last = z == n_crm
        sinks["crm"].write(blob, ends, [(p - a, line, k) for p, line, k in bad if a <= p < z or (last and p == z)])
    del blob, ends, crm

    # ---------- activity, block by block
    counts = {"orders": 0, "order_items": 0}
    order_no = 0
    for b, lo in enumerate(range(0, n, _BLOCK)):
        hi = min(n, lo + _BLOCK)
        rng = _rng(seed, _S_ACTIVITY, b)
        act = _block_activity(rng, people, lo, hi, cat, as_of_s, campaigns)
        if b == 0:
            per = _persona_activity(as_of_s, people, cat, campaigns)
            act = _merge_personas(act, per)
        brng = _rng(seed, _S_BAD, b + 1)
        first = b == 0

        # orders: sort by time, number sequentially
        o, it = act["orders"], act["items"]
        perm = np.argsort(o["t"], kind="stable")
        inv = np.empty_like(perm)
        inv[perm] = np.arange(len(perm))
        o = _take(o, perm)
        it = {**it, "order": inv[it["order"]]}
        it = _take(it, np.argsort(it["order"], kind="stable"))
        # customers in GB pay in GBP and in the US in USD: catalogue EUR prices converted at the day's rate
        o["cur"] = cur_of_country[people.country[o["person"]]]
        day = np.clip(o["t"] // DAY - fx_day0, 0, n_days - 1)
        rate = fx_table[o["cur"], day][it["order"]]
        it["cents"] = np.round(it["cents"] / rate).astype(np.int64)
        nos = order_no + 1 + np.arange(len(o["t"]))
        order_no += len(o["t"])
        blob, ends = _order_lines(o, it, nos, cat)
        allowed = o["ref"] > N_PERSONAS + 1  # never corrupt copies of the personas' rows
        kb = _n_bad(brng, int(allowed.sum()), first)
        kinds = [["invalid_json", "missing_id", "bad_quantity", "negative_price", "bad_timestamp"][i % 5]
                 for i in brng.permutation(kb)]
        tm = _split_lines(blob, ends, _templates(brng, allowed, kb))

        def edit_order(obj, kind, _c=[order_no]):
            if kind != "missing_id":
                _c[0] += 1
                obj["order_id"] = f"ORD-{_c[0]:08d}"
            if kind == "missing_id":
                obj["order_id"] = None
            elif kind == "bad_quantity":
                obj["items"][0]["quantity"] = "abc"
            elif kind == "negative_price":
                obj["items"][0]["unit_price"] = -abs(obj["items"][0]["unit_price"]) or -9.99
            elif kind == "bad_timestamp":
                obj["ordered_at"] = _BAD_TS[_c[0] % 5]

        badl = _bad_json(brng, tm, kinds, edit_order)
        order_no += sum(1 for _, k in badl if k != "missing_id" and k != "invalid_json")
        sinks["orders"].write(blob, ends, list(zip(_bad_positions(brng, len(ends), kb).tolist(),
                                                   [x for x, _ in badl], [k for _, k in badl])))
        counts["orders"] += len(ends)
        counts["order_items"] += len(it["order"])

        # web events
        w = act["web"]
        perm = np.argsort(w["t"], kind="stable")
        w = _take(w, perm)
        nw = len(w["t"])
        ekey = (np.uint64(b) << np.uint64(40)) | np.arange(nw, dtype=np.uint64)
        skey = (np.uint64(b) << np.uint64(40)) | w["session"].astype(np.uint64)
        blob, ends = _web_lines(w, ekey, skey, cat)
        allowed = (w["ref"] == 0) | (w["ref"] > N_PERSONAS + 1)
        kb = _n_bad(brng, int(allowed.sum()), first)
        kinds = [["invalid_json", "missing_id", "unknown_event_type", "bad_timestamp"][i % 4]
                 for i in brng.permutation(kb)]
        tm = _split_lines(blob, ends, _templates(brng, allowed, kb))
        newid = _hex16(_mix((np.uint64(b) << np.uint64(40)) | np.uint64(1 << 39) | np.arange(kb, dtype=np.uint64),
                            11))

        def edit_web(obj, kind, _i=[0]):
            obj["event_id"] = None if kind == "missing_id" else "ev_" + newid[_i[0]].decode()
            _i[0] += 1
            if kind == "unknown_event_type":
                obj["event_type"] = ["wishlist_add", "scroll", "purchase", "Page View"][_i[0] % 4]
            elif kind == "bad_timestamp":
                obj["occurred_at"] = _BAD_TS[_i[0] % 6]

        badl = _bad_json(brng, tm, kinds, edit_web)
        sinks["events"].write(blob, ends, list(zip(_bad_positions(brng, nw, kb).tolist(),
                                                   [x for x, _ in badl], [k for _, k in badl])))
        del blob, ends

        # e-mail events
        ms, ev = act["msgs"], act["mev"]
        perm = np.argsort(ev["t"], kind="stable")
        ev = _take(ev, perm)
        ne = len(ev["t"])
        mkey = (np.uint64(b) << np.uint64(40)) | np.arange(len(ms["t"]), dtype=np.uint64)
        ekey = (np.uint64(b) << np.uint64(40)) | np.arange(ne, dtype=np.uint64)
        blob, ends = _mail_lines(ev, ms, ekey, mkey, camp_ids, cat)
        allowed = ms["person"][ev["msg"]] >= N_PERSONAS
        kb = _n_bad(brng, int(allowed.sum()), first)
        kinds = [["invalid_json", "missing_id", "unknown_event_type", "bad_timestamp"][i % 4]
                 for i in brng.permutation(kb)]
        tm = _split_lines(blob, ends, _templates(brng, allowed, kb))
        newid = _b64id((np.uint64(b) << np.uint64(40)) | np.uint64(1 << 39) | np.arange(kb, dtype=np.uint64), 51)

        def edit_mail(obj, kind, _i=[0]):
            obj["sg_event_id"] = None if kind == "missing_id" else newid[_i[0]].decode()
            _i[0] += 1
            if kind == "unknown_event_type":
                obj["event"] = ["bounced_maybe", "blocked", "Open", "resubscribe"][_i[0] % 4]
            elif kind == "bad_timestamp":
                obj["timestamp"] = ["yesterday", "2025-13-01", None, "17O0000000"][_i[0] % 4]

        badl = _bad_json(brng, tm, kinds, edit_mail)
        sinks["email_events"].write(blob, ends, list(zip(_bad_positions(brng, ne, kb).tolist(),
                                                         [x for x, _ in badl], [k for _, k in badl])))
        del blob, ends

        # consent
        c = act["consent"]
        c = _take(c, np.argsort(c["t"], kind="stable"))
        blob, ends = _consent_lines(c)
        ncs = len(ends)
        allowed = c["person"] >= N_PERSONAS
        kb = _n_bad(brng, int(allowed.sum()), first)
        bad = []
        tm = _split_lines(blob, ends, _templates(brng, allowed, kb))
        for j, line in enumerate(tm):
            f = line.rstrip(b"\n").split(b",")
            kind = ["bad_timestamp", "unknown_status", "missing_id"][(j + b) % 3]
            if kind == "bad_timestamp":
                f[3] = _BAD_TS[j % 5].encode()
            elif kind == "unknown_status":
                f[2] = [b"pending", b"yes", b"opt-in"][j % 3]
            else:
                f[0] = b""
            bad.append((int(brng.integers(0, ncs + 1)), b",".join(f) + b"\n", kind))
        sinks["consent"].write(blob, ends, bad)
        del blob, ends

    for s in sinks.values():
        s.close()

    # ---------- truth
    bad_all = [r for s in sinks.values() for r in s.bad]
    pd.DataFrame({"customer_ref": truth[0].astype(str), "person_id": truth[1].astype(str)}).to_csv(
        truth_dir / "identities.csv", index=False, lineterminator="\n")
    pd.DataFrame({"customer_ref": truth[0].astype(str), "case": truth[2].astype(str)}).to_csv(
        truth_dir / "identity_cases.csv", index=False, lineterminator="\n")
    pr = _PERSONAS + [_ANNA_DUP]
    pd.DataFrame({"customer_ref": [f"CRM-{p[0]:06d}" for p in pr], "persona": [p[1] for p in pr]}).to_csv(
        truth_dir / "personas.csv", index=False, lineterminator="\n")
    pd.DataFrame(bad_all, columns=["source", "file", "line", "kind"]).to_csv(
        truth_dir / "bad_rows.csv", index=False, lineterminator="\n")

    files = sorted(f for s in sinks.values() for f in s.files)
    return DemoDataSummary(
        customers=n, crm_records=sinks["crm"].good, orders=counts["orders"], order_items=counts["order_items"],
        web_events=sinks["events"].good, email_events=sinks["email_events"].good,
        consent_events=sinks["consent"].good, products=sinks["products"].good, bad_rows=len(bad_all),
        files=files)


def _merge_personas(act: dict, per: dict) -> dict:
    """Put the personas' rows in front of block 0's random rows (fixing up the internal indexes)."""
    out = dict(act)
    no = len(per["orders"]["t"])
    out["orders"] = _cat([per["orders"], act["orders"]])
    out["items"] = _cat([per["items"], {**act["items"], "order": act["items"]["order"] + no}])
    pw = dict(per["web"])
    aw = dict(act["web"])
    aw["session"] = aw["session"] + per["n_sessions"]
    out["web"] = _cat([pw, {k: aw[k] for k in pw}])
    pc = per["consent"]
    out["consent"] = _cat([pc, {k: act["consent"][k] for k in pc}])
    nm = len(per["msgs"]["t"])
    out["msgs"] = _cat([per["msgs"], {k: act["msgs"][k] for k in per["msgs"]}])
    out["mev"] = _cat([per["mev"], {**act["mev"], "msg": act["mev"]["msg"] + nm}])
    return out
