"""RCA rules of the fourth round, each on a small made-up incident with a counter-case: the change the latest
discussion settles on; a lowered limit that bites at the next peak; a limit found pinned at the value a change set;
versions said in full or in short; what responders' words rule out, confirm, or leave as no effect; more ways a
change is named; "no change of ours"; providers reported on their status sites; and an expired certificate read in
the logs."""

from __future__ import annotations

import pytest

from warroom.ai import ChangeFact, EventFact, IncidentContext
from warroom.ai.rca import rank_causes
from warroom.ai.rca_passes import NO_CHANGE_OF_OURS, RULED_OUT_CAP
from warroom.ai.statements import ceiling_values, judge, lowers_a_ceiling, names_release, pinned_at

from .conftest import at, incident
from .test_rca_symptoms import _alert, _cause, _keys, _said


def _explained(ctx: IncidentContext) -> dict[str, str]:
    return {c.key: c.explanation for c in rank_causes(ctx)}


def _lines(*texts: str, start: float = 6) -> list[EventFact]:
    return [_said(start + i, t, str(i + 1)) for i, t in enumerate(texts)]


SETTLED = "the latest statements settle on it"


# -- 1. the change the latest statements settle on ----------------------------------------------------------------
def _invoices(*texts: str, more: tuple[ChangeFact, ...] = ()) -> IncidentContext:
    """billing-api slow; an old config change (cfg-31, 07:15) and a fresher, likelier deploy (rel-18)."""
    return incident(
        service="billing-api",
        title="Invoices slow to render",
        details="",
        dependencies=[],
        alerts=[_alert("b1", "BillingLatency", "billing-api", "billing-api p99 9s on GET /invoices", 0)],
        changes=[
            ChangeFact(id="cfg-31", source="git", kind="config", service="pdf-renderer", at=at(-165),
                       title="pdf-renderer: font-cache-warmup disabled, render workers 12 -> 16"),
            ChangeFact(id="rel-18", source="deploy", service="billing-api", at=at(-20),
                       title="billing-api 3.12.1 invoice list paging"),
            *more,
        ],
        events=_lines(*texts),
    )


_QUIET = ("looking at traces now", "p99 still climbing")


@pytest.mark.parametrize("text", [
    "traces point at cfg-31, every slow span is in the renderer",  # its id
    "every slow span sits behind font-cache-warmup",  # a long hyphenated name
    "the change at 07:15 is where the slow spans start",  # its time
])
def test_the_change_named_exactly_in_the_latest_statements_is_settled_on(text: str) -> None:
    quiet = _cause(_invoices(*_QUIET), "change:cfg-31") if "change:cfg-31" in _keys(_invoices(*_QUIET)) else None
    settled = _cause(_invoices(*_QUIET, text), "change:cfg-31")
    assert SETTLED in settled.explanation
    assert quiet is None or settled.score > quiet.score + 0.2


def test_the_settled_change_ranks_first_over_a_fresher_deploy() -> None:
    ctx = _invoices(*_QUIET, "traces point at cfg-31, every slow span is in the renderer")
    assert _keys(ctx)[0] == "change:cfg-31", _keys(ctx)


def test_only_began_with_the_change_is_no_ruling_out() -> None:
    assert judge("slow spans only began with the change at 07:15") != -1
    ctx = _invoices(*_QUIET, "slow spans only began with the change at 07:15")
    assert SETTLED in _cause(ctx, "change:cfg-31").explanation


def test_a_settled_change_on_the_affected_service_ranks_first() -> None:
    ctx = incident(
        service="billing-api",
        title="Invoices slow to render",
        details="",
        dependencies=[],
        alerts=[_alert("b1", "BillingLatency", "billing-api", "billing-api p99 9s on GET /invoices", 0)],
        changes=[
            ChangeFact(id="cfg-31", source="git", kind="config", service="billing-api", at=at(-165),
                       title="billing-api: font-cache-warmup disabled"),
            ChangeFact(id="rel-18", source="deploy", service="billing-web", at=at(-20),
                       title="billing-web 3.12.1 invoice list paging"),
        ],
        events=_lines(*_QUIET, "every slow span sits behind font-cache-warmup"),
    )
    assert _keys(ctx)[0] == "change:cfg-31", _keys(ctx)
    assert SETTLED in _cause(ctx, "change:cfg-31").explanation


def test_a_full_version_in_the_latest_statement_settles_on_the_release() -> None:
    ctx = _invoices("looking at traces now", "the paging query in 3.12.1 does a full scan per page")
    assert SETTLED in _cause(ctx, "change:rel-18").explanation
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_nothing_settled_when_no_change_is_named() -> None:
    explained = _explained(_invoices(*_QUIET, "renderer pods look busy"))
    assert not any(SETTLED in e for e in explained.values()), explained


