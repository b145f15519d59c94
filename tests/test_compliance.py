"""The gate at send time: consent, quiet hours in the recipient's own zone, frequency, offices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from outreach.compliance import Gate, area_code_state, parse_windows
from outreach.intake import intake
from outreach.match import match
from outreach.store import outbox as box
from outreach.store.schema import outbox, signers
from outreach.transports.base import Message

EASTERN = ZoneInfo("America/New_York")
PEOPLE = {  # signer id: (city, zip, phone)
    1: ("New York", "10001", "+12125550101"),
    2: ("Chicago", "60601", "+13125550102"),
    3: ("Denver", "80202", "+13035550103"),
    4: ("Los Angeles", "90012", "+12135550104"),
    5: ("Honolulu", "96813", "+18085550105"),
    6: ("Miami", "33130", "+13055550106"),
    7: ("Dallas", "75201", "+14055550107"),  # a Texas address with an Oklahoma number
    8: ("", "", "+12025550108"),  # no address: time zone unknown
}


@pytest.fixture
def gate(tmp_path, store, roster, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("email,phone,city,zip,sms_opt_in\n" + "".join(
        f"p{i}@example.org,{phone},{city},{zip_code},yes\n"
        for i, (city, zip_code, phone) in PEOPLE.items()))
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    now = datetime(2026, 11, 27, tzinfo=UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "hi", "sms", "signer", str(i), "welcome",
                                                {}, now) for i in PEOPLE], now)
        box.enqueue(connection, [box.NewMessage("mj", "hi", "email", "signer", "1", "welcome",
                                                {}, now)], now)
    rows = {(int(r.recipient_id), r.channel): r
            for r in box.claim(store, "t", 50, timedelta(hours=1), now)}
    checker = Gate(store, roster)
    checker.prepare(list(rows.values()))
    return checker, rows


def decide(gate, person: int, when: datetime, channel: str = "sms"):
    checker, rows = gate
    message = Message(rows[(person, channel)].id, channel, PEOPLE[person][2], "x", "hi")
    return checker(rows[(person, channel)], message, when)


def at_eastern(hour: int, minute: int = 0, day: int = 27) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=EASTERN).astimezone(UTC)


def test_a_blast_at_2055_eastern_reaches_each_person_inside_their_own_window(gate):
    blast = at_eastern(20, 55)
    assert all(decide(gate, p, blast).action == "allow" for p in (1, 2, 3, 4, 5))
    ten_past = at_eastern(21, 10)
    new_york = decide(gate, 1, ten_past)
    assert new_york.action == "defer"
    assert new_york.until == datetime(2026, 11, 28, 8, 0, tzinfo=EASTERN).astimezone(UTC)
    assert all(decide(gate, p, ten_past).action == "allow" for p in (2, 3, 4, 5))
    late = at_eastern(23, 30)  # 22:30 Chicago, 21:30 Denver, 20:30 LA, 18:30 Honolulu
    assert [decide(gate, p, late).action for p in (1, 2, 3, 4, 5)] == \
        ["defer", "defer", "defer", "allow", "allow"]
    chicago = decide(gate, 2, late)
    assert chicago.until == datetime(2026, 11, 28, 8, 0,
                                     tzinfo=ZoneInfo("America/Chicago")).astimezone(UTC)


def test_florida_closes_at_eight(gate):
    assert decide(gate, 6, at_eastern(19, 59)).action == "allow"
    assert decide(gate, 6, at_eastern(20, 5)).action == "defer"


def test_an_oklahoma_number_brings_oklahomas_window_to_a_texas_address(gate):
    assert area_code_state("+14055550107") == "OK"
    # 20:30 in Dallas: inside the federal window, outside Oklahoma's 8 p.m.
    assert decide(gate, 7, at_eastern(21, 30)).action == "defer"
    assert decide(gate, 7, at_eastern(20, 30)).action == "allow"


def test_unknown_time_zone_waits_for_the_hours_open_everywhere(gate):
    noon_eastern = at_eastern(12, 0)  # 7 a.m. in Honolulu: not yet open there
    decision = decide(gate, 8, noon_eastern)
    assert decision.action == "defer"
    assert decision.until == datetime(2026, 11, 27, 8, 0,
                                      tzinfo=ZoneInfo("Pacific/Honolulu")).astimezone(UTC)
    assert decide(gate, 8, at_eastern(14, 0)).action == "allow"
    # At 21:30 Eastern the next Eastern 8 a.m. is 3 a.m. in Honolulu: wait for both.
    late = decide(gate, 8, at_eastern(21, 30))
    assert late.until == datetime(2026, 11, 28, 8, 0,
                                  tzinfo=ZoneInfo("Pacific/Honolulu")).astimezone(UTC)


def test_withdrawn_consent_wins_at_send_time(gate, store):
    with store.begin() as connection:
        connection.execute(update(signers).where(signers.c.id.in_([1, 2]))
                           .values(sms_opt_in=False))
        connection.execute(update(signers).where(signers.c.id == 1).values(email_opt_in=False))
    checker, rows = gate
    checker.prepare(list(rows.values()))
    assert decide(gate, 2, at_eastern(12)).reason == "no SMS consent"
    assert decide(gate, 1, at_eastern(12), "email").action == "skip"


def test_no_more_than_three_texts_a_day(gate, store):
    noon = at_eastern(12)
    with store.begin() as connection:
        for step in ("a", "b", "c"):
            box.enqueue(connection, [box.NewMessage("mj", step, "sms", "signer", "2",
                                                    "welcome", {}, noon)], noon)
        connection.execute(update(outbox).where(outbox.c.step.in_(["a", "b", "c"]))
                           .values(state="sent", updated_at=noon - timedelta(hours=2)))
    decision = decide(gate, 2, noon)
    assert (decision.action, decision.reason) == ("defer", "already 3 texts in 24 hours")
    assert decide(gate, 3, noon).action == "allow"


def test_office_mail_waits_for_business_hours(store, roster):
    checker = Gate(store, roster, county_zones={"42101": "America/New_York"})
    row = box.OutboxRow(1, "k", "mj", "d", "email", "office", "pa-philadelphia@2026-11-27",
                        "office_digest", {"office_id": "pa-philadelphia"}, "claimed", 0, None,
                        None, None, datetime.now(UTC))
    message = Message(1, "email", "da@example.gov", "x", "hi")
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=EASTERN)
    decision = checker(row, message, saturday.astimezone(UTC))
    assert decision.action == "defer"
    assert decision.until == datetime(2026, 11, 30, 9, 0, tzinfo=EASTERN).astimezone(UTC)
    monday = datetime(2026, 11, 30, 10, 0, tzinfo=EASTERN).astimezone(UTC)
    assert checker(row, message, monday).action == "allow"


def test_organizers_can_add_stricter_windows():
    assert parse_windows("TX=9-21, ca=9-20") == {
        "TX": (datetime(2000, 1, 1, 9).time(), datetime(2000, 1, 1, 21).time()),
        "CA": (datetime(2000, 1, 1, 9).time(), datetime(2000, 1, 1, 20).time())}
