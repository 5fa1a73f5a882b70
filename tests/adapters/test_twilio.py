"""The Twilio adapter over real HTTP against the emulator: SMS and calls sent, found again after a crash, the call's
TwiML fetched and a digit pressed, signed status callbacks checked by a small application with valid_signature,
Twilio's errors translated (numbers masked), and 429s honoured. Also Twilio's documented signature example."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.adapters.twilio_app import PAGE, TwilioApp, twilio_app
from warroom.adapters.errors import Permanent, RateLimited, Transient
from warroom.adapters.twilio import Twilio, mask, signature, valid_signature
from warroom.sandbox.base import EmulatorConfig
from warroom.sandbox.twilio import TwilioEmulator
from warroom.settings import Settings, TwilioSettings

DANA = "+14155550142"
ELI = "+442079460958"
API_KEY = "SK" + "1" * 32
SERVICE = "MG" + "2" * 32


# -- signatures -------------------------------------------------------------------------------------
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def test_signature_matches_twilios_documented_example() -> None:
    assert signature("12345", DOC_URL, DOC_PARAMS) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert signature("12345", DOC_URL, list(reversed(DOC_PARAMS.items()))) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_valid_signature_accepts_the_real_one_and_nothing_else() -> None:
    good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert valid_signature("12345", DOC_URL, DOC_PARAMS, good)
    assert valid_signature("12345", DOC_URL, DOC_PARAMS.items(), good)
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, None)
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, "")
    assert not valid_signature("12345", DOC_URL, DOC_PARAMS, "0/KCTR6DLpKmkAf8muzZqo1nDgQ")
    assert not valid_signature("54321", DOC_URL, DOC_PARAMS, good)
    assert not valid_signature("12345", DOC_URL, {**DOC_PARAMS, "Digits": "1235"}, good)
    assert not valid_signature("12345", DOC_URL + "&x=1", DOC_PARAMS, good)
    assert not valid_signature("", DOC_URL, DOC_PARAMS, good)


def test_the_default_port_may_be_written_or_left_out() -> None:
    url = "https://warroom.example.com/twilio/status?x=1"
    with_port = "https://warroom.example.com:443/twilio/status?x=1"
    params = {"CallSid": "CA1", "CallStatus": "ringing"}
    assert valid_signature("t", url, params, signature("t", with_port, params))
    assert valid_signature("t", with_port, params, signature("t", url, params))
    assert not valid_signature("t", "https://warroom.example.com:8443/twilio/status?x=1", params,
                               signature("t", url, params))


def test_numbers_are_masked_but_for_their_last_four_digits() -> None:
    assert mask("+14155550142") == "+*******0142"
    assert mask("0142") == "****"


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture
async def emu() -> AsyncIterator[TwilioEmulator]:
    emulator = TwilioEmulator(EmulatorConfig(), api_keys={API_KEY: "api-key-secret"},
                              messaging_services={SERVICE: ["+15005550007"]})
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def app(emu: TwilioEmulator) -> AsyncIterator[TwilioApp]:
    async with twilio_app(emu.auth_token) as running:
        emu.sms_webhook_url = running.url("/sms")
        yield running


@pytest.fixture
async def twilio(emu: TwilioEmulator) -> AsyncIterator[Callable[..., Twilio]]:
    made: list[Twilio] = []

    def make(**overrides: Any) -> Twilio:
        options = {k: overrides.pop(k) for k in ("max_retries", "max_inline_wait") if k in overrides}
        client = Twilio(TwilioSettings(**{**emu.settings(), **overrides}), **options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


# -- SMS --------------------------------------------------------------------------------------------
async def test_send_sms_and_its_signed_status_callbacks(
    emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio]
) -> None:
    sid = await twilio().send_sms(to=DANA, body="[P1] INC-42 checkout: reply '42 ack'", status_callback=app.url("/status"))
    assert sid.startswith("SM") and len(sid) == 34
    message = emu.messages[sid]
    assert message["to"] == DANA and message["from"] == emu.numbers[0]
    assert message["body"] == "[P1] INC-42 checkout: reply '42 ack'"
    await emu.settled()
    assert app.statuses(sid, "MessageStatus") == ["queued", "sent", "delivered"]
    assert all(r.valid for r in app.on("/status"))
    assert {r.params["SmsSid"] for r in app.on("/status")} == {sid}
    assert emu.messages[sid]["status"] == "delivered" and emu.messages[sid]["date_sent"]


async def test_an_undeliverable_number_reports_undelivered_with_its_error_code(
    emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio]
) -> None:
    emu.fail_sms(DANA, "undelivered", 30003)
    emu.fail_sms(ELI, "failed", 30006)
    dana = await twilio().send_sms(to=DANA, body="page", status_callback=app.url("/status"))
    eli = await twilio().send_sms(to=ELI, body="page", status_callback=app.url("/status"))
    await emu.settled()
    assert app.statuses(dana, "MessageStatus") == ["queued", "sent", "undelivered"]
    assert app.statuses(eli, "MessageStatus") == ["queued", "failed"]
    last = {r.params["MessageSid"]: r.params for r in app.on("/status")}
    assert last[dana]["ErrorCode"] == "30003" and last[eli]["ErrorCode"] == "30006"
    assert emu.messages[eli]["date_sent"] is None


async def test_an_api_key_and_a_messaging_service(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    client = twilio(api_key_sid=API_KEY, api_key_secret="api-key-secret", auth_token=None,
                    messaging_service_sid=SERVICE, from_number="")
    sid = await client.send_sms(to=DANA, body="via the service")
    assert emu.messages[sid]["messaging_service_sid"] == SERVICE and emu.messages[sid]["from"] == "+15005550007"
    assert await client.find_sms(to=DANA, body_contains="via the service",
                                 sent_after=datetime.now(UTC) - timedelta(minutes=1)) == sid


async def test_find_sms_finds_what_was_sent_and_nothing_else(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    client = twilio()
    before = datetime.now(UTC)
    sid = await client.send_sms(to=DANA, body="[P1] INC-42 page 1")
    await client.send_sms(to=ELI, body="[P1] INC-42 page 1")
    await emu.settled()
    assert await client.find_sms(to=DANA, body_contains="INC-42 page 1", sent_after=before) == sid
    assert await client.find_sms(to=DANA, body_contains="INC-43", sent_after=before) is None
    assert await client.find_sms(to="+14155550199", body_contains="INC-42", sent_after=before) is None
    assert await client.find_sms(to=DANA, body_contains="INC-42", sent_after=before + timedelta(minutes=5)) is None


async def test_find_sms_finds_a_message_still_queued(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    """Twilio's DateSent filter leaves out a message not sent yet; it must be found all the same."""
    emu.step_delay = 3600.0  # the sender's queue is long: it stays queued
    client = twilio()
    sid = await client.send_sms(to=DANA, body="[P1] INC-42 page 2")
    assert emu.messages[sid]["status"] == "queued" and emu.messages[sid]["date_sent"] is None
    assert await client.find_sms(to=DANA, body_contains="INC-42 page 2",
                                 sent_after=datetime.now(UTC) - timedelta(seconds=30)) == sid


