"""Newsletter sign-up with double opt-in, signed links, one-click unsubscribe, consent record, export/erasure."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests._support.forms import csrf_token, post_form
from tests.factories import make_topic
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter import operations
from webinars.newsletter.models import ConsentEvent, Subscriber
from webinars.outbox.models import Suppression
from webinars.outbox.sender import deliver_due
from webinars.tokens import make_token

BASE = "http://webinars.test"
LINK = re.compile(r"http://webinars\.test(/newsletter/(?:confirm|preferences|unsubscribe)/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def topics(app):
    with app.app_context():
        make_topic("cooperatives", "Co-operatives")
        make_topic("future-of-work", "Future of work")
        db.session.commit()


def sign_up(client, email: str, **fields):
    data = {"email": email, "name": fields.pop("name", "Ana"), "consent": "y", **fields}
    return post_form(client, "/newsletter", data)


def deliver(app) -> None:
    with app.app_context():
        deliver_due()


def links(message) -> dict[str, str]:
    """The confirm/preferences/unsubscribe paths in a message's text body, by kind."""
    found = {}
    for path in LINK.findall(message.body("plain")):
        found.setdefault(path.split("/")[2], path)
    return found


def subscriber(app, email: str) -> Subscriber | None:
    with app.app_context():
        found = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        if found is not None:
            found.topic_slugs = [t.slug for t in found.topics]  # read while the session is open
            found.events = [(e.action, e.source) for e in found.consent_events]
            db.session.expunge(found)
        return found


def subscribed(app, email: str, topics=()) -> str:
    """A confirmed subscriber, made through the operations; returns their manage token."""
    with app.app_context():
        operations.request_subscription(email, "", topics, source="test", consent_text="consent")
        person = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        operations.confirm(person)
        db.session.commit()
        return operations.manage_token(person)


def test_double_opt_in_from_the_form_to_the_confirmed_subscription(app, client, smtp_server, topics):
    response = sign_up(client, "Ana@Example.com", topics=["cooperatives"])
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/newsletter/check-your-email")
    assert subscriber(app, "ana@example.com").status == "pending"

    deliver(app)
    [message] = smtp_server.messages_to("ana@example.com")
    assert "confirm" in message.subject.lower()
    # Not subscribed yet: nothing to leave, so no unsubscribe footer and no List-Unsubscribe header.
    assert message.message["List-Unsubscribe"] is None and message.message["List-Unsubscribe-Post"] is None
    assert "unsubscribe" not in message.body("plain").lower() and "unsubscribe" not in message.body("html").lower()
    assert "ignore this message" in message.body("plain")
    confirm_path = links(message)["confirm"]

    # A mail scanner opening the link changes nothing.
    page = client.get(confirm_path)
    assert page.status_code == 200 and b"Confirm my subscription" in page.data
    assert subscriber(app, "ana@example.com").status == "pending"

    response = post_form(client, confirm_path)
    assert response.status_code == 200
    assert b"You are subscribed" in response.data
    person = subscriber(app, "ana@example.com")
    assert person.status == "subscribed" and person.confirmed_at is not None
    assert person.topic_slugs == ["cooperatives"]
    assert person.events == [("requested", "newsletter_form"), ("confirmed", "confirmation_link")]
    with app.app_context():
        requested = db.session.scalar(select(ConsentEvent).where(ConsentEvent.action == "requested"))
        assert requested.consent_text == operations.CONSENT_TEXT and requested.at is not None

    # Confirming again is harmless and says what is stored.
    again = post_form(client, confirm_path, form_url="/newsletter")
    assert b"already subscribed" in again.data
    assert len(subscriber(app, "ana@example.com").events) == 2


def test_confirm_post_without_csrf_token_is_refused(app, client, smtp_server):
    sign_up(client, "ana@example.com")
    deliver(app)
    path = links(smtp_server.messages[0])["confirm"]
    assert app.test_client().post(path).status_code == 400
    assert subscriber(app, "ana@example.com").status == "pending"


def test_one_click_post_without_cookie_or_csrf_unsubscribes_and_is_idempotent(app, smtp_server):
    token = subscribed(app, "ana@example.com")
    bare = app.test_client(use_cookies=False)
    for _ in range(2):
        response = bare.post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 200
        assert b"You are unsubscribed" in response.data
    person = subscriber(app, "ana@example.com")
    assert person.status == "unsubscribed" and person.unsubscribed_at is not None
    assert person.events.count(("unsubscribed", "one_click")) == 1


