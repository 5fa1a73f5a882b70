"""The command table (every verb with its aliases, its form, what it does, an example) and :func:`help_text`.

The parser (:mod:`warroom.chat.grammar.parsers`) reads the same table to recognise verbs and aliases and to show
the right form in its rejections; the sentences it shares with help (user text made safe to echo, lists, the
examples filled from the configuration) are here too. Pure code: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warroom.core import markup
from warroom.response.commands import TITLE_MAX_CHARS

if TYPE_CHECKING:
    from warroom.chat.grammar.context import GrammarContext


# ---------------------------------------------------------------------------------------------- helpers


def _shown(text: str, limit: int = 40) -> str:
    """User text made safe to echo inside a sentence: cut short, no control characters, no backticks."""
    cut = "".join(ch if ch.isprintable() and ch != "`" else "\N{REPLACEMENT CHARACTER}" for ch in text[:limit])
    return markup.escape(cut + ("…" if len(text) > limit else ""))


def _listing(items: Iterable[str]) -> str:
    return ", ".join(items) or "none configured"


def _top(ctx: GrammarContext) -> str:
    return ctx.priorities[0] if ctx.priorities else "P1"


def _example_priority(ctx: GrammarContext) -> str:
    return ctx.priorities[1] if len(ctx.priorities) > 1 else _top(ctx)


def _example_service(ctx: GrammarContext) -> str:
    return ctx.services[0] if ctx.services else "checkout-api"


# ---------------------------------------------------------------------------------------------- the table


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    aliases: tuple[str, ...]
    form: str  # after the verb; {prios} {top} {prio} {service} {roles} are filled from the context
    summary: str
    example: str
    free_text: bool = False  # the arguments are a note or a title, kept as typed


_SPEC_LIST: tuple[_Spec, ...] = (
    _Spec("declare", ("new",), "[{prios}] [service:<name>] <title>",
          "declare a major incident and open its war room (service: the war room's, the channel's, or ask); "
          "with nothing after it, opens a form",
          "{top} service:{service} Checkout is down", True),
    _Spec("escalate", (), "<Xurrent request number or link>",
          "make a service-desk request a major incident", "70001"),
    _Spec("ack", ("acknowledge",), "", "acknowledge the incident: you are on it, paging stops", ""),
    _Spec("resolve", ("close", "resolved"), "[closing note]", "resolve the incident, with an optional closing note",
          "Rolled back release 42", True),
    _Spec("reopen", ("re-open",), "", "reopen a resolved incident", ""),
    _Spec("status", ("info",), "", "show the incident's state, roles and links", ""),
    _Spec("list", ("incidents",), "", "list the open incidents with their priority, service and war room "
          "(works in any channel)", ""),
    _Spec("priority", ("prio",), "<{prios}>", "change the priority; {top} is the highest", "{prio}"),
    _Spec("title", ("rename",), "<text>", f"rename the incident (at most {TITLE_MAX_CHARS} characters)",
          "Checkout fails for card payments", True),
    _Spec("assign", (), "<@person|me>", "make someone the incident's assignee", "@dana"),
    _Spec("role", (), "<role> <@person|me>", "give someone a role: {roles}", "commander @dana"),
    _Spec("roles", (), "", "show who holds each role", ""),
    _Spec("note", ("comment",), "<text>",
          "add a note to the timeline (and to the ITSM request when note sync is on)",
          "Restarted the pods; error rate falling", True),
    _Spec("page", (), "<@person|@group|team|service>",
          "page more responders; they are notified until the incident is acknowledged", "@dana"),
    _Spec("stakeholder", ("stakeholders",), "add <@person|#channel>",
          "keep a person or a channel informed of updates", "add #exec-updates"),
    _Spec("merge", (), "<incident number>",
          "fold a duplicate incident into this one (its alerts, notes and request move here)", "INC-42"),
    _Spec("summary", ("update", "sitrep"), "",
          "post a status update: current state, impact, what is being done, next update", ""),
    _Spec("ask", ("question",), "<question>",
          "ask about the incident's alerts, timeline, notes, discussion and changes; the answer cites its sources",
          "what changed before the first alert?", True),
    _Spec("rca", ("causes", "root-cause"), "", "suggest probable root causes, each with its evidence", ""),
    _Spec("postmortem", ("pm", "post-mortem"),
          "[review <@person…>|comment <text>|approve|publish|hide <entry>|time <entry> <HH:MM>"
          "|fact <text> [at <HH:MM>]]",
          "draft the postmortem now (it is also drafted when the incident resolves); then have it reviewed, "
          "edit its timeline (an entry is the number it shows: [event:12]) and publish it", "review @dana", True),
    _Spec("task", (), "add <title> [@owner] [due <date>] | <n> done|start|todo|assign <@person>|due <date>|note <text>|"
          "wontdo <reason>",
          "add a post-incident task, or change task <n> (its number in `tasks`); a date is e.g. `friday`, "
          "`in 2 weeks` or `2026-12-24`",
          "add Alert on disk usage @dana due friday", True),
    _Spec("tasks", ("followups", "follow-ups"), "", "list the incident's post-incident tasks and how many are open",
          ""),
    _Spec("statuspage", ("status-page",), "[investigating|identified|monitoring|resolved] <text> | draft [state]",
          "publish your own text on the service's status page (its state kept unless you give one, in lower case; the war room "
          "sees who published, not the text), or ask the AI responder for a draft to Publish, Edit or Discard",
          "identified We found the cause and are deploying a fix.", True),
    _Spec("help", ("?", "commands"), "[command]", "list the commands, or show one command's form", "role"),
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


# ---------------------------------------------------------------------------------------------- public


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
