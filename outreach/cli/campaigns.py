"""`outreach plan`, `launch`, `pause`, `resume`, `cancel`: a campaign from preview to stop."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.progress import Progress

from outreach.campaigns.definitions import campaign_to_switch, find_campaign
from outreach.campaigns.planner import StepPlan, launch, plan_campaign
from outreach.campaigns.preview import Prices, preview
from outreach.campaigns.render import plural
from outreach.cli.common import _fail, _print_json, clear_errors, json_option
from outreach.config import Settings
from outreach.ops.wiring import (
    build_renderer,
    check_compliance_settings,
    prepare_launch,
    sms_windows,
)
from outreach.store import db
from outreach.store.runs import RUN_ACTIONS, set_run_state


@click.command("plan")
@click.argument("campaign")
@json_option
@clear_errors
def plan_command(campaign: str, as_json: bool) -> None:
    """Preview a campaign: messages per step and who is left out, and why. Queues nothing."""
    settings = Settings.from_env()
    chosen = find_campaign(settings.campaigns.jobs_dir, campaign)
    check_compliance_settings(settings, chosen)
    engine = db.open_store(settings.store.database_url)
    renderer = build_renderer(settings, engine)
    plans = plan_campaign(engine, chosen, datetime.now(UTC), roster=renderer.roster,
                          windows=sms_windows(settings))
    shown: dict[str, Any] = preview(
        plans, renderer,
        Prices(settings.campaigns.email_price, settings.campaigns.sms_segment_price))
    if as_json:
        _print_json({"campaign": chosen.name, **shown})
        return
    _show_plans(chosen.name, plans, False)
    for step in shown["steps"]:
        for sample in step["samples"]:
            heading = f"{sample['subject']} | " if "subject" in sample else ""
            click.echo(f"  sample {step['step']} to {sample['to']}: {heading}"
                       f"{' '.join(str(sample['text']).split())[:160]}")
        if step.get("office_contact"):
            click.echo("    office contact in these messages: " + ", ".join(
                f"{level} {count}" for level, count in step["office_contact"].items()))
        if step.get("office_contact_leads"):
            click.echo("    of these, a lead (unverified source; OUTREACH_CONTACTS=verified "
                       "drops them): " + ", ".join(
                           f"{field} {count}"
                           for field, count in step["office_contact_leads"].items()))
        if step.get("backfilled"):
            late = step["backfilled"]
            click.echo(f"    back-filled: {late['signers']} signed before they entered the "
                       f"campaign (launch or import); due {late['first_due']} to "
                       f"{late['last_due']}"
                       + (' (start = "signed": delays count from signing, so those past '
                          'go at the launch, spaced by the gate)'
                          if chosen.start == "signed" else ""))
        if step.get("quiet_hours"):
            held = step["quiet_hours"]
            click.echo(f"    {held['deferred']} would wait for texting hours in the address's "
                       "and the area code's time zones" + (f", released {held['first_release']} to "
                                               f"{held['last_release']}"
                                               if held["deferred"] else ""))
        if "sms" in step:
            sms = step["sms"]
            click.echo(f"    {sms['segments']} segments (max {sms['max_segments_per_message']} "
                       f"per message; {sms['ucs2_messages']} UCS-2"
                       + (f" because of {' '.join(sms['ucs2_because_of'])}"
                          if sms["ucs2_because_of"] else "") + ")")
    click.echo(f"  estimated cost: ${shown['estimated_cost_usd']:,.2f}")


def _show_plans(name: str, plans: list[StepPlan], as_json: bool,
                launched: dict[str, dict[str, int]] | None = None) -> None:
    if as_json:
        steps = [p.summary() | (launched or {}).get(p.step.name, {}) for p in plans]
        _print_json({"campaign": name, "steps": steps})
        return
    click.echo(f"Campaign {name}:")
    for plan in plans:
        skipped = ", ".join(f"{k} {v}" for k, v in plan.skipped.most_common()) or "none"
        line = (f"  {plan.step.name} ({plan.step.channel} to {plan.step.to}): "
                f"{plural(len(plan.messages), 'message')}; left out: {skipped}")
        if launched:
            done = launched[plan.step.name]
            line += f"; queued now {done['queued_now']}, already queued {done['already_queued']}"
        click.echo(line + (f" [{plan.note}]" if plan.note else ""))


@click.command("launch")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Queue without asking.")
@click.option("--grace", type=click.IntRange(0, 7 * 24 * 3600), default=600, show_default=True,
              help="Seconds before the first message may go out (at most a week).")
@json_option
@clear_errors
def launch_command(campaign: str, yes: bool, grace: int, as_json: bool) -> None:
    """Queue a campaign's messages (again: nothing is queued twice)."""
    settings = Settings.from_env()
    chosen = find_campaign(settings.campaigns.jobs_dir, campaign)
    engine = db.open_store(settings.store.database_url)
    now = datetime.now(UTC)
    plans = prepare_launch(settings, engine, chosen, build_renderer(settings, engine), now,
                           timedelta(seconds=grace))
    if not yes:
        _show_plans(chosen.name, plans, False)
        if not sys.stdin.isatty():
            _fail("launch needs --yes when not run from a terminal")
        click.confirm("Queue these messages?", abort=True)
    if sys.stdout.isatty() and not as_json:
        with Progress(transient=True) as bar:
            task = bar.add_task("Queueing", total=sum(len(p.messages) for p in plans))
            launched = launch(engine, plans, now,
                              progress=lambda plan: bar.advance(task, len(plan.messages)))
    else:
        launched = launch(engine, plans, now)
    _show_plans(chosen.name, plans, as_json, launched)


def _switch(campaign: str, state: str, as_json: bool, yes: bool = True) -> None:
    settings = Settings.from_env()
    name = campaign_to_switch(settings.campaigns.jobs_dir, campaign, state)
    if not yes:
        question = (f"Cancel {name}? Its queued messages are withdrawn for good: this "
                    "cannot be undone (`pause` only stops sending for a while).")
        if not sys.stdin.isatty():
            _fail(f"cancel needs --yes when not run from a terminal; it cannot be undone "
                  f"(`outreach pause {name}` can)")
        click.confirm(question, abort=True)
    withdrawn = set_run_state(db.open_store(settings.store.database_url), name, state,
                              datetime.now(UTC))
    if as_json:
        _print_json({"campaign": name, "state": state, "withdrawn": withdrawn})
    else:
        click.echo(f"{name}: {state}" + (f"; {withdrawn} queued messages withdrawn "
                                                 "(this cannot be undone)"
                                                 if state == "cancelled" else ""))
def _switch_command(name: str, help_text: str) -> click.Command:
    """Build `outreach NAME CAMPAIGN [--json]`, which sets the campaign's run state."""

    @click.command(name, help=help_text)
    @click.argument("campaign")
    @json_option
    @clear_errors
    def command(campaign: str, as_json: bool) -> None:
        _switch(campaign, RUN_ACTIONS[name], as_json)

    return command


@click.command("cancel")
@click.argument("campaign")
@click.option("--yes", is_flag=True, help="Cancel without asking.")
@json_option
@clear_errors
def cancel_command(campaign: str, yes: bool, as_json: bool) -> None:
    """Withdraw a launched campaign's queued messages for good (those already sent stay
    sent). It cannot be undone: the campaign cannot be resumed or launched again."""
    _switch(campaign, "cancelled", as_json, yes)


pause_command = _switch_command("pause", "Stop sending a campaign; its queued messages wait.")
resume_command = _switch_command("resume", "Send a paused campaign again.")
