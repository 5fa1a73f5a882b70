"""bench/commands — how fast responders get Slack's HTTP answer to `/incident …`, and how soon the change is on
the ITSM request.

Signed slash commands are sent over loopback at a fixed rate (open loop: a command leaves on schedule whether or
not earlier ones were answered) into warroom's real server — `warroom serve` in a process of its own, as deployed:
slack-bolt request handling, signature check, the grammar, the database, the outbox workers and timers — and, in
the same run, into a bare slack-bolt AsyncApp (also a process of its own, the same aiohttp adapter) whose listener
only acks. The sandbox emulators (Slack, Xurrent with its signed webhooks, Zoom, Webex) and the load generator run
in the benchmark's process, where the real services would be. The figure is the ratio of warroom's p50/p99 answer
time to the bare app's (goal: p99 ratio ≤ 1.5). The commands are a responder's mix in open war rooms: notes
(70 %), priority changes (20 %), status (10 %).

Then: for notes, the time from sending the command until the note is on the linked request in the Xurrent
emulator (answer, transaction, outbox, the push to Xurrent over HTTP), p50/p99.

    python -m bench.commands [--seconds 5] [--rates 50,200] [--rooms 8] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import yaml

from warroom.sandbox.slack.driver import SlackDriver
from warroom.sandbox.world import SLACK_SIGNING_SECRET, SLACK_TOKEN, World
from warroom.settings import SECRET_KEYS

Send = Callable[[int], Awaitable[float]]


def serve_bare(port: int, slack_api: str) -> None:
    """The baseline, run as ``python -m bench.commands --bare PORT SLACK_API``: a slack-bolt AsyncApp that only
    acks /incident, on the same aiohttp adapter warroom uses (a Web API client on the emulated Slack for bolt's
    own authorisation)."""
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(signing_secret=SLACK_SIGNING_SECRET, client=AsyncWebClient(token=SLACK_TOKEN, base_url=slack_api),
                   request_verification_enabled=True, process_before_response=True)

    @app.command("/incident")
    async def only_ack(ack: Any) -> None:
        await ack()

    async def events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    server = web.Application()
    server.router.add_post("/slack/events", events)
    server.router.add_get("/readyz", lambda _r: web.json_response({"status": "ready"}))  # type: ignore[arg-type,return-value]
    web.run_app(server, host="127.0.0.1", port=port, access_log=None, print=None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config_for(world: World, database_url: str, port: int, tmp: Path) -> tuple[Path, dict[str, str]]:
    """The sandbox world's configuration as a YAML file, its secrets as environment variables (as in production)."""
    data = world.settings_data(database_url, port=port)
    env = dict(os.environ)
    for section, key in SECRET_KEYS:
        block = data.get(section)
        if isinstance(block, dict) and block.get(key):
            env[f"WARROOM_{section.upper()}__{key.upper()}"] = str(block.pop(key))
    env["WARROOM_XURRENT__RECONCILE_SECONDS"] = "0"
    path = tmp / "warroom.yaml"
    path.write_text(yaml.safe_dump(data))
    return path, env


async def spawn(*args: str, env: dict[str, str], url: str) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as http:
        while True:
            try:
                if (await http.get(f"{url}/readyz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            if process.returncode is not None or time.monotonic() > deadline:
                raise SystemExit(f"{' '.join(args[:4])} did not start")
            await asyncio.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(send: Send, rate: float, seconds: float) -> list[float]:
    """Open-loop load: command i leaves at i / rate; returns every answer time (seconds)."""
    total = int(rate * seconds)
    start = time.perf_counter()

    async def at(i: int) -> float:
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        return await send(i)

    return list(await asyncio.gather(*(at(i) for i in range(total))))


async def open_rooms(world: World, driver: SlackDriver, rooms: int) -> list[tuple[str, int]]:
    """War rooms declared from chat, read back from the emulators: (Slack channel, Xurrent request) each."""
    ana = world.slack.add_user("ana@example.com", "Ana")
    out = []
    for i in range(rooms):
        service = "checkout-api" if i % 2 == 0 else "payments"
        answer = await driver.command(f"declare {service} P1 Bench war room {i}", user=ana)
        incident = int(answer.json()["text"].split()[0].removeprefix("INC-"))
        deadline = time.monotonic() + 60
        while True:
            channel = next((c["id"] for c in world.slack.channels.values()
                            if c["name"].startswith(f"inc-{incident}-")), None)
            request = next((r["id"] for r in world.xurrent.requests.values()
                            if r.get("sourceID") == f"incident-{incident}"), None)
            if channel and request:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"the war room of incident {incident} did not open")
            await asyncio.sleep(0.05)
        out.append((channel, int(request)))
    return out


async def main(seconds: float, rates: list[float], rooms: int, database_url: str | None) -> None:
    world = await World.start(rate_limits=False)
    processes: list[asyncio.subprocess.Process] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        port, bare_port = free_port(), free_port()
        config, env = config_for(world, url, port, Path(tmp))
        ours_url, bare_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bare_port}"
        try:
            prof = ["-m", "cProfile", "-o", os.environ["BENCH_PROFILE"]] if os.environ.get("BENCH_PROFILE") else []
            cli = [sys.executable, *prof, "-m", "warroom.cli", "--config", str(config)]
            provision = await asyncio.create_subprocess_exec(*cli, "itsm", "provision", env=env,
                                                             stdout=asyncio.subprocess.DEVNULL)
            if await provision.wait() != 0:
                raise SystemExit("warroom itsm provision failed")
            processes.append(await spawn(*cli, "serve", env=env, url=ours_url))
            processes.append(await spawn(sys.executable, "-m", "bench.commands", "--bare", str(bare_port),
                                         world.settings_data(url)["slack"]["api_url"], env=env, url=bare_url))
            limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=bare_url, limits=limits, timeout=60) as bare_http, \
                    httpx.AsyncClient(base_url=ours_url, limits=limits, timeout=60) as our_http:
                war_rooms = await open_rooms(world, SlackDriver(our_http, SLACK_SIGNING_SECRET, "incident", ""), rooms)
                await measure(world, bare_http, our_http, war_rooms, seconds, rates, rooms, database_url,
                              processes[0].pid)
        finally:
            for process in processes:
                process.terminate()
                await process.wait()
            await world.stop()


