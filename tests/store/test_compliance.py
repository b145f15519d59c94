"""The gate at send time: consent, quiet hours in the recipient's zones, frequency, offices."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
import time_machine
from sqlalchemy import select, update

from outreach.campaigns.planner import quiet_hours_preview
from outreach.campaigns.render import Renderer, Sender
from outreach.message import Message
from outreach.sending.compliance import Gate
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box
from outreach.store.schema import outbox, signers
from outreach.store.signers import audience_frame
from outreach.us.quiet_hours import area_code_state, area_code_zones, parse_windows

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
EASTERN = ZoneInfo("America/New_York")
PEOPLE = {  # signer id: (city, zip, phone)
    1: ("New York", "10001", "+12125550101"),
    2: ("Chicago", "60601", "+13125550102"),
    3: ("Denver", "80202", "+13035550103"),
    4: ("Los Angeles", "90012", "+12135550104"),
    5: ("Honolulu", "96813", "+18085550105"),
    6: ("Miami", "33130", "+13055550106"),
    7: ("Dallas", "75201", "+14055550107"),  # a Texas address with an Oklahoma number
    8: ("", "", "+15005550108"),  # no address, a non-geographic number: no zone known
    9: ("Honolulu", "96813", "+13125550109"),  # a Hawaii address with a Chicago mobile
    10: ("Phoenix", "85004", "+16025550110"),  # Arizona keeps standard time all year
    11: ("", "", "+14235550111"),  # no address; area code 423 is part Central, part Eastern
    12: ("Phoenix", "85004", "+13035550112"),  # an Arizona address with a Denver mobile
}
CHICAGO, HONOLULU = ZoneInfo("America/Chicago"), ZoneInfo("Pacific/Honolulu")


@pytest.fixture
def signed(tmp_path, store, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("email,phone,city,zip,sms_opt_in\n" + "".join(
        f"p{i}@example.org,{phone},{city},{zip_code},yes\n"
        for i, (city, zip_code, phone) in PEOPLE.items()))
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    return store


@pytest.fixture
def gate(signed, store, roster):
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


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def decide_at(gate, person: int, when: datetime):
    """The gate's answer with the clock frozen at `when`, as the worker would ask it."""
    with time_machine.travel(when, tick=False):
        return decide(gate, person, datetime.now(UTC))


def test_area_codes_name_their_time_zones_and_nothing_for_non_geographic_numbers():
    assert area_code_zones("+13125550109") == {"America/Chicago"}
    assert area_code_zones("+18085550105") == {"Pacific/Honolulu"}
    assert area_code_zones("+16025550110") == {"America/Phoenix"}
    assert area_code_zones("+19155550100") == {"America/Denver"}  # El Paso keeps Mountain
    # Every exchange counts, not just the area code's default (423 defaults to Central).
    assert area_code_zones("+14235550111") == {"America/Chicago", "America/New_York"}
    assert area_code_zones("+18505550100") == {"America/Chicago", "America/New_York"}
    # Toll-free and personal numbers are listed for all of North America: unknown.
    assert area_code_zones("+18005550100") == frozenset()
    assert area_code_zones("+15005550108") == frozenset()
    assert area_code_zones("not a phone") == frozenset()


def test_a_hawaii_address_with_a_chicago_mobile_is_held_at_0058_central(gate):
    # The tryout's case: 06:58 UTC is 20:58 in Honolulu (open) but 00:58 in Chicago.
    with time_machine.travel(utc(2026, 11, 27, 6, 58), tick=False):
        now = datetime.now(UTC)
        assert now.astimezone(CHICAGO).strftime("%H:%M") == "00:58"
        decision = decide(gate, 9, now)
    assert decision.action == "defer"
    assert decision.reason == "quiet hours in the recipient's time zones"
    # 08:00 Chicago (14:00 UTC) is 04:00 in Honolulu: wait for 08:00 there, 12:00 Chicago.
    assert decision.until == utc(2026, 11, 27, 18, 0)
    assert decision.until == datetime(2026, 11, 27, 8, 0, tzinfo=HONOLULU)
    assert decide_at(gate, 9, utc(2026, 11, 27, 17, 59)).action == "defer"
    assert decide_at(gate, 9, utc(2026, 11, 27, 18, 0)).action == "allow"
    # The evening ends with Chicago's 21:00 (03:00 UTC), while Honolulu is still at 17:00.
    assert decide_at(gate, 9, utc(2026, 11, 28, 2, 59)).action == "allow"
    late = decide_at(gate, 9, utc(2026, 11, 28, 3, 0))
    assert (late.action, late.until) == ("defer", utc(2026, 11, 28, 18, 0))


