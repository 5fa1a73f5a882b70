"""The Slack app manifest asks for exactly the scopes the code's Web API calls need, and points at our routes;
`warroom slack manifest` makes it from the package's template for HTTP request URLs or Socket Mode."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from warroom.chat.slack.manifest import ManifestError, base_url, bot_scopes, manifest
from warroom.cli import main
from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[3]

#: Slack Web API method → the bot scope it needs (api.slack.com/methods, for public and, where listed, private channels).
METHOD_SCOPES = {
    "apps.connections.open": set(),  # the app-level token's connections:write, no bot scope
    "auth.test": set(),
    "bookmarks.add": {"bookmarks:write"},
    "bookmarks.list": {"bookmarks:read"},
    "chat.postEphemeral": {"chat:write"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.archive": {"channels:manage"},
    "conversations.create": {"channels:manage"},
    "conversations.history": {"channels:history"},
    "conversations.invite": {"channels:manage"},
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.unarchive": {"channels:manage"},
    "conversations.setTopic": {"channels:manage"},
    "pins.add": {"pins:write"},
    "users.info": {"users:read", "users:read.email"},
    "users.lookupByEmail": {"users:read.email"},
    "usergroups.users.list": {"usergroups:read"},
    "views.open": set(),
}

#: Events API event → the subscriptions (and the scope each needs) for war rooms public and private.
EVENT_SUBSCRIPTIONS = {"message": {"message.channels": "channels:history", "message.groups": "groups:history"}}


def events_listened() -> set[str]:
    return set(re.findall(r'@app\.event\("([a-z_.]+)"\)', (ROOT / "warroom/chat/slack/app.py").read_text()))


def methods_called() -> set[str]:
    found: set[str] = set()
    for path in ["warroom/adapters/slack_api.py", "warroom/chat/slack/app.py", "warroom/chat/slack/notify.py"]:
        text = (ROOT / path).read_text()
        for snake in re.findall(r"client\.([a-z]+_[A-Za-z_]+)\(", text):
            if snake != "api_call":  # slack_sdk's names: dots become underscores (usergroups_users_list)
                found.add(snake.replace("_", "."))
        found.update(re.findall(r'api_call\(\s*"([a-z]+\.[A-Za-z]+)"', text))
    return found


def test_manifest_scopes_are_exactly_what_the_code_calls() -> None:
    manifest = yaml.safe_load((ROOT / "warroom/chat/slack/app_manifest.yaml").read_text())
    called = methods_called()
    assert called - METHOD_SCOPES.keys() == set(), "a Slack method is called that this test does not know the scope of"
    events = events_listened()
    assert events - EVENT_SUBSCRIPTIONS.keys() == set(), "an event is listened to that this test does not know"
    event_scopes = {scope for e in events for scope in EVENT_SUBSCRIPTIONS[e].values()}
    needed = set().union(*(METHOD_SCOPES[m] for m in called)) | {"commands"} | event_scopes
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed
    subscribed = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert subscribed == {name for e in events for name in EVENT_SUBSCRIPTIONS[e]}


def made(**kwargs: Any) -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load(manifest(**kwargs))
    return parsed


HTTP = made(command=Settings().slack.command, url="https://warroom.example.com")
SOCKET = made(command=Settings().slack.command, socket=True)


def test_the_made_manifests_ask_for_the_templates_scopes() -> None:
    template = yaml.safe_load((ROOT / "warroom/chat/slack/app_manifest.yaml").read_text())
    for made_one in (HTTP, SOCKET):
        assert made_one["oauth_config"] == template["oauth_config"]
        assert made_one["settings"]["event_subscriptions"]["bot_events"] == template["settings"]["event_subscriptions"]["bot_events"]
    assert bot_scopes() == template["oauth_config"]["scopes"]["bot"]


def test_manifest_shortcut_is_the_one_the_app_handles() -> None:
    from warroom.chat.slack import forms

    for made_one in (HTTP, SOCKET):
        (shortcut,) = made_one["features"]["shortcuts"]
        assert (shortcut["callback_id"], shortcut["type"]) == (forms.ADD_TO_INCIDENT, "message")


def test_http_manifest_points_every_request_at_the_events_route() -> None:
    command, oncall = HTTP["features"]["slash_commands"]
    assert command["command"] == f"/{Settings().slack.command}" == "/incident"
    assert oncall["command"] == f"/{Settings().slack.oncall_command}" == "/oncall"
    for each in (command, oncall):
        assert each["should_escape"] is True  # mentions arrive as <@U…>, which the grammars read
    urls = [command["url"], oncall["url"], HTTP["settings"]["interactivity"]["request_url"],
            HTTP["settings"]["event_subscriptions"]["request_url"]]
    assert urls == ["https://warroom.example.com/slack/events"] * 4
    assert HTTP["settings"]["socket_mode_enabled"] is False and HTTP["settings"]["interactivity"]["is_enabled"] is True
    assert 'app.router.add_post("/slack/events"' in (ROOT / "warroom/web/app.py").read_text()
    assert "list" in command["usage_hint"] and "override" in oncall["usage_hint"]


def test_socket_manifest_has_no_request_urls() -> None:
    commands = SOCKET["features"]["slash_commands"]
    assert commands == [{k: v for k, v in c.items() if k != "url"} for c in HTTP["features"]["slash_commands"]]
    settings = SOCKET["settings"]
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["interactivity"] and settings["interactivity"]["is_enabled"] is True
    assert "request_url" not in settings["event_subscriptions"]
    assert {k: v for k, v in SOCKET.items() if k != "settings" and k != "features"} == {
        k: v for k, v in HTTP.items() if k != "settings" and k != "features"}


def test_the_template_is_the_single_source_and_keeps_its_comments() -> None:
    template = (ROOT / "warroom/chat/slack/app_manifest.yaml").read_text()
    assert "WARROOM_HOST" in template and "/WARROOM_COMMAND" in template and "/incident" not in template
    assert "/WARROOM_ONCALL_COMMAND" in template and "/oncall" not in template
    text = manifest(command="major", url="https://warroom.example.com")
    assert "WARROOM" not in text and "# conversations.create, conversations.invite" in text
    assert made(command="/major", url="https://warroom.example.com")["features"]["slash_commands"][0]["command"] == "/major"
    commands = made(command="major", oncall_command="/rota", socket=True)["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/major", "/rota"]
    with pytest.raises(ManifestError, match="both '/major'"):
        manifest(command="major", oncall_command="major", socket=True)
    with pytest.raises(ManifestError, match=r"slack\.oncall_command is 'On Call'"):
        manifest(command="major", oncall_command="On Call", socket=True)


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://warroom.example.com", "https://warroom.example.com"),
        ("https://warroom.example.com/", "https://warroom.example.com"),
        ("  https://WarRoom.Example.com:8443/ ", "https://warroom.example.com:8443"),
        ("https://warroom.example.com:443", "https://warroom.example.com"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_url_is_normalised(url: str, base: str) -> None:
    assert base_url(url) == base


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://warroom.example.com", "must be an https address"),
        ("warroom.example.com", "must be an https address"),
        ("https://warroom.example.com/slack/events", "without a path: warroom adds /slack/events itself"),
        ("https://warroom.example.com/warroom", "without a path"),
        ("https://warroom.example.com/?x=1", "without a path"),
        ("https://warroom.example.com/#top", "without a path"),
        ("https://warroom.example.com?", "without a path"),
        ("https://user:pw@warroom.example.com", "user name or password"),
        ("https://", "no valid host name"),
        ("https://exa mple.com", "is not an address"),
        ("https://warroom.example.com:99999", "is not an address"),
        ("https://localhost:8080", "only this machine can reach"),
        ("https://127.0.0.1", "only this machine can reach"),
        ("https://war\nroom.example.com", "is not an address"),
        ("https://warroom.example.com\x1b[2J", "is not an address"),
        ("https://war_room.example.com", "no valid host name"),
    ],
)
def test_a_url_slack_cannot_post_to_is_refused(url: str, says: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(says)):
        base_url(url)


@pytest.mark.parametrize("command", ["Incident", "inc ident", "a" * 32, "", "inc:ident", "inc#x"])
def test_a_command_name_slack_refuses_is_said(command: str) -> None:
    with pytest.raises(ManifestError, match="Slack does not accept as a command name"):
        manifest(command=command, url="https://warroom.example.com")


def test_a_template_the_generator_does_not_understand_fails_loudly() -> None:
    template = (ROOT / "warroom/chat/slack/app_manifest.yaml").read_text()
    with pytest.raises(RuntimeError, match="placeholder"):
        manifest(command="incident", url="https://w.example.com", source=template.replace("display_information:",
                 "display_information:\n  long_description: WARROOM_OTHER"))
    with pytest.raises(RuntimeError, match="socket_mode_enabled"):
        manifest(command="incident", socket=True, source=template.replace("socket_mode_enabled: false", ""))
    with pytest.raises(RuntimeError, match="not shaped"):
        manifest(command="incident", url="https://w.example.com",
                 source=template.replace("    request_url: https://WARROOM_HOST/slack/events\n", "", 1))


# ---------------------------------------------------------------------------------------------- the command line


@pytest.fixture
def no_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """No configuration file and no tokens: the manifest comes first, before the app (and its tokens) exist."""
    for name in list(__import__("os").environ):
        if name.upper().startswith("WARROOM_"):
            monkeypatch.delenv(name)


def test_cli_prints_the_http_manifest_without_tokens(no_config: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--url", "https://warroom.example.com/"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out) == HTTP
    assert out.startswith("# warroom's Slack app (/incident, /oncall): Slack posts commands, clicks and events to "
                          "https://warroom.example.com/slack/events.")
    assert "WARROOM_SLACK__BOT_TOKEN" in err and "WARROOM_SLACK__SIGNING_SECRET" in err


def test_cli_socket_manifest_notes_the_app_level_token(no_config: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", "--socket"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out) == SOCKET and "slack/events" not in out
    assert "connections:write" in err and "WARROOM_SLACK__APP_TOKEN" in err and "connections:write" not in out
    assert main(["slack", "manifest", "--socket", "--url", "https://warroom.example.com"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out) == SOCKET and "is not used" in err


def test_cli_uses_the_configured_command(tmp_path: Path, no_config: None, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "warroom.yaml"
    config.write_text("slack: {command: major, mode: socket, bot_token_file: /nonexistent}\n")
    assert main(["--config", str(config), "slack", "manifest", "--url", "https://warroom.example.com"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out)["features"]["slash_commands"][0]["command"] == "/major"
    assert "slack.mode: socket" in err and "add --socket" in err
    monkeypatch.setenv("WARROOM_SLACK__COMMAND", "sev")
    monkeypatch.setenv("WARROOM_SLACK__ONCALL_COMMAND", "rota")
    assert main(["slack", "manifest", "--socket"]) == 0
    commands = yaml.safe_load(capsys.readouterr().out)["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/sev", "/rota"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--url", "http://warroom.example.com"], "--url must be an https address"),
        (["--url", "https://warroom.example.com/slack/events"], "warroom adds /slack/events itself"),
        ([], "Give the address Slack reaches warroom at"),
    ],
)
def test_cli_refuses_a_bad_url(args: list[str], says: str, no_config: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slack", "manifest", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and says in err


def test_cli_says_what_is_wrong_with_the_configuration(tmp_path: Path, no_config: None,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "warroom.yaml"
    config.write_text("slack: {command: [not, a, name]}\n")
    assert main(["--config", str(config), "slack", "manifest", "--socket"]) == 2
    assert "slack.command" in capsys.readouterr().err
    config.write_text("slack: {command: 'Major Incident'}\n")
    assert main(["--config", str(config), "slack", "manifest", "--socket"]) == 2
    assert "slack.command is 'Major Incident'" in capsys.readouterr().err
