"""Hostile input, generated with hypothesis, against every public form, token URL and parameter.

Whatever arrives (arbitrary Unicode, control characters, CR/LF, oversized fields, repeated fields,
missing or forged CSRF tokens, forged, garbled or expired tokens): never a 5xx, nothing stored from
invalid input, no header or recipient injected into mail, and user text always escaped in HTML.

Runs on SQLite and PostgreSQL (`app` fixture). The database is shared by the examples of one test,
so the checks compare counts before and after each request. Examples are derandomized so that CI
sees the same cases every run; the count is kept modest so that the suite stays fast.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests._support.forms import csrf_token_from_html
from tests.factories import make_topic, make_webinar

# One app and one database for all the examples of a test: that is the point of the counts.
SETTINGS = settings(
    max_examples=15,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

MARK = '<i data-pwn="1">'  # markup that must never come back unescaped
INJECTED = "injected@evil.test"
NASTY = [
    MARK,
    f"{MARK}</textarea><script>alert(1)</script>",
    f"Ann\r\nBcc: {INJECTED}",
    "Ann\nX-Injected: yes",
    f"a@example.org\r\nBcc: {INJECTED}",
    f"a@example.org%0d%0aBcc:{INJECTED}",
    f"a@example.org, {INJECTED}",
    f'"a@example.org" <{INJECTED}>',
    "\x00",
    "nul\x00inside",
    "\u2028\u2029",
    "\ud7ff\ufeff\ufffd",
    "=cmd|' /C calc'!A0",
    "{{ 7 * 7 }}{% raw %}",
    "' OR '1'='1' --",
    "../../../etc/passwd",
    "x" * 5000,
    "é" * 300,
    "🙂" * 100,
    " ",
    "",
]
CONTROL = st.text(alphabet=st.characters(max_codepoint=0x9F), max_size=12)
hostile_text = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    CONTROL,
    st.builds(lambda a, b: a + b, st.sampled_from(NASTY), st.text(max_size=8)),
)
# None: the field is missing; a list: the field is sent several times (the wrong type for one value).
field_value = st.one_of(st.none(), hostile_text, st.lists(hostile_text, min_size=2, max_size=3))
email_value = st.one_of(
    st.emails(),
    field_value,
    st.builds(lambda e, s: e + s, st.emails(), st.sampled_from(["\r\nBcc: " + INJECTED, "\n", "\x00", MARK])),
)
csrf_mode = st.sampled_from(["valid", "missing", "empty", "forged", "garbled"])

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _form(**fields) -> dict:
    return {key: value for key, value in fields.items() if value is not None}


def _csrf(client, mode: str, page_url: str) -> str | None:
    if mode == "missing":
        return None
    if mode == "empty":
        return ""
    if mode == "garbled":
        return "not.a.token"
    token = csrf_token_from_html(client.get(page_url).get_data(as_text=True))
    if mode == "forged":  # a real token from another visitor's session
        other = client.application.test_client()
        return csrf_token_from_html(other.get(page_url).get_data(as_text=True))
    return token


def assert_safe_response(response, where: str = "") -> str:
    body = response.get_data(as_text=True)
    assert response.status_code < 500, f"{where}: {response.status_code}\n{body[:1000]}"
    assert MARK not in body, f"{where}: user markup came back unescaped"
    assert "Traceback" not in body
    for name, value in response.headers.items():
        assert "\n" not in value and "\r" not in value, f"{where}: header {name} carries a line break"
        assert name.lower() not in {"x-injected", "bcc"}
    return body


def _count(model) -> int:
    from webinars.extensions import db

    db.session.rollback()
    n = db.session.scalar(select(func.count()).select_from(model))
    db.session.rollback()
    return n


def deliver_and_check_mail(app, smtp_server) -> list:
    """Deliver the outbox to the SMTP server and check what arrived: one real recipient per message,
    no injected header or recipient, user markup escaped in the HTML part."""
    from webinars.outbox.sender import deliver_due

    before = len(smtp_server.messages)
    with app.app_context():
        deliver_due()
    new = smtp_server.messages[before:]
    for message in new:
        assert len(message.rcpt_tos) == 1, message.rcpt_tos
        recipient = message.rcpt_tos[0]
        assert INJECTED not in recipient.lower() and not _CONTROL_CHARS.search(recipient)
        headers = message.message
        assert headers.get_all("Bcc") is None and headers.get_all("Cc") is None
        assert headers.get_all("X-Injected") is None
        assert INJECTED not in str(headers["To"]).lower()
        for name, value in headers.items():
            assert "\n" not in str(value).replace("\n ", "").replace("\n\t", ""), f"{name}: {value!r}"
        html = message.body("html")
        assert MARK not in html, "user markup unescaped in an email's HTML"
    return new


# -- the app under attack ------------------------------------------------------------------------


@pytest.fixture
def site(app):
    """A published upcoming webinar with five seats, a topic, and what the token tests need."""
    from webinars.extensions import db

    with app.app_context():
        topic = make_topic("cooperatives", "Co-operatives")
        webinar = make_webinar(capacity=5, topics=[topic], title="Hostile input welcome")
        db.session.commit()
        slug = webinar.slug
    return app, slug


# -- registration --------------------------------------------------------------------------------


@SETTINGS
@given(
    name=field_value,
    email=email_value,
    organisation=field_value,
    country=field_value,
    timezone=st.one_of(st.none(), st.sampled_from(["Europe/Paris", "Asia/Tokyo"]), hostile_text),
    newsletter=st.one_of(st.none(), st.sampled_from(["y", "on"]), hostile_text),
    csrf=csrf_mode,
)
@example(MARK, "mark@example.org", MARK, MARK, "Europe/Paris", None, "valid")
@example(f"Ann\r\nBcc: {INJECTED}", "ann@example.org", "", "", "Europe/Paris", None, "valid")
@example("Ann", f"ann@example.org\r\nBcc: {INJECTED}", "", "", "Europe/Paris", "y", "valid")
@example("Ann", "ann2@example.org", "", "", "Europe/Paris", None, "missing")
@example("x" * 5000, "long@example.org", "y" * 5000, "", "Europe/Paris", None, "valid")
def test_registration_form_survives_anything(
    site, smtp_server, name, email, organisation, country, timezone, newsletter, csrf
):
    from webinars.outbox.models import OutboxMessage
    from webinars.registrations.models import Registration

    app, slug = site
    client = app.test_client()
    page = f"/webinars/{slug}"
    data = _form(
        csrf_token=_csrf(client, csrf, page),
        name=name,
        email=email,
        organisation=organisation,
        country=country,
        timezone=timezone,
        newsletter=newsletter,
    )
    with app.app_context():
        registrations, outbox = _count(Registration), _count(OutboxMessage)
    response = client.post(f"{page}/register", data=data)
    assert_safe_response(response, "register")
    with app.app_context():
        added = _count(Registration) - registrations
        queued = _count(OutboxMessage) - outbox
        if response.status_code == 303:
            assert csrf == "valid"
            assert added in (0, 1)  # 0: the same address again, answered calmly
            from webinars.extensions import db

            newest = db.session.scalars(select(Registration).order_by(Registration.id.desc()).limit(1)).first()
            for value in (newest.name, newest.email, newest.organisation, newest.country):
                assert not _CONTROL_CHARS.search(value or ""), f"control character stored: {value!r}"
            assert len(newest.name) <= 200 and len(newest.email) <= 254
        else:
            assert (added, queued) == (0, 0), f"stored from refused input ({response.status_code})"
    deliver_and_check_mail(app, smtp_server)


# -- newsletter ----------------------------------------------------------------------------------


@SETTINGS
@given(
    email=email_value,
    name=field_value,
    topics=st.one_of(st.none(), st.just("cooperatives"), hostile_text, st.lists(hostile_text, max_size=3)),
    consent=st.one_of(st.none(), st.just("y"), hostile_text),
    csrf=csrf_mode,
)
@example(f"reader@example.org\r\nBcc: {INJECTED}", "Reader", "cooperatives", "y", "valid")
@example("reader@example.org", MARK, None, "y", "valid")
@example("reader2@example.org", "Reader\r\nX-Injected: yes", None, "y", "valid")
@example("reader3@example.org", "Reader", None, "y", "forged")
def test_newsletter_signup_survives_anything(site, smtp_server, email, name, topics, consent, csrf):
    from webinars.newsletter.models import Subscriber
    from webinars.outbox.models import OutboxMessage

    app, _ = site
    client = app.test_client()
    data = _form(csrf_token=_csrf(client, csrf, "/newsletter"), email=email, name=name, topics=topics, consent=consent)
    with app.app_context():
        subscribers, outbox = _count(Subscriber), _count(OutboxMessage)
    response = client.post("/newsletter", data=data)
    assert_safe_response(response, "newsletter sign-up")
    with app.app_context():
        added = _count(Subscriber) - subscribers
        queued = _count(OutboxMessage) - outbox
        if response.status_code == 303:
            assert csrf == "valid"
        else:
            assert (added, queued) == (0, 0), f"stored from refused input ({response.status_code})"
        from webinars.extensions import db

        for subscriber in db.session.scalars(select(Subscriber)):
            assert not _CONTROL_CHARS.search(subscriber.email + subscriber.name)
        db.session.rollback()
    deliver_and_check_mail(app, smtp_server)


@pytest.fixture
def subscriber_token(site):
    """A confirmed subscriber (topic: co-operatives) and their manage token."""
    from webinars.catalogue.models import Webinar
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter import operations
    from webinars.newsletter.models import Subscriber
    from webinars.registrations.models import Registration
    from webinars.registrations.notifications import manage_token

    app, slug = site
    with app.app_context():
        subscriber = Subscriber(
            email="kept@example.org", name="Kept", status="subscribed", confirmed_at=utcnow(), created_at=utcnow()
        )
        subscriber.topics = [make_topic("cooperatives")]
        db.session.add(subscriber)
        webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
        registration = Registration(
            webinar=webinar, email="seat@example.org", name="Seat", status="confirmed", timezone="Europe/Paris"
        )
        db.session.add(registration)
        db.session.commit()
        return {
            "manage": operations.manage_token(subscriber),
            "registration": manage_token(registration),
            "subscriber_id": subscriber.id,
            "registration_id": registration.id,
        }


def _subscriber_state(app, subscriber_id: int) -> tuple:
    from webinars.extensions import db
    from webinars.newsletter.models import Subscriber

    with app.app_context():
        db.session.rollback()
        subscriber = db.session.get(Subscriber, subscriber_id)
        state = (subscriber.status, tuple(t.slug for t in subscriber.topics), subscriber.name, subscriber.email)
        db.session.rollback()
        return state


@SETTINGS
@given(topics=field_value, action=st.one_of(st.none(), st.just("leave"), hostile_text), csrf=csrf_mode)
@example(["cooperatives", MARK], None, "valid")
@example(None, "leave", "missing")
@example(None, "leave", "forged")
def test_preferences_form_survives_anything(site, subscriber_token, topics, action, csrf):
    app, _ = site
    client = app.test_client()
    url = f"/newsletter/preferences/{subscriber_token['manage']}"
    before = _subscriber_state(app, subscriber_token["subscriber_id"])
    response = client.post(url, data=_form(csrf_token=_csrf(client, csrf, url), topics=topics, action=action))
    assert_safe_response(response, "preferences")
    after = _subscriber_state(app, subscriber_token["subscriber_id"])
    if csrf != "valid":
        assert after == before, "a preferences POST without a valid CSRF token changed something"
    assert after[2:] == before[2:]
    assert set(after[1]) <= {"cooperatives"}


@SETTINGS
@given(extra=st.dictionaries(hostile_text.filter(lambda k: k and k != "List-Unsubscribe"), field_value, max_size=3))
def test_unsubscribe_without_one_click_or_csrf_changes_nothing(site, subscriber_token, extra):
    app, _ = site
    url = f"/newsletter/unsubscribe/{subscriber_token['manage']}"
    before = _subscriber_state(app, subscriber_token["subscriber_id"])
    data = {k: v for k, v in extra.items() if v is not None and k != "csrf_token"}
    response = app.test_client().post(url, data=data)
    assert_safe_response(response, "unsubscribe POST")
    assert response.status_code == 400
    assert _subscriber_state(app, subscriber_token["subscriber_id"]) == before


@SETTINGS
@given(csrf=csrf_mode, extra=field_value)
def test_cancelling_a_registration_needs_its_form(site, subscriber_token, csrf, extra):
    from webinars.extensions import db
    from webinars.registrations.models import Registration

    app, _ = site
    with app.app_context():  # every example starts from a confirmed seat
        registration = db.session.get(Registration, subscriber_token["registration_id"])
        registration.status, registration.cancelled_at = "confirmed", None
        db.session.commit()
    client = app.test_client()
    url = f"/registrations/{subscriber_token['registration']}"
    response = client.post(url, data=_form(csrf_token=_csrf(client, csrf, url), extra=extra))
    assert_safe_response(response, "cancel")
    with app.app_context():
        status = db.session.get(Registration, subscriber_token["registration_id"]).status
    if csrf != "valid":
        assert response.status_code == 400
    # Cancelled exactly when the form was accepted (a NUL byte in `extra` is refused with a 400).
    assert status == ("cancelled" if response.status_code == 303 else "confirmed")


@SETTINGS
@given(email=email_value, password=field_value, csrf=csrf_mode)
@example("organiser@example.org", "x" * 100_000, "valid")
@example("nul\x00@example.org", "secret", "valid")
def test_admin_login_survives_anything_and_never_signs_in(site, email, password, csrf):
    app, _ = site
    client = app.test_client()
    response = client.post(
        "/admin/login", data=_form(csrf_token=_csrf(client, csrf, "/admin/login"), email=email, password=password)
    )
    assert_safe_response(response, "admin login")
    assert response.status_code in {400, 401, 413, 422, 429}, response.status_code
    assert client.get("/admin/").status_code in {302, 303, 401}  # still signed out


# -- token URLs ----------------------------------------------------------------------------------

TOKEN_URLS = [
    ("GET", "/newsletter/confirm/{}"),
    ("POST", "/newsletter/confirm/{}"),
    ("GET", "/newsletter/preferences/{}"),
    ("POST", "/newsletter/preferences/{}"),
    ("GET", "/newsletter/unsubscribe/{}"),
    ("POST", "/newsletter/unsubscribe/{}"),
    ("GET", "/registrations/{}"),
    ("POST", "/registrations/{}"),
]
token_text = st.one_of(
    hostile_text.filter(bool),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=200),
    st.sampled_from(["eyJyIjoxfQ.ZZZZZZ.xxxxxxxxxxxxxxxxxxxxxxxxxxx", "a" * 3000, ".", "..", "%00", "%2e%2e"]),
)


@SETTINGS
@given(token=token_text, which=st.sampled_from(TOKEN_URLS), one_click=st.booleans())
def test_garbled_tokens_get_a_clear_4xx(site, subscriber_token, token, which, one_click):
    from webinars.newsletter.models import Subscriber

    app, _ = site
    method, template = which
    data = {"List-Unsubscribe": "One-Click"} if one_click and method == "POST" else None
    with app.app_context():
        before = _subscriber_state(app, subscriber_token["subscriber_id"]), _count(Subscriber)
    response = app.test_client().open(template.format(quote(token, safe="")), method=method, data=data)
    assert_safe_response(response, f"{method} {template}")
    assert 400 <= response.status_code < 500
    with app.app_context():
        assert (_subscriber_state(app, subscriber_token["subscriber_id"]), _count(Subscriber)) == before


def test_forged_expired_and_misdirected_tokens_get_a_clear_4xx(site, subscriber_token):
    from itsdangerous import URLSafeTimedSerializer

    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter import operations
    from webinars.newsletter.models import Subscriber

    app, _ = site
    client = app.test_client()
    forged = {
        purpose: URLSafeTimedSerializer("not-our-secret", salt=f"webinars.{purpose}").dumps(payload)
        for purpose, payload in [
            ("registration", {"r": subscriber_token["registration_id"]}),
            ("newsletter-manage", {"s": subscriber_token["subscriber_id"], "v": 0}),
        ]
    }
    with app.app_context():
        pending = Subscriber(email="late@example.org", name="Late", status="pending", created_at=utcnow())
        db.session.add(pending)
        db.session.commit()
        expired = operations.confirm_token(pending, utcnow() - timedelta(days=8))
        pending_id = pending.id
    cases = [
        # forged: the right shape, signed with another key
        ("/registrations/" + forged["registration"], 404),
        ("/newsletter/preferences/" + forged["newsletter-manage"], 404),
        ("/newsletter/unsubscribe/" + forged["newsletter-manage"], 404),
        # a real token used for another purpose
        ("/registrations/" + subscriber_token["manage"], 404),
        ("/newsletter/confirm/" + subscriber_token["manage"], 404),
        ("/newsletter/preferences/" + subscriber_token["registration"], 404),
        # expired confirmation link
        ("/newsletter/confirm/" + expired, 410),
    ]
    for url, status in cases:
        for method in ("GET", "POST"):
            data = {"List-Unsubscribe": "One-Click"} if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert_safe_response(response, url)
            # A POST without a CSRF token may be refused as such (400) before the token is read.
            expected = {status, 400} if method == "POST" and "/unsubscribe/" not in url else {status}
            assert response.status_code in expected, f"{method} {url}: {response.status_code}"
    with app.app_context():
        assert _subscriber_state(app, subscriber_token["subscriber_id"])[0] == "subscribed"
        assert db.session.get(Subscriber, pending_id).status == "pending"


# -- parameters and slugs ------------------------------------------------------------------------


@SETTINGS
@given(tz=field_value, page=field_value, topic=field_value, slug_suffix=st.booleans())
@example("Europe/Paris", "2", "cooperatives", False)
@example("\x00", "99999999999999999999", "\x00", True)
@example(MARK, "-1", MARK, False)
@example("../../etc/passwd", "1e9", "%", True)
def test_query_parameters_never_break_a_page(site, tz, page, topic, slug_suffix):
    app, slug = site
    client = app.test_client()
    query = _form(tz=tz, page=page, topic=topic)
    for path in ("/", f"/webinars/{slug}", "/calendar.ics", f"/webinars/{slug}.ics"):
        response = client.get(path, query_string=query)
        assert_safe_response(response, f"{path}?{query}")
        if path == "/":
            assert response.status_code in {200, 400}  # 400: a NUL byte, refused before any query
        response.close()
    # A remembered zone cookie holding garbage is ignored, not trusted.
    if isinstance(tz, str):
        client.set_cookie("tz", quote(tz, safe=""))
        assert_safe_response(client.get(f"/webinars/{slug}"), "tz cookie")


@SETTINGS
@given(
    slug=token_text,
    method=st.sampled_from(["GET", "POST"]),
    tail=st.sampled_from(["", ".ics", "/register", "/registered"]),
)
@example(
    "\x00",
    "GET",
    "",
)
@example("\x00", "POST", "/register")
@example("no-such-webinar", "GET", ".ics")
def test_unknown_or_hostile_slugs_are_a_friendly_404(site, slug, method, tail):
    app, _ = site
    response = app.test_client().open(f"/webinars/{quote(slug, safe='')}{tail}", method=method)
    assert_safe_response(response, f"{method} /webinars/{slug!r}{tail}")
    assert response.status_code in {400, 404, 405}, response.status_code
    response.close()


# -- a webinar's own questions -------------------------------------------------------------------


_people = itertools.count()


@pytest.fixture
def site_with_questions(site):
    """The same webinar asking one question of each kind (the choice and the checkbox required)."""
    from webinars.extensions import db
    from webinars.registrations.models import RegistrationQuestion

    app, slug = site
    with app.app_context():
        from webinars.catalogue.models import Webinar

        webinar_id = db.session.scalar(select(Webinar.id).where(Webinar.slug == slug))
        kinds = [
            ("short_text", "Role", "", False),
            ("long_text", "Question", "", False),
            ("single_choice", "Session", "Morning\nEvening", True),
            ("multiple_choice", "Topics", "Housing\nEnergy", False),
            ("checkbox", "Recorded", "", True),
        ]
        ids = []
        for position, (kind, label, options, required) in enumerate(kinds):
            question = RegistrationQuestion(
                webinar_id=webinar_id,
                position=position,
                kind=kind,
                label=label,
                options_text=options,
                required=required,
            )
            db.session.add(question)
            db.session.flush()
            ids.append(question.id)
        db.session.commit()
    return app, slug, ids


@SETTINGS
@given(
    role=field_value,
    question=field_value,
    session=st.one_of(field_value, st.sampled_from(["Morning", "Evening"])),
    topics=st.one_of(field_value, st.lists(st.sampled_from(["Housing", "Energy", MARK]), max_size=3)),
    recorded=st.one_of(st.none(), st.just("y"), hostile_text),
)
@example(MARK, MARK, "Evening", ["Housing"], "y")
@example("Role\r\nBcc: x", "Two\nlines are fine here", "Morning", None, "y")
@example("x" * 5000, "y" * 6000, "Morning", None, "y")
@example(None, None, "Midnight", ["Fishing"], "y")
def test_answers_to_a_webinars_own_questions_survive_anything(
    site_with_questions, smtp_server, role, question, session, topics, recorded
):
    from webinars.extensions import db
    from webinars.registrations.models import Registration, RegistrationAnswer

    app, slug, ids = site_with_questions
    client = app.test_client()
    page = f"/webinars/{slug}"
    data = _form(
        csrf_token=_csrf(client, "valid", page),
        name="Ann",
        email=f"ann{next(_people)}@example.org",
        timezone="Europe/Paris",
        **{
            f"question_{ids[0]}": role,
            f"question_{ids[1]}": question,
            f"question_{ids[2]}": session,
            f"question_{ids[3]}": topics,
            f"question_{ids[4]}": recorded,
        },
    )
    with app.app_context():
        registrations, answers = _count(Registration), _count(RegistrationAnswer)
    response = client.post(f"{page}/register", data=data)
    body = assert_safe_response(response, "register with questions")
    with app.app_context():
        added = _count(Registration) - registrations
        if response.status_code == 303:
            assert added in (0, 1)
            stored = db.session.scalars(select(RegistrationAnswer).where(RegistrationAnswer.id > 0)).all()
            for answer in stored:
                if answer.question_id == ids[0]:
                    assert not _CONTROL_CHARS.search(answer.value) and len(answer.value) <= 300
                if answer.question_id == ids[2]:
                    assert answer.value in ("Morning", "Evening")
                if answer.question_id == ids[3]:
                    assert set(answer.values) <= {"Housing", "Energy"}
                assert len(answer.value) <= 5000
        else:
            assert response.status_code == 422, body[:500]
            assert (added, _count(RegistrationAnswer) - answers) == (0, 0)