async def test_a_create_whose_answer_was_lost_is_adopted_not_sent_twice(
    emu: TwilioEmulator, twilio: Callable[..., Twilio]
) -> None:
    emu.inject("POST Messages", "after", status=502)  # Twilio created it, but the answer is an error
    sid = await twilio().send_sms(to=DANA, body="[P1] INC-42 adopt me")
    assert list(emu.messages) == [sid]
    assert len(emu.calls_to("POST Messages")) == 1


async def test_a_create_that_failed_is_sent_again_after_a_lookup(
    emu: TwilioEmulator, twilio: Callable[..., Twilio]
) -> None:
    emu.inject("POST Messages", "status", status=503, body={"code": 20500, "message": "Internal Server Error",
                                                           "status": 503})
    sid = await twilio().send_sms(to=DANA, body="[P1] INC-42 again")
    assert list(emu.messages) == [sid]
    assert len(emu.calls_to("POST Messages")) == 2 and len(emu.calls_to("GET Messages")) >= 1


# -- calls ------------------------------------------------------------------------------------------
async def test_a_call_fetches_its_twiml_and_pressing_1_acknowledges(
    emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio]
) -> None:
    sid = await twilio().call(to=DANA, twiml_url=app.url("/voice"), status_callback=app.url("/status"))
    assert sid.startswith("CA")
    await emu.settled()
    call = emu.phone_calls[sid]
    assert call.said == [PAGE] and call.waiting
    (fetch,) = app.on("/voice")
    assert fetch.valid and fetch.params["CallSid"] == sid and fetch.params["To"] == DANA
    assert fetch.params["CallStatus"] == "in-progress" and fetch.params["Direction"] == "outbound-api"
    await emu.press(sid, "1")
    (gathered,) = app.on("/gather")
    assert gathered.valid and gathered.params["Digits"] == "1" and gathered.url.endswith("/gather?page=42")
    assert app.acknowledged == [sid]
    assert call.said == [PAGE, "Acknowledged. Thank you."] and not call.waiting
    assert app.statuses(sid, "CallStatus") == ["initiated", "ringing", "in-progress", "completed"]
    assert all(r.valid for r in app.on("/status"))
    completed = app.on("/status")[-1].params
    assert completed["CallbackSource"] == "call-progress-events" and "CallDuration" in completed
    assert emu.call_records[sid]["status"] == "completed"


async def test_another_digit_repeats_the_page(emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio]) -> None:
    sid = await twilio().call(to=DANA, twiml_url=app.url("/voice"))
    await emu.press(sid, "7")
    call = emu.phone_calls[sid]
    assert call.said == [PAGE, "Sorry, that was not 1.", PAGE] and call.waiting
    assert app.acknowledged == []


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed"])
async def test_a_call_not_answered_ends_with_its_status(
    emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio], outcome: Any
) -> None:
    emu.fail_calls(DANA, outcome)
    sid = await twilio().call(to=DANA, twiml_url=app.url("/voice"), status_callback=app.url("/status"))
    await emu.settled()
    assert app.statuses(sid, "CallStatus")[-1] == outcome
    assert app.on("/voice") == [] and emu.phone_calls[sid].said == []


