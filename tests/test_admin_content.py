"""Organisers write content items, publish and unpublish them, attach them to webinars, edit topic
pages, and look at the next digest; every change is in the audit trail."""

import re
from datetime import date

import pytest
from sqlalchemy import select

from tests._support.forms import post_form
from tests.factories import make_topic, make_webinar
from tests.test_admin import EMAIL, signed_in
from tests.test_admin_webinars import webinar_form
from tests.test_content import make_item
from webinars.admin.models import Organiser
from webinars.audit import AuditEvent
from webinars.catalogue.models import Topic
from webinars.content.models import ContentItem
from webinars.extensions import db


@pytest.fixture
def organiser_client(app, client):
    return signed_in(app, client)


def item_form(**overrides) -> dict:
    data = {
        "type": "interview",
        "label": "Spotlight Interviews with Co-operators",
        "title": "Siôn Whellens: Incubating worker cooperatives in the changing world of work",
        "slug": "",
        "published_on": "2019-05-02",
        "summary": "A conversation about incubation.",
        "body": "**Bold** and <script>alert(1)</script>",
        "external_url": "",
        "image_alt": "",
        "image_url": "",
        "language": "en",
        "new_topics": "Worker cooperatives",
    }
    data.update(overrides)
    return data


def create_item_via_form(client, **overrides) -> int:
    response = post_form(client, "/admin/content/new", item_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def _actions(app, item_id: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(select(AuditEvent.action).where(AuditEvent.item_id == item_id).order_by(AuditEvent.id))
        )


def test_the_form_shows_the_closed_list_of_types(organiser_client):
    page = organiser_client.get("/admin/content/new").get_data(as_text=True)
    assert "The closed list of types: News, Article, Interview, Publication, Presentation, Video." in page
    for value in ("news", "article", "interview", "publication", "presentation", "video"):
        assert f'value="{value}"' in page
    # Alt text first: the description field comes before the image address.
    assert page.index('name="image_alt"') < page.index('name="image_url"')


def test_an_organiser_creates_publishes_edits_and_unpublishes_an_item_with_an_audit_trail(
    app, organiser_client, client
):
    item_id = create_item_via_form(organiser_client)
    with app.app_context():
        item = db.session.get(ContentItem, item_id)
        assert (item.status, item.type, item.label, item.published_on) == (
            "draft",
            "interview",
            "Spotlight Interviews with Co-operators",
            date(2019, 5, 2),
        )
        assert item.slug == "sion-whellens-incubating-worker-cooperatives-in-the-changing-world-of-work"
        assert [t.slug for t in item.topics] == ["worker-cooperatives"]
        slug = item.slug
    assert client.get(f"/content/{slug}").status_code == 404  # a draft is not public

    assert (
        post_form(
            organiser_client, f"/admin/content/{item_id}/publish", form_url=f"/admin/content/{item_id}"
        ).status_code
        == 302
    )
    page = client.get(f"/content/{slug}")
    assert page.status_code == 200 and "<strong>Bold</strong>" in page.get_data(as_text=True)
    assert "<script>alert" not in page.get_data(as_text=True)

    response = post_form(organiser_client, f"/admin/content/{item_id}/edit", item_form(title="A new title", slug="x"))
    assert response.status_code == 302
    with app.app_context():
        item = db.session.get(ContentItem, item_id)
        assert item.title == "A new title" and item.slug == slug  # fixed once published

    assert (
        post_form(
            organiser_client, f"/admin/content/{item_id}/unpublish", form_url=f"/admin/content/{item_id}"
        ).status_code
        == 302
    )
    assert client.get(f"/content/{slug}").status_code == 404
    assert _actions(app, item_id) == ["created", "published", "updated", "unpublished"]
    history = organiser_client.get(f"/admin/content/{item_id}").get_data(as_text=True)
    assert "Title: Siôn Whellens: Incubating worker cooperatives in the changing world of work → A new title" in history
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.item_id == item_id)).all()
        assert {db.session.get(Organiser, event.organiser_id).email for event in events} == {EMAIL}


