"""The organisers' area: sign-in, webinars, registrations, newsletter, content. Who may use each page is
decided in blueprint.py; the toolkit's pages live beside this module (accounts, webinar_tools,
registrants, subscribers).

Views are thin: parse the form, call one operation, commit once, redirect (or render with errors).
"""

import json
from datetime import date, datetime, time
from urllib.parse import urlsplit

from flask import Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import TooManyRequests

from .. import audit
from ..catalogue import operations as catalogue_ops
from ..catalogue import queries as catalogue_queries
from ..content import operations as content_ops
from ..content import queries as content_queries
from ..database import parse_id, utcnow
from ..extensions import db
from ..forms import ButtonForm
from ..markup import markdown_to_html
from ..newsletter import digest as digests
from ..newsletter import queries as newsletter_queries
from ..newsletter.operations import (
    announcement_markdown,
    announcement_translations,
    create_campaign,
    expand_campaign,
    why_not_announceable,
)
from ..outbox import queries as outbox_queries
from ..outbox.operations import requeue_failed
from ..privacy import operations as privacy_ops
from ..registrations import queries as registration_queries
from ..registrations import questions as registration_questions
from ..registrations.notifications import queue_recording_followups
from ..registrations.operations import SeatsFull, cancel_registration, give_seat
from ..timezones import UnknownZoneError, WallTimeError, canonical_zone_or_none, localize, to_zone, zone_times_line
from . import exports, organisers, trail
from .auth import authenticate, begin_sign_in, end_session, signed_in, start_session
from .blueprint import INVALID, blueprint, current_organiser
from .campaign_tools import campaign_page_context
from .forms import (
    DATE_RANGE_MESSAGE,
    CampaignForm,
    CancelWebinarForm,
    DiscardDraftForm,
    GiveSeatForm,
    ItemForm,
    LoginForm,
    PersonalDataForm,
    TopicForm,
    WebinarForm,
    capacity_below_confirmed_message,
    split_zones,
    year_allowed,
)
from .lines import format_agenda, format_partners, format_references
from .webinar_tools import webinar_page_context


def _organiser():
    return current_organiser()


