"""Multi-line fields (every TextAreaField of every form) take tabs and line breaks, and refuse the
other control characters: NUL (which PostgreSQL refuses outright, so a campaign's text was lost behind
a bare 400), the other C0 controls, DEL and the C1 controls. The message stands beside the field, and
what was typed is kept.

The form classes are walked, so that a new textarea cannot be left out: each must be refused by its
form, and posted for real on PostgreSQL through the page that shows it.
"""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import TextAreaField

from tests._support.forms import csrf_token
from tests.factories import make_topic, make_webinar
from tests.test_admin import signed_in
from tests.test_admin_content import item_form
from tests.test_admin_webinars import webinar_form
from webinars.forms import BaseForm

REFUSED = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f"]
ALLOWED = ["\t", "\n", "\r\n", "\u2028", "é 🙂"]
MESSAGE = "cannot be stored"


def _form_classes(app) -> list[type]:
    """Every form of the service (importing the app has imported every module that defines one)."""
    found, todo = [], list(BaseForm.__subclasses__())
    while todo:
        form_class = todo.pop()
        todo.extend(form_class.__subclasses__())
        if form_class.__module__.startswith("webinars."):
            found.append(form_class)
    return sorted(found, key=lambda cls: (cls.__module__, cls.__name__))


def _textareas(app) -> set[tuple[str, str]]:
    """(form class name, field name) of every TextAreaField."""
    with app.test_request_context("/"):
        return {
            (form_class.__name__, field.name)
            for form_class in _form_classes(app)
            for field in form_class(formdata=None, meta={"csrf": False})
            if isinstance(field, TextAreaField)
        }


def _errors_for(app, form_class, name: str, value: str) -> list[str]:
    with app.test_request_context("/", method="POST"):
        form = form_class(MultiDict({name: value}), meta={"csrf": False})
        form.validate()
        return [str(error) for error in form[name].errors]


@pytest.mark.parametrize("character", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_every_textarea_of_every_form_refuses_a_control_character(sqlite_app, character):
    textareas = _textareas(sqlite_app)
    assert len(textareas) >= 10  # the walk found the forms
    classes = {cls.__name__: cls for cls in _form_classes(sqlite_app)}
    for form_name, name in sorted(textareas):
        errors = _errors_for(sqlite_app, classes[form_name], name, f"First line\nsecond{character}line")
        assert any(MESSAGE in error for error in errors), (form_name, name, errors)
        # Where it is: people cannot see these characters.
        assert any(f"U+{ord(character):04X}" in error and "line 2" in error.lower() for error in errors), errors


def test_tabs_line_breaks_and_any_other_text_are_welcome_in_a_textarea(sqlite_app):
    classes = {cls.__name__: cls for cls in _form_classes(sqlite_app)}
    for form_name, name in sorted(_textareas(sqlite_app)):
        for text in ALLOWED:
            errors = _errors_for(sqlite_app, classes[form_name], name, f"a{text}b")
            assert not any(MESSAGE in error for error in errors), (form_name, name, text, errors)


# -- each textarea, posted for real on PostgreSQL -----------------------------------------------------

NUL_TEXT = "Before the bad character\x00after it"


def _kept(page: str, name: str) -> bool:
    """The textarea still holds what was typed, around the refused character."""
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    return bool(match) and html.unescape(match.group(1)).strip() == NUL_TEXT


def _beside(page: str, name: str) -> bool:
    match = re.search(rf'id="{name}-error"[^>]*>([^<]*)<', page)
    return bool(match) and MESSAGE in html.unescape(match.group(1))


@pytest.fixture
def organiser(pg_app):
    with pg_app.app_context():
        from webinars.extensions import db

        topic = make_topic()
        webinar = make_webinar(title="Published one")
        db.session.commit()
        ids = {"topic": topic.id, "webinar": webinar.id}
    return pg_app, signed_in(pg_app, pg_app.test_client()), ids


def _pages(ids: dict) -> dict[str, tuple[str, dict, list[str]]]:
    """Form class -> (its page, valid data, the actions it is posted with)."""
    return {
        "WebinarForm": ("/admin/webinars/new", webinar_form(), ["save", "preview"]),
        "ItemForm": ("/admin/content/new", item_form(), ["save"]),
        "TopicForm": (f"/admin/topics/{ids['topic']}/edit", {"name": "Co-operatives", "description": ""}, ["save"]),
        "CampaignForm": ("/admin/newsletter/campaigns/new", {"subject": "News", "body": "Hello."}, ["preview", "send"]),
        "CancelWebinarForm": (f"/admin/webinars/{ids['webinar']}/cancel", {"reason": "", "confirm": "y"}, ["save"]),
        "QuestionForm": (
            f"/admin/webinars/{ids['webinar']}/questions",
            {"kind": "single_choice", "label": "Your sector", "options": "Public\nPrivate"},
            ["save"],
        ),
        "RegistrantMessageForm": (
            f"/admin/webinars/{ids['webinar']}/messages",
            {
                "audience": "confirmed",
                "subject": "Hello",
                "body": "Hello.",
                "subject_fr": "Bonjour",
                "body_fr": "Bonjour.",
            },
            ["preview", "send"],
        ),
    }


def _stored_rows(app) -> dict:
    from webinars.catalogue.models import Topic, Webinar
    from webinars.content.models import ContentItem
    from webinars.extensions import db
    from webinars.newsletter.models import Campaign
    from webinars.outbox.models import OutboxMessage
    from webinars.registrations.models import RegistrationQuestion

    with app.app_context():
        counts = {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Webinar, ContentItem, Campaign, RegistrationQuestion, OutboxMessage)
        }
        counts["topic description"] = db.session.get(Topic, 1).description if db.session.get(Topic, 1) else None
        counts["cancelled"] = db.session.scalar(select(func.count()).where(Webinar.status == "cancelled"))
        return counts


