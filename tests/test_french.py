"""French, complete: the page's language, the switch, and every later email in the language a person
signed up in, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic
from tests.factories import make_webinar as build_webinar
from tests.test_catalogue import SEED_1, text_of
from tests.test_registrations import calendar_of, form, make_webinar, manage_link
from webinars.catalogue.demo import load_demo_data
from webinars.catalogue.models import Webinar
from webinars.catalogue.operations import cancel_webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import Subscriber
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration
from webinars.registrations.notifications import queue_reminder

FRENCH = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture
def demo(app):
    with app.app_context():
        load_demo_data()
    return app


def deliver(app):
    with app.app_context():
        deliver_due()


# -- the page's language -----------------------------------------------------------------------------


def test_a_french_browser_gets_the_site_in_french_with_french_dates_and_zone_names(demo, client):
    response = client.get(SEED_1, headers=FRENCH)
    page = response.get_data(as_text=True)
    assert '<html lang="fr">' in page
    text = text_of(response)
    assert "mardi 12 mars 2024" in text
    assert "10:00 heure de Paris | 18:00 heure de Tokyo" in text
    assert "Enregistrement et documents" in text and "Programme" in text
    assert "Accept-Language" in response.headers["Vary"]
    home = text_of(client.get("/", headers=FRENCH))
    assert "Prochains webinaires" in home and "Webinaires passés" in home


def test_an_english_browser_gets_english_and_an_unknown_language_falls_back_to_english(demo, client):
    assert '<html lang="en">' in client.get("/", headers=ENGLISH).get_data(as_text=True)
    page = client.get("/", headers={"Accept-Language": "de-DE,ja;q=0.8"}).get_data(as_text=True)
    assert '<html lang="en">' in page and "Upcoming webinars" in page


def test_the_switch_is_remembered_and_wins_over_the_browser(demo, client):
    response = client.get("/language/fr", query_string={"next": SEED_1 + "?tz=Asia/Tokyo"}, headers=ENGLISH)
    assert response.status_code == 303
    assert response.headers["Location"] == SEED_1 + "?tz=Asia/Tokyo"
    assert "lang=fr" in response.headers["Set-Cookie"] and "HttpOnly" in response.headers["Set-Cookie"]
    page = client.get(SEED_1, headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="fr">' in page
    # The switch links back to the very page, in each language's own name.
    assert 'href="/language/en?next=/webinars/worker-co-operatives-across-continents" lang="en"' in page
    assert ">Français</a>" in page and ">English</a>" in page
    client.get("/language/en", query_string={"next": "/"})
    assert '<html lang="en">' in client.get(SEED_1, headers=FRENCH).get_data(as_text=True)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_the_switch_only_goes_back_to_this_site(app, client, target):
    response = client.get("/language/fr", query_string={"next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_an_unknown_language_in_the_switch_changes_nothing(app, client):
    response = client.get("/language/xx", query_string={"next": "/"})
    assert response.status_code == 303 and "Set-Cookie" not in response.headers


def test_lang_in_the_address_wins_for_that_page(demo, client):
    assert '<html lang="fr">' in client.get("/?lang=fr", headers=ENGLISH).get_data(as_text=True)
    assert '<html lang="en">' in client.get("/?lang=en", headers=FRENCH).get_data(as_text=True)


def test_the_cached_catalogue_is_kept_per_language(demo, client):
    english = text_of(client.get("/?tz=America/Sao_Paulo", headers=ENGLISH))
    french = text_of(client.get("/?tz=America/Sao_Paulo", headers=FRENCH))
    again = text_of(client.get("/?tz=America/Sao_Paulo", headers=ENGLISH))
    assert "Upcoming webinars" in english and "Your time:" in english
    assert "Prochains webinaires" in french and "Chez vous" in french and "heure de São Paulo" in french
    assert again == english


def test_errors_and_the_organisers_area_speak_french(app, client):
    missing = client.get("/webinars/nothing-here", headers=FRENCH)
    assert missing.status_code == 404 and "Page introuvable" in text_of(missing)
    login = text_of(client.get("/admin/login", headers=FRENCH))
    assert "Mot de passe" in login and "Se connecter" in login


def test_a_webinar_with_a_french_title_shows_it_to_french_readers_only(app, client):
    with app.app_context():
        build_webinar(
            slug="ess",
            title="The social economy",
            title_fr="L’économie sociale et solidaire",
            summary="Why it matters.",
            summary_fr="Pourquoi elle compte.",
            starts_at=utcnow() + timedelta(days=5),
        )
        db.session.commit()
    french = text_of(client.get("/webinars/ess", headers=FRENCH))
    assert "L’économie sociale et solidaire" in french and "Pourquoi elle compte." in french
    assert "The social economy" not in french
    english = text_of(client.get("/webinars/ess", headers=ENGLISH))
    assert "The social economy" in english and "L’économie" not in english
    assert "L’économie sociale et solidaire" in text_of(client.get("/", headers=FRENCH))
    ics = Calendar.from_ical(client.get("/webinars/ess.ics?lang=fr").data)
    [event] = ics.walk("VEVENT")
    assert str(event["SUMMARY"]) == "L’économie sociale et solidaire"
    assert str(event["LOCATION"]) == "En ligne" and "Détails\u00a0:" in str(event["DESCRIPTION"])


def test_the_calendar_feed_speaks_the_language_it_is_asked_for(app, client):
    with app.app_context():
        build_webinar(slug="gone", title="Gone", starts_at=utcnow() + timedelta(days=2), status="cancelled")
        db.session.commit()
    english = client.get("/calendar.ics")
    french = client.get("/calendar.ics?lang=fr")
    assert english.headers["ETag"] != french.headers["ETag"]
    [event] = Calendar.from_ical(french.data).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Annulé\u00a0: Gone" and str(event["STATUS"]) == "CANCELLED"
    [event] = Calendar.from_ical(english.data).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Cancelled: Gone"
    # A page read in French offers the French feed.
    assert "/calendar.ics?lang=fr" in client.get("/", headers=FRENCH).get_data(as_text=True)


# -- a person's language, for every later email -------------------------------------------------------


def _register_in(client, language_headers, **overrides):
    client.get("/webinars/tax-talk", headers=language_headers)  # the form, in that language
    return post_form(
        client,
        "/webinars/tax-talk/register",
        form(**overrides),
        form_url="/webinars/tax-talk",
        headers=language_headers,
    )


def test_a_french_registrant_gets_every_email_in_french_whoever_causes_it(app, client, smtp_server):
    make_webinar(app, title="Worker co-operatives", title_fr="Les coopératives de travail")
    response = _register_in(client, FRENCH, email="marie@example.fr", name="Marie")
    assert response.status_code == 303
    _register_in(app.test_client(), ENGLISH, email="john@example.org", name="John")
    with app.app_context():
        stored = dict(db.session.execute(select(Registration.email, Registration.language)).all())
    assert stored == {"marie@example.fr": "fr", "john@example.org": "en"}

    deliver(app)
    [marie] = smtp_server.messages_to("marie@example.fr")
    [john] = smtp_server.messages_to("john@example.org")
    # (The subject's no-break space may travel as a plain one in the header.)
    assert marie.subject.replace("\u00a0", " ") == "Inscription confirmée : Les coopératives de travail"
    text = marie.body("plain")
    assert "Bonjour Marie," in text and "Votre inscription est confirmée." in text
    assert "heure de Paris" in text and "São Paulo, Brésil" in text
    assert re.search(r"\w+ \d+ \w+ \d{4}", text) and "Ce message a été envoyé automatiquement" in text
    assert '<html lang="fr">' in marie.body("html")
    calendar, _method = calendar_of(marie)
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Les coopératives de travail"
    assert "Rejoindre en ligne\u00a0:" in str(event["DESCRIPTION"])
    assert john.subject == "Registration confirmed: Worker co-operatives" and "Hello John," in john.body("plain")

    # A reminder sent by a command, an update and a cancellation by an English-speaking organiser.
    smtp_server.clear()
    with app.app_context():
        marie_row = db.session.scalar(select(Registration).where(Registration.email == "marie@example.fr"))
        queue_reminder(marie_row, "24h")
        cancel_webinar(db.session.scalar(select(Webinar)), by=None, now=utcnow(), reason="Speaker ill.")
        db.session.commit()
    deliver(app)
    subjects = sorted(message.subject.replace("\u00a0", " ") for message in smtp_server.messages_to("marie@example.fr"))
    assert subjects == ["Annulé : Les coopératives de travail", "Demain : Les coopératives de travail"]
    [cancelled] = [m for m in smtp_server.messages_to("marie@example.fr") if m.subject.startswith("Annulé")]
    assert "Nous sommes désolés" in cancelled.body("plain") and "Speaker ill." in cancelled.body("plain")
    calendar, method = calendar_of(cancelled)
    assert method == "CANCEL"
    [event] = calendar.walk("VEVENT")
    assert str(event["SUMMARY"]) == "Annulé\u00a0: Les coopératives de travail"
    [english] = [m for m in smtp_server.messages_to("john@example.org") if m.subject.startswith("Cancelled")]
    assert "We are sorry" in english.body("plain")


def test_the_manage_page_follows_the_visitor_and_the_email_the_registrant(app, client, smtp_server):
    make_webinar(app)
    _register_in(client, FRENCH, email="marie@example.fr")
    deliver(app)
    [message] = smtp_server.messages_to("marie@example.fr")
    page = text_of(client.get(manage_link(message), headers=FRENCH))
    assert "Votre inscription" in page and "Confirmée" in page and "Comment participer" in page


def test_newsletter_mail_is_written_in_the_subscribers_language(app, client, smtp_server):
    client.get("/newsletter", headers=FRENCH)
    post_form(client, "/newsletter", {"email": "lea@example.fr", "name": "Léa", "consent": "y"}, headers=FRENCH)
    deliver(app)
    [confirm] = smtp_server.messages_to("lea@example.fr")
    assert confirm.subject == "Veuillez confirmer votre abonnement à la lettre d’information"
    assert "Confirmer mon abonnement" in confirm.body("html") and "désabonner" not in confirm.body("plain")
    with app.app_context():
        lea = db.session.scalar(select(Subscriber).where(Subscriber.email == "lea@example.fr"))
        assert lea.language == "fr"
        newsletter.confirm(lea)
        newsletter.request_subscription("tom@example.org", "Tom", [], source="test", consent_text="c")
        newsletter.confirm(db.session.scalar(select(Subscriber).where(Subscriber.email == "tom@example.org")))
        campaign = newsletter.create_campaign("News / Nouvelles", "Hello **all**.", [], created_by="test")
        db.session.commit()
        newsletter.expand_campaign(campaign)
    smtp_server.clear()
    deliver(app)
    [french] = [m for m in smtp_server.messages_to("lea@example.fr") if m.subject == "News / Nouvelles"]
    [english] = [m for m in smtp_server.messages_to("tom@example.org") if m.subject == "News / Nouvelles"]
    # The campaign itself stays as the organisers wrote it; the footer is the reader's.
    for message in (french, english):
        assert message.subject == "News / Nouvelles" and "<strong>all</strong>" in message.body("html")
        assert "background:#14304f" in message.body("html")  # the same branded layout as every message
    assert "Se désabonner" in french.body("plain") and "Unsubscribe" not in french.body("plain")
    assert "Unsubscribe" in english.body("plain") and "Se désabonner" not in english.body("plain")
    assert '<html lang="fr">' in french.body("html") and '<html lang="en">' in english.body("html")


def test_commands_speak_the_organisers_language(app, runner, monkeypatch):
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(name, raising=False)
    result = runner.invoke(args=["admin", "create", "olga@example.org", "--password-stdin"], input="a long password\n")
    assert result.exit_code == 0, result.output
    assert "Organisateur olga@example.org créé." in result.output
    monkeypatch.setenv("LANG", "en_GB.UTF-8")
    result = runner.invoke(args=["mail", "status"])
    assert "The outbox is empty." in result.output or "queued" in result.output


ROOT = Path(__file__).resolve().parent.parent
FLASK = ROOT / ".venv" / "bin" / "flask"


def _shell(tmp_path: Path, **variables: str) -> dict:
    """An organiser's shell: none of the locale variables but `variables`, a throwaway database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k not in {"LANG", "LANGUAGE"}}
    env.pop("WEBINARS_ENV", None)
    env.pop("SECRET_KEY", None)
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/webinars.db", WEBINARS_INSTANCE_PATH=str(tmp_path / "instance"))
    return {**env, **variables}


