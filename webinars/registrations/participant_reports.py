"""Reading a webinar platform's participant report (CSV): who joined, when, and for how long.

Pure functions: bytes in, a ParticipantReport out; no database, no clock. Real reports differ:

- Zoom's participant report: "Name (Original Name)", "User Email", "Join Time", "Leave Time",
  "Duration (Minutes)", one row per join (someone who dropped out and came back has several); with
  "export with meeting data", a first block about the meeting ("Meeting ID", "Topic", "Start Time",
  ..., the host's "User Email") before a blank line and the participants' block. Zoom's webinar
  attendee report has "Email", "Join Time", "Leave Time", "Time in Session (minutes)" and "Attended"
  (Yes/No: registrants who never came are listed too), after a block of report details.
- Microsoft Teams' attendance report: UTF-16 with tabs, or UTF-8 with a byte-order mark; a "1. Summary"
  block (meeting title, start and end time...), then "2. Participants" with "Name", "First Join",
  "Last Leave", "In-Meeting Duration" ("1h 2m 3s"), "Email", "Participant ID (UPN)", "Role", then
  "3. In-Meeting Activities" with one row per join.
- Google Meet: "Email", "Duration", "Time joined", "Time exited".
- A spreadsheet saved in a European locale separates fields with ";".

So: the encoding is detected (BOM, UTF-16, else UTF-8, else Windows-1252), the separator guessed from
the header line, and the participants' table is the first whose header names an email column *and* a
join time (or, failing that, a duration); it ends at a blank line, and later blocks with the same
columns are more of it while other tables are left out (they would count people twice). Rows of one
address are merged: the earliest join, the latest leave, and the minutes of the union of their
intervals (several devices at once count once), or the sum of their durations when times are not
given; a single row's own duration counts (Teams' row spans the first join to the last leave).
Dates are read the way the whole column allows (day first or month first, 24 hours or AM/PM; when
both orders fit every date, the one nearer the webinar's day wins).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

MAX_ROWS = 100_000
MAX_FIELD = 10_000  # characters in one cell: a participant report has no reason for more

# Known header names, compared lower-cased with spaces collapsed. The first of each list found wins.
EMAIL_HEADERS = (
    "user email",
    "email",
    "e-mail",
    "email address",
    "e-mail address",
    "participant email",
    "attendee email",
    "upn",
    "participant id (upn)",
)
JOIN_HEADERS = ("join time", "first join", "first join time", "time joined", "joined at", "join time (utc)")
LEAVE_HEADERS = ("leave time", "last leave", "last leave time", "time exited", "left at", "leave time (utc)")
DURATION_HEADERS = (
    "duration (minutes)",
    "duration (mins)",
    "time in session (minutes)",
    "in-meeting duration",
    "attendance duration",
    "total duration (minutes)",
    "duration",
)
ATTENDED_HEADERS = ("attended",)
NOT_ATTENDED = {"no", "non", "false", "0", "n"}

_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")


class ReportError(ValueError):
    """The file is not a participant report we can read; the message says why, for the organiser."""


@dataclass
class Attendance:
    """One address's time in the meeting."""

    first_join: datetime | None = None  # naive: as the report wrote it, in the zone the report was made in
    last_leave: datetime | None = None
    minutes: int = 0
    rows: int = 0


@dataclass
class ParticipantReport:
    platform: str  # "Zoom", "Microsoft Teams", "Google Meet" or "" when it cannot be told
    columns: dict[str, str]  # what each column was used for: {"email": "User Email", "join": "Join Time", ...}
    people: dict[str, Attendance] = field(default_factory=dict)  # by address, lower-cased
    skipped_rows: int = 0  # rows without a usable address (the host dialling in, a blank line...)
    notes: list[str] = field(default_factory=list)

    def describe_columns(self) -> str:
        """'email: “User Email”; join time: “Join Time”; ...', in the reader's language."""
        return "; ".join(f"{USES[use]}: “{header}”" for use, header in self.columns.items())


# What each column was used for, as the organiser reads it.
USES = {
    "email": _l("email"),
    "join": _l("join time"),
    "leave": _l("leave time"),
    "duration": _l("duration"),
    "attended": _l("attended"),
}


# -- bytes to rows -----------------------------------------------------------------------------------


