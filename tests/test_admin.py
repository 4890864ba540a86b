"""The organisers' area: creating organisers, signing in and out, throttling, and that nothing leaks."""

import re

import pytest
from werkzeug.routing import BaseConverter, IntegerConverter

from tests._support.forms import csrf_token, csrf_token_from_html, post_form
from webinars.admin.auth import hash_password
from webinars.admin.models import Organiser
from webinars.extensions import db

EMAIL = "organiser@example.org"
PASSWORD = "a long enough passphrase"


def make_organiser(app, email: str = EMAIL, password: str = PASSWORD, active: bool = True, role: str = "owner") -> int:
    with app.app_context():
        organiser = Organiser(
            email=email, name="Olga Organiser", password_hash=hash_password(password), active=active, role=role
        )
        db.session.add(organiser)
        db.session.commit()
        return organiser.id


def sign_in(client, email: str = EMAIL, password: str = PASSWORD):
    return post_form(client, "/admin/login", {"email": email, "password": password})


def signed_in(app, client):
    """The client, signed in as a new organiser."""
    make_organiser(app)
    response = sign_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


# -- the create command ------------------------------------------------------------------------


def test_create_command_reads_the_password_from_stdin_and_stores_a_strong_hash(app, runner):
    args = ["admin", "create", "New.Person@Example.org", "--password-stdin"]
    result = runner.invoke(args=args, input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        organiser = db.session.scalar(db.select(Organiser))
        assert organiser.email == "new.person@example.org"
        assert organiser.password_hash.startswith("scrypt:")
        assert PASSWORD not in organiser.password_hash
    client = app.test_client()
    assert sign_in(client, "new.person@example.org").status_code == 302


def test_create_command_without_a_terminal_reads_stdin_too(app, runner):
    result = runner.invoke(args=["admin", "create", "piped@example.org"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created organiser piped@example.org" in result.output


def test_create_command_refuses_short_passwords_bad_addresses_and_duplicates(app, runner):
    short = runner.invoke(args=["admin", "create", "a@example.org"], input="short\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    bad = runner.invoke(args=["admin", "create", "not-an-address"], input=PASSWORD + "\n")
    assert bad.exit_code != 0 and "not a valid email address" in bad.output
    assert runner.invoke(args=["admin", "create", "a@example.org"], input=PASSWORD + "\n").exit_code == 0
    again = runner.invoke(args=["admin", "create", "A@example.org"], input=PASSWORD + "\n")
    assert again.exit_code != 0 and "already exists" in again.output


def test_set_password_replaces_the_old_one(app, runner):
    make_organiser(app)
    result = runner.invoke(args=["admin", "set-password", EMAIL], input="another long passphrase\n")
    assert result.exit_code == 0, result.output
    assert sign_in(app.test_client()).status_code == 401
    assert sign_in(app.test_client(), password="another long passphrase").status_code == 302


# -- signing in and out ------------------------------------------------------------------------


def test_login_page_has_a_csrf_protected_form(client):
    page = client.get("/admin/login").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    assert client.post("/admin/login", data={"email": EMAIL, "password": PASSWORD}).status_code == 400


def test_organiser_signs_in_and_out(app, client):
    make_organiser(app)
    response = sign_in(client)
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    assert "Signed in as organiser@example.org" in client.get("/admin/").get_data(as_text=True)
    # Logging out is a POST with the CSRF token; a GET does nothing.
    assert client.get("/admin/logout").status_code == 405
    response = post_form(client, "/admin/logout", form_url="/admin/")
    assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
    assert client.get("/admin/").status_code == 302


def test_wrong_password_and_unknown_address_get_the_same_answer(app, client):
    make_organiser(app)
    wrong = sign_in(client, password="not the password at all")
    unknown = sign_in(client, email="nobody@example.org")
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email address or password." in wrong.get_data(as_text=True)
    assert "Wrong email address or password." in unknown.get_data(as_text=True)
    # The address typed is kept in the form.
    assert 'value="nobody@example.org"' in unknown.get_data(as_text=True)


def test_inactive_organiser_cannot_sign_in(app, client):
    make_organiser(app, active=False)
    assert sign_in(client).status_code == 401


def test_login_goes_back_to_the_page_asked_for_but_never_to_another_site(app, client):
    make_organiser(app)
    response = client.get("/admin/newsletter")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    assert "/admin/login?next=" in login_url
    response = post_form(client, login_url, {"email": EMAIL, "password": PASSWORD})
    assert response.headers["Location"] == "/admin/newsletter"
    post_form(client, "/admin/logout", form_url="/admin/")
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        response = post_form(client, f"/admin/login?next={evil}", {"email": EMAIL, "password": PASSWORD})
        assert response.headers["Location"] == "/admin/", evil
        post_form(client, "/admin/logout", form_url="/admin/")


def sign_in_from(app, client_address: str, email: str = EMAIL, password: str = PASSWORD):
    """Sign in from another client (its own session and address)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = client_address
    return sign_in(client, email, password)


@pytest.mark.app_config(ADMIN_LOGIN_FREE_ATTEMPTS=3)
def test_repeated_failures_from_one_client_are_throttled_even_with_the_right_password(app, client):
    make_organiser(app)
    for _ in range(3):
        assert sign_in(client, password="wrong password here").status_code == 401
    response = sign_in(client)
    assert response.status_code == 429
    assert "You have tried this too often" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "30"
    # Another address from the same client is not locked out by those three.
    make_organiser(app, email="other@example.org")
    assert sign_in(client, email="other@example.org").status_code == 302


@pytest.mark.app_config(ADMIN_LOGIN_FREE_ATTEMPTS=2)
def test_delays_between_tries_grow_after_the_free_ones(app, client):
    from sqlalchemy import update

    from webinars.ratelimit import RateLimitBackoff

    def time_passes():
        # As if the delay had run out: the next try is accepted from now.
        with app.app_context():
            db.session.execute(update(RateLimitBackoff).values(not_before=RateLimitBackoff.last_at))
            db.session.commit()

    make_organiser(app)
    wrong = "wrong password here"
    assert [sign_in(client, password=wrong).status_code for _ in range(2)] == [401, 401]  # the free tries
    waits = []
    for _ in range(3):
        response = sign_in(client, password=wrong)
        assert response.status_code == 429
        waits.append(int(response.headers["Retry-After"]))
        time_passes()
        assert sign_in(client, password=wrong).status_code == 401
    assert waits == [30, 60, 120]


@pytest.mark.app_config(ADMIN_LOGIN_FREE_ATTEMPTS=3)
def test_a_strangers_wrong_passwords_do_not_lock_out_the_organiser_on_another_client(app):
    make_organiser(app)
    stranger = app.test_client()
    stranger.environ_base["REMOTE_ADDR"] = "203.0.113.9"
    statuses = [sign_in(stranger, password=f"guess number {n}").status_code for n in range(25)]
    assert statuses[:3] == [401] * 3 and set(statuses[3:]) == {429}
    # The organiser, at their own desk, signs in at once.
    assert sign_in_from(app, "198.51.100.7").status_code == 302


@pytest.mark.app_config(ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS=10)
def test_a_distributed_attack_reaches_the_per_address_ceiling(app):
    make_organiser(app)
    for n in range(10):
        assert sign_in_from(app, f"203.0.113.{n + 1}", password="wrong password here").status_code == 401
    # Only many clients together reach it; then the address waits, the right password included.
    response = sign_in_from(app, "198.51.100.7")
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 3600


@pytest.mark.app_config(ADMIN_LOGIN_MAX_FAILURES_PER_ADDRESS=100, ADMIN_LOGIN_MAX_FAILURES_PER_IP=4)
def test_a_client_guessing_across_many_addresses_is_throttled(app, client):
    make_organiser(app)
    for n in range(4):
        assert sign_in(client, email=f"guess{n}@example.org").status_code == 401
    assert sign_in(client).status_code == 429
    # Another client (another IP) still gets in.
    other = app.test_client()
    response = post_form(
        other,
        "/admin/login",
        {"email": EMAIL, "password": PASSWORD},
        environ_base={"REMOTE_ADDR": "192.0.2.7"},
    )
    assert response.status_code == 302


def test_a_successful_login_clears_the_address_counter(app, client):
    make_organiser(app)
    for _ in range(4):
        sign_in(client, password="wrong password here")
    assert sign_in(client).status_code == 302
    post_form(client, "/admin/logout", form_url="/admin/")
    for _ in range(4):
        assert sign_in(client, password="wrong password here").status_code == 401
    assert sign_in(client).status_code == 302


def test_production_cookies_are_secure_httponly_and_samesite(monkeypatch, sqlite_app, smtp_server):
    from webinars import create_app

    monkeypatch.setenv("WEBINARS_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a-real-secret-key-of-some-length")
    # Production answers only for the host of BASE_URL (TRUSTED_HOSTS).
    keys = ("SQLALCHEMY_DATABASE_URI", "MAIL_SERVER", "MAIL_PORT", "BASE_URL")
    config = {key: sqlite_app.config[key] for key in keys}
    app = create_app(config)
    try:
        assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
        make_organiser(app)
        client = app.test_client()
        https = "https://webinars.test"
        page = client.get("/admin/login", base_url=https).get_data(as_text=True)
        response = client.post(
            "/admin/login",
            data={"email": EMAIL, "password": PASSWORD, "csrf_token": csrf_token_from_html(page)},
            base_url=https,
            headers={"Referer": f"{https}/admin/login"},  # Flask-WTF checks it over HTTPS
        )
        assert response.status_code == 302
        cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        with app.app_context():
            db.session.remove()
            for engine in db.engines.values():
                engine.dispose()


# -- nothing reachable anonymously -------------------------------------------------------------


def _example_url(app, rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        values[name] = 1 if isinstance(converter, IntegerConverter) else "x"
        assert isinstance(converter, BaseConverter)
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


def test_every_admin_route_refuses_anonymous_visitors(app, client):
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")]
    assert len(rules) >= 15  # the whole area, not just a couple of pages
    token = csrf_token(client, "/admin/login")
    checked = 0
    # Signing in and asking for a new password are for people who are not signed in (tests/test_roles.py).
    public = {"admin.login", "admin.password_forgot", "admin.password_reset"}
    for rule in rules:
        if rule.endpoint in public:
            continue
        url = _example_url(app, rule)
        for method in {"GET", "POST"} & set(rule.methods):
            data = {"csrf_token": token} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code in (302, 401, 403), f"{method} {url} answered {response.status_code}"
            if response.status_code == 302:
                assert re.search(r"/admin/login(\?|$)", response.headers["Location"]), (method, url)
            checked += 1
        # Methods a route does not declare are refused too (405), never served.
        for method in {"GET", "POST"} - set(rule.methods):
            assert client.open(url, method=method, data={"csrf_token": token}).status_code in (302, 405)
    assert checked >= 15
