"""Outgoing email messages: one recipient, one campaign, one idempotency key.

Pure functions, no I/O. Two renderings of the same :class:`OutgoingEmail`:

- :func:`build_mime_message` -> a real RFC 5322 ``multipart/alternative`` message (text/plain + text/html,
  UTF-8) that a mail client opens as-is (written to the outbox as ``<message_key>.eml``);
- :func:`build_sendgrid_payload` -> the exact JSON body of SendGrid v3 ``POST /v3/mail/send``, built with the
  official ``sendgrid.helpers.mail`` classes (written beside the .eml and sent by the SendGrid provider).

Both carry RFC 8058 one-click unsubscribe headers and the Tailor tracking headers.
"""

from __future__ import annotations

import email.policy
import email.utils
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart

from sendgrid.helpers.mail import (
    Category,
    ClickTracking,
    Content,
    CustomArg,
    From,
    Header,
    Mail,
    OpenTracking,
    Personalization,
    Subject,
    SubscriptionTracking,
    To,
    TrackingSettings,
)

LIST_UNSUBSCRIBE_POST = "List-Unsubscribe=One-Click"
HEADER_MESSAGE_KEY = "X-Tailor-Message-Key"
HEADER_CAMPAIGN = "X-Tailor-Campaign"
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@dataclass(frozen=True)
class OutgoingEmail:
    """One email to one recipient. ``message_key`` is the idempotency key (see rendered_emails)."""

    message_key: str
    campaign_id: str
    customer_id: str
    to_email: str
    to_name: str | None
    from_email: str
    from_name: str | None
    subject: str
    html: str
    text: str
    unsubscribe_url: str
    categories: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> None:
        """Raise ValueError naming the first missing/invalid field (never the address itself)."""
        for name in ("message_key", "campaign_id", "customer_id", "to_email", "from_email", "subject",
                     "html", "text", "unsubscribe_url"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"OutgoingEmail {self.message_key!r}: field {name!r} is empty or not a string")
        for name in ("campaign_id", "customer_id", "to_email", "to_name", "from_email", "from_name", "subject"):
            value = getattr(self, name)
            if value is not None and ("\r" in value or "\n" in value):
                raise ValueError(f"OutgoingEmail {self.message_key!r}: field {name!r} contains a line break")
        if not _SAFE_KEY.fullmatch(self.message_key):
            raise ValueError(
                f"OutgoingEmail {self.message_key!r}: message_key must be 1-64 characters of [A-Za-z0-9._-]"
            )
        for name in ("to_email", "from_email"):
            if "@" not in getattr(self, name):
                raise ValueError(f"OutgoingEmail {self.message_key!r}: field {name!r} is not an email address")
        if not self.unsubscribe_url.startswith(("https://", "http://")):
            raise ValueError(
                f"OutgoingEmail {self.message_key!r}: unsubscribe_url must be an http(s) URL (RFC 8058)"
            )
        if any(c in self.unsubscribe_url for c in "<>\r\n \t"):
            raise ValueError(f"OutgoingEmail {self.message_key!r}: unsubscribe_url contains <, >, or whitespace")

    @property
    def effective_categories(self) -> list[str]:
        """SendGrid categories: the given ones, else ``[campaign_id]``."""
        return list(self.categories) if self.categories else [self.campaign_id]


def message_id_for(email_: OutgoingEmail) -> str:
    """Deterministic RFC 5322 Message-ID: ``<message_key@from-domain>``."""
    domain = email_.from_email.rpartition("@")[2].strip().lower() or "tailor.invalid"
    return f"<{email_.message_key}@{domain}>"


def list_unsubscribe_headers(email_: OutgoingEmail) -> dict[str, str]:
    """RFC 2369 + RFC 8058 one-click unsubscribe headers."""
    return {
        "List-Unsubscribe": f"<{email_.unsubscribe_url}>",
        "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
    }


