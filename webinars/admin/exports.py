"""CSV exports that spreadsheets open cleanly and cannot be turned against the person opening them.

UTF-8 with a byte-order mark, so Excel reads accents and Japanese correctly; every field quoted;
dates written "2030-06-04 08:00:00" (UTC, as the headers say), which spreadsheets read as dates.
Any text a spreadsheet could read as a formula gets an apostrophe in front (OWASP "CSV injection"):
at the start of a cell (= + - @, a tab or a carriage return), and also after any separator inside
it, because a spreadsheet that splits on ";" (the European default) or on tabs ignores our quotes
and starts a new cell there.
"""

import csv
import io
import re
from collections.abc import Iterable
from datetime import datetime

import pytz
from flask import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A separator some spreadsheet may split on, then optional blanks or quotes, then a formula character.
_FORMULA_AFTER_SEPARATOR = re.compile(r"""([,;\t\r\n|][\s"']*)(?=[=+\-@])""")


def safe_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.astimezone(pytz.utc).strftime("%Y-%m-%d %H:%M:%S")
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return _FORMULA_AFTER_SEPARATOR.sub(r"\1'", text)


def csv_bytes(header: list[str], rows: Iterable[Iterable]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n", quoting=csv.QUOTE_ALL)
    writer.writerow([safe_cell(cell) for cell in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue().encode("utf-8-sig")


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> Response:
    response = Response(csv_bytes(header, rows), mimetype="text/csv")
    response.headers["Content-Type"] = "text/csv; charset=utf-8"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


REGISTRATION_HEADER = [
    "id",
    "name",
    "email",
    "organisation",
    "country",
    "time zone",
    "status",
    "registered at (UTC)",
    "confirmed at (UTC)",
    "cancelled at (UTC)",
    "newsletter",
    "confirm address by (UTC)",
    "address confirmed at (UTC)",
    "erased at (UTC)",
    "attended",
    "minutes attended",
    "first joined (UTC)",
    "last left (UTC)",
]


def _attended(registration) -> str:
    if registration.attended is None:
        return ""
    return "attended" if registration.attended else "no-show"


def registrations_response(webinar, registrations, *, questions=(), answers=None) -> Response:
    """One row per registration, then one column per question of the webinar (headed with its current
    wording; each cell the answer as given). Attendance is empty until a report is imported; the
    attendance rate is the share of "attended" among "attended" and "no-show"."""
    answers = answers or {}

    def answer(registration, question) -> str:
        found = answers.get(registration.id, {}).get(question.id)
        return "; ".join(found.values) if found is not None else ""

    rows = (
        [
            r.id,
            r.name,
            r.email,
            r.organisation,
            r.country,
            r.timezone,
            r.status,
            r.created_at,
            r.confirmed_at,
            r.cancelled_at,
            r.wants_newsletter,
            r.confirm_by,
            r.address_confirmed_at,
            r.erased_at,
            _attended(r),
            r.attended_minutes,
            r.joined_at,
            r.left_at,
            *(answer(r, question) for question in questions),
        ]
        for r in registrations
    )
    header = [*REGISTRATION_HEADER, *(question.label for question in questions)]
    return csv_response(f"registrations-{webinar.slug}.csv", header, rows)


SUBSCRIBER_HEADER = [
    "id",
    "email",
    "name",
    "status",
    "topics",
    "created at (UTC)",
    "confirmed at (UTC)",
    "unsubscribed at (UTC)",
]


def subscribers_response(subscribers) -> Response:
    rows = (
        [
            s.id,
            s.email,
            s.name,
            s.status,
            " ".join(topic.slug for topic in s.topics),
            s.created_at,
            s.confirmed_at,
            s.unsubscribed_at,
        ]
        for s in subscribers
    )
    return csv_response("subscribers.csv", SUBSCRIBER_HEADER, rows)


WEBINAR_HEADER = [
    "id",
    "slug",
    "title",
    "status",
    "starts at (UTC)",
    "time zone",
    "capacity",
    "confirmed",
    "waiting list",
    "attended",
    "no-shows",
    "attendance rate (%)",
]


def webinars_response(webinars, figures) -> Response:
    """Every webinar with its figures; the attendance rate is empty until a participant report is imported."""

    def rate(figure) -> str:
        return "" if figure.attendance_rate is None else f"{figure.attendance_rate * 100:.1f}"

    rows = (
        [
            w.id,
            w.slug,
            w.title,
            w.status,
            w.starts_at,
            w.timezone,
            w.capacity,
            figures[w.id].confirmed,
            figures[w.id].waitlisted,
            figures[w.id].attended,
            figures[w.id].no_shows,
            rate(figures[w.id]),
        ]
        for w in webinars
    )
    return csv_response("webinars.csv", WEBINAR_HEADER, rows)
