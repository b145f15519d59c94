"""Rendered messages name the signer's own prosecutors, safely."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from outreach.campaigns.render import (
    NO_POSTAL_ADDRESS,
    Renderer,
    RenderError,
    Sender,
    TemplateFailure,
    first_name,
    format_phone,
    plural,
)
from outreach.signers.intake import intake
from outreach.signers.match import match
from outreach.store import outbox as box

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SENDER = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign", "1 Main St, X",
                "https://mj.example")


@pytest.fixture
def rendered(tmp_path, store, roster, geo, by_zip):
    path = tmp_path / "signers.csv"
    path.write_text("first_name,email,phone,address,city,state,zip,sms_opt_in\n"
                    "Ana,fulton@example.org,+14045550101,55 Trinity Ave,Atlanta,GA,30303,yes\n"
                    "<b>Bo</b>,travis@example.org,+15125550102,1000 Congress Ave,Austin,TX,"
                    "78701,yes\n"
                    ",nobody@example.org,,,,,,\n")
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "w", channel, "signer", str(i), template,
                                                {}, now)
                                 for i in (1, 2, 3)
                                 for channel, template in (("email", "welcome"),
                                                           ("sms", "welcome"))], now)
    rows = box.claim(store, "t", 50, timedelta(minutes=5), now)
    renderer = Renderer(store, roster, TEMPLATES, SENDER)
    messages = renderer.render_batch(rows)
    return {(r.recipient_id, r.channel): messages[r.id] for r in rows}


def test_fulton_county_email_names_the_atlanta_da_and_the_solicitor_general(rendered):
    email = rendered[("1", "email")]
    assert "Atlanta Judicial Circuit District Attorney" in email.text
    assert "Solicitor-General" in email.text and "Fulton" in email.text
    assert email.subject.startswith("Ana, thank you")


def test_travis_county_email_names_the_da_and_the_county_attorney(rendered):
    email = rendered[("2", "email")]
    assert "District Attorney, 53rd Judicial District (Travis County)" in email.text
    assert "Travis County Attorney" in email.text


def test_html_in_a_name_is_escaped_in_html_and_kept_in_text(rendered):
    email = rendered[("2", "email")]
    assert "&lt;b&gt;Bo&lt;/b&gt;" in email.html and "<b>Bo</b>" not in email.html
    assert email.text.startswith("Dear <b>Bo</b>,")


def test_missing_first_name_and_missing_phone(rendered):
    assert rendered[("3", "email")].text.startswith("Dear Friend,")
    assert isinstance(rendered[("3", "sms")], RenderError)
    assert str(rendered[("3", "sms")]) == "the signer has no phone number"


def test_sms_is_one_line_with_the_opt_out(rendered):
    sms = rendered[("1", "sms")].text
    assert "\n" not in sms and sms.endswith("Reply STOP to opt out.")
    assert sms.startswith("MJ Campaign: thanks for signing, Ana!")


def test_an_edited_sms_template_without_name_or_opt_out_gets_both(tmp_path, store, roster):
    (tmp_path / "sms").mkdir()
    (tmp_path / "sms" / "bare.txt").write_text("Call your DA today!")
    path = tmp_path / "s.csv"
    path.write_text("phone,zip,sms_opt_in\n+12155550123,19107,yes\n")
    intake(path, store)
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "b", "sms", "signer", "1", "bare", {},
                                                now)], now)
    rows = box.claim(store, "t", 5, timedelta(minutes=5), now)
    message = Renderer(store, roster, tmp_path, SENDER).render_batch(rows)[rows[0].id]
    assert message.text == "MJ Campaign: Call your DA today! Reply STOP to opt out."


@pytest.mark.parametrize(("value", "expected"), [
    ("+12156868000", "(215) 686-8000"), ("215.686.8000", "(215) 686-8000"),
    ("(215) 686-8000", "(215) 686-8000"), ("911", "911"), (None, "")])
def test_phone_filter(value, expected):
    assert format_phone(value) == expected


def test_name_and_plural_filters():
    assert first_name("  María José ") == "María" and first_name("") == "Friend"
    assert first_name(None, "friend") == "friend"
    assert plural(1, "signer") == "1 signer" and plural(1200, "signer") == "1,200 signers"
    assert plural(2, "person", "people") == "2 people"


def test_every_email_carries_one_click_unsubscribe(rendered, store):
    from sqlalchemy import select

    from outreach.store.schema import signers

    with store.connect() as connection:
        tokens = dict(connection.execute(
            select(signers.c.id, signers.c.unsubscribe_token)).all())
    for person in ("1", "2", "3"):
        email = rendered[(person, "email")]
        token = tokens[int(person)]
        assert token and len(token) >= 22  # 128 random bits
        assert email.headers["List-Unsubscribe"] == (
            f"<https://mj.example/u/{token}>, "
            f"<mailto:team@mj-campaign.org?subject=unsubscribe-{token}>")
        assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert f"https://mj.example/u/{token}" in email.text
        assert email.placeholders == () and "X-Outreach-Placeholder" not in email.headers
    assert len(set(tokens.values())) == 3


def _one_email(tmp_path, store, roster, sender, template="welcome", templates=TEMPLATES):
    path = tmp_path / "one.csv"
    path.write_text("first_name,email,zip\nJo,jo.smith@example.org,19107\n")
    intake(path, store)
    now = datetime.now(UTC)
    with store.begin() as connection:
        box.enqueue(connection, [box.NewMessage("mj", "w", "email", "signer", "1", template,
                                                {}, now)], now)
    rows = box.claim(store, "t", 5, timedelta(minutes=5), now)
    return Renderer(store, roster, templates, sender).render_batch(rows)[rows[0].id]


def test_without_public_url_or_postal_address_the_email_says_it_holds_placeholders(
        tmp_path, store, roster):
    """The files transport may show it (the demo); the worker holds it before any real one."""
    bare = Sender("Campaign <team@mj-campaign.org>", "+1", "MJ Campaign", "")
    email = _one_email(tmp_path, store, roster, bare)
    assert email.headers["List-Unsubscribe"].startswith("<http://localhost:8000/u/")
    assert "(set OUTREACH" not in email.text and "http://localhost:8000/u/" in email.text
    assert NO_POSTAL_ADDRESS in email.text
    assert [p.split(":")[0] for p in email.placeholders] == ["OUTREACH_PUBLIC_URL is not set",
                                                             "no postal address"]
    assert email.headers["X-Outreach-Placeholder"].startswith("not for real recipients: "
                                                             "OUTREACH_PUBLIC_URL is not set")


def test_a_public_url_that_is_not_absolute_http_counts_as_missing():
    assert Sender("a <a@b-campaign.org>", "+1", "O", "PO Box 1", "mj.example").missing_settings() \
        == ["OUTREACH_PUBLIC_URL='mj.example' is not an absolute http(s) URL: every supporter "
            "email needs a working unsubscribe link (CAN-SPAM, RFC 8058)"]
    assert Sender("a <a@b-campaign.org>", "+1", "O", "PO Box 1",
                  "https://mj.example").missing_settings() == []


@pytest.mark.parametrize(("body", "expected"), [
    ("Dear {{ signer.first_name }},\n{{ 100 / (signer.first_name|length - 2) }}",
     "template email/bomb.txt line 2: ZeroDivisionError: division by zero"),
    ("{% for i in range(10**9) %}{% endfor %}",
     "template email/bomb.txt line 1: OverflowError: Range too big. The sandbox blocks ranges "
     "larger than MAX_RANGE (100000)."),
    ("Hi {{ {}[signer.email] }}",  # an error text that would carry the address: masked
     "template email/bomb.txt line 1: 'dict object' has no attribute '***@example.org'"),
    ("{% if %}", "template email/bomb.txt line 1: Expected an expression, got 'end of "
                 "statement block'"),
])
def test_anything_a_template_raises_is_a_template_failure_naming_file_and_line(
        tmp_path, store, roster, body, expected):
    (tmp_path / "email").mkdir()
    (tmp_path / "email" / "bomb.subject.txt").write_text("Hello")
    (tmp_path / "email" / "bomb.txt").write_text(body)
    failure = _one_email(tmp_path, store, roster, SENDER, "bomb", tmp_path)
    assert isinstance(failure, TemplateFailure)
    assert str(failure) == expected and failure.recipient == "j***@example.org"


# --- names that are current or absent ---------------------------------------------------------
COOK_SOURCE = "https://www.cookcountystatesattorney.org/about"


def _settings(**extra: str):
    from outreach.config import Settings

    return Settings.from_env({"OUTREACH_DATA_DIR": str(TEMPLATES.parent / "data"), **extra})


def _correct_cook(store, confirmed: str, name: str = "Eileen O'Neill Burke",
                  now: datetime | None = None) -> None:
    """A stored correction: Cook County's State's Attorney, confirmed on `confirmed`, and an
    office email (an office letter needs one)."""
    from outreach.roster.corrections import Change, apply_import

    apply_import(store, [Change(2, "il-cook", "officeholder", "", name, COOK_SOURCE, confirmed),
                         Change(2, "il-cook", "officeholder_as_of", "", confirmed, COOK_SOURCE,
                                confirmed),
                         Change(2, "il-cook", "email", "", "sao@cook.example", COOK_SOURCE,
                                "2026-01-05")], "cook.csv", now or datetime.now(UTC))


def _chicago_messages(store, renderer, geo, by_zip, tmp_path) -> dict[str, str]:
    """The call-your-DA email and text to a Chicago signer, and a constituent letter to the
    Cook County State's Attorney, rendered through `renderer`."""
    path = tmp_path / "chicago.csv"
    path.write_text("first_name,email,phone,address,city,state,zip,sms_opt_in\n"
                    "Lee,lee@example.org,+13125550101,50 W Washington St,Chicago,IL,60602,"
                    "yes\n")
    intake(path, store)
    match(store, geo, by_zip=by_zip)
    now = datetime.now(UTC)
    rows = [box.OutboxRow(-1, "k1", "mj", "c", "email", "signer", "1", "call_your_da", {},
                          "queued", 0, None, None, None, now),
            box.OutboxRow(-2, "k2", "mj", "c", "sms", "signer", "1", "call_your_da", {},
                          "queued", 0, None, None, None, now),
            box.OutboxRow(-3, "k3", "mj", "l", "email", "office", "il-cook@1", "office_letter",
                          {"office_id": "il-cook", "signer_id": 1}, "queued", 0, None, None,
                          None, now)]
    rendered = renderer.render_batch(rows)
    assert not [m for m in rendered.values() if isinstance(m, Exception)], rendered
    return {key: " ".join(rendered[i].text.split())
            for key, i in (("email", -1), ("sms", -2), ("letter", -3))}


