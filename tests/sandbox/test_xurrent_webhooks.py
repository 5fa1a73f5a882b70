"""The Xurrent emulator's webhooks over real HTTP: policies and their keys, the webhook.verify handshake, signed
deliveries verified with joserfc, retries, timeouts, and seeded duplicates, drops and reordering. The receiver is a
small aiohttp server on loopback; tests wait with ``settle()``, never with sleeps."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, OctKey, RSAKey

from warroom.sandbox.base import EmulatorConfig, bound_port
from warroom.sandbox.xurrent import Delivery, DeliveryConfig, XurrentEmulator

SECRET = "test-secret"
ISSUER = "https://wdc.xurrent.com"
FAST = DeliveryConfig(retry_scale=0.001, max_attempts=4, timeout=5.0)
HANG = 0  # an answer code for the receiver: hold the request until released


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a JWT, unverified (the receiver's routing; tests verify with joserfc)."""
    parts = token.split(".")
    header, claims = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in parts[:2])
    return header, claims


@dataclass
class Received:
    headers: dict[str, str]
    body: dict[str, Any]
    message: dict[str, Any]

    @property
    def token(self) -> str:
        return str(self.body["jwt"])

    @property
    def jti(self) -> str | None:
        return claims_of(self.token)[1]["jti"] if "jwt" in self.body else None


