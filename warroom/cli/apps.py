"""The chat apps' packages: ``teams package``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from warroom.cli.common import load


def cmd_teams(args: argparse.Namespace) -> int:
    from pathlib import Path

    from warroom.chat.teams.package import MANIFEST_DIR, PackageError, package

    settings = load(args)
    out = Path(args.out)
    try:
        manifest = package(settings, out, manifest_dir=Path(args.manifest) if args.manifest else MANIFEST_DIR,
                           app_id=args.app_id)
    except PackageError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Wrote {out}: Teams app {manifest['id']} with bot {manifest['bots'][0]['botId']}. Upload it in Teams "
          "(Apps → Manage your apps → Upload an app) or in the Teams admin center.")
    return 0


def register(sub: Any) -> None:
    teams = sub.add_parser("teams", help="the Microsoft Teams app")
    teams.add_argument("action", choices=["package"])
    teams.add_argument("--out", default="warroom-teams.zip", help="where to write the app package (a zip)")
    teams.add_argument("--manifest", help="folder with manifest.json and the icons (default: the one warroom ships)")
    teams.add_argument("--app-id", help="the Teams app id (a GUID); default: derived from teams.app_id")
    teams.set_defaults(func=cmd_teams)
