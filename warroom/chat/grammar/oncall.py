"""The on-call command's grammar: Slack's ``/oncall …`` and Teams' ``@warroom oncall …`` → a typed command
(warroom.response.commands: ``OnCallWho``, ``OnCallOverride``, ``OnCallOverrides``, ``OnCallRemove``,
``OnCallHelp``), or a rejection saying how to write it; and the command's help. Pure code: no I/O.

Forms (after the command)::

    (nothing) | <service|team|schedule>          who is on call now and next
    override [<schedule>] <@person|me> <when>     someone covers: until …, for …, from … to …
    overrides [<schedule>]                        the overrides asked for in chat, with their numbers
    override remove <number>                      take one back
    help

A schedule is named as configured (case does not matter; a name of several words is matched as a whole). What
``<when>`` may say is warroom.oncall.parse_override's to read, in the runner, where the time zone and the people
are known. Names in ``who`` are resolved by the runner too (services, teams and schedules all answer to it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warroom.chat.grammar.help import _listing, _shown
from warroom.response.commands import (
    OnCallCommand,
    OnCallHelp,
    OnCallOverride,
    OnCallOverrides,
    OnCallRemove,
    OnCallWho,
    Rejection,
)

if TYPE_CHECKING:
    from warroom.settings import Settings

#: The word that starts the on-call command where it shares a bot with the incident commands (Teams).
VERB = "oncall"
_VERBS = frozenset({"oncall", "on-call", "on_call"})
#: At most this many characters after the command (names and override text are short).
ARGS_MAX_CHARS = 500

_REMOVE = frozenset({"remove", "rm", "delete", "del", "cancel"})
_OVERRIDES = frozenset({"overrides", "list"})
_HELP = frozenset({"help", "?", "commands"})
_ID = re.compile(r"#?0*(\d{1,12})")
_EMAIL = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")


@dataclass(frozen=True, slots=True)
class OnCallGrammar:
    """What the on-call grammar knows: how people invoke it and the configured schedules' names."""

    command: str = "/oncall"
    schedules: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, command: str | None = None) -> OnCallGrammar:
        """``command``: how the front end's people invoke it (default Slack's ``/{slack.oncall_command}``)."""
        return cls(
            command=command or f"/{settings.slack.oncall_command.strip().lstrip('/')}",
            schedules=tuple(s.name for s in settings.oncall.schedules),
        )

    def schedule(self, words: str) -> str | None:
        """The configured spelling of the schedule called ``words`` (case and spacing do not matter)."""
        folded = " ".join(words.split()).casefold()
        return next((s for s in self.schedules if " ".join(s.split()).casefold() == folded), None)

    def help_text(self) -> str:
        """Every form of the command, with what it does and an example."""
        c = self.command
        example = self.schedules[0] if self.schedules else "payments-primary"
        lines = [
            f"*On call* — `{c} [service|team|schedule]`:",
            f"• `{c}` — who is on call now and who is next: this channel's service's schedules (in a war room or a "
            "declare channel), else every schedule",
            f"• `{c} <service|team|schedule>` — the same for a service (the schedules its escalation policy pages), a "
            f"team's schedules or one schedule (e.g. `{c} {example}`)",
            f"• `{c} override [schedule] @person|me until <when>` — someone covers the schedule: `until tomorrow "
            "09:00`, `for 4h`, `from friday 17:00 to monday 09:00` (times in the schedule's time zone); anyone on "
            f"the schedule may, and the oncall-admins group (e.g. `{c} override {example} @dana until tomorrow 09:00`)",
            f"• `{c} overrides [schedule]` — the overrides asked for in chat that are not over, with their numbers",
            f"• `{c} override remove <number>` — take an override back (e.g. `{c} override remove 12`)",
            f"Schedules: {_listing(self.schedules)}.",
        ]
        return "\n".join(lines)


def after_verb(text: str) -> str | None:
    """The text after ``oncall`` when ``text`` is an on-call command (Teams: ``@warroom oncall …``), else None."""
    word, rest = _split_first(text.strip())
    return rest if word.casefold() in _VERBS else None


