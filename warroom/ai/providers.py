"""Third-party providers: which names in alerts and chat are someone else's service, and what is said of them.

A provider is recognised when a well-known one (:data:`PROVIDERS`), one of its products or regions
(:data:`PRODUCTS`), a declared dependency that is not a service of ours, or a ``provider``/``vendor`` label is
named together with outage or status-page language (:data:`OUTAGE`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .context import AlertFact, EventFact, IncidentContext
from .safety import looks_like_injection
from .statements import QUESTION, ROLLBACK, clauses, judge, said


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


#: Well-known third-party providers (payments, messaging, e-mail, cloud, CDN, identity, developer platforms). A
#: provider is recognised when one of these — or a declared dependency that is not one of our services — is named
#: together with outage or status-page language (:data:`OUTAGE`). Lower-case, as written in text.
PROVIDERS: tuple[str, ...] = (
    # payments and banking
    "stripe", "adyen", "braintree", "paypal", "worldpay", "worldline", "klarna", "plaid", "checkout.com",
    "mollie", "paddle", "razorpay", "nuvei", "cybersource", "authorize.net", "global payments", "fiserv", "marqeta",
    "gocardless", "afterpay", "truelayer", "ingenico", "paysafe", "dlocal",
    # messaging, voice and e-mail
    "twilio", "vonage", "nexmo", "messagebird", "sinch", "infobip", "plivo", "telnyx",
    "clickatell", "sendgrid", "mailgun", "postmark", "mailchimp", "mandrill", "sparkpost", "amazon ses", "mailjet",
    "brevo", "sendinblue", "customer.io", "braze", "onesignal", "pusher", "ably", "intercom",
    # cloud and hosting
    "aws", "amazon web services", "gcp", "google cloud", "azure", "digitalocean", "heroku", "vercel", "netlify",
    "hetzner", "ovh", "ovhcloud", "linode", "akamai cloud", "oracle cloud", "ibm cloud", "scaleway", "vultr",
    "upcloud", "exoscale", "fly.io", "backblaze", "wasabi", "cloudinary", "imgix",
    # CDN, DNS and edge
    "cloudflare", "fastly", "akamai", "cloudfront", "ns1", "dyn", "gcore", "bunny", "bunnycdn", "stackpath",
    "edgio", "limelight", "imperva", "incapsula", "keycdn", "cdn77", "verizon edgecast", "edgecast", "dnsimple",
    "route53", "ultradns", "neustar", "quic.cloud",
    # identity
    "okta", "auth0", "onelogin", "ping identity", "pingone", "jumpcloud", "workos", "stytch",
    "cognito", "keycloak cloud",
    # maps, shipping, tax and other APIs
    "google maps", "mapbox", "tomtom", "easypost", "shippo", "shipengine", "aftership", "avalara",
    "taxjar", "onfido", "jumio", "sumsub", "veriff", "experian", "equifax", "transunion",
    # developer platforms and SaaS
    # (monitoring tools — Datadog, Sentry, PagerDuty — are left out: responders name them as where they saw errors;
    # names that are everyday words — Here, Square, Stream, Split, Render, Segment — are left out too: "here" in
    # "errors here since 10:02" names no one)
    "github", "gitlab", "bitbucket", "docker hub", "npm", "pypi", "atlassian", "circleci",
    "salesforce", "shopify", "zendesk", "algolia", "openai", "anthropic", "firebase", "apns", "fcm",
    "mongodb atlas", "snowflake", "confluent", "elastic cloud", "redis cloud", "aiven", "planetscale",
    "supabase", "launchdarkly", "contentful", "hubspot",
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
#: A cloud region code ("eu-west-1"): where our own services run, too — so a region alone names the provider failing
#: only with the words a provider's health page uses (:data:`REGION_OUTAGE`), not with "errors on checkout-api in
#: eu-west-1".
REGION = PRODUCTS[1][0]
REGION_OUTAGE = _p(
    r"\b(?:outage|degrad\w*|disruption|impair\w*|operational issue|service (?:issue|interruption|event)|"
    r"increased (?:api )?(?:error|latenc|fault)\w*|status ?page|status\.\S+|health dashboard|service health|"
    r"region(?:al)? (?:issue|event|failure|incident))"
)
#: A provider's own word on its state: its status page, health dashboard or status site.
#: Where a provider says how its service is: its status page or site ("status.stripe.com", DocuSign's "trust site"),
#: its cloud's health dashboard ("Azure Service Health", "GCP status dashboard", "AWS Health").
_STATUS_WORDS = (
    r"status ?(?:page|site|dashboard)|status\.\S+|trust ?(?:site|page)|trust\.\S+|health dashboard|service health|"
    r"health status|aws health"
)
STATUS_PAGE = _p(_STATUS_WORDS)

#: Outage or status-page language: a clause naming a provider with these words says the provider is failing.
OUTAGE = re.compile(
    rf"(?i)\b(?:outage|{_STATUS_WORDS}|incident|active event|degrad\w*|down\b|unavailable|disruption|"
    r"elevated (?:error|latenc|5xx|fail)\w*|(?:5\d\d|5xx)s?|errors?|timeouts?|timing out|failing|failures?|"
    r"unreachable|not responding|investigating|partial|major|recover\w*|service (?:issue|interruption)|"
    r"undeliver\w*|not (?:being )?delivered)"
)
#: Words that say a named thing is someone else's service, for a dependency not in the well-known list.
THIRD_PARTY = re.compile(
    rf"(?i)\b(?:{_STATUS_WORDS}|vendor|provider|third[- ]party|waiting (?:on|for) (?:them|their)|"
    r"their (?:side|end|api|status|support)|"
    r"on their|support ticket|opened a (?:ticket|case) with)\b|"
    # quoting a status page: "scaleway status: 'Object Storage fr-par - elevated error rates'"
    r"\bstatus\s*(?:says|:)\s*['\"‘“]"
)


#: Other names of a well-known provider in text (a full name, a former name) → the name :data:`PROVIDERS` gives
#: it. A cause names a provider by this canonical name (``provider:aws``); text naming it either way counts.
ALIASES: dict[str, str] = {
    "amazon web services": "aws", "google cloud": "gcp", "google cloud platform": "gcp", "microsoft azure": "azure",
    "nexmo": "vonage", "apple push notification service": "apns", "firebase cloud messaging": "fcm",
}
#: Labels of the domains well-known providers serve from (``sqs.eu-west-1.amazonaws.com``,
#: ``foo.blob.core.windows.net``) → the provider.
DOMAINS: dict[str, str] = {
    "amazonaws": "aws", "awsstatic": "aws", "amazon": "aws", "googleapis": "gcp", "windows": "azure",
    "azurewebsites": "azure", "azureedge": "azure", "stripecdn": "stripe", "fastlylb": "fastly",
    "akamaiedge": "akamai", "edgekey": "akamai", "githubusercontent": "github", "sendgrid": "sendgrid",
}
#: Second-level labels under which a host's own name is the third label (``api.acme.co.uk`` → acme).
_SECOND_LEVEL = frozenset("co com net org ac gov edu ltd plc ne or".split())
#: Host labels that name no one (``api.``, ``status.``, ``eu.``): skipped when a host is read for its owner.
_HOST_WORDS = frozenset("www api apis status app apps eu us cdn edge static hooks webhook webhooks".split())


def canonical(name: str) -> str:
    """The name a provider goes by in a cause: a well-known provider's (:data:`PROVIDERS`) when ``name`` is it, an
    alias of it (:data:`ALIASES`), one of its products or regions (:data:`PRODUCTS`) or a host under its domain
    (``api.stripe.com`` → stripe, ``status.aws.amazon.com`` → aws); for another host, its registered domain's name
    (``api.shipfast.io`` → shipfast); else ``name`` itself, lower-cased."""
    lowered = name.strip().lower().rstrip(".")
    if lowered in ALIASES:
        return ALIASES[lowered]
    for pattern, owner in PRODUCTS:
        if pattern.fullmatch(lowered):
            return owner
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", lowered).split("/")[0].split(":")[0]
    if "." not in host or lowered in PROVIDERS or not re.fullmatch(r"[a-z0-9.-]+", host):
        return lowered
    labels = [x for x in host.split(".") if x]
    if len(labels) < 2:
        return lowered
    for label in labels[:-1]:
        if label in DOMAINS:
            return DOMAINS[label]
        if label in PROVIDERS:
            return ALIASES.get(label, label)
    domain = labels[-3] if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL else labels[-2]
    if domain in DOMAINS:
        return DOMAINS[domain]
    return domain if domain not in _HOST_WORDS else lowered


def _alert_service(a: AlertFact) -> str | None:
    return a.service or a.labels.get("service") or None


#: A host name in text (``api.shipfast.io``, ``status.paygate.co.uk``): not one in an e-mail address.
_HOST = re.compile(
    r"(?<![\w@.-])((?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:com|io|net|org|dev|app|co|cloud|ai|tech|eu|us|de|fr|nl|"
    r"uk|au|jp|in|br))(?![\w-])",
    re.IGNORECASE,
)


def _our_domains(ctx: IncidentContext, events: Sequence[EventFact]) -> set[str]:
    """The names of the domains the responders write from (``dana@acme.com`` → acme): ours, never a provider."""
    people = [ctx.assignee or "", *ctx.roles.values(), *(e.actor or "" for e in events)]
    return {canonical(p.rsplit("@", 1)[1]) for p in people if "@" in p}


def provider_names(
    ctx: IncidentContext, alerts: list[AlertFact], events: Sequence[EventFact] = ()
) -> dict[str, bool]:
    """Names that may be a third-party provider → whether it is well known (:data:`PROVIDERS`). Besides those:
    the declared dependencies that are not services of ours (no alert is about them as a service, no change is
    made to them), ``provider``/``vendor`` labels on alerts, and the hosts that alerts and responders name
    (``api.shipfast.io`` → shipfast) outside our own domains — each by its :func:`canonical` name."""
    ours = {ctx.service, *(s for a in alerts if (s := _alert_service(a))), *(c.service or "" for c in ctx.changes)}
    names = dict.fromkeys((n for n in PROVIDERS if n not in ALIASES), True)
    changed = {c.service for c in ctx.changes if c.service}
    spoken = [e.text for e in events]
    for dep in ctx.dependencies:
        if dep.lower() in names or dep in changed or dep == ctx.service:
            continue
        # One with alerts of its own (synthetic checks on "duo") only when responders call it someone else's
        # ("status.duo.com: 'Investigating …'").
        if dep not in ours or any(THIRD_PARTY.search(c) and names_provider(dep.lower(), c) for t in spoken
                                  for c in clauses(t)):
            names[dep.lower()] = False
    for a in alerts:
        for key in LABELS:
            value = label_provider(a, key)
            # A label naming one of our own services (``upstream: lab-gateway``) names no provider.
            if value and value not in names and value not in ours and a.labels.get(key, "").strip() not in ours:
                names[value] = True
    texts = [
        *(" ".join([a.summary, *a.labels.values(), *(v for k, v in a.annotations.items() if "url" not in k.lower())])
          for a in alerts),
        *(e.text for e in events),
    ]
    mine = _our_domains(ctx, events) | {o.lower() for o in ours if o}
    for text in texts:
        for m in _HOST.finditer(text):
            value = canonical(m.group(1))
            if value and "." not in value and value not in names and value not in mine:
                names[value] = value in PROVIDERS
    return names


#: Alert labels that name the outside service a call went to.
LABELS = ("provider", "vendor", "upstream", "third_party", "psp")


def label_provider(a: AlertFact, key: str) -> str:
    """The provider an alert's ``key`` label names, by its canonical name (``upstream: api.stripe.com`` → stripe)."""
    value = a.labels.get(key, "").strip()
    return canonical(value) if value else ""


