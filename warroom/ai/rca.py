"""Root-cause suggestions: a deterministic ranking, and a model path that may explain and reorder it.

Deterministic ranking (:func:`rank_causes`) weighs three kinds of candidate:

- **changes** (ITSM RFCs, deploys): time proximity to when the trouble began (a change shortly before scores
  high, one after the start scores low), service match (the affected service, a dependency, a service that
  alerted), text match against the alerts (the same failure signature, or shared words), and what responders
  said about it (a rollback or a confirmation lifts it; "ruled out" sinks it);
- **signals** (:mod:`warroom.ai.signals`: certificate expiry, connection-pool exhaustion, DNS, OOM, …) found in
  alerts and discussion: stronger when the first alert to fire shows it, when several or critical alerts do,
  and when responders confirm it;
- **dependencies** that alerted: stronger for a declared dependency, and when it alerted before the service did.

The model path gets the same candidates and the fenced records and returns causes; a cause whose evidence names
a record that does not exist is dropped, so every cause shown points at real evidence.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel

from .context import AlertFact, ChangeFact, EventFact, IncidentContext
from .prompts import data_blocks, incident_header, system
from .records import Record, build_records
from .results import Cause, Citation
from .signals import CONFIRMED, ROLLBACK, RULED_OUT, SIGNALS, Signal
from .text import fmt_duration, one_line, overlap, spaced, tokens, utc

#: Words too common in incident text to say that a change and an alert are about the same thing.
_GENERIC = set(
    tokens(
        "service api app prod production server servers request requests error errors alert alerts high rate fail "
        "failing failed users user percent http https traffic checkout new update updated change version v1 v2 "
        "deploy deployment release rollout rfc normal change increase increased value threshold above below minutes"
    )
)


@dataclass
class _Candidate:
    key: str
    title: str
    score: float
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)

    def add_evidence(self, *refs: str) -> None:
        for ref in refs:
            if ref not in self.evidence:
                self.evidence.append(ref)


def _alert_text(a: AlertFact) -> str:
    """The alert's words for pattern matching (camelCase names split: ``ExternalCDN5xx`` → ``External CDN5xx``)."""
    return spaced(
        " ".join([a.name, a.summary, *a.annotations.values(), *(f"{k} {v}" for k, v in a.labels.items())])
    )


def _alert_service(a: AlertFact) -> str | None:
    return a.service or a.labels.get("service") or None


def _minutes(later: datetime, earlier: datetime) -> float:
    return (utc(later) - utc(earlier)).total_seconds() / 60


def time_proximity(change_at: datetime, started: datetime | None, *, slow: bool = False) -> float:
    """1.0 for a change right before the start, decaying over hours (a slow tail over a day); low after it.

    ``slow``: the failure builds up over hours (a leak, a filling disk), so the decay is slower."""
    if started is None:
        return 0.3
    before = _minutes(started, change_at)
    if before < -15:
        return 0.08  # well after the trouble began: a response, not a cause
    if before < 0:
        return 0.6  # at the same time, within clock skew
    fast = 360 if slow else 90
    return 0.75 * math.exp(-before / fast) + 0.25 * math.exp(-before / 1440)


def _mentions(event: EventFact, change: ChangeFact, change_tokens: set[str]) -> bool:
    text = event.text
    if re.search(rf"(?i)(?<![\w-]){re.escape(change.id)}(?![\w-])", text):
        return True
    distinct = change_tokens - _GENERIC
    if len(distinct) < 2:
        return False
    return overlap(distinct, tokens(text)) >= 0.6


@dataclass(frozen=True)
class _Scene:
    """What every change is weighed against."""

    started: datetime | None
    alerts: list[AlertFact]
    alert_signals: dict[str, list[Signal]]
    seen_signals: set[str]
    symptom_tokens: set[str]
    service_tokens: set[str]
    alert_services: set[str]
    #: The service of the first alert to fire: where the trouble showed first.
    origin: str | None
    #: Ids of the last change to the affected service and to the origin before the trouble began.
    latest: set[str]
    events: list[EventFact]


