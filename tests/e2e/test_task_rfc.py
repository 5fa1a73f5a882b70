"""Post-incident tasks as Xurrent RFCs, end to end over the real HTTP paths (issue 14, part 2).

The task side is changed in the store through the hook every task change calls (``jobs.task_changed``); the Xurrent
side through the emulator, as a change manager would; Xurrent's webhooks are signed and delivered by the emulator
to the real server, which routes a webhook about a task's RFC to the task and pulls the RFC back over the REST
API. Every row of the seed's RFC tables ("Post-Incident Tasks as RFCs") is crossed in both directions, plus what
the engine promises: created once (also after a crash), echo suppression, one-way services, reconciliation of a
missed webhook, forged webhooks refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update

from warroom.core.model import LinkKind
from warroom.response import jobs
from warroom.response.responders import ResponseService
from warroom.sandbox.harness import Harness
from warroom.store.outbox import Job
from warroom.store.schema import tasks

from .sync_helpers import (
    Calls,
    Pair,
    Tweak,
    claims_for,
    jwt_body,
    open_incident,
    person,
    post_delivery,
    reconcile,
    room_lines,
    sign_hs256,
    sync_all,
    unsigned,
    xurrent_clock,
    xurrent_notes,
)


def checkout_itsm(**itsm: Any) -> Tweak:
    def tweak(data: dict[str, Any]) -> None:
        svc = next(s for s in data["services"] if s["name"] == "checkout-api")
        svc["itsm"].update(itsm)

    return tweak


# -- helpers: the task side --------------------------------------------------------------------------------
async def new_task(h: Harness, incident_id: int, title: str = "Add a canary stage to checkout deploys", *,
                   details: str = "The bad deploy reached 100% of traffic in one step.",
                   owner: str | None = "ben@example.com", status: str = "todo") -> int:
    async with h.runtime.store.tx() as tx:
        task_id = await tx.records.add_task(incident_id, title, details=details, origin="chat", status=status, by="ana")
        await tx.conn.execute(update(tasks).where(tasks.c.id == task_id).values(owner=owner))
        await jobs.task_changed(tx, task_id, h.settings)
    await sync_all(h)
    return task_id


async def change_task(h: Harness, task_id: int, **values: Any) -> None:
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(update(tasks).where(tasks.c.id == task_id)
                              .values(**values, version=tasks.c.version + 1, updated_at=tx.now))
        await jobs.task_changed(tx, task_id, h.settings)
    await sync_all(h)


async def note_task(h: Harness, task_id: int, text: str) -> None:
    async with h.runtime.store.tx() as tx:
        await tx.task_notes.add(task_id, text, "ana@example.com", "imr")
        await jobs.task_changed(tx, task_id, h.settings)
    await sync_all(h)


async def task(h: Harness, task_id: int) -> dict[str, Any]:
    async with h.runtime.store.read() as tx:
        found = await tx.task_links.task(task_id)
    assert found is not None
    return found


async def task_notes(h: Harness, task_id: int) -> list[dict[str, Any]]:
    async with h.runtime.store.read() as tx:
        return await tx.task_notes.of_task(task_id)


def rfcs(h: Harness, task_id: int) -> list[dict[str, Any]]:
    return [r for r in h.world.xurrent.requests.values() if r.get("sourceID") == f"task-{task_id}"]


def rfc(h: Harness, task_id: int) -> dict[str, Any]:
    (found,) = rfcs(h, task_id)
    return found


def desk(h: Harness, request_id: int, **fields: Any) -> None:
    """Dana, a Xurrent person, changes the RFC (signed webhooks follow)."""
    h.world.xurrent.update_request(request_id, fields, person_id=person(h, "dana@example.com"))


async def linked(h: Harness) -> tuple[Pair, int, int]:
    pair = await open_incident(h)
    task_id = await new_task(h, pair.incident)
    return pair, task_id, int(rfc(h, task_id)["id"])


# -- creating the RFC ----------------------------------------------------------------------------------------
async def test_the_rfc_is_created_once_with_the_tables_fields_and_the_first_note(both: Harness) -> None:
    h = both
    pair = await open_incident(h, title="Checkout is down")
    calls = Calls(h)
    task_id = await new_task(h, pair.incident)
    # another change notice for the same task: the RFC is not created again
    async with h.runtime.store.tx() as tx:
        await jobs.task_changed(tx, task_id, h.settings)
    await sync_all(h)
    created = rfc(h, task_id)
    assert calls.writes()["POST /requests"] == 1
    assert created["category"] == "rfc"
    assert created["subject"] == "Add a canary stage to checkout deploys"
    assert created["status"] == "assigned"
    assert created["service_instance"]["id"] == h.world.service_instances["checkout-api"]
    assert created["source"] == h.settings.xurrent.source
    assert created["member"]["id"] == person(h, "ben@example.com")
    (first,) = h.world.xurrent.notes(created["id"])
    assert first["internal"] is True
    text = str(first["text"])
    incident_request = h.world.xurrent.requests[pair.request]
    assert "The bad deploy reached 100% of traffic in one step." in text
    assert f"INC-{pair.incident}" in text and "Checkout is down" in text
    assert f"#{incident_request['id']}" in text
    assert f"/requests/{pair.request}" in text  # the incident request's URL
    async with h.runtime.store.read() as tx:
        link = await tx.task_links.get(task_id)
        room = await tx.links.get(pair.incident, LinkKind.SLACK_CHANNEL)
    assert room is not None and room.url and f"War room: {room.url}" in text
    assert link is not None and link.remote_id == str(created["id"])
    assert any(f"RFC #{created['id']} created" in line for line in room_lines(h, pair.incident))


async def test_a_crash_between_creating_the_rfc_and_linking_it_creates_no_second(lite: Harness) -> None:
    h = lite
    pair = await open_incident(h)
    crashed: list[int] = []

    async def before_commit(job: Job) -> None:
        if job.kind == "itsm.task_push" and not crashed:
            crashed.append(job.id)
            raise ConnectionError("the process died after Xurrent's answer, before the link was recorded")

    h.runtime.worker.before_commit = before_commit
    task_id = await new_task(h, pair.incident)
    for _ in range(20):
        async with h.runtime.store.read() as tx:
            if await tx.task_links.get(task_id) is not None:
                break
        await h.runtime.worker.run_until_idle(timeout=5)
        await sync_all(h)
    assert crashed
    assert len(rfcs(h, task_id)) == 1
    async with h.runtime.store.read() as tx:
        link = await tx.task_links.get(task_id)
    assert link is not None and link.remote_id == str(rfc(h, task_id)["id"])


async def test_a_proposed_task_gets_no_rfc_and_an_owner_not_in_xurrent_no_member(lite: Harness) -> None:
    h = lite
    pair = await open_incident(h)
    proposed = await new_task(h, pair.incident, "Review the alert thresholds", status="proposed")
    assert rfcs(h, proposed) == []
    outsider = await new_task(h, pair.incident, "Fix the payment retries", owner="fay@contractor.example")
    assert rfc(h, outsider)["member"] is None
    # a proposed task someone takes (proposed → To Do) gets its RFC then
    await change_task(h, proposed, status="todo")
    assert rfc(h, proposed)["status"] == "assigned"


# -- status both ways ----------------------------------------------------------------------------------------
@pytest.mark.one_db(
    "a status table's mapping; the RFC sync's store path keeps PostgreSQL in the create-once, notes and echo tests",
)
async def test_status_from_the_task_to_the_rfc_by_the_table(both: Harness) -> None:
    h = both
    _pair, task_id, rid = await linked(h)
    for status, expected in (("in_progress", "in_progress"), ("done", "completed"), ("todo", "assigned")):
        await change_task(h, task_id, status=status)
        assert h.world.xurrent.requests[rid]["status"] == expected, status
    await change_task(h, task_id, status="wont_do", closed_reason="superseded")
    assert h.world.xurrent.requests[rid]["status"] == "completed"
    assert h.world.xurrent.requests[rid]["completion_reason"] == "withdrawn"


@pytest.mark.one_db(
    "a status table's mapping; the RFC sync's store path keeps PostgreSQL in the create-once, notes and echo tests",
)
async def test_status_from_the_rfc_to_the_task_by_the_table_and_outside_it(both: Harness) -> None:
    h = both
    pair, task_id, rid = await linked(h)
    for status, expected in (
        ("in_progress", "in_progress"), ("completed", "done"), ("assigned", "todo"),
        ("waiting_for", "in_progress"), ("on_backlog", "todo"), ("accepted", "in_progress"),
        ("workflow_pending", "in_progress"),
    ):
        body: dict[str, Any] = {"status": status}
        if status == "completed":
            body["completion_reason"] = "solved"
        desk(h, rid, **body)
        await sync_all(h)
        assert (await task(h, task_id))["status"] == expected, status
    lines = room_lines(h, pair.incident)
    assert any("In Progress" in line and "Add a canary stage" in line for line in lines)


async def test_a_declined_rfc_leaves_the_task_and_tells_its_owner(lite: Harness) -> None:
    h = lite
    pair, task_id, rid = await linked(h)
    await change_task(h, task_id, status="in_progress")
    calls = Calls(h)
    desk(h, rid, status="declined")
    await sync_all(h)
    assert (await task(h, task_id))["status"] == "in_progress"
    assert h.world.xurrent.requests[rid]["status"] == "declined"  # warroom does not argue
    assert not calls.writes()
    assert any("declined" in line and "ben@example.com" in line for line in room_lines(h, pair.incident))


async def test_the_subject_follows_the_title_both_ways(lite: Harness) -> None:
    h = lite
    _pair, task_id, rid = await linked(h)
    await change_task(h, task_id, title="Canary stage for every checkout deploy")
    assert h.world.xurrent.requests[rid]["subject"] == "Canary stage for every checkout deploy"
    desk(h, rid, subject="Canary stage (10%) for checkout deploys")
    await sync_all(h)
    assert (await task(h, task_id))["title"] == "Canary stage (10%) for checkout deploys"


# -- notes both ways -----------------------------------------------------------------------------------------
async def test_notes_cross_both_ways_once_each(both: Harness) -> None:
    h = both
    pair, task_id, rid = await linked(h)
    await note_task(h, task_id, "Draft PR: the pipeline gets a 10% stage")
    await note_task(h, task_id, "Reviewed with the platform team")
    notes = h.world.xurrent.notes(rid)
    assert [n["text"] for n in notes[1:]] == ["Draft PR: the pipeline gets a 10% stage", "Reviewed with the platform team"]
    assert all(n["internal"] for n in notes)
    h.world.xurrent.add_note(rid, "CAB approved for Thursday", person_id=person(h, "dana@example.com"))
    await sync_all(h)
    await reconcile(h)  # a second look at the RFC adds nothing twice
    mine = await task_notes(h, task_id)
    assert [(n["text"], n["origin"]) for n in mine] == [
        ("Draft PR: the pipeline gets a 10% stage", "imr"), ("Reviewed with the platform team", "imr"),
        ("CAB approved for Thursday", "itsm"),
    ]
    assert xurrent_notes(h, rid).count("Draft PR: the pipeline gets a 10% stage") == 1
    assert any("CAB approved for Thursday" in line for line in room_lines(h, pair.incident))


async def test_task_notes_follow_a_public_note_visibility(start: Callable[..., Any]) -> None:
    h = await start(checkout_itsm(note_visibility="public"))
    pair = await open_incident(h)
    task_id = await new_task(h, pair.incident)
    rid = int(rfc(h, task_id)["id"])
    await note_task(h, task_id, "Public progress")
    assert h.world.xurrent.notes(rid)[-1]["internal"] is False


async def test_no_notes_cross_when_rfc_note_sync_is_off(start: Callable[..., Any]) -> None:
    quiet = await start(checkout_itsm(rfc_note_sync=False))
    pair = await open_incident(quiet)
    task_id = await new_task(quiet, pair.incident)
    rid = int(rfc(quiet, task_id)["id"])
    await note_task(quiet, task_id, "Stays in warroom")
    quiet.world.xurrent.add_note(rid, "Stays in Xurrent", person_id=person(quiet, "dana@example.com"))
    await sync_all(quiet)
    assert xurrent_notes(quiet, rid)[1:] == ["Stays in Xurrent"]  # the first note, and the desk's own
    assert [n["text"] for n in await task_notes(quiet, task_id)] == ["Stays in warroom"]


# -- the engine's promises -----------------------------------------------------------------------------------
async def test_a_task_change_is_one_patch_and_its_echo_reads_nothing(both: Harness) -> None:
    h = both
    _pair, task_id, rid = await linked(h)
    calls = Calls(h)
    await change_task(h, task_id, status="in_progress")
    ops = calls.ops()
    assert calls.writes() == {"PATCH /requests/:id": 1}
    assert ops["GET /requests/:id"] == 0 and ops["GET /requests/:id/notes"] == 0  # the echo was recognised
    desk_calls = Calls(h)
    desk(h, rid, status="completed", completion_reason="solved")
    await sync_all(h)
    assert (await task(h, task_id))["status"] == "done"
    # one status change in Xurrent sends two webhooks (request.update and request.status-changed); they share one
    # read when the second arrives before the first one's pull has run, else each reads once — never a write back
    reads = desk_calls.ops()["GET /requests/:id"]
    assert 1 <= reads <= 2 and not desk_calls.writes(), (reads, desk_calls.writes())


async def test_rfc_direction_imr_to_itsm_never_reads_back(start: Callable[..., Any]) -> None:
    out = await start(checkout_itsm(rfc_direction="imr_to_itsm"))
    pair = await open_incident(out)
    task_id = await new_task(out, pair.incident)
    rid = int(rfc(out, task_id)["id"])
    desk(out, rid, status="in_progress")
    await sync_all(out)
    assert (await task(out, task_id))["status"] == "todo"  # never read back
    await change_task(out, task_id, status="done")
    assert out.world.xurrent.requests[rid]["status"] == "completed"


async def test_rfc_direction_itsm_to_imr_creates_no_rfc(start: Callable[..., Any]) -> None:
    inward = await start(checkout_itsm(rfc_direction="itsm_to_imr"))
    pair = await open_incident(inward)
    task_id = await new_task(inward, pair.incident)
    assert rfcs(inward, task_id) == []  # ITSM → IMR: warroom creates no RFC


async def test_reconciliation_picks_up_a_missed_webhook(lite: Harness) -> None:
    h = lite
    clock = xurrent_clock(h, ahead=-600)
    _pair, task_id, rid = await linked(h)
    h.world.xurrent.webhooks.config.drop_rate = 1.0
    clock.tick(5)
    desk(h, rid, status="in_progress")
    h.world.xurrent.add_note(rid, "Scheduled for the next sprint", person_id=person(h, "dana@example.com"))
    await sync_all(h)
    assert (await task(h, task_id))["status"] == "todo"  # nothing arrived
    await reconcile(h)
    assert (await task(h, task_id))["status"] == "in_progress"
    assert [n["text"] for n in await task_notes(h, task_id)] == ["Scheduled for the next sprint"]


async def test_a_forged_webhook_about_an_rfc_is_refused(lite: Harness) -> None:
    h = lite
    _pair, task_id, rid = await linked(h)
    desk_status = h.world.xurrent.requests[rid]["status"]
    claims = claims_for(h, request_id=rid, event="request.status-changed")
    for token in (unsigned(claims), sign_hs256(claims, b"not-the-policy-secret")):
        status, _ = await post_delivery(h, jwt_body(token))
        assert status == 401
    await h.runtime.worker.run_until_idle()
    async with h.runtime.store.read() as tx:
        pending = [j for j in await tx.outbox.jobs(None) if j["kind"] == "itsm.task_pull"]
    assert pending == []
    assert (await task(h, task_id))["status"] == "todo" and desk_status == "assigned"


async def test_an_rfc_xurrent_refuses_is_told_and_tried_again_on_the_next_change(lite: Harness) -> None:
    h = lite
    pair = await open_incident(h)
    svc = h.settings.service("checkout-api")
    assert svc is not None
    instance = svc.itsm.service_instance_id
    svc.itsm.service_instance_id = None  # no service instance: Xurrent cannot find a team for the RFC (422)
    task_id = await new_task(h, pair.incident)
    assert rfcs(h, task_id) == []
    told = [line for line in room_lines(h, pair.incident) if "Xurrent refused the RFC" in line]
    assert told and "ben@example.com" in told[0] and "Team" in told[0]
    svc.itsm.service_instance_id = instance
    await change_task(h, task_id, status="in_progress")
    assert rfc(h, task_id)["status"] == "in_progress"


async def test_hostile_long_text_is_kept_whole_cut_to_xurrents_limits_and_shown_escaped(lite: Harness) -> None:
    h = lite
    pair = await open_incident(h)
    title = "<!channel> fix <https://evil.example|this> @here " + "x" * 10_000
    task_id = await new_task(h, pair.incident, title)
    created = rfc(h, task_id)
    assert created["subject"] == title[:254] + "…"  # cut visibly to Xurrent's 255 characters
    stored = (await task(h, task_id))["title"]
    assert stored == title  # kept whole
    assert f"Full title: {title}" in h.world.xurrent.notes(created["id"])[0]["text"]
    note = "<!everyone> see <https://evil.example> " + "y" * 10_000
    await note_task(h, task_id, note)
    assert h.world.xurrent.notes(created["id"])[-1]["text"] == note
    h.world.xurrent.add_note(created["id"], "<!channel> ping", person_id=person(h, "dana@example.com"))
    await sync_all(h)
    lines = [line for line in room_lines(h, pair.incident) if "RFC #" in line]
    assert lines and not any("<!channel>" in line or "<!everyone>" in line for line in lines)


async def test_a_deleted_tasks_rfc_is_left_alone(lite: Harness) -> None:
    """A task deleted while its RFC exists: the link goes with it; the RFC stays in Xurrent, and its later changes
    are warroom's own request's (its source), never escalated or applied anywhere."""
    h = lite
    _pair, task_id, rid = await linked(h)
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(tasks.delete().where(tasks.c.id == task_id))
    async with h.runtime.store.read() as tx:
        assert await tx.task_links.find(str(rid)) is None
        before = await tx.incidents.count()
    calls = Calls(h)
    desk(h, rid, status="in_progress")
    h.world.xurrent.add_note(rid, "Still working on it", person_id=person(h, "dana@example.com"))
    await sync_all(h)
    await reconcile(h)
    assert not calls.writes()
    async with h.runtime.store.read() as tx:
        dead = [j for j in await tx.outbox.jobs() if j["status"] == "dead"]
        after = await tx.incidents.count()
    assert dead == [] and before == after


async def test_an_incident_reopened_or_merged_keeps_its_tasks_and_their_rfcs_in_sync(lite: Harness) -> None:
    """As documented in sync/rfc_mapping.py: a task belongs to the incident it came from; reopening that incident or
    merging it into another changes neither the task nor its RFC, and the RFC keeps following the task."""
    h = lite
    pair, task_id, rid = await linked(h)
    await h.runtime.incidents.resolve(pair.incident, actor="ana")
    await h.runtime.incidents.reopen(pair.incident, actor="ana")
    other = await h.runtime.incidents.declare(service="checkout-api", title="Checkout again", priority="P1", actor="ana")
    await sync_all(h)
    await ResponseService(h.settings, h.runtime.store).merge(other.id, pair.incident, actor="ana")
    await sync_all(h)
    assert rfcs(h, task_id) == [h.world.xurrent.requests[rid]]
    assert (await task(h, task_id))["incident_id"] == pair.incident
    desk(h, rid, status="in_progress")
    await sync_all(h)
    assert (await task(h, task_id))["status"] == "in_progress"
    async with h.runtime.store.tx() as tx:
        await tx.records.update_task(task_id, status="done")
        await jobs.task_changed(tx, task_id, h.settings)
    await sync_all(h)
    assert h.world.xurrent.requests[rid]["status"] == "completed"
