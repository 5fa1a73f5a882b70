"""Zoom meetings as incident bridges: the :class:`~warroom.adapters.ports.BridgePort` for Zoom.

Based on Zoom's API reference (developers.zoom.us) and the reference notes in
../shared/reference/chat-and-bridges.md; :mod:`warroom.sandbox.zoom` emulates the same behaviour.

- **Tokens**: Server-to-Server OAuth, ``POST {oauth_url}`` with ``grant_type=account_credentials`` and
  ``account_id`` form-encoded in the body and the client id and secret as HTTP Basic (``client_secret_basic``).
  This is a plain :class:`~warroom.adapters.http.JsonApi` call, not authlib: authlib 1.9 deprecates its httpx
  integration in favour of the separate ``httpx2`` package (warning at import, and its exceptions would then not be
  httpx's), and the grant is one form POST that JsonApi already retries and translates. Tokens are cached until
  shortly before they expire (10 % of their life, at most a minute) and fetched again once on a 401. The token's
  ``api_url`` is not followed: the configured ``api_url`` is used (``https://api.zoom.us/v2`` always works).
- **A scheduled meeting (type 2) starting now, not an instant one (type 1)**: Zoom's List Meetings API never
  returns instant meetings, so an instant bridge could not be found again after a crash and a retry would open a
  second one. The meeting lets people in without the host (``join_before_host``, ``jbh_time`` 0, no waiting room),
  because the host is the API user and never joins; ``duration`` is informational — Zoom does not end a meeting
  at its scheduled end, and a non-recurring meeting stays joinable until it expires 30 days later.
- **Idempotent create**: the create POST is never retried blindly. After a 5xx, a timeout or a lost connection
  the meeting may exist, so the host's meetings are searched for the topic first and a match is returned; only
  when there is none is the POST sent again (up to ``max_retries`` times, with backoff). A 429 means nothing was
  done: it is waited out inline when short, else :class:`~warroom.adapters.errors.RateLimited`.
- **Rate limits**: Zoom answers its per-user daily create limit with 429, ``X-RateLimit-Type: Daily-limit`` and an
  ISO 8601 ``Retry-After`` (``2020-05-31T00:00:00Z``); that becomes ``RateLimited`` with the seconds until then
  (or until 00:00 UTC). An ISO ``Retry-After`` on any other 429 is rewritten to seconds for JsonApi.
- **find_meeting** pages ``GET /users/{host}/meetings?type=scheduled`` (every unexpired meeting: live, upcoming
  and past; 300 a page, following ``next_page_token``), takes the oldest meeting whose topic is exactly the
  (Zoom-truncated) topic, and reads it whole with ``GET /meetings/{id}``.
- **The host user** (:meth:`ZoomBridge.host`): ``GET /users/{host}`` — its type (2 is Licensed; a Basic user's
  meetings are cut off after 40 minutes) and status (``active``; ``inactive`` is deactivated,
  ``pending`` has not accepted the invitation). It needs ``user:read:user:admin``, which only the online check of
  the configuration uses. A user the account does not have is :class:`UnknownHost`; a token without the scope an
  operation needs (Zoom's 400 code 4711) is :class:`MissingScope`, naming the scope.
- **Never leaked**: the returned :class:`~warroom.adapters.ports.Meeting` is built from an allow-list — join
  URL, meeting number, passcodes and dial-in numbers. ``start_url`` (which starts the meeting as the host) and
  anything else host-only is never copied.
"""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from warroom.settings import ZoomSettings

from .errors import NotFound, Permanent, RateLimited
from .http import JsonApi, TokenCache, create_or_adopt, error_reason, hook, retry_after_seconds, unhook
from .observe import CallObserver, ignore
from .ports import Meeting

SYSTEM = "Zoom"
TOPIC_MAX = 200
AGENDA_MAX = 2000
PAGE_SIZE = 300
#: Scheduled length of a bridge in minutes (informational: Zoom does not end meetings at their scheduled end).
BRIDGE_MINUTES = 240
MEETING_SETTINGS: dict[str, Any] = {
    "join_before_host": True,
    "jbh_time": 0,
    "waiting_room": False,
    "mute_upon_entry": True,
    "participant_video": False,
    "host_video": False,
    "approval_type": 2,
    "audio": "both",
    "auto_recording": "none",
}


class UnknownHost(Permanent):
    """Zoom has no user ``zoom.host_user`` in the account (its 404 code 1001)."""


class MissingScope(Permanent):
    """The Server-to-Server OAuth app lacks the scope a call needs (Zoom's 400 code 4711); ``scopes``: those Zoom
    named, any one of which would do."""

    def __init__(self, system: str, reason: str, scopes: str) -> None:
        super().__init__(system, reason)
        self.scopes = scopes


