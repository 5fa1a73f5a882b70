"""What a page says, escaped for where it goes: an SMS (plain text, short), an email (a header-safe subject, text
and HTML), a call (TwiML: XML-escaped speech). The incident's title is outside text (an alert's, a person's): it is
cut to one clean line here and escaped by each renderer. Pure code."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from warroom.core.model import Incident

_SPACE = re.compile(r"\s+")


def clean(text: str, limit: int) -> str:
    """One line of printable text at most ``limit`` characters long: control and format characters (bidi
    overrides, zero-width joiners) removed, whitespace collapsed."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    line = _SPACE.sub(" ", kept).strip()
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def headline(incident: Incident) -> str:
    """What a page is about, in one line: the incident's reference, priority, service and title (not escaped)."""
    i = incident
    return f"{i.ref} ({i.priority or 'no priority'}, {i.service}): {clean(i.title, 120)}"


@dataclass(frozen=True, slots=True)
class Page:
    """One notification as its sender needs it."""

    id: int
    incident: Incident
    email: str
    name: str
    method: str
    address: str
    #: The signed, single-use acknowledge link (email); the TwiML and status callback URLs (calls, SMS).
    ack_url: str | None = None
    voice_url: str | None = None
    status_url: str | None = None

    @property
    def headline(self) -> str:
        return headline(self.incident)

    @property
    def marker(self) -> str:
        """A token in each SMS that finds it again in Twilio's message list after a crash."""
        return f"[page {self.id}]"


def sms_text(page: Page) -> str:
    """Short enough for two SMS segments; the reply code is the incident's number."""
    i = page.incident
    title = clean(i.title, 70)
    return (f"warroom: {i.ref} {i.priority or ''} {i.service}: {title}. "
            f"Reply \"{i.id} ack\" to acknowledge. {page.marker}").replace("  ", " ")


def email_subject(page: Page) -> str:
    return f"[warroom] Page: {page.headline}"


def email_text(page: Page) -> str:
    lines = [f"You are paged for {page.headline}.", ""]
    if page.ack_url:
        lines += ["Acknowledge (the link works once):", page.ack_url, ""]
    lines.append("Or acknowledge in the war room with the incident command's `ack`.")
    return "\n".join(lines)


def email_html(page: Page) -> str:
    head = html.escape(page.headline)
    button = ""
    if page.ack_url:
        url = html.escape(page.ack_url, quote=True)
        button = (f'<p><a href="{url}" style="display:inline-block;padding:10px 16px;background:#b3261e;'
                  f'color:#fff;text-decoration:none;border-radius:4px">Acknowledge</a></p>'
                  "<p>The link works once.</p>")
    return (f"<!doctype html><html><body><p>You are paged for <strong>{head}</strong>.</p>{button}"
            "<p>Or acknowledge in the war room with the incident command's <code>ack</code>.</p></body></html>")


def twiml_page(page: Page, gather_url: str) -> str:
    """The call: who is paged for what, then "press 1 to acknowledge" (asked twice)."""
    i = page.incident
    spoken = (f"This is warroom. You are paged for incident {i.id}, priority {i.priority or 'none'}, "
              f"service {i.service}: {clean(i.title, 120)}.")
    response = ET.Element("Response")
    gather = ET.SubElement(response, "Gather", numDigits="1", action=gather_url, method="POST", timeout="8")
    ET.SubElement(gather, "Say").text = spoken
    ET.SubElement(gather, "Say").text = "Press 1 to acknowledge."
    ET.SubElement(response, "Say").text = "No key was pressed. Goodbye."
    return _xml(response)


def twiml_say(text: str) -> str:
    response = ET.Element("Response")
    ET.SubElement(response, "Say").text = text
    ET.SubElement(response, "Hangup")
    return _xml(response)


def twiml_message(text: str | None) -> str:
    """The answer to an inbound SMS: a reply, or nothing."""
    response = ET.Element("Response")
    if text:
        ET.SubElement(response, "Message").text = text
    return _xml(response)


def _xml(root: ET.Element) -> str:
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")
