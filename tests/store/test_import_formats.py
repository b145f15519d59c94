"""Exports of the tools organizers use: every field kept, opt-outs kept, unused columns listed.

The samples in tests/fixtures/exports/ are synthetic (example.org, 555-01xx numbers); their
headers and status values are the ones outreach/import_formats.py documents.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from outreach.campaigns.definitions import find_campaign
from outreach.campaigns.planner import plan_campaign
from outreach.cli import cli
from outreach.cli.signers import format_intake
from outreach.signers.fields import check_phone, parse_signed_at
from outreach.signers.inbox import process_inbox
from outreach.signers.intake import IntakeError, intake, parse_mapping
from outreach.store.schema import signers, suppressions
from outreach.web import create_app
from tests.web_helpers import ROOT, web_settings

EXPORTS = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
JOBS = ROOT / "jobs"


def rows_of(name: str) -> list[dict[str, str]]:
    with (EXPORTS / f"{name}.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def stored(store: Engine) -> dict[str, dict]:
    """Signers by email (or phone, for a signer without one)."""
    with store.connect() as connection:
        return {(r.email_key or r.phone): dict(r._mapping)
                for r in connection.execute(select(signers))}


def suppressed(store: Engine) -> dict[str, tuple[str, str]]:
    with store.connect() as connection:
        return {r.address: (r.source, r.reason) for r in connection.execute(
            select(suppressions).where(suppressions.c.removed_at.is_(None)))}


def planned(store: Engine, roster) -> dict[str, set[int]]:
    """Signer ids each supporter step of the shipped campaign would message now."""
    campaign = find_campaign(JOBS, "marijuana_justice")
    plans = plan_campaign(store, campaign, datetime.now(UTC), roster=roster)
    return {p.step.name: {int(m.recipient_id) for m in p.messages} for p in plans
            if p.step.to == "supporters"}


def utc(value: str) -> datetime:
    return pd.Timestamp(value).tz_convert("UTC").to_pydatetime()


def test_an_action_network_export_keeps_every_field(tmp_path, store, roster):
    summary = intake(EXPORTS / "action_network.csv", store, reports_dir=tmp_path)
    assert summary.format == "action_network"
    assert (summary.rows, summary.imported, summary.rejected) == (32, 32, 0)
    assert summary.unmapped_columns == ["uuid", "can2_user_tags"]
    assert summary.rejects_file is None
    people = stored(store)
    for row in rows_of("action_network"):
        phone = check_phone(row["can2_phone"]).value if row["can2_phone"] else None
        person = people[row["email"] or phone]  # the phone-only row is kept too
        assert person["phone"] == phone
        assert (person["street"], person["city"], person["state"], person["zip"]) == (
            row["can2_user_address"] or None, row["can2_user_city"],
            row["can2_state_abbreviated"], row["zip_code"])
        assert person["signed_at"].replace(tzinfo=UTC) == utc(
            row["can2_created_date"].replace(" UTC", "+00:00"))
        status = row["can2_subscription_status"]
        assert person["email_opt_in"] is (status in ("subscribed", "")), row["email"]
        assert person["sms_opt_in"] is (row["can2_sms_status"] == "subscribed")
    # The row with an offset: 10:00 at UTC-5 is 15:00 UTC.
    assert people["vic.chen@example.org"]["signed_at"].replace(tzinfo=UTC) == \
        datetime(2026, 11, 1, 15, tzinfo=UTC)
    assert suppressed(store) == {
        "dev.patel@example.org": ("import:action_network",
                                  "unsubscribed (Action Network export)"),
        "ira.silva@example.org": ("import:action_network", "bounced (Action Network export)"),
        "nia.patel@example.org": ("import:action_network",
                                  "spam complaint (Action Network export)"),
        "sam.silva@example.org": ("import:action_network",
                                  "unsubscribed (Action Network export)")}
    assert summary.suppressed == 4

    plans = planned(store, roster)
    off = {people[e]["id"] for e in suppressed(store)}
    emailable = {p["id"] for p in people.values() if p["email"]} - off
    assert plans["welcome_email"] == emailable and not plans["welcome_email"] & off
    texters = {p["id"] for key, p in people.items() if p["sms_opt_in"]}
    assert plans["welcome_sms"] == texters
    assert len(texters) == sum(1 for r in rows_of("action_network")
                               if r["can2_sms_status"] == "subscribed")


def write_an(tmp_path: Path, name: str, status: str, sms: str, created: str) -> Path:
    path = tmp_path / name
    path.write_text("email,first_name,zip_code,can2_phone,can2_sms_status,"
                    "can2_subscription_status,can2_created_date\n"
                    f"devon@example.org,Devon,19102,(215) 555-0111,{sms},{status},{created}\n",
                    encoding="utf-8")
    return path


def test_an_opt_out_in_a_later_export_is_never_lost(tmp_path, store, roster):
    intake(write_an(tmp_path, "nov.csv", "subscribed", "subscribed", "2026-11-20 10:00:00 UTC"),
           store)
    [devon] = stored(store).values()
    assert (devon["email_opt_in"], devon["sms_opt_in"]) == (True, True)
    # December's export says unsubscribed; its row is dated at signing, older than the stored
    # one, so it loses the merge, but the status is as of the export: the opt-out applies.
    intake(write_an(tmp_path, "dec.csv", "unsubscribed", "unsubscribed",
                    "2026-11-01 10:00:00 UTC"), store)
    [devon] = stored(store).values()
    assert (devon["email_opt_in"], devon["sms_opt_in"]) == (False, False)
    assert suppressed(store)["devon@example.org"][0] == "import:action_network"
    # A newer export saying subscribed again does not lift the suppression in silence.
    intake(write_an(tmp_path, "jan.csv", "subscribed", "", "2027-01-05 10:00:00 UTC"), store)
    assert "devon@example.org" in suppressed(store)
    assert planned(store, roster)["welcome_email"] == set()


def test_an_actionkit_export_with_a_mapped_custom_field(tmp_path, store, roster):
    mapping = parse_mapping(["user_sms_optin=sms_opt_in"])
    summary = intake(EXPORTS / "actionkit.csv", store, reports_dir=tmp_path, mapping=mapping)
    assert summary.format == "actionkit"
    assert (summary.rows, summary.imported, summary.rejected) == (12, 12, 0)
    assert summary.unmapped_columns == ["id", "prefix", "middle_name", "plus4"]
    people = stored(store)
    for row in rows_of("actionkit"):
        person = people[row["email"]]
        # mobile_phone first; home_phone where it is blank.
        assert person["phone"] == check_phone(row["mobile_phone"] or row["home_phone"]).value
        assert person["street"] == f"{row['address1']} {row['address2']}".strip()
        assert person["signed_at"].replace(tzinfo=UTC) == utc(row["created_at"] + "+00:00")
        assert person["email_opt_in"] is (row["subscription_status"] == "subscribed")
        assert person["sms_opt_in"] is (row["user_sms_optin"] == "yes")
    assert {a: s for a, (s, _) in suppressed(store).items()} == {
        "ak1.chen@example.org": "import:actionkit", "ak3.patel@example.org": "import:actionkit",
        "ak6.haddad@example.org": "import:actionkit",
        "ak10.rivera@example.org": "import:actionkit"}  # "never" is no consent, no opt-out
    plans = planned(store, roster)
    assert plans["welcome_email"] == {p["id"] for p in people.values() if p["email_opt_in"]}
    assert plans["welcome_sms"] == {people[r["email"]]["id"] for r in rows_of("actionkit")
                                    if r["user_sms_optin"] == "yes"}


def test_an_actionkit_export_without_the_map_lists_the_field(tmp_path, store):
    summary = intake(EXPORTS / "actionkit.csv", store, reports_dir=tmp_path)
    assert "user_sms_optin" in summary.unmapped_columns
    assert not any(p["sms_opt_in"] for p in stored(store).values())


# An ActionKit export as the tryout's: core_user's international columns (region, postal)
# beside state and zip, and home_phone behind mobile_phone. Line 4 is the tryout's UK row.
ACTIONKIT_WIDE = (
    "id,email,prefix,first_name,middle_name,last_name,suffix,address1,address2,city,state,"
    "region,zip,plus4,postal,country,mobile_phone,home_phone,subscription_status,created_at\n"
    "1001,ak.ana@example.org,,Ana,,Ruiz,,20 Arch St,,Philadelphia,PA,,19102,,19102,"
    "United States,(215) 555-0161,,subscribed,2026-10-01 14:00:00\n"
    "1002,ak.ben@example.org,,Ben,,Ode,,21 Main St,,Boise,,Idaho,,,83702,"
    "United States,,(208) 555-0162,subscribed,2026-10-02 14:00:00\n"
    "1003,ak.uk@example.org,,Una,,Kerr,,10 Downing St,,London,,Greater London,,,SW1A 2AA,"
    "United Kingdom,,,subscribed,2026-10-03 14:00:00\n")


def test_every_header_of_an_export_is_either_used_or_listed_unused(tmp_path, store):
    """The tryout: ActionKit's home_phone, region and postal (and EveryAction's Home Phone)
    were in neither list of the summary, though home_phone was used (row 1002's number was
    stored): a header that fills another's empty cells is a column used."""
    path = tmp_path / "actionkit.csv"
    path.write_text(ACTIONKIT_WIDE, encoding="utf-8")
    for file in (path, EXPORTS / "everyaction.csv", EXPORTS / "actionkit.csv",
                 EXPORTS / "action_network.csv"):
        summary = intake(file, store, reports_dir=tmp_path / "reports")
        with file.open(encoding="utf-8", newline="") as handle:
            header = next(csv.reader(handle))
        used = [*summary.columns.values(),
                *(h for headers in summary.fallback_columns.values() for h in headers)]
        assert sorted(used + summary.unmapped_columns) == sorted(header), file.name
        assert not set(used) & set(summary.unmapped_columns), file.name
    ak = intake(path, store, reports_dir=tmp_path / "reports")
    assert ak.format == "actionkit"
    assert ak.fallback_columns == {"phone": ["home_phone"], "state": ["region"],
                                   "zip": ["postal"]}
    assert stored(store)["ak.ben@example.org"]["phone"] == "+12085550162"
    text = format_intake(ak)
    assert "mobile_phone -> phone, home_phone -> phone where mobile_phone is empty" in text
    assert "not used (5): id, prefix, middle_name, suffix, plus4 " in text


