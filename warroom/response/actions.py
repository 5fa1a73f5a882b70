"""Runs a typed command (warroom.response.commands) for a person in a chat; the Slack and Teams bots share it.

A front end verifies and parses the request, finds the incident of the war room it came from, and calls
:meth:`Actions.run` with the actor and a :class:`ChatEdge` — the little it must know of its chat: how to find a
person's email, how to show a person in a reply, how to undo its text escaping. What comes back is a
:class:`Reply`: the sentence to answer with and whether the whole war room should see it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from warroom.core import markup
from warroom.core.model import Incident, Link, LinkKind, Origin, RoleHolder, Stakeholder
from warroom.core.permissions import Asker
from warroom.core.rules import RuleError
from warroom.response import commands as cmd
from warroom.response import jobs
from warroom.response.ai import schedule as ai_schedule
from warroom.response.incidents import IncidentService
from warroom.response.postmortem import Postmortems, Reviewer
from warroom.response.responders import ResponseService
from warroom.response.statuspages import drafts as status_drafts
from warroom.response.tasks import TaskService
from warroom.settings import Settings

#: Escalates a Xurrent request by id for a person; returns the sentence to answer with.
Escalate = Callable[[int, str], Awaitable[str]]

#: Verbs that act on the incident of the war room the command is typed in.
NEEDS_WAR_ROOM: tuple[type, ...] = (
    cmd.Ack, cmd.Resolve, cmd.Reopen, cmd.Status, cmd.Priority, cmd.Title, cmd.Assign, cmd.Note,
    cmd.Role, cmd.Roles, cmd.Page, cmd.StakeholderAdd, cmd.Merge, cmd.Summary, cmd.Ask, cmd.Rca, cmd.Postmortem,
    cmd.PostmortemReview, cmd.PostmortemComment, cmd.PostmortemApprove, cmd.PostmortemPublish, cmd.PostmortemHide,
    cmd.PostmortemTime, cmd.PostmortemFact, cmd.TaskAdd, cmd.Tasks, cmd.TaskChange, cmd.StatusPagePublish,
    cmd.StatusPageDraft,
)
#: Of those, the ones that only show something (answered to the asker alone).
READ_ONLY: tuple[type, ...] = (cmd.Status, cmd.Roles, cmd.Tasks)
#: Of those, the ones the AI responder answers: the command is answered at once, the answer posted in the war room.
AI_VERBS: tuple[type, ...] = (cmd.Summary, cmd.Ask, cmd.Rca, cmd.Postmortem)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who sent the command: ``chat`` is "slack" or "teams", ``user_id`` the chat's id for them."""

    chat: str
    user_id: str
    #: How a reply names them (Slack: ``<@U123>``; Teams: their display name).
    mention: str

    @property
    def key(self) -> str:
        """How the incident's records name them: ``slack:U123``."""
        return f"{self.chat}:{self.user_id}"


class ChatEdge(Protocol):
    """What the runner needs of the chat a command came from."""

    async def email_of(self, user_id: str) -> str | None:
        """The person's email address in the chat's directory, or None."""
        ...

    def mention(self, user_id: str) -> str:
        """How a reply names a person of this chat."""
        ...

    def text(self, raw: str) -> str:
        """Free text (a note, a title) as the person typed it, the chat's escaping undone."""
        ...

    async def group_members(self, group_id: str) -> list[tuple[str, str]] | None:
        """(email, name) of the members of one of the chat's user groups; None when the chat has none by that id."""
        ...


