"""The Teams app package: manifest.json valid against Microsoft's published v1.24 schema (bundled here), its
command list taken from the grammar, icons of the sizes Teams wants, and `warroom teams package` producing a zip
Teams accepts (files at the root, the configured ids in place)."""

from __future__ import annotations

import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from warroom.chat import grammar as cmd
from warroom.chat.grammar import oncall
from warroom.chat.teams.package import PLACEHOLDER_APP_ID, PLACEHOLDER_BOT_ID, teams_app_id
from warroom.cli import main

ROOT = Path(__file__).resolve().parents[3]
MANIFEST_DIR = ROOT / "warroom" / "chat" / "teams" / "app_package"
SCHEMA = json.loads((Path(__file__).parent / "schemas" / "teams-manifest-v1.24.schema.json").read_text())
BOT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


def schema_errors(manifest: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft4Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(manifest)]


def png_image(data: bytes) -> tuple[int, int, list[list[tuple[int, ...]]]]:
    """Width, height and RGBA rows of an 8-bit RGBA PNG without filters other than None (what make_icons writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color_type = struct.unpack(">IIBB", header[:10])
    assert (depth, color_type) == (8, 6), "icons are 8-bit RGBA"
    raw = zlib.decompress(idat)
    stride = 1 + 4 * width
    rows = []
    for y in range(height):
        line = raw[y * stride : (y + 1) * stride]
        assert line[0] == 0
        rows.append([tuple(line[1 + 4 * x : 5 + 4 * x]) for x in range(width)])
    return width, height, rows


def test_the_manifest_is_valid_against_the_v1_24_schema() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text())
    assert manifest["manifestVersion"] == "1.24"
    assert schema_errors(manifest) == []
    # the placeholders are valid GUIDs, replaced when packaging
    assert manifest["id"] == PLACEHOLDER_APP_ID and manifest["bots"][0]["botId"] == PLACEHOLDER_BOT_ID
    # the bot reads war-room messages (conversation capture) by resource-specific consent, which needs the app id
    rsc = {p["name"] for p in manifest["authorization"]["permissions"]["resourceSpecific"]}
    assert "ChannelMessage.Read.Group" in rsc
    assert manifest["webApplicationInfo"]["id"] == PLACEHOLDER_BOT_ID


def test_the_command_list_is_the_grammars_verbs() -> None:
    manifest = json.loads((MANIFEST_DIR / "manifest.json").read_text())
    lists = {
        tuple(c["scopes"]): [x["title"] for x in c["commands"]] for c in manifest["bots"][0]["commandLists"]
    }
    team = lists[("team", "groupChat")]
    # Teams shows at most 12 commands per scope: the ones responders use in a war room, all of the grammar
    assert len(team) <= 12 and len(set(team)) == len(team)
    assert {
        "declare",
        "ack",
        "resolve",
        "reopen",
        "status",
        "priority",
        "title",
        "assign",
        "role",
        "note",
        "page",
        "help",
    } <= set(team)
    assert set(lists[("personal",)]) == {"declare", "escalate", "oncall", "help"}
    for titles in lists.values():
        for title in titles:  # each is a verb the grammar knows (bare, it may ask for its argument)
            if title == oncall.VERB:  # the on-call command, beside the incident commands
                rest = oncall.after_verb(title)
                assert rest == "" and not isinstance(oncall.parse(rest, oncall.OnCallGrammar()), cmd.Rejection)
                continue
            assert title in cmd.VERBS
            parsed = cmd.parse(title, cmd.GrammarContext())
            assert not isinstance(parsed, cmd.Rejection) or parsed.verb == title


def test_the_icons_are_the_sizes_teams_wants_and_the_outline_is_white_on_transparent() -> None:
    width, height, _ = png_image((MANIFEST_DIR / "color.png").read_bytes())
    assert (width, height) == (192, 192)
    width, height, rows = png_image((MANIFEST_DIR / "outline.png").read_bytes())
    assert (width, height) == (32, 32)
    alphas = [px[3] for row in rows for px in row]
    assert 0 in alphas and max(alphas) == 255  # transparent background, opaque strokes
    assert all(px[:3] == (255, 255, 255) for row in rows for px in row if px[3] > 0)


@pytest.fixture(autouse=True)
def _intake_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARROOM_INTAKE__GENERIC_TOKEN", "a-token")  # a valid configuration needs one


def _config(tmp_path: Path, app_id: str, public_url: str = "https://warroom.acme.example") -> str:
    path = tmp_path / "warroom.yaml"
    path.write_text(
        json.dumps(
            {
                "server": {"public_url": public_url},
                "slack": {"enabled": False},
                "xurrent": {"enabled": False},
                "teams": {"app_id": app_id},
                "services": [{"name": "checkout-api", "bridge": "none"}],
            }
        )
    )
    return str(path)


def test_warroom_teams_package_zips_the_manifest_with_the_configured_ids(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "app.zip"
    assert main(["--config", _config(tmp_path, BOT_ID.upper()), "teams", "package", "--out", str(out)]) == 0
    assert "Upload it in Teams" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [
            "color.png",
            "manifest.json",
            "outline.png",
        ]  # at the root, no folders
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("color.png") == (MANIFEST_DIR / "color.png").read_bytes()
    assert schema_errors(manifest) == []
    assert manifest["bots"][0]["botId"] == BOT_ID and manifest["webApplicationInfo"]["id"] == BOT_ID
    assert manifest["id"] == teams_app_id(BOT_ID) != BOT_ID
    text = json.dumps(manifest)
    assert PLACEHOLDER_APP_ID not in text and PLACEHOLDER_BOT_ID not in text
    assert manifest["validDomains"] == ["warroom.acme.example"]
    assert manifest["developer"]["privacyUrl"] == "https://warroom.acme.example/privacy"
    # packaging again gives the same Teams app (an upload updates it rather than adding a second app)
    again = tmp_path / "again.zip"
    assert main(["--config", _config(tmp_path, BOT_ID), "teams", "package", "--out", str(again)]) == 0
    with zipfile.ZipFile(again) as zf:
        assert json.loads(zf.read("manifest.json"))["id"] == manifest["id"]


def test_a_bad_app_id_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "app.zip"
    assert main(["--config", _config(tmp_path, "my-bot"), "teams", "package", "--out", str(out)]) == 1
    assert "teams.app_id must be the bot's Microsoft app id, a GUID" in capsys.readouterr().err
    assert not out.exists()
    code = main(
        ["--config", _config(tmp_path, BOT_ID), "teams", "package", "--out", str(out), "--app-id", "x"]
    )
    assert code == 1 and "must be a GUID" in capsys.readouterr().err
