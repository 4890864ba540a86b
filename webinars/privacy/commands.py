"""`flask --app webinars privacy export|erase EMAIL`: a person's data, on their request."""

import json

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _

from ..addresses import shown_address
from ..database import utcnow
from ..extensions import db


@click.group("privacy", help="A person's data: export or erase everything held about one address.")
def privacy_group():
    pass


def export_address(email: str) -> None:
    from . import operations

    now = utcnow()
    data = operations.export(email, now=now)
    operations.record("data exported", email, operations.find(email), by=None, now=now)
    db.session.commit()
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def erase_address(email: str, yes: bool) -> None:
    from . import operations

    held = operations.find(email)
    if held.empty:
        click.echo(_("Nothing is stored for that address."))
        return
    click.echo(_("Held about %(email)s:", email=shown_address(operations.normalise(email))))
    for line in held.describe():
        click.echo(f"  - {line}")
    if not yes:
        click.confirm(_("Erase all of it? Registrations are kept anonymised so that counts stay right"), abort=True)
    now = utcnow()
    erased = operations.erase(email, now=now)
    operations.record("data erased", email, erased, by=None, now=now)
    db.session.commit()
    click.echo(
        _(
            "Erased %(email)s: %(what)s.",
            email=shown_address(operations.normalise(email)),
            what="; ".join(erased.describe()),
        )
    )


@privacy_group.command("export")
@click.argument("email")
@with_appcontext
def export(email: str):
    """Print, as JSON, everything held about one address: newsletter subscription and consent records,
    registrations, emails, rate-limit records and development .eml files."""
    export_address(email)


@privacy_group.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase(email: str, yes: bool):
    """Erase everything held about one address (registrations are kept anonymised, for the counts)."""
    erase_address(email, yes)


# `newsletter export` and `newsletter erase`, kept for scripts written against them: a person's data is
# wider than the newsletter's, so both do exactly what `privacy export` and `privacy erase` do. The CLI
# (webinars/cli.py) adds them to the newsletter's group, which does not import this part.
@click.command("export")
@click.argument("email")
@with_appcontext
def newsletter_export(email: str):
    """Same as `privacy export EMAIL`: everything held about one address, as JSON."""
    export_address(email)


@click.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def newsletter_erase(email: str, yes: bool):
    """Same as `privacy erase EMAIL`: erase everything held about one address."""
    erase_address(email, yes)
