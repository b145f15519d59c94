"""The organizer dashboard (/admin): signers over time and by state, roster coverage, calls
by outcome, campaigns with their plan preview and a launch that asks for confirmation, a
blast's live progress, recent opt-outs and failures, the Roster page (gaps ranked by signers
and people served) and each office's view (/admin/roster/<office_id>): its constituents'
signatures per week, calls by outcome, letters sent to it, its stance history with a form to
record a stance, its contacts with status and source and a form to correct or confirm one,
and its delivery packet (PDF or CSV). Signers' contacts shown are masked; the office view
shows counts only, and names only inside the packet it downloads.

Every route but the login page requires a session; without one the answer is a redirect to
the login page (a test walks all of them). Launch, pause, resume, roster corrections and
stances are POSTs with the session's CSRF token.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from outreach.campaigns.calls import OUTCOME_LABELS, OUTCOMES, calls_report
from outreach.campaigns.definitions import (
    CONFIRM_CAMPAIGN,
    Campaign,
    campaign_names,
    campaign_to_switch,
    find_campaign,
)
from outreach.campaigns.packets import FORMATS, Format, build_packet
from outreach.campaigns.planner import launch, plan_campaign
from outreach.campaigns.preview import Prices, preview
from outreach.errors import CampaignError, ConfigError, PlanError, RunStateError
from outreach.geo.locate import GeoData
from outreach.ops.wiring import prepare_launch, sms_windows
from outreach.privacy import mask
from outreach.roster.corrections import (
    bounced_offices,
    correction_history,
    effective_rows,
    plan_correction,
    record_changes,
)
from outreach.roster.coverage import coverage_report, population_coverage
from outreach.roster.gaps import gaps
from outreach.roster.offices import Roster
from outreach.roster.stances import (
    DEMAND_TEXT,
    DEMANDS,
    STANCES,
    OfficeStance,
    current_stances,
    history,
    plan_changes,
    record,
)
from outreach.roster.verify import SHEET_FIELDS, contact_view
from outreach.store import outbox as box
from outreach.store import reports, runs
from outreach.store.packets import constituent_count
from outreach.store.signers import audience_frame
from outreach.web.charts import bars_svg, columns_svg
from outreach.web.deps import AppState, LoginRequired, StateDep, page
from outreach.web.packets import packet_font
from outreach.web.security import (
    check_csrf,
    client_address,
    end_admin_session,
    is_admin,
    password_matches,
    start_admin_session,
)

log = logging.getLogger("outreach.web")
LOGIN_RATE = "10/minute"


def require_admin(request: Request, state: StateDep) -> None:
    if not is_admin(request, state.engine, state.settings, state.clock()):
        raise LoginRequired()


login_router = APIRouter(prefix="/admin")
pages = APIRouter(prefix="/admin", dependencies=[Depends(require_admin)])


@login_router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/admin") -> HTMLResponse:
    return page(request, "admin/login.html", {"next": _safe_next(next), "error": ""})


@login_router.post("/login")
def login(request: Request, state: StateDep, password: Annotated[str, Form()] = "",
          next: Annotated[str, Form()] = "/admin",
          csrf: Annotated[str, Form()] = "") -> Response:
    if not state.limits.allow(LOGIN_RATE, "login", client_address(request)):
        raise HTTPException(429, "Too many attempts; wait a minute.",
                            headers={"Retry-After": "60"})
    check_csrf(request, csrf)
    if not state.settings.web.admin_password_hash:
        return page(request, "admin/login.html", {
            "next": _safe_next(next), "error": "No organizer password is set: run `outreach "
            "admin hash-password` and set OUTREACH_ADMIN_PASSWORD_HASH."}, 403)
    if not password_matches(state.settings.web.admin_password_hash, password):
        log.warning("organizer login failed")
        return page(request, "admin/login.html",
                    {"next": _safe_next(next), "error": "Wrong password."}, 403)
    start_admin_session(request, state.engine, state.settings, state.clock())
    return RedirectResponse(_safe_next(next), status_code=303)


@pages.post("/logout")
def logout(request: Request, state: StateDep, csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    end_admin_session(request, state.engine, state.clock())
    return RedirectResponse("/admin/login", status_code=303)


def _safe_next(target: str) -> str:
    """Only our own admin pages: never an open redirect."""
    return target if target.startswith("/admin") and "//" not in target else "/admin"


# --- the dashboard ---------------------------------------------------------------------------
def signer_stats(engine: Engine, now: datetime, days: int = 30,
                 geo: GeoData | None = None) -> dict[str, Any]:
    """The dashboard's signer figures; `geo` places the signers who gave no state (the
    petition form's) in their matched county's state, else their ZIP's."""
    since = now - timedelta(days=days - 1)
    with engine.connect() as connection:
        total = reports.signer_total(connection)
        per_day = reports.signatures_per_day(
            connection, since.replace(hour=0, minute=0, second=0, microsecond=0))
        by_state = reports.signers_by_state(connection, geo.state_of if geo else None)
        confidence = reports.match_confidence(connection)
    series = [((since + timedelta(days=i)).strftime("%m-%d"),
               per_day.get((since + timedelta(days=i)).date().isoformat(), 0))
              for i in range(days)]
    return {"total": total, "series": series, "by_state": by_state, "confidence": confidence}


