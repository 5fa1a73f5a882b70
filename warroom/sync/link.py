"""Creating the linked ITSM request for a new major incident (the IMR → ITSM half of the link engine).

Idempotent: the request carries ``source``/``sourceID``; a retry first looks the request up by them, so a crash
between Xurrent's answer and our commit never creates a second request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from warroom.adapters.ports import ItsmPort
from warroom.core.jobs import CREATE_REQUEST, PUSH_REQUEST
from warroom.core.model import LinkKind
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job

from .engine import initial_shadow, link_data
from .mapping import request_fields, source_id


@dataclass
class LinkEngine:
    settings: Settings
    store: Store
    itsm: ItsmPort
    #: Follow-ups of a new link (card refresh, bookmark), run in the transaction that records it.
    on_linked: Callable[[Tx, int, LinkKind], Awaitable[None]]

    def handlers(self) -> dict[str, Handler]:
        return {CREATE_REQUEST: self.create_request}

    async def create_request(self, job: Job) -> Commit | None:
        assert job.incident_id is not None
        async with self.store.read() as tx:
            incident = await tx.incidents.get(job.incident_id)
            links = await tx.links.all(job.incident_id)
        if incident is None or LinkKind.XURRENT_REQUEST in links:
            return None
        svc = self.settings.service(incident.service)
        if svc is None:
            return None
        request: dict[str, Any] | None = None
        if job.is_retry:
            request = await self.itsm.find_request_by_source(self.settings.xurrent.source, source_id(incident))
        member_name = None
        if request is None:
            member_id = None
            if incident.assignee:
                person = await self.itsm.find_person(incident.assignee)
                if person is not None:
                    member_id, member_name = person.id, person.name
            channel = links.get(LinkKind.SLACK_CHANNEL)
            fields = request_fields(
                incident,
                svc.itsm,
                priorities=self.settings.priorities,
                source=self.settings.xurrent.source,
                member_id=member_id,
                incident_url=channel.url if channel else None,
            )
            request = await self.itsm.create_request(fields)
        request_id = int(request["id"])
        url = self.itsm.request_url(request_id)
        data = link_data(request, initial_shadow(incident, request))
        inc_id = incident.id
        assignee_note = ""
        if incident.assignee and data["member_id"] is None:
            assignee_note = f"; {incident.assignee} is not a person in Xurrent, so the request has no member"
        elif member_name:
            assignee_note = f"; member {member_name}"

        async def commit(tx: Tx) -> None:
            await tx.incidents.get(inc_id, lock=True)
            await tx.links.put(inc_id, LinkKind.XURRENT_REQUEST, str(request_id), url, data)
            await tx.timeline.add(
                inc_id,
                "itsm_linked",
                f"Linked Xurrent request #{request_id} created (impact {data['impact']}{assignee_note})",
                data={"request_id": request_id},
            )
            await self.on_linked(tx, inc_id, LinkKind.XURRENT_REQUEST)
            # whatever changed on the incident while the request was being created goes over now (usually nothing)
            await tx.outbox.enqueue(PUSH_REQUEST, incident_id=inc_id, ordering_key=f"itsm:{inc_id}", dedup_key=f"push:{inc_id}")

        return commit
