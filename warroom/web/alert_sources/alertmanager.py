"""Prometheus Alertmanager's webhook receiver (``webhook_config``): payload version "4" only."""

from __future__ import annotations

from warroom.core.model import AlertIn

from .fields import IntakeError, _decode, _top_object
from .grouped import _parse_grouped
from .text import _kind, _quote


def parse_alertmanager(
    body: bytes, *, service_label: str, severity_label: str, max_alerts: int
) -> list[AlertIn]:
    """Every alert of an Alertmanager webhook (version "4") body, or IntakeError."""
    what = 'an Alertmanager webhook payload (version "4")'
    doc = _top_object(_decode(body, what), what)
    if "version" not in doc:
        raise IntakeError(
            "The body has no 'version': warroom takes Alertmanager webhook payloads of version \"4\" "
            "(point an Alertmanager webhook_config at this URL)."
        )
    version = doc["version"]
    if version != "4":
        shown = _quote(version) if isinstance(version, str) else _kind(version)
        advice = (
            " This looks like Grafana's webhook: send it to the grafana intake instead."
            if version == "1"
            else " Upgrade Alertmanager, or send it to the generic intake in its shape."
        )
        raise IntakeError(f'version must be "4" (Alertmanager\'s webhook payload); got {shown}.{advice}')
    return _parse_grouped(
        doc,
        source="alertmanager",
        service_label=service_label,
        severity_label=severity_label,
        max_alerts=max_alerts,
        grafana=False,
    )
