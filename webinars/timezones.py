"""Every time-zone conversion and every "10:00 Paris time" label lives here.

Instants are aware UTC datetimes. Zones are IANA names. Nothing here reads the machine's
local time or zone, so the server's TZ setting changes nothing that is shown.
"""

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo

import pytz
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_time, get_timezone_location
from flask_babel import get_locale, pgettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

DEFAULT_LOCALE = "en_GB"
# Dates written out for people: "Tuesday 12 March 2024" (Babel's 'full' adds a comma in en_GB).
LONG_DATE_PATTERNS = {"en": "EEEE d MMMM y", "fr": "EEEE d MMMM y"}
# A date that stands alone, as the seed listings write it: "27 September 2017".
DAY_DATE_PATTERNS = {"en": "d MMMM y", "fr": "d MMMM y"}
# French writes the first of a month as an ordinal, "jeudi 1er avril 2027" (CLDR has no such pattern).
FIRST_OF_MONTH_PATTERNS = {"fr": ("EEEE d'er' MMMM y", "d'er' MMMM y")}
TIME_PATTERN = "HH:mm"


class UnknownZoneError(ValueError):
    """The name is not an IANA time zone that pytz knows."""


class WallTimeError(ValueError):
    """A local wall-clock time that a DST change skips or repeats."""


@lru_cache(maxsize=1024)
def get_zone(name: str):
    """The pytz zone for an IANA name; raises UnknownZoneError for anything else."""
    if not isinstance(name, str) or not name or len(name) > 64:
        raise UnknownZoneError(name)
    try:
        return pytz.timezone(name)
    except (pytz.UnknownTimeZoneError, ValueError, UnicodeError) as exc:
        raise UnknownZoneError(name) from exc


def is_known_zone(name: str | None) -> bool:
    try:
        get_zone(name)
    except UnknownZoneError:
        return False
    return True


# -- zone names ------------------------------------------------------------------------------------
#
# Browsers and people send old or odd spellings of a zone: Chromium says Asia/Calcutta, a link types
# utc or US/Eastern. Each is turned into one current name before it is stored, compared or shown,
# from the tz database's own tables as pytz ships them (not a hand-kept list):
#   - tzdata.zi: "Z <name> ..." defines a zone; "L <target> <name>" makes <name> a link to <target>;
#   - zone.tab: the name the tz database gives each country's zones. Europe/Amsterdam is listed there
#     although tzdata now links it to Europe/Brussels (same clocks since 1970): people in the
#     Netherlands keep their city, while links listed nowhere (Asia/Calcutta, US/Eastern, EST) become
#     their target.
# Etc/UTC (and its links utc, Zulu, Etc/Universal...) is written UTC, and Etc/GMT is written GMT:
# the short names people read and that the pickers list.
_SHORT_NAMES = {"Etc/UTC": "UTC", "Etc/GMT": "GMT"}


def _tz_table(name: str) -> list[list[str]]:
    text = files("pytz").joinpath("zoneinfo", name).read_text(encoding="utf-8")
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


@lru_cache(maxsize=1)
def _canonical_names() -> dict[str, str]:
    """Every zone name and link pytz knows, lower-cased, to its canonical name."""
    # tzdata.zi also defines names pytz does not load (`Factory`, a placeholder zone): only the names
    # pytz accepts are zones here, or every later conversion of such a name would fail.
    loadable = pytz.all_timezones_set
    table = _tz_table("tzdata.zi")
    zones = {fields[1] for fields in table if fields[0] == "Z" and fields[1] in loadable}
    links = {
        fields[2]: fields[1]
        for fields in table
        if fields[0] == "L" and len(fields) == 3 and fields[2] in loadable and fields[1] in loadable
    }
    located = {fields[2] for fields in _tz_table("zone.tab") if len(fields) >= 3}
    names: dict[str, str] = {}
    for name in (*zones, *links):
        current = name if name in zones or name in located else links[name]
        # A link to a link is resolved to the end (tzdata has none today, but may).
        while current in links and current not in located:
            current = links[current]
        names[name.lower()] = _SHORT_NAMES.get(current, current)
    return names


