"""The matching view of CRM records (the ``crm_normalized`` table): one row per CRM record with the keys identity
resolution compares (normalised e-mail, E.164 phone, ISO country, name, postcode, city and street keys, the house
number, the date of birth and the first name through its nicknames), kept so that profiles need not redo it.

Every key is computed once per distinct value (or distinct combination, such as street and country), so a million
records cost seconds. The CRM's optional columns (``street``, ``address_line2``, ``house_number``,
``date_of_birth``) may be absent (files and tables from before they existed): their keys are then None."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.identity.address import street_columns
from tailor.identity.nicknames import first_canon_column
from tailor.identity.normalize import (
    birth_date_column,
    clean_text,
    email_columns,
    map_distinct,
    name_key_column,
    normalize_country,
    phone_column,
)


class CrmNormalizedSchema(pa.DataFrameModel):
    """The matching view of the CRM records (:func:`normalize_records`), kept so profiles need not redo it."""

    customer_ref: Series[str] = pa.Field(unique=True)
    email_norm: Series[str] = pa.Field(nullable=True)
    email_placeholder: Series[bool]
    email_typo_suggestion: Series[str] = pa.Field(nullable=True)
    country_iso: Series[str] = pa.Field(nullable=True, str_length={"min_value": 2, "max_value": 2})
    phone_e164: Series[str] = pa.Field(nullable=True, str_startswith="+")
    first_key: Series[str] = pa.Field(nullable=True)
    last_key: Series[str] = pa.Field(nullable=True)
    postcode_key: Series[str] = pa.Field(nullable=True)
    city_key: Series[str] = pa.Field(nullable=True)
    # street name without the house number: lower case, accents folded, abbreviations written out (hauptstrasse)
    street_key: Series[str] = pa.Field(nullable=True, str_matches=r"^[a-z0-9]+$")
    # the building's number with its letter, bis/ter or range (5, 5a, 5bis, 12-14); no flat or floor
    house_number_key: Series[str] = pa.Field(nullable=True, str_matches=r"^[0-9][a-z0-9/-]*$")
    # ISO date; None when missing, a placeholder (1900-01-01, 1970-01-01, 2000-01-01, ...) or implausible
    birth_date: Series[str] = pa.Field(nullable=True, str_matches=r"^\d{4}-\d{2}-\d{2}$")
    # first_key through the nickname table (bill -> william), else first_key
    first_canon: Series[str] = pa.Field(nullable=True, str_matches=r"^[a-z]+$")

    class Config:
        strict = True
        ordered = True


def _optional(crm: pd.DataFrame, column: str) -> pd.Series:
    """``crm[column]``, or all-missing when the frame has no such column (an export without it)."""
    if column in crm.columns:
        return crm[column]
    return pd.Series(None, index=crm.index, dtype=object)


def normalize_records(crm: pd.DataFrame) -> pd.DataFrame:
    """The matching view of CRM records: normalised e-mail (and whether it is a placeholder), E.164 phone,
    ISO country, name keys, postcode, city and street keys, house number, date of birth and the canonical first
    name. Index and order are those of ``crm``."""
    out = email_columns(crm["email"])
    out.insert(0, "customer_ref", crm["customer_ref"].astype(str))
    out["country_iso"] = map_distinct(crm["country"], normalize_country)
    out["phone_e164"] = phone_column(crm["phone"], out["country_iso"])
    out["first_key"] = name_key_column(crm["first_name"])
    out["last_key"] = name_key_column(crm["last_name"])
    postcode = crm["postcode"].where(crm["postcode"].notna(), None)
    out["postcode_key"] = map_distinct(postcode, lambda p: "".join((clean_text(str(p)) or "").upper().split()) or None)
    out["city_key"] = name_key_column(crm["city"])
    streets = street_columns(_optional(crm, "street"), _optional(crm, "address_line2"), _optional(crm, "house_number"),
                             out["country_iso"])
    out["street_key"] = streets["street_key"]
    out["house_number_key"] = streets["house_number_key"]
    out["birth_date"] = birth_date_column(_optional(crm, "date_of_birth"))
    out["first_canon"] = first_canon_column(out["first_key"], out["country_iso"])
    return out
