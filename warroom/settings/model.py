"""The settings model: the sections of the configuration and their fields, with the checks pydantic can express.

Secrets are named in :data:`SECRET_KEYS`; where they may come from is :mod:`warroom.settings.load`'s business,
the checks across fields are :mod:`warroom.settings.checks`'. Nothing here does I/O.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from warroom.oncall.model import Schedule
from warroom.oncall.policy import DEFAULT_RULES, EscalationPolicy, Person, Rules, Urgency

Impact = Literal["low", "medium", "high", "top"]
Direction = Literal["imr_to_itsm", "itsm_to_imr", "bidirectional"]
BridgeProvider = Literal["zoom", "webex", "teams", "none"]
XurrentRegion = Literal["global", "au", "uk", "ch", "us"]
XurrentEnvironment = Literal["production", "qa", "demo"]

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SERVICE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

#: (section, key) pairs that are secrets: only from the environment or a ``<key>_file``.
SECRET_KEYS: frozenset[tuple[str, str]] = frozenset(
    {
        ("slack", "bot_token"),
        ("slack", "signing_secret"),
        ("slack", "app_token"),
        ("teams", "app_password"),
        ("xurrent", "client_secret"),
        ("zoom", "client_secret"),
        ("webex", "token"),
        ("smtp", "password"),
        ("twilio", "auth_token"),
        ("twilio", "api_key_secret"),
        ("statuspage", "api_key"),
        ("intake", "alertmanager_token"),
        ("intake", "grafana_token"),
        ("intake", "generic_token"),
        ("intake", "changes_token"),
        ("server", "link_secret"),
        ("server", "metrics_token"),
        ("ai", "api_key"),
        ("console", "client_secret"),
    }
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    #: The address people and outside systems reach this server at (for links and manifests).
    public_url: str = "http://127.0.0.1:8080"
    #: Signs capability links warroom hands out (the postmortem's). Unset: derived from slack.signing_secret.
    link_secret: SecretStr | None = None
    #: Bearer token a scraper sends for ``/metrics`` (``Authorization: Bearer …``; without it: 401). Unset: /metrics
    #: answers whoever reaches its port — keep that port private (``metrics_port``) or set a token.
    metrics_token: SecretStr | None = None
    #: Serve ``/metrics`` on this port only — a second listener on ``host`` that answers nothing else — instead of
    #: on ``port``. Unset: on ``port``, beside everything else.
    metrics_port: int | None = Field(None, ge=0, le=65535)


class LoggingSettings(_Section):
    """What the server logs and how (``warroom serve``; the CLI's --log-level overrides ``level`` for a run)."""

    #: DEBUG, INFO, WARNING, ERROR or CRITICAL. Chatty libraries (HTTP clients, the Slack SDK, the SQLite driver)
    #: log WARNING and above only, whatever the level: their lines carry URLs, bodies and SQL parameters.
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    #: ``text``: one line per message; ``json``: one JSON object per line (time, level, logger, message and, when
    #: known, the incident, the job kind and its outcome).
    format: Literal["text", "json"] = "text"
    #: Log every HTTP request (aiohttp's access log) at INFO whatever ``level`` is; query values are redacted.
    access_log: bool = False

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value


class DatabaseSettings(_Section):
    #: ``sqlite+aiosqlite:///path.db`` (the embedded default) or ``postgresql+asyncpg://user@host/db``.
    url: str = "sqlite+aiosqlite:///warroom.db"
    #: Apply migrations at start. The embedded default always does; for PostgreSQL run ``warroom migrate``.
    auto_migrate: bool = True


class WorkerSettings(_Section):
    concurrency: int = Field(16, ge=1, le=256)
    poll_interval: float = Field(0.5, gt=0)
    #: A claimed job not finished within this many seconds is taken up again by another worker.
    lease_seconds: float = Field(120.0, gt=0)
    max_attempts: int = Field(12, ge=1)
    backoff_base: float = Field(0.5, gt=0)
    backoff_max: float = Field(300.0, gt=0)


class SlackSettings(_Section):
    enabled: bool = True
    api_url: str = "https://slack.com/api/"
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    #: Slash command name, without the slash.
    command: str = "incident"
    #: The on-call slash command (who is on call, overrides), without the slash.
    oncall_command: str = "oncall"
    #: Link shown for the war room: ``{team_url}archives/{channel_id}``.
    team_url: str = "https://slack.com/"
    #: How Slack reaches warroom: ``http`` — Slack posts to ``{server.public_url}/slack/events``, signed with
    #: signing_secret; ``socket`` — warroom opens Slack's Socket Mode WebSocket with app_token (no inbound URL).
    mode: Literal["http", "socket"] = "http"
    #: Socket Mode's app-level token (``xapp-…``, scope ``connections:write``).
    app_token: SecretStr | None = None
    #: Socket Mode: seconds between pings on the connection; one lost without a close is replaced within about this.
    socket_ping_seconds: float = Field(10.0, gt=0)
    #: The incidents channel — a channel id (``C0123ABCD``) or name (``#major-incidents``): one line there for every
    #: incident declared, acknowledged, resolved or reopened, and for what keeps a war room from existing (a room
    #: that could not be made, an alert for no configured service). Empty: none. Invite the app to the channel
    #: (``/invite @warroom``); an id spares a look-up by name.
    announce_channel: str = ""
    #: Hours after an incident is resolved that its war-room channel is archived, its final summary posted first
    #: (0: never). Reopening the incident before then keeps the channel open.
    archive_after_hours: float = Field(72.0, ge=0)


class TeamsSettings(_Section):
    """Microsoft Teams: the bot (Agents SDK, Bot Connector) and Microsoft Graph (channels, meetings)."""

    enabled: bool = False
    #: The bot's Microsoft Entra app registration (the Teams app's botId).
    app_id: str = ""
    app_password: SecretStr | None = None
    tenant_id: str = ""
    #: Validate the Bot Framework JWT on /api/messages. Off only for an explicitly local sandbox.
    auth_enabled: bool = True
    #: The Bot Framework's OpenID metadata: where the keys that sign inbound activities are published.
    openid_metadata_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    graph_url: str = "https://graph.microsoft.com/v1.0"
    #: Where Entra issues tokens; {tenant} is replaced by tenant_id.
    login_url: str = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
    #: The Bot Connector service URL used for proactive posts before any activity told us one.
    service_url: str = "https://smba.trafficmanager.net/teams/"
    timeout: float = Field(15.0, gt=0)
    #: The user (object id or sign-in name) who organises Teams meetings used as bridges (``bridge: teams``); an
    #: administrator grants the app an application access policy for this user.
    meeting_organizer: str = ""
    #: The warroom app's id in the organisation's Teams app catalog: installed into group-chat war rooms.
    catalog_app_id: str = ""
    #: Hours after an incident is resolved that its Teams channel is archived (0: never). Archiving keeps the
    #: history readable; a team holds at most 1,000 channels, deleted ones counted for 30 days.
    archive_after_hours: float = Field(72.0, ge=0)
    #: The incidents channel in Teams, as slack.announce_channel: a channel id (``19:…@thread.tacv2``) in the team
    #: ``announce_team_id`` (which has the warroom app installed). Empty: none.
    announce_channel: str = ""
    announce_team_id: str = ""


class XurrentSettings(_Section):
    enabled: bool = True
    #: Account id from Settings → Account Overview; sent as ``X-Xurrent-Account``.
    account: str = ""
    region: XurrentRegion = "global"
    environment: XurrentEnvironment = "production"
    #: Overrides for the hosts the region and environment pick (tests, proxies, new regions).
    api_url: str | None = None
    oauth_url: str | None = None
    #: Where people open a request in a browser; default the account URL, ``https://<account>.<region.><domain>``.
    web_url: str | None = None
    client_id: str = ""
    client_secret: SecretStr | None = None
    #: Value of ``source`` on requests warroom creates; with ``sourceID`` the idempotency key.
    source: str = "warroom"
    timeout: float = Field(15.0, gt=0)
    max_retries: int = Field(5, ge=0)
    #: ``iss`` of webhook JWTs; default the account URL, ``https://<account>.<region.><domain>`` (not ``web_url``).
    webhook_issuer: str | None = None
    #: Seconds between reconciliation passes over linked open requests (0: off).
    reconcile_seconds: int = Field(300, ge=0)

    def host(self, name: str) -> str:
        """Xurrent's host ``name`` (api, oauth, the account id) in the configured region and environment — the one
        place they are derived: ``<name>.<region.><domain>``, with no region part for global and for demo (which
        has no regional hosts)."""
        domain = {"production": "xurrent.com", "qa": "xurrent.qa", "demo": "xurrent-demo.com"}[self.environment]
        region = "" if self.region == "global" or self.environment == "demo" else f"{self.region}."
        return f"{name}.{region}{domain}"

    def hosts(self) -> tuple[str, str]:
        """The REST and OAuth base URLs for the configured region and environment."""
        api = self.api_url or f"https://{self.host('api')}/v1"
        oauth = self.oauth_url or f"https://{self.host('oauth')}"
        return api.rstrip("/"), oauth.rstrip("/")

    def account_url(self) -> str:
        """The account's URL in the configured region and environment, e.g. ``https://acme.uk.xurrent.com``."""
        return f"https://{self.host(self.account or 'account')}"

    def web_base(self) -> str:
        """Where every browser link starts: ``web_url``, else the account URL."""
        return (self.web_url or self.account_url()).rstrip("/")

    def issuer(self) -> str:
        """The ``iss`` of the account's webhook JWTs: ``webhook_issuer``, else the account URL."""
        return self.webhook_issuer or self.account_url()

    def request_url(self, request_id: str | int) -> str:
        return f"{self.web_base()}/requests/{request_id}"


class ZoomSettings(_Section):
    api_url: str = "https://api.zoom.us/v2"
    oauth_url: str = "https://zoom.us/oauth/token"
    account_id: str = ""
    client_id: str = ""
    client_secret: SecretStr | None = None
    #: The Zoom user (email or id) that hosts incident bridges.
    host_user: str = "me"
    timeout: float = Field(15.0, gt=0)


class WebexSettings(_Section):
    api_url: str = "https://webexapis.com/v1"
    token: SecretStr | None = None
    timeout: float = Field(15.0, gt=0)


E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


class SmtpSettings(_Section):
    """Email pages through an SMTP relay (``warroom/adapters/smtp.py``)."""

    #: The mail relay (submission server) page emails go through; empty: no email.
    host: str = ""
    #: 587 for STARTTLS (submission), 465 for implicit TLS, 25 for a relay without TLS.
    port: int = Field(587, ge=1, le=65535)
    #: ``starttls`` (TLS is required: a server that does not offer it is refused), ``tls`` (TLS from the first byte,
    #: usually port 465) or ``none`` (a relay on a trusted network).
    security: Literal["starttls", "tls", "none"] = "starttls"
    #: The SMTP AUTH login (PLAIN or LOGIN); empty: send without logging in.
    username: str = ""
    password: SecretStr | None = None
    #: The sender of page emails: ``warroom@example.com`` or ``Warroom <warroom@example.com>``.
    from_address: str = ""
    #: Seconds to wait for the server at each step of a send.
    timeout: float = Field(30.0, gt=0)
    #: Check the server's certificate and name; off only for a relay with a self-signed certificate.
    validate_certs: bool = True

    @field_validator("from_address")
    @classmethod
    def _from_address(cls, value: str) -> str:
        value = value.strip()
        address = value.rsplit("<", 1)[-1].rstrip(">").strip() if "<" in value else value
        if value and (not EMAIL_RE.match(address) or any(c in value for c in "\r\n")):
            raise ValueError(f"smtp.from_address '{value}' is not an email address: write e.g. warroom@example.com")
        return value


class StatuspageSettings(_Section):
    """Atlassian Statuspage pages kept current through its REST API (``warroom/adapters/statuspage.py``)."""

    #: The Statuspage REST API (override for proxies and tests).
    api_url: str = "https://api.statuspage.io/v1"
    #: The API key of a Statuspage user (Statuspage → your avatar → API info); sent as ``Authorization: OAuth <key>``.
    api_key: SecretStr | None = None
    #: Seconds per API call.
    timeout: float = Field(15.0, gt=0)
    #: Seconds between the starts of two requests: Statuspage allows about 1 request/s per API key (lower it only
    #: for a proxy that allows more, or the sandbox).
    pace_seconds: float = Field(1.0, ge=0, le=60)


class TwilioSettings(_Section):
    """SMS and voice pages through Twilio's REST API (``warroom/adapters/twilio.py``)."""

    #: Send SMS and voice pages through Twilio.
    enabled: bool = False
    api_url: str = "https://api.twilio.com"
    #: The Twilio account (``AC…``); its auth token also signs the status callbacks and replies Twilio sends warroom.
    account_sid: str = ""
    auth_token: SecretStr | None = None
    #: An API key (``SK…``) and its secret to call the API with instead of the auth token (callbacks are still
    #: verified with the auth token).
    api_key_sid: str = ""
    api_key_secret: SecretStr | None = None
    #: The Twilio number pages come from, in E.164 (``+14155550100``); calls always need it.
    from_number: str = ""
    #: A Messaging Service (``MG…``) whose senders send SMS pages instead of ``from_number``.
    messaging_service_sid: str = ""
    timeout: float = Field(15.0, gt=0)

    @field_validator("from_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        value = value.strip()
        if value and not E164_RE.match(value):
            raise ValueError(f"twilio.from_number '{value}' is not an E.164 number: write it as +14155550100")
        return value

    @field_validator("account_sid", "api_key_sid", "messaging_service_sid")
    @classmethod
    def _sid(cls, value: str, info: Any) -> str:
        value = value.strip()
        prefix = {"account_sid": "AC", "api_key_sid": "SK", "messaging_service_sid": "MG"}[info.field_name]
        if value and not re.fullmatch(prefix + r"[0-9a-fA-F]{32}", value):
            raise ValueError(f"twilio.{info.field_name} '{value}' is not a Twilio SID: it is {prefix} and 32 hex digits")
        return value


class ConsoleSettings(_Section):
    """Signing in to the web console (``/console``) with the organisation's OpenID Connect identity provider; people
    signed in also read private and scoped status pages without a signed link."""

    #: The identity provider's issuer URL (its ``/.well-known/openid-configuration`` is read from it), e.g.
    #: ``https://login.microsoftonline.com/<tenant>/v2.0``. Unset: the console is off.
    oidc_issuer: str = ""
    #: The client id warroom is registered with at the identity provider.
    client_id: str = ""
    #: The client's secret (sent to the token endpoint with HTTP Basic, ``client_secret_basic``).
    client_secret: SecretStr | None = None
    #: Email domains let in (``example.com``); empty: anyone the identity provider signs in with a verified email
    #: — which check-config reports as a problem unless :attr:`allow_any_account` says it is meant.
    allowed_domains: list[str] = Field(default_factory=list)
    #: With no ``allowed_domains``, let in anyone the identity provider signs in (say so on purpose: a public
    #: provider such as Google signs in anyone at all).
    allow_any_account: bool = False
    #: Hours a sign-in lasts before the console asks again (sign-out clears only this browser's cookie: a copied
    #: cookie lasts this long).
    session_hours: float = Field(8.0, gt=0, le=24 * 30)
    #: Scopes asked for; ``openid`` and ``email`` are needed.
    scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str]) -> list[str]:
        out = [d.strip().lower().removeprefix("@") for d in value if d.strip()]
        bad = [d for d in out if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", d)]
        if bad:
            raise ValueError(f"console.allowed_domains lists {', '.join(bad)}, which is not an email domain: write "
                             "it as example.com")
        return out

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return value.strip()


class IntakeSettings(_Section):
    alertmanager_token: SecretStr | None = None
    grafana_token: SecretStr | None = None
    generic_token: SecretStr | None = None
    #: Bearer token of ``POST /events/changes`` (deployment events for root-cause analysis); unset: the intake is off.
    changes_token: SecretStr | None = None
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_alerts_per_request: int = Field(1000, ge=1)
    #: Alert label naming the affected service (matched against the catalog's service names).
    service_label: str = "service"
    #: Alert label giving the severity; mapped to a priority by ``severity_priorities``.
    severity_label: str = "severity"
    #: Severity label value → priority. Unknown severities get ``default_priority``.
    severity_priorities: dict[str, str] = Field(
        default_factory=lambda: {
            "critical": "P1",
            "page": "P1",
            "high": "P2",
            "error": "P2",
            "major": "P2",
            "warning": "P3",
            "medium": "P3",
            "minor": "P4",
            "low": "P4",
            "info": "P5",
        }
    )
    default_priority: str = "P3"
    #: Alert changes within this many seconds are told in the war room as one line.
    digest_seconds: float = Field(2.0, ge=0)
    #: Service used for alerts whose service label matches no catalog entry (empty: such alerts are refused).
    fallback_service: str = ""


class ItsmLinkSettings(_Section):
    enabled: bool = True
    service_instance_id: int | None = None
    direction: Direction = "bidirectional"
    note_sync: bool = True
    #: How a responder's ``/incident note`` lands on the request: ``internal`` (agents only) or ``public`` (the
    #: requester sees it too). Notes warroom writes itself (role changes, postmortem links, war-room facts) are
    #: always internal.
    note_visibility: Literal["internal", "public"] = "internal"
    #: Custom priority → impact mapping; allowed only with at least 4 priorities configured.
    impact_mapping: dict[str, Impact] = Field(default_factory=dict)
    #: Impact used when the incident has no priority.
    default_impact: Impact = "medium"
    #: Incidents at or above this priority get a linked request (and requests at or above it escalate).
    severity_threshold: str = "P2"
    #: The direction of the post-incident tasks' RFC sync; default (unset): ``direction``.
    rfc_direction: Direction | None = None
    #: Whether a task's notes and its RFC's notes cross; default (unset): ``note_sync``.
    rfc_note_sync: bool | None = None


class SlackChannelSettings(_Section):
    #: Placeholders: {number}, {slug}, {service}, {priority}. Result is lower-cased and cut to 80 characters.
    name_pattern: str = "inc-{number}-{slug}"
    #: Extra bookmarks put on every war room: title → URL (runbooks, dashboards).
    bookmarks: dict[str, str] = Field(default_factory=dict)


class TeamsChannelSettings(_Section):
    #: The team (Microsoft 365 group id) that holds this service's war-room channels.
    team_id: str = ""
    #: Placeholders as for Slack; Teams keeps the case and allows 50 characters.
    name_pattern: str = "INC-{number} {title}"
    #: The war room: a standard channel (responders @mentioned), a private channel (responders added; at most 30
    #: per team), or a group chat (for private incidents; needs teams.catalog_app_id).
    war_room: Literal["standard", "private", "chat"] = "standard"


#: A component's status on a status page, best first (Atlassian Statuspage's words).
ComponentStatus = Literal["operational", "degraded_performance", "partial_outage", "major_outage"]


class StatusComponentSettings(_Section):
    #: The component's name as the page shows it (e.g. ``Checkout``).
    name: str = Field(min_length=1, max_length=255)
    #: The heading the component is listed under on the page (none: listed on its own).
    group: str | None = None


class StatusPageMirrorSettings(_Section):
    """Where a built-in page is mirrored on Atlassian Statuspage (``warroom/response/statuspages/remote.py``)."""

    #: The Statuspage page id (Statuspage → the page → API info); empty: the page is not mirrored.
    page_id: str = Field("", max_length=64)
    #: Our component name → the id of the Statuspage component it is shown as (components not listed stay ours).
    components: dict[str, str] = Field(default_factory=dict)
    #: Minutes after which the war room is told that an update has not reached Statuspage (None: 5).
    late_minutes: float | None = Field(None, gt=0, le=24 * 60)


class StatusPageSettings(_Section):
    #: Lower case, digits, - and _: the page's address is ``/status/<name>``.
    name: str
    #: The page's heading (default: the name).
    title: str = ""
    #: ``public`` (open to anyone), ``private`` or ``scoped`` (both served only through signed, expiring links
    #: for now).
    visibility: Literal["public", "private", "scoped"] = "public"
    components: list[StatusComponentSettings] = Field(default_factory=list)
    #: For a ``scoped`` page: stakeholder group → the components its links show (each group has its own links).
    scopes: dict[str, list[str]] = Field(default_factory=dict)
    #: Publish a generic update (no incident text) on each incident state change; off: only component statuses
    #: change by themselves and written updates are published by a person.
    auto_publish: bool = False
    #: Mirror the page on Atlassian Statuspage: component statuses and published updates are pushed there too.
    statuspage: StatusPageMirrorSettings = Field(default_factory=StatusPageMirrorSettings)


class StatusSubscriberSettings(_Section):
    """The status pages' subscribers: email (confirmed by a link) and webhooks (HMAC-signed)."""

    #: Webhook URLs may be ``http://`` when they name a loopback address (a receiver on this machine: the sandbox,
    #: tests); off: https only.
    allow_http_loopback: bool = False
    #: Attempts at one webhook delivery (5xx, timeouts, refused connections, 429) before it has failed for good
    #: and the webhook is disabled, its owner told by email.
    max_attempts: int = Field(6, ge=1, le=20)
    #: Deliveries in a row a subscriber may fail for good (a 4xx answer, a mailbox that does not exist) before it
    #: is disabled. A 410 Gone disables a webhook at once.
    disable_after: int = Field(3, ge=1, le=100)
    #: Seconds to wait for a webhook receiver's answer.
    timeout: float = Field(10.0, gt=0, le=60)
    #: The public subscribe form: requests one client address may send in ``subscribe_window_seconds``, and all
    #: clients together (each a confirmation email at most), counted per server process; more get 429.
    subscribe_per_client: int = Field(20, ge=1, le=10_000)
    subscribe_overall: int = Field(300, ge=1, le=1_000_000)
    subscribe_window_seconds: int = Field(600, ge=1, le=86_400)
    #: Minutes before a scheduled maintenance window starts that its subscribers are reminded (0: no reminder).
    maintenance_reminder_minutes: int = Field(60, ge=0, le=10_080)


def _default_priority_status() -> dict[str, ComponentStatus]:
    return {"P1": "major_outage", "P2": "partial_outage", "P3": "degraded_performance"}


class ServiceStatusSettings(_Section):
    #: The ``status_pages`` entry the service appears on (empty: on none).
    page: str = ""
    #: The components of that page an incident of this service affects.
    components: list[str] = Field(default_factory=list)
    #: Priority → the status its incidents give those components (priorities not listed change nothing).
    priority_status: dict[str, ComponentStatus] = Field(default_factory=_default_priority_status)
    #: Minutes a component stays in its status after the incident resolves, before it is operational again.
    monitoring_minutes: int = Field(0, ge=0, le=7 * 24 * 60)


EvidenceKind = Literal["loki", "elasticsearch", "prometheus"]
_UI_FIELDS = frozenset({"query", "index", "start", "end", "start_ms", "end_ms", "range_seconds", "url"})


class EvidenceSourceSettings(_Section):
    """A place logs or metrics are read from (read-only) as evidence for the AI responder: Grafana Loki,
    Elasticsearch/OpenSearch or Prometheus. Secrets (``password``, ``token``) from the environment:
    ``WARROOM_EVIDENCE__SOURCES__<name>__TOKEN``."""

    kind: EvidenceKind
    #: The API's base URL: Loki ``http://loki:3100``, Elasticsearch ``https://es:9200``, Prometheus
    #: ``http://prometheus:9090``.
    url: str
    #: Basic authentication (all three kinds).
    username: str = ""
    password: SecretStr | None = None
    #: Loki and Prometheus: a bearer token; Elasticsearch: an API key (the base64 ``id:key`` it hands out).
    token: SecretStr | None = None
    #: Loki's tenant (``X-Scope-OrgID``), when it runs multi-tenant.
    tenant: str = ""
    #: Where a cited excerpt links to (Grafana Explore, Kibana Discover, Prometheus' graph): a template with
    #: ``{query}`` and ``{index}`` (URL-encoded), ``{start}``/``{end}`` (RFC 3339), ``{start_ms}``/``{end_ms}``,
    #: ``{range_seconds}`` and ``{url}``. Empty: the source's own API (Loki, Elasticsearch) or graph page
    #: (Prometheus) for the same query and window.
    ui_url: str = ""
    #: Seconds one read may take; a source slower than this is left out and named as unavailable.
    timeout: float = Field(3.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"(?i)^https?://[^\s/]+", value.strip()):
            raise ValueError(f"'{value}' is not an http(s) URL, e.g. http://loki:3100")
        return value.strip().rstrip("/")

    @field_validator("ui_url")
    @classmethod
    def _template(cls, value: str) -> str:
        names = set(re.findall(r"\{(\w*)\}", value))
        unknown = names - _UI_FIELDS
        if unknown:
            raise ValueError(
                f"ui_url names {', '.join(sorted('{' + n + '}' for n in unknown))}; it may use "
                + ", ".join("{" + n + "}" for n in sorted(_UI_FIELDS))
            )
        return value.strip()


class EvidenceSettings(_Section):
    """Logs and metrics as evidence: the sources, by name (each service says which it reads), and the bounds
    of one read."""

    sources: dict[str, EvidenceSourceSettings] = Field(default_factory=dict)
    #: Log lines read per query, at most.
    max_lines: int = Field(500, ge=1, le=5000)
    #: Points read per metric series, at most (the step is chosen to fit), and series per query.
    max_points: int = Field(240, ge=10, le=11000)
    max_series: int = Field(10, ge=1, le=100)
    #: Bytes one answer may have; a bigger answer is refused.
    max_bytes: int = Field(2_000_000, ge=10_000, le=50_000_000)

    @field_validator("sources")
    @classmethod
    def _names(cls, value: dict[str, EvidenceSourceSettings]) -> dict[str, EvidenceSourceSettings]:
        bad = [n for n in value if not SERVICE_NAME_RE.match(n)]
        if bad:
            raise ValueError(
                f"evidence source names are lower-case letters, digits, '-' and '_': rename {', '.join(bad)}"
            )
        return value


class EvidenceQuerySettings(_Section):
    """One read from a source: a LogQL selector with line filters (Loki), a query string and an index pattern
    (Elasticsearch), or a PromQL expression (Prometheus)."""

    source: str
    query: str = Field(min_length=1, max_length=2000)
    #: Elasticsearch: the index or index pattern (``logs-checkout-*``).
    index: str = ""
    #: What the metric is, for people (``checkout 5xx rate``); default: the query.
    name: str = ""


class ServiceEvidenceSettings(_Section):
    """Which logs and metrics the AI responder reads for this service's incidents."""

    queries: list[EvidenceQuerySettings] = Field(default_factory=list)
    #: A Prometheus source to query each firing alert's own expression on (from its ``generatorURL``).
    alert_expressions: str = ""
    #: How far back before the incident's first alert to read …
    lookback_minutes: int = Field(30, ge=1, le=24 * 60)
    #: … and how far after it (never past now or the resolution).
    after_minutes: int = Field(60, ge=0, le=24 * 60)


class ServiceSettings(_Section):
    name: str
    #: Where this service's war rooms open: slack, teams, or both.
    chat: Literal["slack", "teams", "both"] = "slack"
    description: str = ""
    responders: list[str] = Field(default_factory=list)
    smes: list[str] = Field(default_factory=list)
    leadership: list[str] = Field(default_factory=list)
    #: The person assigned a new incident (the primary on-call); default: the first responder.
    on_call: str | None = None
    #: Alerts at or above this priority declare a major incident automatically.
    declare_threshold: str = "P2"
    slack: SlackChannelSettings = Field(default_factory=SlackChannelSettings)
    teams: TeamsChannelSettings = Field(default_factory=TeamsChannelSettings)
    itsm: ItsmLinkSettings = Field(default_factory=ItsmLinkSettings)
    bridge: BridgeProvider = "zoom"
    #: Services this one depends on (databases, other APIs, third parties): root-cause analysis weighs their
    #: alerts and changes.
    depends_on: list[str] = Field(default_factory=list)
    #: Chat channels where `declare` without a service is for this one: Slack channel ids or names (``#ops-checkout``
    #: or ``ops-checkout``), Teams channel ids. A war room's own service is its default anyway.
    declare_channels: list[str] = Field(default_factory=list)
    #: The ``oncall.escalation_policies`` entry paged when an incident is declared for this service.
    escalation_policy: str | None = None
    #: Where the service shows on a status page and what its incidents do there.
    status: ServiceStatusSettings = Field(default_factory=ServiceStatusSettings)
    #: Logs and metrics the AI responder reads as evidence (``evidence.sources`` by name).
    evidence: ServiceEvidenceSettings = Field(default_factory=ServiceEvidenceSettings)

    @field_validator("responders", "smes", "leadership")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        bad = [v for v in value if not EMAIL_RE.match(v)]
        if bad:
            raise ValueError(f"not an email address: {', '.join(bad)}")
        return [v.strip().lower() for v in value]

    @property
    def assignee(self) -> str | None:
        if self.on_call:
            return self.on_call.lower()
        return self.responders[0] if self.responders else None

    @property
    def war_room_people(self) -> list[str]:
        seen: dict[str, None] = {}
        for email in [*self.responders, *self.smes, *self.leadership]:
            seen.setdefault(email, None)
        return list(seen)


class AiSettings(_Section):
    """The AI responder (warroom.ai): any OpenAI-compatible endpoint. Without one, or whenever it fails, the
    deterministic engine answers. The key comes from WARROOM_AI__API_KEY (local servers may need none)."""

    enabled: bool = False
    #: OpenAI, Azure OpenAI (…/openai/v1), vLLM, Ollama (http://host:11434/v1), llama.cpp server.
    base_url: str = "https://api.openai.com/v1"
    model: str = ""
    api_key: SecretStr | None = None
    #: Seconds one model call may take in all (retries included) before the deterministic answer is used.
    timeout: float = Field(30.0, gt=0)
    max_retries: int = Field(1, ge=0, le=5)
    #: Most tokens one answer may have; sent as max_tokens, or max_completion_tokens (OpenAI's reasoning models).
    max_tokens: int = Field(1200, ge=64)
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = "max_tokens"
    #: Tokens (prompt + completion) one incident may spend in all; then the deterministic engine answers.
    incident_token_budget: int = Field(200_000, ge=0)
    #: Tokens of incident records (alerts, timeline, changes) retrieval may put into one prompt.
    context_tokens: int = Field(6000, ge=500)
    temperature: float = Field(0.2, ge=0, le=2)
    #: json_schema (structured outputs: OpenAI, Azure, vLLM, Ollama); json_object_schema (JSON mode with the schema
    #: attached, which llama.cpp's servers enforce as a grammar); json_object for servers that only know JSON mode.
    #: A server that refuses json_schema as llama-cpp-python does gets json_object_schema by itself.
    response_format: Literal["json_schema", "json_object_schema", "json_object"] = "json_schema"
    #: Where the instructions go: a system message, or the start of the user turn (for chat templates that drop
    #: the system message, such as gemma's in llama-cpp-python).
    system_prompt: Literal["system", "user"] = "system"
    #: Stream answers (server-sent events): closing a stream at the deadline stops the generation, which a
    #: one-slot server (llama.cpp) needs; false only for proxies that buffer event streams.
    stream: bool = True
    #: Redact email addresses before anything leaves for the model.
    redact_emails: bool = False
    #: Extra regular expressions whose matches are redacted before anything leaves for the model.
    redact_patterns: list[str] = Field(default_factory=list)
    #: Minutes between automatic status summaries, per priority.
    summary_cadence_minutes: dict[str, int] = Field(
        default_factory=lambda: {"P1": 15, "P2": 30, "P3": 60, "P4": 120, "P5": 240}
    )
    #: Post status updates by themselves (on the cadence above and on significant changes) to the war room and
    #: to stakeholders. ``/incident summary`` works either way.
    auto_summaries: bool = True
    #: Post the ranked probable causes with their evidence by themselves: when the war room opens, and again when a
    #: new alert or change moves the leading ones (``/incident rca`` works either way).
    auto_rca: bool = True
    #: Seconds new alerts and changes are gathered before the causes are ranked again.
    auto_rca_seconds: float = Field(20.0, ge=0)
    #: Seconds significant changes (status, priority, a new role holder) are gathered before the one status update
    #: that tells them is posted.
    change_summary_seconds: float = Field(60.0, ge=0)
    #: Draft the postmortem when the incident resolves (``/incident postmortem`` works either way).
    postmortem_on_resolve: bool = True

    @field_validator("redact_patterns")
    @classmethod
    def _patterns(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"'{pattern}' is not a regular expression ({exc}); fix or remove it"
                ) from None
        return value

    @field_validator("summary_cadence_minutes")
    @classmethod
    def _cadence(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [p for p, minutes in value.items() if minutes < 1]
        if bad:
            raise ValueError(f"cadence must be at least 1 minute (check {', '.join(bad)})")
        return value

    @model_validator(mode="after")
    def _model_named(self) -> AiSettings:
        if self.enabled and not self.model.strip():
            raise ValueError(
                "ai.model is required when ai.enabled is true: name the model, e.g. gpt-4o-mini or llama3.1"
            )
        return self


#: Who may run each verb by default: "anyone" (in the war room), "commander" (the Incident Commander),
#: "assignee", or "group:<name>" (a group in response.groups). While nobody holds the commander role, "commander"
#: admits anyone in the war room — a fresh incident must not be stuck.
DEFAULT_PERMISSIONS: dict[str, list[str]] = {
    "resolve": ["commander", "assignee"],
    "reopen": ["commander", "assignee"],
    "priority": ["commander", "assignee"],
    "merge": ["commander"],
}


class OnCallSettings(_Section):
    """On-call schedules, escalation policies and the people they page (see docs/oncall.md)."""

    #: Per team: layers of rotations in their own time zones, restrictions and overrides.
    schedules: list[Schedule] = Field(default_factory=list)
    #: Named policies; a service pages its ``services[].escalation_policy`` when an incident is declared.
    escalation_policies: list[EscalationPolicy] = Field(default_factory=list)
    #: Contact methods and notification rules per person (by email).
    people: list[Person] = Field(default_factory=list)
    #: Notification rules of people without their own, per urgency.
    default_rules: dict[Urgency, Rules] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_RULES.items()})
    #: How long an acknowledge link in a page email works.
    ack_link_minutes: int = Field(60, ge=1, le=7 * 24 * 60)

    def person(self, email: str) -> Person | None:
        email = email.strip().lower()
        return next((p for p in self.people if p.email == email), None)

    def policy(self, name: str) -> EscalationPolicy | None:
        return next((p for p in self.escalation_policies if p.name == name), None)

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)


