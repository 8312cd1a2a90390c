"""Street vocabularies of the demo's countries: how each country names its streets, writes the house number,
abbreviates the street type and fills the second address line; and the other names big cities go by.

A street is a *stem* and a *type*, joined the way the language does it:

* ``glue``: the type is a suffix ("Haupt" + "straße" = "Hauptstraße", "Kerk" + "straat"); a stem ending in "-"
  takes the type capitalised ("Friedrich-Ebert-" + "Straße"), one ending in "_" (an adjective) takes it as a
  capitalised word ("Frankfurter_" -> "Frankfurter Straße").
* ``after``: the type follows as a word ("High" + "Street", "Main" + "Avenue").
* ``before``: the type comes first ("rue" + "de la Paix", "Calle" + "Mayor", "Via" + "Roma", "ul." + "Długa").

Every type has its written forms: the first is the full word, the others the abbreviations people and systems
use ("Straße" -> "Str.", "Street" -> "St", "avenue" -> "av.", "Calle" -> "C/", "ul." -> "" or "ulica").
``NUMBER_FIRST`` countries write the house number before the street ("12 High Street", "5 rue de la Paix").
Nothing here contains a comma or a double quote: the demo CSV is written unquoted.
"""

from __future__ import annotations

# country -> (stems, [(join, weight, [full form, abbreviations...])])
STREETS: dict[str, tuple[str, list[tuple[str, float, list[str]]]]] = {
    "DE": ("""Haupt, Bahnhof, Schul, Kirch, Garten, Berg, Linden, Birken, Goethe, Schiller, Mozart, Rosen, Wald,
           Wiesen, Mühlen, Markt, Post, Dorf, Feld, Sonnen, Ahorn, Buchen, Eichen, Tannen, Brunnen, Burg, Schloss,
           Park, See, Bach, Rathaus, Kloster, Bismarck, Lessing, Heine, Uhland, Beethoven, Kant, Hölderlin, Blumen,
           Friedrich-Ebert-, Konrad-Adenauer-, Karl-Marx-, Schönhauser_, Frankfurter_, Hamburger_, Kastanien,
           Flieder, Gartenfeld, Hafen, Industrie, Mittel, Ost, West, Süd, Nord, Feldberg, Sonnenberg, Wilhelm-Busch-""",
           [("glue", 0.58, ["straße", "str.", "Str."]), ("glue", 0.15, ["weg"]), ("glue", 0.06, ["allee"]),
            ("glue", 0.05, ["platz", "pl."]), ("glue", 0.06, ["ring"]), ("glue", 0.04, ["gasse"]),
            ("glue", 0.03, ["damm"]), ("glue", 0.03, ["ufer"])]),
    "AT": ("""Haupt, Bahnhof, Schul, Kirchen, Garten, Berg, Linden, Mozart, Rosen, Wald, Wiesen, Mühl, Markt, Post,
           Dorf, Feld, Sonnen, Ahorn, Brunnen, Burg, Schloss, Park, Bach, Rathaus, Kloster, Mariahilfer_,
           Favoritner_, Landstraßer_, Währinger_, Herren, Stephans, Augarten, Prater, Donau, Alser_, Josefstädter_,
           Lerchenfelder_, Schönbrunner_, Graben, Kärntner_, Wiedner_, Wipplinger, Heiligenstädter_, Grinzinger_,
           Leopold, Kaiser""",
           [("glue", 0.45, ["straße", "str.", "Str."]), ("glue", 0.25, ["gasse", "g."]), ("glue", 0.1, ["weg"]),
            ("glue", 0.08, ["platz", "pl."]), ("glue", 0.07, ["ring"]), ("glue", 0.05, ["zeile"])]),
    "CH": ("""Bahnhof, Dorf, Kirch, Haupt, Schul, See, Berg, Garten, Linden, Rosen, Wald, Wiesen, Mühle, Markt, Post,
           Feld, Sonnen, Brunnen, Burg, Schloss, Park, Bach, Rathaus, Limmat, Aare, Rhein, Zürich, Bern, Basel,
           Gotthard, Rigi, Pilatus, Säntis, Jura, Weinberg, Obstgarten, Tannen, Birken, Eichen, Zelg""",
           [("glue", 0.55, ["strasse", "str.", "Str."]), ("glue", 0.2, ["weg"]), ("glue", 0.1, ["gasse"]),
            ("glue", 0.08, ["platz", "pl."]), ("glue", 0.07, ["rain"])]),
    "NL": ("""Kerk, Dorps, School, Molen, Stations, Markt, Wilhelmina, Juliana, Beatrix, Oranje, Eiken, Beuken,
           Linden, Rozen, Tulpen, Noord, Zuid, Oost, West, Heren, Keizers, Prinsen, Hoog, Brink, Haven, Bos, Veld,
           Akker, Dijk, Water, Kanaal, Parallel, Prins Hendrik, Koningin Emma, Spoor, Wagen, Vaart, Burgemeester
           de Wit, Rembrandt, Vondel""",
           [("glue", 0.45, ["straat", "str.", "str"]), ("glue", 0.15, ["weg"]), ("glue", 0.15, ["laan", "ln"]),
            ("glue", 0.05, ["plein", "pln"]), ("glue", 0.05, ["singel"]), ("glue", 0.05, ["gracht", "gr."]),
            ("glue", 0.05, ["kade"]), ("glue", 0.05, ["hof"])]),
    "GB": ("""High, Church, Station, Mill, Park, Victoria, King's, Queen's, Albert, Manor, School, London, York,
           Green, Grange, Chapel, North, South, West, New, Main, Bridge, Springfield, Windsor, Highfield, Orchard,
           Meadow, Elm, Oak, Beech, Willow, Cedar, Richmond, Stanley, Grosvenor, Alexandra, Princess,
           Market, Castle, Hill, Farm, Broad, Long, Spring, Baker, Kensington, Abbey, Rectory""",
           [("after", 0.32, ["Street", "St", "St."]), ("after", 0.25, ["Road", "Rd", "Rd."]),
            ("after", 0.1, ["Lane", "Ln"]), ("after", 0.08, ["Avenue", "Ave", "Av."]), ("after", 0.06, ["Close", "Cl"]),
            ("after", 0.05, ["Drive", "Dr"]), ("after", 0.04, ["Gardens", "Gdns"]),
            ("after", 0.03, ["Crescent", "Cres"]), ("after", 0.03, ["Place", "Pl"]),
            ("after", 0.02, ["Terrace", "Terr", "Ter"]), ("after", 0.02, ["Court", "Ct"])]),
    "US": ("""Main, Oak, Maple, Pine, Cedar, Elm, Washington, Lake, Hill, Park, Lincoln, Jefferson, Madison,
           Franklin, Sunset, Highland, Walnut, Church, Spring, Ridge, Center, Chestnut, Mill, Jackson, River, Forest,
           Adams, Willow, Meadow, Cherry, Sycamore, Dogwood, Hickory, Lakeview, Market, Union, Grand,
           N Main, S Main, E Washington, W Jefferson, 1st, 2nd, 3rd, 5th, 42nd, Pleasant, Prospect, Liberty""",
           [("after", 0.38, ["Street", "St", "St."]), ("after", 0.22, ["Avenue", "Ave", "Av."]),
            ("after", 0.1, ["Road", "Rd"]), ("after", 0.08, ["Drive", "Dr"]), ("after", 0.06, ["Lane", "Ln"]),
            ("after", 0.05, ["Boulevard", "Blvd"]), ("after", 0.04, ["Court", "Ct"]),
            ("after", 0.03, ["Place", "Pl"]), ("after", 0.02, ["Parkway", "Pkwy"]),
            ("after", 0.02, ["Circle", "Cir"])]),
    "FR": ("""de la Paix, Victor Hugo, de la République, Jean Jaurès, du Général de Gaulle, Pasteur, de la Gare,
           des Écoles, du Moulin, de l'Église, Voltaire, Gambetta, de Verdun, des Lilas, du Château, Émile Zola,
           Saint-Michel, de la Liberté, Nationale, du Commerce, des Fleurs, de Paris, Carnot, Jules Ferry, Foch,
           de la Mairie, des Roses, du Stade, de Bretagne, de la Fontaine, Molière, des Tilleuls, du Marché,
           Anatole France, Louis Pasteur, de Strasbourg, des Acacias, des Martyrs, Lafayette, de Provence""",
           [("before", 0.55, ["rue", "r."]), ("before", 0.15, ["avenue", "av.", "ave"]),
            ("before", 0.08, ["boulevard", "bd", "bld"]), ("before", 0.05, ["place", "pl."]),
            ("before", 0.07, ["chemin", "ch.", "chem."]), ("before", 0.05, ["impasse", "imp."]),
            ("before", 0.05, ["allée", "all."])]),
    "ES": ("""Mayor, Real, de Alcalá, del Sol, de la Constitución, de España, San Juan, Nueva, de la Iglesia,
           del Carmen, Santa María, de Cervantes, de Goya, de Velázquez, del Prado, de Andalucía, de Castilla,
           de la Paz, Colón, de los Reyes Católicos, de Valencia, San Francisco, de la Libertad, del Mar,
           de la Estación, del Río, Doctor Fleming, Blasco Ibáñez, de Gracia, de Aragón, Serrano, de Toledo""",
           [("before", 0.6, ["Calle", "C/", "c/", "Cl."]), ("before", 0.15, ["Avenida", "Avda.", "Av."]),
            ("before", 0.1, ["Plaza", "Pza.", "Pl."]), ("before", 0.08, ["Paseo", "Pº", "P.º"]),
            ("before", 0.04, ["Camino", "Cno."]), ("before", 0.03, ["Ronda", "Rda."])]),
    "IT": ("""Roma, Garibaldi, Giuseppe Mazzini, Cavour, Dante Alighieri, Vittorio Emanuele II, XX Settembre,
           Marconi, Giacomo Matteotti, Verdi, della Repubblica, Nazionale, dei Mille, Manzoni, San Francesco,
           Umberto I, IV Novembre, della Libertà, Milano, Torino, Firenze, Venezia, Trieste, Trento, Leopardi,
           Carducci, Colombo, Galileo Galilei, Santa Maria, Aldo Moro, Gramsci, Pascoli, Puccini, Cesare Battisti,
           della Vittoria""",
           [("before", 0.62, ["Via", "V."]), ("before", 0.12, ["Viale", "V.le"]),
            ("before", 0.1, ["Piazza", "P.zza", "P.za"]), ("before", 0.08, ["Corso", "C.so"]),
            ("before", 0.04, ["Largo", "L.go"]), ("before", 0.04, ["Vicolo", "Vic."])]),
    "PL": ("""Długa, Krótka, Polna, Leśna, Słoneczna, Kościuszki, Mickiewicza, Sienkiewicza, Słowackiego,
           Piłsudskiego, Kopernika, Jana Pawła II, 3 Maja, Ogrodowa, Lipowa, Kwiatowa, Szkolna, Kościelna,
           Parkowa, Zielona, Wiejska, Nowa, Łąkowa, Brzozowa, Świerkowa, Akacjowa, Reymonta, Chopina, Żeromskiego,
           Konopnickiej, Marszałkowska, Grunwaldzka, Warszawska, Krakowska, Wolności, Niepodległości,
           Armii Krajowej, Piękna, Nowy Świat""",
           [("before", 0.82, ["ul.", "", "ulica", "Ul."]), ("before", 0.1, ["al.", "aleja", "Al."]),
            ("before", 0.05, ["pl.", "plac"]), ("before", 0.03, ["os.", "osiedle"])]),
}

