"""What every command shares: loading the settings, the version."""

from __future__ import annotations

import argparse
from importlib import metadata

from warroom.settings import Settings, load_settings


def version() -> str:
    """The installed distribution's version (pyproject's ``version``), as ``pip`` sees it."""
    try:
        return metadata.version("warroom")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def load(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)
