"""Calendar files (RFC 5545) and "add to calendar" links for webinars.

Pure functions: webinar-like objects in, bytes (or a URL) out. No request, no database and no clock:
DTSTAMP comes from the data (``updated_at``) or from an explicit argument, so unchanged data gives
byte-identical files, whatever the process time zone.

VTIMEZONE components are built here from pytz's transition table rather than by icalendar's own
tz-to-VTIMEZONE conversion: that one writes comma-separated RDATE lists that stop in 2038 and that
ical.js and vobject misread. We fit yearly RRULEs (``BYDAY=-1SU``, ``2SU`` ...) to the transitions,
keep the rule that is still in force open-ended so that it reaches past 2037 (where pytz's table
ends), and bound older rules with UNTIL or single-onset components so historical instants stay right.
"""

from __future__ import annotations

import calendar as _calendar
import datetime as dt
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import quote

import pytz
from flask_babel import gettext as _
from flask_babel import pgettext
from icalendar import (
    Calendar,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vDuration,
)
from icalendar.parser import Parameters

from .addresses import mailto_uri
from .language import current_language, in_language

__all__ = [
    "DescriptionWords",
    "feed_calendar",
    "google_calendar_url",
    "invite_calendar",
    "office365_calendar_url",
    "outlook_calendar_url",
    "plain_text_description",
    "published_event",
    "vtimezone",
    "webinar_calendar",
]

DEFAULT_PRODID = "-//webinars//webinars//EN"
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
# Shortest length of each month, so a "weekday on or after day N" rule never runs off February.
_MIN_MONTH_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# pytz's compiled tables stop at the 32-bit limit; a zone still changing then has an ongoing rule.
_PYTZ_LAST_YEAR = 2037


# --------------------------------------------------------------------------------------------------
# Time zones
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Transition:
    utc: dt.datetime  # naive UTC
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    is_dst: bool
    name: str

    @property
    def local(self) -> dt.datetime:
        # RFC 5545: a sub-component's DTSTART is wall time in the offset in force before it.
        return self.utc + self.offset_from

    @property
    def key(self) -> tuple:
        return (self.offset_from, self.offset_to, self.is_dst, self.name)


@dataclass(frozen=True)
class _Rule:
    """A yearly pattern: ("last", month, weekday, time), ("ge", month, weekday, day, time) or
    ("day", month, day, time)."""

    pattern: tuple

    def local_in(self, year: int) -> dt.datetime:
        kind, month = self.pattern[0], self.pattern[1]
        time = self.pattern[-1]
        if kind == "day":
            day = self.pattern[2]
        elif kind == "last":
            weekday = self.pattern[2]
            last = _calendar.monthrange(year, month)[1]
            day = last - (dt.date(year, month, last).weekday() - weekday) % 7
        else:
            weekday, first = self.pattern[2], self.pattern[3]
            day = first + (weekday - dt.date(year, month, first).weekday()) % 7
        return dt.datetime.combine(dt.date(year, month, day), time)

    def rrule(self, until: dt.datetime | None) -> dict:
        kind, month = self.pattern[0], self.pattern[1]
        rule: dict = {"freq": "YEARLY"}
        if until is not None:
            # RFC 5545: UNTIL in STANDARD/DAYLIGHT must be a UTC date-time.
            # One day past the last onset: the same occurrences, and also right for readers that
            # wrongly compare UNTIL with local wall time (icalendar's to_tz does).
            rule["until"] = pytz.utc.localize(until + dt.timedelta(days=1))
        rule["bymonth"] = [month]
        if kind == "day":
            rule["bymonthday"] = [self.pattern[2]]
        elif kind == "last":
            rule["byday"] = ["-1" + _WEEKDAYS[self.pattern[2]]]
        else:
            weekday, first = self.pattern[2], self.pattern[3]
            if first % 7 == 1:
                rule["byday"] = [f"{first // 7 + 1}{_WEEKDAYS[weekday]}"]
            else:
                rule["byday"] = [_WEEKDAYS[weekday]]
                rule["bymonthday"] = list(range(first, first + 7))
        return rule


