"""A topic page in real Chromium: the seed's thematic page, its related content, filters, pages,
the visitor's zone, and the sign-up link that ticks the topic."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

TOPIC = "/topics/worker-cooperatives"


def test_the_thematic_page_reads_like_the_seed_and_its_filters_and_pages_work(live_site, page, shot):
    page.goto(live_site.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Topics").click()
    # (exact: the topic's calendar link beside it names the topic too)
    page.get_by_role("link", name="Worker cooperatives", exact=True).click()
    expect(page).to_have_url(live_site.url + TOPIC)
    expect(page.get_by_role("heading", level=1)).to_have_text("Worker cooperatives")
    expect(page.locator("header .lead")).to_contain_text("emerging as an organizational model")
    expect(page.locator("header time")).to_have_text("2 July 2021")
    related = page.locator("#related")
    first = related.locator("ol.items > li").first
    expect(first).to_contain_text("Publication · Thematic page on the cooperative, social and solidarity economy")
    expect(related.locator("ol.items")).to_have_attribute("start", "1")
    shot(page, "topic")

    # Filter by type: only interviews, each with the seed's own label beside the type.
    related.get_by_role("link", name="Interview", exact=True).click()
    expect(page).to_have_url(re.compile(r"\?type=interview#related$"))
    expect(related.get_by_role("link", name="Interview", exact=True)).to_have_attribute("aria-current", "page")
    metas = related.locator(".item-meta")
    for n in range(metas.count()):
        expect(metas.nth(n)).to_contain_text("Interview · Spotlight Interviews with Co")
    expect(related).to_contain_text("Siôn Whellens: Incubating worker cooperatives in the changing world of work")

    # Back to every type, then the next page continues the numbering.
    related.get_by_role("link", name="All types").click()
    page.get_by_role("navigation", name="Pages of related content").get_by_role("link", name="Older").click()
    expect(page).to_have_url(re.compile(r"\?page=2#related$"))
    expect(related.locator("ol.items")).to_have_attribute("start", "21")


def test_a_topic_page_shows_upcoming_times_in_the_visitors_zone(live_site, page):
    page.goto(live_site.url + "/topics/cooperatives")
    cards = page.locator("section[aria-labelledby=upcoming-heading] article.card")
    expect(cards.first).to_be_visible()
    expect(page.locator(".your-time")).to_have_count(0)
    page.get_by_label("Show times in my time zone").select_option("America/New_York")
    page.get_by_role("button", name="Show times").click()
    expect(page).to_have_url(re.compile(r"tz=America%2FNew_York"))
    expect(page.locator(".your-time").first).to_contain_text("Your time:")
    expect(page.locator(".your-time").first).to_contain_text("New York time")
    expect(page.locator(".your-time")).to_have_count(cards.count())


def test_the_sign_up_link_of_a_topic_page_ticks_that_topic(live_site, page):
    page.goto(live_site.url + TOPIC)
    page.get_by_role("link", name="Get news on Worker cooperatives by email").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign up to our newsletter")
    expect(page.get_by_label("Worker cooperatives")).to_be_checked()
    expect(page.get_by_label("Co-operatives")).not_to_be_checked()
