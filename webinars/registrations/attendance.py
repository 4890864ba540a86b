"""Marking registrations attended or no-show from a platform's participant report.

Each import replaces the previous one: attendance is worked out afresh from the latest report. A
registration whose address is in the report attended (whatever its state: someone who cancelled and
came anyway did attend); a confirmed registration that is not is a no-show; the others (waiting list,
cancelled, expired) stay unknown, since they held no seat. Addresses in the report that match no
registration are counted, not stored. Nothing here commits.
"""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from flask_babel import ngettext
from sqlalchemy import select

from ..addresses import lookup_key
from ..extensions import db
from ..timezones import localize_recorded, to_zone
from .models import AttendanceImport, Registration
from .participant_reports import ParticipantReport, read_report


def attendance_summary(record: AttendanceImport) -> str:
    """What an import read and found, in the reader's language (the audit trail, the command's output)."""
    lines = [
        _(
            "%(file)s (%(platform)s); columns used: %(columns)s",
            file=record.filename or _("a report"),
            platform=record.platform or _("platform not recognised"),
            columns=record.columns_used,
        ),
        ", ".join(
            (
                ngettext("%(num)s attended", "%(num)s attended", record.attended),
                ngettext("%(num)s no-show", "%(num)s no-shows", record.no_shows),
                ngettext(
                    "%(num)s participant not registered", "%(num)s participants not registered", record.unregistered
                ),
            )
        ),
    ]
    return "\n".join(lines)


def read_for(webinar, data: bytes) -> ParticipantReport:
    """Read a report for this webinar (its day, in its zone, settles how the report writes dates)."""
    return read_report(data, webinar_day=to_zone(webinar.starts_at, webinar.timezone).date())


def apply_report(
    webinar, report: ParticipantReport, *, zone: str, filename: str = "", min_minutes: int = 0, now: datetime
) -> AttendanceImport:
    """Mark this webinar's registrations from `report`, whose times are wall times in `zone` (Zoom
    writes the account's zone, Teams the zone of whoever downloaded the report). `min_minutes`: less
    time than this in the meeting counts as not attending. Returns the import's record."""
    registrations = list(
        db.session.scalars(select(Registration).where(Registration.webinar_id == webinar.id).order_by(Registration.id))
    )
    # One registration per address: a live one before a cancelled or expired one, the latest of those.
    by_address: dict[str, Registration] = {}
    for registration in registrations:
        if registration.erased_at is not None:
            continue
        key = lookup_key(registration.email)
        kept = by_address.get(key)
        if (
            kept is None
            or registration.status not in ("cancelled", "expired")
            or kept.status in ("cancelled", "expired")
        ):
            by_address[key] = registration
        registration.attended = registration.attended_minutes = registration.joined_at = registration.left_at = None
    matched = 0
    for address, attendance in report.people.items():
        registration = by_address.get(lookup_key(address))
        if registration is None:
            continue
        matched += 1
        registration.attended = attendance.minutes >= min_minutes
        registration.attended_minutes = attendance.minutes
        registration.joined_at = localize_recorded(attendance.first_join, zone) if attendance.first_join else None
        registration.left_at = localize_recorded(attendance.last_leave, zone) if attendance.last_leave else None
    for registration in registrations:
        if registration.attended is None and registration.status == "confirmed" and registration.erased_at is None:
            registration.attended = False
    record = AttendanceImport(
        webinar_id=webinar.id,
        imported_at=now,
        filename=(filename or "")[:255],
        platform=report.platform,
        columns_used=report.describe_columns(),
        participants=len(report.people),
        attended=sum(1 for r in registrations if r.attended is True),
        no_shows=sum(1 for r in registrations if r.attended is False),
        unregistered=len(report.people) - matched,
    )
    db.session.add(record)
    db.session.flush()
    return record