def _rule_candidates(local: dt.datetime) -> set[tuple]:
    """Every yearly pattern that the transition at wall time ``local`` is an instance of."""
    year, month, day, weekday, time = local.year, local.month, local.day, local.weekday(), local.time()
    found = {("day", month, day, time)}
    if day > _calendar.monthrange(year, month)[1] - 7:
        found.add(("last", month, weekday, time))
    for first in range(max(1, day - 6), day + 1):
        if first + 6 <= _MIN_MONTH_DAYS[month]:
            found.add(("ge", month, weekday, first, time))
    return found


def _preference(pattern: tuple) -> tuple:
    # Prefer the forms Google and Outlook write: -1SU, then 1SU/2SU..., then fixed days.
    kind = pattern[0]
    if kind == "last":
        return (0, pattern)
    if kind == "ge":
        return (1 if pattern[3] % 7 == 1 else 3, pattern)
    return (2, pattern)


@dataclass(frozen=True)
class _Run:
    """Consecutive yearly transitions that one RRULE reproduces (or a single transition)."""

    transitions: tuple[_Transition, ...]
    rule: _Rule | None
    open_ended: bool


@dataclass(frozen=True)
class _Component:
    is_dst: bool
    name: str
    offset_from: dt.timedelta
    offset_to: dt.timedelta
    start_local: dt.datetime  # naive wall time in offset_from
    rule: _Rule | None = None
    until_utc: dt.datetime | None = None  # naive UTC, last onset; None and a rule = open-ended

    def last_onset_at_or_before(self, utc: dt.datetime) -> dt.datetime | None:
        """The latest onset (naive UTC) of this component that is <= ``utc``, if any."""
        first = self.start_local - self.offset_from
        if first > utc:
            return None
        if self.rule is None:
            return first
        if self.until_utc is not None and utc >= self.until_utc:
            return self.until_utc
        for year in (utc.year, utc.year - 1):
            if year < self.start_local.year:
                break
            onset = self.rule.local_in(year) - self.offset_from
            if first <= onset <= utc:
                return onset
        return first


def _pytz_transitions(tz: dt.tzinfo) -> list[_Transition]:
    # pytz exposes its table only through these attributes; static zones have none.
    times = getattr(tz, "_utc_transition_times", None)
    infos = getattr(tz, "_transition_info", None)
    if not times or not infos:
        return []
    transitions = []
    for i in range(1, len(times)):
        (before, dst_before, _), (after, dst_after, name) = infos[i - 1], infos[i]
        is_dst = bool(dst_after)
        # Zones with "negative DST" (Europe/Dublin: winter GMT flagged as DST) are labelled the
        # usual way round, summer = DAYLIGHT, which is what calendar clients expect.
        if dst_after and after < before:
            is_dst = False
        elif not dst_after and dst_before and after > before:
            is_dst = True
        transitions.append(_Transition(times[i], before, after, is_dst, name))
    return transitions


def _fit_runs(transitions: list[_Transition]) -> list[_Run]:
    """Group transitions into yearly runs that a single RRULE reproduces exactly."""
    ongoing = bool(transitions) and transitions[-1].utc.year >= _PYTZ_LAST_YEAR
    by_key: dict[tuple, list[_Transition]] = {}
    for transition in transitions:
        by_key.setdefault(transition.key, []).append(transition)
    runs: list[_Run] = []
    for same_key in by_key.values():
        current: list[_Transition] = []
        patterns: set[tuple] = set()
        for transition in same_key + [None]:
            if transition is not None:
                candidates = _rule_candidates(transition.local)
                if current and transition.local.year == current[-1].local.year + 1:
                    narrowed = patterns & candidates
                    if narrowed:
                        current.append(transition)
                        patterns = narrowed
                        continue
            if current:
                rule = _Rule(min(patterns, key=_preference)) if len(current) > 1 else None
                open_ended = rule is not None and ongoing and current[-1].utc.year >= _PYTZ_LAST_YEAR
                runs.append(_Run(tuple(current), rule, open_ended))
            if transition is not None:
                current, patterns = [transition], _rule_candidates(transition.local)
    runs.sort(key=lambda run: run.transitions[0].utc)
    return runs


