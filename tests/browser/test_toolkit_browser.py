"""The organisers' toolkit in real Chromium: a question added and answered with the keyboard only, a
webinar duplicated, previewed and published, a participant report uploaded, someone added by hand, a
password reset by email, and what an editor sees."""

import re
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from tests.test_admin import EMAIL, PASSWORD, make_organiser

pytestmark = pytest.mark.browser


@pytest.fixture
def organiser(live_site) -> None:
    make_organiser(live_site.app)


@pytest.fixture
def upcoming_id(live_site) -> int:
    from tests.factories import make_webinar
    from webinars.database import utcnow
    from webinars.extensions import db

    with live_site.app.app_context():
        webinar = make_webinar(
            local_start=datetime.combine(utcnow().date() + timedelta(days=30), time(15, 0)),
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            capacity=20,
            title="Housing co-operatives across borders",
            slug="housing-coops",
            speakers=[("Akiko Sato", "Researcher", "JCA", "Japan")],
        )
        db.session.commit()
        return webinar.id


def _sign_in(page, live_site, email=EMAIL, password=PASSWORD):
    page.goto(live_site.link("/admin/login"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(live_site.link("/admin/"))


def _focused(page) -> str:
    return page.evaluate(
        "() => document.activeElement.id || document.activeElement.name || document.activeElement.tagName"
    )


def _tab_to(page, element_id: str, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if _focused(page) == element_id:
            return
    pytest.fail(f"Tab never reached #{element_id}")


def test_keyboard_only_an_organiser_adds_a_question_and_a_registrant_answers_it(
    live_site, organiser, upcoming_id, page, shot
):
    # Sign in without a mouse.
    page.goto(live_site.link("/admin/login"))
    _tab_to(page, "email")
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(live_site.link("/admin/"))

    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}/questions"))
    _tab_to(page, "label")
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"  # visible focus
    page.keyboard.type("Which session will you join?")
    page.keyboard.press("Tab")
    assert _focused(page) == "kind"
    page.keyboard.press("ArrowDown")  # Long text
    page.keyboard.press("ArrowDown")  # Single choice
    assert page.locator("#kind").input_value() == "single_choice"
    page.keyboard.press("Tab")
    assert _focused(page) == "options"
    page.keyboard.type("Morning")
    page.keyboard.press("Enter")  # a new line in the text area, not a submission
    page.keyboard.type("Evening")
    page.keyboard.press("Tab")
    page.keyboard.type("We send the link for that session.")
    page.keyboard.press("Tab")
    assert _focused(page) == "required"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.get_by_text("The question is on the registration form.")).to_be_visible()
    expect(page.locator("table.questions")).to_contain_text("Which session will you join?")
    shot(page, "admin-questions")

    # A visitor answers it with the keyboard only: arrows move through the choices of the group.
    visitor = page.context.browser.new_context(locale="en-GB", timezone_id="Asia/Tokyo")
    try:
        public = visitor.new_page()
        public.goto(live_site.link("/webinars/housing-coops"))
        legend = public.locator("fieldset legend", has_text="Which session will you join?")
        expect(legend).to_contain_text("(required)")
        _tab_to(public, "name")
        public.keyboard.type("Kenji Sato")
        public.keyboard.press("Tab")
        public.keyboard.type("kenji@example.org")
        passed = []
        for _ in range(8):  # organisation, country, the time zone, then the first choice of the question
            public.keyboard.press("Tab")
            passed.append(_focused(public))
            if public.evaluate("() => document.activeElement.type") == "radio":
                break
        assert "timezone" in passed and passed[:2] == ["organisation", "country"]
        radio = public.evaluate("() => [document.activeElement.type, document.activeElement.value]")
        assert radio == ["radio", "Morning"]
        public.keyboard.press("ArrowDown")
        assert public.locator("input[type=radio][value=Evening]").is_checked()
        public.keyboard.press("Enter")
        expect(public.get_by_role("heading", level=1)).to_have_text("Thank you for registering")
    finally:
        visitor.close()

    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}/registrations"))
    expect(page.locator("td.answers")).to_contain_text("Which session will you join?")
    expect(page.locator("td.answers dd")).to_have_text("Evening")


