"""The Python names DESIGN.md promises stay where they were before the package was layered."""

from __future__ import annotations

import subprocess
import sys

import outreach


def test_geo_lookup_is_the_documented_function():
    from outreach.geo import Lookup, lookup

    answer = lookup("1401 JFK Blvd, Philadelphia, PA 19102")
    assert isinstance(answer, Lookup)
    assert answer.state == "PA" and answer.county_fips == "42101"
    assert outreach.lookup is lookup


def test_render_sms_segments_is_the_documented_function():
    from outreach.render import sms_segments

    assert sms_segments("plain text").encoding == "GSM-7"
    assert sms_segments("caf\u00e9 \u2705").encoding == "UCS-2"
    assert outreach.sms_segments is sms_segments


def test_unknown_names_still_raise():
    import outreach.geo

    for module, name in ((outreach, "nothing_here"), (outreach.geo, "nothing_here")):
        try:
            getattr(module, name)
        except AttributeError as error:
            assert name in str(error)
        else:
            raise AssertionError(f"{module.__name__}.{name} should not exist")


def test_python_dash_m_cli_still_runs():
    done = subprocess.run([sys.executable, "-m", "outreach.cli", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert outreach.__version__ in done.stdout


def test_version_does_not_import_the_data_stack():
    code = "import outreach, sys; outreach.__version__; print('pandas' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_every_deliberate_error_has_one_root_and_keeps_its_old_home():
    import outreach.errors as errors
    from outreach.campaigns.definitions import CampaignError
    from outreach.campaigns.render import RenderError, TemplateFailure
    from outreach.config import ConfigError
    from outreach.geo.census import GeocoderError
    from outreach.geo.locate import AddressError
    from outreach.roster.offices import RosterError
    from outreach.signers.intake import IntakeError
    from outreach.store.db import StoreError

    for error in (CampaignError, RenderError, TemplateFailure, ConfigError, AddressError,
                  RosterError, IntakeError):
        assert issubclass(error, errors.InputError) and issubclass(error, ValueError)
    for error in (GeocoderError, StoreError, errors.SchedulerError):
        assert issubclass(error, errors.ServiceError) and issubclass(error, RuntimeError)
    named = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(error, errors.OutreachError) for error in named)
    assert RosterError(["a", "b"]).problems == ["a", "b"]
    assert str(RosterError(["a", "b"])) == "a (and 1 more)"
    assert TemplateFailure("x").recipient == ""