def test_telling_people_settles_nothing() -> None:
    ctx = _invoices(*_QUIET, "tell northwind their invoices from cfg-31 onwards will be late")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_a_later_status_page_line_ends_the_settling() -> None:
    ctx = _invoices("traces point at cfg-31, every slow span is in the renderer",
                    "the pdf vendor status page shows degraded rendering in EU")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_a_later_nothing_we_shipped_ends_the_settling() -> None:
    ctx = _invoices("traces point at cfg-31, every slow span is in the renderer",
                    "nothing we deployed this week touches fleet")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_a_change_named_then_asked_about_is_not_settled_on() -> None:
    ctx = _invoices(*_QUIET, "the font-cache-warmup switch-off — did that slow every render?")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_talk_of_rolling_back_settles_nothing() -> None:
    ctx = _invoices(*_QUIET, "rolling back cfg-31 now")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def test_a_ruled_out_change_is_not_settled_on() -> None:
    ctx = _invoices(*_QUIET, "cfg-31 is unrelated, the renderer is idle")
    assert SETTLED not in _explained(ctx).get("change:cfg-31", "")


def _rolled_back(minutes: float) -> IncidentContext:
    rollback = ChangeFact(id="rb-2", source="deploy", service="billing-api", at=at(minutes),
                          title="rollback billing-api 3.12.1 → 3.12.0")
    return _invoices(*_QUIET, "rb-2 is on every pod now", more=(rollback,))


def test_a_change_made_after_the_trouble_began_is_never_settled_on() -> None:
    assert SETTLED not in _explained(_rolled_back(30)).get("change:rb-2", "")


def test_a_rollback_deploy_minutes_after_the_trouble_began_is_not_settled_on() -> None:
    assert SETTLED not in _explained(_rolled_back(12)).get("change:rb-2", "")


def test_initials_of_a_three_part_name_name_and_settle_on_a_change() -> None:
    ctx = incident(
        service="session-grid",
        title="Session writes rejected",
        details="",
        dependencies=[],
        alerts=[_alert("g1", "GridWriteRejects", "session-grid", "session-grid rejecting writes on 2 of 5 members", 0)],
        changes=[
            ChangeFact(id="grid-9", source="git", kind="config", service="session-grid", at=at(-300),
                       title="enable quorum-loss-guard on all members"),
            ChangeFact(id="rel-4", source="deploy", service="session-grid", at=at(-25),
                       title="session-grid 4.4.0 metrics"),
        ],
        events=_lines("members 2 and 5 keep fencing themselves", "QLG fences the minority side on every blip"),
    )
    cause = _cause(ctx, "change:grid-9")
    assert SETTLED in cause.explanation
    assert _keys(ctx)[0] == "change:grid-9", _keys(ctx)


def _orders_db(*texts: str) -> IncidentContext:
    """orders-db alerts first; a migration was made on it the day before; a decoy deploy of the service."""
    return incident(
        service="orders-api",
        title="Orders failing",
        details="",
        dependencies=["orders-db"],
        alerts=[
            _alert("d1", "OrdersDbCpu", "orders-db", "orders-db cpu 97% on the primary", -2),
            _alert("o1", "Orders5xx", "orders-api", "orders-api 5xx 18%", 0),
        ],
        changes=[
            ChangeFact(id="mig-62", source="flyway", kind="database", service="orders-db", at=at(-20 * 60),
                       title="V62 backfill order_totals_v2 for archived orders"),
            ChangeFact(id="rel-7", source="deploy", service="orders-api", at=at(-40),
                       title="orders-api 7.0.4 gift notes"),
        ],
        events=_lines(*texts),
    )


def test_a_settled_change_counts_as_confirmed_for_the_dependency_it_was_made_on() -> None:
    ctx = _orders_db("primary is busy with one long query", "top query is the order_totals_v2 backfill from mig-62")
    keys = _keys(ctx)
    assert keys[0] == "change:mig-62", keys
    assert keys.index("change:mig-62") < keys.index("dependency:orders-db")
    # without the latest word on it, the dependency that alerted first stays ahead
    plain = _keys(_orders_db("primary is busy with one long query", "checking pg_stat_activity"))
    assert plain.index("dependency:orders-db") < plain.index("change:mig-62"), plain


# -- 2. a lowered limit bites at the next peak -------------------------------------------------------------------
@pytest.mark.parametrize(("title", "lowered"), [
    ("edge-lb: per-backend maxconn 500 -> 100", True),
    ("reports-api: db pool size from 50 to 20", True),
    ("edge-lb: per-backend maxconn 100 -> 500", False),
    ("reports-api: db pool size from 20 to 50", False),
    ("reports-api: request timeout 30 -> 10", False),  # not a limit on how much runs at once
])
def test_lowers_a_ceiling(title: str, lowered: bool) -> None:
    assert lowers_a_ceiling(title) is lowered


