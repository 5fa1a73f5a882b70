"""The incident card: untrusted text cannot mention or fake links; links and the request's state show."""

from __future__ import annotations

from datetime import UTC, datetime

from warroom.chat.slack.blocks import card, card_facts
from warroom.core.model import Incident, Link, LinkKind, Origin, Status, Urgency

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def incident(**kw: object) -> Incident:
    base: dict[str, object] = dict(id=4, title="DB down", status=Status.TRIGGERED, priority="P1", urgency=Urgency.HIGH,
                                   service="db", details="", assignee=None, origin=Origin.ALERT, created_at=NOW, updated_at=NOW)
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_untrusted_text_is_escaped() -> None:
    evil = "<!channel> see <https://evil.example|the runbook> & <@U123>"
    text = card_facts(card(incident(details=evil, service="db"), {})[1])
    assert "<!channel>" not in text and "<https://evil.example|" not in text and "<@U123>" not in text
    assert "&lt;!channel&gt;" in text and "&amp;" in text


def test_links_and_request_state() -> None:
    links = {
        LinkKind.XURRENT_REQUEST: Link(4, LinkKind.XURRENT_REQUEST, "70001", "https://acme.xurrent.com/requests/70001",
                                       {"status": "accepted", "sla": {"resolution_target_at": "2026-11-22T10:00:00Z"}}),
        LinkKind.BRIDGE: Link(4, LinkKind.BRIDGE, "9", "https://zoom.example/j/9?pwd=x", {"provider": "zoom"}),
    }
    _, blocks = card(incident(), links)
    text = card_facts(blocks)
    assert "#70001" in text and "(accepted)" in text and "resolve by 2026-11-22T10:00:00Z" in text
    assert "Join Zoom" in text
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["url"] for b in buttons if "url" in b] == [
        "https://zoom.example/j/9?pwd=x", "https://acme.xurrent.com/requests/70001"]
    missed = {**links[LinkKind.XURRENT_REQUEST].data, "sla": {"resolution_target_missed": True}}
    links[LinkKind.XURRENT_REQUEST] = Link(4, LinkKind.XURRENT_REQUEST, "70001", "https://x/70001", missed)
    assert "Xurrent SLA breached (resolution)" in card_facts(card(incident(), links)[1])


def test_pending_links_say_so() -> None:
    text = card_facts(card(incident(), {})[1])
    assert "being created" in text and "starting" in text


def buttons_of(blocks: list[dict[str, object]]) -> list[str]:
    return [str(e["action_id"]) for b in blocks if b["type"] == "actions" for e in b["elements"]]  # type: ignore[union-attr,index]


def test_buttons_that_no_longer_apply_disappear() -> None:
    from warroom.chat.slack.blocks import ACK, REOPEN, RESOLVE, TAKE_COMMANDER
    from warroom.core.model import RoleHolder, Status

    assert buttons_of(card(incident(), {})[1]) == [ACK, RESOLVE, TAKE_COMMANDER]
    assert buttons_of(card(incident(status=Status.ACKNOWLEDGED), {})[1]) == [RESOLVE, TAKE_COMMANDER]
    assert buttons_of(card(incident(status=Status.RESOLVED), {})[1]) == [REOPEN]
    assert buttons_of(card(incident(merged_into=7), {})[1]) == []
    holder = RoleHolder("commander", "Dana <b>", "dana@example.com", "slack:U0DANA")
    text = card_facts(card(incident(), {}, roles=[("Incident Commander", holder)], stakeholders=2)[1])
    assert "*Incident Commander*: <@U0DANA>" in text and "2 kept informed" in text
    other = RoleHolder("app-sme", "<!channel> Eve", "eve@example.com", "teams:29:1")
    assert "&lt;!channel&gt; Eve" in card_facts(card(incident(), {}, roles=[("Application SME", other)])[1])
