"""What every part of the Graph emulator shares: :class:`GraphCore` — its limits, the gate each call passes
(the token, the pace per team, the team), Graph's error answers, request bodies, paging — and OData
``$filter``.

- **Errors** are ``{"error": {"code", "message", "innerError": {date, request-id, client-request-id}}}``; a
  missing, foreign or expired token is 401 ``InvalidAuthenticationToken``.
- **Throttling**: at most 4 requests per second per app per team (every call under ``/teams/{id}``) and 30
  channel creations per second per tenant; beyond, 429 ``TooManyRequests`` with ``Retry-After`` in whole
  seconds. Both are attributes a test may lower (``team_rps``, ``channel_creates_per_second``);
  ``config.rate_limits=False`` turns them off. Under load Graph throttles with 503 and ``Retry-After``
  instead: ``throttle_status = 503``.
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...base import Emulator, EmulatorConfig, Handler, SlidingWindow
from ..tenant import GRAPH_AUDIENCE, TeamsTenant

_CLAUSE = re.compile(r"^\s*(\w+)\s+(eq|in)\s+(.+?)\s*$", re.IGNORECASE)
_STRING = re.compile(r"'((?:[^']|'')*)'")


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class GraphCore(Emulator):
    """The emulator's state and limits, and the plumbing its resources answer through."""

    name = "graph"

    def __init__(self, tenant: TeamsTenant, config: EmulatorConfig | None = None) -> None:
        super().__init__(config)
        self.tenant = tenant
        #: Requests per second per app per team (every call under /teams/{id}).
        self.team_rps = 4
        #: Channel creations per second per app per tenant.
        self.channel_creates_per_second = 30
        #: Graph answers throttled requests with 429, and under load sometimes with 503 — both with Retry-After.
        self.throttle_status = 429
        self.channel_limit = 1000
        self.private_channel_limit = 30
        self._team_window = SlidingWindow(self.team_rps, 1.0)
        self._create_window = SlidingWindow(self.channel_creates_per_second, 1.0)
        #: Throttled answers given (429s), per operation, for tests.
        self.throttled: dict[str, int] = {}
        self.operations: dict[str, dict[str, Any]] = {}

    @staticmethod
    def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        inner = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()),
            "request-id": str(uuid.uuid4()),
            "client-request-id": str(uuid.uuid4()),
        }
        return web.json_response(
            {"error": {"code": code, "message": message, "innerError": inner}}, status=status, headers=headers
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        code, text = (
            ("TooManyRequests", "Too many requests.")
            if self.throttle_status == 429
            else ("ServiceUnavailable", "The service is temporarily unavailable.")
        )
        return self.error(
            self.throttle_status,
            code,
            f"{text} Please retry after the time given in Retry-After.",
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def _api(self, op: str, handler: Handler, per_team: bool) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            problem = self.tenant.check_token(request.headers.get("Authorization", ""), GRAPH_AUDIENCE)
            if problem is not None:
                return self.error(401, "InvalidAuthenticationToken", problem)
            if per_team and self.config.rate_limits:
                team = request.match_info["team"]
                self._team_window.limit = self.team_rps
                wait = self._team_window.hit(team)
                if wait:
                    self.throttled[op] = self.throttled.get(op, 0) + 1
                    return self.rate_limited(wait)
            if per_team and request.match_info["team"] not in self.tenant.teams:
                return self.error(
                    404, "NotFound", f"No team found with Group Id {request.match_info['team']}"
                )
            try:
                return await handler(request)
            except _Refused as exc:
                return self.error(exc.status, exc.code, exc.message)

        return checked

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise _Refused(400, "BadRequest", "Empty Payload. JSON content expected.") from None
        if not isinstance(body, dict):
            raise _Refused(400, "BadRequest", "Invalid request body: a JSON object is expected.")
        return body

    def _page(
        self,
        request: web.Request,
        items: list[dict[str, Any]],
        *,
        top_max: int,
        top_default: int,
        context: str,
    ) -> web.Response:
        try:
            top = int(request.query.get("$top", top_default))
        except ValueError:
            raise _Refused(400, "BadRequest", "Invalid value for $top.") from None
        if top < 1 or top > top_max:
            raise _Refused(400, "BadRequest", f"$top must be between 1 and {top_max}.")
        skip = 0
        token = request.query.get("$skiptoken")
        if token:
            try:
                skip = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise _Refused(400, "BadRequest", "Invalid $skiptoken.") from None
        page = items[skip : skip + top]
        body: dict[str, Any] = {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#{context}",
            "value": page,
        }
        if skip + top < len(items):
            query = {k: v for k, v in request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(skip + top).encode()).decode()
            body["@odata.nextLink"] = f"{self.base_url}{request.path}?{urlencode(query)}"
        return web.json_response(body)

    async def _state_endpoint(self, request: web.Request) -> web.Response:
        t = self.tenant
        return web.json_response(
            json.loads(
                json.dumps(
                    {
                        "tenant": t.tenant_id,
                        "teams": list(t.teams.values()),
                        "channels": list(t.channels.values()),
                        "chats": list(t.chats.values()),
                        "meetings": list(t.meetings.values()),
                    },
                    default=lambda o: sorted(o) if isinstance(o, set) else str(o),
                )
            )
        )


# -- OData $filter ------------------------------------------------------------------------------------------
def _filter(request: web.Request, allowed: set[str]) -> list[tuple[str, list[str]]]:
    """An OData ``$filter`` of ``field eq 'v'`` / ``field in ('a','b')`` clauses joined by ``or``."""
    raw = request.query.get("$filter")
    if not raw:
        return []
    clauses = []
    for part in re.split(r"\s+or\s+(?=(?:[^']*'[^']*')*[^']*$)", raw.strip()):
        match = _CLAUSE.match(part)
        if match is None or match.group(1) not in allowed:
            raise _Refused(400, "Request_UnsupportedQuery", "Unsupported Query.")
        values = [v.replace("''", "'") for v in _STRING.findall(match.group(3))]
        if not values:
            raise _Refused(400, "Request_UnsupportedQuery", "Unsupported Query.")
        clauses.append((match.group(1), values))
    return clauses


def _matches(record: dict[str, Any], clauses: list[tuple[str, list[str]]], *, casefold: bool = False) -> bool:
    if not clauses:
        return True
    for field_name, values in clauses:
        value = str(record.get(field_name) or "")
        if casefold and value.lower() in {v.lower() for v in values}:
            return True
        if not casefold and value in values:
            return True
    return False
