"""Prometheus metrics, on a registry of the app's own (no global state), and the ``/metrics`` endpoint.

``/metrics`` answers on ``server.port`` beside everything else, or — with ``server.metrics_port`` — only on a second
listener of its own; with ``server.metrics_token`` a scrape must send ``Authorization: Bearer <token>`` (401 without).

Webhook deliveries in are counted at one place, a middleware over the delivery routes (alerts, change events,
Xurrent's webhooks, Slack's events, Teams' activities), by source and outcome: the outcome a handler tagged its
response with (:func:`tag`, e.g. Xurrent's ``ignored`` and ``duplicate``), else one read from the status.
Calls out are counted where they are made — the adapters' choke points (``JsonApi.request``, the Slack client's
retry handlers, the Entra and Xurrent token requests, the model client), which know nothing of the web app: the
composition root hands each adapter :meth:`Metrics.outbound_call` as its observer (:mod:`warroom.adapters.observe`),
and every attempt, retries included, counts once by system and outcome. The outbox's job counter counts every
outside effect by kind and outcome besides.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from .app import Runtime


def build_version() -> str:
    """The installed distribution's version (pyproject's ``version``)."""
    try:
        return metadata.version("warroom")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


class Metrics:
    def __init__(self, version: str | None = None) -> None:
        self.registry = CollectorRegistry()
        self.alerts = Counter(
            "warroom_alerts_total", "Alerts received, by source and what became of them", ["source", "result"],
            registry=self.registry,
        )
        self.intake_rejected = Counter(
            "warroom_intake_rejected_total", "Alert deliveries refused, by source and reason", ["source", "reason"],
            registry=self.registry,
        )
        self.incidents = Counter(
            "warroom_incidents_declared_total", "Major incidents declared, by origin", ["origin"], registry=self.registry
        )
        self.jobs = Counter(
            "warroom_outbox_jobs_total", "Outbox job runs, by kind and outcome", ["kind", "outcome"], registry=self.registry
        )
        self.job_seconds = Histogram(
            "warroom_outbox_job_seconds", "Time to run an outbox job, by kind", ["kind"], registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.outbox = Gauge("warroom_outbox_backlog", "Outbox jobs by status", ["status"], registry=self.registry)
        self.deliveries = Counter(
            "warroom_webhook_deliveries_total",
            "Webhook deliveries received (alerts, change events, Xurrent, Slack, Teams), by source and outcome",
            ["source", "outcome"], registry=self.registry,
        )
        self.sync_conflicts = Counter(
            "warroom_sync_conflicts_total",
            "Fields changed on both the incident and its Xurrent request since the last sync (the incident's value "
            "wins), by field", ["field"], registry=self.registry,
        )
        self.outbound = Counter(
            "warroom_outbound_calls_total",
            "Calls to outside systems, each attempt (retries included), by system (slack, xurrent, zoom, webex, graph, "
            "bot_connector, entra, ai) and outcome (ok, rate_limited, transient, refused, not_found, unreachable)",
            ["system", "outcome"], registry=self.registry,
        )
        self.build_info = Gauge("warroom_build_info", "The running warroom's version (always 1)", ["version"],
                                registry=self.registry)
        self.build_info.labels(version or build_version()).set(1)

    def observe_job(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs.labels(kind, outcome).inc()
        self.job_seconds.labels(kind).observe(seconds)

    def outbound_call(self, system: str, outcome: str, /) -> None:
        """An adapter's observer (:class:`warroom.adapters.observe.CallObserver`): one attempt at an outside call."""
        self.outbound.labels(system, outcome).inc()

    def conflict(self, field: str) -> None:
        self.sync_conflicts.labels(field).inc()

    def set_outbox(self, counts: dict[str, int]) -> None:
        for status in ("pending", "running", "done", "dead"):
            self.outbox.labels(status).set(counts.get(status, 0))

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


