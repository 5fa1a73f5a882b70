"""Group chats through Graph (war rooms for confidential incidents): creating one never twice
(:meth:`GraphChats.open_group_chat`), finding it again and installing the bot's Teams app in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Conflict, Permanent
from warroom.adapters.http import create_or_adopt

from .client import SYSTEM, GraphClient, _q


@dataclass(frozen=True, slots=True)
class GroupChat:
    id: str
    topic: str
    url: str | None


class GraphChats(GraphClient):
    """Group chats (``/chats``, ``/users/{id}/chats``)."""

    async def create_group_chat(self, topic: str, member_ids: Sequence[str]) -> GroupChat:
        """A group chat with these members, all owners (not idempotent: see :meth:`open_group_chat`)."""
        body = {
            "chatType": "group",
            "topic": topic,
            "members": [
                {
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "roles": ["owner"],
                    "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
                }
                for user_id in dict.fromkeys(member_ids)
            ],
        }
        record = await self.api.json("POST", "chats", json=body)
        return _chat(record)

    async def find_group_chat(self, topic: str, member_id: str) -> GroupChat | None:
        """The group chat of exactly that topic among ``member_id``'s chats."""
        async for record in self._pages(f"users/{_q(member_id)}/chats", {"$filter": "chatType eq 'group'"}):
            if record.get("topic") == topic:
                return _chat(record)
        return None

    async def open_group_chat(
        self, topic: str, member_ids: Sequence[str], *, look_first: bool = False
    ) -> GroupChat:
        """Create the group chat, never twice: after a failure that may have created it, and first of all with
        ``look_first``, the first member's chats are searched for the topic."""
        first = member_ids[0]
        if look_first and (found := await self.find_group_chat(topic, first)) is not None:
            return found
        return await create_or_adopt(
            lambda: self.create_group_chat(topic, member_ids),
            lambda: self.find_group_chat(topic, first),
            max_retries=self.max_retries,
            max_inline_wait=self.max_inline_wait,
        )

    async def install_app_in_chat(self, chat_id: str, catalog_app_id: str) -> None:
        """Install the Teams app (its id in the organisation's catalog) in a chat; installed already is fine."""
        body = {
            "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog_app_id}"
        }
        try:
            await self.api.json("POST", f"chats/{_q(chat_id)}/installedApps", json=body, idempotent=True)
        except Conflict:
            return


def _chat(record: Any) -> GroupChat:
    if not isinstance(record, dict) or not record.get("id"):
        raise Permanent(SYSTEM, "Graph answered with a chat that has no id")
    return GroupChat(
        id=str(record["id"]), topic=str(record.get("topic") or ""), url=record.get("webUrl") or None
    )
