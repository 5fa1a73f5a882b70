"""Microsoft Teams through Microsoft Graph (v1.0): war-room channels and group chats, people, the messages the bot
posted (to adopt them after a crash) and Teams meetings as bridges (:class:`TeamsMeetings`, a
:class:`~warroom.adapters.ports.BridgePort`).

Based on the Graph reference (learn.microsoft.com, the microsoftgraph docs repository), Teams' limits and throttling
pages and ../shared/reference/chat-and-bridges.md; :mod:`warroom.sandbox.teams.graph` emulates the same behaviour.

- **Tokens**: the bot's app registration, client credentials from Entra ID for ``https://graph.microsoft.com/
  .default`` (:class:`~warroom.adapters.microsoft.entra.EntraToken`), cached until shortly before expiry, fetched again once
  on a 401. Application permissions used: Channel.Create, Channel.Delete.All, ChannelSettings.ReadWrite.All
  (archive), ChannelMember.ReadWrite.All, TeamMember.Read.All, User.Read.All, Chat.Create, Chat.ReadBasic.All,
  TeamsAppInstallation.ReadWriteForChat.All, OnlineMeetings.ReadWrite.All (with an application access policy for
  the organizer), and ChannelMessage.Read.All / Chat.Read.All — or their resource-specific-consent forms — to read
  back the bot's own posts.
- **One choke point**: every call goes through :class:`~warroom.adapters.http.JsonApi`. 429 — and 503 carrying
  ``Retry-After`` — mean Graph did nothing: waited out inline with jitter when short, else
  :class:`~warroom.adapters.errors.RateLimited`; other 5xx are retried with backoff for reads and returned as
  :class:`~warroom.adapters.errors.Transient` for creates, whose callers look the record up before creating again.
  Calls under ``/teams/{id}`` are paced to Graph's 4 requests per second per app per team, so that a burst of
  war rooms in one team waits its turn instead of collecting 429s. Graph's ``{"error": {"code", "message"}}``
  answers become warroom's errors with Graph's message and, where it helps, what to do.
- **Channel names**: at most 50 characters, without ``~ # % & * { } + / \\ : < > ? | ' " ,`` or ``..``, not starting
  with ``_``/``.`` nor ending with ``.``; :func:`channel_display_name` shortens the title at a word boundary (the
  incident number always stays). A name in use — Graph's 400 "Channel name already existed", which also covers
  channels deleted in the last 30 days — is :class:`~warroom.adapters.errors.Conflict`; :meth:`TeamsGraph.open_channel`
  then adopts the channel if its description carries the caller's marker (ours, from an earlier attempt), else
  tries ``name (2)``, ``name (3)``, ….
- **Online meetings** are created with ``POST /users/{organizer}/onlineMeetings/createOrGet`` and an ``externalId``
  derived from the topic: Graph's idempotent create, so a retry after a crash returns the same meeting.
  :meth:`TeamsMeetings.find_meeting` returns None — Graph cannot list or filter meetings by subject, and
  :meth:`TeamsMeetings.create_meeting` already gets the existing one.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import httpx

from warroom.adapters.errors import Conflict, NotFound, Permanent, RateLimited, Transient
from warroom.adapters.http import JsonApi, backoff, create_or_adopt, error_reason, hook, unhook
from warroom.adapters.microsoft.entra import GRAPH_SCOPE, EntraToken
from warroom.adapters.ports import Meeting
from warroom.settings import TeamsSettings

SYSTEM = "Microsoft Graph"
NAME_MAX = 50
NAME_FORBIDDEN = re.compile(r"[~#%&*{}+/\\:<>?|'\",]")
NAME_TAKEN = "channel name already existed"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
#: Members a private channel may be created with (more are added one by one).
PRIVATE_MEMBERS_AT_CREATION = 200
#: Graph's $filter takes at most 15 values in one ``in`` clause.
FILTER_VALUES_MAX = 15
SUFFIX_ATTEMPTS = 20
MEETING_HOURS = 4
PERMISSIONS_HINT = (
    "grant the warroom app registration that Microsoft Graph application permission and an administrator's "
    "consent (the README lists them)"
)


# -- names ----------------------------------------------------------------------------------------------
def clean_channel_name(text: str) -> str:
    """Text made fit for a Teams channel name (forbidden characters become spaces; not yet shortened)."""
    cleaned = NAME_FORBIDDEN.sub(" ", text.replace("\n", " ").replace("\t", " "))
    while ".." in cleaned:
        cleaned = cleaned.replace("..", ".")
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()
    return cleaned.lstrip("_.").rstrip(".").strip()


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis when it is cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    cut = text[: limit - 1]
    if " " in cut and cut.rsplit(" ", 1)[0].strip() and len(cut.rsplit(" ", 1)[0]) >= limit // 2:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" -.") + "…"


def channel_display_name(pattern: str, *, number: int, title: str, service: str, priority: str | None) -> str:
    """A war-room channel name from the service's pattern: Teams' alphabet, at most 50 characters, the title
    shortened first so that the incident number is never cut off."""
    from warroom.core.model import slugify

    values = {"number": number, "service": service, "priority": priority or "", "slug": slugify(title)}
    fixed = clean_channel_name(pattern.format(title="\x00", **{**values, "slug": "\x00"}))
    room = NAME_MAX - len(fixed.replace("\x00", ""))
    title_part = shorten(clean_channel_name(title), max(room, 1))
    slug_part = shorten(slugify(title), max(room, 1))
    name = clean_channel_name(pattern.format(**{**values, "title": title_part, "slug": slug_part}))
    return shorten(name, NAME_MAX) or f"INC-{number}"


def with_suffix(name: str, n: int) -> str:
    """The n-th alternative of a taken name: ``name (n)``, within 50 characters."""
    if n <= 1:
        return name
    suffix = f" ({n})"
    return shorten(name, NAME_MAX - len(suffix)) + suffix


def meeting_external_id(topic: str) -> str:
    """The createOrGet key of a bridge: stable for a topic (which carries the incident's reference)."""
    return "warroom-" + hashlib.sha256(topic.encode()).hexdigest()[:40]


def odata_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# -- records ----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TeamsChannel:
    id: str
    team_id: str
    name: str
    url: str | None
    membership: str = "standard"
    description: str = ""


@dataclass(frozen=True, slots=True)
class TeamsUser:
    id: str
    email: str
    name: str


@dataclass(frozen=True, slots=True)
class GroupChat:
    id: str
    topic: str
    url: str | None


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message as Graph lists it: who sent it (an app id for bots), its HTML body and its attachments (each
    ``{contentType, content}`` with the content parsed when it is JSON)."""

    id: str
    app_id: str | None
    html: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None


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


class TeamsGraph:
    """Microsoft Graph for the Teams war room. Build with :meth:`from_settings`; close with :meth:`aclose`."""

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
        )
        # a little over a second per 4 calls: the emulator's and Graph's windows are not ours to the millisecond
        self.pacer = Pacer(team_rps, 1.1, clock)

    @classmethod
    def from_settings(cls, settings: TeamsSettings) -> TeamsGraph:
        secret = settings.app_password.get_secret_value() if settings.app_password is not None else ""
        return cls(
            graph_url=settings.graph_url,
            token_url=EntraToken.url_for(settings.login_url, settings.tenant_id),
            client_id=settings.app_id,
            client_secret=secret,
            timeout=settings.timeout,
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

    # -- channels -----------------------------------------------------------------------------------
    async def create_channel(
        self,
        team_id: str,
        name: str,
        *,
        description: str = "",
        private: bool = False,
        owner_ids: Sequence[str] = (),
        member_ids: Sequence[str] = (),
    ) -> TeamsChannel:
        """Create a channel. Raises Conflict when the name is taken (also by a channel deleted in the last 30
        days). A private channel is created with its owners and members (at most 200 in all)."""
        body: dict[str, Any] = {
            "displayName": name,
            "description": description,
            "membershipType": "private" if private else "standard",
        }
        if private:
            people = [*dict.fromkeys(owner_ids)] + [
                m for m in dict.fromkeys(member_ids) if m not in owner_ids
            ]
            body["members"] = [
                {
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
                    "roles": ["owner"] if user_id in owner_ids else [],
                }
                for user_id in people[:PRIVATE_MEMBERS_AT_CREATION]
            ]
        record = await self._team_call(team_id, "POST", f"teams/{_q(team_id)}/channels", json=body)
        return _channel(record, team_id)

    async def open_channel(
        self,
        team_id: str,
        name: str,
        *,
        marker: str,
        description: str,
        private: bool = False,
        owner_ids: Sequence[str] = (),
        member_ids: Sequence[str] = (),
        look_first: bool = False,
    ) -> TeamsChannel:
        """Create the war-room channel, never twice: a taken name is adopted when the channel's description
        carries ``marker`` (an earlier attempt of ours), otherwise ``name (2)``, ``name (3)``… is tried. After a
        failure that may have created it (a 5xx, a timeout), the channel is looked up before creating again; with
        ``look_first`` (a retried job) it is looked up before the first try too."""
        for n in range(1, SUFFIX_ATTEMPTS + 1):
            candidate = with_suffix(name, n)
            if look_first and (found := await self._ours(team_id, candidate, marker)) is not None:
                return found
            attempt = 0
            while True:
                attempt += 1
                try:
                    return await self.create_channel(
                        team_id,
                        candidate,
                        description=description,
                        private=private,
                        owner_ids=owner_ids,
                        member_ids=member_ids,
                    )
                except Conflict:
                    found = await self._ours(team_id, candidate, marker)
                    if found is not None:
                        return found
                    break  # someone else's: next suffix
                except RateLimited:
                    raise
                except Transient:
                    found = await self._ours(team_id, candidate, marker)
                    if found is not None:
                        return found
                    if attempt > self.max_retries:
                        raise
                    await asyncio.sleep(backoff(attempt))
        raise Conflict(
            SYSTEM,
            f"every channel name from '{name}' to '{with_suffix(name, SUFFIX_ATTEMPTS)}' is taken "
            "in the team: change the service's teams.name_pattern",
        )

    async def _ours(self, team_id: str, name: str, marker: str) -> TeamsChannel | None:
        found = await self.find_channel(team_id, name)
        return found if found is not None and marker in found.description else None

    async def find_channel(self, team_id: str, name: str) -> TeamsChannel | None:
        """The channel of that name (case-insensitively, as Teams compares them), if the team has one."""
        answer = await self._team_call(
            team_id,
            "GET",
            f"teams/{_q(team_id)}/channels",
            params={"$filter": f"displayName eq {odata_string(name)}"},
        )
        for record in _values(answer):
            if str(record.get("displayName", "")).lower() == name.lower():
                return _channel(record, team_id)
        return None

    async def list_channels(self, team_id: str) -> list[TeamsChannel]:
        answer = await self._team_call(team_id, "GET", f"teams/{_q(team_id)}/channels")
        return [_channel(r, team_id) for r in _values(answer)]

    async def team_member_ids(self, team_id: str) -> set[str]:
        """Object ids of the team's members."""
        ids: set[str] = set()
        async for record in self._pages(f"teams/{_q(team_id)}/members", {"$top": "999"}, team_id=team_id):
            if record.get("userId"):
                ids.add(str(record["userId"]))
        return ids

    async def add_channel_members(
        self, team_id: str, channel_id: str, user_ids: Sequence[str]
    ) -> dict[str, str]:
        """Add people to a private channel one by one; returns user id → why not, for those who could not be added
        (someone already a member is not a failure)."""
        refused: dict[str, str] = {}
        for user_id in dict.fromkeys(user_ids):
            body = {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": [],
                "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
            }
            try:
                await self._team_call(
                    team_id, "POST", f"teams/{_q(team_id)}/channels/{_q(channel_id)}/members", json=body
                )
            except Conflict:
                continue  # already a member
            except Permanent as exc:
                refused[user_id] = exc.reason
        return refused

    async def archive_channel(self, team_id: str, channel_id: str) -> None:
        await self._team_call(
            team_id,
            "POST",
            f"teams/{_q(team_id)}/channels/{_q(channel_id)}/archive",
            json={},
            idempotent=True,
        )

    async def unarchive_channel(self, team_id: str, channel_id: str) -> None:
        await self._team_call(
            team_id,
            "POST",
            f"teams/{_q(team_id)}/channels/{_q(channel_id)}/unarchive",
            json={},
            idempotent=True,
        )

    async def delete_channel(self, team_id: str, channel_id: str) -> None:
        try:
            await self._team_call(team_id, "DELETE", f"teams/{_q(team_id)}/channels/{_q(channel_id)}")
        except NotFound:
            return  # deleted already

    # -- people ---------------------------------------------------------------------------------------
    async def lookup_users(self, emails: Sequence[str]) -> dict[str, TeamsUser]:
        """Email (lower-case) → the directory user, for the emails that belong to someone, matched on ``mail`` or on
        the user principal name — one call per 7 emails (Graph takes at most 15 values in a filter)."""
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
        found: dict[str, TeamsUser] = {}
        size = FILTER_VALUES_MAX // 2
        for start in range(0, len(wanted), size):
            batch = wanted[start : start + size]
            values = ", ".join(odata_string(e) for e in batch)
            query = {
                "$filter": f"mail in ({values}) or userPrincipalName in ({values})",
                "$count": "true",
                "$select": "id,displayName,mail,userPrincipalName",
            }
            async for record in self._pages("users", query, headers={"ConsistencyLevel": "eventual"}):
                for key in ("mail", "userPrincipalName"):
                    email = str(record.get(key) or "").lower()
                    if email in batch and email not in found:
                        found[email] = _user(record, email)
        return found

    async def user_id(self, key: str) -> str:
        """The object id of a user given by object id or user principal name."""
        record = await self.api.json("GET", f"users/{_q(key)}", params={"$select": "id"})
        if not isinstance(record, dict) or not record.get("id"):
            raise Permanent(SYSTEM, f"GET /users/{key} answered without an id")
        return str(record["id"])

    # -- group chats ------------------------------------------------------------------------------------
    async def create_group_chat(self, topic: str, member_ids: Sequence[str]) -> GroupChat:
        """A group chat with these members, all owners (not idempotent: see :meth:`open_group_chat`)."""
        body = {
            "chatType": "group",
            "topic": topic,
            "members": [
                {
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "roles": ["owner"],
                    "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
                }
                for user_id in dict.fromkeys(member_ids)
            ],
        }
        record = await self.api.json("POST", "chats", json=body)
        return _chat(record)

    async def find_group_chat(self, topic: str, member_id: str) -> GroupChat | None:
        """The group chat of exactly that topic among ``member_id``'s chats."""
        async for record in self._pages(f"users/{_q(member_id)}/chats", {"$filter": "chatType eq 'group'"}):
            if record.get("topic") == topic:
                return _chat(record)
        return None

    async def open_group_chat(
        self, topic: str, member_ids: Sequence[str], *, look_first: bool = False
    ) -> GroupChat:
        """Create the group chat, never twice: after a failure that may have created it, and first of all with
        ``look_first``, the first member's chats are searched for the topic."""
        first = member_ids[0]
        if look_first and (found := await self.find_group_chat(topic, first)) is not None:
            return found
        return await create_or_adopt(
            lambda: self.create_group_chat(topic, member_ids),
            lambda: self.find_group_chat(topic, first),
            max_retries=self.max_retries,
            max_inline_wait=self.max_inline_wait,
        )

    async def install_app_in_chat(self, chat_id: str, catalog_app_id: str) -> None:
        """Install the Teams app (its id in the organisation's catalog) in a chat; installed already is fine."""
        body = {
            "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog_app_id}"
        }
        try:
            await self.api.json("POST", f"chats/{_q(chat_id)}/installedApps", json=body, idempotent=True)
        except Conflict:
            return

    # -- reading back the bot's posts ---------------------------------------------------------------------
    async def recent_messages(
        self, conversation_id: str, *, team_id: str | None = None, top: int = 50
    ) -> list[PostedMessage]:
        """The newest top-level messages of a channel (``team_id`` given) or a chat, newest first."""
        base = conversation_id.partition(";messageid=")[0]
        if team_id is not None:
            answer = await self._team_call(
                team_id, "GET", f"teams/{_q(team_id)}/channels/{_q(base)}/messages", params={"$top": str(top)}
            )
        else:
            answer = await self.api.json("GET", f"chats/{_q(base)}/messages", params={"$top": str(top)})
        return [_message(r) for r in _values(answer)]

    # -- online meetings ----------------------------------------------------------------------------------
    async def create_or_get_meeting(
        self, organizer_id: str, external_id: str, subject: str, start: datetime, end: datetime
    ) -> dict[str, Any]:
        body = {
            "externalId": external_id,
            "subject": subject,
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        record = await self.api.json(
            "POST", f"users/{_q(organizer_id)}/onlineMeetings/createOrGet", json=body, idempotent=True
        )
        if not isinstance(record, dict):
            raise Permanent(SYSTEM, "createOrGet did not answer with a meeting")
        return record

    # -- plumbing -----------------------------------------------------------------------------------------
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
            raise Permanent(
                SYSTEM,
                f"{what} was refused ({message}): the Teams meeting organizer (teams.meeting_organizer) needs an "
                "application access policy for this app — an administrator runs New-CsApplicationAccessPolicy "
                "and Grant-CsApplicationAccessPolicy for that user.",
            )
        if status == 403:
            raise Permanent(SYSTEM, f"{what} was refused ({code}: {message}): {PERMISSIONS_HINT}.")
        raise Permanent(SYSTEM, f"{what} was refused ({code or status}): {message or error_reason(response)}")


class TeamsMeetings:
    """Teams meetings as incident bridges (``bridge: teams``), organised by one user of the tenant."""

    provider = "teams"

    def __init__(self, graph: TeamsGraph, organizer: str, *, hours: int = MEETING_HOURS) -> None:
        self.graph = graph
        self.organizer = organizer
        self.hours = hours
        self._organizer_id: str | None = None

    async def _organizer(self) -> str:
        if not self.organizer:
            raise Permanent(
                SYSTEM,
                "teams.meeting_organizer is not set: name the user (object id or sign-in name) "
                "whose Teams meetings serve as bridges.",
            )
        if self._organizer_id is None:
            self._organizer_id = (
                self.organizer if _is_guid(self.organizer) else await self.graph.user_id(self.organizer)
            )
        return self._organizer_id

    async def create_meeting(self, topic: str, *, agenda: str = "") -> Meeting:
        start = datetime.now(UTC)
        record = await self.graph.create_or_get_meeting(
            await self._organizer(),
            meeting_external_id(topic),
            topic,
            start,
            start + timedelta(hours=self.hours),
        )
        return _meeting(record, topic)

    async def find_meeting(self, topic: str) -> Meeting | None:
        """Always None: Graph cannot look meetings up by subject, and :meth:`create_meeting` is idempotent."""
        return None


# -- answers into records ---------------------------------------------------------------------------------
def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _q(segment: str) -> str:
    return quote(segment, safe="")


def _is_guid(value: str) -> bool:
    return (
        re.fullmatch(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", value)
        is not None
    )


def _values(answer: Any) -> list[dict[str, Any]]:
    if not isinstance(answer, dict) or not isinstance(answer.get("value"), list):
        raise Permanent(SYSTEM, "Graph answered a collection request without a value list")
    return [r for r in answer["value"] if isinstance(r, dict)]


def _channel(record: Any, team_id: str) -> TeamsChannel:
    if not isinstance(record, dict) or not record.get("id"):
        raise Permanent(SYSTEM, "Graph answered with a channel that has no id")
    return TeamsChannel(
        id=str(record["id"]),
        team_id=team_id,
        name=str(record.get("displayName") or ""),
        url=record.get("webUrl") or None,
        membership=str(record.get("membershipType") or "standard"),
        description=str(record.get("description") or ""),
    )


def _chat(record: Any) -> GroupChat:
    if not isinstance(record, dict) or not record.get("id"):
        raise Permanent(SYSTEM, "Graph answered with a chat that has no id")
    return GroupChat(
        id=str(record["id"]), topic=str(record.get("topic") or ""), url=record.get("webUrl") or None
    )


def _user(record: dict[str, Any], email: str) -> TeamsUser:
    return TeamsUser(id=str(record["id"]), email=email, name=str(record.get("displayName") or email))


def _message(record: dict[str, Any]) -> PostedMessage:
    sender = _obj(record.get("from"))
    application = _obj(sender.get("application"))
    body = _obj(record.get("body"))
    attachments = []
    for item in record.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str) and item.get("contentType") == ADAPTIVE_CARD:
            try:
                content = json.loads(content)
            except ValueError:
                pass
        attachments.append({"contentType": item.get("contentType"), "content": content})
    return PostedMessage(
        id=str(record.get("id")),
        app_id=application.get("id"),
        html=str(body.get("content") or ""),
        attachments=attachments,
        reply_to=record.get("replyToId"),
    )


def _meeting(record: Mapping[str, Any], topic: str) -> Meeting:
    try:
        meeting_id = str(record["id"])
        join_url = str(record["joinWebUrl"])
    except KeyError:
        raise Permanent(
            SYSTEM, "Graph answered with an online meeting that has no id or joinWebUrl"
        ) from None
    extra: dict[str, Any] = {}
    settings = _obj(record.get("joinMeetingIdSettings"))
    if settings.get("joinMeetingId"):
        extra["meeting_number"] = str(settings["joinMeetingId"])
    if settings.get("passcode"):
        extra["passcode"] = str(settings["passcode"])
    audio = _obj(record.get("audioConferencing"))
    dial_in = [
        {"label": label, "number": str(audio[key]), "type": kind}
        for key, label, kind in (("tollNumber", "Toll", "toll"), ("tollFreeNumber", "Toll-free", "tollfree"))
        if audio.get(key)
    ]
    if dial_in:
        extra["dial_in"] = dial_in
    if audio.get("conferenceId"):
        extra["phone_passcode"] = str(audio["conferenceId"])
    return Meeting(
        provider="teams",
        id=meeting_id,
        join_url=join_url,
        topic=str(record.get("subject") or topic),
        extra=extra,
    )


def _graph_error(response: httpx.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.text.strip()[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")[:300]
    return "", str(body)[:300]
