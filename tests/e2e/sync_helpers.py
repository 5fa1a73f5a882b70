"""Helpers for the sync end-to-end tests: open a linked incident, let both sides come to rest, read both records
back, count what warroom asked of Xurrent, and sign webhook deliveries by hand for the authentication tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from warroom.core.jobs import RECONCILE
from warroom.core.model import Incident, Link, LinkKind, TimelineEvent
from warroom.sandbox.harness import Harness

from .helpers import war_room

#: Xurrent's request operations that change something (what echo suppression must keep quiet).
WRITES = ("POST /requests", "PATCH /requests/:id", "POST /requests/:id/notes")


@dataclass
class Pair:
    """A linked incident and its Xurrent request."""

    incident: int
    request: int


async def sync_all(h: Harness, rounds: int = 12) -> None:
    """Deliver every webhook and run every job, again and again, until neither side has anything left to do
    (a round that sends no webhook and makes no Xurrent call)."""
    hub = h.world.xurrent.webhooks
    for _ in range(rounds):
        before = (len(hub.deliveries), len(h.world.xurrent.calls))
        await hub.settle()
        await h.runtime.worker.run_until_idle()
        await hub.settle()
        if (len(hub.deliveries), len(h.world.xurrent.calls)) == before:
            return
    raise AssertionError(f"the sync did not come to rest in {rounds} rounds")


async def open_incident(
    h: Harness,
    *,
    service: str = "checkout-api",
    priority: str | None = "P1",
    title: str = "Checkout is down",
    details: str = "Error ratio 0.12 on checkout since 06:00",
) -> Pair:
    """Declare a major incident as a responder would, wait for its war room and linked request, and let the
    request's creation echo settle."""
    incident = await h.runtime.incidents.declare(
        service=service, title=title, priority=priority, details=details, actor="ana"
    )
    assert await h.wait_complete(incident.id) == []
    await sync_all(h)
    (request,) = war_room(h, incident.id).requests
    return Pair(incident.id, int(request["id"]))


async def incident(h: Harness, incident_id: int) -> Incident:
    async with h.runtime.store.read() as tx:
        found = await tx.incidents.get(incident_id)
    assert found is not None
    return found


async def timeline(h: Harness, incident_id: int) -> list[TimelineEvent]:
    async with h.runtime.store.read() as tx:
        return await tx.timeline.for_incident(incident_id)


async def request_link(h: Harness, incident_id: int) -> Link:
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident_id, LinkKind.XURRENT_REQUEST)
    assert link is not None
    return link


async def incident_notes(h: Harness, incident_id: int) -> list[str]:
    return [e.text for e in await timeline(h, incident_id) if e.kind == "note"]


async def pull_jobs(h: Harness, incident_id: int) -> int:
    async with h.runtime.store.read() as tx:
        return sum(1 for j in await tx.outbox.jobs(incident_id) if j["kind"] == "itsm.pull")


async def reconcile(h: Harness) -> None:
    """Run one reconciliation pass now, as the periodic timer would."""
    async with h.runtime.store.tx() as tx:
        await tx.outbox.enqueue(RECONCILE)
    await sync_all(h)


def request(h: Harness, request_id: int) -> dict[str, Any]:
    return h.world.xurrent.requests[request_id]


def xurrent_notes(h: Harness, request_id: int) -> list[str]:
    return [str(n["text"]) for n in h.world.xurrent.notes(request_id)]


def room_lines(h: Harness, incident_id: int) -> list[str]:
    return [str(m.get("text") or "") for m in war_room(h, incident_id).messages]


def person(h: Harness, email: str) -> int:
    """The Xurrent person id of someone on the service desk."""
    return h.world.xurrent_people[email]


class XurrentClock:
    """Xurrent's clock for a test (``XurrentEmulator.clock``, what updated_at is stamped from), frozen at ``at``
    until moved — so that changes land in the same second, or far apart, on purpose rather than by timing."""

    def __init__(self, at: float) -> None:
        self.at = float(int(at))

    def __call__(self) -> float:
        return self.at

    def tick(self, seconds: float = 1.0) -> None:
        self.at += seconds


