"""warroom's Slack app manifest, made from the one template the package ships (``app_manifest.yaml``).

:func:`manifest` fills the template's placeholders — ``WARROOM_HOST`` (the address Slack reaches warroom at) and
``WARROOM_COMMAND`` (the slash command, ``slack.command``), ``WARROOM_ONCALL_COMMAND`` (the on-call one,
``slack.oncall_command``) — and, for Socket Mode, leaves the request URLs out and turns ``socket_mode_enabled`` on. The text is edited as text, so the template's comments (why each scope is
there) reach whoever pastes the result; the result is then read back as YAML and checked, so a template that
drifted from what the generator expects fails loudly instead of producing a wrong manifest. Pure code but for
reading the package's template.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import yaml

#: The template, package data of warroom.chat.slack.
TEMPLATE = "app_manifest.yaml"
#: Where Slack posts slash commands, interactions and events (warroom.web.app's route).
EVENTS_PATH = "/slack/events"
HOST_PLACEHOLDER = "WARROOM_HOST"
COMMAND_PLACEHOLDER = "WARROOM_COMMAND"
ONCALL_PLACEHOLDER = "WARROOM_ONCALL_COMMAND"
_PLACEHOLDER = re.compile(r"WARROOM_[A-Z_]+")
_TEMPLATE_URL = f"https://{HOST_PLACEHOLDER}{EVENTS_PATH}"
#: The lines that carry a request URL, left out in Socket Mode.
_URL_LINE = re.compile(rf"^\s*(?:url|request_url): {re.escape(_TEMPLATE_URL)}\s*\n", re.MULTILINE)
_SOCKET_OFF = re.compile(r"^(\s*socket_mode_enabled:) false\s*$", re.MULTILINE)
#: Slack's rule for command names: lower case, no spaces, at most 32 characters with the slash.
_COMMAND = re.compile(r"[a-z0-9][a-z0-9_-]{0,30}")
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_LOOPBACK = {"localhost", "0.0.0.0"}


class ManifestError(ValueError):
    """An input the manifest cannot be made from; the message is a sentence saying what to give instead."""


def base_url(url: str) -> str:
    """The address Slack reaches warroom at, checked and normalised: ``https://host[:port]``.

    Slack posts only to https, and warroom serves its Slack route at the root (``/slack/events``), so a path, a
    query or a fragment is refused, and so is an address only this machine can reach.
    """
    example = "e.g. --url https://warroom.example.com"
    try:
        if any(ch.isspace() or not ch.isprintable() for ch in url.strip()):
            raise ValueError("a space or a control character")  # urlsplit would drop some of them silently
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        shown = url.encode("unicode_escape").decode("ascii")
        raise ManifestError(f"--url '{shown}' is not an address: give warroom's https address, {example}.") from None
    if parts.scheme.lower() != "https":
        raise ManifestError(f"--url must be an https address (Slack posts only to https), {example}; got '{url}'.")
    if parts.username is not None or parts.password is not None:
        raise ManifestError(f"--url may not carry a user name or password: give the bare address, {example}.")
    if parts.path not in ("", "/") or parts.query or parts.fragment or url.strip().endswith(("?", "#")):
        raise ManifestError(
            f"--url is the base address Slack reaches warroom at, without a path: warroom adds {EVENTS_PATH} itself "
            f"({example}); got '{url}'."
        )
    host = (parts.hostname or "").rstrip(".")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = ""
    if not _HOST.fullmatch(host):
        raise ManifestError(f"--url '{url}' has no valid host name: {example}.")
    if host in _LOOPBACK or host.startswith("127."):
        raise ManifestError(f"--url '{url}' is an address only this machine can reach: give the one Slack reaches "
                            f"warroom at (a public https address, {example}), or use --socket.")
    return f"https://{host}" + (f":{port}" if port not in (None, 443) else "")


def command_name(command: str, *, key: str = "slack.command", example: str = "incident") -> str:
    """The slash command as Slack writes it (``/incident``) from ``slack.command`` (with or without its slash)."""
    name = command.strip().removeprefix("/")
    if not _COMMAND.fullmatch(name):
        raise ManifestError(
            f"{key} is '{command}', which Slack does not accept as a command name: use lower-case letters, "
            f"digits, '-' or '_', at most 31 characters, without the slash (e.g. {example})."
        )
    return f"/{name}"


def template() -> str:
    """The manifest template the package ships."""
    return resources.files("warroom.chat.slack").joinpath(TEMPLATE).read_text(encoding="utf-8")


def bot_scopes(source: str | None = None) -> list[str]:
    """The bot scopes the manifest asks for (the template's, which are the ones the code calls for)."""
    data: dict[str, Any] = yaml.safe_load(template() if source is None else source)
    return [str(scope) for scope in data["oauth_config"]["scopes"]["bot"]]


def manifest(*, command: str, oncall_command: str = "oncall", url: str | None = None, socket: bool = False,
             source: str | None = None) -> str:
    """The app manifest (YAML) for slash commands ``command`` (``slack.command``) and ``oncall_command``
    (``slack.oncall_command``): with ``url`` (the base address, see :func:`base_url`), Slack posts commands,
    interactions and events to ``<url>/slack/events``; with ``socket``, Slack delivers them over Socket Mode (no
    request URL; ``url`` is not used). ``source``: the template's text (default: the package's)."""
    slash = command_name(command)
    oncall_slash = command_name(oncall_command, key="slack.oncall_command", example="oncall")
    if oncall_slash == slash:
        raise ManifestError(f"slack.command and slack.oncall_command are both '{slash}': give each its own name.")
    text = _body(template() if source is None else source)
    events: str | None = None
    if socket:
        text = _URL_LINE.sub("", text)
        text, switched = _SOCKET_OFF.subn(r"\1 true", text)
        if switched != 1:
            raise RuntimeError(f"the manifest template ({TEMPLATE}) has no 'socket_mode_enabled: false' to turn on")
        header = (f"# warroom's Slack app ({slash}, {oncall_slash}) in Socket Mode: no request URLs; warroom connects "
                  "to Slack with an app-level token.\n")
    else:
        if url is None:
            raise ManifestError("Give the address Slack reaches warroom at, e.g. --url https://warroom.example.com "
                                "(or --socket for Socket Mode).")
        base = base_url(url)
        events = f"{base}{EVENTS_PATH}"
        text = text.replace(f"https://{HOST_PLACEHOLDER}", base)
        header = f"# warroom's Slack app ({slash}, {oncall_slash}): Slack posts commands, clicks and events to {events}.\n"
    text = text.replace(f"/{ONCALL_PLACEHOLDER}", oncall_slash).replace(f"/{COMMAND_PLACEHOLDER}", slash)
    header += ('# Paste it at https://api.slack.com/apps → "Create New App" → "From an app manifest" (or on an '
               "existing app's App Manifest page).\n")
    made = header + text
    _check(made, slashes=[slash, oncall_slash], events=events)
    return made


def _body(source: str) -> str:
    """The template without its leading comment block (which is about the template, not the app)."""
    lines = source.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines))
    return "".join(lines[start:])


def _check(text: str, *, slashes: list[str], events: str | None) -> None:
    """The manifest made is what was asked for: every placeholder filled, the URLs where they belong (or none)."""
    if _PLACEHOLDER.search(text):
        raise RuntimeError(f"the manifest template ({TEMPLATE}) has a placeholder the generator does not fill")
    data: dict[str, Any] = yaml.safe_load(text)
    features, settings = data["features"], data["settings"]
    commands = features["slash_commands"]
    urls = [*(c.get("url") for c in commands), settings["interactivity"].get("request_url"),
            settings["event_subscriptions"].get("request_url")]
    socket = events is None
    if ([c["command"] for c in commands] != slashes or settings["socket_mode_enabled"] is not socket
            or urls != [events] * (len(commands) + 2)):
        raise RuntimeError(f"the manifest template ({TEMPLATE}) is not shaped as the generator expects: {urls}")
