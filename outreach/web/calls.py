"""The call page: `/call/<code>` shows a signer's prosecutor's number, a script and four outcome
buttons; a press is stored per office and campaign (outreach.campaigns.calls).

The code is the signer's referral code, which they share (`/?ref=<code>`), so the page shows
only public facts: the offices the code's signer is matched to (as the thanks page does: audit
F19 notes that the office hints at the county), their public numbers and websites, their
stances, and the script. It never shows the signer's name, address or contacts, nor whether or
how they called (after a press, every visitor's page says the same "thank you"). The buttons
are a form like the petition's: the session's CSRF token, a per-client limit and a per-code
limit (whoever holds a share code cannot press for it without end), and the store counts one
outcome per signer, office and day whatever the presses.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from outreach.campaigns.calls import (
    OUTCOME_LABELS,
    OUTCOMES,
    Caller,
    CallError,
    find_caller,
    link_campaign,
    log_call,
    offices_to_call,
    script_demands,
)
from outreach.campaigns.render import contact_level, tel_uri
from outreach.roster.offices import Office
from outreach.roster.stances import OfficeStance, current_stances
from outreach.web.deps import AppState, StateDep, page
from outreach.web.security import check_csrf, client_address

log = logging.getLogger("outreach.web")
router = APIRouter()

# Per client: as many presses a minute as `POST /sign`'s default allows signatures (a family
# on one connection, each calling). Per code: a signer has at most two offices and presses a
# few times a day; twenty an hour is far above that and caps what a stranger holding a shared
# code can churn (they could not add calls anyway: one counts per office and day).
CALL_RATE = "10/minute"
CALL_CODE_RATE = "20/hour"
TOO_MANY = "Too many call reports; please wait a minute and try again."


def _caller_or_404(state: AppState, code: str) -> Caller:
    caller = find_caller(state.engine, code)
    if caller is None:
        raise HTTPException(404, "We could not find this page.")
    return caller


def _office_view(office: Office, stance: OfficeStance | None) -> dict[str, Any]:
    view: dict[str, Any] = dict(office.summary())
    view["tel"] = tel_uri(office.phone)  # RFC 3966: tel:+12156868000
    view["contact"] = contact_level(view)  # phone, else the website, else the office's name
    view["addressee"] = office.officeholder or f"the {office.title}"
    view.update(script_demands(stance))
    return view


@router.get("/call/{code}", response_class=HTMLResponse)
def call_page(request: Request, state: StateDep, code: str, c: str = "",
              logged: str = "") -> HTMLResponse:
    caller = _caller_or_404(state, code)
    offices = offices_to_call(caller, state.geo.roster)
    with state.engine.connect() as connection:
        stances = current_stances(connection, [o.office_id for o in offices])
    return page(request, "call.html", {
        "code": code, "campaign": link_campaign(c[:100], state.settings.campaigns.jobs_dir) or "",
        "offices": [_office_view(o, stances.get(o.office_id)) for o in offices],
        "outcomes": [(o, OUTCOME_LABELS[o]) for o in OUTCOMES], "logged": logged == "1"})


@router.post("/call/{code}")
def report_call(request: Request, state: StateDep, code: str,
                office: Annotated[str, Form()] = "", outcome: Annotated[str, Form()] = "",
                c: Annotated[str, Form()] = "", csrf: Annotated[str, Form()] = "") -> Response:
    if not state.limits.allow(CALL_RATE, "call", client_address(request)):
        raise HTTPException(429, TOO_MANY, headers={"Retry-After": "60"})
    check_csrf(request, csrf)
    if not state.limits.allow(CALL_CODE_RATE, "call-code", code[:16]):
        raise HTTPException(429, TOO_MANY, headers={"Retry-After": "600"})
    caller = _caller_or_404(state, code)
    campaign = link_campaign(c[:100], state.settings.campaigns.jobs_dir)
    try:
        logged = log_call(state.engine, caller, state.geo.roster, office[:80], outcome[:40],
                          campaign, state.clock())
    except CallError as error:
        raise HTTPException(400, str(error)) from None
    log.info("call page: %s reported for %s (campaign %s)", logged, office, campaign or "-")
    query = urlencode({**({"c": campaign} if campaign else {}), "logged": "1"})
    return RedirectResponse(f"/call/{code}?{query}#thanks", status_code=303)
