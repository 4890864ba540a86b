"""The organisers' area never shows a stored identifier ('published', 'waitlisted', 'done',
'registration_confirmed') where a person reads: every state goes through webinars/labels.py, in the
reader's language. Every admin page (found by walking the URL map, so a new one cannot be left out)
is rendered in French with rows in every state, and its visible text is searched for raw words.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask import url_for
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from tests.test_content import make_item
from tests.test_french_emails import careless_colons
from webinars.admin import organisers
from webinars.admin.models import Organiser
from webinars.audit import AuditEvent
from webinars.database import utcnow
from webinars.extensions import db
from webinars.labels import LABELS
from webinars.newsletter import digest
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations import operations
from webinars.registrations import questions as registration_questions

# Every stored word that has a label (the languages' codes excepted: "en" is a French word).
RAW_WORDS = sorted({word for kind, words in LABELS.items() if kind != "language" for word in words})
RAW = re.compile(r"(?<![\w@.-])(" + "|".join(re.escape(word) for word in RAW_WORDS) + r")(?![\w@-])", re.IGNORECASE)

# GET endpoints that are not pages (files, JSON), and the sign-in page, which shows no stored word.
NOT_PAGES = {
    "admin.registrations_csv",
    "admin.subscribers_csv",
    "admin.webinars_csv",
    "admin.preview_zones",
    "admin.login",
}

# Attributes a person reads or hears: labels of table cells shown on a phone, accessible names, hints.
READ_ATTRIBUTES = {"data-label", "aria-label", "title", "alt", "placeholder"}


class VisibleText(HTMLParser):
    """The text of a page as a person meets it: text nodes (not scripts or styles) and the attributes above."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [value for name, value in attrs if name in READ_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def visible_text(page: str, collapse: bool = True) -> str:
    parser = VisibleText()
    parser.feed(page)
    text = " ".join(parser.parts)
    # Collapsing only ASCII white space keeps the no-break spaces that French typography needs.
    return " ".join(text.split()) if collapse else re.sub(r"[ \t\r\n]+", " ", text)


def raw_words(page: str) -> list[str]:
    text = visible_text(page)
    return [text[max(0, m.start() - 40) : m.end() + 40] for m in RAW.finditer(text)]


def test_the_check_finds_a_raw_state_and_ignores_what_nobody_reads():
    assert raw_words("<td data-label='Statut'>published</td>")
    assert raw_words("<p>Statut : <span>waitlisted</span></p>")
    assert raw_words("<td>registration_confirmed</td>")
    assert not raw_words('<a href="/admin/webinars?status=draft" class="status-draft">Brouillon</a>')
    assert not raw_words("<script>var state = 'done';</script><p>confirmed@example.org</p>")


@pytest.fixture
def french_organiser(sqlite_app, smtp_server):
    """Signed in, reading French; rows in every state, made by this organiser (in French) where an
    organiser makes them, so that the history speaks French too."""
    app = sqlite_app
    client = signed_in(app, app.test_client())
    client.set_cookie("lang", "fr")
    now = utcnow()
    with app.app_context():
        topic = make_topic("cooperatives", "Coopératives")
        full = make_webinar(slug="salle-pleine", title="Une salle pleine", capacity=1, topics=[topic])
        held = make_webinar(slug="a-confirmer", title="À confirmer", confirm_registrations=True)
        later = make_webinar(slug="plus-tard", title="Plus tard", capacity=5)
        draft = make_webinar(slug="brouillon", title="Pas encore", status="draft")
        seated = operations.register(full, name="Ana", email="ana@example.org", now=now)
        queued = operations.register(full, name="Bea", email="bea@example.org", now=now)
        leaving = operations.register(later, name="Cleo", email="cleo@example.org", now=now)
        operations.register(held, name="Dora", email="dora@example.org", now=now)
        lapsed = operations.register(held, name="Eva", email="eva@example.org", now=now - timedelta(days=9))
        operations.expire_lapsed_holds(now)
        live = make_item(title="Un rapport publié", topics=[topic])
        hidden = make_item(title="Un brouillon d’article", status="draft")
        newsletter.request_subscription("fay@example.org", "Fay", [], source="test", consent_text="c")
        newsletter.request_subscription("gus@example.org", "Gus", [], source="test", consent_text="c")
        newsletter.request_subscription("hal@example.org", "Hal", [], source="test", consent_text="c")
        subscribers = {s.email: s for s in db.session.scalars(select(Subscriber))}
        newsletter.confirm(subscribers["gus@example.org"])
        newsletter.confirm(subscribers["hal@example.org"])
        newsletter.unsubscribe(subscribers["hal@example.org"], source="test")
        sent = newsletter.create_campaign("Nouvelles", "Bonjour.", [], created_by="test")
        stopped = newsletter.create_campaign("Arrêtée", "Bonjour.", [], created_by="test")
        drafted = newsletter.create_campaign("Brouillon", "Bonjour.", [], created_by="test", draft=True)
        planned = newsletter.create_campaign("Prévue", "Bonjour.", [], created_by="test", draft=True)
        newsletter.schedule_campaign(planned, now + timedelta(days=3), "Europe/Paris", now=now)
        question = registration_questions.add_question(
            full,
            registration_questions.QuestionFields(kind="single_choice", label="Votre secteur", options=["A", "B"]),
            now=now,
        )
        organiser = db.session.scalar(select(Organiser))
        organiser.name = "Olga Martin"  # the factory's "Olga Organiser" would read as the raw word "organiser"
        db.session.commit()
        newsletter.expand_campaign(sent)
        newsletter.stop_campaign(stopped.id, "no way to build it", now=now)
        db.session.add_all(
            OutboxMessage(kind=kind, to_address=f"{kind}@example.org", raw=b"x", status=status, attempts=attempts)
            for kind, status, attempts in (("campaign", "failed", 15), ("reminder_1h", "suppressed", 1))
        )
        db.session.commit()
        deliver_due()
        plan = digest.make_plan(*digest.next_period(utcnow()))
        digest.expand_digest(digest.create_digest(plan, created_by="test"))
        db.session.commit()
        deliver_due()
        for campaign in db.session.scalars(select(Campaign)):
            newsletter.finish_campaign_if_done(campaign)
        db.session.commit()
        ids = {
            "full": full.id,
            "later": later.id,
            "draft": draft.id,
            "seated": seated.id,
            "queued": queued.id,
            "leaving": leaving.id,
            "lapsed": lapsed.id,
            "live": live.id,
            "hidden": hidden.id,
            "topic": topic.id,
            "campaign": sent.id,
            "stopped": stopped.id,
            "drafted": drafted.id,
            "planned": planned.id,
            "question": question.id,
            "subscribers": sorted(subscriber.id for subscriber in subscribers.values()),
            "organiser": organiser.id,
            "reset": organisers.reset_token(organiser, utcnow()),
        }
    # What organisers do, in French: publish and unpublish, cancel a registration, a webinar.
    assert post_form(client, f"/admin/content/{ids['hidden']}/publish", form_url=f"/admin/content/{ids['hidden']}")
    post_form(client, f"/admin/content/{ids['hidden']}/unpublish", form_url=f"/admin/content/{ids['hidden']}")
    cancel = f"/admin/registrations/{ids['leaving']}/cancel"
    assert post_form(client, cancel).status_code == 302
    assert (
        post_form(
            client, f"/admin/webinars/{ids['later']}/cancel", {"reason": "Orateur malade.", "confirm": "y"}
        ).status_code
        == 302
    )
    with app.app_context():
        assert db.session.scalar(select(db.func.count(AuditEvent.id))) >= 3
    return app, client, ids


