"""Root-cause suggestions: a deterministic ranking, and a model path that may explain and reorder it.

Deterministic ranking (:func:`rank_causes`) weighs four kinds of candidate:

- **changes** (deploys, config pushes, feature flags, DNS, infrastructure and database changes, ITSM RFCs):
  timing by the change's kind (:data:`DELAYS`: a flag or DNS change bites at once, a release within minutes to
  hours; a failure that builds up — a leak, a filling disk, a ceiling reached at the peak — keeps changes of the
  hours before suspect), service match (the affected service, a dependency, a service that alerted), text match
  against the alerts (the same failure signature, shared words, or the alerts naming the job, flag, host or
  version the change carries), and what responders said about it. Responders name changes the way people do —
  by id, by version ("since 4.18 went out"), by name ("the reindex job", "flag new-pricing"), by time ("the 19:14
  deploy"), or as "the previous build" — and their statements are read one by one with a small grammar
  (:func:`warroom.ai.signals.judge`): ruled out ("we reverted it, no change", "can't be it") sinks a change,
  confirmed ("the culprit", a rollback followed by recovery) lifts it, negated or asked statements count for
  nothing, and the latest word wins;
- **signals** (:mod:`warroom.ai.signals`: certificate expiry, connection-pool exhaustion, DNS, OOM, …) found in
  alerts and discussion: stronger when the first alert to fire shows it, when several or critical alerts do,
  and when responders confirm it;
- **dependencies** that alerted: stronger for a declared dependency, and when it alerted before the service did
  (a declared dependency's alerts in other incidents or in none count too, and its open incident is cited);
- **third-party providers** (``provider:<name>``): a well-known provider (:data:`warroom.ai.signals.PROVIDERS`)
  or a declared dependency called someone else's, named by an alert or responders together with outage or
  status-page language; it takes in the generic third-party signal and the dependency of the same name.

Change titles and details are untrusted: lines that try to instruct a model give no words to match, and a title
that does is never quoted in a cause (the change is still a candidate). The model path gets the same candidates
and the fenced records and returns causes; a cause whose evidence names a record that does not exist is dropped,
so every cause shown points at real evidence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise

from pydantic import BaseModel

from .context import AlertFact, ChangeFact, EventFact, IncidentContext
from .prompts import data_blocks, incident_header, system
from .records import Record, build_records
from .results import Cause, Citation
from .safety import looks_like_injection
from .signals import (
    BY_KEY,
    NO_EFFECT,
    OUTAGE,
    PRODUCTS,
    PROVIDERS,
    QUESTION,
    RECOVERED,
    ROLLBACK,
    SIGNALS,
    STATUS_PAGE,
    THIRD_PARTY,
    Signal,
    clauses,
    judge,
    said,
)
from .text import fmt_duration, fmt_time, one_line, overlap, spaced, tokens, utc

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


def time_proximity(
    change_at: datetime, started: datetime | None, *, slow: bool = False, kind: str = "deploy"
) -> float:
    """How much the timing alone suggests a change of ``kind`` caused trouble that began at ``started``: near 1.0
    just before, fading by the kind's :data:`DELAYS`; low after the start.

    ``slow``: the failure builds up over hours (a leak, a filling disk, a capacity ceiling): a change made hours
    before is as suspect as one made minutes before."""
    if started is None:
        return 0.3
    before = _minutes(started, change_at)
    if before < -15:
        return 0.08  # well after the trouble began: a response, not a cause
    if before < 0:
        return 0.6  # at the same time, within clock skew
    if slow:
        return 0.95 * math.exp(-max(0.0, before - 30) / SLOW.tail)
    d = DELAYS.get(kind, DELAYS["deploy"])
    return d.share * math.exp(-before / d.fast) + (1 - d.share) * math.exp(-before / d.tail)


# -- what responders call a change: versions, names, "the previous build" ------------------------------------
_VERSION = re.compile(r"(?<![\w.])(v)?(\d+(?:\.\d+){1,3})(?:[-+][0-9a-z][\w.]*)?(?![\w.]|\s*(?:%|ms\b|x\b))", re.I)
_TAGGED_VERSION = re.compile(r"(?i)\b(?:release|version|ver|build|image|tag|rel)\s*[#:]?\s*v?(\d+(?:\.\d+)*)\b")
_BUILD = re.compile(r"(?i)\b(?:build|run|pipeline|job)\s*#?\s*(\d{2,})\b|(?<![\w#])#(\d{3,})\b")
#: Between the words of a name as people write it: ``nightly-reindex``, ``nightly_reindex``, ``nightly reindex``.
_SEPARATOR = r"[\s_-]+"
_NAME = re.compile(r"(?<![\w.-])[a-z0-9]+(?:[-_][a-z0-9]+)+(?![\w-])", re.I)
#: Hyphenated words that name no artefact.
_COMMON_NAMES = frozenset(
    "follow-up roll-out rollout opt-in opt-out read-only read-write e-mail on-call set-up re-enable pre-prod "
    "non-prod hot-fix real-time long-running built-in third-party up-to-date end-to-end in-memory per-user "
    "per-request write-ahead time-out top-level well-known multi-az cross-az cross-region user-facing "
    "zero-downtime back-end front-end x-request-id".split()
)
#: "the previous build", "roll back to the last release", "since today's deploy": the latest release before the
#: trouble began; "this morning's release", "yesterday's deploy": the last release in that part of the day.
_RELEASE_REF = re.compile(
    r"(?i)\b(?:(?:previous|prior|last (?:good|known[- ]good)|older|earlier)\s+(?:good\s+)?"
    r"(?:build|release|version|image|tag|deploy(?:ment)?)|"
    r"(?P<when>this morning|last night|this afternoon|this evening|yesterday|today)(?:'?s)?\s+"
    r"(?:release|build|deploy(?:ment)?|rollout)|"
    r"(?:the|this|latest|newest|new|last)\s+(?:release|build|deploy(?:ment)?|rollout|version))\b|"
    # "reverted to 3.3.2", "rolling back to v41": undoing the latest release.
    r"\b(?:roll(?:ed|ing|s)?[ -]?back|revert(?:ed|ing|s)?|downgrad\w*|went back|going back|pinn?\w*)\s+"
    r"(?:[\w-]+\s+)?to\s+v?\d+(?:\.\d+)+\b"
)
#: Part of the day → (days back, from hour, to hour), by the day the trouble began (UTC).
_DAYPARTS = {
    "this morning": (0, 0, 12),
    "this afternoon": (0, 12, 18),
    "this evening": (0, 17, 24),
    "last night": (1, 18, 30),
    "yesterday": (1, 0, 24),
}


@lru_cache(maxsize=4096)
def _release_refs(clause: str) -> frozenset[str]:
    """What the release words of ``clause`` refer to: "latest", or a part of the day ("this morning")."""
    out: set[str] = set()
    for m in _RELEASE_REF.finditer(clause):
        when = (m.group("when") or "").lower()
        out.add(when if when in _DAYPARTS else "latest")
    return frozenset(out)


def _version_key(raw: str) -> tuple[str, ...]:
    """``v4.2.0`` → ("4", "2"): trailing zero parts dropped so that 4.2 and 4.2.0 are one version."""
    parts = raw.lower().lstrip("v").split(".")
    while len(parts) > 2 and parts[-1].strip("0") == "":
        parts.pop()
    return tuple(parts)


def _versions_of_change(text: str) -> set[tuple[str, ...]]:
    """The versions a change carries: v-prefixed or three-part numbers (``4.18.0``, ``v2.3``), or numbers after
    release/version/build (``release 41.2``). Bare two-part numbers (``2.5``, a percentage or a size) are not."""
    out = {_version_key(m.group(2)) for m in _VERSION.finditer(text) if m.group(1) or m.group(2).count(".") >= 2}
    out |= {_version_key(m.group(1)) for m in _TAGGED_VERSION.finditer(text) if "." in m.group(1)}
    return out


@lru_cache(maxsize=4096)
def _versions_said(text: str) -> frozenset[tuple[str, ...]]:
    return frozenset(_version_key(m.group(2)) for m in _VERSION.finditer(text))


def _version_match(said: tuple[str, ...], carried: tuple[str, ...]) -> bool:
    """``4.18`` said matches ``4.18.3`` carried (a responder shortens a version); ``4`` alone matches nothing."""
    return len(said) >= 2 and carried[: len(said)] == said


@lru_cache(maxsize=4096)
def _builds(text: str) -> frozenset[str]:
    return frozenset(m.group(1) or m.group(2) for m in _BUILD.finditer(text))


@dataclass(frozen=True)
class _Handles:
    """What a change can be called by: its id, versions, build numbers and the names it carries (jobs, flags,
    hosts, artefacts), and whether it is the release "the previous build" refers to."""

    id_pattern: re.Pattern[str]
    versions: frozenset[tuple[str, ...]]
    builds: frozenset[str]
    names: tuple[str, ...]
    #: The release phrases that mean this change: "latest" ("the previous build"), "this morning", "yesterday", ….
    releases: frozenset[str]
    #: Distinctive words of its names, which name it next to a kind noun ("the autocomplete flag", "reindex job").
    parts: tuple[str, ...] = ()
    #: When it was made (``HH:MM``, UTC) if no other change was made that minute.
    minute: str = ""
    #: Two-word names of the component it changed, from its title ("lifecycle rule", "thumbnail cache").
    phrases: tuple[str, ...] = ()

    def mentioned_in(self, clause: str) -> str | None:
        """How ``clause`` names the change ("its id", "version 4.18", "flag new-pricing", "the previous build"),
        or None."""
        if self.id_pattern.search(clause):
            return "its id"
        said = _versions_said(clause)
        for v in self.versions:
            if any(_version_match(s, v) for s in said):
                return f"version {'.'.join(v)}"
        if self.builds and self.builds & _builds(clause):
            return "its build number"
        lowered = clause.lower()
        for name in self.names:
            if _name_pattern(name).search(lowered):
                return name
        for part in self.parts:
            if (m := _part_pattern(part).search(lowered)) is not None:
                return m.group(0)
        for phrase in self.phrases:
            if (m := _phrase_pattern(phrase).search(lowered)) is not None:
                return f"“{m.group(0)}”"
        if self.minute and self.minute in _times_said(clause):
            return f"its time {self.minute}"
        if self.releases & _release_refs(clause):
            return "the latest release"
        return None

    def positions(self, clause: str) -> list[int]:
        """Where in ``clause`` the change is named."""
        found = [m.start() for m in self.id_pattern.finditer(clause)]
        found += [
            m.start() for m in _VERSION.finditer(clause)
            if any(_version_match(_version_key(m.group(2)), v) for v in self.versions)
        ]
        lowered = clause.lower()
        for name in self.names:
            found += [m.start() for m in _name_pattern(name).finditer(lowered)]
        if self.releases:
            found += [m.start() for m in _RELEASE_REF.finditer(clause) if self.releases & _release_refs(m.group(0))]
        for part in self.parts:
            found += [m.start() for m in _part_pattern(part).finditer(lowered)]
        if self.minute:
            found += [m.start() for m in _CLOCK.finditer(clause) if self.minute in _times_said(m.group(0))]
        for phrase in self.phrases:
            found += [m.start() for m in _phrase_pattern(phrase).finditer(lowered)]
        return sorted(found)


#: Nouns that, next to a word of a name, name the thing ("the autocomplete flag", "job reindex").
_KIND_NOUNS = r"(?:feature[- ])?flags?|toggles?|jobs?|cron(?:job)?s?|tasks?|workers?|scripts?|migrations?|switch"
#: A clause that names a time ("the 19:14 deploy", "the change at 10:02") speaks of the change made then.
_NOUN = r"(?:[\w-]+\s+)?(?:deploy(?:ment)?|release|change|push|rollout|flag|migration|rfc|upgrade|config)"
#: "the 19:14 deploy", "the checkout-web deploy at 19:14", "the change from 10:02" (not "rolled back at 10:41").
_CLOCK = re.compile(
    rf"(?i)\bthe\s+(?P<a>[01]?\d|2[0-3]):(?P<b>[0-5]\d)\s+{_NOUN}\b|"
    rf"\b{_NOUN}\s+(?:at|from|of)\s+(?P<c>[01]?\d|2[0-3]):(?P<d>[0-5]\d)(?![\d:])"
)


@lru_cache(maxsize=4096)
def _times_said(clause: str) -> frozenset[str]:
    """The change times ``clause`` names ("the 19:14 deploy" → 19:14)."""
    out = set()
    for m in _CLOCK.finditer(clause):
        hour, minute = (m.group("a"), m.group("b")) if m.group("a") else (m.group("c"), m.group("d"))
        out.add(f"{int(hour):02d}:{minute}")
    return frozenset(out)


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    first, second = phrase.split(" ")
    return re.compile(rf"(?<![\w-]){re.escape(first)}s?[\s_-]+{re.escape(second)}s?(?![\w-])")


def _title_phrases(change: ChangeFact, service_words: set[str]) -> set[str]:
    """Pairs of adjacent distinctive words in a change's title: how people name the component it changed."""
    words_ = re.findall(r"[A-Za-z][A-Za-z'-]*", _without_instructions(change.title).lower())
    return {
        f"{a} {b}"
        for a, b in pairwise(words_)
        if _distinctive(a, service_words, 4) and _distinctive(b, service_words, 4)
    }


