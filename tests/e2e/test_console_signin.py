"""Signing in to the web console over real HTTP, against the sandbox's OpenID provider (real RS256 ID tokens, PKCE):
the cookies' attributes, the private page opened by a session instead of a link, feeds still needing the link,
sign-out (refused from another site), and every failure of the callback a 400/403 page with its sentence — never a
5xx, never a redirect to another site, nothing secret in the page."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
import pytest_asyncio

from warroom.sandbox.harness import Harness
from warroom.sandbox.oidc import OidcEmulator
from warroom.sandbox.world import OIDC_SECRET

from .test_status_pages import shop_pages

pytestmark = pytest.mark.one_db("the sign-in keeps nothing in the database; the browser test covers both databases")


@pytest_asyncio.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await Harness.start(db_url, tweak=shop_pages(), webhooks=False)
    try:
        yield harness
    finally:
        await harness.stop()


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields of the sandbox provider's sign-in form."""
    import re

    return {m[0]: m[1].replace("&amp;", "&") for m in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', html)}


async def at_provider(idp: OidcEmulator, authorize_url: str, email: str) -> str:
    """What a person does at the provider: opens the form, picks ``email``; the redirect back (URL)."""
    async with httpx.AsyncClient() as browser:
        form = await browser.get(authorize_url)
        assert form.status_code == 200, form.text
        back = await browser.post(f"{idp.base_url}/authorize", data={**form_fields(form.text), "email": email})
    assert back.status_code == 302, back.text
    return back.headers["Location"]


async def sign_in(h: Harness, http: httpx.AsyncClient, email: str = "ana@example.com",
                  next_path: str = "/status/ops") -> httpx.Response:
    start = await http.get("/console/signin", params={"next": next_path})
    assert start.status_code == 302, start.text
    back = await at_provider(h.world.oidc, start.headers["Location"], email)
    assert back.startswith(f"{h.base_url}/console/callback?")
    return await http.get(back)


def client(h: Harness) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=h.base_url, timeout=30)


async def test_sign_in_opens_private_pages_and_sign_out_closes_them(h: Harness,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="warroom")
    async with client(h) as http:
        refused = await http.get("/status/ops")
        assert refused.status_code == 403 and 'href="/console/signin?next=%2Fstatus%2Fops">Sign in</a>' in refused.text

        start = await http.get("/console/signin", params={"next": "/status/ops"})
        assert start.status_code == 302
        flow_cookie = start.headers["Set-Cookie"]
        assert flow_cookie.startswith("warroom_signin=") and "HttpOnly" in flow_cookie
        assert "SameSite=Lax" in flow_cookie and "Path=/console" in flow_cookie and "Secure" not in flow_cookie
        asked = parse_qs(urlsplit(start.headers["Location"]).query)
        assert asked["code_challenge_method"] == ["S256"] and asked["scope"] == ["openid email profile"]
        assert asked["redirect_uri"] == [f"{h.base_url}/console/callback"] and asked["state"] and asked["nonce"]

        back = await at_provider(h.world.oidc, start.headers["Location"], "ana@example.com")
        code = parse_qs(urlsplit(back).query)["code"][0]
        done = await http.get(back)
        assert done.status_code == 302 and done.headers["Location"] == "/status/ops"
        session = next(c for c in done.headers.get_list("Set-Cookie") if c.startswith("warroom_session="))
        assert "HttpOnly" in session and "SameSite=Lax" in session and "Max-Age=28800" in session

        page = await http.get("/status/ops")
        assert page.status_code == 200 and "Operations" in page.text
        assert "feed.atom" not in page.text  # no feed links without the signed link
        for feed in ("feed.atom", "feed.rss", "index.json"):  # feed readers carry no cookie: the link is needed
            assert (await http.get(f"/status/ops/{feed}")).status_code == 403
        scoped = await http.get("/status/partners")
        assert scoped.status_code == 200 and "Card API" in scoped.text and "Settlement" in scoped.text

        replayed = await http.get(back)  # the same answer again: the flow cookie is gone
        assert replayed.status_code == 400 and "start it again" in replayed.text

        other_site = await http.post("/console/signout", headers={"Sec-Fetch-Site": "cross-site"})
        assert other_site.status_code == 403
        assert (await http.get("/status/ops")).status_code == 200
        out = await http.post("/console/signout", headers={"Sec-Fetch-Site": "same-origin"})
        assert out.status_code == 200 and "You are signed out" in out.text
        assert (await http.get("/status/ops")).status_code == 403
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("warroom"))  # warroom's own lines
    assert "ana@example.com signed in" in logged and "ana@example.com signed out" in logged
    secrets = [code, asked["state"][0], asked["nonce"][0], OIDC_SECRET, session.split(";")[0].split("=", 1)[1]]
    assert [s for s in secrets if s in logged] == []


