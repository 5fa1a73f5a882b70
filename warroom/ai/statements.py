"""Reading responders' statements: what a chat line says of a change, a signal or a dependency.

A chat line is split into statements (:func:`clauses`); each is read with a small grammar (:func:`judge`): ruled
out ("we reverted it, no change", "can't be it"), confirmed ("the culprit", a rollback followed by recovery), or
neither — a negated ("not confirmed") or asked ("is it the flag?") statement counts for nothing.

Responders name changes the way people do — by id, by version ("since 4.18 went out"), by build number, by name
("the reindex job", "flag new-pricing"), by time ("the 19:14 deploy"), or as "the previous build": a change's
:class:`Handles` say which statements speak of it, and :func:`change_verdict` reads them in order, the latest
word winning.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from itertools import pairwise

from .context import ChangeFact, EventFact, IncidentContext
from .safety import looks_like_injection
from .text import minutes_between, overlap, tokens, utc

# -- the grammar of one statement ---------------------------------------------------------------------------
#: Nouns for a change by its kind ("the flag", "the deploy", "the migration").
_CHANGE_NOUNS = (
    r"(?:deploy(?:ment)?s?|releases?|builds?|change|flag|toggle|migration|config(?:uration)?|rule|job|cron|"
    r"upgrade|patch|rollout|push|version|image|rfc)"
)
#: "not the flag", "not the deploy either", "… not that": a change set aside by its kind, or as "that" (read per
#: change: "it's the flag, not the deploy" sets aside the deploy only).
_NOT_KIND = re.compile(
    rf"(?i)\bnot (?:the|this|that|our) (?:[\w.-]+ )?(?P<noun>{_CHANGE_NOUNS})\b|"
    r"\bnot (?:that|this)(?=\s*(?:[,.;:!)]|$|either|then))"
)
#: A kind noun → the change kinds it names.
_NOUN_KINDS = {
    "flag": ("feature_flag",), "toggle": ("feature_flag",), "config": ("config", "feature_flag"),
    "configuration": ("config", "feature_flag"), "rule": ("config",), "migration": ("database",),
    "upgrade": ("infrastructure", "database", "deploy"), "patch": ("infrastructure", "deploy"),
    "job": ("config", "other", "deploy"), "cron": ("config", "other"), "rfc": ("rfc",),
}
#: Words in a chat line that say a change or cause was fixed by undoing it, or was ruled out.
ROLLBACK = re.compile(
    r"(?i)\b(?:roll(?:ed|ing|s)?(?: it| them| this| that)?[ -]?back|revert\w*|undo(?:ne|ing)?|backed (?:it )?out|"
    r"cancel(?:led|ling|ed|ing|s)?\b|paus(?:e|ed|ing)\b|"
    r"disabl(?:e|ed|ing)\b|turn\w*\s+(?:[\w.-]+\s+){0,3}?off\b|switch\w*\s+(?:[\w.-]+\s+){0,3}?off\b|"
    r"flipp?\w*\s+(?:[\w.-]+\s+){0,3}?(?:back|off)\b|(?:flag|toggle|switch) (?:is )?off\b|kill[- ]switch|"
    # "rolling inventory-hold back to 2.32.4", "turning it back to 0", "killing the job".
    r"roll(?:ed|ing|s)?\s+(?:[\w.-]+\s+){1,2}?back\b|(?:(?:put|set|turn\w*|dial\w*|ramp\w*|it|flag)\s+)"
    r"(?:[\w.-]+\s+){0,2}?back to ~?\d|down to 0\b%?|\bput (?:[\w.-]+\s+){0,3}?back\b|"
    r"(?:kill|stop)(?:ped|ed|ping|ing|s)?\s+(?:the |that |this )?(?:[\w.-]+\s+){0,2}?(?:job|task|run|process|query|"
    r"queries|worker|script|consumer|rollout|migration|backfill)\b)"
)
RULED_OUT = re.compile(
    r"(?i)\b(?:ruled? (?:it |that |them |this )?out|not (?:the )?(?:cause|culprit|related|it|problem|issue)\b|"
    r"unrelated|red herring|doubt (?:it|that)|no (?:effect|change|improvement|difference)|nothing changed|"
    r"(?:made|makes|making) no difference|didn'?t (?:help|change anything|fix (?:it|anything))|"
    r"(?:errors?|5xx|failures?|latency|rate|lag|backlog|timeouts?|p9\d|numbers|graphs?|queue|throttl\w*)\s+"
    r"(?:\w+\s+)?unchanged|"
    # "1.14 has been running since yesterday afternoon fine": it worked, long after it went out
    r"(?:has been|had been|been|was|is) (?:running|live|out|deployed|up|in prod\w*)\b[^.;]{0,40}?\b(?:fine|ok|okay|"
    r"cleanly|without (?:issues|problems|errors)|no (?:issues|problems|errors))\b|"
    r"did not (?:help|change anything|fix)|does ?n[o']t (?:look|seem) related|"
    r"(?:can'?t|cannot|couldn'?t|could not) be (?:it|that|this|the (?:cause|culprit|problem))|"
    r"(?:is|was)n'?t (?:it|that|the (?:cause|culprit|problem))|(?:is|was) not (?:it|that|the (?:cause|culprit))|"
    # "verification emails use the old template and fail the same": what it did not touch fails as well
    r"\b(?:fail|fails|failing|break|breaks|broken|erroring|errors?|time out|times out|timing out)\s+(?:exactly )?"
    r"the same\b|"
    r"(?:only|just) (?:touched|touches|changed|changes|affected|affects|applies|applied|added|adds|removed|removes|"
    r"renamed|renames|bumped|bumps) (?:to )?(?:the |a |an )?\S+|"
    # "just a copy tweak", "is just template copy" (not "the only config change today was …")
    # (not "only began with the change at 07:15": that traces the trouble to it)
    r"(?<!the )(?:only|just) (?:an? (?:[\w-]+ ){0,3}|(?!(?:began|begun|started|starts?|happen\w*|since|after|when|"
    r"with|from|once)\b)(?:[\w-]+ ){1,3})(?:change|tweak|bump|update|copy|docs?|typo)\b|"
    # "7.2.1 is just the receipt footer": cosmetic
    r"\b(?:is|was|are|were) (?:just|only) (?:the |a |an |some )?(?:[\w-]+ ){0,3}(?:footer|header|copy|text|label|"
    r"templates?|assets?|static|ui|images?|"
    r"logging|log line|docs?|typo|styling|css|cosmetic\w*|readme|comments?|tests?|icons?|translations?|strings?|"
    r"banner|colou?rs?|wording|screenshot|fonts?)s?\b|"
    # "7.9.1 is a banner copy fix", "… , ignore": set aside
    r"\b(?:is|was) (?:just |only )?(?:an? |the )?(?:[\w-]+ ){0,2}(?:copy|typo|cosmetic|text|wording|label|css|styling|"
    r"docs?|readme|translation|banner|footer|logging|log level)s? (?:fix|change|tweak|update|bump)\b|"
    r"(?:^|,\s*|\.\s*)ignor(?:e|ing)(?: it| that| this)?\s*[.!]?\s*$|"
    # "4.9.0 would do the same", "keep 4.9.0", "ocr-worker is downstream of upload"
    r"\bwould (?:do|have done|behave|fail) (?:exactly )?the same\b|"
    r"\b(?:is|are|sits?|runs?) downstream\b|"
    # "different entity", "a different queue": what it changed is not what fails
    r"\b(?:a |an? )?(?:different|separate|another) (?:entity|service|cluster|queue|topic|namespace|region|path|host|"
    r"database|db|table|component|system|bucket|subscription|pool|account)\b(?! (?:is|was) (?:failing|down|the))|"
    r"(?:does ?n[o']t|did ?n[o']t|never) (?:even )?touch\w*|not (?:even )?(?:in|on) the (?:[\w-]+ )?path|"
    # "that one doesn't affect delivery latency", "rounding wouldn't duplicate anything", "has nothing to do with it"
    r"(?:(?:does|did|do|would|could|can|will)(?:n'?t| not)|can'?t|cannot|won'?t) (?:even |possibly |really )?"
    r"(?:affect|explain|cause|impact|duplicate|produce|break)\w*\b|"
    # "22.4 code doesn't use the index" (not "our deserializer can't read it": that is the symptom)
    r"(?:does|did|do)(?:n'?t| not) (?:even )?(?:use|call|read|need|depend on|hit|involve|go through|run on)\w*\b|"
    r"(?:has|had|have) nothing to do with\b|not (?:\w+ )?relevant\b|irrelevant\b|"
    r"(?:is|was|are|were) (?:[\w-]+ ){1,3}only(?=\s*(?:[,.;:!)]|$|though|anyway|so|as far|and\b))|"
    r"exonerat\w*|in the clear|"
    # a reply to "… did that eat memory?": "replication buffer is 60MB on a 5GB instance, no."
    r"(?:^|,\s*)no\s*[.!]?\s*$|"
    # "Not rolling back 12.4.0", "no need to roll it back": they judged it not the cause
    r"\bnot (?:going to |gonna )?(?:roll(?:ing)?(?: it| that| this)? ?back|revert(?:ing)?)\b|"
    r"no (?:need|reason) to (?:roll(?: it| that| this)? ?back|revert)\b|"
    # It never took effect: "v88 never got activated on prod", "the flag was never enabled".
    r"never (?:got |was |were |been )?(?:activated|applied|enabled|deployed|rolled out|went out|shipped|merged|live)\b|(?:is|are|was|were)n'?t even (?:on|in|near|touching)\b|"
    r"(?:has|have|had|gets?|got|sees?|saw|takes?|took) (?:zero|no) (?:traffic|load|requests|writes|reads|users)\b|"
    # "ran fine all evening", "200 OK for 15 min after it": it worked after it went out, so it is not what broke.
    r"(?:fine|ok|okay|healthy|clean|green|normal|200 ok)\s+(?:for\s+(?:\d+\s*(?:h|hrs?|hours?|m|mins?|minutes?|d|days?)?|"
    r"an?|the|several|a few|many|hours|days)\b|"
    r"all (?:of )?(?:yesterday |last |the |this )?(?:evening|day|night|morning|afternoon|week|weekend)\b|"
    # "11.3.0 ran fine yesterday's afternoon peak", "held up fine through the evening rush"
    r"(?:through|during|over|at|on)\s+(?:the |yesterday'?s? |last )?(?:[\w-]+\s+){0,2}?(?:peak|rush|evening|morning|"
    r"weekend|night)\b|yesterday'?s?\s+(?:[\w-]+\s+){0,2}?(?:peak|rush|evening|morning|afternoon|night)\b|"
    r"(?:right )?after (?:it|that|the)\b)"
    # … unless the clause goes on to say why it held until now ("fine all day because traffic was half the peak").
    # … or that it held only under less load ("fine all day at normal traffic, storm peak needs ~130").
    r"(?![^.;]*\b(?:because|until|till|then|but|when|as long as|at (?:normal|low|usual|typical)|normal (?:traffic|"
    r"load|volume)|needs?)\b))"
)
CONFIRMED = re.compile(
    r"(?i)\b(?:confirm\w*|root cause|caused by|culprit|that'?s it|smoking gun|head blocker|my bad|"
    r"found it(?=\s*[.!:]|\s*$)|"
    r"recover\w*|error rate (?:back|dropped)|fixed|mitigated|back to normal)\b|"
    # A note that states the cause: "Cause: …", "Likely cause: …", "Leading hypothesis: …".
    r"\b(?:(?:likely|probable|root) )?cause\s*:|\b(?:leading|working|main|top) (?:hypothesis|theory|suspect)\b"
)
#: After a rollback: the trouble went away (the rolled-back change was the cause) …
RECOVERED = re.compile(
    r"(?i)\b(?:recover\w*|back to normal|(?:errors?|5xx|\d{3}s?|alerts?|latency|timeouts?|ooms?|restarts?)\w* "
    r"(?:are |is |have )?(?:gone|cleared|resolved|stopped|dropp\w*|falling|down to|back)|(?:fixed|mitigated|resolved) it|"
    r"all green|green again|healthy again|that fixed|that did it|that'?s it|(?:locks?|connections?) released|"
    r"(?:queues?|backlogs?|lag|messages|consumers?)\s+(?:is |are |has |have )?(?:draining|drained)|unstuck|(?:flowing|moving|working|arriving|succeed\w*) again|(?:lookups|requests) succeed\w*)\b"
)
#: … or it did not (the change was not the cause).
NO_EFFECT = re.compile(
    r"(?i)\b(?:no (?:effect|change|improvement|difference)|nothing changed|(?:made|makes) no difference|"
    r"didn'?t (?:help|change anything|fix)|did not (?:help|fix)|still (?:failing|erroring|broken|down|seeing|"
    r"getting|the same|happening|elevated|high|~?\d+|5\d\d|5xx|timing out|throwing|oom\w*)|"
    r"(?:latency|errors?|error rate|5xx|p9\d|numbers|rate|lag|backlog|timeouts?|graphs?)\s+(?:is |are |stays? |stayed |"
    r"looks? |looked )?(?:exactly |still )?the same\b|"
    r"same (?:[\w-]+ ){0,2}(?:errors?|rate|failures?|timeouts?|exceptions?|symptoms?|picture|graphs?|numbers|"
    r"p9\d|latency|behaviou?r|story|results?|curve)\b|"
    # "still queueing", "still climbing": the trouble goes on (not "still waiting on the rollback", "still fine")
    r"still (?!waiting|rolling|deploying|working|looking|checking|investigating|digging|trying|running|draining|"
    r"recovering|syncing|pending|propagating|going through|in progress)[a-z]+ing\b|"
    r"still (?:being )?(?:throttled|rejected|blocked|killed|dropped|refused|rate[- ]limited|hanging|stuck|slow|queued|"
    r"broken|red|down|degraded|elevated)\b|"
    r"(?:exactly |just )?as bad\b|no better\b|"
    # "still signature_mismatch on everything", "still AccessDenied"
    r"still (?:(?:getting|seeing|all|lots of) )?[\w-]*(?:mismatch|error|fail|denied|reject|forbidden|timeout|exception|"
    r"unavailable|refused)\w*|"
    # "still connection reset", "still seeing 403s", "still the same timeouts"
    r"still (?:(?:getting|seeing|the same|lots of|all) )?(?:[\w-]+ )?(?:resets?|refused|errors?|timeouts?|failures?|"
    r"exceptions?|rejects?|rejections?|drops?|\d{3}s)\b|"
    r"(?:errors?|5xx|failures?|latency|rate|lag|backlog|timeouts?|p9\d|numbers|graphs?|queue|throttl\w*)\s+"
    r"(?:\w+\s+)?unchanged)"
)
#: Undoing something only to be sure ("turning it off to be safe"): no judgement of it.
PRECAUTION = re.compile(
    r"(?i)\b(?:to be (?:safe|sure)|just in case|as a precaution|precaution\w*|to rule it out|for safety|"
    r"to (?:eliminate|exclude) it|while we (?:look|dig|investigate))\b"
)
#: Words before a phrase that turn it around ("not confirmed", "hasn't recovered", "can't rule it out").
_NEGATED = re.compile(
    r"(?i)(?:\b(?:not|no|never|without|nor|yet to)|n'?t)\s+(?:(?:yet|really|fully|quite|been|be|it|that|the|a)\s+){0,2}$"
)
#: A clause that asks rather than tells ("is it the flag?", "could it be 4.18?").
QUESTION = re.compile(
    r"\?\s*$|^\s*(?:is|was|could|can|did|does|do|should|shall|maybe|might|what|which)\b", re.IGNORECASE
)
#: Where one statement ends and the next begins within a chat line.
_CLAUSES = re.compile(r"(?<=[.;!?])\s+|\s+(?:but|however|whereas|while)\s+|\s+[—–]\s+|\s+-\s+|\n+")


def clauses(text: str) -> list[str]:
    """A chat line's statements, in order ("rolled back 4.18 — no change, still 503s" is two)."""
    return list(_clauses(text))


