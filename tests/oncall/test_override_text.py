"""Overrides asked for in chat text: what is understood, and the sentence for what is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warroom.oncall import Override, OverrideTextError, parse_override

LONDON = ZoneInfo("Europe/London")
#: Wednesday 9 December 2026, 22:00 in London (GMT).
NOW = datetime(2026, 12, 9, 22, tzinfo=UTC)
PEOPLE = {"dana": "dana@example.com", "U123": "ed@example.com", "@Zed": "zed@example.com"}
DANA = "dana@example.com"


def parse(text: str, now: datetime = NOW, time_zone: str = "Europe/London") -> Override:
    return parse_override(text, time_zone=time_zone, now=now, people=PEOPLE, me="me@example.com")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


@pytest.mark.parametrize(
    ("text", "user", "start", "end"),
    [
        ("@dana until tomorrow 09:00", DANA, NOW, at(2026, 12, 10, 9)),
        ("dana@example.com from 2026-12-10 18:00 to 2026-12-11 09:00", DANA, at(2026, 12, 10, 18), at(2026, 12, 11, 9)),
        ("Dana@Example.com from 2026-12-10 18:00 until 2026-12-11 09:00.", DANA, at(2026, 12, 10, 18), at(2026, 12, 11, 9)),
        ("<@U123|ed> until 09:00", "ed@example.com", NOW, at(2026, 12, 10, 9)),  # 09:00 has passed today: tomorrow's
        ("<@U999|dana> till noon", DANA, NOW, at(2026, 12, 10, 12)),  # an unknown id, a known name
        ("<mailto:x@y.io|x@y.io> for 4h", "x@y.io", NOW, NOW + timedelta(hours=4)),
        ("me for 1h30m", "me@example.com", NOW, NOW + timedelta(minutes=90)),
        ("zed until midnight", "zed@example.com", NOW, at(2026, 12, 10, 0)),
        ("@dana from friday 17:00 until monday 09:00", DANA, at(2026, 12, 11, 17), at(2026, 12, 14, 9)),
        ("@dana until wednesday 9am", DANA, NOW, at(2026, 12, 16, 9)),  # this Wednesday's 9am has passed
        ("@dana until thu 9am", DANA, NOW, at(2026, 12, 10, 9)),
        ("@dana from 18:00 for 2 days", DANA, at(2026, 12, 10, 18), at(2026, 12, 12, 18)),
        ("@dana until 2026-12-10T09:00Z", DANA, NOW, datetime(2026, 12, 10, 9, tzinfo=UTC)),
        ("@dana until 2026-12-10 09:00 +01:00", DANA, NOW, datetime(2026, 12, 10, 8, tzinfo=UTC)),
        ("@dana until Dec 12 8pm", DANA, NOW, at(2026, 12, 12, 20)),
        ("@dana from now to tomorrow at 6:30", DANA, NOW, at(2026, 12, 10, 6, 30)),
        ("@dana 2026-12-10 18:00 - 2026-12-11 09:00", DANA, at(2026, 12, 10, 18), at(2026, 12, 11, 9)),
    ],
)
def test_override_requests_people_write(text: str, user: str, start: datetime, end: datetime) -> None:
    override = parse(text)
    assert (override.user, override.start, override.end) == (user, start, end)


def test_times_are_read_in_the_given_zone_and_days_are_calendar_days_across_clock_changes() -> None:
    now = datetime(2027, 3, 26, 12, tzinfo=UTC)  # Friday; London springs forward on Sunday the 28th
    ny = parse("@dana until tomorrow 09:00", now=now, time_zone="America/New_York")
    assert ny.end == datetime(2027, 3, 27, 13, tzinfo=UTC)  # 09:00 EDT
    days = parse("@dana from 2027-03-27 09:00 for 2 days", now=now)
    assert (days.start, days.end) == (datetime(2027, 3, 27, 9, tzinfo=UTC), datetime(2027, 3, 29, 8, tzinfo=UTC))
    hours = parse("@dana from 2027-03-27 09:00 for 48 hours", now=now)
    assert hours.end - hours.start == timedelta(hours=48)
    gap = parse("@dana until 2027-03-28 01:30", now=now)  # does not exist in London: RFC 5545's reading
    assert gap.end == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("", "Say who covers and until when."),
        ("@dana", "Say until when dana@example.com covers."),
        ("@zoe until tomorrow 09:00", "I do not know who '@zoe' is: name them by their email"),
        ("<@U777> until tomorrow 09:00", "I do not know who 'U777' is"),
        ("@dana tomorrow", "I could not tell when the override starts and ends in 'tomorrow'."),
        ("@dana until tomorow 9:00", "I could not read 'tomorow 9:00' as a date and time"),
        ("@dana until tomorrow", "Say what time tomorrow, e.g. `tomorrow 09:00`."),
        ("@dana until 9", "'9' could be a day or an hour: write the time as `09:00` or `9am`."),
        ("@dana until 2026-12-10 09:00 EST", "I cannot tell which time zone '2026-12-10 09:00 EST' means"),
        ("@dana from 2026-12-11 09:00 to 2026-12-10 09:00", "The override would end at Thu 2026-12-10 09:00, not after it starts"),
        ("@dana from 2026-12-01 09:00 to 2026-12-02 09:00", "which has passed (times are in Europe/London"),
        ("@dana until 2027-12-10 09:00", "An override of 365 days"),
        ("@dana for ever", "I could not read 'ever' as a length"),
        ("@dana " + "x" * 400, "That is longer than an override needs"),
    ],
)
def test_what_is_not_an_override_gets_a_sentence_saying_what_to_write(text: str, sentence: str) -> None:
    with pytest.raises(OverrideTextError) as info:
        parse(text)
    assert sentence in str(info.value)


def test_me_needs_to_know_who_asks_and_zones_and_clocks_must_be_real() -> None:
    with pytest.raises(OverrideTextError, match="I do not know your email"):
        parse_override("me for 1h", time_zone="UTC", now=NOW)
    with pytest.raises(OverrideTextError, match="Unknown time zone"):
        parse_override("a@b.co for 1h", time_zone="Mars/Olympus", now=NOW)
    with pytest.raises(ValueError, match="aware"):
        parse_override("a@b.co for 1h", time_zone="UTC", now=datetime(2026, 12, 9))


local_times = st.datetimes(min_value=datetime(2027, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0)
)


@settings(deadline=None, max_examples=200)
@given(st.sampled_from(["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]), local_times, st.timedeltas(timedelta(minutes=1), timedelta(days=80)))
def test_written_dates_read_back_as_the_same_instants(zone_name: str, start: datetime, length: timedelta) -> None:
    tz = ZoneInfo(zone_name)
    end = (start + length).replace(second=0, microsecond=0)
    text = f"dana@example.com from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    first, last = start.replace(tzinfo=tz).astimezone(UTC), end.replace(tzinfo=tz).astimezone(UTC)
    if first >= last:  # both inside one clock change
        return
    override = parse_override(text, time_zone=zone_name, now=now)
    assert (override.start, override.end) == (first, last)


@settings(deadline=None, max_examples=300)
@given(st.text(max_size=80), st.sampled_from(["", "@dana ", "dana@example.com until ", "@dana from "]))
def test_any_text_is_an_override_or_a_sentence_never_a_crash(text: str, prefix: str) -> None:
    try:
        override = parse(prefix + text)
    except OverrideTextError as exc:
        assert str(exc).strip() and "Traceback" not in str(exc)
    else:
        assert override.start < override.end and override.end > NOW
