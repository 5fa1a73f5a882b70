"""Status page updates drafted by the AI responder and approved in the war room, and a person's own text.

- **When a draft is made**: an incident whose service is on a page gets one when it is declared (``investigating``),
  when it is resolved (``resolved``, or ``monitoring`` when the service has ``status.monitoring_minutes``) and on
  request (``/incident statuspage draft [state]``). :func:`incident_changed` (called from the incident's own
  transaction) enqueues the ``statuspage.draft`` job; a page with ``auto_publish`` still gets drafts — its generic
  update is published by itself, the draft is the written follow-up.
- **The draft job** (:class:`StatusDrafts`) builds the incident's context as the AI responder does, asks
  :func:`warroom.ai.status_update.draft_update` (the configured model, else the deterministic engine; either way
  through the safety pass) and, in the transaction that finishes the job — so once, however often it is retried —
  stores a ``status_drafts`` row, supersedes the incident's older pending draft for the same page and enqueues the
  cards (``warroom.statuspage_draft_card`` for Slack, ``teams.statuspage_draft_card`` for Teams).
- **A decision** (:func:`decide`: Publish, Edit's submission, Discard) is taken under the incident's lock: a draft
  that is no longer pending, or a card showing an older ``version``, is refused with a sentence and nothing is
  published twice. Publishing goes through :func:`~warroom.response.statuspages.publish_update`, the one way text
  reaches a page; its refusal (empty, too long) is said to the clicker and nothing changes.
- **A person's own text** (:func:`publish_text`): published on the incident's service's page, its state kept unless
  given (the first one: investigating).

Who may decide or publish: the people who may change the incident's status from chat (the ``statuspage`` rule of
``response.permissions`` when one is configured, else the ``resolve`` rule). Every publish is a line on the
incident's timeline and in the war room — who, which page, which state, never the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import insert, select, update

from warroom.adapters.ports import ItsmPort
from warroom.ai.client import LlmClient
from warroom.ai.status_update import UpdateState, draft_update
from warroom.core import markup
from warroom.core.jobs import STATUSPAGE_DRAFT, STATUSPAGE_DRAFT_CARD, TEAMS_STATUSPAGE_DRAFT_CARD
from warroom.core.model import Incident, Status
from warroom.core.permissions import Asker, refusal
from warroom.response import jobs
from warroom.response.ai.context import load_context
from warroom.settings import ServiceSettings, Settings
from warroom.settings.model import StatusPageSettings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.schema import status_drafts

from . import LABELS, UPDATE_STATES, UpdateRefused, publish_update

_SLACK_MENTION = re.compile(r"<@[A-Z0-9]{2,32}>")

#: A draft's life: waiting for a person, then one of the other three for good.
PENDING, PUBLISHED, DISCARDED, SUPERSEDED = "pending", "published", "discarded", "superseded"
#: What a card's buttons ask.
PUBLISH, DISCARD = "publish", "discard"
#: The verb a refusal names (core.permissions words it "Only … may <verb> INC-1.").
VERB = "publish status page updates for"


# ---------------------------------------------------------------------------------------------- who may


@dataclass(frozen=True, slots=True)
class Person:
    """Who clicked or typed: their email (None when the chat does not give it), their chat identity
    (``slack:U1``), their name as the card and the war room show it (plain text)."""

    email: str | None
    chat_user: str
    name: str
    #: How a war-room line names them, in its markup (Slack: ``<@U1>``); None: their name, escaped.
    mention: str | None = None

    @property
    def shown(self) -> str:
        """The person in a war-room line: a Slack mention as it is, else the name escaped."""
        if self.mention and _SLACK_MENTION.fullmatch(self.mention):
            return self.mention
        return markup.escape(self.name)

    @property
    def by(self) -> str:
        """What ``publish_update`` records as the publisher: the email, else the chat identity."""
        return self.email or self.chat_user


def rules(settings: Settings) -> list[str]:
    """Who may publish: the ``statuspage`` rule, else the ``resolve`` rule (who may change the status)."""
    perms = settings.response.permissions
    return list(perms.get("statuspage") or perms.get("resolve") or [])


async def refused(tx: Tx, settings: Settings, incident: Incident, who: Person, command: str = "/incident") -> str | None:
    """None when ``who`` may publish updates about the incident; else the sentence saying who may."""
    allowed = rules(settings)
    if not allowed:
        return None
    roles = await tx.roles.all(incident.id)
    return refusal(VERB, Asker(who.email, who.chat_user), incident, roles, {VERB: allowed},
                   settings.response.groups, command=command)


# ---------------------------------------------------------------------------------------------- where


def page_of(settings: Settings, incident: Incident) -> tuple[ServiceSettings, StatusPageSettings] | None:
    """The incident's service and the page it is on (None: the service is on no page)."""
    svc = settings.service(incident.service)
    if svc is None or not svc.status.page or not svc.status.components:
        return None
    page = settings.status_page(svc.status.page)
    return (svc, page) if page is not None else None