# -- sign-in ---------------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str | None:
    """A local path to go back to after signing in; anything pointing elsewhere is ignored."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme not in ("", "http", "https") or (parts.netloc and parts.netloc != request.host):
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        client = request.remote_addr or "unknown"  # the client's own address behind PROXY_COUNT proxies
        verdict = begin_sign_in(form.email.data, client)
        # Committed before the slow password check: parallel tries see it, and no lock is held meanwhile.
        db.session.commit()
        if not verdict.allowed:
            raise TooManyRequests(retry_after=verdict.retry_after)
        organiser = authenticate(form.email.data, form.password.data)
        if organiser is None:
            form.password.errors.append(_("Wrong email address or password."))
            status = 401
        else:
            signed_in(form.email.data, client)
            db.session.commit()
            start_session(organiser, utcnow())
            return redirect(_safe_next(request.args.get("next")) or url_for("admin.index"))
    elif request.method == "POST":
        status = INVALID
    return render_template("admin/login.html", form=form), status


@blueprint.post("/logout")
def logout():
    # Signing out ends every session of this organiser, including a cookie copied elsewhere.
    end_session(_organiser())
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("admin.login"))


# -- webinars ----------------------------------------------------------------------------------------


def _webinar_or_404(webinar_id: int | None):
    webinar = catalogue_queries.webinar_by_id(webinar_id)
    if webinar is None:
        abort(404)
    return webinar


def _topic_choices() -> list[tuple[int, str]]:
    return [(topic.id, topic.name) for topic in catalogue_queries.all_topics()]


@blueprint.get("/")
def index():
    """Every webinar with its figures: confirmed, waiting list, attended."""
    webinars = catalogue_queries.all_webinars()
    figures = registration_queries.figures(webinar.id for webinar in webinars)
    looked_after = organisers.webinars_looked_after(_organiser())
    return render_template(
        "admin/index.html", webinars=webinars, figures=figures, looked_after=looked_after, now=utcnow()
    )


def _form_data(webinar) -> dict:
    items = catalogue_ops.items_of(webinar)
    data = {
        "title": webinar.title,
        "slug": webinar.slug,
        "summary": webinar.summary,
        "description": webinar.description,
        "timezone": webinar.timezone,
        "duration_minutes": webinar.duration_minutes if 0 < webinar.duration_minutes <= 24 * 60 else 60,
        "display_zones": webinar.display_zones[1:],  # the event's own zone is always shown first
        "title_fr": webinar.title_fr,
        "summary_fr": webinar.summary_fr,
        "location": webinar.location,
        "capacity": webinar.capacity,
        "confirm_registrations": webinar.confirm_registrations,
        "join_url": webinar.join_url,
        "recording_url": webinar.recording_url,
        "topics": [topic.id for topic in webinar.topics],
        "agenda": format_agenda(items["sections"]),
        "partners": format_partners(items["partners"]),
        "related_items": format_references(content_queries.attached_items(webinar)),
    }
    if not webinar.presentable:
        return data  # the stored times cannot be shown: the organiser enters them again (the page says why)
    local = to_zone(webinar.starts_at, webinar.timezone)
    data["start_date"], data["start_time"] = local.date(), local.time().replace(tzinfo=None)
    if webinar.registration_deadline:
        deadline = to_zone(webinar.registration_deadline, webinar.timezone)
        data["deadline_date"] = deadline.date()
        data["deadline_time"] = deadline.time().replace(tzinfo=None)
    return data


def _fields(form: WebinarForm) -> catalogue_ops.WebinarFields:
    topics = catalogue_queries.topics_by_id(form.topics.data)
    topics += [catalogue_ops.topic_named(name) for name in form.new_topic_names()]
    return catalogue_ops.WebinarFields(
        title=form.title.data,
        slug=form.slug.data or "",
        summary=form.summary.data or "",
        description=form.description.data or "",
        starts_at=form.starts_at,
        ends_at=form.ends_at,
        timezone=form.timezone.data,
        display_zones=form.display_zones.data or [],
        title_fr=form.title_fr.data or "",
        summary_fr=form.summary_fr.data or "",
        location=form.location.data or "Online",
        capacity=form.capacity.data,
        registration_deadline=form.registration_deadline,
        confirm_registrations=bool(form.confirm_registrations.data),
        join_url=form.join_url.data or "",
        recording_url=form.recording_url.data or "",
        topics=[topic for topic in topics if topic is not None],
        sections=form.sections_items,
        partners=form.partner_items,
    )


def _preview(form: WebinarForm) -> dict:
    """What the page will show, rendered on the server so that preview works without JavaScript."""
    zones = [canonical_zone_or_none(z) for z in [form.timezone.data, *(form.display_zones.data or [])]]
    line = ""
    if form.starts_at is not None:
        line = zone_times_line(form.starts_at, list(dict.fromkeys(z for z in zones if z)))
    return {"description": markdown_to_html(form.description.data or ""), "zones_line": line}


def _wants_preview() -> bool:
    return request.form.get("action") == "preview"


CONFLICT = 409  # a unique key taken by someone else between the form's checks and our write


def _lost_race(form: WebinarForm) -> None:
    """After a unique key was taken under us: start afresh and check the form again, so that a slug
    now in use is explained beside its field; anything else is said above the form."""
    db.session.rollback()
    form.validate()
    form.conflict = True


@blueprint.route("/webinars/new", methods=["GET", "POST"])
def webinar_new():
    form = WebinarForm(topic_choices=_topic_choices(), data={"timezone": "Europe/Paris", "location": "Online"})
    preview, status = None, 200
    if form.validate_on_submit():
        if _wants_preview():
            preview = _preview(form)
        else:
            try:
                now = utcnow()
                webinar = catalogue_ops.create_webinar(_fields(form), by=_organiser(), now=now)
                content_ops.attach_to_webinar(webinar, form.related, by=_organiser(), now=now)
                organisers.add_editor(webinar.id, _organiser())  # whoever creates a webinar looks after it
                db.session.commit()
            except IntegrityError:
                _lost_race(form)
                return render_template("admin/webinar_form.html", form=form, webinar=None, preview=None), CONFLICT
            flash(_("Draft created. Check it, then publish it."), "success")
            return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    elif request.method == "POST":
        status = INVALID
        if _wants_preview():
            preview = _preview(form)
    return render_template("admin/webinar_form.html", form=form, webinar=None, preview=preview), status


def _edit_saved_message(webinar, changes: dict, notified: bool, moved_up: int) -> str:
    if not changes:
        return _("Nothing changed.")
    published = webinar.status == "published"
    message = _("Rescheduled.") if {"starts_at", "ends_at"} & changes.keys() else _("Saved.")
    if published and any(name in changes for name in catalogue_ops.NOTIFY_FIELDS):
        if notified:
            message += " " + _("Registrants are sent an updated invitation.")
        else:
            message += " " + _("Registrants were not told: you unticked “notify registrants”.")
    if moved_up:
        message += " " + ngettext(
            "%(num)s person moved up from the waiting list and is sent a confirmation.",
            "%(num)s people moved up from the waiting list and are each sent a confirmation.",
            moved_up,
        )
    return message


def _recording_followups(webinar, form: WebinarForm, now) -> tuple[int, int] | None:
    """When the organiser asked for it and the webinar has a recording: the follow-ups to its attendees
    and no-shows (each person once), recorded in its history."""
    if not (form.send_recording.data and webinar.recording_url and webinar.status == "published"):
        return None
    if not organisers.looks_after(_organiser(), webinar.id):
        return None  # the people registered are not this editor's to write to
    thanks, missed = queue_recording_followups(webinar, now)
    if thanks or missed:
        details = _(
            "Recording sent: %(thanks)s thank-you, %(missed)s sorry-we-missed-you", thanks=thanks, missed=missed
        )
        catalogue_ops.audit(webinar, "recording sent", _organiser(), now, details)
    return thanks, missed


@blueprint.route("/webinars/<int:webinar_id>/edit", methods=["GET", "POST"])
def webinar_edit(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    waiting_before = _counts(webinar)
    form = WebinarForm(
        topic_choices=_topic_choices(),
        webinar_id=webinar.id,
        confirmed=waiting_before["confirmed"] + waiting_before["pending"] if webinar.status == "published" else 0,
        data=_form_data(webinar),
    )
    preview, status = None, 200
    if form.validate_on_submit():
        if _wants_preview():
            preview = _preview(form)
        else:
            notify = bool(form.notify.data)
            try:
                now = utcnow()
                changes = catalogue_ops.update_webinar(webinar, _fields(form), by=_organiser(), now=now, notify=notify)
                related = content_ops.attach_to_webinar(webinar, form.related, by=_organiser(), now=now)
                followups = _recording_followups(webinar, form, now)
                db.session.commit()
            except IntegrityError:
                _lost_race(form)
                webinar = _webinar_or_404(webinar_id)
                return render_template("admin/webinar_form.html", form=form, webinar=webinar, preview=None), CONFLICT
            except catalogue_ops.CapacityBelowConfirmed as exc:
                # Someone registered between the form's check and the save: the same sentence, beside the field.
                db.session.rollback()
                form.capacity.errors = [capacity_below_confirmed_message(exc.confirmed)]
                webinar = _webinar_or_404(webinar_id)
                return render_template("admin/webinar_form.html", form=form, webinar=webinar, preview=None), INVALID
            moved_up = waiting_before["waitlisted"] - _counts(webinar)["waitlisted"] if "capacity" in changes else 0
            if related and not changes:
                flash(_("Saved."), "success")  # only the related content changed
            else:
                flash(_edit_saved_message(webinar, changes, notify, max(0, moved_up)), "success" if changes else "info")
            if followups:
                flash(
                    _(
                        "The recording is on its way: %(thanks)s thank-you and %(missed)s sorry-we-missed-you emails.",
                        thanks=followups[0],
                        missed=followups[1],
                    ),
                    "success",
                )
            return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    elif request.method == "POST":
        status = INVALID
        if _wants_preview():
            preview = _preview(form)
    attendance_known = registration_queries.figures([webinar.id])[webinar.id].attendance_known
    return (
        render_template(
            "admin/webinar_form.html", form=form, webinar=webinar, preview=preview, attendance_known=attendance_known
        ),
        status,
    )


@blueprint.get("/webinars/<int:webinar_id>")
def webinar(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    events = trail.lines(audit.events_of_webinar(webinar.id))
    return render_template(
        "admin/webinar.html",
        webinar=webinar,
        events=events,
        counts=_counts(webinar),
        announceable=why_not_announceable(webinar, utcnow()) is None,
        **webinar_page_context(webinar),
    )


@blueprint.post("/webinars/<int:webinar_id>/publish")
def webinar_publish(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    try:
        catalogue_ops.publish_webinar(webinar, by=_organiser(), now=utcnow())
    except catalogue_ops.WebinarStateError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    db.session.commit()
    flash(_("Published: the webinar is on the public pages and open for registration."), "success")
    return redirect(url_for("admin.webinar", webinar_id=webinar.id))


@blueprint.route("/webinars/<int:webinar_id>/cancel", methods=["GET", "POST"])
def webinar_cancel(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    if webinar.status == "cancelled":
        flash(_("This webinar is already cancelled."), "info")
        return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    if webinar.status == "draft":
        # Cancelled webinars are public; a draft never was: it is discarded instead.
        flash(_("A draft has never been public, so it cannot be cancelled: discard it instead."), "info")
        return redirect(url_for("admin.webinar_discard", webinar_id=webinar.id))
    form = CancelWebinarForm()
    status = 200
    # Only people who held a seat had an invite to remove; the others get a plain notice.
    with_calendar, notices = registration_queries.cancellation_audience(webinar.id)
    if form.validate_on_submit():
        catalogue_ops.cancel_webinar(webinar, by=_organiser(), now=utcnow(), reason=form.reason.data or "")
        db.session.commit()
        flash(
            ngettext(
                "Cancelled: %(num)s person is sent a cancellation for their calendar, %(notices)s a notice.",
                "Cancelled: %(num)s people are sent a cancellation for their calendar, %(notices)s a notice.",
                with_calendar,
                notices=notices,
            ),
            "success",
        )
        return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    if request.method == "POST":
        status = INVALID
    page = render_template(
        "admin/webinar_cancel.html", webinar=webinar, form=form, with_calendar=with_calendar, notices=notices
    )
    return page, status


@blueprint.route("/webinars/<int:webinar_id>/discard", methods=["GET", "POST"])
def webinar_discard(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    if webinar.status != "draft":
        flash(_("Only a draft can be discarded; a published webinar is cancelled instead."), "info")
        return redirect(url_for("admin.webinar", webinar_id=webinar.id))
    form = DiscardDraftForm()
    status = 200
    if form.validate_on_submit():
        title = webinar.title
        catalogue_ops.discard_draft(webinar, by=_organiser(), now=utcnow())
        db.session.commit()
        flash(_("The draft “%(title)s” is discarded.", title=title), "success")
        return redirect(url_for("admin.index"))
    if request.method == "POST":
        status = INVALID
    return render_template("admin/webinar_discard.html", webinar=webinar, form=form), status


@blueprint.get("/preview/zones")
def preview_zones():
    """JSON for the live preview of the '10:00 Paris time | 18:00 Tokyo time' line."""
    args = request.args
    zone = canonical_zone_or_none(args.get("zone", "")) or ""
    try:
        day = date.fromisoformat(args.get("date", ""))
        clock = time.fromisoformat(args.get("time", ""))
    except ValueError:
        return jsonify(line="", error=_("Enter a start date and time."))
    if not year_allowed(day.year):
        return jsonify(line="", error=str(DATE_RANGE_MESSAGE))
    try:
        instant = localize(datetime.combine(day, clock.replace(tzinfo=None)), zone)
    except UnknownZoneError:
        return jsonify(line="", error=_("Choose a time zone from the list."))
    except WallTimeError as exc:
        return jsonify(line="", error=str(exc))
    others = [name for value in args.getlist("zones") for name in split_zones(value)][:20]
    unknown = [name for name in others if canonical_zone_or_none(name) is None]
    known = list(dict.fromkeys([zone, *filter(None, map(canonical_zone_or_none, others))]))
    error = _("Unknown time zone: %(zones)s.", zones=", ".join(name[:64] for name in unknown)) if unknown else None
    return jsonify(line=zone_times_line(instant, known), error=error)


# -- registrations -----------------------------------------------------------------------------------


def _counts(webinar) -> dict:
    """Registrations per state; a hold past its deadline counts as expired before housekeeping marks it."""
    return registration_queries.counts_by_state(webinar.id)


def _registration_or_404(registration_id: int):
    registration = registration_queries.registration(registration_id)
    if registration is None:
        abort(404)
    return registration


@blueprint.get("/webinars/<int:webinar_id>/registrations")
def registrations(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    status = request.args.get("status", "")
    rows = registration_queries.of_webinar(webinar.id, status)
    return render_template(
        "admin/registrations.html",
        webinar=webinar,
        registrations=rows,
        counts=_counts(webinar),
        status=status,
        questions=registration_questions.questions_of(webinar.id, include_retired=True),
        answers=registration_queries.answers_by_registration(r.id for r in rows),
        figures=registration_queries.figures([webinar.id])[webinar.id],
        now=utcnow(),
    )


@blueprint.get("/webinars/<int:webinar_id>/registrations.csv")
def registrations_csv(webinar_id: int):
    webinar = _webinar_or_404(webinar_id)
    rows = registration_queries.of_webinar(webinar.id, by_id=True)
    return exports.registrations_response(
        webinar,
        rows,
        questions=registration_questions.questions_of(webinar.id, include_retired=True),
        answers=registration_queries.answers_by_registration(r.id for r in rows),
    )


def _registration_page(template: str, registration, form, status: int = 200):
    """A confirmation step: what will happen and what will be sent, before the POST acts."""
    webinar = registration.webinar
    counts = _counts(webinar)
    return (
        render_template(
            template,
            registration=registration,
            webinar=webinar,
            form=form,
            counts=counts,
            next_waiting=registration_queries.first_waitlisted(webinar, utcnow()),
            starts_in_future=webinar.starts_at > utcnow(),
        ),
        status,
    )


@blueprint.route("/registrations/<int:registration_id>/cancel", methods=["GET", "POST"])
def registration_cancel(registration_id: int):
    registration = _registration_or_404(registration_id)
    back = url_for("admin.registrations", webinar_id=registration.webinar_id)
    if registration.status == "cancelled":
        flash(_("That registration was already cancelled."), "info")
        return redirect(back)
    if registration.status == "expired":
        flash(_("That registration has already expired: it was not confirmed in time."), "info")
        return redirect(back)
    form = ButtonForm()
    if not form.validate_on_submit():
        return _registration_page("admin/registration_cancel.html", registration, form)
    now, by = utcnow(), _organiser()
    promoted = cancel_registration(registration, now=now, by="organiser")
    webinar_id = registration.webinar_id
    if registration.cancelled_at == now:  # not cancelled by the person a moment earlier
        audit.record(
            "registration cancelled",
            by,
            now,
            _("Cancelled by hand"),
            webinar_id=webinar_id,
            registration_id=registration.id,
        )
    if promoted is not None:
        audit.record(
            "seat given",
            by,
            now,
            _("Moved up from the waiting list: a seat freed"),
            webinar_id=webinar_id,
            registration_id=promoted.id,
        )
    db.session.commit()
    message = _("Cancelled the registration of %(name)s, who is sent an email saying so.", name=registration.name)
    if promoted is not None:
        message += " " + _("%(name)s moved up from the waiting list and is sent a confirmation.", name=promoted.name)
    flash(message, "success")
    return redirect(back)


@blueprint.route("/registrations/<int:registration_id>/promote", methods=["GET", "POST"])
def registration_promote(registration_id: int):
    registration = _registration_or_404(registration_id)
    back = url_for("admin.registrations", webinar_id=registration.webinar_id)
    if registration.status != "waitlisted":
        flash(_("Only someone on the waiting list can be given a seat."), "error")
        return redirect(back)
    form = GiveSeatForm()
    if not form.validate_on_submit():
        return _registration_page("admin/registration_promote.html", registration, form)
    now, by = utcnow(), _organiser()
    try:
        give_seat(registration, now=now, beyond_capacity=bool(form.beyond_capacity.data))
    except SeatsFull:
        db.session.rollback()
        form.beyond_capacity.errors = [_("The webinar is full: tick this box to give a seat beyond its capacity.")]
        return _registration_page("admin/registration_promote.html", registration, form, INVALID)
    except ValueError:  # moved up or cancelled a moment ago
        db.session.rollback()
        flash(_("Only someone on the waiting list can be given a seat."), "error")
        return redirect(back)
    counts = _counts(registration.webinar)
    capacity, taken = registration.webinar.capacity, counts["confirmed"] + counts["pending"]
    details = _("Given a seat by hand") if registration.status == "confirmed" else _("Offered a seat by hand")
    if capacity is not None and taken > capacity:
        details += _(", beyond capacity (%(taken)s seats taken of %(capacity)s)", taken=taken, capacity=capacity)
    audit.record("seat given", by, now, details, webinar_id=registration.webinar_id, registration_id=registration.id)
    db.session.commit()
    if registration.status == "pending":
        flash(
            _("%(name)s is offered a seat, held until they confirm their address.", name=registration.name), "success"
        )
    else:
        flash(
            _(
                "%(name)s now has a seat and is sent a confirmation with the calendar invitation.",
                name=registration.name,
            ),
            "success",
        )
    return redirect(back)


# -- personal data -------------------------------------------------------------------------------------


@blueprint.route("/privacy", methods=["GET", "POST"])
def privacy():
    """Look up what is held about an address, then export it (JSON) or erase it after ticking a box.
    Every export and erasure is recorded in the audit trail, without the address."""
    form = PersonalDataForm()
    if not form.validate_on_submit():
        status = INVALID if request.method == "POST" else 200
        return render_template("admin/privacy.html", form=form, held=None), status
    email, action = form.email.data, request.form.get("action", "find")
    now, by = utcnow(), _organiser()
    if action == "export":
        data = privacy_ops.export(email, now=now)
        privacy_ops.record("data exported", email, privacy_ops.find(email), by=by, now=now)
        db.session.commit()
        response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
        filename = f"personal-data-{privacy_ops.fingerprint(email)}.json"
        response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    held = privacy_ops.find(email)
    if action == "erase" and not held.empty:
        if not form.confirm.data:
            form.confirm.errors = [_("Tick this box to erase the data.")]
            return render_template("admin/privacy.html", form=form, held=held), INVALID
        erased = privacy_ops.erase(email, now=now)
        privacy_ops.record("data erased", email, erased, by=by, now=now)
        db.session.commit()
        flash(_("Erased: %(what)s.", what="; ".join(erased.describe())), "success")
        return redirect(url_for("admin.privacy"))
    return render_template("admin/privacy.html", form=form, held=held)


# -- the audit trail -----------------------------------------------------------------------------------


@blueprint.get("/history")
def history():
    """Every organiser's action, newest first, including those whose webinar is gone (discarded drafts)
    and those about no webinar (data requests)."""
    page = parse_id(request.args.get("page")) or 1
    events = db.paginate(audit.events(), page=min(page, 100_000), per_page=100, error_out=False)
    events.items = trail.lines(events.items)
    return render_template("admin/history.html", events=events)


# -- newsletter --------------------------------------------------------------------------------------


def _search() -> newsletter_queries.SubscriberSearch:
    """The subscriber search form's values: text in address or name, state, topic."""
    args = request.args
    return newsletter_queries.SubscriberSearch(
        text=(args.get("q") or "").strip()[:200], status=args.get("status") or "", topic=args.get("topic") or ""
    )


