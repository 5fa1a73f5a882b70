"""Post-incident tasks worked from chat, and the follow-up tracking that keeps them moving.

- :class:`TaskService`: ``task add``, ``tasks`` and ``task <n> …`` (done, start, todo, assign, due, note, won't do) —
  each change in one transaction with the incident locked: the task's version, a timeline entry on the incident,
  ``jobs.task_changed`` (the RFC sync), ``jobs.task_card_changed`` (the incident card's count of open tasks) and
  the owner's reminders moved. A task's number is its place among the incident's tasks, oldest first, as
  ``tasks`` lists them.
- Reminders: durable timers per task (``task-remind:<id>:before|due|overdue``) at :data:`REMIND_HOUR` UTC the day
  before the due date, on it, and the day after it (then weekly while the task is open). A timer that fires for a
  task closed, re-dated or without owner meanwhile sends nothing; every change moves or cancels them.
- The weekly digest (``response.task_digest_weekday`` / ``task_digest_hour``, UTC): a periodic timer whose job
  posts each service's open tasks in the incidents channel(s), or, with none configured, in the service's first
  Slack declare channel.

Who is reminded is reached by the :data:`DirectMessage` functions the composition root gives (Slack DM, Teams
1:1 chat); the response layer never imports a chat front end.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil import parser as dateparser
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from warroom.adapters.errors import Permanent
from warroom.adapters.ports import ChatPort
from warroom.core import markup
from warroom.core.jobs import TASK_DIGEST, TASK_REMIND
from warroom.core.model import Incident
from warroom.core.tasks import OPEN, TaskStatus, label
from warroom.response import jobs
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.outbox import Commit, Handler, Job
from warroom.store.schema import timers

log = logging.getLogger("warroom.tasks")

#: Reminders are sent at this hour (UTC) on their day.
REMIND_HOUR = 9
#: An overdue task's owner is reminded again this often while it stays open.
OVERDUE_EVERY = timedelta(days=7)
#: The digest's periodic timer.
DIGEST_TIMER = "task-digest"
#: At most this many tasks per service in the digest (the rest counted).
DIGEST_SHOWN = 15
#: A due date at most this far ahead.
DUE_MAX = timedelta(days=3 * 366)

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DUE_USAGE = "write a date such as `friday`, `tomorrow`, `in 2 weeks`, `Dec 24` or `2026-12-24`"

#: Reaches a person (by email) with a war-room line in a direct message; True when it was sent, False when the
#: chat has nobody with that address. Raises ``Transient`` to be tried again.
DirectMessage = Callable[[str, str], Awaitable[bool]]


# ---------------------------------------------------------------------------------------------- dates


_IN = re.compile(r"in\s+(\d{1,3})\s*(days?|d|weeks?|w|months?)", re.IGNORECASE)
_NEXT_WEEKDAY = re.compile(r"(?:next|this|on)\s+([a-z]+)", re.IGNORECASE)


def read_due(text: str, now: datetime) -> datetime:
    """A due date as people write it → that day at 00:00 UTC. Raises ValueError with a sentence saying what to
    write. Forms: ``today``, ``tomorrow``, ``in 3 days``, ``in 2 weeks``, ``in 1 month``, a weekday (``friday``:
    its next occurrence after today; ``next friday`` the same), ``Dec 24``, ``24/12``, ``2026-12-24``."""
    expr = " ".join(text.split()).casefold()
    today = now.astimezone(UTC).date()
    day: date | None = None
    if expr == "today":
        day = today
    elif expr == "tomorrow":
        day = today + timedelta(days=1)
    elif (m := _IN.fullmatch(expr)) is not None:
        n, unit = int(m.group(1)), m.group(2)
        if unit.startswith("d"):
            day = today + timedelta(days=n)
        elif unit.startswith("w"):
            day = today + timedelta(weeks=n)
        else:
            day = today + relativedelta(months=n)
    else:
        m = _NEXT_WEEKDAY.fullmatch(expr)
        word = m.group(1) if m is not None else expr
        wanted = next((i for i, name in enumerate(WEEKDAYS) if len(word) >= 3 and name.startswith(word)), None)
        if wanted is not None:
            day = today + timedelta(days=(wanted - today.weekday() - 1) % 7 + 1)
        elif len(expr) > 40 or not re.search(r"\d", expr):
            raise ValueError(f"I could not read '{markup.escape(text[:40])}' as a date: {DUE_USAGE}.")
        else:
            try:
                iso = re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", expr) is not None  # year-month-day, never day first
                parsed = dateparser.parse(expr, default=datetime.combine(today, time(0)), yearfirst=True,
                                          dayfirst=not iso, ignoretz=True)
            except (ValueError, OverflowError):
                raise ValueError(f"I could not read '{markup.escape(text[:40])}' as a date: {DUE_USAGE}.") from None
            day = parsed.date()
            if day < today and not re.search(r"\d{4}", expr):  # "Jan 10" in December: next year's
                day = day.replace(year=day.year + 1)
    if day < today:
        raise ValueError(f"{day:%Y-%m-%d} has passed: give a due date from today on ({DUE_USAGE}).")
    if day - today > DUE_MAX:
        raise ValueError(f"{day:%Y-%m-%d} is more than three years away: give a nearer due date.")
    return datetime.combine(day, time(0), tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite gives naive datetimes back: they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class CardState:
    """What a task's card shows, read in one transaction: the task, its incident, its number within the incident
    (as ``/incident tasks`` lists them) and the due date as people read it."""

    task: dict[str, Any]
    incident: Incident
    number: int
    due: str


async def card_state(tx: Tx, task_id: int) -> CardState | None:
    """The task's card state, or None when the task or its incident is gone."""
    task = await tx.records.task(task_id)
    if task is None:
        return None
    incident = await tx.incidents.get(int(task["incident_id"]))
    if incident is None:
        return None
    siblings = [int(t["id"]) for t in await tx.records.tasks(incident.id)]
    return CardState(task, incident, siblings.index(task_id) + 1, due_text(task.get("due_at"), tx.now))


