"""Directory users in the Graph emulator.

- **Users** ``GET /users?$filter=`` (``mail``/``userPrincipalName`` ``eq`` or ``in``, joined by ``or``;
  anything else 400 ``Request_UnsupportedQuery``) and ``GET /users/{id | userPrincipalName}`` (404
  ``Request_ResourceNotFound``).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .core import GraphCore, _filter, _matches, _Refused


class GraphUsers(GraphCore):
    """``/users`` and ``/users/{id}``."""

    @staticmethod
    def _user_view(user: dict[str, Any]) -> dict[str, Any]:
        return {
            k: user[k] for k in ("id", "displayName", "givenName", "surname", "mail", "userPrincipalName")
        }

    async def _list_users(self, request: web.Request) -> web.Response:
        clauses = _filter(request, {"mail", "userPrincipalName"})
        users = [self._user_view(u) for u in self.tenant.users.values()]
        users = [u for u in users if _matches(u, clauses, casefold=True)]
        return self._page(request, users, top_max=999, top_default=100, context="users")

    async def _get_user(self, request: web.Request) -> web.Response:
        key = request.match_info["user"]
        user = self.tenant.user(key)
        if user is None:
            raise _Refused(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        return web.json_response(self._user_view(user))
