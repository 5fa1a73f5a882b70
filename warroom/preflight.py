"""The online checks of the configuration: ``warroom check-config --online``, and ``serve`` at start (in the
background, failures logged as warnings).

Each outside system the settings use — and only those: Slack when enabled, Xurrent when a service is linked, Zoom
and Webex when a service bridges with them, Teams when enabled, the model when ``ai.enabled`` — is asked who we
are, through the same adapters the server uses:

- **Slack**: ``auth.test``; the scopes granted (Slack's ``X-OAuth-Scopes``) compared with the bot scopes of
  warroom's app manifest (``warroom/chat/slack/app_manifest.yaml``), the missing ones named. In Socket Mode,
  ``apps.connections.open`` with ``slack.app_token`` too — the single-use URL it answers is not connected to.
- **Xurrent**: a token from the OAuth host, ``GET /me`` (the account header and the token together), and
  ``GET /service_instances/{id}`` for each linked service's ``itsm.service_instance_id``.
- **Zoom**: a Server-to-Server OAuth token, then ``GET /users/{zoom.host_user}``: a user of the account, active
  and licensed (a Basic user's meetings are cut off after 40 minutes). Reading a user needs the app's
  ``user:read:user:admin`` scope, which only this check uses.
- **Webex**: ``GET /people/me``, then whether the token may schedule meetings (``meeting:schedules_write``):
  Webex lists no token's scopes, so ``DELETE /meetings/{id}`` of an id no meeting has — 404 when it may (nothing
  is deleted or scheduled), 403 when it may not.
- **Microsoft Teams**: an Entra ID token for Graph and one for the Bot Connector (``https://api.botframework.com
  /.default``, what the bot posts with), each team a war room opens channels in (``services[].teams.team_id``,
  ``teams.announce_team_id``), and — when a service bridges with Teams meetings — ``teams.meeting_organizer``:
  ``GET /users/{organizer}``, then a meeting of theirs that does not exist, which Graph answers 404 when an
  application access policy lets the app act for them and 403 when none does (the policy itself is a Teams
  setting Graph does not show).
- **Evidence sources** (``evidence.sources``, the logs and metrics the AI responder reads): one cheap read each
  that needs the source's credentials, through the evidence adapters — Loki ``GET /loki/api/v1/labels``,
  Elasticsearch/OpenSearch ``GET /`` (credentials it accepts but that lack the ``monitor`` cluster privilege that
  ``GET /`` needs are said so, and pass: a search needs only ``read`` on the indices), Prometheus ``GET
  /api/v1/status/buildinfo`` — within the source's own ``timeout``.
- **The model**: one small structured completion through :class:`~warroom.ai.client.LlmClient` (the key, the
  model's name and structured output, as the AI responder uses them).

Every outcome is one sentence naming the key to fix. Before a system is asked anything, the host of each URL it
uses is tried once (any HTTP answer will do), so that a host that cannot be reached — the name does not resolve,
the connection is refused, nothing answers in time — is told apart from refused credentials (401/403) and from
an id the system does not know (404), and is not waited on through every retry of the adapter.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import yaml
from aiohttp import web

from warroom.adapters.errors import AdapterError, NotFound, Permanent, RateLimited, Transient
from warroom.settings import Settings
from warroom.settings.checks import check_serving, service_key
from warroom.settings.model import EvidenceSourceSettings

log = logging.getLogger("warroom.preflight")

Status = Literal["ok", "unreachable", "refused", "not_found", "failed"]

#: Where each kind of evidence source's API starts, for a sentence.
EXAMPLE_URLS = {"loki": "http://loki:3100", "elasticsearch": "https://es:9200", "prometheus": "http://prometheus:9090"}

#: How long the reachability probe of one host may take, unless the caller says otherwise.
PROBE_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """One check: ``ok``, or what failed — ``unreachable`` (DNS, refused connection, no answer in time),
    ``refused`` (credentials or permissions: 401/403 and the like), ``not_found`` (an id or URL the system does not
    know: 404), ``failed`` (anything else: a server error, missing scopes). ``key`` is the setting to fix."""

    system: str
    check: str
    status: Status
    message: str
    key: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def manifest_bot_scopes() -> frozenset[str]:
    """The bot scopes warroom's Slack app manifest asks for."""
    text = files("warroom").joinpath("chat/slack/app_manifest.yaml").read_text(encoding="utf-8")
    manifest = yaml.safe_load(text)
    return frozenset(str(s) for s in manifest["oauth_config"]["scopes"]["bot"])