def _reports(title: str) -> IncidentContext:
    """reports-api failing at the Monday peak; a limit changed on Friday; nothing else."""
    return incident(
        service="reports-api",
        title="Report exports failing",
        details="",
        dependencies=[],
        events=[],
        alerts=[_alert("r1", "ReportsErrors", "reports-api", "reports-api 503 on 25% of exports", 0)],
        changes=[ChangeFact(id="cfg-88", source="git", kind="config", service="reports-api", at=at(-3 * 1440),
                            title=title)],
    )


def test_a_lowered_limit_stays_suspect_for_days_and_a_raised_one_does_not() -> None:
    lowered = _cause(_reports("reports-api: worker threads 64 -> 16"), "change:cfg-88")
    raised = next((c for c in rank_causes(_reports("reports-api: worker threads 16 -> 64")) if c.key == "change:cfg-88"),
                  None)
    assert "an earlier change stays suspect" in lowered.explanation
    assert raised is None or "stays suspect" not in raised.explanation
    assert raised is None or lowered.score > raised.score + 0.15


# -- 3. a limit a change set, found pinned ------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "values"), [
    ("thumbnailer: reserved_concurrent_executions = 50", {"50"}),
    ("events stream MAXLEN ~ 50000", {"50000"}),
    ("ingest rate limit policy (amount 200) per source", {"200"}),
    ("copy tweak on the 50 most popular pages", set()),  # a number, no limit
])
def test_ceiling_values(text: str, values: set[str]) -> None:
    assert ceiling_values(text) == values


def test_a_throttle_amount_is_a_ceiling_value() -> None:
    assert ceiling_values("ingest throttle (amount 200) per source") == {"200"}


@pytest.mark.parametrize(("text", "pinned"), [
    ("concurrency flat at 50 since 09:58", "50"),
    ("pool 40/40 on every pod", "40"),
    ("stream length sitting at ~50k", "50000"),
    ("at 200 in flight per source we're capped", "200"),
    ("concurrency flat at 48 since 09:58", None),  # another value
    ("is concurrency flat at 50?", None),  # asked
])
def test_pinned_at(text: str, pinned: str | None) -> None:
    assert pinned_at({"50", "40", "50000", "200"}, text) == pinned


def _thumbs(finding: str) -> IncidentContext:
    return incident(
        service="thumb-api",
        title="Thumbnails timing out",
        details="",
        dependencies=["thumb-resizer"],
        alerts=[_alert("t1", "ThumbLatency", "thumb-api", "thumb-api p99 14s", 0)],
        changes=[
            ChangeFact(id="lam-5", source="terraform", kind="infrastructure", service="thumb-resizer",
                       at=at(-6 * 1440), title="thumb-resizer: reserved_concurrent_executions = 50"),
            ChangeFact(id="rel-21", source="deploy", service="thumb-api", at=at(-90), title="thumb-api 2.1.0 avif"),
        ],
        events=_lines(finding, "paging the media team"),
    )


def test_something_pinned_at_the_limit_a_change_set_lifts_it() -> None:
    ctx = _thumbs("resizer invocations flat at 50 all morning")
    cause = _cause(ctx, "change:lam-5")
    assert "something is pinned at 50, the limit it set" in cause.explanation
    assert _keys(ctx)[0] == "change:lam-5", _keys(ctx)


def test_something_pinned_at_another_value_does_not_lift_it() -> None:
    other = next((c for c in rank_causes(_thumbs("resizer invocations flat at 35 all morning"))
                  if c.key == "change:lam-5"), None)
    assert other is None or "pinned" not in other.explanation


# -- 4. versions ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("title", "said", "named"), [
    ("pos-web 7.2.1 receipt footer", "7.2.0 broke card taps", False),
    ("pos-web 7.2.0 tap to pay", "7.2.0 broke card taps", True),
    ("cart-api 4.18.3 coupons", "errors since 4.18", True),
    ("cart-api 4.18.3 coupons", "errors since 4.1", False),
])
def test_a_version_said_in_full_names_only_itself_and_a_short_one_its_patches(title: str, said: str,
                                                                            named: bool) -> None:
    assert names_release(title, said) is named


def _pos(text: str) -> IncidentContext:
    return incident(
        service="pos-web",
        title="Card taps failing",
        details="",
        dependencies=[],
        alerts=[_alert("p1", "PosTapErrors", "pos-web", "pos-web tap payments failing 30%", 0)],
        changes=[
            ChangeFact(id="pw-720", source="deploy", service="pos-web", at=at(-90), title="pos-web 7.2.0 tap to pay"),
            ChangeFact(id="pw-721", source="deploy", service="pos-web", at=at(-30),
                       title="pos-web 7.2.1 receipt footer"),
        ],
        events=_lines(text),
    )