@lru_cache(maxsize=8192)
def _clauses(text: str) -> tuple[str, ...]:
    return tuple(c for c in (part.strip() for part in _CLAUSES.split(text)) if c)


@lru_cache(maxsize=16384)
def said(pattern: re.Pattern[str], clause: str) -> bool:
    """``pattern`` occurs in ``clause`` as a statement: not negated by the words before it ("not confirmed",
    "hasn't recovered", "can't rule it out") and not asked as a question."""
    if QUESTION.search(clause):
        return False
    return any(not _NEGATED.search(clause[: m.start()]) for m in pattern.finditer(clause))


@lru_cache(maxsize=8192)
def judge(clause: str) -> int:
    """What one statement says of the thing it names: -1 ruled out, +1 confirmed, 0 neither.

    The grammar: a ruling-out phrase (RULED_OUT: "ruled out", "not the cause", "can't be it", "no effect", "only
    touched …") or a confirming one (CONFIRMED: "root cause", "culprit", "caused by", "recovered", …), each
    unless negated by the words right before it or asked as a question. Ruling out wins over confirming in one
    clause ("not confirmed" is neither; "no change, not the cause" is ruled out)."""
    if said(RULED_OUT, clause):
        return -1
    if said(CONFIRMED, clause):
        return 1
    return 0


