"""The calendar maths: who is on call when, as the final layer merge of a :class:`~warroom.oncall.model.Schedule`.

Each layer's turns are the occurrences of a ``python-dateutil`` rrule (HOURLY, DAILY or WEEKLY with the
handoff's interval) counted on the layer's own wall clock, and its restriction windows are a DAILY rrule
on the restriction's weekdays; ``zoneinfo`` turns each wall-clock time into an instant, RFC 5545's way (see
:func:`~warroom.oncall.model.to_utc`). So a 09:00 handoff in Europe/London is at 09:00 local on both sides of a
clock change, and the turn that spans the change is an hour shorter or longer.

Where a clock change makes two handoffs fall on one instant (an hourly rotation across a spring-forward
gap), the turn between them is empty and that user's turn is skipped; the rotation's order is otherwise
kept, since a turn's user is fixed by how many handoffs lie between it and ``rotation_start`` on the wall clock.

Every function takes and returns aware date-times; results are in UTC.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, WEEKLY, rrule

from warroom.oncall.model import Layer, Schedule, Unit, to_utc

_FREQUENCY = {Unit.HOURS: HOURLY, Unit.DAYS: DAILY, Unit.WEEKS: WEEKLY}
#: Slack around a window for wall-clock lookups: more than any clock change (Samoa skipped a whole day in 2011).
_MARGIN = timedelta(days=2)
#: The smallest span date-times can tell apart: a window this long holds exactly one instant.
_TICK = timedelta(microseconds=1)
#: How far :func:`next_change` looks ahead by default.
HORIZON = timedelta(days=366)


@dataclass(frozen=True, slots=True)
class Shift:
    """``user`` is on call from ``start`` until ``end`` (UTC), by ``layer`` (its name), or by an override."""

    user: str
    start: datetime
    end: datetime
    #: The layer this comes from; None for an override.
    layer: str | None

    @property
    def is_override(self) -> bool:
        return self.layer is None


@dataclass(frozen=True, slots=True)
class NextChange:
    """Who is on call at an instant, and when and to whom that changes."""

    #: On call at the instant asked about (None: nobody).
    now: str | None
    #: When the on-call person next changes; None when nothing changes within the horizon.
    at: datetime | None
    #: Who is on call from ``at`` (None: nobody — see ``next_shift`` for who comes after the gap).
    next: str | None
    #: The first shift starting at or after ``at`` (after a gap, the next person on call, who may be ``now``).
    next_shift: Shift | None


@dataclass(frozen=True, slots=True)
class _Piece:
    """Part of one source's on-call time: one turn, explicit shift or override, cut by restrictions and the window."""

    start: datetime
    end: datetime
    user: str
    #: Which turn, shift or override this is: pieces with one key that touch are one shift.
    key: tuple[int, int]
    layer: str | None


def on_call_at(schedule: Schedule, instant: datetime) -> str | None:
    """Who is on call at ``instant``: the latest override covering it, else the highest layer with someone on
    call then, else nobody."""
    moment = _aware(instant, "instant")
    for pieces in _sources(schedule, moment, moment + _TICK):
        for piece in pieces:
            if piece.start <= moment < piece.end:
                return piece.user
    return None


def shifts(schedule: Schedule, start: datetime, end: datetime, *, clip: bool = True) -> list[Shift]:
    """The final schedule from ``start`` to ``end``: who is on call, from when until when, and by which layer
    or override, in order and without overlap; where nobody is on call there is no shift.

    A new shift starts wherever the person, the layer or the turn changes (a one-person layer yields one
    shift per turn). With ``clip=False``, shifts crossing the window's edges are given whole, so their
    start and end do not depend on the window (what calendar exports need).
    """
    lo, hi = _aware(start, "start"), _aware(end, "end")
    if lo >= hi:
        return []
    if clip:
        return _render(schedule, lo, hi)
    bound = _longest_piece(schedule)
    return [s for s in _render(schedule, lo - bound, hi + bound) if s.end > lo and s.start < hi]