def canonical_zone(name: str | None) -> str:
    """The one name the service uses for the zone called `name` (any case, any old spelling);
    raises UnknownZoneError when the tz database has no such name."""
    if not isinstance(name, str) or len(name) > 64:
        raise UnknownZoneError(name)
    found = _canonical_names().get(name.strip().lower())
    if found is None:
        raise UnknownZoneError(name)
    return found


def canonical_zone_or_none(name: str | None) -> str | None:
    """canonical_zone(), or None for anything that names no zone (for input from outside)."""
    try:
        return canonical_zone(name)
    except UnknownZoneError:
        return None


@lru_cache(maxsize=1)
def zone_links() -> dict[str, str]:
    """{old or alternative name: canonical name} for every name that is not canonical itself, in
    the tz database's spelling: what the browser script needs to understand Intl's zone names."""
    spelled = {name.lower(): name for name in pytz.all_timezones}
    names = _canonical_names()
    return {
        spelled[key]: current for key, current in sorted(names.items()) if key in spelled and spelled[key] != current
    }


@lru_cache(maxsize=1)
def selectable_zones() -> list[str]:
    """Zones offered in pickers: pytz's common zones (every Area/City) under their canonical names only,
    so that US/Eastern does not stand beside America/New_York."""
    return [name for name in pytz.common_timezones if canonical_zone_or_none(name) == name]


@lru_cache(maxsize=1)
def selectable_zone_set() -> frozenset[str]:
    return frozenset(selectable_zones())


# pytz's compiled tables stop in 2037: later summers would come out as winter time. Past that
# year the standard library's zoneinfo, which follows the zone's ongoing rule, takes over.
PYTZ_LAST_YEAR = 2037


def _beyond_pytz(year: int) -> bool:
    return year > PYTZ_LAST_YEAR


@lru_cache(maxsize=1024)
def _zoneinfo(zone_name: str) -> ZoneInfo:
    """The zone for zoneinfo, read from pytz's own compiled file: ZoneInfo(name) would read the
    machine's tz database first (/usr/share/zoneinfo), older or newer than pytz's, and after 2037 the
    pages would disagree with the invites' VTIMEZONE, which ical.py builds from pytz's data. Cached:
    ZoneInfo.from_file() does not share instances as ZoneInfo() does."""
    get_zone(zone_name)  # same validation as everywhere else
    try:
        with pytz.open_resource(zone_name) as data:
            return ZoneInfo.from_file(data, key=zone_name)
    except (OSError, ValueError) as exc:
        raise UnknownZoneError(zone_name) from exc


def _localize_after_pytz(naive: datetime, zone_name: str) -> datetime:
    zone = _zoneinfo(zone_name)
    # zoneinfo zones are attached with replace(); fold tells the two readings of a repeated hour apart.
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        back = first.astimezone(pytz.utc).astimezone(zone).replace(tzinfo=None)
        error = pytz.NonExistentTimeError if back != naive else pytz.AmbiguousTimeError
        raise error(naive)
    return first.astimezone(pytz.utc)


def localize(naive: datetime, zone_name: str) -> datetime:
    """The UTC instant of a wall-clock time in a zone.

    Refuses times that do not exist (spring forward) or happen twice (fall back), because
    guessing would put the event an hour away from where the organiser meant it.
    """
    if naive.tzinfo is not None:
        raise ValueError("localize() takes a naive wall-clock time")
    zone = get_zone(zone_name)
    try:
        if _beyond_pytz(naive.year):
            return _localize_after_pytz(naive, zone_name)
        local = zone.localize(naive, is_dst=None)
    except pytz.NonExistentTimeError as exc:
        raise WallTimeError(
            _(
                "%(time)s does not exist on %(date)s in %(zone)s: the clocks go forward at that moment. "
                "Choose a time outside the change.",
                time=clock(naive),
                date=long_date(naive),
                zone=zone_place(zone_name),
            )
        ) from exc
    except pytz.AmbiguousTimeError as exc:
        raise WallTimeError(
            _(
                "%(time)s happens twice on %(date)s in %(zone)s: the clocks go back at that moment. "
                "Choose a time outside the change.",
                time=clock(naive),
                date=long_date(naive),
                zone=zone_place(zone_name),
            )
        ) from exc
    return local.astimezone(pytz.utc)


