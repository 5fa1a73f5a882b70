"""``POST /webhooks/xurrent``: Xurrent's signed webhook deliveries, translated at the edge.

A delivery is verified against the webhook policies ``warroom itsm provision`` created (algorithm, issuer and
audience pinned), taken in once (by its ``jti``), and treated as a hint: the answer goes back at once and an
outbox job reads the request's current state. ``webhook.verify`` is answered by calling its callback (as a job).
A delivery about a post-incident task's RFC (``task_links``) is routed to the task (``itsm.task_pull``,
sync/rfc.py) after the same verification and echo check.

Xurrent's webhooks cover the whole account, so most deliveries are about requests warroom does not link, and
Xurrent disables a webhook after repeated failed deliveries: an authentic delivery warroom has no use for is
answered **200** with the reason in the body (``{"status": "ignored", "reason": …}``), never a 4xx — a note or a
status change on an unlinked request (it cannot make a major incident), an update to a request of a service
warroom does not watch (remembered from a recent read, sync/watch.py: no read spent), an event warroom does not
handle. An unlinked request's create, update or major-incident status change that may escalate is accepted with 202
and checked (one read). 4xx stays for what is not an authentic, well-formed delivery: 401 unverifiable, 400
malformed (no request named, a verify message without its callback), 413 too large.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from aiohttp import web

from warroom.adapters.errors import AdapterError
from warroom.core.jobs import CONFIRM_WEBHOOK, CONSIDER_REQUEST
from warroom.core.model import LinkKind
from warroom.sync.engine import enqueue_pull, enqueue_task_pull
from warroom.sync.provision import EVENTS
from warroom.sync.webhook_auth import WebhookPolicy, WebhookRejected, verify_delivery

from .body import BodyRefused, read_body
from .metrics import tag

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("warroom.itsm_webhook")

MAX_BODY = 256 * 1024
REQUEST_EVENTS = frozenset(EVENTS)


#: Events after which an unlinked request may have become a major incident (the others cannot make it one).
ESCALATING_EVENTS = frozenset({"request.create", "request.update", "request.major-incident-status-changed"})


def mount(app: web.Application, rt: Runtime) -> None:
    async def policies() -> list[WebhookPolicy]:
        async with rt.store.read() as tx:
            rows = await tx.policies.all()
        out = []
        for row in rows:
            try:
                out.append(WebhookPolicy(row["algorithm"], row["issuer"], row["audience"], row["key"]))
            except ValueError as exc:
                log.error("webhook policy %s is unusable: %s", row["remote_id"], exc)
        return out

    async def handle(request: web.Request) -> web.Response:
        try:
            body = await read_body(request, MAX_BODY)
        except BodyRefused as exc:
            return exc.response()
        known = await policies()
        if not known:
            # nothing to verify a delivery with: it cannot be authentic (401, not a 5xx — the sender is not at fault
            # for warroom's set-up, but nothing unverified is taken in)
            return web.json_response(
                {"error": "No webhook policy is set up, so no delivery can be verified: run `warroom itsm provision` "
                          "first."}, status=401
            )
        delivery = None
        rejection: WebhookRejected | None = None
        for policy in known:
            try:
                delivery = verify_delivery(body, policy)
                break
            except WebhookRejected as exc:
                rejection = rejection if rejection and rejection.status != 401 else exc
        if delivery is None:
            assert rejection is not None
            rt.metrics.intake_rejected.labels("xurrent", str(rejection.status)).inc()
            return web.json_response({"error": rejection.reason}, status=rejection.status)
        if delivery.event != "webhook.verify" and delivery.event not in REQUEST_EVENTS:
            return _ignored(f"warroom does not handle '{delivery.event[:60]}' events; nothing was applied.")
        if delivery.event == "webhook.verify":
            if not delivery.callback:
                return web.json_response({"error": "The webhook.verify message has no callback."}, status=400)
        elif delivery.object_id is None:
            return web.json_response({"error": "The message names no request (object_id)."}, status=400)
        own = False
        if delivery.person_id is not None and rt.ports.itsm is not None and delivery.event != "webhook.verify":
            try:
                own = delivery.person_id == await rt.ports.itsm.api_person_id()
            except AdapterError:
                own = False  # not known now: treat it as anyone's change and read it
        if own:
            # the echo of warroom's own write (each audited change has its own delivery, so a desk change made at
            # the same moment comes with its own person): nothing to read — the write already updated the shadow
            async with rt.store.tx() as tx:
                await tx.inbox.remember("xurrent", delivery.jti)
            return tag(web.json_response({"status": "warroom's own change; nothing to read"}, status=200), "own_change")
        async with rt.store.tx() as tx:
            link = None
            if delivery.event != "webhook.verify" and delivery.object_id is not None:
                link = await tx.links.find(LinkKind.XURRENT_REQUEST, str(delivery.object_id))
                rfc = await tx.task_links.find(str(delivery.object_id)) if link is None else None
                if rfc is not None:
                    # the RFC of a post-incident task: routed to the task (sync/rfc.py), once per delivery
                    if not await tx.inbox.remember("xurrent", delivery.jti):
                        return tag(web.json_response({"status": "duplicate"}, status=200), "duplicate")
                    await enqueue_task_pull(tx, rfc.task_id, {"request_id": delivery.object_id, "event": delivery.event,
                                                              "person_name": delivery.person_name})
                    return web.json_response({"status": "accepted", "task": rfc.task_id}, status=202)
                if link is None and delivery.event not in ESCALATING_EVENTS:
                    # authentic but of no use: answered 2xx so that Xurrent keeps the webhook; nothing applied
                    return _ignored(
                        f"Request #{delivery.object_id} is not linked to a warroom incident, and a "
                        f"{delivery.event} cannot make it a major incident; nothing was applied. Link it with "
                        f"`/incident escalate {delivery.object_id}` if it should be one.")
                if (link is None and rt.sync is not None
                        and delivery.event != "request.major-incident-status-changed"):
                    reason = rt.sync.unwatched(delivery.object_id)
                    if reason is not None:
                        return _ignored(reason)
            if not await tx.inbox.remember("xurrent", delivery.jti):
                return tag(web.json_response({"status": "duplicate"}, status=200), "duplicate")
            if delivery.event == "webhook.verify":
                await tx.outbox.enqueue(CONFIRM_WEBHOOK, {"callback": delivery.callback})
                return tag(web.json_response({"status": "verifying"}, status=202), "verify")
            assert delivery.object_id is not None
            hint = {"request_id": delivery.object_id, "event": delivery.event, "person_name": delivery.person_name}
            if link is None:
                await tx.outbox.enqueue(CONSIDER_REQUEST, hint, dedup_key=f"consider:{delivery.object_id}")
                return tag(web.json_response({"status": "not linked; checking for escalation"}, status=202),
                           "escalation_check")
            await enqueue_pull(tx, link.incident_id, hint)
        return web.json_response({"status": "accepted", "incident": link.incident_id}, status=202)

    app.router.add_post("/webhooks/xurrent", handle)


def _ignored(reason: str) -> web.Response:
    """An authentic delivery warroom has no use for: 200 (a 4xx would count as a failed delivery towards Xurrent
    disabling the webhook), with the reason."""
    return tag(web.json_response({"status": "ignored", "reason": reason}, status=200), "ignored")
