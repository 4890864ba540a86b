"""`flask --app webinars reminders send` (safe to run from cron every few minutes) and
`flask --app webinars attendance import SLUG FILE` (the platform's participant report)."""

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import ngettext


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
    from .attendance import apply_report, attendance_summary, read_for
    from .participant_reports import ReportError

    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
    if webinar is None:
        raise click.UsageError(_("No webinar has the slug %(slug)s.", slug=repr(slug)))
    now = utcnow()
    if now < webinar.starts_at:
        raise click.UsageError(_("This webinar has not started yet: import its attendance afterwards."))
    chosen_zone = canonical_zone_or_none(zone) if zone else webinar.timezone
    if chosen_zone is None:
        raise click.UsageError(_("%(zone)s is not a time zone; use a name such as Europe/Paris.", zone=repr(zone)))
    if report.stat().st_size > 50 * 1024 * 1024:
        raise click.UsageError(_("The file is larger than 50 MB; no participant report is that large."))
    try:
        parsed = read_for(webinar, report.read_bytes())
    except ReportError as error:
        raise click.ClickException(str(error)) from error
    platform = parsed.platform or _("platform not recognised")
    click.echo(_("Read %(file)s (%(platform)s).", file=report.name, platform=platform))
    click.echo(_("Columns used: %(columns)s.", columns=parsed.describe_columns()))
    for note in parsed.notes:
        click.echo(note)
    if dry_run:
        click.echo(
            ngettext(
                "%(num)s participant with an address; nothing changed (--dry-run).",
                "%(num)s participants with an address; nothing changed (--dry-run).",
                len(parsed.people),
            )
        )
        return
    record = apply_report(webinar, parsed, zone=chosen_zone, filename=report.name, min_minutes=min_minutes, now=now)
    summary = attendance_summary(record)
    audit(webinar, "attendance imported", None, now, summary + "\n" + _("from the command line"))
    db.session.commit()
    click.echo(summary.splitlines()[-1] + ".")