@lru_cache(maxsize=1024)
def _part_pattern(part: str) -> re.Pattern[str]:
    return re.compile(
        rf"(?<![\w-]){re.escape(part)}\s+(?:{_KIND_NOUNS})\b|\b(?:{_KIND_NOUNS})\s+(?:the\s+)?{re.escape(part)}(?![\w-])"
    )


@lru_cache(maxsize=1024)
def _name_pattern(name: str) -> re.Pattern[str]:
    """``name`` (``nightly-reindex``) as itself, or — when its words are words — spelled with spaces or underscores
    (``the nightly reindex job``)."""
    parts = [p for p in re.split(r"[-_]", name) if p]
    if len(parts) < 2 or any(len(p) < 3 or p.isdigit() for p in parts):
        return re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])")
    return re.compile(rf"(?<![\w-]){_SEPARATOR.join(re.escape(p) for p in parts)}(?![\w-])")


def _change_names(change: ChangeFact, services: set[str]) -> list[str]:
    """Artefact, job, flag and host names in a change's title and the start of its details (``new-pricing-engine``,
    ``reindex_nightly``, ``db-3``): hyphenated or underscored identifiers that are not service names, versions or
    everyday hyphenated words."""
    text = _without_instructions(f"{change.title}\n{change.details[:400]}")
    found: list[str] = []
    for m in _NAME.finditer(text):
        name = m.group(0).lower().lstrip("0123456789_-")
        if not name or not any(ch.isalpha() for ch in name) or ("-" not in name and "_" not in name):
            continue
        if name in services or name == change.id.lower() or name in _COMMON_NAMES or name in found:
            continue
        if len(name) < 6 and not (len(name) >= 4 and any(ch.isdigit() for ch in name)):
            continue
        found.append(name)
    return found