# -- reaching hosts -------------------------------------------------------------------------------------------
def _why_unreachable(exc: httpx.HTTPError, host: str, timeout: float) -> str:
    """Why nothing answered: the name, the connection, the time, TLS — from the exception and its causes."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    for cause in chain:
        if isinstance(cause, socket.gaierror):
            return f"the host name {host} does not resolve"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return f"the TLS handshake failed ({cause.reason or cause})"
    return f"the connection failed ({type(exc).__name__}: {exc})"


class _Probe:
    """Each origin (scheme, host, port) tried once per run, however many checks use it."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._tried: dict[str, asyncio.Task[str | None]] = {}

    async def why_not(self, url: str) -> str | None:
        """None when an HTTP server answers at ``url``'s host (any status); else why not, in words."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin not in self._tried:
            self._tried[origin] = asyncio.ensure_future(self._try(url, parts.hostname or parts.netloc))
        return await asyncio.shield(self._tried[origin])

    async def _try(self, url: str, host: str) -> str | None:
        try:
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client:
                await client.get(url)
        except httpx.InvalidURL:
            return "it is not a valid URL"
        except httpx.UnsupportedProtocol:
            return "it is not an http(s) URL"
        except httpx.HTTPError as exc:
            return _why_unreachable(exc, host, self.timeout)
        return None

    def close(self) -> None:
        for task in self._tried.values():
            task.cancel()


# -- sentences ------------------------------------------------------------------------------------------------
def _ok(system: str, check: str, text: str) -> Outcome:
    return Outcome(system, check, "ok", f"{system} ({check}): {text}.")


def _unreachable(system: str, check: str, url: str, key: str, why: str) -> Outcome:
    return Outcome(
        system, check, "unreachable",
        f"{system} ({check}): {url} could not be reached ({why}): check {key} and that this host can reach it "
        "(DNS, firewall, proxy).",
        key,
    )


def _status_of(exc: AdapterError) -> Status:
    if isinstance(exc, NotFound) or re.search(r"\bHTTP 404\b", exc.reason):
        return "not_found"
    if isinstance(exc, RateLimited):
        return "failed"
    if isinstance(exc, Transient):
        lost = re.search(r"could not connect|failed to connect|could not reach|timed out", exc.reason)
        return "unreachable" if lost else "failed"
    if isinstance(exc, Permanent):
        return "refused"
    return "failed"


def _failure(
    system: str,
    check: str,
    exc: AdapterError,
    *,
    url_key: str,
    refused: tuple[str, str],
    not_found: tuple[str, str] | None = None,
) -> Outcome:
    """The outcome of an adapter's error: ``refused``/``not_found`` are (the key, what to do). The adapter's own
    reason stands as the sentence when it names the key already; else it is given in brackets."""
    status = _status_of(exc)
    reason = exc.reason.rstrip(". ")
    if status == "refused":
        key, fix = refused
    elif status == "not_found":
        key, fix = not_found or (url_key, f"nothing answers this request at {url_key}: check it")
    elif status == "unreachable":
        key, fix = url_key, f"{system} stopped answering: check {url_key} and the network path from this host"
    elif isinstance(exc, RateLimited):
        key, fix = refused[0], f"{system} is rate limiting these credentials just now: run the check again later"
    else:
        key, fix = url_key, f"{system} failed to answer: run the check again; if it stays, see {system}'s status"
    text = reason if key in reason and status in ("refused", "not_found") else f"{fix} ({reason})"
    return Outcome(system, check, status, f"{system} ({check}): {text}.", key)


# -- the systems ----------------------------------------------------------------------------------------------
class _Checks:
    def __init__(self, settings: Settings, probe: _Probe, *, app_token: bool = True) -> None:
        self.settings = settings
        self.probe = probe
        self.app_token = app_token

    async def _reach(self, system: str, check: str, targets: list[tuple[str, str]]) -> Outcome | None:
        """The first of (url, key) that cannot be reached, as an outcome; None when every host answers."""
        for url, key in targets:
            why = await self.probe.why_not(url)
            if why is not None:
                return _unreachable(system, check, url, key, why)
        return None

    async def slack(self) -> list[Outcome]:
        from warroom.adapters.slack_api import SlackChat

        s = self.settings.slack
        assert s.bot_token is not None
        if (far := await self._reach("Slack", "auth.test", [(s.api_url, "slack.api_url")])) is not None:
            return [far]
        chat = SlackChat(s.bot_token.get_secret_value(), base_url=s.api_url, team_url=s.team_url, retries=1)
        outcomes = [await self._slack_bot(chat)]
        if s.mode == "socket" and s.app_token is not None and self.app_token:
            outcomes.append(await self._slack_socket(chat, s.app_token.get_secret_value()))
        return outcomes

    async def _slack_bot(self, chat: Any) -> Outcome:
        try:
            me = await chat.identity()
        except AdapterError as exc:
            return _failure("Slack", "auth.test", exc, url_key="slack.api_url", refused=(
                "slack.bot_token", "Slack refused the bot token: set WARROOM_SLACK__BOT_TOKEN (or "
                "slack.bot_token_file) to the app's Bot User OAuth Token (xoxb-…)"))
        who = f"the bot token is @{me.user} ({me.user_id}) in {me.team or me.team_id}"
        if me.scopes is None:
            return _ok("Slack", "auth.test", f"{who}; Slack did not say which scopes it has")
        missing = sorted(manifest_bot_scopes() - me.scopes)
        if missing:
            return Outcome(
                "Slack", "auth.test", "failed",
                f"Slack (auth.test): {who}, but it lacks {', '.join(missing)} of the app manifest's bot scopes: add "
                "them to the Slack app (OAuth & Permissions, or paste warroom's app manifest), reinstall it to the "
                "workspace and set slack.bot_token to the token Slack then shows.",
                "slack.bot_token",
            )
        return _ok("Slack", "auth.test", f"{who}, with every bot scope of the app manifest")

    async def _slack_socket(self, chat: Any, app_token: str) -> Outcome:
        check = "apps.connections.open"
        try:
            await chat.open_socket_url(app_token)  # a single-use ticket, never connected to: it lapses
        except AdapterError as exc:
            return _failure("Slack", check, exc, url_key="slack.api_url", refused=(
                "slack.app_token", "Slack refused slack.app_token for Socket Mode: in the Slack app's Basic "
                "Information → App-Level Tokens, create a token with the connections:write scope, set it as "
                "WARROOM_SLACK__APP_TOKEN (or slack.app_token_file), and turn Socket Mode on"))
        return _ok("Slack", check, "slack.app_token may open Socket Mode connections (none was kept open)")

    async def xurrent(self) -> list[Outcome]:
        from warroom.adapters.xurrent import XurrentClient

        x = self.settings.xurrent
        api_url, oauth_url = x.hosts()
        targets = [(oauth_url, "xurrent.oauth_url (or xurrent.region / xurrent.environment)"),
                   (api_url, "xurrent.api_url (or xurrent.region / xurrent.environment)")]
        if (far := await self._reach("Xurrent", "token", targets)) is not None:
            return [far]
        client = XurrentClient.from_settings(x.model_copy(update={"max_retries": 1}))
        try:
            try:
                await client.check_credentials()
            except AdapterError as exc:
                return [_failure("Xurrent", "token", exc, url_key="xurrent.oauth_url", refused=(
                    "xurrent.client_id", "Xurrent refused the client credentials: check xurrent.client_id and "
                    "WARROOM_XURRENT__CLIENT_SECRET (or xurrent.client_secret_file)"))]
            try:
                me = await client.me()
            except AdapterError as exc:
                return [_failure("Xurrent", "me", exc, url_key="xurrent.api_url", refused=(
                    "xurrent.account", f"account '{x.account}' refused the token: set xurrent.account to the "
                    "Account ID from Settings → Account Overview, with xurrent.region and xurrent.environment "
                    "where that account lives"))]
            outcomes = [
                _ok("Xurrent", "token", f"{client.token_url} issued a token to OAuth application {x.client_id}"),
                _ok("Xurrent", "me", f"the OAuth application acts as {me.get('name') or 'a person'} "
                                     f"(person #{me.get('id')}) in account '{x.account}'"),
            ]
            for i, svc in enumerate(self.settings.services):
                if svc.itsm.enabled and svc.itsm.service_instance_id is not None:
                    outcomes.append(await self._service_instance(client, service_key(i, svc.name),
                                                                 svc.itsm.service_instance_id))
            return outcomes
        finally:
            await client.aclose()

    async def _service_instance(self, client: Any, key: str, si_id: int) -> Outcome:
        check = f"service instance #{si_id}"
        try:
            si = await client.service_instance(si_id)
        except AdapterError as exc:
            return _failure("Xurrent", check, exc, url_key="xurrent.api_url", refused=(
                f"{key}.itsm.service_instance_id", f"Xurrent does not let the OAuth application read service "
                f"instance #{si_id} ({key}.itsm.service_instance_id): give the application the Service Instance R "
                "scope"), not_found=(
                f"{key}.itsm.service_instance_id", f"{key}.itsm.service_instance_id is {si_id}, which account "
                f"'{self.settings.xurrent.account}' does not have: give the id of the service instance this service "
                "maps to (the number in its Xurrent URL)"))
        return _ok("Xurrent", check, f"{key}.itsm.service_instance_id is '{si.get('name') or si_id}'")

    async def zoom(self) -> list[Outcome]:
        from warroom.adapters.zoom import ZoomBridge

        z = self.settings.zoom
        if (far := await self._reach("Zoom", "token", [(z.oauth_url, "zoom.oauth_url")])) is not None:
            return [far]
        bridge = ZoomBridge.from_settings(z)
        try:
            try:
                await bridge.check_credentials()
            except AdapterError as exc:
                return [_failure("Zoom", "token", exc, url_key="zoom.oauth_url", refused=(
                    "zoom.client_id", "Zoom refused the Server-to-Server OAuth credentials: check zoom.account_id, "
                    "zoom.client_id and WARROOM_ZOOM__CLIENT_SECRET (or zoom.client_secret_file)"))]
            token = _ok("Zoom", "token", f"the Server-to-Server OAuth app of account {z.account_id} has a token")
            if (far := await self._reach("Zoom", "host_user", [(z.api_url, "zoom.api_url")])) is not None:
                return [token, far]
            return [token, await self._zoom_host(bridge)]
        finally:
            await bridge.aclose()

    async def _zoom_host(self, bridge: Any) -> Outcome:
        from warroom.adapters.zoom import MissingScope, UnknownHost

        z = self.settings.zoom
        system, check, key = "Zoom", "host_user", "zoom.host_user"
        host = z.host_user or "me"
        try:
            user = await bridge.host()
        except UnknownHost:
            return Outcome(system, check, "not_found", f"{system} ({check}): zoom.host_user is '{host}', which Zoom "
                           f"account {z.account_id} does not have: set it to the email or id of a licensed user of "
                           "that account who may host the bridges (or 'me', the account's owner).", key)
        except MissingScope as exc:
            return Outcome(system, check, "refused", f"{system} ({check}): the Server-to-Server OAuth app may not "
                           "read users, so zoom.host_user could not be checked: add the scope user:read:user:admin "
                           f"to the app (Zoom App Marketplace → the app → Scopes; Zoom asked for one of {exc.scopes}).",
                           "zoom.client_id")
        except AdapterError as exc:
            return _failure(system, check, exc, url_key="zoom.api_url", refused=(
                key, f"Zoom refused to show zoom.host_user '{host}'"))
        who = f"{user.get('display_name') or user.get('email') or host}" + (
            f" ({user['email']})" if user.get("email") and user.get("display_name") else "")
        status, kind = str(user.get("status") or "active"), user.get("type")
        if status != "active":
            why = {"inactive": "is deactivated in Zoom", "pending": "has not accepted the invitation to the Zoom "
                   "account yet"}.get(status, f"is '{status}' in Zoom, not active")
            return Outcome(system, check, "failed", f"{system} ({check}): zoom.host_user '{host}' is {who}, who "
                           f"{why}: meetings cannot be scheduled for them — activate the user, or name another.", key)
        if kind != 2:
            what = {1: "a Basic (unlicensed) user", 4: "a user without a Meetings licence",
                    99: "a user without a Meetings licence"}.get(kind if isinstance(kind, int) else 0,
                                                                 f"a user of type {kind}, not a licensed one")
            return Outcome(system, check, "failed", f"{system} ({check}): zoom.host_user '{host}' is {who}, {what}: "
                           "Zoom cuts unlicensed meetings off after 40 minutes — give the user a licence, or name "
                           "a licensed user.", key)
        return _ok(system, check, f"zoom.host_user is {who}, an active, licensed user")

    async def webex(self) -> list[Outcome]:
        from warroom.adapters.webex import WebexBridge

        w = self.settings.webex
        if (far := await self._reach("Webex", "people/me", [(w.api_url, "webex.api_url")])) is not None:
            return [far]
        bridge = WebexBridge.from_settings(w)
        try:
            try:
                me = await bridge.me()
            except AdapterError as exc:
                return [_failure("Webex", "people/me", exc, url_key="webex.api_url", refused=(
                    "webex.token", "Webex refused the token: set WARROOM_WEBEX__TOKEN (or webex.token_file) to a "
                    "valid token"))]
            emails = me.get("emails") or []
            who = f"{me.get('displayName') or 'someone'}" + (f" ({emails[0]})" if emails else "")
            return [_ok("Webex", "people/me", f"the token is {who}"), await self._webex_scheduling(bridge, who)]
        finally:
            await bridge.aclose()

    async def _webex_scheduling(self, bridge: Any, who: str) -> Outcome:
        from warroom.adapters.webex import NotAllowed

        system, check = "Webex", "meetings"
        try:
            await bridge.check_scheduling()
        except NotAllowed:
            return Outcome(system, check, "refused", f"{system} ({check}): webex.token belongs to {who}, and Webex "
                           "does not let it schedule meetings (HTTP 403): use a token with the meeting:schedules_write and "
                           "meeting:schedules_read scopes, of a user with a Webex Meetings licence, in "
                           "WARROOM_WEBEX__TOKEN (or webex.token_file).", "webex.token")
        except AdapterError as exc:
            return _failure(system, check, exc, url_key="webex.api_url", refused=(
                "webex.token", "Webex refused to let webex.token schedule meetings"))
        return _ok(system, check, "the token may schedule meetings (meeting:schedules_write)")

    async def evidence(self) -> list[Outcome]:
        """Each logs and metrics source (``evidence.sources``): one cheap read with its credentials, all at once."""
        sources = self.settings.evidence.sources
        return list(await asyncio.gather(*(self._evidence_source(name, cfg) for name, cfg in sources.items())))

    async def _evidence_source(self, name: str, cfg: EvidenceSourceSettings) -> Outcome:
        from warroom.adapters.elasticsearch import ElasticsearchClient
        from warroom.adapters.loki import LokiClient
        from warroom.adapters.prometheus import PrometheusClient
        from warroom.adapters.query_api import SourceClient

        kinds: dict[str, tuple[str, type[SourceClient]]] = {"loki": ("Loki", LokiClient), "elasticsearch": ("Elasticsearch", ElasticsearchClient),
                 "prometheus": ("Prometheus", PrometheusClient)}
        system, kind = kinds[cfg.kind]
        check, key = f"evidence source {name}", f"evidence.sources.{name}"
        if (far := await self._reach(system, check, [(cfg.url, f"{key}.url")])) is not None:
            return far
        client = kind.from_settings(cfg)
        try:
            about = await client.ping()
        except AdapterError as exc:
            if isinstance(exc, Transient) and re.search(r"\btimed out\b", exc.reason):
                return Outcome(system, check, "unreachable",
                               f"{system} ({check}): {cfg.url} did not answer GET {client.ping_path} within "
                               f"{cfg.timeout:g} s: check the source's load and the network path from this host, or "
                               f"raise {key}.timeout (a source slower than it is left out of every answer).",
                               f"{key}.timeout")
            secrets = f"WARROOM_EVIDENCE__SOURCES__{name}__TOKEN"
            how = (f"set {secrets} to an API key (the base64 id:key) that may read the indices, or {key}.username "
                   f"with WARROOM_EVIDENCE__SOURCES__{name}__PASSWORD" if cfg.kind == "elasticsearch" else
                   f"set {key}.username with WARROOM_EVIDENCE__SOURCES__{name}__PASSWORD (basic), or {secrets} "
                   "(bearer)" + (f", and {key}.tenant to the tenant (X-Scope-OrgID) the logs are in"
                                 if cfg.kind == "loki" else ""))
            return _failure(system, check, exc, url_key=f"{key}.url", refused=(
                f"{key}.token", f"{system} refused the source's credentials: {how}"), not_found=(
                f"{key}.url", f"{key}.url is {cfg.url}, where no {system} API answers GET {client.ping_path}: give "
                f"the URL its API starts at (e.g. {EXAMPLE_URLS[cfg.kind]})"))
        finally:
            await client.aclose()
        return _ok(system, check, f"{cfg.url}: {about}")

    async def statuspage(self) -> list[Outcome]:
        """Each mirrored page's id and mapped component ids exist (one ``components`` call per page)."""
        from warroom.adapters.statuspage import StatuspageClient

        s = self.settings.statuspage
        if (far := await self._reach("Statuspage", "pages", [(s.api_url, "statuspage.api_url")])) is not None:
            return [far]
        client = StatuspageClient.from_settings(s, max_retries=1, max_inline_wait=2.0)
        outcomes: list[Outcome] = []
        try:
            for i, page in enumerate(self.settings.status_pages):
                if page.statuspage.page_id.strip():
                    outcomes.append(await self._statuspage_page(client, i, page.name))
        finally:
            await client.aclose()
        return outcomes

    async def _statuspage_page(self, client: Any, i: int, name: str) -> Outcome:
        mirror = self.settings.status_pages[i].statuspage
        key = f"status_pages[{i}] ({name}) statuspage"
        check = f"page {mirror.page_id}"
        try:
            found = {c.id: c.name for c in await client.components(mirror.page_id)}
        except AdapterError as exc:
            return _failure("Statuspage", check, exc, url_key="statuspage.api_url", refused=(
                "statuspage.api_key", "Statuspage refused the API key: set WARROOM_STATUSPAGE__API_KEY (or "
                "statuspage.api_key_file) to the API key of a Statuspage user who may manage this page"), not_found=(
                f"{key}.page_id", f"{key}.page_id is '{mirror.page_id}', which the API key's organisation does not "
                "have: give the page id from Statuspage → the page → API info"))
        missing = [f"{ours} ('{cid}')" for ours, cid in mirror.components.items() if cid not in found]
        if missing:
            return Outcome("Statuspage", check, "not_found",
                           f"Statuspage ({check}): {key}.components maps {', '.join(missing)} to component ids the "
                           f"page does not have: use ids from GET /pages/{mirror.page_id}/components (it has "
                           f"{', '.join(f'{n} ({c})' for c, n in found.items()) or 'none'}).", f"{key}.components")
        return _ok("Statuspage", check, f"{key}: the page and its {len(mirror.components)} mapped components exist")

    async def teams(self) -> list[Outcome]:
        from warroom.adapters.microsoft.entra import EntraToken
        from warroom.adapters.microsoft.graph import TeamsGraph

        t = self.settings.teams
        system = "Microsoft Teams"
        token_url = EntraToken.url_for(t.login_url, t.tenant_id)
        targets = [(token_url, "teams.login_url"), (t.graph_url, "teams.graph_url")]
        if (far := await self._reach(system, "token", targets)) is not None:
            return [far]
        graph = TeamsGraph.from_settings(t)
        try:
            try:
                await graph.token.headers()
            except AdapterError as exc:
                return [_failure(system, "token", exc, url_key="teams.login_url", refused=(
                    "teams.app_id", "Entra ID refused the app's credentials: check teams.app_id, teams.tenant_id "
                    "and WARROOM_TEAMS__APP_PASSWORD"))]
            outcomes = [_ok(system, "token", f"Entra ID issued a Graph token to app {t.app_id} in tenant "
                                             f"{t.tenant_id}")]
            outcomes.append(await self._bot_token())
            teams: dict[str, str] = {}
            for i, svc in enumerate(self.settings.services):
                if svc.chat != "slack" and svc.teams.war_room != "chat" and svc.teams.team_id:
                    teams.setdefault(svc.teams.team_id, f"{service_key(i, svc.name)}.teams.team_id")
            if t.announce_team_id.strip():
                teams.setdefault(t.announce_team_id.strip(), "teams.announce_team_id")
            for team_id, key in teams.items():
                outcomes.append(await self._team(graph, team_id, key))
            if t.meeting_organizer.strip() and any(svc.bridge == "teams" for svc in self.settings.services):
                outcomes.append(await self._organizer(graph, t.meeting_organizer.strip()))
            return outcomes
        finally:
            await graph.aclose()

    async def _bot_token(self) -> Outcome:
        """The token the bot posts with: client credentials for the Bot Framework's scope, as the Bot Connector
        adapter asks for it (same app, same tenant as Graph's — a refusal here is about the bot, not the secret)."""
        from warroom.adapters.microsoft.connector import BotConnector

        t = self.settings.teams
        system, check = "Microsoft Teams", "Bot Connector token"
        connector = BotConnector.from_settings(t)
        try:
            await connector.token.headers()
        except AdapterError as exc:
            if _status_of(exc) != "refused":
                return _failure(system, check, exc, url_key="teams.login_url", refused=("teams.app_id", ""))
            return Outcome(system, check, "refused", f"{system} ({check}): the bot gets no token to post with: "
                           f"{exc.reason.rstrip('. ')}.", "teams.app_id")
        finally:
            await connector.aclose()
        return _ok(system, check, f"Entra ID issued a Bot Connector token (https://api.botframework.com) to app "
                                  f"{t.app_id}")

    async def _organizer(self, graph: Any, organizer: str) -> Outcome:
        from warroom.adapters.microsoft.graph import NoAccessPolicy

        system, check, key = "Microsoft Teams", "meeting organizer", "teams.meeting_organizer"
        try:
            user = await graph.user(organizer)
        except AdapterError as exc:
            return _failure(system, check, exc, url_key="teams.graph_url", refused=(
                "teams.app_id", "Graph does not let the app read users: grant the app registration the "
                "User.Read.All application permission with an administrator's consent"), not_found=(
                key, f"teams.meeting_organizer is '{organizer}', which the tenant's directory does not have: give "
                "the object id or sign-in name of the user whose Teams meetings serve as bridges"))
        who = f"{user.name} ({user.email})" if user.name != user.email else user.email
        try:
            await graph.check_meeting_access(user.id)
        except NoAccessPolicy:
            return Outcome(system, check, "refused", f"{system} ({check}): teams.meeting_organizer is {who}, but no "
                           "application access policy lets the app organise their meetings: a Teams administrator "
                           f"runs New-CsApplicationAccessPolicy -AppIds {self.settings.teams.app_id}, then "
                           f"Grant-CsApplicationAccessPolicy for {user.email} (it may take half an hour to apply).",
                           key)
        except AdapterError as exc:
            return _failure(system, check, exc, url_key="teams.graph_url", refused=(
                "teams.app_id", "Graph does not let the app read online meetings: grant the app registration the "
                "OnlineMeetings.ReadWrite.All application permission with an administrator's consent"))
        return _ok(system, check, f"teams.meeting_organizer is {who}, and an application access policy lets the app "
                                  "organise their meetings")

    async def _team(self, graph: Any, team_id: str, key: str) -> Outcome:
        system, check = "Microsoft Teams", f"team {team_id}"
        try:
            await graph.find_channel(team_id, "General")
        except AdapterError as exc:
            return _failure(system, check, exc, url_key="teams.graph_url", refused=(
                key, f"Graph does not let the app read the channels of team {team_id} ({key}): grant the app "
                "registration the ChannelSettings.ReadWrite.All application permission with an administrator's "
                "consent"), not_found=(
                key, f"{key} is '{team_id}', which Microsoft Graph does not know as a team: give the team's "
                "Microsoft 365 group id (the groupId of its 'Get link to team')"))
        return _ok(system, check, f"{key} is a team whose channels the app can read")

    async def console(self) -> list[Outcome]:
        """The console's identity provider: its discovery document names this issuer, and its keys can be read."""
        from warroom.adapters.oidc import OidcProvider

        c = self.settings.console
        system, check = "Console sign-in", "identity provider"
        url = f"{c.oidc_issuer.rstrip('/')}/.well-known/openid-configuration"
        if (far := await self._reach(system, check, [(url, "console.oidc_issuer")])) is not None:
            return [far]
        secret = c.client_secret.get_secret_value() if c.client_secret is not None else ""
        provider = OidcProvider(c.oidc_issuer, c.client_id, secret, timeout=self.probe.timeout)
        try:
            meta = await provider.metadata()
            keys = await provider.keys()
        except AdapterError as exc:
            return [Outcome(system, check, "failed" if isinstance(exc, Permanent) else "unreachable",
                            f"{system} ({check}): {exc.reason.rstrip('.')}: check console.oidc_issuer (the issuer "
                            "URL the identity provider gives, e.g. https://login.microsoftonline.com/<tenant>/v2.0).",
                            "console.oidc_issuer")]
        finally:
            await provider.aclose()
        if not keys.keys:
            return [Outcome(system, check, "failed", f"{system} ({check}): the identity provider publishes no RSA "
                            "signing key at its jwks_uri: warroom verifies RS256 ID tokens only.", "console.oidc_issuer")]
        methods = meta.get("code_challenge_methods_supported")
        if isinstance(methods, list) and "S256" not in methods:
            return [Outcome(system, check, "failed", f"{system} ({check}): the identity provider does not support "
                            "PKCE with S256, which warroom's sign-in uses.", "console.oidc_issuer")]
        return [_ok(system, check, f"{meta['issuer']} answers its discovery document and publishes "
                                   f"{len(keys.keys)} signing key(s)")]

    async def model(self) -> list[Outcome]:
        from pydantic import BaseModel

        from warroom.ai.client import LlmClient, ModelUnavailable

        class Ping(BaseModel):
            ok: bool

        a = self.settings.ai
        system, check = "Model", "completion"
        if (far := await self._reach(system, check, [(a.base_url, "ai.base_url")])) is not None:
            return [far]
        client = LlmClient(a.model_copy(update={"max_retries": 0}))
        try:
            await client.structured(
                Ping, incident="preflight", capability="preflight", name="preflight",
                system="You check that this endpoint works. Answer in JSON.", user='Answer {"ok": true}.',
            )
        except ModelUnavailable as exc:
            return [_model_failure(exc, a.model, a.base_url)]
        finally:
            await client.aclose()
        return [_ok(system, check, f"{a.base_url} answered a small structured request with {a.model}")]


