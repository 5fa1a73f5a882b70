"""Webex meetings as incident bridges: the :class:`~warroom.adapters.ports.BridgePort` for Webex.

Based on Webex's Meetings API (webex/webex-openapi-specs ``webex-meeting.json``, "REST API Basics") and the
reference notes in ../shared/reference/chat-and-bridges.md; :mod:`warroom.sandbox.webex` emulates the same.

- **Auth**: a Bearer token (bot, integration or service-app token with ``meeting:schedules_write`` and
  ``meeting:schedules_read``). There is nothing to refresh here: a 401 becomes
  :class:`~warroom.adapters.errors.Permanent` saying which setting to fix.
- **A scheduled meeting starting now, not an ad-hoc one**: Webex's instant (``adhoc``) meetings need the
  ``roomId`` of a Webex space, which a Slack or Teams war room does not have; they are also never listed, so one
  could not be found again after a crash. So the bridge is a meeting series whose ``start`` is the next whole
  minute (Webex refuses a start before now and cuts seconds) and whose ``end`` is ``BRIDGE_HOURS`` later (the
  longest Webex allows is 23 h 59 min). People may join at once and without the host, who is the API user and never
  joins: ``enabledJoinBeforeHost`` with 15 minutes, audio before the host, and ``unlockedMeetingJoinSecurity:
  allowJoin`` (with the default lobby nobody would be admitted). No invitation emails are sent.
- **Titles** are cut to Webex's 128 characters; :meth:`WebexBridge.find_meeting` compares the cut title.
- **Idempotent create**: the POST is never retried blindly. After a 5xx, a timeout or a lost connection the
  meeting may exist, so it is looked up by title first and a match is returned; only when there is none is the
  POST sent again (up to ``max_retries`` times). A 429 (per-second or the ~100 meetings per 24 h per user limit)
  is waited out inline when ``Retry-After`` is short, else :class:`~warroom.adapters.errors.RateLimited`.
- **find_meeting** pages ``GET /meetings?meetingType=meetingSeries`` over the day before and after now (series
  overlapping the range are listed), 100 a page, following the ``Link: rel="next"`` header, takes the earliest
  series with exactly that title, and reads it whole with ``GET /meetings/{id}``.
- **May the token schedule?** (:meth:`WebexBridge.check_scheduling`, for the online check of the configuration)
  Webex has no call that lists a token's scopes, and answers 403 to a call the token lacks the scope for. So the
  check is ``DELETE /meetings/{id}`` of an id no meeting has: 404 means Webex let the token as far as looking the
  meeting up (``meeting:schedules_write`` is there; nothing is deleted, nothing is scheduled, no scheduling limit is
  spent); 403 (:class:`NotAllowed`) that the token lacks the scope or its user may not host meetings.
- **Never leaked**: the returned :class:`~warroom.adapters.ports.Meeting` is built from an allow-list — webLink,
  meeting number, SIP address, passcodes, access code and call-in numbers. The ``hostKey`` is never copied.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from warroom.settings import WebexSettings

from .errors import NotFound, Permanent
from .http import JsonApi, create_or_adopt, hook, unhook
from .observe import CallObserver, ignore
from .ports import Meeting

SYSTEM = "Webex"
TITLE_MAX = 128
AGENDA_MAX = 1300
PAGE_SIZE = 100
#: How long a bridge is scheduled for (Webex allows at most 23 h 59 min).
BRIDGE_HOURS = 12
#: How far around now find_meeting looks for the series.
SEARCH_WINDOW = 86400.0
JOIN_SETTINGS: dict[str, Any] = {
    "enabledJoinBeforeHost": True,
    "joinBeforeHostMinutes": 15,
    "enableConnectAudioBeforeHost": True,
    "unlockedMeetingJoinSecurity": "allowJoin",
    "enableAutomaticLock": False,
    "publicMeeting": False,
    "sendEmail": False,
    "scheduledType": "meeting",
}


#: A meeting id no meeting has (Webex's are 32 hex digits): what :meth:`WebexBridge.check_scheduling` asks for.
NO_MEETING = "0" * 32


class NotAllowed(Permanent):
    """Webex answered 403: the token lacks the scope the call needs, or its user may not do it."""


def webex_title(topic: str) -> str:
    """The topic as Webex stores it (at most 128 characters)."""
    return topic[:TITLE_MAX]


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class WebexBridge:
    """Webex bridges for war rooms. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    provider = "webex"

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        observe: CallObserver = ignore,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self._clock = clock
        self._token = token
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._translate)
        self._http = http
        self._own_http = client is None
        common: dict[str, Any] = {"client": http, "timeout": timeout, "max_inline_wait": max_inline_wait,
                                  "auth": self._auth_headers, "observe": observe}
        self.api = JsonApi(SYSTEM, self.api_url, max_retries=max_retries, **common)
        # The create POST: no blind retries (see the module notes); create_meeting retries it after a lookup.
        self._create_api = JsonApi(SYSTEM, self.api_url, max_retries=0, **common)

    @classmethod
    def from_settings(cls, settings: WebexSettings, *, observe: CallObserver = ignore) -> WebexBridge:
        token = settings.token.get_secret_value() if settings.token is not None else ""
        return cls(api_url=settings.api_url, token=token, timeout=settings.timeout, observe=observe)

    @property
    def calls(self) -> int:
        """API calls made (each retry counts)."""
        return self.api.calls + self._create_api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        if self._own_http:
            await self._http.aclose()

    # -- BridgePort ---------------------------------------------------------------------------------
    async def create_meeting(self, topic: str, *, agenda: str = "") -> Meeting:
        title = webex_title(topic)
        start = (math.floor(self._clock() / 60) + 1) * 60  # the next whole minute: never before now
        body = {
            "title": title,
            "agenda": agenda[:AGENDA_MAX],
            "start": _iso(start),
            "end": _iso(start + BRIDGE_HOURS * 3600),
            "timezone": "UTC",
            **JOIN_SETTINGS,
        }

        async def create() -> Meeting:
            return _meeting(await self._record(self._create_api, "POST", "meetings", json=body), title)

        return await create_or_adopt(
            create, lambda: self.find_meeting(title), max_retries=self.max_retries, max_inline_wait=self.max_inline_wait
        )

    async def find_meeting(self, topic: str) -> Meeting | None:
        title = webex_title(topic)
        matches = [m async for m in self._series() if m.get("title") == title]
        if not matches:
            return None
        earliest = min(matches, key=lambda m: (str(m.get("start") or ""), str(m.get("id"))))
        try:
            record = await self._record(self.api, "GET", f"meetings/{quote(str(earliest['id']), safe='')}")
        except NotFound:
            return None  # deleted since it was listed
        return _meeting(record, title)

    async def me(self) -> dict[str, Any]:
        """``GET /people/me``: the person (or bot) the access token belongs to — a check of the token."""
        return await self._record(self.api, "GET", "people/me")

    async def check_scheduling(self) -> None:
        """Whether the token may schedule meetings, without scheduling one (see the module notes): returns when it
        may; raises :class:`NotAllowed` when Webex refuses (403), or any other adapter error."""
        try:
            await self.api.request("DELETE", f"meetings/{NO_MEETING}")
        except NotFound:
            return

    # -- reading ------------------------------------------------------------------------------------
    async def _series(self) -> AsyncIterator[dict[str, Any]]:
        now = self._clock()
        url: str | None = "meetings"
        params: dict[str, Any] | None = {
            "meetingType": "meetingSeries",
            "from": _iso(now - SEARCH_WINDOW),
            "to": _iso(now + SEARCH_WINDOW),
            "max": PAGE_SIZE,
        }
        origin = urlsplit(self.api_url).netloc
        seen: set[str] = set()
        while url is not None:
            response = await self.api.request("GET", url, params=params)
            try:
                page = response.json()
            except ValueError:
                raise Permanent(SYSTEM, "GET /meetings answered with a body that is not JSON") from None
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise Permanent(SYSTEM, "GET /meetings did not answer with a list of items")
            for item in items:
                if isinstance(item, dict):
                    yield item
            url = response.links.get("next", {}).get("url")
            params = None  # the next link carries the whole query
            if url is not None:
                if urlsplit(url).netloc != origin:
                    raise Permanent(SYSTEM, f"GET /meetings: the next page is on another host ({urlsplit(url).netloc}); not following it")
                if url in seen:
                    return
                seen.add(url)

    async def _record(self, api: JsonApi, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await api.json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Permanent(SYSTEM, f"{method} /{path} did not answer with an object")
        return body

    async def _auth_headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}

    # -- translating Webex's answers ----------------------------------------------------------------
    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: Webex's errors into sentences, before JsonApi sees them."""
        status = response.status_code
        if status not in (400, 401, 403) or not str(response.request.url).startswith(self.api_url):
            return
        await response.aread()
        message, details, tracking = _webex_error(response)
        path = response.request.url.path.removeprefix(urlsplit(self.api_url).path)
        where = f"{response.request.method} {path}"
        if status == 401:
            raise Permanent(
                SYSTEM,
                f"Webex refused the access token on {where} ({message}): set WARROOM_WEBEX__TOKEN (or "
                "webex.token_file) to a valid token with the meeting:schedules_write and meeting:schedules_read scopes.",
            )
        if status == 403:
            raise NotAllowed(
                SYSTEM,
                f"Webex does not allow {where} for this token ({message}): give it the meeting:schedules_write and "
                f"meeting:schedules_read scopes, and the user a Webex Meetings licence{tracking}.",
            )
        raise Permanent(SYSTEM, f"{where} was refused: {details}{tracking}.")


