"""The public scoreboard: where every prosecutor stands on the petition's three demands.

`/prosecutors` shows a map of U.S. counties colored by the stance of the county's felony
prosecutor (county_map.py) and a table of every office in force: state, office, prosecutor,
each demand's stance with its source, signers and calls. The table is plain HTML, sorted and
filtered by links and a GET form (?sort=signers&dir=desc&state=PA&page=2), so it works with no
script at all. `/prosecutors/<office_id>` is one office's page, made to be shared (Open Graph
tags): its stance on each demand with sources, the history of its statements, its signers
and a link to sign.

Counts only, never names, and a count under 5 reads "fewer than 5" everywhere on these pages
(privacy.public_count), sorting included (privacy.public_rank). Who recorded a stance (an
organizer) stays on the dashboard.

The counts and the drawn map are kept for a minute in the app's state (CACHE_SECONDS): each is
a GROUP BY over the signers' matches, and the map is 3,142 paths. A stance recorded since is
shown at once (the cache is keyed by the newest statement's id). The page is about 0.6 MB of
HTML, most of it the map; a browser that accepts gzip gets it compressed (about a fifth).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from outreach.campaigns.render import plural
from outreach.privacy import public_count, public_rank
from outreach.roster.offices import Office, Roster
from outreach.roster.stances import (
    DEMAND_TEXT,
    DEMANDS,
    SUMMARIES,
    Demand,
    OfficeStance,
    Summary,
    current_stances,
    history,
)
from outreach.signers.match import MATCHED
from outreach.store.scoreboard import calls_by_office, signers_by_county, signers_by_office
from outreach.store.stances import newest_stance_id, stances_table_exists
from outreach.us.counties import Counties
from outreach.web.county_map import CountyShapes, MapCounty, load_shapes, map_svg
from outreach.web.deps import AppState, StateDep, page
from outreach.web.security import is_admin

router = APIRouter()

PAGE_SIZE = 100  # table rows per page: the map is most of the page already
CACHE_SECONDS = 60
GZIP_MINIMUM = 1400  # bytes: below one packet compressing gains nothing

# What a summary says of an office, in words: the office page and its shared description.
SUMMARY_TEXT: dict[Summary, str] = {
    "committed": "has committed to all three demands",
    "partial": "has committed to part of the demands",
    "not_committed": "has not committed to the demands",
    "unknown": "has made no statement on the demands that we know of",
}
LEGEND: dict[Summary, str] = {
    "committed": "Committed to all three",
    "partial": "Partly committed",
    "not_committed": "Not committed",
    "unknown": "Not known yet",
}
STANCE_TEXT = {"yes": "Yes", "partial": "Partly", "no": "No", "unknown": "Unknown"}
STANCE_RANK = {"yes": 3, "partial": 2, "no": 1, "unknown": 0}
DEMAND_SHORT: dict[Demand, str] = {"expunge": "Expunge", "drop": "Drop", "divert": "Divert"}


def combined_summary(stances: Sequence[OfficeStance]) -> Summary:
    """One county's summary from its felony offices' (nearly every county has one; a few
    are shared by town or have two district attorneys): theirs when they agree, else
    `partial` when any committed to something, `not_committed` when any said no."""
    found = {stance.summary for stance in stances}
    if len(found) <= 1:
        return found.pop() if found else "unknown"
    if found & {"committed", "partial"}:
        return "partial"
    return "not_committed" if "not_committed" in found else "unknown"


@dataclass(frozen=True)
class OfficeRow:
    office: Office
    stance: OfficeStance
    signers: int
    calls: int

    def view(self) -> dict[str, Any]:
        """The table's and the office page's fields: counts as words, never raw."""
        stances = self.stance.to_dict()
        return {"office_id": self.office.office_id, "state": self.office.state,
                "office_name": self.office.office_name, "title": self.office.title,
                "officeholder": self.office.officeholder,
                "officeholder_as_of": self.office.officeholder_as_of,
                "summary": self.stance.summary,
                "demands": [{"demand": d, "label": DEMAND_SHORT[d], **stances[d],  # type: ignore[dict-item]
                             "stance_text": STANCE_TEXT[self.stance.of(d)]} for d in DEMANDS],
                "signers": public_count(self.signers),
                "calls": public_count(self.calls) if self.calls else "none yet"}


@dataclass(frozen=True)
class Board:
    """What both pages show, computed at once and kept for a minute."""

    roster: Roster  # the roster it was built on (a reloaded roster rebuilds it)
    newest_stance: int  # the newest stance statement's id when it was built
    built_at: datetime
    rows: tuple[OfficeRow, ...]  # every office in force, by state and name
    by_id: dict[str, OfficeRow]
    map_svg: str
    counties_by_summary: dict[Summary, int]
    calls_recorded: bool
    signers_of: dict[str, int]  # every office's, an office no longer in force included
    calls_of: dict[str, int]

    def offices_with(self, summary: Summary) -> list[OfficeRow]:
        """The offices of one summary (the committed are named above the map: a city's
        county is a speck on it)."""
        return [row for row in self.rows if row.stance.summary == summary]


def _felony_offices(roster: Roster, counties: Iterable[str]) -> list[Office]:
    found: dict[str, Office] = {}
    for fips in counties:
        for office in roster.by_county.get(fips, ()):
            if office.prosecutes_felonies:
                found.setdefault(office.office_id, office)
    return list(found.values())


def _county_label(counties: Counties, fipses: Sequence[str]) -> str:
    names = " and ".join(counties[f].name for f in fipses if f in counties)
    state = next((counties[f].state for f in fipses if f in counties), "")
    return f"{names}, {state}" if names else "/".join(fipses)


def _map(shapes: CountyShapes, roster: Roster, counties: Counties,
         stances: dict[str, OfficeStance], per_county: dict[str, int]
         ) -> tuple[str, dict[Summary, int]]:
    drawn: list[MapCounty] = []
    tally: dict[Summary, int] = dict.fromkeys(SUMMARIES, 0)
    for shape in shapes.paths:
        fipses = shapes.counties_of(shape)
        offices = _felony_offices(roster, fipses)
        summary = combined_summary([stances.get(o.office_id, OfficeStance(o.office_id))
                                    for o in offices])
        tally[summary] += len(fipses)
        signers = sum(per_county.get(f, 0) for f in fipses)
        # Short, as 3,142 of them are on the page: the offices' names are in the table.
        text = (f"{_county_label(counties, fipses)}: {LEGEND[summary].lower()}; "
                f"{public_count(signers)} signers")
        drawn.append(MapCounty(shape, summary, text))
    description = "; ".join(f"{LEGEND[s]}: {plural(tally[s], 'county', 'counties')}"
                            for s in SUMMARIES)
    svg = map_svg(shapes, drawn, "Where each county's felony prosecutor stands", description)
    return svg, tally


def build_board(state: AppState, now: datetime) -> Board:
    roster, counties = state.geo.roster, state.geo.data.counties
    with state.engine.connect() as connection:
        newest = newest_stance_id(connection) if stances_table_exists(connection) else 0
        stances = current_stances(connection)
        per_county = signers_by_county(connection, MATCHED)
        per_office = signers_by_office(connection)
        calls = calls_by_office(connection)
    rows = tuple(sorted(
        (OfficeRow(office, stances.get(office.office_id, OfficeStance(office.office_id)),
                   per_office.get(office.office_id, 0),
                   calls.get(office.office_id, 0))
         for office in roster.offices),
        key=lambda r: (r.office.state, r.office.office_name.casefold())))
    svg, tally = _map(load_shapes(), roster, counties, stances, per_county)
    return Board(roster, newest, now, rows, {r.office.office_id: r for r in rows}, svg, tally,
                 bool(calls), per_office, calls)


def board_of(request: Request, state: AppState) -> Board:
    """This app's board, rebuilt when a minute has passed, the roster changed or a stance
    was recorded (an office that just committed is shown committed at once)."""
    now = state.clock()
    with state.engine.connect() as connection:
        newest = newest_stance_id(connection) if stances_table_exists(connection) else 0
    board: Board | None = getattr(request.app.state, "scoreboard", None)
    if board is None or board.roster is not state.geo.roster or board.newest_stance != newest \
            or not board.built_at <= now < board.built_at + timedelta(seconds=CACHE_SECONDS):
        board = build_board(state, now)
        request.app.state.scoreboard = board
    return board


# --- the table's order -------------------------------------------------------------------------
def _by_stance(demand: Demand) -> Callable[[OfficeRow], tuple[Any, ...]]:
    return lambda row: (STANCE_RANK[row.stance.of(demand)],)


SORTS: dict[str, Callable[[OfficeRow], tuple[Any, ...]]] = {
    "state": lambda r: (r.office.state, r.office.office_name.casefold()),
    "office": lambda r: (r.office.office_name.casefold(),),
    "prosecutor": lambda r: (not r.office.officeholder, r.office.officeholder.casefold()),
    **{demand: _by_stance(demand) for demand in DEMANDS},
    "signers": lambda r: (public_rank(r.signers),),
    "calls": lambda r: (public_rank(r.calls or 0),),
}
# A column's first click: names A to Z, stances and counts the most first.
FIRST_DIRECTION = {"state": "asc", "office": "asc", "prosecutor": "asc"}
COLUMNS = (("state", "State"), ("office", "Office"), ("prosecutor", "Prosecutor"),
           *((d, DEMAND_SHORT[d]) for d in DEMANDS), ("signers", "Signers"), ("calls", "Calls"))


def sorted_rows(rows: Sequence[OfficeRow], sort: str, direction: str) -> list[OfficeRow]:
    """Rows by one column; ties keep the state-and-name order (Python's sort is stable, in
    reverse too)."""
    return sorted(rows, key=SORTS[sort], reverse=direction == "desc")


def _link(sort: str, direction: str, state_code: str, number: int = 1) -> str:
    """The table's address for an order, a state and a page (defaults left out)."""
    params: dict[str, str | int] = {}
    if (sort, direction) != ("state", "asc"):
        params.update(sort=sort, dir=direction)
    if state_code:
        params["state"] = state_code
    if number > 1:
        params["page"] = number
    return "/prosecutors" + (f"?{urlencode(params)}" if params else "")