def due_text(due_at: datetime | None, now: datetime | None = None) -> str:
    """``due Fri 2026-12-11`` (``, overdue`` once passed), or empty without a due date."""
    if due_at is None:
        return ""
    due = _utc(due_at)
    late = now is not None and due.date() < now.astimezone(UTC).date()
    return f"due {due:%a %Y-%m-%d}" + (" (overdue)" if late else "")


def task_line(number: int, task: dict[str, Any], now: datetime | None = None) -> str:
    """One task as ``tasks`` lists it: number, title, owner, due date, status (outside text escaped)."""
    facts = [f"*{number}.* {markup.escape(str(task['title']))}", label(str(task["status"]))]
    facts.append(markup.escape(str(task["owner"])) if task.get("owner") else "no owner")
    if task.get("due_at") is not None:
        facts.append(due_text(task["due_at"], now))
    if task["status"] == TaskStatus.WONT_DO and task.get("closed_reason"):
        facts.append(f"why: {markup.escape(str(task['closed_reason'])[:200])}")
    return " · ".join(facts)


def open_count_text(tasks: Sequence[dict[str, Any]]) -> str:
    opened = sum(1 for t in tasks if t["status"] in OPEN)
    return "no task is open" if opened == 0 else ("1 task is open" if opened == 1 else f"{opened} tasks are open")


# ---------------------------------------------------------------------------------------------- reminders


def remind_key(task_id: int, when: str) -> str:
    return f"task-remind:{task_id}:{when}"


async def reschedule_reminders(tx: Tx, task: dict[str, Any]) -> None:
    """Move the owner's reminders to the task's due date, or cancel them (closed, no owner, no due date)."""
    task_id = int(task["id"])
    for when in ("before", "due", "overdue"):
        await tx.timers.cancel(remind_key(task_id, when))
    if task["status"] not in OPEN or not task.get("owner") or task.get("due_at") is None:
        return
    due = _utc(task["due_at"]).date()
    at = {
        "before": datetime.combine(due - timedelta(days=1), time(REMIND_HOUR), tzinfo=UTC),
        "due": datetime.combine(due, time(REMIND_HOUR), tzinfo=UTC),
        "overdue": datetime.combine(due + timedelta(days=1), time(REMIND_HOUR), tzinfo=UTC),
    }
    payload = {"task": task_id, "due": due.isoformat()}
    for when, moment in at.items():
        if when != "overdue" and moment <= tx.now:
            continue
        await tx.timers.schedule(
            remind_key(task_id, when), TASK_REMIND, delay=max(0.0, (moment - tx.now).total_seconds()),
            payload={**payload, "when": when}, incident_id=int(task["incident_id"]),
            interval=int(OVERDUE_EVERY.total_seconds()) if when == "overdue" else None,
        )


