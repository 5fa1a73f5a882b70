"""Failure signatures: the recurring ways services break, recognised in alert and chat text.

Each :class:`Signal` is a named pattern (certificate expiry, expired or revoked credentials, connection-pool
exhaustion, DNS failure, OOM, disk full, CPU saturation, traffic surge, third-party outage, network fault, database
locking/replication, rate limiting by a provider, crash loops, queue backlog, bad configuration). RCA uses them as
candidate causes and to connect changes to symptoms; the postmortem uses them for contributing factors and
follow-up actions. How responders' statements are read is :mod:`warroom.ai.statements`; who is a third-party
provider is :mod:`warroom.ai.providers`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
    #: The failure surfaces at a time set when the thing was made (a certificate or a credential expiring): a change
    #: that touches it stays suspect for weeks.
    latent: bool = False
    #: It can be the cause itself, with no change or dependency behind it (a traffic surge, a provider's rate limit),
    #: rather than only what some cause did (memory, a pool, a network fault).
    itself: bool = False


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
        latent=True,
    ),
    Signal(
        "credentials",
        "Credentials expired or revoked{where}",
        _p(
            r"password authentication failed|authentication failed for|"
            r"invalid (?:credentials|api key|access key|token|signature)|signature verification failed|"
            r"(?:credentials?|token|lease|secret|password|api key|access key|sas|signature|client secret)s?\W+"
            r"(?:\w+\W+){0,5}?(?:expired|revoked)|"
            r"expired (?:token|credentials?|lease|password|sas|signature|secret|api key|client secret)|"
            # Azure storage's word for an expired SAS
            r"signature not valid in the specified time frame|access denied for user|login failed for user"
        ),
        (
            "Renew credentials before they expire{where}",
            "Re-read dynamic credentials when a lease reaches its maximum TTL, rotate them before expiry, and review "
            "TTL changes with every consumer of the credential.",
        ),
        (
            "Alert on credential expiry and auth failures{where}",
            "Alert on leases and credentials nearing expiry and on authentication failures against each database or API.",
        ),
        touches=_p(
            r"(?<![a-z])(?:ttl|leases?|credentials?|secrets?|passwords?|tokens?|api[ _-]?keys?|vault|key vault|iam|rotat\w*|"
            r"sas|validity)(?![a-z])"
        ),
        # Mostly the symptom of a change that set the expiry, or of an identity provider failing.
        weight=0.8,
        latent=True,
    ),
    Signal(
        "connection-pool",
        "Database connection pool exhausted{where}",
        _p(
            r"connection[_ ]?pool|pool\w*\W+(?:\w+\W+){0,3}?(?:exhaust|saturat|full|timeout|limit)|too many connections|"
            r"max[_ ]connections|remaining connection slots|could not (?:obtain|acquire|get) (?:a )?connection|"
            r"pgbouncer|hikari\w*|no (?:free|available) connections|connections? (?:exhausted|saturated)|"
            r"pool[_ ]?wait|(?:waiting|queu\w*) (?:on|for) (?:a )?(?:free )?connection"
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
        # More replicas, more pools: scaling out multiplies the connections a service opens.
        touches=_p(
            r"\b(?:pool(?:ing|s)?|pgbouncer|max[_ ]connections|connection (?:limit|settings?)|(?:min|max)?replicas|"
            r"scal\w*\W+(?:[\w-]+\W+){0,2}?(?:up|out|from \d+ to \d+))\b"
        ),
        # A pool cut in the morning is exhausted at the evening peak.
        slow=True,
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
        # A cache shields the origin's capacity: a change to what is cached (a bypass rule, a TTL, a cache key)
        # changes the load that reaches it — unnoticed until the peak.
        touches=_p(
            r"\b(?:replicas?|autoscal\w*|hpa|capacity|node pools?|instance (?:type|count)|"
            r"cach(?:e|es|ed|ing)\W+(?:[\w-]+\W+){0,3}?(?:rules?|bypass\w*|ttls?|keys?|polic\w*|headers?|control)|"
            r"bypass\w*\W+(?:[\w-]+\W+){0,2}?cache)\b"
        ),
        # A ceiling lowered in the morning is reached at the evening peak.
        slow=True,
        itself=True,
    ),
    Signal(
        "third-party",
        "Third-party provider outage{where}",
        _p(
            # (not "upstream": in a proxy's or a mesh's words — envoy's "upstream request timeout" — it is the next
            # service of ours along the path)
            r"(?:third[- ]party|provider|vendor|partner|external)\W+(?:\w+\W+){0,5}?"
            r"(?:5\d\d|5xx|errors?|outage|down|unavailable|degraded|timeouts?|incident)|"
            r"(?:5\d\d|5xx|errors?|outage|degraded|timeouts?)\W+(?:\w+\W+){0,4}?(?:from|at|calling|on) (?:the )?"
            r"(?:third[- ]party|provider|vendor|partner|external)|vendor status|provider status|"
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
            r"switch\w* (?:fail\w*|down|reboot\w*)|cross[- ]az|inter[- ]region|vpn tunnel|tcp retransmi\w*|"
            r"crc errors?|rx_crc|\bnic\b|\bflapping\b"
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
        itself=True,
    ),
    Signal(
        "node",
        "Node-level fault (kernel, cgroups, conntrack, node image){where}",
        _p(
            r"\bcgroups?(?: ?v[12])?\b|nf_conntrack|\bconntrack\b|\bsysctl\b|\bdmesg\b|kernel(?::| panic| errors?| bug)|"
            r"\bulimit\b|too many open files|(?:reads?|reading|sees?|seeing|thinks?) (?:the )?(?:whole )?node(?:'s)? memory|"
            r"node (?:memory|image|kernel)|containerd|\bcos\b image"
        ),
        (
            "Qualify node images{where}",
            "Roll node pool and image upgrades through a canary pool running each workload, and keep kernel settings "
            "(sysctls, conntrack limits) in the image, not in a role applied after it.",
        ),
        ("Alert on node-level limits{where}", "Alert on conntrack use, kernel errors and OOM kills per node."),
        weight=0.8,
        # A node image, node pool upgrade, reimage or kernel patch changes all of these at once; it reaches each
        # workload as its pods land on the new nodes, hours after the change began.
        touches=_p(
            r"\b(?:node ?pools?|node images?|reimag\w*|kernel|os image|\bami\b|base image|cos_containerd|"
            r"ubuntu|debian|rhel|packer|hypervisors?|node upgrade|gke|eks|aks)\b"
        ),
        slow=True,
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

def matching(text: str) -> list[Signal]:
    """Signals whose pattern occurs in ``text``."""
    return [s for s in SIGNALS if s.pattern.search(text)]
