"""Normalizing the fields of a signer row: names, email, phone, address, consent, dates.

Column-wide steps are vectorized with pandas; email and phone go through their libraries
(`email-validator`, `phonenumbers`: the checks are theirs, not ours), each distinct value of a
column once (check_column), in batches a process pool can share out. Two shortcuts keep those
checks cheap without changing an answer: an email's domain is checked once per domain (a list
repeats gmail.com a hundred thousand times), and a phone is typed once, not three times (see
check_email and check_phone for why each gives the library's own answer).
"""

from __future__ import annotations

import functools
import re
import re._parser as _sre  # type: ignore[import-not-found]
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import email_validator
import numpy as np
import pandas as pd
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from outreach.us.states import OUTSIDE_ROSTER, STATE_NAMES

# Column limits (also the store's): longer values are cut, with a warning, never a crash.
MAX_LENGTHS = {"first_name": 100, "last_name": 100, "street": 200, "city": 100, "source": 200}
MAX_EMAIL = 254  # RFC 5321 path limit: a longer address is invalid, not cut
US_STATES = frozenset(STATE_NAMES.values())
US_COUNTRIES = {"", "us", "usa", "u s", "u s a", "united states", "united states of america",
                "america"}
TRUE_WORDS = {"1", "y", "yes", "true", "t", "x", "on", "checked", "opt in", "optin", "subscribed"}
FALSE_WORDS = {"0", "n", "no", "false", "f", "off", "unchecked", "opt out", "optout",
               "unsubscribed"}
_CONTROL = r"[\x00-\x08\x0b-\x1f\x7f]"
_CANADIAN_POSTAL = re.compile(r"^[A-Za-z]\d[A-Za-z] ?\d[A-Za-z]\d$")

PHONE_TYPES = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
    phonenumbers.PhoneNumberType.VOIP: "voip",
}


@dataclass(frozen=True)
class Checked:
    """A checked email or phone: the normalized value, or why it was refused."""

    value: str | None
    kind: str | None = None  # phone type, for phones
    error: str | None = None


def check_email(raw: str) -> Checked:
    """The address as email-validator normalizes it, or its error (with the library's text).

    No DNS: deliverability is not checked (a million MX look-ups would take hours and fail
    offline), so the answer depends on the text alone. A plain address (a dot-atom before the
    @, ASCII or safe NFC Unicode: nearly every real one) takes _plain_email, which asks the
    library about its domain once per domain; anything else, and every address that shortcut
    is not sure of (a domain it refuses, a length near the limit), goes to the library whole,
    so every error text is the library's."""
    if len(raw) > MAX_EMAIL:
        return Checked(None, error=f"email longer than {MAX_EMAIL} characters")
    plain = _plain_email(raw)
    if plain is not None:
        return Checked(plain)
    try:
        result = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as error:
        return Checked(None, error=f"email not valid: {error}")
    return Checked(result.normalized)


# email-validator's dot-atom before the first @ (rfc_constants.ATEXT, and from U+0080 on as
# DOT_ATOM_TEXT_INTL allows), anything after it. The part before holds no quote, backslash,
# angle bracket or space, so the library's split_email cuts the address where this does.
_ATEXT = r"[A-Za-z0-9_!#$%&'*+\-/=?^`{|}~\u0080-\U0010ffff]+"
_PLAIN_EMAIL = re.compile(rf"({_ATEXT}(?:\.{_ATEXT})*)@(.+)", re.DOTALL)
_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)  # RFC 2142: lowercased by the library


