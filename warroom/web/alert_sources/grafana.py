"""Grafana Alerting's webhook contact point: the grouped shape with Grafana's extras."""

from __future__ import annotations

from warroom.core.model import AlertIn

from .fields import _decode, _top_object
from .grouped import _parse_grouped


def parse_grafana(body: bytes, *, service_label: str, severity_label: str, max_alerts: int) -> list[AlertIn]:
    """Every alert of a Grafana Alerting webhook contact point body, or IntakeError."""
    what = "a Grafana Alerting webhook payload"
    doc = _top_object(_decode(body, what), what)
    return _parse_grouped(
        doc,
        source="grafana",
        service_label=service_label,
        severity_label=severity_label,
        max_alerts=max_alerts,
        grafana=True,
    )
