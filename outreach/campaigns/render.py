"""Outbox row (template + context ids) -> a rendered Message, at send time.

Templates live in templates/ (email/NAME.subject.txt, NAME.txt, NAME.html; sms/NAME.txt) and
render in Jinja2's sandbox with StrictUndefined (a missing variable is an error, not a blank),
HTML autoescaped. The recipient's data is read when the message is sent, so a changed address
or office is reflected. This is the worker's minimal renderer; the campaigns issue grows it
(filters, segments, plan-time checks against real audiences).
"""

from __future__ import annotations

import functools
import logging
import re
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Literal, cast, overload
from urllib.parse import urlencode, urlsplit

import phonenumbers
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Connection, Engine

from outreach.campaigns.packets import issue_link
from outreach.campaigns.sms import (  # noqa: F401  (sms_segments: the stable API names it here)
    SmsSegments,
    normalize_typography,
    sms_segments,
)
from outreach.campaigns.stances import and_list, office_stance, stance_view
from outreach.clock import utcnow
from outreach.config import default_of
from outreach.errors import NoOneToSpeakFor, RenderError, TemplateFailure
from outreach.message import Message
from outreach.privacy import mask, mask_text
from outreach.roster.offices import POLICY_FIELDS, ContactPolicy, Office, Roster
from outreach.roster.stances import OfficeStance, current_stances
from outreach.store.outbox import OutboxRow
from outreach.store.packets import constituent_count
from outreach.store.signers import assign_unsubscribe_tokens, recipients
from outreach.store.stances import newest_stance_id, stances_table_exists

log = logging.getLogger("outreach.render")
# Where links point when OUTREACH_PUBLIC_URL is not set: a local `outreach serve` (its default
# address), for the files transport only. The worker never hands a message carrying it to a
# transport that reaches people (Message.placeholders).
LOCAL_PUBLIC_URL = "http://localhost:8000"
STALE_DAYS: int = default_of("OUTREACH_ROSTER_STALE_DAYS")
NO_POSTAL_ADDRESS = ("[no postal address: set the campaign's sender.mailing_address or "
                     "OUTREACH_MAILING_ADDRESS; placeholder of the files transport]")


def first_name(value: object, fallback: str = "Friend") -> str:
    """A greeting name: the first word of what the signer typed, or the fallback."""
    words = str(value or "").split()
    return words[0] if words else fallback