def test_a_full_version_in_chat_picks_its_release_not_the_next_patch() -> None:
    explained = _explained(_pos("7.2.0 is the culprit, tap to pay breaks the NFC handshake"))
    assert "responders confirmed it (by version 7.2" in explained["change:pw-720"]
    assert "responders" not in explained.get("change:pw-721", "")


def _frames(text: str) -> IncidentContext:
    return incident(
        service="video-rtc",
        title="Calls dropping",
        details="",
        dependencies=[],
        alerts=[_alert("v1", "RtcCallDrops", "video-rtc", "video-rtc calls dropped 12%", 0)],
        changes=[
            ChangeFact(id="rtc-31", source="deploy", service="video-rtc", at=at(-60),
                       title="video-rtc 3.12.1 frame batching"),
            ChangeFact(id="rtc-rb", source="deploy", service="video-rtc", at=at(15),
                       title="rollback 3.12.1 → 3.12.0"),
        ],
        events=_lines(text),
    )


def test_a_rollbacks_title_carries_no_versions_of_its_own() -> None:
    explained = _explained(_frames("3.12.1 is the culprit, batching stalls the keyframes"))
    assert "responders confirmed it (by version 3.12.1)" in explained["change:rtc-31"]
    assert "responders" not in explained.get("change:rtc-rb", "")


def _bookings(text: str) -> IncidentContext:
    return incident(
        service="booking-api",
        title="Bookings hang",
        details="",
        dependencies=["booking-db"],
        alerts=[_alert("k1", "PgLockWaits", "booking-db", "booking-db 300 sessions waiting on locks", 0),
                _alert("k2", "BookingTimeouts", "booking-api", "booking-api timeouts 40%", 1)],
        changes=[
            ChangeFact(id="fw-87", source="flyway", kind="database", service="booking-db", at=at(-10),
                       title="Flyway V87__bookings_add_channel.sql"),
            ChangeFact(id="rel-6", source="deploy", service="booking-api", at=at(-35),
                       title="booking-api 6.2.0 waitlist"),
        ],
        events=_lines(text),
    )


def test_a_v_number_with_a_flyway_name_names_the_migration() -> None:
    cause = _cause(_bookings("head blocker is the V87 migration, holding an access exclusive lock"), "change:fw-87")
    assert "responders confirmed it (by version v87)" in cause.explanation
    assert _keys(_bookings("head blocker is the V87 migration"))[0] == "change:fw-87"
    assert "responders" not in _cause(_bookings("V8 engine heap looks fine"), "change:fw-87").explanation


# -- 5. statements ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clause", [
    "the retry tweak doesn't affect send latency",
    "rounding change wouldn't duplicate anything",
    "22.4 code doesn't use the index",
    "the new footer is not relevant",
    "only added a subscription on ledger-events, different entity",
    "that deploy is just template copy",
    "4.3.2 is just the invoice header",
    "3.4.1 is a label wording fix",
    "search-ui 2.2, ignore",
    "Not rolling back 6.1.0 yet",
    "2.7 has been live since Tuesday evening without issues",
    "5.0.2 held up fine during yesterday's lunch peak",
])
def test_statements_that_rule_a_change_out(clause: str) -> None:
    assert judge(clause) == -1


@pytest.mark.parametrize("clause", ["the retry tweak can't affect send latency",
                                    "that footer change won't affect checkout"])
def test_cant_and_wont_affect_rule_a_change_out(clause: str) -> None:
    assert judge(clause) == -1


@pytest.mark.parametrize("clause", [
    "pool of 100 was fine all day at normal traffic, the storm peak needs ~130",
    "the only config change today was the pool cut",
    "rolling back 12.4.0",
    "7.2.1 went out at 09:40",
])
def test_statements_that_do_not_rule_a_change_out(clause: str) -> None:
    assert judge(clause) != -1


@pytest.mark.parametrize("clause", [
    "found it.",
    "the head blocker is V87, it holds the lock",
    "my bad, that was my config push",
])
def test_statements_that_confirm(clause: str) -> None:
    assert judge(clause) == 1


def test_found_it_mid_sentence_is_not_a_confirmation() -> None:
    assert judge("found it odd that the pods restarted") == 0


def _mailer(*after: str) -> IncidentContext:
    """notify-api queueing; 5.2.0 rolled back at 10:10; whatever is said after."""
    return incident(
        service="notify-api",
        title="Notifications delayed",
        details="",
        dependencies=[],
        alerts=[_alert("n1", "NotifyQueueDepth", "notify-api", "notify-api send queue 80k deep", 0)],
        changes=[
            ChangeFact(id="nt-52", source="deploy", service="notify-api", at=at(-30),
                       title="notify-api 5.2.0 batch sender"),
            ChangeFact(id="nt-cfg", source="git", kind="config", service="notify-api", at=at(-200),
                       title="notify-api: log sampling 10% -> 1%"),
        ],
        events=[_said(8, "rolled back 5.2.0", "1"), *(_said(12 + i, t, str(i + 2)) for i, t in enumerate(after))],
    )