def test_one_click_also_accepts_multipart_bodies(app):
    token = subscribed(app, "ana@example.com")
    response = app.test_client(use_cookies=False).post(
        f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"}, content_type="multipart/form-data"
    )
    assert response.status_code == 200
    assert subscriber(app, "ana@example.com").status == "unsubscribed"


def test_unsubscribe_page_button_needs_csrf_and_then_acts(app, client):
    token = subscribed(app, "ana@example.com")
    assert client.post(f"/newsletter/unsubscribe/{token}", data={}).status_code == 400
    assert subscriber(app, "ana@example.com").status == "subscribed"
    response = post_form(client, f"/newsletter/unsubscribe/{token}")
    assert response.status_code == 200 and b"You are unsubscribed" in response.data
    assert subscriber(app, "ana@example.com").events[-1] == ("unsubscribed", "unsubscribe_page")


def test_opening_links_never_acts(app, client, smtp_server):
    token = subscribed(app, "ana@example.com")
    sign_up(client, "bob@example.com")
    deliver(app)
    confirm_path = links(smtp_server.messages_to("bob@example.com")[0])["confirm"]
    for path in (f"/newsletter/unsubscribe/{token}", f"/newsletter/preferences/{token}", confirm_path):
        assert client.get(path).status_code == 200
        assert client.head(path).status_code == 200
    assert subscriber(app, "ana@example.com").status == "subscribed"
    assert subscriber(app, "bob@example.com").status == "pending"


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "&#39;no-such-topic&#39; is not a valid choice for this field."),
        ("fr", "«\u00a0no-such-topic\u00a0» n’est pas un choix valide pour ce champ."),
    ],
    ids=["en", "fr"],
)
def test_an_unknown_topic_is_refused_beside_the_field_with_422_and_the_input_kept(app, client, topics, language, said):
    data = {"email": "ana@example.org", "name": "Ana", "consent": "y", "topics": ["cooperatives", "no-such-topic"]}
    response = post_form(client, f"/newsletter?lang={language}", data)
    assert response.status_code == 422  # like every other form sent back with its errors
    page = response.get_data(as_text=True)
    assert said in page
    assert "n'est" not in page and "N'est" not in page  # French typography: ’, never a straight apostrophe
    assert 'value="ana@example.org"' in page
    assert re.search(r'<input checked[^>]* value="cooperatives"', page)
    assert subscriber(app, "ana@example.org") is None


def test_the_answer_is_the_same_whatever_the_address_state(app, smtp_server, topics):
    subscribed(app, "member@example.com")
    subscribed(app, "leaver@example.com")
    with app.app_context():
        leaver = db.session.scalar(select(Subscriber).where(Subscriber.email == "leaver@example.com"))
        operations.unsubscribe(leaver, source="test")
        db.session.commit()
    sign_up(app.test_client(), "pending@example.com")

    answers = []
    for email in ("new@example.com", "pending@example.com", "member@example.com", "leaver@example.com"):
        client = app.test_client()
        response = sign_up(client, email, topics=["cooperatives"])
        followed = client.get(response.headers["Location"])
        answers.append((response.status_code, response.headers["Location"], response.data, followed.data))
    assert all(answer == answers[0] for answer in answers)
    # ...while the mailbox owner learns the truth: the member is told, and is not downgraded.
    deliver(app)
    assert "already subscribed" in smtp_server.messages_to("member@example.com")[-1].subject
    assert subscriber(app, "member@example.com").status == "subscribed"
    assert subscriber(app, "member@example.com").topic_slugs == []


def test_confirmation_link_expires_after_seven_days(app, client, smtp_server, monkeypatch):
    sign_up(client, "ana@example.com")
    deliver(app)
    path = links(smtp_server.messages[0])["confirm"]
    start = utcnow()
    monkeypatch.setattr(operations, "utcnow", lambda: start + timedelta(days=6, hours=23))
    assert client.get(path).status_code == 200
    monkeypatch.setattr(operations, "utcnow", lambda: start + timedelta(days=7, minutes=1))
    page = client.get(path)
    assert page.status_code == 410 and b"expired" in page.data
    token = csrf_token(client, "/newsletter")
    assert client.post(path, data={"csrf_token": token}).status_code == 410
    assert subscriber(app, "ana@example.com").status == "pending"


