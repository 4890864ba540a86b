"""Every time-zone conversion and every "10:00 Paris time" label lives here.

Instants are aware UTC datetimes. Zones are IANA names. Nothing here reads the machine's
local time or zone, so the server's TZ setting changes nothing that is shown.
"""

from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from importlib.resources import files
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytz
from babel.dates import format_date, format_time, get_timezone_location
from flask_babel import gettext as _

DEFAULT_LOCALE = "en_GB"
# Dates written out for people: "Tuesday 12 March 2024" (Babel's 'full' adds a comma in en_GB).
LONG_DATE_PATTERNS = {"en": "EEEE d MMMM y", "fr": "EEEE d MMMM y"}
# A date that stands alone, as the seed listings write it: "27 September 2017".
DAY_DATE_PATTERNS = {"en": "d MMMM y", "fr": "d MMMM y"}
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
    zones = {fields[1] for fields in _tz_table("tzdata.zi") if fields[0] == "Z"}
    links = {fields[2]: fields[1] for fields in _tz_table("tzdata.zi") if fields[0] == "L" and len(fields) == 3}
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
def zone_choices() -> tuple[tuple[str, str], ...]:
    """(value, label) for every selectable zone: 'America/New_York' shows as 'America/New York'.

    One tuple per process, immutable because forms share it: the zone widget recognises it by identity.
    """
    return tuple((zone, zone.replace("_", " ")) for zone in selectable_zones())


@lru_cache(maxsize=1)
def selectable_zone_set() -> frozenset[str]:
    return frozenset(selectable_zones())


# pytz's compiled tables stop in 2037: later summers would come out as winter time. Past that
# year the standard library's zoneinfo, which follows the zone's ongoing rule, takes over.
PYTZ_LAST_YEAR = 2037


def _beyond_pytz(year: int) -> bool:
    return year > PYTZ_LAST_YEAR


def _zoneinfo(zone_name: str) -> ZoneInfo:
    get_zone(zone_name)  # same validation as everywhere else
    try:
        return ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
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
                time=naive.strftime("%H:%M"),
                date=naive.strftime("%Y-%m-%d"),
                zone=zone_name,
            )
        ) from exc
    except pytz.AmbiguousTimeError as exc:
        raise WallTimeError(
            _(
                "%(time)s happens twice on %(date)s in %(zone)s: the clocks go back at that moment. "
                "Choose a time outside the change.",
                time=naive.strftime("%H:%M"),
                date=naive.strftime("%Y-%m-%d"),
                zone=zone_name,
            )
        ) from exc
    return local.astimezone(pytz.utc)


def to_zone(instant: datetime, zone_name: str) -> datetime:
    """The same instant as wall-clock time in a zone, with that date's offset and abbreviation."""
    if instant.tzinfo is None:
        raise ValueError("to_zone() takes an aware instant")
    zone = get_zone(zone_name)
    if _beyond_pytz(instant.astimezone(pytz.utc).year):
        return instant.astimezone(_zoneinfo(zone_name))
    return zone.normalize(instant.astimezone(zone))


# Babel's zone names are fixed data: cached because every card on the catalogue asks again.
@lru_cache(maxsize=4096)
def zone_city(zone_name: str, locale: str = DEFAULT_LOCALE) -> str:
    """'Paris' for Europe/Paris, 'New York' for America/New_York, in the page's language."""
    try:
        city = get_timezone_location(zone_name, locale=locale, return_city=True)
    except (LookupError, ValueError):
        city = ""
    if not city or "/" in city:
        city = zone_name.rsplit("/", 1)[-1].replace("_", " ")
    return city


def zone_label(zone_name: str, locale: str = DEFAULT_LOCALE) -> str:
    """'Paris time'; 'UTC' stays 'UTC'."""
    if zone_name in ("UTC", "Etc/UTC"):
        return "UTC"
    return _("%(city)s time", city=zone_city(zone_name, locale))


def abbreviation(local: datetime) -> str:
    """The abbreviation in force at that moment ('CEST' in summer, 'CET' in winter).

    Zones without a letter abbreviation get their offset ('+0545'), written 'UTC+05:45'.
    """
    name = local.tzname() or ""
    if name[:1] in "+-":
        offset = local.strftime("%z")
        return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    return name


def _language(locale: str) -> str:
    return str(locale).split("_")[0]


def long_date(local: datetime | date, locale: str = DEFAULT_LOCALE) -> str:
    """'Tuesday 12 March 2024' for the wall-clock date (not the UTC date)."""
    # format_date only reads the date part of a datetime, so the calendar day is the whole key.
    day = local.date() if isinstance(local, datetime) else local
    return _long_date(day, str(locale))


@lru_cache(maxsize=4096)
def _long_date(day: date, locale: str) -> str:
    pattern = LONG_DATE_PATTERNS.get(_language(locale), "full")
    return format_date(day, pattern, locale=locale)


def day_date(day: date, locale: str = DEFAULT_LOCALE) -> str:
    """'27 September 2017': a calendar date with no time and no zone (a news item's date)."""
    return _day_date(day, str(locale))


@lru_cache(maxsize=4096)
def _day_date(day: date, locale: str) -> str:
    return format_date(day, DAY_DATE_PATTERNS.get(_language(locale), "long"), locale=locale)


def clock(local: datetime, locale: str = DEFAULT_LOCALE) -> str:
    """'18:00' in the wall-clock time of the datetime's own zone."""
    # The pattern shows hours and minutes only, read in the datetime's own zone: they are the whole key.
    return _clock(local.hour, local.minute, str(locale))


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


def zone_time(instant: datetime, zone_name: str, locale: str = DEFAULT_LOCALE) -> ZoneTime:
    local = to_zone(instant, zone_name)
    return ZoneTime(
        zone=zone_name,
        local=local,
        label=zone_label(zone_name, locale),
        time=clock(local, locale),
        date=long_date(local, locale),
        abbreviation=abbreviation(local),
    )


def zone_times(instant: datetime, zone_names: list[str], locale: str = DEFAULT_LOCALE) -> list[ZoneTime]:
    return [zone_time(instant, name, locale) for name in zone_names if is_known_zone(name)]


def zone_times_line(instant: datetime, zone_names: list[str], locale: str = DEFAULT_LOCALE) -> str:
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


def time_range(start: datetime, end: datetime, zone_name: str, locale: str = DEFAULT_LOCALE) -> str:
    """'16:00 - 17:15 CEST': the range in one zone with the abbreviation in force on that date."""
    local_start = to_zone(start, zone_name)
    local_end = to_zone(end, zone_name)
    text = f"{clock(local_start, locale)} - {clock(local_end, locale)} {abbreviation(local_start)}"
    if abbreviation(local_end) != abbreviation(local_start):
        text += f"/{abbreviation(local_end)}"
    return text


def utc_text(instant: datetime) -> str:
    """'9999-12-31 22:30 UTC': an instant written without any conversion, so that it can be shown
    even when no zone's wall clock can (a stored value outside the range the forms allow)."""
    return f"{instant.year:04d}-{instant.month:02d}-{instant.day:02d} {instant.hour:02d}:{instant.minute:02d} UTC"


def utc_iso(instant: datetime) -> str:
    """'2024-03-12T09:00:00Z' for <time datetime="...">."""
    return instant.astimezone(pytz.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
