"""An OpenID Connect provider (the organisation's identity provider: Entra ID, Okta, Google, Keycloak), as warroom's
web console signs people in with it — OpenID Connect Core 1.0 (the authorization code flow), Discovery 1.0 and
RFC 7636 (PKCE, ``S256`` only, required):

- ``GET /.well-known/openid-configuration``: the discovery document (issuer = :attr:`OidcEmulator.issuer`, the base
  URL, with no trailing slash);
- ``GET /authorize``: checks the request (``client_id`` known and ``redirect_uri`` registered — else an error page,
  never a redirect; then ``response_type=code``, ``scope`` with ``openid``, a ``code_challenge`` with method
  ``S256`` — else a redirect back with ``error``), and answers a small HTML sign-in form: a button per person of
  :attr:`OidcEmulator.people`, or an email address; ``POST /authorize`` signs that person in and redirects to the
  ``redirect_uri`` with ``code``, ``state`` and ``iss`` (RFC 9207);
- ``POST /token``: ``grant_type=authorization_code`` with client authentication ``client_secret_basic`` or
  ``client_secret_post`` (else ``invalid_client``, 401), the code single-use and valid :attr:`code_seconds`, issued to
  this client for this ``redirect_uri``, and the ``code_verifier`` whose S256 is the challenge (else
  ``invalid_grant``); answers ``access_token``, ``token_type``, ``expires_in`` and an RS256 ``id_token`` (iss, sub,
  aud, exp, iat, auth_time, nonce, email, email_verified, name), ``Cache-Control: no-store``;
- ``GET /jwks``: the public signing keys (RSA, ``kid``, ``use: sig``, ``alg: RS256``);
- ``GET /userinfo`` (Bearer access token): the person's claims.

Tests reach in: :meth:`OidcEmulator.sign` makes an ID token with any claims under the provider's key,
:attr:`OidcEmulator.people` holds who exists (email → name, email_verified), :attr:`redirect_uris` the registered
redirect URIs (the harness adds warroom's once it knows its port).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment
from joserfc import jwt
from joserfc.jwk import RSAKey

from .base import Emulator, EmulatorConfig

CLIENT_ID = "warroom-console"


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str
    scope: str
    email: str
    name: str
    verified: bool
    expires: float
    auth_time: int
    used: bool = False


_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sandbox identity provider — sign in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:34rem;margin:2rem auto;padding:0 1rem}
button{font:inherit;padding:.4rem .9rem;margin:.2rem 0}input{font:inherit;padding:.35rem}</style></head>
<body><main><h1>Sign in to {{ client }}</h1>
<p>The sandbox's identity provider: pick who you are.</p>
<form method="post" action="/authorize">
{% for k, v in hidden.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">
{% endfor %}<ul>
{% for email, name in people %}<li><button type="submit" name="email" value="{{ email }}">{{ name }} ({{ email }})</button></li>
{% endfor %}</ul></form>
<form method="post" action="/authorize">
{% for k, v in hidden.items() %}<input type="hidden" name="{{ k }}" value="{{ v }}">
{% endfor %}<label for="email">Or an email address</label>
<input id="email" name="email" type="email" required>
<button type="submit">Sign in</button></form></main></body></html>
"""

_ERROR = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign-in error</title></head>
<body><main><h1>Sign-in error</h1><p>{{ error }}: {{ description }}</p></main></body></html>
"""

_env = Environment(autoescape=True)
_form_page = _env.from_string(_FORM)
_error_page = _env.from_string(_ERROR)
_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge",
           "code_challenge_method")


def s256(verifier: str) -> str:
    """RFC 7636's S256 code challenge of ``verifier``."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


