"""Content, not only shape: a model answer that is garbage, or that cites no record that exists, is not posted as
the model's — the deterministic answer is, and it says that it fell back and why."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from warroom.ai import Assistant, LlmClient
from warroom.ai.results import citation_problem, text_problem
from warroom.sandbox.llm import LlmEmulator

from .conftest import ai_settings, at, incident

NOW = at(30)
GOOD_SUMMARY = {
    "impact": "About 20% of checkouts fail with HTTP 500.",
    "actions": "Dana is rolling back deploy-77.",
    "hypothesis": "deploy-77 shrank the connection pool",
    "cited": ["alert:a2", "change:deploy-77"],
}
GOOD_CAUSE = {
    "title": "deploy-77 shrank the DB pool",
    "explanation": "Pods log pool errors since the deploy.",
    "evidence": ["change:deploy-77", "event:1"],
    "candidate": "change:deploy-77",
    "confidence": 0.8,
}
GOOD_POSTMORTEM = {
    "summary": "A deploy shrank the pool and checkouts failed until it was rolled back.",
    "impact": "About 20% of checkouts failed for 40 minutes.",
    "root_cause": "deploy-77 lowered the pool size.",
    "contributing_factors": [],
    "went_well": [],
    "went_badly": [],
    "follow_ups": [],
}


@pytest.fixture
async def assistant(llm: LlmEmulator) -> AsyncIterator[Assistant]:
    settings = ai_settings(llm)
    client = LlmClient(settings)
    yield Assistant(settings, client)
    await client.aclose()


@pytest.mark.parametrize(
    ("text", "sentence", "bad"),
    [
        (":{", False, True),
        ("0", False, True),
        ("1000000", False, True),
        ("  ", False, True),
        ("12:00 - 13:05", False, True),
        ("Bad.", True, True),
        ("Checkout down", True, True),
        ("deploy-77", False, False),
        ("Checkouts are failing.", True, False),
        ("Zahlungen schlagen fehl.", True, False),
    ],
)
def test_text_without_letters_or_shorter_than_a_sentence_is_garbage(text: str, sentence: bool, bad: bool) -> None:
    problem = text_problem("impact", text, sentence=sentence)
    assert (problem is not None) is bad
    if problem is not None:
        assert problem.reason == "garbage" and problem.detail.startswith("the model's impact")


def test_optional_text_may_be_empty_but_not_garbage() -> None:
    assert text_problem("hypothesis", "", required=False) is None
    assert text_problem("hypothesis", "1000000", required=False) is not None


def test_citations_must_name_at_least_one_record_that_exists() -> None:
    known = {"alert:a1", "event:2"}
    assert citation_problem(["alert:17", "event:2"], known) is None
    copied = citation_problem(["alert:17", "event:5", "change:CHG-3"], known)  # the prompt's examples
    assert copied is not None and copied.reason == "uncited" and "no record that exists" in copied.detail
    none = citation_problem([], known)
    assert none is not None and none.detail == "the model cited no records"


# -- per answer kind, through the emulator ---------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "reason", "says"),
    [
        ({"cited": ["alert:17", "event:5", "change:CHG-3"]}, "uncited", "cited no record that exists"),
        ({"cited": []}, "uncited", "cited no records"),
        ({"impact": ":{"}, "garbage", "impact was not text"),
        ({"actions": "0"}, "garbage", "actions was not text"),
        ({"hypothesis": "1000000"}, "garbage", "hypothesis was not text"),
        ({"impact": "Bad."}, "garbage", "shorter than a sentence"),
    ],
)
async def test_a_bad_model_summary_falls_back_and_says_so(
    llm: LlmEmulator, assistant: Assistant, change: dict[str, Any], reason: str, says: str
) -> None:
    llm.say({**GOOD_SUMMARY, **change})
    summary = await assistant.summarize(incident(), NOW)
    text = summary.render_text()
    assert summary.engine == "deterministic" and summary.fallback_reason == reason
    assert "(deterministic answer: the model" in text and says in text
    assert "AI-generated" not in text and "1000000" not in text and ":{" not in text
    assert {c.ref for c in summary.citations} >= {"alert:a2", "event:2"}  # the deterministic engine's sources


async def test_a_good_model_summary_keeps_only_its_real_citations(llm: LlmEmulator, assistant: Assistant) -> None:
    llm.say({**GOOD_SUMMARY, "cited": ["alert:17", "change:deploy-77"]})
    summary = await assistant.summarize(incident(), NOW)
    assert summary.engine == "model" and summary.fallback_reason is None
    assert [c.ref for c in summary.citations] == ["change:deploy-77"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ({"answer": "deploy-77 shrank the pool at 09:52.", "cited": ["alert:17", "event:5"]}, "uncited"),
        ({"answer": "0", "cited": ["change:deploy-77"]}, "garbage"),
        ({"answer": ":{", "cited": ["change:deploy-77"]}, "garbage"),
    ],
)
async def test_a_bad_model_answer_falls_back_and_says_so(
    llm: LlmEmulator, assistant: Assistant, answer: dict[str, Any], reason: str
) -> None:
    llm.say(answer)
    got = await assistant.ask(incident(), "which deploy broke checkout?")
    assert got.engine == "deterministic" and got.fallback_reason == reason
    assert "(deterministic answer: the model" in got.render_text()
    assert got.text.startswith("Best-matching records:") and got.citations


@pytest.mark.parametrize(
    ("cause", "reason"),
    [
        ({"title": "1000000"}, "garbage"),
        ({"title": "Pool exhausted", "explanation": ":{"}, "garbage"),
        ({"evidence": ["alert:17"]}, "uncited"),
    ],
)
async def test_a_bad_model_rca_falls_back_and_says_so(
    llm: LlmEmulator, assistant: Assistant, cause: dict[str, Any], reason: str
) -> None:
    llm.say({"causes": [{**GOOD_CAUSE, **cause}]})
    result = await assistant.rca(incident())
    assert result.engine == "deterministic" and result.fallback_reason == reason
    assert result.causes[0].key == "change:deploy-77"
    assert "(deterministic answer: the model" in result.render_text()


async def test_garbage_causes_are_dropped_when_a_good_one_remains(llm: LlmEmulator, assistant: Assistant) -> None:
    llm.say({"causes": [{**GOOD_CAUSE, "title": "1000000", "evidence": ["alert:a1"], "candidate": ""}, GOOD_CAUSE]})
    result = await assistant.rca(incident())
    assert result.engine == "model" and result.causes[0].title == "deploy-77 shrank the DB pool"
    assert all(c.title != "1000000" for c in result.causes)


@pytest.mark.parametrize(
    "change", [{"summary": "0"}, {"summary": "Pool."}, {"root_cause": "1000000"}, {"impact": ":{"}]
)
async def test_a_bad_model_postmortem_falls_back_and_says_so(
    llm: LlmEmulator, assistant: Assistant, change: dict[str, Any]
) -> None:
    llm.say({**GOOD_POSTMORTEM, **change})
    draft = await assistant.postmortem(incident(status="resolved", resolved_at=at(45)))
    assert draft.engine == "deterministic" and draft.fallback_reason == "garbage"
    assert "deterministic answer: the model's" in draft.markdown


async def test_a_good_model_postmortem_is_the_models(llm: LlmEmulator, assistant: Assistant) -> None:
    llm.say(GOOD_POSTMORTEM)
    draft = await assistant.postmortem(incident(status="resolved", resolved_at=at(45)))
    assert draft.engine == "model" and draft.fallback_reason is None
