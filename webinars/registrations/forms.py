"""The registration form: what an attendee types, checked before anything is stored."""

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from ..timezones import selectable_zones

# C0/C1 controls (CR and LF included), DEL, and the Unicode line/paragraph separators: none belong
# in a one-line field, and CR/LF could otherwise end up in a mail header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class StrippedForm(FlaskForm):
    """Strips surrounding whitespace from every text field."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", [])
            if unbound_field.field_class is not BooleanField:
                unbound_field.kwargs["filters"] = [_strip, *filters]
            return unbound_field.bind(form=form, **options)


def single_line(form, field):
    if field.data and _CONTROL.search(field.data):
        raise ValidationError(_l("Please use ordinary characters only (no line breaks or control characters)."))


class RegistrationForm(StrippedForm):
    name = StringField(
        _l("Your name"), validators=[DataRequired(_l("Please tell us your name.")), Length(max=200), single_line]
    )
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Please give your email address.")), Length(max=254), single_line],
        description=_l("We send your confirmation, the calendar invite and reminders here."),
    )
    organisation = StringField(_l("Organisation"), validators=[Length(max=200), single_line])
    country = StringField(_l("Country (optional)"), validators=[Length(max=100), single_line])
    timezone = SelectField(
        _l("Your time zone"),
        choices=[],
        validate_choice=True,
        description=_l("The times in your emails are shown in this zone."),
    )
    newsletter = BooleanField(_l("Also send me the newsletter (you will be asked to confirm)"), default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = [(zone, zone.replace("_", " ")) for zone in selectable_zones()]

    def validate_email(self, field):
        if not field.data or self.email.errors:
            return
        try:
            # No DNS lookup: the page must answer fast, and a bounce is handled by the outbox.
            result = validate_email(field.data, check_deliverability=False)
        except EmailNotValidError as error:
            raise ValidationError(str(error)) from error
        field.data = result.normalized