def _handles(ctx: IncidentContext, started: datetime | None, services: set[str]) -> dict[str, _Handles]:
    """Every change's handles. A version, build or name two changes share names neither."""
    versions = {c.id: _versions_of_change(f"{c.title} {c.details[:400]}") for c in ctx.changes}
    builds = {c.id: _builds(f"{c.title} {c.details[:400]}") for c in ctx.changes}
    names = {c.id: _change_names(c, services) for c in ctx.changes}
    minutes = {c.id: utc(c.at).strftime("%H:%M") for c in ctx.changes}
    service_words = {w for name in services for w in re.split(r"[-_.\s]+", name)}
    phrases = {c.id: _title_phrases(c, service_words) for c in ctx.changes}
    parts = {
        cid: {p for n in found for p in re.split(r"[-_]", n) if _distinctive(p, service_words)}
        for cid, found in names.items()
    }

    def shared(values: Mapping[str, Collection[object]], cid: str, value: object) -> bool:
        return any(value in v for k, v in values.items() if k != cid)

    releases = _releases(ctx, started)
    out: dict[str, _Handles] = {}
    for c in ctx.changes:
        out[c.id] = _Handles(
            id_pattern=re.compile(rf"(?i)(?<![\w-]){re.escape(c.id)}(?![\w-])"),
            versions=frozenset(v for v in versions[c.id] if not shared(versions, c.id, v)),
            builds=frozenset(b for b in builds[c.id] if not shared(builds, c.id, b)),
            names=tuple(n for n in names[c.id] if not shared(names, c.id, n)),
            releases=frozenset(k for k, cid in releases.items() if cid == c.id),
            parts=tuple(sorted(p for p in parts[c.id] if not shared(parts, c.id, p))),
            minute=minutes[c.id] if list(minutes.values()).count(minutes[c.id]) == 1 else "",
            phrases=tuple(sorted(p for p in phrases[c.id] if not shared(phrases, c.id, p))),
        )
    return out


