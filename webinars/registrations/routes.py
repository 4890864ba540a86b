"""Registration pages: the form on the webinar page, the thank-you page, manage and cancel, confirm a seat."""

from datetime import timedelta

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import bindparam, select
from werkzeug.exceptions import TooManyRequests

from .. import ratelimit, timezones
from ..catalogue import queries as catalogue_queries
from ..catalogue.calendars import calendar_links
from ..catalogue.models import Webinar
from ..database import MAX_ID, utcnow
from ..errors import render_error
from ..extensions import db
from ..forms import ButtonForm
from ..language import current_language
from ..security import keep_private
from ..signals import PagePanel
from ..tokens import BadToken, make_stable_token, read_stable_token, read_token
from . import operations, queries
from .forms import RegistrationForm, build_form
from .models import Registration
from .notifications import CONFIRM_PURPOSE, TOKEN_PURPOSE, confirm_token, manage_token
from .questions import answers_from, form_questions

blueprint = Blueprint("registrations", __name__)


def registration_context(
    webinar, viewer_zone: str | None, now, form: RegistrationForm | None = None, *, preview: bool = False
) -> dict:
    """Extra template context for the registration panel (templates/registrations/_panel.html), with the
    webinar's own questions (`preview`: an organiser's preview of a draft, showing the form the public
    will get once it is published)."""
    if (webinar.status != "published" and not preview) or webinar.is_past(now):
        return {}
    fallback = None
    if form is None:
        zone = timezones.canonical_zone_or_none(viewer_zone)
        if zone is None:
            # The page does not know the visitor's zone: the webinar's, which the browser script may
            # replace with the browser's own (static/js/timezone.js), but never a silent first option.
            zone = fallback = webinar.timezone
        # The page's form carries the visitor's CSRF token through csrf_token() (cached pages: cache.py).
        form = build_form(form_questions(webinar), formdata=None, timezone=zone, meta={"csrf": False})
    return {
        "registration_form": form,
        "registration_zone_fallback": fallback,
        "registration_open": webinar.registration_open(now) or (preview and now < webinar.registration_closes_at),
        "registration_preview": preview,
        "seats_left": queries.seats_left(webinar, now),
        "registration_closes": timezones.zone_time(webinar.registration_closes_at, webinar.timezone),
    }


def registration_panel(webinar, *, viewer_zone: str | None, now, preview: bool = False) -> list[PagePanel] | None:
    """The webinar page's registration panels (a receiver of signals.webinar_page): the call to action
    in its first screen and the form further down, with the same context."""
    context = registration_context(webinar, viewer_zone, now, preview=preview)
    if not context:
        return None
    return [
        PagePanel("hero", "registrations/_hero.html", context),
        PagePanel("main", "registrations/_panel.html", context),
    ]


def panel_version(webinar, *, now) -> tuple:
    """What the panel shows that the webinar's row does not say (signals.webinar_page_version): the
    seats figure, only for a webinar that takes registrations now."""
    if webinar.status != "published" or webinar.is_past(now):
        return ()
    return ("seats", queries.seats_left(webinar, now))


def _registration_page(webinar, form: RegistrationForm, status: int, notice: str | None = None):
    """The form again, with errors beside the fields and the input kept (its own page, so that
    it does not depend on everything else the webinar page shows)."""
    now = utcnow()
    body = render_template(
        "registrations/register.html",
        webinar=webinar,
        registration_notice=notice,
        **registration_context(webinar, None, now, form=form),
    )
    return body, status


_PUBLIC_WEBINAR = select(Webinar).where(
    Webinar.slug == bindparam("slug"), Webinar.status.in_(catalogue_queries.PUBLIC_STATUSES)
)


def _public_webinar(slug: str) -> Webinar | None:
    """The public webinar's own row, not all that its page shows."""
    if len(slug) > 120:
        return None
    webinar = db.session.scalar(_PUBLIC_WEBINAR, {"slug": slug})
    if webinar is None or not catalogue_queries.shown([webinar], "its registration page"):
        return None
    return webinar


def _webinar_or_404(slug: str) -> Webinar:
    webinar = _public_webinar(slug)
    if webinar is None:
        abort(404)
    return webinar


CLIENT_BUCKET = "registration-client"


