"""/u/<token>: the unsubscribe link in every email and its List-Unsubscribe header.

GET shows a confirmation page with one button (link scanners and mail previews fetch links,
and must not unsubscribe anyone); POST unsubscribes at once, with or without the RFC 8058 body
"List-Unsubscribe=One-Click" that mail clients send, and no cookie or CSRF token: the
128-bit token in the URL is the credential.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from outreach.sending.consent import token_exists, unsubscribe_by_token
from outreach.web.deps import StateDep, page

router = APIRouter()


@router.get("/u/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, state: StateDep, token: str) -> HTMLResponse:
    known = token_exists(state.engine, token)
    return page(request, "unsubscribe.html", {"token": token, "known": known, "done": False},
                200 if known else 404)


@router.post("/u/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, state: StateDep, token: str) -> HTMLResponse:
    done = unsubscribe_by_token(state.engine, token, state.clock())
    return page(request, "unsubscribe.html", {"token": token, "known": done, "done": done},
                200 if done else 404)
