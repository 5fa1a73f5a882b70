"""The RCA's candidates and the passes that re-rank them once every candidate is built (:func:`warroom.ai.rca.rank_causes`).

A candidate is one possible cause — a change, a signal, a dependency or a provider — with its score, its reasons
and the records that support it. The passes run in order, each on the whole list: related incidents and a metric's
inflection point are cited; a provider takes in the dependency named after it and the generic third-party signal;
candidates resting on the same evidence merge; what the latest discussion is about gains a little; what a change
explains ranks below it; a confirmed change ranks above the dependencies and signals it explains; "no change of
ours" weakens changes nobody tied to the trouble; what responders ruled out ranks below every cause still standing;
and a signal that only says what fails ranks below the likeliest concrete cause.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .context import AlertFact, EventFact, IncidentContext
from .providers import STATUS_PAGE, canonical
from .signals import BY_KEY
from .statements import GENERIC, QUESTION, clauses
from .text import fmt_time, minutes_between, one_line, tokens, utc


@dataclass
class Candidate:
    key: str
    title: str
    score: float
    reasons: list[str] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    also: list[str] = field(default_factory=list)
    #: For a change: its service, the signals it touches, how well its timing fits (0..1), and responders' word on
    #: it (-1 ruled out, +1 confirmed, 0 neither).
    service: str | None = None
    touches: tuple[str, ...] = ()
    fits: float = 0.0
    word: int = 0
    #: Responders tied the trouble to it: confirmed it, rolled it back, said "since …" (their lift > 0).
    tied: bool = False
    #: The timeline entries that speak of it (not only ask).
    talked: set[str] = field(default_factory=set)
    #: For a provider: the words of the statements that report it failing ("Cloud Spanner: elevated latency").
    reported: frozenset[str] = frozenset()

    def add_evidence(self, *refs: str) -> None:
        for ref in refs:
            if ref not in self.evidence:
                self.evidence.append(ref)


def alert_service(a: AlertFact) -> str | None:
    return a.service or a.labels.get("service") or None


def named_in(name: str, text: str) -> bool:
    return re.search(rf"(?i)(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def cite_related_incidents(ctx: IncidentContext, candidates: list[Candidate]) -> None:
    """An open incident on a service the incident's service depends on is evidence that the dependency is failing:
    it is cited by (and lifts a little) the dependency's cause, or makes one when none of its alerts is at hand."""
    for other in ctx.related_incidents:
        if other.relation != "dependency":
            continue
        reason = f"{other.incident} on {other.service} is open since {fmt_time(other.since, day_of=ctx.created_at)}"
        cand = next((c for c in candidates if c.key == f"dependency:{other.service}"), None)
        if cand is None:
            cand = Candidate(
                key=f"dependency:{other.service}",
                title=f"Dependency {other.service} failing",
                score=0.4,
                reasons=[f"{ctx.service} depends on {other.service}"],
            )
            candidates.append(cand)
        else:
            cand.score += 0.05
        if reason not in cand.reasons:
            cand.reasons.append(reason)
        cand.add_evidence(other.ref)


def absorb_into_providers(candidates: list[Candidate]) -> None:
    """A provider's outage is also what the generic "third-party outage" signal and the dependency of the same name
    say: one cause, the provider's, with their keys in ``also`` and their evidence added."""
    providers = [c for c in candidates if c.key.startswith("provider:")]
    if not providers:
        return
    lead = max(providers, key=lambda c: c.score)
    for p in providers:
        name = p.key.removeprefix("provider:")
        # The dependency of that name, or named after it ("stripe-api", "twilio_sms"), or after the product its outage
        # report names ("alerts-spanner" when GCP reports "Cloud Spanner: elevated latency").
        absorbed = [
            c for c in candidates
            if c.key.startswith("dependency:") and c.word >= 0 and (
                _named_after_provider(c.key.removeprefix("dependency:"), name)
                or _product_of(c.key.removeprefix("dependency:"), p.reported)
            )
        ]
        if p is lead:
            absorbed += [c for c in candidates if c.key == "signal:third-party"]
        for other in absorbed:
            # "azure-front-door", "stripe-api": the provider's own service, by the name this incident knows it by
            named = other.key.removeprefix("dependency:")
            p.also.extend([other.key, *other.also, *([f"provider:{named}"] if named != name else [])])
            p.add_evidence(*other.evidence)
            p.score = max(p.score, other.score) + 0.05
            candidates.remove(other)


def _product_of(dependency: str, reported: frozenset[str]) -> bool:
    """``dependency`` is named after a product the provider's outage report names ("alerts-spanner", "Cloud Spanner")."""
    words = {w for w in tokens(dependency.replace("-", " ").replace("_", " ")) if len(w) >= 4}
    return bool(words & (reported - GENERIC))


def _named_after_provider(dependency: str, provider: str) -> bool:
    """``dependency`` is the provider's name, or starts with it ("stripe-api", "twilio_sms" for stripe, twilio)."""
    lowered = dependency.lower()
    return lowered == provider or canonical(re.split(r"[-_]", lowered)[0]) == provider


