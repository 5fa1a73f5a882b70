"""The REST resources the sandbox serves under ``/v1``: requests (with their notes), people, ``/me``, service
instances and teams — each handler reads the call, acts on the model and answers in Xurrent's shapes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .gate import XurrentGate
from .model import XurrentModel
from .paging import CollectionPages, Getter, _BadParameter
from .records import TEXTS, TRUTHY, ValidationFailed

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


class XurrentApi(XurrentModel, XurrentGate, CollectionPages):
    """The handlers of the ``/v1`` routes (registered, behind the gate, by :class:`~.emulator.XurrentEmulator`)."""

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
            if not request.body_exists:
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
