"""RCA rules of the third round, each on a small made-up incident with a counter-case: signals that only say what
fails rank below a likely concrete cause; a change on the component that alerted first, minutes before; only the
first service to alert "alerted first"; the wider list of providers, delivery failures and quoted status pages; a
confirmed change above what it explains; how a change is named (a release's component, v-numbers, either number,
a part of the day); what responders' words confirm or rule out; a proxy's "upstream"; changes that stayed out of
production; and responders describing a dependency failing or healthy."""

from __future__ import annotations

import pytest

from warroom.ai import ChangeFact, EventFact, IncidentContext
from warroom.ai.rca import COINCIDENT_MINUTES, rank_causes
from warroom.ai.rca_passes import CONCRETE_FLOOR, RULED_OUT_CAP
from warroom.ai.statements import judge

from .conftest import at, incident
from .test_rca_symptoms import _alert, _cause, _keys, _said


def _explained(ctx: IncidentContext) -> dict[str, str]:
    return {c.key: c.explanation for c in rank_causes(ctx)}


def _scores(ctx: IncidentContext) -> dict[str, float]:
    return {c.key: c.score for c in rank_causes(ctx)}


# -- 1. a signal that only says what fails ranks below the likeliest concrete cause ----------------------------
def _thumbnails(summary: str, changes: list[ChangeFact]) -> IncidentContext:
    """thumb-api's own alerts, three of them, all showing one signal; whatever changes are given."""
    return incident(
        service="thumb-api",
        title="Thumbnails failing",
        details="",
        dependencies=[],
        events=[],
        alerts=[_alert(f"m{i}", f"ThumbApiAlert{i}", "thumb-api", f"thumb-api {summary}", i) for i in range(3)],
        changes=changes,
    )


_WEBP = ChangeFact(id="rel-32", source="deploy", service="thumb-api", at=at(-40),
                   title="thumb-api 3.2.0 adds webp output")
_OOM = "pods OOMKilled, memory 98% of limit"
_THROTTLED = "429 Too Many Requests from blob-store: rate limit exceeded"


def test_a_memory_signal_ranks_below_a_likely_change() -> None:
    causes = rank_causes(_thumbnails(_OOM, [_WEBP]))
    assert causes[0].key == "change:rel-32", [(c.key, c.score) for c in causes]
    assert causes[0].score >= CONCRETE_FLOOR
    memory = next(c for c in causes if c.key == "signal:memory")
    assert "what is failing, not why" in memory.explanation
    assert memory.score < causes[0].score


def test_a_memory_signal_still_leads_without_a_likely_concrete_cause() -> None:
    assert _keys(_thumbnails(_OOM, []))[0] == "signal:memory"
    # a change made days ago on another service does not reach the floor
    old = ChangeFact(id="ui-4", source="deploy", service="gallery-ui", at=at(-3 * 1440), title="gallery-ui 4.0 grid")
    causes = rank_causes(_thumbnails(_OOM, [old]))
    assert causes[0].key == "signal:memory", [(c.key, c.score) for c in causes]
    assert "not why" not in causes[0].explanation


def test_a_rate_limit_can_be_the_cause_itself_and_is_left_above_the_change() -> None:
    causes = rank_causes(_thumbnails(_THROTTLED, [_WEBP]))
    assert causes[0].key == "signal:rate-limit", [(c.key, c.score) for c in causes]
    assert "not why" not in causes[0].explanation
    assert next(c for c in causes if c.key == "change:rel-32").score >= CONCRETE_FLOOR


# -- 2. a change on the component that alerted first, minutes before its first alert --------------------------
def _feed(change_at: float, db_alert_at: float | None = None) -> IncidentContext:
    alerts = [
        _alert("c1", "FeedCacheEvictions", "feed-cache", "feed-cache evictions 40k/s, hit ratio 12%", 0),
        _alert("f1", "FeedApiLatency", "feed-api", "feed-api p99 4s", 3),
    ]
    if db_alert_at is not None:
        alerts.append(_alert("d1", "FeedDbSlowQueries", "feed-db", "feed-db slow queries 300/s", db_alert_at))
    return incident(
        service="feed-api",
        title="Feed slow",
        details="",
        dependencies=["feed-cache", "feed-db"],
        events=[],
        alerts=alerts,
        changes=[
            ChangeFact(id="cfg-12", source="git", kind="config", service="feed-cache", at=at(change_at),
                       title="feed-cache: maxmemory-policy allkeys-lru -> volatile-ttl"),
            ChangeFact(id="rel-8", source="deploy", service="feed-api", at=at(-25), title="feed-api 8.0.2 ranking tweak"),
        ],
    )


def test_a_change_on_the_component_that_alerted_first_minutes_later_is_where_it_began() -> None:
    ctx = _feed(-12)
    cause = _cause(ctx, "change:cfg-12")
    assert "feed-cache began to alert 12 min after it" in cause.explanation
    assert _keys(ctx)[0] == "change:cfg-12"
    assert 12 <= COINCIDENT_MINUTES


def test_no_lift_when_the_component_alerted_after_another_or_long_after_the_change() -> None:
    # feed-db alerted before feed-cache: feed-cache is not where the trouble began
    after_another = _explained(_feed(-12, db_alert_at=-4))
    assert "began to alert" not in after_another.get("change:cfg-12", "")
    # feed-cache alerted first, but well beyond COINCIDENT_MINUTES after the change
    long_after = _explained(_feed(-(COINCIDENT_MINUTES + 15)))
    assert "began to alert" not in long_after.get("change:cfg-12", "")