# -- a change's own words -----------------------------------------------------------------------------------
#: Words too common in incident text to say that a change and an alert are about the same thing.
GENERIC = set(
    tokens(
        "service api app prod production server servers request requests error errors alert alerts high rate fail "
        "failing failed users user percent http https traffic checkout new update updated change version v1 v2 "
        "deploy deployment release rollout rfc normal change increase increased value threshold above below minutes"
    )
)


def without_instructions(text: str) -> str:
    """``text`` less the lines that try to instruct a model: they are no description of what changed."""
    return "\n".join(line for line in text.splitlines() if not looks_like_injection(line))




# -- what responders call a change: versions, names, "the previous build" ------------------------------------
_VERSION = re.compile(
    r"(?<![\w.])(v)?(\d+(?:\.\d+){1,3})(?:[-+][0-9a-z][\w.]*)?"
    # not a quantity: "7.4 GB", "2.5 s", "1.5x", "99.9%"
    r"(?!\w|\.\w|\s*(?:%|ms\b|x\b|[kmgt]i?b\b|s\b|secs?\b|seconds?\b|mins?\b|minutes?\b|h\b|hours?\b))",
    re.I,
)
_TAGGED_VERSION = re.compile(r"(?i)\b(?:release|version|ver|build|image|tag|rel)\s*[#:]?\s*v?(\d+(?:\.\d+)*)\b")
#: "build 5120", "run #88", "PR 3317", "#5571": a number that names one build, run or pull request.
_BUILD = re.compile(
    r"(?i)\b(?:build|run|pipeline|job|pr|mr|pull request|merge request)\s*#?\s*(\d{2,})\b|(?<![\w#])#(\d{3,})\b"
)
#: Between the words of a name as people write it: ``nightly-reindex``, ``nightly_reindex``, ``nightly reindex``.
_SEPARATOR = r"[\s_-]+"
#: Also the last part of a dotted settings key (``redis.pool.max_active`` → ``max_active``), not of a version.
_NAME = re.compile(r"(?<![\w-])(?<!\d\.)(?<![^\w\s]\.)[a-z0-9]+(?:[-_][a-z0-9]+)+(?![\w-])", re.I)
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
    """``v4.2.0`` → ("4", "2", "0"): its parts as written (:func:`_version_match` reads 4.2 and 4.2.0 as one)."""
    return tuple(raw.lower().lstrip("v").split("."))


def _without_zeros(version: tuple[str, ...]) -> tuple[str, ...]:
    """Trailing zero parts dropped, so that 4.2 and 4.2.0 are one version."""
    parts = list(version)
    while len(parts) > 2 and parts[-1].strip("0") == "":
        parts.pop()
    return tuple(parts)


#: A revision numbered by one v-prefixed number (``hls property v88``, ``ruleset v41``): not ``v8`` (a schema, an
#: engine), which is too short to name one change.
_V_NUMBER = re.compile(r"(?<![\w.])v(\d{2,5})(?![0-9a-z.])", re.I)  # ("Flyway V87__bookings_…" too)


def _versions_of_change(text: str) -> set[tuple[str, ...]]:
    """The versions a change carries: v-prefixed or three-part numbers (``4.18.0``, ``v2.3``, ``v88``), or numbers
    after release/version/build (``release 41.2``). Bare two-part numbers (``2.5``, a percentage or a size) are
    not."""
    out = {_version_key(m.group(2)) for m in _VERSION.finditer(text) if m.group(1) or m.group(2).count(".") >= 2}
    out |= {_version_key(m.group(1)) for m in _TAGGED_VERSION.finditer(text) if "." in m.group(1)}
    out |= {("v", m.group(1)) for m in _V_NUMBER.finditer(text)}
    return out


@lru_cache(maxsize=4096)
def _versions_said(text: str) -> frozenset[tuple[str, ...]]:
    said = {_version_key(m.group(2)) for m in _VERSION.finditer(text)}
    return frozenset(said | {("v", m.group(1)) for m in _V_NUMBER.finditer(text)})


def names_release(title: str, said: str) -> bool:
    """Whether ``said`` names a version that a change titled ``title`` carries ("since lb 7.4.1" for
    "leaderboard-service 7.4.1 — rich entries"): how responders point at another team's release."""
    carried = _versions_of_change(title)
    return bool(carried) and any(_version_match(v, c) for v in _versions_said(said) for c in carried)


def _version_match(said: tuple[str, ...], carried: tuple[str, ...]) -> bool:
    """``4.18`` said matches ``4.18.3`` carried (a responder shortens a version); a version said in full matches only
    itself (``7.2.0`` is not ``7.2.1``; ``4.2.0`` is ``4.2``); ``4`` alone matches nothing."""
    if len(said) < 2:
        return False
    whole, carried = _without_zeros(said), _without_zeros(carried)
    if len(said) >= 3:
        return whole == carried
    return carried[: len(whole)] == whole


@lru_cache(maxsize=4096)
def _builds(text: str) -> frozenset[str]:
    return frozenset(m.group(1) or m.group(2) for m in _BUILD.finditer(text))