def _model_failure(exc: Any, model: str, base_url: str) -> Outcome:
    detail = str(exc.detail).rstrip(". ")
    system, check = "Model", "completion"
    status: Status
    if exc.reason in ("unreachable", "timeout"):
        status, key = "unreachable", "ai.base_url"
        text = f"{base_url} did not answer ({detail}): check ai.base_url (and ai.timeout)"
    elif exc.reason == "unauthorized":
        status, key = "refused", "ai.api_key"
        code = re.search(r"\bHTTP \d{3}\b", detail)
        text = (f"{base_url} refused ai.api_key{f' ({code.group(0)})' if code else ''}: set WARROOM_AI__API_KEY (or "
                "ai.api_key_file) to a key it accepts")
    elif exc.reason == "rejected" and re.search(r"\bHTTP 404\b", detail):
        status, key = "not_found", "ai.model"
        text = (f"ai.model is '{model}', which {base_url} does not serve ({detail}): name a model it serves, and "
                "check that ai.base_url ends where its API starts (…/v1)")
    elif exc.reason == "rejected":
        status, key = "failed", "ai.response_format"
        text = (f"the endpoint rejected a small structured request ({detail}): check ai.model; set "
                "ai.response_format: json_object_schema for llama.cpp's servers (json_object for servers with plain "
                "JSON mode only), or ai.max_tokens_param: max_completion_tokens for OpenAI's reasoning models")
    elif exc.reason in ("malformed", "refused", "filtered"):
        status, key = "failed", "ai.response_format"
        text = (f"the model answered, but not with the JSON asked for ({detail}): try ai.response_format: "
                "json_object_schema (llama.cpp's servers), ai.system_prompt: user when the server's chat template drops "
                "the system message (gemma's), or another ai.model")
    elif exc.reason == "truncated":
        status, key = "failed", "ai.max_tokens"
        text = f"the answer was cut off ({detail}): raise ai.max_tokens"
    elif exc.reason == "rate_limited":
        status, key = "failed", "ai.api_key"
        text = f"the endpoint is rate limiting this key just now ({detail}): run the check again later"
    else:
        status, key = "failed", "ai.base_url"
        text = f"the endpoint failed ({detail}): run the check again; if it stays, see the provider's status"
    return Outcome(system, check, status, f"{system} ({check}): {text}.", key)


