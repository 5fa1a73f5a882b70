"""On-call pages by Teams chat, end to end over HTTP against the Graph and Bot Connector emulators, with the
emulated Teams client signing its activities as the Bot Framework does: a service whose war room is in Teams pages
its on-call in a 1:1 chat with the bot (the app installed for the person first, as Teams requires), the card's
Acknowledge acknowledges the incident and stops the escalation, a person without Teams gets their next method,
Teams groups in a step page their users, outside text is inert on the card, and with Slack on as well the chat
method reaches the person in both."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from warroom.adapters.microsoft.graph import people
from warroom.chat.slack.blocks import PAGE_ACK as SLACK_PAGE_ACK
from warroom.chat.teams.cards import JOINER, card_facts
from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness
from warroom.sandbox.teams.client import Conversation
from warroom.sandbox.teams.tenant import Message
from warroom.sandbox.world import World

from .helpers import critical_alert, settle
from .oncall_helpers import escalation, make_due, oncall, sent
from .teams_bot_helpers import TeamsSide, incident, request_of, timeline

Pair = tuple[Harness, TeamsSide]
Tweak = Callable[[dict[str, Any]], None]


def chat_first(email: str, *then: dict[str, Any]) -> dict[str, Any]:
    return {"email": email, "rules": {"high": [{"method": "chat"}, *then]}}


async def start(db_url: str, tweak: Callable[[TeamsSide], Tweak]) -> Pair:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    h = await Harness.start(db_url, world=world, tweak=tweak(teams))
    teams.client.bot_url = f"{h.base_url}/api/messages"
    return h, teams


async def stop(pair: Pair) -> None:
    h, teams = pair
    await teams.stop()
    await h.stop()


def in_teams(**kw: Any) -> Callable[[TeamsSide], Tweak]:
    """The on-call tweak, in an organisation that lives in Teams (Slack off, war rooms in Teams)."""
    return lambda teams: oncall(**kw, extra=teams.tweak())


def page_cards(teams: TeamsSide, email: str) -> list[tuple[Message, dict[str, Any]]]:
    """The page cards in the person's 1:1 chat with the bot (their current versions)."""
    conversation = teams.connector.personal_of(teams.world.user_ids[email])
    return teams.connector.cards(conversation) if conversation else []


def ack_data(card: dict[str, Any]) -> dict[str, Any] | None:
    for action in card.get("actions") or []:
        if action["type"] == "Action.Submit" and action["data"].get("warroom") == "page_ack":
            return dict(action["data"])
    return None


async def press(teams: TeamsSide, email: str, message: Message, data: dict[str, Any]) -> int:
    who = teams.person(email)
    return (await teams.client.submit(Conversation.personal(who), who, data, card_id=message.id)).status


