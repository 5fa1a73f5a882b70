"""Email through an SMTP relay, on aiosmtplib: the page emails of on-call notifications.

:mod:`warroom.sandbox.smtp` is a relay on loopback that behaves the same way (aiosmtpd).

- **Security** (``smtp.security``): ``starttls`` connects in plain text and upgrades with STARTTLS before anything
  else is said — required: a relay that does not offer it is refused, never a silent fall-back to plain text (the
  login would travel in clear); ``tls`` speaks TLS from the first byte (RFC 8314, port 465); ``none`` never
  encrypts (a relay on a trusted network). Certificates and host names are checked unless ``smtp.validate_certs``
  is off.
- **Login**: SMTP AUTH with ``smtp.username``/``smtp.password`` (PLAIN or LOGIN, whichever the relay offers, as
  aiosmtplib chooses); no username, no login. The password is handed to aiosmtplib and nowhere else: no log line,
  no error reason, no ``repr`` holds it.
- **One connection per email**: pages are few and far between; a kept-open connection would meet relays' idle
  timeouts more often than it would save a handshake.
- **The message**: ``From`` (``smtp.from_address``), ``To``, ``Subject``, ``Date``, the caller's ``Message-ID``
  (deterministic, e.g. ``<page-42-1@warroom.example>``, so the same page sent twice is recognisably one), and
  ``Auto-Submitted: auto-generated`` (RFC 3834: out-of-office robots do not answer pages); text, or
  ``multipart/alternative`` text + HTML.
- **Header injection**: the recipient must be one address without line breaks (else :class:`Permanent`); line
  breaks and other control characters in the subject and in extra header values become spaces; extra header names
  must be plain header names and may not replace the headers above (``ValueError``: a programming error).
- **Errors** (translated where they enter, never aiosmtplib's): refused or timed-out connections, lost
  connections and 4xx replies (421 service unavailable, 450/451/452) are :class:`Transient`; 4xx replies that say
  the sender is sending too fast (``4.7.x`` with "rate"/"too many"/"throttl", as Gmail's 4.7.28 and Amazon SES's
  454 say it) are :class:`RateLimited` for a minute; 5xx replies (550 mailbox unavailable, 553, 554) are
  :class:`Permanent`, and so are refused logins (535: check ``smtp.username``/``smtp.password``), a relay that
  offers no STARTTLS or no login, and certificates that do not verify — each a sentence saying what to fix.
- **Not idempotent**: SMTP has no idempotency key and no way to ask a relay what it accepted. A connection lost
  after the message was handed over may have delivered it; the error says so, and a retry may deliver it twice
  (with the same ``Message-ID``).
"""

from __future__ import annotations

import email.utils
import logging
import re
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from types import MappingProxyType

import aiosmtplib

from warroom.settings import EMAIL_RE, SmtpSettings

from .errors import AdapterError, Permanent, RateLimited, Transient
from .observe import CallObserver, ignore, outcome_of_error

log = logging.getLogger("warroom.adapters.smtp")

SYSTEM = "SMTP"
#: How long to wait after a relay said "too fast" (SMTP replies carry no Retry-After).
RATE_LIMIT_WAIT = 60.0
SUBJECT_MAX = 250
NO_HEADERS: Mapping[str, str] = MappingProxyType({})
#: Headers :meth:`Mailer.send` sets itself; ``headers`` may not replace them.
RESERVED = frozenset({
    "from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version", "content-type",
    "content-transfer-encoding", "received", "return-path",
})
HEADER_NAME_RE = re.compile(r"[!-9;-~]+")
MESSAGE_ID_RE = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
RATE_RE = re.compile(r"\brate\b|too many|throttl|slow down", re.I)


def one_line(value: str) -> str:
    """A header value on one line: runs of line breaks and other control characters become one space."""
    return CONTROL_RE.sub(" ", value).strip()