# -- webhook deliveries in ------------------------------------------------------------------------------------------
#: The delivery routes (canonical paths) and the source each is counted under; /alerts/<source> besides.
DELIVERY_ROUTES = {
    "/webhooks/xurrent": "xurrent",
    "/events/changes": "changes",
    "/slack/events": "slack",
    "/api/messages": "teams",
}
#: Where a handler puts the outcome of a delivery on its response when the status alone does not say it.
OUTCOME: web.ResponseKey[str] = web.ResponseKey("delivery_outcome", str)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


R = TypeVar("R", bound=web.StreamResponse)


def tag(response: R, outcome: str) -> R:
    """Count the delivery this response answers as ``outcome`` (e.g. ``ignored``, ``duplicate``)."""
    response[OUTCOME] = outcome
    return response


def outcome_of(status: int) -> str:
    if status < 400:
        return "accepted"
    if status in (401, 403):
        return "unauthorized"
    return {400: "malformed", 404: "off", 413: "too_large", 415: "malformed", 422: "malformed",
            429: "throttled"}.get(status, "refused" if status < 500 else "error")


def delivery_source(request: web.Request) -> str | None:
    """The source a request to a delivery route is counted under; None for every other route (and unknown paths,
    which would let anyone add labels)."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    path = resource.canonical
    if path.startswith("/alerts/"):
        return path.removeprefix("/alerts/")
    return DELIVERY_ROUTES.get(path)


def count_deliveries(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        source = delivery_source(request)
        if source is None:
            return await handler(request)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            metrics.deliveries.labels(source, outcome_of(exc.status)).inc()
            raise
        except Exception:
            metrics.deliveries.labels(source, "error").inc()
            raise
        metrics.deliveries.labels(source, response.get(OUTCOME) or outcome_of(response.status)).inc()
        return response

    return middleware


# -- /metrics -------------------------------------------------------------------------------------------------------
@dataclass
class MetricsListener:
    """The second listener of server.metrics_port; ``address`` is where it listens once started (port 0 in the
    settings: whichever port was free)."""

    runner: web.AppRunner
    address: tuple[str, int] | None = None


METRICS_LISTENER: web.AppKey[MetricsListener] = web.AppKey("metrics_listener", MetricsListener)


def _bearer_ok(request: web.Request, expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and bool(token) and hmac.compare_digest(token.strip().encode(), expected.encode())


def mount(app: web.Application, rt: Runtime) -> None:
    """Count webhook deliveries; serve ``/metrics`` on the app, or on a listener of its own (server.metrics_port)."""
    app.middlewares.append(count_deliveries(rt.metrics))
    server = rt.settings.server
    token = server.metrics_token.get_secret_value() if server.metrics_token is not None else None

    async def metrics(request: web.Request) -> web.Response:
        if token is not None and not _bearer_ok(request, token):
            return web.json_response(
                {"error": "Missing or wrong bearer token: send 'Authorization: Bearer <server.metrics_token>'."},
                status=401, headers={"WWW-Authenticate": 'Bearer realm="warroom metrics"'},
            )
        async with rt.store.read() as tx:
            rt.metrics.set_outbox(await tx.outbox.counts())
        body, content_type = rt.metrics.render()
        return web.Response(body=body, headers={"Content-Type": content_type})

    if server.metrics_port is None:
        app.router.add_get("/metrics", metrics)
        return

    only_metrics = web.Application()
    only_metrics.router.add_get("/metrics", metrics)
    listener = app[METRICS_LISTENER] = MetricsListener(web.AppRunner(only_metrics, access_log=None))

    async def start(_app: web.Application) -> None:
        await listener.runner.setup()
        await web.TCPSite(listener.runner, server.host, server.metrics_port).start()
        host, port = listener.runner.addresses[0][:2]
        listener.address = (str(host), int(port))

    async def stop(_app: web.Application) -> None:
        await listener.runner.cleanup()

    app.on_startup.append(start)
    # before the runtime's cleanup closes the store that a scrape reads
    app.on_shutdown.append(stop)
