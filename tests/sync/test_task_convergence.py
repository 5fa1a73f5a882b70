"""A post-incident task and its RFC converge: random interleavings of edits on both sides, lost, repeated and
reordered webhooks, and Xurrent outages leave the task and its RFC agreeing on title and status (per the seed's RFC
table, ``RfcCodec.agree``), with every note on both sides exactly once — and once quiet, the sync stays quiet.

The same machine as tests/sync/test_convergence.py (the real server on SQLite against the emulators over loopback
HTTP, one harness for the run, a fresh incident and task per example), for the RFC half of the engine.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import update

from warroom.core.jobs import RECONCILE
from warroom.response import jobs
from warroom.sandbox.harness import Harness
from warroom.store.schema import tasks
from warroom.sync.rfc_mapping import RFC_FIELDS, RfcCodec

from .test_convergence import OUTAGE_OPS, WRITES, Env, calm, close_env, open_env, reconcile, rest

T = TypeVar("T")

TITLES = ["Add a canary stage", "Canary stage for checkout deploys", "Roll out by 10% first"]
SUBJECTS = ["Canary stage (CAB)", "Add a canary stage", "Checkout canary"]
TASK_STATUSES = ["todo", "in_progress", "done", "wont_do"]
DESK_STATUSES = ["assigned", "accepted", "in_progress", "waiting_for", "on_backlog", "completed", "declined"]
IMR_NOTES = ["Draft PR up", "Reviewed with platform", "Draft PR up"]
DESK_NOTES = ["CAB approved", "Scheduled for Thursday", "Draft PR up"]
CODEC = RfcCodec()

chaos_st = st.tuples(st.sampled_from([0.0, 0.5, 1.0]), st.sampled_from([0.0, 0.5]), st.sampled_from([0.0, 0.05]),
                     st.integers(0, 2**16))
task_st = st.fixed_dictionaries(
    {}, optional={"title": st.sampled_from(TITLES), "status": st.sampled_from(TASK_STATUSES)}).filter(bool)
desk_st = st.fixed_dictionaries(
    {}, optional={"subject": st.sampled_from(SUBJECTS), "status": st.sampled_from(DESK_STATUSES)}).filter(bool)


async def read_task(h: Harness, task_id: int) -> tuple[dict[str, Any], list[str]]:
    async with h.runtime.store.read() as tx:
        task = await tx.task_links.task(task_id)
        notes = await tx.task_notes.of_task(task_id)
    assert task is not None
    return task, [str(n["text"]) for n in notes]


async def dead_task_jobs(h: Harness) -> list[tuple[str, str]]:
    async with h.runtime.store.read() as tx:
        rows = await tx.outbox.jobs()
    return [(j["kind"], str(j["last_error"])) for j in rows
            if j["status"] == "dead" and str(j["kind"]).startswith("itsm.task_")]


class TaskSyncMachine(RuleBasedStateMachine):
    env: ClassVar[Env]

    def __init__(self) -> None:
        super().__init__()
        self.h = type(self).env.h
        self.broken = False
        self.outage = False
        self.task_id = 0
        self.request_id = 0

    def run(self, step: Coroutine[Any, Any, T]) -> T:
        try:
            return type(self).env.run(step)
        except BaseException:
            self.broken = True
            raise

    def settle(self) -> None:
        h = self.h

        async def go() -> None:
            await h.world.xurrent.webhooks.settle()
            if self.outage:
                await asyncio.sleep(0.05)
            else:
                await h.runtime.worker.run_until_idle()

        self.run(go())

    @initialize(chaos=chaos_st)
    def open_task(self, chaos: tuple[float, float, float, int]) -> None:
        h = self.h
        calm(h)

        async def go() -> int:
            await rest(h)
            incident = await h.runtime.incidents.declare(service="checkout-api", title="Checkout is down",
                                                         priority="P1", details="Error ratio 0.12", actor="ana")
            assert await h.wait_complete(incident.id) == []
            async with h.runtime.store.tx() as tx:
                task_id = await tx.records.add_task(incident.id, TITLES[0], details="From the postmortem",
                                                    origin="postmortem", status="todo", by="ana")
                await tx.conn.execute(update(tasks).where(tasks.c.id == task_id).values(owner="ben@example.com"))
                await jobs.task_changed(tx, task_id, h.settings)
            await rest(h)
            return task_id

        self.task_id = self.run(go())
        (rfc,) = [r for r in h.world.xurrent.requests.values() if r["sourceID"] == f"task-{self.task_id}"]
        self.request_id = int(rfc["id"])
        self.set_chaos(*chaos)

    def set_chaos(self, drop: float, duplicate: float, reorder: float, seed: int) -> None:
        hub = self.h.world.xurrent.webhooks
        hub._rng.seed(seed)
        hub.config.drop_rate, hub.config.duplicate_rate, hub.config.reorder_window = drop, duplicate, reorder

    # -- the task side ----------------------------------------------------------------------------------------
    @rule(changes=task_st, then_settle=st.booleans())
    def task_edit(self, changes: dict[str, Any], then_settle: bool) -> None:
        h, task_id = self.h, self.task_id

        async def go() -> None:
            async with h.runtime.store.tx() as tx:
                await tx.conn.execute(update(tasks).where(tasks.c.id == task_id)
                                      .values(**changes, version=tasks.c.version + 1, updated_at=tx.now))
                await jobs.task_changed(tx, task_id, h.settings)

        self.run(go())
        if then_settle:
            self.settle()

    @rule(text=st.sampled_from(IMR_NOTES), then_settle=st.booleans())
    def task_note(self, text: str, then_settle: bool) -> None:
        h, task_id = self.h, self.task_id

        async def go() -> None:
            async with h.runtime.store.tx() as tx:
                await tx.task_notes.add(task_id, text, "ana@example.com", "imr")
                await jobs.task_changed(tx, task_id, h.settings)

        self.run(go())
        if then_settle:
            self.settle()

    # -- the Xurrent side -------------------------------------------------------------------------------------
    @rule(changes=desk_st, then_settle=st.booleans())
    def desk_edit(self, changes: dict[str, Any], then_settle: bool) -> None:
        body = dict(changes)
        if body.get("status") == "completed":
            body["completion_reason"] = "solved"
        self.h.world.xurrent.update_request(self.request_id, body, person_id=self.h.world.xurrent_people["dana@example.com"])
        if then_settle:
            self.settle()

    @rule(text=st.sampled_from(DESK_NOTES), then_settle=st.booleans())
    def desk_note(self, text: str, then_settle: bool) -> None:
        self.h.world.xurrent.add_note(self.request_id, text, person_id=self.h.world.xurrent_people["dana@example.com"])
        if then_settle:
            self.settle()

    # -- delivery, reconciliation and faults ------------------------------------------------------------------
    @rule(chaos=chaos_st)
    def webhook_chaos(self, chaos: tuple[float, float, float, int]) -> None:
        self.set_chaos(*chaos)

    @precondition(lambda self: not self.outage)
    @rule()
    def xurrent_down(self) -> None:
        for op in OUTAGE_OPS:
            self.h.world.xurrent.inject(op, "status", status=503, body={"message": "Service Unavailable"}, times=10**9)
        self.outage = True

    @precondition(lambda self: self.outage)
    @rule()
    def xurrent_back(self) -> None:
        self.h.world.xurrent.faults.clear()
        self.outage = False

    @rule()
    def deliver(self) -> None:
        self.settle()

    @rule()
    def reconciliation_due(self) -> None:
        async def go() -> None:
            async with self.h.runtime.store.tx() as tx:
                await tx.outbox.enqueue(RECONCILE)

        self.run(go())

    # -- the invariants ---------------------------------------------------------------------------------------
    def teardown(self) -> None:
        try:
            if not self.broken and self.task_id:
                self.quiesce_and_check()
        finally:
            calm(self.h)
            self.outage = False

    def quiesce_and_check(self) -> None:
        h = self.h
        calm(h)
        self.outage = False
        self.run(rest(h))
        self.run(reconcile(h))
        task, notes = self.run(read_task(h, self.task_id))
        assert self.run(dead_task_jobs(h)) == []
        rfc = h.world.xurrent.requests[self.request_id]
        ours = {"title": task["title"], "status": task["status"]}
        theirs = {"title": rfc["subject"], "status": rfc["status"]}
        differ = {n: (ours[n], theirs[n]) for n in RFC_FIELDS if not CODEC.agree(n, ours[n], theirs[n])}
        assert differ == {}, f"the task and RFC #{self.request_id} disagree (task, RFC): {differ}"
        on_rfc = [str(n["text"]) for n in h.world.xurrent.notes(self.request_id)]
        assert on_rfc and on_rfc[0].startswith("Post-incident task from INC-"), on_rfc
        assert Counter(notes) == Counter(on_rfc[1:]), f"notes differ: task {sorted(notes)}, RFC {sorted(on_rfc[1:])}"
        mark = len(h.world.xurrent.calls)
        self.run(reconcile(h))
        writes = [c.op for c in h.world.xurrent.calls[mark:]
                  if c.op in WRITES and f"/requests/{self.request_id}" in c.path]
        assert writes == []
        again, notes_again = self.run(read_task(h, self.task_id))
        assert (again["version"], notes_again) == (task["version"], notes)


def test_task_and_rfc_converge(tmp_path: Path) -> None:
    env = open_env(tmp_path)
    TaskSyncMachine.env = env
    try:
        run_state_machine_as_test(
            TaskSyncMachine,
            settings=settings(max_examples=25, stateful_step_count=12, deadline=None, derandomize=True, database=None,
                              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
        )
    finally:
        close_env(env)