@dataclass
class Receiver:
    """A webhook endpoint: records what arrives, answers from a per-event script, calls verify callbacks."""

    auto_verify: bool = True
    #: Event → answers to give, in order (HANG holds the request); 200 once the script is used up.
    answers: dict[str, list[int]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/{name}", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{bound_port(site)}"
        return self.base_url

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        message = claims_of(body["jwt"])[1]["data"] if "jwt" in body else body
        self.received.append(Received(dict(request.headers), body, message))
        self.arrived.set()
        event = message["event"]
        if event == "webhook.verify" and self.auto_verify:
            async with httpx.AsyncClient() as http:
                assert (await http.get(message["payload"]["callback"])).status_code == 200
        script = self.answers.get(event, [])
        answer = script.pop(0) if script else 200
        if answer == HANG:
            await self.release.wait()
            answer = 200
        return web.Response(status=answer, text="ok" if answer < 300 else "not now")

    def events(self, event: str) -> list[Received]:
        return [r for r in self.received if r.message["event"] == event]


@dataclass
class Env:
    emu: XurrentEmulator
    http: httpx.AsyncClient
    headers: dict[str, str]
    receiver: Receiver
    request_id: int

    @property
    def hook_uri(self) -> str:
        return f"{self.receiver.base_url}/hook"

    async def post(self, path: str, body: Any) -> httpx.Response:
        return await self.http.post(f"/v1{path}", json=body, headers=self.headers)

    async def get(self, path: str) -> httpx.Response:
        return await self.http.get(f"/v1{path}", headers=self.headers)

    async def patch(self, path: str, body: Any) -> httpx.Response:
        return await self.http.patch(f"/v1{path}", json=body, headers=self.headers)

    async def delete(self, path: str) -> httpx.Response:
        return await self.http.delete(f"/v1{path}", headers=self.headers)

    def hook(self, event: str, *, policy: int | None = None) -> int:
        """A webhook made with the emulator's helper, active at once (the handshake has its own test)."""
        return int(self.emu.webhooks.create_webhook(event, self.hook_uri, webhook_policy_id=policy, active=True)["id"])

    def change(self, status: str) -> None:
        self.emu.update_request(self.request_id, {"status": status})


@asynccontextmanager
async def environment(delivery: DeliveryConfig = FAST, **receiver: Any) -> AsyncIterator[Env]:
    emu = XurrentEmulator(EmulatorConfig(rate_limits=False), client_secret=SECRET, webhook_delivery=delivery)
    hooks = Receiver(**receiver)
    await hooks.start()
    base = await emu.start()
    http = httpx.AsyncClient(base_url=base)
    form = {"grant_type": "client_credentials", "client_id": "warroom-sandbox", "client_secret": SECRET}
    access = (await http.post("/token", data=form)).json()["access_token"]
    team = emu.add_team("Operations")
    si = emu.add_service_instance("checkout-api (production)", team_id=team)
    request = emu.create_request({"subject": "Checkout down", "category": "incident", "impact": "top", "service_instance_id": si})
    try:
        yield Env(emu, http, {"Authorization": f"Bearer {access}", "X-Xurrent-Account": emu.account}, hooks, int(request["id"]))
    finally:
        await http.aclose()
        await emu.stop()
        await hooks.stop()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with environment() as e:
        yield e


def fresh(delivery: DeliveryConfig = FAST, **changes: Any) -> DeliveryConfig:
    return DeliveryConfig(**{**delivery.__dict__, **changes})


# -- policies -----------------------------------------------------------------------------------------


async def test_policy_create_shows_the_public_key_once_and_never_again(env: Env) -> None:
    answer = await env.post("/webhook_policies", {"jwt_alg": "rs256", "jwt_audience": "warroom", "jwt_claim_expires_in": 60, "name": "mine"})
    assert answer.status_code == 201
    created = answer.json()
    assert created["jwt_alg"] == "rs256" and created["jwt_audience"] == "warroom" and created["jwt_claim_expires_in"] == 60
    assert created["disabled"] is False and len(created["name"]) == 56 and created["name"] != "mine"
    assert created["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----") and "secret" not in created
    RSAKey.import_key(created["public_key_pem"])
    shown = (await env.get(f"/webhook_policies/{created['id']}")).json()
    assert shown == {k: v for k, v in created.items() if k != "public_key_pem"}
    listed = (await env.get("/webhook_policies")).json()
    assert listed == [{k: created[k] for k in ("id", "name", "created_at", "updated_at")}]

    ec = (await env.post("/webhook_policies", {"jwt_alg": "es256"})).json()
    ECKey.import_key(ec["public_key_pem"])
    hs = (await env.post("/webhook_policies", {"jwt_alg": "hs256"})).json()
    assert len(hs["secret"]) >= 64 and "public_key_pem" not in hs
    assert "secret" not in (await env.get(f"/webhook_policies/{hs['id']}")).json()
    none = (await env.post("/webhook_policies", {"jwt_alg": "none"})).json()
    assert "secret" not in none and "public_key_pem" not in none


async def test_policy_validation_and_updates(env: Env) -> None:
    cases = [
        ({}, [["jwt_alg", "JWT algorithm can't be blank"]]),
        ({"jwt_alg": "HS256"}, [["jwt_alg", "JWT algorithm is not included in the list"]]),
        ({"jwt_alg": "rs256", "jwt_claim_expires_in": 0}, [["jwt_claim_expires_in", "Claim expires in must be greater than 0"]]),
        ({"jwt_alg": "rs256", "jwt_claim_expires_in": "soon"}, [["jwt_claim_expires_in", "Claim expires in is not a number"]]),
        ({"jwt_alg": "rs256", "jwt_audience": "x" * 2049}, [["jwt_audience", "Audience is too long (maximum is 2048 characters)"]]),
    ]
    for body, errors in cases:
        answer = await env.post("/webhook_policies", body)
        assert answer.status_code == 422 and answer.json() == {"message": "Validation Failed", "errors": errors}
    assert (await env.http.post("/v1/webhook_policies", json={"jwt_alg": "none"})).status_code == 401
    policy = (await env.post("/webhook_policies", {"jwt_alg": "hs384"})).json()
    assert (await env.patch(f"/webhook_policies/{policy['id']}", {"jwt_alg": "hs256"})).status_code == 422
    updated = await env.patch(f"/webhook_policies/{policy['id']}", {"jwt_audience": "later", "disabled": True})
    assert updated.status_code == 200 and updated.json()["jwt_audience"] == "later" and updated.json()["disabled"] is True
    assert [p["id"] for p in (await env.get("/webhook_policies/disabled")).json()] == [policy["id"]]
    refused = await env.post("/webhooks", {"event": "request.update", "uri": env.hook_uri, "webhook_policy_id": policy["id"]})
    assert refused.status_code == 422 and refused.json()["errors"][0][0] == "webhook_policy"
    assert (await env.get("/webhook_policies/999")).status_code == 404


# -- webhooks and the handshake -------------------------------------------------------------------------


async def test_webhook_validation(env: Env) -> None:
    answer = await env.post("/webhooks", {})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [["event", "Event can't be blank"], ["uri", "URI can't be blank"]]
    cases = [
        ({"event": "request.deleted", "uri": env.hook_uri}, [["event", "Event is not included in the list"]]),
        ({"event": "request.update", "uri": "ftp://example.com/x"}, [["uri", "URI is invalid"]]),
        ({"event": "request.update", "uri": env.hook_uri, "webhook_policy_id": 999}, [["webhook_policy", "Webhook policy must exist"]]),
    ]
    for body, errors in cases:
        answer = await env.post("/webhooks", body)
        assert answer.status_code == 422 and answer.json()["errors"] == errors
    assert (await env.get("/webhooks/999")).status_code == 404
    assert env.emu.webhooks.deliveries == []


async def test_verify_handshake_activates_the_webhook_and_nothing_is_delivered_before() -> None:
    async with environment(auto_verify=False) as env:
        answer = await env.post("/webhooks", {"event": "request.update", "uri": env.hook_uri, "description": "warroom"})
        assert answer.status_code == 201
        hook = answer.json()
        assert hook["active"] is False and hook["webhook_policy"] is None and hook["event"] == "request.update"
        await env.emu.webhooks.settle()
        [verify] = env.receiver.received
        assert verify.message["event"] == "webhook.verify" and verify.message["object_id"] == hook["id"]
        assert verify.message["webhook_id"] == hook["id"] and verify.message["account_id"] == "wdc"
        callback = verify.message["payload"]["callback"]
        assert callback.startswith(f"{env.emu.base_url}/webhooks/{hook['id']}/verify?code=")

        env.change("accepted")
        await env.emu.webhooks.settle()
        assert len(env.receiver.received) == 1 and [d.event for d in env.emu.webhooks.deliveries] == ["webhook.verify"]

        wrong = await env.http.get(f"/webhooks/{hook['id']}/verify", params={"code": "guess"})
        assert wrong.status_code == 404 and "Update the webhook" in wrong.text
        done = await env.http.post(callback)
        assert done.status_code == 200 and done.text == "Verification successful"
        assert (await env.get(f"/webhooks/{hook['id']}")).json()["active"] is True
        assert (await env.http.get(callback)).status_code == 404  # a code works once

        env.change("in_progress")
        await env.emu.webhooks.settle()
        [update] = env.receiver.events("request.update")
        assert update.message["payload"]["status"] == "in_progress"

        # Another webhook to the same, already verified URI is active at once: no second handshake.
        twin = (await env.post("/webhooks", {"event": "request.status-changed", "uri": env.hook_uri})).json()
        assert twin["active"] is True
        await env.emu.webhooks.settle()
        assert len(env.receiver.events("webhook.verify")) == 1


async def test_status_change_and_note_arrive_signed_with_the_claims(env: Env) -> None:
    policy = (await env.post("/webhook_policies", {"jwt_alg": "rs256", "jwt_audience": "warroom-test", "jwt_claim_expires_in": 120})).json()
    hooks = {}
    for event in ("request.update", "request.status-changed", "request.note-added"):
        answer = await env.post("/webhooks", {"event": event, "uri": env.hook_uri, "webhook_policy_id": policy["id"]})
        assert answer.status_code == 201 and answer.json()["webhook_policy"] == {"id": policy["id"], "name": policy["name"]}
        hooks[event] = answer.json()["id"]
    await env.emu.webhooks.settle()
    for hook_id in hooks.values():
        assert (await env.get(f"/webhooks/{hook_id}")).json()["active"] is True

    assert (await env.patch(f"/requests/{env.request_id}", {"status": "accepted"})).status_code == 200
    status_line = env.emu.audit[-1]
    note = (await env.post(f"/requests/{env.request_id}/notes", {"text": "Rolling back"})).json()
    await env.emu.webhooks.settle()

    key = RSAKey.import_key(policy["public_key_pem"])
    events = {}
    for received in env.receiver.received:
        token = jwt.decode(received.token, key, algorithms=["RS256"])
        assert token.header["alg"] == "RS256" and token.header["typ"] == "JWT" and token.header["kid"]
        claims = token.claims
        hook_id = claims["data"]["webhook_id"]
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": ISSUER},
            aud={"essential": True, "value": "warroom-test"},
            sub={"essential": True, "value": str(hook_id)},
            jti={"essential": True},
            exp={"essential": True},
            nbf={"essential": True},
            iat={"essential": True},
        ).validate(claims)
        assert claims["exp"] == claims["iat"] + 120 and claims["nbf"] == claims["iat"]
        assert received.headers["User-Agent"].startswith("xurrent/1.0") and received.headers["X-Xurrent-Delivery"]
        events[claims["data"]["event"]] = (claims, received.headers)

    assert set(events) == {"webhook.verify", "request.update", "request.status-changed", "request.note-added"}
    status, _ = events["request.status-changed"]
    data = status["data"]
    assert data["webhook_id"] == hooks["request.status-changed"] and data["object_id"] == env.request_id
    assert data["account"] == ISSUER and data["person_id"] == env.emu.api_user["id"] and data["person_name"] == "Warroom Integration"
    assert {"webhook_nodeID", "object_nodeID", "person_nodeID", "custom_url", "name"} <= set(data)
    payload = data["payload"]
    assert payload["status"] == "accepted" and payload["previous_status"] == "assigned"
    assert payload["audit_line_id"] == status_line.id and payload["team"]["name"] == "Operations"
    assert "member" not in payload and "note_id" not in payload

    update, update_headers = events["request.update"]
    assert update["data"]["payload"]["audit_line_id"] == status_line.id and "previous_status" not in update["data"]["payload"]
    assert f'</v1/requests/{env.request_id}>; rel="resource"' in update_headers["Link"].replace(env.emu.base_url, "")

    added, added_headers = events["request.note-added"]
    assert added["data"]["payload"]["note_id"] == note["id"] and "audit_line_id" not in added["data"]["payload"]
    assert f'/notes/{note["id"]}>; rel="related"' in added_headers["Link"]
    assert len({claims["jti"] for claims, _ in events.values()}) == 4


