"""International email addresses, one rule everywhere (webinars/addresses.py).

Stored with the domain in its ASCII (IDNA) form, which is what envelope and headers carry; a local
part with non-ASCII letters travels with SMTPUTF8 when the server offers it, and otherwise the
message is kept and failed with a reason the organiser can read. Checked against a real SMTP
server (aiosmtpd) with SMTPUTF8 offered and not.
"""

from __future__ import annotations

import re

import pytest
from icalendar import Calendar
from sqlalchemy import insert, select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import PASSWORD, sign_in, signed_in
from webinars.addresses import canonical_address, mailto_uri, recipient_header
from webinars.extensions import db
from webinars.newsletter import operations as newsletter
from webinars.newsletter.models import Subscriber
from webinars.outbox.models import OutboxMessage, Suppression
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration

NON_ASCII_LOCAL = ["josé@example.org", "太郎@example.jp"]


def header_line(message, name: str) -> bytes:
    """The raw header line as it travelled (unfolded)."""
    head = message.data.split(b"\r\n\r\n", 1)[0].replace(b"\r\n ", b" ").replace(b"\r\n\t", b" ")
    [line] = [line for line in head.split(b"\r\n") if line.lower().startswith(name.lower().encode() + b":")]
    return line


def upcoming(app, **fields) -> str:
    with app.app_context():
        webinar = make_webinar(slug="intl", **fields)
        db.session.commit()
        return webinar.slug


def register(client, email: str, name: str = "José Lima"):
    data = {"name": name, "email": email, "organisation": "", "country": "", "timezone": "Europe/Paris"}
    return post_form(client, "/webinars/intl/register", data, form_url="/webinars/intl")


def deliver(app):
    with app.app_context():
        return deliver_due()


def calendar_of(received) -> Calendar:
    [part] = [p for p in received.message.walk() if p.get_content_type() == "text/calendar"]
    return Calendar.from_ical(part.get_content())


# -- the rule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("marie@bücher.example", "marie@xn--bcher-kva.example"),
        ("marie@BÜCHER.example", "marie@xn--bcher-kva.example"),
        ("hans@xn--bcher-kva.example", "hans@xn--bcher-kva.example"),  # typed in punycode: kept so
        ("Ana.Lima@Example.COM", "Ana.Lima@example.com"),
        ("josé@example.org", "josé@example.org"),
        ("太郎@例え.jp", "太郎@xn--r8jz45g.jp"),
    ],
)
def test_one_spelling_per_address_with_the_domain_in_ascii_form(typed, stored):
    assert canonical_address(typed) == stored


def test_headers_and_calendar_addresses_are_built_from_the_parts():
    assert recipient_header("José Lima", "josé@example.org") == "José Lima <josé@example.org>"
    assert (
        recipient_header('Ana "the" Lima', "ana@bücher.example") == '"Ana \\"the\\" Lima" <ana@xn--bcher-kva.example>'
    )
    assert mailto_uri("josé@example.org") == "mailto:jos%C3%A9@example.org"
    assert mailto_uri("o'neil+news@bücher.example") == "mailto:o'neil+news@xn--bcher-kva.example"


# -- registration ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("address", NON_ASCII_LOCAL)
def test_a_non_ascii_local_part_registers_and_is_delivered_with_smtputf8(app, client, smtp_server, address):
    smtp_server.offer_smtputf8(True)
    upcoming(app)
    response = register(client, address)
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(select(Registration.email)) == address
    deliver(app)
    [received] = smtp_server.wait_for(1)
    assert received.rcpt_tos == (address,) and received.smtputf8
    # RFC 6532: the address itself, in UTF-8, never an encoded-word (which is invalid inside an address).
    assert header_line(received, "To") == f"To: José Lima <{address}>".encode()
    assert received.message["To"].addresses[0].addr_spec == address
    attendee = calendar_of(received).walk("VEVENT")[0]["ATTENDEE"]
    assert str(attendee) == mailto_uri(address) and attendee.params["CN"] == "José Lima"