class ResponseSettings(_Section):
    """How responders work an incident: roles, paging, groups and who may do what."""

    #: Roles beyond Incident Commander, Application SME and Networking SME (e.g. "Communications Lead").
    custom_roles: list[str] = Field(default_factory=list)
    #: Named groups of people (emails): paged with `page <group>`, named in permissions as "group:<name>".
    groups: dict[str, list[str]] = Field(default_factory=dict)
    #: Verb → who may run it (see DEFAULT_PERMISSIONS); verbs not listed are open to anyone in the war room.
    permissions: dict[str, list[str]] = Field(default_factory=lambda: {k: list(v) for k, v in DEFAULT_PERMISSIONS.items()})
    #: Paged responders are notified again this often until the incident is acknowledged …
    page_repeat_minutes: float = Field(5.0, gt=0)
    #: … at most this many times in all.
    page_max_notifications: int = Field(6, ge=1)
    #: The weekly digest of open post-incident tasks per service (in the incidents channel, else the service's
    #: first Slack declare channel) goes out on this day ("off": never) …
    task_digest_weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                                 "off"] = "monday"
    #: … at this hour, UTC.
    task_digest_hour: int = Field(9, ge=0, le=23)

    @field_validator("groups")
    @classmethod
    def _group_emails(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, emails in value.items():
            bad = [e for e in emails if not EMAIL_RE.match(e)]
            if bad:
                raise ValueError(f"group '{name}' lists something that is not an email address: {', '.join(bad)}")
        return {name.strip().lower(): [e.strip().lower() for e in emails] for name, emails in value.items()}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WARROOM_", env_nested_delimiter="__", extra="forbid", case_sensitive=False
    )

    server: ServerSettings = Field(default_factory=ServerSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    xurrent: XurrentSettings = Field(default_factory=XurrentSettings)
    zoom: ZoomSettings = Field(default_factory=ZoomSettings)
    webex: WebexSettings = Field(default_factory=WebexSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    statuspage: StatuspageSettings = Field(default_factory=StatuspageSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    response: ResponseSettings = Field(default_factory=ResponseSettings)
    ai: AiSettings = Field(default_factory=AiSettings)
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    oncall: OnCallSettings = Field(default_factory=OnCallSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    #: Highest first.
    priorities: list[str] = Field(default_factory=lambda: ["P1", "P2", "P3", "P4", "P5"])
    services: list[ServiceSettings] = Field(default_factory=list)
    #: Status pages warroom serves at ``/status/<name>``: their components and who may read them.
    status_pages: list[StatusPageSettings] = Field(default_factory=list)
    #: The status pages' email and webhook subscribers.
    status_subscribers: StatusSubscriberSettings = Field(default_factory=StatusSubscriberSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the YAML file (passed as init data). ``…_FILE`` variables are read by
        # load_settings, not taken as settings of their own.
        return (_WithoutFileKeys(settings_cls, env_settings), init_settings)

    def service(self, name: str) -> ServiceSettings | None:
        for service in self.services:
            if service.name == name:
                return service
        return None

    def status_page(self, name: str) -> StatusPageSettings | None:
        for page in self.status_pages:
            if page.name == name:
                return page
        return None

    @model_validator(mode="after")
    def _evidence_sources(self) -> Settings:
        """Every service's evidence names a configured source of the right kind (an index for Elasticsearch)."""
        sources = self.evidence.sources
        known = ", ".join(sorted(sources)) or "none configured"
        for svc in self.services:
            ev = svc.evidence
            for q in ev.queries:
                source = sources.get(q.source)
                if source is None:
                    raise ValueError(
                        f"services[{svc.name}].evidence names the source '{q.source}', which evidence.sources does "
                        f"not have (sources: {known})"
                    )
                if source.kind == "elasticsearch" and not q.index.strip():
                    raise ValueError(
                        f"services[{svc.name}].evidence reads Elasticsearch source '{q.source}' without an index: "
                        "add index: (e.g. logs-checkout-*)"
                    )
            if ev.alert_expressions:
                source = sources.get(ev.alert_expressions)
                if source is None or source.kind != "prometheus":
                    raise ValueError(
                        f"services[{svc.name}].evidence.alert_expressions must name a Prometheus source in "
                        f"evidence.sources, not '{ev.alert_expressions}'"
                    )
        return self

    def priority_rank(self, priority: str | None) -> int:
        """0 for the highest priority; len(priorities) for none or unknown."""
        if priority in self.priorities:
            return self.priorities.index(priority)
        return len(self.priorities)

    def at_or_above(self, priority: str | None, threshold: str) -> bool:
        return priority is not None and self.priority_rank(priority) <= self.priority_rank(threshold)


class _WithoutFileKeys(PydanticBaseSettingsSource):
    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        for section in data.values():
            if isinstance(section, dict):
                for key in [k for k in section if k.endswith("_file")]:
                    section.pop(key)
        return data
