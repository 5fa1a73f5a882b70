"""Entra groups in the Graph emulator: a group's direct members.

- ``GET /groups/{id}/members`` → the members as directory objects, each with its ``@odata.type`` (users
  ``#microsoft.graph.user``; nested groups, devices and service principals as what they are), paged (``$top`` up
  to 999, 100 by default; ``@odata.nextLink``), ``$select`` honoured for users. A team is a Microsoft 365 group:
  its id lists the team's members. An unknown group is 404 ``Request_ResourceNotFound``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .core import _Refused
from .users import GraphUsers

_USER = "#microsoft.graph.user"


class GraphGroups(GraphUsers):
    """``/groups/{id}/members``."""

    async def _list_group_members(self, request: web.Request) -> web.Response:
        key = request.match_info["group"]
        t = self.tenant
        others: dict[str, str] = {}
        if key in t.groups:
            members = list(t.groups[key]["members"])
            others = dict(t.groups[key]["others"])
        elif key in t.teams:
            members = sorted(t.teams[key]["members"])
        else:
            raise _Refused(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        fields = [f.strip() for f in request.query.get("$select", "").split(",") if f.strip()]
        value: list[dict[str, Any]] = []
        for user_id in members:
            if user_id not in t.users:
                continue  # a deleted user is no longer a member
            view = self._user_view(t.users[user_id])
            if fields:
                view = {k: view.get(k) for k in dict.fromkeys(["id", *fields])}
            value.append({"@odata.type": _USER, **view})
        for object_id, kind in others.items():
            value.append({"@odata.type": kind, "id": object_id, "displayName": None})
        return self._page(request, value, top_max=999, top_default=100, context="directoryObjects")