def test_a_name_confirmed_400_days_ago_is_left_out_for_the_office_by_title(
        tmp_path, store, counties, geo, by_zip):
    from outreach.roster.corrections import effective_roster

    today = datetime.now(UTC).date()
    _correct_cook(store, (today - timedelta(days=400)).isoformat())
    roster = effective_roster(_settings(), counties, engine=store)
    assert roster.office("il-cook").officeholder == "Eileen O'Neill Burke"  # still on file
    renderer = Renderer(store, roster, TEMPLATES, SENDER, stale_days=365)
    texts = _chicago_messages(store, renderer, geo, by_zip, tmp_path)
    assert not any("Burke" in text for text in texts.values())
    assert "Your prosecutor is the Cook County State's Attorney." in texts["email"]
    assert "I am asking the Cook County State's Attorney to expunge" in texts["email"]
    assert "call the Cook County State's Attorney at" in texts["sms"] or \
        "contact the Cook County State's Attorney" in texts["sms"]
    assert texts["letter"].startswith("To the Cook County State's Attorney: I live in")
    assert renderer.fallbacks["salutation: office name only"] == 1


def test_a_name_confirmed_ten_days_ago_is_used(tmp_path, store, counties, geo, by_zip):
    from outreach.roster.corrections import effective_roster

    _correct_cook(store, (datetime.now(UTC).date() - timedelta(days=10)).isoformat())
    roster = effective_roster(_settings(), counties, engine=store)
    renderer = Renderer(store, roster, TEMPLATES, SENDER, stale_days=365)
    texts = _chicago_messages(store, renderer, geo, by_zip, tmp_path)
    assert "State's Attorney Eileen O'Neill Burke." in texts["email"]
    assert "I am asking Eileen O'Neill Burke to expunge" in texts["email"]
    assert texts["letter"].startswith(
        "To Eileen O'Neill Burke, the Cook County State's Attorney: I live in")
    # The same roster, rendered 400 days on: the name has aged out.
    later = Renderer(store, roster, TEMPLATES, SENDER, stale_days=365,
                     today=lambda: datetime.now(UTC).date() + timedelta(days=390))
    assert "Burke" not in _render_letter(later)


