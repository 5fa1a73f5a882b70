"""The commented configuration file ``warroom init`` writes: every key of the settings model, with its default and
the documentation comment the model carries for it, so the file cannot drift from the code.

Keys are written commented out (``# key: default``) except a few that a first set-up edits; secrets appear only
as placeholders — the environment variable to set, or a ``<key>_file`` naming a file — since a secret written into
the file is refused. Pure code: reads the model and its source, writes nothing.
"""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from . import model
from .model import SECRET_KEYS, ServiceSettings, Settings

#: Keys written active (not commented out) in a new file: what a first set-up decides.
ACTIVE = {
    ("server", "public_url"): "https://warroom.example.com",
    ("database", "url"): "sqlite+aiosqlite:///warroom.db",
    ("slack", "enabled"): True,
    ("teams", "enabled"): False,
    ("xurrent", "enabled"): True,
    ("xurrent", "account"): "your-account",
    ("xurrent", "region"): "global",
    ("xurrent", "client_id"): "",
}

WIDTH = 110

HEADER = """\
# warroom's configuration (written by `warroom init`). Every key is listed with its default; the ones commented
# out keep it. Environment variables WARROOM_<SECTION>__<KEY> win over this file (e.g. WARROOM_SERVER__PORT=9000).
# Secrets are never written here: set WARROOM_<SECTION>__<KEY>, or <key>_file naming a file that holds the value.
# Check it with `warroom --config warroom.yaml check-config` (and `--online` to try the credentials).
"""


@cache
def _comments() -> dict[tuple[str, str], str]:
    """(class name, field) → the ``#:`` comment above the field in the model's source."""
    source = inspect.getsource(model)
    lines = source.splitlines()
    out: dict[tuple[str, str], str] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        for item in node.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                text: list[str] = []
                n = item.lineno - 2
                while n >= 0 and lines[n].strip().startswith("#:"):
                    text.insert(0, lines[n].strip()[2:].strip())
                    n -= 1
                if text:
                    out[(node.name, item.target.id)] = " ".join(text)
    return out


def _default(field: Any) -> Any:
    if field.default is not PydanticUndefined:
        value = field.default
    elif field.default_factory is not None:
        value = field.default_factory()
    else:
        return None
    return _plain(value)


def _plain(value: Any) -> Any:
    """A default as YAML writes it: models as their JSON form, inside lists and mappings too."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _scalar(value: Any) -> str:
    """A value as YAML on one line (flow style for lists and maps)."""
    if value is None:
        return "null"
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, allow_unicode=True).strip()
    return text.removesuffix("\n...").removesuffix("...").strip()


def _note(note: str | None, indent: str) -> list[str]:
    """A documentation comment, wrapped to the file's width, RST literals as plain backticks."""
    if not note:
        return []
    text = note.replace("``", "`")
    width = max(40, WIDTH - len(indent) - 2)
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=width, break_on_hyphens=False)]


def _section(name: str, cls: type[BaseModel], indent: str, *, active: dict[str, Any]) -> list[str]:
    out: list[str] = []
    comments = _comments()
    for key, field in cls.model_fields.items():
        out += _note(comments.get((cls.__name__, key)), indent)
        if (name, key) in SECRET_KEYS:
            env = f"WARROOM_{name.upper()}__{key.upper()}"
            out.append(f"{indent}# {key}: a secret — set {env}, or name a file holding it:")
            out.append(f"{indent}# {key}_file: /run/secrets/{name}_{key}")
            continue
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append(f"{indent}# {key}:")
            out += [f"{indent}#   {line}" for line in _nested(_default(field))]
            continue
        if key in active:
            out.append(f"{indent}{key}: {_scalar(active[key])}")
        else:
            out.append(f"{indent}# {key}: {_scalar(_default(field))}")
    return out


def _nested(value: Any) -> list[str]:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=False, allow_unicode=True).splitlines()


def _service(indent: str) -> list[str]:
    """One example service, its keys documented like the sections'."""
    out = [f"{indent}- name: checkout-api  # lower case, digits, - and _; matched against the alerts' service label"]
    item = indent + "  "
    comments = _comments()
    example = {
        "responders": ["ana@example.com", "ben@example.com"],
        "chat": "slack",
    }
    for key, field in ServiceSettings.model_fields.items():
        if key == "name":
            continue
        annotation = field.annotation
        out += _note(comments.get(("ServiceSettings", key)), item)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out.append(f"{item}# {key}:")
            out += _section(f"services[].{key}", annotation, item + "  ", active={})
            continue
        if key in example:
            out.append(f"{item}{key}: {_scalar(example[key])}")
        else:
            out.append(f"{item}# {key}: {_scalar(_default(field))}")
    return out


def render() -> str:
    """The whole file."""
    out = [HEADER]
    comments = _comments()
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if name == "services":
            out.append("# The service catalog: one entry per service that can have incidents.")
            out.append("services:")
            out += _service("  ")
            out.append("")
            continue
        out += _note(comments.get(("Settings", name)), "")
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            active = {k: v for (s, k), v in ACTIVE.items() if s == name}
            body = _section(name, annotation, "  ", active=active)
            out.append(f"{name}:" if active else f"# {name}:")
            if not active:
                body = [line if line.lstrip().startswith("#") else "# " + line for line in body]
            out += body
        else:
            out.append(f"# {name}: {json.dumps(_default(field))}")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
