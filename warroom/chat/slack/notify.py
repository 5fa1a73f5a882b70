"""Outbox handlers that reach people in Slack outside the war room's own channel: paged responders (invited to
the war room and messaged directly, then reminded until the incident is acknowledged) and stakeholders.

Direct messages go to the person's user id (Slack posts them in the app's conversation with that person).
A reminder round is recorded per person (``pages.notified``), so a retried job never reminds twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from warroom.adapters.errors import Permanent
from warroom.adapters.ports import ChatPort
from warroom.chat.slack import blocks
from warroom.core.jobs import PAGE_NOTIFY, PAGE_REMIND, STAKEHOLDER_NOTIFY
from warroom.core.model import Incident, LinkKind, Status
from warroom.response import jobs
from warroom.response.oncall.messages import Page
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job, NotReady

log = logging.getLogger("warroom.notify")


@dataclass
class Notify:
    settings: Settings
    store: Store
    chat: ChatPort

    def handlers(self) -> dict[str, Handler]:
        return {PAGE_NOTIFY: self.page, PAGE_REMIND: self.remind, STAKEHOLDER_NOTIFY: self.stakeholder}

    async def _where(self, incident_id: int) -> tuple[Incident, str | None, str]:
        """The incident, its war-room channel id (None if it has no Slack war room) and a line saying where to go."""
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            links = await tx.links.all(incident_id)
        if incident is None:
            raise LookupError(f"incident {incident_id} does not exist")
        channel = links.get(LinkKind.SLACK_CHANNEL)
        bridge = links.get(LinkKind.BRIDGE)
        where = f" Join the war room: <#{channel.remote_id}>." if channel else ""
        if bridge is not None and bridge.url:
            where += f" Bridge: {bridge.url}"
        return incident, channel.remote_id if channel else None, where

    async def page(self, job: Job) -> Commit | None:
        """Invite the paged people into the war room and message each of them."""
        incident_id = job.incident
        incident, channel, where = await self._where(incident_id)
        if channel is None:
            async with self.store.read() as tx:
                if await tx.links.get(incident_id, LinkKind.TEAMS_CHANNEL) is not None:
                    return None  # a Teams-only war room: the war-room line mentions them there
            raise NotReady("warroom", "the war-room channel does not exist yet")
        async with self.store.read() as tx:
            room = await tx.links.get(incident_id, LinkKind.SLACK_CHANNEL)
        archived = room is not None and room.remote_id == channel and bool(room.data.get("archived"))
        if archived and incident.status is not Status.RESOLVED:
            raise NotReady("warroom", "the war-room channel is archived and being opened again")
        emails = [str(e) for e in job.payload.get("emails", [])]
        found = await self.chat.lookup_users(emails)
        if found and not archived:
            await self.chat.invite(channel, sorted(set(found.values())))
        text = (f"📟 You are paged into {incident.ref} ({incident.priority or 'no priority'}, {incident.service}): "
                f"{blocks.escape(incident.title)}.{where}")
        for user_id in found.values():
            await self.chat.post_message(user_id, text)
        missing = [e for e in emails if e not in found]

        async def commit(tx: Tx) -> None:
            await tx.pages.notified(incident_id, list(found))
            if missing:
                await jobs.say(tx, incident_id, f"⚠️ Nobody in Slack has the address {', '.join(missing)}: "
                                                "they were not reached. Page them another way.")

        return commit

    async def remind(self, job: Job) -> Commit | None:
        """Remind paged people who have not been reminded too often, while the incident is not acknowledged."""
        incident_id = job.incident
        timer = str(job.payload.get("timer") or f"page:{incident_id}")
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            paged = await tx.pages.all(incident_id)
        limit = self.settings.response.page_max_notifications
        due = [p for p in paged if int(p["notified"]) < limit]
        if incident is None or incident.status is not Status.TRIGGERED or not due:
            async def stop(tx: Tx) -> None:
                await tx.timers.cancel(timer)

            return stop
        _, _, where = await self._where(incident_id)
        found = await self.chat.lookup_users([str(p["email"]) for p in due])
        minutes = int((incident.updated_at - incident.created_at).total_seconds() // 60)
        text = (f"⏰ Reminder: {incident.ref} is still not acknowledged ({incident.priority or 'no priority'}, "
                f"{incident.service}, open {minutes} min): {blocks.escape(incident.title)}.{where}")
        for user_id in found.values():
            await self.chat.post_message(user_id, text)

        async def commit(tx: Tx) -> None:
            await tx.pages.notified(incident_id, [str(p["email"]) for p in due])

        return commit

    async def stakeholder(self, job: Job) -> Commit | None:
        incident_id = job.incident
        incident, _, where = await self._where(incident_id)
        kind, ref = str(job.payload.get("kind")), str(job.payload.get("ref"))
        target = ref.removeprefix("slack:")
        if kind == "email":
            found = await self.chat.lookup_users([ref])
            if ref not in found:
                return None
            target = found[ref]
        elif not ref.startswith("slack:"):
            return None  # a stakeholder of another chat
        text = (f"📣 You are kept informed of {incident.ref} ({incident.priority or 'no priority'}, "
                f"{incident.service}): {blocks.escape(incident.title)}. Status updates will follow here.{where}")
        try:
            await self.chat.post_message(target, text)
        except Permanent as exc:
            reason = exc.reason

            async def tell(tx: Tx) -> None:
                hint = " Invite the warroom app to that channel." if "not_in_channel" in reason else ""
                await jobs.say(tx, incident_id, f"⚠️ Could not reach stakeholder {ref}: {reason}.{hint}")

            return tell
        return None


@dataclass
class SlackPager:
    """On-call pages by Slack DM with an Acknowledge button (:class:`warroom.response.oncall.notify.Sender`); the
    paged person is invited into the war room when it exists."""

    store: Store
    chat: ChatPort

    async def send(self, page: Page) -> str | None:
        found = await self.chat.lookup_users([page.email])
        user_id = found.get(page.email)
        if user_id is None:
            raise Permanent("slack", f"nobody in Slack has the address {page.email}")
        async with self.store.read() as tx:
            room = await tx.links.get(page.incident.id, LinkKind.SLACK_CHANNEL)
        open_room = room is not None and not room.data.get("archived")
        where = f" Join the war room: <#{room.remote_id}>." if room is not None and open_room else ""
        text = f"📟 You are paged for {blocks.escape(page.headline)}.{where}"
        message: list[dict[str, Any]] = [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [{
                "type": "button", "action_id": blocks.PAGE_ACK, "value": str(page.id), "style": "danger",
                "text": {"type": "plain_text", "text": "Acknowledge"},
            }]},
        ]
        ref = await self.chat.post_message(user_id, text, blocks=message)
        if room is not None and open_room:  # the page first, the invitation after: waking someone comes first
            try:
                await self.chat.invite(room.remote_id, [user_id])
            except Permanent as exc:
                log.info("could not invite %s into %s: %s", page.email, page.incident.ref, exc.reason)
        return ref.ts

    async def find(self, page: Page, since: datetime) -> str | None:
        return None  # a DM cannot be searched by metadata: a page cut off mid-send may be sent twice
