"""Every SQL statement about signers: identities for dedupe, inserts, merges, match results."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Connection,
    Delete,
    Integer,
    Row,
    Update,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from outreach.store.db import as_utc, select_in
from outreach.store.schema import imports, signer_matches, signers, submissions

if TYPE_CHECKING:  # the frame functions load pandas when called: the worker, the web's
    import numpy as np  # dashboard and the scheduler read and write signers without it
    import pandas as pd

# Fields a newer row overwrites (where it has a value) and an older row only fills in.
MERGED_FIELDS = ("email", "email_key", "phone", "phone_type", "first_name", "last_name",
                 "street", "city", "state", "zip", "email_opt_in", "sms_opt_in", "source")
MATCH_FIELDS = ("county_fips", "time_zone", "felony_office_id", "misdemeanor_office_id",
                "office_ids", "candidate_counties", "confidence", "share")


INSERT_COLUMNS = ("id", "email", "email_key", "phone", "phone_type", "first_name", "last_name",
                  "street", "city", "state", "zip", "email_opt_in", "sms_opt_in", "source",
                  "referred_by", "signed_at", "created_at", "updated_at")
SQLITE_TIMESTAMP = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores them in SQLite


@dataclass
class Identity:
    email_key: str | None
    phone: str | None
    signed_at: datetime


def load_keys(connection: Connection, email_keys: Sequence[str] | None = None,
              phones: Sequence[str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """(email_key -> id, phone -> id) of every stored signer, or of those with one of the
    given emails or phones (a web form's one row need not read a million keys)."""
    by_email: dict[str, int] = {}
    by_phone: dict[str, int] = {}
    query = select(signers.c.id, signers.c.email_key, signers.c.phone)
    if email_keys is not None or phones is not None:
        query = query.where(signers.c.email_key.in_(list(email_keys or []))
                            | signers.c.phone.in_(list(phones or [])))
    result = connection.execute(query)
    for signer_id, email_key, phone in result:
        if email_key:
            by_email[email_key] = signer_id
        if phone:
            by_phone[phone] = signer_id
    return by_email, by_phone


def load_identities(connection: Connection, ids: Sequence[int]) -> dict[int, Identity]:
    query = select(signers.c.id, signers.c.email_key, signers.c.phone, signers.c.signed_at)
    return {row.id: Identity(row.email_key, row.phone, as_utc(row.signed_at))
            for row in select_in(connection, query, signers.c.id, ids)}


def allocate_ids(connection: Connection, count: int) -> list[int]:
    """Ids for `count` new signers, so a bulk insert needs no RETURNING round trip per row.

    SQLite: the transaction began IMMEDIATE, so nobody else inserts until it commits.
    PostgreSQL: the table's sequence hands out the ids, safe under concurrency.
    """
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT nextval(pg_get_serial_sequence('signers', 'id')) "
            f"FROM generate_series(1, {int(count)})")
        return [row[0] for row in rows]
    start = connection.execute(select(func.coalesce(func.max(signers.c.id), 0))).scalar_one()
    return list(range(start + 1, start + 1 + count))


def _timestamps(connection: Connection, column: pd.Series) -> pd.Series:
    """UTC timestamps as the driver takes them; for SQLite, the text SQLAlchemy reads back."""
    import pandas as pd

    when = pd.to_datetime(column, utc=True)
    if connection.dialect.name != "sqlite":
        return pd.Series(when.dt.to_pydatetime(), index=column.index)
    naive = when.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    return pd.Series(_sqlite_stamps(naive), index=column.index, dtype=object)


_FOUR_DIGIT_YEARS = ("0000-01-01", "9999-12-31T23:59:59.999999")  # as datetime64[us]


