"""Drafting one public status-page update from an incident (:func:`draft_update`).

The deterministic engine fills a template per state from the public component names, a neutral symptom read from
the alerts and, for identified/monitoring/resolved, a neutral description of the probable cause's class
(certificate, capacity, network…; never its name). With a model client it asks the model (structured output,
fenced data, like the other capabilities), runs the same safety pass (:mod:`.scrub`) on its answer and falls back
to the deterministic text when the answer fails validation. The next-update sentence always comes from warroom.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from ..client import LlmClient, ModelUnavailable
from ..context import IncidentContext
from ..prompts import data_blocks, incident_header, system
from ..rca import rank_causes
from ..results import Engine
from ..safety import Redactor, looks_like_injection, neutralise, new_nonce
from ..summarizer import summary_records
from ..text import fmt_time, one_line, utc
from .scrub import GENERIC, STATES, Removed, UpdateState, public_safe

#: Neutral wording per probable-cause class (rca's signal keys, and changes and dependencies).
CAUSE_CLASSES: dict[str, str] = {
    "certificate-expiry": "an expired security certificate",
    "connection-pool": "a database capacity limit being reached",
    "dns": "a domain name resolution (DNS) problem",
    "memory": "a system running out of memory",
    "disk": "a system running out of storage space",
    "cpu": "a shortage of computing capacity",
    "capacity": "an unexpected surge in traffic",
    "third-party": "an issue at one of our third-party providers",
    "network": "a network issue",
    "database": "a database issue",
    "rate-limit": "rate limiting by one of our third-party providers",
    "crash-loop": "a software fault that made a service restart repeatedly",
    "queue-backlog": "a processing backlog",
    "config": "a configuration change",
    "deploy": "a recent software update",
    "change": "a recent change to our systems",
    "dependency": "an issue in one of the systems this service relies on",
}
_CAUSE_MIN_SCORE = 0.45


@dataclass(frozen=True, slots=True)
class Draft:
    """A public update waiting for a person's approval. ``text`` is safe for a public page (plain text; the
    page still escapes it); ``removed`` is what the safety pass took out (internal: show it only to the
    approver, never publish it)."""

    incident: str
    state: UpdateState
    components: tuple[str, ...]
    text: str
    next_update: datetime | None
    engine: Engine
    removed: tuple[Removed, ...] = ()
    #: Why the deterministic engine answered although a model is configured.
    fallback: str | None = None
    model: str | None = None

    def render_review(self) -> str:
        """The draft as the war room shows it to the approver (plain text, neutralised for chat)."""
        lines = [f"Draft status-page update ({self.state}) — {self.incident}", self.text]
        if self.removed:
            shown = "; ".join(f"{r.kind}: {one_line(r.text, 60)}" for r in self.removed[:12])
            more = f" and {len(self.removed) - 12} more" if len(self.removed) > 12 else ""
            lines.append(f"Removed by the safety pass: {shown}{more}")
        if self.engine == "model":
            lines.append(f"(AI-drafted by {self.model or 'the model'}; read it before publishing)")
        elif self.fallback:
            lines.append(f"(deterministic draft: {self.fallback})")
        else:
            lines.append("(deterministic draft)")
        return "\n".join(neutralise(line) for line in lines)


# -- what the incident says is internal ------------------------------------------------------------------
_HOST_LABELS = (
    "instance",
    "host",
    "hostname",
    "node",
    "pod",
    "server",
    "machine",
    "container",
    "ip",
    "address",
)
_INTERNAL_LABELS = ("service", "job", "namespace", "cluster", "deployment", "app", "team", "region", "env")


def _url_host(url: str | None) -> str | None:
    m = re.match(r"(?i)^[a-z][a-z0-9+.-]*://(?:[^/@\s]*@)?([^/?#:\s]+)", (url or "").strip())
    return m.group(1) if m else None


def incident_terms(ctx: IncidentContext) -> tuple[list[str], list[str], list[str]]:
    """(people, hosts, internal terms) the incident's own data names: roles, assignee and the people on its
    timeline; hosts from alert labels and links; its reference, services, alert names and change ids."""
    people = [p for p in [*ctx.roles.values(), ctx.assignee or ""] if p]
    people += [e.actor for e in ctx.events if e.actor]
    hosts: list[str] = []
    internal = [ctx.ref, ctx.service, *ctx.dependencies]
    for a in ctx.alerts:
        internal.append(a.name)
        if a.service:
            internal.append(a.service)
        for key, value in a.labels.items():
            if key.lower() in _HOST_LABELS:
                hosts.append(value.split(":")[0])
            elif key.lower() in _INTERNAL_LABELS:
                internal.append(value)
        hosts.extend(h for h in [_url_host(a.generator_url)] if h)
    for c in ctx.changes:
        internal.append(c.id)
        if c.service:
            internal.append(c.service)
    for url in [*ctx.links.values(), *(e.url for e in ctx.events), *(c.url for c in ctx.changes)]:
        host = _url_host(url)
        if host:
            hosts.append(host)
    return people, hosts, internal


# -- the deterministic engine ------------------------------------------------------------------------------
_SYMPTOMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an outage", re.compile(r"(?i)\b(?:down|outage|unavailable|unreachable|not responding|offline)\b")),
    ("elevated error rates", re.compile(r"(?i)\b(?:5\d\d|errors?|fail\w*|exceptions?|refus\w*)\b")),
    ("slow responses", re.compile(r"(?i)\b(?:latency|slow\w*|timeouts?|timed out|p9\d|delay\w*)\b")),
)


def symptom(ctx: IncidentContext) -> str | None:
    """A neutral phrase for what customers see, read from the firing alerts, the title and the details."""
    texts = [a.name + " " + a.summary for a in ctx.alerts if a.status != "resolved"] + [
        ctx.title,
        ctx.details,
    ]
    blob = " ".join(texts)
    return next((phrase for phrase, pattern in _SYMPTOMS if pattern.search(blob)), None)


def cause_class(ctx: IncidentContext) -> str | None:
    """The probable cause's class (a key of :data:`CAUSE_CLASSES`) when one stands out, else None."""
    causes = rank_causes(ctx)
    if not causes or causes[0].score < _CAUSE_MIN_SCORE:
        return None
    kind, _, rest = causes[0].key.partition(":")
    if kind == "signal":
        return rest if rest in CAUSE_CLASSES else None
    if kind == "change":
        change = next((c for c in ctx.changes if c.id == rest), None)
        return "deploy" if change is not None and change.source == "deploy" else "change"
    return "dependency" if kind == "dependency" else None


