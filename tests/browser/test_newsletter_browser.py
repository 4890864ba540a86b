"""The newsletter in real Chromium: sign up, confirm from the email, unsubscribe from its link."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _link(text: str, base: str, path: str) -> str:
    match = re.search(re.escape(base) + path + r"[A-Za-z0-9._~%-]+", text)
    assert match, f"no {path} link in:\n{text}"
    return match.group(0)


def test_sign_up_confirm_from_the_email_and_unsubscribe(live_site, page, shot):
    from tests._support.live_server import queue_campaign

    # The footer link of every page leads to the sign-up form.
    page.goto(live_site.url + "/")
    page.get_by_role("contentinfo").get_by_role("link", name="Sign up to our newsletter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up to our newsletter")
    page.get_by_label("Email address").fill("mei@example.org")
    page.get_by_label("Name (optional)").fill("Mei")
    page.locator("input[name=topics]").first.check()
    page.locator("input[name=consent]").check()
    shot(page, "newsletter-signup")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    [message] = live_site.smtp.wait_for(1, timeout=30)
    assert message.rcpt_tos == ("mei@example.org",)
    confirm = _link(message.body("plain"), live_site.url, "/newsletter/confirm/")

    # Opening the link only shows a button (mail scanners open links); pressing it confirms.
    page.goto(confirm)
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm your subscription")
    page.get_by_role("button", name="Confirm my subscription").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are subscribed")
    shot(page, "newsletter-confirmed")

    # A campaign reaches her, with an unsubscribe link in its body.
    with live_site.app.app_context():
        queue_campaign("Autumn programme", "Five new webinars.")
    campaign = live_site.smtp.wait_for(2, timeout=30)[1]
    assert campaign.rcpt_tos == ("mei@example.org",)
    assert campaign.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    unsubscribe = _link(campaign.body("plain"), live_site.url, "/newsletter/unsubscribe/")

    page.goto(unsubscribe)
    expect(page.get_by_role("heading", level=1)).to_have_text("Unsubscribe")
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are unsubscribed")
    expect(page.get_by_role("status")).to_contain_text("mei@example.org will receive no more newsletters")

    # The next campaign has nobody to send to.
    with live_site.app.app_context():
        from webinars.extensions import db
        from webinars.newsletter.models import Campaign

        campaign_id = queue_campaign("Winter programme", "More webinars.")
        assert db.session.get(Campaign, campaign_id).recipients_count == 0