@blueprint.get("/newsletter")
def newsletter():
    page = request.args.get("page", "1")
    return render_template(
        "admin/newsletter.html",
        by_state=newsletter_queries.subscribers_by_state(),
        by_topic=newsletter_queries.subscribers_by_topic(),
        results=newsletter_queries.search_page(_search(), int(page) if page.isdigit() and len(page) < 7 else 1),
        topics=catalogue_queries.all_topics(),
        args=request.args.to_dict(),
    )


@blueprint.get("/newsletter/subscribers.csv")
def subscribers_csv():
    return exports.subscribers_response(newsletter_queries.search_all(_search()))


@blueprint.get("/newsletter/campaigns")
def campaigns():
    return render_template("admin/campaigns.html", campaigns=newsletter_queries.campaigns_with_progress())


@blueprint.route("/newsletter/campaigns/new", methods=["GET", "POST"])
def campaign_new():
    webinar = None
    webinar_id = request.values.get("webinar", "")
    initial: dict = {}
    if webinar_id:
        webinar = _webinar_or_404(parse_id(webinar_id))
        refused = why_not_announceable(webinar, utcnow())
        if refused:
            flash(_("“%(title)s” cannot be announced. %(why)s", title=webinar.title, why=refused), "error")
            return redirect(url_for("admin.webinar", webinar_id=webinar.id), 303)
        subject, body = announcement_markdown(webinar)
        initial = {"subject": subject, "body": body, "topics": [topic.id for topic in webinar.topics]}
        french = announcement_translations(webinar).get("fr")
        if french:
            initial |= {"subject_fr": french[0], "body_fr": french[1]}
    form = CampaignForm(topic_choices=_topic_choices(), data=initial)
    preview, preview_fr, status = None, None, 200
    # Said before sending, for the topics ticked now; the same selection as the expansion's.
    slugs = [topic.slug for topic in catalogue_queries.topics_by_id(form.topics.data)]
    recipients = newsletter_queries.count_recipients(slugs)
    action = request.form.get("action")
    owner = _organiser().is_owner
    if form.validate_on_submit():
        # An editor's campaign is a draft until an owner approves it; anyone may keep a draft to try it.
        keep_draft = action == "draft" or (action == "send" and not owner)
        if keep_draft or (action == "send" and form.confirm.data):
            try:
                campaign = create_campaign(
                    form.subject.data,
                    form.body.data,
                    slugs,
                    created_by=_organiser().email,
                    webinar=webinar,
                    draft=keep_draft,
                    needs_approval=keep_draft and not owner,
                    translations=form.translations,
                )
            except ValueError as exc:
                form.subject.errors = [str(exc)]
                return (
                    render_template(
                        "admin/campaign_form.html", form=form, preview=None, webinar=webinar, recipients=recipients
                    ),
                    INVALID,
                )
            audit.record(
                "campaign created" if keep_draft else "campaign sent",
                _organiser(),
                utcnow(),
                _("Campaign %(id)s “%(subject)s”", id=campaign.id, subject=campaign.subject),
            )
            # Committed before it is expanded (expansion commits batch by batch, the same path as `flask
            # newsletter send`), so an interruption leaves one that `resume` finishes.
            db.session.commit()
            if keep_draft:
                if owner:
                    flash(_("Draft saved: try it with a test, then send or schedule it."), "success")
                else:
                    flash(_("Draft saved: an owner approves it before it can be sent."), "success")
                return redirect(url_for("admin.campaign", campaign_id=campaign.id), 303)
            expand_campaign(campaign)
            flash(
                _(
                    "The campaign is queued for %(n)s subscribers; the mail worker sends it.",
                    n=campaign.recipients_count,
                ),
                "success",
            )
            return redirect(url_for("admin.campaign", campaign_id=campaign.id))
        if request.form.get("action") == "send":
            form.confirm.errors = [_("Tick this box to send the campaign.")]
            status = INVALID
        preview = markdown_to_html(form.body.data)
        preview_fr = markdown_to_html(form.body_fr.data) if form.translations else None
    elif request.method == "POST":
        status = INVALID
    return (
        render_template(
            "admin/campaign_form.html",
            form=form,
            preview=preview,
            preview_fr=preview_fr,
            webinar=webinar,
            recipients=recipients,
        ),
        status,
    )


