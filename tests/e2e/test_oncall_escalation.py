"""Escalation policies end to end over HTTP against the emulators: an alert pages the on-call of the service's
schedule at that instant, escalates to the next step when nobody acknowledges, and stops when someone does."""

from __future__ import annotations

from warroom.chat.slack.blocks import PAGE_ACK
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import World

from .helpers import critical_alert, settle, war_room
from .oncall_helpers import escalation, make_due, oncall, sent
from .sync_helpers import person, sync_all


def _page_buttons(h: Harness, user: str) -> list[str]:
    values = []
    for message in h.world.slack.dms(user):
        for block in message.get("blocks") or []:
            for element in block.get("elements") or []:
                if element.get("action_id") == PAGE_ACK:
                    values.append(str(element["value"]))
    return values


async def test_an_alert_pages_the_on_call_then_the_next_step_and_a_dm_button_stops_it(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall(people=[{"email": "ana@example.com", "rules": {
        "high": [{"method": "chat"}]}}, {"email": "ben@example.com", "rules": {"high": [{"method": "chat"}]}}]))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert _page_buttons(h, "U0ANA"), "the on-call of the schedule is paged by DM with an Acknowledge button"
        assert _page_buttons(h, "U0BEN") == []
        esc = await escalation(h, incident)
        assert (esc["state"], esc["step"], esc["policy"]) == ("active", 1, "checkout")
        assert await sent(h, incident) == [("ana@example.com", "chat", "sent")]

        assert await make_due(h) == 1  # five minutes pass without an acknowledgement
        await settle(h)
        ben = _page_buttons(h, "U0BEN")
        assert len(ben) == 1
        assert await sent(h, incident) == [("ana@example.com", "chat", "sent"), ("ben@example.com", "chat", "sent")]

        dm = h.world.slack.dms("U0BEN")[-1]
        response = await h.slack.click(PAGE_ACK, ben[0], user="U0BEN", channel="D0BEN", message_ts=dm["ts"])
        assert response.status_code == 200
        await settle(h)
        async with h.runtime.store.read() as tx:
            record = await tx.incidents.get(incident)
        assert record is not None and record.status.value == "acknowledged"
        assert record.assignee == "ben@example.com"
        assert record.acknowledged_at is not None
        assert (await escalation(h, incident))["state"] == "acknowledged"
        assert war_room(h, incident).requests[0]["status"] == "accepted"
        # nothing more is sent: the next step's job finds the escalation over
        await make_due(h)
        await settle(h)
        assert len(await sent(h, incident)) == 2
        assert len(_page_buttons(h, "U0ANA")) == 1
        # the clicked page shows the answer in place of its button
        assert _page_buttons(h, "U0BEN") == []
        assert "acknowledged" in h.world.slack.dms("U0BEN")[-1]["text"]
        texts = " ".join(m.get("text", "") for m in war_room(h, incident).messages)
        assert "Paging" in texts
    finally:
        await h.stop()


async def test_a_policy_repeats_then_says_nobody_acknowledged_in_the_room_and_the_incidents_channel(
        sqlite_url: str) -> None:
    def announce(data: dict) -> None:  # type: ignore[type-arg]
        data["slack"]["announce_channel"] = "#major-incidents"

    world = await World.start()
    ana = next(u["id"] for u in world.slack.users.values() if u["profile"]["email"] == "ana@example.com")
    announce_id = world.slack.add_channel("major-incidents", creator=ana, members=[ana, world.slack.bot_user_id])
    h = await Harness.start(sqlite_url, world=world, tweak=oncall(repeat=1, steps=[
        {"notify": {"users": ["ana@example.com"]}, "wait_minutes": 1},
        {"notify": {"users": ["ben@example.com"]}, "wait_minutes": 1}], extra=announce))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        for _ in range(4):  # ben, then ana and ben again (the repeat), then the end
            assert await make_due(h) == 1
            await settle(h)
        esc = await escalation(h, incident)
        assert esc["state"] == "exhausted"
        assert [(e, r) for e, _, r in await sent(h, incident)] == [
            ("ana@example.com", "sent"), ("ben@example.com", "sent"), ("ana@example.com", "sent"),
            ("ben@example.com", "sent")]
        lines = [m.get("text", "") for m in war_room(h, incident).messages]
        assert any("Nobody acknowledged" in line and "ran 2 times" in line for line in lines)
        assert any("Nobody acknowledged" in m.get("text", "") for m in h.world.slack.messages(announce_id))
        assert await make_due(h) == 0  # nothing is left to run
    finally:
        await h.stop()


async def test_resolving_stops_paging_and_reopening_pages_from_the_first_step_again(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall())
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert (await h.slack_command("resolve", channel=war_room(h, incident).channel["id"])).status_code == 200
        await settle(h)
        assert (await escalation(h, incident))["state"] == "resolved"
        before = await sent(h, incident)
        await make_due(h)
        await settle(h)
        assert await sent(h, incident) == before  # the next step does not run
        assert (await h.slack_command("reopen", channel=war_room(h, incident).channel["id"])).status_code == 200
        await settle(h)
        esc = await escalation(h, incident)
        assert (esc["state"], esc["step"], esc["round"], esc["first_round"]) == ("active", 1, 1, 1)
        assert len(_page_buttons(h, "U0ANA")) == 2  # ana, the on-call, is paged again
    finally:
        await h.stop()


