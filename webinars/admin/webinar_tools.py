"""Working on webinars beyond editing one: duplicate, preview a draft as the public will see it, the
list with its figures as a spreadsheet, and which editors look after a webinar."""

from flask import abort, flash, redirect, url_for
from flask_babel import gettext as _

from ..catalogue import operations as catalogue_ops
from ..catalogue import queries as catalogue_queries
from ..catalogue.routes import webinar_page
from ..content import operations as content_ops
from ..content import queries as content_queries
from ..database import utcnow
from ..extensions import db
from ..forms import ButtonForm
from ..registrations import queries as registration_queries
from ..registrations import questions as registration_questions
from . import exports, organisers
from .blueprint import blueprint, current_organiser
from .forms import EditorsForm
from .models import Organiser


def _webinar_or_404(webinar_id: int):
    webinar = catalogue_queries.webinar_by_id(webinar_id)
    if webinar is None:
        abort(404)
    return webinar


@blueprint.get("/webinars.csv")
def webinars_csv():
    """Every webinar with its figures: confirmed, waiting list, attended, no-shows, attendance rate."""
    rows = catalogue_queries.all_webinars()
    return exports.webinars_response(rows, registration_queries.figures(webinar.id for webinar in rows))


@blueprint.post("/webinars/<int:webinar_id>/duplicate")
def webinar_duplicate(webinar_id: int):
    """A new draft like this webinar (see catalogue.operations.duplicate_webinar), with its questions,
    related content and editors; the organiser who made it looks after it."""
    source = _webinar_or_404(webinar_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    if not source.presentable:
        flash(_("This webinar’s date or time zone cannot be used: fix it before duplicating it."), "error")
        return redirect(url_for("admin.webinar", webinar_id=source.id))
    now, by = utcnow(), current_organiser()
    copy = catalogue_ops.duplicate_webinar(source, by=by, now=now)
    registration_questions.copy_questions(source.id, copy.id, now=now)
    content_ops.attach_to_webinar(copy, content_queries.attached_items(source), by=by, now=now)
    organisers.copy_editors(source.id, copy.id)
    organisers.add_editor(copy.id, by)
    details = _("Copied to the draft /webinars/%(slug)s (id %(id)s)", slug=copy.slug, id=copy.id)
    catalogue_ops.audit(source, "duplicated", by, now, details)
    db.session.commit()
    flash(
        _(
            "This is a new draft, a copy of “%(title)s”: set its date and anything else that differs, then publish it.",
            title=source.title,
        ),
        "success",
    )
    return redirect(url_for("admin.webinar_edit", webinar_id=copy.id), 303)


@blueprint.get("/webinars/<int:webinar_id>/preview")
def webinar_preview(webinar_id: int):
    """The public page of a webinar as visitors will see it (a draft too), marked as a preview, with
    the registration form shown but not usable. Organisers only; never cached (the area's no-store)."""
    webinar = _webinar_or_404(webinar_id)
    if not webinar.presentable:
        abort(404)  # its date cannot be shown; the webinar's admin page says why
    response = webinar_page(webinar, preview_url=url_for("admin.webinar_preview", webinar_id=webinar.id))
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def editor_choices() -> list[tuple[int, str]]:
    return [(o.id, o.email) for o in organisers.all_organisers() if o.role == "editor" and o.active]


@blueprint.post("/webinars/<int:webinar_id>/editors")
def webinar_team(webinar_id: int):
    """Owners choose the editors who look after a webinar (and so see its registrations)."""
    webinar = _webinar_or_404(webinar_id)
    current = [o.id for o in organisers.editors_of(webinar.id) if o.role == "editor" and o.active]
    form = EditorsForm(editor_choices=editor_choices(), data={"editors": current})
    if not form.validate_on_submit():
        flash(_("Choose editors from the list."), "error")
        return redirect(url_for("admin.webinar", webinar_id=webinar.id, _anchor="editors"))
    chosen = [db.session.get(Organiser, organiser_id) for organiser_id in form.editors.data or []]
    # Owners and deactivated organisers on the list stay: the form only offers active editors.
    kept = [o for o in organisers.editors_of(webinar.id) if o.role != "editor" or not o.active]
    added, removed = organisers.set_editors(webinar.id, [*kept, *(o for o in chosen if o is not None)])
    if added or removed:
        lines = [
            _("Looks after it now: %(emails)s", emails=", ".join(added)) if added else "",
            _("No longer: %(emails)s", emails=", ".join(removed)) if removed else "",
        ]
        catalogue_ops.audit(webinar, "editors changed", current_organiser(), utcnow(), "\n".join(filter(None, lines)))
        db.session.commit()
        flash(_("Saved."), "success")
    else:
        flash(_("Nothing changed."), "info")
    return redirect(url_for("admin.webinar", webinar_id=webinar.id, _anchor="editors"))


def webinar_page_context(webinar) -> dict:
    """What the admin page of one webinar shows besides its details: figures, attendance, questions,
    who looks after it, and whether the signed-in organiser may see its registrations."""
    organiser = current_organiser()
    editors = organisers.editors_of(webinar.id)
    return {
        "figures": registration_queries.figures([webinar.id])[webinar.id],
        "attendance_import": registration_queries.latest_attendance_import(webinar.id),
        "questions": registration_questions.questions_of(webinar.id),
        "editors": editors,
        "editors_form": EditorsForm(
            editor_choices=editor_choices(), data={"editors": [o.id for o in editors if o.role == "editor"]}
        )
        if organiser.is_owner
        else None,
        "sees_people": organisers.looks_after(organiser, webinar.id),
        "button": ButtonForm(),
        "now": utcnow(),
    }