def test_a_rejected_export_row_gets_its_rejection_and_no_warning(tmp_path, store):
    """The tryout: the UK row was rejected ("not a U.S. address") and also warned "ZIP code
    not 5 digits: stored without ZIP" (its postal code), though nothing of it was stored."""
    path = tmp_path / "actionkit.csv"
    path.write_text(ACTIONKIT_WIDE, encoding="utf-8")
    summary = intake(path, store, reports_dir=tmp_path)
    assert (summary.imported, summary.rejected) == (2, 1)
    with open(summary.rejects_file, encoding="utf-8", newline="") as handle:
        [rejected] = list(csv.DictReader(handle))
    assert (rejected["line"], rejected["reason"]) == (
        "4", "not a U.S. address: country United Kingdom")
    assert summary.warnings == 0 and summary.warnings_file is None


def test_an_everyaction_export(tmp_path, store, roster):
    summary = intake(EXPORTS / "everyaction.csv", store, reports_dir=tmp_path)
    assert summary.format == "everyaction"
    assert (summary.rows, summary.imported, summary.rejected, summary.warnings) == (10, 10, 0, 0)
    assert summary.unmapped_columns == ["VANID", "Employer"]
    people = stored(store)
    for row in rows_of("everyaction"):
        person = people[row["Email"]]
        assert person["phone"] == check_phone(row["Cell Phone"]).value
        assert (person["street"], person["state"], person["zip"]) == (
            row["Address Line 1"], row["State/Province"], row["Zip/Postal"])
        assert person["email_opt_in"] is (row["Email Subscription Status"] == "Subscribed")
        assert person["sms_opt_in"] is (row["SMS Opt-In Status"] == "Opt-In")
    # "10/10/2026 1:30 PM EDT" is 17:30 UTC.
    assert people["ea0.kai@example.org"]["signed_at"].replace(tzinfo=UTC) == \
        datetime(2026, 10, 10, 17, 30, tzinfo=UTC)
    assert set(suppressed(store)) == {"ea1.lia@example.org", "ea6.quin@example.org"}
    assert planned(store, roster)["welcome_sms"] == {
        people[r["Email"]]["id"] for r in rows_of("everyaction")
        if r["SMS Opt-In Status"] == "Opt-In"}


