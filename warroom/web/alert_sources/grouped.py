"""The grouped webhook body Alertmanager and Grafana share (``alerts`` with labels, annotations, times and
``commonLabels``), with Grafana's per-alert extras kept as ``grafana.<field>`` annotations.
"""

from __future__ import annotations

import re
from typing import Any

from warroom.core.model import AlertIn

from .fields import (
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_ANNOTATIONS,
    MAX_KEY_CHARS,
    MAX_SERVICE_CHARS,
    MAX_SEVERITY_CHARS,
    IntakeError,
    _alert_list,
    _given_fingerprint,
    _name,
    _routing_label,
    _status,
    _string,
    _summary,
    _text_map,
    _time,
    _url,
    labels_fingerprint,
)
from .text import _clean, _key_path, _kind, _shorten

_GRAFANA_TAG = re.compile(r"^\s*\[(?:FIRING|RESOLVED)(?::\d+)?\]\s*", re.IGNORECASE)
_GRAFANA_URLS = ("silenceURL", "dashboardURL", "panelURL", "imageURL")


def _format_number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


def _grafana_values(value: object, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise IntakeError(f"{path} must be an object of numbers; got {_kind(value)}.")
    if len(value) > MAX_ANNOTATIONS:
        raise IntakeError(f"{path} has {len(value)} entries, more than {MAX_ANNOTATIONS}: send fewer.")
    parts = []
    for key, number in value.items():
        if number is None:
            continue
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise IntakeError(
                f"{path} must be an object of numbers; {_key_path(path, key)} is {_kind(number)}."
            )
        if len(key) > MAX_KEY_CHARS:
            raise IntakeError(f"{_key_path(path, key)} has a name longer than {MAX_KEY_CHARS} characters.")
        parts.append(f"{_clean(key)}={_format_number(number)}")
    return _shorten(", ".join(parts), MAX_ANNOTATION_VALUE_CHARS) if parts else None


def _parse_grouped(
    doc: dict[str, Any],
    *,
    source: str,
    service_label: str,
    severity_label: str,
    max_alerts: int,
    grafana: bool,
) -> list[AlertIn]:
    hint = (
        "a Grafana webhook body has 'alerts', a list of alert objects."
        if grafana
        else "an Alertmanager webhook body has 'alerts', a list of alert objects."
    )
    raw_alerts = _alert_list(doc, max_alerts, hint=hint)
    common = _text_map(doc.get("commonLabels"), "commonLabels", labels=True)
    title = None
    org_id = None
    if grafana:
        title = _string(doc, "title", "")
        title = _GRAFANA_TAG.sub("", _clean(title)) if title else None
        raw_org = doc.get("orgId")
        if isinstance(raw_org, int) and not isinstance(raw_org, bool):
            org_id = str(raw_org)
    out: list[AlertIn] = []
    for i, raw in enumerate(raw_alerts):
        path = f"alerts[{i}]"
        if not isinstance(raw, dict):
            raise IntakeError(f"{path} must be an alert object; got {_kind(raw)}.")
        status = _status(raw.get("status"), f"{path}.status")
        labels = _text_map(raw.get("labels"), f"{path}.labels", labels=True)
        annotations = _text_map(raw.get("annotations"), f"{path}.annotations", labels=False)
        fingerprint = _given_fingerprint(raw.get("fingerprint"), f"{path}.fingerprint") or labels_fingerprint(
            labels
        )
        starts_at = _time(raw, "startsAt", path)
        ends_at = _time(raw, "endsAt", path)
        generator_url = _url(raw.get("generatorURL"), f"{path}.generatorURL")
        extra_summary: list[str | None] = []
        if grafana:
            value_string = _string(raw, "valueString", path)
            value_string = (
                _shorten(_clean(value_string, multiline=True).strip(), MAX_ANNOTATION_VALUE_CHARS)
                if value_string
                else None
            )
            values = _grafana_values(raw.get("values"), f"{path}.values")
            extras: dict[str, str | None] = {
                f"grafana.{field}": _url(raw.get(field), f"{path}.{field}") for field in _GRAFANA_URLS
            }
            extras |= {"grafana.values": values, "grafana.valueString": value_string, "grafana.orgId": org_id}
            for key, extra in extras.items():
                if extra:
                    annotations.setdefault(key, extra)
            extra_summary = [value_string, values]
        out.append(
            AlertIn(
                source=source,
                fingerprint=fingerprint,
                status=status,
                name=_name(labels.get("alertname"), common.get("alertname"), title, fingerprint=fingerprint),
                summary=_summary(annotations, *extra_summary),
                service=_routing_label(
                    service_label, labels, common, f"{path}.labels", MAX_SERVICE_CHARS, "service"
                ),
                severity=_routing_label(
                    severity_label, labels, common, f"{path}.labels", MAX_SEVERITY_CHARS, "severity"
                ),
                labels=labels,
                annotations=annotations,
                starts_at=starts_at,
                ends_at=ends_at,
                generator_url=generator_url,
            )
        )
    return out