def _distinctive(word: str, service_words: set[str], least: int = 5) -> bool:
    """A word of a name that can stand for it: long, not a number, not a service's word, not a stop word or
    everyday incident vocabulary."""
    stems = set(tokens(word))
    return (
        len(word) >= least and word.isalpha() and word not in service_words and bool(stems)
        and not (stems & _GENERIC)
    )


def _releases(ctx: IncidentContext, started: datetime | None) -> dict[str, str]:
    """Release phrase → the change it means. "latest" ("the previous build", "the new release"): the last deploy
    before the trouble began; a part of the day ("this morning's release"): the last deploy in it — on the
    affected service if it had one, else on any service."""
    if started is None:
        return {}
    start = utc(started)
    before = [c for c in ctx.changes if c.kind == "deploy" and 0 <= _minutes(start, c.at) <= 2880]
    out: dict[str, str] = {}
    windows: dict[str, tuple[datetime, datetime]] = {"latest": (start - timedelta(days=1), start)}
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    for name, (back, h0, h1) in _DAYPARTS.items():
        lo = day - timedelta(days=back) + timedelta(hours=h0)
        windows[name] = (lo, min(start, day - timedelta(days=back) + timedelta(hours=h1)))
    for name, (lo, hi) in windows.items():
        inside = [c for c in before if lo <= utc(c.at) <= hi]
        pool = [c for c in inside if c.service == ctx.service] or inside
        if pool:
            out[name] = max(pool, key=lambda c: utc(c.at)).id
    return out


# -- what responders said about it ---------------------------------------------------------------------------
_NOT_BEFORE = re.compile(r"(?i)(?:\bnot|n't|\bnothing to do with|\bnot from)\s+(?:(?:the|that|this|from)\s+)?$")
_SINCE_BEFORE = re.compile(
    r"(?i)\b(?:since|after|ever since|right after|started with|began with|came with|introduced (?:in|by)|"
    r"because of|due to|from)\s+(?:(?:the|we|it|they)\s+)?(?:\S+\s+){0,2}$"
)


#: Saying what the cause is, right before naming the change ("it's the currency migration", "must be 4.18").
_IS_BEFORE = re.compile(
    r"(?i)\b(?:it'?s|it is|it was|that'?s|that is|this is|must be|has to be|definitely|clearly|culprit is|"
    r"cause is|caused by|root cause(?: is)?:?)\s+(?:(?:the|our|their)\s+)?"
    r"(?:(?!(?:when|before|after|not|why|what|how|where|since)\b)[\w.-]+\s+){0,2}$"
)


@dataclass
class _Verdict:
    """Responders' word on one candidate: the lift to its score, the events that said it, and what they said."""

    lift: float = 0.0
    refs: list[str] = field(default_factory=list)
    said: list[EventFact] = field(default_factory=list)
    how: str = ""


