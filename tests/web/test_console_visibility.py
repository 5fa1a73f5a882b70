"""Who sees what in the console (warroom.web.console.visibility): an incident whose only war room is private is
shown in full only to the people who took part in it; the list's title and service filters do not find it for
anyone else. On SQLite and PostgreSQL (the participants and the list are read from the database)."""

from __future__ import annotations

from typing import Any

from warroom.core.model import Origin, RoleHolder, Stakeholder, Status
from warroom.response.incidents import IncidentService
from warroom.settings import Settings
from warroom.store import console as reads
from warroom.store.db import Store
from warroom.web.console import visibility

PRIORITIES = ["P1", "P2", "P3", "P4", "P5"]


def settings() -> Settings:
    svc: dict[str, Any] = {"responders": ["ana@example.com"], "bridge": "none"}
    return Settings(
        slack={"enabled": False}, teams={"enabled": False}, xurrent={"enabled": False},
        services=[
            {"name": "payments", **svc},
            {"name": "hr", "chat": "teams", "teams": {"war_room": "chat"}, **svc},
            {"name": "legal", "chat": "teams", "teams": {"war_room": "private"}, **svc},
            {"name": "wiki", "chat": "teams", "teams": {"war_room": "standard"}, **svc},
            {"name": "shop", "chat": "both", "teams": {"war_room": "private"}, **svc},
        ],
    )


def test_private_means_the_only_war_room_is_private() -> None:
    s = settings()
    assert visibility.private_services(s) == ["hr", "legal"]
    assert visibility.is_private(s, "hr") and visibility.is_private(s, "legal")
    # a standard Teams channel, a Slack channel, or a Slack channel beside a private Teams one: not private
    assert not any(visibility.is_private(s, name) for name in ("payments", "wiki", "shop", "unconfigured"))


def test_a_private_incident_is_for_those_who_took_part() -> None:
    s = settings()
    took_part = {"bo@example.com"}
    assert visibility.may_see(s, "hr", "bo@example.com", took_part)
    assert visibility.may_see(s, "hr", " Bo@Example.com ", took_part)  # as the identity provider spells it
    assert not visibility.may_see(s, "hr", "cy@example.com", took_part)
    assert not visibility.may_see(s, "hr", "", {""})
    assert visibility.may_see(s, "payments", "cy@example.com", set())  # not private: everyone signed in


async def test_who_took_part_and_what_the_filters_find(store: Store) -> None:
    s = settings()
    service = IncidentService(s, store)
    hr = await service.declare(service="hr", title="Payroll export leaked", priority="P1", origin=Origin.CHAT)
    await service.declare(service="payments", title="Payroll card declines", priority="P2", origin=Origin.CHAT)
    quiet = await service.declare(service="legal", title="Payroll contract", priority="P3", origin=Origin.CHAT)
    async with store.tx() as tx:
        await tx.roles.assign(hr.id, RoleHolder("commander", "Bo", "Bo@example.com", "slack:U0BO"), by=None)
        await tx.pages.add(hr.id, "dee@example.com", "Dee", by=None)
        await tx.stakeholders.add(hr.id, Stakeholder("email", "eve@example.com", "Eve"), by=None)
        await tx.stakeholders.add(hr.id, Stakeholder("user", "slack:U0FAY", "Fay"), by=None)
        await tx.timeline.add(hr.id, "note", "looking", actor="gus@example.com")
        await tx.timeline.add(hr.id, "note", "by chat id", actor="slack:U0HAL")
        await tx.incidents.update(quiet.id, status=Status.RESOLVED)
    async with store.read() as tx:
        found = await reads.participants(tx.conn, [hr.id, quiet.id])
        private = visibility.private_services(s)

        async def titles(email: str, **asked: Any) -> list[str]:
            rows, total = await reads.incident_page(tx.conn, reads.ListQuery(**asked), PRIORITIES,
                                                    private_services=private, email=email)
            assert total == len(rows)
            return [r.title for r in rows]

        # open first (by priority), then resolved; private ones listed (shown as private) without a filter
        everything = await titles("cy@example.com")
        by_service_bo = await titles("bo@example.com", service="hr")
        by_service_cy = await titles("cy@example.com", service="hr")
        searched_gus = await titles("gus@example.com", text="PAYROLL")
        searched_cy = await titles("cy@example.com", text="payroll")
        resolved = await titles("cy@example.com", status="resolved")
        opened = await titles("cy@example.com", status="open", priority="P2")
        counts = await reads.open_by_priority(tx.conn)
    assert found[hr.id] == {"ana@example.com", "bo@example.com", "dee@example.com", "eve@example.com",
                            "gus@example.com"}  # the assignee (the service's responder) too
    assert found[quiet.id] == {"ana@example.com"}
    assert everything == ["Payroll export leaked", "Payroll card declines", "Payroll contract"]
    assert by_service_bo == ["Payroll export leaked"] and by_service_cy == []
    assert searched_gus == ["Payroll export leaked", "Payroll card declines"]  # legal's: gus took no part
    assert searched_cy == ["Payroll card declines"]
    assert resolved == ["Payroll contract"] and opened == ["Payroll card declines"]
    assert counts == {"P1": 1, "P2": 1}


async def test_a_title_search_takes_like_wildcards_literally(store: Store) -> None:
    s = settings()
    service = IncidentService(s, store)
    await service.declare(service="payments", title="100% of card_auth calls fail", priority="P1", origin=Origin.CHAT)
    await service.declare(service="payments", title="1000 cardXauth errors", priority="P1", origin=Origin.CHAT)
    async with store.read() as tx:
        percent, _ = await reads.incident_page(tx.conn, reads.ListQuery(text="0%"), PRIORITIES)
        underscore, _ = await reads.incident_page(tx.conn, reads.ListQuery(text="card_auth"), PRIORITIES)
        page_two, total = await reads.incident_page(tx.conn, reads.ListQuery(offset=1, limit=1), PRIORITIES)
    assert [r.title for r in percent] == ["100% of card_auth calls fail"]
    assert [r.title for r in underscore] == ["100% of card_auth calls fail"]
    assert total == 2 and [r.title for r in page_two] == ["100% of card_auth calls fail"]  # the newest first
