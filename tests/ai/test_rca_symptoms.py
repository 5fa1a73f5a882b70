"""RCA rules that tell a cause from its symptoms, each on a small made-up incident: a change that explains a
failing dependency or a signal outranks it; failures that surface long after the change (an expiring certificate
or credential, a schedule's first run, a ceiling reached at the peak); changes named the way responders name them
(a PR number, a settings key, a job, "Cause: …"); and third-party providers by their canonical names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from warroom.ai import AlertFact, ChangeFact, EventFact, IncidentContext
from warroom.ai.providers import canonical
from warroom.ai.rca import rank_causes, schedule_first_run, time_proximity
from warroom.ai.statements import QUESTION, clauses, judge

from .conftest import at, incident


def _said(minutes: float, text: str, n: str, kind: str = "discussion") -> EventFact:
    return EventFact(id=n, at=at(minutes), kind=kind, actor="kai@example.com", text=text)


def _keys(ctx: IncidentContext) -> list[str]:
    return [c.key for c in rank_causes(ctx)]


def _cause(ctx: IncidentContext, key: str) -> Any:
    return next(c for c in rank_causes(ctx) if c.key == key)


def _cites_only_records(ctx: IncidentContext) -> None:
    refs = ctx.record_refs()
    for cause in rank_causes(ctx):
        assert cause.evidence and all(e.ref in refs for e in cause.evidence), cause


def _alert(n: str, name: str, service: str, summary: str, minutes: float, **labels: str) -> AlertFact:
    return AlertFact(id=n, name=name, service=service, summary=summary, starts_at=at(minutes),
                     labels={"service": service, **labels})


# -- a change outranks what it explains ----------------------------------------------------------------------
def _warehouse(events: list[EventFact], **over: Any) -> IncidentContext:
    """stock-api slow; its database shows lock waits; a schema change was made on that database just before."""
    values: dict[str, Any] = {
        "service": "stock-api",
        "title": "Stock lookups timing out",
        "details": "",
        "dependencies": ["stock-db", "pricing-api"],
        "alerts": [
            _alert("d1", "PgLockWaitsHigh", "stock-db", "stock-db 800 sessions waiting on lock wait", 0),
            _alert("s1", "StockApiLatency", "stock-api", "GET /stock p99 12s", 1),
        ],
        "changes": [
            ChangeFact(id="ddl-7", source="flyway", kind="database", service="stock-db", at=at(-4),
                       title="V88: add bins.zone column with default and index"),
            ChangeFact(id="rel-3", source="deploy", service="pricing-api", at=at(-50),
                       title="pricing-api 2.2.0 currency rounding"),
        ],
        "events": events,
    }
    values.update(over)
    return incident(**values)


def test_a_change_made_on_a_dependency_that_then_fails_outranks_the_dependency() -> None:
    # an instance-class move of the database three hours before its replicas fell behind: the dependency's
    # alerts are the symptom, the change on it the cause
    ctx = _warehouse(
        [_said(5, "stock-db replicas are 15 minutes behind", "1")],
        alerts=[
            _alert("d1", "PgReplicaLag", "stock-db", "stock-db replication lag 900s", 0),
            _alert("s1", "StockApiLatency", "stock-api", "GET /stock p99 12s", 1),
        ],
        changes=[
            ChangeFact(id="ddl-7", source="terraform", kind="infrastructure", service="stock-db", at=at(-180),
                       title="stock-db: instance class r6g.2xlarge to r7g.4xlarge"),
            ChangeFact(id="rel-3", source="deploy", service="pricing-api", at=at(-50),
                       title="pricing-api 2.2.0 currency rounding"),
        ],
    )
    keys = _keys(ctx)
    assert keys.index("change:ddl-7") < keys.index("dependency:stock-db"), keys
    dep = _cause(ctx, "dependency:stock-db")
    assert "symptom of change ddl-7" in dep.explanation
    _cites_only_records(ctx)


def test_a_dependency_stays_first_when_the_change_on_it_is_ruled_out() -> None:
    # the disk under the database failed; the one change on it was idle and is ruled out by responders
    ctx = _warehouse(
        [_said(6, "the V88 zone column migration has zero traffic yet, it isn't even on the hot tables", "1")],
        alerts=[
            _alert("d1", "PgLockWaitsHigh", "stock-db", "stock-db 800 sessions waiting on lock wait", 0),
            _alert("s1", "StockApiLatency", "stock-api", "GET /stock p99 12s", 1),
        ],
    )
    keys = _keys(ctx)
    assert keys[0] == "dependency:stock-db", keys
    assert "responders ruled it out" in _cause(ctx, "change:ddl-7").explanation


def test_a_signal_that_a_change_touches_ranks_below_the_change() -> None:
    # the pool was cut at breakfast and ran out at the lunchtime peak: the change, not "pool exhausted"
    ctx = incident(
        service="menu-api",
        title="Menu pages failing",
        details="",
        dependencies=["menu-db"],
        events=[
            _said(6, "every pod waits on the connection pool", "1"),
            _said(8, "pool saturated at 10 of 10 connections on all pods", "2"),
            _said(9, "rel-9 5.1.0 only adds allergen badges, not it", "3"),
        ],
        alerts=[
            _alert("p1", "HikariPoolExhausted", "menu-api",
                   "menu-api could not acquire connection: connection pool exhausted on 12/12 pods", 0),
            _alert("p2", "MenuDbConnWait", "menu-api", "menu-api pool wait time p99 5s, pool saturated", 1),
            _alert("p3", "Menu5xx", "menu-api", "menu-api 5xx 40%: no available connections", 2),
        ],
        changes=[
            ChangeFact(id="cfg-81", source="consul", kind="config", service="menu-api", at=at(-270),
                       title="menu-api: datasource.hikari.maximum_pool 40 -> 10"),
            ChangeFact(id="rel-9", source="deploy", service="menu-api", at=at(-150),
                       title="menu-api 5.1.0 allergen badges"),
        ],
    )
    keys = _keys(ctx)
    assert keys[0] == "change:cfg-81", keys
    assert keys.index("signal:connection-pool") > 0
    assert "symptom of change cfg-81" in _cause(ctx, "signal:connection-pool").explanation


def test_scaling_out_touches_the_connection_pool() -> None:
    ctx = incident(
        service="quote-api",
        title="Quotes failing",
        details="",
        dependencies=["quote-db"],
        events=[],
        alerts=[_alert("q1", "PgTooManyConnections", "quote-db", "quote-db max_connections reached (500/500)", 0)],
        changes=[ChangeFact(id="hpa-4", source="argo", kind="config", service="quote-api", at=at(-25),
                            title="quote-api: scale from 10 to 40 replicas for the renewal mailing")],
    )
    assert _keys(ctx)[0] == "change:hpa-4"


def test_a_dependency_responders_tie_to_a_confirmed_change_ranks_below_it() -> None:
    # a report job deployed yesterday; its first nightly run holds locks on the shared database
    ctx = incident(
        service="portal-api",
        title="Portal slow",
        details="",
        dependencies=["portal-db", "report-runner"],
        alerts=[_alert("r1", "PgLockWaits", "portal-db", "portal-db 300 sessions waiting on locks", 0),
                _alert("r2", "PortalLatency", "portal-api", "p99 20s", 2)],
        changes=[
            ChangeFact(id="rr-12", source="deploy", service="report-runner", at=at(-600),
                       title="report-runner 3.0.0: monthly-statements builds all statements in one pass"),
            ChangeFact(id="flag-2", source="flags", kind="feature_flag", service="portal-api", at=at(-30),
                       title="portal-dark-mode: 20%"),
        ],
        events=[
            _said(10, "portal-db: one session from report-runner holds the locks, that's the monthly-statements "
                      "job", "1"),
            _said(14, "Cause: monthly-statements one-pass run from yesterday's report-runner 3.0.0", "2", "note"),
        ],
    )
    keys = _keys(ctx)
    assert keys[0] == "change:rr-12", keys
    assert keys.index("dependency:portal-db") > 0


# -- failures that surface long after the change -------------------------------------------------------------
def test_latent_failures_keep_a_change_suspect_for_days() -> None:
    start = at(0)
    assert time_proximity(at(-6 * 1440), start, latent=True) > 0.7
    assert time_proximity(at(-6 * 1440), start, kind="infrastructure") < 0.01


def test_a_credential_ttl_cut_days_before_is_the_cause_of_auth_failures() -> None:
    ctx = incident(
        service="ledger-api",
        title="Ledger API failing",
        details="",
        dependencies=["ledger-pg", "secrets-store"],
        events=[],
        alerts=[
            _alert("c1", "LedgerApi5xx", "ledger-api", "ledger-api 5xx 90%", 0),
            _alert("c2", "PgAuthFailures", "ledger-pg",
                   'FATAL: password authentication failed for user "dyn-ledger-rw"', 0),
        ],
        changes=[
            ChangeFact(id="sec-5", source="itsm", kind="config", service="secrets-store", at=at(-4 * 1440),
                       title="secrets-store: db credentials lease ttl 30d -> 96h"),
            ChangeFact(id="rel-77", source="deploy", service="ledger-api", at=at(-35),
                       title="ledger-api 8.1.0 statement export"),
        ],
    )
    keys = _keys(ctx)
    assert keys[0] == "change:sec-5", keys
    assert "surfaces long after the change" in _cause(ctx, "change:sec-5").explanation


def test_a_certificate_change_a_week_before_explains_an_expiry() -> None:
    ctx = incident(
        service="clinic-web",
        title="Clinic web cannot reach booking backend",
        details="",
        dependencies=["booking-proxy"],
        events=[],
        alerts=[_alert("t1", "ProxyTlsErrors", "booking-proxy", "TLS handshake failures: certificate has expired",
                       0)],
        changes=[
            ChangeFact(id="ops-31", source="itsm", kind="infrastructure", service="booking-proxy",
                       at=at(-7 * 1440), title="booking-proxy: move to new cluster, copy tls secret by hand"),
            ChangeFact(id="rel-5", source="deploy", service="clinic-web", at=at(-20), title="clinic-web 4.4 footer"),
        ],
    )
    assert _keys(ctx)[0] == "change:ops-31"


def test_a_schedule_bites_at_its_first_run() -> None:
    after = datetime(2026, 3, 13, 9, 30, tzinfo=UTC)
    assert schedule_first_run("backup: schedule '30 22 * * *' -> '0 9 * * *'", after) == datetime(
        2026, 3, 14, 9, 0, tzinfo=UTC
    )
    assert schedule_first_run("run */20 8-9 * * 1-5", after) == datetime(2026, 3, 13, 9, 40, tzinfo=UTC)
    assert schedule_first_run("raise the limit from 10 20 30 40 50", after) is None


def test_a_schedule_change_made_yesterday_is_suspect_at_its_first_run() -> None:
    # T0 is 10:00 UTC: the export moved to "0 10 * * *" yesterday first runs today at 10:00
    ctx = incident(
        service="shop-api",
        title="Shop API slow",
        details="",
        dependencies=["shop-db"],
        events=[],
        alerts=[_alert("e1", "ShopLatency", "shop-api", "p95 9s on /cart", 2)],
        changes=[
            ChangeFact(id="cron-5", source="git", kind="config", service="shop-api", at=at(-22 * 60),
                       title="catalog export CronJob schedule '0 3 * * *' -> '0 10 * * *'"),
            ChangeFact(id="rel-8", source="deploy", service="shop-api", at=at(-240), title="shop-api 3.3.0 wishlist"),
        ],
    )
    cause = _cause(ctx, "change:cron-5")
    assert _keys(ctx)[0] == "change:cron-5"
    assert "its new schedule first ran at 10:00" in cause.explanation.lower()


def test_a_confirmed_change_is_not_held_back_by_its_age() -> None:
    ctx = incident(
        service="sms-api",
        title="SMS delayed",
        details="",
        dependencies=["sms-queue"],
        alerts=[_alert("m1", "SmsQueueBacklog", "sms-queue", "sms-queue backlog 90k messages", 0)],
        changes=[
            ChangeFact(id="rel-40", source="deploy", service="sms-worker", at=at(-9 * 60),
                       title="sms-worker 4.0.0 batch-sender rewrite"),
            ChangeFact(id="flag-6", source="flags", kind="feature_flag", service="sms-api", at=at(-20),
                       title="sms-api opt-in-banner 50%"),
        ],
        events=[_said(12, "Cause: the batch-sender rewrite in sms-worker 4.0.0 sends one message per call", "1",
                      "note")],
    )
    assert _keys(ctx)[0] == "change:rel-40"


# -- how responders name changes ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Cause: the nightly compaction job", 1),
        ("Likely cause: cache TTL cut", 1),
        ("Leading hypothesis: the tls rotation", 1),
        ("the new topic has zero traffic yet", -1),
        ("its partitions aren't even on that broker", -1),
        ("do we roll it back anyway", 0),
    ],
)
def test_the_grammar_reads_notes_and_exonerations(text: str, verdict: int) -> None:
    assert judge(text) == verdict


def test_a_clause_opening_with_do_or_shall_asks() -> None:
    assert QUESTION.search("do we roll it back anyway")
    assert QUESTION.search("shall I page the db team")
    assert not QUESTION.search("rolled it back")


def _two_changes(text: str, kind: str = "discussion") -> IncidentContext:
    return incident(
        service="route-api",
        title="Routes failing",
        details="",
        dependencies=[],
        alerts=[_alert("x1", "Route5xx", "route-api", "route-api 5xx 30%", 0)],
        changes=[
            ChangeFact(id="edge-77", source="git", kind="config", service="route-api", at=at(-30),
                       title="routing rules: strip trailing slash (PR #4412)",
                       details="sets router.rewrite.strip_slash = true"),
            ChangeFact(id="rel-3", source="deploy", service="route-api", at=at(-10), title="route-api 1.2.0 docs"),
        ],
        events=[_said(8, text, "1", kind)],
    )


@pytest.mark.parametrize(
    "text",
    [
        "reverting PR 4412, that's the culprit",
        "strip_slash is the culprit",
        "the slash rule is the culprit",
    ],
)
def test_a_change_is_named_by_its_pr_number_settings_key_or_kind_noun(text: str) -> None:
    cause = _cause(_two_changes(text), "change:edge-77")
    assert "responders confirmed it" in cause.explanation


def test_a_release_named_after_an_unversioned_change_is_not_that_change() -> None:
    # "app back on 1.1.9, no difference" speaks of a release, not of the routing rule named before it
    ctx = _two_changes("Cause: routing rules PR #4412. app back on 1.1.9, no difference.", "note")
    cause = _cause(ctx, "change:edge-77")
    assert "responders confirmed it" in cause.explanation


def test_a_change_on_a_job_the_incident_does_not_know_is_named_by_the_job() -> None:
    ctx = incident(
        service="search-api",
        title="Search slow",
        details="",
        dependencies=["search-db"],
        alerts=[_alert("j1", "SearchLatency", "search-api", "p95 8s", 0)],
        changes=[
            ChangeFact(id="pr-51", source="git", kind="config", service="synonym-loader", at=at(-90),
                       title="nightly load of the synonyms file"),
            ChangeFact(id="rel-2", source="deploy", service="search-api", at=at(-30), title="search-api 6.0.1"),
        ],
        events=[_said(6, "top queries all come from the synonym_loader user", "1")],
    )
    cause = _cause(ctx, "change:pr-51")
    assert "responders" in cause.explanation and "synonym-loader" in cause.explanation
    assert "responders bring it up" in cause.explanation


# -- third-party providers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pal-live.adyen.com", "adyen"),
        ("status.aws.amazon.com", "aws"),
        ("eu-central-1", "aws"),
        ("SQS", "aws"),
        ("https://api.parcelhub.co.uk/v2/labels", "parcelhub"),
        ("Amazon Web Services", "aws"),
        ("geo-gateway", "geo-gateway"),
        ("Twilio", "twilio"),
    ],
)
def test_provider_names_are_canonical(name: str, expected: str) -> None:
    assert canonical(name) == expected


def _payments(events: list[EventFact], labels: dict[str, str]) -> IncidentContext:
    return incident(
        service="pay-api",
        title="Card payments failing",
        details="",
        dependencies=["pay-db"],
        alerts=[AlertFact(id="p1", name="PayUpstreamErrors", service="pay-api", starts_at=at(0),
                          summary="pay-api upstream error rate 40% on POST /authorise",
                          labels={"service": "pay-api", **labels})],
        changes=[ChangeFact(id="rel-61", source="deploy", service="pay-api", at=at(-70),
                            title="pay-api 9.9.0 receipts")],
        events=events,
    )


def test_a_provider_named_by_its_host_is_one_cause_under_its_canonical_name() -> None:
    ctx = _payments([_said(5, "adyen is timing out on authorise. our side is fine apart from the wait on adyen",
                           "1")], {"upstream": "pal-live.adyen.com"})
    causes = rank_causes(ctx)
    assert causes[0].key == "provider:adyen", [(c.key, c.explanation) for c in causes]
    assert not any(c.key.startswith("provider:pal-live") for c in causes)
    assert "ruled" not in causes[0].explanation  # "our side is fine" is said of us, not of the provider
    _cites_only_records(ctx)


def test_a_label_naming_our_own_service_is_no_provider() -> None:
    ctx = incident(
        service="web-app",
        title="Uploads failing",
        details="",
        dependencies=["upload-gw"],
        events=[],
        alerts=[
            AlertFact(id="u1", name="UploadErrors", service="web-app", starts_at=at(1),
                      summary="web-app upstream upload-gw errors 100%",
                      labels={"service": "web-app", "upstream": "upload-gw"}),
            _alert("u2", "UploadGwDown", "upload-gw", "upload-gw pods unavailable", 0),
        ],
        changes=[],
    )
    keys = _keys(ctx)
    assert "provider:upload-gw" not in keys
    assert keys[0] == "dependency:upload-gw"


def test_errors_that_come_from_the_provider_are_put_on_it() -> None:
    ctx = incident(
        service="news-web",
        title="Site down",
        details="",
        dependencies=["akamai"],
        alerts=[_alert("n1", "HomepageCheck", "news-web", "homepage 503 'Akamai reference error' from 12/14 probes",
                       0)],
        changes=[ChangeFact(id="rel-90", source="deploy", service="news-web", at=at(-6),
                            title="news-web 31.2 sidebar")],
        events=[_said(7, "the 503s come from akamai edges, requests don't even reach us", "1")],
    )
    cause = _cause(ctx, "provider:akamai")
    assert _keys(ctx)[0] == "provider:akamai"
    assert "responders confirmed it" in cause.explanation


def test_split_is_kept_statement_by_statement() -> None:
    assert clauses("Cause: PR #4412. app back on 1.1.9, no difference.") == [
        "Cause: PR #4412.", "app back on 1.1.9, no difference."
    ]


def test_a_provider_outside_the_list_is_found_by_its_host() -> None:
    ctx = incident(
        service="label-api",
        title="Shipping labels failing",
        details="",
        dependencies=["label-db"],
        alerts=[_alert("h1", "LabelUpstream5xx", "label-api", "POST https://api.parcelhub.co.uk/v2/labels 503 rate 60%",
                       0)],
        changes=[ChangeFact(id="rel-14", source="deploy", service="label-api", at=at(-45),
                            title="label-api 2.7.0 customs form")],
        events=[_said(6, "parcelhub status page shows a major outage on their side", "1")],
    )
    keys = _keys(ctx)
    assert keys[0] == "provider:parcelhub", keys
    _cites_only_records(ctx)


def test_our_own_domain_is_no_provider() -> None:
    ctx = incident(
        service="shop-web",
        title="Shop down",
        details="",
        dependencies=[],
        alerts=[_alert("o1", "ShopDown", "shop-web", "https://shop.example.com 502 errors", 0)],
        changes=[],
        events=[EventFact(id="1", at=at(5), kind="discussion", actor="lee@example.com",
                          text="example.com 502 outage, their status page? no, it's us")],
    )
    assert "provider:example" not in _keys(ctx)


def test_a_statement_that_names_the_cause_and_rules_a_change_out_rules_it_out() -> None:
    ctx = _two_changes("Cause: the upstream timeout, not rel-3", "note")
    assert "responders ruled it out" in _cause(ctx, "change:rel-3").explanation


def test_a_change_elsewhere_only_asked_about_is_not_tied_to_the_incident() -> None:
    ctx = incident(
        service="search-api",
        title="Search slow",
        details="",
        dependencies=["search-db"],
        alerts=[_alert("j1", "SearchLatency", "search-api", "p95 8s", 0)],
        changes=[ChangeFact(id="pr-51", source="git", kind="config", service="synonym-loader", at=at(-90),
                            title="nightly load of the synonyms file")],
        events=[_said(6, "could it be the synonym-loader change?", "1")],
    )
    said = [c.explanation for c in rank_causes(ctx) if c.key == "change:pr-51"]
    assert not any("responders bring it up" in x for x in said)


def test_a_provider_named_by_its_full_name_is_the_canonical_provider() -> None:
    ctx = incident(
        service="media-api",
        title="Uploads failing",
        details="",
        dependencies=["media-db"],
        alerts=[_alert("g1", "UploadErrors", "media-api", "PUT object to bucket failing 70%", 0)],
        changes=[ChangeFact(id="rel-5", source="deploy", service="media-api", at=at(-200), title="media-api 1.9 crop")],
        events=[_said(6, "Google Cloud status page: storage outage in europe-west", "1")],
    )
    keys = _keys(ctx)
    assert keys[0] == "provider:gcp", keys
    assert "provider:google cloud" not in keys


def test_a_dependency_named_after_a_provider_is_that_provider() -> None:
    ctx = incident(
        service="otp-api",
        title="OTP texts not arriving",
        details="",
        dependencies=["twilio-sms"],
        alerts=[_alert("w1", "SmsGatewayErrors", "twilio-sms", "twilio-sms send errors 80%", 0)],
        changes=[ChangeFact(id="rel-2", source="deploy", service="otp-api", at=at(-90), title="otp-api 3.1 copy")],
        events=[_said(5, "twilio status page shows an incident on SMS delivery", "1")],
    )
    causes = rank_causes(ctx)
    assert causes[0].key == "provider:twilio", [c.key for c in causes]
    assert "dependency:twilio-sms" in causes[0].also


def test_a_change_on_the_cluster_the_alerts_run_on_is_linked() -> None:
    ctx = incident(
        service="claims-api",
        title="Claims slow",
        details="",
        dependencies=["claims-db"],
        events=[],
        alerts=[_alert("k1", "ClaimsLatency", "claims-api", "p95 6s", 0, cluster="eks-prod-2")],
        changes=[
            ChangeFact(id="tf-3", source="terraform", kind="infrastructure", service="eks-prod-2", at=at(-25),
                       title="upgrade managed add-ons"),
            ChangeFact(id="rel-4", source="deploy", service="billing-ui", at=at(-15), title="billing-ui 2.0"),
        ],
    )
    cause = _cause(ctx, "change:tf-3")
    assert "which the alerts run on" in cause.explanation
    assert _keys(ctx)[0] == "change:tf-3"


@pytest.mark.parametrize(
    "summary",
    [
        'FATAL: password authentication failed for user "svc_orders"',
        "upstream rejected: invalid token (signature verification failed)",
        "AccessDenied: the security token included in the request is expired",
    ],
)
def test_credential_failures_are_a_signal(summary: str) -> None:
    ctx = incident(
        service="orders-api", title="Orders failing", details="", dependencies=[], events=[], changes=[],
        alerts=[_alert("z1", "OrdersAuthErrors", "orders-api", summary, 0)],
    )
    assert "signal:credentials" in _keys(ctx)


def _regional(summary: str, description: str) -> IncidentContext:
    return incident(
        service="orders-api",
        title="Orders failing",
        details="",
        dependencies=["orders-db"],
        events=[],
        alerts=[AlertFact(id="r1", name="OrdersErrorRate", service="orders-api", starts_at=at(0), summary=summary,
                          labels={"service": "orders-api"}, annotations={"description": description})],
        changes=[ChangeFact(id="rel-9", source="deploy", service="orders-api", at=at(-8),
                            title="orders-api 9.1.0 new checkout validation")],
    )


def test_a_region_where_our_service_runs_is_no_provider_failing() -> None:
    """"5xx on orders-api in eu-west-1" places our failure; it says nothing of the cloud."""
    ctx = _regional("5xx ratio 12% on orders-api", "Error ratio 0.12 (threshold 0.05) on orders-api in eu-west-1.")
    assert not any(k.startswith("provider:") for k in _keys(ctx)), _keys(ctx)


@pytest.mark.parametrize("description", [
    "Increased error rates for API calls in eu-west-1 (AWS Health event).",
    "eu-west-1 outage: instances impaired across two zones.",
])
def test_a_region_with_a_providers_outage_words_names_the_provider(description: str) -> None:
    ctx = _regional("5xx ratio 12% on orders-api", description)
    assert "provider:aws" in _keys(ctx)[:3], _keys(ctx)