@pytest.mark.parametrize("alg", ["hs256", "hs512", "rs384", "es256", "es384", "es512"])
async def test_every_algorithm_verifies_with_the_key_handed_out(env: Env, alg: str) -> None:
    policy = env.emu.webhooks.create_policy(alg, jwt_audience="warroom", jwt_claim_expires_in=30)
    hook = env.hook("request.update", policy=int(policy["id"]))
    env.change("accepted")
    await env.emu.webhooks.settle()
    [received] = env.receiver.received
    if alg.startswith("hs"):
        key: OctKey | RSAKey | ECKey = OctKey.import_key(policy["secret"])
    elif alg.startswith("rs"):
        key = RSAKey.import_key(policy["public_key_pem"])
    else:
        key = ECKey.import_key(policy["public_key_pem"])
    token = jwt.decode(received.token, key, algorithms=[alg.upper()])
    assert token.header["alg"] == alg.upper() and ("kid" in token.header) == (not alg.startswith("hs"))
    assert token.claims["sub"] == str(hook) and token.claims["aud"] == "warroom" and token.claims["iss"] == ISSUER
    assert token.claims["data"]["event"] == "request.update"
    if alg.startswith("hs"):
        other: OctKey | RSAKey | ECKey = OctKey.import_key("y" * 64)
    elif alg.startswith("rs"):
        other = RSAKey.generate_key(2048)
    else:
        other = ECKey.generate_key({"es256": "P-256", "es384": "P-384", "es512": "P-521"}[alg])
    with pytest.raises(BadSignatureError):
        jwt.decode(received.token, other, algorithms=[alg.upper()])


