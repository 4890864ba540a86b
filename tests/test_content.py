"""Content items: the model, the seed items in the demo data, topic pages, the listing, item pages,
Atom feeds, related content on webinar pages, and the migration from related documents."""

from __future__ import annotations

import html
import re
from datetime import date, timedelta

import feedparser
import pytest
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from tests.factories import make_topic, make_webinar
from webinars.content.models import ContentItem, webinar_items
from webinars.database import utcnow
from webinars.extensions import db

_n = iter(range(1, 10**9))


def make_item(*, topics=(), status="published", published_on=None, item_type="news", **fields) -> ContentItem:
    n = next(_n)
    now = utcnow()
    item = ContentItem(
        slug=fields.pop("slug", f"item-{n}"),
        type=item_type,
        title=fields.pop("title", f"Item {n}"),
        published_on=published_on,
        status=status,
        published_at=fields.pop("published_at", now if status == "published" else None),
        created_at=now,
        updated_at=now,
        topics=list(topics),
        **fields,
    )
    db.session.add(item)
    db.session.flush()
    return item


def text_of(response) -> str:
    """The page's visible text, tags removed and whitespace collapsed."""
    body = response.get_data(as_text=True)
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))).strip()


# -- the model ---------------------------------------------------------------------------------------


def test_the_database_refuses_a_type_outside_the_closed_list(app):
    with app.app_context():
        make_item(item_type="video")
        db.session.commit()
        with pytest.raises(IntegrityError):
            make_item(item_type="podcast")
        db.session.rollback()


def test_the_database_refuses_an_image_without_its_description(app):
    with app.app_context():
        make_item(image_url="https://example.org/a.png", image_alt="Two co-operators at a market stall")
        db.session.commit()
        with pytest.raises(IntegrityError):
            make_item(image_url="https://example.org/b.png", image_alt="")
        db.session.rollback()


# -- the seed items ----------------------------------------------------------------------------------


@pytest.fixture
def demo(app):
    from webinars.catalogue.demo import load_demo_data
    from webinars.content.demo import load_demo_content

    with app.app_context():
        load_demo_data(today=date(2030, 1, 7))
        added = load_demo_content()
    return added


def _item(title: str) -> ContentItem:
    return db.session.scalar(select(ContentItem).where(ContentItem.title == title))


def test_demo_data_carries_the_items_of_the_seed_pages_verbatim(app, demo):
    from webinars.content.demo import SEED_002_RELATED, SEED_003_ASIA_PACIFIC, SEED_004_NEWS

    # 27 entries on the thematic page, two of which are also in the listings; 10 + 10 in the listings;
    # the thematic page itself and the OECD publication attached to the seed webinars.
    assert demo == 27 - 2 + 10 + 10 + 2
    with app.app_context():
        gig = _item("Emerging cooperative responses to gig economy in Asia")
        assert (gig.type, gig.label, gig.published_on, gig.summary) == ("news", "", date(2017, 9, 27), "")
        sewa = _item("SEWA Cooperative Federation in India: Towards self-reliance")
        assert (sewa.type, sewa.label, sewa.published_on) == (
            "interview",
            "Spotlight Interviews with Cooperators",
            date(2017, 8, 16),
        )
        assert sewa.summary.startswith('"Spotlight Interviews with Cooperators" is a series of interviews')
        assert sewa.summary.endswith("who has been working at SEWA for 33 years.")
        philippines = _item("Statistics on Cooperatives Country in Focus: The Philippines")
        assert (philippines.type, philippines.label) == (
            "publication",
            "Countries in Focus on Statistics of Cooperatives",
        )
        cotton = _item("How decent work can transform cotton production")
        assert (cotton.type, cotton.label, cotton.published_on) == ("article", "Decent work", date(2017, 11, 3))
        pedreno = db.session.scalar(select(ContentItem).where(ContentItem.title.startswith("Juan Antonio Pedreño")))
        assert (pedreno.type, pedreno.label, pedreno.published_on, pedreno.summary) == (
            "interview",
            "Spotlight Interviews with Co-operators",
            None,
            "",
        )
        # Every title of the three seeds is there, exactly as written.
        titles = set(db.session.scalars(select(ContentItem.title)))
        for rows in (SEED_002_RELATED, SEED_003_ASIA_PACIFIC, SEED_004_NEWS):
            assert {row[2] for row in rows} <= titles
        # The thematic page's own text and date belong to its topic.
        topic = make_topic("worker-cooperatives")
        assert topic.name == "Worker cooperatives" and topic.page_date == date(2021, 7, 2)
        assert topic.description.startswith("Worker cooperatives are emerging as an organizational model")
        # The seed webinar's related documents are items attached to it.
        attached = db.session.execute(
            select(ContentItem.title)
            .join(webinar_items, webinar_items.c.item_id == ContentItem.id)
            .where(webinar_items.c.webinar_id == 1)
            .order_by(webinar_items.c.position)
        ).scalars()
        assert list(attached)[0] == "SSE: Worker cooperatives"
        assert all(item.status == "published" and item.topics for item in db.session.scalars(select(ContentItem)))


