"""Which changes the AI context holds (warroom.response.ai.context): the day around the trouble's start as before, and
from the two weeks before it the newest changes that concern the incident as closely — what bites days later (an
expired certificate or credential, a cron's first run) — including changes made where the alerting service runs,
as its alerts' labels say (a cluster, a node pool). On a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.core.model import AlertIn, AlertStatus, Origin
from warroom.response.ai.context import OLD_CHANGES, build_context, snapshot
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store.db import Store


def settings() -> Settings:
    svc = {"responders": ["ana@example.com"], "bridge": "none"}
    return Settings(
        slack={"enabled": False}, teams={"enabled": False}, xurrent={"enabled": False},
        services=[{"name": "portal", "depends_on": ["auth"], **svc}, {"name": "auth", **svc}, {"name": "search", **svc}],
    )


async def change(store: Store, ext: str, service: str | None, at: datetime, title: str = "a change") -> None:
    async with store.tx() as tx:
        await tx.records.add_change(source="deploy", external_id=ext, title=title, at=at, service=service)


async def test_older_changes_on_the_incidents_services_and_platforms_are_weighed_the_rest_are_not(
    store: Store,
) -> None:
    s = settings()
    incident = await IncidentService(s, store).declare(
        service="portal", title="TLS handshake failures", priority="P1", origin=Origin.ALERT
    )
    now = datetime.now(UTC)
    async with store.tx() as tx:
        alert_id, _, _ = await tx.alerts.record(AlertIn(
            source="alertmanager", fingerprint="f1", status=AlertStatus.FIRING, name="PortalTLSErrors",
            summary="handshakes fail", service="portal", severity="critical",
            labels={"alertname": "PortalTLSErrors", "service": "portal", "cluster": "gke-prod-eu"},
            starts_at=now - timedelta(minutes=5),
        ), "P1")
        await tx.alerts.attach([alert_id], incident.id)
    await change(store, "cert-move", "portal", now - timedelta(days=6), "move portal to namespace web")
    await change(store, "auth-ttl", "auth", now - timedelta(days=3), "cut token TTL to 72h")
    await change(store, "pool-upgrade", "gke-prod-eu", now - timedelta(days=2), "node pool upgrade")
    await change(store, "search-old", "search", now - timedelta(days=4), "search 2.1")  # no neighbour: left out
    await change(store, "ancient", "portal", now - timedelta(days=20), "portal 1.0")  # older than two weeks
    await change(store, "yesterday", "search", now - timedelta(hours=3), "search 2.2")  # near, on another service
    await change(store, "today", "portal", now - timedelta(hours=1), "portal 3.4")
    snap = await snapshot(store, s, incident.id)
    assert snap is not None
    assert [c["external_id"] for c in snap.changes] == ["cert-move", "auth-ttl", "pool-upgrade", "today"]
    ctx = build_context(snap, s)
    assert [c.id for c in ctx.changes] == ["cert-move", "auth-ttl", "pool-upgrade", "today"]


async def test_only_the_newest_older_changes_are_kept(store: Store) -> None:
    s = settings()
    incident = await IncidentService(s, store).declare(service="portal", title="x", priority="P1")
    now = datetime.now(UTC)
    for n in range(OLD_CHANGES + 5):
        await change(store, f"old-{n:02d}", "portal", now - timedelta(days=10) + timedelta(hours=n))
    snap = await snapshot(store, s, incident.id)
    assert snap is not None
    assert [c["external_id"] for c in snap.changes] == [f"old-{n:02d}" for n in range(5, OLD_CHANGES + 5)]


async def test_an_alert_elsewhere_that_names_the_service_is_related_and_shown_downstream(store: Store) -> None:
    """A caller the catalog does not list ("search" is no neighbour of "portal") whose alert says the trouble comes from
    the incident's service is related evidence: the status update shows it as seen downstream. One that does not
    name the service is not."""
    from warroom.ai.summarizer import draft

    s = settings()
    incident = await IncidentService(s, store).declare(service="portal", title="Portal slow", priority="P2")
    now = datetime.now(UTC)
    async with store.tx() as tx:
        for fp, name, summary in (
            ("f1", "SearchTimeouts", "12% of searches time out waiting for portal"),
            ("f2", "SearchIndexLag", "index lag 40s"),
        ):
            await tx.alerts.record(AlertIn(
                source="alertmanager", fingerprint=fp, status=AlertStatus.FIRING, name=name, summary=summary,
                service="search", severity="warning", labels={"alertname": name, "service": "search"},
                starts_at=now - timedelta(minutes=3),
            ), "P3")
    snap = await snapshot(store, s, incident.id)
    assert snap is not None
    assert [a["name"] for a in snap.related_alerts] == ["SearchTimeouts"]
    ctx = build_context(snap, s)
    text = draft(ctx, now, None, []).impact
    assert "Seen downstream: search SearchTimeouts: 12% of searches time out waiting for portal" in text


def test_another_teams_release_is_weighed_when_responders_say_its_version() -> None:
    from warroom.core.model import TimelineEvent
    from warroom.response.ai.context import changes_on

    rows = [
        {"id": 1, "service": "leaderboard-service", "title": "leaderboard-service 7.4.1 — rich entries"},
        {"id": 2, "service": "shop-web", "title": "shop-web 3.2.0 banners"},
    ]

    def said(text: str) -> list[TimelineEvent]:
        return [TimelineEvent(id=1, incident_id=1, kind="discussion", text=text, at=datetime(2026, 1, 1, tzinfo=UTC))]

    picked = changes_on(rows, ["session-service", "redis-core"], said("since lb 7.4.1 each member is a whole profile"))
    assert [r["id"] for r in picked] == [1]
    assert changes_on(rows, ["session-service"], said("memory at 7.4 GB, checking")) == []
