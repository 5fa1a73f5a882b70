"""slack.mode: socket — the app-level token is a secret (environment or file only) and the checks say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from warroom.settings import ConfigError, Settings, check, load_settings

BASE: dict[str, Any] = {
    "slack": {"bot_token": "xoxb-test", "mode": "socket", "app_token": "xapp-1-A0WARROOM-1-abc"},
    "server": {"link_secret": "links"},
    "intake": {"alertmanager_token": "tok"},
    "xurrent": {"enabled": False},
}


def problems(**slack: Any) -> list[str]:
    data = {**BASE, "slack": {**BASE["slack"], **slack}}
    return [p for p in check(Settings(**data)) if "slack" in p or "link_secret" in p]


def test_http_is_the_default_and_needs_the_signing_secret() -> None:
    settings = Settings(slack={"bot_token": "xoxb-test"}, intake={"alertmanager_token": "tok"}, xurrent={"enabled": False})
    assert settings.slack.mode == "http" and settings.slack.app_token is None
    assert any(p.startswith("slack.signing_secret is not set") for p in check(settings))


def test_socket_mode_needs_an_app_level_token_not_a_signing_secret() -> None:
    assert problems() == []
    (missing,) = problems(app_token=None)
    assert missing.startswith("slack.mode is socket but slack.app_token is not set")
    assert "connections:write" in missing and "WARROOM_SLACK__APP_TOKEN" in missing
    (wrong,) = problems(app_token="xoxb-test")
    assert "not an app-level token" in wrong and "xapp-" in wrong


def test_socket_mode_without_a_signing_secret_needs_a_link_secret() -> None:
    data = {**BASE, "server": {}}
    (needed,) = [p for p in check(Settings(**data)) if "link_secret" in p]
    assert "WARROOM_SERVER__LINK_SECRET" in needed
    assert not [p for p in check(Settings(**{**data, "slack": {**BASE["slack"], "signing_secret": "sig"}}))
                if "link_secret" in p]


def test_the_app_token_comes_only_from_the_environment_or_a_file(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "warroom.yaml"
    config.write_text(yaml.safe_dump({"slack": {"mode": "socket", "app_token": "xapp-in-the-file"}}))
    with pytest.raises(ConfigError) as refused:
        load_settings(config)
    assert any("slack.app_token" in p and "WARROOM_SLACK__APP_TOKEN" in p for p in refused.value.problems)

    token_file = tmp_path / "app_token"
    token_file.write_text("xapp-1-A0WARROOM-1-from-file\n")
    config.write_text(yaml.safe_dump({"slack": {"mode": "socket", "app_token_file": str(token_file)}}))
    for key, value in {"WARROOM_SLACK__BOT_TOKEN": "xoxb-test", "WARROOM_SERVER__LINK_SECRET": "links",
                       "WARROOM_INTAKE__ALERTMANAGER_TOKEN": "tok", "WARROOM_XURRENT__ENABLED": "false"}.items():
        monkeypatch.setenv(key, value)
    settings = load_settings(config)
    assert settings.slack.app_token is not None
    assert settings.slack.app_token.get_secret_value() == "xapp-1-A0WARROOM-1-from-file"
    assert "xapp-1" not in repr(settings)