async def measure(world: World, bare_http: httpx.AsyncClient, our_http: httpx.AsyncClient,
                  war_rooms: list[tuple[str, int]], seconds: float, rates: list[float], rooms: int,
                  database_url: str | None, server_pid: int) -> None:
    ana = world.slack.add_user("ana@example.com", "Ana")
    bare = SlackDriver(bare_http, SLACK_SIGNING_SECRET, "incident", "http://127.0.0.1:9/response")
    ours = SlackDriver(our_http, SLACK_SIGNING_SECRET, "incident", f"{world.slack.base_url}/response")
    noted: dict[str, tuple[int, float]] = {}

    def text_for(i: int, run: str) -> tuple[str, str, int]:
        channel, request = war_rooms[i % len(war_rooms)]
        kind = i % 10
        if kind < 7:
            return f"note {run} note {i}", channel, request
        if kind < 9:
            return f"priority {'P1' if i % 4 else 'P2'}", channel, request
        return "status", channel, request

    async def timed(driver: SlackDriver, text: str, channel: str) -> float:
        t0 = time.perf_counter()
        answer = await driver.command(text, user=ana, channel=channel)
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200:
            raise SystemExit(f"{text!r} answered {answer.status_code}: {answer.text[:200]}")
        return elapsed

    def sender(driver: SlackDriver, run: str, track: bool) -> Send:
        async def send(i: int) -> float:
            text, channel, request = text_for(i, run)
            if track and text.startswith("note"):
                noted[text.removeprefix("note ")] = (request, time.perf_counter())
            return await timed(driver, text, channel)
        return send

    async def visible() -> list[float]:
        """Wait until every note is on its request; the time each took from its command."""
        seen: dict[str, float] = {}
        deadline = time.monotonic() + 180
        while len(seen) < len(noted) and time.monotonic() < deadline:
            now = time.perf_counter()
            for text, (request, sent) in noted.items():
                if text not in seen and any(n["text"] == text for n in world.xurrent.notes(request)):
                    seen[text] = now - sent
            await asyncio.sleep(0.005)
        if len(seen) < len(noted):
            raise SystemExit(f"{len(noted) - len(seen)} notes never reached Xurrent")
        return list(seen.values())

    await drive(sender(bare, "warm", False), 20, 1)  # connections, bolt's authorisation, caches
    await drive(sender(ours, "warm", True), 20, 1)
    await visible()
    noted.clear()
    db = "PostgreSQL" if database_url else "SQLite"
    print(f"bench/commands  ({db}; {rooms} war rooms; {seconds:g} s per rate; open-loop signed /incident over loopback "
          "to `warroom serve` and to a bare slack-bolt app, each in its own process; mix: 70% note, 20% priority, "
          "10% status)")
    print(f"{'rate':>6} {'bare p50':>9} {'bare p99':>9} {'ours p50':>9} {'ours p99':>9} "
          f"{'p50 ×':>6} {'p99 ×':>6} {'on ITSM p50':>12} {'p99':>8} {'CPU/command':>12}")
    for rate in rates:
        run = f"r{rate:g}"
        base = await drive(sender(bare, run, False), rate, seconds)
        cpu = cpu_seconds(server_pid)
        mine = await drive(sender(ours, run, True), rate, seconds)
        reach = await visible()
        per_command = (cpu_seconds(server_pid) - cpu) / len(mine)
        noted.clear()
        b50, b99 = percentile(base, 0.5), percentile(base, 0.99)
        o50, o99 = percentile(mine, 0.5), percentile(mine, 0.99)
        print(f"{rate:>5g}/s {b50 * 1000:>7.1f}ms {b99 * 1000:>7.1f}ms {o50 * 1000:>7.1f}ms "
              f"{o99 * 1000:>7.1f}ms {o50 / b50:>6.2f} {o99 / b99:>6.2f} "
              f"{statistics.median(reach) * 1000:>10.0f}ms {percentile(reach, 0.99) * 1000:>6.0f}ms "
              f"{per_command * 1000:>10.1f}ms")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        serve_bare(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="50,200", help="commands per second, comma-separated")
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--postgres", help="PostgreSQL URL instead of SQLite (postgresql+asyncpg://…)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [float(r) for r in args.rates.split(",")], args.rooms, args.postgres))
