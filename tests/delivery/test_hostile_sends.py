"""Hostile names, subjects and addresses (issue 11, items 1 and 8): nothing a CRM field or a rendered subject
holds may become a header of the .eml or a control character of the SendGrid payload, and every header line
stays within RFC 5322's 998 octets."""

import base64
import email
import email.header
import email.policy
import json
import re
import unicodedata

import pytest

from tailor.delivery.ledger import SendLedger
from tailor.delivery.messages import build_mime_bytes, build_sendgrid_payload
from tests.delivery.test_messages import DATE, make_email
from tests.delivery.test_sender import FakeSendGrid, outbox_sender, sendgrid_sender
from tests.delivery.test_sender import make_email as make_send

HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "List-Unsubscribe", "List-Unsubscribe-Post",
           "X-Tailor-Message-Key", "X-Tailor-Campaign", "MIME-Version", "Content-Type"]
INJECTED = b"x\r\nBcc: attacker@evil.example"
Q_WORD = "=?utf-8?q?x=0D=0ABcc=3A_attacker=40evil=2Eexample?="
B_WORD = f"=?utf-8?b?{base64.b64encode(INJECTED).decode()}?="
UPPER_Q_WORD = "=?UTF-8?Q?x=0D=0ABcc=3A_attacker=40evil=2Eexample?="
MAX_NAME_CHARS = 100  # the documented limit of a display name (docs/delivery.md)


def parsed(raw: bytes):
    return email.message_from_bytes(raw, policy=email.policy.default)


def rfc2047_display_name(raw: bytes) -> str:
    """The To display name as RFC 2047 readers decode it: adjacent encoded-words joined without the whitespace
    between them. (Python's policy-based parser inserts a space there inside a phrase, so a name split over
    several encoded-words reads with extra spaces in it; the header set and the address are unaffected.)"""
    value = email.message_from_bytes(raw, policy=email.policy.compat32)["To"]
    phrase = re.sub(r"\r?\n[ \t]", " ", value).rsplit(" <", 1)[0]
    return str(email.header.make_header(email.header.decode_header(phrase)))


def header_block(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def assert_lines_fit(raw: bytes) -> None:
    """RFC 5322: every line at most 998 octets (MUST) and 78 (SHOULD). List-Unsubscribe is the one exception to
    78: it is written verbatim on one line (up to 900 characters of URL), never folded."""
    lines = header_block(raw)
    assert max(len(line) for line in lines) <= 998
    assert max(len(line) for line in lines if not line.startswith(b"List-Unsubscribe:")) <= 78


def no_line_break(text: str) -> bool:
    return not any(c in text for c in "\r\n\x00\x0b\x0c\x85\u2028\u2029")


# --- item 1: the header writer never decodes what it writes ----------------------------------------------

@pytest.mark.parametrize("word", [Q_WORD, B_WORD, UPPER_Q_WORD, f"Anna {Q_WORD} Klein", f"{B_WORD}{Q_WORD}"])
def test_an_encoded_word_is_written_as_text_never_decoded_into_headers(word):
    # validate=False: the writer itself must be safe, whatever validation lets through
    raw = build_mime_bytes(make_email(to_name=word, subject=f"Hi {word}, 10% off", campaign_id=word),
                           date=DATE, validate=False)
    msg = parsed(raw)
    assert list(msg.keys()) == HEADERS
    assert b"Bcc" not in raw and b"attacker" not in raw
    assert rfc2047_display_name(raw) == word[:MAX_NAME_CHARS]  # the literal text, decoded exactly once
    assert [a.addr_spec for a in msg["To"].addresses] == ["anna.k@example.com"]
    assert msg["Subject"] == f"Hi {word}, 10% off"
    assert msg["X-Tailor-Campaign"] == word
    assert no_line_break(msg["To"].addresses[0].display_name) and no_line_break(msg["Subject"])


@pytest.mark.parametrize("field", ["to_name", "subject", "from_name"])
@pytest.mark.parametrize("word", [Q_WORD, B_WORD, UPPER_Q_WORD])
def test_an_encoded_word_in_a_name_or_subject_is_refused_for_both_providers(field, word):
    bad = make_email(**{field: f"Hi {word}"})
    with pytest.raises(ValueError, match=f"{field}.*encoded-word"):
        build_mime_bytes(bad, date=DATE)
    with pytest.raises(ValueError, match=f"{field}.*encoded-word"):
        build_sendgrid_payload(bad)


@pytest.mark.parametrize("field", ["to_name", "subject", "from_name", "campaign_id"])
@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\x0b", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\t"])
def test_control_characters_and_line_separators_are_refused(field, char):
    bad = make_email(**{field: f"Anna{char}Bcc: attacker@evil.example"})
    with pytest.raises(ValueError, match=f"{field}.*control character or line break"):
        build_mime_bytes(bad, date=DATE)
    with pytest.raises(ValueError, match=f"{field}.*control character or line break"):
        build_sendgrid_payload(bad)


