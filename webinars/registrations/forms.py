"""The registration form: what an attendee types, checked before anything is stored."""

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ..forms import BaseForm, email_address, single_line
from ..timezones import selectable_zones


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
