"""The AI responder's outbox jobs: the assistant (warroom.ai) asked about an incident, and its answer posted.

- ``ai.answer`` — ``summary``, ``ask``, ``rca`` or ``postmortem`` asked in chat (and the postmortem when the incident
  resolves): build the context, ask the assistant (the model, or the deterministic engine — with its per-call
  deadline, so a slow model delays one post, never a command), and post the answer in the war room. The model's
  answer to a question about logs or metrics ends, as the deterministic one does, with the sources that could not
  be read (added here, not asked of the model).
- ``ai.changed`` — a significant change: the status update that tells it, ``ai.change_summary_seconds`` later
  (changes meanwhile coalesce into it), the periodic timer kept at the priority's cadence (``ai.auto_summaries``);
  and once the incident is resolved, its postmortem draft unless one was drafted since (``ai.postmortem_on_resolve``).
- ``ai.summary`` — an automatic status update (the periodic timer, or ``ai.changed``): posted to the war room and
  sent to the stakeholders. One per incident at a time: the transaction that records it checks, under the
  incident's lock, that no other update was recorded since this one was begun — so a timer and a change firing
  together, a retried job or two processes never post twice. An update that would say nothing new (no
  significant change since the last one; a periodic one right after another) is not posted.

Answers are the assistant's neutralised plain text. They reach the war room as ``ai.post`` jobs (Slack, in the
war-room line format of warroom.core.markup, with the postmortem's follow-ups as data for the Slack front end to
render) and ``teams.say`` jobs; stakeholders get ``ai.notify`` jobs. Those are delivered by the chat front ends
(the Slack front end's assistant module), not here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import select

from warroom.adapters.errors import Permanent
from warroom.adapters.observe import CallObserver, ignore
from warroom.adapters.ports import ItsmPort
from warroom.ai import AiMetrics, Answer, Assistant, IncidentContext, Postmortem, build_client, evidence_scope
from warroom.ai.safety import allowed_from, neutralise
from warroom.core import markup
from warroom.core.jobs import AI_ANSWER, AI_CHANGED, AI_NOTIFY, AI_POST, AI_SUMMARY, TEAMS_SAY
from warroom.core.model import Incident, LinkKind, RoleHolder, Status
from warroom.response import jobs, postmortem_link
from warroom.response.ai import schedule as ai_schedule
from warroom.response.ai.context import load_context
from warroom.response.ai.evidence import EvidenceReader
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.postmortems import DRAFT, IN_REVIEW, PUBLISHED
from warroom.store.schema import timeline, timers

log = logging.getLogger("warroom.ai_jobs")



def signature(incident: Incident, roles: dict[str, RoleHolder]) -> dict[str, Any]:
    """What a status update is about: a change here is worth an update of its own."""
    return {
        "status": incident.status.value,
        "priority": incident.priority,
        "roles": {role: h.email or h.chat_user or h.display for role, h in sorted(roles.items())},
    }


@dataclass(frozen=True, slots=True)
class LastUpdate:
    id: int
    at: datetime
    data: dict[str, Any]


async def last_update(tx: Tx, incident_id: int) -> LastUpdate | None:
    """The incident's latest automatic status update."""
    rows = await tx.conn.execute(
        select(timeline.c.id, timeline.c.at, timeline.c.data)
        .where(timeline.c.incident_id == incident_id, timeline.c.kind == "summary")
        .order_by(timeline.c.id.desc())
    )
    for row in rows:
        if (row.data or {}).get("auto"):
            return LastUpdate(int(row.id), row.at, dict(row.data))
    return None


async def summary_timer(tx: Tx, incident_id: int) -> dict[str, Any] | None:
    row = (
        await tx.conn.execute(select(timers).where(timers.c.key == ai_schedule.timer_key(incident_id)))
    ).mappings()
    found = row.first()
    return dict(found) if found else None


async def post_line(
    tx: Tx,
    incident_id: int,
    text: str,
    *,
    line: str | None = None,
    postmortem: dict[str, Any] | None = None,
) -> None:
    """The assistant's ``text`` (neutralised plain text) in the war room: in Slack as a war-room line (``line``
    when given, already in that format; else the text with its links, warroom.core.markup) — with the postmortem's
    reference, link and follow-ups as data when it announces one —, in Teams as plain text (the Teams line
    escapes it)."""
    chats = await jobs.war_room_chats(tx, incident_id)
    if "slack" in chats:
        payload: dict[str, Any] = {"text": line if line is not None else markup.with_links(text)}
        if postmortem:
            payload["postmortem"] = postmortem
        await tx.outbox.enqueue(AI_POST, payload, incident_id=incident_id, ordering_key=f"say:{incident_id}")
    if "teams" in chats:
        await tx.outbox.enqueue(
            TEAMS_SAY, {"text": text}, incident_id=incident_id, ordering_key=f"teams-say:{incident_id}"
        )