def _outcome(events: list[EventFact], after: EventFact, rest: list[str]) -> tuple[int, str | None]:
    """What followed a rollback: +1 the trouble went away, -1 it did not, 0 nothing said. Read in the rest of the
    same line, then in the next few lines within the hour."""
    for clause in rest:
        if said(NO_EFFECT, clause) or judge(clause) < 0:
            return -1, after.ref
        if said(RECOVERED, clause):
            return 1, after.ref
    later = [e for e in events if utc(e.at) > utc(after.at) and _minutes(e.at, after.at) <= 60][:4]
    for e in later:
        for clause in clauses(e.text):
            if said(NO_EFFECT, clause):
                return -1, e.ref
            if said(RECOVERED, clause):
                return 1, e.ref
    return 0, None


@dataclass(frozen=True)
class _Line:
    """One timeline entry read once: its statements, the changes each names (id → how), and its words."""

    event: EventFact
    parts: tuple[str, ...]
    named: tuple[dict[str, str], ...]
    words: frozenset[str]


def _read_talk(events: list[EventFact], handles: Mapping[str, _Handles]) -> list[_Line]:
    out = []
    for e in events:
        parts = tuple(clauses(e.text))
        named = tuple(
            {cid: how for cid, h in handles.items() if (how := h.mentioned_in(c)) is not None} for c in parts
        )
        out.append(_Line(e, parts, named, frozenset(tokens(e.text))))
    return out


def _change_verdict(
    change: ChangeFact, handles: _Handles, talk: list[_Line], events: list[EventFact], words: set[str]
) -> _Verdict:
    """Read what responders said of ``change``, statement by statement, the latest word winning (people are often
    wrong at first): ruled out ("we reverted it, no change", "not deploy-77", "that one can't be it") sinks it;
    confirmed ("deploy-77 is the culprit", a rollback followed by recovery) lifts it; a rollback without outcome or
    "since 4.18 went out" lifts it a little."""
    verdict = _Verdict()
    final = 0
    weak = 0.0
    for line in talk:
        e, parts = line.event, line.parts
        named: list[tuple[int, str]] = []
        how = ""
        for i, names in enumerate(line.named):
            if change.id in names:
                how = names[change.id]
            elif names:
                how = ""  # another change is named: what follows is about that one
            # What follows a statement naming the change is about it too ("Could it be 12.4.1? Only a log format
            # change though."), until another change is named.
            if how:
                named.append((i, how))
        if not named and len(words) >= 2 and overlap(words, line.words) >= 0.6:
            named = [(i, "its description") for i in range(len(parts))]
        if not named:
            continue
        verdict.said.append(e)
        if not verdict.how:
            verdict.how = named[0][1]
        for i, _ in named:
            clause = parts[i]
            said_here = judge(clause)
            # Where the change is named in this very statement ("not deploy-77", "since 4.18", "it's the flag").
            at = handles.positions(clause) if said_here == 0 and change.id in line.named[i] else []
            if said_here == 0 and _named_after(clause, at, _NOT_BEFORE):
                said_here = -1
            if said_here == 0 and not QUESTION.search(clause) and _named_after(clause, at, _IS_BEFORE):
                said_here = 1
            if said_here == 0 and said(ROLLBACK, clause):
                undo = ROLLBACK.search(clause)
                after = clause[undo.end() :] if undo is not None else ""
                outcome, ref = _outcome(events, e, [after, *parts[i + 1 :]])
                if outcome != 0:
                    said_here = outcome
                    if ref is not None and ref not in verdict.refs:
                        verdict.refs.append(ref)
                else:
                    weak += 0.1
            elif said_here == 0 and _named_after(clause, at, _SINCE_BEFORE):
                weak += 0.1
            if said_here != 0:
                final = said_here
                if e.ref not in verdict.refs:
                    verdict.refs.append(e.ref)
    if final < 0:
        verdict.lift = -0.5
    elif final > 0:
        verdict.lift = 0.3
    else:
        verdict.lift = min(weak, 0.15)
    return verdict


def _named_after(clause: str, positions: list[int], before: re.Pattern[str]) -> bool:
    """The change, named at ``positions`` in ``clause``, is named right after words matching ``before`` ("not
    deploy-77", "since 4.18")."""
    return any(before.search(clause[:at]) for at in positions)


