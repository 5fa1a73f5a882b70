"""A local mail relay: a real SMTP server on loopback (aiosmtpd) that keeps what it receives.

What it does, as a submission server does (RFC 5321, 3207 STARTTLS, 4954 AUTH, 8314 implicit TLS):

- ``security``: ``starttls`` (plain connection, STARTTLS offered; AUTH only after it, as aiosmtpd and real relays
  require), ``tls`` (TLS from the first byte, as on port 465) or ``none`` (no TLS; AUTH allowed over the plain
  connection, as some internal relays do).
- Its certificate is made at start with ``cryptography``: a throw-away CA and a server certificate it signed for
  ``localhost``, ``127.0.0.1`` and :attr:`SmtpEmulator.hostname`. A client trusts it with
  :meth:`SmtpEmulator.client_context` (or the PEM in :attr:`SmtpEmulator.ca_pem`); one that checks certificates
  against the system's CAs refuses it, as it would any self-signed relay.
- AUTH PLAIN and LOGIN against the configured ``username``/``password`` (``535 5.7.8 Authentication credentials
  invalid`` otherwise); with a username configured, mail is accepted only after a login (``530 5.7.0``).
- Faults for tests: :meth:`SmtpEmulator.reject` answers RCPT for an address with a code (550 mailbox unavailable,
  452, …); :meth:`SmtpEmulator.make_unavailable` greets the next connections with ``421 4.3.2 Service not
  available`` and closes them; :meth:`SmtpEmulator.fail` answers one MAIL, RCPT or DATA with a scripted reply;
  :meth:`SmtpEmulator.lose_answer` keeps a message but drops the connection before saying so.

Read-back: :attr:`SmtpEmulator.messages` holds each message accepted, parsed (:class:`Received`: envelope, headers,
text and HTML parts, who logged in, whether TLS was on); :meth:`SmtpEmulator.wait_for` waits for a number of them.
Nothing here logs a password.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import hmac
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Security = Literal["starttls", "tls", "none"]

UNAVAILABLE = "421 4.3.2 Service not available, closing transmission channel"
MAILBOX_UNAVAILABLE = "5.1.1 Mailbox unavailable"


@dataclass
class Received:
    """One message the relay accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    #: The login the client authenticated as (None: no AUTH).
    login: str | None
    #: Whether the session was encrypted (STARTTLS or implicit TLS) when the message was sent.
    tls: bool

    @property
    def subject(self) -> str:
        return str(self.message.get("Subject", ""))

    @property
    def message_id(self) -> str:
        return str(self.message.get("Message-ID", ""))

    @property
    def headers(self) -> list[tuple[str, str]]:
        return [(name, str(value)) for name, value in self.message.items()]

    def header(self, name: str) -> str | None:
        value = self.message.get(name)
        return None if value is None else str(value)

    @property
    def text(self) -> str | None:
        part = self.message.get_body(preferencelist=("plain",))
        return None if part is None else str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.message.get_body(preferencelist=("html",))
        return None if part is None else str(part.get_content())


@dataclass
class _Scripted:
    command: str
    reply: str
    times: int


@dataclass
class _Certificates:
    ca_pem: bytes
    server: ssl.SSLContext = field(repr=False)


def make_certificates(hostname: str) -> _Certificates:
    """A throw-away CA and a server certificate it signed for ``localhost``, 127.0.0.1 and ``hostname``."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "warroom sandbox SMTP CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if hostname != "localhost":
        names.insert(0, x509.DNSName(hostname))
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # ssl can load a key and chain only from files: written to a private directory, read, and removed at once
    with tempfile.TemporaryDirectory(prefix="warroom-smtp-") as folder:
        chain = os.path.join(folder, "chain.pem")
        private = os.path.join(folder, "key.pem")
        with open(chain, "wb") as out:
            out.write(leaf.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
        with open(os.open(private, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        server.load_cert_chain(chain, private)
    return _Certificates(ca_pem=ca.public_bytes(serialization.Encoding.PEM), server=server)


class _Greeter(asyncio.Protocol):
    """What answers a connection while the relay is unavailable: the 421 greeting, then the connection is closed."""

    def __init__(self, line: str) -> None:
        self.line = line

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(self.line.encode("ascii") + b"\r\n")
        transport.close()


class _Session(Session):
    """aiosmtpd's session without its deprecation warning: its own AUTH code still sets ``login_data``."""

    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class _Server(SMTP):
    def _create_session(self) -> Session:
        return _Session(self.loop)