# -- 3. only the first service to alert "alerted first" --------------------------------------------------------
def test_only_the_first_dependency_to_alert_alerted_first() -> None:
    ctx = incident(
        service="cart-api",
        title="Cart errors",
        details="",
        dependencies=["cart-db", "cart-cache"],
        events=[],
        changes=[],
        alerts=[
            _alert("d", "CartDbDown", "cart-db", "cart-db primary unreachable", -5),
            _alert("c", "CartCacheErrors", "cart-cache", "cart-cache connection errors", -2),
            _alert("a", "CartApi5xx", "cart-api", "cart-api 5xx 25%", 0),
        ],
    )
    explained = _explained(ctx)
    assert "cart-db alerted first" in explained["dependency:cart-db"]
    assert "cart-cache alerted first" not in explained["dependency:cart-cache"]
    assert "cart-cache alerted before cart-api, after cart-db" in explained["dependency:cart-cache"]
    keys = _keys(ctx)
    assert keys.index("dependency:cart-db") < keys.index("dependency:cart-cache")


# -- 4. providers ----------------------------------------------------------------------------------------------
def _otp(text: str, dependencies: tuple[str, ...] = ()) -> IncidentContext:
    return incident(
        service="otp-sender",
        title="Login codes not arriving",
        details="",
        dependencies=list(dependencies),
        alerts=[_alert("o1", "OtpSendErrors", "otp-sender", "otp-sender 5xx 30% on POST /send", 0)],
        changes=[ChangeFact(id="rel-6", source="deploy", service="otp-sender", at=at(-120),
                            title="otp-sender 6.0.1 copy")],
        events=[_said(6, text, "1")],
    )


@pytest.mark.parametrize(
    ("text", "provider"),
    [
        ("infobip status page shows degraded SMS delivery in the EU", "infobip"),
        ("scaleway object storage outage in fr-par", "scaleway"),
        ("gcore edge returning 502s for the login page", "gcore"),
        ("easypost API errors on every label purchase", "easypost"),
        # delivery failures are outage language
        ("infobip: 40% of messages undeliverable to UK numbers", "infobip"),
        ("texts through infobip are not being delivered since 09:58", "infobip"),
    ],
)
def test_a_provider_from_the_wider_list_named_with_outage_language_is_a_cause(text: str, provider: str) -> None:
    ctx = _otp(text)
    assert _keys(ctx)[0] == f"provider:{provider}", _keys(ctx)


@pytest.mark.parametrize(
    "text",
    [
        "we moved the otp template in infobip yesterday",  # a provider named, no outage language
        "errors here since 10:02",  # "here" is an everyday word, not HERE
        "the square button on the login page errors",  # nor is "square"
    ],
)
def test_no_provider_without_outage_language_or_from_everyday_words(text: str) -> None:
    keys = _keys(_otp(text))
    assert not any(k.startswith("provider:") for k in keys), keys


def test_a_quoted_status_page_makes_a_declared_dependency_a_third_party() -> None:
    quoted = _otp("sms-relay status: 'Degraded performance for EU routes'", ("sms-relay",))
    assert _keys(quoted)[0] == "provider:sms-relay", _keys(quoted)
    # the same words without "status:" say nothing of whose service it is
    unquoted = _otp("sms-relay: 'Degraded performance for EU routes'", ("sms-relay",))
    assert "provider:sms-relay" not in _keys(unquoted)


# -- 5. a change responders confirmed ranks above what they did not confirm -----------------------------------
def _search(events: list[EventFact]) -> IncidentContext:
    return incident(
        service="catalog-api",
        title="Catalog search failing",
        details="",
        dependencies=["search-index"],
        alerts=[
            _alert("s1", "SearchIndexRejections", "search-index", "search-index write queue full, rejecting bulk", -3),
            _alert("s2", "SearchIndexCpu", "search-index", "search-index cpu 99% on all nodes", -2),
            _alert("c1", "CatalogApi5xx", "catalog-api", "catalog-api 5xx 35% on /search", 0),
        ],
        changes=[
            ChangeFact(id="job-19", source="git", kind="config", service="catalog-importer", at=at(-240),
                       title="catalog-importer: nightly full reindex moved to 09:55"),
            ChangeFact(id="rel-3", source="deploy", service="reviews-api", at=at(-30), title="reviews-api 3.1 stars"),
        ],
        events=events,
    )


def test_a_confirmed_change_ranks_above_the_dependency_where_it_showed() -> None:
    # (the talk goes on after the note, so that the latest statements alone do not lift the change)
    ctx = _search([_said(9, "Cause: the full reindex from catalog-importer, moved to 09:55 by job-19", "1", "note"),
                   *(_said(10 + n, text, str(n + 2)) for n, text in enumerate(
                       ["paging the search team", "customers see empty results", "drafting the customer update"]))])
    keys = _keys(ctx)
    assert keys[0] == "change:job-19", keys
    assert "where change job-19, which responders confirmed, showed" in _cause(ctx, "dependency:search-index").explanation


def test_a_change_only_asked_about_does_not_push_the_dependency_down() -> None:
    for events in ([], [_said(9, "could it be job-19?", "1")]):
        ctx = _search(events)
        assert _keys(ctx)[0] == "dependency:search-index", _keys(ctx)
        assert "which responders confirmed" not in _cause(ctx, "dependency:search-index").explanation


# -- 6. names --------------------------------------------------------------------------------------------------
def test_the_component_before_a_releases_version_names_it() -> None:
    ctx = incident(
        service="stream-web",
        title="Playback failing",
        details="",
        dependencies=[],
        alerts=[_alert("p1", "PlaybackErrors", "stream-web", "stream-web playback start failures 30%", 0)],
        changes=[
            ChangeFact(id="wp-914", source="deploy", service="stream-web", at=at(-20),
                       title="web player 9.14.0 — new seek bar"),
            ChangeFact(id="tv-32", source="deploy", service="stream-web", at=at(-15),
                       title="tv player 3.2.0 — subtitles"),
        ],
        events=[_said(8, "it's the web player, the seek bar breaks playback start", "1")],
    )
    explained = _explained(ctx)
    assert "responders confirmed it (by “web player”)" in explained["change:wp-914"]
    assert "responders" not in explained.get("change:tv-32", "")
    assert _keys(ctx)[0] == "change:wp-914"


