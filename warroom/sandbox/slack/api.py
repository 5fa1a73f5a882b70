"""The Slack Web API methods the sandbox answers: auth.test, conversations.*, chat.*, pins.*, bookmarks.*,
users.* and views.*. Each takes the call's arguments and returns the fields of the answer, or raises
:class:`~.params._ApiError` with the error code Slack gives (see the package docstring for the rules followed).
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from .limits import SlackLimits
from .params import (
    Params,
    Result,
    _ApiError,
    _bool,
    _json_value,
    _page,
    _str,
    _ts,
    _validate_blocks,
    _validate_metadata,
)
from .state import SlackWorkspace

NAME_RE = re.compile(r"[a-z0-9_-]+")
MAX_TEXT = 40_000
MAX_TOPIC = 250


class SlackWebApi(SlackWorkspace, SlackLimits):
    """The method handlers, over the workspace and its rate limits."""

    # -- auth ----------------------------------------------------------------------------------------------
    def _auth_test(self, params: Params) -> Result:
        return {
            "url": f"{self.base_url}/",
            "team": self.team_name,
            "user": "warroom",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    # -- conversations -------------------------------------------------------------------------------------
    def _conversations_create(self, params: Params) -> Result:
        name = _str(params, "name")
        if name is None or not name.strip():
            raise _ApiError("invalid_name_required")
        if len(name) > 80:
            raise _ApiError("invalid_name_maxlength")
        if not NAME_RE.fullmatch(name):
            raise _ApiError("invalid_name_specials")
        if not re.search(r"[a-z0-9]", name):
            raise _ApiError("invalid_name_punctuation")
        if any(c["name"] == name for c in self.channels.values()):
            raise _ApiError("name_taken")
        channel = self._new_channel(name, creator=self.bot_user_id, is_private=_bool(params, "is_private"))
        return {"channel": self._channel_object(channel)}

    def _conversations_list(self, params: Params) -> Result:
        types = {t.strip() for t in (_str(params, "types") or "public_channel").split(",") if t.strip()}
        if not types <= {"public_channel", "private_channel", "mpim", "im"}:
            raise _ApiError("invalid_types")
        exclude_archived = _bool(params, "exclude_archived")
        chosen = [
            c
            for c in self.channels.values()
            if self._visible(c)
            and ("im" if c.get("is_im") else "private_channel" if c["is_private"] else "public_channel") in types
            and not (exclude_archived and c["is_archived"])
        ]
        page, cursor = _page(chosen, params, "channels", default=100, high=1000)
        return {
            "channels": [self._channel_object(c) for c in page],
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_info(self, params: Params) -> Result:
        channel = self._channel(params)
        return {"channel": self._channel_object(channel, num_members=_bool(params, "include_num_members"))}

    def _conversations_invite(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel)
        ids: list[str] = []
        for raw in (_str(params, "users") or "").split(","):
            if raw.strip() and raw.strip() not in ids:
                ids.append(raw.strip())
        if not ids:
            raise _ApiError("no_user")
        if len(ids) > 1000:
            raise _ApiError("too_many_users")
        failed: list[dict[str, Any]] = []
        new: list[str] = []
        already: list[str] = []
        for user_id in ids:
            if user_id == self.bot_user_id:
                failed.append({"user": user_id, "ok": False, "error": "cant_invite_self"})
            elif user_id not in self.users or self.users[user_id]["deleted"]:
                failed.append({"user": user_id, "ok": False, "error": "user_not_found"})
            elif user_id in channel["members"]:
                already.append(user_id)
            else:
                new.append(user_id)
        if failed:
            if _bool(params, "force"):
                channel["members"].extend(new)
            raise _ApiError(failed[0]["error"], errors=failed)
        if not new:
            raise _ApiError(
                "already_in_channel", errors=[{"user": u, "ok": False, "error": "already_in_channel"} for u in already]
            )
        channel["members"].extend(new)
        return {"channel": self._channel_object(channel)}

    def _conversations_members(self, params: Params) -> Result:
        channel = self._channel(params)
        page, cursor = _page(list(channel["members"]), params, "members", default=100, high=1000)
        return {"members": page, "response_metadata": {"next_cursor": cursor}}

    def _set_text(self, params: Params, field: str) -> Result:
        channel = self._channel(params)
        self._writable(channel)
        value = _str(params, field) or ""
        if len(value) > MAX_TOPIC:
            raise _ApiError("too_long")
        channel[field] = value
        channel[f"{field}_set_by"] = self.bot_user_id
        channel[f"{field}_last_set"] = int(time.time())
        return {"channel": self._channel_object(channel)}

    def _conversations_set_topic(self, params: Params) -> Result:
        return self._set_text(params, "topic")

    def _conversations_set_purpose(self, params: Params) -> Result:
        return self._set_text(params, "purpose")

    def _conversations_archive(self, params: Params) -> Result:
        channel = self._channel(params)
        if channel["is_archived"]:
            raise _ApiError("already_archived")
        if channel["is_general"]:
            raise _ApiError("cant_archive_general")
        self._writable(channel)
        channel["is_archived"] = True
        return {}

    def _conversations_unarchive(self, params: Params) -> Result:
        channel = self._channel(params)
        if channel.get("is_im"):
            raise _ApiError("method_not_supported_for_channel_type")
        if not channel["is_archived"]:
            raise _ApiError("not_archived")
        if not self.bots_can_unarchive:
            # Slack's method reference: "Bot tokens (xoxb-...) cannot currently be used to unarchive
            # conversations"; what a bot token gets is not_in_channel
            raise _ApiError("not_in_channel")
        channel["is_archived"] = False
        if self.bot_user_id not in channel["members"]:
            channel["members"].append(self.bot_user_id)  # "The calling user is added to the conversation."
        return {}

    def _conversations_history(self, params: Params) -> Result:
        channel = self._channel(params)
        latest = _ts(params, "latest", math.inf)
        oldest = _ts(params, "oldest", 0.0)
        inclusive = _bool(params, "inclusive")

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        newest_first = [m for m in reversed(self.history.get(channel["id"], [])) if within(float(m["ts"]))]
        page, cursor = _page(newest_first, params, "history", default=100, high=999)
        with_metadata = _bool(params, "include_all_metadata")
        return {
            "messages": [self._message_object(m, with_metadata=with_metadata) for m in page],
            "has_more": bool(cursor),
            "pin_count": len(self.pins.get(channel["id"], [])),
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    # -- chat ----------------------------------------------------------------------------------------------
    def _content(self, params: Params) -> tuple[str | None, list[dict[str, Any]] | None]:
        text = _str(params, "text")
        blocks = _validate_blocks(_json_value(params, "blocks", "invalid_blocks_format"))
        if text is not None and len(text) > MAX_TEXT:
            raise _ApiError("msg_too_long")
        return text, blocks

    def _chat_post_message(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel, member=channel["is_private"])
        text, blocks = self._content(params)
        if not text and not blocks:
            raise _ApiError("no_text")
        metadata = _validate_metadata(_json_value(params, "metadata", "invalid_metadata_format"))
        self._throttle_channel(channel["id"])
        message = self._store_message(
            channel, text, blocks, metadata, user=self.bot_user_id, thread_ts=_str(params, "thread_ts")
        )
        return {"channel": channel["id"], "ts": message["ts"], "message": self._message_object(message)}

    def _chat_update(self, params: Params) -> Result:
        channel = self._channel(params)
        message = self._find_message(channel, _str(params, "ts"))
        if message["user"] != self.bot_user_id:
            raise _ApiError("cant_update_message")
        if channel["is_archived"]:
            raise _ApiError("is_archived")
        text, blocks = self._content(params)
        if text is None and blocks is None:
            raise _ApiError("no_text")
        metadata = _validate_metadata(_json_value(params, "metadata", "invalid_metadata_format"))
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        if metadata is not None:
            message["metadata"] = metadata or None
        message["edits"].append({"ts": self._next_ts(), "text": message["text"], "blocks": message["blocks"]})
        return {
            "channel": channel["id"],
            "ts": message["ts"],
            "text": message["text"],
            "message": self._message_object(message),
        }

    def _chat_post_ephemeral(self, params: Params) -> Result:
        channel = self._channel(params)
        self._writable(channel, member=channel["is_private"])
        user_id = _str(params, "user")
        if self._user(user_id) is None:
            raise _ApiError("user_not_found")
        if user_id not in channel["members"]:
            raise _ApiError("user_not_in_channel")
        text, blocks = self._content(params)
        if not text and not blocks:
            raise _ApiError("no_text")
        ts = self._next_ts()
        self.ephemeral.append({"channel": channel["id"], "user": user_id, "text": text or "", "blocks": blocks or [],
                               "ts": ts})
        return {"message_ts": ts}

    # -- pins and bookmarks --------------------------------------------------------------------------------
    def _pins_add(self, params: Params) -> Result:
        channel = self._channel(params)
        ts = _str(params, "timestamp")
        if ts is None:
            raise _ApiError("no_item_specified")
        self._writable(channel, member=False)
        message = self._find_message(channel, ts)
        pinned = self.pins.setdefault(channel["id"], [])
        if message["ts"] in pinned:
            raise _ApiError("already_pinned")
        pinned.append(message["ts"])
        self._pin_meta[(channel["id"], message["ts"])] = int(time.time())
        return {}

    def _pins_list(self, params: Params) -> Result:
        channel = self._channel(params)
        items = []
        for ts in self.pins.get(channel["id"], []):
            message = self._find_message(channel, ts)
            items.append({
                "type": "message",
                "created": self._pin_meta.get((channel["id"], ts), 0),
                "created_by": self.bot_user_id,
                "channel": channel["id"],
                "message": self._message_object(message),
            })
        return {"items": items}

    def _bookmarks_add(self, params: Params) -> Result:
        channel = self._channel(params, "channel_id")
        title, kind, link = _str(params, "title"), _str(params, "type"), _str(params, "link")
        if title is None or kind is None:
            raise _ApiError("invalid_arguments")
        if kind != "link":
            raise _ApiError("invalid_bookmark_type")
        if link is None or not re.match(r"https?://\S+$", link):
            raise _ApiError("invalid_link")
        self._writable(channel, member=False)
        now = int(time.time())
        bookmark = {
            "id": self._next("Bk"),
            "channel_id": channel["id"],
            "title": title,
            "link": link,
            "emoji": _str(params, "emoji"),
            "icon_url": None,
            "type": "link",
            "entity_id": None,
            "date_created": now,
            "date_updated": 0,
            "rank": chr(ord("a") + len(self.bookmarks.get(channel["id"], [])) % 26),
            "last_updated_by_user_id": self.bot_user_id,
            "last_updated_by_team_id": self.team_id,
            "shortcut_id": None,
            "app_id": self.app_id,
        }
        self.bookmarks.setdefault(channel["id"], []).append(bookmark)
        return {"bookmark": bookmark}

    def _bookmarks_list(self, params: Params) -> Result:
        channel = self._channel(params, "channel_id")
        return {"bookmarks": list(self.bookmarks.get(channel["id"], []))}

    # -- users -------------------------------------------------------------------------------------------
    def _users_lookup_by_email(self, params: Params) -> Result:
        email = (_str(params, "email") or "").strip().lower()
        if not email:
            raise _ApiError("invalid_arguments")
        for user in self.users.values():
            if user["profile"].get("email", "").lower() == email:
                return {"user": user}
        raise _ApiError("users_not_found")

    def _usergroups_users_list(self, params: Params) -> Result:
        group = self.usergroups.get(_str(params, "usergroup") or "")
        if group is None:
            raise _ApiError("no_such_subteam")
        return {"users": list(group["users"])}

    def _users_info(self, params: Params) -> Result:
        user = self._user(_str(params, "user"))
        if user is None:
            raise _ApiError("user_not_found")
        return {"user": user}

    # -- views -------------------------------------------------------------------------------------------
    def _view(self, params: Params) -> dict[str, Any]:
        view = _json_value(params, "view", "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            raise _ApiError("invalid_arguments")
        _validate_blocks(view.get("blocks", []))
        return view

    def _view_object(self, view_id: str, view: dict[str, Any]) -> Result:
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "title": view.get("title"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{self._seq:08d}",
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }

    def _views_open(self, params: Params) -> Result:
        trigger_id = _str(params, "trigger_id") or _str(params, "interactivity_pointer")
        if trigger_id is None:
            raise _ApiError("invalid_trigger_id")
        view = self._view(params)
        view_id = self._next("V")
        self.views[view_id] = {"id": view_id, "trigger_id": trigger_id, "view": view}
        return {"view": self._view_object(view_id, view)}

    def _views_update(self, params: Params) -> Result:
        view_id = _str(params, "view_id")
        external_id = _str(params, "external_id")
        record = self.views.get(view_id or "") or next(
            (v for v in self.views.values() if external_id and v["view"].get("external_id") == external_id), None
        )
        if record is None:
            raise _ApiError("not_found")
        record["view"] = self._view(params)
        return {"view": self._view_object(record["id"], record["view"])}
