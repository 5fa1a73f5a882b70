"""One view over an incident's alerts, timeline events and changes (plus a record of the incident's own facts),
and retrieval: rank records against a question with BM25 and pick what fits a token budget."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from .context import AlertFact, IncidentContext
from .text import Bm25, clip, estimate_tokens, fmt_time, one_line, tokens, utc


@dataclass(frozen=True, slots=True)
class Record:
    #: ``alert:<id>``, ``event:<id>``, ``change:<id>``, ``log:<source>.<n>``, ``metric:<source>.<n>`` or
    #: ``incident:<ref>`` (the incident's facts, kind ``incident``; a neighbouring service's open incident, kind
    #: ``related``).
    ref: str
    kind: str
    at: datetime | None
    #: One line naming the record (``alert HighErrorRate [critical] on checkout-api``).
    label: str
    text: str
    url: str | None = None
    service: str | None = None
    #: Event kind, change kind (deploy, feature_flag, dns, …) or alert severity.
    subkind: str = ""

    def body(self, limit: int = 1200) -> str:
        """The record as the model and the deterministic answers see it: when, what, then the text."""
        when = f"{fmt_time(self.at)} · " if self.at else ""
        return f"{when}{self.label}\n{clip(self.text, limit)}"

    def quote(self, limit: int = 300) -> str:
        when = f"{fmt_time(self.at)} " if self.at else ""
        return f"{when}{one_line(self.text, limit)}"


def incident_facts(ctx: IncidentContext) -> Record:
    lines = [
        f"Title: {ctx.title}",
        f"Status: {ctx.status}",
        f"Priority: {ctx.priority or 'none'}",
        f"Service: {ctx.service}",
        f"Assignee: {ctx.assignee or 'nobody'}",
    ]
    if ctx.created_at:
        lines.append(f"Declared: {fmt_time(ctx.created_at)}")
    if ctx.acknowledged_at:
        lines.append(f"Acknowledged: {fmt_time(ctx.acknowledged_at)}")
    if ctx.resolved_at:
        lines.append(f"Resolved: {fmt_time(ctx.resolved_at)}")
    if ctx.roles:
        lines.append("Roles: " + ", ".join(f"{role} {person}" for role, person in sorted(ctx.roles.items())))
    if ctx.dependencies:
        lines.append("Depends on: " + ", ".join(ctx.dependencies))
    if ctx.links:
        lines.append("Links: " + ", ".join(f"{name} {url}" for name, url in sorted(ctx.links.items())))
    if ctx.details:
        lines.append(f"Details: {ctx.details}")
    return Record(
        ref=f"incident:{ctx.ref}",
        kind="incident",
        at=ctx.created_at,
        label=f"incident {ctx.ref}",
        text="\n".join(lines),
        url=ctx.links.get("war_room") or ctx.links.get("war room"),
        service=ctx.service,
    )


def build_records(ctx: IncidentContext, *, facts: bool = True) -> list[Record]:
    """Every record of the incident, oldest first (the incident's facts first when ``facts``)."""
    out: list[Record] = []
    for a in ctx.alerts:  # a neighbour's alert counted among the incident's own (RCA) still says whose it is
        whose = f", in {a.related_incident}" if a.related_incident else ""
        out.append(_alert_record(a, f" on {a.service}" if a.service else "", f"{a.status}{whose}"))
    out.extend(related_records(ctx))
    for c in ctx.changes:
        what = c.kind_name
        where = f" on {c.service}" if c.service else ""
        text = c.title + (f"\n{c.details}" if c.details else "")
        out.append(
            Record(
                ref=c.ref,
                kind="change",
                at=c.at,
                label=f"{what} {c.id}{where}",
                text=text,
                url=c.url,
                service=c.service,
                subkind=c.kind,
            )
        )
    for e in ctx.evidence_events():
        who = f" by {e.actor}" if e.actor else ""
        out.append(
            Record(
                ref=e.ref,
                kind="event",
                at=e.at,
                label=f"{e.kind}{who}",
                text=e.text,
                url=e.url,
                subkind=e.kind,
            )
        )
    for f in ctx.evidence:
        out.append(
            Record(
                ref=f.ref,
                kind=f.kind,
                at=f.at,
                label=f.label,
                text=f.text,
                url=f.url,
                service=f.service,
                subkind="unavailable" if f.unavailable else f.source,
            )
        )
    out.sort(key=lambda r: (r.at is None, utc(r.at) if r.at else datetime.min))
    if facts:
        out.insert(0, incident_facts(ctx))
    return out


def _alert_record(a: AlertFact, where: str, status: str) -> Record:
    parts = [f"{a.name}: {a.summary}"]
    extra = {k: v for k, v in a.labels.items() if k not in ("alertname",)}
    if extra:
        parts.append("labels: " + ", ".join(f"{k}={v}" for k, v in sorted(extra.items())))
    parts.extend(f"{k}: {v}" for k, v in sorted(a.annotations.items()) if k != "summary")
    severity = f" [{a.severity}]" if a.severity else ""
    return Record(
        ref=a.ref,
        kind="alert",
        at=a.starts_at,
        label=f"alert {a.name}{severity}{where} ({status})",
        text="\n".join(parts),
        url=a.generator_url,
        service=a.service,
        subkind=a.severity or "",
    )


def related_records(ctx: IncidentContext) -> list[Record]:
    """The neighbouring services' alerts (kind ``alert``, labelled with whose they are) and open incidents (kind
    ``related``): evidence from around the incident, never the incident's own."""
    out: list[Record] = []
    for a in ctx.related_alerts:
        whose = f"in {a.related_incident}" if a.related_incident else "in no incident"
        side = "a dependency" if a.service in ctx.dependencies else "a dependent"
        where = f" on {a.service}, {side}" if a.service else ""
        out.append(_alert_record(a, where, f"{a.status}, {whose}"))
    for r in ctx.related_incidents:
        edge = f"{ctx.service} depends on {r.service}" if r.relation == "dependency" else (
            f"{r.service} depends on {ctx.service}"
        )
        lines = [
            f"Title: {r.title}",
            f"Status: {r.status}",
            f"Priority: {r.priority or 'none'}",
            f"Service: {r.service} ({edge})",
            f"Open since: {fmt_time(r.since)}",
        ]
        out.append(
            Record(
                ref=r.ref,
                kind="related",
                at=r.since,
                label=f"incident {r.incident} on {r.service} (open, a {r.relation})",
                text="\n".join(lines),
                url=r.url,
                service=r.service,
                subkind=r.relation,
            )
        )
    return out


_KIND_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)\balerts?\b|\bfir(ed|ing)\b|\bpayload\b|\blabels?\b"), "alert"),
    (re.compile(r"(?i)\bchang(e|es|ed)\b|\bdeploy\w*|\brfc\b|\breleas\w*|\brollout\b|\bmerged?\b"), "change"),
    (re.compile(r"(?i)\bnotes?\b|\bsaid\b|\bdiscuss\w*|\bmention\w*|\bchat\b"), "event"),
    (re.compile(r"(?i)\blogs?\b|\blog lines?\b|\blogged\b|\bexceptions?\b|\bstack ?traces?\b"), "log"),
    (re.compile(r"(?i)\bmetrics?\b|\bgraphs?\b|\bdashboards?\b|\bprometheus\b|\binflection\b|\bspiked?\b"),
     "metric"),
    (
        re.compile(
            r"(?i)\bwho\b|\bcommander\b|\bassign\w*|\broles?\b|\bstatus\b|\bpriority\b|\bowner\b|"
            r"\bwhen\b.*\b(declared|start\w*|acknowledg\w*|resolv\w*)\b|\blinks?\b|\bbridge\b"
        ),
        "incident",
    ),
)


