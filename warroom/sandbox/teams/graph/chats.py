"""Chats in the Graph emulator: creating group and one-on-one chats, listing a user's chats, installing the
Teams app in a chat.

- **Chats** ``POST /chats`` {chatType group|oneOnOne, topic (group only), members (each with role owner or
  guest; a group at least 2, at most 250)} → 201; ``GET /users/{id}/chats`` (``$filter`` chatType/topic
  ``eq``), ``POST /chats/{id}/installedApps`` {``teamsApp@odata.bind``} → 201, 409 when installed already.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .core import _filter, _matches, _Refused
from .members import GraphMembers

CHAT_MEMBERS_MAX = 250


class GraphChats(GraphMembers):
    """``/chats``, ``/chats/{id}`` and ``/users/{id}/chats``."""

    def _chat_view(self, chat: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "topic", "createdDateTime", "lastUpdatedDateTime", "chatType", "webUrl", "tenantId")
        return {k: chat[k] for k in keys}

    async def _create_chat(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        chat_type = body.get("chatType")
        if chat_type not in ("group", "oneOnOne"):
            raise _Refused(400, "BadRequest", "chatType must be 'group' or 'oneOnOne'.")
        raw = body.get("members") or []
        if not isinstance(raw, list):
            raise _Refused(400, "BadRequest", "members must be a list of conversation members.")
        members, _ = self._members(raw, limit=CHAT_MEMBERS_MAX)
        for item in raw:
            if not set(item.get("roles") or []) & {"owner", "guest"}:
                raise _Refused(400, "BadRequest", "Each member must have the role 'owner' or 'guest'.")
        topic = body.get("topic")
        if chat_type == "oneOnOne":
            if len(members) != 2 or topic:
                raise _Refused(400, "BadRequest", "A oneOnOne chat has exactly two members and no topic.")
        elif len(members) < 2:
            raise _Refused(400, "BadRequest", "A group chat needs at least two members.")
        if topic is not None and (not isinstance(topic, str) or len(topic) > 250):
            raise _Refused(400, "BadRequest", "topic must be a string of at most 250 characters.")
        chat = self.tenant.new_chat(topic, str(chat_type), members)
        return web.json_response(
            {
                "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#chats/$entity",
                **self._chat_view(chat),
            },
            status=201,
        )

    def _chat(self, request: web.Request) -> dict[str, Any]:
        chat = self.tenant.chats.get(request.match_info["chat"])
        if chat is None:
            raise _Refused(404, "NotFound", f"Chat {request.match_info['chat']} not found.")
        return chat

    async def _get_chat(self, request: web.Request) -> web.Response:
        return web.json_response(self._chat_view(self._chat(request)))

    async def _list_chats(self, request: web.Request) -> web.Response:
        user = self.tenant.user(request.match_info["user"])
        if user is None:
            raise _Refused(404, "NotFound", f"User {request.match_info['user']} not found.")
        clauses = _filter(request, {"chatType", "topic"})
        chats = [self._chat_view(c) for c in self.tenant.chats.values() if user["id"] in c["members"]]
        chats = [c for c in chats if _matches(c, clauses)]
        return self._page(request, chats, top_max=50, top_default=50, context="chats")

    async def _install_in_chat(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        body = await self._body(request)
        bind = str(body.get("teamsApp@odata.bind", ""))
        app_id = bind.rstrip("/").rsplit("/", 1)[-1].removeprefix("teamsApps('").removesuffix("')")
        if app_id != self.tenant.catalog_app_id:
            raise _Refused(
                404, "NotFound", f"The app {app_id or '(none)'} is not in the organization's app catalog."
            )
        if app_id in chat["apps"]:
            raise _Refused(409, "Conflict", "The app is already installed in this chat.")
        chat["apps"].add(app_id)
        return web.Response(status=201)
