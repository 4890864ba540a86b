"""Newsletter forms: sign-up and preferences."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Length, Optional

from ..forms import BaseForm, ButtonForm, CheckboxesField, email_address, single_line

__all__ = ["ButtonForm", "PreferencesForm", "SignupForm"]

TOPICS_HINT = _l("Choose none to hear about everything.")


class SignupForm(BaseForm):
    email = EmailField(
        _l("Email address"),
        validators=[DataRequired(_l("Please enter your email address.")), Length(max=254), email_address],
    )
    name = StringField(_l("Name (optional)"), validators=[Optional(), Length(max=200), single_line])
    topics = CheckboxesField(_l("Topics of interest"), choices=[], validate_choice=True, description=TOPICS_HINT)
    consent = BooleanField(validators=[DataRequired(_l("Please tick the box to agree."))])


class PreferencesForm(BaseForm):
    topics = CheckboxesField(_l("Topics of interest"), choices=[], description=TOPICS_HINT)
