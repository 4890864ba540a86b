"""Every email a French reader gets, of every kind, written as French is written: a no-break space
before a colon ("Quand : …", never "Quand: …"), long dates with "1er" on the first of the month. The
messages are made by the real operations and commands, delivered to the SMTP test server, and read
back: plain text, HTML and the calendar invite.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from html.parser import HTMLParser

import icalendar
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from tests.test_admin_webinars import _edit_form
from tests.test_content import make_item
from webinars.catalogue.models import Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import Subscriber
from webinars.outbox.sender import deliver_due
from webinars.registrations import operations
from webinars.registrations.models import Registration

# A colon after a word with no space, or an ordinary (breakable) one: "Quand: …", "Quand : …".
CARELESS_COLON = re.compile(r"(?:[^\s\u00a0\u202f]| ):(?=[ \t]|\n|$)", re.M)
FRENCH_PEOPLE = ["marie@example.fr", "paul@example.fr", "lea@example.fr", "zoe@example.fr"]


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "script")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "script")

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _html_text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    # Only ASCII white space is collapsed: the no-break spaces are what is checked.
    return re.sub(r"[ \t\r\n]+", " ", " ".join(parser.parts)).strip()


def careless_colons(text: str) -> list[str]:
    return [text[max(0, m.start() - 30) : m.end() + 10] for m in CARELESS_COLON.finditer(text)]


def test_the_check_tells_a_french_colon_from_a_careless_one():
    assert careless_colons("Quand: lundi") and careless_colons("Quand : lundi") and careless_colons("Lien:\nhttps://x")
    assert not careless_colons("Quand\u00a0: lundi 10:00, https://example.org/x et mailto:a@b.fr")
    assert not careless_colons("Quand\u202f: lundi")


def _french_mail_of_every_kind(app, client, runner) -> None:
    """Marie, Paul, Léa and Zoé read French: every kind of message reaches one of them."""
    organiser = signed_in(app, app.test_client())
    organiser.set_cookie("lang", "en")  # an English-speaking organiser causes some of them
    now = utcnow()
    with app.app_context():
        topic = make_topic("cooperatives", "Co-operatives")
        # Starts in 23 hours (the 24-hour reminder is due) and ends after midnight in Paris.
        tomorrow = (now + timedelta(hours=23)).replace(second=0, microsecond=0)
        full = make_webinar(
            title="Les coopératives", starts_at=tomorrow, capacity=1, topics=[topic], minutes=90, location="Online"
        )
        held = make_webinar(title="À confirmer", confirm_registrations=True, topics=[topic])
        first = make_webinar(title="Le premier avril", local_start=datetime(2027, 4, 1, 10, 0), topics=[topic])
        people = {}
        for webinar, email in ((full, "marie@example.fr"), (full, "paul@example.fr"), (held, "lea@example.fr")):
            people[email] = operations.register(
                webinar, name=email.split("@")[0].title(), email=email, timezone="Europe/Paris", now=now, language="fr"
            )
        operations.register(
            first, name="Zoe", email="zoe@example.fr", timezone="America/Sao_Paulo", now=now, language="fr"
        )
        # The newsletter: asked for, asked again (already subscribed), a campaign, and the digest.
        newsletter.request_subscription("zoe@example.fr", "Zoé", [], source="test", consent_text="c", language="fr")
        zoe = db.session.scalar(select(Subscriber).where(Subscriber.email == "zoe@example.fr"))
        newsletter.confirm(zoe)
        newsletter.request_subscription("zoe@example.fr", "Zoé", [], source="test", consent_text="c", language="fr")
        make_item(title="Des nouvelles", topics=[topic], published_on=datetime(2027, 4, 1).date())
        campaign = newsletter.create_campaign("Nouvelles", "Bonjour **à tous**.", [], created_by="test")
        db.session.commit()
        newsletter.expand_campaign(campaign)
        ids = {"full": full.id, "lea": people["lea@example.fr"].id}
    assert runner.invoke(args=["reminders", "send"]).exit_code == 0
    assert runner.invoke(args=["newsletter", "digest"]).exit_code == 0
    # An update (a new time), then Marie leaves (Paul moves up), the organisers cancel Léa's seat,
    # and at last the webinar itself.
    data = _edit_form(app, ids["full"], start_time="23:30", start_date=_paris_day(app, ids["full"]))
    assert post_form(organiser, f"/admin/webinars/{ids['full']}/edit", data).status_code == 302
    with app.app_context():
        marie = db.session.scalar(select(Registration).where(Registration.email == "marie@example.fr"))
        operations.cancel_registration(marie, now=utcnow())
        db.session.commit()
    assert post_form(organiser, f"/admin/registrations/{ids['lea']}/cancel").status_code == 302
    cancel = {"reason": "L’oratrice est malade.", "confirm": "y"}
    assert post_form(organiser, f"/admin/webinars/{ids['full']}/cancel", cancel).status_code == 302
    with app.app_context():
        deliver_due()


def _paris_day(app, webinar_id: int) -> str:
    from webinars.timezones import to_zone

    with app.app_context():
        return to_zone(db.session.get(Webinar, webinar_id).starts_at, "Europe/Paris").date().isoformat()


def _calendar_texts(message) -> list[str]:
    texts = []
    for part in message.message.walk():
        if part.get_content_type() == "text/calendar":
            for event in icalendar.Calendar.from_ical(part.get_payload(decode=True)).walk("VEVENT"):
                texts += [str(event.get(name, "")) for name in ("SUMMARY", "DESCRIPTION", "LOCATION")]
    return texts


def test_every_french_email_puts_a_no_break_space_before_its_colons(app, client, runner, smtp_server):
    _french_mail_of_every_kind(app, client, runner)
    messages = [m for m in smtp_server.messages if m.rcpt_tos[0] in FRENCH_PEOPLE]
    kinds = {m.message["Subject"] for m in messages}
    assert len(messages) >= 12, kinds
    careless = {}
    for message in messages:
        for where, text in (
            ("text", message.body("plain")),
            ("html", _html_text(message.body("html"))),
            *(("invite", text) for text in _calendar_texts(message)),
        ):
            if found := careless_colons(text):
                careless[f"{message.subject} ({where})"] = found
    assert not careless, "\n".join(f"{k}: {v}" for k, v in careless.items())


def test_french_emails_write_the_first_of_the_month_as_1er(app, client, runner, smtp_server):
    _french_mail_of_every_kind(app, client, runner)
    # Zoé's confirmation for the webinar of 1 April 2027, and the digest that lists it and an item of that day.
    firsts = [m for m in smtp_server.messages_to("zoe@example.fr") if "1er avril 2027" in m.body("plain")]
    assert len(firsts) >= 2, [m.subject for m in smtp_server.messages_to("zoe@example.fr")]
    for message in smtp_server.messages_to("zoe@example.fr"):
        for text in (message.body("plain"), _html_text(message.body("html")), *_calendar_texts(message)):
            assert not re.search(
                r"\b1 (janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre)", text
            ), text