def rank_causes(ctx: IncidentContext, *, limit: int = 8) -> list[Cause]:
    """Probable causes, most likely first, each with the records that support it."""
    started = ctx.started_at()
    events = [e for e in ctx.evidence_events() if e.kind not in ("status", "priority", "role")]
    alerts = sorted(
        ctx.alerts, key=lambda a: (a.starts_at is None, utc(a.starts_at) if a.starts_at else datetime.min)
    )
    first_alert = alerts[0] if alerts else None
    alert_signals = {a.ref: [s for s in SIGNALS if s.pattern.search(_alert_text(a))] for a in alerts}
    incident_text = f"{ctx.title}\n{ctx.details}"
    title_signals = [s for s in SIGNALS if s.pattern.search(incident_text)]
    event_signals = {e.ref: [s for s in SIGNALS if s.pattern.search(e.text)] for e in events}
    alert_services = {s for a in alerts if (s := _alert_service(a))}
    # Service names occur in every alert about a service: they say nothing about what a change did.
    names = " ".join([ctx.service, *alert_services, *(c.service or "" for c in ctx.changes)])
    service_tokens = set(tokens(names))
    symptom_tokens = set(tokens(incident_text + " " + " ".join(_alert_text(a) for a in alerts)))
    origin = _alert_service(first_alert) if first_alert is not None else None
    scene = _Scene(
        started=started,
        alerts=alerts,
        alert_signals=alert_signals,
        seen_signals={s.key for sigs in alert_signals.values() for s in sigs}
        | {s.key for s in title_signals},
        symptom_tokens=symptom_tokens - _GENERIC - service_tokens,
        service_tokens=service_tokens,
        alert_services=alert_services,
        origin=origin,
        latest=_latest_changes(ctx, started, {s for s in (ctx.service, origin) if s}),
        events=events,
    )
    candidates: list[_Candidate] = []
    candidates.extend(
        _signal_candidates(ctx, alerts, first_alert, alert_signals, title_signals, events, event_signals)
    )
    candidates.extend(_dependency_candidates(ctx, alerts, events))
    candidates.extend(_change_candidate(ctx, change, scene) for change in ctx.changes)
    _merge_same_evidence(candidates)
    candidates = [c for c in candidates if c.score >= 0.12]
    candidates.sort(key=lambda c: -c.score)
    records = {r.ref: r for r in build_records(ctx, facts=False)}
    return [_to_cause(c, records) for c in candidates[:limit]]


def _latest_changes(ctx: IncidentContext, started: datetime | None, services: set[str]) -> set[str]:
    """Per service in ``services``: the last change made to it in the day before the trouble began."""
    if started is None:
        return set()
    out: set[str] = set()
    for service in services:
        before = [c for c in ctx.changes if c.service == service and 0 <= _minutes(started, c.at) <= 1440]
        if before:
            out.add(max(before, key=lambda c: utc(c.at)).id)
    return out


def _judgement(texts: list[EventFact]) -> tuple[float, list[str]]:
    """Lift from responders' words: confirmation or rollback up, ruled out down."""
    lift = 0.0
    refs: list[str] = []
    for e in texts:
        if RULED_OUT.search(e.text):
            lift -= 0.3
            refs.append(e.ref)
        elif CONFIRMED.search(e.text) or ROLLBACK.search(e.text):
            lift += 0.15
            refs.append(e.ref)
    return max(-0.45, min(0.3, lift)), refs


