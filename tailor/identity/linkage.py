"""Probabilistic record linkage with Splink (Fellegi-Sunter, DuckDB engine): the settings, training a model once,
scoring candidate pairs with a stored model, the evidence of each pair and the vetoes of our guards.

The model is an artefact (:class:`IdentityModel`): Splink's settings JSON with the trained m/u probabilities and
the prior, plus ``meta`` (Splink version, records trained on, the prior, the fields, when). It is trained by the
explicit asset ``identity_model`` and stored in the warehouse (:mod:`tailor.identity.model_store`); scoring never
trains. docs/identity.md explains the settings and how to read a pair's evidence.

Splink is imported only inside the functions (about a second of imports, plus altair and igraph): the Dagster code
location loads without it. Splink gets its own in-memory DuckDB connection with the records (never the warehouse
file: one writer per file).

What Splink sees (:func:`linkage_records`) is the matching view ``crm_normalized`` with the input guards applied:
placeholder e-mails/phones and keys shared by too many records or first names are NULL (no evidence either way),
exactly as the exact-key rules of :mod:`tailor.identity.resolve` treat them. Columns another module adds later
(``street_key``, ``house_number_key``, ``birth_date``, ``first_canon``) are read as all-NULL while absent.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

#: The Splink major version the settings are written for; a model of another major is retrained, not loaded.
SPLINK_MAJOR = 4

#: Optional comparisons and the columns of crm_normalized they read: each takes part in a model when at least
#: ``TrainingSettings.min_field_share`` of the records carry it (so a CRM without birth dates trains without them).
OPTIONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email_norm",),
    "phone": ("phone_e164",),
    "street": ("street_key",),
    "birth_date": ("birth_date",),
}

#: Columns of crm_normalized this module reads; a missing one is read as all-NULL (columns being added).
NORMALIZED_COLUMNS = ("customer_ref", "email_norm", "email_placeholder", "phone_e164", "country_iso", "first_key",
                      "first_canon", "last_key", "postcode_key", "city_key", "street_key", "house_number_key",
                      "birth_date")


@dataclass(frozen=True)
class TrainingSettings:
    """The numbers of training (docs/identity.md, "The model")."""

    sample: int = 200_000  # train on a random sample of at most this many records, score all of them
    min_records: int = 1_000  # fewer records: no model is trained (too few duplicates to estimate m from)
    min_field_share: float = 0.05  # an optional field takes part when at least this share of records has it
    u_max_pairs: float = 1e6  # random pairs for the u probabilities (Splink's default; 2e6 costs twice the time)
    prior_recall: float = 0.6  # assumed recall of the deterministic rules that estimate the prior (lambda)
    seed: int = 1
    # A level no pair of the EM sessions showed (no nickname, swap or initial in the CRM yet) cannot be
    # estimated: "bound" gives it m = min(u, 1 / pairs seen), listed in the model's meta and the UI; "fail" refuses.
    unseen_levels: str = "bound"


TRAINING = TrainingSettings()

#: Blocking on names alone (or names and the city) finds duplicates with a wrong or missing postcode, but a common
#: name makes such a block quadratic (36 M pairs of same-named records at a million demo customers) while its
#: pairs carry little evidence (a common name alone is no proof): those blocks are used only for names shared by at
#: most this many records. Every other rule (postcode, e-mail, phone, street, birth date) still pairs them.
MAX_NAME_BLOCK = 10

#: Guards on the input (the same numbers as resolve.Thresholds): a key on more records, or used by more distinct
#: first names, is no person's key.
MAX_RECORDS_PER_KEY = 20
MAX_FIRST_NAMES_PER_KEY = 3


class ModelTrainingError(RuntimeError):
    """Training did not estimate every level: Splink would silently score those with its defaults."""


class TooFewRecords(ValueError):
    """Too few records to train a model on (``TrainingSettings.min_records``)."""


@dataclass
class IdentityModel:
    """A trained model: ``settings`` is Splink's model JSON (comparisons with m/u, blocking rules, prior),
    ``meta`` what it was trained on (``splink_version``, ``records``, ``population``, ``prior``, ``fields``,
    ``trained_at``, ``fingerprint``, ...). ``version`` is given when it is stored."""

    settings: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    version: int | None = None

    @property
    def label(self) -> str:
        """The version as links show it: ``v3`` (``unsaved`` before it is stored)."""
        return f"v{self.version}" if self.version is not None else "unsaved"


# ----------------------------------------------------------------------------------------------- the input


def usable_key(key: pd.Series, first: pd.Series, max_records: int = MAX_RECORDS_PER_KEY,
               max_first_names: int = MAX_FIRST_NAMES_PER_KEY) -> pd.Series:
    """The key where it identifies at most a few people (by count and by distinct first names), else None."""
    frame = pd.DataFrame({"k": key, "f": first})
    present = frame["k"].notna()
    g = frame[present].groupby("k")
    records = g["k"].transform("size")
    names = g["f"].transform("nunique")
    ok = (records <= max_records) & (names <= max_first_names)
    out = pd.Series(None, index=key.index, dtype=object)
    out.loc[ok[ok].index] = frame.loc[ok[ok].index, "k"]
    return out


def _column(normalized: pd.DataFrame, name: str) -> pd.Series:
    if name in normalized.columns:
        col = normalized[name]
        return col.astype(object).where(col.notna(), None)
    return pd.Series(None, index=normalized.index, dtype=object)


def linkage_records(normalized: pd.DataFrame, max_records_per_key: int = MAX_RECORDS_PER_KEY,
                    max_first_names_per_key: int = MAX_FIRST_NAMES_PER_KEY) -> pd.DataFrame:
    """What Splink compares: one row per record (``unique_id`` = customer_ref), keys only, guards applied."""
    first = _column(normalized, "first_key")
    placeholder = _column(normalized, "email_placeholder").map(lambda v: bool(v) if v is not None else False)
    email = _column(normalized, "email_norm").where(~placeholder, None)
    canon = _column(normalized, "first_canon")
    last = _column(normalized, "last_key")
    city = _column(normalized, "city_key")
    out = pd.DataFrame({
        "unique_id": normalized["customer_ref"].astype(str).to_numpy(),
        "first_key": first.to_numpy(),
        "first_canon": canon.where(canon.notna(), first).to_numpy(),  # no nickname key yet: the name itself
        "first_sound": _spelling_column(first).to_numpy(),
        "last_key": last.to_numpy(),
        "last_sound": _spelling_column(last).to_numpy(),
        "postcode_key": _column(normalized, "postcode_key").to_numpy(),
        "city_key": _column(normalized, "city_key").to_numpy(),
        "email_key": usable_key(email, first, max_records_per_key, max_first_names_per_key).to_numpy(),
        "phone_key": usable_key(_column(normalized, "phone_e164"), first, max_records_per_key,
                                max_first_names_per_key).to_numpy(),
        "street_key": _column(normalized, "street_key").to_numpy(),
        "house_number": _column(normalized, "house_number_key").to_numpy(),
        "dob": _column(normalized, "birth_date").to_numpy(),
    })
    # the rare-name blocks (MAX_NAME_BLOCK): names, or the city with a name and the other name's initial
    out["name_block"] = _small_blocks(first.str.cat(last, sep="|"))
    out["city_first_block"] = _small_blocks(city.str.cat([first, last.str[:1]], sep="|"))
    out["city_last_block"] = _small_blocks(city.str.cat([last, first.str[:1]], sep="|"))
    return out


def _small_blocks(key: pd.Series, max_size: int | None = None) -> np.ndarray:
    """``key`` where at most ``max_size`` (MAX_NAME_BLOCK) records share it, else None."""
    max_size = MAX_NAME_BLOCK if max_size is None else max_size
    size = key.map(key.value_counts())
    return key.where(key.notna() & (size <= max_size), None).astype(object).to_numpy()


# Spellings of one sound, folded (first the longer ones): c/k, ph/f, z/s, y/i, ie/i, th/t, dt/t, ck/k, w/v, qu/kw,
# x/ks, doubled letters; and the letter shapes OCR confuses (rn/m, cl/d, vv/w). Vowels stay: Lena/Leon,
# Anna/Hannah, Oliver/Olivia keep different keys (a phonetic code such as Soundex or Metaphone makes them one, and
# would merge twins).
_SOUNDS = (("rn", "m"), ("cl", "d"), ("vv", "w"), ("sch", "s"), ("ph", "f"), ("th", "t"), ("dt", "t"), ("ck", "k"),
           ("qu", "kw"), ("ie", "i"), ("x", "ks"), ("c", "k"), ("z", "s"), ("y", "i"), ("w", "v"))


def spelling_key(name: str | None) -> str | None:
    """The name key with spellings of one sound folded: ``phederica`` and ``federica``, ``pytro`` and ``pietro``,
    ``ztephanie`` and ``stephanie`` share one; ``lena`` and ``leon`` do not."""
    if not isinstance(name, str) or not name:
        return None
    for written, sound in _SOUNDS:
        name = name.replace(written, sound)
    out = []
    for ch in name:
        if not out or out[-1] != ch:
            out.append(ch)
    return "".join(out)


def _spelling_column(keys: pd.Series) -> pd.Series:
    distinct = {k: spelling_key(k) for k in keys.dropna().unique()}
    return keys.map(distinct).astype(object).where(keys.notna(), None)


_RECORD_COLUMNS_BY_FIELD = {"email": "email_key", "phone": "phone_key", "street": "street_key", "birth_date": "dob"}


def fields_present(records: pd.DataFrame, min_share: float = TRAINING.min_field_share) -> tuple[str, ...]:
    """The optional comparisons the records carry enough values for (``email``, ``phone``, ``street``,
    ``birth_date``), in that order."""
    n = max(len(records), 1)
    return tuple(f for f, col in _RECORD_COLUMNS_BY_FIELD.items() if records[col].notna().sum() / n >= min_share)


# -------------------------------------------------------------------------------------------- the settings

SWAPPED = ("jaro_winkler_similarity(first_key_l, last_key_r) >= 0.88 AND "
           "jaro_winkler_similarity(last_key_l, first_key_r) >= 0.88")

# The levels' labels, as the evidence and the weights table show them (the vetoes refer to them too).
FIRST_DIFFERENT = ("alike (Jaro-Winkler >= 0.8)", "different")
FIRST_SAME = ("exact", "nickname")
DOB_DIFFERENT = "different"


def _level(lv, label: str):
    return lv.configure(label_for_charts=label)


def splink_settings(fields: tuple[str, ...] = ()):
    """The Splink settings (a ``SettingsCreator``) for the names, the location and the optional ``fields``.

    Levels, from the strongest: see docs/identity.md "The model". Postcode and city are ONE comparison (the city
    follows from the postcode; two comparisons would count the same evidence twice); a name swap is counted once,
    in first_name (fixed neutral in last_name); no fuzzy level on e-mail addresses (local parts are made of the
    names: a fuzzy level re-counts the name evidence)."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl
    from splink import SettingsCreator, block_on

    first_name = cl.CustomComparison(output_column_name="first_name", comparison_description="first name",
                                     comparison_levels=[
        cll.NullLevel("first_key"),
        _level(cll.ExactMatchLevel("first_key", term_frequency_adjustments=True), "exact"),
        cll.CustomLevel("first_canon_l = first_canon_r", "nickname"),
        _level(cll.JaroWinklerLevel("first_key", 0.92), "similar (Jaro-Winkler >= 0.92)"),
        cll.CustomLevel("first_sound_l = first_sound_r", "same sound or shape, other spelling (ph/f, c/k, rn/m ...)"),
        cll.CustomLevel(SWAPPED, "first and last name swapped"),
        # one typing error; two are not a typo of a name but another name (Lena/Leon, Anna/Hannah): vetoed below
        _level(cll.DamerauLevenshteinLevel("first_key", 1), "one edit"),
        cll.CustomLevel("(length(first_key_l) = 1 OR length(first_key_r) = 1) "
                        "AND substr(first_key_l, 1, 1) = substr(first_key_r, 1, 1)", "initial only"),
        _level(cll.JaroWinklerLevel("first_key", 0.8), FIRST_DIFFERENT[0]),
        _level(cll.ElseLevel(), FIRST_DIFFERENT[1]),
    ])
    last_name = cl.CustomComparison(output_column_name="last_name", comparison_description="last name",
                                    comparison_levels=[
        cll.NullLevel("last_key"),
        _level(cll.ExactMatchLevel("last_key", term_frequency_adjustments=True), "exact"),
        _level(cll.JaroWinklerLevel("last_key", 0.92), "similar (Jaro-Winkler >= 0.92)"),
        cll.CustomLevel("last_sound_l = last_sound_r", "same sound or shape, other spelling (ph/f, c/k, rn/m ...)"),
        # the swap is counted once, in first_name: neutral here (m = u fixed), else it would count twice
        cll.CustomLevel(SWAPPED, "first and last name swapped (counted in first_name)").configure(
            m_probability=0.01, u_probability=0.01, fix_m_probability=True, fix_u_probability=True),
        _level(cll.DamerauLevenshteinLevel("last_key", 2), "two edits"),
        _level(cll.ElseLevel(), "different"),
    ])
    location = cl.CustomComparison(output_column_name="location", comparison_description="postcode and city",
                                   comparison_levels=[
        cll.CustomLevel("(postcode_key_l IS NULL OR postcode_key_r IS NULL) AND "
                        "(city_key_l IS NULL OR city_key_r IS NULL)", "missing").configure(is_null_level=True),
        _level(cll.ExactMatchLevel("postcode_key", term_frequency_adjustments=True), "same postcode"),
        cll.CustomLevel("damerau_levenshtein(postcode_key_l, postcode_key_r) <= 1 AND city_key_l = city_key_r",
                        "postcode one character off, same city"),
        _level(cll.ExactMatchLevel("city_key", term_frequency_adjustments=True), "same city"),
        cll.CustomLevel("damerau_levenshtein(postcode_key_l, postcode_key_r) <= 1", "postcode one character off"),
        cll.CustomLevel("jaro_winkler_similarity(city_key_l, city_key_r) >= 0.88", "city misspelt"),
        _level(cll.ElseLevel(), "different"),
    ])
    comparisons = [first_name, last_name, location]
    rules = [
        block_on("postcode_key", "substr(first_key, 1, 1)"),
        block_on("postcode_key", "substr(last_key, 1, 1)"),
        block_on("name_block"),  # postcode wrong or missing: the names (rare ones, MAX_NAME_BLOCK)
        "l.first_key = r.last_key AND l.last_key = r.first_key",  # swapped names anywhere
        block_on("city_first_block"),  # postcode wrong, last name typo: city, first name, last initial
        block_on("city_last_block"),  # postcode wrong, first name typo: city, last name, first initial
    ]
    if "email" in fields:
        comparisons.append(cl.CustomComparison(output_column_name="email", comparison_description="e-mail",
                                               comparison_levels=[
            cll.NullLevel("email_key"),
            _level(cll.ExactMatchLevel("email_key"), "exact"),
            # same provider, one letter typed wrong, the same digits and separators: a typo, not a namesake's
            # address (anna.weber@ / anna_weber@ / annaweber1@ are other people's; a@ / b@ too short to tell)
            cll.CustomLevel("split_part(email_key_l, '@', 2) = split_part(email_key_r, '@', 2) AND "
                            "length(split_part(email_key_l, '@', 1)) >= 4 AND "
                            "damerau_levenshtein(email_key_l, email_key_r) = 1 AND "
                            "regexp_replace(email_key_l, '[a-z]', '', 'g') = "
                            "regexp_replace(email_key_r, '[a-z]', '', 'g')", "typo (one letter, same provider)"),
            _level(cll.ElseLevel(), "different"),
        ]))
        rules.append(block_on("email_key"))
    if "phone" in fields:
        comparisons.append(cl.CustomComparison(output_column_name="phone", comparison_description="phone",
                                               comparison_levels=[
            cll.NullLevel("phone_key"),
            _level(cll.ExactMatchLevel("phone_key"), "exact"),
            _level(cll.ElseLevel(), "different"),
        ]))
        rules.append(block_on("phone_key"))
    if "street" in fields:
        comparisons.append(cl.CustomComparison(output_column_name="street",
                                               comparison_description="street and house number",
                                               comparison_levels=[
            cll.NullLevel("street_key"),
            cll.CustomLevel("street_key_l = street_key_r AND house_number_l = house_number_r",
                            "same street and number"),
            cll.CustomLevel("street_key_l = street_key_r AND (house_number_l IS NULL OR house_number_r IS NULL)",
                            "same street, a number missing"),
            cll.CustomLevel("jaro_winkler_similarity(street_key_l, street_key_r) >= 0.9 AND "
                            "house_number_l = house_number_r", "street misspelt, same number"),
            cll.CustomLevel("street_key_l = street_key_r", "same street, other number"),
            _level(cll.ElseLevel(), "different"),
        ]))
        rules.append(block_on("street_key", "house_number", "substr(postcode_key, 1, 2)"))
    if "birth_date" in fields:
        comparisons.append(cl.CustomComparison(output_column_name="birth_date", comparison_description="date of birth",
                                               comparison_levels=[
            cll.NullLevel("dob"),
            _level(cll.ExactMatchLevel("dob"), "exact"),
            cll.CustomLevel("substr(dob_l, 1, 4) = substr(dob_r, 1, 4) AND substr(dob_l, 6, 2) = substr(dob_r, 9, 2)"
                            " AND substr(dob_l, 9, 2) = substr(dob_r, 6, 2)", "day and month swapped"),
            _level(cll.DamerauLevenshteinLevel("dob", 1), "one digit off"),
            cll.CustomLevel("substr(dob_l, 6, 5) = substr(dob_r, 6, 5)", "same day and month, other year"),
            _level(cll.ElseLevel(), DOB_DIFFERENT),
        ]))
        rules += [block_on("dob", "substr(first_key, 1, 1)"), block_on("dob", "substr(last_key, 1, 1)")]
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="unique_id",
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,  # bf_* and bf_tf_adj_*: the evidence of each pair
        additional_columns_to_retain=["first_canon", "first_sound", "last_sound"],
    )


