"""Organisers' sessions can be ended: sign-out, a new password and deactivation end every session
(a copied cookie included), sessions have an absolute lifetime and an idle timeout, and the
session key can be rotated without breaking the links already in people's mailboxes."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from tests._support.forms import csrf_token_from_html, post_form
from tests.conftest import _dispose
from tests.test_admin import EMAIL, make_organiser, sign_in
from webinars.admin.auth import SEEN_AT, SIGNED_IN_AT
from webinars.database import utcnow

CSV = "/admin/newsletter/subscribers.csv"


def copy_of(app, client):
    """Another browser holding a copy of `client`'s session cookie (as a thief would)."""
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return thief


def can_export(client) -> bool:
    response = client.get(CSV)
    if response.status_code == 200:
        assert response.mimetype == "text/csv"
        return True
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    return False


@pytest.fixture
def organiser(app):
    make_organiser(app)
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


def test_a_copied_session_cookie_stops_working_after_sign_out(app, organiser):
    thief = copy_of(app, organiser)
    assert can_export(thief)
    assert post_form(organiser, "/admin/logout", form_url="/admin/").status_code == 302
    assert not can_export(thief)
    assert not can_export(organiser)


def test_a_copied_session_cookie_stops_working_after_a_password_change(app, organiser, runner):
    thief = copy_of(app, organiser)
    assert can_export(thief)
    result = runner.invoke(args=["admin", "set-password", EMAIL], input="another long passphrase\n")
    assert result.exit_code == 0, result.output
    assert "every session they had has ended" in result.output
    assert not can_export(thief)
    assert not can_export(organiser)
    assert sign_in(app.test_client(), password="another long passphrase").status_code == 302


def test_signing_out_on_one_device_ends_the_others_too(app, organiser):
    laptop = app.test_client()
    assert sign_in(laptop).status_code == 302
    assert post_form(organiser, "/admin/logout", form_url="/admin/").status_code == 302
    assert not can_export(laptop)


def test_deactivation_ends_every_session_and_activation_lets_the_organiser_sign_in_again(app, organiser, runner):
    thief = copy_of(app, organiser)
    result = runner.invoke(args=["admin", "deactivate", EMAIL.upper()])
    assert result.exit_code == 0, result.output
    assert not can_export(organiser)
    assert not can_export(thief)
    assert sign_in(app.test_client()).status_code == 401  # the same answer as a wrong password
    assert runner.invoke(args=["admin", "activate", EMAIL]).exit_code == 0
    client = app.test_client()
    assert sign_in(client).status_code == 302
    assert can_export(client)
    assert not can_export(thief)  # reactivating does not bring old sessions back
    unknown = runner.invoke(args=["admin", "deactivate", "nobody@example.org"])
    assert unknown.exit_code != 0 and "No organiser has the address" in unknown.output


def _age(client, *, signed_in_minutes: int, seen_minutes: int) -> None:
    now = int(utcnow().timestamp())
    with client.session_transaction() as session:
        session[SIGNED_IN_AT] = now - signed_in_minutes * 60
        session[SEEN_AT] = now - seen_minutes * 60


@pytest.mark.app_config(ADMIN_SESSION_LIFETIME_MINUTES=720, ADMIN_SESSION_IDLE_MINUTES=120)
def test_a_session_ends_after_its_lifetime_however_active(app, organiser):
    _age(organiser, signed_in_minutes=719, seen_minutes=1)
    assert can_export(organiser)
    _age(organiser, signed_in_minutes=721, seen_minutes=1)
    assert not can_export(organiser)


@pytest.mark.app_config(ADMIN_SESSION_LIFETIME_MINUTES=720, ADMIN_SESSION_IDLE_MINUTES=120)
def test_a_session_ends_when_left_unused_and_use_keeps_it_alive(app, organiser):
    _age(organiser, signed_in_minutes=300, seen_minutes=119)
    assert can_export(organiser)  # used just in time: the idle clock starts again
    with organiser.session_transaction() as session:
        assert int(utcnow().timestamp()) - session[SEEN_AT] < 60
    _age(organiser, signed_in_minutes=300, seen_minutes=121)
    assert not can_export(organiser)


