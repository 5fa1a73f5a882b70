"""Directory users in the Graph emulator.

- **Users** ``GET /users?$filter=`` (``mail``/``userPrincipalName`` ``eq`` or ``in``, joined by ``or``;
  anything else 400 ``Request_UnsupportedQuery``) and ``GET /users/{id | userPrincipalName}`` (404
  ``Request_ResourceNotFound``).
- **Apps in a user's personal scope** ``POST /users/{id}/teamwork/installedApps`` {``teamsApp@odata.bind``:
  ``…/appCatalogs/teamsApps/{catalog id}``} → 201 with no body; 409 ``Conflict`` when installed already, 404 for
  an app not in the organisation's catalog or an unknown user. ``GET /users/{id}/teamwork/installedApps`` lists
  them (each with its ``teamsApp``). Installing the bot's app for a person is what lets the bot open a 1:1 chat
  with them (the Bot Connector emulator checks it).
"""

from __future__ import annotations

import base64
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

    def _teamwork_user(self, request: web.Request) -> dict[str, Any]:
        key = request.match_info["user"]
        user = self.tenant.user(key)
        if user is None:
            raise _Refused(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        return user

    async def _list_user_apps(self, request: web.Request) -> web.Response:
        user = self._teamwork_user(request)
        value = [
            {
                "id": base64.urlsafe_b64encode(f"{user['id']}##{app}".encode()).decode().rstrip("="),
                "teamsApp": {
                    "id": app,
                    "externalId": None,
                    "displayName": self.tenant.app_name if app == self.tenant.catalog_app_id else app,
                    "distributionMethod": "organization",
                },
            }
            for app in sorted(self.tenant.user_apps.get(user["id"], set()))
        ]
        return self._page(
            request, value, top_max=999, top_default=100, context="users/teamwork/installedApps"
        )

    async def _install_for_user(self, request: web.Request) -> web.Response:
        user = self._teamwork_user(request)
        body = await self._body(request)
        bind = str(body.get("teamsApp@odata.bind", ""))
        app_id = bind.rstrip("/").rsplit("/", 1)[-1].removeprefix("teamsApps('").removesuffix("')")
        if app_id != self.tenant.catalog_app_id:
            raise _Refused(
                404, "NotFound", f"The app {app_id or '(none)'} is not in the organization's app catalog."
            )
        if not self.tenant.install_for_user(user["id"], app_id):
            raise _Refused(409, "Conflict", "The app is already installed for this user.")
        return web.Response(status=201)
