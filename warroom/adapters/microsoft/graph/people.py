"""People in the directory through Graph: users by email (:meth:`GraphPeople.lookup_users`) or by object id or
sign-in name (:meth:`GraphPeople.user_id`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from warroom.adapters.errors import Permanent

from .client import SYSTEM, GraphClient, _q, odata_string

#: Graph's $filter takes at most 15 values in one ``in`` clause.
FILTER_VALUES_MAX = 15


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

    async def user_id(self, key: str) -> str:
        """The object id of a user given by object id or user principal name."""
        record = await self.api.json("GET", f"users/{_q(key)}", params={"$select": "id"})
        if not isinstance(record, dict) or not record.get("id"):
            raise Permanent(SYSTEM, f"GET /users/{key} answered without an id")
        return str(record["id"])


def _user(record: dict[str, Any], email: str) -> TeamsUser:
    return TeamsUser(id=str(record["id"]), email=email, name=str(record.get("displayName") or email))
