"""Survivorship (tailor.identity.survivorship): the rule table, and the names' spelling evidence."""

from __future__ import annotations

import pandas as pd
import pytest

from tailor.identity.survivorship import SOURCE_PRIORITY, SPELLING_CRITERIA, SURVIVORSHIP, Rule, survive
from tailor.sources.contracts import CRM_CUSTOMERS

T = pd.Timestamp
NAMES = {f: SURVIVORSHIP[f] for f in ("first_name", "last_name")}


def test_survivorship_is_one_table_of_known_criteria():
    assert SOURCE_PRIORITY == ("shop", "pos", "import", "newsletter")
    assert set(SURVIVORSHIP) == {"email", "first_name", "last_name", "phone", "country", "city", "postcode",
                                 "timezone", "created_at", "updated_at"}
    assert SURVIVORSHIP["first_name"].criteria == (*SPELLING_CRITERIA, "source_priority", "completeness", "recency")
    assert SURVIVORSHIP["last_name"].criteria == (*SPELLING_CRITERIA, "source_priority", "recency", "completeness")
    assert SPELLING_CRITERIA == ("email_spelling", "agreed_spelling", "common_spelling")
    assert all(r.why for r in SURVIVORSHIP.values())


def test_source_priority_ranks_exactly_the_source_systems_of_the_crm_contract():
    assert len(set(SOURCE_PRIORITY)) == len(SOURCE_PRIORITY)
    assert set(SOURCE_PRIORITY) == set(CRM_CUSTOMERS.choices("source_system"))


def test_survive_rejects_an_unknown_criterion():
    records = pd.DataFrame({"customer_id": ["c"], "ref_rank": [0], "updated_at": [T("2024-01-01")], "source_rank": [0],
                            "city": ["Wien"]})
    with pytest.raises(ValueError, match="unknown criterion 'loudest'"):
        survive(records, {"city": Rule(("loudest",), "no")})


def name_records(*rows, crowd: dict[str, int] | None = None) -> pd.DataFrame:
    """``survive`` input: rows (customer, first, last, email, source_rank, updated) and ``crowd`` other
    single-record customers per first name (the population the CRM has of that spelling)."""
    rows = list(rows) + [(f"crowd-{name}-{i}", name, "Other", None, 3, T("2020-01-01"))
                         for name, k in (crowd or {}).items() for i in range(k)]
    frame = pd.DataFrame(rows, columns=["customer_id", "first_name", "last_name", "email", "source_rank", "updated_at"])
    frame["ref_rank"] = range(len(frame))
    return frame


def names_of(records: pd.DataFrame, customer: str = "c1") -> list[str]:
    return survive(records, NAMES).loc[customer].tolist()


def test_the_source_decides_between_spellings_without_evidence():
    # a typo'd duplicate typed in the shop (rank 0) and the clean newsletter record (rank 3), nothing else
    assert names_of(name_records(("c1", "Michael", "Weber", "m.w@example.com", 3, T("2024-01-01")),
                                 ("c1", "Michhael", "Webre", "m.w@example.com", 0, T("2024-06-01")))) == [
        "Michhael", "Webre"]


def test_name_spelling_evidence_beats_the_source():
    # the clean spelling is in the e-mail address ...
    assert names_of(name_records(("c1", "Michael", "Weber", "michael.weber@example.com", 3, T("2024-01-01")),
                                 ("c1", "Michhael", "Webre", "michael.weber@example.com", 0, T("2024-06-01")))) == [
        "Michael", "Weber"]
    # ... also folded: an umlaut written ae/oe/ue, or an accent dropped, in the address
    assert names_of(name_records(("c1", "Jürgen", "Müller", "juergen.muller@example.com", 3, T("2024-01-01")),
                                 ("c1", "Jürgne", "Müler", "juergen.muller@example.com", 0, T("2024-06-01")))) == [
        "Jürgen", "Müller"]
    # ... or, with no name in the address, the typo is 5 x rarer than the spelling it is one edit from ...
    won = names_of(name_records(("c1", "Noah", "Kaufmann", "n.k@example.com", 3, T("2024-01-01")),
                                ("c1", "Noaah", "Kaufmann", "n.k@example.com", 0, T("2024-06-01")), crowd={"Noah": 5}))
    assert won[0] == "Noah"
    # ... or two of the person's records agree on it
    won = names_of(name_records(*[("c1", n, "Roth", None, s, T("2024-01-01")) for n, s in
                                  (("aSmuel", 0), ("Samuel", 2), ("Samuel", 3))]))
    assert won[0] == "Samuel"


def test_name_spelling_evidence_never_overrules_a_different_name():
    # married: the old name has two records and the old e-mail; the new one is a different name, not a spelling
    won = names_of(name_records(("c1", "Anna", "Müller", "anna.mueller@example.com", 1, T("2020-01-01")),
                                ("c1", "Anna", "Müller", "anna.mueller@example.com", 1, T("2021-01-01")),
                                ("c1", "Anna", "Schmidt", "a.s@example.com", 1, T("2024-01-01"))))
    assert won[1] == "Schmidt"  # the newest (same source)
    # a rare spelling that the person's own address confirms is not "corrected" to the common one
    won = names_of(name_records(("c1", "Jon", "Ngo", "jon.ngo@example.com", 3, T("2024-01-01")),
                                ("c1", "John", "Ngo", "jon.ngo@example.com", 0, T("2024-01-01")), crowd={"John": 50}))
    assert won[0] == "Jon"
    # real names close to each other but not 5 x apart in the CRM: the source decides, as before
    won = names_of(name_records(("c1", "Matteo", "Kuhn", None, 1, T("2024-01-01")),
                                ("c1", "Mateo", "Kuhn", None, 0, T("2024-01-01")), crowd={"Matteo": 2}))
    assert won[0] == "Mateo"
    # a name and its short form are different names: no evidence criterion applies
    won = names_of(name_records(("c1", "Katharina", "Berger", "katharina.b@example.com", 1, T("2024-01-01")),
                                ("c1", "Kathi", "Berger", "katharina.b@example.com", 0, T("2024-01-01"))))
    assert won[0] == "Kathi"


def test_evidence_is_per_customer_and_missing_names_never_win():
    # another customer's records and e-mail say nothing about c1's spelling
    records = name_records(("c1", "Michhael", "Weber", "m.w@example.com", 0, T("2024-01-01")),
                           ("c1", "Michael", "Weber", None, 3, T("2024-01-01")),
                           ("c2", "Michhael", "Weber", "michhael@example.com", 0, T("2024-01-01")),
                           ("c2", None, None, "michael.weber@example.com", 0, T("2024-06-01")))
    won = survive(records, NAMES)
    assert won.loc["c1", "first_name"] == "Michhael"  # the source: no evidence of c1's own
    assert won.loc["c2", "first_name"] == "Michhael"  # c2's only first name, although its other address says Michael
    # without an e-mail column the other criteria still work
    won = survive(name_records(("c1", "Noah", "Roth", None, 3, T("2024-01-01")),
                               ("c1", "Noaah", "Roth", None, 0, T("2024-01-01")),
                               crowd={"Noah": 5}).drop(columns="email"), NAMES)
    assert won.loc["c1", "first_name"] == "Noah"