def _judgement(texts: list[EventFact]) -> tuple[float, list[str]]:
    """Lift from responders' words about a signal or dependency, statement by statement: confirmation or rollback
    up, ruled out down (negated and asked statements count for nothing)."""
    lift = 0.0
    refs: list[str] = []
    for e in texts:
        verdicts = [judge(c) for c in clauses(e.text)]
        if any(v < 0 for v in verdicts):
            lift -= 0.3
            refs.append(e.ref)
        elif any(v > 0 for v in verdicts) or any(said(ROLLBACK, c) for c in clauses(e.text)):
            lift += 0.15
            refs.append(e.ref)
    return max(-0.45, min(0.3, lift)), refs


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
    handles: dict[str, _Handles]
    #: The timeline read once: statements and the changes they name.
    talk: list[_Line]


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
    alert_services = {s for a in alerts if (s := _alert_service(a))}
    # Service names occur in every alert about a service: they say nothing about what a change did.
    known = {ctx.service, *alert_services, *ctx.dependencies, *(c.service or "" for c in ctx.changes)} - {""}
    service_tokens = set(tokens(" ".join(known)))
    symptom_tokens = set(tokens(incident_text + " " + " ".join(_alert_text(a) for a in alerts)))
    origin = _alert_service(first_alert) if first_alert is not None else None
    handles = _handles(ctx, started, {k.lower() for k in known})
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
        handles=handles,
        talk=_read_talk(events, handles),
    )
    candidates: list[_Candidate] = []
    candidates.extend(
        _signal_candidates(ctx, alerts, first_alert, alert_signals, title_signals, events, event_signals)
    )
    candidates.extend(_dependency_candidates(ctx, alerts, events))
    changes = [_change_candidate(ctx, change, scene) for change in ctx.changes]
    candidates.extend(changes)
    candidates.extend(_provider_candidates(ctx, alerts, events, changes))
    _cite_related_incidents(ctx, candidates)
    _cite_inflections(ctx, candidates)
    _absorb_into_providers(candidates)
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
        said_ = [e for e in events if re.search(rf"(?i)(?<![\w-]){re.escape(service)}(?![\w-])", e.text)]
        score += 0.04 * min(len(said_), 3)
        lift, _ = _judgement(said_)
        cand = _Candidate(
            key=f"dependency:{service}",
            title=f"Dependency {service} failing",
            score=score + lift,
            reasons=reasons,
        )
        cand.add_evidence(*(a.ref for a in hits[:6]), *(e.ref for e in said_[:4]))
        out.append(cand)
    return out


def with_dependency_alerts(ctx: IncidentContext) -> IncidentContext:
    """``ctx`` with the alerts of the services its service depends on that fired around its start in other
    incidents or in none (``ctx.related_alerts``) among its own: for the ranking, a dependency that alerted first
    is where the trouble began, wherever its alerts were declared (the status summary counts them the same way).
    So are the alerts of another service whose change the incident's context holds (one the responders named or
    quoted: warroom.response.ai.context.changes_on), which tell whether that change hurt."""
    changed = {c.service for c in ctx.changes if c.service and c.service != ctx.service}
    moved = [a for a in ctx.related_alerts if _alert_service(a) in {*ctx.dependencies, *changed}]
    if not moved:
        return ctx
    return replace(ctx, alerts=[*ctx.alerts, *moved], related_alerts=[a for a in ctx.related_alerts if a not in moved])


