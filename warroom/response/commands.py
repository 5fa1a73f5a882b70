"""The typed commands the shared command runner (warroom.response.actions) executes, and what they point at.

A chat front end turns what a person typed (or filled in on a form) into one of these, a :data:`Command`, or
into a :class:`Rejection` saying how to write it; the runner applies the command to an incident. Here too: the
limits a command's text must keep (they follow Xurrent: a request's subject is at most 255 characters, a note
at most 64 KB, counted as UTF-8 bytes), who a command can point at (:class:`Target`), the roles people hold on
an incident (:class:`RoleSpec`: the defaults and the configured ones), and what the runner needs of the front
end's grammar (:class:`CommandContext`). The on-call command's (``/oncall``: :data:`OnCallCommand`, run by
warroom.response.oncall.runner) are here too. Pure code: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, Protocol, TypeAlias

if TYPE_CHECKING:
    from warroom.settings import Settings

TITLE_MAX_CHARS = 255
#: The AI responder answers questions of at most this many characters (warroom.ai.querier.MAX_QUESTION).
QUESTION_MAX_CHARS = 500
NOTE_MAX_BYTES = 64 * 1024


# ---------------------------------------------------------------------------------------------- targets


class TargetKind(StrEnum):
    USER = "user"  # a chat user id: Slack U…/W…, a Teams user id
    ME = "me"  # the person who sent the command
    EMAIL = "email"
    CHANNEL = "channel"
    USERGROUP = "usergroup"  # a Slack user group (<!subteam^S…>)
    SERVICE = "service"  # a configured service: its responders
    TEAM = "team"  # a team by name (e.g. a Xurrent team)


@dataclass(frozen=True, slots=True)
class Target:
    """Who a command points at: ``id`` is the chat id, email, service or team name; ``name`` a display name."""

    kind: TargetKind
    id: str
    name: str | None = None

    def display(self) -> str:
        if self.kind is TargetKind.USER:
            return f"@{self.name}" if self.name else f"<@{self.id}>"
        if self.kind is TargetKind.USERGROUP:
            return f"@{self.name}" if self.name else f"<!subteam^{self.id}>"
        if self.kind is TargetKind.CHANNEL:
            return f"#{self.name}" if self.name else f"<#{self.id}>"
        return self.id


ME = Target(TargetKind.ME, "me")
PERSON_KINDS = frozenset({TargetKind.USER, TargetKind.ME, TargetKind.EMAIL})


# ---------------------------------------------------------------------------------------------- roles


def role_slug(name: str) -> str:
    """How role names are compared: "Communications Lead", "communications_lead" → ``communications-lead``."""
    return re.sub(r"[\s_]+", "-", name.strip().casefold())


@dataclass(frozen=True, slots=True)
class RoleSpec:
    """A role people hold on an incident: ``key`` is how commands name it, ``label`` how cards show it."""

    key: str
    label: str
    aliases: tuple[str, ...] = ()

    @classmethod
    def custom(cls, label: str) -> RoleSpec:
        """A role from configuration, named by its label ("Communications Lead" → ``communications-lead``)."""
        return cls(role_slug(label), label.strip())

    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases, role_slug(self.label))


DEFAULT_ROLES: tuple[RoleSpec, ...] = (
    RoleSpec("commander", "Incident Commander", ("ic", "incident-commander")),
    RoleSpec("app-sme", "Application SME", ("application-sme",)),
    RoleSpec("network-sme", "Networking SME", ("networking-sme", "net-sme")),
)


def configured_roles(settings: Settings, extra: Iterable[str | RoleSpec] = ()) -> tuple[RoleSpec, ...]:
    """The role catalogue: the default roles, then ``response.custom_roles`` and ``extra`` (labels or specs).

    A role whose key is already a name of an earlier role (e.g. "IC") is left out.
    """
    roles = list(DEFAULT_ROLES)
    for role in [*settings.response.custom_roles, *extra]:
        spec = role if isinstance(role, RoleSpec) else RoleSpec.custom(role)
        if spec.key and all(spec.key not in r.names() for r in roles):
            roles.append(spec)
    return tuple(roles)


# ---------------------------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class Declare:
    """Declare a major incident. With no title, the front end opens the declare form (prefilled with the rest)."""

    verb: ClassVar[str] = "declare"
    service: str | None = None
    priority: str | None = None
    title: str | None = None
    #: Only from the declare form (the command line has no place for it).
    details: str = ""
    #: The text typed after ``declare`` when it was not clear whether its first word named the service: the form
    #: opens with it as the title, for the person to confirm.
    draft: str | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    verb: ClassVar[str] = "escalate"
    request_id: int


@dataclass(frozen=True, slots=True)
class Ack:
    verb: ClassVar[str] = "ack"


@dataclass(frozen=True, slots=True)
class Resolve:
    verb: ClassVar[str] = "resolve"
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Reopen:
    verb: ClassVar[str] = "reopen"


@dataclass(frozen=True, slots=True)
class Status:
    verb: ClassVar[str] = "status"


@dataclass(frozen=True, slots=True)
class ListIncidents:
    """The open incidents, each with its priority, service, title and war room (works in any channel)."""

    verb: ClassVar[str] = "list"


@dataclass(frozen=True, slots=True)
class Priority:
    verb: ClassVar[str] = "priority"
    priority: str


@dataclass(frozen=True, slots=True)
class Title:
    verb: ClassVar[str] = "title"
    text: str


@dataclass(frozen=True, slots=True)
class Assign:
    verb: ClassVar[str] = "assign"
    target: Target


@dataclass(frozen=True, slots=True)
class Role:
    """Give ``target`` the role whose key is ``role`` (one of the roles of :func:`configured_roles`)."""

    verb: ClassVar[str] = "role"
    role: str
    target: Target


@dataclass(frozen=True, slots=True)
class Roles:
    verb: ClassVar[str] = "roles"


@dataclass(frozen=True, slots=True)
class Note:
    verb: ClassVar[str] = "note"
    text: str


@dataclass(frozen=True, slots=True)
class Page:
    verb: ClassVar[str] = "page"
    target: Target


@dataclass(frozen=True, slots=True)
class StakeholderAdd:
    verb: ClassVar[str] = "stakeholder"
    target: Target


@dataclass(frozen=True, slots=True)
class Merge:
    """Fold incident ``number`` (a duplicate) into the incident of the war room the command came from."""

    verb: ClassVar[str] = "merge"
    number: int


@dataclass(frozen=True, slots=True)
class Summary:
    """Post a status update of the incident (the AI responder) in its war room."""

    verb: ClassVar[str] = "summary"


@dataclass(frozen=True, slots=True)
class Ask:
    """A question about the incident, answered from its records in the war room."""

    verb: ClassVar[str] = "ask"
    question: str


@dataclass(frozen=True, slots=True)
class Rca:
    """Probable root causes, with evidence, in the war room."""

    verb: ClassVar[str] = "rca"


@dataclass(frozen=True, slots=True)
class Postmortem:
    """Draft (or draft again) the incident's postmortem."""

    verb: ClassVar[str] = "postmortem"


