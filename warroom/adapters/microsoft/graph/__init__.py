"""Microsoft Teams through Microsoft Graph (v1.0): war-room channels and group chats, people, the messages the
bot posted (to adopt them after a crash) and Teams meetings as bridges (:class:`TeamsMeetings`, a
:class:`~warroom.adapters.ports.BridgePort`).

Based on the Graph reference (learn.microsoft.com, the microsoftgraph docs repository), Teams' limits and
throttling pages and ../shared/reference/chat-and-bridges.md; :mod:`warroom.sandbox.teams.graph` emulates the
same behaviour.

:class:`TeamsGraph` is one client made of a part per resource, all calling through one choke point:

- ``client.py`` — :class:`~.client.GraphClient`, the choke point: the Entra token, retries, throttling and
  pacing per team, Graph's errors translated; helpers the parts share.
- ``channels.py`` — war-room channels: their names (:func:`channel_display_name`), collisions and adoption,
  members.
- ``people.py`` — directory users by email or id, the users of an Entra group, the app installed for a user.
- ``chats.py`` — group chats and the app installed in them.
- ``messages.py`` — the bot's own posts, read back.
- ``meetings.py`` — online meetings, and :class:`TeamsMeetings`, the bridge provider.

Application permissions used: Channel.Create, Channel.Delete.All, ChannelSettings.ReadWrite.All (archive),
ChannelMember.ReadWrite.All, TeamMember.Read.All, User.Read.All, Chat.Create, Chat.ReadBasic.All,
TeamsAppInstallation.ReadWriteForChat.All, TeamsAppInstallation.ReadWriteForUser.All and GroupMember.Read.All
(on-call pages by Teams chat, Teams groups in escalation steps), OnlineMeetings.ReadWrite.All (with an application
access policy for the organizer), and ChannelMessage.Read.All / Chat.Read.All — or their resource-specific-consent
forms — to read back the bot's own posts.
"""

from __future__ import annotations

from .channels import (
    NAME_FORBIDDEN,
    NAME_MAX,
    PRIVATE_MEMBERS_AT_CREATION,
    SUFFIX_ATTEMPTS,
    GraphChannels,
    TeamsChannel,
    channel_display_name,
    clean_channel_name,
    shorten,
    with_suffix,
)
from .chats import GraphChats, GroupChat
from .client import NAME_TAKEN, PERMISSIONS_HINT, SYSTEM, GraphClient, NoAccessPolicy, Pacer, odata_string
from .meetings import MEETING_HOURS, GraphMeetings, TeamsMeetings, meeting_external_id
from .messages import ADAPTIVE_CARD, GraphMessages, PostedMessage
from .people import FILTER_VALUES_MAX, GraphPeople, TeamsUser


class TeamsGraph(GraphChannels, GraphPeople, GraphChats, GraphMessages, GraphMeetings):
    """Microsoft Graph for the Teams war room. Build with :meth:`from_settings`; close with :meth:`aclose`."""


__all__ = [
    "ADAPTIVE_CARD",
    "FILTER_VALUES_MAX",
    "MEETING_HOURS",
    "NAME_FORBIDDEN",
    "NAME_MAX",
    "NAME_TAKEN",
    "PERMISSIONS_HINT",
    "PRIVATE_MEMBERS_AT_CREATION",
    "SUFFIX_ATTEMPTS",
    "SYSTEM",
    "GraphChannels",
    "GraphChats",
    "GraphClient",
    "GraphMeetings",
    "GraphMessages",
    "GraphPeople",
    "GroupChat",
    "NoAccessPolicy",
    "Pacer",
    "PostedMessage",
    "TeamsChannel",
    "TeamsGraph",
    "TeamsMeetings",
    "TeamsUser",
    "channel_display_name",
    "clean_channel_name",
    "meeting_external_id",
    "odata_string",
    "shorten",
    "with_suffix",
]
