"""Registration pages (placeholder until the registration issue lands)."""

from flask import Blueprint

blueprint = Blueprint("registrations", __name__)


def registration_context(webinar, viewer_zone: str | None, now) -> dict:
    """Extra template context for the webinar page's registration panel."""
    return {}
