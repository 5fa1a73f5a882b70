"""The container image and the compose file, tested as far as a machine without a container engine can.

The Dockerfile's entry point is a real `warroom` command, its health check (the exact command it runs) passes
against a real server and fails against none, it runs as a non-root user; compose.yaml parses, every
``WARROOM_*`` variable it sets names a real setting (``_FILE`` only for secrets), and the README names them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from warroom.cli import main
from warroom.sandbox.harness import Harness
from warroom.settings import SECRET_KEYS, Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _instruction(name: str) -> list[str]:
    """The JSON (exec-form) arguments of the last ``name`` instruction, continuation lines joined."""
    joined = DOCKERFILE.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if line.startswith(f"{name} ")]
    assert lines, f"the Dockerfile has no {name}"
    args = lines[-1][len(name) + 1 :].strip()
    if name == "HEALTHCHECK":
        args = args[args.index("CMD ") + 4 :]
    parsed = json.loads(args)
    assert isinstance(parsed, list)
    return [str(a) for a in parsed]


def test_the_image_runs_warroom_serve_as_a_non_root_user() -> None:
    assert _instruction("ENTRYPOINT") == ["warroom"] and _instruction("CMD") == ["serve"]
    users = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^FROM python:\$\{PYTHON_VERSION\}-slim AS build", DOCKERFILE, re.M)  # multi-stage, slim
    with pytest.raises(SystemExit) as done:
        main(["serve", "--help"])  # the entry point's command exists
    assert done.value.code == 0


async def test_the_health_check_command_passes_against_a_running_server(sqlite_url: str) -> None:
    check = _instruction("HEALTHCHECK")
    assert check[0] == "python"
    h = await Harness.start(sqlite_url, workers=False)
    try:
        port = h.base_url.rsplit(":", 1)[1]
        env = {**os.environ, "WARROOM_SERVER__PORT": port}
        # the server runs in this process's event loop: run the check without blocking it
        proc = await asyncio.create_subprocess_exec(sys.executable, *check[1:], env=env)
        assert await proc.wait() == 0
    finally:
        await h.stop()
    closed = await asyncio.create_subprocess_exec(sys.executable, *check[1:], env=env, stderr=asyncio.subprocess.DEVNULL)
    assert await closed.wait() != 0  # nothing listening: unhealthy


def _compose() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _setting_exists(section: str, key: str) -> bool:
    block = Settings.model_fields.get(section)
    if block is None or block.annotation is None or not hasattr(block.annotation, "model_fields"):
        return False
    return key in block.annotation.model_fields


def test_compose_runs_warroom_with_postgresql_and_names_real_settings() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "warroom"} <= set(services)
    assert services["warroom"]["command"] == ["serve"] and services["migrate"]["command"] == ["migrate"]
    assert services["warroom"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = services["warroom"]["environment"]
    assert env["WARROOM_DATABASE__URL"].startswith("postgresql+asyncpg://")
    for name in env:
        if not name.startswith("WARROOM_") or name == "WARROOM_CONFIG":
            continue
        section, _, key = name.removeprefix("WARROOM_").lower().partition("__")
        if key.endswith("_file"):
            key = key.removesuffix("_file")
            assert (section, key) in SECRET_KEYS, f"{name}: only secrets are read from files"
        assert _setting_exists(section, key), f"{name} names no setting {section}.{key}"


def test_the_readme_names_the_variables_compose_sets() -> None:
    readme = (ROOT / "README.md").read_text()
    env = _compose()["services"]["warroom"]["environment"]
    missing = [name for name in env if name not in readme]
    assert not missing, f"the README does not name {missing}"
