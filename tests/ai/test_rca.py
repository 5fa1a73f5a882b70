"""Deterministic ranking rules, each on a small incident."""

from __future__ import annotations

from dataclasses import replace

from warroom.ai import AlertFact, ChangeFact, EventFact
from warroom.ai.rca import rank_causes, time_proximity

from .conftest import at, incident


def test_time_proximity_prefers_changes_just_before_the_start() -> None:
    start = at(0)
    before = [time_proximity(at(-m), start) for m in (5, 30, 120, 600, 2000)]
    assert before == sorted(before, reverse=True) and before[0] > 0.9 and before[-1] < 0.1
    assert time_proximity(at(60), start) < 0.1  # after the start: a response, not a cause
    assert time_proximity(at(-300), start, slow=True) > 2 * time_proximity(at(-300), start)


def test_responders_ruling_a_change_out_sinks_it() -> None:
    base = incident(events=[])
    ruled = replace(
        base,
        events=[
            EventFact(
                id="9",
                at=at(9),
                kind="discussion",
                actor="ben",
                text="deploy-77 is not the cause, rolled back with no change",
            )
        ],
    )
    score = {c.key: c.score for c in rank_causes(base)}["change:deploy-77"]
    after = {c.key: c.score for c in rank_causes(ruled)}.get("change:deploy-77", 0.0)
    assert after < score - 0.2


def test_a_certificate_alert_outranks_an_unrelated_deploy_elsewhere() -> None:
    ctx = incident(
        service="auth-api",
        dependencies=[],
        events=[],
        alerts=[
            AlertFact(
                id="c1",
                name="ProbeFailed",
                summary="x509: certificate has expired",
                service="auth-api",
                severity="critical",
                starts_at=at(0),
            )
        ],
        changes=[
            ChangeFact(id="d1", source="deploy", service="search-api", title="search tweaks", at=at(-10))
        ],
    )
    causes = rank_causes(ctx)
    assert causes[0].key == "signal:certificate-expiry"
    assert [e.ref for e in causes[0].evidence] == ["alert:c1"]


def test_a_change_that_touches_the_failing_area_is_linked_to_its_alerts() -> None:
    ctx = incident(
        events=[],
        dependencies=[],
        alerts=[
            AlertFact(
                id="n1",
                name="DnsFailures",
                summary="lookup db.internal: no such host",
                service="orders",
                starts_at=at(0),
            )
        ],
        changes=[
            ChangeFact(
                id="RFC-1",
                source="itsm-rfc",
                service="corp-dns",
                title="Move zone to new resolvers",
                at=at(-20),
            ),
            ChangeFact(
                id="RFC-2", source="itsm-rfc", service="corp-dns", title="Rename printers", at=at(-15)
            ),
        ],
    )
    scores = {c.key: c.score for c in rank_causes(ctx)}
    assert scores["change:RFC-1"] > scores.get("change:RFC-2", 0.0) + 0.2
    top = next(c for c in rank_causes(ctx) if c.key == "change:RFC-1")
    assert "alert:n1" in [e.ref for e in top.evidence] and "touches" in top.explanation


def test_one_alert_matching_two_signals_is_one_cause() -> None:
    ctx = incident(
        events=[],
        changes=[],
        dependencies=[],
        alerts=[
            AlertFact(
                id="r1",
                name="SmsFailures",
                summary="provider twilio errors: HTTP 429 Too Many Requests",
                service="notifications",
                starts_at=at(0),
            )
        ],
    )
    causes = rank_causes(ctx)
    # a provider named failing in the alert is the cause those signals describe: one cause, the provider's
    assert [c.key for c in causes if c.key.startswith(("signal:", "provider:"))] == ["provider:twilio"]
    assert {*causes[0].also} >= {"signal:rate-limit", "signal:third-party"}


def test_no_data_gives_no_causes() -> None:
    assert rank_causes(incident(alerts=[], events=[], changes=[], title="Something is off", details="")) == []