class OidcEmulator(Emulator):
    name = "oidc"

    def __init__(self, config: EmulatorConfig | None = None, *, client_id: str = CLIENT_ID,
                 client_secret: str = "oidc-sandbox-secret", code_seconds: float = 60.0,
                 token_seconds: int = 300) -> None:
        super().__init__(config)
        self.clients = {client_id: client_secret}
        #: Registered redirect URIs (exact match, as the spec asks).
        self.redirect_uris: set[str] = set()
        #: email → (name, email_verified).
        self.people: dict[str, tuple[str, bool]] = {}
        #: Where the discovery document says its endpoints are (None: here), as a provider misconfigured behind a
        #: proxy would say, e.g. plain ``http://idp.example.com``.
        self.endpoint_base: str | None = None
        self.code_seconds = code_seconds
        self.token_seconds = token_seconds
        self.key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        self._grants: dict[str, _Grant] = {}
        self._access: dict[str, _Grant] = {}
        self.route("GET", "/.well-known/openid-configuration", "discovery", self._discovery)
        self.route("GET", "/authorize", "GET /authorize", self._authorize_form)
        self.route("POST", "/authorize", "POST /authorize", self._authorize_post)
        self.route("POST", "/token", "token", self._token)
        self.route("GET", "/jwks", "jwks", self._jwks)
        self.route("GET", "/userinfo", "userinfo", self._userinfo)

    @property
    def issuer(self) -> str:
        return self.base_url

    def add_person(self, email: str, name: str, *, verified: bool = True) -> None:
        self.people[email.lower()] = (name, verified)

    def sign(self, claims: dict[str, Any], *, key: RSAKey | None = None, alg: str = "RS256") -> str:
        """An ID token (JWS compact) with exactly ``claims``, under the provider's key (or ``key``)."""
        k = key or self.key
        return jwt.encode({"alg": alg, "kid": k.kid, "typ": "JWT"}, claims, k, algorithms=[alg])

    def id_token(self, email: str, /, *, nonce: str | None, client_id: str = CLIENT_ID, **extra: Any) -> str:
        """The ID token this provider issues for ``email`` (``extra`` overrides or adds claims)."""
        name, verified = self.people.get(email.lower(), (email.split("@")[0], True))
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": self._sub(email), "aud": client_id, "iat": now, "exp": now + self.token_seconds,
            "auth_time": now, "nonce": nonce, "email": email, "email_verified": verified, "name": name}
        claims.update(extra)
        return self.sign({k: v for k, v in claims.items() if v is not None})

    @staticmethod
    def _sub(email: str) -> str:
        return hashlib.sha256(email.lower().encode()).hexdigest()[:24]

    # -- endpoints ------------------------------------------------------------------------------------------------
    async def _discovery(self, _request: web.Request) -> web.Response:
        base = self.endpoint_base or self.issuer
        return web.json_response({
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "email", "email_verified",
                                 "name"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code"],
            "authorization_response_iss_parameter_supported": True,
        })

    async def _jwks(self, _request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    def _check_request(self, params: dict[str, str]) -> web.Response | str | None:
        """An error page (client or redirect URI wrong: never redirected), an error redirect URL, or None (fine)."""
        client, redirect_uri = params.get("client_id", ""), params.get("redirect_uri", "")
        if client not in self.clients:
            return _error(400, "invalid_request", "unknown client_id")
        if redirect_uri not in self.redirect_uris:
            return _error(400, "invalid_request", "redirect_uri is not registered for this client")

        def back(error: str, description: str) -> str:
            query = {"error": error, "error_description": description, "iss": self.issuer}
            if params.get("state"):
                query["state"] = params["state"]
            return f"{redirect_uri}{'&' if urlsplit(redirect_uri).query else '?'}{urlencode(query)}"

        if params.get("response_type") != "code":
            return back("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in params.get("scope", "").split():
            return back("invalid_scope", "the scope must include openid")
        if not params.get("code_challenge") or params.get("code_challenge_method") != "S256":
            return back("invalid_request", "PKCE is required: send code_challenge with code_challenge_method=S256")
        return None

    async def _authorize_form(self, request: web.Request) -> web.StreamResponse:
        params = {k: request.query.get(k, "") for k in _PARAMS}
        wrong = self._check_request(params)
        if isinstance(wrong, web.Response):
            return wrong
        if isinstance(wrong, str):
            raise web.HTTPFound(wrong)
        people = sorted(((email, name) for email, (name, _v) in self.people.items()), key=lambda p: p[1])
        html = _form_page.render(client=params["client_id"], hidden=params, people=people)
        return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _authorize_post(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        params = {k: str(form.get(k, "")) for k in _PARAMS}
        wrong = self._check_request(params)
        if isinstance(wrong, web.Response):
            return wrong
        if isinstance(wrong, str):
            raise web.HTTPFound(wrong)
        email = str(form.get("email", "")).strip()
        if "@" not in email:
            return _error(400, "invalid_request", "give an email address")
        name, verified = self.people.get(email.lower(), (email.split("@")[0], True))
        code = secrets.token_urlsafe(24)
        self._grants[code] = _Grant(params["client_id"], params["redirect_uri"], params["code_challenge"],
                                    params["nonce"], params["scope"], email, name, verified,
                                    time.monotonic() + self.code_seconds, int(time.time()))
        query = {"code": code, "iss": self.issuer}
        if params["state"]:
            query["state"] = params["state"]
        sep = "&" if urlsplit(params["redirect_uri"]).query else "?"
        raise web.HTTPFound(f"{params['redirect_uri']}{sep}{urlencode(query)}")

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret, basic = "", "", False
        header = request.headers.get("Authorization", "")
        if header[:6].lower() == "basic ":
            basic = True
            try:
                client_id, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except ValueError:
                return _token_error("invalid_client", "the Authorization header is not valid Basic credentials", 401)
        elif "client_secret" in form:
            client_id, secret = str(form.get("client_id", "")), str(form["client_secret"])
        else:
            return _token_error("invalid_client", "client authentication is required", 401)
        if basic:  # RFC 6749 2.3.1: the id and secret are form-encoded before Basic
            client_id, secret = unquote_plus(client_id), unquote_plus(secret)
        wanted = self.clients.get(client_id)
        if wanted is None or not secrets.compare_digest(wanted.encode(), secret.encode()):
            return _token_error("invalid_client", "client authentication failed", 401)
        if form.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type", "only authorization_code is supported")
        code, redirect_uri = str(form.get("code", "")), str(form.get("redirect_uri", ""))
        verifier = str(form.get("code_verifier", ""))
        if not code or not redirect_uri:
            return _token_error("invalid_request", "code and redirect_uri are required")
        grant = self._grants.get(code)
        if grant is None:
            return _token_error("invalid_grant", "the code is not valid")
        if grant.used:
            return _token_error("invalid_grant", "the code was used already")
        grant.used = True  # a failed attempt spends it too
        if time.monotonic() > grant.expires:
            return _token_error("invalid_grant", "the code has expired")
        if grant.client_id != client_id:
            return _token_error("invalid_grant", "the code was issued to another client")
        if grant.redirect_uri != redirect_uri:
            return _token_error("invalid_grant", "redirect_uri does not match the authorization request's")
        if not 43 <= len(verifier) <= 128 or not secrets.compare_digest(s256(verifier), grant.challenge):
            return _token_error("invalid_grant", "the code_verifier does not match the code_challenge")
        access = secrets.token_urlsafe(24)
        self._access[access] = grant
        # the nonce only when the request sent one (Core 3.1.2.1), as the claim is then absent
        id_token = self.id_token(grant.email, nonce=grant.nonce or None, client_id=client_id, auth_time=grant.auth_time)
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": self.token_seconds, "id_token": id_token,
             "scope": grant.scope},
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _userinfo(self, request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        grant = self._access.get(header[7:]) if header[:7].lower() == "bearer " else None
        if grant is None:
            return web.json_response({"error": "invalid_token"}, status=401,
                                     headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return web.json_response({"sub": self._sub(grant.email), "email": grant.email,
                                  "email_verified": grant.verified, "name": grant.name})


def _error(status: int, error: str, description: str) -> web.Response:
    return web.Response(status=status, text=_error_page.render(error=error, description=description),
                        content_type="text/html")


def _token_error(error: str, description: str, status: int = 400) -> web.Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="token"'
    return web.json_response({"error": error, "error_description": description}, status=status, headers=headers)
