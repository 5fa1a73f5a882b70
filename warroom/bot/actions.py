"""Runs a typed command (warroom.bot.commands) for a person in a chat: shared by the Slack and Teams front ends.

A front end verifies and parses the request, finds the incident of the war room it came from, and calls
:meth:`Actions.run` with the actor and a :class:`ChatEdge` — the little it must know of its chat: how to find a
person's email, how to show a person in a reply, how to undo its text escaping. What comes back is a
:class:`Reply`: the sentence to answer with and whether the whole war room should see it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from warroom.core.model import Incident, Origin
from warroom.core.rules import RuleError
from warroom.settings import Settings

from . import commands as cmd
from .incidents import IncidentService

#: Escalates a Xurrent request by id for a person; returns the sentence to answer with.
Escalate = Callable[[int, str], Awaitable[str]]

#: Verbs that act on the incident of the war room the command is typed in.
NEEDS_WAR_ROOM: tuple[type, ...] = (
    cmd.Ack, cmd.Resolve, cmd.Reopen, cmd.Status, cmd.Priority, cmd.Title, cmd.Assign, cmd.Note,
    cmd.Role, cmd.Roles, cmd.Page, cmd.StakeholderAdd, cmd.Merge,
)
#: Of those, the ones that only show something (answered to the asker alone).
READ_ONLY: tuple[type, ...] = (cmd.Status, cmd.Roles)


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


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    #: True: the war room sees it (a change); False: only the person who asked.
    public: bool = False


def needs_war_room(command: cmd.Command) -> bool:
    return isinstance(command, NEEDS_WAR_ROOM)


class Actions:
    def __init__(
        self, settings: Settings, service: IncidentService, ctx: cmd.GrammarContext, escalate: Escalate | None = None
    ) -> None:
        self.settings = settings
        self.service = service
        self.ctx = ctx
        self.escalate = escalate

    async def run(self, command: cmd.Command, *, incident: Incident | None, actor: Actor, edge: ChatEdge) -> Reply:
        """Apply the command; a refusal (a rule, a permission, bad input) is answered with its sentence."""
        try:
            return await self._run(command, incident, actor, edge)
        except (RuleError, ValueError) as exc:
            return Reply(str(exc))

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
            return Reply(cmd.help_text(self.ctx, command.topic))
        if isinstance(command, cmd.Declare):
            if command.service is None or command.title is None:
                return Reply(f"Say which service and what is wrong: `{self.ctx.command} declare <service> "
                             "[priority] <title>`, or run it with nothing after `declare` for the form.")
            declared = await self.service.declare(
                service=command.service, title=edge.text(command.title),
                priority=command.priority or self.settings.intake.default_priority, origin=Origin.CHAT,
                actor=actor.key,
            )
            return Reply(f"{declared.ref} declared ({declared.priority}). The war room is being opened.")
        if isinstance(command, cmd.Escalate):
            if self.escalate is None:
                return Reply("Escalation needs the Xurrent link, which is not configured.")
            return Reply(await self.escalate(command.request_id, actor.key))
        if incident is None:
            return Reply(f"`{command.verb}` works in an incident's war room channel: run it there.")
        if isinstance(command, cmd.Status):
            return Reply(f"{incident.ref} is {incident.status.value}, {incident.priority or 'no priority'}, "
                         f"assigned to {incident.assignee or 'nobody'}: {incident.title}")
        if isinstance(command, cmd.Ack):
            await self.service.acknowledge(incident.id, actor=actor.key)
            return Reply(f"{incident.ref} acknowledged by {who}.", public=True)
        if isinstance(command, cmd.Resolve):
            if command.note:
                await self.service.add_note(incident.id, edge.text(command.note), actor=actor.key)
            await self.service.resolve(incident.id, actor=actor.key)
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
            return Reply(f"{incident.ref} assigned to {email} by {who}.", public=True)
        if isinstance(command, cmd.Note):
            await self.service.add_note(incident.id, edge.text(command.text), actor=actor.key)
            return Reply(f"Note added to {incident.ref} by {who}.", public=True)
        return Reply(f"`{command.verb}` is not available in this version of warroom yet.")
