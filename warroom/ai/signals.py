"""Failure signatures: the recurring ways services break, recognised in alert and chat text.

Each :class:`Signal` is a named pattern (certificate expiry, connection-pool exhaustion, DNS failure, OOM, disk
full, CPU saturation, traffic surge, third-party outage, network fault, database locking/replication, rate
limiting by a provider, crash loops, queue backlog, bad configuration). RCA uses them as candidate causes and to
connect changes to symptoms; the postmortem uses them for contributing factors and follow-up actions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Signal:
    key: str
    #: Names the cause: "{where}" is replaced by the service(s) it was seen on.
    title: str
    pattern: re.Pattern[str]
    #: A follow-up that prevents a repeat, and one that detects it earlier.
    prevent: tuple[str, str]
    detect: tuple[str, str]
    #: How strongly the signal points at a cause rather than a consequence (0..1).
    weight: float = 1.0
    #: What the description of a change that touches this area says (a TLS rotation, a schema migration…).
    touches: re.Pattern[str] | None = None
    #: The failure builds up over hours (a leak, a filling disk): a change long before the start stays suspect.
    slow: bool = False


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


SIGNALS: tuple[Signal, ...] = (
    Signal(
        "certificate-expiry",
        "TLS certificate expired or invalid{where}",
        _p(
            r"certificate\w*\W+(?:\w+\W+){0,6}?(?:expir\w*|invalid|not valid|untrusted|revoked|mismatch)|"
            r"(?:expir\w*|invalid)\W+(?:\w+\W+){0,3}?(?:tls|ssl|x509)?\s*cert\w*|x509|ssl\w*[_ ]?(?:handshake|error)|"
            r"tls[_ ]?(?:handshake|error|alert)|cert(?:ificate)?\s*(?:has\s+)?expired|notafter|ssl[_ ]expiry|"
            r"certificate verify failed"
        ),
        (
            "Automate certificate renewal{where}",
            "Renew certificates automatically (ACME / cert-manager) and remove "
            "manual renewal steps; keep an inventory of every endpoint's certificate and owner.",
        ),
        (
            "Alert on certificate expiry 21 days ahead{where}",
            "Probe every TLS endpoint and alert when a "
            "certificate expires in under 21 days, paging at 7 days.",
        ),
        touches=_p(r"\b(?:tls|ssl|x509|certificates?|certs?|ca bundle|cert chain|keystore|truststore)\b"),
    ),
    Signal(
        "connection-pool",
        "Database connection pool exhausted{where}",
        _p(
            r"connection[_ ]?pool|pool\w*\W+(?:\w+\W+){0,3}?(?:exhaust|saturat|full|timeout|limit)|too many connections|"
            r"max[_ ]connections|remaining connection slots|could not (?:obtain|acquire|get) (?:a )?connection|"
            r"pgbouncer|hikari\w*|no (?:free|available) connections|connections? (?:exhausted|saturated)"
        ),
        (
            "Right-size connection pools{where}",
            "Set pool sizes from the database's connection limit and the number "
            "of replicas (including autoscaling maximums); add timeouts and back-pressure instead of unbounded waits.",
        ),
        (
            "Alert on pool saturation{where}",
            "Export pool usage and wait time and alert above 80 % for 5 minutes.",
        ),
        touches=_p(r"\b(?:pool(?:ing|s)?|pgbouncer|max[_ ]connections|connection (?:limit|settings?))\b"),
    ),
    Signal(
        "dns",
        "DNS resolution failing{where}",
        _p(
            r"\bdns\b|nxdomain|servfail|name resolution|could not resolve|couldn't resolve|no such host|"
            r"resolv\w* (?:fail|error|timeout)|coredns|getaddrinfo|eai_again|temporary failure in name"
        ),
        (
            "Harden DNS{where}",
            "Add resolver redundancy and caching, validate zone changes before publishing, and "
            "keep TTLs that allow a quick rollback.",
        ),
        (
            "Probe DNS resolution{where}",
            "Synthetic checks that resolve the critical names from each environment.",
        ),
        touches=_p(r"\b(?:dns|zones?|resolvers?|nameservers?|route ?53|coredns|cname|a records?)\b"),
    ),
    Signal(
        "memory",
        "Memory exhaustion (OOM){where}",
        _p(
            r"\boom\b|oom[_ ]?kill\w*|out of memory|memory (?:limit|pressure|leak|exhaust\w*)|heap (?:space|exhaust\w*)|"
            r"gc overhead|java\.lang\.outofmemoryerror|memory usage (?:above|over|at) 9\d"
        ),
        (
            "Fix memory growth and set limits{where}",
            "Find the allocation growth (heap profile), set requests/limits "
            "from measured peaks, and load-test memory before release.",
        ),
        (
            "Alert on memory trend{where}",
            "Alert on sustained memory growth and on OOM kills, before restarts cascade.",
        ),
        touches=_p(r"\b(?:memory|heap|caches?|caching|jvm|xmx|gc|buffers?)\b"),
        slow=True,
    ),
    Signal(
        "disk",
        "Disk or volume full{where}",
        _p(
            r"disk\w*\W+(?:\w+\W+){0,2}?(?:full|space|pressure|usage)|no space left|filesystem\W+(?:\w+\W+){0,3}?full|"
            r"inodes?\b|volume\W+(?:\w+\W+){0,3}?(?:full|9\d ?%)|wal (?:volume|disk)|storage (?:full|exhaust\w*)"
        ),
        (
            "Add retention and headroom{where}",
            "Rotate and expire logs and WAL, size volumes with headroom, and "
            "enable volume auto-expansion where the platform allows.",
        ),
        (
            "Alert on disk fill rate{where}",
            "Alert on predicted time-to-full (e.g. full within 6 h), not only on %.",
        ),
        touches=_p(r"\b(?:disk|volumes?|storage|retention|log rotation|wal|backups?|replication slots?)\b"),
        slow=True,
    ),
    Signal(
        "cpu",
        "CPU saturation{where}",
        _p(
            r"\bcpu\b\W+(?:\w+\W+){0,3}?(?:throttl\w*|saturat\w*|usage|high|9\d ?%|100 ?%)|cpu[_ ]?throttl\w*|"
            r"load average|run queue"
        ),
        (
            "Add CPU headroom{where}",
            "Raise CPU limits/requests or scale out from measured peaks; remove hot loops.",
        ),
        ("Alert on CPU throttling{where}", "Alert on throttling and saturation before latency suffers."),
        weight=0.7,
        touches=_p(r"\b(?:cpu|threads?|concurrency|regex(?:es)?)\b"),
    ),
    Signal(
        "capacity",
        "Traffic surge beyond capacity{where}",
        _p(
            r"traffic\W+(?:\w+\W+){0,3}?(?:spike|surge|increase|doubl\w*|[0-9.]+ ?x)|request rate\W+(?:\w+\W+){0,4}?"
            r"(?:spike|surge|[0-9.]+ ?x|times)|\bsurge\b|capacity|autoscal\w*|max(?:imum)? replicas|\bhpa\b|"
            r"flash sale|campaign|thundering herd|load shedding|scal\w+ (?:limit|out|up) "
        ),
        (
            "Plan capacity for peaks{where}",
            "Load-test to the expected peak plus margin, raise autoscaling maximums, "
            "and agree launch/campaign notices with the teams that drive traffic.",
        ),
        ("Alert on capacity headroom{where}", "Alert when utilisation nears the autoscaling maximum."),
        touches=_p(r"\b(?:replicas?|autoscal\w*|hpa|capacity|node pools?|instance (?:type|count))\b"),
        # A ceiling lowered in the morning is reached at the evening peak.
        slow=True,
    ),
    Signal(
        "third-party",
        "Third-party provider outage{where}",
        _p(
            r"(?:third[- ]party|upstream|provider|vendor|partner|external)\W+(?:\w+\W+){0,5}?"
            r"(?:5\d\d|5xx|errors?|outage|down|unavailable|degraded|timeouts?|incident)|"
            r"(?:5\d\d|5xx|errors?|outage|degraded|timeouts?)\W+(?:\w+\W+){0,4}?(?:from|at|calling|on) (?:the )?"
            r"(?:third[- ]party|upstream|provider|vendor|partner|external)|vendor status|provider status|"
            r"(?:their|vendor's|provider's) status ?page"
        ),
        (
            "Degrade gracefully when the provider fails{where}",
            "Add timeouts, a circuit breaker and a fallback "
            "(queue and retry, secondary provider, or a clear message to users) around the provider's API.",
        ),
        (
            "Monitor the provider{where}",
            "Subscribe to the provider's status feed and alert on its error rate separately from our own.",
        ),
        touches=_p(r"\b(?:provider|vendor|sdk|integration|api keys?)\b"),
    ),
    Signal(
        "network",
        "Network fault{where}",
        _p(
            r"packet[_ ]?loss|\bbgp\b|link (?:down|flap\w*)|interface\W+(?:\w+\W+){0,2}?down|network partition|"
            r"no route to host|host unreachable|\bmtu\b|firewall|route (?:leak|withdraw\w*)|peering|transit|"
            r"switch\w* (?:fail\w*|down|reboot\w*)|cross[- ]az|inter[- ]region|vpn tunnel|tcp retransmi\w*"
        ),
        (
            "Remove the single network path{where}",
            "Add redundant links/paths and validate network changes in a "
            "staged rollout with automatic rollback.",
        ),
        ("Monitor network paths{where}", "Alert on packet loss and retransmits between tiers and regions."),
        touches=_p(
            r"\b(?:network\w*|switch(?:es)?|routers?|firewalls?|bgp|vlan|lacp|mtu|load balancers?|peering|subnets?|vpc|security groups?|firmware)\b"
        ),
    ),
    Signal(
        "database",
        "Database locking or replication problem{where}",
        _p(
            r"replication lag|replica lag|deadlock|lock (?:wait|contention|timeout)|long[- ]running (?:query|transaction)|"
            r"slow quer\w*|\bfailover\b|primary (?:down|unavailable|failed)|read[- ]only mode|vacuum|table bloat|"
            r"migration\W+(?:\w+\W+){0,3}?(?:lock|stuck|blocked)|missing index|full table scan"
        ),
        (
            "Make schema changes and queries safe{where}",
            "Run migrations online (no long locks), add the missing index, and set statement/lock timeouts.",
        ),
        (
            "Alert on locks and replication lag{where}",
            "Alert on lock waits, long transactions and replica lag.",
        ),
        touches=_p(
            r"\b(?:migrations?|schema|alter table|index(?:es)?|vacuum|columns?|database|queries|query)\b"
        ),
    ),
    Signal(
        "rate-limit",
        "Rate limited by a dependency{where}",
        _p(r"\b429\b|rate[- ]?limit\w*|throttled by|quota (?:exceeded|exhausted)|too many requests"),
        (
            "Stay within rate limits{where}",
            "Batch and cache calls, honour Retry-After, and raise the quota with the owner before launches.",
        ),
        ("Alert on throttling{where}", "Alert on 429 rates from dependencies before users see errors."),
        weight=0.8,
        touches=_p(r"\b(?:rate[- ]?limit\w*|throttl\w*|quotas?|retr(?:y|ies)|backoff|batch\w*)\b"),
    ),
    Signal(
        "crash-loop",
        "Instances crash-looping{where}",
        _p(
            r"crashloop\w*|restart\w* (?:loop|repeatedly)|panic:|segfault|segmentation fault|exit code [1-9]|"
            r"liveness probe failed|back-off restarting"
        ),
        (
            "Make startup robust{where}",
            "Fail readiness, not liveness, on dependency errors; add startup tests.",
        ),
        ("Alert on restarts{where}", "Alert on restart rate per deployment."),
        weight=0.6,
        touches=_p(r"\b(?:startup|entrypoint|liveness|readiness|base image|dockerfile)\b"),
    ),
    Signal(
        "queue-backlog",
        "Queue backlog / consumer lag{where}",
        _p(
            r"consumer lag|queue\W+(?:\w+\W+){0,2}?(?:depth|backlog|growing)|backlog\W+(?:\w+\W+){0,2}?(?:grow\w*|messages)|"
            r"kafka\W+(?:\w+\W+){0,3}?lag|messages (?:pending|backlog)|dead[- ]letter"
        ),
        ("Scale and protect consumers{where}", "Autoscale consumers on lag and isolate poison messages."),
        ("Alert on consumer lag{where}", "Alert on lag age, not only message count."),
        weight=0.6,
        touches=_p(r"\b(?:consumers?|queues?|kafka|partitions?|workers?)\b"),
        slow=True,
    ),
    Signal(
        "config",
        "Bad configuration or feature-flag change{where}",
        _p(
            r"feature[- ]flag|config(?:uration)?\W+(?:\w+\W+){0,3}?(?:change|push|error|invalid|typo|wrong)|"
            r"misconfigur\w*|flag (?:flip|enabled|turned on)|toggle"
        ),
        (
            "Validate configuration before rollout{where}",
            "Schema-check and canary configuration and flag changes like code, with one-click rollback.",
        ),
        (
            "Alert on config-driven error spikes{where}",
            "Annotate dashboards with config changes and alert on error spikes right after them.",
        ),
        weight=0.8,
        touches=_p(r"\b(?:config\w*|feature[- ]?flags?|flags?|toggles?|settings?|environment variables?)\b"),
    ),
)

BY_KEY = {s.key: s for s in SIGNALS}

#: Words in a chat line that say a change or cause was fixed by undoing it, or was ruled out.
ROLLBACK = re.compile(
    r"(?i)\b(?:roll(?:ed|ing|s)?(?: it| them| this| that)?[ -]?back|revert\w*|undo(?:ne|ing)?|backed (?:it )?out|"
    r"cancel(?:led|ling|ed|ing|s)?\b|paus(?:e|ed|ing)\b|"
    r"disabl(?:e|ed|ing)\b|turn\w*\s+(?:[\w.-]+\s+){0,3}?off\b|switch\w*\s+(?:[\w.-]+\s+){0,3}?off\b|"
    r"flipp?\w*\s+(?:[\w.-]+\s+){0,3}?(?:back|off)\b|(?:flag|toggle|switch) (?:is )?off\b|kill[- ]switch)"
)
RULED_OUT = re.compile(
    r"(?i)\b(?:ruled? (?:it |that |them |this )?out|not (?:the )?(?:cause|culprit|related|it|problem|issue)\b|"
    r"unrelated|red herring|doubt (?:it|that)|no (?:effect|change|improvement|difference)|nothing changed|"
    r"(?:made|makes|making) no difference|didn'?t (?:help|change anything|fix (?:it|anything))|"
    r"did not (?:help|change anything|fix)|does ?n[o']t (?:look|seem) related|"
    r"(?:can'?t|cannot|couldn'?t|could not) be (?:it|that|this|the (?:cause|culprit|problem))|"
    r"(?:is|was)n'?t (?:it|that|the (?:cause|culprit|problem))|(?:is|was) not (?:it|that|the (?:cause|culprit))|"
    r"(?:only|just) (?:touched|touches|changed|affected|affects|applies|applied) (?:to )?(?:the )?\S+|"
    r"(?:only|just) an? (?:[\w-]+ ){0,3}(?:change|tweak|bump|update|copy|docs?|typo)\b|"
    r"(?:does ?n[o']t|did ?n[o']t|never) (?:even )?touch\w*|not (?:even )?(?:in|on) the (?:[\w-]+ )?path|"
    r"(?:is|was|are|were) (?:[\w-]+ ){1,3}only(?=\s*(?:[,.;:!)]|$|though|anyway|so|as far))|"
    r"exonerat\w*|in the clear)"
)
CONFIRMED = re.compile(
    r"(?i)\b(?:confirm\w*|root cause|caused by|culprit|that'?s it|smoking gun|"
    r"recover\w*|error rate (?:back|dropped)|fixed|mitigated|back to normal)\b"
)
#: After a rollback: the trouble went away (the rolled-back change was the cause) …
RECOVERED = re.compile(
    r"(?i)\b(?:recover\w*|back to normal|(?:errors?|5xx|\d{3}s?|alerts?|latency|timeouts?|ooms?|restarts?)\w* "
    r"(?:are |is |have )?(?:gone|cleared|resolved|stopped|dropp\w*|falling|down to|back)|(?:fixed|mitigated|resolved) it|"
    r"all green|green again|healthy again|that fixed|that did it|that'?s it|(?:locks?|connections?) released|"
    r"draining|drained|unstuck|(?:flowing|moving|working|arriving|succeed\w*) again|(?:lookups|requests) succeed\w*)\b"
)
#: … or it did not (the change was not the cause).
NO_EFFECT = re.compile(
    r"(?i)\b(?:no (?:effect|change|improvement|difference)|nothing changed|(?:made|makes) no difference|"
    r"didn'?t (?:help|change anything|fix)|did not (?:help|fix)|still (?:failing|erroring|broken|down|seeing|"
    r"getting|the same|happening|elevated|high|\d+|5\d\d|5xx|timing out|throwing|oom\w*)|same (?:errors?|rate))"
)
#: Words before a phrase that turn it around ("not confirmed", "hasn't recovered", "can't rule it out").
_NEGATED = re.compile(
    r"(?i)(?:\b(?:not|no|never|without|nor|yet to)|n'?t)\s+(?:(?:yet|really|fully|quite|been|be|it|that|the|a)\s+){0,2}$"
)
#: A clause that asks rather than tells ("is it the flag?", "could it be 4.18?").
QUESTION = re.compile(r"\?\s*$|^\s*(?:is|was|could|can|did|does|should|maybe|might|what|which)\b", re.IGNORECASE)
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


#: Well-known third-party providers (payments, messaging, e-mail, cloud, CDN, identity, developer platforms). A
#: provider is recognised when one of these — or a declared dependency that is not one of our services — is named
#: together with outage or status-page language (:data:`OUTAGE`). Lower-case, as written in text.
PROVIDERS: tuple[str, ...] = (
    # payments
    "stripe", "adyen", "braintree", "paypal", "worldpay", "klarna", "plaid", "checkout.com",
    # messaging and e-mail
    "twilio", "vonage", "nexmo", "messagebird", "sinch", "sendgrid", "mailgun", "postmark", "mailchimp", "mandrill",
    # cloud and hosting
    "aws", "amazon web services", "gcp", "google cloud", "azure", "digitalocean", "heroku", "vercel", "netlify",
    "hetzner", "ovh", "linode", "oracle cloud", "ibm cloud",
    # CDN, DNS and edge
    "cloudflare", "fastly", "akamai", "cloudfront", "ns1", "dyn",
    # identity
    "okta", "auth0", "onelogin", "ping identity",
    # developer platforms and SaaS
    # (monitoring tools — Datadog, Sentry, PagerDuty — are left out: responders name them as where they saw errors)
    "github", "gitlab", "bitbucket", "docker hub", "npm", "pypi", "atlassian",
    "salesforce", "shopify", "zendesk", "algolia", "mapbox", "openai", "anthropic", "firebase", "apns", "fcm",
    "mongodb atlas", "snowflake", "confluent", "elastic cloud", "redis cloud",
)

#: Well-known providers' products, named in alerts and chat instead of the provider ("S3 PutObject InternalError",
#: "SQS ReceiveMessage 500"), and cloud region codes ("us-east-1"). Products we run ourselves on a provider (RDS,
#: EC2 instances) are left out: their failures are usually ours.
PRODUCTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_p(r"(?<![\w-])(?:s3|sqs|sns|dynamodb|kinesis|cloudfront|route ?53|aws lambda|elasticache|msk)(?![\w-])"), "aws"),
    (_p(r"(?<![\w-])(?:us|eu|ap|sa|ca|me|af|il)-(?:east|west|north|south|central|northeast|northwest|southeast|"
        r"southwest)-\d(?![\w-])"), "aws"),
    (_p(r"(?<![\w-])(?:gcs|google cloud storage|pub/?sub|bigquery|cloud run|firestore)(?![\w-])"), "gcp"),
    (_p(r"(?<![\w-])(?:azure blob|cosmos ?db|azure ad|entra id|azure front door)(?![\w-])"), "azure"),
)
#: A provider's own word on its state: its status page, health dashboard or status site.
STATUS_PAGE = _p(r"status ?page|status\.\S+|health dashboard|service health|health status")

#: Outage or status-page language: a clause naming a provider with these words says the provider is failing.
OUTAGE = re.compile(
    r"(?i)\b(?:outage|status ?page|status\.\S+|health dashboard|incident|degrad\w*|down\b|unavailable|disruption|"
    r"elevated (?:error|latenc|5xx|fail)\w*|(?:5\d\d|5xx)s?|errors?|timeouts?|timing out|failing|failures?|"
    r"unreachable|not responding|investigating|partial|major|recover\w*|service (?:issue|interruption))"
)
#: Words that say a named thing is someone else's service, for a dependency not in the well-known list.
THIRD_PARTY = re.compile(
    r"(?i)\b(?:status ?page|status\.\S+|health dashboard|vendor|provider|third[- ]party|"
    r"their (?:side|end|api|status|support)|"
    r"on their|support ticket|opened a (?:ticket|case) with)\b"
)


def matching(text: str) -> list[Signal]:
    """Signals whose pattern occurs in ``text``."""
    return [s for s in SIGNALS if s.pattern.search(text)]