def _render_letter(renderer: Renderer) -> str:
    row = box.OutboxRow(-9, "k9", "mj", "l", "email", "office", "il-cook@9", "office_letter",
                        {"office_id": "il-cook", "signer_id": 1}, "queued", 0, None, None,
                        None, datetime.now(UTC))
    message = renderer.render_batch([row])[-9]
    assert not isinstance(message, Exception), message
    return message.text


def test_a_da_elect_takes_over_the_messages_on_their_first_day(tmp_path, store, geo, by_zip):
    """A correction dated in the future waits for its day; a long-running renderer (the
    worker's: build_renderer without a roster) switches by itself, with time frozen."""
    import time_machine

    from outreach.ops.wiring import build_renderer

    settings = _settings(OUTREACH_DATABASE_URL="sqlite://", OUTREACH_PUBLIC_URL=SENDER.public_url,
                         OUTREACH_MAILING_ADDRESS="1 Main St, X", OUTREACH_ORGANIZATION="MJ")
    with time_machine.travel(datetime(2026, 12, 20, 15, tzinfo=UTC), tick=False):
        _correct_cook(store, "2026-06-01", name="Old Holder")
        _correct_cook(store, "2027-01-01", name="New Holder")  # sworn in on New Year's Day
        renderer = build_renderer(settings, store)
        _chicago_messages(store, renderer, geo, by_zip, tmp_path)  # the signer and match
        assert "To Old Holder, the Cook County State's Attorney:" in _render_letter(renderer)
    with time_machine.travel(datetime(2026, 12, 31, 23, tzinfo=UTC), tick=False):
        assert "To Old Holder," in _render_letter(renderer)
    with time_machine.travel(datetime(2027, 1, 1, 9, tzinfo=UTC), tick=False):
        assert "To New Holder, the Cook County State's Attorney:" in _render_letter(renderer)
        assert renderer.roster.office("il-cook").officeholder_as_of == "2027-01-01"


