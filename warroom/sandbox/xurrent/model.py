"""The sandbox's Xurrent account: people, teams, service instances, requests and their notes, as Xurrent keeps
them — seeding, read-back, acting as an agent, creating and updating requests with Xurrent's validation, the audit
trail (with the webhook events each change triggers) and the API shapes of the records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from typing import Any

from ..base import Emulator, EmulatorConfig
from .records import ENUMS, LABELS, REFERENCES, TEXTS, TRUTHY, AuditLine, ValidationFailed, stamp


class XurrentModel(Emulator):
    """The records of one account and the rules that change them."""

    def __init__(self, config: EmulatorConfig | None, *, account: str) -> None:
        super().__init__(config)
        self.account = account
        #: Xurrent's clock (epoch seconds): what created_at, updated_at and note stamps are taken from. A test may
        #: replace it (freeze it, move it) to make changes land in the same second or far apart.
        self.clock: Callable[[], float] = time.time
        #: Called with every :class:`AuditLine` as it is recorded (webhook delivery will subscribe here).
        self.listeners: list[Callable[[AuditLine], None]] = []
        self.audit: list[AuditLine] = []
        self._ids: dict[str, int] = {"people": 100, "teams": 10, "service_instances": 200, "requests": 70000, "notes": 5000}
        self._people: dict[int, dict[str, Any]] = {}
        self._teams: dict[int, dict[str, Any]] = {}
        self._service_instances: dict[int, dict[str, Any]] = {}
        self._requests: dict[int, dict[str, Any]] = {}
        self._notes: dict[int, list[dict[str, Any]]] = {}
        self.api_user = self._new_person(f"integration@{account}.example", "Warroom Integration")

    # -- seeding ------------------------------------------------------------------------------------
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _new_person(self, email: str, name: str) -> dict[str, Any]:
        now = int(self.clock())
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
        now = int(self.clock())
        team: dict[str, Any] = {"id": self._next("teams"), "name": name, "disabled": False, "sourceID": None, "created_at": now, "updated_at": now}
        self._teams[team["id"]] = team
        return int(team["id"])

    def add_service_instance(self, name: str, team_id: int | None = None) -> int:
        if team_id is not None and team_id not in self._teams:
            raise ValueError(f"team {team_id} does not exist: add it with add_team first")
        now = int(self.clock())
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
        if state.get("major_incident_status") and state.get("category") != "incident":
            # an RFC (or any other category) is never a major incident
            errors.append(["major_incident_status", "Major incident status can only be set on incidents"])
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
        now = int(self.clock())
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

    def _next_stamp(self, request: Mapping[str, Any]) -> int:
        """The next updated_at: the clock's second (never earlier than the last). Xurrent shows timestamps to the
        second, so two changes within one second carry the same updated_at — and a reader that saw the first
        cannot tell from the stamp that a second one followed."""
        return max(int(self.clock()), int(request["updated_at"]))

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
            "created_at": int(self.clock()),
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
