"""Postmortem drafts: Markdown with summary, impact and duration, timeline, root cause analysis, contributing
factors, what went well, what went badly, and follow-up actions (also returned as structured
:class:`~warroom.ai.results.FollowUp` items for the lead to store as post-incident tasks).

The timeline and the times (start, detection, acknowledgement, resolution, duration) always come from the records.
The deterministic engine derives the rest from the RCA ranking, the signals' remedies, the timing, and responder
lines; the model path writes the narrative sections from the same fenced records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from .context import IncidentContext
from .prompts import data_blocks, incident_header, system
from .records import Record, build_records
from .results import Cause, FollowUp
from .safety import looks_like_injection
from .signals import BY_KEY
from .statements import ROLLBACK, RULED_OUT
from .summarizer import ACTION_WORDS, IMPACT_WORDS
from .text import fmt_duration, fmt_time, one_line, utc

FOLLOW_UP_KINDS = ("prevent", "detect", "mitigate", "process")
_RESOLVING = re.compile(
    r"(?i)\b(?:fix\w*|resolv\w*|recover\w*|restor\w*|mitigat\w*|roll(?:ed|ing)?(?: it| them)?[ -]?back|revert\w*|"
    r"renew\w*|back to (?:normal|baseline)|error rate (?:is )?(?:back|down|dropped)|green again|stable|errors? gone)\b"
)
_FACTOR = re.compile(
    r"(?i)\b(?:because|due to|contribut\w*|made (?:it|things) worse|compounded|amplif\w*|also|"
    r"on top of|exacerbat\w*|retry storm|no alert|wasn'?t alerted|missing)\b"
)
_WELL = re.compile(
    r"(?i)\b(?:went well|worked (?:well|great)|helped|good catch|quick(?:ly)?|fast|kudos|thanks to|"
    r"nice work|saved us)\b"
)
_BADLY = re.compile(
    r"(?i)\b(?:went badly|too slow|slow to|confus\w*|no access|(?:we|i) (?:couldn'?t|could not)|didn'?t know|unclear|"
    r"waited|wasted|missing runbook|no runbook|lost time|noisy|noise|stale|wrong (?:dashboard|runbook))\b"
)
_FOLLOW = re.compile(
    r"(?i)\b(?:follow[- ]?ups?|action items?|todo|we should|we need to|need to|let'?s make sure|"
    r"next time|must add|should add)\b"
)


@dataclass(frozen=True)
class Timing:
    began: datetime | None
    declared: datetime | None
    acknowledged: datetime | None
    resolved: datetime | None

    @property
    def duration(self) -> timedelta | None:
        return utc(self.resolved) - utc(self.began) if self.resolved and self.began else None

    @property
    def detection(self) -> timedelta | None:
        return utc(self.declared) - utc(self.began) if self.declared and self.began else None

    @property
    def to_ack(self) -> timedelta | None:
        return utc(self.acknowledged) - utc(self.declared) if self.acknowledged and self.declared else None


def timing(ctx: IncidentContext) -> Timing:
    return Timing(ctx.started_at(), ctx.created_at, ctx.acknowledged_at, ctx.resolved_at)


def _talk(ctx: IncidentContext) -> list[Record]:
    return [
        r
        for r in build_records(ctx, facts=False)
        if r.kind == "event"
        and r.subkind in ("note", "discussion", "itsm")
        and not looks_like_injection(r.text)
    ]


def _q(r: Record, day: datetime | None, limit: int = 200) -> str:
    who = r.label.split(" by ", 1)[1] if " by " in r.label else "a responder"
    when = fmt_time(r.at, day_of=day) if r.at else ""
    return f"“{one_line(r.text, limit)}” — {who}, {when} [{r.ref}]"


def impact_section(ctx: IncidentContext, t: Timing, narrative: str | None = None) -> str:
    day = t.began or t.declared
    rows = []
    if t.began:
        rows.append(f"- Trouble began: {fmt_time(t.began)} (earliest alert or declaration)")
    if t.declared:
        extra = (
            f" — {fmt_duration(t.detection)} after it began"
            if t.detection and t.detection > timedelta(minutes=1)
            else ""
        )
        rows.append(f"- Declared: {fmt_time(t.declared, day_of=day)}{extra}")
    if t.acknowledged:
        extra = f" — {fmt_duration(t.to_ack)} after declaration" if t.to_ack is not None else ""
        rows.append(f"- Acknowledged: {fmt_time(t.acknowledged, day_of=day)}{extra}")
    if t.resolved:
        rows.append(f"- Resolved: {fmt_time(t.resolved, day_of=day)}")
    rows.append(
        f"- Duration: {fmt_duration(t.duration)}" if t.duration is not None else "- Duration: still open"
    )
    rows.append(f"- Priority: {ctx.priority or 'none'}; service: {ctx.service}")
    services = sorted({s for a in ctx.alerts if (s := a.service or a.labels.get("service"))} | {ctx.service})
    rows.append(f"- Services affected or alerting: {', '.join(services)}")
    if ctx.alerts:
        names = list(dict.fromkeys(a.name for a in ctx.alerts))
        rows.append(f"- Alerts: {len(ctx.alerts)} ({', '.join(names[:6])}{' …' if len(names) > 6 else ''})")
    parts = ["\n".join(rows)]
    if narrative:
        parts.append(narrative)
    else:
        statements = []
        if ctx.details and not looks_like_injection(ctx.details):
            statements.append(one_line(ctx.details, 300))
        statements += [_q(r, day) for r in _talk(ctx) if IMPACT_WORDS.search(r.text)][:3]
        if statements:
            parts.append("Impact as recorded:\n" + "\n".join(f"- {s}" for s in statements))
    return "\n\n".join(parts)


def timeline_section(ctx: IncidentContext, *, limit: int = 60) -> str:
    t = timing(ctx)
    lo = (utc(t.began) - timedelta(hours=24)) if t.began else None
    records = [
        r
        for r in build_records(ctx, facts=False)
        if not (r.kind == "change" and r.at and lo and utc(r.at) < lo)
    ]
    if len(records) > limit:
        keep = [r for r in records if r.kind != "event" or r.subkind not in ("note", "discussion")]
        talk = [r for r in records if r not in keep]
        talk_keep = [
            r
            for r in talk
            if ACTION_WORDS.search(r.text) or _RESOLVING.search(r.text) or IMPACT_WORDS.search(r.text)
        ]
        room = max(0, limit - len(keep))
        chosen = set(map(id, keep + talk_keep[:room]))
        records = [r for r in records if id(r) in chosen]
    day = t.began or t.declared
    rows: list[tuple[datetime, str]] = []
    for r in records:
        if r.at is not None:
            rows.append(
                (utc(r.at), f"- {fmt_time(r.at, day_of=day)} — {r.label}: {one_line(r.text, 180)} [{r.ref}]")
            )
    for mark, at in (("declared", t.declared), ("acknowledged", t.acknowledged), ("resolved", t.resolved)):
        if at is not None:
            rows.append((utc(at), f"- {fmt_time(at, day_of=day)} — incident {mark} ({ctx.ref})"))
    rows.sort(key=lambda row: row[0])
    return "\n".join(line for _, line in rows) if rows else "No events recorded."


def rca_section(
    causes: list[Cause], narrative: str | None = None, records: list[Record] | None = None
) -> str:
    """The ranked causes; with ``records``, each piece of evidence of the leading cause is quoted."""
    quotes = {r.ref: r.quote(200) for r in records or []}
    if not causes:
        body = "No probable cause stands out in the records: no change near the start and no known failure pattern."
        return f"{narrative}\n\n{body}" if narrative else body
    top = causes[0]
    lines = []
    if narrative:
        lines += [narrative, ""]
    lines += [
        f"**Most probable cause: {top.title}** (confidence {top.score:.2f})",
        "",
        top.explanation,
        "",
        "Evidence:",
    ]
    lines += [f"- {c.render()}" + (f": {quotes[c.ref]}" if c.ref in quotes else "") for c in top.evidence[:6]]
    if len(causes) > 1:
        lines += ["", "Other candidates considered:"]
        lines += [
            f"- {c.title} (confidence {c.score:.2f}; evidence {', '.join(e.ref for e in c.evidence[:3])})"
            for c in causes[1:5]
        ]
    return "\n".join(lines)


def _bullets(items: list[str], empty: str) -> str:
    return "\n".join(f"- {i}" for i in items) if items else empty


def contributing(ctx: IncidentContext, causes: list[Cause], t: Timing) -> list[str]:
    out: list[str] = []
    day = t.began or t.declared
    top = causes[0] if causes else None
    if top is not None and top.key.startswith("change:") and t.began:
        out.append(
            f"{top.title.split(':')[0]} reached production shortly before the trouble began and nothing "
            "caught the problem before users were affected (no canary or automatic rollback)."
        )
    for c in causes[1:4]:
        if c.key.startswith(("signal:", "dependency:")) and c.score >= 0.45:
            out.append(f"{c.title} ({', '.join(e.ref for e in c.evidence[:3])}).")
    if t.detection is not None and t.detection > timedelta(minutes=10):
        out.append(f"Detection: the incident was declared {fmt_duration(t.detection)} after the first alert.")
    no_runbook = [a.name for a in ctx.alerts if not any("runbook" in k.lower() for k in a.annotations)]
    if ctx.alerts and no_runbook:
        out.append(
            f"{len(no_runbook)} of {len(ctx.alerts)} alerts had no runbook link ({', '.join(dict.fromkeys(no_runbook[:4]))})."
        )
    raised = [e for e in ctx.evidence_events() if e.kind == "priority"]
    if raised:
        out.append(
            f"The priority changed during the incident ({one_line(raised[0].text, 120)} at "
            f"{fmt_time(raised[0].at, day_of=day)}): the first assessment did not match the impact."
        )
    out += [_q(r, day) for r in _talk(ctx) if _FACTOR.search(r.text)][:3]
    return out


def went_well(ctx: IncidentContext, t: Timing) -> list[str]:
    out: list[str] = []
    day = t.began or t.declared
    if ctx.alerts and t.detection is not None and t.detection <= timedelta(minutes=5):
        out.append("Monitoring caught it: alerts fired before or as the incident was declared.")
    if t.to_ack is not None and t.to_ack <= timedelta(minutes=5):
        out.append(f"Acknowledged {fmt_duration(t.to_ack)} after declaration.")
    if ctx.roles:
        out.append("Roles were assigned (" + ", ".join(sorted(ctx.roles)) + ").")
    rolled = [r for r in _talk(ctx) if ROLLBACK.search(r.text) and not RULED_OUT.search(r.text)]
    if rolled and t.began and rolled[0].at and utc(rolled[0].at) - utc(t.began) <= timedelta(minutes=45):
        out.append(
            f"A rollback was under way {fmt_duration(utc(rolled[0].at) - utc(t.began))} after the start [{rolled[0].ref}]."
        )
    if t.duration is not None and t.duration <= timedelta(hours=1):
        out.append(f"Service was restored within {fmt_duration(t.duration)}.")
    if ctx.links:
        out.append("Coordination channels were linked from the start (" + ", ".join(sorted(ctx.links)) + ").")
    out += [_q(r, day) for r in _talk(ctx) if _WELL.search(r.text)][:3]
    return out


def went_badly(ctx: IncidentContext, t: Timing) -> list[str]:
    out: list[str] = []
    day = t.began or t.declared
    if t.detection is not None and t.detection > timedelta(minutes=10):
        out.append(f"It took {fmt_duration(t.detection)} from the first alert to declaring the incident.")
    if t.to_ack is not None and t.to_ack > timedelta(minutes=15):
        out.append(f"Acknowledgement took {fmt_duration(t.to_ack)}.")
    if t.duration is not None and t.duration > timedelta(hours=2):
        out.append(f"Resolution took {fmt_duration(t.duration)}.")
    if not any("command" in r.lower() for r in ctx.roles):
        out.append("No incident commander was assigned.")
    if len(ctx.alerts) > 10:
        out.append(f"{len(ctx.alerts)} alerts fired: the signal was buried in noise.")
    dead_ends = [r for r in _talk(ctx) if RULED_OUT.search(r.text)]
    out += [f"Time went into a dead end: {_q(r, day, 160)}" for r in dead_ends[:2]]
    out += [_q(r, day) for r in _talk(ctx) if _BADLY.search(r.text) and r not in dead_ends][:3]
    return out


def follow_ups(ctx: IncidentContext, causes: list[Cause], t: Timing) -> list[FollowUp]:
    out: list[FollowUp] = []

    def add(title: str, description: str, kind: str, evidence: list[str]) -> None:
        if all(f.title.lower() != title.lower() for f in out):
            out.append(FollowUp(title=title, description=description, kind=kind, evidence=evidence))

    for n, cause in enumerate(causes[:3]):
        refs = [e.ref for e in cause.evidence[:3]]
        if n > 0 and cause.score < 0.5:
            continue
        keys = (cause.key, *cause.also)
        for key in keys:
            if key.startswith("signal:") and key[7:] in BY_KEY:
                signal = BY_KEY[key[7:]]
                where = f" on {ctx.service}"
                services = sorted(
                    {
                        s
                        for e in cause.evidence
                        if e.ref.startswith("alert:")
                        for a in ctx.alerts
                        if a.ref == e.ref and (s := a.service or a.labels.get("service"))
                    }
                )
                if services:
                    where = f" on {', '.join(services)}"
                if n == 0:
                    add(signal.prevent[0].format(where=where), signal.prevent[1], "prevent", refs)
                add(signal.detect[0].format(where=where), signal.detect[1], "detect", refs)
            elif key.startswith("change:") and n == 0:
                change_id = key[7:]
                add(
                    f"Guard rollouts like {change_id} on {ctx.service}",
                    "Roll changes out by canary with automatic rollback on error-rate and latency SLOs, and add a "
                    f"test that would have caught what {change_id} broke.",
                    "prevent",
                    refs,
                )
                for sig_key in [c.key for c in causes if c.key.startswith("signal:")][:1]:
                    linked = BY_KEY.get(sig_key[7:])
                    if linked is not None:
                        add(
                            linked.prevent[0].format(where=f" on {ctx.service}"),
                            linked.prevent[1],
                            "prevent",
                            refs,
                        )
            elif key.startswith("dependency:") and n == 0:
                dep = key[11:]
                add(
                    f"Degrade gracefully when {dep} fails",
                    f"Timeouts, a circuit breaker and a fallback in "
                    f"{ctx.service} for {dep}; decide what users see while it is down.",
                    "mitigate",
                    refs,
                )
    if t.detection is not None and t.detection > timedelta(minutes=10):
        add(
            f"Alert earlier on {ctx.service}",
            f"The incident was declared {fmt_duration(t.detection)} after the "
            "first alert: page on the symptom users feel (error rate, latency SLO burn) and auto-declare.",
            "detect",
            [],
        )
    no_runbook = list(
        dict.fromkeys(a.name for a in ctx.alerts if not any("runbook" in k.lower() for k in a.annotations))
    )
    if no_runbook:
        add(
            "Write runbooks for the alerts that fired",
            "Add runbook links to: " + ", ".join(no_runbook[:6]) + ".",
            "process",
            [],
        )
    for r in _talk(ctx):
        if _FOLLOW.search(r.text) and len(out) < 10:
            add(one_line(r.text, 90), f"Raised during the incident: {_q(r, None, 300)}", "process", [r.ref])
    return out[:10]


def draft(ctx: IncidentContext, causes: list[Cause]) -> tuple[str, dict[str, str], list[FollowUp]]:
    """The deterministic postmortem: title, sections, follow-ups."""
    t = timing(ctx)
    title = f"Postmortem: {ctx.ref} — {one_line(ctx.title, 120)}"
    summary_parts = [f"{ctx.ref} ({ctx.priority or 'no priority'}) affected {ctx.service}"]
    if t.began:
        summary_parts[0] += f" from {fmt_time(t.began)}"
        if t.resolved:
            summary_parts[0] += (
                f" to {fmt_time(t.resolved, day_of=t.began)} ({fmt_duration(utc(t.resolved) - utc(t.began))})"
            )
    summary_parts[0] += f": {one_line(ctx.title, 160)}."
    if causes:
        summary_parts.append(f"Most probable cause: {causes[0].title} (confidence {causes[0].score:.2f}).")
    talk = [r for r in _talk(ctx) if not RULED_OUT.search(r.text)]
    notes = [r for r in talk if r.subkind == "note" and ACTION_WORDS.search(r.text)]
    fix = [r for r in talk if _RESOLVING.search(r.text)]
    if notes and (not fix or notes[-1] is not fix[-1]):
        summary_parts.append(f"Mitigation: {_q(notes[-1], t.began)}.")
    if fix:
        summary_parts.append(f"Resolution: {_q(fix[-1], t.began)}.")
    elif ctx.status != "resolved":
        summary_parts.append("The incident is still open.")
    factors = contributing(ctx, causes, t)
    actions = follow_ups(ctx, causes, t)
    sections = {
        "Summary": " ".join(summary_parts),
        "Impact and duration": impact_section(ctx, t),
        "Timeline": timeline_section(ctx),
        "Root cause analysis": rca_section(causes, records=build_records(ctx, facts=False)),
        "Contributing factors": _bullets(factors, "None identified beyond the root cause."),
        "What went well": _bullets(went_well(ctx, t), "Nothing recorded; add what helped during the review."),
        "What went badly": _bullets(went_badly(ctx, t), "Nothing recorded; add what hurt during the review."),
        "Follow-up actions": render_follow_ups(actions),
    }
    return title, sections, actions


def render_follow_ups(actions: list[FollowUp]) -> str:
    if not actions:
        return "None recommended yet."
    lines = []
    for n, a in enumerate(actions, 1):
        refs = f" (evidence {', '.join(a.evidence)})" if a.evidence else ""
        lines.append(f"{n}. **{a.title}** [{a.kind}] — {a.description}{refs}")
    return "\n".join(lines)


# -- the model path -------------------------------------------------------------------------------------
class ModelFollowUp(BaseModel):
    title: str
    description: str
    #: prevent, detect, mitigate or process.
    kind: str
    evidence: list[str]


class ModelPostmortem(BaseModel):
    summary: str
    impact: str
    root_cause: str
    contributing_factors: list[str]
    went_well: list[str]
    went_badly: list[str]
    follow_ups: list[ModelFollowUp]


TASK = (
    "Draft the blameless postmortem's narrative. summary: what happened, how it was fixed, in three to five "
    "sentences. impact: who and what was affected and how badly. root_cause: the root cause and how it led to the "
    "symptoms, citing refs. contributing_factors, went_well, went_badly: short items. follow_ups: concrete actions "
    "that prevent a repeat or detect it sooner (title under 90 characters; kind prevent, detect, mitigate or "
    "process; evidence refs). warroom adds the timeline and the exact times itself."
)


def prompt(ctx: IncidentContext, causes: list[Cause], nonce: str, budget_tokens: int) -> tuple[str, str]:
    t = timing(ctx)
    facts = [
        f"Trouble began {fmt_time(t.began)}." if t.began else "",
        f"Duration {fmt_duration(t.duration)}." if t.duration is not None else "Still open.",
    ]
    ranked = "\n".join(
        f"- {c.key}: {c.title} (score {c.score:.2f}; evidence {', '.join(e.ref for e in c.evidence[:4])})"
        for c in causes[:5]
    )
    blocks, _ = data_blocks(build_records(ctx, facts=False), nonce, budget_tokens, per_record=500)
    user = "\n\n".join(
        [
            incident_header(ctx, nonce),
            " ".join(f for f in facts if f),
            "Probable causes computed by warroom (titles quote untrusted text):\n" + (ranked or "(none)"),
            "Records, oldest first:\n" + blocks,
        ]
    )
    return system(TASK, nonce), user
