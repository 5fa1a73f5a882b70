"""Reading back through Graph the messages the bot posted in a channel or a chat, to adopt them after a crash
(:class:`PostedMessage`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .client import GraphClient, _obj, _q, _values

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


@dataclass(frozen=True, slots=True)
class PostedMessage:
    """A message as Graph lists it: who sent it (an app id for bots), its HTML body and its attachments (each
    ``{contentType, content}`` with the content parsed when it is JSON)."""

    id: str
    app_id: str | None
    html: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    reply_to: str | None = None


class GraphMessages(GraphClient):
    """The messages of a channel or a chat (``…/channels/{id}/messages``, ``/chats/{id}/messages``)."""

    async def recent_messages(
        self, conversation_id: str, *, team_id: str | None = None, top: int = 50
    ) -> list[PostedMessage]:
        """The newest top-level messages of a channel (``team_id`` given) or a chat, newest first."""
        base = conversation_id.partition(";messageid=")[0]
        if team_id is not None:
            answer = await self._team_call(
                team_id, "GET", f"teams/{_q(team_id)}/channels/{_q(base)}/messages", params={"$top": str(top)}
            )
        else:
            answer = await self.api.json("GET", f"chats/{_q(base)}/messages", params={"$top": str(top)})
        return [_message(r) for r in _values(answer)]


def _message(record: dict[str, Any]) -> PostedMessage:
    sender = _obj(record.get("from"))
    application = _obj(sender.get("application"))
    body = _obj(record.get("body"))
    attachments = []
    for item in record.get("attachments") or []:
        if not isinstance(item, dict):
            continue
        content = item.get("content")
        if isinstance(content, str) and item.get("contentType") == ADAPTIVE_CARD:
            try:
                content = json.loads(content)
            except ValueError:
                pass
        attachments.append({"contentType": item.get("contentType"), "content": content})
    return PostedMessage(
        id=str(record.get("id")),
        app_id=application.get("id"),
        html=str(body.get("content") or ""),
        attachments=attachments,
        reply_to=record.get("replyToId"),
    )
