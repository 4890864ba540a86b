"""Organisers see subscribers, export them safely, and send campaigns through the CLI's path."""

import csv
import io
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import EMAIL, signed_in
from webinars.catalogue.models import Topic
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def cell(kind: str, number: int, page: str) -> bool:
    """Whether `page` shows `number` in the campaign progress cell of that kind."""
    return re.search(rf'<td class="progress-{kind}"[^>]*>{number}</td>', page) is not None


def _subscribers(app):
    with app.app_context():
        coops = make_topic("cooperatives", "Co-operatives")
        work = make_topic("future-of-work", "Future of work")
        rows = [
            ("ann@example.org", "Ann Archer", "subscribed", [coops]),
            ("bob@example.org", "Bob Baker", "subscribed", [work]),
            ("cat@example.org", "=cmd|' /C calc'!A0", "subscribed", [coops, work]),
            ("dan@example.org", "Dan Dale", "pending", [coops]),
            ("eve@example.org", "Eve Evans", "unsubscribed", [coops]),
        ]
        for email, name, status, topics in rows:
            db.session.add(
                Subscriber(
                    email=email,
                    name=name,
                    status=status,
                    topics=topics,
                    confirmed_at=utcnow() if status == "subscribed" else None,
                )
            )
        db.session.commit()
        return coops.id, work.id


def test_subscriber_counts_by_state_and_topic(app, organiser_client):
    _subscribers(app)
    page = organiser_client.get("/admin/newsletter").get_data(as_text=True)
    by_state = page.split('counts-by-state"')[1].split("</table>")[0]
    assert re.search(r"<td[^>]*>3</td><td[^>]*>1</td><td[^>]*>1</td>", by_state)
    by_topic = page.split('counts-by-topic"')[1].split("</table>")[0]
    assert re.search(r'<th scope="row">Co-operatives</th><td[^>]*>2</td><td[^>]*>1</td><td[^>]*>1</td>', by_topic)
    assert re.search(r'<th scope="row">Future of work</th><td[^>]*>2</td><td[^>]*>0</td><td[^>]*>0</td>', by_topic)


def test_subscriber_search_by_text_state_and_topic(app, organiser_client):
    _subscribers(app)
    page = organiser_client.get("/admin/newsletter?q=BAKER").get_data(as_text=True)
    assert "bob@example.org" in page and "ann@example.org" not in page
    page = organiser_client.get("/admin/newsletter?status=pending").get_data(as_text=True)
    assert "dan@example.org" in page and "ann@example.org" not in page
    page = organiser_client.get("/admin/newsletter?topic=future-of-work&status=subscribed").get_data(as_text=True)
    assert "bob@example.org" in page and "cat@example.org" in page and "ann@example.org" not in page
    # LIKE wildcards typed by the organiser are taken literally.
    page = organiser_client.get("/admin/newsletter?q=%25").get_data(as_text=True)
    assert "0 subscribers found." in page


def test_subscriber_csv_follows_the_search_and_is_safe(app, organiser_client):
    _subscribers(app)
    response = organiser_client.get("/admin/newsletter/subscribers.csv?topic=cooperatives")
    assert response.status_code == 200 and response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [row["email"] for row in rows] == [
        "ann@example.org",
        "cat@example.org",
        "dan@example.org",
        "eve@example.org",
    ]
    assert rows[1]["name"] == "'=cmd|' /C calc'!A0"
    assert rows[1]["topics"] == "cooperatives future-of-work"


def test_campaign_preview_then_send_reaches_subscribers_of_the_chosen_topics(app, organiser_client, smtp_server):
    coops_id, _work_id = _subscribers(app)
    data = {
        "subject": "Co-operative news",
        "body": "Hello **members**.\n\n<script>x()</script>",
        "topics": [str(coops_id)],
        "action": "preview",
    }
    preview = post_form(organiser_client, "/admin/newsletter/campaigns/new", data)
    assert preview.status_code == 200
    page = preview.get_data(as_text=True)
    assert "<strong>members</strong>" in page and "<script>x()</script>" not in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Campaign.id))) == 0

    # Sending needs the confirmation box ticked.
    refused = post_form(organiser_client, "/admin/newsletter/campaigns/new", {**data, "action": "send"})
    assert refused.status_code == 422 and "Tick this box" in refused.get_data(as_text=True)

    response = post_form(
        organiser_client, "/admin/newsletter/campaigns/new", {**data, "action": "send", "confirm": "y"}
    )
    assert response.status_code == 302
    campaign_url = response.headers["Location"]
    page = organiser_client.get(campaign_url).get_data(as_text=True)
    assert cell("queued", 2, page) and cell("sent", 0, page)
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.created_by == EMAIL and [t.slug for t in campaign.topics] == ["cooperatives"]
        recipients = db.session.scalars(select(OutboxMessage.to_address).order_by(OutboxMessage.to_address)).all()
        assert recipients == ["ann@example.org", "cat@example.org"]
        deliver_due()
    messages = smtp_server.wait_for(2)
    assert sorted(m.rcpt_tos[0] for m in messages) == ["ann@example.org", "cat@example.org"]
    assert all(m.subject == "Co-operative news" for m in messages)
    page = organiser_client.get(campaign_url).get_data(as_text=True)
    assert cell("sent", 2, page) and cell("queued", 0, page)
    listing = organiser_client.get("/admin/newsletter/campaigns").get_data(as_text=True)
    assert "Co-operative news" in listing and cell("sent", 2, listing)


