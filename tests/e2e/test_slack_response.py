"""Responders working an incident from Slack, end to end: roles, paging, stakeholders, merging, the card's buttons,
the declare form, the "Add to incident" shortcut, the recorded conversation, and who may do what — each sent as a
signed Slack request through the real slack-bolt app, each checked on both records (incident and Xurrent request).
Roles, the buttons, the forms, the shortcut, the conversation and retries run over Socket Mode too (``each_mode``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from warroom.chat.slack import blocks, forms
from warroom.core.model import LinkKind, Status
from warroom.sandbox.harness import Harness

from .helpers import open_room, settle, war_room
from .slack_modes import SLACK_MODES, start_in_mode, stop_in_mode


def user(h: Harness, first: str) -> str:
    emails = {"ana": "ana@example.com", "ben": "ben@example.com", "chen": "chen@example.com",
              "dana": "dana@example.com", "eli": "eli@example.com"}
    return h.world.slack.add_user(emails[first], first.capitalize())


async def timeline_kinds(h: Harness, incident_id: int) -> list[str]:
    async with h.runtime.store.read() as tx:
        return [e.kind for e in await tx.timeline.for_incident(incident_id)]


async def current(h: Harness, incident_id: int) -> Any:
    async with h.runtime.store.read() as tx:
        return await tx.incidents.get(incident_id)


def lines(h: Harness, channel: str) -> list[str]:
    return [m["text"] for m in h.world.slack.messages(channel)]


def xurrent_notes(h: Harness, request_id: int) -> list[str]:
    return [str(n["text"]) for n in h.world.xurrent.notes(request_id)]


@pytest.fixture(params=SLACK_MODES)
async def each_mode(request: pytest.FixtureRequest, db_url: str) -> AsyncIterator[Harness]:
    """The harness with Slack reaching warroom over HTTP, then over Socket Mode (the clicks, forms, shortcuts and
    events below run over both; every envelope must have been acked by the end)."""
    h = await start_in_mode(db_url, request.param)
    yield h
    await stop_in_mode(h)


@pytest.fixture
async def tweaked(sqlite_url: str) -> AsyncIterator[Callable[..., Any]]:
    """A harness on SQLite whose settings the test changes."""
    started: list[Harness] = []

    async def go(tweak: Callable[[dict[str, Any]], None]) -> Harness:
        h = await Harness.start(sqlite_url, tweak=tweak)
        h.world.slack.config.rate_limits = False
        started.append(h)
        return h

    yield go
    for h in started:
        await h.stop()


# -- roles --------------------------------------------------------------------------------------------------
@pytest.mark.one_db(
    "Socket Mode is a transport: the roles' store path keeps PostgreSQL over HTTP",
    only="socket",
)
async def test_roles_show_on_the_card_and_reach_the_request_as_notes(each_mode: Harness) -> None:
    h = each_mode
    incident, channel, request_id = await open_room(h)
    ana, dana = user(h, "ana"), user(h, "dana")
    given = await h.slack.command(f"role commander <@{dana}|dana>", user=ana, channel=channel)
    assert given.status_code == 200 and "is now the Incident Commander" in given.text and "ephemeral" in given.text
    await h.slack.command("role app-sme me", user=ana, channel=channel)
    await settle(h)
    # one line in the war room per role change (the answer goes to the person who gave it)
    assert [line for line in lines(h, channel) if "Incident Commander" in line] == [
        "🎖️ Incident Commander: dana (dana@example.com)"]
    card = war_room(h, incident).card_text
    assert f"*Incident Commander*: <@{dana}>" in card and f"*Application SME*: <@{ana}>" in card
    notes = xurrent_notes(h, request_id)
    assert "Incident Commander: dana (dana@example.com)" in notes and "Application SME: ana@example.com" in notes
    listed = await h.slack.command("roles", user=ana, channel=channel)
    assert "Incident Commander: dana\n" in listed.json()["text"] and "Networking SME: nobody" in listed.text
    assert '"ephemeral"' in listed.text
    again = await h.slack.command(f"role ic <@{dana}|dana>", user=ana, channel=channel)
    assert "already the Incident Commander" in again.text
    await settle(h)
    assert xurrent_notes(h, request_id).count("Incident Commander: dana (dana@example.com)") == 1  # once, no echo

    # the card's button hands command over
    ben = user(h, "ben")
    clicked = await h.slack.click(blocks.TAKE_COMMANDER, str(incident), user=ben, channel=channel)
    assert clicked.status_code == 200
    await settle(h)
    assert f"*Incident Commander*: <@{ben}>" in war_room(h, incident).card_text
    assert "Incident Commander: ben@example.com, taking over from dana" in xurrent_notes(h, request_id)
    assert [line for line in lines(h, channel) if "ben@example.com" in line] == [
        "🎖️ Incident Commander: ben@example.com, taking over from dana"]


async def test_custom_roles_come_from_the_configuration(tweaked: Callable[..., Any]) -> None:
    h = await tweaked(lambda d: d.setdefault("response", {}).update(custom_roles=["Communications Lead"]))
    incident, channel, _ = await open_room(h)
    reply = await h.slack.command("role communications-lead me", user=user(h, "eli"), channel=channel)
    assert "is now the Communications Lead" in reply.text
    await settle(h)
    assert "*Communications Lead*:" in war_room(h, incident).card_text
    unknown = await h.slack.command("role scribe me", channel=channel)
    assert "Unknown role 'scribe'" in unknown.text and "communications-lead" in unknown.text


# -- paging -------------------------------------------------------------------------------------------------
async def test_paged_people_are_invited_messaged_and_reminded_until_acknowledged(tweaked: Callable[..., Any]) -> None:
    h = await tweaked(lambda d: d.setdefault("response", {}).update(page_repeat_minutes=1 / 60, page_max_notifications=4))
    await h.runtime.timers.stop()  # the test fires due timers itself, one round at a time
    incident, channel, _ = await open_room(h)
    ana, eli = user(h, "ana"), user(h, "eli")
    reply = await h.slack.command(f"page <@{eli}>", user=ana, channel=channel)
    assert "Paged 1 into" in reply.text and "in_channel" in reply.text
    await settle(h)
    assert eli in h.world.slack.channels[channel]["members"]
    assert h.world.slack.dms(eli)[0]["text"].startswith(f"📟 You are paged into INC-{incident}")
    assert any("📟 Paged eli@example.com" in line for line in lines(h, channel))

    for _ in range(2):  # two reminder rounds while nobody acknowledges
        await asyncio.sleep(1.05)
        await h.runtime.timers.tick()
        await settle(h)
    reminders = [m for m in h.world.slack.dms(eli) if m["text"].startswith("⏰ Reminder")]
    assert len(reminders) == 2
    again = await h.slack.command(f"page <@{eli}>", user=ana, channel=channel)
    assert "paged into" in again.text and "already" in again.text

    await h.slack.command("ack", user=eli, channel=channel)
    await asyncio.sleep(1.05)
    await h.runtime.timers.tick()
    await settle(h)
    assert len([m for m in h.world.slack.dms(eli) if m["text"].startswith("⏰")]) == 2  # stopped by the ack
    async with h.runtime.store.read() as tx:
        assert not [t for t in await tx.timers.all() if t["key"] == f"page:{incident}"]


async def test_paging_a_service_or_a_group_pages_its_people(tweaked: Callable[..., Any]) -> None:
    h = await tweaked(lambda d: d.setdefault("response", {}).update(groups={"dba": ["chen@example.com"]}))
    incident, channel, _ = await open_room(h)
    by_service = await h.slack.command("page payments", channel=channel)
    assert "Paged 2" in by_service.text and "payments responders" in by_service.text
    by_group = await h.slack.command("page dba", channel=channel)
    assert "Paged 1" in by_group.text
    unknown = await h.slack.command("page Network Operations", channel=channel)
    assert "Unknown team or group 'Network Operations'. Groups: dba." in unknown.text
    await settle(h)
    async with h.runtime.store.read() as tx:
        paged = sorted(p["email"] for p in await tx.pages.all(incident))
    assert paged == ["ana@example.com", "chen@example.com", "eli@example.com"]


@pytest.mark.one_db(
    "reading a Slack user group and its members; the paging store path keeps PostgreSQL in test_oncall_escalation",
)
async def test_paging_a_slack_user_group_pages_its_members(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    chen, dana = user(h, "chen"), user(h, "dana")
    group = h.world.slack.add_usergroup("dba-oncall", "DBA on call", [chen, dana])
    reply = await h.slack.command(f"page <!subteam^{group}|@dba-oncall>", channel=channel)
    assert "Paged 2" in reply.text and "@dba-oncall" in reply.text
    unknown = await h.slack.command("page <!subteam^S0NOPE|@nope>", channel=channel)
    assert "@nope is not a user group warroom can read" in unknown.text
    await settle(h)
    async with h.runtime.store.read() as tx:
        assert sorted(p["email"] for p in await tx.pages.all(incident)) == ["chen@example.com", "dana@example.com"]
    assert chen in h.world.slack.channels[channel]["members"] and h.world.slack.dms(dana)


# -- stakeholders -------------------------------------------------------------------------------------------
@pytest.mark.one_db("chat replies and the card's count: no concurrency, no dialect-specific SQL")
async def test_stakeholders_are_told_and_counted_on_the_card(harness: Harness) -> None:
    h = harness
    incident, channel, _ = await open_room(h)
    dana = user(h, "dana")
    news = h.world.slack.add_channel("exec-news", creator=h.world.slack.bot_user_id)
    person = await h.slack.command(f"stakeholder add <@{dana}|dana>", channel=channel)
    assert "dana will be kept informed" in person.text
    room = await h.slack.command(f"stakeholder add <#{news}|exec-news>", channel=channel)
    assert "#exec-news will be kept informed" in room.text
    twice = await h.slack.command(f"stakeholder <@{dana}|dana>", channel=channel)
    assert "already" in twice.text
    await settle(h)
    assert h.world.slack.dms(dana)[0]["text"].startswith(f"📣 You are kept informed of INC-{incident}")
    assert h.world.slack.messages(news)[0]["text"].startswith(f"📣 You are kept informed of INC-{incident}")
    assert "*Stakeholders*: 2 kept informed" in war_room(h, incident).card_text


# -- merging ------------------------------------------------------------------------------------------------
async def test_merge_folds_a_duplicate_and_completes_its_request_as_duplicate(harness: Harness) -> None:
    h = harness
    keep, channel, request_id = await open_room(h)
    ana = user(h, "ana")
    declared = await h.slack.command("declare payments P1 Card payments failing", user=ana, channel="C0GENERAL")
    dup = int(declared.json()["text"].split()[0].removeprefix("INC-"))
    assert await h.wait_complete(dup) == []
    dup_room = war_room(h, dup)
    await h.slack.command("note seen from the payments side", user=ana, channel=dup_room.channel["id"])
    await settle(h)

    merged = await h.slack.command(f"merge INC-{dup}", user=ana, channel=channel)
    assert f"INC-{dup} merged into INC-{keep}" in merged.text
    await settle(h)
    dup_request = h.world.xurrent.requests[dup_room.requests[0]["id"]]
    assert (dup_request["status"], dup_request["completion_reason"]) == ("completed", "duplicate")
    assert f"Duplicate of INC-{keep}" in " ".join(xurrent_notes(h, dup_request["id"]))
    folded = await current(h, dup)
    assert folded.merged_into == keep and folded.status is Status.RESOLVED
    assert f"[INC-{dup}] seen from the payments side" in xurrent_notes(h, request_id)
    assert "merged" in await timeline_kinds(h, keep)
    assert any(f"merged into INC-{keep}" in line for line in lines(h, dup_room.channel["id"]))
    assert "Merged into" in war_room(h, dup).card_text and blocks.ACK not in str(war_room(h, dup).card["blocks"])
    refused = await h.slack.command("ack", user=ana, channel=dup_room.channel["id"])
    assert f"was merged into INC-{keep}" in refused.text
    assert "cannot be merged into itself" in (await h.slack.command(f"merge {keep}", channel=channel)).text
    assert "There is no incident 999" in (await h.slack.command("merge 999", channel=channel)).text


# -- who may do what ----------------------------------------------------------------------------------------
@pytest.mark.one_db("a permission check before any write: no concurrency, no dialect-specific SQL")
async def test_resolve_needs_the_commander_or_assignee_once_there_is_a_commander(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    ana, chen, dana = user(h, "ana"), user(h, "chen"), user(h, "dana")
    # nobody holds the commander role yet: anyone in the war room may change the priority
    assert "priority set to P2" in (await h.slack.command("priority P2", user=chen, channel=channel)).text
    await h.slack.command(f"role commander <@{dana}>", user=ana, channel=channel)
    refused = await h.slack.command("resolve", user=chen, channel=channel)
    assert "Only the Incident Commander (dana@example.com) or the assignee (ana@example.com) may resolve" in refused.text
    assert '"ephemeral"' in refused.text
    await settle(h)
    assert (await current(h, incident)).status is Status.TRIGGERED
    assert h.world.xurrent.requests[request_id]["status"] != "completed"
    # notes and acks stay open to everyone
    assert "Note added" in (await h.slack.command("note checking the db", user=chen, channel=channel)).text
    assert "acknowledged" in (await h.slack.command("ack", user=chen, channel=channel)).text
    assert "resolved by" in (await h.slack.command("resolve", user=dana, channel=channel)).text
    await settle(h)
    assert h.world.xurrent.requests[request_id]["status"] == "completed"


async def test_a_configured_group_may_merge(tweaked: Callable[..., Any]) -> None:
    h = await tweaked(lambda d: d.setdefault("response", {}).update(
        groups={"incident-managers": ["eli@example.com"]}, permissions={"merge": ["group:incident-managers"]}))
    _, channel, _ = await open_room(h)
    refused = await h.slack.command("merge 5", user=user(h, "ana"), channel=channel)
    assert "Only the incident-managers group may merge" in refused.text
    allowed = await h.slack.command("merge 5", user=user(h, "eli"), channel=channel)
    assert "There is no incident 5" in allowed.text  # past the permission check


# -- the card's buttons -------------------------------------------------------------------------------------
@pytest.mark.one_db(
    "Socket Mode is a transport: clicked-once on PostgreSQL keeps its HTTP run",
    only="socket",
)
async def test_buttons_acknowledge_and_resolve_once_however_often_clicked(each_mode: Harness) -> None:
    h = each_mode
    incident, channel, request_id = await open_room(h)
    ben = user(h, "ben")
    patches = len(h.world.xurrent.calls_to("PATCH /requests/:id"))
    first, second = await asyncio.gather(
        h.slack.click(blocks.ACK, str(incident), user=ben, channel=channel),
        h.slack.click(blocks.ACK, str(incident), user=ben, channel=channel),
    )
    assert first.status_code == second.status_code == 200
    await settle(h)
    assert (await timeline_kinds(h, incident)).count("status_changed") == 1
    assert h.world.xurrent.requests[request_id]["status"] == "accepted"
    assert len(h.world.xurrent.calls_to("PATCH /requests/:id")) == patches + 1
    assert sum(f"acknowledged by <@{ben}>" in line for line in lines(h, channel)) == 1
    card = war_room(h, incident).card["blocks"]
    assert blocks.ACK not in str(card) and blocks.RESOLVE in str(card)  # edited in place

    await h.slack.click(blocks.RESOLVE, str(incident), user=ben, channel=channel)
    await h.slack.click(blocks.RESOLVE, str(incident), user=ben, channel=channel)
    await settle(h)
    assert (await timeline_kinds(h, incident)).count("status_changed") == 2
    request = h.world.xurrent.requests[request_id]
    assert (request["status"], request["completion_reason"]) == ("completed", "solved")
    assert blocks.REOPEN in str(war_room(h, incident).card["blocks"])
    await h.slack.click(blocks.REOPEN, str(incident), user=ben, channel=channel)
    await settle(h)
    assert (await current(h, incident)).status is Status.TRIGGERED
    assert h.world.xurrent.requests[request_id]["status"] == "assigned"
    # the link buttons are acknowledged (Slack opens the link itself) and change nothing
    link = await h.slack.click("join_bridge", user=ben, channel=channel, url="https://zoom.example/j/1")
    assert link.status_code == 200
    bad = await h.slack.click(blocks.ACK, "not-a-number", user=ben, channel=channel)
    assert bad.status_code == 200 and (await current(h, incident)).status is Status.TRIGGERED


# -- the declare form and the shortcut ----------------------------------------------------------------------
@pytest.mark.one_db(
    "Socket Mode is a transport: the form's declare keeps PostgreSQL over HTTP",
    only="socket",
)
async def test_declare_with_no_arguments_opens_the_form_and_its_submission_declares(each_mode: Harness) -> None:
    h = each_mode
    opened = await h.slack.command("declare payments", user=user(h, "ana"))
    assert opened.status_code == 200
    (view,) = [v["view"] for v in h.world.slack.views.values()]
    assert view["callback_id"] == forms.DECLARE_VIEW
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "payments"
    bad = await h.slack.submit(forms.DECLARE_VIEW, {"service": {"selected_option": {"value": "payments"}},
                                                   "priority": {"selected_option": {"value": "P1"}},
                                                   "title": {"value": "   "}})
    assert bad.json() == {"response_action": "errors", "errors": {"title": "Say what is wrong."}}
    ok = await h.slack.submit(forms.DECLARE_VIEW, {
        "service": {"selected_option": {"value": "payments"}}, "priority": {"selected_option": {"value": "P1"}},
        "title": {"value": "Card payments failing"}, "details": {"value": "Since 10:02, all card brands"}})
    assert ok.status_code == 200 and not ok.text
    async with h.runtime.store.read() as tx:
        (declared,) = await tx.incidents.list()
    assert (declared.service, declared.priority, declared.title, declared.details) == (
        "payments", "P1", "Card payments failing", "Since 10:02, all card brands")
    assert await h.wait_complete(declared.id) == []
    await settle(h)
    (request,) = war_room(h, declared.id).requests
    assert xurrent_notes(h, request["id"])[0].endswith("\n\nSince 10:02, all card brands")  # details: the first note


@pytest.mark.one_db(
    "Socket Mode is a transport: the shortcut's note keeps PostgreSQL over HTTP",
    only="socket",
)
async def test_add_to_incident_makes_a_message_a_note_on_both_records(each_mode: Harness) -> None:
    h = each_mode
    incident, channel, request_id = await open_room(h)
    ana, ben = user(h, "ana"), user(h, "ben")
    message = {"user": ben, "text": "DB failover finished at 10:14 <https://grafana.example/d/1|graph>",
               "ts": "1700000001.000200"}
    used = await h.slack.shortcut(forms.ADD_TO_INCIDENT, message, user=ana, channel=channel)
    assert used.status_code == 200
    await settle(h)
    expected = f"DB failover finished at 10:14 <https://grafana.example/d/1|graph>\n— <@{ben}> in <#{channel}>"
    assert xurrent_notes(h, request_id)[-1] == expected

    # outside a war room: pick the incident in a form
    await h.slack.shortcut(forms.ADD_TO_INCIDENT, {**message, "text": "customer report"}, user=ana, channel="C0GENERAL")
    (view,) = [v["view"] for v in h.world.slack.views.values() if v["view"]["callback_id"] == forms.PICK_INCIDENT_VIEW]
    assert view["blocks"][0]["element"]["options"][0]["value"] == str(incident)
    await h.slack.submit(forms.PICK_INCIDENT_VIEW, {forms.PICK_BLOCK: {"selected_option": {"value": str(incident)}}},
                         user=ana, private_metadata=view["private_metadata"])
    await settle(h)
    assert xurrent_notes(h, request_id)[-1].startswith("customer report\n— ")


# -- the conversation ---------------------------------------------------------------------------------------
@pytest.mark.one_db("Socket Mode is a transport: the recording keeps PostgreSQL over HTTP", only="socket")
async def test_the_war_room_conversation_is_recorded_with_edits_and_deletions(each_mode: Harness) -> None:
    h = each_mode
    incident, channel, request_id = await open_room(h)
    ben = user(h, "ben")
    said = {"type": "message", "channel": channel, "user": ben, "text": "db primary is at 100% cpu",
            "ts": "1700000100.000100"}
    assert (await h.slack.event(said, event_id="Ev1")).status_code == 200
    assert (await h.slack.event(said, event_id="Ev1", retry=1)).status_code == 200  # Slack's retry
    await h.slack.event({"type": "message", "channel": channel, "user": ben, "text": "ignore me", "ts": "1700000101.1"})
    await h.slack.event({"type": "message", "channel": channel, "bot_id": "B0OTHER", "subtype": "bot_message",
                         "text": "a bot's line", "ts": "1700000102.1"})
    await h.slack.event({"type": "message", "channel": "C0GENERAL", "user": ben, "text": "elsewhere", "ts": "1.2"})
    await h.slack.event({"type": "message", "subtype": "message_changed", "channel": channel,
                         "message": {"user": ben, "text": "db primary is at 100% cpu &amp; swapping",
                                     "ts": "1700000100.000100"}})
    await h.slack.event({"type": "message", "subtype": "message_deleted", "channel": channel,
                         "deleted_ts": "1700000101.1"})
    async with h.runtime.store.read() as tx:
        talk = [e for e in await tx.timeline.for_incident(incident) if e.kind == "discussion"]
    assert [(e.text, e.actor) for e in talk] == [("db primary is at 100% cpu & swapping", f"slack:{ben}")]
    assert talk[0].data.get("edited_at")
    await settle(h)
    assert "db primary" not in " ".join(xurrent_notes(h, request_id))  # discussion is not a note


@pytest.mark.one_db(
    "Socket Mode is a transport: applied-once keeps PostgreSQL over HTTP, and redelivered envelopes on PostgreSQL in test_slack_socket_mode",
    only="socket",
)
async def test_a_retried_command_applies_once(each_mode: Harness) -> None:
    h = each_mode
    incident, channel, request_id = await open_room(h)
    first = await h.slack.command("note one note only", channel=channel, trigger="42.1.abc")
    again = await h.slack.command("note one note only", channel=channel, trigger="42.1.abc")
    assert "Note added" in first.text and again.status_code == 200 and "Note added" not in again.text
    await settle(h)
    assert xurrent_notes(h, request_id).count("one note only") == 1
    async with h.runtime.store.read() as tx:
        notes = [e.text for e in await tx.timeline.for_incident(incident) if e.kind == "note"]
        link = await tx.links.get(incident, LinkKind.SLACK_CHANNEL)
    assert notes.count("one note only") == 1 and link is not None


@pytest.mark.one_db("text conversion between Slack and Xurrent: no concurrency, no dialect-specific SQL")
async def test_notes_keep_mentions_links_and_markdown_both_ways_without_growing(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    ben = user(h, "ben")
    # what the responder typed, and what Slack sends for it (&, <, > escaped outside its own markup)
    typed = f"Ping <@{ben}> see <https://grafana.example/d/1|the dashboard> *now* & `kubectl get pods` > 5 @here"
    sent = typed.replace(" & ", " &amp; ").replace(" > 5", " &gt; 5")
    await h.slack.command(f"note {sent}", channel=channel)
    await settle(h)
    assert xurrent_notes(h, request_id).count(typed) == 1
    desk = "**Desk:** see [the runbook](https://runbooks.example/x) <script>alert(1)</script> & @channel <!here>"
    h.world.xurrent.add_note(request_id, desk, person_id=h.world.xurrent_people["dana@example.com"])
    await settle(h)
    async with h.runtime.store.read() as tx:
        notes = [e.text for e in await tx.timeline.for_incident(incident) if e.kind == "note"]
    assert notes.count(typed) == 1 and notes.count(desk) == 1  # unchanged, and neither echoed back as a new note
    assert xurrent_notes(h, request_id).count(typed) == 1 and xurrent_notes(h, request_id).count(desk) == 1
    line = next(m["text"] for m in h.world.slack.messages(channel) if "Note from" in m["text"])
    assert "&lt;script&gt;" in line and "&lt;!here&gt;" in line and "<!here>" not in line  # shown, not pinging


async def test_declare_takes_the_service_from_the_room_or_the_channel_and_asks_when_in_doubt(
    tweaked: Callable[..., Any],
) -> None:
    def ops_channel(data: dict[str, Any]) -> None:
        next(s for s in data["services"] if s["name"] == "payments")["declare_channels"] = ["#payments-ops"]

    h = await tweaked(ops_channel)
    ana = user(h, "ana")
    # a title that begins with a service's name is not taken for the service: the form asks
    doubt = await h.slack.command("declare Payments are failing", user=ana, channel="C0GENERAL")
    assert doubt.status_code == 200
    (view,) = [v["view"] for v in h.world.slack.views.values()]
    assert view["blocks"][0]["element"]["initial_option"]["value"] == "payments"
    assert view["blocks"][2]["element"]["initial_value"] == "Payments are failing"
    # in a channel configured for a service, that service; the answer says why no request is made (P3 < P2)
    ops = h.world.slack.add_channel("payments-ops", creator=ana, members=[ana])
    declared = (await h.slack.command("declare Card payments failing", user=ana, channel=ops,
                                      channel_name="payments-ops")).json()["text"]
    assert "declared (P3)" in declared and "No Xurrent request is made: P3 is below payments's ITSM threshold P2" in declared
    first = int(declared.split()[0].removeprefix("INC-"))
    assert await h.wait_complete(first) == []
    assert war_room(h, first).requests == []
    # in a war room, the war room's service; raising the priority to the threshold makes the request then
    room = war_room(h, first).channel["id"]
    await h.slack.command("priority P2", user=ana, channel=room)
    await settle(h)
    (request,) = war_room(h, first).requests
    assert request["subject"] == "Card payments failing"
    second = (await h.slack.command("declare P1 Refunds stuck", user=ana, channel=room)).json()["text"]
    assert "No Xurrent request" not in second
    async with h.runtime.store.read() as tx:
        incidents = {i.title: i.service for i in await tx.incidents.list()}
    assert incidents == {"Card payments failing": "payments", "Refunds stuck": "payments"}