def _sqlite_stamps(naive: np.ndarray) -> list[str]:
    """datetime64[us] values as SQLITE_TIMESTAMP text: their ISO form ("2026-01-01T10:00:00.
    000000", which astype("U26") writes as datetime_as_string does, three times faster) with
    the "T" a space, set in the array's characters rather than replaced string by string.
    Anything else (NaT, a year of five digits or before year 0) is replaced the slow way, as
    it always was."""
    import numpy as np  # with the frame functions that call this: not at the store's import

    if not len(naive):
        return []
    first, last = (np.datetime64(bound, "us") for bound in _FOUR_DIGIT_YEARS)
    if np.isnat(naive).any() or naive.min() < first or naive.max() > last:
        slow: list[str] = np.char.replace(np.datetime_as_string(naive, unit="us"), "T",
                                          " ").tolist()
        return slow
    text = naive.astype("U26")
    text.view(np.uint32).reshape(len(text), 26)[:, 10] = ord(" ")
    stamps: list[str] = text.tolist()
    return stamps


def insert_signers(connection: Connection, frame: pd.DataFrame) -> list[int]:
    """Insert new signers (a frame with INSERT_COLUMNS but id); return their ids in order.

    One executemany straight to the driver: SQLAlchemy's per-row parameter processing and a
    RETURNING per row cost more than the insert itself at a million rows.
    """
    if frame.empty:
        return []
    ids = allocate_ids(connection, len(frame))
    stamps = ("signed_at", "created_at", "updated_at")
    columns: list[list[Any]] = [
        ids if name == "id" else
        _timestamps(connection, frame[name]).tolist() if name in stamps else
        _driver_values(frame[name]) for name in INSERT_COLUMNS]
    marker = _marker(connection)
    connection.exec_driver_sql(
        f"INSERT INTO signers ({', '.join(INSERT_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(INSERT_COLUMNS))})",
        list(zip(*columns, strict=True)))
    return ids


def _driver_values(column: pd.Series) -> list[Any]:
    """A column as Python objects, None where missing (drivers refuse NaN and numpy types),
    column by column: a frame-wide where() and itertuples cost more than the insert."""
    import pandas as pd

    values = column.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = None
    return values.tolist()


def _merge_statement(newer: bool) -> Update:
    """UPDATE for a duplicate row: a newer row wins where it has a value, an older one fills gaps.

    SET expressions see the row's values from before the update on both SQLite and PostgreSQL.
    """
    values: dict[str, ColumnElement[Any]] = {}
    for name in MERGED_FIELDS:
        column = signers.c[name]
        new: BindParameter[Any] = bindparam(f"new_{name}")
        values[name] = func.coalesce(new, column) if newer else func.coalesce(column, new)
    # The first referrer keeps the credit, whichever row is newer.
    values["referred_by"] = func.coalesce(signers.c.referred_by,
                                          bindparam("new_referred_by", type_=Integer))
    values["signed_at"] = bindparam("new_signed_at") if newer else signers.c.signed_at
    values["updated_at"] = bindparam("now")
    return update(signers).where(signers.c.id == bindparam("target_id")).values(**values)


MERGE_NEWER = _merge_statement(newer=True)
MERGE_OLDER = _merge_statement(newer=False)
ADDRESS_FIELDS = ("street", "city", "state", "zip")


def _unmatch_statement(newer: bool) -> Delete:
    """DELETE of the signer's match when a duplicate row changes the address (run before the
    merge, which it compares against): a newer row where it differs, an older one where the
    stored address has a gap it fills. An unchanged address keeps its match."""
    changes = []
    for name in ADDRESS_FIELDS:
        column = signers.c[name]
        new = bindparam(f"new_{name}", type_=column.type)  # typed: PostgreSQL must know it
        changed = column.is_distinct_from(new) if newer else column.is_(None)
        changes.append(and_(new.is_not(None), changed))
    moved = exists().where(signers.c.id == bindparam("target_id"), or_(*changes))
    return delete(signer_matches).where(signer_matches.c.signer_id == bindparam("target_id"),
                                        moved)


UNMATCH_NEWER = _unmatch_statement(newer=True)
UNMATCH_OLDER = _unmatch_statement(newer=False)


