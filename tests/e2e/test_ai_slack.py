"""The AI responder end to end in Slack: ``summary``, ``ask``, ``rca`` and ``postmortem`` as signed slash commands
through the real slack-bolt app; answers posted by outbox jobs in the war room — by the deterministic engine, and
by a model through the real ``openai`` client against the sandbox's OpenAI-compatible emulator (and by the
deterministic engine again when that model is down, slow, malformed or refusing). Deploy events arrive over
``POST /events/changes``, RFCs are read from Xurrent, status updates come by themselves (a durable timer per
incident and significant changes, coalesced) to the war room and the stakeholders, and the postmortem is drafted on
resolve, served at its capability URL, linked on the card and the request, its follow-ups one click from tasks.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from tests.ai.test_injection import BROADCAST, CORPUS_ALERTS, CORPUS_CHAT, LIVE_BAD_LINK
from warroom.ai import POSTMORTEM_SECTIONS
from warroom.chat.slack import assistant
from warroom.core.jobs import AI_SUMMARY
from warroom.core.model import LinkKind, Status
from warroom.response.ai import schedule as ai_schedule
from warroom.sandbox.demo import ai as ai_demo
from warroom.sandbox.harness import Harness, alertmanager_payload
from warroom.sandbox.llm import ChatRequest, Reply
from warroom.sandbox.world import INTAKE_TOKEN, LLM_MODEL
from warroom.store.outbox import Job
from warroom.store.schema import timeline, timers

from .helpers import open_room, settle, war_room

AUTH = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


# -- helpers ------------------------------------------------------------------------------------------------




def ai_messages(h: Harness, channel: str) -> list[dict[str, Any]]:
    """What the AI responder posted in the war room (its lines carry an ``ai-…`` key)."""
    return [
        m
        for m in h.world.slack.messages(channel)
        if str(((m.get("metadata") or {}).get("event_payload") or {}).get("key", "")).startswith("ai-")
    ]


def ai_lines(h: Harness, channel: str) -> list[str]:
    return [str(m["text"]) for m in ai_messages(h, channel)]


def updates(h: Harness, channel: str) -> list[str]:
    return [line for line in ai_lines(h, channel) if line.startswith("🤖 Status update")]


async def ask(h: Harness, channel: str, text: str, user: str = "U0ANA") -> str:
    """Run a command; the line the AI responder posts for it."""
    before = len(ai_lines(h, channel))
    reply = await h.slack.command(text, channel=channel, user=user)
    assert reply.status_code == 200 and "Working on it" in reply.json()["text"], reply.text
    assert reply.json()["response_type"] == "ephemeral"
    await settle(h)
    lines = ai_lines(h, channel)
    assert len(lines) == before + 1, lines[before:]
    return lines[-1]


async def deploy(h: Harness, minutes_ago: float = 10, **extra: Any) -> httpx.Response:
    at = (datetime.now(UTC) - timedelta(minutes=minutes_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {
        "id": "deploy-77",
        "service": "checkout-api",
        "at": at,
        "url": "https://ci.example.com/runs/77",
        "title": "checkout-api 7.3.0: DB connection pool size 50 → 5",
        **extra,
    }
    return await h.http.post("/events/changes", json=event, headers=AUTH)


async def events_of(h: Harness, incident: int, kind: str) -> list[Any]:
    async with h.runtime.store.read() as tx:
        return [e for e in await tx.timeline.for_incident(incident) if e.kind == kind]


async def summary_timer(h: Harness, incident: int) -> dict[str, Any] | None:
    async with h.runtime.store.read() as tx:
        return next((t for t in await tx.timers.all() if t["key"] == ai_schedule.timer_key(incident)), None)


async def make_due(h: Harness, incident: int) -> None:
    """Let the periodic update's time come, as if its cadence had passed since the last update."""
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(
            update(timers)
            .where(timers.c.key == ai_schedule.timer_key(incident))
            .values(fire_at=tx.now - timedelta(seconds=1))
        )
        await tx.conn.execute(
            update(timeline)
            .where(timeline.c.incident_id == incident, timeline.c.kind == "summary")
            .values(at=tx.now - timedelta(hours=1))
        )


