"""Stage 6 — delivery: send every rendered email once, and only to customers who may receive it."""


from datetime import datetime, timezone

from dagster import MaterializeResult, MetadataValue, asset

from assets.metadata import schema_check_result, schema_check_spec, table_definition_metadata, table_metadata
from resources.content import MarketingContent
from resources.email_sender import EmailSenderResource
from resources.warehouse import WarehouseResource
from tailor.delivery.deliver import PROFILES_REQUIRED, EmailSendsSchema, deliver


@asset(
    deps=["rendered_emails", "customer_profiles"],
    kinds={"sendgrid"},
    description=(
        "One row per email handed to the provider (SendGrid, or the .eml outbox when no API key is set). "
        "Consent is checked again against the current profile; a send ledger makes every send idempotent."
    ),
    check_specs=[schema_check_spec("email_sends")],
    metadata=table_definition_metadata(EmailSendsSchema),
)
def email_sends(warehouse: WarehouseResource, email_sender: EmailSenderResource, content: MarketingContent) -> MaterializeResult:
    with warehouse.session() as s:
        rendered = s.query("SELECT * FROM rendered_emails")
        profiles = s.query(f"SELECT {', '.join(PROFILES_REQUIRED)}, first_name, last_name FROM customer_profiles")
    sender = email_sender.build()
    sends = deliver(rendered, profiles, sender, from_email=email_sender.from_email, from_name=email_sender.from_name,
                    now=datetime.now(timezone.utc).replace(tzinfo=None),
                    unsubscribe_base_url=content.unsubscribe_base_url)
    with warehouse.session() as s:   # after sending, never inside a transaction held while sending
        s.write_table("email_sends", sends, mode="append")
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
    return MaterializeResult(metadata=meta,
                             check_results=[schema_check_result("email_sends", EmailSendsSchema, sends)])


ASSETS = [email_sends]
