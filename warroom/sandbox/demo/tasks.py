"""The demo's closing part: a follow-up action of the postmortem becomes a post-incident task ("Create task" in the
war room), the task becomes an RFC in Xurrent, and the desk works the RFC — In Progress, then Completed — while the
task follows over signed webhooks."""

from __future__ import annotations

from collections.abc import Callable

from warroom.chat.slack import assistant
from warroom.core.tasks import label
from warroom.sandbox.harness import Harness

Say = Callable[[str], None]


async def _settle(h: Harness) -> None:
    for _ in range(4):
        await h.world.xurrent.webhooks.settle()
        await h.runtime.worker.run_until_idle(timeout=15)


async def task_story(h: Harness, incident_id: int, say: Say) -> bool:
    xurrent = h.world.xurrent
    store = h.runtime.store
    async with store.read() as tx:
        proposed = [t for t in await tx.records.tasks(incident_id) if t["status"] == "proposed"]
    if not proposed:
        say("FAILED: the postmortem recommended no follow-up action")
        return False
    task_id = int(proposed[0]["id"])
    channel = next(c for c in h.world.slack.channels.values() if c["name"].startswith(f"inc-{incident_id}-"))
    ana = h.world.slack.add_user("ana@example.com", "Ana Ops")
    say(f'9. Ana clicks "Create task" on the follow-up “{proposed[0]["title"]}”: a post-incident task (To Do),')
    say("   and its RFC in Xurrent (category rfc, on the service's instance, source/sourceID for idempotency):")
    await h.slack.click(assistant.TASK_ACCEPT, str(task_id), user=ana, channel=channel["id"])
    await _settle(h)
    async with store.read() as tx:
        link = await tx.task_links.get(task_id)
    if link is None:
        say("FAILED: the task has no RFC")
        return False
    rid = int(link.remote_id)

    async def task_line() -> str:
        async with store.read() as tx:
            task = await tx.task_links.task(task_id)
        assert task is not None
        return f"task {task_id} “{task['title']}”: {label(str(task['status']))}"

    def rfc_line() -> str:
        r = xurrent.requests[rid]
        return (f"RFC #{rid} {r['category']} {r['status']}"
                f"{'/' + r['completion_reason'] if r.get('completion_reason') else ''}, sourceID {r['sourceID']}")

    say(f"   → {rfc_line()}")
    first = xurrent.notes(rid)[0]["text"].splitlines()
    say(f"   its first note (internal): {first[0]}")
    for line in first[1:]:
        if line.startswith(("Originating incident", "Incident request", "War room")):
            say(f"      {line}")
    say(f"   → {await task_line()}")
    dana = h.world.xurrent_people["dana@example.com"]
    seen = len(h.world.slack.messages(channel["id"]))
    for status, what in (("in_progress", "In Progress"), ("completed", "Completed")):
        body = {"status": status, **({"completion_reason": "solved"} if status == "completed" else {})}
        xurrent.update_request(rid, body, person_id=dana)
        await _settle(h)
        say(f"   Dana moves the RFC to {what} in Xurrent (a signed webhook; warroom reads the RFC once):")
        messages = h.world.slack.messages(channel["id"])
        for message in messages[seen:]:
            say(f"      war room: {message.get('text')}")
        seen = len(messages)
        say(f"      → {rfc_line()}")
        say(f"      → {await task_line()}")
    async with store.read() as tx:
        task = await tx.task_links.task(task_id)
    ok = task is not None and task["status"] == "done" and xurrent.requests[rid]["status"] == "completed"
    if not ok:
        say("FAILED: the task did not follow its RFC")
    return ok
