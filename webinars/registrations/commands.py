"""`flask --app webinars reminders send` (safe to run from cron every few minutes) and
`flask --app webinars attendance import SLUG FILE` (the platform's participant report)."""

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _


@click.group("reminders", help="Reminders before webinars.")
def reminders_group():
    pass


@reminders_group.command("send")
@with_appcontext
def send():
    """Queue the 24-hour and 1-hour reminders that are due (the mail worker delivers them)."""
    from ..database import utcnow
    from .reminders import send_due_reminders

    result = send_due_reminders(utcnow())
    click.echo(
        _(
            "Queued %(day)s 24-hour and %(hour)s 1-hour reminders; skipped %(skipped)s.",
            day=result["24h"],
            hour=result["1h"],
            skipped=result["skipped"],
        )
    )


@click.group("attendance", help="Who attended a webinar, from the platform's participant report.")
def attendance_group():
    pass


@attendance_group.command("import")
@click.argument("slug")
@click.argument("report", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--zone", default=None, help="Time zone of the report's times (default: the webinar's).")
@click.option("--min-minutes", default=0, type=click.IntRange(0, 24 * 60), help="Less time than this is a no-show.")
@click.option("--dry-run", is_flag=True, help="Say what the report holds and change nothing.")
@with_appcontext
def import_attendance(slug: str, report: Path, zone: str | None, min_minutes: int, dry_run: bool):
    """Mark each registration of webinar SLUG attended or no-show from a Zoom, Teams or similar CSV
    report (an email column, join and leave times or durations). Replaces an earlier import."""
    from sqlalchemy import select

    from ..catalogue.models import Webinar
    from ..catalogue.operations import audit
    from ..database import utcnow
    from ..extensions import db
    from ..timezones import canonical_zone_or_none
    from .attendance import apply_report, read_for
    from .participant_reports import ReportError

    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
    if webinar is None:
        raise click.UsageError(f"No webinar has the slug {slug!r}.")
    now = utcnow()
    if now < webinar.starts_at:
        raise click.UsageError("This webinar has not started yet: import its attendance afterwards.")
    chosen_zone = canonical_zone_or_none(zone) if zone else webinar.timezone
    if chosen_zone is None:
        raise click.UsageError(f"{zone!r} is not a time zone; use a name such as Europe/Paris.")
    if report.stat().st_size > 50 * 1024 * 1024:
        raise click.UsageError("The file is larger than 50 MB; no participant report is that large.")
    try:
        parsed = read_for(webinar, report.read_bytes())
    except ReportError as error:
        raise click.ClickException(str(error)) from error
    click.echo(f"Read {report.name} ({parsed.platform or 'platform not recognised'}).")
    click.echo(f"Columns used: {parsed.describe_columns()}.")
    for note in parsed.notes:
        click.echo(note)
    if dry_run:
        click.echo(f"{len(parsed.people)} participants with an address; nothing changed (--dry-run).")
        return
    record = apply_report(webinar, parsed, zone=chosen_zone, filename=report.name, min_minutes=min_minutes, now=now)
    details = (
        f"{record.filename} ({record.platform or 'platform not recognised'}), from the command line; "
        f"columns used: {record.columns_used}\n"
        f"{record.attended} attended, {record.no_shows} no-shows, {record.unregistered} not registered"
    )
    audit(webinar, "attendance imported", None, now, details)
    db.session.commit()
    click.echo(
        f"{record.attended} attended, {record.no_shows} no-show{'' if record.no_shows == 1 else 's'}; "
        f"{record.unregistered} participant{'' if record.unregistered == 1 else 's'} not registered."
    )
