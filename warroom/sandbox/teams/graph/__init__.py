"""A local Microsoft Graph (v1.0, the Teams parts warroom uses) and the Entra ID token endpoint, on one
server: :class:`GraphEmulator`.

What it is based on (learn.microsoft.com Graph reference and the microsoftgraph docs repository, Teams' limits
page, integrators' reports, and ../shared/reference/chat-and-bridges.md). The parts, each with what it
emulates:

- ``core.py`` — the limits, the gate every call passes (token, pace per team), Graph's errors, paging,
  ``$filter``.
- ``emulator.py`` — :class:`GraphEmulator`, the parts assembled and the routes (operation names).
- ``entra.py`` — the Entra ID token endpoint.
- ``channels.py`` — teams' channels and the members of a private channel.
- ``members.py`` — member bindings and views, a team's members.
- ``users.py`` — directory users, and the apps installed in their personal scope.
- ``groups.py`` — the members of Entra groups (and of teams, which are groups).
- ``chats.py`` — group and one-on-one chats, the app installed in them.
- ``messages.py`` — the bot's messages as Graph shows them, in channels and chats.
- ``meetings.py`` — online meetings.
"""

from __future__ import annotations

from .channels import NAME_FORBIDDEN, NAME_MAX, NAME_TAKEN, PRIVATE_MEMBERS_MAX
from .chats import CHAT_MEMBERS_MAX
from .emulator import GraphEmulator
from .messages import ADAPTIVE_CARD, MESSAGES_TOP_MAX

__all__ = [
    "ADAPTIVE_CARD",
    "CHAT_MEMBERS_MAX",
    "MESSAGES_TOP_MAX",
    "NAME_FORBIDDEN",
    "NAME_MAX",
    "NAME_TAKEN",
    "PRIVATE_MEMBERS_MAX",
    "GraphEmulator",
]
