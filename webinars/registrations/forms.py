"""The registration form: what an attendee types, checked before anything is stored."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import BaseForm, ZoneField, email_address, single_line


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
