"""The Zoom and Webex emulators over real HTTP: auth, validation, pagination, rate limits, the daily create limit."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.webex import WebexEmulator
from warroom.sandbox.zoom import ZoomEmulator

ZOOM_USERS = {"owner@example.com": "zOwner01", "other@example.com": "zOther02"}
WEBEX_TOKEN = "test-webex-token"
CREATE = "POST /users/{userId}/meetings"


def basic(client_id: str = "zoom-sandbox", secret: str = "zoom-secret") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


# -- Zoom -------------------------------------------------------------------------------------------
@pytest.fixture
async def zoom() -> AsyncIterator[tuple[ZoomEmulator, httpx.AsyncClient]]:
    emu = ZoomEmulator(EmulatorConfig(), users=ZOOM_USERS)
    base = await emu.start()
    async with httpx.AsyncClient(base_url=base) as http:
        yield emu, http
    await emu.stop()


async def zoom_token(http: httpx.AsyncClient) -> dict[str, str]:
    form = {"grant_type": "account_credentials", "account_id": "sandbox-account"}
    answer = await http.post("/oauth/token", data=form, headers=basic())
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def zoom_create(http: httpx.AsyncClient, auth: dict[str, str], user: str = "me", **body: Any) -> httpx.Response:
    return await http.post(f"/v2/users/{user}/meetings", json={"topic": "Bridge", "type": 2, **body}, headers=auth)


async def test_zoom_token_for_good_credentials(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    answer = await http.post("/oauth/token", data={"grant_type": "account_credentials", "account_id": "sandbox-account"},
                             headers=basic())
    body = answer.json()
    assert answer.status_code == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["access_token"] and "meeting:write:meeting:admin" in body["scope"]
    assert body["api_url"] == emu.base_url
    # Zoom's docs put the parameters in the query string; that works too
    query = await http.post("/oauth/token?grant_type=account_credentials&account_id=sandbox-account", headers=basic())
    assert query.status_code == 200 and emu.tokens_issued == 2


@pytest.mark.parametrize(
    ("form", "headers", "status", "error", "reason"),
    [
        ({"grant_type": "account_credentials", "account_id": "sandbox-account"}, basic(secret="wrong"), 400,
         "invalid_client", "Invalid client_id or client_secret"),
        ({"grant_type": "account_credentials", "account_id": "sandbox-account"}, {}, 401, "invalid_client",
         "Client ID or client secret is missing."),
        ({"grant_type": "client_credentials", "account_id": "sandbox-account"}, basic(), 400,
         "unsupported_grant_type", "unsupported grant type"),
        ({"account_id": "sandbox-account"}, basic(), 400, "invalid_request", "Missing grant type."),
        ({"grant_type": "account_credentials", "account_id": "someone-else"}, basic(), 400, "invalid_request",
         "Account does not exist"),
    ],
)
async def test_zoom_token_refusals_use_zoom_oauth_shape(
    zoom: tuple[ZoomEmulator, httpx.AsyncClient], form: dict[str, str], headers: dict[str, str], status: int,
    error: str, reason: str,
) -> None:
    emu, http = zoom
    answer = await http.post("/oauth/token", data=form, headers=headers)
    assert answer.status_code == status
    assert answer.json() == {"error": error, "reason": reason}
    assert emu.tokens_issued == 0


async def test_zoom_api_refuses_missing_unknown_and_expired_tokens(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    for headers in ({}, {"Authorization": "Bearer nonsense"}):
        answer = await http.get("/v2/users/me/meetings", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"code": 124, "message": "Invalid access token."}
    auth = await zoom_token(http)
    assert (await http.get("/v2/users/me/meetings", headers=auth)).status_code == 200
    emu.expire_tokens()
    expired = await http.get("/v2/users/me/meetings", headers=auth)
    assert expired.status_code == 401 and expired.json()["code"] == 124
    # and by the clock: tokens live token_lifetime seconds
    fresh = await zoom_token(http)
    now = time.time()
    emu.clock = lambda: now + 3601
    assert (await http.get("/v2/users/me/meetings", headers=fresh)).status_code == 401


async def test_zoom_create_answers_the_whole_meeting(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    auth = await zoom_token(http)
    start = iso(time.time())
    answer = await zoom_create(http, auth, topic="INC-7 checkout down", agenda="Bridge for INC-7", start_time=start,
                               duration=90, settings={"join_before_host": True, "waiting_room": False})
    assert answer.status_code == 201, answer.text
    m = answer.json()
    for key in ("id", "uuid", "host_id", "host_email", "topic", "type", "status", "start_url", "join_url", "password",
                "h323_password", "pstn_password", "encrypted_password", "settings", "created_at", "start_time"):
        assert key in m, key
    assert isinstance(m["id"], int) and m["type"] == 2 and m["status"] == "waiting"
    assert m["host_id"] == "zOwner01" and m["host_email"] == "owner@example.com"  # "me" is the account owner
    assert m["start_time"] == start and m["duration"] == 90 and m["agenda"] == "Bridge for INC-7"
    assert f"pwd={m['encrypted_password']}" in m["join_url"] and m["start_url"] != m["join_url"]
    assert m["settings"]["join_before_host"] is True and m["settings"]["waiting_room"] is False
    assert m["settings"]["global_dial_in_numbers"]
    assert emu.meetings[m["id"]] == m
    assert answer.headers["X-RateLimit-Remaining"] == "99"
    # the host may be named by email or id too; an instant meeting has no start time
    by_email = await zoom_create(http, auth, user="other@example.com", type=1)
    assert by_email.status_code == 201 and by_email.json()["host_id"] == "zOther02"
    assert "start_time" not in by_email.json()
    assert (await zoom_create(http, auth, user="zOther02")).status_code == 201
    # get and delete
    got = await http.get(f"/v2/meetings/{m['id']}", headers=auth)
    assert got.status_code == 200 and got.json()["start_url"] == m["start_url"]
    assert (await http.delete(f"/v2/meetings/{m['id']}", headers=auth)).status_code == 204
    gone = await http.get(f"/v2/meetings/{m['id']}", headers=auth)
    assert gone.status_code == 404 and gone.json() == {"code": 3001, "message": f"Meeting does not exist: {m['id']}."}
    assert m["id"] not in emu.meetings and emu.deleted[0]["id"] == m["id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"topic": "x" * 201}, "topic"),
        ({"type": 5}, "type"),
        ({"agenda": "a" * 2001}, "agenda"),
        ({"start_time": "tomorrow"}, "start_time"),
        ({"password": "far-too-long-passcode"}, "password"),
        ({"settings": {"join_before_host": "yes"}}, "settings.join_before_host"),
    ],
)
async def test_zoom_create_validation(
    zoom: tuple[ZoomEmulator, httpx.AsyncClient], body: dict[str, Any], field: str
) -> None:
    emu, http = zoom
    answer = await zoom_create(http, await zoom_token(http), **body)
    assert answer.status_code == 400
    error = answer.json()
    assert error["code"] == 300 and error["message"] == "Validation Failed."
    assert error["errors"][0]["field"] == field
    assert emu.meetings == {}


async def test_zoom_create_refuses_unknown_users_and_bodies_that_are_not_objects(
    zoom: tuple[ZoomEmulator, httpx.AsyncClient],
) -> None:
    _, http = zoom
    auth = await zoom_token(http)
    nobody = await zoom_create(http, auth, user="nobody@example.com")
    assert nobody.status_code == 404
    assert nobody.json() == {"code": 1001, "message": "User does not exist: nobody@example.com."}
    listed = await http.get("/v2/users/nobody/meetings", headers=auth)
    assert listed.status_code == 404 and listed.json()["code"] == 1001
    junk = await http.post("/v2/users/me/meetings", content=b"[1, 2]", headers=auth)
    assert junk.status_code == 400 and junk.json()["message"] == "Request Body should be a valid JSON object."


async def test_zoom_get_user_with_its_type_and_status(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    emu.add_user("basic@example.com", "zBasic03", user_type=1, status="pending")
    auth = await zoom_token(http)
    me = await http.get("/v2/users/me", headers=auth)
    assert me.status_code == 200
    owner = me.json()
    assert (owner["id"], owner["email"], owner["type"], owner["status"]) == ("zOwner01", "owner@example.com", 2, "active")
    assert owner["account_id"] == "sandbox-account" and owner["role_name"] == "Owner"
    basic = (await http.get("/v2/users/BASIC@example.com", headers=auth)).json()
    assert (basic["id"], basic["type"], basic["status"]) == ("zBasic03", 1, "pending")
    nobody = await http.get("/v2/users/nobody@example.com", headers=auth)
    assert nobody.status_code == 404
    assert nobody.json() == {"code": 1001, "message": "User does not exist: nobody@example.com."}


async def test_zoom_tokens_carry_the_scopes_of_their_issue(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    before = await zoom_token(http)
    emu.scopes.discard("user:read:user:admin")
    after = await zoom_token(http)
    refused = await http.get("/v2/users/me", headers=after)
    assert refused.status_code == 400
    assert refused.json() == {
        "code": 4711, "message": "Invalid access token, does not contain scopes:[user:read:user:admin, user:read:admin]."}
    assert (await http.get("/v2/users/me", headers=before)).status_code == 200  # issued with the scope
    assert (await http.get("/v2/users/me/meetings", headers=after)).status_code == 200  # other scopes still there
    emu.scopes.discard("meeting:write:meeting:admin")
    assert (await zoom_create(http, await zoom_token(http))).json()["code"] == 4711
    assert emu.meetings == {}


async def test_zoom_list_pages_with_next_page_token_and_hides_host_fields(
    zoom: tuple[ZoomEmulator, httpx.AsyncClient],
) -> None:
    emu, http = zoom
    auth = await zoom_token(http)
    created = [(await zoom_create(http, auth, topic=f"Bridge {i}")).json() for i in range(5)]
    await zoom_create(http, auth, topic="Instant", type=1)  # instant meetings are never listed
    await zoom_create(http, auth, user="zOther02", topic="Someone else's")
    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 2}
    pages = 0
    while True:
        page = (await http.get("/v2/users/me/meetings", params=params, headers=auth)).json()
        pages += 1
        assert page["total_records"] == 5 and page["page_size"] == 2
        seen.extend(page["meetings"])
        if not page["next_page_token"]:
            break
        params = {"page_size": 2, "next_page_token": page["next_page_token"]}
    assert pages == 3
    assert sorted(m["id"] for m in seen) == sorted(m["id"] for m in created)
    for item in seen:
        assert "start_url" not in item and "password" not in item and item["join_url"]
    # page_size above the maximum is cut to it
    big = (await http.get("/v2/users/me/meetings", params={"page_size": 1000}, headers=auth)).json()
    assert big["page_size"] == 300 and len(big["meetings"]) == 5
    # a made-up token is refused
    bad = await http.get("/v2/users/me/meetings", params={"next_page_token": "made-up"}, headers=auth)
    assert bad.status_code == 400 and bad.json()["code"] == 300
    # live: only meetings someone started; upcoming includes them
    emu.start_meeting(created[1]["id"])
    live = (await http.get("/v2/users/me/meetings", params={"type": "live"}, headers=auth)).json()
    assert [m["id"] for m in live["meetings"]] == [created[1]["id"]]
    upcoming = (await http.get("/v2/users/me/meetings", params={"type": "upcoming"}, headers=auth)).json()
    assert upcoming["total_records"] == 5
    wrong = await http.get("/v2/users/me/meetings", params={"type": "everything"}, headers=auth)
    assert wrong.status_code == 400


async def test_zoom_per_second_create_limit(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    auth = await zoom_token(http)
    emu.create_per_second = 2
    emu.monotonic = lambda: 1000.0  # every request falls in the same second
    assert (await zoom_create(http, auth)).status_code == 201
    assert (await zoom_create(http, auth)).status_code == 201
    limited = await zoom_create(http, auth)
    assert limited.status_code == 429
    assert limited.json() == {"code": 429, "message": "You have reached the maximum per-second rate limit for this API. Try again later."}
    assert limited.headers["X-RateLimit-Type"] == "QPS" and limited.headers["X-RateLimit-Category"] == "Medium"
    assert limited.headers["Retry-After"] == "1" and limited.headers["X-RateLimit-Remaining"] == "0"
    assert len(emu.meetings) == 2
    emu.monotonic = lambda: 1001.5  # a second later
    assert (await zoom_create(http, auth)).status_code == 201


async def test_zoom_daily_create_limit_per_user_until_midnight_utc(zoom: tuple[ZoomEmulator, httpx.AsyncClient]) -> None:
    emu, http = zoom
    auth = await zoom_token(http)
    emu.daily_create_limit = 2
    assert (await zoom_create(http, auth)).headers["X-RateLimit-Remaining"] == "1"
    assert (await zoom_create(http, auth)).headers["X-RateLimit-Remaining"] == "0"
    limited = await zoom_create(http, auth)
    assert limited.status_code == 429
    assert limited.json()["message"].startswith("You have exceeded the daily rate limit (2) of Meeting Create/Update")
    assert limited.headers["X-RateLimit-Type"] == "Daily-limit"
    resume = datetime.fromisoformat(limited.headers["Retry-After"].replace("Z", "+00:00"))
    assert resume.tzinfo == UTC and (resume.hour, resume.minute, resume.second) == (0, 0, 0)
    assert 0 < resume.timestamp() - time.time() <= 86400
    # the limit is per user: another host may still create
    assert (await zoom_create(http, auth, user="other@example.com")).status_code == 201
    # and it resets at 00:00 UTC
    emu.clock = lambda: resume.timestamp() + 1
    again = await zoom_token(http)
    assert (await zoom_create(http, again)).status_code == 201


async def test_zoom_limits_off_and_injected_rate_limit_in_zoom_shape() -> None:
    emu = ZoomEmulator(EmulatorConfig(rate_limits=False), users=ZOOM_USERS)
    base = await emu.start()
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            auth = await zoom_token(http)
            emu.daily_create_limit = 1
            assert (await zoom_create(http, auth)).status_code == 201
            assert (await zoom_create(http, auth)).status_code == 201
            emu.inject(CREATE, "ratelimit", retry_after=3)
            limited = await zoom_create(http, auth)
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "3"
            assert limited.json()["code"] == 429 and limited.headers["X-RateLimit-Type"] == "QPS"
            state = (await http.get("/_sandbox/state")).json()
            assert len(state["meetings"]) == 2 and state["tokens_issued"] == 1
            assert [c["status"] for c in (await http.get("/_sandbox/calls")).json() if c["op"] == CREATE] == [201, 201, 429]
            joined = await http.get(state["meetings"][0]["join_url"])
            assert joined.status_code == 200
    finally:
        await emu.stop()


# -- Webex ------------------------------------------------------------------------------------------
@pytest.fixture
async def webex() -> AsyncIterator[tuple[WebexEmulator, httpx.AsyncClient]]:
    emu = WebexEmulator(EmulatorConfig(), token=WEBEX_TOKEN)
    emu.per_second_limit = 1000  # tests about it lower it again
    base = await emu.start()
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {WEBEX_TOKEN}"}) as http:
        yield emu, http
    await emu.stop()


def schedule(title: str = "INC-9 payments", minutes_ahead: float = 1, hours: float = 2, **extra: Any) -> dict[str, Any]:
    start = time.time() + 60 * minutes_ahead
    return {"title": title, "start": iso(start), "end": iso(start + hours * 3600), **extra}


async def test_webex_refuses_missing_and_wrong_tokens_with_its_error_body(
    webex: tuple[WebexEmulator, httpx.AsyncClient],
) -> None:
    emu, http = webex
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer wrong"}):
        answer = await http.get("/v1/meetings", headers=headers)
        assert answer.status_code == 401
        body = answer.json()
        assert body["message"] == "The request requires a valid access token set in the Authorization request header."
        assert body["errors"] == [{"description": body["message"]}]
        assert body["trackingId"] and answer.headers["TrackingID"] == body["trackingId"]
    assert emu.meetings == {}


async def test_webex_create_scheduled_meeting(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    answer = await http.post("/v1/meetings", json=schedule(agenda="Bridge", enabledJoinBeforeHost=True,
                                                              joinBeforeHostMinutes=15))
    assert answer.status_code == 200, answer.text
    m = answer.json()
    for key in ("id", "meetingNumber", "title", "webLink", "sipAddress", "password", "telephony", "hostEmail",
                "hostKey", "state", "start", "end", "meetingType"):
        assert key in m, key
    assert m["meetingType"] == "meetingSeries" and m["state"] == "active" and m["title"] == "INC-9 payments"
    assert m["start"].endswith(":00Z") and m["sipAddress"] == f"{m['meetingNumber']}@sandbox.webex.com"
    assert m["telephony"]["accessCode"] == m["meetingNumber"] and m["telephony"]["callInNumbers"]
    assert m["enabledJoinBeforeHost"] is True and m["joinBeforeHostMinutes"] == 15
    assert emu.meetings[m["id"]]["hostKey"] == m["hostKey"]
    got = await http.get(f"/v1/meetings/{m['id']}")
    assert got.status_code == 200 and got.json()["webLink"] == m["webLink"]
    assert (await http.get(m["webLink"])).status_code == 200
    assert (await http.delete(f"/v1/meetings/{m['id']}")).status_code == 204
    gone = await http.get(f"/v1/meetings/{m['id']}")
    assert gone.status_code == 404 and gone.json()["message"] == "Meeting not found."


async def test_webex_start_in_the_current_minute_moves_to_the_next(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    now = 1_900_000_020.0 + 17  # 17 s past a whole minute
    emu.clock = lambda: now
    m = (await http.post("/v1/meetings", json={"title": "t", "start": iso(now + 10), "end": iso(now + 3600)})).json()
    assert m["start"] == iso(now - 17 + 60) and m["end"] == iso(now - 17 + 3600)


@pytest.mark.parametrize(
    ("make_body", "description"),
    [
        (lambda: {"start": iso(time.time() + 600), "end": iso(time.time() + 4200)}, "title is required"),
        (lambda: {"title": "t" * 129, **{k: v for k, v in schedule().items() if k != "title"}}, "title can be at most 128"),
        (lambda: {"title": "t", "end": iso(time.time() + 3600)}, "start is required"),
        (lambda: {"title": "t", "start": iso(time.time() - 3600), "end": iso(time.time() + 3600)}, "start cannot be before"),
        (lambda: schedule(hours=-1), "end cannot be before start"),
        (lambda: schedule(hours=0.1), "between 10 minutes and 23 hours 59 minutes"),
        (lambda: schedule(hours=25), "between 10 minutes and 23 hours 59 minutes"),
        (lambda: schedule(agenda="a" * 1301), "agenda can be at most 1300"),
        (lambda: schedule(joinBeforeHostMinutes=7), "joinBeforeHostMinutes"),
        (lambda: {"title": "now", "adhoc": True}, "roomId is required"),
    ],
)
async def test_webex_create_validation(
    webex: tuple[WebexEmulator, httpx.AsyncClient], make_body: Callable[[], dict[str, Any]], description: str
) -> None:
    emu, http = webex
    answer = await http.post("/v1/meetings", json=make_body())  # times relative to when the test runs
    assert answer.status_code == 400
    error = answer.json()
    assert description in error["errors"][0]["description"] and error["trackingId"]
    assert emu.meetings == {}


async def test_webex_adhoc_meeting_needs_a_room_and_is_never_listed(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    answer = await http.post("/v1/meetings", json={"adhoc": True, "roomId": "Y2lzY29zcGFyazovL3Jvb20"})
    assert answer.status_code == 200
    m = answer.json()
    assert m["title"] == "Sandbox Host" and m["roomId"] == "Y2lzY29zcGFyazovL3Jvb20"
    assert emu.meetings[m["id"]]["end"] - emu.meetings[m["id"]]["start"] == 15 * 60
    assert (await http.get("/v1/meetings")).json()["items"] == []
    assert (await http.delete(f"/v1/meetings/{m['id']}")).status_code == 400


async def test_webex_list_pages_with_the_link_header(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    ids = [(await http.post("/v1/meetings", json=schedule(title=f"M{i}", minutes_ahead=i + 1))).json()["id"]
           for i in range(5)]
    far = (await http.post("/v1/meetings", json=schedule(title="Far", minutes_ahead=60 * 24 * 10))).json()
    seen: list[str] = []
    url: str | None = "/v1/meetings?max=2"
    pages = 0
    while url:
        answer = await http.get(url)
        pages += 1
        seen.extend(item["id"] for item in answer.json()["items"])
        url = answer.links.get("next", {}).get("url")
        assert url is None or url.startswith(emu.base_url)
    assert pages == 3 and seen == ids  # in start order; the far one is beyond the default 7 days
    window = {"from": iso(time.time() + 9 * 86400), "to": iso(time.time() + 11 * 86400)}
    assert [i["id"] for i in (await http.get("/v1/meetings", params=window)).json()["items"]] == [far["id"]]
    occurrences = (await http.get("/v1/meetings", params={"meetingType": "scheduledMeeting", "max": 100})).json()
    assert {o["meetingSeriesId"] for o in occurrences["items"]} == set(ids)
    assert all(o["meetingType"] == "scheduledMeeting" for o in occurrences["items"])
    assert (await http.get("/v1/meetings", params={"state": "expired"})).json()["items"] == []
    by_number = (await http.get("/v1/meetings", params={"meetingNumber": far["meetingNumber"]})).json()
    assert [i["id"] for i in by_number["items"]] == [far["id"]]
    for bad in ({"meetingType": "webinar"}, {"max": 101}, {"max": "ten"}, {"state": "sleeping"},
                {"from": iso(time.time() + 86400), "to": iso(time.time())}, {"from": "soon"}):
        assert (await http.get("/v1/meetings", params=bad)).status_code == 400, bad


async def test_webex_per_second_limit(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    emu.per_second_limit = 2
    emu.monotonic = lambda: 500.0
    assert (await http.get("/v1/meetings")).status_code == 200
    assert (await http.get("/v1/meetings")).status_code == 200
    limited = await http.get("/v1/meetings")
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert limited.json()["message"].startswith("Too many requests") and limited.json()["trackingId"]
    emu.monotonic = lambda: 501.5
    assert (await http.get("/v1/meetings")).status_code == 200


async def test_webex_daily_limit_counts_failed_requests_too() -> None:
    emu = WebexEmulator(EmulatorConfig(), token=WEBEX_TOKEN, daily_limit=3)
    base = await emu.start()
    clock = [10_000.0]
    emu.monotonic = lambda: clock[0]
    try:
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {WEBEX_TOKEN}"}) as http:
            assert (await http.post("/v1/meetings", json=schedule())).status_code == 200
            assert (await http.post("/v1/meetings", json={"title": "no times"})).status_code == 400
            clock[0] += 3600
            assert (await http.post("/v1/meetings", json=schedule())).status_code == 200
            limited = await http.post("/v1/meetings", json=schedule())
            assert limited.status_code == 429
            assert "24 hours (3)" in limited.json()["message"]
            assert int(limited.headers["Retry-After"]) == 86400 - 3600
            assert len(emu.meetings) == 2
            assert (await http.get("/v1/meetings")).status_code == 200  # reading is not limited by it
            clock[0] += 86400 - 3600
            assert (await http.post("/v1/meetings", json=schedule())).status_code == 200
            state = (await http.get("/_sandbox/state")).json()
            assert len(state["meetings"]) == 3
    finally:
        await emu.stop()


async def test_webex_scopes_read_and_write(webex: tuple[WebexEmulator, httpx.AsyncClient]) -> None:
    emu, http = webex
    emu.scopes.discard("meeting:schedules_write")
    for answer in (await http.post("/v1/meetings", json=schedule()), await http.delete(f"/v1/meetings/{'0' * 32}")):
        assert answer.status_code == 403
        assert answer.json()["message"] == "The request is understood, but it has been refused or access is not allowed."
    assert emu.meetings == {} and emu.deleted == []
    assert (await http.get("/v1/meetings")).status_code == 200
    assert (await http.get("/v1/people/me")).status_code == 200  # any valid token
    emu.scopes.add("meeting:schedules_write")
    gone = await http.delete(f"/v1/meetings/{'0' * 32}")  # allowed as far as the lookup
    assert gone.status_code == 404 and gone.json()["message"] == "Meeting not found."
    emu.scopes.discard("meeting:schedules_read")
    assert (await http.get("/v1/meetings")).status_code == 403
