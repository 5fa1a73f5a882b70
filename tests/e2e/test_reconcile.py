"""Reconciliation repairs what lost webhooks left behind, with one list call per pass."""

from __future__ import annotations

from warroom.core.jobs import RECONCILE
from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness

from .helpers import critical_alert, war_room


async def reconcile(h: Harness) -> None:
    async with h.runtime.store.tx() as tx:
        await tx.outbox.enqueue(RECONCILE)
    await h.runtime.worker.run_until_idle()


async def test_a_change_whose_webhooks_were_all_lost_is_repaired(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    request = war_room(h, incident).requests[0]
    h.world.xurrent.webhooks.config.drop_rate = 1.0
    h.world.xurrent.update_request(request["id"], {"status": "in_progress", "urgent": False},
                                   person_id=h.world.xurrent_people["dana@example.com"])
    await h.world.xurrent.webhooks.settle()
    await h.runtime.worker.run_until_idle()
    async with h.runtime.store.read() as tx:
        assert (await tx.incidents.get(incident)).status.value == "triggered"  # type: ignore[union-attr]
    lists_before = len(h.world.xurrent.calls_to("GET /requests"))
    await reconcile(h)
    async with h.runtime.store.read() as tx:
        repaired = await tx.incidents.get(incident)
    assert repaired is not None and repaired.status.value == "acknowledged" and repaired.urgency.value == "low"
    assert len(h.world.xurrent.calls_to("GET /requests")) == lists_before + 1
    # nothing moved since: the next pass pulls nothing
    gets = len(h.world.xurrent.calls_to("GET /requests/:id"))
    await reconcile(h)
    assert len(h.world.xurrent.calls_to("GET /requests/:id")) == gets


async def test_a_missed_escalation_is_caught(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    h.world.xurrent.webhooks.config.drop_rate = 1.0
    # an open linked request gives reconciliation its starting point
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    desk = h.world.xurrent.create_request({
        "subject": "Payments failing for all customers", "category": "incident", "impact": "top",
        "service_instance_id": h.world.service_instances["payments"],
    })
    await reconcile(h)
    async with h.runtime.store.read() as tx:
        incidents = await tx.incidents.list()
    escalated = [i for i in incidents if i.origin.value == "itsm"]
    assert len(escalated) == 1 and escalated[0].title == "Payments failing for all customers"
    assert await h.wait_complete(escalated[0].id) == []
    assert [r["id"] for r in war_room(h, escalated[0].id).requests] == []  # linked to the desk's, none created
    async with h.runtime.store.read() as tx:
        link = await tx.links.find(LinkKind.XURRENT_REQUEST, str(desk["id"]))
    assert link is not None and link.incident_id == escalated[0].id


async def test_escalate_from_chat(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    low = h.world.xurrent.create_request({
        "subject": "Some users see slow checkout", "category": "incident", "impact": "low",
        "service_instance_id": h.world.service_instances["checkout-api"],
    })
    await h.world.xurrent.webhooks.settle()
    await h.runtime.worker.run_until_idle()
    async with h.runtime.store.read() as tx:
        assert await tx.incidents.count() == 0  # below the threshold: not escalated by itself
    reply = await h.slack_command(f"escalate {h.world.xurrent.base_url}/web/requests/{low['id']}")
    assert f"declared from Xurrent request #{low['id']}" in reply.text
    again = await h.slack_command(f"escalate #{low['id']}")
    assert "already linked" in again.text
    assert "is not a Xurrent request number or link" in (await h.slack_command("escalate yesterday's")).text
    missing = await h.slack_command("escalate 999999")
    assert "could not be read" in missing.text
    async with h.runtime.store.read() as tx:
        (incident,) = await tx.incidents.list()
    assert incident.origin.value == "itsm" and incident.title == "Some users see slow checkout"
    assert await h.wait_complete(incident.id) == []
