"""The people's side of Slack in the sandbox: what Slack sends warroom when someone types a command, clicks a
button, submits a form, uses a message shortcut or talks in a channel, shaped as Slack shapes them — over either
transport, with the same methods:

- :class:`SlackDriver` (HTTP): signed with the app's signing secret and posted to ``/slack/events`` (form-encoded
  commands; ``payload=`` JSON for interactions; JSON event callbacks); returns warroom's HTTP response.
- :class:`SocketDriver` (Socket Mode): the same payloads as envelopes (``slash_commands``, ``interactive``,
  ``events_api``) pushed over the emulator's WebSocket; returns the ack as an HTTP-like response — the ack's
  payload as the body (``{"text": …}`` alone as plain text, as slack-bolt answers over HTTP), an ack without payload
  as an empty 200, and an envelope never acked (given up after Slack's retries) as 504 ``operation_timeout``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from .socket import Envelope, SocketModeHub

TEAM = {"id": "T0SANDBOX", "domain": "sandbox"}
_serial = itertools.count(1)


def slack_headers(body: str, secret: str, timestamp: int | None = None,
                  content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def trigger_id() -> str:
    """A fresh trigger id, as Slack makes one per interaction."""
    return f"{next(_serial)}.{int(time.time())}.{secrets.token_hex(8)}"


class _SlackSide:
    """What people do in Slack, as Slack's payloads; the transport (HTTP or Socket Mode) is the subclass's."""

    def __init__(self, command: str, response_url: str, users: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.command_name = command
        self.response_url = response_url
        #: the workspace's users by id (the emulator's), for the handle Slack sends as ``user_name``
        self.users = users or {}

    def _handle(self, user: str) -> str:
        return str((self.users.get(user) or {}).get("name") or user.lower())

    # -- the transport ------------------------------------------------------------------------------------
    async def _send_command(self, fields: dict[str, str], *, secret: str | None,
                            timestamp: int | None) -> httpx.Response:
        raise NotImplementedError

    async def _send_interaction(self, payload: dict[str, Any]) -> httpx.Response:
        raise NotImplementedError

    async def _send_event(self, body: dict[str, Any], *, retry: int) -> httpx.Response:
        raise NotImplementedError

    # -- what people do -------------------------------------------------------------------------------------
    async def command(self, text: str, *, user: str = "U0ANA", channel: str = "C0GENERAL", trigger: str | None = None,
                      secret: str | None = None, timestamp: int | None = None,
                      channel_name: str = "general") -> httpx.Response:
        """``/incident text`` typed in ``channel``; ``secret``/``timestamp`` change the HTTP signature."""
        return await self._send_command({
            "token": "legacy", "team_id": TEAM["id"], "team_domain": TEAM["domain"], "channel_id": channel,
            "channel_name": channel_name, "user_id": user, "user_name": self._handle(user),
            "command": f"/{self.command_name}", "text": text, "api_app_id": "A0WARROOM",
            "response_url": self.response_url, "trigger_id": trigger or trigger_id(),
        }, secret=secret, timestamp=timestamp)

    async def _interaction(self, payload: dict[str, Any]) -> httpx.Response:
        payload = {"team": TEAM, "api_app_id": "A0WARROOM", "token": "legacy", "is_enterprise_install": False,
                   "trigger_id": trigger_id(), **payload}
        return await self._send_interaction(payload)

    async def click(self, action_id: str, value: str | None = None, *, user: str = "U0ANA", channel: str = "C0GENERAL",
                    message_ts: str = "1700000000.000100", url: str | None = None) -> httpx.Response:
        """A click on a button of a message the bot posted."""
        action: dict[str, Any] = {"action_id": action_id, "block_id": "incident_actions", "type": "button",
                                  "action_ts": f"{time.time():.6f}", "text": {"type": "plain_text", "text": action_id}}
        if value is not None:
            action["value"] = value
        if url is not None:
            action["url"] = url
        return await self._interaction({
            "type": "block_actions", "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
            "channel": {"id": channel, "name": "war-room"}, "message": {"ts": message_ts, "type": "message"},
            "response_url": self.response_url, "actions": [action],
        })

    async def submit(self, callback_id: str, values: dict[str, dict[str, Any]], *, user: str = "U0ANA",
                     private_metadata: str = "") -> httpx.Response:
        """A modal submitted: ``values`` is block id → the element's state (as view.state.values[block][block])."""
        state = {block: {block: value} for block, value in values.items()}
        return await self._interaction({
            "type": "view_submission", "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
            "view": {"id": "V0" + secrets.token_hex(4).upper(), "type": "modal", "callback_id": callback_id,
                     "private_metadata": private_metadata, "state": {"values": state}, "hash": "1.abc"},
        })

    async def shortcut(self, callback_id: str, message: dict[str, Any], *, user: str = "U0ANA",
                       channel: str = "C0GENERAL") -> httpx.Response:
        """A message shortcut used on ``message`` (user, text, ts)."""
        return await self._interaction({
            "type": "message_action", "callback_id": callback_id, "user": {"id": user, "name": user.lower()},
            "channel": {"id": channel, "name": "channel"}, "message": {"type": "message", **message},
            "message_ts": message.get("ts"), "response_url": self.response_url,
        })

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int = 0) -> httpx.Response:
        """An Events API delivery (``retry`` > 0: Slack sending it again after a timeout)."""
        return await self._send_event({
            "token": "legacy", "team_id": TEAM["id"], "api_app_id": "A0WARROOM", "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}", "event_time": int(time.time()),
            "event": event,
        }, retry=retry)


