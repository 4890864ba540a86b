"""Owners act on one newsletter subscriber from the admin: unsubscribe, export and erase, through the same
operations as the commands, each confirmed first and recorded in the history without the address."""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.audit import AuditEvent
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter.models import Subscriber
from webinars.newsletter.operations import request_subscription
from webinars.privacy.operations import fingerprint
from webinars.registrations.models import Registration
from webinars.registrations.operations import register

EMAIL = "reader@example.org"


def _subscriber(app) -> int:
    with app.app_context():
        request_subscription(EMAIL, "Rita Reader", [], source="newsletter_form", consent_text="I agree")
        subscriber = db.session.scalar(select(Subscriber))
        subscriber.status, subscriber.confirmed_at = "subscribed", utcnow()
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0))
        register(webinar, name="Rita Reader", email=EMAIL, now=utcnow())
        db.session.commit()
        return subscriber.id


def _audit(app) -> list[tuple[str, str]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(select(AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id))
        ]


def test_the_list_links_each_subscriber_to_a_page_of_what_is_held(app, client):
    subscriber_id = _subscriber(app)
    organiser = signed_in(app, client)
    listing = organiser.get("/admin/newsletter").get_data(as_text=True)
    assert f'<a href="/admin/newsletter/subscribers/{subscriber_id}">{EMAIL}</a>' in listing
    page = organiser.get(f"/admin/newsletter/subscribers/{subscriber_id}").get_data(as_text=True)
    assert "Rita Reader" in page and "asked to subscribe · the newsletter form" in page and "1 registration" in page


def test_unsubscribing_asks_for_a_tick_then_acts_like_the_persons_own_link(app, client):
    subscriber_id = _subscriber(app)
    organiser = signed_in(app, client)
    url = f"/admin/newsletter/subscribers/{subscriber_id}"
    unticked = post_form(organiser, f"{url}/unsubscribe", {}, form_url=url)
    assert unticked.status_code == 422 and "Tick this box to confirm." in unticked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Subscriber, subscriber_id).status == "subscribed"
    response = post_form(organiser, f"{url}/unsubscribe", {"confirm": "y"}, form_url=url)
    assert response.status_code == 303
    with app.app_context():
        subscriber = db.session.get(Subscriber, subscriber_id)
        assert subscriber.status == "unsubscribed"
        assert [(e.action, e.source) for e in subscriber.consent_events][-1] == ("unsubscribed", "organiser")
        key = fingerprint(EMAIL)
    assert _audit(app) == [("subscriber unsubscribed", f"Address fingerprint {key} (by an organiser)")]
    assert EMAIL not in str(_audit(app))


def test_export_downloads_what_privacy_export_prints_and_is_recorded(app, client, runner):
    subscriber_id = _subscriber(app)
    organiser = signed_in(app, client)
    url = f"/admin/newsletter/subscribers/{subscriber_id}"
    response = post_form(organiser, f"{url}/export", {}, form_url=url)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert (
        "attachment" in response.headers["Content-Disposition"] and EMAIL not in response.headers["Content-Disposition"]
    )
    downloaded = json.loads(response.get_data(as_text=True))
    printed = json.loads(runner.invoke(args=["privacy", "export", EMAIL]).output)
    for data in (downloaded, printed):
        data.pop("exported_at")
    assert downloaded == printed
    assert downloaded["subscriber"]["name"] == "Rita Reader" and len(downloaded["registrations"]) == 1
    actions = [action for action, _ in _audit(app)]
    assert actions == ["data exported", "data exported"]
    assert client.get(f"{url}/export").status_code == 405  # GET never exports


def test_erasing_asks_for_a_tick_then_erases_everything_like_the_command(app, client):
    subscriber_id = _subscriber(app)
    organiser = signed_in(app, client)
    url = f"/admin/newsletter/subscribers/{subscriber_id}"
    unticked = post_form(organiser, f"{url}/erase", {}, form_url=url)
    assert unticked.status_code == 422 and "Tick this box to erase the data." in unticked.get_data(as_text=True)
    response = post_form(organiser, f"{url}/erase", {"erase": "y"}, form_url=url)
    assert response.status_code == 303
    assert "Erased:" in organiser.get(response.headers["Location"]).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Subscriber, subscriber_id) is None
        registration = db.session.scalar(select(Registration))
        assert registration.erased_at is not None and registration.name == ""
    [(action, details)] = _audit(app)
    assert action == "data erased" and EMAIL not in details and "a newsletter subscription" in details
    assert organiser.get(url).status_code == 404