async def test_alg_none_and_no_policy(env: Env) -> None:
    none = env.emu.webhooks.create_policy("none")
    env.hook("request.update", policy=int(none["id"]))
    env.change("accepted")
    await env.emu.webhooks.settle()
    [unsigned] = env.receiver.received
    header, claims = claims_of(unsigned.token)
    assert header == {"alg": "none", "typ": "JWT"} and unsigned.token.endswith(".")
    assert "aud" not in claims and "exp" not in claims and claims["data"]["event"] == "request.update"

    env.emu.webhooks.create_webhook("request.status-changed", env.hook_uri)  # same URI: active at once
    env.change("in_progress")
    await env.emu.webhooks.settle()
    [plain] = env.receiver.events("request.status-changed")
    assert "jwt" not in plain.body and plain.body["payload"]["previous_status"] == "accepted"
    assert plain.headers["Content-Type"] == "application/json; charset=utf-8"


# -- retries, timeouts, chaos ---------------------------------------------------------------------------


async def test_failed_deliveries_are_retried_until_answered_2xx_with_the_same_jti(env: Env) -> None:
    policy = env.emu.webhooks.create_policy("hs256", jwt_claim_expires_in=30)
    env.hook("request.update", policy=int(policy["id"]))
    env.receiver.answers["request.update"] = [500, 503]
    env.change("accepted")
    await env.emu.webhooks.settle()
    [delivery] = env.emu.webhooks.deliveries
    assert delivery.outcome == "delivered" and [a.status for a in delivery.attempts] == [500, 503, 200]
    assert [a.answer for a in delivery.attempts] == ["not now", "not now", "ok"]
    posts = env.receiver.events("request.update")
    assert len(posts) == 3
    assert {p.jti for p in posts} == {delivery.jti} and {p.headers["X-Xurrent-Delivery"] for p in posts} == {delivery.delivery_id}
    iats = [claims_of(p.token)[1]["iat"] for p in posts]
    assert iats == sorted(iats)  # each attempt is signed when it is sent


