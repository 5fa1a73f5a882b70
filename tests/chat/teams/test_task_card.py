"""A post-incident task's Teams card: valid Adaptive Card 1.5 in every status, its outside text unable to form a
link or a tag, and Start/Done only while the task is open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warroom.chat.slack import blocks
from warroom.chat.teams import cards

from .test_cards import schema_errors

HOSTILE = "<at>Dana</at> [click](https://evil.example) <!channel> & more"


def task(status: str, **extra: Any) -> dict[str, Any]:
    return {"id": 7, "title": HOSTILE, "status": status, "owner": "dana@example.com", "closed_reason": None,
            "due_at": datetime(2026, 12, 11, tzinfo=UTC), **extra}


@pytest.mark.parametrize("status", ["todo", "in_progress", "done", "wont_do"])
def test_the_teams_task_card_is_valid_and_safe(status: str) -> None:
    card = cards.task_card(task(status, closed_reason=HOSTILE), 2, "INC-4", due="due Fri 2026-12-11")
    assert schema_errors(card) == []
    text = str(card)
    assert "<at>" not in text and "](" not in text
    ids = [a["id"] for a in card["actions"]]
    assert ids == {"todo": ["task_start", "task_done"], "in_progress": ["task_done"]}.get(status, [])
    assert all(a["data"] == {"warroom": a["id"], "task": 7} for a in card["actions"])


@pytest.mark.parametrize("status", ["todo", "in_progress", "done", "wont_do"])
def test_the_slack_task_card_escapes_and_offers_what_applies(status: str) -> None:
    text, out = blocks.task_card(task(status), 2, "INC-4", due="due Fri 2026-12-11")
    shown = blocks.card_facts(out)
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "Task 2 of INC-4" in text
    actions = [e["action_id"] for b in out if b["type"] == "actions" for e in b["elements"]]
    assert actions == {"todo": ["task_start", "task_done"], "in_progress": ["task_done"]}.get(status, [])