def _compressed(request: Request, response: HTMLResponse) -> Response:
    """The page gzipped for a browser that accepts it (the map is most of its bytes). These
    pages carry no secret, so compression cannot leak one (BREACH needs a secret beside
    reflected input)."""
    response.headers["vary"] = "Accept-Encoding"
    response.headers["cache-control"] = f"public, max-age={CACHE_SECONDS}"
    body = bytes(response.body)
    if "gzip" not in request.headers.get("accept-encoding", "") or len(body) < GZIP_MINIMUM:
        return response
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    headers["content-encoding"] = "gzip"
    return Response(gzip.compress(body, 6), status_code=response.status_code,
                    headers=headers)


@router.get("/prosecutors", response_class=HTMLResponse)
def scoreboard(request: Request, state: StateDep, sort: str = "state", dir: str = "",
               state_code: Annotated[str, Query(alias="state")] = "",
               page_number: Annotated[str, Query(alias="page")] = "1") -> Response:
    if sort not in SORTS:
        raise HTTPException(400, f"sort must be one of {', '.join(SORTS)}")
    direction = dir or FIRST_DIRECTION.get(sort, "desc")
    if direction not in ("asc", "desc"):
        raise HTTPException(400, "dir must be asc or desc")
    board = board_of(request, state)
    states = sorted({r.office.state for r in board.rows})
    wanted = state_code.strip().upper()
    if wanted and wanted not in states:
        raise HTTPException(400, f"{state_code[:20]!r} is not a state of the roster")
    rows = [r for r in board.rows if not wanted or r.office.state == wanted]
    rows = sorted_rows(rows, sort, direction)
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    if not page_number.isdigit() or not 1 <= int(page_number) <= pages:
        raise HTTPException(404, f"No page {page_number[:10]!r}: pages 1 to {pages}.")
    number = int(page_number)
    shown = rows[(number - 1) * PAGE_SIZE:number * PAGE_SIZE]
    columns = []
    for key, label in COLUMNS:
        active = key == sort
        flip = ("desc" if direction == "asc" else "asc") if active else \
            FIRST_DIRECTION.get(key, "desc")
        columns.append({"key": key, "label": label, "href": _link(key, flip, wanted),
                        "aria_sort": ("ascending" if direction == "asc" else "descending")
                        if active else ""})
    legend = [(s, LEGEND[s], plural(board.counties_by_summary[s], "county", "counties"))
              for s in SUMMARIES]
    response = page(request, "prosecutors.html", {
        "map_svg": board.map_svg, "legend": legend,
        "committed": [r.view() for r in board.offices_with("committed")],
        "partly": len(board.offices_with("partial")),
        "rows": [r.view() for r in shown], "columns": columns, "states": states,
        "state_code": wanted, "sort": sort, "dir": direction, "total": len(rows),
        "first": (number - 1) * PAGE_SIZE + 1 if shown else 0,
        "last": (number - 1) * PAGE_SIZE + len(shown), "page": number, "pages": pages,
        "previous": _link(sort, direction, wanted, number - 1) if number > 1 else "",
        "next": _link(sort, direction, wanted, number + 1) if number < pages else "",
        "page_url": f"{_public_url(request, state)}/prosecutors",
        "calls_recorded": board.calls_recorded})
    return _compressed(request, response)


