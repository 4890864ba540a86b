"""Organiser accounts: roles, the webinars each editor looks after, and password resets by email.

A reset link is signed (tokens.py), lives an hour, and works once: it carries a fingerprint of the
password it replaces (and of the session version), so that it stops working as soon as the password
changes, by this link or any other way. Nothing here commits.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from flask import current_app, render_template
from flask_babel import gettext as _
from sqlalchemy import delete, func, insert, select

from .. import ratelimit
from ..database import MAX_ID
from ..extensions import db
from ..labels import label
from ..language import current_language, in_language
from ..outbox.messages import build_email
from ..outbox.operations import UNSOLICITED_BUCKET, UNSOLICITED_WINDOW, enqueue_intent, message_bytes, recipient_key
from ..tokens import BadToken, make_token, read_token
from ..urls import external_url
from .auth import hash_password, normalise_email
from .models import ORGANISER_ROLES, Organiser, webinar_editors

RESET_PURPOSE = "organiser-password-reset"
RESET_KIND = "organiser_password_reset"
RESET_LIFETIME = timedelta(hours=1)


def role_name(role: str) -> str:
    """'owner' or 'editor' in the reader's language."""
    return str(label("role", role))


class LastOwner(ValueError):
    """The change would leave no active owner, and so nobody who can manage organiser accounts."""


# -- roles ------------------------------------------------------------------------------------------


def active_owners() -> int:
    return db.session.scalar(
        select(func.count(Organiser.id)).where(Organiser.role == "owner", Organiser.active.is_(True))
    )


def set_role(organiser: Organiser, role: str, *, even_the_last_owner: bool = False) -> bool:
    """Give an organiser a role; True when it changed. The last active owner stays an owner (LastOwner),
    unless `even_the_last_owner` (the command line, whose user can always make a new owner)."""
    if role not in ORGANISER_ROLES:
        raise ValueError(f"unknown role {role!r}")
    if organiser.role == role:
        return False
    if organiser.role == "owner" and organiser.active and active_owners() <= 1 and not even_the_last_owner:
        raise LastOwner(organiser.email)
    organiser.role = role
    organiser.end_sessions()  # pages open with the old rights stop working at once
    return True


def set_active(organiser: Organiser, active: bool, *, even_the_last_owner: bool = False) -> bool:
    """Let an organiser sign in, or stop them (every session ends); True when it changed. The last
    active owner is not deactivated (LastOwner) unless `even_the_last_owner`."""
    if organiser.active == active:
        return False
    if not active and organiser.role == "owner" and active_owners() <= 1 and not even_the_last_owner:
        raise LastOwner(organiser.email)
    organiser.active = active
    if not active:
        organiser.end_sessions()
    return True


def create_organiser(email: str, *, name: str = "", role: str, password: str | None = None) -> Organiser:
    """A new organiser (the caller checked the address is free). Without a password, none works until
    they set one by a reset link."""
    if role not in ORGANISER_ROLES:
        raise ValueError(f"unknown role {role!r}")
    # An unusable hash: no password matches it, so the account only opens through a reset link.
    secret = password if password is not None else make_token("unusable", {"n": email})
    organiser = Organiser(email=normalise_email(email), name=name.strip(), password_hash=hash_password(secret))
    organiser.role, organiser.active = role, True
    db.session.add(organiser)
    db.session.flush()
    return organiser


def organiser_by_email(email: str) -> Organiser | None:
    return db.session.scalar(select(Organiser).where(Organiser.email == normalise_email(email)))


def all_organisers() -> list[Organiser]:
    return list(db.session.scalars(select(Organiser).order_by(Organiser.role.desc(), Organiser.email)))


# -- the webinars an editor looks after --------------------------------------------------------------


def looks_after(organiser: Organiser, webinar_id: int) -> bool:
    """Whether this organiser may see the people registered for that webinar: every owner, and the
    editors who look after it."""
    if organiser.is_owner:
        return True
    found = db.session.scalar(
        select(webinar_editors.c.webinar_id).where(
            webinar_editors.c.webinar_id == webinar_id, webinar_editors.c.organiser_id == organiser.id
        )
    )
    return found is not None


def webinars_looked_after(organiser: Organiser) -> set[int] | None:
    """The ids of the webinars whose registrations this organiser sees; None for an owner (all of them)."""
    if organiser.is_owner:
        return None
    return set(
        db.session.scalars(select(webinar_editors.c.webinar_id).where(webinar_editors.c.organiser_id == organiser.id))
    )


def editors_of(webinar_id: int) -> list[Organiser]:
    return list(
        db.session.scalars(
            select(Organiser)
            .join(webinar_editors, webinar_editors.c.organiser_id == Organiser.id)
            .where(webinar_editors.c.webinar_id == webinar_id)
            .order_by(Organiser.email)
        )
    )


def add_editor(webinar_id: int, organiser: Organiser) -> None:
    """Record that `organiser` looks after the webinar (its creator, or one an owner adds)."""
    if organiser.id not in {o.id for o in editors_of(webinar_id)}:
        db.session.execute(insert(webinar_editors).values(webinar_id=webinar_id, organiser_id=organiser.id))


