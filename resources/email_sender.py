"""The email provider as a Dagster resource: configuration (environment variables) and construction only.

The send protocol — claim in the ledger, hand over, record — is :class:`tailor.delivery.sender.EmailSender`.
"""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from tailor.delivery.sender import EmailSender


class EmailSenderResource(ConfigurableResource):
    """SendGrid when an API key is set, else the ``.eml`` outbox; every send through the idempotent ledger."""

    outbox_dir: str = Field(description="Outbox folder (TAILOR_OUTBOX_DIR).")
    ledger_path: str = Field(description="sqlite send ledger (TAILOR_SEND_LEDGER_PATH).")
    from_email: str = Field(description="Sender address (TAILOR_FROM_EMAIL).")
    from_name: str = Field(description="Sender name (TAILOR_FROM_NAME).")
    max_concurrent_sends: int = Field(description="Messages handed to the provider at once (TAILOR_MAX_CONCURRENT_SENDS).")
    sendgrid_api_key: str | None = Field(default=None, description="SendGrid API key (SENDGRID_API_KEY); unset = outbox.")
    sendgrid_api_host: str | None = Field(default=None, description="SendGrid API base URL (SENDGRID_API_HOST).")
    request_timeout_seconds: float = Field(default=30.0, description="HTTP timeout for SendGrid calls.")

    def build(self) -> EmailSender:
        """The sender this configuration describes (one per run: it keeps one ledger connection)."""
        return EmailSender(
            outbox_dir=self.outbox_dir, ledger_path=self.ledger_path, sendgrid_api_key=self.sendgrid_api_key,
            sendgrid_api_host=self.sendgrid_api_host, request_timeout_seconds=self.request_timeout_seconds,
            max_concurrent_sends=self.max_concurrent_sends,
        )
