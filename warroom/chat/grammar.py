"""The one command grammar: chat text → a typed command, or a rejection that says how to write it.

Slack's ``/incident`` and the Teams bot both call :func:`parse` with the text after the command name and a
:class:`GrammarContext` (the configured priorities, services and roles, and the command's name for messages).
Pure code: no I/O, no settings read here.

Markup understood in arguments is Slack's escaped form (Slack's message-formatting reference, "linking to
channels and users"), which a slash command sends only when "escape channels, users, and links" is on — the
manifest must set ``should_escape: true``: ``<@U123>`` / ``<@U123|dana>`` (a person), ``<#C123|name>`` (a channel),
``<!subteam^S123|@oncall>`` (a user group), ``<mailto:a@b.c|a@b.c>``. Other front ends rewrite their
mentions into the same form before parsing (Teams: ``<@{aad id}|{name}>``) or build a :class:`Target` directly.

Notes and titles are kept exactly as typed — mentions, links, markdown, emoji, newlines, entities such as
``&amp;`` — and only the whitespace around them is dropped. Limits follow Xurrent: a request's subject is at
most 255 characters, a note at most 64 KB (counted here as UTF-8 bytes).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, ClassVar, TypeAlias

if TYPE_CHECKING:
    from warroom.settings import Settings

TITLE_MAX_CHARS = 255
#: The AI responder answers questions of at most this many characters (warroom.ai.querier.MAX_QUESTION).
QUESTION_MAX_CHARS = 500
NOTE_MAX_BYTES = 64 * 1024
#: Verbs whose arguments are words (not free text) refuse more than this many characters after the verb.
ARGS_MAX_CHARS = 1000
DEFAULT_PRIORITIES: tuple[str, ...] = ("P1", "P2", "P3", "P4", "P5")


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

_USER = re.compile(r"<@([^|<>\s]+)(?:\|([^<>]*))?>")
_CHANNEL = re.compile(r"<#([^|<>\s]+)(?:\|([^<>]*))?>")
_USERGROUP = re.compile(r"<!subteam\^([^|<>\s]+)(?:\|([^<>]*))?>")
_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^<>]*)?>", re.IGNORECASE)
_MAILTO = re.compile(r"<mailto:([^|<>\s]+)(?:\|[^<>]*)?>", re.IGNORECASE)
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")
_TOKEN = re.compile(r"(?:<[^<>]*>|[^\s<]|<)+")
_SERVICE_SHAPE = re.compile(r"[a-z0-9][a-z0-9_-]*[_-][a-z0-9_-]*")


def _target(token: str, ctx: GrammarContext) -> Target | str:
    """One argument token → a Target, or the reason it is not one (a sentence fragment)."""
    if m := _USER.fullmatch(token):
        return Target(TargetKind.USER, m.group(1), m.group(2) or None)
    if m := _CHANNEL.fullmatch(token):
        return Target(TargetKind.CHANNEL, m.group(1), m.group(2) or None)
    if m := _USERGROUP.fullmatch(token):
        return Target(TargetKind.USERGROUP, m.group(1), (m.group(2) or "").lstrip("@") or None)
    if m := _MAILTO.fullmatch(token):
        return Target(TargetKind.EMAIL, m.group(1).lower())
    if _SPECIAL.fullmatch(token):
        return f"'{_shown(token)}' notifies everyone in a channel; name people, a group or a team instead"
    if token.casefold() == "me":
        return ME
    if _EMAIL.fullmatch(token):
        return Target(TargetKind.EMAIL, token.lower())
    if token.startswith("<"):
        return f"'{_shown(token)}' is not a person, a channel or a team"
    if token.startswith("@"):
        return f"'{_shown(token)}' is not a mention the chat recognised: pick the person from the @ list as you type"
    if token.startswith("#"):
        return f"'{_shown(token)}' is not a channel the chat recognised: pick the channel from the # list as you type"
    if service := ctx.service(token):
        return Target(TargetKind.SERVICE, service)
    if close := _closest(token, ctx.services, cutoff=0.8):
        if _SERVICE_SHAPE.fullmatch(token.casefold()):
            return f"there is no service '{_shown(token)}' (did you mean '{close}'?)"
    return Target(TargetKind.TEAM, token)


# ---------------------------------------------------------------------------------------------- context


def _slug(name: str) -> str:
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
        return cls(_slug(label), label.strip())

    def names(self) -> tuple[str, ...]:
        return (self.key, *self.aliases, _slug(self.label))


DEFAULT_ROLES: tuple[RoleSpec, ...] = (
    RoleSpec("commander", "Incident Commander", ("ic", "incident-commander")),
    RoleSpec("app-sme", "Application SME", ("application-sme",)),
    RoleSpec("network-sme", "Networking SME", ("networking-sme", "net-sme")),
)


@dataclass(frozen=True, slots=True)
class GrammarContext:
    """What the grammar needs to know of the configuration. ``command`` is how people invoke it ("/incident")."""

    priorities: tuple[str, ...] = DEFAULT_PRIORITIES
    services: tuple[str, ...] = ()
    roles: tuple[RoleSpec, ...] = DEFAULT_ROLES
    command: str = "/incident"

    @classmethod
    def from_settings(cls, settings: Settings, custom_roles: Iterable[str | RoleSpec] = ()) -> GrammarContext:
        roles = list(DEFAULT_ROLES)
        for role in [*settings.response.custom_roles, *custom_roles]:
            spec = role if isinstance(role, RoleSpec) else RoleSpec.custom(role)
            if spec.key and all(spec.key not in r.names() for r in roles):
                roles.append(spec)
        return cls(
            priorities=tuple(settings.priorities),
            services=tuple(s.name for s in settings.services),
            roles=tuple(roles),
            command=f"/{settings.slack.command}",
        )

    @property
    def role_labels(self) -> dict[str, str]:
        """Role key → the label cards show, in the configured order."""
        return {r.key: r.label for r in self.roles}

    def priority(self, word: str) -> str | None:
        """The configured spelling of a priority, matched case-insensitively (p1 → P1)."""
        folded = word.casefold()
        return next((p for p in self.priorities if p.casefold() == folded), None)

    def service(self, word: str) -> str | None:
        folded = word.casefold()
        return next((s for s in self.services if s.casefold() == folded), None)

    def role(self, words: str) -> RoleSpec | None:
        slug = _slug(words)
        return next((r for r in self.roles if slug in r.names()), None)


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
    """Give ``target`` the role whose key is ``role`` (one of GrammarContext.roles)."""

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
    Declare | Escalate | Ack | Resolve | Reopen | Status | Priority | Title | Assign | Role | Roles | Note | Page
    | StakeholderAdd | Merge | Summary | Ask | Rca | Postmortem | Help
)
Result: TypeAlias = Command | Rejection
_Parser: TypeAlias = Callable[[str, GrammarContext], Result]


# ---------------------------------------------------------------------------------------------- helpers


def _shown(text: str, limit: int = 40) -> str:
    """User text made safe to echo inside a sentence: cut short, no control characters, no backticks."""
    cut = "".join(ch if ch.isprintable() and ch != "`" else "\N{REPLACEMENT CHARACTER}" for ch in text[:limit])
    return cut + ("…" if len(text) > limit else "")


def _closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    if len(word) > 64:
        return None
    folded = {c.casefold(): c for c in choices}
    matches = difflib.get_close_matches(word.casefold(), list(folded), n=len(folded) or 1, cutoff=cutoff)
    if not matches:
        return None
    # equally close choices: the one listed first (the older, more common command: "ak" is `ack`, not `ask`)
    def score(choice: str) -> float:
        return difflib.SequenceMatcher(None, choice, word.casefold()).ratio()

    best = score(matches[0])
    tied = {m for m in matches if score(m) == best}
    return folded[next(c for c in folded if c in tied)]


def _split_first(text: str) -> tuple[str, str]:
    """``text`` (already stripped) → its first word and the rest, the rest exactly as typed but for leading space."""
    m = re.search(r"\s", text)
    if m is None:
        return text, ""
    return text[: m.start()], text[m.start() :].lstrip()


def _tokens(text: str) -> list[str]:
    """Argument words; Slack markup such as ``<@U1|Dana Smith>`` stays one word."""
    return _TOKEN.findall(text)


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items) or "none configured"


def _top(ctx: GrammarContext) -> str:
    return ctx.priorities[0] if ctx.priorities else "P1"


def _example_priority(ctx: GrammarContext) -> str:
    return ctx.priorities[1] if len(ctx.priorities) > 1 else _top(ctx)


def _example_service(ctx: GrammarContext) -> str:
    return ctx.services[0] if ctx.services else "checkout-api"


def _try(ctx: GrammarContext, verb: str, args: str | None = None) -> str:
    spec = _SPECS[verb]
    return f"Try `{ctx.command} {verb}{' ' + args if args else _fmt(spec.example, ctx, lead=' ')}`."


def _reject(ctx: GrammarContext, verb: str, reason: str, args: str | None = None) -> Rejection:
    return Rejection(f"{reason} {_try(ctx, verb, args)}", verb)


def _text_too_long(text: str, what: str) -> str | None:
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > NOTE_MAX_BYTES:
        return (
            f"The {what} is {size // 1024} KB, more than the {NOTE_MAX_BYTES // 1024} KB the ITSM accepts; "
            "shorten it or split it into several notes."
        )
    return None


def _title_problem(title: str) -> str | None:
    if len(title) > TITLE_MAX_CHARS:
        return (
            f"The title is {len(title)} characters long, more than the {TITLE_MAX_CHARS} allowed; "
            "shorten it and put the rest in a note."
        )
    return None


# ---------------------------------------------------------------------------------------------- verbs


def _bare(cls: type[Ack | Reopen | Status | Roles | Summary | Rca | Postmortem], hint: str = "") -> _Parser:
    def parse(rest: str, ctx: GrammarContext) -> Result:
        if rest:
            return _reject(ctx, cls.verb, f"`{cls.verb}` takes nothing after it{hint}.")
        return cls()

    return parse


def _parse_declare(rest: str, ctx: GrammarContext) -> Result:
    service: str | None = None
    priority: str | None = None
    title = rest
    for _ in range(2):
        word, after = _split_first(title)
        if not word:
            break
        if priority is None and (found := ctx.priority(word)):
            priority, title = found, after
        elif service is None and (found := ctx.service(word)):
            service, title = found, after
        else:
            break
    if title and service is None:
        word, after = _split_first(title)
        meant_service = priority is None and ctx.priority(_split_first(after)[0]) is not None
        close = _closest(word, ctx.services, cutoff=0.6 if meant_service else 0.8)
        if close and (meant_service or _SERVICE_SHAPE.fullmatch(word.casefold())):
            reason = f"Unknown service '{_shown(word)}'; did you mean '{close}'? Services: {_listing(ctx.services)}."
            return _reject(ctx, "declare", reason, f"{priority or _top(ctx)} {close} <title>")
        if meant_service and not ctx.services:
            reason = f"Unknown service '{_shown(word)}': no services are configured, so leave it out."
            return _reject(ctx, "declare", reason, f"{_top(ctx)} <title>")
        if meant_service:
            reason = f"Unknown service '{_shown(word)}'. Services: {_listing(ctx.services)}."
            return _reject(ctx, "declare", reason)
    if not title:
        return Declare(service, priority, None)
    if problem := _title_problem(title):
        return _reject(ctx, "declare", problem)
    return Declare(service, priority, title)


_REQUEST_REF = re.compile(r"#?(\d{1,12})|<?https?://[^\s<>|]+/requests/(\d{1,12})(?:[/?#][^\s<>|]*)?(?:\|[^<>]*)?>?")


def _parse_escalate(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if len(tokens) != 1:
        what = "Say which" if not tokens else "Give one"
        return _reject(ctx, "escalate", f"{what} Xurrent request to escalate, by its number or its link.")
    m = _REQUEST_REF.fullmatch(tokens[0])
    if m is None:
        reason = f"'{_shown(tokens[0])}' is not a Xurrent request number or link."
        return _reject(ctx, "escalate", reason)
    return Escalate(int(m.group(1) or m.group(2)))


def _parse_resolve(rest: str, ctx: GrammarContext) -> Result:
    if problem := _text_too_long(rest, "closing note"):
        return _reject(ctx, "resolve", problem)
    return Resolve(rest or None)


def _parse_priority(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    known = f"Priorities: {_listing(ctx.priorities)} ({_top(ctx)} is the highest)."
    if not tokens:
        return _reject(ctx, "priority", f"Say which priority. {known}")
    found = ctx.priority(tokens[0])
    if found and len(tokens) > 1:
        return _reject(ctx, "priority", f"Give the priority alone; put the reason in a note. {known}", found)
    if found:
        return Priority(found)
    close = _closest(tokens[0], ctx.priorities)
    return _reject(ctx, "priority", f"Unknown priority '{_shown(tokens[0])}'. {known}", close)


def _parse_title(rest: str, ctx: GrammarContext) -> Result:
    if not rest:
        return _reject(ctx, "title", "Write the new title after `title`.")
    if problem := _title_problem(rest):
        return _reject(ctx, "title", problem)
    return Title(rest)


def _person(token: str, ctx: GrammarContext) -> Target | str:
    not_person = f"'{_shown(token)}' is not a person: mention them with @ or write `me`"
    if not _looks_like_target(token):
        return not_person
    target = _target(token, ctx)
    if isinstance(target, Target) and target.kind not in PERSON_KINDS:
        return not_person
    return target


def _parse_assign(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if len(tokens) != 1:
        what = "Say who to assign the incident to" if not tokens else "Assign one person"
        return _reject(ctx, "assign", f"{what}: mention them with @ or write `me`.")
    target = _person(tokens[0], ctx)
    if isinstance(target, str):
        return _reject(ctx, "assign", f"{target[0].upper()}{target[1:]}.")
    return Assign(target)


def _looks_like_target(token: str) -> bool:
    return token[:1] in ("<", "@") or token.casefold() == "me" or _EMAIL.fullmatch(token) is not None


def _parse_role(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    roles = f"Roles: {_listing(r.key for r in ctx.roles)}."
    first_role = ctx.roles[0].key if ctx.roles else "commander"
    if not tokens:
        return _reject(ctx, "role", f"Say which role and who takes it. {roles}")
    if len(tokens) == 1:
        if spec := ctx.role(tokens[0]):
            return _reject(ctx, "role", f"Say who takes the {spec.label} role: mention them or write `me`.",
                           f"{spec.key} me")
        if _looks_like_target(tokens[0]) and isinstance(who := _person(tokens[0], ctx), Target):
            return _reject(ctx, "role", f"Say which role to give. {roles}", f"{first_role} {who.display()}")
    if len(tokens) > 1 and _looks_like_target(tokens[0]) and not _looks_like_target(tokens[-1]):
        who, role_words = tokens[0], tokens[1:]
    else:
        who, role_words = tokens[-1], tokens[:-1]
    if not role_words:
        role_words, who = [who], ""
    target = _person(who, ctx) if who else None
    shown_who = target.display() if isinstance(target, Target) else "@dana"
    spec = ctx.role(" ".join(role_words))
    if spec is None:
        typed = " ".join(role_words)
        close = _closest(_slug(typed), [n for r in ctx.roles for n in r.names()])
        key = next((r.key for r in ctx.roles if close in r.names()), first_role)
        return _reject(ctx, "role", f"Unknown role '{_shown(typed)}'. {roles}", f"{key} {shown_who}")
    if target is None:
        return _reject(ctx, "role", f"Say who takes the {spec.label} role: mention them or write `me`.",
                       f"{spec.key} me")
    if isinstance(target, str):
        return _reject(ctx, "role", f"{target[0].upper()}{target[1:]}.", f"{spec.key} @dana")
    return Role(spec.key, target)


def _parse_note(rest: str, ctx: GrammarContext) -> Result:
    if not rest:
        return _reject(ctx, "note", "Write the note after `note`.")
    if problem := _text_too_long(rest, "note"):
        return _reject(ctx, "note", problem)
    return Note(rest)


def _parse_page(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if not tokens:
        return _reject(ctx, "page", "Say who to page: a person, a user group, a team or a service.")
    if len(tokens) > 1:
        if any(_looks_like_target(t) or t.startswith("#") for t in tokens):
            return _reject(ctx, "page", "Page one person, group, team or service at a time.")
        return Page(Target(TargetKind.TEAM, rest))  # a team name with spaces, e.g. "Network Operations"
    target = _target(tokens[0], ctx)
    if isinstance(target, str):
        return _reject(ctx, "page", f"{target[0].upper()}{target[1:]}.")
    if target.kind is TargetKind.CHANNEL:
        return _reject(ctx, "page", "A channel cannot be paged; page people, a user group, a team or a service.")
    return Page(target)


_STAKEHOLDER_KINDS = frozenset(
    {TargetKind.USER, TargetKind.ME, TargetKind.EMAIL, TargetKind.CHANNEL, TargetKind.USERGROUP}
)


def _parse_stakeholder(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if tokens and tokens[0].casefold() == "add":
        tokens = tokens[1:]
    elif tokens and not _looks_like_target(tokens[0]) and not tokens[0].startswith("#"):
        sub = tokens[0].casefold()
        if sub in ("remove", "rm", "delete", "del"):
            return _reject(ctx, "stakeholder", "Stakeholders can only be added from chat, not removed.")
        close = _closest(sub, ["add"])
        hint = " (did you mean `add`?)" if close else ""
        return _reject(ctx, "stakeholder", f"Unknown stakeholder action '{_shown(tokens[0])}'{hint}.")
    if len(tokens) != 1:
        what = "Say who to keep informed" if not tokens else "Add one stakeholder at a time"
        return _reject(ctx, "stakeholder", f"{what}: a person (@) or a channel (#).")
    target = _target(tokens[0], ctx)
    if isinstance(target, str):
        return _reject(ctx, "stakeholder", f"{target[0].upper()}{target[1:]}.")
    if target.kind not in _STAKEHOLDER_KINDS:
        reason = f"'{_shown(tokens[0])}' is not a person or a channel: mention them with @ or #."
        return _reject(ctx, "stakeholder", reason)
    return StakeholderAdd(target)


_INCIDENT_REF = re.compile(r"(?:#|inc-?)?0*(\d{1,12})", re.IGNORECASE)


def _parse_merge(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if len(tokens) != 1:
        what = "Say which incident to merge into this one" if not tokens else "Merge one incident at a time"
        return _reject(ctx, "merge", f"{what}, by its number.")
    m = _INCIDENT_REF.fullmatch(tokens[0])
    if m is None or int(m.group(1)) == 0:
        return _reject(ctx, "merge", f"'{_shown(tokens[0])}' is not an incident number.")
    return Merge(int(m.group(1)))


def _parse_ask(rest: str, ctx: GrammarContext) -> Result:
    if not rest:
        return _reject(ctx, "ask", "Write your question about the incident after `ask`.")
    if len(rest) > QUESTION_MAX_CHARS:
        return _reject(ctx, "ask", f"That question is {len(rest)} characters long; ask in at most {QUESTION_MAX_CHARS}.")
    return Ask(rest)


def _parse_help(rest: str, ctx: GrammarContext) -> Result:
    tokens = _tokens(rest)
    if not tokens:
        return Help(None)
    spec = _BY_NAME.get(tokens[0].casefold())
    if spec is None:
        close = _closest(tokens[0], _BY_NAME)
        hint = f"; did you mean `{_BY_NAME[close.casefold()].name}`?" if close else "."
        return Rejection(
            f"There is no command '{_shown(tokens[0])}'{hint} Commands: {', '.join(_SPECS)}. "
            f"Try `{ctx.command} help` for the list.",
            "help",
        )
    return Help(spec.name)


# ---------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    aliases: tuple[str, ...]
    form: str  # after the verb; {prios} {top} {prio} {service} {roles} are filled from the context
    summary: str
    example: str
    parse: _Parser
    free_text: bool = False  # the arguments are a note or a title, kept as typed


_SPEC_LIST: tuple[_Spec, ...] = (
    _Spec("declare", ("new",), "[{prios}] [service] <title>",
          "declare a major incident and open its war room; with nothing after it, opens a form",
          "{top} {service} Checkout is down", _parse_declare, True),
    _Spec("escalate", (), "<Xurrent request number or link>",
          "make a service-desk request a major incident", "70001", _parse_escalate),
    _Spec("ack", ("acknowledge",), "", "acknowledge the incident: you are on it, paging stops", "",
          _bare(Ack, "; to add a note, use `note <text>`")),
    _Spec("resolve", ("close", "resolved"), "[closing note]", "resolve the incident, with an optional closing note",
          "Rolled back release 42", _parse_resolve, True),
    _Spec("reopen", ("re-open",), "", "reopen a resolved incident", "", _bare(Reopen)),
    _Spec("status", ("info",), "", "show the incident's state, roles and links", "", _bare(Status)),
    _Spec("priority", ("prio",), "<{prios}>", "change the priority; {top} is the highest", "{prio}",
          _parse_priority),
    _Spec("title", ("rename",), "<text>", f"rename the incident (at most {TITLE_MAX_CHARS} characters)",
          "Checkout fails for card payments", _parse_title, True),
    _Spec("assign", (), "<@person|me>", "make someone the incident's assignee", "@dana", _parse_assign),
    _Spec("role", (), "<role> <@person|me>", "give someone a role: {roles}", "commander @dana", _parse_role),
    _Spec("roles", (), "", "show who holds each role", "", _bare(Roles)),
    _Spec("note", ("comment",), "<text>",
          "add a note to the timeline (and to the ITSM request when note sync is on)",
          "Restarted the pods; error rate falling", _parse_note, True),
    _Spec("page", (), "<@person|@group|team|service>",
          "page more responders; they are notified until the incident is acknowledged", "@dana", _parse_page),
    _Spec("stakeholder", ("stakeholders",), "add <@person|#channel>",
          "keep a person or a channel informed of updates", "add #exec-updates", _parse_stakeholder),
    _Spec("merge", (), "<incident number>",
          "fold a duplicate incident into this one (its alerts, notes and request move here)", "INC-42",
          _parse_merge),
    _Spec("summary", ("update", "sitrep"), "",
          "post a status update: current state, impact, what is being done, next update", "", _bare(Summary)),
    _Spec("ask", ("question",), "<question>",
          "ask about the incident's alerts, timeline, notes, discussion and changes; the answer cites its sources",
          "what changed before the first alert?", _parse_ask, True),
    _Spec("rca", ("causes", "root-cause"), "", "suggest probable root causes, each with its evidence", "",
          _bare(Rca)),
    _Spec("postmortem", ("pm", "post-mortem"), "",
          "draft the postmortem now (it is also drafted when the incident resolves)", "", _bare(Postmortem)),
    _Spec("help", ("?", "commands"), "[command]", "list the commands, or show one command's form", "role",
          _parse_help),
)
_SPECS: dict[str, _Spec] = {s.name: s for s in _SPEC_LIST}
_BY_NAME: dict[str, _Spec] = {n: s for s in _SPEC_LIST for n in (s.name, *s.aliases)}

#: The canonical verbs, in help order.
VERBS: tuple[str, ...] = tuple(_SPECS)


def _fmt(template: str, ctx: GrammarContext, lead: str = "") -> str:
    if not template:
        return ""
    text = template.format(
        prios="|".join(ctx.priorities) or "P1",
        top=_top(ctx),
        prio=_example_priority(ctx),
        service=_example_service(ctx),
        roles=_listing(r.key for r in ctx.roles),
    )
    return lead + text


def _unknown_verb(word: str, ctx: GrammarContext) -> Rejection:
    shown = _shown(word)
    if service := ctx.service(word):
        return Rejection(
            f"Unknown command '{shown}'. To declare an incident for {service}, "
            f"try `{ctx.command} declare {service} <title>`."
        )
    if prio := ctx.priority(word):
        return Rejection(
            f"Unknown command '{shown}'. To declare an incident, try `{ctx.command} declare {prio} <title>`; "
            f"to change this incident's priority, `{ctx.command} priority {prio}`."
        )
    if close := _closest(word, _BY_NAME):
        spec = _BY_NAME[close.casefold()]
        return Rejection(
            f"Unknown command '{shown}'; did you mean `{spec.name}`? "
            f"Try `{ctx.command} {spec.name}{_fmt(spec.example, ctx, lead=' ')}`, "
            f"or `{ctx.command} help` for every command."
        )
    return Rejection(
        f"Unknown command '{shown}'. Commands: {', '.join(_SPECS)}. Try `{ctx.command} help` for what each does."
    )


# ---------------------------------------------------------------------------------------------- public


def parse(text: str, ctx: GrammarContext) -> Command | Rejection:
    """The text after the command name → a command, or a rejection saying what was wrong and the right form.

    Never raises. Empty text is :class:`Help`.
    """
    body = text.strip()
    if not body:
        return Help(None)
    word, rest = _split_first(body)
    spec = _BY_NAME.get(word.casefold())
    if spec is None:
        return _unknown_verb(word, ctx)
    if not spec.free_text and len(rest) > ARGS_MAX_CHARS:
        form = f"{spec.name}{_fmt(spec.form, ctx, lead=' ')}"
        return _reject(ctx, spec.name, f"That is too much text for `{spec.name}`, which takes `{form}`.")
    return spec.parse(rest, ctx)


def help_text(ctx: GrammarContext, topic: str | None = None) -> str:
    """Every command with a one-line description and an example, or one command's form (``topic``)."""
    words = topic.split() if topic else []
    spec = _BY_NAME.get(words[0].casefold()) if words else None
    if spec is not None:
        lines = [
            f"`{ctx.command} {spec.name}{_fmt(spec.form, ctx, lead=' ')}` — {_fmt(spec.summary, ctx)}.",
            f"Example: `{ctx.command} {spec.name}{_fmt(spec.example, ctx, lead=' ')}`",
        ]
        if spec.aliases:
            lines.append("Also written: " + ", ".join(f"`{a}`" for a in spec.aliases) + ".")
        if spec.name in ("declare", "priority"):
            lines.append(f"Priorities: {_listing(ctx.priorities)} ({_top(ctx)} is the highest).")
        if spec.name in ("declare", "page"):
            lines.append(f"Services: {_listing(ctx.services)}.")
        if spec.name in ("role", "roles"):
            lines.append("Roles: " + _listing(f"{r.key} ({r.label})" for r in ctx.roles) + ".")
        return "\n".join(lines)
    lines = []
    if topic and topic.strip():
        lines.append(f"There is no command '{_shown(topic.strip())}'. These are the commands:")
    lines.append(f"*Incident commands* — `{ctx.command} <command>`:")
    for s in _SPEC_LIST:
        example = f" (e.g. `{ctx.command} {s.name}{_fmt(s.example, ctx, lead=' ')}`)" if s.example else ""
        lines.append(f"• `{s.name}{_fmt(s.form, ctx, lead=' ')}` — {_fmt(s.summary, ctx)}{example}")
    lines.append(
        f"Priorities: {_listing(ctx.priorities)}. Services: {_listing(ctx.services)}. "
        f"Roles: {_listing(r.key for r in ctx.roles)}."
    )
    lines.append(f"`{ctx.command} help <command>` shows one command's form.")
    return "\n".join(lines)
