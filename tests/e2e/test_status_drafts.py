"""Status page update drafts approved in the war room, and ``/incident statuspage <text>``, end to end: an alert on
a service that is on a page gets a draft (the deterministic engine, through the safety pass) whose card is posted in
the Slack war room; Publish (a signed interaction) puts it on ``/status/<page>``, the card is edited in place and a
second click publishes nothing more; Edit opens a modal whose submission publishes the edited text and state;
Discard publishes nothing; a superseded draft's buttons and a person the permissions leave out are refused. A
person's own text is published verbatim (the page escapes it) and the war room hears who published, never the text.
In Teams: the card in the Teams war room, Publish as a signed ``Action.Submit``, and ``@warroom statuspage``."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from warroom.chat.slack import statuspage_cards as slack_cards
from warroom.chat.slack.blocks import card_facts
from warroom.chat.teams import statuspage_cards as teams_cards
from warroom.chat.teams.cards import card_facts as teams_card_facts
from warroom.core.jobs import STATUSPAGE_DRAFT_CARD
from warroom.response.statuspages import drafts
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.world import World
from warroom.store.outbox import Job
from warroom.store.schema import status_drafts, timeline

from .helpers import open_room, settle
from .teams_bot_helpers import TeamsSide, open_war_room

#: An alert full of what must never reach a public page: a host, a person, a ticket number, an internal URL.
LEAKY = alertmanager_payload([{
    "labels": {"alertname": "CheckoutErrorRate", "service": "checkout-api", "severity": "critical",
               "instance": "db-prod-7.internal:9100", "team": "payments-core"},
    "annotations": {"summary": "5xx above 12% on db-prod-7.internal, see JIRA-4711 (dana.smith@example.com)",
                    "description": "error ratio 0.12 at https://grafana.internal.example/d/abc"},
    "startsAt": "2026-11-22T06:00:00Z"}])
LEAKS = ("db-prod-7", "JIRA-4711", "dana", "grafana", "payments-core", "checkout-api")


def pages(data: dict[str, Any], *, auto_publish: bool = False) -> None:
    """checkout-api is Checkout on page ``shop``; payments is on no page."""
    data["status_pages"] = [{"name": "shop", "title": "Shop", "components": [{"name": "Checkout"}],
                             "auto_publish": auto_publish}]
    services = {s["name"]: s for s in data["services"]}
    services["checkout-api"]["status"] = {"page": "shop", "components": ["Checkout"]}


@pytest.fixture
async def shop(db_url: str) -> Any:
    h = await Harness.start(db_url, tweak=pages)
    h.world.slack.config.rate_limits = False
    yield h
    await h.stop()


def user(h: Harness, first: str) -> str:
    return h.world.slack.add_user(f"{first}@example.com", first.capitalize())


def cards(h: Harness, channel: str) -> list[dict[str, Any]]:
    """The draft cards in the Slack war room, oldest first, as they read now."""
    return [m for m in h.world.slack.messages(channel)
            if (m.get("metadata") or {}).get("event_type") == slack_cards.DRAFT_EVENT]


def draft_text(card: dict[str, Any]) -> str:
    return str(next(b["text"]["text"] for b in card["blocks"] if b.get("block_id") == "statuspage_draft_text"))


def button(card: dict[str, Any], action_id: str) -> str | None:
    for b in card["blocks"]:
        for e in b.get("elements") or []:
            if e.get("action_id") == action_id:
                return str(e["value"])
    return None


async def page_json(h: Harness) -> dict[str, Any]:
    reply = await h.http.get("/status/shop/index.json")
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


async def updates(h: Harness) -> list[dict[str, Any]]:
    body = await page_json(h)
    return [u for i in [*body["incidents"], *body["past_incidents"]] for u in i["updates"]]


async def rows(h: Harness, incident_id: int) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        found = await tx.conn.execute(select(status_drafts).where(status_drafts.c.incident_id == incident_id)
                                      .order_by(status_drafts.c.id))
        return [dict(r) for r in found.mappings()]


async def click(h: Harness, card: dict[str, Any], action_id: str, who: str, channel: str) -> None:
    value = button(card, action_id)
    assert value is not None, (action_id, card["blocks"])
    reply = await h.slack.click(action_id, value, user=who, channel=channel, message_ts=card["ts"])
    assert reply.status_code == 200, reply.text
    await settle(h)


def told(h: Harness, who: str) -> list[str]:
    return [str(e.get("text")) for e in h.world.slack.ephemeral if e.get("user") == who]


def said(h: Harness, channel: str, marker: str = "published a status page update") -> list[str]:
    return [str(m.get("text")) for m in h.world.slack.messages(channel) if marker in str(m.get("text"))]


async def test_a_draft_published_from_its_card_once(shop: Harness) -> None:
    h = shop
    incident, channel, _ = await open_room(h, LEAKY)
    await settle(h)
    posted = cards(h, channel)
    assert len(posted) == 1
    text = draft_text(posted[0])
    assert "Checkout" in text and "investigating" in text.lower()
    assert not any(leak.lower() in text.lower() for leak in LEAKS), text
    assert "*Shop*" in card_facts(posted[0]["blocks"]) and "Investigating" in card_facts(posted[0]["blocks"])
    assert [r["state"] for r in await rows(h, incident)] == ["pending"]
    assert await updates(h) == []  # nothing public before a person's click

    # a card job retried after its post but before its result was recorded finds the card: no second one
    draft_id = (await rows(h, incident))[0]["id"]
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(update(status_drafts).where(status_drafts.c.id == draft_id).values(chat={}))
    retried = Job(id=0, kind=STATUSPAGE_DRAFT_CARD, incident_id=incident, payload={"draft": draft_id}, attempts=2,
                  ordering_key=None)
    assert h.runtime.ports.chat is not None
    commit = await slack_cards.StatusDraftCards(h.runtime.settings, h.runtime.store, h.runtime.ports.chat).show(
        retried)
    assert commit is not None
    async with h.runtime.store.tx() as tx:
        await commit(tx)
    assert len(cards(h, channel)) == 1 and (await rows(h, incident))[0]["chat"]["slack"]["ts"] == posted[0]["ts"]

    ana = user(h, "ana")
    value, ts = button(posted[0], slack_cards.PUBLISH), posted[0]["ts"]
    await click(h, posted[0], slack_cards.PUBLISH, ana, channel)
    published = await updates(h)
    assert [(u["status"], u["body"]) for u in published] == [("investigating", (await rows(h, incident))[0]["body"])]
    card = cards(h, channel)[0]
    assert len(cards(h, channel)) == 1 and button(card, slack_cards.PUBLISH) is None
    assert "Published by Ana Ops at " in card_facts(card["blocks"])
    stored = (await rows(h, incident))[0]
    assert stored["state"] == "published" and stored["decided_by"] == "ana@example.com" and stored["version"] == 2
    lines = said(h, channel)
    assert len(lines) == 1 and f"<@{ana}>" in lines[0] and "*Shop*" in lines[0] and "Investigating" in lines[0]

    # a second click (the card as it read before) publishes nothing more
    await h.slack.click(slack_cards.PUBLISH, value, user=ana, channel=channel, message_ts=ts)
    await settle(h)
    assert len(await updates(h)) == 1
    assert any("decided already: published by Ana Ops" in t for t in told(h, ana))
    async with h.runtime.store.read() as tx:
        entries = (await tx.conn.execute(select(timeline.c.text).where(
            timeline.c.incident_id == incident, timeline.c.kind == "statuspage"))).scalars().all()
    assert entries == ["Status page update published on shop (investigating) by Ana Ops"]


async def test_a_service_on_no_page_is_refused(sqlite_harness: Harness) -> None:
    h = sqlite_harness  # no status pages configured
    _, channel, _ = await open_room(h)
    reply = await h.slack.command("statuspage We are looking into it.", channel=channel)
    assert "is on no status page" in reply.text


async def test_edit_discard_superseded_and_not_allowed(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=pages)
    h.world.slack.config.rate_limits = False
    try:
        incident, channel, _ = await open_room(h)
        await settle(h)
        ana, dana = user(h, "ana"), user(h, "dana")
        first = cards(h, channel)[0]

        # Edit: a modal prefilled with the draft; its submission publishes the edited text and state
        await click(h, first, slack_cards.EDIT, ana, channel)
        (view,) = [v["view"] for v in h.world.slack.views.values() if v["view"].get("callback_id") ==
                   slack_cards.EDIT_VIEW]
        field = next(b for b in view["blocks"] if b.get("block_id") == slack_cards.TEXT_BLOCK)
        assert field["element"]["initial_value"] == draft_text(first).replace("&amp;", "&")
        edited = "We found the cause of the checkout errors & are rolling out a fix."
        reply = await h.slack.submit(slack_cards.EDIT_VIEW, {
            slack_cards.TEXT_BLOCK: {"type": "plain_text_input", "value": edited},
            slack_cards.STATE_BLOCK: {"type": "static_select", "selected_option": {"value": "identified"}},
        }, user=ana, private_metadata=view["private_metadata"])
        assert reply.status_code == 200 and not reply.text.strip(), reply.text
        await settle(h)
        assert [(u["status"], u["body"]) for u in await updates(h)] == [("identified", edited)]
        assert "Published by Ana" in card_facts(cards(h, channel)[0]["blocks"])
        # the same modal submitted again: refused on the form, nothing more published
        again = await h.slack.submit(slack_cards.EDIT_VIEW, {
            slack_cards.TEXT_BLOCK: {"type": "plain_text_input", "value": "twice"},
        }, user=ana, private_metadata=view["private_metadata"])
        assert "decided already" in again.json()["errors"][slack_cards.TEXT_BLOCK]
        assert len(await updates(h)) == 1

        # two drafts asked for: the older is superseded, its buttons refused
        for state in ("monitoring", "resolved"):
            reply = await h.slack.command(f"statuspage draft {state}", user=ana, channel=channel)
            assert "Drafting a status page update for Shop" in reply.text
            await settle(h)
        older, newer = cards(h, channel)[1:]
        assert "Replaced by a newer draft" in card_facts(older["blocks"]) and button(older, "statuspage_publish") is None
        assert [r["state"] for r in await rows(h, incident)] == ["published", "superseded", "pending"]
        stale = f"{(await rows(h, incident))[1]['id']}:1"
        await h.slack.click(slack_cards.PUBLISH, stale, user=ana, channel=channel, message_ts=older["ts"])
        await settle(h)
        assert any("replaced by a newer one; nothing was published" in t for t in told(h, ana))

        # once someone is commander, only they or the assignee may publish
        await h.slack.command(f"role commander <@{dana}|dana>", user=ana, channel=channel)
        lee = user(h, "lee")  # neither the commander nor the assignee, in the war room
        h.world.slack.channels[channel]["members"].append(lee)
        await click(h, newer, slack_cards.PUBLISH, lee, channel)
        assert any(t.startswith("Only the Incident Commander") and "may publish status page updates for" in t
                   for t in told(h, lee)), told(h, lee)
        assert len(await updates(h)) == 1 and (await rows(h, incident))[2]["state"] == "pending"
        # Discard: nothing published, the card says who discarded it
        await click(h, newer, slack_cards.DISCARD, dana, channel)
        assert len(await updates(h)) == 1
        assert "Discarded by Dana" in card_facts(cards(h, channel)[2]["blocks"])
        assert [r["state"] for r in await rows(h, incident)] == ["published", "superseded", "discarded"]

        # resolved: a draft of the resolve comes by itself
        await h.slack.command("resolve", user=dana, channel=channel)
        await settle(h)
        assert [(r["status"], r["state"], r["reason"]) for r in await rows(h, incident)][-1] == \
            ("resolved", "pending", "resolved")
        assert "Resolved" in card_facts(cards(h, channel)[-1]["blocks"])
    finally:
        await h.stop()


@pytest.mark.one_db("command parsing and refusals; publishing once keeps PostgreSQL in the card test")
async def test_statuspage_command_publishes_verbatim_and_refuses_clearly(shop: Harness) -> None:
    h = shop
    _, channel, _ = await open_room(h)
    ana = user(h, "ana")
    # as Slack sends it: & < > escaped in the command text
    typed = "identified &lt;script&gt;alert(1)&lt;/script&gt; @channel Checkout is recovering"
    reply = await h.slack.command(f"statuspage {typed}", user=ana, channel=channel)
    assert reply.status_code == 200 and "Published on Shop (Identified)" in reply.text, reply.text
    await settle(h)
    verbatim = "<script>alert(1)</script> @channel Checkout is recovering"
    assert [(u["status"], u["body"]) for u in await updates(h)] == [("identified", verbatim)]
    html = (await h.http.get("/status/shop")).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    lines = said(h, channel)
    assert len(lines) == 1 and "(Identified, their own text)" in lines[0]
    assert "channel" not in lines[0] and "script" not in lines[0] and "recovering" not in lines[0]

    # the state is kept: the next text without one stays identified
    await h.slack.command("statuspage A fix is being deployed.", user=ana, channel=channel)
    assert {u["body"]: u["status"] for u in await updates(h)}["A fix is being deployed."] == "identified"

    for text, says in [
        ("statuspage", "Write the update"),
        ("statuspage identified", "Write the update's text after `statuspage identified`"),
        ("statuspage draft bogus", "'bogus' is not a status page state"),
        ("statuspage identifed The fix is out", "did you mean `identified`?"),
        ("statuspage " + "x" * 10_001, "more than the 10,000"),
    ]:
        refused = await h.slack.command(text, user=ana, channel=channel)
        assert says in refused.text, (text[:40], refused.text)
    assert len(await updates(h)) == 2
    help_text = (await h.slack.command("help statuspage", user=ana, channel=channel)).text
    assert "statuspage" in help_text and "draft" in help_text


async def test_teams_card_published_by_a_signed_submit(sqlite_url: str) -> None:
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    tweak = teams.tweak()

    def both(data: dict[str, Any]) -> None:
        tweak(data)
        pages(data, auto_publish=True)  # its generic update is published by itself; the draft still comes

    h = await Harness.start(sqlite_url, world=world, tweak=both)
    teams.client.bot_url = f"{h.base_url}/api/messages"
    try:
        incident, room = await open_war_room(h)
        await h.runtime.worker.run_until_idle()
        posted = drafts_in(teams, room.id)
        assert len(posted) == 1
        card_id, content = posted[0]
        facts = teams_card_facts(content)
        assert "Checkout" in facts and "Investigating" in facts and "Publish" in facts
        publish = next(a["data"] for a in content["actions"] if a["id"] == teams_cards.PUBLISH)
        ben = teams.person("ben@example.com")
        automatic = await updates(h)
        assert [u["body"] for u in automatic] == ["We are investigating an issue affecting Checkout."]
        sent = await teams.client.submit(room, ben, publish, card_id=card_id)
        assert "Published on Shop (Investigating)" in teams.replies_to(room, sent)[-1]
        again = await teams.client.submit(room, ben, publish, card_id=card_id)
        assert "decided already" in teams.replies_to(room, again)[-1]
        executed = await teams.client.execute(room, ben, teams_cards.PUBLISH, publish, card_id=card_id)  # invoke
        assert executed.status == 200 and "decided already" in executed.body["value"]
        await h.runtime.worker.run_until_idle()
        assert len(await updates(h)) == 2
        (_, content), = drafts_in(teams, room.id)
        assert content["actions"] == [] and "Published by Ben" in teams_card_facts(content)

        # a new draft asked for in Teams, edited inside its card: the text and state typed there are published
        asked = await teams.client.say(room, ben, "statuspage draft identified")
        assert "Drafting a status page update for Shop" in teams.replies_to(room, asked)[-1]
        await h.runtime.worker.run_until_idle()
        card_id, content = drafts_in(teams, room.id)[1]
        edit = next(a for a in content["actions"] if a["type"] == "Action.ShowCard")["card"]["actions"][0]["data"]
        edited = {**edit, teams_cards.TEXT_INPUT: "We found the cause & are fixing it.",
                  teams_cards.STATE_INPUT: "identified"}
        sent = await teams.client.submit(room, ben, edited, card_id=card_id)
        assert "Published on Shop (Identified)" in teams.replies_to(room, sent)[-1]
        assert ("identified", "We found the cause & are fixing it.") in [(u["status"], u["body"])
                                                                           for u in await updates(h)]

        said_ = await teams.client.say(room, ben, "statuspage monitoring Fix deployed; watching.")
        assert "Published on Shop (Monitoring)" in teams.replies_to(room, said_)[-1]
        assert ("monitoring", "Fix deployed; watching.") in [(u["status"], u["body"]) for u in await updates(h)]
        assert [r["state"] for r in await rows(h, incident)] == ["published", "published"]
    finally:
        await teams.stop()
        await h.stop()


def drafts_in(teams: TeamsSide, room: str) -> list[tuple[str, dict[str, Any]]]:
    """(activity id, content) of the draft cards in the Teams war room, as they read now."""
    return [(m.id, c) for m, c in teams.connector.cards(room)
            if str(c.get("fallbackText", "")).startswith("📣 Status page draft")]


def test_the_decision_value_is_read_strictly() -> None:
    assert drafts.read_value("12:3") == (12, 3)
    for bad in (None, "", "12", "a:1", "1:-1", "1:2:3", "9" * 30 + ":1"):
        assert drafts.read_value(bad) is None, bad