async def task_moved(tx: Tx, task: dict[str, Any], settings: Settings) -> None:
    """Every follow-up of a task created or changed in warroom: the RFC sync, the cards, the reminders."""
    await jobs.task_changed(tx, int(task["id"]), settings)
    await jobs.task_card_changed(tx, int(task["id"]))


# ---------------------------------------------------------------------------------------------- commands


@dataclass
class TaskService:
    """The task verbs of the command runner (warroom.response.actions); each returns the sentence to answer with
    (a war-room line: outside text escaped)."""

    settings: Settings
    store: Store

    async def _numbered(self, tx: Tx, incident_id: int, number: int) -> dict[str, Any]:
        found = await tx.records.tasks(incident_id)
        if not 1 <= number <= len(found):
            has = ("it has no tasks yet: add one with `task add <title>`" if not found
                   else f"its tasks are numbered 1 to {len(found)} (see `tasks`)")
            raise ValueError(f"There is no task {number} on INC-{incident_id}: {has}.")
        return found[number - 1]

    async def add(self, incident: Incident, title: str, *, owner: str | None, due: str | None, actor: str,
                  mention: str) -> str:
        title = title.strip()
        if not title:
            raise ValueError("Write the task's title after `task add`.")
        async with self.store.tx() as tx:
            due_at = read_due(due, tx.now) if due is not None else None
            locked = await tx.incidents.get(incident.id, lock=True)
            if locked is None:
                raise ValueError(f"There is no incident {incident.id}.")
            task = await tx.records.new_task(incident.id, title, by=actor, owner=owner, due_at=due_at)
            number = len(await tx.records.tasks(incident.id))
            await tx.timeline.add(incident.id, "task", f"Post-incident task {number} added: {title}", actor=actor,
                                  data={"task": task["id"], "owner": owner, "due": due_at.isoformat() if due_at else None})
            await task_moved(tx, task, self.settings)
            opened = await tx.records.open_task_count(incident.id)
        extra = "".join([f", owned by {markup.escape(owner)}" if owner else "",
                         f", {due_text(due_at)}" if due_at else ""])
        return (f"📝 {mention} added task {number} to {incident.ref}: “{markup.escape(title)}”{extra}. "
                f"{opened} open in all.")

    async def listing(self, incident: Incident) -> str:
        async with self.store.read() as tx:
            found = await tx.records.tasks(incident.id)
            now = tx.now
        if not found:
            return f"{incident.ref} has no post-incident tasks. Add one with `task add <title> [@owner] [due <date>]`."
        lines = [f"Post-incident tasks of {incident.ref} ({open_count_text(found)}):"]
        lines += [f"{task_line(i, t, now)}" for i, t in enumerate(found, 1)]
        lines.append("Change one with `task <n> done|start|assign @person|due <date>|note <text>|wontdo <reason>`.")
        return "\n".join(lines)

    async def click(self, task_id: int, status: str, *, actor: str, mention: str) -> tuple[str, int | None]:
        """A task card's button (Start, Done): the status change, said in the war room in the same transaction —
        once, however many clicks (a second finds the status set already). Returns the sentence for the person who
        clicked when nothing changed (else empty) and the incident's id (None when the task is gone)."""
        async with self.store.read() as tx:
            task = await tx.records.task(task_id)
            incident = await tx.incidents.get(int(task["incident_id"])) if task is not None else None
            numbers = [int(t["id"]) for t in await tx.records.tasks(incident.id)] if incident is not None else []
        if task is None or incident is None or task_id not in numbers:
            return "That task no longer exists.", None
        text, public = await self.change(incident, numbers.index(task_id) + 1, "status", value=status, actor=actor,
                                         mention=mention, say=True)
        return ("" if public else text), incident.id

    async def change(self, incident: Incident, number: int, action: str, *, value: str = "",
                     owner: str | None = None, actor: str, mention: str, say: bool = False) -> tuple[str, bool]:
        """``action``: status, assign, due, note, wontdo (warroom.response.commands.TaskAction values). Returns the
        answer and whether the war room sees it (a change does; "nothing to change" goes to the asker)."""
        async with self.store.tx() as tx:
            if await tx.incidents.get(incident.id, lock=True) is None:
                raise ValueError(f"There is no incident {incident.id}.")
            task = await self._numbered(tx, incident.id, number)
            title = markup.escape(str(task["title"]))
            what = f"task {number} of {incident.ref} (“{title}”)"
            values: dict[str, Any] = {}
            if action == "status":
                status = TaskStatus(value)
                if task["status"] == status:
                    return f"Task {number} is {label(status)} already.", False
                values = {"status": status.value, "closed_reason": None}
                said = f"{mention} moved {what} to {label(status)}"
                entry = f"Task {number} moved to {label(status)}: {task['title']}"
            elif action == "assign":
                if owner is None:
                    raise ValueError("That person has no email address in the chat, so warroom cannot make them the "
                                     f"owner; try `task {number} assign me`.")
                if task.get("owner") == owner:
                    return f"{markup.escape(owner)} owns task {number} already.", False
                values = {"owner": owner}
                said = f"{mention} made {markup.escape(owner)} the owner of {what}"
                entry = f"Task {number} assigned to {owner}: {task['title']}"
            elif action == "due":
                cleared = value.strip().casefold() in ("none", "never", "clear", "-")
                due_at = None if cleared else read_due(value, tx.now)
                before = _utc(task["due_at"]) if task.get("due_at") is not None else None
                if before == due_at:
                    return f"Task {number} is {due_text(due_at) or 'without a due date'} already.", False
                values = {"due_at": due_at}
                said = f"{mention} set {what} {due_text(due_at) or 'without a due date'}"
                entry = f"Task {number} {due_text(due_at) or 'has no due date'}: {task['title']}"
            elif action == "note":
                await tx.task_notes.add(int(task["id"]), value, actor, "imr")
                said = f"{mention} added a note to {what}"
                entry = f"Note on task {number} ({task['title']}): {value}"
            elif action == "wontdo":
                if task["status"] == TaskStatus.WONT_DO:
                    return f"Task {number} is closed as won't-do already.", False
                values = {"status": TaskStatus.WONT_DO.value, "closed_reason": value}
                said = f"{mention} closed {what} as won't-do: {markup.escape(value[:500])}"
                entry = f"Task {number} closed as won't-do ({value}): {task['title']}"
            else:
                raise ValueError(f"Unknown task action '{markup.escape(action)}'.")
            changed = await tx.records.update_task(int(task["id"]), **values) if values else \
                await tx.records.update_task(int(task["id"]))  # a note is a change too: the version moves
            assert changed is not None
            await tx.timeline.add(incident.id, "task", entry, actor=actor,
                                  data={"task": task["id"], "action": action, "version": changed["version"]})
            await task_moved(tx, changed, self.settings)
            opened = await tx.records.open_task_count(incident.id)
            if say:  # a button's change: the war room hears it with the change
                await jobs.say(tx, incident.id, f"{said}. {opened} open in all.", escaped=True)
        return f"{said}. {opened} open in all.", True


