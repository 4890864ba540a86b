"""Organisers' forms. Every field's input is kept and its errors shown beside it."""

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from flask_babel import LazyString, gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    Field,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import html_params

from ..catalogue.models import FIRST_PAGE_YEAR, FIRST_YEAR, LAST_PAGE_YEAR, LAST_YEAR, MAX_CAPACITY
from ..catalogue.operations import slug_taken
from ..content import queries as content_queries
from ..content.models import ITEM_TYPES, TYPE_LABELS
from ..forms import BaseForm, CheckboxesField, ZoneField, email_address, is_one_line, single_line
from ..labels import label
from ..language import LOCALES
from ..registrations.forms import RegistrationForm
from ..registrations.models import CHOICE_KINDS
from ..registrations.questions import KIND_LABELS, MAX_OPTION_LENGTH, MAX_OPTIONS, QuestionFields
from ..templating import zone_options
from ..timezones import UnknownZoneError, WallTimeError, canonical_zone_or_none, localize
from .auth import MIN_PASSWORD_LENGTH
from .lines import (
    AGENDA_HELP,
    PARTNERS_HELP,
    RELATED_HELP,
    LineFormatError,
    check_url,
    parse_agenda,
    parse_partners,
    parse_references,
)


class LoginForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254), single_line])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)], filters=())


