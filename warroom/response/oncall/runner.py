"""Runs the on-call command (``/oncall`` in Slack, ``@warroom oncall`` in Teams) for a person in a chat.

- **who** — who is on call now and who is next in each schedule a name means (a service's escalation policy's, a
  team's, one schedule; with no name the channel's service's, else every schedule), with when the change comes in
  the asker's terms: UTC and the schedule's own time zone.
- **override** — someone covers a schedule for a while, read from chat text by warroom.oncall.parse_override in the
  schedule's time zone; stored (the ``oncall_overrides`` table) above the YAML's layers and overrides, the later
  above the earlier. Anyone on the schedule may, and the members of the ``oncall-admins`` group (response.groups).
- **overrides** / **remove** — the chat overrides not over yet, with their numbers; take one back.

Answers are war-room lines (warroom.core.markup): outside text escaped, warroom's own links kept. Like the incident
commands' runner (warroom.response.actions), it learns what it must of the chat through a ChatEdge.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from warroom.core import markup
from warroom.core.model import Incident
from warroom.oncall import OverrideTextError, Schedule, next_change, parse_override
from warroom.oncall.model import to_utc
from warroom.response import commands as cmd
from warroom.response.actions import Actor, ChatEdge, Reply
from warroom.response.oncall import feeds
from warroom.response.oncall.schedules import (
    Selection,
    admins,
    admins_hint,
    effective_many,
    everything,
    may_override,
    members,
    select,
    service_schedules,
    who_may_override,
    with_overrides,
)
from warroom.settings import Settings
from warroom.store.db import Store

#: ``who`` shows at most this many schedules; ``overrides`` at most this many overrides.
SHOWN = 10
OVERRIDES_SHOWN = 20

_MENTION = re.compile(r"<@([^|<>\s]+)(?:\|[^<>]*)?>")


# ---------------------------------------------------------------------------------------------- words


def _relative(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"in {minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours}h {minutes:02d}m"
    return f"in {hours // 24}d {hours % 24}h"


def _day(moment: datetime) -> str:
    return f"{moment:%a} {moment.day} {moment:%b %H:%M}"


def when(moment: datetime, tz: ZoneInfo, now: datetime | None = None) -> str:
    """An instant in the asker's terms: UTC, the schedule's time zone (when it is another), and how far off."""
    utc = moment.astimezone(UTC)
    text = f"{_day(utc)} UTC"
    if tz.key != "UTC":
        local = moment.astimezone(tz)
        shown = f"{local:%H:%M}" if local.date() == utc.date() else _day(local)
        text += f" ({shown} {tz.key})"
    if now is not None:
        text += f", {_relative(moment - now)}" if moment > now else ""
    return text


def span(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """A range in the schedule's time zone, with UTC beside it when that is another."""
    local = f"from {_day(start.astimezone(tz))} to {_day(end.astimezone(tz))} {tz.key}"
    if tz.key == "UTC":
        return local
    return f"{local} ({_day(start.astimezone(UTC))} to {_day(end.astimezone(UTC))} UTC)"


def person(settings: Settings, email: str, escape: Callable[[str], str] = markup.escape) -> str:
    """A person as answers name them: ``Ana Ops (ana@example.com)`` when oncall.people gives a name, else the email."""
    known = settings.oncall.person(email)
    if known is not None and known.name:
        return f"{escape(known.name)} ({escape(email)})"
    return escape(email)


def who_line(settings: Settings, schedule: Schedule, now: datetime, *, escape: Callable[[str], str] = markup.escape,
             bold: bool = True, link: str | None = None) -> str:
    """One schedule's now and next: "*payments-primary* (team payments): Ana is on call until …; next: Bo"."""
    tz = schedule.zone
    change = next_change(schedule, now)
    name = escape(schedule.name)
    head = (f"*{name}*" if bold else name) + (f" (team {escape(schedule.team)})" if schedule.team else "")
    if change.now is None:
        if change.next_shift is None:
            body = "nobody is on call, nor within the next year"
        else:
            body = (f"nobody is on call now; next: {person(settings, change.next_shift.user, escape)} from "
                    f"{when(change.next_shift.start, tz, now)}")
    else:
        body = f"{person(settings, change.now, escape)} is on call"
        if change.at is None:
            body += ", with no change within the next year"
        elif change.next is not None:
            body += f" until {when(change.at, tz, now)}; next: {person(settings, change.next, escape)}"
        else:
            body += f" until {when(change.at, tz, now)}, then nobody"
            if change.next_shift is not None:
                body += (f" until {when(change.next_shift.start, tz, now)}; next: "
                         f"{person(settings, change.next_shift.user, escape)}")
    return f"{head}: {body}" + (f" · <{link}|calendar feed>" if link else "")


# ---------------------------------------------------------------------------------------------- the runner


