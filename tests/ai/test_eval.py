"""bench/ai_eval on the deterministic engine: the goal (RCA top-3 ≥ 0.9) and the shape of the case set."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.ai_eval import CASES, GOAL_TOP3, evaluate, fallback_lines, load_cases, main, table
from warroom.ai import Assistant, LlmClient
from warroom.sandbox.llm import LlmEmulator
from warroom.settings import AiSettings

from .conftest import ai_settings


async def test_deterministic_engine_meets_the_goal_on_the_scripted_incidents() -> None:
    cases = load_cases(CASES)
    assert len(cases) >= 12
    categories = Counter(c.category for c in cases)
    assert {"database", "network", "deploy", "certificate", "capacity", "third-party"} <= set(categories)
    assert all(
        any(ch.id not in " ".join(c.causes) for ch in c.ctx.changes) for c in cases
    )  # decoys everywhere
    scores = await evaluate(Assistant(AiSettings()), cases, "deterministic")
    print("\n" + table([scores], verbose=True))
    assert scores.top3 >= GOAL_TOP3
    assert scores.sections == 1.0
    assert scores.summary_facts >= 0.8 and scores.postmortem_facts >= 0.8


def test_the_cli_prints_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WARROOM_AI_EVAL_BASE_URL", raising=False)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "RCA top-3" in out and "deterministic" in out


def test_the_cli_keeps_the_held_out_cases_unread_unless_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """-v prints each case of the sets being tuned on, but only the totals of the held-out set: reading its cases while
    tuning would turn it into a tuned set."""
    import shutil

    import bench.ai_eval as ai_eval

    monkeypatch.delenv("WARROOM_AI_EVAL_BASE_URL", raising=False)
    held = tmp_path / "held"
    held.mkdir()
    first = sorted(CASES.glob("*.yaml"))[0]
    shutil.copy(first, held / first.name)
    monkeypatch.setitem(ai_eval.SET_NAMES, held.resolve(), "held-out")
    case_id = load_cases(held)[0].id
    assert main(["--cases", str(CASES), "--cases", str(held), "-v"]) == 0
    out = capsys.readouterr().out
    assert "deterministic (held-out)" in out and "per case not shown (held out" in out
    assert out.count(case_id) == 1  # listed once, in the tuned set's cases
    assert main(["--cases", str(CASES), "--cases", str(held), "-v", "--show-held-out"]) == 0
    assert capsys.readouterr().out.count(case_id) == 2


def test_the_cli_says_what_to_do_without_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--cases", str(tmp_path)]) == 2
    assert "No case files" in capsys.readouterr().err


async def test_model_fallbacks_are_reported_per_answer_kind_with_why(llm: LlmEmulator) -> None:
    """The emulator's default answers are schema instances of placeholder words: no cause, a one-word summary."""
    cases = load_cases(CASES)[:2]
    settings = ai_settings(llm)
    client = LlmClient(settings)
    try:
        scores = await evaluate(Assistant(settings, client), cases, "model sandbox")
    finally:
        await client.aclose()
    assert [r.fell_back for r in scores.results] == [
        {"rca": "uncited", "summary": "garbage", "postmortem": "garbage"}
    ] * 2
    assert fallback_lines(scores) == [
        "rca        2 of 2 (uncited 2)",
        "summary    2 of 2 (garbage 2)",
        "postmortem 2 of 2 (garbage 2)",
    ]
    assert "fallbacks per answer kind" in table([scores])


async def test_a_case_end_to_end_through_the_server() -> None:
    """bench/ai_e2e: the case's alerts through the intake (the database's own alert declares an incident of its own),
    its changes through /events/changes, the discussion as signed Slack events, `/incident rca` and `summary` asked in
    the war room — the true cause among the first three, the summary's facts present."""
    from bench.ai_e2e import run_cases
    from bench.ai_eval import has_fact

    case = next(c for c in load_cases(CASES) if c.id == "db-pool-scale-up")
    [answer] = await run_cases([case])
    assert answer.problem is None, answer.problem
    assert "change:RFC-4410" in [keys.split("|")[0] for keys in answer.causes[:3]], answer.causes
    assert all(has_fact(answer.summary, fact) for fact in case.summary_facts), answer.summary
    # on the case's own clock: declared by its alert when the alert came (by the time the case says it was), each
    # line of discussion recorded at its own moment
    said = [e.at for e in case.ctx.events if e.kind == "discussion" and e.at <= case.asked_at]
    first_alert = min(a.starts_at for a in case.ctx.alerts if a.starts_at)
    assert answer.declared_at is not None and case.ctx.created_at is not None
    assert first_alert <= _aware(answer.declared_at) <= case.ctx.created_at + timedelta(seconds=30), answer.declared_at
    assert len(answer.said_at) == len(said) >= 2
    assert all(abs(_aware(got) - want) < timedelta(seconds=30) for got, want in zip(answer.said_at, said, strict=True))


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def test_end_to_end_the_incident_stands_as_the_case_records_it() -> None:
    """bench/ai_e2e sends each alert's severity label as the rule wrote it (the intake maps ``high`` to P2),
    acknowledges at the case's ``acknowledged_at``, and sets a priority the responders chose over the alerts'
    severity with ``/incident priority`` — the summary's state line is the case's."""
    from bench.ai_e2e import run_cases

    cases = {c.id: c for c in load_cases(CASES)}
    mapped, triaged = cases["dns-migration"], cases["consumer-concurrency-cut"]  # high → P2; high alert, P3 chosen
    answers = await run_cases([mapped, triaged])
    for case, answer in zip((mapped, triaged), answers, strict=True):
        assert answer.problem is None, answer.problem
        assert f"Current state: Acknowledged — {case.ctx.priority} on {case.ctx.service}" in answer.summary, (
            answer.summary
        )
