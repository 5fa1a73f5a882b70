"""Teams and their channels in the Graph emulator: creating (names, limits, private channels with their
members), listing, reading, archiving and deleting channels, and the members of a private channel.

- **Channels** ``POST /teams/{id}/channels`` {displayName, description, membershipType standard|private,
  members (private: ``aadUserConversationMember`` with ``user@odata.bind``, at least one ``owner``, at most
  200, each a member of the team)} → 201 channel {id ``19:…@thread.tacv2``, displayName, description,
  membershipType, createdDateTime, email, webUrl}. displayName is at most 50 characters, may not contain ``~ #
  % & * { } + / \\ : < > ? | ' " ,`` or ``..``, may not start with ``_`` or ``.`` nor end with ``.``. A name
  in use — case-insensitively, counting channels deleted in the last 30 days — is 400 "Channel name already
  existed, please use other name.". A team holds at most 1,000 channels and 30 private channels, deleted ones
  counted for 30 days (400 beyond). ``GET /teams/{id}/channels`` (``$filter`` on displayName or
  membershipType; deleted ones never listed), ``GET``/``DELETE /teams/{id}/channels/{id}`` (the General
  channel cannot be deleted), ``POST …/archive`` and ``…/unarchive`` → 202 with ``Location`` of the operation,
  ``GET``/``POST …/members`` (one member; 409 when already a member; private channels only take members of the
  team).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from .core import _filter, _matches, _Refused
from .members import GraphMembers

NAME_MAX = 50
NAME_FORBIDDEN = set("~#%&*{}+/\\:<>?|'\",")
NAME_TAKEN = "Channel name already existed, please use other name."
PRIVATE_MEMBERS_MAX = 200


class GraphChannels(GraphMembers):
    """``/teams/{id}/channels`` and below."""

    def _channel(self, request: web.Request) -> dict[str, Any]:
        team, channel_id = request.match_info["team"], request.match_info["channel"]
        channel = self.tenant.channels.get(channel_id)
        if channel is None or channel["teamId"] != team or channel["deleted_at"] is not None:
            raise _Refused(404, "NotFound", f"Channel {channel_id} not found in team {team}.")
        return channel

    def _channel_view(self, channel: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "id",
            "createdDateTime",
            "displayName",
            "description",
            "isArchived",
            "email",
            "webUrl",
            "membershipType",
        )
        return {
            "isFavoriteByDefault": None,
            "tenantId": self.tenant.tenant_id,
            **{k: channel[k] for k in keys},
        }

    async def _list_channels(self, request: web.Request) -> web.Response:
        team = request.match_info["team"]
        channels = [self._channel_view(c) for c in self.tenant.team_channels(team)]
        clauses = _filter(request, {"displayName", "membershipType"})
        channels = [c for c in channels if _matches(c, clauses)]
        return web.json_response(
            {
                "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team}')/channels",
                "@odata.count": len(channels),
                "value": channels,
            }
        )

    async def _get_channel(self, request: web.Request) -> web.Response:
        return web.json_response(self._channel_view(self._channel(request)))

    async def _create_channel(self, request: web.Request) -> web.Response:
        t = self.tenant
        team_id = request.match_info["team"]
        team = t.teams[team_id]
        body = await self._body(request)
        name = body.get("displayName")
        if not isinstance(name, str) or not name.strip():
            raise _Refused(400, "BadRequest", "Channel name must not be empty.")
        _check_name(name)
        membership = body.get("membershipType", "standard")
        if membership not in ("standard", "private", "shared"):
            raise _Refused(400, "BadRequest", f"Invalid value '{membership}' for membershipType.")
        if membership == "shared":
            raise _Refused(400, "BadRequest", "Shared channels are not enabled in this sandbox.")
        description = body.get("description") or ""
        if not isinstance(description, str) or len(description) > 1024:
            raise _Refused(
                400, "BadRequest", "Channel description must be a string of at most 1024 characters."
            )
        members, owners = self._members(body.get("members") or [], limit=PRIVATE_MEMBERS_MAX)
        if membership == "standard" and members:
            raise _Refused(
                400, "BadRequest", "Members can only be added when creating a private or shared channel."
            )
        if membership == "private":
            if not owners:
                raise _Refused(
                    400, "BadRequest", "A private channel needs at least one member with the owner role."
                )
            outside = sorted(m for m in members if m not in team["members"])
            if outside:
                raise _Refused(400, "BadRequest", f"User {outside[0]} is not a member of the team.")
        taken = {c["displayName"].lower() for c in t.team_channels(team_id, deleted=True)}
        if name.lower() in taken or name.lower() == "general":
            raise _Refused(400, "BadRequest", NAME_TAKEN)
        counted = t.team_channels(team_id, deleted=True)
        if len(counted) >= self.channel_limit:
            raise _Refused(
                400,
                "BadRequest",
                f"The team has reached the maximum number of channels ({self.channel_limit}), "
                "counting channels deleted in the last 30 days.",
            )
        if (
            membership == "private"
            and sum(c["membershipType"] == "private" for c in counted) >= self.private_channel_limit
        ):
            raise _Refused(
                400,
                "BadRequest",
                "The team has reached the maximum number of private channels "
                f"({self.private_channel_limit}), counting channels deleted in the last 30 days.",
            )
        if self.config.rate_limits:
            self._create_window.limit = self.channel_creates_per_second
            wait = self._create_window.hit("create")
            if wait:
                return self.rate_limited(wait)
        channel = t.new_channel(
            team_id, name, membership, description=description, members=members, owners=owners
        )
        view = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#teams('{team_id}')/channels/$entity",
            **self._channel_view(channel),
        }
        return web.json_response(view, status=201)

    async def _delete_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel["general"]:
            raise _Refused(400, "BadRequest", "The General channel cannot be deleted.")
        channel["deleted_at"] = self.tenant.clock()
        return web.Response(status=204)

    async def _archive_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        if channel["general"]:
            raise _Refused(400, "BadRequest", "The General channel cannot be archived.")
        channel["isArchived"] = True
        operation = str(uuid.uuid4())
        self.operations[operation] = {
            "id": operation,
            "operationType": "archiveChannel",
            "status": "succeeded",
        }
        location = f"/teams('{request.match_info['team']}')/operations('{operation}')"
        return web.Response(status=202, headers={"Location": location, "Content-Location": location})

    async def _unarchive_channel(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        channel["isArchived"] = False
        operation = str(uuid.uuid4())
        self.operations[operation] = {
            "id": operation,
            "operationType": "unarchiveChannel",
            "status": "succeeded",
        }
        location = f"/teams('{request.match_info['team']}')/operations('{operation}')"
        return web.Response(status=202, headers={"Location": location, "Content-Location": location})

    # -- the members of a channel ---------------------------------------------------------------------
    async def _list_channel_members(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        team = self.tenant.teams[request.match_info["team"]]
        ids = channel["members"] if channel["membershipType"] == "private" else team["members"]
        owners = channel["owners"] if channel["membershipType"] == "private" else team["owners"]
        value = [self._member_view(u, ["owner"] if u in owners else []) for u in sorted(ids)]
        return web.json_response({"@odata.count": len(value), "value": value})

    async def _add_channel_member(self, request: web.Request) -> web.Response:
        channel = self._channel(request)
        team = self.tenant.teams[request.match_info["team"]]
        body = await self._body(request)
        user = self._bound_user(body)
        roles = body.get("roles") or []
        if channel["membershipType"] == "standard":
            raise _Refused(400, "BadRequest", "Members of a standard channel are the members of its team.")
        if user not in team["members"]:
            raise _Refused(400, "BadRequest", f"User {user} is not a member of the team.")
        if user in channel["members"]:
            raise _Refused(409, "Conflict", f"User {user} is already a member of the channel.")
        channel["members"].add(user)
        if "owner" in roles:
            channel["owners"].add(user)
        return web.json_response(self._member_view(user, list(roles)), status=201)


def _check_name(name: str) -> None:
    if len(name) > NAME_MAX:
        raise _Refused(400, "BadRequest", f"Channel name cannot be longer than {NAME_MAX} characters.")
    bad = sorted({c for c in name if c in NAME_FORBIDDEN})
    if bad or ".." in name:
        shown = " ".join(bad) if bad else ".."
        raise _Refused(400, "BadRequest", f"Channel name contains characters that are not allowed: {shown}")
    if name.startswith(("_", ".")) or name.endswith("."):
        raise _Refused(
            400,
            "BadRequest",
            "Channel name cannot start with an underscore or a period, nor end with a period.",
        )
