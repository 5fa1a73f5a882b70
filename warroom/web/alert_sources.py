"""Alert intake parsers: the edge translators from alert sources into warroom's ``AlertIn``.

Each parser takes the raw request body (bytes) and returns every alert in it, or raises ``IntakeError`` whose
``reason`` is a sentence naming the field that was wrong and what to send instead. Nothing is half-parsed: a
body yields all of its alerts or none. Pure code: no I/O, no settings read here (the caller passes the labels
to look at and the alert limit).

Sources
-------
``alertmanager``
    Prometheus Alertmanager's webhook receiver (``webhook_config``), payload version "4"::

        {"version": "4", "groupKey": "...", "truncatedAlerts": 0, "status": "firing", "receiver": "warroom",
         "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...}, "externalURL": "http://...",
         "alerts": [{"status": "firing", "labels": {...}, "annotations": {...},
                     "startsAt": "2024-05-01T10:00:00.123456789Z", "endsAt": "0001-01-01T00:00:00Z",
                     "generatorURL": "http://...", "fingerprint": "1a30ba71cca2921f"}]}

    Any other ``version`` is refused. Alertmanager fingerprints an alert by its label set (FNV-1a 64 over the
    sorted label names and values, each followed by the byte 0xff, printed as 16 hex digits); an alert that
    arrives without a fingerprint gets exactly that one, so it matches what Alertmanager itself would send.

``grafana``
    Grafana Alerting's webhook contact point: the same shape (``version`` "1") plus ``orgId``, ``title``,
    ``state`` and ``message`` at the top, and per alert ``values`` (ref id → number), ``valueString`` (older
    Grafana), ``silenceURL``, ``dashboardURL``, ``panelURL`` and ``imageURL``. Those per-alert extras are kept
    as annotations named ``grafana.<field>`` (``grafana.values`` reads "B=44.2394, C=1"), unless the alert
    already has an annotation of that name; ``orgId`` becomes ``grafana.orgId``. The top-level ``state`` and
    ``message`` describe the whole group (and Grafana is deprecating them): the per-alert ``status`` decides.

``generic``
    A JSON shape for senders of your own (scripts, cron jobs, other monitoring): either one alert object or
    ``{"alerts": [alert, ...]}``. An alert object has these fields, and no others (a misspelt field is refused
    rather than ignored):

    - ``title`` (required): what is wrong, one line ("Checkout error rate above 5%"); the alert's name.
    - ``dedup_key`` (alias ``fingerprint``): identifies the alert across repeats and its resolution, at most
      128 characters. Default: the SHA-256 hex digest of title, service and labels, so the same
      title/service/labels is the same alert.
    - ``status``: ``"firing"`` (default) or ``"resolved"``. Send the same ``dedup_key`` (or the same
      title/service/labels) with ``"resolved"`` to resolve it.
    - ``service``: the affected service, a name in warroom's catalog. Default: the label named by
      ``intake.service_label``.
    - ``severity``: e.g. ``"critical"``, mapped to a priority by ``intake.severity_priorities``. Default: the
      label named by ``intake.severity_label``.
    - ``description``: longer text; its start becomes the alert's summary, all of it the ``description``
      annotation.
    - ``labels``: an object of string values, e.g. ``{"region": "eu-1"}``.
    - ``annotations``: an object of string values, e.g. ``{"runbook_url": "https://..."}``.
    - ``url``: a link to the source (``http``/``https``).
    - ``links``: a list of links, each a URL string or ``{"href": "https://...", "text": "..."}``; the first
      link (when there is no ``url``) becomes the alert's source link, all of them the ``links`` annotation.
    - ``starts_at``, ``ends_at``: RFC 3339 times, e.g. ``"2024-05-01T10:00:00Z"``.

    Example: ``{"title": "Disk full on db-1", "service": "orders", "severity": "critical",
    "labels": {"host": "db-1"}, "url": "https://grafana.example/d/disk"}``.

Translation (all sources)
-------------------------
- ``status``: each alert's own ``firing``/``resolved`` (case-insensitive); anything else is refused.
- Times: RFC 3339 with any number of fractional digits (Go prints nanoseconds; microseconds are kept),
  returned as timezone-aware UTC datetimes. Go's zero time ``0001-01-01T00:00:00Z`` — what Alertmanager and
  Grafana send as ``endsAt`` of a firing alert — and ``""`` mean "none".
- ``service``: ``labels[service_label]``, else ``commonLabels[service_label]``, else None (generic: the
  ``service`` field first). ``severity`` likewise from ``severity_label``. Both are stripped of surrounding
  spaces; empty means none.
- ``name``: ``labels.alertname``, else ``commonLabels.alertname`` (Grafana: else the notification ``title``
  without its ``[FIRING:n]`` tag), else "Unnamed alert <fingerprint>".
- ``summary``: the first non-empty annotation of ``summary``, ``description``, ``message`` (Grafana: else
  ``valueString``, else the ``values``), shortened to at most 500 characters at a word boundary with "…".
- ``generator_url`` (and Grafana's URLs): kept only when an absolute ``http``/``https`` URL of at most 2,048
  characters; anything else (``javascript:``, relative paths) is dropped, since these become links.

Untrusted text and limits
-------------------------
Alert text is kept as data, never interpreted. Control characters (except newline and tab in annotations),
Unicode bidirectional overrides and unpaired surrogates are removed from every string. What identifies or
routes an alert is refused when too big or malformed, rather than cut or guessed: an empty label name, one
with control characters or longer than 256 characters, a label
value longer than 4,096, more than 128 labels or 64 annotations on an alert, a fingerprint longer than 128,
a service longer than 63 or a severity longer than 40 characters, more alerts than ``max_alerts`` (the caller's
``intake.max_alerts_per_request``), a label or annotation value that is not a string. Human text is shortened
visibly (ending in "…"): annotation values to 4,096 characters, names to 255, summaries to 500. Fields that
warroom does not use are not checked, so new fields in a source's payload do not break intake. ``null`` where
an object is expected counts as an empty object (Go encodes a nil map that way).

Based on: the Alertmanager ``webhook_config`` documentation and its notify/webhook message (version "4",
``truncatedAlerts``), prometheus/common ``model.labelSetToFingerprint`` (checked against its test vector), and
Grafana's "Configure the webhook notifier for Alerting" page (payload fields and types, ``version`` "1",
``endsAt`` default ``0001-01-01T00:00:00Z``, ``values``/``valueString``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from warroom.core.model import AlertIn, AlertStatus

__all__ = [
    "MAX_ANNOTATIONS",
    "MAX_ANNOTATION_VALUE_CHARS",
    "MAX_FINGERPRINT_CHARS",
    "MAX_KEY_CHARS",
    "MAX_LABELS",
    "MAX_LABEL_VALUE_CHARS",
    "MAX_NAME_CHARS",
    "MAX_SERVICE_CHARS",
    "MAX_SEVERITY_CHARS",
    "MAX_SUMMARY_CHARS",
    "MAX_URL_CHARS",
    "SOURCES",
    "IntakeError",
    "labels_fingerprint",
    "parse_alertmanager",
    "parse_generic",
    "parse_grafana",
]

MAX_KEY_CHARS = 256
MAX_LABEL_VALUE_CHARS = 4096
MAX_ANNOTATION_VALUE_CHARS = 4096
MAX_LABELS = 128
MAX_ANNOTATIONS = 64
MAX_FINGERPRINT_CHARS = 128  # the store's column
MAX_SERVICE_CHARS = 63  # the store's column
MAX_SEVERITY_CHARS = 40  # the store's column
MAX_NAME_CHARS = 255
MAX_SUMMARY_CHARS = 500
MAX_URL_CHARS = 2048


class IntakeError(ValueError):
    """A body that cannot be taken; ``reason`` is a sentence saying what was wrong and what to do."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- text hygiene -----------------------------------------------------------------------------------------