def _signal_candidates(
    ctx: IncidentContext,
    alerts: list[AlertFact],
    first_alert: AlertFact | None,
    alert_signals: dict[str, list[Signal]],
    title_signals: list[Signal],
    events: list[EventFact],
    event_signals: dict[str, list[Signal]],
) -> list[_Candidate]:
    out: list[_Candidate] = []
    for signal in SIGNALS:
        hit_alerts = [a for a in alerts if signal in alert_signals[a.ref]]
        hit_events = [e for e in events if signal in event_signals[e.ref]]
        in_title = signal in title_signals
        if not hit_alerts and not hit_events and not in_title:
            continue
        reasons: list[str] = []
        if hit_alerts:
            score = 0.45
            if first_alert is not None and first_alert in hit_alerts:
                score += 0.15
                reasons.append(f"the first alert to fire ({first_alert.name}) shows it")
            score += 0.05 * min(len(hit_alerts), 3)
            if any((a.severity or "").lower() in ("critical", "page", "p1") for a in hit_alerts):
                score += 0.05
            reasons.append(f"{len(hit_alerts)} alert(s) match")
        else:
            score = 0.3 if in_title else 0.2
            reasons.append("named in the incident" if in_title else "raised in the discussion")
        score += 0.04 * min(len(hit_events), 3)
        if hit_events:
            reasons.append(
                f"{len(hit_events)} timeline entr{'y' if len(hit_events) == 1 else 'ies'} mention it"
            )
        lift, _ = _judgement(hit_events)
        score = (score + lift) * signal.weight
        services = sorted({s for a in hit_alerts if (s := _alert_service(a))})
        where = f" on {', '.join(services)}" if services else ""
        cand = _Candidate(
            key=f"signal:{signal.key}", title=signal.title.format(where=where), score=score, reasons=reasons
        )
        cand.add_evidence(*(a.ref for a in hit_alerts[:6]), *(e.ref for e in hit_events[:4]))
        out.append(cand)
    return out


def _dependency_candidates(
    ctx: IncidentContext, alerts: list[AlertFact], events: list[EventFact]
) -> list[_Candidate]:
    own = [a for a in alerts if _alert_service(a) in (None, ctx.service)]
    own_first = min((utc(a.starts_at) for a in own if a.starts_at), default=None)
    by_service: dict[str, list[AlertFact]] = {}
    for a in alerts:
        service = _alert_service(a)
        if service and service != ctx.service:
            by_service.setdefault(service, []).append(a)
    out: list[_Candidate] = []
    for service, hits in by_service.items():
        score = 0.35
        reasons = [f"{len(hits)} alert(s) on {service}"]
        if service in ctx.dependencies:
            score += 0.2
            reasons.insert(0, f"{ctx.service} depends on {service}")
        dep_first = min((utc(a.starts_at) for a in hits if a.starts_at), default=None)
        if dep_first is not None and (own_first is None or dep_first <= own_first):
            score += 0.15
            reasons.append(f"{service} alerted first")
        elif dep_first is not None:
            score -= 0.1  # it alerted after the service did: more likely a victim than the cause
        said = [e for e in events if re.search(rf"(?i)(?<![\w-]){re.escape(service)}(?![\w-])", e.text)]
        score += 0.04 * min(len(said), 3)
        lift, _ = _judgement(said)
        cand = _Candidate(
            key=f"dependency:{service}",
            title=f"Dependency {service} failing",
            score=score + lift,
            reasons=reasons,
        )
        cand.add_evidence(*(a.ref for a in hits[:6]), *(e.ref for e in said[:4]))
        out.append(cand)
    return out


