"""The vocabulary of sending, shared by the delivery step and the senders: results, statuses, the sender
protocol, how many messages one ledger transaction handles, how long an error may be, and the two ways a
provider call can fail."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from tailor.delivery.messages import OutgoingEmail

SEND_STATUSES = ("sent", "skipped_already_sent", "blocked_no_consent", "failed")
PROVIDERS = ("outbox", "sendgrid")
#: Messages per ledger claim transaction and per results transaction (and per consent re-check in deliver()).
SEND_CHUNK_SIZE = 200
#: Longest error text in a SendResult (and so in email_sends).
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class SendResult:
    """Outcome of one send. ``status`` is one of SEND_STATUSES (never blocked_no_consent)."""

    status: str
    provider: str
    provider_message_id: str | None = None
    error: str | None = None


class Sender(Protocol):
    """What deliver() needs of a sender (``tailor.delivery.sender.EmailSender``, or a test double)."""

    @property
    def provider(self) -> str: ...

    def send_many(self, emails: Sequence[OutgoingEmail]) -> list[SendResult]: ...


class NotSent(Exception):
    """The provider definitely did not accept the message; safe to retry later."""


class Uncertain(Exception):
    """The request may have reached the provider; must not be retried automatically."""