def _hls(text: str) -> IncidentContext:
    return incident(
        service="video-edge",
        title="Live streams buffering",
        details="",
        dependencies=[],
        alerts=[_alert("h1", "HlsSegmentErrors", "video-edge", "video-edge segment fetch errors 20%", 0)],
        changes=[
            ChangeFact(id="cdn-88", source="api", kind="config", service="video-edge", at=at(-30),
                       title="hls property v88 — shorter segment duration"),
            ChangeFact(id="rel-7", source="deploy", service="video-edge", at=at(-10), title="video-edge 7.0.3 logging"),
        ],
        events=[_said(8, text, "1")],
    )


def test_a_two_digit_v_number_names_a_change_and_v8_does_not() -> None:
    assert "by version v88" in _explained(_hls("v88 is the culprit, rolling the property back"))["change:cdn-88"]
    assert "responders" not in _explained(_hls("it's v8, the heap is full")).get("change:cdn-88", "")


def _mesh(text: str) -> IncidentContext:
    return incident(
        service="orders-api",
        title="Orders failing",
        details="",
        dependencies=[],
        alerts=[_alert("o1", "Orders5xx", "orders-api", "orders-api 503 25%", 0)],
        changes=[
            ChangeFact(id="mp-4", source="git", kind="config", service="mesh-policies", at=at(-35),
                       title="mesh-policies: retry budget 20% -> 5%"),
            ChangeFact(id="rel-5", source="deploy", service="orders-api", at=at(-60), title="orders-api 5.5.0 invoices"),
        ],
        events=[_said(8, text, "1")],
    )


def test_a_name_is_matched_in_either_number() -> None:
    assert "responders confirmed it (by mesh-policies)" in _explained(_mesh("it's the mesh policy"))["change:mp-4"]
    assert "responders" not in _explained(_mesh("it's the mesh, retries are exhausted")).get("change:mp-4", "")


def _reimaged(text: str, *changes: ChangeFact) -> IncidentContext:
    return incident(
        service="jobs-api",
        title="Jobs failing",
        details="",
        dependencies=[],
        alerts=[_alert("n1", "JobsFailing", "jobs-api", "jobs-api 30% of jobs fail", 0)],
        changes=list(changes),
        events=[_said(8, text, "1", "note")],
    )


# T0 is 10:00: 22:00 the evening before, and 07:30 this morning
_LAST_NIGHT = ChangeFact(id="ops-61", source="itsm", kind="infrastructure", service="nomad-clients", at=at(-12 * 60),
                         title="Rolling reimage of nomad clients")
_THIS_MORNING = ChangeFact(id="ops-62", source="itsm", kind="infrastructure", service="worker-hosts", at=at(-150),
                           title="Rolling reimage of worker hosts")


def test_a_title_word_and_a_part_of_the_day_name_a_change() -> None:
    text = "Cause: all the nodes reimaged last night"
    explained = _explained(_reimaged(text, _LAST_NIGHT, _THIS_MORNING))
    assert "responders confirmed it (by “reimaged last night”)" in explained["change:ops-61"]
    assert "responders" not in explained.get("change:ops-62", "")
    # with only this morning's reimage, "last night" names nothing
    alone = _explained(_reimaged(text, _THIS_MORNING))
    assert "responders" not in alone.get("change:ops-62", "")


# -- 7. responders' words --------------------------------------------------------------------------------------
def _waf(text: str) -> IncidentContext:
    return incident(
        service="login-api",
        title="Logins blocked",
        details="",
        dependencies=[],
        alerts=[_alert("w1", "Login403", "login-api", "login-api 403 rate 40%", 0)],
        changes=[
            ChangeFact(id="waf-41", source="api", kind="config", service="edge-waf", at=at(-20),
                       title="edge-waf ruleset v41 — stricter bot rules"),
            ChangeFact(id="rel-2", source="deploy", service="login-api", at=at(-50), title="login-api 2.9.0 passkeys"),
        ],
        events=[_said(8, text, "1")],
    )


def test_never_got_activated_rules_a_change_out() -> None:
    assert judge("v41 never got activated on prod") == -1
    assert judge("v41 got activated on prod at 09:40") == 0
    ruled = next((c for c in rank_causes(_waf("v41 never got activated on prod, it's still in log-only"))
                  if c.key == "change:waf-41"), None)
    assert ruled is None or ("ruled it out" in ruled.explanation and ruled.score <= RULED_OUT_CAP)
    assert "responders discussed it" in _explained(_waf("v41 got activated on prod at 09:40"))["change:waf-41"]


def _checkout(text: str) -> IncidentContext:
    return incident(
        service="checkout-api",
        title="Checkout failing",
        details="",
        dependencies=[],
        alerts=[_alert("c1", "Checkout503", "checkout-api", "checkout-api 503 20%", 0)],
        changes=[
            ChangeFact(id="ist-7", source="git", kind="config", service="istio-system", at=at(-40),
                       title="mesh defaults: outlier detection ejects after 1 error"),
            ChangeFact(id="rel-4", source="deploy", service="checkout-api", at=at(-70),
                       title="checkout-api 4.18.0 gift cards"),
        ],
        events=[_said(8, text, "1")],
    )


def test_started_failing_after_a_change_traces_the_trouble_to_it() -> None:
    ctx = _checkout("checkout only started failing after the mesh defaults went in")
    assert "responders confirmed it (by “mesh defaults”)" in _cause(ctx, "change:ist-7").explanation
    assert _keys(ctx)[0] == "change:ist-7"
    # only saying when it went in confirms nothing
    dated = _explained(_checkout("the mesh defaults went in at 09:20"))
    assert "confirmed" not in dated.get("change:ist-7", "")


def test_a_bare_since_is_only_a_weak_tie() -> None:
    explanation = _cause(_checkout("since 4.18 went out"), "change:rel-4").explanation
    assert "responders rolled it back or tied the trouble to it (by version 4.18)" in explanation
    assert "confirmed" not in explanation