async def test_a_receiver_that_keeps_failing_is_given_up_after_max_attempts(env: Env) -> None:
    env.hook("request.update")
    env.receiver.answers["request.update"] = [500] * 10
    env.change("accepted")
    await env.emu.webhooks.settle()
    [delivery] = env.emu.webhooks.deliveries
    assert delivery.outcome == "failed" and len(delivery.attempts) == FAST.max_attempts
    assert len(env.receiver.events("request.update")) == FAST.max_attempts


async def test_no_answer_within_the_timeout_is_retried() -> None:
    async with environment(fresh(timeout=0.2)) as env:
        env.hook("request.update")
        env.receiver.answers["request.update"] = [HANG]
        env.change("accepted")
        await env.emu.webhooks.settle()
        [delivery] = env.emu.webhooks.deliveries
        first, second = delivery.attempts
        assert first.status is None and first.error == "no answer within 0.2 s"
        assert second.status == 200 and delivery.outcome == "delivered"


async def test_fresh_jti_per_attempt_when_asked() -> None:
    async with environment(fresh(jti_per_attempt=True)) as env:
        policy = env.emu.webhooks.create_policy("hs256")
        env.hook("request.update", policy=int(policy["id"]))
        env.receiver.answers["request.update"] = [500]
        env.change("accepted")
        await env.emu.webhooks.settle()
        jtis = [p.jti for p in env.receiver.events("request.update")]
        assert len(jtis) == 2 and len(set(jtis)) == 2


async def test_duplicates_keep_their_jti_and_delivery_id() -> None:
    async with environment(fresh(duplicate_rate=1.0)) as env:
        policy = env.emu.webhooks.create_policy("hs256")
        env.hook("request.update", policy=int(policy["id"]))
        env.change("accepted")
        await env.emu.webhooks.settle()
        original, copy = env.emu.webhooks.deliveries
        assert not original.duplicate and copy.duplicate and original.message == copy.message
        posts = env.receiver.events("request.update")
        assert len(posts) == 2 and len({p.jti for p in posts}) == 1
        assert len({p.headers["X-Xurrent-Delivery"] for p in posts}) == 1


