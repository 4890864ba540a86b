"""Newsletter pages: sign-up, and the pages behind the signed links in emails.

Opening a link (GET) only shows a page with a button, because mail scanners open every link;
the POST acts. The RFC 8058 one-click POST is the only form here without a CSRF token.
"""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from werkzeug.exceptions import TooManyRequests
from wtforms import ValidationError

from ..catalogue.models import Topic
from ..catalogue.viewer import viewer_zone
from ..errors import render_error
from ..extensions import csrf, db
from ..language import current_language
from ..security import keep_private
from . import operations
from .forms import ButtonForm, PreferencesForm, SignupForm

blueprint = Blueprint("newsletter", __name__, url_prefix="/newsletter")

INVALID_LINK = _l(
    "This link is not valid. It may have been copied incompletely, or it belongs to an earlier "
    "subscription. You can sign up again from the newsletter page."
)
EXPIRED_LINK = _l("This confirmation link has expired. Sign up again and we will send you a new one.")


# The pages behind the signed links in emails: personal, whatever the answer.
PERSONAL_ENDPOINTS = frozenset(
    {"newsletter.confirm", "newsletter.preferences", "newsletter.unsubscribe", "newsletter.unsubscribe_post"}
)


@blueprint.after_request
def personal_pages_stay_private(response):
    if request.endpoint in PERSONAL_ENDPOINTS:
        keep_private(response)
    return response


def _topic_choices() -> list[tuple[str, str]]:
    return [(t.slug, t.name) for t in db.session.scalars(select(Topic).order_by(Topic.name))]


def _link_error(error: operations.LinkInvalid):
    if isinstance(error, operations.LinkExpired):
        return render_error(410, EXPIRED_LINK)
    return render_error(404, INVALID_LINK)


@blueprint.route("", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    form.topics.choices = _topic_choices()
    if request.method == "GET" and request.args.get("topic") in {slug for slug, _name in form.topics.choices}:
        # "Get news on this topic by email" on a topic page: that topic comes ticked.
        form.topics.data = [request.args["topic"]]
    consent_text = str(operations.CONSENT_TEXT)  # in the reader's language; stored exactly as shown
    if form.validate_on_submit():
        try:
            operations.request_subscription(
                form.email.data,
                form.name.data,
                form.topics.data,
                source="newsletter_form",
                consent_text=consent_text,
                client_key=request.remote_addr or "unknown",
                # The zone the visitor chose on the site (remembered in a cookie): the digest's times.
                timezone=viewer_zone(request).zone,
                language=current_language(),
            )
        except operations.TooManyRequests as error:
            db.session.rollback()
            raise TooManyRequests(retry_after=error.retry_after) from None
        db.session.commit()
        # The same redirect for every address, whatever its state: nothing reveals who is on the list.
        return redirect(url_for("newsletter.requested"), code=303)
    status = 422 if form.is_submitted() else 200  # sent back with the errors beside the fields
    return render_template("newsletter/signup.html", form=form, consent_text=consent_text), status


@blueprint.get("/check-your-email")
def requested():
    return render_template("newsletter/requested.html")


@blueprint.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str):
    try:
        subscriber = operations.subscriber_from_confirm_token(token)
    except operations.LinkInvalid as error:
        return _link_error(error)
    form = ButtonForm()
    confirmed_now = False
    if request.method == "POST" and form.validate_on_submit():
        confirmed_now = operations.confirm(subscriber)
        db.session.commit()
    manage = operations.manage_token(subscriber) if subscriber.status == "subscribed" else None
    return render_template(
        "newsletter/confirm.html", subscriber=subscriber, form=form, confirmed_now=confirmed_now, manage_token=manage
    )


@blueprint.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    try:
        subscriber = operations.subscriber_from_manage_token(token)
    except operations.LinkInvalid as error:
        return _link_error(error)
    form = PreferencesForm()
    form.topics.choices = _topic_choices()
    saved = left = False
    if request.method == "POST" and subscriber.status == "subscribed" and form.validate_on_submit():
        if request.form.get("action") == "leave":
            left = operations.unsubscribe(subscriber, source="preferences_page")
        else:
            operations.update_preferences(subscriber, form.topics.data)
            saved = True
        db.session.commit()
    if request.method == "GET" or saved:
        form.topics.data = [t.slug for t in subscriber.topics]
    return render_template(
        "newsletter/preferences.html", subscriber=subscriber, form=form, saved=saved, left=left, token=token
    )


@blueprint.get("/unsubscribe/<token>")
def unsubscribe(token: str):
    try:
        subscriber = operations.subscriber_from_manage_token(token)
    except operations.LinkInvalid as error:
        return _link_error(error)
    return render_template("newsletter/unsubscribe.html", subscriber=subscriber, form=ButtonForm(), done=False)


@blueprint.post("/unsubscribe/<token>")
@csrf.exempt  # RFC 8058: mail clients POST here with no cookie and no token; checked by hand below
def unsubscribe_post(token: str):
    try:
        subscriber = operations.subscriber_from_manage_token(token)
    except operations.LinkInvalid as error:
        return _link_error(error)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    if not one_click:
        # The button on our own page: a normal form, so it must carry a valid CSRF token.
        try:
            validate_csrf(request.form.get("csrf_token"))
        except (ValidationError, CSRFError):
            return render_error(
                400, _("This form has expired or was not sent from our site. Reload the page and try again.")
            )
    operations.unsubscribe(subscriber, source="one_click" if one_click else "unsubscribe_page")
    db.session.commit()
    return render_template("newsletter/unsubscribe.html", subscriber=subscriber, form=ButtonForm(), done=True)
