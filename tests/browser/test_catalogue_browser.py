"""The catalogue in real Chromium: browse, open a webinar, read its times in your own zone."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SEED = "/webinars/worker-co-operatives-across-continents"  # 12 March 2024, 10:00 Paris time


def test_browse_the_catalogue_open_a_webinar_and_pick_a_zone(live_site, page, shot):
    page.goto(live_site.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Upcoming webinars")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    # The first upcoming card, then its page.
    first = page.locator("section[aria-labelledby=upcoming-heading] article.card h3 a").first
    title = first.inner_text()
    first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(title)
    expect(page.locator(".your-time")).to_have_count(0)  # nobody chose a zone yet

    # The zone picker works without JavaScript: a GET form.
    page.get_by_label("Show times in my time zone").select_option("America/New_York")
    page.get_by_role("button", name="Show times").click()
    expect(page).to_have_url(re.compile(r"[?&]tz=America%2FNew_York"))
    your_time = page.locator(".your-time")
    expect(your_time).to_contain_text("Your time (New York, United States)")
    new_york = your_time.inner_text()

    page.get_by_label("Show times in my time zone").select_option("Asia/Kathmandu")
    page.get_by_role("button", name="Show times").click()
    expect(your_time).to_contain_text("Your time (Kathmandu, Nepal)")
    assert your_time.inner_text() != new_york


def test_the_seed_webinar_shows_its_zones_and_the_chosen_one(live_site, page):
    page.goto(live_site.url + SEED)
    expect(page.locator(".zones")).to_contain_text("10:00 Paris time")
    expect(page.locator(".zones")).to_contain_text("18:00 Tokyo time")
    page.get_by_label("Show times in my time zone").select_option("America/New_York")
    page.get_by_role("button", name="Show times").click()
    expect(page.locator(".your-time")).to_contain_text("Tuesday 12 March 2024, 05:00")
    # Remembered in a cookie: the next page shows the same zone without ?tz=.
    page.goto(live_site.url + SEED)
    expect(page.locator(".your-time")).to_contain_text("(New York, United States)")


def test_a_browser_in_tokyo_is_offered_tokyo_time(live_site, chromium):
    context = chromium.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    try:
        page = context.new_page()
        page.goto(live_site.url + SEED)
        offer = page.locator(".browser-zone")
        expect(offer).to_be_visible()
        # Named as people name it, in the page's language, never by its IANA id.
        expect(offer.locator(".browser-zone-name")).to_have_text("Tokyo, Japan (UTC+09:00)")
        offer.get_by_role("link", name="Show times in that zone").click()
        expect(page).to_have_url(re.compile(r"tz=Asia%2FTokyo#your-time$"))
        expect(page.locator(".your-time")).to_contain_text("Your time (Tokyo, Japan)")
        expect(page.locator(".your-time")).to_contain_text("Tuesday 12 March 2024, 18:00 - 20:00 JST")
        # Now that Tokyo is shown, the offer is not repeated.
        expect(offer).to_be_hidden()
    finally:
        context.close()


def test_topic_filter_and_archive_in_the_browser(live_site, page):
    page.goto(live_site.url + "/")
    topics = page.get_by_role("navigation", name="Filter by topic")
    link = topics.get_by_role("link").nth(1)
    name = link.inner_text()
    link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Webinars on {name}")
    expect(topics.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")


def test_unknown_pages_and_zones_are_friendly(live_site, page, shot):
    response = page.goto(live_site.url + "/webinars/no-such-webinar")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_role("link", name="Back to the list of webinars")).to_be_visible()
    shot(page, "not-found")

    response = page.goto(live_site.url + SEED + "?tz=Mars/Olympus_Mons")
    assert response.status == 200
    expect(page.get_by_role("alert")).to_contain_text("We do not know the time zone “Mars/Olympus_Mons”")


def test_pages_raise_no_console_errors_or_csp_violations(live_site, page):
    problems = []

    def on_console(message):
        # Chromium asks for /favicon.ico on its own; the site has none, which is not a page error.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            problems.append(f"{message.text} ({message.location.get('url')})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    for path in ("/", SEED, SEED + "?tz=Asia/Tokyo", "/newsletter"):
        page.goto(live_site.url + path)
    assert problems == []


# Chromium reports ICU's names for these zones: the tz database's old ones, not the pickers' current ones.
LEGACY_BROWSER_ZONES = [
    ("Asia/Calcutta", "Asia/Kolkata", "Kolkata, India", "Tuesday 12 March 2024, 14:30 - 16:30 IST"),
    ("Asia/Katmandu", "Asia/Kathmandu", "Kathmandu, Nepal", "Tuesday 12 March 2024, 14:45 - 16:45 UTC+05:45"),
]


@pytest.mark.parametrize(("browser_zone", "current", "place", "expected"), LEGACY_BROWSER_ZONES)
def test_a_browser_reporting_an_old_zone_name_is_offered_its_zone(
    live_site, chromium, browser_zone, current, place, expected
):
    context = chromium.new_context(timezone_id=browser_zone, locale="en-GB")
    try:
        page = context.new_page()
        assert page.evaluate("() => Intl.DateTimeFormat().resolvedOptions().timeZone") == browser_zone
        page.goto(live_site.url + SEED)
        offer = page.locator(".browser-zone")
        expect(offer).to_be_visible()
        expect(offer.locator(".browser-zone-name")).to_contain_text(place)
        offer.get_by_role("link", name="Show times in that zone").click()
        expect(page).to_have_url(re.compile(r"tz=" + re.escape(current.replace("/", "%2F")) + "#your-time$"))
        expect(page.locator(".your-time")).to_contain_text(f"Your time ({place})")
        expect(page.locator(".your-time")).to_contain_text(expected)
        expect(page.get_by_label("Show times in my time zone")).to_have_value(current)
        expect(offer).to_be_hidden()
    finally:
        context.close()
