"""TODO docstring (split from tailor/decisions.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tailor.rules.lazy_imports import LazyModule
from tailor.rules.ruleset import CAMPAIGN_ID_RE, HOLDOUT, REASON_HOLDOUT_PREFIX, REASON_NO_RULE, RULE_NAME_RE

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
else:
    pd = LazyModule("pandas", globals(), "pd")


EMAIL_DECISIONS_COLUMNS: tuple[str, ...] = (
    "customer_id", "campaign_id", "send", "reason", "subject", "blocks", "params", "rules_fired",
    "rule_file_hash", "facts_used", "experiment", "variant", "decided_at",
)


REASON_NO_EMAIL = "no_email"


REASON_NO_CONSENT = "no_consent"


#: Reason of a customer without personalization consent: the rule file's defaults, no rule evaluated, no field read
REASON_NO_PERSONALIZATION = "no_personalization_consent"


#: The profile column of the personalization consent purpose (docs/internal-spec.md, session 2 decisions)
PERSONALIZATION_CONSENT = "personalization_consent"


_REASON_RE = (r"^(rule:[A-Za-z0-9][A-Za-z0-9_-]*|holdout:[A-Za-z0-9][A-Za-z0-9_-]*|no_consent|no_email"
              r"|no_rule_matched|no_personalization_consent|suppressed:.+)$")


_GATED = ("no_consent", "no_email")


def _json_ok(text: Any, kind: type) -> bool:
    try:
        return isinstance(json.loads(text), kind)
    except (TypeError, ValueError):
        return False


def _build_schema() -> type:
    """email_decisions' pandera model, built on first use (pandera costs ~2 s of imports, which checking rule
    files does without). Exported as :data:`EmailDecisionsSchema`."""
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
            def ok(t: Any) -> bool:
                try:
                    d = json.loads(t)
                except (TypeError, ValueError):
                    return False
                return isinstance(d, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in d.items())
            return s.map(ok)

        @pa.check("params", name="json_object")
        def _params_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, dict))

        @pa.check("rules_fired", name="json_list")
        def _rules_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, list))

        @pa.check("facts_used", name="json_object")
        def _facts_json(cls, s: pd.Series) -> pd.Series:
            return s.map(lambda t: _json_ok(t, dict))

        @pa.dataframe_check(name="gated_rows_never_send")
        def _gates(cls, df: pd.DataFrame) -> pd.Series:
            gated = df["reason"].isin(_GATED) | df["reason"].str.startswith("suppressed:")
            return ~(gated & df["send"])

        @pa.dataframe_check(name="sends_have_subject_and_blocks")
        def _sendable(cls, df: pd.DataFrame) -> pd.Series:
            has_subject = df["subject"].map(lambda x: isinstance(x, str) and bool(x.strip()))
            has_blocks = df["blocks"].map(lambda t: _json_ok(t, dict) and bool(json.loads(t)))
            return ~df["send"] | (has_subject & has_blocks)

        @pa.dataframe_check(name="reason_is_first_rule_fired")
        def _reason_matches(cls, df: pd.DataFrame) -> pd.Series:
            def ok(reason: str, fired: str) -> bool:
                if not reason.startswith("rule:"):
                    return reason != REASON_NO_RULE or fired == "[]"
                try:
                    names = json.loads(fired)
                except ValueError:
                    return False
                return bool(names) and names[0] == reason[5:]
            return pd.Series([ok(r, f) for r, f in zip(df["reason"], df["rules_fired"])], index=df.index)

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
    if name == "EmailDecisionsSchema":
        schema = globals()["EmailDecisionsSchema"] = _build_schema()
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
