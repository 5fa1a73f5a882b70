"""The schedule model: what YAML can say, and the sentences for what it cannot."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import yaml
from pydantic import ValidationError

from warroom.oncall import Handoff, Layer, Override, Restriction, Schedule, Unit, on_call_at

TEAM_YAML = """
name: payments
time_zone: Europe/London
layers:
  - name: primary
    users: [Ana@Example.com, bo@example.com, cy@example.com]
    rotation_start: 2026-12-07T09:00
    handoff: weekly
  - name: business hours
    time_zone: America/New_York
    users: [dee@example.com, ed@example.com]
    rotation_start: 2026-12-07T09:00:00
    handoff: {every: 2, unit: days}
    shift_length: PT8H
    restrictions:
      - {days: mon-fri, start: "09:00", end: "17:00"}
overrides:
  - user: zed@example.com
    start: 2026-12-08T18:00
    end: 2026-12-09T09:00
    note: covering for ana
"""


def test_a_team_schedule_loads_from_yaml() -> None:
    schedule = Schedule.model_validate(yaml.safe_load(TEAM_YAML))
    primary, business = schedule.layers
    assert primary.users[0] == "ana@example.com"  # emails are kept lower-case
    assert primary.handoff == Handoff(every=1, unit=Unit.WEEKS)
    assert business.handoff == Handoff(every=2, unit=Unit.DAYS)
    assert business.shift_length == timedelta(hours=8)
    assert business.restrictions == [Restriction(days=[0, 1, 2, 3, 4], start=time(9), end=time(17))]
    assert schedule.zone_of(business).key == "America/New_York"
    assert schedule.zone_of(primary).key == "Europe/London"
    # the override's naive times are the schedule's wall clock: 18:00 in London in December is 18:00 UTC
    assert on_call_at(schedule, datetime(2026, 12, 8, 18, 30, tzinfo=UTC)) == "zed@example.com"


def test_models_are_frozen_plain_data() -> None:
    schedule = Schedule.model_validate(yaml.safe_load(TEAM_YAML))
    with pytest.raises(ValidationError):
        schedule.name = "other"  # type: ignore[misc]
    again = Schedule.model_validate_json(schedule.model_dump_json())
    assert again == schedule


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("mon-fri", [0, 1, 2, 3, 4]),
        (["sat", "sun"], [5, 6]),
        ("fri-mon", [0, 4, 5, 6]),  # a range may wrap past Sunday
        (["Monday", "wed"], [0, 2]),
        ("sat, sun", [5, 6]),
    ],
)
def test_restriction_days_are_written_the_way_people_write_them(days: object, expected: list[int]) -> None:
    assert Restriction.model_validate({"days": days, "start": "09:00", "end": "17:00"}).days == expected


def test_restriction_lengths_wrap_past_midnight_and_equal_ends_mean_a_whole_day() -> None:
    assert Restriction(start=time(9), end=time(17)).length == timedelta(hours=8)
    assert Restriction(start=time(17), end=time(9)).length == timedelta(hours=16)
    assert Restriction(start=time(0), end=time(0)).length == timedelta(days=1)


def _error(data: dict[str, object]) -> str:
    with pytest.raises(ValidationError) as info:
        Schedule.model_validate(data)
    return str(info.value)


def _layer(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "primary",
        "users": ["ana@example.com"],
        "rotation_start": "2026-12-07T09:00",
        "handoff": "daily",
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({"name": "t", "time_zone": "Europe/Londn"}, "Unknown time zone 'Europe/Londn': use an IANA name"),
        ({"name": "t", "layers": [_layer(users=["ana"])]}, "'ana' is not an email address"),
        ({"name": "t", "layers": [_layer(handoff="fortnightly")]}, "Unknown handoff 'fortnightly': write daily, weekly"),
        ({"name": "t", "layers": [_layer(handoff=None)]}, "Layer 'primary' needs handoff"),
        ({"name": "t", "layers": [{"name": "x"}]}, "Layer 'x' needs users, rotation_start, handoff"),
        (
            {"name": "t", "layers": [_layer(shifts=[{"user": "a@b.co", "start": "2026-12-07T09:00", "end": "2026-12-08T09:00"}])]},
            "has both a rotation",
        ),
        ({"name": "t", "layers": [_layer(shift_length="P2D")]}, "shift_length must be more than zero and at most a turn"),
        ({"name": "t", "layers": [_layer(), _layer()]}, "more than one layer called 'primary'"),
        (
            {"name": "t", "layers": [_layer(restrictions=[{"start": 1020, "end": "09:00"}])]},
            "Quote times in YAML",
        ),
        ({"name": "t", "layers": [_layer(restrictions=[{"days": "funday", "start": "09:00", "end": "17:00"}])]}, "Unknown weekday"),
        (
            {"name": "t", "overrides": [{"user": "a@b.co", "start": "2026-12-08T09:00", "end": "2026-12-08T08:00"}]},
            "ends before it starts",
        ),
        (
            # one end with an offset, one without: compared once both are instants (09:00 London = 09:00 UTC)
            {"name": "t", "overrides": [{"user": "a@b.co", "start": "2026-12-08T09:00", "end": "2026-12-08T09:00Z"}]},
            "ends before it starts",
        ),
        (
            {
                "name": "t",
                "time_zone": "Europe/London",
                "layers": [
                    {
                        "name": "imported",
                        "shifts": [
                            {"user": "a@b.co", "start": "2026-12-07T09:00", "end": "2026-12-08T10:00"},
                            {"user": "c@d.co", "start": "2026-12-08T09:00", "end": "2026-12-09T09:00"},
                        ],
                    }
                ],
            },
            "the shifts of a@b.co and c@d.co overlap",
        ),
        ({"name": "t", "surprise": 1}, "Extra inputs are not permitted"),
    ],
)
def test_bad_schedules_are_refused_with_a_sentence(data: dict[str, object], sentence: str) -> None:
    assert sentence in _error(data)


def test_a_layer_of_explicit_shifts_needs_no_rotation() -> None:
    layer = Layer.model_validate(
        {"name": "imported", "shifts": [{"user": "A@b.co", "start": "2026-12-07T09:00Z", "end": "2026-12-08T09:00Z"}]}
    )
    assert not layer.is_rotation and layer.shifts[0].user == "a@b.co"


def test_an_override_is_one_person_over_one_range() -> None:
    override = Override(user="Dana@Example.com", start=datetime(2026, 12, 7, tzinfo=UTC), end=datetime(2026, 12, 8, tzinfo=UTC))
    assert override.user == "dana@example.com" and override.note == ""