def localize_recorded(naive: datetime, zone_name: str) -> datetime:
    """The UTC instant of a wall-clock time that a machine recorded (a participant report's join time).
    Unlike localize(), a time in the hour the clocks skip or repeat is not refused: it is read with
    the zone's standard offset, as pytz does with is_dst=False, at most an hour off on that one night."""
    if naive.tzinfo is not None:
        raise ValueError("localize_recorded() takes a naive wall-clock time")
    if _beyond_pytz(naive.year):
        return naive.replace(tzinfo=_zoneinfo(zone_name)).astimezone(pytz.utc)
    zone = get_zone(zone_name)
    return zone.normalize(zone.localize(naive, is_dst=False)).astimezone(pytz.utc)


def to_zone(instant: datetime, zone_name: str) -> datetime:
    """The same instant as wall-clock time in a zone, with that date's offset and abbreviation."""
    if instant.tzinfo is None:
        raise ValueError("to_zone() takes an aware instant")
    zone = get_zone(zone_name)
    if _beyond_pytz(instant.astimezone(pytz.utc).year):
        return instant.astimezone(_zoneinfo(zone_name))
    return zone.normalize(instant.astimezone(zone))


def current_locale() -> str:
    """The locale of what is being written now: the page's, the recipient's inside force_locale()
    (emails), the organiser's in a command; English outside any application."""
    try:
        locale = get_locale()
    except RuntimeError:  # no application context at all
        locale = None
    return str(locale) if locale else DEFAULT_LOCALE


def _locale(locale: str | None) -> str:
    return str(locale) if locale else current_locale()


# Names people read. Babel's CLDR data names each zone's exemplar city and country in the page's
# language ("Kolkata, India", "Calcutta, Inde"); nothing shown to a person carries an IANA id.
# Babel's zone names are fixed data: cached because every card on the catalogue asks again.
@lru_cache(maxsize=4096)
def _city(zone_name: str, locale: str) -> str:
    if zone_name in _UNIVERSAL:
        return zone_name
    if _fixed_offset(zone_name):
        return _fixed_offset_text(zone_name)
    try:
        city = get_timezone_location(zone_name, locale=locale, return_city=True)
    except (LookupError, ValueError, UnknownLocaleError):
        city = ""
    if not city or "/" in city or city.startswith(("GMT", "UTC")):
        city = zone_name.rsplit("/", 1)[-1].replace("_", " ")
    return city


def zone_city(zone_name: str, locale: str | None = None) -> str:
    """'Paris' for Europe/Paris, 'New York' for America/New_York, in the page's language."""
    return _city(zone_name, _locale(locale))


# The zones that are universal time itself, and the fixed-offset Etc/GMT±N zones (whose sign is
# the POSIX one, the opposite of what people write: Etc/GMT+5 is UTC−05:00). Both are named by
# their offset, never by the tz database's name.
_UNIVERSAL = ("UTC", "GMT")
_FIXED_OFFSET_PREFIX = "Etc/GMT"


def _fixed_offset(zone_name: str) -> bool:
    return zone_name.startswith(_FIXED_OFFSET_PREFIX)


def _fixed_offset_text(zone_name: str) -> str:
    """'UTC−05:00' for Etc/GMT+5: the offset, with the sign people write."""
    return zone_offset(zone_name, datetime(2000, 1, 1, tzinfo=pytz.utc))


