"""The postmortem after its draft: Draft → In review → Published.

The AI responder's draft (warroom.response.ai.jobs) is the starting point. People then name reviewers
(``postmortem review @a @b``: the postmortem goes in review and they are mentioned in the war room), comment, edit
the timeline (an entry hidden, a time corrected, a fact added — the draft's timeline section is then rendered from
the timeline with those edits) and approve; ``postmortem publish`` writes an immutable version (v1, v2 … when it is
edited and published again), links the incident and its card to it and adds its link to the ITSM request as an
internal note (the incident sync's note push). Publishing is refused, with who and what blocks it, while reviewers
have not approved or post-incident tasks are open — a task closed as won't-do counts as closed only with a reason.

A regenerated draft never replaces one in review; after publishing, it becomes the next draft (the published
versions stay as they were). Answers are war-room lines (warroom.core.markup); :func:`to_html` renders the small
Markdown subset the drafts use as a self-contained HTML file, every piece of outside text escaped.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from warroom.ai.postmortem import timeline_section
from warroom.core import markup
from warroom.core.model import Incident, LinkKind
from warroom.core.tasks import OPEN, TaskStatus, label
from warroom.response import commands as cmd
from warroom.response import jobs, postmortem_link
from warroom.response.ai.context import load_context
from warroom.settings import Settings
from warroom.store.db import Store, Tx
from warroom.store.postmortems import DRAFT, IN_REVIEW, PUBLISHED

#: How the states read.
STATES = {DRAFT: "draft", IN_REVIEW: "in review", PUBLISHED: "published"}


@dataclass(frozen=True, slots=True)
class Reviewer:
    """A person asked to review: ``key`` their email (or chat key), ``display`` their name, ``mention`` how the war
    room line names them (a chat mention: they are told)."""

    key: str
    display: str
    mention: str


#: A comment or fact is stored whole; the war-room line repeats at most this much of it.
ECHO_CHARS = 600


def _echo(text: str) -> str:
    """Outside text repeated in a line: escaped, cut visibly."""
    cut = text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 1].rstrip() + "… (cut here; stored whole)"
    return markup.escape(cut)


def blockers(reviewers: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> list[str]:
    """What stops publishing, as sentence parts (war-room line format); none: it may be published."""
    out: list[str] = []
    if not reviewers:
        out.append("nobody has reviewed it yet (name reviewers with `postmortem review @person`)")
    waiting = [markup.escape(str(r["display"])) for r in reviewers if r["approved_at"] is None]
    if waiting:
        out.append("waiting for the approval of " + ", ".join(waiting))
    still = [t for t in tasks if _open(t)]
    if still:
        shown = "; ".join(
            f"#{t['id']} “{markup.escape(str(t['title'])[:80])}” ({label(str(t['status']))}"
            + (", no reason given" if t["status"] == TaskStatus.WONT_DO else "")
            + (f", {markup.escape(str(t['owner']))}" if t.get("owner") else "") + ")"
            for t in still[:10]
        )
        more = f" and {len(still) - 10} more" if len(still) > 10 else ""
        out.append(f"{len(still)} post-incident task{'s are' if len(still) != 1 else ' is'} open: {shown}{more} — "
                   "finish them, or close them as won't-do with a reason")
    return out


def _open(task: dict[str, Any]) -> bool:
    status = str(task["status"])
    if status == TaskStatus.WONT_DO:
        return not str(task.get("closed_reason") or "").strip()
    try:
        return TaskStatus(status) in OPEN
    except ValueError:
        return status == "open"  # tasks accepted before the task statuses (migration 0006)


_SECTION = re.compile(r"^## (?P<name>[^\n]+)\n", re.MULTILINE)


def replace_section(markdown: str, name: str, body: str) -> str:
    """The Markdown with section ``## name``'s body replaced (appended when it has none)."""
    heads = list(_SECTION.finditer(markdown))
    for n, head in enumerate(heads):
        if head.group("name").strip() == name:
            end = heads[n + 1].start() if n + 1 < len(heads) else len(markdown)
            tail = markdown[end:]
            if n + 1 >= len(heads):  # the last section: keep the footer (a line in italics after a blank line)
                footer = re.search(r"\n\n(_[^\n]*_\n?)$", markdown[head.end():])
                tail = footer.group(1) if footer else ""
            return markdown[: head.end()] + "\n" + body.strip() + "\n\n" + tail
    return markdown.rstrip("\n") + f"\n\n## {name}\n\n{body.strip()}\n"


