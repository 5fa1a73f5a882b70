"""One Microsoft 365 tenant as the Teams emulators share it: Entra ID (the app registration, users, groups, access
tokens), teams with their members and installed apps, the apps installed in people's personal scope, channels,
group chats, the messages in them and online meetings.

:class:`~warroom.sandbox.teams.graph.GraphEmulator` (Microsoft Graph and the Entra token endpoint) and
:class:`~warroom.sandbox.teams.connector.ConnectorEmulator` (the Bot Connector) serve the same tenant, as the real
services do: a card the bot posts through the Connector is a message Graph lists, a channel Graph creates is one
the bot can post into once it is installed in the team.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GRAPH_AUDIENCE = "https://graph.microsoft.com"
BOT_AUDIENCE = "https://api.botframework.com"
SCOPES = {f"{GRAPH_AUDIENCE}/.default": GRAPH_AUDIENCE, f"{BOT_AUDIENCE}/.default": BOT_AUDIENCE}
#: Deleted channels count against a team's limits (and keep their names) for this long.
DELETED_KEPT = 30 * 86400


def iso(epoch: float) -> str:
    """Graph's timestamps: ISO 8601 UTC with milliseconds."""
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )


@dataclass
class AccessToken:
    audience: str
    app_id: str
    expires_at: float


@dataclass
class Message:
    """A message in a channel or chat, as the bot posted it (``activity``) and as people see it."""

    id: str
    root: str
    reply_to: str | None
    app_id: str | None
    activity: dict[str, Any]
    created: float
    modified: float
    versions: list[dict[str, Any]] = field(default_factory=list)


