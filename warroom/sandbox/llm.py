"""A local OpenAI-compatible model endpoint: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Shapes follow OpenAI's API reference, error pages and Structured Outputs guide, as integrators quote them:

- Auth: ``Authorization: Bearer <key>``. No key: 401 "You didn't provide an API key. …" (``code: null``); a
  wrong key: 401 "Incorrect API key provided: sk-ab****wxyz. …" with ``code: "invalid_api_key"``. Every error is
  ``{"error": {"message", "type", "param", "code"}}``. An emulator built with ``api_keys=()`` takes any key, as
  Ollama and llama.cpp's server do.
- ``POST /v1/chat/completions``: ``model`` (unknown → 404 ``model_not_found``), ``messages`` (non-empty; roles
  system, developer, user, assistant, tool, function), ``temperature`` 0..2, ``max_tokens`` /
  ``max_completion_tokens`` (at most ``max_output_tokens``), ``response_format`` ``text`` | ``json_object`` (the
  messages must contain the word "json") | ``json_schema`` (``name`` of ``[a-zA-Z0-9_-]{1,64}``, ``schema`` an
  object; with ``strict: true`` every object must set ``additionalProperties: false`` and require every property,
  else 400 "Invalid schema for response_format …"), prompt + completion within ``context_window`` (else 400
  ``context_length_exceeded``), ``stream_options`` only with ``stream``.
- Answers: ``chat.completion`` objects with ``choices[0].message`` (``content`` or ``refusal``), ``finish_reason``
  (``stop``; ``length`` when the scripted content is longer than the token limit, and the content is cut), and
  ``usage`` with prompt/completion/total tokens and their details. With ``stream: true``: server-sent events of
  ``chat.completion.chunk`` objects (a first delta with the role, content or refusal in pieces, a last one with
  ``finish_reason``), then — when ``stream_options.include_usage`` — a chunk with empty ``choices`` and the usage,
  then ``data: [DONE]``.
- Rate limits: ``requests_per_minute`` (None: off) answers 429 ``rate_limit_exceeded`` (type ``requests``) with
  ``x-ratelimit-*`` headers and a ``retry-after`` hint.
- ``GET /v1/models``: ``{"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}``.

Token counts are estimates (about four characters a token); no tokenizer is needed.

llama-cpp-python's server (``python -m llama_cpp.server``) differs in ways that matter to a client; each is a
switch here, all on with :meth:`LlmEmulator.like_llama_cpp_python`:

- ``refuses_json_schema``: ``response_format: json_schema`` fails with HTTP 500 and pydantic's "Input should be
  'text' or 'json_object'" (:data:`LLAMA_NO_JSON_SCHEMA`); ``{"type": "json_object", "schema": …}`` is accepted and
  the answer follows the schema (a grammar constrains it), which the default responder honours in any mode.
- ``drops_system``: the chat template drops the system message (gemma's): responders see the other turns only.
- ``stream_usage = False``: ``stream_options.include_usage`` is ignored; streams carry no usage.
- ``one_slot``: one generation at a time, the others wait. ``Reply.delay`` is the generation's time: a
  non-streamed call spends all of it even after its client has gone (the slot stays busy), a stream stops at the
  first piece after the client closed it (counted in :attr:`LlmEmulator.stopped`).

Scripting, per test: :meth:`LlmEmulator.say` queues :class:`Reply` objects or callables (given the
:class:`ChatRequest`, return a Reply — or an awaitable of one); :attr:`LlmEmulator.responder` answers when the queue
is empty (default: a valid instance of the requested JSON schema, else a short sentence). A Reply may carry
content (a string, or a dict/list sent as JSON), a refusal, an HTTP error (:meth:`Reply.fail`), a body that is not
JSON (``malformed_body``), a ``delay`` before answering, and a ``finish_reason``. Faults from the base class apply
to ``POST /chat/completions`` and ``GET /models``. Every request received is kept in :attr:`LlmEmulator.requests`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .base import Emulator, EmulatorConfig, SlidingWindow

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the "
    "API from your browser and are prompted for a username and password. You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)
BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library "
    "correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
#: What llama-cpp-python's server answers (HTTP 500, type internal_server_error) to ``response_format: json_schema``.
LLAMA_NO_JSON_SCHEMA = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input "
    "should be 'text' or 'json_object'\", 'input': 'json_schema', 'ctx': {'expected': \"'text' or 'json_object'\"}}"
    "\n\n  File \"/usr/lib/python3/site-packages/llama_cpp/server/app.py\", line 376, in create_chat_completion\n"
    "    POST /v1/chat/completions"
)


def error_body(
    message: str, type_: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def estimate_tokens(text: str) -> int:
    return max(1, (len(text) + 3) // 4) if text else 0


@dataclass
class Reply:
    """One scripted answer."""

    #: The assistant's content: a string as is, a dict or list sent as its JSON text.
    content: str | dict[str, Any] | list[Any] | None = None
    refusal: str | None = None
    #: An HTTP error instead of an answer (see :meth:`fail`).
    status: int = 200
    error: dict[str, Any] | None = None
    #: Answer 200 with a body that is not JSON (a proxy cut it, a server crashed mid-write).
    malformed_body: bool = False
    #: Seconds to wait before answering.
    delay: float = 0.0
    finish_reason: str | None = None

    @classmethod
    def fail(cls, status: int, message: str | None = None, *, code: str | None = None) -> Reply:
        """An error answer in OpenAI's shape: 400 invalid_request_error, 429 rate_limit_exceeded, 5xx server_error."""
        if status == 429:
            body = error_body(
                message or "Rate limit reached for requests.", "requests", None, code or "rate_limit_exceeded"
            )
        elif status >= 500:
            body = error_body(message or SERVER_ERROR, "server_error", None, code)
        else:
            body = error_body(message or "Invalid request.", "invalid_request_error", None, code)
        return cls(status=status, error=body)

    def text(self) -> str | None:
        if self.content is None or isinstance(self.content, str):
            return self.content
        return json.dumps(self.content)