@pytest.mark.parametrize("kind", ["confirm", "preferences", "unsubscribe"])
def test_forged_garbled_and_foreign_tokens_get_a_clear_4xx(app, client, kind):
    subscribed(app, "ana@example.com")
    with app.app_context():
        forged = [
            "x",
            "not-a-token",
            make_token("other-purpose", {"s": 1, "v": 0}),
            make_token(operations.MANAGE_PURPOSE, {"s": 10**15, "v": 0}),
            make_token(operations.MANAGE_PURPOSE, {"s": 1, "v": 7}),
            make_token(operations.MANAGE_PURPOSE, ["s", 1]),
            make_token(operations.CONFIRM_PURPOSE, {"s": "1", "v": 0, "t": 0}),
            operations.manage_token(db.session.get(Subscriber, 1))[:-3] + "AAA",
            "A" * 5000,
        ]
    for token in forged:
        for response in (
            client.get(f"/newsletter/{kind}/{token}"),
            client.post(f"/newsletter/{kind}/{token}", data={"List-Unsubscribe": "One-Click"}),
        ):
            assert 400 <= response.status_code < 500, (token, response.status_code)
            assert b"<html" in response.data
    assert subscriber(app, "ana@example.com").status == "subscribed"


def test_resubmitting_resends_the_confirmation_up_to_a_limit(app, smtp_server):
    limit = app.config["MAIL_UNCONFIRMED_PER_ADDRESS"]
    for _ in range(limit + 2):
        response = sign_up(app.test_client(), "ana@example.com")
        assert response.status_code == 303
    deliver(app)
    assert len(smtp_server.messages_to("ana@example.com")) == limit == 3
    # Every link sent works: confirming with the first one succeeds.
    client = app.test_client()
    assert b"You are subscribed" in post_form(client, links(smtp_server.messages[0])["confirm"]).data


def test_one_client_is_limited_without_revealing_anything(app):
    client = app.test_client()
    for n in range(app.config["NEWSLETTER_SIGNUPS_PER_CLIENT"]):
        assert sign_up(client, f"person{n}@example.com").status_code == 303
    assert sign_up(client, "one-more@example.com").status_code == 429
    assert subscriber(app, "one-more@example.com") is None


def test_invalid_form_keeps_input_and_stores_nothing(app, client):
    response = sign_up(client, "not-an-address", name="Ana\r\nBcc: x@example.com", consent="")
    assert response.status_code == 422
    assert b"not-an-address" in response.data
    assert b"must have an @-sign" in response.data  # email-validator says what is wrong
    with app.app_context():
        assert db.session.scalar(select(Subscriber)) is None


def test_someone_who_left_comes_back_only_through_double_opt_in(app, client, smtp_server):
    old_token = subscribed(app, "ana@example.com")
    app.test_client(use_cookies=False).post(
        f"/newsletter/unsubscribe/{old_token}", data={"List-Unsubscribe": "One-Click"}
    )
    sign_up(client, "ana@example.com")
    assert subscriber(app, "ana@example.com").status == "pending"
    deliver(app)
    path = links(smtp_server.messages_to("ana@example.com")[-1])["confirm"]
    post_form(client, path)
    assert subscriber(app, "ana@example.com").status == "subscribed"