def _client_limit() -> tuple[str, int, timedelta]:
    """At most REGISTRATIONS_PER_CLIENT registration posts per client (an office behind one NAT
    included) per REGISTRATIONS_PER_CLIENT_MINUTES; every post counts, whatever its outcome."""
    config = current_app.config
    window = timedelta(minutes=int(config["REGISTRATIONS_PER_CLIENT_MINUTES"]))
    return request.remote_addr or "unknown", int(config["REGISTRATIONS_PER_CLIENT"]), window


def _count_attempt() -> ratelimit.Verdict:
    """Count this post against the client's limit, in the current transaction."""
    client, limit, window = _client_limit()
    return ratelimit.check(CLIENT_BUCKET, client, limit, window)


def _counted() -> None:
    """Count this post on its own (it changes nothing else) and commit; 429 beyond the limit."""
    verdict = _count_attempt()
    db.session.commit()
    if not verdict.allowed:
        raise TooManyRequests(retry_after=verdict.retry_after)


@blueprint.post("/webinars/<slug>/register")
def register(slug: str):
    client, limit, window = _client_limit()
    if ratelimit.hits(CLIENT_BUCKET, client, window) >= limit:
        _counted()  # already over: refused before any work (the count below is what holds the limit)
    webinar = _public_webinar(slug)
    questions = form_questions(webinar) if webinar is not None else ()
    form = build_form(questions)
    now = utcnow()
    is_open = webinar is not None and webinar.registration_open(now)
    # The work that writes nothing comes first: on SQLite the first write takes the database's only
    # write lock, held until this post's single commit.
    if not (is_open and form.validate_on_submit()):
        _counted()
        if webinar is None:
            abort(404)
        if not is_open:
            return _registration_page(webinar, form, 409, _("Registration for this webinar has closed."))
        return _registration_page(webinar, form, 422)
    try:
        registered = operations.register(
            webinar,
            name=form.name.data,
            email=form.email.data,
            organisation=form.organisation.data or "",
            country=form.country.data or "",
            timezone=form.timezone.data,
            wants_newsletter=bool(form.newsletter.data),
            language=current_language(),
            answers=answers_from(form, questions),
            now=now,
        )
    except operations.RegistrationClosed:
        db.session.rollback()  # closed under the lock (it wrote nothing)
        _counted()
        return _registration_page(webinar, form, 409, _("Registration for this webinar has closed."))
    # Counted last, in the registration's own transaction: on PostgreSQL the client's counter row is
    # then locked only for the commit, not while registering (one client address, many posts at once).
    if not _count_attempt().allowed:
        db.session.rollback()  # beyond the limit after all (posts raced past the check above): nothing kept
        _counted()
    webinar_id = webinar.id  # read before the commit, which expires the row (reading it after reloads it)
    db.session.commit()
    # The same page whether the address was new or already registered: nothing to enumerate (see
    # Registered.outcome). The outcome travels signed, so that nobody can make the page say something else.
    # `slug` is the webinar's (it was looked up by it). Stable: every submission with this outcome gets
    # the very same address and page.
    token = make_stable_token(OUTCOME_PURPOSE, {"w": webinar_id, "o": registered.outcome})
    return redirect(url_for(".thanks", slug=slug, outcome=token), 303)


OUTCOME_PURPOSE = "registration-outcome"
OUTCOMES = ("confirmed", "pending", "waitlisted")


def _outcome(webinar: Webinar) -> str | None:
    try:
        payload = read_stable_token(OUTCOME_PURPOSE, request.args.get("outcome", ""))
    except BadToken:
        return None
    if not isinstance(payload, dict) or payload.get("w") != webinar.id or payload.get("o") not in OUTCOMES:
        return None
    return payload["o"]


@blueprint.get("/webinars/<slug>/registered")
def thanks(slug: str):
    """After registering: whether the seat is confirmed, held or on the waiting list (for this
    submission, as Registered.outcome says it), how to add it to a calendar and how to join. Without a
    valid outcome (an old or copied link) the page says only what is true for everyone."""
    webinar = _webinar_or_404(slug)
    return render_template(
        "registrations/thanks.html",
        webinar=webinar,
        outcome=_outcome(webinar),
        calendar_links=calendar_links(webinar),
        now=utcnow(),
    )


