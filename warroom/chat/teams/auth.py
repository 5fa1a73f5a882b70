"""Verifying that an activity on ``/api/messages`` was sent by the Bot Framework (the Teams channel service).

The checks are those of Microsoft's "Authenticate requests from the Bot Connector service to your bot":

1. the ``Authorization`` header carries a bearer token;
2. the token is a JWS signed with an algorithm the OpenID metadata document lists (RS256), by a key of the key
   set its ``jwks_uri`` names; a key that lists ``endorsements`` signs only for those channels (``msteams``);
3. ``iss`` is ``https://api.botframework.com``;
4. ``aud`` is the bot's Microsoft app id;
5. ``exp`` (required) and ``nbf`` hold, with five minutes of clock skew;
6. the ``serviceurl`` claim equals the activity's ``serviceUrl`` — a reply is never sent where the token
   did not vouch for.

Why warroom does this itself rather than the Agents SDK's ``jwt_authorization_middleware``: in
microsoft-agents-hosting-core 0.9 (and upstream at the time of writing) ``JwtTokenValidator`` fetches keys from
hard-coded URLs (``login.botframework.com/v1/.well-known/keys``), with no setting to point it elsewhere, and
checks neither the issuer, the endorsements nor the ``serviceurl`` claim. Here the OpenID metadata URL is
configuration (``teams.openid_metadata_url``) — the sandbox's emulated channel serves its own — and every check
above is made. The verified claims are handed to the SDK as its ``ClaimsIdentity``.

Keys are cached for a day and fetched again (at most every five minutes) when a token names a key not yet seen,
which is how a key rollover is picked up.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import RSAKey
from joserfc.jws import extract_compact
from joserfc.jwt import JWTClaimsRegistry

from warroom.adapters.errors import AdapterError
from warroom.adapters.http import JsonApi

BOT_FRAMEWORK_ISSUER: Final = "https://api.botframework.com"
OPENID_METADATA_URL: Final = "https://login.botframework.com/v1/.well-known/openidconfiguration"
#: Clock skew allowed on exp/nbf (the documented five minutes).
LEEWAY_SECONDS: Final = 300
MAX_TOKEN_CHARS: Final = 16 * 1024
KEYS_TTL_SECONDS: Final = 24 * 3600
MIN_REFRESH_SECONDS: Final = 300

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


class ActivityRejected(Exception):
    """The activity must not be acted on. ``reason`` is safe to answer with (no token, no key material);
    ``status`` is 401 for an unauthenticated request, 503 when the signing keys could not be read."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True, slots=True)
class SigningKey:
    key: RSAKey
    #: Channels this key signs for; empty means any.
    endorsements: frozenset[str]


class BotFrameworkKeys:
    """The Bot Framework's signing keys, read through its OpenID metadata document."""

    def __init__(
        self,
        metadata_url: str = OPENID_METADATA_URL,
        *,
        api: JsonApi | None = None,
        timeout: float = 10.0,
        ttl: float = KEYS_TTL_SECONDS,
        min_refresh: float = MIN_REFRESH_SECONDS,
    ) -> None:
        self.metadata_url = metadata_url
        self._api = api or JsonApi("botframework", metadata_url, timeout=timeout, max_retries=2)
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, SigningKey] = {}
        self._algorithms: tuple[str, ...] = ("RS256",)
        self._fetched_at = -1e18
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._api.aclose()

    @property
    def algorithms(self) -> tuple[str, ...]:
        return self._algorithms

    async def get(self, kid: str) -> SigningKey | None:
        """The key named ``kid``; fetched when the cache is stale or does not know it. Raises ActivityRejected
        (503) when the keys cannot be read at all."""
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now - self._fetched_at > self._ttl
        if key is not None and not stale:
            return key
        if key is None and not stale and now - self._fetched_at < self._min_refresh:
            return None
        async with self._lock:
            if self._fetched_at < now:  # nobody refreshed while we waited
                await self._refresh()
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        try:
            metadata = await self._api.json("GET", self.metadata_url)
            if not isinstance(metadata, dict) or not isinstance(metadata.get("jwks_uri"), str):
                raise ActivityRejected("The Bot Framework's OpenID metadata has no jwks_uri.", 503)
            document = await self._api.json("GET", metadata["jwks_uri"])
        except AdapterError as exc:
            if self._keys:  # keep the keys we have; try again after min_refresh
                self._fetched_at = time.monotonic()
                return
            raise ActivityRejected(
                f"The Bot Framework's signing keys could not be read: {exc.reason}", 503
            ) from None
        algs = metadata.get("id_token_signing_alg_values_supported")
        if isinstance(algs, list) and algs and all(isinstance(a, str) for a in algs):
            self._algorithms = tuple(a for a in algs if a in ("RS256", "RS384", "RS512")) or ("RS256",)
        self._keys = _parse_keys(document)
        self._fetched_at = time.monotonic()