@lru_cache(maxsize=1)
def _zone_countries() -> dict[str, str]:
    """Zone -> ISO country code, from CLDR first and the tz database's zone.tab for the rest
    (CLDR files Antarctica/Troll under 'the world')."""
    countries = {fields[2]: fields[0] for fields in _tz_table("zone.tab") if len(fields) >= 3}
    for zone, territory in get_global("zone_territories").items():
        if len(territory) == 2 and territory.isalpha():
            countries[zone] = territory
    return countries


@lru_cache(maxsize=4096)
def _country(zone_name: str, locale: str) -> str:
    code = _zone_countries().get(zone_name)
    if not code:
        return ""
    try:
        return Locale.parse(locale).territories.get(code, "")
    except (ValueError, UnknownLocaleError):
        return ""


def utc_offset(offset: timedelta) -> str:
    """'UTC+05:30', 'UTC−03:00' (a real minus sign, U+2212), 'UTC+00:00'."""
    minutes = int(offset.total_seconds() // 60)
    sign = "\u2212" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"


def zone_offset(zone_name: str, at: datetime) -> str:
    """The zone's UTC offset at the instant `at`, written as utc_offset() writes it."""
    return utc_offset(to_zone(at, zone_name).utcoffset() or timedelta(0))


def zone_place(zone_name: str, locale: str | None = None) -> str:
    """The zone as a person names it: 'São Paulo, Brazil' ('São Paulo, Brésil' in French), 'UTC'."""
    locale = _locale(locale)
    return _place(zone_name, locale)


@lru_cache(maxsize=4096)
def _place(zone_name: str, locale: str) -> str:
    if zone_name in _UNIVERSAL:
        return zone_name
    if _fixed_offset(zone_name):
        return _fixed_offset_text(zone_name)  # a fixed offset all year: its offset is its name
    city, country = _city(zone_name, locale), _country(zone_name, locale)
    # Singapore, Singapore and Monaco, Monaco read better as one word.
    return city if not country or country == city else f"{city}, {country}"


def zone_option_label(zone_name: str, at: datetime, locale: str | None = None) -> str:
    """A picker's option: 'Kolkata, India (UTC+05:30)', with the offset in force at `at`."""
    place = zone_place(zone_name, locale)
    if zone_name in _UNIVERSAL or _fixed_offset(zone_name):
        return place
    return f"{place} ({zone_offset(zone_name, at)})"


# Pickers group zones by the tz database's areas, named for people (the order is the alphabetical
# order of the names in the page's language). Universal time comes first.
REGIONS = {
    "Africa": _l("Africa"),
    "America": _l("Americas"),
    "Antarctica": _l("Antarctica"),
    "Arctic": _l("Europe"),  # Arctic/Longyearbyen: Svalbard keeps Central European time
    "Asia": _l("Asia"),
    "Atlantic": _l("Atlantic Ocean"),
    "Australia": _l("Australia"),
    "Europe": _l("Europe"),
    "Indian": _l("Indian Ocean"),
    "Pacific": _l("Pacific Ocean"),
}
UNIVERSAL_REGION = _l("Universal time")


def zone_region(zone_name: str) -> str:
    """The picker group a zone is listed under, in the current language."""
    area = zone_name.split("/", 1)[0] if "/" in zone_name else ""
    return str(REGIONS.get(area, UNIVERSAL_REGION))


def sort_key(text: str) -> str:
    """Alphabetical order as people expect it: accents and case do not count (Ürümqi beside Urumqi)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def offsets_moment(now: datetime) -> datetime:
    """`now` rounded down to the quarter hour: offsets change only on such boundaries, so pickers
    built for one quarter hour are right for all of it (and can be cached by it)."""
    now = now.astimezone(pytz.utc)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def zone_groups(at: datetime, locale: str | None = None) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """The pickers' options: ((region, ((zone, label), ...)), ...), regions and labels in the current
    language, offsets in force at `at`; every selectable zone once."""
    return _zone_groups(offsets_moment(at), _locale(locale))


@lru_cache(maxsize=16)
def _zone_groups(at: datetime, locale: str) -> tuple:
    from flask_babel import force_locale

    with force_locale(locale):
        grouped: dict[str, list[tuple[str, str]]] = {}
        universal = str(UNIVERSAL_REGION)
        for zone in selectable_zones():
            grouped.setdefault(zone_region(zone), []).append((zone, zone_option_label(zone, at, locale)))
    # UTC before GMT: the name people know first.
    first = [(universal, tuple(sorted(grouped.pop(universal, []), key=lambda o: o[0] != "UTC")))]
    rest = sorted(grouped.items(), key=lambda item: sort_key(item[0]))
    return tuple(first + [(region, tuple(sorted(options, key=lambda o: sort_key(o[1])))) for region, options in rest])


def zone_label(zone_name: str, locale: str | None = None) -> str:
    """'Paris time' ('heure de Paris', 'heure d’Athènes'); universal time is 'UTC' ('10:00 UTC'), and a
    fixed offset its offset ('03:00 UTC−05:00' for Etc/GMT+5), in every language."""
    if zone_name in (*_UNIVERSAL, "Etc/UTC", "Etc/GMT"):
        return "UTC"
    if _fixed_offset(zone_name):
        return _fixed_offset_text(zone_name)
    city = zone_city(zone_name, locale)
    if city[:1].casefold() in _VOWELS:
        # Languages that elide before a vowel (French: "heure d’Athènes") translate this one.
        return pgettext("city starting with a vowel", "%(city)s time", city=city)
    return _("%(city)s time", city=city)


_VOWELS = frozenset("aeiouyàâäéèêëîïôöùûüœæ")


def abbreviation(local: datetime) -> str:
    """The abbreviation in force at that moment ('CEST' in summer, 'CET' in winter).

    Zones without a letter abbreviation get their offset ('+0545'), written 'UTC+05:45'.
    """
    name = local.tzname() or ""
    if name[:1] in "+-":
        return utc_offset(local.utcoffset() or timedelta(0))
    return name


def _language(locale: str) -> str:
    return str(locale).split("_")[0]


def long_date(local: datetime | date, locale: str | None = None) -> str:
    """'Tuesday 12 March 2024' for the wall-clock date (not the UTC date)."""
    # format_date only reads the date part of a datetime, so the calendar day is the whole key.
    day = local.date() if isinstance(local, datetime) else local
    return _long_date(day, _locale(locale))


@lru_cache(maxsize=4096)
def _long_date(day: date, locale: str) -> str:
    pattern = LONG_DATE_PATTERNS.get(_language(locale), "full")
    if day.day == 1 and _language(locale) in FIRST_OF_MONTH_PATTERNS:
        pattern = FIRST_OF_MONTH_PATTERNS[_language(locale)][0]
    return format_date(day, pattern, locale=locale)


def day_date(day: date, locale: str | None = None) -> str:
    """'27 September 2017': a calendar date with no time and no zone (a news item's date)."""
    return _day_date(day, _locale(locale))


@lru_cache(maxsize=4096)
def _day_date(day: date, locale: str) -> str:
    pattern = DAY_DATE_PATTERNS.get(_language(locale), "long")
    if day.day == 1 and _language(locale) in FIRST_OF_MONTH_PATTERNS:
        pattern = FIRST_OF_MONTH_PATTERNS[_language(locale)][1]
    return format_date(day, pattern, locale=locale)


def clock(local: datetime, locale: str | None = None) -> str:
    """'18:00' in the wall-clock time of the datetime's own zone."""
    # The pattern shows hours and minutes only, read in the datetime's own zone: they are the whole key.
    return _clock(local.hour, local.minute, _locale(locale))


@lru_cache(maxsize=4096)
def _clock(hour: int, minute: int, locale: str) -> str:
    return format_time(time(hour, minute), TIME_PATTERN, locale=locale)


@dataclass(frozen=True)
class ZoneTime:
    """One instant seen from one zone, ready for a template."""

    zone: str
    local: datetime
    label: str  # "Paris time"
    time: str  # "10:00"
    date: str  # "Tuesday 12 March 2024"
    abbreviation: str  # "CET"

    @property
    def text(self) -> str:
        return f"{self.time} {self.label}"


def zone_time(instant: datetime, zone_name: str, locale: str | None = None) -> ZoneTime:
    local = to_zone(instant, zone_name)
    return ZoneTime(
        zone=zone_name,
        local=local,
        label=zone_label(zone_name, locale),
        time=clock(local, locale),
        date=long_date(local, locale),
        abbreviation=abbreviation(local),
    )


def zone_times(instant: datetime, zone_names: list[str], locale: str | None = None) -> list[ZoneTime]:
    return [zone_time(instant, name, locale) for name in zone_names if is_known_zone(name)]


def zone_times_line(instant: datetime, zone_names: list[str], locale: str | None = None) -> str:
    """The seed pages' line: '10:00 Paris time | 18:00 Tokyo time'.

    A zone whose date differs from the first zone's says so, because 01:00 the next day is not 01:00.
    """
    entries = zone_times(instant, zone_names, locale)
    parts = []
    for entry in entries:
        text = entry.text
        if entries and entry.local.date() != entries[0].local.date():
            text = f"{text} ({entry.date})"
        parts.append(text)
    return " | ".join(parts)


def time_range(start: datetime, end: datetime, zone_name: str, locale: str | None = None) -> str:
    """'16:00 - 17:15 CEST': the range in one zone with the abbreviation in force on that date. An end
    on a later day says so, '23:00 - 00:15 (the next day) CET', because 00:15 alone reads as earlier."""
    local_start = to_zone(start, zone_name)
    local_end = to_zone(end, zone_name)
    end_text = clock(local_end, locale)
    days = (local_end.date() - local_start.date()).days
    if days:
        end_text += f" ({_next_day(locale) if days == 1 else long_date(local_end, locale)})"
    text = f"{clock(local_start, locale)} - {end_text} {abbreviation(local_start)}"
    if abbreviation(local_end) != abbreviation(local_start):
        text += f"/{abbreviation(local_end)}"
    return text


def _next_day(locale: str | None) -> str:
    from flask_babel import force_locale

    with force_locale(_locale(locale)):
        return str(_("the next day"))


def utc_text(instant: datetime) -> str:
    """'9999-12-31 22:30 UTC': an instant written without any conversion, so that it can be shown
    even when no zone's wall clock can (a stored value outside the range the forms allow)."""
    return f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d} {instant.hour:02d}:{instant.minute:02d} UTC"


@dataclass(frozen=True)
class DateBlock:
    """A calendar-leaf date for a card: 'Tue', '12', 'Mar', '2024' in the page's language."""

    weekday: str
    day: str
    month: str
    year: str


def date_block(instant: datetime, zone_name: str, locale: str | None = None) -> DateBlock:
    """The event's date as its own zone reads it, in parts for a card's date block."""
    day = to_zone(instant, zone_name).date()
    return _date_block(day, _locale(locale))


@lru_cache(maxsize=4096)
def _date_block(day: date, locale: str) -> DateBlock:
    return DateBlock(
        weekday=format_date(day, "EEE", locale=locale),
        day=format_date(day, "d", locale=locale),
        month=format_date(day, "MMM", locale=locale),
        year=format_date(day, "y", locale=locale),
    )


def day_shift(local: datetime, reference: datetime) -> int:
    """How many calendar days `local` is after `reference` (each read in its own zone): 1 when the
    visitor's day is already the next one, -1 when it is still the day before."""
    return (local.date() - reference.date()).days


def utc_iso(instant: datetime) -> str:
    """'2024-03-12T09:00:00Z' for <time datetime="...">."""
    return instant.astimezone(pytz.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
