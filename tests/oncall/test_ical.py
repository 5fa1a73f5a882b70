"""iCalendar out (valid RFC 5545, stable UIDs) and in (explicit shifts, overrides, sentences for the rest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from tests.oncall.test_properties import schedules, windows
from warroom.oncall import (
    IcalError,
    Schedule,
    import_layer,
    import_overrides,
    on_call_at,
    person_calendar,
    schedule_calendar,
    shifts,
)
from warroom.oncall import ical as ical_module

ANA, BO, CY, DEE, ZED = (f"{n}@example.com" for n in ("ana", "bo", "cy", "dee", "zed"))
STAMP = datetime(2026, 12, 1, 12, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def team(overrides: list[dict[str, Any]] | None = None, name: str = "payments") -> Schedule:
    return Schedule.model_validate(
        {
            "name": name,
            "time_zone": "Europe/London",
            "layers": [
                {"name": "primary", "users": [ANA, BO, CY], "rotation_start": "2026-12-07T09:00", "handoff": "weekly"},
                {
                    "name": "business hours",
                    "users": [DEE],
                    "rotation_start": "2026-12-07T09:00",
                    "handoff": "daily",
                    "restrictions": [{"days": "mon-fri", "start": "09:00", "end": "17:00"}],
                },
            ],
            "overrides": overrides or [],
        }
    )


def events(feed: bytes) -> list[Any]:
    cal = Calendar.from_ical(feed)
    cal.validate()  # type: ignore[no-untyped-call]  # icalendar's own check of the required properties and components
    return list(cal.events)


def test_a_schedule_feed_is_valid_rfc_5545_with_one_event_per_final_shift() -> None:
    s = team()
    feed = schedule_calendar(s, utc(2026, 12, 7), utc(2026, 12, 21), stamp=STAMP)
    cal = Calendar.from_ical(feed)
    assert cal["VERSION"] == "2.0" and "PRODID" in cal and cal["X-WR-CALNAME"] == "payments on call"
    found = events(feed)
    expected = shifts(s, utc(2026, 12, 7), utc(2026, 12, 21), clip=False)
    assert [(e.start, e.end) for e in found] == [(x.start, x.end) for x in expected]
    assert [str(e["SUMMARY"]).split()[0] for e in found] == [x.user for x in expected]
    for event in found:
        assert event["DTSTAMP"].dt == STAMP and event["TRANSP"] == "TRANSPARENT"
        assert event.start.tzinfo is not None and event.start.utcoffset() == timedelta(0)
    assert len({str(e["UID"]) for e in found}) == len(found)
    # RFC 5545 §3.1: CRLF line ends, lines folded at 75 octets
    lines = feed.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR" and lines[-2] == b"END:VCALENDAR" and lines[-1] == b""
    assert all(len(line) <= 75 for line in lines) and b"\n" not in feed.replace(b"\r\n", b"")


def test_uids_are_stable_across_windows_and_exports_so_calendars_update_in_place() -> None:
    s = team()
    first = {str(e["UID"]): (e.start, e.end) for e in events(schedule_calendar(s, utc(2026, 12, 7), utc(2026, 12, 21), stamp=STAMP))}
    later = {
        str(e["UID"]): (e.start, e.end)
        for e in events(schedule_calendar(s, utc(2026, 12, 10, 13), utc(2026, 12, 28), stamp=STAMP + timedelta(days=3)))
    }
    shared = first.keys() & later.keys()
    assert shared and all(first[uid] == later[uid] for uid in shared)
    # the shift crossing the later window's start is exported whole, under the same UID
    assert any(start < utc(2026, 12, 10, 13) for start, _ in (later[uid] for uid in shared))


def test_an_added_override_changes_the_shifts_it_touches_and_no_others() -> None:
    window = (utc(2026, 12, 7), utc(2026, 12, 14))
    before = {str(e["UID"]): (e.start, e.end) for e in events(schedule_calendar(team(), *window, stamp=STAMP))}
    after = {
        str(e["UID"]): (e.start, e.end)
        for e in events(
            schedule_calendar(
                team([{"user": ZED, "start": "2026-12-09T20:00", "end": "2026-12-10T08:00"}]), *window, stamp=STAMP
            )
        )
    }
    gone, added = before.keys() - after.keys(), after.keys() - before.keys()
    assert len(gone) == 0  # the cut night keeps its UID (same start) with an earlier end
    changed = {uid for uid in before.keys() & after.keys() if before[uid] != after[uid]}
    assert len(changed) == 1 and len(added) == 2  # the override, and what is left of the night after it
    assert all(before[uid] == after[uid] for uid in before.keys() & after.keys() - changed)


def test_a_person_feed_has_their_final_shifts_only_across_their_teams() -> None:
    payments = team([{"user": ZED, "start": "2026-12-08T20:00", "end": "2026-12-09T08:00"}])
    search = team(name="search")
    window = (utc(2026, 12, 7), utc(2026, 12, 21))
    feed = person_calendar([payments, search], "Ana@Example.com", *window, stamp=STAMP)
    assert Calendar.from_ical(feed)["X-WR-CALNAME"] == "ana@example.com on call"
    found = events(feed)
    mine = [x for s in (payments, search) for x in shifts(s, *window, clip=False) if x.user == ANA]
    assert sorted((e.start, e.end) for e in found) == sorted((x.start, x.end) for x in mine)
    assert {str(e["SUMMARY"]) for e in found} == {"On call: payments", "On call: search"}
    for event in found:  # where zed's override covers ana, ana is not on call
        assert on_call_at(payments if "payments" in str(event["SUMMARY"]) else search, event.start) == ANA
    team_uids = {str(e["UID"]) for e in events(schedule_calendar(payments, *window, stamp=STAMP))}
    assert not team_uids & {str(e["UID"]) for e in found}  # one event may sit in both calendars without clashing


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(schedules(), windows())
def test_an_exported_schedule_imports_back_as_the_same_timeline(schedule: Schedule, window: tuple[datetime, datetime]) -> None:
    lo, hi = window
    feed = schedule_calendar(schedule, lo, hi, stamp=STAMP)
    expected = [(x.user, x.start, x.end) for x in shifts(schedule, lo, hi)]
    if not expected:
        with pytest.raises(IcalError, match="no events"):
            import_layer(feed, name="imported")
        return
    layer = import_layer(feed, name="imported", time_zone="Asia/Tokyo")
    again = Schedule(name="copy", layers=[layer])
    assert [(x.user, x.start, x.end) for x in shifts(again, lo, hi)] == expected


def vcal(*events: str, extra: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\r\nUID:{n}@test\r\nDTSTAMP:20261201T000000Z\r\n{e}END:VEVENT\r\n" for n, e in enumerate(events))
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{extra}{body}END:VCALENDAR\r\n"


def ev(*lines: str) -> str:
    return "".join(f"{line}\r\n" for line in lines)


def test_import_reads_people_from_titles_attendees_or_a_directory_and_times_in_every_form() -> None:
    text = vcal(
        ev("SUMMARY:On call: Ana@Example.com", "DTSTART;TZID=Europe/London:20270601T090000", "DTEND;TZID=Europe/London:20270602T090000"),
        ev("SUMMARY:Primary", "ATTENDEE;CN=Bo:mailto:bo@example.com", "DTSTART:20270602T080000Z", "DURATION:PT12H"),
        ev("SUMMARY:Cy", "DTSTART;VALUE=DATE:20270603", "DTEND;VALUE=DATE:20270605"),  # all day, in the import's zone
        ev("SUMMARY:dee@example.com", "DTSTART:20270605T090000", "DTEND:20270605T170000"),  # floating
        ev("SUMMARY:cancelled", "STATUS:CANCELLED", "DTSTART:20270606T090000Z", "DTEND:20270606T170000Z"),
    )
    layer = import_layer(text, name="imported", time_zone="America/New_York", people={"CY": CY})
    assert layer.time_zone == "America/New_York" and not layer.is_rotation
    assert [(x.user, x.start, x.end) for x in layer.shifts] == [
        (ANA, utc(2027, 6, 1, 8), utc(2027, 6, 2, 8)),
        (BO, utc(2027, 6, 2, 8), utc(2027, 6, 2, 20)),
        (CY, utc(2027, 6, 3, 4), utc(2027, 6, 5, 4)),
        (DEE, utc(2027, 6, 5, 13), utc(2027, 6, 5, 21)),
    ]


def test_import_reads_outlook_time_zones_from_their_vtimezone() -> None:
    vtimezone = ev(
        "BEGIN:VTIMEZONE", "TZID:W. Europe Standard Time",
        "BEGIN:STANDARD", "DTSTART:16011028T030000", "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10", "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", "END:STANDARD",
        "BEGIN:DAYLIGHT", "DTSTART:16010325T020000", "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3", "TZOFFSETFROM:+0100", "TZOFFSETTO:+0200", "END:DAYLIGHT",
        "END:VTIMEZONE",
    )
    text = vcal(
        ev("SUMMARY:ana@example.com", "DTSTART;TZID=W. Europe Standard Time:20270601T090000", "DTEND;TZID=W. Europe Standard Time:20270602T090000"),
        extra=vtimezone,
    )
    assert [(x.start, x.end) for x in import_layer(text, name="i").shifts] == [(utc(2027, 6, 1, 7), utc(2027, 6, 2, 7))]


def test_imported_overrides_may_overlap_and_the_later_event_wins() -> None:
    text = vcal(
        ev("SUMMARY:zed@example.com covers", "DTSTART:20270601T000000Z", "DTEND:20270602T000000Z"),
        ev("SUMMARY:ana@example.com", "DTSTART:20270601T060000Z", "DTEND:20270601T070000Z"),
    )
    found = import_overrides(text)
    assert [(o.user, o.note) for o in found] == [(ZED, "zed@example.com covers"), (ANA, "ana@example.com")]
    s = Schedule(name="t", overrides=found)
    assert on_call_at(s, utc(2027, 6, 1, 6, 30)) == ANA and on_call_at(s, utc(2027, 6, 1, 7)) == ZED


@pytest.mark.parametrize(
    ("text", "sentence"),
    [
        ("hello", "This is not an iCalendar (RFC 5545) file"),
        ("BEGIN:VEVENT\r\nSUMMARY:x\r\nEND:VEVENT\r\n", "it must begin with BEGIN:VCALENDAR"),
        (vcal(), "has no events to import"),
        (
            vcal(ev("SUMMARY:ana@example.com", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z", "RRULE:FREQ=WEEKLY")),
            "repeats (RRULE); import reads one event per shift",
        ),
        (vcal(ev("SUMMARY:Primary", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z")), "names nobody warroom knows"),
        (
            vcal(ev("SUMMARY:ana@example.com and bo@example.com", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z")),
            "names 2 people in its title",
        ),
        (
            vcal(ev("SUMMARY:Primary", "ATTENDEE:mailto:ana@example.com", "ATTENDEE:mailto:bo@example.com", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z")),
            "has 2 attendees (ana@example.com, bo@example.com); a shift has one person",
        ),
        (vcal(ev("SUMMARY:ana@example.com", "DTSTART:20270601T090000Z")), "has no length: give it an end"),
        (vcal(ev("SUMMARY:ana@example.com", "DTEND:20270601T090000Z")), "has no start (DTSTART)"),
        (
            vcal(ev("SUMMARY:ana@example.com", "DTSTART;TZID=Mars/Olympus:20270601T090000", "DTEND;TZID=Mars/Olympus:20270601T170000")),
            "unknown time zone 'Mars/Olympus'",
        ),
        (
            vcal(
                ev("SUMMARY:ana@example.com", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z"),
                ev("SUMMARY:bo@example.com", "DTSTART:20270601T160000Z", "DTEND:20270601T200000Z"),
            ),
            "overlap; a layer has one person at a time — import overlapping events as overrides",
        ),
    ],
)
def test_what_cannot_be_imported_is_said_in_a_sentence(text: str, sentence: str) -> None:
    with pytest.raises(IcalError) as info:
        import_layer(text, name="imported")
    assert sentence in str(info.value)
    assert str(info.value).endswith((".", ")")) or sentence in str(info.value)


def test_import_lists_several_problems_at_once_and_counts_the_rest() -> None:
    text = vcal(*(ev(f"SUMMARY:nobody {n}", "DTSTART:20270601T090000Z", "DTEND:20270601T170000Z") for n in range(7)))
    with pytest.raises(IcalError) as info:
        import_overrides(text)
    assert str(info.value).count("names nobody") == 5 and "and 2 more." in str(info.value)


def test_import_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ical_module, "MAX_EVENTS", 2)
    text = vcal(*(ev("SUMMARY:ana@example.com", f"DTSTART:2027060{n}T090000Z", f"DTEND:2027060{n}T170000Z") for n in range(1, 4)))
    with pytest.raises(IcalError, match="has 3 events; at most 2 are read"):
        import_layer(text, name="imported")
    monkeypatch.setattr(ical_module, "MAX_ICAL_BYTES", 100)
    with pytest.raises(IcalError, match="bytes; at most 100 are read"):
        import_layer(text, name="imported")
    with pytest.raises(IcalError, match="Unknown time zone"):
        import_layer(vcal(), name="imported", time_zone="Nowhere/Town")


def test_the_export_needs_an_aware_stamp() -> None:
    with pytest.raises(ValueError, match="aware"):
        schedule_calendar(team(), utc(2026, 12, 7), utc(2026, 12, 8), stamp=datetime(2026, 12, 1))


LINES = st.sampled_from(
    [
        "SUMMARY:ana@example.com", "SUMMARY:Primary", "SUMMARY:a@b.co and c@d.co", "ATTENDEE:mailto:bo@example.com",
        "ATTENDEE:garbage", "DTSTART:20270601T090000Z", "DTSTART:20270601T090000", "DTSTART;VALUE=DATE:20270601",
        "DTSTART:garbage", "DTSTART;TZID=Europe/London:20270601T090000", "DTSTART;TZID=Nowhere:20270601T090000",
        "DTEND:20270602T090000Z", "DTEND;VALUE=DATE:20270603", "DTEND:nonsense", "DURATION:PT8H", "DURATION:-P1D",
        "DURATION:soon", "RRULE:FREQ=DAILY", "STATUS:CANCELLED", "RECURRENCE-ID:20270601T090000Z", "X-ODD;A=B:C",
    ]
)


@settings(deadline=None, max_examples=300)
@given(st.lists(st.lists(LINES, max_size=6), max_size=4), st.text(max_size=40))
def test_any_calendar_is_imported_or_refused_with_a_sentence_never_a_crash(bodies: list[list[str]], noise: str) -> None:
    for text in (vcal(*(ev(*lines) for lines in bodies)), vcal(ev(noise)), noise):
        for read in (lambda t: import_layer(t, name="i"), import_overrides):
            try:
                read(text)
            except IcalError as exc:
                assert str(exc).strip()