def _parse_keys(document: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            key = RSAKey.import_key({"kty": "RSA", "n": entry["n"], "e": entry["e"]})
        except (KeyError, JoseError, ValueError, TypeError):
            continue
        endorsements = entry.get("endorsements")
        channels = (
            frozenset(e for e in endorsements if isinstance(e, str))
            if isinstance(endorsements, list)
            else frozenset()
        )
        keys[entry["kid"]] = SigningKey(key, channels)
    return keys


class BotFrameworkAuth:
    """Checks one activity's bearer token; returns its verified claims."""

    def __init__(self, app_id: str, keys: BotFrameworkKeys, *, leeway: int = LEEWAY_SECONDS) -> None:
        if not app_id:
            raise ValueError(
                "teams.app_id is empty: set it to the bot's Microsoft app id (the Teams app's botId)."
            )
        self.app_id = app_id
        self.keys = keys
        self.leeway = leeway

    async def verify(
        self,
        authorization: str | None,
        *,
        channel_id: str | None,
        service_url: str | None,
        now: float | None = None,
    ) -> dict[str, Any]:
        token = _bearer(authorization)
        if len(token) > MAX_TOKEN_CHARS or not _COMPACT_JWS.fullmatch(token):
            raise ActivityRejected("The bearer token is not a signed JWT.")
        try:
            header = extract_compact(token.encode("ascii")).headers()
        except (JoseError, ValueError):
            raise ActivityRejected("The bearer token is not a signed JWT.") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ActivityRejected("The token names no signing key (kid).")
        signing = await self.keys.get(kid)
        if signing is None:
            raise ActivityRejected("The token is signed with a key the Bot Framework does not publish.")
        if alg not in self.keys.algorithms:
            raise ActivityRejected(
                f"The token's algorithm is not one the Bot Framework signs with ({', '.join(self.keys.algorithms)})."
            )
        if signing.endorsements and (channel_id or "") not in signing.endorsements:
            raise ActivityRejected("The token's key is not endorsed for this activity's channel.")
        try:
            decoded = jwt.decode(token, signing.key, algorithms=[alg])
        except JoseError:
            raise ActivityRejected("The token's signature does not verify.") from None
        claims = dict(decoded.claims)
        registry = JWTClaimsRegistry(
            now=int(time.time() if now is None else now),
            leeway=self.leeway,
            iss={"essential": True, "value": BOT_FRAMEWORK_ISSUER},
            aud={"essential": True, "value": self.app_id},
            exp={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise ActivityRejected("The token has expired.") from None
        except MissingClaimError as exc:
            raise ActivityRejected(f"The token lacks its {_claim_name(exc)} claim.") from None
        except InvalidClaimError as exc:
            if getattr(exc, "claim", None) == "nbf":
                raise ActivityRejected("The token is not valid yet.") from None
            raise ActivityRejected(
                f"The token's {_claim_name(exc)} claim is not valid for this bot."
            ) from None
        except JoseError:
            raise ActivityRejected("The token's claims are not valid.") from None
        if _norm_url(claims.get("serviceurl")) != _norm_url(service_url) or not service_url:
            raise ActivityRejected("The token was not issued for this activity's serviceUrl.")
        return claims


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise ActivityRejected(
            "The request carries no Authorization header; the Bot Framework always sends one."
        )
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ActivityRejected("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def _norm_url(value: object) -> str | None:
    return value.rstrip("/").lower() if isinstance(value, str) and value else None


def _claim_name(exc: JoseError) -> str:
    claim = getattr(exc, "claim", None)
    if isinstance(claim, str) and claim:
        return claim
    m = re.search(r"'(\w+)'", str(exc.description or ""))
    return m.group(1) if m else "required"


def activity_route(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The channel id and serviceUrl of an activity body, as the checks need them."""
    channel = body.get("channelId")
    service_url = body.get("serviceUrl")
    return (
        channel if isinstance(channel, str) else None,
        service_url if isinstance(service_url, str) else None,
    )
