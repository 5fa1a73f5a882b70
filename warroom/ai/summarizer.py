"""Status updates: current state, impact, what is being done, next update time.

The state line and the next update time always come from the incident record (never from the model), so an
update cannot claim a status the incident does not have. The deterministic engine takes impact from the firing
alerts, the incident's details and the latest responder line about impact, and "what is being done" from the
latest responder lines that describe actions; lines that try to instruct a model are never quoted. The model
path writes impact, actions and hypothesis from the same (fenced) records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from .context import AlertFact, EventFact, IncidentContext
from .prompts import data_blocks, incident_header, system
from .rca import with_dependency_alerts
from .records import Record, build_records
from .results import Cause, Rejection, citation_problem, text_problem
from .safety import looks_like_injection
from .statements import ROLLBACK
from .text import clip, fmt_duration, fmt_time, one_line, utc

_CRITICAL = ("critical", "page", "p1", "high", "error", "major")
IMPACT_WORDS = re.compile(
    r"(?i)\b(?:impact\w*|customers?|users?|partners?|sellers?|revenue|error rate|\d+(?:\.\d+)? ?%|\d+ in \d+|"
    r"unable|cannot|can't|failing|fail(?:ed|ures?)|down|degraded|outage|timeouts?|time out|latency|slow)\b"
)
ACTION_WORDS = re.compile(
    r"(?i)\b(?:investigat\w*|roll(?:ing|ed)?(?: it| them)?[ -]?back|revert\w*|restart\w*|fail(?:ing|ed)? ?over|scal(?:e|ing|ed)\w*|"
    r"mitigat\w*|disabl\w*|enabl\w*|increas\w*|rais\w*|patch\w*|renew\w*|rotat\w*|drain\w*|rerout\w*|"
    r"contact\w*|escalat\w*|working on|checking|looking (?:at|into)|applied|monitoring|paged|opened a ticket|"
    r"flush\w*|purg\w*|throttl\w*|kill\w*|add(?:ed|ing)? (?:capacity|replicas|nodes)|switch\w*)\b"
    # a line that opens with what someone is doing: "Cordoning the node…", "We're re-uploading…"
    r"|^\s*(?:(?:we|i)(?:'re|'m| are| am)\s+|now\s+)?[a-z][a-z-]*ing\b"
)
_TALK = ("note", "discussion", "itsm")


@dataclass(frozen=True)
class Draft:
    state: str
    impact: str
    actions: str
    hypothesis: str | None
    next_update: datetime | None
    cited: list[str]


def next_update_at(ctx: IncidentContext, now: datetime, cadence: timedelta | None) -> datetime | None:
    if ctx.status == "resolved":
        return None
    return utc(now) + (cadence or timedelta(minutes=30))


def state_line(ctx: IncidentContext, now: datetime) -> str:
    prio = ctx.priority or "no priority"
    if ctx.status == "resolved":
        line = f"Resolved — {prio} on {ctx.service}"
        if ctx.resolved_at:
            line += f", resolved at {fmt_time(ctx.resolved_at, day_of=now)}"
            begun = ctx.started_at()
            if begun:
                line += f" after {fmt_duration(utc(ctx.resolved_at) - utc(begun))}"
        line += "."
    else:
        line = f"{ctx.status.capitalize()} — {prio} on {ctx.service}"
        if ctx.created_at:
            line += f", open {fmt_duration(utc(now) - utc(ctx.created_at))} (declared {fmt_time(ctx.created_at, day_of=now)}"
            if ctx.acknowledged_at:
                line += f", acknowledged {fmt_time(ctx.acknowledged_at, day_of=now)}"
            line += ")"
        line += "."
    people = []
    commander = next(
        (p for r, p in ctx.roles.items() if "command" in r.lower() or r.lower() in ("ic", "lead")), None
    )
    if commander:
        people.append(f"Commander: {commander}")
    if ctx.assignee:
        people.append(f"assignee: {ctx.assignee}")
    if people:
        line += " " + "; ".join(people) + "."
    return line


def _severity_rank(a: AlertFact) -> int:
    sev = (a.severity or "").lower()
    return 0 if sev in _CRITICAL[:3] else 1 if sev in _CRITICAL else 2


def _talk(ctx: IncidentContext) -> list[EventFact]:
    """Responder lines that may be quoted, newest first (no lines that try to instruct a model)."""
    lines = [e for e in ctx.evidence_events() if e.kind in _TALK and not looks_like_injection(e.text)]
    return sorted(lines, key=lambda e: utc(e.at), reverse=True)


def _quote(e: EventFact, now: datetime, limit: int = 220) -> str:
    who = e.actor or "someone"
    return f"{who} ({fmt_time(e.at, day_of=now)}): “{one_line(e.text, limit)}”"


def _downstream(ctx: IncidentContext, limit: int = 2) -> list[AlertFact]:
    """The firing alerts of the services that depend on the incident's (the related alerts ``with_dependency_alerts``
    left where they were), most severe and earliest first: the symptom one level up, where users often meet it."""
    firing = [
        a for a in ctx.related_alerts
        if a.status != "resolved" and (a.service or a.labels.get("service")) and not looks_like_injection(a.summary)
    ]
    firing.sort(key=lambda a: (_severity_rank(a), utc(a.starts_at) if a.starts_at else datetime.max.replace(tzinfo=UTC)))
    return firing[:limit]


def draft(ctx: IncidentContext, now: datetime, cadence: timedelta | None, causes: list[Cause]) -> Draft:
    """The deterministic status update. The alerts of the services the incident's service depends on that fired
    around its start count among its own, wherever they were declared (as the ranking counts them): when a
    dependency's alert was routed to that service's own incident, the update still says it fired."""
    ctx = with_dependency_alerts(ctx)
    cited: list[str] = []
    firing = [a for a in ctx.alerts if a.status != "resolved"]
    cleared = [a for a in ctx.alerts if a.status == "resolved"]
    impact_parts: list[str] = []
    if ctx.details and not looks_like_injection(ctx.details):
        impact_parts.append(clip(" ".join(ctx.details.split()), 240).rstrip(".") + ".")
    if firing:
        # The symptom on the affected service tells the impact; a dependency's alert tells the cause.
        firing.sort(
            key=lambda a: (
                (a.service or a.labels.get("service") or ctx.service) != ctx.service,
                _severity_rank(a),
                utc(a.starts_at) if a.starts_at else utc(now),
            )
        )
        top = firing[0]
        if not looks_like_injection(top.summary):
            impact_parts.append(f"{top.name}: {one_line(top.summary, 200).rstrip('.')}.")
        # What the other firing alerts say (one per alert name, the first two): each shows a side of the impact —
        # the 502s at the edge besides the OOM kills behind them — that their names alone do not.
        others: list[AlertFact] = []
        for a in firing[1:]:
            if a.summary and a.name not in {top.name, *(o.name for o in others)} and not looks_like_injection(a.summary):
                others.append(a)
        others = others[:2]
        if others:
            impact_parts.append(
                "Also: " + "; ".join(f"{a.name}: {one_line(a.summary, 140).rstrip('.')}" for a in others) + "."
            )
        critical = sum(1 for a in firing if _severity_rank(a) == 0)
        services = sorted({s for a in firing if (s := a.service or a.labels.get("service"))})
        names = list(dict.fromkeys(a.name for a in firing))
        count = f"{len(firing)} alert{'s' if len(firing) != 1 else ''} firing"
        if critical:
            count += f" ({critical} critical)"
        if services:
            count += f" on {', '.join(services)}"
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        impact_parts.append(f"{count}: {shown}.")
        cited.extend(a.ref for a in firing[:4])
    elif ctx.alerts:
        impact_parts.append(f"All {len(ctx.alerts)} alert(s) have cleared.")
    if cleared and firing:
        impact_parts.append(f"{len(cleared)} cleared.")
    downstream = _downstream(ctx)
    if downstream:
        # what the services that depend on this one see: often where customers feel it
        shown = "; ".join(
            f"{a.service or a.labels.get('service')} {a.name}: {one_line(a.summary, 160).rstrip('.')}"
            for a in downstream
        )
        impact_parts.append(f"Seen downstream: {shown}.")
        cited.extend(a.ref for a in downstream)
    talk = _talk(ctx)
    # Undoing a change ("flag off", "turning X off", "put it back to 80") is what responders do, too.
    doing = [e for e in talk if ACTION_WORDS.search(e.text) or ROLLBACK.search(e.text)][:3]
    about_impact = [e for e in talk if IMPACT_WORDS.search(e.text) and e not in doing]
    reported = next((e for e in about_impact if re.search(r"(?i)\bimpact", e.text)), None) or next(
        iter(about_impact), None
    )
    if reported is not None:
        impact_parts.append(f"Reported by {_quote(reported, now)}.")
        cited.append(reported.ref)
    impact = (
        " ".join(impact_parts)
        or "No impact recorded yet: no alerts are attached and nobody has described it."
    )

    if doing:
        actions = " ".join(f"{_quote(e, now)}." for e in doing)
        cited.extend(e.ref for e in doing if e.ref not in cited)
    elif ctx.status == "resolved":
        actions = "The incident is resolved; the postmortem comes next."
    else:
        actions = "No actions recorded yet: responders, post what you are doing with a note."
    if ctx.status == "resolved" and doing:
        actions = "Resolved. Last actions: " + actions

    hypothesis = None
    if causes and causes[0].score >= 0.45:
        top_cause = causes[0]
        refs = ", ".join(e.ref for e in top_cause.evidence[:3])
        hypothesis = f"{top_cause.title} (confidence {top_cause.score:.2f}; evidence {refs})"
        lead = next(
            (a for a in ctx.alerts if top_cause.evidence and a.ref == top_cause.evidence[0].ref), None
        )
        if lead is not None and not looks_like_injection(lead.summary):
            hypothesis += f" — {lead.name}: {one_line(lead.summary, 160)}"
    return Draft(state_line(ctx, now), impact, actions, hypothesis, next_update_at(ctx, now, cadence), cited)


# -- the model path -------------------------------------------------------------------------------------
class ModelSummary(BaseModel):
    impact: str
    actions: str
    hypothesis: str
    cited: list[str]


def check(answer: ModelSummary, known: set[str]) -> Rejection | None:
    """Why the model's summary is not to be posted, or None: impact and actions must each be a sentence, a
    hypothesis (when given) must be words, and at least one cited record must exist."""
    return (
        text_problem("impact", answer.impact, sentence=True)
        or text_problem("actions", answer.actions, sentence=True)
        or text_problem("hypothesis", answer.hypothesis, required=False)
        or citation_problem(answer.cited, known)
    )


TASK = (
    "Write a status update for stakeholders. impact: who and what is affected and how badly (one to three "
    "sentences). actions: what responders are doing now and what comes next (one to three sentences). hypothesis: "
    "the leading probable cause if the records support one, else an empty string. cited: refs of the records you "
    "used. Do not state the incident's status or priority: warroom adds them from its own record."
)


def summary_records(ctx: IncidentContext) -> list[Record]:
    """Firing alerts first, then the newest timeline entries, then changes and the rest."""
    records = build_records(ctx, facts=False)
    firing = {a.ref for a in ctx.alerts if a.status != "resolved"}
    events = sorted(
        (r for r in records if r.kind == "event"),
        key=lambda r: utc(r.at) if r.at else datetime.min,
        reverse=True,
    )
    rest = [r for r in records if r.ref not in firing and r.kind != "event"]
    return [r for r in records if r.ref in firing] + events + rest


def prompt(ctx: IncidentContext, causes: list[Cause], nonce: str, budget_tokens: int) -> tuple[str, str]:
    blocks, _ = data_blocks(summary_records(ctx), nonce, budget_tokens, per_record=600)
    leading = "\n".join(
        f"- {c.title} (score {c.score:.2f}, evidence {', '.join(e.ref for e in c.evidence[:4])})"
        for c in causes[:3]
    )
    user = "\n\n".join(
        [
            incident_header(ctx, nonce),
            "Probable causes computed by warroom (titles quote untrusted text):\n" + (leading or "(none)"),
            "Records, newest discussion first:\n" + blocks,
        ]
    )
    return system(TASK, nonce), user
