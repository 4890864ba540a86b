"""A webinar's own questions on its registration form, and the answers to them.

Organisers add, edit, reorder and remove questions; the public form gets one field per question,
validated and labelled like the built-in fields. Answers keep the text as given and the question's
wording as it was asked, so a question edited after people answered never changes what they said:
- wording, help text, required and the choices may change at any time (answers keep the text chosen,
  even a choice removed since);
- the kind of a question that has answers does not change (a text answer is not a choice): ask a
  new question instead;
- a question with answers is retired rather than deleted: off the form, its answers kept (admin,
  CSV export, personal data export) until the registrations themselves are erased.
Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, select
from wtforms import BooleanField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..cache import app_cache
from ..extensions import db
from ..forms import CheckboxesField, single_line
from .models import QUESTION_KINDS, RegistrationAnswer, RegistrationQuestion

# Bounds that keep a form usable and a stored answer reasonable.
MAX_QUESTIONS = 20
MAX_OPTIONS = 30
MAX_OPTION_LENGTH = 200
SHORT_ANSWER_LENGTH = 300
LONG_ANSWER_LENGTH = 5000

KIND_LABELS = {
    "short_text": _l("Short text"),
    "long_text": _l("Long text"),
    "single_choice": _l("Single choice"),
    "multiple_choice": _l("Multiple choice"),
    "checkbox": _l("Checkbox (e.g. “I agree to be recorded”)"),
}
YES, NO = "yes", "no"


class QuestionError(ValueError):
    """A change that would corrupt answers or break the form (said to the organiser beside the field)."""


@dataclass
class QuestionFields:
    kind: str
    label: str
    help_text: str = ""
    required: bool = False
    options: list[str] = field(default_factory=list)


# -- reading -------------------------------------------------------------------------------------------


def questions_of(webinar_id: int, *, include_retired: bool = False) -> list[RegistrationQuestion]:
    """A webinar's questions in form order (the retired ones last, when asked for)."""
    query = select(RegistrationQuestion).where(RegistrationQuestion.webinar_id == webinar_id)
    if not include_retired:
        query = query.where(RegistrationQuestion.retired_at.is_(None))
    order = (RegistrationQuestion.retired_at.is_not(None), RegistrationQuestion.position, RegistrationQuestion.id)
    return list(db.session.scalars(query.order_by(*order)))


def question(question_id: int) -> RegistrationQuestion | None:
    return db.session.get(RegistrationQuestion, question_id)


@dataclass(frozen=True)
class AskedQuestion:
    """What the public form needs of a question, kept per process (see form_questions)."""

    id: int
    kind: str
    label: str
    help_text: str
    required: bool
    options: tuple[str, ...]


QUESTIONS_CACHE_SIZE = 512


def form_questions(webinar) -> tuple[AskedQuestion, ...]:
    """The questions the webinar's form asks, read once per process and webinar version: every change
    to a question moves the webinar's updated_at, so a registration post costs no query for them."""

    def load() -> tuple[AskedQuestion, ...]:
        return tuple(
            AskedQuestion(q.id, q.kind, q.label, q.help_text, q.required, tuple(q.options))
            for q in questions_of(webinar.id)
        )

    return app_cache("registration-questions", QUESTIONS_CACHE_SIZE).get_or_build(
        (webinar.id, webinar.updated_at), load
    )


def answer_counts(question_ids: Iterable[int]) -> dict[int, int]:
    ids = list(question_ids)
    if not ids:
        return {}
    rows = db.session.execute(
        select(RegistrationAnswer.question_id, func.count(RegistrationAnswer.id))
        .where(RegistrationAnswer.question_id.in_(ids))
        .group_by(RegistrationAnswer.question_id)
    )
    return dict(rows.all())


def has_answers(question: RegistrationQuestion) -> bool:
    return bool(answer_counts([question.id]).get(question.id))


# -- changing ------------------------------------------------------------------------------------------


def _check(fields: QuestionFields) -> None:
    if fields.kind not in QUESTION_KINDS:
        raise QuestionError(f"unknown kind {fields.kind!r}")
    if fields.kind in ("single_choice", "multiple_choice") and len(fields.options) < 2:
        raise QuestionError(_l("Give at least two choices, one per line."))
    if len(fields.options) > MAX_OPTIONS:
        raise QuestionError(_l("Give at most %(num)s choices.", num=MAX_OPTIONS))


def add_question(webinar, fields: QuestionFields, *, now: datetime) -> RegistrationQuestion:
    """A new question at the end of the webinar's form."""
    _check(fields)
    current = questions_of(webinar.id)
    if len(current) >= MAX_QUESTIONS:
        raise QuestionError(_l("A form can ask at most %(num)s questions of its own.", num=MAX_QUESTIONS))
    question = RegistrationQuestion(webinar_id=webinar.id, position=len(current), created_at=now)
    _apply(question, fields)
    db.session.add(question)
    webinar.updated_at = now  # the form on the webinar's page changed
    db.session.flush()
    return question


def update_question(question: RegistrationQuestion, webinar, fields: QuestionFields, *, now: datetime) -> bool:
    """Edit a question; True when something changed. Its kind only changes while nobody has answered."""
    _check(fields)
    if fields.kind != question.kind and has_answers(question):
        raise QuestionError(
            _l("People have answered this question, so its kind cannot change: ask a new question instead.")
        )
    before = (question.kind, question.label, question.help_text, question.required, question.options_text)
    _apply(question, fields)
    changed = before != (question.kind, question.label, question.help_text, question.required, question.options_text)
    if changed:
        webinar.updated_at = now
    return changed


