"""The one configuration model: a YAML file plus ``WARROOM_<SECTION>__<KEY>`` environment variables.

Secrets (tokens, client secrets, signing secrets) come only from the environment or from files named by
``<key>_file``; a secret written into the YAML file is refused by :func:`check` with a sentence that says
where to put it instead. Nothing here does I/O at import: :func:`load_settings` reads the file when called.

The package holds three modules: :mod:`.model` (the sections and their fields), :mod:`.load` (the YAML file,
the environment and ``*_file`` secrets) and :mod:`.checks` (the cross-field checks of ``check-config``).
Import from here: ``from warroom.settings import Settings, load_settings``.
"""

from __future__ import annotations

from .checks import check
from .load import ConfigError, load_settings
from .model import (
    DEFAULT_PERMISSIONS,
    EMAIL_RE,
    SECRET_KEYS,
    SERVICE_NAME_RE,
    AiSettings,
    BridgeProvider,
    DatabaseSettings,
    Direction,
    Impact,
    IntakeSettings,
    ItsmLinkSettings,
    ResponseSettings,
    ServerSettings,
    ServiceSettings,
    Settings,
    SlackChannelSettings,
    SlackSettings,
    SmtpSettings,
    StatuspageSettings,
    TeamsChannelSettings,
    TeamsSettings,
    TwilioSettings,
    WebexSettings,
    WorkerSettings,
    XurrentEnvironment,
    XurrentRegion,
    XurrentSettings,
    ZoomSettings,
)

__all__ = [
    "DEFAULT_PERMISSIONS",
    "EMAIL_RE",
    "SECRET_KEYS",
    "SERVICE_NAME_RE",
    "AiSettings",
    "BridgeProvider",
    "ConfigError",
    "DatabaseSettings",
    "Direction",
    "Impact",
    "IntakeSettings",
    "ItsmLinkSettings",
    "ResponseSettings",
    "ServerSettings",
    "ServiceSettings",
    "Settings",
    "SlackChannelSettings",
    "SlackSettings",
    "SmtpSettings",
    "StatuspageSettings",
    "TeamsChannelSettings",
    "TeamsSettings",
    "TwilioSettings",
    "WebexSettings",
    "WorkerSettings",
    "XurrentEnvironment",
    "XurrentRegion",
    "XurrentSettings",
    "ZoomSettings",
    "check",
    "load_settings",
]
