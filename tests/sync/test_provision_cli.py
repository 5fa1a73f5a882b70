"""``warroom itsm provision`` fails in one sentence on stderr with exit 1 — missing configuration, an unusable
database, Xurrent unreachable or refusing — never with a traceback; and provisions against the Xurrent emulator."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warroom.cli import main
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.xurrent import XurrentEmulator
from warroom.sync.provision import EVENTS

SECRET = "provision-client-secret"


def write_config(tmp_path: Path, xurrent: str, *, database: str | None = None) -> Path:
    path = tmp_path / "warroom.yaml"
    url = database or f"sqlite+aiosqlite:///{tmp_path / 'w.db'}"
    path.write_text(
        "slack:\n  enabled: false\n"
        f"database:\n  url: {url}\n"
        f"xurrent:\n{xurrent}",
        encoding="utf-8",
    )
    return path


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("WARROOM_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WARROOM_INTAKE__GENERIC_TOKEN", "provision-intake-token")


def provision(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["--config", str(path), "itsm", "provision"])
    err = capsys.readouterr().err
    return code, err


def one_sentence(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("warroom itsm provision: ") and lines[0].endswith(".")
    return lines[0]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_xurrent_turned_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = provision(write_config(tmp_path, "  enabled: false\n"), capsys)
    assert code == 1
    assert "xurrent.enabled is false" in one_sentence(err)


def test_the_account_and_the_oauth_application_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = provision(write_config(tmp_path, "  region: uk\n"), capsys)
    assert code == 1
    line = one_sentence(err)
    assert "xurrent.account, xurrent.client_id and xurrent.client_secret are not set" in line


def test_a_public_url_xurrent_cannot_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_XURRENT__CLIENT_SECRET", SECRET)
    code, err = provision(write_config(tmp_path, "  account: acme\n  client_id: app\n"), capsys)
    assert code == 1
    assert "server.public_url is http://127.0.0.1:8080, which Xurrent cannot reach" in one_sentence(err)


def test_xurrent_unreachable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_XURRENT__CLIENT_SECRET", SECRET)
    port = closed_port()
    path = write_config(tmp_path, f"  account: acme\n  client_id: app\n  api_url: http://127.0.0.1:{port}/v1\n"
                                  f"  oauth_url: http://127.0.0.1:{port}\n  max_retries: 0\n")
    code, err = provision(path, capsys)
    assert code == 1
    line = one_sentence(err)
    assert "Xurrent could not be reached or did not answer" in line and "xurrent.api_url" in line
    assert SECRET not in err


def test_an_unusable_database(tmp_path: Path) -> None:
    # in a process of its own: the SQLite driver's thread may outlive the command's event loop (harmless there)
    port = closed_port()
    path = write_config(tmp_path, f"  account: acme\n  client_id: app\n  api_url: http://127.0.0.1:{port}/v1\n"
                                  f"  oauth_url: http://127.0.0.1:{port}\n",
                        database=f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'w.db'}")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("WARROOM_")}
    env.update(WARROOM_XURRENT__CLIENT_SECRET=SECRET, WARROOM_INTAKE__GENERIC_TOKEN="provision-intake-token")
    done = subprocess.run([sys.executable, "-m", "warroom.cli", "--config", str(path), "itsm", "provision"],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert "The database could not be opened or brought up to date" in one_sentence(done.stderr)


# -- against the Xurrent emulator (the command runs in a process of its own, as people run it) -----------------------
@pytest.fixture
async def xurrent() -> AsyncIterator[XurrentEmulator]:
    emulator = XurrentEmulator(EmulatorConfig(), client_secret=SECRET)
    await emulator.start()
    yield emulator
    await emulator.stop()


async def run_cli(tmp_path: Path, emulator: XurrentEmulator, secret: str) -> tuple[int, str, str]:
    path = write_config(tmp_path, f"  account: {emulator.account}\n  client_id: {emulator.client_id}\n"
                                  f"  api_url: {emulator.base_url}/v1\n  oauth_url: {emulator.base_url}\n"
                                  "  max_retries: 0\n")
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("WARROOM_")}
    env.update(WARROOM_XURRENT__CLIENT_SECRET=secret, WARROOM_INTAKE__GENERIC_TOKEN="provision-intake-token")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "warroom.cli", "--config", str(path), "itsm", "provision",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_xurrent_refusing_the_client_secret(tmp_path: Path, xurrent: XurrentEmulator) -> None:
    code, _out, err = await run_cli(tmp_path, xurrent, "not-the-secret")
    assert code == 1
    line = one_sentence(err)
    assert "Xurrent refused the provisioning" in line and "xurrent.client_id" in line
    assert "not-the-secret" not in err


async def test_provisioned_against_the_emulator(tmp_path: Path, xurrent: XurrentEmulator) -> None:
    code, out, err = await run_cli(tmp_path, xurrent, SECRET)
    assert code == 0, err
    assert f"Provisioned: {len(EVENTS)} webhooks deliver to http://127.0.0.1:8080/webhooks/xurrent" in out