def _admin_urls(app, ids: dict) -> dict[str, list[str]]:
    """Each admin GET page, with every row it can be about."""
    arguments = {
        "webinar_id": [ids["full"], ids["later"], ids["draft"]],
        "registration_id": [ids["seated"], ids["queued"], ids["lapsed"], ids["leaving"]],
        "item_id": [ids["live"], ids["hidden"]],
        "topic_id": [ids["topic"]],
        "campaign_id": [ids["campaign"], ids["stopped"], ids["drafted"], ids["planned"]],
        "question_id": [ids["question"]],
        "subscriber_id": ids["subscribers"],
        "organiser_id": [ids["organiser"]],
        "token": [ids["reset"]],
    }
    # Pages about an action that only some rows allow (others are sent back with a message).
    special = {
        "admin.webinar_discard": {"webinar_id": [ids["draft"]]},
        "admin.webinar_cancel": {"webinar_id": [ids["full"]]},
        "admin.registration_cancel": {"registration_id": [ids["seated"], ids["queued"]]},
        "admin.registration_promote": {"registration_id": [ids["queued"]]},
        "admin.campaign_edit": {"campaign_id": [ids["drafted"]]},
        "admin.registrant_add": {"webinar_id": [ids["full"]]},
    }
    urls: dict[str, list[str]] = {}
    with app.test_request_context("/"):
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("admin.") or "GET" not in rule.methods or rule.endpoint in NOT_PAGES:
                continue
            unknown = set(rule.arguments) - arguments.keys()
            assert not unknown, f"{rule.endpoint}: give this test rows for {sorted(unknown)}"
            [name] = rule.arguments or [None]
            values = special.get(rule.endpoint, arguments).get(name, [None]) if name else [None]
            urls[rule.endpoint] = [url_for(rule.endpoint, **({name: value} if name else {})) for value in values]
    return urls


def test_no_admin_page_shows_a_stored_state_word_in_french(french_organiser):
    app, client, ids = french_organiser
    urls = _admin_urls(app, ids)
    # Filters show the rows of one state each.
    for status in ("confirmed", "waitlisted", "pending", "expired", "cancelled"):
        urls["admin.registrations"].append(f"/admin/webinars/{ids['full']}/registrations?status={status}")
    for status in ("pending", "subscribed", "unsubscribed"):
        urls["admin.newsletter"].append(f"/admin/newsletter?status={status}")
    found, colons = {}, {}
    for endpoint, paths in sorted(urls.items()):
        for path in paths:
            response = client.get(path)
            assert response.status_code == 200, f"{endpoint} {path}: {response.status_code}"
            if words := raw_words(response.get_data(as_text=True)):
                found[path] = words
            # French puts a no-break space before a colon ("Statut : publié", never "Statut: publié").
            if careless := careless_colons(visible_text(response.get_data(as_text=True), collapse=False)):
                colons[path] = careless
    # Pages behind a POST: what is held about an address.
    response = post_form(client, "/admin/privacy", {"email": "ana@example.org", "action": "find"})
    assert response.status_code == 200
    if words := raw_words(response.get_data(as_text=True)):
        found["/admin/privacy (ana@example.org)"] = words
    assert not found, "raw stored words on French admin pages:\n" + "\n".join(f"{k}: {v}" for k, v in found.items())
    assert not colons, "colons without a no-break space:\n" + "\n".join(f"{k}: {v}" for k, v in colons.items())
