"""The newsletter digest: who gets what, once per period, resumable, rendered once per distinct content."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import date, datetime, timedelta

import pytest
import pytz
from sqlalchemy import func, select

from tests.factories import make_topic, make_webinar
from tests.test_content import make_item
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import digest as digests
from webinars.newsletter import operations
from webinars.newsletter.models import Digest, Subscriber
from webinars.outbox.models import OutboxMessage, Suppression
from webinars.outbox.sender import deliver_due


def subscriber(email: str, *, topics=(), status="subscribed", timezone=None) -> Subscriber:
    person = Subscriber(
        email=email, status=status, topics=[make_topic(slug, slug.title()) for slug in topics], timezone=timezone
    )
    db.session.add(person)
    db.session.flush()
    return person


def run_digest(runner, *args) -> str:
    result = runner.invoke(args=["newsletter", "digest", *args])
    assert result.exit_code == 0, result.output
    return result.output


def deliver(app):
    with app.app_context():
        return deliver_due()


def by_recipient(smtp_server) -> dict[str, object]:
    return {message.rcpt_tos[0]: message for message in smtp_server.messages}


@pytest.fixture
def newsroom(app):
    """Two topics, items and webinars in each and one without topics, and subscribers of every kind."""
    with app.app_context():
        coop, tourism = make_topic("cooperatives", "Co-operatives"), make_topic("tourism", "Tourism")
        now = utcnow()
        make_item(title="Co-op news", published_on=date(2017, 9, 27), topics=[coop])
        make_item(title="Tourism news", published_on=date(2017, 9, 28), topics=[tourism], item_type="article")
        make_item(title="An old draft", topics=[coop], status="draft")
        make_webinar(
            title="Co-op webinar",
            starts_at=now + timedelta(days=5),
            timezone="Europe/Paris",
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            topics=[coop],
        )
        make_webinar(title="Too far away", starts_at=now + timedelta(days=45), topics=[coop])
        make_webinar(title="Cancelled one", starts_at=now + timedelta(days=6), topics=[coop], status="cancelled")
        subscriber("coop@example.org", topics=["cooperatives"], timezone="America/New_York")
        subscriber("tourism@example.org", topics=["tourism"])
        subscriber("everything@example.org")
        subscriber("pending@example.org", status="pending")
        subscriber("left@example.org", status="unsubscribed")
        subscriber("bounced@example.org")
        db.session.add(Suppression(email="bounced@example.org", reason="RCPT 550"))
        db.session.commit()
    return app


def test_each_confirmed_subscriber_gets_what_matches_their_topics(newsroom, runner, smtp_server):
    output = run_digest(runner)
    assert "3 recipients queued" in output
    assert deliver(newsroom).sent == 3
    mails = by_recipient(smtp_server)
    assert set(mails) == {"coop@example.org", "tourism@example.org", "everything@example.org"}

    coop = mails["coop@example.org"].body("plain")
    assert "Co-op news" in coop and "Tourism news" not in coop and "An old draft" not in coop
    assert "Co-op webinar" in coop and "Too far away" not in coop and "Cancelled one" not in coop
    assert "News · 27 September 2017" in coop
    # Times as on the site, and in the subscriber's own zone.
    assert "Paris time | " in coop and "Tokyo time" in coop
    assert "Your time (New York, United States):" in coop

    tourism = mails["tourism@example.org"].body("plain")
    assert "Tourism news" in tourism and "Co-op" not in tourism and "Your time" not in tourism
    everything = mails["everything@example.org"].body("plain")
    assert all(title in everything for title in ("Co-op news", "Tourism news", "Co-op webinar"))
    html = mails["everything@example.org"].body("html")
    assert "<script>" not in html and "Co-op webinar</a>" in html


def test_each_digest_carries_one_click_unsubscribe_that_works(newsroom, runner, smtp_server, client):
    run_digest(runner)
    deliver(newsroom)
    message = by_recipient(smtp_server)["tourism@example.org"]
    assert message.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message.message["List-Unsubscribe"][1:-1]
    assert link.startswith("http://webinars.test/newsletter/unsubscribe/")
    assert link in message.body("plain")
    response = client.post(link.removeprefix("http://webinars.test"), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with newsroom.app_context():
        assert db.session.scalar(select(Subscriber.status).where(Subscriber.email == "tourism@example.org")) == (
            "unsubscribed"
        )


def test_a_subscriber_with_nothing_new_is_skipped_and_a_second_run_sends_nothing(newsroom, runner, smtp_server):
    run_digest(runner)
    deliver(newsroom)
    smtp_server.clear()
    output = run_digest(runner)  # the period since the first digest: nothing new in it
    assert "0 recipients queued, 4 with nothing new (or suppressed) skipped" in output
    with newsroom.app_context():
        make_item(title="Fresh tourism news", topics=[make_topic("tourism")])
        db.session.commit()
    output = run_digest(runner)
    # Only the tourism subscriber and the one who follows everything have something new.
    assert "2 recipients queued" in output
    deliver(newsroom)
    assert Counter(message.rcpt_tos[0] for message in smtp_server.messages) == Counter(
        ["tourism@example.org", "everything@example.org"]
    )
    fresh = by_recipient(smtp_server)["tourism@example.org"].body("plain")
    assert "Fresh tourism news" in fresh and "Tourism news\n" not in fresh  # only what is new


def test_running_twice_for_the_same_period_sends_nothing_the_second_time(newsroom, runner, smtp_server):
    first = run_digest(runner, "--since", "2020-01-01")
    assert "3 recipients queued" in first
    second = run_digest(runner, "--since", "2020-01-01")
    assert "already recorded (digest 1); nothing sent" in second
    deliver(newsroom)
    assert len(smtp_server.messages) == 3
    with newsroom.app_context():
        assert db.session.scalar(select(func.count(Digest.id))) == 1
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 3


def test_since_limits_the_period_and_dry_run_records_nothing(newsroom, runner):
    with newsroom.app_context():
        for item in db.session.scalars(select(digests.ContentItem)):
            item.published_at = pytz.utc.localize(datetime(2024, 1, 1))
        db.session.commit()
    output = run_digest(runner, "--since", "2025-01-01", "--dry-run")
    assert "Dry run for the period from 2025-01-01 00:00 UTC to " in output
    assert "0 new items, 1 webinar in the next 30 days (1 new)" in output
    with newsroom.app_context():
        assert db.session.scalar(select(func.count(Digest.id))) == 0
    assert "2 new items" in run_digest(runner, "--since", "2023-12-31", "--dry-run")
    result = runner.invoke(args=["newsletter", "digest", "--since", "2999-01-01"])
    assert result.exit_code != 0 and "--since must be in the past" in result.output
    result = runner.invoke(args=["newsletter", "digest", "--since", "yesterday"])
    assert result.exit_code != 0 and "Invalid value for '--since'" in result.output


def test_the_commands_output_is_written_in_sentences_with_singulars_and_plurals(newsroom, runner):
    first = run_digest(runner, "--dry-run")
    assert "Dry run for everything published until " in first and "the beginning" not in first
    assert "2 new items, 1 webinar in the next 30 days (1 new); 3 subscribers would get it." in first
    with newsroom.app_context():
        for email in ("coop@example.org", "everything@example.org"):
            db.session.scalar(select(Subscriber).where(Subscriber.email == email)).status = "unsubscribed"
        db.session.commit()
    one = run_digest(runner, "--dry-run")
    assert "; 1 subscriber would get it." in one
    sent = run_digest(runner)
    assert "Digest 1 for everything published until " in sent
    assert "1 recipient queued, 1 with nothing new (or suppressed) skipped. The mail worker delivers it." in sent


def test_concurrent_runs_record_one_digest_and_send_once(newsroom, smtp_server):
    """Two runs from cron at the same moment ask for the same period; the unique start lets one win."""
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run() -> None:
        with newsroom.app_context():
            start, end = digests.next_period(utcnow())
            plan = digests.make_plan(start, end)
            barrier.wait()
            try:
                digest = digests.create_digest(plan, created_by="cron")
                db.session.commit()
                digests.expand_digest(digest)
                outcomes.append("sent")
            except digests.DigestExists:
                db.session.rollback()
                outcomes.append("exists")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["exists", "sent"]
    deliver(newsroom)
    assert len(smtp_server.messages) == 3


def test_an_interrupted_expansion_resumes_without_duplicates_or_gaps(app, runner, smtp_server, monkeypatch):
    with app.app_context():
        make_item(title="News for all")
        emails = [subscriber(f"reader{n}@example.org").email for n in range(23)]
        db.session.commit()
    real = digests._recipients_between
    calls = {"n": 0}

    def crash_on_third_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real(*args, **kwargs)

    monkeypatch.setattr(digests, "_recipients_between", crash_on_third_batch)
    with app.app_context(), pytest.raises(RuntimeError):
        start, end = digests.next_period(utcnow())
        digest = digests.create_digest(digests.make_plan(start, end), created_by="test")
        db.session.commit()
        digests.expand_digest(digest, batch_size=5)
    with app.app_context():
        digest = db.session.get(Digest, 1)
        assert (digest.status, digest.expanded_through_id, digest.recipients_count) == ("expanding", 10, 10)
        digest.expanded_through_id = 5  # a checkpoint that lags behind what was inserted
        digest.created_at -= timedelta(minutes=5)
        db.session.commit()
    monkeypatch.setattr(digests, "_recipients_between", real)
    # The mail worker's housekeeping finishes it (so does the next `newsletter digest`).
    with app.app_context():
        digests.tend_digests()
        assert db.session.get(Digest, 1).status == "sending"
    output = run_digest(runner)
    assert "interrupted" not in output  # nothing left to resume
    deliver(app)
    assert Counter(message.rcpt_tos[0] for message in smtp_server.messages) == Counter(emails)
    with app.app_context():
        digests.tend_digests()
        digest = db.session.get(Digest, 1)
        assert digest.status == "done" and digest.recipients_count == 23
        assert digests.digest_progress(digest)["sent"] == 23


def test_the_next_command_resumes_an_interrupted_digest_first(app, runner, smtp_server, monkeypatch):
    with app.app_context():
        make_item(title="News for all")
        for n in range(7):
            subscriber(f"reader{n}@example.org")
        db.session.commit()
        start, end = digests.next_period(utcnow())
        digests.create_digest(digests.make_plan(start, end), created_by="test")
        db.session.commit()  # recorded, never expanded: the process died here
    # Right after, it may be another run's digest still expanding: left alone.
    assert "interrupted" not in run_digest(runner, "--dry-run")
    with app.app_context():
        db.session.get(Digest, 1).created_at -= timedelta(minutes=3)
        db.session.commit()
    output = run_digest(runner)
    assert "Digest 1: finished an interrupted expansion (7 queued)" in output
    deliver(app)
    assert len(smtp_server.messages) == 7


def test_a_subscriber_who_leaves_after_expansion_is_not_sent_the_digest(newsroom, runner, smtp_server):
    run_digest(runner)
    with newsroom.app_context():
        operations.unsubscribe(
            db.session.scalar(select(Subscriber).where(Subscriber.email == "coop@example.org")), source="test"
        )
        db.session.commit()
    report = deliver(newsroom)
    assert (report.sent, report.suppressed) == (2, 1)
    assert "coop@example.org" not in by_recipient(smtp_server)


def test_rendering_costs_one_render_per_distinct_content_not_per_subscriber(app, runner, smtp_server):
    with app.app_context():
        topics = [make_topic(slug, slug.title()) for slug in ("a", "b", "c")]
        for n, topic in enumerate(topics):
            make_item(title=f"Item {n}", topics=[topic])
        make_webinar(title="Soon", starts_at=utcnow() + timedelta(days=3), topics=[topics[0]])
        for n in range(60):
            subscriber(f"r{n}@example.org", topics=[("a", "b", "c")[n % 3]], timezone=("Asia/Tokyo", None)[n % 2])
        db.session.commit()
    run_digest(runner)
    assert deliver(app).sent == 60
    with app.app_context():
        prepared = app.extensions[digests.CACHE_KEY].digests[1]
        # Six distinct bodies (3 topic sets x 2 zones) for 60 people: the skeleton, two section headings,
        # three items, the webinar in two zones; two templates (text and HTML) each.
        assert len(prepared.bodies) == 6
        assert prepared.renders == 2 * (1 + 2 + 3 + 2)
    tokyo = [m for m in smtp_server.messages if "Your time (Tokyo, Japan)" in m.body("plain")]
    assert len(tokyo) == 10  # the "a" subscribers (the webinar's topic) with a Tokyo zone
    assert len({m.message["List-Unsubscribe"] for m in smtp_server.messages}) == 60


def test_the_zone_comes_from_the_visitors_choice_at_sign_up_or_from_their_registration(app, client):
    from tests._support.forms import post_form

    client.set_cookie("tz", "Asia/Kolkata")
    response = post_form(client, "/newsletter", {"email": "visitor@example.org", "consent": "y"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Subscriber.timezone).where(Subscriber.email == "visitor@example.org")) == (
            "Asia/Kolkata"
        )
    with app.app_context():
        from webinars.registrations.operations import register

        webinar = make_webinar(starts_at=utcnow() + timedelta(days=3))
        register(
            webinar,
            email="attendee@example.org",
            name="Ada",
            timezone="America/Sao_Paulo",
            wants_newsletter=True,
            now=utcnow(),
        )
        db.session.commit()
        assert db.session.scalar(select(Subscriber.timezone).where(Subscriber.email == "attendee@example.org")) == (
            "America/Sao_Paulo"
        )


@pytest.mark.app_config(DIGEST_MAX_ITEMS=2, DIGEST_MAX_WEBINARS=1)
def test_a_long_digest_shows_the_newest_and_links_to_the_rest(app, runner, smtp_server):
    with app.app_context():
        for n in range(5):
            make_item(title=f"Story {n}", published_on=date(2017, 1, 1 + n))
        for n in range(3):
            make_webinar(title=f"Webinar {n}", starts_at=utcnow() + timedelta(days=2 + n))
        subscriber("reader@example.org")
        db.session.commit()
    run_digest(runner)
    deliver(app)
    text = smtp_server.messages[0].body("plain")
    assert "Story 4" in text and "Story 3" in text and "Story 2" not in text
    assert "And 3 more: http://webinars.test/content/" in text
    assert "Webinar 0" in text and "Webinar 1" not in text
    assert "And 2 more: http://webinars.test/" in text


@pytest.mark.app_config(DIGEST_MAX_ITEMS=1, DIGEST_MAX_WEBINARS=2)
def test_the_rest_of_a_long_digest_is_linked_on_the_subscribers_own_topics(app, runner, smtp_server):
    with app.app_context():
        coop, tourism = make_topic("cooperatives", "Co-operatives"), make_topic("tourism", "Tourism")
        for n in range(3):
            make_item(title=f"Co-op story {n}", published_on=date(2017, 1, 1 + n), topics=[coop])
        make_item(title="Tourism story", published_on=date(2016, 2, 1), topics=[tourism])
        for n in range(3):
            make_webinar(title=f"Co-op webinar {n}", starts_at=utcnow() + timedelta(days=2 + n), topics=[coop])
        subscriber("coop@example.org", topics=["cooperatives"])
        subscriber("both@example.org", topics=["cooperatives", "tourism"])
        db.session.commit()
    run_digest(runner)
    deliver(app)
    mails = by_recipient(smtp_server)
    coop = mails["coop@example.org"].body("plain")
    assert "And 2 more: http://webinars.test/topics/cooperatives\n" in coop  # the co-op stories left out
    assert "And 1 more: http://webinars.test/topics/cooperatives\n" in coop  # the third co-op webinar
    assert "http://webinars.test/content/\n" not in coop.split("All news and publications")[0]
    both = mails["both@example.org"].body("plain")
    assert (
        "And 3 more:\n- Co-operatives: http://webinars.test/topics/cooperatives\n"
        "- Tourism: http://webinars.test/topics/tourism\n" in both
    )
    html = mails["both@example.org"].body("html")
    assert '<a href="http://webinars.test/topics/tourism">Tourism</a>' in html


def test_the_plain_text_digest_leaves_a_blank_line_between_entries(newsroom, runner, smtp_server):
    with newsroom.app_context():
        make_webinar(title="Second co-op webinar", starts_at=utcnow() + timedelta(days=7), topics=[])
        db.session.commit()
    run_digest(runner)
    deliver(newsroom)
    text = by_recipient(smtp_server)["everything@example.org"].body("plain")
    body = text.split("== Webinars in the next 30 days ==\n\n")[1].split("All news and publications:")[0]
    blocks = [block.splitlines()[0] for block in body.strip().split("\n\n")]
    # Each webinar, the next heading and each item start after a blank line, as paragraphs do.
    assert blocks == [
        "[New] Co-op webinar",
        "[New] Second co-op webinar",
        "== News and publications ==",
        "Article · 28 September 2017",
        "News · 27 September 2017",
    ], text


def test_digest_messages_keep_quoted_printable_lines_short_and_decode_to_each_recipients_links(
    newsroom, runner, smtp_server
):
    with newsroom.app_context():
        make_item(title="Café " + "très long " * 40, summary="é" * 300, topics=[make_topic("tourism")])
        db.session.commit()
    run_digest(runner)
    deliver(newsroom)
    tokens = set()
    for message in smtp_server.messages:
        long_lines = [line for line in message.data.split(b"\r\n\r\n", 1)[1].split(b"\r\n") if len(line) > 78]
        assert long_lines == []
        token = message.message["List-Unsubscribe"][1:-1].rsplit("/", 1)[1]
        tokens.add(token)
        text, html = message.body("plain"), message.body("html")
        assert text.rstrip().endswith(f"Unsubscribe: http://webinars.test/newsletter/unsubscribe/{token}")
        assert f'href="http://webinars.test/newsletter/preferences/{token}"' in html
    assert len(tokens) == 3
    tourism = by_recipient(smtp_server)["tourism@example.org"].body("plain")
    assert "Café très long" in tourism and "é" * 300 in tourism
