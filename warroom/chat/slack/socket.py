"""Slack's Socket Mode (``slack.mode: socket``): warroom opens a WebSocket to Slack and needs no inbound URL.

slack-bolt's aiohttp Socket Mode handler carries the envelopes to the same :class:`~slack_bolt.async_app.AsyncApp`
the HTTP endpoint uses (:func:`warroom.chat.slack.app.create_slack_app`): the same listeners, the same
de-duplication (trigger ids and event ids in the inbox, the state rules), the same answers — a listener's ``ack``
becomes the envelope's acknowledgement, its reply the ack's payload. slack_sdk's client does the protocol: it asks
``apps.connections.open`` (at ``slack.api_url``, with the app-level token) for a single-use URL, connects, acks,
and reconnects through a new ``apps.connections.open`` when Slack asks (``disconnect``) or the connection drops;
Slack redelivers what was not acked, and the de-duplication takes it in once.

Here: the connection is opened when the web application starts and closed when it shuts down, after the envelopes
being handled are done. A token Slack refuses stops the start with a sentence saying what to fix; Slack being out of
reach does not (the client keeps trying, and the rest of warroom — alerts, webhooks — runs meanwhile).
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from warroom.adapters.slack_api import APP_TOKEN_REFUSALS
from warroom.settings import SlackSettings

log = logging.getLogger("warroom.slack.socket")

#: apps.connections.open's answers that no retry will change: the token or the app's settings must be fixed.
_REFUSALS = APP_TOKEN_REFUSALS

#: Seconds to let envelopes being handled finish when warroom shuts down.
DRAIN_SECONDS = 5.0


class SocketModeRefused(RuntimeError):
    """Slack refused the app-level token: the sentence says what to fix."""


class _Handler(AsyncSocketModeHandler):
    """slack-bolt's handler, counting the envelopes being handled so that shutting down can wait for them."""

    def __init__(self, app: AsyncApp, app_token: str, *, ping_interval: float) -> None:
        super().__init__(app, app_token, logger=log, ping_interval=ping_interval)
        self.handling: set[asyncio.Task[object]] = set()

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        task = asyncio.current_task()
        if task is not None:
            self.handling.add(task)
        try:
            await super().handle(client, req)
        finally:
            if task is not None:
                self.handling.discard(task)


class SlackSocketMode:
    """One Socket Mode connection for a bolt app, opened by :meth:`start` and closed by :meth:`stop`."""

    def __init__(self, app: AsyncApp, app_token: str, *, ping_interval: float = 10.0) -> None:
        self.app = app
        self.app_token = app_token
        self.ping_interval = ping_interval
        self.handler: _Handler | None = None
        self._connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        handler = self.handler = _Handler(self.app, self.app_token, ping_interval=self.ping_interval)
        client = handler.client
        try:
            opened = await client.web_client.apps_connections_open(app_token=self.app_token)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in _REFUSALS:
                await _close(client)
                self.handler = None
                raise SocketModeRefused(
                    f"Slack refused slack.app_token for Socket Mode ({error}: {_REFUSALS[error]}). In the Slack app's "
                    "settings, Basic Information → App-Level Tokens, create a token with the connections:write scope, "
                    "set it as WARROOM_SLACK__APP_TOKEN (or slack.app_token_file), and turn Socket Mode on."
                ) from None
            log.warning("Slack did not open a Socket Mode connection yet (%s); retrying in the background", error)
        except Exception as exc:  # Slack out of reach: slack_sdk's client keeps trying
            log.warning("Slack is not reachable for Socket Mode yet (%s: %s); retrying in the background",
                        type(exc).__name__, exc)
        else:
            client.wss_uri = str(opened["url"])  # the first connection uses this ticket instead of asking again
        # slack_sdk leaves connect/close unannotated
        connecting = handler.connect_async()  # type: ignore[no-untyped-call]
        self._connecting = asyncio.create_task(connecting, name="slack-socket-mode-connect")

    async def stop(self) -> None:
        handler, self.handler = self.handler, None
        if handler is None:
            return
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        client = handler.client
        if handler.handling:  # finished and acked while the connection is still there
            await asyncio.wait(set(handler.handling), timeout=DRAIN_SECONDS)
        await _close(client)
        if handler.handling:
            # taken up in the meantime: their acks cannot go out any more, so Slack sends those envelopes again (to
            # another process, or to this one once it is back) and the de-duplication takes each in once
            await asyncio.wait(set(handler.handling), timeout=DRAIN_SECONDS)
        tasks = [t for t in (client.message_processor, client.message_receiver, client.current_session_monitor,
                             self._connecting) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _close(client: SocketModeClient) -> None:
    await client.close()  # type: ignore[no-untyped-call]


def mount(web_app: web.Application, bolt: AsyncApp, settings: SlackSettings) -> SlackSocketMode:
    """Open the Socket Mode connection when ``web_app`` starts, close it when it shuts down (before the store and
    the workers stop in the application's cleanup, so that envelopes being handled can finish)."""
    assert settings.app_token is not None
    socket = SlackSocketMode(bolt, settings.app_token.get_secret_value(), ping_interval=settings.socket_ping_seconds)

    async def on_startup(_app: web.Application) -> None:
        await socket.start()

    async def on_shutdown(_app: web.Application) -> None:
        await socket.stop()

    web_app.on_startup.append(on_startup)
    web_app.on_shutdown.append(on_shutdown)
    return socket