@dataclass(frozen=True)
class Handles:
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
    #: The values a setting had before the change ("pool size 80 -> 40": 80): "put it back to 80" undoes it.
    old_values: frozenset[str] = frozenset()
    #: The values it set ("maxConnections 200 -> 60": 60), with the distinctive words of its title: "only 60
    #: sessions per pod on the CICS side" (the value and a title word in one clause) names it.
    new_values: frozenset[str] = frozenset()
    title_words: frozenset[str] = frozenset()
    #: The parts of the day it was made in ("last night", "this morning") and the stems of its title's distinctive
    #: words: "all the nodes reimaged last night" names "Rolling reimage of nomad clients" made at 22:00.
    dayparts: frozenset[str] = frozenset()
    stems: frozenset[str] = frozenset()
    #: Distinctive words of its title that no other change's title has, said as a noun: "before the rebalance"
    #: names "add gitaly-storage-09 node, rebalance 4% of repos".
    nouns: tuple[str, ...] = ()
    #: The settings its title names in code form, no other change's title has ("maxProcesses", "refresh_interval"):
    #: "reverted the horizon maxProcesses bump" names "horizon: push-ios maxProcesses 8 -> 12".
    settings: tuple[str, ...] = ()
    #: The initials of its names of three parts or more, as people say them ("SBR" for split-brain-resolver).
    initials: tuple[str, ...] = ()
    #: The noun its kind goes by, when it is the only change of that kind ("flag off, no change": the one flag).
    kind_noun: str = ""

    def mentioned_in(self, clause: str) -> str | None:
        """How ``clause`` names the change ("its id", "version 4.18", "flag new-pricing", "the previous build"),
        or None."""
        if self.id_pattern.search(clause):
            return "its id"
        said = _versions_said(clause)
        for v in self.versions:
            if any(_version_match(s, v) for s in said):
                return f"version {v[0] + v[1] if v[0] == 'v' else '.'.join(_without_zeros(v))}"
        if self.builds and self.builds & _builds(clause):
            return "its build number"
        lowered = clause.lower()
        for name in self.names:
            if _name_pattern(name).search(lowered):
                return name
        for setting in self.settings:
            if _name_pattern(setting).search(lowered):
                return setting
        for short in self.initials:
            if re.search(rf"(?<![\w-]){short}(?![\w-])", clause):
                return f"its initials {short}"
        for part in self.parts:
            if (m := _part_pattern(part).search(lowered)) is not None:
                return m.group(0)
        for phrase in self.phrases:
            if (m := _phrase_pattern(phrase).search(lowered)) is not None:
                return f"“{m.group(0)}”"
        if self.old_values and (back := self.old_values & _set_back_to(clause)):
            return f"its old value {min(back)}"
        if self.minute and self.minute in _times_said(clause):
            return f"its time {self.minute}"
        if self.releases & _release_refs(clause):
            return "the latest release"
        if (by_day := self._by_daypart(clause)) is not None:
            return f"“{by_day}”"
        if (value := self._new_value_in(clause)) is not None:
            return f"its new value {value}"
        for noun in self.nouns:
            if (m := _noun_pattern(noun).search(lowered)) is not None:
                return f"“{m.group(0)}”"
        if self.kind_noun and (m := _kind_noun_pattern(self.kind_noun).search(lowered)) is not None:
            return f"“{m.group(0)}”"
        return None

    def _new_value_in(self, clause: str) -> str | None:
        """A value the change set and one of its title's words, in one clause."""
        if not self.new_values or not self.title_words:
            return None
        said_ = self.new_values & _numbers_said(clause)
        if not said_ or not self.title_words & set(tokens(clause)):
            return None
        return min(said_)

    def _by_daypart(self, clause: str) -> str | None:
        """A title word's stem and a part of the day it was made in, in one clause ("reimaged last night")."""
        if not self.stems or not self.dayparts:
            return None
        lowered = clause.lower()
        when = next((d for d in self.dayparts if d in lowered), None)
        if when is None:
            return None
        word = next((w for w in re.findall(r"[a-z]{6,}", lowered) if w[:STEM] in self.stems), None)
        return f"{word} {when}" if word else None

    def positions(self, clause: str) -> list[int]:
        """Where in ``clause`` the change is named."""
        found = [m.start() for m in self.id_pattern.finditer(clause)]
        found += [
            m.start() for m in _VERSION.finditer(clause)
            if any(_version_match(_version_key(m.group(2)), v) for v in self.versions)
        ]
        lowered = clause.lower()
        for name in (*self.names, *self.settings):
            found += [m.start() for m in _name_pattern(name).finditer(lowered)]
        for short in self.initials:
            found += [m.start() for m in re.finditer(rf"(?<![\w-]){short}(?![\w-])", clause)]
        if self.releases:
            found += [m.start() for m in _RELEASE_REF.finditer(clause) if self.releases & _release_refs(m.group(0))]
        for part in self.parts:
            found += [m.start() for m in _part_pattern(part).finditer(lowered)]
        if self.minute:
            found += [m.start() for m in _CLOCK.finditer(clause) if self.minute in _times_said(m.group(0))]
        for phrase in self.phrases:
            found += [m.start() for m in _phrase_pattern(phrase).finditer(lowered)]
        if self.old_values:
            found += [m.start() for m in _BACK_TO.finditer(clause) if _number(m.group(1)) in self.old_values]
        if (said_ := self._by_daypart(clause)) is not None:
            found.append(clause.lower().find(said_.split()[0]))
        if (value := self._new_value_in(clause)) is not None:
            found.append(max(0, clause.find(value)))
        for noun in self.nouns:
            found += [m.start() for m in _noun_pattern(noun).finditer(lowered)]
        if self.kind_noun:
            found += [m.start() for m in _kind_noun_pattern(self.kind_noun).finditer(lowered)]
        return sorted(found)


#: Nouns that, next to a word of a name, name the thing ("the autocomplete flag", "job reindex").
_KIND_NOUNS = (
    r"(?:feature[- ])?flags?|toggles?|jobs?|cron(?:job)?s?|tasks?|workers?|scripts?|migrations?|switch|topics?|"
    r"queues?|tables?|buckets?|schedules?|rules?|pools?"
)
#: A clause that names a time ("the 19:14 deploy", "the change at 10:02") speaks of the change made then.
_NOUN = (
    r"(?:[\w-]+\s+)?(?:deploy(?:ment)?|release|change|push|rollout|flag|migration|rfc|upgrade|config|record|rule|"
    r"switch(?:over)?|cutover|patch|merge|apply|terraform run|pr)"
)
#: "the 19:14 deploy", "the checkout-web deploy at 19:14", "the change from 10:02" (not "rolled back at 10:41").
_CLOCK = re.compile(
    rf"(?i)\bthe\s+(?P<a>[01]?\d|2[0-3]):(?P<b>[0-5]\d)\s+{_NOUN}\b|"
    rf"\b{_NOUN}\s+(?:at|from|of)\s+(?P<c>[01]?\d|2[0-3]):(?P<d>[0-5]\d)(?![\d:])|"
    # "we added a dns record at 06:10", "someone pushed the new limits at 14:02" (not "rolled back at 10:41")
    # "lab-results-dedup came up at 13:05", "the new chart went out at 09:12"
    r"\b(?:came up|went out|went live|went in|landed|rolled out|was deployed|got deployed|was applied|got applied|"
    r"was merged|got merged|restarted)\s+at\s+(?P<g>[01]?\d|2[0-3]):(?P<h>[0-5]\d)(?![\d:])|"
    r"\b(?:we|they|someone|somebody|i|he|she|ops|sre)\s+(?:added|made|pushed|changed|merged|applied|shipped|"
    r"deployed|flipped|enabled|switched|bumped|updated|created|deleted|removed|lowered|raised)\b(?:\s+[\w.-]+){0,5}?"
    r"\s+at\s+(?P<e>[01]?\d|2[0-3]):(?P<f>[0-5]\d)(?![\d:])"
)


@lru_cache(maxsize=4096)
def _times_said(clause: str) -> frozenset[str]:
    """The change times ``clause`` names ("the 19:14 deploy" → 19:14)."""
    out = set()
    for m in _CLOCK.finditer(clause):
        hour, minute = next(
            (m.group(h), m.group(n)) for h, n in (("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")) if m.group(h)
        )
        out.add(f"{int(hour):02d}:{minute}")
    return frozenset(out)


#: A setting changed from one value to another in a change's title: "pool 80 -> 40", "outflow 2,000 → 3,500",
#: "from 10% to 50%".
_FROM_TO = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s*%?\s*(?:->|→|=>)\s*~?\d|\bfrom\s+(\d[\d,]*(?:\.\d+)?)\s*%?\s+to\s+~?\d",
    re.I,
)
#: Putting a setting back: "back to 80", "reverted to 2000", "reset to 10%".
_BACK_TO = re.compile(r"(?i)\b(?:back|revert(?:ed|ing)?|reset|restored?)\s+to\s+~?(\d[\d,]*(?:\.\d+)?)(?![\d.])")


def _number(raw: str) -> str:
    """``2,000`` → ``2000``; ``40.0`` → ``40``."""
    value = raw.replace(",", "")
    return value[:-2] if value.endswith(".0") else value


def _old_values(title: str) -> set[str]:
    return {_number(m.group(1) or m.group(2)) for m in _FROM_TO.finditer(title)}


#: The value a setting was changed to: "200 -> 60", "from 60 to 20".
_TO_VALUE = re.compile(
    r"(?<![\w.])\d[\d,]*(?:\.\d+)?\s*%?\s*(?:->|→|=>)\s*~?(\d[\d,]*(?:\.\d+)?)(?![\d.])|"
    r"\bfrom\s+\d[\d,]*(?:\.\d+)?\s*%?\s+to\s+~?(\d[\d,]*(?:\.\d+)?)(?![\d.])",
    re.I,
)


