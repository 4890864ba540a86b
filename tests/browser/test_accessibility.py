"""Accessibility, measured: Deque's axe-core (pinned in tests/js/package.json) runs inside Debian's
Chromium on every public page state and every page of the organisers' area, in English and in French,
with the WCAG 2.0, 2.1 and 2.2 A and AA rules. Any violation fails the test, and is printed.

The admin's pages are found by walking the app's URL map, so a new page cannot be left out: the test
fails on an admin GET endpoint it does not visit (files and JSON are listed, with why, in NOT_PAGES).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ROOT, VIEWPORT, _in_ci

pytestmark = [pytest.mark.browser, pytest.mark.slow]

AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]
LANGUAGES = {"en": "en-GB", "fr": "fr-FR"}

# GET endpoints that are not pages: what each answers instead.
NOT_PAGES = {
    "admin.registrations_csv": "a CSV file",
    "admin.subscribers_csv": "a CSV file",
    "admin.webinars_csv": "a CSV file",
    "admin.preview_zones": "JSON for the form's live preview",
    "static": "CSS and scripts",
    "catalogue.feed": "a calendar feed",
    "catalogue.download": "a calendar file",
    "catalogue.zone_names": "JSON for the browser's zone offer",
    "content.feed": "an Atom feed",
    "content.topic_feed": "an Atom feed",
    "language.switch": "a redirect back to the page, in the chosen language",
}


def _pages(app, admin: bool) -> set[str]:
    """Every GET endpoint that answers with a page, public or admin."""
    return {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if "GET" in rule.methods and rule.endpoint not in NOT_PAGES and rule.endpoint.startswith("admin.") == admin
    }


def _axe_source() -> str:
    if not AXE.is_file():
        message = f"{AXE} is missing; scripts/ensure-system-deps installs tests/js (npm ci)"
        if _in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def _describe(violations: list[dict]) -> str:
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} [{violation['helpUrl']}]")
        for node in violation["nodes"][:5]:
            lines.append(f"    {node['target']}: {node['failureSummary']}".replace("\n", " "))
    return "\n".join(lines)


class Auditor:
    """Runs axe on the page as it is now; collects violations per page state."""

    def __init__(self, page, source: str, app=None):
        self.page = page
        self.source = source
        self.app = app
        self.failures: dict[str, list[dict]] = {}
        self.audited: list[str] = []
        self.endpoints: set[str] = set()  # which of the app's pages were audited

    def check(self, name: str) -> None:
        self.page.wait_for_load_state("load")
        self.page.add_script_tag(content=self.source)  # the context bypasses the site's CSP for this only
        result = self.page.evaluate(
            """async (tags) => {
                const options = {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]};
                const results = await axe.run(document, options);
                return results.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    nodes: v.nodes.map(n => ({target: n.target.join(" "), failureSummary: n.failureSummary}))}));
            }""",
            WCAG_TAGS,
        )
        self.audited.append(name)
        if self.app is not None:
            self.endpoints.add(self._endpoint())
        if result:
            self.failures[f"{name} ({self.page.url})"] = result

    def _endpoint(self) -> str:
        """The endpoint of the page shown now (a form sent back answers at the POST's address)."""
        from urllib.parse import urlsplit

        from werkzeug.exceptions import MethodNotAllowed, NotFound

        adapter = self.app.url_map.bind("localhost")
        path = urlsplit(self.page.url).path
        for method in ("GET", "POST"):
            try:
                return adapter.match(path, method=method)[0]
            except MethodNotAllowed:
                continue
            except NotFound:
                return "(not found)"
        return "(unknown)"

    def visit(self, name: str, url: str) -> None:
        response = self.page.goto(url)
        assert response is not None and response.status < 500, f"{name}: {url} answered {response and response.status}"
        self.check(name)

    def assert_clean(self) -> None:
        report = "\n".join(f"{state}:\n{_describe(violations)}" for state, violations in self.failures.items())
        assert not self.failures, f"axe-core found WCAG A/AA violations:\n{report}"


@pytest.fixture
def auditor_for(chromium):
    source = _axe_source()
    contexts = []

    def make(language: str, app=None) -> Auditor:
        context = chromium.new_context(
            viewport=VIEWPORT, locale=LANGUAGES[language], timezone_id="Europe/Paris", bypass_csp=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return Auditor(context.new_page(), source, app)

    yield make
    for context in contexts:
        context.close()


@dataclass
class States:
    upcoming: str
    full: str
    live: str
    cancelled: str
    past: str
    topic: str
    manage: str
    confirm: str
    newsletter_confirm: str
    newsletter_manage: str
    item: str
    item_id: int
    topic_id: int
    webinar_id: int
    draft_id: int
    registration_id: int
    waitlisted_id: int
    campaign_id: int
    draft_campaign_id: int
    scheduled_campaign_id: int
    past_id: int
    question_id: int
    subscriber_id: int
    organiser_id: int


@pytest.fixture
def states(live_site) -> States:
    """Every kind of page the site can show, made with the real operations."""
    from tests.factories import make_topic, make_webinar
    from tests.test_admin import make_organiser
    from tests.test_content import make_item
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter import operations as newsletter
    from webinars.newsletter.models import Subscriber
    from webinars.outbox.models import OutboxMessage
    from webinars.registrations import notifications, operations
    from webinars.registrations.models import Registration, RegistrationQuestion

    app = live_site.app
    with app.app_context():
        now = utcnow()
        topic = make_topic("cooperatives", "Co-operatives")
        speakers = [("Keiko Tanaka", "Researcher", "JILPT", "Japan"), ("Claire Dubois", "Analyst", "OECD", "France")]
        day = now.date() + timedelta(days=20)
        upcoming = make_webinar(
            slug="a11y-upcoming",
            title="Care co-operatives",
            title_fr="Les coopératives de soins",
            local_start=datetime.combine(day, time(15, 0)),
            display_zones=["Europe/Paris", "Asia/Tokyo", "America/New_York"],
            capacity=40,
            topics=[topic],
            speakers=speakers,
        )
        full = make_webinar(
            slug="a11y-full", title="A full room", local_start=datetime.combine(day, time(9, 0)), capacity=1
        )
        live = make_webinar(slug="a11y-live", title="On air", starts_at=now - timedelta(minutes=10), minutes=90)
        cancelled = make_webinar(
            slug="a11y-cancelled",
            title="Called off",
            local_start=datetime.combine(day, time(11, 0)),
            status="cancelled",
        )
        past = make_webinar(
            slug="a11y-past",
            title="Last year's panel",
            starts_at=now - timedelta(days=40),
            recording_url="https://video.example.org/rec",
            speakers=speakers,
        )
        draft = make_webinar(slug="a11y-draft", title="Not yet", status="draft")
        item = make_item(title="A report on care co-operatives", topics=[topic], body="The **findings**.")
        ana = operations.register(
            upcoming, name="Ana Lima", email="ana@example.org", timezone="America/Sao_Paulo", now=now
        )
        registration = db.session.get(Registration, ana.id)
        operations.register(full, name="First", email="first@example.org", now=now)
        waiting = operations.register(full, name="Second", email="second@example.org", now=now)
        pending_webinar = make_webinar(
            slug="a11y-confirm", title="Confirm first", confirm_registrations=True, starts_at=now + timedelta(days=9)
        )
        pending = db.session.get(
            Registration, operations.register(pending_webinar, name="Pat", email="pat@example.org", now=now).id
        )
        newsletter.request_subscription("lea@example.org", "Léa", [], source="test", consent_text="consent")
        subscriber = db.session.query(Subscriber).filter_by(email="lea@example.org").one()
        confirm_token = newsletter.confirm_token(subscriber, now)
        newsletter.confirm(subscriber)
        campaign = newsletter.create_campaign("News", "Hello **all**.", [], created_by="test")
        db.session.add(
            OutboxMessage(
                kind="registration_confirmed",
                to_address="bounced@example.org",
                raw=b"To: bounced@example.org\r\n\r\nHi\r\n",
                status="failed",
                attempts=15,
                last_error="550 mailbox unavailable",
            )
        )
        db.session.commit()
        newsletter.expand_campaign(campaign)
        draft_campaign = newsletter.create_campaign(
            "Draft", "Soon.", [], created_by="editor@example.org", draft=True, needs_approval=True
        )
        scheduled = newsletter.create_campaign("Later", "Then.", [], created_by="test", draft=True)
        newsletter.schedule_campaign(scheduled, now + timedelta(days=3), "Asia/Tokyo", now=now)
        db.session.commit()
        make_organiser(app)
        editor_id = make_organiser(app, "editor@example.org", role="editor")
        question = RegistrationQuestion(
            webinar_id=upcoming.id, kind="single_choice", label="Which session?", options_text="Morning\nEvening"
        )
        db.session.add(question)
        db.session.commit()
        return States(
            upcoming=f"/webinars/{upcoming.slug}",
            full=f"/webinars/{full.slug}",
            live=f"/webinars/{live.slug}",
            cancelled=f"/webinars/{cancelled.slug}",
            past=f"/webinars/{past.slug}",
            topic="/?topic=cooperatives",
            manage="/registrations/" + notifications.manage_token(registration),
            confirm="/registrations/" + notifications.confirm_token(pending) + "/confirm",
            newsletter_confirm=f"/newsletter/confirm/{confirm_token}",
            newsletter_manage=newsletter.manage_token(subscriber),
            item=f"/content/{item.slug}",
            item_id=item.id,
            topic_id=topic.id,
            webinar_id=upcoming.id,
            draft_id=draft.id,
            registration_id=registration.id,
            waitlisted_id=waiting.id,
            campaign_id=campaign.id,
            draft_campaign_id=draft_campaign.id,
            scheduled_campaign_id=scheduled.id,
            past_id=past.id,
            question_id=question.id,
            subscriber_id=subscriber.id,
            organiser_id=editor_id,
        )


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_public_page_state_has_no_wcag_violation(live_site, states, auditor_for, language):
    audit = auditor_for(language, live_site.app)
    page, url = audit.page, live_site.url
    audit.visit("home", url + "/")
    audit.visit("home with the visitor's zone", url + "/?tz=America/Sao_Paulo")
    audit.visit("past webinars (archive)", url + "/?page=1#archive")
    audit.visit("topic", url + states.topic)
    audit.visit("webinar, upcoming", url + states.upcoming + "?tz=Asia/Tokyo")
    audit.visit("webinar, full", url + states.full)
    audit.visit("webinar, live", url + states.live)
    audit.visit("webinar, cancelled", url + states.cancelled)
    audit.visit("webinar, past", url + states.past)
    audit.visit("unknown zone", url + "/?tz=Mars/Olympus")

    # The form sent empty: errors beside the fields.
    page.goto(url + states.upcoming)
    page.locator("form[action$='/register'] button[type=submit]").click()
    expect(page.locator("#name-error")).to_be_visible()
    audit.check("registration form with errors")

    # Sent right: the page after registering.
    page.goto(url + states.upcoming)
    form = page.locator("form[action$='/register']")
    form.locator("input[name=name]").fill("Marie Curie")
    form.locator("input[name=email]").fill(f"marie.{language}@example.org")
    form.locator("button[type=submit]").click()
    expect(page.locator(".outcome-confirmed")).to_be_visible()
    audit.check("thanks, confirmed")
    page.goto(url + states.full)
    form = page.locator("form[action$='/register']")
    form.locator("input[name=name]").fill("Third")
    form.locator("input[name=email]").fill(f"third.{language}@example.org")
    form.locator("button[type=submit]").click()
    expect(page.locator(".outcome-waitlisted")).to_be_visible()
    audit.check("thanks, waiting list")

    audit.visit("manage a registration", url + states.manage)
    audit.visit("confirm a held seat", url + states.confirm)
    audit.visit("newsletter sign-up", url + "/newsletter")
    page.locator("form.stacked button[type=submit]").click()
    audit.check("newsletter sign-up with errors")
    audit.visit("newsletter, check your email", url + "/newsletter/check-your-email")
    audit.visit("newsletter confirmation", url + states.newsletter_confirm)
    audit.visit("newsletter preferences", url + "/newsletter/preferences/" + states.newsletter_manage)
    audit.visit("newsletter unsubscribe", url + "/newsletter/unsubscribe/" + states.newsletter_manage)
    audit.visit("topics", url + "/topics/")
    audit.visit("topic page", url + "/topics/cooperatives?tz=Asia/Tokyo")
    audit.visit("news and publications", url + "/content/")
    audit.visit("a content item", url + states.item)
    audit.visit("not found", url + "/webinars/no-such-webinar")
    audit.visit("invalid link", url + "/registrations/not-a-token")
    missed = _pages(live_site.app, admin=False) - audit.endpoints
    assert not missed, f"public pages not audited: {sorted(missed)}"
    audit.assert_clean()


def _admin_urls(app, states: States) -> dict[str, str]:
    values = {
        "webinar_id": states.webinar_id,
        "registration_id": states.registration_id,
        "campaign_id": states.campaign_id,
        "item_id": states.item_id,
        "topic_id": states.topic_id,
        "question_id": states.question_id,
        "subscriber_id": states.subscriber_id,
        "organiser_id": states.organiser_id,
        "token": "not-a-token",
    }
    special = {
        "admin.registration_promote": {"registration_id": states.waitlisted_id},
        "admin.webinar_discard": {"webinar_id": states.draft_id},
        "admin.webinar_preview": {"webinar_id": states.draft_id},
        "admin.attendance_import": {"webinar_id": states.past_id},
        "admin.campaign_edit": {"campaign_id": states.draft_campaign_id},
    }
    urls = {}
    with app.test_request_context("/"):
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin.") or "GET" not in rule.methods:
                continue
            if rule.endpoint in NOT_PAGES or rule.endpoint == "admin.login":
                continue
            arguments = {
                name: special.get(rule.endpoint, values).get(name, values.get(name)) for name in rule.arguments
            }
            urls[rule.endpoint] = url_for(rule.endpoint, **arguments)
    return urls


@pytest.mark.parametrize("language", ["en", "fr"])
def test_every_page_of_the_organisers_area_has_no_wcag_violation(live_site, states, auditor_for, language):
    from tests.test_admin import EMAIL, PASSWORD

    audit = auditor_for(language)
    page, url = audit.page, live_site.url
    audit.visit("sign-in", url + "/admin/login")
    page.locator("input[name=password]").fill("wrong password")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("form.stacked button[type=submit]").click()
    audit.check("sign-in with an error")
    page.locator("input[name=email]").fill(EMAIL)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form.stacked button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))

    urls = _admin_urls(live_site.app, states)
    for endpoint, path in sorted(urls.items()):
        audit.visit(endpoint, url + path)
    # States behind a POST: a form sent back with its errors, and the personal data found for an address.
    audit.visit("new webinar", url + "/admin/webinars/new")
    page.locator("input[name=title]").fill("")
    page.locator("button[value=save]").click()
    audit.check("new webinar with errors")
    audit.visit("personal data", url + "/admin/privacy")
    page.locator("input[name=email]").fill("ana@example.org")
    page.locator("form.stacked button[type=submit]").first.click()
    audit.check("personal data found")
    audit.visit("questions", url + f"/admin/webinars/{states.webinar_id}/questions")
    page.locator("select[name=kind]").select_option("single_choice")
    page.locator("form.stacked button[type=submit]").click()
    audit.check("a question with errors")
    audit.visit("add a registrant", url + f"/admin/webinars/{states.webinar_id}/registrations/add")
    page.locator("form.stacked button[type=submit]").click()
    audit.check("add a registrant with errors")
    audit.visit("attendance", url + f"/admin/webinars/{states.past_id}/attendance")
    page.locator("input[name=report]").set_input_files(
        files=[{"name": "report.csv", "mimeType": "text/csv", "buffer": b"name,email\r\nana,ana@example.org\r\n"}]
    )
    page.locator("form.stacked button[type=submit]").click()
    audit.check("attendance with an unreadable report")
    audit.visit("write to registrants", url + f"/admin/webinars/{states.webinar_id}/messages")
    page.locator("input[name=subject]").fill("Slides")
    page.locator("textarea[name=body]").fill("The **slides** are online.")
    page.locator("button[value=preview]").click()
    audit.check("a message to registrants, previewed")
    page.locator("button[value=send]").click()
    audit.check("a message to registrants, sent without the tick")
    audit.visit("draft campaign", url + f"/admin/newsletter/campaigns/{states.draft_campaign_id}")
    page.locator("input[name=when][value=later]").check()
    page.locator("form[action$='/send'] button[type=submit]").click()
    audit.check("a campaign scheduled with errors")
    audit.visit("scheduled campaign", url + f"/admin/newsletter/campaigns/{states.scheduled_campaign_id}")
    audit.visit("organisers", url + "/admin/organisers")
    page.locator("form.stacked button[type=submit]").click()
    audit.check("add an organiser with errors")
    audit.visit("subscriber", url + f"/admin/newsletter/subscribers/{states.subscriber_id}")
    page.locator("form[action$='/erase'] button[type=submit]").click()
    audit.check("erase a subscriber without the tick")
    audit.visit("forgotten password", url + "/admin/password/forgot")
    page.locator("input[name=email]").fill("someone@example.org")
    page.locator("form.stacked button[type=submit]").click()
    audit.check("forgotten password, link sent")

    walked = {name for name in audit.audited if name.startswith("admin.")}
    every_page = _pages(live_site.app, admin=True) - {"admin.login"}  # audited first, before signing in
    assert walked == every_page, f"admin pages not audited: {sorted(every_page - walked)}"
    audit.assert_clean()


def test_axe_is_pinned_and_catches_a_violation(chromium):
    """The check can fail: a page with an unlabelled field and low contrast is reported."""
    lock = json.loads((ROOT / "tests" / "js" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/axe-core"]["version"] == "4.14.1"
    source = _axe_source()
    context = chromium.new_context(bypass_csp=True)
    try:
        page = context.new_page()
        page.set_content(
            '<html lang="en"><title>x</title><main><input type="text">'
            '<p style="color:#aaa;background:#fff">faint</p></main></html>'
        )
        audit = Auditor(page, source)
        audit.check("bad page")
        found = {violation["id"] for violations in audit.failures.values() for violation in violations}
        assert {"label", "color-contrast"} <= found
    finally:
        context.close()
