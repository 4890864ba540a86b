"""Security headers on every response, templates that a strict CSP can serve, and cookie flags."""

import re
from pathlib import Path

import pytest

from tests.factories import make_webinar

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"


def _directives(policy: str) -> dict[str, list[str]]:
    out = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            out[words[0].lower()] = words[1:]
    return out


def assert_secure_headers(response, where: str) -> None:
    headers = response.headers
    policy = headers.get("Content-Security-Policy")
    assert policy, f"{where}: no Content-Security-Policy"
    directives = _directives(policy)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, f"{where}: CSP restricts no scripts: {policy}"
    for unsafe in ("'unsafe-inline'", "'unsafe-eval'", "*", "data:", "http:", "https:"):
        assert unsafe not in scripts, f"{where}: script-src allows {unsafe}"
    assert directives.get("object-src") == ["'none'"], f"{where}: {policy}"
    assert directives.get("frame-ancestors") == ["'none'"], f"{where}: {policy}"
    assert "'unsafe-inline'" not in directives.get("style-src", directives.get("default-src", [])), where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    # Never no-referrer: over HTTPS Flask-WTF refuses a POST that carries no same-origin Referer.
    assert headers.get("Referrer-Policy") in {"strict-origin-when-cross-origin", "same-origin"}, where
    assert headers.get("X-Frame-Options") == "DENY", where


def _sample_value(name: str, converter: str, slug: str) -> str | int:
    if converter == "int" or name.endswith("_id") or name == "id":
        return 1
    if name == "slug":
        return slug
    return "not-a-real-token"


def _every_url(app, slug: str) -> list[tuple[str, str]]:
    """(method, url) for every rule of the app, with plausible values for its arguments."""
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            values = {}
            for name in rule.arguments:
                converter = type(rule._converters[name]).__name__.lower().replace("converter", "")
                values[name] = _sample_value(name, converter, slug)
            if rule.endpoint == "static":
                values = {"filename": "css/site.css"}
            url = url_for(rule.endpoint, **values)
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                urls.append((method, url))
    return urls


def test_every_route_answers_with_the_security_headers(sqlite_app):
    with sqlite_app.app_context():
        from webinars.extensions import db

        slug = make_webinar().slug
        db.session.commit()
    client = sqlite_app.test_client()
    urls = _every_url(sqlite_app, slug)
    assert len(urls) > 15
    statuses = set()
    for method, url in urls:
        # POSTs carry no CSRF token: the 400 page needs its headers too.
        response = client.open(url, method=method, data={"x": "1"} if method == "POST" else None)
        response.close()  # static files are streamed from an open file
        statuses.add(response.status_code)
        assert response.status_code < 500, f"{method} {url} -> {response.status_code}"
        assert_secure_headers(response, f"{method} {url} ({response.status_code})")
    # The walk reached pages, redirects and error pages alike.
    assert {200, 400, 404} <= statuses


@pytest.mark.parametrize("path", ["/", "/calendar.ics", "/static/css/site.css", "/static/js/timezone.js", "/nowhere"])
def test_static_files_feeds_and_errors_carry_the_headers_too(sqlite_app, path):
    with sqlite_app.test_client().get(path) as response:
        assert_secure_headers(response, path)


def test_method_not_allowed_and_server_errors_carry_the_headers(sqlite_app):
    @sqlite_app.get("/_fails")
    def boom():
        raise RuntimeError("boom")

    client = sqlite_app.test_client()
    response = client.delete("/")
    assert response.status_code == 405
    assert_secure_headers(response, "405")

    response = client.get("/_fails")
    assert response.status_code == 500
    assert "boom" not in response.get_data(as_text=True)
    assert_secure_headers(response, "500")


# -- referrer policy ----------------------------------------------------------------------------


