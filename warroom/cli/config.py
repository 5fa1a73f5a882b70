"""The configuration: ``check-config`` (``--online``: ask every outside system the settings use)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from warroom.settings import ConfigError, load_settings

#: How each online outcome is marked.
MARKS = {"ok": "ok  ", "unreachable": "FAIL", "refused": "FAIL", "not_found": "FAIL", "failed": "FAIL"}


def cmd_check_config(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(args.config, serving=True)
    except ConfigError as exc:
        print(f"The configuration has {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        if args.online:
            print("The online checks did not run: fix the configuration first.", file=sys.stderr)
        return 1
    print(f"The configuration is valid: {len(settings.services)} service(s), database {settings.database.url.split(':')[0]}.")
    if not args.online:
        return 0
    from warroom.preflight import run_checks

    outcomes = asyncio.run(run_checks(settings))
    if not outcomes:
        print("Nothing to check online: the configuration uses no outside system.")
        return 0
    print(f"Online checks ({len(outcomes)}):")
    for outcome in outcomes:
        print(f"  {MARKS[outcome.status]}  {outcome.message}")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        print(f"{len(failed)} of {len(outcomes)} online check(s) failed.", file=sys.stderr)
        return 1
    print(f"All {len(outcomes)} online checks passed.")
    return 0


def register(sub: Any) -> None:
    parser = sub.add_parser("check-config", help="report every problem in the configuration")
    parser.add_argument(
        "--online", action="store_true",
        help="also ask every outside system the configuration uses (Slack, Xurrent, Zoom, Webex, Teams, the model, "
             "Statuspage, the logs and metrics sources) "
             "whether its URLs, credentials and ids work",
    )
    parser.set_defaults(func=cmd_check_config)