def merge_signers(connection: Connection, newer: Sequence[dict[str, Any]],
                  older: Sequence[dict[str, Any]]) -> None:
    """Apply duplicate rows to stored signers (keys: target_id, now, new_<field>...).

    A row that changes the address drops the signer's match, so `outreach match` redoes it.
    """
    for rows, unmatch, merge in ((newer, UNMATCH_NEWER, MERGE_NEWER),
                                 (older, UNMATCH_OLDER, MERGE_OLDER)):
        if rows:
            _driver_executemany(connection, unmatch, rows)
            _driver_executemany(connection, merge, rows)


def _driver_executemany(connection: Connection, statement: Update | Delete,
                        rows: Sequence[Mapping[str, Any]]) -> None:
    """`statement` once per row, straight to the driver: compiled for the connection's
    dialect once, each value bound by its type's bind processor as SQLAlchemy binds it (a
    DateTime as SQLite's text), without SQLAlchemy's per-row parameter processing (tens of
    microseconds a row: a file of 100,000 duplicates). A row's keys the statement does not
    name are not sent; one it names and the row lacks is a KeyError."""
    dialect = connection.dialect
    compiled = statement.compile(dialect=dialect)
    names = list(compiled.positiontup or compiled.binds)
    processors = {name: processor for name in names
                  if (processor := compiled.binds[name].type.dialect_impl(dialect)
                      .bind_processor(dialect))}
    take = itemgetter(*names)
    values = [take(row) if len(names) > 1 else (take(row),) for row in rows]
    if processors:
        at = [(i, processors[name]) for i, name in enumerate(names) if name in processors]
        values = [_processed(row, at) for row in values]
    if compiled.positiontup is None:  # named placeholders (psycopg)
        connection.exec_driver_sql(str(compiled), [dict(zip(names, row, strict=True))
                                                   for row in values])
    else:
        connection.exec_driver_sql(str(compiled), values)


def _processed(row: tuple[Any, ...], at: Sequence[tuple[int, Callable[[Any], Any]]]
               ) -> tuple[Any, ...]:
    values = list(row)
    for i, processor in at:
        values[i] = processor(values[i])
    return tuple(values)


def withdraw_consent(connection: Connection, column: str, keys: Sequence[str],
                     now: datetime, chunk: int = 1000) -> None:
    """Clear email_opt_in (keys: email keys) or sms_opt_in (keys: E.164 phones) of the signers
    with these addresses, whatever their rows' dates: an opt-out is never lost in a merge."""
    key_column = signers.c.email_key if column == "email_opt_in" else signers.c.phone
    keys = sorted(set(keys))
    for start in range(0, len(keys), chunk):
        connection.execute(update(signers).where(key_column.in_(keys[start:start + chunk]),
                                                 signers.c[column].is_(True))
                           .values({column: False, "updated_at": now}))


def record_import(connection: Connection, file_name: str, started_at: datetime,
                  counts: dict[str, int], sha256: str | None = None) -> None:
    connection.execute(insert(imports).values(
        file_name=file_name[:500], started_at=started_at, finished_at=datetime.now(UTC),
        rows=counts["rows"], imported=counts["imported"], duplicates=counts["duplicates"],
        rejected=counts["rejected"], sha256=sha256))


def record_submission(connection: Connection, signer_id: int, source: str, outcome: str,
                      submitted: Mapping[str, object], now: datetime, *,
                      session_key: str | None = None,
                      steps_queued_at: datetime | None = None) -> None:
    """Keep what the public form was sent, as sent: a re-signing by someone the store cannot
    authenticate is evidence, never an overwrite (DESIGN invariant 10). See the table for
    session_key and steps_queued_at (outreach.signing)."""
    connection.execute(insert(submissions).values(
        signer_id=signer_id, source=source[:200], outcome=outcome,
        submitted=json.dumps(dict(submitted), sort_keys=True), received_at=now,
        session_key=session_key, steps_queued_at=steps_queued_at))


