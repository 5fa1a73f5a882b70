"""Alert intake parsers: real-shaped payloads in, AlertIn out; every refusal is an IntakeError naming the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.core.model import AlertIn, AlertStatus
from warroom.web.alert_sources import (
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_LABELS,
    MAX_SUMMARY_CHARS,
    SOURCES,
    IntakeError,
    labels_fingerprint,
    parse_alertmanager,
    parse_generic,
    parse_grafana,
)

KW: dict[str, Any] = {"service_label": "service", "severity_label": "severity", "max_alerts": 50}


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


# -- real-shaped samples ----------------------------------------------------------------------------------


def am_firing_group() -> dict[str, Any]:
    """Two alerts of one group, as Alertmanager 0.27 sends them (nanosecond times, zero endsAt)."""
    return {
        "receiver": "warroom",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "instance": "checkout-7d9f:8080",
                    "job": "checkout",
                    "service": "checkout-api",
                    "severity": "critical",
                },
                "annotations": {
                    "summary": "5xx ratio is 7.2% on checkout-7d9f",
                    "description": "More than 5% of requests failed for 5 minutes.",
                    "runbook_url": "https://runbooks.example/checkout/5xx",
                },
                "startsAt": "2024-05-01T10:00:03.739266876+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate%28x%29&g0.tab=1",
                "fingerprint": "1a30ba71cca2921f",
            },
            {
                "status": "firing",
                "labels": {"alertname": "HighErrorRate", "instance": "checkout-5c1a:8080", "job": "checkout"},
                "annotations": {"description": "More than 5% of requests failed for 5 minutes."},
                "startsAt": "2024-05-01T08:00:18.1Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus.example:9090/graph?g0.expr=rate%28x%29&g0.tab=1",
                "fingerprint": "0b52e4c1f1f7a6d3",
            },
        ],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {"alertname": "HighErrorRate", "job": "checkout"},
        "commonAnnotations": {"description": "More than 5% of requests failed for 5 minutes."},
        "externalURL": "http://alertmanager.example:9093",
        "version": "4",
        "groupKey": '{}/{severity="critical"}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
    }


def am_resolved() -> dict[str, Any]:
    doc = am_firing_group()
    doc["status"] = "resolved"
    doc["alerts"] = [doc["alerts"][0]]
    doc["alerts"][0]["status"] = "resolved"
    doc["alerts"][0]["endsAt"] = "2024-05-01T08:25:03.739266876Z"
    return doc


def grafana_firing() -> dict[str, Any]:
    """Grafana Alerting's webhook contact point, as in Grafana's documentation (values, URLs, title, state)."""
    return {
        "receiver": "warroom",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "High memory usage",
                    "team": "blue",
                    "zone": "us-1",
                    "service": "checkout-api",
                },
                "annotations": {
                    "description": "The system has high memory usage",
                    "runbook_url": "https://myrunbook.com/runbook/1234",
                    "summary": "This alert was triggered for zone us-1",
                },
                "startsAt": "2021-10-12T09:51:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://play.grafana.org/alerting/1afz29v7z/edit",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2",
                "dashboardURL": "https://play.grafana.org/d/mem?orgId=1",
                "panelURL": "https://play.grafana.org/d/mem?orgId=1&viewPanel=3",
                "values": {"B": 44.23943737541908, "C": 1},
            },
            {
                "status": "firing",
                "labels": {
                    "alertname": "High CPU usage",
                    "team": "blue",
                    "zone": "eu-1",
                    "severity": "warning",
                },
                "annotations": {},
                "startsAt": "2021-10-12T09:56:03.157076+02:00",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://play.grafana.org/alerting/d1rdpdv7k/edit",
                "fingerprint": "bc97ff14869b13e3",
                "silenceURL": "https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT1",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 91.5, "C": 1},
            },
        ],
        "groupLabels": {},
        "commonLabels": {"team": "blue"},
        "commonAnnotations": {},
        "externalURL": "https://play.grafana.org/",
        "version": "1",
        "groupKey": "{}:{}",
        "truncatedAlerts": 0,
        "title": "[FIRING:2]  (blue)",
        "state": "alerting",
        "message": "**Firing**\n\nLabels:\n - alertname = T2\n",
    }


def grafana_resolved() -> dict[str, Any]:
    doc = grafana_firing()
    doc["status"], doc["state"], doc["title"] = "resolved", "ok", "[RESOLVED]  (blue)"
    doc["alerts"] = [doc["alerts"][0]]
    doc["alerts"][0]["status"] = "resolved"
    doc["alerts"][0]["endsAt"] = "2021-10-12T10:11:03.157076+02:00"
    return doc


def generic_one() -> dict[str, Any]:
    return {
        "title": "Disk full on db-1",
        "service": "orders",
        "severity": "critical",
        "description": "/var/lib/postgresql is at 99%.\nWrites will fail soon.",
        "labels": {"host": "db-1", "region": "eu-1"},
        "url": "https://grafana.example/d/disk",
        "starts_at": "2024-05-01T10:00:00Z",
    }


# -- Alertmanager -----------------------------------------------------------------------------------------


def test_alertmanager_firing_group_translates_every_alert() -> None:
    alerts = parse_alertmanager(body(am_firing_group()), **KW)

    assert len(alerts) == 2
    first, second = alerts
    assert first == AlertIn(
        source="alertmanager",
        fingerprint="1a30ba71cca2921f",
        status=AlertStatus.FIRING,
        name="HighErrorRate",
        summary="5xx ratio is 7.2% on checkout-7d9f",
        service="checkout-api",
        severity="critical",
        labels=am_firing_group()["alerts"][0]["labels"],
        annotations=am_firing_group()["alerts"][0]["annotations"],
        starts_at=datetime(2024, 5, 1, 8, 0, 3, 739266, tzinfo=UTC),
        ends_at=None,
        generator_url="http://prometheus.example:9090/graph?g0.expr=rate%28x%29&g0.tab=1",
    )
    # no service or severity label: None; no summary annotation: the description
    assert second.service is None
    assert second.summary == "More than 5% of requests failed for 5 minutes."
    assert second.severity is None
    assert second.starts_at == datetime(2024, 5, 1, 8, 0, 18, 100000, tzinfo=UTC)
    assert second.starts_at.utcoffset() is not None


def test_service_and_severity_fall_back_to_common_labels() -> None:
    doc = am_firing_group()
    doc["commonLabels"] |= {"service": "payments", "severity": "warning"}
    first, second = parse_alertmanager(body(doc), **KW)
    assert (first.service, first.severity) == ("checkout-api", "critical")  # the alert's own labels win
    assert (second.service, second.severity) == ("payments", "warning")


def test_alertmanager_resolved_alert_has_an_end() -> None:
    (alert,) = parse_alertmanager(body(am_resolved()), **KW)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2024, 5, 1, 8, 25, 3, 739266, tzinfo=UTC)
    assert alert.fingerprint == "1a30ba71cca2921f"


def test_missing_fingerprint_is_computed_as_alertmanager_does() -> None:
    # prometheus/common model.TestMetricToFingerprint: this label set fingerprints to 5799056148416392346.
    labels = {"name": "garland, briggs", "fear": "love is not enough"}
    assert labels_fingerprint(labels) == f"{5799056148416392346:016x}"
    assert labels_fingerprint({}) == f"{14695981039346656037:016x}"

    doc = am_firing_group()
    del doc["alerts"][0]["fingerprint"]
    doc["alerts"][1]["fingerprint"] = ""
    doc["alerts"][1]["labels"] = labels
    first, second = parse_alertmanager(body(doc), **KW)
    assert first.fingerprint == labels_fingerprint(doc["alerts"][0]["labels"])
    assert second.fingerprint == f"{5799056148416392346:016x}"
    # stable: the same labels in another order give the same fingerprint
    assert labels_fingerprint(dict(reversed(list(labels.items())))) == second.fingerprint


def test_alertmanager_null_maps_and_missing_names_are_tolerated() -> None:
    doc = am_firing_group()
    doc["commonLabels"] = None  # Go's nil map
    doc["alerts"] = [
        {"status": "firing", "labels": {"job": "x"}, "annotations": None, "startsAt": "", "endsAt": ""}
    ]
    (alert,) = parse_alertmanager(body(doc), **KW)
    assert alert.name == f"Unnamed alert {alert.fingerprint}"
    assert alert.summary == "" and alert.annotations == {}
    assert alert.starts_at is None and alert.ends_at is None and alert.generator_url is None
    assert alert.service is None


def test_other_labels_can_name_service_and_severity() -> None:
    (alert,) = parse_alertmanager(
        body(am_resolved()), service_label="job", severity_label="instance", max_alerts=5
    )
    assert alert.service == "checkout" and alert.severity == "checkout-7d9f:8080"


# -- Grafana ----------------------------------------------------------------------------------------------


def test_grafana_firing_keeps_values_and_links() -> None:
    first, second = parse_grafana(body(grafana_firing()), **KW)

    assert first.source == "grafana"
    assert first.fingerprint == "c6eadffa33fcdf37"
    assert first.status is AlertStatus.FIRING
    assert first.name == "High memory usage"
    assert first.summary == "This alert was triggered for zone us-1"
    assert first.service == "checkout-api"
    assert first.starts_at == datetime(2021, 10, 12, 7, 51, 3, 157076, tzinfo=UTC)
    assert first.ends_at is None
    assert first.generator_url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert first.annotations["grafana.values"] == "B=44.2394, C=1"
    assert first.annotations["grafana.dashboardURL"] == "https://play.grafana.org/d/mem?orgId=1"
    assert first.annotations["grafana.panelURL"] == "https://play.grafana.org/d/mem?orgId=1&viewPanel=3"
    assert first.annotations["grafana.silenceURL"].startswith("https://play.grafana.org/alerting/silence/new")
    assert first.annotations["grafana.orgId"] == "1"
    assert first.annotations["runbook_url"] == "https://myrunbook.com/runbook/1234"

    # no annotations to summarise: the values say what fired; empty URLs are left out
    assert second.summary == "B=91.5, C=1"
    assert second.severity == "warning"
    assert second.service is None
    assert "grafana.dashboardURL" not in second.annotations


def test_grafana_resolved() -> None:
    (alert,) = parse_grafana(body(grafana_resolved()), **KW)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.ends_at == datetime(2021, 10, 12, 8, 11, 3, 157076, tzinfo=UTC)


def test_grafana_older_value_string_and_title_fallback() -> None:
    doc = grafana_firing()
    alert = doc["alerts"][1]
    del alert["values"]
    alert["valueString"] = "[ metric='' labels={} value=14151.331895396988 ]"
    del alert["labels"]["alertname"]
    (_, parsed) = parse_grafana(body(doc), **KW)
    assert parsed.summary == "[ metric='' labels={} value=14151.331895396988 ]"
    assert parsed.annotations["grafana.valueString"] == alert["valueString"]
    assert parsed.name == "(blue)"  # the notification title without its [FIRING:2] tag


def test_grafana_takes_an_alertmanager_shaped_body() -> None:
    alerts = parse_grafana(body(am_firing_group()), **KW)
    assert [a.fingerprint for a in alerts] == ["1a30ba71cca2921f", "0b52e4c1f1f7a6d3"]
    assert {a.source for a in alerts} == {"grafana"}


# -- generic ----------------------------------------------------------------------------------------------


def test_generic_single_alert() -> None:
    (alert,) = parse_generic(body(generic_one()), **KW)
    assert alert.source == "generic"
    assert alert.name == "Disk full on db-1"
    assert alert.status is AlertStatus.FIRING
    assert alert.service == "orders" and alert.severity == "critical"
    assert alert.summary == "/var/lib/postgresql is at 99%.\nWrites will fail soon."
    assert alert.annotations["description"] == alert.summary
    assert alert.labels == {"host": "db-1", "region": "eu-1"}
    assert alert.generator_url == "https://grafana.example/d/disk"
    assert alert.starts_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert len(alert.fingerprint) == 64


def test_generic_default_key_is_stable_and_resolves_the_same_alert() -> None:
    (fired,) = parse_generic(body(generic_one()), **KW)
    resolved_doc = {**generic_one(), "status": "resolved", "description": "back to 40%"}
    resolved_doc["labels"] = dict(reversed(list(resolved_doc["labels"].items())))
    (resolved,) = parse_generic(body(resolved_doc), **KW)
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == fired.fingerprint
    (other,) = parse_generic(body({**generic_one(), "labels": {"host": "db-2"}}), **KW)
    assert other.fingerprint != fired.fingerprint


def test_generic_batch_with_keys_labels_and_links() -> None:
    doc = {
        "alerts": [
            {
                "title": "Queue backlog",
                "dedup_key": "orders-backlog",
                "labels": {"service": "orders", "severity": "P2"},
            },
            {
                "title": "Queue backlog",
                "fingerprint": "orders-backlog-eu",
                "status": "resolved",
                "links": [
                    "ftp://nope.example/x",
                    {"href": "https://grafana.example/d/q", "text": "Queue dashboard"},
                ],
                "ends_at": "2024-05-01T10:30:00+00:00",
            },
        ]
    }
    first, second = parse_generic(body(doc), **KW)
    assert first.fingerprint == "orders-backlog"
    assert first.service == "orders" and first.severity == "P2"
    assert second.fingerprint == "orders-backlog-eu"
    assert second.status is AlertStatus.RESOLVED
    assert second.generator_url == "https://grafana.example/d/q"
    assert second.annotations["links"] == "Queue dashboard <https://grafana.example/d/q>"
    assert second.ends_at == datetime(2024, 5, 1, 10, 30, tzinfo=UTC)
    assert parse_generic(b'{"alerts": []}', **KW) == []


def test_sources_map_names_to_parsers() -> None:
    assert SOURCES == {"alertmanager": parse_alertmanager, "grafana": parse_grafana, "generic": parse_generic}


# -- untrusted text ---------------------------------------------------------------------------------------


def test_control_characters_and_bidi_overrides_are_removed() -> None:
    doc = am_resolved()
    alert = doc["alerts"][0]
    alert["labels"]["alertname"] = "Evil\u202e\x00Name\x1b[31m"
    alert["labels"]["note"] = "line\nbreak\ud800"
    alert["annotations"]["summary"] = "first\r\nsecond\x07\tthird"
    (parsed,) = parse_alertmanager(body(doc), **KW)
    assert parsed.name == "EvilName[31m"
    assert parsed.labels["note"] == "linebreak"
    assert parsed.summary == "first\nsecond\tthird"


def test_long_human_text_is_shortened_visibly() -> None:
    doc = am_resolved()
    words = " ".join(["overload"] * 1000)
    doc["alerts"][0]["annotations"] = {"summary": words, "description": "x" * 10_000}
    (parsed,) = parse_alertmanager(body(doc), **KW)
    assert len(parsed.summary) <= MAX_SUMMARY_CHARS and parsed.summary.endswith("overload…")
    assert len(parsed.annotations["description"]) == MAX_ANNOTATION_VALUE_CHARS
    assert parsed.annotations["description"].endswith("…")


def test_unsafe_links_are_dropped() -> None:
    doc = grafana_firing()
    doc["alerts"][0]["generatorURL"] = "javascript:alert(1)"
    doc["alerts"][0]["dashboardURL"] = "/d/relative"
    first, _ = parse_grafana(body(doc), **KW)
    assert first.generator_url is None
    assert "grafana.dashboardURL" not in first.annotations


# -- refusals ---------------------------------------------------------------------------------------------


def _am(mutate: Any) -> bytes:
    doc = am_firing_group()
    mutate(doc)
    return body(doc)


def _grafana(mutate: Any) -> bytes:
    doc = grafana_firing()
    mutate(doc)
    return body(doc)


def _alert(index: int, key: str, value: object) -> Any:
    def mutate(doc: dict[str, Any]) -> None:
        doc["alerts"][index][key] = value

    return mutate


REFUSALS: list[tuple[str, Any, bytes, str]] = [
    ("empty body", parse_alertmanager, b"  ", "The body is empty"),
    ("not utf-8", parse_alertmanager, b'{"version": "4", "x": "\xff"}', "not UTF-8"),
    ("not json", parse_grafana, b"{'version': 4}", "not valid JSON"),
    ("nan", parse_generic, b'{"title": "x", "labels": NaN}', "NaN"),
    ("deep nesting", parse_alertmanager, b"[" * 100_000, "too deep"),
    ("not an object", parse_alertmanager, b"[1, 2]", "must be a JSON object"),
    ("no version", parse_alertmanager, _am(lambda d: d.pop("version")), "'version'"),
    ("grafana to alertmanager", parse_alertmanager, body(grafana_firing()), 'version must be "4"'),
    ("version number", parse_alertmanager, _am(lambda d: d.update(version=4)), 'version must be "4"'),
    ("no alerts", parse_alertmanager, _am(lambda d: d.pop("alerts")), "'alerts'"),
    ("alerts not a list", parse_grafana, _grafana(lambda d: d.update(alerts={})), "alerts must be a list"),
    ("alert not an object", parse_alertmanager, _am(lambda d: d["alerts"].append("x")), "alerts[2] must be"),
    (
        "labels a list",
        parse_alertmanager,
        _am(_alert(1, "labels", ["a"])),
        "alerts[1].labels must be an object",
    ),
    (
        "label value number",
        parse_grafana,
        _grafana(_alert(0, "labels", {"zone": 1})),
        "alerts[0].labels.zone",
    ),
    ("label name long", parse_alertmanager, _am(_alert(0, "labels", {"k" * 300: "v"})), "alerts[0].labels["),
    (
        "label name control",
        parse_alertmanager,
        _am(_alert(0, "labels", {"a\x00": "v"})),
        'alerts[0].labels["a',
    ),
    (
        "label empty name",
        parse_alertmanager,
        _am(_alert(0, "labels", {"": "v"})),
        "alerts[0].labels has an empty",
    ),
    (
        "label value long",
        parse_alertmanager,
        _am(_alert(0, "labels", {"a": "v" * 5000})),
        "alerts[0].labels.a",
    ),
    (
        "too many labels",
        parse_alertmanager,
        _am(_alert(0, "labels", {f"l{i}": "v" for i in range(MAX_LABELS + 1)})),
        "alerts[0].labels has",
    ),
    (
        "annotation not string",
        parse_grafana,
        _grafana(_alert(1, "annotations", {"s": None})),
        "alerts[1].annotations.s",
    ),
    ("status missing", parse_alertmanager, _am(lambda d: d["alerts"][1].pop("status")), "alerts[1].status"),
    ("status other", parse_grafana, _grafana(_alert(0, "status", "pending")), "alerts[0].status"),
    ("status type", parse_alertmanager, _am(_alert(0, "status", True)), "alerts[0].status"),
    ("bad time", parse_alertmanager, _am(_alert(0, "startsAt", "yesterday")), "alerts[0].startsAt"),
    ("bad date", parse_grafana, _grafana(_alert(0, "endsAt", "2024-02-30T00:00:00Z")), "alerts[0].endsAt"),
    ("time type", parse_alertmanager, _am(_alert(1, "endsAt", 1714550400)), "alerts[1].endsAt"),
    ("fingerprint type", parse_alertmanager, _am(_alert(0, "fingerprint", 12)), "alerts[0].fingerprint"),
    (
        "fingerprint long",
        parse_grafana,
        _grafana(_alert(0, "fingerprint", "f" * 200)),
        "alerts[0].fingerprint",
    ),
    ("url type", parse_alertmanager, _am(_alert(0, "generatorURL", {"u": 1})), "alerts[0].generatorURL"),
    ("grafana values", parse_grafana, _grafana(_alert(0, "values", {"B": "high"})), "alerts[0].values.B"),
    ("grafana values list", parse_grafana, _grafana(_alert(0, "values", [1])), "alerts[0].values"),
    (
        "grafana title type",
        parse_grafana,
        _grafana(lambda d: d.update(title=["x"])),
        "title must be a string",
    ),
    (
        "service too long",
        parse_alertmanager,
        _am(lambda d: d["alerts"][0]["labels"].update(service="s" * 64)),
        "alerts[0].labels.service",
    ),
    (
        "common service too long",
        parse_alertmanager,
        _am(lambda d: d["commonLabels"].update(service="s" * 64)),
        "commonLabels.service",
    ),
    (
        "severity too long",
        parse_grafana,
        _grafana(lambda d: d["alerts"][0]["labels"].update(severity="s" * 41)),
        "alerts[0].labels.severity",
    ),
    ("common labels", parse_alertmanager, _am(lambda d: d.update(commonLabels="x")), "commonLabels must be"),
    ("generic no title", parse_generic, b'{"service": "orders"}', "title is missing"),
    (
        "generic blank title",
        parse_generic,
        b'{"alerts": [{"title": " \\u0000 "}]}',
        "alerts[0].title is missing",
    ),
    ("generic title type", parse_generic, b'{"title": 5}', "title must be a string"),
    ("generic unknown field", parse_generic, b'{"title": "x", "sevrity": "high"}', '"sevrity"'),
    ("generic alerts and title", parse_generic, b'{"title": "x", "alerts": []}', "both 'alerts' and 'title'"),
    ("generic batch extras", parse_generic, b'{"alerts": [], "service": "x"}', '"service" next to'),
    ("generic alerts null", parse_generic, b'{"alerts": null}', "alerts must be a list"),
    ("generic status", parse_generic, b'{"title": "x", "status": "ok"}', "status must be"),
    (
        "generic keys differ",
        parse_generic,
        b'{"title": "x", "dedup_key": "a", "fingerprint": "b"}',
        "dedup_key and",
    ),
    ("generic service long", parse_generic, body({"title": "x", "service": "s" * 64}), "service is 64"),
    ("generic severity type", parse_generic, b'{"title": "x", "severity": 1}', "severity must be a string"),
    ("generic links type", parse_generic, b'{"title": "x", "links": "https://a.example"}', "links must be"),
    ("generic link item", parse_generic, b'{"title": "x", "links": [3]}', "links[0] must be"),
    ("generic link href", parse_generic, b'{"title": "x", "links": [{"href": 3}]}', "links[0].href"),
    (
        "generic time",
        parse_generic,
        b'{"alerts": [{"title": "x", "starts_at": "1714550400"}]}',
        "alerts[0].starts_at",
    ),
    ("generic item type", parse_generic, b'{"alerts": [{"title": "x"}, null]}', "alerts[1] must be"),
]


@pytest.mark.parametrize(("parser", "raw", "names"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals_name_the_field(parser: Any, raw: bytes, names: str) -> None:
    with pytest.raises(IntakeError) as caught:
        parser(raw, **KW)
    assert names in caught.value.reason
    assert_sentence(caught.value.reason)


@pytest.mark.parametrize("parser", [parse_alertmanager, parse_grafana, parse_generic])
def test_more_alerts_than_allowed_are_refused(parser: Any) -> None:
    doc: dict[str, Any] = (
        am_firing_group() if parser is not parse_generic else {"alerts": [generic_one()] * 2}
    )
    if parser is parse_grafana:
        doc = grafana_firing()
    with pytest.raises(IntakeError) as caught:
        parser(body(doc), service_label="service", severity_label="severity", max_alerts=1)
    assert "more than the limit of 1" in caught.value.reason
    assert len(parser(body(doc), service_label="service", severity_label="severity", max_alerts=2)) == 2


def test_nothing_is_half_parsed() -> None:
    doc = am_firing_group()
    doc["alerts"].append({**doc["alerts"][0], "startsAt": "not a time"})
    with pytest.raises(IntakeError, match=r"alerts\[2\]\.startsAt"):
        parse_alertmanager(body(doc), **KW)


def test_go_zero_time_with_an_offset_is_refused_not_crashed() -> None:
    with pytest.raises(IntakeError, match=r"alerts\[0\]\.endsAt is out of the range"):
        parse_alertmanager(_am(_alert(0, "endsAt", "0001-01-01T00:00:00+01:00")), **KW)


# -- fuzz -------------------------------------------------------------------------------------------------


def assert_sentence(reason: object) -> None:
    assert isinstance(reason, str) and reason.strip(), "a reason must be a non-empty sentence"
    assert reason.endswith("."), reason
    assert "\n" not in reason and len(reason) < 600, reason
    reason.encode("utf-8")  # no lone surrogates echoed back


def check_result(alerts: object) -> None:
    assert isinstance(alerts, list)
    for alert in alerts:
        assert isinstance(alert, AlertIn)
        assert alert.fingerprint and len(alert.fingerprint) <= 128
        assert alert.name and len(alert.name) <= 255
        assert len(alert.summary) <= MAX_SUMMARY_CHARS
        assert alert.service is None or 0 < len(alert.service) <= 63
        assert alert.severity is None or 0 < len(alert.severity) <= 40
        assert isinstance(alert.status, AlertStatus)
        for when in (alert.starts_at, alert.ends_at):
            assert when is None or when.utcoffset() is not None
        texts = [alert.name, alert.fingerprint, *alert.labels, *alert.labels.values(), *alert.annotations]
        for text in texts:
            assert isinstance(text, str)
            assert not any(
                ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or 0xD800 <= ord(ch) < 0xE000 for ch in text
            )
        assert all(isinstance(v, str) for v in alert.annotations.values())
        json.dumps([alert.labels, alert.annotations, alert.summary], ensure_ascii=False).encode("utf-8")


def run(parser: Any, raw: bytes) -> None:
    try:
        alerts = parser(raw, **KW)
    except IntakeError as exc:
        assert_sentence(exc.reason)
    else:
        check_result(alerts)


PARSERS = st.sampled_from([parse_alertmanager, parse_grafana, parse_generic])
TEXT = st.text(alphabet=st.characters(codec=None), max_size=30)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(parser=PARSERS, raw=st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(parser: Any, raw: bytes) -> None:
    run(parser, raw)


@FUZZ
@given(parser=PARSERS, value=JSON)
def test_fuzz_arbitrary_json(parser: Any, value: object) -> None:
    run(parser, json.dumps(value).encode("utf-8", "surrogatepass"))


def _paths(node: object, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for key, child in node.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            out += _paths(child, (*prefix, index))
    return out


SAMPLES = [
    (parse_alertmanager, am_firing_group()),
    (parse_alertmanager, am_resolved()),
    (parse_grafana, grafana_firing()),
    (parse_grafana, grafana_resolved()),
    (parse_generic, generic_one()),
    (parse_generic, {"alerts": [generic_one(), {**generic_one(), "links": ["https://a.example"]}]}),
]


@FUZZ
@given(sample=st.sampled_from(SAMPLES), data=st.data())
def test_fuzz_mutations_of_valid_payloads(sample: tuple[Any, dict[str, Any]], data: st.DataObject) -> None:
    parser, original = sample
    doc: Any = copy.deepcopy(original)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = data.draw(st.sampled_from(paths))
        if not path:
            doc = data.draw(JSON)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        if data.draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = data.draw(JSON)
    run(parser, json.dumps(doc).encode("utf-8", "surrogatepass"))


def test_valid_samples_pass_the_fuzz_invariants() -> None:
    for parser, doc in SAMPLES:
        check_result(parser(body(doc), **KW))