def format_phone(value: object) -> str:
    """+12156868000 or 2156868000 -> (215) 686-8000; anything else unchanged."""
    digits = "".join(c for c in str(value or "") if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return str(value or "")
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def tel_uri(value: object) -> str:
    """A phone number as a tel: link (RFC 3966: the global number, +14123504400, with an
    extension as ;ext=12), or "" for text that is not a valid number. A link to the display
    form, tel:(412) 350-4400, is not a valid URI, and phones and mail clients differ in what
    they make of it."""
    try:
        number = phonenumbers.parse(str(value or ""), "US")
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    extension = f";ext={number.extension}" if number.extension else ""
    return f"tel:{phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)}" \
           f"{extension}"


def _moved_from(person: Mapping[str, Any], office_id: str) -> bool:
    """Whether office mail planned for this constituent no longer speaks for them: their match
    now names offices and this is neither (a county picked on the thanks page, a rematch). A
    signer with no office now (unmatched, ambiguous) is kept: not known to have moved."""
    offices = {person.get("felony_office_id"), person.get("misdemeanor_office_id")} - {None}
    return bool(offices) and office_id not in offices


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """1 signer, 2 signers (plural_form for irregular words)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def end_sentence(text: str) -> str:
    """Close a sentence with one period: a name that ends in one ("Ralph D. Ward Jr.") must
    not make "Jr.." in the text a prosecutor's staff read aloud (`{% filter end_sentence %}`)."""
    stripped = text.rstrip()
    return stripped if stripped.endswith((".", "!", "?")) else f"{stripped}."


def with_sms_identity(text: str, organization: str) -> str:
    """Every text names its sender and says how to stop (CTIA guidelines, carriers' filters):
    a template an organizer edited without them gets them added, not sent bare."""
    if organization.lower() not in text.lower():
        text = f"{organization}: {text}"
    if "STOP" not in text:
        text = f"{text} Reply STOP to opt out."
    return text


def contact_level(office: dict[str, str] | None) -> str:
    """The best way a message can point its reader at their office: the templates fall back
    from the phone to the website to the office's name ("find your prosecutor's office")."""
    if office is None:
        return "no office known"
    if office.get("phone"):
        return "phone"
    return "website (no phone)" if office.get("website") else "office name only"


def contact_lead(office: dict[str, str] | None) -> str | None:
    """The contact field a message points its reader at when that value is a lead (a
    secondary or old source), else None: what `outreach plan` counts."""
    level = contact_level(office)
    used = {"phone": "phone", "website (no phone)": "website"}.get(level)
    return used if used and office and office.get(f"{used}_status") == "lead" else None


# Names reserved so they never reach anyone (RFC 2606, RFC 6761): a sender address there is
# the sample's or a default, not the organization's.
RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
RESERVED_TLDS = ("example", "test", "invalid", "localhost")
# A postal address no mail reaches: a number of zeros only (PO Box 0000, ZIP 00000; no U.S.
# box, street number or ZIP is one) or a word that says it is to be filled in.
_PLACEHOLDER_ADDRESS = re.compile(
    r"(?<![\w-])(?:box\s*#?\s*)?0{2,}(?![\w-])|\bbox\s*#?\s*0\b"
    r"|\b(?:x{3,}|tbd|todo|changeme|placeholder|your\s+(?:postal\s+|mailing\s+|street\s+)?"
    r"address)\b", re.IGNORECASE)


def reserved_sender_domain(address: str) -> str | None:
    """The domain of a sender address ("Org <team@org.example>") if it is one no mail can
    come from (RFC 2606 / RFC 6761: example.com, .net, .org and their subdomains, the .example,
    .test, .invalid and .localhost names, localhost), or "" for an address without a domain;
    None for a real one."""
    _, at, domain = _mailbox(address).rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not domain:
        return ""
    if domain in RESERVED_TLDS or domain.rsplit(".", 1)[-1] in RESERVED_TLDS or any(
            domain == d or domain.endswith("." + d) for d in RESERVED_DOMAINS):
        return domain
    return None


def placeholder_postal_address(address: str) -> bool:
    """Is this postal address an obvious stand-in ("PO Box 0000", "ZIP 00000", "TBD")?
    CAN-SPAM (15 U.S.C. 7704(a)(5)(A)(iii)) requires a valid physical postal address."""
    return bool(_PLACEHOLDER_ADDRESS.search(address))


@dataclass(frozen=True)
class Sender:
    email: str  # "Name <address>", the organization's own domain
    sms: str  # a number or messaging service label, for the record
    organization: str
    mailing_address: str  # CAN-SPAM: a valid physical postal address in every email
    public_url: str = ""  # the petition's address: unsubscribe and share links

    def missing_settings(self) -> list[str]:
        """What an email from this sender would lack, one reason per setting (empty: none).

        CAN-SPAM (15 U.S.C. 7704(a)(3) and (a)(5)(A)(iii)) requires a working opt-out and a
        valid physical postal address in every commercial email, and Gmail and Yahoo require
        RFC 8058 one-click unsubscribe of bulk senders: without an absolute public URL the
        unsubscribe link cannot work, so such an email is held, never sent degraded."""
        problems = []
        if not self.public_url:
            problems.append("OUTREACH_PUBLIC_URL is not set: every supporter email needs a "
                            "working unsubscribe link (CAN-SPAM, RFC 8058)")
        elif not self.has_public_url():
            problems.append(f"OUTREACH_PUBLIC_URL={self.public_url!r} is not an absolute "
                            "http(s) URL: every supporter email needs a working unsubscribe "
                            "link (CAN-SPAM, RFC 8058)")
        return problems + self.missing_office_settings()

    def missing_office_settings(self) -> list[str]:
        """What a letter to an office would lack: it has no unsubscribe link (it is not a
        list mailing), but carries the postal address like every email (CAN-SPAM), and comes
        from the organization's own address. A placeholder (the sample campaign's, a
        default) is a missing setting: it stops the send, never degrades it."""
        problems = []
        domain = reserved_sender_domain(self.email)
        if domain is not None:
            problems.append(f"the sender address {_mailbox(self.email) or self.email!r} is "
                            + (f"on the reserved domain {domain} (RFC 2606, RFC 6761), a "
                               "placeholder" if domain else "not an email address")
                            + ": set the campaign's sender.email_from (or OUTREACH_EMAIL_FROM) "
                            "to the organization's own address")
        if not self.mailing_address.strip():
            problems.append("no postal address: set the campaign's sender.mailing_address or "
                            "OUTREACH_MAILING_ADDRESS (CAN-SPAM requires one in every email)")
        elif placeholder_postal_address(self.mailing_address):
            problems.append(f"the postal address {self.mailing_address!r} is a placeholder: set "
                            "the campaign's sender.mailing_address or OUTREACH_MAILING_ADDRESS "
                            "to the organization's own (CAN-SPAM requires a valid physical "
                            "postal address in every email)")
        return problems

    def has_public_url(self) -> bool:
        url = urlsplit(self.public_url)
        return url.scheme in ("http", "https") and bool(url.netloc)

    def link_base(self) -> str:
        """Where links point: the public URL, else the local placeholder (files only)."""
        return self.public_url if self.has_public_url() else LOCAL_PUBLIC_URL


def office_view(office: Office, today: date, stale_days: int,
                contacts: ContactPolicy = "any") -> dict[str, str]:
    """What a template (or the thanks page) sees of an office: its lookup fields, with
    `officeholder` empty unless the name was confirmed within `stale_days` of `today`
    (Office.officeholder_state: a message that names a prosecutor who left office discredits
    the whole campaign), `addressee` naming the holder by title alone ("the Cook County
    State's Attorney") and `officeholder_status` (current, stale or missing); without the
    phone, email and website a message may not use (OUTREACH_CONTACTS=verified keeps only
    verified ones), so the templates' fallbacks (phone -> website -> the office's name) apply
    to what is left."""
    view = office.summary()
    for name in POLICY_FIELDS:
        if not office.usable(name, contacts):
            view[name] = view[f"{name}_status"] = view[f"{name}_source"] = ""
    view["officeholder"] = office.current_officeholder(today, stale_days)
    view["officeholder_status"] = office.officeholder_state(today, stale_days)
    view["addressee"] = office.addressee
    return view


def _today() -> date:
    return utcnow().date()


class Renderer:
    """Renders outbox rows at send time. `roster` is the roster it renders with, or a function
    returning the current one (a worker runs for months: names and offices that change on a
    known day switch then); an officeholder's name is used only while current on the day the
    message renders (`today`, OUTREACH_ROSTER_STALE_DAYS as `stale_days`)."""

    def __init__(self, engine: Engine, roster: Roster | Callable[[], Roster], templates: Path,
                 sender: Sender,
                 campaign_sender: Callable[[str], Sender | None] = lambda name: None, *,
                 stale_days: int = STALE_DAYS, today: Callable[[], date] = _today,
                 packet_link_days: int = default_of("OUTREACH_PACKET_LINK_DAYS")):
        self.engine = engine
        self._roster = roster
        self.stale_days = stale_days
        self.today = today
        self.packet_link_lifetime = timedelta(days=packet_link_days)
        self.sender = sender
        self.campaign_sender = campaign_sender  # a campaign's own sender identity wins
        self.environment = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates)), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=False)
        self.environment.filters.update(first_name=first_name, phone=format_phone,
                                        plural=plural, and_list=and_list, tel=tel_uri,
                                        end_sentence=end_sentence)
        # How each rendered message could reach its office: `outreach plan` shows the counts.
        self.fallbacks: Counter[str] = Counter()
        # Messages whose office contact is a lead, by field (phone, website, email).
        self.leads: Counter[str] = Counter()
        # Every office's stance, read again only when a statement was recorded since (its
        # newest id): one cheap query per batch on the send path, not one per message.
        self.stances: dict[str, OfficeStance] = {}
        self._stance_views: dict[str, Mapping[str, object]] = {}
        self._stance_mark: int | None = None
        self._stances_stored = False

    @property
    def roster(self) -> Roster:
        """The roster messages render with now."""
        return self._roster() if callable(self._roster) else self._roster

    def render_batch(self, rows: Sequence[OutboxRow]) -> dict[int, Message | RenderError]:
        """Render a claimed batch, reading its recipients in one query (and the stances
        once, if any was recorded since the last batch)."""
        ids = [int(r.recipient_id) for r in rows if r.recipient_kind == "signer"]
        for row in rows:  # office mail quotes its constituents
            if row.recipient_kind == "office":
                ids.extend(_context_ids(row.context.get("signer_ids", [])))
                if "signer_id" in row.context:
                    ids.append(_context_id(row.context["signer_id"]))
        people: dict[int, dict[str, Any]] = {}
        if rows:
            with self.engine.connect() as connection:
                self._refresh_stances(connection)
                if ids:
                    people = recipients(connection, ids)
            self._assign_missing_tokens(rows, people)
        results: dict[int, Message | RenderError] = {}
        # One roster and one day for the whole batch: its messages agree with each other.
        batch = _Batch(self.roster, self.today(), {}, {})
        for row in rows:
            try:
                results[row.id] = self._render(row, people, batch)
            except RenderError as error:
                results[row.id] = error
            except Exception as error:  # one row's surprise is that row's error, not a crash
                log.exception("rendering outbox row %s failed", row.id)
                results[row.id] = RenderError(
                    f"{type(error).__name__}: {mask_text(str(error))}")
        return results

    def _assign_missing_tokens(self, rows: Sequence[OutboxRow],
                               people: dict[int, dict[str, Any]]) -> None:
        """Unsubscribe tokens for the batch's email recipients planned before tokens existed,
        in one transaction for the whole batch (the planner gives them to new supporters)."""
        missing = sorted({int(r.recipient_id) for r in rows
                          if r.recipient_kind == "signer" and r.channel == "email"
                          and int(r.recipient_id) in people
                          and not people[int(r.recipient_id)].get("unsubscribe_token")})
        if missing:
            with self.engine.begin() as connection:
                assign_unsubscribe_tokens(connection, missing)
                people.update(recipients(connection, missing))

    def _refresh_stances(self, connection: Connection) -> None:
        """Read the stances again if one was recorded since they were read (a long-running
        worker sees an office's new commitment in its next batch). A store migrated before
        the stances existed has none: every office is unknown."""
        if not self._stances_stored:
            self._stances_stored = stances_table_exists(connection)
            if not self._stances_stored:
                return
        mark = newest_stance_id(connection)
        if mark != self._stance_mark:
            self.stances = current_stances(connection)
            self._stance_views = {}
            self._stance_mark = mark

    def stance(self, office_id: object) -> Mapping[str, object] | None:
        """The templates' view of an office's stance (None: no office), see stance_view;
        worked out once per office until a stance is recorded (it is read-only)."""
        if not office_id:
            return None
        key = str(office_id)
        view = self._stance_views.get(key)
        if view is None:
            view = self._stance_views[key] = stance_view(office_stance(self.stances, key))
        return view

    def _render(self, row: OutboxRow, people: dict[int, dict[str, Any]],
                batch: _Batch) -> Message:
        try:
            if row.recipient_kind == "office":
                return self._render_office(row, people, batch)
            return self._render_supporter(row, people, batch)
        except TemplateFailure as failure:
            signer = people.get(int(row.recipient_id)) if row.recipient_kind == "signer" \
                else None
            address = (signer or {}).get("email" if row.channel == "email" else "phone")
            failure.recipient = mask(address) if address else \
                f"{row.recipient_kind} {row.recipient_id}"
            raise

    def _sender(self, row: OutboxRow) -> Sender:
        """The campaign's own identity, its gaps filled from the deployment's settings."""
        own = self.campaign_sender(row.campaign)
        if own is None:
            return self.sender
        return Sender(own.email, own.sms, own.organization,
                      own.mailing_address or self.sender.mailing_address,
                      own.public_url or self.sender.public_url)

    def _render_supporter(self, row: OutboxRow, people: dict[int, dict[str, Any]],
                          batch: _Batch) -> Message:
        signer = people.get(int(row.recipient_id))
        if signer is None:
            raise RenderError(f"signer {row.recipient_id} no longer exists")
        office = self._office(signer.get("felony_office_id"), batch)
        misdemeanor_office = self._office(signer.get("misdemeanor_office_id"), batch)
        self.fallbacks[contact_level(office)] += 1
        lead = contact_lead(office)
        if lead:
            self.leads[lead] += 1
        sender = self._sender(row)
        context = {"signer": signer, "office": office, "misdemeanor_office": misdemeanor_office,
                   "stance": self.stance(signer.get("felony_office_id")) if office else None,
                   "misdemeanor_stance": self.stance(signer.get("misdemeanor_office_id"))
                   if misdemeanor_office else None,
                   "organization": sender.organization,
                   "mailing_address": sender.mailing_address or NO_POSTAL_ADDRESS,
                   "share_url": sender.link_base() + "/"
                   + (f"?ref={signer['referral_code']}" if signer.get("referral_code") else ""),
                   # The signer's call page, naming the campaign whose message links it (the
                   # calls it brings are counted under it): empty without a referral code.
                   "call_url": (f"{sender.link_base()}/call/{signer['referral_code']}?"
                                + urlencode({"c": row.campaign})
                                if signer.get("referral_code") else ""),
                   **row.context}
        if row.channel == "email":
            if not signer.get("email"):
                raise RenderError("the signer has no email address")
            unsubscribe = self._unsubscribe_url(sender, signer["unsubscribe_token"])
            context["unsubscribe_url"] = unsubscribe
            missing = _missing_settings(sender, supporters=True)
            return Message(row.id, "email", signer["email"], sender.email,
                           headers=self._unsubscribe_headers(sender, unsubscribe,
                                                             signer["unsubscribe_token"])
                           | self._placeholder_header(missing),
                           text=self._text(f"email/{row.template}.txt", context, batch),
                           subject=" ".join(self._text(f"email/{row.template}.subject.txt",
                                                       context, batch).split()),
                           html=self._text(f"email/{row.template}.html", context, batch,
                                           optional=True),
                           placeholders=missing)
        if not signer.get("phone"):
            raise RenderError("the signer has no phone number")
        # One line, and typographic quotes/dashes as their GSM-7 twins: a single curly quote
        # would make the message UCS-2 and halve what fits in a segment.
        text = " ".join(normalize_typography(self._text(f"sms/{row.template}.txt",
                                                         context, batch)).split())
        # A text needs no unsubscribe link, but one carrying a link to the local placeholder
        # (an organizer's template with share_url, no OUTREACH_PUBLIC_URL) would hand real
        # people a dead localhost address: held before a real transport, like such email.
        dead_link = not sender.has_public_url() and LOCAL_PUBLIC_URL in text
        return Message(row.id, "sms", signer["phone"], sender.sms,
                       text=with_sms_identity(text, sender.organization),
                       placeholders=("OUTREACH_PUBLIC_URL is not set: this text's link would "
                                     "point at " + LOCAL_PUBLIC_URL,) if dead_link else ())

    @staticmethod
    def _unsubscribe_url(sender: Sender, token: str) -> str:
        return f"{sender.link_base()}/u/{token}"

    @staticmethod
    def _placeholder_header(missing: tuple[str, ...]) -> dict[str, str]:
        """A reader of the demo's .eml sees that its links and address are stand-ins."""
        if not missing:
            return {}
        links = f"; links point at {LOCAL_PUBLIC_URL}" if any(
            m.startswith("OUTREACH_PUBLIC_URL") for m in missing) else ""
        return {"X-Outreach-Placeholder": f"not for real recipients: {'; '.join(missing)}"
                                          f"{links}"}

    @staticmethod
    def _unsubscribe_headers(sender: Sender, url: str, token: str) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe (web and mail) and RFC 8058 one-click, as Gmail and
        Yahoo require of bulk senders; the mailto reaches the organization's own address."""
        mailbox = _mailbox(sender.email)
        return {"List-Unsubscribe": f"<{url}>, <mailto:{mailbox}?subject=unsubscribe-{token}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def _render_office(self, row: OutboxRow, people: dict[int, dict[str, Any]],
                       batch: _Batch) -> Message:
        """A constituent letter (Reply-To the signer, never From them) or an office digest."""
        office_id = str(row.context["office_id"])
        office = self._office(office_id, batch)
        if office is None:
            raise RenderError(f"office {office_id} is no longer in the roster")
        address = office["email"]
        if not address:
            raise RenderError(f"office {office_id} has no email address")
        if not office["email"]:
            raise RenderError(f"office {office_id} has no verified email address "
                              "(OUTREACH_CONTACTS=verified; its email is a lead)")
        if office["email_status"] == "lead":
            self.leads["email"] += 1
        sender = self._sender(row)
        listed = [people[i] for i in _context_ids(row.context.get("signer_ids", []))
                  if i in people]
        constituents = [p for p in listed if not _moved_from(p, office_id)]
        if listed and not constituents:
            raise NoOneToSpeakFor(f"every constituent of this digest ({len(listed)}) lives "
                                  "under another office now")
        signer = people.get(_context_id(row.context["signer_id"])) \
            if "signer_id" in row.context else None
        if "signer_id" in row.context and signer is None:
            raise RenderError(f"signer {row.context['signer_id']} no longer exists")
        if signer is not None and _moved_from(signer, office_id):
            raise NoOneToSpeakFor("the signer lives under another office now")
        self.fallbacks["salutation: officeholder" if office.get("officeholder")
                       else "salutation: office name only"] += 1
        context = {"office": office, "stance": self.stance(office_id), "signer": signer,
                   "constituents": constituents,
                   "count": len(constituents), "day": row.context.get("day"),
                   "organization": sender.organization,
                   "mailing_address": sender.mailing_address or NO_POSTAL_ADDRESS,
                   **self._packet_context(row, office_id, sender)}
        reply_to = signer.get("email") if signer else None
        missing = _missing_settings(sender, supporters=False)
        return Message(row.id, "email", address, sender.email, reply_to=reply_to,
                       headers=self._placeholder_header(missing),
                       text=self._text(f"email/{row.template}.txt", context, batch),
                       subject=" ".join(self._text(f"email/{row.template}.subject.txt",
                                                   context, batch).split()),
                       html=self._text(f"email/{row.template}.html", context, batch,
                                       optional=True),
                       placeholders=missing)

    def _packet_context(self, row: OutboxRow, office_id: str, sender: Sender
                        ) -> dict[str, object]:
        """A digest's view of the office's whole packet: how many constituents signed in all
        (`total_count`) and a link to the packet (`packet_url`, until `packet_expires`).

        The link is an unguessable token that expires and can be revoked (issue_link): the
        packet names the office's constituents, for the office's eyes. Without an absolute
        public URL there is no link (it would point at a placeholder): the count alone."""
        if "signer_ids" not in row.context:  # a letter from one constituent: no packet
            return {"total_count": 0, "packet_url": "", "packet_expires": ""}
        with self.engine.connect() as connection:
            total = constituent_count(connection, office_id)
        if not sender.has_public_url():
            return {"total_count": total, "packet_url": "", "packet_expires": ""}
        with self.engine.begin() as connection:
            link = issue_link(connection, office_id, now=utcnow(),
                              lifetime=self.packet_link_lifetime,
                              issued_by=f"digest:{row.campaign}")
        return {"total_count": total,
                "packet_url": f"{sender.public_url.rstrip('/')}/packet/{link.token}",
                "packet_expires": link.expires_at.date().isoformat()}

    def _office(self, office_id: str | None, batch: _Batch) -> dict[str, str] | None:
        """The template's view of an office (office_view; the roster may have dropped it since
        the match), worked out once per office in a batch; each message gets its own copy (a
        template may not change what the next one sees)."""
        if not office_id:
            return None
        if office_id not in batch.offices:
            try:
                batch.offices[office_id] = office_view(
                    batch.roster.office(office_id), batch.day, self.stale_days,
                    batch.roster.contacts)
            except KeyError:
                batch.offices[office_id] = None
        view = batch.offices[office_id]
        return dict(view) if view is not None else None

    def _template(self, name: str, batch: _Batch) -> Template | None:
        """The compiled template (None: no such file), looked up once per batch: Jinja's own
        cache checks the file's modification time on every lookup, a stat per message; per
        batch, an organizer's edit still reaches the next batch."""
        if name not in batch.templates:
            try:
                batch.templates[name] = self.environment.get_template(name)
            except TemplateNotFound:
                batch.templates[name] = None
            except Exception as error:
                line = getattr(error, "lineno", None)
                raise TemplateFailure(f"template {name}{f' line {line}' if line else ''}: "
                                      f"{_describe(error)}") from None
        return batch.templates[name]

    @overload
    def _text(self, name: str, context: Mapping[str, object], batch: _Batch, *,
              optional: Literal[False] = False) -> str: ...

    @overload
    def _text(self, name: str, context: Mapping[str, object], batch: _Batch, *,
              optional: Literal[True]) -> str | None: ...

    def _text(self, name: str, context: Mapping[str, object], batch: _Batch, *,
              optional: bool = False) -> str | None:
        """Render one template file. Anything it raises (Jinja's errors, and Python's own
        inside the sandbox: a division by zero, the sandbox's "range too big") becomes a
        TemplateFailure naming the file and line, never an exception out of the worker."""
        template = self._template(name, batch)
        if template is None:
            if optional:
                return None
            raise TemplateFailure(f"template {name} not found")
        try:
            return template.render(context)
        except Exception as error:
            # Jinja rewrites tracebacks to template lines: the innermost one in this file.
            lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
                     if f.filename == template.filename]
            where = f" line {lines[-1]}" if lines else ""
            raise TemplateFailure(f"template {name}{where}: {_describe(error)}") from None