def resolved_state(svc: ServiceSettings) -> UpdateState:
    """The state a resolve drafts: ``monitoring`` while the service has a monitoring period, else ``resolved``."""
    return "monitoring" if svc.status.monitoring_minutes > 0 else "resolved"


def page_title(page: StatusPageSettings) -> str:
    return page.title or page.name


# ---------------------------------------------------------------------------------------------- asking for drafts


async def incident_changed(tx: Tx, incident: Incident, fields: set[str], settings: Settings) -> None:
    """In the incident's transaction: a draft for its declaration (``investigating``) and for its resolve."""
    found = page_of(settings, incident)
    if found is None or incident.merged_into is not None:
        return
    svc, page = found
    if "declared" in fields:
        await enqueue(tx, incident.id, page.name, "investigating", "declared")
    elif "status" in fields and incident.status is Status.RESOLVED:
        await enqueue(tx, incident.id, page.name, resolved_state(svc), "resolved")


async def enqueue(tx: Tx, incident_id: int, page: str, state: str, reason: str) -> bool:
    """The draft job (one pending per incident, page and state); False when one is pending already."""
    queued = await tx.outbox.enqueue(
        STATUSPAGE_DRAFT, {"page": page, "reason": reason, "state": state}, incident_id=incident_id,
        ordering_key=f"statuspage-draft:{incident_id}", dedup_key=f"statuspage-draft:{incident_id}:{page}:{state}",
    )
    return queued is not None


async def card_jobs(tx: Tx, incident_id: int, draft_id: int) -> None:
    """The draft's card shown (posted, or edited in place) in every chat the war room is in — coalesced per draft."""
    chats = await jobs.war_room_chats(tx, incident_id)
    if "slack" in chats:
        await tx.outbox.enqueue(STATUSPAGE_DRAFT_CARD, {"draft": draft_id}, incident_id=incident_id,
                                ordering_key=f"statuspage-card:{incident_id}",
                                dedup_key=f"statuspage-card:{draft_id}")
    if "teams" in chats:
        await tx.outbox.enqueue(TEAMS_STATUSPAGE_DRAFT_CARD, {"draft": draft_id}, incident_id=incident_id,
                                ordering_key=f"teams-statuspage-card:{incident_id}",
                                dedup_key=f"teams-statuspage-card:{draft_id}")


# ---------------------------------------------------------------------------------------------- the draft job