def _components_phrase(components: Sequence[str]) -> str:
    names = [c.strip() for c in components if c.strip()]
    if not names:
        return "some of our services"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def template(
    state: UpdateState,
    components: Sequence[str],
    *,
    symptom: str | None = None,
    cause: str | None = None,
    resolved_at: datetime | None = None,
    now: datetime | None = None,
) -> str:
    """The deterministic body for ``state`` (without the next-update sentence)."""
    what = _components_phrase(components)
    issue = symptom or "an issue"
    because = CAUSE_CLASSES.get(cause or "")
    if state == "investigating":
        return f"We are investigating {issue} affecting {what}. Our engineers are working to find the cause."
    if state == "identified":
        caused = f" The issue was caused by {because}." if because else ""
        return f"We have identified the cause of {issue} affecting {what}.{caused} We are working on a fix."
    if state == "monitoring":
        caused = f", caused by {because}" if because else ""
        return (
            f"A fix has been put in place for {issue} affecting {what}{caused}. We are monitoring the results "
            "to make sure the service has fully recovered."
        )
    at = f" at {fmt_time(resolved_at, day_of=now)}" if resolved_at is not None else ""
    caused = f" The issue was caused by {because}." if because else ""
    return (
        f"The issue affecting {what} was resolved{at} and the service is operating normally.{caused} "
        "We apologise for the disruption and thank you for your patience."
    )


def next_update_sentence(next_update: datetime | None, now: datetime) -> str:
    if next_update is None:
        return ""
    return f"We will post another update by {fmt_time(next_update, day_of=now)}."


# -- the model path -------------------------------------------------------------------------------------
class ModelStatusUpdate(BaseModel):
    body: str


TASK = (
    "Write the body of a public status-page update for customers about this incident, in the requested state. "
    "Two to four short sentences of plain language: what is affected (use only the public component names "
    "given), how customers are affected, and what we are doing. Never name people, hosts, servers, IP "
    "addresses, URLs, internal service or alert names, ticket or incident numbers, file paths, error codes or "
    "stack traces; never blame a vendor by name; no Markdown, HTML or mentions. Do not say when the next update "
    "comes: warroom adds that. Do not say the issue is resolved unless the requested state is 'resolved'."
)
_MAX_MODEL_CHARS = 1500
_RESOLVED_CLAIM = re.compile(r"(?i)\b(?:has|have|is|are|was|were|been|now|fully)\s+(?:been\s+)?resolved\b")


