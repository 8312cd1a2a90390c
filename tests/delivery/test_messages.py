"""Tests for tailor.delivery.messages: the .eml bytes and the SendGrid payload of one OutgoingEmail."""

import dataclasses
import email
import email.policy
import email.utils
import json
from datetime import datetime, timezone

import pytest
from sendgrid.helpers.mail import Mail

from tailor.delivery.messages import (
    OutgoingEmail,
    build_mime_bytes,
    build_sendgrid_mail,
    build_sendgrid_payload,
    mime_closing_delimiter,
    sendgrid_request_body,
)

KEY = "3f1c2a9b8d7e6f5a4b3c2d1e0f9a8b7c"
UNSUB = "https://shop.example/unsubscribe?customer_id=cus_000042&message_key=" + KEY
TEXT = "Hallo Anna,\n\nDein Rabattcode: VIP10 – 10% auf alles.\n"
HTML = '<html><body><p>Hallo <b>Anna</b> 🎉</p><p>Code: VIP10 – 10% für dich</p><a href="https://shop.example/p/P0001">Jacke</a></body></html>'


def make_email(**overrides) -> OutgoingEmail:
    base = dict(
        message_key=KEY,
        campaign_id="spring_sale",
        customer_id="cus_000042",
        to_email="anna.k@example.com",
        to_name="Anna Müller",
        from_email="hello@tailor.example",
        from_name="Tailor Shop",
        subject="Anna, 10% für dich – nur diese Woche",
        html=HTML,
        text=TEXT,
        unsubscribe_url=UNSUB,
        categories=(),
    )
    base.update(overrides)
    return OutgoingEmail(**base)


DATE = datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc)


def parsed(msg_bytes: bytes):
    return email.message_from_bytes(msg_bytes, policy=email.policy.default)


def test_mime_message_parses_back_with_both_parts_and_personalised_bodies():
    raw = build_mime_bytes(make_email(), date=DATE)
    msg = parsed(raw)

    assert msg.is_multipart()
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["MIME-Version"] == "1.0"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    plain, html = (p.get_content().replace("\r\n", "\n") for p in parts)
    assert plain == TEXT
    assert html == HTML + "\n"
    assert "Hallo Anna" in plain and "🎉" in html and "für dich" in html


def test_mime_headers():
    msg = parsed(build_mime_bytes(make_email(), date=DATE))

    assert msg["From"].addresses[0].display_name == "Tailor Shop"
    assert msg["From"].addresses[0].addr_spec == "hello@tailor.example"
    assert msg["To"].addresses[0].display_name == "Anna Müller"
    assert msg["To"].addresses[0].addr_spec == "anna.k@example.com"
    assert msg["Subject"] == "Anna, 10% für dich – nur diese Woche"
    assert email.utils.parsedate_to_datetime(msg["Date"]) == DATE
    assert msg["Message-ID"] == f"<{KEY}@tailor.example>"
    assert msg["List-Unsubscribe"] == f"<{UNSUB}>"
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["X-Tailor-Message-Key"] == KEY
    assert msg["X-Tailor-Campaign"] == "spring_sale"


def test_mime_bytes_are_deterministic_ascii_and_smtp_safe():
    email_ = make_email(html="<p>" + "x" * 5000 + "</p>")
    a = build_mime_bytes(email_, date=DATE)
    b = build_mime_bytes(email_, date=DATE)
    assert a == b  # deterministic boundary and Message-ID
    a.decode("ascii")  # 7-bit clean: non-ASCII is RFC 2047 / quoted-printable encoded
    assert all(len(line) <= 998 for line in a.split(b"\r\n"))
    assert b"\r\n" in a and b"\n" not in a.replace(b"\r\n", b"")


def test_naive_date_is_utc():
    msg = parsed(build_mime_bytes(make_email(), date=datetime(2025, 3, 14, 9, 30)))
    assert email.utils.parsedate_to_datetime(msg["Date"]) == DATE


def test_sendgrid_payload_is_exact():
    payload = build_sendgrid_payload(make_email())
    assert payload == {
        "from": {"email": "hello@tailor.example", "name": "Tailor Shop"},
        "subject": "Anna, 10% für dich – nur diese Woche",
        "personalizations": [
            {
                "to": [{"email": "anna.k@example.com", "name": "Anna Müller"}],
                "custom_args": {"message_key": KEY, "campaign_id": "spring_sale", "customer_id": "cus_000042"},
            }
        ],
        "content": [{"type": "text/plain", "value": TEXT}, {"type": "text/html", "value": HTML}],
        "headers": {
            "List-Unsubscribe": f"<{UNSUB}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Tailor-Message-Key": KEY,
            "X-Tailor-Campaign": "spring_sale",
        },
        "categories": ["spring_sale"],
        "tracking_settings": {
            "click_tracking": {"enable": True, "enable_text": False},
            "open_tracking": {"enable": True},
            "subscription_tracking": {"enable": False},
        },
    }
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert json.loads(json.dumps(payload)) == payload  # JSON-serialisable as is


