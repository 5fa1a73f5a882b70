"""Public status-page updates drafted from an incident, and the safety pass every public text goes through.

- :func:`draft_update` writes one update for a status page (investigating, identified, monitoring, resolved):
  what is affected (the public component names the caller gives), what we are doing, when the next update
  comes — from templates (the deterministic engine) or by the model, whose answer goes through the same safety
  pass and falls back to the deterministic text when it fails validation (:mod:`.draft`).
- :func:`public_safe` is that safety pass: people, hosts, IPs, URLs outside an allow-list, ticket and incident
  numbers, internal names, paths, stack traces, error codes, secrets and markup are stripped or generalised,
  and what was removed is returned for the approver (:mod:`.scrub`).

Nothing here publishes: a :class:`Draft` is data for a person to approve (or for an explicit auto-publish
setting). No I/O except the model call through :class:`~warroom.ai.client.LlmClient`::

    draft = await draft_update(ctx, state="identified", components=["Checkout"], model=client,
                               public_urls=[page_url])
    post_for_approval(draft.render_review())          # the war room: text, what was removed, who wrote it
    publish(draft.text)                               # after a person's click
"""

from __future__ import annotations

from .draft import (
    CAUSE_CLASSES,
    Draft,
    ModelStatusUpdate,
    cause_class,
    draft_update,
    incident_terms,
    symptom,
    template,
)
from .scrub import GENERIC, MAX_INPUT, STATES, Removed, UpdateState, public_safe

__all__ = [
    "CAUSE_CLASSES",
    "GENERIC",
    "MAX_INPUT",
    "STATES",
    "Draft",
    "ModelStatusUpdate",
    "Removed",
    "UpdateState",
    "cause_class",
    "draft_update",
    "incident_terms",
    "public_safe",
    "symptom",
    "template",
]
