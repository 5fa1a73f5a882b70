"""Reconciliation's bookkeeping: which listed requests need a pull, and the cursor the periodic pass pages from.

Webhooks are hints; every ``reconcile_seconds`` a pass lists the requests Xurrent changed since its cursor
(``GET /requests?updated_at=>=<cursor>``, one call per 100 changed requests) and pulls the linked ones warroom may
not have seen in full (see ``SyncEngine.reconcile``).

**One-second stamps.** Xurrent shows ``updated_at`` to the second. A desk change made in the same second as
warroom's last read of a request leaves ``updated_at`` where that read saw it, so comparing with ``>`` never finds
it if its webhook was lost. The pass compares with ``>=``: a request listed with the very stamp warroom last read
is pulled again — unless that read was made when the stamp's second was already over (by our clock, with
``CLOCK_SKEW`` to spare), so nothing more can carry that stamp. Pulling again is harmless: the shadows drop what was
applied already, so a repeat costs reads (the request and its notes), never a write.

**What a pull saw.** A link keeps two marks in its data:
- ``updated_at`` / ``read_at``: the request's stamp at warroom's last read of the request, and when (epoch seconds,
  our clock, taken before the call) that read was made;
- ``synced_at`` / ``synced_read_at``: the stamp up to which both the request's fields *and its notes* are known.
A webhook pull reads only what its hint names (one read per change): a ``request.update`` reads the request, not
the notes, so it moves ``updated_at`` but not ``synced_at`` — adding a note moves ``updated_at`` too, and a note
whose own hint was lost would otherwise hide behind a stamp that says "seen". A notes read moves ``synced_at`` up to
the last request read before it; a pull that reads both moves both. Reconciliation compares with ``synced_at``.

**The cursor.** The pass lists from a stored cursor: the newest ``updated_at`` it has fully processed, re-read
(``>=``) on the next pass for the same one-second reason. It replaces listing from the oldest watched link (links are
watched for 7 days after their incident resolves), which on a busy desk was every request changed in up to a week,
page after page, every 5 minutes; now a pass costs one list call per 100 requests changed since the last one. On a
desk where nothing changes, a pass is one list call that returns the boundary second's requests again, and reads
nothing once a pass has read them after their second. Without a cursor (the first pass) the pass starts from the
oldest watched link's ``synced_at``. The cursor is kept in the store's timers table as a parked row (key
``CURSOR_KEY``, due in a hundred years; were it ever to fire, it would run one more pass): a durable key-value place
that needs no schema change.

**What correctness costs.** A linked request whose changes came in by webhook in the last interval is read once
more by the next pass (its request and its notes: two reads) when that pass cannot tell it is complete — its notes
were not read since (note sync on, a ``request.update`` hint), or it was read within its stamp's second. That is at
most two reads per linked request changed per pass: 10 busy major incidents cost at most 240 of Xurrent's 3,600
calls an hour (12 passes × 10 × 2), and a quiet one nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from warroom.core.jobs import RECONCILE
from warroom.store.db import Tx

#: Where the pass keeps its cursor (a timers row that is never due).
CURSOR_KEY = "itsm.reconcile.cursor"
_PARKED_SECONDS = 100 * 365 * 24 * 3600
#: Seconds our clock may be off Xurrent's: a read counts as made after its stamp's second only with this to spare.
CLOCK_SKEW = 2.0
#: The fields a pass lists: enough to tell a linked request that moved on, and an unlinked one that should escalate.
LIST_FIELDS = "updated_at,service_instance,source,status,category,impact,major_incident_status"


def stamp_seconds(stamp: object) -> float | None:
    """Xurrent's ``2026-01-15T23:00:00Z`` as epoch seconds (None if missing or unreadable)."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def synced_mark(data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The stamp up to which a link's request is known in full (fields and notes), and when it was read. Links
    stored before ``synced_at`` existed fall back to their ``updated_at``."""
    if data.get("synced_at"):
        return str(data["synced_at"]), _float(data.get("synced_read_at"))
    stamp = data.get("updated_at")
    return (str(stamp) if stamp else None), _float(data.get("read_at"))


def read_mark(data: Mapping[str, Any]) -> tuple[str | None, float | None]:
    """The stamp of a link's last read of the request, and when it was made."""
    stamp = data.get("updated_at")
    return (str(stamp) if stamp else None), _float(data.get("read_at"))


def newer_mark(a: tuple[str | None, float | None], b: tuple[str | None, float | None]) -> tuple[str | None, float | None]:
    """The later of two (stamp, read at) marks; of two with the same stamp, the one read later."""
    sa, sb = stamp_seconds(a[0]), stamp_seconds(b[0])
    if sa is None or sb is None:
        return a if sb is None else b
    if sa != sb:
        return a if sa > sb else b
    return a if (a[1] if a[1] is not None else float("-inf")) >= (b[1] if b[1] is not None else float("-inf")) else b


def needs_pull(listed: object, data: Mapping[str, Any]) -> bool:
    """Whether a linked request listed with ``updated_at`` = ``listed`` may hold something warroom has not seen."""
    stamp, read_at = synced_mark(data)
    seen, now = stamp_seconds(stamp), stamp_seconds(listed)
    if seen is None or now is None:
        return True
    if now != seen:
        return now > seen
    # the same second: settled only if that read was made once the second was over
    return read_at is None or read_at < seen + 1 + CLOCK_SKEW


def later(a: str | None, b: str | None) -> str | None:
    """The later of two stamps (either may be None)."""
    if not a or stamp_seconds(a) is None:
        return b
    if not b or stamp_seconds(b) is None:
        return a
    return a if (stamp_seconds(a) or 0) >= (stamp_seconds(b) or 0) else b


def oldest(stamps: Iterable[str | None]) -> str | None:
    known = [(stamp_seconds(s), s) for s in stamps if s and stamp_seconds(s) is not None]
    return min(known)[1] if known else None


async def load_cursor(tx: Tx) -> str | None:
    for timer in await tx.timers.all():
        if timer["key"] == CURSOR_KEY:
            cursor = (timer["payload"] or {}).get("cursor")
            return str(cursor) if cursor else None
    return None


async def save_cursor(tx: Tx, cursor: str | None) -> None:
    """Keep the newer of the stored cursor and ``cursor`` (two passes at once never move it back)."""
    newest = later(await load_cursor(tx), cursor)
    if newest:
        await tx.timers.schedule(CURSOR_KEY, RECONCILE, delay=_PARKED_SECONDS, payload={"cursor": newest})


def _float(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
