"""Reading a request's body at the edge, before anything trusts it: the size limit (413), the transfer encoding
aiohttp undoes (a body that says ``Content-Encoding: gzip`` and is not gzip is the sender's error: 400), and Slack's
request signature checked on the raw bytes before any parsing (401).

Every refusal is a :class:`BodyRefused` with the status and a sentence saying what to send instead; nothing of a
refused body is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import parse_qsl

from aiohttp import web
from aiohttp.web_exceptions import HTTPRequestEntityTooLarge
from aiohttp.web_protocol import RequestPayloadError

from warroom.core import safejson

#: Slack refuses requests whose timestamp is more than five minutes away (its "verifying requests" guide).
SLACK_MAX_SKEW = 300


class BodyRefused(Exception):
    def __init__(self, status: int, reason: str, *, close: bool = False) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        #: the connection cannot carry another request (the rest of this body is unreadable): close it
        self.close = close

    def response(self) -> web.Response:
        response = web.json_response({"error": self.reason}, status=self.status)
        if self.close:
            response.force_close()
        return response


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body as bytes, at most ``limit`` of them (after aiohttp has undone gzip or deflate)."""
    too_large = BodyRefused(413, f"The body is larger than {limit} bytes: send less per request.")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    try:
        body = await request.read()
    except HTTPRequestEntityTooLarge:
        raise too_large from None
    except RequestPayloadError:
        # the rest cannot be decoded either: end the stream here, so that aiohttp does not try to drain it after the
        # answer (and log the decoding error as unhandled)
        request.content.feed_eof()
        encoding = request.headers.get("Content-Encoding", "none")[:40]
        raise BodyRefused(
            400,
            f"The body could not be read as its Content-Encoding ({encoding}) says: send it uncompressed, or "
            "compressed as the header says.",
            close=True,
        ) from None
    if len(body) > limit:
        raise too_large
    return body


def check_slack_signature(request: web.Request, body: bytes, signing_secret: str, *, now: float | None = None) -> None:
    """Slack's v0 signature (HMAC-SHA256 of ``v0:{timestamp}:{raw body}`` under the signing secret), checked on
    the raw bytes — so a body that is not even UTF-8 is refused as unsigned, not parsed."""
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    refused = BodyRefused(401, "invalid request")
    if not timestamp.isdigit() or not signature:
        raise refused
    if abs((time.time() if now is None else now) - int(timestamp)) > SLACK_MAX_SKEW:
        raise refused
    expected = "v0=" + hmac.new(
        signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise refused


#: Bot Framework activities from Teams stay far below this (a Teams message is at most about 28 KB of text).
TEAMS_MAX_BODY = 1024 * 1024
#: Slack's largest payloads (a form submission with every block's state) stay far below this.
SLACK_MAX_BODY = 1024 * 1024


def slack_body_ok(body: bytes, content_type: str) -> None:
    """A signed Slack body that slack-bolt can take: UTF-8, and its JSON (the body itself, or the ``payload`` form
    field of interactivity) not nested past :data:`warroom.core.safejson.MAX_DEPTH`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyRefused(400, "The body is not UTF-8; Slack sends UTF-8 only.") from None
    # the same reading slack-bolt makes (JSON when it says so or starts with "{", else a form whose "payload" is)
    if not text:
        return
    if content_type == "application/json" or text.startswith("{"):
        documents = [text]
    elif "payload" in text:
        documents = [v for k, v in parse_qsl(text, keep_blank_values=True) if k == "payload"][-1:]
    else:
        documents = []
    for document in documents:
        try:
            parsed = safejson.loads(document, "Slack's JSON")
        except safejson.JsonRefused as exc:
            raise BodyRefused(400, exc.reason) from None
        if not isinstance(parsed, dict):
            raise BodyRefused(400, "Slack's JSON is an object; this body's is not.")