class TeamsTenant:
    def __init__(
        self,
        *,
        tenant_id: str | None = None,
        app_id: str | None = None,
        app_secret: str = "teams-sandbox-secret",
        app_name: str = "warroom",
        domain: str = "example.com",
    ) -> None:
        self.tenant_id = tenant_id or str(uuid.uuid4())
        #: The bot's Entra app registration (its Microsoft App ID is also the bot's id).
        self.app_id = app_id or str(uuid.uuid4())
        self.app_secret = app_secret
        self.app_name = app_name
        self.domain = domain
        #: The Teams app's id in the organisation's app catalog (what installedApps binds to).
        self.catalog_app_id = str(uuid.uuid4())
        self.token_lifetime = 3599
        #: Wall clock (epoch seconds); tests may replace it.
        self.clock: Callable[[], float] = time.time
        self.users: dict[str, dict[str, Any]] = {}
        self.teams: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.chats: dict[str, dict[str, Any]] = {}
        #: Root conversation (channel or chat id) → its messages, oldest first.
        self.messages: dict[str, list[Message]] = {}
        self.meetings: dict[str, dict[str, Any]] = {}
        #: User object id → the catalog ids of the Teams apps installed in their personal scope.
        self.user_apps: dict[str, set[str]] = {}
        #: Entra groups that are not teams: id → {id, displayName, members: [directory objects' ids], others:
        #: {id: @odata.type} of members that are not users (nested groups, devices, service principals)}.
        self.groups: dict[str, dict[str, Any]] = {}
        #: Users for whom an administrator granted the app an application access policy (online meetings).
        self.policy_users: set[str] = set()
        #: The resources (audiences) whose service principal the tenant has: a token for another is refused
        #: (AADSTS500011) — as the Bot Framework's is in a tenant where no Azure Bot was ever set up.
        self.resources: set[str] = set(SCOPES.values())
        self.tokens: dict[str, AccessToken] = {}
        self.tokens_issued = 0
        self._revoked: set[str] = set()
        self._last_message_id = int(self.clock() * 1000)

    # -- people and teams ---------------------------------------------------------------------------
    def add_user(self, email: str, name: str, *, upn: str | None = None, user_id: str | None = None) -> str:
        """A person in Entra ID; returns the object id (by default derived from the email, as the emulated Teams
        client derives its users' ``aadObjectId``, so that both emulators name the same person alike)."""
        user_id = user_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"aad:{email.lower()}"))
        self.users[user_id] = {
            "id": user_id,
            "displayName": name,
            "mail": email,
            "userPrincipalName": upn or email,
            "givenName": name.split(" ")[0],
            "surname": name.split(" ")[-1],
        }
        return user_id

    def user(self, key: str) -> dict[str, Any] | None:
        """A user by object id or user principal name (case-insensitive)."""
        if key in self.users:
            return self.users[key]
        wanted = key.lower()
        return next((u for u in self.users.values() if u["userPrincipalName"].lower() == wanted), None)

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.lower()
        return next((u for u in self.users.values() if (u.get("mail") or "").lower() == wanted), None)

    def install_for_user(self, user_id: str, app_id: str | None = None) -> bool:
        """The app (the bot's, by default) installed in the user's personal scope; False when it was already."""
        apps = self.user_apps.setdefault(user_id, set())
        app = app_id or self.catalog_app_id
        if app in apps:
            return False
        apps.add(app)
        return True

    def bot_installed_for(self, user_id: str) -> bool:
        return self.catalog_app_id in self.user_apps.get(user_id, set())

    def add_group(self, name: str, members: list[str], *, others: dict[str, str] | None = None) -> str:
        """An Entra security or Microsoft 365 group with these users (object ids) and, in ``others``, members that are
        not users (id → ``@odata.type``, e.g. ``#microsoft.graph.group``)."""
        group_id = str(uuid.uuid4())
        self.groups[group_id] = {
            "id": group_id,
            "displayName": name,
            "members": list(dict.fromkeys(members)),
            "others": dict(others or {}),
        }
        return group_id

    def add_team(self, name: str, members: list[str] | None = None, *, bot_installed: bool = True) -> str:
        """A team (its id is the Microsoft 365 group id) with a General channel; the bot installed unless told."""
        team_id = str(uuid.uuid4())
        self.teams[team_id] = {
            "id": team_id,
            "displayName": name,
            "members": set(members or []),
            "owners": set((members or [])[:1]),
            "apps": {self.catalog_app_id} if bot_installed else set(),
        }
        general = self.new_channel(team_id, "General", "standard", description="", members=set())
        general["general"] = True
        return team_id

    def bot_in_team(self, team_id: str) -> bool:
        return self.catalog_app_id in self.teams[team_id]["apps"]

    def new_channel(
        self,
        team_id: str,
        name: str,
        membership: str,
        *,
        description: str,
        members: set[str],
        owners: set[str] | None = None,
    ) -> dict[str, Any]:
        channel_id = f"19:{secrets.token_hex(16)}@thread.tacv2"
        now = self.clock()
        channel: dict[str, Any] = {
            "id": channel_id,
            "teamId": team_id,
            "displayName": name,
            "description": description or None,
            "membershipType": membership,
            "createdDateTime": iso(now),
            "email": "",
            "webUrl": (
                f"https://teams.microsoft.com/l/channel/{_quote(channel_id)}/{_quote(name)}"
                f"?groupId={team_id}&tenantId={self.tenant_id}"
            ),
            "isArchived": False,
            "members": set(members),
            "owners": set(owners or ()),
            "deleted_at": None,
            "general": False,
        }
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def team_channels(self, team_id: str, *, deleted: bool = False) -> list[dict[str, Any]]:
        """The team's channels; with ``deleted``, also those deleted in the last 30 days (they still count)."""
        now = self.clock()
        return [
            c
            for c in self.channels.values()
            if c["teamId"] == team_id
            and (c["deleted_at"] is None or (deleted and now - c["deleted_at"] < DELETED_KEPT))
        ]

    def new_chat(self, topic: str | None, chat_type: str, members: set[str]) -> dict[str, Any]:
        chat_id = f"19:{secrets.token_hex(16)}@thread.v2"
        now = iso(self.clock())
        chat: dict[str, Any] = {
            "id": chat_id,
            "topic": topic,
            "chatType": chat_type,
            "createdDateTime": now,
            "lastUpdatedDateTime": now,
            "webUrl": f"https://teams.microsoft.com/l/chat/{_quote(chat_id)}/0?tenantId={self.tenant_id}",
            "tenantId": self.tenant_id,
            "members": set(members),
            "apps": set(),
        }
        self.chats[chat_id] = chat
        self.messages[chat_id] = []
        return chat

    # -- tokens -------------------------------------------------------------------------------------
    def issue_token(self, scope: str) -> str:
        token = f"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.sandbox.{secrets.token_urlsafe(32)}"
        self.tokens[token] = AccessToken(SCOPES[scope], self.app_id, self.clock() + self.token_lifetime)
        self.tokens_issued += 1
        return token

    def check_token(self, header: str, audience: str) -> str | None:
        """None when ``header`` carries a live token for ``audience``; else why not (Graph's wording)."""
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            return "Access token is empty."
        found = self.tokens.get(token)
        if found is None:
            return "Access token validation failure. Invalid signature."
        if found.audience != audience:
            return "Access token validation failure. Invalid audience."
        if token in self._revoked or self.clock() >= found.expires_at:
            return "Lifetime validation failed, the token is expired."
        return None

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as if an hour had passed)."""
        self._revoked.update(self.tokens)

    # -- messages -----------------------------------------------------------------------------------
    def next_message_id(self) -> str:
        """Teams message ids are the epoch milliseconds of their creation (unique within a conversation)."""
        self._last_message_id = max(self._last_message_id + 1, int(self.clock() * 1000))
        return str(self._last_message_id)

    def post(self, root: str, activity: dict[str, Any], *, reply_to: str | None = None) -> Message:
        now = self.clock()
        message = Message(
            id=self.next_message_id(),
            root=root,
            reply_to=reply_to,
            app_id=self.app_id,
            activity=activity,
            created=now,
            modified=now,
            versions=[activity],
        )
        self.messages.setdefault(root, []).append(message)
        return message

    def message(self, root: str, message_id: str) -> Message | None:
        return next((m for m in self.messages.get(root, []) if m.id == message_id), None)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