@pytest.mark.parametrize("after", [
    "still queueing",
    "still connection reset on the smtp side",
    "still throttled by the relay",
    "same ServiceTimeout errors in the logs",
    "same numbers",
    "latency the same",
    "timeouts unchanged",
])
def test_no_effect_after_a_rollback_rules_the_change_out(after: str) -> None:
    cause = next((c for c in rank_causes(_mailer(after)) if c.key == "change:nt-52"), None)
    assert cause is None or ("responders ruled it out" in cause.explanation and cause.score <= RULED_OUT_CAP), cause


def test_recovery_after_a_rollback_confirms_the_change() -> None:
    cause = _cause(_mailer("queue draining, back to normal"), "change:nt-52")
    assert "responders confirmed it" in cause.explanation


def test_draining_nodes_after_a_rollback_is_not_recovery() -> None:
    cause = _cause(_mailer("drained two nodes"), "change:nt-52")
    assert "confirmed" not in cause.explanation


def test_a_rollback_to_be_safe_lifts_nothing() -> None:
    safe = _cause(incident(
        service="notify-api", title="Notifications delayed", details="", dependencies=[],
        alerts=[_alert("n1", "NotifyQueueDepth", "notify-api", "notify-api send queue 80k deep", 0)],
        changes=[ChangeFact(id="nt-52", source="deploy", service="notify-api", at=at(-30),
                            title="notify-api 5.2.0 batch sender")],
        events=[_said(8, "rolling back 5.2.0 to be safe", "1")],
    ), "change:nt-52")
    assert "rolled it back" not in safe.explanation and "confirmed" not in safe.explanation
    plain = _cause(_mailer(), "change:nt-52")
    assert "responders rolled it back or tied the trouble to it" in plain.explanation


# -- 6. naming ------------------------------------------------------------------------------------------------
def _pushes(text: str) -> IncidentContext:
    return incident(
        service="push-gw",
        title="Push notifications lagging",
        details="",
        dependencies=[],
        alerts=[_alert("q1", "PushLag", "push-gw", "push-gw delivery lag 12 min", 0)],
        changes=[
            ChangeFact(id="hz-3", source="git", kind="config", service="queue-workers", at=at(-70),
                       title="queue-workers: push-ios maxProcesses 8 -> 12"),
            ChangeFact(id="es-9", source="git", kind="config", service="search-cluster", at=at(-50),
                       title="search-cluster: refresh_interval 1s -> 30s"),
        ],
        events=_lines(text),
    )


def test_a_setting_in_code_form_names_its_change() -> None:
    explained = _explained(_pushes("the maxProcesses bump is the culprit, workers thrash the apns socket"))
    assert "responders confirmed it" in explained["change:hz-3"]
    assert "responders" not in explained.get("change:es-9", "")
    other = _explained(_pushes("refresh_interval change is the culprit"))
    assert "responders confirmed it" in other["change:es-9"]
    assert "responders" not in other.get("change:hz-3", "")


def _resolver(text: str) -> IncidentContext:
    """06:10 a DNS record; 09:35 a new dedup worker; trouble at 10:00."""
    return incident(
        service="lab-portal",
        title="Lab results missing",
        details="",
        dependencies=[],
        alerts=[_alert("l1", "LabResultsMissing", "lab-portal", "lab-portal results missing for 8% of orders", 0)],
        changes=[
            ChangeFact(id="dns-14", source="route53", kind="dns", service="lab-edge", at=at(-230),
                       title="CNAME results.lab -> new edge"),
            ChangeFact(id="dd-2", source="deploy", service="results-dedup", at=at(-25),
                       title="results-dedup 1.0.0 first release"),
        ],
        events=_lines(text),
    )


def test_we_added_a_record_at_a_minute_names_the_change_made_then() -> None:
    explained = _explained(_resolver("we added a dns record at 06:10, that's the culprit"))
    assert "its time 06:10" in explained["change:dns-14"]
    assert "06:10" not in explained.get("change:dd-2", "")


def test_came_up_at_a_minute_names_the_change_made_then() -> None:
    explained = _explained(_resolver("the new worker came up at 09:35 and results vanish since, that's the culprit"))
    assert "its time 09:35" in explained["change:dd-2"]
    # a minute when nothing was changed names nothing
    none = _explained(_resolver("the new worker came up at 09:36 and results vanish since, that's the culprit"))
    assert "its time" not in none.get("change:dd-2", "")