def names_provider(name: str, clause: str) -> bool:
    """``clause`` names ``name``: as a word, as a label of a host name (``api.sendgrid.com``), or by one of its
    products or regions (:data:`PRODUCTS`: "S3", "us-east-1" name AWS)."""
    lowered = clause.lower()
    if name in lowered and _provider_pattern(name).search(clause) is not None:
        return True
    if any(alias in lowered and _provider_pattern(alias).search(clause) for alias in _ALIASES_OF.get(name, ())):
        return True
    return name in _PRODUCT_OWNERS and any(owner == name and pattern.search(clause) for pattern, owner in PRODUCTS)


def _by_region_alone(name: str, clause: str) -> bool:
    """``clause`` names ``name`` only by a region code: not by its name, an alias or a product."""
    if REGION.search(clause) is None or _provider_pattern(name).search(clause) is not None:
        return False
    if any(_provider_pattern(alias).search(clause) for alias in _ALIASES_OF.get(name, ())):
        return False
    return not any(owner == name and pattern is not REGION and pattern.search(clause) for pattern, owner in PRODUCTS)


_PRODUCT_OWNERS = frozenset(owner for _, owner in PRODUCTS)
_ALIASES_OF: dict[str, tuple[str, ...]] = {
    owner: tuple(a for a, o in ALIASES.items() if o == owner) for owner in set(ALIASES.values())
}


