"""A local Xurrent (formerly 4me) ITSM: the OAuth host and the REST API ``/v1`` on one loopback server.

What it is based on (developer.xurrent.com/v1, mirrored as markdown in public repositories; the Ruby SDK
code4me/4me-sdk-ruby for pagination and rate-limit handling):

- OAuth client credentials: ``POST /token`` with client_id, client_secret, grant_type=client_credentials,
  form-encoded (HTTP Basic client auth accepted too); tokens live ``token_lifetime`` seconds (documented: 1 hour).
  Bad credentials answer 401 ``{"error": "invalid_client", "error_description": …}`` (RFC 6749 §5.2).
- Every API call needs ``Authorization: Bearer <token>`` and ``X-Xurrent-Account`` (or the older
  ``X-4me-Account``). Error bodies are ``{"message": "…"}``: 401 ``Unauthorized``, 403, 404 ``Not Found``,
  400 for bad parameters, and 422 ``{"message": "Validation Failed", "errors": [["subject", "Subject can't be
  blank"], …]}`` — tuples of field name and message. What Xurrent answers for a missing or wrong account header is
  not documented; here it is 403 with a message naming the header.
- Requests follow the documented fields: the external key is ``source`` (max 30) and ``sourceID`` (max 128) —
  the REST name is ``sourceID``, not ``source_ID`` — and both are filterable on ``GET /requests``. Unknown body
  fields and unknown query parameters are ignored (so a misspelt filter returns everything: callers must check
  what comes back). ``team`` is required and defaults from the service instance; ``impact`` is required for
  incidents; ``completion_reason`` is required once the status is completed (as Xurrent's forms do).
  Timestamps are ``yyyy-mm-ddThh:mm:ssZ`` (seconds resolution, UTC).
- Collections: filters ``?f=v``, ``?f=a,b`` (in), ``?f=!a`` (not), ``?f=`` (empty), ``?f=!`` (present),
  ``?f=>=t`` / ``>`` / ``<=`` / ``<`` (ranges; two bounds may be joined, ``>=a<b``); ``per_page`` default 20,
  max 100; ``page``; ``fields`` (id plus the fields named); ``sort`` (``-`` for descending). Headers
  X-Pagination-Per-Page/-Current-Page/-Total-Pages/-Total-Entries and a ``Link`` header with rel
  first/prev/next/last. Requests sort descending by id, notes of a request ascending by id, people by name.
- Rate limits: every API response carries x-ratelimit-limit/-remaining/-reset (epoch seconds) for an hourly
  window (3600); over it, or over the burst limit (20 requests in 2 s, from the Ruby SDK's README), the answer is
  429 ``{"message": "Too Many Requests", "documentation_url": …}`` with ``Retry-After`` seconds. Both limits are
  attributes (``hourly_limit``, ``burst_limit``, ``burst_window``) a test may lower.

Operation names for latency and faults: ``POST /token``, ``POST /requests``, ``GET /requests``,
``GET /requests/open``, ``GET /requests/:id``, ``PATCH /requests/:id`` (PUT too), ``GET /requests/:id/notes``,
``POST /requests/:id/notes``, ``GET /people``, ``GET /people/:id``, ``GET /me``, ``GET /service_instances/:id``,
``GET /teams/:id``.

Read-back for tests, the demo and benches: :attr:`XurrentEmulator.requests`, :meth:`XurrentEmulator.notes`,
:attr:`XurrentEmulator.people`, :attr:`XurrentEmulator.audit` (one :class:`AuditLine` per change, with the webhook
event names it would trigger; :attr:`XurrentEmulator.listeners` are called with each — the place where webhook
delivery will hook in) and ``GET /_sandbox/state``. :meth:`XurrentEmulator.update_request` and
:meth:`XurrentEmulator.add_note` act as a service desk agent would in Xurrent's UI.

Webhook policies, webhooks, the webhook.verify handshake and signed deliveries live in :mod:`.xurrent_webhooks`
(:attr:`XurrentEmulator.webhooks`, fed by :attr:`XurrentEmulator.listeners`); ``issuer`` is the account URL its JWTs
carry and ``webhook_delivery`` its retry schedule and chaos.
"""

from __future__ import annotations

import base64
import binascii
import calendar
import math
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from .base import Emulator, EmulatorConfig, Handler, SlidingWindow

if TYPE_CHECKING:
    from .xurrent_webhooks import DeliveryConfig, WebhookHub

