"""Outbox row (template + context ids) -> a rendered Message, at send time.

Templates live in templates/ (email/NAME.subject.txt, NAME.txt, NAME.html; sms/NAME.txt) and
render in Jinja2's sandbox with StrictUndefined (a missing variable is an error, not a blank),
HTML autoescaped. The recipient's data is read when the message is sent, so a changed address
or office is reflected. This is the worker's minimal renderer; the campaigns issue grows it
(filters, segments, plan-time checks against real audiences).
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    select_autoescape,
)
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import Engine, select

from outreach.roster import Roster
from outreach.sms import (  # noqa: F401  (sms_segments: the stable API names it here)
    SmsSegments,
    normalize_typography,
    sms_segments,
)
from outreach.store.outbox import OutboxRow
from outreach.store.schema import signer_matches, signers
from outreach.store.signers import assign_unsubscribe_tokens
from outreach.transports.base import Message


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


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """1 signer, 2 signers (plural_form for irregular words)."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


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


class RenderError(ValueError):
    """This row cannot become a message (no template, no address, a template error)."""


@dataclass(frozen=True)
class Sender:
    email: str  # "Name <address>", the organization's own domain
    sms: str  # a number or messaging service label, for the record
    organization: str
    mailing_address: str  # CAN-SPAM: a valid physical postal address in every email
    public_url: str = ""  # the petition's address, for share links