@lru_cache(maxsize=512)
def _provider_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(?i)(?<![\w-]){re.escape(name)}(?![\w-])")


def provider_clauses(name: str, known: bool, text: str) -> list[str]:
    """The statements of ``text`` that name ``name`` failing: with outage or status-page language, and — for a
    name not in the well-known list — with words saying it is someone else's (vendor, their status page)."""
    out = []
    for clause in clauses(text):
        if not names_provider(name, clause) or clause.rstrip().endswith("?") or looks_like_injection(clause):
            continue  # an instruction, another name, or a question ("is Stripe down?") reports nothing
        if _by_region_alone(name, clause) and not REGION_OUTAGE.search(clause):
            continue  # "5xx on checkout-api in eu-west-1" is about our service there, not about the cloud
        if OUTAGE.search(clause) and (known or THIRD_PARTY.search(clause)):
            out.append(clause)
    return out


def provider_judgement(name: str, events: list[EventFact]) -> tuple[float, list[str]]:
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
            healthy = green.search(clause)
            # "our side is fine apart from the wait on Stripe" says we are healthy, not the provider.
            ours = healthy is not None and re.search(r"(?i)\b(?:our|we|us|ours)\b", clause[: healthy.start()])
            # "their status page is all green": the status page is where they say so, not outage language
            if verdict == 0 and healthy and not ours and not OUTAGE.search(STATUS_PAGE.sub("", green.sub("", clause))):
                verdict = -1
            if verdict == 0 and re.search(rf"(?i)\bnot\s+(?:\w+\s+)?{re.escape(name)}\b", clause):
                verdict = -1
            if verdict == 0 and not QUESTION.search(clause) and _ATTRIBUTED.search(clause):
                verdict = 1
            if verdict != 0:
                final = verdict
                refs.append(e.ref)
    return (-0.4 if final < 0 else 0.1 if final > 0 else 0.0), refs


#: Words that put the failure on the provider's side: "the 503s come from Fastly", "on their side", "requests don't
#: even reach us", "Stripe says/acknowledged/identified …".
_ATTRIBUTED = re.compile(
    r"(?i)\b(?:come|comes|coming|came) from\b|\bon (?:their|its) (?:side|end)\b|"
    r"\bdo(?:es)?n'?t (?:even )?reach (?:us|our|the origin|origin)\b|"
    r"\b(?:identified|acknowledged|posted|confirms?|says|reports?)\b"
)


def as_written(name: str, texts: list[str]) -> str:
    """``name`` as the records write it (``Stripe``, ``AWS``)."""
    for text in texts:
        m = re.search(rf"(?i)(?<![\w.-]){re.escape(name)}(?![\w-])", text)
        if m:
            return m.group(0)
    return name
