"""Consent at send time (issue 11 #7): a revocation or an unsubscribe that landed after customer_profiles was
built stops the send; a grant never widens what the build allowed."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest

from tailor.identity.live_consent import live_consent_state, with_live_consent
from tailor.sources.contracts import CONSENT_EVENTS, EMAIL_EVENTS
from tailor.sources.load import ingest_source
from tailor.sources.parse import LandingFileError
from tests.conftest import write

HEADER = "email,purpose,status,changed_at,source\n"
NOW = datetime(2026, 12, 1, 12)
PROFILES = pd.DataFrame({
    "customer_id": ["cus_1", "cus_2", "cus_3", "cus_4", "cus_5"],
    "email": ["dmitri@example.com", "eva@example.com", "anna@example.com", "nobody@example.com", None],
    "marketing_consent": [True, True, True, False, False],
    "suppressed_reason": [None, None, None, None, None],
})


@pytest.fixture
def landing(tmp_path, warehouse):
    landing = tmp_path / "landing"
    write(landing / "consent" / "consent-0001.csv", HEADER + "".join(
        f"{who}@example.com,marketing_email,granted,2026-01-01,checkout\n" for who in ("dmitri", "eva", "anna")))
    write(landing / "email_events" / "a.ndjson",
          '{"sg_event_id":"e1","email":"anna@example.com","event":"open","timestamp":1764000000}\n')
    ingest_source(CONSENT_EVENTS, landing, warehouse)
    ingest_source(EMAIL_EVENTS, landing, warehouse)
    return landing


def live(warehouse, landing):
    with warehouse.session() as s:
        return with_live_consent(PROFILES, live_consent_state(s, landing, NOW))


def test_what_was_loaded_keeps_the_builds_answer(warehouse, landing):
    out = live(warehouse, landing)
    assert out["marketing_consent"].tolist() == [True, True, True, False, False]
    assert out["suppressed_reason"].tolist() == [None] * 5


def test_a_revocation_and_an_unsubscribe_landed_after_the_build_stop_the_send(warehouse, landing):
    write(landing / "consent" / "consent-late.csv",
          HEADER + "Dmitri@Example.com\u200b,marketing_email,revoked,2026-12-01 11:00:00,preference_center\n"
          + "nobody@example.com,marketing_email,granted,2026-12-01 11:00:00,checkout\n")
    write(landing / "email_events" / "late.ndjson",
          '{"sg_event_id":"e2","email":"eva@example.com","event":"unsubscribe","timestamp":1796122800}\n')
    out = live(warehouse, landing)
    assert out["marketing_consent"].tolist() == [False, False, True, False, False]  # a late grant widens nothing
    assert out["suppressed_reason"].tolist() == [None, "unsubscribe", None, None, None]


def test_an_unreadable_landed_file_means_consent_is_unknown(warehouse, landing, tmp_path):
    (landing / "consent" / "broken.csv").write_bytes(b"\xff\xfe not a csv header")
    with pytest.raises(LandingFileError), warehouse.session() as s:
        live_consent_state(s, landing, NOW)
