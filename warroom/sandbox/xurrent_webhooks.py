"""Xurrent's webhooks in the sandbox: webhook policies, webhooks, the ``webhook.verify`` handshake and signed,
retried, sometimes duplicated, reordered or lost deliveries — mounted on :class:`~.xurrent.XurrentEmulator`.

What it is based on (developer.xurrent.com/v1 "Webhooks", "Webhooks API" and "Webhook Policies API", mirrored as
markdown in public repositories; the community .NET client works4me-xurrent-rest for the resource fields; Xurrent's
own iPaaS connector code for the headers and how a receiver checks the JWT):

- ``POST /webhook_policies`` {jwt_alg (required: none, hs256/384/512, rs256/384/512, es256/384/512), jwt_audience
  (≤ 2 KB), jwt_claim_expires_in (seconds), disabled} → 201. ``name`` is read-only and generated (56 hex characters);
  a ``name`` in the body is ignored, as Xurrent ignores read-only fields. The create answer is the only one with
  ``public_key_pem`` (rs*/es*: the emulator makes the key pair with ``cryptography``; the private key never leaves
  it). For hs* the documentation is silent about the shared secret (it only ever speaks of a public key); the
  emulator's assumption: a generated ``secret`` in the create answer only. ``GET /webhook_policies[/enabled|/disabled]``
  (collection fields id, name, created_at, updated_at; sorted by created_at), ``GET/PATCH/DELETE
  /webhook_policies/:id``. jwt_alg cannot be changed (the key went out once); a policy still linked to webhooks cannot
  be deleted (422) — both assumptions.
- ``POST /webhooks`` {event, uri, webhook_policy_id, name, disabled, description, mail_exceptions_to} → 201;
  ``GET /webhooks[/enabled|/disabled]``, ``GET/PATCH/DELETE /webhooks/:id``. Events: the request events listed in
  :data:`EVENTS`. ``webhook_policy`` is shown as {id, name}. ``active`` (verified, so deliveries flow) is an emulator
  addition: the REST resource documents no such field, only that a webhook "is inactive until the verification
  callback is received".
- Verification: creating a webhook sends it a ``webhook.verify`` message whose ``payload.callback`` is
  ``<emulator>/webhooks/:id/verify?code=…&expires_at=…`` (valid 24 hours; GET or POST, no authentication; answers
  "Verification successful"). Until it is called the webhook is inactive and gets nothing else. When another webhook
  with exactly the same URI is already verified, the new one is active at once and no verify message is sent.
  Changing the URI makes a webhook inactive and sends a new verify message; updating a still unverified webhook
  sends a fresh code and the old callback stops working. The verify message is signed like any other.
- Messages: {webhook_id, webhook_nodeID, account_id, account, custom_url, name, event, object_id, object_nodeID,
  person_id, person_nodeID, person_name, payload}. Request payloads are thin: audit_line_id, note_id (when the
  change added a note), source and sourceID (only when set), status, previous_status (request.status-changed only),
  team {id, name, nodeID}, member {id, name, nodeID} (only when set). As documented, adding a note alone creates no
  audit entry, so a message for a pure note addition has no audit_line_id (dedupe those by note_id).
  Headers: ``Content-Type: application/json; charset=utf-8``, ``User-Agent: xurrent/1.0 (…)``, ``Link`` (rel
  canonical, resource, and related for a note) and ``X-Xurrent-Delivery`` (a UUID per message, the same on its
  retries and duplicates — the header is seen in Xurrent's iPaaS tests; its retry behaviour is an assumption).
- Signing: with a policy the body is ``{"jwt": "<token>"}``; header ``alg`` (upper case, ``none`` for none) and
  ``typ: JWT``, plus ``kid`` for rs*/es*; claims ``data`` (the message), ``jti``, ``sub`` (the webhook id as a
  string), ``iss`` (the account URL, constructor ``issuer``), ``nbf`` and ``iat`` (the send time of the attempt),
  ``aud`` (the policy's jwt_audience, only when set) and ``exp`` (iat + jwt_claim_expires_in, only when set). Each
  attempt is signed afresh (a retry hours later must not carry an expired token) but keeps the message's ``jti``,
  so a receiver can deduplicate retries and duplicates by it. Whether real Xurrent keeps the jti across retries is
  not documented — Xurrent's own receivers treat jti as a replay nonce — so ``DeliveryConfig.jti_per_attempt``
  switches to a fresh jti per attempt; receivers should dedupe by audit_line_id / note_id as well.
- Delivery: a 2xx answer within ``timeout`` (Xurrent: 10 s) is success; anything else is retried after growing
  delays (:attr:`DeliveryConfig.retry_delays` × ``retry_scale``) and dropped after ``max_attempts``. Xurrent only
  says it "retries periodically" and drops the message "after several failures": the schedule is an assumption.
  An attempt is canceled when its webhook was deleted, disabled or is no longer active (a verify message: when its
  code was replaced).

Chaos for tests (all off by default, drawn from ``random.Random(seed)`` at the moment the change happens, so a
fixed seed gives the same pattern): ``drop_rate`` (never sent, outcome "lost"), ``duplicate_rate`` (the same
message, same jti and delivery id, sent twice independently), ``reorder_window`` (each copy is held a random 0…window
seconds before its first attempt). Chaos applies to event messages, not to webhook.verify.

Operation names for latency and faults: ``POST /webhook_policies``, ``GET /webhook_policies``,
``GET /webhook_policies/:id``, ``PATCH /webhook_policies/:id``, ``DELETE /webhook_policies/:id``,
``POST /webhooks``, ``GET /webhooks``, ``GET /webhooks/:id``, ``PATCH /webhooks/:id``, ``DELETE /webhooks/:id``,
``GET /webhooks/:id/verify``, ``POST /webhooks/:id/verify`` (the callback).

Read-back and helpers (``emu.webhooks``): :attr:`WebhookHub.deliveries` (one :class:`Delivery` per message copy,
each with its :class:`Attempt` list: what was sent, when, and the answer), :meth:`WebhookHub.attempts`;
``await hub.settle()`` returns once nothing is queued, held, waiting for a retry or in flight; ``create_policy()``,
``create_webhook(…, active=True)`` (skips the handshake), ``activate()``, ``policy()``, ``webhook()``. Deliveries
are asyncio tasks on the emulator's loop; the emulator's ``stop()`` cancels them (outcome "canceled").
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import aiohttp
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from .base import Handler
from .xurrent import TRUTHY, AuditLine, ValidationFailed, stamp

if TYPE_CHECKING:
    from .xurrent import XurrentEmulator

EVENTS = (
    "request.create",
    "request.update",
    "request.note-added",
    "request.status-changed",
    "request.member-changed",
    "request.team-changed",
    "request.major-incident-status-changed",
)
JWT_ALGS = ("none", "hs256", "hs384", "hs512", "rs256", "rs384", "rs512", "es256", "es384", "es512")
USER_AGENT = "xurrent/1.0 (https://developer.xurrent.com/v1/webhooks)"
VERIFY_EVENT = "webhook.verify"
VERIFY_LIFETIME = 24 * 3600
MAX_AUDIENCE = 2048
MAX_URI = 2048
MAX_NAME = 255
MAX_DESCRIPTION = 65_535
ANSWER_KEPT = 2000
POLICY_COLLECTION_FIELDS = ("id", "name", "created_at", "updated_at")

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


@dataclass
class DeliveryConfig:
    """How the emulator delivers webhook messages; a test may change the fields while it runs."""

    #: Seconds a receiver has to answer before the attempt counts as failed (Xurrent: 10).
    timeout: float = 10.0
    #: Seconds before the 1st, 2nd, … retry (the last value repeats), multiplied by ``retry_scale``.
    retry_delays: tuple[float, ...] = (10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)
    #: Factor on every retry delay (tests: 0.001 turns 10 s into 10 ms).
    retry_scale: float = 1.0
    #: Attempts per message copy, the first one included; then the message is dropped (outcome "failed").
    max_attempts: int = 7
    #: Chance that a message is sent twice (two independent copies with the same jti and delivery id).
    duplicate_rate: float = 0.0
    #: Each copy waits a random 0…reorder_window seconds before its first attempt, so copies overtake each other.
    reorder_window: float = 0.0
    #: Chance that a message is never sent (outcome "lost").
    drop_rate: float = 0.0
    #: Seed of the random.Random that draws drop, duplicate and hold for each message.
    seed: int = 0
    #: Sign each attempt with a fresh jti instead of keeping the message's jti for its retries and duplicates.
    jti_per_attempt: bool = False

    def retry_delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        delays = self.retry_delays or (0.0,)
        return delays[min(attempt, len(delays)) - 1] * self.retry_scale


@dataclass
class Attempt:
    """One HTTP POST of a message to a webhook's URI."""

    number: int
    #: Epoch seconds when the request was sent.
    sent_at: float
    headers: dict[str, str]
    #: Exactly what was posted: ``{"jwt": …}`` with a policy, else the message itself.
    body: dict[str, Any]
    #: The jti claim sent (None without a policy).
    jti: str | None
    #: The receiver's HTTP status; None when it did not answer.
    status: int | None = None
    #: Why there was no answer ("no answer within 10.0 s", "ClientConnectorError: …").
    error: str | None = None
    #: The first 2000 characters of the receiver's answer.
    answer: str = ""
    #: Seconds from sending to the answer (or the failure).
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    """One copy of one message for one webhook, and what became of it."""

    #: Position in :attr:`WebhookHub.deliveries` (1-based).
    seq: int
    #: Sent as ``X-Xurrent-Delivery``; shared by the retries and the duplicate of one message.
    delivery_id: str
    webhook_id: int
    event: str
    uri: str
    #: The message (the ``data`` claim when signed).
    message: dict[str, Any]
    #: The message's jti, kept for its retries and duplicates unless ``jti_per_attempt``.
    jti: str
    #: The ``Link`` header value.
    link: str
    queued_at: float
    #: Seconds held before the first attempt (``reorder_window``).
    hold: float = 0.0
    #: True for the second copy made by ``duplicate_rate``.
    duplicate: bool = False
    #: pending (queued or in flight), delivered, failed (gave up after max_attempts), lost (chaos: never sent),
    #: canceled (webhook deleted, disabled or inactive, verify code replaced, or the emulator stopped).
    outcome: str = "pending"
    attempts: list[Attempt] = field(default_factory=list)
    #: For webhook.verify messages: the code the callback carries.
    verify_code: str | None = None


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


