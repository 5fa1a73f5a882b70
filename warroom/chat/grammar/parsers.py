"""The parser: chat text → a typed command (warroom.response.commands), or a rejection saying how to write it.

Slack's ``/incident`` and the Teams bot both call :func:`parse` with the text after the command name and a
:class:`~warroom.chat.grammar.context.GrammarContext` (the configured priorities, services and roles, and the
command's name for messages). Verbs, aliases and the forms rejections show come from the command table
(:mod:`warroom.chat.grammar.help`). Pure code: no I/O, no settings read here.

Markup understood in arguments is Slack's escaped form (Slack's message-formatting reference, "linking to
channels and users"), which a slash command sends only when "escape channels, users, and links" is on — the
manifest must set ``should_escape: true``: ``<@U123>`` / ``<@U123|dana>`` (a person), ``<#C123|name>`` (a channel),
``<!subteam^S123|@oncall>`` (a user group), ``<mailto:a@b.c|a@b.c>``. Other front ends rewrite their
mentions into the same form before parsing (Teams: ``<@{aad id}|{name}>``) or build a :class:`Target` directly.

Notes and titles are kept exactly as typed — mentions, links, markdown, emoji, newlines, entities such as
``&amp;`` — and only the whitespace around them is dropped. Their limits are the commands' (Xurrent's):
:data:`TITLE_MAX_CHARS`, :data:`NOTE_MAX_BYTES`, :data:`QUESTION_MAX_CHARS`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import TypeAlias

from warroom.chat.grammar.context import GrammarContext
from warroom.chat.grammar.help import _BY_NAME, _SPECS, VERBS, _example_service, _fmt, _listing, _shown, _top
from warroom.response.commands import (
    ME,
    NOTE_MAX_BYTES,
    PERSON_KINDS,
    QUESTION_MAX_CHARS,
    STATUS_UPDATE_MAX_CHARS,
    STATUS_UPDATE_STATES,
    TASK_TITLE_MAX_CHARS,
    TITLE_MAX_CHARS,
    Ack,
    Ask,
    Assign,
    Command,
    Declare,
    Escalate,
    Help,
    ListIncidents,
    Merge,
    Note,
    Page,
    Postmortem,
    PostmortemApprove,
    PostmortemComment,
    PostmortemFact,
    PostmortemHide,
    PostmortemPublish,
    PostmortemReview,
    PostmortemTime,
    Priority,
    Rca,
    Rejection,
    Reopen,
    Resolve,
    Role,
    Roles,
    StakeholderAdd,
    Status,
    StatusPageDraft,
    StatusPagePublish,
    Summary,
    Target,
    TargetKind,
    TaskAction,
    TaskAdd,
    TaskChange,
    Tasks,
    Title,
    role_slug,
)

#: Verbs whose arguments are words (not free text) refuse more than this many characters after the verb.
ARGS_MAX_CHARS = 1000

Result: TypeAlias = Command | Rejection
_Parser: TypeAlias = Callable[[str, GrammarContext], Result]


# ---------------------------------------------------------------------------------------------- targets


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


# ---------------------------------------------------------------------------------------------- helpers


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


def _bare(
    cls: type[Ack | Reopen | Status | ListIncidents | Roles | Summary | Rca | Postmortem], hint: str = ""
) -> _Parser:
    def parse(rest: str, ctx: GrammarContext) -> Result:
        if rest:
            return _reject(ctx, cls.verb, f"`{cls.verb}` takes nothing after it{hint}.")
        return cls()

    return parse


_SERVICE_MARKER = re.compile(r"(?:service|svc)[:=](\S+)", re.IGNORECASE)


def _parse_declare(rest: str, ctx: GrammarContext) -> Result:
    """``declare [priority] [service:<name>] <title>``, the first two in either order. A service is named without
    doubt by its marker, or by a name shaped like an identifier (``checkout-api``) written as configured; a plain
    word that is also a service (``checkout``) may as well begin the title ("Checkout is down"), so then the form
    opens with that service chosen and the whole text as the title, for the person to confirm. With no service,
    the front end takes the war room's service, or a channel's configured one, or asks with the form."""
    service: str | None = None
    priority: str | None = None
    doubtful: str | None = None
    title = rest
    for _ in range(2):
        word, after = _split_first(title)
        if not word:
            break
        if priority is None and (found := ctx.priority(word)):
            priority, title = found, after
        elif service is None and doubtful is None and (marked := _SERVICE_MARKER.fullmatch(word)):
            name = marked.group(1)
            if (found := ctx.service(name)) is None:
                close = _closest(name, ctx.services)
                hint = f"did you mean '{close}'? " if close else ""
                reason = f"Unknown service '{_shown(name)}'; {hint}Services: {_listing(ctx.services)}."
                return _reject(ctx, "declare", reason, f"{priority or _top(ctx)} service:{close or _example_service(ctx)} <title>")
            service, title = found, after
        elif service is None and doubtful is None and (found := ctx.service(word)):
            # sure when shaped like an identifier, alone, or followed by a priority ("db P1 Disk full")
            if _SERVICE_SHAPE.fullmatch(word.casefold()) or not after or ctx.priority(_split_first(after)[0]):
                service, title = found, after
            else:
                doubtful = found  # a word of the title, or the service? the form asks
                break
        else:
            break
    if doubtful is not None:
        return Declare(doubtful, priority, None, draft=title)
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
        close = _closest(role_slug(typed), [n for r in ctx.roles for n in r.names()])
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


_ENTRY = re.compile(r"(?:\[?event:|#|e)?(\d{1,12})\]?", re.IGNORECASE)
_PM_STEPS = ("review", "comment", "approve", "publish", "hide", "time", "fact", "draft")
_PM_FORMS = (
    "`review <@person…>`, `comment <text>`, `approve`, `publish`, `hide <entry>`, `time <entry> <HH:MM>` or "
    "`fact <text> [at <HH:MM>]`"
)
_FACT_AT = re.compile(r"^(.*\S)\s+at\s+(\S+(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?)$", re.IGNORECASE | re.DOTALL)
_TIME_SHAPE = re.compile(r"\d{1,2}:\d{2}(?::\d{2})?|\d{4}-\d{2}-\d{2}(?:[T ]\d{1,2}:\d{2}\S*)?", re.IGNORECASE)


def _entry(token: str) -> int | None:
    m = _ENTRY.fullmatch(token)
    return int(m.group(1)) if m and int(m.group(1)) > 0 else None


def _parse_postmortem(rest: str, ctx: GrammarContext) -> Result:
    """``postmortem`` (draft it now) or one step of its review: ``review @a @b``, ``comment <text>``, ``approve``,
    ``publish``, ``hide <entry>``, ``time <entry> <HH:MM|ISO time>``, ``fact <text> [at <HH:MM|ISO time>]``. An
    entry is the number the postmortem's timeline shows (``[event:12]`` is entry 12)."""
    if not rest:
        return Postmortem()
    word, after = _split_first(rest)
    step = word.casefold()
    if step not in _PM_STEPS:
        close = _closest(step, _PM_STEPS)
        hint = f" (did you mean `{close}`?)" if close else ""
        return _reject(ctx, "postmortem", f"Unknown postmortem step '{_shown(word)}'{hint}; write {_PM_FORMS}.",
                       "review @dana @lee")
    if step in ("approve", "publish", "draft"):
        if after:
            return _reject(ctx, "postmortem", f"`postmortem {step}` takes nothing after it.", step)
        if step == "approve":
            return PostmortemApprove()
        return PostmortemPublish() if step == "publish" else Postmortem()
    if step in ("comment", "fact"):
        if not after:
            what = "comment" if step == "comment" else "fact for the timeline"
            example = "The summary should name the failed release" if step == "comment" else (
                "Customer support saw the first complaint at 06:02")
            return _reject(ctx, "postmortem", f"Write the {what} after `postmortem {step}`.", f"{step} {example}")
        if problem := _text_too_long(after, step):
            return _reject(ctx, "postmortem", problem, f"{step} <shorter text>")
        if step == "comment":
            return PostmortemComment(after)
        m = _FACT_AT.match(after)
        if m and _TIME_SHAPE.fullmatch(m.group(2).split()[0]):
            return PostmortemFact(m.group(1), m.group(2))
        return PostmortemFact(after)
    tokens = _tokens(after)
    if step == "review":
        if not tokens:
            return _reject(ctx, "postmortem", "Say who reviews the postmortem: mention them with @.",
                           "review @dana @lee")
        if len(tokens) > 20:
            return _reject(ctx, "postmortem", "Name at most 20 reviewers.", "review @dana @lee")
        people: list[Target] = []
        for token in tokens:
            target = _person(token, ctx)
            if isinstance(target, str):
                return _reject(ctx, "postmortem", f"{target[0].upper()}{target[1:]}.", "review @dana @lee")
            people.append(target)
        return PostmortemReview(tuple(dict.fromkeys(people)))
    # hide / time: an entry number first
    entry = _entry(tokens[0]) if tokens else None
    if entry is None:
        shown = f"'{_shown(tokens[0])}' is not a timeline entry" if tokens else "Say which timeline entry"
        return _reject(ctx, "postmortem", f"{shown}: give the number the postmortem's timeline shows "
                       "(`[event:12]` is entry 12).", f"{step} 12" + (" 06:05" if step == "time" else ""))
    if step == "hide":
        if len(tokens) > 1:
            return _reject(ctx, "postmortem", "Hide one timeline entry at a time.", f"hide {entry}")
        return PostmortemHide(entry)
    when = " ".join(tokens[1:])
    if not when or not _TIME_SHAPE.fullmatch(tokens[1]) or len(tokens) > 3:
        return _reject(ctx, "postmortem", "Give the entry's correct time as HH:MM (UTC) or an ISO time "
                       "such as 2026-11-22T06:05Z.", f"time {entry} 06:05")
    return PostmortemTime(entry, when)


