"""The registration form: what an attendee types, checked before anything is stored."""

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length
from wtforms.widgets import Select, html_params

from ..forms import BaseForm, email_address, single_line
from ..templating import zone_field_options
from ..timezones import selectable_zone_set, zone_choices


class ZoneSelect(Select):
    """WTForms's Select, with the zone options from a per-process cache: the same HTML, built once."""

    def __call__(self, field, **kwargs):
        if self.multiple or field.choices is not zone_choices():
            return super().__call__(field, **kwargs)
        # The opening tag exactly as Select writes it; only the ~430 options are cached.
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{zone_field_options(field.data)}</select>")


class ZoneField(SelectField):
    """A choice of IANA zone, rendered from cached options and checked with a set look-up."""

    widget = ZoneSelect()

    def pre_validate(self, form):
        # A known zone is one of the choices; anything else goes to SelectField's own check and message.
        if self.validate_choice and self.choices is zone_choices() and self.data in selectable_zone_set():
            return
        super().pre_validate(form)


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
    timezone = ZoneField(
        _l("Your time zone"),
        choices=[],
        validate_choice=True,
        description=_l("The times in your emails are shown in this zone."),
    )
    newsletter = BooleanField(_l("Also send me the newsletter (you will be asked to confirm)"), default=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timezone.choices = zone_choices()  # shared, not copied: ZoneSelect recognises it