def parse_when(text: str, day: datetime) -> datetime | None:
    """``HH:MM[:SS]`` (UTC, on ``day``'s date) or an ISO 8601 time (UTC when it names no offset); None if neither."""
    text = text.strip()
    if m := re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text):
        hour, minute, second = int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            return None
        base = day.astimezone(UTC) if day.tzinfo else day.replace(tzinfo=UTC)
        return base.replace(hour=hour, minute=minute, second=second, microsecond=0)
    try:
        at = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    if not 2000 <= at.year <= 2200:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Postmortems:
    """The postmortem review's steps, each in one transaction; each returns (war-room line, public)."""

    def __init__(self, settings: Settings, store: Store, *, command: str = "/incident") -> None:
        self.settings = settings
        self.store = store
        self.command = command

    # -- reading -------------------------------------------------------------------------------------
    async def current(self, incident_id: int) -> str | None:
        """The draft as it reads now: its timeline section rendered from the timeline with the review's edits
        (when there are any); None when the incident has no draft."""
        async with self.store.read() as tx:
            draft = await tx.records.postmortem(incident_id)
            hidden, corrected = await tx.postmortems.edits(incident_id)
            facts = any(e.kind == "fact" for e in await tx.timeline.for_incident(incident_id))
        if draft is None:
            return None
        markdown = str(draft["markdown"])
        if not (hidden or corrected or facts):
            return markdown
        ctx = await load_context(self.store, self.settings, incident_id, evidence=False)  # the timeline only
        if ctx is None:
            return markdown
        events = [
            replace(e, at=corrected.get(int(e.id), e.at))
            for e in ctx.events
            if e.id.isdigit() and int(e.id) not in hidden
        ]
        return replace_section(markdown, "Timeline", timeline_section(replace(ctx, events=events)))

    # -- the steps -----------------------------------------------------------------------------------
    def _none_yet(self, incident: Incident) -> str:
        return (f"{incident.ref} has no postmortem draft yet: run `{self.command} postmortem` to draft it "
                "(it is also drafted when the incident resolves).")

    async def review(self, incident: Incident, people: list[Reviewer], *, by: str, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            if await tx.records.postmortem(incident.id) is None:
                return self._none_yet(incident), False
            for person in people:
                await tx.postmortems.add_reviewer(incident.id, person.key, person.display, by=by)
            await tx.postmortems.set_state(incident.id, IN_REVIEW)
            names = ", ".join(p.display for p in people)
            await tx.timeline.add(incident.id, "postmortem", f"Postmortem review asked of {names}", actor=by,
                                  data={"step": "review", "reviewers": [p.key for p in people]})
            await jobs.refresh_card(tx, incident.id)
        link = postmortem_link.url(self.settings, incident.id)
        where = f" (<{link}|the draft>)" if link else ""
        return (
            f"📝 {', '.join(p.mention for p in people)}: {who} asks you to review the postmortem of {incident.ref}"
            f"{where}. Comment with `{self.command} postmortem comment <text>`, approve with "
            f"`{self.command} postmortem approve`.",
            True,
        )

    async def comment(self, incident: Incident, text: str, *, by: str, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            if await tx.records.postmortem(incident.id) is None:
                return self._none_yet(incident), False
            await tx.postmortems.comment(incident.id, by, text)
        return f"💬 {who} commented on the postmortem of {incident.ref}: {_echo(text)}", True

    async def approve(self, incident: Incident, keys: list[str], *, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            state = await tx.postmortems.state(incident.id)
            if state is None:
                return self._none_yet(incident), False
            if state != IN_REVIEW:
                return (f"The postmortem of {incident.ref} is {STATES.get(state, state)}, not in review: ask for a "
                        f"review first with `{self.command} postmortem review @person`."), False
            approved = await tx.postmortems.approve(incident.id, keys)
            reviewers = await tx.postmortems.reviewers(incident.id)
            if not approved:
                names = ", ".join(markup.escape(str(r["display"])) for r in reviewers) or "nobody"
                return (f"You are not a reviewer of the postmortem of {incident.ref} (reviewers: {names}); a "
                        f"reviewer is named with `{self.command} postmortem review @person`."), False
            await tx.timeline.add(incident.id, "postmortem", "Postmortem approved", actor=keys[-1],
                                  data={"step": "approve"})
        done = sum(1 for r in reviewers if r["approved_at"] is not None)
        rest = (f" Publish it with `{self.command} postmortem publish`." if done == len(reviewers) else "")
        return (f"✅ {who} approved the postmortem of {incident.ref} ({done} of {len(reviewers)} approvals).{rest}",
                True)

    async def _edited(self, tx: Tx, incident: Incident) -> str:
        """After a timeline edit: a published postmortem becomes a draft again, a review's approvals are asked
        again. Returns what to add to the answer."""
        state = await tx.postmortems.state(incident.id)
        if state == PUBLISHED:
            await tx.postmortems.set_state(incident.id, DRAFT)
            return " The published version stays as it is; this starts the next draft."
        if state == IN_REVIEW:
            approved = [r for r in await tx.postmortems.reviewers(incident.id) if r["approved_at"] is not None]
            if approved:
                await tx.postmortems.clear_approvals(incident.id)
                return " The text changed, so the reviewers are asked to approve again."
        return ""

    def _no_entry(self, incident: Incident, entry: int) -> str:
        return (f"{incident.ref} has no timeline entry {entry}: use the number the postmortem's timeline shows "
                "(`[event:12]` is entry 12).")

    async def hide(self, incident: Incident, entry: int, *, by: str, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            row = await tx.postmortems.entry(incident.id, entry)
            if row is None:
                return self._no_entry(incident, entry), False
            if row["hidden"]:
                return f"Timeline entry {entry} is hidden from the postmortem already.", False
            await tx.postmortems.hide(entry)
            await tx.timeline.add(incident.id, "postmortem", f"Timeline entry {entry} hidden from the postmortem",
                                  actor=by, data={"step": "hide", "entry": entry})
            extra = await self._edited(tx, incident)
        return f"🙈 {who} hid timeline entry {entry} from the postmortem of {incident.ref}.{extra}", True

    async def time(self, incident: Incident, entry: int, when: str, *, by: str, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            row = await tx.postmortems.entry(incident.id, entry)
            if row is None:
                return self._no_entry(incident, entry), False
            at = parse_when(when, row["corrected_at"] or row["at"])
            if at is None:
                return (f"'{markup.escape(when[:40])}' is not a time: write HH:MM (UTC, on the entry's day) or an "
                        "ISO time such as 2026-11-22T06:05Z."), False
            await tx.postmortems.correct_time(entry, at)
            await tx.timeline.add(incident.id, "postmortem", f"Timeline entry {entry} moved to {at.isoformat()}",
                                  actor=by, data={"step": "time", "entry": entry, "at": at.isoformat()})
            extra = await self._edited(tx, incident)
        shown = at.strftime("%Y-%m-%d %H:%M UTC")
        return f"🕑 {who} corrected the time of timeline entry {entry} to {shown}.{extra}", True

    async def fact(self, incident: Incident, text: str, when: str | None, *, by: str, who: str) -> tuple[str, bool]:
        async with self.store.tx() as tx:
            day = incident.created_at
            at = parse_when(when, day) if when else None
            if when and at is None:
                return (f"'{markup.escape(when[:40])}' is not a time: write HH:MM (UTC, on the incident's day) or an "
                        "ISO time such as 2026-11-22T06:05Z."), False
            await tx.postmortems.add_fact(incident.id, text, at=at, actor=by)
            extra = await self._edited(tx, incident)
        shown = f" at {at.strftime('%Y-%m-%d %H:%M UTC')}" if at else ""
        return f"📌 {who} added a fact to the timeline of {incident.ref}{shown}: {_echo(text)}{extra}", True

    async def publish(self, incident: Incident, *, by: str, who: str) -> tuple[str, bool]:
        markdown = await self.current(incident.id)
        if markdown is None:
            return self._none_yet(incident), False
        async with self.store.tx() as tx:
            await tx.lock_key(f"postmortem:{incident.id}")
            state = await tx.postmortems.state(incident.id)
            if state == PUBLISHED:
                latest = await tx.postmortems.version(incident.id)
                number = int(latest["version"]) if latest else 0
                return (f"The postmortem of {incident.ref} is published already (v{number}) and unchanged since: "
                        "edit its timeline or ask for a review to start the next version."), False
            reviewers = await tx.postmortems.reviewers(incident.id)
            stop = blockers(reviewers, await tx.records.tasks(incident.id))
            if stop:
                return (f"The postmortem of {incident.ref} cannot be published yet: " + "; ".join(stop) + "."), False
            number = await tx.postmortems.publish(incident.id, markdown, by=by)
            await tx.postmortems.set_state(incident.id, PUBLISHED)
            page = postmortem_link.version_url(self.settings, incident.id, number, "html")
            text = postmortem_link.version_url(self.settings, incident.id, number, "md")
            if page is not None and text is not None:
                await tx.links.put(incident.id, LinkKind.POSTMORTEM, str(incident.id), page, {"version": number})
                # the ITSM request gets the link as an internal note (the incident sync's note push)
                await tx.timeline.add(
                    incident.id, "note", f"Postmortem of {incident.ref} published (v{number}): {page} "
                    f"(Markdown: {text})", data={"origin": "imr", "postmortem": True, "version": number},
                )
                svc = self.settings.service(incident.service)
                if svc is not None and svc.itsm.note_sync:
                    await jobs.push_to_itsm(tx, incident, self.settings)
            await tx.timeline.add(incident.id, "postmortem", f"Postmortem published (v{number})", actor=by,
                                  data={"step": "publish", "version": number})
            await jobs.refresh_card(tx, incident.id)
        where = f": <{page}|v{number} (HTML)> · <{text}|Markdown>" if page and text else ""
        return f"📘 {who} published the postmortem of {incident.ref} as version {number}{where}", True

    async def run(self, step: cmd.PostmortemStep, incident: Incident, *, keys: list[str], by: str,
                  who: str, reviewers: list[Reviewer] | None = None) -> tuple[str, bool]:
        """One step of the review (``reviewers`` for ``review``: the people it names, resolved by the front end)."""
        if isinstance(step, cmd.PostmortemReview):
            return await self.review(incident, reviewers or [], by=by, who=who)
        if isinstance(step, cmd.PostmortemComment):
            return await self.comment(incident, step.text, by=by, who=who)
        if isinstance(step, cmd.PostmortemApprove):
            return await self.approve(incident, keys, who=who)
        if isinstance(step, cmd.PostmortemPublish):
            return await self.publish(incident, by=by, who=who)
        if isinstance(step, cmd.PostmortemHide):
            return await self.hide(incident, step.entry, by=by, who=who)
        if isinstance(step, cmd.PostmortemTime):
            return await self.time(incident, step.entry, step.when, by=by, who=who)
        return await self.fact(incident, step.text, step.when, by=by, who=who)


# ---------------------------------------------------------------------------------------------- HTML export

_STYLE = """
body{font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:52rem;margin:2rem auto;
padding:0 1rem;color:#1d2330;background:#fff}
h1{font-size:1.7rem;border-bottom:2px solid #d0d5dd;padding-bottom:.4rem}h2{font-size:1.25rem;margin-top:2rem}
code{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f2f4f7;padding:.05rem .3rem;border-radius:3px}
li{margin:.2rem 0}.meta{color:#5b6474;font-size:.9rem}a{color:#1a5fb4}
""".strip()

_INLINE = re.compile(
    r"(?P<code>`[^`\n]+`)|\*\*(?P<bold>[^*\n]+)\*\*|(?<![\w&])_(?P<em>[^_\n]+)_(?![\w])"
    r"|(?P<url>\bhttps?://(?:(?!&quot;|&#x27;|&lt;|&gt;)[^\s<>\"'])+)"
)


def _inline(text: str) -> str:
    """One line of Markdown as HTML: escaped first, then code, bold, italics and bare http(s) links."""
    escaped = html.escape(text, quote=True)

    def sub(m: re.Match[str]) -> str:
        if m.group("code"):
            return f"<code>{m.group('code')[1:-1]}</code>"
        if m.group("bold") is not None:
            return f"<strong>{m.group('bold')}</strong>"
        if m.group("em") is not None:
            return f"<em>{m.group('em')}</em>"
        url = m.group("url")
        kept = url.rstrip(".,;:!?)]")
        return f'<a href="{kept}" rel="noopener noreferrer">{kept}</a>{url[len(kept):]}'

    return _INLINE.sub(sub, escaped)


def markdown_html(markdown: str) -> str:
    """The Markdown subset warroom's drafts use (headings, paragraphs, bullet and numbered lists, bold, italics,
    code, bare links) as HTML; anything else is text, escaped."""
    out: list[str] = []
    para: list[str] = []
    lists: str | None = None

    def flush() -> None:
        nonlocal lists
        if para:
            out.append("<p>" + "<br>\n".join(_inline(p) for p in para) + "</p>")
            para.clear()
        if lists:
            out.append(f"</{lists}>")
            lists = None

    for raw in markdown.splitlines():
        line = raw.rstrip()
        if m := re.match(r"^(#{1,3}) (.+)$", line):
            flush()
            level = len(m.group(1))
            out.append(f"<h{level}>{_inline(m.group(2))}</h{level}>")
        elif m := re.match(r"^\s*(?:[-*]|(\d+)\.) (.*)$", line):
            kind = "ol" if m.group(1) else "ul"
            if para:
                flush()
            if lists != kind:
                if lists:
                    out.append(f"</{lists}>")
                out.append(f"<{kind}>")
                lists = kind
            out.append(f"<li>{_inline(m.group(2))}</li>")
        elif not line.strip():
            flush()
        else:
            if lists:
                flush()
            para.append(line)
    flush()
    return "\n".join(out)


def to_html(markdown: str, *, title: str, meta: str = "") -> str:
    """A self-contained HTML file (inline CSS, no outside assets, a policy that forbids loading any) of the
    postmortem's Markdown; ``title`` and ``meta`` are plain text."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title, quote=True)}</title>\n<style>\n{_STYLE}\n</style>\n</head>\n<body>\n"
        + (f"<p class=\"meta\">{html.escape(meta, quote=True)}</p>\n" if meta else "")
        + markdown_html(markdown)
        + "\n</body>\n</html>\n"
    )
