"""A local Twilio: the REST API's Messages and Calls (``2010-04-01``) on one loopback server, and the requests
Twilio makes to an application — signed status callbacks, TwiML fetches, ``<Gather>`` actions and inbound SMS.

What it is based on (Twilio's API reference for the Message and Call resources, its webhook security page, the
TwiML ``<Say>``, ``<Gather>``, ``<Hangup>``, ``<Redirect>`` and ``<Message>`` references, and its error pages):

- HTTP Basic auth with the Account SID and auth token, or an API key SID (``SK…``) and secret; anything else is
  401 ``{"code": 20003, "message": "Authenticate", …}``. Errors are ``{"code", "message", "more_info",
  "status"}``.
- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded): ``To`` (E.164, else 21211; missing
  21604), ``From`` (one of the account's numbers, else 21606; missing 21603) or ``MessagingServiceSid`` (unknown:
  21701), ``Body`` (required, 21602; at most 1,600 characters, 21617), ``StatusCallback`` (an http(s) URL, else
  21609). Answers 201 with the Message (``SM…``, ``status: queued``, RFC 2822 dates, ``date_sent`` null until
  sent). Then, in the background: ``queued`` → ``sent`` → ``delivered`` — or ``undelivered``/``failed`` with
  ``ErrorCode`` for a number made to fail — each POSTed to the status callback with ``MessageSid``, ``SmsSid``,
  ``MessageStatus``, ``SmsStatus``, ``AccountSid``, ``From``, ``To``, ``ApiVersion`` (and ``ErrorCode``).
- ``POST …/Calls.json``: ``To`` (21211; missing 21201), ``From`` (the account's, else 21210; missing 21213),
  ``Url`` (21205) with ``Method``, or ``Twiml``; ``StatusCallback`` with ``StatusCallbackEvent`` (initiated,
  ringing, answered, completed; others 21626; without any, only completed). The call is then initiated, rings,
  is answered (``CallStatus`` in-progress) — or is busy, not answered or failed for a number made so — and its
  TwiML is fetched from ``Url`` by a signed request with the voice parameters. ``<Say>`` is kept as said,
  ``<Gather numDigits action method>`` waits for :meth:`TwilioEmulator.press` (which POSTs ``Digits`` to the
  action, signed, and follows the TwiML it answers), ``<Redirect>`` fetches again, ``<Hangup/>`` or the end of the
  document ends the call (``completed`` with ``CallDuration``).
- ``GET …/Messages.json`` (``To``, ``From``, ``DateSent``/``DateSent<``/``DateSent>`` as a date ``YYYY-MM-DD`` or
  an ISO 8601 time; a message not yet sent has no ``date_sent`` and no date filter lists it) and ``GET
  …/Calls.json`` (``To``, ``From``, ``Status``, ``StartTime``/``<``/``>``; likewise for calls not yet started),
  newest first, ``PageSize`` (50; at most 1,000) and ``Page``, ``next_page_uri``; ``GET …/Messages/{Sid}.json``,
  ``GET …/Calls/{Sid}.json`` (404 code 20404), ``GET /2010-04-01/Accounts/{Sid}.json``.
- Rate limits: Twilio queues messages per sender (one a second for a long code) and answers 429 code 20429 "Too
  Many Requests" when too much arrives at once. Modelled by :attr:`TwilioEmulator.sms_per_second` (per sender;
  off by default), answered with 429 / 20429 and ``Retry-After``; and by the ``ratelimit`` fault.
- Every request to the application carries ``X-Twilio-Signature``: base64 HMAC-SHA1 with the auth token over the
  URL and the sorted POST parameters (computed here independently of the adapter's code).

Operation names for latency and faults: ``POST Messages``, ``GET Messages``, ``GET Message``, ``POST Calls``,
``GET Calls``, ``GET Call``, ``GET Account``.

Read-back and control: :attr:`TwilioEmulator.messages` (SID → the Message as the API shows it),
:attr:`TwilioEmulator.phone_calls` (SID → :class:`PhoneCall`: what was said, the digits pressed, the TwiML
fetched), :attr:`TwilioEmulator.callbacks` (every request made to the application and its answer);
:meth:`TwilioEmulator.fail_sms`, :meth:`TwilioEmulator.fail_calls`, :meth:`TwilioEmulator.not_mobile`;
:meth:`TwilioEmulator.press`, :meth:`TwilioEmulator.no_input`, :meth:`TwilioEmulator.hang_up`,
:meth:`TwilioEmulator.inbound_sms`; :meth:`TwilioEmulator.settled` waits until the background work is done.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import hashlib
import hmac
import re
import secrets
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from aiohttp import web

from .base import Emulator, EmulatorConfig, Handler, SlidingWindow

API_VERSION = "2010-04-01"
SANDBOX_ACCOUNT = "AC" + "5a4db0c0ffee" + "0" * 20
SANDBOX_TOKEN = "twilio-sandbox-auth-token"
#: The account's numbers (Twilio's magic test "From" number; not anyone's line).
DEFAULT_NUMBERS = ("+15005550006",)
E164_RE = re.compile(r"^\+[1-9]\d{1,14}$")
BODY_MAX = 1600
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
TWIML_MAX = 64 * 1024
USER_AGENT = "TwilioProxy/1.1"
MORE_INFO = "https://www.twilio.com/docs/errors/{code}"

SmsFailure = Literal["undelivered", "failed"]
CallOutcome = Literal["busy", "no-answer", "failed"]


def sign(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """``X-Twilio-Signature`` as Twilio computes it: HMAC-SHA1 (auth token) over the URL and each POST parameter's
    name and value, sorted."""
    payload = url + "".join(f"{name}{value}" for name, value in sorted(set(params)))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def rfc2822(epoch: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(int(epoch), UTC))


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _segments(body: str) -> int:
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class Callback:
    """One request the emulator made to the application, and how it was answered (``status`` None: no answer)."""

    kind: str  # "message-status", "call-status", "twiml", "gather", "inbound-sms"
    url: str
    params: dict[str, str]
    status: int | None = None
    body: str = ""


@dataclass
class Gather:
    """A ``<Gather>`` a call waits at: where the digits go, and the verbs after it (run when nothing is pressed)."""

    action: str
    method: str
    num_digits: int | None
    finish_on_key: str
    rest: list[ET.Element]
    document_url: str


@dataclass
class PhoneCall:
    sid: str
    to: str
    from_: str
    url: str
    method: str
    twiml: str | None
    status_callback: str | None
    events: tuple[str, ...]
    #: What the callee heard: each ``<Say>`` in order (including those inside a ``<Gather>``).
    said: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    #: Digits pressed, per ``<Gather>`` answered.
    digits: list[str] = field(default_factory=list)
    #: The TwiML documents fetched, as received.
    documents: list[str] = field(default_factory=list)
    #: Twilio's error codes and notes for what went wrong (a TwiML fetch refused, an unknown verb).
    errors: list[str] = field(default_factory=list)
    gather: Gather | None = None
    answered_at: float | None = None
    sequence: int = 0

    @property
    def waiting(self) -> bool:
        return self.gather is not None


@dataclass
class InboundReply:
    """What the application answered an inbound SMS with."""

    status: int | None
    #: The text of each ``<Message>`` in the TwiML reply (Twilio sends each back to the sender).
    messages: list[str]
    twiml: str


@dataclass
class _Answer:
    status: int
    body: str


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class TwilioEmulator(Emulator):
    name = "twilio"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        account_sid: str = SANDBOX_ACCOUNT,
        auth_token: str = SANDBOX_TOKEN,
        numbers: Iterable[str] = DEFAULT_NUMBERS,
        api_keys: Mapping[str, str] | None = None,
        messaging_services: Mapping[str, Iterable[str]] | None = None,
        sms_webhook_url: str = "",
    ) -> None:
        super().__init__(config)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.numbers = list(numbers)
        #: API key SID → secret.
        self.api_keys = dict(api_keys or {})
        #: Messaging Service SID → its sender numbers.
        self.messaging_services = {sid: list(pool) for sid, pool in (messaging_services or {}).items()}
        #: Where inbound SMS to the account's numbers are POSTed (the number's "A message comes in" webhook).
        self.sms_webhook_url = sms_webhook_url
        #: Messages created per second per sender before 429 / 20429 (None: no limit).
        self.sms_per_second: int | None = None
        #: Seconds between a message's or a call's steps (0: as fast as the event loop goes).
        self.step_delay = 0.0
        #: Seconds the application has to answer a callback or TwiML fetch (Twilio: 15).
        self.callback_timeout = 15.0
        self.clock = time.time
        #: SID → the Message resource as the API shows it.
        self.messages: dict[str, dict[str, Any]] = {}
        #: SID → the call: its resource (``record``) is in :attr:`call_records`.
        self.phone_calls: dict[str, PhoneCall] = {}
        self.call_records: dict[str, dict[str, Any]] = {}
        #: Every request made to the application, in order.
        self.callbacks: list[Callback] = []
        self._created: dict[str, float] = {}
        self._message_callbacks: dict[str, str] = {}
        self._sms_failures: dict[str, tuple[SmsFailure, int]] = {}
        self._call_outcomes: dict[str, CallOutcome] = {}
        self._not_mobile: set[str] = set()
        self._windows: dict[str, SlidingWindow] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._http: httpx.AsyncClient | None = None

        base = f"/{API_VERSION}/Accounts/{{AccountSid}}"
        self.route("POST", f"{base}/Messages.json", "POST Messages", self._api(self._create_message))
        self.route("GET", f"{base}/Messages.json", "GET Messages", self._api(self._list_messages))
        self.route("GET", f"{base}/Messages/{{Sid}}.json", "GET Message", self._api(self._get_message))
        self.route("POST", f"{base}/Calls.json", "POST Calls", self._api(self._create_call))
        self.route("GET", f"{base}/Calls.json", "GET Calls", self._api(self._list_calls))
        self.route("GET", f"{base}/Calls/{{Sid}}.json", "GET Call", self._api(self._get_call))
        self.route("GET", f"{base}.json", "GET Account", self._api(self._get_account))
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)

    # -- set-up -------------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._http = httpx.AsyncClient(timeout=self.callback_timeout, headers={"User-Agent": USER_AGENT})
        return await super().start(host, port)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        await super().stop()

    @property
    def api_url(self) -> str:
        return self.base_url

    def settings(self, *, from_number: str | None = None) -> dict[str, Any]:
        """The ``twilio`` settings section that points warroom at this emulator (secrets included, for the sandbox)."""
        return {
            "enabled": True,
            "api_url": self.base_url,
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "from_number": from_number or self.numbers[0],
            "timeout": 10.0,
        }

    def sign(self, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        return sign(self.auth_token, url, pairs)

    # -- control ------------------------------------------------------------------------------------
    def fail_sms(self, number: str, status: SmsFailure = "undelivered", error_code: int = 30003) -> None:
        """SMS to ``number`` end ``undelivered`` (after ``sent``) or ``failed`` (never sent), with ``error_code``
        (30003 unreachable handset, 30005 unknown handset, 30006 landline or unreachable carrier, …)."""
        self._sms_failures[number] = (status, error_code)

    def fail_calls(self, number: str, outcome: CallOutcome = "no-answer") -> None:
        """Calls to ``number`` end ``busy``, ``no-answer`` (after ringing) or ``failed`` (never ring)."""
        self._call_outcomes[number] = outcome

    def not_mobile(self, number: str) -> None:
        """``number`` is a landline: creating an SMS to it is refused with 21614."""
        self._not_mobile.add(number)

    def heal(self, number: str) -> None:
        self._sms_failures.pop(number, None)
        self._call_outcomes.pop(number, None)
        self._not_mobile.discard(number)

    async def settled(self, timeout: float = 30.0) -> None:
        """Wait until every message and call has gone as far as it goes on its own (delivered, or waiting at a
        ``<Gather>``, or ended) and every callback was answered."""
        async with asyncio.timeout(timeout):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def sms_to(self, number: str) -> list[dict[str, Any]]:
        """Messages sent to ``number``, oldest first."""
        return sorted((m for m in self.messages.values() if m["to"] == number), key=lambda m: self._created[m["sid"]])

    def phone_calls_to(self, number: str) -> list[PhoneCall]:
        return sorted((c for c in self.phone_calls.values() if c.to == number), key=lambda c: self._created[c.sid])

    def callbacks_for(self, sid: str) -> list[Callback]:
        return [c for c in self.callbacks if sid in (c.params.get("MessageSid"), c.params.get("CallSid"))]

    # -- HTTP: plumbing -----------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {"code": code, "message": message, "more_info": MORE_INFO.format(code=code), "status": status},
            status=status,
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        response = self._error(429, 20429, "Too Many Requests")
        response.headers["Retry-After"] = str(max(1, round(retry_after)))
        return response

    def _api(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if not self._authorised(request.headers.get("Authorization", "")) or (
                request.match_info["AccountSid"] != self.account_sid
            ):
                response = web.json_response(
                    {"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authenticate",
                     "more_info": MORE_INFO.format(code=20003), "status": 401},
                    status=401,
                )
                response.headers["WWW-Authenticate"] = 'Basic realm="Twilio API"'
                return response
            try:
                return await handler(request)
            except _Refused as refused:
                return self._error(refused.status, refused.code, refused.message)

        return checked

    def _authorised(self, header: str) -> bool:
        if not header.lower().startswith("basic "):
            return False
        try:
            user, _, secret = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if user == self.account_sid:
            return hmac.compare_digest(secret.encode(), self.auth_token.encode())
        expected = self.api_keys.get(user)
        return expected is not None and hmac.compare_digest(secret.encode(), expected.encode())

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response({
            "messages": list(self.messages.values()),
            "calls": list(self.call_records.values()),
            "said": {sid: call.said for sid, call in self.phone_calls.items()},
        })

    def _uri(self, resource: str) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/{resource}"

    def _limit(self, sender: str) -> None:
        if self.sms_per_second is None or not self.config.rate_limits:
            return
        window = self._windows.setdefault(sender, SlidingWindow(self.sms_per_second, 1.0))
        window.limit = self.sms_per_second
        wait = window.hit(sender)
        if wait > 0:
            raise _RateLimited(wait)

    # -- HTTP: messages -----------------------------------------------------------------------------
    async def _create_message(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        to = str(form.get("To") or "").strip()
        sender = str(form.get("From") or "").strip()
        service = str(form.get("MessagingServiceSid") or "").strip()
        body = str(form.get("Body") or "")
        callback = str(form.get("StatusCallback") or "").strip()
        try:
            self._limit(service or sender)
        except _RateLimited as limited:
            return self.rate_limited(limited.wait)
        if not to:
            raise _Refused(400, 21604, "A 'To' phone number is required.")
        if not E164_RE.match(to):
            raise _Refused(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if service:
            pool = self.messaging_services.get(service)
            if pool is None:
                raise _Refused(400, 21701, f"The Messaging Service Sid {service} is invalid.")
            sender = sender if sender in pool else (pool[0] if pool else "")
            if not sender:
                raise _Refused(400, 21703, "The Messaging Service does not have a phone number available to send a "
                                           "message.")
        elif not sender:
            raise _Refused(400, 21603, "A 'From' phone number is required.")
        elif sender not in self.numbers:
            raise _Refused(400, 21606, f"The From phone number {sender} is not a valid, SMS-capable inbound phone "
                                       "number or short code for your account.")
        if not body.strip() and "MediaUrl" not in form:
            raise _Refused(400, 21602, "Message body is required.")
        if len(body) > BODY_MAX:
            raise _Refused(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if callback and urlsplit(callback).scheme not in ("http", "https"):
            raise _Refused(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        if to in self._not_mobile:
            raise _Refused(400, 21614, f"'To' number {to} is not a valid mobile number")
        record = self._new_message(to=to, sender=sender, body=body, direction="outbound-api",
                                   service=service or None, status="queued")
        if callback:
            self._message_callbacks[record["sid"]] = callback
        self._spawn(self._deliver(record["sid"]))
        return web.json_response(record, status=201)

    def _new_message(self, *, to: str, sender: str, body: str, direction: str, service: str | None,
                     status: str) -> dict[str, Any]:
        sid = _sid("SM")
        now = self.clock()
        record: dict[str, Any] = {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": rfc2822(now),
            "date_sent": rfc2822(now) if direction == "inbound" else None,
            "date_updated": rfc2822(now),
            "direction": direction,
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": status,
            "subresource_uris": {"media": self._uri(f"Messages/{sid}/Media.json")},
            "to": to,
            "uri": self._uri(f"Messages/{sid}.json"),
        }
        self.messages[sid] = record
        self._created[sid] = now
        return record

    async def _deliver(self, sid: str) -> None:
        record = self.messages[sid]
        failure = self._sms_failures.get(record["to"])
        await self._message_status(sid, "queued")
        await self._pause()
        if failure is not None and failure[0] == "failed":
            await self._message_status(sid, "failed", failure[1])
            return
        record["date_sent"] = rfc2822(self.clock())
        await self._message_status(sid, "sent")
        await self._pause()
        if failure is not None:
            await self._message_status(sid, "undelivered", failure[1])
            return
        await self._message_status(sid, "delivered")

    async def _message_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        record = self.messages[sid]
        record["status"] = status
        record["date_updated"] = rfc2822(self.clock())
        if error_code is not None:
            record["error_code"] = error_code
            record["error_message"] = {30003: "Unreachable destination handset", 30005: "Unknown destination handset",
                                       30006: "Landline or unreachable carrier"}.get(error_code, "Delivery failed")
        url = self._message_callbacks.get(sid)
        if not url:
            return
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "From": record["from"],
            "MessageSid": sid,
            "MessageStatus": status,
            "SmsSid": sid,
            "SmsStatus": status,
            "To": record["to"],
        }
        if record["messaging_service_sid"]:
            params["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        await self._request("message-status", url, "POST", params)

    async def _list_messages(self, request: web.Request) -> web.Response:
        query = request.query
        items = sorted(self.messages.values(), key=lambda m: (self._created[m["sid"]], m["sid"]), reverse=True)
        items = [m for m in items if _matches(m, query, ("To", "to"), ("From", "from"))]
        items = _dated(items, query, "DateSent", "date_sent")
        return self._page(request, "messages", items)

    async def _get_message(self, request: web.Request) -> web.Response:
        record = self.messages.get(request.match_info["Sid"])
        if record is None:
            raise _Refused(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(record)

    def _page(self, request: web.Request, key: str, items: list[dict[str, Any]]) -> web.Response:
        query = request.query
        try:
            size = min(MAX_PAGE_SIZE, max(1, int(query.get("PageSize", DEFAULT_PAGE_SIZE))))
            page = max(0, int(query.get("Page", 0)))
        except ValueError:
            raise _Refused(400, 20001, "Invalid PageSize or Page") from None
        filters = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]
        chunk = items[page * size:(page + 1) * size]

        def uri(number: int) -> str:
            return f"{request.path}?{urlencode([*filters, ('PageSize', str(size)), ('Page', str(number))])}"

        more = (page + 1) * size < len(items)
        return web.json_response({
            key: chunk,
            "end": page * size + max(0, len(chunk) - 1),
            "first_page_uri": uri(0),
            "next_page_uri": (uri(page + 1) + f"&PageToken=PA{secrets.token_hex(8)}") if more else None,
            "page": page,
            "page_size": size,
            "previous_page_uri": uri(page - 1) if page > 0 else None,
            "start": page * size,
            "uri": uri(page),
        })

    async def _get_account(self, request: web.Request) -> web.Response:
        now = rfc2822(self.clock())
        return web.json_response({
            "sid": self.account_sid, "friendly_name": "warroom sandbox", "status": "active", "type": "Full",
            "date_created": now, "date_updated": now, "owner_account_sid": self.account_sid,
            "uri": f"/{API_VERSION}/Accounts/{self.account_sid}.json",
        })

    # -- HTTP: calls --------------------------------------------------------------------------------
    async def _create_call(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        to = str(form.get("To") or "").strip()
        sender = str(form.get("From") or "").strip()
        url = str(form.get("Url") or "").strip()
        twiml = str(form.get("Twiml") or "")
        method = str(form.get("Method") or "POST").upper()
        callback = str(form.get("StatusCallback") or "").strip()
        events: list[str] = []
        for value in form.getall("StatusCallbackEvent", []):
            events.extend(str(value).split())
        if not to:
            raise _Refused(400, 21201, "No 'To' number is specified")
        if not E164_RE.match(to):
            raise _Refused(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not sender:
            raise _Refused(400, 21213, "No 'From' number is specified")
        if sender not in self.numbers:
            raise _Refused(400, 21210, f"The source phone number provided, {sender}, is not yet verified for your "
                                       "account.")
        if not twiml and urlsplit(url).scheme not in ("http", "https"):
            raise _Refused(400, 21205, "Url parameter is required and must be a valid URL.")
        if method not in ("GET", "POST"):
            raise _Refused(400, 21206, f"Method {method} is not GET or POST.")
        if callback and urlsplit(callback).scheme not in ("http", "https"):
            raise _Refused(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
        if any(e not in CALL_EVENTS for e in events):
            raise _Refused(400, 21626, "One or more of the StatusCallbackEvents provided were invalid.")
        sid = _sid("CA")
        now = self.clock()
        record: dict[str, Any] = {
            "account_sid": self.account_sid, "annotation": None, "answered_by": None, "api_version": API_VERSION,
            "caller_name": None, "date_created": rfc2822(now), "date_updated": rfc2822(now),
            "direction": "outbound-api", "duration": None, "end_time": None, "forwarded_from": None,
            "from": sender, "from_formatted": sender, "group_sid": None, "parent_call_sid": None,
            "phone_number_sid": "PN" + hashlib.sha256(sender.encode()).hexdigest()[:32], "price": None, "price_unit": "USD",
            "queue_time": "0", "sid": sid, "start_time": None, "status": "queued",
            "subresource_uris": {"notifications": self._uri(f"Calls/{sid}/Notifications.json")},
            "to": to, "to_formatted": to, "trunk_sid": None, "uri": self._uri(f"Calls/{sid}.json"),
        }
        self.call_records[sid] = record
        self._created[sid] = now
        call = PhoneCall(
            sid=sid, to=to, from_=sender, url=url, method=method, twiml=twiml or None,
            status_callback=callback or None,
            events=tuple(events) if events else ("completed",),
        )
        self.phone_calls[sid] = call
        self._spawn(self._run_call(call))
        return web.json_response(record, status=201)

    async def _list_calls(self, request: web.Request) -> web.Response:
        query = request.query
        items = sorted(self.call_records.values(), key=lambda c: (self._created[c["sid"]], c["sid"]), reverse=True)
        items = [c for c in items if _matches(c, query, ("To", "to"), ("From", "from"), ("Status", "status"))]
        items = _dated(items, query, "StartTime", "start_time")
        return self._page(request, "calls", items)

    async def _get_call(self, request: web.Request) -> web.Response:
        record = self.call_records.get(request.match_info["Sid"])
        if record is None:
            raise _Refused(404, 20404, f"The requested resource {request.path} was not found")
        return web.json_response(record)

    # -- a call's life ------------------------------------------------------------------------------
    async def _run_call(self, call: PhoneCall) -> None:
        record = self.call_records[call.sid]
        outcome = self._call_outcomes.get(call.to)
        await self._call_event(call, "initiated", "initiated")
        await self._pause()
        if outcome == "failed":
            await self._end(call, "failed")
            return
        record["status"] = "ringing"
        await self._call_event(call, "ringing", "ringing")
        await self._pause()
        if outcome is not None:
            await self._end(call, outcome)
            return
        call.answered_at = self.clock()
        record.update(status="in-progress", start_time=rfc2822(call.answered_at), date_updated=rfc2822(self.clock()))
        await self._call_event(call, "answered", "in-progress")
        if call.twiml is not None:
            await self._execute_document(call, call.twiml, call.url or "")
        else:
            await self._fetch_twiml(call, "twiml", call.url, call.method, {})

    def _voice_params(self, call: PhoneCall) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": self.call_records[call.sid]["status"],
            "Called": call.to,
            "Caller": call.from_,
            "Direction": "outbound-api",
            "From": call.from_,
            "To": call.to,
        }

    async def _call_event(self, call: PhoneCall, event: str, status: str, **extra: str) -> None:
        if not call.status_callback or event not in call.events:
            return
        params = {
            **self._voice_params(call),
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence),
            "Timestamp": rfc2822(self.clock()),
            **extra,
        }
        call.sequence += 1
        await self._request("call-status", call.status_callback, "POST", params)

    async def _end(self, call: PhoneCall, status: str) -> None:
        record = self.call_records[call.sid]
        if record["status"] in ("completed", "busy", "failed", "no-answer", "canceled"):
            return
        call.gather = None
        now = self.clock()
        duration = int(now - call.answered_at) if call.answered_at is not None else 0
        record.update(status=status, end_time=rfc2822(now), date_updated=rfc2822(now), duration=str(duration))
        await self._call_event(call, "completed", status, CallDuration=str(duration), Duration=str(-(-duration // 60)))

    async def _fetch_twiml(self, call: PhoneCall, kind: str, url: str, method: str, extra: Mapping[str, str]) -> None:
        params = {**self._voice_params(call), **extra}
        answer = await self._request(kind, url, method, params)
        if answer is None or not 200 <= answer.status < 300:
            call.errors.append(f"11200 HTTP retrieval failure: {url} answered {answer.status if answer else 'nothing'}")
            call.said.append("We are sorry, an application error has occurred. Goodbye.")
            await self._end(call, "completed")
            return
        await self._execute_document(call, answer.body, url)

    async def _execute_document(self, call: PhoneCall, document: str, url: str) -> None:
        call.documents.append(document)
        try:
            root = _parse_twiml(document)
        except ValueError as exc:
            call.errors.append(f"12100 Document parse failure: {exc}")
            call.said.append("We are sorry, an application error has occurred. Goodbye.")
            await self._end(call, "completed")
            return
        await self._execute(call, list(root), url)

    async def _execute(self, call: PhoneCall, verbs: list[ET.Element], url: str) -> None:
        for index, verb in enumerate(verbs):
            if verb.tag in ("Say", "Play", "Pause"):
                self._speak(call, verb)
            elif verb.tag == "Gather":
                for nested in verb:
                    self._speak(call, nested)
                try:
                    digits = int(verb.get("numDigits", "0")) or None
                except ValueError:
                    digits = None
                call.gather = Gather(
                    action=urljoin(url, verb.get("action") or url),
                    method=(verb.get("method") or "POST").upper(),
                    num_digits=digits,
                    finish_on_key=verb.get("finishOnKey", "#"),
                    rest=verbs[index + 1:],
                    document_url=url,
                )
                return  # waits for press() or no_input()
            elif verb.tag in ("Hangup", "Reject"):
                await self._end(call, "completed")
                return
            elif verb.tag == "Redirect":
                target = urljoin(url, (verb.text or "").strip() or url)
                await self._fetch_twiml(call, "twiml", target, (verb.get("method") or "POST").upper(), {})
                return
            else:
                call.errors.append(f"12200 Schema validation warning: <{verb.tag}> is not a voice verb")
        await self._end(call, "completed")  # the end of the document: Twilio hangs up

    @staticmethod
    def _speak(call: PhoneCall, verb: ET.Element) -> None:
        if verb.tag == "Say":
            call.said.append(" ".join((verb.text or "").split()))
        elif verb.tag == "Play":
            call.played.append((verb.text or "").strip())

    # -- what people do -----------------------------------------------------------------------------
    async def press(self, call_sid: str, digits: str) -> PhoneCall:
        """The callee presses ``digits`` at the ``<Gather>`` the call waits at: ``Digits`` is POSTed (signed) to
        its action and the TwiML answered is followed. Returns the call (``said`` grows with what it heard)."""
        await self.settled()
        call = self.phone_calls[call_sid]
        gather = call.gather
        if gather is None:
            raise RuntimeError(f"call {call_sid} is not waiting at a <Gather> (status "
                               f"{self.call_records[call_sid]['status']})")
        call.gather = None
        finished = ""
        if gather.finish_on_key and gather.finish_on_key in digits:
            digits, finished = digits.split(gather.finish_on_key, 1)[0], gather.finish_on_key
        if gather.num_digits:
            digits = digits[: gather.num_digits]
        call.digits.append(digits)
        await self._fetch_twiml(call, "gather", gather.action, gather.method,
                                {"Digits": digits, "FinishedOnKey": finished, "msg": "Gather End"})
        await self.settled()
        return call

    async def no_input(self, call_sid: str) -> PhoneCall:
        """The ``<Gather>`` times out with nothing pressed: the verbs after it run."""
        await self.settled()
        call = self.phone_calls[call_sid]
        gather = call.gather
        if gather is None:
            raise RuntimeError(f"call {call_sid} is not waiting at a <Gather>")
        call.gather = None
        await self._execute(call, gather.rest, gather.document_url)
        await self.settled()
        return call

    async def hang_up(self, call_sid: str) -> PhoneCall:
        """The callee hangs up."""
        await self.settled()
        call = self.phone_calls[call_sid]
        await self._end(call, "completed")
        return call

    async def inbound_sms(
        self,
        from_: str,
        to: str,
        body: str,
        *,
        url: str | None = None,
        signature: str | None = None,
    ) -> InboundReply:
        """Someone texts ``body`` from ``from_`` to the account's number ``to``: Twilio's inbound message
        parameters are POSTed, signed, to the SMS webhook (``url`` or :attr:`sms_webhook_url`); each ``<Message>``
        of the TwiML answered is sent back to ``from_``. ``signature``: send this ``X-Twilio-Signature`` instead of
        the real one (a forgery, for tests)."""
        target = url or self.sms_webhook_url
        if not target:
            raise RuntimeError("no SMS webhook URL: set sms_webhook_url or pass url=")
        record = self._new_message(to=to, sender=from_, body=body, direction="inbound", service=None,
                                   status="received")
        sid = record["sid"]
        params = {
            "ToCountry": "US", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "", "FromZip": "",
            "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "", "Body": body,
            "FromCountry": "US", "To": to, "ToZip": "", "NumSegments": str(_segments(body)), "MessageSid": sid,
            "AccountSid": self.account_sid, "From": from_, "ApiVersion": API_VERSION,
        }
        answer = await self._request("inbound-sms", target, "POST", params, signature=signature)
        if answer is None:
            return InboundReply(status=None, messages=[], twiml="")
        replies: list[str] = []
        if 200 <= answer.status < 300 and answer.body.strip():
            try:
                root = _parse_twiml(answer.body)
            except ValueError:
                root = ET.Element("Response")
            for verb in root:
                if verb.tag != "Message":
                    continue
                inner = verb.find("Body")
                text = (inner.text if inner is not None else verb.text) or ""
                replies.append(text.strip())
        for text in replies:
            reply = self._new_message(to=from_, sender=to, body=text, direction="outbound-reply", service=None,
                                      status="queued")
            self._spawn(self._deliver(reply["sid"]))
        await self.settled()
        return InboundReply(status=answer.status, messages=replies, twiml=answer.body)

    # -- requests to the application ----------------------------------------------------------------
    async def _request(
        self, kind: str, url: str, method: str, params: Mapping[str, str], *, signature: str | None = None
    ) -> _Answer | None:
        """A signed request to the application, as Twilio makes it: POST with the parameters form-encoded (signed
        with the URL), or GET with them in the query string (the whole URL signed)."""
        assert self._http is not None, "start() the emulator first"
        record = Callback(kind=kind, url=url, params=dict(params))
        self.callbacks.append(record)
        if method == "GET":
            target = f"{url}{'&' if '?' in url else '?'}{urlencode(list(params.items()))}"
            headers = {"X-Twilio-Signature": signature or self.sign(target)}
            send = self._http.get(target, headers=headers)
        else:
            headers = {"X-Twilio-Signature": signature or self.sign(url, params),
                       "I-Twilio-Idempotency-Token": str(uuid.uuid4())}
            send = self._http.post(url, data=dict(params), headers=headers)
        try:
            response = await send
        except httpx.HTTPError:
            return None
        record.status = response.status_code
        record.body = response.text[:TWIML_MAX]
        return _Answer(response.status_code, response.text[:TWIML_MAX])

    # -- background work ----------------------------------------------------------------------------
    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _pause(self) -> None:
        await asyncio.sleep(self.step_delay)


class _RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:.2f} s")
        self.wait = wait


def _parse_twiml(document: str) -> ET.Element:
    """A TwiML document's ``<Response>`` (bounded in size; no DTDs, so no entity expansion)."""
    if len(document) > TWIML_MAX:
        raise ValueError("the document is larger than 64 KiB")
    if "<!DOCTYPE" in document.upper():
        raise ValueError("the document has a DOCTYPE")
    try:
        root = ET.fromstring(document.strip())
    except ET.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from None
    if root.tag != "Response":
        raise ValueError(f"the root element is <{root.tag}>, not <Response>")
    return root