def test_unsubscribe_links_in_earlier_newsletters_keep_working_after_subscribing_again(app, client, smtp_server):
    old_token = subscribed(app, "ana@example.com")  # as in a newsletter she received back then
    app.test_client(use_cookies=False).post(
        f"/newsletter/unsubscribe/{old_token}", data={"List-Unsubscribe": "One-Click"}
    )
    sign_up(client, "ana@example.com")
    deliver(app)
    post_form(client, links(smtp_server.messages_to("ana@example.com")[-1])["confirm"])
    assert subscriber(app, "ana@example.com").status == "subscribed"

    # The old newsletter's links lead to her current subscription: the page, and the one-click POST.
    assert client.get(f"/newsletter/unsubscribe/{old_token}").status_code == 200
    assert client.get(f"/newsletter/preferences/{old_token}").status_code == 200
    response = app.test_client(use_cookies=False).post(
        f"/newsletter/unsubscribe/{old_token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200 and b"You are unsubscribed" in response.data
    assert subscriber(app, "ana@example.com").status == "unsubscribed"


def test_mail_to_a_subscriber_carries_a_plain_list_unsubscribe_header_that_clients_can_read(app, client, smtp_server):
    subscribed(app, "ana.maria.longname@example.com")
    sign_up(client, "ana.maria.longname@example.com")  # already subscribed: a note with their links
    deliver(app)
    [message] = [m for m in smtp_server.messages if "already subscribed" in m.subject]
    assert "In case you decide to unsubscribe" in message.body("plain")
    head = message.data.split(b"\r\n\r\n", 1)[0]
    [line] = [line for line in head.split(b"\r\n") if line.startswith(b"List-Unsubscribe:")]
    # A plain <https://...> value, not an RFC 2047 encoded-word (=?utf-8?q?=3Chttp...), which clients ignore.
    assert re.fullmatch(rb"List-Unsubscribe: <http://webinars\.test/newsletter/unsubscribe/[A-Za-z0-9_.\-]+>", line)
    assert b"List-Unsubscribe-Post: List-Unsubscribe=One-Click" in head.split(b"\r\n")


def test_preferences_change_topics_or_leave(app, client, topics):
    token = subscribed(app, "ana@example.com", topics=["cooperatives"])
    url = f"/newsletter/preferences/{token}"
    page = client.get(url)
    assert b'value="cooperatives" checked' in page.data or b'checked id="topics-0"' in page.data
    response = post_form(client, url, {"topics": ["future-of-work"], "action": "save"})
    assert b"Your topics are saved" in response.data
    assert subscriber(app, "ana@example.com").topic_slugs == ["future-of-work"]
    response = post_form(client, url, {"action": "leave"})
    assert b"You are unsubscribed" in response.data
    assert subscriber(app, "ana@example.com").status == "unsubscribed"
    # The page now says what is stored: no topic form for someone who left.
    assert b"You are not subscribed" in client.get(url).data


def test_registration_form_starts_the_same_flow(app, smtp_server):
    with app.app_context():
        operations.request_subscription(
            "Reg@Example.com", "Reg", [], source="registration_form", consent_text="box text", client_key=None
        )
        db.session.commit()
    deliver(app)
    assert "confirm" in smtp_server.messages_to("reg@example.com")[0].subject.lower()
    assert subscriber(app, "reg@example.com").events == [("requested", "registration_form")]


def test_export_and_erase_from_the_command_line(app, runner, smtp_server):
    subscribed(app, "ana@example.com")
    deliver(app)
    result = runner.invoke(args=["newsletter", "export", "ANA@example.com"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stderr carries log lines
    assert data["subscriber"]["status"] == "subscribed"
    assert [e["action"] for e in data["subscriber"]["consent_events"]] == ["requested", "confirmed"]
    assert data["messages"][0]["status"] == "sent"

    result = runner.invoke(args=["newsletter", "erase", "ana@example.com", "--yes"])
    assert result.exit_code == 0 and "Erased" in result.output
    assert subscriber(app, "ana@example.com") is None
    data = json.loads(runner.invoke(args=["newsletter", "export", "ana@example.com"]).stdout)
    assert data["email"] == "ana@example.com" and (data["subscriber"], data["suppression"]) == (None, None)
    assert data["messages"] == data["registrations"] == data["rate_limit_hits"] == []
    assert "Nothing is stored" in runner.invoke(args=["newsletter", "erase", "ana@example.com", "--yes"]).output


def test_suppressions_can_be_listed_and_cleared(app, runner):
    with app.app_context():
        db.session.add(Suppression(email="gone@example.com", reason="RCPT 550 no such user"))
        db.session.commit()
    result = runner.invoke(args=["newsletter", "suppressions", "list"])
    assert "gone@example.com" in result.output and "550" in result.output
    assert runner.invoke(args=["newsletter", "suppressions", "clear", "gone@example.com"]).exit_code == 0
    assert "No suppressed" in runner.invoke(args=["newsletter", "suppressions", "list"]).output
    assert runner.invoke(args=["newsletter", "suppressions", "clear", "gone@example.com"]).exit_code != 0


def _no_store(response) -> bool:
    directives = {part.strip() for part in response.headers.get("Cache-Control", "").split(",")}
    # same-origin: no Referer leaves the site, and over HTTPS our own forms still pass Flask-WTF's check.
    return {"private", "no-store"} <= directives and response.headers.get("Referrer-Policy") == "same-origin"


def test_personal_pages_are_never_cached_or_referred(app, client, smtp_server):
    token = subscribed(app, "ana@example.com")
    sign_up(client, "bob@example.com")
    deliver(app)
    confirm_path = links(smtp_server.messages_to("bob@example.com")[0])["confirm"]
    paths = [confirm_path, f"/newsletter/preferences/{token}", f"/newsletter/unsubscribe/{token}"]
    for path in paths + ["/newsletter/preferences/garbled", "/newsletter/confirm/garbled"]:
        response = client.get(path)
        assert _no_store(response), (path, response.headers.get("Cache-Control"))
    assert _no_store(post_form(client, confirm_path))
    assert _no_store(post_form(client, f"/newsletter/preferences/{token}", {"topics": []}))
    one_click = app.test_client().post(f"/newsletter/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200 and _no_store(one_click)
