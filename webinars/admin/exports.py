"""CSV exports that spreadsheets open cleanly and cannot be turned against the person opening them.

UTF-8 with a byte-order mark, so Excel reads accents and Japanese correctly; any cell that a
spreadsheet would read as a formula (starting with = + - @, or a tab or carriage return) gets a
leading apostrophe (OWASP "CSV injection").
"""

import csv
import io
from collections.abc import Iterable
from datetime import datetime

from flask import Response

from ..timezones import utc_iso

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return utc_iso(value)
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_bytes(header: list[str], rows: Iterable[Iterable]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
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
]


def registrations_response(webinar, registrations) -> Response:
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
        ]
        for r in registrations
    )
    return csv_response(f"registrations-{webinar.slug}.csv", REGISTRATION_HEADER, rows)


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
