"""Post-incident tasks from chat and their follow-up tracking, end to end: ``/incident task add``, ``tasks`` and
``task <n> …`` sent as signed Slack requests (and as signed Teams activities) through the real apps; each change on
the task (its version), on the incident's timeline, in the answer (escaped) and on the incident card's count of open
tasks; the owner's reminders and the weekly digest on durable timers, made due by moving them to now."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from warroom.chat.slack import blocks
from warroom.chat.slack.blocks import card_facts
from warroom.core.jobs import TASK_RFC_PUSH
from warroom.response import tasks as follow_ups
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import World
from warroom.store.schema import outbox, timeline

from .helpers import open_room, settle, war_room
from .teams_bot_helpers import TeamsSide, card_of, open_war_room

HOSTILE = "<!channel> Rotate <https://evil.example/login|the keys> & <b>audit</b>"


def user(h: Harness, first: str) -> str:
    return h.world.slack.add_user(f"{first}@example.com", first.capitalize())


def answer(response: Any) -> tuple[str, bool]:
    """The text of a slash command's answer and whether the channel sees it."""
    assert response.status_code == 200, response.text
    if not response.text.startswith("{"):
        return response.text, False  # a refusal: plain text to the asker
    body = json.loads(response.text)
    return str(body.get("text")), body.get("response_type") == "in_channel"


async def tasks_of(h: Harness, incident_id: int) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return await tx.records.tasks(incident_id)


async def task_entries(h: Harness, incident_id: int) -> list[str]:
    async with h.runtime.store.read() as tx:
        rows = await tx.conn.execute(select(timeline.c.text).where(timeline.c.incident_id == incident_id,
                                                                   timeline.c.kind == "task"))
        return [str(r[0]) for r in rows]


async def pushes(h: Harness) -> int:
    async with h.runtime.store.read() as tx:
        rows = await tx.conn.execute(select(outbox.c.id).where(outbox.c.kind == TASK_RFC_PUSH))
        return len(rows.all())