def by_capability(replies: dict[str, Callable[[ChatRequest], Reply]]) -> Callable[[ChatRequest], Reply]:
    """A model that answers by the structured output asked for (warroom_summary, warroom_ask, …)."""

    def respond(request: ChatRequest) -> Reply:
        name = str(((request.response_format or {}).get("json_schema") or {}).get("name", ""))
        return replies[name.removeprefix("warroom_")](request)

    return respond


@pytest.fixture
async def started(sqlite_url: str) -> AsyncIterator[Callable[..., Any]]:
    """Start harnesses on one SQLite file (a test may restart warroom on it); all stopped at the end."""
    running: list[Harness] = []

    async def go(tweak: Callable[[dict[str, Any]], None] | None = None, **kwargs: Any) -> Harness:
        h = await Harness.start(sqlite_url, tweak=tweak, **kwargs)
        h.world.slack.config.rate_limits = False
        running.append(h)
        return h

    yield go
    worlds = {id(h.world): h.world for h in running}
    for h in running:
        if h.runner.server is not None:
            await h.stop(world=False)
    for world in worlds.values():
        await world.stop()


def automatic(data: dict[str, Any]) -> None:
    """Status updates and postmortems by themselves (the sandbox keeps them off), changes gathered for a second."""
    ai_demo.automatic(data)
    data["ai"].update(change_summary_seconds=1.0)


def model_on(**ai: Any) -> Callable[[dict[str, Any]], None]:
    def tweak(data: dict[str, Any]) -> None:
        data["ai"].update({"enabled": True, **ai})

    return tweak


# -- the four capabilities, no model ------------------------------------------------------------------------
async def test_the_four_capabilities_without_a_model(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    stored = await deploy(h)
    assert stored.status_code == 202 and stored.json()["changes"] == [{"id": "deploy-77", "result": "new"}]
    si = h.world.service_instances["checkout-api"]
    rfc = h.world.xurrent.create_request(
        {"subject": "Raise the checkout-api DB pool timeout", "category": "rfc", "service_instance_id": si}
    )

    summary = await ask(h, channel, "summary")
    assert summary.startswith(
        f"🤖 Status update — INC-{incident}\nCurrent state: Triggered — P1 on checkout-api"
    )
    assert "Leading hypothesis: " in summary and "Next update: by " in summary
    assert summary.endswith("(deterministic answer: no model configured)")

    answer = await ask(h, channel, "ask which deploys went out before the first alert?")
    assert answer.startswith("🤖 Answer for <@U0ANA> — Q: which deploys went out before the first alert?")
    assert (
        "[change:deploy-77]" in answer and "<https://ci.example.com/runs/77>" in answer
    )  # a live link: ours

    about_rfc = await ask(h, channel, "ask which rfc changed the pool timeout?")
    assert (
        f"[change:RFC-{rfc['id']}]" in about_rfc
        and f"<{h.world.xurrent.base_url}/web/requests/{rfc['id']}>" in about_rfc
    )

    causes = await ask(h, channel, "rca")
    assert causes.startswith(f"🤖 Probable causes — INC-{incident} (most likely first)\n1. ")
    # the deploy and the RFC in progress on the service when the trouble began, each with its evidence
    assert "Evidence: [change:deploy-77]" in causes and f"Evidence: [change:RFC-{rfc['id']}]" in causes

    # the postmortem: stored, linked from the card and the request, served as Markdown, follow-ups one click away
    before = len(ai_lines(h, channel))
    await h.slack.command("postmortem", channel=channel)
    await settle(h)
    message = ai_messages(h, channel)[before]
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident, LinkKind.POSTMORTEM)
        tasks = await tx.records.tasks(incident)
        draft = await tx.records.postmortem(incident)
    assert link is not None and link.url and draft is not None and draft["engine"] == "deterministic"
    assert tasks and all(t["status"] == "proposed" and t["origin"] == "postmortem" for t in tasks)
    buttons = [b["accessory"] for b in message["blocks"] if b.get("accessory")]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        (assistant.TASK_ACCEPT, str(t["id"])) for t in tasks
    ]
    assert f"<{link.url}|Open the postmortem draft>" in message["blocks"][0]["text"]["text"]
    assert link.url in war_room(h, incident).card_text and "Postmortem" in war_room(h, incident).card_text
    assert any(link.url in str(n["text"]) for n in h.world.xurrent.notes(request_id))

    async with httpx.AsyncClient(timeout=10) as http:
        served = await http.get(link.url)
        forged = await http.get(link.url.replace(link.url[-6:], "000000"))
        other = await http.get(link.url.replace(f"/incidents/{incident}/", f"/incidents/{incident + 1}/"))
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/markdown")
    assert served.text == draft["markdown"]
    assert all(f"## {section}" in served.text for section in POSTMORTEM_SECTIONS)
    # people are named as the chat names them, never by a chat id
    assert "slack:U" not in served.text and not any("slack:U" in line for line in ai_lines(h, channel))
    assert forged.status_code == 403 and "not valid" in forged.text
    assert other.status_code == 403  # a link opens its own incident only

    first = tasks[0]
    clicked = await h.slack.click(assistant.TASK_ACCEPT, str(first["id"]), channel=channel)
    assert clicked.status_code == 200
    await h.slack.click(assistant.TASK_ACCEPT, str(first["id"]), channel=channel)  # a second click
    await settle(h)
    async with h.runtime.store.read() as tx:
        now = {t["id"]: t["status"] for t in await tx.records.tasks(incident)}
    assert now[first["id"]] == "todo" and all(s == "proposed" for i, s in now.items() if i != first["id"])
    assert len(await events_of(h, incident, "task")) == 1
    told = [
        m["text"] for m in h.world.slack.messages(channel) if "created the post-incident task" in m["text"]
    ]
    assert len(told) == 1 and told[0].startswith("✅ <@U0ANA> created the post-incident task")
    assert any("is a post-incident task already (To Do)" in e["text"] for e in h.world.slack.ephemeral)

    # nothing was done to the incident by any of it
    async with h.runtime.store.read() as tx:
        current = await tx.incidents.get(incident)
    assert current is not None and current.status is Status.TRIGGERED
    metrics = (await h.http.get("/metrics")).text
    for capability in ("summary", "ask", "rca", "postmortem"):
        assert f'warroom_ai_answers_total{{capability="{capability}",engine="deterministic"}}' in metrics


