"""An installed copy of warroom is complete: the wheel holds every file of the package (the Slack app manifest, the
Teams app package, the Alembic migrations — files the code finds with ``importlib.resources``, which an editable
install would find in the source tree whether they ship or not), and the wheel installed into a clean virtual
environment (its own site-packages only, dependencies from the package index pip is configured with) runs
``warroom --version``, ``warroom teams package`` and ``warroom migrate`` from there.

The tests marked ``packaging`` build and install for real: about 30 s, most of it pip installing the dependencies.
``make test`` runs them; ``pytest -m "not packaging"`` leaves them out while iterating.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest

from warroom.chat.teams.package import teams_app_id
from warroom.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]
BOT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
#: files that are not Python modules and that the code reads at run time: each must be in the wheel
DATA = (
    "warroom/chat/slack/app_manifest.yaml",
    "warroom/chat/teams/app_package/manifest.json",
    "warroom/chat/teams/app_package/color.png",
    "warroom/chat/teams/app_package/outline.png",
    "warroom/store/migrations/script.py.mako",
    "warroom/store/migrations/env.py",  # a directory without __init__.py: Alembic loads it by path
)
#: what the wheel's build leaves out of the copied tree (not package files)
SKIP_DIRS = {"__pycache__"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".db", ".db-journal", ".db-wal", ".db-shm")


def package_files(top: Path) -> set[str]:
    """Every file of the ``warroom`` package under ``top``, as wheel paths (``warroom/…``)."""
    return {
        path.relative_to(top).as_posix()
        for path in (top / "warroom").rglob("*")
        if path.is_file() and not SKIP_DIRS & set(path.parts) and not path.name.endswith(SKIP_SUFFIXES)
    }


def test_warroom_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"warroom {VERSION}\n"
    assert metadata.version("warroom") == VERSION


# -- the wheel, installed in a clean virtual environment ---------------------------------------------------


@dataclass
class Built:
    wheel: Path
    src: Path
    venv: Path
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that would let the clean venv see this checkout or this venv."""
    drop = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONWARNINGS", "VIRTUAL_ENV", "PYTHONUSERBASE")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("WARROOM_")}
    env.update(PIP_NO_INPUT="1", PYTHONNOUSERSITE="1", **extra)
    return env


def run(args: list[str | Path], *, cwd: Path, timeout: float = 600, **env: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    tmp = tmp_path_factory.mktemp("packaging")
    seconds: dict[str, float] = {}
    # build from a copy: a build writes build/ and *.egg-info next to pyproject.toml, and others share the checkout
    src = tmp / "src"
    src.mkdir()
    shutil.copytree(
        ROOT / "warroom", src / "warroom", ignore=shutil.ignore_patterns(*SKIP_DIRS, *(f"*{s}" for s in SKIP_SUFFIXES))
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    started = time.monotonic()
    # with build isolation: the build backend pyproject asks for comes from the index, as for any user
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp / "dist", src], cwd=tmp)
    seconds["build wheel"] = time.monotonic() - started
    (wheel,) = (tmp / "dist").glob("warroom-*.whl")

    started = time.monotonic()
    venv = tmp / "venv"
    # on the base interpreter (not on this venv), without system site-packages; without pip of its own either:
    # this venv's pip installs into it (``pip --python``), which saves seeding pip (~6 s) and nothing else changes
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=tmp)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    seconds["create venv"] = time.monotonic() - started
    started = time.monotonic()
    # the dependencies from the package index pip is configured with, as a user would get them; not compiling
    # every dependency's bytecode up front saves a third of the time
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-compile", wheel], cwd=tmp)
    seconds["install with dependencies"] = time.monotonic() - started
    paths = run([python, "-c", "import sys; print('\\n'.join(sys.path))"], cwd=tmp).stdout.split()
    assert [p for p in paths if p.startswith(str(ROOT))] == [], paths  # nothing of this checkout, nor its venv
    built = Built(wheel, src, venv, seconds)
    yield built
    print("\npackaging:", ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items()))


