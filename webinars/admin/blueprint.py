"""The organisers' blueprint, and who may use each of its pages.

Every page needs a signed-in organiser, except the few in PUBLIC_ENDPOINTS. An owner may use every
page. An editor may use the pages in EDITOR_ENDPOINTS only, so that a page added later is for owners
until someone decides otherwise; of those, the pages in TEAM_ENDPOINTS show the people registered for
one webinar, and an editor sees them only for the webinars they look after. The view modules
(routes.py and its neighbours) add their pages to this blueprint; admin.init_app registers it.
"""

from flask import Blueprint, abort, request
from flask_login import current_user

from ..database import utcnow
from ..extensions import login_manager
from ..registrations import queries as registration_queries
from .auth import session_used
from .organisers import looks_after

blueprint = Blueprint("admin", __name__, url_prefix="/admin")

INVALID = 422  # a form sent back with its errors beside the fields

# The only endpoints an anonymous visitor may reach.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.password_forgot", "admin.password_reset"})

EDITOR_ENDPOINTS = frozenset(
    {
        "admin.logout",
        "admin.index",
        "admin.webinars_csv",
        "admin.webinar_new",
        "admin.webinar_edit",
        "admin.webinar",
        "admin.webinar_publish",
        "admin.webinar_cancel",
        "admin.webinar_discard",
        "admin.webinar_duplicate",
        "admin.webinar_preview",
        "admin.preview_zones",
        "admin.questions",
        "admin.question_new",
        "admin.question_edit",
        "admin.question_move",
        "admin.question_remove",
        "admin.registrations",
        "admin.registrations_csv",
        "admin.registration_cancel",
        "admin.registration_promote",
        "admin.registrant_add",
        "admin.attendance_import",
        "admin.attendance_followups",
        "admin.registrant_messages",
        "admin.items",
        "admin.item_new",
        "admin.item_edit",
        "admin.item",
        "admin.item_publish",
        "admin.item_unpublish",
        "admin.topics",
        "admin.topic_edit",
        "admin.digests_page",
        # Campaigns: an editor's draft is sent only once an owner approved it (campaign_tools.campaign_send).
        "admin.campaigns",
        "admin.campaign_new",
        "admin.campaign",
        "admin.campaign_edit",
        "admin.campaign_test",
        "admin.campaign_send",
        "admin.campaign_unschedule",
    }
)

# Pages about the people registered for one webinar, named by `webinar_id` or `registration_id`.
TEAM_ENDPOINTS = frozenset(
    {
        "admin.registrations",
        "admin.registrations_csv",
        "admin.registration_cancel",
        "admin.registration_promote",
        "admin.registrant_add",
        "admin.attendance_import",
        "admin.attendance_followups",
        "admin.registrant_messages",
    }
)


def current_organiser():
    """The signed-in organiser (the model object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def _webinar_of_request() -> int | None:
    args = request.view_args or {}
    if "webinar_id" in args:
        return args["webinar_id"]
    if "registration_id" in args:
        return registration_queries.webinar_id_of(args["registration_id"])
    return None


@blueprint.before_request
def require_organiser():
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    organiser = current_organiser()
    if not organiser.is_owner:
        if request.endpoint not in EDITOR_ENDPOINTS:
            abort(403)
        if request.endpoint in TEAM_ENDPOINTS:
            webinar_id = _webinar_of_request()
            # No such webinar or registration: the view answers 404, as it does for owners.
            if webinar_id is not None and not looks_after(organiser, webinar_id):
                abort(403)
    session_used(utcnow())
    return None


@blueprint.after_request
def no_store(response):
    # Registrant and subscriber lists must not linger in shared or browser caches.
    response.headers["Cache-Control"] = "no-store"
    return response
