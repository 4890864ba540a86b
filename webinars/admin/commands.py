"""Commands for this area (filled in by its issue)."""

import click


@click.group("admin", help="Organisers.")
def admin_group():
    pass