def _plain_email(raw: str) -> str | None:
    """A plain address's normalized form, as validate_email(raw) returns it; None where the
    address is not plain, its domain is not valid, or it is near the length limit (the caller
    then asks the library, for its answer and its error text).

    Why this is the library's answer (email_validator.validate_email, 2.x, defaults: SMTPUTF8
    allowed, not strict): a dot-atom local part is valid and kept as typed if it is ASCII (but
    the RFC 2142 mailbox names, lowercased), and if it is not, when it is NFC-normalized and
    its other characters are letters, digits, punctuation or symbols (check_unsafe_chars); the
    domain is checked by validate_email_domain_name(domain) alone, the same whatever the local
    part, so _domain_of asks once per domain; then come the three lengths, in UTF-8 bytes, that
    validate_email_length checks."""
    match = _PLAIN_EMAIL.fullmatch(raw)
    if match is None:
        return None
    local, domain_part = match.groups()
    if local.isascii():
        if local.lower() in _MAILBOX_NAMES:
            local = local.lower()
    elif not (email_validator.ALLOW_SMTPUTF8 and unicodedata.is_normalized("NFC", local)
              and all(unicodedata.category(c)[0] in "LNPS" for c in local)):
        return None
    domain = _domain_of(domain_part)
    if domain is None:
        return None
    unicode_domain, ascii_domain = domain
    normalized = f"{local}@{unicode_domain}"
    lengths = (raw, normalized, f"{local}@{ascii_domain}")
    if max(len(text.encode()) for text in lengths) > MAX_EMAIL:
        return None
    return normalized


@functools.lru_cache(maxsize=1 << 16)
def _domain_of(domain_part: str) -> tuple[str, str] | None:
    """(normalized domain, its IDNA ASCII form) as email-validator reads the part after the @,
    or None if it refuses it (the caller then asks about the whole address, for its error).
    Bounded: a file of a million distinct domains keeps memory flat."""
    try:
        result = validate_email(f"a@{domain_part}", check_deliverability=False)
    except EmailNotValidError:
        return None
    return result.domain, result.ascii_domain


def check_phone(raw: str) -> Checked:
    """E.164 and type of a number read as American (a +CC prefix reads it as that country's),
    or why not.

    One type look-up, not three: phonenumbers' number_type returns UNKNOWN exactly for a
    number is_valid_number refuses (both look the region up from the number and test it against
    that region's patterns: is_valid_number is number_type(...) != UNKNOWN plus a country-code
    check region_code_for_number always passes), so it answers both questions. A plain North
    American number (_plain_nanp: nearly every row) is answered without parsing it, by the
    type of its first six digits."""
    plain = _plain_nanp(raw)
    if plain is not None:
        return plain
    try:
        number = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException:
        return Checked(None, error="phone not a phone number")
    return _typed(number)


def _typed(number: phonenumbers.PhoneNumber) -> Checked:
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return Checked(None, error="phone not a valid number")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # North American numbers are mostly FIXED_LINE_OR_MOBILE: the library cannot tell, and we
    # say "unknown" rather than guess (texting still needs consent either way).
    return Checked(e164, PHONE_TYPES.get(kind, "unknown"))


# Ten digits, the first 2-9, written as Americans write them: "2155550100", "(215) 555-0100",
# "215.555.0100", "+1 215-555-0100", "1 (215) 555 0100"; ASCII digits only.
_NANP_PLAIN = re.compile(r"(?:\+?1[ .-]?)?(?:\(([2-9][0-9]{2})\)|([2-9][0-9]{2}))[ .-]?"
                         r"([0-9]{3})[ .-]?([0-9]{4})")
NANP_DECIDING_DIGITS = 6  # the leading digits of a national number its type is read from