def progress(engine: Engine, campaign: str) -> dict[str, Any]:
    """A campaign's messages by state, and the share done (for the live progress bar)."""
    with engine.connect() as connection:
        counts = reports.campaign_state_counts(connection, campaign)
        run = runs.run_states(connection).get(campaign, "not launched")
    total = sum(counts.values())
    done = sum(counts.get(s, 0) for s in box.TERMINAL)
    return {"campaign": campaign, "run": run, "total": total, "done": done,
            "sent": counts.get("sent", 0), "states": counts,
            "percent": round(100 * done / total, 1) if total else 0.0}


@pages.get("", response_class=HTMLResponse)
def dashboard(request: Request, state: StateDep) -> HTMLResponse:
    now = state.clock()
    stats = signer_stats(state.engine, now, geo=state.geo.data)
    roster = state.geo.roster
    coverage = coverage_report(roster, state.geo.data.counties,
                               state.settings.data.roster_stale_days)
    with state.engine.connect() as connection:
        opt_outs = reports.recent_opt_outs(connection, 15)
        report: dict[str, Any] = reports.outbox_report(connection)
        calls: dict[str, Any] = calls_report(connection)
        beating = state.worker_counts(connection)
    return page(request, "admin/dashboard.html", {
        "calls": calls, "call_outcomes": [(o, OUTCOME_LABELS[o]) for o in OUTCOMES],
        "call_offices": [{**office, "name": _office_name(roster, office["office_id"])}
                         for office in calls["by_office"][:15]],
        "stats": stats, "coverage": coverage,
        "over_time_svg": columns_svg(stats["series"], "Signatures per day, last 30 days"),
        "by_state_svg": bars_svg(stats["by_state"][:15], "Signers by state (top 15)"),
        "campaigns": [progress(state.engine, name)
                      for name in campaign_names(state.settings.campaigns.jobs_dir)],
        "opt_outs": [{"channel": o.channel, "address": mask(o.address), "source": o.source,
                      "when": o.created_at} for o in opt_outs],
        "failures": report["attention"][:20], "holds": report["holds"], "workers": beating})


def _office_name(roster: Roster, office_id: str) -> str:
    try:
        return roster.office(office_id).office_name
    except KeyError:  # the roster dropped it since the calls
        return office_id


# --- campaigns -------------------------------------------------------------------------------
def _campaign_or_404(state: AppState, name: str) -> Campaign:
    try:
        return find_campaign(state.settings.campaigns.jobs_dir, name)
    except CampaignError as error:
        raise HTTPException(404, str(error)) from None


