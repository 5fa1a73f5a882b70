"""The incidents channel and the end of a Slack war room, end to end over HTTP against the emulators.

- ``slack.announce_channel`` / ``teams.announce_channel``: one line per event — an incident declared, acknowledged,
  resolved, reopened (from chat or from Xurrent), a war room that could not be made, an alert for no configured
  service — with the incident's ref, priority, service, escaped title and a link to its war room; exactly once
  when Slack loses an answer; nothing at all when the setting is unset.
- ``warroom outbox retry``: dead jobs and jobs backing off after failures run now.
- ``slack.archive_after_hours``: the war room's final summary, then the channel archived by a durable timer;
  reopening before then keeps it open; reopening after opens it again — unarchived where Slack allows it, and in
  a new channel that links the archived one where it does not (a bot token cannot unarchive).

The archive timer is made due by moving it to now (as if the hours had passed), never by waiting.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warroom.cli import main as cli
from warroom.core.jobs import ANNOUNCE, ARCHIVE, TEAMS_ANNOUNCE, UNARCHIVE
from warroom.core.model import Incident, Link, LinkKind
from warroom.response import jobs
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import INTAKE_TOKEN, World
from warroom.store.outbox import Job

from .helpers import critical_alert, open_room, settle, war_room
from .sync_helpers import sync_all

ANNOUNCE_NAME = "major-incidents"
SLACK_BROADCAST = re.compile(r"<!(?:channel|here|everyone)\b|<!subteam\^", re.IGNORECASE)
SLACK_LINK = re.compile(r"<(https?://[^|<>\s]+)\|([^<>]*)>")
MARKDOWN_LINK = re.compile(r"\[([^\]]*)\]\((https?://[^)\s]+)\)")
HOSTILE = "<!channel> <!subteam^S0EVIL|@oncall> <https://evil.example/login|https://grafana.example/d/1> & more"


def tweak(
    *,
    slack: str | None = f"#{ANNOUNCE_NAME}",
    teams: tuple[str, str] | None = None,
    hours: float = 72.0,
    chat: str = "slack",
    extra: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        if slack is not None:
            data["slack"]["announce_channel"] = slack
        data["slack"]["archive_after_hours"] = hours
        if teams is not None:
            data["teams"].update({"enabled": True, "announce_team_id": teams[0], "announce_channel": teams[1]})
        if chat != "slack":
            data["teams"]["enabled"] = True
            data["services"][0]["chat"] = chat
        if extra is not None:
            extra(data)

    return apply


async def start(db_url: str, **kwargs: Any) -> tuple[Harness, str]:
    """The server, with an incidents channel someone made in the Slack workspace and invited the app to; returns it
    with the channel's id."""
    world = await World.start()
    return await Harness.start(db_url, world=world, tweak=tweak(**kwargs)), incidents_channel(world)


def incidents_channel(world: World) -> str:
    ana = next(u["id"] for u in world.slack.users.values() if u["profile"]["email"] == "ana@example.com")
    return world.slack.add_channel(ANNOUNCE_NAME, creator=ana, members=[ana, world.slack.bot_user_id])


def lines(h: Harness, channel: str) -> list[str]:
    return [m["text"] for m in h.world.slack.messages(channel) if m["user"] == h.world.slack.bot_user_id]


async def incident(h: Harness, incident_id: int) -> Incident:
    async with h.runtime.store.read() as tx:
        found = await tx.incidents.get(incident_id)
    assert found is not None
    return found


async def room(h: Harness, incident_id: int) -> Link:
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident_id, LinkKind.SLACK_CHANNEL)
    assert link is not None
    return link