class SlackDriver(_SlackSide):
    """Slack's side over HTTP: signed requests to warroom's ``/slack/events``."""

    def __init__(self, http: httpx.AsyncClient, secret: str, command: str, response_url: str,
                 users: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        super().__init__(command, response_url, users)
        self.http = http
        self.secret = secret

    async def _form(self, fields: dict[str, str], *, secret: str | None = None, timestamp: int | None = None,
                    headers: dict[str, str] | None = None) -> httpx.Response:
        body = urlencode(fields)
        sent = {**slack_headers(body, secret or self.secret, timestamp), **(headers or {})}
        return await self.http.post("/slack/events", content=body, headers=sent)

    async def _send_command(self, fields: dict[str, str], *, secret: str | None,
                            timestamp: int | None) -> httpx.Response:
        return await self._form(fields, secret=secret, timestamp=timestamp)

    async def _send_interaction(self, payload: dict[str, Any]) -> httpx.Response:
        return await self._form({"payload": json.dumps(payload)})

    async def _send_event(self, body: dict[str, Any], *, retry: int) -> httpx.Response:
        text = json.dumps(body)
        headers = slack_headers(text, self.secret, content_type="application/json")
        if retry:
            headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
        return await self.http.post("/slack/events", content=text, headers=headers)


class SocketDriver(_SlackSide):
    """Slack's side over Socket Mode: envelopes on the emulator's WebSocket; the ack is the response.

    Each call waits until the envelope is acked (by any delivery: Slack redelivers what is not acked) or given up,
    at most ``timeout`` seconds (an app that never connects fails the call instead of hanging it).
    """

    def __init__(self, hub: SocketModeHub, command: str, response_url: str,
                 users: Mapping[str, Mapping[str, Any]] | None = None, *, timeout: float = 30.0) -> None:
        super().__init__(command, response_url, users)
        self.hub = hub
        self.timeout = timeout
        #: the envelopes this driver sent, in order
        self.sent: list[Envelope] = []

    async def envelope(self, envelope_type: str, payload: dict[str, Any], *, retry: int = 0) -> Envelope:
        """Send one envelope and wait for its outcome (``envelope.ack``, or ``envelope.given_up``)."""
        envelope = await self.hub.send(envelope_type, payload, retry_attempt=retry,
                                       retry_reason="timeout" if retry else "")
        self.sent.append(envelope)
        async with asyncio.timeout(self.timeout):
            await asyncio.shield(envelope.done)
        return envelope

    async def _respond(self, envelope_type: str, payload: dict[str, Any], *, retry: int = 0) -> httpx.Response:
        envelope = await self.envelope(envelope_type, payload, retry=retry)
        request = httpx.Request("POST", f"{self.hub.base_url}/link/#{envelope.envelope_id}")
        if envelope.ack is None:
            return httpx.Response(504, json={"ok": False, "error": "operation_timeout"}, request=request)
        answer = envelope.ack.payload
        if not answer:
            return httpx.Response(200, content=b"", request=request)
        if set(answer) == {"text"} and isinstance(answer["text"], str):
            return httpx.Response(200, text=answer["text"], request=request)
        return httpx.Response(200, content=json.dumps(answer).encode(), request=request,
                              headers={"Content-Type": "application/json;charset=utf-8"})

    async def _send_command(self, fields: dict[str, str], *, secret: str | None,
                            timestamp: int | None) -> httpx.Response:
        if secret is not None or timestamp is not None:
            raise ValueError("Socket Mode envelopes carry no signature: secret and timestamp are HTTP-only")
        return await self._respond("slash_commands", dict(fields))

    async def _send_interaction(self, payload: dict[str, Any]) -> httpx.Response:
        return await self._respond("interactive", payload)

    async def _send_event(self, body: dict[str, Any], *, retry: int) -> httpx.Response:
        return await self._respond("events_api", body, retry=retry)
