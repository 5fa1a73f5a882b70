"""Capability links: one signer for the postmortem's links and the on-call calendar feeds; each signature names one
subject, and postmortem links handed out before the signer was shared still verify."""

from __future__ import annotations

import hashlib
import hmac

from warroom.response import postmortem_link, signed_links
from warroom.response.oncall import feeds
from warroom.settings import Settings


def test_signatures_name_one_subject() -> None:
    s = Settings(server={"link_secret": "s3cret", "public_url": "https://warroom.example.com/"})
    sig = signed_links.sign(s, "oncall-calendar:schedule:dba")
    assert sig is not None and len(sig) == 32
    assert signed_links.verify(s, "oncall-calendar:schedule:dba", sig)
    assert not signed_links.verify(s, "oncall-calendar:schedule:dbb", sig)
    assert not signed_links.verify(s, "oncall-calendar:schedule:dba", sig.upper()[:-1] + "x")
    # the postmortem's token is the signer's, unchanged: links already handed out keep working
    legacy = hmac.new(b"s3cret", b"postmortem:4", hashlib.sha256).hexdigest()[:32]
    assert postmortem_link.token(s, 4) == legacy == signed_links.sign(s, "postmortem:4")
    # a feed's signature is not a postmortem's, nor another kind of feed's
    url = feeds.url(s, "schedule", "Night Shift")
    assert url is not None and url.startswith("https://warroom.example.com/oncall/calendars/schedule/Night%20Shift.ics?sig=")
    given = url.split("sig=", 1)[1]
    assert feeds.signature_ok(s, "schedule", "Night Shift", given)
    assert not feeds.signature_ok(s, "person", "Night Shift", given)
    assert feeds.url(s, "person", "Dana@Example.com") == feeds.url(s, "person", "dana@example.com")


def test_no_secret_no_links() -> None:
    bare = Settings(slack={"enabled": False})
    assert signed_links.sign(bare, "x") is None and not signed_links.verify(bare, "x", "")
    assert feeds.url(bare, "schedule", "dba") is None
    derived = Settings(slack={"signing_secret": "from-slack"})
    assert signed_links.key(derived) is not None and feeds.url(derived, "schedule", "dba") is not None
