"""Root-cause suggestions: a deterministic ranking, and a model path that may explain and reorder it.

Deterministic ranking (:func:`rank_causes`) weighs four kinds of candidate:

- **changes** (deploys, config pushes, feature flags, DNS, infrastructure and database changes, ITSM RFCs):
  timing by the change's kind (:data:`DELAYS`: a flag or DNS change bites at once, a release within minutes to
  hours; a failure that builds up — a leak, a filling disk, a ceiling reached at the peak — keeps changes of the
  hours before suspect; a certificate or credential that expires keeps the change that set it suspect for weeks; a
  new cron schedule bites at its first run), service match (the affected service, a dependency, a service that
  alerted, a cluster or host the alerts run on, or a component responders bring up), text match
  against the alerts (the same failure signature, shared words, or the alerts naming the job, flag, host or
  version the change carries), and what responders said about it. Responders name changes the way people do —
  by id, by version ("since 4.18 went out"), by name ("the reindex job", "flag new-pricing"), by time ("the 19:14
  deploy"), or as "the previous build" — and their statements are read one by one with a small grammar
  (:mod:`warroom.ai.statements`): ruled out ("we reverted it, no change", "can't be it") sinks a change,
  confirmed ("the culprit", "Cause: …", a rollback followed by recovery) lifts it, negated or asked statements
  count for nothing, and the latest word wins;
- **signals** (:mod:`warroom.ai.signals`: certificate expiry, connection-pool exhaustion, DNS, OOM, …) found in
  alerts and discussion: stronger when the first alert to fire shows it, when several or critical alerts do,
  and when responders confirm it;
- **dependencies** that alerted: stronger for a declared dependency, and when it alerted before the service did
  (a declared dependency's alerts in other incidents or in none count too, and its open incident is cited);
- **third-party providers** (``provider:<name>``, by its canonical name: :mod:`warroom.ai.providers`): a well-known
  provider, a host outside our domains or a declared dependency called someone else's, named by an alert or
  responders together with outage or status-page language; it takes in the generic third-party signal and the
  dependency named after it.

A change explains its symptoms: a signal it touches (by its words, or by the component it was made on:
``cert-manager`` touches certificates) and a dependency it was made on (or that responders tie to it once they
confirm or undo it) rank below it when it fits in time and is not ruled out (:func:`symptoms_of_changes`). A
failure that builds up on a service keeps that service's own changes of the hours before suspect. What responders
ruled out — a change, a provider — ranks below every cause they have not (:func:`below_ruled_out`).

Change titles and details are untrusted: lines that try to instruct a model give no words to match, and a title
that does is never quoted in a cause (the change is still a candidate). The model path gets the same candidates
and the fenced records and returns causes; a cause whose evidence names a record that does not exist is dropped,
so every cause shown points at real evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from pydantic import BaseModel

from .context import AlertFact, ChangeFact, EventFact, IncidentContext
from .prompts import data_blocks, incident_header, system
from .providers import (
    LABELS,
    STATUS_PAGE,
    THIRD_PARTY,
    as_written,
    label_provider,
    names_provider,
    provider_clauses,
    provider_judgement,
    provider_names,
)
from .rca_passes import (
    AWAY_FROM_CHANGES,
    Candidate,
    absorb_into_providers,
    alert_service,
    below_confirmed,
    below_ruled_out,
    cite_inflections,
    cite_related_incidents,
    latest_focus,
    merge_same_evidence,
    named_in,
    no_change_of_ours,
    signals_below_causes,
    symptoms_of_changes,
)
from .records import Record, build_records
from .results import Cause, Citation
from .safety import looks_like_injection
from .signals import BY_KEY, SIGNALS, Signal
from .statements import (
    GENERIC,
    QUESTION,
    Handles,
    Line,
    ceiling_values,
    change_handles,
    change_verdict,
    clauses,
    is_rollback,
    judge,
    judgement,
    latest_named,
    lowers_a_ceiling,
    pinned_at,
    read_talk,
    without_instructions,
)
from .text import fmt_duration, fmt_time, minutes_between, one_line, overlap, spaced, tokens, utc


def _alert_text(a: AlertFact) -> str:
    """The alert's words for pattern matching (camelCase names split: ``ExternalCDN5xx`` → ``External CDN5xx``).
    Lines that try to instruct a model (user input echoed into a description) give no words: what they name is no
    symptom."""
    return spaced(
        " ".join(
            _without_instructing(t)
            for t in [a.name, a.summary, *a.annotations.values(), *(f"{k} {v}" for k, v in a.labels.items())]
        )
    )


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def _without_instructing(text: str) -> str:
    """``text`` less its sentences that try to instruct a model."""
    if not looks_like_injection(text):
        return text
    return " ".join(part for part in _SENTENCE.split(text) if not looks_like_injection(part))




@dataclass(frozen=True, slots=True)
class Delay:
    """How soon a kind of change bites: most of the suspicion within ``fast`` minutes (an exponential of that
    scale, weighted ``share``), the rest over ``tail`` minutes."""

    fast: float
    tail: float
    share: float


#: Change kind → its typical delay. Config, flags and DNS bite at once (DNS after the TTL); releases within minutes
#: to hours; infrastructure and database changes over hours (a node pool drained, a migration reaching big tables).
DELAYS: dict[str, Delay] = {
    "config": Delay(30, 720, 0.8),
    "feature_flag": Delay(30, 720, 0.8),
    "dns": Delay(60, 720, 0.75),
    "deploy": Delay(90, 1440, 0.75),
    "rfc": Delay(90, 1440, 0.75),
    "other": Delay(90, 1440, 0.75),
    "infrastructure": Delay(180, 1440, 0.7),
    "database": Delay(180, 1440, 0.7),
}
#: Failures that build up (a leak, a filling disk, a ceiling reached only at the peak): any change in the hours
#: before stays suspect, fading over two days.
SLOW = Delay(2880, 2880, 1.0)
#: Failures that surface at a time set long before (a certificate or credential expiring): a change that touches
#: them stays suspect for weeks.
LATENT = Delay(43200, 43200, 1.0)


def time_proximity(
    change_at: datetime, started: datetime | None, *, slow: bool = False, kind: str = "deploy", latent: bool = False
) -> float:
    """How much the timing alone suggests a change of ``kind`` caused trouble that began at ``started``: near 1.0
    just before, fading by the kind's :data:`DELAYS`; low after the start.

    ``slow``: the failure builds up over hours (a leak, a filling disk, a capacity ceiling): a change made hours
    before is as suspect as one made minutes before. ``latent``: the failure surfaces at a time set when the thing
    was made (a certificate, a credential's lease): a change made days or weeks before stays suspect."""
    if started is None:
        return 0.3
    before = minutes_between(started, change_at)
    if before < -15:
        return 0.08  # well after the trouble began: a response, not a cause
    if before < 0:
        return 0.6  # at the same time, within clock skew
    if latent:
        return 0.9 * math.exp(-max(0.0, before - 30) / LATENT.tail)
    if slow:
        return 0.95 * math.exp(-max(0.0, before - 30) / SLOW.tail)
    d = DELAYS.get(kind, DELAYS["deploy"])
    return d.share * math.exp(-before / d.fast) + (1 - d.share) * math.exp(-before / d.tail)


# -- the ranking ---------------------------------------------------------------------------------------------
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
    handles: dict[str, Handles]
    #: The timeline read once: statements and the changes they name.
    talk: list[Line]
    #: The change the latest statements settle on (:func:`latest_named`), if any.
    settled: str | None = None


def rank_causes(ctx: IncidentContext, *, limit: int = 8) -> list[Cause]:
    """Probable causes, most likely first, each with the records that support it."""
    ctx = with_dependency_alerts(ctx)
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
    alert_services = {s for a in alerts if (s := alert_service(a))}
    # Service names occur in every alert about a service: they say nothing about what a change did.
    known = {ctx.service, *alert_services, *ctx.dependencies, *(c.service or "" for c in ctx.changes)} - {""}
    service_tokens = set(tokens(" ".join(known)))
    symptom_tokens = set(tokens(incident_text + " " + " ".join(_alert_text(a) for a in alerts)))
    origin = alert_service(first_alert) if first_alert is not None else None
    handles = change_handles(
        ctx, started, {k.lower() for k in known}, {ctx.service, *alert_services, *ctx.dependencies}
    )
    scene = _Scene(
        started=started,
        alerts=alerts,
        alert_signals=alert_signals,
        seen_signals={s.key for sigs in alert_signals.values() for s in sigs}
        | {s.key for s in title_signals}
        | {s.key for e in events for s in event_signals[e.ref] if s.key in TOLD_SIGNALS and not QUESTION.search(e.text)},
        symptom_tokens=symptom_tokens - GENERIC - service_tokens,
        service_tokens=service_tokens,
        alert_services=alert_services,
        origin=origin,
        latest=_latest_changes(ctx, started, {s for s in (ctx.service, origin) if s}),
        events=events,
        handles=handles,
        talk=(talk := read_talk(events, handles)),
        # (not a change made after the trouble began, nor a rollback: responses, not causes)
        settled=latest_named(talk, stop=AWAY_FROM_CHANGES, among={
            c.id for c in ctx.changes
            if (started is None or minutes_between(started, c.at) >= -15) and not is_rollback(c)
        }),
    )
    candidates: list[Candidate] = []
    candidates.extend(
        _signal_candidates(ctx, alerts, first_alert, alert_signals, title_signals, events, event_signals)
    )
    candidates.extend(_dependency_candidates(ctx, alerts, events))
    changes = [_change_candidate(ctx, change, scene) for change in ctx.changes]
    candidates.extend(changes)
    candidates.extend(_provider_candidates(ctx, alerts, events, changes))
    cite_related_incidents(ctx, candidates)
    cite_inflections(ctx, candidates)
    absorb_into_providers(candidates)
    merge_same_evidence(candidates)
    latest_focus(candidates, events)
    symptoms_of_changes(candidates, {a.ref: a for a in alerts})
    below_confirmed(candidates)
    no_change_of_ours(candidates, events)
    below_ruled_out(candidates)
    signals_below_causes(candidates)
    candidates = [c for c in candidates if c.score >= 0.12]
    candidates.sort(key=lambda c: -c.score)
    records = {r.ref: r for r in build_records(ctx, facts=False)}
    return [_to_cause(c, records) for c in candidates[:limit]]


#: Alert labels that say what an alert is (not where it runs).
_NOT_PLATFORM = frozenset({"alertname", "service", "severity", "env", "environment", "team", "job", "status"})


def platform_values(labels: Mapping[str, str]) -> set[str]:
    """Where an alerting service runs, as an alert's labels say: clusters, node pools, hosts, namespaces."""
    return {str(v).strip().lower() for k, v in labels.items() if k.lower() not in _NOT_PLATFORM and v}


def _platforms(alerts: list[AlertFact]) -> set[str]:
    return {v for a in alerts for v in platform_values(a.labels)}


def _latest_changes(ctx: IncidentContext, started: datetime | None, services: set[str]) -> set[str]:
    """Per service in ``services``: the last change made to it in the day before the trouble began."""
    if started is None:
        return set()
    out: set[str] = set()
    for service in services:
        before = [c for c in ctx.changes if c.service == service and 0 <= minutes_between(started, c.at) <= 1440]
        if before:
            out.add(max(before, key=lambda c: utc(c.at)).id)
    return out


def _signal_candidates(
    ctx: IncidentContext,
    alerts: list[AlertFact],
    first_alert: AlertFact | None,
    alert_signals: dict[str, list[Signal]],
    title_signals: list[Signal],
    events: list[EventFact],
    event_signals: dict[str, list[Signal]],
) -> list[Candidate]:
    out: list[Candidate] = []
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
        lift, _ = judgement(hit_events)
        score = (score + lift) * signal.weight
        services = sorted({s for a in hit_alerts if (s := alert_service(a))})
        where = f" on {', '.join(services)}" if services else ""
        cand = Candidate(
            key=f"signal:{signal.key}", title=signal.title.format(where=where), score=score, reasons=reasons
        )
        cand.add_evidence(*(a.ref for a in hit_alerts[:6]), *(e.ref for e in hit_events[:4]))
        out.append(cand)
    return out


#: Failures responders find that alerts seldom name (a node's kernel, cgroups, conntrack; a certificate or credential
#: that expired, read in the logs): what they report counts as seen, so a change that touches it is weighed as one
#: that touches an alert.
TOLD_SIGNALS = frozenset({"node", "certificate-expiry", "credentials"})
#: What alerting first adds to a dependency (where the trouble showed first — not yet why).
DEP_FIRST = 0.15
#: A host, instance or volume name in an alert ("redis-sess-02", "os-data-4", "vol_media"): hyphenated with a
#: number, or snake_case.
_HOST_NAME = re.compile(
    r"(?<![\w./-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*-\d+[a-z]?|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w-])", re.I
)
#: Responders finding something healthy.
_HEALTHY = re.compile(
    r"(?i)\b(?:look(?:s|ed)?|is|are|was|were|seems?|all|both)\s+(?:\w+\s+)?(?:healthy|fine|green|normal|ok|okay)\b"
    r"(?![^.;]*\b(?:but|except|until)\b)"
)


def _raw_text(a: AlertFact) -> str:
    """An alert's words as written (its summary, labels and annotations), names unsplit."""
    return " ".join([a.summary, *a.labels.values(), *a.annotations.values()])


def _healthy_but(clause: str, text: str) -> bool:
    """``clause`` found something healthy and ``text`` goes on "but …" ("looks fine but its disk is full")."""
    at = text.find(clause)
    return at >= 0 and re.match(r"\W*(?:but|except|though|however)\b", text[at + len(clause):], re.I) is not None


def _dependency_candidates(
    ctx: IncidentContext, alerts: list[AlertFact], events: list[EventFact]
) -> list[Candidate]:
    own = [a for a in alerts if alert_service(a) in (None, ctx.service)]
    own_first = min((utc(a.starts_at) for a in own if a.starts_at), default=None)
    timed = sorted((a for a in alerts if a.starts_at), key=lambda a: utc(a.starts_at))  # type: ignore[arg-type]
    first = utc(timed[0].starts_at) if timed and timed[0].starts_at else None
    first_service = alert_service(timed[0]) if timed else None
    by_service: dict[str, list[AlertFact]] = {}
    for a in alerts:
        service = alert_service(a)
        if service and service != ctx.service:
            by_service.setdefault(service, []).append(a)
    out: list[Candidate] = []
    for service, hits in by_service.items():
        score = 0.35
        reasons = [f"{len(hits)} alert(s) on {service}"]
        if service in ctx.dependencies:
            score += 0.2
            reasons.insert(0, f"{ctx.service} depends on {service}")
        dep_first = min((utc(a.starts_at) for a in hits if a.starts_at), default=None)
        if dep_first is not None and (own_first is None or dep_first <= own_first) and (
            first is None or dep_first <= first
        ):
            score += DEP_FIRST
            reasons.append(f"{service} alerted first")
        elif dep_first is not None and (own_first is None or dep_first <= own_first):
            # Before the service, after another dependency: as likely a victim of that one as a cause.
            score += 0.05
            reasons.append(f"{service} alerted before {ctx.service}, after {first_service}")
        elif dep_first is not None:
            score -= 0.1  # it alerted after the service did: more likely a victim than the cause
        # Named, or one of its instances is ("tracking-db-1", "kafka-events-4", or a host its own alerts name:
        # "redis-sess-02").
        raw = [_raw_text(a) for a in hits]
        hosts = {h.lower() for text in raw for h in _HOST_NAME.findall(text)} - {service.lower()}
        named = re.compile(
            rf"(?i)(?<![\w-])(?:{re.escape(service)}(?:-\d+)?{''.join('|' + re.escape(h) for h in sorted(hosts))})(?![\w-])"
        )
        said_ = [e for e in events if named.search(e.text)]
        score += 0.04 * min(len(said_), 3)
        lift, _ = judgement(said_)
        spoken = [(c, e.text) for e in said_ for c in clauses(e.text) if named.search(c) and not QUESTION.search(c)]
        found_healthy = False
        if any(_HEALTHY.search(c) and not judge(c) > 0 and not _healthy_but(c, text) for c, text in spoken[-2:]):
            # Their latest word on it: "tax-engine's own dashboards look healthy", "both readers healthy".
            lift = min(lift, -0.3)
            found_healthy = True
            reasons.append(f"responders found {service} healthy")
        elif any(s.pattern.search(c) for c, _ in spoken for s in SIGNALS):
            # "redis-sess-02 NIC is throwing crc errors", "vol_media is full": they saw it fail themselves.
            score += 0.1
            reasons.append(f"responders describe {service} failing")
        cand = Candidate(
            key=f"dependency:{service}",
            title=f"Dependency {service} failing",
            score=score + lift,
            reasons=reasons,
            word=-1 if found_healthy else 0,
        )
        cand.add_evidence(*(a.ref for a in hits[:6]), *(e.ref for e in said_[:4]))
        cand.talked = {e.ref for e in said_}
        out.append(cand)
    return out


def with_dependency_alerts(ctx: IncidentContext) -> IncidentContext:
    """``ctx`` with the alerts of the services its service depends on that fired around its start in other
    incidents or in none (``ctx.related_alerts``) among its own: for the ranking, a dependency that alerted first
    is where the trouble began, wherever its alerts were declared (the status summary counts them the same way).
    So are the alerts of another service whose change the incident's context holds (one the responders named or
    quoted: warroom.response.ai.context.changes_on), which tell whether that change hurt."""
    changed = {c.service for c in ctx.changes if c.service and c.service != ctx.service}
    moved = [a for a in ctx.related_alerts if alert_service(a) in {*ctx.dependencies, *changed}]
    if not moved:
        return ctx
    return replace(ctx, alerts=[*ctx.alerts, *moved], related_alerts=[a for a in ctx.related_alerts if a not in moved])


#: A change's kind says which failure it can cause although its title does not (a DNS change, a flag flip).
_KIND_AREAS = {
    "dns": ("dns",),
    "feature_flag": ("config",),
    "config": ("config",),
    "database": ("database", "connection-pool"),
    "infrastructure": ("network", "capacity"),
}


def _touches(signal: Signal, text: str, kind: str) -> bool:
    """A change described by ``text``, of ``kind``, touches the area of ``signal``."""
    return bool(
        signal.pattern.search(text)
        or (signal.touches is not None and signal.touches.search(text))
        or signal.key in _KIND_AREAS.get(kind, ())
    )


#: A change's own words saying it stayed out of production.
NOT_IN_PRODUCTION = re.compile(
    r"(?i)\b(?:production|prod) (?:is )?(?:unaffected|not affected)|no (?:production|prod|customer) impact|"
    r"(?:test|staging|stage|dev|sandbox|qa|uat|preprod|pre-prod)(?: env(?:ironment)?s?)? only\b|"
    r"\bonly (?:on|in|to) (?:the )?(?:test|staging|stage|dev|sandbox|qa|uat|preprod|pre-prod)\b|"
    r"activated (?:on |in )?(?:test|staging|stage)\b|not (?:yet )?(?:in|on|to) (?:production|prod)\b"
)
#: What a change gains when something is found pinned at the limit it set.
PINNED_LIFT = 0.15
#: What a change gains when a grace period or validity it set ran out as the trouble began: the moment is its own.
RAN_OUT_LIFT = 0.2
#: What the change the latest statements settle on gains (:func:`~warroom.ai.statements.latest_named`).
SETTLED_LIFT = 0.25
#: A component that alerts first, within this many minutes of a change made on it, was most likely hurt by it.
COINCIDENT_MINUTES = 30


def _change_candidate(ctx: IncidentContext, change: ChangeFact, scene: _Scene) -> Candidate:
    reasons: list[str] = []
    text = without_instructions(f"{change.title}\n{change.details}")
    handles = scene.handles[change.id]
    shared_signals = [s for s in SIGNALS if s.key in scene.seen_signals and _touches(s, text, change.kind)]
    # The component it was made on touches what its name says ("cert-manager": certificates, "pgbouncer": pooling),
    # whatever its title says — less surely than its title's own words.
    component = (change.service or "").replace("-", " ").replace("_", " ")
    by_component = [
        s for s in SIGNALS
        if component and s.key in scene.seen_signals and s not in shared_signals and _touches(s, component, "")
    ]
    # Alerts that name what the change carries (its job, flag, host or version) are about it; so are alerts on
    # another service that name the changed one as what holds it ("blocking pid … application_name=billing-batch").
    named_by = [a for a in scene.alerts if handles.mentioned_in(_alert_text(a)) not in (None, "the latest release")]
    named_by += [
        a for a in scene.alerts
        if a not in named_by and change.service and alert_service(a) not in (None, change.service)
        and named_in(change.service, " ".join([a.summary, *a.annotations.values()]))
    ]
    change_tokens = set(tokens(text))
    # Numbers (versions, percentages) match by accident; service names say nothing about what changed.
    distinct = {t for t in change_tokens - GENERIC - scene.service_tokens if not t.isdigit()}
    verdict = change_verdict(change, scene.handles[change.id], scene.talk, scene.events, distinct)
    # A failure that builds up over hours: a change that touches it, or that responders tie to it, stays suspect.
    slow_seen = [BY_KEY[k] for k in scene.seen_signals if BY_KEY[k].slow]
    # … or that was made on the very service whose own alerts show it building up (a leak in its release fills its
    # pool or its heap over hours, whatever its title says).
    slow_here = change.service is not None and any(
        s.slow for a in scene.alerts if alert_service(a) == change.service for s in scene.alert_signals[a.ref]
    )
    # … or that lowered a ceiling (a pool, maxconn, a concurrency limit): it bites at the next peak, days later.
    slow = (any(s.slow for s in [*shared_signals, *by_component]) or slow_here or bool(slow_seen and verdict.lift > 0)
            or lowers_a_ceiling(text))
    started = scene.started
    when = time_proximity(change.at, started, slow=slow, kind=change.kind)
    if named_by and started is not None and minutes_between(started, change.at) >= 0:
        # The alerts name what the change carries (a job, a host): it bites when that runs, not when it was made.
        when = max(when, 0.8 * math.exp(-minutes_between(started, change.at) / 2880))
    latent = [s for s in [*shared_signals, *by_component] if s.latent]
    if latent and started is not None and minutes_between(started, change.at) > 720:
        # A certificate or credential it touched expires days later: the change is where the expiry was set.
        when = max(when, time_proximity(change.at, started, latent=True))
        reasons.append(f"{latent[0].title.format(where='').lower()} surfaces long after the change that set it")
    first_run = schedule_first_run(text, change.at)
    if first_run is not None and started is not None and -15 <= minutes_between(started, first_run) <= 720:
        # A new schedule bites at its first run, not when it was merged.
        when = max(when, time_proximity(first_run, started, kind="config"))
        reasons.append(f"its new schedule first ran at {fmt_time(first_run, day_of=started)}")
    ran_out = runs_out_at(text, change.at)
    # A grace period or validity it set ("old key accepted for 48h", "SAS validity 72h") ran out when the trouble
    # began: that moment was set by this change.
    expired = ran_out is not None and started is not None and -60 <= minutes_between(started, ran_out) <= 30
    if expired and ran_out is not None:
        when = max(when, 0.9)
        reasons.append(f"what it set ran out at {fmt_time(ran_out, day_of=started)}, when the trouble began")
    settled = scene.settled == change.id and verdict.lift >= 0
    # A limit it set is where the alerts or responders find something pinned ("ConcurrentExecutions flat at 50"):
    # the trouble is that limit, reached — however long ago it was set.
    caps = ceiling_values(text)
    pinned = next(
        (v for v in (pinned_at(caps, t) for t in [*(_alert_text(a) for a in scene.alerts),
                                                   *(e.text for e in scene.events)]) if v), None
    )
    if pinned:
        slow = True
        when = max(when, 0.6)
    if verdict.lift >= 0.3 or settled:
        # Responders traced the trouble to it (or settled on it last): how long ago it was made no longer argues
        # against it.
        when = max(when, 0.8 if settled else 0.5)
    if started is not None:
        if minutes_between(started, change.at) >= 0:
            reasons.append(f"made {fmt_duration(utc(started) - utc(change.at))} before the trouble began")
        else:
            reasons.append(f"made {fmt_duration(utc(change.at) - utc(started))} after the trouble began")
    if slow and started is not None and minutes_between(started, change.at) > 90:
        reasons.append("the failure builds up over hours, so an earlier change stays suspect")
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
    elif change.service is not None and change.service.lower() in _platforms(scene.alerts):
        # A cluster, node pool or host the alerts carry in their labels: what runs there runs on it.
        where = 0.75
        reasons.append(f"on {change.service}, which the alerts run on")
    elif change.service is None:
        where = 0.35
    else:
        where = 0.05
    if shared_signals and where < 0.5:
        # What it did is what failed (a migration on a shared database made by another team's service).
        where = 0.5
    if where < 0.6 and verdict.stated and verdict.lift >= 0 and verdict.how not in ("its description", "the latest release"):
        # A change elsewhere (a job, a pipeline, an edge or gateway config) that responders bring up in the
        # discussion, without ruling it out, is tied to this incident by them.
        where = 0.6
        reasons.append("responders bring it up")
    words = overlap(distinct, scene.symptom_tokens)
    if len(distinct & scene.symptom_tokens) < 2:
        words /= 2  # one shared word is as likely chance as a link
    match = 1.0 if shared_signals or named_by else max(0.5 if by_component else 0.0, min(1.0, 1.6 * words))
    if named_by:
        where = max(where, 0.8)
        said_as = handles.mentioned_in(_alert_text(named_by[0]))
        reasons.append(
            f"the alerts name {said_as}" if said_as else f"the alerts on {alert_service(named_by[0])} name {change.service}"
        )
    if shared_signals or by_component:
        area = [*shared_signals, *by_component][0].title.format(where="").lower()
        reasons.append(f"it touches what the alerts show failing ({area})")
    elif words >= 0.3:
        reasons.append("its description shares words with the alerts")
    score = when * (0.6 * where + 0.4 * match)
    if NOT_IN_PRODUCTION.search(text):
        # "planned maintenance on the test environment (production unaffected)", "activated on staging only".
        score *= 0.4
        reasons.append("its own description says it did not reach production")
    own_alerts = sorted(
        utc(a.starts_at) for a in scene.alerts if a.starts_at and change.service and alert_service(a) == change.service
    )
    if (own_alerts and change.service == scene.origin and change.service != ctx.service
            and 0 <= minutes_between(own_alerts[0], change.at) <= COINCIDENT_MINUTES):
        # The component it was made on alerted first, minutes later: where and when the trouble began.
        score += 0.15
        reasons.append(f"{change.service} began to alert {fmt_duration(own_alerts[0] - utc(change.at))} after it")
    if change.id in scene.latest:
        score += 0.1
        reasons.append(f"the last change to {change.service} before the trouble began")
    if verdict.said:
        score += 0.05
        named = f" (by {verdict.how})" if verdict.how not in ("its id", "its description") else ""
        if verdict.lift >= 0.3:
            reasons.append(f"responders confirmed it{named}")
        elif verdict.lift > 0:
            reasons.append(f"responders rolled it back or tied the trouble to it{named}")
        elif verdict.lift < 0:
            reasons.append(f"responders ruled it out{named}")
        else:
            reasons.append(f"responders discussed it{named}")
    score += verdict.lift
    if settled:
        score += SETTLED_LIFT
        reasons.append("the latest statements settle on it")
    if expired:
        score += RAN_OUT_LIFT
    if pinned:
        score += PINNED_LIFT
        reasons.append(f"something is pinned at {pinned}, the limit it set")
    cand = Candidate(
        key=f"change:{change.id}",
        title=_change_title(change),
        score=score,
        reasons=reasons,
        service=change.service,
        touches=tuple(s.key for s in [*shared_signals, *by_component]),
        fits=when,
        # settled on by the latest statements: as good as confirmed, for what it explains
        word=-1 if verdict.lift < 0 else 1 if verdict.lift >= 0.3 or settled else 0,
        tied=verdict.lift > 0,
    )
    cand.add_evidence(change.ref, *verdict.refs, *(e.ref for e in verdict.said[:3]))
    cand.talked = {e.ref for e in verdict.said}
    related = [a for a in scene.alerts if any(s in scene.alert_signals[a.ref] for s in shared_signals)]
    related = named_by + [a for a in related if a not in named_by]
    if not related:
        related = [a for a in scene.alerts if alert_service(a) == change.service]
    cand.add_evidence(*(a.ref for a in related[:3]))
    return cand


#: A cron schedule: minute, hour, day of month, month, day of week (``0 2 * * *``, ``*/15 9-17 * * 1-5``).
_CRON = re.compile(
    r"(?<![\w*/,-])([\d*/,-]+)\s+([\d*/,-]+)\s+([\d*/,-]+|\*)\s+([\d*/,-]+|\*)\s+([\d*/,-]+)(?![\w*/,-])"
)


def _cron_field(field_: str, low: int, high: int) -> set[int]:
    out: set[int] = set()
    for part in field_.split(","):
        base, _, step_ = part.partition("/")
        step = int(step_) if step_.isdigit() and int(step_) > 0 else 1
        if base == "*":
            lo, hi = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            if not (a.isdigit() and b.isdigit()):
                return set()
            lo, hi = int(a), int(b)
        elif base.isdigit():
            lo = hi = int(base)
            if step_:
                hi = high
        else:
            return set()
        out.update(v for v in range(lo, hi + 1, step) if low <= v <= high)
    return out


def schedule_first_run(text: str, after: datetime) -> datetime | None:
    """The first run after ``after`` of the last cron schedule ``text`` gives (the new one in "'0 16 * * *' ->
    '0 2 * * *'"), read in UTC; None when ``text`` gives none. A job's new schedule bites at that run."""
    found = [m for m in _CRON.finditer(text) if "*" in "".join(m.groups()[2:])]
    if not found:
        return None
    minute, hour, dom, month, dow = found[-1].groups()
    minutes, hours = _cron_field(minute, 0, 59), _cron_field(hour, 0, 23)
    doms, months = _cron_field(dom, 1, 31), _cron_field(month, 1, 12)
    dows = {d % 7 for d in _cron_field(dow, 0, 7)}
    if not (minutes and hours and doms and months and dows):
        return None
    start = utc(after).replace(second=0, microsecond=0)
    day0 = start.replace(hour=0, minute=0)
    for n in range(0, 400):
        day = day0 + timedelta(days=n)
        if day.day not in doms or day.month not in months or (day.weekday() + 1) % 7 not in dows:
            continue
        for h in sorted(hours):
            for m in sorted(minutes):
                run = day.replace(hour=h, minute=m)
                if run > start:
                    return run
    return None


#: A time a change sets running from when it is made: "old key accepted at edge for 48h grace", "SAS validity 72h
#: (was 1y)", "max_ttl 72h" (not a session's idle timeout, which runs from each login).
_LASTS = re.compile(
    r"(?i)\b(?:grace(?: period)?(?: of)?|valid(?:ity)?(?: for| of)?|expir(?:es|y)(?: in| after)?|max[_ ]?ttl|lease ttl|"
    r"(?:accepted|allowed|kept|honou?red|trusted)\s+(?:[\w-]+\s+){0,3}?for)\s*[=:]?\s*"
    r"(?:\d+\s*[a-z]+\s*(?:->|→|to)\s*)?(\d+)\s*(m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\b"
)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440, "w": 10080}