def test_sendgrid_payload_is_built_with_official_helper():
    mail = build_sendgrid_mail(make_email())
    assert isinstance(mail, Mail)
    assert mail.get() == build_sendgrid_payload(make_email())


def test_sendgrid_payload_without_names_and_with_explicit_categories():
    payload = build_sendgrid_payload(make_email(to_name=None, from_name="", categories=("spring_sale", "vip")))
    assert payload["personalizations"][0]["to"] == [{"email": "anna.k@example.com"}]
    assert payload["from"] == {"email": "hello@tailor.example"}
    assert payload["categories"] == ["spring_sale", "vip"]
    # an address that looks like "Name <addr>" is not re-parsed by the helper
    msg = parsed(build_mime_bytes(make_email(to_name=None), date=DATE))
    assert msg["To"] == "anna.k@example.com"


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"unsubscribe_url": ""}, "unsubscribe_url"),
        ({"unsubscribe_url": "mailto:u@shop.example"}, "http(s)"),
        ({"subject": "Hi\r\nBcc: evil@example.com"}, "line break"),
        ({"to_email": "not-an-address"}, "to_email"),
        ({"message_key": "../../etc/passwd"}, "message_key"),
        ({"html": ""}, "html"),
    ],
)
def test_invalid_messages_are_rejected_by_both_builders(overrides, fragment):
    bad = make_email(**overrides)
    with pytest.raises(ValueError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        build_mime_bytes(bad)
    with pytest.raises(ValueError):
        build_sendgrid_payload(bad)


def test_message_id_uses_from_domain():
    msg = parsed(build_mime_bytes(make_email(from_email="News@Mail.Shop.Example"), date=DATE))
    assert msg["Message-ID"] == f"<{KEY}@mail.shop.example>"
    assert dataclasses.is_dataclass(make_email())


def test_long_list_unsubscribe_url_stays_verbatim_on_one_line():
    url = "https://shop.example/unsubscribe?customer_id=cus_000042&message_key=" + KEY + "&sig=" + "a" * 120
    raw = build_mime_bytes(make_email(unsubscribe_url=url), date=DATE)
    assert f"\r\nList-Unsubscribe: <{url}>\r\n".encode() in raw  # never folded or RFC 2047 encoded
    assert parsed(raw)["List-Unsubscribe"] == f"<{url}>"


@pytest.mark.parametrize("url, fragment", [
    ("https://shop.example/abmelden/für-dich", "printable ASCII"),
    ("https://shop.example/u?t=" + "a" * 900, "longer than 900"),
])
def test_unsubscribe_url_must_fit_a_header_line(url, fragment):
    with pytest.raises(ValueError, match=fragment):
        build_mime_bytes(make_email(unsubscribe_url=url))


@pytest.mark.parametrize("subject_in", [
    "Grüße aus München – " * 8,  # long, non-ASCII, trailing space
    "🎉" * 40,
    "A plain ASCII subject that is far too long to fit on one single header line of 78 characters",
])
def test_long_headers_fold_under_78_and_decode_exactly(subject_in):
    raw = build_mime_bytes(make_email(subject=subject_in, to_name="Ånna-Maria Müller-Lüdenscheidt"), date=DATE)
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    subject = head[head.index("\r\nSubject:") + 2:head.index("\r\nDate:")]
    assert all(len(line) <= 78 for line in subject.split("\r\n"))
    msg = parsed(raw)
    assert msg["Subject"] == subject_in
    assert msg["To"].addresses[0].display_name == "Ånna-Maria Müller-Lüdenscheidt"


def test_mime_bytes_end_with_the_closing_delimiter():
    assert build_mime_bytes(make_email(), date=DATE).endswith(mime_closing_delimiter(KEY))


def test_lone_surrogate_is_rejected_as_invalid_text():
    with pytest.raises(ValueError, match="not valid Unicode"):
        build_mime_bytes(make_email(html="<p>\ud800</p>"))


def test_sendgrid_request_body_is_the_json_the_client_posts():
    payload = build_sendgrid_payload(make_email())
    assert sendgrid_request_body(payload) == json.dumps(payload).encode("utf-8")
    assert json.loads(sendgrid_request_body(payload)) == payload
