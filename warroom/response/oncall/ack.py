"""Acknowledging from a page: the Acknowledge button of a chat page, the email link, an SMS reply ("12 ack"), a key
pressed on the call. The incident is acknowledged as any other acknowledgement (both records: the linked request
goes to Accepted by the sync), its assignee becomes the person who acknowledged, and the escalation stops in the
same transaction (:func:`warroom.response.jobs.status_changed`).

Each answer is a sentence for the person, in plain text (each front end escapes it for where it goes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from warroom.core.model import Status
from warroom.core.rules import RuleError
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import Store

#: An SMS reply that acknowledges: the incident's number and "ack" (either order), e.g. "12 ack", "ack 12".
_SMS_ACK = re.compile(r"^\s*(?:(?:inc-?)?(\d{1,9})\s+(?:ack|acknowledge)|(?:ack|acknowledge)\s+(?:inc-?)?(\d{1,9}))\s*[.!]?\s*$",
                      re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Acked:
    ok: bool
    text: str


class PageAcks:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self.incidents = IncidentService(settings, store)

    async def by_notification(self, notification_id: int, *, email: str | None = None, via: str,
                              single_use: bool = False) -> Acked:
        """Acknowledge the incident a notification pages for, as ``email`` (default: the person paged)."""
        async with self.store.tx() as tx:
            row = await tx.notifications.get(notification_id, lock=True)
            if row is None:
                return Acked(False, "That page does not exist any more.")
            if single_use and not await tx.notifications.use(notification_id):
                return Acked(False, "This acknowledge link was used already: it works once.")
        return await self.incident(int(row["incident_id"]), email=(email or str(row["email"])).lower(), via=via)

    async def incident(self, incident_id: int, *, email: str, via: str) -> Acked:
        try:
            incident = await self.incidents.change(incident_id, actor=email, strict=True, status=Status.ACKNOWLEDGED,
                                                   assignee=email, note=None)
        except RuleError as exc:
            async with self.store.read() as tx:
                current = await tx.incidents.get(incident_id)
            if current is not None and current.status is Status.ACKNOWLEDGED:
                return Acked(False, f"{current.ref} was acknowledged already"
                                    + (f" by {current.assignee}." if current.assignee else "."))
            if current is not None and current.status is Status.RESOLVED:
                return Acked(False, f"{current.ref} is resolved already.")
            return Acked(False, str(exc))
        async with self.store.tx() as tx:
            await tx.timeline.add(incident.id, "page_acknowledged", f"Acknowledged by {email} from a page ({via})",
                                  actor=email, data={"via": via})
        return Acked(True, f"{incident.ref} acknowledged. You are its assignee; paging has stopped.")

    async def by_sms(self, from_number: str, body: str) -> Acked | None:
        """An SMS reply: None (no answer at all) unless it comes from a person's phone and reads as an
        acknowledgement of an incident that person was paged for."""
        match = _SMS_ACK.match(body or "")
        people = [p for p in self.settings.oncall.people if p.phone and p.phone == from_number.strip()]
        if not people:
            return None
        if match is None:
            return Acked(False, "To acknowledge, reply with the incident number and ack, e.g. \"12 ack\".")
        incident_id = int(match.group(1) or match.group(2))
        emails = {p.email for p in people}
        async with self.store.read() as tx:
            paged = {str(n["email"]) for n in await tx.notifications.of_incident(incident_id)
                     if n["method"] == "sms" and n["state"] in ("sending", "sent", "delivered")}
        who = sorted(emails & paged)
        if not who:
            return Acked(False, f"INC-{incident_id} did not page you by SMS: acknowledge it in the war room.")
        return await self.incident(incident_id, email=who[0], via="sms")
