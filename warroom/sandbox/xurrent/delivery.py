"""Delivering webhook messages: the audit trail becomes messages for the webhooks that want them, each message
copy a :class:`Delivery` sent as an asyncio task — signed afresh per :class:`Attempt`, retried on the
:class:`DeliveryConfig` schedule, and dropped, duplicated or held back by its chaos settings.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import aiohttp

from .records import AuditLine
from .signing import _b64, _json, _SigningKey

if TYPE_CHECKING:
    from .emulator import XurrentEmulator

USER_AGENT = "xurrent/1.0 (https://developer.xurrent.com/v1/webhooks)"
VERIFY_EVENT = "webhook.verify"
ANSWER_KEPT = 2000


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


class WebhookDelivery:
    """The message queue and sender of :class:`~.webhooks.WebhookHub`."""

    #: Policies, their keys, webhooks and pending verify codes (kept by :class:`~.webhook_resources.WebhookResources`).
    _policies: dict[int, dict[str, Any]]
    _keys: dict[int, _SigningKey]
    _webhooks: dict[int, dict[str, Any]]
    _codes: dict[int, tuple[str, int]]

    def __init__(self, emulator: XurrentEmulator, *, issuer: str | None = None, config: DeliveryConfig | None = None) -> None:
        self._emu = emulator
        #: The ``iss`` claim and the ``account`` of messages: the account's URL.
        self.issuer = issuer or f"https://{emulator.account}.xurrent.com"
        self.config = config or DeliveryConfig()
        #: Every message copy queued, in order; read back by tests, the demo and benches.
        self.deliveries: list[Delivery] = []
        self._rng = random.Random(self.config.seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._backlog: list[Delivery] = []
        self._session: aiohttp.ClientSession | None = None

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
