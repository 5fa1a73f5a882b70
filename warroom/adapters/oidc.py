"""An OpenID Connect identity provider (Entra ID, Okta, Google, Keycloak…), as the web console's sign-in uses it: its
discovery document (OpenID Connect Discovery 1.0), its signing keys (the JWKS) and its token endpoint (the
authorization code grant with PKCE, the client authenticating with ``client_secret_basic``). The issuer and the
endpoints it names must be https:// (:func:`secure_url`; plain http only on loopback, as the sandbox's provider is).

The discovery document and the keys are kept for :data:`TTL` seconds; the keys are read again, at most every
:data:`REFRESH` seconds, when a token names a key they do not hold (the provider rotated its keys). Failures are
warroom's errors: :class:`~warroom.adapters.errors.Permanent` (the provider refused: its ``error`` code in the reason,
never a secret or a token) or :class:`~warroom.adapters.errors.Transient` (it could not be reached).
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import Permanent, Transient
from .http import loopback_host

SYSTEM = "the identity provider"
#: Seconds the discovery document and the keys are kept.
TTL = 3600.0
#: Seconds at least between two reads of the keys forced by an unknown key id.
REFRESH = 60.0
#: Bytes at most of any answer read.
MAX_BODY = 512 * 1024


def secure_url(url: str) -> bool:
    """Whether ``url`` is https://, or http:// to this machine's loopback (the sandbox's provider), where nothing
    travels over a network."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https" and host:
        return True
    return parts.scheme == "http" and loopback_host(host)


class OidcProvider:
    def __init__(self, issuer: str, client_id: str, client_secret: str, *, timeout: float = 10.0,
                 client: httpx.AsyncClient | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self._http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)
        self._metadata: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Transient(SYSTEM, f"{url} could not be reached ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise Permanent(SYSTEM, f"{url} answered HTTP {response.status_code} instead of {what}")
        try:
            data = response.json() if len(response.content) <= MAX_BODY else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise Permanent(SYSTEM, f"{url} did not answer {what} as a JSON object")
        return data

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, checked: its ``issuer`` is the configured one, and it names the endpoints."""
        if self._metadata is not None and time.monotonic() - self._metadata[0] < TTL:
            return self._metadata[1]
        if not secure_url(self.issuer):
            raise Permanent(SYSTEM, f"console.oidc_issuer '{self.issuer}' is not an https:// URL: set it to the "
                                    "identity provider's https:// issuer (plain http only on this machine's loopback)")
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            data = await self._get_json(url, "the discovery document")
        except Permanent as exc:
            raise Permanent(SYSTEM, f"{exc.reason}: check console.oidc_issuer") from None
        if str(data.get("issuer", "")).rstrip("/") != self.issuer:
            raise Permanent(SYSTEM, f"the discovery document at {url} names the issuer '{data.get('issuer')}', not "
                                    f"'{self.issuer}': set console.oidc_issuer to exactly the issuer it names")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str) or not str(data[key]).startswith(("https://", "http://")):
                raise Permanent(SYSTEM, f"the discovery document at {url} has no {key}")
            if not secure_url(str(data[key])):
                raise Permanent(SYSTEM, f"the discovery document at {url} names a plain http:// {key}: the identity "
                                        "provider must serve it over https://")
        self._metadata = (time.monotonic(), data)
        return data

    async def keys(self, *, refresh: bool = False) -> KeySet:
        """The provider's signing keys; ``refresh``: read them again (not more often than every :data:`REFRESH` s)."""
        held = self._keys
        if held is not None and not (refresh and time.monotonic() - held[0] >= REFRESH) and (
                time.monotonic() - held[0] < TTL):
            return held[1]
        meta = await self.metadata()
        data = await self._get_json(str(meta["jwks_uri"]), "the signing keys (JWKS)")
        try:
            keys = KeySet.import_key_set({"keys": [k for k in data.get("keys", []) if isinstance(k, dict)
                                                    and k.get("kty") == "RSA" and k.get("use", "sig") == "sig"]})
        except (JoseError, ValueError, TypeError):
            raise Permanent(SYSTEM, "the signing keys (JWKS) could not be read") from None
        self._keys = (time.monotonic(), keys)
        return keys

    async def exchange(self, code: str, redirect_uri: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer for ``code`` (``id_token`` among it)."""
        meta = await self.metadata()
        url = str(meta["token_endpoint"])
        # RFC 6749 2.3.1: the client id and secret are form-encoded, then joined for HTTP Basic
        auth = httpx.BasicAuth(quote(self.client_id, safe=""), quote(self._secret, safe=""))
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "code_verifier": verifier}
        try:
            response = await self._http.post(url, data=form, auth=auth, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise Transient(SYSTEM, f"its token endpoint could not be reached ({type(exc).__name__})") from None
        try:
            data = response.json() if len(response.content) <= MAX_BODY else None
        except ValueError:
            data = None
        if response.status_code != 200 or not isinstance(data, dict):
            error = re.sub(r"[^A-Za-z0-9_.-]", "", str(data.get("error", "")))[:60] if isinstance(data, dict) else ""
            raise Permanent(SYSTEM, f"its token endpoint refused the code ({error or f'HTTP {response.status_code}'})")
        if not isinstance(data.get("id_token"), str):
            raise Permanent(SYSTEM, "its token endpoint answered without an id_token: check that console.scopes "
                                    "includes openid")
        return data
