"""The online checks (`warroom check-config --online`, and `serve` at start) against the sandbox emulators, over real
HTTP: what works is said, and what does not is told apart — a host that cannot be reached (refused, DNS, no answer),
refused credentials (401/403) and an id the system does not know (404) — each in one sentence naming the key."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from warroom.cli import main
from warroom.preflight import PREFLIGHT, Outcome, log_checks, manifest_bot_scopes, run_checks
from warroom.sandbox.base import bound_port
from warroom.sandbox.world import World
from warroom.settings import SECRET_KEYS, Settings
from warroom.web.app import create_app

Tweak = Callable[[dict[str, Any]], None]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    w = await World.start()
    yield w
    await w.stop()


def world_data(
    world: World, db_url: str, tweak: Tweak | None = None, *, slack_mode: str = "http"
) -> dict[str, Any]:
    """The sandbox's settings with every system in use: Slack, Xurrent, Zoom, Webex, Teams (both services open
    their war rooms in Teams too, and a third bridges with Teams meetings) and the model."""
    data = world.settings_data(db_url, slack_mode=slack_mode)
    data["teams"] = world.teams.settings(enabled=True)
    data["ai"]["enabled"] = True
    for service in data["services"]:
        service["chat"] = "both"
    data["services"].append({
        "name": "identity", "chat": "both", "responders": ["ana@example.com"], "bridge": "teams",
        "itsm": {"enabled": False}, "teams": {"team_id": world.teams.team_ids["payments"]},
    })
    if tweak is not None:
        tweak(data)
    return data


def settings_of(world: World, db_url: str, tweak: Tweak | None = None, *, slack_mode: str = "http") -> Settings:
    return Settings(**world_data(world, db_url, tweak, slack_mode=slack_mode))


def by_check(outcomes: list[Outcome]) -> dict[tuple[str, str], Outcome]:
    return {(o.system, o.check): o for o in outcomes}


def free_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BlackHole:
    """A loopback server that accepts connections and never answers."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.connected = asyncio.Event()
        self.url = ""

    async def __aenter__(self) -> BlackHole:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)
            self.connected.set()

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


async def test_everything_configured_answers(world: World, sqlite_url: str) -> None:
    outcomes = await run_checks(settings_of(world, sqlite_url))
    assert [(o.system, o.check) for o in outcomes] == [
        ("Slack", "auth.test"),
        ("Xurrent", "token"),
        ("Xurrent", "me"),
        ("Xurrent", f"service instance #{world.service_instances['checkout-api']}"),
        ("Xurrent", f"service instance #{world.service_instances['payments']}"),
        ("Zoom", "token"),
        ("Zoom", "host_user"),
        ("Webex", "people/me"),
        ("Webex", "meetings"),
        ("Microsoft Teams", "token"),
        ("Microsoft Teams", "Bot Connector token"),
        ("Microsoft Teams", f"team {world.teams.team_ids['checkout-api']}"),
        ("Microsoft Teams", f"team {world.teams.team_ids['payments']}"),
        ("Microsoft Teams", "meeting organizer"),
        ("Model", "completion"),
        ("Console sign-in", "identity provider"),
    ]
    assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
    said = by_check(outcomes)
    assert said[("Slack", "auth.test")].message == (
        "Slack (auth.test): the bot token is @warroom (U0WARROOM) in " + world.slack.team_name
        + ", with every bot scope of the app manifest."
    )
    assert "services[0] (checkout-api).itsm.service_instance_id is 'checkout-api (production)'" in \
        said[("Xurrent", f"service instance #{world.service_instances['checkout-api']}")].message
    assert said[("Webex", "people/me")].message == "Webex (people/me): the token is Sandbox Host (host@example.com)."
    assert said[("Console sign-in", "identity provider")].message == (
        f"Console sign-in (identity provider): {world.oidc.issuer} answers its discovery document and publishes 1 "
        "signing key(s).")
    assert said[("Zoom", "host_user")].message == (
        "Zoom (host_user): zoom.host_user is Owner (owner@example.com), an active, licensed user.")
    assert said[("Webex", "meetings")].message == (
        "Webex (meetings): the token may schedule meetings (meeting:schedules_write).")
    assert said[("Microsoft Teams", "Bot Connector token")].message.startswith(
        "Microsoft Teams (Bot Connector token): Entra ID issued a Bot Connector token (https://api.botframework.com)")
    assert said[("Microsoft Teams", "meeting organizer")].message == (
        "Microsoft Teams (meeting organizer): teams.meeting_organizer is Warroom Bridges (bridges@example.com), and "
        "an application access policy lets the app organise their meetings.")
    # each system asked once, as the adapters ask
    assert len(world.slack.calls_to("auth.test")) == 1
    assert len(world.webex.calls_to("GET /people/me")) == 1
    assert len(world.llm.requests) == 1
    # the checks made nothing: no meeting scheduled or deleted, no Socket Mode ticket asked for (HTTP mode)
    assert len(world.webex.calls_to("DELETE /meetings/{meetingId}")) == 1
    assert world.webex.meetings == {} and world.webex.deleted == [] and world.zoom.meetings == {}
    assert world.teams.tenant.meetings == {} and world.slack.calls_to("apps.connections.open") == []


