"""`flask --app webinars reminders send`: safe to run from cron every few minutes."""

import click
from flask.cli import with_appcontext


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
    click.echo(f"Queued {result['24h']} 24-hour and {result['1h']} 1-hour reminders; skipped {result['skipped']}.")
