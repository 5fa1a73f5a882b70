"""The Twilio emulator as Twilio's clients see it, over raw HTTP: Basic auth, validation with Twilio's error codes,
list filters and pages, 429s; and as an application sees it: signed TwiML fetches (POST and GET), signed inbound
SMS with the TwiML reply sent back, forged signatures detected, application errors on a call."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.adapters.twilio_app import TwilioApp, twilio_app
from warroom.adapters.twilio import signature as adapter_signature
from warroom.adapters.twilio import valid_signature
from warroom.sandbox.base import EmulatorConfig, bound_port
from warroom.sandbox.twilio import TwilioEmulator, sign

DANA = "+14155550142"
API_KEY = "SK" + "3" * 32


@pytest.fixture
async def emu() -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator(EmulatorConfig(), api_keys={API_KEY: "key-secret"})
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def app(emu: TwilioEmulator) -> AsyncIterator[TwilioApp]:
    async with twilio_app(emu.auth_token) as running:
        emu.sms_webhook_url = running.url("/sms")
        yield running


def basic(user: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()}


@pytest.fixture
async def http(emu: TwilioEmulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{emu.base_url}/2010-04-01/Accounts/{emu.account_sid}",
                                 headers=basic(emu.account_sid, emu.auth_token)) as client:
        yield client


async def send(http: httpx.AsyncClient, **form: Any) -> httpx.Response:
    return await http.post("/Messages.json", data={"To": DANA, "From": "+15005550006", "Body": "page", **form})


def test_the_emulators_signature_is_twilios() -> None:
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234", "From": "+12349013030",
              "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign("12345", url, params.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" == adapter_signature("12345", url, params)


async def test_basic_auth_with_the_token_or_an_api_key(emu: TwilioEmulator, http: httpx.AsyncClient) -> None:
    assert (await send(http)).status_code == 201
    for headers in (basic(emu.account_sid, "wrong"), basic(API_KEY, "wrong"), {}, {"Authorization": "Basic !!"}):
        async with httpx.AsyncClient(base_url=str(http.base_url)) as anonymous:
            refused = await anonymous.post("/Messages.json", data={"To": DANA, "Body": "x"}, headers=headers)
        assert refused.status_code == 401 and refused.json()["code"] == 20003
        assert refused.headers["WWW-Authenticate"].startswith("Basic")
    keyed = await http.post("/Messages.json", data={"To": DANA, "From": "+15005550006", "Body": "x"},
                            headers=basic(API_KEY, "key-secret"))
    assert keyed.status_code == 201
    other = await http.get(f"{emu.base_url}/2010-04-01/Accounts/AC{'9' * 32}/Messages.json")
    assert other.status_code == 401


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": ""}, 21604),
        ({"To": "4155550142"}, 21211),
        ({"From": ""}, 21603),
        ({"From": "+15005550001"}, 21606),
        ({"Body": ""}, 21602),
        ({"Body": "x" * 1601}, 21617),
        ({"StatusCallback": "ftp://example.com/cb"}, 21609),
        ({"MessagingServiceSid": "MG" + "0" * 32}, 21701),
    ],
)
async def test_messages_are_validated_with_twilios_codes(
    http: httpx.AsyncClient, emu: TwilioEmulator, form: dict[str, str], code: int
) -> None:
    refused = await send(http, **form)
    body = refused.json()
    assert refused.status_code == 400 and body["code"] == code and body["status"] == 400
    assert body["more_info"].endswith(f"/{code}") and body["message"]
    assert emu.messages == {}


async def test_a_message_resource_and_its_life(http: httpx.AsyncClient, emu: TwilioEmulator) -> None:
    created = (await send(http, Body="[P1] INC-42")).json()
    assert created["sid"].startswith("SM") and created["status"] == "queued" and created["date_sent"] is None
    assert created["direction"] == "outbound-api" and created["num_segments"] == "1"
    assert created["date_created"].endswith("+0000")
    await emu.settled()
    fetched = (await http.get(f"/Messages/{created['sid']}.json")).json()
    assert fetched["status"] == "delivered" and fetched["date_sent"]
    missing = await http.get(f"/Messages/SM{'0' * 32}.json")
    assert missing.status_code == 404 and missing.json()["code"] == 20404


async def test_lists_filter_by_number_and_date_and_page(http: httpx.AsyncClient, emu: TwilioEmulator) -> None:
    emu.step_delay = 3600.0  # nothing gets sent: every message stays queued
    for n in range(5):
        assert (await send(http, Body=f"page {n}")).status_code == 201
    await send(http, To="+14155550199", Body="someone else")
    listed = (await http.get("/Messages.json", params={"To": DANA, "PageSize": 2})).json()
    assert [m["body"] for m in listed["messages"]] == ["page 4", "page 3"]  # newest first
    assert listed["page_size"] == 2 and listed["next_page_uri"]
    following = (await http.get(f"{emu.base_url}{listed['next_page_uri']}")).json()
    assert [m["body"] for m in following["messages"]] == ["page 2", "page 1"]
    today = listed["messages"][0]["date_created"]
    assert today
    dated = (await http.get("/Messages.json", params={"To": DANA, "DateSent>": "2000-01-01"})).json()
    assert dated["messages"] == []  # queued messages have no date_sent: a date filter leaves them out
    bad = await http.get("/Messages.json", params={"DateSent>": "yesterday"})
    assert bad.status_code == 400


async def test_the_rate_limit_answers_429_with_twilios_code(http: httpx.AsyncClient, emu: TwilioEmulator) -> None:
    emu.sms_per_second = 1
    assert (await send(http)).status_code == 201
    limited = await send(http)
    assert limited.status_code == 429 and limited.json()["code"] == 20429
    assert int(limited.headers["Retry-After"]) >= 1
    assert len(emu.messages) == 1
    emu.inject("POST Calls", "ratelimit", retry_after=7)
    faulted = await http.post("/Calls.json", data={"To": DANA, "From": "+15005550006", "Url": "https://x.example/v"})
    assert faulted.status_code == 429 and faulted.headers["Retry-After"] == "7"


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"To": ""}, 21201),
        ({"To": "555"}, 21211),
        ({"From": ""}, 21213),
        ({"From": "+15005550001"}, 21210),
        ({"Url": ""}, 21205),
        ({"StatusCallbackEvent": "hungup"}, 21626),
    ],
)
async def test_calls_are_validated_with_twilios_codes(
    http: httpx.AsyncClient, emu: TwilioEmulator, form: dict[str, str], code: int
) -> None:
    data = {"To": DANA, "From": "+15005550006", "Url": "https://warroom.example/voice", **form}
    refused = await http.post("/Calls.json", data=data)
    assert refused.status_code == 400 and refused.json()["code"] == code
    assert emu.phone_calls == {}


async def test_twiml_fetched_by_get_is_signed_over_the_whole_url(
    http: httpx.AsyncClient, emu: TwilioEmulator, app: TwilioApp
) -> None:
    seen: list[tuple[str, bool]] = []

    async def voice(request: web.Request) -> web.Response:
        url = str(request.url)
        seen.append((url, valid_signature(emu.auth_token, url, None, request.headers.get("X-Twilio-Signature"))))
        return web.Response(text="<Response><Say>Hello.</Say></Response>", content_type="text/xml")

    extra = web.Application()
    extra.router.add_get("/voice", voice)
    runner = web.AppRunner(extra, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{bound_port(site)}/voice?page=42"
        created = await http.post("/Calls.json", data={"To": DANA, "From": "+15005550006", "Url": url, "Method": "GET"})
        assert created.status_code == 201
        await emu.settled()
    finally:
        await runner.cleanup()
    ((fetched, ok),) = seen
    assert ok and fetched.startswith(url + "&") and "CallSid=CA" in fetched
    call = emu.phone_calls[created.json()["sid"]]
    assert call.said == ["Hello."] and emu.call_records[call.sid]["status"] == "completed"


async def test_inbound_sms_is_signed_and_the_twiml_reply_is_sent_back(emu: TwilioEmulator, app: TwilioApp) -> None:
    reply = await emu.inbound_sms(DANA, "+15005550006", "42 ack")
    assert reply.status == 200 and reply.messages == ["Acknowledged INC-42. Thank you."]
    (received,) = app.on("/sms")
    assert received.valid
    params = received.params
    assert params["From"] == DANA and params["To"] == "+15005550006" and params["Body"] == "42 ack"
    assert params["MessageSid"] == params["SmsSid"] == params["SmsMessageSid"] and params["NumMedia"] == "0"
    assert params["AccountSid"] == emu.account_sid and params["SmsStatus"] == "received"
    assert app.acknowledged == [params["MessageSid"]]
    (sent_back,) = emu.sms_to(DANA)
    assert sent_back["direction"] == "outbound-reply" and sent_back["body"] == "Acknowledged INC-42. Thank you."
    assert sent_back["status"] == "delivered"
    assert emu.messages[params["MessageSid"]]["direction"] == "inbound"


async def test_a_forged_inbound_sms_is_detected(emu: TwilioEmulator, app: TwilioApp) -> None:
    reply = await emu.inbound_sms(DANA, "+15005550006", "42 ack", signature="0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
    assert reply.status == 403 and reply.messages == []
    (received,) = app.on("/sms")
    assert not received.valid and app.acknowledged == []
    assert emu.sms_to(DANA) == []


async def test_a_digit_without_a_gather_and_no_input(http: httpx.AsyncClient, emu: TwilioEmulator, app: TwilioApp) -> None:
    created = await http.post("/Calls.json", data={"To": DANA, "From": "+15005550006", "Url": app.url("/voice")})
    sid = created.json()["sid"]
    call = await emu.no_input(sid)  # nothing pressed: the verbs after the Gather run
    assert call.said[-1] == "We did not hear from you. Goodbye." and emu.call_records[sid]["status"] == "completed"
    with pytest.raises(RuntimeError, match="not waiting"):
        await emu.press(sid, "1")


async def test_an_application_error_ends_the_call(http: httpx.AsyncClient, emu: TwilioEmulator, app: TwilioApp) -> None:
    created = await http.post("/Calls.json", data={"To": DANA, "From": "+15005550006", "Url": app.url("/missing")})
    await emu.settled()
    call = emu.phone_calls[created.json()["sid"]]
    assert call.errors and call.errors[0].startswith("11200")
    assert "application error" in call.said[0] and emu.call_records[call.sid]["status"] == "completed"


async def test_inline_twiml_and_a_forged_status_callback(http: httpx.AsyncClient, emu: TwilioEmulator, app: TwilioApp) -> None:
    created = await http.post("/Calls.json", data={
        "To": DANA, "From": "+15005550006", "Twiml": "<Response><Say>Inline.</Say><Hangup/></Response>",
        "StatusCallback": app.url("/status"), "StatusCallbackEvent": ["initiated", "completed"],
    })
    await emu.settled()
    sid = created.json()["sid"]
    assert emu.phone_calls[sid].said == ["Inline."]
    assert app.statuses(sid, "CallStatus") == ["initiated", "completed"]
    assert all(r.valid for r in app.on("/status"))
    # a request that did not come from Twilio: the application's check refuses it
    async with httpx.AsyncClient() as outsider:
        forged = await outsider.post(app.url("/status"), data={"CallSid": sid, "CallStatus": "completed"},
                                     headers={"X-Twilio-Signature": emu.sign(app.url("/status"), {"CallSid": sid})})
    assert forged.status_code == 403 and not app.on("/status")[-1].valid
