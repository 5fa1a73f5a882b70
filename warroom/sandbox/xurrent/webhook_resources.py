"""Webhook policies and webhooks as Xurrent keeps them: their fields and validation, creating and updating them,
starting the ``webhook.verify`` handshake, their API shapes, and the helpers tests, the demo and provisioning use.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from .delivery import VERIFY_EVENT, DeliveryConfig, WebhookDelivery
from .records import TRUTHY, ValidationFailed, stamp
from .signing import JWT_ALGS, _SigningKey

if TYPE_CHECKING:
    from .emulator import XurrentEmulator

EVENTS = (
    "request.create",
    "request.update",
    "request.note-added",
    "request.status-changed",
    "request.member-changed",
    "request.team-changed",
    "request.major-incident-status-changed",
)
VERIFY_LIFETIME = 24 * 3600
MAX_AUDIENCE = 2048
MAX_URI = 2048
MAX_NAME = 255
MAX_DESCRIPTION = 65_535


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in TRUTHY


class WebhookResources(WebhookDelivery):
    """Policies, webhooks and their verify codes, over the delivery of their messages."""

    def __init__(self, emulator: XurrentEmulator, *, issuer: str | None = None, config: DeliveryConfig | None = None) -> None:
        super().__init__(emulator, issuer=issuer, config=config)
        self._ids = {"webhook_policies": 300, "webhooks": 200}
        self._policies: dict[int, dict[str, Any]] = {}
        self._keys: dict[int, _SigningKey] = {}
        self._webhooks: dict[int, dict[str, Any]] = {}
        self._codes: dict[int, tuple[str, int]] = {}  # webhook id → (verify code, expires_at epoch)

    # -- helpers for tests, the demo and provisioning ------------------------------------------------
    def create_policy(
        self,
        jwt_alg: str = "rs256",
        *,
        jwt_audience: str | None = None,
        jwt_claim_expires_in: int | None = None,
        disabled: bool = False,
    ) -> dict[str, Any]:
        """Create a policy as ``POST /webhook_policies`` would; the answer has the key (or secret) this once."""
        body = {"jwt_alg": jwt_alg, "jwt_audience": jwt_audience, "jwt_claim_expires_in": jwt_claim_expires_in}
        return self._create_policy({**body, "disabled": disabled})

    def create_webhook(
        self,
        event: str,
        uri: str,
        *,
        webhook_policy_id: int | None = None,
        name: str | None = None,
        disabled: bool = False,
        description: str | None = None,
        active: bool = False,
    ) -> dict[str, Any]:
        """Create a webhook as ``POST /webhooks`` would, which sends webhook.verify (needs the emulator started);
        ``active=True`` skips the handshake: the webhook is verified at once and no verify message is sent."""
        body: dict[str, Any] = {"event": event, "uri": uri, "webhook_policy_id": webhook_policy_id, "disabled": disabled}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        return self._create_webhook(body, verified=active)

    def activate(self, webhook_id: int) -> None:
        """Mark a webhook verified, as if its callback had been called (skips the handshake in tests)."""
        hook = self._webhooks[webhook_id]
        hook["verified"] = True
        self._codes.pop(webhook_id, None)

    def webhook(self, webhook_id: int) -> dict[str, Any]:
        return self._present_webhook(self._webhooks[webhook_id])

    def policy(self, policy_id: int) -> dict[str, Any]:
        return self._present_policy(self._policies[policy_id])

    # -- policies -------------------------------------------------------------------------------------
    def _next(self, kind: str) -> int:
        self._ids[kind] += 1
        return self._ids[kind]

    def _policy_fields(self, body: Mapping[str, Any], errors: list[list[str]], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if creating or "jwt_alg" in body:
            alg = body.get("jwt_alg")
            if not creating:
                errors.append(["jwt_alg", "JWT algorithm cannot be changed: create a new webhook policy instead"])
            elif alg is None or alg == "":
                errors.append(["jwt_alg", "JWT algorithm can't be blank"])
            elif alg not in JWT_ALGS:
                errors.append(["jwt_alg", "JWT algorithm is not included in the list"])
            else:
                out["jwt_alg"] = alg
        if "jwt_audience" in body:
            audience = body["jwt_audience"]
            if audience is None or audience == "":
                out["jwt_audience"] = None
            elif not isinstance(audience, str):
                errors.append(["jwt_audience", "Audience is invalid"])
            elif len(audience) > MAX_AUDIENCE:
                errors.append(["jwt_audience", f"Audience is too long (maximum is {MAX_AUDIENCE} characters)"])
            else:
                out["jwt_audience"] = audience
        if "jwt_claim_expires_in" in body:
            value = body["jwt_claim_expires_in"]
            if value is None or value == "":
                out["jwt_claim_expires_in"] = None
            elif isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())):
                errors.append(["jwt_claim_expires_in", "Claim expires in is not a number"])
            elif int(value) < 1:
                errors.append(["jwt_claim_expires_in", "Claim expires in must be greater than 0"])
            else:
                out["jwt_claim_expires_in"] = int(value)
        if "disabled" in body:
            out["disabled"] = _flag(body["disabled"])
        return out

    def _create_policy(self, body: Mapping[str, Any]) -> dict[str, Any]:
        errors: list[list[str]] = []
        fields = self._policy_fields(body, errors, creating=True)
        if errors:
            raise ValidationFailed(errors)
        now = int(time.time())
        policy: dict[str, Any] = {
            "id": self._next("webhook_policies"),
            "name": secrets.token_hex(28),
            "jwt_alg": fields["jwt_alg"],
            "jwt_audience": fields.get("jwt_audience"),
            "jwt_claim_expires_in": fields.get("jwt_claim_expires_in"),
            "disabled": fields.get("disabled", False),
            "created_at": now,
            "updated_at": now,
        }
        key = _SigningKey(policy["jwt_alg"])
        self._policies[policy["id"]] = policy
        self._keys[policy["id"]] = key
        shown = self._present_policy(policy)
        if key.public_key_pem is not None:
            shown["public_key_pem"] = key.public_key_pem
        if key.secret:
            shown["secret"] = key.secret.decode()
        return shown

    @staticmethod
    def _present_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "id": policy["id"],
            "name": policy["name"],
            "disabled": policy["disabled"],
            "jwt_alg": policy["jwt_alg"],
            "jwt_audience": policy["jwt_audience"],
            "jwt_claim_expires_in": policy["jwt_claim_expires_in"],
            "created_at": stamp(policy["created_at"]),
            "updated_at": stamp(policy["updated_at"]),
        }

    # -- webhooks -------------------------------------------------------------------------------------
    def _text(self, body: Mapping[str, Any], key: str, label: str, limit: int, errors: list[list[str]], out: dict[str, Any]) -> None:
        if key not in body:
            return
        value = body[key]
        if value is None or value == "":
            out[key] = None
        elif not isinstance(value, str):
            errors.append([key, f"{label} is invalid"])
        elif len(value) > limit:
            errors.append([key, f"{label} is too long (maximum is {limit} characters)"])
        else:
            out[key] = value

    def _webhook_fields(self, body: Mapping[str, Any], errors: list[list[str]], *, creating: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if creating or "event" in body:
            event = body.get("event")
            if event is None or event == "":
                errors.append(["event", "Event can't be blank"])
            elif event not in EVENTS:
                errors.append(["event", "Event is not included in the list"])
            else:
                out["event"] = event
        if creating or "uri" in body:
            uri = body.get("uri")
            if uri is None or uri == "":
                errors.append(["uri", "URI can't be blank"])
            elif not isinstance(uri, str) or len(uri) > MAX_URI or not _is_http_url(uri):
                errors.append(["uri", "URI is invalid"])
            else:
                out["uri"] = uri
        self._text(body, "name", "Name", MAX_NAME, errors, out)
        self._text(body, "description", "Description", MAX_DESCRIPTION, errors, out)
        self._text(body, "mail_exceptions_to", "Mail exceptions to", MAX_NAME, errors, out)
        if "disabled" in body:
            out["disabled"] = _flag(body["disabled"])
        if "webhook_policy_id" in body:
            value = body["webhook_policy_id"]
            if value is None or value == "":
                out["webhook_policy_id"] = None
            else:
                try:
                    ident = int(value)
                except (TypeError, ValueError):
                    ident = -1
                policy = self._policies.get(ident)
                if policy is None:
                    errors.append(["webhook_policy", "Webhook policy must exist"])
                elif policy["disabled"]:
                    errors.append(["webhook_policy", "Webhook policy is disabled: enable it or choose another policy"])
                else:
                    out["webhook_policy_id"] = ident
        return out

    def _verified_elsewhere(self, uri: str, webhook_id: int) -> bool:
        return any(h["verified"] and h["uri"] == uri and h["id"] != webhook_id for h in self._webhooks.values())

    def _create_webhook(self, body: Mapping[str, Any], *, verified: bool = False) -> dict[str, Any]:
        if not self._emu.base_url:
            raise RuntimeError("Start the Xurrent emulator (await emu.start()) before creating webhooks: the verify callback points at it.")
        errors: list[list[str]] = []
        fields = self._webhook_fields(body, errors, creating=True)
        if errors:
            raise ValidationFailed(errors)
        now = int(time.time())
        ident = self._next("webhooks")
        hook: dict[str, Any] = {
            "id": ident,
            "name": fields.get("name") or f"{fields['event']} in {self._emu.account}",
            "event": fields["event"],
            "uri": fields["uri"],
            "description": fields.get("description"),
            "disabled": fields.get("disabled", False),
            "webhook_policy_id": fields.get("webhook_policy_id"),
            "mail_exceptions_to": fields.get("mail_exceptions_to"),
            "verified": verified,
            "created_at": now,
            "updated_at": now,
        }
        self._webhooks[ident] = hook
        if not verified:
            self._start_verification(hook)
        return self._present_webhook(hook)

    def _update_webhook(self, hook: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
        errors: list[list[str]] = []
        fields = self._webhook_fields(body, errors, creating=False)
        if errors:
            raise ValidationFailed(errors)
        if "name" in fields and fields["name"] is None:
            fields.pop("name")
        changed = {k: v for k, v in fields.items() if hook.get(k) != v}
        if not changed:
            return self._present_webhook(hook)
        uri_changed = "uri" in changed
        hook.update(changed)
        hook["updated_at"] = max(int(time.time()), int(hook["updated_at"]))
        if uri_changed:
            hook["verified"] = False
        if not hook["verified"]:  # a fresh code for every update of an unverified webhook; the old one dies
            self._start_verification(hook)
        return self._present_webhook(hook)

    def _start_verification(self, hook: dict[str, Any]) -> None:
        ident = int(hook["id"])
        self._codes.pop(ident, None)
        if self._verified_elsewhere(str(hook["uri"]), ident):
            hook["verified"] = True
            return
        code, expires_at = secrets.token_urlsafe(18), int(time.time()) + VERIFY_LIFETIME
        self._codes[ident] = (code, expires_at)
        callback = f"{self._emu.base_url}/webhooks/{ident}/verify?{urlencode({'code': code, 'expires_at': expires_at})}"
        message = self._envelope(hook, VERIFY_EVENT, "Webhook", ident, self._emu.api_user)
        message["payload"] = {"callback": callback}
        link = f'<{self.issuer}/webhooks/{ident}>; rel="canonical", <{self._emu.base_url}/v1/webhooks/{ident}>; rel="resource"'
        self._enqueue(hook, VERIFY_EVENT, message, link, chaos=False, verify_code=code)

    def _present_webhook(self, hook: Mapping[str, Any]) -> dict[str, Any]:
        policy = self._policies.get(hook["webhook_policy_id"]) if hook["webhook_policy_id"] is not None else None
        return {
            "id": hook["id"],
            "nodeID": self._node_id("Webhook", int(hook["id"])),
            "name": hook["name"],
            "event": hook["event"],
            "uri": hook["uri"],
            "description": hook["description"],
            "disabled": hook["disabled"],
            "active": bool(hook["verified"]),
            "webhook_policy": None if policy is None else {"id": policy["id"], "name": policy["name"]},
            "mail_exceptions_to": hook["mail_exceptions_to"],
            "created_at": stamp(hook["created_at"]),
            "updated_at": stamp(hook["updated_at"]),
        }


def _is_http_url(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