@pytest.mark.parametrize(("name", "expected_format", "unmapped"), [
    ("mobilize", "mobilize", ["user_id", "event_id", "timeslot_id", "attendance_status"]),
    ("change_org", "change_org", ["Reason for signing"]),
])
def test_mobilize_and_change_org_exports(tmp_path, store, name, expected_format, unmapped):
    summary = intake(EXPORTS / f"{name}.csv", store, reports_dir=tmp_path)
    assert (summary.format, summary.unmapped_columns) == (expected_format, unmapped)
    assert summary.imported == summary.rows
    people = stored(store)
    if name == "mobilize":
        for row in rows_of(name):
            person = people[row["email_address"]]
            assert person["first_name"] == row["given_name"]
            assert person["sms_opt_in"] is (row["sms_opt_in_status"] == "OPT_IN")
            assert person["signed_at"].replace(tzinfo=UTC) == utc(row["created_date"])
    else:
        ada = people["chg0@example.org"]
        assert (ada["first_name"], ada["last_name"], ada["zip"]) == ("Zed", "Rivera", "19102")
        assert ada["signed_at"].replace(tzinfo=UTC) == datetime(2026, 8, 10, 19,
                                                                 tzinfo=UTC)  # 12:00 PDT


def test_the_api_reads_action_network_fields_as_the_file_does(tmp_path, store, roster):
    records = rows_of("action_network")
    settings = web_settings("https://act.example.org", OUTREACH_API_TOKEN="api-secret",
                            OUTREACH_SESSION_SECRET="s" * 32)
    with TestClient(create_app(settings, engine=store)) as client:
        answer = client.post("/api/signers", json=records,
                             headers={"Authorization": "Bearer api-secret"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["imported"], body["rejected"], body["format"]) == (32, 0, "action_network")
    assert body["unmapped_fields"] == ["uuid", "can2_user_tags"]
    people = stored(store)
    for row in records:
        phone = check_phone(row["can2_phone"]).value if row["can2_phone"] else None
        person = people[row["email"] or phone]
        assert person["phone"] == phone and person["street"] == (row["can2_user_address"]
                                                                 or None)
        assert person["sms_opt_in"] is (row["can2_sms_status"] == "subscribed")
    assert set(suppressed(store)) == {"dev.patel@example.org", "ira.silva@example.org",
                                      "nia.patel@example.org", "sam.silva@example.org"}
    assert not planned(store, roster)["welcome_email"] & {
        people[e]["id"] for e in suppressed(store)}


@pytest.mark.parametrize(("item", "message"), [
    ("Cell Phone", "expected HEADER=FIELD"),
    ("Cell Phone=mobile", "'mobile' is not a field"),
])
def test_a_bad_map_is_one_clear_error(item, message):
    with pytest.raises(IntakeError, match=message):
        parse_mapping([item])


def test_a_map_naming_a_missing_column_is_refused(tmp_path, store):
    with pytest.raises(IntakeError, match="--map names a column the header does not have"):
        intake(EXPORTS / "everyaction.csv", store, reports_dir=tmp_path,
               mapping=parse_mapping(["Cel Phone=phone"]))


def test_the_command_maps_columns_lists_the_rest_and_keeps_reports_by_the_store(tmp_path):
    folder = tmp_path / "checkout"
    folder.mkdir()
    path = folder / "signers.csv"
    path.write_text("Email,Cell Phone,Joined,Notes\n"
                    "ana@example.org,(215) 555-0100,2026-11-01T10:00:00-05:00,hi\n"
                    "not-an-email,,,\n", encoding="utf-8")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    env = {"OUTREACH_DATABASE_URL": f"sqlite:///{store_dir / 'o.sqlite3'}"}
    runner = CliRunner()
    text = runner.invoke(cli, ["intake", str(path), "--map", "Joined=signed_at"], env=env)
    assert text.exit_code == 0, text.output
    assert "not used (1): Notes" in text.output
    assert str(store_dir / "signers.rejects.csv") in text.output
    assert not list(folder.glob("*.rejects.csv"))  # nothing written into the input's folder
    result = runner.invoke(cli, ["intake", str(path), "--map", "Cell Phone=phone", "--map",
                                 "Joined=signed_at", "--rejects-dir", str(tmp_path / "r"),
                                 "--json"], env=env)
    summary = json.loads(result.output)
    assert summary["unmapped_columns"] == ["Notes"]
    assert summary["columns"]["signed_at"] == "Joined"
    assert summary["rejects_file"] == str(tmp_path / "r" / "signers.rejects.csv")
    bad = runner.invoke(cli, ["intake", str(path), "--map", "Joined"], env=env)
    assert bad.exit_code == 2 and "expected HEADER=FIELD" in bad.output


def test_the_inbox_takes_a_sidecar_map_and_the_setting(tmp_path, store):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "crm.csv").write_text("Correo,Movil,Alta\n"
                                   "ana@example.org,(215) 555-0100,2026-11-01 10:00:00 EST\n",
                                   encoding="utf-8")
    (inbox / "crm.csv.map").write_text("# our CRM's Spanish headers\nCorreo=email\nMovil=phone\n",
                                       encoding="utf-8")
    [result] = process_inbox(store, inbox, settle_seconds=0, mapping="Alta=signed_at;Nope=zip")
    assert result.outcome == "imported", result.detail
    assert result.detail["unmapped_columns"] == []
    [ana] = stored(store).values()
    assert ana["phone"] == "+12155550100"
    assert ana["signed_at"].replace(tzinfo=UTC) == datetime(2026, 11, 1, 15, tzinfo=UTC)
    assert (inbox / "processed" / "crm.csv.map").exists()


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-11-01T10:00:00-05:00", datetime(2026, 11, 1, 15, tzinfo=UTC)),
    ("2026-11-01 10:00:00 UTC", datetime(2026, 11, 1, 10, tzinfo=UTC)),
    ("2026-11-01 10:00:00 -0500", datetime(2026, 11, 1, 15, tzinfo=UTC)),
    ("11/01/2026 10:00 AM EST", datetime(2026, 11, 1, 15, tzinfo=UTC)),
    ("Nov 1, 2026 10:00 AM pdt", datetime(2026, 11, 1, 17, tzinfo=UTC)),
    ("2026-11-01 10:00:00", datetime(2026, 11, 1, 10, tzinfo=UTC)),  # no zone: UTC
])
def test_signing_dates_keep_their_time_zone(value, expected):
    parsed, warning = parse_signed_at(pd.Series([value]), pd.Timestamp("2000-01-01", tz="UTC"))
    assert parsed[0].to_pydatetime() == expected and warning[0] == ""


def test_a_bad_intake_map_setting_leaves_every_inbox_file_where_it_is(tmp_path, store):
    """One typo in OUTREACH_INTAKE_MAP is one line naming the setting, not every arriving
    file filed under failed/: nothing moves, nothing is imported, and the fix imports them."""
    from outreach.config import ConfigError

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.csv", "b.csv"):
        (inbox / name).write_text("email\nana@example.org\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        process_inbox(store, inbox, settle_seconds=0, mapping="Alta=signd_at")
    assert str(refused.value).startswith("OUTREACH_INTAKE_MAP: 'Alta=signd_at': 'signd_at' is "
                                         "not a field; fields: ")
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == ["a.csv", "b.csv"]
    assert not (inbox / "failed").exists() and stored(store) == {}
    fixed = process_inbox(store, inbox, settle_seconds=0, mapping="Alta=signed_at")
    assert [r.outcome for r in fixed] == ["imported", "already imported"]
