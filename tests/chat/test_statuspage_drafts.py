"""Status page drafts in chat, without I/O: ``statuspage`` parsed into its commands (and refused clearly), and the
draft's cards — Slack Block Kit and a valid Adaptive Card 1.5 — with the draft's text (untrusted: it comes from
incident data) unable to mention, link or form a tag, and the buttons only while the draft waits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warroom.chat.grammar import GrammarContext, parse
from warroom.chat.slack import blocks
from warroom.chat.slack import statuspage_cards as slack_cards
from warroom.chat.teams import statuspage_cards as teams_cards
from warroom.response.commands import Rejection, StatusPageDraft, StatusPagePublish
from warroom.response.statuspages import drafts
from warroom.settings import Settings

from .teams.test_cards import schema_errors

HOSTILE = "<!channel> <@U1> <https://evil.example|login> [click](https://evil.example) <at>Dana</at> & *bold*"
CTX = GrammarContext.from_settings(Settings())


def card(state: str = drafts.PENDING, **extra: Any) -> drafts.DraftCard:
    values: dict[str, Any] = {
        "id": 7, "incident_id": 3, "incident_ref": "INC-3", "page": "shop", "page_title": "Shop <b>", "status":
        "identified", "body": HOSTILE, "state": state, "version": 2, "source": "deterministic",
        "components": ("Checkout", "Pay & <Go>"), "created_at": datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
        "decided_at": None if state == drafts.PENDING else datetime(2026, 12, 6, 10, 2, tzinfo=UTC),
        "decided_name": None if state == drafts.PENDING else "Ana <@U9>", "removed": ("host", "person"),
    }
    values.update(extra)
    return drafts.DraftCard(**values)


@pytest.mark.parametrize(("text", "expected"), [
    ("statuspage We are looking into it.", StatusPagePublish("We are looking into it.")),
    ("statuspage identified The cause is known.", StatusPagePublish("The cause is known.", "identified")),
    ("statuspage resolved All good.", StatusPagePublish("All good.", "resolved")),
    # a capitalised first word starts a sentence: published whole, the state kept
    ("statuspage Investigating elevated errors.", StatusPagePublish("Investigating elevated errors.")),
    ("statuspage draft Monitoring", StatusPageDraft("monitoring")),
    ("statuspage draft", StatusPageDraft()),
    ("statuspage draft monitoring", StatusPageDraft("monitoring")),
    ("status-page <!channel> & <b>", StatusPagePublish("<!channel> & <b>")),
])
def test_statuspage_parses(text: str, expected: object) -> None:
    assert parse(text, CTX) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("statuspage", "Write the update people reading the status page should see"),
    ("statuspage monitoring", "Write the update's text after `statuspage monitoring`"),
    ("statuspage Monitoring", "Write the update's text after `statuspage monitoring`"),
    ("statuspage draft soon", "'soon' is not a status page state. States: investigating, identified, monitoring"),
    ("statuspage draft identified now", "`statuspage draft` takes at most a state"),
    ("statuspage resolvd It is fixed", "did you mean `resolved`?"),
    ("statuspage " + "x" * 10_001, "10,001 characters long, more than the 10,000"),
])
def test_statuspage_refusals_say_what_to_write(text: str, says: str) -> None:
    result = parse(text, CTX)
    assert isinstance(result, Rejection) and says in result.message, result
    assert "Try `/incident statuspage" in result.message


def test_ten_thousand_characters_fit() -> None:
    assert parse("statuspage " + "x" * 10_000, CTX) == StatusPagePublish("x" * 10_000)


@pytest.mark.parametrize("state", [drafts.PENDING, drafts.PUBLISHED, drafts.DISCARDED, drafts.SUPERSEDED])
def test_the_slack_card_escapes_and_offers_buttons_while_pending(state: str) -> None:
    fallback, out = slack_cards.draft_card(card(state))
    shown = blocks.card_facts(out)
    for raw in ("<!channel>", "<@U1>", "<https://evil", "<b>", "<Go>", "<@U9>"):
        assert raw not in shown and raw not in fallback, raw
    assert "&lt;!channel&gt;" in shown and "*Shop &lt;b&gt;*" in shown and "Identified" in shown
    buttons = [e["action_id"] for b in out if b["type"] == "actions" for e in b["elements"]]
    if state == drafts.PENDING:
        assert buttons == [slack_cards.PUBLISH, slack_cards.EDIT, slack_cards.DISCARD]
        assert all(e["value"] == "7:2" for b in out if b["type"] == "actions" for e in b["elements"])
    else:
        assert buttons == []
        assert {drafts.PUBLISHED: "Published by Ana &lt;@U9&gt; at 10:02 UTC",
                drafts.DISCARDED: "Discarded by Ana &lt;@U9&gt; at 10:02 UTC",
                drafts.SUPERSEDED: "Replaced by a newer draft"}[state] in shown


def test_the_slack_edit_form_is_prefilled_and_read_back() -> None:
    view = slack_cards.edit_view(card())
    assert view["private_metadata"] == "7:2" and view["callback_id"] == slack_cards.EDIT_VIEW
    text_input = next(b for b in view["blocks"] if b.get("block_id") == slack_cards.TEXT_BLOCK)["element"]
    assert text_input["initial_value"] == HOSTILE and text_input["multiline"] is True  # plain text input: no markup
    select = next(b for b in view["blocks"] if b.get("block_id") == slack_cards.STATE_BLOCK)["element"]
    assert select["initial_option"]["value"] == "identified"
    state = {"values": {slack_cards.TEXT_BLOCK: {slack_cards.TEXT_BLOCK: {"value": "New text"}},
                        slack_cards.STATE_BLOCK: {slack_cards.STATE_BLOCK: {"selected_option": {"value": "resolved"}}}}}
    assert slack_cards.read_edit({"state": state}) == ("New text", "resolved")
    assert slack_cards.read_edit({}) == ("", None)


@pytest.mark.parametrize("state", [drafts.PENDING, drafts.PUBLISHED, drafts.DISCARDED, drafts.SUPERSEDED])
def test_the_teams_card_is_valid_and_safe(state: str) -> None:
    content = teams_cards.draft_card(card(state))
    assert schema_errors(content) == []
    text = str(content["body"]) + str(content["fallbackText"])
    assert "<at>" not in text and "](" not in text and "<!channel>" not in text
    ids = [a["id"] for a in content["actions"]]
    if state == drafts.PENDING:
        assert ids == [teams_cards.PUBLISH, "statuspage_edit_open", teams_cards.DISCARD]
        edit = content["actions"][1]["card"]
        inputs = {i["id"]: i for i in edit["body"]}
        assert inputs[teams_cards.TEXT_INPUT]["value"] == HOSTILE and inputs[teams_cards.TEXT_INPUT]["isMultiline"]
        assert inputs[teams_cards.STATE_INPUT]["value"] == "identified"
        assert edit["actions"][0]["data"] == {"warroom": teams_cards.EDIT, "draft": 7, "version": 2}
    else:
        assert ids == []


def test_a_person_in_a_war_room_line() -> None:
    assert drafts.Person("a@b.c", "slack:U1", "Ana", mention="<@U1>").shown == "<@U1>"
    assert drafts.Person(None, "teams:29:1", "<at>Ana</at> & co", mention="<at>Ana</at> & co").shown == \
        "&lt;at&gt;Ana&lt;/at&gt; &amp; co"
    assert drafts.Person(None, "slack:U1", "Ana").by == "slack:U1"


def test_a_refused_click_names_the_decider_escaped() -> None:
    said = drafts.stale(card(drafts.PUBLISHED))
    assert said.startswith("That draft is decided already: published by Ana &lt;@U9&gt; at 10:02 UTC.")
    assert "replaced by a newer one" in drafts.stale(card(drafts.SUPERSEDED))
    assert "older version" in drafts.stale(card())