#: The links ``status`` shows, in this order, with their labels.
STATUS_LINKS = (
    (LinkKind.SLACK_CHANNEL, "Slack war room"),
    (LinkKind.TEAMS_CHANNEL, "Teams war room"),
    (LinkKind.XURRENT_REQUEST, "ITSM request"),
    (LinkKind.BRIDGE, "Bridge"),
    (LinkKind.POSTMORTEM, "Postmortem"),
)
#: The war rooms among them: the links ``list`` gives each incident.
WAR_ROOMS = (LinkKind.SLACK_CHANNEL, LinkKind.TEAMS_CHANNEL)
#: ``list`` shows at most this many open incidents, the highest priority first.
LIST_SHOWN = 20
#: ``list`` reads at most this many open incidents (the newest), to rank them by priority.
LIST_READ = 1000


def status_sentence(incident: Incident, roles: Mapping[str, RoleHolder], role_labels: Mapping[str, str],
                    escape: Callable[[str], str] = markup.escape) -> str:
    """What ``status`` says of an incident: its state, priority, assignee, the roles held, its title. Outside text
    goes through ``escape`` (a war-room line's by default; a terminal's for the command line)."""
    held = "".join(f"; {role_labels.get(k, k)}: {escape(h.display)}" for k, h in roles.items())
    merged = f" (merged into INC-{incident.merged_into})" if incident.merged_into else ""
    return (f"{incident.ref} is {incident.status.value}{merged}, {escape(incident.priority or 'no priority')}, "
            f"assigned to {escape(incident.assignee or 'nobody')}{held}: {escape(incident.title)}")