@functools.lru_cache(maxsize=256)
def _zone_runs(tzid: str) -> tuple[list[_Run], tuple[dt.timedelta, str]]:
    tz = pytz.timezone(tzid)
    transitions = _pytz_transitions(tz)
    if transitions:
        first_info = tz._transition_info[0]
        initial = (first_info[0], first_info[2])
    else:
        # Static zones (and pytz.utc) ignore the datetime argument.
        initial = (tz.utcoffset(dt.datetime(2000, 1, 1)), tz.tzname(dt.datetime(2000, 1, 1)))
    return _fit_runs(transitions), initial


def _extended(run: _Run, until_year: int) -> _Run:
    if not run.open_ended or run.rule is None:
        return run
    last = run.transitions[-1]
    extra = tuple(
        _Transition(run.rule.local_in(year) - last.offset_from, *last.key)
        for year in range(last.local.year + 1, until_year + 1)
    )
    return _Run(run.transitions + extra, run.rule, True)


def _to_naive_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {value!r}")
    return value.astimezone(pytz.utc).replace(tzinfo=None)


class _ZoneModel:
    """The components of one VTIMEZONE and the offsets they define."""

    def __init__(self, tzid: str, instants: Iterable[dt.datetime]):
        self.tzid = tzid
        naive = sorted(_to_naive_utc(instant) for instant in instants)
        if not naive:
            raise ValueError("a VTIMEZONE needs at least one instant to cover")
        earliest = naive[0]
        table_runs, (initial_offset, initial_name) = _zone_runs(tzid)
        # Ongoing rules are continued past pytz's table so that later instants find their onset.
        runs = [_extended(run, earliest.year + 1) for run in table_runs]
        # Only history from the transition governing the earliest instant on is emitted.
        governing = [t.utc for run in runs for t in run.transitions if t.utc <= earliest]
        cutoff = max(governing) if governing else None
        self.components: list[_Component] = []
        if cutoff is None:
            start_year = min(1970, earliest.year)
            self.components.append(
                _Component(False, initial_name, initial_offset, initial_offset, dt.datetime(start_year, 1, 1))
            )
        for run in runs:
            kept = [t for t in run.transitions if cutoff is None or t.utc >= cutoff]
            if not kept:
                continue
            first = kept[0]
            if run.rule is not None and (len(kept) > 1 or run.open_ended):
                until = None if run.open_ended else kept[-1].utc
                self.components.append(
                    _Component(
                        first.is_dst, first.name, first.offset_from, first.offset_to, first.local, run.rule, until
                    )
                )
            else:
                self.components.extend(_Component(t.is_dst, t.name, t.offset_from, t.offset_to, t.local) for t in kept)
        self.components.sort(key=lambda c: (c.start_local - c.offset_from, c.is_dst))
        self._check(naive)

    def offset_at(self, utc: dt.datetime) -> dt.timedelta:
        """UTC offset that a parser reading this VTIMEZONE gives to the naive UTC instant."""
        best: tuple[dt.datetime, dt.timedelta] | None = None
        for component in self.components:
            onset = component.last_onset_at_or_before(utc)
            if onset is not None and (best is None or onset > best[0]):
                best = (onset, component.offset_to)
        if best is None:
            return self.components[0].offset_from
        return best[1]

    def local(self, instant: dt.datetime) -> dt.datetime:
        """Naive wall time of an aware instant, as the VTIMEZONE defines it."""
        utc = _to_naive_utc(instant)
        return utc + self.offset_at(utc)

    def happens_twice(self, local: dt.datetime) -> bool:
        """Whether a naive wall time falls in a repeated hour (clocks going back): two instants show it."""
        offsets = {c.offset_from for c in self.components} | {c.offset_to for c in self.components}
        instants = {local - offset for offset in offsets}
        return sum(1 for utc in instants if utc + self.offset_at(utc) == local) > 1

    def _check(self, instants: list[dt.datetime]) -> None:
        # pytz is authoritative until its table ends; after that only the open-ended rule speaks.
        tz = pytz.timezone(self.tzid)
        table = _pytz_transitions(tz)
        ongoing = bool(table) and table[-1].utc.year >= _PYTZ_LAST_YEAR
        for utc in instants:
            if ongoing and utc.year > _PYTZ_LAST_YEAR:
                continue
            expected = pytz.utc.localize(utc).astimezone(tz).utcoffset()
            if self.offset_at(utc) != expected:
                raise ValueError(f"VTIMEZONE for {self.tzid} disagrees with pytz at {utc}Z")

    def to_component(self) -> Timezone:
        vtz = Timezone()
        vtz.add("tzid", self.tzid)
        for component in self.components:
            sub = TimezoneDaylight() if component.is_dst else TimezoneStandard()
            sub.add("dtstart", component.start_local)
            if component.rule is not None:
                sub.add("rrule", component.rule.rrule(component.until_utc))
            sub.add("tzoffsetfrom", component.offset_from)
            sub.add("tzoffsetto", component.offset_to)
            sub.add("tzname", component.name)
            vtz.add_component(sub)
        return vtz


