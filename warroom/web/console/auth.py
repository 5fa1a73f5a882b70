"""Signing in to the web console (the interface the pages use; see the package's docstring).

The pages call :func:`user_of` and, when it answers ``None``, return :func:`signin_redirect`. Tests that need a signed-in
browser without going through the identity provider use :func:`session_cookie`.

The flow (OpenID Connect Core's authorization code flow, with RFC 7636 PKCE ``S256``):

- ``GET /console/signin?next=…``: a fresh ``state``, ``nonce`` and code verifier are kept in a short-lived signed
  cookie (:data:`FLOW_COOKIE`, :data:`FLOW_SECONDS`), and the browser is sent to the provider's authorization endpoint;
- ``GET /console/callback``: the ``state`` must be the cookie's; the code is exchanged at the token endpoint
  (:class:`~warroom.adapters.oidc.OidcProvider`); the ID token is verified — its RS256 signature against the
  provider's keys, ``iss``, ``aud`` (and ``azp`` when present or several audiences), ``exp``, ``iat``, ``nonce`` —
  then ``email_verified`` (Entra ID, which sends none for work accounts: ``xms_edov`` and a non-empty
  ``console.allowed_domains``) and ``console.allowed_domains`` (Google: its ``hd`` claim too); the session cookie (:data:`COOKIE`) is set and the browser sent
  to ``next``, which is only ever a local path under ``/console`` or ``/status`` (:func:`safe_next`);
- ``POST /console/signout`` (same-origin forms only) clears this browser's cookie; ``GET /console/signout`` shows the
  button. Nothing is kept on the server, so a copied session cookie stays good until it expires
  (``console.session_hours``).

Cookies are HttpOnly, ``SameSite=Lax`` (the provider's redirect back is a top-level GET, which Lax lets through) and
``Secure`` when ``server.public_url`` is https. Their values are ``<base64url JSON>.<HMAC-SHA256>`` under a key derived
from the capability links' (``server.link_secret``, or what it derives from) with a label of their own per purpose,
so a link signature can never pass for a session and the other way round. Every refusal is a page with a sentence
that says what to do (400 or 403); nothing secret (codes, tokens, the verifier) is logged or shown.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from warroom.adapters.errors import AdapterError
from warroom.adapters.oidc import OidcProvider
from warroom.response import signed_links

from .. import status_subscribers  # its same-origin check of forms (a module: the two import each other's)

if TYPE_CHECKING:
    from warroom.settings import Settings

log = logging.getLogger("warroom.web.console")

#: The session cookie's name.
COOKIE = "warroom_session"
#: The cookie that carries a sign-in under way (state, nonce, PKCE verifier, where to go next).
FLOW_COOKIE = "warroom_signin"
#: Seconds a sign-in may take at the identity provider.
FLOW_SECONDS = 600
#: Seconds of clock difference allowed with the identity provider (exp, iat).
LEEWAY = 120
SETTINGS: web.AppKey[Settings] = web.AppKey("console_settings")
PROVIDER: web.AppKey[OidcProvider] = web.AppKey("console_provider")

_SESSION_LABEL = b"warroom console sessions v1"
_FLOW_LABEL = b"warroom console sign-in v1"
_MAX_COOKIE = 4096

_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                                       "base-uri 'none'; form-action 'self'"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;max-width:40rem;margin:3rem auto;padding:0 1rem}
a{color:#0645ad}button{font:inherit;font-weight:600;padding:.45rem 1rem;color:#fff;background:#0645ad;border:0;
border-radius:.3rem}</style>
</head><body><header><h1>{{ heading }}</h1></header><main><p>{{ text }}</p>
{% if link %}<p><a href="{{ link.href }}">{{ link.text }}</a></p>{% endif %}
{% if signout %}<form method="post" action="/console/signout"><button type="submit">Sign out</button></form>{% endif %}
</main></body></html>
"""
_page = Environment(autoescape=True).from_string(_PAGE)


@dataclass(frozen=True)
class ConsoleUser:
    """A person signed in to the console: their email address (as the identity provider vouched for it) and name."""

    email: str
    name: str


class SignInRefused(Exception):
    """A sign-in that does not go through: ``sentence`` says why and what to do (shown as it is: nothing secret)."""

    def __init__(self, sentence: str, status: int = 403) -> None:
        super().__init__(sentence)
        self.sentence = sentence
        self.status = status


