"""Text tools the engines share: tokens (with light stemming and incident-domain synonyms), a compact BM25
ranker, token estimates for budgets, and time formatting."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

_STOP = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it its
    me my no not of on or our so than that the their them then there these they this to us was we were what
    when where which while who whom why will with would you your about after again all also any because before
    being between both during each few further here just more most now off once only other over own same should
    some such too under until up very out did done get got please tell show give know any""".split()
)
_SUFFIXES = (
    "ations",
    "ation",
    "ions",
    "ion",
    "ings",
    "ing",
    "ies",
    "ied",
    "ers",
    "er",
    "ed",
    "es",
    "ly",
    "s",
    "y",
)

#: Words that mean the same thing in an incident; each group also yields its first word's stem.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("database", "db", "postgres", "postgresql", "pg", "mysql", "mariadb", "rds", "sql", "mongodb", "mongo"),
    ("certificate", "cert", "certs", "tls", "ssl", "x509", "handshake"),
    ("expire", "expiry", "expired", "expiration", "expiring", "notafter"),
    (
        "deploy",
        "deployment",
        "deployed",
        "release",
        "released",
        "rollout",
        "version",
        "build",
        "ship",
        "shipped",
    ),
    ("rollback", "revert", "reverted", "rolled", "undo"),
    ("dns", "nxdomain", "servfail", "resolver", "resolution", "coredns", "route53", "nameserver"),
    ("memory", "oom", "oomkilled", "heap", "rss", "swap"),
    ("pool", "pooler", "pgbouncer", "hikari"),
    ("latency", "slow", "slowness", "timeout", "timeouts", "p99", "p95", "duration"),
    (
        "error",
        "errors",
        "5xx",
        "500",
        "502",
        "503",
        "504",
        "failure",
        "failures",
        "failing",
        "failed",
        "exception",
    ),
    (
        "network",
        "packet",
        "packets",
        "bgp",
        "router",
        "switch",
        "firewall",
        "vpn",
        "mtu",
        "interface",
        "link",
    ),
    ("disk", "volume", "filesystem", "storage", "inode", "inodes"),
    ("cpu", "throttling", "throttled", "saturation", "saturated"),
    ("capacity", "traffic", "surge", "spike", "autoscaling", "autoscaler", "replicas", "hpa", "scale"),
    ("provider", "vendor", "third-party", "thirdparty", "upstream", "external", "partner"),
    ("config", "configuration", "flag", "feature", "setting", "settings", "toggle"),
    ("queue", "backlog", "lag", "consumer", "kafka", "rabbitmq", "sqs"),
    ("replication", "replica", "failover", "primary", "standby"),
    ("commander", "ic", "lead"),
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A light suffix strip (errors → error, expired/expiry → expir): enough to match word forms."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def _build_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for group in SYNONYM_GROUPS:
        canonical = "~" + stem(group[0])
        for word in group:
            for part in _WORD.findall(word):
                table.setdefault(stem(part), canonical)
    return table


_SYNONYMS = _build_synonyms()


def spaced(text: str) -> str:
    """``PostgresConnectionPoolExhausted`` → ``Postgres Connection Pool Exhausted``; ``_`` becomes a space."""
    return _CAMEL.sub(" ", text).replace("_", " ")


def words(text: str) -> list[str]:
    """Lower-case words, camelCase and snake_case split, stop words dropped (no stemming)."""
    spaced = _CAMEL.sub(" ", text)
    return [w for w in _WORD.findall(spaced.lower()) if len(w) > 1 and w not in _STOP]


def tokens(text: str) -> list[str]:
    """Stems, each followed by its synonym group's marker (``~database``) where it has one."""
    out: list[str] = []
    for w in words(text):
        s = stem(w)
        out.append(s)
        group = _SYNONYMS.get(s) or _SYNONYMS.get(w)
        if group is not None:
            out.append(group)
    return out


class Bm25:
    """Okapi BM25 over a small corpus (one incident's records), built once per question."""

    def __init__(self, docs: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.freqs = [Counter(d) for d in docs]
        self.lengths = [len(d) for d in docs]
        self.avg = (sum(self.lengths) / len(docs)) if docs else 0.0
        df: Counter[str] = Counter()
        for f in self.freqs:
            df.update(f.keys())
        n = len(docs)
        self.idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}

    def score(self, query: Iterable[str], index: int) -> float:
        f = self.freqs[index]
        norm = self.k1 * (1 - self.b + self.b * self.lengths[index] / (self.avg or 1.0))
        total = 0.0
        for term in set(query):
            tf = f.get(term, 0)
            if tf:
                total += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
        return total

    def scores(self, query: Iterable[str]) -> list[float]:
        q = list(query)
        return [self.score(q, i) for i in range(len(self.freqs))]


def overlap(a: Iterable[str], b: Iterable[str]) -> float:
    """Share of ``a``'s distinct tokens that also occur in ``b`` (0..1)."""
    sa = set(a)
    if not sa:
        return 0.0
    return len(sa & set(b)) / len(sa)


def estimate_tokens(text: str) -> int:
    """Tokens a BPE tokenizer would make of ``text``, conservatively (about 4 characters of English each;
    non-ASCII text counts more). No tokenizer download needed."""
    if not text:
        return 0
    non_ascii = sum(1 for ch in text if ord(ch) > 127)
    return (len(text) - non_ascii + 3) // 4 + non_ascii + 1


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, with an ellipsis when cut."""
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ,;:") + "…"


def one_line(text: str, limit: int = 240) -> str:
    return clip(" ".join(text.split()), limit)


def utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def minutes_between(later: datetime, earlier: datetime) -> float:
    """Minutes from ``earlier`` to ``later`` (negative when ``later`` is before)."""
    return (utc(later) - utc(earlier)).total_seconds() / 60


def fmt_time(at: datetime, *, day_of: datetime | None = None) -> str:
    """``14:05 UTC``, with the date in front when it is not the day of ``day_of``."""
    at = utc(at)
    if day_of is not None and utc(day_of).date() == at.date():
        return at.strftime("%H:%M UTC")
    return at.strftime("%Y-%m-%d %H:%M UTC")


def fmt_duration(delta: timedelta) -> str:
    """``45 min``, ``2 h 05 min``, ``3 d 4 h``."""
    minutes = max(0, round(delta.total_seconds() / 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"
