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


@click.group("registrations", help="A webinar's registrants.")
def registrations_group():
    pass


@registrations_group.command("message")
@click.argument("slug")
@click.option("--subject", required=True, help="The subject line.")
@click.option(
    "--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Markdown body."
)
@click.option(
    "--status",
    "audience",
    type=click.Choice(["confirmed", "waitlisted", "all"]),
    default="confirmed",
    show_default=True,
    help="confirmed: those with a seat; waitlisted: the waiting list; all: everyone registered.",
)
@click.option(
    "--translation",
    "translations",
    multiple=True,
    type=(str, str, click.Path(exists=True, dir_okay=False, path_type=Path)),
    metavar="LANG SUBJECT FILE",
    help='A version for registrants writing LANG (e.g. fr "Sujet" message.fr.md); repeat for several.',
)
@click.option("--dry-run", is_flag=True, help="Say how many registrants it would reach, send nothing.")
@with_appcontext
def message(slug: str, subject: str, body_file: Path, audience: str, translations, dry_run: bool):
    """Send a Markdown message to the registrants of webinar SLUG, through the outbox: each gets it in
    their language when there is a version in it, with the link to their own registration."""
    from sqlalchemy import select

    from ..catalogue.models import Webinar
    from ..catalogue.operations import audit
    from ..database import utcnow
    from ..extensions import db
    from ..labels import label
    from . import messages

    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
    if webinar is None:
        raise click.UsageError(_("No webinar has the slug %(slug)s.", slug=repr(slug)))
    count = messages.count_recipients(webinar.id, audience)
    if dry_run:
        click.echo(
            ngettext(
                "It would reach %(num)s registrant; nothing sent (--dry-run).",
                "It would reach %(num)s registrants; nothing sent (--dry-run).",
                count,
            )
        )
        return
    versions = {lang: (other, path.read_text(encoding="utf-8")) for lang, other, path in translations}
    now = utcnow()
    try:
        sent = messages.create_message(
            webinar,
            subject=subject,
            body=body_file.read_text(encoding="utf-8"),
            audience=audience,
            translations=versions,
            created_by="cli",
            now=now,
        )
    except messages.MessageError as error:
        raise click.UsageError(str(error)) from error
    details = f"{sent.subject} ({label('audience', audience)})\n" + _("from the command line")
    audit(webinar, "message sent", None, now, details)
    db.session.commit()  # before the recipients are queued, batch by batch: an interruption is resumed
    messages.expand_message(sent)
    click.echo(
        ngettext(
            "Message %(id)s queued for %(num)s registrant; the mail worker sends it.",
            "Message %(id)s queued for %(num)s registrants; the mail worker sends it.",
            sent.recipients_count,
            id=sent.id,
        )
    )
