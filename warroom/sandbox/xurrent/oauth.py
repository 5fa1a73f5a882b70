"""Xurrent's OAuth host in the sandbox: ``POST /token`` with client credentials (form or HTTP Basic) hands out
bearer tokens that live ``token_lifetime`` seconds; errors as RFC 6749 §5.2.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time

from aiohttp import web

from ..base import Emulator


class XurrentOAuth(Emulator):
    """The client credentials grant (set up by :class:`~.emulator.XurrentEmulator`)."""

    client_id: str
    client_secret: str
    token_lifetime: int
    _tokens: dict[str, tuple[str, float]]

    def expire_tokens(self) -> None:
        """End the life of every access token handed out so far (as if an hour had passed)."""
        self._tokens = {token: (client, 0.0) for token, (client, _) in self._tokens.items()}

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        client_id, client_secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        basic = request.headers.get("Authorization", "")
        if basic.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(basic[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ":"
            client_id, _, client_secret = decoded.partition(":")
        grant = str(form.get("grant_type", ""))
        if not grant:
            return self._oauth_error(400, "invalid_request", "The grant_type parameter is missing.")
        if grant != "client_credentials":
            return self._oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        valid = secrets.compare_digest(client_id.encode(), self.client_id.encode()) and secrets.compare_digest(
            client_secret.encode(), self.client_secret.encode()
        )
        if not valid:
            return self._oauth_error(401, "invalid_client", "Client authentication failed.")
        token = secrets.token_hex(20)
        now = time.time()
        self._tokens[token] = (client_id, now + self.token_lifetime)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime, "created_at": int(now)},
            headers={"Cache-Control": "no-store"},
        )

    @staticmethod
    def _oauth_error(status: int, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=status)