NUMBER_FIRST = {"GB", "US", "FR"}

# country -> (share of people with a second address line, [(template, weight)]); '#' a digit 1-9, '@' a letter
ADDRESS_LINE2: dict[str, tuple[float, list[tuple[str, float]]]] = {
    "DE": (0.08, [("#. OG", 4), ("#. Etage", 2), ("Hinterhaus", 1), ("Whg. #", 1), ("EG links", 1),
                  ("#. OG rechts", 1)]),
    "AT": (0.3, [("Top #", 5), ("Stiege # Top ##", 2), ("Tür #", 1), ("#. Stock", 1)]),
    "CH": (0.05, [("#. Stock", 3), ("Wohnung #", 1)]),
    "NL": (0.03, [("#e verdieping", 1)]),
    "GB": (0.15, [("Flat #", 5), ("Flat ##", 2), ("Flat #@", 1), ("Apartment ##", 1), ("Unit #", 1)]),
    "US": (0.15, [("Apt #@", 4), ("Apt ##", 3), ("Apt ###", 1), ("Suite ###", 1), ("Unit #", 1)]),
    "FR": (0.12, [("Appartement ##", 3), ("Bâtiment @", 2), ("Escalier #", 1), ("Bât. @ Appt ##", 1)]),
    "ES": (0.4, [("#º @", 5), ("#º Izq.", 2), ("#º Dcha.", 2), ("Bajo", 1), ("Ático", 1)]),
    "IT": (0.15, [("Scala @", 2), ("Interno #", 2), ("Piano #", 1), ("Scala @ Interno ##", 1)]),
    "PL": (0.4, [("m. #", 4), ("m. ##", 3), ("lok. #", 1), ("m. ###", 1)]),
}