def vtimezone(tzid: str, *, for_instants: Iterable[dt.datetime]) -> Timezone:
    """A VTIMEZONE for IANA zone ``tzid`` that is right for every instant in ``for_instants``
    (aware datetimes) and, through the zone's current yearly rule, for all later ones."""
    return _ZoneModel(tzid, for_instants).to_component()


# --------------------------------------------------------------------------------------------------
# Text
# --------------------------------------------------------------------------------------------------


def _speaker_line(speaker) -> str:
    credentials = getattr(speaker, "credentials", None)
    if credentials is None:
        parts = (getattr(speaker, attr, "") for attr in ("role", "organisation", "country"))
        credentials = ", ".join(part for part in parts if part)
    return f"{speaker.name} ({credentials})" if credentials else speaker.name


def _title(webinar, language: str) -> str:
    title_in = getattr(webinar, "title_in", None)
    return title_in(language) if title_in else webinar.title


def _summary(webinar, language: str) -> str:
    summary_in = getattr(webinar, "summary_in", None)
    return (summary_in(language) if summary_in else webinar.summary) or ""


def location_text(location: str | None) -> str:
    """Where the webinar takes place; the default, "Online", in the reader's language."""
    if not location or location.strip() == "Online":
        return _("Online")
    return location


def event_summary(webinar, *, cancelled: bool, language: str | None = None) -> str:
    """SUMMARY: the title in the reader's language, marked when the webinar is cancelled (calendars
    that keep a cancelled entry, as subscribed feeds do in Google Calendar, then say so)."""
    language = language or current_language()
    title = _title(webinar, language)
    if not cancelled:
        return title
    with in_language(language):
        return pgettext("calendar entry", "Cancelled: %(title)s", title=title)


@dataclass(frozen=True)
class DescriptionWords:
    """The words of an event's text in one language, looked up once for a whole feed."""

    language: str
    join: str
    agenda: str
    speakers: str
    details: str
    online: str

    @classmethod
    def of(cls, language: str | None = None) -> DescriptionWords:
        language = language or current_language()
        with in_language(language):
            return cls(
                language,
                _("Join online: %(url)s"),
                _("Agenda:"),
                _("Speakers: %(speakers)s"),
                _("Details: %(url)s"),
                location_text(None),
            )


