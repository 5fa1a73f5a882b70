"""What every alert source shares: the limits, :class:`IntakeError`, decoding the body, and reading its fields —
labels and annotations, strings, RFC 3339 times, status, fingerprints (Alertmanager's :func:`labels_fingerprint`),
routing labels, URLs, summary and name — each refusing what is malformed with a sentence naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from warroom.core import safejson
from warroom.core.model import AlertStatus

from .text import _clean, _key_path, _kind, _quote, _shorten

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



# -- the body ---------------------------------------------------------------------------------------------


def _decode(body: bytes, what: str) -> object:
    try:
        return safejson.loads(body, f"{what} as JSON")
    except safejson.JsonRefused as exc:
        raise IntakeError(exc.reason) from None


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

