"""The HTTP side the read-only evidence sources share (Loki, Elasticsearch/OpenSearch, Prometheus):
:class:`SourceClient`, the base of their three clients — one ``Authorization`` header (a token with its scheme,
else basic credentials) and any extra headers, the construction from a source's settings, the response hook that
refuses too big an answer unread and turns the source's own refusals into warroom's errors, the bounded reading
of an answer's JSON, a :class:`~.http.JsonApi` that never retries (a slow or failing source is named as
unavailable, not waited for), and the one cheap read ``check-config --online`` asks each source for
(:meth:`SourceClient.ping`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self, TypedDict

import httpx

from warroom.settings.model import EvidenceSourceSettings

from .errors import Permanent
from .http import JsonApi, hook, unhook
from .observe import CallObserver, ignore


def basic_auth(username: str, password: str) -> str:
    """An HTTP Basic ``Authorization`` value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def authorization(scheme: str, secret: str, username: str = "", password: str = "") -> str:
    """``<scheme> <secret>`` when a secret is given, else basic credentials, else nothing."""
    if secret:
        return f"{scheme} {secret}"
    return basic_auth(username, password) if username else ""


def one_word(value: Any, default: str = "(version not said)") -> str:
    """A version or name a source says of itself, as one short word (its own text is not trusted)."""
    word = re.sub(r"[^\w.+-]", "", str(value or ""))[:40]
    return word or default


class CredentialsRefused(Permanent):
    """The source refused the credentials: ``status`` 401 (not who it knows) or 403 (not allowed this)."""

    def __init__(self, system: str, reason: str, status: int) -> None:
        super().__init__(system, reason)
        self.status = status


class SourceOptions(TypedDict, total=False):
    """What every source client is built with (the subclasses add their own)."""

    url: str
    username: str
    password: str
    #: Loki and Prometheus: a bearer token; Elasticsearch: an API key.
    token: str
    timeout: float
    max_bytes: int
    client: httpx.AsyncClient | None
    observe: CallObserver


class SourceClient:
    """The base of an evidence source's client. Build with :meth:`from_settings`; close with :meth:`aclose`.

    A subclass names its ``system``, the ``scheme`` its token goes with, what a caller does about too big an answer
    (``narrow``) and about refused credentials (``credentials``), the path of its cheap read (``ping_path``), and
    says a refused query in the source's own words (:meth:`_refused`, :meth:`_reason`)."""

    system: ClassVar[str]
    scheme: ClassVar[str] = "Bearer"
    #: What to do about an answer over ``max_bytes`` (said after "the answer is N bytes, more than …: ").
    narrow: ClassVar[str] = "narrow the query"
    #: What to do when the source refuses the credentials (401/403).
    credentials: ClassVar[str]
    #: The cheap read of :meth:`ping`, relative to the source's URL.
    ping_path: ClassVar[str]

    def __init__(
        self,
        *,
        url: str,
        username: str = "",
        password: str = "",
        token: str = "",
        timeout: float = 3.0,
        max_bytes: int = 2_000_000,
        client: httpx.AsyncClient | None = None,
        observe: CallObserver = ignore,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self.url = url.rstrip("/")
        secret = authorization(self.scheme, token, username, password)
        self.headers = {**({"Authorization": secret} if secret else {}), **(headers or {})}
        self.http = client or httpx.AsyncClient(timeout=timeout)
        self._own = client is None
        hook(self.http, "response", self._translate)
        self.api = JsonApi(self.system, self.url, client=self.http, timeout=timeout, max_retries=0, auth=self._auth,
                           observe=observe, label=self.system.lower())

    @classmethod
    def from_settings(cls, settings: EvidenceSourceSettings, **options: Any) -> Self:
        """The client of a configured source; ``options`` are the subclass's own (``client``, ``max_bytes``, …)."""
        return cls(
            url=settings.url,
            username=settings.username,
            password=settings.password.get_secret_value() if settings.password else "",
            token=settings.token.get_secret_value() if settings.token else "",
            timeout=settings.timeout,
            **cls._options(settings),
            **options,
        )

    @classmethod
    def _options(cls, settings: EvidenceSourceSettings) -> dict[str, Any]:
        """The subclass's own settings (Loki's tenant)."""
        return {}

    async def _auth(self) -> Mapping[str, str]:
        return self.headers

    async def aclose(self) -> None:
        unhook(self.http, "response", self._translate)
        if self._own:
            await self.http.aclose()

    # -- answers ----------------------------------------------------------------------------------------------
    def _json(self, response: httpx.Response, request: str, narrow: str = "narrow the query") -> Any:
        """The answer's JSON, refused when it is over ``max_bytes`` (an answer without a ``Content-Length``) or is
        not JSON; ``request`` (``GET /path``) names it."""
        if len(response.content) > self.max_bytes:
            raise Permanent(self.system, f"the answer is more than the {self.max_bytes} bytes read at most: {narrow}")
        try:
            return response.json()
        except ValueError:
            raise Permanent(self.system, f"{request} answered with a body that is not JSON") from None

    async def _translate(self, response: httpx.Response) -> None:
        """httpx response hook: too big an answer refused unread; refusals in the source's own words (the cheap
        read's other than the credentials' are left to :class:`~.http.JsonApi`: not found is not a query's)."""
        if not str(response.request.url).startswith(self.url + "/"):  # this source (a client may be shared)
            return
        size = response.headers.get("Content-Length", "")
        if size.isdigit() and int(size) > self.max_bytes:
            raise Permanent(self.system, f"the answer is {size} bytes, more than the {self.max_bytes} read at most: "
                                         f"{self.narrow}")
        status = response.status_code
        if status < 400 or status >= 500 or status in (408, 429):
            return
        await response.aread()
        reason = self._reason(response)
        if status in (401, 403):
            raise CredentialsRefused(self.system, f"{self.system} refused the credentials ({reason}): {self.credentials}",
                                     status)
        if response.request.url.path != httpx.URL(self.url + self.ping_path).path:
            self._refused(response, reason)

    def _reason(self, response: httpx.Response) -> str:
        """The source's own words for a refusal."""
        raise NotImplementedError

    def _refused(self, response: httpx.Response, reason: str) -> None:
        """Raise the error of a refused query (4xx but 401/403/408/429)."""
        raise NotImplementedError

    # -- the cheap read ---------------------------------------------------------------------------------------
    async def ping(self) -> str:
        """One cheap read (``ping_path``) that needs the credentials: what the source said of itself, in a few
        words; raises warroom's adapter errors."""
        response = await self.api.request("GET", self.ping_path)
        return self._about(self._json(response, f"GET {self.ping_path}"))

    def _about(self, body: Any) -> str:
        """What the cheap read's answer says of the source."""
        raise NotImplementedError