def plain_text_description(
    webinar,
    *,
    page_url: str,
    join_url: str | None = None,
    language: str | None = None,
    words: DescriptionWords | None = None,
    sections=None,
) -> str:
    """The DESCRIPTION text: how to join (invites only), summary, agenda with speakers, page URL,
    with its labels in `language` (the reader's; the current language by default; `words`, when
    given, are that language's already looked up). `sections` (objects with title, description,
    speakers) stands in for webinar.sections."""
    if words is None or (language is not None and words.language != language):
        words = DescriptionWords.of(language)
    blocks: list[str] = []
    if join_url:
        blocks.append(words.join % {"url": join_url})
    summary = _summary(webinar, words.language)
    if summary:
        blocks.append(summary.strip())
    sections = list((getattr(webinar, "sections", None) if sections is None else sections) or [])
    if sections:
        lines = [words.agenda]
        for number, section in enumerate(sections, start=1):
            lines.append(f"{number}. {section.title}")
            if getattr(section, "description", None):
                lines.extend(f"   {line}" for line in section.description.strip().splitlines())
            speakers = list(getattr(section, "speakers", None) or [])
            if speakers:
                lines.append("   " + words.speakers % {"speakers": "; ".join(_speaker_line(s) for s in speakers)})
        blocks.append("\n".join(lines))
    blocks.append(words.details % {"url": page_url})
    return "\n\n".join(blocks)


class _QuotedParameters(Parameters):
    """Parameters whose CN is always quoted. icalendar encodes every value per RFC 6868 (^^, ^n, ^'
    for a double quote), but quotes a CN only when it sees a reason to; a bare CN=\\ then reads, in
    icalendar, as an escaped ':' that swallows the address."""

    always_quoted = (*Parameters.always_quoted, "CN")


def _person(address: str, name: str, **params: str) -> vCalAddress:
    person = vCalAddress(mailto_uri(address))
    person.params = _QuotedParameters(CN=name, **params)
    return person


# --------------------------------------------------------------------------------------------------
# Calendars
# --------------------------------------------------------------------------------------------------


def _new_calendar(prodid: str, method: str) -> Calendar:
    cal = Calendar()
    cal.add("prodid", prodid)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)
    return cal


def _instants(webinar) -> list[dt.datetime]:
    return [webinar.starts_at, webinar.ends_at]


def _add_time(event: Event, name: str, zone: _ZoneModel, instant: dt.datetime) -> None:
    # Wall time in the organiser's zone, except a wall time the clocks show twice: RFC 5545 says such a
    # value means the first occurrence, icalendar and vobject read it so, ical.js the second. In UTC
    # every parser finds the one instant.
    local = zone.local(instant)
    if zone.happens_twice(local):
        event.add(name, pytz.utc.localize(_to_naive_utc(instant)))
    else:
        event.add(name, local, parameters={"TZID": zone.tzid})


def _event(
    webinar,
    zone: _ZoneModel,
    *,
    page_url: str,
    dtstamp: dt.datetime,
    cancelled: bool,
    join_url: str | None = None,
    uid: str | None = None,
    sequence: int | None = None,
    language: str,
) -> Event:
    event = Event()
    event.add("uid", uid or webinar.ical_uid)
    event.add("dtstamp", pytz.utc.localize(_to_naive_utc(dtstamp)))
    _add_time(event, "dtstart", zone, webinar.starts_at)
    _add_time(event, "dtend", zone, webinar.ends_at)
    event.add("summary", event_summary(webinar, cancelled=cancelled, language=language))
    event.add("description", plain_text_description(webinar, page_url=page_url, join_url=join_url, language=language))
    with in_language(language):
        location = location_text(webinar.location)
    if join_url:
        with in_language(language):  # "En ligne : https://…": French puts a no-break space before a colon
            location = _("%(location)s: %(url)s", location=location, url=join_url)
    event.add("location", location)
    event.add("url", page_url)
    event.add("status", "CANCELLED" if cancelled else "CONFIRMED")
    event.add("sequence", int(webinar.sequence if sequence is None else sequence))
    created = getattr(webinar, "created_at", None)
    if created is not None:
        event.add("created", pytz.utc.localize(_to_naive_utc(created)))
    event.add("last-modified", pytz.utc.localize(_to_naive_utc(webinar.updated_at)))
    event.add("transp", "OPAQUE")
    return event


def _to_bytes(cal: Calendar) -> bytes:
    # icalendar folds at 75 octets without splitting UTF-8 sequences and ends lines with CRLF.
    return cal.to_ical(sorted=False)


