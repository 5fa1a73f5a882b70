"""Reading a task's due date as people write it, and when the weekly digest fires."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from warroom.response.tasks import due_text, next_digest, read_due

NOW = datetime(2026, 12, 9, 15, 30, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(("typed", "day"), [
    ("today", date(2026, 12, 9)),
    ("tomorrow", date(2026, 12, 10)),
    ("in 3 days", date(2026, 12, 12)),
    ("in 2 weeks", date(2026, 12, 23)),
    ("in 1 month", date(2027, 1, 9)),
    ("friday", date(2026, 12, 11)),
    ("Fri", date(2026, 12, 11)),
    ("next wednesday", date(2026, 12, 16)),  # a weekday is its next occurrence after today
    ("2026-12-24", date(2026, 12, 24)),
    ("Dec 24", date(2026, 12, 24)),
    ("24/12", date(2026, 12, 24)),
    ("Jan 10", date(2027, 1, 10)),  # passed this year: next year's
])
def test_due_dates_people_write(typed: str, day: date) -> None:
    assert read_due(typed, NOW) == datetime(day.year, day.month, day.day, tzinfo=UTC)


@pytest.mark.parametrize(("typed", "says"), [
    ("someday", "I could not read 'someday' as a date"),
    ("2026-12-01", "2026-12-01 has passed"),
    ("2031-01-01", "more than three years away"),
    ("<!channel> 12", "as a date"),
    ("x" * 500, "as a date"),
])
def test_bad_due_dates_say_what_to_write(typed: str, says: str) -> None:
    with pytest.raises(ValueError) as raised:
        read_due(typed, NOW)
    assert says in str(raised.value) and "<!channel>" not in str(raised.value)


def test_due_text_and_the_digest_time() -> None:
    assert due_text(datetime(2026, 12, 11, tzinfo=UTC), NOW) == "due Fri 2026-12-11"
    assert due_text(datetime(2026, 12, 1, tzinfo=UTC), NOW) == "due Tue 2026-12-01 (overdue)"
    assert next_digest(NOW, "monday", 9) == datetime(2026, 12, 14, 9, tzinfo=UTC)
    assert next_digest(NOW, "wednesday", 16) == datetime(2026, 12, 9, 16, tzinfo=UTC)
    assert next_digest(NOW, "wednesday", 9) == datetime(2026, 12, 16, 9, tzinfo=UTC)