def test_loading_the_demo_content_twice_adds_nothing(app, demo):
    from webinars.content.demo import load_demo_content

    with app.app_context():
        assert load_demo_content() == 0
        assert db.session.scalar(select(sa.func.count(ContentItem.id))) == demo


def test_the_listing_reads_like_the_seed_with_type_and_date(app, demo, client):
    page = text_of(client.get("/content/?type=news&topic=cooperatives"))
    assert "News · 27 September 2017 Emerging cooperative responses to gig economy in Asia" in page
    # Newest first, and same-day items in the seed's order.
    assert page.index("Improving livelihoods through cooperatives") < page.index("Emerging cooperative responses")
    assert page.index("ILO participation in the ICA Global Conference") < page.index("Improving livelihoods")


def test_the_thematic_page_lists_its_related_content(app, demo, client):
    response = client.get("/topics/worker-cooperatives")
    assert response.status_code == 200
    page = text_of(response)
    assert "Worker cooperatives 2 July 2021 Worker cooperatives are emerging as an organizational model" in page
    assert "Interview · Spotlight Interviews with Co-operators Antony McMullen, Cooperative Development Expert" in page


# -- topic pages ---------------------------------------------------------------------------------------


@pytest.fixture
def topic_site(app):
    """A topic with an upcoming webinar, two past ones (one recorded), items of several types and dates."""
    with app.app_context():
        topic = make_topic("worker-cooperatives", "Worker cooperatives")
        topic.description = "Worker cooperatives are emerging as an organizational model."
        topic.page_date = date(2021, 7, 2)
        other = make_topic("tourism", "Tourism")
        now = utcnow()
        make_webinar(
            starts_at=now + timedelta(days=10), timezone="Europe/Paris", title="Co-op succession", topics=[topic]
        )
        make_webinar(starts_at=now + timedelta(days=11), title="Tourism only", topics=[other])
        make_webinar(
            starts_at=now - timedelta(days=30),
            title="Recorded talk",
            topics=[topic],
            recording_url="https://video.example.org/1",
        )
        make_webinar(starts_at=now - timedelta(days=40), title="Unrecorded talk", topics=[topic])
        make_item(title="Oldest news", published_on=date(2017, 7, 1), topics=[topic])
        make_item(title="Newest interview", item_type="interview", published_on=date(2017, 11, 28), topics=[topic])
        make_item(title="Undated publication", item_type="publication", topics=[topic])
        make_item(title="A draft", published_on=date(2018, 1, 1), topics=[topic], status="draft")
        make_item(title="Elsewhere", published_on=date(2018, 1, 1), topics=[other])
        db.session.commit()
    return app


def test_topic_page_shows_the_topic_its_webinars_and_its_content_newest_first(topic_site, client):
    response = client.get("/topics/worker-cooperatives?tz=Asia/Tokyo")
    assert response.status_code == 200
    page = text_of(response)
    assert "Worker cooperatives are emerging as an organizational model." in page and "2 July 2021" in page
    assert "Co-op succession" in page and "Tourism only" not in page
    assert "Your time: " in page and "Tokyo time" in page  # the visitor's zone on each card, as on the catalogue
    assert "Asia/Tokyo" not in page
    assert "Recorded talk" in page and "Unrecorded talk" not in page
    assert "A draft" not in page and "Elsewhere" not in page
    assert page.index("Newest interview") < page.index("Oldest news") < page.index("Undated publication")
    html = response.get_data(as_text=True)
    assert 'href="/newsletter?topic=worker-cooperatives"' in html
    assert "webcal://webinars.test/calendar.ics?topic=worker-cooperatives" in html
    assert '<link rel="alternate" type="application/atom+xml"' in html
    assert 'href="/topics/worker-cooperatives/feed.atom"' in html
    assert response.headers.get("Set-Cookie", "").startswith("tz=Asia/Tokyo")