async def test_only_what_is_configured_is_checked(world: World, sqlite_url: str) -> None:
    def little(data: dict[str, Any]) -> None:
        data["teams"]["enabled"] = False
        data["ai"]["enabled"] = False
        data["xurrent"]["enabled"] = False
        del data["console"]
        for service in data["services"]:
            service["chat"] = "slack"
            service["bridge"] = "none"

    outcomes = await run_checks(settings_of(world, sqlite_url, little))
    assert [(o.system, o.check, o.status) for o in outcomes] == [("Slack", "auth.test", "ok")]
    assert world.xurrent.calls_to("POST /token") == [] and world.llm.requests == []


async def test_refused_credentials_name_the_key(world: World, sqlite_url: str) -> None:
    def wrong(data: dict[str, Any]) -> None:
        data["slack"]["bot_token"] = "xoxb-not-the-token"
        data["xurrent"]["client_secret"] = "not-the-secret"
        data["zoom"]["client_secret"] = "not-the-secret"
        data["webex"]["token"] = "not-the-token"
        data["teams"]["app_password"] = "not-the-password"
        data["ai"]["api_key"] = "sk-not-the-key"
        del data["console"]  # its check reads the provider's public documents only: no credential to refuse

    said = by_check(await run_checks(settings_of(world, sqlite_url, wrong)))
    expected = {
        ("Slack", "auth.test"): "slack.bot_token",
        ("Xurrent", "token"): "xurrent.client_id",
        ("Zoom", "token"): "zoom.client_id",
        ("Webex", "people/me"): "webex.token",
        ("Microsoft Teams", "token"): "teams.app_id",
        ("Model", "completion"): "ai.api_key",
    }
    assert set(said) == set(expected)  # nothing is asked with credentials that were refused
    for check, key in expected.items():
        outcome = said[check]
        assert (outcome.status, outcome.key) == ("refused", key), outcome
        assert key in outcome.message and outcome.message.endswith("."), outcome.message
        assert "not-the" not in outcome.message  # no secret is repeated
    assert "invalid_auth" in said[("Slack", "auth.test")].message
    assert "WARROOM_AI__API_KEY" in said[("Model", "completion")].message


async def test_the_console_identity_provider(world: World, sqlite_url: str) -> None:
    def elsewhere(data: dict[str, Any]) -> None:
        data["console"]["oidc_issuer"] = world.oidc.issuer.replace("127.0.0.1", "localhost")

    def missing(data: dict[str, Any]) -> None:
        data["console"]["oidc_issuer"] = world.oidc.issuer + "/realms/none"

    renamed = by_check(await run_checks(settings_of(world, sqlite_url, elsewhere)))[
        ("Console sign-in", "identity provider")]
    absent = by_check(await run_checks(settings_of(world, sqlite_url, missing)))[
        ("Console sign-in", "identity provider")]
    assert (renamed.status, renamed.key) == ("failed", "console.oidc_issuer")
    assert f"names the issuer '{world.oidc.issuer}'" in renamed.message
    assert (absent.status, absent.key) == ("failed", "console.oidc_issuer") and "HTTP 404" in absent.message


