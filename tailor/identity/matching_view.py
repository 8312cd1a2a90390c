"""The matching view of CRM records (the ``crm_normalized`` table): one row per CRM record with the keys identity
resolution compares (normalised e-mail, E.164 phone, ISO country, name, postcode and city keys), kept so that
profiles need not redo it."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.identity.normalize import (
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

    class Config:
        strict = True
        ordered = True


def normalize_records(crm: pd.DataFrame) -> pd.DataFrame:
    """The matching view of CRM records: normalised e-mail (and whether it is a placeholder), E.164 phone,
    ISO country, name keys, postcode and city keys. Index and order are those of ``crm``."""
    out = email_columns(crm["email"])
    out.insert(0, "customer_ref", crm["customer_ref"].astype(str))
    out["country_iso"] = map_distinct(crm["country"], normalize_country)
    out["phone_e164"] = phone_column(crm["phone"], out["country_iso"])
    out["first_key"] = name_key_column(crm["first_name"])
    out["last_key"] = name_key_column(crm["last_name"])
    postcode = crm["postcode"].where(crm["postcode"].notna(), None)
    out["postcode_key"] = map_distinct(postcode, lambda p: "".join((clean_text(str(p)) or "").upper().split()) or None)
    out["city_key"] = name_key_column(crm["city"])
    return out
