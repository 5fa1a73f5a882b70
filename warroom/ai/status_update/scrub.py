"""The safety pass for public text (:func:`public_safe`): what may reach a status page.

It strips or generalises people (names, emails, @mentions, chat ids), hosts, FQDNs, IPs and URLs (except an
allow-list such as the status page's own), ticket and incident numbers, internal service names, file paths, stack
traces, error codes and exception names, secrets and tokens, and markup (Slack mrkdwn, HTML, Markdown). It returns
what it removed, for the person approving the draft (secrets only by their length). It runs until the text no
longer changes, so it is idempotent, and it never returns empty text: a generic sentence for the state stands in.
Every rule works on whitespace-delimited words of bounded length, so hostile input costs linear time.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from ..safety import Redactor
from ..text import one_line

UpdateState = Literal["investigating", "identified", "monitoring", "resolved"]
STATES: tuple[UpdateState, ...] = get_args(UpdateState)

#: What stands in when nothing publishable is left.
GENERIC: dict[UpdateState, str] = {
    "investigating": "We are investigating an issue and will share more information soon.",
    "identified": "We have identified the issue and are working on a fix.",
    "monitoring": "A fix has been applied and we are monitoring the results.",
    "resolved": "This issue has been resolved.",
}

TEAM = "our team"
SYSTEM = "one of our systems"
AN_ERROR = "an error"


@dataclass(frozen=True, slots=True)
class Removed:
    """One thing the safety pass took out: its kind (``person``, ``host``, ``ticket``…) and the text."""

    kind: str
    text: str


# -- the safety pass -----------------------------------------------------------------------------------
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_SECRETS = tuple(pattern for _, pattern in Redactor.create().rules)
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u2069\ufeff]"
)
_STACK_LINE = re.compile(
    r"^\s*(?:Traceback \(most recent call last\)|File \".*\", line \d+|at [\w.$<>/]+\(.*\)|\.\.\. \d+ more"
    r"|Caused by:|goroutine \d+ \[|panic:|Exception in thread|[A-Za-z_][\w.]*(?:Error|Exception)(?::\s.*)?$)",
)
#: Text past this many characters is not read (a public update is a few sentences).
MAX_INPUT = 20_000
_MAX_TOKEN = 160
_OVERLONG = re.compile(r"\S{" + str(_MAX_TOKEN + 1) + ",}")
_SCRIPT = re.compile(r"(?is)<(script|style)\b[^>]*>.*?(?:</\1\s*>|$)")
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]*`", re.DOTALL)
_SLACK_TOKEN = re.compile(r"<([!@#][^<>\s|]*)(?:\|([^<>]*))?>")
_SLACK_LINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*://[^<>\s|]*)(?:\|([^<>]*))?>")
_AT_TAG = re.compile(r"(?is)<at\b[^>]{0,300}>.{0,300}?</at\s*>")
_HTML_LINK = re.compile(
    r"(?is)<a\b[^>]{0,300}?href\s*=\s*[\"']?([^\"'\s>]+)[\"']?[^>]{0,300}>(.{0,500}?)</a\s*>"
)
_MD_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_MD_LINK = re.compile(r"\[([^\]\n]{0,300})\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_TAG = re.compile(r"</?[a-zA-Z][^<>]*>|<!--.*?-->", re.DOTALL)
_TOKEN = re.compile(r"\S+")
_URLISH = re.compile(r"(?i)://|(?:^|\W)www\.")
_EDGE_PUNCT = "([{<\"'`*_~"
_TRAILING = ".,;:!?)]}>'\"`*_~"
_AT = re.compile(r"\S*@\S*")
_CHAT_ID = re.compile(
    r"(?i:\b(?:slack|teams|msteams|user|uid):[A-Za-z0-9:_-]{3,})|\b[UW](?=[A-Z0-9]*\d)[A-Z0-9]{8,}\b"
)
_CHANNEL_ID = re.compile(r"\b[CGD](?=[A-Z0-9]*\d)[A-Z0-9]{8,}\b")
_IPV4 = re.compile(r"\d+(?:\.\d+){3,}(?::\d+)?(?:/\d+)?")
_IPV6 = re.compile(r"(?i)(?<![\w:])(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?![\w:])")
_FQDN = re.compile(
    r"(?i)(?<![\w.-])(?:[a-z0-9_](?:[a-z0-9_-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9](?::\d+)?(?![\w-])"
)
_INC = re.compile(r"(?i)\binc[-_ #:]?\d\w*")
_TICKET = re.compile(
    r"(?i:\b(?:rfc|chg|req|prb|task|ritm|sr|cs|case|ticket|change|request|problem)[-_ #:]?\d+\w*)"
    r"|\b[A-Z][A-Z0-9]{1,9}-\d+\b|(?<![\w&])#\d+\b"
)
_CHANNEL = re.compile(r"(?<![\w&#])#[A-Za-z][\w-]*")
_PATH = re.compile(
    r"(?:(?<![\w/.])(?:~|\.{1,2})?(?:/[\w.@+-]+){2,}/?)|\b[A-Za-z]:\\[^\s]*|(?:\\\\[^\s]+)"
    r"|\b[\w-]+\.(?:py|pyc|java|class|jar|go|js|ts|rb|php|cs|cpp|c|h|rs|kt|scala|yaml|yml|json|toml|ini|conf|cfg|"
    r"log|sh|sql|tf|env|xml|properties)\b(?::\d+)*"
)
_ERROR_CODE = re.compile(
    r"(?i:\b(?:ora|sqlstate|errno|err|error|code|exit code|status code)[-_ :=#]*[0-9a-z]*\d[0-9a-z]*\b)"
    r"|\bE[A-Z]{4,}\b|\b0x[0-9a-fA-F]{4,}\b|\b[A-Z]\w*[a-z0-9](?:Exception|Error|Fault|Panic)\b"
)
_HEX_ID = re.compile(
    r"(?i)\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b|\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{10,}\b"
)
_LONG_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{24,}\b")
_KEBAB_SUFFIX = (
    r"api|db|svc|service|srv|server|worker|workers|cluster|prod|production|stg|staging|dev|test|qa|uat|k8s|node|"
    r"pod|proxy|lb|cache|redis|kafka|queue|gw|gateway|backend|frontend|internal|primary|replica|shard|host|vm|"
    r"ingress|daemon|cron|job|jobs|batch|etl|pg|mysql|mongo|es|rds|sqs|sns|lambda|fn|app|web|edge"
)
_KEBAB = re.compile(
    r"(?i)(?<![\w-])(?=[\w-]*[a-z])(?:[a-z0-9]+(?:-[a-z0-9]+)*-\d[a-z0-9]*(?:-[a-z0-9]+)*"
    r"|[a-z0-9]+(?:-[a-z0-9]+)*-(?:" + _KEBAB_SUFFIX + r")(?:-[a-z0-9]+)*)(?![\w-])"
)
_KEY_VALUE = re.compile(r"(?<![\w=])[A-Za-z_][\w.-]*=[^\s)\]}>,;]*")
_SNAKE = re.compile(r"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\b")
_CAMEL = re.compile(r"\b[A-Za-z]*[a-z0-9][A-Z][A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*\b")
_MARKUP_CHARS = re.compile(r"[*`~_|<>{}\\^]|^\s*(?:#+|>+|[-+•]\s)", re.MULTILINE)
_STRAY_HASH = re.compile(r"#")
_PLACEHOLDER = re.compile("\ue000([\ue100-\uf8ff])\ue001")
#: Kinds whose removed text is not repeated to the approver (only its length is).
_UNREPEATED = ("secret", "overlong text")


def _words_pattern(terms: Iterable[str], *, flags: int = re.IGNORECASE) -> re.Pattern[str] | None:
    """A pattern for any of ``terms`` as whole words (longest first), or None for no terms."""
    clean = sorted({t.strip() for t in terms if len(t.strip()) >= 3}, key=len, reverse=True)
    if not clean:
        return None
    alternatives = "|".join(re.escape(t) for t in clean)
    return re.compile(r"(?<![\w@.-])(?:" + alternatives + r")(?::\d{1,5}\b)?(?![\w-]|\.\w)", flags)


def _person_terms(people: Iterable[str]) -> tuple[list[str], list[str]]:
    """(whole forms matched case-insensitively, single name parts matched as written in Title case)."""
    whole: list[str] = []
    parts: list[str] = []
    for person in people:
        p = person.strip().strip("<>@").split("|")[0].strip()
        if not p:
            continue
        whole.append(p)
        local = p.split("@")[0] if "@" in p else p
        if "@" in p or " " in p.strip() or "." in local:
            for part in re.split(r"[\s._+-]+", local):
                if len(part) >= 3 and part.isalpha():
                    parts.append(part[:1].upper() + part[1:].lower())
            if "@" in p:
                whole.append(" ".join(w.capitalize() for w in re.split(r"[._+-]+", local) if w))
    return whole, parts


@dataclass(frozen=True)
class _Pass:
    """The compiled safety pass for one set of known people, hosts, internal and public terms."""

    people: re.Pattern[str] | None
    name_parts: re.Pattern[str] | None
    internal: re.Pattern[str] | None
    public: re.Pattern[str] | None
    urls: frozenset[str]

    @classmethod
    def build(
        cls,
        *,
        known_people: Iterable[str],
        known_hosts: Iterable[str],
        internal_terms: Iterable[str],
        public_terms: Iterable[str],
        allowed_urls: Iterable[str],
    ) -> _Pass:
        public = [p.strip() for p in public_terms if p.strip()]
        public_lower = {p.lower() for p in public}
        whole, parts = _person_terms(known_people)
        internal = [t for t in [*known_hosts, *internal_terms] if t.strip().lower() not in public_lower]
        return cls(
            people=_words_pattern(whole),
            name_parts=_words_pattern(parts, flags=0),
            internal=_words_pattern(internal),
            public=_words_pattern(public),
            urls=frozenset(_norm_url(u) for u in allowed_urls if u.strip()),
        )

    def run(self, text: str, removed: list[Removed]) -> str:
        kept: list[str] = []

        def keep(value: str) -> str:
            kept.append(value)
            return f"\ue000{chr(0xE100 + len(kept) - 1)}\ue001"

        def sub(pattern: re.Pattern[str] | None, kind: str, repl: str | Callable[[str], str], s: str) -> str:
            if pattern is None:
                return s

            def one(m: re.Match[str]) -> str:
                found = m.group(0).strip()
                shown = f"{len(found)} characters" if kind in _UNREPEATED else found
                removed.append(Removed(kind, shown))
                return repl if isinstance(repl, str) else repl(m.group(0))

            return pattern.sub(one, s)

        out = unicodedata.normalize("NFKC", text)
        out = _PRIVATE.sub("", html.unescape(out))
        out = _INVISIBLE.sub(lambda m: "\n" if m.group(0) in "\u000b\u000c" else "", out)
        out = self._stack_traces(out, removed)
        # No word of a public update is this long; dropping such runs also bounds every rule's work below.
        out = sub(_OVERLONG, "overlong text", " ", out)
        for pattern in _SECRETS:
            out = sub(pattern, "secret", "", out)
        out = sub(_SCRIPT, "markup", " ", out)
        out = sub(_CODE, "code", " ", out)
        out = sub(_AT_TAG, "person", f" {TEAM} ", out)
        out = _SLACK_TOKEN.sub(lambda m: self._slack_token(m, removed), out)
        out = _SLACK_LINK.sub(lambda m: f"{m.group(2) or ''} ({m.group(1)})", out)
        out = _HTML_LINK.sub(lambda m: f"{_TAG.sub('', m.group(2))} ({m.group(1)})", out)
        out = sub(_MD_IMAGE, "markup", " ", out)
        out = _MD_LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", out)
        out = sub(_TAG, "markup", " ", out)
        out = _TOKEN.sub(lambda m: self._url_token(m.group(0), removed, keep), out)
        out = sub(_AT, "person", lambda found: TEAM if re.search(r"[^\W\d_]", found) else " ", out)
        out = sub(_CHAT_ID, "person", TEAM, out)
        out = sub(_CHANNEL_ID, "channel", "", out)
        if self.public is not None:
            out = self.public.sub(lambda m: keep(m.group(0)), out)
        out = sub(_INC, "ticket", "", out)
        out = sub(_TICKET, "ticket", "", out)
        out = sub(self.people, "person", TEAM, out)
        out = sub(self.name_parts, "person", TEAM, out)
        out = sub(self.internal, "internal name", _system_or_nothing, out)
        out = sub(_IPV4, "ip", SYSTEM, out)
        out = sub(_IPV6, "ip", SYSTEM, out)
        out = sub(_PATH, "path", "", out)
        out = sub(_FQDN, "host", SYSTEM, out)
        out = sub(_CHANNEL, "channel", "", out)
        out = sub(_ERROR_CODE, "error code", AN_ERROR, out)
        out = sub(_HEX_ID, "identifier", "", out)
        out = sub(_LONG_TOKEN, "secret", "", out)
        out = sub(_KEBAB, "internal name", SYSTEM, out)
        out = sub(_KEY_VALUE, "identifier", "", out)
        out = sub(_SNAKE, "identifier", "", out)
        out = sub(_CAMEL, "identifier", "", out)
        out = _MARKUP_CHARS.sub(" ", out)
        out = _STRAY_HASH.sub("", out)
        out = _PLACEHOLDER.sub(lambda m: kept[ord(m.group(1)) - 0xE100], out)
        return _tidy(out)

    @staticmethod
    def _stack_traces(text: str, removed: list[Removed]) -> str:
        lines = text.splitlines()
        out: list[str] = []
        dropping = False
        for line in lines:
            if _STACK_LINE.match(line) or (dropping and re.match(r"^(?:\s{2,}|\t)\S", line)):
                if not dropping:
                    removed.append(Removed("stack trace", one_line(line, 80)))
                dropping = True
                continue
            dropping = False
            out.append(line)
        return "\n".join(out)

    @staticmethod
    def _slack_token(m: re.Match[str], removed: list[Removed]) -> str:
        target = m.group(1)
        if target.startswith("@"):
            removed.append(Removed("person", m.group(0)))
            return f" {TEAM} "
        removed.append(Removed("channel" if target.startswith("#") else "mention", m.group(0)))
        return " "

    def _url_token(self, token: str, removed: list[Removed], keep: Callable[[str], str]) -> str:
        if not _URLISH.search(token):
            return token
        core = token.strip(_EDGE_PUNCT).rstrip(_TRAILING)
        start = token.find(core)
        if core and _norm_url(core) in self.urls and "\ue000" not in core:
            return token[:start] + keep(core) + token[start + len(core) :]
        removed.append(Removed("url", core or token))
        if not core:
            return " "
        return token[:start] + " " + token[start + len(core) :]


def _norm_url(url: str) -> str:
    return url.strip().rstrip("/").lower()


_REPEATS = re.compile(
    r"\b("
    + re.escape(TEAM)
    + "|"
    + re.escape(SYSTEM)
    + "|"
    + re.escape(AN_ERROR)
    + r")(?:\s*(?:,|and|or|/|&)?\s*\1\b)+",
    re.IGNORECASE,
)


_DANGLING = re.compile(
    r"\s+(?:and|or|in|at|on|per|via|from|to|with|after|by|see|for|of|the|a|an)(?=[.,;:!?]|\s*$)",
    re.IGNORECASE,
)


def _tidy(text: str) -> str:
    out = re.sub(r"\s+", " ", text)
    out = _REPEATS.sub(lambda m: m.group(1), out)
    out = re.sub(r"[(\[{]\s*[,;:.\-–—]*\s*[)\]}]", "", out)
    out = re.sub(r"\s+([,.;:!?)\]}])", r"\1", out)
    out = re.sub(r"([(\[{])\s+", r"\1", out)
    out = re.sub(r"[,;:]+(?=[.!?])", "", out)
    out = _DANGLING.sub("", out)
    out = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", out)
    out = re.sub(r"\s+", " ", out)
    out = out.lstrip(" ,;:.!?)]}-–—/|=+").rstrip(" ,;:([{-–—/|=+")
    return re.sub(r"(^|[.!?]\s)([a-z])", lambda m: m.group(1) + m.group(2).upper(), out)


def _system_or_nothing(found: str) -> str:
    """An internal name that is a ticket or incident number goes; any other becomes "one of our systems"."""
    return "" if _INC.fullmatch(found) or _TICKET.fullmatch(found) else SYSTEM


_PHRASES = re.compile("|".join(re.escape(p) for p in (TEAM, SYSTEM, AN_ERROR)), re.IGNORECASE)


def _has_words(text: str) -> bool:
    """Whether anything but the safety pass's own phrases is left (two words at least)."""
    return len(re.findall(r"[^\W\d_]{2,}", _PHRASES.sub(" ", text))) >= 2


