"""Reading a Teams activity: what was said, where, by whom, and the keys it is taken in by.

- Text: Teams sends a message's text HTML-encoded with each mention as ``<at>Name</at>`` (and a mention entity
  naming the person). :func:`read_text` decodes it once, here at the edge: the bot's own mention is dropped,
  other people's become ``<@{id}|{name}>`` for the grammar (:mod:`warroom.chat.grammar`) and ``@Name`` for the
  timeline.
- Place: :func:`room_of` is the war room a conversation belongs to (a channel, whatever thread the message is in;
  else the group chat or 1:1 chat).
- Person: :class:`Who` is the sender, named for the incident's records by their Bot Framework id.
- Keys: every activity is taken in once — commands, buttons and dialogs through the inbox (:func:`inbox_key`,
  under :data:`INBOX_SOURCE`), messages by their timeline key (:func:`message_key`) — so a repeated delivery
  does nothing again.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microsoft_agents.activity import Activity

from warroom.response.actions import Actor

#: The inbox's source for Teams activities.
INBOX_SOURCE = "teams"
#: Bot Framework ids of bots (this one and others) start so.
BOT_ID_PREFIX = "28:"


# ---------------------------------------------------------------------------------------------- text


_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_MARKUP_UNSAFE = re.compile(r"[<>|]")


@dataclass(frozen=True, slots=True)
class Said:
    """A message's text as the grammar and the timeline want it."""

    #: Whether the bot was @mentioned.
    to_bot: bool
    #: For the grammar: the bot's mention dropped, people as ``<@id|name>``, entities decoded.
    command: str
    #: For people (the timeline): mentions as ``@Name``, entities decoded.
    shown: str
    #: The people mentioned: their Bot Framework id → display name.
    names: Mapping[str, str] = field(default_factory=dict)


def read_text(text: str | None, entities: Any, bot_id: str | None) -> Said:
    """Decode a Teams message's text (HTML-encoded, mentions as ``<at>Name</at>`` with mention entities)."""
    raw = text or ""
    mentions: list[tuple[str, str, str]] = []  # (tag text, id, name)
    for entity in entities if isinstance(entities, list) else []:
        data = entity if isinstance(entity, Mapping) else getattr(entity, "__dict__", {})
        extra = getattr(entity, "model_extra", None) or {}
        merged = {**data, **extra}
        if str(merged.get("type", "")).lower() != "mention":
            continue
        mentioned = merged.get("mentioned")
        if isinstance(mentioned, Mapping) and isinstance(mentioned.get("id"), str):
            tag = merged.get("text")
            mentions.append(
                (tag if isinstance(tag, str) else "", str(mentioned["id"]), str(mentioned.get("name") or ""))
            )
    to_bot = False
    names: dict[str, str] = {}
    command: list[str] = []
    shown: list[str] = []
    pos = 0
    for m in _AT.finditer(raw):
        plain = _decode(raw[pos : m.start()])
        command.append(plain)
        shown.append(plain)
        pos = m.end()
        tag = html.unescape(m.group(0)).lower()
        found = next((x for x in mentions if html.unescape(x[0]).lower() == tag), None)
        if found is not None:
            mentions.remove(found)
        name = _decode(found[2] if found and found[2] else m.group(1))
        if found is not None and bot_id and found[1] == bot_id:
            to_bot = True
            continue
        shown.append(f"@{name}")
        if found is None:
            command.append(name)
        else:
            command.append(f"<@{found[1]}|{_MARKUP_UNSAFE.sub('', name)}>")
            names[found[1]] = name
    tail = _decode(raw[pos:])
    command.append(tail)
    shown.append(tail)
    return Said(to_bot, "".join(command).strip(), "".join(shown).strip(), names)


def _decode(text: str) -> str:
    return html.unescape(text).replace("\xa0", " ") if "&" in text else text


# ---------------------------------------------------------------------------------------------- place


def room_of(activity: Activity) -> str:
    """The war-room id a conversation belongs to: a channel's id (whatever thread the message is in), else the
    conversation's id (a group chat, a 1:1 chat)."""
    data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
    channel = data.get("channel")
    if isinstance(channel, Mapping) and isinstance(channel.get("id"), str) and channel["id"]:
        return str(channel["id"])
    if isinstance(data.get("teamsChannelId"), str) and data["teamsChannelId"]:
        return str(data["teamsChannelId"])
    conversation = activity.conversation.id if activity.conversation else ""
    return conversation.split(";", 1)[0]


def in_channel_or_group(activity: Activity) -> bool:
    """Whether the activity is in a channel or a group chat (not a 1:1 chat with the bot)."""
    kind = activity.conversation.conversation_type if activity.conversation else None
    return kind in ("channel", "groupChat")


# ---------------------------------------------------------------------------------------------- people


@dataclass(frozen=True, slots=True)
class Who:
    """The person behind an activity."""

    user_id: str
    name: str
    aad_id: str | None

    @property
    def actor(self) -> Actor:
        """As the incident's records name them: ``teams:<Bot Framework user id>`` — the id mentions carry too, so
        that a person is the same whether they act or are named in a command."""
        return Actor("teams", self.user_id or self.aad_id or "unknown", self.name)

    @classmethod
    def of(cls, activity: Activity) -> Who:
        sender = activity.from_property
        if sender is None:
            return cls("", "someone", None)
        return cls(sender.id or "", sender.name or "someone", sender.aad_object_id)


def from_bot(activity: Activity) -> bool:
    """Whether a bot (this one or another) sent the activity."""
    sender = activity.from_property
    return bool(sender and (sender.id or "").startswith(BOT_ID_PREFIX))


# ---------------------------------------------------------------------------------------------- keys


def message_key(activity: Activity) -> str:
    """The timeline's key for a Teams message: its conversation (the channel or chat) and its id."""
    key = f"teams:{room_of(activity)}:{activity.id or ''}"
    return key if len(key) <= 160 else f"teams:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def inbox_key(kind: str, activity: Activity, extra: str = "") -> str:
    """The inbox's key for an activity taken in as ``kind`` (a command message, a card button, an invoke)."""
    key = f"{kind}:{room_of(activity)}:{activity.id or ''}{':' + extra if extra else ''}"
    return key if len(key) <= 255 else f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


# ---------------------------------------------------------------------------------------------- helpers


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is a mapping (an activity's loosely typed JSON parts), else an empty one."""
    return value if isinstance(value, Mapping) else {}