def test_pages_whose_address_is_a_key_keep_their_referer_on_the_site(sqlite_app):
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter.models import Subscriber
    from webinars.newsletter.operations import confirm_token, manage_token
    from webinars.registrations.models import Registration
    from webinars.registrations.notifications import manage_token as registration_token

    with sqlite_app.app_context():
        webinar = make_webinar()
        registration = Registration(webinar=webinar, email="ana@example.org", name="Ana", status="confirmed")
        subscriber = Subscriber(email="mei@example.org", status="pending")
        db.session.add_all([registration, subscriber])
        db.session.commit()
        private = [
            f"/registrations/{registration_token(registration)}",
            "/registrations/not-a-real-token",  # the error page of a bad key too
            f"/newsletter/confirm/{confirm_token(subscriber, utcnow())}",
            f"/newsletter/preferences/{manage_token(subscriber)}",
            f"/newsletter/unsubscribe/{manage_token(subscriber)}",
            "/admin/login",
        ]
        public = ["/", f"/webinars/{webinar.slug}", "/newsletter", "/calendar.ics", "/nowhere"]
    client = sqlite_app.test_client()
    for url in private:
        response = client.get(url)
        assert response.status_code < 500, url
        # same-origin: nothing leaves the site, and our own forms still send the Referer HTTPS needs.
        assert response.headers["Referrer-Policy"] == "same-origin", url
    for url in public:
        assert client.get(url).headers["Referrer-Policy"] == "strict-origin-when-cross-origin", url


def test_cancelling_over_https_with_the_referer_a_same_origin_policy_sends_works(sqlite_app):
    """Flask-WTF's HTTPS referrer check, through the test client: the POST carries the manage page's
    own address as Referer, as a browser does under `same-origin` (under no-referrer it sends none)."""
    from tests._support.forms import csrf_token_from_html
    from webinars.extensions import db
    from webinars.registrations.models import Registration
    from webinars.registrations.notifications import manage_token

    with sqlite_app.app_context():
        registration = Registration(webinar=make_webinar(), email="ana@example.org", name="Ana", status="confirmed")
        db.session.add(registration)
        db.session.commit()
        url = f"/registrations/{manage_token(registration)}"
        registration_id = registration.id
    https = "https://webinars.test"
    client = sqlite_app.test_client()
    page = client.get(url, base_url=https)
    assert page.headers["Referrer-Policy"] == "same-origin"
    token = csrf_token_from_html(page.get_data(as_text=True))
    refused = client.post(url, data={"csrf_token": token}, base_url=https)
    assert refused.status_code == 400  # what no-referrer led to: no Referer, refused
    response = client.post(url, data={"csrf_token": token}, base_url=https, headers={"Referer": https + url})
    assert response.status_code == 303
    with sqlite_app.app_context():
        assert db.session.get(Registration, registration_id).status == "cancelled"


# -- templates the CSP can serve ----------------------------------------------------------------

_INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc\s*=)[^>]*>", re.IGNORECASE)
_EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.IGNORECASE | re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.IGNORECASE | re.DOTALL)
_STYLE_ELEMENT = re.compile(r"<style\b", re.IGNORECASE)
_JS_URL = re.compile(r"""(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE)


def _page_templates() -> list[Path]:
    # Emails are not served under our CSP (mail clients need inline styles); pages are.
    return sorted(p for p in TEMPLATES.rglob("*.html") if "emails" not in p.relative_to(TEMPLATES).parts)


def test_there_are_page_templates_to_check():
    names = {p.relative_to(TEMPLATES).as_posix() for p in _page_templates()}
    assert {"base.html", "catalogue/webinar.html", "errors/error.html"} <= names


@pytest.mark.parametrize("template", _page_templates(), ids=lambda p: p.relative_to(TEMPLATES).as_posix())
def test_page_templates_have_no_inline_script_handlers_or_styles(template: Path):
    # Jinja comments may mention these words; only markup counts.
    text = re.sub(r"\{#.*?#\}", "", template.read_text(), flags=re.DOTALL)
    problems = [
        what
        for what, pattern in [
            ("inline <script>", _INLINE_SCRIPT),
            ("on*= event handler", _EVENT_HANDLER),
            ("style= attribute", _STYLE_ATTRIBUTE),
            ("<style> element", _STYLE_ELEMENT),
            ("javascript: URL", _JS_URL),
        ]
        if pattern.search(text)
    ]
    assert not problems, f"{template.relative_to(ROOT)}: {', '.join(problems)} (blocked by the CSP)"


def test_the_checks_catch_what_they_look_for():
    assert _INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not _INLINE_SCRIPT.search('<script src="/static/js/x.js" defer></script>')
    assert _EVENT_HANDLER.search('<button type="submit"\n onclick="go()">')
    assert not _EVENT_HANDLER.search('<a href="/x" data-one="1">')
    assert _STYLE_ATTRIBUTE.search('<p class="x" style="color: red">')
    assert _JS_URL.search('<a href="javascript:void(0)">')


# -- cookies ------------------------------------------------------------------------------------


def _session_cookie(response, name: str = "session") -> str:
    cookies = [v for v in response.headers.getlist("Set-Cookie") if v.startswith(name + "=")]
    assert cookies, f"no {name} cookie set; got {response.headers.getlist('Set-Cookie')}"
    return cookies[0]


def _flags(cookie: str) -> dict[str, str]:
    parts = [p.strip() for p in cookie.split(";")[1:]]
    return {p.split("=", 1)[0].lower(): (p.split("=", 1)[1] if "=" in p else "") for p in parts}


def test_session_cookie_is_httponly_and_samesite_lax(sqlite_app):
    response = sqlite_app.test_client().get("/newsletter")  # a form: its CSRF token lives in the session
    flags = _flags(_session_cookie(response))
    assert "httponly" in flags
    assert flags.get("samesite") == "Lax"


def test_production_cookies_are_secure_httponly_and_lax(sqlite_app, monkeypatch):
    from webinars import create_app

    monkeypatch.setenv("WEBINARS_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 64)
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": sqlite_app.config["SQLALCHEMY_DATABASE_URI"],
            "BASE_URL": "https://webinars.example.org",  # production answers only for its own host
        }
    )
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
        assert app.config["REMEMBER_COOKIE_SECURE"] is True
        client = app.test_client()
        response = client.get("/newsletter", base_url="https://webinars.example.org")
        flags = _flags(_session_cookie(response))
        assert {"secure", "httponly"} <= flags.keys()
        assert flags["samesite"] == "Lax"
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert_secure_headers(response, "production")
        # The zone cookie is only a preference, but it gets the same care.
        response = client.get("/?tz=Asia/Tokyo", base_url="https://webinars.example.org")
        flags = _flags(_session_cookie(response, "tz"))
        assert {"secure", "httponly"} <= flags.keys()
        assert flags["samesite"] == "Lax"
    finally:
        from tests.conftest import _dispose

        _dispose(app)


@pytest.mark.parametrize("path", ["/admin", "/admin/", "/newsletter/", "/admin/webinars/1/"])
def test_redirects_never_name_the_host_the_client_sent(sqlite_app, path):
    response = sqlite_app.test_client().get(path, headers={"Host": "evil.example"})
    assert response.status_code in (301, 302, 303, 307, 308, 404), response.status_code
    location = response.headers.get("Location", "")
    assert "evil" not in location and "evil" not in response.get_data(as_text=True)
    if location:
        assert location.startswith("/") and not location.startswith("//"), location


def test_a_forged_host_gets_a_400_in_production(sqlite_app, monkeypatch):
    from webinars import create_app

    monkeypatch.setenv("WEBINARS_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "p" * 64)
    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": sqlite_app.config["SQLALCHEMY_DATABASE_URI"], "BASE_URL": "https://forum.example"}
    )
    try:
        client = app.test_client()
        forged = client.get("/admin", headers={"Host": "evil.example"}, base_url="https://evil.example")
        assert forged.status_code == 400
        assert "evil" not in forged.headers.get("Location", "") and "evil" not in forged.get_data(as_text=True)
        assert client.get("/admin", base_url="https://forum.example").status_code == 308
    finally:
        from tests.conftest import _dispose

        _dispose(app)