def set_editors(webinar_id: int, organisers: list[Organiser]) -> tuple[list[str], list[str]]:
    """Make `organisers` exactly the ones who look after the webinar; returns (added, removed) addresses."""
    before = {o.id: o for o in editors_of(webinar_id)}
    after = {o.id: o for o in organisers}
    removed = [before[i].email for i in before.keys() - after.keys()]
    added = [after[i].email for i in after.keys() - before.keys()]
    if removed:
        db.session.execute(
            delete(webinar_editors).where(
                webinar_editors.c.webinar_id == webinar_id,
                webinar_editors.c.organiser_id.in_(before.keys() - after.keys()),
            )
        )
    for organiser_id in after.keys() - before.keys():
        db.session.execute(insert(webinar_editors).values(webinar_id=webinar_id, organiser_id=organiser_id))
    return sorted(added), sorted(removed)


def copy_editors(source_webinar_id: int, target_webinar_id: int) -> None:
    for organiser in editors_of(source_webinar_id):
        add_editor(target_webinar_id, organiser)


# -- password resets ---------------------------------------------------------------------------------


def _password_fingerprint(organiser: Organiser) -> str:
    # The hash has a fresh salt each time a password is set, so this changes with every new password.
    material = f"{organiser.id}:{organiser.password_hash}:{organiser.session_version}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def reset_token(organiser: Organiser, now: datetime) -> str:
    # The issue time travels inside the token, so that expiry follows our clock (utcnow, one place to patch).
    return make_token(
        RESET_PURPOSE, {"o": organiser.id, "p": _password_fingerprint(organiser), "t": int(now.timestamp())}
    )


def organiser_for_reset(token: str, now: datetime) -> Organiser | None:
    """The active organiser a reset link was made for, while it is under an hour old and their
    password is still the one it was made to replace; None otherwise (whatever the reason)."""
    try:
        payload = read_token(RESET_PURPOSE, token)
    except BadToken:
        return None
    if not isinstance(payload, dict):
        return None
    organiser_id, issued, fingerprint = payload.get("o"), payload.get("t"), payload.get("p")
    if not isinstance(organiser_id, int) or isinstance(organiser_id, bool) or not 0 < organiser_id <= MAX_ID:
        return None
    if not isinstance(issued, int) or not 0 <= now.timestamp() - issued <= RESET_LIFETIME.total_seconds():
        return None
    organiser = db.session.get(Organiser, organiser_id)
    if organiser is None or not organiser.active or fingerprint != _password_fingerprint(organiser):
        return None
    return organiser


def send_password_reset(email: str, now: datetime, *, invitation: bool = False) -> bool:
    """Queue a reset link to the active organiser with this address; False when nothing was queued.

    At most MAIL_UNCONFIRMED_PER_ADDRESS such emails an hour per address, counted like every message
    a public form causes (outbox.operations.enqueue_unsolicited). The count is taken for unknown
    addresses too, so that both answers cost the same writes and the page looks the same either way.
    The request records only what to send (the organiser, when it was asked, in which language); the
    mail worker writes the message and its link (render_password_reset)."""
    limit = int(current_app.config["MAIL_UNCONFIRMED_PER_ADDRESS"])
    allowed = ratelimit.allow(UNSOLICITED_BUCKET, recipient_key(normalise_email(email)), limit, UNSOLICITED_WINDOW, now)
    organiser = organiser_by_email(email)
    if not allowed or organiser is None or not organiser.active:
        return False
    payload = {"o": organiser.id, "t": int(now.timestamp()), "invitation": invitation, "lang": current_language()}
    enqueue_intent(RESET_KIND, organiser.email, payload, now=now)
    return True


def render_password_reset(row) -> bytes | None:
    """The reset (or invitation) email, built by the mail worker: a link that lives an hour from the
    request and works while the password is still the one it replaces; nothing for an organiser who
    is gone or deactivated since."""
    organiser = db.session.get(Organiser, row.payload["o"])
    if organiser is None or not organiser.active:
        return None
    issued = datetime.fromtimestamp(row.payload["t"], UTC)
    invitation = bool(row.payload.get("invitation"))
    with in_language(row.payload.get("lang")):
        site = current_app.config.get("SITE_NAME", "")
        context = {
            "organiser": organiser,
            "site_name": site,
            "reset_url": external_url("admin.password_reset", token=reset_token(organiser, issued)),
            "login_url": external_url("admin.login"),
            "minutes": int(RESET_LIFETIME.total_seconds() // 60),
            "invitation": invitation,
        }
        subject = (
            _("You have an organiser account on %(site)s", site=site)
            if invitation
            else _("Choose a new password for %(site)s", site=site)
        )
        message = build_email(
            to=row.to_address,
            subject=subject,
            text=render_template("emails/admin/password_reset.txt", **context),
            html=render_template("emails/admin/password_reset.html", **context),
        )
    return message_bytes(message)


def reset_password(organiser: Organiser, password: str) -> None:
    """The new password; every session the organiser had ends, and every reset link stops working."""
    organiser.password_hash = hash_password(password)
    organiser.end_sessions()
