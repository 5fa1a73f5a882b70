"""The Bot Framework token checks, against the emulated Teams channel's published keys (real HTTP on loopback)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator

import pytest
from joserfc.jwk import RSAKey

from warroom.chat.teams.auth import ActivityRejected, BotFrameworkAuth, BotFrameworkKeys
from warroom.sandbox.teams.client import TeamsClientEmulator

APP_ID = "00000000-0000-4000-8000-00000000b075"
SERVICE_URL = "https://smba.trafficmanager.net/emea/"


@pytest.fixture
async def channel() -> AsyncIterator[TeamsClientEmulator]:
    client = TeamsClientEmulator(app_id=APP_ID, service_url=SERVICE_URL)
    await client.start()
    yield client
    await client.stop()


@pytest.fixture
async def auth(channel: TeamsClientEmulator) -> AsyncIterator[BotFrameworkAuth]:
    keys = BotFrameworkKeys(channel.openid_metadata_url)
    yield BotFrameworkAuth(APP_ID, keys)
    await keys.aclose()


async def refused(
    auth: BotFrameworkAuth, header: str | None, *, channel_id: str = "msteams", service_url: str = SERVICE_URL
) -> ActivityRejected:
    with pytest.raises(ActivityRejected) as caught:
        await auth.verify(header, channel_id=channel_id, service_url=service_url)
    return caught.value


async def test_a_token_the_channel_signed_verifies(
    channel: TeamsClientEmulator, auth: BotFrameworkAuth
) -> None:
    claims = await auth.verify(f"Bearer {channel.token()}", channel_id="msteams", service_url=SERVICE_URL)
    assert claims["aud"] == APP_ID and claims["iss"] == "https://api.botframework.com"
    assert claims["serviceurl"] == SERVICE_URL
    # the keys came from the metadata document's jwks_uri, once
    assert [c.op for c in channel.calls] == ["GET openidconfiguration", "GET keys"]
    await auth.verify(f"Bearer {channel.token()}", channel_id="msteams", service_url=SERVICE_URL)
    assert len(channel.calls) == 2


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "no Authorization header"),
        ("Basic dXNlcjpwYXNz", "must be 'Bearer <token>'"),
        ("Bearer ", "must be 'Bearer <token>'"),
        ("Bearer not-a-jwt", "not a signed JWT"),
        ("Bearer a.b.c", "not a signed JWT"),
    ],
)
async def test_missing_and_malformed_tokens_are_refused(
    auth: BotFrameworkAuth, header: str | None, says: str
) -> None:
    rejected = await refused(auth, header)
    assert rejected.status == 401 and says in rejected.reason


async def test_claims_must_be_for_this_bot_from_the_bot_framework_now(
    channel: TeamsClientEmulator, auth: BotFrameworkAuth
) -> None:
    assert "aud" in (await refused(auth, f"Bearer {channel.token(audience='someone-else')}")).reason
    assert (
        "iss" in (await refused(auth, f"Bearer {channel.token(issuer='https://sts.windows.net/x/')}")).reason
    )
    # five minutes of clock skew are allowed, not more
    await auth.verify(f"Bearer {channel.token(lifetime=-200)}", channel_id="msteams", service_url=SERVICE_URL)
    assert "expired" in (await refused(auth, f"Bearer {channel.token(lifetime=-400)}")).reason
    later = time.time() + 900
    assert "not valid yet" in (await refused(auth, f"Bearer {channel.token(not_before=later)}")).reason
    assert "exp" in (await refused(auth, f"Bearer {channel.token(claims={'exp': None})}")).reason


async def test_the_token_must_vouch_for_the_activitys_service_url_and_channel(
    channel: TeamsClientEmulator, auth: BotFrameworkAuth
) -> None:
    token = f"Bearer {channel.token()}"
    assert "serviceUrl" in (await refused(auth, token, service_url="https://attacker.example/")).reason
    assert "serviceUrl" in (await refused(auth, f"Bearer {channel.token(service_url='')}")).reason
    # a key endorsed for msteams does not sign for another channel
    assert "endorsed" in (await refused(auth, token, channel_id="slack")).reason
    # trailing slash and case of the host do not matter
    await auth.verify(token, channel_id="msteams", service_url=SERVICE_URL.rstrip("/").upper())


async def test_tokens_signed_with_other_keys_are_refused(
    channel: TeamsClientEmulator, auth: BotFrameworkAuth
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"kid": "not-published"})
    assert "does not publish" in (await refused(auth, f"Bearer {channel.token(key=stranger)}")).reason
    # a published kid on a token signed with another key: the signature fails
    real = await auth.keys.get(channel.token_kid())
    assert real is not None
    forged_key = RSAKey.generate_key(2048, parameters={"kid": channel.token_kid()})
    assert "signature" in (await refused(auth, f"Bearer {channel.token(key=forged_key)}")).reason
    # alg: none, or HS256 keyed with the public key, never pass
    now = int(time.time())
    claims = {
        "iss": "https://api.botframework.com",
        "aud": APP_ID,
        "exp": now + 60,
        "serviceurl": SERVICE_URL,
    }
    unsigned = _unsigned({"alg": "none", "kid": channel.token_kid()}, claims)
    assert "algorithm" in (await refused(auth, f"Bearer {unsigned}")).reason
    public = real.key.as_pem(private=False)
    confused = _hs256({"alg": "HS256", "kid": channel.token_kid()}, claims, public)
    assert "algorithm" in (await refused(auth, f"Bearer {confused}")).reason


async def test_a_rolled_over_key_is_fetched_and_unknown_kids_do_not_hammer_the_keys_endpoint(
    channel: TeamsClientEmulator,
) -> None:
    keys = BotFrameworkKeys(channel.openid_metadata_url, min_refresh=300)
    auth = BotFrameworkAuth(APP_ID, keys)
    try:
        await auth.verify(f"Bearer {channel.token()}", channel_id="msteams", service_url=SERVICE_URL)
        stranger = RSAKey.generate_key(2048, parameters={"kid": "unknown-kid"})
        for _ in range(5):
            await refused(auth, f"Bearer {channel.token(key=stranger)}")
        assert len(channel.calls_to("GET keys")) == 1
    finally:
        await keys.aclose()
    # a new key the channel starts signing with is picked up on first sight (once the refresh interval allows)
    keys = BotFrameworkKeys(channel.openid_metadata_url, min_refresh=0)
    auth = BotFrameworkAuth(APP_ID, keys)
    try:
        await auth.verify(f"Bearer {channel.token()}", channel_id="msteams", service_url=SERVICE_URL)
        channel.rotate_key()
        await auth.verify(f"Bearer {channel.token()}", channel_id="msteams", service_url=SERVICE_URL)
    finally:
        await keys.aclose()


async def test_unreachable_keys_are_a_503_not_a_401(channel: TeamsClientEmulator) -> None:
    channel.inject("GET keys", status=500, times=10)
    keys = BotFrameworkKeys(channel.openid_metadata_url)
    keys._api.backoff_base = 0.001  # keep the retries quick
    auth = BotFrameworkAuth(APP_ID, keys)
    try:
        rejected = await refused(auth, f"Bearer {channel.token()}")
        assert rejected.status == 503 and "signing keys could not be read" in rejected.reason
    finally:
        await keys.aclose()


def test_an_app_id_is_required() -> None:
    with pytest.raises(ValueError, match=r"teams\.app_id"):
        BotFrameworkAuth("", BotFrameworkKeys("http://127.0.0.1:9/"))


def _part(value: dict[str, object] | bytes) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unsigned(header: dict[str, object], claims: dict[str, object]) -> str:
    return f"{_part(header)}.{_part(claims)}.c2ln"


def _hs256(header: dict[str, object], claims: dict[str, object], secret: bytes) -> str:
    signing_input = f"{_part(header)}.{_part(claims)}"
    return f"{signing_input}.{_part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"
