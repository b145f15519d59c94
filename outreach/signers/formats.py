"""The export formats of the tools organizers use: one small profile per tool, recognized from
the header, saying which column means what and how its status values read.

A profile is data, not a subclass: the columns it knows (in order of preference, so an
ActionKit `mobile_phone` wins over its `home_phone`), the headers that identify it, and its
subscription-status vocabulary. What the file gives as a status is the platform's *current*
state of that person, as of the export, so an opt-out in it applies whatever the row's date
(`outreach.intake` applies it after the merge). Columns a profile does not name fall back to
`intake.HEADER_ALIASES`; whatever is left is reported, never dropped in silence.

Where the header names come from (looked up 2026-12; where a name is unconfirmed it says so):

- Action Network: `email, first_name, last_name, zip_code, can2_phone, can2_sms_status,
  can2_user_address, can2_user_city, can2_state_abbreviated, can2_county,
  can2_subscription_status, can2_user_tags, uuid` appear in organizers' public scripts that
  read AN report exports (a SURJ Bay Area AN->EveryAction sync reads `can2_sms_status ==
  "subscribed"` as the mobile opt-in and `can2_subscription_status == "unsubscribed"`).
  The email statuses are AN's API values (actionnetwork.org/docs/v2/people, as quoted by the
  Parsons connector): subscribed, unsubscribed, bouncing, previous bounce, spam complaint,
  previous spam complaint; mobile statuses: subscribed, unsubscribed (also the default of
  anyone never added to the mobile list), bouncing, previous bounce. `can2_created_date`,
  `can2_country` and `can2_user_state` are not confirmed by a public source (the first is the
  spelling of the tryout's export).
- ActionKit: docs.actionkit.com "Users" (core_user.subscription_status: subscribed,
  unsubscribed, bounced, never, blocked) and "Uploads Reference: Accepted Headers" (akid,
  address1, address2, city, state, zip, country, created_at...); core_user also has prefix,
  middle_name, suffix, plus4, postal, region, rand_id. The phone headers (phone, home_phone,
  mobile_phone, work_phone) follow the uploads page's naming but were not confirmed. ActionKit
  exports carry no SMS consent we could confirm: map one with `--map`.
- EveryAction / NGP VAN: the headers "VANID", "First", "Last", "Email", "Home Phone",
  "Cell Phone", "Address Line 1", "City", "State/Province", "Zip/Postal", "Date Created" are
  the ones organizers quote; not confirmed against a published export layout. Status values
  follow the VAN API's codes (email subscriptionStatus S / N / U, phoneOptInStatus
  I / U / O) and their spelled-out names.
- Mobilize: the field names of Mobilize's API attendances (person.given_name,
  person.family_name, person.sms_opt_in_status OPT_IN / OPT_OUT / UNSPECIFIED,
  created_date, timeslot_id, event_id); the spelling of its CSV download is not confirmed.
- Change.org: "Name", "City", "State", "Postal Code", "Country", "Signed On" as petition
  starters describe the signature download; not confirmed, and it carries no email consent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

SUBSCRIBED = "subscribed"  # a status meaning "may be emailed"
NOT_SUBSCRIBED = "not subscribed"  # not mailable, but no opt-out to keep either


def header_key(name: str) -> str:
    """How headers compare: case-insensitive, with spaces, dashes, dots, slashes as `_`."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def fold_status(column: pd.Series) -> pd.Series:
    """Status values as compared: lower case, `-` and `_` as spaces ("OPT_IN" == "opt in")."""
    return (column.astype(str).str.lower().str.replace(r"[-_\s]+", " ", regex=True)
            .str.strip())


@dataclass(frozen=True)
class ExportFormat:
    """One tool's export: its columns (header key -> our column, most preferred first), the
    headers that identify it (`min_marks` of them must be present), its email statuses
    (folded value -> SUBSCRIBED, NOT_SUBSCRIBED, or the suppression reason it means) and the
    folded SMS statuses that are an explicit opt-in (any other value is consent no)."""

    name: str
    title: str
    marks: frozenset[str]
    columns: tuple[tuple[str, str], ...]
    email_statuses: dict[str, str] = field(default_factory=dict)
    sms_opt_ins: frozenset[str] = frozenset()
    sms_statuses: frozenset[str] = frozenset()  # every SMS value it is known to use
    min_marks: int = 1

    def matches(self, keys: set[str]) -> bool:
        return len(self.marks & keys) >= self.min_marks

    @property
    def suppression_source(self) -> str:
        return f"import:{self.name}"


