"""The cross-field checks of the settings (``warroom check-config``): each problem a sentence with the fix."""

from __future__ import annotations

import difflib
import ipaddress
import re
from urllib.parse import urlsplit

from .model import EMAIL_RE, SERVICE_NAME_RE, Settings

#: slack.announce_channel: a channel id, or a name with or without its '#'.
SLACK_CHANNEL_RE = re.compile(r"^(?:[CG][A-Z0-9]{6,}|#?[a-z0-9][a-z0-9_-]{0,79})$")


def service_key(index: int, name: str) -> str:
    """How every problem names a service's keys: ``services[1] (payments)`` (``services[1]`` while it has no name)."""
    return f"services[{index}] ({name})" if name else f"services[{index}]"


def check(settings: Settings) -> list[str]:
    """Cross-field checks that pydantic cannot express; each problem a sentence naming the key."""
    problems: list[str] = []
    prios = settings.priorities
    if not prios:
        problems.append("priorities is empty: list at least one priority, highest first (e.g. [P1, P2, P3, P4, P5]).")
    if len(set(prios)) != len(prios):
        problems.append("priorities lists the same priority twice: each must appear once.")
    known = ", ".join(prios)

    def need_priority(key: str, value: str) -> None:
        if value not in prios:
            problems.append(f"{key} is '{value}', which is not one of the configured priorities ({known}).")

    need_priority("intake.default_priority", settings.intake.default_priority)
    for severity, priority in settings.intake.severity_priorities.items():
        need_priority(f"intake.severity_priorities.{severity}", priority)
    names = [s.name for s in settings.services]
    for name in sorted({n for n in names if n and names.count(n) > 1}):
        problems.append(f"services lists '{name}' more than once: give each service one entry.")
    fallback = settings.intake.fallback_service
    if fallback and fallback not in names:
        problems.append(f"intake.fallback_service is '{fallback}', which is not a service in services: add it or clear the key.")
    verbs = {"ack", "resolve", "reopen", "priority", "title", "assign", "role", "note", "page", "stakeholder", "merge",
             "summary", "ask", "rca", "postmortem"}
    for verb, allowed in settings.response.permissions.items():
        if verb not in verbs:
            problems.append(f"response.permissions.{verb}: '{verb}' is not a command; use one of {', '.join(sorted(verbs))}.")
        for who in allowed:
            group = who.removeprefix("group:")
            if who not in ("anyone", "commander", "assignee") and (not who.startswith("group:")
                                                                   or group not in settings.response.groups):
                problems.append(
                    f"response.permissions.{verb} lists '{who}': use anyone, commander, assignee or group:<name> "
                    "with a group defined in response.groups."
                )
    any_itsm = any_zoom = any_webex = False
    for i, svc in enumerate(settings.services):
        key = service_key(i, svc.name)
        if svc.name and not SERVICE_NAME_RE.match(svc.name):
            problems.append(
                f"{key}.name must be lower-case letters, digits, '-' or '_' (at most 63 characters), e.g. 'checkout-api'."
            )
        need_priority(f"{key}.declare_threshold", svc.declare_threshold)
        if svc.on_call and not EMAIL_RE.match(svc.on_call):
            problems.append(f"{key}.on_call is not an email address: give the on-call person's email.")
        pattern = svc.slack.name_pattern
        try:
            pattern.format(number=1, slug="x", service="s", priority="P1")
        except (KeyError, IndexError, ValueError):
            problems.append(
                f"{key}.slack.name_pattern '{pattern}' uses an unknown placeholder: use {{number}}, {{slug}}, {{service}}, {{priority}}."
            )
        if "{number}" not in pattern:
            problems.append(f"{key}.slack.name_pattern must contain {{number}} so that every war room's name is unique.")
        link = svc.itsm
        if link.enabled and settings.xurrent.enabled:
            any_itsm = True
            need_priority(f"{key}.itsm.severity_threshold", link.severity_threshold)
            if link.service_instance_id is None:
                problems.append(
                    f"{key}.itsm.service_instance_id is not set: give the Xurrent service instance id this service maps to, "
                    "or set itsm.enabled: false."
                )
            if link.impact_mapping:
                if len(prios) < 4:
                    problems.append(
                        f"{key}.itsm.impact_mapping needs at least 4 priorities configured (there are {len(prios)}): "
                        "add priorities or remove the custom mapping to use the default one."
                    )
                for prio in link.impact_mapping:
                    need_priority(f"{key}.itsm.impact_mapping.{prio}", prio)
        any_zoom |= svc.bridge == "zoom"
        any_webex |= svc.bridge == "webex"
    if any_itsm:
        x = settings.xurrent
        if not x.account:
            problems.append("xurrent.account is not set: copy the Account ID from Xurrent's Settings → Account Overview.")
        if not x.client_id:
            problems.append("xurrent.client_id is not set: create an OAuth application (client credentials) in Xurrent.")
        if x.client_secret is None:
            problems.append("xurrent.client_secret is not set: set WARROOM_XURRENT__CLIENT_SECRET or xurrent.client_secret_file.")
    if any_zoom:
        z = settings.zoom
        for field in ("account_id", "client_id"):
            if not getattr(z, field):
                problems.append(f"zoom.{field} is not set but a service uses Zoom bridges: copy it from the Server-to-Server OAuth app.")
        if z.client_secret is None:
            problems.append("zoom.client_secret is not set: set WARROOM_ZOOM__CLIENT_SECRET or zoom.client_secret_file.")
    if any_webex and settings.webex.token is None:
        problems.append("webex.token is not set but a service uses Webex bridges: set WARROOM_WEBEX__TOKEN or webex.token_file.")
    if settings.slack.enabled:
        if settings.slack.bot_token is None:
            problems.append("slack.bot_token is not set: set WARROOM_SLACK__BOT_TOKEN (xoxb-…) or slack.bot_token_file.")
        if settings.slack.mode == "http" and settings.slack.signing_secret is None:
            problems.append("slack.signing_secret is not set: set WARROOM_SLACK__SIGNING_SECRET or slack.signing_secret_file "
                            "(or use slack.mode: socket with an app-level token).")
        if settings.slack.mode == "socket":
            problems.extend(_check_slack_socket(settings))
    announce = settings.slack.announce_channel.strip()
    if announce and not settings.slack.enabled:
        problems.append("slack.announce_channel is set but slack.enabled is false: enable Slack or clear the key.")
    if announce and not SLACK_CHANNEL_RE.match(announce):
        problems.append(
            f"slack.announce_channel '{announce}' is neither a channel id (C0123ABCD) nor a channel name "
            "(#major-incidents: lower-case letters, digits, '-' and '_')."
        )
    if not any(
        t is not None
        for t in (settings.intake.alertmanager_token, settings.intake.grafana_token, settings.intake.generic_token)
    ):
        problems.append(
            "intake has no token for any alert source: set WARROOM_INTAKE__ALERTMANAGER_TOKEN (or grafana_token / generic_token) "
            "so that alert senders can authenticate."
        )
    problems.extend(_check_teams(settings))
    problems.extend(_check_deployment(settings))
    problems.extend(_check_metrics(settings))
    problems.extend(_check_oncall(settings))
    problems.extend(_check_status_pages(settings))
    problems.extend(_check_console(settings))
    return problems


