"""The Entra ID token endpoint, served by the Graph emulator alongside Graph.

- **Tokens**: ``POST /{tenant}/oauth2/v2.0/token`` (client credentials, ``client_secret_post``) with ``scope``
  ``https://graph.microsoft.com/.default`` or ``https://api.botframework.com/.default`` → ``{token_type:
  "Bearer", expires_in: 3599, ext_expires_in, access_token}``. Failures are Entra's ``{error,
  error_description: "AADSTS…", error_codes, timestamp, trace_id, correlation_id}``: unknown tenant 400
  ``invalid_request`` (AADSTS90002), unknown app 400 ``unauthorized_client`` (AADSTS700016), wrong secret 401
  ``invalid_client`` (AADSTS7000215), bad scope 400 ``invalid_scope`` (AADSTS1002012), a resource the tenant has no
  service principal of (``TeamsTenant.resources``) 400 ``invalid_resource`` (AADSTS500011), other grants 400
  ``unsupported_grant_type`` (AADSTS70003).
"""

from __future__ import annotations

import secrets
import time
import uuid

from aiohttp import web

from ..tenant import SCOPES
from .core import GraphCore


class GraphEntra(GraphCore):
    """``POST /{tenant}/oauth2/v2.0/token``: client credentials for Graph and for the Bot Framework."""

    async def _token(self, request: web.Request) -> web.Response:
        form = {k: str(v) for k, v in (await request.post()).items()}
        t = self.tenant

        def refuse(status: int, error: str, code: int, text: str) -> web.Response:
            trace = str(uuid.uuid4())
            return web.json_response(
                {
                    "error": error,
                    "error_description": f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {uuid.uuid4()} "
                    f"Timestamp: {time.strftime('%Y-%m-%d %H:%M:%SZ', time.gmtime())}",
                    "error_codes": [code],
                    "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
                    "trace_id": trace,
                    "correlation_id": str(uuid.uuid4()),
                },
                status=status,
            )

        if request.match_info["tenant"] not in (t.tenant_id, t.domain):
            return refuse(
                400,
                "invalid_request",
                90002,
                f"Tenant '{request.match_info['tenant']}' not found. Check to make sure you have the correct tenant ID.",
            )
        if form.get("grant_type") != "client_credentials":
            return refuse(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            )
        if form.get("client_id") != t.app_id:
            return refuse(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{form.get('client_id', '')}' was not found in the directory.",
            )
        if not secrets.compare_digest(form.get("client_secret", ""), t.app_secret):
            return refuse(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                "secret value, not the client secret ID.",
            )
        scope = form.get("scope", "")
        if scope not in SCOPES:
            return refuse(
                400, "invalid_scope", 1002012, f"The provided value for scope {scope} is not valid."
            )
        if SCOPES[scope] not in t.resources:
            return refuse(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {SCOPES[scope]} was not found in the tenant named {t.tenant_id}. "
                "This can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You might have sent your authentication request to the "
                "wrong tenant.",
            )
        token = t.issue_token(scope)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": t.token_lifetime,
                "ext_expires_in": t.token_lifetime,
                "access_token": token,
            }
        )
