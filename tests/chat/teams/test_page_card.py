"""The on-call page's Adaptive Card: valid against Microsoft's schema 1.5 with its button and with the answer in
its place, untrusted text inert, and the button's data read back strictly."""

from __future__ import annotations

from typing import Any

from warroom.chat.teams.cards import JOINER, card_facts
from warroom.chat.teams.notify import PAGE_ACK, page_ack_of, page_card
from warroom.response.oncall.ack import Acked

from .test_cards import EVIL, incident, schema_errors


def _texts(card: dict[str, Any]) -> list[str]:
    return [b["text"] for b in card["body"] if b.get("type") == "TextBlock"] + [card["fallbackText"]]


def test_the_page_card_is_valid_and_carries_the_acknowledge_button() -> None:
    card = page_card(incident(), 17, room_url="https://teams.microsoft.com/l/channel/x")
    assert schema_errors(card) == []
    [submit] = [a for a in card["actions"] if a["type"] == "Action.Submit"]
    assert submit["data"] == {"warroom": PAGE_ACK, "notification": 17} and submit["title"] == "Acknowledge"
    assert [a["url"] for a in card["actions"] if a["type"] == "Action.OpenUrl"] == [
        "https://teams.microsoft.com/l/channel/x"
    ]
    assert "INC-4 (P1, db): DB down" in card_facts(card)


def test_the_answered_card_has_no_button_and_says_what_happened() -> None:
    done = page_card(incident(), 17, answer=Acked(True, "INC-4 acknowledged. You are its assignee."))
    assert schema_errors(done) == [] and "actions" not in done
    assert "✅ INC-4 acknowledged" in card_facts(done)
    late = page_card(incident(), 17, room_url="https://t.example/r", answer=Acked(False, "INC-4 is resolved already."))
    assert schema_errors(late) == [] and [a["type"] for a in late["actions"]] == ["Action.OpenUrl"]


def test_untrusted_text_on_the_page_card_cannot_link_or_mention() -> None:
    card = page_card(incident(title=EVIL, service="db <at>ops</at>"), 3)
    assert schema_errors(card) == []
    for text in _texts(card):
        assert "](" not in text and "<at>" not in text.lower()
    assert any(f"]{JOINER}(" in t for t in _texts(card)) and "evil.example" in card_facts(card)
    # control characters never reach the card: the headline is one clean line
    assert "\n" not in page_card(incident(title="a\nb\u202ec"), 3)["body"][0]["text"]


def test_the_buttons_data_is_read_strictly() -> None:
    assert page_ack_of({"warroom": PAGE_ACK, "notification": 12}) == 12
    assert page_ack_of({"warroom": PAGE_ACK, "notification": " 12 "}) == 12
    for bad in ({"warroom": PAGE_ACK}, {"warroom": PAGE_ACK, "notification": True},
                {"warroom": PAGE_ACK, "notification": -1}, {"warroom": PAGE_ACK, "notification": "x"}):
        assert isinstance(page_ack_of(bad), str)
    assert page_ack_of({"warroom": "ack", "incident": 1}) is None
    assert page_ack_of(["page_ack"]) is None and page_ack_of(None) is None
