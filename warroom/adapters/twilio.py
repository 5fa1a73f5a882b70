"""SMS and voice calls through Twilio's REST API (``2010-04-01``): the SMS and phone pages of on-call notifications,
and the check of the signature on what Twilio sends warroom (status callbacks, TwiML fetches, inbound SMS).

Not the ``twilio`` package from PyPI: its client is synchronous (``requests``), so every call would block the event
loop or need a thread, and its exceptions would have to be translated anyway. Twilio's REST API is small and plain —
form-encoded bodies in, JSON out — so it goes through :class:`~warroom.adapters.http.JsonApi`, the project's one
httpx choke point (retries, ``Retry-After``, errors translated, no secrets logged). :mod:`warroom.sandbox.twilio`
emulates the same resources on loopback.

- **Auth**: HTTP Basic with the Account SID and Auth Token, or with an API key SID (``SK…``) and its secret. The
  auth token alone signs Twilio's requests to warroom, so :func:`valid_signature` always takes it.
- **SMS**: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` with ``To``, ``Body`` and ``From`` (or
  ``MessagingServiceSid`` when ``twilio.messaging_service_sid`` is set) and ``StatusCallback``; answers 201 with
  the Message (``sid`` ``SM…``, ``status`` ``queued``). Twilio then POSTs ``MessageStatus`` (queued, sent,
  delivered, undelivered, failed — with ``ErrorCode`` such as 30003 unreachable handset, 30006 landline or
  unreachable carrier) to the status callback.
- **Calls**: ``POST …/Calls.json`` with ``To``, ``From``, ``Url`` (the TwiML, fetched by a signed ``POST``),
  ``StatusCallback`` and ``StatusCallbackEvent`` = initiated, ringing, answered, completed (``CallStatus``
  initiated, ringing, in-progress, then completed, busy, no-answer or failed).
- **Never twice**: a create is not repeated blindly. After a 5xx, a timeout or a lost connection the message or
  call may exist, so it is looked up first (:meth:`Twilio.find_sms`, :meth:`Twilio.find_call`) and adopted; only
  when there is none is the POST sent again (``max_retries`` times, with backoff). A 429 means nothing was done: it
  is waited out inline when short, else :class:`~warroom.adapters.errors.RateLimited`.
- **Finding what was sent** (crash recovery): ``GET …/Messages.json?To=&From=&DateSent>=YYYY-MM-DD`` (Twilio
  filters by the day in UTC; the exact instant is compared here, against ``date_created``). A message still queued
  has no ``date_sent`` and Twilio's date filter leaves it out, so when that finds nothing the newest messages to
  the number are read without it (a few pages). Calls likewise with ``StartTime>=`` (a queued call has no
  ``start_time``) — both reads, merged.
- **Errors** from Twilio's body ``{"code", "message", "more_info", "status"}``: 400 with a code about the
  recipient (21211 invalid 'To', 21614 not a mobile number, 21610 unsubscribed, 21408 region not enabled, …) is
  :class:`~warroom.adapters.errors.Permanent` naming the number with all but its last four digits masked; 401 /
  20003 is Permanent naming ``twilio.account_sid`` and ``twilio.auth_token``; 429 / 20429 is RateLimited
  (``Retry-After`` honoured); 5xx is Transient. Phone numbers never reach a log line or an error reason whole.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import hmac
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import httpx

from warroom.settings import TwilioSettings

from .errors import NotFound, Permanent
from .http import JsonApi, create_or_adopt, hook, unhook
from .observe import CallObserver, ignore

log = logging.getLogger("warroom.adapters.twilio")

SYSTEM = "Twilio"
API_VERSION = "2010-04-01"
#: Every call progress event: the status callback hears of each.
CALL_EVENTS = ("initiated", "ringing", "answered", "completed")
PAGE_SIZE = 100
#: Pages read when looking for what an earlier attempt sent (newest first).
FIND_PAGES = 3
#: Twilio's dates have whole seconds, and its clock and this machine's may differ a little: a record created up to
#: this long before ``sent_after`` still counts as sent after it.
CLOCK_SLACK = timedelta(seconds=5)
#: Error codes about the recipient: the number cannot be paged this way; trying again will not help.
RECIPIENT_CODES = {
    21211: "is not a valid phone number",
    21214: "cannot be reached by a call",
    21217: "is not a valid phone number",
    21401: "is not a valid phone number",
    21407: "is in a country this account may not call",
    21408: "is in a region this account may not send to",
    21610: "has replied STOP: it is unsubscribed from this number's messages",
    21612: "cannot be reached from this sender",
    21614: "is not a mobile number that can receive SMS",
    21608: "is not verified for this trial account",
    21219: "is not verified for this trial account",
}
#: Error codes about the sender: a setting is wrong.
SENDER_CODES = {21212, 21210, 21606, 21659, 21660, 21661, 21701, 21703, 21705}
PHONE_RE = re.compile(r"\+?\d[\d ().-]{5,}\d")


def mask(number: str) -> str:
    """A phone number with all but its last four digits hidden: ``+*******0100``."""
    digits = re.sub(r"\D", "", number)
    if len(digits) <= 4:
        return "*" * len(digits)
    return ("+" if number.strip().startswith("+") else "") + "*" * (len(digits) - 4) + digits[-4:]


def mask_numbers(text: str) -> str:
    """Every phone-number-like run in a text masked (Twilio's messages quote the number whole)."""
    return PHONE_RE.sub(lambda m: mask(m.group(0)), text)


# -- request signatures ------------------------------------------------------------------------------
def _pairs(params: Mapping[str, str] | Iterable[tuple[str, str]] | None) -> list[tuple[str, str]]:
    if params is None:
        return []
    if isinstance(params, Mapping):
        return [(str(k), str(v)) for k, v in params.items()]
    return [(str(k), str(v)) for k, v in params]


def signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 of HMAC-SHA1, keyed with the auth token, over the full URL (query
    string included) followed by each POST parameter's name and value, sorted by name (then value, each pair once,
    as Twilio's own helper libraries do). A GET request signs the URL alone."""
    data = url + "".join(name + value for name, value in sorted(set(_pairs(params))))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def valid_signature(
    auth_token: str,
    url: str,
    params: Mapping[str, str] | Iterable[tuple[str, str]] | None,
    header: str | None,
) -> bool:
    """Whether ``header`` (the request's ``X-Twilio-Signature``) signs this URL and these POST parameters.

    Compared in constant time. ``url`` is the URL Twilio requested, as configured at Twilio (behind a proxy, the
    public one, not the one the server saw). Like Twilio's libraries, the URL is also tried with its default port
    written out and left out, since Twilio may sign either."""
    if not header or not auth_token:
        return False
    pairs = _pairs(params)
    given = header.strip().encode("ascii", "replace")
    ok = False
    for candidate in _url_variants(url):
        expected = signature(auth_token, candidate, pairs).encode("ascii")
        ok |= hmac.compare_digest(expected, given)
    return ok


def _url_variants(url: str) -> list[str]:
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme.lower())
    variants = [url]
    if default is None or not parts.hostname:
        return variants
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    try:
        port = parts.port
    except ValueError:
        return variants
    if port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}:{default}")))
    elif port == default:
        variants.append(urlunsplit(parts._replace(netloc=f"{prefix}{host}")))
    return variants


