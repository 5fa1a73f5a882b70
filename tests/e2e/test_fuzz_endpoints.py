"""Every endpoint of `warroom serve` under hostile input (hypothesis): headers, encodings, sizes, nesting, types.

Whatever arrives — unsigned or signed, compressed or claiming to be, not UTF-8, nested 5,000 deep, 2 MB, JSON of
any shape — the answer is never a 5xx, and a refused body (4xx) leaves nothing behind: no incident, alert,
change, inbox entry, timeline event or outbox job. The server runs with Slack and Teams both on (Teams checks Bot
Framework tokens) and a Xurrent webhook policy, without workers, on its own event loop in a thread so that hypothesis
drives it synchronously; examples are derandomised so that CI reproduces what a run here saw.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from warroom.sandbox.harness import Harness
from warroom.sandbox.world import INTAKE_TOKEN, SLACK_SIGNING_SECRET, World
from warroom.store import schema

from .teams_bot_helpers import TeamsSide

T = TypeVar("T")

INTAKE = ["/alerts/alertmanager", "/alerts/grafana", "/alerts/generic", "/events/changes"]
SIGNED = ["/slack/events", "/webhooks/xurrent", "/api/messages"]
TABLES = [schema.incidents, schema.alerts, schema.changes, schema.inbox, schema.timeline, schema.outbox]


@dataclass
class Server:
    loop: asyncio.AbstractEventLoop
    harness: Harness
    teams: TeamsSide

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def counts(self) -> dict[str, int]:
        async with self.harness.runtime.store.read() as tx:
            return {t.name: int((await tx.conn.execute(select(func.count()).select_from(t))).scalar_one()) for t in TABLES}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    db = tmp_path_factory.mktemp("fuzz") / "warroom.db"

    async def start() -> Server:
        world = await World.start()
        teams = await TeamsSide.start(world)

        def both(data: dict[str, Any]) -> None:
            data["teams"].update(enabled=True, auth_enabled=True, openid_metadata_url=teams.client.openid_metadata_url)

        # no workers: nothing changes the tables but the requests themselves, so "a refused body stored nothing"
        # is a clean comparison; a webhook policy of its own, so Xurrent deliveries are parsed and verified
        harness = await Harness.start(f"sqlite+aiosqlite:///{db}", world=world, tweak=both, workers=False)
        key = RSAKey.generate_key(2048)
        async with harness.runtime.store.tx() as tx:
            await tx.policies.put("fuzz", "RS256", "https://fuzz.xurrent.com", harness.settings.server.public_url or "",
                                  key.as_pem(private=False).decode())
        return Server(loop, harness, teams)

    srv = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    yield srv

    async def stop() -> None:
        await srv.harness.stop()
        await srv.teams.stop()

    asyncio.run_coroutine_threadsafe(stop(), loop).result(60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=25,
)


def _am_shaped(value: Any) -> bytes:
    """An Alertmanager-looking document with one part replaced by anything."""
    doc: dict[str, Any] = {"version": "4", "status": "firing", "groupKey": "{}", "alerts": [
        {"status": "firing", "labels": {"alertname": "X", "service": "checkout-api", "severity": "critical"},
         "annotations": {}, "startsAt": "2026-01-01T00:00:00Z", "fingerprint": "f1"}]}
    doc["alerts"][0]["labels"]["alertname"] = value if isinstance(value, str) else doc["alerts"][0]["labels"]["alertname"]
    doc["alerts"][0]["annotations"] = value
    return json.dumps(doc).encode()


bodies = st.one_of(
    st.binary(max_size=1024),
    json_values.map(lambda v: json.dumps(v).encode()),
    json_values.map(_am_shaped),
    st.integers(1, 6000).map(lambda n: b"[" * n + b"]" * n),
    st.integers(1, 6000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.integers(1, 3000).map(lambda n: b'{"payload": ' + b"[" * n + b"]" * n + b"}"),
    st.sampled_from([b"", b"\xff\xfe\x00", "é".encode("latin-1"), b"NaN", b'{"title": "x", "labels": NaN}',
                     b'{"jwt": "a.b.c"}', b"1" * 5000, b"x" * (2 * 1024 * 1024)]),
)
encodings = st.sampled_from([None, None, "gzip", "deflate", "br", "identity", "x-garbage", "gzip, deflate"])
content_types = st.sampled_from([None, "application/json", "application/x-www-form-urlencoded", "text/plain",
                                 "multipart/form-data; boundary=x", "application/json; charset=latin-1"])


def _slack_signature(body: bytes, *, stale: bool = False) -> dict[str, str]:
    ts = str(int(time.time()) - (3600 if stale else 0))
    sig = "v0=" + hmac.new(SLACK_SIGNING_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig}


@st.composite
def requests(draw: st.DrawFn) -> tuple[str, dict[str, str], bytes]:
    path = draw(st.sampled_from(INTAKE + SIGNED))
    body = draw(bodies)
    if path == "/slack/events" and draw(st.booleans()):
        body = urlencode({draw(st.sampled_from(["payload", "command", "text"])): body.decode("latin-1")}).encode()
    headers: dict[str, str] = {}
    ctype = draw(content_types)
    if ctype:
        headers["Content-Type"] = ctype
    encoding = draw(encodings)
    if encoding:
        headers["Content-Encoding"] = encoding
        if encoding == "gzip" and draw(st.booleans()):
            body = gzip.compress(body)
        elif encoding == "deflate" and draw(st.booleans()):
            body = zlib.compress(body)
    auth = draw(st.sampled_from(["valid", "valid", "none", "wrong", "stale"]))
    if path in INTAKE and auth != "none":
        headers["Authorization"] = f"Bearer {INTAKE_TOKEN if auth == 'valid' else 'nope'}"
    elif path == "/slack/events" and auth in ("valid", "stale"):
        # signed over the bytes as sent (compressed or not): the signature is right, the body is the test
        headers.update(_slack_signature(body, stale=auth == "stale"))
    elif path == "/slack/events" and auth == "wrong":
        headers.update({"X-Slack-Request-Timestamp": "x" * 10, "X-Slack-Signature": "v0=zz"})
    elif path == "/api/messages" and auth != "none":
        headers["Authorization"] = draw(st.sampled_from(["Bearer a.b.c", "Bearer", "Basic x", "Bearer " + "A" * 5000]))
    return path, headers, body


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(request=requests())
def test_no_input_gets_a_5xx_and_a_refused_body_leaves_nothing(server: Server, request: tuple[str, dict[str, str], bytes]) -> None:
    path, headers, body = request

    async def send() -> tuple[int, str, dict[str, int], dict[str, int]]:
        before = await server.counts()
        response = await server.harness.http.post(path, content=body, headers=headers)
        after = await server.counts()
        return response.status_code, response.text[:300], before, after

    status, text, before, after = server.run(send())
    assert status < 500, f"{path} answered {status}: {text}"
    if status >= 400:
        assert after == before, f"{path} refused with {status} ({text}) but stored {before} → {after}"
        if status != 404 and path != "/api/messages":
            assert text.strip(), f"{path} refused with {status} and no reason"