class OnCallRunner:
    def __init__(self, settings: Settings, store: Store, ctx: cmd.OnCallContext) -> None:
        self.settings = settings
        self.store = store
        self.ctx = ctx

    def channel_service(self, incident: Incident | None, channels: Sequence[str]) -> str | None:
        """The service of the channel a command came from: its war room's, or the one whose ``declare_channels``
        holds it (ids or names, ``#`` optional); None elsewhere."""
        if incident is not None:
            return incident.service
        wanted = {c.lower().removeprefix("#") for c in channels if c}
        for svc in self.settings.services:
            if wanted & {c.lower().removeprefix("#") for c in svc.declare_channels}:
                return svc.name
        return None

    async def run(self, command: cmd.OnCallCommand, *, actor: Actor, edge: ChatEdge, incident: Incident | None = None,
                  channels: Sequence[str] = (), now: datetime | None = None) -> Reply:
        """Answer the command; a refusal or bad input is answered with its sentence."""
        moment = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
        try:
            if isinstance(command, cmd.OnCallHelp):
                return Reply(self.ctx.help_text())
            if isinstance(command, cmd.OnCallWho):
                name = edge.text(command.name).strip() if command.name else None
                return Reply(await self._who(name, incident, channels, moment))
            if isinstance(command, cmd.OnCallOverride):
                return Reply(await self._override(command, actor, edge, incident, channels, moment))
            if isinstance(command, cmd.OnCallOverrides):
                return Reply(await self._overrides(command.schedule, moment))
            if isinstance(command, cmd.OnCallRemove):
                return Reply(await self._remove(command.override_id, actor, edge, moment))
        except OverrideTextError as exc:
            return Reply(markup.escape(str(exc)))
        raise AssertionError(f"unhandled on-call command {command!r}")

    # -- who ----------------------------------------------------------------------------------------
    async def _who(self, name: str | None, incident: Incident | None, channels: Sequence[str], now: datetime) -> str:
        if not self.settings.oncall.schedules:
            return "No on-call schedules are configured (oncall.schedules; see docs/oncall.md)."
        lead = ""
        selection: Selection
        if name:
            found = select(self.settings, name)
            if isinstance(found, str):
                return found
            selection = found
        elif (service := self.channel_service(incident, channels)) is not None:
            mine = select(self.settings, service)
            if isinstance(mine, Selection) and mine.what.startswith("service "):
                selection = mine
            else:
                selection = everything(self.settings)
                lead = (f"{markup.escape(service)} pages no on-call schedule (its escalation policy names none), so "
                        "here is every schedule. ")
        else:
            selection = everything(self.settings)
        shown = selection.schedules[:SHOWN]
        async with self.store.read() as tx:
            in_effect = await effective_many(tx, self.settings, shown, since=now)
        lines = [f"{lead}On call for {selection.what}, as of {when(now, ZoneInfo('UTC'))}:"]
        for schedule in in_effect:
            link = feeds.url(self.settings, "schedule", schedule.name)
            lines.append("• " + who_line(self.settings, schedule, now, link=link))
        more = len(selection.schedules) - len(shown)
        if more > 0:
            lines.append(f"…and {more} more: `{self.ctx.command} <schedule>` shows one, `{self.ctx.command} <team>` a "
                         "team's.")
        return "\n".join(lines)

    # -- override -----------------------------------------------------------------------------------
    def _which_schedule(self, named: str | None, asker: str | None, incident: Incident | None,
                        channels: Sequence[str]) -> Schedule | str:
        schedules = self.settings.oncall.schedules
        if not schedules:
            return "No on-call schedules are configured (oncall.schedules; see docs/oncall.md), so there is nothing to override."
        if named is not None:
            found = self.settings.oncall.schedule(named)
            if found is None:
                return (f"There is no schedule '{markup.escape(named)}'. Schedules: "
                        f"{', '.join(markup.escape(s.name) for s in schedules)}.")
            return found
        if len(schedules) == 1:
            return schedules[0]
        candidates = list(schedules)
        service = self.channel_service(incident, channels)
        if service is not None and (of_service := service_schedules(self.settings, service)):
            candidates = of_service
        if len(candidates) > 1 and asker:
            mine = [s for s in candidates if asker in members(s)]
            candidates = mine or candidates
        if len(candidates) == 1:
            return candidates[0]
        names = ", ".join(markup.escape(s.name) for s in candidates)
        return (f"Say which schedule: `{self.ctx.command} override <schedule> @dana until tomorrow 09:00`. "
                f"Schedules: {names}.")

    async def _people(self, text: str, edge: ChatEdge) -> dict[str, str]:
        """Who the override's first word may name: the chat user it mentions (their email, from the chat), and the
        people warroom knows by the part of their email before the @ (where only one has it)."""
        directory: dict[str, str] = {}
        seen: dict[str, set[str]] = {}
        emails = [e for s in self.settings.oncall.schedules for e in members(s)]
        emails += [p.email for p in self.settings.oncall.people]
        emails += [e for group in self.settings.response.groups.values() for e in group]
        for email in emails:
            seen.setdefault(email.split("@", 1)[0].lower(), set()).add(email.lower())
        directory.update({local: next(iter(found)) for local, found in seen.items() if len(found) == 1})
        if (m := _MENTION.match(text.strip())) is not None:
            mentioned = await edge.email_of(m.group(1))
            if mentioned:
                directory[m.group(1)] = mentioned
        return directory

    async def _override(self, command: cmd.OnCallOverride, actor: Actor, edge: ChatEdge, incident: Incident | None,
                        channels: Sequence[str], now: datetime) -> str:
        asker = await edge.email_of(actor.user_id)
        schedule = self._which_schedule(command.schedule, asker, incident, channels)
        if isinstance(schedule, str):
            return schedule
        if not may_override(self.settings, schedule, asker):
            who_may = who_may_override(self.settings, schedule)
            hint = admins_hint(self.settings)
            if asker is None:
                return (f"warroom cannot read your email address in the chat, so it cannot tell whether you are on "
                        f"{markup.escape(schedule.name)}. Only {who_may} may override it.{hint}")
            return (f"Only {who_may} may override {markup.escape(schedule.name)}; you ({markup.escape(asker)}) are not "
                    f"on it. Ask one of them.{hint}")
        text = edge.text(command.text)
        override = parse_override(text, time_zone=schedule.time_zone, now=now, people=await self._people(text, edge),
                                  me=asker)
        async with self.store.tx() as tx:
            number = await tx.overrides.add(schedule.name, override.user, override.start, override.end, by=actor.key)
            rows = await tx.overrides.current(schedule.name, since=now)
        tz = schedule.zone
        overlapping = [r for r in rows if r.id != number and r.starts_at < override.end and override.start < r.ends_at]
        text = (f"Override #{number} on *{markup.escape(schedule.name)}*: {person(self.settings, override.user)} is on "
                f"call {span(override.start, override.end, tz)}.")
        if overlapping:
            others = ", ".join(f"#{r.id} ({markup.escape(r.email)})" for r in overlapping)
            text += f" It overlaps {others}; where they overlap, this one (the later) wins."
        text += f"\nNow: {who_line(self.settings, with_overrides(schedule, rows), now)}"
        text += f"\nTake it back with `{self.ctx.command} override remove {number}`."
        return text

    # -- overrides, remove --------------------------------------------------------------------------
    async def _overrides(self, schedule: str | None, now: datetime) -> str:
        async with self.store.read() as tx:
            rows = await tx.overrides.current(schedule, since=now)
            names = await tx.people.names(r.created_by for r in rows if r.created_by)
        of = f" of {markup.escape(schedule)}" if schedule else ""
        in_yaml = [s for s in self.settings.oncall.schedules if schedule in (None, s.name)
                   and any(to_utc(o.end, s.zone) > now for o in s.overrides)]
        yaml_note = (f" The YAML's own overrides ({', '.join(markup.escape(s.name) for s in in_yaml)}) are changed "
                     "in the configuration." if in_yaml else "")
        if not rows:
            return (f"No overrides{of} asked for in chat are current. Add one with "
                    f"`{self.ctx.command} override <schedule> @dana until tomorrow 09:00`.{yaml_note}")
        lines = [f"Overrides{of} asked for in chat, the later winning where they overlap:"]
        for row in rows[:OVERRIDES_SHOWN]:
            found = self.settings.oncall.schedule(row.schedule)
            tz = found.zone if found is not None else ZoneInfo("UTC")
            by = names.get(row.created_by or "") or (row.created_by or "someone")
            lines.append(f"• #{row.id} *{markup.escape(row.schedule)}*: {person(self.settings, row.email)} "
                         f"{span(row.starts_at, row.ends_at, tz)}, asked by {markup.escape(by)}")
        if len(rows) > OVERRIDES_SHOWN:
            lines.append(f"…and {len(rows) - OVERRIDES_SHOWN} more; name a schedule to see its own.")
        lines.append(f"Take one back with `{self.ctx.command} override remove <number>`.{yaml_note}")
        return "\n".join(lines)

    async def _remove(self, number: int, actor: Actor, edge: ChatEdge, now: datetime) -> str:
        asker = await edge.email_of(actor.user_id)
        async with self.store.tx() as tx:
            row = next((r for r in await tx.overrides.current(None, since=now) if r.id == number), None)
            if row is None:
                return (f"There is no current override #{number} (it is over, was taken back, or never was): "
                        f"`{self.ctx.command} overrides` lists them.")
            schedule = self.settings.oncall.schedule(row.schedule)
            allowed = (row.created_by == actor.key or (asker or "") in (admins(self.settings) or [])
                       or (schedule is not None and may_override(self.settings, schedule, asker)))
            if not allowed:
                who_may = (who_may_override(self.settings, schedule) if schedule is not None
                           else f"the {markup.escape(row.schedule)} schedule's people")
                return (f"Only {who_may}, or whoever asked for it, may take back override #{number}"
                        + (f"; you ({markup.escape(asker)}) are not on it." if asker else
                           ": warroom cannot read your email address in the chat.") + admins_hint(self.settings))
            await tx.overrides.remove(number, by=actor.key)
        return (f"Override #{number} on *{markup.escape(row.schedule)}* ({person(self.settings, row.email)} "
                f"{span(row.starts_at, row.ends_at, schedule.zone if schedule else ZoneInfo('UTC'))}) taken back.")
