"""A webinar's own registration questions: asked on the public form like the built-in fields, answered
and stored per registration, managed by organisers without corrupting answers, exported in the CSV
and the personal data export, erased with the person, and copied when the webinar is duplicated."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import datetime

import pytest
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_webinar
from tests.test_admin import signed_in
from webinars.extensions import db
from webinars.registrations.models import Registration, RegistrationAnswer, RegistrationQuestion

SLUG = "forum"
PERSON = {"name": "Ana Lima", "email": "ana@example.org", "organisation": "Coop", "timezone": "Europe/Lisbon"}


def _webinar_with_questions(app, **fields) -> int:
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), slug=SLUG, title="Forum", **fields)
        questions = [
            RegistrationQuestion(
                kind="single_choice", label="Which session?", required=True, options_text="Morning\nEvening"
            ),
            RegistrationQuestion(
                kind="checkbox", label="I agree to be recorded", required=True, help_text="We publish the recording."
            ),
            RegistrationQuestion(
                kind="multiple_choice", label="Topics you follow", options_text="Housing\nEnergy\nFood"
            ),
            RegistrationQuestion(kind="short_text", label="Your role", required=False),
            RegistrationQuestion(kind="long_text", label="A question for the panel"),
        ]
        for position, question in enumerate(questions):
            question.webinar_id, question.position = webinar.id, position
            db.session.add(question)
        db.session.commit()
        return webinar.id


def _ids(app) -> dict[str, int]:
    with app.app_context():
        return {q.label: q.id for q in db.session.scalars(select(RegistrationQuestion))}


def _register(client, data: dict):
    return post_form(client, f"/webinars/{SLUG}/register", data, form_url=f"/webinars/{SLUG}")


def _answers(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.execute(
            select(Registration.email, RegistrationAnswer.asked_as, RegistrationAnswer.value)
            .join(Registration, Registration.id == RegistrationAnswer.registration_id)
            .order_by(RegistrationAnswer.id)
        )
        return [tuple(row) for row in rows]


def test_the_form_asks_each_question_with_the_accessibility_of_the_built_in_fields(app, client):
    _webinar_with_questions(app)
    ids = _ids(app)
    page = client.get(f"/webinars/{SLUG}").get_data(as_text=True)
    session = ids["Which session?"]
    # A choice is a fieldset whose legend is the question; each option has its own label.
    legend = r'<legend>Which session\? <span class="small">\(required\)</span></legend>'
    assert re.search(rf'<fieldset id="question_{session}"[^>]*>\s*{legend}', page)
    assert re.search(rf'<input[^>]*id="question_{session}-0"[^>]*value="Morning"', page)
    assert f'<label for="question_{session}-0">Morning</label>' in page
    topics = ids["Topics you follow"]
    assert re.search(rf'<fieldset id="question_{topics}"[^>]*>\s*<legend>Topics you follow</legend>', page)
    assert re.search(rf'<input[^>]*name="question_{topics}"[^>]*type="checkbox"[^>]*value="Energy"', page)
    agree = ids["I agree to be recorded"]
    assert re.search(rf'<input aria-describedby="question_{agree}-help"[^>]*id="question_{agree}"[^>]*required', page)
    assert f'<p class="small help" id="question_{agree}-help">We publish the recording.</p>' in page
    assert f'<label for="question_{ids["Your role"]}">Your role</label>' in page
    assert f'<textarea id="question_{ids["A question for the panel"]}"' in page
    # After the built-in fields, before the newsletter box, in the organisers' order.
    order = [
        page.index(text)
        for text in (
            'name="timezone"',
            "Which session?",
            "I agree to be",
            "Topics you follow",
            "Your role",
            "A question for the panel",
            'name="newsletter"',
        )
    ]
    assert order == sorted(order)


def test_a_missing_required_answer_is_said_beside_its_field_and_the_input_is_kept(app, client, smtp_server):
    _webinar_with_questions(app)
    ids = _ids(app)
    data = {**PERSON, f"question_{ids['Your role']}": "Treasurer", f"question_{ids['Topics you follow']}": ["Food"]}
    response = _register(client, data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    session, agree = ids["Which session?"], ids["I agree to be recorded"]
    assert f'<p class="error" id="question_{session}-error" role="alert">Please choose an answer.</p>' in page
    assert f'<p class="error" id="question_{agree}-error" role="alert">Please tick this box to register.</p>' in page
    assert re.search(rf'<fieldset id="question_{session}" aria-describedby="question_{session}-error">', page)
    assert 'value="Treasurer"' in page and 'value="Ana Lima"' in page
    assert re.search(r'<input checked[^>]*value="Food"', page)
    with app.app_context():
        assert db.session.scalar(select(Registration.id)) is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Which session?", "Midnight", "Not a valid choice"),
        ("Your role", "two\nlines", "no line breaks"),
        ("Your role", "x" * 301, "at most 300"),
        ("A question for the panel", "y" * 5001, "at most 5000"),
    ],
)
def test_an_answer_outside_the_question_is_refused_beside_it(app, client, field, value, message):
    _webinar_with_questions(app)
    ids = _ids(app)
    data = {**PERSON, f"question_{ids['Which session?']}": "Morning", f"question_{ids['I agree to be recorded']}": "y"}
    data[f"question_{ids[field]}"] = value
    response = _register(client, data)
    assert response.status_code == 422
    error = re.search(
        rf'<p class="error" id="question_{ids[field]}-error" role="alert">([^<]*)</p>', response.get_data(as_text=True)
    )
    assert error and message in error.group(1)


def test_answers_are_stored_with_the_question_as_it_was_asked_and_shown_to_organisers(app, client, smtp_server):
    _webinar_with_questions(app)
    ids = _ids(app)
    data = {
        **PERSON,
        f"question_{ids['Which session?']}": "Evening",
        f"question_{ids['I agree to be recorded']}": "y",
        f"question_{ids['Topics you follow']}": ["Food", "Housing"],
        f"question_{ids['A question for the panel']}": "  How do co-ops\nraise capital?  ",
    }
    assert _register(client, data).status_code == 303
    assert _answers(app) == [
        ("ana@example.org", "Which session?", "Evening"),
        ("ana@example.org", "I agree to be recorded", "yes"),
        ("ana@example.org", "Topics you follow", "Housing\nFood"),  # in the question's order
        ("ana@example.org", "A question for the panel", "How do co-ops\nraise capital?"),
    ]
    # Registering the same address again changes nothing (and says nothing different).
    again = {**data, f"question_{ids['Which session?']}": "Morning"}
    assert _register(app.test_client(), again).status_code == 303
    assert len(_answers(app)) == 4

    organiser = signed_in(app, app.test_client())
    with app.app_context():
        webinar_id = db.session.scalar(select(Registration.webinar_id))
    page = organiser.get(f"/admin/webinars/{webinar_id}/registrations").get_data(as_text=True)
    assert "<dt>Which session?</dt><dd>Evening</dd>" in page
    assert "<dt>Topics you follow</dt><dd>Housing; Food</dd>" in page


def test_a_webinar_with_two_custom_questions_exports_their_answers_in_the_csv(app, client, smtp_server):
    with app.app_context():
        webinar = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), slug=SLUG)
        db.session.add_all(
            [
                RegistrationQuestion(webinar_id=webinar.id, position=0, kind="short_text", label="Your role"),
                RegistrationQuestion(
                    webinar_id=webinar.id, position=1, kind="multiple_choice", label="Sessions", options_text="A\nB"
                ),
            ]
        )
        db.session.commit()
        webinar_id = webinar.id
    ids = _ids(app)
    _register(
        client, {**PERSON, f"question_{ids['Your role']}": '=HYPERLINK("x")', f"question_{ids['Sessions']}": ["A", "B"]}
    )
    _register(app.test_client(), {**PERSON, "email": "bo@example.org", "name": "Bo"})
    organiser = signed_in(app, app.test_client())
    response = organiser.get(f"/admin/webinars/{webinar_id}/registrations.csv")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    header = rows[0]
    assert header[-2:] == ["Your role", "Sessions"]
    by_email = {row[2]: row for row in rows[1:]}
    assert by_email["ana@example.org"][-2:] == ['\'=HYPERLINK("x")', "A; B"]  # a formula is defused
    assert by_email["bo@example.org"][-2:] == ["", ""]


def test_personal_data_export_has_the_answers_and_erasure_removes_them(app, client, runner, smtp_server):
    _webinar_with_questions(app)
    ids = _ids(app)
    data = {**PERSON, f"question_{ids['Which session?']}": "Morning", f"question_{ids['I agree to be recorded']}": "y"}
    data[f"question_{ids['Your role']}"] = "Mayor of Lisbon"
    _register(client, data)
    exported = json.loads(runner.invoke(args=["privacy", "export", "ana@example.org"]).output)
    [registration] = exported["registrations"]
    assert {"question": "Your role", "answer": ["Mayor of Lisbon"]} in registration["answers"]
    assert runner.invoke(args=["privacy", "erase", "ana@example.org", "--yes"]).exit_code == 0
    assert _answers(app) == []
    with app.app_context():
        # The webinar has not started: the erased person's seat is given up for the waiting list.
        assert db.session.scalar(select(Registration.status)) == "cancelled"


# -- organisers manage the questions -----------------------------------------------------------------


def _question_form(client, webinar_id: int, **fields):
    data = {"kind": "short_text", "label": "", "help_text": "", "options": "", **fields}
    return post_form(client, f"/admin/webinars/{webinar_id}/questions", data)


def test_organisers_add_order_and_edit_questions_of_every_kind(app, client):
    organiser = signed_in(app, client)
    with app.app_context():
        webinar_id = make_webinar(local_start=datetime(2030, 6, 4, 10, 0), slug=SLUG).id
        db.session.commit()
    kinds = [
        ("short_text", "Your role", ""),
        ("long_text", "A question for the panel", ""),
        ("single_choice", "Which session?", "Morning\nEvening"),
        ("multiple_choice", "Topics", "Housing\nEnergy"),
        ("checkbox", "I agree to be recorded", ""),
    ]
    for kind, label, options in kinds:
        response = _question_form(organiser, webinar_id, kind=kind, label=label, options=options, required="y")
        assert response.status_code == 303, response.get_data(as_text=True)
    ids = _ids(app)
    one_choice = _question_form(organiser, webinar_id, kind="single_choice", label="Only one", options="Yes")
    assert one_choice.status_code == 422 and "at least two choices" in one_choice.get_data(as_text=True)

    post_form(
        organiser,
        f"/admin/questions/{ids['Topics']}/move",
        {"direction": "up"},
        form_url=f"/admin/webinars/{webinar_id}/questions",
    )
    page = client.get(f"/webinars/{SLUG}").get_data(as_text=True)
    assert page.index("Topics") < page.index("Which session?") < page.index("I agree to be recorded")

    edit = post_form(
        organiser,
        f"/admin/questions/{ids['Which session?']}/edit",
        {
            "kind": "single_choice",
            "label": "Which session will you join?",
            "options": "Morning\nEvening\nBoth",
            "help_text": "",
        },
    )
    assert edit.status_code == 303
    assert "Both" in client.get(f"/webinars/{SLUG}").get_data(as_text=True)
    with app.app_context():
        question = db.session.get(RegistrationQuestion, ids["Which session?"])
        assert (question.label, question.options, question.required) == (
            "Which session will you join?",
            ["Morning", "Evening", "Both"],
            False,
        )


def test_a_question_change_after_people_answered_keeps_their_answers(app, client, smtp_server):
    webinar_id = _webinar_with_questions(app)
    ids = _ids(app)
    session = ids["Which session?"]
    data = {**PERSON, f"question_{session}": "Evening", f"question_{ids['I agree to be recorded']}": "y"}
    assert _register(client, data).status_code == 303
    organiser = signed_in(app, app.test_client())

    # The wording and the choices may change: the answer keeps what was chosen, and how it was asked.
    edit = post_form(
        organiser,
        f"/admin/questions/{session}/edit",
        {
            "kind": "single_choice",
            "label": "Which session suits you?",
            "options": "Morning\nAfternoon",
            "required": "y",
        },
    )
    assert edit.status_code == 303
    assert _answers(app)[0] == ("ana@example.org", "Which session?", "Evening")
    # Its kind may not: a chosen option is not a text.
    kind = post_form(
        organiser, f"/admin/questions/{session}/edit", {"kind": "short_text", "label": "Which session suits you?"}
    )
    assert kind.status_code == 422 and "its kind cannot change" in kind.get_data(as_text=True)

    # Removed, it leaves the form but its answers stay (admin, CSV); an unanswered one is deleted.
    confirm = organiser.get(f"/admin/questions/{session}/remove").get_data(as_text=True)
    assert "1 person answered it" in confirm
    post_form(organiser, f"/admin/questions/{session}/remove", {})
    post_form(organiser, f"/admin/questions/{ids['Your role']}/remove", {})
    assert "Which session suits you?" not in client.get(f"/webinars/{SLUG}").get_data(as_text=True)
    with app.app_context():
        retired = db.session.get(RegistrationQuestion, session)
        assert retired is not None and retired.retired_at is not None
        assert db.session.get(RegistrationQuestion, ids["Your role"]) is None
    csv_text = organiser.get(f"/admin/webinars/{webinar_id}/registrations.csv").get_data(as_text=True)
    header, row = list(csv.reader(io.StringIO(csv_text.lstrip("\ufeff"))))[:2]
    assert row[header.index("Which session suits you?")] == "Evening"
    questions_page = organiser.get(f"/admin/webinars/{webinar_id}/questions").get_data(as_text=True)
    assert "(off the form; answers kept)" in questions_page
    assert organiser.get(f"/admin/questions/{session}/edit").status_code == 404