async def test_a_teams_service_pages_its_on_call_by_teams_chat_and_the_cards_button_acknowledges(
    db_url: str,
) -> None:
    pair = await start(db_url, in_teams(people=[chat_first("ana@example.com"), chat_first("ben@example.com")]))
    h, teams = pair
    try:
        ana_id = teams.world.user_ids["ana@example.com"]
        assert not teams.tenant.bot_installed_for(ana_id)
        number = int((await h.post_alerts(critical_alert())).json()["incidents"][0])
        await settle(h)
        async with h.runtime.store.read() as tx:
            room = await tx.links.get(number, LinkKind.TEAMS_CHANNEL)
        assert room is not None and room.url  # the war room is a Teams channel
        [(_, card)] = page_cards(teams, "ana@example.com")
        assert teams.tenant.bot_installed_for(ana_id), "warroom installs the app for the person, then chats"
        opened = [c.status for c in teams.connector.calls if c.op == "POST /v3/conversations"
                  and json.loads(c.body).get("members") == [{"id": ana_id}]]
        assert opened == [403, 201]  # not in the roster: installed, then opened
        installs = [c for c in teams.world.graph.calls if c.op == "POST /users/{user-id}/teamwork/installedApps"]
        assert [c.status for c in installs] == [201] and teams.tenant.catalog_app_id in str(installs[0].body)
        data = ack_data(card)
        assert data is not None and set(data) == {"warroom", "notification"}
        assert f"INC-{number}" in card_facts(card) and "checkout-api" in card_facts(card)
        assert page_cards(teams, "ben@example.com") == []
        assert await sent(h, number) == [("ana@example.com", "chat", "sent")]

        assert await make_due(h) == 1  # five minutes pass without an acknowledgement
        await settle(h)
        [(ben_message, ben_card)] = page_cards(teams, "ben@example.com")
        assert await sent(h, number) == [("ana@example.com", "chat", "sent"), ("ben@example.com", "chat", "sent")]
        ben_data = ack_data(ben_card)
        assert ben_data is not None
        assert [a["url"] for a in ben_card["actions"] if a["type"] == "Action.OpenUrl"] == [room.url]
        assert await press(teams, "ben@example.com", ben_message, ben_data) in (200, 202)
        await settle(h)
        record = await incident(h, number)
        assert record.status.value == "acknowledged" and record.assignee == "ben@example.com"
        assert record.acknowledged_at is not None
        assert (await escalation(h, number))["state"] == "acknowledged"
        assert request_of(h, number)["status"] == "accepted"
        [event] = await timeline(h, number, "page_acknowledged")
        assert event.data["via"] == "teams"
        # the card is edited in place: the button gone, the answer in its place
        [(after, after_card)] = page_cards(teams, "ben@example.com")
        assert after.id == ben_message.id and len(after.versions) == 2
        assert ack_data(after_card) is None and "acknowledged" in card_facts(after_card)
        # nothing more is sent: the next step finds the escalation over
        await make_due(h)
        await settle(h)
        assert len(await sent(h, number)) == 2
        # ana's page, pressed late, says so on her card
        [(ana_message, ana_card)] = page_cards(teams, "ana@example.com")
        ana_data = ack_data(ana_card)
        assert ana_data is not None
        assert await press(teams, "ana@example.com", ana_message, ana_data) in (200, 202)
        [(_, ana_after)] = page_cards(teams, "ana@example.com")
        assert "acknowledged already by ben@example.com" in card_facts(ana_after) and ack_data(ana_after) is None
        # as Action.Execute (Universal Actions) the invoke's answer is the card that replaces it
        ana = teams.person("ana@example.com")
        executed = await teams.client.execute(Conversation.personal(ana), ana, "page_ack", ana_data,
                                              card_id=ana_message.id)
        assert executed.status == 200 and executed.body["type"] == "application/vnd.microsoft.card.adaptive"
        assert "acknowledged already" in card_facts(executed.body["value"])
        assert (await incident(h, number)).assignee == "ben@example.com"
    finally:
        await stop(pair)


async def test_a_person_without_teams_gets_their_next_method_at_once(sqlite_url: str) -> None:
    fay = "fay@contractor.example"  # in nobody's Teams tenant
    pair = await start(sqlite_url, in_teams(
        steps=[{"notify": {"users": [fay]}, "wait_minutes": 5}],
        people=[chat_first(fay, {"method": "email", "after_minutes": 10})]))
    h, teams = pair
    try:
        number = int((await h.post_alerts(critical_alert())).json()["incidents"][0])
        await settle(h)
        assert await sent(h, number) == [(fay, "chat", "failed"), (fay, "email", "sent")]
        async with h.runtime.store.read() as tx:
            rows = await tx.notifications.of_incident(number)
        assert "nobody in Teams has the address" in str(rows[0]["detail"])
        assert teams.connector.personal == {}  # no chat was opened with anyone
        assert [m for m in h.world.smtp.messages if fay in m.rcpt_tos]  # not ten minutes later: now
    finally:
        await stop(pair)


