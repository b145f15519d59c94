"""The public API: other petition platforms push signers; anyone may look up an address.

POST /api/signers (Authorization: Bearer OUTREACH_API_TOKEN) takes a JSON array of signer
objects, or {"signers": [...]}, with any header spelling a CSV file may use (an Action Network
`can2_phone`, `can2_sms_status`... included); each is stored, merged or rejected exactly as a
file row would be, and the answer says which, by position, with no personal data, plus the
export format the keys were read as and every key no field took ("unmapped_fields").
GET /api/lookup?address= answers what `outreach lookup --json` answers.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from outreach.campaigns.planner import queue_for_signers
from outreach.errors import AddressError
from outreach.signers.intake import describe_records, intake_records
from outreach.signers.match import match
from outreach.web.deps import AppState, StateDep
from outreach.web.security import bearer_token_ok, client_address

router = APIRouter(prefix="/api")
MAX_SIGNERS = 1000
LOOKUP_RATE = "60/minute"


@router.post("/signers")
async def push_signers(request: Request, state: StateDep) -> dict[str, Any]:
    if not bearer_token_ok(request, state.settings.web.api_token):
        raise HTTPException(401, "a valid Bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HTTPException(400, "the body is not JSON") from None
    records = body.get("signers") if isinstance(body, dict) else body
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise HTTPException(400, 'expected a JSON array of objects, or {"signers": [...]}')
    if not records or len(records) > MAX_SIGNERS:
        raise HTTPException(400, f"send between 1 and {MAX_SIGNERS} signers per request")
    source = str(request.query_params.get("source") or "api")[:200]
    return await run_in_threadpool(_store, state, records, source)


def _store(state: AppState, records: list[dict[str, object]], source: str) -> dict[str, Any]:
    results = intake_records(records, state.engine, source=source,
                             zips=state.geo.data.by_zip)
    ids = sorted({r.signer_id for r in results if r.signer_id is not None})
    if ids:
        match(state.engine, state.geo, by_zip=state.by_zip, only=ids)
        queue_for_signers(state.engine, state.campaign(), state.geo.roster, ids, state.clock())
    counts = {outcome: sum(1 for r in results if r.outcome == outcome)
              for outcome in ("imported", "duplicate", "rejected")}
    export, _, unmapped = describe_records(records)
    return {**counts, "format": export.name, "unmapped_fields": list(unmapped),
            "results": [{"index": r.index, "outcome": r.outcome,
                         **({"reason": r.reason} if r.reason else {}),
                         **({"warnings": r.warnings} if r.warnings else {})}
                        for r in results]}


@router.get("/lookup")
def lookup(request: Request, state: StateDep,
           address: str = Query(min_length=1, max_length=300)) -> dict[str, Any]:
    if not state.limits.allow(LOOKUP_RATE, "lookup", client_address(request)):
        raise HTTPException(429, "too many lookups; wait a minute",
                            headers={"Retry-After": "60"})
    try:
        return state.geo.lookup(address).to_dict()
    except AddressError as error:
        raise HTTPException(400, str(error)) from None
