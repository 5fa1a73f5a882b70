"""The generic alert shape for senders of your own: one alert object or ``{"alerts": [...]}``, with a fixed set
of fields (a misspelt field is refused) — the package docstring lists them.
"""

from __future__ import annotations

import hashlib
import json

from warroom.core.model import AlertIn, AlertStatus

from .fields import (
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_ANNOTATIONS,
    MAX_NAME_CHARS,
    MAX_SERVICE_CHARS,
    MAX_SEVERITY_CHARS,
    MAX_SUMMARY_CHARS,
    IntakeError,
    _alert_list,
    _check_count,
    _checked,
    _decode,
    _given_fingerprint,
    _join,
    _routing_label,
    _status,
    _string,
    _summary,
    _text_map,
    _time,
    _top_object,
    _url,
)
from .text import _clean, _kind, _quote, _shorten

_GENERIC_FIELDS = (
    "title",
    "dedup_key",
    "fingerprint",
    "status",
    "service",
    "severity",
    "description",
    "labels",
    "annotations",
    "url",
    "links",
    "starts_at",
    "ends_at",
)
_GENERIC_WHAT = 'one alert object {"title": "...", ...} or {"alerts": [...]}'
_MAX_LINKS = 20


def _generic_links(value: object, path: str) -> list[tuple[str, str | None]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise IntakeError(
            f'{path} must be a list of URLs or {{"href": ..., "text": ...}} objects; got {_kind(value)}.'
        )
    if len(value) > _MAX_LINKS:
        raise IntakeError(f"{path} has {len(value)} links, more than {_MAX_LINKS}: send fewer.")
    links: list[tuple[str, str | None]] = []
    for j, item in enumerate(value):
        item_path = f"{path}[{j}]"
        if isinstance(item, str):
            href, text = _url(item, item_path), None
        elif isinstance(item, dict):
            href = _url(item.get("href"), f"{item_path}.href")
            raw_text = _string(item, "text", item_path)
            text = _shorten(" ".join(_clean(raw_text).split()), MAX_NAME_CHARS) if raw_text else None
        else:
            raise IntakeError(
                f'{item_path} must be a URL or a {{"href": ..., "text": ...}} object; got {_kind(item)}.'
            )
        if href:
            links.append((href, text or None))
    return links


def _generic_alert(raw: object, path: str, *, service_label: str, severity_label: str) -> AlertIn:
    where = path or "The body"
    if not isinstance(raw, dict):
        raise IntakeError(f"{where} must be an alert object with a title; got {_kind(raw)}.")
    unknown = [key for key in raw if key not in _GENERIC_FIELDS]
    if unknown:
        raise IntakeError(
            f"{where} has an unknown field {_quote(unknown[0])}: the fields are {', '.join(_GENERIC_FIELDS)} "
            "(put anything else in labels)."
        )

    def field(key: str) -> str:
        return _join(path, key)

    raw_title = _string(raw, "title", path)
    title = " ".join(_clean(raw_title).split()) if raw_title else ""
    if not title:
        raise IntakeError(
            f"{field('title')} is missing or empty: every alert needs a title saying what is wrong."
        )
    status = _status(raw["status"], field("status")) if raw.get("status") is not None else AlertStatus.FIRING
    labels = _text_map(raw.get("labels"), field("labels"), labels=True)
    annotations = _text_map(raw.get("annotations"), field("annotations"), labels=False)
    service = _checked(_string(raw, "service", path), field("service"), MAX_SERVICE_CHARS, "service")
    if service is None:
        service = _routing_label(service_label, labels, {}, field("labels"), MAX_SERVICE_CHARS, "service")
    severity = _checked(_string(raw, "severity", path), field("severity"), MAX_SEVERITY_CHARS, "severity")
    if severity is None:
        severity = _routing_label(severity_label, labels, {}, field("labels"), MAX_SEVERITY_CHARS, "severity")
    dedup_key = _given_fingerprint(raw.get("dedup_key"), field("dedup_key"))
    fingerprint = _given_fingerprint(raw.get("fingerprint"), field("fingerprint"))
    if dedup_key and fingerprint and dedup_key != fingerprint:
        raise IntakeError(f"{where} has both dedup_key and fingerprint, and they differ: send one of them.")
    key = dedup_key or fingerprint
    if key is None:
        canonical = json.dumps(
            {"title": title, "service": service, "labels": labels}, sort_keys=True, ensure_ascii=True
        )
        key = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    raw_description = _string(raw, "description", path)
    description = _clean(raw_description, multiline=True).strip() if raw_description else ""
    if description:
        annotations.setdefault("description", _shorten(description, MAX_ANNOTATION_VALUE_CHARS))
    url = _url(raw.get("url"), field("url"))
    links = _generic_links(raw.get("links"), field("links"))
    if links:
        rendered = "\n".join(f"{text} <{href}>" if text else href for href, text in links)
        annotations.setdefault("links", _shorten(rendered, MAX_ANNOTATION_VALUE_CHARS))
    if len(annotations) > MAX_ANNOTATIONS:
        raise IntakeError(
            f"{field('annotations')} has more than {MAX_ANNOTATIONS} entries with description and links: send fewer."
        )
    return AlertIn(
        source="generic",
        fingerprint=key,
        status=status,
        name=_shorten(title, MAX_NAME_CHARS),
        summary=_shorten(description, MAX_SUMMARY_CHARS) if description else _summary(annotations),
        service=service,
        severity=severity,
        labels=labels,
        annotations=annotations,
        starts_at=_time(raw, "starts_at", path),
        ends_at=_time(raw, "ends_at", path),
        generator_url=url or (links[0][0] if links else None),
    )


def parse_generic(body: bytes, *, service_label: str, severity_label: str, max_alerts: int) -> list[AlertIn]:
    """Every alert of a generic body (the shape in the package docstring), or IntakeError."""
    doc = _top_object(_decode(body, _GENERIC_WHAT), _GENERIC_WHAT)
    if "alerts" in doc:
        if "title" in doc:
            raise IntakeError(
                "The body has both 'alerts' and 'title': send one alert object, or {\"alerts\": [...]} with the "
                "title inside each alert."
            )
        others = [key for key in doc if key != "alerts"]
        if others:
            raise IntakeError(
                f"The body has {_quote(others[0])} next to 'alerts': a batch is {{\"alerts\": [...]}} only; put "
                "each field inside its alert."
            )
        raw_alerts = _alert_list(doc, max_alerts, hint="send a list of alert objects.", allow_null=False)
        return [
            _generic_alert(raw, f"alerts[{i}]", service_label=service_label, severity_label=severity_label)
            for i, raw in enumerate(raw_alerts)
        ]
    _check_count(1, max_alerts)
    return [_generic_alert(doc, "", service_label=service_label, severity_label=severity_label)]