#: ``task add``'s text beyond this many characters is refused (a title, an owner and a date fit well within).
_TASK_ADD_MAX_CHARS = TASK_TITLE_MAX_CHARS + 400
_TASK_NUMBER = re.compile(r"#?0*(\d{1,9})")
_TASK_DUE = re.compile(r"(?:^|\s)due\s+(\S.*)$", re.IGNORECASE | re.DOTALL)
_TASK_STATUS = {
    "done": "done", "complete": "done", "completed": "done", "finished": "done", "closed": "done",
    "start": "in_progress", "started": "in_progress", "doing": "in_progress", "in_progress": "in_progress",
    "in-progress": "in_progress", "inprogress": "in_progress", "wip": "in_progress",
    "todo": "todo", "to-do": "todo", "reopen": "todo",
}
_TASK_FORMS = "`done`, `start`, `todo`, `assign @person`, `due <date>`, `note <text>` or `wontdo <reason>`"
_TASK_TWO_WORDS = {"in progress": "in_progress", "to do": "todo", "won't do": "wontdo", "wont do": "wontdo",
                   "won\u2019t do": "wontdo"}


def _task_owner(token: str) -> Target | None:
    """The owner at the end of ``task add``'s text: a mention or an email (a plain word belongs to the title)."""
    if m := _USER.fullmatch(token):
        return Target(TargetKind.USER, m.group(1), m.group(2) or None)
    if m := _MAILTO.fullmatch(token):
        return Target(TargetKind.EMAIL, m.group(1).lower())
    if _EMAIL.fullmatch(token):
        return Target(TargetKind.EMAIL, token.lower())
    return None