def next_change(schedule: Schedule, instant: datetime, *, horizon: timedelta = HORIZON) -> NextChange:
    """Who is on call at ``instant``, and when (within ``horizon``) and to whom the on-call person changes."""
    moment = _aware(instant, "instant")
    now = on_call_at(schedule, moment)
    span = timedelta(days=1)
    while True:
        span = min(span, horizon)
        timeline = _render(schedule, moment, moment + span)
        at, following = _first_change(timeline, now, moment, moment + span)
        if at is not None:
            upcoming = [s for s in timeline if s.start >= at]
            if not upcoming and span < horizon:
                span *= 4
                continue
            nxt = upcoming[0] if upcoming else None
            return NextChange(now=now, at=at, next=following, next_shift=nxt)
        if span >= horizon:
            return NextChange(now=now, at=None, next=None, next_shift=None)
        span *= 4


def _first_change(
    timeline: Sequence[Shift], now: str | None, lo: datetime, hi: datetime
) -> tuple[datetime | None, str | None]:
    """The first instant in [lo, hi) whose on-call person is not ``now``, and that person."""
    cursor = lo
    for shift in timeline:
        if shift.start > cursor:  # a gap
            if now is not None:
                return cursor, None
            return shift.start, shift.user
        if shift.user != now:
            return shift.start, shift.user
        cursor = shift.end
    if cursor < hi and now is not None:
        return cursor, None
    return None, None


