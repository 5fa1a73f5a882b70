"""Responders act from Teams: real activities, signed by the emulated Bot Framework, through the Agents SDK's
request handling at /api/messages; the incident and its Xurrent request change exactly as from Slack, and the
bot's replies land in the Bot Connector emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey

from warroom.sandbox.harness import Harness
from warroom.sandbox.world import Latencies, World

from .helpers import critical_alert
from .teams_bot_helpers import TeamsSide, card_of, incident, open_war_room, request_of, settle, timeline

Pair = tuple[Harness, TeamsSide]


async def start(db_url: str, *, auth: bool = True) -> Pair:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False  # tests type faster than people; throttling has its own test
    h = await Harness.start(db_url, world=world, tweak=teams.tweak(auth=auth))
    teams.client.bot_url = f"{h.base_url}/api/messages"
    return h, teams


async def stop(pair: Pair) -> None:
    h, teams = pair
    await teams.stop()
    await h.stop()


@pytest.fixture
async def pair(db_url: str) -> AsyncIterator[Pair]:
    started = await start(db_url)
    yield started
    await stop(started)


@pytest.fixture
async def spair(sqlite_url: str) -> AsyncIterator[Pair]:
    started = await start(sqlite_url)
    yield started
    await stop(started)


async def test_commands_in_the_war_room_reach_both_records(pair: Pair) -> None:
    h, teams = pair
    incident_id, room = await open_war_room(h)
    ben = teams.person("ben@example.com")
    chen = teams.person("chen@example.com")
    c = teams.client

    ack = await c.say(room, ben, "ack")
    assert ack.status in (200, 202)
    assert teams.replies_to(room, ack) == [f"INC-{incident_id} acknowledged by Ben Backend."]
    await c.say(room, ben, "priority p2")
    await c.say(room, ben, "title Checkout <b>down</b> & payments")
    await c.say(room, ben, "assign ", c.mention(chen))
    assert teams.last_reply(room) == f"INC-{incident_id} assigned to chen@example.com by Ben Backend."
    await c.say(room, ben, "note See the dashboard & the <logs> *now*")
    await settle(h)
    request = request_of(h, incident_id)
    assert request["status"] == "accepted" and request["impact"] == "high"
    assert request["subject"] == "Checkout <b>down</b> & payments"
    assert request["member"]["name"] == "Chen DBA"
    assert h.world.xurrent.notes(request["id"])[-1]["text"] == "See the dashboard & the <logs> *now*"
    current = await incident(h, incident_id)
    assert current.priority == "P2" and current.assignee == "chen@example.com"

    await c.say(room, ben, "assign me")
    assert (await incident(h, incident_id)).assignee == "ben@example.com"
    status = await c.say(room, ben, "status")
    assert "acknowledged, P2, assigned to ben@example.com" in teams.replies_to(room, status)[0]
    await c.say(room, ben, "resolve rolled back the deploy")
    await settle(h)
    request = request_of(h, incident_id)
    assert request["status"] == "completed" and request["completion_reason"] == "solved"
    assert "rolled back the deploy" in [n["text"] for n in h.world.xurrent.notes(request["id"])]
    reopen = await c.say(room, ben, "reopen")
    assert teams.replies_to(room, reopen) == [f"INC-{incident_id} reopened by Ben Backend."]
    # the actor recorded on the timeline is the Teams user (their Bot Framework id, as mentions name them)
    acked = await timeline(h, incident_id, "status_changed")
    assert acked[0].actor == f"teams:{ben.id}"


async def test_activities_without_a_valid_token_are_refused_and_change_nothing(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    ana = teams.person("ana@example.com")
    c = teams.client
    stranger = RSAKey.generate_key(2048, parameters={"kid": c.token_kid()})
    await settle(h)
    posted = len(teams.bot_messages(room))
    attempts = {
        "none": await c.say(room, ana, "ack", auth=False),
        "garbage": await c.say(room, ana, "ack", auth="Bearer garbage"),
        "wrong audience": await c.say(room, ana, "ack", auth=f"Bearer {c.token(audience='another-bot')}"),
        "forged": await c.say(room, ana, "ack", auth=f"Bearer {c.token(key=stranger)}"),
        "expired": await c.say(room, ana, "ack", auth=f"Bearer {c.token(lifetime=-600)}"),
        "other service": await c.say(
            room, ana, "ack", auth=f"Bearer {c.token(service_url='https://evil.example/')}"
        ),
    }
    for what, sent in attempts.items():
        assert sent.status == 401, what
        assert isinstance(sent.body, dict) and sent.body["error"], what
    assert (await incident(h, incident_id)).status.value == "triggered"
    assert len(teams.bot_messages(room)) == posted
    # authentication comes first; a signed activity of the wrong shape is a 400, never a crash
    assert (await c.deliver({"type": "message"})).status == 401
    shapeless = {"type": "message", "channelId": "msteams", "serviceUrl": c.service_url, "text": "ack"}
    assert (await c.deliver(shapeless)).status == 400


def button(card: dict[str, Any], verb: str) -> dict[str, Any]:
    found = [
        a["data"] for a in card["actions"] if a["type"] == "Action.Submit" and a["data"]["warroom"] == verb
    ]
    assert found, f"the card has no {verb} button: {[a.get('id') for a in card['actions']]}"
    return dict(found[0])


def verbs(card: dict[str, Any]) -> set[str]:
    return {a["data"]["warroom"] for a in card["actions"] if a["type"] == "Action.Submit"}


async def test_the_cards_buttons_run_the_same_actions_and_malformed_ones_explain(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    ana = teams.person("ana@example.com")
    c = teams.client
    card_id, card = await card_of(h, incident_id)
    assert verbs(card) == {"ack", "resolve", "take_ic"}

    pressed = await c.submit(room, ana, button(card, "ack"), card_id=card_id)
    assert pressed.status in (200, 202)
    assert (await incident(h, incident_id)).status.value == "acknowledged"
    assert teams.replies_to(room, pressed)[-1] == f"INC-{incident_id} acknowledged by Ana Ops."
    await settle(h)
    assert (await card_of(h, incident_id))[0] == card_id  # the card is edited in place
    assert verbs((await card_of(h, incident_id))[1]) == {"resolve", "take_ic"}

    ic = await c.submit(room, ana, button(card, "take_ic"), card_id=card_id)
    assert "Incident Commander" in teams.replies_to(room, ic)[-1]

    # Action.Execute (Universal Actions) runs the same actions, answered in the invoke's response
    executed = await c.execute(room, ana, "resolve", button(card, "resolve"), card_id=card_id)
    assert executed.status == 200
    assert (
        executed.body["statusCode"] == 200
        and executed.body["value"] == f"INC-{incident_id} resolved by Ana Ops."
    )
    await settle(h)
    assert request_of(h, incident_id)["status"] == "completed"
    assert verbs((await card_of(h, incident_id))[1]) == {"reopen"}
    stale = await c.execute(
        room, ana, "resolve", button(card, "resolve"), card_id=card_id
    )  # from an old card
    assert "resolved" in stale.body["value"] and "Ana Ops" not in stale.body["value"]

    _, resolved_card = await card_of(h, incident_id)
    reopened = await c.submit(room, ana, button(resolved_card, "reopen"), card_id=card_id)
    assert reopened.status in (200, 202) and (await incident(h, incident_id)).status.value == "triggered"

    applied = ("status_changed", "note", "priority_changed", "title_changed", "assignee_changed")
    before = await timeline(h, incident_id, *applied)
    for data in (
        {"warroom": "explode", "incident": incident_id},
        {"warroom": "ack"},
        {"warroom": "ack", "incident": "x"},
        ["ack"],
        {"warroom": "ack", "incident": 999999},
        {"warroom": "ack", "incident": True},
    ):
        sent = await c.submit(room, ana, data, card_id=card_id)
        reply = teams.replies_to(room, sent)[-1]
        assert reply.startswith(("That button", "There is no incident INC-999999")), reply
    odd = await c.execute(room, ana, "explode", {"incident": incident_id}, card_id=card_id)
    assert odd.body["value"].startswith("That button did not say what to do")
    assert await timeline(h, incident_id, *applied) == before
    assert (await incident(h, incident_id)).status.value == "triggered"


async def test_declare_from_a_command_and_from_the_dialog(spair: Pair) -> None:
    h, teams = spair
    dana = teams.person("dana@example.com")
    chat = teams.personal(dana)
    c = teams.client

    said = await c.say(chat, dana, "declare checkout-api P1 Checkout &amp; payments are down", to_bot=False)
    reply = teams.replies_to(chat, said)[0]
    assert reply.endswith("declared (P1). The war room is being opened.")
    async with h.runtime.store.read() as tx:
        (first,) = await tx.incidents.list()
    assert first.title == "Checkout &amp; payments are down" and first.origin.value == "chat"
    assert first.service == "checkout-api"

    # declare with nothing after it: a card whose button opens the form
    await c.say(chat, dana, "declare payments", to_bot=False)
    offer = teams.bot_messages(chat)[-1].activity
    (button,) = offer["attachments"][0]["content"]["actions"]
    assert button["data"]["msteams"] == {"type": "task/fetch"} and button["data"]["service"] == "payments"
    fetched = await c.fetch_task(chat, dana, button["data"], card_id=teams.bot_messages(chat)[-1].id)
    assert fetched.status == 200
    task = fetched.body["task"]
    assert task["type"] == "continue"
    form = task["value"]["card"]["content"]
    inputs = {i["id"]: i for i in form["body"] if i["type"].startswith("Input.")}
    assert [ch["value"] for ch in inputs["service"]["choices"]] == ["checkout-api", "payments"]
    assert inputs["service"]["value"] == "payments" and inputs["priority"]["value"] == "P3"
    submit = form["actions"][0]["data"]

    missing = await c.submit_task(
        chat, dana, {**submit, "service": "payments", "priority": "P2", "title": " "}
    )
    again = missing.body["task"]
    assert again["type"] == "continue" and "Write a title" in str(again["value"]["card"]["content"])
    async with h.runtime.store.read() as tx:
        assert await tx.incidents.count() == 1

    done = await c.submit_task(
        chat,
        dana,
        {
            **submit,
            "service": "payments",
            "priority": "P2",
            "title": "Card payments fail",
            "details": "Since 06:00, all PSPs",
        },
    )
    assert done.body["task"]["type"] == "message"
    assert done.body["task"]["value"].endswith("declared (P2). The war room is being opened.")
    async with h.runtime.store.read() as tx:
        declared = [i for i in await tx.incidents.list() if i.title == "Card payments fail"]
    assert (
        len(declared) == 1
        and declared[0].service == "payments"
        and declared[0].details == "Since 06:00, all PSPs"
    )
    assert await h.wait_complete(declared[0].id) == []


async def test_duplicate_deliveries_apply_once(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    eli = teams.person("eli@example.com")
    c = teams.client
    note = await c.say(room, eli, "note checking the load balancer")
    await c.deliver(note.activity)
    pressed = await c.submit(room, eli, {"warroom": "ack", "incident": incident_id})
    repeat = await c.deliver(pressed.activity)
    assert repeat.status in (200, 202)
    said = await c.say(room, eli, "the LB is fine", to_bot=False)
    await c.deliver(said.activity)
    chat = teams.personal(eli)
    form = {"warroom": "declare", "service": "payments", "priority": "P1", "title": "Payments down"}
    first = await c.submit_task(chat, eli, form)
    second = await c.deliver(first.activity)
    assert "declared already" in second.body["task"]["value"]

    assert [e.text for e in await timeline(h, incident_id, "note")][-1:] == ["checking the load balancer"]
    assert (
        len([e for e in await timeline(h, incident_id, "note") if e.text == "checking the load balancer"])
        == 1
    )
    assert len(await timeline(h, incident_id, "status_changed")) == 1
    assert len(await timeline(h, incident_id, "discussion")) == 1
    assert len(teams.replies_to(room, note)) == 1
    async with h.runtime.store.read() as tx:
        assert len([i for i in await tx.incidents.list() if i.title == "Payments down"]) == 1


async def test_war_room_conversation_is_captured_with_edits_and_deletions(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    ana, ben = teams.person("ana@example.com"), teams.person("ben@example.com")
    c = teams.client
    await settle(h)
    posted = len(teams.bot_messages(room))
    first = await c.say(
        room,
        ana,
        "error rate & latency up since the 06:00 deploy; ",
        c.mention(ben),
        " can you look?",
        to_bot=False,
    )
    assert first.status in (200, 202)
    answer = await c.say(room, ben, "on it", to_bot=False, reply_to=first.id)
    assert [(e.text, e.data["message_id"]) for e in await timeline(h, incident_id, "discussion")] == [
        ("error rate & latency up since the 06:00 deploy; @Ben Backend can you look?", first.id),
        ("on it", answer.id),
    ]
    await c.edit(room, ben, answer.id, "on it, rolling back")
    await c.deliver(teams.client.sent[-1].activity)  # an edit delivered twice is one edit
    await c.delete(room, ana, first.id)
    elsewhere = teams.channel("random")
    await c.say(elsewhere, ana, "lunch?", to_bot=False)

    events = await timeline(h, incident_id, "discussion")
    # the edit replaced the text; the deleted message left the timeline (what the AI and the postmortem read)
    assert [(e.text, e.data["message_id"]) for e in events] == [("on it, rolling back", answer.id)]
    assert events[0].actor == f"teams:{ben.id}" and events[0].data["author"] == "Ben Backend"
    assert "edited_at" in events[0].data
    assert len(teams.bot_messages(room)) == posted  # capture is silent


async def test_mistakes_get_helpful_sentences(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    eli = teams.person("eli@example.com")
    c = teams.client
    general = teams.channel("general-ops")
    outside = await c.say(general, eli, "ack")
    assert "works in an incident's war room" in teams.replies_to(general, outside)[0]
    typo = await c.say(room, eli, "acknowlege")
    assert (
        "did you mean `ack`" in teams.replies_to(room, typo)[0]
        and "@warroom" in teams.replies_to(room, typo)[0]
    )
    prio = await c.say(room, eli, "priority P9")
    assert "Unknown priority 'P9'" in teams.replies_to(room, prio)[0]
    reopen = await c.say(room, eli, "reopen")
    assert "only a resolved incident can be reopened" in teams.replies_to(room, reopen)[0]
    helped = await c.say(room, eli, "help")
    assert "`@warroom help <command>`" in teams.replies_to(room, helped)[0]
    assign = await c.say(room, eli, "assign ", c.mention(teams.person("ben@example.com")), " and me")
    assert "Assign one person" in teams.replies_to(room, assign)[0]
    assert (await incident(h, incident_id)).status.value == "triggered"


async def test_roles_stakeholders_paging_and_merging_from_teams(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    ana, chen, eli = (teams.person(e) for e in ("ana@example.com", "chen@example.com", "eli@example.com"))
    c = teams.client

    role = await c.say(room, ana, "role commander ", c.mention(chen))
    assert (
        "Chen DBA" in teams.replies_to(room, role)[0]
        and "Incident Commander" in teams.replies_to(room, role)[0]
    )
    roles = await c.say(room, ana, "roles")
    assert "Chen DBA" in teams.replies_to(room, roles)[0]
    stakeholder = await c.say(room, ana, "stakeholder add ", c.mention(eli))
    assert "Eli Network will be kept informed" in teams.replies_to(room, stakeholder)[0]
    paged = await c.say(room, ana, "page ", c.mention(eli))
    assert f"into INC-{incident_id}" in teams.replies_to(room, paged)[0]

    duplicate = (await h.post_alerts(critical_alert(name="PaymentsDown", service="payments"))).json()[
        "incidents"
    ][0]
    refused = await c.say(room, ana, f"merge INC-{duplicate}")  # the service's rules, shown as they are
    assert "Only the Incident Commander (Chen DBA) may merge" in teams.replies_to(room, refused)[0]
    # the commander named by a mention is the same person when they act (one id for a person in Teams)
    merged = await c.say(room, chen, f"merge INC-{duplicate}")
    assert f"INC-{duplicate} merged into INC-{incident_id} by Chen DBA" in teams.replies_to(room, merged)[0]


async def test_escalate_from_teams(spair: Pair) -> None:
    h, teams = spair
    low = h.world.xurrent.create_request(
        {
            "subject": "Some users see slow checkout",
            "category": "incident",
            "impact": "low",
            "service_instance_id": h.world.service_instances["checkout-api"],
        }
    )
    await settle(h)
    dana = teams.person("dana@example.com")
    chat = teams.personal(dana)
    said = await teams.client.say(chat, dana, f"escalate #{low['id']}", to_bot=False)
    assert f"declared from Xurrent request #{low['id']}" in teams.replies_to(chat, said)[0]


async def test_replies_wait_out_the_bot_connectors_throttling(spair: Pair) -> None:
    h, teams = spair
    incident_id, room = await open_war_room(h)
    ana = teams.person("ana@example.com")
    teams.connector.inject(
        "POST /v3/conversations/{id}/activities/{activityId}", "ratelimit", retry_after=0.1
    )
    sent = await teams.client.say(room, ana, "ack")
    assert teams.replies_to(room, sent) == [f"INC-{incident_id} acknowledged by Ana Ops."]
    replies = teams.connector.calls_to("POST /v3/conversations/{id}/activities/{activityId}")
    assert [c.status for c in replies] == [429, 201]


async def test_auth_off_is_an_explicit_sandbox_setting(sqlite_url: str) -> None:
    h, teams = started = await start(sqlite_url, auth=False)
    try:
        incident_id, room = await open_war_room(h)
        ana = teams.person("ana@example.com")
        sent = await teams.client.say(room, ana, "ack", auth=False)
        assert sent.status in (200, 202)
        assert (await incident(h, incident_id)).status.value == "acknowledged"
    finally:
        await stop(started)


async def test_the_teams_demo_completes(capsys: pytest.CaptureFixture[str]) -> None:
    from warroom.sandbox.demo.teams import run_teams_demo

    assert await run_teams_demo(latencies=Latencies()) == 0
    out = capsys.readouterr().out
    assert "demo complete" in out and "HTTP 401, nothing applied" in out