def _public_url(request: Request, state: AppState) -> str:
    """The address people share: OUTREACH_PUBLIC_URL, as every link the campaign sends out
    (the request's own host when it is not set, as in development)."""
    return (state.settings.compliance.public_url or str(request.base_url)).rstrip("/")


@router.get("/prosecutors/{office_id}", response_class=HTMLResponse)
def office_page(request: Request, state: StateDep, office_id: str) -> Response:
    try:
        office = state.geo.roster.office(office_id[:80])
    except KeyError:
        raise HTTPException(404, "We have no prosecutor's office at this address.") from None
    board = board_of(request, state)
    organizer = is_admin(request, state.engine, state.settings, state.clock())
    with state.engine.connect() as connection:
        statements = history(connection, [office.office_id])
        stance = current_stances(connection, [office.office_id]).get(
            office.office_id, OfficeStance(office.office_id))
    found = board.by_id.get(office.office_id)
    row = OfficeRow(office, stance, board.signers_of.get(office.office_id, 0),
                    board.calls_of.get(office.office_id, 0))
    view = row.view()
    counties = state.geo.data.counties
    served = [f"{'part of ' if f in office.places else ''}{counties[f].name}"
              for f in office.county_fips if f in counties]
    url = f"{_public_url(request, state)}/prosecutors/{office.office_id}"
    description = (f"The {office.office_name} {SUMMARY_TEXT[stance.summary]} "
                   f"({'; '.join(f'{d}: {STANCE_TEXT[stance.of(d)].lower()}' for d in DEMANDS)})."
                   f" {view['signers'].capitalize()} constituents have signed the petition.")
    response = page(request, "prosecutor.html", {
        "office": view, "in_force": found is not None, "served": served,
        "summary_text": SUMMARY_TEXT[stance.summary], "legend": LEGEND[stance.summary],
        "history": [{"stated_on": s.stated_on.isoformat(), "demand": DEMAND_SHORT[s.demand],
                     "demand_text": DEMAND_TEXT[s.demand], "stance": s.stance,
                     "stance_text": STANCE_TEXT[s.stance], "source_url": s.source_url,
                     "note": s.note}
                    for s in reversed(statements)],
        "og": {"title": f"Where the {office.office_name} stands", "description": description,
               "url": url, "type": "website"},
        "calls_recorded": board.calls_recorded, "organizer": organizer})
    compressed = _compressed(request, response)
    if organizer:  # the link to the office view is for this organizer only: no shared cache
        compressed.headers["cache-control"] = "private, no-store"
    return compressed
