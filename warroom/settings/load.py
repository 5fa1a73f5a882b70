"""Loading the settings: the YAML file, ``WARROOM_<SECTION>__<KEY>`` environment variables and ``*_file`` secrets.

:func:`load_settings` reads the file when called, refuses secrets written into it, runs :func:`check` and raises
:class:`ConfigError` with every problem at once — the schema's and the cross-field checks' together: when the
schema refuses a value, the cross-field checks still run on the rest (the refused values set aside), so that one
mistake does not hide the others. Every problem names its key in one style,
``services[1] (payments).itsm.severity_threshold``.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_settings import EnvSettingsSource, SettingsError

from .checks import check, check_serving, service_key
from .model import SECRET_KEYS, Settings, _WithoutFileKeys

#: Settings that may be read from a file named by ``<key>_file`` or ``WARROOM_<SECTION>__<KEY>_FILE``: the
#: secrets, and the database URL (which carries the database password when it has one).
FILE_KEYS: frozenset[tuple[str, str]] = SECRET_KEYS | {("database", "url")}

NO_CONFIG = (
    "No configuration file was named: pass --config /path/to/warroom.yaml (before the command, e.g. "
    "`warroom --config warroom.yaml check-config`) or set WARROOM_CONFIG=/path/to/warroom.yaml; `warroom init` "
    "writes one to start from."
)

#: What pydantic puts before the message of a validator's ValueError / assertion.
_PREFIXES = ("Value error, ", "Assertion failed, ")


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
    except IsADirectoryError:
        raise ConfigError([f"The configuration file {path} is a directory: name the YAML file in --config or "
                           "WARROOM_CONFIG."]) from None
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
            "set WARROOM_DATABASE__URL in the environment instead, or name a file holding the URL with "
            "database.url_file (or use trust/peer authentication)."
        )
        database.pop("url")
    for section, key in sorted(FILE_KEYS):
        block = data.get(section)
        if not isinstance(block, dict):
            continue
        if (section, key) in SECRET_KEYS and key in block and block[key] not in (None, ""):
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
            if (section, key) in FILE_KEYS:
                try:
                    data.setdefault(section, {})[key] = Path(value).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    problems.append(f"{env_name} names {value}, which cannot be read ({exc.strerror}).")


# -- the schema's problems ---------------------------------------------------------------------------------------
def key_path(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """A pydantic location as the problems name keys: ``services[1] (payments).itsm.severity_threshold``."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            if i == 1 and loc[0] == "services":
                services = data.get("services")
                entry = services[part] if isinstance(services, list) and 0 <= part < len(services) else None
                name = entry.get("name") if isinstance(entry, dict) else None
                out = service_key(part, name if isinstance(name, str) else "")
            else:
                out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _describe(error: dict[str, Any], data: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    path = key_path(loc, data)
    kind = error["type"]
    msg = str(error["msg"])
    for prefix in _PREFIXES:
        msg = msg.removeprefix(prefix)
    msg = msg.rstrip(".")
    if kind == "extra_forbidden":
        return (f"{path} is not a known setting: remove it or check its spelling against the README's "
                "configuration reference.")
    if kind == "missing":
        return f"{path} is required: add it."
    if kind in ("value_error", "assertion_error"):
        top = path.split(".", 1)[0].split("[", 1)[0]
        if msg.startswith(f"{top}.") or msg.startswith(f"{path} "):
            return f"{msg}."  # the validator named the key itself
        return f"{path}: {msg}."
    secret = bool(loc) and isinstance(loc[-1], str) and (str(loc[0]), loc[-1]) in SECRET_KEYS
    value = error.get("input")
    said = msg[:1].lower() + msg[1:]
    if not secret and isinstance(value, str | int | float | bool) and len(str(value)) <= 80:
        return f"{path} is {value!r}: {said}."
    return f"{path}: {said}; fix the value."


_DROP = object()


def _neutral_service() -> dict[str, Any]:
    """What stands in for a service entry the schema refused, while the cross-field checks run on the rest."""
    return {"name": "", "bridge": "none", "chat": "slack", "itsm": {"enabled": False}}


def _set_aside(data: dict[str, Any], loc: tuple[Any, ...], kind: str) -> None:
    """Take what the schema refused at ``loc`` out of ``data`` (the default, or a neutral value, takes its place)."""
    trail: list[tuple[Any, Any]] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            trail.append((node, part))
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            trail.append((node, part))
        else:
            break
        node = node[part]
    if kind == "missing" and len(trail) == len(loc) - 1 and isinstance(node, dict):
        node[loc[-1]] = ""  # a required text (a service's name): empty, its own checks set aside by the caller
        return
    if not trail:
        return
    parent, key = trail[-1]
    depth = len(trail)
    if loc[0] == "services" and depth == 2:
        parent[key] = _neutral_service()
    elif loc[0] == "services" and depth == 3 and key == "bridge":
        parent[key] = "none"  # not the default (zoom): that would ask for Zoom's settings
    elif isinstance(parent, list):
        parent[key] = _DROP
    else:
        del parent[key]


def _without_drops(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_drops(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_without_drops(v) for v in node if v is not _DROP]
    return node


def _environment() -> dict[str, Any]:
    """What the environment adds to the file, as :class:`Settings` reads it (``…_FILE`` variables left out)."""
    try:
        return _WithoutFileKeys(Settings, EnvSettingsSource(Settings))()
    except SettingsError:
        return {}


def _validate(data: dict[str, Any]) -> tuple[Settings | None, list[str], Settings | None, list[str]]:
    """(the settings, the schema's problems, settings to run the cross-field checks on, keys set aside)."""
    try:
        settings = Settings(**data)
        return settings, [], settings, []
    except SettingsError as exc:
        field = re.search(r'field "([^"]+)"', str(exc))
        name = f"WARROOM_{field.group(1).upper()}" if field else "a WARROOM_ variable"
        return None, [f"The environment variable {name} cannot be read as that setting ({exc}): give it as JSON."], None, []
    except ValidationError as exc:
        errors: list[dict[str, Any]] = [dict(e) for e in exc.errors()]
    merged = _merge(data, _environment())
    problems = [_describe(e, merged) for e in errors]
    aside = [key_path(tuple(e["loc"]), merged) for e in errors]
    rest = copy.deepcopy(merged)
    for _ in range(6):
        for error in errors:
            _set_aside(rest, tuple(error["loc"]), error["type"])
        rest = _without_drops(rest)
        try:
            return None, problems, Settings.model_validate(rest), aside
        except ValidationError as exc:
            errors = [dict(e) for e in exc.errors()]
    return None, problems, None, aside


def _about(problem: str, keys: list[str]) -> bool:
    """Whether a cross-field problem is about a key whose value the schema refused already."""
    return any(problem.startswith(key) and problem[len(key) : len(key) + 1] in ("", " ", ".", ":", "[")
               for key in keys)


def load_settings(
    path: str | Path | None = None, *, overrides: dict[str, Any] | None = None, serving: bool = False
) -> Settings:
    """Read the YAML file (``path`` or ``$WARROOM_CONFIG``), the environment, and check the whole.

    ``serving``: also what only a running server needs (a configuration file, a service catalog), as
    ``check-config`` asks. Raises :class:`ConfigError` listing every problem at once.
    """
    problems: list[str] = []
    data: dict[str, Any] = {}
    path = path or os.environ.get("WARROOM_CONFIG")
    if path:
        data = _read_yaml(Path(path))
    if overrides:
        data = _merge(data, overrides)
    _resolve_secret_files(data, problems)
    settings, schema, checkable, aside = _validate(data)
    problems.extend(schema)
    if checkable is not None:
        cross = check(checkable) + (check_serving(checkable) if serving else [])
        problems.extend(p for p in cross if not _about(p, aside))
    if not path and (serving or problems):
        problems.insert(0, NO_CONFIG)
    if problems or settings is None:
        raise ConfigError(list(dict.fromkeys(problems)))
    return settings


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
