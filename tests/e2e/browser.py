"""Real-browser tests: Debian's chromium driven by Playwright, axe-core (bundled by the axe-playwright-python package,
no browser download) for the accessibility checks. Locally they skip with the reason when one is missing; under
CI=true (where .ci/run installs chromium and the dev extras bring the Python packages) a missing one is a failure,
never a skip. Screenshots go to :func:`artefacts` — ``$WARROOM_ARTEFACTS`` (CI keeps that directory) or pytest's tmp
dir."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
#: axe-core's impact levels that fail a test.
SERIOUS = ("serious", "critical")


def _ci() -> bool:
    return os.environ.get("CI") == "true"


def playwright() -> Any:
    """``async_playwright``, or a skip (locally) / failure (in CI) saying what is missing."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if _ci():
            raise
        pytest.skip("playwright is not installed here (pip install -e '.[dev]'); CI runs this test")
    if not shutil.which(CHROMIUM):
        if _ci():
            raise AssertionError(f"{CHROMIUM} is missing: .ci/run installs it in CI")
        pytest.skip(f"{CHROMIUM} is not installed on this machine; CI installs it (.ci/run) and runs this test")
    return async_playwright


def axe_script() -> str:
    """axe-core's ``axe.min.js`` as shipped inside the axe-playwright-python wheel (a dev dependency), or a skip
    (locally) / failure (in CI)."""
    try:
        from axe_playwright_python.base import AXE_SCRIPT
    except ImportError:
        if _ci():
            raise
        pytest.skip("axe-playwright-python is not installed here (pip install -e '.[dev]'); CI runs this test")
    return str(AXE_SCRIPT)


async def serious_violations(page: Any) -> list[str]:
    """Runs axe-core in ``page`` (WCAG 2 A/AA and best practices) and returns its serious and critical violations,
    one line each (rule, impact, help, the offending elements), for an assertion message."""
    await page.evaluate(axe_script())
    result = await page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    assert result["testEngine"]["name"] == "axe-core" and result["passes"], "axe-core did not run its rules"
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['html'][:160] for n in v['nodes']][:5]}"
            for v in result["violations"] if v.get("impact") in SERIOUS]


def artefacts(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The directory for screenshots and the like: ``$WARROOM_ARTEFACTS/name`` when that is set (.ci/run sets it, and
    CI keeps it), else a fresh one in pytest's tmp dir."""
    root = os.environ.get("WARROOM_ARTEFACTS")
    if not root:
        return tmp_path_factory.mktemp(name)
    folder = Path(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """A PNG file's (width, height) from its IHDR chunk; AssertionError when it is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