def test_a_batch_renders_with_a_few_statements_whatever_its_size(tmp_path, store, roster):
    # Recipients, stances and the unsubscribe tokens of signers planned before tokens existed
    # are read and written once per batch, not once per message: 40 emails, the statements
    # of one.
    from sqlalchemy import event

    path = tmp_path / "many.csv"
    path.write_text("first_name,email,zip\n" + "".join(f"P{i},p{i}@example.org,19107\n"
                                                        for i in range(40)))
    intake(path, store)
    now = datetime.now(UTC)
    renderer = Renderer(store, roster, TEMPLATES, SENDER)
    statements: list[str] = []
    event.listen(store, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: statements.append(statement))

    def render(count: int, start: int) -> dict:
        with store.begin() as connection:
            box.enqueue(connection, [box.NewMessage("mj", f"w{start}", "email", "signer",
                                                    str(i), "welcome", {}, now)
                                     for i in range(start, start + count)], now)
        rows = box.claim(store, "t", 100, timedelta(minutes=5), now)
        statements.clear()
        return renderer.render_batch(rows)

    one = render(1, 1)
    few = len(statements)
    many = render(39, 2)
    assert len(statements) <= few
    assert all(m.headers["List-Unsubscribe"].startswith("<https://mj.example/u/")
               for m in [*one.values(), *many.values()])
    tokens = {m.headers["List-Unsubscribe"] for m in many.values()}
    assert len(tokens) == 39  # one token each, none shared