CATEGORIES = ("incident", "rfc", "rfi", "reservation", "order", "fulfillment", "complaint", "compliment", "other")
IMPACTS = ("low", "medium", "high", "top")
STATUSES = (
    "declined",
    "on_backlog",
    "assigned",
    "accepted",
    "in_progress",
    "waiting_for",
    "waiting_for_customer",
    "reservation_pending",
    "workflow_pending",
    "project_pending",
    "completed",
)
COMPLETION_REASONS = (
    "solved",
    "workaround",
    "gone",
    "duplicate",
    "withdrawn",
    "no_reply",
    "rejected",
    "conflict",
    "declined",
    "unsolvable",
)
MAJOR_INCIDENT_STATUSES = ("proposed", "rejected", "accepted", "resolved", "canceled")
ENUMS: dict[str, tuple[str, ...]] = {
    "category": CATEGORIES,
    "impact": IMPACTS,
    "status": STATUSES,
    "completion_reason": COMPLETION_REASONS,
    "major_incident_status": MAJOR_INCIDENT_STATUSES,
}
#: Body field → (stored key, maximum length).
TEXTS: dict[str, int] = {"subject": 255, "source": 30, "sourceID": 128, "note": 65_535, "internal_note": 65_535}
#: Reference fields in bodies (``<name>_id``) and the collection each points into.
REFERENCES: dict[str, str] = {
    "service_instance": "service_instances",
    "team": "teams",
    "member": "people",
    "requested_for": "people",
    "requested_by": "people",
}
LABELS = {
    "subject": "Subject",
    "category": "Category",
    "impact": "Impact",
    "status": "Status",
    "completion_reason": "Completion reason",
    "major_incident_status": "Major incident status",
    "source": "Source",
    "sourceID": "Source ID",
    "note": "Note",
    "internal_note": "Internal note",
    "urgent": "Urgent",
    "service_instance": "Service instance",
    "team": "Team",
    "member": "Member",
    "requested_for": "Requested for",
    "requested_by": "Requested by",
    "text": "Text",
}
#: Fields a collection of requests shows unless ``?fields=`` asks for others (as documented).
REQUEST_COLLECTION_FIELDS = (
    "id",
    "sourceID",
    "subject",
    "category",
    "impact",
    "status",
    "next_target_at",
    "completed_at",
    "team",
    "member",
    "grouped_into",
    "service_instance",
    "created_at",
    "updated_at",
)
PEOPLE_COLLECTION_FIELDS = ("id", "sourceID", "name", "organization", "site", "manager", "created_at", "updated_at")
TRUTHY = {"1", "t", "y", "true", "yes", "on"}
DOCS_RATE_LIMIT = "https://developer.xurrent.com/v1/#rate-limiting"
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 20


class ValidationFailed(Exception):
    """A change Xurrent would refuse with 422; ``errors`` are its [field, message] tuples."""

    def __init__(self, errors: list[list[str]]) -> None:
        super().__init__("; ".join(message for _, message in errors))
        self.errors = errors


@dataclass
class AuditLine:
    """One change to a request, as Xurrent's audit trail records it, with the webhook events it triggers."""

    id: int
    request_id: int
    at: str
    person: dict[str, Any]
    #: Field → [old, new], in the API's terms (``member`` is a {id, name} reference or None).
    changes: dict[str, list[Any]] = field(default_factory=dict)
    note_id: int | None = None
    events: list[str] = field(default_factory=list)


