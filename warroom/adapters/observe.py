"""Outside calls, observed: every HTTP attempt an adapter makes (each retry is an attempt of its own) is told to an
observer as ``observe(system, outcome)``.

Adapters know nothing of the web application, so the counter comes in from the composition root as a plain callable
(``warroom.web.metrics.Metrics.outbound_call``, which counts ``warroom_outbound_calls_total``); the default,
:func:`ignore`, counts nothing. ``system`` is a fixed name each adapter gives itself (``slack``, ``xurrent``,
``zoom``, ``webex``, ``statuspage``, ``graph``, ``bot_connector``, ``entra`` — the Microsoft token endpoint —, ``ai``,
``smtp``, ``twilio``, ``status_webhook``, ``loki``, ``elasticsearch``, ``prometheus``), never a URL, an id or a token; ``outcome`` is one of :data:`OUTCOMES`:

- ``ok``: the system did what was asked (2xx; Slack's ``"ok": true``);
- ``rate_limited``: it asked us to wait (429, Slack's ``ratelimited``, a throttle status with ``Retry-After``);
- ``transient``: it failed in a way worth trying again (5xx, 408, and the statuses an adapter retries);
- ``refused``: it said no (401, 403, 400 and other 4xx; a Slack error code) — credentials, scopes, input;
- ``not_found``: it does not know the record asked for (404; Slack's ``*_not_found``);
- ``unreachable``: no answer at all (the name did not resolve, the connection was refused or dropped, a timeout).
"""

from __future__ import annotations

from typing import Literal, Protocol, get_args

from .errors import AdapterError, NotFound, RateLimited, Transient

Outcome = Literal["ok", "rate_limited", "transient", "refused", "not_found", "unreachable"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


class CallObserver(Protocol):
    """Hears the outcome of each attempt at an outside call."""

    def __call__(self, system: str, outcome: Outcome, /) -> None: ...


def ignore(system: str, outcome: Outcome, /) -> None:
    """The observer adapters have unless they are given one: nothing is counted."""


def outcome_of_status(status: int, *, throttled: bool = False) -> Outcome:
    """The outcome of an HTTP answer; ``throttled``: the adapter reads this status (with its ``Retry-After``) as a
    rate limit, as Graph's 503."""
    if status < 400:
        return "ok"
    if status == 429 or throttled:
        return "rate_limited"
    if status == 404:
        return "not_found"
    if status == 408 or status >= 500:
        return "transient"
    return "refused"


def outcome_of_error(error: AdapterError) -> Outcome:
    """The outcome of an answer an adapter translated into its error before the choke point saw the status (a
    response hook, an OAuth client's compliance hook). Failures to reach the system are told apart by the caller,
    which sees the transport's exception."""
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, Transient):
        return "transient"
    if isinstance(error, NotFound):
        return "not_found"
    return "refused"
