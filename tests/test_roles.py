"""Organiser accounts: owners and editors, enforced on every route (walked from the URL map as each
role), the webinars an editor looks after, the owners' screen of organisers, the commands, and a
password reset by email that is signed, single-use, an hour long and says the same for any address."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from werkzeug.routing import IntegerConverter

from tests._support.forms import csrf_token, post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import PASSWORD, make_organiser, sign_in
from webinars.admin import accounts
from webinars.admin.models import Organiser
from webinars.admin.organisers import add_editor
from webinars.audit import AuditEvent
from webinars.content.models import ContentItem
from webinars.database import utcnow
from webinars.extensions import db
from webinars.newsletter.models import Campaign, Subscriber
from webinars.outbox.models import OutboxMessage
from webinars.outbox.sender import deliver_due
from webinars.registrations.models import Registration, RegistrationQuestion
from webinars.registrations.operations import register

OWNER, EDITOR, OTHER = "owner@example.org", "editor@example.org", "other.editor@example.org"

# What this test expects, written independently of webinars/admin/blueprint.py: pages only owners
# may use, and pages about one webinar's registrants (an editor sees those of their own webinars).
OWNER_ONLY = {
    "admin.newsletter",
    "admin.subscribers_csv",
    "admin.subscriber",
    "admin.subscriber_unsubscribe",
    "admin.subscriber_export",
    "admin.subscriber_erase",
    "admin.mail",
    "admin.mail_retry",
    "admin.privacy",
    "admin.history",
    "admin.organisers_page",
    "admin.organiser_role",
    "admin.organiser_active",
    "admin.webinar_team",
    "admin.campaign_approve",
}
REGISTRANTS = {
    "admin.registrations",
    "admin.registrations_csv",
    "admin.registration_cancel",
    "admin.registration_promote",
    "admin.registrant_add",
    "admin.attendance_import",
    "admin.attendance_followups",
    "admin.registrant_messages",
}
PUBLIC = {"admin.login", "admin.password_forgot", "admin.password_reset"}


@dataclass
class World:
    mine: int  # a webinar the editor looks after
    theirs: int  # one they do not
    registration_mine: int
    registration_theirs: int
    question: int
    item: int
    topic: int
    subscriber: int
    campaign: int
    message: int
    organiser: int  # an organiser the walk may change (neither of the two walking)


@pytest.fixture
def world(app) -> World:
    make_organiser(app, OWNER, role="owner")
    editor_id = make_organiser(app, EDITOR, role="editor")
    other_id = make_organiser(app, OTHER, role="editor")
    with app.app_context():
        start = datetime(2030, 6, 4, 10, 0)
        mine = make_webinar(local_start=start, title="Mine", capacity=1)
        theirs = make_webinar(local_start=start, title="Theirs", capacity=1)
        add_editor(mine.id, db.session.get(Organiser, editor_id))
        ids = {}
        for webinar in (mine, theirs):
            for n in range(2):
                registered = register(webinar, name=f"P{n}", email=f"p{n}-{webinar.slug}@example.org", now=utcnow())
                ids[(webinar.id, n)] = registered.id
        question = RegistrationQuestion(webinar_id=mine.id, kind="short_text", label="Why?", position=0)
        item = ContentItem(slug="an-item", type="news", title="An item")
        subscriber = Subscriber(email="reader@example.org", status="subscribed", confirmed_at=utcnow())
        campaign = Campaign(subject="S", body_markdown="b", body_html="<p>b</p>", body_text="b", status="done")
        message = OutboxMessage(kind="x", to_address="a@example.org", raw=b"x", status="failed")
        topic = make_topic()
        db.session.add_all([question, item, subscriber, campaign, message])
        db.session.commit()
        return World(
            mine=mine.id,
            theirs=theirs.id,
            registration_mine=ids[(mine.id, 1)],  # waitlisted
            registration_theirs=ids[(theirs.id, 1)],
            question=question.id,
            item=item.id,
            topic=topic.id,
            subscriber=subscriber.id,
            campaign=campaign.id,
            message=message.id,
            organiser=other_id,
        )


def _url(app, rule, world: World, *, own: bool) -> str:
    """The rule's address with ids of rows that exist; `own`: the editor's webinar, else the other one."""
    values = {
        "webinar_id": world.mine if own else world.theirs,
        "registration_id": world.registration_mine if own else world.registration_theirs,
        "question_id": world.question,
        "item_id": world.item,
        "topic_id": world.topic,
        "subscriber_id": world.subscriber,
        "campaign_id": world.campaign,
        "message_id": world.message,
        "organiser_id": world.organiser,
        "token": "not-a-token",
    }
    for name, converter in rule._converters.items():
        assert name in values, f"the walk does not know <{name}> of {rule.rule}: add an example"
        assert isinstance(converter, IntegerConverter) == (name != "token")
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{name: values[name] for name in rule.arguments})


def _walk(app, client, world: World, *, own: bool = True):
    """(endpoint, method, url, response) for every admin route, GET where it answers GET, else POST with
    a valid CSRF token and nothing else. Signing out comes last."""
    token = csrf_token(client, "/admin/password/forgot")  # a page that answers signed in or not
    rules = sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("admin.")),
        key=lambda rule: (rule.endpoint == "admin.logout", rule.endpoint),
    )
    assert len(rules) >= 40
    for rule in rules:
        url = _url(app, rule, world, own=own)
        method = "GET" if "GET" in rule.methods else "POST"
        response = client.open(url, method=method, data={"csrf_token": token} if method == "POST" else None)
        yield rule.endpoint, method, url, response


def _to_login(response) -> bool:
    return response.status_code == 302 and re.search(r"/admin/login(\?|$)", response.headers["Location"]) is not None


def test_anonymous_visitors_reach_only_sign_in_and_password_reset(app, world, client):
    seen = set()
    for endpoint, method, url, response in _walk(app, client, world):
        seen.add(endpoint)
        if endpoint in PUBLIC:
            # The reset page with a made-up token says the link no longer works.
            assert response.status_code == (410 if endpoint == "admin.password_reset" else 200), url
        else:
            assert _to_login(response), f"{method} {url} answered {response.status_code}"
    assert seen >= PUBLIC | OWNER_ONLY | REGISTRANTS


def test_an_editor_gets_a_403_on_owner_pages_and_on_registrants_of_webinars_they_do_not_look_after(app, world, client):
    assert sign_in(client, EDITOR).status_code == 302
    for endpoint, method, url, response in _walk(app, client, world, own=False):
        if endpoint in PUBLIC:
            continue
        if endpoint in OWNER_ONLY or endpoint in REGISTRANTS:
            assert response.status_code == 403, f"{method} {url} answered {response.status_code}"
            assert "You do not have permission" in response.get_data(as_text=True)
        else:
            assert response.status_code not in (401, 403) and response.status_code < 500, (method, url)
            assert not _to_login(response) or endpoint == "admin.logout", (method, url)


def test_an_editor_uses_every_other_page_and_the_registrants_of_their_own_webinar(app, world, client):
    assert sign_in(client, EDITOR).status_code == 302
    answered = {}
    for endpoint, method, url, response in _walk(app, client, world, own=True):
        if endpoint in PUBLIC:
            continue
        answered[endpoint] = response.status_code
        if endpoint in OWNER_ONLY:
            assert response.status_code == 403, f"{method} {url} answered {response.status_code}"
        else:
            assert response.status_code not in (401, 403) and response.status_code < 500, (method, url)
            assert not _to_login(response) or endpoint == "admin.logout", (method, url)
            if method == "GET":
                assert response.status_code in (200, 302), (url, response.status_code)
    # The pages themselves (the actions that only answer a POST redirect back to them).
    for endpoint in REGISTRANTS - {
        "admin.registration_cancel",
        "admin.registration_promote",
        "admin.attendance_followups",
    }:
        assert answered[endpoint] == 200, endpoint  # the pages themselves, not a redirect away


def test_an_owner_uses_every_page(app, world, client):
    assert sign_in(client, OWNER).status_code == 302
    for endpoint, method, url, response in _walk(app, client, world, own=False):
        if endpoint in PUBLIC:
            continue
        assert response.status_code not in (401, 403) and response.status_code < 500, (method, url)
        if method == "GET" and endpoint != "admin.logout":
            assert response.status_code in (200, 302) and not _to_login(response), (url, response.status_code)


def test_an_editor_sees_no_link_to_owner_pages_and_no_names_of_other_webinars_registrants(app, world, client):
    assert sign_in(client, EDITOR).status_code == 302
    home = client.get("/admin/").get_data(as_text=True)
    assert "Signed in as editor@example.org (editor)" in home
    for path in ("/admin/newsletter", "/admin/history", "/admin/privacy", "/admin/organisers", "/admin/mail"):
        assert f'href="{path}"' not in home
    assert f'href="/admin/webinars/{world.mine}/registrations"' in home
    assert f'href="/admin/webinars/{world.theirs}/registrations"' not in home
    with app.app_context():
        registration = db.session.get(Registration, world.registration_theirs)
        from webinars.catalogue.operations import audit

        audit(registration.webinar, "seat given", None, utcnow(), "by hand", registration_id=registration.id)
        db.session.commit()
    page = client.get(f"/admin/webinars/{world.theirs}").get_data(as_text=True)
    assert "p1-" not in page and "(a registrant)" in page
    assert "See and manage registrations" not in page


def test_the_organiser_who_creates_a_webinar_looks_after_it_and_owners_choose_the_others(app, client):
    make_organiser(app, OWNER, role="owner")
    make_organiser(app, EDITOR, role="editor")
    make_organiser(app, OTHER, role="editor")
    assert sign_in(client, EDITOR).status_code == 302
    form = {
        "title": "Editors' own",
        "start_date": "2030-06-04",
        "start_time": "10:00",
        "timezone": "Europe/Paris",
        "duration_minutes": "60",
        "location": "Online",
    }
    created = post_form(client, "/admin/webinars/new", form)
    assert created.status_code == 302
    webinar_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert client.get(f"/admin/webinars/{webinar_id}/registrations").status_code == 200

    other = app.test_client()
    assert sign_in(other, OTHER).status_code == 302
    assert other.get(f"/admin/webinars/{webinar_id}/registrations").status_code == 403
    owner = app.test_client()
    assert sign_in(owner, OWNER).status_code == 302
    with app.app_context():
        other_id = db.session.scalar(select(Organiser.id).where(Organiser.email == OTHER))
        editor_id = db.session.scalar(select(Organiser.id).where(Organiser.email == EDITOR))
    page = owner.get(f"/admin/webinars/{webinar_id}").get_data(as_text=True)
    assert "editor@example.org" in page
    response = post_form(
        owner,
        f"/admin/webinars/{webinar_id}/editors",
        {"editors": [str(other_id), str(editor_id)]},
        form_url=f"/admin/webinars/{webinar_id}",
    )
    assert response.status_code == 302
    assert other.get(f"/admin/webinars/{webinar_id}/registrations").status_code == 200
    post_form(owner, f"/admin/webinars/{webinar_id}/editors", {"editors": [str(other_id)]}, form_url="/admin/")
    assert client.get(f"/admin/webinars/{webinar_id}/registrations").status_code == 403
    with app.app_context():
        details = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "editors changed")).all()
    assert details == ["Looks after it now: other.editor@example.org", "No longer: editor@example.org"]


# -- the owners' screen and the commands --------------------------------------------------------------


def _organiser(app, email: str) -> Organiser:
    with app.app_context():
        found = db.session.scalar(select(Organiser).where(Organiser.email == email))
        db.session.expunge(found)
        return found


def test_an_owner_adds_an_editor_who_chooses_a_password_from_the_emailed_link(app, client, smtp_server):
    make_organiser(app, OWNER, role="owner")
    assert sign_in(client, OWNER).status_code == 302
    response = post_form(client, "/admin/organisers", {"email": "New@Example.org", "name": "Nia", "role": "editor"})
    assert response.status_code == 303
    with app.app_context():
        deliver_due()
    [message] = smtp_server.messages_to("New@example.org") or smtp_server.messages_to("new@example.org")
    assert "You have an organiser account" in message.subject
    link = re.search(r"http://webinars\.test(/admin/password/reset/\S+)", message.body("plain")).group(1)
    newcomer = app.test_client()
    page = newcomer.get(link)
    assert page.status_code == 200 and "new@example.org" in page.get_data(as_text=True)
    saved = post_form(newcomer, link, {"password": "a brand new passphrase", "again": "a brand new passphrase"})
    assert saved.status_code == 303
    assert sign_in(newcomer, "new@example.org", "a brand new passphrase").status_code == 302
    assert _organiser(app, "new@example.org").role == "editor"
    again = post_form(client, "/admin/organisers", {"email": "new@example.org", "role": "owner"})
    assert again.status_code == 422 and "already exists" in again.get_data(as_text=True)


def test_changing_a_role_ends_the_organisers_sessions_and_the_last_owner_stays_one(app, client):
    make_organiser(app, OWNER, role="owner")
    editor_id = make_organiser(app, EDITOR, role="editor")
    owner_id = _organiser(app, OWNER).id
    assert sign_in(client, OWNER).status_code == 302
    editor = app.test_client()
    assert sign_in(editor, EDITOR).status_code == 302
    assert editor.get("/admin/history").status_code == 403

    response = post_form(client, f"/admin/organisers/{editor_id}", {"role": "owner"})
    assert response.status_code == 303
    assert _organiser(app, EDITOR).role == "owner"
    assert editor.get("/admin/history").status_code == 302  # signed out: the new rights need a new session
    assert sign_in(editor, EDITOR).status_code == 302
    assert editor.get("/admin/history").status_code == 200

    # Now two owners: one may step down, but not the last one.
    assert post_form(editor, f"/admin/organisers/{owner_id}", {"role": "editor"}).status_code == 303
    last = post_form(editor, f"/admin/organisers/{editor_id}", {"role": "editor"})
    assert last.status_code == 422 and "last owner" in last.get_data(as_text=True)
    refused = post_form(editor, f"/admin/organisers/{editor_id}/active", {"active": "0"}, form_url="/admin/organisers")
    assert refused.status_code == 303 and _organiser(app, EDITOR).active
    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.details).where(AuditEvent.action == "role changed")).all()
    assert actions == ["editor@example.org: editor → owner", "owner@example.org: owner → editor"]


def test_commands_create_an_editor_change_roles_and_list_organisers(app, runner):
    created = runner.invoke(args=["admin", "create", "ed@example.org", "--role", "editor"], input=PASSWORD + "\n")
    assert created.exit_code == 0 and "Role: editor." in created.output
    assert runner.invoke(args=["admin", "create", "own@example.org"], input=PASSWORD + "\n").exit_code == 0
    assert _organiser(app, "own@example.org").role == "owner"  # as before roles existed
    assert runner.invoke(args=["admin", "set-role", "ED@example.org", "owner"]).exit_code == 0
    assert _organiser(app, "ed@example.org").role == "owner"
    bad = runner.invoke(args=["admin", "set-role", "ed@example.org", "admin"])
    assert bad.exit_code != 0 and "admin" in bad.output
    listing = runner.invoke(args=["admin", "list"])
    assert "ed@example.org\towner" in listing.output and "own@example.org\towner" in listing.output
    runner.invoke(args=["admin", "set-role", "ed@example.org", "editor"])
    last = runner.invoke(args=["admin", "set-role", "own@example.org", "editor"])
    assert last.exit_code == 0 and "No active owner is left" in last.output


# -- password reset ------------------------------------------------------------------------------------


def _ask_for_reset(client, email: str):
    return post_form(client, "/admin/password/forgot", {"email": email})


def _reset_link(smtp_server, email: str) -> str:
    [message] = smtp_server.messages_to(email)
    return re.search(r"http://webinars\.test(/admin/password/reset/\S+)", message.body("plain")).group(1)


def _without_token(html: str) -> str:
    return re.sub(r'name="csrf_token" type="hidden" value="[^"]+"', "", html)


def test_a_reset_link_is_mailed_works_once_and_ends_every_other_session(app, client, smtp_server):
    make_organiser(app, EDITOR, role="editor")
    elsewhere = app.test_client()
    assert sign_in(elsewhere, EDITOR).status_code == 302
    answer = _ask_for_reset(client, EDITOR)
    assert answer.status_code == 200
    with app.app_context():
        deliver_due()
    link = _reset_link(smtp_server, EDITOR)
    assert client.get(link).headers["Cache-Control"] == "no-store"
    assert client.get(link).status_code == 200  # opening it twice (a mail scanner) changes nothing
    short = post_form(client, link, {"password": "short", "again": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    differ = post_form(client, link, {"password": "a brand new passphrase", "again": "another one entirely"})
    assert differ.status_code == 422 and "differ" in differ.get_data(as_text=True)
    token = csrf_token(client, link)
    saved = client.post(
        link, data={"csrf_token": token, "password": "a brand new passphrase", "again": "a brand new passphrase"}
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith("/admin/login")
    assert elsewhere.get("/admin/").status_code == 302  # the old session ended
    assert sign_in(app.test_client(), EDITOR, PASSWORD).status_code == 401
    assert sign_in(app.test_client(), EDITOR, "a brand new passphrase").status_code == 302
    # The link was used: it no longer works, for the page or for a replayed POST.
    assert client.get(link).status_code == 410
    replay = client.post(
        link, data={"csrf_token": token, "password": "yet another passphrase", "again": "yet another passphrase"}
    )
    assert replay.status_code == 410
    assert sign_in(app.test_client(), EDITOR, "a brand new passphrase").status_code == 302
    with app.app_context():
        event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "password reset"))
        assert db.session.get(Organiser, event.organiser_id).email == EDITOR


def test_unknown_deactivated_and_known_addresses_get_the_same_answer(app, smtp_server):
    make_organiser(app, EDITOR, role="editor")
    make_organiser(app, OTHER, role="editor", active=False)
    pages = []
    for email in (EDITOR, "nobody@example.org", OTHER):
        response = _ask_for_reset(app.test_client(), email)
        pages.append((response.status_code, _without_token(response.get_data(as_text=True))))
    assert pages[0] == pages[1] == pages[2]
    with app.app_context():
        deliver_due()
    assert [m.rcpt_tos for m in smtp_server.messages] == [(EDITOR,)]


def test_a_reset_link_lasts_an_hour(app, client, smtp_server, monkeypatch):
    make_organiser(app, EDITOR, role="editor")
    start = utcnow()
    _ask_for_reset(client, EDITOR)
    with app.app_context():
        deliver_due()
    link = _reset_link(smtp_server, EDITOR)
    monkeypatch.setattr(accounts, "utcnow", lambda: start + timedelta(minutes=59))
    assert client.get(link).status_code == 200
    monkeypatch.setattr(accounts, "utcnow", lambda: start + timedelta(minutes=61))
    late = client.get(link)
    assert late.status_code == 410 and "more than an hour old" in late.get_data(as_text=True)


def test_a_reset_link_stops_working_when_the_password_changes_another_way(app, client, runner, smtp_server):
    make_organiser(app, EDITOR, role="editor")
    _ask_for_reset(client, EDITOR)
    with app.app_context():
        deliver_due()
    link = _reset_link(smtp_server, EDITOR)
    runner.invoke(args=["admin", "set-password", EDITOR], input="set by the command line\n")
    assert client.get(link).status_code == 410
    forged = link.rsplit("/", 1)[0] + "/" + link.rsplit("/", 1)[1][:-3] + "abc"
    assert client.get(forged).status_code == 410


@pytest.mark.app_config(ADMIN_PASSWORD_RESETS_PER_CLIENT=3, MAIL_UNCONFIRMED_PER_ADDRESS=2)
def test_reset_requests_are_limited_per_client_and_per_address(app, smtp_server):
    make_organiser(app, EDITOR, role="editor")
    for client_number in range(2):
        client = app.test_client()
        for _ in range(2):
            address = f"10.0.0.{client_number}"
            token = csrf_token(client, "/admin/password/forgot")
            response = client.post(
                "/admin/password/forgot",
                data={"csrf_token": token, "email": EDITOR},
                environ_base={"REMOTE_ADDR": address},
            )
            assert response.status_code == 200
    with app.app_context():
        deliver_due()
    # Four requests for one address from two clients: two emails, then the same page and nothing sent.
    assert len(smtp_server.messages_to(EDITOR)) == 2
    client = app.test_client()
    statuses = []
    for _ in range(4):
        token = csrf_token(client, "/admin/password/forgot")
        statuses.append(
            client.post(
                "/admin/password/forgot",
                data={"csrf_token": token, "email": f"x{len(statuses)}@example.org"},
                environ_base={"REMOTE_ADDR": "10.0.0.9"},
            ).status_code
        )
    assert statuses == [200, 200, 200, 429]
