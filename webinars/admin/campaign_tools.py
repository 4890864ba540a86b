"""A campaign's life before it leaves: a draft is changed, tried (a test to its author), approved by an
owner when an editor wrote it, then sent now or scheduled at a date and time in a chosen zone (the
mail worker starts it then), and a schedule can be cancelled until it starts. Each step is recorded
in the history."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from .. import audit as audit_trail
from ..catalogue import queries as catalogue_queries
from ..database import utcnow
from ..extensions import db
from ..forms import ButtonForm
from ..language import DEFAULT_LANGUAGE, current_language
from ..markup import markdown_to_html
from ..newsletter import queries as newsletter_queries
from ..newsletter.operations import (
    CampaignStateError,
    approve_campaign,
    cancel_schedule,
    expand_campaign,
    queue_campaign_test,
    schedule_campaign,
    send_now,
    update_draft,
)
from ..timezones import zone_time
from .blueprint import INVALID, blueprint, current_organiser
from .forms import CampaignForm, CampaignSendForm

DEFAULT_ZONE = "Europe/Paris"


def _campaign_or_404(campaign_id: int):
    campaign = newsletter_queries.campaign(campaign_id)
    if campaign is None:
        abort(404)
    return campaign


def _record(action: str, campaign, details: str = "") -> None:
    text = _("Campaign %(id)s “%(subject)s”", id=campaign.id, subject=campaign.subject)
    audit_trail.record(action, current_organiser(), utcnow(), f"{text}\n{details}".strip())


def campaign_page_context(campaign) -> dict:
    """What a campaign's page shows besides its progress: how many it reaches now, whether the signed-in
    organiser may send it, the form to send or schedule it, and when a scheduled one leaves."""
    organiser = current_organiser()
    slugs = [topic.slug for topic in campaign.topics]
    scheduled = None
    if campaign.scheduled_for is not None and campaign.scheduled_zone:
        scheduled = zone_time(campaign.scheduled_for, campaign.scheduled_zone)
    return {
        "recipients": newsletter_queries.count_recipients(slugs),
        "may_send": campaign.status == "draft" and (campaign.approved or organiser.is_owner),
        "may_approve": campaign.status == "draft"
        and campaign.needs_approval
        and not campaign.approved
        and organiser.is_owner,
        "send_form": CampaignSendForm(data={"zone": DEFAULT_ZONE, "when": "now"}),
        "scheduled": scheduled,
        "preview": markdown_to_html(campaign.body_markdown),
        "preview_fr": markdown_to_html((campaign.translations or {}).get("fr", {}).get("body_markdown", "")),
        "button": ButtonForm(),
    }


def _topic_choices() -> list[tuple[int, str]]:
    return [(topic.id, topic.name) for topic in catalogue_queries.all_topics()]


@blueprint.route("/newsletter/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
def campaign_edit(campaign_id: int):
    """Change a draft (its approval, if it had one, goes with the old text)."""
    campaign = _campaign_or_404(campaign_id)
    back = url_for("admin.campaign", campaign_id=campaign.id)
    if campaign.status != "draft":
        flash(_("Only a draft can be changed."), "info")
        return redirect(back)
    form = CampaignForm(topic_choices=_topic_choices(), data=CampaignForm.data_of(campaign))
    slugs = [topic.slug for topic in catalogue_queries.topics_by_id(form.topics.data)]
    status = 200
    if form.validate_on_submit():
        try:
            changed = update_draft(campaign, form.subject.data, form.body.data, slugs, form.translations)
        except (ValueError, CampaignStateError) as exc:
            db.session.rollback()
            form.subject.errors = [str(exc)]
            status = INVALID
        else:
            if changed:
                _record("campaign changed", campaign)
                db.session.commit()
            flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
            return redirect(back, 303)
    elif request.method == "POST":
        status = INVALID
    return (
        render_template(
            "admin/campaign_form.html",
            form=form,
            preview=None,
            webinar=None,
            recipients=newsletter_queries.count_recipients(slugs),
            campaign=campaign,
        ),
        status,
    )


@blueprint.post("/newsletter/campaigns/<int:campaign_id>/test")
def campaign_test(campaign_id: int):
    """The campaign, as subscribers will read it, to the signed-in organiser: one test per version
    (the campaign's own text in the organiser's language, then each translation)."""
    campaign = _campaign_or_404(campaign_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    organiser = current_organiser()
    now = utcnow()
    languages = [current_language()] if not campaign.languages else [DEFAULT_LANGUAGE, *campaign.languages]
    for language in languages:
        queue_campaign_test(campaign, to=organiser.email, language=language, now=now)
    db.session.commit()
    if len(languages) == 1:
        flash(_("A test is on its way to %(email)s.", email=organiser.email), "success")
    else:
        flash(
            _(
                "%(num)s tests, one per language, are on their way to %(email)s.",
                num=len(languages),
                email=organiser.email,
            ),
            "success",
        )
    return redirect(url_for("admin.campaign", campaign_id=campaign.id), 303)


@blueprint.post("/newsletter/campaigns/<int:campaign_id>/approve")
def campaign_approve(campaign_id: int):
    """An owner approves a draft an editor wrote (owners only, see blueprint.py)."""
    campaign = _campaign_or_404(campaign_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    try:
        approve_campaign(campaign, by=current_organiser().email, now=utcnow())
    except CampaignStateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        _record("campaign approved", campaign)
        db.session.commit()
        flash(_("Approved: it can now be sent or scheduled."), "success")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id), 303)


@blueprint.post("/newsletter/campaigns/<int:campaign_id>/send")
def campaign_send(campaign_id: int):
    """Send a draft now, or schedule it; an editor's draft only once an owner approved it."""
    campaign = _campaign_or_404(campaign_id)
    page = url_for("admin.campaign", campaign_id=campaign.id)
    form = CampaignSendForm()
    if campaign.status != "draft":  # sent or scheduled meanwhile (another tab, another organiser)
        flash(_("This campaign is no longer a draft."), "info")
        return redirect(page, 303)
    if not (campaign.approved or current_organiser().is_owner):
        flash(_("An owner must approve this campaign before it is sent."), "error")
        return redirect(page, 303)
    if not form.validate_on_submit() or not form.confirm.data:
        if form.csrf_token.errors:
            abort(400)
        if not form.confirm.data:
            form.confirm.errors = [*form.confirm.errors, _("Tick this box to send the campaign.")]
        context = campaign_page_context(campaign) | {"send_form": form}
        return (
            render_template(
                "admin/campaign.html",
                campaign=campaign,
                progress=newsletter_queries.campaign_progress(campaign),
                **context,
            ),
            INVALID,
        )
    now = utcnow()
    if campaign.needs_approval and not campaign.approved:
        approve_campaign(campaign, by=current_organiser().email, now=now)  # an owner sending it approves it
    try:
        if form.when.data == "later":
            schedule_campaign(campaign, form.send_at, form.zone.data, now=now)
        else:
            send_now(campaign, now=now)
    except CampaignStateError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(page, 303)
    if campaign.status == "scheduled":
        when = zone_time(campaign.scheduled_for, campaign.scheduled_zone)
        _record("campaign scheduled", campaign, f"{when.date} {when.text} ({campaign.scheduled_zone})")
        db.session.commit()
        flash(
            _("Scheduled: the mail worker sends it on %(date)s at %(time)s.", date=when.date, time=when.text),
            "success",
        )
        return redirect(page, 303)
    _record("campaign sent", campaign)
    # Committed before it is expanded (expansion commits batch by batch): an interruption leaves a
    # campaign the mail worker finishes.
    db.session.commit()
    expand_campaign(campaign)
    flash(
        _("The campaign is queued for %(n)s subscribers; the mail worker sends it.", n=campaign.recipients_count),
        "success",
    )
    return redirect(page, 303)


@blueprint.post("/newsletter/campaigns/<int:campaign_id>/unschedule")
def campaign_unschedule(campaign_id: int):
    """Cancel a scheduled sending before it starts: the campaign is a draft again."""
    campaign = _campaign_or_404(campaign_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if cancel_schedule(campaign):
        _record("campaign unscheduled", campaign)
        db.session.commit()
        flash(_("The scheduled sending is cancelled: the campaign is a draft again."), "success")
    else:
        flash(_("This campaign was not waiting to be sent: it has started, or was never scheduled."), "info")
    return redirect(url_for("admin.campaign", campaign_id=campaign.id), 303)
