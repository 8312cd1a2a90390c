"""Consent at send time: what has landed by now, not only what the last ``customer_profiles`` build saw.

A revocation or an unsubscribe can land minutes after the profiles were built (a consent file, an ESP event
export). The send step reads the loaded ``consent_events`` and ``email_events`` *and* the landing files that
arrived since their last ingest (:func:`tailor.sources.landed.landed_rows`, read-only), derives marketing consent
and suppression per address with the same rules as the profiles (:func:`~tailor.identity.consent.consent_state`),
and a profile may be mailed only when both its build and this live state allow it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from tailor.identity.consent import consent_state
from tailor.sources.contracts import CONSENT_EVENTS, EMAIL_EVENTS, SourceContract
from tailor.sources.landed import landed_rows
from tailor.warehouse.session import WarehouseSession

CONSENT_COLUMNS = ["email", "purpose", "status", "changed_at"]
ESP_COLUMNS = ["email", "event_type", "occurred_at"]


def _loaded_and_landed(session: WarehouseSession, contract: SourceContract, landing_dir: Path,
                       columns: list[str]) -> pd.DataFrame:
    table = contract.name
    loaded = (session.query(f"SELECT {', '.join(columns)} FROM {table}") if session.table_exists(table)
              else pd.DataFrame(columns=columns))
    landed = landed_rows(contract, landing_dir, session)[columns]
    frames = [f for f in (loaded, landed) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else loaded


def live_consent_state(session: WarehouseSession, landing_dir: Path, now: datetime) -> pd.DataFrame:
    """Per normalised e-mail (the index): ``marketing_consent`` and ``suppressed_reason`` from every consent change
    and ESP event loaded or landed by ``now``. Raises ``LandingFileError`` for a landing file that cannot be read:
    consent is then unknown, and nothing may be sent."""
    consent = _loaded_and_landed(session, CONSENT_EVENTS, landing_dir, CONSENT_COLUMNS)
    esp = _loaded_and_landed(session, EMAIL_EVENTS, landing_dir, ESP_COLUMNS)
    return consent_state(consent, esp, as_of=now)


def with_live_consent(profiles: pd.DataFrame, live: pd.DataFrame) -> pd.DataFrame:
    """``profiles`` (``email`` normalised, ``marketing_consent``, ``suppressed_reason``) with consent only where the
    build AND the live state grant it, and the live suppression reason where the build had none."""
    by_email = live.reindex(profiles["email"]).set_axis(profiles.index)
    out = profiles.copy()
    out["marketing_consent"] = (out["marketing_consent"].astype("boolean").fillna(False)
                                & by_email["marketing_consent"].astype("boolean").fillna(False)).astype(bool)
    reason = out["suppressed_reason"].where(out["suppressed_reason"].notna(), by_email["suppressed_reason"])
    out["suppressed_reason"] = reason.astype(object).where(reason.notna(), None)
    return out
