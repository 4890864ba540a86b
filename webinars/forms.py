"""What every form shares: whitespace stripped, one-line fields kept to one line, multi-line fields
free of control characters, emails normalised, time zones under their current names."""

import re

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup
from wtforms import BooleanField, PasswordField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import StopValidation, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget, Select, html_params

from . import timezones
from .addresses import AddressError, canonical_address
from .database import utcnow
from .templating import zone_options
from .timezones import canonical_zone_or_none, selectable_zone_set

# C0/C1 controls (CR and LF included), DEL, and the Unicode line/paragraph separators: none belong
# in a one-line field, and CR/LF could otherwise end up in a mail header.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In a multi-line field tab, CR and LF are text; any other C0 control, DEL and the C1 controls are not:
# invisible, meaningless on a page or in an email, and NUL is refused by PostgreSQL outright.
MULTI_LINE_CONTROLS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def strip_whitespace(value):
    return value.strip() if isinstance(value, str) else value


# An apostrophe inside a word ("N'est"): WTForms's French messages type it straight; ours use ’.
_STRAIGHT_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")


class _TypographicTranslations:
    """WTForms's own messages (Flask-WTF's translations, in the page's language) with the typographic
    apostrophe that the rest of the site uses: "N’est pas un choix valide", not "N'est"."""

    def __init__(self, translations):
        self._translations = translations

    def gettext(self, string):
        return _STRAIGHT_APOSTROPHE.sub("’", self._translations.gettext(string))

    def ngettext(self, singular, plural, n):
        return _STRAIGHT_APOSTROPHE.sub("’", self._translations.ngettext(singular, plural, n))


class BaseForm(FlaskForm):
    """Strips surrounding whitespace from every text field (passwords are taken as typed), and checks
    every multi-line field for control characters (multi_line), so that no textarea can forget it."""

    class Meta:
        def get_translations(self, form):
            translations = super().get_translations(form)
            return _TypographicTranslations(translations) if translations is not None else None

        def bind_field(self, form, unbound_field, options):
            filters = unbound_field.kwargs.get("filters", ())
            if not issubclass(unbound_field.field_class, BooleanField | PasswordField):
                options["filters"] = (strip_whitespace, *filters)
            field = unbound_field.bind(form=form, **options)
            if isinstance(field, TextAreaField):
                field.validators = [multi_line, *field.validators]
            return field


class ButtonForm(BaseForm):
    """A button that acts (confirm, cancel, publish, sign out): only the CSRF token."""


def is_one_line(text: str) -> bool:
    """No line break of any kind (CR, LF, NEL, U+2028, U+2029) and no other control character."""
    return not CONTROL_CHARACTERS.search(text)


def single_line(form, field):
    if field.data and isinstance(field.data, str) and not is_one_line(field.data):
        raise ValidationError(_l("Please use ordinary characters only (no line breaks or control characters)."))


def control_character_problem(text: str) -> str | None:
    """What is wrong with a multi-line text, or None: it may hold tabs and line breaks, and no other
    control character. The message says which and where, because nobody can see them."""
    if not isinstance(text, str) or not (found := MULTI_LINE_CONTROLS.search(text)):
        return None
    return _(
        "Line %(line)s holds an invisible control character (U+%(code)s) that cannot be stored. "
        "Please delete it; tabs and line breaks are fine.",
        line=text.count("\n", 0, found.start()) + 1,
        code=f"{ord(found.group()):04X}",
    )


def multi_line(form, field):
    """Every TextAreaField's first check (BaseForm adds it): control_character_problem()."""
    if problem := control_character_problem(field.data):
        # Stops the field's other checks, which may look the text up in the database (related items).
        raise StopValidation(problem)


def email_address(form, field):
    """Validate the address and keep its one spelling (webinars/addresses.py: the domain in ASCII form)."""
    if not field.data or field.errors:
        return
    single_line(form, field)
    try:
        # No DNS lookup: the page must answer fast, and a bounce is handled by the outbox.
        field.data = canonical_address(field.data)
    except AddressError as error:
        raise ValidationError(str(error)) from error


class CheckboxesField(SelectMultipleField):
    """A list of checkboxes (topics), usable without JavaScript."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ZoneSelect(Select):
    """A zone <select>: the grouped, named options of templating.zone_options(), built once per process
    and language; the same HTML as WTForms's Select writes for ZoneField.choices."""

    def __call__(self, field, **kwargs):
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for key in dir(flags):
            if key in self.validation_attrs and key not in kwargs:
                kwargs[key] = getattr(flags, key)
        kwargs.setdefault("class", "zone-select")
        return Markup(f"<select {html_params(name=field.name, **kwargs)}>{zone_options(field.data)}</select>")


class ZoneField(SelectField):
    """A choice of IANA zone, offered by city and country ('São Paulo, Brazil (UTC−03:00)'). Whatever
    name arrives (Asia/Calcutta from a browser, utc, US/Eastern) is taken under its current name, which
    is then the selected option: a zone the list leaves out (Etc/GMT+5) is added to it rather than
    silently replaced by the first option."""

    widget = ZoneSelect()

    def process(self, formdata, data=None, extra_filters=None):
        super().process(formdata, data, extra_filters)
        self.choices = zone_choices(self.data)

    def process_data(self, value):
        self.data = canonical_zone_or_none(value) or value

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = canonical_zone_or_none(valuelist[0]) or valuelist[0]

    def pre_validate(self, form):
        if not isinstance(self.data, str) or canonical_zone_or_none(self.data) != self.data:
            raise ValidationError(_l("Choose a time zone from the list."))


def zone_choices(selected=None) -> dict[str | None, list[tuple[str, str]]]:
    """WTForms choices for a zone field: {region: [(zone, label), ...]}, as zone_options() writes them.
    A zone that the list leaves out, when selected, first in a group of its own."""
    at = timezones.offsets_moment(utcnow())
    choices: dict[str | None, list[tuple[str, str]]] = {}
    if _outside_the_list(selected):
        choices[None] = [(selected, timezones.zone_option_label(selected, at))]
    for region, options in timezones.zone_groups(at):
        choices[region] = list(options)
    return choices


def _outside_the_list(name) -> bool:
    """A current zone name that the pickers do not list (Etc/GMT+5, CST6CDT)."""
    return isinstance(name, str) and name not in selectable_zone_set() and canonical_zone_or_none(name) == name
