"""Which zone the visitor wants to read times in: ?tz=Area/City, remembered in a cookie.

Both are read under the zone's current name (Asia/Calcutta is Asia/Kolkata, utc is UTC), and a
cookie holding an old name is rewritten with the current one.
"""

from dataclasses import dataclass

from flask import Request, Response
from flask_babel import gettext as _

from ..timezones import canonical_zone_or_none

COOKIE_NAME = "tz"
COOKIE_MAX_AGE = 365 * 24 * 3600


@dataclass
class ViewerZone:
    zone: str | None  # None: the visitor has not chosen one
    error: str | None = None  # shown beside the picker when ?tz= named no zone
    remember: bool = False  # set the cookie on the response


def viewer_zone(request: Request) -> ViewerZone:
    asked = request.args.get("tz")
    cookie = request.cookies.get(COOKIE_NAME)
    remembered = canonical_zone_or_none(cookie)
    if asked is None or asked.strip() == "":
        return ViewerZone(zone=remembered, remember=remembered is not None and remembered != cookie)
    asked = asked.strip()
    zone = canonical_zone_or_none(asked)
    if zone is not None:
        return ViewerZone(zone=zone, remember=zone != cookie)
    shown = asked if len(asked) <= 64 else asked[:64] + "…"
    return ViewerZone(
        zone=remembered,
        error=_(
            "We do not know the time zone “%(zone)s”. Please choose yours from the list.",
            zone=shown,
        ),
    )


def remember(response: Response, choice: ViewerZone, secure: bool) -> Response:
    if choice.remember and choice.zone:
        response.set_cookie(
            COOKIE_NAME, choice.zone, max_age=COOKIE_MAX_AGE, httponly=True, samesite="Lax", secure=secure
        )
    return response
