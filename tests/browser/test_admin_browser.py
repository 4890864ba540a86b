"""The organisers' area on a phone: every admin table fits a 390 px wide screen in real Chromium."""

from datetime import datetime, time, timedelta

import pytest

from tests.test_admin import EMAIL, PASSWORD, make_organiser

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def busy_site(live_site):
    """The demo site with an organiser, a full webinar with long names and addresses on its waiting
    list, subscribers, a campaign and some history: every admin table has rows to lay out."""
    from tests.factories import make_webinar
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter.models import Subscriber
    from webinars.newsletter.operations import create_campaign, expand_campaign
    from webinars.outbox.models import OutboxMessage
    from webinars.registrations.operations import register

    app = live_site.app
    make_organiser(app)
    with app.app_context():
        webinar = make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=20), time(9, 0)),
            display_zones=["Europe/Paris", "Asia/Tokyo", "America/New_York", "Australia/Sydney"],
            capacity=2,
            title="Social and solidarity economy ecosystems: a very long title that has to wrap somewhere",
        )
        for n in range(5):
            register(
                webinar,
                name=f"Maria-Fernanda de los Santos Rodríguez {n}",
                email=f"maria.fernanda.de.los.santos.rodriguez.{n}@universidad-autonoma-de-ejemplo.example.org",
                organisation="Confederación Empresarial Española de la Economía Social",
                country="Spain",
                timezone="Europe/Madrid",
                now=utcnow(),
            )
        for n in range(3):
            db.session.add(
                Subscriber(
                    email=f"a.rather.long.subscriber.address.{n}@newsletter-readers.example.org",
                    name="Subscriber with a long name",
                    status="subscribed",
                    confirmed_at=utcnow(),
                )
            )
        # A message that could not be delivered, with the kind of reason an SMTP server gives.
        db.session.add(
            OutboxMessage(
                kind="registration_confirmed",
                to_address="maria.fernanda.de.los.santos.rodriguez.9@universidad-autonoma-de-ejemplo.example.org",
                raw=b"x",
                status="failed",
                attempts=15,
                last_error="RCPT 550 5.1.1 <maria.fernanda...@universidad-autonoma-de-ejemplo.example.org>: "
                "Recipient address rejected: User unknown in virtual mailbox table",
            )
        )
        db.session.commit()
        campaign = create_campaign("Our next webinars on the social economy", "Hello", [], created_by=EMAIL)
        db.session.commit()
        expand_campaign(campaign)
        return webinar.id, campaign.id


def test_every_admin_table_fits_a_390_px_phone(live_site, busy_site, chromium, shot):
    webinar_id, campaign_id = busy_site
    context = chromium.new_context(viewport=PHONE, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto(live_site.link("/admin/login"))
        page.get_by_label("Email address").fill(EMAIL)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(live_site.link("/admin/"))
        # Something in the webinar's history: a seat given by hand.
        page.goto(live_site.link(f"/admin/webinars/{webinar_id}/registrations"))
        page.get_by_role("link", name="Give a seat…").first.click()
        page.get_by_label("Yes, give a seat beyond the capacity").check()
        page.get_by_role("button", name="Give the seat").click()
        for path in (
            "/admin/",
            f"/admin/webinars/{webinar_id}",
            f"/admin/webinars/{webinar_id}/registrations",
            "/admin/newsletter",
            "/admin/newsletter/campaigns",
            f"/admin/newsletter/campaigns/{campaign_id}",
            "/admin/history",
            "/admin/mail",
            "/admin/content",
            "/admin/topics",
        ):
            page.goto(live_site.link(path))
            assert page.locator("table").count() > 0, path
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide on a {PHONE['width']} px screen"
            for table in page.locator("table").all():
                box = table.bounding_box()
                assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], (path, box)
        page.goto(live_site.link(f"/admin/webinars/{webinar_id}/registrations"))
        shot(page, "admin-registrations-phone")
    finally:
        context.close()
