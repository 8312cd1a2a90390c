"""The ``email_decisions`` table: its columns, the reasons a row may give, and its pandera model.

One row per customer and campaign: whether to send, why (``reason``), with which subject, blocks and params, and
the provenance — the rules fired, the rule file's hash, the field values the rules read, experiment and variant.
The model (:data:`EmailDecisionsSchema`) also checks what must hold between columns: gated and held-out rows
never send, a sent row has a subject and blocks, ``reason`` names the first rule fired. It is built on first use:
pandera costs ~2 s of imports, which code that only needs the column names and reasons does without.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tailor.lazy_imports import LazyModule
from tailor.rules.ruleset import (
    CAMPAIGN_ID_RE,
    HOLDOUT,
    REASON_HOLDOUT_PREFIX,
    REASON_NO_RULE,
    REASON_RULE_PREFIX,
    RULE_NAME_RE,
)
from tailor.warehouse.json_lists import json_list_of, json_object_of

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
else:
    pd = LazyModule("pandas", globals(), "pd")


EMAIL_DECISIONS_COLUMNS: tuple[str, ...] = (
    "customer_id", "campaign_id", "send", "reason", "subject", "blocks", "params", "rules_fired",
    "rule_file_hash", "facts_used", "experiment", "variant", "decided_at",
)

#: The profile column of the personalization consent purpose (docs/internal-spec.md lists the consent purposes)
PERSONALIZATION_CONSENT = "personalization_consent"

# The reasons that are not the rules' own (those are in tailor.rules.ruleset): the gates, which decide after the
# rules and force ``send = False`` (tailor.rules.decide), and a customer without personalization consent.
REASON_NO_EMAIL = "no_email"
REASON_NO_CONSENT = "no_consent"
#: ``suppressed:<why>``: the reason of a customer on the suppression list.
REASON_SUPPRESSED_PREFIX = "suppressed:"
#: Reason of a customer without personalization consent: the rule file's defaults, no rule evaluated, no field read
REASON_NO_PERSONALIZATION = "no_personalization_consent"

_GATED = (REASON_NO_CONSENT, REASON_NO_EMAIL)
_NAME = RULE_NAME_RE.pattern.strip("^$")    # a rule or experiment name, without the anchors
_REASON_RE = (f"^({REASON_RULE_PREFIX}{_NAME}|{REASON_HOLDOUT_PREFIX}{_NAME}|{REASON_NO_CONSENT}|{REASON_NO_EMAIL}"
              f"|{REASON_NO_RULE}|{REASON_NO_PERSONALIZATION}|{REASON_SUPPRESSED_PREFIX}.+)$")


def _reason_matches_rules_fired(reason: str, fired: str) -> bool:
    """``rule:<name>`` names the first rule fired; ``no_rule_matched`` has none fired."""
    if not reason.startswith(REASON_RULE_PREFIX):
        return reason != REASON_NO_RULE or fired == "[]"
    names = json_list_of(fired)
    return bool(names) and names[0] == reason[len(REASON_RULE_PREFIX):]


def _build_schema() -> type:
    """email_decisions' pandera model, built on first use (pandera costs ~2 s of imports, which checking rule
    files does without). Exported as :data:`EmailDecisionsSchema`.

    One declarative class: its columns and the checks between them read best together, so it stays whole; the
    checks' per-value tests are the module's functions.
    """
    # pandera resolves the (postponed) annotations in this module's globals
    global pa, Series
    import pandera.pandas as pa
    from pandera.typing import Series

    class EmailDecisionsSchema(pa.DataFrameModel):
        """email_decisions: one row per customer and campaign — send or not, why, with which content, and the
        provenance: rules fired, rule file hash, the field values the rules read, experiment and variant."""

        customer_id: Series[str] = pa.Field(unique=True, nullable=False)
        campaign_id: Series[str] = pa.Field(nullable=False, str_matches=CAMPAIGN_ID_RE.pattern)
        send: Series[bool] = pa.Field(nullable=False)
        reason: Series[str] = pa.Field(nullable=False, str_matches=_REASON_RE)
        subject: Series[str] = pa.Field(nullable=True)
        blocks: Series[str] = pa.Field(nullable=False)
        params: Series[str] = pa.Field(nullable=False)
        rules_fired: Series[str] = pa.Field(nullable=False)
        rule_file_hash: Series[str] = pa.Field(nullable=False, str_matches=r"^[0-9a-f]{64}$")
        facts_used: Series[str] = pa.Field(nullable=False)
        experiment: Series[str] = pa.Field(nullable=True, str_matches=RULE_NAME_RE.pattern)
        variant: Series[str] = pa.Field(nullable=True, str_matches=RULE_NAME_RE.pattern)
        decided_at: Series[pa.DateTime] = pa.Field(nullable=False)

        class Config:
            strict = True

        @pa.check("blocks", name="json_object_of_slots")
        def _blocks_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: json_object_of(t, str) is not None)

        @pa.check("params", name="json_object")
        def _params_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: json_object_of(t) is not None)

        @pa.check("rules_fired", name="json_list")
        def _rules_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: json_list_of(t) is not None)

        @pa.check("facts_used", name="json_object")
        def _facts_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: json_object_of(t) is not None)

        @pa.dataframe_check(name="gated_rows_never_send")
        def _gates(cls, df: pd.DataFrame) -> pd.Series:
            gated = df["reason"].isin(_GATED) | df["reason"].str.startswith(REASON_SUPPRESSED_PREFIX)
            return ~(gated & df["send"])

        @pa.dataframe_check(name="sends_have_subject_and_blocks")
        def _sendable(cls, df: pd.DataFrame) -> pd.Series:
            has_subject = df["subject"].map(lambda x: isinstance(x, str) and bool(x.strip()))
            has_blocks = df["blocks"].map(lambda t: bool(json_object_of(t)))
            return ~df["send"] | (has_subject & has_blocks)

        @pa.dataframe_check(name="reason_is_first_rule_fired")
        def _reason_matches(cls, df: pd.DataFrame) -> pd.Series:
            return pd.Series([_reason_matches_rules_fired(r, f) for r, f in zip(df["reason"], df["rules_fired"])],
                             index=df.index)

        @pa.dataframe_check(name="experiment_and_variant_together")
        def _experiment_variant(cls, df: pd.DataFrame) -> pd.Series:
            return df["experiment"].isna() == df["variant"].isna()

        @pa.dataframe_check(name="holdout_never_sent")
        def _holdout(cls, df: pd.DataFrame) -> pd.Series:
            held = df["variant"] == HOLDOUT
            holdout_reason = df["reason"].str.startswith(REASON_HOLDOUT_PREFIX)
            names_match = pd.Series(
                [(not r.startswith(REASON_HOLDOUT_PREFIX)) or r[len(REASON_HOLDOUT_PREFIX):] == e
                 for r, e in zip(df["reason"], df["experiment"])], index=df.index)
            return ~(held & df["send"]) & (~holdout_reason | held) & names_match

    EmailDecisionsSchema.__qualname__ = "EmailDecisionsSchema"
    return EmailDecisionsSchema


def __getattr__(name: str) -> Any:
    # `EmailDecisionsSchema` is built on first access, then an ordinary module global
    if name == "EmailDecisionsSchema":
        schema = globals()["EmailDecisionsSchema"] = _build_schema()
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