def test_a_forged_or_old_style_user_id_is_no_session(app, organiser):
    with organiser.session_transaction() as session:
        session["_user_id"] = session["_user_id"].split(":")[0]  # as before session versions
    assert not can_export(organiser)


# -- keys -----------------------------------------------------------------------------------------


@contextmanager
def app_with(app, **keys):
    """The same site (same database) started with other keys."""
    from webinars import create_app

    config = {name: app.config[name] for name in ("SQLALCHEMY_DATABASE_URI", "MAIL_SERVER", "MAIL_PORT", "BASE_URL")}
    other = create_app({"TESTING": True, **config, **keys})
    try:
        yield other
    finally:
        _dispose(other)


def _manage_path(app) -> str:
    from tests.factories import make_webinar
    from webinars.extensions import db
    from webinars.registrations.models import Registration
    from webinars.registrations.notifications import manage_token

    with app.app_context():
        registration = Registration(webinar=make_webinar(), email="ana@example.org", name="Ana", status="confirmed")
        db.session.add(registration)
        db.session.commit()
        return f"/registrations/{manage_token(registration)}"


OLD, NEW, NEWER = "old-session-key-0123456789", "new-session-key-0123456789", "newer-link-key-0123456789"


def test_rotating_the_session_key_keeps_mailed_links_and_ends_sessions(app):
    with app_with(app, SECRET_KEY=OLD) as before:
        make_organiser(before)
        link = _manage_path(before)
        organiser = before.test_client()
        assert sign_in(organiser).status_code == 302
        cookie = organiser.get_cookie("session").value

    # The link key is pinned to the old key, the session key replaced: links live, sessions end.
    with app_with(app, SECRET_KEY=NEW, LINK_SECRET_KEY=OLD) as after:
        client = after.test_client()
        assert client.get(link).status_code == 200
        client.set_cookie("session", cookie)
        assert not can_export(client)
        # Links made now are signed with the link key too.
        assert after.test_client().get(_manage_path(after)).status_code == 200

    # Without pinning the link key, the same rotation would have broken every link (hence the setting).
    with app_with(app, SECRET_KEY=NEW) as careless:
        assert careless.test_client().get(link).status_code == 404


def test_old_session_keys_in_the_fallbacks_keep_sessions_and_open_forms_working(app):
    with app_with(app, SECRET_KEY=OLD) as before:
        make_organiser(before)
        organiser = before.test_client()
        assert sign_in(organiser).status_code == 302
        token = csrf_token_from_html(organiser.get("/admin/").get_data(as_text=True))
        cookie = organiser.get_cookie("session").value  # with the raw CSRF value the form's token signs

    with app_with(app, SECRET_KEY=NEW, SECRET_KEY_FALLBACKS=[OLD]) as after:
        client = after.test_client()
        client.set_cookie("session", cookie)
        assert can_export(client)
        # A form rendered before the rotation still posts (its CSRF token was signed with the old key).
        response = client.post("/admin/logout", data={"csrf_token": token})
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]


def test_link_keys_rotate_with_their_own_fallbacks(app):
    with app_with(app, SECRET_KEY=OLD) as before:
        link = _manage_path(before)
    with app_with(app, SECRET_KEY=NEW, LINK_SECRET_KEY=NEWER, LINK_SECRET_KEY_FALLBACKS=[OLD]) as after:
        client = after.test_client()
        assert client.get(link).status_code == 200
        fresh = _manage_path(after)
    with app_with(app, SECRET_KEY=NEW, LINK_SECRET_KEY=NEWER) as later:
        client = later.test_client()
        assert client.get(fresh).status_code == 200  # signed with the newer key
        assert client.get(link).status_code == 404  # the old key was retired