class Mailer:
    """Sends page emails through the configured relay. Holds no connection between sends; nothing to close.

    ``tls_context``: the TLS settings to use instead of the system's CAs (tests trust the sandbox relay's CA with
    it); ``local_hostname``: the name given in EHLO (default: this machine's fully qualified name); ``observe``:
    hears each send's outcome as ``smtp`` (:mod:`warroom.adapters.observe`; a relay that could not be reached is
    ``unreachable``).
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
        observe: CallObserver = ignore,
    ) -> None:
        self.settings = settings
        self._tls_context = tls_context
        self._local_hostname = local_hostname
        self._observe = observe
        #: Emails handed over to the relay (for tests and benchmarks).
        self.sent = 0

    def message(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> EmailMessage:
        """The email :meth:`send` sends (raises :class:`Permanent` for a recipient that is not one address)."""
        if not MESSAGE_ID_RE.fullmatch(message_id):
            raise ValueError(f"message_id {message_id!r} is not a Message-ID: write it as <page-42@warroom.example>")
        for name in headers:
            if not HEADER_NAME_RE.fullmatch(name) or name.lower() in RESERVED:
                raise ValueError(f"{name!r} may not be given as an extra header")
        sender = self._from_address()
        recipient, _ = recipient_address(to)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = recipient
        message["Subject"] = _subject(subject)
        message["Date"] = email.utils.format_datetime(datetime.now(UTC))
        message["Message-ID"] = message_id
        message["Auto-Submitted"] = "auto-generated"
        for name, value in headers.items():
            del message[name]
            message[name] = one_line(value)
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message

    async def send(
        self,
        *,
        to: str,
        subject: str,
        text: str,
        html: str | None = None,
        message_id: str,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> None:
        """Hand one email to the relay. Raises only :mod:`warroom.adapters.errors` (and ``ValueError`` for a
        malformed ``message_id`` or extra header name)."""
        settings = self.settings
        if not settings.host.strip():
            raise Permanent(SYSTEM, "smtp.host is not set: name the mail relay that sends page emails.")
        message = self.message(to=to, subject=subject, text=text, html=html, message_id=message_id, headers=headers)
        _, envelope_to = recipient_address(to)
        envelope_from = email.utils.parseaddr(self._from_address())[1]
        password = settings.password.get_secret_value() if settings.password is not None else None
        client = aiosmtplib.SMTP(
            hostname=settings.host.strip(),
            port=settings.port,
            username=settings.username or None,
            password=(password or "") if settings.username else None,
            local_hostname=self._local_hostname,
            timeout=settings.timeout,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            validate_certs=settings.validate_certs,
            tls_context=self._tls_context if settings.security != "none" else None,
        )
        where = f"{settings.host.strip()}:{settings.port}"
        handed_over = False
        try:
            try:
                await client.connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                error = self._translate(exc, where, sending=False)
                unreachable = isinstance(exc, aiosmtplib.SMTPConnectError) and not isinstance(
                    exc, aiosmtplib.SMTPConnectResponseError
                )
                self._observe("smtp", "unreachable" if unreachable and isinstance(error, Transient) else
                              outcome_of_error(error))
                raise error from None
            try:
                await client.send_message(message, sender=envelope_from, recipients=[envelope_to])
                handed_over = True
            except (aiosmtplib.SMTPException, OSError) as exc:
                error = self._translate(exc, where, sending=True)
                self._observe("smtp", outcome_of_error(error))
                raise error from None
        finally:
            await _quit(client, polite=handed_over)
        self._observe("smtp", "ok")
        self.sent += 1
        log.debug("SMTP: %s handed to %s", message_id, where)

    # -- helpers ------------------------------------------------------------------------------------
    def _from_address(self) -> str:
        sender = self.settings.from_address.strip()
        if not sender:
            raise Permanent(SYSTEM, "smtp.from_address is not set: set it to the address page emails come from "
                                    "(e.g. warroom@example.com).")
        return sender

    def _translate(self, exc: BaseException, where: str, *, sending: bool) -> AdapterError:
        """aiosmtplib's and the socket's errors as warroom's, each reason a sentence that says what to do."""
        log.debug("SMTP: %s at %s", type(exc).__name__, where)
        security = self.settings.security
        if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
            if 400 <= exc.code < 500:
                return Transient(SYSTEM, f"the relay {where} could not check the login now ({exc.code} {_text(exc)}).")
            return Permanent(
                SYSTEM,
                f"the relay {where} refused the login ({exc.code} {_text(exc)}): check smtp.username and set "
                "WARROOM_SMTP__PASSWORD (or smtp.password_file) to that account's password.",
            )
        if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code == 530:
            return Permanent(
                SYSTEM,
                f"the relay {where} takes mail only after a login ({exc.code} {_text(exc)}): set smtp.username and "
                "WARROOM_SMTP__PASSWORD (or smtp.password_file).",
            )
        if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
            first = exc.recipients[0]
            return _by_code(first.code, first.message, f"the relay {where} refused the recipient {first.recipient}")
        if isinstance(exc, aiosmtplib.SMTPSenderRefused):
            if exc.code >= 500:
                return Permanent(SYSTEM, f"the relay {where} refused the sender {exc.sender} ({exc.code} "
                                         f"{_text(exc)}): set smtp.from_address to an address this login may send as.")
            return _by_code(exc.code, exc.message, f"the relay {where} did not take the sender now")
        if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
            return _by_code(exc.code, exc.message, f"the relay {where} would not take mail")
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return _by_code(exc.code, exc.message, f"the relay {where} refused the email")
        cause = _ssl_cause(exc)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return Permanent(
                SYSTEM,
                f"the relay {where}'s TLS certificate did not verify ({cause.verify_message or cause.reason}): give "
                "smtp.host as the name on its certificate, or turn smtp.validate_certs off only for a relay with a "
                "self-signed certificate on a trusted network.",
            )
        if isinstance(cause, ssl.SSLError):
            return Permanent(
                SYSTEM,
                f"the TLS handshake with {where} failed ({cause.reason or type(cause).__name__}): check smtp.security "
                "and smtp.port (tls is usually port 465, starttls port 587).",
            )
        if isinstance(exc, aiosmtplib.SMTPConnectTimeoutError):
            return Transient(SYSTEM, f"timed out connecting to the relay {where} or waiting for its greeting (a relay "
                                     "that speaks TLS from the first byte needs smtp.security: tls).")
        if isinstance(exc, aiosmtplib.SMTPConnectError):
            return Transient(SYSTEM, f"could not connect to the relay {where}; is it up, and is smtp.port right?")
        if isinstance(exc, aiosmtplib.SMTPTimeoutError | aiosmtplib.SMTPServerDisconnected | OSError):
            lost = "timed out" if isinstance(exc, TimeoutError) else "closed the connection"
            if sending:
                return Transient(SYSTEM, f"the relay {where} {lost} while the email was being sent; it may have been "
                                         "delivered.")
            if security == "starttls" and isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                return Transient(SYSTEM, f"the relay {where} {lost} during the TLS upgrade or login.")
            return Transient(SYSTEM, f"the relay {where} {lost}.")
        text = str(exc)
        if "AUTH extension" in text:
            return Permanent(SYSTEM, f"the relay {where} offers no login (AUTH) on this connection: clear "
                                     "smtp.username, or set smtp.security to starttls or tls if it offers login "
                                     "only over TLS.")
        if "STARTTLS" in text.upper():
            return Permanent(SYSTEM, f"the relay {where} does not offer STARTTLS: set smtp.security to tls (usually "
                                     "port 465) if it speaks TLS from the start, or none for a relay on a trusted "
                                     "network.")
        return Permanent(SYSTEM, f"sending through {where} failed: {text[:200]}")


