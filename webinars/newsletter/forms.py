"""Newsletter forms: sign-up and preferences."""

import re

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _no_control_characters(form, field):
    # Names end up in emails; a CR/LF or other control character is never part of one.
    if field.data and _CONTROL.search(field.data):
        raise ValidationError("Please remove the special characters.")


class TopicsField(SelectMultipleField):
    """Checkboxes, one per topic."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class SignupForm(FlaskForm):
    email = EmailField(
        "Email address",
        filters=[_strip],
        validators=[
            DataRequired("Please enter your email address."),
            Length(max=254),
            Email("Please enter a valid email address."),
        ],
    )
    name = StringField(
        "Name (optional)", filters=[_strip], validators=[Optional(), Length(max=200), _no_control_characters]
    )
    topics = TopicsField(
        "Topics of interest",
        choices=[],
        validate_choice=True,
        description="Choose none to hear about everything.",
    )
    consent = BooleanField(validators=[DataRequired("Please tick the box to agree.")])


class PreferencesForm(FlaskForm):
    topics = TopicsField("Topics of interest", choices=[], description="Choose none to hear about everything.")


class ButtonForm(FlaskForm):
    """Just the CSRF token behind a single button."""