@blueprint.get("/mail")
def mail():
    """Undelivered mail with the reason the mail server (or the sender) gave, newest first."""
    return render_template(
        "admin/mail.html", counts=outbox_queries.status_counts(), messages=outbox_queries.undelivered()
    )


@blueprint.post("/mail/<int:message_id>/retry")
def mail_retry(message_id: int):
    if requeue_failed(message_id, now=utcnow()):
        db.session.commit()
        flash(_("The message is queued again; the mail worker sends it shortly."), "success")
    else:
        flash(_("That message is not waiting to be sent again."), "info")
    return redirect(url_for("admin.mail"))


@blueprint.get("/newsletter/campaigns/<int:campaign_id>")
def campaign(campaign_id: int):
    campaign = newsletter_queries.campaign(campaign_id)
    if campaign is None:
        abort(404)
    return render_template(
        "admin/campaign.html",
        campaign=campaign,
        progress=newsletter_queries.campaign_progress(campaign),
        **campaign_page_context(campaign),
    )


# -- the digest ----------------------------------------------------------------------------------------


@blueprint.get("/newsletter/digests")
def digests_page():
    """The next digest as it would go out now (what is new, to how many, and the everything variant),
    and the history of digests with their counts."""
    start, end = digests.next_period(utcnow())
    plan = digests.make_plan(start, end)
    return render_template(
        "admin/digests.html",
        plan=plan,
        first=start == digests.FIRST_PERIOD_START,
        recipients=digests.estimate_recipients(plan),
        preview=digests.preview(plan),
        history=newsletter_queries.recent_digests(50),
    )


