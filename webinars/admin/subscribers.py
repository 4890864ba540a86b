"""One newsletter subscriber, for owners: what is held, and unsubscribe, export or erase them through
the same operations as `flask newsletter ...` and `flask privacy ...`, each confirmed and audited."""

import json

from flask import Response, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from .. import audit as audit_trail
from ..database import utcnow
from ..extensions import db
from ..newsletter import operations as newsletter_ops
from ..newsletter import queries as newsletter_queries
from ..privacy import operations as privacy_ops
from .blueprint import INVALID, blueprint, current_organiser
from .forms import SubscriberActionForm


def _subscriber_or_404(subscriber_id: int):
    subscriber = newsletter_queries.subscriber(subscriber_id)
    if subscriber is None:
        abort(404)
    return subscriber


def _page(subscriber, form: SubscriberActionForm, status: int = 200):
    return (
        render_template(
            "admin/subscriber.html", subscriber=subscriber, form=form, held=privacy_ops.find(subscriber.email)
        ),
        status,
    )


@blueprint.get("/newsletter/subscribers/<int:subscriber_id>")
def subscriber(subscriber_id: int):
    return _page(_subscriber_or_404(subscriber_id), SubscriberActionForm())


@blueprint.post("/newsletter/subscribers/<int:subscriber_id>/unsubscribe")
def subscriber_unsubscribe(subscriber_id: int):
    """Unsubscribe someone who asked by other means (a reply, a phone call): as their own link would."""
    subscriber = _subscriber_or_404(subscriber_id)
    form = SubscriberActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.confirm.data:
        form.confirm.errors = [_("Tick this box to confirm.")]
        return _page(subscriber, form, INVALID)
    now = utcnow()
    if newsletter_ops.unsubscribe(subscriber, source="organiser", now=now):
        key = privacy_ops.fingerprint(subscriber.email)
        details = _("Address fingerprint %(fingerprint)s (by an organiser)", fingerprint=key)
        audit_trail.record("subscriber unsubscribed", current_organiser(), now, details)
        db.session.commit()
        flash(_("%(email)s is unsubscribed and receives no more newsletters.", email=subscriber.email), "success")
    else:
        flash(_("%(email)s was not subscribed.", email=subscriber.email), "info")
    return redirect(url_for("admin.subscriber", subscriber_id=subscriber.id), 303)


@blueprint.post("/newsletter/subscribers/<int:subscriber_id>/export")
def subscriber_export(subscriber_id: int):
    """Everything held about this address, as `flask privacy export` prints it (a JSON download)."""
    subscriber = _subscriber_or_404(subscriber_id)
    if not SubscriberActionForm().validate_on_submit():
        abort(400)
    now, email = utcnow(), subscriber.email
    data = privacy_ops.export(email, now=now)
    privacy_ops.record("data exported", email, privacy_ops.find(email), by=current_organiser(), now=now)
    db.session.commit()
    response = Response(json.dumps(data, indent=2, ensure_ascii=False), mimetype="application/json")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="personal-data-{privacy_ops.fingerprint(email)}.json"'
    )
    return response


@blueprint.post("/newsletter/subscribers/<int:subscriber_id>/erase")
def subscriber_erase(subscriber_id: int):
    """Erase everything held about this address, as `flask privacy erase` does."""
    subscriber = _subscriber_or_404(subscriber_id)
    form = SubscriberActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not form.erase.data:
        form.erase.errors = [_("Tick this box to erase the data.")]
        return _page(subscriber, form, INVALID)
    now, email = utcnow(), subscriber.email
    erased = privacy_ops.erase(email, now=now)
    privacy_ops.record("data erased", email, erased, by=current_organiser(), now=now)
    db.session.commit()
    flash(_("Erased: %(what)s.", what="; ".join(erased.describe())), "success")
    return redirect(url_for("admin.newsletter"), 303)
