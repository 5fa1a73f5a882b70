"""The one choke point to the model: the ``openai`` library's AsyncOpenAI against any OpenAI-compatible base URL.

:meth:`LlmClient.structured` sends a system and a user message, asks for JSON-schema structured output
(``response_format: json_schema``, strict; JSON mode with the schema attached, ``json_object_schema``, for
llama.cpp-style servers; or plain JSON mode), and validates the answer with pydantic. A server that refuses
``json_schema`` the way llama-cpp-python does (HTTP 500 "Input should be 'text' or 'json_object'") is asked again
with ``json_object_schema``, and so is every later call of this client (logged once). With ``system_prompt: user``
the instructions open the user turn instead, for chat templates that drop the system message (gemma's).

Answers are streamed by default: when a call passes its deadline the stream is closed, and closing it stops the
generation on the server — a non-streamed call the client gives up on keeps generating and holds a one-slot
server (llama.cpp) for the next call. Servers that send no usage on streams (llama-cpp-python ignores
``stream_options.include_usage``) are charged the streamed chunks (a token each) and an estimate of the prompt. Anything that goes wrong — endpoint down or slow, 4xx/5xx, a refusal, a cut-off or malformed answer, the
incident's token budget spent — raises :class:`ModelUnavailable` with a typed ``reason`` and a sentence for
people, so that callers answer with the deterministic engine instead. openai's and httpx's exceptions never leave
this module. Each call has one overall deadline (``timeout``, retries included): nothing hangs a command.

Usage (prompt/completion tokens) is counted per incident in a :class:`UsageLedger` (in memory by default; the
lead may plug in one backed by the database) and in Prometheus counters (:class:`~warroom.ai.metrics.AiMetrics`).
Each HTTP attempt the library makes (its retries included) is told to ``observe`` as system ``ai``
(:mod:`warroom.adapters.observe`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

import httpx
import openai
from openai import AsyncOpenAI, omit
from openai.types.chat import ChatCompletionMessageParam
from pydantic import BaseModel, ValidationError

from ..adapters.observe import CallObserver, ignore, outcome_of_status
from ..settings import AiSettings
from .metrics import AiMetrics
from .safety import Redactor
from .text import clip, estimate_tokens

log = logging.getLogger("warroom.ai.client")

FallbackReason = Literal[
    "budget",  # the incident's token budget is spent
    "timeout",  # no answer within the deadline
    "unreachable",  # connection refused, reset, DNS
    "unauthorized",  # 401/403: the key is wrong or lacks access
    "rate_limited",  # 429 after the client's retries
    "server_error",  # 5xx after the client's retries
    "rejected",  # another 4xx: unknown model, bad parameter, context too long
    "refused",  # the model declined to answer
    "filtered",  # the provider's content filter stopped the answer
    "truncated",  # the answer hit the token limit
    "malformed",  # not JSON, or not the expected shape
]

ResponseFormat = dict[str, Any]
#: Said by llama-cpp-python's server (pydantic) when asked for ``response_format: json_schema``.
_NO_JSON_SCHEMA = re.compile(r"(?i)input should be 'text' or 'json_object'|json_schema.{0,40}not supported")

T = TypeVar("T", bound=BaseModel)


class ModelUnavailable(Exception):
    """The model gave no usable answer; use the deterministic engine. ``detail`` is a sentence for people."""

    def __init__(self, reason: FallbackReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FallbackReason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens
        )


class UsageLedger(Protocol):
    """Where tokens spent per incident are kept (the per-incident budget is checked against it)."""

    async def used(self, incident: str) -> Usage: ...

    async def add(self, incident: str, usage: Usage) -> None: ...


class MemoryLedger:
    """A ledger in this process's memory: fine for one process; plug a database one in when running several."""

    def __init__(self) -> None:
        self._usage: dict[str, Usage] = {}

    async def used(self, incident: str) -> Usage:
        return self._usage.get(incident, Usage())

    async def add(self, incident: str, usage: Usage) -> None:
        self._usage[incident] = self._usage.get(incident, Usage()) + usage


