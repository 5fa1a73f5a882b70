"""Microsoft Entra ID client-credentials tokens, for Microsoft Graph and the Bot Connector.

Based on the Microsoft identity platform's client-credentials flow: ``POST {login}/{tenant}/oauth2/v2.0/token``
with ``grant_type=client_credentials``, ``client_id``, ``client_secret`` and ``scope`` (``https://graph.microsoft.com/
.default`` for Graph, ``https://api.botframework.com/.default`` for the Bot Connector) form-encoded
(``client_secret_post``). Answers ``{token_type: "Bearer", expires_in, ext_expires_in, access_token}``; failures are
``{error, error_description: "AADSTS…: …", error_codes, trace_id, correlation_id, timestamp}``.

The request is authlib's ``AsyncOAuth2Client.fetch_token``; the token is cached by
:class:`~warroom.adapters.http.TokenCache` (fetched again shortly before it expires and once on a 401). authlib's
errors and httpx's are translated here into :mod:`warroom.adapters.errors`; the secret is never logged. Each token
request is told to the observer as system ``entra`` (:mod:`warroom.adapters.observe`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

import httpx

from warroom.adapters.errors import AdapterError, Permanent, RateLimited, Transient
from warroom.adapters.http import TokenCache, error_reason, retry_after_seconds
from warroom.adapters.oauth import AsyncOAuth2Client, OAuthError
from warroom.adapters.observe import CallObserver, Outcome, ignore, outcome_of_error

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
BOT_SCOPE = "https://api.botframework.com/.default"
#: The name token requests are observed under.
LABEL = "entra"


class EntraToken:
    """Tokens of one app registration for one scope. Close with :meth:`aclose`."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        system: str,
        timeout: float = 15.0,
        max_retries: int = 4,
        max_inline_wait: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        observe: CallObserver = ignore,
    ) -> None:
        self.token_url = token_url
        self._observe = observe
        self.scope = scope
        self.system = system
        self._oauth = AsyncOAuth2Client(
            client_id=client_id,
            client_secret=client_secret,
            token_endpoint_auth_method="client_secret_post",
            scope=scope,
            timeout=timeout,
        )
        self._oauth.register_compliance_hook("access_token_response", self._check_response)
        self.cache = TokenCache(
            self._fetch, clock=clock, max_retries=max_retries, max_inline_wait=max_inline_wait
        )

    @staticmethod
    def url_for(login_url: str, tenant_id: str) -> str:
        """The token endpoint of a tenant: ``login_url`` with ``{tenant}`` replaced."""
        return login_url.replace("{tenant}", tenant_id or "common")

    @property
    def fetches(self) -> int:
        return self.cache.fetches

    async def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {await self.cache.get()}"}

    async def forget(self) -> None:
        self.cache.forget()

    async def aclose(self) -> None:
        await self._oauth.aclose()

    async def _fetch(self) -> tuple[str, float]:
        outcome: Outcome = "ok"
        try:
            token = await self._oauth.fetch_token(
                self.token_url, grant_type="client_credentials", scope=self.scope
            )
        except AdapterError as exc:  # Entra's refusal, translated by the compliance hook
            outcome = outcome_of_error(exc)
            raise
        except httpx.TimeoutException:
            outcome = "unreachable"
            raise Transient(self.system, "the Entra ID token request timed out") from None
        except httpx.TransportError as exc:
            outcome = "unreachable"
            raise Transient(
                self.system, f"the Entra ID token request failed to connect ({type(exc).__name__})"
            ) from None
        except (OAuthError, ValueError, httpx.HTTPError) as exc:
            outcome = "refused"
            raise Permanent(
                self.system, f"Entra ID gave an unusable token answer ({type(exc).__name__})"
            ) from None
        finally:
            self._observe(LABEL, outcome)
        access = token.get("access_token")
        if not isinstance(access, str) or not access:
            raise Permanent(self.system, "Entra ID answered without an access_token")
        try:
            lifetime = float(token.get("expires_in") or 3599)
        except (TypeError, ValueError):
            lifetime = 3599.0
        return access, lifetime

    def _check_response(self, response: httpx.Response) -> httpx.Response:
        """authlib compliance hook: a failed token answer becomes warroom's error, with Entra's reason."""
        status = response.status_code
        if response.is_success:
            return response
        if status == 429:
            raise RateLimited(
                self.system,
                "rate limited on the Entra ID token request",
                retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 408:
            raise Transient(self.system, f"the Entra ID token request failed: {error_reason(response)}")
        reason = _entra_reason(response)
        if status == 400 and _entra_code(response) == "invalid_resource":
            audience = self.scope.removesuffix("/.default")
            fix = ("register the app (teams.app_id) as an Azure Bot with its Microsoft Teams channel on, in the "
                   "tenant teams.tenant_id names" if self.scope == BOT_SCOPE else "check teams.tenant_id")
            first = reason.split(". ")[0]  # Entra's first sentence names the resource and the tenant
            raise Permanent(self.system, f"Entra ID issues no token for {audience} in this tenant ({first}): {fix}.")
        if status in (400, 401):
            raise Permanent(
                self.system,
                f"Entra ID refused the app's client credentials ({reason}): check teams.app_id and teams.tenant_id "
                "against the bot's app registration, set WARROOM_TEAMS__APP_PASSWORD to a current client secret, "
                "and grant admin consent for the application permissions warroom uses.",
            )
        raise Permanent(self.system, f"the Entra ID token request failed: {reason}")


def _entra_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error") or "") if isinstance(body, dict) else ""


def _entra_reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return error_reason(response)
    if not isinstance(body, dict):
        return error_reason(response)
    code = str(body.get("error") or "")
    description = str(body.get("error_description") or "").split("\n")[0].split(" Trace ID:")[0]
    return ": ".join(p for p in (code, description[:200]) if p) or error_reason(response)
