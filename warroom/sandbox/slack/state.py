"""The sandbox Slack workspace: its people, channels, messages, pins, bookmarks, ephemeral messages and views.

Seeding and read-back for tests and the demo (:meth:`SlackWorkspace.add_user`, :meth:`SlackWorkspace.add_channel`,
:meth:`SlackWorkspace.messages`, :meth:`SlackWorkspace.state`, …) and the model helpers the Web API methods build on:
ids and timestamps, finding a channel or message the way Slack does, and the API shapes of users, channels and
messages.
"""

from __future__ import annotations

import time
from typing import Any

from ..base import Emulator, EmulatorConfig
from .params import Params, Result, _ApiError, _str


class SlackWorkspace(Emulator):
    """One workspace and its bot user; the objects are plain dicts in Slack's shapes."""

    def __init__(self, config: EmulatorConfig | None, *, team_id: str, bot_user_id: str) -> None:
        super().__init__(config)
        self.team_id = team_id
        self.team_name = "Sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = "B" + bot_user_id[1:]
        self.app_id = "A" + bot_user_id[1:]
        #: user id → Slack user object (people added with :meth:`add_user`; the bot is not listed here).
        self.users: dict[str, dict[str, Any]] = {}
        #: channel id → {id, name, topic, purpose, members, is_private, is_archived, is_general, creator, created}.
        self.channels: dict[str, dict[str, Any]] = {}
        #: channel id → messages, oldest first: {ts, text, blocks, metadata, user, edits, …}.
        self.history: dict[str, list[dict[str, Any]]] = {}
        #: channel id → timestamps of the pinned messages, in pinning order.
        self.pins: dict[str, list[str]] = {}
        #: channel id → bookmark objects, in the order added.
        self.bookmarks: dict[str, list[dict[str, Any]]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        #: user group id → {id, handle, name, users}.
        self.usergroups: dict[str, dict[str, Any]] = {}
        #: Bodies posted to a ``response_url`` (``POST {base_url}/response…``).
        self.responses: list[Any] = []
        #: Whether conversations.unarchive works with the bot token. Slack's does not ("Bot tokens cannot currently
        #: be used to unarchive conversations": the answer is ``not_in_channel``); a test may set this to stand for
        #: the day it does.
        self.bots_can_unarchive = False
        self._bot_user = self._user_object(bot_user_id, "warroom", "warroom", None, is_bot=True)
        self._pin_meta: dict[tuple[str, str], int] = {}
        self._seq = 0
        self._last_ts = 0.0

    # -- seeding and read-back --------------------------------------------------------------------------
    def add_user(self, email: str, name: str) -> str:
        """Put a person in the workspace; returns the user id (``U0`` + the first name, e.g. ``U0ANA``)."""
        for user in self.users.values():
            if user["profile"]["email"].lower() == email.lower():
                return str(user["id"])
        first = name.split()[0] if name.split() else ""
        stem = "U0" + ("".join(c for c in first if c.isascii() and c.isalnum()).upper() or "USER")
        user_id, n = stem, 1
        while user_id in self.users or user_id == self.bot_user_id:
            n += 1
            user_id = f"{stem}{n}"
        handle = email.split("@", 1)[0].lower()
        self.users[user_id] = self._user_object(user_id, handle, name, email)
        return user_id

    def add_usergroup(self, handle: str, name: str, user_ids: list[str]) -> str:
        """A user group (``@handle``) as a workspace admin makes one; returns its id (``S0`` + the handle)."""
        group_id = "S0" + "".join(c for c in handle.upper() if c.isalnum())
        self.usergroups[group_id] = {"id": group_id, "handle": handle, "name": name, "users": list(user_ids)}
        return group_id

    def add_channel(
        self, name: str, *, creator: str, is_private: bool = False, members: list[str] | None = None
    ) -> str:
        """A channel someone else made (not the bot unless ``creator`` is the bot's id); returns its id."""
        channel = self._new_channel(name, creator=creator, is_private=is_private)
        for member in members or []:
            if member not in channel["members"]:
                channel["members"].append(member)
        return str(channel["id"])

    def add_message(
        self,
        channel_id: str,
        text: str,
        *,
        user: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """A message someone posted (for tests: messages not the bot's); returns its ts."""
        return str(self._store_message(self.channels[channel_id], text, blocks, metadata, user=user)["ts"])

    def channel_by_name(self, name: str) -> dict[str, Any]:
        for channel in self.channels.values():
            if channel["name"] == name.lstrip("#"):
                return channel
        raise LookupError(f"no channel named #{name.lstrip('#')} in the sandbox workspace")

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """The channel's messages, oldest first."""
        return list(self.history.get(channel_id, []))

    def state(self) -> dict[str, Any]:
        return {
            "team_id": self.team_id,
            "bot_user_id": self.bot_user_id,
            "users": list(self.users.values()),
            "channels": list(self.channels.values()),
            "messages": {cid: self.messages(cid) for cid in self.channels},
            "pins": self.pins,
            "bookmarks": self.bookmarks,
            "ephemeral": self.ephemeral,
            "views": list(self.views.values()),
            "responses": self.responses,
        }

    # -- model helpers -----------------------------------------------------------------------------------
    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}0{self._seq:08d}"

    def _next_ts(self) -> str:
        now = max(time.time(), self._last_ts + 0.000001)
        self._last_ts = now
        return f"{now:.6f}"

    def _user_object(self, user_id: str, handle: str, name: str, email: str | None, *, is_bot: bool = False) -> Result:
        profile: dict[str, Any] = {
            "real_name": name,
            "display_name": name,
            "real_name_normalized": name,
            "display_name_normalized": name,
        }
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id
        return {
            "id": user_id,
            "team_id": self.team_id,
            "name": handle,
            "deleted": False,
            "real_name": name,
            "tz": "Europe/London",
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "profile": profile,
        }

    def _new_channel(self, name: str, *, creator: str, is_private: bool) -> dict[str, Any]:
        channel_id = self._next("C")
        channel: dict[str, Any] = {
            "id": channel_id,
            "name": name,
            "topic": "",
            "purpose": "",
            "members": [creator],
            "is_private": is_private,
            "is_archived": False,
            "is_general": False,
            "creator": creator,
            "created": int(time.time()),
            "topic_set_by": "",
            "topic_last_set": 0,
            "purpose_set_by": "",
            "purpose_last_set": 0,
        }
        self.channels[channel_id] = channel
        self.history[channel_id] = []
        return channel

    def _visible(self, channel: dict[str, Any]) -> bool:
        return not channel["is_private"] or self.bot_user_id in channel["members"]

    def _im(self, user_id: str) -> dict[str, Any]:
        """The app's direct-message conversation with a person (Slack opens it when a bot posts to a user id)."""
        im_id = "D" + user_id[1:]
        channel = self.channels.get(im_id)
        if channel is None:
            channel = self._new_channel(f"im-{user_id}", creator=self.bot_user_id, is_private=True)
            del self.channels[channel["id"]], self.history[channel["id"]]
            channel.update(id=im_id, members=[self.bot_user_id, user_id], is_im=True)
            self.channels[im_id] = channel
            self.history[im_id] = []
        return channel

    def dms(self, user_id: str) -> list[dict[str, Any]]:
        """The messages the bot sent a person directly (tests and the demo read them)."""
        return list(self.history.get("D" + user_id[1:], []))

    def _channel(self, params: Params, key: str = "channel") -> dict[str, Any]:
        ref = _str(params, key)
        if ref is None:
            raise _ApiError("channel_not_found")
        if ref[:1] in ("U", "W") and ref in self.users and key == "channel":
            return self._im(ref)
        channel = self.channels.get(ref)
        if channel is None:
            channel = next((c for c in self.channels.values() if c["name"] == ref.lstrip("#")), None)
        if channel is None or not self._visible(channel):
            raise _ApiError("channel_not_found")
        return channel

    def _writable(self, channel: dict[str, Any], *, member: bool = True) -> None:
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        if member and self.bot_user_id not in channel["members"]:
            raise _ApiError("not_in_channel")

    def _channel_object(self, channel: dict[str, Any], *, num_members: bool = True) -> Result:
        name = channel["name"]
        obj: Result = {
            "id": channel["id"],
            "name": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel["is_private"],
            "created": channel["created"],
            "is_archived": channel["is_archived"],
            "is_general": channel["is_general"],
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "pending_shared": [],
            "context_team_id": self.team_id,
            "parent_conversation": None,
            "creator": channel["creator"],
            "is_member": self.bot_user_id in channel["members"],
            "topic": {
                "value": channel["topic"],
                "creator": channel["topic_set_by"],
                "last_set": channel["topic_last_set"],
            },
            "purpose": {
                "value": channel["purpose"],
                "creator": channel["purpose_set_by"],
                "last_set": channel["purpose_last_set"],
            },
            "previous_names": [],
        }
        if num_members:
            obj["num_members"] = len(channel["members"])
        return obj

    def _store_message(
        self,
        channel: dict[str, Any],
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        metadata: dict[str, Any] | None,
        *,
        user: str,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "ts": self._next_ts(),
            "channel": channel["id"],
            "user": user,
            "text": text or "",
            "blocks": blocks or [],
            "metadata": metadata or None,
            "edits": [],
        }
        if user == self.bot_user_id:
            message["bot_id"] = self.bot_id
        if thread_ts:
            message["thread_ts"] = thread_ts
        self.history.setdefault(channel["id"], []).append(message)
        return message

    def _find_message(self, channel: dict[str, Any], ts: str | None) -> dict[str, Any]:
        for message in self.history.get(channel["id"], []):
            if message["ts"] == ts:
                return message
        raise _ApiError("message_not_found")

    def _message_object(self, message: dict[str, Any], *, with_metadata: bool = True) -> Result:
        obj: Result = {"type": "message", "user": message["user"], "text": message["text"], "ts": message["ts"],
                       "team": self.team_id}
        if "bot_id" in message:
            obj["bot_id"] = message["bot_id"]
            obj["app_id"] = self.app_id
        if message["blocks"]:
            obj["blocks"] = message["blocks"]
        if with_metadata and message["metadata"]:
            obj["metadata"] = message["metadata"]
        if message["edits"]:
            obj["edited"] = {"user": message["user"], "ts": message["edits"][-1]["ts"]}
        if "thread_ts" in message:
            obj["thread_ts"] = message["thread_ts"]
        if message["ts"] in self.pins.get(message["channel"], []):
            obj["pinned_to"] = [message["channel"]]
        return obj

    def _user(self, user_id: str | None) -> Result | None:
        if user_id == self.bot_user_id:
            return self._bot_user
        return self.users.get(user_id or "")
