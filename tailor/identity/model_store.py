"""Trained linkage models in the warehouse, versioned: ``identity_models`` (one row per model: version, when, Splink
version, records, prior, fields, fingerprint, the settings JSON with every m/u, and meta) and
``identity_model_weights`` (per model, comparison and level: m, u and the match weight, what the UI shows).

Rows are appended, never replaced: a link's ``model_version`` always names the model that made it.
"""

from __future__ import annotations

import json

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from tailor.identity.linkage import IdentityModel, match_weights, model_from_json, model_to_json, splink_major

IDENTITY_MODELS = "identity_models"
IDENTITY_MODEL_WEIGHTS = "identity_model_weights"


class IdentityModelsSchema(pa.DataFrameModel):
    """One row per trained linkage model (appended; the highest version is the one in use)."""

    version: Series[int] = pa.Field(ge=1, unique=True)
    trained_at: Series[str]
    splink_version: Series[str]
    records: Series[int] = pa.Field(ge=1)  # trained on (a sample of the population)
    population: Series[int] = pa.Field(ge=1)  # CRM records when it was trained
    prior: Series[float] = pa.Field(gt=0, lt=1)  # lambda: P(a random pair of records is one person)
    fields: Series[str]  # JSON list of the optional comparisons
    fingerprint: Series[str]
    settings: Series[str]  # Splink's model JSON
    meta: Series[str]  # JSON

    class Config:
        strict = True
        ordered = True


class IdentityModelWeightsSchema(pa.DataFrameModel):
    version: Series[int] = pa.Field(ge=1)
    comparison: Series[str]
    level: Series[str]
    m_probability: Series[float] = pa.Field(ge=0, le=1)
    u_probability: Series[float] = pa.Field(ge=0, le=1)
    match_weight: Series[float]
    term_frequency: Series[bool]

    class Config:
        strict = True
        ordered = True


def stored_models(session) -> pd.DataFrame:
    """Every stored model's row (without the settings JSON), newest first; empty before the first training."""
    if not session.table_exists(IDENTITY_MODELS):
        return pd.DataFrame(columns=list(IdentityModelsSchema.to_schema().columns))
    return session.query(f"SELECT * FROM {IDENTITY_MODELS} ORDER BY version DESC")


def latest_model(session) -> IdentityModel | None:
    """The newest stored model, or None before the first training."""
    if not session.table_exists(IDENTITY_MODELS):
        return None
    rows = session.query(f"SELECT version, settings, meta FROM {IDENTITY_MODELS} ORDER BY version DESC LIMIT 1")
    if rows.empty:
        return None
    row = rows.iloc[0]
    return model_from_json(row["settings"], row["meta"], version=int(row["version"]))


def model_row(model: IdentityModel, version: int) -> pd.DataFrame:
    meta = {**model.meta, "version": version}
    return pd.DataFrame([{
        "version": int(version), "trained_at": str(meta["trained_at"]), "splink_version": str(meta["splink_version"]),
        "records": int(meta["records"]), "population": int(meta["population"]), "prior": float(meta["prior"]),
        "fields": json.dumps(meta["fields"]), "fingerprint": str(meta["fingerprint"]),
        "settings": model_to_json(model), "meta": json.dumps(meta, sort_keys=True),
    }])


def weights_rows(model: IdentityModel, version: int) -> pd.DataFrame:
    w = match_weights(model)
    w.insert(0, "version", int(version))
    w["match_weight"] = w["match_weight"].astype(float)
    w["term_frequency"] = w["term_frequency"].astype(bool)
    return w


def store_model(session, model: IdentityModel) -> IdentityModel:
    """Append ``model`` as the next version (1 for the first); returns it with its ``version`` set."""
    version = 1
    if session.table_exists(IDENTITY_MODELS):
        top = session.query(f"SELECT max(version) AS v FROM {IDENTITY_MODELS}")["v"].iloc[0]
        version = 1 if pd.isna(top) else int(top) + 1
    session.write_table(IDENTITY_MODELS, model_row(model, version), mode="append")
    session.write_table(IDENTITY_MODEL_WEIGHTS, weights_rows(model, version), mode="append")
    return IdentityModel(settings=model.settings, meta={**model.meta, "version": version}, version=version)


def why_train(latest: IdentityModel | None, retrain: bool, splink_version: str) -> str | None:
    """Why the identity_model asset trains now, or None (the stored model stays in use): no model yet, asked to
    (``retrain``), or the stored one was trained with another Splink major version (its JSON may not load)."""
    if latest is None:
        return "no model yet"
    if retrain:
        return "retrain requested"
    if splink_major(latest.meta.get("splink_version", "")) != splink_major(splink_version):
        return (f"the stored model v{latest.version} is of Splink {latest.meta.get('splink_version')}, this is "
                f"Splink {splink_version}")
    return None


def staleness(model: IdentityModel, records: int, fields: tuple[str, ...], fingerprint: str) -> list[str]:
    """What has changed since ``model`` was trained (shown in the UI; retrain with ``retrain: true``)."""
    notes = []
    population = int(model.meta.get("population") or 0)
    if population and (records > 2 * population or records < population / 2):
        notes.append(f"the CRM has {records} records, {population} when the model was trained (the prior is "
                     "rescaled; m and u may have moved)")
    if tuple(model.meta.get("fields", ())) != tuple(fields):
        notes.append(f"the CRM now carries the fields {list(fields)}, the model compares {model.meta.get('fields')}")
    elif model.meta.get("fingerprint") != fingerprint:
        notes.append("the settings in the code have changed since the model was trained")
    return notes


def typed_empty(schema: type[pa.DataFrameModel]) -> pd.DataFrame:
    """An empty frame with the schema's columns and dtypes (what a check validates before the first model)."""
    columns = schema.to_schema().columns
    return pd.DataFrame({name: pd.Series(dtype="object" if str(col.dtype) == "str" else str(col.dtype))
                         for name, col in columns.items()})