@pages.get("/campaigns/{name}", response_class=HTMLResponse)
def campaign_page(request: Request, state: StateDep, name: str) -> HTMLResponse:
    """The plan preview (counts, who is left out and why, segments, cost, masked samples)
    and the launch form."""
    campaign = _campaign_or_404(state, name)
    renderer = state.renderer
    plans = plan_campaign(state.engine, campaign, state.clock(), roster=renderer.roster,
                          windows=sms_windows(state.settings))
    try:
        shown, problem = preview(plans, renderer,
                                 Prices(state.settings.campaigns.email_price,
                                        state.settings.campaigns.sms_segment_price)), ""
    except PlanError as error:
        shown, problem = {"steps": [p.summary() for p in plans], "estimated_cost_usd": 0}, \
            str(error)
    return page(request, "admin/campaign.html", {
        "campaign": campaign, "preview": shown, "problem": problem,
        "progress": progress(state.engine, name)})


LONGEST_GRACE_MINUTES = 7 * 24 * 60


def _grace(minutes: str) -> timedelta:
    """The launch form's grace period: a whole number of minutes, 0 to a week. A number past
    what dates can hold answered 500 (security audit F21); a word answered a bare 422."""
    try:
        value = int(minutes.strip() or "0")
    except ValueError:
        value = -1
    if not 0 <= value <= LONGEST_GRACE_MINUTES:
        raise HTTPException(400, f"The minutes before the first message must be a whole "
                                 f"number from 0 to {LONGEST_GRACE_MINUTES} (a week); "
                                 f"{minutes[:20]!r} is not.")
    return timedelta(minutes=value)


@pages.post("/campaigns/{name}/launch")
def launch_campaign(request: Request, state: StateDep, name: str,
                    confirm: Annotated[str, Form()] = "",
                    grace_minutes: Annotated[str, Form()] = "10",
                    csrf: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf)
    campaign = _campaign_or_404(state, name)
    if confirm != name:
        raise HTTPException(400, f"Type the campaign's name ({name}) to confirm the launch.")
    grace = _grace(grace_minutes)
    now = state.clock()
    try:  # what `outreach launch` checks, and its one-line refusals
        plans = prepare_launch(state.settings, state.engine, campaign, state.renderer, now, grace)
    except (ConfigError, RunStateError, PlanError) as error:
        raise HTTPException(409, str(error)) from None
    launched = launch(state.engine, plans, now)
    log.info("campaign %s launched from the dashboard: %s", name,
             {k: v["queued_now"] for k, v in launched.items()})
    return RedirectResponse(f"/admin/campaigns/{name}", status_code=303)


@pages.post("/campaigns/{name}/{action}")
def switch_campaign(request: Request, state: StateDep, name: str, action: str,
                    csrf: Annotated[str, Form()] = "") -> Response:
    if action not in runs.RUN_ACTIONS:
        raise HTTPException(404, "no such action")
    check_csrf(request, csrf)
    try:
        campaign_to_switch(state.settings.campaigns.jobs_dir, name, runs.RUN_ACTIONS[action])
    except CampaignError as error:
        raise HTTPException(404, str(error)) from None
    try:
        runs.set_run_state(state.engine, name, runs.RUN_ACTIONS[action], state.clock())
    except RunStateError as error:
        raise HTTPException(409, str(error)) from None
    # `_consent` has no campaign page (no file): back to the dashboard, which shows its holds.
    return RedirectResponse("/admin" if name == CONFIRM_CAMPAIGN
                            else f"/admin/campaigns/{name}", status_code=303)


@pages.get("/campaigns/{name}/progress")
def campaign_progress(state: StateDep, name: str) -> dict[str, Any]:
    """Polled by the campaign page every two seconds while a blast runs."""
    return progress(state.engine, name)