def test_publishing_twice_says_so_and_changes_nothing(app, organiser_client):
    item_id = create_item_via_form(organiser_client)
    for _ in range(2):
        response = post_form(
            organiser_client, f"/admin/content/{item_id}/publish", form_url=f"/admin/content/{item_id}"
        )
    assert "already published" in organiser_client.get(response.headers["Location"]).get_data(as_text=True)
    assert _actions(app, item_id) == ["created", "published"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type", "podcast", "Not a valid choice"),
        ("title", "", "This field is required."),
        ("image_url", "https://example.org/a.png", "Describe the image first (alt text)"),
        ("external_url", "javascript:alert(1)", "is not a web address starting with http"),
        ("language", "English!", "Use a language code such as en, fr or pt-BR."),
        ("slug", "Not A Slug", "Use lower-case letters, digits and single hyphens only."),
        ("published_on", "27 September 2017", "Not a valid date value."),
    ],
)
def test_bad_item_input_is_refused_beside_the_field_and_kept(app, organiser_client, field, value, message):
    response = post_form(organiser_client, "/admin/content/new", item_form(**{field: value}))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page and f'id="{field}-error"' in page
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ContentItem.id))) == 0


def test_an_image_from_a_plain_http_address_is_refused_beside_the_field(app, organiser_client):
    """The site's CSP (img-src https:) would block it on the public page: say so before saving."""
    data = item_form(image_alt="A co-operative's shop front", image_url="http://example.org/shop.png")
    response = post_form(organiser_client, "/admin/content/new", data)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'id="image_url-error"[^>]*>([^<]*)<', page)
    assert error and "https://" in error.group(1) and "http://example.org/shop.png" in page  # the input kept
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ContentItem.id))) == 0
    data["image_url"] = "https://example.org/shop.png"
    assert post_form(organiser_client, "/admin/content/new", data).status_code == 302


def test_attaching_items_to_a_webinar_keeps_their_order_and_is_audited(app, organiser_client, client):
    with app.app_context():
        first = make_item(slug="first-item", title="First item")
        second = make_item(slug="second-item", title="Second item by title")
        db.session.commit()
        ids = (first.id, second.id)
    data = webinar_form(related_items="second-item\nFirst item | a title works too\n\n")
    response = post_form(organiser_client, "/admin/webinars/new", data)
    assert response.status_code == 302
    webinar_id = int(response.headers["Location"].rsplit("/", 1)[-1])
    edit = organiser_client.get(f"/admin/webinars/{webinar_id}/edit").get_data(as_text=True)
    assert "second-item | Second item by title\nfirst-item | First item" in edit
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.webinar_id == webinar_id)).all()
        assert "Related content: Second item by title · First item" in [e.details for e in events]
        from webinars.catalogue.models import Webinar
        from webinars.content.queries import attached_items

        assert [item.id for item in attached_items(db.session.get(Webinar, webinar_id))] == [ids[1], ids[0]]


def test_an_unknown_item_in_the_related_content_field_is_named_beside_it(app, organiser_client):
    response = post_form(organiser_client, "/admin/webinars/new", webinar_form(related_items="Nothing like this"))
    assert response.status_code == 422
    assert "Line 1: no content item has the slug or title “Nothing like this”." in response.get_data(as_text=True)


def test_an_organiser_edits_a_topic_page(app, organiser_client, client):
    with app.app_context():
        topic_id = make_topic("worker-cooperatives", "Worker cooperatives").id
        db.session.commit()
    response = post_form(
        organiser_client,
        f"/admin/topics/{topic_id}/edit",
        {"name": "Worker cooperatives", "description": "What the page says.", "page_date": "2021-07-02"},
    )
    assert response.status_code == 302
    page = client.get("/topics/worker-cooperatives").get_data(as_text=True)
    assert "What the page says." in page and "2 July 2021" in page
    with app.app_context():
        assert db.session.get(Topic, topic_id).slug == "worker-cooperatives"