def public_safe(
    text: str,
    *,
    known_people: Iterable[str] = (),
    known_hosts: Iterable[str] = (),
    internal_terms: Iterable[str] = (),
    public_terms: Iterable[str] = (),
    allowed_urls: Iterable[str] = (),
    state: UpdateState = "investigating",
) -> tuple[str, tuple[Removed, ...]]:
    """``text`` made fit for a public page, and what was removed from it.

    ``known_people`` (names, emails, chat ids), ``known_hosts`` and ``internal_terms`` (service names, alert
    names, change ids) are generalised wherever they appear; ``public_terms`` (the public component names) and
    ``allowed_urls`` (the status page's own) are kept even where a rule would take them. The pass runs until
    the text no longer changes, so it is idempotent; when nothing publishable is left, the generic sentence for
    ``state`` stands in."""
    rules = _Pass.build(
        known_people=known_people,
        known_hosts=known_hosts,
        internal_terms=internal_terms,
        public_terms=public_terms,
        allowed_urls=allowed_urls,
    )
    removed: list[Removed] = []
    out = text
    if len(out) > MAX_INPUT:
        removed.append(Removed("overlong text", f"{len(out) - MAX_INPUT:,} characters past {MAX_INPUT:,}"))
        out = out[:MAX_INPUT]
    for _ in range(12):
        nxt = rules.run(out, removed)
        if nxt == out:
            break
        out = nxt
    else:
        out = ""
    if not _has_words(out):
        out = GENERIC[state]
    unique = tuple(dict.fromkeys(r for r in removed if r.text))
    return out, unique
