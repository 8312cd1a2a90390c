"""The production provider: SendGrid's v3 mail send through the official ``sendgrid`` client, with errors
sorted into "definitely not sent" (:class:`NotSent`) and "may have been accepted" (:class:`Uncertain`)."""

from __future__ import annotations

import json
import threading
import urllib.error

import python_http_client.exceptions as http_errors
import sendgrid

from tailor.delivery.protocol import NotSent, Uncertain

SENDGRID_DEFAULT_HOST = "https://api.sendgrid.com"


class ClientPerThread:
    """One ``SendGridAPIClient`` per worker thread, reused for all of that thread's requests.

    Not shared between threads: ``python_http_client.Client`` hands one mutable ``request_headers`` dict to
    every derived client (``client.mail.send``) and mutates it per request (``setdefault("Content-Type")``,
    ``request_headers=`` updates) while ``urllib.request.Request`` iterates it, so it is not thread-safe.
    """

    def __init__(self, api_key: str | None, host: str) -> None:
        self.api_key, self.host = api_key, host
        self._local = threading.local()

    def get(self) -> sendgrid.SendGridAPIClient:
        client = getattr(self._local, "client", None)
        if client is None:
            try:
                client = sendgrid.SendGridAPIClient(api_key=self.api_key, host=self.host)
            except Exception as exc:
                raise NotSent(f"SendGrid client setup failed: {type(exc).__name__}") from None
            self._local.client = client
        return client


def describe_http_error(exc: http_errors.HTTPError) -> str:
    """SendGrid's error answer in one line: status, reason and the fields it names."""
    body = exc.body.decode("utf-8", "replace") if isinstance(exc.body, bytes) else str(exc.body or "")
    detail = body
    try:
        errors = json.loads(body).get("errors") or []
        parts = [": ".join(str(x) for x in (e.get("field"), e.get("message")) if x) for e in errors]
        if any(parts):
            detail = "; ".join(p for p in parts if p)
    except (ValueError, AttributeError):
        pass
    return f"SendGrid HTTP {exc.status_code} {exc.reason}: {detail}".strip().rstrip(":")


def post_mail(client: sendgrid.SendGridAPIClient, payload: dict, timeout: float) -> str | None:
    """POST one v3 mail/send payload; SendGrid's ``X-Message-Id``, or None when it gives none."""
    try:
        response = client.client.mail.send.post(request_body=payload, timeout=timeout)
    except http_errors.HTTPError as exc:
        # SendGrid answered with an error status: the message was not accepted.
        raise NotSent(describe_http_error(exc)) from None
    except urllib.error.URLError as exc:
        # urllib raises URLError only while connecting / writing the request (DNS, refused, connect
        # timeout, reset mid-body): the request never arrived complete, so it was not accepted.
        reason = exc.reason
        raise NotSent(f"SendGrid unreachable: {type(reason).__name__}: {reason}") from None
    except Exception as exc:  # read timeout / reset while awaiting the answer: it may have been accepted
        raise Uncertain(f"SendGrid request error: {type(exc).__name__}: {exc}") from None
    status = int(response.status_code)
    if not 200 <= status < 300:
        raise Uncertain(f"SendGrid answered unexpected HTTP {status}")
    message_id = response.headers.get("X-Message-Id") if response.headers is not None else None
    return message_id or None
