"""Alert intake endpoints: ``POST /alerts/{alertmanager,grafana,generic}``, each protected by its own bearer token.

The body is parsed at the edge into ``AlertIn`` (warroom.web.alert_sources); a body that fails to parse is refused
whole with 400 and the reason, so nothing is half-stored. Accepted batches are applied in one transaction.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .alert_sources import SOURCES, IntakeError
from .body import BodyRefused, read_body

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("warroom.intake")


def _token_ok(request: web.Request, expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    return hmac.compare_digest(token.strip().encode(), expected.encode())


def mount(app: web.Application, rt: Runtime) -> None:
    settings = rt.settings
    tokens = {
        "alertmanager": settings.intake.alertmanager_token,
        "grafana": settings.intake.grafana_token,
        "generic": settings.intake.generic_token,
    }

    def refuse(source: str, status: int, reason: str, code: str) -> web.Response:
        rt.metrics.intake_rejected.labels(source, code).inc()
        headers = {"WWW-Authenticate": 'Bearer realm="warroom"'} if status == 401 else None
        return web.json_response({"error": reason}, status=status, headers=headers)

    def endpoint(source: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        parse = SOURCES[source]

        async def handle(request: web.Request) -> web.Response:
            secret = tokens[source]
            if secret is None:
                return refuse(
                    source, 404, f"The {source} intake is off: set WARROOM_INTAKE__{source.upper()}_TOKEN to turn it on.", "off"
                )
            if not _token_ok(request, secret.get_secret_value()):
                return refuse(source, 401, "Missing or wrong bearer token: send 'Authorization: Bearer <token>'.", "auth")
            try:
                body = await read_body(request, settings.intake.max_body_bytes)
            except BodyRefused as exc:
                rt.metrics.intake_rejected.labels(source, "size" if exc.status == 413 else "invalid").inc()
                return exc.response()
            try:
                alerts = parse(
                    body,
                    service_label=settings.intake.service_label,
                    severity_label=settings.intake.severity_label,
                    max_alerts=settings.intake.max_alerts_per_request,
                )
            except IntakeError as exc:
                return refuse(source, 400, exc.reason, "invalid")
            result = await rt.incidents.ingest_alerts(alerts)
            for outcome in result.outcomes:
                rt.metrics.alerts.labels(source, outcome.result).inc()
                if outcome.result == "declared":
                    rt.metrics.incidents.labels("alert").inc()
            return web.json_response(
                {
                    "accepted": len(alerts),
                    "incidents": result.incidents,
                    "alerts": [
                        {"fingerprint": o.fingerprint, "result": o.result, "incident": o.incident, **({"note": o.note} if o.note else {})}
                        for o in result.outcomes
                    ],
                },
                status=202,
            )

        return handle

    for source in SOURCES:
        app.router.add_post(f"/alerts/{source}", endpoint(source))