def stamp(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def parse_time(value: str) -> int:
    """Xurrent's timestamp (``…T23:00:00Z``) or datetime (``…T23:00``) input, as epoch seconds (UTC)."""
    text = value.strip().replace("Z", "").replace("z", "")
    for fmt in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"):
        try:
            return calendar.timegm(time.strptime(text, fmt))
        except ValueError:
            continue
    raise ValueError(value)


class _BadParameter(Exception):
    pass


Getter = Callable[[dict[str, Any]], Any]


def _condition(name: str, raw: str, kind: str) -> Callable[[Any], bool]:
    """One filter condition over a stored value (int, str, bool, epoch int, or None)."""

    def convert(text: str) -> Any:
        if kind == "time":
            return parse_time(text)
        if kind == "int":
            return int(text)
        if kind == "bool":
            return text.strip().lower() in TRUTHY
        if kind == "istr":
            return text.lower()
        return text

    try:
        if raw == "":
            return lambda v: v is None
        if raw == "!":
            return lambda v: v is not None
        if raw[0] in "<>":
            bounds: list[tuple[str, Any]] = []
            rest = raw
            while rest:
                op = rest[:2] if rest[:2] in (">=", "<=") else rest[:1]
                rest = rest[len(op) :]
                cut = min([i for i in (rest.find("<"), rest.find(">")) if i >= 0], default=len(rest))
                bounds.append((op, convert(rest[:cut])))
                rest = rest[cut:]
            checks = {
                ">=": lambda v, b: v >= b,
                ">": lambda v, b: v > b,
                "<=": lambda v, b: v <= b,
                "<": lambda v, b: v < b,
            }
            return lambda v: v is not None and all(checks[op](v, b) for op, b in bounds)
        negate = raw.startswith("!")
        values = {convert(part) for part in (raw[1:] if negate else raw).split(",")}
        return (lambda v: v not in values) if negate else (lambda v: v in values)
    except (ValueError, IndexError):
        raise _BadParameter(f"Invalid value '{raw}' for filter '{name}'") from None


class XurrentEmulator(Emulator):
    name = "xurrent"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        account: str = "wdc",
        client_id: str = "warroom-sandbox",
        client_secret: str = "sandbox-secret",
        token_lifetime: int = 3600,
        hourly_limit: int = 3600,
        burst_limit: int = 20,
        burst_window: float = 2.0,
        issuer: str | None = None,
        webhook_delivery: DeliveryConfig | None = None,
    ) -> None:
        from .xurrent_webhooks import WebhookHub  # it builds on this module

        super().__init__(config)
        self.account = account
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.hourly_limit = hourly_limit
        self.burst_limit = burst_limit
        self.burst_window = burst_window
        #: Called with every :class:`AuditLine` as it is recorded (webhook delivery will subscribe here).
        self.listeners: list[Callable[[AuditLine], None]] = []
        self.audit: list[AuditLine] = []
        self._tokens: dict[str, tuple[str, float]] = {}  # token → (client_id, expires_at epoch)
        self._hour: dict[str, tuple[float, int]] = {}  # rate key → (window start epoch, count)
        self._burst = SlidingWindow(burst_limit, burst_window)
        self._ids: dict[str, int] = {"people": 100, "teams": 10, "service_instances": 200, "requests": 70000, "notes": 5000}
        self._people: dict[int, dict[str, Any]] = {}
        self._teams: dict[int, dict[str, Any]] = {}
        self._service_instances: dict[int, dict[str, Any]] = {}
        self._requests: dict[int, dict[str, Any]] = {}
        self._notes: dict[int, list[dict[str, Any]]] = {}
        self.api_user = self._new_person(f"integration@{account}.example", "Warroom Integration")
        #: Webhook policies, webhooks and their signed deliveries (settle(), deliveries, create_webhook(), …).
        self.webhooks: WebhookHub = WebhookHub(self, issuer=issuer, config=webhook_delivery)
        self.listeners.append(self.webhooks.on_audit)
        self._routes()

    async def stop(self) -> None:
        await self.webhooks.close()
        await super().stop()

    # -- seeding ------------------------------------------------------------------------------------
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _new_person(self, email: str, name: str) -> dict[str, Any]:
        now = int(time.time())
        person: dict[str, Any] = {
            "id": self._next("people"),
            "name": name,
            "primary_email": email,
            "source": None,
            "sourceID": None,
            "disabled": False,
            "organization": None,
            "site": None,
            "manager": None,
            "created_at": now,
            "updated_at": now,
        }
        self._people[person["id"]] = person
        return person

    def add_person(self, email: str, name: str) -> int:
        return int(self._new_person(email, name)["id"])

    def add_team(self, name: str) -> int:
        now = int(time.time())
        team: dict[str, Any] = {"id": self._next("teams"), "name": name, "disabled": False, "sourceID": None, "created_at": now, "updated_at": now}
        self._teams[team["id"]] = team
        return int(team["id"])

    def add_service_instance(self, name: str, team_id: int | None = None) -> int:
        if team_id is not None and team_id not in self._teams:
            raise ValueError(f"team {team_id} does not exist: add it with add_team first")
        now = int(time.time())
        si: dict[str, Any] = {
            "id": self._next("service_instances"),
            "name": name,
            "status": "in_production",
            "support_team_id": team_id,
            "first_line_team_id": None,
            "sourceID": None,
            "created_at": now,
            "updated_at": now,
        }
        self._service_instances[si["id"]] = si
        return int(si["id"])

    def expire_tokens(self) -> None:
        """End the life of every access token handed out so far (as if an hour had passed)."""
        self._tokens = {token: (client, 0.0) for token, (client, _) in self._tokens.items()}

    # -- read-back ----------------------------------------------------------------------------------
    @property
    def requests(self) -> dict[int, dict[str, Any]]:
        """Every request in its full API shape."""
        return {rid: self._present_request(r) for rid, r in self._requests.items()}

    def notes(self, request_id: int) -> list[dict[str, Any]]:
        return [self._present_note(n) for n in self._notes.get(request_id, [])]

    @property
    def people(self) -> dict[int, dict[str, Any]]:
        """The people seeded with :meth:`add_person` (not the integration's own API user)."""
        return {pid: self._present_person(p) for pid, p in self._people.items() if pid != self.api_user["id"]}

    def state(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "requests": list(self.requests.values()),
            "notes": {str(rid): self.notes(rid) for rid in self._notes},
            "people": list(self.people.values()),
            "teams": [self._present_team(t) for t in self._teams.values()],
            "service_instances": [self._present_si(s) for s in self._service_instances.values()],
            "audit": [asdict(line) for line in self.audit],
        }

    # -- acting as an agent in Xurrent ---------------------------------------------------------------
    def create_request(self, body: Mapping[str, Any], *, person_id: int | None = None) -> dict[str, Any]:
        """Create a request as ``POST /requests`` would; raises :class:`ValidationFailed`."""
        return self._present_request(self._create(body, self._actor(person_id)))

    def update_request(self, request_id: int, body: Mapping[str, Any], *, person_id: int | None = None) -> dict[str, Any]:
        """Change a request as ``PATCH /requests/:id`` would (e.g. a service desk agent in the UI)."""
        return self._present_request(self._update(self._requests[request_id], body, self._actor(person_id)))

    def add_note(self, request_id: int, text: str, *, internal: bool = False, person_id: int | None = None) -> int:
        request = self._requests[request_id]
        if not text.strip():
            raise ValidationFailed([["text", "Text can't be blank"]])
        actor = self._actor(person_id)
        note = self._new_note(request, text, internal, actor)
        updated = self._touch(request)
        self._record(request, actor, {}, note_id=note["id"], events=["request.note-added"], at=updated)
        return int(note["id"])

    def _actor(self, person_id: int | None) -> dict[str, Any]:
        if person_id is None:
            return self.api_user
        return self._people[person_id]

    # -- the model ----------------------------------------------------------------------------------
    def _parse(self, body: Mapping[str, Any], errors: list[list[str]]) -> dict[str, Any]:
        """The writable fields of a request body, typed; unknown fields are ignored."""
        out: dict[str, Any] = {}
        for key, limit in TEXTS.items():
            if key not in body:
                continue
            value = body[key]
            if value is None or value == "":
                out[key] = None
            else:
                # An invalid value is kept so that only its own error is reported; any error refuses the change.
                out[key] = value if isinstance(value, (dict, list)) else str(value)
                if isinstance(value, (dict, list)):
                    errors.append([key, f"{LABELS[key]} is invalid"])
                elif len(str(value)) > limit:
                    errors.append([key, f"{LABELS[key]} is too long (maximum is {limit} characters)"])
        for key, allowed in ENUMS.items():
            if key not in body:
                continue
            value = body[key]
            if value is None or value == "":
                out[key] = None
            else:
                out[key] = value
                if value not in allowed:
                    errors.append([key, f"{LABELS[key]} is not included in the list"])
        if "urgent" in body:
            value = body["urgent"]
            out["urgent"] = value if isinstance(value, bool) else str(value).strip().lower() in TRUTHY
        for ref, kind in REFERENCES.items():
            key = f"{ref}_id"
            if key not in body:
                continue
            value = body[key]
            if value is None or value == "":
                out[key] = None
                continue
            try:
                ident = int(value)
            except (TypeError, ValueError):
                ident = -1
            if ident not in self._collection(kind):
                errors.append([ref, f"{LABELS[ref]} must exist"])
            else:
                out[key] = ident
        return out

    def _collection(self, kind: str) -> dict[int, dict[str, Any]]:
        collection: dict[int, dict[str, Any]] = getattr(self, f"_{kind}")
        return collection

    def _validate(self, state: dict[str, Any], errors: list[list[str]]) -> None:
        if not state.get("subject"):
            errors.append(["subject", "Subject can't be blank"])
        if not state.get("category"):
            errors.append(["category", "Category can't be blank"])
        if state.get("category") == "incident" and not state.get("impact"):
            errors.append(["impact", "Impact can't be blank"])
        if state.get("status") == "completed" and not state.get("completion_reason"):
            errors.append(["completion_reason", "Completion reason can't be blank"])
        if state.get("team_id") is None:
            errors.append(["team", "Team can't be blank"])

    def _default_team(self, service_instance_id: int | None) -> int | None:
        si = self._service_instances.get(service_instance_id) if service_instance_id is not None else None
        if si is None:
            return None
        team: int | None = si["first_line_team_id"] or si["support_team_id"]
        return team

    def _create(self, body: Mapping[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        errors: list[list[str]] = []
        changes = self._parse(body, errors)
        notes = {k: changes.pop(k) for k in ("note", "internal_note") if k in changes}
        state: dict[str, Any] = {
            "subject": None,
            "category": None,
            "impact": None,
            "urgent": False,
            "status": "assigned",
            "completion_reason": None,
            "major_incident_status": None,
            "service_instance_id": None,
            "team_id": None,
            "member_id": None,
            "requested_for_id": actor["id"],
            "requested_by_id": actor["id"],
            "source": None,
            "sourceID": None,
            **changes,
        }
        if "team_id" not in changes:
            state["team_id"] = self._default_team(state["service_instance_id"])
        self._validate(state, errors)
        if errors:
            raise ValidationFailed(errors)
        now = int(time.time())
        request = {
            **state,
            "id": self._next("requests"),
            "created_by_id": actor["id"],
            "created_at": now,
            "updated_at": now,
            "completed_at": now if state["status"] == "completed" else None,
            "reopen_count": 0,
            "assignment_count": 1,
        }
        self._requests[request["id"]] = request
        self._notes[request["id"]] = []
        note_ids = [self._new_note(request, text, key == "internal_note", actor)["id"] for key, text in notes.items() if text]
        self._record(request, actor, {}, note_id=note_ids[0] if note_ids else None, events=["request.create"], at=now)
        return request

    def _update(self, request: dict[str, Any], body: Mapping[str, Any], actor: dict[str, Any]) -> dict[str, Any]:
        errors: list[list[str]] = []
        changes = self._parse(body, errors)
        notes = {k: changes.pop(k) for k in ("note", "internal_note") if k in changes}
        state = {**request, **changes}
        if state["status"] != "completed" and request["status"] == "completed" and "completion_reason" not in changes:
            state["completion_reason"] = None
        self._validate(state, errors)
        if errors:
            raise ValidationFailed(errors)
        before = self._present_request(request)
        at = self._next_stamp(request)
        if state["status"] == "completed" and request["status"] != "completed":
            state["completed_at"] = at
        elif state["status"] != "completed" and request["status"] == "completed":
            state["completed_at"] = None
            state["reopen_count"] += 1
        if state["team_id"] != request["team_id"]:
            state["assignment_count"] += 1
        request.update(state)
        after = self._present_request(request)
        diff = {k: [before[k], after[k]] for k in after if k not in ("updated_at",) and before[k] != after[k]}
        note_ids = [self._new_note(request, text, key == "internal_note", actor)["id"] for key, text in notes.items() if text]
        if not diff and not note_ids:
            return request
        request["updated_at"] = at
        events = ["request.update"] if diff else []
        for name, event in (
            ("status", "request.status-changed"),
            ("member", "request.member-changed"),
            ("team", "request.team-changed"),
            ("major_incident_status", "request.major-incident-status-changed"),
        ):
            if name in diff:
                events.append(event)
        if note_ids:
            events.append("request.note-added")
        self._record(request, actor, diff, note_id=note_ids[0] if note_ids else None, events=events, at=at)
        return request

    @staticmethod
    def _next_stamp(request: Mapping[str, Any]) -> int:
        """The next updated_at: at one-second resolution, a second change within a second is stamped a second later."""
        return max(int(time.time()), int(request["updated_at"]) + 1)

    def _touch(self, request: dict[str, Any]) -> int:
        request["updated_at"] = self._next_stamp(request)
        return int(request["updated_at"])

    def _new_note(self, request: dict[str, Any], text: str, internal: bool, actor: dict[str, Any]) -> dict[str, Any]:
        note = {
            "id": self._next("notes"),
            "request_id": request["id"],
            "text": text,
            "internal": internal,
            "person_id": actor["id"],
            "created_at": int(time.time()),
        }
        self._notes[request["id"]].append(note)
        return note

    def _record(
        self, request: dict[str, Any], actor: dict[str, Any], changes: dict[str, list[Any]], *, note_id: int | None, events: list[str], at: int
    ) -> None:
        line = AuditLine(
            id=len(self.audit) + 1,
            request_id=int(request["id"]),
            at=stamp(at),
            person={"id": actor["id"], "name": actor["name"]},
            changes=changes,
            note_id=note_id,
            events=events,
        )
        self.audit.append(line)
        for listener in list(self.listeners):
            listener(line)

    # -- presentation -------------------------------------------------------------------------------
    @staticmethod
    def _ref(record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return None if record is None else {"id": record["id"], "name": record["name"]}

    def _present_request(self, r: Mapping[str, Any]) -> dict[str, Any]:
        people, teams, sis = self._people, self._teams, self._service_instances
        return {
            "id": r["id"],
            "subject": r["subject"],
            "category": r["category"],
            "impact": r["impact"],
            "urgent": r["urgent"],
            "status": r["status"],
            "completion_reason": r["completion_reason"],
            "major_incident_status": r["major_incident_status"],
            "service_instance": self._ref(sis.get(r["service_instance_id"])) if r["service_instance_id"] else None,
            "team": self._ref(teams.get(r["team_id"])) if r["team_id"] else None,
            "member": self._ref(people.get(r["member_id"])) if r["member_id"] else None,
            "requested_by": self._ref(people.get(r["requested_by_id"])),
            "requested_for": self._ref(people.get(r["requested_for_id"])),
            "created_by": self._ref(people.get(r["created_by_id"])),
            "source": r["source"],
            "sourceID": r["sourceID"],
            "grouping": "none",
            "grouped_into": None,
            "next_target_at": None if r["status"] == "completed" else "best_effort",
            "resolution_target_at": None,
            "response_target_at": None,
            "reopen_count": r["reopen_count"],
            "assignment_count": r["assignment_count"],
            "created_at": stamp(r["created_at"]),
            "updated_at": stamp(r["updated_at"]),
            "completed_at": stamp(r["completed_at"]) if r["completed_at"] else None,
        }

    def _present_note(self, n: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": n["id"],
            "text": n["text"],
            "internal": n["internal"],
            "medium": "default",
            "person": self._ref(self._people.get(n["person_id"])),
            "created_at": stamp(n["created_at"]),
            "attachments": [],
        }

    def _present_person(self, p: Mapping[str, Any]) -> dict[str, Any]:
        return {**p, "created_at": stamp(p["created_at"]), "updated_at": stamp(p["updated_at"])}

    def _present_team(self, t: Mapping[str, Any]) -> dict[str, Any]:
        return {**t, "created_at": stamp(t["created_at"]), "updated_at": stamp(t["updated_at"])}

    def _present_si(self, s: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": s["id"],
            "name": s["name"],
            "status": s["status"],
            "sourceID": s["sourceID"],
            "support_team": self._ref(self._teams.get(s["support_team_id"])) if s["support_team_id"] else None,
            "first_line_team": self._ref(self._teams.get(s["first_line_team_id"])) if s["first_line_team_id"] else None,
            "created_at": stamp(s["created_at"]),
            "updated_at": stamp(s["updated_at"]),
        }

    # -- HTTP: routes -------------------------------------------------------------------------------
    def _routes(self) -> None:
        self.route("POST", "/token", "POST /token", self._token)
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v1/requests", "GET /requests", self._list_requests),
            ("GET", "/v1/requests/open", "GET /requests/open", self._list_open_requests),
            ("POST", "/v1/requests", "POST /requests", self._post_request),
            ("GET", "/v1/requests/{id:\\d+}", "GET /requests/:id", self._get_request),
            ("PATCH", "/v1/requests/{id:\\d+}", "PATCH /requests/:id", self._patch_request),
            ("PUT", "/v1/requests/{id:\\d+}", "PATCH /requests/:id", self._patch_request),
            ("GET", "/v1/requests/{id:\\d+}/notes", "GET /requests/:id/notes", self._list_notes),
            ("GET", "/v1/requests/{id:\\d+}/notes/{which:public|internal}", "GET /requests/:id/notes", self._list_notes),
            ("POST", "/v1/requests/{id:\\d+}/notes", "POST /requests/:id/notes", self._post_note),
            ("GET", "/v1/people", "GET /people", self._list_people),
            ("GET", "/v1/people/{id:\\d+}", "GET /people/:id", self._get_person),
            ("GET", "/v1/me", "GET /me", self._get_me),
            ("GET", "/v1/service_instances/{id:\\d+}", "GET /service_instances/:id", self._get_service_instance),
            ("GET", "/v1/teams/{id:\\d+}", "GET /teams/:id", self._get_team),
        ]
        for method, path, op, handler in api:
            self.route(method, path, op, self._api(handler))
        self.webhooks.mount()
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)
        self.app.router.add_route("*", "/v1/{tail:.*}", self._api(self._not_found))

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        return web.json_response(self.state())

    # -- HTTP: OAuth --------------------------------------------------------------------------------
    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
        grant = str(form.get("grant_type", ""))
        if not grant:
            return self._oauth_error(400, "invalid_request", "The grant_type parameter is missing.")
        if grant != "client_credentials":
            return self._oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        valid = secrets.compare_digest(client_id.encode(), self.client_id.encode()) and secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )
        if not valid:
            return self._oauth_error(401, "invalid_client", "Client authentication failed.")
        token = secrets.token_hex(20)
        now = time.time()
        self._tokens[token] = (client_id, now + self.token_lifetime)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "created_at": int(now)},
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)

    # -- HTTP: the API gate (auth, account, rate limits) -------------------------------------------
    def _api(self, handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.StreamResponse:
            client = self._client_for(request)
            key = f"client:{client}" if client else f"ip:{request.remote}"
            retry_after, headers = self._rate(key)
            if retry_after is not None:
                return self._too_many(retry_after, headers)
            if client is None:
                response: web.StreamResponse = self._message(401, "Unauthorized")
            else:
                account = request.headers.get("X-Xurrent-Account") or request.headers.get("X-4me-Account")
                if not account:
                    response = self._message(403, "Forbidden: name the account in the X-Xurrent-Account header")
                elif account != self.account:
                    response = self._message(403, f"Forbidden: no access to account '{account}'")
                else:
                    try:
                        response = await handler(request)
                    except ValidationFailed as exc:
                        response = web.json_response({"message": "Validation Failed", "errors": exc.errors}, status=422)
                    except _BadParameter as exc:
                        response = self._message(400, str(exc))
            response.headers.update(headers)
            return response

        return gate

    def _client_for(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        entry = self._tokens.get(auth[7:].strip())
        if entry is None or time.time() >= entry[1]:
            return None
        return entry[0]

    def _rate(self, key: str) -> tuple[float | None, dict[str, str]]:
        """Count one call; return (seconds to wait if over a limit, the x-ratelimit headers)."""
        now = time.time()
        start, count = self._hour.get(key, (now, 0))
        if now - start >= 3600:
            start, count = now, 0
        reset = int(start + 3600)
        limited = self.config.rate_limits
        if limited and count >= self.hourly_limit:
            headers = self._limit_headers(0, reset)
            return max(1.0, reset - now), headers
        if limited:
            self._burst.limit, self._burst.window = self.burst_limit, self.burst_window
            wait = self._burst.hit(key)
            if wait > 0:
                return wait, self._limit_headers(self.hourly_limit - count, reset)
        count += 1
        self._hour[key] = (start, count)
        return None, self._limit_headers(max(0, self.hourly_limit - count), reset)

    def _limit_headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.hourly_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        }

    def _too_many(self, retry_after: float, headers: Mapping[str, str]) -> web.Response:
        return web.json_response(
            {"message": "Too Many Requests", "documentation_url": DOCS_RATE_LIMIT},
            status=429,
            headers={**headers, "Retry-After": str(max(0, math.ceil(retry_after)))},
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        return self._too_many(retry_after, self._limit_headers(0, int(time.time() + retry_after)))

    @staticmethod
    def _message(status: int, message: str) -> web.Response:
        return web.json_response({"message": message}, status=status)

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._message(404, "Not Found")

    # -- HTTP: collections --------------------------------------------------------------------------
    def _page(
        self,
        request: web.Request,
        items: list[dict[str, Any]],
        filters: Mapping[str, tuple[str, Getter]],
        present: Callable[[dict[str, Any]], dict[str, Any]],
        default_fields: Iterable[str] | None,
        default_sort: str,
    ) -> web.Response:
        query = request.query
        for name, (kind, getter) in filters.items():
            if name in query:
                check = _condition(name, query[name], kind)
                items = [item for item in items if check(getter(item))]
        sort = query.get("sort", default_sort)
        descending = sort.startswith("-")
        sort_key = sort.lstrip("-")
        if sort_key not in filters:
            raise _BadParameter(f"Parameter 'sort' does not accept '{sort_key}'")
        getter = filters[sort_key][1]
        items = sorted(items, key=lambda item: self._sort_key(getter(item)), reverse=descending)
        per_page, page = self._int_param(query, "per_page", DEFAULT_PER_PAGE), self._int_param(query, "page", 1)
        per_page = min(per_page, MAX_PER_PAGE)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chosen = items[(page - 1) * per_page : page * per_page]
        fields = [f for f in query["fields"].split(",") if f] if "fields" in query else None
        wanted = ["id", *fields] if fields is not None else (list(default_fields) if default_fields else None)
        body = []
        for item in chosen:
            shown = present(item)
            body.append({k: shown.get(k) for k in wanted} if wanted is not None else shown)
        headers = {
            "X-Pagination-Per-Page": str(per_page),
            "X-Pagination-Current-Page": str(page),
            "X-Pagination-Total-Pages": str(pages),
            "X-Pagination-Total-Entries": str(total),
            "Link": self._links(request, page, pages, per_page),
        }
        return web.json_response(body, headers=headers)

    @staticmethod
    def _sort_key(value: Any) -> tuple[bool, Any]:
        return (value is None, value if value is not None else 0)

    @staticmethod
    def _int_param(query: Mapping[str, str], name: str, default: int) -> int:
        if name not in query:
            return default
        try:
            value = int(query[name])
        except ValueError:
            raise _BadParameter(f"Parameter '{name}' must be a number") from None
        if value < 1:
            raise _BadParameter(f"Parameter '{name}' cannot be less than 1")
        return value

    @staticmethod
    def _links(request: web.Request, page: int, pages: int, per_page: int) -> str:
        base = f"{request.scheme}://{request.host}{request.path}"
        params = {k: v for k, v in request.query.items() if k not in ("page", "per_page")}

        def url(n: int) -> str:
            return f"{base}?{urlencode({**params, 'page': n, 'per_page': per_page})}"

        rels = [("first", 1)]
        if page > 1:
            rels.append(("prev", min(page - 1, pages)))
        if page < pages:
            rels.append(("next", page + 1))
        rels.append(("last", pages))
        return ", ".join(f'<{url(n)}>; rel="{rel}"' for rel, n in rels)

    def _request_filters(self) -> dict[str, tuple[str, Getter]]:
        def ref(key: str) -> Getter:
            return lambda r: r[key]

        return {
            "id": ("int", ref("id")),
            "source": ("str", ref("source")),
            "sourceID": ("str", ref("sourceID")),
            "subject": ("str", ref("subject")),
            "category": ("str", ref("category")),
            "impact": ("str", ref("impact")),
            "status": ("str", ref("status")),
            "major_incident_status": ("str", ref("major_incident_status")),
            "created_at": ("time", ref("created_at")),
            "updated_at": ("time", ref("updated_at")),
            "completed_at": ("time", ref("completed_at")),
            "service_instance": ("int", ref("service_instance_id")),
            "team": ("int", ref("team_id")),
            "member": ("int", ref("member_id")),
            "requested_by": ("int", ref("requested_by_id")),
            "requested_for": ("int", ref("requested_for_id")),
            "created_by": ("int", ref("created_by_id")),
        }

    # -- HTTP: requests -----------------------------------------------------------------------------
    async def _list_requests(self, request: web.Request) -> web.Response:
        items = list(self._requests.values())
        return self._page(request, items, self._request_filters(), self._present_request, REQUEST_COLLECTION_FIELDS, "-id")

    async def _list_open_requests(self, request: web.Request) -> web.Response:
        items = [r for r in self._requests.values() if r["status"] != "completed"]
        return self._page(request, items, self._request_filters(), self._present_request, REQUEST_COLLECTION_FIELDS, "-id")

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json" or not request.content_type.startswith(("multipart/", "application/x-www-form")):
            if not request.can_read_body:
                return {}
            try:
                body = await request.json()
            except ValueError:
                raise _BadParameter("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise _BadParameter("The request body must be a JSON object")
            return body
        return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}

    def _find_request(self, request: web.Request) -> dict[str, Any] | None:
        return self._requests.get(int(request.match_info["id"]))

    async def _post_request(self, request: web.Request) -> web.Response:
        created = self._create(await self._body(request), self.api_user)
        return web.json_response(self._present_request(created), status=201)

    async def _get_request(self, request: web.Request) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return self._message(404, "Not Found")
        return web.json_response(self._present_request(found))

    async def _patch_request(self, request: web.Request) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return self._message(404, "Not Found")
        updated = self._update(found, await self._body(request), self.api_user)
        return web.json_response(self._present_request(updated))

    async def _list_notes(self, request: web.Request) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return self._message(404, "Not Found")
        notes = self._notes[found["id"]]
        which = request.match_info.get("which")
        if which is not None:
            notes = [n for n in notes if n["internal"] == (which == "internal")]
        filters: dict[str, tuple[str, Getter]] = {
            "id": ("int", lambda n: n["id"]),
            "person": ("int", lambda n: n["person_id"]),
            "created_at": ("time", lambda n: n["created_at"]),
        }
        return self._page(request, list(notes), filters, self._present_note, None, "id")

    async def _post_note(self, request: web.Request) -> web.Response:
        found = self._find_request(request)
        if found is None:
            return self._message(404, "Not Found")
        body = await self._body(request)
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ValidationFailed([["text", "Text can't be blank"]])
        if len(text) > TEXTS["note"]:
            raise ValidationFailed([["text", f"Text is too long (maximum is {TEXTS['note']} characters)"]])
        internal = body.get("internal", False)
        internal = internal if isinstance(internal, bool) else str(internal).strip().lower() in TRUTHY
        note = self._new_note(found, text, internal, self.api_user)
        updated = self._touch(found)
        self._record(found, self.api_user, {}, note_id=note["id"], events=["request.note-added"], at=updated)
        return web.json_response(self._present_note(note), status=201)

    # -- HTTP: people, teams, service instances -----------------------------------------------------
    async def _list_people(self, request: web.Request) -> web.Response:
        filters: dict[str, tuple[str, Getter]] = {
            "id": ("int", lambda p: p["id"]),
            "name": ("str", lambda p: p["name"]),
            "primary_email": ("istr", lambda p: p["primary_email"].lower()),
            "source": ("str", lambda p: p["source"]),
            "sourceID": ("str", lambda p: p["sourceID"]),
            "disabled": ("bool", lambda p: p["disabled"]),
            "created_at": ("time", lambda p: p["created_at"]),
            "updated_at": ("time", lambda p: p["updated_at"]),
        }
        people = list(self._people.values())
        return self._page(request, people, filters, self._present_person, PEOPLE_COLLECTION_FIELDS, "name")

    async def _get_person(self, request: web.Request) -> web.Response:
        person = self._people.get(int(request.match_info["id"]))
        if person is None:
            return self._message(404, "Not Found")
        return web.json_response(self._present_person(person))

    async def _get_me(self, request: web.Request) -> web.Response:
        return web.json_response(self._present_person(self.api_user))

    async def _get_service_instance(self, request: web.Request) -> web.Response:
        si = self._service_instances.get(int(request.match_info["id"]))
        if si is None:
            return self._message(404, "Not Found")
        return web.json_response(self._present_si(si))

    async def _get_team(self, request: web.Request) -> web.Response:
        team = self._teams.get(int(request.match_info["id"]))
        if team is None:
            return self._message(404, "Not Found")
        return web.json_response(self._present_team(team))
