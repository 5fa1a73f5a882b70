"""authlib's OAuth 2 client for httpx, imported without the deprecation notice authlib prints on import.

authlib 1.9 deprecates its ``httpx`` integration in favour of the separate ``httpx2`` package: importing
``authlib.integrations.httpx_client`` without ``httpx2`` installed warns ``AuthlibDeprecationWarning: The httpx
module is deprecated; please use httpx2 instead``. ``authlib.deprecate`` installs its own ``always`` filter for that
category when it is imported, ahead of any filter set earlier (the command line's, pytest's ``filterwarnings``), so
the notice showed on every command that loads an adapter. It is not for operators to act on: warroom is written
against httpx (its exceptions and types), and moves when it moves. The notice is ignored here, for that one
message, around the one import; every other authlib deprecation still shows.

Adapters import :class:`AsyncOAuth2Client` and :class:`OAuthError` from here, never from authlib directly.
"""

from __future__ import annotations

import warnings

# imported first so that its ``always`` filter is in place before ours, which must come ahead of it
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from authlib.integrations.base_client import OAuthError

__all__ = ["AsyncOAuth2Client", "OAuthError"]