def _flagged(*texts: str) -> IncidentContext:
    return incident(
        service="meet-web",
        title="Video freezes",
        details="",
        dependencies=[],
        alerts=[_alert("m1", "MeetFreezes", "meet-web", "meet-web frozen streams 20%", 0)],
        changes=[
            ChangeFact(id="ff-av1", source="launchdarkly", kind="feature_flag", service="meet-web", at=at(-15),
                       title="enable av1-simulcast for 50%"),
            ChangeFact(id="mw-3120", source="deploy", service="meet-web", at=at(-45),
                       title="meet-web 3.12.0 frame batching"),
        ],
        events=_lines(*texts),
    )


def test_the_only_flag_is_the_flag_and_no_change_after_it_rules_it_out() -> None:
    ctx = _flagged("flag off, no change")
    cause = next((c for c in rank_causes(ctx) if c.key == "change:ff-av1"), None)
    assert cause is None or ("responders ruled it out" in cause.explanation and cause.score <= RULED_OUT_CAP), cause


def test_not_the_flag_does_not_set_aside_a_deploy_named_in_the_same_clause() -> None:
    explained = _explained(_flagged("it's the 3.12.0 frame batching, not the flag"))
    assert "responders confirmed it (by version 3.12" in explained["change:mw-3120"]
    assert "ruled it out" not in explained["change:mw-3120"]
    flag = explained.get("change:ff-av1")
    assert flag is None or "responders ruled it out" in flag


def test_the_flag_is_no_name_when_there_are_two_flags() -> None:
    second = ChangeFact(id="ff-dark", source="launchdarkly", kind="feature_flag", service="meet-web", at=at(-300),
                        title="enable dark-mode-v2 for staff")
    ctx = incident(
        service="meet-web", title="Video freezes", details="", dependencies=[],
        alerts=[_alert("m1", "MeetFreezes", "meet-web", "meet-web frozen streams 20%", 0)],
        changes=[
            ChangeFact(id="ff-av1", source="launchdarkly", kind="feature_flag", service="meet-web", at=at(-15),
                       title="enable av1-simulcast for 50%"),
            second,
        ],
        events=_lines("flag off, no change"),
    )
    assert not any("responders" in e for e in _explained(ctx).values() if e), _explained(ctx)


# -- 7. no change of ours ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "ours"), [
    ("nothing we deployed this week touches fleet", True),
    ("nobody touched rabbitmq since friday", True),
    ("nothing from last night's deploys is on this path", True),
    ("reverted the gateway plugin, nothing changed", False),
])
def test_no_change_of_ours(text: str, ours: bool) -> None:
    assert (NO_CHANGE_OF_OURS.search(text) is not None) is ours


def _bus(text: str) -> IncidentContext:
    return incident(
        service="fleet-api",
        title="Vehicle updates delayed",
        details="",
        dependencies=["msg-bus"],
        alerts=[_alert("b1", "BusSlowConsumers", "msg-bus", "msg-bus slow consumer on fleet.updates", -1),
                _alert("f1", "FleetLag", "fleet-api", "fleet-api position lag 4 min", 0)],
        changes=[ChangeFact(id="fl-40", source="deploy", service="fleet-api", at=at(-25),
                            title="fleet-api 4.0.2 map tiles")],
        events=_lines(text),
    )


def test_nothing_we_shipped_lowers_changes_nobody_tied_to_the_trouble() -> None:
    said_ = _cause(_bus("nothing we deployed this week touches fleet"), "change:fl-40")
    plain = _cause(_bus("looking at consumer lag"), "change:fl-40")
    assert "responders found no change of theirs at fault" in said_.explanation
    assert said_.score < plain.score


def test_reverted_with_nothing_changed_is_no_claim_of_no_change_of_ours() -> None:
    reverted = _cause(_bus("reverted the bus auth plugin, nothing changed"), "change:fl-40")
    assert "no change of theirs" not in reverted.explanation


# -- 8. providers ---------------------------------------------------------------------------------------------------
def _esign(text: str) -> IncidentContext:
    return incident(
        service="contracts-api",
        title="Contracts not sent for signature",
        details="",
        dependencies=["inksign"],
        alerts=[_alert("c1", "ContractsSendErrors", "contracts-api", "contracts-api 502 on POST /envelopes", 0)],
        changes=[ChangeFact(id="ct-8", source="deploy", service="contracts-api", at=at(-180),
                            title="contracts-api 8.1.0 templates")],
        events=_lines(text),
    )


def test_a_status_site_makes_an_unknown_dependency_a_provider() -> None:
    ctx = _esign("inksign trust site: 'Degraded performance on the envelopes API'")
    assert _keys(ctx)[0] == "provider:inksign", _keys(ctx)
    plain = _esign("inksign: 'Degraded performance on the envelopes API'")
    assert "provider:inksign" not in _keys(plain)