def _webex_error(response: httpx.Response) -> tuple[str, str, str]:
    """(message, the errors' descriptions, " (tracking id …)") from a Webex error body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return f"HTTP {response.status_code}", f"HTTP {response.status_code}", ""
    message = str(body.get("message") or f"HTTP {response.status_code}").rstrip(".")
    descriptions = [
        str(e["description"]).rstrip(".") for e in body.get("errors") or [] if isinstance(e, dict) and e.get("description")
    ]
    tracking = body.get("trackingId") or response.headers.get("TrackingID")
    return message, "; ".join(descriptions) or message, f" (Webex tracking id {tracking})" if tracking else ""


def _meeting(record: Mapping[str, Any], title: str) -> Meeting:
    """The meeting as participants may see it: an allow-list, so the host key can never slip through."""
    meeting_id, link = record.get("id"), record.get("webLink")
    if not meeting_id or not link:
        raise Permanent(SYSTEM, "Webex answered with a meeting that has no id or webLink")
    extra: dict[str, Any] = {}
    for source, key in (
        ("meetingNumber", "meeting_number"),
        ("sipAddress", "sip_address"),
        ("password", "passcode"),
        ("phoneAndVideoSystemPassword", "phone_passcode"),
    ):
        if record.get(source):
            extra[key] = str(record[source])
    raw = record.get("telephony")
    telephony: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    if telephony.get("accessCode"):
        extra["access_code"] = str(telephony["accessCode"])
    dial_in = [
        {"label": str(n.get("label") or ""), "number": str(n["callInNumber"]), "type": str(n.get("tollType") or "toll")}
        for n in telephony.get("callInNumbers") or []
        if isinstance(n, dict) and n.get("callInNumber")
    ]
    if dial_in:
        extra["dial_in"] = dial_in
    return Meeting(provider="webex", id=str(meeting_id), join_url=str(link), topic=str(record.get("title") or title), extra=extra)