def _apply(question: RegistrationQuestion, fields: QuestionFields) -> None:
    question.kind = fields.kind
    question.label = fields.label
    question.help_text = fields.help_text
    question.required = fields.required
    question.options = fields.options if fields.kind in ("single_choice", "multiple_choice") else []


def move_question(question: RegistrationQuestion, webinar, offset: int, *, now: datetime) -> bool:
    """Move a question up (-1) or down (+1) on the form; True when it moved."""
    ordered = questions_of(webinar.id)
    index = next((n for n, q in enumerate(ordered) if q.id == question.id), None)
    if index is None or not 0 <= index + offset < len(ordered):
        return False
    ordered[index], ordered[index + offset] = ordered[index + offset], ordered[index]
    for position, each in enumerate(ordered):
        each.position = position
    webinar.updated_at = now
    return True


def remove_question(question: RegistrationQuestion, webinar, *, now: datetime) -> str:
    """Take a question off the form: 'retired' when people answered it (answers kept), else 'deleted'."""
    webinar.updated_at = now
    if has_answers(question):
        question.retired_at = now
        return "retired"
    db.session.delete(question)
    return "deleted"


def copy_questions(source_webinar_id: int, target_webinar_id: int, *, now: datetime) -> int:
    """Give a new webinar (a duplicate) the source's current questions, in order; returns how many."""
    copied = 0
    for position, question in enumerate(questions_of(source_webinar_id)):
        db.session.add(
            RegistrationQuestion(
                webinar_id=target_webinar_id,
                position=position,
                kind=question.kind,
                label=question.label,
                help_text=question.help_text,
                required=question.required,
                options_text=question.options_text,
                created_at=now,
            )
        )
        copied += 1
    return copied


# -- the form's fields -------------------------------------------------------------------------------


class SingleChoiceField(RadioField):
    """Radio buttons, one per option (the option's text is its value)."""

    def __init__(self, label=None, validators=None, *, options=(), **kwargs):
        super().__init__(label, validators, **kwargs)
        self.choices = [(option, option) for option in options]


class MultipleChoiceField(CheckboxesField):
    """Checkboxes, one per option (the option's text is its value)."""

    def __init__(self, label=None, validators=None, *, options=(), **kwargs):
        super().__init__(label, validators, **kwargs)
        self.choices = [(option, option) for option in options]


def field_name(question: RegistrationQuestion) -> str:
    return f"question_{question.id}"


def _required_message(question: RegistrationQuestion):
    if question.kind == "checkbox":
        return _l("Please tick this box to register.")
    if question.kind in ("single_choice", "multiple_choice"):
        return _l("Please choose an answer.")
    return _l("Please answer this question.")


def form_field(question: RegistrationQuestion, *, optional: bool = False):
    """The unbound WTForms field asking `question` (`optional`: never required, for organisers who
    add someone by hand and may not know every answer)."""
    required = question.required and not optional
    description = question.help_text or None
    if question.kind == "checkbox":
        validators = [DataRequired(_required_message(question))] if required else []
        return BooleanField(question.label, validators=validators, description=description)
    if question.kind in ("single_choice", "multiple_choice"):
        validators = [InputRequired(_required_message(question))] if required else [Optional()]
        if question.kind == "single_choice":
            return SingleChoiceField(
                question.label, options=question.options, validators=validators, description=description
            )
        return MultipleChoiceField(
            question.label,
            options=question.options,
            validators=[_at_least_one(question)] if required else [],
            description=description,
        )
    length = SHORT_ANSWER_LENGTH if question.kind == "short_text" else LONG_ANSWER_LENGTH
    too_long = _l("Please answer in at most %(max)d characters.")
    validators = [
        DataRequired(_required_message(question)) if required else Optional(),
        Length(max=length, message=too_long),
    ]
    if question.kind == "short_text":
        return StringField(question.label, validators=[*validators, single_line], description=description)
    return TextAreaField(question.label, validators=validators, description=description)


def _at_least_one(question: RegistrationQuestion):
    def check(form, field):
        if not field.data:
            raise ValidationError(_required_message(question))

    check.field_flags = {"required": True}  # WTForms: the field is marked required, like DataRequired's
    return check


def answer_value(question: RegistrationQuestion, data) -> str | None:
    """What to store from a field's data: the text; the chosen options' text, one per line; yes/no
    for a checkbox. None: nothing answered (no row is stored)."""
    if question.kind == "checkbox":
        return YES if data else NO
    if question.kind == "multiple_choice":
        chosen = [option for option in question.options if option in (data or [])]
        return "\n".join(chosen) or None
    text = (data or "").strip() if isinstance(data, str) else ""
    return text or None


def save_answers(registration, answers: list[tuple[RegistrationQuestion | AskedQuestion, str]]) -> None:
    """Store a new registration's answers, each with the question's wording as it was asked."""
    for question, value in answers:
        registration.answers.append(
            RegistrationAnswer(question_id=question.id, asked_as=question.label[:300], value=value)
        )


def insert_answers(registration_id: int, answers: list[tuple]) -> None:
    """Store a new registration's answers (one INSERT, none without answers), each with the question's
    wording as it was asked."""
    if answers:
        db.session.execute(
            insert(RegistrationAnswer),
            [
                {"registration_id": registration_id, "question_id": q.id, "asked_as": q.label[:300], "value": value}
                for q, value in answers
            ],
        )


def answers_from(form, questions: list[RegistrationQuestion]) -> list[tuple[RegistrationQuestion, str]]:
    """The answers in a validated form that asks `questions`."""
    found = []
    for question in questions:
        value = answer_value(question, getattr(form, field_name(question)).data)
        if value is not None:
            found.append((question, value))
    return found
