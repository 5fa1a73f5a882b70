"""The real openai client over HTTP against the emulator: structured output, streaming, every fallback."""

from __future__ import annotations

import json

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from warroom.ai import AiMetrics, LlmClient, MemoryLedger, ModelUnavailable, Usage
from warroom.ai.client import strict_schema
from warroom.sandbox.llm import LlmEmulator, Reply

from .conftest import ai_settings


class Verdict(BaseModel):
    answer: str
    refs: list[str]
    confidence: float


GOOD = {"answer": "pool exhausted", "refs": ["alert:a1"], "confidence": 0.8}


async def ask(client: LlmClient, incident: str = "INC-1") -> Verdict:
    done = await client.structured(
        Verdict, incident=incident, capability="ask", system="Answer in JSON.", user="What happened?"
    )
    return done.value


@pytest.mark.parametrize("stream", [False, True])
async def test_structured_output_round_trip(llm: LlmEmulator, stream: bool) -> None:
    llm.say(GOOD)
    client = LlmClient(ai_settings(llm, stream=stream))
    try:
        assert await ask(client) == Verdict(**GOOD)
    finally:
        await client.aclose()
    sent = llm.requests[-1]
    rf = sent.response_format or {}
    assert rf["type"] == "json_schema" and rf["json_schema"]["strict"] is True
    assert rf["json_schema"]["schema"] == strict_schema(Verdict)
    assert sent.stream is stream and sent.body["max_tokens"] == 1200 and sent.body["temperature"] == 0.2
    if stream:
        assert sent.body["stream_options"] == {"include_usage": True}


async def test_usage_is_counted_per_incident_and_in_metrics(llm: LlmEmulator) -> None:
    metrics = AiMetrics(CollectorRegistry())
    ledger = MemoryLedger()
    client = LlmClient(ai_settings(llm, stream=True), ledger=ledger, metrics=metrics)
    llm.say(GOOD, GOOD, GOOD)
    try:
        await ask(client, "INC-1")
        await ask(client, "INC-1")
        await ask(client, "INC-2")
        one, two = await client.usage("INC-1"), await client.usage("INC-2")
    finally:
        await client.aclose()
    assert (
        one.prompt_tokens == 2 * two.prompt_tokens > 0 and one.completion_tokens == 2 * two.completion_tokens
    )
    reg = metrics.registry
    assert (
        reg.get_sample_value("warroom_ai_tokens_total", {"capability": "ask", "kind": "prompt"})
        == (one + two).prompt_tokens
    )
    assert reg.get_sample_value("warroom_ai_model_calls_total", {"capability": "ask", "outcome": "ok"}) == 3


async def test_json_object_mode_puts_the_schema_in_the_prompt(llm: LlmEmulator) -> None:
    llm.say(GOOD)
    client = LlmClient(
        ai_settings(llm, response_format="json_object", max_tokens_param="max_completion_tokens")
    )
    try:
        assert (await ask(client)).answer == "pool exhausted"
    finally:
        await client.aclose()
    sent = llm.requests[-1]
    assert (
        sent.response_format == {"type": "json_object"} and json.dumps(strict_schema(Verdict)) in sent.system
    )
    assert sent.body["max_completion_tokens"] == 1200 and "max_tokens" not in sent.body


