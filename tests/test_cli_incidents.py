"""`warroom incidents list` and `warroom incidents show` read the configured database — populated here by the real
server (alerts, signed slash commands, the fan-out's war rooms) and the service layer — on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from warroom.cli import main
from warroom.core.model import LinkKind
from warroom.sandbox.harness import Harness

from .e2e.helpers import open_room, settle

AGE = r"(?:\d+s|\d+m|\d+h \d\dm|\d+d \d+h)"
HOSTILE = "Checkout \x1b[31mRED\x1b[0m down\nnow \u202egnp.exe"


class Cli:
    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config = config
        self.capsys = capsys

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = await asyncio.to_thread(main, ["--config", str(self.config), "incidents", *args])
        out, err = self.capsys.readouterr()
        return code, out, err


def write_config(tmp_path: Path, db_url: str) -> Path:
    config = tmp_path / "cli.yaml"
    config.write_text(
        f"database: {{url: '{db_url}', auto_migrate: false}}\n"
        "slack: {enabled: false}\n"
        "services: [{name: checkout-api}, {name: payments}]\n"
        "response: {custom_roles: [Communications Lead]}\n"
    )
    return config


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_INTAKE__GENERIC_TOKEN", "t")


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = await Harness.start(db_url)
    yield harness
    await harness.stop()


async def test_list_and_show_what_the_server_recorded(
    h: Harness, db_url: str, tmp_path: Path, cli_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(write_config(tmp_path, db_url), capsys)
    assert await cli("list") == (0, "There are no incidents.\n", "")
    assert await cli("list", "--open", "--service", "Payments") == (0, "There are no open incidents of service payments.\n", "")
    code, out, _ = await cli("list", "--service", "billing")
    assert code == 0 and out == ("There are no incidents of service billing (billing is not a configured service; "
                                 "configured: checkout-api, payments).\n")

    # an alert opens checkout-api's war room; responders work it from Slack
    first, channel, request_id = await open_room(h)
    await h.slack_command("role commander me", channel=channel)
    await h.slack_command(f"title {HOSTILE}", channel=channel)
    for n in range(12):
        await h.slack_command(f"note step {n}", channel=channel)
    # a payments incident declared through the service layer, its war room opened, then resolved
    second = (await h.runtime.incidents.declare(service="payments", title="Card payments fail", priority="P2",
                                                actor="slack:U0ANA")).id
    await settle(h)
    await h.runtime.incidents.resolve(second, actor="slack:U0ANA")
    async with h.runtime.store.read() as tx:
        rooms = {i: (await tx.links.all(i))[LinkKind.SLACK_CHANNEL].url for i in (first, second)}

    code, out, err = await cli("list")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert len(lines) == 2  # one line per incident, the newest first
    assert re.fullmatch(rf"INC-{second}  resolved   P2  payments      Card payments fail +{AGE} +{re.escape(rooms[second])}",
                        lines[0]), lines[0]
    assert re.fullmatch(rf"INC-{first}  triggered  P1  checkout-api  Checkout �\[31mRED�\[0m down now �gnp\.exe +{AGE} +"
                        rf"{re.escape(rooms[first])}", lines[1]), lines[1]
    assert "\x1b" not in out and "\u202e" not in out
    code, out, _ = await cli("list", "--open")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [f"INC-{first}"]
    code, out, _ = await cli("list", "--service", "PAYMENTS")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == [f"INC-{second}"]
    code, out, err = await cli("list", "--limit", "1")
    assert [line.split()[0] for line in out.splitlines()] == [f"INC-{second}"] and "--limit shows more" in err

    code, out, err = await cli("show", f"INC-{first}")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == (f"INC-{first} is triggered, P1, assigned to ana@example.com: "
                        "Checkout �[31mRED�[0m down now �gnp.exe")
    assert re.fullmatch(rf"Service checkout-api, declared {AGE} ago \(\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC\) from alert\.",
                        lines[1]), lines[1]
    assert f"Slack war room: {rooms[first]}" in lines
    assert any(line.startswith("ITSM request: ") and line.endswith(f"/requests/{request_id}") for line in lines)
    assert any(line.startswith("Bridge: http") for line in lines)
    roles = lines[lines.index("Roles:") + 1 : lines.index("Roles:") + 5]
    assert roles == ["  Incident Commander: ana@example.com", "  Application SME: nobody", "  Networking SME: nobody",
                     "  Communications Lead: nobody"]
    (head,) = [line for line in lines if line.startswith("Timeline")]
    total = int(re.fullmatch(r"Timeline \(the last 10 of (\d+) entries\):", head).group(1))  # type: ignore[union-attr]
    assert total > 12
    entries = lines[lines.index(head) + 1 :]
    assert len(entries) == 10
    assert re.fullmatch(r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  note +Ana Ops: step 11", entries[-1]), entries[-1]
    assert [e.rsplit(" ", 1)[-1] for e in entries if " note " in e][-3:] == ["9", "10", "11"]

    assert not any("MTTA" in line for line in lines)  # not acknowledged yet
    code, out, _ = await cli("show", str(second))
    assert code == 0 and out.startswith(f"INC-{second} is resolved, P2, assigned to ")
    assert "; resolved " in out.splitlines()[1]
    # acknowledged: the time it took (MTTA) is shown
    await h.slack_command("ack", channel=channel)
    code, out, _ = await cli("show", str(first))
    assert code == 0
    assert re.search(rf"^Acknowledged \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC: time to acknowledge \(MTTA\) {AGE}\.$",
                     out, re.MULTILINE), out
    assert await cli("show", "999") == (1, "", "There is no incident INC-999.\n")


async def test_an_unreadable_database_is_said(db_url: str, tmp_path: Path, cli_env: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A database warroom never set up (no schema) is said so, with what to do; nothing is created in it."""
    if db_url.startswith("sqlite"):
        sqlite3.connect(db_url.split(":///", 1)[1]).close()  # an empty file
    cli = Cli(write_config(tmp_path, db_url), capsys)
    for args in (["list"], ["show", "1"]):
        code, out, err = await cli(*args)
        assert code == 1 and out == ""
        assert err.startswith("The database ") and "could not be read" in err and "`warroom migrate`" in err


async def test_a_sqlite_file_that_is_not_there_is_not_created(tmp_path: Path, cli_env: None,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "nowhere" / "warroom.db"
    cli = Cli(write_config(tmp_path, f"sqlite+aiosqlite:///{path}"), capsys)
    code, out, err = await cli("list", "--open")
    assert (code, out) == (1, "")
    assert err == (f"There is no database at {path} (database.url): warroom has not run with this configuration yet, "
                   "or --config names another one.\n")
    assert not path.exists()


@pytest.mark.parametrize("number", ["abc", "0", "INC-", "12x"])
def test_show_wants_an_incident_number(number: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["incidents", "show", number])
    assert exc.value.code == 2 and "is not an incident number (e.g. 12 or INC-12)" in capsys.readouterr().err
