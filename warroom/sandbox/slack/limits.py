"""Slack's rate limits in the sandbox: a token bucket per method per workspace sized by the method's tier, and
chat.postMessage's "special" tier, a limit per channel. Over a limit the answer is HTTP 429 with ``Retry-After``
and ``{"ok": false, "error": "ratelimited"}``; ``config.rate_limits`` turns both off.
"""

from __future__ import annotations

import math
import time

from aiohttp import web

from ..base import Emulator, EmulatorConfig

#: Requests per minute for each of Slack's tiers.
TIER_LIMITS: dict[int, float] = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}

#: The tier of each method (Slack's method reference). chat.postMessage is absent: it is limited per channel.
METHOD_TIERS: dict[str, int] = {
    "auth.test": 4,  # "special": generous, treated as Tier 4
    "apps.connections.open": 1,
    "conversations.create": 2,
    "conversations.list": 2,
    "conversations.info": 3,
    "conversations.invite": 3,
    "conversations.members": 4,
    "conversations.setTopic": 2,
    "conversations.setPurpose": 2,
    "conversations.archive": 2,
    "conversations.unarchive": 2,
    "conversations.history": 3,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "pins.add": 2,
    "pins.list": 2,
    "bookmarks.add": 2,
    "bookmarks.list": 3,
    "users.lookupByEmail": 3,
    "users.info": 4,
    "usergroups.users.list": 2,
    "views.open": 4,
    "views.update": 4,
}


class _Ratelimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class TokenBucket:
    """Per-key token buckets: ``take`` spends one token and returns 0, or returns the seconds until one is there."""

    def __init__(self) -> None:
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, capacity: float, per_second: float, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        tokens, last = self._state.get(key, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * per_second)
        if tokens >= 1.0:
            self._state[key] = (tokens - 1.0, now)
            return 0.0
        self._state[key] = (tokens, now)
        return (1.0 - tokens) / per_second


class SlackLimits(Emulator):
    """The tiers, the per-channel posting limit and their buckets (plain attributes a test may change)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        super().__init__(config)
        self.tier_limits: dict[int, float] = dict(TIER_LIMITS)
        self.method_tiers: dict[str, int] = dict(METHOD_TIERS)
        self.burst = 0.2
        self.post_per_second = 1.0
        self.post_burst = 4
        self._buckets = TokenBucket()

    def tier_capacity(self, tier: int) -> int:
        """How many calls of a method in this tier go through back to back."""
        limit = self.tier_limits[tier]
        return int(limit + max(1.0, math.ceil(limit * self.burst)))

    def rate_limited(self, retry_after: float) -> web.Response:
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(max(1, math.ceil(retry_after)))},
        )

    def _throttle_method(self, method: str) -> None:
        tier = self.method_tiers.get(method)
        if not self.config.rate_limits or tier is None:
            return
        limit = self.tier_limits[tier]
        wait = self._buckets.take(f"method:{method}", self.tier_capacity(tier), limit / 60.0)
        if wait > 0:
            raise _Ratelimited(wait)

    def _throttle_channel(self, channel_id: str) -> None:
        if not self.config.rate_limits:
            return
        wait = self._buckets.take(f"post:{channel_id}", float(self.post_burst), self.post_per_second)
        if wait > 0:
            raise _Ratelimited(wait)
