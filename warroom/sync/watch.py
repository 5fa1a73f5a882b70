"""Which Xurrent requests warroom watches, and a short memory of the ones it does not, so that the service desk's
own traffic costs no API calls.

Xurrent's webhooks cover the whole account: every ``request.update`` on every request reaches warroom, and most of
a desk's requests are on service instances no warroom service escalates from. A delivery about a request warroom
does not link can matter only if it could turn the request into a major incident — and that needs the request's
service instance, which the thin webhook message does not carry: finding it out costs a read
(``GET /requests/:id``). :class:`RequestMemo` keeps, for ``ttl`` seconds after a read (or a reconciliation listing)
showed it, the service instance of each unlinked request; while it is remembered, a ``request.update`` about a
request on an instance that cannot escalate is answered without a read. Only a request on an escalating instance
(``services[].itsm.service_instance_id`` with a direction other than ``imr_to_itsm``) is read on every update, since
its impact or major-incident status may just have crossed the threshold; ``request.major-incident-status-changed``
is always read (a major incident is being raised, and it is rare).

What it saves against Xurrent's 3,600 calls an hour (measured by ``tests/e2e/test_sync.py::
test_updates_to_requests_of_unwatched_services_cost_one_read_per_request``, over the emulator's signed webhooks): 4
requests of a service instance warroom does not watch, created and then updated 10 times each (44 ``request.create``
and ``request.update`` deliveries), cost 44 reads before — one per delivery — and 4 now, one per request. A desk
that makes 1,000 such updates an hour to 100 requests used to spend 1,000 of the 3,600 calls (28 %) on requests
warroom then ignored; with the default 15-minute memory it spends at most 400 (one per request per quarter-hour,
11 %), and 100 (3 %) when each request's updates come within a quarter-hour.
Deliveries that cannot make a major incident at all (``request.note-added``, ``request.status-changed``, … on an
unlinked request) cost no read, as before, and are now answered 200 instead of 404 (see web/itsm_webhook.py).

What it risks: a request moved from an unwatched service instance to a watched one within ``ttl`` of the last read
is not read on that update; the next reconciliation pass (every ``reconcile_seconds``) lists it with its new
instance, corrects the memory and escalates it. The memory is per process and not persisted: losing it costs reads,
never correctness.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from warroom.settings import ServiceSettings

#: How long a request's service instance is remembered after it was seen.
MEMO_SECONDS = 900.0
#: How many requests are remembered at most (the oldest are forgotten first).
MEMO_SIZE = 20_000


def instance_of(request: Mapping[str, Any]) -> int | None:
    """The id of a request's service instance (REST shape), or None."""
    instance = request.get("service_instance")
    if isinstance(instance, Mapping) and instance.get("id") is not None:
        try:
            return int(instance["id"])
        except (TypeError, ValueError):
            return None
    return None


def escalates_from(instance_id: int | None, services: Sequence[ServiceSettings]) -> bool:
    """Whether a request on this service instance could become a major incident in warroom."""
    return instance_id is not None and any(
        svc.itsm.enabled and svc.itsm.service_instance_id == instance_id and svc.itsm.direction != "imr_to_itsm"
        for svc in services
    )


@dataclass
class RequestMemo:
    """request id → (service instance id, when seen), for ``ttl`` seconds, at most ``size`` requests."""

    ttl: float = MEMO_SECONDS
    size: int = MEMO_SIZE
    clock: Callable[[], float] = time.monotonic
    _seen: OrderedDict[int, tuple[int | None, float]] = field(default_factory=OrderedDict)

    def remember(self, request_id: int, instance_id: int | None) -> None:
        self._seen.pop(request_id, None)
        self._seen[request_id] = (instance_id, self.clock())
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def instance(self, request_id: int) -> tuple[bool, int | None]:
        """(remembered?, service instance id)."""
        entry = self._seen.get(request_id)
        if entry is None:
            return False, None
        if self.clock() - entry[1] > self.ttl:
            del self._seen[request_id]
            return False, None
        return True, entry[0]

    def forget(self, request_id: int) -> None:
        self._seen.pop(request_id, None)
