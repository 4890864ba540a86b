"""`flask --app webinars reminders send`: safe to run from cron every few minutes."""

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