# -- running them ---------------------------------------------------------------------------------------------
def _planned(settings: Settings, checks: _Checks) -> list[tuple[str, Callable[[], Awaitable[list[Outcome]]]]]:
    """What the settings use, in the order told."""
    uses = {s.bridge for s in settings.services}
    plan: list[tuple[str, Callable[[], Awaitable[list[Outcome]]]]] = []
    if settings.slack.enabled and settings.slack.bot_token is not None:
        plan.append(("Slack", checks.slack))
    if settings.xurrent.enabled and any(s.itsm.enabled for s in settings.services):
        plan.append(("Xurrent", checks.xurrent))
    if "zoom" in uses:
        plan.append(("Zoom", checks.zoom))
    if "webex" in uses:
        plan.append(("Webex", checks.webex))
    if settings.teams.enabled:
        plan.append(("Microsoft Teams", checks.teams))
    if settings.ai.enabled:
        plan.append(("Model", checks.model))
    if settings.statuspage.api_key is not None and any(p.statuspage.page_id.strip() for p in settings.status_pages):
        plan.append(("Statuspage", checks.statuspage))
    if settings.evidence.sources:
        plan.append(("Evidence sources", checks.evidence))
    if settings.console.oidc_issuer and settings.console.client_id:
        plan.append(("Console sign-in", checks.console))
    return plan