# ---------------------------------------------------------------------------------------------- jobs


def next_digest(now: datetime, weekday: str, hour: int) -> datetime:
    """The next ``weekday`` at ``hour``:00 UTC after ``now``."""
    wanted = WEEKDAYS.index(weekday)
    today = now.astimezone(UTC)
    moment = datetime.combine(today.date(), time(hour), tzinfo=UTC) + timedelta(days=(wanted - today.weekday()) % 7)
    return moment if moment > now else moment + timedelta(days=7)


async def schedule_digest(tx: Tx, settings: Settings) -> None:
    """The weekly digest's periodic timer, kept when it is already set for the configured day and hour (so that a
    restart does not move it), moved when the configuration changed, removed when it is off."""
    weekday, hour = settings.response.task_digest_weekday, settings.response.task_digest_hour
    if weekday == "off":
        await tx.timers.cancel(DIGEST_TIMER)
        return
    row = (await tx.conn.execute(select(timers.c.payload).where(timers.c.key == DIGEST_TIMER))).first()
    spec = {"weekday": weekday, "hour": hour}
    if row is not None and isinstance(row[0], dict) and {k: row[0].get(k) for k in spec} == spec:
        return
    fire = next_digest(tx.now, weekday, hour)
    await tx.timers.schedule(DIGEST_TIMER, TASK_DIGEST, delay=(fire - tx.now).total_seconds(), payload=spec,
                             interval=7 * 24 * 3600)


