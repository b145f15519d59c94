"""The petition page, signing, and the "call your DA" moment right after.

POST /sign checks the CSRF token, a per-IP rate limit and a honeypot, validates the fields with
the intake's own checks (errors beside the fields, input kept), then stores the signer through
the same intake pipeline as files (dedupe included), matches them, queues the petition
campaign's steps for them (the welcome now, follow-ups on their delay), all in one transaction
(outreach.signing), and sends them to /thanks/<their referral code>. The thanks page shows no
personal data: its address is the signer's share link's code, which they will pass around.

The form is unauthenticated: anyone may type anyone's email or phone. So a submission matching a
stored signer changes nothing of that signer (not even an empty field) and is kept as evidence
(`submissions`), and its sender sees the generic thanks page, not the signer's own (with its
referral code and county choice), unless this browser session is the one that made the signer
(its first submission, or the twin of a double click; DESIGN invariant 10). SMS consent ticked
here is a request: the number gets one confirmation text and is texted nothing else until it
answers YES (consent.py).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from outreach.campaigns.planner import queue_for_signers
from outreach.campaigns.render import office_view, tel_uri
from outreach.campaigns.stances import office_stance, stance_view
from outreach.ops.signing import session_key, store_signature
from outreach.roster.stances import current_stances
from outreach.signers.fields import check_email, check_phone
from outreach.signers.match import match
from outreach.store.signers import SignerPage, choose_county, signer_by_referral_code
from outreach.web.deps import AppState, StateDep, page
from outreach.web.security import check_csrf, client_address

log = logging.getLogger("outreach.web")
router = APIRouter()

SOURCE = "petition-web"
FIELDS = ("first_name", "last_name", "email", "phone", "street", "zip")
SMS_DISCLOSURE = ("By checking this box you agree to receive recurring automated text messages "
                  "from {org} about this campaign at the number above. Consent is not a "
                  "condition of signing. Msg & data rates may apply. Msg frequency varies "
                  "(at most 3 a day). Reply STOP to cancel, HELP for help.")
EMAIL_DISCLOSURE = ("Send me email updates from {org}. Every email has a one-click "
                    "unsubscribe link.")


def _petition(request: Request, state: AppState, values: dict[str, str],
              errors: dict[str, str], status_code: int = 200) -> HTMLResponse:
    organization = state.settings.campaigns.organization
    return page(request, "petition.html", {
        "campaign": state.campaign(), "values": values, "errors": errors,
        "sms_disclosure": SMS_DISCLOSURE.format(org=organization),
        "email_disclosure": EMAIL_DISCLOSURE.format(org=organization)}, status_code)


@router.get("/", response_class=HTMLResponse)
def petition_page(request: Request, state: StateDep, ref: str = "") -> HTMLResponse:
    return _petition(request, state, {"ref": ref[:16]}, {})


def validate(values: dict[str, str], sms_opt_in: bool,
             zips: Container[str]) -> dict[str, str]:
    """Field -> message, with the intake's own email and phone checks, and the ZIP among
    `zips` (the geography's): one it does not know is a signer no match can ever place, who
    was thanked with "we will write to you when we know" (the tryout's 00000)."""
    errors: dict[str, str] = {}
    if not values["first_name"].strip():
        errors["first_name"] = "Please enter your first name."
    email = check_email(values["email"].strip()) if values["email"].strip() else None
    if email is None:
        errors["email"] = "Please enter your email address."
    elif email.value is None:
        errors["email"] = f"This email address does not look right ({email.error})."
    if values["phone"].strip():
        phone = check_phone(values["phone"].strip())
        if phone.value is None:
            errors["phone"] = f"This phone number does not look right ({phone.error})."
        elif sms_opt_in and phone.kind == "landline":
            errors["phone"] = "This looks like a landline: texts need a mobile number."
    elif sms_opt_in:
        errors["phone"] = "Enter a mobile number to receive texts, or untick the box."
    zip_code = values["zip"].strip()
    if not (len(zip_code) in (5, 10) and zip_code[:5].isdigit()):
        errors["zip"] = "Please enter your 5-digit ZIP code."
    elif zip_code[:5] not in zips:  # the lookup's own words (outreach lookup)
        errors["zip"] = (f"ZIP {zip_code[:5]} is not a ZIP code of the 50 states or DC: "
                         "please check it.")
    return errors


@router.post("/sign")
def sign(request: Request, state: StateDep, first_name: Annotated[str, Form()] = "",
         last_name: Annotated[str, Form()] = "", email: Annotated[str, Form()] = "",
         phone: Annotated[str, Form()] = "", street: Annotated[str, Form()] = "",
         zip: Annotated[str, Form()] = "", email_opt_in: Annotated[str, Form()] = "",
         sms_opt_in: Annotated[str, Form()] = "", ref: Annotated[str, Form()] = "",
         website: Annotated[str, Form()] = "",  # the honeypot: people never see it
         csrf: Annotated[str, Form()] = "") -> Response:
    if not state.limits.allow(state.settings.web.sign_rate, "sign", client_address(request)):
        raise HTTPException(429, "Too many signatures from your connection. Please wait a "
                                 "minute and try again.", headers={"Retry-After": "60"})
    check_csrf(request, csrf)
    if website.strip():  # a bot filled the hidden field: look done, store nothing
        log.info("petition: honeypot filled; nothing stored")
        return RedirectResponse("/thanks/received", status_code=303)
    values = {"first_name": first_name[:100], "last_name": last_name[:100],
              "email": email[:254], "phone": phone[:40], "street": street[:200],
              "zip": zip[:10], "ref": ref[:16]}
    wants_email, wants_sms = bool(email_opt_in), bool(sms_opt_in)
    values.update(email_opt_in="1" if wants_email else "", sms_opt_in="1" if wants_sms else "")
    errors = validate(values, wants_sms, state.geo.data.by_zip)
    if errors:
        return _petition(request, state, values, errors, status_code=422)
    record = {**{k: values[k] for k in FIELDS}, "ref": values["ref"],
              "email_opt_in": wants_email}  # SMS consent: only through the YES below
    sms_phone = check_phone(values["phone"].strip()).value if wants_sms else None
    signing = store_signature(state.engine, state.geo, state.by_zip, state.campaign, record,
                              source=SOURCE, submitted=values, session=session_key(csrf),
                              sms_phone=sms_phone, now=state.clock())
    if signing.signer_id is None:
        return _petition(request, state, values, {"form": signing.reason or ""},
                         status_code=422)
    if signing.sms_confirmation:
        request.session["confirm_sms"] = True
    code = signing.code
    if code is None or not (signing.own or request.session.get("signed") == code):
        # Someone re-signed with a stored email or phone from another browser: their
        # signature is recorded, but the signer's page is the signer's.
        log.info("petition: a signature matching a stored signer was recorded as evidence")
        return RedirectResponse("/thanks/received", status_code=303)
    request.session["signed"] = code  # this browser may pick the county on the thanks page
    return RedirectResponse(f"/thanks/{code}", status_code=303)


def _queue_campaign_steps(state: AppState, signer_id: int, now: datetime) -> None:
    queue_for_signers(state.engine, state.campaign(), state.geo.roster, [signer_id], now)


def _office_view(state: AppState, office_id: str | None) -> dict[str, str] | None:
    """The office as the thanks page shows it: as a message would (render.office_view: the
    officeholder named only while current, else the office by title), with a tel: link."""
    if not office_id:
        return None
    try:
        office = state.geo.roster.office(office_id)
    except KeyError:
        return None
    view = office_view(office, state.clock().date(), state.settings.data.roster_stale_days)
    view["tel"] = tel_uri(office.phone)  # RFC 3966: tel:+12156868000
    return view


def _share_links(state: AppState, code: str) -> dict[str, str]:
    url = f"{state.settings.compliance.public_url or ''}/?ref={code}"
    text = ("I signed: tell our prosecutors to expunge marijuana convictions, drop low-level "
            "cases and choose treatment over jail.")
    return {"url": url, "text": text,
            "email": f"mailto:?subject={quote('Sign with me')}&body={quote(text + ' ' + url)}",
            "sms": f"sms:?&body={quote(text + ' ' + url)}",
            "x": f"https://twitter.com/intent/tweet?text={quote(text)}&url={quote(url)}",
            "facebook": f"https://www.facebook.com/sharer/sharer.php?u={quote(url)}"}


def _stance_views(state: AppState,
                  *office_ids: str | None) -> list[Mapping[str, object] | None]:
    """The templates' view of each office's stance (None for no office), read once per page:
    the page thanks a prosecutor who committed and presses one who has not."""
    wanted = [o for o in office_ids if o]
    with state.engine.connect() as connection:
        known = current_stances(connection, wanted) if wanted else {}
    return [stance_view(office_stance(known, o)) if o else None for o in office_ids]


def _signer_by_code(state: AppState,
                    code: str) -> SignerPage | None:
    """The signer a thanks page's code names, with their match (None: no such code)."""
    with state.engine.connect() as connection:
        return signer_by_referral_code(connection, code[:16])


@router.get("/thanks/{code}", response_class=HTMLResponse)
def thanks(request: Request, state: StateDep, code: str) -> HTMLResponse:
    confirm_sms = bool(request.session.pop("confirm_sms", False))
    if code == "received":
        return page(request, "thanks.html", {"generic": True, "confirm_sms": confirm_sms})
    row = _signer_by_code(state, code)
    if row is None:
        raise HTTPException(404, "We could not find this page.")
    owner = request.session.get("signed") == code
    candidates = _candidates(state, _pickable(state, row), row.zip)
    office = _office_view(state, row.felony_office_id)
    misdemeanor_office = _office_view(state, row.misdemeanor_office_id)
    stance, misdemeanor_stance = _stance_views(
        state, row.felony_office_id if office else None,
        row.misdemeanor_office_id if misdemeanor_office else None)
    return page(request, "thanks.html", {
        "generic": False, "code": code, "owner": owner, "confirm_sms": confirm_sms,
        "office": office, "misdemeanor_office": misdemeanor_office,
        "stance": stance, "misdemeanor_stance": misdemeanor_stance,
        "ambiguous": row.confidence == "ambiguous" and bool(candidates),
        "correctable": row.confidence == "zip" and bool(candidates),
        "county_name": _county_name(state, row.county_fips),
        "candidates": candidates, "share": _share_links(state, code)})


def _pickable(state: AppState, row: SignerPage) -> list[str]:
    """The counties this signer may say they live in, likeliest first: an ambiguous match's
    candidates; and, for a match made from the ZIP's shares (at least OUTREACH_ZIP_MIN_SHARE
    of the ZIP in one county, not all of it), the ZIP's other counties, where the rest of it
    lives and may have another prosecutor. Other matches (a street address the geocoder
    placed, a county already chosen, a ZIP wholly in one county) offer none."""
    if row.confidence == "ambiguous":
        return [fips for fips in (row.candidate_counties or "").split(";") if fips]
    if row.confidence == "zip" and row.share is not None and row.share < 1:
        shares = state.geo.data.shares.get(row.zip or "")
        return [fips for fips in shares.counties() if fips != row.county_fips] \
            if shares else []
    return []


def _county_name(state: AppState, county_fips: str | None) -> str:
    counties = state.geo.data.counties
    return counties[county_fips].label if county_fips and county_fips in counties else ""


def _candidates(state: AppState, pickable: list[str], zip_code: str | None
                ) -> list[dict[str, object]]:
    """The counties the signer may pick, in the given order (likeliest first), each with the
    share of their ZIP code in it where the ZIP shares have one ("about 52%")."""
    counties = state.geo.data.counties
    shares = state.geo.data.shares.get(zip_code or "")
    return [{"fips": fips, "name": counties[fips].name, "state": counties[fips].state,
             "percent": round(100 * shares.share(fips)) if shares else None}
            for fips in pickable if fips in counties]


@router.post("/thanks/{code}/county")
def pick_county(request: Request, state: StateDep, code: str,
                county: Annotated[str, Form()] = "",
                csrf: Annotated[str, Form()] = "") -> Response:
    """An ambiguous address, or a ZIP that crosses a county line: the signer says which
    county they live in (only the browser that signed may say it)."""
    check_csrf(request, csrf)
    if request.session.get("signed") != code:
        raise HTTPException(403, "Only the person who signed can choose the county.")
    row = _signer_by_code(state, code)
    if row is None or county not in _pickable(state, row):
        raise HTTPException(400, "Please choose one of the counties listed.")
    with state.engine.begin() as connection:
        choose_county(connection, row.id, county)
    # Matching honors the choice (now, and every rematch after).
    match(state.engine, state.geo, by_zip=state.by_zip, only=[row.id])
    _queue_campaign_steps(state, row.id, state.clock())
    return RedirectResponse(f"/thanks/{code}", status_code=303)
