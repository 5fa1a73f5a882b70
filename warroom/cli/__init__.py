"""``warroom``: the command line. One module per group of commands, each with a ``register`` that adds its
subcommands; ``main`` parses and dispatches."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from warroom.cli import apps, config, incidents, init, oncall, ops, server, statuspages
from warroom.cli.common import version
from warroom.settings import ConfigError

__all__ = ["build_parser", "main", "version"]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line: the options and every group's subcommands."""
    parser = argparse.ArgumentParser(prog="warroom", description="Chat-ops for major incidents.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument("--config", help="YAML configuration file (default: $WARROOM_CONFIG)")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default), ERROR; serve's default is logging.level")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in (server, init, config, ops, apps, incidents, oncall, statuspages):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=(args.log_level or "WARNING").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if getattr(args, "action", None) == "retry" and args.incident is None:
        parser.error("outbox retry needs the incident number, e.g. `warroom outbox retry 12`")
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print("The configuration is not usable; run `warroom check-config` for details:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 2