async def test_code_fenced_json_from_local_models_is_accepted(llm: LlmEmulator) -> None:
    llm.say("```json\n" + json.dumps(GOOD) + "\n```")
    client = LlmClient(ai_settings(llm))
    try:
        assert (await ask(client)).confidence == 0.8
    finally:
        await client.aclose()


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (Reply(content="{not json"), "malformed"),
        (Reply(content={"answer": "missing fields"}), "malformed"),
        (Reply(malformed_body=True), "malformed"),
        (Reply(content=""), "malformed"),
        (Reply(refusal="I'm sorry, I can't help with that."), "refused"),
        (Reply(content=json.dumps(GOOD), finish_reason="length"), "truncated"),
        (Reply(content=json.dumps(GOOD), finish_reason="content_filter"), "filtered"),
        (Reply.fail(500), "server_error"),
        (Reply.fail(503), "server_error"),
        (Reply.fail(429), "rate_limited"),
        (Reply.fail(400, "Invalid parameter"), "rejected"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
async def test_bad_answers_become_typed_fallbacks(
    llm: LlmEmulator, reply: Reply, reason: str, stream: bool
) -> None:
    llm.say(reply)
    client = LlmClient(ai_settings(llm, stream=stream))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    if reason == "malformed" and stream and reply.malformed_body:
        return  # a body that is not an event stream reads as an empty answer: malformed all the same
    assert caught.value.reason == reason
    assert caught.value.detail and "Traceback" not in caught.value.detail


async def test_wrong_key_is_unauthorized_and_says_what_to_check(llm: LlmEmulator) -> None:
    client = LlmClient(ai_settings(llm, api_key="sk-wrong-0000000000"))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "unauthorized" and "WARROOM_AI__API_KEY" in caught.value.detail
    assert "sk-wrong" not in caught.value.detail


async def test_unknown_model_is_rejected_with_the_servers_reason(llm: LlmEmulator) -> None:
    client = LlmClient(ai_settings(llm, model="gpt-nonexistent"))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "rejected" and "gpt-nonexistent" in caught.value.detail


@pytest.mark.parametrize("stream", [False, True])
async def test_a_slow_model_times_out_within_the_deadline(llm: LlmEmulator, stream: bool) -> None:
    llm.say(Reply(content=json.dumps(GOOD), delay=3.0))
    client = LlmClient(ai_settings(llm, timeout=0.3, stream=stream))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "timeout" and "0.3 s" in caught.value.detail


async def test_a_model_endpoint_that_is_down_is_unreachable(llm: LlmEmulator) -> None:
    settings = ai_settings(llm)
    await llm.stop()
    client = LlmClient(settings)
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "unreachable"


async def test_dropped_connections_are_unreachable(llm: LlmEmulator) -> None:
    llm.inject("POST /chat/completions", "reset")
    client = LlmClient(ai_settings(llm))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "unreachable"


async def test_the_incident_budget_stops_calls_before_they_are_made(llm: LlmEmulator) -> None:
    ledger = MemoryLedger()
    await ledger.add("INC-9", Usage(prompt_tokens=9_990, completion_tokens=0))
    client = LlmClient(ai_settings(llm, incident_token_budget=10_000), ledger=ledger)
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client, "INC-9")
        llm.say(GOOD)
        assert (await ask(client, "INC-10")).answer == "pool exhausted"  # another incident has its own budget
    finally:
        await client.aclose()
    assert caught.value.reason == "budget" and "10,000" in caught.value.detail
    assert len(llm.requests) == 1


async def test_max_tokens_shrinks_to_what_the_budget_has_left(llm: LlmEmulator) -> None:
    ledger = MemoryLedger()
    await ledger.add("INC-9", Usage(prompt_tokens=9_500))
    llm.say(GOOD)
    client = LlmClient(ai_settings(llm, incident_token_budget=10_000), ledger=ledger)
    try:
        await ask(client, "INC-9")
    finally:
        await client.aclose()
    assert llm.requests[-1].body["max_tokens"] < 500


async def test_client_retries_a_transient_5xx_when_configured(llm: LlmEmulator) -> None:
    llm.say(Reply.fail(503), GOOD)
    client = LlmClient(ai_settings(llm, max_retries=1))
    try:
        assert (await ask(client)).answer == "pool exhausted"
    finally:
        await client.aclose()
    assert [c.status for c in llm.calls_to("POST /chat/completions")] == [503, 200]


def test_strict_schema_closes_nested_objects() -> None:
    class Inner(BaseModel):
        x: int = 3

    class Outer(BaseModel):
        items: list[Inner]
        name: str = "n"

    schema = strict_schema(Outer)
    assert schema["additionalProperties"] is False and schema["required"] == ["items", "name"]
    inner = schema["$defs"]["Inner"]
    assert (
        inner["additionalProperties"] is False
        and inner["required"] == ["x"]
        and "default" not in inner["properties"]["x"]
    )