@dataclass(frozen=True)
class _Batch:
    """What one batch's messages share: the roster and day they render with, and what is
    worked out once for all of them (office views, compiled templates)."""

    roster: Roster
    day: date
    offices: dict[str, dict[str, str] | None]
    templates: dict[str, Template | None]


@functools.lru_cache(maxsize=256)
def _missing_settings(sender: Sender, *, supporters: bool) -> tuple[str, ...]:
    """A sender's missing settings (Sender.missing_settings, or the office letters' own),
    worked out once per sender: every message of every batch asks, and the checks parse the
    address and the URL (a few per cent of the send path's CPU per message)."""
    return tuple(sender.missing_settings() if supporters else sender.missing_office_settings())


@functools.lru_cache(maxsize=64)
def _mailbox(address: str) -> str:
    """The bare address of a sender ("Org <team@org.example>"): one parse per sender, not
    one per message."""
    return parseaddr(address)[1]


def _context_id(value: object) -> int:
    """A signer id from an outbox row's context (JSON: an int, or a numeric string)."""
    return int(cast("int | str", value))


def _context_ids(value: object) -> list[int]:
    """The signer ids of an outbox row's context list (signer_ids of an office digest)."""
    return [_context_id(i) for i in cast("Iterable[object]", value)]


def _describe(error: Exception) -> str:
    """Jinja's own messages read well alone; Python's need their type ("division by zero"),
    and none may carry a signer's contact details (a template can print anything)."""
    text = str(error) if isinstance(error, TemplateError) else \
        f"{type(error).__name__}: {error}"
    return mask_text(text)
