"""Every snippet in the README works: each `warroom …` command line parses with the real command line (its
subcommand and options exist), each exported `WARROOM_*` variable names a real setting, each configuration
fragment is valid in warroom's settings model, the Alertmanager receiver passes the real `amtool check-config`
(where Alertmanager is installed; in CI it is), and the generic alert example is taken by the generic parser."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from warroom.cli import build_parser
from warroom.settings import SECRET_KEYS, Settings
from warroom.web.alert_sources import parse_generic

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.M | re.S)


def _blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCKS if lang == language]


def _commands() -> list[list[str]]:
    """The arguments of every `warroom` command line in the shell snippets (redirections and comments dropped)."""
    out = []
    for body in _blocks("sh"):
        for line in body.splitlines():
            line = line.split("  #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            for part in re.split(r"&&|;", line):
                words = shlex.split(part, comments=True)
                if not words or not (words[0] == "warroom" or words[0].endswith("/warroom")):
                    continue
                args = words[1:]
                if ">" in args:
                    args = args[: args.index(">")]
                out.append(args)
    return out


def test_the_readme_shows_commands() -> None:
    assert len(_commands()) >= 10


@pytest.mark.parametrize("args", _commands(), ids=lambda a: " ".join(a))
def test_every_command_line_in_the_readme_parses(args: list[str]) -> None:
    parser = build_parser()
    try:
        parsed = parser.parse_args(args)
    except SystemExit as exc:  # argparse's refusal
        pytest.fail(f"`warroom {' '.join(args)}` does not parse (exit {exc.code})")
    assert callable(parsed.func)


def _exported() -> list[str]:
    names = re.findall(r"\b(WARROOM_[A-Z_]+__[A-Z_]+)\b", README)
    return sorted(set(names))


@pytest.mark.parametrize("name", _exported())
def test_every_variable_the_readme_names_is_a_setting(name: str) -> None:
    section, _, key = name.removeprefix("WARROOM_").lower().partition("__")
    if key.endswith("_file") and (section, key.removesuffix("_file")) in SECRET_KEYS:
        key = key.removesuffix("_file")
    if section == "database" and key == "url_file":
        key = "url"
    field = Settings.model_fields.get(section)
    assert field is not None and field.annotation is not None, f"{name}: no section {section}"
    if key in ("<key>", ""):
        return
    assert key in field.annotation.model_fields, f"{name} names no setting {section}.{key}"  # type: ignore[union-attr]


def _base() -> dict[str, Any]:
    return {"services": [{"name": "checkout-api", "responders": ["ana@example.com"]}]}


def _merge(into: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def _fragments() -> list[dict[str, Any]]:
    docs = [yaml.safe_load(body) for body in _blocks("yaml")]
    return [d for d in docs if isinstance(d, dict) and "receivers" not in d]


def test_the_readme_shows_configuration() -> None:
    assert len(_fragments()) >= 3


@pytest.mark.parametrize("fragment", _fragments(), ids=lambda f: ",".join(f))
def test_every_configuration_fragment_is_valid(fragment: dict[str, Any]) -> None:
    Settings(**_merge(_base(), fragment))  # raises with the reason when a key or value is wrong


def _alertmanager() -> str:
    (body,) = [b for b in _blocks("yaml") if "receivers:" in b]
    return body


def test_the_alertmanager_receiver_posts_to_the_intake_with_a_bearer_token(tmp_path: Path) -> None:
    config = yaml.safe_load(_alertmanager())
    (hook,) = config["receivers"][0]["webhook_configs"]
    assert hook["url"].endswith("/alerts/alertmanager") and hook["send_resolved"] is True
    assert hook["http_config"]["authorization"]["type"] == "Bearer"
    amtool = shutil.which("amtool")
    if amtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("amtool must be installed in CI (.ci/run installs Debian's prometheus-alertmanager)")
        pytest.skip("amtool is not installed (apt-get install prometheus-alertmanager); only the YAML shape was checked")
    token = tmp_path / "warroom_token"
    token.write_text("x")
    path = tmp_path / "alertmanager.yml"
    path.write_text(_alertmanager().replace("/etc/alertmanager/warroom_token", str(token)))
    checked = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_generic_alert_example_is_taken() -> None:
    (example,) = [b for b in _blocks("json") if '"title"' in b]
    (alert,) = parse_generic(example.encode(), service_label="service", severity_label="severity", max_alerts=10)
    assert alert.service == "orders" and alert.name