#: A setting that caps how much can happen at once: a change that lowers it bites at the next peak, days later.
_CEILING = re.compile(
    # (words inside snake_case names too: "reserved_concurrent_executions", "max_connections")
    r"(?i)(?<![a-z])(?:max\w*|limits?|caps?|ceiling|throttl\w*|pool|conn\w*|concurren\w*|quota|threads?|workers?|replicas?|"
    r"capacity|slots?|sessions?|rate|rps|qps|throughput|burst|size|heap|memory|mem|xmx|instances?|nodes?|"
    r"provisioned|reserved|partitions?|consumers?|tasks?|batch)(?![a-z])"
)


#: A limit set to a value: "reserved_concurrent_executions = 50", "maxconn 500 -> 100", "pool size to 20".
_SET_TO = re.compile(r"(?i)(?:=|:|->|→|=>|\bto|\b(?:amount|limit|cap|quota|count|size|max\w*))\s*~?\s*(\d[\d,]*)(?![\d.,]*\s*(?:%|ms\b|s\b|secs?\b|seconds?\b|m\b|mins?\b|h\b|hours?\b))")
#: Something pinned at a value: "ConcurrentExecutions flat at 50", "stuck at 50 concurrent", "every server at 100 sessions".
_PINNED = re.compile(
    r"(?i)\b(?:flat|stuck|pinned|capped|maxed(?: out)?|plateau\w*|saturated|limited|hard[- ]capped|sitting|"
    r"hitting|hits?|at the (?:limit|cap|max(?:imum)?))\s+(?:right\s+)?(?:at|on|of)?\s*~?(\d[\d,]*)(?![\d.])|"
    r"\b(\d[\d,]*)\s*/\s*\2\b|"
    # "at 200 in flight per source we're capped"
    r"\b(?:at|of)\s+~?(\d[\d,]*)\b[^.;]{0,40}?\b(?:capped|pinned|maxed|saturated|throttled|limited)\b"
)


def ceiling_values(text: str) -> set[str]:
    """The values ``text`` sets a limit to ("reserved_concurrent_executions = 50" → 50), when it names a limit."""
    out = set()
    for m in _SET_TO.finditer(text):
        if _CEILING.search(text[max(0, m.start() - 60) : m.start(1)]):
            out.add(_number(m.group(1)))
    return out


def pinned_at(values: set[str], text: str) -> str | None:
    """One of ``values`` that ``text`` says something is pinned at ("flat at 50 since 18:27", "stuck at 50")."""
    if not values:
        return None
    for m in _PINNED.finditer(text):
        raw = m.group(1) or m.group(2) or m.group(3)
        value = _number(raw)
        if text[m.end() : m.end() + 1].lower() == "k" and "." not in value:
            value = f"{value}000"  # "sitting at ~50k"
        if value in values and not QUESTION.search(text):
            return value
    return None


def lowers_a_ceiling(text: str) -> bool:
    """``text`` lowers a limit ("per-server maxconn 500 -> 100", "pool size from 50 to 20", "reserved concurrency
    100 → 10"): what it caps fails only when demand reaches the new value."""
    for m in _FROM_TO.finditer(text):
        old_raw = m.group(1) or m.group(2)
        new = _TO_VALUE.match(text, m.start()) if m.group(1) else _TO_VALUE.search(text, m.start())
        new_raw = (new.group(1) or new.group(2)) if new is not None else None
        if new_raw is None:
            continue
        try:
            lowered = float(_number(new_raw)) < float(_number(old_raw))
        except ValueError:
            continue
        if lowered and _CEILING.search(text[max(0, m.start() - 60) : m.start()]):
            return True
    return False


def _new_values(title: str) -> set[str]:
    return {_number(m.group(1) or m.group(2)) for m in _TO_VALUE.finditer(title)}


def _numbers_said(clause: str) -> set[str]:
    return {_number(m) for m in re.findall(r"(?<![\w.:/-])(\d[\d,]*(?:\.\d+)?)(?![\d.:/-])", clause)}


@lru_cache(maxsize=4096)
def _set_back_to(clause: str) -> frozenset[str]:
    return frozenset(_number(m.group(1)) for m in _BACK_TO.finditer(clause))


@lru_cache(maxsize=1024)
def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    first, second = phrase.split(" ")
    return re.compile(rf"(?<![\w-]){re.escape(first)}s?[\s_-]+{re.escape(second)}s?(?![\w-])")


def _title_phrases(change: ChangeFact, service_words: set[str]) -> set[str]:
    """Pairs of adjacent distinctive words in a change's title: how people name the component it changed; and the
    two words a release's version follows ("web player 9.14.0": "the web player"), short as they may be."""
    title = without_instructions(change.title).lower()
    words_ = re.findall(r"[A-Za-z][A-Za-z'-]*", title)
    out = {
        f"{a} {b}"
        for a, b in pairwise(words_)
        if _distinctive(a, service_words, 4) and _distinctive(b, service_words, 4)
    }
    versioned = re.search(r"(?:^|:)\s*([a-z][a-z'-]*)\s+([a-z][a-z'-]*)\s+(?:v?\d+(?:\.\d+)+|v\d+)\b", title)
    if versioned:
        a, b = versioned.groups()
        if not (a in service_words and b in service_words) and not {a, b} & _NOT_COMPONENT and (
            _distinctive(a, service_words, 3) or _distinctive(b, service_words, 4)
        ):
            out.add(f"{a} {b}")
    return out


#: Words before a version that name no component ("release 4.2", "bump to 3.1").
_NOT_COMPONENT = frozenset("release version build image tag bump to from upgrade update deploy the new v".split())


#: The noun a kind of change goes by on its own: the only flag is "the flag", the only migration "the migration".
_ONLY_KIND_NOUN = {"feature_flag": "flag", "database": "migration"}


@lru_cache(maxsize=8)
def _kind_noun_pattern(noun: str) -> re.Pattern[str]:
    """"flag off", "the flag", "that migration": the kind's noun, not part of a name ("flag-9", "feature flags")."""
    return re.compile(rf"(?<![\w-])(?:(?:the|that|this|our) )?{noun}(?![\w-])")


@lru_cache(maxsize=1024)
def _noun_pattern(noun: str) -> re.Pattern[str]:
    """``noun`` said as the thing done: "the rebalance", "that reimage", "caused by catalog backfill", "the
    retention change"."""
    return re.compile(
        rf"\b(?:the|that|this|our|their|yesterday'?s|today'?s)\s+(?:[a-z]+\s+)?{re.escape(noun)}(?![\w-])|"
        rf"\b(?:caused by|from)\s+(?:[\w-]+\s+)?{re.escape(noun)}(?![\w-])|"
        rf"(?<![\w-]){re.escape(noun)}\s+(?:change|deploy|migration|job|run|rule|flag|config|update|rollout|upgrade|"
        rf"switch|tweak|bump|pr|mr)\b"
    )


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
    return re.compile(rf"(?<![\w-]){_SEPARATOR.join(_number_free(p) for p in parts)}(?![\w-])")


def _number_free(word: str) -> str:
    """``word`` as a pattern that also takes its other number ("policies" for "policy", "rules" for "rule")."""
    if word.endswith("ies") and len(word) > 4:
        return re.escape(word[:-3]) + "(?:ies|y)"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return re.escape(word[:-1]) + "s?"
    if word.endswith("y") and len(word) > 3 and word.isalpha():
        return re.escape(word[:-1]) + "(?:y|ies)"
    return re.escape(word) + "(?:s|es)?" if word.isalpha() else re.escape(word)


def _change_names(change: ChangeFact, services: set[str]) -> list[str]:
    """Artefact, job, flag and host names in a change's title and the start of its details (``new-pricing-engine``,
    ``reindex_nightly``, ``db-3``): hyphenated or underscored identifiers that are not service names, versions or
    everyday hyphenated words."""
    text = without_instructions(f"{change.title}\n{change.details[:400]}")
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


