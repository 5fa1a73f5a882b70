"""Slack's Socket Mode in the sandbox: ``apps.connections.open`` and the WebSocket it hands out, delivering the
envelopes Slack's side sends (:meth:`SocketModeHub.send`) and taking the app's acknowledgements.

What it is based on: Slack's Socket Mode guide (docs.slack.dev, "Using Socket Mode") and the apps.connections.open
reference; slack_sdk 3.x's Socket Mode clients for what a real client sends and expects.

- ``apps.connections.open`` (Tier 1; POST only, GET → ``insecure_request``): the app-level token (``Authorization: Bearer xapp-…`` or a
  ``token`` argument). None → ``not_authed``; the bot token → ``not_allowed_token_type``; any other → ``invalid_auth``;
  an app-level token without ``connections:write`` → ``missing_scope`` (with ``needed`` and ``provided``). Answers
  ``{"ok": true, "url": "ws://…/link/?ticket=…&app_id=…"}``: the ticket is good for one connection (every
  reconnection asks for a new one); an unknown or used ticket is refused before the upgrade (HTTP 401).
- First frame: ``{"type": "hello", "num_connections": n, "connection_info": {"app_id": …}, "debug_info": {…}}``.
  Up to :data:`MAX_CONNECTIONS` connections at once (more: ``disconnect`` ``too_many_websockets`` and close);
  envelopes go to the open connections in turn.
- Envelopes: ``{"envelope_id", "type": "slash_commands" | "interactive" | "events_api", "payload",
  "accepts_response_payload", "retry_attempt", "retry_reason"}``. The app acks with ``{"envelope_id": …}`` plus
  ``"payload"`` when it answers (a slash command's reply, a view submission's ``response_action``). An ack may come
  on any of the app's connections (slack_sdk sends on its current one, which may be newer than the one that
  carried the envelope).
- Redelivery: an envelope not acked within :attr:`SocketModeHub.ack_timeout` (3 s, as Slack) is sent again with
  ``retry_attempt`` + 1 and ``retry_reason`` ``"timeout"``; one that went out on a connection that closed before
  its ack cannot be acked there, so it is sent again at once on the next connection, ``retry_reason``
  ``"connection_lost"`` (the emulator's name). After :attr:`SocketModeHub.max_retries` retries it is given up.
  With no connection open, envelopes wait for the next ``hello``. The envelope id stays the same across retries.
- ``{"type": "disconnect", "reason": "refresh_requested"}`` (:meth:`SocketModeHub.refresh`): Slack asks the app to
  open a new connection; the old one gets no new envelopes and is closed once a new one is open (or after
  :attr:`SocketModeHub.refresh_grace` seconds).
- Faults for tests (:meth:`SocketModeHub.inject`): ``drop_before_delivery`` (the connection closes instead of
  carrying the next envelope), ``drop_before_ack`` (the next ack is lost and its connection closes),
  ``lose_ack`` (the next ack is lost, the connection stays), ``duplicate`` (the next envelope is sent twice);
  ``abrupt=True`` ends the TCP connection without a WebSocket close frame.

Read-back: :attr:`SocketModeHub.envelopes`, :attr:`SocketModeHub.deliveries`, :attr:`SocketModeHub.acks`,
:meth:`SocketModeHub.unacked`, :attr:`SocketModeHub.connections`, :attr:`SocketModeHub.opened`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from .params import Result, _ApiError

MAX_CONNECTIONS = 10
CONNECTIONS_WRITE = "connections:write"
FAULT_KINDS = ("drop_before_delivery", "drop_before_ack", "lose_ack", "duplicate")
#: Envelope types whose ack may carry a response payload (Slack's ``accepts_response_payload``).
_ANSWERS = {"slash_commands": True, "events_api": False}
_INTERACTIONS_ANSWERING = {"view_submission", "block_suggestion"}


@dataclass
class Connection:
    id: int
    ws: web.WebSocketResponse
    request: web.Request
    opened_at: float
    #: asked to refresh: gets no new envelopes and is closed once the app has opened another connection
    draining: bool = False
    closed: bool = False


@dataclass
class Ack:
    envelope_id: str
    type: str
    #: the ack's ``payload`` (None when the ack had none)
    payload: dict[str, Any] | None
    #: the delivery attempt that was outstanding when the ack came (0: the first)
    retry_attempt: int
    connection: int
    #: an ack for an envelope that was acked already (a duplicate or a redelivery both answered)
    late: bool = False


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    retry_attempt: int = 0
    retry_reason: str = ""
    #: the first ack, once it came
    ack: Ack | None = None
    #: retried max_retries times without an ack
    given_up: bool = False
    #: resolved with the first ack, or None when given up
    done: asyncio.Future[Ack | None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    connection: Connection | None = None
    _timer: asyncio.TimerHandle | None = None

    def frame(self) -> dict[str, Any]:
        return {
            "envelope_id": self.envelope_id,
            "type": self.type,
            "payload": self.payload,
            "accepts_response_payload": self.accepts_response_payload,
            "retry_attempt": self.retry_attempt,
            "retry_reason": self.retry_reason,
        }


@dataclass
class SocketFault:
    kind: str
    times: int = 1
    #: end the TCP connection without a WebSocket close frame
    abrupt: bool = False


def accepts_response_payload(envelope_type: str, payload: dict[str, Any]) -> bool:
    if envelope_type == "interactive":
        return str(payload.get("type")) in _INTERACTIONS_ANSWERING
    return _ANSWERS.get(envelope_type, False)


class SocketModeHub:
    """Socket Mode for one app: its app-level token, tickets, connections and envelopes."""

    def __init__(self, *, app_id: str, app_token: str, bot_token: str, base_url: Callable[[], str]) -> None:
        self.app_id = app_id
        self.app_token = app_token
        self.bot_token = bot_token
        self.app_token_scopes: set[str] = {CONNECTIONS_WRITE}
        self._base_url = base_url
        #: seconds Slack waits for an ack before sending the envelope again
        self.ack_timeout = 3.0
        #: retries before an envelope is given up
        self.max_retries = 3
        #: seconds a connection asked to refresh stays open when the app opens no new one
        self.refresh_grace = 10.0
        self.connections: list[Connection] = []
        #: connections opened so far (each needed a ticket from apps.connections.open)
        self.opened = 0
        self.envelopes: dict[str, Envelope] = {}
        #: every envelope sent: {envelope_id, type, retry_attempt, retry_reason, connection}
        self.deliveries: list[dict[str, Any]] = []
        self.acks: list[Ack] = []
        #: acks lost to a fault, and frames that were not acks of a known envelope
        self.lost_acks: list[dict[str, Any]] = []
        self.stray: list[Any] = []
        self.faults: list[SocketFault] = []
        self._tickets: set[str] = set()
        self._waiting: list[Envelope] = []
        self._ids = itertools.count(1)
        self._turn = 0
        self._changed = asyncio.Condition()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return self._base_url()

    # -- apps.connections.open ---------------------------------------------------------------------------
    def authorize(self, token: str | None) -> None:
        """apps.connections.open's token check: the app-level token with ``connections:write``."""
        if not token:
            raise _ApiError("not_authed")
        if token == self.bot_token:
            raise _ApiError("not_allowed_token_type")
        if token != self.app_token:
            raise _ApiError("invalid_auth")
        if CONNECTIONS_WRITE not in self.app_token_scopes:
            raise _ApiError("missing_scope", needed=CONNECTIONS_WRITE, provided=",".join(sorted(self.app_token_scopes)))

    def open_connection(self) -> Result:
        """A single-use ticket URL for the WebSocket."""
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        ws_base = "ws" + self.base_url.removeprefix("http")
        return {"url": f"{ws_base}/link/?ticket={ticket}&app_id={self.app_id}"}

    # -- the WebSocket -----------------------------------------------------------------------------------
    async def websocket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            return web.json_response({"ok": False, "error": "invalid_ticket"}, status=401)
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Connection(next(self._ids), ws, request, time.monotonic())
        self.opened += 1
        live = self.live()
        if len(live) >= MAX_CONNECTIONS:
            await ws.send_json({"type": "disconnect", "reason": "too_many_websockets"})
            await ws.close(code=WSCloseCode.POLICY_VIOLATION)
            return ws
        await ws.send_json({
            "type": "hello",
            "num_connections": len(live) + 1,
            "debug_info": {"host": "applink-sandbox", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        })
        self.connections.append(conn)  # envelopes only after the hello
        async with self._changed:
            self._changed.notify_all()
        waiting, self._waiting = self._waiting, []
        for envelope in waiting:
            await self._deliver(envelope)
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    await self._on_frame(conn, message.data)
        finally:
            await self._closed(conn)
        return ws

    def live(self) -> list[Connection]:
        return [c for c in self.connections if not c.closed]

    async def _on_frame(self, conn: Connection, data: str) -> None:
        try:
            frame = json.loads(data)
        except ValueError:
            self.stray.append(data)
            return
        envelope = self.envelopes.get(str(frame.get("envelope_id"))) if isinstance(frame, dict) else None
        if envelope is None:
            self.stray.append(frame)
            return
        fault = self._take_fault(("lose_ack", "drop_before_ack"))
        if fault is not None:
            self.lost_acks.append({"fault": fault.kind, **frame})
            if fault.kind == "drop_before_ack":
                await self._close(conn, abrupt=fault.abrupt)
            return
        payload = frame.get("payload")
        ack = Ack(envelope.envelope_id, envelope.type, payload if isinstance(payload, dict) else None,
                  envelope.retry_attempt, conn.id, late=envelope.ack is not None)
        self.acks.append(ack)
        if envelope.ack is None:
            envelope.ack = ack
            self._cancel_timer(envelope)
            if not envelope.done.done():
                envelope.done.set_result(ack)
        async with self._changed:
            self._changed.notify_all()

    async def _closed(self, conn: Connection) -> None:
        conn.closed = True
        async with self._changed:
            self._changed.notify_all()
        for envelope in list(self.envelopes.values()):
            if envelope.connection is conn and envelope.ack is None and not envelope.given_up:
                await self._retry(envelope, "connection_lost")

    # -- delivering -------------------------------------------------------------------------------------
    async def send(self, envelope_type: str, payload: dict[str, Any], *, retry_attempt: int = 0,
                   retry_reason: str = "") -> Envelope:
        """Slack sending an envelope to the app; await ``envelope.done`` for the ack (None: never acked)."""
        envelope = Envelope(f"{uuid.uuid4()}", envelope_type, payload,
                            accepts_response_payload(envelope_type, payload), retry_attempt, retry_reason)
        self.envelopes[envelope.envelope_id] = envelope
        await self._deliver(envelope)
        return envelope

    def _pick(self) -> Connection | None:
        ready = [c for c in self.live() if not c.draining]
        if not ready:
            return None
        self._turn += 1
        return ready[self._turn % len(ready)]

    async def _deliver(self, envelope: Envelope) -> None:
        conn = self._pick()
        if conn is None:
            envelope.connection = None
            self._waiting.append(envelope)
            return
        envelope.connection = conn
        fault = self._take_fault(("drop_before_delivery", "duplicate"))
        if fault is not None and fault.kind == "drop_before_delivery":
            await self._close(conn, abrupt=fault.abrupt)  # the envelope never left: retried on the next one
            return
        copies = 2 if fault is not None and fault.kind == "duplicate" else 1
        try:
            for _ in range(copies):
                await conn.ws.send_json(envelope.frame())
                self.deliveries.append({"envelope_id": envelope.envelope_id, "type": envelope.type,
                                        "retry_attempt": envelope.retry_attempt,
                                        "retry_reason": envelope.retry_reason, "connection": conn.id})
        except ConnectionError:
            return  # the connection is going: _closed retries what it carried
        self._cancel_timer(envelope)
        envelope._timer = asyncio.get_running_loop().call_later(
            self.ack_timeout, self._timed_out, envelope, envelope.retry_attempt)

    def _timed_out(self, envelope: Envelope, attempt: int) -> None:
        envelope._timer = None
        self._spawn(self._retry(envelope, "timeout", attempt=attempt))

    async def _retry(self, envelope: Envelope, reason: str, *, attempt: int | None = None) -> None:
        if envelope.ack is not None or envelope.given_up:
            return
        if attempt is not None and attempt != envelope.retry_attempt:
            return  # a timer of an earlier attempt
        self._cancel_timer(envelope)
        if envelope in self._waiting:
            return
        if envelope.retry_attempt >= self.max_retries:
            envelope.given_up = True
            if not envelope.done.done():
                envelope.done.set_result(None)
            async with self._changed:
                self._changed.notify_all()
            return
        envelope.retry_attempt += 1
        envelope.retry_reason = reason
        await self._deliver(envelope)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    def _cancel_timer(envelope: Envelope) -> None:
        if envelope._timer is not None:
            envelope._timer.cancel()
            envelope._timer = None

    # -- control ----------------------------------------------------------------------------------------
    def inject(self, kind: str, *, times: int = 1, abrupt: bool = False) -> SocketFault:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown Socket Mode fault {kind!r}; one of {', '.join(FAULT_KINDS)}")
        fault = SocketFault(kind, times, abrupt)
        self.faults.append(fault)
        return fault

    def _take_fault(self, kinds: tuple[str, ...]) -> SocketFault | None:
        for fault in self.faults:
            if fault.kind in kinds and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def refresh(self, reason: str = "refresh_requested") -> None:
        """Ask the app to reconnect (``disconnect``); the old connections close once a new one is open."""
        old = [c for c in self.live() if not c.draining]
        for conn in old:
            conn.draining = True
            with contextlib.suppress(ConnectionError):
                await conn.ws.send_json({"type": "disconnect", "reason": reason,
                                         "debug_info": {"host": "applink-sandbox"}})
        self._spawn(self._close_after_refresh(old))

    async def _close_after_refresh(self, old: list[Connection]) -> None:
        with contextlib.suppress(TimeoutError):
            await self.wait_for(lambda: any(not c.draining for c in self.live()), timeout=self.refresh_grace)
        for conn in old:
            await self._close(conn)

    async def drop(self, *, abrupt: bool = False) -> None:
        """End every open connection (``abrupt``: without a close frame, as a network failure does)."""
        for conn in self.live():
            await self._close(conn, abrupt=abrupt)

    async def _close(self, conn: Connection, *, abrupt: bool = False) -> None:
        if conn.closed:
            return
        conn.closed = True
        if abrupt:
            transport = conn.request.transport
            if transport is not None:
                transport.abort()
            await self._closed(conn)
            return
        # the handler's loop sees the close and retries what the connection carried
        with contextlib.suppress(ConnectionError):
            await conn.ws.close(code=WSCloseCode.GOING_AWAY, message=b"connection closed by the sandbox")
        await self._closed(conn)

    # -- read-back and waiting ----------------------------------------------------------------------------
    def unacked(self) -> list[Envelope]:
        """Envelopes not acked (yet, or given up)."""
        return [e for e in self.envelopes.values() if e.ack is None]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Until ``condition()`` holds (checked whenever a connection opens or closes or an ack comes)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(condition)

    async def wait_connected(self, timeout: float = 10.0) -> Connection:
        await self.wait_for(lambda: any(not c.draining for c in self.live()), timeout)
        return next(c for c in self.live() if not c.draining)

    def state(self) -> dict[str, Any]:
        return {
            "connections": [{"id": c.id, "draining": c.draining} for c in self.live()],
            "opened": self.opened,
            "unacked": [e.envelope_id for e in self.unacked()],
            "acks": len(self.acks),
        }

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for envelope in self.envelopes.values():
            self._cancel_timer(envelope)
        for conn in self.live():
            await self._close(conn)
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task


def new_app_token(app_id: str) -> str:
    """An app-level token in Slack's shape: ``xapp-1-<app id>-<number>-<hex>``."""
    return f"xapp-1-{app_id}-{secrets.randbelow(10**12)}-{secrets.token_hex(32)}"
