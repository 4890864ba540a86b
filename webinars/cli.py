"""Flask commands: `flask --app webinars <group> <command>`. Each area keeps its own group."""

import click
from flask import Flask
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import ngettext

from .admin.commands import admin_group
from .catalogue.demo import load_demo_data
from .content.demo import load_demo_content
from .newsletter.commands import newsletter_group
from .outbox.commands import mail_group
from .privacy.commands import newsletter_erase, newsletter_export, privacy_group
from .registrations.commands import attendance_group, registrations_group, reminders_group


@click.group("demo", help="Demo data for a living site.")
def demo_group():
    pass


@demo_group.command("load")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already holds webinars.")
@with_appcontext
def demo_load(if_empty: bool):
    """Load the seed webinars, several upcoming ones dated from today, and the seed pages' content items."""
    loaded = load_demo_data(only_if_empty=if_empty)
    if loaded:
        click.echo(ngettext("Loaded %(num)s demo webinar.", "Loaded %(num)s demo webinars.", loaded))
    else:
        click.echo(_("The database already holds webinars; nothing loaded."))
    items = load_demo_content()
    if items:
        click.echo(ngettext("Loaded %(num)s demo content item.", "Loaded %(num)s demo content items.", items))


def register(app: Flask) -> None:
    # The newsletter's old names for a person's data requests, which the privacy part answers.
    newsletter_group.add_command(newsletter_export)
    newsletter_group.add_command(newsletter_erase)
    groups = (
        demo_group,
        mail_group,
        reminders_group,
        registrations_group,
        attendance_group,
        newsletter_group,
        privacy_group,
        admin_group,
    )
    for group in groups:
        app.cli.add_command(group)
