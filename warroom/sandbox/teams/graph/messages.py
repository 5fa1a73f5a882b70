"""Messages in the Graph emulator: the messages the bot posted (through the Bot Connector) as Graph shows them
(:meth:`GraphMessages.chat_message`), listed for a channel or a chat.

- ``GET /teams/{id}/channels/{id}/messages`` (top-level messages newest first, ``$top`` at most 50,
  ``@odata.nextLink``) and ``GET /chats/{id}/messages`` (newest first, ``$top`` ≤ 50).
"""

from __future__ import annotations

import json
import secrets
from html import escape as html_escape
from typing import Any

from aiohttp import web

from ..tenant import Message, iso
from .channels import GraphChannels
from .chats import GraphChats

MESSAGES_TOP_MAX = 50
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"


class GraphMessages(GraphChannels, GraphChats):
    """``…/channels/{id}/messages`` and ``/chats/{id}/messages``."""

    def chat_message(self, message: Message, *, team_id: str | None = None) -> dict[str, Any]:
        activity = message.activity
        attachments = []
        parts = []
        text = str(activity.get("text") or "")
        if text:
            mentions = {
                str(e.get("text")): e for e in activity.get("entities") or [] if e.get("type") == "mention"
            }
            rendered = html_escape(text)
            for n, mention_text in enumerate(mentions):
                name = mention_text.removeprefix("<at>").removesuffix("</at>")
                rendered = rendered.replace(
                    html_escape(mention_text), f'<at id="{n}">{html_escape(name)}</at>'
                )
            parts.append(f"<p>{rendered}</p>")
        for item in activity.get("attachments") or []:
            attachment_id = secrets.token_hex(16)
            content = item.get("content")
            attachments.append(
                {
                    "id": attachment_id,
                    "contentType": item.get("contentType"),
                    "contentUrl": None,
                    "content": json.dumps(content) if content is not None else None,
                    "name": None,
                    "thumbnailUrl": None,
                    "teamsAppId": None,
                }
            )
            parts.append(f'<attachment id="{attachment_id}"></attachment>')
        out: dict[str, Any] = {
            "id": message.id,
            "replyToId": message.reply_to,
            "etag": str(int(message.modified * 1000)),
            "messageType": "message",
            "createdDateTime": iso(message.created),
            "lastModifiedDateTime": iso(message.modified),
            "lastEditedDateTime": iso(message.modified) if len(message.versions) > 1 else None,
            "deletedDateTime": None,
            "subject": None,
            "summary": activity.get("summary"),
            "importance": "normal",
            "locale": "en-us",
            "webUrl": None,
            "from": {
                "application": {
                    "@odata.type": "#microsoft.graph.teamworkApplicationIdentity",
                    "id": message.app_id,
                    "displayName": self.tenant.app_name,
                    "applicationIdentityType": "bot",
                },
                "device": None,
                "user": None,
            },
            "body": {"contentType": "html", "content": "".join(parts)},
            "attachments": attachments,
            "mentions": [],
            "reactions": [],
        }
        if team_id is not None:
            out["channelIdentity"] = {"teamId": team_id, "channelId": message.root}
        else:
            out["chatId"] = message.root
        return out

    async def _channel_messages(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        top_level = [m for m in self.tenant.messages.get(channel["id"], []) if m.reply_to is None]
        value = [self.chat_message(m, team_id=channel["teamId"]) for m in reversed(top_level)]
        return self._page(request, value, top_max=MESSAGES_TOP_MAX, top_default=20, context="chatMessages")

    async def _chat_messages(self, request: web.Request) -> web.Response:
        chat = self._chat(request)
        value = [self.chat_message(m) for m in reversed(self.tenant.messages.get(chat["id"], []))]
        return self._page(request, value, top_max=MESSAGES_TOP_MAX, top_default=20, context="chatMessages")
