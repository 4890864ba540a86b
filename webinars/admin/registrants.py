"""A webinar's registrants beyond the list: its own registration questions, someone added by hand, and
the attendance read from the platform's participant report."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ..catalogue import queries as catalogue_queries
from ..catalogue.operations import audit
from ..database import utcnow
from ..extensions import db
from ..forms import ButtonForm
from ..labels import label
from ..language import current_language
from ..markup import markdown_to_html
from ..registrations import attendance
from ..registrations import messages as registration_messages
from ..registrations import operations as registration_ops
from ..registrations import queries as registration_queries
from ..registrations import questions as registration_questions
from ..registrations.attendance import attendance_summary
from ..registrations.forms import build_form
from ..registrations.notifications import queue_recording_followups
from ..registrations.participant_reports import ReportError
from .blueprint import INVALID, blueprint, current_organiser
from .forms import AUDIENCE_LABELS, AddRegistrantForm, AttendanceForm, QuestionForm, RegistrantMessageForm


def _webinar_or_404(webinar_id: int):
    webinar = catalogue_queries.webinar_by_id(webinar_id)
    if webinar is None:
        abort(404)
    return webinar


def _question_or_404(question_id: int):
    question = registration_questions.question(question_id)
    if question is None or question.retired_at is not None:
        abort(404)
    return question


# -- the webinar's own questions -----------------------------------------------------------------------


def _questions_page(webinar, form: QuestionForm, status: int = 200):
    questions = registration_questions.questions_of(webinar.id, include_retired=True)
    return (
        render_template(
            "admin/questions.html",
            webinar=webinar,
            questions=questions,
            answered=registration_questions.answer_counts(q.id for q in questions),
            kinds=registration_questions.KIND_LABELS,
            form=form,
            button=ButtonForm(),
        ),
        status,
    )


@blueprint.route("/webinars/<int:webinar_id>/questions", methods=["GET", "POST"])
def questions(webinar_id: int):
    """The webinar's questions in form order, with how many people answered each; add one."""
    webinar = _webinar_or_404(webinar_id)
    form = QuestionForm(data={"kind": "short_text"})
    if not form.validate_on_submit():
        return _questions_page(webinar, form, INVALID if request.method == "POST" else 200)
    now = utcnow()
    try:
        question = registration_questions.add_question(webinar, form.fields(), now=now)
    except registration_questions.QuestionError as exc:
        db.session.rollback()
        form.label.errors = [str(exc)]
        return _questions_page(webinar, form, INVALID)
    kind = registration_questions.KIND_LABELS[question.kind]
    audit(webinar, "question added", current_organiser(), now, f"{question.label} ({kind})")
    db.session.commit()
    flash(_("The question is on the registration form."), "success")
    return redirect(url_for("admin.questions", webinar_id=webinar.id), 303)


@blueprint.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
def question_edit(question_id: int):
    question = _question_or_404(question_id)
    webinar = _webinar_or_404(question.webinar_id)
    answered = registration_questions.has_answers(question)
    form = QuestionForm(
        data={
            "kind": question.kind,
            "label": question.label,
            "help_text": question.help_text,
            "required": question.required,
            "options": question.options_text,
        }
    )
    status = 200
    if form.validate_on_submit():
        before = question.label
        now = utcnow()
        try:
            changed = registration_questions.update_question(question, webinar, form.fields(), now=now)
        except registration_questions.QuestionError as exc:
            db.session.rollback()
            form.kind.errors = [str(exc)]
            question = _question_or_404(question_id)
            return (
                render_template(
                    "admin/question_form.html", webinar=webinar, question=question, form=form, answered=answered
                ),
                INVALID,
            )
        if changed:
            details = question.label if before == question.label else f"{before} → {question.label}"
            audit(webinar, "question changed", current_organiser(), now, details)
            db.session.commit()
        flash(_("Saved.") if changed else _("Nothing changed."), "success" if changed else "info")
        return redirect(url_for("admin.questions", webinar_id=webinar.id), 303)
    if request.method == "POST":
        status = INVALID
    return (
        render_template("admin/question_form.html", webinar=webinar, question=question, form=form, answered=answered),
        status,
    )