def test_topic_page_filters_by_type_and_paginates(topic_site, client):
    with topic_site.app_context():
        topic = make_topic("worker-cooperatives")
        for n in range(25):
            make_item(title=f"Bulk news {n:02d}", published_on=date(2016, 1, 1) + timedelta(days=n), topics=[topic])
        db.session.commit()
    only = text_of(client.get("/topics/worker-cooperatives?type=interview"))
    assert "Newest interview" in only and "Oldest news" not in only and "Bulk news" not in only
    first = client.get("/topics/worker-cooperatives").get_data(as_text=True)
    assert '<ol class="items" start="1">' in first and 'rel="next" href="/topics/worker-cooperatives?page=2' in first
    second = client.get("/topics/worker-cooperatives?page=2")
    assert second.status_code == 200
    html = second.get_data(as_text=True)
    assert '<ol class="items" start="21">' in html and "Undated publication" in html  # last of 28
    assert client.get("/topics/worker-cooperatives?page=3").status_code == 404


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/topics/worker-cooperatives?page=abc", 200, "“abc” is not a page number"),
        ("/topics/worker-cooperatives?page=-1", 200, "“-1” is not a page number"),
        ("/topics/worker-cooperatives?page=99999999999999999999", 200, "is not a page number"),
        ("/topics/worker-cooperatives?page=٣", 200, "is not a page number"),
        ("/topics/worker-cooperatives?type=podcast", 200, "We have no type “podcast”"),
        ("/topics/worker-cooperatives?type=%3Cscript%3E", 200, "We have no type “<script>”"),
        ("/topics/no-such-topic", 404, "Page not found"),
        ("/topics/" + "x" * 500, 404, "Page not found"),
        ("/content/?topic=no-such-topic", 200, "We have no topic “no-such-topic”"),
        ("/content/?type=unknown&page=x", 200, "We have no type “unknown”"),
        ("/content/?page=50", 404, "There is nothing on this page."),
        ("/content/no-such-item", 404, "Page not found"),
        ("/topics/no-such-topic/feed.atom", 404, "Page not found"),
    ],
)
def test_bad_query_values_get_a_clear_answer_never_a_5xx(topic_site, client, url, status, says):
    response = client.get(url)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert says in text_of(response)
    assert "<script>" not in body.split("<main", 1)[1]  # echoed values are escaped


def test_topic_index_lists_every_topic(topic_site, client):
    page = client.get("/topics/").get_data(as_text=True)
    assert 'href="/topics/worker-cooperatives"' in page and 'href="/topics/tourism"' in page


# -- the listing and item pages ---------------------------------------------------------------------------


def test_the_listing_is_linked_from_the_header_and_filters_by_type_and_topic(topic_site, client):
    home = client.get("/").get_data(as_text=True)
    assert 'href="/content/"' in home and 'href="/topics/"' in home
    page = text_of(client.get("/content/"))
    assert "Newest interview" in page and "Elsewhere" in page and "A draft" not in page
    assert page.index("Elsewhere") < page.index("Newest interview")  # 2018 before 2017
    by_topic = text_of(client.get("/content/?topic=tourism"))
    assert "Elsewhere" in by_topic and "Newest interview" not in by_topic
    by_type = text_of(client.get("/content/?type=publication"))
    assert "Undated publication" in by_type and "Oldest news" not in by_type


def test_an_item_with_a_body_has_its_own_page_with_sanitised_markdown(app, client):
    with app.app_context():
        topic = make_topic("cooperatives")
        make_item(
            slug="with-body",
            title="A story",
            published_on=date(2017, 11, 1),
            body="**Bold** words and [a link](https://example.org).\n\n<script>alert(1)</script>",
            image_url="https://example.org/boat.jpg",
            image_alt="Fishing boats in a harbour",
            topics=[topic],
        )
        make_item(slug="no-body", title="Only a title", external_url="https://example.org/x")
        make_item(slug="draft-body", title="Draft", body="Text", status="draft")
        db.session.commit()
    response = client.get("/content/with-body")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "<strong>Bold</strong>" in html and "<script>alert(1)</script>" not in html
    assert '<img src="https://example.org/boat.jpg" alt="Fishing boats in a harbour">' in html
    assert "1 November 2017" in text_of(response)
    assert client.get("/content/no-body").status_code == 404  # no body: its title links out instead
    assert client.get("/content/draft-body").status_code == 404
    listing = client.get("/content/").get_data(as_text=True)
    assert '<a href="/content/with-body">A story</a>' in listing
    assert '<a href="https://example.org/x" rel="noopener">Only a title</a>' in listing


# -- Atom feeds ------------------------------------------------------------------------------------------------