def _matches(item: Mapping[str, Any], query: Mapping[str, str], *pairs: tuple[str, str]) -> bool:
    return all(item.get(field_) == query[param] for param, field_ in pairs if param in query)


def _when(value: str) -> tuple[datetime, bool]:
    """A filter's date (``YYYY-MM-DD``, the whole day) or time (ISO 8601); (start, is a whole day)."""
    value = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return datetime.fromisoformat(value).replace(tzinfo=UTC), True
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)), False


def _dated(items: list[dict[str, Any]], query: Mapping[str, str], param: str, field_: str) -> list[dict[str, Any]]:
    """Items whose ``field_`` satisfies ``param``, ``param<`` and ``param>`` (as Twilio: inclusive; a record
    without the date is left out by any of them)."""
    conditions = [(op, query[param + op]) for op in ("", "<", ">") if param + op in query]
    if not conditions:
        return items
    try:
        bounds = [(op, *_when(value)) for op, value in conditions]
    except ValueError:
        raise _Refused(400, 20001, f"Invalid {param}: use YYYY-MM-DD or an ISO 8601 time") from None
    out = []
    for item in items:
        raw = item.get(field_)
        if not raw:
            continue
        when = email.utils.parsedate_to_datetime(raw)
        ok = True
        for op, start, whole_day in bounds:
            end = start + timedelta(days=1) if whole_day else start
            if op == "" and not (start <= when < end if whole_day else when == start):
                ok = False
            elif op == ">" and when < start:
                ok = False
            elif op == "<" and not (when < end if whole_day else when <= start):
                ok = False
        if ok:
            out.append(item)
    return out
