"""The console's sign-in, piece by piece: the session cookie (tampered, expired, another server's secret), where
``next`` may lead (never another site), and the ID token's checks — each refusing with its sentence. ID tokens are
real RS256 JWTs signed by the sandbox provider's key (:meth:`OidcEmulator.sign`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from joserfc.jwk import KeySet, RSAKey

from warroom.sandbox.oidc import CLIENT_ID, OidcEmulator
from warroom.settings import Settings
from warroom.web.console import auth
from warroom.web.console.auth import ConsoleUser, SignInRefused

ISSUER = "https://idp.example.com/tenant"
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
ANA = ConsoleUser("ana@example.com", "Ana Ops")


def settings(link_secret: str = "one-long-random-link-secret", **console: Any) -> Settings:
    return Settings(server={"link_secret": link_secret},
                    console={"oidc_issuer": ISSUER, "client_id": CLIENT_ID, "client_secret": "s", **console})


# -- the session cookie -----------------------------------------------------------------------------------------
def test_session_cookie_names_its_person_until_it_expires() -> None:
    s = settings(session_hours=12)
    name, value = auth.session_cookie(s, ANA, NOW)
    assert name == auth.COOKIE == "warroom_session"
    assert auth.session_user(s, value, NOW + timedelta(hours=11, minutes=59)) == ANA
    assert auth.session_user(s, value, NOW + timedelta(hours=12, seconds=1)) is None


def test_tampered_session_cookie_is_nobody() -> None:
    s = settings()
    _, value = auth.session_cookie(s, ANA, NOW)
    body, mac = value.split(".")
    forged_body = auth.seal(b"guess", {"email": "dana@example.com", "name": "D", "iat": 0, "exp": 2**40}).split(".")[0]
    flipped = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1]
    for bad in (f"{forged_body}.{mac}", f"{flipped}.{mac}", f"{body}.{mac[:-1]}", body, "", f"{value}.x", "é.é"):
        assert auth.session_user(s, bad, NOW) is None, bad


def test_session_cookie_of_another_secret_or_purpose_is_nobody() -> None:
    _, value = auth.session_cookie(settings("secret-of-server-one"), ANA, NOW)
    assert auth.session_user(settings("secret-of-server-two"), value, NOW) is None
    # a sign-in cookie (another purpose's key) never passes for a session
    flow_key = auth._key(settings(), b"warroom console sign-in v1")
    assert flow_key is not None
    flow = auth.seal(flow_key, {"email": "ana@example.com", "name": "Ana", "iat": int(NOW.timestamp()),
                                "exp": int(NOW.timestamp()) + 60})
    assert auth.session_user(settings(), flow, NOW) is None


def test_lowering_session_hours_ends_longer_sessions_and_no_console_no_session() -> None:
    _, value = auth.session_cookie(settings(session_hours=24), ANA, NOW)
    assert auth.session_user(settings(session_hours=1), value, NOW + timedelta(hours=2)) is None
    off = Settings(server={"link_secret": "one-long-random-link-secret"})
    assert auth.session_user(off, value, NOW) is None


# -- next ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("asked", "goes"), [
    ("/status/ops", "/status/ops"),
    ("/status/ops?expires=1&token=ab", "/status/ops?expires=1&token=ab"),
    ("/console", "/console"),
    ("/console/incidents/12", "/console/incidents/12"),
    ("https://evil.example", "/console"),
    ("//evil.example", "/console"),
    ("/\\evil.example", "/console"),
    ("/console//evil.example", "/console"),
    ("/console/../admin", "/console"),
    ("/consolex", "/console"),
    ("/healthz", "/console"),
    ("javascript:alert(1)", "/console"),
    ("/status/ops\r\nSet-Cookie: x=1", "/console"),
    ("", "/console"),
    (None, "/console"),
])
def test_next_is_only_a_local_console_or_status_path(asked: str | None, goes: str) -> None:
    assert auth.safe_next(asked) == goes


# -- the ID token ---------------------------------------------------------------------------------------------
@pytest.fixture
def idp() -> OidcEmulator:
    emulator = OidcEmulator()
    emulator.base_url = ISSUER  # not started: only its key signs here
    emulator.add_person("ana@example.com", "Ana Ops")
    emulator.add_person("zed@example.com", "Zed", verified=False)
    emulator.add_person("fay@contractor.example", "Fay Contractor")
    return emulator


def keys(idp: OidcEmulator) -> KeySet:
    return KeySet.import_key_set({"keys": [idp.key.as_dict(private=False)]})


def verify(idp: OidcEmulator, token: str, *, domains: list[str] | None = None, nonce: str = "n-1") -> ConsoleUser:
    return auth.verify_id_token(token, keys(idp), issuer=ISSUER, client_id=CLIENT_ID, nonce=nonce,
                                now=datetime.now(UTC), allowed_domains=domains or [])


def test_a_good_id_token_names_the_person(idp: OidcEmulator) -> None:
    assert verify(idp, idp.id_token("ana@example.com", nonce="n-1")) == ANA
    assert verify(idp, idp.id_token("ana@example.com", nonce="n-1"), domains=["example.com"]) == ANA
    several = idp.id_token("ana@example.com", nonce="n-1", aud=[CLIENT_ID, "other"], azp=CLIENT_ID)
    assert verify(idp, several) == ANA


@pytest.mark.parametrize(("case", "says"), [
    ("wrong aud", "issued to another application than console.client_id"),
    ("several aud, azp another", "issued to another application than console.client_id"),
    ("wrong iss", "issued by another identity provider than console.oidc_issuer"),
    ("expired", "has expired"),
    ("bad nonce", "not made for this sign-in"),
    ("no nonce", "not made for this sign-in"),
    ("unverified email", "has not verified your email address zed@example.com"),
    ("disallowed domain", "Accounts of contractor.example may not use this console"),
    ("another key", "signature does not verify"),
    ("no email", "did not say your email address"),
    ("no sub", "names nobody"),
    ("not a jwt", "held no signed ID token"),
])
def test_id_token_refusals_say_what_to_do(idp: OidcEmulator, case: str, says: str) -> None:
    now = int(time.time())
    email, domains = "ana@example.com", ["example.com"]
    token: str
    if case == "wrong aud":
        token = idp.id_token(email, nonce="n-1", aud="someone-else")
    elif case == "several aud, azp another":
        token = idp.id_token(email, nonce="n-1", aud=[CLIENT_ID, "other"], azp="other")
    elif case == "wrong iss":
        token = idp.id_token(email, nonce="n-1", iss="https://idp.example.com/another-tenant")
    elif case == "expired":
        token = idp.id_token(email, nonce="n-1", iat=now - 3600, exp=now - 600)
    elif case == "bad nonce":
        token = idp.id_token(email, nonce="n-2")
    elif case == "no nonce":
        token = idp.id_token(email, nonce=None)
    elif case == "unverified email":
        token, domains = idp.id_token("zed@example.com", nonce="n-1"), []
    elif case == "disallowed domain":
        token = idp.id_token("fay@contractor.example", nonce="n-1")
    elif case == "another key":
        other = RSAKey.generate_key(2048, parameters={"kid": idp.key.kid})
        token = idp.sign({"iss": ISSUER, "aud": CLIENT_ID, "exp": now + 60, "iat": now, "nonce": "n-1",
                          "email": email, "email_verified": True}, key=other)
    elif case == "no sub":
        token = idp.id_token(email, nonce="n-1", sub=None)
    elif case == "no email":
        token = idp.id_token(email, nonce="n-1", email=None)
    else:
        token = "not.a-jwt"
    with pytest.raises(SignInRefused) as refused:
        verify(idp, token, domains=domains)
    assert says in refused.value.sentence
    assert refused.value.status in (400, 403)
    assert refused.value.sentence.endswith(".") and ":" in refused.value.sentence  # what happened: what to do


def test_azp_when_present_must_be_the_client_even_with_one_audience(idp: OidcEmulator) -> None:
    with pytest.raises(SignInRefused, match=r"issued to another application than console\.client_id"):
        verify(idp, idp.id_token("ana@example.com", nonce="n-1", azp="another-client"))
    assert verify(idp, idp.id_token("ana@example.com", nonce="n-1", azp=CLIENT_ID)) == ANA


ENTRA = "https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000/v2.0"
GOOGLE = "https://accounts.google.com"


def issued_by(idp: OidcEmulator, issuer: str, domains: list[str], **claims: Any) -> ConsoleUser:
    idp.base_url = issuer
    token = idp.id_token("ana@example.com", nonce="n-1", **claims)
    return auth.verify_id_token(token, keys(idp), issuer=issuer, client_id=CLIENT_ID, nonce="n-1",
                                now=datetime.now(UTC), allowed_domains=domains)


def test_entra_work_accounts_sign_in_by_xms_edov_with_allowed_domains(idp: OidcEmulator) -> None:
    # Entra ID sends no email_verified for work accounts; xms_edov (the domain owner verified it) stands in
    assert issued_by(idp, ENTRA, ["example.com"], email_verified=None, xms_edov=True) == ANA
    with pytest.raises(SignInRefused) as no_domains:
        issued_by(idp, ENTRA, [], email_verified=None, xms_edov=True)
    assert "only when console.allowed_domains is set" in no_domains.value.sentence
    assert "sets console.allowed_domains" in no_domains.value.sentence
    for claims in ({"email_verified": None}, {"email_verified": None, "xms_edov": False},
                   {"email_verified": None, "xms_edov": "true"}):
        with pytest.raises(SignInRefused) as no_edov:
            issued_by(idp, ENTRA, ["example.com"], **claims)
        assert "optional ID-token claims email and xms_edov" in no_edov.value.sentence, claims
    with pytest.raises(SignInRefused, match="has not verified your email address"):
        issued_by(idp, ENTRA, ["example.com"], email_verified=False, xms_edov=True)
    # another provider's token without email_verified is not taken on xms_edov's word
    with pytest.raises(SignInRefused, match="has not verified your email address"):
        issued_by(idp, ISSUER, ["example.com"], email_verified=None, xms_edov=True)


def test_google_needs_the_workspace_hd_claim_when_domains_are_set(idp: OidcEmulator) -> None:
    assert issued_by(idp, GOOGLE, ["example.com"], hd="example.com") == ANA
    for hd in (None, "gmail.com"):  # a personal account with a verified work address, or another Workspace
        with pytest.raises(SignInRefused) as personal:
            issued_by(idp, GOOGLE, ["example.com"], hd=hd)
        assert "not an account of the organisation's Google Workspace" in personal.value.sentence
    assert issued_by(idp, GOOGLE, []) == ANA  # allow_any_account: anyone, as configured
    assert issued_by(idp, ISSUER, ["example.com"]) == ANA  # hd is Google's alone


# -- check-config -------------------------------------------------------------------------------------------------
def test_check_config_names_what_the_console_lacks() -> None:
    from warroom.settings import ConfigError, load_settings
    from warroom.settings import check as check_all

    def check(s: Settings) -> list[str]:  # the console's problems (the bare settings lack Slack's token and more)
        return [p for p in check_all(s) if "console" in p]

    assert check(settings(allowed_domains=["example.com"])) == []
    assert check(settings(allow_any_account=True)) == []
    anyone = " ".join(check(settings()))
    assert ("console.allowed_domains is empty, so anyone the identity provider signs in can read the private status "
            "pages and the console" in anyone and "console.allow_any_account: true" in anyone)
    plain = " ".join(check(Settings(server={"link_secret": "x", "public_url": "http://warroom.example.com"},
                                    console={"oidc_issuer": "http://idp.example.com", "client_id": "c",
                                             "client_secret": "s", "allowed_domains": ["example.com"]})))
    assert "server.public_url is 'http://warroom.example.com', plain http, while the console is on" in plain
    assert "without Secure" in plain and "console.oidc_issuer is 'http://idp.example.com', plain http" in plain
    on_loopback = Settings(server={"link_secret": "x", "public_url": "http://127.0.0.1:8080"},
                           console={"oidc_issuer": "http://localhost:9000", "client_id": "c", "client_secret": "s",
                                    "allow_any_account": True})
    assert check(on_loopback) == []  # the sandbox: nothing crosses a network
    assert "http" not in " ".join(check(Settings(server={"public_url": "http://warroom.example.com"})))  # console off
    assert Settings().console.session_hours == 8
    half = Settings(server={"link_secret": "x"}, console={"oidc_issuer": ISSUER})
    problems = " ".join(check(half))
    assert "console.client_id is not" in problems and "WARROOM_CONSOLE__CLIENT_SECRET" in problems
    orphan = " ".join(check(Settings(console={"client_id": "abc"})))
    assert "console.oidc_issuer is not" in orphan
    scopes = " ".join(check(settings(scopes=["profile"])))
    assert "console.scopes" in scopes and "openid and email" in scopes
    no_key = Settings(slack={"signing_secret": None}, console={"oidc_issuer": ISSUER, "client_id": "c",
                                                                "client_secret": "s"})
    assert "WARROOM_SERVER__LINK_SECRET" in " ".join(check(no_key))
    with pytest.raises(ValueError, match=r"console\.allowed_domains lists intranet, which is not an email domain"):
        settings(allowed_domains=["@example.com", "intranet"])
    with pytest.raises(ConfigError) as in_file:
        load_settings(overrides={"console": {"oidc_issuer": ISSUER, "client_id": "c", "client_secret": "s"}})
    assert any("console.client_secret is a secret and may not be written in the configuration file: set the "
               "environment variable WARROOM_CONSOLE__CLIENT_SECRET" in p for p in in_file.value.problems)
