"""Reading a war room back out of the emulators, for assertions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from warroom.chat.slack.blocks import CARD_EVENT, card_facts
from warroom.sandbox.harness import Harness, alertmanager_payload


@dataclass
class WarRoom:
    channels: list[dict[str, Any]]
    cards: list[dict[str, Any]]
    requests: list[dict[str, Any]]
    meetings: list[dict[str, Any]]
    messages: list[dict[str, Any]]

    @property
    def channel(self) -> dict[str, Any]:
        assert len(self.channels) == 1, self.channels
        return self.channels[0]

    @property
    def card(self) -> dict[str, Any]:
        assert len(self.cards) == 1, self.cards
        return self.cards[0]

    @property
    def card_text(self) -> str:
        return card_facts(self.card["blocks"])


def war_room(h: Harness, incident_id: int) -> WarRoom:
    slack = h.world.slack
    channels = [c for c in slack.channels.values() if c["name"].startswith(f"inc-{incident_id}-")]
    messages = [m for c in channels for m in slack.messages(c["id"])]
    cards = [m for m in messages if (m.get("metadata") or {}).get("event_type") == CARD_EVENT]
    requests = [r for r in h.world.xurrent.requests.values() if r.get("sourceID") == f"incident-{incident_id}"]
    meetings = [m for m in [*h.world.zoom.meetings.values(), *h.world.webex.meetings.values()]
                if f"INC-{incident_id} " in (m.get("topic") or m.get("title") or "")]
    return WarRoom(channels, cards, requests, meetings, messages)


def critical_alert(name: str = "CheckoutErrorRate", service: str = "checkout-api", severity: str = "critical",
                   **extra: Any) -> dict[str, Any]:
    return alertmanager_payload(
        [{"labels": {"alertname": name, "service": service, "severity": severity},
          "annotations": {"summary": "5xx above 12%", "description": "error ratio 0.12 on checkout"},
          # Alertmanager keeps startsAt across the repeats of one firing alert
          "startsAt": "2026-11-22T06:00:00Z", **extra}]
    )


async def settle(h: Harness) -> None:
    """Run warroom's jobs and Xurrent's webhook deliveries until both are quiet (a few rounds: each can cause the
    other)."""
    for _ in range(3):
        await h.runtime.worker.run_until_idle()
        await h.world.xurrent.webhooks.settle()
    await h.runtime.worker.run_until_idle()


async def open_room(h: Harness, alert: dict[str, Any] | None = None) -> tuple[int, str, int]:
    """A war room opened by a critical alert: (incident, Slack channel id, Xurrent request id)."""
    incident = (await h.post_alerts(alert or critical_alert())).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    room = war_room(h, incident)
    return incident, room.channel["id"], room.requests[0]["id"]