def _http_url(form, field):
    try:
        field.data = check_url(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def _https_image_url(form, field):
    # The public pages' Content-Security-Policy loads images over https only (img-src https:): an
    # http:// image would be a broken picture in production, so it is refused here, where it can be fixed.
    _http_url(form, field)
    if field.data and urlsplit(field.data).scheme.lower() != "https":
        raise ValidationError(
            _l("Give the image’s https:// address: browsers block images sent without encryption on this site.")
        )


DATE_RANGE_MESSAGE = _l("Choose a date from %(first)s to %(last)s.", first=FIRST_YEAR, last=LAST_YEAR)


def year_allowed(year: int) -> bool:
    """Whether a date in this year can be stored (the forms' bounds, FIRST_YEAR to LAST_YEAR)."""
    return FIRST_YEAR <= year <= LAST_YEAR


def in_date_range(form, field):
    """Dates far outside the present would overflow every zone's wall clock and calendar files."""
    if field.data and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
        raise ValidationError(DATE_RANGE_MESSAGE)


PAGE_DATE_RANGE_MESSAGE = _l("Choose a date from %(first)s to %(last)s.", first=FIRST_PAGE_YEAR, last=LAST_PAGE_YEAR)


def in_page_date_range(form, field):
    """A page's date (an item's, a topic page's): older than webinars may be, never far ahead."""
    if field.data and not FIRST_PAGE_YEAR <= field.data.year <= LAST_PAGE_YEAR:
        raise ValidationError(PAGE_DATE_RANGE_MESSAGE)


def capacity_below_confirmed_message(confirmed: int) -> str:
    return ngettext(
        "%(num)s person already holds a seat, so the capacity cannot be lower than that. "
        "Cancel registrations first, or leave the capacity empty for no limit.",
        "%(num)s people already hold a seat, so the capacity cannot be lower than that. "
        "Cancel registrations first, or leave the capacity empty for no limit.",
        confirmed,
    )


def split_zones(text: str) -> list[str]:
    return [part for part in re.split(r"[\s,]+", text or "") if part]


class ZoneListWidget:
    """One zone <select> per entry (named options, grouped by region) and empty ones to add more,
    all with the field's name: the browser sends each chosen zone, and no IANA id is ever shown."""

    def __call__(self, field, **kwargs):
        chosen = list(field.data or [])
        slots = max(field.slots, len(chosen) + 1)
        describedby = kwargs.get("aria-describedby")
        items = []
        for number, zone in enumerate(chosen + [""] * (slots - len(chosen)), start=1):
            select_id = f"{field.id}-{number}"
            attrs = {"id": select_id, "name": field.name, "class": "zone-select"}
            if describedby:
                attrs["aria-describedby"] = describedby
            if field.errors and zone in field.unknown:
                attrs["aria-invalid"] = "true"
            options = Markup('<option value="">{}</option>').format(_l("None")) + zone_options(zone)
            items.append(
                Markup('<div class="zone-list-item"><label for="{}">{}</label><select {}>{}</select></div>').format(
                    select_id, _l("Zone %(num)s", num=number), Markup(html_params(**attrs)), options
                )
            )
        return Markup('<div class="zone-list" id="{}">{}</div>').format(field.id, Markup("").join(items))


class ZoneListField(Field):
    """Zones in order, each under its current name (Asia/Calcutta is Asia/Kolkata), without repeats.
    A request may also send them in one value separated by spaces or commas (scripts, older forms)."""

    widget = ZoneListWidget()

    def __init__(self, label=None, validators=None, slots: int = 4, **kwargs):
        super().__init__(label, validators, **kwargs)
        self.slots = slots
        self.unknown: list[str] = []

    def process_data(self, value):
        names = split_zones(value) if isinstance(value, str) else list(value or [])
        self.data = [canonical_zone_or_none(name) or name for name in names]

    def process_formdata(self, valuelist):
        names = [name for value in valuelist for name in split_zones(value)]
        self.data = list(dict.fromkeys(canonical_zone_or_none(name) or name for name in names))

    def pre_validate(self, form):
        self.unknown = [name for name in self.data or [] if canonical_zone_or_none(name) != name]
        if self.unknown:
            shown = ", ".join(name[:64] for name in self.unknown[:5])
            raise ValidationError(_l("Unknown time zone: %(zones)s. Choose each zone from its list.", zones=shown))
        if len(self.data or []) > MAX_DISPLAY_ZONES:
            raise ValidationError(_l("At most %(num)s zones can be shown.", num=MAX_DISPLAY_ZONES))


MAX_DISPLAY_ZONES = 20


class WebinarForm(BaseForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=300), single_line])
    slug = StringField(
        _l("Slug"),
        validators=[Optional(), Length(max=120)],
        description=_l("Part of the page address: /webinars/<slug>. Leave empty to build it from the title."),
    )
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=2000)])
    title_fr = StringField(
        _l("French title (optional)"),
        validators=[Optional(), Length(max=300), single_line],
        description=_l("Shown to visitors who read the site in French; leave empty to show the title above."),
    )
    summary_fr = TextAreaField(
        _l("French summary (optional)"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Shown to visitors who read the site in French; leave empty to show the summary above."),
    )
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=50000)],
        description=_l("Markdown: **bold**, *italic*, [link](https://…), lists with “- ”. Raw HTML is not allowed."),
    )
    start_date = DateField(_l("Start date"), validators=[InputRequired(), in_date_range])
    start_time = TimeField(_l("Start time"), validators=[InputRequired()])
    timezone = ZoneField(
        _l("Time zone of the start time"),
        validators=[InputRequired()],
        description=_l("The zone in which the date and time above are meant, e.g. Paris, France."),
    )
    duration_minutes = IntegerField(
        _l("Duration in minutes"), validators=[InputRequired(), NumberRange(min=1, max=24 * 60)], default=60
    )
    display_zones = ZoneListField(
        _l("Also show the time in"),
        description=_l(
            "Zones shown side by side on the page and in emails, after the event’s own zone, which always comes "
            "first. Leave a list on “None” for fewer."
        ),
    )
    location = StringField(_l("Location"), validators=[Optional(), Length(max=300), single_line], default="Online")
    capacity = IntegerField(
        _l("Capacity"),
        validators=[
            Optional(),
            NumberRange(
                min=0,
                max=MAX_CAPACITY,
                message=_l("Give a number of seats from 0 to at most 1,000,000, or leave it empty for no limit."),
            ),
        ],
        description=_l("Seats; leave empty for no limit. Later registrants join the waiting list."),
    )
    confirm_registrations = BooleanField(
        _l("Hold a seat only after the attendee confirms their address"),
        default=False,
        description=_l(
            "For high-demand events, where made-up addresses could fill the seats: the first email asks each "
            "registrant to confirm their address within 48 hours, and seats not confirmed in time go to the "
            "waiting list. Leave it off for most webinars: it is one more step for every attendee, and the "
            "calendar invitation arrives only after it."
        ),
    )
    deadline_date = DateField(_l("Registration deadline: date"), validators=[Optional(), in_date_range])
    deadline_time = TimeField(
        _l("Registration deadline: time"),
        validators=[Optional()],
        description=_l("In the event’s time zone. Leave empty to keep registration open until the start."),
    )
    join_url = StringField(
        _l("Join URL"),
        validators=[Optional(), Length(max=1000), _http_url],
        description=_l("Sent to registrants only."),
    )
    recording_url = StringField(_l("Recording URL"), validators=[Optional(), Length(max=1000), _http_url])
    # Shown for published webinars. Ticked by default, and acting only on what registrants need to hear
    # of (a new time, place or join link): a corrected typo in the title is never emailed.
    notify = BooleanField(
        _l("Notify registrants"),
        default=True,
        description=_l(
            "If the time, place or join link changes, each registrant is sent an updated calendar invitation. "
            "Other changes (title, description, agenda…) are never emailed."
        ),
    )
    # Shown once the webinar is over and its attendance imported.
    send_recording = BooleanField(
        _l("Email the recording to attendees and no-shows"),
        default=False,
        description=_l(
            "When a recording address is saved: “thank you for joining us” to those who attended, “sorry we "
            "missed you” to the no-shows, each once."
        ),
    )
    topics = CheckboxesField(_l("Topics"), coerce=int, validate_choice=True)
    new_topics = StringField(
        _l("New topics"),
        validators=[Optional(), Length(max=500), single_line],
        description=_l("Names of topics to create and add, separated by commas."),
    )
    agenda = TextAreaField(_l("Agenda"), validators=[Optional(), Length(max=50000)], description=AGENDA_HELP)
    partners = TextAreaField(_l("Partners"), validators=[Optional(), Length(max=50000)], description=PARTNERS_HELP)
    related_items = TextAreaField(
        _l("Related content"), validators=[Optional(), Length(max=50000)], description=RELATED_HELP
    )

    def __init__(self, *args, topic_choices=(), webinar_id: int | None = None, confirmed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.webinar_id = webinar_id
        self.confirmed = confirmed  # people holding a seat now: the capacity cannot go below
        self.conflict = False  # set when saving lost a race for a unique key (see admin.routes)
        self.topics.choices = list(topic_choices)
        self.starts_at: datetime | None = None
        self.registration_deadline: datetime | None = None
        self.sections_items: list = []
        self.partner_items: list = []
        self.related: list = []  # ContentItem objects, in the order typed

    def validate_slug(self, field):
        if field.data and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", field.data):
            raise ValidationError(_l("Use lower-case letters, digits and single hyphens only."))
        if field.data and slug_taken(field.data, exclude_id=self.webinar_id):
            raise ValidationError(_l("Another webinar already uses this slug."))

    def validate_capacity(self, field):
        if field.data is not None and field.data < self.confirmed:
            raise ValidationError(capacity_below_confirmed_message(self.confirmed))

    def validate_agenda(self, field):
        try:
            self.sections_items = parse_agenda(field.data)
        except LineFormatError as exc:
            raise ValidationError(str(exc)) from exc

    def validate_partners(self, field):
        try:
            self.partner_items = parse_partners(field.data)
        except LineFormatError as exc:
            raise ValidationError(str(exc)) from exc

    def validate_related_items(self, field):
        references = parse_references(field.data)
        by_slug = content_queries.items_by_slugs([ref[:160] for _, ref in references])
        by_title = content_queries.items_by_titles([ref[:500] for _, ref in references if ref not in by_slug])
        unknown = [(number, ref) for number, ref in references if ref not in by_slug and ref not in by_title]
        if unknown:
            number, ref = unknown[0]
            raise ValidationError(
                _l("Line %(number)s: no content item has the slug or title “%(ref)s”.", number=number, ref=ref[:120])
            )
        self.related = [by_slug.get(ref) or by_title[ref] for _, ref in references]

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        # Only once date, time and zone are each valid can the instant be worked out.
        if self.start_date.data and self.start_time.data and not (self.start_date.errors or self.timezone.errors):
            try:
                self.starts_at = localize(
                    datetime.combine(self.start_date.data, self.start_time.data), self.timezone.data
                )
            except WallTimeError as exc:
                self.start_time.errors = [*self.start_time.errors, str(exc)]
                valid = False
            except UnknownZoneError:
                valid = False
        if bool(self.deadline_date.data) != bool(self.deadline_time.data):
            self.deadline_time.errors = [*self.deadline_time.errors, _l("Give both a date and a time, or neither.")]
            valid = False
        elif self.deadline_date.data and not (self.deadline_date.errors or self.timezone.errors):
            try:
                self.registration_deadline = localize(
                    datetime.combine(self.deadline_date.data, self.deadline_time.data), self.timezone.data
                )
            except WallTimeError as exc:
                self.deadline_time.errors = [*self.deadline_time.errors, str(exc)]
                valid = False
            else:
                if self.starts_at and self.registration_deadline > self.starts_at:
                    self.deadline_time.errors = [
                        *self.deadline_time.errors,
                        _l("The registration deadline must not be after the start."),
                    ]
                    valid = False
        return valid

    @property
    def ends_at(self) -> datetime | None:
        if self.starts_at is None or not self.duration_minutes.data:
            return None
        return self.starts_at + timedelta(minutes=self.duration_minutes.data)

    def new_topic_names(self) -> list[str]:
        return [name.strip() for name in (self.new_topics.data or "").split(",") if name.strip()]


class FrenchVersion:
    """For forms with an optional French version of their message (fields subject_fr and body_fr):
    both parts or neither, and the version as create_campaign / create_message take it."""

    # Each is checked only when it is filled in (Optional), so each checks the other.
    def validate_subject_fr(self, field):
        if not self.body_fr.data:
            raise ValidationError(_l("Give both a French subject and a French message, or neither."))

    def validate_body_fr(self, field):
        if not self.subject_fr.data:
            raise ValidationError(_l("Give both a French subject and a French message, or neither."))

    @property
    def translations(self) -> dict[str, tuple[str, str]]:
        if self.subject_fr.data and self.body_fr.data:
            return {"fr": (self.subject_fr.data, self.body_fr.data)}
        return {}


class CampaignForm(FrenchVersion, BaseForm):
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300), single_line])
    body = TextAreaField(
        _l("Message"),
        validators=[DataRequired(), Length(max=100000)],
        description=_l("Markdown: **bold**, *italic*, [link](https://…), lists with “- ”."),
    )
    topics = CheckboxesField(
        _l("Topics"),
        coerce=int,
        validate_choice=True,
        description=_l(
            "Subscribers who follow at least one of these topics receive it, and so do those who chose no topic; "
            "none ticked: everyone."
        ),
    )
    subject_fr = StringField(
        _l("Subject in French"),
        validators=[Optional(), Length(max=300), single_line],
        description=_l("Optional: subscribers who signed up in French get this version, the others the one above."),
    )
    body_fr = TextAreaField(_l("Message in French"), validators=[Optional(), Length(max=100000)])
    confirm = BooleanField(_l("Yes, send this campaign now"))

    def __init__(self, *args, topic_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.topics.choices = list(topic_choices)

    @staticmethod
    def data_of(campaign) -> dict:
        """The form's fields filled from a stored campaign."""
        french = (campaign.translations or {}).get("fr") or {}
        return {
            "subject": campaign.subject,
            "body": campaign.body_markdown,
            "topics": [topic.id for topic in campaign.topics],
            "subject_fr": french.get("subject", ""),
            "body_fr": french.get("body_markdown", ""),
        }


class PersonalDataForm(BaseForm):
    email = StringField(
        _l("Email address"),
        validators=[DataRequired(), Length(max=254), single_line],
        description=_l("As the person gives it; upper and lower case do not matter."),
    )
    confirm = BooleanField(_l("Yes, erase all of it"))

    def validate_email(self, field):
        # Not email-validator: an address stored years ago in a form it now refuses must still be erasable.
        if "@" not in field.data or any(ch.isspace() for ch in field.data):
            raise ValidationError(_l("Enter an email address, such as ana@example.org."))


class DiscardDraftForm(BaseForm):
    confirm = BooleanField(_l("Yes, delete this draft for good"), validators=[DataRequired()])


class GiveSeatForm(BaseForm):
    beyond_capacity = BooleanField(_l("Yes, give a seat beyond the capacity"))


class CancelWebinarForm(BaseForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[Optional(), Length(max=2000)],
        description=_l("Sent to every registrant with the cancellation, and kept in the audit trail."),
    )
    confirm = BooleanField(_l("Yes, cancel this webinar and notify every registrant"), validators=[DataRequired()])


def _type_description() -> str:
    return gettext(
        "The closed list of types: %(types)s. A source’s own series or label goes in the next field.",
        types=", ".join(str(TYPE_LABELS[name]) for name in ITEM_TYPES),
    )


class ItemForm(BaseForm):
    """A content item. The image's description comes before its address: no image without alt text."""

    type = SelectField(
        _l("Type"),
        validators=[InputRequired()],
        description=LazyString(_type_description),
    )
    label = StringField(
        _l("Series or label"),
        validators=[Optional(), Length(max=200), single_line],
        description=_l("As the source writes it, e.g. “Spotlight Interviews with Co-operators”. Optional."),
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=500), single_line])
    slug = StringField(
        _l("Slug"),
        validators=[Optional(), Length(max=160)],
        description=_l("Part of the page address: /content/<slug>. Leave empty to build it from the title."),
    )
    published_on = DateField(
        _l("Date"),
        validators=[Optional(), in_page_date_range],
        description=_l(
            "The date the item carries, from %(first)s to %(last)s. Leave empty when the source gives none.",
            first=FIRST_PAGE_YEAR,
            last=LAST_PAGE_YEAR,
        ),
    )
    summary = TextAreaField(_l("Summary"), validators=[Optional(), Length(max=5000)])
    body = TextAreaField(
        _l("Body"),
        validators=[Optional(), Length(max=100000)],
        description=_l(
            "Markdown, sanitised like campaigns. An item with a body gets a page of its own; without one, "
            "its title links to the external link below, if any."
        ),
    )
    external_url = StringField(
        _l("External link"), validators=[Optional(), Length(max=1000), _http_url], description=_l("Optional.")
    )
    image_alt = StringField(
        _l("Image description (alt text)"),
        validators=[Optional(), Length(max=500), single_line],
        description=_l("What the image shows, for people who cannot see it. Required before an image address."),
    )
    image_url = StringField(_l("Image address"), validators=[Optional(), Length(max=1000), _https_image_url])
    language = StringField(
        _l("Language"),
        validators=[InputRequired(), Length(max=10)],
        default="en",
        description=_l("Language code of the item’s text, e.g. en, fr, es."),
    )
    topics = CheckboxesField(_l("Topics"), coerce=int, validate_choice=True)
    new_topics = StringField(
        _l("New topics"),
        validators=[Optional(), Length(max=500), single_line],
        description=_l("Names of topics to create and add, separated by commas."),
    )

    def __init__(self, *args, topic_choices=(), item_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.item_id = item_id
        self.type.choices = [(name, TYPE_LABELS[name]) for name in ITEM_TYPES]
        self.topics.choices = list(topic_choices)

    def validate_slug(self, field):
        if field.data and not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", field.data):
            raise ValidationError(_l("Use lower-case letters, digits and single hyphens only."))
        if field.data and content_queries.slug_taken(field.data, exclude_id=self.item_id):
            raise ValidationError(_l("Another item already uses this slug."))

    def validate_language(self, field):
        if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", field.data or ""):
            raise ValidationError(_l("Use a language code such as en, fr or pt-BR."))

    def validate_image_url(self, field):
        if field.data and not self.image_alt.data:
            raise ValidationError(_l("Describe the image first (alt text), then give its address."))

    def new_topic_names(self) -> list[str]:
        return [name.strip() for name in (self.new_topics.data or "").split(",") if name.strip()]


class TopicForm(BaseForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120), single_line])
    description = TextAreaField(
        _l("Description"),
        validators=[Optional(), Length(max=5000)],
        description=_l("Shown at the top of the topic’s page."),
    )
    page_date = DateField(
        _l("Date"),
        validators=[Optional(), in_page_date_range],
        description=_l(
            "The date the topic page carries, if any, from %(first)s to %(last)s.",
            first=FIRST_PAGE_YEAR,
            last=LAST_PAGE_YEAR,
        ),
    )