def test_an_organiser_duplicates_a_webinar_previews_the_draft_and_publishes_it(
    live_site, organiser, upcoming_id, page, shot
):
    _sign_in(page, live_site)
    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}"))
    page.get_by_role("button", name="Duplicate as a new draft").click()
    expect(page.get_by_text("This is a new draft, a copy of “Housing co-operatives across borders”")).to_be_visible()
    expect(page.get_by_label("Title", exact=True)).to_have_value("Housing co-operatives across borders")
    page.get_by_label("Title", exact=True).fill("Housing co-operatives across borders, part 2")
    start = page.get_by_label("Start date")
    next_month = (datetime.fromisoformat(start.input_value()) + timedelta(days=28)).date().isoformat()
    start.fill(next_month)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Housing co-operatives across borders, part 2")
    expect(page.locator(".status")).to_have_text("draft")

    page.get_by_role("link", name="Preview as the public will see it").click()
    expect(page.get_by_text("This draft is not public: only organisers can see this page.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Housing co-operatives across borders, part 2")
    expect(page.locator(".speaker-name", has_text="Akiko Sato")).to_be_visible()
    expect(page.locator("#register button[type=submit]")).to_be_disabled()
    shot(page, "admin-draft-preview")
    page.get_by_role("link", name="Back to the webinar in the organisers’ area").click()
    page.get_by_role("button", name="Publish").click()
    expect(page.locator(".status")).to_have_text("published")
    page.get_by_role("link", name="Public page").click()
    expect(page.get_by_role("button", name="Register")).to_be_enabled()


def test_an_organiser_uploads_the_participant_report_and_adds_someone_by_hand(live_site, organiser, page):
    from tests.factories import make_webinar
    from tests.test_attendance import TEAMS
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.registrations.operations import register
    from webinars.timezones import localize

    with live_site.app.app_context():
        past = make_webinar(starts_at=localize(datetime(2024, 3, 5, 10, 0), "Europe/Paris"), title="Last spring")
        for name, email in (("Ana", "ana@example.org"), ("Lou", "lou@example.org")):
            register(past, name=name, email=email, now=past.starts_at - timedelta(days=1))
        upcoming = make_webinar(starts_at=utcnow() + timedelta(days=10), title="Next autumn", capacity=5)
        db.session.commit()
        past_id, upcoming_id = past.id, upcoming.id

    _sign_in(page, live_site)
    page.goto(live_site.link(f"/admin/webinars/{past_id}"))
    page.get_by_role("link", name="Import attendance (participant report)").click()
    page.get_by_label("Participant report (CSV)").set_input_files(
        files=[{"name": "Attendance report.csv", "mimeType": "text/csv", "buffer": TEAMS}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_text("Attendance imported: 1 attended, 1 no-shows.", exact=False)).to_be_visible()
    expect(page.locator(".attendance-figures")).to_contain_text("Attended: 1")
    expect(page.get_by_text("“First Join”", exact=False).first).to_be_visible()
    page.goto(live_site.link(f"/admin/webinars/{past_id}"))
    expect(page.locator("p.attendance")).to_contain_text("Attendance rate: 50%")

    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}"))
    page.get_by_role("link", name="Add a registrant by hand").click()
    page.get_by_label("Your name").fill("Marc Dubois")
    page.get_by_label("Email address").fill("marc@example.org")
    page.get_by_label("Send them the confirmation email").uncheck()
    page.get_by_role("button", name="Register them").click()
    expect(page.get_by_text("Marc Dubois is registered.")).to_be_visible()
    expect(page.locator("table")).to_contain_text("marc@example.org")


def test_an_organiser_resets_a_forgotten_password_from_the_emailed_link(live_site, organiser, page):
    page.goto(live_site.link("/admin/login"))
    page.get_by_role("link", name="Forgotten your password?").click()
    page.get_by_label("Email address").fill(EMAIL)
    page.get_by_role("button", name="Send me a link").click()
    expect(page.get_by_text("If an organiser account uses this address")).to_be_visible()
    [message] = live_site.smtp.wait_for(1, timeout=30)
    link = re.search(re.escape(live_site.url) + r"/admin/password/reset/\S+", message.body("plain")).group(0)
    page.goto(link)
    page.get_by_label("New password").fill("a brand new passphrase")
    page.get_by_label("The same password again").fill("a brand new passphrase")
    page.get_by_role("button", name="Save the new password").click()
    expect(page.get_by_text("Your new password is saved. Sign in with it.")).to_be_visible()
    _sign_in(page, live_site, password="a brand new passphrase")
    page.goto(link)
    expect(page.get_by_text("This link no longer works")).to_be_visible()


def test_an_editor_sees_the_webinars_but_not_the_owners_pages(live_site, organiser, upcoming_id, page):
    make_organiser(live_site.app, "editor@example.org", role="editor")
    _sign_in(page, live_site, "editor@example.org")
    nav = page.get_by_role("navigation", name="Organisers")
    expect(nav.get_by_role("link", name="Webinars")).to_be_visible()
    for hidden in ("Subscribers", "History", "Personal data", "Organisers", "Mail"):
        expect(nav.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    page.goto(live_site.link("/admin/history"))
    expect(page.get_by_text("You do not have permission to see this page.")).to_be_visible()
    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}"))
    expect(page.get_by_text("The people registered are shown to owners and to the editors")).to_be_visible()


def test_an_organiser_writes_to_the_registrants_tries_it_and_each_registrant_gets_their_copy(
    live_site, organiser, upcoming_id, page
):
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.registrations.operations import register

    with live_site.app.app_context():
        from webinars.catalogue.models import Webinar

        webinar = db.session.get(Webinar, upcoming_id)
        for name, email in (("Ana", "ana@example.org"), ("Lou", "lou@example.org")):
            register(webinar, name=name, email=email, now=utcnow())
        db.session.commit()
    live_site.smtp.wait_for(2, timeout=30)  # their confirmations
    live_site.smtp.clear()

    _sign_in(page, live_site)
    page.goto(live_site.link(f"/admin/webinars/{upcoming_id}"))
    page.get_by_role("link", name="Write to registrants").click()
    expect(page.locator("p.recipients")).to_have_text("This message goes to 2 registrants.")
    page.get_by_label("Subject", exact=True).fill("The slides")
    page.get_by_label("Message", exact=True).fill("The **slides** are online.")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator(".campaign-preview strong")).to_have_text("slides")
    page.get_by_role("button", name="Send me a test").click()
    expect(page.get_by_text(f"A test is on its way to {EMAIL}.")).to_be_visible()
    [test] = live_site.smtp.wait_for(1, timeout=30)
    assert test.subject == "[Test] The slides" and test.rcpt_tos == (EMAIL,)
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Tick this box to send the message.")).to_be_visible()
    page.get_by_label("Yes, send this message now").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("The message is queued for 2 registrants")).to_be_visible()
    messages = live_site.smtp.wait_for(3, timeout=30)
    copies = {m.rcpt_tos[0]: m for m in messages if m.subject == "The slides"}
    assert set(copies) == {"ana@example.org", "lou@example.org"}
    link = re.search(re.escape(live_site.url) + r"/registrations/\S+", copies["lou@example.org"].body("plain")).group(0)
    page.goto(link)
    expect(page.get_by_text("lou@example.org")).to_be_visible()


