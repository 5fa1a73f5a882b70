"""Signing in to the web console in a real browser (Debian's Chromium driven by Playwright), on SQLite and
PostgreSQL, against the sandbox's OpenID provider: a private status page refused with "Sign in" → the provider's
form → signed in → the private page; signed out → refused again; ``next`` pointing at another site lands on
/console. Skipped locally without Chromium or Playwright (with the reason); under CI=true their absence fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import pytest_asyncio

from warroom.sandbox.harness import Harness

from . import test_status_page_browser as status_browser
from .test_status_pages import shop_pages

pytestmark = pytest.mark.asyncio(loop_scope="module")

#: The status pages' browser fixtures: one headless Chromium for the module, a fresh context and page per test.
chromium, tab = status_browser.chromium, status_browser.tab


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgresql"])
async def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                 chromium: Any) -> AsyncIterator[Harness]:
    """The real server with test_status_pages' pages, per database (started after Chromium: a missing browser skips
    before any database is made)."""
    from tests.conftest import pg_database

    async with AsyncExitStack() as stack:
        url = (f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'warroom.db'}" if request.param == "sqlite"
               else await stack.enter_async_context(pg_database()))
        h = await Harness.start(url, tweak=shop_pages(), webhooks=False)
        try:
            yield h
        finally:
            await h.stop()


async def test_sign_in_opens_the_private_page_and_sign_out_closes_it(server: Harness, tab: Any) -> None:
    page_url = f"{server.base_url}/status/ops"
    refused = await tab.goto(page_url)
    assert refused.status == 403 and "sign in to the warroom console" in await tab.inner_text("main")

    await tab.click("a:has-text('Sign in')")  # → /console/signin → the provider's form
    await tab.wait_for_url(lambda url: url.startswith(f"{server.world.oidc.base_url}/authorize?"))
    assert tab.url.startswith(f"{server.world.oidc.base_url}/authorize?")
    assert await tab.inner_text("h1") == "Sign in to warroom-console"
    async with tab.expect_navigation(url=page_url):
        await tab.click("button:has-text('Ana Ops (ana@example.com)')")
    assert await tab.inner_text("h1") == "Operations"
    cookies = {c["name"]: c for c in await tab.context.cookies()}
    assert cookies["warroom_session"]["httpOnly"] and cookies["warroom_session"]["sameSite"] == "Lax"
    assert "warroom_signin" not in cookies  # the sign-in's own cookie is spent

    reload = await tab.reload()
    assert reload.status == 200 and await tab.inner_text("h1") == "Operations"

    await tab.goto(f"{server.base_url}/console/signout")
    assert "You are signed in as Ana Ops (ana@example.com)" in await tab.inner_text("main")
    async with tab.expect_navigation():
        await tab.click("button:has-text('Sign out')")
    assert await tab.inner_text("h1") == "You are signed out"
    again = await tab.goto(page_url)
    assert again.status == 403 and await tab.inner_text("h1") == "This status page is not public"


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example"])
async def test_next_to_another_site_lands_on_the_console(server: Harness, tab: Any, target: str) -> None:
    await tab.goto(f"{server.base_url}/console/signin?next={target}")
    assert tab.url.startswith(f"{server.world.oidc.base_url}/authorize?")
    await tab.fill("#email", "ben@example.com")
    async with tab.expect_navigation(url=f"{server.base_url}/console"):
        await tab.click("button:has-text('Sign in')")
    assert tab.url == f"{server.base_url}/console"
