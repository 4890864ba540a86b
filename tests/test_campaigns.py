"""Campaigns: expansion in checkpointed batches, per-recipient messages, resume after crashes, rate limit."""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.factories import make_topic, make_webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations
from webinars.newsletter.campaigns import campaign_message_bytes
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage, Suppression
from webinars.outbox.sender import Sender, deliver_due

BODY = "Hello **everyone**.\n\nSee [the programme](https://example.org/p).\n\n<script>alert(1)</script>\n"


def add_subscribers(app, count: int, *, status="subscribed", topics=(), prefix="p") -> list[str]:
    with app.app_context():
        chosen = [make_topic(slug, slug.title()) for slug in topics]
        emails = [f"{prefix}{n}@example.com" for n in range(count)]
        for email in emails:
            db.session.add(Subscriber(email=email, status=status, topics=list(chosen), created_at=utcnow()))
        db.session.commit()
        return emails


def new_campaign(app, topics=(), body=BODY) -> int:
    with app.app_context():
        for slug in topics:
            make_topic(slug, slug.title())
        campaign = operations.create_campaign("News of the month", body, topics, created_by="test")
        db.session.commit()
        return campaign.id


def expand(app, campaign_id: int, batch_size: int = 5000) -> int:
    with app.app_context():
        return operations.expand_campaign(db.session.get(Campaign, campaign_id), batch_size=batch_size)


def deliver(app):
    with app.app_context():
        return deliver_due()


def received(smtp_server) -> Counter:
    return Counter(rcpt for message in smtp_server.messages for rcpt in message.rcpt_tos)