def _check_console(settings: Settings) -> list[str]:
    """The web console's sign-in (``console``): all of issuer, client id and secret, or none; whom it lets in; https."""
    c = settings.console
    problems: list[str] = []
    if not c.oidc_issuer:
        if c.client_id or c.client_secret is not None:
            problems.append("console.client_id is set but console.oidc_issuer is not: set it to your identity "
                            "provider's issuer URL (e.g. https://login.microsoftonline.com/<tenant>/v2.0), or clear "
                            "console.client_id and WARROOM_CONSOLE__CLIENT_SECRET.")
        return problems
    if not c.client_id:
        problems.append("console.oidc_issuer is set but console.client_id is not: register warroom as a web "
                        "application at the identity provider (redirect URI <server.public_url>/console/callback) "
                        "and set console.client_id to the client id it gives.")
    if c.client_secret is None or not c.client_secret.get_secret_value():
        problems.append("console.oidc_issuer is set but console.client_secret is not: set "
                        "WARROOM_CONSOLE__CLIENT_SECRET (or console.client_secret_file) to the client secret the "
                        "identity provider gave warroom.")
    if "openid" not in c.scopes or "email" not in c.scopes:
        problems.append(f"console.scopes is {' '.join(c.scopes) or 'empty'}: it must include openid and email "
                        "(the default is openid email profile).")
    if (settings.server.link_secret is None and settings.slack.signing_secret is None
            and settings.teams.app_password is None):
        problems.append("console.oidc_issuer is set but there is no secret to sign the console's sessions with: set "
                        "WARROOM_SERVER__LINK_SECRET to a long random string.")
    if not c.allowed_domains and not c.allow_any_account:
        problems.append("console.allowed_domains is empty, so anyone the identity provider signs in can read the "
                        "private status pages and the console: set console.allowed_domains to your organisation's "
                        "email domains (e.g. [example.com]), or console.allow_any_account: true if that is meant.")
    for key, url in (("console.oidc_issuer", c.oidc_issuer), ("server.public_url", settings.server.public_url)):
        parts = urlsplit(url)
        if parts.scheme == "http" and not _loopback(parts.hostname or ""):
            why = ("the sign-in's tokens would travel unencrypted" if key == "console.oidc_issuer" else
                   "the console's session cookie would be sent without Secure, readable on the network")
            problems.append(f"{key} is '{url}', plain http, while the console is on: {why}; use an https:// URL.")
    return problems


