"""The sandbox's OpenID provider over real HTTP: discovery, the sign-in form, and the token endpoint's refusals as
RFC 6749 / OpenID Connect Core / RFC 7636 say them (``invalid_client`` 401, ``invalid_grant`` 400, …); and warroom's
client (:class:`warroom.adapters.oidc.OidcProvider`) turning them into its own errors."""

from __future__ import annotations

import base64
import secrets
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import pytest_asyncio
from joserfc import jwt
from joserfc.jwk import KeySet

from warroom.adapters.errors import Permanent
from warroom.adapters.oidc import OidcProvider
from warroom.sandbox.oidc import CLIENT_ID, OidcEmulator, s256

SECRET = "test-client-secret"
REDIRECT = "http://127.0.0.1:9/console/callback"


@pytest_asyncio.fixture
async def idp() -> AsyncIterator[OidcEmulator]:
    emulator = OidcEmulator(client_secret=SECRET)
    await emulator.start()
    emulator.redirect_uris.add(REDIRECT)
    emulator.add_person("ana@example.com", "Ana Ops")
    emulator.add_person("zed@example.com", "Zed Unverified", verified=False)
    try:
        yield emulator
    finally:
        await emulator.stop()


def authorize_params(verifier: str, **extra: str) -> dict[str, str]:
    return {"client_id": CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": "openid email profile",
            "state": "st-1", "nonce": "n-1", "code_challenge": s256(verifier), "code_challenge_method": "S256",
            **extra}


async def code_for(idp: OidcEmulator, verifier: str, email: str = "ana@example.com") -> str:
    async with httpx.AsyncClient(base_url=idp.base_url) as http:
        reply = await http.post("/authorize", data={**authorize_params(verifier), "email": email})
    assert reply.status_code == 302, reply.text
    location = urlsplit(reply.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    assert query["state"] == ["st-1"] and query["iss"] == [idp.issuer]
    return query["code"][0]


async def token(idp: OidcEmulator, code: str, verifier: str, *, secret: str = SECRET, redirect: str = REDIRECT,
                post: bool = False) -> httpx.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "code_verifier": verifier}
    async with httpx.AsyncClient(base_url=idp.base_url) as http:
        if post:
            return await http.post("/token", data={**form, "client_id": CLIENT_ID, "client_secret": secret})
        return await http.post("/token", data=form, auth=(CLIENT_ID, secret))


def verifier() -> str:
    return secrets.token_urlsafe(48)


async def test_discovery_names_the_endpoints_and_the_keys_verify_its_id_tokens(idp: OidcEmulator) -> None:
    async with httpx.AsyncClient(base_url=idp.base_url) as http:
        meta = (await http.get("/.well-known/openid-configuration")).json()
        jwks = (await http.get("/jwks")).json()
        form = await http.get("/authorize", params=authorize_params(verifier()))
    assert meta["issuer"] == idp.issuer and meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["token_endpoint"] == f"{idp.issuer}/token" and meta["jwks_uri"] == f"{idp.issuer}/jwks"
    assert all("d" not in k for k in jwks["keys"])  # public keys only
    assert form.status_code == 200 and "Ana Ops (ana@example.com)" in form.text

    v = verifier()
    for post in (False, True):  # client_secret_basic, then client_secret_post
        code = await code_for(idp, v)
        reply = await token(idp, code, v, post=post)
        assert reply.status_code == 200 and reply.headers["Cache-Control"] == "no-store"
        body = reply.json()
        claims = jwt.decode(body["id_token"], KeySet.import_key_set(jwks), algorithms=["RS256"]).claims
        assert claims["iss"] == idp.issuer and claims["aud"] == CLIENT_ID and claims["nonce"] == "n-1"
        assert claims["email"] == "ana@example.com" and claims["email_verified"] is True
        assert claims["name"] == "Ana Ops" and claims["exp"] > claims["iat"]


@pytest.mark.parametrize(("case", "error", "status"), [
    ("wrong verifier", "invalid_grant", 400),
    ("reused code", "invalid_grant", 400),
    ("wrong redirect_uri", "invalid_grant", 400),
    ("wrong client secret", "invalid_client", 401),
    ("unknown code", "invalid_grant", 400),
])
async def test_token_endpoint_refusals(idp: OidcEmulator, case: str, error: str, status: int) -> None:
    v = verifier()
    code = await code_for(idp, v)
    if case == "wrong verifier":
        reply = await token(idp, code, verifier())
    elif case == "reused code":
        assert (await token(idp, code, v)).status_code == 200
        reply = await token(idp, code, v)
    elif case == "wrong redirect_uri":
        reply = await token(idp, code, v, redirect="http://127.0.0.1:9/elsewhere")
    elif case == "wrong client secret":
        reply = await token(idp, code, v, secret="not-it")
    else:
        reply = await token(idp, "made-up", v)
    assert (reply.status_code, reply.json()["error"]) == (status, error)
    if status == 401:
        assert reply.headers["WWW-Authenticate"].startswith("Basic")