# --------------------------------------------------------------------------------------------------
# Published calendars (downloads and the feed), written line by line
# --------------------------------------------------------------------------------------------------
#
# A feed holds a thousand events, and icalendar's component machinery and its folding (character by
# character) cost about a millisecond each. Published events are therefore written here as text: the
# same properties in the same order, escaped and folded exactly as icalendar does (tests/test_ical.py
# compares the two byte for byte), so every parser reads what it read before. Each event is one
# block of bytes, which lets the caller keep blocks per webinar version; the calendar's own lines and
# its VTIMEZONEs still come from icalendar.

_TEXT_ESCAPES = (
    ("\\N", "\n"),
    ("\\", "\\\\"),
    (";", "\\;"),
    (",", "\\,"),
    ("\r\n", "\\n"),
    ("\n", "\\n"),
    ("\r", "\\n"),
)
_LINE_LIMIT = 75  # octets: icalendar folds before a line would reach it
_FOLD = b"\r\n "


def _text(value: str) -> str:
    """A TEXT value escaped as icalendar escapes it (RFC 5545 3.3.11; its \\N becomes a line break too)."""
    for old, new in _TEXT_ESCAPES:
        if old in value:
            value = value.replace(old, new)
    return value


def _fold(line: str) -> bytes:
    """A content line, UTF-8, folded as icalendar folds it: each piece the longest run of whole
    characters of at most 74 octets (75 with the continuation's space), and never ending with a
    backslash or caret, whose escape would then be split (the character starts the next piece)."""
    data = line.encode("utf-8")
    if len(data) < _LINE_LIMIT:
        return data
    pieces, start, size = [], 0, len(data)
    while size - start >= _LINE_LIMIT:
        stop = start + _LINE_LIMIT - 1
        while data[stop] & 0xC0 == 0x80:  # inside a UTF-8 sequence: end before it
            stop -= 1
        if stop - start > 1 and data[stop - 1] in b"\\^":
            stop -= 1
        pieces.append(data[start:stop])
        start = stop
    pieces.append(data[start:])
    return _FOLD.join(pieces)


def _utc_stamp(instant: dt.datetime) -> str:
    return _to_naive_utc(instant).strftime("%Y%m%dT%H%M%SZ")


def _time_line(name: str, zone: _ZoneModel, instant: dt.datetime) -> str:
    # As _add_time(): wall time in the zone, or UTC for a wall time the clocks show twice.
    local = zone.local(instant)
    if zone.happens_twice(local) or zone.tzid == "UTC":  # icalendar writes TZID=UTC as a UTC value
        return f"{name}:{_utc_stamp(instant)}"
    return f"{name};TZID={zone.tzid}:{local:%Y%m%dT%H%M%S}"


def published_event(
    webinar,
    zone: _ZoneModel,
    *,
    page_url: str,
    language: str | None = None,
    words: DescriptionWords | None = None,
    sections=None,
) -> bytes:
    """One webinar's VEVENT in a published calendar (METHOD:PUBLISH): its content lines, CRLF-ended,
    byte for byte as icalendar writes _event() with DTSTAMP = updated_at. `zone` is a model of the
    webinar's zone covering its instants (any wider one gives the same text); `language`, `words`
    and `sections` as for plain_text_description()."""
    if words is None or (language is not None and words.language != language):
        words = DescriptionWords.of(language)
    cancelled = webinar.status == "cancelled"
    description = plain_text_description(webinar, page_url=page_url, words=words, sections=sections)
    location = words.online if not webinar.location or webinar.location.strip() == "Online" else webinar.location
    lines = [
        "BEGIN:VEVENT",
        f"UID:{_text(webinar.ical_uid)}",
        f"DTSTAMP:{_utc_stamp(webinar.updated_at)}",
        _time_line("DTSTART", zone, webinar.starts_at),
        _time_line("DTEND", zone, webinar.ends_at),
        f"SUMMARY:{_text(event_summary(webinar, cancelled=cancelled, language=words.language))}",
        f"DESCRIPTION:{_text(description)}",
        f"LOCATION:{_text(location)}",
        f"URL:{page_url}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
        f"SEQUENCE:{int(webinar.sequence)}",
    ]
    created = getattr(webinar, "created_at", None)
    if created is not None:
        lines.append(f"CREATED:{_utc_stamp(created)}")
    lines += [f"LAST-MODIFIED:{_utc_stamp(webinar.updated_at)}", "TRANSP:OPAQUE", "END:VEVENT"]
    return b"".join(_fold(line) + b"\r\n" for line in lines)


