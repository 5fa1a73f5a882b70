"""Configuration: YAML + environment, secrets only from the environment or files, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from warroom.cli import main
from warroom.settings import ConfigError, load_settings

GOOD = {
    "slack": {"api_url": "http://slack.local/api/"},
    "xurrent": {"account": "acme", "client_id": "cid", "region": "au"},
    "zoom": {"account_id": "za", "client_id": "zc"},
    "services": [
        {"name": "checkout-api", "responders": ["Ana@Example.com"], "itsm": {"service_instance_id": 5}, "bridge": "zoom"}
    ],
}
SECRETS = {
    "WARROOM_SLACK__BOT_TOKEN": "xoxb-test",
    "WARROOM_SLACK__SIGNING_SECRET": "sig",
    "WARROOM_XURRENT__CLIENT_SECRET": "xs",
    "WARROOM_ZOOM__CLIENT_SECRET": "zs",
    "WARROOM_INTAKE__ALERTMANAGER_TOKEN": "tok",
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "warroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_yaml_plus_environment(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    env.setenv("WARROOM_SERVER__PORT", "9999")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.server.port == 9999
    assert settings.services[0].responders == ["ana@example.com"]
    assert settings.slack.bot_token is not None and settings.slack.bot_token.get_secret_value() == "xoxb-test"
    assert "xoxb-test" not in repr(settings)  # secrets never print


def test_config_file_from_environment_variable(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    env.setenv("WARROOM_CONFIG", str(write(tmp_path, GOOD)))
    assert load_settings().xurrent.account == "acme"


# Every region × environment of ../shared/reference/xurrent-itsm.md ("Hosts"): production and QA have regional
# hosts, demo has one set only. The account's web host (browser links, the webhook issuer) follows the same rule.
XURRENT_HOSTS = [
    ("global", "production", "https://api.xurrent.com/v1", "https://oauth.xurrent.com", "https://acme.xurrent.com"),
    ("au", "production", "https://api.au.xurrent.com/v1", "https://oauth.au.xurrent.com", "https://acme.au.xurrent.com"),
    ("uk", "production", "https://api.uk.xurrent.com/v1", "https://oauth.uk.xurrent.com", "https://acme.uk.xurrent.com"),
    ("ch", "production", "https://api.ch.xurrent.com/v1", "https://oauth.ch.xurrent.com", "https://acme.ch.xurrent.com"),
    ("us", "production", "https://api.us.xurrent.com/v1", "https://oauth.us.xurrent.com", "https://acme.us.xurrent.com"),
    ("global", "qa", "https://api.xurrent.qa/v1", "https://oauth.xurrent.qa", "https://acme.xurrent.qa"),
    ("au", "qa", "https://api.au.xurrent.qa/v1", "https://oauth.au.xurrent.qa", "https://acme.au.xurrent.qa"),
    ("uk", "qa", "https://api.uk.xurrent.qa/v1", "https://oauth.uk.xurrent.qa", "https://acme.uk.xurrent.qa"),
    ("ch", "qa", "https://api.ch.xurrent.qa/v1", "https://oauth.ch.xurrent.qa", "https://acme.ch.xurrent.qa"),
    ("us", "qa", "https://api.us.xurrent.qa/v1", "https://oauth.us.xurrent.qa", "https://acme.us.xurrent.qa"),
    ("global", "demo", "https://api.xurrent-demo.com/v1", "https://oauth.xurrent-demo.com", "https://acme.xurrent-demo.com"),
    ("au", "demo", "https://api.xurrent-demo.com/v1", "https://oauth.xurrent-demo.com", "https://acme.xurrent-demo.com"),
    ("uk", "demo", "https://api.xurrent-demo.com/v1", "https://oauth.xurrent-demo.com", "https://acme.xurrent-demo.com"),
    ("ch", "demo", "https://api.xurrent-demo.com/v1", "https://oauth.xurrent-demo.com", "https://acme.xurrent-demo.com"),
    ("us", "demo", "https://api.xurrent-demo.com/v1", "https://oauth.xurrent-demo.com", "https://acme.xurrent-demo.com"),
]


def test_the_host_table_covers_every_region_and_environment() -> None:
    from typing import get_args

    from warroom.settings.model import XurrentEnvironment, XurrentRegion

    every = {(r, e) for r in get_args(XurrentRegion) for e in get_args(XurrentEnvironment)}
    assert sorted((r, e) for r, e, *_ in XURRENT_HOSTS) == sorted(every)


@pytest.mark.parametrize(("region", "environment", "api", "oauth", "web"), XURRENT_HOSTS,
                         ids=[f"{r}-{e}" for r, e, *_ in XURRENT_HOSTS])
def test_xurrent_hosts_from_region_and_environment(
    region: str, environment: str, api: str, oauth: str, web: str
) -> None:
    from warroom.settings import Settings, XurrentSettings
    from warroom.sync.provision import issuer_for

    x = XurrentSettings(account="acme", region=region, environment=environment)  # type: ignore[arg-type]
    assert x.hosts() == (api, oauth)
    # every browser link (the cards' "Open ITSM request", the AI's sources) and the webhook issuer: one host
    assert x.request_url(42) == f"{web}/requests/42"
    assert x.issuer() == web
    assert issuer_for(Settings(xurrent=x)) == web


def test_xurrent_host_overrides() -> None:
    from warroom.settings import XurrentSettings

    assert XurrentSettings(api_url="http://x/v1/", oauth_url="http://o").hosts() == ("http://x/v1", "http://o")
    x = XurrentSettings(account="acme", region="uk", web_url="https://itsm.acme.example/", webhook_issuer="https://i")
    assert x.request_url(7) == "https://itsm.acme.example/requests/7"
    # web_url is where people browse (a proxy, say); the token's issuer stays the account unless configured
    assert (x.issuer(), XurrentSettings(account="acme", region="uk").issuer()) == ("https://i", "https://acme.uk.xurrent.com")


def test_secret_from_file(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    env.delenv("WARROOM_XURRENT__CLIENT_SECRET")
    secret = tmp_path / "xurrent.secret"
    secret.write_text("from-file\n")
    data = {**GOOD, "xurrent": {**GOOD["xurrent"], "client_secret_file": str(secret)}}  # type: ignore[dict-item]
    settings = load_settings(write(tmp_path, data))
    assert settings.xurrent.client_secret is not None
    assert settings.xurrent.client_secret.get_secret_value() == "from-file"


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "slack": {"bot_token": "xoxb-in-yaml"},
        "database": {"url": "postgresql+asyncpg://warroom:hunter2@db/warroom"},
        "priorities": ["P1", "P2", "P3"],
        "services": [
            {"name": "Bad Name", "responders": ["not-an-email"]},
            {"name": "ok", "declare_threshold": "P9", "itsm": {"impact_mapping": {"P1": "top"}}, "bridge": "webex",
             "slack": {"name_pattern": "war-{slug}"}},
        ],
        "typo_section": {},
    }
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, bad))
    text = "\n".join(err.value.problems)
    # pydantic's problems come first (they stop the model), each naming its key
    assert "services.0.responders" in text and "typo_section" in text
    bad.pop("typo_section")
    bad["services"][0]["responders"] = []  # type: ignore[index]
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, bad))
    problems = err.value.problems
    joined = "\n".join(problems)
    for needle in [
        "slack.bot_token is a secret",
        "database.url carries a password",
        "must be lower-case letters",
        "declare_threshold is 'P9'",
        "impact_mapping needs at least 4 priorities",
        "service_instance_id is not set",
        "name_pattern must contain {number}",
        "webex.token is not set",
        "xurrent.account is not set",
        "intake has no token",
    ]:
        assert needle in joined, needle
    assert len(problems) >= 9


def test_check_config_command(tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(write(tmp_path, GOOD)), "check-config"]) == 0
    assert "valid" in capsys.readouterr().out
    assert main(["--config", str(write(tmp_path, {"services": [{"name": "x", "bridge": "teleport"}]})), "check-config"]) == 1
    err = capsys.readouterr().err
    assert "problem(s)" in err and "bridge" in err and "Traceback" not in err
    assert main(["--config", str(tmp_path / "missing.yaml"), "check-config"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_secret_from_a_file_named_in_the_environment(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    env.delenv("WARROOM_SLACK__SIGNING_SECRET")
    secret = tmp_path / "signing"
    secret.write_text("s3cret")
    env.setenv("WARROOM_SLACK__SIGNING_SECRET_FILE", str(secret))
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.slack.signing_secret is not None and settings.slack.signing_secret.get_secret_value() == "s3cret"