def _registration_or_error(token: str, purpose: str = TOKEN_PURPOSE):
    try:
        payload = read_token(purpose, token)
        registration_id = int(payload["r"])
        if not 0 < registration_id <= MAX_ID:
            raise ValueError(registration_id)
    except (BadToken, KeyError, TypeError, ValueError):
        return None, render_error(
            404, _("This registration link is not valid. Please use the link in your confirmation email.")
        )
    registration = db.session.get(Registration, registration_id)
    if registration is None:
        abort(404)
    if registration.erased_at is not None:
        return None, render_error(410, _("The details of this registration were erased at the registrant’s request."))
    return registration, None


def _private(response):
    # The token in the URL is a key to someone's registration: keep it out of caches (and, through
    # security.referrer_policy(), out of other sites' Referer headers).
    return keep_private(response)


def _manage_page(registration: Registration, token: str, notice: str | None = None) -> str:
    now = utcnow()
    webinar = registration.webinar
    return render_template(
        "registrations/manage.html",
        registration=registration,
        webinar=webinar,
        # The registrant's zone, else the webinar's, else UTC (a webinar row whose zone is no longer known).
        zone=timezones.canonical_zone_or_none(registration.timezone)
        or timezones.canonical_zone_or_none(webinar.timezone)
        or "UTC",
        position=queries.waitlist_position(registration, now),
        lapsed=registration.status == "expired" or queries.lapsed(registration, now),
        # The same question the cancel POST asks again (operations.cancel_registration).
        can_cancel=operations.attendee_may_cancel(registration, now),
        # Whoever holds the manage link has the mailbox: they may confirm from here too.
        confirm_token=confirm_token(registration) if registration.confirm_by is not None else None,
        form=ButtonForm(),
        token=token,
        notice=notice,
        now=now,
        calendar_links=calendar_links(webinar),
    )


@blueprint.get("/registrations/<token>")
def manage(token: str):
    registration, error = _registration_or_error(token)
    if error:
        return _private(make_response(error))
    return _private(make_response(_manage_page(registration, token)))


@blueprint.post("/registrations/<token>")
def cancel(token: str):
    registration, error = _registration_or_error(token)
    if error:
        return _private(make_response(error))
    form = ButtonForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        operations.cancel_registration(registration, now=utcnow(), by="attendee")
    except operations.CancellationClosed as closed:
        # A page opened earlier (or a replayed POST): the webinar is over or cancelled since, or the
        # place lapsed. Nothing is sent, and the page says why.
        db.session.rollback()
        notice = {
            "webinar_cancelled": _("The organisers have cancelled this webinar, so there is nothing to cancel."),
            "webinar_over": _("This webinar has already taken place, so there is nothing to cancel."),
            "lapsed": _("This place was not confirmed in time and has lapsed, so there is nothing to cancel."),
        }[closed.reason]
        return _private(make_response(_manage_page(registration, token, notice), 409))
    db.session.commit()
    return redirect(url_for(".manage", token=token), 303)


def _confirm_page(registration, token: str, outcome: str | None = None, status: int = 200):
    now = utcnow()
    webinar = registration.webinar
    zone = timezones.canonical_zone_or_none(registration.timezone) or webinar.timezone
    if registration.status == "expired" or queries.lapsed(registration, now):
        outcome, status = operations.ConfirmOutcome.EXPIRED, 410
    body = render_template(
        "registrations/confirm.html",
        registration=registration,
        webinar=webinar,
        zone=zone,
        outcome=outcome,
        position=queries.waitlist_position(registration, now),
        manage_token=manage_token(registration),
        form=ButtonForm(),
        token=token,
    )
    return _private(make_response(body, status))


@blueprint.get("/registrations/<token>/confirm")
def confirm(token: str):
    """The link in the first email: shows a button (mail scanners open links; only the POST acts)."""
    registration, error = _registration_or_error(token, CONFIRM_PURPOSE)
    if error:
        return _private(make_response(error))
    return _confirm_page(registration, token)


@blueprint.post("/registrations/<token>/confirm")
def confirm_post(token: str):
    registration, error = _registration_or_error(token, CONFIRM_PURPOSE)
    if error:
        return _private(make_response(error))
    if not ButtonForm().validate_on_submit():
        abort(400)
    outcome = operations.confirm_registration(registration, now=utcnow())
    db.session.commit()
    return _confirm_page(registration, token, outcome)
