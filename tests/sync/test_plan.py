"""The sync engine's pure decisions: agreement, echo suppression, conflicts, lossy mappings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from warroom.settings import ItsmLinkSettings
from warroom.sync.plan import (
    Codec,
    Shadow,
    plan_pull,
    plan_push,
    priority_from_impact,
    request_patch,
    status_from_itsm,
)

PRIOS = ["P1", "P2", "P3", "P4", "P5"]
CODEC = Codec(ItsmLinkSettings(), PRIOS, {"ana@example.com": 11, "ben@example.com": 12, "fay@c.example": None})
START = {"title": "Checkout down", "status": "triggered", "priority": "P1", "urgency": "high", "assignee": "ana@example.com"}
REQUEST = {"title": "Checkout down", "status": "assigned", "priority": "top", "urgency": True, "assignee": "ana@example.com"}
SYNCED = Shadow(dict(START), dict(REQUEST))


def test_status_table_both_ways() -> None:
    assert [CODEC.to_itsm("status", s) for s in ("triggered", "acknowledged", "resolved")] == ["assigned", "accepted", "completed"]
    assert [CODEC.to_imr("status", s) for s in ("assigned", "accepted", "completed")] == ["triggered", "acknowledged", "resolved"]
    assert status_from_itsm("in_progress").value == "acknowledged"  # type: ignore[union-attr]
    assert status_from_itsm("on_backlog").value == "triggered"  # type: ignore[union-attr]
    assert status_from_itsm("declined") is None


def test_impact_inverse_default_and_custom() -> None:
    assert [priority_from_impact(i, PRIOS, ItsmLinkSettings()) for i in ("top", "high", "medium", "low")] == ["P1", "P2", "P3", "P4"]
    custom = ItsmLinkSettings(impact_mapping={"P1": "top", "P2": "top", "P3": "high", "P4": "medium", "P5": "low"})
    assert priority_from_impact("top", PRIOS, custom) == "P1"
    assert Codec(custom, PRIOS).agree("priority", "P2", "top")  # P2 → top: nothing to write either way


def test_nothing_changed_nothing_written() -> None:
    writes, shadow = plan_push(START, SYNCED, CODEC)
    assert writes == {} and shadow == SYNCED
    plan = plan_pull(START, REQUEST, SYNCED, CODEC)
    assert plan.to_incident == {} and plan.to_request == {} and plan.conflicts == []


def test_incident_change_is_pushed_and_its_echo_ignored() -> None:
    acked = {**START, "status": "acknowledged", "priority": "P2"}
    writes, shadow = plan_push(acked, SYNCED, CODEC)
    assert writes == {"status": "accepted", "priority": "high"}
    assert request_patch(writes, CODEC.member_ids) == {"status": "accepted", "impact": "high"}
    echoed = {**REQUEST, "status": "accepted", "priority": "high"}
    plan = plan_pull(acked, echoed, shadow, CODEC)
    assert plan.to_incident == {} and plan.to_request == {}


def test_request_change_is_pulled() -> None:
    changed = {**REQUEST, "status": "in_progress", "title": "Checkout down in EU", "urgency": False}
    plan = plan_pull(START, changed, SYNCED, CODEC)
    assert plan.to_incident == {"status": "acknowledged", "title": "Checkout down in EU", "urgency": "low"}
    # in_progress stays in_progress: the incident's "acknowledged" agrees with it, so nothing is pushed back
    after = {**START, **plan.to_incident}
    assert plan_push(after, plan.shadow, CODEC)[0] == {}


def test_completing_writes_the_completion_reason() -> None:
    writes, _ = plan_push({**START, "status": "resolved"}, SYNCED, CODEC)
    assert request_patch(writes, {}) == {"status": "completed", "completion_reason": "solved"}


def test_conflict_incident_wins_and_both_converge() -> None:
    ours = {**START, "priority": "P3"}
    theirs = {**REQUEST, "priority": "low"}
    plan = plan_pull(ours, theirs, SYNCED, CODEC)
    assert plan.to_incident == {} and plan.to_request == {"priority": "medium"}
    assert [c.field for c in plan.conflicts] == ["priority"]
    converged = {**theirs, "priority": "medium"}
    assert plan_pull(ours, converged, plan.shadow, CODEC).to_request == {}


def test_an_assignee_missing_in_xurrent_leaves_the_member_empty_without_ping_pong() -> None:
    ours = {**START, "assignee": "fay@c.example"}
    writes, shadow = plan_push(ours, SYNCED, CODEC)
    assert writes == {"assignee": None} and request_patch(writes, CODEC.member_ids) == {"member_id": None}
    echoed = {**REQUEST, "assignee": None}
    assert plan_pull(ours, echoed, shadow, CODEC).to_incident == {}
    assert plan_push(ours, shadow, CODEC)[0] == {}


VALUES = {
    "title": st.sampled_from(["A", "B", "C"]),
    "status": st.sampled_from(["triggered", "acknowledged", "resolved"]),
    "priority": st.sampled_from(PRIOS),
    "urgency": st.sampled_from(["low", "high"]),
    "assignee": st.sampled_from(["ana@example.com", "ben@example.com", "fay@c.example", None]),
}
ITSM_VALUES = {
    "title": st.sampled_from(["A", "B", "D"]),
    "status": st.sampled_from(["assigned", "accepted", "in_progress", "waiting_for", "completed", "declined", "on_backlog"]),
    "priority": st.sampled_from(["low", "medium", "high", "top"]),
    "urgency": st.booleans(),
    "assignee": st.sampled_from(["ana@example.com", "ben@example.com", None]),
}


@given(st.fixed_dictionaries(VALUES), st.fixed_dictionaries(ITSM_VALUES))
def test_one_pull_then_one_push_always_converges(ours: dict, theirs: dict) -> None:  # type: ignore[type-arg]
    """From any divergence: apply a pull, write what it says, push — then neither side has anything to write."""
    plan = plan_pull(ours, theirs, SYNCED, CODEC)
    incident = {**ours, **plan.to_incident}
    request = {**theirs, **plan.to_request}
    writes, shadow = plan_push(incident, plan.shadow, CODEC)
    request = {**request, **writes}
    assert plan_push(incident, shadow, CODEC)[0] == {}
    again = plan_pull(incident, request, shadow, CODEC)
    assert again.to_incident == {} and again.to_request == {}
    for name in ("title", "status", "priority", "urgency", "assignee"):
        assert CODEC.agree(name, incident[name], request[name]), name
