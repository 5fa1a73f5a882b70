"""The keys of webhook policies and the JWTs that sign webhook messages: HMAC (hs*), RSA PKCS#1 v1.5 (rs*) and
ECDSA (es*, r‖s as RFC 7518 §3.4), or ``none``; the key id of a public key is the base64url SHA-256 of its DER.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

JWT_ALGS = ("none", "hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "es256", "es384", "es512")

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
#: ECDSA curve and the byte length of each of r and s in a JWS signature (RFC 7518 §3.4).
_CURVES: dict[str, tuple[Callable[[], ec.EllipticCurve], int]] = {
    "es256": (ec.SECP256R1, 32),
    "es384": (ec.SECP384R1, 48),
    "es512": (ec.SECP521R1, 66),
}


class _SigningKey:
    """The secret half of a webhook policy: signs JWTs with the policy's algorithm."""

    def __init__(self, alg: str) -> None:
        self.alg = alg
        self.secret = b""
        self.private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None
        self.public_key_pem: str | None = None
        self.kid: str | None = None
        if alg.startswith("hs"):
            self.secret = secrets.token_urlsafe(64).encode()
        elif alg.startswith(("rs", "es")):
            if alg.startswith("rs"):
                self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            else:
                self.private_key = ec.generate_private_key(_CURVES[alg][0]())
            public = self.private_key.public_key()
            der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.public_key_pem = public.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ).decode()
            self.kid = _b64(hashlib.sha256(der).digest())

    def sign(self, claims: Mapping[str, Any]) -> str:
        header: dict[str, str] = {"alg": "none" if self.alg == "none" else self.alg.upper(), "typ": "JWT"}
        if self.kid is not None:
            header["kid"] = self.kid
        signing_input = f"{_b64(_json(header))}.{_b64(_json(claims))}".encode()
        bits = self.alg[2:]
        if self.alg == "none":
            signature = b""
        elif self.alg.startswith("hs"):
            signature = hmac.new(self.secret, signing_input, _DIGESTS[bits]).digest()
        elif isinstance(self.private_key, rsa.RSAPrivateKey):
            signature = self.private_key.sign(signing_input, padding.PKCS1v15(), _HASHES[bits]())
        else:
            assert isinstance(self.private_key, ec.EllipticCurvePrivateKey)
            r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(_HASHES[bits]())))
            size = _CURVES[self.alg][1]
            signature = r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return f"{signing_input.decode()}.{_b64(signature)}"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