def imported_before(connection: Connection, sha256: str) -> bool:
    """Whether a file with exactly this content was imported to the end already."""
    return connection.execute(select(imports.c.id).where(
        imports.c.sha256 == sha256, imports.c.finished_at.is_not(None))).first() is not None


def signed_in_session(connection: Connection, signer_id: int, session_key: str) -> bool:
    """Whether this browser session's own submission made this signer (imported it)."""
    return connection.execute(select(exists().where(
        submissions.c.signer_id == signer_id, submissions.c.outcome == "imported",
        submissions.c.session_key == session_key))).scalar_one()


def pending_signings(connection: Connection, limit: int) -> list[int]:
    """Signers made by a signing whose campaign steps are not queued yet, oldest first."""
    return list(connection.execute(
        select(submissions.c.signer_id).where(submissions.c.steps_queued_at.is_(None),
                                               submissions.c.outcome == "imported")
        .order_by(submissions.c.signer_id).limit(limit)).scalars())


def mark_signings_pending(connection: Connection, signer_ids: Sequence[int]) -> int:
    """Mark these signers' signings as waiting for their steps again; how many were marked."""
    return connection.execute(update(submissions).where(
        submissions.c.signer_id.in_(signer_ids), submissions.c.outcome == "imported")
        .values(steps_queued_at=None)).rowcount


def mark_signings_queued(connection: Connection, signer_ids: Sequence[int],
                         now: datetime) -> None:
    """These signers' waiting signings had their steps queued at `now`."""
    connection.execute(update(submissions).where(
        submissions.c.signer_id.in_(signer_ids), submissions.c.outcome == "imported",
        submissions.c.steps_queued_at.is_(None)).values(steps_queued_at=now))


def contact(connection: Connection, signer_id: int) -> Row[Any, Any, Any]:
    """A stored signer's referral code, phone and SMS consent (the signer must exist)."""
    return connection.execute(
        select(signers.c.referral_code, signers.c.phone, signers.c.sms_opt_in)
        .where(signers.c.id == signer_id)).one()


# signer_by_referral_code's row: id, zip, county_fips, felony_office_id, misdemeanor_office_id,
# confidence, share, candidate_counties.
SignerPage = Row[Any, Any, Any, Any, Any, Any, Any, Any]


def signer_by_referral_code(connection: Connection,
                            code: str) -> SignerPage | None:
    """The signer a referral code names, with their ZIP and their match's county, offices,
    confidence, share and candidate counties (None: no such code)."""
    return connection.execute(
        select(signers.c.id, signers.c.zip, signer_matches.c.county_fips,
               signer_matches.c.felony_office_id,
               signer_matches.c.misdemeanor_office_id, signer_matches.c.confidence,
               signer_matches.c.share, signer_matches.c.candidate_counties)
        .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
        .where(signers.c.referral_code == code)).first()


