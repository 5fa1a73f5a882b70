"""Logging set-up for the server: the ``logging`` section of the settings (level, ``text`` or ``json`` lines, the
access log), the start-up summary, and the rate-limited line about refused Slack signatures.

It lives in the web layer, beside the composition root that uses it, because it needs the settings and aiohttp's
access-log interface; the layers below (the store's outbox worker, sync) must not import ``warroom.web``, and need
not: they log with the standard library and pass what a JSON line shows as ``extra`` fields — ``incident`` (an id
or ``"INC-12"``), ``job``, ``job_kind``, ``outcome`` — which :class:`JsonFormatter` picks up by name.

Nothing configured as a secret is ever written: every line, in either format, has the configured secret values,
bearer tokens, Slack tokens and the values of token-like query parameters (the postmortem capability link's
``?token=``) replaced by ``[redacted]`` before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from sqlalchemy.engine import make_url

from warroom.settings import SECRET_KEYS, Settings

if TYPE_CHECKING:
    from aiohttp.web_request import BaseRequest
    from aiohttp.web_response import StreamResponse

    from .app import Runtime

log = logging.getLogger("warroom.web")

REDACTED = "[redacted]"

#: ``extra`` fields a JSON line carries when a log call gives them.
FIELDS = ("incident", "job", "job_kind", "outcome", "source", "refused", "method", "path", "status", "remote",
          "duration_ms")

#: Libraries whose lines carry URLs (Slack's response URLs, webhook callbacks), request bodies or SQL parameters:
#: WARNING and above only, whatever the configured level.
QUIET = ("aiosqlite", "httpx", "httpcore", "hpack", "slack_sdk", "slack_bolt", "authlib", "openai",
         "alembic.runtime.plugins")

#: Secrets shorter than this are not searched for: a one-letter "secret" would blank every line.
MIN_SECRET = 4

_PATTERNS = (
    # values of token-like query parameters: the postmortem link's ?token=, signatures, codes, keys
    (re.compile(r"(?i)([?&;](?:[a-z0-9_.-]*token|sig|signature|secret|password|code|key|api_key|apikey)=)[^&;\s\"'<>]+"),
     r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + REDACTED),
    (re.compile(r"\bx(?:ox[abposr]|app)-[A-Za-z0-9-]{6,}"), REDACTED),
)


def secret_values(settings: Settings) -> list[str]:
    """Every configured secret's value (and the password of database.url), longest first."""
    values: set[str] = set()
    for section, key in SECRET_KEYS:
        secret = getattr(getattr(settings, section, None), key, None)
        if secret is not None:
            values.add(secret.get_secret_value())
    try:
        password = make_url(settings.database.url).password
    except Exception:  # an unusable URL is check-config's business, not the log's
        password = None
    if password:
        values.add(str(password))
    return sorted((v for v in values if len(v) >= MIN_SECRET), key=len, reverse=True)