def _asker(actor: str | None) -> tuple[str, str]:
    """(Slack mrkdwn, plain text) naming who asked."""
    if actor and actor.startswith("slack:"):
        return f"<@{actor.removeprefix('slack:')}>", "someone in Slack"
    if actor and actor.startswith("teams:"):
        return "someone in Teams", "someone in Teams"
    return "someone", "someone"


def _footer(markdown: str) -> str:
    """The draft's last line: who wrote it (the model or the deterministic engine, and why)."""
    lines = [line for line in markdown.strip().splitlines() if line.strip()]
    return lines[-1].strip().strip("_") if lines else ""


class AiJobs:
    """The AI responder's outbox handlers. Build with :meth:`build` in the composition root."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        assistant: Assistant,
        *,
        itsm: ItsmPort | None = None,
        evidence: EvidenceReader | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.assistant = assistant
        self.itsm = itsm
        #: the logs and metrics sources (evidence.sources), one set of HTTP clients for the process
        self.evidence = evidence

    @classmethod
    def build(
        cls,
        settings: Settings,
        store: Store,
        registry: CollectorRegistry,
        *,
        itsm: ItsmPort | None = None,
        observe: CallObserver = ignore,
    ) -> AiJobs:
        """The assistant with its metrics on ``registry``; a model client when ``ai.enabled`` (``observe`` hearing
        each HTTP attempt at the model endpoint)."""
        metrics = AiMetrics(registry)
        client = build_client(settings.ai, metrics=metrics, observe=observe)
        return cls(settings, store, Assistant(settings.ai, client, metrics=metrics), itsm=itsm,
                   evidence=EvidenceReader(settings, observe=observe))

    async def aclose(self) -> None:
        if self.assistant.client is not None:
            await self.assistant.client.aclose()
        if self.evidence is not None:
            await self.evidence.aclose()

    def handlers(self) -> dict[str, Handler]:
        return {AI_ANSWER: self.answer, AI_CHANGED: self.changed, AI_SUMMARY: self.summary}

    async def context(self, incident_id: int) -> IncidentContext | None:
        return await load_context(self.store, self.settings, incident_id, itsm=self.itsm,
                                  evidence=self.evidence if self.evidence is not None else True)

    # -- asked in chat --------------------------------------------------------------------------------
    async def answer(self, job: Job) -> Commit | None:
        incident_id = job.incident
        capability = str(job.payload.get("capability"))
        actor = job.payload.get("actor")
        ctx = await self.context(incident_id)
        if ctx is None:
            return None
        if capability == "postmortem":
            return await self._postmortem(incident_id, ctx)
        if capability == "summary":
            async with self.store.read() as tx:
                timer = await summary_timer(tx, incident_id)
                now = tx.now
            due = (
                timer["fire_at"] - now
                if timer
                else timedelta(seconds=ai_schedule.cadence_seconds(self.settings, ctx.priority))
            )
            summary = await self.assistant.summarize(ctx, now, cadence=max(due, timedelta(minutes=1)))
            text = "🤖 " + summary.render_text()
            kind, data = "summary", {"auto": False, "engine": summary.engine, "actor": actor}
            slack_text = None
        elif capability == "ask":
            question = str(job.payload.get("question") or "")
            answer = self._with_not_read(ctx, question, await self.assistant.ask(ctx, question))
            slack_who, plain_who = _asker(str(actor) if actor else None)
            text = f"🤖 Answer for {plain_who} — " + answer.render_text()
            slack_text = f"🤖 Answer for {slack_who} — " + markup.with_links(answer.render_text())
            kind, data = (
                "ai_answer",
                {"engine": answer.engine, "actor": actor, "cited": [c.ref for c in answer.citations]},
            )
        elif capability == "rca":
            causes = await self.assistant.rca(ctx)
            auto = bool(job.payload.get("auto"))
            keys = [c.key for c in causes.causes[:5]]
            if auto and (ctx.status == Status.RESOLVED.value or not keys):
                return None  # nothing to say by itself: resolved meanwhile, or no cause found yet
            text = "🤖 " + causes.render_text()
            kind, data = "ai_rca", {"engine": causes.engine, "causes": keys, "auto": auto,
                                    "also": [list(c.also) for c in causes.causes[:5]]}
            slack_text = None
            if auto:
                return self._auto_rca(incident_id, text, data)
        else:
            raise Permanent("warroom", f"the AI responder has no capability {capability!r}")

        async def commit(tx: Tx) -> None:
            await tx.timeline.add(incident_id, kind, text, actor=str(actor) if actor else None, data=data)
            await post_line(tx, incident_id, text, line=slack_text)

        return commit

    def _with_not_read(self, ctx: IncidentContext, question: str, answer: Answer) -> Answer:
        """The model's answer to a question about logs or metrics ends as the deterministic one does, with the
        sources that could not be read (``Not read: audit-loki (it did not answer within 0.5 s).``): said by
        warroom, not asked of the model — from the redacted context and the redacted question, neutralised as the
        rest of the answer."""
        if answer.engine != "model":
            return answer  # the deterministic answer says it already
        red = self.assistant.redactor.redact_context(ctx)
        note = evidence_scope.unavailable_note(red, self.assistant.redactor.redact(question))
        if note is None:
            return answer
        return replace(answer, text=answer.text + "\n" + neutralise(note, allowed_from(ctx, red)).strip())

    def _auto_rca(self, incident_id: int, text: str, data: dict[str, Any]) -> Commit:
        """The ranked causes posted by themselves — unless the leading ones (the first three, in order) are those
        posted last (by itself or asked for), checked under the incident's lock so two rankings never post twice."""

        async def commit(tx: Tx) -> None:
            if await tx.incidents.get(incident_id, lock=True) is None:
                return
            last = (
                await tx.conn.execute(
                    select(timeline.c.data)
                    .where(timeline.c.incident_id == incident_id, timeline.c.kind == "ai_rca")
                    .order_by(timeline.c.id.desc())
                    .limit(1)
                )
            ).scalar()
            if last is not None and list((last or {}).get("causes") or [])[:3] == list(data["causes"])[:3]:
                return
            await tx.timeline.add(incident_id, "ai_rca", text, data=data)
            await post_line(tx, incident_id, text)

        return commit

    async def _postmortem(self, incident_id: int, ctx: IncidentContext) -> Commit:
        draft: Postmortem = await self.assistant.postmortem(ctx)
        link = postmortem_link.url(self.settings, incident_id)
        settings = self.settings

        async def commit(tx: Tx) -> None:
            incident = await tx.incidents.get(incident_id, lock=True)
            if incident is None:
                return
            state = await tx.postmortems.state(incident_id)
            if state == IN_REVIEW:
                # people are reviewing the draft as it is: a regenerated one does not replace it
                await tx.timeline.add(incident_id, "postmortem", "Postmortem draft not regenerated: it is in review",
                                      data={"engine": draft.engine, "kept": True})
                await post_line(tx, incident_id, f"📝 The postmortem of {incident.ref} is in review, so its draft is "
                                "kept as the reviewers read it; publish it, then draft again for the next version.")
                return
            await tx.records.put_postmortem(incident_id, draft.markdown, draft.engine)
            if state == PUBLISHED:
                await tx.postmortems.set_state(incident_id, DRAFT)  # the next version's draft
            published = await tx.postmortems.version(incident_id)
            if link is not None and published is None:  # once published, the incident links the published version
                await tx.links.put(
                    incident_id, LinkKind.POSTMORTEM, str(incident_id), link, {"engine": draft.engine}
                )
            ids = [
                await tx.records.add_task(
                    incident_id, f.title[:500], details=f.description, origin="postmortem"
                )
                for f in draft.follow_ups
                if f.title.strip()
            ]
            ids = list(dict.fromkeys(ids))
            stored = {int(t["id"]): t for t in await tx.records.tasks(incident_id)}
            tasks = [stored[i] for i in ids if i in stored]
            events = await tx.timeline.for_incident(incident_id)
            await tx.timeline.add(
                incident_id,
                "postmortem",
                f"Postmortem draft written ({draft.engine}); {len(tasks)} follow-up actions proposed",
                data={"engine": draft.engine, "tasks": ids},
            )
            if link is not None and not any(
                (e.data or {}).get("postmortem") for e in events if e.kind == "note"
            ):
                # the ITSM request gets the link as a note (through the sync's note push, when note sync is on)
                await tx.timeline.add(
                    incident_id,
                    "note",
                    f"Postmortem draft of {incident.ref}: {link}",
                    data={"origin": "imr", "postmortem": True},
                )
                svc = settings.service(incident.service)
                if svc is not None and svc.itsm.note_sync:
                    await jobs.push_to_itsm(tx, incident, settings)
            await jobs.refresh_card(tx, incident_id)
            plain = f"📝 Postmortem draft for {incident.ref}" + (f": {link}" if link else "")
            if tasks:
                plain += "\nRecommended follow-up actions:\n" + "\n".join(
                    f"{n}. {t['title']}" for n, t in enumerate(tasks, 1)
                )
            await post_line(tx, incident_id, plain, postmortem={
                "ref": incident.ref, "link": link, "footer": _footer(draft.markdown),
                "tasks": [{k: t.get(k) for k in ("id", "title", "details", "status")} for t in tasks],
            })

        return commit

    # -- by themselves ------------------------------------------------------------------------------
    async def changed(self, job: Job) -> Commit | None:
        """A significant change: the status update that tells it (coalesced), the timer at the right cadence, and
        the postmortem draft when the incident is resolved and has none since."""
        incident_id = job.incident
        ai = self.settings.ai
        settings = self.settings

        async def commit(tx: Tx) -> None:
            incident = await tx.incidents.get(incident_id)
            if incident is None:
                return
            closed = incident.status is Status.RESOLVED or incident.merged_into is not None
            if (
                ai.postmortem_on_resolve
                and incident.status is Status.RESOLVED
                and incident.merged_into is None
            ):
                drafted = await tx.records.postmortem(incident_id)
                if drafted is None or (incident.resolved_at and drafted["updated_at"] < incident.resolved_at):
                    await ai_schedule.ask(tx, incident_id, "postmortem", auto=True)
            if not ai.auto_summaries:
                return
            await tx.outbox.enqueue(
                AI_SUMMARY,
                {"reason": "change"},
                incident_id=incident_id,
                dedup_key=f"ai-summary-change:{incident_id}",
                delay=ai.change_summary_seconds,
            )
            if not closed:
                every = ai_schedule.cadence_seconds(settings, incident.priority)
                timer = await summary_timer(tx, incident_id)
                if timer is None or timer["interval_s"] != every:
                    await tx.timers.schedule(
                        ai_schedule.timer_key(incident_id),
                        AI_SUMMARY,
                        delay=every,
                        interval=every,
                        incident_id=incident_id,
                        payload={"reason": "cadence"},
                    )

        return commit

    async def summary(self, job: Job) -> Commit | None:
        incident_id = job.incident
        reason = str(job.payload.get("reason") or "cadence")
        timer_key = ai_schedule.timer_key(incident_id)
        async with self.store.read() as tx:
            incident = await tx.incidents.get(incident_id)
            roles = await tx.roles.all(incident_id)
            last = await last_update(tx, incident_id)
            people = await tx.stakeholders.all(incident_id)
            now = tx.now
        if incident is None:
            return None
        closed = incident.status is Status.RESOLVED or incident.merged_into is not None
        if not self.settings.ai.auto_summaries or (reason == "cadence" and closed):

            async def stop(tx: Tx) -> None:
                await tx.timers.cancel(timer_key)

            return stop
        every = ai_schedule.cadence_seconds(self.settings, incident.priority)
        sig = signature(incident, roles)
        if last is not None:
            if reason == "change" and last.data.get("signature") == sig:
                return None  # nothing significant changed since the last update (e.g. a priority set back)
            if reason == "cadence" and now - last.at < timedelta(seconds=every / 2):
                return None  # an update went out a moment ago; the next one is due a cadence after it
        ctx = await self.context(incident_id)
        if ctx is None:
            return None
        summary = await self.assistant.summarize(
            ctx, datetime.now(UTC), cadence=None if closed else timedelta(seconds=every)
        )
        text = "🤖 " + summary.render_text()
        settings = self.settings

        async def commit(tx: Tx) -> None:
            current = await tx.incidents.get(incident_id, lock=True)
            latest = await last_update(tx, incident_id)
            if current is None or (latest.id if latest else None) != (last.id if last else None):
                return  # another update was recorded meanwhile: this one would say it twice
            await tx.timeline.add(
                incident_id,
                "summary",
                text,
                data={"auto": True, "reason": reason, "signature": sig, "engine": summary.engine},
            )
            await post_line(tx, incident_id, text)
            for who in people:
                if who.kind == "email" or who.ref.startswith("slack:"):
                    await tx.outbox.enqueue(
                        AI_NOTIFY, {"kind": who.kind, "ref": who.ref, "text": text}, incident_id=incident_id
                    )
            if current.status is Status.RESOLVED or current.merged_into is not None:
                await tx.timers.cancel(timer_key)
            else:
                # the next periodic update is due a cadence after this one (re-timed when the priority changed)
                now_every = ai_schedule.cadence_seconds(settings, current.priority)
                await tx.timers.schedule(
                    timer_key,
                    AI_SUMMARY,
                    delay=now_every,
                    interval=now_every,
                    incident_id=incident_id,
                    payload={"reason": "cadence"},
                )

        return commit