def status_links(links: Mapping[LinkKind, Link], kinds: Collection[LinkKind] | None = None) -> list[tuple[str, str]]:
    """(label, url) of the links ``status`` shows (or those of ``kinds``), in its order and with its labels."""
    shown: list[tuple[str, str]] = []
    for kind, label in STATUS_LINKS:
        link = links.get(kind)
        if link is not None and link.url and (kinds is None or kind in kinds):
            shown.append((label, link.url))
    return shown


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer in the war-room line format (warroom.core.markup): outside text in it is escaped, and the front
    end renders it for its chat."""

    text: str
    #: True: the war room sees it (a change); False: only the person who asked.
    public: bool = False


def needs_war_room(command: cmd.Command) -> bool:
    return isinstance(command, NEEDS_WAR_ROOM)


class Actions:
    def __init__(
        self,
        settings: Settings,
        service: IncidentService,
        ctx: cmd.CommandContext,
        escalate: Escalate | None = None,
        response: ResponseService | None = None,
    ) -> None:
        self.settings = settings
        self.service = service
        self.ctx = ctx
        self.escalate = escalate
        self.response = response or ResponseService(settings, service.store, command=ctx.command)
        #: names already remembered (known_as), so that a person's every command does not write theirs again
        self._names: dict[str, str] = {}
        self._stood_in: dict[str, str] = {}  # handles written as stand-ins (kept only until a name is known)

    async def allowed(self, verb: str, incident: Incident, actor: Actor, edge: ChatEdge) -> None:
        """Raise RuleError with the reason when the actor may not run ``verb`` on the incident."""
        rules = self.settings.response.permissions.get(verb)
        if not rules or "anyone" in rules:
            return
        email = await edge.email_of(actor.user_id)
        await self.response.check(verb, incident, Asker(email, actor.key))

    async def take_commander(self, incident: Incident, actor: Actor, edge: ChatEdge) -> Reply:
        """The card's "Take Incident Commander" button: ``role commander me``."""
        return await self.run(cmd.Role("commander", cmd.ME), incident=incident, actor=actor, edge=edge)

    async def run(self, command: cmd.Command, *, incident: Incident | None, actor: Actor, edge: ChatEdge) -> Reply:
        """Apply the command; a refusal (a rule, a permission, bad input) is answered with its sentence."""
        try:
            return await self._run(command, incident, actor, edge)
        except (RuleError, ValueError) as exc:
            return Reply(str(exc))

    async def known_as(self, key: str, name: str | None, *, stand_in: bool = False) -> None:
        """Remember the name a chat shows for a person (``key``: ``slack:U123``), so that what warroom writes about
        them (summaries, answers, postmortems) names them; written only when new or changed. ``stand_in``: a name
        that serves only until the real one is known (the handle a Slack slash command carries), never over it."""
        name = " ".join((name or "").split())
        if not key or not name or self._names.get(key) == name:
            return
        if stand_in and (key in self._names or self._stood_in.get(key) == name):
            return
        async with self.service.store.tx() as tx:
            await tx.people.remember(key, name, stand_in=stand_in)
        if stand_in:
            self._stood_in[key] = name
        else:
            self._names[key] = name

    def default_service(self, incident: Incident | None, channels: Sequence[str]) -> str | None:
        """The service a ``declare`` without one is for: the war room's, a channel's (``declare_channels``: ids or
        names, ``#`` optional), or the only service there is; None: ask."""
        if incident is not None:
            return incident.service
        wanted = {c.lower().removeprefix("#") for c in channels if c}
        for svc in self.settings.services:
            if wanted & {c.lower().removeprefix("#") for c in svc.declare_channels}:
                return svc.name
        return self.settings.services[0].name if len(self.settings.services) == 1 else None

    async def person(self, target: cmd.Target, actor: Actor, edge: ChatEdge) -> str | None:
        """The email of the person a command points at (``me`` is the actor)."""
        if target.kind is cmd.TargetKind.EMAIL:
            return target.id.lower()
        if target.kind is cmd.TargetKind.ME:
            return await edge.email_of(actor.user_id)
        if target.kind is cmd.TargetKind.USER:
            return await edge.email_of(target.id)
        return None

    async def _run(self, command: cmd.Command, incident: Incident | None, actor: Actor, edge: ChatEdge) -> Reply:
        who = actor.mention
        if isinstance(command, cmd.Help):
            return Reply(self.ctx.help_text(command.topic))
        if isinstance(command, cmd.Declare):
            if command.service is None or command.title is None:
                return Reply(f"Say which service and what is wrong: `{self.ctx.command} declare [priority] "
                             "service:<name> <title>`, or run it with nothing after `declare` for the form.")
            declared = await self.service.declare(
                service=command.service, title=edge.text(command.title),
                priority=command.priority or self.settings.intake.default_priority, origin=Origin.CHAT,
                actor=actor.key, details=edge.text(command.details),
            )
            text = f"{declared.ref} declared ({declared.priority}). The war room is being opened."
            if (why := jobs.no_request_because(declared, self.settings)) is not None:
                text += f" No Xurrent request is made: {why}"
            return Reply(text)
        if isinstance(command, cmd.Escalate):
            if self.escalate is None:
                return Reply("Escalation needs the Xurrent link, which is not configured.")
            return Reply(await self.escalate(command.request_id, actor.key))
        if isinstance(command, cmd.ListIncidents):
            return Reply(await self._list())
        if incident is None:
            return Reply(f"`{command.verb}` works in an incident's war room channel: run it there.")
        if isinstance(command, cmd.Status):
            return Reply(await self._status(incident))
        if isinstance(command, cmd.Roles):
            roles = await self.response.roles(incident.id)
            lines = [f"{label}: {markup.escape(roles[key].display) if key in roles else 'nobody'}"
                     for key, label in self.ctx.role_labels.items()]
            return Reply(f"Roles on {incident.ref}:\n" + "\n".join(lines) +
                         f"\nGive one with `{self.ctx.command} role <role> <@person|me>`.")
        if isinstance(command, cmd.Tasks):
            return Reply(await TaskService(self.settings, self.service.store).listing(incident))
        if incident.merged_into is not None:
            return Reply(f"{incident.ref} was merged into INC-{incident.merged_into}: work on it there.")
        await self.allowed(command.verb, incident, actor, edge)
        if isinstance(command, cmd.Ack):
            await self.service.acknowledge(incident.id, actor=actor.key)
            return Reply(f"{incident.ref} acknowledged by {who}.", public=True)
        if isinstance(command, cmd.Resolve):
            # the note and the resolution in one transaction: a refused resolve (already resolved) adds no note
            note = edge.text(command.note) if command.note else None
            await self.service.resolve(incident.id, actor=actor.key, note=note)
            return Reply(f"{incident.ref} resolved by {who}.", public=True)
        if isinstance(command, cmd.Reopen):
            await self.service.reopen(incident.id, actor=actor.key)
            return Reply(f"{incident.ref} reopened by {who}.", public=True)
        if isinstance(command, cmd.Priority):
            await self.service.change(incident.id, actor=actor.key, priority=command.priority)
            return Reply(f"{incident.ref} priority set to {command.priority} by {who}.", public=True)
        if isinstance(command, cmd.Title):
            await self.service.change(incident.id, actor=actor.key, title=edge.text(command.text))
            return Reply(f"{incident.ref} renamed by {who}.", public=True)
        if isinstance(command, cmd.Assign):
            email = await self.person(command.target, actor, edge)
            if email is None:
                return Reply("That person has no email address in the chat, so warroom cannot assign them; "
                             "try `assign me`.")
            await self.service.change(incident.id, actor=actor.key, assignee=email)
            return Reply(f"{incident.ref} assigned to {markup.escape(email)} by {who}.", public=True)
        if isinstance(command, cmd.Note):
            await self.service.add_note(incident.id, edge.text(command.text), actor=actor.key)
            return Reply(f"Note added to {incident.ref} by {who}.", public=True)
        if isinstance(command, cmd.Role):
            return await self._role(command, incident, actor, edge)
        if isinstance(command, cmd.Page):
            return await self._page(command, incident, actor, edge)
        if isinstance(command, cmd.StakeholderAdd):
            return await self._stakeholder(command, incident, actor, edge)
        if isinstance(command, AI_VERBS):
            return await self._ai(command, incident, actor, edge)
        if isinstance(command, (cmd.PostmortemReview, cmd.PostmortemComment, cmd.PostmortemApprove,
                                cmd.PostmortemPublish, cmd.PostmortemHide, cmd.PostmortemTime, cmd.PostmortemFact)):
            return await self._postmortem(command, incident, actor, edge)
        if isinstance(command, (cmd.TaskAdd, cmd.TaskChange)):
            return await self._task(command, incident, actor, edge)
        if isinstance(command, (cmd.StatusPagePublish, cmd.StatusPageDraft)):
            return await self._statuspage(command, incident, actor, edge)
        if isinstance(command, cmd.Merge):
            folded = await self.response.merge(incident.id, command.number, actor=actor.key)
            return Reply(f"{folded.duplicate.ref} merged into {incident.ref} by {who}: {folded.alerts} alerts and "
                         f"{folded.notes} notes moved; its request is completed as a duplicate.", public=True)
        raise AssertionError(f"unhandled command {command!r}")

    async def _ai(self, command: cmd.Command, incident: Incident, actor: Actor, edge: ChatEdge) -> Reply:
        """Ask the AI responder (an outbox job: Slack's 3 s are not waited out); its answer is posted in the room."""
        question = edge.text(command.question).strip() if isinstance(command, cmd.Ask) else None
        if question is not None and not question:
            return Reply(f"Write your question about the incident after `ask`, e.g. `{self.ctx.command} ask "
                         "what changed before the first alert?`")
        async with self.service.store.tx() as tx:
            queued = await ai_schedule.ask(tx, incident.id, command.verb, question=question, actor=actor.key)
        what = {
            "summary": f"a status update of {incident.ref}",
            "ask": "the answer to your question, with its sources,",
            "rca": f"the probable causes of {incident.ref}, with their evidence,",
            "postmortem": f"the postmortem draft of {incident.ref} (with its follow-up actions)",
        }[command.verb]
        if not queued:
            return Reply(f"🤖 {what[0].upper()}{what[1:].rstrip(',')} is being prepared already; it will be posted in "
                         "the war room.")
        return Reply(f"🤖 Working on it: {what} will be posted in the war room in a moment.")

    async def _postmortem(self, command: cmd.PostmortemStep, incident: Incident, actor: Actor,
                          edge: ChatEdge) -> Reply:
        """A step of the postmortem's review (warroom.response.postmortem); free text as the person typed it."""
        reviewers: list[Reviewer] = []
        if isinstance(command, cmd.PostmortemReview):
            for target in command.reviewers:
                email, display, chat_user = await self._holder(target, actor, edge)
                key = email.lower() if email else chat_user
                if key is None:
                    return Reply(f"{markup.escape(display)} cannot be asked to review: mention them with @.")
                mention = edge.mention(chat_user.split(":", 1)[1]) if chat_user else markup.escape(display)
                reviewers.append(Reviewer(key, display, mention))
        elif isinstance(command, cmd.PostmortemComment):
            command = cmd.PostmortemComment(edge.text(command.text))
        elif isinstance(command, cmd.PostmortemFact):
            command = cmd.PostmortemFact(edge.text(command.text), command.when)
        keys = [actor.key]
        if isinstance(command, cmd.PostmortemApprove) and (email := await edge.email_of(actor.user_id)):
            keys = [email.lower(), actor.key]
        text, public = await Postmortems(self.settings, self.service.store, command=self.ctx.command).run(
            command, incident, keys=keys, by=actor.key, who=actor.mention, reviewers=reviewers,
        )
        return Reply(text, public)

    async def _task(self, command: cmd.TaskAdd | cmd.TaskChange, incident: Incident, actor: Actor,
                    edge: ChatEdge) -> Reply:
        """``task add`` and ``task <n> …`` (warroom.response.tasks); free text as the person typed it."""
        tasks = TaskService(self.settings, self.service.store)
        if isinstance(command, cmd.TaskAdd):
            owner = await self.person(command.owner, actor, edge) if command.owner is not None else None
            if command.owner is not None and owner is None:
                return Reply("That person has no email address in the chat, so warroom cannot make them the owner; "
                             "leave the owner out, or write their email address.")
            text = await tasks.add(incident, edge.text(command.title), owner=owner, due=command.due, actor=actor.key,
                                   mention=actor.mention)
            return Reply(text, public=True)
        owner = await self.person(command.target, actor, edge) if command.target is not None else None
        text, public = await tasks.change(incident, command.number, command.action.value,
                                          value=edge.text(command.value), owner=owner, actor=actor.key,
                                          mention=actor.mention)
        return Reply(text, public)

    async def _statuspage(self, command: cmd.StatusPagePublish | cmd.StatusPageDraft, incident: Incident,
                          actor: Actor, edge: ChatEdge) -> Reply:
        """``statuspage [state] <text>``: the person's own text on the service's page (the war room is told who
        published, not the text); ``statuspage draft [state]``: a draft from the AI responder, as a card."""
        email = await edge.email_of(actor.user_id)
        name = email or actor.key if actor.chat == "slack" else actor.mention
        who = status_drafts.Person(email.lower() if email else None, actor.key, name, mention=actor.mention)
        store = self.service.store
        if isinstance(command, cmd.StatusPageDraft):
            return Reply(await status_drafts.ask_draft(store, self.settings, incident, command.state))
        text, _ = await status_drafts.publish_text(store, self.settings, incident, edge.text(command.text),
                                                   command.state, who, command=self.ctx.command)
        return Reply(text)

    async def _holder(self, target: cmd.Target, actor: Actor, edge: ChatEdge) -> tuple[str | None, str, str | None]:
        """(email, display name, chat user) of the person a command points at."""
        email = await self.person(target, actor, edge)
        if target.kind is cmd.TargetKind.ME:
            return email, email or edge.mention(actor.user_id), actor.key
        if target.kind is cmd.TargetKind.USER:
            return email, target.name or email or edge.mention(target.id), f"{actor.chat}:{target.id}"
        return email, target.id, None

    async def _status(self, incident: Incident) -> str:
        """The incident's state, roles and links (war room, ITSM request, bridge, postmortem), as the help says."""
        roles = await self.response.roles(incident.id)
        links = await self.service.links(incident.id)
        text = status_sentence(incident, roles, self.ctx.role_labels)
        if shown := status_links(links):
            text += "\n" + " · ".join(f"<{url}|{label}>" for label, url in shown)
        return text

    async def _list(self) -> str:
        """The open incidents, the highest priority first (then the newest): priority, state, service, title and
        war room of each. An incident whose only war room is private (a private Teams channel or a group chat) is
        listed without its title and room."""
        listed = await self.service.listing(open_only=True, limit=LIST_READ)
        if not listed:
            return f"No incidents are open. Declare one with `{self.ctx.command} declare`."
        rank = {p: i for i, p in enumerate(self.settings.priorities)}
        listed.sort(key=lambda pair: (rank.get(pair[0].priority or "", len(rank)), -pair[0].id))
        count = f"{len(listed)} or more" if len(listed) >= LIST_READ else str(len(listed))
        lines = ["One incident is open:" if len(listed) == 1 else f"{count} incidents are open, the highest priority first:"]
        for incident, links in listed[:LIST_SHOWN]:
            facts = [incident.ref, markup.escape(incident.priority or "no priority"), incident.status.value,
                     markup.escape(incident.service)]
            svc = self.settings.service(incident.service)
            if svc is not None and svc.chat == "teams" and svc.teams.war_room != "standard":
                facts.append("private: its title and war room are for its responders")
            else:
                rooms = status_links(links, WAR_ROOMS)
                facts.append(markup.escape(incident.title))
                facts.append(" · ".join(f"<{url}|{label}>" for label, url in rooms) if rooms else "no war room yet")
            lines.append("• " + " · ".join(facts))
        if len(listed) > LIST_SHOWN:
            lines.append(f"…and {len(listed) - LIST_SHOWN} more, lower in priority or older.")
        return "\n".join(lines)

    async def _role(self, command: cmd.Role, incident: Incident, actor: Actor, edge: ChatEdge) -> Reply:
        label = self.ctx.role_labels.get(command.role, command.role)
        email, display, chat_user = await self._holder(command.target, actor, edge)
        if email is None and chat_user is None:
            return Reply(f"Say who takes the {label} role: mention them or write `me`.")
        holder = RoleHolder(command.role, display, email, chat_user)
        before = await self.response.assign_role(incident.id, holder, label, actor=actor.key)
        shown = edge.mention(chat_user.split(":", 1)[1]) if chat_user else markup.escape(display)
        if before is not None and before.email == email and before.chat_user == chat_user:
            return Reply(f"{shown} is already the {label} of {incident.ref}.")
        # not public: the war room hears it once, from the role change itself (in every chat the room is in)
        return Reply(f"{shown} is now the {label} of {incident.ref} (given by {actor.mention}).")

    async def _page(self, command: cmd.Page, incident: Incident, actor: Actor, edge: ChatEdge) -> Reply:
        target = command.target
        people: list[tuple[str, str]]
        if target.kind in cmd.PERSON_KINDS:
            email, display, _ = await self._holder(target, actor, edge)
            if email is None:
                return Reply("That person has no email address in the chat, so warroom cannot page them.")
            people, what = [(email, display)], display
        elif target.kind is cmd.TargetKind.SERVICE:
            svc = self.settings.service(target.id)
            if svc is None:
                return Reply(f"Unknown service '{markup.escape(target.id)}'.")
            emails = list(dict.fromkeys([*([svc.on_call.lower()] if svc.on_call else []), *svc.responders]))
            people, what = [(e, e) for e in emails], f"{svc.name} responders"
        elif target.kind is cmd.TargetKind.TEAM and (
                self.settings.oncall.policy(target.id.strip()) or self.settings.oncall.schedule(target.id.strip())):
            return await self._page_oncall(target.id.strip(), incident, actor)
        elif target.kind is cmd.TargetKind.TEAM:
            groups = self.settings.response.groups
            members = groups.get(target.id.strip().lower())
            if members is None:
                known = ", ".join(sorted(groups)) or "none are configured (response.groups)"
                names = ", ".join(s.name for s in self.settings.services)
                return Reply(f"Unknown team or group '{markup.escape(target.id)}'. Groups: {known}. Services: {names}.")
            people, what = [(e, e) for e in members], f"group {target.id}"
        else:  # a user group of the chat (Slack's @team handles)
            in_group = await edge.group_members(target.id)
            if in_group is None:
                return Reply(f"{target.display()} is not a user group warroom can read: page a person, a service, "
                             "or a group from response.groups.")
            people, what = in_group, target.display()
        paged = await self.response.page(incident.id, people, what, actor=actor.key)
        if not paged:
            return Reply(f"Everyone in {what} is paged into {incident.ref} already.")
        return Reply(f"Paged {len(paged)} into {incident.ref} ({what}) for {actor.mention}; they are reminded until "
                     "it is acknowledged.", public=True)

    async def _page_oncall(self, name: str, incident: Incident, actor: Actor) -> Reply:
        """``page <policy>`` starts that escalation policy; ``page <schedule>`` pages whoever is on call in it now."""
        shown = markup.escape(name)
        if self.settings.oncall.policy(name) is not None:
            started = await self.response.page_policy(incident.id, name, actor=actor.key)
            if not started:
                return Reply(f"{incident.ref} is being paged by an escalation policy already, or is not triggered: "
                             "acknowledge or resolve it to stop paging.")
            return Reply(f"Paging escalation policy {shown} for {incident.ref} (asked by {actor.mention}) until "
                         "someone acknowledges.", public=True)
        who = await self.response.on_call_now(name)
        if who is None:
            return Reply(f"Nobody is on call in schedule {shown} now: page a person or a policy instead.")
        paged = await self.response.page(incident.id, [who], f"on call in {name}", actor=actor.key)
        if not paged:
            return Reply(f"{markup.escape(who[1])}, on call in {shown}, is paged into {incident.ref} already.")
        return Reply(f"Paged {markup.escape(who[1])}, on call in {shown}, into {incident.ref} for {actor.mention}; "
                     "they are reminded until it is acknowledged.", public=True)

    async def _stakeholder(self, command: cmd.StakeholderAdd, incident: Incident, actor: Actor,
                           edge: ChatEdge) -> Reply:
        target = command.target
        if target.kind is cmd.TargetKind.CHANNEL:
            who = Stakeholder("channel", f"{actor.chat}:{target.id}", f"#{target.name}" if target.name else target.id)
        elif target.kind in (cmd.TargetKind.USER, cmd.TargetKind.ME):
            user_id = actor.user_id if target.kind is cmd.TargetKind.ME else target.id
            email = await edge.email_of(user_id)
            who = Stakeholder("user", f"{actor.chat}:{user_id}", target.name or email or edge.mention(user_id))
        elif target.kind is cmd.TargetKind.EMAIL:
            who = Stakeholder("email", target.id.lower(), target.id.lower())
        else:
            return Reply("Add a person (@) or a channel (#) as a stakeholder.")
        if not await self.response.add_stakeholder(incident.id, who, actor=actor.key):
            return Reply(f"{markup.escape(who.display)} is a stakeholder of {incident.ref} already.")
        return Reply(f"{markup.escape(who.display)} will be kept informed of {incident.ref} (added by {actor.mention}).",
                     public=True)
