"""Commands for this area (filled in by its issue)."""

import click


@click.group("mail", help="Outgoing mail.")
def mail_group():
    pass
