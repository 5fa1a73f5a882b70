"""The postmortem's life after the AI draft, end to end over signed Slack requests and real HTTP: review → comment →
approve → publish; publishing refused while reviewers have not approved or tasks are open (a won't-do counts only
with a reason); the timeline's edits (an entry hidden, a time corrected, a fact added) in the published text;
published versions immutable (a later edit makes a new draft, publishing again gives v2, v1 unchanged); the HTML
export self-contained and escaping a hostile title and notes; the links on the card and, as an internal note, on
the Xurrent request; and no server error for any id, version or token."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from sqlalchemy import update

from warroom.core.model import LinkKind
from warroom.response.postmortem import markdown_html, to_html
from warroom.sandbox.harness import Harness
from warroom.sandbox.world import World
from warroom.store.schema import tasks as tasks_table

from .browser import CHROMIUM
from .browser import playwright as browser_playwright
from .helpers import open_room, settle, war_room
from .teams_bot_helpers import TeamsSide, card_of, open_war_room
from .teams_bot_helpers import settle as teams_settle

HOSTILE_TITLE = '<script>alert("t")</script> & <img src=x onerror=alert(1)>'


def user(h: Harness, first: str) -> str:
    return h.world.slack.add_user(f"{first}@example.com", first.capitalize())


def slack_escaped(text: str) -> str:
    """What Slack sends for text a person typed (it escapes &, < and >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


async def say(h: Harness, text: str, *, user: str, channel: str) -> dict[str, Any]:
    reply = await h.slack.command(text, user=user, channel=channel)
    assert reply.status_code == 200, reply.text
    await settle(h)
    if not reply.headers.get("content-type", "").startswith("application/json"):
        return {"text": reply.text, "response_type": "ephemeral"}  # a rejection: the plain sentence
    return dict(reply.json())


async def set_task(h: Harness, task_id: int, status: str, reason: str | None = None) -> None:
    async with h.runtime.store.tx() as tx:
        await tx.conn.execute(
            update(tasks_table).where(tasks_table.c.id == task_id).values(status=status, closed_reason=reason)
        )


async def timeline_ids(h: Harness, incident: int, kind: str) -> list[tuple[int, str]]:
    async with h.runtime.store.read() as tx:
        return [(e.id, e.text) for e in await tx.timeline.for_incident(incident) if e.kind == kind]


def section(markdown: str, name: str) -> str:
    m = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", markdown, re.MULTILINE | re.DOTALL)
    assert m is not None, markdown
    return m.group(1)


async def test_review_comment_approve_publish_with_timeline_edits_and_versions(harness: Harness) -> None:
    h = harness
    incident, channel, request_id = await open_room(h)
    ana, ben, chen = user(h, "ana"), user(h, "ben"), user(h, "chen")
    await say(h, f"title {slack_escaped(HOSTILE_TITLE)}", user=ana, channel=channel)
    await say(h, "note Restarted the pods; the secret-looking line to hide", user=ana, channel=channel)
    await say(h, "note Rolled back release 42; error rate back to normal", user=ana, channel=channel)
    hide_id = next(i for i, t in await timeline_ids(h, incident, "note") if "to hide" in t)
    move_id = next(i for i, t in await timeline_ids(h, incident, "note") if "Rolled back" in t)

    # nothing to review before there is a draft
    early = await say(h, f"postmortem review <@{ben}>", user=ana, channel=channel)
    assert "has no postmortem draft yet" in early["text"] and early["response_type"] == "ephemeral"

    await say(h, "postmortem", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        draft = await tx.records.postmortem(incident)
        tasks = await tx.records.tasks(incident)
    assert draft is not None and draft["state"] == "draft" and tasks
    assert f"[event:{hide_id}]" in draft["markdown"]

    # the timeline's edits: an entry hidden, a time corrected, a fact added
    hidden = await say(h, f"postmortem hide {hide_id}", user=ana, channel=channel)
    assert f"hid timeline entry {hide_id}" in hidden["text"] and hidden["response_type"] == "in_channel"
    # times before the incident was declared, whatever the time of day the test runs at (ISO: across midnight too)
    moved_at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=40)
    fact_at = moved_at + timedelta(minutes=15)
    moved = await say(h, f"postmortem time {move_id} {moved_at:%Y-%m-%dT%H:%M}Z", user=ana, channel=channel)
    assert f"{moved_at:%H:%M} UTC" in moved["text"]
    fact = await say(h, f"postmortem fact Support saw the first complaint at {fact_at:%Y-%m-%dT%H:%M}Z",
                     user=ana, channel=channel)
    assert "added a fact" in fact["text"] and f"{fact_at:%H:%M} UTC" in fact["text"]
    # bad input gets a sentence saying what to write
    for wrong, wanted in (("postmortem time 1 tomorrow", "HH:MM"), ("postmortem hide 999999", "no timeline entry"),
                          ("postmortem hide x", "not a timeline entry"), ("postmortem frobnicate", "Unknown postmortem"),
                          ("postmortem approve", "not in review")):
        answer = await say(h, wrong, user=ana, channel=channel)
        assert wanted in answer["text"] and answer["response_type"] == "ephemeral", (wrong, answer)

    # review → comment → approve
    asked = await say(h, f"postmortem review <@{ben}|ben> <@{chen}|chen>", user=ana, channel=channel)
    assert asked["response_type"] == "in_channel"
    assert f"<@{ben}>" in asked["text"] and f"<@{chen}>" in asked["text"]  # the reviewers are told
    assert "asks you to review the postmortem" in asked["text"]
    commented = await say(h, f"postmortem comment {slack_escaped('Name the <release> & its owner')}",
                          user=ben, channel=channel)
    assert "Name the &lt;release&gt; &amp; its owner" in commented["text"]
    stranger = await say(h, "postmortem approve", user=ana, channel=channel)
    assert "not a reviewer" in stranger["text"]
    first = await say(h, "postmortem approve", user=ben, channel=channel)
    assert "(1 of 2 approvals)" in first["text"]

    # publish refused: a reviewer has not approved and a task is open — who and what, in one sentence
    await set_task(h, int(tasks[0]["id"]), "todo")
    refused = await say(h, "postmortem publish", user=ana, channel=channel)
    assert "cannot be published yet" in refused["text"] and "approval of chen" in refused["text"]
    assert f"#{tasks[0]['id']}" in refused["text"] and "To Do" in refused["text"]
    await say(h, "postmortem approve", user=chen, channel=channel)
    await set_task(h, int(tasks[0]["id"]), "wont_do")  # won't-do without a reason: still open
    refused = await say(h, "postmortem publish", user=ana, channel=channel)
    assert "no reason given" in refused["text"] and "approval of" not in refused["text"]
    await set_task(h, int(tasks[0]["id"]), "wont_do", "The release process already covers it")
    published = await say(h, "postmortem publish", user=ana, channel=channel)
    assert published["response_type"] == "in_channel" and "as version 1" in published["text"], published

    async with h.runtime.store.read() as tx:
        v1 = await tx.postmortems.version(incident, 1)
        link = await tx.links.get(incident, LinkKind.POSTMORTEM)
        state = await tx.postmortems.state(incident)
        comments = await tx.postmortems.comments(incident)
    assert v1 is not None and state == "published" and len(comments) == 1
    assert link is not None and link.url and "/postmortem/v1.html?token=" in link.url
    timeline = section(v1["markdown"], "Timeline")
    assert "to hide" not in timeline and f"[event:{hide_id}]" not in timeline
    assert "Support saw the first complaint" in timeline
    rows = timeline.strip().splitlines()
    moved_row = next(n for n, r in enumerate(rows) if f"[event:{move_id}]" in r)
    fact_row = next(n for n, r in enumerate(rows) if "Support saw" in r)
    assert f"{moved_at:%H:%M} UTC" in rows[moved_row] and f"{fact_at:%H:%M} UTC" in rows[fact_row]
    assert moved_row < fact_row
    declared = next(n for n, r in enumerate(rows) if "incident declared" in r)
    assert fact_row < declared  # re-sorted by the corrected times
    # the card's Postmortem button and the request's internal note point at the published version
    assert link.url in war_room(h, incident).card_text
    notes = [n for n in h.world.xurrent.notes(request_id) if link.url in str(n["text"])]
    assert len(notes) == 1 and notes[0]["internal"] is True

    async with httpx.AsyncClient(timeout=10) as http:
        md1 = await http.get(link.url.replace("v1.html", "v1.md"))
        page = await http.get(link.url)
        latest = await http.get(link.url.replace("/postmortem/v1.html", "/postmortem.html"))
    assert md1.status_code == 200 and md1.text == v1["markdown"]
    assert md1.headers["content-type"].startswith("text/markdown")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert latest.text == page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    body = page.text
    # self-contained: no scripts, no outside assets; the hostile title and comment-free text escaped
    tags = re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)([^>]*)>", body)
    assert {t for t, _ in tags} <= {"html", "head", "meta", "title", "style", "body", "p", "h1", "h2", "h3", "ul",
                                    "ol", "li", "strong", "em", "code", "a", "br"}, tags
    assert not [a for _, a in tags if "src=" in a or "on" in re.findall(r"\s(on)\w+=", a)]
    assert html.escape(HOSTILE_TITLE, quote=True) in body
    assert "<style>" in body and "<h2>Timeline</h2>" in body

    # a later edit makes a new draft; publishing again gives v2, and v1 stays as it was
    later = await say(h, "postmortem fact Status page updated late", user=ana, channel=channel)
    assert "published version stays as it is" in later["text"]
    again = await say(h, "postmortem publish", user=ana, channel=channel)
    assert "as version 2" in again["text"], again
    twice = await say(h, "postmortem publish", user=ana, channel=channel)
    assert "published already (v2)" in twice["text"]
    async with h.runtime.store.read() as tx:
        v1_after = await tx.postmortems.version(incident, 1)
        v2 = await tx.postmortems.version(incident, 2)
        link2 = await tx.links.get(incident, LinkKind.POSTMORTEM)
    assert v1_after == v1 and v2 is not None and "Status page updated late" in v2["markdown"]
    assert "Status page updated late" not in v1["markdown"]
    assert link2 is not None and link2.url and "/v2.html" in link2.url
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await http.get(link.url.replace("v1.html", "v1.md"))).text == v1["markdown"]
    assert any("/v2.html" in str(n["text"]) for n in h.world.xurrent.notes(request_id))

    # drafted again after publishing: the next draft; the incident still links the published version
    await say(h, "postmortem", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        assert await tx.postmortems.state(incident) == "draft"
        assert (await tx.links.get(incident, LinkKind.POSTMORTEM)) == link2
        assert await tx.postmortems.version(incident, 1) == v1

    # a regenerated draft does not replace one in review
    await say(h, f"postmortem review <@{ben}>", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        before = await tx.records.postmortem(incident)
    await say(h, "postmortem", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        after = await tx.records.postmortem(incident)
    assert before is not None and after is not None and after["markdown"] == before["markdown"]
    assert after["updated_at"] == before["updated_at"] and after["state"] == "in_review"


async def test_postmortem_links_never_fail_with_a_server_error(sqlite_harness: Harness) -> None:
    h = sqlite_harness
    incident, channel, _ = await open_room(h)
    ana = user(h, "ana")
    await say(h, "postmortem", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident, LinkKind.POSTMORTEM)
    assert link is not None and link.url
    token = link.url.split("token=", 1)[1]
    base = h.base_url
    paths = [
        f"/incidents/{incident}/postmortem.html?token={token}",  # the draft, before anything is published
        f"/incidents/{incident}/postmortem/v1.md?token={token}",  # not published yet
        f"/incidents/{incident}/postmortem/v0.html?token={token}",
        f"/incidents/{incident}/postmortem/v99999999.md?token={token}",
        f"/incidents/{incident}/postmortem/v1.exe?token={token}",
        f"/incidents/{incident}/postmortem/{quote('../../etc/passwd', safe='')}?token={token}",
        f"/incidents/{incident}/postmortem/v1.md?token=",
        f"/incidents/{incident}/postmortem/v1.md?token={'a' * 5000}",
        f"/incidents/{incident}/postmortem.html?token=%ff%fe%00",
        f"/incidents/{incident}/postmortem.html?token={quote('é' * 40)}",
        f"/incidents/0/postmortem.html?token={token}",
        f"/incidents/{'9' * 40}/postmortem/v1.md?token={token}",
        f"/incidents/INC-{incident}/postmortem.html?token={token}",
        f"/incidents/%00/postmortem.html?token={token}",
        f"/incidents/{quote('<script>', safe='')}/postmortem/v1.html?token={token}",
    ]
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        for path in paths:
            got = await http.get(path)
            assert got.status_code < 500, (path, got.status_code, got.text)
            if got.status_code != 200:  # a sentence, as plain text the browser does not sniff
                assert got.headers["content-type"].startswith("text/plain"), path
                assert got.headers["x-content-type-options"] == "nosniff", path
        draft = await http.get(paths[0])
    assert draft.status_code == 200 and "Draft — not published yet" in draft.text


def test_markdown_subset_is_rendered_safely() -> None:
    rendered = markdown_html(
        "# T <b>\n\n## S\n\n- **bold** _it_ `code<x>` http://a.example/x?y=1&z=\"><script>\n"
        "1. one\n2. two\n\nplain [x](javascript:alert(1)) <iframe>\n"
    )
    assert "<h1>T &lt;b&gt;</h1>" in rendered and "<h2>S</h2>" in rendered
    assert "<strong>bold</strong>" in rendered and "<em>it</em>" in rendered
    assert "<code>code&lt;x&gt;</code>" in rendered
    assert '<a href="http://a.example/x?y=1&amp;z=" rel="noopener noreferrer">' in rendered
    assert "<script" not in rendered and "<iframe" not in rendered and 'href="javascript' not in rendered
    assert "<ol>" in rendered and rendered.count("<li>") == 3
    page = to_html("# x", title="</title><script>alert(1)</script>")
    assert "<script" not in page and "&lt;/title&gt;" in page




async def test_html_export_in_a_real_browser(sqlite_harness: Harness) -> None:
    """The published HTML opened in Chromium: it renders, runs no script from a hostile title or note, and loads
    nothing from anywhere."""
    async_playwright = browser_playwright()
    h = sqlite_harness
    incident, channel, _ = await open_room(h)
    ana, ben = user(h, "ana"), user(h, "ben")
    await say(h, f"title {slack_escaped(HOSTILE_TITLE)}", user=ana, channel=channel)
    await say(h, f"note {slack_escaped('<script>window.pwned=1</script> <img src=x onerror=window.pwned=2>')}",
              user=ana, channel=channel)
    await say(h, "postmortem", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        for task in await tx.records.tasks(incident):
            await set_task(h, int(task["id"]), "proposed")
    await say(h, f"postmortem review <@{ben}>", user=ana, channel=channel)
    await say(h, "postmortem approve", user=ben, channel=channel)
    await say(h, "postmortem publish", user=ana, channel=channel)
    async with h.runtime.store.read() as tx:
        link = await tx.links.get(incident, LinkKind.POSTMORTEM)
    assert link is not None and link.url and "/v1.html" in link.url
    requests: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page()
            page.on("request", lambda r: requests.append(r.url))
            await page.goto(link.url)
            heading = await page.inner_text("h1")
            pwned = await page.evaluate("() => window.pwned === undefined")
            images = await page.evaluate("() => document.images.length")
            scripts = await page.evaluate("() => document.scripts.length")
        finally:
            await browser.close()
    assert HOSTILE_TITLE.split(" & ")[0] in heading  # shown as text
    assert pwned and images == 0 and scripts == 0
    assert requests == [link.url]  # nothing else was loaded


async def test_the_review_from_teams(sqlite_url: str) -> None:
    """The same steps from Teams: a reviewer named by a Teams mention approves as the same person, and the Teams
    card's Postmortem link points at the published version."""
    world = await World.start()
    teams = await TeamsSide.start(world)
    teams.connector.config.rate_limits = False
    h = await Harness.start(sqlite_url, world=world, tweak=teams.tweak(auth=True))
    teams.client.bot_url = f"{h.base_url}/api/messages"
    try:
        incident, room = await open_war_room(h)
        ana, chen = teams.person("ana@example.com"), teams.person("chen@example.com")
        c = teams.client
        await c.say(room, ana, "postmortem")
        await teams_settle(h)
        asked = await c.say(room, ana, "postmortem review ", c.mention(chen))
        assert "Chen DBA" in teams.replies_to(room, asked)[0]
        refused = await c.say(room, ana, "postmortem publish")
        assert "waiting for the approval of Chen DBA" in teams.replies_to(room, refused)[0]
        approved = await c.say(room, chen, "postmortem approve")
        assert "(1 of 1 approvals)" in teams.replies_to(room, approved)[0]
        published = await c.say(room, ana, "postmortem publish")
        assert "as version 1" in teams.replies_to(room, published)[0]
        await teams_settle(h)
        async with h.runtime.store.read() as tx:
            link = await tx.links.get(incident, LinkKind.POSTMORTEM)
        assert link is not None and link.url and "/postmortem/v1.html?token=" in link.url
        _, card = await card_of(h, incident)
        assert link.url in json.dumps(card)
    finally:
        await teams.stop()
        await h.stop()