async def test_expired_code_and_missing_client_authentication(idp: OidcEmulator) -> None:
    idp.code_seconds = -1.0  # every code is expired as soon as it is made
    v = verifier()
    reply = await token(idp, await code_for(idp, v), v)
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_grant")
    assert "expired" in reply.json()["error_description"]
    async with httpx.AsyncClient(base_url=idp.base_url) as http:
        bare = await http.post("/token", data={"grant_type": "authorization_code", "code": "x"})
        basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
        grant = await http.post("/token", data={"grant_type": "password"}, headers={"Authorization": f"Basic {basic}"})
    assert (bare.status_code, bare.json()["error"]) == (401, "invalid_client")
    assert (grant.status_code, grant.json()["error"]) == (400, "unsupported_grant_type")


async def test_authorize_refusals(idp: OidcEmulator) -> None:
    async with httpx.AsyncClient(base_url=idp.base_url) as http:
        unknown_redirect = await http.get("/authorize", params=authorize_params(
            verifier(), redirect_uri="https://evil.example/cb"))
        plain = await http.get("/authorize", params=authorize_params(verifier(), code_challenge_method="plain"))
        no_openid = await http.get("/authorize", params=authorize_params(verifier(), scope="email"))
    assert unknown_redirect.status_code == 400 and "Location" not in unknown_redirect.headers  # never redirected
    for reply, error in ((plain, "invalid_request"), (no_openid, "invalid_scope")):
        assert reply.status_code == 302
        query = parse_qs(urlsplit(reply.headers["Location"]).query)
        assert query["error"] == [error] and query["state"] == ["st-1"]


async def test_warroom_client_says_the_providers_refusal_without_secrets(idp: OidcEmulator) -> None:
    provider = OidcProvider(idp.issuer, CLIENT_ID, SECRET)
    other = OidcProvider(idp.issuer, CLIENT_ID, "wrong-secret")
    try:
        v = verifier()
        code = await code_for(idp, v)
        ok: dict[str, Any] = await provider.exchange(code, REDIRECT, v)
        assert isinstance(ok["id_token"], str)
        with pytest.raises(Permanent) as reused:
            await provider.exchange(code, REDIRECT, v)
        with pytest.raises(Permanent) as refused:
            await other.exchange(await code_for(idp, v), REDIRECT, v)
        keys = await provider.keys()
        assert [k.kid for k in keys.keys] == [idp.key.kid]
    finally:
        await provider.aclose()
        await other.aclose()
    assert "invalid_grant" in reused.value.reason and code not in reused.value.reason
    assert "invalid_client" in refused.value.reason and "wrong-secret" not in refused.value.reason


async def test_a_discovery_document_naming_another_issuer_is_refused(idp: OidcEmulator) -> None:
    renamed = OidcProvider(idp.issuer.replace("127.0.0.1", "localhost"), CLIENT_ID, SECRET)
    missing = OidcProvider(idp.issuer + "/tenant", CLIENT_ID, SECRET)
    try:
        with pytest.raises(Permanent) as wrong:
            await renamed.metadata()
        with pytest.raises(Permanent) as absent:
            await missing.metadata()
    finally:
        await renamed.aclose()
        await missing.aclose()
    assert f"names the issuer '{idp.issuer}'" in wrong.value.reason and "console.oidc_issuer" in wrong.value.reason
    assert "HTTP 404" in absent.value.reason and "console.oidc_issuer" in absent.value.reason


async def test_plain_http_issuer_and_endpoints_are_refused_off_loopback(idp: OidcEmulator) -> None:
    remote = OidcProvider("http://idp.example.com/tenant", CLIENT_ID, SECRET)  # refused before any request
    local = OidcProvider(idp.issuer, CLIENT_ID, SECRET)
    try:
        with pytest.raises(Permanent) as plain:
            await remote.metadata()
        assert (await local.metadata())["token_endpoint"].startswith("http://127.0.0.1:")  # the sandbox: loopback
        idp.endpoint_base = "http://idp.example.com"
        fresh = OidcProvider(idp.issuer, CLIENT_ID, SECRET)
        try:
            with pytest.raises(Permanent) as endpoints:
                await fresh.metadata()
        finally:
            await fresh.aclose()
    finally:
        await remote.aclose()
        await local.aclose()
    assert "console.oidc_issuer 'http://idp.example.com/tenant' is not an https:// URL" in plain.value.reason
    assert "names a plain http:// authorization_endpoint" in endpoints.value.reason


@pytest.mark.parametrize(("url", "secure"), [
    ("https://login.microsoftonline.com/t/v2.0", True), ("http://127.0.0.1:8080", True), ("http://localhost", True),
    ("http://[::1]:9000/x", True), ("http://idp.example.com", False), ("http://10.0.0.1", False),
    ("ftp://idp.example.com", False), ("https://", False), ("http://[::1", False),
])
def test_secure_url(url: str, secure: bool) -> None:
    from warroom.adapters.oidc import secure_url

    assert secure_url(url) is secure
