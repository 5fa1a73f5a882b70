"""The Slack front end: a slack-bolt AsyncApp (signature checking on) that translates Slack requests into
warroom's commands at the edge. The full ``/incident`` grammar arrives with the command-set issue; this version
understands ``declare`` and ``help``."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from warroom.core.model import Origin
from warroom.settings import Settings

from .incidents import IncidentService

log = logging.getLogger("warroom.slack")


def help_text(settings: Settings) -> str:
    cmd = f"/{settings.slack.command}"
    services = ", ".join(s.name for s in settings.services) or "none configured"
    prios = "|".join(settings.priorities)
    return (
        f"*warroom* — `{cmd} declare <service> [{prios}] <title>` declares a major incident and opens its war room; "
        f"`{cmd} escalate <Xurrent request id or URL>` makes a service-desk request a major incident.\n"
        f"Services: {services}."
    )


def parse_declare(text: str, settings: Settings) -> tuple[str, str | None, str]:
    """``<service> [priority] <title>`` → (service, priority, title); raises ValueError with the correct form."""
    usage = f"Try `/{settings.slack.command} declare <service> [{'|'.join(settings.priorities)}] <title>`."
    words = text.split()
    if not words:
        raise ValueError(f"Say which service and what is wrong. {usage}")
    service = words[0].lower()
    if settings.service(service) is None:
        known = ", ".join(s.name for s in settings.services) or "none configured"
        raise ValueError(f"Unknown service '{words[0][:40]}'. Services: {known}. {usage}")
    rest = words[1:]
    priority = None
    if rest and rest[0].upper() in settings.priorities:
        priority = rest[0].upper()
        rest = rest[1:]
    title = " ".join(rest).strip()
    if not title:
        raise ValueError(f"Give the incident a title. {usage}")
    if len(title) > 255:
        raise ValueError("The title is longer than 255 characters; shorten it and put the rest in a note.")
    return service, priority or settings.intake.default_priority, title


REQUEST_REF = re.compile(r"^(?:#?(\d{1,12})|https?://\S+/requests/(\d{1,12})\S*)$")


def parse_request_ref(text: str) -> int:
    """``70001``, ``#70001`` or a request URL → the request id; ValueError with the correct form otherwise."""
    match = REQUEST_REF.match(text.strip().strip("<>").split("|")[0])
    if not match:
        raise ValueError("Say which Xurrent request to escalate: `escalate 70001` or `escalate <request URL>`.")
    return int(match.group(1) or match.group(2))


#: Escalates a Xurrent request by id for a person; returns the sentence to answer with.
Escalate = Callable[[int, str], Awaitable[str]]


def create_slack_app(
    settings: Settings, service: IncidentService, client: AsyncWebClient, escalate: Escalate | None = None
) -> AsyncApp:
    assert settings.slack.signing_secret is not None and settings.slack.bot_token is not None
    app = AsyncApp(
        signing_secret=settings.slack.signing_secret.get_secret_value(),
        client=client,  # carries the bot token
        request_verification_enabled=True,
        logger=log,
    )

    @app.command(f"/{settings.slack.command}")
    async def incident_command(ack: Any, command: dict[str, Any], respond: Any) -> None:
        text = (command.get("text") or "").strip()
        verb, _, rest = text.partition(" ")
        if verb.lower() in ("", "help"):
            await ack(help_text(settings))
            return
        if verb.lower() == "escalate":
            if escalate is None:
                await ack("Escalation needs the Xurrent link, which is not configured.")
                return
            try:
                request_id = parse_request_ref(rest)
            except ValueError as exc:
                await ack(str(exc))
                return
            await ack(await escalate(request_id, f"slack:{command.get('user_id')}"))
            return
        if verb.lower() != "declare":
            await ack(f"Unknown command '{verb[:40]}'. " + help_text(settings))
            return
        try:
            svc, priority, title = parse_declare(rest, settings)
        except ValueError as exc:
            await ack(str(exc))
            return
        incident = await service.declare(
            service=svc, title=title, priority=priority, origin=Origin.CHAT, actor=f"slack:{command.get('user_id')}"
        )
        await ack(f"{incident.ref} declared ({priority}). The war room is being opened.")

    return app