def test_every_textarea_refuses_nul_beside_the_field_and_keeps_the_text_on_postgresql(organiser):
    app, client, ids = organiser
    pages = _pages(ids)
    assert {form for form, _name in _textareas(app)} <= pages.keys(), "give this test the page of each form"
    before = _stored_rows(app)
    for form_name, name in sorted(_textareas(app)):
        url, data, actions = pages[form_name]
        for action in actions:
            token = csrf_token(client, url)
            response = client.post(url, data={**data, name: NUL_TEXT, "action": action, "csrf_token": token})
            where = f"{form_name}.{name} ({action})"
            assert response.status_code == 422, f"{where}: {response.status_code}"
            page = response.get_data(as_text=True)
            assert _beside(page, name), f"{where}: no message beside the field"
            assert _kept(page, name), f"{where}: the text was not kept"
    assert _stored_rows(app) == before  # nothing half-stored


def test_every_one_line_field_of_these_forms_refuses_nul_beside_the_field_on_postgresql(organiser):
    """The same pages' one-line fields: a NUL in a new topic's name reached the database (a bare 400)."""
    from wtforms import StringField

    app, client, ids = organiser
    pages = _pages(ids)
    classes = {cls.__name__: cls for cls in _form_classes(app)}
    with app.test_request_context("/"):
        fields = [
            (form_name, field.name)
            for form_name in pages
            for field in classes[form_name](formdata=None, meta={"csrf": False})
            if isinstance(field, StringField) and not isinstance(field, TextAreaField)
        ]
    assert ("WebinarForm", "new_topics") in fields and ("ItemForm", "new_topics") in fields
    before = _stored_rows(app)
    for form_name, name in fields:
        url, data, actions = pages[form_name]
        token = csrf_token(client, url)
        response = client.post(url, data={**data, name: "Nul\x00here", "action": actions[0], "csrf_token": token})
        assert response.status_code == 422, f"{form_name}.{name}: {response.status_code}"
        assert f'id="{name}-error"' in response.get_data(as_text=True), f"{form_name}.{name}: no message beside it"
    assert _stored_rows(app) == before
