"""`warroom oncall …`: `who` reads the YAML schedules and the overrides people asked for in chat (stored by the real
server from a signed `/oncall` command) on SQLite and PostgreSQL; `calendar-url` prints a feed address the running
server serves; `import-ical` prints the YAML of a layer that loads back as the layer the calendar describes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from icalendar import Calendar, Event

from warroom.cli import main
from warroom.oncall import Layer, import_layer
from warroom.response.oncall import feeds
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import SLACK_SIGNING_SECRET
from warroom.settings import Settings

from .e2e.test_oncall_chat import NOW, oncall, oncall_config, utc_words

H = timedelta(hours=1)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def write_config(tmp_path: Path, db_url: str, public_url: str = "https://warroom.example.com") -> Path:
    data: dict[str, Any] = {"services": [{"name": "checkout-api"}, {"name": "payments"}]}
    oncall_config()(data)
    data.update(database={"url": db_url, "auto_migrate": False}, slack={"enabled": False},
                server={"public_url": public_url})
    config = tmp_path / "cli.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await Harness.start(db_url, tweak=oncall_config())
    yield harness
    await harness.stop()


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.upper().startswith("WARROOM_"):
            monkeypatch.delenv(name)


async def test_who_reads_the_chat_overrides(h: Harness, db_url: str, tmp_path: Path, no_env: None,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, db_url))

    async def who(*args: str) -> tuple[int, str, str]:
        return await asyncio.to_thread(run, capsys, "--config", config, "oncall", "who", *args)

    code, out, err = await who("payments")
    assert code == 0, err
    assert out.startswith("On call for service payments (escalation policy payments), at ")
    assert f"payments-primary (team payments): Eli Network (eli@example.com) is on call until {utc_words(NOW + 2 * H)}" in out
    assert "*" not in out and "<" not in out  # plain text for a terminal

    assert (await oncall(h, "override payments-primary <@U0DANA|dana> for 1h", user="U0ELI")).startswith("Override #1")
    code, out, _ = await who("payments")
    assert "dana@example.com is on call until" in out and "next: Eli Network" in out
    code, out, _ = await who("payments", "--at", (NOW + 3 * H).strftime("%Y-%m-%dT%H:%M"))
    assert "ana@example.com is on call until" in out  # the override is over then; ana's shift
    code, out, _ = await who()
    assert out.count("\n  ") == 3 and "dba (team databases): chen@example.com" in out  # three schedules

    code, out, err = await who("nothing-like-it")
    assert code == 1 and out == "" and "There is no service, team or schedule called 'nothing-like-it'" in err
    with pytest.raises(SystemExit) as refused:  # argparse's refusal of the option
        await who("--at", "soon")
    assert refused.value.code == 2 and "'soon' is not a date and time" in capsys.readouterr().err


async def test_calendar_url_is_served_by_the_server(h: Harness, tmp_path: Path, db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch, no_env: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = str(write_config(tmp_path, db_url, public_url=h.base_url))
    monkeypatch.setenv("WARROOM_SLACK__SIGNING_SECRET", SLACK_SIGNING_SECRET)  # the server signs links with it
    code, out, err = run(capsys, "--config", config, "oncall", "calendar-url", "payments-primary")
    assert code == 0, err
    url = out.strip()
    assert url.startswith(f"{h.base_url}/oncall/calendars/schedule/payments-primary.ics?sig=")
    response = await h.http.get(url)
    assert response.status_code == 200 and b"SUMMARY:eli@example.com on call" in response.content

    code, out, err = run(capsys, "--config", config, "oncall", "calendar-url", "--person", "Ana@Example.com")
    assert code == 0 and out.strip().startswith(f"{h.base_url}/oncall/calendars/person/ana@example.com.ics?sig=")
    assert (await h.http.get(out.strip())).status_code == 200

    for args, says in [
        (["calendar-url", "nope"], "There is no schedule 'nope' in oncall.schedules. Schedules: payments-primary"),
        (["calendar-url"], "Name one schedule"),
        (["calendar-url", "dba", "--person", "a@b.co"], "Name one schedule"),
        (["calendar-url", "--person", "not-an-email"], "'not-an-email' is not an email address"),
    ]:
        code, out, err = run(capsys, "--config", config, "oncall", *args)
        assert code == 1 and out == "" and says in err, (args, err)
    monkeypatch.delenv("WARROOM_SLACK__SIGNING_SECRET")
    code, out, err = run(capsys, "--config", config, "oncall", "calendar-url", "dba")
    assert code == 1 and "WARROOM_SERVER__LINK_SECRET" in err


def test_calendar_url_says_when_the_address_is_only_local(tmp_path: Path, no_env: None,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "w.yaml"
    config.write_text("oncall: {schedules: [{name: dba, layers: []}]}\n")
    monkeypatch.setenv("WARROOM_SERVER__LINK_SECRET", "a-long-random-string")
    code, out, err = run(capsys, "--config", str(config), "oncall", "calendar-url", "DBA")
    assert code == 0 and out.startswith("http://127.0.0.1:8080/oncall/calendars/schedule/dba.ics?sig=")
    assert "calendar apps elsewhere cannot reach it" in err
    settings = Settings(server={"link_secret": "a-long-random-string"})
    assert feeds.signature_ok(settings, "schedule", "dba", out.strip().split("sig=", 1)[1])


# ---------------------------------------------------------------------------------------------- import-ical


def rota(tmp_path: Path, events: list[tuple[str, datetime, datetime]]) -> Path:
    cal = Calendar()
    cal.add("prodid", "-//test//rota//EN")
    cal.add("version", "2.0")
    for n, (summary, start, end) in enumerate(events):
        event = Event()
        event.add("uid", f"{n}@test")
        event.add("summary", summary)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("dtstamp", datetime(2026, 12, 1, tzinfo=UTC))
        cal.add_component(event)
    path = tmp_path / "rota.ics"
    path.write_bytes(cal.to_ical())
    return path


def test_import_ical_prints_a_layer_that_loads_back(tmp_path: Path, no_env: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monday = datetime(2026, 12, 7, 9, tzinfo=UTC)
    path = rota(tmp_path, [
        ("Ana on call ana@example.com", monday, monday + timedelta(days=7)),
        ("bo@example.com", monday + timedelta(days=7), monday + timedelta(days=14)),
    ])
    code, out, err = run(capsys, "oncall", "import-ical", str(path), "--layer", "imported",
                         "--time-zone", "Europe/London")
    assert code == 0, err
    assert out.startswith("# Layer 'imported' imported from rota.ics: 2 shifts, 2026-12-07 09:00 to 2026-12-21 09:00 "
                          "Europe/London.")
    (entry,) = yaml.safe_load(out)
    layer = Layer.model_validate(entry)
    assert layer == import_layer(path.read_bytes(), name="imported", time_zone="Europe/London")
    assert [(s.user, s.start) for s in layer.shifts] == [("ana@example.com", monday), ("bo@example.com", monday + timedelta(days=7))]
    # pasted under a schedule's layers, it is a valid configuration
    schedule = {"name": "payments-primary", "time_zone": "Europe/London", "layers": yaml.safe_load(out)}
    Settings(oncall={"schedules": [schedule]})


@pytest.mark.parametrize(
    ("content", "args", "says"),
    [
        (b"not a calendar", [], "This is not an iCalendar (RFC 5545) file"),
        (None, ["--time-zone", "Mars/Olympus"], "--time-zone: Unknown time zone 'Mars/Olympus'"),
        (b"missing", ["--missing"], "could not be read"),
    ],
)
def test_import_ical_errors_are_sentences(content: bytes | None, args: list[str], says: str, tmp_path: Path,
                                          no_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    monday = datetime(2026, 12, 7, 9, tzinfo=UTC)
    path = rota(tmp_path, [("ana@example.com", monday, monday + H)])
    if content is not None:
        path.write_bytes(content)
    if "--missing" in args:
        args, path = [], tmp_path / "nowhere.ics"
    code, out, err = run(capsys, "oncall", "import-ical", str(path), "--layer", "x", *args)
    assert code == 1 and out == "" and says in err


def test_import_ical_overlapping_shifts_are_refused(tmp_path: Path, no_env: None,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monday = datetime(2026, 12, 7, 9, tzinfo=UTC)
    path = rota(tmp_path, [("ana@example.com", monday, monday + 2 * H), ("bo@example.com", monday + H, monday + 3 * H)])
    code, out, err = run(capsys, "oncall", "import-ical", str(path), "--layer", "x")
    assert code == 1 and out == "" and "overlap" in err and "import overlapping events as overrides" in err
