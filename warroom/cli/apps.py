"""The chat apps' packages: ``teams package``, ``slack manifest``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from warroom.cli.common import load
from warroom.settings import Settings


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


def load_unchecked(args: argparse.Namespace) -> Settings:
    """The settings as configured (file, environment, secret files), without the cross-field checks a running
    server needs (tokens, credentials): for commands that need little of them — the Slack manifest, made before the
    app and its tokens exist; reading the database. A value the schema refuses is still said, as check-config
    says it."""
    from pydantic import ValidationError

    from warroom.settings.load import _read_yaml, _resolve_secret_files

    path = args.config or os.environ.get("WARROOM_CONFIG")
    data = _read_yaml(Path(path)) if path else {}
    _resolve_secret_files(data, [])  # its complaints are about secrets, which the manifest does not need
    try:
        return Settings(**data)
    except ValidationError:
        return load(args)  # raises ConfigError, every problem said as check-config says it


def cmd_slack(args: argparse.Namespace) -> int:
    from warroom.chat.slack.manifest import ManifestError, manifest

    settings = load_unchecked(args)
    try:
        text = manifest(command=settings.slack.command, oncall_command=settings.slack.oncall_command, url=args.url,
                        socket=args.socket)
    except ManifestError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    sys.stdout.write(text)
    if args.socket:
        if args.url:
            print(f"--url {args.url} is not used: a Socket Mode app has no request URLs.", file=sys.stderr)
        print("Socket Mode also needs an app-level token, which no manifest carries: in the app's Basic Information "
              "→ App-Level Tokens, create one with the connections:write scope, and give it to warroom as "
              "WARROOM_SLACK__APP_TOKEN (xapp-…) with slack.mode: socket; then install the app and set "
              "WARROOM_SLACK__BOT_TOKEN (xoxb-…).", file=sys.stderr)
    else:
        if settings.slack.mode == "socket":
            print("The configuration says slack.mode: socket, but this manifest is for HTTP request URLs: add --socket "
                  "for a Socket Mode app, or set slack.mode: http.", file=sys.stderr)
        print("After creating the app, install it and give warroom its bot token (WARROOM_SLACK__BOT_TOKEN, xoxb-…) "
              "and signing secret (WARROOM_SLACK__SIGNING_SECRET, from Basic Information).", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    teams = sub.add_parser("teams", help="the Microsoft Teams app")
    teams.add_argument("action", choices=["package"])
    teams.add_argument("--out", default="warroom-teams.zip", help="where to write the app package (a zip)")
    teams.add_argument("--manifest", help="folder with manifest.json and the icons (default: the one warroom ships)")
    teams.add_argument("--app-id", help="the Teams app id (a GUID); default: derived from teams.app_id")
    teams.set_defaults(func=cmd_teams)
    slack = sub.add_parser("slack", help="the Slack app")
    slack.add_argument("action", choices=["manifest"])
    slack.add_argument("--url", help="the https address Slack reaches warroom at, without a path "
                                     "(e.g. https://warroom.example.com); Slack posts to <url>/slack/events")
    slack.add_argument("--socket", action="store_true",
                       help="a Socket Mode app: no request URLs (warroom connects to Slack with an app-level token)")
    slack.set_defaults(func=cmd_slack)