# country -> (house number: 1 + geometric(p), capped; suffixes appended to some numbers, their share)
HOUSE_NUMBERS: dict[str, tuple[float, int, list[str], float]] = {
    "DE": (0.05, 250, ["a", "b", "c"], 0.06), "AT": (0.06, 200, ["a", "b"], 0.05),
    "CH": (0.06, 200, ["a", "b"], 0.05), "NL": (0.04, 300, ["-A", "-B", "-1", "-2", " hs"], 0.1),
    "GB": (0.03, 400, ["A", "B"], 0.03), "US": (0.002, 9999, ["A"], 0.01), "FR": (0.05, 250, [" bis", " ter"], 0.05),
    "ES": (0.04, 250, [], 0.0), "IT": (0.05, 250, ["/A", "/B"], 0.03), "PL": (0.05, 250, ["A", "a", "B"], 0.05),
}

# city (as the reference tables spell it) -> other names it is written with (exonyms, local short forms)
CITY_ALIASES: dict[str, list[str]] = {
    "München": ["Munich", "Muenchen"], "Köln": ["Cologne", "Koeln"],
    "Frankfurt am Main": ["Frankfurt", "Frankfurt a.M."],
    "Wien": ["Vienna"], "Zürich": ["Zurich", "Zuerich"], "Genève": ["Geneva", "Genf"], "Bern": ["Berne"],
    "Basel": ["Bâle"], "Warszawa": ["Warsaw"], "Kraków": ["Krakow", "Cracow"], "Wrocław": ["Wroclaw"],
    "Gdańsk": ["Gdansk"], "Milano": ["Milan"], "Roma": ["Rome"], "Torino": ["Turin"], "Napoli": ["Naples"],
    "Sevilla": ["Seville"], "New York": ["NYC", "New York City"], "Los Angeles": ["LA"], "Den Haag": ["The Hague"],
    "Brooklyn": ["Brooklyn NY"], "Edinburgh": ["Edinburgh City"],
}

PLACEHOLDER_BIRTH_DATE = (1900, 1, 1)  # typed when a form insisted on a birth date
