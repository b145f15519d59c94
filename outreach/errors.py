"""Every error outreach raises on purpose, under one root the CLI and the web can catch.

Grouped as httpx and procrastinate group theirs: an `InputError` means the organizer's input
(a file, a setting, a campaign, an address) cannot be used, and its message is one line that
names the input and the remedy without echoing personal data; a `ServiceError` means something
outreach depends on (the database, the Census geocoder, a second scheduler) does not answer.
Each keeps its historical base (`ValueError`, `RuntimeError`) so existing `except` clauses hold,
and each is still importable from the module that raises it.
"""

from __future__ import annotations


class OutreachError(Exception):
    """The root: anything outreach raises deliberately, shown to the user as one line."""


class InputError(OutreachError, ValueError):
    """Input outreach cannot use: the message says which input, what is wrong and the remedy."""


class ServiceError(OutreachError, RuntimeError):
    """A service outreach depends on does not answer or refuses; retrying later may work."""


# --- input errors ----------------------------------------------------------------------------

class ConfigError(InputError):
    """A setting has a value the engine cannot use."""


class RosterError(InputError):
    """The roster file cannot be used; `problems` lists every problem found, one line each."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)

    def __reduce__(self) -> tuple[type[RosterError], tuple[list[str]]]:
        """Pickled with its problems (a scheduler's frame pass raises it in a child process:
        the default, from its one-line message, made a list of that line's characters)."""
        return type(self), (self.problems,)


class AddressError(InputError):
    """The input cannot be read as a U.S. address we can place. The message never echoes it."""


class IntakeError(InputError):
    """The file as a whole cannot be imported (one line, no personal data)."""


class CampaignError(InputError):
    """A campaign file cannot be used: one line per problem (file: key: reason), every
    problem of the file at once so an organizer fixes them in one pass."""

    def __init__(self, *problems: str):
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class PlanError(InputError):
    """A template fails for a planned recipient: the plan cannot be launched."""


class RenderError(InputError):
    """This row cannot become a message (no template, no address, a template error)."""


class NoOneToSpeakFor(RenderError):
    """Office mail whose constituents all live under another office now (a signer corrected
    their county on the thanks page, a roster change moved them): nothing is wrong and there is
    nothing to say, so the row is skipped, not failed."""


class TemplateFailure(RenderError):
    """The step's template itself fails (not found, bad syntax, or it raised while rendering):
    every row of the step would fail the same way, so the worker holds the step
    (DESIGN invariant 11) and `plan` refuses with this one line."""

    def __init__(self, message: str):
        super().__init__(message)
        self.recipient = ""  # masked: who it failed for (set by the renderer)


class SuppressionError(InputError):
    """An address or file that cannot go on the list (one line)."""


class RunStateError(InputError):
    """A run-state change that cannot be made: a cancelled campaign stays cancelled."""


# --- service errors --------------------------------------------------------------------------

class StoreError(ServiceError):
    """The database cannot be used: OUTREACH_DATABASE_URL is malformed, or the server does not
    answer. One line, with the URL's password hidden."""


class StoreUnreachable(StoreError):
    """The database does not answer (a server down or restarting, a connection cut): wait and
    try again. A class of its own so the answer survives a process boundary: a scheduler's
    frame pass runs in a child (ops/scheduler.py), whose driver error arrives as this."""


class GeocoderError(ServiceError):
    """The geocoder could not answer (unreachable, overloaded, or it rejected the request)."""


class SchedulerError(ServiceError):
    """The scheduler cannot start (one line)."""


__all__ = [
    "AddressError", "CampaignError", "ConfigError", "GeocoderError", "InputError",
    "IntakeError", "OutreachError", "PlanError", "RenderError", "RosterError", "RunStateError",
    "SchedulerError", "ServiceError", "StoreError", "StoreUnreachable", "SuppressionError",
    "TemplateFailure",
]
