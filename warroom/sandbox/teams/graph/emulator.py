"""The Graph emulator assembled: :class:`GraphEmulator` is made of a part per resource, and routes each Graph
path to the part that answers it.

Operation names for latency and faults are ``"<METHOD> <path template>"`` without ``/v1.0``, e.g. ``POST
/teams/{team-id}/channels``; the token endpoint is ``POST /{tenant}/oauth2/v2.0/token``.
"""

from __future__ import annotations

from ...base import EmulatorConfig, Handler
from ..tenant import TeamsTenant
from .channels import GraphChannels
from .chats import GraphChats
from .entra import GraphEntra
from .groups import GraphGroups
from .meetings import GraphMeetings
from .members import GraphMembers
from .messages import GraphMessages
from .users import GraphUsers


class GraphEmulator(
    GraphEntra, GraphMessages, GraphChannels, GraphChats, GraphMembers, GraphGroups, GraphUsers, GraphMeetings
):
    """A local Microsoft Graph (v1.0, the Teams parts warroom uses) and the Entra ID token endpoint."""

    def __init__(self, tenant: TeamsTenant, config: EmulatorConfig | None = None) -> None:
        super().__init__(tenant, config)
        self.route("POST", "/{tenant}/oauth2/v2.0/token", "POST /{tenant}/oauth2/v2.0/token", self._token)
        api: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/teams/{team}/channels", self._list_channels, True),
            ("POST", "/teams/{team}/channels", self._create_channel, True),
            ("GET", "/teams/{team}/channels/{channel}", self._get_channel, True),
            ("DELETE", "/teams/{team}/channels/{channel}", self._delete_channel, True),
            ("POST", "/teams/{team}/channels/{channel}/archive", self._archive_channel, True),
            ("POST", "/teams/{team}/channels/{channel}/unarchive", self._unarchive_channel, True),
            ("GET", "/teams/{team}/channels/{channel}/members", self._list_channel_members, True),
            ("POST", "/teams/{team}/channels/{channel}/members", self._add_channel_member, True),
            ("GET", "/teams/{team}/channels/{channel}/messages", self._channel_messages, True),
            ("GET", "/teams/{team}/members", self._list_team_members, True),
            ("GET", "/users", self._list_users, False),
            ("GET", "/users/{user}", self._get_user, False),
            ("GET", "/users/{user}/chats", self._list_chats, False),
            ("GET", "/users/{user}/teamwork/installedApps", self._list_user_apps, False),
            ("POST", "/users/{user}/teamwork/installedApps", self._install_for_user, False),
            ("GET", "/groups/{group}/members", self._list_group_members, False),
            ("POST", "/users/{user}/onlineMeetings", self._create_meeting, False),
            ("POST", "/users/{user}/onlineMeetings/createOrGet", self._create_or_get_meeting, False),
            ("GET", "/users/{user}/onlineMeetings/{meeting}", self._get_meeting, False),
            ("POST", "/chats", self._create_chat, False),
            ("GET", "/chats/{chat}", self._get_chat, False),
            ("GET", "/chats/{chat}/messages", self._chat_messages, False),
            ("POST", "/chats/{chat}/installedApps", self._install_in_chat, False),
        ]
        for method, path, handler, per_team in api:
            op = f"{method} {path.replace('{team}', '{team-id}').replace('{channel}', '{channel-id}')}"
            op = (
                op.replace("{user}", "{user-id}")
                .replace("{chat}", "{chat-id}")
                .replace("{meeting}", "{meeting-id}")
                .replace("{group}", "{group-id}")
            )
            self.route(method, f"/v1.0{path}", op, self._api(op, handler, per_team))
        self.app.router.add_get("/_sandbox/state", self._state_endpoint)
