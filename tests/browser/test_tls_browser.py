"""Every POST form in real Chromium over HTTPS, served as production serves it.

The app runs in gunicorn processes with WEBINARS_ENV=production (secure cookies, HSTS, a real
SECRET_KEY) and a `mail send --loop` worker process, on SQLite and on PostgreSQL, in two deployments:

- direct: gunicorn terminates TLS itself (--certfile/--keyfile, a throwaway CA made by the test);
- proxy: a TLS reverse proxy in front (tests._support.tls) talks plain HTTP to gunicorn, sets
  X-Forwarded-Proto and X-Forwarded-For and keeps Host, and the app trusts it with PROXY_COUNT=1.

Over HTTPS Flask-WTF also checks that each POST's Referer is our own origin, so a referrer policy
that sends none (no-referrer) breaks the form with "This form has expired". Each step's outcome
is checked in the database and in the mail the SMTP server received, not only on the page.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests._support.live_server import gunicorn_server, live_config, mail_worker
from tests._support.tls import TlsReverseProxy, certificates

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ORGANISER = "olga@example.org"
PASSWORD = "a long enough passphrase"


def _link(text: str, base: str, path: str) -> str:
    match = re.search(re.escape(base) + path + r"[A-Za-z0-9._~%-]+", text)
    assert match, f"no {base}{path} link in:\n{text}"
    return match.group(0)


class TlsSite:
    def __init__(self, url: str, app, smtp, proxy: TlsReverseProxy | None):
        self.url = url
        self.app = app
        self.smtp = smtp
        self.proxy = proxy

    def query(self, statement):
        from webinars.extensions import db

        with self.app.app_context():
            try:
                return db.session.execute(statement).all()
            finally:
                db.session.remove()


@pytest.fixture(params=["direct", "proxy"])
def tls_site(request, app, smtp_server, tmp_path):
    """The app in production trim behind TLS, with a mail worker; yields a TlsSite."""
    from tests.factories import make_topic, make_webinar
    from webinars.admin.auth import hash_password
    from webinars.admin.models import Organiser
    from webinars.database import utcnow
    from webinars.extensions import db

    with app.app_context():
        make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=30), time(15, 0)),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            capacity=20,
            slug="care-coops",
            title="Care co-operatives over TLS",
        )
        make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=31), time(9, 0)),
            timezone="Asia/Tokyo",
            capacity=2,
            slug="high-demand",
            title="A high-demand panel",
            confirm_registrations=True,
        )
        make_topic("housing", "Housing")
        make_topic("energy", "Energy")
        db.session.add(
            Organiser(email=ORGANISER, name="Olga", password_hash=hash_password(PASSWORD), active=True, role="owner")
        )
        db.session.commit()

    certs = certificates(tmp_path / "tls")
    secret = secrets.token_hex(32)
    production = {"WEBINARS_ENV": "production", "SECRET_KEY": secret}
    config = live_config(app.config["SQLALCHEMY_DATABASE_URI"], smtp_server.port, "", SECRET_KEY=secret)
    proxy = None
    if request.param == "direct":
        server = gunicorn_server(config, tmp_path, workers=2, threads=4, certs=certs, env=production)
        url = server.url
    else:
        server = gunicorn_server({**config, "PROXY_COUNT": 1}, tmp_path, workers=2, threads=4, env=production)
        proxy = TlsReverseProxy(server.port, certs)
        url = proxy.url
    config["BASE_URL"] = server.config["BASE_URL"] = url  # links in emails point where the browser goes
    worker = mail_worker(config, tmp_path, env=production)
    try:
        server.start(wait=False)
        worker.start(wait=False)
        server.wait_ready()
        if proxy is not None:
            proxy.start()
        yield TlsSite(url, app, smtp_server, proxy)
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        worker.stop()


@pytest.fixture
def tls_page(chromium):
    context = chromium.new_context(ignore_https_errors=True, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(20_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def test_every_public_and_admin_form_works_over_https(tls_site, tls_page):
    from webinars.admin.models import Organiser
    from webinars.catalogue.models import Webinar
    from webinars.newsletter.models import Subscriber
    from webinars.ratelimit import RateLimitCounter
    from webinars.registrations.models import Registration

    page, site = tls_page, tls_site
    response = page.goto(site.url + "/webinars/care-coops")
    assert response.ok and response.url.startswith("https://")
    assert response.headers["strict-transport-security"].startswith("max-age=")

    # Register.
    form = page.locator("form[action$='/register']")
    form.get_by_label("Your name").fill("Ana Lima")
    form.get_by_label("Email address").fill("ana@example.org")
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for registering")
    assert site.query(select(Registration.email, Registration.status)) == [("ana@example.org", "confirmed")]

    # Cancel from the manage page whose link came by email.
    [confirmation] = site.smtp.wait_for(1, timeout=30)
    manage = _link(confirmation.body("plain"), site.url, "/registrations/")
    page.goto(manage)
    expect(page.locator(".status")).to_contain_text("Confirmed")
    page.get_by_role("button", name="Cancel my registration").click()
    expect(page.locator(".status")).to_contain_text("Cancelled")
    assert site.query(select(Registration.status)) == [("cancelled",)]
    cancellation = site.smtp.wait_for(2, timeout=30)[1]
    assert cancellation.subject.startswith("Registration cancelled")

    # A webinar that holds seats until the address is confirmed: the link's button confirms.
    page.goto(site.url + "/webinars/high-demand")
    form = page.locator("form[action$='/register']")
    form.get_by_label("Your name").fill("Kenji Sato")
    form.get_by_label("Email address").fill("kenji@example.org")
    form.get_by_role("button", name="Register").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for registering")
    hold = site.smtp.wait_for(3, timeout=30)[2]
    assert hold.subject.startswith("Please confirm your seat")
    page.goto(_link(hold.body("plain"), site.url, "/registrations/") + "/confirm")
    page.get_by_role("button", name="Confirm my seat").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your seat is confirmed")
    statuses = site.query(select(Registration.email, Registration.status).order_by(Registration.id))
    assert statuses == [("ana@example.org", "cancelled"), ("kenji@example.org", "confirmed")]
    assert site.smtp.wait_for(4, timeout=30)[3].subject.startswith("Registration confirmed")

    # Newsletter: sign up, confirm from the email, choose topics, unsubscribe.
    page.goto(site.url + "/newsletter")
    page.get_by_label("Email address").fill("mei@example.org")
    page.locator("input[name=consent]").check()
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    opt_in = site.smtp.wait_for(5, timeout=30)[4]
    assert opt_in.rcpt_tos == ("mei@example.org",)
    page.goto(_link(opt_in.body("plain"), site.url, "/newsletter/confirm/"))
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
    assert site.query(select(Subscriber.status)) == [("subscribed",)]

    page.get_by_role("link", name="Choose your topics").click()
    # The confirmation request carries no unsubscribe link (nothing to leave yet); every later newsletter's
    # link carries the same key as this preferences page.
    unsubscribe_url = page.url.replace("/newsletter/preferences/", "/newsletter/unsubscribe/")
    page.get_by_label("Housing").check()
    page.get_by_role("button", name="Save my topics").click()
    expect(page.get_by_role("status")).to_contain_text("Your topics are saved")
    with site.app.app_context():
        from webinars.extensions import db

        subscriber = db.session.scalar(select(Subscriber))
        assert [topic.slug for topic in subscriber.topics] == ["housing"]
        db.session.remove()

    page.goto(unsubscribe_url)
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    assert site.query(select(Subscriber.status)) == [("unsubscribed",)]

    # Admin: sign in, edit a webinar, sign out.
    page.goto(site.url + "/admin/")
    page.get_by_label("Email address").fill(ORGANISER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {ORGANISER}")).to_be_visible()
    [(webinar_id,)] = site.query(select(Webinar.id).where(Webinar.slug == "care-coops"))
    page.goto(f"{site.url}/admin/webinars/{webinar_id}/edit")
    page.get_by_label("Title", exact=True).fill("Care co-operatives, renamed over TLS")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    assert site.query(select(Webinar.title).where(Webinar.id == webinar_id)) == [
        ("Care co-operatives, renamed over TLS",)
    ]
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You have signed out.")).to_be_visible()
    page.goto(site.url + "/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert site.query(select(Organiser.email)) == [(ORGANISER,)]

    # The client the rate limits saw is the browser's address: behind the proxy (which connects from
    # PROXY_SOURCE_ADDRESS) only PROXY_COUNT=1 and its X-Forwarded-For give it.
    clients = site.query(select(RateLimitCounter.key).where(RateLimitCounter.bucket == "registration-client"))
    assert clients == [("127.0.0.1",)]
    if site.proxy is not None:
        assert site.proxy.requests >= 15  # the browser really went through the proxy