@pytest.mark.packaging
def test_the_wheel_holds_every_file_of_the_package(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as zf:
        names = set(zf.namelist())
        entry_points = zf.read(f"warroom-{VERSION}.dist-info/entry_points.txt").decode()
    shipped = {n for n in names if n.startswith("warroom/")}
    assert set(DATA) <= shipped
    assert package_files(built.src) - shipped == set(), "files of the package missing from the wheel"
    migrations = {n for n in package_files(built.src) if n.startswith("warroom/store/migrations/versions/")}
    assert migrations and migrations <= shipped
    assert "warroom = warroom.cli:main" in entry_points
    # and nothing but the package: no tests, no sandbox data from elsewhere
    assert {n.split("/")[0] for n in names} == {"warroom", f"warroom-{VERSION}.dist-info"}


@pytest.mark.packaging
def test_the_installed_copy_runs_from_its_own_site_packages(built: Built, tmp_path: Path) -> None:
    done = run([built.bin / "warroom", "--version"], cwd=tmp_path)
    assert done.stdout == f"warroom {VERSION}\n"
    code = (
        "import json, warroom, warroom.cli\n"
        "from importlib.resources import files\n"
        "print(json.dumps({'file': warroom.__file__,"
        " 'slack': files('warroom.chat.slack').joinpath('app_manifest.yaml').read_text(encoding='utf-8')}))\n"
    )
    done = run([built.bin / "python", "-c", code], cwd=tmp_path)
    found = json.loads(done.stdout)
    assert Path(found["file"]).is_relative_to(built.venv), found["file"]
    assert found["slack"] == (ROOT / "warroom/chat/slack/app_manifest.yaml").read_text(encoding="utf-8")
    assert "deprecated" not in done.stderr.lower()


def config(tmp_path: Path) -> Path:
    """The smallest valid configuration for the Teams package and the migrations (as tests/chat/teams uses)."""
    path = tmp_path / "warroom.yaml"
    path.write_text(
        json.dumps(
            {
                "server": {"public_url": "https://warroom.acme.example"},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'warroom.db'}"},
                "slack": {"enabled": False},
                "xurrent": {"enabled": False},
                "teams": {"app_id": BOT_ID},
                "services": [{"name": "checkout-api", "bridge": "none"}],
            }
        )
    )
    return path


@pytest.mark.packaging
def test_warroom_teams_package_from_the_installed_copy(built: Built, tmp_path: Path) -> None:
    out = tmp_path / "teams.zip"
    done = run(
        [built.bin / "warroom", "--config", config(tmp_path), "teams", "package", "--out", out],
        cwd=tmp_path,
        WARROOM_INTAKE__GENERIC_TOKEN="a-token",
    )
    assert "Wrote" in done.stdout and "deprecated" not in done.stderr.lower()
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        icons = {name: zf.read(name) for name in ("color.png", "outline.png")}
    assert manifest["id"] == teams_app_id(BOT_ID)
    assert manifest["bots"][0]["botId"] == BOT_ID and manifest["webApplicationInfo"]["id"] == BOT_ID
    assert "warroom.acme.example" in manifest["validDomains"]
    for name, data in icons.items():
        assert data == (ROOT / "warroom/chat/teams/app_package" / name).read_bytes()


@pytest.mark.packaging
def test_warroom_migrate_from_the_installed_copy(built: Built, tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory

    done = run(
        [built.bin / "warroom", "--config", config(tmp_path), "migrate"],
        cwd=tmp_path,
        WARROOM_INTAKE__GENERIC_TOKEN="a-token",
    )
    assert "up to date" in done.stdout
    head = ScriptDirectory(str(built.src / "warroom/store/migrations")).get_current_head()
    with sqlite3.connect(tmp_path / "warroom.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]


@pytest.mark.packaging
def test_init_check_config_and_demo_from_the_installed_copy(built: Built, tmp_path: Path) -> None:
    """A newcomer's first three commands, from the wheel alone: `init` writes the file, `check-config` lists what to
    supply (and passes once it is supplied), `demo` runs a whole incident against the emulators the wheel ships."""
    config_path = tmp_path / "warroom.yaml"
    written = run([built.bin / "warroom", "init", "--out", config_path], cwd=tmp_path)
    assert config_path.is_file() and "Wrote" in written.stdout
    checked = subprocess.run([built.bin / "warroom", "--config", config_path, "check-config"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120, env=clean_env(), stdin=subprocess.DEVNULL)
    assert checked.returncode == 1 and "WARROOM_SLACK__BOT_TOKEN" in checked.stderr
    assert "Traceback" not in checked.stderr and "deprecated" not in checked.stderr
    demo = run([built.bin / "warroom", "demo"], cwd=tmp_path, timeout=300)
    assert "demo complete: one alert became a major incident" in demo.stdout
