"""What every form shares: whitespace stripped, one-line fields kept to one line, emails normalised."""

import re

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectMultipleField
from wtforms.validators import ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

# C0/C1 controls (CR and LF included), DEL, and the Unicode line/paragraph separators: none belong
# in a one-line field, and CR/LF could otherwise end up in a mail header.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def strip_whitespace(value):
    return value.strip() if isinstance(value, str) else value


class BaseForm(FlaskForm):
    """Strips surrounding whitespace from every text field (passwords are taken as typed)."""

    class Meta:
        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", ())
            if not issubclass(unbound_field.field_class, BooleanField | PasswordField):
                options["filters"] = (strip_whitespace, *filters)
            return unbound_field.bind(form=form, **options)


class ButtonForm(BaseForm):
    """A button that acts (confirm, cancel, publish, sign out): only the CSRF token."""


def single_line(form, field):
    if field.data and isinstance(field.data, str) and CONTROL_CHARACTERS.search(field.data):
        raise ValidationError(_l("Please use ordinary characters only (no line breaks or control characters)."))


def email_address(form, field):
    """Validate with email-validator and store its normalised form (domain lower-cased, IDNA)."""
    if not field.data or field.errors:
        return
    single_line(form, field)
    try:
        # No DNS lookup: the page must answer fast, and a bounce is handled by the outbox.
        result = validate_email(field.data, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationError(str(error)) from error
    field.data = result.normalized


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes (topics), usable without JavaScript."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()