@dataclass(frozen=True, slots=True)
class Completion(Generic[T]):
    value: T
    usage: Usage
    model: str


def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict structured outputs accept: every object closed
    (``additionalProperties: false``) with every property required; no titles or defaults."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items() if k not in ("title", "default")}
            if out.get("type") == "object" or "properties" in out:
                props = out.get("properties", {})
                out["type"] = "object"
                out["properties"] = props
                out["required"] = list(props)
                out["additionalProperties"] = False
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    result: dict[str, Any] = walk(model.model_json_schema())
    return result


_FENCED_JSON = re.compile(r"^\s*```(?:json)?\s*\n?(.*?)\n?```\s*$", re.DOTALL)


def parse_json(content: str, schema: type[T]) -> T:
    """Validate the model's content; a Markdown code fence around the JSON (local models add one) is tolerated."""
    match = _FENCED_JSON.match(content)
    text = match.group(1) if match else content
    return schema.model_validate_json(text.strip())


@dataclass(slots=True)
class _Progress:
    """What a call has received so far; kept outside the call so that a timed-out stream is still charged."""

    chunks: int = 0


def _refuses_json_schema(exc: openai.APIStatusError) -> bool:
    """True when the server's error says it knows no ``json_schema`` response format (llama-cpp-python: 500)."""
    body = exc.body
    text = json.dumps(body) if isinstance(body, dict | list) else str(body or exc.message)
    return exc.status_code in (400, 422, 500) and bool(_NO_JSON_SCHEMA.search(text))


#: The name model calls are observed under.
LABEL = "ai"