def _check_status_pages(settings: Settings) -> list[str]:
    """Status pages: unique valid names and components; each service's page, components and priorities exist."""
    problems: list[str] = []
    names = [p.name for p in settings.status_pages]
    for i, page in enumerate(settings.status_pages):
        if not SERVICE_NAME_RE.match(page.name):
            problems.append(f"status_pages[{i}].name is '{page.name}': use lower case, digits, - and _ (it is the "
                            "page's address, /status/<name>).")
        elif names.count(page.name) > 1 and names.index(page.name) == i:
            problems.append(f"status_pages lists '{page.name}' more than once: give each page one entry.")
        components = [c.name for c in page.components]
        for name in sorted({c for c in components if components.count(c) > 1}):
            problems.append(f"status_pages[{i}] ({page.name}) lists the component '{name}' more than once.")
        if page.visibility == "scoped" and not page.scopes:
            problems.append(f"status_pages[{i}] ({page.name}) is scoped but has no scopes: map each stakeholder "
                            "group to the components it may see.")
        for scope, listed in page.scopes.items():
            if not SERVICE_NAME_RE.match(scope):
                problems.append(f"status_pages[{i}] ({page.name}) scope '{scope}': name scopes in lower case, "
                                "digits, - and _.")
            for component in listed:
                if component not in components:
                    problems.append(f"status_pages[{i}] ({page.name}) scope '{scope}' names '{component}', which is "
                                    "not one of the page's components.")
        problems.extend(_check_mirror(settings, i, page.name, components))
    known = ", ".join(settings.priorities)
    for i, svc in enumerate(settings.services):
        link = svc.status
        key = f"{service_key(i, svc.name)} status"
        if not link.page:
            if link.components:
                problems.append(f"{key}.components is set but status.page is not: name the page they are on.")
            continue
        linked = settings.status_page(link.page)
        if linked is None:
            problems.append(f"{key}.page is '{link.page}', which is not in status_pages"
                            + (f" ({', '.join(names)})" if names else "") + ": add the page or fix the name.")
            continue
        if not link.components:
            problems.append(f"{key}.components is empty: list the components of '{linked.name}' this service is.")
        have = {c.name for c in linked.components}
        for component in link.components:
            if component not in have:
                problems.append(f"{key}.components names '{component}', which is not a component of status page "
                                f"'{linked.name}' ({', '.join(sorted(have)) or 'it has none'}).")
        for priority in link.priority_status:
            if priority not in settings.priorities:
                problems.append(f"{key}.priority_status names '{priority}', which is not one of the configured "
                                f"priorities ({known}).")
    return problems


