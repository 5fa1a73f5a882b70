"""The incident card: untrusted text cannot mention or fake links; links and the request's state show."""

from __future__ import annotations

from datetime import UTC, datetime

from warroom.bot.blocks import card, card_facts
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
    assert [b["url"] for b in buttons] == ["https://zoom.example/j/9?pwd=x", "https://acme.xurrent.com/requests/70001"]
    missed = {**links[LinkKind.XURRENT_REQUEST].data, "sla": {"resolution_target_missed": True}}
    links[LinkKind.XURRENT_REQUEST] = Link(4, LinkKind.XURRENT_REQUEST, "70001", "https://x/70001", missed)
    assert "Xurrent SLA breached (resolution)" in card_facts(card(incident(), links)[1])


def test_pending_links_say_so() -> None:
    text = card_facts(card(incident(), {})[1])
    assert "being created" in text and "starting" in text
