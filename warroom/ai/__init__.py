"""warroom's AI responder: status summaries, questions answered from incident data, root-cause suggestions and
postmortem drafts — with any OpenAI-compatible model, and with a deterministic engine that needs none.

Build in the composition root (nothing here does I/O at import)::

    metrics = AiMetrics(app_metrics.registry)
    client = build_client(settings.ai, metrics=metrics)          # None unless ai.enabled
    assistant = Assistant(settings.ai, client, metrics=metrics)
    ...
    summary = await assistant.summarize(ctx, now)                 # Summary
    answer = await assistant.ask(ctx, "what changed before the first alert?")   # Answer
    causes = await assistant.rca(ctx)                             # RcaResult
    draft = await assistant.postmortem(ctx)                       # Postmortem (.markdown, .follow_ups)
    post(summary.render_text())                                   # plain text, safe for chat
    ...
    await client.aclose()

Input is an :class:`IncidentContext` of plain frozen dataclasses (the caller builds it from the database).
Every result carries ``engine`` ("model" or "deterministic") and ``fallback`` (why the deterministic engine
answered although a model is configured), and its text is already neutralised for chat: no ``@channel``,
``@here``, mention or link that did not come from the incident's own structured data. No result triggers an
action; follow-up actions are data for a person to click.

Safety: secrets are redacted before anything leaves for the model (:class:`Redactor`), untrusted text is fenced
in prompts, and the model's citations are checked against the incident's records (causes citing records that do
not exist are dropped). Faults (endpoint down, slow, 4xx/5xx, refusal, malformed JSON, token budget spent) make
the deterministic engine answer; nothing hangs: each model call has one deadline (``ai.timeout``).
"""

from __future__ import annotations

from ..adapters.observe import CallObserver, ignore
from ..settings import AiSettings
from .assistant import Assistant
from .client import LlmClient, MemoryLedger, ModelUnavailable, Usage, UsageLedger
from .context import AlertFact, ChangeFact, EventFact, IncidentContext
from .metrics import AiMetrics
from .results import (
    POSTMORTEM_SECTIONS,
    Answer,
    Cause,
    Citation,
    Engine,
    FollowUp,
    Postmortem,
    RcaResult,
    Summary,
)
from .safety import Allowed, Redactor, allowed_from, neutralise


def build_client(
    settings: AiSettings,
    *,
    ledger: UsageLedger | None = None,
    metrics: AiMetrics | None = None,
    observe: CallObserver = ignore,
) -> LlmClient | None:
    """The model client when ``ai.enabled``; None otherwise (the deterministic engine answers everything).
    ``observe`` hears each HTTP attempt at the model endpoint."""
    if not settings.enabled:
        return None
    return LlmClient(settings, ledger=ledger, metrics=metrics, observe=observe)


__all__ = [
    "POSTMORTEM_SECTIONS",
    "AiMetrics",
    "AlertFact",
    "Allowed",
    "Answer",
    "Assistant",
    "Cause",
    "ChangeFact",
    "Citation",
    "Engine",
    "EventFact",
    "FollowUp",
    "IncidentContext",
    "LlmClient",
    "MemoryLedger",
    "ModelUnavailable",
    "Postmortem",
    "RcaResult",
    "Redactor",
    "Summary",
    "Usage",
    "UsageLedger",
    "allowed_from",
    "build_client",
    "neutralise",
]