def test_without_smtputf8_the_message_is_kept_and_failed_with_a_reason_the_organiser_sees(app, client, smtp_server):
    assert not smtp_server.smtputf8
    upcoming(app)
    assert register(client, "josé@example.org").status_code == 303
    assert register(client, "ana@example.org", name="Ana").status_code == 303
    report = deliver(app)
    assert report.sent == 1 and report.failed == 1 and report.retried == 0
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ana@example.org",)]
    with app.app_context():
        row = db.session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "josé@example.org"))
        # Kept, nothing lost: what to send (the worker builds it again when it is retried).
        assert row.status == "failed" and row.payload["r"] and row.kind == "registration_confirmed"
        assert "SMTPUTF8" in row.last_error and "josé@example.org" in row.last_error
        assert db.session.scalar(select(Suppression)) is None  # the address is not bad, the server is
    page = signed_in(app, client).get("/admin/mail").get_data(as_text=True)
    assert "josé@example.org" in page and "SMTPUTF8" in page
    # Once the server offers SMTPUTF8, the kept message goes out.
    smtp_server.offer_smtputf8(True)
    assert post_form(client, f"/admin/mail/{row.id}/retry", form_url="/admin/mail").status_code == 302
    assert deliver(app).sent == 1
    [received] = smtp_server.messages_to("josé@example.org")
    assert received.smtputf8 and received.subject.startswith("Registration confirmed")


def test_an_international_domain_travels_in_ascii_form_and_is_one_address_in_either_form(app, client, smtp_server):
    upcoming(app)
    assert register(client, "marie@bücher.example").status_code == 303
    assert register(client, "marie@xn--bcher-kva.example").status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Registration.email)).all() == ["marie@xn--bcher-kva.example"]
    deliver(app)
    messages = smtp_server.wait_for(2)  # the confirmation, and again for the second form (same registration)
    for received in messages:
        assert received.rcpt_tos == ("marie@xn--bcher-kva.example",) and not received.smtputf8
        assert header_line(received, "To") == b"To: =?utf-8?q?Jos=C3=A9?= Lima <marie@xn--bcher-kva.example>"
        assert str(calendar_of(received).walk("VEVENT")[0]["ATTENDEE"]) == "mailto:marie@xn--bcher-kva.example"


@pytest.mark.app_config(MAIL_DEFAULT_SENDER="Forum für Genossenschaften <events@bücher.example>")
def test_a_sender_at_an_international_domain_is_written_in_ascii_form_too(app, client, smtp_server):
    upcoming(app)
    register(client, "ana@example.org", name="Ana")
    deliver(app)
    [received] = smtp_server.wait_for(1)
    assert received.mail_from == "events@xn--bcher-kva.example"
    assert header_line(received, "From").endswith(b" <events@xn--bcher-kva.example>")
    assert received.message["From"].addresses[0].display_name == "Forum für Genossenschaften"
    organizer = calendar_of(received).walk("VEVENT")[0]["ORGANIZER"]
    assert str(organizer) == "mailto:events@xn--bcher-kva.example"


# -- newsletter ---------------------------------------------------------------------------------------------


def test_newsletter_confirmations_go_to_each_kind_of_address_with_a_valid_to_header(app, client, smtp_server):
    smtp_server.offer_smtputf8(True)
    for typed in ("josé@example.org", "hans@xn--bcher-kva.example", "marie@bücher.example"):
        response = post_form(client, "/newsletter", {"email": typed, "name": "", "consent": "y"})
        assert response.status_code == 303
    with app.app_context():
        stored = db.session.scalars(select(Subscriber.email).order_by(Subscriber.id)).all()
    assert stored == ["josé@example.org", "hans@xn--bcher-kva.example", "marie@xn--bcher-kva.example"]
    deliver(app)
    for address in stored:
        [received] = smtp_server.messages_to(address)
        assert header_line(received, "To") == f"To: {address}".encode()
        assert received.smtputf8 == (not address.isascii())


def test_a_campaign_reaches_international_addresses_also_those_stored_before_the_rule(app, smtp_server):
    smtp_server.offer_smtputf8(True)
    with app.app_context():
        # A subscriber stored with a Unicode domain (as before this rule) still gets a valid message.
        for email in ("josé@example.org", "lena@bücher.example"):
            db.session.execute(insert(Subscriber).values(email=email, name="", status="subscribed", token_version=0))
        campaign = newsletter.create_campaign("Hello", "Hi **all**.", [], created_by="test")
        db.session.commit()
        newsletter.expand_campaign(campaign)
    assert deliver(app).sent == 2
    [jose] = smtp_server.messages_to("josé@example.org")
    assert jose.smtputf8 and header_line(jose, "To") == "To: josé@example.org".encode()
    [lena] = smtp_server.messages_to("lena@xn--bcher-kva.example")
    assert not lena.smtputf8 and header_line(lena, "To") == b"To: lena@xn--bcher-kva.example"
    assert re.match(
        rb"List-Unsubscribe: <http://webinars\.test/newsletter/unsubscribe/", header_line(lena, "List-Unsubscribe")
    )