async def test_cookies_are_secure_when_the_public_url_is_https(h: Harness) -> None:
    plain = h.settings.server.public_url
    h.settings.server.public_url = "https://warroom.example.com"
    try:
        async with client(h) as http:
            start = await http.get("/console/signin", params={"next": "/console"})
    finally:
        h.settings.server.public_url = plain
    assert "Secure" in start.headers["Set-Cookie"]
    redirect = parse_qs(urlsplit(start.headers["Location"]).query)["redirect_uri"]
    assert redirect == ["https://warroom.example.com/console/callback"]


@pytest.mark.parametrize("target", ["https://evil.example", "//evil.example", "/\\evil.example",
                                    "https://evil.example/status/ops"])
async def test_next_never_leads_to_another_site(h: Harness, target: str) -> None:
    async with client(h) as http:
        done = await sign_in(h, http, next_path=target)
    assert done.status_code == 302 and done.headers["Location"] == "/console"


async def callback_with(h: Harness, http: httpx.AsyncClient, **query: str) -> httpx.Response:
    start = await http.get("/console/signin", params={"next": "/status/ops"})
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    return await http.get("/console/callback?" + urlencode({"state": state, **query}))


async def test_callback_failures_are_pages_that_say_what_to_do(h: Harness) -> None:
    async with client(h) as http:
        no_cookie = await http.get("/console/callback", params={"state": "x", "code": "y"})
        assert no_cookie.status_code == 400 and "start it again" in no_cookie.text
        denied = await callback_with(h, http, error="access_denied<script>", error_description="no")
        assert denied.status_code == 403 and "(access_deniedscript)" in denied.text and "<script>" not in denied.text
        wrong_state = await http.get("/console/callback", params={"state": "forged", "code": "y"})
        assert wrong_state.status_code == 400 and "not for the sign-in this browser started" in wrong_state.text
        bad_code = await callback_with(h, http, code="made-up-code")
        assert bad_code.status_code == 400 and "did not accept this sign-in" in bad_code.text
        assert "made-up-code" not in bad_code.text
        no_code = await callback_with(h, http)
        assert no_code.status_code == 400 and "no sign-in code" in no_code.text
    async with client(h) as http:
        h.world.oidc.add_person("zed@example.com", "Zed", verified=False)
        unverified = await sign_in(h, http, "zed@example.com")
        assert unverified.status_code == 403 and "has not verified your email address" in unverified.text
        assert 'href="/console/signin?next=%2Fstatus%2Fops"' in unverified.text  # try again, to the same page
        assert (await http.get("/status/ops")).status_code == 403
    for reply in (no_cookie, denied, wrong_state, bad_code, unverified):
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert reply.headers["Cache-Control"] == "no-store"


async def test_allowed_domains_keep_others_out(db_url: str) -> None:
    def tweak(data: dict[str, Any]) -> None:
        shop_pages()(data)
        data["console"]["allowed_domains"] = ["example.com"]

    h = await Harness.start(db_url, tweak=tweak, webhooks=False)
    try:
        async with client(h) as http:
            outsider = await sign_in(h, http, "fay@contractor.example")
            assert outsider.status_code == 403
            assert "Accounts of contractor.example may not use this console" in outsider.text
            assert (await sign_in(h, http, "ana@example.com")).status_code == 302
            assert (await http.get("/status/ops")).status_code == 200
    finally:
        await h.stop()


async def test_console_not_configured_says_how_to_set_it(db_url: str) -> None:
    def tweak(data: dict[str, Any]) -> None:
        shop_pages()(data)
        del data["console"]

    h = await Harness.start(db_url, tweak=tweak, webhooks=False)
    try:
        async with client(h) as http:
            for path in ("/console/signin?next=/status/ops", "/console/callback?code=x&state=y", "/console/signout"):
                reply = await http.get(path)
                assert reply.status_code == 404 and "console.oidc_issuer" in reply.text, path
            refused = await http.get("/status/ops")
            assert refused.status_code == 403 and "Sign in" not in refused.text
    finally:
        await h.stop()
