"""What a question about logs or metrics names, for the querier: the sources (``what do the checkout logs say?``,
``what does prometheus show?``) and a time (``… since 10:02?``), so that the answer rests on those excerpts only;
and the sentence naming the sources that could not be read.

Pure functions over an :class:`~warroom.ai.context.IncidentContext`; the querier calls :func:`narrow` on the context
before it ranks records, and may add :func:`unavailable_note` to an answer about logs or metrics.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

from .context import EvidenceFact, IncidentContext
from .text import utc

#: Words that name a kind of source (and so every source of that kind).
SYSTEM_WORDS: dict[str, tuple[str, ...]] = {
    "loki": ("loki",),
    "elasticsearch": ("elasticsearch", "opensearch", "kibana", "elastic"),
    "prometheus": ("prometheus", "prom", "promql"),
}
_SINCE = re.compile(r"(?i)\b(?:since|after|from)\s+([01]?\d|2[0-3])[:h.]([0-5]\d)\s*(?:utc|z)?\b")
_ASKS_LOGS = re.compile(r"(?i)\blogs?\b|\blog lines?\b|\bmetrics?\b|\bgraphs?\b|\bprometheus\b|\bloki\b|\belastic")
#: Parts of source names that say nothing about which one is meant.
_GENERIC = frozenset({"logs", "log", "metrics", "metric", "es", "prod", "production"})


def named_sources(ctx: IncidentContext, question: str) -> set[str]:
    """The evidence sources the question names: by their whole name, by what they are (``loki``, ``prometheus``), or
    by a distinctive part of the name (``audit`` for ``audit-loki``) that not every source shares and that is not
    the service's own name (``checkout logs`` are all of checkout's). Empty when it names none (then nothing is
    narrowed)."""
    sources = {f.source: f.system for f in ctx.evidence}
    if not sources:
        return set()
    lowered = question.lower()
    words = set(re.findall(r"[a-z0-9]+", lowered))
    named = {s for s in sources if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", lowered)}
    named |= {s for s, system in sources.items() if words & set(SYSTEM_WORDS.get(system, ()))}
    if named:
        return named
    service = set(re.split(r"[-_.]", ctx.service.lower()))
    parts = {s: set(re.split(r"[-_.]", s)) - _GENERIC - service for s in sources}
    shared = set.intersection(*parts.values()) if parts else set()
    return {s for s, p in parts.items() if (p - shared) & words}


def asked_since(ctx: IncidentContext, question: str) -> datetime | None:
    """``since 10:02`` (UTC, on the day the trouble began) as a time; None when the question gives none."""
    match = _SINCE.search(question)
    if match is None:
        return None
    day = utc(ctx.started_at() or ctx.created_at or datetime.now(UTC))
    return day.replace(hour=int(match.group(1)), minute=int(match.group(2)), second=0, microsecond=0)


def narrow(ctx: IncidentContext, question: str) -> IncidentContext:
    """The context with only the evidence the question asks for: of the sources it names (all when it names
    none) and seen since the time it gives (templates last seen before it, inflections before it, left out;
    unavailable sources kept, so that the answer can say so)."""
    if not ctx.evidence:
        return ctx
    sources = named_sources(ctx, question) or {f.source for f in ctx.evidence}
    since = asked_since(ctx, question)

    def keep(f: EvidenceFact) -> bool:
        if f.source not in sources:
            return False
        seen = f.last_at or f.at
        return since is None or f.unavailable or seen is None or utc(seen) >= since

    kept = [f for f in ctx.evidence if keep(f)]
    return ctx if len(kept) == len(ctx.evidence) else replace(ctx, evidence=kept)


def unavailable_note(ctx: IncidentContext, question: str) -> str | None:
    """``Not read: audit-loki (it did not answer within 0.5 s).`` for a question about logs or metrics when a
    source could not be read; None otherwise."""
    if not _ASKS_LOGS.search(question) and not named_sources(ctx, question):
        return None
    named = named_sources(ctx, question)
    down = [f for f in ctx.unavailable_sources() if not named or f.source in named]
    if not down:
        return None
    reasons = []
    for f in down:
        reason = f.text.split(" was unavailable: ", 1)[-1].split(". Nothing from it", 1)[0]
        reasons.append(f"{f.source} ({reason})")
    return "Not read: " + "; ".join(reasons) + "."