def _split_first(text: str) -> tuple[str, str]:
    m = re.search(r"\s", text)
    if m is None:
        return text, ""
    return text[: m.start()], text[m.start() :].strip()


def _reject(ctx: OnCallGrammar, reason: str, form: str) -> Rejection:
    return Rejection(f"{reason} Try `{ctx.command} {form}`, or `{ctx.command} help`.", "oncall")


def _looks_like_person(token: str) -> bool:
    return token[:1] in ("<", "@") or token.casefold() == "me" or _EMAIL.fullmatch(token) is not None


def _override_form(ctx: OnCallGrammar) -> str:
    return f"override {ctx.schedules[0] + ' ' if len(ctx.schedules) > 1 else ''}@dana until tomorrow 09:00"


def _known(ctx: OnCallGrammar) -> str:
    return f"Schedules: {_listing(ctx.schedules)}."


def _parse_remove(rest: str, ctx: OnCallGrammar) -> OnCallCommand | Rejection:
    words = rest.split()
    if len(words) != 1:
        what = "Say which override to remove" if not words else "Remove one override at a time"
        return _reject(ctx, f"{what}, by its number (`{ctx.command} overrides` lists them).", "override remove 12")
    m = _ID.fullmatch(words[0])
    if m is None or int(m.group(1)) == 0:
        return _reject(ctx, f"'{_shown(words[0])}' is not an override number (`{ctx.command} overrides` lists them).",
                       "override remove 12")
    return OnCallRemove(int(m.group(1)))


def _schedule_prefix(rest: str, ctx: OnCallGrammar) -> tuple[str | None, str]:
    """The longest run of leading words that names a schedule, and the text after it."""
    words = rest.split()
    for n in range(len(words), 0, -1):
        found = ctx.schedule(" ".join(words[:n]))
        if found is not None:
            after = rest
            for word in words[:n]:
                after = after[after.index(word) + len(word) :]
            return found, after.strip()
    return None, rest


def _parse_override(rest: str, ctx: OnCallGrammar) -> OnCallCommand | Rejection:
    first, after = _split_first(rest)
    if first.casefold() in _REMOVE:
        return _parse_remove(after, ctx)
    if not rest:
        return _reject(ctx, "Say who covers and until when.", _override_form(ctx))
    schedule, text = _schedule_prefix(rest, ctx)
    if schedule is not None and not text:
        return _reject(ctx, f"Say who covers {schedule} and until when.", f"override {schedule} @dana until tomorrow 09:00")
    if schedule is None and not _looks_like_person(first) and _looks_like_person(_split_first(after)[0]):
        return _reject(ctx, f"There is no schedule '{_shown(first)}'. {_known(ctx)}", _override_form(ctx))
    return OnCallOverride(schedule, text)


def _parse_overrides(rest: str, ctx: OnCallGrammar) -> OnCallCommand | Rejection:
    first, after = _split_first(rest)
    if first.casefold() in _REMOVE:
        return _parse_remove(after, ctx)
    if not rest:
        return OnCallOverrides(None)
    schedule = ctx.schedule(rest)
    if schedule is None:
        return _reject(ctx, f"There is no schedule '{_shown(rest)}'. {_known(ctx)}", "overrides")
    return OnCallOverrides(schedule)


def parse(text: str, ctx: OnCallGrammar) -> OnCallCommand | Rejection:
    """The text after the command → an on-call command, or a rejection with the right form. Never raises; empty
    text asks who is on call here."""
    body = text.strip()
    if not body:
        return OnCallWho(None)
    if len(body) > ARGS_MAX_CHARS:
        return _reject(ctx, f"That is more text than the on-call command takes ({ARGS_MAX_CHARS} characters at most).",
                       _override_form(ctx))
    word, rest = _split_first(body)
    verb = word.casefold()
    if verb in _HELP:
        return OnCallHelp()
    if verb == "override":
        return _parse_override(rest, ctx)
    if verb in _OVERRIDES:
        return _parse_overrides(rest, ctx)
    if verb in _REMOVE:
        return _parse_remove(rest, ctx)
    if verb in ("who", "now"):
        return OnCallWho(rest or None)
    return OnCallWho(body)