@dataclass
class StatusDrafts:
    """The ``statuspage.draft`` job: ``model`` is the AI responder's client (None: the deterministic engine)."""

    settings: Settings
    store: Store
    model: LlmClient | None = None
    itsm: ItsmPort | None = None

    def handlers(self) -> dict[str, Handler]:
        return {STATUSPAGE_DRAFT: self.draft}

    async def draft(self, job: Job) -> Commit | None:
        incident_id = job.incident
        page_name = str(job.payload.get("page") or "")
        state = str(job.payload.get("state") or "investigating")
        reason = str(job.payload.get("reason") or "asked")[:64]
        page = self.settings.status_page(page_name)
        if page is None or state not in UPDATE_STATES:
            return None  # the page was removed from the settings since
        # no logs or metrics: a public update must not be drafted from internal excerpts
        ctx = await load_context(self.store, self.settings, incident_id, itsm=self.itsm, evidence=False)
        if ctx is None:
            return None
        svc = self.settings.service(ctx.service)
        components = list(svc.status.components) if svc is not None and svc.status.page == page.name else []
        url = f"{self.settings.server.public_url.rstrip('/')}/status/{page.name}"
        made = await draft_update(ctx, state=cast(UpdateState, state), components=components, model=self.model,
                                  public_urls=[url])
        removed = sorted({r.kind for r in made.removed})

        async def commit(tx: Tx) -> None:
            incident = await tx.incidents.get(incident_id, lock=True)
            if incident is None:
                return
            older = (await tx.conn.execute(
                select(status_drafts.c.id).where(status_drafts.c.incident_id == incident_id,
                                                 status_drafts.c.page == page.name,
                                                 status_drafts.c.state == PENDING)
            )).scalars().all()
            for old in older:
                await tx.conn.execute(
                    update(status_drafts).where(status_drafts.c.id == old)
                    .values(state=SUPERSEDED, decided_at=tx.now, version=status_drafts.c.version + 1)
                )
                await card_jobs(tx, incident_id, int(old))
            draft_id = (await tx.conn.execute(insert(status_drafts).values(
                incident_id=incident_id, page=page.name, status=state, body=made.text, state=PENDING, version=1,
                source=made.engine[:32], reason=reason, created_at=tx.now,
                chat={"removed": removed, "removed_count": len(made.removed), "fallback": made.fallback},
            ).returning(status_drafts.c.id))).scalar_one()
            await card_jobs(tx, incident_id, int(draft_id))

        return commit


# ---------------------------------------------------------------------------------------------- what a card shows


@dataclass(frozen=True, slots=True)
class DraftCard:
    """A draft as its card shows it, read in one transaction."""

    id: int
    incident_id: int
    incident_ref: str
    page: str
    page_title: str
    status: str  # the update state it would publish
    body: str
    state: str  # pending | published | discarded | superseded
    version: int
    source: str
    components: tuple[str, ...]
    created_at: datetime
    decided_at: datetime | None
    decided_name: str | None
    removed: tuple[str, ...]
    chat: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return LABELS.get(self.status, self.status)

    def outcome(self) -> str | None:
        """What became of the draft, as a sentence (None while it waits): "Published by Ana at 10:02 UTC"."""
        at = f" at {self.decided_at:%H:%M} UTC" if self.decided_at is not None else ""
        who = self.decided_name or "someone"
        if self.state == PUBLISHED:
            return f"Published by {who}{at}"
        if self.state == DISCARDED:
            return f"Discarded by {who}{at}"
        if self.state == SUPERSEDED:
            return "Replaced by a newer draft"
        return None

    def values(self) -> str:
        """The buttons' value: ``<draft id>:<version>``."""
        return f"{self.id}:{self.version}"


async def card_state(tx: Tx, settings: Settings, draft_id: int) -> DraftCard | None:
    row = (await tx.conn.execute(select(status_drafts).where(status_drafts.c.id == draft_id))).mappings().first()
    if row is None:
        return None
    incident = await tx.incidents.get(int(row["incident_id"]))
    if incident is None:
        return None
    page = settings.status_page(str(row["page"]))
    svc = settings.service(incident.service)
    components = tuple(svc.status.components) if svc is not None and svc.status.page == row["page"] else ()
    chat = dict(row["chat"] or {})
    return DraftCard(
        id=int(row["id"]), incident_id=incident.id, incident_ref=incident.ref, page=str(row["page"]),
        page_title=page_title(page) if page is not None else str(row["page"]), status=str(row["status"]),
        body=str(row["body"]), state=str(row["state"]), version=int(row["version"]), source=str(row["source"]),
        components=components, created_at=row["created_at"], decided_at=row["decided_at"],
        decided_name=chat.get("decided_name"), removed=tuple(chat.get("removed") or ()), chat=chat,
    )


async def remember_card(tx: Tx, draft_id: int, chat: str, where: dict[str, Any]) -> None:
    """Where a chat's card of the draft is (Slack: channel and ts; Teams: conversation and activity)."""
    row = (await tx.conn.execute(select(status_drafts.c.chat).where(status_drafts.c.id == draft_id))).first()
    if row is None:
        return
    kept = dict(row[0] or {})
    kept[chat] = where
    await tx.conn.execute(update(status_drafts).where(status_drafts.c.id == draft_id).values(chat=kept))