def recipients(connection: Connection, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """signer id -> every stored field of the signer plus their match's felony and
    misdemeanor office ids (None when unmatched): what a message renders at send time."""
    query = (select(signers, signer_matches.c.felony_office_id,
                    signer_matches.c.misdemeanor_office_id)
             .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
             .where(signers.c.id.in_(ids)))
    return {r.id: dict(r._mapping) for r in connection.execute(query)}


def _marker(connection: Connection) -> str:
    """The driver's placeholder, for statements sent straight to it (executemany)."""
    return "?" if connection.dialect.paramstyle == "qmark" else "%s"


def _driver_rows(connection: Connection, sql: str) -> list[tuple[Any, ...]]:
    """Plain tuples from the driver: building a million SQLAlchemy Rows costs seconds."""
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows
    finally:
        cursor.close()


# The signers the matching pass takes (signers_to_match): those without a match yet.
_UNMATCHED = " LEFT JOIN signer_matches m ON m.signer_id = s.id WHERE m.signer_id IS NULL"


def any_to_match(connection: Connection) -> bool:
    """Whether the matching pass has a signer to match (no frame: the scheduler asks before
    it starts a pass in a process of its own)."""
    return bool(_driver_rows(connection, f"SELECT s.id FROM signers s{_UNMATCHED} LIMIT 1"))


def signers_to_match(connection: Connection, rematch_all: bool = False,
                     ids: Sequence[int] | None = None) -> pd.DataFrame:
    """id, street, city, state, zip of the signers whose match is missing (or all; or these)."""
    import pandas as pd

    columns = ["id", "street", "city", "state", "zip"]
    sql = f"SELECT {', '.join('s.' + c for c in columns)} FROM signers s"
    if ids is not None:
        sql += _id_filter(ids)
    elif not rematch_all:
        sql += _UNMATCHED
    frame = pd.DataFrame(_driver_rows(connection, sql), columns=columns)
    return frame.astype({"id": "int64"}).fillna("")


def changed_since(connection: Connection, since: datetime) -> list[int]:
    """Signers stored, changed or (re)matched at or after `since`: who a planning pass must
    look at again."""
    query = (select(signers.c.id)
             .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
             .where((signers.c.updated_at >= since) | (signer_matches.c.matched_at >= since)))
    return sorted(connection.execute(query).scalars())


def chosen_counties(connection: Connection, ids: Sequence[int]) -> dict[int, str]:
    """signer id -> the county the signer picked, for those of these who picked one."""
    query = select(signer_matches.c.signer_id, signer_matches.c.chosen_county).where(
        signer_matches.c.chosen_county.is_not(None))
    return {row.signer_id: row.chosen_county for row in select_in(
        connection, query, signer_matches.c.signer_id, [int(i) for i in ids])}


def choose_county(connection: Connection, signer_id: int, county_fips: str) -> None:
    connection.execute(update(signer_matches).where(signer_matches.c.signer_id == signer_id)
                       .values(chosen_county=county_fips))


def felony_offices(connection: Connection, ids: Sequence[int]) -> dict[int, str | None]:
    """signer id -> felony office id of the stored matches of these signers."""
    query = select(signer_matches.c.signer_id, signer_matches.c.felony_office_id)
    return {row.signer_id: row.felony_office_id for row in select_in(
        connection, query, signer_matches.c.signer_id, [int(i) for i in ids])}


def constituents(connection: Connection, office_ids: Iterable[str],
                 kinds: Sequence[str] = ("felony",)) -> list[int]:
    """The signers matched to any of these offices as their felony and/or misdemeanor
    office (`kinds`), by id: who a stance trigger of those offices writes to."""
    columns = {"felony": signer_matches.c.felony_office_id,
               "misdemeanor": signer_matches.c.misdemeanor_office_id}
    found: set[int] = set()
    for kind in kinds:
        query = select(signer_matches.c.signer_id)
        found.update(row.signer_id for row in select_in(connection, query, columns[kind],
                                                        sorted(set(office_ids))))
    return sorted(found)


def save_matches(connection: Connection, matches: pd.DataFrame, matched_at: datetime) -> None:
    """Store match results (columns: id and MATCH_FIELDS), replacing earlier ones.

    One executemany of an upsert straight to the driver (ON CONFLICT works on SQLite and
    PostgreSQL alike).
    """
    if matches.empty:
        return
    columns = ["signer_id", *MATCH_FIELDS, "matched_at"]
    rows = matches[["id", *MATCH_FIELDS]].astype(object)
    rows = rows.where(rows.notna(), None)
    stamp = matched_at.strftime(SQLITE_TIMESTAMP) if connection.dialect.name == "sqlite" \
        else matched_at
    marker = _marker(connection)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns[1:])
    connection.exec_driver_sql(
        f"INSERT INTO signer_matches ({', '.join(columns)}) "
        f"VALUES ({', '.join([marker] * len(columns))}) "
        f"ON CONFLICT (signer_id) DO UPDATE SET {updates}",
        [(*row, stamp) for row in rows.itertuples(index=False, name=None)])


