"""Reference data of the demo people: countries (spellings, cities, postcodes, time zones, first and last
names), phone formats, placeholder values people type, e-mail domains and currencies."""

from __future__ import annotations

import numpy as np

from tailor.demo.encoding import fold_for_email

# country code -> (weight, [(free-text variant, weight)], [(city, postcode template, tz, tz std offset min)],
#                  first names, last names, phone format id)
# postcode template: '#' random digit, '@' random upper-case letter.
COUNTRIES: dict[str, tuple] = {
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
            "Herrmann", "König", "Walter", "Mayer", "Huber", "Kaiser", "Fuchs", "Peters", "Lang", "Scholz", "Möller"],
           "DE"),
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
            "Boyer", "Lambert", "Bonnet", "François", "Martinez", "Legrand", "Gauthier", "Perrin", "Clément", "Morin"],
           "FR"),
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
            "Baker", "Adams", "Nelson", "Hill", "Ramirez", "Campbell", "Mitchell", "Roberts", "Carter", "Phillips"],
           "US"),
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
            "David", "Johanna", "Maximilian", "Valentina", "Simon", "Theresa", "Fabian", "Magdalena",
            "Jakob", "Verena"],
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
            "Navarro", "Torres", "Domínguez", "Vázquez", "Ramos", "Gil", "Ramírez", "Serrano", "Blanco", "Molina"],
           "ES"),
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
    formats, time zones and offsets) and phone formats."""

    def __init__(self) -> None:
        enc = lambda xs: np.array([x.encode() for x in xs])  # noqa: E731
        self.codes = COUNTRY_CODES
        self.weights = [COUNTRIES[c][0] for c in self.codes]
        fn, ln, vn, vw, cn, ct, cz, co, ph = [], [], [], [], [], [], [], [], []
        self.first_start, self.first_count, self.last_start, self.last_count = [], [], [], []
        self.variant_start, self.variant_count, self.city_start, self.city_count = [], [], [], []
        self.phone_start, self.phone_count = [], []
        for code in self.codes:
            _, variants, cities, firsts, lasts, phone = COUNTRIES[code]
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
        self.variant_w = vw
        self.first, self.first_up, self.first_lo = enc(fn), enc([x.upper() for x in fn]), enc([x.lower() for x in fn])
        self.first_fold = enc([fold_for_email(x) for x in fn])
        self.last, self.last_up = enc(ln), enc([x.upper() for x in ln])
        self.last_fold = enc([fold_for_email(x) for x in ln])
        self.variant, self.city, self.postcode_format, self.tz = enc(vn), enc(cn), enc(ct), enc(cz)
        self.tz_off = np.array(co, dtype=np.int64)
        self.phone_format = enc(ph)
        for k in ("first_start", "first_count", "last_start", "last_count", "variant_start", "variant_count",
                  "city_start", "city_count", "phone_start", "phone_count"):
            setattr(self, k, np.array(getattr(self, k), dtype=np.int64))