#: A post-incident task's title is at most this many characters (stored whole; the RFC's subject is cut to 255).
TASK_TITLE_MAX_CHARS = 10_000


@dataclass(frozen=True, slots=True)
class TaskAdd:
    """A post-incident task for the war room's incident: ``due`` is the date as typed ("friday", "in 2 weeks"),
    read by the runner (it knows today)."""

    verb: ClassVar[str] = "task"
    title: str
    owner: Target | None = None
    due: str | None = None


@dataclass(frozen=True, slots=True)
class Tasks:
    """The incident's post-incident tasks, numbered, with how many are open."""

    verb: ClassVar[str] = "tasks"


class TaskAction(StrEnum):
    STATUS = "status"  # value: a warroom.core.tasks.TaskStatus value (todo, in_progress, done)
    ASSIGN = "assign"  # target: the new owner
    DUE = "due"  # value: the date as typed ("none" clears it)
    NOTE = "note"  # value: the note
    WONT_DO = "wontdo"  # value: the reason


@dataclass(frozen=True, slots=True)
class TaskChange:
    """Change task ``number`` (its number within the incident, as ``tasks`` lists them)."""

    verb: ClassVar[str] = "task"
    number: int
    action: TaskAction
    value: str = ""
    target: Target | None = None


#: A status page update a person writes is at most this many characters (the page's limit).
STATUS_UPDATE_MAX_CHARS = 10_000
#: A status page incident's states, in order (Atlassian's).
STATUS_UPDATE_STATES = ("investigating", "identified", "monitoring", "resolved")


@dataclass(frozen=True, slots=True)
class StatusPagePublish:
    """Publish the person's own ``text`` on the incident's service's status page; ``state`` None keeps the page
    incident's state (the first update's: investigating)."""

    verb: ClassVar[str] = "statuspage"
    text: str
    state: str | None = None


@dataclass(frozen=True, slots=True)
class StatusPageDraft:
    """Ask the AI responder for a new status page draft (``state`` None: the page incident's current one)."""

    verb: ClassVar[str] = "statuspage"
    state: str | None = None


@dataclass(frozen=True, slots=True)
class PostmortemReview:
    """Ask people to review the postmortem (it goes in review; they are told)."""

    verb: ClassVar[str] = "postmortem"
    reviewers: tuple[Target, ...]