def change_handles(
    ctx: IncidentContext, started: datetime | None, services: set[str], watched: Collection[str] = ()
) -> dict[str, Handles]:
    """Every change's handles. A version, build or name two changes share names neither.

    ``watched``: the services whose own trouble the incident is about (its service, the services that alerted, its
    dependencies). A change's service that is none of those — a job, a pipeline, a component only the change
    touched ("the listings-reindex job") — names the change."""
    # A rollback's title names the releases it undoes and returns to ("rollback 3.12.1 → 3.12.0"): not its own.
    versions = {
        c.id: set() if is_rollback(c) else _versions_of_change(f"{c.title} {c.details[:400]}")
        for c in ctx.changes
    }
    builds = {c.id: _builds(f"{c.title} {c.details[:400]}") for c in ctx.changes}
    names = {c.id: _change_names(c, services) for c in ctx.changes}
    watched_ = {w.lower() for w in watched}
    for c in ctx.changes:
        own = (c.service or "").lower()
        if own and own not in watched_ and ("-" in own or "_" in own) and own not in names[c.id]:
            names[c.id].append(own)
    minutes = {c.id: utc(c.at).strftime("%H:%M") for c in ctx.changes}
    service_words = {w for name in services for w in re.split(r"[-_.\s]+", name)}
    phrases = {c.id: _title_phrases(c, service_words) for c in ctx.changes}
    old_values = {c.id: _old_values(without_instructions(c.title)) for c in ctx.changes}
    new_values = {c.id: _new_values(without_instructions(c.title)) for c in ctx.changes}
    parts = {
        cid: {p for n in found for p in re.split(r"[-_]", n) if _distinctive(p, service_words)}
        for cid, found in names.items()
    }

    def shared(values: Mapping[str, Collection[object]], cid: str, value: object) -> bool:
        return any(value in v for k, v in values.items() if k != cid)

    releases = _releases(ctx, started)
    dayparts = {c.id: _dayparts_of(c.at, started) for c in ctx.changes}
    stems = {
        c.id: {w[:STEM] for w in re.findall(r"[a-z]{6,}", without_instructions(c.title).lower())
               if w not in service_words and _distinctive(w, service_words, 6)}
        for c in ctx.changes
    }
    # (not past participles: "verification-started" gives no noun "started", which "before this started" would hit)
    nouns = {
        c.id: {w for w in re.findall(r"[a-z]{6,}", without_instructions(c.title).lower())
               if w not in service_words and _distinctive(w, service_words, 6) and not w.endswith("ed")}
        for c in ctx.changes
    }
    settings = {c.id: {w.lower() for w in _SETTING.findall(without_instructions(c.title))} for c in ctx.changes}
    initials = {c.id: _initials(without_instructions(c.title)) for c in ctx.changes}
    out: dict[str, Handles] = {}
    for c in ctx.changes:
        out[c.id] = Handles(
            settings=tuple(sorted(w for w in settings[c.id] if not shared(settings, c.id, w) and w not in names[c.id])),
            initials=tuple(sorted(i for i in initials[c.id] if not shared(initials, c.id, i))),
            kind_noun=_ONLY_KIND_NOUN.get(c.kind, "") if [o.kind for o in ctx.changes].count(c.kind) == 1 else "",
            id_pattern=re.compile(rf"(?i)(?<![\w-]){re.escape(c.id)}(?![\w-])"),
            versions=frozenset(v for v in versions[c.id] if not shared(versions, c.id, v)),
            builds=frozenset(b for b in builds[c.id] if not shared(builds, c.id, b)),
            names=tuple(n for n in names[c.id] if not shared(names, c.id, n)),
            releases=frozenset(k for k, cid in releases.items() if cid == c.id),
            parts=tuple(sorted(p for p in parts[c.id] if not shared(parts, c.id, p))),
            minute=minutes[c.id] if list(minutes.values()).count(minutes[c.id]) == 1 else "",
            phrases=tuple(sorted(p for p in phrases[c.id] if not shared(phrases, c.id, p))),
            old_values=frozenset(v for v in old_values[c.id] if not shared(old_values, c.id, v)),
            new_values=frozenset(v for v in new_values[c.id] if not shared(new_values, c.id, v)),
            title_words=frozenset(
                t for t in set(tokens(without_instructions(c.title))) - GENERIC
                if not t.isdigit() and t not in service_words and len(t) >= 3
            ),
            dayparts=frozenset(dayparts[c.id]),
            nouns=tuple(sorted(w for w in nouns[c.id] if not any(w in nouns[o] for o in nouns if o != c.id))),
            stems=frozenset(
                st for st in stems[c.id]
                if not any(st in stems[o] and dayparts[o] & dayparts[c.id] for o in stems if o != c.id)
            ),
        )
    return out


def _initials(title: str) -> set[str]:
    """The initials of the names of three words or more in ``title`` ("split-brain-resolver" → "SBR")."""
    out = set()
    for name in _NAME.findall(title):
        words = re.split(r"[-_]", name)
        if len(words) >= 3 and all(w.isalpha() for w in words):
            out.add("".join(w[0] for w in words).upper())
    return out


#: A setting's name in code form: camelCase ("maxProcesses") or snake_case ("refresh_interval").
_SETTING = re.compile(r"(?<![\w.-])(?:[a-z]+[A-Z][A-Za-z0-9]*|[a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w-])")


def _distinctive(word: str, service_words: set[str], least: int = 5) -> bool:
    """A word of a name that can stand for it: long, not a number, not a service's word, not a stop word or
    everyday incident vocabulary."""
    stems = set(tokens(word))
    return (
        len(word) >= least and word.isalpha() and word not in service_words and bool(stems)
        and not (stems & GENERIC)
    )


#: How many letters of a word stand for it across its forms ("reimage", "reimaged", "reimaging").
STEM = 6


def _dayparts_of(at: datetime, started: datetime | None) -> set[str]:
    """The parts of the day, as said when the trouble began at ``started``, that ``at`` falls in."""
    if started is None:
        return set()
    start = utc(started)
    day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    out = set()
    for name, (back, h0, h1) in _DAYPARTS.items():
        lo = day - timedelta(days=back) + timedelta(hours=h0)
        hi = min(start, day - timedelta(days=back) + timedelta(hours=h1))
        if lo <= utc(at) <= hi:
            out.add(name)
    return out


def _releases(ctx: IncidentContext, started: datetime | None) -> dict[str, str]:
    """Release phrase → the change it means. "latest" ("the previous build", "the new release"): the last deploy
    before the trouble began; a part of the day ("this morning's release"): the last deploy in it — on the
    affected service if it had one, else on any service."""
    if started is None:
        return {}
    start = utc(started)
    before = [c for c in ctx.changes if c.kind == "deploy" and 0 <= minutes_between(start, c.at) <= 2880]
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
#: Keeping it: "revert the jobspec, keep 4.9.0" sets 4.9.0 aside (and only it).
_KEEP_BEFORE = re.compile(r"(?i)\bkeep(?:ing)?\s+(?:the\s+|that\s+|it\s+)?$")
_NOT_BEFORE = re.compile(r"(?i)(?:\bnot|n't|\bnothing to do with|\bnot from)\s+(?:(?:the|that|this|from)\s+)?$")
_SINCE_BEFORE = re.compile(
    r"(?i)\b(?:since|after|ever since|right after|started with|began with|came with|introduced (?:in|by)|"
    r"because of|due to|from)\s+(?:(?:the|we|it|they)\s+)?(?:\S+\s+){0,2}$"
)


#: The trouble traced to the change in one breath: "only started failing after the mesh defaults went in", "errors
#: began right after 4.18" (not a bare "since 4.18 went out", which may only date it).
_STARTED_SINCE = re.compile(
    r"(?i)\b(?:start(?:ed|s)?|began|begins?|broke|breaks|fail(?:ed|ing|s)?|crash(?:ed|ing|es)?|"
    r"spik(?:ed|ing)|jump(?:ed|ing)|creep(?:ing|s)?|crept|climb(?:ed|ing)|grow(?:n|ing)|grew|leak(?:ed|ing)|"
    r"ris(?:en|ing))\s+(?:\w+\s+){0,2}?(?:right |just |only |straight |ever )?(?:since|after|when|as soon as|the "
    r"moment)\s+(?:(?:the|we|it|they)\s+)?(?:\S+\s+){0,2}$|"
    # "the leak has been there since 3.12.0", "the bug was in since 4.2"
    r"\b(?:leak|bug|regression|problem|issue|defect)\s+(?:has been|had been|was|is)\s+(?:there|in|present|around|"
    r"live)\s+(?:ever )?since\s+(?:(?:the|we|it|they)\s+)?(?:\S+\s+){0,2}$"
)


