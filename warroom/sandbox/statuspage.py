"""A local Atlassian Statuspage: the REST API ``/v1`` on a loopback server.

What it is based on (Statuspage's API reference at developer.statuspage.io and the reference notes in
../shared/reference/chat-and-bridges.md):

- Authentication: ``Authorization: OAuth <api key>`` (or ``?api_key=``); a missing or unknown key is 401
  ``{"error": "Could not authenticate"}``; a page outside the key's organisation is 404, like a page that does not
  exist. Error bodies are ``{"error": "…"}`` (a list of messages for validation failures, 422).
- Records have 12-character lower-case ids; times are RFC 3339 UTC with milliseconds (``2026-12-06T15:04:05.123Z``).
- Components: ``GET /pages/{page_id}/components``, ``GET|PATCH|PUT /pages/{page_id}/components/{component_id}``
  (``{"component": {"status"|"name"|"description"|…}}``). A component is ``{id, page_id, group_id, name,
  description, position, status, showcase, only_show_if_degraded, group, automation_email, start_date, created_at,
  updated_at}``; status one of operational, under_maintenance, degraded_performance, partial_outage, major_outage.
- Incidents: ``POST /pages/{page_id}/incidents`` (201) ``{"incident": {name, status, body, component_ids,
  components: {id: status}, impact_override, deliver_notifications, metadata}}``; ``GET /pages/{page_id}/incidents``
  (``q``, ``limit`` default 100, ``page``), ``GET …/incidents/unresolved``, ``GET|PATCH|PUT …/incidents/{incident_id}`` — a PATCH with a status or a body adds
  an incident update. An incident is ``{id, page_id, name, status, impact, impact_override, shortlink, created_at,
  updated_at, monitoring_at, resolved_at, started_at, metadata, components: [component…], incident_updates: [update…]
  (newest first), postmortem_*, scheduled_*}``; an update is ``{id, incident_id, status, body, created_at,
  updated_at, display_at, deliver_notifications, affected_components: [{code, name, old_status, new_status}]}``.
  ``impact`` follows the worst component status (major_outage → critical, partial_outage → major,
  degraded_performance → minor, else none) unless ``impact_override`` says otherwise. ``metadata``'s top-level
  values must be objects (422 otherwise). Names are at most 255 characters.
- Rate limit: 1 request/s per API key measured on a rolling 60 s window (:attr:`StatuspageEmulator.limit` requests
  per :attr:`StatuspageEmulator.window` seconds, lowered by tests); beyond it 429 ``{"error": "Rate limit
  exceeded"}`` (or 420 with :attr:`throttle_status`) with a ``Retry-After`` in seconds. Off with
  ``config.rate_limits=False``.

Operation names for latency and faults: ``GET /pages``, ``GET /pages/{page_id}/components``,
``GET /pages/{page_id}/components/{component_id}``, ``PATCH /pages/{page_id}/components/{component_id}``,
``GET /pages/{page_id}/incidents``, ``GET /pages/{page_id}/incidents/unresolved``,
``POST /pages/{page_id}/incidents``, ``GET /pages/{page_id}/incidents/{incident_id}``,
``PATCH /pages/{page_id}/incidents/{incident_id}``.

Read-back: :meth:`add_page`, :meth:`add_component`, :meth:`component_status`, :meth:`incidents_on`,
:meth:`updates_of`, :attr:`throttled` (how many requests were answered 420/429) and ``GET /_sandbox/state``.
"""

from __future__ import annotations

import math
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig, Handler, SlidingWindow

COMPONENT_STATUSES = ("operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage")
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
SCHEDULED_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
IMPACTS = ("none", "minor", "major", "critical")
IMPACT_OF = {"major_outage": "critical", "partial_outage": "major", "degraded_performance": "minor"}
NAME_MAX = 255
RESOLVED = ("resolved", "postmortem", "completed")
NOT_FOUND = "The requested resource could not be found."
UNAUTHENTICATED = "Could not authenticate"
P = "/v1/pages/{page_id}"


def new_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(12))


def stamp(epoch: float | None = None) -> str:
    now = time.time() if epoch is None else epoch
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"