def digest_text(service: str, found: Sequence[dict[str, Any]], now: datetime) -> str:
    """A service's open tasks as the weekly digest shows them (warroom markup)."""
    late = sum(1 for t in found if t.get("due_at") is not None and _utc(t["due_at"]).date() < now.date())
    head = (f"📋 Open follow-ups of {markup.escape(service)}: {len(found)}"
            + (f", {late} overdue" if late else ""))
    lines = [head]
    for task in found[:DIGEST_SHOWN]:
        owner = markup.escape(str(task["owner"])) if task.get("owner") else "no owner"
        due = due_text(task.get("due_at"), now) or "no due date"
        lines.append(f"• INC-{task['incident_id']} · {markup.escape(str(task['title'])[:200])} · "
                     f"{label(str(task['status']))} · {owner} · {due}")
    if len(found) > DIGEST_SHOWN:
        lines.append(f"…and {len(found) - DIGEST_SHOWN} more.")
    return "\n".join(lines)


def slack_dm(chat: ChatPort) -> DirectMessage:
    """A Slack direct message to the person with that email (their conversation with the app)."""

    async def send(email: str, line: str) -> bool:
        found = await chat.lookup_users([email])
        user_id = found.get(email) or found.get(email.lower())
        if user_id is None:
            return False
        await chat.post_message(user_id, line)
        return True

    return send


@dataclass
class TaskFollowUps:
    """The reminder and digest jobs."""

    settings: Settings
    store: Store
    #: The chats' direct messages (Slack, Teams): a reminder goes by every chat that has the person.
    dms: Sequence[DirectMessage] = ()
    #: Slack, for the digest in a service's declare channel when no incidents channel is configured.
    chat: ChatPort | None = None

    def handlers(self) -> dict[str, Handler]:
        return {TASK_REMIND: self.remind, TASK_DIGEST: self.digest}

    async def remind(self, job: Job) -> Commit | None:
        task_id = int(job.payload.get("task") or 0)
        when = str(job.payload.get("when") or "due")
        async with self.store.read() as tx:
            task = await tx.records.task(task_id)
            incident = await tx.incidents.get(int(task["incident_id"])) if task is not None else None
            number = ([int(t["id"]) for t in await tx.records.tasks(incident.id)].index(task_id) + 1
                      if incident is not None else 0)
            now = tx.now
        due = _utc(task["due_at"]).date().isoformat() if task is not None and task.get("due_at") else None
        if (task is None or incident is None or task["status"] not in OPEN or not task.get("owner")
                or due != job.payload.get("due")):
            if when == "overdue" and (task is None or task["status"] not in OPEN):
                async def stop(tx: Tx) -> None:
                    await tx.timers.cancel(remind_key(task_id, "overdue"))

                return stop
            return None  # a stale timer: the task was re-dated or closed (its reminders were moved then)
        assert task is not None and incident is not None
        lead = {"before": "⏰ Due tomorrow", "due": "⏰ Due today"}.get(when, "⚠️ Overdue")
        line = (f"{lead}: task {number} of {incident.ref} (“{markup.escape(str(task['title']))}”), "
                f"{due_text(task['due_at'], now)}, {label(str(task['status']))}. Mark it done in the "
                f"war room with `task {number} done`, move it with `task {number} due <date>`, or close it with "
                f"`task {number} wontdo <reason>`.")
        owner = str(task["owner"])
        reached = False
        for dm in self.dms:
            try:
                reached = await dm(owner, line) or reached
            except Permanent as exc:
                log.info("could not remind %s of task %s: %s", owner, task_id, exc.reason)
        if reached:
            return None

        async def tell(tx: Tx) -> None:
            await jobs.say(tx, incident.id, f"⚠️ Could not remind {markup.escape(owner)} of task {number} "
                                            f"(“{markup.escape(str(task['title']))}”): no chat has that address. "
                                            f"Give it another owner with `task {number} assign @person`.", escaped=True)

        return tell

    async def digest(self, job: Job) -> Commit | None:
        async with self.store.read() as tx:
            found = await tx.records.open_tasks(limit=5000)
            now = tx.now
        by_service: dict[str, list[dict[str, Any]]] = {}
        for task in found:
            by_service.setdefault(str(task["service"]), []).append(task)
        texts = {svc: digest_text(svc, rows, now) for svc, rows in sorted(by_service.items())}
        announcing = ((self.settings.slack.enabled and self.settings.slack.announce_channel.strip())
                      or (self.settings.teams.enabled and self.settings.teams.announce_channel.strip()))
        if not announcing:
            for svc, text in texts.items():
                conf = self.settings.service(svc)
                if self.chat is not None and conf is not None and conf.declare_channels:
                    await self.chat.post_message(conf.declare_channels[0].removeprefix("#"), text)
            return None

        async def post(tx: Tx) -> None:
            for text in texts.values():
                await jobs.announce(tx, self.settings, text)

        return post
