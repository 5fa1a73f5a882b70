"""Pure rules: priorities, alert decisions, channel names and the seed's field mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warroom.core.intake import AlertAction, decide, digest_line, urgency_for
from warroom.core.model import Incident, Origin, Status, Urgency, channel_name, slugify
from warroom.core.rules import RuleError, at_or_above, check_transition, severity_to_priority
from warroom.settings import ItsmLinkSettings
from warroom.sync.mapping import STATUS_TO_ITSM, first_note, impact_for, request_fields, source_id

PRIOS = ["P1", "P2", "P3", "P4", "P5"]
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def incident(**kw: object) -> Incident:
    base: dict[str, object] = dict(
        id=7, title="Checkout down", status=Status.TRIGGERED, priority="P1", urgency=Urgency.HIGH, service="checkout-api",
        details="5xx everywhere", assignee="ana@example.com", origin=Origin.ALERT, created_at=NOW, updated_at=NOW,
    )
    base.update(kw)
    return Incident(**base)  # type: ignore[arg-type]


def test_thresholds_compare_by_rank() -> None:
    assert at_or_above(PRIOS, "P1", "P2") and at_or_above(PRIOS, "P2", "P2")
    assert not at_or_above(PRIOS, "P3", "P2") and not at_or_above(PRIOS, None, "P5")


def test_severity_maps_case_insensitively_with_a_default() -> None:
    mapping = {"critical": "P1", "warning": "P3"}
    assert severity_to_priority("CRITICAL", mapping, "P4") == "P1"
    assert severity_to_priority("P3", mapping, "P4") == "P3"
    assert severity_to_priority("weird", mapping, "P4") == "P4"
    assert severity_to_priority(None, mapping, "P4") == "P4"


def test_alert_decisions() -> None:
    open_p3 = incident(priority="P3")
    assert decide(priority="P1", priorities=PRIOS, open_incident=None, declare_threshold="P2", routed=True).action is AlertAction.DECLARE
    assert decide(priority="P3", priorities=PRIOS, open_incident=None, declare_threshold="P2", routed=True).action is AlertAction.RECORD
    attach = decide(priority="P1", priorities=PRIOS, open_incident=open_p3, declare_threshold="P2", routed=True)
    assert attach.action is AlertAction.ATTACH and attach.raise_priority_to == "P1"
    assert decide(priority="P4", priorities=PRIOS, open_incident=open_p3, declare_threshold="P2", routed=True).raise_priority_to is None
    assert decide(priority="P1", priorities=PRIOS, open_incident=None, declare_threshold="P2", routed=False).action is AlertAction.UNROUTED
    assert urgency_for("P2", PRIOS) is Urgency.HIGH and urgency_for("P3", PRIOS) is Urgency.LOW


def test_transitions() -> None:
    check_transition(Status.TRIGGERED, Status.ACKNOWLEDGED)
    with pytest.raises(RuleError, match="already"):
        check_transition(Status.RESOLVED, Status.RESOLVED)
    with pytest.raises(RuleError, match="cannot become"):
        check_transition(Status.RESOLVED, Status.ACKNOWLEDGED)


@given(st.text(max_size=300), st.integers(min_value=1, max_value=10**9))
def test_channel_names_are_always_valid_for_slack(title: str, number: int) -> None:
    name = channel_name("inc-{number}-{slug}", number=number, title=title, service="svc", priority="P1")
    assert 0 < len(name) <= 80
    assert all(c.islower() or c.isdigit() or c in "-_" for c in name)
    assert name.startswith(f"inc-{number}"[:80])


def test_slugs() -> None:
    assert slugify("Checkout: 5xx on /pay — Ünïcode!") == "checkout-5xx-on-pay-unicode"
    assert slugify("!!!") == "incident"


def test_status_table_is_the_seeds() -> None:
    assert STATUS_TO_ITSM == {Status.TRIGGERED: "assigned", Status.ACKNOWLEDGED: "accepted", Status.RESOLVED: "completed"}


def test_impact_default_table_custom_mapping_and_default_impact() -> None:
    link = ItsmLinkSettings(default_impact="medium")
    assert [impact_for(p, PRIOS, link) for p in PRIOS] == ["top", "high", "medium", "low", "low"]
    assert impact_for(None, PRIOS, link) == "medium"
    custom = ItsmLinkSettings(impact_mapping={"P1": "high", "P2": "medium"}, default_impact="low")
    assert impact_for("P1", PRIOS, custom) == "high" and impact_for("P3", PRIOS, custom) == "low"
    # custom mapping needs at least 4 priorities: with fewer, the default table applies
    assert impact_for("P1", ["P1", "P2", "P3"], custom) == "top"


def test_request_fields_follow_the_seed() -> None:
    link = ItsmLinkSettings(service_instance_id=42, default_impact="low")
    fields = request_fields(incident(), link, priorities=PRIOS, source="warroom", member_id=9)
    assert fields["subject"] == "Checkout down"
    assert fields["category"] == "incident"
    assert fields["impact"] == "top"
    assert fields["urgent"] is True
    assert fields["status"] == "assigned"
    assert fields["service_instance_id"] == 42 and fields["member_id"] == 9
    assert fields["source"] == "warroom" and fields["sourceID"] == source_id(incident()) == "incident-7"
    # the details are the first note, internal (they carry the war room's link; the requester may be a customer)
    assert "5xx everywhere" in fields["internal_note"] and "note" not in fields
    assert "completion_reason" not in fields
    low = request_fields(incident(urgency=Urgency.LOW, priority=None), link, priorities=PRIOS, source="w", member_id=None)
    assert low["urgent"] is False and low["impact"] == "low" and "member_id" not in low
    done = request_fields(incident(status=Status.RESOLVED), link, priorities=PRIOS, source="w", member_id=None)
    assert done["status"] == "completed" and done["completion_reason"] == "solved"


def test_subject_is_cut_to_xurrents_limit() -> None:
    long = request_fields(incident(title="x" * 400), ItsmLinkSettings(), priorities=PRIOS, source="w", member_id=None)
    assert len(long["subject"]) == 255
    assert first_note(incident(details="")).endswith("Checkout down")


def test_alert_digest_lines() -> None:
    assert digest_line([("A", "firing")], 3) == "🔔 Alert firing: A."
    many = digest_line([(f"A{i}", "firing") for i in range(7)], 7)
    assert many == "🔔 7 alerts firing: A0, A1, A2, A3, A4 and 2 more."
    mixed = digest_line([("A", "firing"), ("B", "resolved")], 1)
    assert mixed == "🔔 Alert firing: A. ✅ Alert resolved: B. 1 still firing."
    assert digest_line([("B", "resolved")], 0).endswith("the incident stays open until a responder resolves it.")