def zoom_topic(topic: str) -> str:
    """The topic as Zoom stores it (at most 200 characters)."""
    return topic[:TOPIC_MAX]


class ZoomBridge:
    """Zoom bridges for war rooms. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    provider = "zoom"

    def __init__(
        self,
        *,
        api_url: str,
        oauth_url: str,
        account_id: str,
        client_id: str,
        client_secret: str,
        host_user: str = "me",
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: CallObserver = ignore,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.oauth_url = oauth_url
        self.account_id = account_id
        self.host_user = host_user or "me"
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self._clock = clock
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._translate)
        self._http = http
        self._own_http = client is None
        common: dict[str, Any] = {"client": http, "timeout": timeout, "max_inline_wait": max_inline_wait,
                                  "observe": observe}
        self._token_api = JsonApi(SYSTEM, oauth_url, max_retries=max_retries, **common)
        self.api = JsonApi(
            SYSTEM, self.api_url, max_retries=max_retries, auth=self._auth_headers, on_unauthorized=self._forget_token,
            **common,
        )
        # The create POST: no blind retries (see the module notes); create_meeting retries it after a lookup.
        self._create_api = JsonApi(
            SYSTEM, self.api_url, max_retries=0, auth=self._auth_headers, on_unauthorized=self._forget_token, **common
        )
        # the token endpoint's own retries are _token_api's; the cache only keeps the token
        self._tokens = TokenCache(self._fetch_token, clock=self._clock, max_retries=0)

    @classmethod
    def from_settings(cls, settings: ZoomSettings, *, observe: CallObserver = ignore) -> ZoomBridge:
        secret = settings.client_secret.get_secret_value() if settings.client_secret is not None else ""
        return cls(
            api_url=settings.api_url,
            oauth_url=settings.oauth_url,
            account_id=settings.account_id,
            client_id=settings.client_id,
            client_secret=secret,
            host_user=settings.host_user,
            timeout=settings.timeout,
            observe=observe,
        )

    @property
    def calls(self) -> int:
        """API calls made (each retry counts), not counting token requests."""
        return self.api.calls + self._create_api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        if self._own_http:
            await self._http.aclose()

    # -- BridgePort ---------------------------------------------------------------------------------
    async def create_meeting(self, topic: str, *, agenda: str = "") -> Meeting:
        title = zoom_topic(topic)
        body = {
            "topic": title,
            "type": 2,
            "start_time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration": BRIDGE_MINUTES,
            "timezone": "UTC",
            "agenda": agenda[:AGENDA_MAX],
            "settings": MEETING_SETTINGS,
        }
        path = f"users/{quote(self.host_user, safe='@')}/meetings"

        async def create() -> Meeting:
            return _meeting(await self._record(self._create_api, "POST", path, json=body), title)

        return await create_or_adopt(
            create, lambda: self.find_meeting(title), max_retries=self.max_retries, max_inline_wait=self.max_inline_wait
        )

    async def find_meeting(self, topic: str) -> Meeting | None:
        title = zoom_topic(topic)
        matches = [m async for m in self._host_meetings() if m.get("topic") == title]
        if not matches:
            return None
        oldest = min(matches, key=lambda m: (str(m.get("created_at") or ""), str(m.get("id"))))
        try:
            record = await self._record(self.api, "GET", f"meetings/{int(oldest['id'])}")
        except NotFound:
            return None  # deleted since it was listed
        except (KeyError, TypeError, ValueError):
            raise Permanent(SYSTEM, "GET /users/…/meetings listed a meeting without a numeric id") from None
        return _meeting(record, title)

    async def host(self) -> dict[str, Any]:
        """``GET /users/{host}``: the user the bridges are scheduled for (``zoom.host_user``), with its ``type`` and
        ``status``."""
        return await self._record(self.api, "GET", f"users/{quote(self.host_user, safe='@')}")

    async def check_credentials(self) -> None:
        """Fetch an access token now: the Server-to-Server OAuth app's account id, client id and secret."""
        self._tokens.forget()
        await self._tokens.get()

    # -- reading ------------------------------------------------------------------------------------
    async def _host_meetings(self) -> AsyncIterator[dict[str, Any]]:
        path = f"users/{quote(self.host_user, safe='@')}/meetings"
        params: dict[str, Any] = {"type": "scheduled", "page_size": PAGE_SIZE}
        seen: set[str] = set()
        while True:
            page = await self._record(self.api, "GET", path, params=params)
            for item in page.get("meetings") or []:
                if isinstance(item, dict):
                    yield item
            token = str(page.get("next_page_token") or "")
            if not token or token in seen:
                return
            seen.add(token)
            params = {"type": "scheduled", "page_size": PAGE_SIZE, "next_page_token": token}

    async def _record(self, api: JsonApi, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await api.json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Permanent(SYSTEM, f"{method} /{path} did not answer with an object")
        return body

    # -- tokens -------------------------------------------------------------------------------------
    async def _auth_headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self._tokens.get()}", "Accept": "application/json"}

    async def _forget_token(self) -> None:
        self._tokens.forget()

    @property
    def token_fetches(self) -> int:
        """Access tokens fetched so far (for tests and benchmarks)."""
        return self._tokens.fetches

    async def _fetch_token(self) -> tuple[str, float]:
        answer = await self._token_api.json(
            "POST",
            self.oauth_url,
            data={"grant_type": "account_credentials", "account_id": self.account_id},
            headers={"Authorization": f"Basic {self._basic}", "Accept": "application/json"},
        )
        access = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(access, str) or not access:
            raise Permanent(SYSTEM, "the token endpoint answered without an access_token")
        try:
            lifetime = float(answer.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        return access, lifetime

    # -- translating Zoom's answers -----------------------------------------------------------------
    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: Zoom's own error shapes into warroom's errors, before JsonApi sees them."""
        url = str(response.request.url)
        status = response.status_code
        if status < 400:
            return
        if url.startswith(self.oauth_url):
            if status in (400, 401, 403):
                await response.aread()
                raise Permanent(
                    SYSTEM,
                    f"Zoom refused the Server-to-Server OAuth credentials ({_oauth_reason(response)}): check "
                    "zoom.account_id and zoom.client_id against the app in the Zoom App Marketplace and set "
                    "WARROOM_ZOOM__CLIENT_SECRET (or zoom.client_secret_file) to its client secret.",
                )
            return
        if not url.startswith(self.api_url):
            return
        if status == 429:
            if response.headers.get("X-RateLimit-Type", "").lower() == "daily-limit":
                wait = retry_after_seconds(response.headers.get("Retry-After"), default=3600.0)
                raise RateLimited(
                    SYSTEM,
                    "Zoom's daily limit of meeting creations for the bridge host is used up; it resets at 00:00 UTC "
                    "(or set zoom.host_user to another licensed user).",
                    wait,
                )
            return
        if status in (400, 404):
            await response.aread()
            body = _json(response)
            method, path = response.request.method, response.request.url.path
            if status == 404 and body.get("code") == 1001:
                raise UnknownHost(
                    SYSTEM,
                    f"Zoom has no user '{self.host_user}' in this account: set zoom.host_user to the email or id of "
                    "a licensed user who may host the bridges, or to 'me'.",
                )
            if status == 400 and body.get("code") == 4711:
                message = str(body.get("message") or "")
                scopes = message.partition("[")[2].partition("]")[0] or "(Zoom did not say which)"
                raise MissingScope(
                    SYSTEM,
                    f"{method} {path} was refused: the Server-to-Server OAuth app lacks the scope it needs (one of "
                    f"{scopes}): add it to the app in the Zoom App Marketplace (Scopes).",
                    scopes,
                )
            errors = body.get("errors")
            if status == 400 and isinstance(errors, list) and errors:
                details = "; ".join(
                    f"{e.get('field', '?')}: {e.get('message', '')}" for e in errors if isinstance(e, dict)
                )
                raise Permanent(SYSTEM, f"{method} {path} was refused ({body.get('message', 'Validation Failed.')}): {details}")


def _meeting(record: Mapping[str, Any], title: str) -> Meeting:
    """The meeting as participants may see it: an allow-list, so no host-only field can slip through."""
    try:
        meeting_id = str(int(record["id"]))
        join_url = str(record["join_url"])
    except (KeyError, TypeError, ValueError):
        raise Permanent(SYSTEM, "Zoom answered with a meeting that has no id or join_url") from None
    extra: dict[str, Any] = {"meeting_number": meeting_id}
    if record.get("password"):
        extra["passcode"] = str(record["password"])
    if record.get("pstn_password"):
        extra["phone_passcode"] = str(record["pstn_password"])
    raw = record.get("settings")
    settings: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    dial_in = []
    for number in settings.get("global_dial_in_numbers") or []:
        if isinstance(number, dict) and number.get("number"):
            place = ", ".join(str(number[k]) for k in ("city", "country_name") if number.get(k))
            dial_in.append({"label": place, "number": str(number["number"]), "type": str(number.get("type") or "toll")})
    if dial_in:
        extra["dial_in"] = dial_in
    return Meeting(provider="zoom", id=meeting_id, join_url=join_url, topic=str(record.get("topic") or title), extra=extra)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _oauth_reason(response: httpx.Response) -> str:
    body = _json(response)
    reason = body.get("reason") or body.get("error_description") or body.get("error")
    return str(reason) if reason else error_reason(response)


