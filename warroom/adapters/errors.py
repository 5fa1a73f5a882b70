"""The errors every adapter raises. Workers decide retry or dead-letter from these alone.

Third-party exceptions (httpx, slack_sdk) are translated where they enter, never passed on.
"""

from __future__ import annotations


class AdapterError(Exception):
    """Something an outside system did not do. ``reason`` is a sentence fit to show people."""

    def __init__(self, system: str, reason: str) -> None:
        super().__init__(f"{system}: {reason}")
        self.system = system
        self.reason = reason


class Transient(AdapterError):
    """Worth trying again later: 5xx, timeouts, connection errors."""


class RateLimited(Transient):
    """The system asked us to wait ``retry_after`` seconds."""

    def __init__(self, system: str, reason: str, retry_after: float) -> None:
        super().__init__(system, reason)
        self.retry_after = retry_after


class Permanent(AdapterError):
    """Trying again will not help until something changes (4xx validation, missing scope, not found)."""


class NotFound(Permanent):
    """The record asked for does not exist."""


class Conflict(Permanent):
    """The record to create exists already (e.g. Slack's ``name_taken``)."""
