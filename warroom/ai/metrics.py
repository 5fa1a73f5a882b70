"""Prometheus metrics of the AI responder, registered on the registry the app passes in (its own, not global).

- ``warroom_ai_tokens_total{capability, kind}``: prompt and completion tokens spent.
- ``warroom_ai_model_calls_total{capability, outcome}``: model calls by outcome (``ok`` or a fallback reason).
- ``warroom_ai_answers_total{capability, engine}``: answers given, by who wrote them (model or deterministic).
- ``warroom_ai_model_call_seconds{capability}``: how long model calls took.

Per-incident token counts are in the usage ledger (:class:`warroom.ai.client.UsageLedger`), not in labels.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class AiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.tokens = Counter(
            "warroom_ai_tokens_total",
            "Model tokens spent, by capability and kind (prompt, completion)",
            ["capability", "kind"],
            registry=self.registry,
        )
        self.calls = Counter(
            "warroom_ai_model_calls_total",
            "Model calls, by capability and outcome (ok or the fallback reason)",
            ["capability", "outcome"],
            registry=self.registry,
        )
        self.answers = Counter(
            "warroom_ai_answers_total",
            "Answers given, by capability and engine (model, deterministic)",
            ["capability", "engine"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "warroom_ai_model_call_seconds",
            "Time a model call took, by capability",
            ["capability"],
            registry=self.registry,
            buckets=(0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
        )

    def call(
        self, capability: str, outcome: str, seconds: float, prompt: int = 0, completion: int = 0
    ) -> None:
        self.calls.labels(capability, outcome).inc()
        self.seconds.labels(capability).observe(seconds)
        if prompt:
            self.tokens.labels(capability, "prompt").inc(prompt)
        if completion:
            self.tokens.labels(capability, "completion").inc(completion)

    def answer(self, capability: str, engine: str) -> None:
        self.answers.labels(capability, engine).inc()