async def test_an_account_that_refuses_the_token(world: World, sqlite_url: str) -> None:
    def elsewhere(data: dict[str, Any]) -> None:
        data["xurrent"]["account"] = "not-our-account"

    said = by_check(await run_checks(settings_of(world, sqlite_url, elsewhere)))
    me = said[("Xurrent", "me")]
    assert (me.status, me.key) == ("refused", "xurrent.account")
    assert me.message.startswith("Xurrent (me): account 'not-our-account' refused the token: set xurrent.account")
    assert "HTTP 403" in me.message


async def test_ids_the_systems_do_not_know(world: World, sqlite_url: str) -> None:
    def unknown(data: dict[str, Any]) -> None:
        data["services"][1]["itsm"]["service_instance_id"] = 987654
        data["services"][1]["teams"]["team_id"] = "00000000-0000-0000-0000-00000000dead"
        data["ai"]["model"] = "no-such-model"

    outcomes = await run_checks(settings_of(world, sqlite_url, unknown))
    said = by_check(outcomes)
    si = said[("Xurrent", "service instance #987654")]
    assert (si.status, si.key) == ("not_found", "services[1] (payments).itsm.service_instance_id")
    assert si.message.startswith("Xurrent (service instance #987654): services[1] (payments).itsm.service_instance_id "
                                 f"is 987654, which account '{world.xurrent.account}' does not have")
    team = said[("Microsoft Teams", "team 00000000-0000-0000-0000-00000000dead")]
    assert (team.status, team.key) == ("not_found", "services[1] (payments).teams.team_id")
    assert "which Microsoft Graph does not know as a team" in team.message
    model = said[("Model", "completion")]
    assert (model.status, model.key) == ("not_found", "ai.model")
    assert model.message.startswith("Model (completion): ai.model is 'no-such-model', which")
    # the rest still checks out
    assert said[("Xurrent", f"service instance #{world.service_instances['checkout-api']}")].ok
    assert said[("Microsoft Teams", f"team {world.teams.team_ids['checkout-api']}")].ok
    assert [o.status for o in outcomes].count("ok") == len(outcomes) - 3


async def test_unreachable_hosts_are_told_apart(world: World, sqlite_url: str) -> None:
    refused_port = free_port()
    async with BlackHole() as hole:
        def away(data: dict[str, Any]) -> None:
            data["slack"]["api_url"] = f"http://127.0.0.1:{refused_port}/api/"
            data["xurrent"]["oauth_url"] = "http://xurrent.warroom-preflight.invalid"
            data["webex"]["api_url"] = f"{hole.url}/v1"
            data["zoom"]["api_url"] = f"http://127.0.0.1:{refused_port}/v2"  # its token host answers

        said = by_check(await run_checks(settings_of(world, sqlite_url, away), probe_timeout=0.5))
    slack, xurrent, webex = said[("Slack", "auth.test")], said[("Xurrent", "token")], said[("Webex", "people/me")]
    assert [(o.status, o.key) for o in (slack, xurrent, webex)] == [
        ("unreachable", "slack.api_url"),
        ("unreachable", "xurrent.oauth_url (or xurrent.region / xurrent.environment)"),
        ("unreachable", "webex.api_url"),
    ]
    assert slack.message == (f"Slack (auth.test): http://127.0.0.1:{refused_port}/api/ could not be reached "
                             "(connection refused): check slack.api_url and that this host can reach it (DNS, "
                             "firewall, proxy).")
    assert "(the host name xurrent.warroom-preflight.invalid does not resolve)" in xurrent.message
    assert "(no answer within 0.5 s)" in webex.message
    # nothing else was asked of a system whose host is away; the others answered
    assert ("Xurrent", "me") not in said and world.slack.calls_to("auth.test") == []
    assert said[("Zoom", "token")].ok and said[("Model", "completion")].ok
    host = said[("Zoom", "host_user")]
    assert (host.status, host.key) == ("unreachable", "zoom.api_url") and "(connection refused)" in host.message