def prompt(
    ctx: IncidentContext,
    state: UpdateState,
    components: Sequence[str],
    *,
    symptom_phrase: str | None,
    cause: str | None,
    nonce: str,
    budget_tokens: int,
) -> tuple[str, str]:
    blocks, _ = data_blocks(summary_records(ctx), nonce, budget_tokens, per_record=400)
    facts = [
        f"Requested state: {state}.",
        "Public component names: "
        + (", ".join(components) if components else "(none: say 'some of our services')")
        + ".",
        f"What customers see (neutral wording): {symptom_phrase or 'unknown'}.",
    ]
    if state != "investigating" and cause in CAUSE_CLASSES:
        facts.append(f"Probable cause, in public wording: {CAUSE_CLASSES[cause]}.")
    user = "\n\n".join(
        [" ".join(facts), incident_header(ctx, nonce), "Records, newest discussion first:\n" + blocks]
    )
    return system(TASK, nonce), user


def _validate(body: str, clean: str, state: UpdateState, components: Sequence[str]) -> str | None:
    """Why the model's (cleaned) update cannot be used, or None when it can."""
    if not body.strip():
        return "the model's update was empty"
    if len(body) > _MAX_MODEL_CHARS:
        return "the model's update was too long"
    if looks_like_injection(body):
        return "the model's update carried instructions"
    if clean == GENERIC[state] or len(re.findall(r"[^\W\d_]{2,}", clean)) < 6:
        return "the model's update had nothing publishable left after the safety pass"
    if state != "resolved" and _RESOLVED_CLAIM.search(clean):
        return "the model's update called the issue resolved"
    if components and not any(c.strip().lower() in clean.lower() for c in components if c.strip()):
        return "the model's update named none of the affected components"
    return None


# -- the entry point -------------------------------------------------------------------------------------
async def draft_update(
    context: IncidentContext,
    *,
    state: UpdateState,
    components: Sequence[str],
    model: LlmClient | None = None,
    now: datetime | None = None,
    next_update_in: timedelta | None = None,
    cause: str | None = None,
    public_urls: Iterable[str] = (),
    known_people: Iterable[str] = (),
    known_hosts: Iterable[str] = (),
    internal_terms: Iterable[str] = (),
) -> Draft:
    """A public update for ``state`` naming ``components`` (public names), for a person to approve.

    ``cause`` overrides the probable cause's class (a key of :data:`CAUSE_CLASSES`); ``next_update_in``
    (default 30 minutes) sets the promised next update (none once resolved). ``public_urls`` may appear in the
    text (the status page); the incident's people, hosts and internal names (:func:`incident_terms`) plus the
    ones given are generalised wherever they appear."""
    if state not in STATES:
        raise ValueError(f"unknown status-page state {state!r}: use one of {', '.join(STATES)}")
    now = utc(now or datetime.now(UTC))
    comps = tuple(dict.fromkeys(c.strip() for c in components if c.strip()))
    next_update = None if state == "resolved" else now + (next_update_in or timedelta(minutes=30))
    tail = next_update_sentence(next_update, now)
    red = Redactor.create(emails=True).redact_context(context)
    people, hosts, internal = incident_terms(context)
    everyone = [*people, *known_people]
    machines = [*hosts, *known_hosts]
    names = [*internal, *internal_terms]
    urls = tuple(public_urls)

    def safe(text: str) -> tuple[str, tuple[Removed, ...]]:
        return public_safe(
            text,
            known_people=everyone,
            known_hosts=machines,
            internal_terms=names,
            public_terms=comps,
            allowed_urls=urls,
            state=state,
        )

    seen = symptom(red)
    klass = cause if cause in CAUSE_CLASSES else (cause_class(red) if state != "investigating" else None)
    resolved_at = context.resolved_at if state == "resolved" else None
    base = template(state, comps, symptom=seen, cause=klass, resolved_at=resolved_at, now=now)
    base_text, base_removed = safe(base)
    fallback = None
    if model is not None:
        system_text, user = prompt(
            red,
            state,
            comps,
            symptom_phrase=seen,
            cause=klass,
            nonce=new_nonce(),
            budget_tokens=min(model.settings.context_tokens, 3000),
        )
        try:
            done = await model.structured(
                ModelStatusUpdate,
                incident=context.ref,
                capability="status_update",
                system=system_text,
                user=user,
                name="warroom_status_update",
            )
        except ModelUnavailable as exc:
            fallback = exc.detail
        else:
            body = done.value.body
            clean, removed = safe(body[: _MAX_MODEL_CHARS + 1])
            fallback = _validate(body, clean, state, comps)
            if fallback is None:
                return Draft(
                    incident=context.ref,
                    state=state,
                    components=comps,
                    text=_join(clean, tail),
                    next_update=next_update,
                    engine="model",
                    removed=removed,
                    model=model.model,
                )
    return Draft(
        incident=context.ref,
        state=state,
        components=comps,
        text=_join(base_text, tail),
        next_update=next_update,
        engine="deterministic",
        removed=base_removed,
        fallback=fallback,
    )


def _join(body: str, tail: str) -> str:
    body = body.strip()
    if body and body[-1] not in ".!?":
        body += "."
    return f"{body} {tail}".strip()
