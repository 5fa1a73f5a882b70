"""The Teams front end's HTTP endpoint: ``POST /api/messages`` on warroom's aiohttp application, hosting the bot
(:mod:`warroom.chat.teams.bot`) on the Microsoft 365 Agents SDK.

Tokens are checked by :mod:`warroom.chat.teams.auth` before the SDK sees the activity (off only with
``teams.auth_enabled: false``, for a local sandbox); the SDK's ``CloudAdapter`` then runs the bot. It builds its
connector clients through :class:`ConnectorFactory`, which takes its bearer token from warroom's Bot Connector
credentials (and a ``UserTokenClient`` it wants, though warroom signs nobody in). A failure inside a turn is logged
and told to the person in a sentence.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from microsoft_agents.activity import Activity, ActivityTypes, InvokeResponse
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import ClaimsIdentity
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.client import UserTokenClient
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient
from pydantic import ValidationError

from warroom.adapters.microsoft.entra import BOT_SCOPE, EntraToken
from warroom.chat.teams.auth import ActivityRejected, BotFrameworkAuth, BotFrameworkKeys, activity_route
from warroom.chat.teams.bot import TeamsBot
from warroom.chat.teams.edge import CONNECTOR_KEY
from warroom.response.actions import Escalate
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import Store

log = logging.getLogger("warroom.teams")

#: The bearer token for calls to the Bot Connector ("" for none, in a local sandbox).
ConnectorToken = Callable[[], Awaitable[str]]


class ConnectorFactory:
    """How the SDK reaches the Bot Connector: its own ``TeamsConnectorClient`` at the activity's serviceUrl, with
    warroom's bearer token (the SDK's default factory would ask MSAL for one at login.microsoftonline.com)."""

    def __init__(self, token: ConnectorToken | None) -> None:
        self._token = token

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        if not service_url:
            raise ValueError("the activity has no serviceUrl to reply to")
        token = await self._token() if self._token is not None else ""
        client = TeamsConnectorClient(endpoint=service_url, token=token)
        if context is not None:
            context.turn_state[CONNECTOR_KEY] = client
        return client

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> UserTokenClient:
        # warroom signs nobody in (no OAuth cards); the SDK wants a client all the same. Nothing is sent with it.
        return UserTokenClient(endpoint="https://token.botframework.com/", token="")


@dataclass
class TeamsEndpoint:
    """What ``POST /api/messages`` runs: the checks, the SDK's adapter and the bot."""

    settings: Settings
    bot: TeamsBot
    adapter: CloudAdapter
    auth: BotFrameworkAuth | None
    closers: list[Callable[[], Awaitable[None]]]

    async def handle(self, request: web.Request, body: Any) -> web.StreamResponse:
        """One activity; ``body`` is the request's JSON, read and decoded with bounds at the edge (warroom.web)."""
        if not isinstance(body, dict):
            return web.json_response({"error": "The body must be a JSON activity object."}, status=400)
        if self.auth is not None:
            channel_id, service_url = activity_route(body)
            authorization = request.headers.get("Authorization")
            try:
                claims = await self.auth.verify(authorization, channel_id=channel_id, service_url=service_url)
            except ActivityRejected as exc:
                log.warning("activity refused: %s", exc.reason)
                return web.json_response({"error": exc.reason}, status=exc.status)
            token = (authorization or "").partition(" ")[2].strip()
            identity = ClaimsIdentity(claims, True, authentication_type="Bearer", security_token=token)
        else:
            identity = ClaimsIdentity({}, False, authentication_type="Anonymous")
        with warnings.catch_warnings():  # the SDK's aiohttp adapter reads it under this plain string key
            warnings.simplefilter("ignore", web.NotAppKeyWarning)
            request["claims_identity"] = identity
        try:
            activity = Activity.model_validate(body)
        except ValidationError:
            return web.json_response({"error": "The body is not a Bot Framework activity."}, status=400)
        if not activity.type or not activity.conversation or not activity.conversation.id:
            return web.json_response(
                {"error": "The activity needs a type and a conversation id."}, status=400
            )
        if not activity.service_url:
            return web.json_response({"error": "The activity has no serviceUrl to answer to."}, status=400)
        response = await self.adapter.process(request, self.bot)
        return response if response is not None else web.Response(status=202)

    async def aclose(self) -> None:
        for close in self.closers:
            await close()


async def _on_turn_error(context: TurnContext, error: Exception) -> None:
    """A failure inside a turn: logged, and the person told in a sentence (never a traceback)."""
    log.exception(
        "Teams activity %s failed", context.activity.id if context.activity else "?", exc_info=error
    )
    if context.activity is not None and context.activity.type == ActivityTypes.invoke:
        await context.send_activity(
            Activity(
                type=ActivityTypes.invoke_response,
                value=InvokeResponse(status=500).model_dump(exclude_none=True),
            )
        )
        return
    try:
        await context.send_activity(
            "warroom could not finish that; try again, and tell your admin if it keeps failing."
        )
    except Exception:  # the connector itself may be what failed
        log.info("could not tell the person either")


def create_teams_endpoint(
    settings: Settings,
    service: IncidentService,
    store: Store,
    *,
    connector_token: ConnectorToken | None = None,
    escalate: Escalate | None = None,
    keys: BotFrameworkKeys | None = None,
) -> TeamsEndpoint:
    """The endpoint, built from settings: token checks on unless ``teams.auth_enabled`` is false; replies carry an
    Entra token for the Bot Connector (client credentials of ``teams.app_id``) unless ``connector_token`` is given
    or no ``teams.app_password`` is set (a local sandbox)."""
    teams = settings.teams
    auth: BotFrameworkAuth | None = None
    if teams.auth_enabled:
        keys = keys or BotFrameworkKeys(teams.openid_metadata_url, timeout=teams.timeout)
        auth = BotFrameworkAuth(teams.app_id, keys)
    closers: list[Callable[[], Awaitable[None]]] = [keys.aclose] if keys is not None else []
    if connector_token is None and teams.app_password is not None:
        entra = EntraToken(
            token_url=EntraToken.url_for(teams.login_url, teams.tenant_id),
            client_id=teams.app_id,
            client_secret=teams.app_password.get_secret_value(),
            scope=BOT_SCOPE,
            system="Bot Connector",
            timeout=teams.timeout,
        )
        connector_token = entra.cache.get
        closers.append(entra.aclose)
    adapter = CloudAdapter(channel_service_client_factory=ConnectorFactory(connector_token))
    adapter.on_turn_error = _on_turn_error
    bot = TeamsBot(settings, service, store, escalate=escalate)
    return TeamsEndpoint(settings, bot, adapter, auth, closers)


def mount(app: web.Application, endpoint: TeamsEndpoint, read: Callable[[web.Request], Awaitable[Any]]) -> None:
    """``POST /api/messages`` on warroom's aiohttp application; ``read`` gives the request's JSON document, or the
    answer that refuses the body (a ``web.Response``: too large, not decodable, too deeply nested)."""

    async def cleanup(_app: web.Application) -> None:
        await endpoint.aclose()

    async def messages(request: web.Request) -> web.StreamResponse:
        body = await read(request)
        if isinstance(body, web.StreamResponse):
            return body
        return await endpoint.handle(request, body)

    app.router.add_post("/api/messages", messages)
    app.on_cleanup.append(cleanup)