def _plain_nanp(raw: str) -> Checked | None:
    """check_phone's answer for a plain North American number (_NANP_PLAIN), or None for any
    other text, or where the library's patterns do not allow the shortcut (the caller then
    asks the library).

    Why this is the library's answer (phonenumbers.parse(raw, "US"), then _typed): parse
    drops the punctuation (spaces, dots, dashes, parentheses), reads a leading "+1" as the
    country code, and a leading "1" before ten digits as the country code too (the eleven
    digits match no American number, the ten after it do); what is left is the ten-digit
    national number, which starts with 2-9 so no national prefix ("1") is stripped from it:
    PhoneNumber(country_code=1, national_number=int(those ten digits)). number_type then
    picks the region among country code 1's, in the library's order (a region with leading
    digits by those, one without by its type patterns), and the type by the region's
    patterns (fixed line, mobile, toll free...), all matched against the national number:
    where each pattern it reads is decided by the first NANP_DECIDING_DIGITS digits
    (_nanp_regions), so is the type, and it is asked once per six digits (_nanp_kind).
    E.164 is "+1" and the ten digits (format_number's E164)."""
    match = _NANP_PLAIN.fullmatch(raw)
    if match is None:
        return None
    national = f"{match[1] or match[2]}{match[3]}{match[4]}"
    wide = _nanp_regions()
    if wide is None or wide.match(national):
        return None
    kind = _nanp_kind(national[:NANP_DECIDING_DIGITS])
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return Checked(None, error="phone not a valid number")
    return Checked(f"+1{national}", PHONE_TYPES.get(kind, "unknown"))


@functools.lru_cache(maxsize=1 << 16)
def _nanp_kind(first_digits: str) -> int:
    """The library's type of the ten-digit American national numbers that start with these
    digits (see _plain_nanp), asked of one of them. Bounded: memory stays flat."""
    national = int(first_digits.ljust(10, "0"))
    return phonenumbers.number_type(phonenumbers.PhoneNumber(country_code=1,
                                                             national_number=national))


@functools.cache
def _nanp_regions() -> re.Pattern[str] | None:
    """The leading digits of the regions of country code 1 whose patterns read further than
    NANP_DECIDING_DIGITS digits (Barbados' 246521..., for one), as one pattern: a number
    they start is asked of the library whole. None: the shortcut is off (a newer phonenumbers
    whose patterns this cannot read, or a region read further that has no leading digits).

    Why the others are decided by their first digits: number_type tries the regions in
    order; one with leading digits (matched at the start, reading no further than their
    widest match) is chosen or not by them, so a number these wide regions' digits do not
    start never gets to their patterns; one without is chosen by its type patterns, which
    must then all be decided by the first digits (_deciding_width); and so are the chosen
    region's."""
    wide: list[str] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1]:
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            return None
        patterns = [desc.national_number_pattern for desc in vars(metadata).values()
                    if isinstance(desc, phonenumbers.PhoneNumberDesc)
                    and desc.national_number_pattern]
        widths = [_deciding_width(pattern) for pattern in patterns]
        narrow = all(w is not None and w <= NANP_DECIDING_DIGITS for w in widths)
        leading = metadata.leading_digits
        if leading is not None:
            width = _deciding_width(leading, whole=False)
            if width is None or width > NANP_DECIDING_DIGITS:
                return None
            if not narrow:
                wide.append(f"(?:{leading})")
        elif not narrow:
            return None
    return re.compile("|".join(wide) or "(?!)")


def _deciding_width(pattern: str, whole: bool = True) -> int | None:
    """How many leading characters decide whether a string of ASCII digits of a given length
    matches `pattern` whole (whole=False: at its start), or None where this cannot tell:
    patterns of plain characters, classes, groups, alternatives and bounded repeats (no
    look-around, anchor or back-reference). Digit wildcards at the end of a pattern read only
    the length; one alternative of several reads the most any of them does."""
    return _sequence_width(tuple(_sre.parse(pattern)), whole)


def _sequence_width(items: tuple[tuple[Any, Any], ...], whole: bool) -> int | None:
    if not items:
        return 0
    if whole and all(_digit_run(item) for item in items):
        return 0  # \\d{n} to the end: only the length counts
    (opcode, value), rest = items[0], items[1:]
    if opcode in (_sre.LITERAL, _sre.NOT_LITERAL, _sre.IN):
        after = _sequence_width(rest, whole)
        return None if after is None else 1 + after
    if opcode is _sre.BRANCH:  # A|B then the rest: A and the rest, or B and the rest
        return _widest([tuple(branch) + rest for branch in value[1]], whole)
    if opcode is _sre.SUBPATTERN:
        return _sequence_width(tuple(value[3]) + rest, whole)
    if opcode in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
        low, high, body = value
        if high == _sre.MAXREPEAT or high > 16:
            return None
        return _widest([tuple(body) * times + rest for times in range(low, high + 1)], whole)
    return None