def test_atom_feeds_site_wide_and_per_topic_parse_and_revalidate(topic_site, client):
    response = client.get("/content/feed.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.bozo_exception
    assert feed.version == "atom10"
    titles = [entry.title for entry in feed.entries]
    assert titles[:2] == ["Elsewhere", "Newest interview"] and "A draft" not in titles
    newest = feed.entries[1]
    assert newest.published.startswith("2017-11-28") and newest.tags[0].term == "interview"
    assert newest.id.startswith("tag:webinars.test,2026:content-item:")

    topic_feed = feedparser.parse(client.get("/topics/worker-cooperatives/feed.atom").data)
    assert not topic_feed.bozo
    assert "Elsewhere" not in [entry.title for entry in topic_feed.entries]
    assert topic_feed.feed.link == "http://webinars.test/topics/worker-cooperatives"

    again = client.get("/content/feed.atom", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""
    with topic_site.app_context():
        make_item(title="Brand new", published_on=date(2019, 1, 1))
        db.session.commit()
    changed = client.get("/content/feed.atom", headers={"If-None-Match": response.headers["ETag"]})
    assert changed.status_code == 200 and b"Brand new" in changed.data


# -- related content on webinar pages ---------------------------------------------------------------------------


def test_a_webinar_page_shows_attached_items_first_then_the_newest_sharing_a_topic(app, client):
    with app.app_context():
        topic = make_topic("cooperatives")
        webinar = make_webinar(slug="with-related", topics=[topic])
        old = make_item(title="Attached and old", published_on=date(2001, 1, 1))
        draft = make_item(title="Attached draft", status="draft")
        for n in range(8):
            make_item(title=f"Shared topic {n}", published_on=date(2017, 1, 1 + n), topics=[topic])
        make_item(title="Unrelated", published_on=date(2020, 1, 1))
        db.session.execute(
            webinar_items.insert(),
            [
                {"webinar_id": webinar.id, "item_id": draft.id, "position": 0},
                {"webinar_id": webinar.id, "item_id": old.id, "position": 1},
            ],
        )
        db.session.commit()
    page = text_of(client.get("/webinars/with-related"))
    section = page[page.index("Related content") :]
    assert "Attached draft" not in section and "Unrelated" not in section
    shown = re.findall(r"(Attached and old|Shared topic \d)", section)
    # A few at most: six.
    assert shown == ["Attached and old", *(f"Shared topic {n}" for n in (7, 6, 5, 4, 3))]


def test_the_newsletter_link_of_a_topic_page_pre_ticks_that_topic(topic_site, client):
    html = client.get("/newsletter?topic=worker-cooperatives").get_data(as_text=True)
    assert re.search(r'<input checked id="topics-\d" name="topics" type="checkbox" value="worker-cooperatives">', html)
    plain = client.get("/newsletter?topic=not-a-topic").get_data(as_text=True)
    assert "checked" not in plain


# -- the migration -----------------------------------------------------------------------------------------------


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    from flask_migrate import downgrade, upgrade

    from tests.conftest import MIGRATIONS, _base_config, _dispose, _logging_kept
    from webinars import create_app

    app = create_app(_base_config(url, 9))
    try:
        with app.app_context(), _logging_kept():
            (downgrade if down else upgrade)(directory=str(MIGRATIONS), revision=revision)
    finally:
        _dispose(app)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    cluster = request.getfixturevalue("postgres_cluster")
    name = f"old_{next(_n)}_{id(request)}"
    url = cluster.create_database(name)
    request.addfinalizer(lambda: cluster.drop_database(name))
    return url


def test_the_migration_turns_related_documents_into_attached_items_and_back(empty_database):
    url = empty_database
    _migrate(url, "0003_safe_public_internet")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO topics (slug, name) VALUES ('coop', 'Co-ops')"))
            for n, status in ((1, "published"), (2, "draft")):
                conn.execute(
                    sa.text(
                        "INSERT INTO webinars (slug, ical_uid, title, summary, description, starts_at, timezone,"
                        " ends_at, display_zones, location, status, join_url, recording_url, sequence, created_at,"
                        " updated_at)"
                        " VALUES (:slug, :uid, 'W', '', '', '2030-01-01 09:00', 'Europe/Paris', '2030-01-01 10:00', '',"
                        " 'Online', :status, '', '', 0, '2026-01-01 00:00', '2026-01-01 00:00')"
                    ),
                    {"slug": f"w{n}", "uid": f"u{n}", "status": status},
                )
            conn.execute(sa.text("INSERT INTO webinar_topics (webinar_id, topic_id) VALUES (1, 1)"))
            conn.execute(
                sa.text(
                    "INSERT INTO related_documents (webinar_id, position, title, url, kind) VALUES"
                    " (1, 0, 'Report', 'https://r.example/report.pdf', 'report'),"
                    " (1, 1, 'Slides', '', 'slides'),"
                    " (2, 0, 'Report', 'https://r.example/report.pdf', 'report'),"
                    " (2, 1, 'Draft notes', '', 'publication')"
                )
            )
        _migrate(url, "0006_content_items")
        with engine.connect() as conn:
            items = conn.execute(
                sa.text("SELECT id, title, type, label, external_url, status FROM content_items ORDER BY id")
            ).all()
            assert [tuple(row[1:]) for row in items] == [
                ("Report", "publication", "report", "https://r.example/report.pdf", "published"),
                ("Slides", "presentation", "slides", "", "published"),
                ("Draft notes", "publication", "", "", "draft"),  # only on a draft webinar
            ]
            attached = conn.execute(
                sa.text("SELECT webinar_id, item_id, position FROM webinar_items ORDER BY webinar_id, position")
            ).all()
            assert [tuple(row) for row in attached] == [(1, 1, 0), (1, 2, 1), (2, 1, 0), (2, 3, 1)]
            tagged = conn.execute(sa.text("SELECT item_id, topic_id FROM content_item_topics ORDER BY item_id")).all()
            assert [tuple(row) for row in tagged] == [(1, 1), (2, 1)]
            assert sa.inspect(conn).has_table("related_documents") is False
        _migrate(url, "0003_safe_public_internet", down=True)
        with engine.connect() as conn:
            documents = conn.execute(
                sa.text("SELECT webinar_id, position, title, url, kind FROM related_documents ORDER BY id")
            ).all()
            assert [tuple(row) for row in documents] == [
                (1, 0, "Report", "https://r.example/report.pdf", "report"),
                (1, 1, "Slides", "", "slides"),
                (2, 0, "Report", "https://r.example/report.pdf", "report"),
                (2, 1, "Draft notes", "", "publication"),
            ]
            # Nothing else went with them (a copied and dropped table would have cascaded).
            assert conn.execute(sa.text("SELECT count(*) FROM webinar_topics")).scalar_one() == 1
    finally:
        engine.dispose()


@pytest.mark.app_config(CATALOGUE_VERSION_SECONDS=0)
def test_a_topic_pages_cached_webinars_follow_changes_to_the_catalogue(topic_site, client):
    assert "Brand new webinar" not in text_of(client.get("/topics/worker-cooperatives"))
    assert "Brand new webinar" not in text_of(client.get("/topics/worker-cooperatives?page=2"))
    with topic_site.app_context():
        make_webinar(
            starts_at=utcnow() + timedelta(days=2),
            title="Brand new webinar",
            topics=[make_topic("worker-cooperatives")],
        )
        db.session.commit()
    assert "Brand new webinar" in text_of(client.get("/topics/worker-cooperatives"))
    assert "Brand new webinar" in text_of(client.get("/topics/worker-cooperatives?type=news"))


def test_a_topics_listing_follows_each_change_of_an_items_status_type_date_and_topics(app, client):
    from webinars.content import operations

    with app.app_context():
        coop = make_topic("cooperatives")
        make_topic("tourism", "Tourism")
        item = make_item(title="Moving item", published_on=date(2017, 1, 1), topics=[coop])
        make_item(title="Later item", published_on=date(2018, 1, 1), topics=[coop])
        db.session.commit()
        item_id = item.id

    def listed(url: str) -> list[str]:
        return re.findall(r"(Moving item|Later item)", text_of(client.get(url)))

    assert listed("/topics/cooperatives") == ["Later item", "Moving item"]
    with app.app_context():
        item = db.session.get(ContentItem, item_id)
        operations.unpublish_item(item, by=None, now=utcnow())
        db.session.commit()
    assert listed("/topics/cooperatives") == ["Later item"]
    with app.app_context():
        item = db.session.get(ContentItem, item_id)
        operations.publish_item(item, by=None, now=utcnow())
        fields = operations.ItemFields(
            type="video", title=item.title, published_on=date(2019, 1, 1), topics=[make_topic("tourism")]
        )
        operations.update_item(item, fields, by=None, now=utcnow())
        db.session.commit()
    assert listed("/topics/cooperatives") == ["Later item"]
    assert listed("/topics/tourism?type=video") == ["Moving item"]
    assert listed("/topics/tourism?type=news") == []
    assert listed("/content/?topic=tourism") == ["Moving item"]