class ObservedHttpClient(openai.DefaultAsyncHttpxClient):
    """openai's default httpx client (its limits, timeout and redirects), telling ``observe`` the outcome of every
    request it sends: each of the library's retries is a request of its own."""

    def __init__(self, observe: CallObserver, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._observe = observe

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            response = await super().send(request, **kwargs)
        except httpx.TransportError:
            self._observe(LABEL, "unreachable")
            raise
        self._observe(LABEL, outcome_of_status(response.status_code))
        return response


class LlmClient:
    """A model endpoint with warroom's rules. Build one per process in the composition root; ``aclose`` at exit."""

    def __init__(
        self,
        settings: AiSettings,
        *,
        ledger: UsageLedger | None = None,
        metrics: AiMetrics | None = None,
        http_client: httpx.AsyncClient | None = None,
        observe: CallObserver = ignore,
    ) -> None:
        self.settings = settings
        self.ledger: UsageLedger = ledger if ledger is not None else MemoryLedger()
        self.metrics = metrics
        # Local servers (Ollama, llama.cpp) take any key; the library insists on one.
        key = settings.api_key.get_secret_value() if settings.api_key is not None else "no-key"
        if http_client is None and observe is not ignore:
            http_client = ObservedHttpClient(observe)
        self._openai = AsyncOpenAI(
            api_key=key,
            base_url=settings.base_url,
            timeout=httpx.Timeout(settings.timeout, connect=min(5.0, settings.timeout)),
            max_retries=settings.max_retries,
            http_client=http_client,
        )
        # openai imports its resources on first use (seconds on a small machine): do it now, not inside the
        # first call's deadline, which it would otherwise spend.
        self._completions = self._openai.chat.completions
        self._scrub = Redactor.create()
        #: Set when the server refused ``json_schema``: every later call asks for ``json_object_schema``.
        self.json_schema_refused = False

    @property
    def model(self) -> str:
        return self.settings.model

    async def aclose(self) -> None:
        await self._openai.close()

    async def usage(self, incident: str) -> Usage:
        """Tokens spent on this incident so far."""
        return await self.ledger.used(incident)

    @property
    def format_kind(self) -> str:
        """The response format this client asks for now (``json_schema`` turns into ``json_object_schema`` once
        the server has refused it)."""
        kind = self.settings.response_format
        if kind == "json_schema" and self.json_schema_refused:
            return "json_object_schema"
        return kind

    def response_format(self, schema: type[BaseModel], name: str) -> ResponseFormat:
        kind = self.format_kind
        if kind == "json_object":
            return {"type": "json_object"}
        if kind == "json_object_schema":
            # llama.cpp's servers turn the schema into a grammar that constrains the answer.
            return {"type": "json_object", "schema": strict_schema(schema)}
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": strict_schema(schema), "strict": True},
        }

    def messages(self, system: str, user: str) -> list[ChatCompletionMessageParam]:
        """The system and user turns; with ``system_prompt: user`` one user turn that opens with the instructions."""
        if self.settings.system_prompt == "user":
            return [{"role": "user", "content": f"{system}\n\n{user}"}]
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    async def structured(
        self,
        schema: type[T],
        *,
        incident: str,
        capability: str,
        system: str,
        user: str,
        name: str | None = None,
    ) -> Completion[T]:
        """One call; the answer validated as ``schema``. Raises :class:`ModelUnavailable` for any failure."""
        prompt_estimate = estimate_tokens(system) + estimate_tokens(user) + 16
        budget = self.settings.incident_token_budget
        spent = await self.ledger.used(incident)
        room = budget - spent.total - prompt_estimate
        if room < 64:
            self._count(capability, "budget", 0.0, Usage())
            raise ModelUnavailable(
                "budget",
                f"this incident's AI token budget ({budget:,} tokens) is spent ({spent.total:,} used)",
            )
        max_out = min(self.settings.max_tokens, room)
        started = time.monotonic()
        usage = Usage()
        progress = _Progress()
        try:
            async with asyncio.timeout(self.settings.timeout):
                try:
                    content, refusal, finish, usage, model = await self._call(
                        self._messages_for(schema, system, user),
                        self.response_format(schema, name or capability),
                        max_out,
                        progress,
                    )
                except openai.APIStatusError as exc:
                    if self.format_kind != "json_schema" or not _refuses_json_schema(exc):
                        raise
                    self._schema_refused()
                    progress = _Progress()
                    content, refusal, finish, usage, model = await self._call(
                        self._messages_for(schema, system, user),
                        self.response_format(schema, name or capability),
                        max_out,
                        progress,
                    )
        except TimeoutError:
            error = ModelUnavailable(
                "timeout", f"the model did not answer within {self.settings.timeout:g} s"
            )
            if progress.chunks:
                # The stream was closed mid-answer: the server spent the prompt and what it sent.
                usage = Usage(prompt_estimate, progress.chunks)
                await self.ledger.add(incident, usage)
        except openai.OpenAIError as exc:
            error = self._translate(exc)
        except (ValueError, TypeError, KeyError, AttributeError, httpx.HTTPError) as exc:
            # A body the library could not make sense of (not JSON, a missing field): the server misbehaved.
            log.warning("ai %s: unreadable response (%s)", capability, type(exc).__name__)
            error = ModelUnavailable("malformed", "the model endpoint's response could not be read")
        else:
            if usage.total == 0:
                # No usage from the server (llama-cpp-python's streams): a streamed chunk is a token.
                completion = progress.chunks or estimate_tokens(content or refusal or "")
                usage = Usage(prompt_estimate, completion)
            await self.ledger.add(incident, usage)
            try:
                value = self._check(schema, content, refusal, finish)
            except ModelUnavailable as exc:
                self._count(capability, exc.reason, time.monotonic() - started, usage)
                raise
            self._count(capability, "ok", time.monotonic() - started, usage)
            return Completion(value=value, usage=usage, model=model or self.settings.model)
        self._count(capability, error.reason, time.monotonic() - started, usage)
        raise error

    def _messages_for(self, schema: type[T], system: str, user: str) -> list[ChatCompletionMessageParam]:
        if self.format_kind != "json_schema":
            # JSON mode: the model learns the shape from the prompt (a llama.cpp grammar only constrains it).
            system += "\n\nAnswer with one JSON object that matches this JSON schema:\n" + json.dumps(
                strict_schema(schema)
            )
        return self.messages(system, user)

    def _schema_refused(self) -> None:
        if not self.json_schema_refused:
            log.warning(
                "ai: the model endpoint refuses response_format json_schema; asking for json_object with the "
                "schema from now on (set ai.response_format: json_object_schema to skip this)"
            )
        self.json_schema_refused = True

    async def _call(
        self,
        messages: list[ChatCompletionMessageParam],
        response_format: ResponseFormat,
        max_out: int,
        progress: _Progress,
    ) -> tuple[str | None, str | None, str | None, Usage, str]:
        use_completion = self.settings.max_tokens_param == "max_completion_tokens"
        common: dict[str, Any] = {
            "model": self.settings.model,
            "messages": messages,
            "response_format": response_format,
            "temperature": self.settings.temperature,
            "max_tokens": omit if use_completion else max_out,
            "max_completion_tokens": max_out if use_completion else omit,
        }
        if not self.settings.stream:
            response = await self._completions.create(**common)
            usage = Usage()
            if response.usage is not None:
                usage = Usage(response.usage.prompt_tokens, response.usage.completion_tokens)
            if not response.choices:
                return None, None, None, usage, response.model
            choice = response.choices[0]
            return choice.message.content, choice.message.refusal, choice.finish_reason, usage, response.model
        stream = await self._completions.create(
            **common, stream=True, stream_options={"include_usage": True}
        )
        parts: list[str] = []
        refusals: list[str] = []
        finish: str | None = None
        usage = Usage()
        model = ""
        # Leaving the block — the answer read, or the deadline passed — closes the stream: the server stops.
        async with stream:
            async for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
                for c in chunk.choices:
                    if c.delta.content:
                        parts.append(c.delta.content)
                        progress.chunks += 1
                    if c.delta.refusal:
                        refusals.append(c.delta.refusal)
                        progress.chunks += 1
                    if c.finish_reason:
                        finish = c.finish_reason
        return ("".join(parts) or None), ("".join(refusals) or None), finish, usage, model

    def _check(self, schema: type[T], content: str | None, refusal: str | None, finish: str | None) -> T:
        if refusal:
            raise ModelUnavailable("refused", "the model declined to answer")
        if finish == "content_filter":
            raise ModelUnavailable("filtered", "the provider's content filter stopped the answer")
        if finish == "length":
            raise ModelUnavailable("truncated", "the model's answer was cut off at the token limit")
        if not content:
            raise ModelUnavailable("malformed", "the model's answer was empty")
        try:
            return parse_json(content, schema)
        except (ValidationError, ValueError):
            raise ModelUnavailable(
                "malformed", "the model's answer was not JSON of the expected shape"
            ) from None

    def _translate(self, exc: openai.OpenAIError) -> ModelUnavailable:
        if isinstance(exc, openai.APITimeoutError):
            return ModelUnavailable("timeout", f"the model did not answer within {self.settings.timeout:g} s")
        if isinstance(exc, openai.APIConnectionError):
            return ModelUnavailable("unreachable", "the model endpoint could not be reached")
        if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            return ModelUnavailable(
                "unauthorized",
                f"the model endpoint refused our credentials (HTTP {exc.status_code}): check WARROOM_AI__API_KEY",
            )
        if isinstance(exc, openai.RateLimitError):
            return ModelUnavailable("rate_limited", "the model endpoint is rate limiting us")
        if isinstance(exc, openai.APIStatusError):
            if exc.status_code >= 500:
                return ModelUnavailable("server_error", f"the model endpoint failed (HTTP {exc.status_code})")
            body = exc.body
            message = ""
            if isinstance(body, dict):
                error = body.get("error")
                inner: dict[str, Any] = error if isinstance(error, dict) else body
                message = str(inner.get("message") or "")
            detail = clip(self._scrub.redact(message or f"HTTP {exc.status_code}"), 200)
            return ModelUnavailable(
                "rejected", f"the model endpoint rejected the request (HTTP {exc.status_code}): {detail}"
            )
        return ModelUnavailable("malformed", "the model endpoint's response could not be read")

    def _count(self, capability: str, outcome: str, seconds: float, usage: Usage) -> None:
        log.info(
            "ai %s: %s in %.2fs (%d prompt + %d completion tokens)",
            capability,
            outcome,
            seconds,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
        if self.metrics is not None:
            self.metrics.call(capability, outcome, seconds, usage.prompt_tokens, usage.completion_tokens)