def _widest(alternatives: list[tuple[tuple[Any, Any], ...]], whole: bool) -> int | None:
    widths = [_sequence_width(alternative, whole) for alternative in alternatives]
    return None if None in widths else max(w for w in widths if w is not None)


def _digit_run(item: tuple[Any, Any]) -> bool:
    """\\d or \\d{n}: any n digits."""
    opcode, value = item
    if opcode is _sre.IN:
        return list(value) == [(_sre.CATEGORY, _sre.CATEGORY_DIGIT)]
    if opcode in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
        low, high, body = value
        return bool(low == high and len(body) == 1 and _digit_run(body[0]))
    return False


def check_column(column: pd.Series, check: Callable[[str], Checked]) -> pd.DataFrame:
    """value, kind and error ("" if none) of each cell, each distinct value checked once: a
    list repeats its signers (a second signature, a household's phone), and a check costs tens
    of microseconds where a look-up costs one."""
    codes, distinct = pd.factorize(column.to_numpy(dtype=object), use_na_sentinel=False)
    checked = [check(value) for value in distinct]

    def take(values: list[str | None], dtype: str) -> pd.Series:
        return pd.Series(np.array(values, dtype=object)[codes], index=column.index,
                         dtype=dtype)

    return pd.DataFrame({"value": take([c.value for c in checked], "object"),
                         "kind": take([c.kind for c in checked], "object"),
                         "error": take([c.error or "" for c in checked], "str")})


def clean_text(column: pd.Series) -> pd.Series:
    """Trim, collapse inner whitespace, drop control characters; keep Unicode and punctuation.

    HTML stays as typed: it is text here, and escaping is the renderer's job where it is shown.
    Only the cells that need it go through those steps (_UNCLEAN: nearly every name and
    address is clean as typed).
    """
    dirty = column.str.contains(_UNCLEAN, regex=True).fillna(True).to_numpy(dtype=bool)
    if not dirty.any():
        return column.copy()
    cleaned = column.copy()
    cleaned[dirty] = _clean_text(column[dirty]).to_numpy()
    return cleaned


def _clean_text(column: pd.Series) -> pd.Series:
    return (column.str.replace(_CONTROL, " ", regex=True)
            .str.replace(r"\s+", " ", regex=True).str.strip())


# What clean_text may change: a control character, a whitespace character but the space (Cc,
# Zs, Zl, Zp: a test checks every code point against str.isspace and the categories), two
# spaces, a space at either end. Every code point is named (no class escape): the pattern means the
# same to Python's re and to pyarrow's RE2, whichever runs it; a cell it does not match has
# nothing any whitespace rule would replace or strip.
_UNCLEAN = ("[\\x00-\\x1f\\x7f-\\x9f\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
            "|  |^ | $")


def split_full_name(full: pd.Series) -> tuple[pd.Series, pd.Series]:
    parts = full.str.split(" ", n=1, expand=True).reindex(columns=[0, 1]).astype(object)
    return parts[0].fillna(""), parts[1].fillna("")


def normalize_state(column: pd.Series) -> pd.Series:
    """USPS codes for state names or codes; anything else kept as typed (checked later)."""
    folded = column.str.lower().str.replace(r"[.,\s]+", " ", regex=True).str.strip()
    codes = folded.map(STATE_NAMES)
    upper = column.str.strip().str.upper()
    two_letter = upper.where(upper.str.len() == 2)
    return codes.fillna(two_letter).fillna(column.str.strip())


def state_problem(state: pd.Series) -> pd.Series:
    """The reject reason for a state outside the 50 states and DC ("" where fine)."""
    empty = state == ""
    territory = state.isin(OUTSIDE_ROSTER)
    known = state.isin(US_STATES)
    reason = pd.Series("", index=state.index)
    reason = reason.mask(territory, "address in " + state + ", which has no county prosecutor "
                                    "in the roster (50 states and DC only)")
    return reason.mask(~(empty | territory | known),
                       "not a U.S. state or DC: " + state.str.slice(0, 40))