@functools.lru_cache(maxsize=512)
def _zone_bytes(tzid: str, earliest: dt.datetime) -> bytes:
    # A VTIMEZONE depends only on its zone and the earliest instant it must cover (naive UTC).
    return _ZoneModel(tzid, [pytz.utc.localize(earliest)]).to_component().to_ical(sorted=False)


def _published(cal: Calendar, zones: dict[str, dt.datetime], events: Iterable[bytes]) -> bytes:
    """The calendar's own lines (icalendar), a VTIMEZONE for each zone from its earliest instant, then
    the events."""
    head = _to_bytes(cal)
    closing = b"END:VCALENDAR\r\n"
    if not head.endswith(closing):
        raise ValueError("unexpected calendar serialisation")
    parts = [head[: -len(closing)]]
    parts += [_zone_bytes(tzid, earliest) for tzid, earliest in sorted(zones.items())]
    parts += list(events)
    parts.append(closing)
    return b"".join(parts)


def webinar_calendar(webinar, *, page_url: str, prodid: str = DEFAULT_PRODID, language: str | None = None) -> bytes:
    """The public .ics download for one webinar (METHOD:PUBLISH, DTSTAMP = ``updated_at``), its text
    in `language` (the current language by default)."""
    zone = _ZoneModel(webinar.timezone, _instants(webinar))
    earliest = min(_to_naive_utc(instant) for instant in _instants(webinar))
    event = published_event(webinar, zone, page_url=page_url, language=language)
    return _published(_new_calendar(prodid, "PUBLISH"), {webinar.timezone: earliest}, [event])


def feed_calendar(
    webinars: Iterable,
    *,
    name: str,
    page_url_for: Callable[[object], str],
    refresh_minutes: int = 60,
    description: str | None = None,
    prodid: str = DEFAULT_PRODID,
    language: str | None = None,
    event_bytes: Callable[[object, Callable[[], _ZoneModel]], bytes] | None = None,
) -> bytes:
    """A subscribable feed (METHOD:PUBLISH): one VEVENT per webinar given, sorted by start then UID,
    one VTIMEZONE per distinct zone, its text in `language` (the current language by default). The
    caller chooses which webinars to list.

    `event_bytes(webinar, zone)` may supply each event (a caller that keeps them per webinar
    version); `zone()` gives the model published_event() needs, built only when called."""
    items = sorted(webinars, key=lambda w: (_to_naive_utc(w.starts_at), w.ical_uid))
    earliest: dict[str, dt.datetime] = {}
    for webinar in items:
        first = min(_to_naive_utc(instant) for instant in _instants(webinar))
        earliest[webinar.timezone] = min(first, earliest.get(webinar.timezone, first))
    models: dict[str, _ZoneModel] = {}

    def model_for(webinar) -> Callable[[], _ZoneModel]:
        def model() -> _ZoneModel:
            tzid = webinar.timezone
            if tzid not in models:
                models[tzid] = _ZoneModel(tzid, [pytz.utc.localize(earliest[tzid])])
            return models[tzid]

        return model

    words = DescriptionWords.of(language)

    def build(webinar) -> bytes:
        return published_event(webinar, model_for(webinar)(), page_url=page_url_for(webinar), words=words)

    cal = _new_calendar(prodid, "PUBLISH")
    cal.add("name", name)
    cal.add("x-wr-calname", name)
    if description:
        cal.add("description", description)
        cal.add("x-wr-caldesc", description)
    refresh = dt.timedelta(minutes=refresh_minutes)
    cal.add("refresh-interval", refresh, parameters={"VALUE": "DURATION"})
    # Unknown X- properties are not typed by icalendar, so give the value its type.
    cal.add("x-published-ttl", vDuration(refresh))
    events = (event_bytes(webinar, model_for(webinar)) if event_bytes else build(webinar) for webinar in items)
    return _published(cal, earliest, events)


