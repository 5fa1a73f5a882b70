"""Atlassian Statuspage: components, incidents and their updates on pages a team already runs there.

Based on Statuspage's REST API reference (developer.statuspage.io) and the reference notes in
../shared/reference/chat-and-bridges.md; :mod:`warroom.sandbox.statuspage` emulates the same behaviour.

- **API and key**: ``https://api.statuspage.io/v1`` (``statuspage.api_url``), ``Authorization: OAuth <api key>``
  (``statuspage.api_key``: a Statuspage user's key, which reaches every page of that user's organisation). Bodies
  are JSON wrapped in the record's name: ``{"component": {...}}``, ``{"incident": {...}}``.
- **Components**: ``GET /pages/{page}/components``, ``GET …/components/{id}``, ``PATCH …/components/{id}`` with
  ``{"component": {"status": …}}``; statuses :data:`COMPONENT_STATUSES`. Setting a status is idempotent, so it is
  retried like a GET.
- **Incidents**: ``POST /pages/{page}/incidents`` with name, status (:data:`INCIDENT_STATUSES`), body,
  ``component_ids`` and ``components`` ({id: status}: the components' new statuses, set by the same call),
  ``deliver_notifications`` and ``metadata``; ``PATCH /pages/{page}/incidents/{id}`` with a new status and body
  adds an incident update (and may set component statuses again); ``GET /pages/{page}/incidents/unresolved``.
- **Creating once (Statuspage has no idempotency key)**: every incident warroom creates carries
  ``metadata: {"warroom": {"key": <key>}}`` (Statuspage's metadata is an object of objects, kept on the incident
  and returned with it), ``key`` being the caller's stable id for it (e.g. the warroom incident's id and the page).
  The create POST is never retried blindly: after a 5xx, a timeout or a lost connection the page's *unresolved*
  incidents are listed and one whose metadata carries the key is adopted; only when there is none is the POST sent
  again (an incident created already resolved — a backfill — is looked for among the page's latest 100 incidents
  instead). (Matching by name was rejected: two incidents may well share a name, and people rename incidents.) An
  update (PATCH) is treated the same way: after a transient failure the incident is read back and, when its newest
  update already has this body and status, that is taken as done.
- **Rate limit**: about 1 request/s per API key, measured on a rolling minute; beyond it Statuspage answers 420 or
  429. Requests are paced client-side per key (:class:`Pacer`: each request starts at least ``interval`` seconds
  after the one before, retries included), so a well-behaved process never meets the limit; one that does (another
  process on the same key) waits the ``Retry-After`` (1 s when Statuspage sends none) and tries again, inline when
  short, else :class:`~warroom.adapters.errors.RateLimited`. Share one :class:`Pacer` between clients of one key.
- **Errors**: 401/403 → :class:`~warroom.adapters.errors.Permanent` naming ``statuspage.api_key``; 404 →
  :class:`~warroom.adapters.errors.NotFound` naming the page and component or incident id asked for; 400/422 →
  ``Permanent`` with Statuspage's own message; 5xx and timeouts → ``Transient`` (retried for reads and component
  statuses, looked up first for creates and updates).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, get_args
from urllib.parse import quote

import httpx

from warroom.settings import StatuspageSettings

from .errors import NotFound, Permanent
from .http import JsonApi, create_or_adopt, error_reason, hook, unhook
from .observe import CallObserver, ignore

SYSTEM = "Statuspage"
DEFAULT_API_URL = "https://api.statuspage.io/v1"
ComponentStatus = Literal["operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"]
IncidentStatus = Literal["investigating", "identified", "monitoring", "resolved"]
COMPONENT_STATUSES: tuple[str, ...] = get_args(ComponentStatus)
INCIDENT_STATUSES: tuple[str, ...] = get_args(IncidentStatus)
#: Statuspage's incident name limit.
NAME_MAX = 255
#: The metadata object warroom marks its incidents with: ``{"warroom": {"key": …}}``.
MARKER = "warroom"
#: Statuses Statuspage answers a request over its rate limit with.
THROTTLED = (420, 429)

T = TypeVar("T")


class Pacer:
    """One request at a time per API key, each starting at least ``interval`` seconds after the one before."""

    def __init__(self, interval: float = 1.0, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()
        #: Seconds spent waiting so far (for tests and benchmarks).
        self.waited = 0.0

    async def wait(self) -> None:
        async with self._lock:
            delay = self._next - self._clock()
            if delay > 0:
                self.waited += delay
                await asyncio.sleep(delay)
            self._next = self._clock() + self.interval


@dataclass(frozen=True)
class Component:
    id: str
    page_id: str
    name: str
    status: str
    group_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class IncidentUpdate:
    id: str
    status: str
    body: str
    created_at: str


@dataclass(frozen=True)
class Incident:
    id: str
    page_id: str
    name: str
    status: str
    impact: str
    shortlink: str
    #: The warroom key in the incident's metadata ("" for incidents warroom did not create).
    key: str
    #: Newest first, as Statuspage lists them.
    updates: tuple[IncidentUpdate, ...]
    #: Component id → status, as the incident's components are now.
    components: Mapping[str, str]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


class StatuspageClient:
    """Statuspage's REST API for warroom. Build with :meth:`from_settings`; close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        api_key: str,
        api_url: str = DEFAULT_API_URL,
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 10.0,
        pacer: Pacer | None = None,
        client: httpx.AsyncClient | None = None,
        observe: CallObserver = ignore,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.max_retries = max_retries
        self.max_inline_wait = max_inline_wait
        self._key = api_key
        self.pacer = pacer or Pacer()
        http = client or httpx.AsyncClient(timeout=timeout)
        hook(http, "response", self._translate)
        self._http = http
        self._own_http = client is None
        common: dict[str, Any] = {
            "client": http, "timeout": timeout, "max_inline_wait": max_inline_wait, "observe": observe,
            "auth": self._auth_headers, "throttle_statuses": THROTTLED, "label": "statuspage",
        }
        # JsonApi never repeats a POST or PATCH that may have arrived (a 5xx, a timeout): creates and updates are
        # looked up first (see the module notes); refused connections and rate limits are retried by it
        self.api = JsonApi(SYSTEM, self.api_url, max_retries=max_retries, **common)

    @classmethod
    def from_settings(
        cls, settings: StatuspageSettings, *, pacer: Pacer | None = None, observe: CallObserver = ignore,
        max_retries: int = 4, max_inline_wait: float = 10.0,
    ) -> StatuspageClient:
        """A client for ``settings``; without ``pacer``, one of its own spacing requests ``statuspage.pace_seconds``
        apart. A caller with retries of its own (the outbox) passes fewer ``max_retries`` and a shorter
        ``max_inline_wait``: a longer wait then goes back to it as ``RateLimited``."""
        key = settings.api_key.get_secret_value() if settings.api_key is not None else ""
        return cls(api_key=key, api_url=settings.api_url, timeout=settings.timeout,
                   pacer=pacer or Pacer(settings.pace_seconds), observe=observe, max_retries=max_retries,
                   max_inline_wait=max_inline_wait)

    @property
    def calls(self) -> int:
        """API calls made (each retry counts)."""
        return self.api.calls

    async def aclose(self) -> None:
        unhook(self._http, "response", self._translate)
        if self._own_http:
            await self._http.aclose()

    # -- pages and components -----------------------------------------------------------------------
    async def pages(self) -> list[dict[str, Any]]:
        """``GET /pages``: the pages the key reaches (also the online check of ``statuspage.api_key``)."""
        return _objects(await self.api.json("GET", "pages"), "GET /pages")

    async def components(self, page_id: str) -> list[Component]:
        path = f"pages/{_q(page_id)}/components"
        return [_component(c) for c in _objects(await self.api.json("GET", path, params={"per_page": 100}), path)]

    async def component(self, page_id: str, component_id: str) -> Component:
        path = f"pages/{_q(page_id)}/components/{_q(component_id)}"
        return _component(await self._object(self.api, "GET", path))

    async def set_component_status(self, page_id: str, component_id: str, status: ComponentStatus) -> Component:
        """``PATCH`` the component's status (idempotent: retried like a read)."""
        _check(status, COMPONENT_STATUSES, "component status")
        path = f"pages/{_q(page_id)}/components/{_q(component_id)}"
        body = {"component": {"status": status}}
        return _component(await self._object(self.api, "PATCH", path, json=body, idempotent=True))

    # -- incidents ----------------------------------------------------------------------------------
    async def create_incident(
        self,
        page_id: str,
        name: str,
        *,
        key: str,
        status: IncidentStatus = "investigating",
        body: str = "",
        components: Mapping[str, ComponentStatus] | None = None,
        deliver_notifications: bool = True,
        impact_override: str | None = None,
    ) -> Incident:
        """Create an incident (once: ``key`` marks it, see the module notes), setting ``components`` to their
        statuses."""
        if not key:
            raise ValueError("create_incident needs a key: a stable id of the incident on this page")
        _check(status, INCIDENT_STATUSES, "incident status")
        statuses = dict(components or {})
        for value in statuses.values():
            _check(value, COMPONENT_STATUSES, "component status")
        incident: dict[str, Any] = {
            "name": name[:NAME_MAX],
            "status": status,
            "body": body,
            "component_ids": list(statuses),
            "components": statuses,
            "deliver_notifications": deliver_notifications,
            "metadata": {MARKER: {"key": key}},
        }
        if impact_override:
            incident["impact_override"] = impact_override
        path = f"pages/{_q(page_id)}/incidents"

        async def create() -> Incident:
            return _incident(await self._object(self.api, "POST", path, json={"incident": incident}))

        return await self._once(create, lambda: self.find_incident(page_id, key, resolved_too=status == "resolved"))

    async def find_incident(self, page_id: str, key: str, *, resolved_too: bool = False) -> Incident | None:
        """The unresolved incident warroom created on the page under ``key``, if any (the oldest, were there two);
        ``resolved_too``: among the page's latest 100 incidents, resolved ones included."""
        listed = await (self.recent_incidents(page_id) if resolved_too else self.unresolved_incidents(page_id))
        found = [i for i in listed if i.key == key]
        return min(found, key=lambda i: (str(i.raw.get("created_at") or ""), i.id)) if found else None

    async def unresolved_incidents(self, page_id: str) -> list[Incident]:
        path = f"pages/{_q(page_id)}/incidents/unresolved"
        return [_incident(i) for i in _objects(await self.api.json("GET", path, params={"per_page": 100}), path)]

    async def recent_incidents(self, page_id: str, limit: int = 100) -> list[Incident]:
        """``GET /pages/{page}/incidents``: the page's latest incidents, resolved ones included, newest first."""
        path = f"pages/{_q(page_id)}/incidents"
        return [_incident(i) for i in _objects(await self.api.json("GET", path, params={"limit": limit}), path)]

    async def incident(self, page_id: str, incident_id: str) -> Incident:
        path = f"pages/{_q(page_id)}/incidents/{_q(incident_id)}"
        return _incident(await self._object(self.api, "GET", path))

    async def update_incident(
        self,
        page_id: str,
        incident_id: str,
        *,
        status: IncidentStatus,
        body: str,
        components: Mapping[str, ComponentStatus] | None = None,
        deliver_notifications: bool = True,
    ) -> Incident:
        """Add an incident update (status and body), optionally setting components' statuses with it; once, even
        when the answer is lost (see the module notes)."""
        _check(status, INCIDENT_STATUSES, "incident status")
        incident: dict[str, Any] = {"status": status, "body": body, "deliver_notifications": deliver_notifications}
        if components:
            for value in components.values():
                _check(value, COMPONENT_STATUSES, "component status")
            incident["components"] = dict(components)
            incident["component_ids"] = list(components)
        path = f"pages/{_q(page_id)}/incidents/{_q(incident_id)}"

        async def update() -> Incident:
            return _incident(await self._object(self.api, "PATCH", path, json={"incident": incident}))

        async def done() -> Incident | None:
            current = await self.incident(page_id, incident_id)
            newest = current.updates[0] if current.updates else None
            if newest is not None and newest.status == status and newest.body == body:
                return current
            return None

        return await self._once(update, done)

    async def resolve_incident(
        self,
        page_id: str,
        incident_id: str,
        body: str = "This incident has been resolved.",
        *,
        component_ids: Iterable[str] = (),
        deliver_notifications: bool = True,
    ) -> Incident:
        """Resolve the incident, bringing ``component_ids`` back to operational with the same update."""
        operational: dict[str, ComponentStatus] = {cid: "operational" for cid in component_ids}
        return await self.update_incident(
            page_id, incident_id, status="resolved", body=body, components=operational or None,
            deliver_notifications=deliver_notifications,
        )

    # -- plumbing -----------------------------------------------------------------------------------
    async def _once(self, send: Callable[[], Awaitable[T]], find: Callable[[], Awaitable[T | None]]) -> T:
        return await create_or_adopt(send, find, max_retries=self.max_retries, max_inline_wait=self.max_inline_wait)

    async def _object(self, api: JsonApi, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        body = await api.json(method, path, **kwargs)
        if not isinstance(body, dict):
            raise Permanent(SYSTEM, f"{method} /{path} did not answer with an object")
        return body

    async def _auth_headers(self) -> Mapping[str, str]:
        await self.pacer.wait()  # every attempt, retries included, goes through here
        return {"Authorization": f"OAuth {self._key}", "Accept": "application/json"}

    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: Statuspage's answers into warroom's errors, before JsonApi sees them."""
        if not str(response.request.url).startswith(self.api_url):
            return
        status = response.status_code
        if status in THROTTLED:
            if not response.headers.get("Retry-After"):
                response.headers["Retry-After"] = str(max(1, round(self.pacer.interval)))
            return
        if status < 400 or status >= 500 or status == 408:
            return
        await response.aread()
        method = response.request.method
        path = response.request.url.path.removeprefix(httpx.URL(self.api_url).path)
        if status in (401, 403):
            raise Permanent(
                SYSTEM,
                f"Statuspage refused the API key on {method} {path} ({error_reason(response)}): set "
                "WARROOM_STATUSPAGE__API_KEY (or statuspage.api_key_file) to the API key of a Statuspage user "
                "who may manage this page (Statuspage → your avatar → API info).",
            )
        if status == 404:
            named = _named(path)
            sent = _component_ids(response.request)
            if sent:  # an incident naming components: the page, the incident or one of those may be missing
                named += f", or no component id among {', '.join(repr(c) for c in sent)}"
            raise NotFound(SYSTEM, f"{method} {path}: Statuspage has no {named} ({error_reason(response)})")
        raise Permanent(SYSTEM, f"{method} {path} was refused: {error_reason(response)}")


def _named(path: str) -> str:
    """What a 404 path names: the page and the component or incident id asked for."""
    parts = [p for p in path.split("/") if p]
    names: list[str] = []
    kinds = {"pages": "page id", "components": "component id", "incidents": "incident id"}
    for kind, value in itertools.pairwise(parts):
        if kind in kinds and value != "unresolved":
            names.append(f"{kinds[kind]} '{value}'")
    return " with ".join(reversed(names)) or "such record"


def _component_ids(request: httpx.Request) -> list[str]:
    """The component ids an incident create or update named."""
    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        return []
    incident = body.get("incident") if isinstance(body, dict) else None
    if not isinstance(incident, dict):
        return []
    ids = [str(c) for c in incident.get("component_ids") or []]
    ids += [str(c) for c in incident.get("components") or {} if str(c) not in ids]
    return ids


def _q(value: str) -> str:
    return quote(str(value), safe="")


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"'{value}' is not a Statuspage {what}: one of {', '.join(allowed)}")


def _objects(body: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise Permanent(SYSTEM, f"{what} did not answer with a list")
    return [item for item in body if isinstance(item, dict)]


def _component(record: Mapping[str, Any]) -> Component:
    try:
        return Component(
            id=str(record["id"]), page_id=str(record.get("page_id") or ""), name=str(record.get("name") or ""),
            status=str(record["status"]), group_id=record.get("group_id") or None, raw=dict(record),
        )
    except KeyError:
        raise Permanent(SYSTEM, "Statuspage answered with a component without an id or status") from None


def _incident(record: Mapping[str, Any]) -> Incident:
    if "id" not in record:
        raise Permanent(SYSTEM, "Statuspage answered with an incident without an id")
    metadata = record.get("metadata")
    marker = metadata.get(MARKER) if isinstance(metadata, dict) else None
    key = str(marker.get("key") or "") if isinstance(marker, dict) else ""
    updates = tuple(
        IncidentUpdate(
            id=str(u.get("id") or ""), status=str(u.get("status") or ""), body=str(u.get("body") or ""),
            created_at=str(u.get("created_at") or ""),
        )
        for u in record.get("incident_updates") or []
        if isinstance(u, dict)
    )
    components = {
        str(c["id"]): str(c.get("status") or "") for c in record.get("components") or [] if isinstance(c, dict) and "id" in c
    }
    return Incident(
        id=str(record["id"]), page_id=str(record.get("page_id") or ""), name=str(record.get("name") or ""),
        status=str(record.get("status") or ""), impact=str(record.get("impact") or ""),
        shortlink=str(record.get("shortlink") or ""), key=key, updates=updates, components=components, raw=dict(record),
    )
