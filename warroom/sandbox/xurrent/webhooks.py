"""Xurrent's webhooks in the sandbox: webhook policies, webhooks, the ``webhook.verify`` handshake and signed,
retried, sometimes duplicated, reordered or lost deliveries — mounted on :class:`~.emulator.XurrentEmulator`.

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

import secrets
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..base import Handler
from .records import ValidationFailed
from .webhook_resources import WebhookResources

POLICY_COLLECTION_FIELDS = ("id", "name", "created_at", "updated_at")


class WebhookHub(WebhookResources):
    """Webhook policies, webhooks and their delivery for one :class:`~.emulator.XurrentEmulator`, served over HTTP."""

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
