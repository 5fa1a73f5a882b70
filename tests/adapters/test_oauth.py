"""authlib's "The httpx module is deprecated" notice does not reach operators: not on ``warroom --help``, not on a
command that loads the adapters. authlib installs an ``always`` filter of its own on import, so filters set before
it (the command line's, pytest's ``filterwarnings``) cannot hide it; the adapters import authlib's httpx client
through :mod:`warroom.adapters.oauth`, which ignores that one message around that one import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WARROOM = Path(sys.executable).with_name("warroom")


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter with Python's default warning filters and no warroom configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARROOM_", "PYTHONWARNINGS"))}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_warroom_help_prints_no_deprecation(tmp_path: Path) -> None:
    done = run([str(WARROOM), "--help"], tmp_path)
    assert done.returncode == 0 and "check-config" in done.stdout
    assert "deprecated" not in done.stderr.lower(), done.stderr


def test_a_command_that_loads_the_adapters_prints_no_deprecation(tmp_path: Path) -> None:
    # `itsm provision` imports the Xurrent adapter (authlib's httpx client) before it reads the configuration
    done = run([str(WARROOM), "itsm", "provision"], tmp_path)
    assert done.returncode == 2 and "The configuration is not usable" in done.stderr
    assert "deprecated" not in done.stderr.lower(), done.stderr


def test_importing_the_oauth_adapters_warns_nothing_and_leaves_other_authlib_warnings_alone(tmp_path: Path) -> None:
    code = (
        "import warroom.adapters.xurrent, warroom.adapters.microsoft.entra\n"
        "from authlib.deprecate import deprecate\n"
        "deprecate('another authlib deprecation')\n"
    )
    done = run([sys.executable, "-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "httpx module is deprecated" not in done.stderr, done.stderr
    assert "another authlib deprecation" in done.stderr  # only that one message is silenced