def _cite_related_incidents(ctx: IncidentContext, candidates: list[_Candidate]) -> None:
    """An open incident on a service the incident's service depends on is evidence that the dependency is failing:
    it is cited by (and lifts a little) the dependency's cause, or makes one when none of its alerts is at hand."""
    for other in ctx.related_incidents:
        if other.relation != "dependency":
            continue
        reason = f"{other.incident} on {other.service} is open since {fmt_time(other.since, day_of=ctx.created_at)}"
        cand = next((c for c in candidates if c.key == f"dependency:{other.service}"), None)
        if cand is None:
            cand = _Candidate(
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


#: A change's kind says which failure it can cause although its title does not (a DNS change, a flag flip).
_KIND_AREAS = {
    "dns": ("dns",),
    "feature_flag": ("config",),
    "config": ("config",),
    "database": ("database", "connection-pool"),
    "infrastructure": ("network", "capacity"),
}


def _without_instructions(text: str) -> str:
    """``text`` less the lines that try to instruct a model: they are no description of what changed."""
    return "\n".join(line for line in text.splitlines() if not looks_like_injection(line))


def _change_candidate(ctx: IncidentContext, change: ChangeFact, scene: _Scene) -> _Candidate:
    reasons: list[str] = []
    text = _without_instructions(f"{change.title}\n{change.details}")
    handles = scene.handles[change.id]
    shared_signals = [
        s
        for s in SIGNALS
        if s.key in scene.seen_signals
        and (
            s.pattern.search(text)
            or (s.touches is not None and s.touches.search(text))
            or s.key in _KIND_AREAS.get(change.kind, ())
        )
    ]
    # Alerts that name what the change carries (its job, flag, host or version) are about it.
    named_by = [a for a in scene.alerts if handles.mentioned_in(_alert_text(a)) not in (None, "the latest release")]
    change_tokens = set(tokens(text))
    # Numbers (versions, percentages) match by accident; service names say nothing about what changed.
    distinct = {t for t in change_tokens - _GENERIC - scene.service_tokens if not t.isdigit()}
    verdict = _change_verdict(change, scene.handles[change.id], scene.talk, scene.events, distinct)
    # A failure that builds up over hours: a change that touches it, or that responders tie to it, stays suspect.
    slow_seen = [BY_KEY[k] for k in scene.seen_signals if BY_KEY[k].slow]
    slow = any(s.slow for s in shared_signals) or bool(slow_seen and verdict.lift > 0)
    started = scene.started
    when = time_proximity(change.at, started, slow=slow, kind=change.kind)
    if named_by and started is not None and _minutes(started, change.at) >= 0:
        # The alerts name what the change carries (a job, a host): it bites when that runs, not when it was made.
        when = max(when, 0.8 * math.exp(-_minutes(started, change.at) / 2880))
    if started is not None:
        if _minutes(started, change.at) >= 0:
            reasons.append(f"made {fmt_duration(utc(started) - utc(change.at))} before the trouble began")
        else:
            reasons.append(f"made {fmt_duration(utc(change.at) - utc(started))} after the trouble began")
    if slow and started is not None and _minutes(started, change.at) > 90:
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
    elif change.service is None:
        where = 0.35
    else:
        where = 0.05
    if shared_signals and where < 0.5:
        # What it did is what failed (a migration on a shared database made by another team's service).
        where = 0.5
    words = overlap(distinct, scene.symptom_tokens)
    if len(distinct & scene.symptom_tokens) < 2:
        words /= 2  # one shared word is as likely chance as a link
    match = 1.0 if shared_signals or named_by else min(1.0, 1.6 * words)
    if named_by:
        where = max(where, 0.8)
        reasons.append(f"the alerts name {handles.mentioned_in(_alert_text(named_by[0]))}")
    if shared_signals:
        area = shared_signals[0].title.format(where="").lower()
        reasons.append(f"it touches what the alerts show failing ({area})")
    elif words >= 0.3:
        reasons.append("its description shares words with the alerts")
    score = when * (0.6 * where + 0.4 * match)
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
    cand = _Candidate(key=f"change:{change.id}", title=_change_title(change), score=score, reasons=reasons)
    cand.add_evidence(change.ref, *verdict.refs, *(e.ref for e in verdict.said[:3]))
    related = [a for a in scene.alerts if any(s in scene.alert_signals[a.ref] for s in shared_signals)]
    related = named_by + [a for a in related if a not in named_by]
    if not related:
        related = [a for a in scene.alerts if _alert_service(a) == change.service]
    cand.add_evidence(*(a.ref for a in related[:3]))
    return cand


def _change_title(change: ChangeFact) -> str:
    """"Feature flag flag-9 on pricing-api: …", "DNS change RFC-3 …": the kind, the id, the service, the title —
    unless the title tries to instruct a model, which is then not quoted."""
    name = change.kind_name
    head = f"{name[:1].upper()}{name[1:]} {change.id}" + (f" on {change.service}" if change.service else "")
    if looks_like_injection(change.title):
        return f"{head} (its title is not quoted: it holds instructions)"
    return f"{head}: {one_line(change.title, 120)}"


# -- third-party providers -----------------------------------------------------------------------------------
def _provider_names(ctx: IncidentContext, alerts: list[AlertFact]) -> dict[str, bool]:
    """Names that may be a third-party provider → whether it is well known (:data:`PROVIDERS`). Besides those:
    the declared dependencies that are not services of ours (no alert is about them as a service, no change is
    made to them) and ``provider``/``vendor`` labels on alerts."""
    ours = {ctx.service, *(s for a in alerts if (s := _alert_service(a))), *(c.service or "" for c in ctx.changes)}
    names = dict.fromkeys(PROVIDERS, True)
    for dep in ctx.dependencies:
        if dep.lower() not in names and dep not in ours:
            names[dep.lower()] = False
    for a in alerts:
        for key in ("provider", "vendor", "upstream", "third_party"):
            value = a.labels.get(key, "").strip().lower()
            if value and value not in names:
                names[value] = True
    return names


def _names_provider(name: str, clause: str) -> bool:
    """``clause`` names ``name``: as a word, as a label of a host name (``api.sendgrid.com``), or by one of its
    products or regions (:data:`warroom.ai.signals.PRODUCTS`: "S3", "us-east-1" name AWS)."""
    if name in clause.lower() and _provider_pattern(name).search(clause) is not None:
        return True
    return name in _PRODUCT_OWNERS and any(owner == name and pattern.search(clause) for pattern, owner in PRODUCTS)


_PRODUCT_OWNERS = frozenset(owner for _, owner in PRODUCTS)


@lru_cache(maxsize=512)
def _provider_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?i)(?<![\w-]){re.escape(name)}(?![\w-])")


def _provider_clauses(name: str, known: bool, text: str) -> list[str]:
    """The statements of ``text`` that name ``name`` failing: with outage or status-page language, and — for a
    name not in the well-known list — with words saying it is someone else's (vendor, their status page)."""
    out = []
    for clause in clauses(text):
        if not _names_provider(name, clause) or clause.rstrip().endswith("?") or looks_like_injection(clause):
            continue  # an instruction, another name, or a question ("is Stripe down?") reports nothing
        if OUTAGE.search(clause) and (known or THIRD_PARTY.search(clause)):
            out.append(clause)
    return out


