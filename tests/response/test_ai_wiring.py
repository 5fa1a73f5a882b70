"""The AI responder's wiring without I/O: its grammar, how its text becomes Slack mrkdwn, the postmortem message and
its link, the change intake's checks, and the context built from an incident's records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.ai import querier
from warroom.ai.safety import Allowed, neutralise
from warroom.chat.grammar import (
    QUESTION_MAX_CHARS,
    Ask,
    GrammarContext,
    Postmortem,
    Rca,
    Rejection,
    Summary,
    parse,
)
from warroom.chat.slack import assistant
from warroom.core.model import Incident, Link, LinkKind, Origin, RoleHolder, Status, TimelineEvent, Urgency
from warroom.response import postmortem_link
from warroom.response.ai.context import Snapshot, build_context, change_window, trouble_started
from warroom.settings import Settings
from warroom.web.changes import ChangeError, parse_changes

T0 = datetime(2026, 3, 14, 10, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# -- grammar ------------------------------------------------------------------------------------------------
def test_the_ai_verbs_parse() -> None:
    ctx = GrammarContext(services=("checkout-api",))
    assert parse("summary", ctx) == Summary() and parse("sitrep", ctx) == Summary()
    assert (
        parse("rca", ctx) == Rca()
        and parse("postmortem", ctx) == Postmortem()
        and parse("pm", ctx) == Postmortem()
    )
    assert parse("ask  which deploy broke <@U1|dana>'s &amp; checkout?", ctx) == Ask(
        "which deploy broke <@U1|dana>'s &amp; checkout?"
    )
    for text, sentence in [
        ("ask", "Write your question"),
        ("rca now", "`rca` takes nothing after it"),
        ("ask " + "x" * (QUESTION_MAX_CHARS + 1), f"ask in at most {QUESTION_MAX_CHARS}"),
    ]:
        result = parse(text, ctx)
        assert isinstance(result, Rejection) and sentence in result.message
    assert QUESTION_MAX_CHARS == querier.MAX_QUESTION  # the grammar refuses what the assistant would


def test_a_near_miss_still_suggests_the_older_verb() -> None:
    result = parse("ak", GrammarContext())
    assert isinstance(result, Rejection) and "did you mean `ack`?" in result.message


# -- mrkdwn -------------------------------------------------------------------------------------------------
def test_neutralised_text_cannot_be_reinterpreted_by_slack() -> None:
    allowed = Allowed(frozenset({"https://ci.example.com/runs/77?a=1&b=2"}))
    raw = (
        "<!channel> see <https://evil.example|the fix> and https://ci.example.com/runs/77?a=1&b=2, "
        "@here <@U0MALLORY> a<b & c>d <#C1|ops>"
    )
    shown = assistant.mrkdwn(neutralise(raw, allowed))
    assert "<!" not in shown and "<@" not in shown and "<#" not in shown and "evil.example" not in shown
    assert (
        "<https://ci.example.com/runs/77?a=1&amp;b=2>," in shown
    )  # the incident's own link, live and readable
    assert "a&lt;b &amp; c&gt;d" in shown


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_every_angle_bracket_slack_would_read_is_ours(text: str) -> None:
    shown = assistant.mrkdwn(text)
    # the only "<…>" left are links to http(s) URLs that contain no bracket, quote or pipe
    for chunk in shown.split("<")[1:]:
        target = chunk.split(">", 1)[0]
        assert target.lower().startswith(("http://", "https://")) and not set(target) & set("<|\"' \n")


# -- the postmortem message and its link ------------------------------------------------------------------
def test_postmortem_message_buttons_only_for_proposed_tasks_and_a_click_marks_one() -> None:
    tasks = [
        {"id": 7, "title": "Guard <rollouts>", "details": "Canary & rollback", "status": "proposed"},
        {"id": 8, "title": "Runbooks", "details": "", "status": "open"},
    ]
    text, rendered = assistant.postmortem_message(
        "INC-4",
        "https://w.example/incidents/4/postmortem?token=ab",
        tasks,
        "deterministic answer: no model configured",
    )
    assert text.startswith("📝 Postmortem draft for INC-4: https://w.example/") and len(rendered) == 4
    assert (
        "<https://w.example/incidents/4/postmortem?token=ab|Open the postmortem draft>"
        in rendered[0]["text"]["text"]
    )
    assert rendered[1]["accessory"] == {
        "type": "button",
        "action_id": assistant.TASK_ACCEPT,
        "text": {"type": "plain_text", "text": "Create task", "emoji": True},
        "value": "7",
    }
    assert "*1. Guard &lt;rollouts&gt;*\nCanary &amp; rollback" == rendered[1]["text"]["text"]
    assert "accessory" not in rendered[2] and "✅ Post-incident task (open)" in rendered[2]["text"]["text"]
    marked = assistant.task_created(rendered, 7, "<@U1>")
    assert (
        marked is not None
        and "accessory" not in marked[1]
        and marked[1]["text"]["text"].endswith("✅ Task created by <@U1>")
    )
    assert assistant.task_created(rendered, 8, "<@U1>") is None  # no button for it: nothing to change


def settings_with(**server: object) -> Settings:
    return Settings(
        slack={"signing_secret": "s3cret"}, server={"public_url": "https://warroom.example/", **server}
    )


def test_postmortem_links_are_capabilities_per_incident() -> None:
    s = settings_with()
    url = postmortem_link.url(s, 4)
    assert url is not None and url.startswith("https://warroom.example/incidents/4/postmortem?token=")
    token = url.rsplit("=", 1)[1]
    assert len(token) == 32 and postmortem_link.token_ok(s, 4, token)
    assert not postmortem_link.token_ok(s, 5, token) and not postmortem_link.token_ok(s, 4, token[:-1] + "0")
    assert not postmortem_link.token_ok(s, 4, "") and not postmortem_link.token_ok(s, 4, "é" * 32)
    assert (
        postmortem_link.token(settings_with(link_secret="other"), 4) != token
    )  # a new secret revokes every link
    assert postmortem_link.url(Settings(slack={"enabled": False}), 4) is None  # nothing to sign with: no link


# -- the change intake --------------------------------------------------------------------------------------
def test_change_events_parse_or_say_what_to_fix() -> None:
    one = {
        "id": " d-1 ",
        "service": "Checkout-API",
        "title": "v2",
        "at": "2026-03-14T09:52:00+01:00",
        "url": "https://ci.example.com/1",
        "details": "pool 50 → 5",
        "extra": "ignored",
    }
    [event] = parse_changes(json.dumps(one).encode())
    assert (event.id, event.service, event.at, event.details) == (
        "d-1",
        "checkout-api",
        at(-68),
        "pool 50 → 5",
    )
    assert len(parse_changes(json.dumps([one, one | {"id": "d-2"}]).encode())) == 2
    with pytest.raises(ChangeError, match=r"^Event 2's 'at' \('yesterday'\) is not an ISO 8601 time"):
        parse_changes(json.dumps([one, one | {"at": "yesterday"}]).encode())
    with pytest.raises(ChangeError, match="'id' must be a string"):
        parse_changes(json.dumps(one | {"id": True}).encode())
    with pytest.raises(ChangeError, match="is 501 characters long; at most 500"):
        parse_changes(json.dumps(one | {"title": "t" * 501}).encode())
    with pytest.raises(ChangeError, match="The list is empty"):
        parse_changes(b"[]")


# -- the context --------------------------------------------------------------------------------------------
def test_the_context_is_the_incidents_records_without_warrooms_bookkeeping() -> None:
    s = Settings(
        services=[
            {
                "name": "checkout-api",
                "depends_on": ["orders-db"],
                "slack": {"bookmarks": {"Runbook": "https://runbooks.example.com/checkout"}},
            }
        ]
    )
    incident = Incident(
        id=4,
        title="Checkout 500s",
        status=Status.ACKNOWLEDGED,
        priority="P1",
        urgency=Urgency.HIGH,
        service="checkout-api",
        details="Declared from alert 'X' (source alertmanager, severity critical).",
        assignee="ana@example.com",
        origin=Origin.ALERT,
        created_at=at(5),
        updated_at=at(9),
        acknowledged_at=at(7),
    )

    def event(n: int, kind: str, text: str, actor: str | None = None, **data: object) -> TimelineEvent:
        return TimelineEvent(
            incident_id=4, at=at(n), kind=kind, text=text, actor=actor, data=dict(data), id=n
        )

    snap = Snapshot(
        incident=incident,
        alerts=[
            {
                "id": 1,
                "name": "PgTooManyConnections",
                "summary": "slots reserved",
                "service": "orders-db",
                "severity": "critical",
                "labels": {"service": "orders-db"},
                "annotations": {},
                "starts_at": at(0),
                "status": "firing",
                "generator_url": "https://grafana.example/a/1",
            },
            {"id": 2, "name": "Old", "summary": "", "starts_at": at(-60 * 24)},
        ],
        events=[
            event(1, "declared", "INC-4 declared"),
            event(2, "discussion", "pool exhausted", "slack:U1"),
            event(3, "note", "desk says 40 calls", "xurrent:Dana", origin="itsm"),
            event(4, "invited", "Invited 3"),
            event(5, "summary", "Status update …", auto=True),
            event(6, "note", "Postmortem draft of INC-4: https://w/x", postmortem=True),
            event(7, "priority_changed", "Priority changed from P2 to P1", "slack:U2"),
            event(8, "itsm_linked", "Linked Xurrent request #12 created (impact high)"),
            event(9, "discussion", "who knows the pool size?", "teams:29:1abc"),
        ],
        roles={"commander": RoleHolder("commander", "dana", "dana@example.com", "slack:U1")},
        links={
            LinkKind.SLACK_CHANNEL: Link(
                4, LinkKind.SLACK_CHANNEL, "C4", "https://slack.example/archives/C4"
            ),
            LinkKind.POSTMORTEM: Link(
                4, LinkKind.POSTMORTEM, "4", "https://w.example/incidents/4/postmortem"
            ),
        },
        changes=[
            {
                "source": "deploy",
                "external_id": "deploy-77",
                "service": "checkout-api",
                "title": "pool 50 → 5",
                "at": at(-8),
                "url": "https://ci.example.com/77",
                "details": "",
            },
            {
                "source": "itsm-rfc",
                "external_id": "RFC-9",
                "service": "checkout-api",
                "title": "Raise timeout",
                "at": at(-30),
                "url": None,
                "details": "Xurrent RFC #9, status completed",
            },
        ],
        names={"slack:U2": "Ben Backend"},
    )
    ctx = build_context(snap, s)
    assert (
        ctx.details == ""
        and ctx.dependencies == ["orders-db"]
        and ctx.roles == {"commander": "dana@example.com"}
    )
    assert [(e.id, e.kind, e.actor) for e in ctx.events] == [
        ("1", "status", None),
        ("2", "discussion", "dana"),  # people by name, never by chat id; bookkeeping (itsm_linked) left out
        ("3", "itsm", "Dana"),
        ("7", "priority", "Ben Backend"),
        ("9", "discussion", "someone in Teams"),
    ]
    assert [c.ref for c in ctx.changes] == ["change:deploy-77", "change:RFC-9"] and ctx.changes[
        1
    ].source == "itsm-rfc"
    assert ctx.links == {
        "Runbook": "https://runbooks.example.com/checkout",
        "war_room": "https://slack.example/archives/C4",
        "postmortem": "https://w.example/incidents/4/postmortem",
    }
    assert ctx.started_at() == at(0) == trouble_started(incident, snap.alerts)
    assert change_window(incident, at(0), at(90)) == (timedelta(hours=24), timedelta(minutes=90))
