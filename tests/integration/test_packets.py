"""Delivery packets from a real store (SQLite and PostgreSQL): `outreach packet` writes the
PDF an office gets, with its own constituents' names and towns and nothing else of theirs;
the office digest carries the count and an unguessable, expiring, revocable link to it
(issue 17.5)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from outreach.campaigns.packets import build_packet, issue_link
from outreach.campaigns.render import Renderer, Sender
from outreach.cli import cli
from outreach.errors import NoOneToSpeakFor
from outreach.roster import stances
from outreach.roster.offices import load_roster
from outreach.sending.transports.files import FilesTransport
from outreach.sending.worker import Worker, WorkerOptions
from outreach.store import outbox as box
from outreach.store.packets import live_link_office, revoke_links
from outreach.store.schema import outbox, packet_links, signer_matches, signers
from outreach.web import create_app
from tests.conftest import DATA, shipped_rows, write_roster
from tests.pdf_text import one_line, pdf_text
from tests.web_helpers import ROOT, seed_signers, web_settings

PUBLIC = "https://act.example.org"
TEMPLATES = ROOT / "templates"
SENDER = Sender("Campaign <team@mj-campaign.org>", "+12155550199", "MJ Campaign",
                "PO Box 1, Philadelphia, PA 19101", PUBLIC)
# (first, last, email, phone, street, city, zip, signed_at): three of Philadelphia's, one of
# Pittsburgh's (Allegheny County), one of Harrisburg's (Dauphin County).
SIGNERS = [
    ("José", "Muñoz", "jose.munoz@example.org", "+12155550101", "1400 John F Kennedy Blvd",
     "Philadelphia", "19102", "2026-11-02T14:00:00Z"),
    ("Nguyễn", "Văn An", "nguyen.an@example.org", "+12155550102", "1500 Market Street",
     "Philadelphia", "19102", "2026-11-05T09:30:00Z"),
    ('=HYPERLINK("http://evil.example/x","y")', "Formula", "formula@example.org",
     "+12155550103", "1 South Broad Street", "Philadelphia", "19107", "2026-11-06T20:00:00Z"),
    ("Pat", "Pittman", "pat.pittman@example.org", "+14125550104", "414 Grant Street",
     "Pittsburgh", "15219", "2026-11-03T12:00:00Z"),
    ("Hana", "Harriston", "hana.h@example.org", "+17175550105", "100 North Street",
     "Harrisburg", "17101", "2026-11-04T12:00:00Z"),
]
PHILADELPHIANS = SIGNERS[:3]


def phone_forms(e164: str) -> list[str]:
    digits = e164[2:]
    return [e164, digits, f"({digits[:3]}) {digits[3:6]}-{digits[6:]}",
            f"{digits[:3]}-{digits[3:6]}-{digits[6:]}", f"{digits[3:6]}-{digits[6:]}"]


def contact_details(rows: list[tuple[str, ...]]) -> list[str]:
    found = []
    for _, _, email, phone, street, _, zip_code, _ in rows:
        found += [email, email.split("@")[0], street, street.split(" ", 1)[1], zip_code,
                  *phone_forms(phone)]
    return found


@pytest.fixture
def seeded(tmp_path, store, geo, by_zip):
    seed_signers(tmp_path / "signers.csv", store, geo, by_zip,
                 ([first, last, email, phone, street, city, "PA", zip_code, signed]
                  for first, last, email, phone, street, city, zip_code, signed in SIGNERS))
    return store


def run(store_url: str, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"OUTREACH_DATABASE_URL": store_url,
                                                    "OUTREACH_DATA_DIR": str(DATA), **env})


def test_philadelphia_packet_pdf_names_its_constituents_and_none_of_their_contacts(
        store_url, tmp_path, seeded):
    """The Done-when of issue 17.5, through the command an organizer runs."""
    output = tmp_path / "philadelphia.pdf"
    result = run(store_url, "packet", "pa-philadelphia", "--format", "pdf",
                 "--output", str(output))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "3 constituents" in result.output
    text = pdf_text(output.read_bytes())
    flat = one_line(text)
    assert "3 constituents of your jurisdiction signed the petition between November 2, " \
           "2026 and November 6, 2026" in flat
    for first, last, *_ in PHILADELPHIANS:
        assert f"{first} {last}" in text
    assert flat.count("Philadelphia 2026-11-0") == 3  # each one's town, then the day signed
    leaked = [d for d in contact_details(SIGNERS) if d in text]
    assert leaked == []
    assert "Pittman" not in text and "Pittsburgh" not in text  # another office's signer
    assert "Harriston" not in text


def test_without_output_the_packet_is_written_beside_as_packet_office_pdf(
        store_url, tmp_path, seeded, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(store_url, "packet", "pa-philadelphia", "--format", "pdf")
    assert result.exit_code == 0, result.output
    assert "José Muñoz" in pdf_text((tmp_path / "packet-pa-philadelphia.pdf").read_bytes())


def test_json_report_has_counts_and_days_and_no_name(store_url, tmp_path, seeded):
    result = run(store_url, "packet", "pa-philadelphia", "--output",
                 str(tmp_path / "p.pdf"), "--json")
    report = json.loads(result.output)
    assert report["constituents"] == 3 and report["file"] == str(tmp_path / "p.pdf")
    assert (report["first_signed"], report["last_signed"]) == ("2026-11-02", "2026-11-06")
    assert not any(name in result.output for first, last, *_ in SIGNERS
                   for name in (first, last))


def test_from_and_to_keep_the_signatures_of_those_days(store_url, tmp_path, seeded):
    output = tmp_path / "p.csv"
    result = run(store_url, "packet", "pa-philadelphia", "--format", "csv", "--output",
                 str(output), "--from", "2026-11-03", "--to", "2026-11-05", "--json")
    assert json.loads(result.output)["constituents"] == 1
    rows = list(csv.DictReader(output.open(encoding="utf-8")))
    assert [(r["first_name"], r["last_name"], r["town"], r["signed_on"]) for r in rows] == [
        ("Nguyễn", "Văn An", "Philadelphia", "2026-11-05")]


def test_csv_packet_escapes_a_formula_name_and_has_no_contact_column(store_url, tmp_path,
                                                                   seeded):
    output = tmp_path / "p.csv"
    assert run(store_url, "packet", "pa-philadelphia", "--format", "csv",
               "--output", str(output)).exit_code == 0
    content = output.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(content)))
    assert list(rows[0]) == ["office_id", "first_name", "last_name", "town", "signed_on"]
    assert "'=HYPERLINK(\"http://evil.example/x\",\"y\")" in [r["first_name"] for r in rows]
    assert not any(v.startswith("=") for r in rows for v in r.values())
    assert [d for d in contact_details(SIGNERS) if d in content] == []


def test_a_campaigns_packet_holds_only_its_audience(store_url, tmp_path, seeded):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    campaign = (ROOT / "jobs" / "marijuana_justice.toml").read_text(encoding="utf-8")
    campaign = campaign.replace('name = "marijuana_justice"', 'name = "late_signers"').replace(
        "[audience]\n", '[audience]\nsigned_after = "2026-11-04"\n')
    (jobs / "late_signers.toml").write_text(campaign, encoding="utf-8")
    result = run(store_url, "packet", "pa-philadelphia", "--campaign", "late_signers",
                 "--output", str(tmp_path / "p.pdf"), "--json", OUTREACH_JOBS_DIR=str(jobs))
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["constituents"] == 2
    text = pdf_text((tmp_path / "p.pdf").read_bytes())
    assert "Nguyễn Văn An" in text and "José Muñoz" not in text
    assert "Marijuana Justice Campaign" in text  # the campaign's own sender


def test_state_archive_has_one_packet_per_office_with_constituents_and_an_index(
        store_url, tmp_path, seeded):
    output = tmp_path / "pa.zip"
    result = run(store_url, "packet", "--state", "pa", "--output", str(output), "--json")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(output) as archive:
        names = sorted(archive.namelist())
        index = list(csv.DictReader(io.StringIO(archive.read("index.csv").decode("utf-8"))))
        texts = {n: pdf_text(archive.read(n)) for n in names if n.endswith(".pdf")}
    assert names == ["index.csv", "pa-allegheny.pdf", "pa-dauphin.pdf", "pa-philadelphia.pdf"]
    assert {r["office_id"]: int(r["constituents"]) for r in index} == {
        "pa-allegheny": 1, "pa-dauphin": 1, "pa-philadelphia": 3}
    assert index[0]["office_name"] and index[0]["file"].endswith(".pdf")
    assert "Pat Pittman" in texts["pa-allegheny.pdf"]
    assert "Pat Pittman" not in texts["pa-philadelphia.pdf"]
    assert "Hana Harriston" in texts["pa-dauphin.pdf"]
    assert json.loads(result.output)["constituents"] == 5


def test_bad_requests_are_one_line_errors(store_url, tmp_path, seeded):
    unknown = run(store_url, "packet", "pa-nowhere", "--output", str(tmp_path / "x.pdf"))
    assert unknown.exit_code == 2
    assert unknown.output.strip() == ("outreach: error: no office 'pa-nowhere' in the roster "
                                      "(`outreach lookup ADDRESS` names an address's offices)")
    assert not (tmp_path / "x.pdf").exists()
    state = run(store_url, "packet", "--state", "ZZ", "--output", str(tmp_path / "z.zip"))
    assert state.exit_code == 2 and "--state ZZ: no office of that state" in state.output
    both = run(store_url, "packet", "pa-philadelphia", "--state", "PA")
    assert both.exit_code == 2 and "not both" in both.output


def test_the_packet_queries_read_no_email_phone_or_street(seeded, roster):
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement.lower())

    event.listen(seeded, "before_cursor_execute", seen)
    try:
        with seeded.connect() as connection:
            found = build_packet(connection, roster.office("pa-philadelphia"),
                                 organization="MJ", mailing_address="", now=datetime.now(UTC))
    finally:
        event.remove(seeded, "before_cursor_execute", seen)
    assert found.count == 3
    reading_signers = [s for s in statements if "signers" in s]
    assert reading_signers
    assert not [s for s in reading_signers
                if any(f"signers.{column}" in s for column in ("email", "phone", "street"))]


# --- the office digest and its link ---------------------------------------------------------

@pytest.fixture
def roster_with_email(tmp_path, counties):
    rows = shipped_rows()
    for row in rows:
        if row["office_id"] == "pa-philadelphia":
            row["email"] = "da@phila.example.gov"
    return load_roster(write_roster(tmp_path / "roster.csv", rows), counties)


def digest_row(row_id: int, signer_ids: list[int], day: str) -> box.OutboxRow:
    return box.OutboxRow(row_id, f"k{row_id}", "marijuana_justice", "office_digest", "email",
                         "office", f"pa-philadelphia@{day}", "office_digest",
                         {"office_id": "pa-philadelphia", "day": day, "signer_ids": signer_ids},
                         "claimed", 0, None, None, None, datetime.now(UTC))


def ids_of(engine, *emails: str) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return [connection.execute(select(signers.c.id).where(signers.c.email == e))
                .scalar_one() for e in emails]


def test_the_digest_says_how_many_signed_and_links_to_a_packet_the_web_serves(
        store_url, seeded, roster_with_email):
    renderer = Renderer(seeded, roster_with_email, TEMPLATES, SENDER, packet_link_days=30)
    [jose] = ids_of(seeded, "jose.munoz@example.org")
    message = renderer.render_batch([digest_row(1, [jose], "2026-11-02")])[1]
    assert not isinstance(message, Exception), message
    assert message.to == "da@phila.example.gov"
    assert "1 resident of your jurisdiction signed" in message.text
    assert message.subject == "1 constituent of the Philadelphia District Attorney asks for " \
                              "marijuana justice"  # one asks, several ask
    assert "In all, 3 residents of your jurisdiction have signed." in message.text
    [url] = [w for w in message.text.split() if w.startswith(f"{PUBLIC}/packet/")]
    token = url.rsplit("/", 1)[1]
    assert len(token) >= 43  # 256 random bits, URL-safe
    expires = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    assert f"(the link works until {expires}): {url}" in one_line(message.text)

    # A second digest to the office carries the same live link: not one link a day.
    again = renderer.render_batch([digest_row(2, [jose], "2026-11-03")])[2]
    assert url in again.text
    with seeded.connect() as connection:
        assert len(connection.execute(select(packet_links)).all()) == 1

    settings = web_settings(PUBLIC, OUTREACH_DATABASE_URL=store_url)
    with TestClient(create_app(settings, engine=seeded), base_url=PUBLIC) as client:
        answer = client.get(f"/packet/{token}")
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["referrer-policy"] == "no-referrer"
        text = pdf_text(answer.content)
        assert "José Muñoz" in text and "Nguyễn Văn An" in text and "Pittman" not in text
        assert [d for d in contact_details(SIGNERS) if d in text] == []
        assert client.get(f"/packet/{token[:-2]}xx").status_code == 404
        with seeded.begin() as connection:
            assert revoke_links(connection, "pa-philadelphia", datetime.now(UTC)) == 1
        gone = client.get(f"/packet/{token}")
        assert gone.status_code == 404 and "revoked" in gone.text
    with seeded.connect() as connection:
        [link] = connection.execute(select(packet_links)).all()
    assert link.downloads == 1 and link.revoked_at is not None

    # Revoked: the next digest carries a new link.
    fresh = renderer.render_batch([digest_row(3, [jose], "2026-11-04")])[3]
    assert f"{PUBLIC}/packet/" in fresh.text and url not in fresh.text


def test_a_digest_leaves_out_constituents_who_moved_and_one_left_with_none_is_skipped(
        seeded, roster_with_email, tmp_path):
    """A signer who says on the thanks page they live in the ZIP's other county (or whom a
    rematch moves) is no longer the office's constituent: the digest queued for the office
    before does not name them, and a digest with nobody left says nothing at all."""
    renderer = Renderer(seeded, roster_with_email, TEMPLATES, SENDER)
    jose, other = ids_of(seeded, "jose.munoz@example.org", "nguyen.an@example.org")
    with seeded.begin() as connection:
        connection.execute(update(signer_matches).where(signer_matches.c.signer_id == jose)
                           .values(felony_office_id="pa-delaware"))
    both = renderer.render_batch([digest_row(1, [jose, other], "2026-11-02")])[1]
    assert not isinstance(both, Exception), both
    assert "1 resident of your jurisdiction signed" in both.text
    assert "Muñoz" not in both.text and "Văn An" in both.text
    alone = renderer.render_batch([digest_row(2, [jose], "2026-11-02")])[2]
    assert isinstance(alone, NoOneToSpeakFor)
    assert str(alone) == "every constituent of this digest (1) lives under another office now"

    # Through the worker: skipped with the reason, not failed, and nothing written out.
    now = datetime.now(UTC)
    with seeded.begin() as connection:
        box.enqueue(connection, [box.NewMessage(
            "marijuana_justice", "office_digest", "email", "office", "pa-philadelphia@moved",
            "office_digest", {"office_id": "pa-philadelphia", "day": "2026-11-02",
                              "signer_ids": [jose]}, now)], now)
    out = tmp_path / "out"
    worker = Worker(seeded, {"email": FilesTransport(out, "email")}, renderer,
                    options=WorkerOptions(concurrency=1))
    assert worker.run(once=True)["skipped"] == 1
    with seeded.connect() as connection:
        row = connection.execute(select(outbox.c.state, outbox.c.last_error)).one()
    assert row.state == "skipped" and "under another office" in (row.last_error or "")
    assert not list(out.glob("**/*.eml"))


def test_a_link_expires_and_one_past_half_its_life_is_replaced(seeded):
    now = datetime(2026, 12, 1, tzinfo=UTC)
    month = timedelta(days=30)
    with seeded.begin() as connection:
        first = issue_link(connection, "pa-philadelphia", now=now, lifetime=month,
                           issued_by="test")
        same = issue_link(connection, "pa-philadelphia", now=now + timedelta(days=14),
                          lifetime=month, issued_by="test")
        newer = issue_link(connection, "pa-philadelphia", now=now + timedelta(days=16),
                           lifetime=month, issued_by="test")
        assert same.token == first.token and newer.token != first.token
        assert live_link_office(connection, first.token, now + timedelta(days=29)) == \
            "pa-philadelphia"
        assert live_link_office(connection, first.token, now + month) is None
        assert live_link_office(connection, newer.token, now + month) == "pa-philadelphia"


def test_without_a_public_url_the_digest_has_the_count_and_no_link(seeded, roster_with_email):
    renderer = Renderer(seeded, roster_with_email, TEMPLATES, replace(SENDER, public_url=""))
    [jose, nguyen] = ids_of(seeded, "jose.munoz@example.org", "nguyen.an@example.org")
    message = renderer.render_batch([digest_row(1, [jose, nguyen], "2026-11-02")])[1]
    assert "2 residents of your jurisdiction signed" in message.text
    assert "In all, 3 residents" in message.text
    assert "/packet/" not in message.text
    with seeded.connect() as connection:
        assert connection.execute(select(packet_links)).all() == []


def test_packet_links_commands_issue_list_and_revoke(store_url, seeded):
    issued = run(store_url, "packet-links", "issue", "pa-philadelphia", "--days", "7", "--json",
                 OUTREACH_PUBLIC_URL=PUBLIC)
    assert issued.exit_code == 0, issued.output
    link = json.loads(issued.output)["url"]
    token = link.rsplit("/", 1)[1]
    assert link.startswith(f"{PUBLIC}/packet/")
    listed = run(store_url, "packet-links", "list", "--json")
    assert token not in listed.output
    [row] = json.loads(listed.output)["links"]
    assert (row["office_id"], row["state"], row["downloads"]) == ("pa-philadelphia", "live", 0)
    revoked = run(store_url, "packet-links", "revoke", "pa-philadelphia", "--json")
    assert json.loads(revoked.output)["revoked"] == 1
    assert json.loads(run(store_url, "packet-links", "list", "--json").output)["links"][0][
        "state"] == "revoked"
    no_url = run(store_url, "packet-links", "issue", "pa-philadelphia", OUTREACH_PUBLIC_URL="")
    assert no_url.exit_code == 2 and "OUTREACH_PUBLIC_URL is not set" in no_url.output


def test_a_stance_recorded_for_the_office_shows_in_its_packet(store_url, tmp_path, seeded):
    with seeded.begin() as connection:
        plan = stances.plan_changes(
            "pa-philadelphia", {"expunge": "yes", "drop": "yes", "divert": "partial"},
            "https://phillyda.org/policy", "2026-11-20", "announced", current={},
            office_ids={"pa-philadelphia"}, today=datetime.now(UTC).date())
        stances.record(connection, plan.changes, "cli:test", datetime.now(UTC))
    output = tmp_path / "p.pdf"
    assert run(store_url, "packet", "pa-philadelphia", "--output",
               str(output)).exit_code == 0
    flat = one_line(pdf_text(output.read_bytes()))
    assert "Your office's recorded position: yes (stated November 20, 2026; " \
           "https://phillyda.org/policy)" in flat
    assert "2026-11-20 divert partial https://phillyda.org/policy (announced)" in flat


def test_an_office_nobody_signed_in_gets_a_packet_that_says_so(store_url, tmp_path, store):
    output = tmp_path / "p.pdf"
    result = run(store_url, "packet", "pa-philadelphia", "--output", str(output), "--json")
    assert json.loads(result.output)["constituents"] == 0
    assert "No constituent of your jurisdiction has signed yet." in one_line(
        pdf_text(output.read_bytes()))
