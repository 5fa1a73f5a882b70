"""Real-browser tests: Debian's chromium driven by Playwright. Locally they skip with the reason when either is
missing; under CI=true (where .ci/run installs both) a missing one is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


def playwright() -> Any:
    """``async_playwright``, or a skip (locally) / failure (in CI) saying what is missing."""
    ci = os.environ.get("CI") == "true"
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        if ci:
            raise
        pytest.skip("playwright is not installed here (pip install -e '.[dev]'); CI runs this test")
    if not shutil.which(CHROMIUM):
        if ci:
            raise AssertionError(f"{CHROMIUM} is missing: .ci/run installs it in CI")
        pytest.skip(f"{CHROMIUM} is not installed on this machine; CI installs it (.ci/run) and runs this test")
    return async_playwright
