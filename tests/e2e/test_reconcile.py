"""Reconciliation repairs what lost webhooks left behind, with one list call per pass (per 100 changed requests),
from a cursor that moves on — and sees a change made in the same second as warroom's last read."""

from __future__ import annotations

from urllib.parse import unquote

from warroom.core.jobs import RECONCILE
from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness

from .helpers import critical_alert, war_room
from .sync_helpers import (
    Calls,
    incident,
    incident_notes,
    open_incident,
    person,
    request,
    sync_all,
    xurrent_clock,
)
from .sync_helpers import reconcile as reconcile_and_deliver


async def reconcile(h: Harness) -> None:
    async with h.runtime.store.tx() as tx:
        await tx.outbox.enqueue(RECONCILE)
    await h.runtime.worker.run_until_idle()


async def test_a_change_whose_webhooks_were_all_lost_is_repaired(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    # Xurrent's changes are stamped ten minutes before our clock: a pass comes well after their second, as the
    # periodic one does (a pass within the same second would read the boundary again; see the same-second test)
    clock = xurrent_clock(h, ahead=-600)
    incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
    assert await h.wait_complete(incident) == []
    request = war_room(h, incident).requests[0]
    h.world.xurrent.webhooks.config.drop_rate = 1.0
    clock.tick(5)
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


# -- one-second stamps ---------------------------------------------------------------------------------------
async def test_a_desk_change_in_the_same_second_as_warrooms_read_whose_webhook_was_lost_is_repaired(
    sqlite_harness: Harness,
) -> None:
    """Xurrent stamps updated_at to the second: a desk change in the second warroom last read the request in leaves
    updated_at as that read saw it. Its webhook lost, only a pass that compares with >= (and reads again) sees it."""
    h = sqlite_harness
    h.world.xurrent.config.rate_limits = False
    xurrent_clock(h, ahead=3600)  # frozen: every change below lands in one second, which by our clock is not over
    pair = await open_incident(h)
    x, dana = h.world.xurrent, person(h, "dana@example.com")
    x.update_request(pair.request, {"subject": "Checkout down in EU"}, person_id=dana)
    await sync_all(h)  # delivered: warroom reads the request in that second
    assert (await incident(h, pair.incident)).title == "Checkout down in EU"
    stamp = request(h, pair.request)["updated_at"]
    x.webhooks.config.drop_rate = 1.0
    x.update_request(pair.request, {"urgent": False}, person_id=dana)  # the same second, its webhook lost
    await sync_all(h)
    assert request(h, pair.request)["updated_at"] == stamp  # nothing in the stamp says it moved
    assert (await incident(h, pair.incident)).urgency.value == "high"
    await reconcile_and_deliver(h)
    assert (await incident(h, pair.incident)).urgency.value == "low"


async def test_a_note_whose_hint_was_lost_is_not_hidden_by_a_later_read_of_the_request(
    sqlite_harness: Harness,
) -> None:
    """What made chaos-2 of test_duplicated_reordered_and_lost_deliveries… fail now and then: a request.update pull
    reads the request, not its notes, and kept the request's updated_at as "seen" — so a desk note added before it,
    whose own hint was lost, looked seen to reconciliation and never arrived. Here with the clock in hand: the note
    and the update a minute apart, every read long after its second."""
    h = sqlite_harness
    h.world.xurrent.config.rate_limits = False
    clock = xurrent_clock(h, ahead=-86_400)
    pair = await open_incident(h)
    x, dana = h.world.xurrent, person(h, "dana@example.com")
    clock.tick(60)
    x.webhooks.config.drop_rate = 1.0
    x.add_note(pair.request, "Desk: EU only", person_id=dana)  # its hint lost
    await sync_all(h)
    x.webhooks.config.drop_rate = 0.0
    clock.tick(60)
    x.update_request(pair.request, {"subject": "Checkout down in EU"}, person_id=dana)  # its hint delivered
    await sync_all(h)
    assert (await incident(h, pair.incident)).title == "Checkout down in EU"  # the request was read …
    assert "Desk: EU only" not in await incident_notes(h, pair.incident)  # … not its notes
    await reconcile_and_deliver(h)
    assert await incident_notes(h, pair.incident) == ["Desk: EU only"]


# -- the cursor ------------------------------------------------------------------------------------------------
async def test_each_pass_lists_what_changed_since_the_last_not_since_the_oldest_watched_link(
    sqlite_harness: Harness,
) -> None:
    h = sqlite_harness
    x = h.world.xurrent
    x.config.rate_limits = False
    clock = xurrent_clock(h, ahead=-86_400)
    pair = await open_incident(h)  # a watched link, from the start
    x.webhooks.config.drop_rate = 1.0  # the desk's traffic: its hints do not matter here
    printers = x.add_service_instance("Printers", x.add_team("Facilities"))
    for n in range(150):  # a busy desk: 150 requests in 150 seconds, on a service warroom does not watch
        clock.tick(1)
        x.create_request({"subject": f"Printer {n} jammed", "category": "incident", "impact": "low",
                          "service_instance_id": printers})
    newest = x.requests[max(x.requests)]["updated_at"]

    first = Calls(h)
    await reconcile_and_deliver(h)  # no cursor yet: from the oldest watched link, two pages
    assert first.ops()["GET /requests"] == 2

    clock.tick(60)
    x.update_request(pair.request, {"subject": "Checkout down in EU"}, person_id=person(h, "dana@example.com"))
    second = Calls(h)
    await reconcile_and_deliver(h)  # from the cursor: the boundary second again, and the one change since
    lists = [unquote(c.path) for c in x.calls[second._mark:] if c.op == "GET /requests"]
    assert len(lists) == 1 and f"updated_at=>={newest}" in lists[0]
    assert second.ops()["GET /requests/:id"] == 1 and (await incident(h, pair.incident)).title == "Checkout down in EU"

    third = Calls(h)
    await reconcile_and_deliver(h)  # nothing moved: one list call, nothing read
    assert dict(third.ops()) == {"GET /requests": 1}
    lists = [unquote(c.path) for c in x.calls[third._mark:] if c.op == "GET /requests"]
    assert f"updated_at=>={request(h, pair.request)['updated_at']}" in lists[0]


async def test_a_request_moved_to_a_watched_service_is_escalated_by_the_next_pass(sqlite_harness: Harness) -> None:
    """An update to a request of a service warroom does not watch costs no read while its service instance is
    remembered (sync/watch.py) — so if the desk moves it onto a watched one, the pass (which lists every request's
    instance) is what escalates it."""
    h = sqlite_harness
    x = h.world.xurrent
    x.config.rate_limits = False
    pair = await open_incident(h)
    printers = x.add_service_instance("Printers", x.add_team("Facilities"))
    desk = x.create_request({"subject": "Payments failing for all customers", "category": "incident",
                             "impact": "low", "service_instance_id": printers},
                            person_id=person(h, "dana@example.com"))
    await sync_all(h)  # request.create: read once, its instance remembered
    reads = Calls(h)
    x.update_request(desk["id"], {"service_instance_id": h.world.service_instances["payments"], "impact": "top"},
                     person_id=person(h, "dana@example.com"))
    await sync_all(h)
    assert reads.ops()["GET /requests/:id"] == 0  # remembered as a printer request: not read
    async with h.runtime.store.read() as tx:
        assert await tx.links.find(LinkKind.XURRENT_REQUEST, str(desk["id"])) is None
    await reconcile_and_deliver(h)
    async with h.runtime.store.read() as tx:
        link = await tx.links.find(LinkKind.XURRENT_REQUEST, str(desk["id"]))
    assert link is not None and link.incident_id != pair.incident
