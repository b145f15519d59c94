"""The shipped templates under every stance: each renders (StrictUndefined), and a text that
thanks or presses stays GSM-7 and takes no more segments than the stance-free one, for every
office of the shipped roster (issue 17.2: segments are what texts cost)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from outreach.campaigns.render import Renderer, Sender, office_view
from outreach.campaigns.sms import normalize_typography, sms_segments
from outreach.campaigns.stances import stance_view
from outreach.roster.stances import OfficeStance, StanceStatement

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
# The shipped campaign's name, and a long first name: the longest texts they make.
SENDER = Sender("Team <t@mj-campaign.org>", "+1", "Marijuana Justice Campaign", "PO Box 1",
                "https://example.org")
STANCES = {"unknown": {}, "no": {"expunge": "no", "drop": "no", "divert": "no"},
           "one": {"drop": "yes", "divert": "partial"}, "two": {"expunge": "yes", "drop": "yes"},
           "committed": {"expunge": "yes", "drop": "yes", "divert": "yes"}}


def stance(office_id: str, values: dict[str, str]) -> dict[str, object]:
    return stance_view(OfficeStance(office_id, {
        d: StanceStatement(office_id, d, v, "https://example.org/s", date(2026, 11, 30))  # type: ignore[arg-type]
        for d, v in values.items()}))


TODAY = date(2026, 12, 1)


def context(office, values, misdemeanor=None):  # type: ignore[no-untyped-def]
    """What the renderer hands a template (its office_view of each office)."""
    return {"signer": {"first_name": "Alexandria", "last_name": "Q", "city": "Town"},
            "office": office_view(office, TODAY, 365), "stance": stance(office.office_id, values),
            "misdemeanor_office": office_view(misdemeanor, TODAY, 365) if misdemeanor else None,
            "misdemeanor_stance": stance(misdemeanor.office_id, values) if misdemeanor
            else None,
            "organization": SENDER.organization, "mailing_address": SENDER.mailing_address,
            "share_url": "https://example.org/?ref=abc", "unsubscribe_url": "https://x/u/t",
            "call_url": "https://example.org/call/abc?c=marijuana_justice",
            "constituents": [], "count": 0, "day": "2026-12-01", "total_count": 0,
            "packet_url": "", "packet_expires": ""}


@pytest.fixture(scope="module")
def environment(roster):  # type: ignore[no-untyped-def]
    return Renderer(None, roster, TEMPLATES, SENDER).environment  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["welcome", "call_your_da", "stance_news", "call"])
def test_texts_stay_gsm7_and_no_longer_than_without_a_stance(environment, roster, name):
    template = environment.get_template(f"sms/{name}.txt")
    for office in roster.offices:
        counts = {}
        for label, values in STANCES.items():
            text = " ".join(normalize_typography(template.render(context(office, values)))
                            .split())
            found = sms_segments(text)
            assert found.encoding == "GSM-7", (office.office_id, label, text)
            counts[label] = found.segments
        assert max(counts.values()) <= counts["unknown"], (office.office_id, counts)


@pytest.mark.parametrize("name", ["welcome", "call_your_da", "share", "stance_news", "call",
                                  "office_letter", "office_digest"])
def test_every_email_renders_under_every_stance(environment, roster, name):
    offices = {o.office_id: o for o in roster.offices}
    cases = [(offices["pa-philadelphia"], None),
             (offices["ga-atlanta-circuit"], offices["ga-fulton-solicitor-general"])]
    for office, misdemeanor in cases:
        for values in STANCES.values():
            for part in ("subject.txt", "txt"):
                assert environment.get_template(f"email/{name}.{part}").render(
                    context(office, values, misdemeanor)).strip()


@pytest.mark.parametrize("name", ["call_your_da", "call"])
def test_a_name_ending_in_a_period_ends_its_sentence_once(environment, roster, name):
    office = roster.office("pa-philadelphia")
    junior = replace(office, officeholder="Lawrence S. Krasner Jr.", officeholder_as_of="2026-11")
    text = environment.get_template(f"email/{name}.txt").render(context(junior, {}))
    assert re.search(r"District Attorney Lawrence S\. Krasner Jr\.\s", text)
    assert "Jr.." not in text
    plain = environment.get_template(f"email/{name}.txt").render(context(office, {}))
    assert "Your prosecutor is the Philadelphia District Attorney" in plain
    assert "Jr." not in plain