async def dropped_pattern(seed: int) -> list[bool]:
    async with environment(fresh(drop_rate=0.5, seed=seed)) as env:
        env.hook("request.update")
        for n in range(12):
            env.change("accepted" if n % 2 == 0 else "in_progress")
        await env.emu.webhooks.settle()
        deliveries = env.emu.webhooks.deliveries
        lost = [d for d in deliveries if d.outcome == "lost"]
        assert all(d.attempts == [] for d in lost)
        assert {d.message["payload"]["audit_line_id"] for d in deliveries if d.outcome == "delivered"} == {
            r.message["payload"]["audit_line_id"] for r in env.receiver.received
        }
        assert len(env.receiver.received) == 12 - len(lost)
        return [d.outcome == "lost" for d in deliveries]


async def test_drops_follow_the_seed() -> None:
    pattern = await dropped_pattern(seed=11)
    assert 0 < sum(pattern) < 12
    assert await dropped_pattern(seed=11) == pattern


async def test_reorder_window_delivers_out_of_order() -> None:
    async with environment(fresh(reorder_window=0.3, seed=3)) as env:
        env.hook("request.update")
        for n in range(8):
            env.change("accepted" if n % 2 == 0 else "in_progress")
        await env.emu.webhooks.settle()
        sent = [line.id for line in env.emu.audit[1:]]
        arrived = [r.message["payload"]["audit_line_id"] for r in env.receiver.received]
        assert sorted(arrived) == sent and arrived != sent
        assert all(d.outcome == "delivered" and 0 <= d.hold <= 0.3 for d in env.emu.webhooks.deliveries)


# -- lifecycle ------------------------------------------------------------------------------------------


async def test_disable_uri_change_and_delete(env: Env) -> None:
    hook = (await env.post("/webhooks", {"event": "request.update", "uri": env.hook_uri})).json()
    await env.emu.webhooks.settle()
    assert (await env.patch(f"/webhooks/{hook['id']}", {"disabled": True})).json()["disabled"] is True
    env.change("accepted")
    await env.emu.webhooks.settle()
    assert env.receiver.events("request.update") == []
    assert [h["id"] for h in (await env.get("/webhooks/disabled")).json()] == [hook["id"]]

    moved = (await env.patch(f"/webhooks/{hook['id']}", {"disabled": False, "uri": f"{env.receiver.base_url}/elsewhere"})).json()
    assert moved["active"] is False and moved["uri"].endswith("/elsewhere")
    await env.emu.webhooks.settle()
    assert len(env.receiver.events("webhook.verify")) == 2
    assert (await env.get(f"/webhooks/{hook['id']}")).json()["active"] is True
    env.change("in_progress")
    await env.emu.webhooks.settle()
    assert len(env.receiver.events("request.update")) == 1

    policy = env.emu.webhooks.create_policy("hs256")
    await env.patch(f"/webhooks/{hook['id']}", {"webhook_policy_id": policy["id"]})
    assert (await env.delete(f"/webhook_policies/{policy['id']}")).status_code == 422
    assert [h["id"] for h in (await env.get("/webhooks")).json()] == [hook["id"]]
    assert (await env.delete(f"/webhooks/{hook['id']}")).status_code == 204
    assert (await env.get(f"/webhooks/{hook['id']}")).status_code == 404
    assert (await env.delete(f"/webhook_policies/{policy['id']}")).status_code == 204
    env.change("accepted")
    await env.emu.webhooks.settle()
    assert len(env.receiver.events("request.update")) == 1


async def test_stop_cancels_deliveries_waiting_for_a_retry() -> None:
    async with environment(fresh(retry_scale=1.0)) as env:
        env.hook("request.update")
        env.receiver.answers["request.update"] = [500]
        env.change("accepted")
        await asyncio.wait_for(env.receiver.arrived.wait(), 5)
        await asyncio.wait_for(env.emu.stop(), 5)
        delivery: Delivery = env.emu.webhooks.deliveries[0]
        assert delivery.outcome == "canceled" and len(delivery.attempts) == 1
        await env.emu.webhooks.settle(timeout=1)