_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_DROP_ALL: dict[int, None] = {
    cp: None for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0), *range(0xD800, 0xE000), *_BIDI]
}
_DROP_KEEP_LINES: dict[int, None] = {cp: None for cp in _DROP_ALL if cp not in (0x09, 0x0A)}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _clean(text: str, *, multiline: bool = False) -> str:
    """Remove control characters, bidirectional overrides and unpaired surrogates."""
    if multiline:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text.translate(_DROP_KEEP_LINES)
    return text.translate(_DROP_ALL)


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary when one is near, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = max(cut.rfind(" "), cut.rfind("\n"))
    if space >= limit * 4 // 5:
        cut = cut[:space]
    return cut.rstrip() + "…"


def _quote(text: str, limit: int = 40) -> str:
    """An untrusted string made safe and short for a reason sentence."""
    short = text if len(text) <= limit else text[:limit] + "…"
    return json.dumps(short, ensure_ascii=True)


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__  # pragma: no cover - json.loads makes nothing else


def _key_path(base: str, key: str) -> str:
    """``labels.team``, or ``labels["odd key"]`` (escaped, shortened) for keys that are not short identifiers."""
    return f"{base}.{key}" if len(key) <= 40 and _IDENT.fullmatch(key) else f"{base}[{_quote(key)}]"


