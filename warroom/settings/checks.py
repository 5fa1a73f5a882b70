"""The cross-field checks of the settings (``warroom check-config``): each problem a sentence with the fix."""

from __future__ import annotations

from .model import EMAIL_RE, SERVICE_NAME_RE, Settings


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
    for name in {n for n in names if names.count(n) > 1}:
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
        key = f"services[{i}] ({svc.name})"
        if not SERVICE_NAME_RE.match(svc.name):
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
        if settings.slack.signing_secret is None:
            problems.append("slack.signing_secret is not set: set WARROOM_SLACK__SIGNING_SECRET or slack.signing_secret_file.")
    if not any(
        t is not None
        for t in (settings.intake.alertmanager_token, settings.intake.grafana_token, settings.intake.generic_token)
    ):
        problems.append(
            "intake has no token for any alert source: set WARROOM_INTAKE__ALERTMANAGER_TOKEN (or grafana_token / generic_token) "
            "so that alert senders can authenticate."
        )
    problems.extend(_check_teams(settings))
    return problems


def _check_teams(settings: Settings) -> list[str]:
    """The Teams parts of :func:`check`."""
    problems: list[str] = []
    t = settings.teams
    for i, svc in enumerate(settings.services):
        key = f"services[{i}] ({svc.name})"
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
    if t.enabled:
        for field_name in ("app_id", "tenant_id"):
            if not getattr(t, field_name):
                problems.append(f"teams.{field_name} is not set: copy it from the bot's Microsoft Entra app registration.")
        if t.app_password is None:
            problems.append("teams.app_password is not set: set WARROOM_TEAMS__APP_PASSWORD to a client secret of the "
                            "bot's app registration.")
    return list(dict.fromkeys(problems))