def _address(addr: str, name: str | None) -> Address:
    local, _, domain = addr.strip().rpartition("@")
    return Address(display_name=(name or "").strip(), username=local, domain=domain)


def build_mime_message(email_: OutgoingEmail, date: datetime | None = None) -> EmailMessage:
    """Build the multipart/alternative MIME message (text/plain first, then text/html; both UTF-8).

    ``date`` (default: now, UTC) fills the Date header; naive datetimes are taken as UTC.
    Serialise with ``msg.as_bytes()`` (the message uses ``email.policy.SMTP``: CRLF line ends, RFC 2047
    encoded non-ASCII headers, quoted-printable bodies so lines stay under 998 octets).
    """
    email_.validate()
    when = date or datetime.now(timezone.utc)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)

    msg = EmailMessage(policy=email.policy.SMTP)
    msg["From"] = _address(email_.from_email, email_.from_name)
    msg["To"] = _address(email_.to_email, email_.to_name)
    msg["Subject"] = email_.subject
    msg["Date"] = email.utils.format_datetime(when.astimezone(timezone.utc))
    msg["Message-ID"] = message_id_for(email_)
    for name, value in list_unsubscribe_headers(email_).items():
        msg[name] = value
    msg[HEADER_MESSAGE_KEY] = email_.message_key
    msg[HEADER_CAMPAIGN] = email_.campaign_id

    msg["MIME-Version"] = "1.0"
    msg.make_alternative()
    for subtype, body in (("plain", email_.text), ("html", email_.html)):
        part = MIMEPart(policy=email.policy.SMTP)
        part.set_content(body, subtype=subtype, charset="utf-8", cte="quoted-printable")
        msg.attach(part)
    # Deterministic boundary; "=_" can never occur inside quoted-printable output, so it is collision-free.
    msg.set_boundary(f"=_tailor_{email_.message_key}")
    return msg


def build_sendgrid_mail(email_: OutgoingEmail) -> Mail:
    """The SendGrid v3 request as an official ``sendgrid.helpers.mail.Mail`` object."""
    email_.validate()
    mail = Mail()

    sender = From()
    sender.email = email_.from_email
    if email_.from_name:
        sender.name = email_.from_name
    mail.from_email = sender
    mail.subject = Subject(email_.subject)

    to = To()
    to.email = email_.to_email  # set directly: the constructor would re-parse "Name <addr>" strings
    if email_.to_name:
        to.name = email_.to_name
    personalization = Personalization()
    personalization.add_to(to)
    personalization.add_custom_arg(CustomArg("message_key", email_.message_key))
    personalization.add_custom_arg(CustomArg("campaign_id", email_.campaign_id))
    personalization.add_custom_arg(CustomArg("customer_id", email_.customer_id))
    mail.add_personalization(personalization)

    # The helper always orders text/plain before text/html, as the API requires.
    mail.add_content(Content("text/plain", email_.text))
    mail.add_content(Content("text/html", email_.html))

    headers = {**list_unsubscribe_headers(email_), HEADER_MESSAGE_KEY: email_.message_key,
               HEADER_CAMPAIGN: email_.campaign_id}
    for name, value in headers.items():
        mail.add_header(Header(name, value))
    for category in reversed(email_.effective_categories):  # add_category() prepends; keep given order
        mail.add_category(Category(category))

    tracking = TrackingSettings()
    tracking.click_tracking = ClickTracking(True, False)
    tracking.open_tracking = OpenTracking(True)
    # We bring our own unsubscribe link + List-Unsubscribe headers; stop SendGrid adding its own footer.
    tracking.subscription_tracking = SubscriptionTracking(False)
    mail.tracking_settings = tracking
    return mail


def build_sendgrid_payload(email_: OutgoingEmail) -> dict:
    """The exact JSON body of SendGrid v3 ``POST /v3/mail/send`` for this email."""
    return build_sendgrid_mail(email_).get()