async def timer_keys(h: Harness, task_id: int) -> dict[str, dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return {t["key"].rsplit(":", 1)[1]: t for t in await tx.timers.all()
                if t["key"].startswith(f"task-remind:{task_id}:")}


async def fire(h: Harness, key: str) -> None:
    """The timer's time has come: moved to now, fired, its job run."""
    async with h.runtime.store.tx() as tx:
        found = [t for t in await tx.timers.all() if t["key"] == key]
        assert found, key
        t = found[0]
        await tx.timers.schedule(key, t["kind"], delay=0, payload=t["payload"], incident_id=t["incident_id"],
                                 interval=t["interval_s"])
    await h.runtime.timers.tick()
    await settle(h)


@pytest.fixture
async def harness(db_url: str) -> AsyncIterator[Harness]:
    h = await Harness.start(db_url)
    h.world.slack.config.rate_limits = False
    yield h
    await h.stop()


async def test_tasks_from_slack_commands(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    ana, dana, lee = user(h, "ana"), user(h, "dana"), user(h, "lee")
    before_pushes = await pushes(h)

    text, public = answer(await h.slack.command(f"task add Alert on disk usage <@{dana}|dana> due in 2 weeks",
                                                user=ana, channel=channel))
    due = date.today() + timedelta(weeks=2)
    assert public and f"added task 1 to INC-{incident}: “Alert on disk usage”, owned by dana@example.com" in text
    assert f"due {due:%a %Y-%m-%d}" in text and "1 open in all" in text
    text, public = answer(await h.slack.command(f"task add {HOSTILE}", user=ana, channel=channel))
    assert public and "added task 2" in text
    assert "<!channel>" not in text and "<https://evil" not in text and "&lt;b&gt;audit&lt;/b&gt;" in text

    listed, public = answer(await h.slack.command("tasks", user=lee, channel=channel))
    assert not public
    assert f"Post-incident tasks of INC-{incident} (2 tasks are open):" in listed
    assert f"*1.* Alert on disk usage · To Do · dana@example.com · due {due:%a %Y-%m-%d}" in listed
    assert "*2.* &lt;!channel&gt; Rotate &lt;https://evil.example/login|the keys&gt; &amp; " in listed
    assert "no owner" in listed

    stored = await tasks_of(h, incident)
    assert [t["title"] for t in stored] == ["Alert on disk usage", HOSTILE]  # stored whole, as typed
    assert stored[0]["owner"] == "dana@example.com" and stored[0]["origin"] == "chat"
    assert stored[0]["due_at"].date() == due and stored[0]["version"] == 1

    text, public = answer(await h.slack.command("task 1 start", user=dana, channel=channel))
    assert public and "moved task 1 of" in text and "to In Progress" in text
    again, public = answer(await h.slack.command("task 1 in progress", user=dana, channel=channel))
    assert not public and again == "Task 1 is In Progress already."
    text, public = answer(await h.slack.command(f"task 2 assign <@{lee}|lee>", user=ana, channel=channel))
    assert public and "made lee@example.com the owner of task 2" in text
    text, public = answer(await h.slack.command("task 2 due 2099-01-01", user=ana, channel=channel))
    assert "more than three years away" in text and not public
    text, public = answer(await h.slack.command("task 2 due friday", user=ana, channel=channel))
    assert public and "due Fri " in text
    text, public = answer(await h.slack.command("task 1 note Threshold at 85% <!here>", user=dana, channel=channel))
    assert public and "added a note to task 1" in text
    async with h.runtime.store.read() as tx:
        notes = await tx.task_notes.of_task(int(stored[0]["id"]))
    assert [n["text"] for n in notes] == ["Threshold at 85% <!here>"]

    # bad input: a sentence saying what to write, nothing changed
    for typed, says in [
        ("task 2 wontdo", "closing it needs a reason"),
        ("task 9 done", "its tasks are numbered 1 to 2"),
        ("task 1 due someday", "I could not read 'someday' as a date"),
        ("task 1 dnoe", "did you mean `done`?"),
        ("task add", "Write the task's title after `task add`."),
        ("task add " + "x" * 10_100, "more than the 10000 allowed"),
    ]:
        refused, public = answer(await h.slack.command(typed, user=ana, channel=channel))
        assert says in refused and not public, (typed, refused)

    text, public = answer(await h.slack.command("task 2 won't do covered by the vault rollout", user=ana,
                                                channel=channel))
    assert public and "closed task 2" in text and "as won't-do: covered by the vault rollout" in text
    text, public = answer(await h.slack.command("task 1 done", user=dana, channel=channel))
    assert public and "to Done" in text and "0 open in all" in text

    stored = await tasks_of(h, incident)
    assert [t["status"] for t in stored] == ["done", "wont_do"]
    assert stored[0]["version"] == 4  # start, note, done
    assert stored[1]["closed_reason"] == "covered by the vault rollout" and stored[1]["version"] == 4
    entries = await task_entries(h, incident)
    assert len(entries) == 8 and entries[0] == "Post-incident task 1 added: Alert on disk usage"
    assert await pushes(h) > before_pushes  # the RFC sync heard of every change (coalesced per task)
    listed, _ = answer(await h.slack.command("tasks", user=lee, channel=channel))
    assert "(no task is open)" in listed and "Won't do" in listed and "why: covered by the vault rollout" in listed


async def test_the_card_counts_open_tasks_and_reminders_follow_the_due_date(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    ana, dana = user(h, "ana"), user(h, "dana")
    await h.slack.command(f"task add Add a runbook <@{dana}|dana> due in 3 days", user=ana, channel=channel)
    await h.slack.command("task add Unowned follow-up", user=ana, channel=channel)
    await settle(h)
    assert "Follow-up tasks*: 2 open" in war_room(h, incident).card_text
    task_id = int((await tasks_of(h, incident))[0]["id"])

    timers = await timer_keys(h, task_id)
    assert set(timers) == {"before", "due", "overdue"}
    due_day = date.today() + timedelta(days=3)
    fire_at = timers["before"]["fire_at"].replace(tzinfo=UTC)
    assert fire_at == datetime.combine(due_day - timedelta(days=1), time(follow_ups.REMIND_HOUR), tzinfo=UTC)
    assert await timer_keys(h, int((await tasks_of(h, incident))[1]["id"])) == {}  # no owner: nobody to remind

    await fire(h, f"task-remind:{task_id}:before")
    dms = [m["text"] for m in h.world.slack.dms(dana)]
    assert len(dms) == 1 and dms[0].startswith(f"⏰ Due tomorrow: task 1 of INC-{incident} (“Add a runbook”)")
    assert "`task 1 done`" in dms[0]

    # re-dated: the reminders move; a stale timer of the old date sends nothing
    await h.slack.command("task 1 due in 10 days", user=dana, channel=channel)
    moved = await timer_keys(h, task_id)
    assert moved["due"]["payload"]["due"] == (date.today() + timedelta(days=10)).isoformat()
    async with h.runtime.store.tx() as tx:  # a timer of the old date, as if it had fired before the move
        await tx.timers.schedule("task-remind-stale", "response.task_remind", delay=3600,
                                 payload={**timers["due"]["payload"]}, incident_id=incident)
    await fire(h, "task-remind-stale")
    assert len(h.world.slack.dms(dana)) == 1
    await fire(h, f"task-remind:{task_id}:overdue")
    assert [m["text"] for m in h.world.slack.dms(dana)][1].startswith("⚠️ Overdue: task 1")

    await h.slack.command("task 1 done", user=dana, channel=channel)
    await settle(h)
    assert await timer_keys(h, task_id) == {}  # closed: no more reminders
    assert "Follow-up tasks*: 1 open" in war_room(h, incident).card_text
    await h.slack.command("task 2 wontdo not needed after all", user=ana, channel=channel)
    await settle(h)
    assert "Follow-up tasks" not in war_room(h, incident).card_text
    assert len(h.world.slack.dms(dana)) == 2


@pytest.mark.one_db("a reply about an unknown owner: no concurrency, no dialect-specific SQL")
async def test_an_owner_no_chat_knows_is_said_in_the_war_room(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    ana = user(h, "ana")
    await h.slack.command("task add Tidy the alerts ghost@example.com due tomorrow", user=ana, channel=channel)
    task_id = int((await tasks_of(h, incident))[0]["id"])
    await settle(h)  # the task's RFC first: its sync sets the reminders again, which would undo the test's move
    await fire(h, f"task-remind:{task_id}:overdue")
    said = [m["text"] for m in h.world.slack.messages(channel)]
    assert any("Could not remind ghost@example.com of task 1" in s for s in said)


async def test_the_weekly_digest_lists_each_services_open_tasks(sqlite_url: str) -> None:
    world = await World.start()

    def tweak(data: dict[str, Any]) -> None:
        data["slack"]["announce_channel"] = "#incidents"
        data["response"] = {**data.get("response", {}), "task_digest_weekday": "friday", "task_digest_hour": 8}

    h = await Harness.start(sqlite_url, world=world, tweak=tweak)
    try:
        ana_id = next(u["id"] for u in world.slack.users.values() if u["profile"]["email"] == "ana@example.com")
        announce = world.slack.add_channel("incidents", creator=ana_id, members=[ana_id, world.slack.bot_user_id])
        async with h.runtime.store.read() as tx:
            digest = [t for t in await tx.timers.all() if t["key"] == follow_ups.DIGEST_TIMER]
        assert len(digest) == 1 and digest[0]["interval_s"] == 7 * 24 * 3600
        fires = digest[0]["fire_at"].replace(tzinfo=UTC)
        assert fires.weekday() == 4 and fires.hour == 8 and fires > datetime.now(UTC)

        incident, channel, _ = await open_room(h)
        await h.slack.command(f"task add {HOSTILE} dana@example.com due in 2 days", user=ana_id, channel=channel)
        await h.slack.command("task add Done already", user=ana_id, channel=channel)
        await h.slack.command("task 2 done", user=ana_id, channel=channel)
        await fire(h, follow_ups.DIGEST_TIMER)
        posted = [m["text"] for m in world.slack.messages(announce) if "follow-ups" in m["text"]]
        assert len(posted) == 1
        assert posted[0].startswith("📋 Open follow-ups of checkout-api: 1")
        assert f"INC-{incident} · &lt;!channel&gt; Rotate" in posted[0] and "Done already" not in posted[0]
        async with h.runtime.store.read() as tx:  # periodic: due again in a week
            again = [t for t in await tx.timers.all() if t["key"] == follow_ups.DIGEST_TIMER]
        assert again and again[0]["fire_at"].replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=6)
    finally:
        await h.stop()


async def test_tasks_from_teams(sqlite_url: str) -> None:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    h = await Harness.start(sqlite_url, world=world, tweak=teams.tweak())
    teams.client.bot_url = f"{h.base_url}/api/messages"
    try:
        incident_id, room = await open_war_room(h)
        ben, chen = teams.person("ben@example.com"), teams.person("chen@example.com")
        c = teams.client
        added = await c.say(room, ben, "task add Fix the <b>retry</b> budget ", c.mention(chen), " due in 1 week")
        reply = teams.replies_to(room, added)[0]
        assert f"added task 1 to INC-{incident_id}" in reply and "owned by chen@example.com" in reply
        listed = await c.say(room, ben, "tasks")
        assert "1 task is open" in teams.replies_to(room, listed)[0]
        await c.say(room, chen, "task 1 start")
        assert "to In Progress" in teams.last_reply(room)
        refused = await c.say(room, chen, "task 1 wontdo")
        assert "closing it needs a reason" in teams.replies_to(room, refused)[0]
        await settle_teams(h)
        _, card = await card_of(h, incident_id)
        assert "Follow-up tasks" in json.dumps(card) and "1 open" in json.dumps(card)
        stored = await tasks_of(h, incident_id)
        assert stored[0]["status"] == "in_progress" and stored[0]["owner"] == "chen@example.com"

        # the task's own card: posted once, edited in place; Done pressed twice applies once
        posted = teams_task_cards(teams, room.id)
        assert len(posted) == 1
        card_id, content = posted[0]
        assert "Task 1 of INC-" in json.dumps(content) and "In Progress" in json.dumps(content)
        done = next(a["data"] for a in content["actions"] if a["id"] == "task_done")
        await c.submit(room, chen, done, card_id=card_id)
        again = await c.submit(room, chen, done, card_id=card_id)
        assert "Done already" in teams.replies_to(room, again)[-1]
        await settle_teams(h)
        stored = await tasks_of(h, incident_id)
        assert stored[0]["status"] == "done" and stored[0]["version"] == 3
        posted = teams_task_cards(teams, room.id)
        assert len(posted) == 1 and posted[0][0] == card_id and posted[0][1]["actions"] == []
        assert "Follow-up tasks" not in json.dumps((await card_of(h, incident_id))[1])
    finally:
        await teams.stop()
        await h.stop()


def teams_task_cards(teams: TeamsSide, room: str) -> list[tuple[str, dict[str, Any]]]:
    """(activity id, content) of the task cards the bot posted in the Teams war room, as they read now."""
    return [(m.id, content) for m, content in teams.connector.cards(room)
            if str(content.get("fallbackText", "")).startswith("📝 Task")]


async def settle_teams(h: Harness) -> None:
    await h.runtime.worker.run_until_idle()


def task_cards(h: Harness, channel: str) -> dict[str, dict[str, Any]]:
    """The task cards in the war room, by task id."""
    out = {}
    for m in h.world.slack.messages(channel):
        meta = m.get("metadata") or {}
        if meta.get("event_type") == blocks.TASK_CARD_EVENT:
            out[str(meta["event_payload"]["key"])] = m
    return out


def buttons(card: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]]


@pytest.mark.one_db(
    "the task card's buttons; tasks' writes and reminders keep PostgreSQL in the two tests above",
)
async def test_task_cards_in_the_war_room_with_start_and_done(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    ana, dana = user(h, "ana"), user(h, "dana")
    await h.slack.command(f"task add {HOSTILE} <@{dana}|dana> due tomorrow", user=ana, channel=channel)
    await settle(h)
    task_id = str((await tasks_of(h, incident))[0]["id"])
    cards = task_cards(h, channel)
    assert list(cards) == [task_id]
    text = card_facts(cards[task_id]["blocks"])
    assert "Task 1 of INC-" in text and "&lt;!channel&gt; Rotate &lt;https://evil.example/login|the keys&gt;" in text
    assert "*Owner*: dana@example.com" in text and "*Status*: To Do" in text
    assert buttons(cards[task_id]) == [blocks.TASK_START, blocks.TASK_DONE]

    # changed from chat: the same card, edited in place
    await h.slack.command("task 1 start", user=dana, channel=channel)
    await settle(h)
    cards = task_cards(h, channel)
    assert len(cards) == 1 and "*Status*: In Progress" in card_facts(cards[task_id]["blocks"])
    assert buttons(cards[task_id]) == [blocks.TASK_DONE]

    # a double click applies once: one change, one line in the room
    ts = cards[task_id]["ts"]
    first = await h.slack.click(blocks.TASK_DONE, task_id, user=dana, channel=channel, message_ts=ts)
    second = await h.slack.click(blocks.TASK_DONE, task_id, user=dana, channel=channel, message_ts=ts)
    assert first.status_code == 200 and second.status_code == 200
    await settle(h)
    stored = (await tasks_of(h, incident))[0]
    assert stored["status"] == "done" and stored["version"] == 3
    said = [m["text"] for m in h.world.slack.messages(channel) if "to Done" in (m.get("text") or "")]
    assert len(said) == 1 and f"<@{dana}> moved task 1 of INC-{incident}" in said[0]
    cards = task_cards(h, channel)
    assert len(cards) == 1 and buttons(cards[task_id]) == [] and "*Status*: Done" in card_facts(cards[task_id]["blocks"])
    bad = await h.slack.click(blocks.TASK_DONE, "not-a-task", user=dana, channel=channel, message_ts=ts)
    assert bad.status_code == 200


async def test_a_teams_owner_is_reminded_in_a_chat_with_the_bot(sqlite_url: str) -> None:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    h = await Harness.start(sqlite_url, world=world, tweak=teams.tweak())
    teams.client.bot_url = f"{h.base_url}/api/messages"
    try:
        incident_id, room = await open_war_room(h)
        ben, chen = teams.person("ben@example.com"), teams.person("chen@example.com")
        await teams.client.say(room, ben, "task add Write the <at>runbook</at> ", teams.client.mention(chen),
                               " due in 3 days")
        task_id = int((await tasks_of(h, incident_id))[0]["id"])
        await fire(h, f"task-remind:{task_id}:before")
        chat = teams.connector.personal_of(teams.world.user_ids["chen@example.com"])
        assert chat is not None
        said = [str(m.activity.get("text") or "") for m in teams.connector.posted(chat)]
        assert len(said) == 1 and "Due tomorrow" in said[0] and f"INC-{incident_id}" in said[0]
        assert "<at>" not in said[0]
    finally:
        await teams.stop()
        await h.stop()