class SmtpEmulator:
    """The relay. ``await start()`` binds a free port on 127.0.0.1; ``await stop()`` closes it."""

    name = "smtp"

    def __init__(
        self,
        *,
        security: Security = "starttls",
        username: str | None = "warroom",
        password: str = "smtp-sandbox-password",
        hostname: str = "smtp.sandbox.test",
        data_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        if security not in ("starttls", "tls", "none"):
            raise ValueError(f"security is 'starttls', 'tls' or 'none', not {security!r}")
        self.security: Security = security
        self.username = username
        self._password = password.encode()
        self.hostname = hostname
        self.data_size_limit = data_size_limit
        #: Every message accepted, in order.
        self.messages: list[Received] = []
        #: Connections accepted (each send is one), logins that failed.
        self.connections = 0
        self.auth_failures = 0
        #: Sessions that broke on the server's side (e.g. a client that refused the certificate mid-STARTTLS).
        self.errors: list[Exception] = []
        self.host = "127.0.0.1"
        self.port = 0
        self._rejected: dict[str, str] = {}
        self._scripted: list[_Scripted] = []
        self._unavailable: int | None = 0
        self._server: asyncio.Server | None = None
        self._certs: _Certificates | None = None
        self._arrived = asyncio.Event()

    # -- set-up -------------------------------------------------------------------------------------
    @property
    def ca_pem(self) -> bytes:
        """The PEM of the CA that signed the relay's certificate (made at start)."""
        if self._certs is None:
            raise RuntimeError("the SMTP emulator makes its certificate at start(): start it first")
        return self._certs.ca_pem

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the relay's certificate (and checks it and its name)."""
        return ssl.create_default_context(cadata=self.ca_pem.decode("ascii"))

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        if self._certs is None and self.security != "none":
            self._certs = await asyncio.to_thread(make_certificates, self.hostname)
        tls = self._certs.server if self._certs is not None else None
        self._server = await loop.create_server(
            self._protocol, host, port, ssl=tls if self.security == "tls" else None
        )
        self.host = host
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmtpEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def settings(self, *, from_address: str = "warroom@sandbox.example") -> dict[str, Any]:
        """The ``smtp`` settings section that points warroom at this relay (secrets included, for the sandbox).

        ``validate_certs`` is off: warroom built from settings alone cannot know the sandbox's throw-away CA (tests
        pass :meth:`client_context` to the Mailer instead and keep checking)."""
        return {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "username": self.username or "",
            "password": self._password.decode() if self.username else None,
            "from_address": from_address,
            "timeout": 10.0,
            "validate_certs": False,
        }

    # -- control ------------------------------------------------------------------------------------
    def reject(self, address: str, code: int = 550, text: str = MAILBOX_UNAVAILABLE) -> None:
        """Answer RCPT TO for ``address`` with ``code text`` from now on (e.g. 550 mailbox unavailable, 452)."""
        self._rejected[address.strip().lower()] = f"{code} {text}"

    def accept(self, address: str) -> None:
        self._rejected.pop(address.strip().lower(), None)

    def make_unavailable(self, times: int | None = None) -> None:
        """Greet the next ``times`` connections (None: all, until :meth:`make_available`) with 421 and close them."""
        self._unavailable = times

    def make_available(self) -> None:
        self._unavailable = 0

    def fail(self, command: Literal["MAIL", "RCPT", "DATA"], code: int, text: str, *, times: int = 1) -> None:
        """Answer the next ``times`` MAIL, RCPT or DATA commands with ``code text`` (DATA: after the message was
        read, instead of accepting it)."""
        self._scripted.append(_Scripted(command, f"{code} {text}", times))

    def lose_answer(self, *, times: int = 1) -> None:
        """Accept the next ``times`` messages but close the connection instead of answering the DATA: the client
        cannot know that the message went through (it did)."""
        self._scripted.append(_Scripted("LOSE", "", times))

    async def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """Wait until at least ``count`` messages arrived; return them all."""
        async with asyncio.timeout(timeout):
            while True:
                self._arrived.clear()
                if len(self.messages) >= count:
                    break
                await self._arrived.wait()
        return list(self.messages)

    def to(self, address: str) -> list[Received]:
        wanted = address.strip().lower()
        return [m for m in self.messages if wanted in (r.lower() for r in m.rcpt_tos)]

    # -- serving ------------------------------------------------------------------------------------
    def _protocol(self) -> asyncio.Protocol:
        self.connections += 1
        if self._unavailable is None or self._unavailable > 0:
            if self._unavailable is not None:
                self._unavailable -= 1
            return _Greeter(f"{UNAVAILABLE[:3]} {self.hostname} {UNAVAILABLE[4:]}")
        starttls = self._certs.server if self.security == "starttls" and self._certs is not None else None
        return _Server(
            _Handler(self),
            hostname=self.hostname,
            ident="warroom sandbox ESMTP",
            data_size_limit=self.data_size_limit,
            tls_context=starttls,
            require_starttls=starttls is not None,
            # mail before a login is refused by handle_MAIL (aiosmtpd's own auth_required warns whenever AUTH is
            # allowed without STARTTLS, which implicit TLS and "none" both do)
            auth_required=False,
            # implicit TLS: the whole session is encrypted (aiosmtpd only knows of STARTTLS); none: allowed in clear
            auth_require_tls=self.security == "starttls",
            authenticator=self._authenticate if self.username is not None else None,
            loop=asyncio.get_running_loop(),
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.username is None:
            self.auth_failures += 1
            return AuthResult(success=False, handled=False)
        good = hmac.compare_digest(auth_data.login, self.username.encode()) & hmac.compare_digest(
            auth_data.password, self._password
        )
        if not good:
            self.auth_failures += 1
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=auth_data.login.decode("utf-8", "replace"))

    def _scripted_reply(self, command: str) -> str | None:
        for script in self._scripted:
            if script.command == command and script.times > 0:
                script.times -= 1
                if script.times == 0:
                    self._scripted.remove(script)
                return script.reply
        return None

    def _received(self, session: Session, envelope: Envelope, server: SMTP) -> None:
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("sslcontext") is not None
        )
        login = session.auth_data if isinstance(session.auth_data, str) else None
        self.messages.append(
            Received(
                mail_from=envelope.mail_from or "",
                rcpt_tos=list(envelope.rcpt_tos),
                raw=raw,
                message=message,
                login=login,
                tls=tls,
            )
        )
        self._arrived.set()


class _Handler:
    """aiosmtpd's hooks: MAIL, RCPT and DATA, with the emulator's scripted faults."""

    def __init__(self, relay: SmtpEmulator) -> None:
        self.relay = relay

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.relay.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        scripted = self.relay._scripted_reply("MAIL")
        if scripted is not None:
            return scripted
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        scripted = self.relay._scripted_reply("RCPT")
        if scripted is not None:
            return scripted
        rejected = self.relay._rejected.get(address.strip().lower())
        if rejected is not None:
            return rejected
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        scripted = self.relay._scripted_reply("DATA")
        if scripted is not None:
            return scripted
        self.relay._received(session, envelope, server)
        if self.relay._scripted_reply("LOSE") is not None and server.transport is not None:
            server.transport.close()
        return "250 2.0.0 OK: queued"

    async def handle_exception(self, error: Exception) -> str:
        """A session that broke (a client that gave up on the TLS handshake): kept, not logged as a traceback."""
        self.relay.errors.append(error)
        return f"500 5.0.0 Error: {type(error).__name__}"