def _parse_task_add(text: str, ctx: GrammarContext) -> Result:
    if len(text) > _TASK_ADD_MAX_CHARS:
        return _reject(ctx, "task", f"The task's title is longer than the {TASK_TITLE_MAX_CHARS} characters allowed; "
                                    "shorten it and add the rest as a note.")
    due: str | None = None
    owner: Target | None = None
    if (m := _TASK_DUE.search(text)) is not None:
        due, text = m.group(1).strip(), text[: m.start()].rstrip()
        last = _tokens(due)
        if len(last) >= 2 and due.endswith(last[-1]) and (found := _task_owner(last[-1])) is not None:
            owner, due = found, due[: -len(last[-1])].rstrip()
    words = _tokens(text)
    if owner is None and len(words) >= 2 and text.endswith(words[-1]) and (found := _task_owner(words[-1])):
        owner, text = found, text[: -len(words[-1])].rstrip()
    if not text or _task_owner(text) is not None:
        return _reject(ctx, "task", "Write the task's title after `task add`.")
    if len(text) > TASK_TITLE_MAX_CHARS:
        return _reject(ctx, "task", f"The task's title is {len(text)} characters long, more than the "
                                    f"{TASK_TITLE_MAX_CHARS} allowed; shorten it and add the rest as a note.")
    return TaskAdd(text, owner, due)