@blueprint.post("/questions/<int:question_id>/move")
def question_move(question_id: int):
    question = _question_or_404(question_id)
    webinar = _webinar_or_404(question.webinar_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    offset = -1 if request.form.get("direction") == "up" else 1
    if registration_questions.move_question(question, webinar, offset, now=utcnow()):
        db.session.commit()
    return redirect(url_for("admin.questions", webinar_id=webinar.id, _anchor=f"question-{question.id}"), 303)


@blueprint.route("/questions/<int:question_id>/remove", methods=["GET", "POST"])
def question_remove(question_id: int):
    """Take a question off the form, after saying what happens to its answers."""
    question = _question_or_404(question_id)
    webinar = _webinar_or_404(question.webinar_id)
    answered = registration_questions.answer_counts([question.id]).get(question.id, 0)
    form = ButtonForm()
    if not form.validate_on_submit():
        return render_template(
            "admin/question_remove.html", webinar=webinar, question=question, answered=answered, form=form
        )
    now = utcnow()
    question_label = question.label
    outcome = registration_questions.remove_question(question, webinar, now=now)
    what = _("off the form, its answers kept") if outcome == "retired" else _("deleted")
    audit(webinar, "question removed", current_organiser(), now, f"{question_label} ({what})")
    db.session.commit()
    if outcome == "retired":
        flash(_("The question is off the form; its answers are kept."), "success")
    else:
        flash(_("The question is deleted."), "success")
    return redirect(url_for("admin.questions", webinar_id=webinar.id), 303)


# -- someone added by hand -------------------------------------------------------------------------------


@blueprint.route("/webinars/<int:webinar_id>/registrations/add", methods=["GET", "POST"])
def registrant_add(webinar_id: int):
    """Register someone by hand, with or without the confirmation email, under the same capacity rule."""
    webinar = _webinar_or_404(webinar_id)
    back = url_for("admin.registrations", webinar_id=webinar.id)
    now = utcnow()
    if webinar.status != "published" or webinar.is_past(now):
        flash(_("People can be added to a published webinar until it ends."), "error")
        return redirect(back)
    questions = registration_questions.questions_of(webinar.id)
    data = {"timezone": webinar.timezone, "language": current_language()}
    form = build_form(questions, optional=True, base=AddRegistrantForm, data=data)
    status = 200
    if form.validate_on_submit():
        try:
            registration = registration_ops.add_by_hand(
                webinar,
                name=form.name.data,
                email=form.email.data,
                organisation=form.organisation.data or "",
                country=form.country.data or "",
                timezone=form.timezone.data,
                answers=registration_questions.answers_from(form, questions),
                language=form.language.data,
                notify=bool(form.notify.data),
                now=now,
            )
        except registration_ops.AlreadyRegistered as exc:
            db.session.rollback()
            form.email.errors = [
                _(
                    "This address is already registered (%(status)s).",
                    status=label("registration", exc.registration.status),
                )
            ]
            status = INVALID
        except registration_ops.RegistrationClosed:
            db.session.rollback()
            flash(_("People can be added to a published webinar until it ends."), "error")
            return redirect(back)
        else:
            state = label("registration", registration.status)
            details = (
                _("Added by hand: %(status)s, confirmation sent", status=state)
                if form.notify.data
                else _("Added by hand: %(status)s, no email sent", status=state)
            )
            audit(webinar, "registration added", current_organiser(), now, details, registration_id=registration.id)
            db.session.commit()
            if registration.status == "waitlisted":
                flash(
                    _(
                        "The webinar is full: %(name)s is on the waiting list. Give them a seat from the list if "
                        "they should have one.",
                        name=registration.name,
                    ),
                    "info",
                )
            else:
                flash(_("%(name)s is registered.", name=registration.name), "success")
            return redirect(back, 303)
    elif request.method == "POST":
        status = INVALID
    return render_template("admin/registrant_add.html", webinar=webinar, form=form), status


# -- attendance ------------------------------------------------------------------------------------------


@blueprint.route("/webinars/<int:webinar_id>/attendance", methods=["GET", "POST"])
def attendance_import(webinar_id: int):
    """Upload the platform's participant report: says which columns it used, marks each registration
    attended or no-show (replacing an earlier import), and shows the attendance rate."""
    webinar = _webinar_or_404(webinar_id)
    form = AttendanceForm(data={"zone": webinar.timezone, "min_minutes": 0})
    latest = registration_queries.latest_attendance_import(webinar.id)
    now = utcnow()
    if now < webinar.starts_at:
        status = 409 if request.method == "POST" else 200
        return (
            render_template("admin/attendance.html", webinar=webinar, form=None, latest=latest, button=ButtonForm()),
            status,
        )
    status = 200
    if form.validate_on_submit():
        upload = form.report.data
        try:
            report = attendance.read_for(webinar, upload.read())
        except ReportError as exc:
            form.report.errors = [str(exc)]
            status = INVALID
        else:
            record = attendance.apply_report(
                webinar,
                report,
                zone=form.zone.data,
                filename=upload.filename or "",
                min_minutes=form.min_minutes.data or 0,
                now=now,
            )
            audit(webinar, "attendance imported", current_organiser(), now, attendance_summary(record))
            db.session.commit()
            flash(
                _(
                    "Attendance imported: %(attended)s attended, %(no_shows)s no-shows. Columns used: %(columns)s.",
                    attended=record.attended,
                    no_shows=record.no_shows,
                    columns=record.columns_used,
                ),
                "success",
            )
            for note in report.notes:
                flash(note, "info")
            return redirect(url_for("admin.attendance_import", webinar_id=webinar.id), 303)
    elif request.method == "POST":
        status = INVALID
    return (
        render_template("admin/attendance.html", webinar=webinar, form=form, latest=latest, button=ButtonForm()),
        status,
    )


# -- messages to registrants -------------------------------------------------------------------------------


def _messages_page(webinar, form: RegistrantMessageForm, status: int = 200, preview: dict | None = None):
    audience = form.audience.data if form.audience.data in AUDIENCE_LABELS else "confirmed"
    return (
        render_template(
            "admin/registrant_messages.html",
            webinar=webinar,
            form=form,
            preview=preview,
            recipients=registration_messages.count_recipients(webinar.id, audience),
            counts={key: registration_messages.count_recipients(webinar.id, key) for key in AUDIENCE_LABELS},
            sent=registration_messages.messages_of(webinar.id),
        ),
        status,
    )


@blueprint.route("/webinars/<int:webinar_id>/messages", methods=["GET", "POST"])
def registrant_messages(webinar_id: int):
    """Write to the webinar's registrants: preview, a test to yourself, then send (how many it reaches
    is said first); each message's delivery below."""
    webinar = _webinar_or_404(webinar_id)
    form = RegistrantMessageForm()
    action = request.form.get("action", "preview")
    if not form.validate_on_submit():
        return _messages_page(webinar, form, INVALID if request.method == "POST" else 200)
    translations = form.translations
    now, by = utcnow(), current_organiser()
    if action == "test":
        try:
            registration_messages.queue_test(
                webinar,
                subject=form.subject.data,
                body=form.body.data,
                to=by.email,
                language=current_language(),
                now=now,
            )
        except registration_messages.MessageError as exc:
            form.subject.errors = [str(exc)]
            return _messages_page(webinar, form, INVALID)
        db.session.commit()
        flash(_("A test is on its way to %(email)s.", email=by.email), "success")
        return _messages_page(webinar, form)
    if action != "send":
        preview = {"subject": form.subject.data, "body": markdown_to_html(form.body.data)}
        if form.subject_fr.data:
            preview.update(subject_fr=form.subject_fr.data, body_fr=markdown_to_html(form.body_fr.data))
        return _messages_page(webinar, form, preview=preview)
    if not form.confirm.data:
        form.confirm.errors = [_("Tick this box to send the message.")]
        return _messages_page(webinar, form, INVALID)
    try:
        message = registration_messages.create_message(
            webinar,
            subject=form.subject.data,
            body=form.body.data,
            audience=form.audience.data,
            translations=translations,
            created_by=by.email,
            now=now,
        )
    except registration_messages.MessageError as exc:
        db.session.rollback()
        form.subject.errors = [str(exc)]
        return _messages_page(webinar, form, INVALID)
    audit(webinar, "message sent", by, now, f"{message.subject} ({label('audience', message.audience)})")
    # Committed before its recipients are queued (batch by batch): an interruption leaves a message
    # the mail worker finishes.
    db.session.commit()
    registration_messages.expand_message(message)
    flash(
        ngettext(
            "The message is queued for %(num)s registrant; the mail worker sends it.",
            "The message is queued for %(num)s registrants; the mail worker sends it.",
            message.recipients_count,
        ),
        "success",
    )
    return redirect(url_for("admin.registrant_messages", webinar_id=webinar.id, _anchor="sent"), 303)


@blueprint.post("/webinars/<int:webinar_id>/attendance/followups")
def attendance_followups(webinar_id: int):
    """Send the recording: "thank you" to those who attended, "sorry we missed you" to the no-shows. Once
    per person: pressing again queues only those who had none (registrants marked by a later import)."""
    webinar = _webinar_or_404(webinar_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    back = url_for("admin.attendance_import", webinar_id=webinar.id)
    if not webinar.recording_url:
        flash(_("Add the recording’s address to the webinar first."), "error")
        return redirect(back)
    now = utcnow()
    thanks, missed = queue_recording_followups(webinar, now)
    if thanks or missed:
        details = _(
            "Recording sent: %(thanks)s thank-you, %(missed)s sorry-we-missed-you", thanks=thanks, missed=missed
        )
        audit(webinar, "recording sent", current_organiser(), now, details)
        db.session.commit()
        flash(
            _(
                "The recording is on its way: %(thanks)s thank-you and %(missed)s sorry-we-missed-you emails.",
                thanks=thanks,
                missed=missed,
            ),
            "success",
        )
    else:
        flash(_("Everyone whose attendance is known has already been sent the recording."), "info")
    return redirect(back)