def _pods(text: str, title: str = "GKE node pool upgrade to 1.30", service: str = "gke-prod") -> IncidentContext:
    return incident(
        service="apps",
        title="Pods crashing",
        details="",
        dependencies=[],
        alerts=[_alert("k1", "PodCrashLooping", "apps", "apps pods CrashLoopBackOff", 0, cluster=service)],
        changes=[
            ChangeFact(id="gke-3", source="terraform", kind="infrastructure", service=service, at=at(-180),
                       title=title),
            ChangeFact(id="rel-9", source="deploy", service="apps", at=at(-45), title="apps 9.2.0 dashboards"),
        ],
        events=[_said(8, text, "1")],
    )


def test_a_conclusion_with_so_confirms_a_change() -> None:
    assert "responders confirmed it" in _cause(_pods("so the node pool upgrade this morning"), "change:gke-3").explanation
    # the same words, not as a conclusion
    plain = _cause(_pods("the node pool upgrade this morning, we started it at 07:00"), "change:gke-3").explanation
    assert "responders discussed it" in plain


def test_a_conclusion_confirms_a_change_on_a_node_pool_named_by_its_title_word() -> None:
    ctx = _pods("so the node pool upgrade this morning", title="node pool upgrade apps-pool 1.29 -> 1.30",
                service="apps-pool")
    assert "responders confirmed it" in _cause(ctx, "change:gke-3").explanation


def test_every_failure_on_the_changed_thing_confirms_it() -> None:
    ctx = _pods("the crashing pods are all on the upgraded apps-pool nodes", title="upgrade apps-pool to 1.30",
                service="apps-pool")
    assert "responders confirmed it (by apps-pool)" in _cause(ctx, "change:gke-3").explanation
    # "some of" is no "all on"
    some = _pods("some crashing pods are on apps-pool nodes", title="upgrade apps-pool to 1.30", service="apps-pool")
    assert "confirmed" not in _cause(some, "change:gke-3").explanation


# -- 8. a proxy's "upstream" is no third party -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("summary", "third_party"),
    [
        ("envoy: upstream request timeout on 30% of POST /charge", False),
        ("vendor returns 503 on 30% of POST /charge", True),
    ],
)
def test_upstream_in_a_proxys_words_is_not_a_third_party_outage(summary: str, third_party: bool) -> None:
    ctx = incident(service="pay-gw", title="Payments failing", details="", dependencies=[], events=[], changes=[],
                   alerts=[_alert("e1", "PayGw5xx", "pay-gw", summary, 0)])
    assert ("signal:third-party" in _keys(ctx)) is third_party


# -- 9. a change that stayed out of production -----------------------------------------------------------------
def _ledger(title: str) -> IncidentContext:
    return incident(
        service="ledger-api",
        title="Ledger writes failing",
        details="",
        dependencies=["ledger-db"],
        events=[],
        alerts=[_alert("l1", "LedgerDbErrors", "ledger-db", "ledger-db write errors 20%", 0),
                _alert("l2", "Ledger5xx", "ledger-api", "ledger-api 5xx 20%", 1)],
        changes=[ChangeFact(id="mnt-5", source="itsm", kind="database", service="ledger-db", at=at(-15), title=title)],
    )


@pytest.mark.parametrize("title", [
    "ledger-db planned maintenance on the test environment (production unaffected)",
    "ledger-db: vacuum settings change, staging only",
])
def test_a_change_that_says_it_stayed_out_of_production_is_weak(title: str) -> None:
    weak = _cause(_ledger(title), "change:mnt-5")
    assert "its own description says it did not reach production" in weak.explanation
    reached = _cause(_ledger("ledger-db: vacuum settings change, promoted from staging to production"), "change:mnt-5")
    assert "did not reach production" not in reached.explanation
    assert weak.score < reached.score - 0.2


# -- 10. responders on a dependency ----------------------------------------------------------------------------
def _sessions(*texts: str) -> IncidentContext:
    return incident(
        service="web-login",
        title="Logins dropping",
        details="",
        dependencies=["session-store", "user-db"],
        alerts=[_alert("r1", "SessionStoreErrors", "session-store", "redis-sess-02 replication link down", 0),
                _alert("w1", "LoginErrors", "web-login", "web-login 5xx 15%", 1)],
        changes=[ChangeFact(id="rel-12", source="deploy", service="web-login", at=at(-6),
                            title="web-login 12.0.1 remember-me")],
        events=[_said(7 + i, t, str(i + 1)) for i, t in enumerate(texts)],
    )


@pytest.mark.parametrize("text", [
    "session-store is out of memory",  # by its name
    "redis-sess-02 has packet loss on its NIC",  # by a host its own alerts name
])
def test_responders_describing_a_dependency_failing_lift_it(text: str) -> None:
    ctx = _sessions(text)
    dep = _cause(ctx, "dependency:session-store")
    assert "responders describe session-store failing" in dep.explanation
    assert dep.score > _scores(_sessions("checking session-store now"))["dependency:session-store"] + 0.05
    assert _keys(ctx)[0] == "dependency:session-store"


def test_responders_only_naming_a_dependency_do_not_describe_it_failing() -> None:
    dep = _cause(_sessions("checking session-store now"), "dependency:session-store")
    assert "responders describe" not in dep.explanation


def test_crc_errors_on_a_host_describe_its_dependency_failing() -> None:
    dep = _cause(_sessions("redis-sess-02 NIC throwing crc errors"), "dependency:session-store")
    assert "responders describe session-store failing" in dep.explanation


def test_a_dependency_responders_find_healthy_sinks() -> None:
    ctx = _sessions("session-store's own dashboards look healthy")
    assert _keys(ctx)[0] == "change:rel-12", _keys(ctx)
    assert any("responders found session-store healthy" in c.explanation for c in rank_causes(ctx))
    # another dependency found healthy says nothing of this one
    other = _sessions("user-db dashboards look healthy")
    assert _keys(other)[0] == "dependency:session-store", _keys(other)
    assert not any("found session-store healthy" in c.explanation for c in rank_causes(other))