def settings_fingerprint(settings: dict[str, Any]) -> str:
    """A hash of what the settings compare and block on, without the trained values: two models with the same
    fingerprint score the same kind of evidence."""
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in sorted(value.items())
                    if k not in ("m_probability", "u_probability", "probability_two_random_records_match",
                                 "tf_minimum_u_value")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    keep = {k: settings.get(k) for k in ("comparisons", "blocking_rules_to_generate_predictions", "link_type")}
    return hashlib.sha256(json.dumps(strip(keep), sort_keys=True).encode()).hexdigest()[:16]


def current_fingerprint(fields: tuple[str, ...]) -> str:
    """The fingerprint of today's settings for ``fields`` (compared with a stored model's: changed code)."""
    return settings_fingerprint(splink_settings(fields).get_settings("duckdb").as_dict())


# ----------------------------------------------------------------------------------------------- DuckDB


#: Splink's DuckDB: what it may hold in memory before it spills to a temporary directory (with the pandas frames of
#: a million records next to it, the process stays under 4 GB).
SPLINK_MEMORY_LIMIT = "1500MB"


def _connect(records: pd.DataFrame, memory_limit: str = SPLINK_MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """Splink's own in-memory DuckDB with the table ``records`` (never the warehouse file)."""
    import tempfile

    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/tailor-splink'")
    con.register("records_in", records)
    con.execute("CREATE TABLE records AS SELECT * FROM records_in")
    con.unregister("records_in")
    return con


def _linker(con, settings):
    from splink import DuckDBAPI, Linker

    return Linker("records", settings, db_api=DuckDBAPI(connection=con), set_up_basic_logging=False)


def _quiet_splink() -> None:
    import logging

    logging.getLogger("splink").setLevel(logging.ERROR)


# ----------------------------------------------------------------------------------------------- training


def _levels(settings: dict[str, Any]):
    for c in settings["comparisons"]:
        for lv in c["comparison_levels"]:
            if not lv.get("is_null_level"):
                yield c, lv


def _exact_column(lv: dict[str, Any]) -> str | None:
    sql = lv["sql_condition"].strip()
    for col in ("email_key", "phone_key", "dob"):
        if sql == f'"{col}_l" = "{col}_r"':
            return col
    return None


def _fill_unobserved_u(con, settings: dict[str, Any], sampled_pairs: float) -> dict[str, list[str]]:
    """u of a level the random sample never hit is saved as null, and a reloaded model would silently use
    Splink's default for it. Exact-key levels get the exact u from the counts (the probability that two random
    records share the key), other levels ``1 / sampled pairs`` (at most about one in the pairs sampled)."""
    n = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
    filled: dict[str, list[str]] = {"u_from_counts": [], "u_unobserved": []}
    for c, lv in _levels(settings):
        if lv.get("u_probability") is not None:
            continue
        col = _exact_column(lv)
        name = f"{c['output_column_name']}: {lv.get('label_for_charts')}"
        if col:
            same = con.execute(f"SELECT coalesce(sum(k * (k - 1)), 0) FROM (SELECT count(*) AS k FROM records "
                               f"WHERE {col} IS NOT NULL GROUP BY {col})").fetchall()[0][0]
            lv["u_probability"] = max(float(same) / max(n * (n - 1), 1), 1e-12)
            filled["u_from_counts"].append(name)
        else:
            lv["u_probability"] = 1.0 / max(sampled_pairs, 1.0)
            filled["u_unobserved"].append(name)
    return filled


def untrained_levels(settings: dict[str, Any]) -> list[str]:
    """``comparison: level (m|u)`` of every non-null level without an m or a u probability."""
    return [f"{c['output_column_name']}: {lv.get('label_for_charts')} ({'m' if lv.get('m_probability') is None else 'u'})"
            for c, lv in _levels(settings)
            if lv.get("m_probability") is None or lv.get("u_probability") is None]


#: The columns each comparison reads: an EM session blocked on any of them keeps the comparison fixed.
COMPARISON_COLUMNS = {"first_name": ("first_key", "first_canon", "first_sound", "last_key"),
                      "last_name": ("last_key", "last_sound", "first_key"), "location": ("postcode_key", "city_key"),
                      "email": ("email_key",), "phone": ("phone_key",), "street": ("street_key", "house_number"),
                      "birth_date": ("dob",)}


def _pairs_blocked(con, columns: tuple[str, ...]) -> int:
    keys = ", ".join(columns)
    present = " AND ".join(f"{c} IS NOT NULL" for c in columns)
    return int(con.execute(f"SELECT coalesce(sum(k * (k - 1) / 2), 0) FROM (SELECT count(*) AS k FROM records "
                           f"WHERE {present} GROUP BY {keys})").fetchall()[0][0])


def _check_trained(settings: dict[str, Any], unseen: str, context: str,
                   session_pairs: dict[str, int]) -> list[str]:
    """Refuse a model Splink would silently complete with its defaults; bound the levels no pair showed.

    A comparison none of whose (not fixed) levels got an m was never estimated (e.g. frozen in every EM session
    because the blocking rules read its columns): always an error. A single level without m was shown by none of
    the pairs of the EM sessions that trained its comparison (``session_pairs``: how many): its m is at most
    about one in those pairs, so it gets ``min(u, 1 / pairs)`` -- evidence against when random pairs show the
    level often (a move, when no duplicate of the CRM has moved yet), neutral when they do not either (a nickname
    level of a CRM without nicknames). With ``unseen="fail"`` such levels are refused instead. Returns them."""
    by_comparison: dict[str, list[dict[str, Any]]] = {}
    for c, lv in _levels(settings):
        if not lv.get("fix_m_probability"):
            by_comparison.setdefault(c["output_column_name"], []).append(lv)
    frozen = [name for name, lvs in by_comparison.items() if all(lv.get("m_probability") is None for lv in lvs)]
    if frozen:
        raise ModelTrainingError(f"no EM session estimated the comparison(s) {frozen} ({context}): Splink would "
                                 "score them with its default m probabilities")
    missing_u = [name for name in untrained_levels(settings) if name.endswith("(u)")]
    if missing_u:
        raise ModelTrainingError(f"levels without a u probability ({context}): {missing_u}")
    unseen_levels = [f"{c['output_column_name']}: {lv.get('label_for_charts')}" for c, lv in _levels(settings)
                     if lv.get("m_probability") is None]
    if unseen_levels and unseen == "fail":
        raise ModelTrainingError(f"no pair of the training records showed the level(s) {unseen_levels} ({context}): "
                                 "their m cannot be estimated. Train on more records, or allow unseen levels")
    for c, lv in _levels(settings):
        if lv.get("m_probability") is None:
            pairs = max(session_pairs.get(c["output_column_name"], 0), 1)
            lv["m_probability"] = min(float(lv["u_probability"]), 1.0 / pairs)
    return unseen_levels


def rule_sql(rule) -> str:
    """The SQL of a blocking rule (``block_on(...)`` or text)."""
    if isinstance(rule, str):
        return rule
    return rule.get_blocking_rule("duckdb").blocking_rule_sql


def em_sessions(fields: tuple[str, ...]):
    """The blocking rules of the EM sessions. A session learns every comparison whose columns its rule does not
    read; the others stay fixed. First the usable e-mail (pairs sharing one are nearly all one person, so EM
    starts from the right side: on a CRM full of namesakes a session blocked on the names converges to "same
    name, same city = same person"), or, without e-mails, records of one rare full name (``name_block``, the
    names fixed: the location alone is learnt there, and on namesake-heavy data still too generously); then the
    postcode (the location fixed, the names learnt). No name in the postcode rule: the swap levels read first_key
    *and* last_key, so Splink would freeze both name comparisons in that session."""
    from splink import block_on

    # without e-mails: records of one rare full name (the names fixed): among namesakes of a common name, "same
    # city" is common for other people too (names cluster by country), and EM would learn it as a match
    first = block_on("email_key") if "email" in fields else block_on("name_block", "first_key", "last_key")
    return [first, block_on("postcode_key")]


def train_model(normalized: pd.DataFrame, sample: int | None = None, training: TrainingSettings = TRAINING,
                fields: tuple[str, ...] | None = None, records: pd.DataFrame | None = None) -> IdentityModel:
    """Train a model on (a random sample of) the records: the prior from deterministic rules, u by random
    sampling, m by expectation maximisation in two sessions. Raises :class:`TooFewRecords` below
    ``training.min_records`` and :class:`ModelTrainingError` when a comparison was not estimated (or, with
    ``unseen_levels="fail"``, a level no training pair showed); see :func:`_check_trained`.
    The EM sessions: :func:`em_sessions`."""
    from splink import block_on

    _quiet_splink()
    import splink

    records = linkage_records(normalized) if records is None else records
    population = len(records)
    if population < training.min_records:
        raise TooFewRecords(f"{population} records: too few to train a linkage model on (at least "
                            f"{training.min_records})")
    fields = fields_present(records, training.min_field_share) if fields is None else fields
    sample = training.sample if sample is None else sample
    if sample and population > sample:  # lambda of a random sample equals the CRM's (both pair counts shrink by f^2)
        records = records.sample(n=sample, random_state=training.seed).sort_values("unique_id")
    t0 = time.perf_counter()
    con = _connect(records)
    try:
        linker = _linker(con, splink_settings(fields))
        deterministic = [block_on("first_key", "last_key", "postcode_key")]
        if "email" in fields:
            deterministic.append(block_on("email_key", "first_key"))
        if "birth_date" in fields:
            deterministic.append(block_on("first_key", "last_key", "dob"))
        linker.training.estimate_probability_two_random_records_match(deterministic, recall=training.prior_recall)
        sampled = min(training.u_max_pairs, len(records) * (len(records) - 1) / 2)
        linker.training.estimate_u_using_random_sampling(max_pairs=training.u_max_pairs, seed=training.seed)
        for rule in em_sessions(fields):
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, estimate_without_term_frequencies=True)
        settings = linker.misc.save_model_to_json(None)
        filled = _fill_unobserved_u(con, settings, sampled)
        sessions = [tuple(dict.fromkeys(re.findall(r'l\."?(\w+)"?', rule_sql(rule)))) for rule in em_sessions(fields)]
        counts = [_pairs_blocked(con, cols) for cols in sessions]
        session_pairs = {name: sum(n for cols, n in zip(sessions, counts) if not set(cols) & set(columns))
                         for name, columns in COMPARISON_COLUMNS.items()}
    finally:
        con.close()
    unseen = _check_trained(settings, training.unseen_levels,
                            f"trained on {len(records)} records with the fields {list(fields)}", session_pairs)
    prior = float(settings["probability_two_random_records_match"])
    meta = {
        "splink_version": splink.__version__,
        "records": int(len(records)),
        "population": int(population),
        "prior": prior,
        "fields": list(fields),
        "fingerprint": settings_fingerprint(settings),
        "trained_at": pd.Timestamp.now(tz="UTC").tz_localize(None).isoformat(timespec="seconds"),
        "train_seconds": round(time.perf_counter() - t0, 1),
        "unseen_levels": unseen,
        **filled,
    }
    return IdentityModel(settings=settings, meta=meta)