def test_campaign_reaches_each_subscriber_of_its_topics_once_with_their_own_links(app, runner, smtp_server, tmp_path):
    coop = add_subscribers(app, 3, topics=["cooperatives"], prefix="coop")
    work = add_subscribers(app, 2, topics=["future-of-work"], prefix="work")
    both = add_subscribers(app, 1, topics=["cooperatives", "future-of-work"], prefix="both")
    add_subscribers(app, 2, topics=["digital-economy"], prefix="digital")
    add_subscribers(app, 2, status="pending", topics=["cooperatives"], prefix="pending")
    add_subscribers(app, 1, status="unsubscribed", topics=["cooperatives"], prefix="left")
    body = tmp_path / "body.md"
    body.write_text(BODY, encoding="utf-8")

    result = runner.invoke(
        args=["newsletter", "send", "--subject", "Café news", "--body-file", str(body)]
        + ["--topic", "cooperatives", "--topic", "future-of-work"]
    )
    assert result.exit_code == 0, result.output
    assert "6 recipients queued" in result.output
    report = deliver(app)
    assert report.sent == 6
    assert received(smtp_server) == Counter(coop + work + both)

    tokens = set()
    for message in smtp_server.messages:
        [address] = message.rcpt_tos
        assert message.message["To"] == address
        assert message.subject == "Café news"
        unsubscribe = message.message["List-Unsubscribe"]
        assert unsubscribe.startswith("<http://webinars.test/newsletter/unsubscribe/") and unsubscribe.endswith(">")
        assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        token = unsubscribe[1:-1].rsplit("/", 1)[1]
        tokens.add(token)
        with app.app_context():
            assert operations.subscriber_from_manage_token(token).email == address
        text, html = message.body("plain"), message.body("html")
        assert "Hello everyone." in text and "the programme (https://example.org/p)" in text
        assert f"Unsubscribe: http://webinars.test/newsletter/unsubscribe/{token}" in text
        assert "The above information is thought to be of direct interest to you" in text
        assert "<strong>everyone</strong>" in html and "<script>" not in html
        assert f'href="http://webinars.test/newsletter/preferences/{token}"' in html
        # Lines stay within RFC 5322/2045 limits whatever the token's length.
        assert all(len(line) <= 78 for line in message.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n"))
    assert len(tokens) == 6
    assert len({m.message["Message-ID"] for m in smtp_server.messages}) == 6
    with app.app_context():
        progress = operations.campaign_progress(db.session.get(Campaign, 1))
    assert progress == {"queued": 0, "sending": 0, "sent": 6, "failed": 0, "suppressed": 0, "total": 6}


def test_campaign_without_topics_goes_to_every_confirmed_subscriber_not_suppressed(app, smtp_server):
    everyone = add_subscribers(app, 4, topics=["cooperatives"]) + add_subscribers(app, 2, prefix="plain")
    add_subscribers(app, 1, status="pending", prefix="pending")
    with app.app_context():
        db.session.add(Suppression(email=everyone[0], reason="RCPT 550"))
        db.session.commit()
    assert expand(app, new_campaign(app)) == 5
    deliver(app)
    assert received(smtp_server) == Counter(everyone[1:])


def test_subscribers_who_chose_no_topic_receive_every_campaign_also_topic_targeted_ones(app, smtp_server):
    # "Choose none to hear about everything": also everyone who opted in from a registration form.
    coop = add_subscribers(app, 2, topics=["cooperatives"], prefix="coop")
    add_subscribers(app, 2, topics=["digital-economy"], prefix="digital")
    everything = add_subscribers(app, 3, prefix="all")
    add_subscribers(app, 1, status="pending", prefix="pending")
    with app.app_context():
        assert operations.count_recipients(["cooperatives"]) == 5
    assert expand(app, new_campaign(app, topics=["cooperatives"])) == 5
    deliver(app)
    assert received(smtp_server) == Counter(coop + everything)


def test_an_announcement_for_a_topic_reaches_those_who_chose_no_topic(app, runner, smtp_server):
    with app.app_context():
        make_webinar(slug="co-ops", topics=[make_topic("cooperatives", "Co-operatives")])
        db.session.commit()
    coop = add_subscribers(app, 1, topics=["cooperatives"], prefix="coop")
    add_subscribers(app, 1, topics=["future-of-work"], prefix="work")
    everything = add_subscribers(app, 2, prefix="all")
    result = runner.invoke(args=["newsletter", "announce", "co-ops", "--topic", "cooperatives"])
    assert result.exit_code == 0, result.output
    assert "3 recipients queued" in result.output
    deliver(app)
    assert received(smtp_server) == Counter(coop + everything)


def test_expansion_resumes_after_a_crash_without_duplicates_or_gaps(app, smtp_server, monkeypatch):
    emails = add_subscribers(app, 23)
    campaign_id = new_campaign(app)
    real = operations._recipients_between
    calls = {"n": 0}

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(operations, "_recipients_between", crash_on_third_batch)
    with app.app_context(), pytest.raises(RuntimeError):
        operations.expand_campaign(db.session.get(Campaign, campaign_id), batch_size=5)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert (campaign.status, campaign.expanded_through_id, campaign.recipients_count) == ("expanding", 10, 10)
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 10
        # A checkpoint that lags behind what was inserted must not double anyone either.
        campaign.expanded_through_id = 5
        db.session.commit()
    monkeypatch.setattr(operations, "_recipients_between", real)
    assert expand(app, campaign_id, batch_size=5) == 13
    deliver(app)
    assert received(smtp_server) == Counter(emails)


def test_sending_resumes_after_a_worker_dies_mid_batch_without_duplicates(app, smtp_server):
    emails = add_subscribers(app, 25)
    expand(app, new_campaign(app))
    app.config["MAIL_BATCH_SIZE"] = 10
    with app.app_context():
        sender = Sender(worker_id="doomed")
        real_send = sender.transport.send
        sent = {"n": 0}

        def dies_after_twelve(row, raw):
            if sent["n"] == 12:
                raise KeyboardInterrupt("worker killed")  # not caught by the sender, like SIGKILL
            sent["n"] += 1
            real_send(row, raw)

        sender.transport.send = dies_after_twelve
        with pytest.raises(KeyboardInterrupt):
            sender.deliver()
        sender.close()
        db.session.rollback()
    assert len(smtp_server.messages) == 12
    # Another worker takes over once the dead worker's lease has run out.
    with app.app_context():
        report = deliver_due(now=utcnow() + timedelta(hours=1))
    assert report.sent == 13
    assert received(smtp_server) == Counter(emails)


def test_people_who_leave_or_bounce_after_expansion_are_skipped(app, smtp_server):
    emails = add_subscribers(app, 4)
    smtp_server.refuse_rcpt(emails[3], code=550)
    first = new_campaign(app)
    expand(app, first)
    with app.app_context():
        leaver = db.session.scalar(select(Subscriber).where(Subscriber.email == emails[0]))
        operations.unsubscribe(leaver, source="test")
        db.session.add(Suppression(email=emails[1], reason="bounced elsewhere"))
        db.session.commit()
    report = deliver(app)
    assert (report.sent, report.suppressed, report.failed) == (1, 2, 1)
    assert received(smtp_server) == Counter([emails[2]])
    # The hard bounce is remembered: the next campaign does not even queue that address.
    smtp_server.clear()
    assert expand(app, new_campaign(app)) == 1


def test_erased_subscriber_is_skipped(app, smtp_server):
    emails = add_subscribers(app, 2)
    expand(app, new_campaign(app))
    with app.app_context():
        operations.erase_subscriber(emails[0])
        db.session.commit()
    deliver(app)
    assert received(smtp_server) == Counter([emails[1]])


def test_one_click_link_from_a_campaign_unsubscribes(app, smtp_server):
    [email] = add_subscribers(app, 1)
    expand(app, new_campaign(app))
    deliver(app)
    url = smtp_server.messages[0].message["List-Unsubscribe"][1:-1]
    response = app.test_client(use_cookies=False).post(
        url.replace("http://webinars.test", ""), data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    smtp_server.clear()
    assert expand(app, new_campaign(app)) == 0


@pytest.mark.app_config(MAIL_RATE_LIMIT=20)
def test_send_rate_limit_is_respected(app, smtp_server):
    add_subscribers(app, 10)
    expand(app, new_campaign(app))
    started = time.monotonic()
    assert deliver(app).sent == 10
    elapsed = time.monotonic() - started
    # 10 messages at 20/s: the first goes at once, then one every 50 ms.
    assert elapsed >= 9 / 20 * 0.95
    assert elapsed < 5


def test_campaign_is_rendered_once_and_each_message_is_distinct(sqlite_app, monkeypatch):
    # Speed itself is measured by `make bench`; here we check the property it rests on:
    # templates render once per campaign, not once per recipient.
    from webinars.newsletter import campaigns

    renders = []
    original = campaigns._prepare
    monkeypatch.setattr(
        campaigns, "_prepare", lambda campaign, language: renders.append(campaign.id) or original(campaign, language)
    )
    add_subscribers(sqlite_app, 1000)
    campaign_id = new_campaign(sqlite_app)
    expand(sqlite_app, campaign_id)
    with sqlite_app.app_context():
        rows = db.session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.to_address,
                OutboxMessage.campaign_id,
                OutboxMessage.subscriber_id,
            ).order_by(OutboxMessage.id)
        ).all()
        messages = [campaign_message_bytes(row) for row in rows]
    assert renders == [campaign_id]
    assert all(messages) and len(set(messages)) == 1000