def recipient_count(page: str) -> int:
    match = re.search(r'<p class="recipients"[^>]*>.*?(\d+) subscriber', page, re.S)
    assert match, "the form does not say how many subscribers the campaign reaches"
    return int(match.group(1))


def test_the_form_says_how_many_subscribers_a_campaign_reaches_before_it_is_sent(app, organiser_client, smtp_server):
    coops_id, work_id = _subscribers(app)  # ann: coops, bob: work, cat: both; dan pending, eve left
    with app.app_context():
        db.session.add(Subscriber(email="fay@example.org", name="Fay", status="subscribed", confirmed_at=utcnow()))
        webinar = make_webinar(title="Co-operative finance", topics=[db.session.get(Topic, coops_id)])
        db.session.commit()
        webinar_id = webinar.id
    # The announcement pre-ticks the webinar's topic: its followers and Fay, who chose no topic.
    page = organiser_client.get(f"/admin/newsletter/campaigns/new?webinar={webinar_id}").get_data(as_text=True)
    assert recipient_count(page) == 3
    data = {"subject": "News", "body": "Hi.", "topics": [str(work_id)], "action": "preview"}
    preview = post_form(organiser_client, "/admin/newsletter/campaigns/new", data).get_data(as_text=True)
    assert recipient_count(preview) == 3  # bob, cat and fay
    everyone = post_form(organiser_client, "/admin/newsletter/campaigns/new", {**data, "topics": []})
    assert recipient_count(everyone.get_data(as_text=True)) == 4
    # The count is the expansion's own selection: sending queues exactly that many.
    sent = post_form(organiser_client, "/admin/newsletter/campaigns/new", {**data, "action": "send", "confirm": "y"})
    assert sent.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Campaign.recipients_count)) == 3


def test_failed_deliveries_show_in_the_progress(app, organiser_client, smtp_server):
    _subscribers(app)
    smtp_server.refuse_rcpt("bob@example.org", code=550)
    data = {"subject": "To everyone", "body": "Hi.", "action": "send", "confirm": "y"}
    response = post_form(organiser_client, "/admin/newsletter/campaigns/new", data)
    assert response.status_code == 302
    with app.app_context():
        deliver_due()
    page = organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert cell("sent", 2, page)
    assert cell("failed", 1, page) or cell("suppressed", 1, page)


def test_a_subject_with_a_line_break_is_refused_beside_the_field(app, organiser_client):
    _subscribers(app)
    data = {"subject": "News\u2029of the month", "body": "Hi.", "action": "send", "confirm": "y"}
    response = post_form(organiser_client, "/admin/newsletter/campaigns/new", data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="subject-error"' in page and "no line breaks" in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count(Campaign.id))) == 0


def test_a_campaign_that_cannot_be_built_shows_why_it_stopped(app, organiser_client, smtp_server):
    _subscribers(app)
    with app.app_context():
        from webinars.newsletter import operations

        campaign = operations.create_campaign("Fine for now", "Hi.", [], created_by=EMAIL)
        campaign.subject = "Broken\u2028subject"  # stored before subjects were checked
        db.session.commit()
        operations.expand_campaign(campaign)
        campaign_id = campaign.id
        deliver_due()
    page = organiser_client.get(f"/admin/newsletter/campaigns/{campaign_id}").get_data(as_text=True)
    assert "Stopped" in page and "could not be built" in page
    assert cell("failed", 3, page)
    listing = organiser_client.get("/admin/newsletter/campaigns").get_data(as_text=True)
    assert "stopped" in listing


def test_announcing_a_webinar_prefills_the_campaign(app, organiser_client):
    with app.app_context():
        webinar = make_webinar(
            local_start=datetime(2030, 3, 12, 10, 0),
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            title="Worker co-operatives",
            topics=[make_topic()],
        )
        db.session.commit()
        webinar_id = webinar.id
    page = organiser_client.get(f"/admin/newsletter/campaigns/new?webinar={webinar_id}").get_data(as_text=True)
    assert "New webinar: Worker co-operatives" in page
    assert "10:00 Paris time | 18:00 Tokyo time" in page
    assert 'name="webinar"' in page