async def test_the_slack_scopes_are_those_of_the_app_manifest(world: World, sqlite_url: str) -> None:
    assert manifest_bot_scopes() <= set(world.slack.scopes.split(","))  # the sandbox app is installed as shipped
    world.slack.scopes = "channels:manage,chat:write,commands,users:read,users:read.email"
    [slack] = [o for o in await run_checks(settings_of(world, sqlite_url)) if o.system == "Slack"]
    assert (slack.status, slack.key) == ("failed", "slack.bot_token")
    assert slack.message.startswith(
        "Slack (auth.test): the bot token is @warroom (U0WARROOM) in " + world.slack.team_name + ", but it lacks "
        "bookmarks:read, bookmarks:write, channels:history, channels:read, groups:history, groups:read, pins:write, "
        "usergroups:read of the app manifest's bot scopes: add them to the Slack app"
    )


async def test_the_socket_mode_app_token_is_tried_without_connecting(world: World, sqlite_url: str) -> None:
    said = by_check(await run_checks(settings_of(world, sqlite_url, slack_mode="socket")))
    opened = said[("Slack", "apps.connections.open")]
    assert opened.ok and opened.message == (
        "Slack (apps.connections.open): slack.app_token may open Socket Mode connections (none was kept open).")
    assert len(world.slack.calls_to("apps.connections.open")) == 1
    assert world.slack.socket.opened == 0 and world.slack.socket.connections == []  # the ticket was not used

    def wrong(data: dict[str, Any]) -> None:
        data["slack"]["app_token"] = "xapp-1-not-the-token"

    [bot, socket] = [o for o in await run_checks(settings_of(world, sqlite_url, wrong, slack_mode="socket"))
                     if o.system == "Slack"]
    assert bot.ok  # the bot token is a credential of its own
    assert (socket.status, socket.key) == ("refused", "slack.app_token")
    assert socket.message.startswith("Slack (apps.connections.open): Slack refused slack.app_token for Socket Mode: ")
    assert "'invalid_auth': the token is not valid" in socket.message and "not-the-token" not in socket.message
    # the bot token in its place is told for what it is
    def bot_token(data: dict[str, Any]) -> None:
        data["slack"]["app_token"] = data["slack"]["bot_token"]

    [socket] = [o for o in await run_checks(settings_of(world, sqlite_url, bot_token, slack_mode="socket"))
                if o.check == "apps.connections.open"]
    assert socket.status == "refused" and "that is not an app-level token (xapp-…)" in socket.message


async def test_serve_leaves_the_app_token_to_its_own_connection(world: World, sqlite_url: str) -> None:
    # serve opens the Socket Mode connection itself as it starts: its check does not spend a second Tier 1 call
    outcomes = await log_checks(settings_of(world, sqlite_url, slack_mode="socket"))
    assert [o.check for o in outcomes if o.system == "Slack"] == ["auth.test"]
    assert world.slack.calls_to("apps.connections.open") == []


