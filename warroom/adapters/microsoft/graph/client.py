"""The one choke point to Microsoft Graph: :class:`GraphClient` (the Entra token, retries, pacing per team,
Graph's errors translated), :class:`Pacer`, and the helpers the resource modules share (paths, collections,
OData).

- **Tokens**: the bot's app registration, client credentials from Entra ID for ``https://graph.microsoft.com/
  .default`` (:class:`~warroom.adapters.microsoft.entra.EntraToken`), cached until shortly before expiry,
  fetched again once on a 401.
- **One choke point**: every call goes through :class:`~warroom.adapters.http.JsonApi`. 429 — and 503 carrying
  ``Retry-After`` — mean Graph did nothing: waited out inline with jitter when short, else
  :class:`~warroom.adapters.errors.RateLimited`; other 5xx are retried with backoff for reads and returned as
  :class:`~warroom.adapters.errors.Transient` for creates, whose callers look the record up before creating
  again. Calls under ``/teams/{id}`` are paced to Graph's 4 requests per second per app per team, so that a
  burst of war rooms in one team waits its turn instead of collecting 429s. Graph's ``{"error": {"code",
  "message"}}`` answers become warroom's errors with Graph's message and, where it helps, what to do.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Self
from urllib.parse import quote, unquote

import httpx

from warroom.adapters.errors import Conflict, NotFound, Permanent
from warroom.adapters.http import JsonApi, error_reason, hook, unhook
from warroom.adapters.microsoft.entra import GRAPH_SCOPE, EntraToken
from warroom.adapters.observe import CallObserver, ignore
from warroom.settings import TeamsSettings

SYSTEM = "Microsoft Graph"
#: The name Graph calls are observed under (:mod:`warroom.adapters.observe`).
LABEL = "graph"
NAME_TAKEN = "channel name already existed"
PERMISSIONS_HINT = (
    "grant the warroom app registration that Microsoft Graph application permission and an administrator's "
    "consent (the README lists them)"
)


class NoAccessPolicy(Permanent):
    """Graph refused an online-meetings call: no application access policy lets the app act for that user."""


class Pacer:
    """At most ``rate`` calls per ``per`` seconds per key, in this process: callers wait for a slot."""

    def __init__(self, rate: int, per: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.per = per
        self._clock = clock
        self._sent: dict[str, deque[float]] = {}

    async def slot(self, key: str) -> None:
        while True:
            now = self._clock()
            sent = self._sent.setdefault(key, deque())
            while sent and now - sent[0] >= self.per:
                sent.popleft()
            if len(sent) < self.rate:
                sent.append(now)
                return
            await asyncio.sleep(sent[0] + self.per - now)


class GraphClient:
    """The connection to Graph that every resource of :class:`~warroom.adapters.microsoft.graph.TeamsGraph` calls
    through. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        graph_url: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        team_rps: int = 4,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.monotonic,
        observe: CallObserver = ignore,
    ) -> None:
        self.graph_url = graph_url.rstrip("/")
        self.app_id = client_id
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self.token = EntraToken(
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=GRAPH_SCOPE,
            system=SYSTEM,
            timeout=timeout,
            max_retries=max_retries,
            max_inline_wait=max_inline_wait,
            clock=clock,
            observe=observe,
        )
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._translate)
        hook(http, "request", self._pace)
        self._http = http
        self._own_http = client is None
        self.api = JsonApi(
            SYSTEM,
            self.graph_url,
            client=http,
            timeout=timeout,
            max_retries=max_retries,
            max_inline_wait=max_inline_wait,
            auth=self._headers,
            on_unauthorized=self.token.forget,
            throttle_statuses=(503,),
            retry_after_jitter=0.2,
            observe=observe,
            label=LABEL,
        )
        # a little over a second per 4 calls: the emulator's and Graph's windows are not ours to the millisecond
        self.pacer = Pacer(team_rps, 1.1, clock)

    @classmethod
    def from_settings(cls, settings: TeamsSettings, *, observe: CallObserver = ignore) -> Self:
        secret = settings.app_password.get_secret_value() if settings.app_password is not None else ""
        return cls(
            graph_url=settings.graph_url,
            token_url=EntraToken.url_for(settings.login_url, settings.tenant_id),
            client_id=settings.app_id,
            client_secret=secret,
            timeout=settings.timeout,
            observe=observe,
        )

    @property
    def calls(self) -> int:
        return self.api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        unhook(self._http, "request", self._pace)
        await self.api.aclose()
        await self.token.aclose()

    async def _pace(self, request: httpx.Request) -> None:
        """httpx request hook: every request under ``/teams/{id}`` — retries included — waits for a slot of that
        team's pace."""
        url = str(request.url)
        prefix = f"{self.graph_url}/teams/"
        if url.startswith(prefix):
            await self.pacer.slot(unquote(url[len(prefix) :].split("/", 1)[0].split("?", 1)[0]))

    async def _headers(self) -> Mapping[str, str]:
        return {**(await self.token.headers()), "Accept": "application/json"}

    async def _team_call(self, team_id: str, method: str, path: str, **kwargs: Any) -> Any:
        """A call under ``/teams/{team_id}`` (paced by :meth:`_pace`)."""
        return await self.api.json(method, path, **kwargs)

    async def _pages(
        self,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        team_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        url: str | None = path
        query: Mapping[str, str] | None = params
        seen: set[str] = set()
        while url is not None:
            if team_id is not None:
                answer = await self._team_call(team_id, "GET", url, params=query, headers=headers)
            else:
                answer = await self.api.json("GET", url, params=query, headers=headers)
            for record in _values(answer):
                yield record
            next_link = answer.get("@odata.nextLink") if isinstance(answer, dict) else None
            if not next_link or next_link in seen:
                return
            seen.add(str(next_link))
            url, query = str(next_link), None

    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: Graph's error answers into warroom's errors, with Graph's words and what to do."""
        status = response.status_code
        if (
            status < 400
            or status == 429
            or status >= 500
            or not str(response.request.url).startswith(self.graph_url)
        ):
            return
        if status == 401:
            return  # JsonApi fetches a new token once, then reports it
        await response.aread()
        code, message = _graph_error(response)
        method = response.request.method
        path = response.request.url.path.removeprefix(httpx.URL(self.graph_url).path)
        what = f"{method} {path}"
        if status == 400 and NAME_TAKEN in message.lower():
            raise Conflict(SYSTEM, f"{what}: {message}")
        if status == 409:
            raise Conflict(SYSTEM, f"{what}: {message or 'conflict'}")
        if status == 404:
            raise NotFound(SYSTEM, f"{what}: {message or 'not found'}")
        if status == 403 and "application access policy" in message.lower():
            raise NoAccessPolicy(
                SYSTEM,
                f"{what} was refused ({message}): the Teams meeting organizer (teams.meeting_organizer) needs an "
                "application access policy for this app — an administrator runs New-CsApplicationAccessPolicy "
                "and Grant-CsApplicationAccessPolicy for that user.",
            )
        if status == 403:
            raise Permanent(SYSTEM, f"{what} was refused ({code}: {message}): {PERMISSIONS_HINT}.")
        raise Permanent(SYSTEM, f"{what} was refused ({code or status}): {message or error_reason(response)}")


# -- helpers the resources share ---------------------------------------------------------------------------
def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _values(answer: Any) -> list[dict[str, Any]]:
    if not isinstance(answer, dict) or not isinstance(answer.get("value"), list):
        raise Permanent(SYSTEM, "Graph answered a collection request without a value list")
    return [r for r in answer["value"] if isinstance(r, dict)]


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    return "", str(body)[:300]
