"""`flask --app webinars admin ...`: create organisers, give them a role, reset their passwords, deactivate
and reactivate them."""

import sys

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import select

from ..addresses import AddressError, canonical_address, shown_address
from ..extensions import db
from . import organisers
from .auth import MIN_PASSWORD_LENGTH, hash_password, normalise_email
from .models import ORGANISER_ROLES, Organiser
from .organisers import role_name

ROLE_OPTION = click.Choice(ORGANISER_ROLES)


@click.group("admin", help="Organisers.")
def admin_group():
    pass


def _read_password(password_stdin: bool) -> str:
    # Scripts pipe the password in; people at a terminal are prompted twice, without echo.
    if password_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(_("The password must have at least %(num)s characters.", num=MIN_PASSWORD_LENGTH))
    return password


def _valid_email(email: str) -> str:
    try:
        return normalise_email(canonical_address(email))
    except AddressError as exc:
        raise click.ClickException(
            _("“%(email)s” is not a valid email address: %(reason)s", email=email, reason=exc)
        ) from exc


@admin_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="The organiser's name, shown in the audit trail.")
@click.option(
    "--role",
    type=ROLE_OPTION,
    default="owner",
    show_default=True,
    help="owner: everything, organiser accounts and subscriber data included; editor: webinars, content, the "
    "registrations of their webinars, and campaigns once an owner approves them.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@with_appcontext
def create(email: str, name: str, role: str, password_stdin: bool):
    """Create an organiser who can sign in at /admin/login."""
    email = _valid_email(email)
    if db.session.scalar(select(Organiser.id).where(Organiser.email == email)) is not None:
        raise click.ClickException(
            _("An organiser with the address %(email)s already exists.", email=shown_address(email))
        )
    password = _read_password(password_stdin)
    organisers.create_organiser(email, name=name, role=role, password=password)
    db.session.commit()
    click.echo(
        _("Created organiser %(email)s.", email=shown_address(email)) + " " + _("Role: %(role)s.", role=role_name(role))
    )


def _organiser(email: str) -> Organiser:
    organiser = db.session.scalar(select(Organiser).where(Organiser.email == normalise_email(email)))
    if organiser is None:
        raise click.ClickException(_("No organiser has the address %(email)s.", email=email))
    return organiser


@admin_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@with_appcontext
def set_password(email: str, password_stdin: bool):
    """Give an existing organiser a new password; every session they had ends."""
    organiser = _organiser(email)
    organiser.password_hash = hash_password(_read_password(password_stdin))
    organiser.end_sessions()  # whoever knew the old password is signed out too
    db.session.commit()
    click.echo(
        _("Password changed for %(email)s; every session they had has ended.", email=shown_address(organiser.email))
    )


@admin_group.command("set-role")
@click.argument("email")
@click.argument("role", type=ROLE_OPTION)
@with_appcontext
def set_role(email: str, role: str):
    """Make an organiser an owner or an editor; every session they have ends, so the new rights apply at once."""
    organiser = _organiser(email)
    changed = organisers.set_role(organiser, role, even_the_last_owner=True)
    db.session.commit()
    if changed:
        click.echo(_("%(email)s is now %(role)s.", email=shown_address(organiser.email), role=role_name(role)))
    else:
        click.echo(_("%(email)s was already %(role)s.", email=shown_address(organiser.email), role=role_name(role)))
    _warn_without_owner()


def _warn_without_owner() -> None:
    # The web pages never let the last owner go; the command line may, since it can always make a new one.
    if not organisers.active_owners():
        click.echo(
            _(
                "No active owner is left: nobody can manage organiser accounts in /admin/ until you run "
                "“flask --app webinars admin set-role EMAIL owner” (or admin create EMAIL --role owner)."
            )
        )


@admin_group.command("list")
@with_appcontext
def list_organisers():
    """Every organiser with their role and whether they can sign in."""
    for organiser in organisers.all_organisers():
        state = "" if organiser.active else " " + _("(deactivated)")
        click.echo(f"{shown_address(organiser.email)}\t{role_name(organiser.role)}{state}")


@admin_group.command("deactivate")
@click.argument("email")
@with_appcontext
def deactivate(email: str):
    """Stop an organiser from signing in, and end every session they have."""
    organiser = _organiser(email)
    organisers.set_active(organiser, False, even_the_last_owner=True)
    db.session.commit()
    click.echo(_("Deactivated %(email)s; every session they had has ended.", email=shown_address(organiser.email)))
    _warn_without_owner()


@admin_group.command("activate")
@click.argument("email")
@with_appcontext
def activate(email: str):
    """Let a deactivated organiser sign in again (with their password)."""
    organiser = _organiser(email)
    organiser.active = True
    db.session.commit()
    click.echo(_("Activated %(email)s; they can sign in again.", email=shown_address(organiser.email)))