def decode(data: bytes) -> str:
    """The report's text, whatever the platform wrote: UTF-8 (with or without BOM), UTF-16 (Teams), or
    Windows-1252 (a spreadsheet saved on Windows)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if len(data) >= 4 and data[1] == 0 and data[3] == 0:  # UTF-16 LE without its BOM: every other byte NUL
        return data.decode("utf-16-le", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _normal(header: str) -> str:
    return " ".join(header.replace("\ufeff", "").strip().strip("\"'").lower().split())


def _separator(line: str) -> str:
    counts = {sep: line.count(sep) for sep in ("\t", ";", ",")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def _rows(text: str, separator: str) -> list[list[str]]:
    text = text.replace("\x00", "")  # csv refuses NUL; no real report has one
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows = []
    try:
        for row in reader:
            rows.append([cell[:MAX_FIELD] for cell in row])
            if len(rows) > MAX_ROWS + 50:
                raise ReportError(
                    _l("The file has more than %(rows)s rows; no webinar has that many participants.", rows=MAX_ROWS)
                )
    except csv.Error as error:
        raise ReportError(
            _l("The file could not be read as CSV (line %(line)s): %(error)s.", line=reader.line_num, error=error)
        ) from error
    return rows


def _find(headers: list[str], names: tuple[str, ...], *, near: int | None = None) -> int | None:
    normal = [_normal(h) for h in headers]
    for name in names:
        found = [i for i, header in enumerate(normal) if header == name]
        if found:
            if near is not None and len(found) > 1:
                # Zoom's one-line export has the host's "User Email" and the participant's: take the one
                # beside the participant's join time.
                return min(found, key=lambda i: abs(i - near))
            return found[0]
    return None


def _columns(row: list[str]) -> dict[str, int] | None:
    join = _find(row, JOIN_HEADERS)
    duration = _find(row, DURATION_HEADERS)
    email = _find(row, EMAIL_HEADERS, near=join if join is not None else duration)
    if email is None or (join is None and duration is None):
        return None
    columns = {"email": email}
    if join is not None:
        columns["join"] = join
    leave = _find(row, LEAVE_HEADERS)
    if leave is not None:
        columns["leave"] = leave
    if duration is not None:
        columns["duration"] = duration
    attended = _find(row, ATTENDED_HEADERS)
    if attended is not None:
        columns["attended"] = attended
    return columns


def _platform(text_start: str, headers: list[str]) -> str:
    normal = {_normal(h) for h in headers}
    start = text_start.lower()
    if "in-meeting duration" in normal or "first join" in normal or "1. summary" in start:
        return "Microsoft Teams"
    if "time joined" in normal or "time exited" in normal:
        return "Google Meet"
    if "user email" in normal or "time in session (minutes)" in normal or "name (original name)" in normal:
        return "Zoom"
    return ""


# -- values ------------------------------------------------------------------------------------------

_DURATION_PARTS = re.compile(r"(\d+(?:[.,]\d+)?)\s*(h|hr|hrs|hours?|m|min|mins|minutes?|s|sec|secs|seconds?)\b", re.I)


# Longer than any meeting: a duration beyond it is a misreading.
MAX_MINUTES = 7 * 24 * 60


def parse_minutes(text: str) -> float | None:
    """Minutes from "58", "58.5", "1h 2m 3s", "45 min", "1:02:03" or "02:03" (h:mm:ss / mm:ss); None
    when the text says no duration, or one longer than MAX_MINUTES."""
    found = _minutes(text)
    return found if found is not None and 0 <= found <= MAX_MINUTES else None


def _minutes(text: str) -> float | None:
    text = (text or "").strip()[:100]
    if not text:
        return None
    if re.fullmatch(r"\d+(?:[.,]\d+)?", text):
        return float(text.replace(",", "."))
    clock = re.fullmatch(r"(\d+):(\d{2})(?::(\d{2}))?", text)
    if clock:
        if clock.group(3) is None:  # mm:ss
            return int(clock.group(1)) + int(clock.group(2)) / 60
        return int(clock.group(1)) * 60 + int(clock.group(2)) + int(clock.group(3)) / 60
    parts = _DURATION_PARTS.findall(text)
    if not parts:
        return None
    minutes = 0.0
    for number, unit in parts:
        value = float(number.replace(",", "."))
        unit = unit.lower()
        minutes += value * 60 if unit.startswith("h") else value / 60 if unit.startswith("s") else value
    return minutes


_DATE_TIME = re.compile(
    r"^\s*(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})[,T ]+\s*(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?\s*"
    r"([AaPp]\.?[Mm]\.?)?\s*(?:Z|UTC|GMT|[+-]\d{2}:?\d{2})?\s*$"
)


@dataclass(frozen=True)
class _Parts:
    a: int
    b: int
    c: int
    hour: int
    minute: int
    second: int


def _parts(text: str) -> _Parts | None:
    match = _DATE_TIME.match(text or "")
    if not match:
        return None
    a, b, c, hour, minute, second, meridiem = match.groups()
    hour = int(hour)
    if meridiem:
        pm = meridiem.lower().startswith("p")
        if not 1 <= hour <= 12:
            return None
        hour = (hour % 12) + (12 if pm else 0)
    return _Parts(int(a), int(b), int(c), hour, int(minute), int(second or 0))


def _year(value: int) -> int:
    return value + 2000 if value < 100 else value


# A participant report is about a meeting that happened: a date outside these years is a misreading
# (and year 1 or 9999 would overflow when converted to UTC).
FIRST_YEAR, LAST_YEAR = 1990, 2100


def _as_datetime(parts: _Parts, order: str) -> datetime | None:
    try:
        if order == "ymd":
            found = datetime(parts.a, parts.b, parts.c, parts.hour, parts.minute, parts.second)
        elif order == "dmy":
            found = datetime(_year(parts.c), parts.b, parts.a, parts.hour, parts.minute, parts.second)
        else:  # mdy
            found = datetime(_year(parts.c), parts.a, parts.b, parts.hour, parts.minute, parts.second)
    except ValueError:
        return None
    return found if FIRST_YEAR <= found.year <= LAST_YEAR else None


def date_order(values: list[str], near: date | None = None) -> str | None:
    """How a column writes its dates: 'ymd', 'dmy' or 'mdy', the one that reads every value (nearest
    to `near` when several do); None when none does."""
    parsed = [p for p in (_parts(v) for v in values if v and v.strip()) if p is not None]
    if not parsed:
        return None
    fitting = [order for order in ("ymd", "dmy", "mdy") if all(_as_datetime(p, order) for p in parsed)]
    if not fitting:
        return None
    if len(fitting) == 1 or near is None:
        return fitting[0]

    def distance(order: str) -> float:
        return sum(abs((_as_datetime(p, order).date() - near).days) for p in parsed)

    return min(fitting, key=distance)


def parse_time(text: str, order: str | None) -> datetime | None:
    parts = _parts(text)
    return _as_datetime(parts, order) if parts is not None and order else None


# -- the report --------------------------------------------------------------------------------------


def _merge(attendance: Attendance, intervals: list[tuple[datetime, datetime]], durations: list[float]) -> None:
    if intervals:
        intervals.sort()
        total = timedelta(0)
        start, end = intervals[0]
        for next_start, next_end in intervals[1:]:
            if next_start <= end:
                end = max(end, next_end)
            else:
                total += end - start
                start, end = next_start, next_end
        total += end - start
        attendance.minutes = min(MAX_MINUTES, round(total.total_seconds() / 60))
    elif durations:
        attendance.minutes = min(MAX_MINUTES, round(sum(durations)))


def _blocks(rows: list[list[str]]) -> list[list[list[str]]]:
    """Rows split at blank lines: a report's summary, its participants, its activities..."""
    blocks, current = [], []
    for row in rows:
        if any(cell.strip() for cell in row):
            current.append(row)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _tables(blocks: list[list[list[str]]]) -> list[tuple[list[str], dict[str, int], list[list[str]]]]:
    """(header, columns, rows) of every block with a header of its own (a title such as Teams'
    "2. Participants" may come before it, a data row may not)."""
    tables = []
    for block in blocks:
        for number, row in enumerate(block[:5]):
            if any("@" in cell for cell in row):
                break
            columns = _columns(row)
            if columns:
                tables.append((row, columns, block[number + 1 :]))
                break
    return tables