def test_format_characters_are_removed_from_names_and_subjects_alike():
    name = "\u202eAnna\u200b \ufeffKlein\u2066"  # right-to-left override, zero-width space, BOM, isolate
    subject = "Hi \u202eAnna\u202c, 10% off \U0001F468\u200d\U0001F469\u200d\U0001F467"  # keeps the family ZWJ
    message = make_email(to_name=name, subject=subject)
    msg = parsed(build_mime_bytes(message, date=DATE))
    assert list(msg.keys()) == HEADERS
    assert msg["To"].addresses[0].display_name == "Anna Klein"
    assert msg["Subject"] == "Hi Anna, 10% off \U0001F468\u200d\U0001F469\u200d\U0001F467"
    payload = build_sendgrid_payload(message)
    assert payload["personalizations"][0]["to"][0]["name"] == "Anna Klein"
    assert payload["subject"] == msg["Subject"]


def test_specials_in_names_stay_one_display_name():
    for name in ('O\'Brien, "Pat" <pat@evil.example>', "Anna; Bcc: a@evil.example", "Anna\\Klein (CEO)",
                 "=?", "a=?b", "Ånna, Müller"):
        msg = parsed(build_mime_bytes(make_email(to_name=name), date=DATE))
        assert list(msg.keys()) == HEADERS
        assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [(name, "anna.k@example.com")]


# --- item 8: addresses, and header lines within 998 octets -----------------------------------------------

@pytest.mark.parametrize("address, reason", [
    ("probe09@example.com>", "contains a space, one of"),
    ("probe09@exa\x00mple.com", "control character"),
    ("Anna <anna@example.com>", "contains a space, one of"),
    ("anna@example.com\r\nBcc: x@evil.example", "control character"),
    ("jörg@example.com", "non-ASCII local part"),
])
def test_unusable_recipient_addresses_are_refused_with_a_masked_reason(address, reason):
    bad = make_email(to_email=address)
    with pytest.raises(ValueError, match="to_email") as refused:
        build_mime_bytes(bad, date=DATE)
    assert reason in str(refused.value) and "probe09" not in str(refused.value) and "anna@" not in str(refused.value)
    with pytest.raises(ValueError, match="to_email"):
        build_sendgrid_payload(bad)


def test_the_recipient_address_is_written_normalised():
    message = make_email(to_email=" Anna.K\u200b@Example.COM ", to_name=None)
    assert parsed(build_mime_bytes(message, date=DATE))["To"] == "anna.k@example.com"
    assert build_sendgrid_payload(message)["personalizations"][0]["to"] == [{"email": "anna.k@example.com"}]
    idn = make_email(to_email="anna@bücher.example", to_name=None)
    assert parsed(build_mime_bytes(idn, date=DATE))["To"] == "anna@xn--bcher-kva.example"
    assert build_sendgrid_payload(idn)["personalizations"][0]["to"] == [{"email": "anna@xn--bcher-kva.example"}]


@pytest.mark.parametrize("name", ["A" * 10_000, "Ä" * 10_000, "Anna " * 2_000, "🎉" * 5_000, "x" * 99 + "🎉é"])
def test_a_long_name_is_truncated_to_the_documented_limit_and_every_line_fits(name):
    message = make_email(to_name=name, subject="Hi " + name[:300])
    raw = build_mime_bytes(message, date=DATE)
    assert_lines_fit(raw)
    msg = parsed(raw)
    assert list(msg.keys()) == HEADERS
    expected = " ".join(name.split())[:MAX_NAME_CHARS].strip()
    assert rfc2047_display_name(raw) == expected
    assert [a.addr_spec for a in msg["To"].addresses] == ["anna.k@example.com"]
    assert msg["Subject"] == "Hi " + name[:300]  # subjects are folded, not cut
    assert build_sendgrid_payload(message)["personalizations"][0]["to"][0]["name"] == expected


def test_a_subject_longer_than_998_characters_is_refused():
    with pytest.raises(ValueError, match="subject.*longer than 998"):
        build_mime_bytes(make_email(subject="x" * 999), date=DATE)
    raw = build_mime_bytes(make_email(subject="x" * 998), date=DATE)  # one word: folded as encoded-words
    assert_lines_fit(raw)
    assert parsed(raw)["Subject"] == "x" * 998


@pytest.mark.parametrize("overrides", [
    {"campaign_id": "c" * 400}, {"campaign_id": "spring " * 60}, {"from_name": "Tailor " * 300},
    {"subject": "word " * 190}, {"subject": "=?" * 400},
])
def test_every_header_line_fits(overrides):
    raw = build_mime_bytes(make_email(**overrides), date=DATE, validate=False)
    assert_lines_fit(raw)
    msg = parsed(raw)
    assert list(msg.keys()) == HEADERS
    for field, header in (("campaign_id", "X-Tailor-Campaign"), ("subject", "Subject")):
        if field in overrides:
            assert msg[header] == overrides[field].strip() or msg[header] == overrides[field]