def test_an_edited_template_reaches_the_next_batch(tmp_path, store, roster):
    # Compiled templates are reused within a batch, and an organizer's edit still reaches the
    # batches after it.
    (tmp_path / "sms").mkdir()
    template = tmp_path / "sms" / "note.txt"
    template.write_text("MJ Campaign: first. Reply STOP to opt out.")
    path = tmp_path / "s.csv"
    path.write_text("phone,zip,sms_opt_in\n+12155550123,19107,yes\n+12155550124,19107,yes\n")
    intake(path, store)
    now = datetime.now(UTC)
    renderer = Renderer(store, roster, tmp_path, SENDER)

    def render(signer: str) -> str:
        with store.begin() as connection:
            box.enqueue(connection, [box.NewMessage("mj", "n", "sms", "signer", signer,
                                                    "note", {}, now)], now)
        [row] = box.claim(store, "t", 5, timedelta(minutes=5), now)
        return renderer.render_batch([row])[row.id].text

    assert render("1") == "MJ Campaign: first. Reply STOP to opt out."
    template.write_text("MJ Campaign: second. Reply STOP to opt out.")
    os.utime(template, (time.time() + 5, time.time() + 5))  # a later mtime, whatever the fs
    assert render("2") == "MJ Campaign: second. Reply STOP to opt out."


@pytest.mark.parametrize("address", [
    "Org <team@example.com>", "team@lists.example.net", "Org <team@mj.example.org>",
    "team@mj.example", "team@mj.test", "team@mj.invalid", "Outreach <outreach@localhost>",
    "team@mj.localhost", "Team <TEAM@MJ.EXAMPLE.ORG.>", "Team"])
def test_a_sender_on_a_reserved_domain_is_a_missing_setting(address):
    """RFC 2606 / RFC 6761 names reach nobody: the sample's sender or a default, held from
    every real transport and refused by plan and launch, office mail too."""
    sender = Sender(address, "+1", "Org", "1000 Market St, Philadelphia, PA 19107",
                    "https://mj-campaign.org")
    [problem] = sender.missing_settings()
    assert problem.startswith("the sender address ") and "sender.email_from" in problem
    assert sender.missing_office_settings() == [problem]


@pytest.mark.parametrize("postal", [
    "Marijuana Justice Campaign, PO Box 0000, Washington, DC 20001", "PO Box 0, Erie, PA 16501",
    "1 Main St, Town, ST 00000", "TBD", "Your mailing address here", "XXXX"])
def test_a_placeholder_postal_address_is_a_missing_setting(postal):
    sender = Sender("Org <team@mj-campaign.org>", "+1", "Org", postal, "https://mj-campaign.org")
    [problem] = sender.missing_settings()
    assert problem == (f"the postal address {postal!r} is a placeholder: set the campaign's "
                       "sender.mailing_address or OUTREACH_MAILING_ADDRESS to the "
                       "organization's own (CAN-SPAM requires a valid physical postal address "
                       "in every email)")
    assert sender.missing_office_settings() == [problem]


@pytest.mark.parametrize("postal", ["PO Box 1000, Washington, DC 20001", "PO Box 1",
                                    "Suite 100, 1000 Market St, Philadelphia, PA 19107"])
def test_a_real_sender_and_postal_address_are_not_placeholders(postal):
    sender = Sender("Org <team@example.community>", "+1", "Org", postal,
                    "https://mj-campaign.org")
    assert sender.missing_settings() == [] and sender.missing_office_settings() == []


def test_phone_links_are_rfc_3966_global_numbers(rendered):
    """href="tel:(412) 350-4400" is not a valid tel URI (RFC 3966): the link carries the
    global number, the text keeps the readable form."""
    import re

    html = rendered[("1", "email")].html
    links = re.findall(r'href="(tel:[^"]*)"', html)
    assert links and all(re.fullmatch(r"tel:\+1\d{10}", link) for link in links), links
    assert re.search(r'href="tel:\+1\d{10}">\(\d{3}\) \d{3}-\d{4}</a>', html)


@pytest.mark.parametrize(("phone", "uri"), [
    ("(412) 350-4400", "tel:+14123504400"), ("+14123504400", "tel:+14123504400"),
    ("412-350-4400 ext. 12", "tel:+14123504400;ext=12"), ("555-1234", ""), ("", "")])
def test_tel_uri(phone, uri):
    from outreach.campaigns.render import tel_uri

    assert tel_uri(phone) == uri
