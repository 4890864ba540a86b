"""Registering in real Chromium: the form, the confirmation email, the manage link, cancelling;
and the same registration with the keyboard only."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture
def upcoming(live_site) -> str:
    """An upcoming webinar with open registration; returns its page's path."""
    from tests.factories import make_webinar
    from webinars.database import utcnow
    from webinars.extensions import db

    with live_site.app.app_context():
        webinar = make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=30), time(15, 0)),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            capacity=20,
            title="Care co-operatives: a browser's view",
        )
        db.session.commit()
        return f"/webinars/{webinar.slug}"


def _link(text: str, base: str, path: str) -> str:
    match = re.search(re.escape(base) + path + r"[A-Za-z0-9._~%-]+", text)
    assert match, f"no {path} link in:\n{text}"
    return match.group(0)


def test_register_read_the_email_open_its_link_and_cancel(live_site, upcoming, page, shot):
    page.goto(live_site.url + upcoming)
    form = page.locator("form[action$='/register']")
    form.get_by_label("Your name").fill("Ana Lima")
    form.get_by_label("Email address").fill("ana.lima@example.org")
    form.get_by_label("Organisation").fill("Co-op <Sul>")
    form.get_by_label("Your time zone").select_option("America/Sao_Paulo")
    shot(page, "registration-form")
    form.get_by_role("button", name="Register").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for registering")
    shot(page, "registration-thanks")

    [message] = live_site.smtp.wait_for(1, timeout=30)
    assert message.rcpt_tos == ("ana.lima@example.org",)
    assert message.subject.startswith("Registration confirmed")
    manage = _link(message.body("plain"), live_site.url, "/registrations/")

    page.goto(manage)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your registration")
    expect(page.locator(".status")).to_contain_text("Confirmed")
    expect(page.locator("dd").first).to_have_text("Ana Lima")
    shot(page, "registration-manage")

    page.get_by_role("button", name="Cancel my registration").click()
    expect(page.locator(".status")).to_contain_text("Cancelled")
    expect(page.get_by_role("link", name="Register again")).to_be_visible()

    messages = live_site.smtp.wait_for(2, timeout=30)
    cancellation = messages[1]
    assert cancellation.rcpt_tos == ("ana.lima@example.org",)
    assert cancellation.subject.startswith("Registration cancelled")
    calendars = [p for p in cancellation.message.walk() if p.get_content_type() == "text/calendar"]
    assert calendars and "METHOD:CANCEL" in calendars[0].get_content()


def test_keyboard_only_registration(live_site, upcoming, page):
    page.goto(live_site.url + upcoming)
    # Every field of the form has a label the browser associates with it.
    unlabelled = page.evaluate(
        """() => Array.from(document.querySelectorAll("form[action$='/register'] :is(input, select, textarea)"))
              .filter(el => el.type !== 'hidden' && el.labels.length === 0).map(el => el.name)"""
    )
    assert unlabelled == []

    # From the top of the page, Tab reaches the Register button of the first screen (after the skip link and
    # the menus); Enter on it moves the focus to the form, whose first field is the next Tab.
    def focused() -> str:
        return page.evaluate("() => document.activeElement.id || document.activeElement.tagName")

    def focused_text() -> str:
        return page.evaluate("() => document.activeElement.textContent.trim()")

    for _ in range(30):
        page.keyboard.press("Tab")
        if focused_text() == "Register" and page.evaluate("() => document.activeElement.hash") == "#register":
            break
    else:
        pytest.fail("Tab never reached the Register button")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"  # visible focus
    page.keyboard.press("Enter")
    expect(page.locator("#register")).to_be_focused()
    page.keyboard.press("Tab")
    assert focused() == "name"

    order = ["name"]
    page.keyboard.type("Kenji Sato")
    for key in ("Tab", "kenji@example.org", "Tab", "Kaisha", "Tab", "Japan", "Tab"):
        if key == "Tab":
            page.keyboard.press("Tab")
            order.append(focused())
        else:
            page.keyboard.type(key)
    # The search box narrows the zone list; typing never changes the choice, the person picks in the list.
    chosen = page.locator("#timezone").input_value()
    page.keyboard.type("kathmandu")
    expect(page.locator("#timezone-search-status")).to_contain_text("1 time zone matches")
    page.keyboard.press("Tab")
    order.append(focused())
    expect(page.locator("#timezone")).to_have_value(chosen)
    page.keyboard.press("Home")  # Kathmandu (Asia) comes first in what is left, before the chosen zone
    expect(page.locator("#timezone")).to_have_value("Asia/Kathmandu")
    page.keyboard.press("Tab")
    order.append(focused())
    page.keyboard.press("Space")  # tick the newsletter box
    page.keyboard.press("Tab")
    order.append(page.evaluate("() => document.activeElement.type + ':' + document.activeElement.textContent.trim()"))
    assert order == [
        "name",
        "email",
        "organisation",
        "country",
        "timezone-search",
        "timezone",
        "newsletter",
        "submit:Register",
    ]

    # Back to a text field and submit with Enter.
    for _ in range(4):  # back past the newsletter box, the zone list and its search box
        page.keyboard.press("Shift+Tab")
    assert focused() == "country"
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for registering")

    messages = live_site.smtp.wait_for(2, timeout=30)  # the confirmation and the newsletter's opt-in
    assert {m.rcpt_tos for m in messages} == {("kenji@example.org",)}
    assert any(m.subject.startswith("Registration confirmed") for m in messages)
    assert any("confirm your newsletter" in m.subject for m in messages)


def test_errors_are_shown_beside_the_fields_with_the_input_kept(live_site, upcoming, page, shot):
    page.goto(live_site.url + upcoming)
    form = page.locator("form[action$='/register']")
    form.get_by_label("Your name").fill("Ana")
    form.get_by_label("Email address").fill("not-an-address")
    form.get_by_role("button", name="Register").click()
    email = page.get_by_label("Email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#email-error")).to_be_visible()
    expect(page.get_by_label("Your name")).to_have_value("Ana")
    expect(email).to_have_value("not-an-address")
    shot(page, "registration-errors")


PLACES = {"Asia/Kolkata": "Kolkata, India", "Asia/Kathmandu": "Kathmandu, Nepal"}


@pytest.mark.parametrize(
    ("browser_zone", "current"), [("Asia/Calcutta", "Asia/Kolkata"), ("Asia/Katmandu", "Asia/Kathmandu")]
)
def test_the_form_takes_the_browsers_zone_even_under_an_old_name(live_site, upcoming, chromium, browser_zone, current):
    from sqlalchemy import select

    from webinars.extensions import db
    from webinars.registrations.models import Registration

    context = chromium.new_context(timezone_id=browser_zone, locale="en-GB")
    try:
        page = context.new_page()
        page.goto(live_site.url + upcoming)
        form = page.locator("form[action$='/register']")
        # Nobody chose a zone: the browser's, not the webinar's and never the list's first option.
        expect(form.get_by_label("Your time zone")).to_have_value(current)
        form.get_by_label("Your name").fill("Asha Rai")
        form.get_by_label("Email address").fill("asha@example.org")
        form.get_by_role("button", name="Register").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Thank you for registering")
    finally:
        context.close()
    with live_site.app.app_context():
        assert db.session.scalar(select(Registration.timezone)) == current
    [message] = live_site.smtp.wait_for(1, timeout=30)
    assert PLACES[current] in message.body("plain")  # the zone named as people name it
