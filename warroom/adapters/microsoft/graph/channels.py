"""War-room channels through Graph: their names (:func:`channel_display_name`), creating one never twice
(:meth:`GraphChannels.open_channel`), looking them up, their members, archiving and deleting them.

- **Channel names**: at most 50 characters, without ``~ # % & * { } + / \\ : < > ? | ' " ,`` or ``..``, not
  starting with ``_``/``.`` nor ending with ``.``; :func:`channel_display_name` shortens the title at a word
  boundary (the incident number always stays). A name in use — Graph's 400 "Channel name already existed",
  which also covers channels deleted in the last 30 days — is :class:`~warroom.adapters.errors.Conflict`;
  :meth:`GraphChannels.open_channel` then adopts the channel if its description carries the caller's marker
  (ours, from an earlier attempt), else tries ``name (2)``, ``name (3)``, ….
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Conflict, NotFound, Permanent, RateLimited, Transient
from warroom.adapters.http import backoff

from .client import SYSTEM, GraphClient, _q, _values, odata_string

NAME_MAX = 50
NAME_FORBIDDEN = re.compile(r"[~#%&*{}+/\\:<>?|'\",]")
#: Members a private channel may be created with (more are added one by one).
PRIVATE_MEMBERS_AT_CREATION = 200
SUFFIX_ATTEMPTS = 20


# -- names ----------------------------------------------------------------------------------------------
def clean_channel_name(text: str) -> str:
    """Text made fit for a Teams channel name (forbidden characters become spaces; not yet shortened)."""
    cleaned = NAME_FORBIDDEN.sub(" ", text.replace("\n", " ").replace("\t", " "))
    while ".." in cleaned:
        cleaned = cleaned.replace("..", ".")
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()
    return cleaned.lstrip("_.").rstrip(".").strip()


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary with an ellipsis when it is cut."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    cut = text[: limit - 1]
    if " " in cut and cut.rsplit(" ", 1)[0].strip() and len(cut.rsplit(" ", 1)[0]) >= limit // 2:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" -.") + "…"


def channel_display_name(pattern: str, *, number: int, title: str, service: str, priority: str | None) -> str:
    """A war-room channel name from the service's pattern: Teams' alphabet, at most 50 characters, the title
    shortened first so that the incident number is never cut off."""
    from warroom.core.model import slugify

    values = {"number": number, "service": service, "priority": priority or "", "slug": slugify(title)}
    fixed = clean_channel_name(pattern.format(title="\x00", **{**values, "slug": "\x00"}))
    room = NAME_MAX - len(fixed.replace("\x00", ""))
    title_part = shorten(clean_channel_name(title), max(room, 1))
    slug_part = shorten(slugify(title), max(room, 1))
    name = clean_channel_name(pattern.format(**{**values, "title": title_part, "slug": slug_part}))
    return shorten(name, NAME_MAX) or f"INC-{number}"


def with_suffix(name: str, n: int) -> str:
    """The n-th alternative of a taken name: ``name (n)``, within 50 characters."""
    if n <= 1:
        return name
    suffix = f" ({n})"
    return shorten(name, NAME_MAX - len(suffix)) + suffix


# -- channels -----------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class TeamsChannel:
    id: str
    team_id: str
    name: str
    url: str | None
    membership: str = "standard"
    description: str = ""


class GraphChannels(GraphClient):
    """The channels of a team, and who is in them (``/teams/{id}/channels``, ``/teams/{id}/members``)."""

    async def create_channel(
        self,
        team_id: str,
        name: str,
        *,
        description: str = "",
        private: bool = False,
        owner_ids: Sequence[str] = (),
        member_ids: Sequence[str] = (),
    ) -> TeamsChannel:
        """Create a channel. Raises Conflict when the name is taken (also by a channel deleted in the last 30
        days). A private channel is created with its owners and members (at most 200 in all)."""
        body: dict[str, Any] = {
            "displayName": name,
            "description": description,
            "membershipType": "private" if private else "standard",
        }
        if private:
            people = [*dict.fromkeys(owner_ids)] + [
                m for m in dict.fromkeys(member_ids) if m not in owner_ids
            ]
            body["members"] = [
                {
                    "@odata.type": "#microsoft.graph.aadUserConversationMember",
                    "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
                    "roles": ["owner"] if user_id in owner_ids else [],
                }
                for user_id in people[:PRIVATE_MEMBERS_AT_CREATION]
            ]
        record = await self._team_call(team_id, "POST", f"teams/{_q(team_id)}/channels", json=body)
        return _channel(record, team_id)

    async def open_channel(
        self,
        team_id: str,
        name: str,
        *,
        marker: str,
        description: str,
        private: bool = False,
        owner_ids: Sequence[str] = (),
        member_ids: Sequence[str] = (),
        look_first: bool = False,
    ) -> TeamsChannel:
        """Create the war-room channel, never twice: a taken name is adopted when the channel's description
        carries ``marker`` (an earlier attempt of ours), otherwise ``name (2)``, ``name (3)``… is tried. After a
        failure that may have created it (a 5xx, a timeout), the channel is looked up before creating again; with
        ``look_first`` (a retried job) it is looked up before the first try too."""
        for n in range(1, SUFFIX_ATTEMPTS + 1):
            candidate = with_suffix(name, n)
            if look_first and (found := await self._ours(team_id, candidate, marker)) is not None:
                return found
            attempt = 0
            while True:
                attempt += 1
                try:
                    return await self.create_channel(
                        team_id,
                        candidate,
                        description=description,
                        private=private,
                        owner_ids=owner_ids,
                        member_ids=member_ids,
                    )
                except Conflict:
                    found = await self._ours(team_id, candidate, marker)
                    if found is not None:
                        return found
                    break  # someone else's: next suffix
                except RateLimited:
                    raise
                except Transient:
                    found = await self._ours(team_id, candidate, marker)
                    if found is not None:
                        return found
                    if attempt > self.max_retries:
                        raise
                    await asyncio.sleep(backoff(attempt))
        raise Conflict(
            SYSTEM,
            f"every channel name from '{name}' to '{with_suffix(name, SUFFIX_ATTEMPTS)}' is taken "
            "in the team: change the service's teams.name_pattern",
        )

    async def _ours(self, team_id: str, name: str, marker: str) -> TeamsChannel | None:
        found = await self.find_channel(team_id, name)
        return found if found is not None and marker in found.description else None

    async def find_channel(self, team_id: str, name: str) -> TeamsChannel | None:
        """The channel of that name (case-insensitively, as Teams compares them), if the team has one."""
        answer = await self._team_call(
            team_id,
            "GET",
            f"teams/{_q(team_id)}/channels",
            params={"$filter": f"displayName eq {odata_string(name)}"},
        )
        for record in _values(answer):
            if str(record.get("displayName", "")).lower() == name.lower():
                return _channel(record, team_id)
        return None

    async def list_channels(self, team_id: str) -> list[TeamsChannel]:
        answer = await self._team_call(team_id, "GET", f"teams/{_q(team_id)}/channels")
        return [_channel(r, team_id) for r in _values(answer)]

    async def team_member_ids(self, team_id: str) -> set[str]:
        """Object ids of the team's members."""
        ids: set[str] = set()
        async for record in self._pages(f"teams/{_q(team_id)}/members", {"$top": "999"}, team_id=team_id):
            if record.get("userId"):
                ids.add(str(record["userId"]))
        return ids

    async def add_channel_members(
        self, team_id: str, channel_id: str, user_ids: Sequence[str]
    ) -> dict[str, str]:
        """Add people to a private channel one by one; returns user id → why not, for those who could not be added
        (someone already a member is not a failure)."""
        refused: dict[str, str] = {}
        for user_id in dict.fromkeys(user_ids):
            body = {
                "@odata.type": "#microsoft.graph.aadUserConversationMember",
                "roles": [],
                "user@odata.bind": f"https://graph.microsoft.com/v1.0/users('{user_id}')",
            }
            try:
                await self._team_call(
                    team_id, "POST", f"teams/{_q(team_id)}/channels/{_q(channel_id)}/members", json=body
                )
            except Conflict:
                continue  # already a member
            except Permanent as exc:
                refused[user_id] = exc.reason
        return refused

    async def archive_channel(self, team_id: str, channel_id: str) -> None:
        await self._team_call(
            team_id,
            "POST",
            f"teams/{_q(team_id)}/channels/{_q(channel_id)}/archive",
            json={},
            idempotent=True,
        )

    async def unarchive_channel(self, team_id: str, channel_id: str) -> None:
        await self._team_call(
            team_id,
            "POST",
            f"teams/{_q(team_id)}/channels/{_q(channel_id)}/unarchive",
            json={},
            idempotent=True,
        )

    async def delete_channel(self, team_id: str, channel_id: str) -> None:
        try:
            await self._team_call(team_id, "DELETE", f"teams/{_q(team_id)}/channels/{_q(channel_id)}")
        except NotFound:
            return  # deleted already


def _channel(record: Any, team_id: str) -> TeamsChannel:
    if not isinstance(record, dict) or not record.get("id"):
        raise Permanent(SYSTEM, "Graph answered with a channel that has no id")
    return TeamsChannel(
        id=str(record["id"]),
        team_id=team_id,
        name=str(record.get("displayName") or ""),
        url=record.get("webUrl") or None,
        membership=str(record.get("membershipType") or "standard"),
        description=str(record.get("description") or ""),
    )
