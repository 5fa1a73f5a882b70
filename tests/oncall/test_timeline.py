"""The final layer merge on worked examples: rotations, clock changes, restrictions, overrides, what comes next."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from warroom.oncall import Layer, Override, Schedule, Shift, next_change, on_call_at, shifts

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ANA, BO, CY, DEE, ED, ZED = (f"{n}@example.com" for n in ("ana", "bo", "cy", "dee", "ed", "zed"))


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(tz: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=tz)


def rotation(name: str = "primary", **kw: object) -> dict[str, object]:
    layer: dict[str, object] = {
        "name": name,
        "users": [ANA, BO, CY],
        "rotation_start": "2026-12-07T09:00",
        "handoff": "weekly",
    }
    layer.update(kw)
    return layer


def schedule(*layers: Mapping[str, object], time_zone: str = "Europe/London", overrides: object = ()) -> Schedule:
    return Schedule.model_validate(
        {"name": "payments", "time_zone": time_zone, "layers": list(layers), "overrides": list(overrides)}  # type: ignore[call-overload]
    )


def test_a_weekly_rotation_hands_off_at_its_local_time_in_turn() -> None:
    s = schedule(rotation())
    assert on_call_at(s, utc(2026, 12, 7, 8, 59)) is None  # before the rotation starts
    assert on_call_at(s, utc(2026, 12, 7, 9)) == ANA
    assert on_call_at(s, utc(2026, 12, 14, 8, 59, 59)) == ANA
    assert on_call_at(s, utc(2026, 12, 14, 9)) == BO
    assert on_call_at(s, utc(2026, 12, 21, 9)) == CY
    assert on_call_at(s, utc(2026, 12, 28, 9)) == ANA
    assert shifts(s, utc(2026, 12, 10), utc(2026, 12, 17)) == [
        Shift(ANA, utc(2026, 12, 10), utc(2026, 12, 14, 9), "primary"),
        Shift(BO, utc(2026, 12, 14, 9), utc(2026, 12, 17), "primary"),
    ]


@pytest.mark.parametrize(
    ("tz", "spring", "autumn"),
    [(LONDON, date(2027, 3, 28), date(2027, 10, 31)), (NEW_YORK, date(2027, 3, 14), date(2027, 11, 7))],
)
def test_daily_handoffs_stay_at_nine_local_across_both_clock_changes(tz: ZoneInfo, spring: date, autumn: date) -> None:
    s = schedule(rotation(handoff="daily", rotation_start="2027-01-04T09:00", time_zone=tz.key))
    for change, turn_hours in ((spring, 23), (autumn, 25)):
        lo = datetime.combine(change - timedelta(days=3), time(12), tz)
        found = shifts(s, lo, lo + timedelta(days=6))
        assert [x.start.astimezone(tz).time() for x in found[1:]] == [time(9)] * 6
        spanning = next(x for x in found if x.start.astimezone(tz).date() == change - timedelta(days=1))
        assert spanning.end - spanning.start == timedelta(hours=turn_hours)
        assert all(x.end - x.start == timedelta(hours=24) for x in found[1:-1] if x is not spanning)


@pytest.mark.parametrize("tz_name", ["Asia/Tokyo", "Pacific/Auckland", "Asia/Kolkata"])
def test_midnight_handoffs_in_zones_ahead_of_utc_fall_on_local_midnight(tz_name: str) -> None:
    tz = ZoneInfo(tz_name)
    s = schedule(rotation(handoff="daily", rotation_start="2027-01-01T00:00", time_zone=tz_name, users=[ANA, BO]))
    found = shifts(s, utc(2027, 3, 1), utc(2027, 11, 1))  # spans Auckland's April and September changes
    assert all(x.start.astimezone(tz).time() == time(0) for x in found[1:])
    first_of_june = datetime(2027, 6, 1, tzinfo=tz)  # day 151 after 1 January: an odd turn
    assert on_call_at(s, first_of_june) == BO
    assert on_call_at(s, first_of_june - timedelta(microseconds=1)) == ANA


def test_a_handoff_in_the_spring_forward_gap_happens_an_hour_later_on_that_day_only() -> None:
    s = schedule(rotation(handoff="daily", rotation_start="2027-03-20T01:30", users=[ANA, BO]))
    starts = [x.start for x in shifts(s, utc(2027, 3, 26, 12), utc(2027, 3, 30))]
    # 01:30 GMT; 01:30 does not exist on the 28th: RFC 5545 reads it with the old offset, 01:30 UTC (02:30 BST);
    # then 01:30 BST (00:30 UTC)
    assert starts[1:] == [utc(2027, 3, 27, 1, 30), utc(2027, 3, 28, 1, 30), utc(2027, 3, 29, 0, 30)]


def test_a_handoff_at_a_time_that_happens_twice_is_at_the_first() -> None:
    s = schedule(rotation(handoff="daily", rotation_start="2027-10-25T01:30", users=[ANA, BO]))
    starts = [x.start for x in shifts(s, utc(2027, 10, 30, 12), utc(2027, 11, 1, 12))]
    assert starts[1:] == [utc(2027, 10, 31, 0, 30), utc(2027, 11, 1, 1, 30)]  # 01:30 BST, then 01:30 GMT


def test_an_hourly_rotation_skips_the_hour_a_spring_change_removes_and_stretches_the_one_autumn_repeats() -> None:
    s = schedule(rotation(handoff="hourly", rotation_start="2027-03-27T00:00", users=[ANA, BO, CY]))
    spring = shifts(s, utc(2027, 3, 27, 23), utc(2027, 3, 28, 3))
    # turns (local): 00:00 (#24 ana), 01:00 (#25 bo — does not exist), 02:00 BST (#26 cy) …
    assert [(x.user, x.start, x.end) for x in spring] == [
        (CY, utc(2027, 3, 27, 23), utc(2027, 3, 28, 0)),
        (ANA, utc(2027, 3, 28, 0), utc(2027, 3, 28, 1)),
        (CY, utc(2027, 3, 28, 1), utc(2027, 3, 28, 2)),
        (ANA, utc(2027, 3, 28, 2), utc(2027, 3, 28, 3)),
    ]
    s = schedule(rotation(handoff={"every": 1, "unit": "hours"}, rotation_start="2027-10-31T00:00", users=[ANA, BO]))
    autumn = shifts(s, utc(2027, 10, 30, 23), utc(2027, 10, 31, 3))
    assert [(x.user, x.end - x.start) for x in autumn] == [
        (ANA, timedelta(hours=1)),  # 00:00 BST
        (BO, timedelta(hours=2)),  # 01:00 BST until 02:00 GMT: the repeated hour is this turn's
        (ANA, timedelta(hours=1)),
    ]


def test_a_shift_length_shorter_than_the_turn_leaves_the_rest_to_lower_layers() -> None:
    s = schedule(
        rotation("nights", users=[ZED], handoff="daily", rotation_start="2027-03-01T00:00", time_zone="America/New_York"),
        rotation("days", users=[ANA, BO], handoff="daily", rotation_start="2027-03-01T08:00", shift_length="PT12H", time_zone="America/New_York"),
    )
    for day in (date(2027, 3, 12), date(2027, 3, 15)):  # either side of New York's spring change (14 March)
        assert on_call_at(s, datetime.combine(day, time(7, 59), NEW_YORK)) == ZED
        assert on_call_at(s, datetime.combine(day, time(8), NEW_YORK)) in (ANA, BO)
        assert on_call_at(s, datetime.combine(day, time(19, 59), NEW_YORK)) in (ANA, BO)
        assert on_call_at(s, datetime.combine(day, time(20), NEW_YORK)) == ZED


BUSINESS_HOURS = [{"days": "mon-fri", "start": "09:00", "end": "17:00"}]


def test_restrictions_leave_gaps_that_lower_layers_fill() -> None:
    s = schedule(
        rotation("primary", users=[ANA]),
        rotation("business hours", users=[DEE], handoff="daily", restrictions=BUSINESS_HOURS),
    )
    assert on_call_at(s, local(LONDON, 2026, 12, 14, 10)) == DEE  # Monday, 10:00
    assert on_call_at(s, local(LONDON, 2026, 12, 14, 17)) == ANA  # the window's end is not in it
    assert on_call_at(s, local(LONDON, 2026, 12, 19, 10)) == ANA  # Saturday
    alone = schedule(rotation("business hours", users=[DEE], handoff="daily", restrictions=BUSINESS_HOURS))
    assert on_call_at(alone, local(LONDON, 2026, 12, 19, 10)) is None
    week = shifts(alone, local(LONDON, 2026, 12, 14), local(LONDON, 2026, 12, 21))
    assert [(x.start.astimezone(LONDON).strftime("%a %H:%M"), x.end - x.start) for x in week] == [
        (day + " 09:00", timedelta(hours=8)) for day in ("Mon", "Tue", "Wed", "Thu", "Fri")
    ]


def test_a_night_restriction_runs_past_midnight_and_a_rotation_keeps_counting_through_gaps() -> None:
    nights = [{"days": "mon-fri", "start": "17:00", "end": "09:00"}]
    s = schedule(rotation("nights", users=[ANA, BO], handoff="daily", rotation_start="2026-12-07T17:00", restrictions=nights))
    assert on_call_at(s, local(LONDON, 2026, 12, 11, 23)) == ANA  # Friday night: turn 4
    assert on_call_at(s, local(LONDON, 2026, 12, 12, 8, 59)) == ANA  # Saturday morning, the Friday window
    assert on_call_at(s, local(LONDON, 2026, 12, 12, 9)) is None
    assert on_call_at(s, local(LONDON, 2026, 12, 13, 23)) is None  # Sunday night: no window opens
    assert on_call_at(s, local(LONDON, 2026, 12, 14, 17)) == BO  # Monday is turn 7: the weekend turns passed unseen


def test_overrides_win_over_every_layer_and_the_later_override_over_the_earlier() -> None:
    s = schedule(
        rotation("primary", users=[ANA]),
        rotation("business hours", users=[DEE], handoff="daily", restrictions=BUSINESS_HOURS),
        overrides=[
            {"user": ZED, "start": "2026-12-14T10:00", "end": "2026-12-14T12:00"},
            {"user": ED, "start": "2026-12-14T11:00", "end": "2026-12-14T11:30"},
            {"user": BO, "start": "2026-12-19T03:00", "end": "2026-12-19T04:00"},
        ],
    )
    assert [(x.user, x.start.astimezone(LONDON).strftime("%H:%M"), x.layer) for x in shifts(s, local(LONDON, 2026, 12, 14, 9), local(LONDON, 2026, 12, 14, 18))] == [
        (DEE, "09:00", "business hours"),
        (ZED, "10:00", None),
        (ED, "11:00", None),
        (ZED, "11:30", None),
        (DEE, "12:00", "business hours"),
        (ANA, "17:00", "primary"),
    ]
    assert on_call_at(s, local(LONDON, 2026, 12, 19, 3, 30)) == BO


def test_a_layer_is_in_effect_between_its_start_and_end() -> None:
    s = schedule(
        rotation("primary", users=[ANA]),
        rotation("holiday cover", users=[ZED], start="2026-12-24T00:00", end="2026-12-27T00:00"),
    )
    assert on_call_at(s, local(LONDON, 2026, 12, 23, 23, 59)) == ANA
    assert on_call_at(s, local(LONDON, 2026, 12, 24)) == ZED
    assert on_call_at(s, local(LONDON, 2026, 12, 27)) == ANA


def test_a_layer_of_explicit_shifts_covers_its_shifts_only() -> None:
    imported = {
        "name": "imported",
        "shifts": [
            {"user": BO, "start": "2026-12-14T09:00", "end": "2026-12-15T09:00"},
            {"user": CY, "start": "2026-12-16T09:00Z", "end": "2026-12-17T09:00Z"},
        ],
    }
    s = schedule(rotation("primary", users=[ANA]), imported)
    assert [(x.user, x.layer) for x in shifts(s, utc(2026, 12, 14), utc(2026, 12, 18))] == [
        (ANA, "primary"),
        (BO, "imported"),
        (ANA, "primary"),
        (CY, "imported"),
        (ANA, "primary"),
    ]


def test_a_rotation_started_long_ago_still_counts_every_turn() -> None:
    s = schedule(rotation(users=[ANA, BO, CY], handoff="daily", rotation_start="2000-01-01T09:00Z"))
    day = date(2026, 12, 7)
    turn = (day - date(2000, 1, 1)).days
    assert on_call_at(s, utc(2026, 12, 7, 10)) == [ANA, BO, CY][turn % 3]


def test_leap_days_are_days() -> None:
    s = schedule(rotation(users=[ANA, BO], handoff="daily", rotation_start="2028-02-27T09:00", time_zone="UTC"))
    assert [x.user for x in shifts(s, utc(2028, 2, 27, 9), utc(2028, 3, 2, 9))] == [ANA, BO, ANA, BO]  # 27, 28, 29, 1
    weekly = schedule(rotation(users=[ANA, BO], handoff="weekly", rotation_start="2028-02-29T09:00", time_zone="UTC"))
    assert [x.start for x in shifts(weekly, utc(2028, 2, 29, 9), utc(2028, 3, 15))] == [
        utc(2028, 2, 29, 9), utc(2028, 3, 7, 9), utc(2028, 3, 14, 9)
    ]


def test_whole_shifts_do_not_depend_on_the_window() -> None:
    s = schedule(rotation(), overrides=[{"user": ZED, "start": "2026-12-10T00:00", "end": "2026-12-12T00:00"}])
    one = shifts(s, utc(2026, 12, 11), utc(2026, 12, 13), clip=False)
    other = shifts(s, utc(2026, 12, 11, 12), utc(2026, 12, 12, 12), clip=False)
    assert one == other == [
        Shift(ZED, utc(2026, 12, 10), utc(2026, 12, 12), None),
        Shift(ANA, utc(2026, 12, 12), utc(2026, 12, 14, 9), "primary"),
    ]


def test_next_change_says_who_now_who_next_and_when() -> None:
    s = schedule(rotation())
    change = next_change(s, utc(2026, 12, 10))
    assert (change.now, change.at, change.next) == (ANA, utc(2026, 12, 14, 9), BO)
    assert change.next_shift == Shift(BO, utc(2026, 12, 14, 9), utc(2026, 12, 21, 9), "primary")
    before = next_change(s, utc(2026, 12, 1))
    assert (before.now, before.at, before.next) == (None, utc(2026, 12, 7, 9), ANA)


def test_next_change_across_a_gap_names_nobody_then_the_next_shift() -> None:
    s = schedule(rotation("business hours", users=[DEE, ED], handoff="daily", restrictions=BUSINESS_HOURS))
    change = next_change(s, local(LONDON, 2026, 12, 18, 16))  # Friday 16:00: dee's turn (#11 is odd: ed)
    assert change.now == ED and change.next is None
    assert change.at == local(LONDON, 2026, 12, 18, 17)
    assert change.next_shift is not None and change.next_shift.start == local(LONDON, 2026, 12, 21, 9)
    assert change.next_shift.user == DEE  # Monday is turn 14


def test_next_change_when_nothing_changes_within_the_horizon() -> None:
    s = schedule(rotation(users=[ANA]))  # one person: handoffs do not change who is on call
    change = next_change(s, utc(2026, 12, 10), horizon=timedelta(days=60))
    assert (change.now, change.at, change.next, change.next_shift) == (ANA, None, None, None)
    empty = schedule()
    assert next_change(empty, utc(2026, 12, 10), horizon=timedelta(days=3)) == next_change(empty, utc(2026, 12, 10), horizon=timedelta(days=3))
    assert next_change(empty, utc(2026, 12, 10), horizon=timedelta(days=3)).now is None


def test_next_change_to_an_override() -> None:
    s = schedule(rotation(users=[ANA]), overrides=[{"user": ZED, "start": "2027-02-01T00:00Z", "end": "2027-02-02T00:00Z"}])
    change = next_change(s, utc(2026, 12, 10))
    assert (change.now, change.at, change.next) == (ANA, utc(2027, 2, 1), ZED)
    assert change.next_shift is not None and change.next_shift.is_override


def test_times_must_say_their_zone() -> None:
    s = schedule(rotation())
    with pytest.raises(ValueError, match="aware"):
        on_call_at(s, datetime(2026, 12, 10))
    with pytest.raises(ValueError, match="aware"):
        shifts(s, datetime(2026, 12, 10), utc(2026, 12, 11))
    assert shifts(s, utc(2026, 12, 11), utc(2026, 12, 10)) == []


def test_an_override_built_in_code_is_the_same_as_one_from_yaml() -> None:
    base = schedule(rotation())
    code = base.model_copy(update={"overrides": [Override(user=ZED, start=utc(2026, 12, 10), end=utc(2026, 12, 11))]})
    yaml_like = schedule(rotation(), overrides=[{"user": ZED, "start": "2026-12-10T00:00Z", "end": "2026-12-11T00:00Z"}])
    assert shifts(code, utc(2026, 12, 9), utc(2026, 12, 12)) == shifts(yaml_like, utc(2026, 12, 9), utc(2026, 12, 12))
    assert isinstance(code.layers[0], Layer)


def test_a_day_a_zone_skips_whole_keeps_the_timeline_in_order() -> None:
    """Samoa moved across the date line at the end of 29 December 2011: the 30th never happened there."""
    s = schedule(rotation(users=[ANA, BO, CY], handoff={"every": 5, "unit": "hours"}, rotation_start="2011-12-28T00:00", time_zone="Pacific/Apia"))
    lo, hi = utc(2011, 12, 29), utc(2012, 1, 1)
    found = shifts(s, lo, hi)
    assert all(a.end == b.start for a, b in itertools.pairwise(found))  # 24/7: no gap, no overlap
    assert found[0].start == lo and found[-1].end == hi
    for x in found:
        assert on_call_at(s, x.start) == x.user and on_call_at(s, x.end - timedelta(microseconds=1)) == x.user