# --- both providers through the sender: refused rows are never claimed, never sent ------------------------

HOSTILE_ROWS = [
    {"to_name": Q_WORD}, {"to_name": B_WORD}, {"subject": f"Hi {Q_WORD}"}, {"subject": f"Hi {B_WORD}"},
    {"to_name": "Anna\x00"}, {"subject": "Hi\r\nBcc: attacker@evil.example"}, {"to_email": "probe09@example.com>"},
    {"to_email": "an\x00na@example.com"},
]


def hostile_batch():
    good = [make_send(f"{i:032x}", customer_id=f"cus_g{i}", to_email=f"g{i}@example.com",
                      to_name="\u202eGood\u200b Name") for i in range(3)]
    bad = [make_send(f"{100 + i:032x}", customer_id=f"cus_b{i}", **row) for i, row in enumerate(HOSTILE_ROWS)]
    return good, bad


def test_outbox_refuses_hostile_rows_before_claiming_and_writes_clean_emls(tmp_path):
    good, bad = hostile_batch()
    results = outbox_sender(tmp_path).send_many(good + bad)
    assert [r.status for r in results] == ["sent"] * len(good) + ["failed"] * len(bad)
    assert all("invalid message" in r.error and "probe09@" not in r.error for r in results[len(good):])
    ledger = SendLedger(tmp_path / "ledger.sqlite")
    assert all(ledger.status(e.message_key) is None for e in bad)  # never claimed
    folder = tmp_path / "outbox" / "spring_sale"
    assert sorted(p.stem for p in folder.glob("*.eml")) == sorted(e.message_key for e in good)
    for path in folder.glob("*.eml"):
        msg = parsed(path.read_bytes())
        assert list(msg.keys()) == HEADERS
        assert msg["To"].addresses[0].display_name == "Good Name"
    for path in folder.glob("*.sendgrid.json"):
        payload = json.loads(path.read_bytes())
        assert payload["personalizations"][0]["to"][0]["name"] == "Good Name"


def test_sendgrid_gets_no_hostile_request_and_no_control_or_format_character(tmp_path):
    good, bad = hostile_batch()
    with FakeSendGrid() as fake:
        results = sendgrid_sender(tmp_path, fake.host).send_many(good + bad)
    assert [r.status for r in results] == ["sent"] * len(good) + ["failed"] * len(bad)
    assert len(fake.requests) == len(good)
    for request in fake.requests:
        body = request["json"]
        texts = [body["subject"], body["from"].get("name", ""),
                 *(to.get("name", "") + to["email"] for to in body["personalizations"][0]["to"])]
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Zl", "Zp") for text in texts for c in text)
        assert "=?" not in json.dumps(body)
        assert body["personalizations"][0]["to"][0]["name"] == "Good Name"


# --- deliver(): the profile's address is compared and validated through tailor.addresses ------------------

def test_deliver_refuses_an_unusable_profile_address_and_matches_a_cleaned_one(tmp_path):
    import pandas as pd

    from tailor.delivery.deliver import EmailSendsSchema, deliver
    from tests.delivery.test_deliver import NOW, key, profile, rendered_row

    profiles = pd.DataFrame([profile("cus_1", "probe09@example.com>"), profile("cus_2", "zw.test@example.com\u200b"),
                             profile("cus_3", "nul\x00@example.com")])
    rendered = pd.DataFrame([rendered_row("cus_1", "probe09@example.com>"), rendered_row("cus_2", "ZW.test@example.com"),
                             rendered_row("cus_3", "nul\x00@example.com")])
    sender = outbox_sender(tmp_path)
    sends = deliver(rendered, profiles, sender, "hello@tailor.example", "Tailor Shop", NOW)
    EmailSendsSchema.validate(sends)
    by = sends.set_index("customer_id")
    assert by["status"].to_dict() == {"cus_1": "failed", "cus_2": "sent", "cus_3": "failed"}
    assert "not a usable email address: contains a space, one of" in by.loc["cus_1", "error"]
    assert "not a usable email address: contains a control character" in by.loc["cus_3", "error"]
    assert "probe09" not in " ".join(sends.astype(str).to_numpy().ravel())
    assert SendLedger(tmp_path / "ledger.sqlite").counts() == {"claimed": 0, "sent": 1, "failed": 0}
    eml = tmp_path / "outbox" / "spring_sale" / f"{key('cus_2')}.eml"
    assert [a.addr_spec for a in parsed(eml.read_bytes())["To"].addresses] == ["zw.test@example.com"]