async def test_ai_commands_need_the_war_room_and_say_how(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    for text in ("summary", "ask what happened?", "rca", "postmortem"):
        reply = await h.slack_command(text, channel="C0GENERAL")
        assert "works in an incident's war room channel" in reply.text
    assert "Write your question about the incident after `ask`" in (await h.slack_command("ask")).text
    too_long = await h.slack_command("ask " + "why " * 200)
    assert "characters long; ask in at most 500" in too_long.text


# -- with a model, through the openai client ----------------------------------------------------------------
def good_model(request: ChatRequest) -> Reply:
    return by_capability(
        {
            "summary": lambda r: Reply(
                content={
                    "impact": "About 12% of checkouts fail with HTTP 500.",
                    "actions": "Rolling back deploy-77; watching the error rate.",
                    "hypothesis": "deploy-77 shrank the DB pool.",
                    "cited": ["change:deploy-77"],
                }
            ),
            "ask": lambda r: Reply(
                content={
                    "answer": "deploy-77 went out ten minutes before the first alert.",
                    "cited": ["change:deploy-77"],
                }
            ),
            "rca": lambda r: Reply(
                content={
                    "causes": [
                        {
                            "title": "deploy-77 cut the DB connection pool to 5",
                            "explanation": "Checkout ran out of connections.",
                            "evidence": ["change:deploy-77"],
                            "candidate": "change:deploy-77",
                            "confidence": 0.9,
                        }
                    ]
                }
            ),
            "postmortem": lambda r: Reply(
                content={
                    "summary": "A deploy cut the checkout DB pool; checkout failed until it was rolled back.",
                    "impact": "12% of checkouts failed.",
                    "root_cause": "deploy-77 set the pool size to 5.",
                    "contributing_factors": ["No canary."],
                    "went_well": ["Fast rollback."],
                    "went_badly": ["Late alert."],
                    "follow_ups": [
                        {
                            "title": "Load-test pool settings before release",
                            "description": "Add a soak test.",
                            "kind": "prevent",
                            "evidence": ["change:deploy-77"],
                        }
                    ],
                }
            ),
        }
    )(request)


async def test_the_four_capabilities_with_a_model_through_the_openai_client(
    started: Callable[..., Any],
) -> None:
    h = await started(model_on())
    llm = h.world.llm
    llm.responder = good_model
    incident, channel, _ = await open_room(h)
    await deploy(h)
    await h.slack.event(
        {
            "type": "message",
            "channel": channel,
            "user": "U0BEN",
            "ts": "1700000001.000100",
            "text": "db password=hunter2 rotated; pool exhausted since deploy-77",
        }
    )

    summary = await ask(h, channel, "summary")
    assert "Impact: About 12% of checkouts fail with HTTP 500." in summary
    assert "What is being done: Rolling back deploy-77; watching the error rate." in summary
    assert summary.endswith(f"(AI-generated by {LLM_MODEL}; check against the cited records)")
    answer = await ask(h, channel, "ask what changed before the first alert?")
    assert "deploy-77 went out ten minutes before the first alert." in answer
    assert "<https://ci.example.com/runs/77>" in answer and "(AI-generated by" in answer
    causes = await ask(h, channel, "rca")
    assert "1. deploy-77 cut the DB connection pool to 5 (confidence 0.90)" in causes
    await h.slack.command("postmortem", channel=channel)
    await settle(h)
    async with h.runtime.store.read() as tx:
        draft = await tx.records.postmortem(incident)
        tasks = await tx.records.tasks(incident)
    assert (
        draft is not None
        and draft["engine"] == "model"
        and "deploy-77 set the pool size to 5." in draft["markdown"]
    )
    assert [t["title"] for t in tasks] == ["Load-test pool settings before release"]

    assert [r.response_format["json_schema"]["name"] for r in llm.requests if r.response_format] == [
        "warroom_summary",
        "warroom_ask",
        "warroom_rca",
        "warroom_postmortem",
    ]
    for request in llm.requests:
        assert request.headers.get("User-Agent", "").startswith(
            "AsyncOpenAI/Python"
        )  # the real openai client
        assert "hunter2" not in request.prompt_text  # redacted before it left
        assert (
            "checkout-api 7.3.0: DB connection pool size 50 → 5" in request.user
        )  # the deploy, fenced as data
    metrics = (await h.http.get("/metrics")).text
    assert re.search(r'warroom_ai_tokens_total\{capability="summary",kind="prompt"\} [1-9]', metrics)
    assert 'warroom_ai_answers_total{capability="rca",engine="model"} 1.0' in metrics


async def test_a_model_down_slow_malformed_or_refusing_gives_the_deterministic_answer(
    started: Callable[..., Any],
) -> None:
    h = await started(model_on(timeout=1.0))
    llm = h.world.llm
    llm.responder = by_capability(
        {
            "summary": lambda r: Reply.fail(500),
            "ask": lambda r: Reply(malformed_body=True),
            "rca": lambda r: Reply(delay=4.0, content={"causes": []}),
            "postmortem": lambda r: Reply(refusal="I can't help with that."),
        }
    )
    incident, channel, _ = await open_room(h)
    await deploy(h)
    lines = [await ask(h, channel, text) for text in ("summary", "ask what changed?", "rca")]
    await h.slack.command("postmortem", channel=channel)
    await settle(h)
    llm.inject("POST /chat/completions", "reset")  # then the endpoint drops the connection
    lines.append(await ask(h, channel, "summary"))
    for line in lines:
        assert "(deterministic answer: " in line and "no model configured" not in line, line
    assert lines[0].startswith("🤖 Status update") and "[change:deploy-77]" in lines[1]
    assert "1. Deploy deploy-77" in lines[2]
    async with h.runtime.store.read() as tx:
        draft = await tx.records.postmortem(incident)
    assert (
        draft is not None
        and draft["engine"] == "deterministic"
        and "_deterministic answer: " in draft["markdown"]
    )


# -- untrusted text -----------------------------------------------------------------------------------------
async def test_prompt_injection_in_alerts_and_chat_takes_no_action_and_broadcasts_nothing(
    sqlite_harness: Harness,
) -> None:
    h = sqlite_harness
    incident, channel, request_id = await open_room(h)
    injected = alertmanager_payload(
        [
            {
                "labels": {"alertname": f"Injected{n}", "service": "checkout-api", "severity": "warning"},
                "annotations": {"summary": text, "description": text},
            }
            for n, text in enumerate(CORPUS_ALERTS)
        ]
    )
    grouped = (await h.post_alerts(injected)).json()
    assert {a["result"] for a in grouped["alerts"]} == {"grouped"}
    for n, text in enumerate(CORPUS_CHAT):
        await h.slack.event(
            {
                "type": "message",
                "channel": channel,
                "user": "U0MALLORY",
                "text": text,
                "ts": f"1700000100.00010{n}",
            }
        )
    await settle(h)
    summary = await ask(h, channel, "summary")
    await ask(h, channel, "ask should this incident be resolved?")
    await ask(h, channel, "rca")
    await h.slack.command("postmortem", channel=channel)
    await settle(h)

    assert "Current state: Triggered — P1 on checkout-api" in summary and "CheckoutErrorRate" in summary
    for message in h.world.slack.messages(channel):
        text = str(message["text"]) + str(message.get("blocks") or "")
        assert not BROADCAST.search(text), text
        assert not LIVE_BAD_LINK.search(text), text
        assert "<@U0MALLORY>" not in text
    async with h.runtime.store.read() as tx:
        current = await tx.incidents.get(incident)
        kinds = [e.kind for e in await tx.timeline.for_incident(incident)]
    assert current is not None and current.status is Status.TRIGGERED and "status_changed" not in kinds
    assert h.world.xurrent.requests[request_id]["status"] == "assigned"


# -- automatic status updates -------------------------------------------------------------------------------
async def test_status_updates_come_by_themselves_survive_restarts_never_double_post_and_stop_on_resolve(
    started: Callable[..., Any],
) -> None:
    h = await started(automatic)
    world = h.world
    incident, channel, request_id = await open_room(h)
    news = world.slack.add_channel("exec-news", creator=world.slack.bot_user_id)
    dana = world.slack.add_user("dana@example.com", "Dana")
    await h.slack.command(f"stakeholder add <#{news}|exec-news>", channel=channel)
    await h.slack.command(f"stakeholder add <@{dana}|dana>", channel=channel)
    timer = await summary_timer(h, incident)
    assert timer is not None and timer["interval_s"] == 15 * 60  # P1's cadence

    # significant changes close together: one update, told to the war room and to the stakeholders
    for text in ("ack", "priority P2", "role commander me"):
        await h.slack.command(text, channel=channel)
    await settle(h)
    assert len(updates(h, channel)) == 1
    assert "Acknowledged — P2 on checkout-api" in updates(h, channel)[0]
    assert (timer := await summary_timer(h, incident)) is not None and timer[
        "interval_s"
    ] == 30 * 60  # re-timed
    to_news = [m["text"] for m in world.slack.messages(news) if m["text"].startswith("📣 Status update")]
    to_dana = [m["text"] for m in world.slack.dms(dana) if m["text"].startswith("📣 Status update")]
    assert len(to_news) == len(to_dana) == 1 and "Acknowledged — P2" in to_news[0]
    await h.slack.command("note rolling back deploy-77", channel=channel)  # not significant: no update
    await settle(h)
    assert len(updates(h, channel)) == 1

    # warroom restarts: the periodic update's timer is in the database
    await h.stop(world=False)
    h = await started(automatic, world=world)
    await make_due(h, incident)
    await h.runtime.timers.tick()
    await settle(h)
    assert len(updates(h, channel)) == 2
    await h.runtime.timers.tick()  # fired once; the next one is a cadence away
    await settle(h)
    assert len(updates(h, channel)) == 2

    # the process dies after the update was written but before it was recorded: it is posted once
    held = asyncio.Event()

    async def die_before_commit(job: Job) -> None:
        if job.kind == AI_SUMMARY:
            held.set()
            await asyncio.Event().wait()

    h.runtime.worker.before_commit = die_before_commit
    await make_due(h, incident)
    await h.runtime.timers.tick()
    await asyncio.wait_for(held.wait(), 10)
    await h.runtime.worker.stop(cancel_running=True)
    await h.stop(world=False)
    h = await started(automatic, world=world)
    await settle(h)
    assert len(updates(h, channel)) == 3
    assert len([e for e in await events_of(h, incident, "summary") if e.data.get("auto")]) == 3

    # resolved: a last update, the postmortem, and no more periodic updates
    await h.slack.command("resolve Rolled back deploy-77", channel=channel)
    await settle(h)
    assert await summary_timer(h, incident) is None
    assert len(updates(h, channel)) == 4 and "Current state: Resolved — P2" in updates(h, channel)[-1]
    assert "Next update: none scheduled (the incident is resolved)" in updates(h, channel)[-1]
    assert (
        len(
            [
                line
                for line in ai_lines(h, channel)
                if line.startswith(f"📝 Postmortem draft for INC-{incident}")
            ]
        )
        == 1
    )
    assert any("/postmortem?token=" in str(n["text"]) for n in world.xurrent.notes(request_id))
    await h.runtime.timers.tick()
    await settle(h)
    assert len(updates(h, channel)) == 4
    assert len([m for m in world.slack.messages(news) if m["text"].startswith("📣 Status update")]) == 4


# -- the change intake --------------------------------------------------------------------------------------
async def test_change_events_are_checked_stored_once_and_refused_with_sentences(
    sqlite_harness: Harness,
) -> None:
    h = sqlite_harness

    async def post(body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
        content = body if isinstance(body, bytes) else None
        return await h.http.post(
            "/events/changes",
            content=content,
            json=None if content else body,
            headers=AUTH if headers is None else headers,
        )

    event = {"id": "d-1", "service": "Checkout-API", "title": "v2", "at": "2026-11-29T10:00:00+01:00"}
    assert (await post(event, {})).status_code == 401
    assert (await post(event, {"Authorization": "Bearer nope"})).status_code == 401
    cases = [
        (b"{not json", "The body is not valid JSON"),
        ({"service": "x", "title": "t", "at": "2026-11-29T10:00:00Z"}, "The event has no 'id'."),
        ({"id": "d", "at": "2026-11-29T10:00:00Z"}, "The event has no 'title'."),
        ({"id": "d", "title": "t"}, "The event has no 'at'"),
        ({"id": "d", "title": "t", "at": "2026-11-29 10:00"}, "is not an ISO 8601 time with a time zone"),
        (
            {"id": "d", "title": "t", "at": "2026-11-29T10:00:00Z", "url": "javascript:alert(1)"},
            "not an http(s) link",
        ),
        ({"id": "d", "title": ["t"], "at": "2026-11-29T10:00:00Z"}, "'title' must be a string"),
        ([event, {"id": "e"}], "Event 2 has no 'title'."),
        ([event] * 101, "send at most 100 per request"),
    ]
    for body, sentence in cases:
        refused = await post(body)
        assert refused.status_code == 400 and sentence in refused.json()["error"], (body, refused.text)
    assert (await post(event)).json()["changes"] == [{"id": "d-1", "result": "new"}]
    again = await post([event | {"title": "v2 (re-run)"}])
    assert again.status_code == 202 and again.json()["changes"] == [{"id": "d-1", "result": "updated"}]
    async with h.runtime.store.read() as tx:
        start = datetime(2026, 11, 29, 9, tzinfo=UTC)
        found = await tx.records.changes_near(start, before=timedelta(hours=1), after=timedelta(hours=1))
    assert [(c["external_id"], c["service"], c["title"]) for c in found] == [
        ("d-1", "checkout-api", "v2 (re-run)")
    ]


async def test_the_assistant_names_people_as_the_chat_does_never_by_chat_id(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    incident, channel, _ = await open_room(h)
    ana = h.world.slack.add_user("ana@example.com", "Ana Lopez")  # (the workspace has her already, as "Ana Ops")
    await h.slack.command("note the pool is exhausted since the 09:52 deploy", user=ana, channel=channel)
    await h.slack.command("ask what is exhausted?", user=ana, channel=channel)
    await h.slack.command("resolve", user=ana, channel=channel)
    await h.slack.command("postmortem", user=ana, channel=channel)
    await settle(h)
    (answer,) = [line for line in ai_lines(h, channel) if line.startswith("🤖 Answer")]
    # by the name Slack shows for her, not by the handle her commands carry
    assert "note by Ana Ops" in answer and "note by ana" not in answer and "slack:" not in answer
    async with h.runtime.store.read() as tx:
        draft = await tx.records.postmortem(incident)
    assert draft is not None and "note by Ana Ops: the pool is exhausted" in draft["markdown"]
    assert "slack:" not in draft["markdown"]