def _id_filter(ids: Sequence[int] | None) -> str:
    """A WHERE clause for these signer ids (integers, so safe to inline), or nothing."""
    if ids is None:
        return ""
    return f" WHERE s.id IN ({', '.join(str(int(i)) for i in ids) or 'NULL'})"


def audience_frame(connection: Connection, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Every signer (or these) with the fields campaigns select and address on (created_at:
    when the signer was first stored, which planning counts their entry from), and its
    match."""
    import pandas as pd

    columns = ["id", "email", "phone", "email_opt_in", "sms_opt_in", "state", "source",
               "signed_at", "created_at"]
    match_columns = ["county_fips", "office_ids", "felony_office_id", "misdemeanor_office_id",
                     "confidence", "time_zone", "share"]
    sql = (f"SELECT {', '.join('s.' + c for c in columns)}, "
           f"{', '.join('m.' + c for c in match_columns)} FROM signers s "
           "LEFT JOIN signer_matches m ON m.signer_id = s.id" + _id_filter(ids))
    frame = pd.DataFrame(_driver_rows(connection, sql), columns=[*columns, *match_columns])
    for column in ("signed_at", "created_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    for column in ("email_opt_in", "sms_opt_in"):
        frame[column] = frame[column].astype(bool)
    return frame.astype({"id": "int64"})


def _assign(connection: Connection, signer_ids: Sequence[int], column: str,
            make: Callable[[], str]) -> int:
    missing = [row.id for row in select_in(
        connection, select(signers.c.id).where(signers.c[column].is_(None)), signers.c.id,
        signer_ids)]
    if missing:
        statement = update(signers).where(signers.c.id == bindparam("signer_id")).values(
            {column: bindparam("code")})
        connection.execute(statement, [{"signer_id": i, "code": make()} for i in missing])
    return len(missing)


def assign_referral_codes(connection: Connection, signer_ids: Sequence[int]) -> int:
    """Give each of these signers without one a short, unguessable referral code.

    48 random bits per code: a collision in a million signers is a one-in-500 event, and the
    unique index would refuse it rather than mix two signers' referrals.
    """
    return _assign(connection, signer_ids, "referral_code", lambda: secrets.token_urlsafe(6))


def assign_unsubscribe_tokens(connection: Connection, signer_ids: Sequence[int]) -> int:
    """Per-signer unsubscribe tokens, 128 random bits: whoever holds the link may use it."""
    return _assign(connection, signer_ids, "unsubscribe_token",
                   lambda: secrets.token_urlsafe(16))


def signer_ids_by_referral_code(connection: Connection, codes: Sequence[str]) -> dict[str, int]:
    query = select(signers.c.referral_code, signers.c.id)
    return {row.referral_code: row.id for row in select_in(
        connection, query, signers.c.referral_code, sorted(set(codes)))}


@dataclass(frozen=True)
class ConsentAndZone:
    """What the send-time gate needs of one signer: where they are (state, matched time zone)
    and what they agreed to on each channel."""

    state: str | None
    time_zone: str | None
    email_opt_in: bool
    sms_opt_in: bool


def consent_and_zones(connection: Connection,
                      signer_ids: Sequence[int]) -> dict[int, ConsentAndZone]:
    """Signer id -> consent and zone, for these signers (one query for a claimed batch; a
    signer not matched yet has no time zone)."""
    query = (select(signers.c.id, signers.c.state, signers.c.email_opt_in,
                    signers.c.sms_opt_in, signer_matches.c.time_zone)
             .join(signer_matches, signer_matches.c.signer_id == signers.c.id, isouter=True)
             .where(signers.c.id.in_(signer_ids)))
    return {row.id: ConsentAndZone(row.state, row.time_zone, bool(row.email_opt_in),
                                   bool(row.sms_opt_in))
            for row in connection.execute(query)}