# -- content items -------------------------------------------------------------------------------


def _item_or_404(item_id: int):
    item = content_queries.item_by_id(item_id)
    if item is None:
        abort(404)
    return item


def _page_arg() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and len(page) < 7 and int(page) > 0 else 1


@blueprint.get("/content")
def items():
    return render_template("admin/items.html", results=content_queries.admin_listing(_page_arg()))


def _item_form_data(item) -> dict:
    data = {name: getattr(item, name) for name in content_ops.EDITABLE_FIELDS}
    data["topics"] = [topic.id for topic in item.topics]
    return data


def _item_fields(form: ItemForm) -> content_ops.ItemFields:
    topics = catalogue_queries.topics_by_id(form.topics.data)
    topics += [catalogue_ops.topic_named(name) for name in form.new_topic_names()]
    return content_ops.ItemFields(
        type=form.type.data,
        title=form.title.data,
        slug=form.slug.data or "",
        label=form.label.data or "",
        published_on=form.published_on.data,
        summary=form.summary.data or "",
        body=form.body.data or "",
        external_url=form.external_url.data or "",
        image_url=form.image_url.data or "",
        image_alt=form.image_alt.data or "",
        language=form.language.data or "en",
        topics=[topic for topic in topics if topic is not None],
    )


@blueprint.route("/content/new", methods=["GET", "POST"])
def item_new():
    form = ItemForm(topic_choices=_topic_choices(), data={"type": "news", "language": "en"})
    if form.validate_on_submit():
        item = content_ops.create_item(_item_fields(form), by=_organiser(), now=utcnow())
        db.session.commit()
        flash(_("Draft saved. Check it, then publish it."), "success")
        return redirect(url_for("admin.item", item_id=item.id))
    status = INVALID if request.method == "POST" else 200
    return render_template("admin/item_form.html", form=form, item=None), status