async def _guarded(system: str, run: Callable[[], Awaitable[list[Outcome]]]) -> list[Outcome]:
    try:
        return await run()
    except Exception as exc:  # a check that breaks is a failed check, never a crash of serve or the command
        log.debug("the %s check failed unexpectedly", system, exc_info=True)
        return [Outcome(system, "check", "failed",
                        f"{system}: the check itself failed ({type(exc).__name__}: {exc}).")]


async def run_checks(
    settings: Settings,
    *,
    probe_timeout: float = PROBE_TIMEOUT,
    on_outcome: Callable[[Outcome], None] | None = None,
    app_token: bool = True,
) -> list[Outcome]:
    """Every online check the settings call for, at once; the outcomes in a fixed order (Slack, Xurrent, Zoom,
    Webex, Teams, the model, Statuspage, the evidence sources, the console's identity provider). ``on_outcome`` hears each as soon as its system is done. ``app_token=False`` leaves
    Slack's app-level token out (``serve`` tries it by connecting). Raises nothing: a check that cannot run is a
    failed outcome."""
    probe = _Probe(probe_timeout)
    checks = _Checks(settings, probe, app_token=app_token)

    async def one(system: str, run: Callable[[], Awaitable[list[Outcome]]]) -> list[Outcome]:
        outcomes = await _guarded(system, run)
        if on_outcome is not None:
            for outcome in outcomes:
                on_outcome(outcome)
        return outcomes

    try:
        results = await asyncio.gather(*(one(system, run) for system, run in _planned(settings, checks)))
    finally:
        probe.close()
    return [outcome for outcomes in results for outcome in outcomes]