def test_announce_composes_title_date_zones_and_link(app, runner):
    with app.app_context():
        make_webinar(
            slug="co-ops",
            title="Co-operatives *now*",
            local_start=datetime(2030, 6, 4, 10, 0),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
        )
        db.session.commit()
    add_subscribers(app, 2)
    result = runner.invoke(args=["newsletter", "announce", "co-ops"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.subject == "New webinar: Co-operatives *now*"
        assert campaign.webinar.slug == "co-ops"
        assert "Co-operatives *now*" in campaign.body_html  # a title is text, not emphasis
        assert "Tuesday 4 June 2030" in campaign.body_text
        assert "10:00" in campaign.body_text and "17:00" in campaign.body_text
        assert "http://webinars.test/webinars/co-ops" in campaign.body_html
        assert campaign.recipients_count == 2
    assert runner.invoke(args=["newsletter", "announce", "nope"]).exit_code != 0


def test_campaign_with_unknown_topic_or_bad_subject_is_refused(app, runner, tmp_path):
    body = tmp_path / "b.md"
    body.write_text("Hi", encoding="utf-8")
    result = runner.invoke(args=["newsletter", "send", "--subject", "S", "--body-file", str(body), "--topic", "nope"])
    assert result.exit_code != 0 and "Unknown topic" in result.output
    with app.app_context(), pytest.raises(ValueError):
        operations.create_campaign("Hi\r\nBcc: x@example.com", "body", [], created_by="test")


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85", "\x0b", "\n"])
def test_a_subject_must_be_one_line_whatever_the_line_break(app, runner, tmp_path, separator):
    body = tmp_path / "b.md"
    body.write_text("Hi", encoding="utf-8")
    subject = f"News{separator}of the month"
    result = runner.invoke(args=["newsletter", "send", "--subject", subject, "--body-file", str(body)])
    assert result.exit_code != 0 and "one line" in result.output
    with app.app_context():
        with pytest.raises(ValueError, match="one line"):
            operations.create_campaign(subject, "body", [], created_by="test")
        assert db.session.scalar(select(func.count(Campaign.id))) == 0


def test_a_body_file_with_a_control_character_is_refused_with_where_it_is(app, runner, tmp_path):
    body = tmp_path / "b.md"
    body.write_text("Hello\n\nA NUL\x00 from a broken export.", encoding="utf-8")
    result = runner.invoke(args=["newsletter", "send", "--subject", "News", "--body-file", str(body)])
    assert result.exit_code != 0
    assert "Line 3 holds an invisible control character (U+0000)" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 0


def test_an_announcement_of_a_webinar_stored_with_a_line_break_in_its_title_gets_a_one_line_subject(app, runner):
    with app.app_context():
        make_webinar(slug="co-ops", title="Co-operatives\u2028and the city")  # stored before titles were checked
        db.session.commit()
    add_subscribers(app, 1)
    result = runner.invoke(args=["newsletter", "announce", "co-ops"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(Campaign.subject)) == "New webinar: Co-operatives and the city"


def _broken_campaign(app) -> int:
    """A campaign whose subject cannot be a header (stored before subjects were checked)."""
    with app.app_context():
        campaign = operations.create_campaign("Fine for now", BODY, [], created_by="test")
        campaign.subject = "News\u2028of the month"
        db.session.commit()
        return campaign.id


def test_a_campaign_whose_messages_cannot_be_built_stops_with_a_clear_error(app, runner, smtp_server):
    add_subscribers(app, 3)
    campaign_id = _broken_campaign(app)
    assert expand(app, campaign_id) == 3
    result = runner.invoke(args=["mail", "send"])
    # Every message fails at once, none waits to be retried for hours, and nothing is sent.
    assert "0 sent, 0 to retry, 3 failed" in result.output and smtp_server.messages == []
    assert f"Campaign {campaign_id} stopped: The messages of this campaign could not be built" in result.output
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.status == "failed"
        assert "could not be built" in campaign.error and "Subject" in campaign.error
        statuses = db.session.scalars(select(OutboxMessage.status).where(OutboxMessage.campaign_id == campaign_id))
        assert set(statuses) == {"failed"}
    assert deliver(app).claimed == 0
    result = runner.invoke(args=["newsletter", "progress", str(campaign_id)])
    assert f"Campaign {campaign_id} (stopped)" in result.output and "could not be built" in result.output


def test_worker_housekeeping_resumes_an_abandoned_expansion_and_marks_the_campaign_done(app, smtp_server):
    emails = add_subscribers(app, 7)
    campaign_id = new_campaign(app)
    expand(app, campaign_id, batch_size=3)  # as if the process died after this call's first batches...
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        # ...rewind to a crash after the first batch: checkpoint at the third subscriber, still expanding.
        db.session.execute(
            OutboxMessage.__table__.delete().where(
                OutboxMessage.campaign_id == campaign_id, OutboxMessage.to_address.in_(emails[3:])
            )
        )
        campaign.status = "expanding"
        campaign.expanded_through_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email == emails[2]))
        db.session.commit()
        # A fresh expansion is left alone (its request may still be running); a stale one is resumed.
        operations.tend_campaigns(now=utcnow())
        assert db.session.get(Campaign, campaign_id).status == "expanding"
        operations.tend_campaigns(now=utcnow() + timedelta(minutes=5))
        assert db.session.get(Campaign, campaign_id).status == "sending"
    assert deliver(app).sent == 7
    assert received(smtp_server) == Counter(emails)
    with app.app_context():
        operations.tend_campaigns()
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.status == "done" and campaign.finished_at is not None


def test_the_per_worker_cache_of_rendered_campaigns_is_bounded(sqlite_app, smtp_server):
    from webinars.newsletter import campaigns

    add_subscribers(sqlite_app, 1)
    for _ in range(campaigns.CAMPAIGN_CACHE_SIZE + 5):
        expand(sqlite_app, new_campaign(sqlite_app, body="A short one."))
    with sqlite_app.app_context():
        report = deliver_due()
        cached = len(sqlite_app.extensions[campaigns.CACHE_KEY].campaigns)
    assert report.sent == campaigns.CAMPAIGN_CACHE_SIZE + 5
    assert 0 < cached <= campaigns.CAMPAIGN_CACHE_SIZE
