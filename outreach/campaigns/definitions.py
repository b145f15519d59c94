"""Campaign definitions: jobs/*.toml -> validated Campaign objects.

Organizers edit these files, so a mistake must come back as one clear line naming the file, the
key and the reason ("jobs/x.toml: steps[2].delay: '3 days' is not a duration like 3d, 12h or
30m"), never as a stack trace or a silently ignored key. Validation is pydantic's; the messages
are ours.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from outreach.campaigns.stances import StanceTrigger, parse_trigger
from outreach.errors import CampaignError
from outreach.roster.stances import DEMANDS, Demand, StanceValue, Summary

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# Ten years: longer than any campaign runs, and far inside what dates can hold (a delay of
# "999999999999d" overflowed Python's timedelta with a traceback: security audit F21).
LONGEST = timedelta(days=3650)
# The SMS confirmation texts of the double opt-in (sending/consent.py): a campaign of their
# own, with no file, so no campaign's pause, hold or per-campaign text count is mixed with them.
CONFIRM_CAMPAIGN = "_consent"


def parse_duration(value: object, examples: str = "3d, 12h or 30m") -> object:
    """"3d", "12h", "30m", "45s" -> a timedelta (other values pass through for pydantic):
    the one spelling of a duration in every file organizers edit (campaigns, schedules)."""
    if not isinstance(value, str):
        return value
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a duration like {examples}")
    amount, unit = int(match.group(1)), match.group(2)
    if amount * _SECONDS[unit] > LONGEST.total_seconds():
        raise ValueError(f"{value!r} is too long: at most {LONGEST.days} days")
    return timedelta(**{_UNITS[unit]: amount})


def check_duration(value: timedelta) -> timedelta:
    """A duration read from a file, in range: not negative, at most LONGEST (a number of
    seconds passes parse_duration untouched, so the bound is checked again here)."""
    if value < timedelta(0):
        raise ValueError("must not be negative")
    if value > LONGEST:
        raise ValueError(f"too long: at most {LONGEST.days} days")
    return value


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file organizers edit, or ValueError with one line naming the file and what is
    wrong: not there, not UTF-8, not TOML, nested too deeply for the parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        utf16 = " (it is UTF-16)" if error.object[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise ValueError(f"{path}: not UTF-8 text{utf16} (byte {error.object[error.start]:#04x} "
                         f"at position {error.start}): save it as UTF-8") from None
    except OSError as error:
        raise ValueError(f"{path}: cannot be read: {error.strerror or error}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"{path}: not valid TOML: {error}") from None
    except RecursionError:
        raise ValueError(f"{path}: not valid TOML: nested too deeply") from None


def _all_match(values: list[str], pattern: str, what: str) -> list[str]:
    for value in values:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"{value!r} is not {what}")
    return values


SCHEDULE_FILE = "schedule.toml"  # jobs/ also holds the scheduler's file: not a campaign


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sender(_Strict):
    organization: str = Field(min_length=1)
    email_from: str = Field(min_length=3)  # "Name <address>" on the organization's own domain
    sms_from: str | None = None
    # CAN-SPAM 15 U.S.C. 7704(a)(5)(A)(iii): a valid physical postal address in every email.
    mailing_address: str = Field(min_length=5)


class StanceFilter(_Strict):
    """`stance = { drop = ["unknown", "no", "partial"] }`: keep the signers whose prosecutor
    (their felony office) stands at one of these on each demand listed."""

    expunge: list[StanceValue] = []
    drop: list[StanceValue] = []
    divert: list[StanceValue] = []

    def demands(self) -> dict[Demand, list[StanceValue]]:
        """The demands filtered on (an empty list, like an absent key, keeps every stance)."""
        return {d: getattr(self, d) for d in DEMANDS if getattr(self, d)}


class Audience(_Strict):
    states: list[str] = []
    office_ids: list[str] = []
    counties: list[str] = []
    signed_after: date | None = None
    signed_before: date | None = None
    confidence: list[Literal["exact", "chosen", "zip", "city", "ambiguous", "none"]] = \
        ["exact", "chosen", "zip", "city", "ambiguous"]
    sources: list[str] = []
    limit: int | None = Field(default=None, gt=0)
    # Leave out signers whose match holds less than this share of their ZIP code (Lookup.share:
    # 1.0 for exact and chosen; none for a city, an ambiguous answer or a ZIP without shares,
    # which are left out too): `outreach plan` counts them with the reason.
    min_share: float | None = Field(default=None, gt=0, le=1)
    # Where the signer's prosecutor (felony office) stands: per demand, and/or the summary.
    stance: StanceFilter = StanceFilter()
    stance_summary: list[Summary] = []

    @property
    def filters_by_stance(self) -> bool:
        return bool(self.stance.demands() or self.stance_summary)

    @field_validator("states")
    @classmethod
    def _states(cls, states: list[str]) -> list[str]:
        return _all_match(states, r"[A-Z]{2}", "a two-letter state code")

    @field_validator("counties")
    @classmethod
    def _counties(cls, counties: list[str]) -> list[str]:
        return _all_match(counties, r"\d{5}", "a 5-digit county FIPS code")


class Step(_Strict):
    name: str
    channel: Literal["email", "sms"]
    to: Literal["supporters", "offices"]
    template: str = Field(min_length=1)
    # Supporters: after the signer entered the campaign (see Campaign.start); offices: after
    # the end of the signing day their letters or digest collect.
    delay: timedelta = timedelta(0)
    # Offices: one message per constituent (letter, Reply-To the signer) or one per office per
    # day listing its constituents (digest); letters switch to a digest above the threshold.
    delivery: Literal["letter", "digest"] = "letter"
    digest_threshold: int = Field(default=25, gt=0)
    daily_cap: int | None = Field(default=None, gt=0)
    # Which of a constituent's offices hear from them (where a county has both); for a
    # supporter step with a trigger, whose offices' stance fires it.
    offices: Literal["felony", "misdemeanor", "both"] = "felony"
    # Supporters only: queued when a stance recorded later makes the signer's office match
    # ("stance:yes", "stance:committed", "stance:drop:yes"; outreach.campaigns.stances),
    # `delay` after that recording, instead of at the signer's entry.
    trigger: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _all_match([name], _NAME.pattern, "lower_case_with_underscores")[0]

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: object) -> object:
        return parse_duration(value)

    @field_validator("delay")
    @classmethod
    def _delay_range(cls, value: timedelta) -> timedelta:
        return check_duration(value)

    @field_validator("trigger")
    @classmethod
    def _trigger(cls, value: str | None) -> str | None:
        return None if value is None else parse_trigger(value).spelled

    @model_validator(mode="after")
    def _trigger_for_supporters(self) -> Step:
        if self.trigger is not None and self.to != "supporters":
            raise ValueError(f"trigger: {self.trigger!r} is for supporter steps only "
                             "(to = \"supporters\"): a stance change writes to the office's "
                             "constituents")
        return self

    @property
    def stance_trigger(self) -> StanceTrigger | None:
        return None if self.trigger is None else parse_trigger(self.trigger)


START_FROM = ("entered", "signed")


class Campaign(_Strict):
    name: str
    description: str = ""
    sender: Sender
    audience: Audience = Audience()
    steps: list[Step] = Field(min_length=1)
    # What supporter steps' delays count from. "entered" (the default): the moment the signer
    # entered the campaign, the latest of signing, being stored and the launch, so an old list
    # gets the welcome at the launch and the 3-day step three days later, not all at once.
    # "signed": from the signing date, for delays meant that way (an anniversary message).
    start: Literal["entered", "signed"] = "entered"
    source: Path | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _all_match([name], _NAME.pattern, "lower_case_with_underscores")[0]

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, value: object) -> object:
        if value not in START_FROM:
            raise ValueError(f"{value!r} is not one of \"entered\" (delays count from when the "
                             "signer entered the campaign) or \"signed\" (from the signing "
                             "date)")
        return value

    @field_validator("steps")
    @classmethod
    def _unique_steps(cls, steps: list[Step]) -> list[Step]:
        names = [s.name for s in steps]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"step names must be unique; repeated: {', '.join(duplicated)}")
        return steps

    @property
    def watches_stances(self) -> bool:
        """Whether planning must follow stance changes for it: a step has a trigger, or the
        audience filters by stance (an office's change moves its constituents in or out)."""
        return self.audience.filters_by_stance or any(s.trigger for s in self.steps)

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)


