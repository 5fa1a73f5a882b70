"""``warroom init``: write a commented configuration file to start from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from warroom.settings.template import render


def cmd_init(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.exists() and not args.force:
        print(f"{out} exists already; keep it, or write over it with `warroom init --force`.", file=sys.stderr)
        return 1
    out.write_text(render(), encoding="utf-8")
    print(f"Wrote {out}: every setting with its default, commented out where the default is kept. Edit it — "
          f"server.public_url, xurrent.account and client_id, the services — set the secrets it names, then run "
          f"`warroom --config {out} check-config`.")
    return 0


def register(sub: Any) -> None:
    init = sub.add_parser("init", help="write a commented configuration file (warroom.yaml) to edit")
    init.add_argument("--out", default="warroom.yaml", help="where to write it (default: warroom.yaml)")
    init.add_argument("--force", action="store_true", help="write over an existing file")
    init.set_defaults(func=cmd_init)