# -- the client -------------------------------------------------------------------------------------
class Twilio:
    """Twilio's Messages and Calls. Build with the ``twilio`` settings; close with :meth:`aclose`.

    ``client``: an httpx client to share (tests, the composition root); ``max_retries``: creates sent again after a
    transient failure and a lookup that found nothing; ``max_inline_wait``: the longest 429 waited out inline;
    ``observe``: hears each attempt's outcome as ``twilio`` (:mod:`warroom.adapters.observe`).
    """

    def __init__(
        self,
        settings: TwilioSettings,
        *,
        client: httpx.AsyncClient | None = None,
        max_retries: int = 2,
        max_inline_wait: float = 5.0,
        observe: CallObserver = ignore,
    ) -> None:
        self.settings = settings
        self.account_sid = settings.account_sid
        self.api_url = settings.api_url.rstrip("/")
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        http = client or httpx.AsyncClient(timeout=settings.timeout)
        hook(http, "response", self._translate)
        self._http = http
        self._own_http = client is None
        common: dict[str, Any] = {"client": http, "timeout": settings.timeout, "max_inline_wait": max_inline_wait,
                                  "auth": self._auth_headers, "observe": observe}
        self.api = JsonApi(SYSTEM, self.api_url, max_retries=max_retries, **common)
        # creates: never repeated blindly (see the module notes); send_sms and call retry after a lookup
        self._create_api = JsonApi(SYSTEM, self.api_url, max_retries=0, **common)

    @classmethod
    def from_settings(
        cls, settings: TwilioSettings, *, observe: CallObserver = ignore, client: httpx.AsyncClient | None = None
    ) -> Twilio:
        return cls(settings, observe=observe, client=client)

    @property
    def calls(self) -> int:
        """API requests made (each retry counts)."""
        return self.api.calls + self._create_api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        if self._own_http:
            await self._http.aclose()

    # -- messages -----------------------------------------------------------------------------------
    async def send_sms(self, *, to: str, body: str, status_callback: str | None = None) -> str:
        """Send one SMS; returns its Message SID (``SM…``)."""
        form: dict[str, Any] = {"To": _number(to), "Body": body}
        if self.settings.messaging_service_sid:
            form["MessagingServiceSid"] = self.settings.messaging_service_sid
        else:
            form["From"] = self._from_number("SMS pages")
        if status_callback:
            form["StatusCallback"] = status_callback
        started = datetime.now(UTC)

        async def create() -> str:
            record = await self._record(self._create_api, "POST", self._path("Messages.json"), data=form)
            return _sid(record, "SM", "MM")

        async def find() -> str | None:
            return await self.find_sms(to=to, body_contains=body, sent_after=started)

        sid = await create_or_adopt(create, find, max_retries=self.max_retries, max_inline_wait=self.max_inline_wait)
        log.debug("Twilio: SMS %s to %s", sid, mask(to))
        return sid

    async def find_sms(self, *, to: str, body_contains: str, sent_after: datetime) -> str | None:
        """The SID of the oldest SMS to ``to`` from this sender created at or after ``sent_after`` whose body holds
        ``body_contains``; None when there is none (for crash recovery: was it sent before?)."""
        after = _utc(sent_after) - CLOCK_SLACK
        params: dict[str, Any] = {"To": _number(to), "PageSize": PAGE_SIZE}
        if not self.settings.messaging_service_sid:
            params["From"] = self._from_number("SMS pages")

        def matches(item: Mapping[str, Any]) -> bool:
            created = _date(item.get("date_created"))
            service = self.settings.messaging_service_sid
            return (
                created is not None and created >= after
                and body_contains in str(item.get("body") or "")
                and (not service or item.get("messaging_service_sid") == service)
                and str(item.get("direction") or "outbound-api").startswith("outbound")
            )

        dated = {**params, "DateSent>": after.strftime("%Y-%m-%d")}
        found = [m async for m in self._list("Messages.json", "messages", dated) if matches(m)]
        if not found:  # still queued: no date_sent yet, so the date filter left it out
            found = [m async for m in self._list("Messages.json", "messages", params) if matches(m)]
        if not found:
            return None
        oldest = min(found, key=lambda m: (_date(m.get("date_created")) or after, str(m.get("sid"))))
        return _sid(oldest, "SM", "MM")

    async def message_status(self, sid: str) -> dict[str, Any]:
        """A message as Twilio has it now (``status``, ``error_code``, …)."""
        return await self._record(self.api, "GET", self._path(f"Messages/{_safe_sid(sid)}.json"))

    # -- calls --------------------------------------------------------------------------------------
    async def call(self, *, to: str, twiml_url: str, status_callback: str | None = None) -> str:
        """Place a call that plays the TwiML at ``twiml_url`` (fetched by a signed POST); returns its Call SID
        (``CA…``). ``status_callback`` hears of every progress event."""
        form: dict[str, Any] = {
            "To": _number(to),
            "From": self._from_number("calls"),
            "Url": twiml_url,
            "Method": "POST",
        }
        if status_callback:
            form.update({"StatusCallback": status_callback, "StatusCallbackMethod": "POST",
                         "StatusCallbackEvent": list(CALL_EVENTS)})
        started = datetime.now(UTC)

        async def create() -> str:
            record = await self._record(self._create_api, "POST", self._path("Calls.json"), data=form)
            return _sid(record, "CA")

        async def find() -> str | None:
            found = await self.find_call(to=to, sent_after=started)
            return found[0] if found else None

        sid = await create_or_adopt(create, find, max_retries=self.max_retries, max_inline_wait=self.max_inline_wait)
        log.debug("Twilio: call %s to %s", sid, mask(to))
        return sid

    async def find_call(self, *, to: str, sent_after: datetime) -> list[str]:
        """The SIDs of the calls to ``to`` from ``twilio.from_number`` created at or after ``sent_after``, oldest
        first (for crash recovery)."""
        after = _utc(sent_after) - CLOCK_SLACK
        params: dict[str, Any] = {"To": _number(to), "From": self._from_number("calls"), "PageSize": PAGE_SIZE}
        found: dict[str, datetime] = {}
        for query in ({**params, "StartTime>": after.strftime("%Y-%m-%d")}, params):
            async for item in self._list("Calls.json", "calls", query):
                created = _date(item.get("date_created"))
                if created is not None and created >= after:
                    found[_sid(item, "CA")] = created
        return sorted(found, key=lambda sid: (found[sid], sid))

    async def call_status(self, sid: str) -> dict[str, Any]:
        return await self._record(self.api, "GET", self._path(f"Calls/{_safe_sid(sid)}.json"))

    async def check_credentials(self) -> None:
        """Read the account: the SID and the token (or API key) are accepted."""
        await self._record(self.api, "GET", f"{API_VERSION}/Accounts/{self._account()}.json")

    # -- plumbing -----------------------------------------------------------------------------------
    def _account(self) -> str:
        if not self.account_sid:
            raise Permanent(SYSTEM, "twilio.account_sid is not set: copy the Account SID (AC…) from the Twilio "
                                    "Console.")
        return self.account_sid

    def _path(self, resource: str) -> str:
        return f"{API_VERSION}/Accounts/{self._account()}/{resource}"

    def _from_number(self, purpose: str) -> str:
        if not self.settings.from_number:
            raise Permanent(SYSTEM, f"twilio.from_number is not set but {purpose} need it: set it to a number of "
                                    "the Twilio account in E.164 (+14155550100).")
        return self.settings.from_number

    async def _auth_headers(self) -> Mapping[str, str]:
        s = self.settings
        if s.api_key_sid:
            user, secret = s.api_key_sid, s.api_key_secret
            missing = "twilio.api_key_secret is not set: set WARROOM_TWILIO__API_KEY_SECRET (or twilio.api_key_secret_file)."
        else:
            user, secret = self._account(), s.auth_token
            missing = "twilio.auth_token is not set: set WARROOM_TWILIO__AUTH_TOKEN (or twilio.auth_token_file)."
        if secret is None or not secret.get_secret_value():
            raise Permanent(SYSTEM, missing)
        basic = base64.b64encode(f"{user}:{secret.get_secret_value()}".encode()).decode()
        return {"Authorization": f"Basic {basic}", "Accept": "application/json"}

    async def _list(self, resource: str, key: str, params: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The items of a list resource, newest first, following ``next_page_uri`` for at most FIND_PAGES pages."""
        path: str | None = self._path(resource)
        query: Mapping[str, Any] | None = params
        for _ in range(FIND_PAGES):
            if path is None:
                return
            page = await self._record(self.api, "GET", path, params=query)
            for item in page.get(key) or []:
                if isinstance(item, dict):
                    yield item
            following = page.get("next_page_uri")
            path, query = (str(following), None) if following else (None, None)

    async def _record(self, api: JsonApi, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await api.json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Permanent(SYSTEM, f"{method} {_short(path)} did not answer with an object")
        return body

    # -- translating Twilio's answers ---------------------------------------------------------------
    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: Twilio's error bodies into warroom's errors, before JsonApi sees them. 429 and 5xx
        are left to JsonApi (waited out or retried; then RateLimited or Transient)."""
        status = response.status_code
        if status < 400 or status == 429 or status >= 500:
            return
        if not str(response.request.url).startswith(self.api_url):
            return
        await response.aread()
        body = _json(response)
        code = body.get("code") if isinstance(body.get("code"), int) else None
        message = mask_numbers(str(body.get("message") or f"HTTP {status}"))[:300]
        about = f"error {code}: {message}" if code else message
        more = f" ({body['more_info']})" if isinstance(body.get("more_info"), str) and body.get("more_info") else ""
        method, path = response.request.method, _short(response.request.url.path)
        if status == 401 or code == 20003:
            raise Permanent(
                SYSTEM,
                f"Twilio refused the credentials ({about}): check twilio.account_sid and set WARROOM_TWILIO__AUTH_TOKEN "
                "(or twilio.auth_token_file) to that account's auth token (or twilio.api_key_sid and its secret).",
            )
        if status == 404 or code == 20404:
            raise NotFound(SYSTEM, f"{method} {path}: {about}")
        if code in RECIPIENT_CODES:
            to = _form_value(response.request, "To")
            who = mask(to) if to else "the number"
            raise Permanent(SYSTEM, f"{who} {RECIPIENT_CODES[code]} ({about}){more}; fix the person's phone contact "
                                    "or page them another way.")
        if code in SENDER_CODES:
            raise Permanent(SYSTEM, f"Twilio refused the sender ({about}){more}: check twilio.from_number (a number of "
                                    "this account that can send SMS and make calls) and twilio.messaging_service_sid.")
        raise Permanent(SYSTEM, f"{method} {path} was refused ({about}){more}.")


def _form_value(request: httpx.Request, name: str) -> str:
    try:
        content = request.content.decode("utf-8", "replace")
    except httpx.RequestNotRead:
        return ""
    for key, value in parse_qsl(content, keep_blank_values=True):
        if key == name:
            return value
    return ""


def _number(number: str) -> str:
    value = number.strip()
    if not value or any(c in value for c in "\r\n\x00"):
        raise Permanent(SYSTEM, f"{mask(value) or 'an empty number'} is not a phone number: fix the person's phone "
                                "contact (E.164, e.g. +14155550100).")
    return value


def _sid(record: Mapping[str, Any], *prefixes: str) -> str:
    sid = record.get("sid")
    if not isinstance(sid, str) or not sid.startswith(prefixes):
        raise Permanent(SYSTEM, f"Twilio answered without a {'/'.join(prefixes)}… sid")
    return sid


def _safe_sid(sid: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}[0-9a-fA-F]{32}", sid):
        raise NotFound(SYSTEM, f"{sid[:40]!r} is not a Twilio SID")
    return sid


def _date(value: Any) -> datetime | None:
    """Twilio's RFC 2822 dates (``Thu, 30 Jul 2015 20:12:31 +0000``)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _utc(when: datetime) -> datetime:
    when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
    return when.astimezone(UTC).replace(microsecond=0)


def _short(path: str) -> str:
    """A path for error reasons: the account part shortened."""
    return re.sub(r"/Accounts/AC[0-9a-fA-F]{32}", "/Accounts/AC…", path)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

