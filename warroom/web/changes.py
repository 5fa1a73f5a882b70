"""``POST /events/changes``: change events from CI/CD, deploy, feature-flag, DNS and infrastructure tools, kept for
root-cause analysis.

The body is one event or a JSON list of them (at most ``MAX_EVENTS``)::

    {"id": "deploy-77", "service": "checkout-api", "title": "checkout-api 7.3.0", "at": "2026-03-14T09:52:00Z",
     "url": "https://ci.example.com/runs/77", "details": "pool size 50 → 20", "kind": "deploy"}

``id``, ``title`` and ``at`` (ISO 8601 with a time zone) are required; ``service`` names the service deployed (a
configured service, one it depends on, or any other; none: it may concern all); ``url`` is an http(s) link;
``kind`` says what changed — ``deploy`` (the default), ``config``, ``feature_flag``, ``dns``, ``infrastructure``,
``database``, ``rfc`` or ``other`` — so that root-cause analysis weighs it by how soon such a change bites and
shows it as what it was ("feature flag flag-9", not "deploy flag-9").
Protected by its own bearer token (``intake.changes_token``), like the alert intake. A repeated event (same id)
updates the one stored: the answer says ``new`` or ``updated`` for each. In the transaction that stores them, the
open incidents on each change's service and on the services next to it (``depends_on``, both ways; every open
incident for a change that names no service) have their probable causes ranked again (``ai.auto_rca``): the war
room hears of it only when the leading causes moved. A body that fails to parse is refused
whole with 400 and a sentence saying what to fix, so nothing is half-stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from warroom.ai.context import CHANGE_KINDS
from warroom.core import safejson
from warroom.response import related

from .body import BodyRefused, read_body
from .intake import _token_ok

if TYPE_CHECKING:
    from .app import Runtime

MAX_EVENTS = 100
SOURCE = "deploy"
_URL = re.compile(r"^https?://[^\s<>\"]+$", re.IGNORECASE)
FORM = (
    'send one change event as a JSON object — {"id", "service", "title", "at", "url", "details", "kind"} — '
    "or a JSON list of them"
)


class ChangeError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ChangeIn:
    id: str
    title: str
    at: datetime
    service: str | None = None
    url: str | None = None
    details: str = ""
    kind: str = "deploy"


def _text(event: dict[str, Any], key: str, what: str, *, limit: int, required: bool = False) -> str | None:
    value = event.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ChangeError(f"{what} has no '{key}'.")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ChangeError(f"{what}'s '{key}' must be a string.")
    text = str(value).replace("\x00", "").strip()
    if len(text) > limit:
        raise ChangeError(
            f"{what}'s '{key}' is {len(text)} characters long; at most {limit} are kept, so shorten it."
        )
    return text


def parse_event(event: Any, n: int, count: int) -> ChangeIn:
    what = "The event" if count == 1 else f"Event {n}"
    if not isinstance(event, dict):
        raise ChangeError(f"{what} is not a JSON object: {FORM}.")
    ident = _text(event, "id", what, limit=255, required=True)
    title = _text(event, "title", what, limit=500, required=True)
    assert ident is not None and title is not None
    raw_at = event.get("at")
    if not isinstance(raw_at, str) or not raw_at.strip():
        raise ChangeError(
            f"{what} has no 'at': give the time of the deployment in ISO 8601 with a time zone, "
            "e.g. 2026-03-14T09:52:00Z."
        )
    try:
        at = datetime.fromisoformat(raw_at.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        shown = raw_at.strip()[:40]
        raise ChangeError(
            f"{what}'s 'at' ('{shown}') is not an ISO 8601 time with a time zone; "
            "write it like 2026-03-14T09:52:00Z."
        )
    service = _text(event, "service", what, limit=63)
    url = _text(event, "url", what, limit=2000)
    if url is not None and not _URL.match(url):
        raise ChangeError(
            f"{what}'s 'url' is not an http(s) link: give the deployment's page, or leave it out."
        )
    details = _text(event, "details", what, limit=65_536) or ""
    kind = _kind(event, what)
    return ChangeIn(ident, title, at, service.lower() if service else None, url, details, kind)


def _kind(event: dict[str, Any], what: str) -> str:
    """The event's ``kind`` (``deploy`` when absent): one of CHANGE_KINDS, case and dashes forgiven."""
    value = event.get("kind")
    if value is None or (isinstance(value, str) and not value.strip()):
        return "deploy"
    allowed = ", ".join(CHANGE_KINDS)
    if not isinstance(value, str):
        raise ChangeError(f"{what}'s 'kind' must be a string, one of: {allowed}.")
    kind = value.strip().lower().replace("-", "_").replace(" ", "_")
    if kind not in CHANGE_KINDS:
        shown = value.strip()[:40]
        raise ChangeError(
            f"{what}'s 'kind' ('{shown}') is not a kind of change warroom knows; use one of: {allowed} "
            "(or leave it out for deploy)."
        )
    return kind


def parse_changes(body: bytes) -> list[ChangeIn]:
    """The events of a request body, or ChangeError with the sentence that says what to fix."""
    try:
        data = safejson.loads(body, FORM.removeprefix("send "))
    except safejson.JsonRefused as exc:
        raise ChangeError(exc.reason) from None
    events = data if isinstance(data, list) else [data]
    if not events:
        raise ChangeError(f"The list is empty: {FORM}.")
    if len(events) > MAX_EVENTS:
        raise ChangeError(f"The body holds {len(events)} events; send at most {MAX_EVENTS} per request.")
    return [parse_event(e, n, len(events)) for n, e in enumerate(events, 1)]


def mount(app: web.Application, rt: Runtime) -> None:
    settings = rt.settings

    def refuse(status: int, reason: str, code: str) -> web.Response:
        rt.metrics.intake_rejected.labels("changes", code).inc()
        headers = {"WWW-Authenticate": 'Bearer realm="warroom"'} if status == 401 else None
        return web.json_response({"error": reason}, status=status, headers=headers)

    async def changes(request: web.Request) -> web.Response:
        secret = settings.intake.changes_token
        if secret is None:
            return refuse(
                404, "The change intake is off: set WARROOM_INTAKE__CHANGES_TOKEN to turn it on.", "off"
            )
        if not _token_ok(request, secret.get_secret_value()):
            return refuse(401, "Missing or wrong bearer token: send 'Authorization: Bearer <token>'.", "auth")
        try:
            body = await read_body(request, settings.intake.max_body_bytes)
        except BodyRefused as exc:
            rt.metrics.intake_rejected.labels("changes", "size" if exc.status == 413 else "invalid").inc()
            return exc.response()
        try:
            events = parse_changes(body)
        except ChangeError as exc:
            return refuse(400, exc.reason, "invalid")
        results = []
        async with rt.store.tx() as tx:
            for e in events:
                new = await tx.records.add_change(
                    source=SOURCE,
                    external_id=e.id,
                    title=e.title,
                    at=e.at,
                    service=e.service,
                    details=e.details,
                    url=e.url,
                    kind=e.kind,
                )
                results.append({"id": e.id, "result": "new" if new else "updated"})
            # the open incidents on each change's service and on its neighbours (all, for a change that names
            # none) rank their probable causes again: posted only when the leading ones moved
            await related.rank_near(tx, settings, [e.service for e in events])
        return web.json_response({"accepted": len(events), "changes": results}, status=202)

    app.router.add_post("/events/changes", changes)
