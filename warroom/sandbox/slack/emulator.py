"""The sandbox Slack server: :class:`SlackEmulator` serves each Web API method on GET and POST at
``/api/<method>``, reads the arguments from the query string, a form or a JSON body, checks the bot token, applies the
method's tier, and answers as Slack does; plus ``GET /_sandbox/state`` and ``POST /response…`` (response_url).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..base import EmulatorConfig
from .api import SlackWebApi
from .limits import _Ratelimited
from .params import Params, Result, _ApiError, _str
from .socket import SocketModeHub, new_app_token

SCOPES = (
    "bookmarks:read,bookmarks:write,channels:history,channels:manage,channels:read,chat:write,chat:write.public,"
    "commands,groups:history,groups:read,groups:write,metadata.message:read,pins:read,pins:write,usergroups:read,"
    "users:read,users:read.email"
)


class SlackEmulator(SlackWebApi):
    name = "slack"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        bot_token: str = "xoxb-sandbox-token",
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0WARROOM",
        app_token: str | None = None,
    ) -> None:
        super().__init__(config, team_id=team_id, bot_user_id=bot_user_id)
        # slack_sdk sends conversations.invite's 1,000 ids in the query string (~12 KB); aiohttp's default request
        # line limit is 8 KB. The base class builds the Application, so its handler arguments are set here.
        self.handler_args["max_line_size"] = 65536
        self.bot_token = bot_token
        #: The bot token's scopes, sent as ``X-OAuth-Scopes`` on every answer (as Slack does); a test may grant fewer.
        self.scopes = SCOPES
        #: Socket Mode: apps.connections.open (with the app-level token) and the WebSocket it hands out.
        self.socket = SocketModeHub(app_id=self.app_id, app_token=app_token or new_app_token(self.app_id),
                                    bot_token=bot_token, base_url=lambda: self.base_url)
        self._methods: dict[str, Callable[[Params], Result]] = {
            "auth.test": self._auth_test,
            "conversations.create": self._conversations_create,
            "conversations.list": self._conversations_list,
            "conversations.info": self._conversations_info,
            "conversations.invite": self._conversations_invite,
            "conversations.members": self._conversations_members,
            "conversations.setTopic": self._conversations_set_topic,
            "conversations.setPurpose": self._conversations_set_purpose,
            "conversations.archive": self._conversations_archive,
            "conversations.unarchive": self._conversations_unarchive,
            "conversations.history": self._conversations_history,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "pins.add": self._pins_add,
            "pins.list": self._pins_list,
            "bookmarks.add": self._bookmarks_add,
            "bookmarks.list": self._bookmarks_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }
        for method, fn in self._methods.items():
            self._register(method, fn)
        self.route("POST", "/api/apps.connections.open", "apps.connections.open", self._apps_connections_open)
        self.route("GET", "/api/apps.connections.open", "apps.connections.open", self._insecure_request)
        self.route("GET", "/link/", "socket_mode", self.socket.websocket)
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)
        self.route("POST", "/response", "response_url", self._response_url)
        self.route("POST", "/response/{tail:.*}", "response_url", self._response_url)
        self.app.router.add_route("*", "/api/{method}", self._unknown_method)

    # -- serving -----------------------------------------------------------------------------------------
    def _register(self, method: str, fn: Callable[[Params], Result]) -> None:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._dispatch(method, fn, request)

        self.route("POST", f"/api/{method}", method, handler)
        self.route("GET", f"/api/{method}", method, handler)

    async def _dispatch(self, method: str, fn: Callable[[Params], Result], request: web.Request) -> web.Response:
        try:
            params = await self._read_params(request)
            self._authenticate(request, params)
            self._throttle_method(method)
            result = fn(params)
        except _Ratelimited as limited:
            return self.rate_limited(limited.retry_after)
        except _ApiError as error:
            return web.json_response({"ok": False, "error": error.code, **error.extra})
        return web.json_response({"ok": True, **result}, headers={"X-OAuth-Scopes": self.scopes})

    @staticmethod
    async def _read_params(request: web.Request) -> Params:
        params: Params = dict(request.query)
        if request.method != "POST" or not request.body_exists:
            return params
        if request.content_type == "application/json":
            raw = await request.read()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _ApiError("invalid_json") from None
                if not isinstance(body, dict):
                    raise _ApiError("json_not_object")
                params.update({k: v for k, v in body.items() if v is not None})
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    @staticmethod
    def _token(request: web.Request, params: Params) -> str | None:
        header = request.headers.get("Authorization", "")
        token: str | None
        if header:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise _ApiError("invalid_auth")
        else:
            token = _str(params, "token")
        return token.strip() if token else None

    def _authenticate(self, request: web.Request, params: Params) -> None:
        token = self._token(request, params)
        if not token:
            raise _ApiError("not_authed")
        if token == self.socket.app_token:
            raise _ApiError("not_allowed_token_type")
        if token != self.bot_token:
            raise _ApiError("invalid_auth")

    async def _apps_connections_open(self, request: web.Request) -> web.Response:
        """apps.connections.open: authenticated by the app-level token, not the bot's (see :mod:`.socket`)."""
        try:
            params = await self._read_params(request)
            self.socket.authorize(self._token(request, params))
            self._throttle_method("apps.connections.open")
            result = self.socket.open_connection()
        except _Ratelimited as limited:
            return self.rate_limited(limited.retry_after)
        except _ApiError as error:
            return web.json_response({"ok": False, "error": error.code, **error.extra})
        return web.json_response({"ok": True, **result})

    async def _insecure_request(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error": "insecure_request"})  # POST only, as Slack's reference says

    async def stop(self) -> None:
        await self.socket.close()
        await super().stop()

    async def _unknown_method(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"ok": False, "error": "unknown_method", "req_method": request.match_info.get("method", "")}, status=404
        )

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    async def _response_url(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = await request.text()
        self.responses.append(body)
        return web.json_response({"ok": True})
