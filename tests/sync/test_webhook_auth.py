"""Xurrent's signed webhook deliveries: what verifies, and every way a delivery is refused.

Tokens are made here with joserfc, shaped like the ones in Xurrent's own app-builder tests (header
``{"typ": "JWT", "alg": …}``; claims data, jti, sub as a string, iss, nbf, iat, aud, exp).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import ECKey, Key, OctKey, RSAKey

from warroom.sync.webhook_auth import (
    MAX_BODY_BYTES,
    MAX_TOKEN_CHARS,
    Delivery,
    WebhookPolicy,
    WebhookRejected,
    verify_delivery,
)

NOW = 1_800_000_000
ISSUER = "https://wdc.xurrent.com"
AUDIENCE = "warroom at wdc"
SECRET = "a shared secret of at least thirty-two bytes, for HS*"
CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def rsa_key() -> RSAKey:
    return RSAKey.generate_key(2048)


@cache
def ec_key(curve: str) -> ECKey:
    return ECKey.generate_key(curve)


def signing_key(alg: str) -> Key:
    if alg.startswith("HS"):
        return OctKey.import_key(SECRET)
    if alg.startswith("RS"):
        return rsa_key()
    return ec_key(CURVES[alg])


def public_pem(key: RSAKey | ECKey) -> str:
    return key.as_pem(private=False).decode()


def policy_for(alg: str, **kw: Any) -> WebhookPolicy:
    upper = alg.upper()
    key: str = SECRET if upper.startswith("HS") else public_pem(signing_key(upper))  # type: ignore[arg-type]
    base: dict[str, Any] = dict(algorithm=alg, issuer=ISSUER, audience=AUDIENCE, key=key)
    base.update(kw)
    return WebhookPolicy(**base)


def message(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "webhook_id": 945,
        "webhook_nodeID": "NG1lLmNvbS9XZWJob29rLzk0NQ",
        "account_id": "wdc",
        "account": ISSUER,
        "name": "Request status changed",
        "event": "request.status-changed",
        "object_id": 219,
        "object_nodeID": "NG1lLmNvbS9SZXF1ZXN0LzIxOQ",
        "person_id": 8543,
        "person_nodeID": "NG1lLmNvbS9QZXJzb24vODU0Mw",
        "person_name": "Howard Tanner",
        "payload": {
            "audit_line_id": 70011,
            "note_id": 3455,
            "source": "warroom",
            "sourceID": "imr-7",
            "status": "accepted",
            "previous_status": "assigned",
            "team": {"id": 372, "name": "End-User Support, Houston"},
            "member": {"id": 8529, "name": "Tom Edwards"},
        },
    }
    base.update(kw)
    return base


def claims(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "data": message(),
        "jti": "96119b558943acdecb001b75d9eee781479b7d9efe4025cb14611b868a4f407b",
        "sub": "945",
        "iss": ISSUER,
        "nbf": NOW - 5,
        "iat": NOW - 5,
        "aud": AUDIENCE,
        "exp": NOW + 60,
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not ...}


def sign(payload: dict[str, Any], alg: str = "RS256", key: Key | None = None, **header: Any) -> str:
    return jwt.encode({"alg": alg, **header}, payload, key or signing_key(alg), algorithms=[alg])


def body(token: object) -> bytes:
    return json.dumps({"jwt": token}).encode()


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def rejected(raw: bytes, policy: WebhookPolicy, now: float = NOW) -> WebhookRejected:
    """The delivery is refused with a sentence that gives nothing away."""
    with pytest.raises(WebhookRejected) as caught:
        verify_delivery(raw, policy, now=now)
    reason = caught.value.reason
    assert reason[0].isupper() and reason.endswith("."), reason
    assert str(caught.value) == reason
    assert caught.value.status in (400, 401, 413)
    assert SECRET not in reason and "BEGIN" not in reason and "eyJ" not in reason
    return caught.value


# --- what verifies ---------------------------------------------------------------------------------------


def test_an_rs256_delivery_verifies_into_its_fields() -> None:
    delivery = verify_delivery(body(sign(claims())), policy_for("RS256"), now=NOW)
    assert delivery == Delivery(
        jti="96119b558943acdecb001b75d9eee781479b7d9efe4025cb14611b868a4f407b",
        webhook_id=945,
        event="request.status-changed",
        object_id=219,
        account=ISSUER,
        account_id="wdc",
        person_id=8543,
        person_name="Howard Tanner",
        audit_line_id=70011,
        note_id=3455,
        payload=message()["payload"],
        message=message(),
        issued_at=float(NOW - 5),
    )
    assert delivery.callback is None


@pytest.mark.parametrize(
    "alg", ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"]
)
def test_every_algorithm_a_policy_can_choose_verifies(alg: str) -> None:
    delivery = verify_delivery(body(sign(claims(), alg)), policy_for(alg), now=NOW)
    assert (delivery.event, delivery.object_id, delivery.webhook_id) == ("request.status-changed", 219, 945)


def test_xurrents_lower_case_algorithm_names_and_bytes_keys_are_accepted() -> None:
    policy = policy_for("hs256", key=SECRET.encode())
    assert policy.algorithm == "HS256"
    assert verify_delivery(body(sign(claims(), "HS256")), policy, now=NOW).jti


def test_a_kid_header_from_openid_connect_discovery_does_not_matter_with_a_configured_key() -> None:
    token = sign(claims(iss=f"{ISSUER}/webhook_policies/abc"), "ES256", kid="k1")
    policy = policy_for("ES256", issuer=f"{ISSUER}/webhook_policies/abc")
    assert verify_delivery(body(token), policy, now=NOW).webhook_id == 945


def test_webhook_verify_is_an_ordinary_delivery_with_its_callback() -> None:
    callback = "https://wdc.xurrent.com/webhooks/945/verify?code=EmzqeGYTj5LAIwY-hWoYNLJQ&expires_at=1610618451"
    data = message(event="webhook.verify", object_id=945, payload={"callback": callback})
    delivery = verify_delivery(body(sign(claims(data=data))), policy_for("RS256"), now=NOW)
    assert (delivery.event, delivery.callback, delivery.object_id) == ("webhook.verify", callback, 945)
    assert (delivery.audit_line_id, delivery.note_id) == (None, None)


def test_a_system_event_has_no_person_and_odd_ids_read_as_absent() -> None:
    data = message(person_id=None, person_name="", object_id="x7", payload=["not", "an", "object"])
    data.pop("account")
    delivery = verify_delivery(body(sign(claims(data=data))), policy_for("RS256"), now=NOW)
    assert (delivery.person_id, delivery.person_name, delivery.object_id, delivery.account) == (None, None, None, None)
    assert delivery.payload == {} and delivery.message == data


def test_an_audience_list_holding_ours_and_a_token_without_nbf_verify() -> None:
    token = sign(claims(aud=["someone else", AUDIENCE], nbf=...))
    assert verify_delivery(body(token), policy_for("RS256"), now=NOW).jti


# --- time ---------------------------------------------------------------------------------------------------


def test_expiry_within_the_leeway_is_accepted_and_beyond_it_refused() -> None:
    policy = policy_for("RS256", leeway=30)
    token = sign(claims(exp=NOW - 20))
    assert verify_delivery(body(token), policy, now=NOW).jti
    assert "expired" in rejected(body(token), policy, now=NOW + 11).reason
    assert rejected(body(token), policy, now=NOW + 11).status == 401


def test_not_before_within_the_leeway_is_accepted_and_beyond_it_refused() -> None:
    policy = policy_for("RS256", leeway=30)
    token = sign(claims(nbf=NOW + 25, iat=NOW - 5))
    assert verify_delivery(body(token), policy, now=NOW).jti
    assert "not valid yet" in rejected(body(token), policy, now=NOW - 6).reason


def test_a_token_issued_in_the_future_beyond_the_leeway_is_refused() -> None:
    token = sign(claims(iat=NOW + 31, nbf=...))
    assert "issued in the future" in rejected(body(token), policy_for("RS256")).reason


def test_the_clock_is_used_when_now_is_not_given() -> None:
    issued = int(time.time())
    fresh = sign(claims(nbf=issued, iat=issued, exp=issued + 600))
    assert verify_delivery(body(fresh), policy_for("RS256")).jti
    stale = sign(claims(nbf=issued - 7200, iat=issued - 7200, exp=issued - 3600))
    assert "expired" in rejected(body(stale), policy_for("RS256"), now=time.time()).reason


# --- who signed it, for whom ----------------------------------------------------------------------------------


def test_wrong_audience_and_wrong_issuer_are_refused() -> None:
    policy = policy_for("RS256")
    assert "audience" in rejected(body(sign(claims(aud="someone else"))), policy).reason
    assert "issued by another account" in rejected(body(sign(claims(iss="https://evil.xurrent.com"))), policy).reason


def test_a_signature_by_another_key_is_refused() -> None:
    other = RSAKey.generate_key(2048)
    error = rejected(body(sign(claims(), "RS256", other)), policy_for("RS256"))
    assert "does not verify" in error.reason and error.status == 401


def test_an_hs_token_with_another_secret_is_refused() -> None:
    token = sign(claims(), "HS256", OctKey.import_key("another secret of thirty-two bytes or more"))
    assert "does not verify" in rejected(body(token), policy_for("HS256")).reason


def test_alg_none_is_refused_with_or_without_a_signature() -> None:
    unsigned = f"{b64(json.dumps({'typ': 'JWT', 'alg': 'none'}))}.{b64(json.dumps(claims()))}"
    for policy in (policy_for("RS256"), policy_for("HS256")):
        assert rejected(body(unsigned + "."), policy).status == 401
        assert "algorithm" in rejected(body(unsigned + ".c2ln"), policy).reason


@pytest.mark.parametrize(("pinned", "used"), [("RS256", "RS512"), ("HS256", "HS512"), ("ES256", "RS256")])
def test_a_header_algorithm_other_than_the_pinned_one_is_refused_even_if_it_would_verify(
    pinned: str, used: str
) -> None:
    key = signing_key(pinned) if pinned[:2] == used[:2] else signing_key(used)
    assert "algorithm" in rejected(body(sign(claims(), used, key)), policy_for(pinned)).reason


def test_the_hs256_with_the_rsa_public_key_as_secret_confusion_is_refused() -> None:
    pem = public_pem(rsa_key())
    signing_input = f"{b64(json.dumps({'typ': 'JWT', 'alg': 'HS256'}))}.{b64(json.dumps(claims()))}"
    mac = hmac.new(pem.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    assert "algorithm" in rejected(body(forged), policy_for("RS256")).reason
    with pytest.raises(ValueError, match="shared secret"):
        WebhookPolicy("HS256", ISSUER, AUDIENCE, pem)  # nor can the PEM be configured as the HS secret


# --- claims and message ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "jti", "sub", "data"])
def test_each_required_claim_missing_is_refused_by_name(claim: str) -> None:
    error = rejected(body(sign(claims(**{claim: ...}))), policy_for("RS256"))
    assert f"lacks the claim(s) {claim};" in error.reason


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"jti": 7}, "malformed jti"),
        ({"jti": ""}, "malformed jti"),
        ({"sub": 945}, "malformed sub"),
        ({"exp": "soon"}, "expiry that is not a number"),
        ({"data": {}}, "malformed data"),
        ({"iss": ["list"]}, "issued by another account"),
    ],
)
def test_malformed_claims_are_refused(change: dict[str, Any], words: str) -> None:
    assert words in rejected(body(sign(claims(**change))), policy_for("RS256")).reason


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"sub": "webhook-945"}, "not a webhook id"),
        ({"data": "a string"}, "must be a JSON object"),
        ({"data": message(event=None)}, "no event"),
        ({"data": message(event="")}, "no event"),
        ({"iat": -(10**400)}, "out of any sensible range"),
    ],
)
def test_an_authentic_token_with_an_unusable_message_is_a_400(change: dict[str, Any], words: str) -> None:
    error = rejected(body(sign(claims(**change))), policy_for("RS256"))
    assert words in error.reason and error.status == 400


def test_a_signed_payload_that_is_not_a_claims_object_is_refused() -> None:
    for payload in ("[1, 2]", "not json", '"a string"'):
        signing_input = f"{b64(json.dumps({'typ': 'JWT', 'alg': 'HS256'}))}.{b64(payload)}"
        mac = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
        assert "claims" in rejected(body(f"{signing_input}.{b64(mac)}"), policy_for("HS256")).reason


# --- malformed bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"\xff\xfe{}",
        b"[]",
        b'"eyJ.eyJ.sig"',
        b"{}",
        b'{"token": "a.b.c"}',
        b'{"jwt": 42}',
        b'{"jwt": null}',
        b'{"jwt": ["a.b.c"]}',
        b"[" * 100_000,
    ],
)
def test_malformed_bodies_are_a_400(raw: bytes) -> None:
    assert rejected(raw, policy_for("RS256")).status == 400


@pytest.mark.parametrize(
    "token",
    [
        "",
        "abc",
        "a.b",
        "a..c",
        "a.b.c.d",
        "a b.c.d",
        "ä.b.c",
        f"{b64(b'x' * 30)}.{b64(b'y' * 40)}.{b64(b'z' * 256)}",
        f"{b64(json.dumps({'alg': 'RS256'}))}.{b64(json.dumps(claims()))}.{b64(b'z' * 256)}",
        f"{b64(json.dumps(['alg']))}.{b64(json.dumps(claims()))}.{b64(b'z' * 256)}",
        f"{b64(json.dumps({'alg': 'RS256', 'crit': 5}))}.{b64(json.dumps(claims()))}.{b64(b'z' * 256)}",
        f"{b64(json.dumps({'alg': 'RS256', 'b64': False, 'crit': ['b64']}))}.e30.{b64(b'z' * 256)}",
        f"{b64(json.dumps({'alg': 'RS256', 'zzz': 1}))}.{b64(json.dumps(claims()))}.{b64(b'z' * 256)}",
        f"{b64(json.dumps({'alg': 'RS256'}))}.{b64(json.dumps(claims()))}.{b64(b'z' * 5000)}",
    ],
)
def test_tokens_that_are_not_compact_signed_jwts_are_a_401(token: str) -> None:
    assert rejected(body(token), policy_for("RS256")).status == 401


def test_an_encrypted_token_is_refused_as_such() -> None:
    jwe = ".".join(b64(part) for part in (json.dumps({"alg": "dir", "enc": "A256GCM"}), b"", b"iv", b"ct", b"tag"))
    assert "encrypted (JWE)" in rejected(body(jwe), policy_for("RS256")).reason


def test_huge_bodies_and_tokens_are_refused_before_parsing() -> None:
    huge_body = b"{" * (MAX_BODY_BYTES + 1)
    assert rejected(huge_body, policy_for("RS256")).status == 413
    huge_token = "a" * (MAX_TOKEN_CHARS + 1)
    assert len(body(huge_token)) <= MAX_BODY_BYTES
    assert rejected(body(huge_token), policy_for("RS256")).status == 413


def test_a_large_but_allowed_token_is_verified_rather_than_cut_short_by_the_library() -> None:
    data = message(payload={"filler": "x" * 140_000})
    token = sign(claims(data=data))
    assert 140_000 < len(token) <= MAX_TOKEN_CHARS
    assert verify_delivery(body(token), policy_for("RS256"), now=NOW).payload["filler"] == "x" * 140_000


# --- the policy itself -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"algorithm": "none"}, "never accepted"),
        ({"algorithm": "PS256"}, "must be one of"),
        ({"issuer": ""}, "needs an issuer"),
        ({"audience": ""}, "needs an audience"),
        ({"leeway": -1}, "between 0 and 300"),
        ({"leeway": 3600}, "between 0 and 300"),
        ({"leeway": 1.5}, "whole number"),
        ({"key": ""}, "has no key"),
        ({"key": "not a pem"}, "cannot be read"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_when_configured(kw: dict[str, Any], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        policy_for("RS256", **kw)


def test_policy_keys_must_be_public_and_fit_the_algorithm() -> None:
    with pytest.raises(ValueError, match="private key"):
        policy_for("RS256", key=rsa_key().as_pem(private=True).decode())
    with pytest.raises(ValueError, match="P-384"):
        policy_for("ES384", key=public_pem(ec_key("P-256")))
    with pytest.raises(ValueError, match="cannot be read"):
        policy_for("ES256", key=public_pem(rsa_key()))


def test_the_policy_repr_hides_the_key() -> None:
    text = repr(policy_for("HS256"))
    assert SECRET not in text and "HS256" in text and AUDIENCE in text


# --- fuzzing: nothing but WebhookRejected ever escapes ---------------------------------------------------------


@FUZZ
@given(raw=st.binary(max_size=3000))
def test_arbitrary_bytes_are_refused(raw: bytes) -> None:
    rejected(raw, policy_for("RS256"))


@FUZZ
@given(token=st.text(max_size=600) | st.from_regex(r"[A-Za-z0-9_-]{0,80}(\.[A-Za-z0-9_-]{0,80}){0,5}", fullmatch=True))
def test_arbitrary_jwt_strings_are_refused(token: str) -> None:
    rejected(body(token), policy_for("HS256"))


@FUZZ
@given(parts=st.lists(st.binary(max_size=300), min_size=3, max_size=3))
def test_three_random_base64_segments_are_refused(parts: list[bytes]) -> None:
    rejected(body(".".join(b64(p) for p in parts)), policy_for("ES256"))


@cache
def valid_token() -> tuple[str, Delivery]:
    token = sign(claims())
    return token, verify_delivery(body(token), policy_for("RS256"), now=NOW)


@FUZZ
@given(data=st.data())
def test_mutated_valid_tokens_are_refused_or_mean_exactly_the_same(data: st.DataObject) -> None:
    token, original = valid_token()
    chars = list(token)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(chars)))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        char = data.draw(st.sampled_from("AZaz09-_.=+/ é\x00"))
        if action == "insert" or at == len(chars):
            chars.insert(at, char)
        elif action == "replace":
            chars[at] = char
        else:
            del chars[at]
    try:
        delivery = verify_delivery(body("".join(chars)), policy_for("RS256"), now=NOW)
    except WebhookRejected as error:
        assert error.reason.endswith(".")
    else:
        # Only a change to the unused low bits of the last base64 character can leave a token valid.
        assert delivery == original


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "nbf", "iat", "jti", "sub", "data", "extra"]), json_values
    ),
    message_changes=st.dictionaries(
        st.sampled_from(["event", "object_id", "person_id", "person_name", "account", "payload"]), json_values
    ),
)
def test_authentic_tokens_with_arbitrary_claims_verify_or_are_refused(
    changes: dict[str, Any], message_changes: dict[str, Any]
) -> None:
    payload = claims(data=message(**message_changes))
    payload.update(changes)
    try:
        delivery = verify_delivery(body(sign(payload, "HS256")), policy_for("HS256"), now=NOW)
    except WebhookRejected as error:
        assert error.reason.endswith(".") and error.status in (400, 401)
    else:
        assert isinstance(delivery.event, str) and delivery.event
        assert delivery.object_id is None or isinstance(delivery.object_id, int)
        assert delivery.person_name is None or isinstance(delivery.person_name, str)