def _behind(service: str, dependency: str, dependency_says: str, text: str) -> IncidentContext:
    """``service`` failing behind ``dependency``, whose own alert fired a minute earlier; an unrelated deploy of
    ``service`` two hours before; one line of discussion."""
    return incident(
        service=service,
        title=f"{service} failing",
        details="",
        dependencies=[dependency],
        alerts=[_alert("d1", "DependencyAlert", dependency, f"{dependency} {dependency_says}", -1),
                _alert("s1", "ServiceAlert", service, f"{service} 5xx 35%", 0)],
        changes=[ChangeFact(id="rel-2", source="deploy", service=service, at=at(-120),
                            title=f"{service} 2.9.0 wishlist")],
        events=_lines(text),
    )


def _front_door(text: str) -> IncidentContext:
    return _behind("storefront", "azure-front-door", "503 from edge POPs", text)


def test_a_provider_absorbs_a_dependency_named_after_it() -> None:
    causes = rank_causes(_front_door("Azure Service Health has an active event for Front Door in West Europe"))
    assert causes[0].key == "provider:azure", [(c.key, c.score) for c in causes]
    assert "dependency:azure-front-door" in causes[0].also
    assert "provider:azure-front-door" in causes[0].also
    assert "dependency:azure-front-door" not in [c.key for c in causes]


def test_without_the_providers_report_the_dependency_stands_alone() -> None:
    keys = _keys(_front_door("edge POPs returning 503 for the EU"))
    assert "dependency:azure-front-door" in keys and "provider:azure" not in keys, keys


def _spanner(text: str) -> IncidentContext:
    return _behind("ledger-api", "ledger-spanner", "commit latency p99 4s", text)


def test_a_dependency_named_after_the_product_the_provider_reports_is_absorbed() -> None:
    causes = rank_causes(_spanner("GCP status dashboard: Cloud Spanner elevated latency in europe-west3"))
    assert causes[0].key == "provider:gcp", [(c.key, c.score) for c in causes]
    assert "dependency:ledger-spanner" in causes[0].also
    assert "dependency:ledger-spanner" not in [c.key for c in causes]


def test_a_provider_reporting_another_product_does_not_absorb_the_dependency() -> None:
    keys = _keys(_spanner("GCP status dashboard: Cloud Run elevated latency in europe-west3"))
    assert "dependency:ledger-spanner" in keys, keys


# -- 9. an expired certificate read in the logs ------------------------------------------------------------------
def _mtls(*texts: str) -> IncidentContext:
    return incident(
        service="partner-gw",
        title="Partner calls failing",
        details="",
        dependencies=[],
        alerts=[_alert("p1", "PartnerGw5xx", "partner-gw", "partner-gw 502 on 70% of outbound calls", 0)],
        changes=[
            ChangeFact(id="pki-3", source="git", kind="config", service="partner-gw", at=at(-6 * 1440),
                       title="partner-gw client cert moved to the new issuer corp-ca-2"),
            ChangeFact(id="pg-11", source="deploy", service="partner-gw", at=at(-40),
                       title="partner-gw 11.2.0 request logging"),
        ],
        events=_lines(*texts),
    )


def test_a_responder_reading_certificate_expired_makes_the_issuer_move_suspect() -> None:
    ctx = _mtls("gateway logs full of 'certificate expired' on the outbound handshake")
    cause = _cause(ctx, "change:pki-3")
    assert "surfaces long after the change that set it" in cause.explanation
    assert _keys(ctx).index("change:pki-3") < _keys(ctx).index("change:pg-11")


def test_asking_whether_a_certificate_expired_is_not_seeing_it() -> None:
    for texts in ([], ["has the client certificate expired?"]):
        cause = next((c for c in rank_causes(_mtls(*texts)) if c.key == "change:pki-3"), None)
        assert cause is None or "surfaces long after" not in cause.explanation


# -- 10. late in the round: what a change set running, where a rollback went, answers, names -----------------------
def _signing(title: str, minutes_before: float) -> IncidentContext:
    """player-edge rejects every token at 0; a key rotation long before, and a fresh worker deploy."""
    return incident(
        service="player-edge",
        title="Playback failing",
        details="",
        dependencies=["token-svc"],
        events=[],
        alerts=[_alert("p1", "PlayerEdge403", "player-edge", "player-edge 403 on 95% of manifests", 0)],
        changes=[
            ChangeFact(id="rfc-77", source="itsm-rfc", kind="rfc", service="token-svc", at=at(-minutes_before),
                       title=title),
            ChangeFact(id="edge-9", source="deploy", service="player-edge", at=at(-25),
                       title="player-edge worker: add geo header logging"),
        ],
    )