# ---------------------------------------------------------------------------------------------- decisions


def read_value(value: Any) -> tuple[int, int] | None:
    """A button's ``<draft id>:<version>`` → (id, version); None when it is not one."""
    draft, _, version = str(value or "").partition(":")
    if not draft.isdigit() or not version.isdigit() or len(draft) > 18 or len(version) > 9:
        return None
    return int(draft), int(version)


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision's outcome: ``ok`` when it applied; ``text`` the sentence for the clicker (a war-room line when
    ``ok``: the war room is told separately)."""

    ok: bool
    text: str
    incident_id: int | None = None


def stale(card: DraftCard) -> str:
    """Why a click on this draft's card is refused (a war-room line: the decider's name escaped)."""
    outcome = card.outcome()
    if outcome is None:
        return ("That card shows an older version of this draft; nothing was published. Use the buttons on the "
                "card as it reads now.")
    if card.state == SUPERSEDED:
        return ("That draft was replaced by a newer one; nothing was published. Use the newest draft's card, or "
                "publish your own text with `/incident statuspage <text>`.")
    shown = markup.escape(outcome[0].lower() + outcome[1:])
    return f"That draft is decided already: {shown}. Nothing more was published."


async def decide(
    store: Store, settings: Settings, draft_id: int, version: int, action: str, who: Person, *,
    text: str | None = None, state: str | None = None, command: str = "/incident",
) -> Decided:
    """Publish (``text``/``state``: Edit's submission, else the draft as it is) or discard a pending draft, under
    the incident's lock; refused with a sentence when the draft is not pending, the card is outdated, the person
    may not, or the page refuses the text."""
    async with store.tx() as tx:
        card = await card_state(tx, settings, draft_id)
        if card is None:
            return Decided(False, "That draft no longer exists; ask for a new one with `/incident statuspage draft`.")
        incident = await tx.incidents.get(card.incident_id, lock=True)
        card = await card_state(tx, settings, draft_id)  # as it is under the lock
        if incident is None or card is None:
            return Decided(False, "That draft's incident no longer exists.")
        if card.state != PENDING or card.version != version:
            return Decided(False, stale(card), incident.id)
        if (reason := await refused(tx, settings, incident, who, command)) is not None:
            return Decided(False, reason, incident.id)
        if action == DISCARD:
            await _decided(tx, card, DISCARDED, who)
            await tx.timeline.add(incident.id, "statuspage", f"Status page draft for {card.page} ({card.status}) "
                                  f"discarded by {who.name}", actor=who.chat_user,
                                  data={"page": card.page, "state": card.status, "draft": card.id})
            await card_jobs(tx, incident.id, card.id)
            return Decided(True, f"Draft discarded; nothing was published on {markup.escape(card.page_title)}.",
                           incident.id)
        status = (state or card.status).strip().lower()
        body = card.body if text is None else text
        try:
            update_id = await publish_update(tx, incident.id, card.page, status, body, who.by, settings=settings)
        except UpdateRefused as exc:  # refused before anything was written
            return Decided(False, f"{markup.escape(str(exc))} Nothing was published.", incident.id)
        await _decided(tx, card, PUBLISHED, who, update_id=update_id, status=status, body=body)
        await published_line(tx, incident, card.page, card.page_title, status, who, draft_id=card.id,
                             update_id=update_id, edited=text is not None)
        await card_jobs(tx, incident.id, card.id)
        return Decided(True, f"Published on {markup.escape(card.page_title)} ({LABELS.get(status, status)}).",
                       incident.id)


async def _decided(tx: Tx, card: DraftCard, state: str, who: Person, *, update_id: int | None = None,
                   status: str | None = None, body: str | None = None) -> None:
    chat = {**card.chat, "decided_name": who.name[:200]}
    values: dict[str, Any] = {"state": state, "decided_at": tx.now, "decided_by": who.by[:320],
                              "version": card.version + 1, "chat": chat}
    if update_id is not None:
        values["update_id"] = update_id
    if status is not None:
        values["status"] = status
    if body is not None:
        values["body"] = body
    await tx.conn.execute(update(status_drafts).where(status_drafts.c.id == card.id,
                                                      status_drafts.c.version == card.version).values(**values))


async def published_line(
    tx: Tx, incident: Incident, page: str, title: str, status: str, who: Person, *, draft_id: int | None = None,
    update_id: int | None = None, edited: bool = False,
) -> None:
    """The timeline's entry and the war room's line for a publish: who, which page, which state — not the text."""
    label = LABELS.get(status, status)
    how = "an edited draft" if edited else ("the draft" if draft_id is not None else "their own text")
    await tx.timeline.add(incident.id, "statuspage", f"Status page update published on {page} ({status}) by "
                          f"{who.name}", actor=who.chat_user,
                          data={"page": page, "state": status, "draft": draft_id, "update": update_id})
    await jobs.say(tx, incident.id, f"📣 {who.shown} published a status page update on "
                   f"*{markup.escape(title)}* ({label}, {how}).", escaped=True)


# ---------------------------------------------------------------------------------------------- from the command


def _page_refusal(incident: Incident) -> str:
    return (f"{markup.escape(incident.service)} is on no status page, so {incident.ref} has none to update: link the "
            "service to one (`services[].status.page` and its `components` in the settings).")


async def current_state(tx: Tx, page: str, incident: Incident) -> str:
    """The page incident's state now (the first update's: investigating)."""
    found = await tx.statuspages.page_incident(page, incident.id)
    return str(found["status"]) if found is not None else "investigating"


async def publish_text(
    store: Store, settings: Settings, incident: Incident, text: str, state: str | None, who: Person, *,
    command: str = "/incident",
) -> tuple[str, bool]:
    """A person's own text on the incident's service's page: (the answer, whether it was published)."""
    found = page_of(settings, incident)
    if found is None:
        return _page_refusal(incident), False
    _svc, page = found
    if state is not None and state not in UPDATE_STATES:
        return f"'{markup.escape(state[:40])}' is not an update state: use one of {', '.join(UPDATE_STATES)}.", False
    async with store.tx() as tx:
        locked = await tx.incidents.get(incident.id, lock=True)
        if locked is None:
            return f"There is no incident {incident.ref}.", False
        if (reason := await refused(tx, settings, locked, who, command)) is not None:
            return reason, False
        status = state or await current_state(tx, page.name, locked)
        try:
            update_id = await publish_update(tx, locked.id, page.name, status, text, who.by, settings=settings)
        except UpdateRefused as exc:
            return f"{markup.escape(str(exc))} Nothing was published.", False
        await published_line(tx, locked, page.name, page_title(page), status, who, update_id=update_id)
    return (f"Published on {markup.escape(page_title(page))} ({LABELS.get(status, status)}); the war room is told."),\
        True


async def ask_draft(store: Store, settings: Settings, incident: Incident, state: str | None) -> str:
    """``statuspage draft [state]``: a new draft's job (the state given, else the page's current one — or the
    resolve's state once the incident is resolved). Anyone in the war room may ask: a draft publishes nothing."""
    found = page_of(settings, incident)
    if found is None:
        return _page_refusal(incident)
    svc, page = found
    if state is not None and state not in UPDATE_STATES:
        return f"'{markup.escape(state[:40])}' is not an update state: use one of {', '.join(UPDATE_STATES)}."
    async with store.tx() as tx:
        locked = await tx.incidents.get(incident.id, lock=True)
        if locked is None:
            return f"There is no incident {incident.ref}."
        if state is None:
            state = resolved_state(svc) if locked.status is Status.RESOLVED else await current_state(
                tx, page.name, locked)
        queued = await enqueue(tx, locked.id, page.name, state, "asked")
    if not queued:
        return f"A {state} draft for {markup.escape(page_title(page))} is being written already; its card comes in a moment."
    return (f"🤖 Drafting a status page update for {markup.escape(page_title(page))} ({LABELS.get(state, state)}); "
            "its card, with Publish, Edit and Discard, comes in the war room in a moment.")
