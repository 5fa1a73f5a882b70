"""``warroom itsm provision``: create the webhook policy and the webhooks for the request events in Xurrent
through its API, and keep the policy's public key to verify deliveries with.

The policy signs with RS256 and sets both an audience (warroom's public URL) and an expiry, since the receiver pins
algorithm, issuer and audience and requires ``exp``. Xurrent shows the public key only in the answer to the create,
so it is stored at once. Running it again adds a new policy and webhooks (the old ones can be deleted in Xurrent).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from warroom.settings import Settings
from warroom.store.db import Store

EVENTS = (
    "request.create",
    "request.update",
    "request.note-added",
    "request.status-changed",
    "request.member-changed",
    "request.team-changed",
    "request.major-incident-status-changed",
)
CLAIM_LIFETIME = 300


class Creates(Protocol):
    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Provisioned:
    policy_id: str
    webhook_ids: list[int]
    uri: str


def issuer_for(settings: Settings) -> str:
    """The ``iss`` of Xurrent's webhook JWTs: the account's URL (derived with every other Xurrent host, in
    XurrentSettings)."""
    return settings.xurrent.issuer()


async def provision(
    settings: Settings, store: Store, xurrent: Creates, *, uri: str | None = None,
    say: Callable[[str], Awaitable[None]] | None = None,
) -> Provisioned:
    uri = uri or f"{settings.server.public_url.rstrip('/')}/webhooks/xurrent"
    audience = settings.server.public_url.rstrip("/")
    policy = await xurrent.create(
        "webhook_policies", {"jwt_alg": "rs256", "jwt_audience": audience, "jwt_claim_expires_in": CLAIM_LIFETIME}
    )
    key = policy.get("public_key_pem")
    if not key:
        raise ValueError("Xurrent did not return the policy's public key; delete the policy and provision again.")
    async with store.tx() as tx:
        await tx.policies.put(str(policy["id"]), "RS256", issuer_for(settings), audience, str(key))
    if say is not None:
        await say(f"Webhook policy {policy['id']} created (RS256, audience {audience}).")
    ids = []
    for event in EVENTS:
        hook = await xurrent.create(
            "webhooks", {"event": event, "uri": uri, "webhook_policy_id": policy["id"], "name": f"warroom {event}"}
        )
        ids.append(int(hook["id"]))
        if say is not None:
            await say(f"Webhook {hook['id']} for {event} → {uri}")
    return Provisioned(str(policy["id"]), ids, uri)