async def test_the_zoom_host_user_must_exist_be_active_and_licensed(world: World, sqlite_url: str) -> None:
    world.zoom.add_user("basic@example.com", user_type=1)
    world.zoom.add_user("gone@example.com", status="inactive")

    async def host_check(host: str) -> Outcome:
        def tweak(data: dict[str, Any]) -> None:
            data["zoom"]["host_user"] = host

        return by_check(await run_checks(settings_of(world, sqlite_url, tweak)))[("Zoom", "host_user")]

    nobody = await host_check("nobody@example.com")
    assert (nobody.status, nobody.key) == ("not_found", "zoom.host_user")
    assert nobody.message == ("Zoom (host_user): zoom.host_user is 'nobody@example.com', which Zoom account "
                              "sandbox-account does not have: set it to the email or id of a licensed user of that "
                              "account who may host the bridges (or 'me', the account's owner).")
    basic = await host_check("basic@example.com")
    assert (basic.status, basic.key) == ("failed", "zoom.host_user")
    assert "a Basic (unlicensed) user: Zoom cuts unlicensed meetings off after 40 minutes" in basic.message
    gone = await host_check("gone@example.com")
    assert (gone.status, gone.key) == ("failed", "zoom.host_user") and "is deactivated in Zoom" in gone.message
    assert world.zoom.meetings == {}
    # an app without the scope to read users cannot tell: said so, naming the scope
    world.zoom.scopes.discard("user:read:user:admin")
    unread = await host_check("owner@example.com")
    assert (unread.status, unread.key) == ("refused", "zoom.client_id")
    assert unread.message == (
        "Zoom (host_user): the Server-to-Server OAuth app may not read users, so zoom.host_user could not be checked: "
        "add the scope user:read:user:admin to the app (Zoom App Marketplace → the app → Scopes; Zoom asked for one of "
        "user:read:user:admin, user:read:admin).")


async def test_a_webex_token_that_may_not_schedule_meetings(world: World, sqlite_url: str) -> None:
    world.webex.scopes.discard("meeting:schedules_write")
    said = by_check(await run_checks(settings_of(world, sqlite_url)))
    assert said[("Webex", "people/me")].ok  # the token itself is good
    meetings = said[("Webex", "meetings")]
    assert (meetings.status, meetings.key) == ("refused", "webex.token")
    assert meetings.message == (
        "Webex (meetings): webex.token belongs to Sandbox Host (host@example.com), and Webex does not let it schedule "
        "meetings (HTTP 403): use a token with the meeting:schedules_write and meeting:schedules_read scopes, of a "
        "user with a Webex Meetings licence, in WARROOM_WEBEX__TOKEN (or webex.token_file).")


async def test_teams_without_the_bot_framework_in_the_tenant(world: World, sqlite_url: str) -> None:
    world.teams.tenant.resources.discard("https://api.botframework.com")  # never registered as an Azure Bot
    said = by_check(await run_checks(settings_of(world, sqlite_url)))
    assert said[("Microsoft Teams", "token")].ok  # Graph's token, same app and secret
    bot = said[("Microsoft Teams", "Bot Connector token")]
    assert (bot.status, bot.key) == ("refused", "teams.app_id")
    assert bot.message.startswith("Microsoft Teams (Bot Connector token): the bot gets no token to post with: Entra "
                                  "ID issues no token for https://api.botframework.com in this tenant (invalid_resource")
    assert "AADSTS500011" in bot.message and "register the app (teams.app_id) as an Azure Bot" in bot.message


async def test_the_teams_meeting_organizer(world: World, sqlite_url: str) -> None:
    def nobody(data: dict[str, Any]) -> None:
        data["teams"]["meeting_organizer"] = "nobody@example.com"

    missing = by_check(await run_checks(settings_of(world, sqlite_url, nobody)))[("Microsoft Teams", "meeting organizer")]
    assert (missing.status, missing.key) == ("not_found", "teams.meeting_organizer")
    assert missing.message.startswith("Microsoft Teams (meeting organizer): teams.meeting_organizer is "
                                      "'nobody@example.com', which the tenant's directory does not have")
    world.teams.tenant.policy_users.clear()  # no application access policy for anyone
    said = by_check(await run_checks(settings_of(world, sqlite_url)))
    organizer = said[("Microsoft Teams", "meeting organizer")]
    assert (organizer.status, organizer.key) == ("refused", "teams.meeting_organizer")
    assert organizer.message == (
        "Microsoft Teams (meeting organizer): teams.meeting_organizer is Warroom Bridges (bridges@example.com), but no "
        "application access policy lets the app organise their meetings: a Teams administrator runs "
        f"New-CsApplicationAccessPolicy -AppIds {world.teams.tenant.app_id}, then Grant-CsApplicationAccessPolicy for "
        "bridges@example.com (it may take half an hour to apply).")
    assert world.teams.tenant.meetings == {}