# --- the roster ------------------------------------------------------------------------------
ROSTER_PAGE_OFFICES = 50


def _roster_gaps(state: AppState) -> dict[str, Any]:
    """`outreach roster gaps` for every signer, as the Roster page ranks it."""
    with state.engine.connect() as connection:
        frame = audience_frame(connection)
    return gaps(frame, state.geo.roster, bounced_offices(state.engine),
                state.settings.data.roster_stale_days, state.clock().date(),
                counties=state.geo.data.counties)


@pages.get("/roster", response_class=HTMLResponse)
def roster_page(request: Request, state: StateDep, region: str = "") -> HTMLResponse:
    """The gaps, ranked by signers then people served, each office linked to its contacts."""
    report = _roster_gaps(state)
    wanted = region.strip().upper()[:2]
    offices = [o for o in report["offices"] if not wanted or o["state"] == wanted]
    roster = state.geo.roster
    counties = state.geo.data.counties
    return page(request, "admin/roster.html", {
        "report": report, "offices": offices[:ROSTER_PAGE_OFFICES], "region": wanted,
        "shown_of": len(offices),
        "coverage": population_coverage(roster, counties, state.settings.data.roster_stale_days),
        "states": sorted(counties.states)})


OFFICE_CHART_WEEKS = 26
STANCE_SET_BY = "dashboard:admin"
# A letter's state as the office view groups it: what reached the office, what waits, what
# did not go (unknown: the provider may have sent it), what the gate left out.
LETTER_STATES = ("sent", "queued", "failed", "unknown", "skipped")
_WAITING = {"queued", "retry", "claimed", "sending"}


def _letter_state(state: str) -> str:
    return "queued" if state in _WAITING else state


def signers_per_week(per_day: dict[str, int], today: date,
                     weeks: int = OFFICE_CHART_WEEKS) -> list[tuple[str, int]]:
    """(Monday as MM-DD, signatures that week) for the last `weeks` weeks to this one."""
    this_monday = today - timedelta(days=today.weekday())
    counts: Counter[date] = Counter()
    for day, count in per_day.items():
        signed = date.fromisoformat(day[:10])
        counts[signed - timedelta(days=signed.weekday())] += count
    mondays = [this_monday - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]
    return [(monday.strftime("%m-%d"), counts.get(monday, 0)) for monday in mondays]


def office_activity(state: AppState, office_id: str) -> dict[str, Any]:
    """The office view's counts: constituents and their signatures per week, calls by
    outcome (and campaign), letters by state (and campaign and template), and the stances."""
    today = state.clock().date()
    first_monday = today - timedelta(days=today.weekday(), weeks=OFFICE_CHART_WEEKS - 1)
    since = datetime.combine(first_monday, time.min, tzinfo=state.clock().tzinfo)
    with state.engine.connect() as connection:
        constituents = constituent_count(connection, office_id)
        per_day = reports.office_signatures_per_day(connection, office_id, since)
        calls: dict[str, Any] = calls_report(connection, office_id)
        letter_rows = reports.office_letter_counts(connection, office_id)
        statements = history(connection, [office_id])
        stance = current_stances(connection, [office_id]).get(office_id,
                                                              OfficeStance(office_id))
    weeks = signers_per_week(per_day, today)
    office_calls = next((o for o in calls["by_office"] if o["office_id"] == office_id),
                        {"total": 0, "outcomes": dict.fromkeys(OUTCOMES, 0), "by_campaign": []})
    letters: Counter[str] = Counter()
    by_template: dict[tuple[str, str], Counter[str]] = {}
    for campaign, template, letter_state, count in letter_rows:
        shown = _letter_state(letter_state)
        letters[shown] += count
        by_template.setdefault((campaign, template), Counter())[shown] += count
    return {
        "constituents": constituents, "weeks": weeks,
        "weeks_svg": columns_svg(weeks, f"Constituents' signatures per week (weeks from "
                                        f"Monday, last {OFFICE_CHART_WEEKS} weeks)"),
        "calls": office_calls,
        "letters": {"total": sum(letters.values()),
                    "states": {s: letters.get(s, 0) for s in LETTER_STATES},
                    "by_template": [{"campaign": c, "template": t, "total": sum(n.values()),
                                     "states": {s: n.get(s, 0) for s in LETTER_STATES}}
                                    for (c, t), n in sorted(by_template.items())]},
        "stance": stance,
        "stance_history": list(reversed(statements)),
    }


