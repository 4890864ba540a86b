"""Campaigns in the subscriber's language: a French version goes to those who signed up in French, the
announcement of a webinar is written in both languages, and only an upcoming, open webinar is announced."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def _subscribe(app, **languages: str) -> None:
    """One confirmed subscriber per name, with that language: _subscribe(app, ann="en", fleur="fr")."""
    with app.app_context():
        for name, language in languages.items():
            db.session.add(
                Subscriber(email=f"{name}@example.org", status="subscribed", language=language, confirmed_at=utcnow())
            )
        db.session.commit()


def _by_recipient(smtp_server) -> dict:
    return {message.rcpt_tos[0]: message for message in smtp_server.messages}


def _co_ops(**fields):
    return make_webinar(
        slug="co-ops",
        title="Co-operatives and the city",
        title_fr="Les coopératives et la ville",
        summary="How co-operatives shape cities.",
        summary_fr="Comment les coopératives façonnent les villes.",
        local_start=datetime(2030, 6, 4, 10, 0),
        timezone="Europe/Paris",
        display_zones=["Europe/Paris", "Asia/Tokyo"],
        **fields,
    )


def test_an_announcement_reaches_each_subscriber_in_the_language_they_signed_up_in(app, runner, smtp_server):
    with app.app_context():
        _co_ops()
        db.session.commit()
    _subscribe(app, ann="en", fleur="fr")
    result = runner.invoke(args=["newsletter", "announce", "co-ops"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        deliver_due()
    received = _by_recipient(smtp_server)
    english, french = received["ann@example.org"], received["fleur@example.org"]
    assert english.subject == "New webinar: Co-operatives and the city"
    assert "Tuesday 4 June 2030" in english.body() and "How co-operatives shape cities." in english.body()
    assert "coopératives" not in english.body()
    assert "Les coopératives et la ville" in french.subject and "New webinar" not in french.subject
    text = french.body()
    assert "mardi 4 juin 2030" in text and "Comment les coopératives façonnent les villes." in text
    assert "How co-operatives" not in text
    # The link keeps the language: the reader's browser may prefer English.
    assert "http://webinars.test/webinars/co-ops?lang=fr" in french.body("html")
    assert "?lang=" not in english.body("html").split("unsubscribe")[0]


def test_a_webinar_without_a_french_title_is_announced_in_french_with_its_own_title(app, runner, smtp_server):
    with app.app_context():
        make_webinar(slug="plain", title="Platform work", local_start=datetime(2030, 6, 4, 10, 0))
        db.session.commit()
    _subscribe(app, fleur="fr")
    assert runner.invoke(args=["newsletter", "announce", "plain"]).exit_code == 0
    with app.app_context():
        deliver_due()
    french = _by_recipient(smtp_server)["fleur@example.org"]
    assert "Platform work" in french.subject and "mardi 4 juin 2030" in french.body()


def test_a_campaign_without_a_french_version_goes_to_everyone_as_written(app, runner, smtp_server, tmp_path):
    _subscribe(app, ann="en", fleur="fr")
    body = tmp_path / "body.md"
    body.write_text("Our **annual report** is out.", encoding="utf-8")
    result = runner.invoke(args=["newsletter", "send", "--subject", "Annual report", "--body-file", str(body)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        deliver_due()
    for message in smtp_server.messages:
        assert message.subject == "Annual report" and "annual report" in message.body()


def test_the_send_command_takes_a_french_version(app, runner, smtp_server, tmp_path):
    _subscribe(app, ann="en", fleur="fr")
    english, french = tmp_path / "en.md", tmp_path / "fr.md"
    english.write_text("Our report is out.", encoding="utf-8")
    french.write_text("Notre rapport est paru.", encoding="utf-8")
    args = ["newsletter", "send", "--subject", "Report", "--body-file", str(english)]
    unknown = runner.invoke(args=[*args, "--translation", "de", "Bericht", str(french)])
    assert unknown.exit_code != 0 and "Unknown language: de" in unknown.output
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 0
    result = runner.invoke(args=[*args, "--translation", "fr", "Rapport", str(french)])
    assert result.exit_code == 0, result.output
    with app.app_context():
        deliver_due()
    received = _by_recipient(smtp_server)
    assert received["ann@example.org"].subject == "Report" and "Our report" in received["ann@example.org"].body()
    assert received["fleur@example.org"].subject == "Rapport"
    assert "Notre rapport est paru." in received["fleur@example.org"].body()


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"starts_at_offset": timedelta(minutes=-30)}, "already started"),
        ({"starts_at_offset": timedelta(days=-30)}, "already taken place"),
        ({"deadline_offset": timedelta(hours=-1)}, "registration has closed"),
        ({"status": "cancelled"}, "Only a published webinar"),
    ],
    ids=["live", "past", "registration-closed", "cancelled"],
)
def test_only_an_upcoming_webinar_open_for_registration_is_announced(app, runner, organiser_client, change, said):
    now = utcnow()
    with app.app_context():
        starts = now + change.get("starts_at_offset", timedelta(days=10))
        webinar = make_webinar(slug="co-ops", starts_at=starts, status=change.get("status", "published"))
        if "deadline_offset" in change:
            webinar.registration_deadline = now + change["deadline_offset"]
        db.session.commit()
        webinar_id = webinar.id
    _subscribe(app, ann="en")
    result = runner.invoke(args=["newsletter", "announce", "co-ops"])
    assert result.exit_code != 0 and said in result.output
    # The admin offers no announcement, and the address of one says why instead of writing it.
    page = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "Announce it in the newsletter" not in page
    answer = organiser_client.get(f"/admin/newsletter/campaigns/new?webinar={webinar_id}", follow_redirects=True)
    assert answer.status_code == 200 and said in answer.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 0
        assert db.session.scalar(select(func.count(OutboxMessage.id))) == 0


def test_an_upcoming_webinar_is_offered_for_an_announcement_in_both_languages(app, organiser_client):
    with app.app_context():
        webinar = _co_ops()
        db.session.commit()
        webinar_id = webinar.id
    page = organiser_client.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "Announce it in the newsletter" in page
    form = organiser_client.get(f"/admin/newsletter/campaigns/new?webinar={webinar_id}").get_data(as_text=True)
    assert "New webinar: Co-operatives and the city" in form
    assert "Les coopératives et la ville" in form and "mardi 4 juin 2030" in form


def test_the_admin_keeps_a_french_version_shows_it_and_tests_each_version(app, organiser_client, smtp_server):
    _subscribe(app, ann="en", fleur="fr")
    data = {"subject": "Report", "body": "Our report is out.", "action": "draft"}
    half = post_form(organiser_client, "/admin/newsletter/campaigns/new", {**data, "subject_fr": "Rapport"})
    assert half.status_code == 422
    assert "Give both a French subject and a French message, or neither." in half.get_data(as_text=True)
    assert 'value="Rapport"' in half.get_data(as_text=True)  # the input is kept
    saved = post_form(
        organiser_client,
        "/admin/newsletter/campaigns/new",
        {**data, "subject_fr": "Rapport", "body_fr": "Notre **rapport** est paru."},
    )
    assert saved.status_code == 303
    page = organiser_client.get(saved.headers["Location"]).get_data(as_text=True)
    assert "Rapport" in page and "Notre <strong>rapport</strong> est paru." in page
    with app.app_context():
        campaign = db.session.scalar(select(Campaign))
        assert campaign.translations["fr"]["subject"] == "Rapport"
        campaign_id = campaign.id
    # One test per version, each in its own language.
    page_url = f"/admin/newsletter/campaigns/{campaign_id}"
    tested = post_form(organiser_client, f"{page_url}/test", {}, form_url=page_url)
    assert tested.status_code == 303
    with app.app_context():
        deliver_due()
    subjects = sorted(message.subject for message in smtp_server.messages)
    assert subjects == ["[Essai] Rapport", "[Test] Report"]  # each test in the language of its version
    # Changing the draft can drop the French version.
    edit = f"/admin/newsletter/campaigns/{campaign_id}/edit"
    assert 'value="Rapport"' in organiser_client.get(edit).get_data(as_text=True)
    emptied = {"subject": "Report", "body": "Our report is out.", "subject_fr": "", "body_fr": "", "action": "save"}
    changed = post_form(organiser_client, edit, emptied)
    assert changed.status_code == 303
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).translations is None


def test_a_translation_is_refused_for_a_language_the_service_does_not_speak_or_a_subject_on_two_lines(app):
    with app.app_context():
        with pytest.raises(ValueError, match="Unknown language"):
            operations.create_campaign("S", "B", [], created_by="test", translations={"de": ("S", "B")})
        with pytest.raises(ValueError, match="one line"):
            operations.create_campaign("S", "B", [], created_by="test", translations={"fr": ("S\nBcc: x", "B")})
        assert db.session.scalar(select(func.count(Campaign.id))) == 0