async def test_a_restart_mid_escalation_neither_loses_nor_repeats_a_step(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall())
    world = h.world
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert len(_page_buttons(h, "U0ANA")) == 1
        await h.stop(world=False)  # the process goes away with step 2 waiting
        h = await Harness.start(db_url, tweak=oncall(), world=world)
        await settle(h)
        assert len(_page_buttons(h, "U0ANA")) == 1 and _page_buttons(h, "U0BEN") == []
        assert await make_due(h) == 1
        await settle(h)
        assert len(_page_buttons(h, "U0BEN")) == 1
        assert len(_page_buttons(h, "U0ANA")) == 1
        assert (await escalation(h, incident))["step"] == 2
    finally:
        await h.stop()


async def test_round_robin_steps_take_turns_across_incidents(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=oncall(steps=[
        {"notify": {"users": ["ana@example.com", "ben@example.com"]}, "round_robin": True, "wait_minutes": 5}]))
    try:
        first = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert (await h.slack_command("resolve", channel=war_room(h, first).channel["id"])).status_code == 200
        second = (await h.post_alerts(critical_alert(name="CheckoutLatency"))).json()["incidents"][0]
        await settle(h)
        assert [e for e, _, _ in await sent(h, first)] == ["ana@example.com"]
        assert [e for e, _, _ in await sent(h, second)] == ["ben@example.com"]
    finally:
        await h.stop()


async def test_acknowledging_in_the_war_room_stops_paging(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall())
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        assert (await h.slack_command("ack", channel=war_room(h, incident).channel["id"])).status_code == 200
        await settle(h)
        assert (await escalation(h, incident))["state"] == "acknowledged"
        await make_due(h)
        await settle(h)
        assert _page_buttons(h, "U0BEN") == []
    finally:
        await h.stop()


async def test_page_in_chat_targets_a_schedule_or_a_policy(sqlite_url: str) -> None:
    def no_policy(data: dict) -> None:  # type: ignore[type-arg]
        data["services"][0]["escalation_policy"] = None

    h = await Harness.start(sqlite_url, tweak=oncall(extra=no_policy))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await settle(h)
        room = war_room(h, incident).channel["id"]
        assert await sent(h, incident) == []  # the service names no policy: nothing pages by itself
        answer = await h.slack_command("page checkout-primary", user="U0BEN", channel=room)
        assert "on call in checkout-primary" in answer.text
        await settle(h)
        async with h.runtime.store.read() as tx:
            assert [p["email"] for p in await tx.pages.all(incident)] == ["ana@example.com"]
        answer = await h.slack_command("page checkout", user="U0BEN", channel=room)
        assert "Paging escalation policy checkout" in answer.text
        await settle(h)
        assert (await escalation(h, incident))["policy"] == "checkout"
        assert [e for e, _, _ in await sent(h, incident)] == ["ana@example.com"]
        again = await h.slack_command("page checkout", user="U0BEN", channel=room)
        assert "already" in again.text
    finally:
        await h.stop()


async def test_an_incident_escalated_from_the_service_desk_pages_too_and_the_acknowledger_becomes_the_member(
        db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall(steps=[{"notify": {"users": ["ben@example.com"]}, "wait_minutes": 5}]))
    try:
        desk = h.world.xurrent.create_request(
            {"subject": "Checkout fails for everyone", "category": "incident", "impact": "top",
             "service_instance_id": h.world.service_instances["checkout-api"]},
            person_id=person(h, "dana@example.com"))
        await sync_all(h)
        async with h.runtime.store.read() as tx:
            (escalated,) = [i for i in await tx.incidents.list() if i.origin.value == "itsm"]
        # a request that is not urgent is a low-urgency incident: the default rules page by chat and email
        assert sorted((e, m) for e, m, _ in await sent(h, escalated.id)) == [("ben@example.com", "chat"),
                                                                             ("ben@example.com", "email")]
        [value] = _page_buttons(h, "U0BEN")
        dm = h.world.slack.dms("U0BEN")[-1]
        assert (await h.slack.click(PAGE_ACK, value, user="U0BEN", channel="D0BEN", message_ts=dm["ts"])).status_code == 200
        await sync_all(h)
        record = h.world.xurrent.requests[int(desk["id"])]
        assert record["status"] == "accepted"
        assert (record.get("member") or {}).get("id") == person(h, "ben@example.com")
        async with h.runtime.store.read() as tx:
            incident = await tx.incidents.get(escalated.id)
        assert incident is not None and incident.assignee == "ben@example.com"
        assert incident.acknowledged_at is not None and incident.acknowledged_at >= incident.created_at
    finally:
        await h.stop()
