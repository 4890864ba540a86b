"""Reflow (WCAG 1.4.10): on a phone nothing scrolls sideways. Every public page state, at 320 and 390
CSS pixels wide, in English and French, in Chromium: the document is no wider than the window, and
the zone picker's "Show times" button is inside it.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.test_accessibility import States, states  # noqa: F401  (the fixture, shared)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (320, 390)
LANGUAGES = {"en": "en-GB", "fr": "fr-FR"}


def _overflow(page) -> dict | None:
    """What sticks out of the window, or None when the document fits its width."""
    return page.evaluate(
        """() => {
            const width = window.innerWidth, doc = document.documentElement;
            if (doc.scrollWidth <= width) return null;
            const wide = [...document.querySelectorAll("body *")]
                .filter(el => el.getBoundingClientRect().right > width + 0.5)
                .slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? "." + el.className : ""));
            return {scrollWidth: doc.scrollWidth, innerWidth: width, wide};
        }"""
    )


def _public_pages(made: States) -> dict[str, str]:
    return {
        "home": "/",
        "home with the visitor's zone": "/?tz=America/Sao_Paulo",
        "archive": "/?page=1#archive",
        "topic filter": made.topic,
        "webinar, upcoming": made.upcoming + "?tz=Asia/Tokyo",
        "webinar, upcoming, no zone chosen": made.upcoming,
        "webinar, full": made.full,
        "webinar, live": made.live,
        "webinar, cancelled": made.cancelled,
        "webinar, past": made.past,
        "unknown zone": "/?tz=Mars/Olympus",
        "manage a registration": made.manage,
        "confirm a held seat": made.confirm,
        "newsletter sign-up": "/newsletter",
        "newsletter, check your email": "/newsletter/check-your-email",
        "newsletter confirmation": made.newsletter_confirm,
        "newsletter preferences": "/newsletter/preferences/" + made.newsletter_manage,
        "newsletter unsubscribe": "/newsletter/unsubscribe/" + made.newsletter_manage,
        "topics": "/topics/",
        "topic page": "/topics/cooperatives",
        "topic page with the visitor's zone": "/topics/cooperatives?tz=Asia/Tokyo",
        "news and publications": "/content/",
        "a content item": made.item,
        "not found": "/webinars/no-such-webinar",
    }


@pytest.mark.parametrize("language", ["en", "fr"])
def test_no_public_page_scrolls_sideways_on_a_phone(live_site, states, chromium, language):  # noqa: F811
    wide: dict[str, dict] = {}
    for width in WIDTHS:
        context = chromium.new_context(
            viewport={"width": width, "height": 700}, locale=LANGUAGES[language], timezone_id="Europe/Paris"
        )
        context.set_default_timeout(15_000)
        page = context.new_page()
        try:
            if language == "fr":
                page.goto(live_site.url + "/language/fr?next=/")
            for name, path in _public_pages(states).items():
                page.goto(live_site.url + path)
                page.wait_for_load_state("load")
                if found := _overflow(page):
                    wide[f"{name} at {width}px ({path})"] = found
                picker = page.locator("form.zone-picker button[type=submit]")
                if picker.count():
                    box = picker.first.bounding_box()
                    if box and box["x"] + box["width"] > width:
                        wide[f"{name} at {width}px: Show times is off-screen"] = box
            # The registration form sent empty (errors beside the fields), then the page after registering.
            page.goto(live_site.url + states.upcoming)
            page.locator("form[action$='/register'] button[type=submit]").click()
            expect(page.locator("#name-error")).to_be_visible()
            if found := _overflow(page):
                wide[f"registration form with errors at {width}px"] = found
            form = page.locator("form[action$='/register']")
            form.locator("input[name=name]").fill("Marie Curie")
            form.locator("input[name=email]").fill(f"marie.{language}.{width}@example.org")
            form.locator("button[type=submit]").click()
            expect(page.locator(".outcome-confirmed")).to_be_visible()
            if found := _overflow(page):
                wide[f"thanks at {width}px"] = found
        finally:
            context.close()
    assert not wide, "pages wider than a phone:\n" + "\n".join(f"{k}: {v}" for k, v in wide.items())
