"""Commands for this area (filled in by its issue)."""

import click


@click.group("reminders", help="Reminders before webinars.")
def reminders_group():
    pass