def test_an_organiser_schedules_a_campaign_in_a_chosen_zone_and_cancels_it(live_site, organiser, page):
    _sign_in(page, live_site)
    page.goto(live_site.link("/admin/newsletter/campaigns/new"))
    page.get_by_label("Subject", exact=True).fill("Winter programme")
    page.get_by_label("Message", exact=True).fill("Three webinars this winter.")
    page.get_by_role("button", name="Save as a draft (to test or schedule)").click()
    expect(page.get_by_text("Draft saved: try it with a test, then send or schedule it.")).to_be_visible()
    page.get_by_role("button", name="Send me a test").click()
    [test] = live_site.smtp.wait_for(1, timeout=30)
    assert test.subject == "[Test] Winter programme"
    page.get_by_label("At a date and time").check()
    page.get_by_label("Date", exact=True).fill("2030-01-15")
    page.get_by_label("Time", exact=True).fill("08:30")
    page.get_by_label("Time zone of that date and time").select_option("Asia/Tokyo")
    page.get_by_label("Yes, send this campaign").check()
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_text("Scheduled: the mail worker sends it on Tuesday 15 January 2030 at 08:30")).to_be_visible()
    page.goto(live_site.link("/admin/newsletter/campaigns"))
    scheduled = page.locator("table.campaigns-scheduled")
    expect(scheduled).to_contain_text("Winter programme")
    expect(scheduled).to_contain_text("2030-01-14 23:30")  # 08:30 in Tokyo, in UTC
    scheduled.get_by_role("link", name="Winter programme").click()
    page.get_by_role("button", name="Cancel the scheduled sending").click()
    expect(page.get_by_text("The scheduled sending is cancelled: the campaign is a draft again.")).to_be_visible()
    page.goto(live_site.link("/admin/newsletter/campaigns"))
    expect(page.locator("table.campaigns-draft")).to_contain_text("Winter programme")
    expect(page.locator("table.campaigns-scheduled")).to_have_count(0)