def test_a_grace_period_that_ran_out_when_the_trouble_began_points_at_the_change_that_set_it() -> None:
    ctx = _signing("Rotate URL signing key — old key accepted at the edge for 48h grace", 48 * 60)
    assert _keys(ctx)[0] == "change:rfc-77", _keys(ctx)
    assert "ran out at" in _cause(ctx, "change:rfc-77").explanation
    # the same rotation whose grace ran out a day before the trouble: no such link
    early = _signing("Rotate URL signing key — old key accepted at the edge for 24h grace", 48 * 60)
    assert _keys(early)[0] == "change:edge-9"
    assert all("ran out at" not in c.explanation for c in rank_causes(early))


def test_an_idle_timeout_is_no_clock_that_runs_from_the_change() -> None:
    ctx = _signing("keycloak: SSO session idle 30m -> 20m", 20)
    assert all("ran out at" not in c.explanation for c in rank_causes(ctx))


def _celery(*texts: str) -> IncidentContext:
    """cms-workers pushes late; 2.8.1 this morning, 2.8.2 this afternoon (rolled back to 2.8.1)."""
    return incident(
        service="cms-workers",
        title="Breaking news pushes late",
        details="",
        dependencies=[],
        events=_lines(*texts),
        alerts=[_alert("c1", "PushDelay", "cms-workers", "push p95 delay 14m", 0)],
        changes=[
            ChangeFact(id="rel-281", source="deploy", service="cms-workers", at=at(-480),
                       title="cms-workers 2.8.1 — celery config moved to env vars"),
            ChangeFact(id="rel-282", source="deploy", service="cms-workers", at=at(-160),
                       title="cms-workers 2.8.2 — newsletter dark mode"),
        ],
    )


@pytest.mark.parametrize("text", ["rolled back to 2.8.1 at 17:22, no change", "on 2.8.1 now, no difference"])
def test_the_release_a_rollback_went_to_is_not_ruled_out_by_its_no_effect(text: str) -> None:
    ctx = _celery("2.8.2 went out at 14:20, rolling it back", text,
                  "since 2.8.1 moved the config to env vars nobody set the prefetch multiplier")
    keys = _keys(ctx)
    # 2.8.2 was undone to no effect; 2.8.1, where they went, is what the last word settles on
    assert keys[0] == "change:rel-281", keys
    assert "change:rel-282" not in keys or "ruled it out" in _cause(ctx, "change:rel-282").explanation


def _pacing(answer: str) -> IncidentContext:
    return incident(
        service="bid-gateway",
        title="Bids timing out",
        details="",
        dependencies=["budget-svc"],
        events=_lines("budget-svc pacing change? it's upstream of every bid", answer),
        alerts=[_alert("g1", "BidTimeouts", "bid-gateway", "bid-gateway p99 10s", 0)],
        changes=[ChangeFact(id="cfg-22", source="git", kind="config", service="budget-svc", at=at(-20),
                            title="budget-svc: pacing window 60s -> 30s")],
    )


@pytest.mark.parametrize("answer", ["budget calls are 3ms, fine.", "checked the pacing graphs, no."])
def test_a_question_about_one_change_answered_fine_or_no_rules_it_out(answer: str) -> None:
    ctx = _pacing(answer)
    assert "change:cfg-22" not in _keys(ctx) or "ruled it out" in _cause(ctx, "change:cfg-22").explanation


def test_a_question_answered_with_something_else_rules_nothing_out() -> None:
    assert "ruled it out" not in _cause(_pacing("redis calls are the slow ones"), "change:cfg-22").explanation


def _mfa(status_line: str) -> IncidentContext:
    """operator sign-in fails at the MFA step; duo has a synthetic-check alert of its own."""
    return incident(
        service="operator-ui",
        title="Operators cannot sign in",
        details="",
        dependencies=["okta", "duo"],
        events=_lines("the failure is the Duo step: 'Duo is unavailable'", status_line),
        alerts=[_alert("d1", "DuoAuthApiErrors", "duo", "Duo Auth API 5xx 70%", -2),
                _alert("o1", "SignInFailures", "operator-ui", "operator sign-in success 18%", 0)],
        changes=[ChangeFact(id="ui-24", source="deploy", service="operator-ui", at=at(-50),
                            title="operator-ui 2.4.0 wafer map zoom")],
    )


def test_a_dependency_with_alerts_of_its_own_is_a_provider_when_its_status_site_is_cited() -> None:
    ctx = _mfa("status.duo.com: 'Investigating - authentication failures on DUO57'")
    assert _keys(ctx)[0] == "provider:duo", _keys(ctx)
    assert "provider:duo" not in _keys(_mfa("restarting the duo proxy pods now"))


@pytest.mark.parametrize("text", [
    "storage says 'signature not valid in the specified time frame'",
    "that's an expired SAS",
])
def test_an_expired_sas_is_an_expired_credential(text: str) -> None:
    from warroom.ai.signals import BY_KEY

    assert BY_KEY["credentials"].pattern.search(text)
