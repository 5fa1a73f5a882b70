"""The configuration: ``check-config``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from warroom.cli.common import load
from warroom.settings import ConfigError


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load(args)
    except ConfigError as exc:
        print(f"The configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(f"The configuration is valid: {len(settings.services)} service(s), database {settings.database.url.split(':')[0]}.")
    return 0


def register(sub: Any) -> None:
    sub.add_parser("check-config", help="report every problem in the configuration").set_defaults(func=cmd_check_config)
