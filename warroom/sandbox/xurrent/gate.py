"""The gate in front of every ``/v1`` call: the bearer token, the account header, and the rate limits (an hourly
window and a burst limit per client, with the x-ratelimit-* headers on every answer); then the handler, whose
:class:`~.records.ValidationFailed` and :class:`~.paging._BadParameter` become 422 and 400 answers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from aiohttp import web

from ..base import Emulator, Handler, SlidingWindow
from .paging import _BadParameter
from .records import ValidationFailed

DOCS_RATE_LIMIT = "https://developer.xurrent.com/v1/#rate-limiting"


class XurrentGate(Emulator):
    """Authentication, account and rate limits for the API routes (set up by :class:`~.emulator.XurrentEmulator`)."""

    account: str
    hourly_limit: int
    burst_limit: int
    burst_window: float
    _tokens: dict[str, tuple[str, float]]
    _hour: dict[str, tuple[float, int]]
    _burst: SlidingWindow

    def _api(self, handler: Handler) -> Handler:
        async def gate(request: web.Request) -> web.StreamResponse:
            client = self._client_for(request)
            key = f"client:{client}" if client else f"ip:{request.remote}"
            retry_after, headers = self._rate(key)
            if retry_after is not None:
                return self._too_many(retry_after, headers)
            if client is None:
                response: web.StreamResponse = self._message(401, "Unauthorized")
            else:
                account = request.headers.get("X-Xurrent-Account") or request.headers.get("X-4me-Account")
                if not account:
                    response = self._message(403, "Forbidden: name the account in the X-Xurrent-Account header")
                elif account != self.account:
                    response = self._message(403, f"Forbidden: no access to account '{account}'")
                else:
                    try:
                        response = await handler(request)
                    except ValidationFailed as exc:
                        response = web.json_response({"message": "Validation Failed", "errors": exc.errors}, status=422)
                    except _BadParameter as exc:
                        response = self._message(400, str(exc))
            response.headers.update(headers)
            return response

        return gate

    def _client_for(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        if not auth.lower().startswith("bearer "):
            return None
        entry = self._tokens.get(auth[7:].strip())
        if entry is None or time.time() >= entry[1]:
            return None
        return entry[0]

    def _rate(self, key: str) -> tuple[float | None, dict[str, str]]:
        """Count one call; return (seconds to wait if over a limit, the x-ratelimit headers)."""
        now = time.time()
        start, count = self._hour.get(key, (now, 0))
        if now - start >= 3600:
            start, count = now, 0
        reset = int(start + 3600)
        limited = self.config.rate_limits
        if limited and count >= self.hourly_limit:
            headers = self._limit_headers(0, reset)
            return max(1.0, reset - now), headers
        if limited:
            self._burst.limit, self._burst.window = self.burst_limit, self.burst_window
            wait = self._burst.hit(key)
            if wait > 0:
                return wait, self._limit_headers(self.hourly_limit - count, reset)
        count += 1
        self._hour[key] = (start, count)
        return None, self._limit_headers(max(0, self.hourly_limit - count), reset)

    def _limit_headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.hourly_limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-reset": str(reset),
        }

    def _too_many(self, retry_after: float, headers: Mapping[str, str]) -> web.Response:
        return web.json_response(
            {"message": "Too Many Requests", "documentation_url": DOCS_RATE_LIMIT},
            status=429,
            headers={**headers, "Retry-After": str(max(0, math.ceil(retry_after)))},
        )

    def rate_limited(self, retry_after: float) -> web.Response:
        return self._too_many(retry_after, self._limit_headers(0, int(time.time() + retry_after)))

    @staticmethod
    def _message(status: int, message: str) -> web.Response:
        return web.json_response({"message": message}, status=status)

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._message(404, "Not Found")