def _change_candidate(ctx: IncidentContext, change: ChangeFact, scene: _Scene) -> _Candidate:
    reasons: list[str] = []
    text = f"{change.title} {change.details}"
    shared_signals = [
        s
        for s in SIGNALS
        if s.key in scene.seen_signals
        and (s.pattern.search(text) or (s.touches is not None and s.touches.search(text)))
    ]
    started = scene.started
    when = time_proximity(change.at, started, slow=any(s.slow for s in shared_signals))
    if started is not None:
        if _minutes(started, change.at) >= 0:
            reasons.append(f"made {fmt_duration(utc(started) - utc(change.at))} before the trouble began")
        else:
            reasons.append(f"made {fmt_duration(utc(change.at) - utc(started))} after the trouble began")
    if change.service == ctx.service:
        where = 1.0
        reasons.append(f"on the affected service {ctx.service}")
    elif change.service is not None and change.service == scene.origin:
        where = 0.9
        reasons.append(f"on {change.service}, where the first alert fired")
    elif change.service in ctx.dependencies:
        where = 0.8
        reasons.append(f"on {change.service}, a dependency of {ctx.service}")
    elif change.service in scene.alert_services:
        where = 0.75
        reasons.append(f"on {change.service}, which alerted")
    elif re.search(rf"(?i)(?<![\w-]){re.escape(ctx.service)}(?![\w-])", text):
        where = 0.6
        reasons.append(f"mentions {ctx.service}")
    elif change.service is None:
        where = 0.35
    else:
        where = 0.05
    change_tokens = set(tokens(text))
    # Numbers (versions, percentages) match by accident; service names say nothing about what changed.
    distinct = {t for t in change_tokens - _GENERIC - scene.service_tokens if not t.isdigit()}
    words = overlap(distinct, scene.symptom_tokens)
    if len(distinct & scene.symptom_tokens) < 2:
        words /= 2  # one shared word is as likely chance as a link
    match = 1.0 if shared_signals else min(1.0, 1.6 * words)
    if shared_signals:
        area = shared_signals[0].title.format(where="").lower()
        reasons.append(f"it touches what the alerts show failing ({area})")
    elif words >= 0.3:
        reasons.append("its description shares words with the alerts")
    score = when * (0.6 * where + 0.4 * match)
    if change.id in scene.latest:
        score += 0.1
        reasons.append(f"the last change to {change.service} before the trouble began")
    said = [e for e in scene.events if _mentions(e, change, change_tokens)]
    lift, judged = _judgement(said)
    if said:
        score += 0.05
        if lift > 0:
            reasons.append("responders rolled it back or confirmed it")
        elif lift < 0:
            reasons.append("responders ruled it out")
        else:
            reasons.append("responders discussed it")
    score += lift
    kind = "RFC" if change.source == "itsm-rfc" else "Deploy"
    title = (
        f"{kind} {change.id}"
        + (f" on {change.service}" if change.service else "")
        + f": {one_line(change.title, 120)}"
    )
    cand = _Candidate(key=f"change:{change.id}", title=title, score=score, reasons=reasons)
    cand.add_evidence(change.ref, *judged, *(e.ref for e in said[:3]))
    related = [a for a in scene.alerts if any(s in scene.alert_signals[a.ref] for s in shared_signals)]
    if not related:
        related = [a for a in scene.alerts if _alert_service(a) == change.service]
    cand.add_evidence(*(a.ref for a in related[:3]))
    return cand


def _merge_same_evidence(candidates: list[_Candidate]) -> None:
    """Signals and dependencies resting on exactly the same alerts are one cause seen from two sides (a 429 from
    a provider is both "rate limited" and "third party"; a dependency whose only alerts show a disk filling up is
    that disk): keep the stronger, record the other's key in ``also``."""
    pool = sorted(
        (c for c in candidates if c.key.startswith(("signal:", "dependency:"))), key=lambda c: -c.score
    )
    for keep in pool:
        if keep not in candidates:
            continue
        alerts = {r for r in keep.evidence if r.startswith("alert:")}
        if not alerts:
            continue
        for other in pool:
            if other is keep or other not in candidates:
                continue
            if {r for r in other.evidence if r.startswith("alert:")} == alerts:
                keep.also.extend([other.key, *other.also])
                keep.reasons.extend(r for r in other.reasons if r not in keep.reasons)
                keep.add_evidence(*other.evidence)
                keep.score = min(0.99, keep.score + 0.05)
                candidates.remove(other)