def _log(outcome: Outcome) -> None:
    if outcome.ok:
        log.info("start-up check: %s", outcome.message)
    else:
        log.warning("start-up check failed: %s", outcome.message)


async def log_checks(settings: Settings, *, probe_timeout: float = PROBE_TIMEOUT) -> list[Outcome]:
    """:func:`run_checks` for ``serve``'s start: each failure a WARNING, each success INFO, as each system is done;
    first what ``check-config`` would say that serving does not refuse (an empty service catalog).

    Slack's app-level token is left out: ``serve`` opens its Socket Mode connection at the same moment (a token
    Slack refuses stops the start with a sentence), and apps.connections.open is in Slack's Tier 1 (about one call
    a minute) — a second call beside it could have the connection wait."""
    for problem in check_serving(settings):
        log.warning("start-up check failed: %s", problem)
    outcomes = await run_checks(settings, probe_timeout=probe_timeout, on_outcome=_log, app_token=False)
    failed = sum(not o.ok for o in outcomes)
    if failed:
        log.warning("%d of %d start-up checks failed; `warroom check-config --online` runs them again",
                    failed, len(outcomes))
    elif outcomes:
        log.info("all %d start-up checks passed", len(outcomes))
    return outcomes


#: ``serve``'s background task running :func:`log_checks` (on the aiohttp application).
PREFLIGHT: web.AppKey[asyncio.Task[list[Outcome]]] = web.AppKey("preflight", asyncio.Task)


def attach(app: web.Application, settings: Settings) -> None:
    """Run :func:`log_checks` in the background once ``app`` has started (start-up does not wait for it); stop it
    when the application shuts down."""

    async def start(app: web.Application) -> None:
        app[PREFLIGHT] = asyncio.create_task(log_checks(settings), name="warroom-preflight")

    async def stop(app: web.Application) -> None:
        task = app.get(PREFLIGHT)
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
