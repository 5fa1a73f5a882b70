"""Prompt building: a system prompt per task that states the rules, and user content in which every piece of
untrusted text sits inside a fenced data block (:func:`warroom.ai.safety.fence`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from .context import IncidentContext
from .records import Record, fit_budget
from .safety import fence, fence_rules
from .text import fmt_time

ROLE = (
    "You are warroom's incident assistant. You help responders during a major incident by reading the incident's "
    "records and writing short, factual text. Say only what the records support; when they do not say, say so."
)
STYLE = (
    "Write plain sentences: no Markdown links, no HTML, no @-mentions, no URLs except ones copied exactly from "
    "the data. Times are UTC."
)


def system(task: str, nonce: str, *, schema: dict[str, Any] | None = None) -> str:
    parts = [ROLE, fence_rules(nonce), STYLE, f"Task: {task}"]
    if schema is not None:
        parts.append("Answer with one JSON object that matches this JSON schema:\n" + json.dumps(schema))
    else:
        parts.append("Answer with one JSON object in the requested format.")
    return "\n\n".join(parts)


def incident_header(ctx: IncidentContext, nonce: str) -> str:
    """Facts from warroom's own record (trusted), then the incident's title and details (fenced)."""
    lines = [
        f"Incident {ctx.ref}: status {ctx.status}, priority {ctx.priority or 'none'}, service {ctx.service}."
    ]
    if ctx.created_at:
        lines.append(f"Declared at {fmt_time(ctx.created_at)}.")
    started = ctx.started_at()
    if started:
        lines.append(f"Trouble began at {fmt_time(started)} (earliest alert or declaration).")
    if ctx.acknowledged_at:
        lines.append(f"Acknowledged at {fmt_time(ctx.acknowledged_at)}.")
    if ctx.resolved_at:
        lines.append(f"Resolved at {fmt_time(ctx.resolved_at)}.")
    if ctx.dependencies:
        lines.append("The service depends on: " + ", ".join(ctx.dependencies) + ".")
    header = " ".join(lines)
    text = f"Title: {ctx.title}"
    if ctx.details:
        text += f"\nDetails: {ctx.details}"
    if ctx.roles:
        text += "\nRoles: " + ", ".join(f"{role} {person}" for role, person in sorted(ctx.roles.items()))
    return header + "\n" + fence(f"incident:{ctx.ref}", text, nonce)


def data_blocks(
    records: Sequence[Record], nonce: str, budget_tokens: int, *, per_record: int = 1200
) -> tuple[str, list[Record]]:
    """Fenced blocks for the records that fit the budget, in the given order; and the records used."""
    chosen = fit_budget(records, budget_tokens, per_record=per_record)
    blocks = [fence(r.ref, r.body(per_record), nonce) for r in chosen]
    return "\n".join(blocks), chosen


def messages(system_text: str, user_text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "system", "content": system_text}, {"role": "user", "content": user_text}]