async def test_find_call_lists_the_calls_placed(emu: TwilioEmulator, app: TwilioApp, twilio: Callable[..., Twilio]) -> None:
    client = twilio()
    before = datetime.now(UTC)
    first = await client.call(to=DANA, twiml_url=app.url("/voice"))
    second = await client.call(to=DANA, twiml_url=app.url("/voice"))
    await emu.settled()
    assert await client.find_call(to=DANA, sent_after=before) in ([first, second], [second, first])
    assert sorted(await client.find_call(to=DANA, sent_after=before)) == sorted([first, second])
    assert await client.find_call(to=ELI, sent_after=before) == []
    assert await client.find_call(to=DANA, sent_after=before + timedelta(minutes=5)) == []


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["4155550142x", "+01234567890", "+1415555014299999999"])
async def test_an_invalid_number_is_permanent_and_masked(
    twilio: Callable[..., Twilio], number: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Permanent) as refused:
        await twilio().send_sms(to=number, body="page")
    reason = refused.value.reason
    assert "21211" in reason and number not in reason and number[-4:] in reason
    assert number not in caplog.text


async def test_a_landline_is_permanent_and_masked(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    emu.not_mobile(DANA)
    with pytest.raises(Permanent, match=r"\+\*+0142 is not a mobile number .*21614") as refused:
        await twilio().send_sms(to=DANA, body="page")
    assert DANA not in str(refused.value)


async def test_wrong_credentials_name_the_keys(twilio: Callable[..., Twilio]) -> None:
    with pytest.raises(Permanent) as refused:
        await twilio(auth_token="not-the-token").send_sms(to=DANA, body="page")
    assert "twilio.account_sid" in refused.value.reason and "twilio.auth_token" in refused.value.reason
    assert "20003" in refused.value.reason and "not-the-token" not in refused.value.reason
    with pytest.raises(Permanent, match=r"twilio\.account_sid"):
        await twilio(auth_token="not-the-token").check_credentials()
    await twilio().check_credentials()


async def test_missing_settings_say_what_to_set(twilio: Callable[..., Twilio]) -> None:
    with pytest.raises(Permanent, match=r"twilio\.from_number is not set"):
        await twilio(from_number="").call(to=DANA, twiml_url="https://warroom.example/voice")
    with pytest.raises(Permanent, match=r"twilio\.auth_token is not set"):
        await twilio(auth_token=None).send_sms(to=DANA, body="page")


async def test_429_is_waited_out_when_short(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    emu.sms_per_second = 1  # one message a second from the number, as for a long code
    client = twilio(max_inline_wait=5.0)
    first = await client.send_sms(to=DANA, body="page 1")
    second = await client.send_sms(to=DANA, body="page 2")  # answered 429 first, then sent
    assert first != second and len(emu.messages) == 2
    assert [c.status for c in emu.calls_to("POST Messages")] == [201, 429, 201]


async def test_429_becomes_rate_limited_with_the_wait(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    emu.inject("POST Messages", "ratelimit", retry_after=30)
    with pytest.raises(RateLimited) as limited:
        await twilio(max_inline_wait=5.0).send_sms(to=DANA, body="page")
    assert limited.value.retry_after == 30 and emu.messages == {}


async def test_5xx_is_transient(emu: TwilioEmulator, twilio: Callable[..., Twilio]) -> None:
    emu.inject("POST Calls", "status", status=500, times=5)
    with pytest.raises(Transient):
        await twilio(max_retries=1).call(to=DANA, twiml_url="https://warroom.example/voice")
    assert emu.phone_calls == {}


async def test_the_settings_section_checks_numbers_and_sids() -> None:
    settings = Settings(twilio={"enabled": True, "account_sid": "AC" + "a" * 32, "from_number": "+14155550100"})
    assert settings.twilio.api_url == "https://api.twilio.com"
    with pytest.raises(ValueError, match=r"twilio\.from_number .* E\.164"):
        Settings(twilio={"from_number": "(415) 555-0100"})
    with pytest.raises(ValueError, match=r"twilio\.account_sid"):
        Settings(twilio={"account_sid": "SK" + "a" * 32})


async def test_each_attempt_is_observed_as_twilio(emu: TwilioEmulator) -> None:
    seen: list[tuple[str, str]] = []
    client = Twilio.from_settings(TwilioSettings(**emu.settings()), observe=lambda system, outcome: seen.append(
        (system, outcome)))
    try:
        await client.send_sms(to=DANA, body="page")
        with pytest.raises(Permanent):
            await client.send_sms(to="4155550142", body="page")
    finally:
        await client.aclose()
    assert seen == [("twilio", "ok"), ("twilio", "refused")]