def test_the_mail_commands_list_what_failed_and_queue_it_again(app, client, runner, smtp_server):
    upcoming(app)
    register(client, "太郎@example.jp")
    deliver(app)
    result = runner.invoke(args=["mail", "failed"])
    assert "太郎@example.jp" in result.output and "SMTPUTF8" in result.output
    message_id = int(result.output.split("\t", 1)[0])
    smtp_server.offer_smtputf8(True)
    assert f"Message {message_id} is queued again." in runner.invoke(args=["mail", "retry", str(message_id)]).output
    deliver(app)
    assert smtp_server.messages_to("太郎@example.jp")
    assert "Every message so far was delivered" in runner.invoke(args=["mail", "failed"]).output


def test_the_newsletter_commands_find_an_address_typed_in_either_form(app, runner):
    with app.app_context():
        newsletter.request_subscription("marie@bücher.example", "Marie", [], source="test", consent_text="yes")
        db.session.commit()
    result = runner.invoke(args=["newsletter", "export", "Marie@xn--BCHER-kva.example"])
    assert result.exit_code == 0 and '"status": "pending"' in result.output
    result = runner.invoke(args=["newsletter", "erase", "marie@bücher.example", "--yes"])
    assert "Erased marie@bücher.example" in result.output  # read in its own letters, found in either form


# -- organisers ------------------------------------------------------------------------------------------------


def test_organisers_are_created_and_sign_in_under_the_same_rule(app, client, runner):
    result = runner.invoke(args=["admin", "create", "Olga@Bücher.example", "--password-stdin"], input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created organiser olga@bücher.example." in result.output
    assert sign_in(client, "olga@BÜCHER.example").status_code == 302


# -- people read the domain as it is written ----------------------------------------------------------------


def test_people_read_an_international_domain_in_its_own_letters_on_every_page(app, client, runner, smtp_server):
    """Stored and sent as xn--bcher-kva.example, but nobody reads punycode: pages and commands say bücher."""
    shown = "marie@bücher.example"
    upcoming(app)
    assert register(client, "marie@xn--bcher-kva.example", name="Marie").status_code == 303  # typed in ASCII
    assert post_form(client, "/newsletter", {"email": shown, "name": "Marie", "consent": "y"}).status_code == 303
    deliver(app)
    bodies = " ".join(received.body() for received in smtp_server.wait_for(2))
    links = {
        path.split("/")[1]: path
        for path in re.findall(r"http://webinars\.test(/(?:registrations|newsletter/confirm)/[A-Za-z0-9_.\-]+)", bodies)
    }
    pages = {"manage": client.get(links["registrations"])}
    confirm = links["newsletter"]
    pages["confirm"] = client.get(confirm)
    pages["confirmed"] = post_form(client, confirm, {})
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        token = newsletter.manage_token(subscriber)
    pages["preferences"] = client.get(f"/newsletter/preferences/{token}")
    pages["unsubscribe"] = client.get(f"/newsletter/unsubscribe/{token}")
    with app.app_context():
        webinar_id = db.session.scalar(select(Registration.webinar_id))
    organiser = signed_in(app, app.test_client())
    pages["admin registrations"] = organiser.get(f"/admin/webinars/{webinar_id}/registrations")
    pages["admin newsletter"] = organiser.get("/admin/newsletter")
    for name, response in pages.items():
        text = response.get_data(as_text=True)
        assert response.status_code == 200 and shown in text and "xn--" not in text, name
    with app.app_context():  # stored, and sent, as before
        assert db.session.scalars(select(Registration.email)).all() == ["marie@xn--bcher-kva.example"]
    result = runner.invoke(args=["newsletter", "erase", shown, "--yes"])
    assert f"Erased {shown}" in result.output and "xn--" not in result.output