ACTION_NETWORK = ExportFormat(
    name="action_network", title="Action Network",
    marks=frozenset({"can2_phone", "can2_sms_status", "can2_subscription_status",
                     "can2_user_address", "can2_user_city", "can2_state_abbreviated",
                     "can2_user_state", "can2_created_date", "can2_county", "can2_user_tags"}),
    columns=(("email", "email"), ("first_name", "first_name"), ("last_name", "last_name"),
             ("can2_phone", "phone"), ("phone_number", "phone"),
             ("can2_user_address", "street"), ("can2_user_city", "city"),
             ("can2_state_abbreviated", "state"), ("can2_user_state", "state"),
             ("zip_code", "zip"), ("can2_country", "country"), ("country", "country"),
             ("can2_subscription_status", "email_status"), ("can2_sms_status", "sms_status"),
             ("can2_created_date", "signed_at")),
    email_statuses={"subscribed": SUBSCRIBED, "unsubscribed": "unsubscribed",
                    "bouncing": "bounced", "previous bounce": "bounced",
                    "spam complaint": "spam complaint",
                    # Unconfirmed whether "previous" means the person came back: kept off.
                    "previous spam complaint": "spam complaint"},
    sms_opt_ins=frozenset({"subscribed"}),
    sms_statuses=frozenset({"subscribed", "unsubscribed", "bouncing", "previous bounce"}),
)

ACTIONKIT = ExportFormat(
    name="actionkit", title="ActionKit",
    marks=frozenset({"akid", "rand_id", "plus4", "subscription_status", "address1",
                     "postal", "region", "mobile_phone", "home_phone", "middle_name"}),
    min_marks=2,
    columns=(("email", "email"), ("first_name", "first_name"), ("last_name", "last_name"),
             ("mobile_phone", "phone"), ("phone", "phone"), ("home_phone", "phone"),
             ("work_phone", "phone"), ("address1", "street"), ("address2", "street2"),
             ("city", "city"), ("state", "state"), ("zip", "zip"), ("country", "country"),
             ("subscription_status", "email_status"), ("created_at", "signed_at"),
             ("source", "source")),
    email_statuses={"subscribed": SUBSCRIBED, "unsubscribed": "unsubscribed",
                    "bounced": "bounced", "blocked": "blocked",
                    # Imported without a subscription: not mailable, and no opt-out either.
                    "never": NOT_SUBSCRIBED},
)

EVERYACTION = ExportFormat(
    name="everyaction", title="EveryAction / NGP VAN",
    marks=frozenset({"vanid", "van_id", "voter_file_vanid", "zip_postal", "state_province",
                     "cell_phone", "home_phone", "address_line_1", "date_created"}),
    min_marks=2,
    columns=(("email", "email"), ("preferred_email", "email"), ("email_address", "email"),
             ("first", "first_name"), ("first_name", "first_name"), ("firstname", "first_name"),
             ("last", "last_name"), ("last_name", "last_name"), ("lastname", "last_name"),
             ("cell_phone", "phone"), ("cellphone", "phone"), ("mobile_phone", "phone"),
             ("phone", "phone"), ("preferred_phone", "phone"), ("home_phone", "phone"),
             ("address_line_1", "street"), ("addressline1", "street"), ("address", "street"),
             ("address_line_2", "street2"), ("city", "city"),
             ("state_province", "state"), ("state", "state"),
             ("zip_postal", "zip"), ("zip5", "zip"), ("zip", "zip"),
             ("country", "country"),
             ("email_subscription_status", "email_status"),
             ("email_subscription", "email_status"),
             ("sms_opt_in_status", "sms_status"), ("cell_phone_opt_in_status", "sms_status"),
             ("phone_opt_in_status", "sms_status"),
             ("date_created", "signed_at"), ("created_date", "signed_at")),
    email_statuses={"subscribed": SUBSCRIBED, "s": SUBSCRIBED,
                    "not subscribed": NOT_SUBSCRIBED, "n": NOT_SUBSCRIBED,
                    "unsubscribed": "unsubscribed", "u": "unsubscribed",
                    "bounced": "bounced", "hard bounce": "bounced"},
    sms_opt_ins=frozenset({"i", "opt in", "opted in", "opt in status", "subscribed"}),
    sms_statuses=frozenset({"i", "u", "o", "opt in", "opted in", "unknown", "opt out",
                            "opted out", "subscribed", "unsubscribed"}),
)