async def test_a_teams_group_step_pages_the_users_of_the_group(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(people, "MEMBERS_PAGE", 1)  # one member a page: every page is read
    holder: dict[str, str] = {}

    def tweak(teams: TeamsSide) -> Tweak:
        ids = teams.world.user_ids
        group = teams.tenant.add_group(
            "DBA on call", [ids["chen@example.com"], ids["eli@example.com"]],
            others={"5c1e0a8e-0000-4000-8000-00000000beef": "#microsoft.graph.group"},  # a nested group
        )
        holder["group"] = group
        missing = "0d5c2a5e-0000-4000-8000-00000000dead"
        return oncall(steps=[{"notify": {"teams_groups": [group, missing]}, "wait_minutes": 5}],
                      extra=teams.tweak())

    pair = await start(sqlite_url, tweak)
    h, teams = pair
    try:
        number = int((await h.post_alerts(critical_alert())).json()["incidents"][0])
        await settle(h)
        assert sorted(await sent(h, number)) == [("chen@example.com", "chat", "sent"),
                                                 ("eli@example.com", "chat", "sent")]
        assert len(page_cards(teams, "chen@example.com")) == 1 and len(page_cards(teams, "eli@example.com")) == 1
        reads = [c for c in teams.world.graph.calls if c.op == "GET /groups/{group-id}/members"]
        assert len(reads) >= 4  # chen, eli, the nested group (left out) a page each, and the unknown group
        async with h.runtime.store.read() as tx:
            assert sorted(p["email"] for p in await tx.pages.all(number)) == ["chen@example.com",
                                                                              "eli@example.com"]
    finally:
        await stop(pair)


HOSTILE = "[the runbook](https://evil.example/x) <at>everyone</at> **now**"


async def test_a_hostile_title_is_inert_on_the_page_card(sqlite_url: str) -> None:
    pair = await start(sqlite_url, in_teams(people=[chat_first("ana@example.com")]))
    h, teams = pair
    try:
        alert = critical_alert()
        alert["alerts"][0]["labels"]["alertname"] = f"Checkout {HOSTILE}"
        alert["alerts"][0]["annotations"] = {"summary": HOSTILE, "description": HOSTILE}
        alert["commonLabels"] = {}
        number = int((await h.post_alerts(alert)).json()["incidents"][0])
        await settle(h)
        assert "evil.example" in (await incident(h, number)).title
        [(message, card)] = page_cards(teams, "ana@example.com")
        texts = [b["text"] for b in card["body"] if b.get("type") == "TextBlock"]
        texts += [card["fallbackText"], str(message.activity.get("summary"))]
        assert any("evil.example" in t for t in texts)  # the text got there, inert
        for text in texts:
            assert not re.search(r"\]\s*\(", text), text
            assert "<at>" not in text.lower(), text
        assert any(f"]{JOINER}(" in t for t in texts) and any(f"<{JOINER}at>" in t for t in texts)
    finally:
        await stop(pair)


def both_chats(**kw: Any) -> Callable[[TeamsSide], Tweak]:
    """Slack and Teams both on; the war rooms in Slack."""

    def apply(teams: TeamsSide) -> Tweak:
        def extra(data: dict[str, Any]) -> None:
            data["teams"].update(enabled=True, openid_metadata_url=teams.client.openid_metadata_url)

        return oncall(**kw, extra=extra)

    return apply


def slack_buttons(h: Harness, user: str) -> list[str]:
    return [str(e["value"]) for m in h.world.slack.dms(user) for b in m.get("blocks") or []
            for e in b.get("elements") or [] if e.get("action_id") == SLACK_PAGE_ACK]


async def test_with_both_chats_on_the_chat_method_reaches_the_person_in_each_chat_that_has_them(
    sqlite_url: str,
) -> None:
    nowhere = "zed@elsewhere.example"  # in neither chat
    fay = "fay@contractor.example"  # in Slack, not in Teams
    pair = await start(sqlite_url, both_chats(
        steps=[{"notify": {"users": ["ana@example.com", fay, nowhere]}, "wait_minutes": 5}],
        people=[chat_first("ana@example.com"), chat_first(fay),
                chat_first(nowhere, {"method": "email", "after_minutes": 10})]))
    h, teams = pair
    try:
        number = int((await h.post_alerts(critical_alert())).json()["incidents"][0])
        await settle(h)
        assert sorted(await sent(h, number)) == [
            ("ana@example.com", "chat", "sent"), (fay, "chat", "sent"),
            (nowhere, "chat", "failed"), (nowhere, "email", "sent")]
        assert len(slack_buttons(h, "U0ANA")) == 1 and len(page_cards(teams, "ana@example.com")) == 1
        assert len(slack_buttons(h, "U0FAY")) == 1
        async with h.runtime.store.read() as tx:
            rows = {(r["email"], r["method"]): r for r in await tx.notifications.of_incident(number)}
        assert str(rows[("ana@example.com", "chat")]["provider_id"]).startswith("slack:")
        assert " teams:" in str(rows[("ana@example.com", "chat")]["provider_id"])
        assert str(rows[(fay, "chat")]["provider_id"]).startswith("slack:")
        detail = str(rows[(nowhere, "chat")]["detail"])
        assert "nobody in Slack" in detail and "nobody in Teams" in detail
        # acknowledged from the Teams card, as from the Slack button
        [(message, card)] = page_cards(teams, "ana@example.com")
        data = ack_data(card)
        assert data is not None
        assert await press(teams, "ana@example.com", message, data) in (200, 202)
        record = await incident(h, number)
        assert record.status.value == "acknowledged" and record.assignee == "ana@example.com"
    finally:
        await stop(pair)