def _flask(env: dict, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(FLASK), "--app", "webinars", *args], cwd=ROOT, env=env, input=stdin, capture_output=True, text=True
    )


@pytest.mark.slow
def test_a_command_speaks_french_with_lang_alone_even_where_the_machine_has_no_french_locale(tmp_path):
    # The README's own example. Where fr_FR is not installed, Python's locale coercion sets LC_CTYPE
    # to C.UTF-8 in the process, which must not decide the language of what the organiser reads.
    env = _shell(tmp_path, LANG="fr_FR.UTF-8")
    assert _flask(env, "db", "upgrade").returncode == 0
    created = _flask(env, "admin", "create", "olga@example.org", "--password-stdin", stdin="a long password\n")
    assert created.returncode == 0, created.stderr
    assert "Organisateur olga@example.org créé." in created.stdout
    # LANGUAGE comes first (a list, as gettext reads it); C and POSIX name no language.
    english = _flask(_shell(tmp_path, LANGUAGE="de:en", LANG="fr_FR.UTF-8"), "mail", "status")
    assert "The outbox is empty." in english.stdout, english.stderr
    french = _flask(_shell(tmp_path, LC_ALL="C", LC_MESSAGES="POSIX", LANG="fr_FR.UTF-8"), "mail", "status")
    assert "La file d’envoi est vide." in french.stdout, french.stderr
    french = _flask(_shell(tmp_path, LANGUAGE="fr", LANG="C.UTF-8"), "mail", "status")
    assert "La file d’envoi est vide." in french.stdout, french.stderr