def _stance_form(stance: OfficeStance, today: date) -> dict[str, str]:
    return {**{d: stance.of(d) for d in DEMANDS}, "source_url": "", "stated_on":
            today.isoformat(), "note": ""}


def _office_page(request: Request, state: AppState, office_id: str, *,
                 errors: list[str] | None = None, form: dict[str, str] | None = None,
                 stance_errors: list[str] | None = None,
                 stance_form: dict[str, str] | None = None,
                 saved: str = "", status_code: int = 200) -> HTMLResponse:
    try:
        office = state.geo.roster.office(office_id)
    except KeyError:
        raise HTTPException(404, f"No office {office_id!r} in the roster.") from None
    today = state.clock().date()
    activity = office_activity(state, office.office_id)
    return page(request, "admin/roster_office.html", {
        "office": office, "addressee": office.addressee,
        "contacts": contact_view(office, today, state.settings.data.roster_stale_days),
        "fields": SHEET_FIELDS, "history": correction_history(state.engine, office_id),
        "errors": errors or [], "saved": saved,
        "form": form or {"field": "phone", "value": "", "source_url": "",
                         "verified_on": today.isoformat()},
        "activity": activity, "call_outcomes": [(o, OUTCOME_LABELS[o]) for o in OUTCOMES],
        "letter_states": LETTER_STATES,
        "demands": [(d, DEMAND_TEXT[d]) for d in DEMANDS], "stances": STANCES,
        "stance_errors": stance_errors or [],
        "stance_form": stance_form or _stance_form(activity["stance"], today),
        "packet_formats": FORMATS}, status_code)


@pages.get("/roster/{office_id}", response_class=HTMLResponse)
def roster_office(request: Request, state: StateDep, office_id: str,
                  saved: str = "") -> HTMLResponse:
    """The office view: its constituents' signatures per week, calls, letters, stances (and
    the stance form), contacts with their status and source (and the correction form), the
    corrections, and its packet's download links."""
    return _office_page(request, state, office_id, saved=saved[:40])


@pages.post("/roster/{office_id}")
def correct_office(request: Request, state: StateDep, office_id: str,
                   field: Annotated[str, Form()] = "", value: Annotated[str, Form()] = "",
                   source_url: Annotated[str, Form()] = "",
                   verified_on: Annotated[str, Form()] = "",
                   csrf: Annotated[str, Form()] = "") -> Response:
    """Correct or confirm one value: stored as `outreach roster import` stores a call sheet's
    row (a source URL and the day it was read required; the same value confirms it)."""
    check_csrf(request, csrf)
    form = {"field": field[:40], "value": value[:500], "source_url": source_url[:500],
            "verified_on": verified_on[:10]}
    current = {row["office_id"]: row
               for row in effective_rows(state.settings.data.roster_path, state.engine)}
    counties = state.geo.data.counties
    changes, problems = plan_correction(office_id, form["field"], form["value"],
                                        form["source_url"], form["verified_on"], current,
                                        counties, state.clock().date())
    if office_id not in current:
        raise HTTPException(404, f"No office {office_id!r} in the roster.")
    if problems:
        return _office_page(request, state, office_id, errors=problems, form=form,
                            status_code=400)
    with state.engine.begin() as connection:
        record_changes(connection, changes, "dashboard", state.clock())
    state.current.expire()
    log.info("roster: %s %s corrected from the dashboard (%d stored)", office_id,
             form["field"], len(changes))
    kind = "verified" if any(c.kind == "verified" for c in changes) else "changed"
    return RedirectResponse(f"/admin/roster/{office_id}?saved={kind}", status_code=303)