def test_healthy_but_failing_does_not_sink_a_dependency() -> None:
    ctx = _sessions("session-store looks fine but its disk is full")
    assert not any("found session-store healthy" in c.explanation for c in rank_causes(ctx))


def test_nothing_changed_on_a_dependency_does_not_rule_it_out() -> None:
    ctx = _sessions("nothing changed on the session-store cluster, it's just the disk")
    dep = _cause(ctx, "dependency:session-store")
    assert _keys(ctx)[0] == "dependency:session-store"
    assert dep.score > RULED_OUT_CAP
    # saying it is not the cause does
    assert "dependency:session-store" not in _keys(_sessions("session-store is not the cause"))[:1]


# -- 11. node-level faults and the changes that touch them ---------------------------------------------------
def _ledger_pods(events: list[EventFact], alerts_extra: str = "") -> IncidentContext:
    """ledger-api pods OOMKilled; the node pool under them was upgraded the evening before; a release this morning."""
    return incident(
        service="ledger-api",
        title="Ledger API pods crash-looping",
        details="",
        dependencies=["ledger-db", "main-pool"],
        alerts=[_alert("k1", "KubePodOOMKilled", "ledger-api", f"ledger-api pods OOMKilled 14 times{alerts_extra}", 0)],
        changes=[
            ChangeFact(id="np-7", source="terraform", kind="infrastructure", service="main-pool", at=at(-15 * 60),
                       title="main-pool node pool 1.28 -> 1.30 (new node image)"),
            ChangeFact(id="rel-9", source="deploy", service="ledger-api", at=at(-50),
                       title="ledger-api 9.1.0 statement export"),
        ],
        events=events,
    )


def test_responders_reporting_a_cgroup_fault_make_the_node_pool_upgrade_lead() -> None:
    ctx = _ledger_pods([
        _said(10, "rolled back to 9.0.4, still OOMKilled, so not 9.1.0", "1"),
        _said(14, "the JVM reads node memory, no cgroup v2 support in that java build", "2"),
    ])
    causes = rank_causes(ctx)
    assert causes[0].key == "change:np-7", [(c.key, c.score) for c in causes]
    assert "node-level fault" in causes[0].explanation.lower()


def test_without_a_node_level_fault_the_node_pool_upgrade_does_not_lead() -> None:
    ctx = _ledger_pods([_said(10, "heap grows with each export, looks like 9.1.0 holds whole statements in memory", "1")])
    assert _keys(ctx)[0] != "change:np-7"


def test_a_question_about_cgroups_is_not_a_report() -> None:
    ctx = _ledger_pods([
        _said(10, "rolled back to 9.0.4, still OOMKilled, so not 9.1.0", "1"),
        _said(14, "could it be a cgroup thing?", "2"),
    ])
    np7 = [c for c in rank_causes(ctx) if c.key == "change:np-7"]
    assert not np7 or "node-level fault" not in np7[0].explanation.lower()
    assert _keys(ctx)[0] != "change:np-7"


# -- 12. "we didn't change anything": a dependency failing on its own fits better -----------------------------
def _filing(last: str) -> IncidentContext:
    """filing-api writes fail read-only after its database failed over; a scale-out of filing-api that morning."""
    return incident(
        service="filing-api",
        title="Return submissions failing",
        details="",
        dependencies=["returns-db", "payment-hub"],
        alerts=[
            _alert("r1", "RdsEventFailover", "returns-db", "returns-db: Multi-AZ failover (host hardware)", 0),
            _alert("f1", "FilingApiErrors", "filing-api",
                   "POST /returns 500 ratio 71%: cannot execute INSERT in a read-only transaction", 2),
        ],
        changes=[ChangeFact(id="cr-11", source="itsm-rfc", kind="rfc", service="filing-api", at=at(-280),
                            title="scale filing-api 12 -> 30 instances for the deadline")],
        events=[_said(12, "returns-db failed over at 20:46, the app still talks to the old primary", "1"),
                _said(16, last, "2")],
    )


def test_no_change_of_ours_lowers_the_changes_not_tied_to_the_trouble() -> None:
    quiet = _cause(_filing("restarting filing-api now"), "change:cr-11")
    told = _cause(_filing("we didn't change anything on the db, it's the failover"), "change:cr-11")
    assert told.score < quiet.score
    assert "no change of theirs" in told.explanation
    assert _keys(_filing("we didn't change anything on the db, it's the failover"))[0] == "dependency:returns-db"


def test_asking_whether_nothing_changed_says_nothing() -> None:
    asked = _cause(_filing("did nothing change on our side?"), "change:cr-11")
    assert "no change of theirs" not in asked.explanation


def test_no_config_changed_counts_as_no_change_of_ours() -> None:
    told = _cause(_filing("no config changed on the db hosts"), "change:cr-11")
    assert "no change of theirs" in told.explanation


def test_a_volume_its_alerts_name_names_the_dependency() -> None:
    def media(text: str) -> IncidentContext:
        return incident(
            service="cms-publisher", title="Uploads failing", details="", dependencies=["media-nfs"],
            alerts=[_alert("n1", "VolumeUsage", "media-nfs", "vol_media on filer-01: 100% used", 0),
                    _alert("c1", "UploadErrors", "cms-publisher", "POST /media 500: ENOSPC no space left on device", 3)],
            changes=[], events=[_said(10, text, "1")],
        )
    assert "responders describe media-nfs failing" in _cause(media("vol_media has no space left on device"),
                                                            "dependency:media-nfs").explanation
    assert "describe" not in _cause(media("uploads are slow for the desk"), "dependency:media-nfs").explanation