_KIND_WORDS = frozenset(
    tokens("alert alerts fired firing change changes changed note notes event events record")
)


def rank(records: Sequence[Record], question: str) -> list[tuple[Record, float]]:
    """Records by relevance to ``question``, best first; only records with a positive score.

    BM25 over stems and synonym markers, plus a lift for the record kinds the question names ("which alert",
    "what changed", "who is the commander"), scaled to the best text score so it never outweighs text.
    """
    if not records:
        return []
    # Words that name a kind of record are handled by the lift below; as text they would match every label.
    query = [t for t in tokens(question) if t not in _KIND_WORDS]
    index = Bm25([tokens(f"{r.label} {r.text} {r.service or ''}") for r in records])
    scores = index.scores(query)
    top = max(scores) if scores else 0.0
    # The kind named first is what is asked for ("what changed before the first alert?" asks for changes);
    # kinds named later get half the lift.
    found = [(m.start(), kind) for pattern, kind in _KIND_HINTS if (m := pattern.search(question))]
    found.sort()
    hinted = {kind: (1.0 if n == 0 else 0.5) for n, (_, kind) in enumerate(found)}
    lift = max(top, 1.0) * 0.6
    ranked: list[tuple[Record, float]] = []
    for record, score in zip(records, scores, strict=True):
        if record.kind in hinted:
            score += lift * hinted[record.kind]
        if score > 0:
            ranked.append((record, score))
    ranked.sort(key=lambda pair: (-pair[1], -(utc(pair[0].at).timestamp() if pair[0].at else 0.0)))
    return ranked


def fit_budget(records: Sequence[Record], budget_tokens: int, *, per_record: int = 1200) -> list[Record]:
    """The leading records whose bodies fit ``budget_tokens`` in all (a record too big is skipped, not cut)."""
    chosen: list[Record] = []
    spent = 0
    for record in records:
        cost = estimate_tokens(record.body(per_record)) + 12
        if spent + cost > budget_tokens:
            continue
        chosen.append(record)
        spent += cost
    return chosen
