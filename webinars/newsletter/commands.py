"""`flask --app webinars newsletter ...`: campaigns, personal data and suppressed addresses."""

from pathlib import Path

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from ..addresses import shown_address
from ..database import MAX_ID
from ..extensions import db
from ..labels import label


@click.group("newsletter", help="The newsletter.")
def newsletter_group():
    pass


def _queue(subject: str, body: str, topics: tuple[str, ...], webinar=None, translations=None) -> None:
    from . import operations

    try:
        campaign = operations.create_campaign(
            subject, body, topics, created_by="cli", webinar=webinar, translations=translations
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from error
    # Committed before expansion, so a crash during expansion leaves a campaign `resume` can finish.
    db.session.commit()
    _expand(campaign)


def _expand(campaign) -> None:
    from . import operations

    operations.expand_campaign(campaign)
    click.echo(
        ngettext(
            "Campaign %(id)s “%(subject)s”: %(num)s recipient queued. "
            "The mail worker delivers it (flask --app webinars mail send --loop).",
            "Campaign %(id)s “%(subject)s”: %(num)s recipients queued. "
            "The mail worker delivers them (flask --app webinars mail send --loop).",
            campaign.recipients_count,
            id=campaign.id,
            subject=campaign.subject,
        )
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
@click.option(
    "--at",
    "send_at",
    type=click.DateTime(formats=["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"]),
    default=None,
    help='Send it then instead of now (the mail worker starts it), e.g. "2030-06-04 09:00", in --zone.',
)
@click.option("--zone", default=None, help="The time zone of --at, e.g. Europe/Paris (required with --at).")
@click.option(
    "--translation",
    "translation_options",
    multiple=True,
    type=(str, str, click.Path(exists=True, dir_okay=False, path_type=Path)),
    metavar="LANG SUBJECT FILE",
    help='A version for subscribers who signed up in LANG (e.g. fr "Sujet" campagne.fr.md).',
)
@with_appcontext
def send(subject: str, body_file: Path, topics: tuple[str, ...], send_at, zone: str | None, translation_options):
    """Queue a campaign to every confirmed subscriber who chose one of the topics, or no topic at all
    (now, or at --at in --zone); each gets the version of their language when there is one."""
    translations = {lang: (other, path.read_text(encoding="utf-8")) for lang, other, path in translation_options}
    if send_at is None:
        _queue(subject, body_file.read_text(encoding="utf-8"), topics, translations=translations)
        return
    _schedule(subject, body_file.read_text(encoding="utf-8"), topics, send_at, zone, translations)


def _schedule(subject: str, body: str, topics: tuple[str, ...], send_at, zone: str | None, translations=None) -> None:
    from ..database import utcnow
    from ..timezones import UnknownZoneError, WallTimeError, canonical_zone_or_none, localize, zone_time
    from . import operations

    chosen = canonical_zone_or_none(zone)
    if not zone or chosen is None:
        raise click.UsageError(_("Give the time zone of --at with --zone, e.g. Europe/Paris."))
    try:
        at = localize(send_at, chosen)
    except (WallTimeError, UnknownZoneError) as error:
        raise click.UsageError(str(error)) from error
    try:
        campaign = operations.create_campaign(
            subject, body, topics, created_by="cli", draft=True, translations=translations
        )
        operations.schedule_campaign(campaign, at, chosen, now=utcnow())
    except ValueError as error:  # CampaignStateError included: a time in the past
        raise click.UsageError(str(error)) from error
    db.session.commit()
    when = zone_time(at, chosen)
    click.echo(
        _(
            "Campaign %(id)s “%(subject)s” is scheduled for %(date)s at %(time)s (%(zone)s); the mail worker "
            "starts it then. Cancel it before that with: flask --app webinars newsletter unschedule %(id)s",
            id=campaign.id,
            subject=campaign.subject,
            date=when.date,
            time=when.text,
            zone=chosen,
        )
    )


@newsletter_group.command("unschedule")
@click.argument("campaign_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def unschedule(campaign_id: int):
    """Cancel a scheduled campaign before it starts (it becomes a draft, which the admin can send later)."""
    from . import operations
    from .models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.UsageError(_("No campaign has the id %(id)s.", id=campaign_id))
    if not operations.cancel_schedule(campaign):
        raise click.ClickException(_("Campaign %(id)s was not waiting to be sent.", id=campaign_id))
    db.session.commit()
    click.echo(_("The scheduled sending of campaign %(id)s is cancelled; it is a draft again.", id=campaign_id))


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
    """Queue an announcement of an upcoming webinar: title, date, times in its display zones, a link to
    register; in French (its French title and summary) for subscribers who signed up in French."""
    from ..catalogue.models import Webinar
    from ..database import utcnow
    from . import operations

    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
    if webinar is None or webinar.status not in ("published", "cancelled"):
        raise click.UsageError(_("No published webinar has the slug “%(slug)s”.", slug=slug))
    refused = operations.why_not_announceable(webinar, utcnow())
    if refused:
        raise click.UsageError(_("“%(slug)s” cannot be announced. %(why)s", slug=slug, why=refused))
    subject, body = operations.announcement_markdown(webinar)
    _queue(subject, body, topics, webinar=webinar, translations=operations.announcement_translations(webinar))


@newsletter_group.command("digest")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M"]),
    default=None,
    help="Start of the period, in UTC (default: where the last digest ended; the first one covers everything).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be sent, send nothing, record nothing.")
@with_appcontext
def digest(since, dry_run: bool):
    """Queue the digest: to each confirmed subscriber, the new items and upcoming webinars of their
    topics since the last digest. Safe to run from cron: a period is sent once."""
    import pytz

    from ..database import utcnow
    from . import digest as digests

    now = utcnow()
    start = pytz.utc.localize(since) if since is not None else None
    if start is not None and start >= now:
        raise click.UsageError(_("--since must be in the past."))
    if not dry_run:
        for unfinished in digests.resume_unfinished():
            click.echo(
                _(
                    "Digest %(id)s: finished an interrupted expansion (%(num)s queued).",
                    id=unfinished.id,
                    num=unfinished.recipients_count,
                )
            )
    start, end = digests.next_period(now, start)
    plan = digests.make_plan(start, end)
    period = _period(start, end)
    summary = _plan_summary(plan)
    if dry_run:
        recipients = digests.estimate_recipients(plan)
        click.echo(
            ngettext(
                "Dry run for %(period)s: %(summary)s; %(num)s subscriber would get it.",
                "Dry run for %(period)s: %(summary)s; %(num)s subscribers would get it.",
                recipients,
                period=period,
                summary=summary,
            )
        )
        return
    try:
        digest_row = digests.create_digest(plan, created_by="cli")
    except digests.DigestExists as exists:
        db.session.rollback()
        if exists.digest is not None:
            message = _(
                "A digest for the period from %(start)s is already recorded (digest %(id)s); nothing sent.",
                start=_when(start),
                id=exists.digest.id,
            )
        else:
            message = _("A digest for the period from %(start)s is already recorded; nothing sent.", start=_when(start))
        click.echo(message)
        return
    db.session.commit()  # recorded before expansion: an interruption leaves a digest that can be resumed
    digests.expand_digest(digest_row)
    skipped = digest_row.considered_count - digest_row.recipients_count
    click.echo(
        ngettext(
            "Digest %(id)s for %(period)s: %(summary)s; %(num)s recipient queued, %(skipped)s with nothing new "
            "(or suppressed) skipped. The mail worker delivers it.",
            "Digest %(id)s for %(period)s: %(summary)s; %(num)s recipients queued, %(skipped)s with nothing new "
            "(or suppressed) skipped. The mail worker delivers them.",
            digest_row.recipients_count,
            id=digest_row.id,
            period=period,
            summary=summary,
            skipped=skipped,
        )
    )


def _when(instant) -> str:
    from .digest import FIRST_PERIOD_START

    return _("the beginning") if instant == FIRST_PERIOD_START else f"{instant:%Y-%m-%d %H:%M} UTC"


def _period(start, end) -> str:
    """'the period from 2026-01-05 07:00 UTC to 2026-01-12 07:00 UTC', or, for the first digest,
    'everything published until 2026-01-12 07:00 UTC'."""
    from .digest import FIRST_PERIOD_START

    if start == FIRST_PERIOD_START:
        return _("everything published until %(end)s", end=_when(end))
    return _("the period from %(start)s to %(end)s", start=_when(start), end=_when(end))


def _plan_summary(plan) -> str:
    """'2 new items, 1 webinar in the next 30 days (1 new)': the words the digest page uses."""
    new_webinars = sum(1 for webinar in plan.webinars if webinar.new)
    items = ngettext("%(num)s new item", "%(num)s new items", len(plan.items))
    webinars = ngettext(
        "%(num)s webinar in the next %(days)s days",
        "%(num)s webinars in the next %(days)s days",
        len(plan.webinars),
        days=plan.upcoming_days,
    )
    new = ngettext("%(num)s new", "%(num)s new", new_webinars)
    return f"{items}, {webinars} ({new})"


@newsletter_group.command("resume")
@click.argument("campaign_id", type=click.IntRange(1, MAX_ID))
@with_appcontext
def resume(campaign_id: int):
    """Finish queueing a campaign whose expansion was interrupted (a crash, a restart)."""
    from .models import Campaign

    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.UsageError(_("There is no campaign %(id)s.", id=campaign_id))
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
        raise click.UsageError(_("There is no campaign %(id)s.", id=campaign_id))
    if operations.finish_campaign_if_done(campaign):
        db.session.commit()
    counts = operations.campaign_progress(campaign)
    click.echo(
        _("Campaign %(id)s (%(status)s):", id=campaign.id, status=label("campaign", campaign.status))
        + " "
        + ", ".join(f"{label('message', k) if k != 'total' else _('total')} {v}" for k, v in counts.items())
    )
    if campaign.error:
        click.echo(_("Stopped: %(reason)s", reason=campaign.error))


@newsletter_group.group("suppressions")
def suppressions_group():
    """Addresses that hard-bounced and are skipped by campaigns."""


@suppressions_group.command("list")
@with_appcontext
def suppressions_list():
    from ..outbox.operations import suppressions

    rows = suppressions()
    if not rows:
        click.echo(_("No suppressed addresses."))
    for row in rows:
        click.echo(f"{row.email}\t{row.created_at:%Y-%m-%d %H:%M}Z\t{row.reason}")


@suppressions_group.command("clear")
@click.argument("email")
@with_appcontext
def suppressions_clear(email: str):
    """Mail this address again (after the person fixed their mailbox)."""
    from ..outbox.operations import clear_suppression
    from .operations import normalise_email

    if clear_suppression(email):
        db.session.commit()
        click.echo(_("%(email)s is no longer suppressed.", email=shown_address(normalise_email(email))))
    else:
        raise click.ClickException(_("%(email)s is not suppressed.", email=email))
