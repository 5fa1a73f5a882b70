"""The client against a server that behaves as llama-cpp-python's does (the emulator's switches, over loopback
HTTP): json_schema refused with its 500 and JSON mode with a schema taken instead, a chat template that drops the
system message, streams without usage, and one generation slot that a non-streamed call keeps busy after its
client has gone."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from warroom.ai import AiMetrics, Assistant, LlmClient, MemoryLedger, ModelUnavailable
from warroom.ai.client import strict_schema
from warroom.ai.prompts import ROLE
from warroom.sandbox.llm import LLAMA_NO_JSON_SCHEMA, ChatRequest, LlmEmulator, Reply

from .conftest import KEY, MODEL, ai_settings, incident


class Verdict(BaseModel):
    answer: str
    refs: list[str]


GOOD = {"answer": "the pool is exhausted", "refs": ["alert:a1"]}
#: Long enough that the emulated generation spreads over many streamed pieces.
LONG = {"answer": "the pool is exhausted " * 12, "refs": ["alert:a1"]}


@pytest.fixture
async def llama() -> AsyncIterator[LlmEmulator]:
    emu = LlmEmulator(api_keys=(), models=(MODEL,)).like_llama_cpp_python()
    await emu.start()
    yield emu
    await emu.stop()


async def ask(client: LlmClient, incident: str = "INC-1") -> Verdict:
    done = await client.structured(
        Verdict, incident=incident, capability="ask", system="Answer in JSON.", user="What happened?"
    )
    return done.value


# -- the emulator plays the server ----------------------------------------------------------------------
async def test_emulated_server_refuses_json_schema_with_its_500_and_takes_json_object_with_a_schema(
    llama: LlmEmulator,
) -> None:
    schema = strict_schema(Verdict)
    base = {"model": MODEL, "messages": [{"role": "user", "content": "Answer in JSON."}]}
    async with httpx.AsyncClient(base_url=f"{llama.base_url}/v1") as http:
        refused = await http.post(
            "/chat/completions",
            json={
                **base,
                "response_format": {"type": "json_schema", "json_schema": {"name": "v", "schema": schema}},
            },
        )
        taken = await http.post(
            "/chat/completions", json={**base, "response_format": {"type": "json_object", "schema": schema}}
        )
    assert refused.status_code == 500
    assert refused.json()["error"]["message"] == LLAMA_NO_JSON_SCHEMA
    assert refused.json()["error"]["type"] == "internal_server_error"
    assert taken.status_code == 200
    Verdict.model_validate_json(taken.json()["choices"][0]["message"]["content"])  # the grammar held


# -- response format ------------------------------------------------------------------------------------
async def test_a_refused_json_schema_turns_into_json_object_with_schema_for_good(
    llama: LlmEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    llama.say(GOOD, GOOD)
    client = LlmClient(ai_settings(llama, api_key=None, system_prompt="user", max_retries=0))
    try:
        with caplog.at_level(logging.WARNING, logger="warroom.ai.client"):
            first = await ask(client)
            second = await ask(client)
    finally:
        await client.aclose()
    assert first == second == Verdict(**GOOD)
    assert client.json_schema_refused and client.format_kind == "json_object_schema"
    sent = [r.response_format for r in llama.requests]
    assert sent == [{"type": "json_object", "schema": strict_schema(Verdict)}] * 2
    assert [c.op for c in llama.calls] == ["POST /chat/completions"] * 3  # one refusal, then two answers
    said = [r.getMessage() for r in caplog.records if "refuses response_format json_schema" in r.getMessage()]
    assert len(said) == 1 and "ai.response_format: json_object_schema" in said[0]


async def test_json_object_schema_setting_asks_for_it_from_the_first_call(llama: LlmEmulator) -> None:
    client = LlmClient(
        ai_settings(llama, api_key=None, response_format="json_object_schema", system_prompt="user")
    )
    try:
        value = await ask(client)  # the default responder answers with an instance of the schema
    finally:
        await client.aclose()
    assert Verdict.model_validate(value) is not None
    assert [c.op for c in llama.calls] == ["POST /chat/completions"]
    sent = llama.requests[-1]
    assert sent.response_format == {"type": "json_object", "schema": strict_schema(Verdict)}
    assert json.dumps(strict_schema(Verdict)) in sent.user  # the shape is also said in words


async def test_other_server_errors_are_not_taken_for_a_refused_format(llm: LlmEmulator) -> None:
    llm.say(Reply.fail(500))
    client = LlmClient(ai_settings(llm))
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client)
    finally:
        await client.aclose()
    assert caught.value.reason == "server_error" and not client.json_schema_refused
    assert len(llm.requests) == 1 and (llm.requests[0].response_format or {})["type"] == "json_schema"


# -- a chat template that drops the system message -------------------------------------------------------
def instructed(request: ChatRequest) -> Reply:
    """A model that answers well only when it was told the task; shown the data alone, it babbles."""
    if "Answer the responder's question" in request.prompt_text:
        return Reply(content={"answer": "The deploy deploy-77 shrank the pool.", "cited": ["change:deploy-77"]})
    return Reply(content={"answer": ":{", "cited": []})


@pytest.mark.parametrize("placement", ["system", "user"])
async def test_instructions_reach_the_model_only_in_the_user_turn_when_the_template_drops_system(
    llama: LlmEmulator, placement: str
) -> None:
    llama.responder = instructed
    settings = ai_settings(
        llama, api_key=None, response_format="json_object_schema", system_prompt=placement
    )
    client = LlmClient(settings)
    try:
        answer = await Assistant(settings, client).ask(incident(), "which deploy broke checkout?")
    finally:
        await client.aclose()
    sent = llama.requests[-1].body["messages"]
    if placement == "user":
        assert [m["role"] for m in sent] == ["user"] and sent[0]["content"].startswith(ROLE)
        assert answer.engine == "model" and "deploy-77" in answer.text
        assert [c.ref for c in answer.citations] == ["change:deploy-77"]
    else:
        assert [m["role"] for m in sent] == ["system", "user"]
        assert llama.requests[-1].system == ""  # what the model saw
        assert answer.engine == "deterministic" and answer.fallback_reason == "garbage"
        assert "deterministic answer: the model's answer was not text" in answer.render_text()


# -- streams without usage ------------------------------------------------------------------------------
async def test_streamed_tokens_are_counted_when_the_server_sends_no_usage(llama: LlmEmulator) -> None:
    llama.say(GOOD)
    metrics = AiMetrics(CollectorRegistry())
    ledger = MemoryLedger()
    client = LlmClient(
        ai_settings(llama, api_key=None, response_format="json_object_schema", system_prompt="user"),
        ledger=ledger,
        metrics=metrics,
    )
    try:
        await ask(client, "INC-7")
    finally:
        await client.aclose()
    assert llama.requests[-1].body["stream_options"] == {"include_usage": True}  # asked, and ignored
    pieces = -(-len(json.dumps(GOOD)) // llama.stream_piece)
    used = await ledger.used("INC-7")
    assert used.completion_tokens == pieces and used.prompt_tokens > 0
    reg = metrics.registry
    assert reg.get_sample_value("warroom_ai_tokens_total", {"capability": "ask", "kind": "completion"}) == pieces


async def test_a_stream_cut_at_the_deadline_is_still_charged(llama: LlmEmulator) -> None:
    llama.say(Reply(content=LONG, delay=4.0))
    ledger = MemoryLedger()
    client = LlmClient(
        ai_settings(
            llama, api_key=None, response_format="json_object_schema", system_prompt="user", timeout=1.0
        ),
        ledger=ledger,
    )
    try:
        with pytest.raises(ModelUnavailable) as caught:
            await ask(client, "INC-8")
    finally:
        await client.aclose()
    used = await ledger.used("INC-8")
    assert caught.value.reason == "timeout"
    assert 0 < used.completion_tokens < -(-len(json.dumps(LONG)) // llama.stream_piece)
    assert used.prompt_tokens > 0


# -- one slot -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stream", [True, False])
async def test_a_timed_out_call_frees_the_servers_only_slot_when_streamed(
    llama: LlmEmulator, stream: bool
) -> None:
    """Streaming (the default) closes the stream at the deadline and the server stops; a non-streamed call
    cannot tell the server, whose only slot stays busy, so the next call times out too."""
    llama.say(Reply(content=LONG, delay=8.0), GOOD)
    client = LlmClient(
        ai_settings(
            llama,
            api_key=None,
            response_format="json_object_schema",
            system_prompt="user",
            timeout=1.5,
            stream=stream,
        )
    )
    try:
        with pytest.raises(ModelUnavailable) as first:
            await ask(client)
        try:
            second: Verdict | str = await ask(client)
        except ModelUnavailable as exc:
            second = exc.reason
    finally:
        await client.aclose()
    assert first.value.reason == "timeout"
    if stream:
        assert second == Verdict(**GOOD) and llama.stopped == 1
    else:
        assert second == "timeout" and llama.stopped == 0


def test_streaming_is_the_default() -> None:
    assert ai_settings(LlmEmulator(), api_key=KEY).stream is True
