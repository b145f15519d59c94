"""Rendered messages name the signer's own prosecutors, safely."""

from __future__ import annotations

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
SENDER = Sender("Campaign <team@mj.example>", "+12155550199", "MJ Campaign", "1 Main St, X",
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
            f"<mailto:team@mj.example?subject=unsubscribe-{token}>")
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
    bare = Sender("Campaign <team@mj.example>", "+1", "MJ Campaign", "")
    email = _one_email(tmp_path, store, roster, bare)
    assert email.headers["List-Unsubscribe"].startswith("<http://localhost:8000/u/")
    assert "(set OUTREACH" not in email.text and "http://localhost:8000/u/" in email.text
    assert NO_POSTAL_ADDRESS in email.text
    assert [p.split(":")[0] for p in email.placeholders] == ["OUTREACH_PUBLIC_URL is not set",
                                                             "no postal address"]
    assert email.headers["X-Outreach-Placeholder"].startswith("not for real recipients: "
                                                             "OUTREACH_PUBLIC_URL is not set")


def test_a_public_url_that_is_not_absolute_http_counts_as_missing():
    assert Sender("a <a@b.example>", "+1", "O", "PO Box 1", "mj.example").missing_settings() \
        == ["OUTREACH_PUBLIC_URL='mj.example' is not an absolute http(s) URL: every supporter "
            "email needs a working unsubscribe link (CAN-SPAM, RFC 8058)"]
    assert Sender("a <a@b.example>", "+1", "O", "PO Box 1",
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