def _check_mirror(settings: Settings, i: int, page: str, components: list[str]) -> list[str]:
    """A page mirrored on Atlassian Statuspage: its mapped components exist, and there is a key to reach it."""
    mirror = settings.status_pages[i].statuspage
    key = f"status_pages[{i}] ({page}) statuspage"
    problems: list[str] = []
    if not mirror.page_id.strip():
        if mirror.components:
            problems.append(f"{key}.components is set but statuspage.page_id is not: set the Statuspage page id "
                            "(Statuspage → the page → API info) or remove the mapping.")
        return problems
    for name, component_id in mirror.components.items():
        if name not in components:
            problems.append(f"{key}.components maps '{name}', which is not one of the page's components "
                            f"({', '.join(components) or 'it has none'}).")
        if not str(component_id).strip():
            problems.append(f"{key}.components maps '{name}' to an empty id: write the Statuspage component id.")
    if settings.statuspage.api_key is None:
        problems.append(f"{key}.page_id is set but statuspage.api_key is missing: set WARROOM_STATUSPAGE__API_KEY "
                        "(or statuspage.api_key_file) to the API key of a Statuspage user who may manage the page.")
    return problems


def _check_oncall(settings: Settings) -> list[str]:
    """Names in on-call settings point at things that exist; pages reach people by some method."""
    problems: list[str] = []
    oncall = settings.oncall
    for what, names in (("schedules", [s.name for s in oncall.schedules]),
                        ("escalation_policies", [p.name for p in oncall.escalation_policies]),
                        ("people", [p.email for p in oncall.people])):
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"oncall.{what} lists '{name}' more than once: give each one entry.")
    schedules = {s.name for s in oncall.schedules}
    for i, policy in enumerate(oncall.escalation_policies):
        for j, step in enumerate(policy.steps):
            key = f"oncall.escalation_policies[{i}] ({policy.name}).steps[{j}].notify"
            for name in step.notify.schedules:
                if name not in schedules:
                    problems.append(f"{key}.schedules names '{name}', which is not in oncall.schedules: add the "
                                    "schedule or fix the name.")
            for name in step.notify.groups:
                if name.strip().lower() not in settings.response.groups:
                    problems.append(f"{key}.groups names '{name}', which is not in response.groups: define the group "
                                    "or fix the name.")
            if step.notify.teams_groups and not settings.teams.enabled:
                problems.append(f"{key}.teams_groups needs Teams: set teams.enabled (and its credentials) or remove them.")
            if step.notify.slack_groups and not settings.slack.enabled:
                problems.append(f"{key}.slack_groups needs Slack: set slack.enabled or remove them.")
    tw = settings.twilio
    if tw.enabled:
        missing = [k for k, v in (("account_sid", tw.account_sid), ("auth_token", tw.auth_token),
                                  ("from_number", tw.from_number)) if not v]
        if missing:
            problems.append(f"twilio.enabled is on but twilio.{', twilio.'.join(missing)} "
                            f"{'is' if len(missing) == 1 else 'are'} not set: SMS and calls need the account SID, its "
                            "auth token (it also verifies Twilio's callbacks) and the number pages come from.")
        if _loopback(urlsplit(settings.server.public_url).hostname or "") and not _loopback(
                urlsplit(tw.api_url).hostname or ""):
            problems.append(f"server.public_url is '{settings.server.public_url}', on this machine's loopback, but "
                            "Twilio fetches call scripts and posts SMS replies and delivery reports there: set it to "
                            "the HTTPS address Twilio can reach.")
    if settings.smtp.host and not settings.smtp.from_address:
        problems.append("smtp.host is set but smtp.from_address is not: set the address page emails come from.")
    used = {rule.method for rules in oncall.default_rules.values() for rule in rules}
    used |= {rule.method for person in oncall.people for rules in person.rules.values() for rule in rules}
    if oncall.escalation_policies:
        if used & {"sms", "voice"} and not tw.enabled:
            problems.append("oncall notification rules page by SMS or phone call but twilio.enabled is off: set up "
                            "twilio, or take sms and voice out of oncall.default_rules and people's rules.")
        if "email" in used and not settings.smtp.host:
            problems.append("oncall notification rules page by email but smtp.host is not set: set up smtp, or take "
                            "email out of oncall.default_rules and people's rules.")
    policies = {p.name for p in oncall.escalation_policies}
    for i, svc in enumerate(settings.services):
        if svc.escalation_policy and svc.escalation_policy not in policies:
            problems.append(f"{service_key(i, svc.name)}.escalation_policy is '{svc.escalation_policy}', which is not "
                            "in oncall.escalation_policies: add the policy or fix the name.")
    return problems