def config_file(tmp_path: Path, data: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    """The settings as an operator writes them: the file without secrets, the secrets in the environment."""
    for section, key in SECRET_KEYS:
        value = data.get(section, {}).pop(key, None)
        if value is not None:
            monkeypatch.setenv(f"WARROOM_{section.upper()}__{key.upper()}", str(value))
    path = tmp_path / "warroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


async def test_check_config_online(
    world: World, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = config_file(tmp_path, world_data(world, sqlite_url), monkeypatch)
    assert await asyncio.to_thread(main, ["--config", path, "check-config", "--online"]) == 0
    out = capsys.readouterr().out
    assert "The configuration is valid" in out and "Online checks (16):" in out and "All 16 online checks passed." in out
    assert "  ok    Webex (people/me): the token is Sandbox Host (host@example.com)." in out
    monkeypatch.setenv("WARROOM_WEBEX__TOKEN", "not-the-token")
    assert await asyncio.to_thread(main, ["--config", path, "check-config", "--online"]) == 1
    captured = capsys.readouterr()
    assert "  FAIL  Webex (people/me): Webex refused the access token" in captured.out
    # the token refused, whether it may schedule meetings is not asked: 15 checks
    assert "webex.token" in captured.out and "1 of 15 online check(s) failed." in captured.err
    # without --online nothing is asked
    calls = len(world.webex.calls)
    assert await asyncio.to_thread(main, ["--config", path, "check-config"]) == 0
    assert len(world.webex.calls) == calls and "Online" not in capsys.readouterr().out


async def test_check_config_online_runs_only_on_a_valid_configuration(
    world: World, sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = world_data(world, sqlite_url)
    data["slack"]["command"] = "/incident"
    path = config_file(tmp_path, data, monkeypatch)
    assert await asyncio.to_thread(main, ["--config", path, "check-config", "--online"]) == 1
    err = capsys.readouterr().err
    assert "slack.command is '/incident'" in err and "The online checks did not run" in err
    assert world.slack.calls_to("auth.test") == []


class Heard(logging.Handler):
    """The records of a logger whose message holds ``needle``; ``event`` is set by the first."""

    def __init__(self, needle: str) -> None:
        super().__init__(logging.DEBUG)
        self.needle = needle
        self.records: list[logging.LogRecord] = []
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.records.append(record)
            self.event.set()


async def test_serve_checks_in_the_background_and_warns(world: World, sqlite_url: str) -> None:
    logger = logging.getLogger("warroom.preflight")
    slack, webex = Heard("Slack (auth.test)"), Heard("Webex (people/me)")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(slack)
    logger.addHandler(webex)
    try:
        async with BlackHole() as hole:
            def tweak(data: dict[str, Any]) -> None:
                data["slack"]["bot_token"] = "xoxb-not-the-token"
                data["ai"]["base_url"] = f"{hole.url}/v1"  # never answers: the check is still running once serving

            app = create_app(settings_of(world, sqlite_url, tweak), workers=False, preflight=True)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            try:
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                async with httpx.AsyncClient() as client:
                    assert (await client.get(f"http://127.0.0.1:{bound_port(site)}/healthz")).status_code == 200
                await hole.connected.wait()
                assert not app[PREFLIGHT].done()  # serving while the model's host is still being waited for
                await slack.event.wait()
                await webex.event.wait()
            finally:
                await runner.cleanup()  # stops the check still waiting for the model
            assert app[PREFLIGHT].cancelled()
    finally:
        logger.removeHandler(slack)
        logger.removeHandler(webex)
        logger.setLevel(level)
    [warning] = slack.records
    assert warning.levelno == logging.WARNING
    assert warning.getMessage().startswith("start-up check failed: Slack (auth.test): ")
    assert "slack.bot_token" in warning.getMessage()
    [ok] = webex.records
    assert ok.levelno == logging.INFO and ok.getMessage().startswith("start-up check: Webex (people/me): the token is")
