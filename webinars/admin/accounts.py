"""Organiser accounts: a password reset by email, and the owners' screen of organisers and their roles."""

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import TooManyRequests

from .. import audit as audit_trail
from .. import ratelimit
from ..database import utcnow
from ..extensions import db
from ..forms import ButtonForm
from ..security import keep_private
from . import organisers
from .blueprint import INVALID, blueprint, current_organiser
from .forms import NewPasswordForm, OrganiserForm, PasswordForgotForm, RoleForm
from .models import Organiser

RESET_CLIENT_BUCKET = "password-reset-client"
RESET_CLIENT_WINDOW = timedelta(hours=1)


# -- a forgotten password ----------------------------------------------------------------------------


@blueprint.route("/password/forgot", methods=["GET", "POST"])
def password_forgot():
    """Ask for a reset link. The answer is the same whether or not the address is an organiser's."""
    form = PasswordForgotForm()
    if not form.validate_on_submit():
        status = INVALID if request.method == "POST" else 200
        return render_template("admin/password_forgot.html", form=form, sent=False), status
    now = utcnow()
    verdict = ratelimit.check(
        RESET_CLIENT_BUCKET,
        request.remote_addr or "unknown",
        int(current_app.config["ADMIN_PASSWORD_RESETS_PER_CLIENT"]),
        RESET_CLIENT_WINDOW,
        now,
    )
    db.session.commit()  # the attempt counts whatever happens next
    if not verdict.allowed:
        raise TooManyRequests(retry_after=verdict.retry_after)
    organisers.send_password_reset(form.email.data, now)
    db.session.commit()
    return render_template("admin/password_forgot.html", form=form, sent=True)


@blueprint.route("/password/reset/<token>", methods=["GET", "POST"])
def password_reset(token: str):
    """The link in the email: a form for the new password (opening the link changes nothing)."""
    now = utcnow()
    organiser = organisers.organiser_for_reset(token, now)
    if organiser is None:
        page = render_template("admin/password_reset.html", form=None, expired=True)
        return keep_private(current_app.make_response((page, 410)))
    form = NewPasswordForm()
    if form.validate_on_submit():
        organisers.reset_password(organiser, form.password.data)
        details = _("%(email)s chose a new password by a reset link", email=organiser.email)
        audit_trail.record("password reset", organiser, now, details)
        db.session.commit()  # every session of this organiser has ended with the old password
        flash(_("Your new password is saved. Sign in with it."), "success")
        return redirect(url_for("admin.login"), 303)
    status = INVALID if request.method == "POST" else 200
    page = render_template("admin/password_reset.html", form=form, expired=False, organiser=organiser)
    return keep_private(current_app.make_response((page, status)))


# -- organisers (owners only) -----------------------------------------------------------------------


def _organiser_or_404(organiser_id: int) -> Organiser:
    organiser = db.session.get(Organiser, organiser_id)
    if organiser is None:
        abort(404)
    return organiser


@blueprint.route("/organisers", methods=["GET", "POST"])
def organisers_page():
    """Every organiser with their role; add one (who is sent a link to choose a password)."""
    form = OrganiserForm()
    status = 200
    if form.validate_on_submit():
        if organisers.organiser_by_email(form.email.data) is not None:
            form.email.errors = [_("An organiser with this address already exists.")]
            status = INVALID
        else:
            now = utcnow()
            created = organisers.create_organiser(form.email.data, name=form.name.data or "", role=form.role.data)
            details = _("%(email)s, role %(role)s", email=created.email, role=organisers.role_name(created.role))
            audit_trail.record("organiser added", current_organiser(), now, details)
            organisers.send_password_reset(created.email, now, invitation=True)
            db.session.commit()
            flash(
                _("%(email)s can now be an organiser: they are sent a link to choose a password.", email=created.email),
                "success",
            )
            return redirect(url_for("admin.organisers_page"), 303)
    elif request.method == "POST":
        status = INVALID
    return (
        render_template(
            "admin/organisers.html", form=form, organisers=organisers.all_organisers(), button=ButtonForm()
        ),
        status,
    )


@blueprint.route("/organisers/<int:organiser_id>", methods=["GET", "POST"])
def organiser_role(organiser_id: int):
    """Change an organiser's role (every session they have ends, so that new rights apply at once)."""
    organiser = _organiser_or_404(organiser_id)
    form = RoleForm(data={"role": organiser.role})
    if form.validate_on_submit():
        before = organiser.role
        try:
            changed = organisers.set_role(organiser, form.role.data)
        except organisers.LastOwner:
            db.session.rollback()
            form.role.errors = [_("This is the last owner: make someone else an owner first.")]
            return render_template("admin/organiser.html", organiser=organiser, form=form), INVALID
        if changed:
            audit_trail.record(
                "role changed",
                current_organiser(),
                utcnow(),
                f"{organiser.email}: {organisers.role_name(before)} → {organisers.role_name(organiser.role)}",
            )
            db.session.commit()
            role = organisers.role_name(organiser.role)
            flash(_("%(email)s is now %(role)s.", email=organiser.email, role=role), "success")
        else:
            flash(_("Nothing changed."), "info")
        return redirect(url_for("admin.organisers_page"), 303)
    status = INVALID if request.method == "POST" else 200
    return render_template("admin/organiser.html", organiser=organiser, form=form), status


@blueprint.post("/organisers/<int:organiser_id>/active")
def organiser_active(organiser_id: int):
    """Deactivate (every session ends) or reactivate an organiser."""
    organiser = _organiser_or_404(organiser_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    active = request.form.get("active") == "1"
    try:
        changed = organisers.set_active(organiser, active)
    except organisers.LastOwner:
        db.session.rollback()
        flash(_("This is the last active owner: make someone else an owner first."), "error")
        return redirect(url_for("admin.organisers_page"), 303)
    if changed:
        action = "organiser activated" if active else "organiser deactivated"
        audit_trail.record(action, current_organiser(), utcnow(), organiser.email)
        db.session.commit()
        if active:
            flash(_("%(email)s can sign in again.", email=organiser.email), "success")
        else:
            flash(
                _("%(email)s can no longer sign in; every session they had has ended.", email=organiser.email),
                "success",
            )
    return redirect(url_for("admin.organisers_page"), 303)