def _parse_task(rest: str, ctx: GrammarContext) -> Result:
    """``task add <title> [@owner] [due <date>]`` or ``task <n> <action>``."""
    word, after = _split_first(rest)
    if not word:
        return _reject(ctx, "task", "Say what to do: `task add <title>`, or `task <n> done` for task n of `tasks`.")
    if word.casefold() in ("add", "new", "create"):
        return _parse_task_add(after, ctx)
    if word.casefold() in ("list", "ls"):
        return Tasks() if not after else _reject(ctx, "task", "`task list` takes nothing after it.")
    m = _TASK_NUMBER.fullmatch(word)
    if m is None or int(m.group(1)) == 0:
        return _reject(ctx, "task", f"'{_shown(word)}' is neither `add` nor a task number (see `tasks`).")
    number = int(m.group(1))
    action, value = _split_first(after)
    key = action.casefold()
    if value:
        second, remainder = _split_first(value)
        if (joined := _TASK_TWO_WORDS.get(f"{key} {second.casefold()}")) is not None:
            key, action, value = joined, f"{action} {second}", remainder
    if not key:
        return _reject(ctx, "task", f"Say what to do with task {number}: {_TASK_FORMS}.", f"{number} done")
    if key in _TASK_STATUS:
        if value:
            return _reject(ctx, "task", f"`{_shown(action)}` takes nothing after it; add a note with "
                                        f"`task {number} note <text>`.", f"{number} {_TASK_STATUS[key]}")
        return TaskChange(number, TaskAction.STATUS, _TASK_STATUS[key])
    if key in ("assign", "owner"):
        tokens = _tokens(value)
        if len(tokens) != 1:
            return _reject(ctx, "task", f"Say who owns task {number}: mention one person or write `me`.",
                           f"{number} assign @dana")
        target = _person(tokens[0], ctx)
        if isinstance(target, str):
            return _reject(ctx, "task", f"{target[0].upper()}{target[1:]}.", f"{number} assign @dana")
        return TaskChange(number, TaskAction.ASSIGN, target=target)
    if key in ("due", "deadline"):
        if not value or len(value) > 100:
            return _reject(ctx, "task", f"Say when task {number} is due: a date, `friday`, `in 2 weeks`, or `none`.",
                           f"{number} due friday")
        return TaskChange(number, TaskAction.DUE, value)
    if key in ("note", "comment"):
        if not value:
            return _reject(ctx, "task", f"Write the note after `task {number} note`.", f"{number} note <text>")
        if problem := _text_too_long(value, "note"):
            return _reject(ctx, "task", problem, f"{number} note <text>")
        return TaskChange(number, TaskAction.NOTE, value)
    if key in ("wontdo", "won't-do", "wont-do", "won\u2019t-do", "skip", "drop"):
        if not value:
            return _reject(ctx, "task", f"Say why task {number} will not be done: closing it needs a reason.",
                           f"{number} wontdo <reason>")
        if problem := _text_too_long(value, "reason"):
            return _reject(ctx, "task", problem, f"{number} wontdo <reason>")
        return TaskChange(number, TaskAction.WONT_DO, value)
    close = _closest(key, [*_TASK_STATUS, "assign", "due", "note", "wontdo"])
    hint = f" (did you mean `{close}`?)" if close else ""
    return _reject(ctx, "task", f"Unknown task action '{_shown(action)}'{hint}. Write {_TASK_FORMS}.",
                   f"{number} done")