def runs_out_at(text: str, made: datetime) -> datetime | None:
    """When what ``text`` set running runs out, from ``made`` ("accepted at edge for 48h grace" → 48 h later);
    None when it sets none, or more than one."""
    found = {int(m.group(1)) * _UNIT_MINUTES[m.group(2)[0].lower()] for m in _LASTS.finditer(text)}
    if len(found) != 1:
        return None
    minutes = found.pop()
    return utc(made) + timedelta(minutes=minutes) if 5 <= minutes <= 60 * 24 * 400 else None


def _change_title(change: ChangeFact) -> str:
    """"Feature flag flag-9 on pricing-api: …", "DNS change RFC-3 …": the kind, the id, the service, the title —
    unless the title tries to instruct a model, which is then not quoted."""
    name = change.kind_name
    head = f"{name[:1].upper()}{name[1:]} {change.id}" + (f" on {change.service}" if change.service else "")
    if looks_like_injection(change.title):
        return f"{head} (its title is not quoted: it holds instructions)"
    return f"{head}: {one_line(change.title, 120)}"


def _provider_candidates(
    ctx: IncidentContext, alerts: list[AlertFact], events: list[EventFact], changes: list[Candidate]
) -> list[Candidate]:
    """A third-party provider's outage as a cause of its own: when an alert or the discussion names a provider
    together with outage or status-page language. Strong when an alert says so (the first alert the more), when
    responders confirm it (their status page, their support); weaker when a change of ours is confirmed."""
    out: list[Candidate] = []
    # (confirmed, or settled on by the latest statements)
    confirmed_change = any(c.score >= 0.6 and c.word > 0 for c in changes)
    first = alerts[0] if alerts else None
    texts = [*(_alert_text(a) for a in alerts), *(e.text for e in events)]
    for name, known in provider_names(ctx, alerts, events).items():
        # A declared dependency once called someone else's (their status page, the vendor) is a provider everywhere.
        known = known or any(
            THIRD_PARTY.search(c) for t in texts for c in clauses(t) if names_provider(name, c)
        )
        hit_alerts = [
            a for a in alerts
            if provider_clauses(name, known, _alert_text(a))
            or any(label_provider(a, k) == name for k in LABELS)
        ]
        hit_events = [e for e in events if provider_clauses(name, known, e.text)]
        if not hit_alerts and not hit_events:
            continue
        reasons: list[str] = []
        if hit_alerts:
            score = 0.5 + 0.05 * min(len(hit_alerts), 3)
            if first is not None and first in hit_alerts:
                score += 0.1
                reasons.append(f"the first alert to fire ({first.name}) names {name} failing")
            else:
                reasons.append(f"{len(hit_alerts)} alert(s) name {name} failing")
        else:
            score = 0.35
            reasons.append(f"responders report {name} failing")
        if hit_events:
            score += 0.06 * min(len(hit_events), 3)
            if hit_alerts:
                reasons.append(
                    f"{len(hit_events)} timeline entr{'y says' if len(hit_events) == 1 else 'ies say'} so too"
                )
        if any(STATUS_PAGE.search(c) for e in hit_events for c in clauses(e.text)):
            score += 0.1
            reasons.append(f"{name}'s status page is cited")
        lift, judged = provider_judgement(name, events)
        score += lift
        if lift < 0:
            reasons.append(f"responders ruled {name} out")
        elif lift > 0:
            reasons.append(f"responders confirmed it ({name} reports it or its recovery)")
        if confirmed_change:
            score -= 0.15
        else:
            reasons.append("no change of ours is confirmed")
        shown = as_written(name, [*(_alert_text(a) for a in hit_alerts), *(e.text for e in hit_events)])
        cand = Candidate(
            key=f"provider:{name}",
            title=f"Third-party provider {shown} failing (outage or degradation on their side)",
            score=score,
            reasons=reasons,
            word=-1 if lift < 0 else 1 if lift > 0 else 0,
        )
        cand.add_evidence(*(a.ref for a in hit_alerts[:6]), *(e.ref for e in hit_events[:4]), *judged)
        cand.talked = {e.ref for e in hit_events}
        cand.reported = frozenset(
            t for text in [*(_alert_text(a) for a in hit_alerts), *(e.text for e in hit_events)]
            for c in provider_clauses(name, known, text) for t in tokens(c)
        )
        out.append(cand)
    return out


def _to_cause(c: Candidate, records: dict[str, Record]) -> Cause:
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