def _flag(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in TRUTHY


class WebhookHub:
    """Webhook policies, webhooks and their delivery for one :class:`~.xurrent.XurrentEmulator`."""

    def __init__(self, emulator: XurrentEmulator, *, issuer: str | None = None, config: DeliveryConfig | None = None) -> None:
        self._emu = emulator
        #: The ``iss`` claim and the ``account`` of messages: the account's URL.
        self.issuer = issuer or f"https://{emulator.account}.xurrent.com"
        self.config = config or DeliveryConfig()
        #: Every message copy queued, in order; read back by tests, the demo and benches.
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(self.config.seed)
        self._ids = {"webhook_policies": 300, "webhooks": 200}
        self._policies: dict[int, dict[str, Any]] = {}
        self._keys: dict[int, _SigningKey] = {}
        self._webhooks: dict[int, dict[str, Any]] = {}
        self._codes: dict[int, tuple[str, int]] = {}  # webhook id → (verify code, expires_at epoch)
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None

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

    def attempts(self, event: str | None = None) -> list[Attempt]:
        """Every HTTP attempt made, in delivery order (optionally only for one event)."""
        return [a for d in self.deliveries if event is None or d.event == event for a in d.attempts]

    async def settle(self, timeout: float | None = 30.0) -> None:
        """Return once no delivery is queued, held, waiting for a retry or in flight."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._flush_backlog()
        while self._tasks:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                pending = sum(1 for d in self.deliveries if d.outcome == "pending")
                raise TimeoutError(
                    f"{pending} webhook deliveries are still pending after {timeout} s: lower "
                    "DeliveryConfig.retry_scale or max_attempts, or make the receiver answer 2xx."
                )
            await asyncio.wait(set(self._tasks), timeout=left)
            self._flush_backlog()

    async def close(self) -> None:
        """Cancel every delivery still pending and close the HTTP client (called by the emulator's stop())."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        self._backlog.clear()
        for delivery in self.deliveries:
            if delivery.outcome == "pending":  # including tasks canceled before they ever ran
                delivery.outcome = "canceled"
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- the audit trail → messages -------------------------------------------------------------------
    def on_audit(self, line: AuditLine) -> None:
        """Queue a message for every active, enabled webhook whose event the audit line triggers."""
        raw = self._emu._requests.get(line.request_id)
        if raw is None:
            return
        request = self._emu._present_request(raw)
        for event in line.events:
            for hook in sorted(self._webhooks.values(), key=lambda h: int(h["id"])):
                if hook["event"] == event and hook["verified"] and not hook["disabled"]:
                    message = self._event_message(hook, event, line, request)
                    self._enqueue(hook, event, message, self._request_link(line, event), chaos=True)

    def _node_id(self, kind: str, ident: int) -> str:
        return _b64(f"xurrent-sandbox.{self._emu.account}/{kind}/{ident}".encode())

    def _ref(self, kind: str, ref: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if ref is None:
            return None
        return {"id": ref["id"], "name": ref["name"], "nodeID": self._node_id(kind, int(ref["id"]))}

    def _envelope(self, hook: Mapping[str, Any], event: str, kind: str, object_id: int, person: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "webhook_id": hook["id"],
            "webhook_nodeID": self._node_id("Webhook", int(hook["id"])),
            "account_id": self._emu.account,
            "account": self.issuer,
            "custom_url": None,
            "name": hook["name"],
            "event": event,
            "object_id": object_id,
            "object_nodeID": self._node_id(kind, object_id),
            "person_id": person["id"],
            "person_nodeID": self._node_id("Person", int(person["id"])),
            "person_name": person["name"],
        }

    def _event_message(self, hook: Mapping[str, Any], event: str, line: AuditLine, request: Mapping[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if line.events != ["request.note-added"]:  # a note on its own makes no audit entry (as documented)
            payload["audit_line_id"] = line.id
        if line.note_id is not None:
            payload["note_id"] = line.note_id
        for key in ("source", "sourceID"):
            if request.get(key):
                payload[key] = request[key]
        payload["status"] = request["status"]
        if event == "request.status-changed" and "status" in line.changes:
            payload["previous_status"] = line.changes["status"][0]
        team = self._ref("Team", request.get("team"))
        if team is not None:
            payload["team"] = team
        member = self._ref("Person", request.get("member"))
        if member is not None:
            payload["member"] = member
        message = self._envelope(hook, event, "Request", line.request_id, line.person)
        message["payload"] = payload
        return message

    def _request_link(self, line: AuditLine, event: str) -> str:
        rid = line.request_id
        base = f"{self._emu.base_url}/v1"
        links = [f'<{self.issuer}/requests/{rid}>; rel="canonical"', f'<{base}/requests/{rid}>; rel="resource"']
        if event == "request.note-added" and line.note_id is not None:
            links.append(f'<{base}/requests/{rid}/notes/{line.note_id}>; rel="related"')
        return ", ".join(links)

    # -- queueing and sending -------------------------------------------------------------------------
    def _enqueue(self, hook: Mapping[str, Any], event: str, message: dict[str, Any], link: str, *, chaos: bool, verify_code: str | None = None) -> None:
        cfg = self.config
        lost, copies = False, 1
        if chaos:  # always the same draws per message, so a seed gives the same pattern whatever the rates
            lost = self._rng.random() < cfg.drop_rate
            copies = 2 if self._rng.random() < cfg.duplicate_rate else 1
        jti, delivery_id = secrets.token_hex(32), str(uuid.uuid4())
        for copy in range(1 if lost else copies):
            hold = self._rng.uniform(0.0, cfg.reorder_window) if chaos and cfg.reorder_window > 0 else 0.0
            delivery = Delivery(
                seq=len(self.deliveries) + 1,
                delivery_id=delivery_id,
                webhook_id=int(hook["id"]),
                event=event,
                uri=str(hook["uri"]),
                message=message,
                jti=jti,
                link=link,
                queued_at=time.time(),
                hold=hold,
                duplicate=copy > 0,
                verify_code=verify_code,
            )
            self.deliveries.append(delivery)
            if lost:
                delivery.outcome = "lost"
            else:
                self._spawn(delivery)

    def _spawn(self, delivery: Delivery) -> None:
        self._backlog.append(delivery)
        self._flush_backlog()

    def _flush_backlog(self) -> None:
        """Start a task for every queued delivery; outside a running loop they wait for the next change or settle()."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        backlog, self._backlog = self._backlog, []
        for queued in backlog:
            task = loop.create_task(self._run(queued), name=f"xurrent webhook delivery {queued.seq}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _still_wanted(self, delivery: Delivery) -> bool:
        hook = self._webhooks.get(delivery.webhook_id)
        if hook is None:
            return False
        if delivery.event == VERIFY_EVENT:
            code = self._codes.get(delivery.webhook_id)
            return code is not None and code[0] == delivery.verify_code
        return bool(hook["verified"]) and not hook["disabled"] and hook["uri"] == delivery.uri

    async def _run(self, delivery: Delivery) -> None:
        try:
            if delivery.hold > 0:
                await asyncio.sleep(delivery.hold)
            attempts = max(1, self.config.max_attempts)
            for number in range(1, attempts + 1):
                if not self._still_wanted(delivery):
                    delivery.outcome = "canceled"
                    return
                if await self._attempt(delivery, number):
                    delivery.outcome = "delivered"
                    return
                if number < attempts:
                    await asyncio.sleep(self.config.retry_delay(number))
            delivery.outcome = "failed"
        except asyncio.CancelledError:
            delivery.outcome = "canceled"
            raise

    def _signed_body(self, delivery: Delivery) -> tuple[dict[str, Any], str | None]:
        hook = self._webhooks[delivery.webhook_id]
        policy_id = hook["webhook_policy_id"]
        if policy_id is None or policy_id not in self._policies:
            return delivery.message, None
        policy = self._policies[policy_id]
        jti = secrets.token_hex(32) if self.config.jti_per_attempt else delivery.jti
        now = int(time.time())
        claims: dict[str, Any] = {
            "data": delivery.message,
            "jti": jti,
            "sub": str(hook["id"]),
            "iss": self.issuer,
            "nbf": now,
            "iat": now,
        }
        if policy["jwt_audience"]:
            claims["aud"] = policy["jwt_audience"]
        if policy["jwt_claim_expires_in"]:
            claims["exp"] = now + int(policy["jwt_claim_expires_in"])
        return {"jwt": self._keys[policy_id].sign(claims)}, jti

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def _attempt(self, delivery: Delivery, number: int) -> bool:
        body, jti = self._signed_body(delivery)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            "Link": delivery.link,
            "X-Xurrent-Delivery": delivery.delivery_id,
        }
        attempt = Attempt(number=number, sent_at=time.time(), headers=headers, body=body, jti=jti)
        delivery.attempts.append(attempt)
        started = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=self.config.timeout)
        try:
            async with self._client().post(
                delivery.uri, data=_json(body), headers=headers, timeout=timeout, allow_redirects=False
            ) as response:
                answer = await response.text(errors="replace")
                attempt.status = response.status
                attempt.answer = answer[:ANSWER_KEPT]
        except TimeoutError:
            attempt.error = f"no answer within {self.config.timeout} s"
        except aiohttp.ClientError as exc:
            attempt.error = f"{type(exc).__name__}: {exc}"
        attempt.elapsed = time.monotonic() - started
        return attempt.ok

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

    # -- HTTP -----------------------------------------------------------------------------------------
    def mount(self) -> None:
        """Register the routes on the emulator (before its catch-all ``/v1/…`` route)."""
        emu = self._emu
        policy_id, hook_id, which = "{id:\\d+}", "{id:\\d+}", "{which:enabled|disabled}"
        api: list[tuple[str, str, str, Handler]] = [
            ("GET", "/v1/webhook_policies", "GET /webhook_policies", self._list_policies),
            ("GET", f"/v1/webhook_policies/{which}", "GET /webhook_policies", self._list_policies),
            ("POST", "/v1/webhook_policies", "POST /webhook_policies", self._post_policy),
            ("GET", f"/v1/webhook_policies/{policy_id}", "GET /webhook_policies/:id", self._get_policy),
            ("PATCH", f"/v1/webhook_policies/{policy_id}", "PATCH /webhook_policies/:id", self._patch_policy),
            ("DELETE", f"/v1/webhook_policies/{policy_id}", "DELETE /webhook_policies/:id", self._delete_policy),
            ("GET", "/v1/webhooks", "GET /webhooks", self._list_webhooks),
            ("GET", f"/v1/webhooks/{which}", "GET /webhooks", self._list_webhooks),
            ("POST", "/v1/webhooks", "POST /webhooks", self._post_webhook),
            ("GET", f"/v1/webhooks/{hook_id}", "GET /webhooks/:id", self._get_webhook),
            ("PATCH", f"/v1/webhooks/{hook_id}", "PATCH /webhooks/:id", self._patch_webhook),
            ("DELETE", f"/v1/webhooks/{hook_id}", "DELETE /webhooks/:id", self._delete_webhook),
        ]
        for method, path, op, handler in api:
            emu.route(method, path, op, emu._api(handler))
        emu.route("GET", f"/webhooks/{hook_id}/verify", "GET /webhooks/:id/verify", self._verify_callback)
        emu.route("POST", f"/webhooks/{hook_id}/verify", "POST /webhooks/:id/verify", self._verify_callback)

    @staticmethod
    def _id(request: web.Request) -> int:
        return int(request.match_info["id"])

    @staticmethod
    def _which(request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        which = request.match_info.get("which")
        return items if which is None else [i for i in items if i["disabled"] == (which == "disabled")]

    async def _list_policies(self, request: web.Request) -> web.Response:
        filters: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
            "id": ("int", lambda p: p["id"]),
            "name": ("istr", lambda p: p["name"].lower()),
            "disabled": ("bool", lambda p: p["disabled"]),
            "created_at": ("time", lambda p: p["created_at"]),
            "updated_at": ("time", lambda p: p["updated_at"]),
        }
        items = self._which(request, list(self._policies.values()))
        return self._emu._page(request, items, filters, self._present_policy, POLICY_COLLECTION_FIELDS, "created_at")

    async def _post_policy(self, request: web.Request) -> web.Response:
        return web.json_response(self._create_policy(await self._emu._body(request)), status=201)

    async def _get_policy(self, request: web.Request) -> web.Response:
        policy = self._policies.get(self._id(request))
        if policy is None:
            return self._emu._message(404, "Not Found")
        return web.json_response(self._present_policy(policy))

    async def _patch_policy(self, request: web.Request) -> web.Response:
        policy = self._policies.get(self._id(request))
        if policy is None:
            return self._emu._message(404, "Not Found")
        errors: list[list[str]] = []
        fields = self._policy_fields(await self._emu._body(request), errors, creating=False)
        if errors:
            raise ValidationFailed(errors)
        if any(policy[k] != v for k, v in fields.items()):
            policy.update(fields)
            policy["updated_at"] = max(int(time.time()), int(policy["updated_at"]))
        return web.json_response(self._present_policy(policy))

    async def _delete_policy(self, request: web.Request) -> web.Response:
        ident = self._id(request)
        if ident not in self._policies:
            return self._emu._message(404, "Not Found")
        users = sorted(int(h["id"]) for h in self._webhooks.values() if h["webhook_policy_id"] == ident)
        if users:
            listed = ", ".join(str(u) for u in users)
            raise ValidationFailed([["base", f"Webhook policy is used by webhooks {listed}: link them to another policy first"]])
        del self._policies[ident]
        del self._keys[ident]
        return web.Response(status=204)

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        filters: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {"id": ("int", lambda h: h["id"])}
        items = self._which(request, list(self._webhooks.values()))
        return self._emu._page(request, items, filters, self._present_webhook, None, "id")

    async def _post_webhook(self, request: web.Request) -> web.Response:
        return web.json_response(self._create_webhook(await self._emu._body(request)), status=201)

    async def _get_webhook(self, request: web.Request) -> web.Response:
        hook = self._webhooks.get(self._id(request))
        if hook is None:
            return self._emu._message(404, "Not Found")
        return web.json_response(self._present_webhook(hook))

    async def _patch_webhook(self, request: web.Request) -> web.Response:
        hook = self._webhooks.get(self._id(request))
        if hook is None:
            return self._emu._message(404, "Not Found")
        return web.json_response(self._update_webhook(hook, await self._emu._body(request)))

    async def _delete_webhook(self, request: web.Request) -> web.Response:
        ident = self._id(request)
        if self._webhooks.pop(ident, None) is None:
            return self._emu._message(404, "Not Found")
        self._codes.pop(ident, None)
        return web.Response(status=204)

    async def _verify_callback(self, request: web.Request) -> web.Response:
        ident = self._id(request)
        entry = self._codes.get(ident)
        code = request.query.get("code", "")
        if ident not in self._webhooks or entry is None or not secrets.compare_digest(code.encode(), entry[0].encode()) or time.time() > entry[1]:
            return web.Response(
                status=404,
                text="Verification failed: this code is unknown, replaced or expired. "
                "Update the webhook to receive a new webhook.verify message.",
            )
        self.activate(ident)
        return web.Response(text="Verification successful")


def _is_http_url(uri: str) -> bool:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