def _where(location: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in location:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(str(part))
    return ".".join(parts) or "(file)"


def validation_problems(error: ValidationError, prefix: str) -> list[str]:
    """Every problem pydantic found, one line each: "prefix: key: reason"."""
    return [f"{prefix}: {_where(e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
            for e in error.errors()]


def load_campaign(path: Path) -> Campaign:
    """Read and validate one campaign file, or raise CampaignError with every problem in it,
    one line each naming file, key, reason."""
    if not path.exists():
        raise CampaignError(f"{path}: no such campaign file")
    try:
        raw = read_toml(path)
    except ValueError as error:
        raise CampaignError(str(error)) from None
    problems = []
    if isinstance(raw.get("name"), str) and raw["name"] != path.stem:
        problems.append(f"{path}: name: {raw['name']!r} must match the file name "
                        f"{path.stem!r}")
    try:
        campaign = Campaign.model_validate({**raw, "source": path})
    except ValidationError as error:
        problems[:0] = validation_problems(error, str(path))
    if problems:
        raise CampaignError(*problems)
    return campaign


def campaign_names(jobs_dir: Path) -> list[str]:
    """The campaigns in jobs/ (every TOML file but the scheduler's)."""
    return sorted(p.stem for p in jobs_dir.glob("*.toml") if p.name != SCHEDULE_FILE)


def campaign_to_switch(jobs_dir: Path, name: str, state: str) -> str:
    """The name of the campaign `outreach pause/resume/cancel` (or the dashboard) switches to
    `state`: a campaign file's, or the SMS confirmation texts' `_consent`, which has no file by
    design (consent.py) yet can be held like any step (a template that fails) and so must be
    resumable. It cannot be cancelled: a cancel is for good, and every web SMS opt-in after it
    would wait for a confirmation text that is never sent."""
    if name != CONFIRM_CAMPAIGN:
        return find_campaign(jobs_dir, name).name
    if state == "cancelled":
        raise CampaignError(f"{CONFIRM_CAMPAIGN} (the SMS confirmation texts) cannot be "
                            f"cancelled; `outreach pause {CONFIRM_CAMPAIGN}` stops them")
    return name


def find_campaign(jobs_dir: Path, name: str) -> Campaign:
    """The campaign called `name` in jobs/ (jobs/NAME.toml), or a path to a file."""
    by_name = not name.endswith(".toml")
    path = jobs_dir / f"{name}.toml" if by_name else Path(name)
    if by_name and not jobs_dir.is_dir():
        raise CampaignError(f"no campaign {name!r}: the campaigns folder {jobs_dir} "
                            "(OUTREACH_JOBS_DIR) does not exist")
    if not path.exists() or path.name == SCHEDULE_FILE:
        known = ", ".join(campaign_names(jobs_dir)) or "none"
        raise CampaignError(f"no campaign {name!r} in {jobs_dir} (known: {known})")
    return load_campaign(path)
