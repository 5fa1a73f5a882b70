"""The seed's task ↔ RFC tables as pure functions, and the shared plan (sync/plan.py) over the RFC's field table."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from warroom.core.tasks import FROM_RFC, TO_RFC, TaskStatus
from warroom.settings import ItsmLinkSettings
from warroom.sync.plan import Shadow, plan_pull, plan_push
from warroom.sync.rfc_mapping import (
    RFC_FIELDS,
    Origin,
    RfcCodec,
    first_note,
    rfc_direction,
    rfc_fields,
    rfc_note_sync,
    rfc_patch,
)

CODEC = RfcCodec()
TASK_STATUSES = [s.value for s in TaskStatus if s is not TaskStatus.PROPOSED]
RFC_STATUSES = [*FROM_RFC, "declined"]


def task(**extra: Any) -> dict[str, Any]:
    return {"id": 7, "title": "Add a canary stage", "details": "Roll out by 10% first", "status": "todo",
            "owner": "ben@example.com", **extra}


def test_the_seeds_status_table_both_ways() -> None:
    for imr, itsm in (("todo", "assigned"), ("in_progress", "in_progress"), ("done", "completed")):
        assert CODEC.to_itsm("status", imr) == itsm
        assert CODEC.to_imr("status", itsm) == imr
    assert CODEC.to_imr("status", "waiting_for") == "in_progress"
    assert CODEC.to_imr("status", "on_backlog") == "todo"
    assert CODEC.to_imr("status", "declined") is None
    assert CODEC.agree("status", "done", "declined")  # declined has no opinion on the task


def test_the_create_body() -> None:
    link = ItsmLinkSettings(service_instance_id=42)
    body = rfc_fields(task(title="x" * 300), link, source="warroom", member_id=9, note="first")
    assert body == {"subject": "x" * 254 + "…", "category": "rfc", "status": "assigned", "internal_note": "first",
                    "source": "warroom", "sourceID": "task-7", "service_instance_id": 42, "member_id": 9}
    done = rfc_fields(task(status="wont_do"), link, source="warroom", member_id=None, note="")
    assert done["status"] == "completed" and done["completion_reason"] == "withdrawn"
    assert rfc_patch({"status": "completed"}, "done") == {"status": "completed", "completion_reason": "solved"}


def test_the_first_note_names_the_details_and_the_originating_incident() -> None:
    note = first_note(task(), Origin("INC-3", "Checkout is down", "70001", "https://x.example/requests/70001",
                                     "https://slack.example/archives/C1"))
    for part in ("Roll out by 10% first", "INC-3", "Checkout is down", "#70001", "https://x.example/requests/70001",
                 "War room: https://slack.example/archives/C1", "ben@example.com"):
        assert part in note


def test_rfc_settings_default_to_the_incident_ones() -> None:
    link = ItsmLinkSettings(direction="imr_to_itsm", note_sync=False)
    assert rfc_direction(link) == "imr_to_itsm" and rfc_note_sync(link) is False
    link = ItsmLinkSettings(direction="imr_to_itsm", note_sync=False, rfc_direction="bidirectional", rfc_note_sync=True)
    assert rfc_direction(link) == "bidirectional" and rfc_note_sync(link) is True


@given(st.sampled_from(TASK_STATUSES), st.sampled_from(RFC_STATUSES), st.sampled_from(TASK_STATUSES),
       st.booleans())
def test_push_then_pull_converges(start: str, desk: str, ours: str, desk_first: bool) -> None:
    """From an agreed start, a change on each side (in either order) ends with both agreeing, and a second pull
    finds nothing to do (no echo)."""
    shadow = Shadow({"title": "t", "status": start}, {"title": "t", "status": TO_RFC[TaskStatus(start)]})
    task_side = {"title": "t", "status": ours}
    rfc_side = {"title": "t", "status": desk}

    def push() -> None:
        nonlocal shadow, rfc_side
        writes, shadow = plan_push(task_side, shadow, CODEC, RFC_FIELDS)
        rfc_side = {**rfc_side, **writes}

    def pull() -> None:
        nonlocal shadow, rfc_side, task_side
        plan = plan_pull(task_side, rfc_side, shadow, CODEC, fields=RFC_FIELDS)
        task_side = {**task_side, **{k: v for k, v in plan.to_incident.items() if v is not None}}
        rfc_side = {**rfc_side, **plan.to_request}
        shadow = plan.shadow

    # the task's change is pushed and the RFC's pulled, in either order (each side's hint runs its job)
    for step in ((pull, push) if desk_first else (push, pull)):
        step()
    assert CODEC.agree("status", task_side["status"], rfc_side["status"])
    again = plan_pull(task_side, rfc_side, shadow, CODEC, fields=RFC_FIELDS)
    assert again.to_incident == {} and again.to_request == {}
    writes, _ = plan_push(task_side, shadow, CODEC, RFC_FIELDS)
    assert writes == {}