# -- 13. where the investigation has got to ------------------------------------------------------------------
def _orders(events: list[EventFact]) -> IncidentContext:
    """orders-api errors; two changes equally near in time on two of its dependencies."""
    return incident(
        service="orders-api", title="Orders failing", details="", dependencies=["tax-svc", "promo-svc"],
        alerts=[_alert("o1", "OrdersApi5xx", "orders-api", "orders-api 5xx 9%", 0)],
        changes=[
            ChangeFact(id="tax-41", source="deploy", service="tax-svc", at=at(-20), title="tax-svc 4.1.0 vat tables"),
            ChangeFact(id="promo-9", source="deploy", service="promo-svc", at=at(-20),
                       title="promo-svc 9.0.0 stacking rules"),
        ],
        events=events,
    )


def test_the_change_the_latest_statements_speak_of_gains() -> None:
    early = [_said(6, "tax-svc 4.1.0 changed the vat tables this morning", "1"),
             _said(7, "customers in three countries affected", "2"),
             _said(8, "support has a macro out", "3"),
             _said(9, "promo-svc 9.0.0 went out at the same time", "4"),
             _said(12, "the failing orders all carry stacked coupons, 9.0.0 rejects them", "5")]
    causes = rank_causes(_orders(early))
    assert causes[0].key == "change:promo-9", [(c.key, c.score) for c in causes]
    assert "latest discussion" in causes[0].explanation
    tax = _cause(_orders(early), "change:tax-41")
    assert "latest discussion" not in tax.explanation


def test_a_question_at_the_end_is_no_focus_and_a_ruled_out_change_gains_nothing() -> None:
    asked = rank_causes(_orders([_said(6, "anything else?", "1"), _said(9, "is it promo-svc 9.0.0?", "2")]))
    assert all("latest discussion" not in c.explanation for c in asked)
    ruled = [c for c in rank_causes(_orders([_said(9, "promo-svc 9.0.0 rolled back, no change", "1")]))
             if c.key == "change:promo-9"]
    assert not ruled or ("latest discussion" not in ruled[0].explanation and ruled[0].score <= RULED_OUT_CAP)


# -- 14. a change named by the value it set, said with a word of its title ----------------------------------
_MAXCONN = ChangeFact(id="gw-31", source="git", kind="config", service="mainframe-gw", at=at(-25),
                      title="gw: cics.pool.maxConnections 200 -> 60 per pod")


def _mainframe(text: str, *more: ChangeFact) -> IncidentContext:
    """mainframe-gw times out towards CICS; its pool cap was cut that morning; a release elsewhere."""
    return incident(
        service="mainframe-gw",
        title="Mainframe calls timing out",
        details="",
        dependencies=[],
        alerts=[_alert("g1", "GwTimeouts", "mainframe-gw", "mainframe-gw upstream timeouts 18%", 0)],
        changes=[_MAXCONN, ChangeFact(id="rel-21", source="deploy", service="mainframe-gw", at=at(-40),
                                      title="mainframe-gw 2.1.0 audit log"), *more],
        events=[_said(8, text, "1")],
    )


def test_the_new_value_with_a_title_word_names_the_change() -> None:
    named = _cause(_mainframe("only 60 sessions per pod on the cics side"), "change:gw-31")
    assert "its new value 60" in named.explanation, named.explanation
    # the value alone, with no word of the title, names nothing
    bare = _cause(_mainframe("60 errors a minute"), "change:gw-31")
    assert "new value" not in bare.explanation and "responders" not in bare.explanation
    # nor does a value another change also set
    other = ChangeFact(id="jvm-4", source="git", kind="config", service="batch-runner", at=at(-30),
                       title="batch-runner: cics timeout 30 -> 60")
    shared = _mainframe("only 60 sessions per pod on the cics side", other)
    assert "new value" not in _cause(shared, "change:gw-31").explanation
    assert "new value" not in _cause(shared, "change:jvm-4").explanation


# -- 15. the trouble came before the change ----------------------------------------------------------------
def _restarts(text: str) -> IncidentContext:
    """quote-api pods restarting; a config change at 09:55, its time unique among the changes."""
    return incident(
        service="quote-api",
        title="Quote pods restarting",
        details="",
        dependencies=[],
        alerts=[_alert("q1", "QuotePodRestarts", "quote-api", "quote-api pods restarting, 9 restarts in 10m", 0)],
        changes=[
            ChangeFact(id="qc-55", source="git", kind="config", service="quote-api", at=at(-5),
                       title="quote-api: liveness probe period 10s -> 5s"),
            ChangeFact(id="rel-30", source="deploy", service="pricing-ui", at=at(-90), title="pricing-ui 3.0 banner"),
        ],
        events=[_said(8, text, "1")],
    )


def test_trouble_before_the_change_too_rules_it_out() -> None:
    text = "they were restarting before the 09:55 change too"
    before = [c for c in rank_causes(_restarts(text)) if c.key == "change:qc-55"]
    assert not before or ("ruled it out (by its time 09:55)" in before[0].explanation
                          and before[0].score <= RULED_OUT_CAP), before
    after = _cause(_restarts("they were restarting after the 09:55 change"), "change:qc-55")
    assert "its time 09:55" in after.explanation and "ruled it out" not in after.explanation
    assert after.score > RULED_OUT_CAP


# -- 16. a build-up "ever since" a release traces it there -------------------------------------------------
def _heap(text: str) -> IncidentContext:
    return incident(
        service="ledger-web",
        title="Ledger web slow",
        details="",
        dependencies=[],
        alerts=[_alert("h1", "LedgerWebLatency", "ledger-web", "ledger-web p99 6s on /statements", 0)],
        changes=[
            ChangeFact(id="rel-54", source="deploy", service="ledger-web", at=at(-6 * 60), title="ledger-web 5.4.0 filters"),
            ChangeFact(id="cfg-2", source="git", kind="config", service="ledger-web", at=at(-30),
                       title="ledger-web: log level debug -> info"),
        ],
        events=[_said(8, text, "1")],
    )


