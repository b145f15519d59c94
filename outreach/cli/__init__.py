"""The `outreach` command: one subcommand per step, a thin shell around the library.

Each command parses arguments, calls the function of the same name in its module, and prints a
human summary or, with --json, one JSON object. Bad input exits 2 with one line on stderr.
The commands live by area (geo, signers, campaigns, sending, roster, ops, demo), share their
options and error handling through cli/common.py, and are put on the group here, so a command
module never imports this one.
"""

from __future__ import annotations

import os

import click

from outreach.cli import campaigns, demo, geo, ops, packets, roster, sending, signers, stances
from outreach.cli.common import OneLineErrors
from outreach.privacy import install_log_masking, private_files


def _wants_json_logs() -> bool:
    return os.environ.get("OUTREACH_LOG_FORMAT", "").strip().lower() == "json"


@click.group(cls=OneLineErrors)
@click.version_option(package_name="outreach")
def cli() -> None:
    """Reach every local chief prosecutor through their own voters."""


for command in (
    geo.lookup, ops.database, signers.intake_command, signers.match_command,
    sending.worker_command, campaigns.plan_command, campaigns.launch_command,
    campaigns.cancel_command, campaigns.pause_command, campaigns.resume_command,
    sending.suppress_group, sending.report_command, ops.scheduler_command, ops.run_command,
    ops.admin_group, ops.serve_command, demo.demo, roster.roster, stances.stance,
    packets.packet_command, packets.packet_links,
):
    cli.add_command(command)


def main() -> None:
    private_files()
    install_log_masking(json_lines=_wants_json_logs())
    cli(prog_name="outreach")


if __name__ == "__main__":
    main()
