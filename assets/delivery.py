"""Stage 6 — delivery: send every rendered email once, and only to customers who may receive it."""


from datetime import datetime, timezone
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.content import MarketingContent
from resources.email_sender import EmailSenderResource
from resources.landing import LandingZone
from resources.warehouse import WarehouseResource
from tailor.delivery.audit import deliver_and_record, stale_claims_summary
from tailor.delivery.deliver import PROFILES_REQUIRED, EmailSendsSchema, deliver_chunks
from tailor.identity.live_consent import live_consent_state, with_live_consent

STALE_CLAIMS_CHECK = "no_stale_claims"


@asset(
    deps=["rendered_emails", "customer_profiles"],
    kinds={"sendgrid"},
    description=(
        "One row per email handed to the provider (SendGrid, or the .eml outbox when no API key is set). "
        "Consent is checked again at send time, against the current profile and every consent change, unsubscribe, "
        "bounce and spam report landed since it was built; a send ledger makes every send idempotent, once per "
        "campaign and address."
    ),
    check_specs=[
        schema_check_spec("email_sends"),
        AssetCheckSpec(
            name=STALE_CLAIMS_CHECK, asset=AssetKey("email_sends"), blocking=False,
            description="No send is left claimed without an outcome (a crashed run, or an answer that never "
                        "came): each needs a human to look it up at the provider (docs/delivery.md).",
        ),
    ],
    metadata=table_definition_metadata(EmailSendsSchema),
)
def email_sends(warehouse: WarehouseResource, email_sender: EmailSenderResource, content: MarketingContent,
                landing: LandingZone) -> MaterializeResult:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with warehouse.session() as s:
        rendered = s.query("SELECT * FROM rendered_emails")
        profiles = s.query(f"SELECT {', '.join(PROFILES_REQUIRED)}, first_name, last_name FROM customer_profiles")
        profiles = with_live_consent(profiles, live_consent_state(s, landing.root, now))
    sender = email_sender.build()
    chunks = deliver_chunks(rendered, profiles, sender, from_email=email_sender.from_email,
                            from_name=email_sender.from_name, now=now,
                            unsubscribe_base_url=content.unsubscribe_base_url)

    def append(df) -> None:  # after sending, never inside a transaction held while sending
        with warehouse.session() as s:
            s.write_table("email_sends", df, mode="append")

    # The audit rows are written first (also when delivery stops half-way); checks and figures come after.
    sends = deliver_and_record(chunks, append, Path(email_sender.ledger_path).parent / "email_sends_unwritten")
    status = sends["status"].value_counts()
    meta = table_metadata(
        sends,
        sent=int(status.get("sent", 0)),
        skipped_already_sent=int(status.get("skipped_already_sent", 0)),
        blocked_no_consent=int(status.get("blocked_no_consent", 0)),
        failed=int(status.get("failed", 0)),
    )
    meta["provider"] = sender.provider
    if sender.provider == "outbox":
        meta["outbox"] = MetadataValue.path(email_sender.outbox_dir)
    return MaterializeResult(metadata=meta, check_results=[
        schema_check_result("email_sends", EmailSendsSchema, sends),
        _stale_claims_result(sender.unresolved_claims()),
    ])


def _stale_claims_result(entries) -> AssetCheckResult:
    summary = stale_claims_summary(entries)
    table = summary["first_claims"]
    return AssetCheckResult(
        asset_key=AssetKey("email_sends"),
        check_name=STALE_CLAIMS_CHECK,
        passed=not entries,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "stale_claims": MetadataValue.int(summary["stale_claims"]),
            "by_provider": MetadataValue.json(summary["by_provider"]),
            "oldest_claimed_at": MetadataValue.text(summary["oldest_claimed_at"] or "-"),
            "first_claims": MetadataValue.md(table.to_markdown(index=False) if len(table) else "_(none)_"),
        },
    )


ASSETS = [email_sends]
