"""No mail cannon: a public form cannot make us flood an address that has confirmed nothing.

At most MAIL_UNCONFIRMED_PER_ADDRESS (3) such messages per address per hour across every flow
(registration confirmations and waitlist notices, their re-sends, newsletter confirmations), at
most MAIL_RESENDS_PER_REGISTRATION (1) re-sent confirmation per registration per hour, and every
answer the same whether or not mail went out. Counted at the real SMTP server after delivery.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests._support.forms import post_form
from tests.test_registrations import form, make_webinar, register, registrations
from webinars.extensions import db
from webinars.outbox.sender import deliver_due
from webinars.ratelimit import RateLimitCounter

VICTIM = "victim@example.org"


def _deliver(app) -> None:
    with app.app_context():
        deliver_due()


def _an_hour_passes(app) -> None:
    """Move every rate-limit window an hour into the past, as if the hour had gone by."""
    with app.app_context():
        for counter in db.session.scalars(select(RateLimitCounter)).all():
            counter.window_start -= timedelta(hours=1)
        db.session.commit()


def test_registering_one_address_twelve_times_sends_it_at_most_three_messages(app, smtp_server):
    make_webinar(app, capacity=5)
    client = app.test_client()
    answers = set()
    for _ in range(12):
        response = register(client, form(email=VICTIM, newsletter="y"))
        assert response.status_code == 303
        page = client.get(response.headers["Location"])
        assert page.status_code == 200
        answers.add((response.headers["Location"], page.get_data(as_text=True)))
    assert len(answers) == 1  # every answer the same page, whether mail went out or not
    _deliver(app)
    received = smtp_server.messages_to(VICTIM)
    # The confirmation, the newsletter's opt-in and one more (a re-send of either); then nothing.
    assert len(received) == 3, [m.subject for m in received]
    subjects = [m.subject.split(":")[0] for m in received]
    assert "Registration confirmed" in subjects
    assert "Please confirm your newsletter subscription" in subjects
    assert registrations(app) == [(VICTIM, "confirmed")]


def test_the_cap_spans_every_flow_of_an_unconfirmed_address(app, smtp_server):
    make_webinar(app, slug="open-one", capacity=10)
    make_webinar(app, slug="full-one", capacity=0)
    make_webinar(app, slug="third-one")
    client = app.test_client()
    signup = {"email": VICTIM, "consent": "y"}
    assert post_form(client, "/newsletter", signup).status_code == 303  # 1: newsletter confirmation
    assert register(client, form(email=VICTIM), slug="open-one").status_code == 303  # 2: confirmation
    assert register(client, form(email=VICTIM), slug="full-one").status_code == 303  # 3: waitlist notice
    assert register(client, form(email=VICTIM), slug="third-one").status_code == 303  # capped
    assert post_form(client, "/newsletter", signup).status_code == 303  # capped
    _deliver(app)
    subjects = sorted(m.subject.split(":")[0] for m in smtp_server.messages_to(VICTIM))
    assert subjects == [
        "Please confirm your newsletter subscription",
        "Registration confirmed",
        "You are on the waiting list",
    ]
    # The registrations themselves stand: only the mail is held back.
    assert sorted(registrations(app)) == [(VICTIM, "confirmed"), (VICTIM, "confirmed"), (VICTIM, "waitlisted")]
    # Another address is not affected.
    assert register(client, form(email="someone.else@example.org"), slug="third-one").status_code == 303
    _deliver(app)
    assert len(smtp_server.messages_to("someone.else@example.org")) == 1


def test_a_registration_resends_its_confirmation_at_most_once_an_hour(app, smtp_server):
    make_webinar(app, capacity=5)
    client = app.test_client()
    for _ in range(4):
        assert register(client, form(email=VICTIM)).status_code == 303
    _deliver(app)
    assert len(smtp_server.messages_to(VICTIM)) == 2  # the confirmation and one re-send

    _an_hour_passes(app)
    for _ in range(3):
        assert register(client, form(email=VICTIM)).status_code == 303
    _deliver(app)
    assert len(smtp_server.messages_to(VICTIM)) == 3  # one more re-send in the new hour


def test_messages_the_address_asked_for_are_not_capped(app, smtp_server):
    """Cancelling from the manage link, and a promotion from the waiting list, always arrive."""
    from tests.test_registrations import manage_link

    make_webinar(app, capacity=1)
    client = app.test_client()
    for email in (VICTIM, "waiting@example.org"):
        assert register(client, form(email=email)).status_code == 303
    for _ in range(5):  # use up the victim's budget of unconfirmed mail
        assert register(client, form(email=VICTIM)).status_code == 303
    assert post_form(client, "/newsletter", {"email": VICTIM, "consent": "y"}).status_code == 303
    _deliver(app)
    first = smtp_server.messages_to(VICTIM)
    assert len(first) == 3
    smtp_server.clear()
    assert post_form(client, manage_link(first[0])).status_code == 303  # the victim cancels
    _deliver(app)
    assert [m.subject.split(":")[0] for m in smtp_server.messages_to(VICTIM)] == ["Registration cancelled"]
    assert [m.subject.split(":")[0] for m in smtp_server.messages_to("waiting@example.org")] == ["A seat is yours"]
    with app.app_context():
        from webinars.registrations.models import Registration

        assert db.session.scalar(select(Registration.status).where(Registration.email == VICTIM)) == "cancelled"
