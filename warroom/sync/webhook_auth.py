"""Verifying Xurrent's signed webhook deliveries: pure code, no I/O.

A webhook linked to a Xurrent *webhook policy* is delivered as an HTTP POST whose body is
``{"jwt": "<compact JWS>"}``. ``verify_delivery`` checks that body against one configured policy and
returns a typed ``Delivery``, or raises ``WebhookRejected`` with a sentence safe to send back (it never
contains key material or the token) and the HTTP status the endpoint should answer.

What this is based on (developer.xurrent.com "Webhooks" and "Webhook Policies", and the signed sample
tokens in Xurrent's own app-builder tests, code4me/4me-app-builder-nodejs):

- Header: ``{"typ": "JWT", "alg": "RS256"}``, plus ``kid`` when the webhook uses OpenID Connect
  discovery. The policy's ``jwt_alg`` is one of none, hs256/384/512, rs256/384/512, es256/384/512 (the API
  spells them in lower case; both spellings are accepted here). ``none`` is refused.
- Claims: ``data`` (the message: webhook_id, webhook_nodeID, account_id, account, name, event, object_id,
  object_nodeID, person_id, person_nodeID, person_name, payload{…}), ``jti`` (64 hex characters),
  ``sub`` (the webhook id *as a string*, e.g. ``"1"``), ``iss`` (the account URL, e.g.
  ``https://wdc.xurrent.com``; ``https://<account>.xurrent.com/webhook_policies/<name>`` with OpenID
  Connect discovery), ``nbf``, ``iat``, ``aud`` (the policy's ``jwt_audience``) and ``exp`` (from the
  policy's ``jwt_claim_expires_in``). Xurrent leaves out ``exp`` when the policy has no
  ``jwt_claim_expires_in`` and ``aud`` when it has no ``jwt_audience``: this verifier requires both, so a
  policy used with warroom must set both.

Checks, in order: body size (256 KB) → UTF-8 JSON object with a string ``jwt`` → token size (200 KB) →
compact JWS shape (three base64url segments; JWE's five are refused) → header ``alg`` equal to the
pinned algorithm (this alone defeats ``alg: none`` and the HS256-signed-with-the-RSA-public-key
confusion) → signature, by joserfc with only the pinned algorithm allowed and a key of the pinned type →
claims, by joserfc's ``JWTClaimsRegistry``: ``iss`` and ``aud`` exact, ``exp``/``iat``/``jti``/``sub``/
``data`` present, ``exp``, ``nbf`` (checked when present) and ``iat`` within the leeway → ``data`` is an
object with a non-empty string ``event``.

The message itself is read leniently (an authentic delivery of an unexpected shape is still returned,
with absent or oddly typed ids as ``None``): Xurrent disables a webhook after repeated failures, so only
authenticity problems and a missing ``event`` are refused.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from joserfc.errors import (
    BadSignatureError,
    ExceededSizeError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import ECKey, Key, OctKey, RSAKey
from joserfc.jws import CompactSignature, JWSRegistry, extract_compact, validate_compact
from joserfc.jwt import JWTClaimsRegistry

from warroom.core import safejson

__all__ = [
    "ALGORITHMS",
    "MAX_BODY_BYTES",
    "MAX_TOKEN_CHARS",
    "Delivery",
    "WebhookPolicy",
    "WebhookRejected",
    "verify_delivery",
]

#: The algorithms a Xurrent webhook policy can sign with, less ``none``.
ALGORITHMS: Final = frozenset(
    {"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
)
MAX_BODY_BYTES: Final = 256 * 1024
MAX_TOKEN_CHARS: Final = 200 * 1024
MAX_LEEWAY_SECONDS: Final = 300
VERIFY_EVENT: Final = "webhook.verify"

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_BASE64URL_SEGMENTS = re.compile(r"[A-Za-z0-9_-]*(\.[A-Za-z0-9_-]*)*")
_REQUIRED_CLAIMS: Final = ("iss", "aud", "exp", "iat", "jti", "sub", "data")

# The HTTP status each kind of refusal maps to, for the endpoint that translates this to a response.
_MALFORMED = 400
_UNAUTHENTICATED = 401
_TOO_LARGE = 413


class WebhookRejected(Exception):
    """A delivery that must not be acted on.

    ``reason`` is a sentence safe to return to the caller: it names what failed and what to check, never
    key material, the token or values taken from it. ``status`` is the HTTP status to answer with:
    400 (malformed body or message), 401 (not authentic, expired, wrong issuer/audience/algorithm),
    413 (too large).
    """

    def __init__(self, reason: str, status: int = _UNAUTHENTICATED) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class WebhookPolicy:
    """How one Xurrent webhook policy signs: what a delivery is verified against.

    ``algorithm`` accepts Xurrent's lower-case spelling (``rs256``) and is kept upper case. ``key`` is the
    policy's public key in PEM for RS*/ES* (``public_key_pem``, shown once when the policy is created) or
    the shared secret for HS*. ``leeway`` is the clock skew allowed on ``exp``/``nbf``/``iat``, in seconds.
    Raises ``ValueError`` with a sentence when the configuration cannot work.
    """

    algorithm: str
    issuer: str
    audience: str
    key: str | bytes = field(repr=False)
    leeway: int = 30
    _jwk: Key = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        algorithm = self.algorithm.strip().upper() if isinstance(self.algorithm, str) else ""
        if algorithm not in ALGORITHMS:
            raise ValueError(
                "The webhook policy's algorithm must be one of "
                f"{', '.join(sorted(ALGORITHMS))}; unsigned ('none') deliveries are never accepted."
            )
        if not self.issuer:
            raise ValueError(
                "The webhook policy needs an issuer: the Xurrent account URL, e.g. https://wdc.xurrent.com."
            )
        if not self.audience:
            raise ValueError(
                "The webhook policy needs an audience: set jwt_audience on the policy in Xurrent and "
                "configure the same value here."
            )
        if isinstance(self.leeway, bool) or not isinstance(self.leeway, int):
            raise ValueError("The webhook policy's leeway must be a whole number of seconds.")
        if not 0 <= self.leeway <= MAX_LEEWAY_SECONDS:
            raise ValueError(
                f"The webhook policy's leeway must be between 0 and {MAX_LEEWAY_SECONDS} seconds."
            )
        object.__setattr__(self, "algorithm", algorithm)
        object.__setattr__(self, "_jwk", _import_key(algorithm, self.key))


def _import_key(algorithm: str, material: str | bytes) -> Key:
    if not material:
        raise ValueError(f"The webhook policy has no key; {_key_hint(algorithm)}")
    key: Key
    try:
        if algorithm.startswith("HS"):
            key = OctKey.import_key(material)
        elif algorithm.startswith("RS"):
            key = RSAKey.import_key(material)
        else:
            key = ECKey.import_key(material)
    except Exception:  # joserfc and cryptography raise several types for unreadable keys
        raise ValueError(
            f"The webhook policy's key cannot be read for {algorithm}; {_key_hint(algorithm)}"
        ) from None
    if not algorithm.startswith("HS") and key.is_private:
        raise ValueError(
            "The webhook policy's key is a private key; configure the policy's public key "
            "(public_key_pem) instead."
        )
    try:
        JWSRegistry.algorithms[algorithm].check_key(key)
    except JoseError:
        raise ValueError(
            f"The webhook policy's key does not fit {algorithm}; {_key_hint(algorithm)}"
        ) from None
    return key


def _key_hint(algorithm: str) -> str:
    if algorithm.startswith("HS"):
        return "configure the policy's shared secret (not a PEM public key)."
    curve = {"ES256": " on curve P-256", "ES384": " on curve P-384", "ES512": " on curve P-521"}.get(
        algorithm, ""
    )
    return f"configure the policy's public key in PEM{curve} (public_key_pem from when it was created)."


@dataclass(frozen=True)
class Delivery:
    """One verified delivery. ``message`` is the whole ``data`` claim; the rest are read from it.

    ``webhook_id`` is the ``sub`` claim; ``issued_at`` the ``iat`` claim (seconds since the epoch).
    ``account`` is the account URL and ``account_id`` the account's id (``wdc``). Ids that Xurrent leaves
    out (system events have no person; only audited changes have an audit line) are ``None``.
    """

    jti: str
    webhook_id: int
    event: str
    object_id: int | None
    account: str | None
    account_id: str | None
    person_id: int | None
    person_name: str | None
    audit_line_id: int | None
    note_id: int | None
    payload: dict[str, Any]
    message: dict[str, Any]
    issued_at: float

    @property
    def callback(self) -> str | None:
        """For a ``webhook.verify`` delivery, the URL to GET or POST to activate the webhook."""
        value = self.payload.get("callback") if self.event == VERIFY_EVENT else None
        return value if isinstance(value, str) and value else None


def verify_delivery(body: bytes, policy: WebhookPolicy, *, now: float | None = None) -> Delivery:
    """Verify one webhook delivery body against ``policy``; ``now`` (epoch seconds) defaults to the clock."""
    token = _token_from_body(body)
    signed = _verified_signature(token, policy)
    claims = _claims(signed)
    _validate_claims(claims, policy, time.time() if now is None else now)
    return _delivery(claims)


def _token_from_body(body: bytes) -> str:
    if not isinstance(body, bytes | bytearray | memoryview):
        raise WebhookRejected("The delivery body must be bytes of JSON.", _MALFORMED)
    if len(body) > MAX_BODY_BYTES:
        raise WebhookRejected(
            f"The delivery body is larger than {MAX_BODY_BYTES // 1024} KB; Xurrent's deliveries are far "
            "smaller, so this was not sent by Xurrent.",
            _TOO_LARGE,
        )
    try:
        document = safejson.loads(bytes(body), "a delivery")
    except safejson.JsonRefused:
        raise WebhookRejected(
            'The delivery body must be UTF-8 JSON of the form {"jwt": "<token>"}; link the webhook to a '
            "webhook policy in Xurrent so that its deliveries are signed.",
            _MALFORMED,
        ) from None
    if not isinstance(document, dict) or "jwt" not in document:
        raise WebhookRejected(
            'The delivery body has no "jwt" member; link the webhook to a webhook policy in Xurrent so '
            "that its deliveries are signed.",
            _MALFORMED,
        )
    token = document["jwt"]
    if not isinstance(token, str):
        raise WebhookRejected(
            'The delivery\'s "jwt" member must be a string holding a signed token.', _MALFORMED
        )
    if len(token) > MAX_TOKEN_CHARS:
        raise WebhookRejected(
            f"The delivery's token is larger than {MAX_TOKEN_CHARS // 1024} KB; Xurrent's tokens are far "
            "smaller, so this was not sent by Xurrent.",
            _TOO_LARGE,
        )
    return token


def _verified_signature(token: str, policy: WebhookPolicy) -> CompactSignature:
    if not _COMPACT_JWS.fullmatch(token):
        if _BASE64URL_SEGMENTS.fullmatch(token) and token.count(".") == 4:
            reason = "The delivery's token is encrypted (JWE); Xurrent signs deliveries, so this was not sent by it."
        else:
            reason = (
                "The delivery's token is not a compact signed JWT (three base64url parts separated by dots)."
            )
        raise WebhookRejected(reason)
    registry = _registry(policy.algorithm)
    try:
        signed = extract_compact(token.encode("ascii"), registry=registry)
        header = signed.headers()
        if not isinstance(header, dict):
            raise WebhookRejected("The delivery's token has an unreadable header.")
        if header.get("alg") != policy.algorithm:
            raise WebhookRejected(
                "The delivery's token is not signed with the algorithm the webhook policy pins; check that "
                "the webhook uses the policy configured here (its jwt_alg must match)."
            )
        if "crit" in header or "b64" in header:
            raise WebhookRejected(
                "The delivery's token uses JWS extensions (crit/b64) that Xurrent never sends."
            )
        if not validate_compact(signed, policy._jwk, registry=registry):
            raise BadSignatureError()
    except WebhookRejected:
        raise
    except BadSignatureError:
        raise WebhookRejected(
            "The delivery's signature does not verify with the webhook policy's key; check that the "
            "configured key belongs to the policy the webhook is linked to."
        ) from None
    except ExceededSizeError:
        raise WebhookRejected(
            "The delivery's token has a part larger than a Xurrent token ever has."
        ) from None
    except Exception:  # third-party parsing errors of a forged token enter here and stop here
        raise WebhookRejected("The delivery's token is not a well-formed signed JWT.") from None
    return signed


def _registry(algorithm: str) -> JWSRegistry:
    registry = JWSRegistry(algorithms=[algorithm])
    # joserfc's defaults (128 000-byte payload, 1 024-byte signature) would undercut the limits above
    # and an RSA-8192 signature; keep the header limit.
    registry.max_payload_length = MAX_TOKEN_CHARS
    registry.max_signature_length = 2048
    return registry


def _claims(signed: CompactSignature) -> dict[str, Any]:
    try:
        claims = safejson.loads(signed.payload, "claims")
    except safejson.JsonRefused:
        claims = None
    if not isinstance(claims, dict):
        raise WebhookRejected("The delivery's token does not carry a JSON object of claims.", _MALFORMED)
    return claims


def _validate_claims(claims: dict[str, Any], policy: WebhookPolicy, now: float) -> None:
    if not math.isfinite(now):
        raise ValueError("now must be a finite number of seconds since the epoch")
    registry = JWTClaimsRegistry(
        now=math.floor(now),
        leeway=policy.leeway,
        iss={"essential": True, "value": policy.issuer},
        aud={"essential": True, "value": policy.audience},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        sub={"essential": True},
        data={"essential": True},
    )
    try:
        registry.validate(claims)
    except MissingClaimError as error:
        missing = [name for name in _REQUIRED_CLAIMS if name in error.claim.split(",")]
        raise WebhookRejected(
            f"The delivery's token lacks the claim(s) {', '.join(missing) or 'required'}; {_missing_hint(missing)}"
        ) from None
    except ExpiredTokenError:
        raise WebhookRejected(
            f"The delivery's token has expired (more than {policy.leeway} s ago); if this server's clock "
            "is right, the delivery was replayed or held up too long."
        ) from None
    except InvalidClaimError as error:
        raise WebhookRejected(_invalid_claim_reason(error.claim, policy.leeway)) from None
    except JoseError:
        raise WebhookRejected("The delivery's token has claims that cannot be validated.") from None


def _missing_hint(missing: Sequence[str]) -> str:
    settings = [
        name for claim, name in (("aud", "jwt_audience"), ("exp", "jwt_claim_expires_in")) if claim in missing
    ]
    if settings:
        return f"set {' and '.join(settings)} on the webhook policy in Xurrent."
    return "Xurrent always sends them, so this delivery was not made by Xurrent."


def _invalid_claim_reason(claim: str, leeway: int) -> str:
    reasons = {
        "iss": "The delivery's token was issued by another account than the webhook policy's issuer; check "
        "the configured issuer (the Xurrent account URL).",
        "aud": "The delivery's token is meant for another audience than the webhook policy's; check that "
        "the configured audience equals the policy's jwt_audience.",
        "nbf": f"The delivery's token is not valid yet (more than {leeway} s ahead); check this server's clock.",
        "iat": f"The delivery's token was issued in the future (more than {leeway} s ahead); check this "
        "server's clock.",
        "exp": "The delivery's token has an expiry that is not a number of seconds.",
    }
    if claim in reasons:
        return reasons[claim]
    named = claim if claim in _REQUIRED_CLAIMS else "a"
    return f"The delivery's token has a malformed {named} claim."


def _delivery(claims: dict[str, Any]) -> Delivery:
    webhook_id = _integer(claims["sub"])
    if webhook_id is None:
        raise WebhookRejected("The delivery's token has a subject that is not a webhook id.", _MALFORMED)
    message = claims["data"]
    if not isinstance(message, dict):
        raise WebhookRejected("The delivery's message (the data claim) must be a JSON object.", _MALFORMED)
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise WebhookRejected("The delivery's message has no event; nothing can be done with it.", _MALFORMED)
    payload = message.get("payload")
    if not isinstance(payload, dict):
        payload = {}
    try:
        issued_at = float(claims["iat"])
    except OverflowError:  # an integer beyond a float's range, in the past enough to pass the iat check
        raise WebhookRejected(
            "The delivery's token has an issue time out of any sensible range.", _MALFORMED
        ) from None
    return Delivery(
        jti=claims["jti"],
        webhook_id=webhook_id,
        event=event,
        object_id=_integer(message.get("object_id")),
        account=_text(message.get("account")),
        account_id=_text(message.get("account_id")),
        person_id=_integer(message.get("person_id")),
        person_name=_text(message.get("person_name")),
        audit_line_id=_integer(payload.get("audit_line_id")),
        note_id=_integer(payload.get("note_id")),
        payload=payload,
        message=message,
        issued_at=issued_at,
    )


def _integer(value: object) -> int | None:
    """An id as Xurrent sends it: a JSON integer, or a string of digits (``sub``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
