"""Sending one notification of an escalation: the ``oncall.notify`` job, and what happens when a method fails.

A notification is a row (:mod:`warroom.store.oncall`) planned by a step, sent by this job when due:

1. Nothing is sent for an incident that is no longer triggered, or an escalation that has ended: the row is
   cancelled.
2. Before the send the row is marked ``sending`` in its own transaction; a job that finds a row ``sending`` (the
   process died after, or during, an earlier send) asks the provider first — Twilio's message and call lists —
   and records what it finds instead of sending again. Email cannot be asked (SMTP keeps no record): it may go
   twice after such a crash, with the same Message-ID.
3. A send that fails for good (no address, an undeliverable number, a rejected mailbox, a person not in the chat)
   marks the row ``failed`` and sends the person's next method at once; when a person has no method left the war
   room hears it, and when nobody of the step can be reached the incidents channel hears it too. A transient
   failure is retried by the outbox with backoff (the row stays ``sending``, so the retry looks first).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from warroom.adapters.errors import Permanent
from warroom.core import markup
from warroom.core.jobs import ONCALL_NOTIFY
from warroom.core.model import Incident, Status
from warroom.oncall.policy import mask_phone
from warroom.response import jobs
from warroom.response.oncall import links
from warroom.response.oncall.messages import Page
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job

log = logging.getLogger("warroom.oncall")

_METHOD_NAMES = {"chat": "chat", "email": "email", "sms": "SMS", "voice": "phone call"}


class Sender(Protocol):
    """One way of reaching people (chat, email, SMS, voice)."""

    async def send(self, page: Page) -> str | None:
        """Send; the provider's id of what was sent (a message SID, a Slack ts), if it gives one. Raises
        ``Permanent`` when this page can never go this way, ``Transient`` to be tried again."""
        ...

    async def find(self, page: Page, since: datetime) -> str | None:
        """The provider's id of this page if an earlier attempt sent it, else None."""
        ...


def shown_address(method: str, address: str | None) -> str:
    """An address as chat and logs may show it: phone numbers by their last four digits."""
    if not address:
        return ""
    return mask_phone(address) if method in ("sms", "voice") else address


@dataclass
class Notifier:
    settings: Settings
    store: Store
    senders: dict[str, Sender] = field(default_factory=dict)

    def handlers(self) -> dict[str, Handler]:
        return {ONCALL_NOTIFY: self.notify}

    def page(self, row: dict[str, Any], incident: Incident, now: datetime) -> Page:
        base = self.settings.server.public_url.rstrip("/")
        person = self.settings.oncall.person(str(row["email"]))
        nid = int(row["id"])
        return Page(
            id=nid, incident=incident, email=str(row["email"]),
            name=(person.name if person is not None and person.name else str(row["email"])),
            method=str(row["method"]), address=str(row["address"] or ""),
            ack_url=links.ack_url(self.settings, nid, now) if row["method"] == "email" else None,
            voice_url=f"{base}/oncall/twilio/voice?n={nid}",
            status_url=f"{base}/oncall/twilio/status?n={nid}",
        )

    async def notify(self, job: Job) -> Commit | None:
        nid = int(job.payload["notification"])
        async with self.store.read() as tx:
            row = await tx.notifications.get(nid)
            if row is None or row["state"] not in ("pending", "sending"):
                return None  # sent, failed or cancelled already (a job moved earlier, or run twice)
            esc = await tx.escalations.by_id(int(row["escalation_id"])) if row["escalation_id"] else None
            incident = await tx.incidents.get(int(row["incident_id"]))
            now = tx.now
        if incident is None or incident.status is not Status.TRIGGERED or (esc is not None and esc["state"] != "active"):
            return _set_if(nid, ("pending", "sending"), state="cancelled")
        sender = self.senders.get(str(row["method"]))
        page = self.page(row, incident, now)
        if sender is None:
            return self.failed(nid, f"{_METHOD_NAMES.get(page.method, page.method)} is not configured")
        if row["state"] == "sending":
            found = await sender.find(page, row["created_at"] - timedelta(minutes=1))
            if found is not None:
                return _set_if(nid, ("sending",), state="sent", provider_id=found[:128], sent_at=now)
        async with self.store.tx() as tx:
            # claimed only as this job read it: a second job for the same page (one moved earlier after a failure
            # and the one planned, or a retry) that finds it changed leaves it to the first
            current = await tx.notifications.get(nid, lock=True)
            if current is None or (current["state"], current["attempts"]) != (row["state"], row["attempts"]):
                return None
            await tx.notifications.set(nid, state="sending", attempts=int(current["attempts"]) + 1)
        try:
            provider_id = await sender.send(page)
        except Permanent as exc:
            return self.failed(nid, exc.reason)
        log.info("paged %s by %s for %s (notification %d)", page.email, page.method, incident.ref, nid)

        async def sent(tx: Tx) -> None:
            # a delivery report may have come first (Twilio calls back as soon as it has the message): keep what it
            # said — delivered, or failed and moved on — and only add what the send returned
            row = await tx.notifications.get(nid, lock=True)
            state = "sent" if row is None or row["state"] == "sending" else str(row["state"])
            await tx.notifications.set(nid, state=state, provider_id=(provider_id or "")[:128] or None,
                                       sent_at=tx.now)
            await tx.timeline.add(incident.id, "notified",
                                  f"Notified {page.name} by {_METHOD_NAMES.get(page.method, page.method)}",
                                  actor="escalation",
                                  data={"email": page.email, "method": page.method, "notification": nid})

        return sent

    def failed(self, nid: int, reason: str) -> Commit:
        async def commit(tx: Tx) -> None:
            await self.fail(tx, nid, reason)

        return commit

    async def fail(self, tx: Tx, nid: int, reason: str) -> None:
        """A notification that could not reach its person: the person's next method goes now; when none is
        left, the war room hears it, and the incidents channel when nobody of the step was reached."""
        row = await tx.notifications.get(nid, lock=True)
        if row is None or row["state"] in ("failed", "cancelled"):
            return
        await tx.notifications.set(nid, state="failed", detail=reason[:1000])
        incident_id = int(row["incident_id"])
        method = _METHOD_NAMES.get(str(row["method"]), str(row["method"]))
        log.warning("page %d (%s) failed for %s: %s", nid, row["method"], f"INC-{incident_id}", reason)
        incident = await tx.incidents.get(incident_id)
        if incident is None or incident.status is not Status.TRIGGERED:
            return
        later = await tx.notifications.later_of(row)
        if later:
            await tx.notifications.set(int(later[0]["id"]), due_at=tx.now)
            await tx.outbox.enqueue(ONCALL_NOTIFY, {"notification": int(later[0]["id"])}, incident_id=incident_id)
            return
        if await tx.notifications.reached(row):
            return  # an earlier method of this person went out
        who = markup.escape(str(row["email"]))
        await jobs.say(tx, incident_id, f"⚠️ Could not reach {who} by any method (last: {method}, "
                                        f"{markup.escape(reason[:200])}).", escaped=True)
        if not await tx.notifications.anyone_reached(row):
            await jobs.announce(tx, self.settings,
                                f"⚠️ {incident.ref}: nobody of escalation step {int(row['step']) + 1} could be reached.",
                                incident_id=incident_id, room=True)


def _set_if(nid: int, states: tuple[str, ...], **values: Any) -> Commit:
    async def commit(tx: Tx) -> None:
        row = await tx.notifications.get(nid, lock=True)
        if row is not None and row["state"] in states:
            await tx.notifications.set(nid, **values)

    return commit