def recipient_address(to: str) -> tuple[str, str]:
    """(the To header, the envelope address) for one recipient; :class:`Permanent` when ``to`` is not one address."""
    shown = to if len(to) <= 120 else to[:117] + "..."
    if CONTROL_RE.search(to):
        raise Permanent(SYSTEM, f"{shown!r} is not an email address (it holds a line break or control character): "
                                "fix the person's email contact.")
    addresses = email.utils.getaddresses([to])
    if len(addresses) != 1 or not EMAIL_RE.match(addresses[0][1]):
        raise Permanent(SYSTEM, f"{shown!r} is not one email address: fix the person's email contact.")
    name, address = addresses[0]
    return (email.utils.formataddr((name, address)) if name else address), address


def _subject(subject: str) -> str:
    line = one_line(subject)
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


def _text(exc: aiosmtplib.SMTPResponseException) -> str:
    return one_line(exc.message)[:200]


def _by_code(code: int, message: str, what: str) -> AdapterError:
    text = one_line(message)[:200]
    reason = f"{what} ({code} {text})"
    if 400 <= code < 500:
        if RATE_RE.search(text):
            return RateLimited(SYSTEM, f"{reason}: it asks to slow down.", RATE_LIMIT_WAIT)
        return Transient(SYSTEM, f"{reason}; worth trying again later.")
    return Permanent(SYSTEM, f"{reason}.")


def _ssl_cause(exc: BaseException) -> BaseException | None:
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


async def _quit(client: aiosmtplib.SMTP, *, polite: bool) -> None:
    if not client.is_connected:
        return
    if polite:
        try:
            await client.quit()
            return
        except (aiosmtplib.SMTPException, OSError):
            pass
    client.close()