def _aware(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware date-time (with a time zone), e.g. datetime.now(UTC).")
    return moment.astimezone(UTC)


def _local(moment: datetime, tz: ZoneInfo) -> datetime:
    """The wall-clock time in ``tz`` at ``moment``, naive."""
    return moment.astimezone(tz).replace(tzinfo=None)


def _render(schedule: Schedule, lo: datetime, hi: datetime) -> list[Shift]:
    sources = _sources(schedule, lo, hi)
    starts = [[piece.start for piece in pieces] for pieces in sources]
    cuts = sorted({lo, hi, *(t for pieces in sources for p in pieces for t in (p.start, p.end))})
    merged: list[_Piece] = []
    for a, b in pairwise(cuts):
        winner = None
        for pieces, begins in zip(sources, starts, strict=True):
            k = bisect_right(begins, a) - 1
            if k >= 0 and pieces[k].end > a:
                winner = pieces[k]
                break
        if winner is None:
            continue
        last = merged[-1] if merged else None
        if last is not None and last.end == a and last.key == winner.key:
            merged[-1] = _Piece(last.start, b, last.user, last.key, last.layer)
        else:
            merged.append(_Piece(a, b, winner.user, winner.key, winner.layer))
    return [Shift(user=p.user, start=p.start, end=p.end, layer=p.layer) for p in merged]


def _sources(schedule: Schedule, lo: datetime, hi: datetime) -> list[list[_Piece]]:
    """Each source's pieces within [lo, hi), highest precedence first: overrides (the last first), then layers
    (the last first). Each source's pieces are in order and do not overlap."""
    out: list[list[_Piece]] = []
    tz = schedule.zone
    for n in range(len(schedule.overrides) - 1, -1, -1):
        override = schedule.overrides[n]
        start, end = max(to_utc(override.start, tz), lo), min(to_utc(override.end, tz), hi)
        out.append([_Piece(start, end, override.user, (-1, n), None)] if start < end else [])
    for n in range(len(schedule.layers) - 1, -1, -1):
        layer = schedule.layers[n]
        out.append(_layer_pieces(layer, n, schedule.zone_of(layer), lo, hi))
    return out


def _layer_pieces(layer: Layer, n: int, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[_Piece]:
    begin = to_utc(layer.start, tz) if layer.start is not None else None
    if layer.rotation_start is not None:
        rotation = to_utc(layer.rotation_start, tz)
        begin = rotation if begin is None else max(begin, rotation)
    lo = max(lo, begin) if begin is not None else lo
    hi = min(hi, to_utc(layer.end, tz)) if layer.end is not None else hi
    if lo >= hi:
        return []
    if layer.is_rotation:
        pieces = _turns(layer, n, tz, lo, hi)
    else:
        pieces = []
        for k, shift in enumerate(layer.shifts):
            start, end = max(to_utc(shift.start, tz), lo), min(to_utc(shift.end, tz), hi)
            if start < end:
                pieces.append(_Piece(start, end, shift.user, (n, k), layer.name))
        pieces.sort(key=lambda p: p.start)
    if layer.restrictions:
        pieces = _restrict(pieces, _windows(layer, tz, lo, hi))
    return pieces


def _turns(layer: Layer, n: int, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[_Piece]:
    """The layer's turns meeting [lo, hi), clipped to it: the rrule of handoffs on the layer's wall clock."""
    assert layer.rotation_start is not None and layer.handoff is not None
    start = layer.rotation_start
    anchor = start if start.tzinfo is None else _local(start, tz)
    turn = layer.handoff.turn
    # Start the rrule at the last handoff well before the window rather than at rotation_start, so a
    # years-old rotation costs no more than a new one; ``first`` is that handoff's number.
    first = max(0, (_local(lo, tz) - _MARGIN - turn - anchor) // turn)
    rule = rrule(
        _FREQUENCY[layer.handoff.unit],
        interval=layer.handoff.every,
        dtstart=anchor + first * turn,
        until=_local(hi, tz) + _MARGIN + turn,
    )
    handoffs: list[tuple[datetime, datetime]] = []  # (wall clock, instant)
    for local in rule:
        instant = to_utc(local, tz)
        if handoffs and instant < handoffs[-1][1]:  # in a skipped hour (or day): not before the last
            instant = handoffs[-1][1]
        handoffs.append((local, instant))
    users = layer.users
    pieces: list[_Piece] = []
    for i, ((local, begin), (_, following)) in enumerate(pairwise(handoffs)):
        finish = following
        if layer.shift_length is not None:
            finish = min(finish, to_utc(local + layer.shift_length, tz))
        begin, finish = max(begin, lo), min(finish, hi)
        if begin < finish:
            number = first + i
            pieces.append(_Piece(begin, finish, users[number % len(users)], (n, number), layer.name))
    return pieces


def _windows(layer: Layer, tz: ZoneInfo, lo: datetime, hi: datetime) -> list[tuple[datetime, datetime]]:
    """The layer's restriction windows meeting [lo, hi), as instants, merged where they touch or overlap."""
    first_day = (_local(lo, tz) - _MARGIN).date()
    last_day = (_local(hi, tz) + _MARGIN).date()
    spans: list[tuple[datetime, datetime]] = []
    for restriction in layer.restrictions:
        opens = rrule(
            DAILY,
            byweekday=restriction.days,
            dtstart=datetime.combine(first_day, restriction.start),
            until=datetime.combine(last_day, restriction.start),
        )
        for local in opens:
            start, end = to_utc(local, tz), to_utc(local + restriction.length, tz)
            if start < end:
                spans.append((start, end))
    return _union(spans)


def _union(spans: Iterable[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _restrict(pieces: Sequence[_Piece], windows: Sequence[tuple[datetime, datetime]]) -> list[_Piece]:
    """The parts of ``pieces`` inside ``windows`` (both in order, each without overlap)."""
    out: list[_Piece] = []
    w = 0
    for piece in pieces:
        while w < len(windows) and windows[w][1] <= piece.start:
            w += 1
        k = w
        while k < len(windows) and windows[k][0] < piece.end:
            start, end = max(piece.start, windows[k][0]), min(piece.end, windows[k][1])
            if start < end:
                out.append(_Piece(start, end, piece.user, piece.key, piece.layer))
            k += 1
    return out


def _longest_piece(schedule: Schedule) -> timedelta:
    """An upper bound on any one turn, shift or override's length: how far to look beyond a window so the
    shifts crossing its edges come out whole."""
    longest = timedelta(0)
    tz = schedule.zone
    for layer in schedule.layers:
        if layer.handoff is not None:
            longest = max(longest, layer.handoff.turn + _MARGIN)
        ltz = schedule.zone_of(layer)
        for shift in layer.shifts:
            longest = max(longest, to_utc(shift.end, ltz) - to_utc(shift.start, ltz))
    for override in schedule.overrides:
        longest = max(longest, to_utc(override.end, tz) - to_utc(override.start, tz))
    return longest + _TICK