def test_the_organisers_webinar_form_takes_a_french_title_and_summary(app, client):
    from tests.test_admin import signed_in
    from tests.test_admin_webinars import create_via_form

    organiser = signed_in(app, client)
    webinar_id = create_via_form(organiser, title_fr="Les coopératives", summary_fr="En bref.")
    with app.app_context():
        webinar = db.session.get(Webinar, webinar_id)
        assert (webinar.title_fr, webinar.summary_fr) == ("Les coopératives", "En bref.")


def test_a_topic_page_offers_its_own_calendar_in_the_pages_language(app, client):
    with app.app_context():
        topic = make_topic("cooperatives", "Co-operatives")
        build_webinar(slug="coop", starts_at=utcnow() + timedelta(days=4), topics=[topic])
        db.session.commit()
    page = client.get("/?topic=cooperatives", headers=FRENCH).get_data(as_text=True)
    assert 'href="webcal://webinars.test/calendar.ics?topic=cooperatives&amp;lang=fr"' in page
    page = client.get("/?topic=cooperatives", headers=ENGLISH).get_data(as_text=True)
    assert 'href="webcal://webinars.test/calendar.ics?topic=cooperatives"' in page


def test_the_digest_reaches_each_subscriber_in_their_language(app, runner, smtp_server):
    from tests.test_content import make_item
    from webinars.newsletter.models import Subscriber as Person

    with app.app_context():
        coop = make_topic("cooperatives", "Co-operatives")
        make_item(title="Co-op news", topics=[coop])
        build_webinar(
            title="Co-op webinar",
            title_fr="Le webinaire des coopératives",
            starts_at=utcnow() + timedelta(days=5),
            display_zones=["Europe/Paris", "Asia/Tokyo"],
            topics=[coop],
        )
        for email, language in (("lea@example.fr", "fr"), ("tom@example.org", "en")):
            db.session.add(Person(email=email, status="subscribed", language=language, timezone="America/Sao_Paulo"))
        db.session.commit()
    result = runner.invoke(args=["newsletter", "digest"])
    assert result.exit_code == 0, result.output
    deliver(app)
    mails = {message.rcpt_tos[0]: message for message in smtp_server.messages}
    french, english = mails["lea@example.fr"], mails["tom@example.org"]
    assert french.subject.replace("\u00a0", " ").endswith(": les nouveautés")
    text = french.body("plain")
    assert "Le webinaire des coopératives" in text and "heure de Paris" in text
    assert "Chez vous (São Paulo, Brésil)" in text and "Se désabonner" in text and "Co-op news" in text
    assert "Co-op webinar" in english.body("plain") and "Your time (São Paulo, Brazil):" in english.body("plain")
    for message in (french, english):
        assert "background:#14304f" in message.body("html")  # the branded layout of every message
