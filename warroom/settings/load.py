"""Loading the settings: the YAML file, ``WARROOM_<SECTION>__<KEY>`` environment variables and ``*_file`` secrets.

:func:`load_settings` reads the file when called, refuses secrets written into it, runs :func:`check` and raises
:class:`ConfigError` with every problem at once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .checks import check
from .model import SECRET_KEYS, Settings


class ConfigError(Exception):
    """Raised with every problem found, each a sentence naming the key and what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"The configuration file {path} does not exist: check --config or WARROOM_CONFIG."]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"The configuration file {path} is not valid YAML ({exc}); fix the syntax."]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"The configuration file {path} must hold a mapping of sections at the top level."])
    return data


def _resolve_secret_files(data: dict[str, Any], problems: list[str]) -> None:
    """Replace ``<key>_file`` entries by the file's content; refuse secrets written into the YAML."""
    database = data.get("database")
    if isinstance(database, dict) and re.search(r"://[^/@:]*:[^/@]+@", str(database.get("url") or "")):
        problems.append(
            "database.url carries a password, which may not be written in the configuration file: "
            "set WARROOM_DATABASE__URL in the environment instead (or use trust/peer authentication)."
        )
        database.pop("url")
    for section, key in sorted(SECRET_KEYS):
        block = data.get(section)
        if not isinstance(block, dict):
            continue
        if key in block and block[key] not in (None, ""):
            env = f"WARROOM_{section.upper()}__{key.upper()}"
            problems.append(
                f"{section}.{key} is a secret and may not be written in the configuration file: "
                f"set the environment variable {env} or name a file with {section}.{key}_file."
            )
            block.pop(key)
        file_key = f"{key}_file"
        if file_key in block:
            path = Path(str(block.pop(file_key)))
            try:
                block[key] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                problems.append(f"{section}.{file_key} names {path}, which cannot be read ({exc.strerror}).")
    for env_name, value in os.environ.items():
        if env_name.upper().startswith("WARROOM_") and env_name.upper().endswith("_FILE") and "__" in env_name:
            section, _, key = env_name[len("WARROOM_") : -len("_FILE")].lower().partition("__")
            if (section, key) in SECRET_KEYS:
                try:
                    data.setdefault(section, {})[key] = Path(value).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    problems.append(f"{env_name} names {value}, which cannot be read ({exc.strerror}).")


def _describe(error: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in error["loc"])
    msg = error["msg"]
    if error["type"] == "extra_forbidden":
        return f"{loc} is not a known setting: remove it or check its spelling against the README's configuration reference."
    if error["type"] == "missing":
        return f"{loc} is required: add it."
    return f"{loc}: {msg}; fix the value."


def load_settings(path: str | Path | None = None, *, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the YAML file (``path`` or ``$WARROOM_CONFIG``), the environment, and check the whole.

    Raises :class:`ConfigError` listing every problem at once.
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = path or os.environ.get("WARROOM_CONFIG")
    if path:
        data = _read_yaml(Path(path))
    if overrides:
        data = _merge(data, overrides)
    _resolve_secret_files(data, problems)
    try:
        settings = Settings(**data)
    except ValidationError as exc:
        problems.extend(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(problems) from None
    problems.extend(check(settings))
    if problems:
        raise ConfigError(problems)
    return settings


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