def _provider_candidates(
    ctx: IncidentContext, alerts: list[AlertFact], events: list[EventFact], changes: list[_Candidate]
) -> list[_Candidate]:
    """A third-party provider's outage as a cause of its own: when an alert or the discussion names a provider
    together with outage or status-page language. Strong when an alert says so (the first alert the more), when
    responders confirm it (their status page, their support); weaker when a change of ours is confirmed."""
    out: list[_Candidate] = []
    confirmed_change = any(c.score >= 0.6 and "responders confirmed it" in " ".join(c.reasons) for c in changes)
    first = alerts[0] if alerts else None
    texts = [*(_alert_text(a) for a in alerts), *(e.text for e in events)]
    for name, known in _provider_names(ctx, alerts).items():
        # A declared dependency once called someone else's (their status page, the vendor) is a provider everywhere.
        known = known or any(
            THIRD_PARTY.search(c) for t in texts for c in clauses(t) if _names_provider(name, c)
        )
        hit_alerts = [
            a for a in alerts
            if _provider_clauses(name, known, _alert_text(a))
            or any(a.labels.get(k, "").strip().lower() == name for k in ("provider", "vendor", "upstream"))
        ]
        hit_events = [e for e in events if _provider_clauses(name, known, e.text)]
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
        lift, judged = _provider_judgement(name, events)
        score += lift
        if lift < 0:
            reasons.append(f"responders ruled {name} out")
        elif lift > 0:
            reasons.append(f"responders confirmed it ({name} reports it or its recovery)")
        if confirmed_change:
            score -= 0.15
        else:
            reasons.append("no change of ours is confirmed")
        shown = _as_written(name, [*(_alert_text(a) for a in hit_alerts), *(e.text for e in hit_events)])
        cand = _Candidate(
            key=f"provider:{name}",
            title=f"Third-party provider {shown} failing (outage or degradation on their side)",
            score=score,
            reasons=reasons,
        )
        cand.add_evidence(*(a.ref for a in hit_alerts[:6]), *(e.ref for e in hit_events[:4]), *judged)
        out.append(cand)
    return out


def _provider_judgement(name: str, events: list[EventFact]) -> tuple[float, list[str]]:
    """Responders ruling the provider out ("Stripe's status page is green", "not Stripe") — the latest word wins."""
    final = 0
    refs: list[str] = []
    green = re.compile(r"(?i)\b(?:all )?(?:green|operational|no (?:incident|issues?|outage)s?|fine|healthy)\b")
    named = re.compile(rf"(?i)(?<![\w-]){re.escape(name)}(?![\w-])")
    for e in events:
        for clause in clauses(e.text):
            # Only what is said of the provider by name; a clause undoing a change of ours speaks of that change.
            if not named.search(clause) or said(ROLLBACK, clause):
                continue
            verdict = judge(clause)
            if verdict == 0 and green.search(clause) and not OUTAGE.search(green.sub("", clause)):
                verdict = -1
            if verdict == 0 and re.search(rf"(?i)\bnot\s+(?:\w+\s+)?{re.escape(name)}\b", clause):
                verdict = -1
            if verdict != 0:
                final = verdict
                refs.append(e.ref)
    return (-0.4 if final < 0 else 0.1 if final > 0 else 0.0), refs


def _as_written(name: str, texts: list[str]) -> str:
    """``name`` as the records write it (``Stripe``, ``AWS``)."""
    for text in texts:
        m = re.search(rf"(?i)(?<![\w.-]){re.escape(name)}(?![\w-])", text)
        if m:
            return m.group(0)
    return name


def _absorb_into_providers(candidates: list[_Candidate]) -> None:
    """A provider's outage is also what the generic "third-party outage" signal and the dependency of the same name
    say: one cause, the provider's, with their keys in ``also`` and their evidence added."""
    providers = [c for c in candidates if c.key.startswith("provider:")]
    if not providers:
        return
    lead = max(providers, key=lambda c: c.score)
    for p in providers:
        name = p.key.removeprefix("provider:")
        absorbed = [c for c in candidates if c.key == f"dependency:{name}"]
        if p is lead:
            absorbed += [c for c in candidates if c.key == "signal:third-party"]
        for other in absorbed:
            p.also.extend([other.key, *other.also])
            p.add_evidence(*other.evidence)
            p.score = max(p.score, other.score) + 0.05
            candidates.remove(other)


def _cite_inflections(ctx: IncidentContext, candidates: list[_Candidate]) -> None:
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
            gap = _minutes(f.at, began)
            if window[0] <= gap <= window[1]:
                cand.add_evidence(f.ref)
                cand.reasons.append(f"{one_line(f.label, 100)} ({abs(gap):.0f} min {'after' if gap >= 0 else 'before'} "
                                    "it began)")
                cand.score += 0.05
                break


def _merge_same_evidence(candidates: list[_Candidate]) -> None:
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