MOBILIZE = ExportFormat(
    name="mobilize", title="Mobilize",
    marks=frozenset({"given_name", "family_name", "sms_opt_in_status", "timeslot_id",
                     "event_id", "attendance_status", "timeslot_start"}),
    min_marks=2,
    columns=(("email", "email"), ("email_address", "email"),
             ("given_name", "first_name"), ("first_name", "first_name"),
             ("family_name", "last_name"), ("last_name", "last_name"),
             ("phone_number", "phone"), ("phone", "phone"),
             ("postal_code", "zip"), ("zip", "zip"), ("zip_code", "zip"),
             ("sms_opt_in_status", "sms_status"), ("created_date", "signed_at"),
             ("signup_date", "signed_at")),
    sms_opt_ins=frozenset({"opt in", "opted in", "yes", "true"}),
    sms_statuses=frozenset({"opt in", "opted in", "opt out", "opted out", "unspecified", "yes",
                            "no", "true", "false"}),
)

CHANGE_ORG = ExportFormat(
    name="change_org", title="Change.org",
    marks=frozenset({"signed_on"}),
    columns=(("name", "full_name"), ("email", "email"), ("city", "city"), ("state", "state"),
             ("postal_code", "zip"), ("country", "country"), ("signed_on", "signed_at")),
)

# Detection tries them in this order: Action Network's can2_ prefix is unmistakable; the others
# need two of their marks, since each alone (a "Home Phone", a "subscription_status") is common.
FORMATS: tuple[ExportFormat, ...] = (ACTION_NETWORK, EVERYACTION, ACTIONKIT, MOBILIZE,
                                     CHANGE_ORG)

# No profile: the statuses of all of them read as themselves, for hand-made files.
GENERIC = ExportFormat(
    name="generic", title="generic", marks=frozenset(), columns=(),
    email_statuses={**EVERYACTION.email_statuses, **ACTIONKIT.email_statuses,
                    **ACTION_NETWORK.email_statuses},
    sms_opt_ins=ACTION_NETWORK.sms_opt_ins | MOBILIZE.sms_opt_ins | {"opt in", "opted in"},
    sms_statuses=ACTION_NETWORK.sms_statuses | MOBILIZE.sms_statuses | EVERYACTION.sms_statuses,
)
BY_NAME = {f.name: f for f in (*FORMATS, GENERIC)}


def detect(header: list[str]) -> ExportFormat:
    keys = {header_key(h) for h in header}
    return next((f for f in FORMATS if f.matches(keys)), GENERIC)


@dataclass
class StatusReading:
    """What a status column says, row by row: consent (True / False / None where empty), the
    suppression reason for opt-outs ("" where none), warnings for values we do not know."""

    consent: pd.Series
    suppress: pd.Series
    warning: pd.Series


def read_email_status(export: ExportFormat, column: pd.Series) -> StatusReading:
    """An unknown status is never consent: it reads as "no" with a warning, like an unreadable
    yes/no cell; bounced and complained-of addresses go on the suppression list, since mailing
    them again costs the sender its reputation (and a complaint is an opt-out)."""
    folded = fold_status(column)
    meaning = folded.map(export.email_statuses)
    given = folded != ""
    consent = pd.Series([None] * len(column), index=column.index, dtype=object)
    consent[(meaning == SUBSCRIBED).to_numpy()] = True
    consent[(given & (meaning != SUBSCRIBED)).to_numpy()] = False
    suppress = meaning.where(~meaning.isin([SUBSCRIBED, NOT_SUBSCRIBED]) & meaning.notna(), "")
    unknown = given & meaning.isna()
    warning = pd.Series("", index=column.index).mask(
        unknown, f"email status not one {export.title} uses: taken as not subscribed")
    return StatusReading(consent, suppress.fillna(""), warning)


def read_sms_status(export: ExportFormat, column: pd.Series) -> StatusReading:
    """Texts need prior express consent (TCPA, 47 U.S.C. 227): only an explicit opt-in status
    is consent; any other value, Action Network's default "unsubscribed" included, is no."""
    folded = fold_status(column)
    given = folded != ""
    consent = pd.Series([None] * len(column), index=column.index, dtype=object)
    opted_in = folded.isin(export.sms_opt_ins)
    consent[opted_in.to_numpy()] = True
    consent[(given & ~opted_in).to_numpy()] = False
    unknown = given & ~folded.isin(export.sms_statuses | export.sms_opt_ins)
    warning = pd.Series("", index=column.index).mask(
        unknown, f"SMS status not one {export.title} uses: taken as no consent")
    return StatusReading(consent, pd.Series("", index=column.index), warning)