def _check_metrics(settings: Settings) -> list[str]:
    """Where ``/metrics`` is served (server.metrics_port, server.metrics_token)."""
    problems: list[str] = []
    server = settings.server
    if server.metrics_port is not None and server.metrics_port != 0 and server.metrics_port == server.port:
        problems.append(
            f"server.metrics_port is {server.metrics_port}, the same as server.port: give /metrics a port of its own, "
            "or unset server.metrics_port to serve it on server.port."
        )
    if server.metrics_token is not None and not server.metrics_token.get_secret_value().strip():
        problems.append(
            "server.metrics_token is empty: set WARROOM_SERVER__METRICS_TOKEN to a long random string, or unset it."
        )
    return problems


def _check_slack_socket(settings: Settings) -> list[str]:
    """Socket Mode's settings (``slack.mode: socket``)."""
    problems: list[str] = []
    token = settings.slack.app_token
    if token is None:
        problems.append(
            "slack.mode is socket but slack.app_token is not set: in the Slack app's Basic Information → App-Level "
            "Tokens, create a token with the connections:write scope and set WARROOM_SLACK__APP_TOKEN (xapp-…) or "
            "slack.app_token_file; or set slack.mode: http."
        )
    elif not token.get_secret_value().startswith("xapp-"):
        problems.append(
            "slack.app_token is not an app-level token (those begin with xapp-; xoxb- is the bot token): create one "
            "with the connections:write scope in the Slack app's Basic Information → App-Level Tokens."
        )
    if (settings.server.link_secret is None and settings.slack.signing_secret is None
            and settings.teams.app_password is None):
        problems.append(
            "server.link_secret is not set, and in Socket Mode there is no slack.signing_secret to derive the "
            "postmortem links' key from: set WARROOM_SERVER__LINK_SECRET to a long random string (or "
            "WARROOM_SLACK__SIGNING_SECRET)."
        )
    return problems