@pytest.mark.parametrize("text", [
    "memory has been creeping ever since 5.4 went out",
    "heap climbing since 5.4 went out",
    "old gen growing since 5.4 went out",
])
def test_a_build_up_ever_since_a_release_confirms_it(text: str) -> None:
    assert "responders confirmed it (by version 5.4)" in _cause(_heap(text), "change:rel-54").explanation


def test_since_a_release_with_no_build_up_does_not_confirm_it() -> None:
    assert "confirmed" not in _cause(_heap("since 5.4 went out we have more users"), "change:rel-54").explanation


# -- 17. waits for a pooled connection ---------------------------------------------------------------------
@pytest.mark.parametrize("summary", ["claims-api pool wait p95 2.9s", "claims-api requests queuing for a connection"])
def test_waits_for_a_pooled_connection_are_the_pool_signal(summary: str) -> None:
    ctx = incident(service="claims-api", title="Claims slow", details="", dependencies=[], events=[], changes=[],
                   alerts=[_alert("p1", "ClaimsSlow", "claims-api", summary, 0)])
    assert "signal:connection-pool" in _keys(ctx), _keys(ctx)
    plain = incident(service="claims-api", title="Claims slow", details="", dependencies=[], events=[], changes=[],
                     alerts=[_alert("p1", "ClaimsSlow", "claims-api", "claims-api requests queuing at the gateway", 0)])
    assert "signal:connection-pool" not in _keys(plain)


# -- 18. a signal merged with a dependency stands for it ---------------------------------------------------
def _claims_db(events: list[EventFact], on: str = "claims-db") -> IncidentContext:
    """claims-api 5xx; then claims-db's alerts, all of them pool exhaustion; an unrelated release of claims-api."""
    return incident(
        service="claims-api",
        title="Claims failing",
        details="",
        dependencies=["claims-db"],
        alerts=[
            _alert("a1", "ClaimsApi5xx", "claims-api", "claims-api 5xx 20%", 0),
            _alert("d1", "ClaimsDbConnections", on, f"{on} too many connections (500/500)", 2),
            _alert("d2", "ClaimsDbSlots", on, f"{on} remaining connection slots are reserved", 3),
            _alert("d3", "ClaimsDbPool", on, f"{on} pgbouncer pool exhausted", 4),
        ],
        changes=[ChangeFact(id="rel-77", source="deploy", service="claims-api", at=at(-20),
                            title="claims-api 7.7.0 pdf export")],
        events=events,
    )


def test_a_signal_merged_with_a_dependency_is_not_pushed_below_as_a_mere_signal() -> None:
    causes = rank_causes(_claims_db([]))
    pool = next(c for c in causes if c.key == "signal:connection-pool")
    assert "dependency:claims-db" in pool.also
    assert "not why" not in pool.explanation
    assert causes[0].key == "signal:connection-pool", [(c.key, c.score) for c in causes]
    assert _cause(_claims_db([]), "change:rel-77").score >= CONCRETE_FLOOR
    # the same alerts on claims-api itself: a mere signal, below the likely change
    own = rank_causes(_claims_db([], on="claims-api"))
    assert own[0].key == "change:rel-77", [(c.key, c.score) for c in own]
    assert next(c for c in own if c.key == "signal:connection-pool").also == ()


def test_a_signal_merged_with_a_dependency_found_healthy_is_ruled_out() -> None:
    ctx = _claims_db([_said(8, "claims-db's own dashboards look healthy", "1")])
    merged = next((c for c in rank_causes(ctx) if "dependency:claims-db" in (c.key, *c.also)), None)
    assert merged is None or (merged.score <= RULED_OUT_CAP
                              and "responders found claims-db healthy" in merged.explanation), merged
    assert _keys(ctx)[0] == "change:rel-77", _keys(ctx)


# -- 19. a dependency whose alerts name a changed service as what holds it --------------------------------
def _payouts(summary: str, **labels: str) -> IncidentContext:
    """payout-api times out; payout-db lock waits; the reconciliation job was rescheduled 15 min before."""
    return incident(
        service="payout-api",
        title="Payouts stuck",
        details="",
        dependencies=["payout-db"],
        alerts=[
            _alert("a1", "PayoutApiTimeouts", "payout-api", "payout-api timeouts 30% on POST /payouts", 0),
            _alert("d1", "PgLockWait", "payout-db", summary, 1, **labels),
        ],
        changes=[
            ChangeFact(id="job-5", source="git", kind="config", service="payout-recon", at=at(-15),
                       title="payout-recon: run reconciliation every 5 min"),
            ChangeFact(id="rel-9", source="deploy", service="payout-ui", at=at(-60), title="payout-ui 9.0 theme"),
        ],
        events=[],
    )


def _on_payout_db(ctx: IncidentContext) -> str:
    return next(c.explanation for c in rank_causes(ctx) if "dependency:payout-db" in (c.key, *c.also))


def test_a_dependency_whose_alerts_name_the_changed_holder_is_its_symptom() -> None:
    ctx = _payouts("payout-db lock wait 40s: blocking pid 88121 (application_name=payout-recon)")
    assert "more likely a symptom of change job-5, which its alerts name" in _on_payout_db(ctx)
    assert _keys(ctx)[0] == "change:job-5", _keys(ctx)
    # the changed service's name only as a label of the alert is not the alert naming it
    labelled = _payouts("payout-db lock wait 40s on the payouts table", app="payout-recon")
    assert "symptom of change" not in _on_payout_db(labelled)


# -- 20. the likeliest change names what it explains, even when already below it --------------------------
def _pool_cut(summary: str, *more: ChangeFact) -> IncidentContext:
    """claims-api 5xx; its pool was cut 8 min before and responders confirm it; a late second alert."""
    return incident(
        service="claims-api",
        title="Claims failing",
        details="",
        dependencies=[],
        alerts=[_alert("a1", "Claims5xx", "claims-api", "claims-api 5xx 20% on POST /claims", 0),
                _alert("a2", "ClaimsLate", "claims-api", summary, 30)],
        changes=[ChangeFact(id="cfg-40", source="git", kind="config", service="claims-api", at=at(-8),
                            title="claims-api: db pool size 40 -> 10"), *more],
        events=[_said(8, "cfg-40 is the culprit", "1")],
    )