def cite_inflections(ctx: IncidentContext, candidates: list[Candidate]) -> None:
    """A metric's inflection point (logs-and-metrics evidence) supports a cause that began when it did: a change
    made up to 30 minutes before it, a signal or dependency whose first alert fired within 10 minutes of it."""
    inflections = [f for f in ctx.evidence if f.kind == "metric" and not f.unavailable and f.at is not None]
    if not inflections:
        return
    changes = {f"change:{c.id}": c.at for c in ctx.changes}
    alerts = {a.ref: a.starts_at for a in ctx.alerts if a.starts_at is not None}
    for cand in candidates:
        began = changes.get(cand.key)
        window = (-2.0, 30.0) if began is not None else (-10.0, 10.0)
        if began is None:
            starts = [alerts[r] for r in cand.evidence if r in alerts]
            began = min(starts, key=utc) if starts else None
        if began is None:
            continue
        for f in inflections:
            assert f.at is not None
            gap = minutes_between(f.at, began)
            if window[0] <= gap <= window[1]:
                cand.add_evidence(f.ref)
                cand.reasons.append(f"{one_line(f.label, 100)} ({abs(gap):.0f} min {'after' if gap >= 0 else 'before'} "
                                    "it began)")
                cand.score += 0.05
                break


def merge_same_evidence(candidates: list[Candidate]) -> None:
    """Signals and dependencies resting on exactly the same alerts are one cause seen from two sides (a 429 from
    a provider is both "rate limited" and "third party"; a dependency whose only alerts show a disk filling up is
    that disk): keep the stronger, record the other's key in ``also``."""
    pool = sorted(
        (c for c in candidates if c.key.startswith(("signal:", "dependency:", "provider:"))), key=lambda c: -c.score
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
                keep.word = min(keep.word, other.word)  # one cause: ruled out if either side was
                keep.reasons.extend(r for r in other.reasons if r not in keep.reasons)
                keep.add_evidence(*other.evidence)
                keep.score = min(0.99, keep.score + 0.05)
                candidates.remove(other)


def symptoms_of_changes(candidates: list[Candidate], alerts: Mapping[str, AlertFact] | None = None) -> None:
    """What a change explains ranks below it. A signal the change touches (a pool exhausted after a pool-size cut,
    an expired certificate after a change to its renewal) and a dependency the change was made on or is tied to
    (a migration on the database that then locks up; a job that responders name with the database it loads) are
    its symptoms — when the change fits in time and responders have not ruled it out. Each takes the change's score
    less a little and says so; the change's evidence gains the symptom's alerts."""
    changes = sorted(
        (c for c in candidates if c.key.startswith("change:") and c.word >= 0 and c.fits >= 0.5 and c.score >= 0.35),
        key=lambda c: -c.score,
    )
    for change in changes:
        said_with = {r for r in change.evidence if r.startswith("event:")}
        for other in candidates:
            if not other.key.startswith(("signal:", "dependency:")):
                continue
            # Below it already: only the likeliest change says so (once); above or near it: it drops below.
            near = other.score >= change.score - 0.05
            if not near and (change is not changes[0] or any("likely a symptom" in r for r in other.reasons)):
                continue
            keys = {other.key, *other.also}
            signals = {k.removeprefix("signal:") for k in keys if k.startswith("signal:")}
            deps = {k.removeprefix("dependency:") for k in keys if k.startswith("dependency:")}
            touched = signals & set(change.touches)
            on_it = change.service is not None and change.service in deps
            # Its alerts name the changed service as what holds it ("blocking pid … application_name=payout-recon").
            blamed = change.service is not None and any(
                alert_service(alerts[r]) != change.service
                and named_in(change.service, " ".join([alerts[r].summary, *alerts[r].annotations.values()]))
                for r in other.evidence if alerts and r in alerts
            )
            # Responders named the change and the dependency in the same breath, and tied the trouble to the change
            # (confirmed it, undid it, "since …"): the dependency is where its effect showed.
            tied = change.tied and bool(deps) and bool(said_with & set(other.evidence))
            if not (touched or on_it or tied or blamed):
                continue
            if near:
                other.score = change.score - 0.05
            what = change.key.removeprefix("change:")
            other.reasons.append(f"more likely a symptom of change {what}, which {'touches it' if touched else 'is on it' if on_it else 'its alerts name' if blamed else 'responders tie to it'}")
            change.add_evidence(*[r for r in other.evidence if r.startswith("alert:")][:3])


def below_confirmed(candidates: list[Candidate]) -> None:
    """A change responders confirmed ("the reindex is still running, it's doing a full rebuild now", a rollback
    followed by recovery) ranks above every dependency and signal they have not confirmed themselves: those show
    where its effect landed."""
    confirmed = [c for c in candidates if c.key.startswith("change:") and c.word > 0 and c.score >= 0.35]
    if not confirmed:
        return
    lead = max(confirmed, key=lambda c: c.score)
    for c in candidates:
        if c.key.startswith(("signal:", "dependency:")) and c.word <= 0 and c.score >= lead.score:
            c.score = lead.score - 0.02
            c.reasons.append(f"where change {lead.key.removeprefix('change:')}, which responders confirmed, showed")


#: Responders saying no change of theirs is at fault: "we didn't change anything on the db", "nothing of ours
#: changed on the sending path", "no change on our side".
NO_CHANGE_OF_OURS = re.compile(
    r"(?i)\b(?:we|nobody|no ?one|no team)\s+(?:didn'?t|did not|haven'?t|have not|has not|hasn'?t)\s+"
    r"(?:change|touch|deploy|push|ship)\w*\s+(?:anything|a thing)|"
    # ("nothing changed" alone is what a revert did: no effect)
    r"\bnothing (?:of ours |on our (?:side|end) |our side )(?:has |was |got )?(?:changed|deployed|touched)\b|"
    r"\bnothing (?:has been|was|got|has) (?:changed|deployed|touched)\b|"
    r"\bno (?:changes?|deploys?) (?:on|from) our (?:side|end)\b|\bnot (?:on )?our (?:side|end)\b|"
    r"\bno (?:config|configuration|code|settings?) (?:has |was )?changed\b|"
    # "nothing we shipped today touches this", "so nothing we deployed", "nothing from yesterday's changes"
    r"\bnothing (?:we|I|anyone|anybody) (?:shipped|deployed|changed|pushed|released|rolled out|did)\b|"
    # "nobody touched nats", "no one deployed memcached"
    r"\b(?:nobody|no ?one|no team) (?:has |had )?(?:touched|changed|deployed|pushed|modified|upgraded)\b|"
    r"\bnothing from (?:(?:yesterday|today|last night|this morning|the weekend)'?s|our|the|recent) "
    r"(?:\w+ )?(?:changes?|deploys?|releases?)\b|\bno change of ours\b|\bnot (?:a|any) change of ours\b"
)


#: A line that turns the investigation away from changes of ours: a provider's status page, "nothing we shipped".
AWAY_FROM_CHANGES = re.compile(f"{STATUS_PAGE.pattern}|{NO_CHANGE_OF_OURS.pattern.removeprefix('(?i)')}", re.I)


def no_change_of_ours(candidates: list[Candidate], events: list[EventFact]) -> None:
    """Responders who looked said no change of theirs is at fault (their word, not asked): each change they have
    not tied to the trouble loses some of its weight — a dependency or provider failing on its own fits better."""
    said_ = [
        e for e in events
        if any(NO_CHANGE_OF_OURS.search(c) and not QUESTION.search(c) for c in clauses(e.text))
    ]
    if not said_:
        return
    for c in candidates:
        if c.key.startswith("change:") and c.word <= 0 and not c.tied:
            c.score -= 0.1
            c.reasons.append("responders found no change of theirs at fault")


#: How many of the last statements in the discussion show where the investigation has got to.
FOCUS_EVENTS = 3


FOCUS_LIFT = 0.08


def latest_focus(candidates: list[Candidate], events: list[EventFact]) -> None:
    """Where the people working it have got to: a cause the last statements of the discussion speak of (not only
    ask about), and have not ruled out, gains a little — investigations converge, and the latest word is the
    best informed."""
    said_ = [e for e in events if e.kind in ("discussion", "note") and not QUESTION.search(e.text.strip()[-1:] or "")]
    last = {e.ref for e in said_[-FOCUS_EVENTS:]}
    for c in candidates:
        if c.word >= 0 and c.talked & last:
            c.score += FOCUS_LIFT
            c.reasons.append("what the latest discussion is about")


#: The most a cause that responders ruled out (their latest word) may score: below any cause still standing.
RULED_OUT_CAP = 0.3


def below_ruled_out(candidates: list[Candidate]) -> None:
    """A change or provider that responders ruled out — reverted with no effect, "not the flag", the provider's
    status page green and "it's us" — ranks below every cause they have not, however well its timing fits:
    people who looked know more than the clock."""
    for c in candidates:
        if c.word < 0:
            c.score = min(c.score, RULED_OUT_CAP)


#: A concrete cause (a change, a dependency, a provider) at least this likely puts every signal below it.
CONCRETE_FLOOR = 0.4


def signals_below_causes(candidates: list[Candidate]) -> None:
    """Most signals say what is failing (memory, a pool, the network), not why: such a signal ranks below the
    likeliest concrete cause — a change, a dependency or a provider — when one is at all likely, and leads only when
    none is. A signal that can be the cause itself (a traffic surge, a provider's rate limit), or that stands for a
    failing dependency or provider (merged with it, resting on the same alerts), is left as it is."""
    concrete = [c.score for c in candidates if not c.key.startswith("signal:") and c.word >= 0]
    best = max(concrete, default=0.0)
    if best < CONCRETE_FLOOR:
        return
    for c in candidates:
        if (c.key.startswith("signal:") and c.score >= best and not BY_KEY[c.key.removeprefix("signal:")].itself
                and not any(k.startswith(("dependency:", "provider:")) for k in c.also)):
            c.score = best - 0.01
            c.reasons.append("what is failing, not why: ranked below the likeliest cause")