class Redactor:
    """Replaces secrets in text: the configured values, and anything shaped like a token."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = [s for s in secrets if len(s) >= MIN_SECRET]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def incident_label(value: Any) -> str:
    """``INC-12`` for 12, "12" or "INC-12"."""
    text = str(value)
    return text if text.upper().startswith("INC-") else f"INC-{text}"


class TextFormatter(logging.Formatter):
    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then the
    :data:`FIELDS` the call gave, and ``exception`` with the traceback when there is one."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line: dict[str, Any] = {
            "time": stamp,
            "level": record.levelname,
            "logger": record.name,
            "message": self.redact(record.getMessage()),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is None:
                continue
            if name == "incident":
                value = incident_label(value)
            if isinstance(value, str):
                value = self.redact(value)
            elif not isinstance(value, int | float | bool):
                value = self.redact(str(value))
            line[name] = value
        if record.exc_info:
            line["exception"] = self.redact(self.formatException(record.exc_info))
        elif record.exc_text:
            line["exception"] = self.redact(record.exc_text)
        if record.stack_info:
            line["stack"] = self.redact(self.formatStack(record.stack_info))
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(settings: Settings, *, level: str | None = None, stream: IO[str] | None = None) -> logging.Handler:
    """Set up the process's logging from ``settings.logging``: one handler on the root logger (stderr unless
    ``stream``), replacing any there (``logging.basicConfig``'s), in the configured format. ``level`` overrides
    the configured level (the CLI's --log-level). Returns the handler."""
    config = settings.logging
    redact = Redactor(secret_values(settings))
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(redact) if config.format == "json" else TextFormatter(redact))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    chosen = logging.getLevelName((level or config.level).upper())
    root.setLevel(chosen if isinstance(chosen, int) else logging.INFO)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # the access log, when on, is written whatever the level (it is asked for on its own)
    access = logging.getLogger("aiohttp.access")
    access.setLevel(logging.INFO if config.access_log else logging.NOTSET)
    return handler


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log, one line per request: who, the method, the path with every query value redacted
    (the postmortem capability link carries its token there), the status, the size and the time taken."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        target = redacted_target(request.raw_path)
        remote = request.remote or "-"
        size = response.body_length
        duration = round(time * 1000, 1)
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %s %s %.1fms', remote, request.method, target, request.version.major,
            request.version.minor, response.status, size, duration,
            extra={"method": request.method, "path": target, "status": response.status, "remote": remote,
                   "duration_ms": duration},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def redacted_target(raw: str) -> str:
    """The raw (percent-encoded) path, with each query parameter's value replaced by ``[redacted]``."""
    path, _, query = raw.partition("?")
    if not query:
        return path
    names = [part.partition("=")[0] for part in query.split("&") if part]
    return path + "?" + "&".join(f"{name}={REDACTED}" for name in names)


def access_log_options(settings: Settings) -> dict[str, Any]:
    """The access-log arguments of ``web.run_app`` / ``web.AppRunner`` for ``settings.logging.access_log``."""
    if not settings.logging.access_log:
        return {"access_log": None}
    return {"access_log": logging.getLogger("aiohttp.access"), "access_log_class": AccessLogger}


# -- the start-up summary -------------------------------------------------------------------------------------------
def startup_summary(settings: Settings, *, database: str, itsm_webhooks: bool) -> str:
    """One paragraph of what this server runs — never a secret, a token or a URL with credentials."""
    from warroom.web.alert_sources import SOURCES

    from .metrics import build_version

    intake = settings.intake
    tokens = {"alertmanager": intake.alertmanager_token, "grafana": intake.grafana_token,
              "generic": intake.generic_token}
    sources = [f"alerts from {name}" for name in SOURCES if tokens.get(name) is not None]
    if intake.changes_token is not None:
        sources.append("change events")
    if itsm_webhooks:
        sources.append("Xurrent webhooks")
    fronts = []
    if settings.slack.enabled:
        fronts.append(f"Slack ({'Socket Mode' if settings.slack.mode == 'socket' else 'HTTP events'})")
    if settings.teams.enabled:
        fronts.append("Microsoft Teams")
    services = []
    for svc in settings.services[:20]:
        parts: list[str] = [svc.chat]
        if svc.bridge != "none":
            parts.append(f"{svc.bridge} bridge")
        if svc.itsm.enabled and settings.xurrent.enabled:
            parts.append(f"Xurrent {svc.itsm.direction.replace('_', ' ')}")
        services.append(f"{svc.name} ({', '.join(parts)})")
    if len(settings.services) > 20:
        services.append(f"and {len(settings.services) - 20} more")
    server = settings.server
    if server.metrics_port is not None:
        metrics = f"on port {server.metrics_port} only"
    else:
        metrics = f"on port {server.port}"
    metrics += ", behind a bearer token" if server.metrics_token is not None else ", without a token"
    ai = f"on (model {settings.ai.model})" if settings.ai.enabled else "off"
    return (
        f"warroom {build_version()} starting on {server.host}:{server.port} (public URL {server.public_url}); "
        f"database: {database}; chat front ends: {', '.join(fronts) or 'none'}; "
        f"sources on: {', '.join(sources) or 'none'}; "
        f"services: {', '.join(services) or 'none'}; AI responder: {ai}; /metrics {metrics}; "
        f"logging: {settings.logging.format}, access log {'on' if settings.logging.access_log else 'off'}."
    )


def mount(app: web.Application, rt: Runtime) -> None:
    """Log the start-up summary at INFO once the runtime has started (after migrations)."""

    async def summary(_app: web.Application) -> None:
        log.info(startup_summary(rt.settings, database=rt.store.dialect, itsm_webhooks=rt.sync is not None))

    app.on_startup.append(summary)


# -- refused Slack signatures ---------------------------------------------------------------------------------------
class SignatureRefusals:
    """Requests refused for their signature, told at WARNING at most once per ``every`` seconds, with the number
    refused since the last such line — never anything of the request's body."""

    def __init__(self, logger: logging.Logger, what: str, hint: str, *, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.what = what
        self.hint = hint
        self.every = every
        self.clock = clock
        #: refused since the last line
        self.pending = 0
        self.total = 0
        self._last: float | None = None

    def refused(self, remote: str | None = None) -> None:
        self.pending += 1
        self.total += 1
        now = self.clock()
        if self._last is not None and now - self._last < self.every:
            return
        count, self.pending = self.pending, 0
        since = "" if self._last is None else f" in the last {now - self._last:.0f} s"
        self._last = now
        what = f"a {self.what}" if count == 1 else f"{count} {self.what}s"
        self.logger.warning(
            "Refused %s whose signature does not verify%s (the latest from %s): %s At most one such line a minute.",
            what, since, remote or "an unknown address", self.hint,
            extra={"source": "slack", "outcome": "refused", "refused": count},
        )


SLACK_REFUSALS: web.AppKey[SignatureRefusals] = web.AppKey("slack_refusals", SignatureRefusals)


def slack_refusals(app: web.Application) -> SignatureRefusals:
    """The refused-signature log of ``/slack/events``, kept on the app (tests set its clock)."""
    refusals = app[SLACK_REFUSALS] = SignatureRefusals(
        log, "Slack request",
        "check that slack.signing_secret is the Slack app's Signing Secret (Basic Information → App Credentials); "
        "if it is, something other than Slack is posting to /slack/events.",
    )
    return refusals
