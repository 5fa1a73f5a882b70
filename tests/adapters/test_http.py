"""The shared HTTP choke point's pure parts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from warroom.adapters.http import retry_after_seconds


def test_retry_after_in_every_format() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None, default=2.0) == 2.0
    assert retry_after_seconds("soon", default=3.0) == 3.0
    later = datetime.now(UTC) + timedelta(seconds=120)
    assert 100 < retry_after_seconds(later.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 120
    assert 100 < retry_after_seconds(later.isoformat().replace("+00:00", "Z")) <= 120
    assert retry_after_seconds("2020-05-31T00:00:00Z") == 0.0
