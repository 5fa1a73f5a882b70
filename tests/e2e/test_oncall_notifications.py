"""Pages by SMS, phone call and email, end to end: the Twilio emulator and the SMTP relay on loopback, signed
callbacks, and each way of acknowledging — an SMS reply, a key pressed on the call, the email's link."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from warroom.core.jobs import ONCALL_NOTIFY
from warroom.response.oncall import links
from warroom.sandbox.harness import Harness
from warroom.store.schema import notifications

from .helpers import critical_alert, settle
from .oncall_helpers import escalation, make_notifications_due, oncall, sent

ANA_PHONE = "+447700900101"


def ana(*rules: dict[str, object]) -> list[dict[str, object]]:
    return [{"email": "ana@example.com", "name": "Ana Ops", "phone": ANA_PHONE, "rules": {"high": list(rules)}}]


async def run(h: Harness) -> None:
    for _ in range(3):
        await settle(h)
        await h.world.twilio.settled()
    await settle(h)


async def incident_state(h: Harness, incident: int) -> tuple[str, str | None]:
    async with h.runtime.store.read() as tx:
        record = await tx.incidents.get(incident)
    assert record is not None
    return record.status.value, record.assignee


async def test_an_sms_page_is_acknowledged_by_replying_and_the_call_planned_later_is_not_made(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall(people=ana({"method": "sms"}, {"method": "voice", "after_minutes": 5})))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        texts = h.world.twilio.sms_to(ANA_PHONE)
        assert len(texts) == 1
        assert f'Reply "{incident} ack"' in texts[0]["body"] and f"INC-{incident}" in texts[0]["body"]
        assert texts[0]["status"] == "delivered"
        assert ("ana@example.com", "sms", "delivered") in await sent(h, incident)

        reply = await h.world.twilio.inbound_sms(ANA_PHONE, h.world.twilio.numbers[0], f"{incident} ack")
        assert reply.status == 200
        assert any("acknowledged" in m for m in reply.messages)
        assert await incident_state(h, incident) == ("acknowledged", "ana@example.com")
        assert (await escalation(h, incident))["state"] == "acknowledged"
        await make_notifications_due(h)
        await run(h)
        assert h.world.twilio.phone_calls_to(ANA_PHONE) == []
        assert ("ana@example.com", "voice", "cancelled") in await sent(h, incident)
    finally:
        await h.stop()


async def test_forged_and_unknown_sms_change_nothing(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=oncall(people=ana({"method": "sms"})))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        forged = await h.world.twilio.inbound_sms(ANA_PHONE, h.world.twilio.numbers[0], f"{incident} ack",
                                                  signature="bm90IHR3aWxpbw==")
        assert forged.status == 403
        stranger = await h.world.twilio.inbound_sms("+447700900999", h.world.twilio.numbers[0], f"{incident} ack")
        assert stranger.status == 200 and stranger.messages == []
        unclear = await h.world.twilio.inbound_sms(ANA_PHONE, h.world.twilio.numbers[0], "on it")
        assert any("reply with the incident number" in m for m in unclear.messages)
        assert await incident_state(h, incident) == ("triggered", "ana@example.com")
        assert (await escalation(h, incident))["state"] == "active"
    finally:
        await h.stop()


async def test_a_call_is_acknowledged_by_pressing_1(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall(people=ana({"method": "voice"})))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        [call] = h.world.twilio.phone_calls_to(ANA_PHONE)
        assert call.waiting
        assert any(f"incident {incident}" in said for said in call.said)
        assert any("Press 1" in said for said in call.said)
        await h.world.twilio.press(call.sid, "1")
        assert any("acknowledged" in said for said in call.said)
        assert await incident_state(h, incident) == ("acknowledged", "ana@example.com")
    finally:
        await h.stop()


async def test_an_email_link_acknowledges_once_and_refuses_forged_and_expired_links(db_url: str) -> None:
    h = await Harness.start(db_url, tweak=oncall(people=ana({"method": "email"})))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        [mail] = [m for m in h.world.smtp.messages if "ana@example.com" in m.rcpt_tos]
        assert f"INC-{incident}" in mail.subject
        link = re.search(r"https?://\S+/oncall/ack\?t=\S+", mail.text or "")
        assert link is not None
        url = link.group(0)
        path = url[url.index("/oncall/"):]
        token = path.split("t=", 1)[1]
        shown = await h.http.get(path)  # a mail scanner opening the link changes nothing
        assert shown.status_code == 200 and "Acknowledge" in shown.text
        assert await incident_state(h, incident) == ("triggered", "ana@example.com")
        done = await h.http.post("/oncall/ack", data={"t": token})
        assert done.status_code == 200
        assert await incident_state(h, incident) == ("acknowledged", "ana@example.com")
        again = await h.http.post("/oncall/ack", data={"t": token})
        assert again.status_code == 409 and "works once" in again.text
        forged = await h.http.post("/oncall/ack", data={"t": token[:-4] + "0000"})
        assert forged.status_code == 403
        old = links.ack_url(h.settings, 1, datetime.now(UTC) - timedelta(hours=5))
        assert old is not None
        expired = await h.http.get(old[old.index("/oncall/"):])
        assert expired.status_code == 403 and "expired" in expired.text
    finally:
        await h.stop()


async def test_an_undeliverable_sms_moves_on_to_the_next_method_at_once(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=oncall(people=ana({"method": "sms"}, {"method": "voice", "after_minutes": 10})))
    h.world.twilio.fail_sms(ANA_PHONE, "undelivered", 30003)
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        states = await sent(h, incident)
        assert ("ana@example.com", "sms", "failed") in states
        assert len(h.world.twilio.phone_calls_to(ANA_PHONE)) == 1  # not ten minutes later: now
    finally:
        await h.stop()


async def test_an_sms_cut_off_mid_send_is_found_not_sent_again(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=oncall(people=ana({"method": "sms"})))
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        assert len(h.world.twilio.sms_to(ANA_PHONE)) == 1
        # as if the process died after Twilio took the message and before the row said so
        async with h.runtime.store.tx() as tx:
            await tx.conn.execute(update(notifications).where(notifications.c.incident_id == incident)
                                  .values(state="sending", provider_id=None))
            nid = (await tx.notifications.of_incident(incident))[0]["id"]
            await tx.outbox.enqueue(ONCALL_NOTIFY, {"notification": nid}, incident_id=incident)
        await run(h)
        assert len(h.world.twilio.sms_to(ANA_PHONE)) == 1
        async with h.runtime.store.read() as tx:
            row = await tx.notifications.get(nid)
        assert row is not None and row["state"] == "sent" and str(row["provider_id"]).startswith("SM")
    finally:
        await h.stop()


async def test_twilio_and_the_mail_relay_failing_for_a_while_still_page_once(sqlite_url: str) -> None:
    h = await Harness.start(sqlite_url, tweak=oncall(people=ana({"method": "sms"}, {"method": "email"})))
    twilio = h.world.twilio
    twilio.inject("POST Messages", "after")  # Twilio took the message but the answer was a 500
    twilio.inject("GET Messages", status=503, times=4)  # and its list is down for a while
    h.world.smtp.make_unavailable(times=2)  # the relay answers 421 twice
    try:
        incident = (await h.post_alerts(critical_alert())).json()["incidents"][0]
        await run(h)
        for _ in range(20):  # the outbox's backoff (the sandbox's is short): let the retries come due
            if all(state in ("sent", "delivered") for _, _, state in await sent(h, incident)):
                break
            await make_notifications_due(h)
            await run(h)
        assert len(twilio.sms_to(ANA_PHONE)) == 1
        assert len([m for m in h.world.smtp.messages if "ana@example.com" in m.rcpt_tos]) == 1
        assert {(m, s) for _, m, s in await sent(h, incident)} <= {("sms", "sent"), ("sms", "delivered"),
                                                                    ("email", "sent")}
    finally:
        await h.stop()
