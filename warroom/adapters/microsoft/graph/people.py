"""People in the directory through Graph: users by email (:meth:`GraphPeople.lookup_users`) or by object id or
sign-in name (:meth:`GraphPeople.user`, :meth:`GraphPeople.user_id`), the users of an Entra group
(:meth:`GraphPeople.group_members`, escalation steps' ``teams_groups``), and the Teams app installed in a person's
personal scope (:meth:`GraphPeople.install_app_for_user`, so that the bot can open a 1:1 chat with them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Conflict, Permanent

from .client import SYSTEM, GraphClient, _q, odata_string

#: Graph's $filter takes at most 15 values in one ``in`` clause.
FILTER_VALUES_MAX = 15
#: The largest page of group members Graph gives.
MEMBERS_PAGE = 999
_USER_TYPE = "#microsoft.graph.user"


@dataclass(frozen=True, slots=True)
class TeamsUser:
    id: str
    email: str
    name: str


class GraphPeople(GraphClient):
    """Directory users (``/users``)."""

    async def lookup_users(self, emails: Sequence[str]) -> dict[str, TeamsUser]:
        """Email (lower-case) → the directory user, for the emails that belong to someone, matched on ``mail`` or on
        the user principal name — one call per 7 emails (Graph takes at most 15 values in a filter)."""
        wanted = list(dict.fromkeys(e.strip().lower() for e in emails if e.strip()))
        found: dict[str, TeamsUser] = {}
        size = FILTER_VALUES_MAX // 2
        for start in range(0, len(wanted), size):
            batch = wanted[start : start + size]
            values = ", ".join(odata_string(e) for e in batch)
            query = {
                "$filter": f"mail in ({values}) or userPrincipalName in ({values})",
                "$count": "true",
                "$select": "id,displayName,mail,userPrincipalName",
            }
            async for record in self._pages("users", query, headers={"ConsistencyLevel": "eventual"}):
                for key in ("mail", "userPrincipalName"):
                    email = str(record.get(key) or "").lower()
                    if email in batch and email not in found:
                        found[email] = _user(record, email)
        return found

    async def user(self, key: str) -> TeamsUser:
        """A user given by object id or user principal name (``GET /users/{key}``); NotFound when the directory has
        no such user."""
        record = await self.api.json(
            "GET", f"users/{_q(key)}", params={"$select": "id,displayName,mail,userPrincipalName"}
        )
        if not isinstance(record, dict) or not record.get("id"):
            raise Permanent(SYSTEM, f"GET /users/{key} answered without an id")
        return _user(record, str(record.get("mail") or record.get("userPrincipalName") or key).lower())

    async def user_id(self, key: str) -> str:
        """The object id of a user given by object id or user principal name."""
        record = await self.api.json("GET", f"users/{_q(key)}", params={"$select": "id"})
        if not isinstance(record, dict) or not record.get("id"):
            raise Permanent(SYSTEM, f"GET /users/{key} answered without an id")
        return str(record["id"])


    async def group_members(self, group_id: str) -> list[TeamsUser]:
        """The users among an Entra group's direct members (``GET /groups/{id}/members``, every page), each by
        ``mail`` or else user principal name; nested groups, devices and service principals are left out.
        NotFound when there is no such group (needs GroupMember.Read.All)."""
        query = {"$select": "id,displayName,mail,userPrincipalName", "$top": str(MEMBERS_PAGE)}
        found: dict[str, TeamsUser] = {}
        async for record in self._pages(f"groups/{_q(group_id)}/members", query):
            if record.get("@odata.type") != _USER_TYPE or not record.get("id"):
                continue
            email = str(record.get("mail") or record.get("userPrincipalName") or "").strip().lower()
            if "@" in email:
                found.setdefault(email, _user(record, email))
        return list(found.values())

    async def install_app_for_user(self, user_id: str, catalog_app_id: str) -> None:
        """Install the Teams app (its id in the organisation's catalog) in a person's personal scope
        (``POST /users/{id}/teamwork/installedApps``; needs TeamsAppInstallation.ReadWriteForUser.All); installed
        already (409) is fine."""
        body = {
            "teamsApp@odata.bind": f"https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/{catalog_app_id}"
        }
        try:
            await self.api.json(
                "POST", f"users/{_q(user_id)}/teamwork/installedApps", json=body, idempotent=True
            )
        except Conflict:
            return


def _user(record: dict[str, Any], email: str) -> TeamsUser:
    return TeamsUser(id=str(record["id"]), email=email, name=str(record.get("displayName") or email))