def match_weights(model: IdentityModel) -> pd.DataFrame:
    """One row per comparison level: m, u and the match weight log2(m/u), the table the UI shows."""
    rows = []
    for c, lv in _levels(model.settings):
        m, u = lv.get("m_probability"), lv.get("u_probability")
        rows.append({"comparison": c["output_column_name"], "level": lv.get("label_for_charts") or lv["sql_condition"],
                     "m_probability": m, "u_probability": u,
                     "match_weight": round(math.log2(m / u), 2) if m and u else None,
                     "term_frequency": bool(lv.get("tf_adjustment_column"))})
    return pd.DataFrame(rows, columns=["comparison", "level", "m_probability", "u_probability", "match_weight",
                                       "term_frequency"])


def prior_weight(prior: float) -> float:
    return math.log2(prior / (1 - prior))


def weights_markdown(model: IdentityModel) -> str:
    """The match weights as a markdown table: per comparison and level, m, u and the weight in bits."""
    w = match_weights(model)
    lines = [f"prior: λ = {model.meta.get('prior', model.settings['probability_two_random_records_match']):.3g} "
             f"({prior_weight(float(model.settings['probability_two_random_records_match'])):+.1f} bits)", "",
             "| comparison | level | m | u | weight (bits) | term frequency |", "|---|---|---|---|---|---|"]
    for r in w.itertuples(index=False):
        lines.append(f"| {r.comparison} | {r.level} | {r.m_probability:.3g} | {r.u_probability:.3g} | "
                     f"{r.match_weight:+.2f} | {'yes' if r.term_frequency else ''} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ scoring


def _level_index(model: IdentityModel, comparison: str, labels: tuple[str, ...] | str) -> list[int]:
    """The gamma values (Splink's level index: the last non-null level is 0) of the levels with ``labels``."""
    labels = (labels,) if isinstance(labels, str) else labels
    for c in model.settings["comparisons"]:
        if c["output_column_name"] == comparison:
            levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
            return [len(levels) - 1 - k for k, lv in enumerate(levels) if lv.get("label_for_charts") in labels]
    return []


def _comparisons(model: IdentityModel) -> list[str]:
    return [c["output_column_name"] for c in model.settings["comparisons"]]


def veto_sql(model: IdentityModel) -> tuple[str, str]:
    """(SQL of the vetoes over a predicted pair ``p``, SQL of the reason): what tells two *persons* of one
    household apart must not disagree, however much the household fields agree (surname, address, phone, a family
    e-mail are shared by spouses, children and twins).

    * ``first_names``: both first names present and incompatible (level "alike" or "different": not equal, a
      nickname, similar, the same sound, swapped, one typo apart or an initial; the compatibility of the exact
      rules plus nicknames, spellings, swaps and initials) -- Lena/Leon, John/Jane, twins;
    * ``birth_dates``: birth dates both present and unrelated (not equal, one digit off, day and month swapped or
      same day and month) and the first names not equal or nicknames (a missing one included).
    Twins (same surname and address, different first names) are held by the first."""
    different = ", ".join(map(str, _level_index(model, "first_name", FIRST_DIFFERENT)))
    vetoes = [("first_names", f"(p.first_key_l IS NOT NULL AND p.first_key_r IS NOT NULL "
                              f"AND p.gamma_first_name IN ({different}))")]
    if "birth_date" in _comparisons(model):
        same = min(_level_index(model, "first_name", FIRST_SAME))
        dob_else = _level_index(model, "birth_date", DOB_DIFFERENT)[0]
        vetoes.append(("birth_dates", f"(p.gamma_birth_date = {dob_else} AND p.gamma_first_name < {same})"))
    veto = " OR ".join(sql for _, sql in vetoes)
    reason = "CASE " + " ".join(f"WHEN {sql} THEN '{name}'" for name, sql in vetoes) + " END"
    return f"({veto})", reason


def _evidence_sql(model: IdentityModel) -> str:
    """A JSON object per pair: the prior's weight, per comparison the level that fired and its weight (log2 of its
    Bayes factor times the term-frequency adjustment), and the total (the weights add up to match_weight)."""
    parts = [f"'prior', {round(prior_weight(float(model.settings['probability_two_random_records_match'])), 2)}"]
    for c in model.settings["comparisons"]:
        name = c["output_column_name"]
        levels = [lv for lv in c["comparison_levels"] if not lv.get("is_null_level")]
        label = "CASE p.gamma_{n} WHEN -1 THEN 'missing' ".format(n=name) + " ".join(
            f"WHEN {len(levels) - 1 - k} THEN '{(lv.get('label_for_charts') or str(k)).replace(chr(39), chr(39) * 2)}'"
            for k, lv in enumerate(levels)) + " END"
        tf = f" * coalesce(p.bf_tf_adj_{name}, 1)" if any(lv.get("tf_adjustment_column") for lv in levels) else ""
        weight = f"round(log2(greatest(p.bf_{name}{tf}, 1e-300)), 2)"
        parts.append(f"'{name}', json_object('level', {label}, 'weight', {weight})")
    parts.append("'match_weight', round(p.match_weight, 2)")
    return "json_object(" + ", ".join(parts) + ")::VARCHAR"


PAIR_COLUMNS = ["customer_ref_l", "customer_ref_r", "match_probability", "match_weight", "vetoed", "veto",
                "evidence"]


def score_pairs(normalized: pd.DataFrame, model: IdentityModel, min_probability: float = 0.5,
                population: int | None = None, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every candidate pair (Splink's blocking rules) with a match probability of at least ``min_probability``
    under the stored ``model`` (no training): ``customer_ref_l`` < ``customer_ref_r``, ``match_probability``,
    ``match_weight``, ``vetoed`` with the ``veto`` that holds (``first_names``, ``birth_dates`` or None) and the
    ``evidence`` (JSON text: what each comparison contributed, see :func:`_evidence_sql`).

    The prior is rescaled to the records scored: a random pair of a CRM of N records is a match with a
    probability ~ 1/N, so a model trained when the CRM had ``population`` records is adjusted by
    (population - 1) / (N - 1). ``population`` overrides N (to score a few records as if among the CRM)."""
    _quiet_splink()
    records = linkage_records(normalized) if records is None else records
    settings = json.loads(json.dumps(model.settings))
    trained_on = int(model.meta.get("population") or len(records))
    scored_as = int(population or len(records))
    if scored_as > 1 and trained_on > 1 and scored_as != trained_on:
        lam = float(settings["probability_two_random_records_match"]) * (trained_on - 1) / (scored_as - 1)
        settings["probability_two_random_records_match"] = min(lam, 0.5)
    scored = IdentityModel(settings=settings, meta=model.meta, version=model.version)
    if len(records) < 2:
        return pd.DataFrame(columns=PAIR_COLUMNS).astype({"match_probability": float, "match_weight": float,
                                                          "vetoed": bool})
    con = _connect(records)
    del records  # the copy in DuckDB is the one scored
    try:
        linker = _linker(con, settings)
        pred = linker.inference.predict(threshold_match_probability=min_probability)
        veto, reason = veto_sql(scored)
        out = con.execute(f"""
            SELECT p.unique_id_l AS customer_ref_l, p.unique_id_r AS customer_ref_r,
                   p.match_probability, p.match_weight, coalesce({veto}, false) AS vetoed, {reason} AS veto,
                   {_evidence_sql(scored)} AS evidence
            FROM {pred.physical_name} p
            ORDER BY customer_ref_l, customer_ref_r
        """).df()
    finally:
        con.close()
    swap = out["customer_ref_l"] > out["customer_ref_r"]
    if swap.any():
        out.loc[swap, ["customer_ref_l", "customer_ref_r"]] = out.loc[swap, ["customer_ref_r", "customer_ref_l"]].to_numpy()
    out["vetoed"] = out["vetoed"].astype(bool)
    out["match_probability"] = out["match_probability"].astype(float).clip(0, 1)
    out["match_weight"] = out["match_weight"].astype(float)
    return out[PAIR_COLUMNS].reset_index(drop=True)


def explain(evidence: str) -> list[tuple[str, str, float]]:
    """(comparison, level, weight) of a pair's evidence JSON, strongest contribution first (the prior first)."""
    data = json.loads(evidence)
    rows = [("prior", "", float(data["prior"]))]
    rows += sorted(((k, v["level"], float(v["weight"])) for k, v in data.items() if isinstance(v, dict)),
                   key=lambda r: -abs(r[2]))
    return rows


def model_to_json(model: IdentityModel) -> str:
    return json.dumps(model.settings, sort_keys=True)


def model_from_json(settings: str, meta: str | dict[str, Any], version: int | None = None) -> IdentityModel:
    return IdentityModel(settings=json.loads(settings), meta=json.loads(meta) if isinstance(meta, str) else meta,
                         version=version)


def splink_major(version: str) -> int:
    try:
        return int(str(version).split(".")[0])
    except ValueError:
        return -1


__all__ = ["IdentityModel", "ModelTrainingError", "TrainingSettings", "TRAINING", "linkage_records", "train_model",
           "score_pairs", "match_weights", "weights_markdown", "veto_sql", "usable_key", "fields_present",
           "splink_settings", "settings_fingerprint", "current_fingerprint", "explain"]