@pages.post("/roster/{office_id}/stance")
def record_stance(request: Request, state: StateDep, office_id: str,
                  expunge: Annotated[str, Form()] = "", drop: Annotated[str, Form()] = "",
                  divert: Annotated[str, Form()] = "",
                  source_url: Annotated[str, Form()] = "",
                  stated_on: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "",
                  csrf: Annotated[str, Form()] = "") -> Response:
    """Record where the office stands, as `outreach stance set` does: checked by the same
    rules (a public http(s) source required, a date not in the future), only the demands whose
    stance changes are stored, and kept in the history as set by the dashboard."""
    check_csrf(request, csrf)
    roster = state.geo.roster
    try:
        roster.office(office_id)
    except KeyError:
        raise HTTPException(404, f"No office {office_id!r} in the roster.") from None
    form = {"expunge": expunge[:10], "drop": drop[:10], "divert": divert[:10],
            "source_url": source_url[:500], "stated_on": stated_on[:10], "note": note[:500]}
    now, recorded = state.clock(), 0
    with state.engine.begin() as connection:
        plan = plan_changes(office_id, {d: form[d] for d in DEMANDS}, form["source_url"],
                            form["stated_on"], form["note"],
                            current=current_stances(connection, [office_id]),
                            office_ids={o.office_id for o in roster.all_offices or
                                        roster.offices},
                            today=now.date())
        problems = plan.errors or ([] if plan.changes else [
            "Nothing to record: the office already stands so on every demand. Change a "
            "demand's stance to record it."])
        if not problems:
            recorded = record(connection, plan.changes, STANCE_SET_BY, now)
    if problems:
        return _office_page(request, state, office_id, stance_errors=problems,
                            stance_form=form, status_code=400)
    log.info("stance: %s, %d demand(s) recorded from the dashboard", office_id, recorded)
    return RedirectResponse(f"/admin/roster/{office_id}?saved=stance", status_code=303)


@pages.get("/roster/{office_id}/packet")
def office_packet(state: StateDep, office_id: str, format: str = "pdf") -> Response:
    """The office's delivery packet, as `outreach packet OFFICE_ID --format pdf|csv` writes
    it: its constituents' names and towns (never an email, phone or street), so only for a
    logged-in organizer and never kept by a browser or proxy."""
    if format not in FORMATS:
        raise HTTPException(400, f"format must be one of {', '.join(FORMATS)}, not "
                                 f"{format[:20]!r}.")
    try:
        office = state.geo.roster.office(office_id)
    except KeyError:
        raise HTTPException(404, f"No office {office_id!r} in the roster.") from None
    identity = state.identity()
    with state.engine.connect() as connection:
        found = build_packet(connection, office, organization=identity["organization"],
                             mailing_address=identity["mailing_address"], now=state.clock())
    fmt: Format = "pdf" if format == "pdf" else "csv"
    # The PDF library loads with the first packet, not with every web process (web/packets.py).
    from outreach.campaigns.packet_documents import packet_document

    document = packet_document(found, fmt,
                               packet_font(state.settings.campaigns.packet_font)
                               if fmt == "pdf" else None)
    log.info("packet of %s (%s) downloaded from the dashboard (%d constituents)", office_id,
             fmt, found.count)
    return Response(document.data,
                    media_type="application/pdf" if fmt == "pdf" else "text/csv; charset=utf-8",
                    headers={"Content-Disposition":
                             f'attachment; filename="packet-{office.office_id}.{fmt}"',
                             "Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"})


router = APIRouter()
router.include_router(login_router)
router.include_router(pages)
