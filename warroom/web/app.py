"""The composition root: settings, store, adapters, workers and the aiohttp application are built here and
passed in — nothing is built at import. Tests and the demo call :func:`create_app` with the sandbox's URLs."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from sqlalchemy import text

from warroom.adapters.errors import AdapterError, Permanent
from warroom.adapters.observe import CallObserver, ignore
from warroom.adapters.ports import BridgePort, ChatPort, ItsmPort
from warroom.chat.slack.assistant import AiPosts
from warroom.chat.slack.fanout import FanOut
from warroom.chat.slack.notify import Notify, SlackPager
from warroom.chat.slack.statuspage_cards import StatusDraftCards
from warroom.chat.slack.task_cards import TaskCards
from warroom.core import safejson
from warroom.core.jobs import (
    AI_ANSWER,
    AI_NOTIFY,
    AI_POST,
    AI_SUMMARY,
    ONCALL_NOTIFY,
    ONCALL_STEP,
    PAGE_NOTIFY,
    RECONCILE,
    STAKEHOLDER_NOTIFY,
    STATUSPAGE_DRAFT,
    STATUSPAGE_DRAFT_CARD,
    TASK_RFC_PULL,
    TASK_RFC_PUSH,
    TEAMS_STATUSPAGE_DRAFT_CARD,
)
from warroom.core.model import Incident, LinkKind
from warroom.response import jobs, related
from warroom.response import tasks as task_follow_ups
from warroom.response.ai.jobs import AiJobs
from warroom.response.incidents import IncidentService
from warroom.response.oncall.escalation import Escalations, available_methods
from warroom.response.oncall.notify import Notifier, Sender
from warroom.response.oncall.senders import EmailSender, EveryChat, SmsSender, VoiceSender
from warroom.response.statuspages import StatusPageJobs
from warroom.response.statuspages.drafts import StatusDrafts
from warroom.response.statuspages.maintenance import MaintenanceJobs
from warroom.response.statuspages.remote import StatuspageMirror, mirrored
from warroom.response.statuspages.subscribers import SubscriberJobs, Webhooks
from warroom.settings import ServiceSettings, Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Job, OutboxWorker
from warroom.store.timers import TimerRunner
from warroom.sync.engine import EscalationRefused, SyncEngine
from warroom.sync.link import LinkEngine
from warroom.sync.rfc import RfcSync

from . import (
    changes,
    intake,
    itsm_webhook,
    logs,
    oncall,
    oncall_calendars,
    postmortems,
    status_subscribers,
    statuspages,
)
from . import metrics as metrics_http
from .body import SLACK_MAX_BODY, TEAMS_MAX_BODY, BodyRefused, check_slack_signature, read_body, slack_body_ok
from .console import auth as console_auth
from .console import pages as console_pages
from .metrics import Metrics

if TYPE_CHECKING:
    from warroom.adapters.microsoft.connector import BotConnector
    from warroom.adapters.microsoft.graph import TeamsGraph
    from warroom.adapters.statuspage import StatuspageClient

log = logging.getLogger("warroom.web")

RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime")


@dataclass
class Ports:
    chat: ChatPort | None = None
    itsm: ItsmPort | None = None
    bridges: dict[str, BridgePort] = field(default_factory=dict)
    closers: list[Any] = field(default_factory=list)
    #: Microsoft Teams' outbound side (Graph: rooms, people, meetings; the Bot Connector: posts and card edits).
    teams_graph: TeamsGraph | None = None
    teams_connector: BotConnector | None = None
    #: Atlassian Statuspage, when a status page is mirrored there.
    statuspage: StatuspageClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings, *, observe: CallObserver = ignore) -> Ports:
        """The real adapters, for every system the configuration uses; ``observe`` hears each attempt at an outside
        call (the metrics' counter)."""
        ports = cls()
        if settings.slack.enabled and settings.slack.bot_token is not None:
            from warroom.adapters.slack_api import SlackChat

            ports.chat = SlackChat(
                settings.slack.bot_token.get_secret_value(),
                base_url=settings.slack.api_url,
                team_url=settings.slack.team_url,
                observe=observe,
            )
        uses = {s.bridge for s in settings.services}
        if settings.xurrent.enabled and any(s.itsm.enabled for s in settings.services):
            from warroom.adapters.xurrent import XurrentClient

            ports.itsm = client = XurrentClient.from_settings(settings.xurrent, observe=observe)
            ports.closers.append(client)
        if "zoom" in uses:
            from warroom.adapters.zoom import ZoomBridge

            ports.bridges["zoom"] = zoom = ZoomBridge.from_settings(settings.zoom, observe=observe)
            ports.closers.append(zoom)
        if "webex" in uses:
            from warroom.adapters.webex import WebexBridge

            ports.bridges["webex"] = webex = WebexBridge.from_settings(settings.webex, observe=observe)
            ports.closers.append(webex)
        if settings.teams.enabled:
            from warroom.adapters.microsoft.connector import BotConnector
            from warroom.adapters.microsoft.graph import TeamsGraph, TeamsMeetings

            ports.teams_graph = graph = TeamsGraph.from_settings(settings.teams, observe=observe)
            ports.teams_connector = connector = BotConnector.from_settings(settings.teams, observe=observe)
            ports.closers.extend([graph, connector])
            if "teams" in uses:
                ports.bridges["teams"] = TeamsMeetings(graph, settings.teams.meeting_organizer)
        if settings.statuspage.api_key is not None and any(mirrored(p) for p in settings.status_pages):
            from warroom.adapters.statuspage import StatuspageClient

            # few retries inline: the outbox retries the push job with backoff, honouring longer Retry-Afters
            ports.statuspage = statuspage = StatuspageClient.from_settings(
                settings.statuspage, observe=observe, max_retries=1, max_inline_wait=2.0)
            ports.closers.append(statuspage)
        return ports

    async def aclose(self) -> None:
        for closer in self.closers:
            await closer.aclose()


@dataclass
class Runtime:
    """Everything one warroom process runs, built from settings."""

    settings: Settings
    store: Store
    ports: Ports
    metrics: Metrics
    incidents: IncidentService
    worker: OutboxWorker
    timers: TimerRunner
    sync: SyncEngine | None = None
    #: The AI responder's jobs (its assistant: summaries, answers, causes, postmortems).
    ai: AiJobs | None = None

    @classmethod
    def build(cls, settings: Settings, *, store: Store | None = None, ports: Ports | None = None) -> Runtime:
        store = store or Store.from_url(settings.database.url)
        metrics = Metrics()
        ports = ports or Ports.from_settings(settings, observe=metrics.outbound_call)
        handlers = FanOut(settings, store, ports.chat, ports.bridges).handlers()
        if ports.chat is not None:
            handlers.update(Notify(settings, store, ports.chat).handlers())
            handlers.update(TaskCards(store, ports.chat).handlers())
            handlers.update(AiPosts(store, ports.chat).handlers())
            handlers.update(StatusDraftCards(settings, store, ports.chat).handlers())
        if ports.teams_graph is not None and ports.teams_connector is not None:
            from warroom.chat.teams.fanout import TeamsFanOut

            handlers.update(TeamsFanOut(settings, store, ports.teams_graph, ports.teams_connector).handlers())
            from warroom.chat.teams.task_cards import TeamsTaskCards

            handlers.update(TeamsTaskCards(store, ports.teams_connector).handlers())
            from warroom.chat.teams.statuspage_cards import TeamsStatusDraftCards

            handlers.update(TeamsStatusDraftCards(settings, store, ports.teams_connector).handlers())
        sync: SyncEngine | None = None
        if ports.itsm is not None:
            handlers.update(LinkEngine(settings, store, ports.itsm, on_linked=jobs.link_added).handlers())

            async def declared(tx: Tx, incident: Incident, svc: ServiceSettings) -> None:
                await jobs.enqueue_fanout(tx, incident, svc, settings)

            async def changed(tx: Tx, incident: Incident, fields: set[str], lines: list[str]) -> None:
                await jobs.itsm_changed(tx, incident, fields, lines, settings=settings)

            sync = SyncEngine(settings, store, ports.itsm, on_changed=changed, on_declared=declared,
                              on_conflict=metrics.conflict)
            handlers.update(sync.handlers())

            async def task_rfc_changed(tx: Tx, incident_id: int, task_id: int, lines: list[str]) -> None:
                # the task's card, the incident card's count of open tasks and the owner's reminders follow
                await jobs.task_card_changed(tx, task_id)
                for line in lines:
                    await jobs.say(tx, incident_id, line)

            handlers.update(RfcSync(sync, on_changed=task_rfc_changed).handlers())
        senders = _page_senders(settings, store, ports, metrics.outbound_call)
        handlers.update(_paging(settings, store, ports, available_methods(settings)).handlers())
        handlers.update(Notifier(settings, store, senders).handlers())
        handlers.update(_task_follow_ups(settings, store, ports).handlers())
        handlers.update(StatusPageJobs(settings, store).handlers())
        handlers.update(_status_subscribers(settings, store, ports, metrics.outbound_call).handlers())
        handlers.update(StatuspageMirror(settings, store, ports.statuspage).handlers())
        handlers.update(MaintenanceJobs(settings, store).handlers())
        handlers.update(related.RelatedJobs(settings).handlers())
        ai = AiJobs.build(settings, store, metrics.registry, itsm=ports.itsm, observe=metrics.outbound_call)
        handlers.update(ai.handlers())
        handlers.update(StatusDrafts(settings, store, ai.assistant.client, ports.itsm).handlers())
        ports.closers.append(ai)
        w = settings.worker

        async def on_dead(tx: Tx, job: Job, reason: str) -> None:
            await report_dead_job(tx, job, reason, settings)

        worker = OutboxWorker(
            store,
            handlers,
            concurrency=w.concurrency,
            poll_interval=w.poll_interval,
            lease=w.lease_seconds,
            max_attempts=w.max_attempts,
            backoff_base=w.backoff_base,
            backoff_max=w.backoff_max,
            on_dead=on_dead,
            observe=metrics.observe_job,
            urgent=(ONCALL_STEP, ONCALL_NOTIFY),
        )
        return cls(settings, store, ports, metrics, IncidentService(settings, store), worker, TimerRunner(store), sync,
                   ai)

    async def start(self, *, workers: bool = True) -> None:
        if self.settings.database.auto_migrate or self.store.dialect == "sqlite":
            await self.store.migrate()
        if self.store.dialect == "sqlite":
            # One process owns an SQLite file: jobs left running by a crashed run are ours to take back now.
            async with self.store.tx() as tx:
                released = await tx.outbox.release_running()
            if released:
                log.info("took back %d jobs left running by the previous run", released)
        if self.sync is not None and self.settings.xurrent.reconcile_seconds:
            every = self.settings.xurrent.reconcile_seconds
            async with self.store.tx() as tx:
                await tx.timers.schedule(RECONCILE, RECONCILE, delay=every, interval=every)
        async with self.store.tx() as tx:
            await task_follow_ups.schedule_digest(tx, self.settings)
        if workers:
            self.worker.start()
            self.timers.start()

    async def stop(self) -> None:
        await self.worker.stop()
        await self.timers.stop()
        await self.ports.aclose()
        await self.store.dispose()


def _status_subscribers(settings: Settings, store: Store, ports: Ports, observe: CallObserver) -> SubscriberJobs:
    """The status pages' deliveries to their subscribers: emails through the relay (``smtp.host``), webhooks."""
    mailer = None
    if settings.smtp.host:
        from warroom.adapters.smtp import Mailer

        mailer = Mailer(settings.smtp, observe=observe)
    webhooks = Webhooks(settings.status_subscribers.timeout, observe=observe)
    ports.closers.append(webhooks)
    return SubscriberJobs(settings, store, mailer, webhooks)


def _task_follow_ups(settings: Settings, store: Store, ports: Ports) -> task_follow_ups.TaskFollowUps:
    """Task reminders and the weekly digest, with the direct messages of every chat that is on."""
    dms: list[task_follow_ups.DirectMessage] = []
    if ports.chat is not None:
        dms.append(task_follow_ups.slack_dm(ports.chat))
    graph, connector = ports.teams_graph, ports.teams_connector
    if graph is not None and connector is not None:
        from warroom.chat.teams import cards
        from warroom.chat.teams.notify import TeamsPager

        pager = TeamsPager(settings, store, graph, connector)

        async def teams_dm(email: str, line: str) -> bool:
            user = (await graph.lookup_users([email])).get(email.lower())
            if user is None:
                return False
            conversation = await pager.open_chat(user)
            await connector.send(conversation, cards.line_message(line, line=True))
            return True

        dms.append(teams_dm)
    return task_follow_ups.TaskFollowUps(settings, store, dms, ports.chat)


def _paging(settings: Settings, store: Store, ports: Ports, methods: frozenset[str]) -> Escalations:
    """The escalation steps' job, with the chats' user groups it may page and the methods that can send."""
    slack = ports.chat
    graph = ports.teams_graph

    async def group_members(chat: str, group: str) -> list[tuple[str, str]] | None:
        client = getattr(slack, "client", None)
        if chat == "slack" and client is not None:
            from warroom.chat.slack.app import SlackEdge

            return await SlackEdge(client).group_members(group)
        if chat == "teams" and graph is not None:
            try:  # an Entra group's users (a transient failure retries the step)
                return [(u.email, u.name) for u in await graph.group_members(group)]
            except Permanent as exc:  # said in the war room as a step that found nobody
                log.warning("could not read the members of the Teams group %s: %s", group, exc.reason)
        return None

    return Escalations(settings, store, group_members, methods)


def _page_senders(settings: Settings, store: Store, ports: Ports, observe: CallObserver) -> dict[str, Sender]:
    """How pages can go out with this configuration: chat (Slack DMs, Teams chats, or both: every chat that has the
    person), email (``smtp.host``), SMS and calls (``twilio.enabled``)."""
    senders: dict[str, Sender] = {}
    chats: dict[str, Sender] = {}
    if ports.chat is not None:
        chats["slack"] = SlackPager(store, ports.chat)
    if ports.teams_graph is not None and ports.teams_connector is not None:
        from warroom.chat.teams.notify import TeamsPager

        chats["teams"] = TeamsPager(settings, store, ports.teams_graph, ports.teams_connector)
    if len(chats) > 1:
        senders["chat"] = EveryChat(chats)
    elif chats:
        senders["chat"] = next(iter(chats.values()))
    if settings.smtp.host:
        from warroom.adapters.smtp import Mailer

        senders["email"] = EmailSender(Mailer(settings.smtp), settings.server.public_url)
    if settings.twilio.enabled:
        from warroom.adapters.twilio import Twilio

        twilio = Twilio.from_settings(settings.twilio, observe=observe)
        ports.closers.append(twilio)
        senders["sms"], senders["voice"] = SmsSender(twilio), VoiceSender(twilio)
    return senders


#: What a dead job failed to do, in words for the war room.
_WHAT = {
    jobs.CREATE_CHANNEL: "create the war-room channel in Slack",
    jobs.ANNOUNCE: "post in the Slack incidents channel",
    jobs.TEAMS_ANNOUNCE: "post in the Teams incidents channel",
    jobs.ARCHIVE: "archive the war-room channel",
    jobs.UNARCHIVE: "open the archived war-room channel again",
    jobs.CREATE_REQUEST: "create the linked Xurrent request",
    jobs.CREATE_BRIDGE: "start the bridge",
    jobs.INVITE: "invite the responders",
    jobs.BOOKMARK: "add a bookmark",
    jobs.TOPIC: "set the channel topic",
    jobs.PIN: "pin the incident card",
    jobs.REFRESH_CARD: "update the incident card",
    jobs.PUSH_REQUEST: "write the incident's changes to the linked Xurrent request",
    jobs.PULL_REQUEST: "read the linked Xurrent request's changes",
    TASK_RFC_PUSH: "create or update a post-incident task's Xurrent RFC",
    TASK_RFC_PULL: "read a post-incident task's Xurrent RFC",
    jobs.TEAMS_CREATE_ROOM: "open the Teams war room",
    jobs.TEAMS_ADD_MEMBERS: "add the responders to the Teams war room",
    jobs.TEAMS_POST_CARD: "post the incident card in Teams",
    jobs.TEAMS_REFRESH_CARD: "update the incident card in Teams",
    jobs.TEAMS_ARCHIVE: "archive the Teams war room",
    PAGE_NOTIFY: "reach the paged responders",
    ONCALL_STEP: "run the next step of the escalation policy",
    ONCALL_NOTIFY: "send an on-call page",
    STAKEHOLDER_NOTIFY: "reach a stakeholder",
    AI_ANSWER: "prepare the AI responder's answer",
    AI_SUMMARY: "prepare the status update",
    AI_POST: "post the AI responder's answer",
    AI_NOTIFY: "send the status update to a stakeholder",
    STATUSPAGE_DRAFT: "draft the status page update",
    STATUSPAGE_DRAFT_CARD: "post the status page draft's card in Slack",
    TEAMS_STATUSPAGE_DRAFT_CARD: "post the status page draft's card in Teams",
}


#: Dead jobs that leave an incident without a war room (told in the incidents channel too).
_MAKES_ROOM = (jobs.CREATE_CHANNEL, jobs.TEAMS_CREATE_ROOM, jobs.UNARCHIVE)


async def report_dead_job(tx: Tx, job: Job, reason: str, settings: Settings | None = None) -> None:
    """A job that will not be retried is shown to people: on the timeline and, when it can be, in the war room; in
    the incidents channel (with ``settings``) when it leaves the incident without a war room — one that could not
    be made, or any failure of an incident that has none."""
    if job.incident_id is None:
        return
    what = _WHAT.get(job.kind, job.kind)
    command = "sync" if job.kind.startswith("itsm.") else "outbox"
    text = (f"warroom could not {what}: {reason.rstrip('.')}. Fix the cause, then run "
            f"`warroom {command} retry {job.incident_id}`.")
    await tx.timeline.add(job.incident_id, "job_failed", text, data={"job": job.id, "kind": job.kind})
    if job.kind not in (jobs.SAY, jobs.CREATE_CHANNEL, jobs.TEAMS_SAY, jobs.TEAMS_CREATE_ROOM, jobs.UNARCHIVE):
        # said once the war room exists, if it does not yet
        await jobs.say(tx, job.incident_id, f"⚠️ {text}")
    if settings is not None and job.kind not in (jobs.ANNOUNCE, jobs.TEAMS_ANNOUNCE):
        links = await tx.links.all(job.incident_id)
        roomless = LinkKind.SLACK_CHANNEL not in links and LinkKind.TEAMS_CHANNEL not in links
        if job.kind in _MAKES_ROOM or roomless:
            await jobs.war_room_failed(tx, job.incident_id, text, settings)


def create_app(
    settings: Settings, *, runtime: Runtime | None = None, workers: bool = True, preflight: bool = False
) -> web.Application:
    """The aiohttp application: Slack endpoints, alert intake, health, readiness and metrics. ``preflight``
    (``serve``): once started, check every outside system in the background, failures logged as warnings."""
    rt = runtime or Runtime.build(settings)
    app = web.Application(client_max_size=settings.intake.max_body_bytes)
    app[RUNTIME] = rt

    async def on_startup(_app: web.Application) -> None:
        await rt.start(workers=workers)

    async def on_cleanup(_app: web.Application) -> None:
        await rt.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    if preflight:
        from warroom import preflight as online

        online.attach(app, settings)

    escalate = None
    if rt.sync is not None:
        sync = rt.sync

        async def escalate(request_id: int, actor: str) -> str:
            async with rt.store.read() as tx:
                link = await tx.links.find(LinkKind.XURRENT_REQUEST, str(request_id))
            if link is not None:
                return f"Xurrent request #{request_id} is already linked to INC-{link.incident_id}."
            try:
                commit = await sync.escalation(request_id, actor=actor, asked=True)
            except EscalationRefused as exc:
                return str(exc)
            except AdapterError as exc:
                return f"Xurrent request #{request_id} could not be read: {exc.reason}"
            if commit is None:
                return f"Xurrent request #{request_id} was created by warroom; it belongs to its incident already."
            async with rt.store.tx() as tx:
                await commit(tx)
                link = await tx.links.find(LinkKind.XURRENT_REQUEST, str(request_id))
            assert link is not None
            return f"INC-{link.incident_id} declared from Xurrent request #{request_id}; its war room is being opened."

    if settings.slack.enabled and rt.ports.chat is not None:
        from warroom.chat.slack.app import create_slack_app

        bolt = create_slack_app(settings, rt.incidents, rt.ports.chat.client, escalate)  # type: ignore[attr-defined]

    if settings.slack.enabled and rt.ports.chat is not None and settings.slack.mode == "socket":
        from warroom.chat.slack import socket as slack_socket

        # no /slack/events: warroom opens the connection to Slack (on startup, after the runtime; closed on shutdown)
        slack_socket.mount(app, bolt, settings.slack)
    elif settings.slack.enabled and rt.ports.chat is not None:
        signing_secret = settings.slack.signing_secret
        assert signing_secret is not None
        refusals = logs.slack_refusals(app)

        async def slack_events(request: web.Request) -> web.Response:
            # checked on the raw bytes before slack-bolt parses anything: an unsigned body (not even UTF-8, say)
            # is refused as unsigned; a signed one that does not parse is Slack's bug, said plainly
            try:
                body = await read_body(request, SLACK_MAX_BODY)
                check_slack_signature(request, body, signing_secret.get_secret_value())
                slack_body_ok(body, request.content_type)
            except BodyRefused as exc:
                if exc.status == 401:
                    refusals.refused(request.remote)
                return exc.response()
            bolt_request = await to_bolt_request(request)
            return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

        app.router.add_post("/slack/events", slack_events)

    if settings.teams.enabled:
        from warroom.chat.teams import endpoint as teams_app

        # replies carry the same Bot Connector token as the outbound side's posts
        bot_token = rt.ports.teams_connector.token.cache.get if rt.ports.teams_connector is not None else None
        endpoint = teams_app.create_teams_endpoint(
            settings, rt.incidents, rt.store, connector_token=bot_token, escalate=escalate
        )
        async def read_activity(request: web.Request) -> Any:
            try:
                return safejson.loads(await read_body(request, TEAMS_MAX_BODY), "a Bot Framework activity as JSON")
            except BodyRefused as exc:
                return exc.response()
            except safejson.JsonRefused as exc:
                return web.json_response({"error": exc.reason}, status=400)

        teams_app.mount(app, endpoint, read_activity)

    intake.mount(app, rt)
    changes.mount(app, rt)
    postmortems.mount(app, rt)
    statuspages.mount(app, rt)  # /status/…: the built-in status pages and their feeds
    status_subscribers.mount(app, rt)  # /status/…/subscribe, confirm, unsubscribe: the pages' email subscribers
    oncall_calendars.mount(app, rt)  # /oncall/calendars/…: signed iCalendar feeds
    oncall.mount(app, rt)
    console_auth.mount(app, rt.settings)  # /console/signin, /callback, /signout: signing in (OpenID Connect)
    console_pages.mount(app, rt)  # /console, /console/incidents/{id}, /console/oncall: the web console's pages
    if rt.sync is not None:
        itsm_webhook.mount(app, rt)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            async with rt.store.read() as tx:
                await tx.conn.execute(text("SELECT 1"))
        except Exception as exc:
            return web.json_response({"status": "unavailable", "reason": f"database: {type(exc).__name__}"}, status=503)
        return web.json_response({"status": "ready"})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics_http.mount(app, rt)  # /metrics (or its own listener), webhook deliveries counted
    logs.mount(app, rt)  # the start-up summary, once the runtime has started
    return app
