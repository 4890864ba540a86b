"""Commands for this area (filled in by its issue)."""

import click


@click.group("newsletter", help="The newsletter.")
def newsletter_group():
    pass
