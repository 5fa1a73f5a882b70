"""Property-based tests (hypothesis) of the final layer merge over generated schedules, zones and windows.

Windows are drawn around clock changes often. References are computed here independently of
warroom.oncall.timeline: by counting a fresh rrule from the rotation's start, or by reading the wall clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, WEEKLY, rrule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warroom.oncall import Schedule, Shift, next_change, on_call_at, shifts

ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
    "Pacific/Auckland",
    "Australia/Lord_Howe",  # a half-hour clock change
    "Asia/Kolkata",
    "America/St_Johns",
]
POOL = [f"p{i}@example.com" for i in range(5)]
#: Days around which windows are often drawn: clock changes in 2027 (London/EU, New York, Auckland, Lord Howe).
CHANGES = [date(2027, 3, 14), date(2027, 3, 28), date(2027, 4, 4), date(2027, 9, 26), date(2027, 10, 3),
           date(2027, 10, 31), date(2027, 11, 7), date(2028, 2, 29)]
TICK = timedelta(microseconds=1)
SETTINGS = settings(deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow])

quarter_hours = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    """An instant in 2027, near a clock change half the time."""
    if draw(st.booleans()):
        day = draw(st.sampled_from(CHANGES))
        base = datetime.combine(day, time(0), UTC)
        return base + draw(st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=2)))
    return draw(st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2027, 12, 31))).replace(tzinfo=UTC)


@st.composite
def windows(draw: st.DrawFn, longest: timedelta = timedelta(days=6)) -> tuple[datetime, datetime]:
    lo = draw(instants())
    return lo, lo + draw(st.timedeltas(min_value=timedelta(minutes=1), max_value=longest))


@st.composite
def restrictions(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "days": draw(st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True)),
        "start": draw(quarter_hours).isoformat(),
        "end": draw(quarter_hours).isoformat(),
    }


@st.composite
def rotations(draw: st.DrawFn, name: str, restricted: bool = True) -> dict[str, Any]:
    unit = draw(st.sampled_from(["hours", "days", "weeks"]))
    every = draw(st.integers(1, {"hours": 36, "days": 3, "weeks": 2}[unit]))
    turn = {"hours": timedelta(hours=every), "days": timedelta(days=every), "weeks": timedelta(weeks=every)}[unit]
    start = draw(st.datetimes(min_value=datetime(2026, 10, 1), max_value=datetime(2027, 12, 31)))
    layer: dict[str, Any] = {
        "name": name,
        "time_zone": draw(st.sampled_from([None, *ZONES])),
        "users": draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4)),
        "rotation_start": start.replace(second=0, microsecond=0).isoformat(),
        "handoff": {"every": every, "unit": unit},
    }
    if draw(st.booleans()):
        layer["shift_length"] = draw(st.timedeltas(min_value=timedelta(minutes=15), max_value=turn))
    if restricted and draw(st.booleans()):
        layer["restrictions"] = draw(st.lists(restrictions(), min_size=1, max_size=2))
    if draw(st.integers(0, 4)) == 0:
        layer["start"] = draw(instants()).isoformat()
        layer["end"] = (datetime.fromisoformat(layer["start"]) + draw(st.timedeltas(timedelta(hours=1), timedelta(days=20)))).isoformat()
    return layer


@st.composite
def explicit_layers(draw: st.DrawFn, name: str) -> dict[str, Any]:
    start = draw(instants()) - timedelta(days=3)
    spans: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(1, 5))):
        start += draw(st.timedeltas(timedelta(0), timedelta(days=2)))
        end = start + draw(st.timedeltas(timedelta(minutes=30), timedelta(days=3)))
        spans.append({"user": draw(st.sampled_from(POOL)), "start": start.isoformat(), "end": end.isoformat()})
        start = end
    return {"name": name, "shifts": spans}


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    start = draw(instants())
    end = start + draw(st.timedeltas(timedelta(minutes=1), timedelta(days=3)))
    naive = draw(st.booleans())  # naive: the schedule's wall clock
    return {
        "user": draw(st.sampled_from(POOL)),
        "start": (start.replace(tzinfo=None) if naive else start).isoformat(),
        "end": (end.replace(tzinfo=None) if naive else end).isoformat(),
    }


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    layers = []
    for n in range(draw(st.integers(0, 3))):
        make = explicit_layers if draw(st.integers(0, 5)) == 0 else rotations
        layers.append(draw(make(f"layer {n}")))
    return Schedule.model_validate(
        {
            "name": "team",
            "time_zone": draw(st.sampled_from(ZONES)),
            "layers": layers,
            "overrides": draw(st.lists(overrides(), max_size=3)),
        }
    )


def covering(found: list[Shift], moment: datetime) -> str | None:
    users = [s.user for s in found if s.start <= moment < s.end]
    assert len(users) <= 1
    return users[0] if users else None


def cut(found: list[Shift], at: datetime) -> list[Shift]:
    out: list[Shift] = []
    for s in found:
        if s.start < at < s.end:
            out += [Shift(s.user, s.start, at, s.layer), Shift(s.user, at, s.end, s.layer)]
        else:
            out.append(s)
    return out


@SETTINGS
@given(schedules(), windows(), st.lists(st.floats(0, 1), max_size=12))
def test_every_instant_has_exactly_the_person_shifts_says_and_shifts_tile_the_window(
    schedule: Schedule, window: tuple[datetime, datetime], probes: list[float]
) -> None:
    lo, hi = window
    found = shifts(schedule, lo, hi)
    for s in found:
        assert lo <= s.start < s.end <= hi
        assert s.start.tzinfo is UTC and s.end.tzinfo is UTC
    for a, b in pairwise(found):
        assert a.end <= b.start  # in order, no overlap
    moments = [lo + (hi - lo) * p for p in probes]
    moments += [s.start for s in found] + [s.end - TICK for s in found] + [s.end for s in found if s.end < hi]
    for moment in moments:
        if lo <= moment < hi:
            assert on_call_at(schedule, moment) == covering(found, moment), moment


@SETTINGS
@given(schedules(), windows(), st.floats(0, 1))
def test_rendering_does_not_depend_on_how_the_window_is_cut(
    schedule: Schedule, window: tuple[datetime, datetime], split: float
) -> None:
    lo, hi = window
    mid = lo + (hi - lo) * split
    if not lo < mid < hi:
        return
    assert cut(shifts(schedule, lo, hi), mid) == shifts(schedule, lo, mid) + shifts(schedule, mid, hi)


@SETTINGS
@given(schedules(), windows(), st.timedeltas(timedelta(hours=-30), timedelta(hours=30)))
def test_whole_shifts_are_the_same_whatever_window_they_are_seen_through(
    schedule: Schedule, window: tuple[datetime, datetime], shift_by: timedelta
) -> None:
    lo, hi = window
    whole = shifts(schedule, lo, hi, clip=False)
    clipped = [Shift(s.user, max(s.start, lo), min(s.end, hi), s.layer) for s in whole]
    assert clipped == shifts(schedule, lo, hi)
    other = shifts(schedule, lo + shift_by, hi + shift_by, clip=False)
    for s in whole:
        if s.end > lo + shift_by and s.start < hi + shift_by:
            assert s in other


@SETTINGS
@given(schedules(), windows(), st.lists(st.floats(0, 1), max_size=8))
def test_overrides_win(schedule: Schedule, window: tuple[datetime, datetime], probes: list[float]) -> None:
    lo, hi = window
    tz = ZoneInfo(schedule.time_zone)
    spans = [
        (o.start if o.start.tzinfo else o.start.replace(tzinfo=tz), o.end if o.end.tzinfo else o.end.replace(tzinfo=tz), o.user)
        for o in schedule.overrides
    ]
    moments = [lo + (hi - lo) * p for p in probes] + [start for start, _, _ in spans] + [end - TICK for _, end, _ in spans]
    for moment in moments:
        winners = [user for start, end, user in spans if start <= moment < end]
        if winners:
            assert on_call_at(schedule, moment) == winners[-1]


@SETTINGS
@given(
    st.sampled_from(["Europe/London", "America/New_York"]),
    quarter_hours,
    st.sampled_from([("days", 1), ("days", 2), ("weeks", 1)]),
    st.sampled_from(CHANGES[:7]),
    st.integers(1, 60),
)
def test_dst_changes_keep_local_handoff_times(
    zone_name: str, at: time, handoff: tuple[str, int], change: date, days_before: int
) -> None:
    tz = ZoneInfo(zone_name)
    first = datetime.combine(change - timedelta(days=days_before), at)
    schedule = Schedule.model_validate(
        {
            "name": "team",
            "layers": [
                {
                    "name": "primary",
                    "time_zone": zone_name,
                    "users": POOL[:3],
                    "rotation_start": first.isoformat(),
                    "handoff": {"every": handoff[1], "unit": handoff[0]},
                }
            ],
        }
    )
    lo = datetime.combine(change - timedelta(days=10), time(0), UTC)
    found = shifts(schedule, lo, lo + timedelta(days=20))
    step = timedelta(days=handoff[1] * (7 if handoff[0] == "weeks" else 1))
    for s in found:
        if s.start == lo:
            continue
        day = s.start.astimezone(tz).date()
        wall = datetime.combine(day, at)
        # at ``at`` local; where that time does not exist that day, RFC 5545's reading (the offset from before
        # the change); where it happens twice, the first
        assert s.start == wall.replace(tzinfo=tz, fold=0).astimezone(UTC)
        assert (day - first.date()) % step == timedelta(0)
        assert s.user == POOL[(day - first.date()) // step % 3]
    # no handoff is missed: consecutive shifts meet
    for a, b in pairwise(found):
        assert a.end == b.start


@SETTINGS
@given(
    st.sampled_from(ZONES),
    st.lists(st.sampled_from(POOL), min_size=1, max_size=4),
    st.sampled_from([(HOURLY, "hours", 1), (HOURLY, "hours", 5), (DAILY, "days", 1), (DAILY, "days", 3), (WEEKLY, "weeks", 1)]),
    st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2027, 12, 1)),
    st.timedeltas(timedelta(0), timedelta(days=30)),
)
def test_a_rotation_is_the_user_whose_turn_began_last(
    zone_name: str, users: list[str], rule: tuple[int, str, int], anchor: datetime, after: timedelta
) -> None:
    """Reference: count a fresh rrule from rotation_start; the turn is the last handoff at or before the instant."""
    frequency, unit, every = rule
    tz = ZoneInfo(zone_name)
    anchor = anchor.replace(second=0, microsecond=0)
    schedule = Schedule.model_validate(
        {
            "name": "team",
            "time_zone": zone_name,
            "layers": [{"name": "l", "users": users, "rotation_start": anchor.isoformat(), "handoff": {"every": every, "unit": unit}}],
        }
    )
    moment = anchor.replace(tzinfo=tz).astimezone(UTC) + after
    began = [
        k
        for k, wall in enumerate(rrule(frequency, interval=every, dtstart=anchor, until=anchor + after + timedelta(days=2)))
        if wall.replace(tzinfo=tz).astimezone(UTC) <= moment
    ]
    assert on_call_at(schedule, moment) == users[max(began) % len(users)]


def _in_window(moment: datetime, tz: ZoneInfo, rule: dict[str, Any]) -> bool:
    start, end = time.fromisoformat(rule["start"]), time.fromisoformat(rule["end"])
    length = (datetime.combine(date.min, end) - datetime.combine(date.min, start)) % timedelta(days=1) or timedelta(days=1)
    today = moment.astimezone(tz).date()
    for opened in (today, today - timedelta(days=1), today - timedelta(days=2)):
        wall = datetime.combine(opened, start)
        if wall.weekday() in rule["days"]:
            a = wall.replace(tzinfo=tz).astimezone(UTC)
            b = (wall + length).replace(tzinfo=tz).astimezone(UTC)
            if a <= moment < b:
                return True
    return False


@SETTINGS
@given(
    st.sampled_from(ZONES),
    st.lists(restrictions(), min_size=1, max_size=3),
    windows(timedelta(days=3)),
    st.lists(st.floats(0, 1), min_size=1, max_size=12),
)
def test_restrictions_leave_gaps_that_lower_layers_fill(
    zone_name: str, rules: list[dict[str, Any]], window: tuple[datetime, datetime], probes: list[float]
) -> None:
    tz = ZoneInfo(zone_name)
    base = {"name": "base", "users": ["base@example.com"], "rotation_start": "2026-01-01T00:00", "handoff": "weekly"}
    top = {"name": "top", "users": ["top@example.com"], "rotation_start": "2026-01-01T00:00", "handoff": "daily", "restrictions": rules}
    with_base = Schedule.model_validate({"name": "t", "time_zone": zone_name, "layers": [base, top]})
    alone = Schedule.model_validate({"name": "t", "time_zone": zone_name, "layers": [top]})
    lo, hi = window
    for p in probes:
        moment = lo + (hi - lo) * p
        inside = any(_in_window(moment, tz, rule) for rule in rules)
        assert on_call_at(with_base, moment) == ("top@example.com" if inside else "base@example.com")
        assert on_call_at(alone, moment) == ("top@example.com" if inside else None)
    assert all(s.user == "top@example.com" for s in shifts(alone, lo, hi))


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), instants(), st.lists(st.floats(0, 1, exclude_max=True), max_size=6))
def test_next_change_agrees_with_the_timeline(schedule: Schedule, moment: datetime, probes: list[float]) -> None:
    change = next_change(schedule, moment, horizon=timedelta(days=20))
    assert change.now == on_call_at(schedule, moment)
    until = change.at or moment + timedelta(days=20)
    for p in probes:  # the same person all the way until the change
        assert on_call_at(schedule, moment + min((until - moment) * p, until - moment - TICK)) == change.now
    if change.at is None:
        return
    assert change.at > moment
    assert on_call_at(schedule, change.at) == change.next != change.now
    if change.next_shift is not None:
        assert change.next_shift.start >= change.at
        assert on_call_at(schedule, change.next_shift.start) == change.next_shift.user
