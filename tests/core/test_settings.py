"""Configuration: YAML + environment, secrets only from the environment or files, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from warroom.cli import main
from warroom.settings import ConfigError, load_settings

GOOD = {
    "server": {"public_url": "https://warroom.example.com"},
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
    problems = err.value.problems
    joined = "\n".join(problems)
    # the schema's problems and the cross-field checks' together: a refused value hides nothing else
    for needle in [
        "services[0] (Bad Name).responders: not an email address: not-an-email.",
        "typo_section is not a known setting",
        "slack.bot_token is a secret",
        "database.url carries a password",
        "services[0] (Bad Name).name must be lower-case letters",
        "services[1] (ok).declare_threshold is 'P9'",
        "services[1] (ok).itsm.impact_mapping needs at least 4 priorities",
        "service_instance_id is not set",
        "services[1] (ok).slack.name_pattern must contain {number}",
        "webex.token is not set",
        "xurrent.account is not set",
        "intake has no token",
    ]:
        assert needle in joined, needle
    assert "Value error" not in joined and "services.0" not in joined
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


def problems_of(tmp_path: Path, data: object, *, serving: bool = False) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_settings(write(tmp_path, data), serving=serving)
    return err.value.problems


def with_(base: dict[str, object], **sections: dict[str, object]) -> dict[str, object]:
    out = dict(base)
    for name, values in sections.items():
        out[name] = {**out.get(name, {}), **values}  # type: ignore[dict-item]
    return out


def test_a_refused_value_hides_no_other_problem(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    data = {**GOOD, "intake": {"fallback_service": "nope"},
            "services": [GOOD["services"][0], {"name": "payments", "bridge": "teleport", "itsm": {
                "service_instance_id": 6, "severity_threshold": 5}}]}  # type: ignore[index]
    problems = problems_of(tmp_path, data)
    assert "services[1] (payments).bridge is 'teleport': input should be 'zoom', 'webex', 'teams' or 'none'." in problems
    assert "services[1] (payments).itsm.severity_threshold is 5: input should be a valid string." in problems
    # the cross-field checks ran on the rest
    assert any(p.startswith("intake.fallback_service is 'nope'") for p in problems), problems
    assert len(problems) == 3, problems  # nothing made up from the refused values' stand-ins


def test_a_service_without_a_name_and_a_misspelt_secret(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    data = {**GOOD, "slack": {"bot_tokn": "xoxb-typed-into-the-file"},
            "services": [{"responders": ["ana@example.com"], "bridge": "none", "itsm": {"enabled": False}},
                         GOOD["services"][0]]}  # type: ignore[index]
    problems = problems_of(tmp_path, data)
    assert "services[0].name is required: add it." in problems
    assert any(p.startswith("slack.bot_tokn is not a known setting") for p in problems)
    assert "xoxb-typed-into-the-file" not in "\n".join(problems)
    assert len(problems) == 2, problems


def test_urls_need_their_scheme(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    svc = {**GOOD["services"][0], "slack": {"bookmarks": {"Runbook": "runbooks.example.com/checkout",  # type: ignore[dict-item]
                                                          "Grafana": "https://grafana.example.com/d/1"}}}
    data = {**with_(GOOD, server={"public_url": "warroom.example.com"}, slack={"team_url": "acme.slack.com/"}),
            "services": [svc]}
    problems = problems_of(tmp_path, data)
    assert problems == [
        "server.public_url is 'warroom.example.com', which has no scheme: write the whole URL, e.g. "
        "'https://warroom.example.com'.",
        "slack.team_url is 'acme.slack.com/', which has no scheme: write the whole URL, e.g. 'https://acme.slack.com/'.",
        "services[0] (checkout-api).slack.bookmarks.Runbook is 'runbooks.example.com/checkout', which has no scheme: "
        "write the whole URL, e.g. 'https://runbooks.example.com/checkout'.",
    ]


def test_the_public_url_on_loopback_while_xurrent_must_reach_it(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    loopback = with_(GOOD, server={"public_url": "http://localhost:8080"})
    [problem] = problems_of(tmp_path, loopback)
    assert problem.startswith("server.public_url is 'http://localhost:8080', on this machine's loopback, but "
                              "Xurrent's webhooks (xurrent.enabled) must reach warroom")
    # no webhooks, or a Xurrent on this machine too (the sandbox): nothing to say
    load_settings(write(tmp_path, with_(loopback, xurrent={"enabled": False})))
    load_settings(write(tmp_path, with_(loopback, xurrent={"api_url": "http://127.0.0.1:9000/v1"})))


@pytest.mark.parametrize(("url", "advice"), [
    ("postgresql://warroom@db/warroom", "start it with postgresql+asyncpg:// instead"),
    ("postgres://warroom@db/warroom", "start it with postgresql+asyncpg:// instead"),
    ("postgresql+psycopg2://warroom@db/warroom", "start it with postgresql+asyncpg:// instead"),
    ("sqlite:///warroom.db", "start it with sqlite+aiosqlite:// instead"),
    ("mysql+aiomysql://warroom@db/warroom", "warroom runs on SQLite (sqlite+aiosqlite:///path.db) or PostgreSQL"),
    ("warroom.db", "database.url is not a database URL"),
])
def test_the_database_url_needs_an_async_driver(tmp_path: Path, env: pytest.MonkeyPatch, url: str, advice: str) -> None:
    [problem] = problems_of(tmp_path, with_(GOOD, database={"url": url}))
    assert problem.startswith("database.url ") and advice in problem


def test_a_password_in_the_database_url_is_never_repeated(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    env.setenv("WARROOM_DATABASE__URL", "postgresql://warroom:hunter2@db/warroom")
    [problem] = problems_of(tmp_path, GOOD)
    assert "postgresql+asyncpg://" in problem and "hunter2" not in problem


def test_the_command_and_the_dependencies(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    # a dependency outside the catalog (a database, a third party) is fine; one a typo away from a service is not
    svc = {**GOOD["services"][0], "depends_on": ["orders-db", "stripe", "chekout-api"]}  # type: ignore[dict-item]
    problems = problems_of(tmp_path, {**with_(GOOD, slack={"command": "/incident"}), "services": [svc]})
    assert problems == [
        "slack.command is '/incident': give the command without its slash ('incident').",
        "services[0] (checkout-api).depends_on names 'chekout-api', which is not a configured service: did you mean "
        "'checkout-api'? (A name outside the catalog is fine when meant.)",
    ]


def test_check_config_wants_a_file_and_a_catalog(
    tmp_path: Path, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.delenv("WARROOM_CONFIG", raising=False)
    env.chdir(tmp_path)
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "No configuration file was named: pass --config /path/to/warroom.yaml" in err and "WARROOM_CONFIG" in err
    assert "services is empty" in err
    assert main(["--config", str(write(tmp_path, {**GOOD, "services": []})), "check-config"]) == 1
    err = capsys.readouterr().err
    assert "services is empty: list at least one service" in err and "No configuration file" not in err
    # the tools that need no catalog (migrate, outbox) still load it
    assert load_settings(write(tmp_path, {**GOOD, "services": []})).services == []


def test_the_database_url_from_a_file(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    url_file = tmp_path / "database_url"
    url_file.write_text("postgresql+asyncpg://warroom:s3cret@db:5432/warroom\n")
    settings = load_settings(write(tmp_path, with_(GOOD, database={"url_file": str(url_file)})))
    assert settings.database.url == "postgresql+asyncpg://warroom:s3cret@db:5432/warroom"
    env.setenv("WARROOM_DATABASE__URL_FILE", str(url_file))
    assert load_settings(write(tmp_path, GOOD)).database.url.endswith("@db:5432/warroom")
    env.setenv("WARROOM_DATABASE__URL_FILE", str(tmp_path / "nowhere"))
    [problem] = problems_of(tmp_path, GOOD)
    assert problem.startswith(f"WARROOM_DATABASE__URL_FILE names {tmp_path / 'nowhere'}, which cannot be read")
