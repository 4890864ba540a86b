"""In real Chromium: a browser in São Paulo sees São Paulo times on the home page; a French browser gets
the whole flow in French, emails included; the EN/FR switch; finding a zone by typing."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SEED = "/webinars/worker-co-operatives-across-continents"  # 12 March 2024, 10:00 Paris time


@pytest.fixture
def upcoming(live_site) -> str:
    from tests.factories import make_webinar
    from webinars.database import utcnow
    from webinars.extensions import db

    with live_site.app.app_context():
        webinar = make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=30), time(15, 0)),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo", "America/Sao_Paulo"],
            capacity=20,
            title="Care co-operatives: what cities can do",
            title_fr="Les coopératives de soins : ce que peuvent les villes",
            summary="How cities support care co-operatives.",
            summary_fr="Comment les villes soutiennent les coopératives de soins.",
            speakers=[("Keiko Tanaka", "Researcher", "JILPT", "Japan"), ("Claire Dubois", "Analyst", "OECD", "France")],
        )
        db.session.commit()
        return f"/webinars/{webinar.slug}"


def _context(chromium, *, zone: str, locale: str):
    context = chromium.new_context(viewport={"width": 1024, "height": 800}, timezone_id=zone, locale=locale)
    context.set_default_timeout(10_000)
    return context


def test_a_browser_in_sao_paulo_sees_sao_paulo_times_on_the_home_page(live_site, upcoming, chromium, shot):
    context = _context(chromium, zone="America/Sao_Paulo", locale="en-GB")
    try:
        page = context.new_page()
        page.goto(live_site.url + "/")
        offer = page.locator(".browser-zone")
        expect(offer).to_be_visible()
        expect(offer.locator(".browser-zone-name")).to_have_text("São Paulo, Brazil (UTC\u221203:00)")
        offer.get_by_role("link", name="Show times in that zone").click()
        expect(page).to_have_url(re.compile(r"tz=America%2FSao_Paulo$"))
        cards = page.locator("article.card .your-time")
        expect(cards.first).to_contain_text("São Paulo time")
        # Every card, the seeds in the archive included: 10:00 in Paris on 12 March 2024 is 06:00 there.
        expect(page.locator("#archive")).to_contain_text("Your time: 06:00 São Paulo time, Tuesday 12 March 2024")
        assert cards.count() == page.locator("article.card").count()
        expect(page.get_by_label("Show times in my time zone")).to_have_value("America/Sao_Paulo")
        shot(page, "catalogue")
        # Remembered: the next page shows it without being asked again.
        page.goto(live_site.url + upcoming)
        expect(page.locator(".your-time")).to_contain_text("Your time (São Paulo, Brazil)")
        expect(offer).to_be_hidden()
        shot(page, "webinar")
    finally:
        context.close()


def test_a_french_browser_gets_the_whole_flow_in_french(live_site, upcoming, chromium, shot):
    context = _context(chromium, zone="Europe/Paris", locale="fr-FR")
    try:
        page = context.new_page()
        page.goto(live_site.url + "/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("heading", level=1)).to_have_text("Prochains webinaires")
        page.get_by_role("link", name="Les coopératives de soins : ce que peuvent les villes").first.click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            "Les coopératives de soins : ce que peuvent les villes"
        )
        expect(page.locator(".zones")).to_contain_text("heure de Paris")
        expect(page.locator(".zones")).to_contain_text("heure de São Paulo")
        expect(page.locator(".speaker-names")).to_contain_text("Keiko Tanaka, Claire Dubois")
        shot(page, "webinar-fr")

        page.get_by_role("link", name="S’inscrire").first.click()
        expect(page.locator("#register")).to_be_focused()
        form = page.locator("form[action$='/register']")
        form.get_by_label("Votre nom").fill("Marie Curie")
        form.get_by_label("Adresse électronique").fill("marie@example.fr")
        form.get_by_label("Chercher par ville, pays ou décalage").fill("brésil")
        expect(page.locator("#timezone-search-status")).to_contain_text("fuseaux correspondent")
        form.get_by_label("Votre fuseau horaire").select_option("America/Sao_Paulo")
        shot(page, "registration-form-fr")
        form.get_by_role("button", name="S’inscrire").click()

        expect(page.get_by_role("heading", level=1)).to_have_text("Merci de votre inscription")
        expect(page.locator(".outcome")).to_have_text("Votre place est confirmée.")
        expect(page.get_by_role("link", name="Office 365")).to_be_visible()
        expect(page.get_by_role("heading", name="Comment participer")).to_be_visible()
        shot(page, "registration-thanks-fr")

        [message] = live_site.smtp.wait_for(1, timeout=30)
        assert message.subject.replace("\u00a0", " ").startswith("Inscription confirmée : Les coopératives de soins")
        text = message.body("plain")
        assert "Bonjour Marie Curie," in text and "heure de Tokyo" in text and "São Paulo, Brésil" in text
        manage = re.search(re.escape(live_site.url) + r"/registrations/[A-Za-z0-9._~%-]+", text).group(0)
        page.goto(manage)
        expect(page.get_by_role("heading", level=1)).to_have_text("Votre inscription")
        expect(page.locator(".status")).to_contain_text("Confirmée")
        expect(page.get_by_role("link", name="Rejoindre le webinaire")).to_be_visible()
        shot(page, "registration-manage-fr")

        page.goto(live_site.url + "/newsletter")
        expect(page.get_by_role("heading", level=1)).to_have_text("Abonnez-vous à notre lettre d’information")
        page.goto(live_site.url + "/?tz=America/Sao_Paulo")
        expect(page.locator("#archive")).to_contain_text("Chez vous : 06:00 heure de São Paulo, mardi 12 mars 2024")
        shot(page, "catalogue-fr")
    finally:
        context.close()


def test_the_language_switch_is_visible_and_remembered(live_site, page, shot):
    page.goto(live_site.url + SEED + "?tz=Asia/Tokyo")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch = page.get_by_role("navigation", name="Language")
    expect(switch.get_by_role("link", name="English")).to_have_attribute("aria-current", "true")
    switch.get_by_role("link", name="Français").click()
    expect(page).to_have_url(re.compile(re.escape(SEED) + r"\?tz=Asia/Tokyo$"))
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.locator(".your-time")).to_contain_text("Chez vous (Tokyo, Japon) : mardi 12 mars 2024, 18:00")
    page.goto(live_site.url + "/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Prochains webinaires")
    page.get_by_role("navigation", name="Langue").get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upcoming webinars")


def test_typing_part_of_a_city_or_country_finds_the_zone(live_site, page):
    page.goto(live_site.url + SEED)
    search = page.get_by_label("Find a time zone by city, country or offset")
    expect(search).to_be_visible()  # shown by the script; the plain select works without it
    search.fill("kolk")
    expect(page.locator("#tz-search-status")).to_have_text("1 time zone matches: choose it in the list.")
    search.press("Enter")  # in the visitor's picker, Enter shows the times in the first match
    expect(page).to_have_url(re.compile(r"tz=Asia%2FKolkata"))
    expect(page.locator(".your-time")).to_contain_text("Your time (Kolkata, India)")
    search = page.get_by_label("Find a time zone by city, country or offset")
    search.fill("brazil")
    expect(page.locator("#tz-search-status")).to_contain_text("time zones match")
    count = page.locator("#tz option").count()
    assert 5 < count < 30  # Brazil's zones (and the chosen one), not the whole world
    search.press("Escape")
    expect(page.locator("#tz")).to_have_value("Asia/Kolkata")  # clearing gives back the choice
    assert page.locator("#tz option").count() > 400


def test_typing_in_a_zone_search_narrows_the_list_but_never_changes_the_choice(live_site, upcoming, page):
    """Typing "india" once left Indianapolis selected in the registration form: a registrant would have
    sent it. Offsets are found as people write them, and former names (Calcutta) as the browser knows them."""
    page.goto(live_site.url + upcoming + "?tz=Europe/Paris")
    form = page.locator("form[action$='/register']")
    select = form.locator("#timezone")
    search = form.get_by_label("Find a time zone by city, country or offset")
    chosen = select.input_value()
    assert chosen  # the visitor's zone, preselected

    def listed() -> list[str]:
        return select.locator("option").evaluate_all("options => options.map(o => o.value)")

    search.fill("india")
    expect(page.locator("#timezone-search-status")).to_contain_text("time zones match")
    assert "Asia/Kolkata" in listed() and "America/Indiana/Indianapolis" in listed()
    expect(select).to_have_value(chosen)

    def option(zone: str):
        return select.locator(f"option[value='{zone}']")

    for typed in ("+5:30", "+05:30", "UTC+5:30", "utc+0530", "GMT+5:30"):
        search.fill("")
        expect(option("Asia/Kathmandu")).to_have_count(1)  # the whole list again
        search.fill(typed)
        expect(option("Asia/Kathmandu")).to_have_count(0)  # +05:45
        expect(option("Asia/Dhaka")).to_have_count(0)  # +06:00
        assert {"Asia/Kolkata", "Asia/Colombo"} <= set(listed()), typed
        expect(select).to_have_value(chosen)
    search.fill("+5")  # every zone five hours and some minutes ahead
    expect(option("Asia/Kathmandu")).to_have_count(1)
    expect(option("Asia/Karachi")).to_have_count(1)
    expect(option("Asia/Dhaka")).to_have_count(0)
    assert "Asia/Kolkata" in listed()
    search.fill("calcutta")  # the name Kolkata had in the tz database until 2008
    expect(page.locator("#timezone-search-status")).to_have_text("1 time zone matches: choose it in the list.")
    assert [value for value in listed() if value != chosen] == ["Asia/Kolkata"]
    expect(select).to_have_value(chosen)
    # The keyboard moves to the list, where choosing is the person's own act.
    search.press("ArrowDown")
    expect(select).to_be_focused()
    expect(select).to_have_value(chosen)
    select.select_option("Asia/Kolkata")
    search.fill("")
    search.press("Escape")
    expect(select).to_have_value("Asia/Kolkata")

    # The visitor's picker too: typing never moves it, Enter is the choice.
    picker = page.locator("#tz")
    before = picker.input_value()
    page.locator("#tz-search").fill("calcutta")
    expect(page.locator("#tz-search-status")).to_have_text("1 time zone matches: choose it in the list.")
    expect(picker).to_have_value(before)
    page.locator("#tz-search").press("Enter")
    expect(page).to_have_url(re.compile(r"tz=Asia%2FKolkata"))