def normalize_zip(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(ZIP5 or "", reject reason or "").

    ZIP+4 is cut to 5 digits; 3 or 4 digits get their leading zeros back (spreadsheets drop them
    from New England and New Jersey ZIPs); a Canadian postal code is a foreign address.
    """
    digits = column.str.replace(r"[\s-]", "", regex=True)
    zip5 = digits.str.extract(r"^(\d{5})(?:\d{4})?$", expand=False)
    short = digits.str.extract(r"^(\d{3,4})$", expand=False).str.zfill(5)
    result = zip5.fillna(short).fillna("")
    foreign = column.str.strip().str.match(_CANADIAN_POSTAL)
    bad = (result == "") & (column.str.strip() != "") & ~foreign
    reason = pd.Series("", index=column.index)
    reason = reason.mask(foreign, "not a U.S. address: Canadian postal code")
    reason = reason.mask(bad, "ZIP code not 5 digits")
    return result, reason


def country_problem(column: pd.Series) -> pd.Series:
    folded = column.str.lower().str.replace(r"[.,\s]+", " ", regex=True).str.strip()
    return pd.Series("", index=column.index).mask(
        ~folded.fillna("").isin(US_COUNTRIES), "not a U.S. address: country " +
        column.str.strip().str.slice(0, 40))


def parse_consent(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(True / False / None where the cell is empty, warning where the value is unreadable).

    An unreadable value counts as "no": consent is never inferred.
    """
    folded = column.str.lower().str.replace(r"[-_]", " ", regex=True).str.strip()
    yes, no = folded.isin(TRUE_WORDS), folded.isin(FALSE_WORDS)
    unreadable = ~yes & ~no & (folded != "")
    value = pd.Series([None] * len(column), index=column.index, dtype=object)
    value.loc[yes.to_numpy()] = True
    value.loc[(no | unreadable).to_numpy()] = False
    warning = pd.Series("", index=column.index).mask(unreadable, "consent value not yes/no: "
                                                     "taken as no")
    return value, warning


# U.S. zone abbreviations as exports write them ("2026-11-01 10:00 AM EST"), as UTC offsets:
# dateutil, which pandas uses for odd spellings, ignores an abbreviation it does not know and
# would read the time as UTC, hours off.
ZONE_ABBREVIATIONS = {"EST": "-05:00", "EDT": "-04:00", "CST": "-06:00", "CDT": "-05:00",
                      "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00", "PDT": "-07:00",
                      "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00", "UTC": "+00:00",
                      "GMT": "+00:00"}
_ZONE_SUFFIX = re.compile(r"\s+(" + "|".join(ZONE_ABBREVIATIONS) + r")$", re.IGNORECASE)


def parse_signed_at(column: pd.Series, default: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """(UTC timestamps, warning): ISO 8601 fast, other spellings one by one, else the default.

    A time keeps its zone: an offset (`-05:00`, `Z`) or a U.S. abbreviation (`EST`) is
    honoured; a time without one is taken as UTC."""
    stripped = column.str.strip().str.replace(
        _ZONE_SUFFIX, lambda m: " " + ZONE_ABBREVIATIONS[m.group(1).upper()], regex=True)
    parsed = pd.to_datetime(stripped, utc=True, errors="coerce", format="ISO8601")
    retry = parsed.isna() & (stripped != "")
    if retry.any():
        parsed = parsed.mask(retry, pd.to_datetime(stripped[retry], utc=True, errors="coerce",
                                                   format="mixed"))
    unreadable = parsed.isna() & (stripped != "")
    warning = pd.Series("", index=column.index).mask(unreadable,
                                                     "signed_at unreadable: import time used")
    parsed = parsed.astype("datetime64[us, UTC]")
    return parsed.fillna(default.as_unit("us")), warning