@dataclass
class ChatRequest:
    """What a test's responder sees of one chat completion request."""

    model: str
    messages: list[dict[str, Any]]
    body: dict[str, Any]
    stream: bool = False
    response_format: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _text(content: Any) -> str:
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        return ""

    @property
    def system(self) -> str:
        return "\n".join(
            self._text(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer")
        )

    @property
    def user(self) -> str:
        return "\n".join(self._text(m.get("content")) for m in self.messages if m.get("role") == "user")

    @property
    def prompt_text(self) -> str:
        return "\n".join(self._text(m.get("content")) for m in self.messages)

    @property
    def schema(self) -> dict[str, Any] | None:
        rf = self.response_format or {}
        if rf.get("type") == "json_schema":
            schema = (rf.get("json_schema") or {}).get("schema")
            return schema if isinstance(schema, dict) else None
        if rf.get("type") == "json_object":  # llama.cpp's servers: JSON mode constrained by a schema
            schema = rf.get("schema")
            return schema if isinstance(schema, dict) else None
        return None

    @property
    def max_tokens(self) -> int | None:
        value = self.body.get("max_completion_tokens", self.body.get("max_tokens"))
        return value if isinstance(value, int) else None


Responder = Callable[[ChatRequest], "Reply | Awaitable[Reply]"]


def example_for(schema: dict[str, Any], root: dict[str, Any] | None = None) -> Any:
    """A small valid instance of a JSON schema (objects, arrays, scalars, enums, $ref, anyOf)."""
    root = root or schema
    if "$ref" in schema:
        ref = str(schema["$ref"])
        node: Any = root
        for part in ref.removeprefix("#/").split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return example_for(node, root)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            return example_for(schema[key][0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        return {k: example_for(v, root) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return []
    if kind == "string":
        return "sandbox"
    if kind == "integer":
        return 1
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return False
    return None


def default_responder(request: ChatRequest) -> Reply:
    if request.schema is not None:
        return Reply(content=example_for(request.schema))
    if (request.response_format or {}).get("type") == "json_object":
        return Reply(content={})
    return Reply(content="This is the sandbox model.")


def strict_problem(schema: Any, context: tuple[str, ...] = ()) -> str | None:
    """What OpenAI's strict mode would refuse in ``schema``, or None."""
    if isinstance(schema, dict):
        where = "(" + ", ".join(repr(c) for c in context) + ("," if len(context) == 1 else "") + ")"
        if schema.get("type") == "object" or "properties" in schema:
            if schema.get("additionalProperties") is not False:
                return (
                    f"In context={where}, 'additionalProperties' is required to be supplied and to be false."
                )
            props = schema.get("properties", {})
            required = schema.get("required", [])
            missing = [k for k in props if k not in required]
            if missing:
                return (
                    f"In context={where}, 'required' is required to be supplied and to be an array including "
                    f"every key in properties. Missing '{missing[0]}'."
                )
            for key, sub in props.items():
                problem = strict_problem(sub, (*context, "properties", key))
                if problem:
                    return problem
        for key in ("items",):
            if key in schema:
                problem = strict_problem(schema[key], (*context, key))
                if problem:
                    return problem
        for key in ("$defs", "definitions"):
            for name, sub in (schema.get(key) or {}).items():
                problem = strict_problem(sub, (*context, key, name))
                if problem:
                    return problem
        for key in ("anyOf",):
            for n, sub in enumerate(schema.get(key) or []):
                problem = strict_problem(sub, (*context, key, str(n)))
                if problem:
                    return problem
    return None


class LlmEmulator(Emulator):
    name = "llm"

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        api_keys: tuple[str, ...] = ("sk-sandbox-key",),
        models: tuple[str, ...] = ("sandbox-model",),
        context_window: int = 128_000,
        max_output_tokens: int = 16_384,
        requests_per_minute: int | None = None,
    ) -> None:
        super().__init__(config)
        self.api_keys = set(api_keys)
        self.models = list(models)
        self.context_window = context_window
        self.max_output_tokens = max_output_tokens
        self.requests_per_minute = requests_per_minute
        #: Scripted answers, first in first out; then :attr:`responder` answers.
        self.script: deque[Reply | Responder] = deque()
        self.responder: Responder = default_responder
        #: Every well-formed chat request received, in order.
        self.requests: list[ChatRequest] = []
        #: Characters per streamed content piece.
        self.stream_piece = 16
        #: llama-cpp-python's behaviours (see the module's docstring and :meth:`like_llama_cpp_python`).
        self.refuses_json_schema = False
        self.drops_system = False
        self.stream_usage = True
        self.one_slot = False
        #: Streamed generations stopped because the client closed the stream (``one_slot`` only).
        self.stopped = 0
        self._slot = asyncio.Lock()
        self._rpm: SlidingWindow | None = None
        self._stopping = asyncio.Event()
        self.route("POST", "/v1/chat/completions", "POST /chat/completions", self._authed(self._chat))
        self.route("GET", "/v1/models", "GET /models", self._authed(self._models))
        self.route("GET", "/v1/models/{model}", "GET /models", self._authed(self._model))

    # -- control ------------------------------------------------------------------------------------
    def like_llama_cpp_python(self) -> LlmEmulator:
        """Behave as llama-cpp-python's server does (with gemma's chat template): every switch on, a token a
        streamed piece. Returns the emulator."""
        self.refuses_json_schema = True
        self.drops_system = True
        self.stream_usage = False
        self.one_slot = True
        self.stream_piece = 4
        return self

    def say(self, *replies: Reply | Responder | str | dict[str, Any]) -> None:
        """Queue answers; a str or dict is shorthand for ``Reply(content=…)``."""
        for reply in replies:
            self.script.append(Reply(content=reply) if isinstance(reply, str | dict) else reply)

    async def stop(self) -> None:
        self._stopping.set()  # end scripted delays now rather than hold the shutdown
        await super().stop()

    # -- plumbing -----------------------------------------------------------------------------------
    @staticmethod
    def _headers() -> dict[str, str]:
        return {"x-request-id": f"req_{secrets.token_hex(16)}", "openai-processing-ms": "1"}

    def _error(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.Response:
        return web.json_response(body, status=status, headers={**self._headers(), **(headers or {})})

    def _authed(
        self, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def checked(request: web.Request) -> web.StreamResponse:
            if self.api_keys:
                header = request.headers.get("Authorization", "")
                key = header[7:].strip() if header.lower().startswith("bearer ") else ""
                if not key:
                    return self._error(401, error_body(NO_KEY))
                if key not in self.api_keys:
                    masked = (
                        key[:3] + "*" * max(4, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)
                    )
                    message = (
                        f"Incorrect API key provided: {masked}. You can find your API key at "
                        "https://platform.openai.com/account/api-keys."
                    )
                    return self._error(401, error_body(message, code="invalid_api_key"))
            return await handler(request)

        return checked

    def rate_limited(self, retry_after: float) -> web.Response:
        limit = self.requests_per_minute or 0
        model = self.models[0] if self.models else "model"
        seconds = max(1, round(retry_after))
        message = (
            f"Rate limit reached for {model} in organization org-sandbox on requests per min (RPM): "
            f"Limit {limit}, Used {limit}, Requested 1. Please try again in {seconds}s. Visit "
            "https://platform.openai.com/account/rate-limits to learn more."
        )
        headers = {
            "x-ratelimit-limit-requests": str(limit),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{seconds}s",
            "retry-after": str(seconds),
        }
        return self._error(429, error_body(message, "requests", None, "rate_limit_exceeded"), headers)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            try:
                await asyncio.wait_for(self._stopping.wait(), seconds)
            except TimeoutError:
                pass

    # -- models -------------------------------------------------------------------------------------
    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "sandbox"}

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {"object": "list", "data": [self._model_object(m) for m in self.models]}, headers=self._headers()
        )

    async def _model(self, request: web.Request) -> web.StreamResponse:
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(404, self._no_model(model))
        return web.json_response(self._model_object(model), headers=self._headers())

    @staticmethod
    def _no_model(model: str) -> dict[str, Any]:
        return error_body(
            f"The model `{model}` does not exist or you do not have access to it.", code="model_not_found"
        )

    # -- chat completions ---------------------------------------------------------------------------
    def _validate(self, body: Any) -> tuple[int, dict[str, Any]] | ChatRequest:
        if not isinstance(body, dict):
            return 400, error_body(BAD_JSON)
        model = body.get("model")
        if not isinstance(model, str) or not model:
            return 400, error_body("you must provide a model parameter")
        messages = body.get("messages")
        if not isinstance(messages, list):
            return 400, error_body(
                "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
            )
        if not messages:
            return 400, error_body(
                "Invalid 'messages': empty array. Expected an array with minimum length 1, but got "
                "an empty array instead.",
                param="messages",
                code="empty_array",
            )
        for n, message in enumerate(messages):
            role = message.get("role") if isinstance(message, dict) else None
            if role not in ROLES:
                return 400, error_body(
                    f"Invalid value: '{role}'. Supported values are: 'system', 'assistant', 'user', "
                    "'function', 'tool', and 'developer'.",
                    param=f"messages[{n}].role",
                    code="invalid_value",
                )
        temperature = body.get("temperature")
        if temperature is not None and (
            not isinstance(temperature, int | float) or not 0 <= temperature <= 2
        ):
            return 400, error_body(
                f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
                f"{temperature} instead.",
                param="temperature",
                code="decimal_above_max_value",
            )
        for param in ("max_tokens", "max_completion_tokens"):
            value = body.get(param)
            if value is not None and (
                not isinstance(value, int) or value < 1 or value > self.max_output_tokens
            ):
                return 400, error_body(
                    f"{param} is too large: {value}. This model supports at most "
                    f"{self.max_output_tokens} completion tokens, whereas you provided {value}.",
                    param=param,
                    code="invalid_value",
                )
        stream = bool(body.get("stream"))
        if body.get("stream_options") is not None and not stream:
            return 400, error_body(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                param="stream_options",
                code="invalid_value",
            )
        rf = body.get("response_format")
        request = ChatRequest(
            model=model,
            messages=messages,
            body=body,
            stream=stream,
            response_format=rf if isinstance(rf, dict) else None,
        )
        if self.refuses_json_schema and isinstance(rf, dict) and rf.get("type") == "json_schema":
            return 500, error_body(LLAMA_NO_JSON_SCHEMA, "internal_server_error")
        if rf is not None:
            problem = self._check_format(rf, request)
            if problem is not None:
                return 400, problem
        if model not in self.models:
            return 404, self._no_model(model)
        prompt = estimate_tokens(request.prompt_text)
        wanted = request.max_tokens or 0
        if prompt + wanted > self.context_window:
            return 400, error_body(
                f"This model's maximum context length is {self.context_window} tokens. However, you requested "
                f"{prompt + wanted} tokens ({prompt} in the messages, {wanted} in the completion). Please reduce the "
                "length of the messages or completion.",
                param="messages",
                code="context_length_exceeded",
            )
        return request

    @staticmethod
    def _check_format(rf: Any, request: ChatRequest) -> dict[str, Any] | None:
        kind = rf.get("type") if isinstance(rf, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            return error_body(
                f"Invalid value: '{kind}'. Supported values are: 'text', 'json_object', and 'json_schema'.",
                param="response_format.type",
                code="invalid_value",
            )
        if kind == "json_object" and "json" not in request.prompt_text.lower():
            return error_body(
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.",
                param="messages",
            )
        if kind == "json_schema":
            spec = rf.get("json_schema")
            if not isinstance(spec, dict):
                return error_body(
                    "Missing required parameter: 'response_format.json_schema'.",
                    param="response_format.json_schema",
                    code="missing_required_parameter",
                )
            name = spec.get("name")
            if not isinstance(name, str) or not SCHEMA_NAME.match(name):
                return error_body(
                    "Invalid 'response_format.json_schema.name': string does not match pattern. Expected "
                    "a string that matches the pattern '^[a-zA-Z0-9_-]+$'.",
                    param="response_format.json_schema.name",
                    code="invalid_value",
                )
            schema = spec.get("schema")
            if not isinstance(schema, dict):
                return error_body(
                    f"Invalid schema for response_format '{name}': schema must be a JSON Schema of "
                    "'type: \"object\"'.",
                    param="response_format",
                )
            if spec.get("strict"):
                if schema.get("type") != "object":
                    return error_body(
                        f"Invalid schema for response_format '{name}': schema must be a JSON Schema of "
                        "'type: \"object\"', got 'type: \"" + str(schema.get("type")) + "\"'.",
                        param="response_format",
                    )
                problem = strict_problem(schema)
                if problem:
                    return error_body(
                        f"Invalid schema for response_format '{name}': {problem}", param="response_format"
                    )
        return None

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return self._error(400, error_body(BAD_JSON))
        checked = self._validate(body)
        if isinstance(checked, tuple):
            return self._error(*checked)
        chat = checked
        chat.headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
        if self.drops_system:  # the model sees what the chat template keeps
            chat.messages = [m for m in chat.messages if m.get("role") not in ("system", "developer")]
        self.requests.append(chat)
        if self.requests_per_minute:
            if self._rpm is None or self._rpm.limit != self.requests_per_minute:
                self._rpm = SlidingWindow(self.requests_per_minute, 60.0)
            wait = self._rpm.hit(request.headers.get("Authorization", ""))
            if wait:
                return self.rate_limited(wait)
        reply = await self._next_reply(chat)
        if self.one_slot and reply.status == 200 and not reply.malformed_body:
            async with self._slot:
                if not chat.stream:
                    await self._sleep(reply.delay)  # generated in full, whether or not anyone still listens
                return await self._answer(request, chat, reply, spread=reply.delay if chat.stream else 0.0)
        await self._sleep(reply.delay)
        return await self._answer(request, chat, reply)

    async def _answer(
        self, request: web.Request, chat: ChatRequest, reply: Reply, *, spread: float = 0.0
    ) -> web.StreamResponse:
        """The reply as an HTTP answer; a stream spends ``spread`` seconds between its pieces."""
        if reply.status != 200:
            return self._error(reply.status, reply.error or error_body(SERVER_ERROR, "server_error"))
        if reply.malformed_body:
            return web.Response(
                text='{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"ind',
                content_type="application/json",
                headers=self._headers(),
            )
        content = reply.text()
        finish = reply.finish_reason or "stop"
        limit = chat.max_tokens
        if content is not None and limit is not None and estimate_tokens(content) > limit:
            content = content[: limit * 4]
            finish = reply.finish_reason or "length"
        prompt_tokens = estimate_tokens(chat.prompt_text)
        completion_tokens = estimate_tokens(content or reply.refusal or "")
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        ident = f"chatcmpl-{secrets.token_hex(12)}"
        created = int(time.time())
        if chat.stream:
            return await self._stream(
                request, chat, ident, created, content, reply.refusal, finish, usage, spread
            )
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if reply.refusal else content,
            "refusal": reply.refusal,
            "annotations": [],
        }
        return web.json_response(
            {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": chat.model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_sandbox",
            },
            headers=self._headers(),
        )

    async def _next_reply(self, chat: ChatRequest) -> Reply:
        item: Reply | Responder = self.script.popleft() if self.script else self.responder
        if isinstance(item, Reply):
            return item
        result = item(chat)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, Reply), "a responder must return a Reply"
        return result

    async def _stream(
        self,
        request: web.Request,
        chat: ChatRequest,
        ident: str,
        created: int,
        content: str | None,
        refusal: str | None,
        finish: str,
        usage: dict[str, Any],
        spread: float = 0.0,
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**self._headers(), "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        try:
            await self._write_stream(
                request, response, chat, ident, created, content, refusal, finish, usage, spread
            )
        except ConnectionResetError:
            # The client gave up (its deadline passed): nothing more to send, and the generation stops.
            if self.one_slot:
                self.stopped += 1
        return response

    async def _write_stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        chat: ChatRequest,
        ident: str,
        created: int,
        content: str | None,
        refusal: str | None,
        finish: str,
        usage: dict[str, Any],
        spread: float = 0.0,
    ) -> None:
        include_usage = self.stream_usage and bool((chat.body.get("stream_options") or {}).get("include_usage"))
        await response.prepare(request)

        async def send(choices: list[dict[str, Any]], with_usage: dict[str, Any] | None = None) -> None:
            chunk: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": chat.model,
                "system_fingerprint": "fp_sandbox",
                "choices": choices,
            }
            if include_usage:
                chunk["usage"] = with_usage
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        def delta(d: dict[str, Any], reason: str | None = None) -> list[dict[str, Any]]:
            return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": reason}]

        first: dict[str, Any] = {"role": "assistant", "refusal": None}
        first["content"] = "" if refusal is None else None
        await send(delta(first))
        text, key = (refusal, "refusal") if refusal is not None else (content or "", "content")
        step = max(1, self.stream_piece)
        starts = range(0, len(text or ""), step)
        for start in starts:
            if spread:
                await self._sleep(spread / len(starts))
                transport = request.transport
                if transport is None or transport.is_closing():
                    raise ConnectionResetError("the client closed the stream")
            await send(delta({key: (text or "")[start : start + step]}))
        await send(delta({}, finish))
        if include_usage:
            await send([], usage)
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
