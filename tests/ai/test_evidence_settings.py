"""``evidence.sources`` and ``services[].evidence``: what is refused, with a sentence saying what to do."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from warroom.settings import Settings


def settings(sources: dict[str, Any], evidence: dict[str, Any] | None = None) -> Settings:
    return Settings(evidence={"sources": sources}, services=[{"name": "checkout-api", "evidence": evidence or {}}])


LOKI = {"kind": "loki", "url": "http://loki:3100/"}


def test_defaults_and_a_valid_configuration() -> None:
    s = settings({"checkout-loki": LOKI, "prom": {"kind": "prometheus", "url": "http://prometheus:9090"}},
                 {"queries": [{"source": "checkout-loki", "query": '{app="checkout"} |= "error"'}],
                  "alert_expressions": "prom"})
    source = s.evidence.sources["checkout-loki"]
    assert source.url == "http://loki:3100" and source.timeout == 3.0 and source.ui_url == ""
    ev = s.services[0].evidence
    assert (ev.lookback_minutes, ev.after_minutes) == (30, 60)
    assert (s.evidence.max_lines, s.evidence.max_points, s.evidence.max_series) == (500, 240, 10)


@pytest.mark.parametrize(
    ("sources", "evidence", "message"),
    [
        ({}, {"queries": [{"source": "loki", "query": "{a=\"b\"}"}]},
         "names the source 'loki', which evidence.sources does not have (sources: none configured)"),
        ({"es": {"kind": "elasticsearch", "url": "http://es:9200"}}, {"queries": [{"source": "es", "query": "x"}]},
         "without an index: add index:"),
        ({"checkout-loki": LOKI}, {"alert_expressions": "checkout-loki"},
         "alert_expressions must name a Prometheus source"),
        ({"Checkout Loki": LOKI}, {}, "rename Checkout Loki"),
        ({"l": {"kind": "loki", "url": "loki:3100"}}, {}, "is not an http(s) URL"),
        ({"l": {**LOKI, "ui_url": "https://grafana/explore?q={expr}"}}, {}, "ui_url names {expr}; it may use"),
        ({"l": {**LOKI, "timeout": 0}}, {}, "greater than 0"),
        ({"l": {"kind": "splunk", "url": "http://s"}}, {}, "'loki', 'elasticsearch' or 'prometheus'"),
    ],
)
def test_refused_with_what_to_do(sources: dict[str, Any], evidence: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        settings(sources, evidence)
    assert message in str(caught.value)


def test_secrets_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_EVIDENCE__SOURCES__CHECKOUT_LOKI__TOKEN", "loki-secret")
    s = settings({"checkout_loki": LOKI})
    token = s.evidence.sources["checkout_loki"].token
    assert token is not None and token.get_secret_value() == "loki-secret"
    assert "loki-secret" not in repr(s)
