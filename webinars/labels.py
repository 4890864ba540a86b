"""What stored words mean to a person: states and kinds of messages, in the reader's language.

Rows keep short English identifiers ('waitlisted', 'registration_confirmed'); pages, exports and
commands show these labels instead. An identifier without a label is shown as it is.
"""

from flask_babel import lazy_gettext as _l

LABELS = {
    "webinar": {
        "draft": _l("draft"),
        "published": _l("published"),
        "cancelled": _l("cancelled"),
    },
    "content": {
        "draft": _l("draft"),
        "published": _l("published"),
    },
    "registration": {
        "confirmed": _l("confirmed"),
        "waitlisted": _l("on the waiting list"),
        "pending": _l("awaiting confirmation"),
        "expired": _l("not confirmed in time"),
        "cancelled": _l("cancelled"),
    },
    "subscriber": {
        "pending": _l("awaiting confirmation"),
        "subscribed": _l("subscribed"),
        "unsubscribed": _l("unsubscribed"),
    },
    "campaign": {
        "draft": _l("draft"),
        "scheduled": _l("scheduled"),
        "expanding": _l("preparing"),
        "sending": _l("sending"),
        "done": _l("sent"),
        "failed": _l("stopped"),
    },
    "digest": {
        "expanding": _l("preparing"),
        "sending": _l("sending"),
        "done": _l("sent"),
    },
    "message": {
        "queued": _l("queued"),
        "sending": _l("sending"),
        "sent": _l("sent"),
        "failed": _l("failed"),
        "suppressed": _l("suppressed"),
    },
    "message_kind": {
        "registration_confirmed": _l("registration confirmed"),
        "registration_promoted": _l("seat from the waiting list"),
        "registration_pending": _l("seat to confirm"),
        "registration_waitlisted": _l("waiting list"),
        "registration_cancelled": _l("registration cancelled"),
        "reminder_24h": _l("reminder a day before"),
        "reminder_1h": _l("reminder an hour before"),
        "webinar_updated": _l("webinar changed"),
        "webinar_cancelled": _l("webinar cancelled"),
        "newsletter_confirm": _l("newsletter confirmation"),
        "newsletter_already": _l("already subscribed"),
        "campaign": _l("campaign"),
        "organiser_password_reset": _l("password reset link"),
        "registrant_message": _l("message to registrants"),
        "registrant_message_test": _l("test of a message to registrants"),
        "recording_followup": _l("recording follow-up"),
        "campaign_test": _l("test of a campaign"),
    },
    "audit": {
        "created": _l("created"),
        "updated": _l("edited"),
        "rescheduled": _l("rescheduled"),
        "published": _l("published"),
        "unpublished": _l("unpublished"),
        "cancelled": _l("cancelled"),
        "discarded": _l("draft discarded"),
        "seat given": _l("seat given"),
        "registration cancelled": _l("registration cancelled"),
        "data exported": _l("personal data exported"),
        "data erased": _l("personal data erased"),
        "duplicated": _l("duplicated"),
        "editors changed": _l("editors changed"),
        "question added": _l("question added"),
        "question changed": _l("question changed"),
        "question removed": _l("question removed"),
        "registration added": _l("registrant added by hand"),
        "attendance imported": _l("attendance imported"),
        "subscriber unsubscribed": _l("subscriber unsubscribed"),
        "password reset": _l("password reset"),
        "organiser added": _l("organiser added"),
        "role changed": _l("role changed"),
        "organiser activated": _l("organiser activated"),
        "organiser deactivated": _l("organiser deactivated"),
        "message sent": _l("message to registrants"),
        "recording sent": _l("recording sent"),
        "campaign created": _l("campaign written"),
        "campaign changed": _l("campaign changed"),
        "campaign approved": _l("campaign approved"),
        "campaign scheduled": _l("campaign scheduled"),
        "campaign unscheduled": _l("campaign schedule cancelled"),
        "campaign sent": _l("campaign sent"),
    },
    "audience": {
        "confirmed": _l("those with a seat"),
        "waitlisted": _l("the waiting list"),
        "all": _l("everyone registered"),
    },
    "consent": {
        "requested": _l("asked to subscribe"),
        "confirmed": _l("confirmed"),
        "preferences": _l("changed topics"),
        "unsubscribed": _l("unsubscribed"),
    },
    "consent_source": {
        "newsletter_form": _l("the newsletter form"),
        "registration_form": _l("the registration form"),
        "confirmation_link": _l("the link in the confirmation email"),
        "preferences_page": _l("the preferences page"),
        "unsubscribe_page": _l("the unsubscribe page"),
        "one_click": _l("the unsubscribe button of their mail program"),
        "organiser": _l("an organiser"),
    },
    "role": {
        "owner": _l("owner"),
        "editor": _l("editor"),
    },
    "language": {
        "en": _l("English"),
        "fr": _l("French"),
    },
}


def label(kind: str, value: str | None) -> str:
    """The label of `value` among the `kind` ('registration', 'campaign', ...) in the current language."""
    found = LABELS.get(kind, {}).get(value or "")
    return str(found) if found is not None else (value or "")
