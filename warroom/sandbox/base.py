"""What every sandbox emulator shares: a real aiohttp server on loopback, configurable latency per
operation, scripted faults, and a log of the calls received (read back by tests, the demo and benches).

An emulator subclass registers routes with :meth:`Emulator.route`, naming each operation (``"chat.postMessage"``,
``"POST /requests"``); latency and faults are keyed by that name (``"*"`` for all).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Fault:
    """Answer the next ``times`` calls of ``op`` with this fault instead of the real answer.

    kind: "status" (HTTP ``status`` with ``body``), "ratelimit" (429 + Retry-After), "timeout" (hold the
    request ``delay`` seconds, then answer normally), "reset" (drop the connection), "after" (do the real work,
    then answer 500 — the effect happened but the caller cannot know).
    """

    op: str
    kind: str = "status"
    status: int = 500
    body: Any = None
    retry_after: float = 1.0
    delay: float = 30.0
    times: int = 1


@dataclass
class Call:
    op: str
    method: str
    path: str
    at: float
    status: int = 0
    #: the request body as text (decoded UTF-8), when it had one
    body: Any = None


@dataclass
class EmulatorConfig:
    #: Seconds added before answering, per operation name; "*" applies to every operation.
    latency: dict[str, float] = field(default_factory=dict)
    #: Enforce the real service's rate limits.
    rate_limits: bool = True


class Emulator:
    name = "emulator"

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.app = web.Application(client_max_size=8 * 1024 * 1024)
        #: Keyword arguments for aiohttp's request handler (e.g. ``max_line_size`` for long query strings).
        self.handler_args: dict[str, Any] = {}
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self.port = 0
        self.app.router.add_get("/_sandbox/calls", self._calls_endpoint)
        self.app.router.add_post("/_sandbox/faults", self._faults_endpoint)

    # -- set-up -------------------------------------------------------------------------------------
    def route(self, method: str, path: str, op: str, handler: Handler) -> None:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            return await self._serve(op, request, handler)

        self.app.router.add_route(method, path, wrapped)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.app, access_log=None, **self.handler_args)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = bound_port(site)
        self.base_url = f"http://{host}:{self.port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- control ------------------------------------------------------------------------------------
    def inject(self, op: str, kind: str = "status", **kwargs: Any) -> Fault:
        fault = Fault(op=op, kind=kind, **kwargs)
        self.faults.append(fault)
        return fault

    def calls_to(self, op: str) -> list[Call]:
        return [c for c in self.calls if c.op == op]

    def latency_for(self, op: str) -> float:
        return self.config.latency.get(op, self.config.latency.get("*", 0.0))

    # -- serving ------------------------------------------------------------------------------------
    def _take_fault(self, op: str) -> Fault | None:
        for fault in self.faults:
            if fault.op in (op, "*") and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
                return fault
        return None

    async def _serve(self, op: str, request: web.Request, handler: Handler) -> web.StreamResponse:
        call = Call(op=op, method=request.method, path=request.path_qs, at=time.monotonic())
        if request.body_exists:
            # what was sent, as sent (the handler reads the same bytes again): tests check outbound text with it
            call.body = (await request.read()).decode("utf-8", "replace")
        self.calls.append(call)
        delay = self.latency_for(op)
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault(op)
        if fault is not None:
            if fault.kind == "timeout":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "reset":
                transport = request.transport
                if transport is not None:
                    transport.close()
                raise asyncio.CancelledError
            elif fault.kind == "ratelimit":
                limited = self.rate_limited(fault.retry_after)
                call.status = limited.status
                return limited
            elif fault.kind == "after":
                await handler(request)
                call.status = fault.status
                return web.json_response(fault.body or {"error": "injected failure"}, status=fault.status)
            else:
                call.status = fault.status
                return web.json_response(fault.body if fault.body is not None else {"error": "injected"}, status=fault.status)
        response = await handler(request)
        call.status = response.status
        return response

    def rate_limited(self, retry_after: float) -> web.Response:
        """The service's own 429 shape; subclasses override to match it."""
        return web.json_response(
            {"error": "rate limited"}, status=429, headers={"Retry-After": str(max(1, round(retry_after)))}
        )

    async def _calls_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(
            [{"op": c.op, "method": c.method, "path": c.path, "status": c.status} for c in self.calls]
        )

    async def _faults_endpoint(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.inject(**body)
        return web.json_response({"ok": True})


def bound_port(site: web.TCPSite) -> int:
    """The port the OS gave a site started on port 0."""
    server = cast(asyncio.Server | None, site._server)
    assert server is not None and server.sockets
    return int(server.sockets[0].getsockname()[1])


class SlidingWindow:
    """A rate limiter: at most ``limit`` events per ``window`` seconds per key."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[str, list[float]] = {}

    def hit(self, key: str, now: float | None = None) -> float:
        """Record an event; return 0 if allowed, else the seconds until one would be allowed (not recorded)."""
        now = time.monotonic() if now is None else now
        events = [t for t in self._events.get(key, []) if now - t < self.window]
        if len(events) >= self.limit:
            self._events[key] = events
            return self.window - (now - events[0])
        events.append(now)
        self._events[key] = events
        return 0.0
