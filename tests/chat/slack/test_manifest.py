"""The Slack app manifest asks for exactly the scopes the code's Web API calls need, and points at our routes."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from warroom.settings import Settings

ROOT = Path(__file__).resolve().parents[3]

#: Slack Web API method → the bot scope it needs (api.slack.com/methods, for public and, where listed, private channels).
METHOD_SCOPES = {
    "auth.test": set(),
    "bookmarks.add": {"bookmarks:write"},
    "bookmarks.list": {"bookmarks:read"},
    "chat.postEphemeral": {"chat:write"},
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


def test_manifest_shortcut_is_the_one_the_app_handles() -> None:
    from warroom.chat.slack import forms

    manifest = yaml.safe_load((ROOT / "warroom/chat/slack/app_manifest.yaml").read_text())
    (shortcut,) = manifest["features"]["shortcuts"]
    assert (shortcut["callback_id"], shortcut["type"]) == (forms.ADD_TO_INCIDENT, "message")
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://WARROOM_HOST/slack/events"


def test_manifest_command_and_urls() -> None:
    manifest = yaml.safe_load((ROOT / "warroom/chat/slack/app_manifest.yaml").read_text())
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == f"/{Settings().slack.command}"
    assert command["should_escape"] is True  # mentions arrive as <@U…>, which the grammar reads
    for url in (command["url"], manifest["settings"]["interactivity"]["request_url"]):
        assert url == "https://WARROOM_HOST/slack/events"
    assert "/slack/events" in (ROOT / "warroom/web/app.py").read_text()