@blueprint.route("/content/<int:item_id>/edit", methods=["GET", "POST"])
def item_edit(item_id: int):
    item = _item_or_404(item_id)
    form = ItemForm(topic_choices=_topic_choices(), item_id=item.id, data=_item_form_data(item))
    if form.validate_on_submit():
        changes = content_ops.update_item(item, _item_fields(form), by=_organiser(), now=utcnow())
        db.session.commit()
        flash(_("Saved.") if changes else _("Nothing changed."), "success" if changes else "info")
        return redirect(url_for("admin.item", item_id=item.id))
    status = INVALID if request.method == "POST" else 200
    return render_template("admin/item_form.html", form=form, item=item), status


@blueprint.get("/content/<int:item_id>")
def item(item_id: int):
    item = _item_or_404(item_id)
    events = trail.lines(audit.events_of_item(item.id))
    return render_template("admin/item.html", item=item, events=events)


def _item_step(item_id: int, step, done: str):
    item = _item_or_404(item_id)
    try:
        step(item, by=_organiser(), now=utcnow())
    except content_ops.ItemStateError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.item", item_id=item.id))
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("admin.item", item_id=item.id))


@blueprint.post("/content/<int:item_id>/publish")
def item_publish(item_id: int):
    return _item_step(item_id, content_ops.publish_item, _("Published: the item is on the public pages and feeds."))


@blueprint.post("/content/<int:item_id>/unpublish")
def item_unpublish(item_id: int):
    return _item_step(item_id, content_ops.unpublish_item, _("Unpublished: the item is a draft again."))


# -- topics ----------------------------------------------------------------------------------------


@blueprint.get("/topics")
def topics():
    return render_template("admin/topics.html", topics=catalogue_queries.all_topics())


@blueprint.route("/topics/<int:topic_id>/edit", methods=["GET", "POST"])
def topic_edit(topic_id: int):
    topic = catalogue_queries.topic_by_id(topic_id)
    if topic is None:
        abort(404)
    form = TopicForm(data={"name": topic.name, "description": topic.description, "page_date": topic.page_date})
    if form.validate_on_submit():
        changed = catalogue_ops.update_topic(
            topic, name=form.name.data, description=form.description.data or "", page_date=form.page_date.data
        )
        db.session.commit()
        flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
        return redirect(url_for("admin.topics"))
    status = INVALID if request.method == "POST" else 200
    return render_template("admin/topic_form.html", form=form, topic=topic), status