class Renderer:
    def __init__(self, engine: Engine, roster: Roster, templates: Path, sender: Sender,
                 campaign_sender: Callable[[str], Sender | None] = lambda name: None):
        self.engine = engine
        self.roster = roster
        self.sender = sender
        self.campaign_sender = campaign_sender  # a campaign's own sender identity wins
        self.environment = SandboxedEnvironment(
            loader=FileSystemLoader(str(templates)), undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=False)
        self.environment.filters.update(first_name=first_name, phone=format_phone,
                                        plural=plural)
        # How each rendered message could reach its office: `outreach plan` shows the counts.
        self.fallbacks: Counter[str] = Counter()

    def render_batch(self, rows: Sequence[OutboxRow]) -> dict[int, Message | RenderError]:
        """Render a claimed batch, reading its recipients in one query."""
        ids = [int(r.recipient_id) for r in rows if r.recipient_kind == "signer"]
        for row in rows:  # office mail quotes its constituents
            if row.recipient_kind == "office":
                ids.extend(int(i) for i in row.context.get("signer_ids", []))
                if "signer_id" in row.context:
                    ids.append(int(row.context["signer_id"]))
        people: dict[int, dict] = {}
        if ids:
            query = (select(signers, signer_matches.c.felony_office_id,
                            signer_matches.c.misdemeanor_office_id)
                     .join(signer_matches, signer_matches.c.signer_id == signers.c.id,
                           isouter=True)
                     .where(signers.c.id.in_(ids)))
            with self.engine.connect() as connection:
                people = {r.id: dict(r._mapping) for r in connection.execute(query)}
        results: dict[int, Message | RenderError] = {}
        for row in rows:
            try:
                results[row.id] = self._render(row, people)
            except RenderError as error:
                results[row.id] = error
        return results

    def _render(self, row: OutboxRow, people: dict[int, dict]) -> Message:
        if row.recipient_kind == "office":
            return self._render_office(row, people)
        signer = people.get(int(row.recipient_id))
        if signer is None:
            raise RenderError(f"signer {row.recipient_id} no longer exists")
        office = self._office(signer.get("felony_office_id"))
        misdemeanor_office = self._office(signer.get("misdemeanor_office_id"))
        self.fallbacks[contact_level(office)] += 1
        sender = self.campaign_sender(row.campaign) or self.sender
        context = {"signer": signer, "office": office, "misdemeanor_office": misdemeanor_office,
                   "organization": sender.organization,
                   "mailing_address": sender.mailing_address,
                   "share_url": (sender.public_url or "(set OUTREACH_PUBLIC_URL)") + "/"
                   + (f"?ref={signer['referral_code']}" if signer.get("referral_code") else ""),
                   **row.context}
        if row.channel == "email":
            if not signer.get("email"):
                raise RenderError("the signer has no email address")
            if not signer.get("unsubscribe_token"):
                with self.engine.begin() as connection:  # planned before tokens existed
                    assign_unsubscribe_tokens(connection, [signer["id"]])
                    signer["unsubscribe_token"] = connection.execute(
                        select(signers.c.unsubscribe_token)
                        .where(signers.c.id == signer["id"])).scalar_one()
            unsubscribe = self._unsubscribe_url(sender, signer["unsubscribe_token"])
            context["unsubscribe_url"] = unsubscribe
            return Message(row.id, "email", signer["email"], sender.email,
                           headers=self._unsubscribe_headers(sender, unsubscribe,
                                                             signer["unsubscribe_token"]),
                           text=self._text(f"email/{row.template}.txt", context),
                           subject=" ".join(self._text(f"email/{row.template}.subject.txt",
                                                       context).split()),
                           html=self._text(f"email/{row.template}.html", context,
                                           optional=True))
        if not signer.get("phone"):
            raise RenderError("the signer has no phone number")
        # One line, and typographic quotes/dashes as their GSM-7 twins: a single curly quote
        # would make the message UCS-2 and halve what fits in a segment.
        text = " ".join(normalize_typography(self._text(f"sms/{row.template}.txt",
                                                         context)).split())
        return Message(row.id, "sms", signer["phone"], sender.sms,
                       text=with_sms_identity(text, sender.organization))

    @staticmethod
    def _unsubscribe_url(sender: Sender, token: str) -> str:
        return f"{sender.public_url or '(set OUTREACH_PUBLIC_URL)'}/u/{token}"

    @staticmethod
    def _unsubscribe_headers(sender: Sender, url: str, token: str) -> dict[str, str]:
        """RFC 2369 List-Unsubscribe (web and mail) and RFC 8058 one-click, as Gmail and
        Yahoo require of bulk senders; the mailto reaches the organization's own address."""
        mailbox = parseaddr(sender.email)[1]
        return {"List-Unsubscribe": f"<{url}>, <mailto:{mailbox}?subject=unsubscribe-{token}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def _render_office(self, row: OutboxRow, people: dict[int, dict]) -> Message:
        """A constituent letter (Reply-To the signer, never From them) or an office digest."""
        office_id = str(row.context["office_id"])
        office = self._office(office_id)
        if office is None:
            raise RenderError(f"office {office_id} is no longer in the roster")
        address = self.roster.office(office_id).email
        if not address:
            raise RenderError(f"office {office_id} has no email address")
        sender = self.campaign_sender(row.campaign) or self.sender
        constituents = [people[int(i)] for i in row.context.get("signer_ids", [])
                        if int(i) in people]
        signer = people.get(int(row.context["signer_id"])) if "signer_id" in row.context \
            else None
        if "signer_id" in row.context and signer is None:
            raise RenderError(f"signer {row.context['signer_id']} no longer exists")
        self.fallbacks["salutation: officeholder" if office.get("officeholder")
                       else "salutation: office name only"] += 1
        context = {"office": office, "signer": signer, "constituents": constituents,
                   "count": len(constituents), "day": row.context.get("day"),
                   "organization": sender.organization,
                   "mailing_address": sender.mailing_address}
        reply_to = signer.get("email") if signer else None
        return Message(row.id, "email", address, sender.email, reply_to=reply_to,
                       text=self._text(f"email/{row.template}.txt", context),
                       subject=" ".join(self._text(f"email/{row.template}.subject.txt",
                                                   context).split()),
                       html=self._text(f"email/{row.template}.html", context, optional=True))

    def _office(self, office_id: str | None) -> dict[str, str] | None:
        """The template's view of an office (the roster may have dropped it since the match)."""
        if not office_id:
            return None
        try:
            return self.roster.office(office_id).summary()
        except KeyError:
            return None

    def _text(self, name: str, context: dict, *, optional: bool = False) -> str | None:
        try:
            template = self.environment.get_template(name)
        except TemplateNotFound:
            if optional:
                return None
            raise RenderError(f"template {name} not found") from None
        except TemplateError as error:
            raise RenderError(f"template {name}: {error}") from None
        try:
            return template.render(context)
        except TemplateError as error:
            # Jinja rewrites tracebacks to template lines: the innermost one in this file.
            lines = [f.lineno for f in traceback.extract_tb(error.__traceback__)
                     if f.filename == template.filename]
            where = f" line {lines[-1]}" if lines else ""
            raise RenderError(f"template {name}{where}: {error}") from None