def _parse_tasks(rest: str, ctx: GrammarContext) -> Result:
    if rest:
        return _reject(ctx, "tasks", "`tasks` takes nothing after it; to change one, use `task <n> done`.")
    return Tasks()


_STATUSPAGE_USAGE = "[state] <text>"


def _update_state(word: str, ctx: GrammarContext, args: str) -> str | Rejection:
    """A status page update's state as typed → its name, or a rejection naming the states."""
    state = word.casefold()
    if state in STATUS_UPDATE_STATES:
        return state
    close = _closest(word, STATUS_UPDATE_STATES)
    hint = f"; did you mean `{close}`?" if close else "."
    return _reject(ctx, "statuspage", f"'{_shown(word)}' is not a status page state{hint} States: "
                   f"{', '.join(STATUS_UPDATE_STATES)}.", args)


def _parse_statuspage(rest: str, ctx: GrammarContext) -> Result:
    """``statuspage [state] <text>`` (the person's own text; a state is its first word, in lower case) or
    ``statuspage draft [state]``."""
    if not rest:
        return _reject(ctx, "statuspage", "Write the update people reading the status page should see after "
                       "`statuspage`, or ask for a draft with `statuspage draft`.")
    word, after = _split_first(rest)
    if word.casefold() == "draft":
        words = _tokens(after)
        if len(words) > 1:
            return _reject(ctx, "statuspage", "`statuspage draft` takes at most a state after it.", "draft identified")
        if not words:
            return StatusPageDraft()
        picked = _update_state(words[0], ctx, "draft identified")
        return picked if isinstance(picked, Rejection) else StatusPageDraft(picked)
    state: str | None = None
    text = rest
    if word in STATUS_UPDATE_STATES or (not after and word.casefold() in STATUS_UPDATE_STATES):
        # a state is written in lower case: "Investigating elevated errors…" is a sentence, published whole
        if not after:
            return _reject(ctx, "statuspage", f"Write the update's text after `statuspage {word.casefold()}`.",
                           f"{word.casefold()} <text>")
        state, text = word, after
    elif after and word.isalpha() and word.islower() and _closest(word, STATUS_UPDATE_STATES, 0.8):
        refused = _update_state(word, ctx, f"{_closest(word, STATUS_UPDATE_STATES, 0.8)} <text>")
        if isinstance(refused, Rejection):
            return refused
    if len(text) > STATUS_UPDATE_MAX_CHARS:
        return _reject(ctx, "statuspage", f"The update is {len(text):,} characters long, more than the "
                       f"{STATUS_UPDATE_MAX_CHARS:,} a status page update may hold; shorten it.")
    return StatusPagePublish(text, state)


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


# ---------------------------------------------------------------------------------------------- the parsers


#: Each verb of the command table (help.VERBS) → its parser.
_PARSERS: dict[str, _Parser] = {
    "declare": _parse_declare,
    "escalate": _parse_escalate,
    "ack": _bare(Ack, "; to add a note, use `note <text>`"),
    "resolve": _parse_resolve,
    "reopen": _bare(Reopen),
    "status": _bare(Status),
    "list": _bare(ListIncidents),
    "priority": _parse_priority,
    "title": _parse_title,
    "assign": _parse_assign,
    "role": _parse_role,
    "roles": _bare(Roles),
    "note": _parse_note,
    "page": _parse_page,
    "stakeholder": _parse_stakeholder,
    "merge": _parse_merge,
    "summary": _bare(Summary),
    "ask": _parse_ask,
    "rca": _bare(Rca),
    "postmortem": _parse_postmortem,
    "task": _parse_task,
    "tasks": _parse_tasks,
    "statuspage": _parse_statuspage,
    "help": _parse_help,
}
if set(_PARSERS) != set(VERBS):  # a verb added to one table and not the other
    raise RuntimeError(f"verbs without a parser or a help entry: {set(_PARSERS) ^ set(VERBS)}")


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
    return _PARSERS[spec.name](rest, ctx)