def _signature(header: list[str], columns: dict[str, int]) -> tuple:
    return tuple(sorted((use, _normal(header[index])) for use, index in columns.items()))


def _first_header_line(lines: list[str]) -> str | None:
    for line in lines[:400]:
        if "@" in line:
            continue
        cells = next(csv.reader([line.replace("\x00", "")], delimiter=_separator(line)), [])
        if _columns(cells):
            return line
    return None


def read_report(data: bytes, *, webinar_day: date | None = None) -> ParticipantReport:
    """Read a participant report. Raises ReportError when no table with an email column and a join
    time or duration can be found (the message names what the file starts with)."""
    if not data.strip():
        raise ReportError(_l("The file is empty."))
    text = decode(data)
    lines = text.splitlines()
    header_line = _first_header_line(lines)
    if header_line is None:
        seen = next((line for line in lines if line.strip()), "")[:200]
        raise ReportError(
            _l(
                "No column of email addresses with join times or durations was found. Expected, for example, "
                "Zoom’s “User Email” and “Join Time”, or Teams’ “Email” and “First Join”. "
                "The file starts with: %(start)s",
                start=seen,
            )
        )
    tables = _tables(_blocks(_rows(text, _separator(header_line))))
    if not tables:
        raise ReportError(_l("The table of participants could not be read."))
    # The participants' table is the first with join times (Zoom's block about the meeting before it has
    # the host's address and the meeting's duration). Later blocks with the same columns are more of it
    # (Zoom's webinar report lists hosts, panelists and attendees apart); others are other tables
    # (Teams' "In-Meeting Activities" repeats the participants, join by join) and are left out.
    header, columns, _ = next((table for table in tables if "join" in table[1]), tables[0])
    wanted = _signature(header, columns)
    chosen = [table for table in tables if _signature(table[0], table[1]) == wanted]
    report = ParticipantReport(
        platform=_platform("\n".join(lines[:50]), header),
        columns={use: header[index].strip().replace("\ufeff", "") for use, index in columns.items()},
    )

    def cell(row: list[str], columns: dict[str, int], use: str) -> str:
        index = columns.get(use)
        return row[index].strip() if index is not None and index < len(row) else ""

    orders = {}
    for use in ("join", "leave"):
        values = [cell(row, cols, use) for _, cols, rows in chosen for row in rows]
        if use in columns:
            orders[use] = date_order(values, webinar_day)
            if orders[use] is None and any(values):
                report.notes.append(
                    _l("The join times could not be read as dates; the durations were used.")
                    if use == "join"
                    else _l("The leave times could not be read as dates; the durations were used.")
                )
    gathered: dict[str, tuple[Attendance, list, list]] = {}
    for _, cols, rows in chosen:
        for row in rows:
            email = cell(row, cols, "email").strip("<>").lower()
            if not _EMAIL.match(email):
                report.skipped_rows += 1
                continue
            if "attended" in cols and cell(row, cols, "attended").lower() in NOT_ATTENDED:
                continue  # a registrant the platform says never came
            attendance, intervals, durations = gathered.setdefault(email, (Attendance(), [], []))
            attendance.rows += 1
            joined = parse_time(cell(row, cols, "join"), orders.get("join"))
            left = parse_time(cell(row, cols, "leave"), orders.get("leave"))
            if joined and (attendance.first_join is None or joined < attendance.first_join):
                attendance.first_join = joined
            if left and (attendance.last_leave is None or left > attendance.last_leave):
                attendance.last_leave = left
            if joined and left and left >= joined:
                intervals.append((joined, left))
            minutes = parse_minutes(cell(row, cols, "duration"))
            if minutes is not None:
                durations.append(minutes)
    for email, (attendance, intervals, durations) in gathered.items():
        # One row: its own duration (Teams' row spans first join to last leave, with gaps in between),
        # else its interval. Several rows (one per join): the union of their intervals, so that two
        # devices at once count once; the sum of their durations when some row lacks a time.
        if attendance.rows == 1:
            _merge(attendance, [] if durations else intervals, durations)
        elif len(intervals) == attendance.rows:
            _merge(attendance, intervals, [])
        else:
            _merge(attendance, [], durations)
        report.people[email] = attendance
    if not any(rows for _, _, rows in chosen):
        report.notes.append(_l("The table of participants has no rows."))
    return report