def _to_cause(c: _Candidate, records: dict[str, Record]) -> Cause:
    evidence = [Citation(ref, records[ref].label, records[ref].url) for ref in c.evidence if ref in records]
    explanation = "; ".join(c.reasons) + "." if c.reasons else ""
    return Cause(
        key=c.key,
        title=c.title,
        explanation=explanation[:1].upper() + explanation[1:],
        evidence=evidence,
        score=round(max(0.0, min(0.99, c.score)), 2),
        also=tuple(c.also),
    )


# -- the model path -------------------------------------------------------------------------------------
class ModelCause(BaseModel):
    title: str
    explanation: str
    #: Record refs (alert:…, event:…, change:…) that support the cause.
    evidence: list[str]
    #: The candidate key this cause is (from the list given), or "" for a cause not among them.
    candidate: str
    confidence: float


class ModelRca(BaseModel):
    causes: list[ModelCause]


TASK = (
    "List the most probable root causes of this incident, most likely first (at most 5). You are given ranked "
    "candidate causes computed from the records, and the records themselves. You may reorder candidates, explain "
    "them, or add a cause the records support. Every cause must list as evidence the refs of records that support "
    "it (only refs that appear in the data); set candidate to the candidate's key when the cause is one of them. "
    "Confidence is 0 to 1."
)


def prompt(ctx: IncidentContext, candidates: list[Cause], nonce: str, budget_tokens: int) -> tuple[str, str]:
    """System and user text for the model path."""
    cand_lines = [
        f"- key {c.key} (score {c.score:.2f}): {c.title}. {c.explanation} Evidence: {', '.join(e.ref for e in c.evidence)}"
        for c in candidates
    ]
    records = build_records(ctx, facts=False)
    wanted = {e.ref for c in candidates for e in c.evidence}
    ordered = [r for r in records if r.ref in wanted] + [r for r in records if r.ref not in wanted]
    blocks, _ = data_blocks(ordered, nonce, budget_tokens)
    user = "\n\n".join(
        [
            incident_header(ctx, nonce),
            "Candidate causes (computed by warroom from the records; the titles quote untrusted text):\n"
            + ("\n".join(cand_lines) or "(none)"),
            "Records:\n" + blocks,
        ]
    )
    return system(TASK, nonce), user


def from_model(answer: ModelRca, ctx: IncidentContext, candidates: list[Cause]) -> list[Cause]:
    """The model's causes that cite only existing records; each mapped onto a candidate key where it is one."""
    refs = ctx.record_refs()
    records = {r.ref: r for r in build_records(ctx, facts=False)}
    by_key = {c.key: c for c in candidates}
    out: list[Cause] = []
    used: set[str] = set()
    for n, mc in enumerate(answer.causes[:8], 1):
        evidence = [e.strip() for e in mc.evidence if e.strip()]
        if not evidence or any(e not in refs for e in evidence):
            continue  # invented or missing evidence: the cause is not shown
        key = mc.candidate.strip()
        if key not in by_key:
            key = next((e for e in evidence if e.startswith("change:")), f"model:{n}")
            match = next((c for c in candidates if c.key == key), None)
            if match is None:
                match = next(
                    (
                        c
                        for c in candidates
                        if {x.ref for x in c.evidence} & set(evidence) and c.key.startswith("signal:")
                    ),
                    None,
                )
            key = match.key if match is not None else key
        if key in used:
            continue
        used.add(key)
        base = by_key.get(key)
        out.append(
            Cause(
                key=key,
                title=one_line(mc.title, 160) or (base.title if base else "Cause"),
                explanation=one_line(mc.explanation, 600),
                evidence=[Citation(e, records[e].label, records[e].url) for e in dict.fromkeys(evidence)],
                score=round(max(0.0, min(0.99, mc.confidence)), 2),
                also=base.also if base else (),
            )
        )
    return out