async def jobs_of(h: Harness, *, status: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return [j for j in await tx.outbox.jobs() if (status is None or j["status"] == status)
                and (kind is None or j["kind"] == kind)]


def slack_link(link: Link) -> str:
    return f"<{link.url}|#{link.data['name']}>"


# -- the incidents channel ----------------------------------------------------------------------------------
async def test_every_incident_event_is_one_line_in_the_incidents_channel(db_url: str) -> None:
    h, announce = await start(db_url)
    try:
        incident_id, channel, request_id = await open_room(h)
        await settle(h)
        for command in ("ack", "resolve rolled back the deploy", "reopen"):
            assert (await h.slack_command(command, channel=channel)).status_code == 200
            await settle(h)
        # the desk completes the request in Xurrent: the status change the sync brings is told too
        dana = h.world.xurrent_people["dana@example.com"]
        h.world.xurrent.update_request(request_id, {"status": "completed", "completion_reason": "solved"},
                                       person_id=dana)
        await sync_all(h)
        inc, link = await incident(h, incident_id), await room(h, incident_id)
        assert inc.status.value == "resolved"
        said = lines(h, announce)
        ref, tail = f"INC-{incident_id}", f" · P1 · checkout-api · {inc.title} · {slack_link(link)}"
        expected = [rf"🚨 {ref} declared", rf"🟠 {ref} acknowledged", rf"🟢 {ref} resolved after \d+ (?:s|min)",
                    rf"🔴 {ref} reopened", rf"🟢 {ref} resolved after \d+ (?:s|min)"]
        assert len(said) == len(expected), said
        for line, head in zip(said, expected, strict=True):
            assert re.fullmatch(head + re.escape(tail), line), line
        assert await jobs_of(h, status="dead") == []
    finally:
        await h.stop()


async def test_nothing_is_announced_without_an_incidents_channel(sqlite_url: str) -> None:
    h, announce = await start(sqlite_url, slack=None)
    try:
        _, channel, _ = await open_room(h)
        await h.slack_command("resolve fixed", channel=channel)
        await h.post_alerts(critical_alert(name="InventoryDown", service="inventory"))
        await settle(h)
        assert h.world.slack.messages(announce) == []
        assert await jobs_of(h, kind=ANNOUNCE) == [] and await jobs_of(h, kind=TEAMS_ANNOUNCE) == []
    finally:
        await h.stop()


async def test_outside_text_in_a_line_is_inert(sqlite_url: str) -> None:
    h, announce = await start(sqlite_url)
    try:
        alert = critical_alert()
        alert["alerts"][0]["labels"]["alertname"] = f"Checkout {HOSTILE}"
        alert["alerts"][0]["annotations"] = {"summary": HOSTILE}
        incident_id = (await h.post_alerts(alert)).json()["incidents"][0]
        assert await h.wait_complete(incident_id) == []
        await settle(h)
        (line,) = lines(h, announce)
        assert "evil.example" in line and not SLACK_BROADCAST.search(line)
        # the one link is the war room's own
        assert SLACK_LINK.findall(line) == [(str((await room(h, incident_id)).url), f"#{war_room(h, incident_id).channel['name']}")]
    finally:
        await h.stop()


async def test_an_unrouted_alert_that_would_declare_is_announced_once(sqlite_url: str) -> None:
    def thresholds(data: dict[str, Any]) -> None:
        data["services"][1]["declare_threshold"] = "P3"  # the lowest of P2 (checkout-api) and P3 (payments)

    h, announce = await start(sqlite_url, extra=thresholds)
    try:
        warning = critical_alert(name="InventoryLatency", service="inventory", severity="warning")  # P3
        for payload in (warning, warning, critical_alert(name="InventoryDisk", service="inventory", severity="minor")):
            reply = await h.post_alerts(payload)
            assert reply.json()["alerts"][0]["result"] in ("unrouted", "repeat"), reply.json()
        await settle(h)
        (line,) = lines(h, announce)  # the repeat is the same event; P4 is below every declare threshold
        assert line.startswith("⚠️ Unrouted alert InventoryLatency (P3, from alertmanager): 5xx above 12% — ")
        assert "service 'inventory', which is not in the catalog" in line and "`intake.fallback_service`" in line
    finally:
        await h.stop()


async def test_a_war_room_that_cannot_be_made_is_announced_with_the_command_that_retries(sqlite_url: str) -> None:
    h, announce = await start(sqlite_url)
    try:
        h.world.slack.inject("conversations.create", status=200, body={"ok": False, "error": "restricted_action"})
        incident_id = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        declared, failed = lines(h, announce)
        ref = f"INC-{incident_id}"
        assert declared.startswith(f"🚨 {ref} declared") and "archives" not in declared  # no room to link
        assert failed.startswith(f"⚠️ {ref} war room problem · P1 · checkout-api · ")
        assert "could not create the war-room channel in Slack" in failed and "restricted_action" in failed
        assert failed.endswith(f"`warroom outbox retry {incident_id}`.")
        # fixed, retried: the war room opens, and nothing more is said in the incidents channel
        async with h.runtime.store.tx() as tx:
            assert await tx.outbox.revive(incident_id) == 1
        assert await h.wait_complete(incident_id) == []
        await settle(h)
        assert len(lines(h, announce)) == 2
    finally:
        await h.stop()


async def test_a_line_whose_answer_slack_lost_is_posted_once(sqlite_url: str) -> None:
    h, announce = await start(sqlite_url)
    try:
        incident_id, channel, _ = await open_room(h)
        await settle(h)
        before = len(h.world.slack.calls_to("chat.postMessage"))
        # the next message is the line telling the acknowledgement: Slack posts it, then answers 500 — and the
        # retry is made by a process that has not posted there yet (the incidents channel is known by its name)
        h.world.slack.inject("chat.postMessage", kind="after")
        fanout = getattr(h.runtime.worker.handlers[ANNOUNCE], "__self__")  # noqa: B009
        fanout._announce_id = None
        await h.slack_command("ack", channel=channel)
        await settle(h)
        posts = h.world.slack.calls_to("chat.postMessage")[before:]
        assert posts[0].status == 500 and f"#{ANNOUNCE_NAME}" in str(posts[0].body)
        assert h.world.slack.calls_to("conversations.list")  # the retry looked the channel's id up by its name
        assert [line.split(" · ")[0] for line in lines(h, announce)] == [
            f"🚨 INC-{incident_id} declared", f"🟠 INC-{incident_id} acknowledged"]
    finally:
        await h.stop()


async def test_the_teams_incidents_channel_links_the_war_room_in_either_chat(sqlite_url: str) -> None:
    world = await World.start()
    tenant = world.teams.tenant
    team = world.teams.team_ids["payments"]
    teams_channel = tenant.new_channel(team, "Major incidents", "standard", description="", members=set())["id"]
    slack_channel = incidents_channel(world)
    h = await Harness.start(sqlite_url, world=world, tweak=tweak(teams=(team, teams_channel), chat="teams"))
    try:
        # checkout-api's war rooms are in Teams; payments' in Slack
        teams_incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        slack_incident = (await h.post_alerts(critical_alert(name="PaymentsDown", service="payments"))).json()
        slack_incident = slack_incident["incidents"][0]
        for incident_id in (teams_incident, slack_incident):
            assert await h.wait_complete(incident_id) == []
        await settle(h)
        # the Bot Connector takes the acknowledgement's line, then answers 500: the retry finds it and posts nothing
        connector = world.teams.connector
        sends = len(connector.calls_to("POST /v3/conversations/{id}/activities"))
        connector.inject("POST /v3/conversations/{id}/activities", kind="after")
        await h.runtime.incidents.acknowledge(teams_incident, actor="ana@example.com")
        await settle(h)
        assert [c.status for c in connector.calls_to("POST /v3/conversations/{id}/activities")[sends:]] == [500]
        async with h.runtime.store.read() as tx:
            teams_room = await tx.links.get(teams_incident, LinkKind.TEAMS_CHANNEL)
        assert teams_room is not None
        slack_room = await room(h, slack_incident)
        posted = [str(m.activity["text"]) for m in tenant.messages[teams_channel]]
        assert len(posted) == 3, posted
        by_incident = {n: [p for p in posted if p.startswith(("🚨 ", "🟠 ")) and f"INC-{n} " in p]
                       for n in (teams_incident, slack_incident)}
        assert len(by_incident[teams_incident]) == 2 and len(by_incident[slack_incident]) == 1
        # links in Teams Markdown: the Teams room for the Teams war room, the Slack channel for the Slack one
        assert all(f"]({teams_room.url})" in p for p in by_incident[teams_incident])
        assert MARKDOWN_LINK.findall(by_incident[slack_incident][0]) == [
            (f"#{slack_room.data['name']}", str(slack_room.url))]
        # and the Slack incidents channel has the same three lines, linking the same rooms
        slack_lines = lines(h, slack_channel)
        assert len(slack_lines) == 3 and sum(f"|{teams_room.data['name']} (Teams)>" in s for s in slack_lines) == 2
    finally:
        await h.stop()


# -- warroom outbox retry -----------------------------------------------------------------------------------
async def test_outbox_retry_runs_dead_and_backing_off_jobs_now(sqlite_url: str, tmp_path: Path) -> None:
    h, _ = await start(sqlite_url)
    try:
        slack = h.world.slack
        # the first bookmark is rate limited for ten minutes (the job backs off); the pin is refused (it dies)
        slack.inject("bookmarks.add", kind="ratelimit", retry_after=600)
        slack.inject("pins.add", status=200, body={"ok": False, "error": "restricted_action"})
        incident_id = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert {j["kind"] for j in await jobs_of(h, status="dead")} == {jobs.PIN}
        (waiting,) = await jobs_of(h, status="pending")
        assert waiting["kind"] == jobs.BOOKMARK and waiting["attempts"] == 1
        assert "pin" in await h.gaps(incident_id)
        # the operator fixed the cause and runs `warroom outbox retry`, in another process, on the same database
        token = tmp_path / "token"
        token.write_text(INTAKE_TOKEN)
        config = tmp_path / "warroom.yaml"
        config.write_text(
            f"database:\n  url: '{sqlite_url}'\nslack:\n  enabled: false\nxurrent:\n  enabled: false\n"
            f"intake:\n  generic_token_file: '{token}'\n"
        )
        said = await asyncio.to_thread(_run_cli, ["--config", str(config), "outbox", "retry", str(incident_id)])
        assert said == f"2 failed job(s) of incident {incident_id} will be tried again by the running server."
        assert await h.wait_complete(incident_id) == []
        assert len(slack.bookmarks[(await room(h, incident_id)).remote_id]) == 3
    finally:
        await h.stop()


def _run_cli(argv: list[str]) -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli(argv) == 0
    return out.getvalue().strip()


# -- the Slack war room archived ----------------------------------------------------------------------------
async def archive_timer(h: Harness, incident_id: int) -> dict[str, Any] | None:
    async with h.runtime.store.read() as tx:
        found = [t for t in await tx.timers.all() if t["key"] == jobs.archive_timer(incident_id)]
    return found[0] if found else None


async def hours_pass(h: Harness, incident_id: int) -> None:
    """The archive timer's time has come: it is moved to now and fired, and its job run."""
    timer = await archive_timer(h, incident_id)
    assert timer is not None
    async with h.runtime.store.tx() as tx:
        await tx.timers.schedule(timer["key"], timer["kind"], delay=0, incident_id=incident_id)
    await h.runtime.timers.tick()
    await settle(h)


async def test_a_resolved_war_room_is_archived_after_its_final_summary(db_url: str) -> None:
    h, announce = await start(db_url, hours=1.0)
    try:
        incident_id, channel, request_id = await open_room(h)
        await h.slack_command("resolve rolled back", channel=channel)
        await settle(h)
        inc = await incident(h, incident_id)
        timer = await archive_timer(h, incident_id)
        assert timer is not None and timer["kind"] == ARCHIVE and inc.resolved_at is not None
        assert abs((timer["fire_at"] - inc.resolved_at).total_seconds() - 3600) < 0.01  # an hour after resolving
        assert not h.world.slack.channels[channel]["is_archived"]
        await hours_pass(h, incident_id)
        slack = h.world.slack
        assert slack.channels[channel]["is_archived"]
        summary = slack.messages(channel)[-1]["text"]
        assert summary.startswith(f"📕 INC-{incident_id} was resolved {inc.resolved_at:%Y-%m-%d %H:%M} UTC after ")
        assert f"/requests/{request_id}|ITSM request #{request_id}>" in summary
        link = await room(h, incident_id)
        assert link.data["archived"] is True
        # a line said afterwards (a late status update, say) is kept on the timeline, not forced into the channel
        async with h.runtime.store.tx() as tx:
            await jobs.say(tx, incident_id, "a late line")
        await settle(h)
        assert slack.messages(channel)[-1]["text"] == summary
        assert await jobs_of(h, status="dead") == [] and await archive_timer(h, incident_id) is None
        assert len(lines(h, announce)) == 2  # declared, resolved: archiving is not an incident event
    finally:
        await h.stop()


async def test_reopening_before_the_time_keeps_the_war_room(sqlite_url: str) -> None:
    h, _ = await start(sqlite_url, hours=1.0)
    try:
        incident_id, channel, _ = await open_room(h)
        await h.slack_command("resolve", channel=channel)
        await settle(h)
        assert await archive_timer(h, incident_id) is not None
        await h.slack_command("reopen", channel=channel)
        await settle(h)
        assert await archive_timer(h, incident_id) is None
        assert not h.world.slack.channels[channel]["is_archived"]
        assert h.world.slack.calls_to("conversations.archive") == []
    finally:
        await h.stop()


async def test_no_archiving_when_the_setting_is_zero(sqlite_url: str) -> None:
    h, _ = await start(sqlite_url, hours=0.0)
    try:
        incident_id, channel, _ = await open_room(h)
        await h.slack_command("resolve", channel=channel)
        await settle(h)
        assert await archive_timer(h, incident_id) is None
    finally:
        await h.stop()


async def test_an_incident_reopened_after_archiving_gets_a_war_room_again(db_url: str) -> None:
    """Slack refuses conversations.unarchive to a bot token: the reopened incident's war room goes on in a new
    channel, which links the archived one; the card, invitations and lines are there."""
    h, announce = await start(db_url, hours=1.0)
    try:
        incident_id, channel, request_id = await open_room(h)
        await h.slack_command("resolve", channel=channel)
        await settle(h)
        await hours_pass(h, incident_id)
        old = await room(h, incident_id)
        # reopened from Xurrent (the archived channel takes no commands)
        dana = h.world.xurrent_people["dana@example.com"]
        h.world.xurrent.update_request(request_id, {"status": "assigned"}, person_id=dana)
        await sync_all(h)
        assert (await incident(h, incident_id)).status.value == "triggered"
        assert await h.wait_complete(incident_id) == []
        slack = h.world.slack
        [refused] = slack.calls_to("conversations.unarchive")
        assert refused.status == 200 and slack.channels[channel]["is_archived"]
        new = await room(h, incident_id)
        assert new.remote_id != channel and new.data["name"] == f"{old.data['name']}-2"
        assert new.data["previous"] == [channel] and not new.data.get("archived")
        fresh = war_room(h, incident_id)
        assert len(fresh.cards) == 2  # one per channel
        messages = slack.messages(new.remote_id)
        [card] = [m for m in fresh.cards if m["channel"] == new.remote_id]
        assert "Acknowledge" in str(card["blocks"]) and slack.pins[new.remote_id] == [card["ts"]]
        assert any(slack_link(old) in m["text"] and "reopened" in m["text"] for m in messages)
        members = set(slack.channels[new.remote_id]["members"])
        assert {u for u in slack.users if slack.users[u]["profile"]["email"] == "ana@example.com"} <= members
        # the incidents channel's reopened line links the room that is live
        reopened = [line for line in lines(h, announce) if " reopened " in line]
        assert len(reopened) == 1 and reopened[0].endswith(slack_link(new))
        # and it ends as the first did
        await h.runtime.incidents.resolve(incident_id, actor="ana@example.com")
        await settle(h)
        await hours_pass(h, incident_id)
        assert slack.channels[new.remote_id]["is_archived"]
        assert await jobs_of(h, status="dead") == []
    finally:
        await h.stop()


async def test_where_slack_lets_the_app_unarchive_the_same_channel_is_reopened(sqlite_url: str) -> None:
    h, _ = await start(sqlite_url, hours=1.0)
    try:
        h.world.slack.bots_can_unarchive = True
        incident_id, channel, _ = await open_room(h)
        await h.runtime.incidents.resolve(incident_id, actor="ana@example.com")
        await settle(h)
        await hours_pass(h, incident_id)
        assert h.world.slack.channels[channel]["is_archived"]
        await h.runtime.incidents.reopen(incident_id, actor="ana@example.com")
        await settle(h)
        slack = h.world.slack
        assert not slack.channels[channel]["is_archived"] and (await room(h, incident_id)).remote_id == channel
        assert len(war_room(h, incident_id).channels) == 1
        card = war_room(h, incident_id).card
        assert "Acknowledge" in str(card["blocks"])  # edited to the reopened state
        await h.slack_command("note back on it", channel=channel)
        assert (await h.slack_command("ack", channel=channel)).status_code == 200
        await settle(h)
        assert "acknowledged" in slack.channels[channel]["topic"]
        assert await jobs_of(h, status="dead") == []
    finally:
        await h.stop()


async def test_reopened_while_being_archived_the_room_is_opened_again(sqlite_url: str) -> None:
    """The incident is reopened after the archive job read it as resolved, before its result was recorded: the
    record of the archiving sees the reopening and opens the room again."""
    h, _ = await start(sqlite_url, hours=1.0)
    try:
        h.world.slack.bots_can_unarchive = True
        incident_id, channel, _ = await open_room(h)
        await h.runtime.incidents.resolve(incident_id, actor="ana@example.com")
        await settle(h)

        async def reopen_first(job: Job) -> None:
            if job.kind == ARCHIVE:
                await h.runtime.incidents.reopen(incident_id, actor="ana@example.com")

        h.runtime.worker.before_commit = reopen_first
        await hours_pass(h, incident_id)
        h.runtime.worker.before_commit = None
        await settle(h)
        assert [c.status for c in h.world.slack.calls_to("conversations.archive")] == [200]
        assert len(await jobs_of(h, kind=UNARCHIVE, status="done")) == 1
        assert not h.world.slack.channels[channel]["is_archived"]
        assert not (await room(h, incident_id)).data.get("archived")
    finally:
        await h.stop()