_WORKER_POOL = ChangeFact(id="cfg-41", source="git", kind="config", service="claims-worker", at=at(-300),
                          title="claims-worker: db pool size 20 -> 15")


def test_the_likeliest_change_annotates_a_signal_it_touches_already_well_below_it() -> None:
    causes = rank_causes(_pool_cut("claims-api hikari pool: connection timeout", _WORKER_POOL))
    assert causes[0].key == "change:cfg-40", [(c.key, c.score) for c in causes]
    pool = next(c for c in causes if c.key == "signal:connection-pool")
    assert pool.score < causes[0].score - 0.05
    assert "more likely a symptom of change cfg-40, which touches it" in pool.explanation
    # once, and by the likeliest change only: the other pool change, also above it, says nothing
    assert pool.explanation.count("likely a symptom") == 1 and "cfg-41" not in pool.explanation
    # a signal it does not touch is not its symptom
    memory = _cause(_pool_cut("claims-api pods OOMKilled"), "signal:memory")
    assert "symptom" not in memory.explanation


@pytest.mark.parametrize(("clause", "name"), [
    ("they were restarting before the 09:55 change too", "09:55"),
    ("before the change at 09:55 too", "change"),
    ("errors already before 5.4", "5.4"),
    ("latency was bad before 5.4 too", "5.4"),
])
def test_the_trouble_came_before_the_change(clause: str, name: str) -> None:
    from warroom.ai.statements import _came_first

    assert _came_first(clause, [clause.find(name)])


def test_after_the_change_too_is_not_before_it() -> None:
    from warroom.ai.statements import _came_first

    assert not _came_first("restarting after 5.4 too", [20])
    assert not _came_first("before lunch 5.4 went out", [13])


def _storage(text: str) -> IncidentContext:
    return incident(
        service="git-frontend", title="Pushes failing", details="", dependencies=["repo-db", "git-storage"],
        alerts=[_alert("d1", "PostgresDiskFull", "repo-db", "repo-db pg_wal 100% used", 0),
                _alert("g1", "GitPushFailures", "git-frontend", "100% of pushes error", 2)],
        changes=[ChangeFact(id="chg-77", source="itsm-rfc", kind="infrastructure", service="git-storage", at=at(-90),
                            title="add storage-09 node, rebalance 4% of repos"),
                 ChangeFact(id="chg-12", source="itsm-rfc", kind="config", service="repo-db", at=at(-1800),
                            title="repo-db: statement logging threshold lowered")],
        events=[_said(8, text, "1")],
    )


def test_a_distinctive_title_word_said_as_a_noun_names_the_change() -> None:
    c77 = _cause(_storage("moving repos around in the rebalance writes a lot of metadata"), "change:chg-77")
    assert "“the rebalance”" in c77.explanation


def test_trouble_that_fired_before_the_change_rules_it_out() -> None:
    causes = rank_causes(_storage("the filling-up warning fired at 17:20, before the rebalance"))
    c77 = [c for c in causes if c.key == "change:chg-77"]
    assert not c77 or (c77[0].score <= RULED_OUT_CAP and "ruled it out" in c77[0].explanation)
    # without the trouble coming first, "before the rebalance" rules nothing out
    kept = _cause(_storage("we snapshotted the db before the rebalance"), "change:chg-77")
    assert "ruled it out" not in kept.explanation


# -- 21. a reply about the change just named; alerts blaming a changed service ---------------------------------
def _consumers(reply: str) -> IncidentContext:
    return incident(
        service="edi-sender", title="EDI stalled", details="", dependencies=["kafka-main"],
        alerts=[_alert("k1", "ConsumerGroupRebalancing", "edi-sender", "consumer group edi-sender rebalancing", 0)],
        changes=[ChangeFact(id="kcfg-1", source="itsm-rfc", kind="config", service="kafka-main", at=at(-20),
                            title="kafka-main: group.initial.rebalance.delay.ms 3000 -> 0")],
        events=[_said(5, "someone set the initial rebalance delay to 0 at 06:30, revert?", "1"), _said(7, reply, "2")],
    )


def test_a_reply_opening_on_that_speaks_of_the_change_just_named() -> None:
    ruled = [c for c in rank_causes(_consumers("that only affects the very first join of an empty group"))
             if c.key == "change:kcfg-1"]
    assert not ruled or "ruled it out" in ruled[0].explanation
    kept = _cause(_consumers("members are kicked for poll timeouts, client side"), "change:kcfg-1")
    assert "ruled it out" not in kept.explanation


def _portal(lock_alert: str) -> IncidentContext:
    return incident(
        service="portal", title="Portal timing out", details="", dependencies=["billing-db", "billing-batch"],
        alerts=[_alert("d1", "PostgresLockWaits", "billing-db", lock_alert, 0),
                _alert("p1", "Portal504", "portal", "31% of requests return 504", 10)],
        changes=[ChangeFact(id="cron-41", source="itsm-rfc", kind="config", service="billing-batch", at=at(-900),
                            title="billing-batch: move invoice run schedule"),
                 ChangeFact(id="rel-87", source="deploy", service="portal", at=at(-25), title="portal 3.87.7 widget")],
        events=[],
    )


def test_an_alert_on_another_service_naming_the_changed_service_names_the_change() -> None:
    blamed = _cause(_portal("412 sessions waiting; blocking pid 88 application_name=billing-batch"), "change:cron-41")
    assert "the alerts on billing-db name billing-batch" in blamed.explanation
    plain = [c for c in rank_causes(_portal("412 sessions waiting on locks")) if c.key == "change:cron-41"]
    assert not plain or plain[0].score < blamed.score