# -- organiser accounts ------------------------------------------------------------------------------

ROLE_LABELS = {
    "owner": _l("Owner: everything, organiser accounts and subscriber data included"),
    "editor": _l("Editor: webinars, content, the registrations of their webinars, campaigns once an owner approves"),
}


class PasswordForgotForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254), single_line])


class NewPasswordForm(BaseForm):
    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(),
            Length(
                min=MIN_PASSWORD_LENGTH,
                max=1000,
                message=_l("Use at least %(num)s characters.", num=MIN_PASSWORD_LENGTH),
            ),
        ],
        filters=(),
        description=_l(
            "At least %(num)s characters; a few unrelated words are easy to remember.", num=MIN_PASSWORD_LENGTH
        ),
    )
    again = PasswordField(_l("The same password again"), validators=[DataRequired()], filters=())

    def validate_again(self, field):
        if field.data != self.password.data:
            raise ValidationError(_l("The two passwords differ."))


class OrganiserForm(BaseForm):
    email = EmailField(_l("Email address"), validators=[DataRequired(), Length(max=254), email_address, single_line])
    name = StringField(_l("Name"), validators=[Optional(), Length(max=200), single_line])
    role = RadioField(_l("Role"), default="editor", validators=[InputRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = list(ROLE_LABELS.items())


class RoleForm(BaseForm):
    role = RadioField(_l("Role"), validators=[InputRequired()])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.role.choices = list(ROLE_LABELS.items())


class EditorsForm(BaseForm):
    editors = CheckboxesField(
        _l("Editors who look after this webinar"),
        coerce=int,
        validate_choice=True,
        description=_l("They see its registrations. Owners see every webinar's."),
    )

    def __init__(self, *args, editor_choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.editors.choices = list(editor_choices)


# -- registrants and questions ---------------------------------------------------------------------


class AddRegistrantForm(RegistrationForm):
    """Someone an organiser registers by hand. No newsletter box: only the person can consent to that."""

    newsletter = None
    language = SelectField(_l("Language of their emails"), validators=[InputRequired()])
    notify = BooleanField(
        _l("Send them the confirmation email"),
        default=True,
        description=_l(
            "With the calendar invitation and the join link (or, when the webinar is full, the waiting-list "
            "notice). Untick it if they already know."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.language.choices = [(code, label("language", code)) for code in LOCALES]


class QuestionForm(BaseForm):
    kind = SelectField(_l("Kind of answer"), validators=[InputRequired()])
    label = StringField(
        _l("Question"),
        validators=[DataRequired(), Length(max=300), single_line],
        description=_l("As the form shows it, e.g. “Which session will you join?” or “I agree to be recorded”."),
    )
    help_text = StringField(
        _l("Help text"),
        validators=[Optional(), Length(max=500), single_line],
        description=_l("Optional: shown under the question."),
    )
    required = BooleanField(
        _l("An answer is required"),
        description=_l("For a checkbox: it must be ticked to register."),
    )
    options = TextAreaField(
        _l("Choices"),
        validators=[Optional(), Length(max=MAX_OPTIONS * (MAX_OPTION_LENGTH + 2))],
        description=_l("For a single or multiple choice: one per line, in the order shown."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind.choices = list(KIND_LABELS.items())

    def validate_options(self, field):
        lines = [line.strip() for line in (field.data or "").splitlines() if line.strip()]
        if self.kind.data in CHOICE_KINDS:
            if len(lines) < 2:
                raise ValidationError(_l("Give at least two choices, one per line."))
            if len(lines) > MAX_OPTIONS:
                raise ValidationError(_l("Give at most %(num)s choices.", num=MAX_OPTIONS))
            too_long = [line for line in lines if len(line) > MAX_OPTION_LENGTH]
            if too_long:
                raise ValidationError(_l("Each choice has at most %(num)s characters.", num=MAX_OPTION_LENGTH))
            if any(not is_one_line(line) for line in lines):
                raise ValidationError(_l("Please use ordinary characters only (no line breaks or control characters)."))
        self.option_lines = lines

    def fields(self) -> QuestionFields:
        return QuestionFields(
            kind=self.kind.data,
            label=self.label.data,
            help_text=self.help_text.data or "",
            required=bool(self.required.data),
            options=getattr(self, "option_lines", []),
        )


class AttendanceForm(BaseForm):
    report = FileField(
        _l("Participant report (CSV)"),
        validators=[FileRequired(_l("Choose the CSV file the platform gave you."))],
        description=_l(
            "Zoom: Reports → Usage → Participants → Export. Teams: the meeting's Attendance tab → Download. "
            "Any CSV with an email column and join times or durations will do."
        ),
    )
    zone = ZoneField(
        _l("Time zone of the times in the report"),
        description=_l("Zoom writes the account's zone, Teams the zone of whoever downloaded the report."),
    )
    min_minutes = IntegerField(
        _l("Count as attended from (minutes)"),
        validators=[Optional(), NumberRange(min=0, max=24 * 60)],
        default=0,
        description=_l("0: anyone who joined at all."),
    )


class SubscriberActionForm(BaseForm):
    confirm = BooleanField(_l("Yes, unsubscribe this person"))
    erase = BooleanField(_l("Yes, erase all of it"))


AUDIENCE_LABELS = {
    "confirmed": _l("Those with a seat"),
    "waitlisted": _l("Those on the waiting list"),
    "all": _l("Everyone registered (seats, seats awaiting confirmation and the waiting list)"),
}


class RegistrantMessageForm(FrenchVersion, BaseForm):
    audience = RadioField(_l("To"), validators=[InputRequired()], default="confirmed")
    subject = StringField(_l("Subject"), validators=[DataRequired(), Length(max=300), single_line])
    body = TextAreaField(
        _l("Message"),
        validators=[DataRequired(), Length(max=100_000)],
        description=_l(
            "Markdown: **bold**, *italic*, [link](https://…), lists with “- ”. Each registrant’s email ends "
            "with the link to their own registration."
        ),
    )
    subject_fr = StringField(
        _l("Subject in French"),
        validators=[Optional(), Length(max=300), single_line],
        description=_l("Optional: registrants who registered in French get this version."),
    )
    body_fr = TextAreaField(_l("Message in French"), validators=[Optional(), Length(max=100_000)])
    confirm = BooleanField(_l("Yes, send this message now"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.audience.choices = list(AUDIENCE_LABELS.items())


class CampaignSendForm(BaseForm):
    """Send an approved draft now, or at a date and time in a chosen zone."""

    when = RadioField(_l("When"), validators=[InputRequired()], default="now")
    send_date = DateField(_l("Date"), validators=[Optional(), in_date_range])
    send_time = TimeField(_l("Time"), validators=[Optional()])
    zone = ZoneField(_l("Time zone of that date and time"), validators=[Optional()])
    confirm = BooleanField(_l("Yes, send this campaign"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.when.choices = [("now", _l("Now")), ("later", _l("At a date and time"))]
        self.send_at: datetime | None = None

    def validate(self, extra_validators=None) -> bool:
        valid = super().validate(extra_validators)
        if self.when.data != "later" or not valid:
            return valid
        if not self.send_date.data:
            self.send_date.errors = [*self.send_date.errors, _l("Choose the date.")]
            valid = False
        if not self.send_time.data:
            self.send_time.errors = [*self.send_time.errors, _l("Choose the time.")]
            valid = False
        if valid:
            try:
                self.send_at = localize(datetime.combine(self.send_date.data, self.send_time.data), self.zone.data)
            except WallTimeError as exc:
                self.send_time.errors = [*self.send_time.errors, str(exc)]
                valid = False
            except UnknownZoneError:
                self.zone.errors = [*self.zone.errors, _l("Choose a time zone from the list.")]
                valid = False
        return valid