# -- signed cookie values ---------------------------------------------------------------------------------------
def _key(settings: Settings, label: bytes) -> bytes | None:
    """The key of one purpose's cookies, derived from the capability links' key; None when there is none."""
    base = signed_links.key(settings)
    return None if base is None else hmac.new(base, label, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def seal(key: bytes, payload: dict[str, Any]) -> str:
    """``payload`` as a cookie value: base64url JSON, a dot, its HMAC-SHA256 (base64url)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=True).encode())
    return f"{body}.{_b64(hmac.new(key, body.encode(), hashlib.sha256).digest())}"


def unseal(key: bytes, value: str, now: datetime) -> dict[str, Any] | None:
    """The payload of a value made by :func:`seal` under ``key`` whose ``exp`` (seconds) is after ``now``; else None."""
    if not value or len(value) > _MAX_COOKIE or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    wanted = _b64(hmac.new(key, body.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(wanted.encode(), mac.encode("ascii", "replace")):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
        return None
    return payload if payload["exp"] > now.timestamp() else None


def session_cookie(settings: Settings, user: ConsoleUser, now: datetime) -> tuple[str, str]:
    """The session cookie (name, value) for ``user`` signed in at ``now``."""
    key = _key(settings, _SESSION_LABEL)
    if key is None:
        raise ValueError("no secret to sign sessions with: set server.link_secret")
    expires = now + timedelta(hours=settings.console.session_hours)
    return COOKIE, seal(key, {"email": user.email, "name": user.name, "iat": int(now.timestamp()),
                              "exp": int(expires.timestamp())})


def session_user(settings: Settings, value: str, now: datetime) -> ConsoleUser | None:
    """Who a session cookie's value names, when it is genuine and unexpired (and the console is configured)."""
    key = _key(settings, _SESSION_LABEL)
    if key is None or not configured(settings):
        return None
    payload = unseal(key, value, now)
    if payload is None or not isinstance(payload.get("email"), str) or not isinstance(payload.get("name"), str):
        return None
    iat = payload.get("iat")
    # a session no longer than session_hours now says (lowering it ends the longer ones)
    if not isinstance(iat, int) or iat + settings.console.session_hours * 3600 < now.timestamp():
        return None
    return ConsoleUser(payload["email"], payload["name"])


def configured(settings: Settings) -> bool:
    c = settings.console
    return bool(c.oidc_issuer and c.client_id and c.client_secret is not None)


def user_of(request: web.Request) -> ConsoleUser | None:
    """Who is signed in on this request (a valid, unexpired session cookie), else ``None``."""
    settings = request.app.get(SETTINGS)
    value = request.cookies.get(COOKIE)
    if settings is None or not value:
        return None
    return session_user(settings, value, datetime.now(UTC))


def signin_redirect(request: web.Request) -> web.HTTPFound:
    """Where to send a request that needs a signed-in person: the sign-in page, remembering the page asked for."""
    return web.HTTPFound(signin_path(request.path_qs))


def signin_path(next_path: str) -> str:
    """The sign-in URL (a local path) that comes back to ``next_path``."""
    return "/console/signin?" + urlencode({"next": safe_next(next_path)})


_NEXT_RE = re.compile(r"/(console|status)(/[^\\]*)?(\?[^\\]*)?")


def safe_next(value: str | None) -> str:
    """``value`` when it is a local path under /console or /status (never another site: no scheme, no host, no
    ``//`` or backslash, no control characters); else ``/console``."""
    value = value or ""
    if (len(value) > 2000 or not _NEXT_RE.fullmatch(value) or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
            or "//" in value.split("?", 1)[0]):
        return "/console"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or ".." in parts.path.split("/"):
        return "/console"
    return value


# -- verifying the ID token -------------------------------------------------------------------------------------
#: Entra ID's issuers start so (``https://login.microsoftonline.com/<tenant>/v2.0``); Google's is exactly that.
ENTRA = "https://login.microsoftonline.com/"
GOOGLE = "https://accounts.google.com"


def has_control(value: str) -> bool:
    """Whether ``value`` holds a control character (NUL, a line break, DEL, C1…), which no input here needs."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def token_kid(token: str) -> str:
    """The key id a compact JWS names in its header; '' when it names none or is no JWS."""
    if len(token) > 16384 or not _COMPACT.fullmatch(token):
        raise SignInRefused("The identity provider's answer held no signed ID token: start the sign-in again; if it "
                            "happens again, tell the administrator.", 400)
    try:
        kid = extract_compact(token.encode("ascii")).headers().get("kid")
    except (JoseError, ValueError):
        kid = None
    return kid if isinstance(kid, str) else ""


def verify_id_token(token: str, keys: KeySet, *, issuer: str, client_id: str, nonce: str, now: datetime,
                    allowed_domains: list[str]) -> ConsoleUser:
    """The person an ID token names, after every check OpenID Connect Core 3.1.3.7 asks of it and ours
    (``email_verified`` or Entra ID's ``xms_edov``, ``allowed_domains``, Google's ``hd``); :class:`SignInRefused`
    with the sentence otherwise."""
    again = "start the sign-in again"
    token_kid(token)
    try:
        decoded = jwt.decode(token, keys, algorithms=["RS256"])
    except JoseError:
        raise SignInRefused("The ID token's signature does not verify against the identity provider's keys: "
                            f"{again}; if it happens again, check console.oidc_issuer.", 400) from None
    if decoded.header.get("alg") != "RS256":
        raise SignInRefused(f"The ID token is not signed with RS256: {again}.", 400)
    claims = dict(decoded.claims)
    when = now.timestamp()
    if str(claims.get("iss", "")).rstrip("/") != issuer.rstrip("/"):
        raise SignInRefused("The ID token was issued by another identity provider than console.oidc_issuer: "
                            f"{again}; if it happens again, check console.oidc_issuer.", 400)
    aud, azp = claims.get("aud"), claims.get("azp")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    # azp, when present, names the party the token was issued to (OpenID Connect Core 2): it must be us
    if client_id not in audiences or ((azp is not None or len(audiences) > 1) and azp != client_id):
        raise SignInRefused("The ID token was issued to another application than console.client_id: "
                            f"{again}; if it happens again, check console.client_id.", 400)
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + LEEWAY < when:
        raise SignInRefused(f"The ID token has expired (or this server's clock is wrong): {again}.", 400)
    if not isinstance(iat, int | float) or iat - LEEWAY > when:
        raise SignInRefused(f"The ID token was issued in the future (this server's clock is wrong?): {again}.", 400)
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(str(claims["nonce"]).encode(),
                                                                            nonce.encode()):
        raise SignInRefused(f"The ID token was not made for this sign-in (its nonce differs): {again}.", 400)
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SignInRefused(f"The ID token names nobody (it has no sub): {again}.", 400)
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 254 or has_control(email):
        raise SignInRefused("The identity provider did not say your email address: ask the administrator to let "
                            "warroom read it (the email scope and claim).")
    verified = claims.get("email_verified")
    if verified is None and issuer.startswith(ENTRA):
        # Entra ID sends no email_verified for work accounts; xms_edov says the tenant verified the email's domain —
        # which only means something together with the domains this console lets in
        if claims.get("xms_edov") is not True:
            raise SignInRefused("Entra ID did not say that your email address's domain is verified: the "
                                "administrator adds the optional ID-token claims email and xms_edov to warroom's app "
                                "registration (Token configuration), then you sign in again.")
        if not allowed_domains:
            raise SignInRefused("This console lets in Entra ID accounts only when console.allowed_domains is set "
                                "(Entra ID does not say whether an email address is verified): the administrator "
                                "sets console.allowed_domains to the organisation's email domains.")
    elif verified is not True:
        raise SignInRefused(f"The identity provider has not verified your email address {email}: verify it there, "
                            "then sign in again.")
    domain = email.rsplit("@", 1)[1].lower()
    if allowed_domains and domain not in allowed_domains:
        raise SignInRefused(f"Accounts of {domain} may not use this console (it lets in "
                            f"{', '.join(allowed_domains)}): sign in with your work account.")
    hd = claims.get("hd")
    if allowed_domains and issuer.rstrip("/") == GOOGLE and (not isinstance(hd, str) or hd.lower() not in
                                                              allowed_domains):
        # a personal Google account can carry a verified work address; only the hd claim says it is the Workspace's
        raise SignInRefused(f"Your Google account {email} is not an account of the organisation's Google Workspace "
                            f"({', '.join(allowed_domains)}): sign in with your work Google account.")
    name = claims.get("name")
    email = email.strip().lower()  # as the settings write people's addresses
    return ConsoleUser(email, name.strip()[:200] if isinstance(name, str) and name.strip() else email)


# -- the HTTP side --------------------------------------------------------------------------------------------------
def _html(status: int, heading: str, text: str, *, link: tuple[str, str] | None = None,
          signout: bool = False) -> web.Response:
    body = _page.render(heading=heading, text=text, signout=signout,
                        link={"href": link[0], "text": link[1]} if link else None)
    return web.Response(status=status, text=body, content_type="text/html", charset="utf-8", headers=_HEADERS)


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={**_HEADERS, "Location": location})


def not_configured() -> web.Response:
    return _html(404, "The web console is not configured",
                 "Signing in needs an OpenID Connect identity provider: register warroom there as a web application "
                 "(redirect URI <server.public_url>/console/callback), then set console.oidc_issuer, "
                 "console.client_id and WARROOM_CONSOLE__CLIENT_SECRET, and restart warroom.")


def _secure(settings: Settings) -> bool:
    return settings.server.public_url.strip().lower().startswith("https://")


def _s256(verifier: str) -> str:
    return _b64(hashlib.sha256(verifier.encode("ascii")).digest())


def mount(app: web.Application, settings: Settings) -> None:
    """``/console/signin``, ``/console/callback``, ``/console/signout``; :func:`user_of` reads the settings here."""
    app[SETTINGS] = settings
    c = settings.console
    provider: OidcProvider | None = None
    if configured(settings) and c.client_secret is not None:
        provider = OidcProvider(c.oidc_issuer, c.client_id, c.client_secret.get_secret_value())
        app[PROVIDER] = provider

        async def close(_app: web.Application) -> None:
            await provider.aclose()

        app.on_cleanup.append(close)

    def redirect_uri() -> str:
        return settings.server.public_url.rstrip("/") + "/console/callback"

    def restart(text: str, status: int = 400, next_path: str = "/console") -> web.Response:
        return _html(status, "Sign-in did not complete", text, link=(signin_path(next_path), "Sign in again"))

    async def signin(request: web.Request) -> web.StreamResponse:
        flow_key = _key(settings, _FLOW_LABEL)
        if provider is None:
            return not_configured()
        if flow_key is None:
            return _html(400, "Signing in is not set up",
                         "There is no secret to sign sessions with: the administrator sets WARROOM_SERVER__LINK_SECRET "
                         "to a long random string and restarts warroom.")
        next_path = safe_next(request.query.get("next"))
        try:
            meta = await provider.metadata()
        except AdapterError as exc:
            log.warning("console sign-in: %s", exc.reason)
            return _html(400, "The identity provider cannot be reached",
                         "warroom could not read the identity provider's configuration: try again in a minute; if it "
                         "stays, the administrator checks console.oidc_issuer (warroom check-config --online).",
                         link=(signin_path(next_path), "Try again"))
        state, nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48)
        now = datetime.now(UTC)
        flow = seal(flow_key, {"state": state, "nonce": nonce, "verifier": verifier, "next": next_path,
                               "exp": int(now.timestamp()) + FLOW_SECONDS})
        query = urlencode({"response_type": "code", "client_id": c.client_id, "redirect_uri": redirect_uri(),
                           "scope": " ".join(c.scopes), "state": state, "nonce": nonce,
                           "code_challenge": _s256(verifier), "code_challenge_method": "S256"})
        endpoint = str(meta["authorization_endpoint"])
        response = _redirect(f"{endpoint}{'&' if '?' in endpoint else '?'}{query}")
        response.set_cookie(FLOW_COOKIE, flow, max_age=FLOW_SECONDS, path="/console", httponly=True,
                            samesite="Lax", secure=_secure(settings))
        return response

    async def callback(request: web.Request) -> web.StreamResponse:
        flow_key, session_key = _key(settings, _FLOW_LABEL), _key(settings, _SESSION_LABEL)
        if provider is None or flow_key is None or session_key is None:
            return not_configured()
        now = datetime.now(UTC)
        flow = unseal(flow_key, request.cookies.get(FLOW_COOKIE, ""), now)
        if flow is None:
            return restart("This sign-in took longer than 10 minutes, or was started in another browser (or with "
                           "cookies blocked): start it again from here.")
        next_path = safe_next(str(flow.get("next", "")))
        error = request.query.get("error")
        if error is not None:
            said = re.sub(r"[^A-Za-z0-9_.-]", "", error)[:60] or "an error"
            log.info("console sign-in: the identity provider answered %s", said)
            return restart(f"The identity provider did not sign you in ({said}): sign in again; if it says the same, "
                           "ask the administrator whether your account may use warroom.", 403, next_path)
        state, code = request.query.get("state", ""), request.query.get("code", "")
        if any(has_control(v) or len(v) > 4096 for k, v in request.query.items() if k in ("state", "code", "iss")):
            return restart("This answer from the identity provider carries characters or lengths no sign-in answer "
                           "has: start the sign-in again.", 400, next_path)
        if not hmac.compare_digest(state.encode("utf-8", "replace"), str(flow.get("state", "")).encode()):
            return restart("This answer from the identity provider is not for the sign-in this browser started "
                           "(another tab may have started a newer one): start it again.", 400, next_path)
        if not code or len(code) > 4096:
            return restart("The identity provider's answer carries no sign-in code: start the sign-in again.", 400,
                           next_path)
        iss = request.query.get("iss")  # RFC 9207, when the provider sends it
        if iss is not None and iss.rstrip("/") != provider.issuer:
            return restart("This answer came from another identity provider than console.oidc_issuer: start the "
                           "sign-in again.", 400, next_path)
        try:
            tokens = await provider.exchange(code, redirect_uri(), str(flow.get("verifier", "")))
            id_token = str(tokens["id_token"])
            keys = await provider.keys(refresh=False)
            kid = token_kid(id_token)
            if kid and not any(k.kid == kid for k in keys.keys):
                keys = await provider.keys(refresh=True)  # the provider rotated its keys
            user = verify_id_token(id_token, keys, issuer=provider.issuer, client_id=c.client_id,
                                   nonce=str(flow.get("nonce", "")), now=now, allowed_domains=c.allowed_domains)
        except AdapterError as exc:
            log.warning("console sign-in: %s", exc.reason)
            return restart("The identity provider did not accept this sign-in (the code may have expired or been "
                           "used): start it again; if it happens again, the administrator checks console.client_id "
                           "and its secret.", 400, next_path)
        except SignInRefused as exc:
            log.info("console sign-in refused: %s", exc.sentence)
            return restart(exc.sentence, exc.status, next_path)
        log.info("console: %s signed in", user.email)
        response = _redirect(next_path)
        name, value = session_cookie(settings, user, now)
        response.set_cookie(name, value, max_age=int(c.session_hours * 3600), path="/", httponly=True,
                            samesite="Lax", secure=_secure(settings))
        response.del_cookie(FLOW_COOKIE, path="/console", httponly=True, samesite="Lax", secure=_secure(settings))
        return response

    async def signout_form(request: web.Request) -> web.StreamResponse:
        if provider is None:
            return not_configured()
        user = user_of(request)
        if user is None:
            return _html(200, "You are not signed in", "Nobody is signed in to the console in this browser.",
                         link=(signin_path("/console"), "Sign in"))
        return _html(200, "Sign out", f"You are signed in as {user.name} ({user.email}).", signout=True)

    async def signout(request: web.Request) -> web.StreamResponse:
        if status_subscribers.cross_site(request, settings):
            return _html(403, "Sign-out refused", "This sign-out form came from another site: sign out from "
                         "warroom's own page.", link=("/console/signout", "Sign out"))
        user = user_of(request)
        if user is not None:
            log.info("console: %s signed out", user.email)
        response = _html(200, "You are signed out", "You are signed out of the warroom console in this browser.",
                         link=(signin_path("/console"), "Sign in again"))
        response.del_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=_secure(settings))
        return response

    app.router.add_get("/console/signin", signin)
    app.router.add_get("/console/callback", callback)
    app.router.add_get("/console/signout", signout_form)
    app.router.add_post("/console/signout", signout)