def invite_calendar(
    webinar,
    *,
    method: str,
    organizer_email: str,
    organizer_name: str,
    attendee_email: str,
    attendee_name: str,
    page_url: str,
    join_url: str | None,
    dtstamp: dt.datetime,
    uid: str | None = None,
    sequence: int | None = None,
    prodid: str = DEFAULT_PRODID,
    language: str | None = None,
) -> bytes:
    """An iTIP (RFC 5546) REQUEST or CANCEL for one attendee, to attach to an email, its text in the
    attendee's `language`.

    ``uid`` and ``sequence`` default to the webinar's (``ical_uid``, ``sequence``); a caller that keeps
    one calendar entry per registration passes its own. For CANCEL, the sequence must be higher than
    that of every REQUEST the attendee got for that UID.
    ``join_url`` (private) appears only when given: first line of DESCRIPTION and in LOCATION as
    "<location>: <join_url>"; URL stays the public page.
    """
    method = method.upper()
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"method must be REQUEST or CANCEL, not {method!r}")
    zone = _ZoneModel(webinar.timezone, _instants(webinar))
    cal = _new_calendar(prodid, method)
    cal.add_component(zone.to_component())
    event = _event(
        webinar,
        zone,
        page_url=page_url,
        dtstamp=dtstamp,
        cancelled=method == "CANCEL" or webinar.status == "cancelled",
        join_url=join_url,
        uid=uid,
        sequence=sequence,
        language=language or current_language(),
    )
    event.add("organizer", _person(organizer_email, organizer_name))
    attendee = _person(attendee_email, attendee_name, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="FALSE")
    event.add("attendee", attendee)
    cal.add_component(event)
    return _to_bytes(cal)


# --------------------------------------------------------------------------------------------------
# "Add to calendar" links
# --------------------------------------------------------------------------------------------------


def _query(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{key}={quote(value, safe='/:')}" for key, value in pairs)


def _location(webinar, language: str) -> str:
    with in_language(language):
        return location_text(webinar.location)


def _link_details(webinar, page_url: str, language: str) -> str:
    summary = _summary(webinar, language).strip()
    return f"{summary}\n\n{page_url}" if summary else page_url


def google_calendar_url(webinar, *, page_url: str, language: str | None = None) -> str:
    """Google Calendar "create event" link with UTC instants and the organiser's zone as ctz."""
    language = language or current_language()
    fmt = "%Y%m%dT%H%M%SZ"
    dates = f"{_to_naive_utc(webinar.starts_at):{fmt}}/{_to_naive_utc(webinar.ends_at):{fmt}}"
    return "https://calendar.google.com/calendar/render?" + _query(
        [
            ("action", "TEMPLATE"),
            ("text", _title(webinar, language)),
            ("dates", dates),
            ("details", _link_details(webinar, page_url, language)),
            ("location", _location(webinar, language)),
            ("ctz", webinar.timezone),
        ]
    )


def _outlook_compose(host: str, webinar, page_url: str, language: str) -> str:
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    return f"https://{host}/calendar/0/action/compose?" + _query(
        [
            ("subject", _title(webinar, language)),
            ("startdt", f"{_to_naive_utc(webinar.starts_at):{fmt}}"),
            ("enddt", f"{_to_naive_utc(webinar.ends_at):{fmt}}"),
            ("body", _link_details(webinar, page_url, language)),
            ("location", _location(webinar, language)),
            ("path", "/calendar/action/compose"),
            ("rru", "addevent"),
        ]
    )


def outlook_calendar_url(webinar, *, page_url: str, language: str | None = None) -> str:
    """Outlook.com (personal accounts) "compose event" link with UTC instants (ISO 8601 with Z)."""
    return _outlook_compose("outlook.live.com", webinar, page_url, language or current_language())


def office365_calendar_url(webinar, *, page_url: str, language: str | None = None) -> str:
    """The same for Microsoft 365 work and school accounts, whose calendar lives at outlook.office.com."""
    return _outlook_compose("outlook.office.com", webinar, page_url, language or current_language())
