"""The registration form: what an attendee types, checked before anything is stored, with the webinar's
own questions after the built-in fields."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import BaseForm, ZoneField, email_address, single_line
from .questions import field_name, form_field


class RegistrationForm(BaseForm):
    name = StringField(
        _l("Your name"), validators=[DataRequired(_l("Please tell us your name.")), Length(max=200), single_line]
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Please give your email address.")), Length(max=254), email_address],
        description=_l("We send your confirmation, the calendar invite and reminders here."),
    )
    organisation = StringField(_l("Organisation"), validators=[Length(max=200), single_line])
    country = StringField(_l("Country (optional)"), validators=[Length(max=100), single_line])
    timezone = ZoneField(_l("Your time zone"), description=_l("The times in your emails are shown in this zone."))
    newsletter = BooleanField(_l("Also send me the newsletter (you will be asked to confirm)"), default=False)

    # The webinar's own questions (build_form fills these in).
    questions: list = []
    question_fields: list = []


def form_class(questions: list, *, optional: bool = False, base=RegistrationForm) -> type[RegistrationForm]:
    """`base` (RegistrationForm) with one more field per question of the webinar, in order, after the
    built-in ones (`optional`: none of them required)."""
    if not questions:
        return base
    fields = {field_name(question): form_field(question, optional=optional) for question in questions}
    return type("WebinarRegistrationForm", (base,), fields)


def build_form(questions: list, *, optional: bool = False, base=RegistrationForm, **kwargs) -> RegistrationForm:
    """The form for a webinar with these questions; `form.question_fields` lists their bound fields."""
    form = form_class(questions, optional=optional, base=base)(**kwargs)
    form.questions = list(questions)
    form.question_fields = [getattr(form, field_name(question)) for question in questions]
    return form
