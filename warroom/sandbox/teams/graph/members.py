"""Conversation members in the Graph emulator: the ``aadUserConversationMember`` bindings channels and chats
are created with and members are added with, how Graph shows a member, and the members of a team (``GET
/teams/{id}/members``)."""

from __future__ import annotations

import base64
import re
import secrets
from typing import Any

from aiohttp import web

from .core import GraphCore, _Refused

_BIND = re.compile(r"/users\('([^']+)'\)$|/users/([^/]+)$")


class GraphMembers(GraphCore):
    """Member bindings and views, and ``/teams/{id}/members``."""

    def _members(self, raw: Any, *, limit: int) -> tuple[set[str], set[str]]:
        if not isinstance(raw, list):
            raise _Refused(400, "BadRequest", "members must be a list of conversation members.")
        if len(raw) > limit:
            raise _Refused(400, "BadRequest", f"At most {limit} members can be added at creation.")
        members: set[str] = set()
        owners: set[str] = set()
        for item in raw:
            user = self._bound_user(item)
            members.add(user)
            roles = item.get("roles") or []
            if not isinstance(roles, list) or any(r not in ("owner", "guest", "member") for r in roles):
                raise _Refused(400, "BadRequest", "roles may only hold 'owner' or 'guest'.")
            if "owner" in roles:
                owners.add(user)
        return members, owners

    def _bound_user(self, item: Any) -> str:
        if not isinstance(item, dict) or "aadUserConversationMember" not in str(item.get("@odata.type", "")):
            raise _Refused(
                400, "BadRequest", "Each member must be a #microsoft.graph.aadUserConversationMember."
            )
        bind = str(item.get("user@odata.bind", ""))
        match = _BIND.search(bind)
        user = self.tenant.user(match.group(1) or match.group(2)) if match else None
        if user is None:
            raise _Refused(404, "NotFound", f"User in {bind or 'user@odata.bind'} was not found.")
        return str(user["id"])

    def _member_view(self, user_id: str, roles: list[str]) -> dict[str, Any]:
        user = self.tenant.users[user_id]
        return {
            "@odata.type": "#microsoft.graph.aadUserConversationMember",
            "id": base64.b64encode(f"{user_id}##{secrets.token_hex(4)}".encode()).decode(),
            "roles": roles,
            "displayName": user["displayName"],
            "userId": user_id,
            "email": user["mail"],
            "tenantId": self.tenant.tenant_id,
        }

    async def _list_team_members(self, request: web.Request) -> web.Response:
        team = self.tenant.teams[request.match_info["team"]]
        value = [
            self._member_view(u, ["owner"] if u in team["owners"] else []) for u in sorted(team["members"])
        ]
        return self._page(request, value, top_max=999, top_default=100, context="teams/members")