# -- the body ---------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> float:
    raise ValueError(name)


def _decode(body: bytes, what: str) -> object:
    if not body.strip():
        raise IntakeError(f"The body is empty: send {what} as JSON.")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"The body is not UTF-8 (bad byte at offset {exc.start}): send {what} as UTF-8 JSON."
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise IntakeError(
            f"The body is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}): send {what}."
        ) from None
    except (ValueError, RecursionError):
        # NaN/Infinity, integers too long to convert, nesting deeper than the interpreter allows.
        raise IntakeError(
            f"The body is JSON that warroom cannot take (NaN, Infinity, a huge number or too deep nesting): send {what}."
        ) from None


def _top_object(doc: object, what: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise IntakeError(f"The body must be a JSON object ({what}); got {_kind(doc)}.")
    return doc


def _alert_list(doc: Mapping[str, Any], max_alerts: int, *, hint: str, allow_null: bool = True) -> list[Any]:
    if "alerts" not in doc:
        raise IntakeError(f"The body has no 'alerts' field: {hint}")
    alerts = doc["alerts"]
    if alerts is None and allow_null:
        return []
    if not isinstance(alerts, list):
        raise IntakeError(f"alerts must be a list of alert objects; got {_kind(alerts)}.")
    _check_count(len(alerts), max_alerts)
    return alerts


def _check_count(count: int, max_alerts: int) -> None:
    if count > max_alerts:
        raise IntakeError(
            f"The body has {count} alerts, more than the limit of {max_alerts} per request: send fewer alerts "
            "per request (Alertmanager: max_alerts in webhook_config) or raise intake.max_alerts_per_request."
        )


# -- fields -----------------------------------------------------------------------------------------------


def _text_map(value: object, path: str, *, labels: bool) -> dict[str, str]:
    """Labels or annotations: an object of string values, within the limits."""
    what = "labels" if labels else "annotations"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise IntakeError(f"{path} must be an object of string values; got {_kind(value)}.")
    most = MAX_LABELS if labels else MAX_ANNOTATIONS
    if len(value) > most:
        raise IntakeError(
            f"{path} has {len(value)} entries, more than the {most} {what} an alert may have: send fewer."
        )
    out: dict[str, str] = {}
    for raw_key, raw_value in value.items():
        key_path = _key_path(path, raw_key)
        if not isinstance(raw_value, str):
            raise IntakeError(
                f"{path} must be an object of string values; {key_path} is {_kind(raw_value)}: send it as a string."
            )
        if not raw_key:
            raise IntakeError(f"{path} has an empty name: every {what[:-1]} needs a name.")
        if len(raw_key) > MAX_KEY_CHARS:
            raise IntakeError(
                f"{key_path} has a name of {len(raw_key)} characters; names may have at most {MAX_KEY_CHARS}."
            )
        key = _clean(raw_key)
        if key != raw_key:
            raise IntakeError(f"{key_path} has control characters in its name: names must be plain text.")
        if labels:
            if len(raw_value) > MAX_LABEL_VALUE_CHARS:
                raise IntakeError(
                    f"{key_path} is {len(raw_value)} characters long; label values may have at most "
                    f"{MAX_LABEL_VALUE_CHARS}: put long text in an annotation."
                )
            out[key] = _clean(raw_value)
        else:
            out[key] = _shorten(_clean(raw_value, multiline=True), MAX_ANNOTATION_VALUE_CHARS)
    return out


def _join(path: str, key: str) -> str:
    """The path of a field: ``alerts[2].startsAt``, or just ``title`` at the top of the body."""
    return f"{path}.{key}" if path else key


def _string(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """An optional string field ``obj[key]`` of the object at ``path``; null counts as absent."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise IntakeError(f"{_join(path, key)} must be a string; got {_kind(value)}.")
    return value


_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,32}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_GO_ZERO = datetime(1, 1, 1, tzinfo=UTC)


def _time(obj: Mapping[str, Any], key: str, path: str) -> datetime | None:
    raw = _string(obj, key, path)
    if raw is None or raw.strip() == "":
        return None
    text = raw.strip()
    hint = f'{_join(path, key)} must be an RFC 3339 time such as "2024-05-01T10:00:00Z"; got {_quote(text)}.'
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise IntakeError(hint)
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micro = int((m.group(7) or "").ljust(6, "0")[:6])
    try:
        if m.group(8):
            tz: timezone = UTC
        else:
            offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
            tz = timezone(-offset if m.group(9) == "-" else offset)
        when = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    except ValueError:
        raise IntakeError(hint) from None
    if when == _GO_ZERO:
        return None
    try:
        return when.astimezone(UTC)
    except OverflowError:
        raise IntakeError(
            f"{_join(path, key)} is out of the range of times warroom can keep; got {_quote(text)}."
        ) from None


def _status(value: object, path: str) -> AlertStatus:
    if value is None:
        raise IntakeError(f'{path} is missing: it must be "firing" or "resolved".')
    if not isinstance(value, str):
        raise IntakeError(f'{path} must be "firing" or "resolved"; got {_kind(value)}.')
    try:
        return AlertStatus(value.strip().lower())
    except ValueError:
        raise IntakeError(f'{path} must be "firing" or "resolved"; got {_quote(value)}.') from None


def labels_fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager's fingerprint of a label set: FNV-1a 64 of the sorted pairs with 0xff separators, as hex."""
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for chunk in (name, labels[name]):
            for byte in chunk.encode("utf-8", "surrogatepass") + b"\xff":
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def _given_fingerprint(value: object, path: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise IntakeError(f"{path} must be a string; got {_kind(value)}.")
    fingerprint = _clean(value).strip()
    if len(fingerprint) > MAX_FINGERPRINT_CHARS:
        raise IntakeError(
            f"{path} is {len(fingerprint)} characters long; a fingerprint may have at most {MAX_FINGERPRINT_CHARS}."
        )
    return fingerprint or None


def _routing_label(
    name: str, labels: Mapping[str, str], common: Mapping[str, str], path: str, limit: int, what: str
) -> str | None:
    """``labels[name]``, else ``commonLabels[name]``; stripped; empty is none; too long is refused."""
    for source, where in ((labels, path), (common, "commonLabels")):
        value = source.get(name, "").strip()
        if value:
            if len(value) > limit:
                raise IntakeError(
                    f"{_key_path(where, name)} is {len(value)} characters long; a {what} may have at most {limit}."
                )
            return value
    return None


def _checked(value: str | None, path: str, limit: int, what: str) -> str | None:
    if value is None:
        return None
    value = _clean(value).strip()
    if len(value) > limit:
        raise IntakeError(f"{path} is {len(value)} characters long; a {what} may have at most {limit}.")
    return value or None


def _url(value: object, path: str) -> str | None:
    """An absolute http(s) URL, or None: links that are unsafe or unusable are dropped, not refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise IntakeError(f"{path} must be a URL string; got {_kind(value)}.")
    url = _clean(value).strip()
    if not url or len(url) > MAX_URL_CHARS or any(ch.isspace() for ch in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return url


def _summary(annotations: Mapping[str, str], *extra: str | None) -> str:
    for candidate in (
        annotations.get("summary"),
        annotations.get("description"),
        annotations.get("message"),
        *extra,
    ):
        if candidate and candidate.strip():
            return _shorten(candidate.strip(), MAX_SUMMARY_CHARS)
    return ""


def _name(*candidates: str | None, fingerprint: str) -> str:
    for candidate in candidates:
        if candidate and candidate.strip():
            return _shorten(" ".join(candidate.split()), MAX_NAME_CHARS)
    return f"Unnamed alert {fingerprint[:16]}"


# -- Alertmanager and Grafana -----------------------------------------------------------------------------

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


# -- generic ----------------------------------------------------------------------------------------------

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
    """Every alert of a generic body (the shape in this module's docstring), or IntakeError."""
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


SOURCES: dict[str, Callable[..., list[AlertIn]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "generic": parse_generic,
}