def test_the_digest_page_previews_the_next_digest_and_lists_past_ones(app, organiser_client, runner):
    with app.app_context():
        from webinars.newsletter.models import Subscriber

        make_item(title="Emerging cooperative responses to gig economy in Asia", published_on=date(2017, 9, 27))
        db.session.add(Subscriber(email="reader@example.org", status="subscribed"))
        make_webinar(title="Soon")
        db.session.commit()
    page = organiser_client.get("/admin/newsletter/digests").get_data(as_text=True)
    assert "1 new item" in page and "1 subscriber would receive it now" in page
    assert "Emerging cooperative responses to gig economy in Asia" in page
    assert "No digest sent yet." in page
    assert runner.invoke(args=["newsletter", "digest"]).exit_code == 0
    page = organiser_client.get("/admin/newsletter/digests").get_data(as_text=True)
    assert "Nothing new since the last digest" in page
    assert re.search(r'<td class="progress-queued"[^>]*>1</td>', page)


# -- the dates pages carry: from 1900 to 2100 ------------------------------------------------------

OUT_OF_RANGE = ["9999-12-31", "2101-01-01", "1899-12-31", "0001-01-01"]


@pytest.mark.parametrize("day", OUT_OF_RANGE)
def test_an_item_date_outside_1900_to_2100_is_refused_beside_the_field(app, organiser_client, day):
    response = post_form(organiser_client, "/admin/content/new", item_form(published_on=day))
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert re.search(r'id="published_on-error"[^>]*>\s*Choose a date from 1900 to 2100\.', page), page
    assert f'value="{day}"' in page  # the input is kept
    with app.app_context():
        assert db.session.scalar(select(db.func.count(ContentItem.id))) == 0


def test_the_item_and_topic_forms_say_which_dates_they_take(organiser_client, app):
    with app.app_context():
        topic_id = make_topic().id
        db.session.commit()
    for page in (organiser_client.get("/admin/content/new"), organiser_client.get(f"/admin/topics/{topic_id}/edit")):
        assert "from 1900 to 2100" in page.get_data(as_text=True)


@pytest.mark.parametrize("day", ["1900-01-01", "2017-09-27", "2100-12-31"])
def test_item_dates_from_1900_to_2100_are_taken(app, organiser_client, day):
    item_id = create_item_via_form(organiser_client, published_on=day)
    with app.app_context():
        assert db.session.get(ContentItem, item_id).published_on == date.fromisoformat(day)


@pytest.mark.parametrize("day", OUT_OF_RANGE)
def test_a_topic_page_date_outside_1900_to_2100_is_refused_beside_the_field(app, organiser_client, day):
    with app.app_context():
        topic_id = make_topic().id
        db.session.commit()
    url = f"/admin/topics/{topic_id}/edit"
    response = post_form(organiser_client, url, {"name": "Co-operatives", "description": "", "page_date": day})
    assert response.status_code == 422
    assert "Choose a date from 1900 to 2100." in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Topic, topic_id).page_date is None


def test_operations_refuse_an_item_date_outside_the_range(app):
    from webinars.content import operations as content_ops
    from webinars.database import utcnow

    with app.app_context():
        fields = content_ops.ItemFields(type="news", title="Far future", published_on=date(9999, 12, 31))
        with pytest.raises(content_ops.ItemDateError):
            content_ops.create_item(fields, by=None, now=utcnow())
        item = make_item(title="Fine")
        fields.published_on = date(1, 1, 1)
        with pytest.raises(content_ops.ItemDateError):
            content_ops.update_item(item, fields, by=None, now=utcnow())


@pytest.mark.parametrize(
    ("table", "column"), [("content_items", "published_on"), ("topics", "page_date")], ids=["item", "topic"]
)
def test_the_database_refuses_a_date_outside_the_range(app, table, column):
    import sqlalchemy as sa

    with app.app_context():
        item = make_item(title="Dated", published_on=date(2017, 9, 27))
        topic = make_topic()
        db.session.commit()
        row = item.id if table == "content_items" else topic.id
        statement = sa.text(f"UPDATE {table} SET {column} = :day WHERE id = :id")
        for day in (date(9999, 12, 31), date(1, 1, 1), date(1899, 12, 31)):
            with pytest.raises(sa.exc.IntegrityError):
                db.session.execute(statement, {"day": day, "id": row})
            db.session.rollback()
        for day in (date(1900, 1, 1), date(2100, 12, 31), None):
            db.session.execute(statement, {"day": day, "id": row})
        db.session.commit()
