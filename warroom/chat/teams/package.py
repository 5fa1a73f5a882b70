"""``warroom teams package``: the Teams app package (a zip of manifest.json and the two icons, at its root) with
the configured ids put in place of the placeholders in ``warroom/chat/teams/app_package/manifest.json``.

- ``bots[0].botId`` and ``webApplicationInfo.id`` (needed for the resource-specific consent that lets the bot read
  war-room messages) become ``teams.app_id``, the bot's Microsoft app id;
- ``id``, the Teams app's own id, is derived from it (a UUID 5), so that packaging again gives the same app —
  an upload then updates the app instead of adding a second one — unless one is given;
- with an https ``server.public_url``, its host joins ``validDomains`` and it replaces the example site in the
  developer links.
"""

from __future__ import annotations

import json
import re
import uuid
import zipfile
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warroom.settings import Settings

PLACEHOLDER_APP_ID = "11111111-1111-4111-8111-111111111111"
PLACEHOLDER_BOT_ID = "22222222-2222-4222-8222-222222222222"
EXAMPLE_SITE = "https://warroom.example.com"
#: the manifest template and icons, shipped inside the package (so an installed copy has them)
MANIFEST_DIR = Path(str(resources.files("warroom.chat.teams").joinpath("app_package")))
FILES = ("manifest.json", "color.png", "outline.png")
_GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_NAMESPACE = uuid.UUID("5a0c6a55-2f0e-4b8e-9a41-77a2b0f3c0de")


class PackageError(Exception):
    """The package cannot be built; the message says what to fix."""


def teams_app_id(bot_id: str) -> str:
    """The Teams app id warroom uses for a bot: stable for the same bot id."""
    return str(uuid.uuid5(_NAMESPACE, f"warroom-teams-app:{bot_id.lower()}"))


def build_manifest(
    template: dict[str, Any], *, bot_id: str, app_id: str | None = None, public_url: str | None = None
) -> dict[str, Any]:
    if not _GUID.fullmatch(bot_id or ""):
        raise PackageError(
            "teams.app_id must be the bot's Microsoft app id, a GUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301: "
            "copy it from the Azure Bot resource (Configuration → Microsoft App ID)."
        )
    if app_id is not None and not _GUID.fullmatch(app_id):
        raise PackageError("The Teams app id must be a GUID such as 3f2504e0-4f89-41d3-9a0c-0305e82c3301.")
    text = json.dumps(template)
    text = text.replace(PLACEHOLDER_BOT_ID, bot_id.lower()).replace(
        PLACEHOLDER_APP_ID, app_id or teams_app_id(bot_id)
    )
    site = public_url.rstrip("/") if public_url else ""
    parts = urlsplit(site)
    public = parts.scheme == "https" and parts.hostname not in (None, "localhost", "127.0.0.1")
    if public:
        text = text.replace(EXAMPLE_SITE, site)
    manifest: dict[str, Any] = json.loads(text)
    if public and parts.hostname:
        domains = manifest.setdefault("validDomains", [])
        if parts.hostname not in domains:
            domains.append(parts.hostname)
    return manifest


def package(
    settings: Settings, out: Path, *, manifest_dir: Path = MANIFEST_DIR, app_id: str | None = None
) -> dict[str, Any]:
    """Write the zip to ``out``; returns the manifest it holds."""
    missing = [name for name in FILES if not (manifest_dir / name).is_file()]
    if missing:
        raise PackageError(
            f"{', '.join(missing)} not found in {manifest_dir}: reinstall warroom (the package ships them), or point "
            "--manifest at the folder that holds manifest.json, color.png and outline.png."
        )
    template = json.loads((manifest_dir / "manifest.json").read_text(encoding="utf-8"))
    manifest = build_manifest(
        template, bot_id=settings.teams.app_id, app_id=app_id, public_url=settings.server.public_url
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for name in FILES[1:]:
            zf.write(manifest_dir / name, arcname=name)
    return manifest