#: The trouble came before the change: "they were restarting before 11:55 too", "errors already before 4.18".
_BEFORE_IT = re.compile(r"(?i)\b(?:before|prior to|ahead of)\s+(?:the\s+)?$")


_TROUBLE_FIRST = re.compile(
    r"(?i)\b(?:fired|alerted|warned|started|began|failing|failed|filling|climbing|growing|crash\w*|restarting|errors?|"
    r"warnings?)\b[^.;!?]*?\bbefore\s+(?:the\s+)?$"
)


def _came_first(clause: str, positions: list[int]) -> bool:
    """``clause`` says the trouble was there before the change named at ``positions``: "before 4.18 too", "already
    before the 09:55 change"."""
    for at in positions:
        if not _BEFORE_IT.search(clause[:at]):
            continue
        if re.search(r"(?i)\balready\b", clause[:at]) or re.match(r"(?i)\S+(?:\s+\S+){0,2}?\s+(?:too|as well)\b",
                                                                   clause[at:]):
            return True
        # "the filling-up warning fired at 17:20, before the rebalance"
        if _TROUBLE_FIRST.search(clause[:at]):
            return True
    return False


#: Saying what the cause is, right before naming the change ("it's the currency migration", "must be 4.18").
_IS_BEFORE = re.compile(
    r"(?i)\b(?:it'?s|it is|it was|that'?s|that is|this is|must be|has to be|definitely|clearly|culprit is|"
    r"cause is|caused by|root cause(?: is)?:?)\s+(?:(?:the|our|their)\s+)?"
    r"(?:(?!(?:when|before|after|not|why|what|how|where|since)\b)[\w.-]+\s+){0,2}$|"
    # A conclusion: "so the node pool upgrade this morning", "so it's the flag".
    r"^\W*so,?\s+(?:it'?s\s+|it is\s+|it was\s+)?(?:the|this|that|our)\s+(?:[\w.-]+\s+){0,2}$|"
    # Where every failure is: "the crashing pods are all on the upgraded apps-pool nodes".
    r"\b(?:all|only)\s+(?:on|in|from|behind|through)\s+(?:the\s+)?(?:new|newly|upgraded|changed|updated|migrated|"
    r"reimaged|patched|moved)?\s*(?:[\w.-]+\s+){0,1}$"
)


@dataclass
class Verdict:
    """Responders' word on one candidate: the lift to its score, the events that said it, and what they said."""

    lift: float = 0.0
    refs: list[str] = field(default_factory=list)
    said: list[EventFact] = field(default_factory=list)
    how: str = ""
    #: Named in a statement, not only asked about ("could it be 4.18?").
    stated: bool = False


def _outcome(events: list[EventFact], after: EventFact, rest: list[str]) -> tuple[int, str | None]:
    """What followed a rollback: +1 the trouble went away, -1 it did not, 0 nothing said. Read in the rest of the
    same line, then in the next few lines within the hour."""
    for clause in rest:
        if said(NO_EFFECT, clause) or judge(clause) < 0:
            return -1, after.ref
        if said(RECOVERED, clause):
            return 1, after.ref
    later = [e for e in events if utc(e.at) > utc(after.at) and minutes_between(e.at, after.at) <= 60][:4]
    for e in later:
        for clause in clauses(e.text):
            if said(NO_EFFECT, clause):
                return -1, e.ref
            if said(RECOVERED, clause):
                return 1, e.ref
    return 0, None


@dataclass(frozen=True)
class Line:
    """One timeline entry read once: its statements, the changes each names (id → how), and its words."""

    event: EventFact
    parts: tuple[str, ...]
    named: tuple[dict[str, str], ...]
    words: frozenset[str]


#: A reply that opens on the thing just named: "that only affects the first join", "it went in after the stall".
_ANAPHOR = re.compile(r"(?i)^\W*(?:no,?\s+|yes,?\s+|nope,?\s+)?(?:that|it|this)(?:\s+one)?\b(?!\s+(?:is|was)\s+(?:a|an)\b)")


#: A "no" that answers the question before it.
_NO_ANSWER = re.compile(
    r"(?i)(?:^|,\s*)(?:no|nope|fine|all fine|all good|healthy|not it)\s*[.!]?\s*$|^\W*(?:no|nope)[,.!]\s"
)


def read_talk(events: list[EventFact], handles: Mapping[str, Handles]) -> list[Line]:
    out: list[Line] = []
    for e in events:
        parts = tuple(clauses(e.text))
        named = [
            {cid: how for cid, h in handles.items() if (how := h.mentioned_in(c)) is not None} for c in parts
        ]
        # The next message answering "that …" about the one change the message before named speaks of it.
        before = {cid for n in out[-1].named for cid in n} if out else set()
        if parts and not any(named) and len(before) == 1 and _ANAPHOR.search(parts[0]):
            named[0] = {next(iter(before)): "“that”"}
        elif parts and not any(named) and len(before) == 1 and any(p.rstrip().endswith("?") for p in out[-1].parts):
            # the answer to a question about the one change just named: "…, no." / "no, …"
            for i, part in enumerate(parts):
                if _NO_ANSWER.search(part):
                    named[i] = {next(iter(before)): "“no”"}
        out.append(Line(e, parts, tuple(named), frozenset(tokens(e.text))))
    return out


#: A change that undoes another: "rollback 3.12.1 → 3.12.0", "Revert \"add GSI\"" (not one that disables a thing).
_ROLLBACK_TITLE = re.compile(r"(?i)\b(?:roll(?:ed|ing)?[ -]?back|revert\w*|back(?:ed)?[ -]out)\b")


def is_rollback(change: ChangeFact) -> bool:
    """``change`` undoes another (its title says so): a response to trouble, not a release of its own."""
    return bool(_ROLLBACK_TITLE.search(without_instructions(change.title)))


def latest_named(
    talk: list[Line], within: int = 3, stop: re.Pattern[str] | None = None, among: Collection[str] | None = None
) -> str | None:
    """The change the latest statements of the discussion settle on: read from the last of the last ``within``
    lines back, the first statement that names a change as a statement — not asked, not undone, not ruled out —
    when it names that one alone ("cfg-9004 dropped it to 100", "the new failover client never disposes it").
    None when that statement names several, or none does, or when a later line turns away from changes (``stop``:
    a provider's status page cited, "nothing of ours changed"). ``among``: the changes that can have caused it (made
    before the trouble began: not the rollback responders ran since). Where an investigation has got to is where the people
    with the logs and graphs open point."""
    for line in reversed(talk[-within:]):
        for i in reversed(range(len(line.parts))):
            clause, names = line.parts[i], line.named[i]
            if i + 1 < len(line.parts) and _ASKED_OF_IT.search(line.parts[i + 1]):
                continue  # "the read replica we added at 07:45 — did that eat memory?": asked, not said
            if stop is not None and not names and stop.search(clause) and not QUESTION.search(clause):
                return None  # the latest word is on something else: a provider's status page, "nothing we pushed"
            named = {cid for cid, how in names.items() if _exactly(how) and (among is None or cid in among)}
            # (undoing it, or not — "can't roll the app back without it" — is talk of the remedy, not the cause)
            if not named or QUESTION.search(clause) or ROLLBACK.search(clause) or judge(clause) < 0:
                continue
            if _NOT_BEFORE.search(clause) or PRECAUTION.search(clause) or _TELLING.search(clause):
                continue
            return next(iter(named)) if len(named) == 1 else None
    return None


