"""`warroom init`'s file: every setting, its documentation from the model, secrets only as placeholders; it loads
to the defaults, and what check-config then asks for is only what a deployment must supply."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from warroom.cli import main
from warroom.settings import SECRET_KEYS, Settings, load_settings
from warroom.settings.model import ServiceSettings
from warroom.settings.template import ACTIVE, render

ROOT = Path(__file__).resolve().parents[2]


def _keys(cls: type[BaseModel], prefix: str) -> list[str]:
    out = []
    for key, field in cls.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out += _keys(annotation, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key}")
    return out


def every_key() -> list[str]:
    keys = [k for k in _keys(Settings, "") if not k.startswith("services")]
    return keys + _keys(ServiceSettings, "services[].")


def test_the_file_names_every_setting_and_no_secret_value() -> None:
    text = render()
    assert yaml.safe_load(text)  # valid YAML
    for key in every_key():
        leaf = key.rsplit(".", 1)[-1]
        section = key.split(".", 1)[0]
        if (section, leaf) in SECRET_KEYS:
            assert re.search(rf"#\s+{leaf}_file: /run/secrets/{section}_{leaf}", text), key
            assert re.search(rf"^\s*{leaf}:", text, re.M) is None, f"{key} is a secret: never active"
        else:
            assert re.search(rf"^\s*(#\s*)?-?\s*{leaf}:", text, re.M), f"{key} is missing from the template"


def test_the_file_loads_to_the_defaults_and_check_config_asks_only_for_what_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "warroom.yaml"
    assert main(["init", "--out", str(path)]) == 0
    assert main(["init", "--out", str(path)]) == 1  # never writes over a file unasked
    data = yaml.safe_load(path.read_text())
    assert data["server"]["public_url"] == ACTIVE[("server", "public_url")]
    settings = Settings(**{k: v for k, v in data.items()})
    defaults = Settings(services=[{"name": "checkout-api"}])
    assert settings.worker == defaults.worker and settings.intake == defaults.intake and settings.ai == defaults.ai
    capsys.readouterr()
    assert main(["--config", str(path), "check-config"]) == 1
    problems = [line for line in capsys.readouterr().err.splitlines() if line.startswith("  - ")]
    assert problems and all("not set" in p or "no token" in p for p in problems), problems
    # what is missing is supplied by the environment and files, as the file says: then it checks out
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name in ("slack_bot_token", "slack_signing_secret", "xurrent_client_secret", "zoom_client_secret",
                 "intake_alertmanager_token"):
        (secrets / name).write_text("x" * 24)
    env = {f"WARROOM_{s.upper()}__{k.upper()}_FILE": str(secrets / f"{s}_{k}") for s, k in [
        ("slack", "bot_token"), ("slack", "signing_secret"), ("xurrent", "client_secret"), ("zoom", "client_secret"),
        ("intake", "alertmanager_token")]}
    mp = pytest.MonkeyPatch()
    try:
        for name, value in {**env, "WARROOM_XURRENT__CLIENT_ID": "warroom", "WARROOM_ZOOM__ACCOUNT_ID": "a",
                            "WARROOM_ZOOM__CLIENT_ID": "z"}.items():
            mp.setenv(name, value)
        text = path.read_text().replace("    # itsm:\n      # enabled: true\n      # service_instance_id: null",
                                        "    itsm:\n      service_instance_id: 201")
        path.write_text(text)
        load_settings(path)
    finally:
        mp.undo()


def test_the_readme_documents_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    reference = readme[readme.index("## Configuration reference"):]
    missing = [key for key in every_key() if f"`{key.removeprefix('services[].')}`" not in reference
               and f"`{key}`" not in reference and f"{key.rsplit('.', 1)[-1]}`" not in reference]
    assert not missing, f"the README's configuration reference lacks {missing}"