def test_the_worker_keeps_the_text_to_chicago_until_both_zones_are_awake(
        signed, store, roster, tmp_path):
    texts = tmp_path / "out"
    with time_machine.travel(utc(2026, 11, 27, 6, 58), tick=False):
        now = datetime.now(UTC)
        with store.begin() as connection:
            box.enqueue(connection, [box.NewMessage("mj", "welcome", "sms", "signer", "9",
                                                    "welcome", {}, now)], now)

        def worker() -> Worker:
            sender = Sender("MJ <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St")
            return Worker(store, {"sms": FilesTransport(texts, "sms")},
                          Renderer(store, roster, TEMPLATES, sender),
                          gate=Gate(store, roster), options=WorkerOptions(concurrency=1))

        assert worker().run(once=True)["deferred"] == 1
    with store.connect() as connection:
        row = connection.execute(select(outbox.c.state, outbox.c.not_before)).one()
    assert row.state == "queued"
    assert row.not_before.replace(tzinfo=UTC) == utc(2026, 11, 27, 18, 0)
    assert not list(texts.glob("*sms*"))
    with time_machine.travel(utc(2026, 11, 27, 18, 0, 5), tick=False):
        assert worker().run(once=True)["sent"] == 1


@pytest.mark.parametrize("person", [10, 12])
def test_arizona_keeps_its_hours_on_the_days_the_clocks_change(gate, person):
    # 2027-03-14: the rest of the country springs forward at 2 a.m.; Phoenix stays at UTC-7,
    # so its 08:00-21:00 is 15:00-04:00 UTC on both sides of the change.
    assert decide_at(gate, person, utc(2027, 3, 14, 14, 59)).until == utc(2027, 3, 14, 15)
    assert decide_at(gate, person, utc(2027, 3, 14, 15, 0)).action == "allow"
    # 2026-11-01: Denver falls back at 2 a.m. and is at Phoenix's UTC-7 again.
    assert decide_at(gate, person, utc(2026, 11, 1, 14, 59)).until == utc(2026, 11, 1, 15)
    assert decide_at(gate, person, utc(2026, 11, 1, 15, 0)).action == "allow"


def test_arizona_evenings_around_the_clock_changes(gate):
    with time_machine.travel(utc(2027, 3, 15, 2, 59), tick=False):  # 19:59 Phoenix, 20:59 MDT
        assert decide(gate, 10, datetime.now(UTC)).action == "allow"
        assert decide(gate, 12, datetime.now(UTC)).action == "allow"
    with time_machine.travel(utc(2027, 3, 15, 3, 30), tick=False):  # 20:30 Phoenix, 21:30 MDT
        assert decide(gate, 10, datetime.now(UTC)).action == "allow"
        held = decide(gate, 12, datetime.now(UTC))  # the Denver number's evening is over
    assert (held.action, held.until) == ("defer", utc(2027, 3, 15, 15, 0))
    closed = decide_at(gate, 10, utc(2027, 3, 15, 4, 0))  # 21:00 Phoenix
    assert (closed.action, closed.until) == ("defer", utc(2027, 3, 15, 15, 0))
    # The night before the fall-back, Denver is still on MDT (UTC-6) until 08:00 UTC.
    with time_machine.travel(utc(2026, 11, 1, 3, 30), tick=False):
        assert decide(gate, 10, datetime.now(UTC)).action == "allow"
        assert decide(gate, 12, datetime.now(UTC)).action == "defer"
    # After it, Denver and Phoenix agree: 20:30 in both.
    assert decide_at(gate, 12, utc(2026, 11, 2, 3, 30)).action == "allow"


def test_an_area_code_across_two_zones_waits_for_both_but_not_for_hawaii(gate):
    # Area code 423, no address: open from 08:00 Central (14:00 UTC, 09:00 Eastern) to 21:00
    # Eastern (02:00 UTC), not held for the hours open in every U.S. zone.
    early = decide_at(gate, 11, utc(2026, 11, 27, 13, 30))  # 07:30 Central
    assert (early.action, early.until) == ("defer", utc(2026, 11, 27, 14, 0))
    assert decide_at(gate, 11, utc(2026, 11, 27, 14, 0)).action == "allow"  # 04:00 in Honolulu
    assert decide_at(gate, 11, utc(2026, 11, 28, 1, 59)).action == "allow"
    late = decide_at(gate, 11, utc(2026, 11, 28, 2, 0))  # 21:00 Eastern
    assert (late.action, late.until) == ("defer", utc(2026, 11, 28, 14, 0))


@pytest.mark.parametrize("when", [utc(2026, 11, 27, 6, 58), utc(2026, 11, 27, 13, 30),
                                  utc(2026, 11, 27, 17, 0), utc(2027, 3, 14, 14, 59),
                                  utc(2027, 3, 15, 3, 30), utc(2026, 11, 1, 3, 30)])
def test_the_plans_preview_holds_exactly_the_texts_the_gate_holds(gate, signed, when):
    with signed.connect() as connection:
        frame = audience_frame(connection).set_index("id", drop=False)
    for person in PEOPLE:
        decision = decide_at(gate, person, when)
        recipient = frame.loc[[person]]
        preview = quiet_hours_preview(pd.Series([pd.Timestamp(when)]), recipient)
        assert preview["deferred"] == (decision.action == "defer"), person
        if decision.action == "defer":
            assert preview["first_release"] == decision.until.isoformat(), person
