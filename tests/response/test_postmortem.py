"""The postmortem review's pure parts: its grammar (good forms and the sentence for bad ones), times, the timeline
section's replacement, and what blocks publishing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from warroom.chat.grammar import parse
from warroom.chat.grammar.context import GrammarContext
from warroom.response import commands as cmd
from warroom.response.postmortem import blockers, parse_when, replace_section

CTX = GrammarContext()


@pytest.mark.parametrize(("text", "wanted"), [
    ("postmortem", cmd.Postmortem()),
    ("pm draft", cmd.Postmortem()),
    ("postmortem review <@U1|ana> <@U2> <@U1|ana>",
     cmd.PostmortemReview((cmd.Target(cmd.TargetKind.USER, "U1", "ana"), cmd.Target(cmd.TargetKind.USER, "U2")))),
    ("postmortem comment Name <b>the</b> release\nand its owner",
     cmd.PostmortemComment("Name <b>the</b> release\nand its owner")),
    ("postmortem approve", cmd.PostmortemApprove()),
    ("postmortem PUBLISH", cmd.PostmortemPublish()),
    ("postmortem hide 12", cmd.PostmortemHide(12)),
    ("postmortem hide [event:12]", cmd.PostmortemHide(12)),
    ("postmortem time 12 06:05", cmd.PostmortemTime(12, "06:05")),
    ("postmortem time 12 2026-11-22T06:05Z", cmd.PostmortemTime(12, "2026-11-22T06:05Z")),
    ("postmortem fact Support saw it at 05:58", cmd.PostmortemFact("Support saw it", "05:58")),
    ("postmortem fact We looked at the dashboard", cmd.PostmortemFact("We looked at the dashboard")),
])
def test_the_forms(text: str, wanted: cmd.Command) -> None:
    assert parse(text, CTX) == wanted


@pytest.mark.parametrize(("text", "says"), [
    ("postmortem publsh", "did you mean `publish`"),
    ("postmortem approve now", "takes nothing after it"),
    ("postmortem review", "Say who reviews"),
    ("postmortem review #general", "is not a person"),
    ("postmortem review <!channel>", "notifies everyone"),
    ("postmortem hide", "Say which timeline entry"),
    ("postmortem hide twelve", "is not a timeline entry"),
    ("postmortem hide 1 2", "one timeline entry at a time"),
    ("postmortem time 12", "HH:MM"),
    ("postmortem time 12 soon", "HH:MM"),
    ("postmortem comment", "Write the comment"),
    ("postmortem fact", "Write the fact"),
    ("postmortem comment " + "x" * 70_000, "KB"),
])
def test_bad_input_gets_a_sentence_with_the_form(text: str, says: str) -> None:
    got = parse(text, CTX)
    assert isinstance(got, cmd.Rejection) and says in got.message and "/incident postmortem" in got.message
    assert got.verb == "postmortem"


def test_times() -> None:
    day = datetime(2026, 11, 22, 14, 0, tzinfo=UTC)
    assert parse_when("06:05", day) == datetime(2026, 11, 22, 6, 5, tzinfo=UTC)
    assert parse_when("2026-11-21T23:59Z", day) == datetime(2026, 11, 21, 23, 59, tzinfo=UTC)
    assert parse_when("2026-11-22T08:00+02:00", day) == datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
    assert parse_when("2026-11-22 06:05", day) == datetime(2026, 11, 22, 6, 5, tzinfo=UTC)
    for bad in ("24:00", "06:60", "soon", "", "0001-01-01T00:00", "9999-01-01"):
        assert parse_when(bad, day) is None, bad


def test_the_timeline_section_is_replaced_and_the_footer_kept() -> None:
    draft = "# T\n\n## Summary\n\nS\n\n## Timeline\n\n- a\n- b\n\n## Follow-up actions\n\nF\n\n_footer_\n"
    out = replace_section(draft, "Timeline", "- c")
    assert out == "# T\n\n## Summary\n\nS\n\n## Timeline\n\n- c\n\n## Follow-up actions\n\nF\n\n_footer_\n"
    last = replace_section(draft, "Follow-up actions", "G")
    assert last.endswith("## Follow-up actions\n\nG\n\n_footer_\n")
    assert replace_section("# T\n", "Timeline", "- c") == "# T\n\n## Timeline\n\n- c\n"


def test_what_blocks_publishing() -> None:
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert blockers([], []) == ["nobody has reviewed it yet (name reviewers with `postmortem review @person`)"]
    reviewers = [{"display": "Ana <x>", "approved_at": None}, {"display": "Ben", "approved_at": now}]
    tasks = [
        {"id": 1, "title": "Fix <it>", "status": "todo", "owner": None},
        {"id": 2, "title": "Skip", "status": "wont_do", "closed_reason": "covered elsewhere"},
        {"id": 3, "title": "Skip too", "status": "wont_do", "closed_reason": "  "},
        {"id": 4, "title": "Done", "status": "done"},
        {"id": 5, "title": "Proposed", "status": "proposed"},
    ]
    said = blockers(reviewers, tasks)
    assert said[0] == "waiting for the approval of Ana &lt;x&gt;"
    assert "2 post-incident tasks are open" in said[1] and "#1 “Fix &lt;it&gt;” (To Do)" in said[1]
    assert "#3 “Skip too” (Won't do, no reason given)" in said[1] and "#2" not in said[1]
    assert blockers(reviewers[1:], tasks[1:2] + tasks[3:]) == []