@dataclass(frozen=True, slots=True)
class PostmortemComment:
    verb: ClassVar[str] = "postmortem"
    text: str


@dataclass(frozen=True, slots=True)
class PostmortemApprove:
    """A reviewer approves the postmortem as it reads now."""

    verb: ClassVar[str] = "postmortem"


@dataclass(frozen=True, slots=True)
class PostmortemPublish:
    """Publish the postmortem: a new immutable version (refused while tasks are open or approvals missing)."""

    verb: ClassVar[str] = "postmortem"


@dataclass(frozen=True, slots=True)
class PostmortemHide:
    """Leave timeline entry ``entry`` (its id, as the postmortem's timeline shows it: ``[event:12]``) out."""

    verb: ClassVar[str] = "postmortem"
    entry: int


@dataclass(frozen=True, slots=True)
class PostmortemTime:
    """Correct the time of timeline entry ``entry``: ``when`` is ``HH:MM`` (UTC, on the entry's day) or ISO 8601."""

    verb: ClassVar[str] = "postmortem"
    entry: int
    when: str


@dataclass(frozen=True, slots=True)
class PostmortemFact:
    """Add a fact to the postmortem's timeline, at ``when`` (as :class:`PostmortemTime`'s) or now."""

    verb: ClassVar[str] = "postmortem"
    text: str
    when: str | None = None


#: The postmortem review's commands (``postmortem review|comment|approve|publish|hide|time|fact``).
PostmortemStep: TypeAlias = (
    PostmortemReview | PostmortemComment | PostmortemApprove | PostmortemPublish | PostmortemHide | PostmortemTime
    | PostmortemFact
)


@dataclass(frozen=True, slots=True)
class Help:
    verb: ClassVar[str] = "help"
    topic: str | None = None  # a canonical verb


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why the text is not a command, as a sentence with the correct form; ``verb`` if the verb was known."""

    message: str
    verb: str | None = None


Command: TypeAlias = (
    Declare | Escalate | Ack | Resolve | Reopen | Status | ListIncidents | Priority | Title | Assign | Role | Roles
    | Note | Page | StakeholderAdd | Merge | Summary | Ask | Rca | Postmortem | Help | TaskAdd | Tasks | TaskChange
    | PostmortemStep | StatusPagePublish | StatusPageDraft
)


# ---------------------------------------------------------------------------------------------- on call


@dataclass(frozen=True, slots=True)
class OnCallWho:
    """Who is on call now and next: in the schedules of a service (its escalation policy's), a team, or one schedule
    named ``name``; with no name, the channel's service's, else every schedule."""

    verb: ClassVar[str] = "who"
    name: str | None = None


@dataclass(frozen=True, slots=True)
class OnCallOverride:
    """Someone covers a schedule for a while: ``text`` says who and when (warroom.oncall.parse_override's forms);
    ``schedule`` None: the one the context implies."""

    verb: ClassVar[str] = "override"
    schedule: str | None
    text: str


@dataclass(frozen=True, slots=True)
class OnCallOverrides:
    """The overrides asked for in chat that are not over, with their ids; of one schedule or all."""

    verb: ClassVar[str] = "overrides"
    schedule: str | None = None


@dataclass(frozen=True, slots=True)
class OnCallRemove:
    """Remove the chat override ``override_id``."""

    verb: ClassVar[str] = "remove"
    override_id: int


@dataclass(frozen=True, slots=True)
class OnCallHelp:
    verb: ClassVar[str] = "help"


#: What the on-call command (``/oncall``, Teams' ``oncall …``) says.
OnCallCommand: TypeAlias = OnCallWho | OnCallOverride | OnCallOverrides | OnCallRemove | OnCallHelp


# ---------------------------------------------------------------------------------------------- context


class CommandContext(Protocol):
    """What the runner needs of the grammar a command came from (a chat front end's GrammarContext)."""

    @property
    def command(self) -> str:
        """How people invoke the commands ("/incident", "@warroom"), for replies showing a command's form."""
        ...

    @property
    def role_labels(self) -> dict[str, str]:
        """Role key → the label cards show, in the configured order."""
        ...

    def help_text(self, topic: str | None = None) -> str:
        """Every command with a one-line description and an example, or one command's form (``topic``)."""
        ...


class OnCallContext(Protocol):
    """What the on-call runner needs of the grammar its commands came from."""

    @property
    def command(self) -> str:
        """How people invoke the on-call command ("/oncall", "@warroom oncall"), for answers showing a form."""
        ...

    def help_text(self) -> str:
        """The on-call command's forms, each with what it does and an example."""
        ...
