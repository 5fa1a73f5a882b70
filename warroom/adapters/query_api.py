"""The HTTP side the read-only evidence sources share (Loki, Elasticsearch/OpenSearch, Prometheus): one
``Authorization`` header (a token with its scheme, else basic credentials) and any extra headers, the
response hook that turns the source's own error bodies into warroom's errors, and a :class:`~.http.JsonApi`
that never retries (a slow or failing source is named as unavailable, not waited for)."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Mapping

import httpx

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


class SourceHttp:
    """One source's HTTP: build it in the client's constructor, close it with the client."""

    def __init__(
        self,
        system: str,
        url: str,
        *,
        authorization: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: float,
        client: httpx.AsyncClient | None,
        observe: CallObserver = ignore,
        translate: Callable[[httpx.Response], Awaitable[None]],
    ) -> None:
        self.url = url.rstrip("/")
        self.headers = {**({"Authorization": authorization} if authorization else {}), **(headers or {})}
        self.http = client or httpx.AsyncClient(timeout=timeout)
        self._own = client is None
        self._translate = translate
        hook(self.http, "response", translate)
        self.api = JsonApi(system, self.url, client=self.http, timeout=timeout, max_retries=0, auth=self._auth,
                           observe=observe, label=system.lower())

    async def _auth(self) -> Mapping[str, str]:
        return self.headers

    async def aclose(self) -> None:
        unhook(self.http, "response", self._translate)
        if self._own:
            await self.http.aclose()
