"""`flask --app webinars newsletter ...`: campaigns, personal data and suppressed addresses."""

from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..database import MAX_ID
from ..extensions import db


@click.group("newsletter", help="The newsletter.")
def newsletter_group():
    pass


def _queue(subject: str, body: str, topics: tuple[str, ...], webinar=None) -> None:
    from . import operations

    try:
        campaign = operations.create_campaign(subject, body, topics, created_by="cli", webinar=webinar)
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    # Committed before expansion, so a crash during expansion leaves a campaign `resume` can finish.
    db.session.commit()
    _expand(campaign)


def _expand(campaign) -> None:
    from . import operations

    operations.expand_campaign(campaign)
    click.echo(
        f"Campaign {campaign.id} “{campaign.subject}”: {campaign.recipients_count} recipients queued. "
        "The mail worker delivers them (flask --app webinars mail send --loop)."
    )


@newsletter_group.command("send")
@click.option("--subject", required=True, help="The subject line.")
@click.option(
    "--body-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Markdown body."
)
@click.option(
    "--topic",
    "topics",
    multiple=True,
    help="Topic slug; repeat for several. Subscribers who chose no topic get every campaign. None: everyone.",
)
@with_appcontext
def send(subject: str, body_file: Path, topics: tuple[str, ...]):
    """Queue a campaign to every confirmed subscriber who chose one of the topics, or no topic at all."""
    _queue(subject, body_file.read_text(encoding="utf-8"), topics)


@newsletter_group.command("announce")
@click.argument("slug")
@click.option(
    "--topic",
    "topics",
    multiple=True,
    help="Only subscribers of these topics, and those who chose no topic (default: everyone).",
)
@with_appcontext
def announce(slug: str, topics: tuple[str, ...]):
    """Queue an announcement of a webinar: title, date, times in its display zones, a link to register."""
    from ..catalogue.models import Webinar
    from . import operations

    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
    if webinar is None or webinar.status != "published":
        raise click.UsageError(f"No published webinar with the slug {slug!r}.")
    if not webinar.presentable:
        raise click.UsageError(f"The date or time zone of {slug!r} cannot be shown; fix it in the admin first.")
    subject, body = operations.announcement_markdown(webinar)
    _queue(subject, body, topics, webinar=webinar)


@newsletter_group.command("resume")
@click.argument("campaign_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def resume(campaign_id: int):
    """Finish queueing a campaign whose expansion was interrupted (a crash, a restart)."""
    from .models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.UsageError(f"No campaign {campaign_id}.")
    _expand(campaign)


@newsletter_group.command("progress")
@click.argument("campaign_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def progress(campaign_id: int):
    """How far a campaign has got."""
    from . import operations
    from .models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.UsageError(f"No campaign {campaign_id}.")
    if operations.finish_campaign_if_done(campaign):
        db.session.commit()
    counts = operations.campaign_progress(campaign)
    click.echo(f"Campaign {campaign.id} ({campaign.status}): " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if campaign.error:
        click.echo(f"Stopped: {campaign.error}")


# Kept for scripts written against them: a person's data is wider than the newsletter's, so both
# now do exactly what `privacy export` and `privacy erase` do.
@newsletter_group.command("export")
@click.argument("email")
@with_appcontext
def export(email: str):
    """Same as `privacy export EMAIL`: everything held about one address, as JSON."""
    from ..privacy.commands import export_address

    export_address(email)


@newsletter_group.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
def erase(email: str, yes: bool):
    """Same as `privacy erase EMAIL`: erase everything held about one address."""
    from ..privacy.commands import erase_address

    erase_address(email, yes)


@newsletter_group.group("suppressions")
def suppressions_group():
    """Addresses that hard-bounced and are skipped by campaigns."""


@suppressions_group.command("list")
@with_appcontext
def suppressions_list():
    from . import operations

    rows = operations.suppressions()
    if not rows:
        click.echo("No suppressed addresses.")
    for row in rows:
        click.echo(f"{row.email}\t{row.created_at:%Y-%m-%d %H:%M}Z\t{row.reason}")


@suppressions_group.command("clear")
@click.argument("email")
@with_appcontext
def suppressions_clear(email: str):
    """Mail this address again (after the person fixed their mailbox)."""
    from . import operations

    if operations.clear_suppression(email):
        db.session.commit()
        click.echo(f"{operations.normalise_email(email)} is no longer suppressed.")
    else:
        raise click.ClickException(f"{email} is not suppressed.")
