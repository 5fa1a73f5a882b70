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

from collections.abc import Callable

from warroom.core.model import AlertIn

from .alertmanager import parse_alertmanager
from .fields import (
    MAX_ANNOTATION_VALUE_CHARS,
    MAX_ANNOTATIONS,
    MAX_FINGERPRINT_CHARS,
    MAX_KEY_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    MAX_NAME_CHARS,
    MAX_SERVICE_CHARS,
    MAX_SEVERITY_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_URL_CHARS,
    IntakeError,
    labels_fingerprint,
)
from .generic import parse_generic
from .grafana import parse_grafana

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


SOURCES: dict[str, Callable[..., list[AlertIn]]] = {
    "alertmanager": parse_alertmanager,
    "grafana": parse_grafana,
    "generic": parse_generic,
}
