"""The SMTP mailer over real SMTP on loopback against the sandbox relay (aiosmtpd): STARTTLS, implicit TLS and
plain connections, logins, text and HTML, the relay's refusals translated into warroom's errors, certificates
checked, header injection neutralised, and the password never shown."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from warroom.adapters.errors import Permanent, RateLimited, Transient
from warroom.adapters.smtp import Mailer
from warroom.sandbox.smtp import Security, SmtpEmulator
from warroom.settings import Settings, SmtpSettings

PASSWORD = "correct-horse-battery-staple"
MESSAGE_ID = "<page-42-1@warroom.example>"


@pytest.fixture
async def relays() -> AsyncIterator[Callable[..., Any]]:
    started: list[SmtpEmulator] = []

    async def start(security: Security = "starttls", **kwargs: Any) -> SmtpEmulator:
        relay = SmtpEmulator(security=security, password=PASSWORD, **kwargs)
        await relay.start()
        started.append(relay)
        return relay

    yield start
    for relay in started:
        await relay.stop()


def mailer(relay: SmtpEmulator, *, trust: bool = True, **overrides: Any) -> Mailer:
    settings = SmtpSettings(**{**relay.settings(), **overrides})
    context = relay.client_context() if trust and relay.security != "none" else None
    return Mailer(settings, tls_context=context, local_hostname="warroom.test")


async def send(m: Mailer, **overrides: Any) -> None:
    args: dict[str, Any] = {
        "to": "dana@example.com",
        "subject": "[P1] INC-42 Checkout error rate above 12%",
        "text": "You are paged for INC-42.\nAcknowledge: https://warroom.example/ack/abc\n",
        "message_id": MESSAGE_ID,
        **overrides,
    }
    await m.send(**args)


# -- sending ----------------------------------------------------------------------------------------
async def test_starttls_with_login_delivers_the_message(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    m = mailer(relay)
    await send(m, headers={"X-Warroom-Incident": "42"})
    (got,) = relay.messages
    assert got.tls and got.login == "warroom"
    assert got.mail_from == "warroom@sandbox.example" and got.rcpt_tos == ["dana@example.com"]
    assert got.header("From") == "warroom@sandbox.example" and got.header("To") == "dana@example.com"
    assert got.subject == "[P1] INC-42 Checkout error rate above 12%"
    assert got.message_id == MESSAGE_ID
    assert got.header("Date") and got.header("Auto-Submitted") == "auto-generated"
    assert got.header("X-Warroom-Incident") == "42"
    assert got.message.get_content_type() == "text/plain" and got.html is None
    assert got.text is not None and "Acknowledge: https://warroom.example/ack/abc" in got.text
    assert m.sent == 1


async def test_implicit_tls_with_login(relays: Callable[..., Any]) -> None:
    relay = await relays("tls")
    await send(mailer(relay))
    (got,) = relay.messages
    assert got.tls and got.login == "warroom"


async def test_plain_relay_without_login(relays: Callable[..., Any]) -> None:
    relay = await relays("none", username=None)
    await send(mailer(relay, username="", password=None))
    (got,) = relay.messages
    assert not got.tls and got.login is None


async def test_text_and_html_are_one_multipart_alternative(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    await send(
        mailer(relay),
        to="Dana Director <dana@example.com>",
        subject="[P1] Paiements refusés — café",
        text="Paged: paiements refusés.\n",
        html="<p>Paged: <b>paiements refusés</b>.</p>",
    )
    (got,) = relay.messages
    assert got.message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in got.message.iter_parts()] == ["text/plain", "text/html"]
    assert got.text is not None and "paiements refusés" in got.text
    assert got.html is not None and "<b>paiements refusés</b>" in got.html
    assert got.subject == "[P1] Paiements refusés — café"
    assert got.header("To") == "Dana Director <dana@example.com>" and got.rcpt_tos == ["dana@example.com"]


async def test_the_settings_section_is_part_of_the_configuration() -> None:
    settings = Settings(smtp={"host": "smtp.example.com", "from_address": "Warroom <warroom@example.com>"})
    assert settings.smtp.port == 587 and settings.smtp.security == "starttls" and settings.smtp.validate_certs
    with pytest.raises(ValueError, match=r"smtp.from_address"):
        Settings(smtp={"from_address": "warroom at example"})


# -- certificates and TLS ---------------------------------------------------------------------------
async def test_an_untrusted_certificate_is_refused_unless_checks_are_off(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    with pytest.raises(Permanent, match=r"did not verify.*smtp\.validate_certs"):
        await send(mailer(relay, trust=False, validate_certs=True))
    assert relay.messages == [] and relay.auth_failures == 0  # nothing, the login least of all, went in clear
    await send(mailer(relay, trust=False, validate_certs=False))
    assert len(relay.messages) == 1 and relay.messages[0].tls


async def test_starttls_is_required_never_skipped(relays: Callable[..., Any]) -> None:
    relay = await relays("none")
    with pytest.raises(Permanent, match=r"does not offer STARTTLS: set smtp\.security"):
        await send(mailer(relay, security="starttls"))
    assert relay.messages == [] and relay.auth_failures == 0


async def test_tls_spoken_to_a_plain_port_says_which_keys_to_check(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    with pytest.raises(Permanent, match=r"TLS handshake .* smtp\.security and smtp\.port"):
        await send(mailer(relay, security="tls"))


async def test_no_login_in_clear_where_the_relay_offers_it_only_over_tls(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    with pytest.raises(Permanent, match=r"offers no login.*smtp\.security"):
        await send(mailer(relay, security="none"))
    assert relay.messages == []


# -- logins -----------------------------------------------------------------------------------------
async def test_a_wrong_password_is_permanent_and_names_the_keys(
    relays: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    relay = await relays("starttls")
    wrong = "not-the-password-at-all"
    with pytest.raises(Permanent) as refused:
        await send(mailer(relay, password=wrong))
    reason = refused.value.reason
    assert "535" in reason and "smtp.username" in reason and "smtp.password" in reason
    assert relay.auth_failures >= 1 and relay.messages == []
    assert wrong not in reason and wrong not in str(refused.value)
    await send(mailer(relay))  # the right one works
    assert PASSWORD not in caplog.text and wrong not in caplog.text


async def test_mail_without_a_login_where_one_is_required(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    with pytest.raises(Permanent, match=r"only after a login.*smtp\.username"):
        await send(mailer(relay, username="", password=None))


# -- refusals ---------------------------------------------------------------------------------------
async def test_550_mailbox_unavailable_is_permanent(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    relay.reject("gone@example.com")
    with pytest.raises(Permanent, match=r"refused the recipient gone@example.com \(550 5\.1\.1"):
        await send(mailer(relay), to="gone@example.com")
    assert relay.messages == []


@pytest.mark.parametrize("code", [553, 554])
async def test_other_5xx_replies_are_permanent(relays: Callable[..., Any], code: int) -> None:
    relay = await relays("starttls")
    relay.fail("DATA", code, "5.7.1 Message rejected as spam")
    with pytest.raises(Permanent, match=str(code)):
        await send(mailer(relay))


@pytest.mark.parametrize(("command", "code"), [("RCPT", 450), ("RCPT", 452), ("DATA", 451), ("MAIL", 421)])
async def test_4xx_replies_are_transient(relays: Callable[..., Any], command: Any, code: int) -> None:
    relay = await relays("starttls")
    relay.fail(command, code, "4.3.0 Temporary failure, try again later")
    with pytest.raises(Transient) as failed:
        await send(mailer(relay))
    assert not isinstance(failed.value, RateLimited) and str(code) in failed.value.reason
    await send(mailer(relay))  # the relay is well again
    assert len(relay.messages) == 1


async def test_a_relay_asking_to_slow_down_rate_limits(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    relay.fail("MAIL", 451, "4.7.1 Too many messages, slow down")
    with pytest.raises(RateLimited) as limited:
        await send(mailer(relay))
    assert limited.value.retry_after > 0


async def test_421_at_the_greeting_is_transient(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    relay.make_unavailable(times=1)
    with pytest.raises(Transient, match="421"):
        await send(mailer(relay))
    await send(mailer(relay))
    assert len(relay.messages) == 1


async def test_a_refused_connection_is_transient(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    m = mailer(relay)
    await relay.stop()
    with pytest.raises(Transient, match=r"could not connect"):
        await send(m)


async def test_missing_host_or_sender_is_permanent_and_says_what_to_set() -> None:
    with pytest.raises(Permanent, match=r"smtp\.host is not set"):
        await send(Mailer(SmtpSettings(from_address="warroom@example.com")))
    with pytest.raises(Permanent, match=r"smtp\.from_address is not set"):
        await send(Mailer(SmtpSettings(host="127.0.0.1")))


# -- header injection -------------------------------------------------------------------------------
async def test_line_breaks_in_the_subject_and_header_values_are_neutralised(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    await send(
        mailer(relay),
        subject="Checkout down\r\nBcc: mallory@evil.example\r\n\r\nInjected body",
        headers={"X-Warroom-Service": "checkout\nBcc: mallory@evil.example"},
    )
    (got,) = relay.messages
    assert got.rcpt_tos == ["dana@example.com"]
    assert got.header("Bcc") is None and got.header("Cc") is None
    assert got.subject == "Checkout down Bcc: mallory@evil.example Injected body"
    assert got.header("X-Warroom-Service") == "checkout Bcc: mallory@evil.example"
    assert got.text is not None and "Injected body" not in got.text
    assert b"\r\nBcc:" not in got.raw


@pytest.mark.parametrize(
    "to",
    [
        "dana@example.com\r\nBcc: mallory@evil.example",
        "dana@example.com\nmallory@evil.example",
        "dana@example.com, mallory@evil.example",
        "not an address",
        "",
    ],
)
async def test_a_recipient_that_is_not_one_address_is_refused(relays: Callable[..., Any], to: str) -> None:
    relay = await relays("starttls")
    with pytest.raises(Permanent, match="email"):
        await send(mailer(relay), to=to)
    assert relay.messages == [] and relay.connections == 0  # refused before connecting


async def test_extra_headers_may_not_replace_the_envelope_headers(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    for name in ("Bcc", "To", "From", "Message-ID", "Bad Name", "X-Evil:\r\nBcc"):
        with pytest.raises(ValueError):
            await send(mailer(relay), headers={name: "mallory@evil.example"})
    with pytest.raises(ValueError, match="Message-ID"):
        await send(mailer(relay), message_id="page-42\r\nBcc: mallory@evil.example")
    assert relay.connections == 0


async def test_each_send_is_observed_as_smtp(relays: Callable[..., Any]) -> None:
    relay = await relays("starttls")
    seen: list[tuple[str, str]] = []
    m = Mailer(SmtpSettings(**relay.settings()), tls_context=relay.client_context(),
               observe=lambda system, outcome: seen.append((system, outcome)))
    await send(m)
    relay.reject("gone@example.com")
    with pytest.raises(Permanent):
        await send(m, to="gone@example.com")
    relay.make_unavailable(times=1)
    with pytest.raises(Transient):
        await send(m)
    await relay.stop()
    with pytest.raises(Transient):
        await send(m)
    assert seen == [("smtp", "ok"), ("smtp", "refused"), ("smtp", "transient"), ("smtp", "unreachable")]


async def test_a_connection_lost_after_the_message_says_it_may_have_been_delivered(
    relays: Callable[..., Any],
) -> None:
    relay = await relays("starttls")
    relay.lose_answer()
    with pytest.raises(Transient, match="may have been delivered"):
        await send(mailer(relay))
    assert len(relay.messages) == 1  # it was: a retry would deliver it again, with the same Message-ID