def xurrent_clock(h: Harness, *, ahead: float = 0.0) -> XurrentClock:
    """Freeze Xurrent's clock at now + ``ahead`` seconds: behind our clock (negative), warroom's reads are made
    after the second they saw is over; ahead of it, never (a read may share its second with a later change)."""
    clock = XurrentClock(time.time() + ahead)
    h.world.xurrent.clock = clock
    return clock


class Calls:
    """Counts the operations warroom made on Xurrent from the moment it is created."""

    def __init__(self, h: Harness) -> None:
        self._h = h
        self._mark = len(h.world.xurrent.calls)

    def ops(self) -> Counter[str]:
        return Counter(c.op for c in self._h.world.xurrent.calls[self._mark :])

    def writes(self) -> Counter[str]:
        ops = self.ops()
        return Counter({op: ops[op] for op in WRITES if ops[op]})


# -- signing deliveries by hand ---------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def claims_for(
    h: Harness,
    *,
    request_id: int,
    event: str = "request.update",
    person_name: str = "Dana Director",
    issued: float | None = None,
    lifetime: int = 300,
    audience: str | None = None,
    jti: str | None = None,
) -> dict[str, Any]:
    """The claims of a delivery exactly as Xurrent's look for a change to ``request_id``."""
    now = int(time.time() if issued is None else issued)
    message = {
        "webhook_id": 1, "account_id": h.world.xurrent.account, "account": h.world.xurrent.webhooks.issuer,
        "name": "warroom", "event": event, "object_id": request_id, "person_id": person(h, "dana@example.com"),
        "person_name": person_name, "payload": {"status": request(h, request_id)["status"]},
    }
    return {
        "data": message, "jti": jti or secrets.token_hex(32), "sub": "1", "iss": h.world.xurrent.webhooks.issuer,
        "nbf": now, "iat": now, "exp": now + lifetime, "aud": h.settings.server.public_url.rstrip("/")
        if audience is None else audience,
    }


def sign_hs256(claims: dict[str, Any], secret: bytes, *, alg: str = "HS256") -> str:
    signing_input = f"{_segment({'alg': alg, 'typ': 'JWT'})}.{_segment(claims)}".encode()
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{signing_input.decode()}.{_b64(hmac.new(secret, signing_input, digest).digest())}"


def sign_rs256(claims: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    signing_input = f"{_segment({'alg': 'RS256', 'typ': 'JWT'})}.{_segment(claims)}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input.decode()}.{_b64(signature)}"


def unsigned(claims: dict[str, Any]) -> str:
    return f"{_segment({'alg': 'none', 'typ': 'JWT'})}.{_segment(claims)}."


async def add_hs256_policy(h: Harness) -> bytes:
    """A second webhook policy (HS256) created in Xurrent and configured in warroom, whose shared secret the test
    knows — so that it can sign valid, expired and wrong-audience tokens itself."""
    policy = h.world.xurrent.webhooks.create_policy(
        "hs256", jwt_audience=h.settings.server.public_url.rstrip("/"), jwt_claim_expires_in=300
    )
    async with h.runtime.store.tx() as tx:
        await tx.policies.put(
            str(policy["id"]), "HS256", h.world.xurrent.webhooks.issuer, h.settings.server.public_url.rstrip("/"),
            str(policy["secret"]),
        )
    return str(policy["secret"]).encode()


async def rs256_public_key(h: Harness) -> str:
    """The public key of the RS256 policy provisioning created (what a key-confusion attack would use)."""
    async with h.runtime.store.read() as tx:
        rows = await tx.policies.all()
    return next(str(r["key"]) for r in rows if r["algorithm"] == "RS256")


async def post_delivery(h: Harness, body: bytes) -> tuple[int, str]:
    response = await h.http.post(
        "/webhooks/xurrent", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    return response.status_code, response.text


def jwt_body(token: str) -> bytes:
    return json.dumps({"jwt": token}).encode()


Tweak = Callable[[dict[str, Any]], None]


def unthrottled(h: Harness) -> Harness:
    """The emulators' rate limits off (Xurrent: 20 calls in 2 s; Slack: a message a second per channel): a test
    that changes a field ten times in a row would otherwise wait out Retry-After answers. These tests are about
    the sync, not the rate limits (tested with the adapters), and they count warroom's calls exactly."""
    h.world.xurrent.config.rate_limits = False
    h.world.slack.config.rate_limits = False
    return h