def _check_teams(settings: Settings) -> list[str]:
    """The Teams parts of :func:`check`."""
    problems: list[str] = []
    t = settings.teams
    for i, svc in enumerate(settings.services):
        key = service_key(i, svc.name)
        uses_teams = svc.chat != "slack"
        if uses_teams and not t.enabled:
            problems.append(f"{key}.chat is '{svc.chat}' but teams.enabled is false: enable Teams or set chat: slack.")
        if svc.bridge == "teams" and not t.enabled:
            problems.append(f"{key}.bridge is 'teams' but teams.enabled is false: enable Teams or pick another bridge.")
        if svc.bridge == "teams" and not t.meeting_organizer:
            problems.append(
                "teams.meeting_organizer is not set but a service uses Teams meetings as bridges: name the user who "
                "organises them (and grant the app an application access policy for that user)."
            )
        if not uses_teams:
            continue
        if svc.teams.war_room != "chat" and not svc.teams.team_id:
            problems.append(f"{key}.teams.team_id is not set: give the id of the team (its Microsoft 365 group id) "
                            "that holds this service's war-room channels.")
        if svc.teams.war_room == "chat" and not t.catalog_app_id:
            problems.append(f"{key}.teams.war_room is 'chat' but teams.catalog_app_id is not set: give the warroom "
                            "app's id in your Teams app catalog, so that warroom can join the group chats it opens.")
        pattern = svc.teams.name_pattern
        try:
            pattern.format(number=1, title="t", slug="x", service="s", priority="P1")
        except (KeyError, IndexError, ValueError):
            problems.append(f"{key}.teams.name_pattern '{pattern}' uses an unknown placeholder: use {{number}}, "
                            "{title}, {slug}, {service}, {priority}.")
        if "{number}" not in pattern:
            problems.append(f"{key}.teams.name_pattern must contain {{number}} so that every war room's name is unique.")
    if t.announce_channel.strip() or t.announce_team_id.strip():
        if not t.enabled:
            problems.append("teams.announce_channel is set but teams.enabled is false: enable Teams or clear the key.")
        if not (t.announce_channel.strip() and t.announce_team_id.strip()):
            problems.append("teams.announce_channel and teams.announce_team_id go together: give the incidents "
                            "channel's id and the id of the team that holds it (the warroom app installed there).")
    if t.enabled:
        for field_name in ("app_id", "tenant_id"):
            if not getattr(t, field_name):
                problems.append(f"teams.{field_name} is not set: copy it from the bot's Microsoft Entra app registration.")
        if t.app_password is None:
            problems.append("teams.app_password is not set: set WARROOM_TEAMS__APP_PASSWORD to a client secret of the "
                            "bot's app registration.")
    return list(dict.fromkeys(problems))


# -- URLs, the database, the command, the catalog ---------------------------------------------------------------
def _check_deployment(settings: Settings) -> list[str]:
    """URLs, the database URL, the slash command and the catalog's dependencies."""
    problems = _check_urls(settings) + _check_database(settings.database.url)
    command = settings.slack.command.strip()
    if command.startswith("/"):
        problems.append(f"slack.command is '{command}': give the command without its slash ('{command.lstrip('/')}').")
    oncall_command = settings.slack.oncall_command.strip()
    if oncall_command.startswith("/"):
        problems.append(f"slack.oncall_command is '{oncall_command}': give the command without its slash "
                        f"('{oncall_command.lstrip('/')}').")
    elif oncall_command.lstrip("/") == command.lstrip("/"):
        problems.append(f"slack.oncall_command and slack.command are both '{command.lstrip('/')}': give the on-call "
                        "command a name of its own (e.g. oncall).")
    names = {s.name for s in settings.services}
    for i, svc in enumerate(settings.services):
        for dependency in svc.depends_on:
            # a dependency outside the catalog is fine (a database, a third party: its changes still count); one a
            # letter or two from a configured service is a typo that would quietly weigh nothing
            close = difflib.get_close_matches(dependency, sorted(names - {dependency}), n=1, cutoff=0.8)
            if dependency not in names and close:
                problems.append(
                    f"{service_key(i, svc.name)}.depends_on names '{dependency}', which is not a configured "
                    f"service: did you mean '{close[0]}'? (A name outside the catalog is fine when meant.)"
                )
    return problems