#: A question about the thing just named: "… — did that eat memory on the primary?"
_ASKED_OF_IT = re.compile(r"(?i)^\W*(?:did|could|would|is|was|does|do|can|might|will)\s+(?:that|it|this|they)\b.*\?\s*$")
#: Telling people, not finding things out: "tell bank-ostra the export will be late", "let support know".
_TELLING = re.compile(
    r"(?i)^\W*(?:ok\W+|so\W+)?(?:tell|let|notify|inform|ping|email|e-mail|message|page|call|loop in|update|warn|"
    r"post|draft|send)\b"
)


def _exactly(how: str) -> bool:
    """A change named exactly: by its id, version, build, time or value, or by a name no phrase shares (one with a
    digit, of three parts or more, or of long parts: "internal-ca-v2", "payroll-export-worker", "static-quorum";
    not "month-end", "scale-in"), or by its initials ("SBR" for split-brain-resolver)."""
    if how.startswith("its initials"):
        return True
    if how == "its id" or how.startswith(("version ", "its build", "its time", "its new value", "its old value")):
        return True
    parts = re.split(r"[-_]", how)
    return bool(_NAME.fullmatch(how)) and (
        any(ch.isdigit() for ch in how) or len(parts) >= 3 or all(len(p) >= 4 for p in parts)
    )


def change_verdict(
    change: ChangeFact, handles: Handles, talk: list[Line], events: list[EventFact], words: set[str]
) -> Verdict:
    """Read what responders said of ``change``, statement by statement, the latest word winning (people are often
    wrong at first): ruled out ("we reverted it, no change", "not deploy-77", "that one can't be it") sinks it;
    confirmed ("deploy-77 is the culprit", a rollback followed by recovery) lifts it; a rollback without outcome or
    "since 4.18 went out" lifts it a little."""
    verdict = Verdict()
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
            elif how and not handles.versions and _versions_said(parts[i]):
                how = ""  # a release is named ("app rollback to 9.1.3 had no effect"): not this unversioned change
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
            if change.id in line.named[i] and _only_as_target(clause, handles.positions(clause)):
                continue  # "rolled back to 2.8.1, no change": 2.8.1 is where they went, not what they undid
            # the answer to a question about it: "budget-svc pacing change?" — "budget calls are 3ms, fine."
            said_here = -1 if line.named[i].get(change.id) == "“no”" else judge(clause)
            if not QUESTION.search(clause):
                verdict.stated = True
            # Where the change is named in this very statement ("not deploy-77", "since 4.18", "it's the flag").
            at = handles.positions(clause) if said_here >= 0 and change.id in line.named[i] else []
            if said_here >= 0 and _named_after(clause, _not_quoted(clause, at, change.title), _NOT_BEFORE):
                said_here = -1  # "Cause: the pool, not deploy-77": what is said of it is "not"
            elif _named_after(clause, at, _KEEP_BEFORE):
                said_here = -1  # "revert the jobspec, keep 4.9.0": they keep it, so it is not what broke
            if said_here == 0 and not QUESTION.search(clause) and _set_aside(clause, change, len(line.named[i]) or 1):
                said_here = -1
            if said_here == 0 and not QUESTION.search(clause) and _named_after(clause, at, _IS_BEFORE):
                said_here = 1
            # Its setting put back to the value it had ("outflow back to 2000") undoes it, as a rollback does.
            put_back = line.named[i].get(change.id, "").startswith("its old value")
            if said_here == 0 and (said(ROLLBACK, clause) or put_back):
                undo = ROLLBACK.search(clause) or _BACK_TO.search(clause)
                after = clause[undo.end() :] if undo is not None else ""
                outcome, ref = _outcome(events, e, [after, *parts[i + 1 :]])
                if outcome != 0:
                    said_here = outcome
                    if ref is not None and ref not in verdict.refs:
                        verdict.refs.append(ref)
                elif not PRECAUTION.search(clause):
                    weak += 0.1
            elif said_here == 0 and _came_first(clause, at):
                said_here = -1  # "they were restarting before 11:55 too": the trouble came first
            elif said_here == 0 and _named_after(clause, at, _STARTED_SINCE):
                said_here = 1  # "only started failing after the mesh defaults went in": they traced it there
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


#: Where a rollback went: "rolled back to 2.8.1", "reverting to the 9.1 build".
_BACK_TO_TARGET = re.compile(
    r"(?i)\b(?:back|revert(?:ed|ing)?|downgrad\w*|return(?:ed|ing)?)\s+to\s+(?:the\s+)?v?$|"
    # "on 5.3.0 now, no difference", "back on 3.1.4 since 07:29", "everything on 2.8.1"
    r"(?:^\W*|\b(?:back|now|everything|everywhere|fully|all pods|we'?re|we are|still)\s+)on\s+v?$"
)


def _only_as_target(clause: str, positions: list[int]) -> bool:
    """``clause`` names the change only as where a rollback went ("rolled back to 2.8.1 at 17:22, no change")."""
    return bool(positions) and all(_BACK_TO_TARGET.search(clause[:at]) for at in positions)


def _set_aside(clause: str, change: ChangeFact, named: int) -> bool:
    """``clause`` sets ``change`` aside by its kind ("not the flag") or as "that": when it speaks of that change
    alone, or names its kind among others ("it's the flag, not the deploy": the deploy)."""
    for m in _NOT_KIND.finditer(clause):
        if _NEGATED.search(clause[: m.start()]):
            continue
        noun = (m.group("noun") or "").lower().rstrip("s")
        if noun in _NOUN_KINDS and change.kind not in _NOUN_KINDS[noun]:
            continue  # "it's the 3.12.0 frame batching, not the flag": another kind of change is set aside
        if named == 1 or (noun and change.kind in _NOUN_KINDS.get(noun, ("deploy", "rfc", "other"))):
            return True
    return False


def _not_quoted(clause: str, positions: list[int], title: str) -> list[int]:
    """The positions at which ``clause`` names the change in its own words, not quoting its title with the word
    before ("ADD COLUMN … NOT NULL DEFAULT" quotes a migration's "NOT NULL": no "not" said of it)."""
    lowered = " ".join(title.lower().split())
    out = []
    for at in positions:
        before = clause[:at].split()[-1:]
        after = clause[at:].split()[:1]
        if before and after and f"{before[0]} {after[0]}".lower() in lowered:
            continue
        out.append(at)
    return out


def _named_after(clause: str, positions: list[int], before: re.Pattern[str]) -> bool:
    """The change, named at ``positions`` in ``clause``, is named right after words matching ``before`` ("not
    deploy-77", "since 4.18")."""
    return any(before.search(clause[:at]) for at in positions)


#: Ruling out a dependency or a signal itself (not a change made to it, nor a remedy tried on it).
_NOT_THE_THING = re.compile(
    r"(?i)\b(?:ruled? (?:it |that |them |this )?out|not (?:the )?(?:cause|culprit|related|it|problem|issue)\b|"
    r"unrelated|red herring|doubt (?:it|that)|does ?n[o']t (?:look|seem) related|"
    r"(?:can'?t|cannot|couldn'?t|could not) be (?:it|that|this|the (?:cause|culprit|problem))|"
    r"(?:is|was)n'?t (?:it|that|the (?:cause|culprit|problem))|(?:is|was) not (?:it|that|the (?:cause|culprit))|"
    r"exonerat\w*|in the clear)"
)


def judgement(texts: list[EventFact]) -> tuple[float, list[str]]:
    """Lift from responders' words about a signal or dependency, statement by statement: confirmation or rollback
    up, ruled out down (negated and asked statements count for nothing)."""
    lift = 0.0
    refs: list[str] = []
    for e in texts:
        # "Nothing changed on the cluster, it's just the disk", "restarted it, no change": said of changes or of a
        # remedy, not of the thing failing — only words about the thing itself rule it out.
        verdicts = [judge(c) if judge(c) >= 0 or said(_NOT_THE_THING, c) else 0 for c in clauses(e.text)]
        if any(v < 0 for v in verdicts):
            lift -= 0.3
            refs.append(e.ref)
        elif any(v > 0 for v in verdicts) or any(said(ROLLBACK, c) for c in clauses(e.text)):
            lift += 0.15
            refs.append(e.ref)
    return max(-0.45, min(0.3, lift)), refs

