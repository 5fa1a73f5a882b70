"""The OpenAI-compatible emulator over plain HTTP: auth, validation, structured-output rules, streaming, limits."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from warroom.sandbox.llm import ChatRequest, LlmEmulator, Reply, example_for

from .conftest import KEY, MODEL

AUTH = {"Authorization": f"Bearer {KEY}"}
STRICT = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "refs": {"type": "array", "items": {"type": "string"}}},
    "required": ["answer", "refs"],
    "additionalProperties": False,
}


@pytest.fixture
async def http(llm: LlmEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{llm.base_url}/v1", headers=AUTH) as client:
        yield client


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": "hello"}], **extra}


async def test_missing_and_wrong_keys_get_openais_401(llm: LlmEmulator) -> None:
    async with httpx.AsyncClient(base_url=f"{llm.base_url}/v1") as anon:
        none = await anon.post("/chat/completions", json=chat())
        wrong = await anon.post(
            "/chat/completions", json=chat(), headers={"Authorization": "Bearer sk-wrong-key-987654"}
        )
    assert none.status_code == 401 and "didn't provide an API key" in none.json()["error"]["message"]
    assert none.json()["error"]["code"] is None
    body = wrong.json()["error"]
    assert (
        wrong.status_code == 401
        and body["code"] == "invalid_api_key"
        and body["type"] == "invalid_request_error"
    )
    assert "sk-wrong-key-987654" not in body["message"] and body["message"].endswith("api-keys.")


async def test_models_list_and_unknown_model(http: httpx.AsyncClient) -> None:
    listing = (await http.get("/models")).json()
    assert listing["object"] == "list" and listing["data"][0] == {
        "id": MODEL,
        "object": "model",
        "created": 1_700_000_000,
        "owned_by": "sandbox",
    }
    missing = await http.post("/chat/completions", json=chat(model="gpt-9"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


async def test_a_completion_has_openais_shape_and_usage(llm: LlmEmulator, http: httpx.AsyncClient) -> None:
    llm.say("All good.")
    body = (await http.post("/chat/completions", json=chat())).json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    choice = body["choices"][0]
    assert choice["message"] == {
        "role": "assistant",
        "content": "All good.",
        "refusal": None,
        "annotations": [],
    }
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert llm.requests[-1].user == "hello"


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        (chat(messages=[]), 400, "empty array"),
        (chat(messages=[{"role": "robot", "content": "x"}]), 400, "Supported values"),
        (chat(temperature=3), 400, "temperature"),
        (chat(max_tokens=10**6), 400, "max_tokens is too large"),
        (chat(stream_options={"include_usage": True}), 400, "only allowed when 'stream' is enabled"),
        (chat(response_format={"type": "json_object"}), 400, "must contain the word 'json'"),
        (
            chat(
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": "bad name!", "schema": STRICT},
                }
            ),
            400,
            "does not match pattern",
        ),
        ({"messages": [{"role": "user", "content": "x"}]}, 400, "model parameter"),
    ],
)
async def test_invalid_requests_are_refused_like_openai(
    http: httpx.AsyncClient, payload: dict[str, Any], status: int, fragment: str
) -> None:
    answer = await http.post("/chat/completions", json=payload)
    assert answer.status_code == status
    assert fragment in answer.json()["error"]["message"]


async def test_strict_schemas_must_close_every_object(http: httpx.AsyncClient) -> None:
    loose = {**STRICT, "additionalProperties": True}
    partial = {**STRICT, "required": ["answer"]}
    for schema, fragment in ((loose, "'additionalProperties' is required"), (partial, "Missing 'refs'")):
        rf = {"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}}
        answer = await http.post("/chat/completions", json=chat(response_format=rf))
        assert answer.status_code == 400 and fragment in answer.json()["error"]["message"]
    ok = {"type": "json_schema", "json_schema": {"name": "out", "schema": STRICT, "strict": True}}
    default = (await http.post("/chat/completions", json=chat(response_format=ok))).json()
    assert json.loads(default["choices"][0]["message"]["content"]) == {"answer": "sandbox", "refs": []}


async def test_context_window_and_length_cut(llm: LlmEmulator, http: httpx.AsyncClient) -> None:
    llm.context_window = 50
    too_long = await http.post(
        "/chat/completions", json=chat(messages=[{"role": "user", "content": "x" * 400}])
    )
    assert too_long.status_code == 400 and too_long.json()["error"]["code"] == "context_length_exceeded"
    llm.context_window = 128_000
    llm.say("word " * 100)
    cut = (await http.post("/chat/completions", json=chat(max_tokens=10))).json()
    assert (
        cut["choices"][0]["finish_reason"] == "length" and len(cut["choices"][0]["message"]["content"]) == 40
    )


async def test_streaming_sends_chunks_usage_and_done(llm: LlmEmulator, http: httpx.AsyncClient) -> None:
    llm.say('{"answer": "streamed answer", "refs": []}')
    async with http.stream(
        "POST", "/chat/completions", json=chat(stream=True, stream_options={"include_usage": True})
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in response.aiter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert json.loads(text)["answer"] == "streamed answer"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


async def test_scripted_refusal_error_malformed_and_callable(
    llm: LlmEmulator, http: httpx.AsyncClient
) -> None:
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> Reply:
        seen.append(request)
        return Reply(content=f"you said {request.user}")

    llm.say(Reply(refusal="I can't help with that."), Reply.fail(503), Reply(malformed_body=True), responder)
    refusal = (await http.post("/chat/completions", json=chat())).json()["choices"][0]["message"]
    assert refusal["content"] is None and refusal["refusal"] == "I can't help with that."
    failed = await http.post("/chat/completions", json=chat())
    assert failed.status_code == 503 and failed.json()["error"]["type"] == "server_error"
    broken = await http.post("/chat/completions", json=chat())
    assert broken.status_code == 200
    with pytest.raises(ValueError):
        broken.json()
    echoed = (await http.post("/chat/completions", json=chat())).json()
    assert echoed["choices"][0]["message"]["content"] == "you said hello" and seen[0].model == MODEL


async def test_rate_limit_and_base_class_faults(llm: LlmEmulator, http: httpx.AsyncClient) -> None:
    llm.requests_per_minute = 2
    codes = [(await http.post("/chat/completions", json=chat())).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = await http.post("/chat/completions", json=chat())
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert (
        limited.headers["x-ratelimit-remaining-requests"] == "0" and int(limited.headers["retry-after"]) >= 1
    )
    llm.requests_per_minute = None
    llm.inject("POST /chat/completions", "status", status=502, body={"error": {"message": "bad gateway"}})
    assert (await http.post("/chat/completions", json=chat())).status_code == 502
    assert (await http.post("/chat/completions", json=chat())).status_code == 200


def test_example_for_follows_refs_enums_and_nesting() -> None:
    schema = {
        "type": "object",
        "properties": {
            "kind": {"enum": ["a", "b"]},
            "items": {"type": "array", "items": {"$ref": "#/$defs/X"}},
            "x": {"$ref": "#/$defs/X"},
            "n": {"type": "integer"},
            "maybe": {"anyOf": [{"type": "null"}]},
        },
        "$defs": {"X": {"type": "object", "properties": {"ok": {"type": "boolean"}}}},
    }
    assert example_for(schema) == {"kind": "a", "items": [], "x": {"ok": False}, "n": 1, "maybe": None}