def check_serving(settings: Settings) -> list[str]:
    """What a running server needs beyond :func:`check` (``check-config`` asks; ``migrate`` and the outbox
    commands do not)."""
    if settings.services:
        return []
    return [
        "services is empty: list at least one service (its name, responders and, with Xurrent, "
        "itsm.service_instance_id) — every alert and every declared incident belongs to one."
    ]


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _urls(settings: Settings) -> list[tuple[str, str]]:
    """Every URL-valued setting that is set: (key, value)."""
    x, t = settings.xurrent, settings.teams
    urls = [
        ("server.public_url", settings.server.public_url),
        ("slack.api_url", settings.slack.api_url),
        ("slack.team_url", settings.slack.team_url),
        ("teams.graph_url", t.graph_url),
        ("teams.login_url", t.login_url),
        ("teams.service_url", t.service_url),
        ("teams.openid_metadata_url", t.openid_metadata_url),
        ("xurrent.api_url", x.api_url or ""),
        ("xurrent.oauth_url", x.oauth_url or ""),
        ("xurrent.web_url", x.web_url or ""),
        ("xurrent.webhook_issuer", x.webhook_issuer or ""),
        ("zoom.api_url", settings.zoom.api_url),
        ("zoom.oauth_url", settings.zoom.oauth_url),
        ("webex.api_url", settings.webex.api_url),
        ("statuspage.api_url", settings.statuspage.api_url),
        ("ai.base_url", settings.ai.base_url),
        ("console.oidc_issuer", settings.console.oidc_issuer),
    ]
    for i, svc in enumerate(settings.services):
        for title, link in svc.slack.bookmarks.items():
            urls.append((f"{service_key(i, svc.name)}.slack.bookmarks.{title}", link))
    return [(key, value.strip()) for key, value in urls if value.strip()]


def _check_urls(settings: Settings) -> list[str]:
    """URLs written without their scheme or host; the public URL on loopback where Xurrent must reach it."""
    problems: list[str] = []
    for key, value in _urls(settings):
        parts = urlsplit(value)
        if "://" not in value:
            problems.append(f"{key} is '{value}', which has no scheme: write the whole URL, e.g. "
                            f"'https://{value.lstrip('/')}'.")
        elif parts.scheme.lower() not in ("http", "https"):
            problems.append(f"{key} is '{value}': use an https:// (or http://) URL.")
        elif not parts.hostname:
            problems.append(f"{key} is '{value}', which names no host: write the whole URL, e.g. "
                            "'https://host.example.com/…'.")
    public = urlsplit(settings.server.public_url.strip()).hostname or ""
    api_host = urlsplit(settings.xurrent.hosts()[0]).hostname or ""
    linked = settings.xurrent.enabled and any(s.itsm.enabled for s in settings.services)
    if linked and public and _loopback(public) and not _loopback(api_host):
        problems.append(
            f"server.public_url is '{settings.server.public_url}', on this machine's loopback, but Xurrent's "
            "webhooks (xurrent.enabled) must reach warroom from outside: set it to the address Xurrent reaches "
            "warroom at (e.g. https://warroom.example.com), or set xurrent.enabled: false."
        )
    return problems


def _check_database(url: str) -> list[str]:
    """database.url: SQLite through aiosqlite or PostgreSQL through asyncpg. Never echoes the URL: it may hold a
    password."""
    scheme, sep, _ = url.strip().partition("://")
    if not sep or not scheme:
        return ["database.url is not a database URL: use sqlite+aiosqlite:///path/to/warroom.db or "
                "postgresql+asyncpg://user@host:5432/warroom."]
    dialect, _, driver = scheme.lower().partition("+")
    if dialect in ("postgresql", "postgres") and driver != "asyncpg":
        return [f"database.url starts with {scheme}://, which is not warroom's asynchronous driver: start it with "
                "postgresql+asyncpg:// instead (the rest stays as it is)."]
    if dialect == "sqlite" and driver != "aiosqlite":
        return [f"database.url starts with {scheme}://, which is not warroom's asynchronous driver: start it with "
                "sqlite+aiosqlite:// instead (e.g. sqlite+aiosqlite:///var/lib/warroom/warroom.db)."]
    if dialect not in ("postgresql", "postgres", "sqlite"):
        return [f"database.url starts with {scheme}://: warroom runs on SQLite (sqlite+aiosqlite:///path.db) or "
                "PostgreSQL (postgresql+asyncpg://user@host/db)."]
    return []