class StatuspageEmulator(Emulator):
    name = "statuspage"

    def __init__(self, config: EmulatorConfig | None = None, *, api_key: str = "statuspage-sandbox-key") -> None:
        super().__init__(config)
        #: API keys the organisation has; every key reaches every page.
        self.api_keys: set[str] = {api_key}
        #: Requests allowed per key per window (Statuspage: 1 request/s on a rolling minute).
        self.limit = 60
        self.window = 60.0
        #: 429 (what Statuspage answers now) or 420 (what its documentation also names).
        self.throttle_status = 429
        self.monotonic: Callable[[], float] = time.monotonic
        self.pages: dict[str, dict[str, Any]] = {}
        #: Page id → component id → component.
        self.components: dict[str, dict[str, dict[str, Any]]] = {}
        #: Page id → incident id → incident (updates inside, newest first).
        self.incidents: dict[str, dict[str, dict[str, Any]]] = {}
        #: Requests answered with 420/429.
        self.throttled = 0
        self._window = SlidingWindow(self.limit, self.window)

        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v1/pages", "GET /pages", self._pages),
            ("GET", f"{P}/components", "GET /pages/{page_id}/components", self._components),
            ("GET", f"{P}/components/{{component_id}}", "GET /pages/{page_id}/components/{component_id}",
             self._component),
            ("PATCH", f"{P}/components/{{component_id}}", "PATCH /pages/{page_id}/components/{component_id}",
             self._patch_component),
            ("PUT", f"{P}/components/{{component_id}}", "PATCH /pages/{page_id}/components/{component_id}",
             self._patch_component),
            ("GET", f"{P}/incidents", "GET /pages/{page_id}/incidents", self._incidents),
            ("GET", f"{P}/incidents/unresolved", "GET /pages/{page_id}/incidents/unresolved", self._unresolved),
            ("POST", f"{P}/incidents", "POST /pages/{page_id}/incidents", self._create_incident),
            ("GET", f"{P}/incidents/{{incident_id}}", "GET /pages/{page_id}/incidents/{incident_id}", self._incident),
            ("PATCH", f"{P}/incidents/{{incident_id}}", "PATCH /pages/{page_id}/incidents/{incident_id}",
             self._patch_incident),
            ("PUT", f"{P}/incidents/{{incident_id}}", "PATCH /pages/{page_id}/incidents/{incident_id}",
             self._patch_incident),
        ]
        for method, path, op, handler in routes:
            self.route(method, path, op, self._api(handler))
        self.app.router.add_get("/_sandbox/state", self._state)

    # -- helpers for tests and the demo -------------------------------------------------------------
    def add_page(self, name: str = "Sandbox Status", *, page_id: str | None = None) -> str:
        pid = page_id or new_id()
        now = stamp()
        self.pages[pid] = {
            "id": pid, "name": name, "subdomain": name.lower().replace(" ", "-"), "domain": None,
            "url": f"https://{pid}.statuspage.io", "time_zone": "Etc/UTC", "created_at": now, "updated_at": now,
        }
        self.components.setdefault(pid, {})
        self.incidents.setdefault(pid, {})
        return pid

    def add_component(
        self, page_id: str, name: str, *, status: str = "operational", group_id: str | None = None,
        component_id: str | None = None,
    ) -> str:
        assert status in COMPONENT_STATUSES, status
        cid = component_id or new_id()
        now = stamp()
        self.components[page_id][cid] = {
            "id": cid, "page_id": page_id, "group_id": group_id, "name": name, "description": None,
            "position": len(self.components[page_id]) + 1, "status": status, "showcase": True,
            "only_show_if_degraded": False, "group": False, "automation_email": f"component+{cid}@notifications.statuspage.io",
            "start_date": now[:10], "created_at": now, "updated_at": now,
        }
        return cid

    def component_status(self, page_id: str, component_id: str) -> str:
        return str(self.components[page_id][component_id]["status"])

    def incidents_on(self, page_id: str) -> list[dict[str, Any]]:
        """The page's incidents, oldest first."""
        return sorted(self.incidents[page_id].values(), key=lambda i: str(i["created_at"]))

    def updates_of(self, page_id: str, incident_id: str) -> list[dict[str, Any]]:
        """An incident's updates, oldest first (the API lists them newest first)."""
        return list(reversed(self.incidents[page_id][incident_id]["incident_updates"]))

    # -- serving ------------------------------------------------------------------------------------
    @staticmethod
    def _error(status: int, message: str | list[str], headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response({"error": message}, status=status, headers=headers)

    def rate_limited(self, retry_after: float) -> web.Response:
        self.throttled += 1
        return self._error(self.throttle_status, "Rate limit exceeded",
                           headers={"Retry-After": str(max(1, math.ceil(retry_after)))})

    def _api(self, handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            key = header[6:].strip() if header.lower().startswith("oauth ") else request.query.get("api_key", "")
            if not key or not any(secrets.compare_digest(key, k) for k in self.api_keys):
                return self._error(401, UNAUTHENTICATED)
            if self.config.rate_limits:
                self._window.limit, self._window.window = self.limit, self.window
                wait = self._window.hit(key, now=self.monotonic())
                if wait:
                    return self.rate_limited(wait)
            page_id = request.match_info.get("page_id")
            if page_id is not None and page_id not in self.pages:
                return self._error(404, NOT_FOUND)
            return await handler(request)

        return checked

    async def _body(self, request: web.Request, wrapper: str) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return self._error(400, "Request body is not valid JSON")
        if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
            return self._error(400, f"param is missing or the value is empty: {wrapper}")
        inner: dict[str, Any] = body[wrapper]
        return inner

    # -- components ---------------------------------------------------------------------------------
    async def _pages(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.pages.values()))

    async def _components(self, request: web.Request) -> web.Response:
        page = self.components[request.match_info["page_id"]]
        return web.json_response(sorted(page.values(), key=lambda c: int(c["position"])))

    def _find_component(self, request: web.Request) -> dict[str, Any] | None:
        return self.components[request.match_info["page_id"]].get(request.match_info["component_id"])

    async def _component(self, request: web.Request) -> web.Response:
        component = self._find_component(request)
        return web.json_response(component) if component is not None else self._error(404, NOT_FOUND)

    async def _patch_component(self, request: web.Request) -> web.Response:
        component = self._find_component(request)
        if component is None:
            return self._error(404, NOT_FOUND)
        fields = await self._body(request, "component")
        if isinstance(fields, web.Response):
            return fields
        if "status" in fields and fields["status"] not in COMPONENT_STATUSES:
            return self._error(422, [f"Status must be one of {', '.join(COMPONENT_STATUSES)}"])
        if "name" in fields and not str(fields["name"] or "").strip():
            return self._error(422, ["Name can't be blank"])
        for key in ("status", "name", "description", "group_id", "showcase", "only_show_if_degraded"):
            if key in fields:
                component[key] = fields[key]
        component["updated_at"] = stamp()
        return web.json_response(component)

    # -- incidents ----------------------------------------------------------------------------------
    async def _incidents(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        try:
            limit = max(1, int(request.query.get("limit", 100)))
            number = max(1, int(request.query.get("page", 1)))
        except ValueError:
            return self._error(400, "limit and page must be numbers")
        query = request.query.get("q", "").lower()
        listed = [i for i in reversed(self.incidents_on(page_id)) if query in str(i["name"]).lower()]
        return web.json_response([_public(i) for i in listed[(number - 1) * limit : number * limit]])

    async def _unresolved(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        open_ = [i for i in reversed(self.incidents_on(page_id))
                 if i["status"] not in RESOLVED and i["status"] not in SCHEDULED_STATUSES]
        return web.json_response([_public(i) for i in open_])

    def _find_incident(self, request: web.Request) -> dict[str, Any] | None:
        return self.incidents[request.match_info["page_id"]].get(request.match_info["incident_id"])

    async def _incident(self, request: web.Request) -> web.Response:
        incident = self._find_incident(request)
        return web.json_response(_public(incident)) if incident is not None else self._error(404, NOT_FOUND)

    def _component_changes(self, page_id: str, fields: dict[str, Any]) -> dict[str, str] | web.Response:
        """``components`` ({id: status}) and ``component_ids`` checked: the statuses to set (ids only: unchanged)."""
        raw = fields.get("components") or {}
        ids = fields.get("component_ids") or []
        if not isinstance(raw, dict) or not isinstance(ids, list):
            return self._error(422, ["Components is invalid"])
        page = self.components[page_id]
        changes: dict[str, str] = {}
        for cid in [*ids, *raw]:
            if str(cid) not in page:
                return self._error(404, NOT_FOUND)
        for cid, status in raw.items():
            if status not in COMPONENT_STATUSES:
                return self._error(422, [f"Component status must be one of {', '.join(COMPONENT_STATUSES)}"])
            changes[str(cid)] = str(status)
        for cid in ids:
            changes.setdefault(str(cid), str(page[str(cid)]["status"]))
        return changes

    def _apply(self, incident: dict[str, Any], changes: dict[str, str], now: str) -> list[dict[str, Any]]:
        page = self.components[incident["page_id"]]
        affected = []
        for cid, status in changes.items():
            component = page[cid]
            affected.append({"code": cid, "name": component["name"], "old_status": component["status"],
                             "new_status": status})
            component["status"] = status
            component["updated_at"] = now
            if cid not in incident["_component_ids"]:
                incident["_component_ids"].append(cid)
        self._refresh(incident)
        return affected

    def _refresh(self, incident: dict[str, Any]) -> None:
        page = self.components[incident["page_id"]]
        incident["components"] = [dict(page[cid]) for cid in incident["_component_ids"] if cid in page]
        worst = "none"
        for component in incident["components"]:
            impact = IMPACT_OF.get(str(component["status"]), "none")
            if IMPACTS.index(impact) > IMPACTS.index(worst):
                worst = impact
        incident["impact"] = incident["impact_override"] or worst

    def _add_update(self, incident: dict[str, Any], status: str, body: str, notify: bool,
                    affected: list[dict[str, Any]], now: str) -> None:
        update = {
            "id": new_id(), "incident_id": incident["id"], "status": status, "body": body, "created_at": now,
            "updated_at": now, "display_at": now, "deliver_notifications": notify, "affected_components": affected,
            "custom_tweet": None, "tweet_id": None, "twitter_updated_at": None, "wants_twitter_update": False,
        }
        incident["incident_updates"].insert(0, update)

    def _validate(self, fields: dict[str, Any], *, creating: bool) -> web.Response | None:
        name = fields.get("name")
        if creating or "name" in fields:
            if not isinstance(name, str) or not name.strip():
                return self._error(422, ["Name can't be blank"])
            if len(name) > NAME_MAX:
                return self._error(422, [f"Name is too long (maximum is {NAME_MAX} characters)"])
        status = fields.get("status")
        if status is not None and status not in INCIDENT_STATUSES:
            return self._error(422, [f"Status must be one of {', '.join(INCIDENT_STATUSES)}"])
        impact = fields.get("impact_override")
        if impact is not None and impact not in IMPACTS:
            return self._error(422, [f"Impact override must be one of {', '.join(IMPACTS)}"])
        metadata = fields.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict) or not all(isinstance(v, dict) for v in metadata.values())
        ):
            return self._error(422, ["Metadata top level values must be objects"])
        return None

    async def _create_incident(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        fields = await self._body(request, "incident")
        if isinstance(fields, web.Response):
            return fields
        invalid = self._validate(fields, creating=True)
        if invalid is not None:
            return invalid
        changes = self._component_changes(page_id, fields)
        if isinstance(changes, web.Response):
            return changes
        now = stamp()
        iid = new_id()
        status = str(fields.get("status") or "investigating")
        incident: dict[str, Any] = {
            "id": iid, "page_id": page_id, "name": fields["name"], "status": status, "impact": "none",
            "impact_override": fields.get("impact_override"), "shortlink": f"https://stspg.io/{secrets.token_hex(5)}",
            "created_at": now, "updated_at": now, "started_at": now,
            "monitoring_at": now if status == "monitoring" else None,
            "resolved_at": now if status == "resolved" else None,
            "metadata": fields.get("metadata") or {}, "components": [], "incident_updates": [],
            "postmortem_body": None, "postmortem_body_last_updated_at": None, "postmortem_ignored": False,
            "postmortem_notified_subscribers": False, "postmortem_notified_twitter": False,
            "postmortem_published_at": None, "scheduled_for": None, "scheduled_until": None,
            "scheduled_remind_prior": False, "scheduled_reminded_at": None, "scheduled_auto_in_progress": False,
            "scheduled_auto_completed": False, "reminder_intervals": None, "_component_ids": [],
        }
        affected = self._apply(incident, changes, now)
        self._add_update(incident, status, str(fields.get("body") or ""), bool(fields.get("deliver_notifications", True)),
                         affected, now)
        self.incidents[page_id][iid] = incident
        return web.json_response(_public(incident), status=201)

    async def _patch_incident(self, request: web.Request) -> web.Response:
        page_id = request.match_info["page_id"]
        incident = self._find_incident(request)
        if incident is None:
            return self._error(404, NOT_FOUND)
        fields = await self._body(request, "incident")
        if isinstance(fields, web.Response):
            return fields
        invalid = self._validate(fields, creating=False)
        if invalid is not None:
            return invalid
        changes = self._component_changes(page_id, fields)
        if isinstance(changes, web.Response):
            return changes
        now = stamp()
        if "name" in fields:
            incident["name"] = fields["name"]
        if "impact_override" in fields:
            incident["impact_override"] = fields["impact_override"]
        if isinstance(fields.get("metadata"), dict):
            incident["metadata"] = fields["metadata"]
        status = str(fields.get("status") or incident["status"])
        affected = self._apply(incident, changes, now)
        if "status" in fields or "body" in fields:
            self._add_update(incident, status, str(fields.get("body") or ""),
                             bool(fields.get("deliver_notifications", True)), affected, now)
        if status == "monitoring" and incident["monitoring_at"] is None:
            incident["monitoring_at"] = now
        if status == "resolved" and incident["resolved_at"] is None:
            incident["resolved_at"] = now
        incident["status"] = status
        incident["updated_at"] = now
        return web.json_response(_public(incident))

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({
            "pages": self.pages,
            "components": self.components,
            "incidents": {p: [_public(i) for i in self.incidents_on(p)] for p in self.incidents},
            "throttled": self.throttled,
        })


def _public(incident: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in incident.items() if not k.startswith("_")}
