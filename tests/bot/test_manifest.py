"""The Slack app manifest asks for exactly the scopes the code's Web API calls need, and points at our routes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

#: Slack Web API method → the bot scope it needs (api.slack.com/methods, for public and, where listed, private channels).
METHOD_SCOPES = {
    "auth.test": set(),
    "bookmarks.add": {"bookmarks:write"},
    "bookmarks.list": {"bookmarks:read"},
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.create": {"channels:manage"},
    "conversations.history": {"channels:history"},
    "conversations.invite": {"channels:manage"},
    "conversations.list": {"channels:read", "groups:read"},
    "conversations.setTopic": {"channels:manage"},
    "pins.add": {"pins:write"},
    "users.info": {"users:read", "users:read.email"},
    "users.lookupByEmail": {"users:read.email"},
}


def methods_called() -> set[str]:
    found: set[str] = set()
    for path in ["warroom/adapters/slack_api.py", "warroom/bot/slack_app.py"]:
        text = (ROOT / path).read_text()
        for snake in re.findall(r"client\.([a-z]+_[A-Za-z_]+)\(", text):
            family, _, method = snake.partition("_")
            if snake != "api_call":
                found.add(f"{family}.{method}")
        found.update(re.findall(r'api_call\(\s*"([a-z]+\.[A-Za-z]+)"', text))
    return found


def test_manifest_scopes_are_exactly_what_the_code_calls() -> None:
    manifest = yaml.safe_load((ROOT / "manifest/slack-app.yaml").read_text())
    called = methods_called()
    assert called - METHOD_SCOPES.keys() == set(), "a Slack method is called that this test does not know the scope of"
    needed = set().union(*(METHOD_SCOPES[m] for m in called)) | {"commands"}
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_manifest_command_and_urls() -> None:
    manifest = yaml.safe_load((ROOT / "manifest/slack-app.yaml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == f"/{Settings().slack.command}"
    assert command["should_escape"] is True  # mentions arrive as <@U…>, which the grammar reads
    for url in (command["url"], manifest["settings"]["interactivity"]["request_url"]):
        assert url == "https://WARROOM_HOST/slack/events"
    assert "/slack/events" in (ROOT / "warroom/web/app.py").read_text()
