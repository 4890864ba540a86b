"""Pages that cost what they must: what is cached is keyed by what really varies, each visitor still gets
their own CSRF token, a change shows at once, a 304 builds nothing, and the feed rebuilds only the
event that changed. (How fast is `make bench`'s business; these tests check what the speed rests on.)"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from sqlalchemy import select

from tests._support.forms import csrf_token_from_html
from tests.factories import make_topic, make_webinar
from tests.test_registrations import form
from webinars import ical
from webinars.catalogue.models import Topic, Webinar
from webinars.database import utcnow
from webinars.extensions import db
from webinars.registrations.models import Registration


def _upcoming(app, **fields) -> str:
    with app.app_context():
        webinar = make_webinar(starts_at=(utcnow() + timedelta(days=5)).replace(microsecond=0), **fields)
        db.session.commit()
        return webinar.slug


def test_a_cached_webinar_page_carries_each_visitors_own_csrf_token(app):
    slug = _upcoming(app, capacity=50)
    first, second = app.test_client(), app.test_client()
    tokens = []
    for client in (first, second, first):
        page = client.get(f"/webinars/{slug}").get_data(as_text=True)
        tokens.append(csrf_token_from_html(page))
    assert tokens[0] != tokens[1] and all(tokens)
    # Each visitor's token works for them, and not for the other visitor.
    stolen = second.post(f"/webinars/{slug}/register", data=form(email="b@example.org", csrf_token=tokens[0]))
    assert stolen.status_code == 400
    for client, token, email in ((first, tokens[2], "a@example.org"), (second, tokens[1], "b@example.org")):
        response = client.post(f"/webinars/{slug}/register", data=form(email=email, csrf_token=token))
        assert response.status_code == 303
    with app.app_context():
        assert sorted(db.session.scalars(select(Registration.email))) == ["a@example.org", "b@example.org"]


def test_a_cached_webinar_page_says_full_as_soon_as_the_last_seat_is_taken(app):
    slug = _upcoming(app, capacity=1)
    client = app.test_client()
    page = client.get(f"/webinars/{slug}").get_data(as_text=True)
    assert "Only a few seats are left." in page
    token = csrf_token_from_html(page)
    assert client.post(f"/webinars/{slug}/register", data=form(csrf_token=token)).status_code == 303
    page = app.test_client().get(f"/webinars/{slug}").get_data(as_text=True)
    assert "This webinar is full" in page and "Join the waiting list" in page


def test_a_cached_webinar_page_says_live_once_the_webinar_starts(app, monkeypatch):
    """Registration closed a day before: at the start only "live" changes, and the kept page must not
    be served with the old state."""
    from webinars.catalogue import routes

    now = utcnow().replace(microsecond=0)
    with app.app_context():
        webinar = make_webinar(starts_at=now + timedelta(minutes=10), minutes=60)
        webinar.registration_deadline = now - timedelta(days=1)
        db.session.commit()
        slug = webinar.slug
    client = app.test_client()
    monkeypatch.setattr(routes, "utcnow", lambda: now)
    assert "Live now" not in client.get(f"/webinars/{slug}").get_data(as_text=True)
    monkeypatch.setattr(routes, "utcnow", lambda: now + timedelta(minutes=10, seconds=1))
    assert "Live now" in client.get(f"/webinars/{slug}").get_data(as_text=True)


def test_an_edit_and_a_topic_rename_show_at_once_on_pages_kept_in_the_cache(app):
    from webinars.catalogue.operations import update_topic

    with app.app_context():
        topic = make_topic("co-ops", "Co-operatives")
        topic_id = topic.id
        slug = make_webinar(
            starts_at=(utcnow() + timedelta(days=5)).replace(microsecond=0), title="Before", topics=[topic]
        ).slug
        db.session.commit()
    client = app.test_client()
    for path in (f"/webinars/{slug}", "/"):
        page = client.get(path).get_data(as_text=True)
        assert "Before" in page and "Co-operatives" in page
    with app.app_context():
        webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug))
        webinar.title, webinar.updated_at = "After", utcnow()
        db.session.commit()
    assert "After" in client.get(f"/webinars/{slug}").get_data(as_text=True)
    with app.app_context():
        update_topic(db.session.get(Topic, topic_id), name="Worker co-ops", description="", page_date=None)
        db.session.commit()
    app.config["CATALOGUE_VERSION_SECONDS"] = 0  # the catalogue re-reads its version on every request
    for path in (f"/webinars/{slug}", "/"):
        page = client.get(path).get_data(as_text=True)
        assert "Worker co-ops" in page and "Co-operatives" not in page, path


def _count_renders(monkeypatch) -> list[str]:
    """The names of the templates rendered from now on (each kept page is rendered once)."""
    from flask import templating

    rendered: list[str] = []
    render = templating._render

    def counting(app, template, context):
        rendered.append(template.name)
        return render(app, template, context)

    monkeypatch.setattr(templating, "_render", counting)
    return rendered


_YOUR_TIME = re.compile(r'<p class="your-time">.*?</p>', re.S)


def test_one_kept_catalogue_page_gives_each_visitor_their_own_zone_and_address(app, monkeypatch):
    """The catalogue is rendered once for every zone and address: each visitor's "your time" lines,
    chosen zone and language-switch links are filled in from their own request, never another's."""
    _upcoming(app, title="Zone-aware")
    rendered = _count_renders(monkeypatch)
    tokyo_client, lima_client, no_zone_client = app.test_client(), app.test_client(), app.test_client()
    tokyo = tokyo_client.get("/?tz=Asia/Tokyo").get_data(as_text=True)
    lima = lima_client.get("/?tz=America/Lima&page=1").get_data(as_text=True)
    no_zone = no_zone_client.get("/").get_data(as_text=True)
    assert rendered.count("catalogue/index.html") == 1  # one kept page served three visitors
    assert "Zone-aware" in tokyo and "Zone-aware" in lima and "Zone-aware" in no_zone

    tokyo_times, lima_times = _YOUR_TIME.findall(tokyo), _YOUR_TIME.findall(lima)
    assert tokyo_times and lima_times and not _YOUR_TIME.findall(no_zone)
    assert all("Tokyo" in line and "Lima" not in line for line in tokyo_times)
    assert all("Lima" in line and "Tokyo" not in line for line in lima_times)
    assert '<option selected value="Asia/Tokyo">' in tokyo and 'data-current="Asia/Tokyo"' in tokyo
    assert '<option selected value="America/Lima">' in lima and 'data-current="America/Lima"' in lima
    assert "<option selected" not in no_zone and 'data-current=""' in no_zone
    assert 'href="/language/en?next=/%3Ftz%3DAsia/Tokyo"' in tokyo
    assert 'href="/language/en?next=/%3Ftz%3DAmerica/Lima%26page%3D1"' in lima
    assert 'href="/language/en?next=/"' in no_zone
    for page in (tokyo, lima, no_zone):
        assert "<!--slot-" not in page
    # The zone is remembered (the cookie) and then shown without ?tz=, from the same kept page.
    assert _YOUR_TIME.findall(tokyo_client.get("/").get_data(as_text=True)) == tokyo_times
    assert rendered.count("catalogue/index.html") == 1


def test_a_kept_catalogue_page_is_kept_per_language_and_fills_the_visitors_zone_in_it(app, monkeypatch):
    _upcoming(app, title="Zone-aware")
    rendered = _count_renders(monkeypatch)
    english = app.test_client().get("/?tz=Asia/Tokyo", headers={"Accept-Language": "en"}).get_data(as_text=True)
    french = app.test_client().get("/?tz=America/Lima", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    again = app.test_client().get("/?tz=America/Lima", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert rendered.count("catalogue/index.html") == 2  # one per language
    assert '<html lang="en">' in english and '<html lang="fr">' in french and '<html lang="en">' in again
    assert all("Your time:" in line and "Tokyo" in line for line in _YOUR_TIME.findall(english))
    assert all("Chez vous" in line and "Lima" in line for line in _YOUR_TIME.findall(french))
    assert all("Your time:" in line and "Lima" in line for line in _YOUR_TIME.findall(again))
    assert _YOUR_TIME.findall(french) and _YOUR_TIME.findall(again)


def test_text_that_looks_like_a_slot_is_shown_as_text_and_fills_nothing(app):
    """An organiser (or anyone whose text reaches a page) who writes this process's very slot markers
    gets them shown as text: escaping leaves no "<" to start a slot, so no token, zone or address
    of any visitor is put there."""
    from markupsafe import escape

    from webinars.cache import CSRF_PLACEHOLDER, slot

    markers = [CSRF_PLACEHOLDER, str(slot("zone")), str(slot("zone-options")), str(slot("language-next"))]
    markers.append(str(slot("card-time", "2030-01-01T10:00:00", "Asia/Tokyo")))
    slug = _upcoming(
        app, capacity=5, title="Talk " + markers[0], summary=" ".join(markers), description=" ".join(markers)
    )
    client = app.test_client()
    for path in ("/?tz=Asia/Tokyo", f"/webinars/{slug}?tz=Asia/Tokyo", "/?tz=Asia/Tokyo"):  # rendered, then kept
        page = client.get(path).get_data(as_text=True)
        assert str(escape(markers[0])) in page, path  # the title, as text
        token = csrf_token_from_html(page) if "/webinars/" in path else None
        for marker in markers:
            assert str(escape(marker)) in page, (path, marker)
        if token:
            assert page.count(token) == page.count('name="csrf_token"'), path


def test_the_upcoming_list_is_paginated_soonest_first(app, client):
    with app.app_context():
        start = (utcnow() + timedelta(days=1)).replace(microsecond=0)
        for n in range(app.config["UPCOMING_PAGE_SIZE"] + 3):
            make_webinar(starts_at=start + timedelta(hours=n), title=f"Talk number {n:02d}")
        db.session.commit()
    first = client.get("/").get_data(as_text=True)
    # (A card names its webinar twice: its heading, and its Register link for screen readers.)
    shown = list(dict.fromkeys(re.findall(r"Talk number (\d\d)", first)))
    assert shown == [f"{n:02d}" for n in range(app.config["UPCOMING_PAGE_SIZE"])]
    assert 'href="/?upcoming=2"' in first and "Page 1 of 2" in first
    second = client.get("/?upcoming=2").get_data(as_text=True)
    assert list(dict.fromkeys(re.findall(r"Talk number (\d\d)", second))) == ["20", "21", "22"]
    assert 'rel="prev" href="/"' in second


def _download(app, client, slug: str):
    return client.get(f"/webinars/{slug}.ics")


def test_a_revalidated_download_answers_304_without_building_the_file(app, client, monkeypatch):
    slug = _upcoming(app)
    full = _download(app, client, slug)
    assert full.status_code == 200 and full.headers["ETag"]

    def never(*args, **kwargs):
        raise AssertionError("a 304 must not build the calendar")

    monkeypatch.setattr(ical, "webinar_calendar", never)
    for headers in ({"If-None-Match": full.headers["ETag"]}, {"If-Modified-Since": full.headers["Last-Modified"]}):
        again = client.get(f"/webinars/{slug}.ics", headers=headers)
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == full.headers["ETag"]
    # The same file again comes from the per-process cache, built once per webinar version.
    assert client.get(f"/webinars/{slug}.ics").data == full.data


def test_one_change_to_a_webinar_rebuilds_one_event_of_the_feed(app, client, monkeypatch):
    with app.app_context():
        start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
        slugs = [make_webinar(starts_at=start + timedelta(days=n)).slug for n in range(5)]
        db.session.commit()
    built = []
    real = ical.published_event
    monkeypatch.setattr(
        ical, "published_event", lambda webinar, *a, **k: built.append(webinar.slug) or real(webinar, *a, **k)
    )
    first = client.get("/calendar.ics")
    assert sorted(built) == sorted(slugs)
    built.clear()
    with app.app_context():
        webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slugs[2]))
        webinar.title, webinar.sequence, webinar.updated_at = "Renamed", webinar.sequence + 1, utcnow()
        db.session.commit()
    second = client.get("/calendar.ics", headers={"If-None-Match": first.headers["ETag"]})
    assert second.status_code == 200 and built == [slugs[2]]
    assert b"SUMMARY:Renamed" in second.data
    # What the kept events make is exactly what a cold build makes.
    for name in [name for name in app.extensions if name.startswith("webinars.cache.")]:
        del app.extensions[name]
    assert client.get("/calendar.ics").data == second.data


# -- the published event, written as text, is what icalendar writes -------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Text with everything that escaping and folding must get right: separators, backslashes (and "\\N"),
# carets, quotes, every line ending, multi-byte letters and emoji.
TEXT = st.lists(
    st.sampled_from(list("aZ09 ,;:\\^\"'\n\r\t-é字😀NRn\u2028") + ["\r\n", "\\N", "x" * 70]), max_size=120
).map("".join)


class _Speaker:
    def __init__(self, name, credentials):
        self.name, self.credentials = name, credentials


class _Section:
    def __init__(self, title, description, speakers):
        self.title, self.description, self.speakers = title, description, speakers


class _Webinar:
    def __init__(self, **values):
        self.__dict__.update(values)

    def title_in(self, language):
        return self.title_fr if language == "fr" and self.title_fr else self.title

    def summary_in(self, language):
        return self.summary_fr if language == "fr" and self.summary_fr else self.summary


WEBINARS = st.builds(
    _Webinar,
    ical_uid=st.text(alphabet="abcdef0123456789@.-", min_size=1, max_size=60),
    title=TEXT,
    summary=TEXT,
    title_fr=st.one_of(st.just(""), TEXT),
    summary_fr=st.one_of(st.just(""), TEXT),
    location=st.one_of(st.sampled_from(["", "Online", " Online ", "Paris, salle 2"]), TEXT),
    status=st.sampled_from(["published", "cancelled"]),
    sequence=st.integers(0, 10_000),
    timezone=st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC", "Australia/Lord_Howe"]),
    starts_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)).map(
        lambda value: value.replace(microsecond=0)
    ),
    minutes=st.integers(1, 24 * 60),
    sections=st.lists(
        st.builds(_Section, TEXT, TEXT, st.lists(st.builds(_Speaker, TEXT, TEXT), max_size=3)), max_size=4
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    webinar=WEBINARS, slug=st.text(alphabet="abc-09", min_size=1, max_size=90), language=st.sampled_from(["en", "fr"])
)
def test_a_published_event_is_written_byte_for_byte_as_icalendar_writes_it(sqlite_app, webinar, slug, language):
    import pytz

    webinar.starts_at = pytz.utc.localize(webinar.starts_at)
    webinar.ends_at = webinar.starts_at + timedelta(minutes=webinar.minutes)
    webinar.created_at = webinar.starts_at - timedelta(days=30, microseconds=123)
    webinar.updated_at = webinar.starts_at - timedelta(days=3, microseconds=456)
    page_url = f"http://webinars.test/webinars/{slug}"
    with sqlite_app.test_request_context("/"):
        zone = ical._ZoneModel(webinar.timezone, [webinar.starts_at, webinar.ends_at])
        expected = ical._event(
            webinar,
            zone,
            page_url=page_url,
            dtstamp=webinar.updated_at,
            cancelled=webinar.status == "cancelled",
            language=language,
        ).to_ical(sorted=False)
        assert ical.published_event(webinar, zone, page_url=page_url, language=language) == expected
        # The words looked up once for a whole feed give the same event.
        words = ical.DescriptionWords.of(language)
        assert ical.published_event(webinar, zone, page_url=page_url, words=words) == expected


@settings(max_examples=300, deadline=None)
@given(line=TEXT)
def test_lines_are_folded_where_icalendar_folds_them(line):
    from icalendar.parser.string import _foldline

    line = line.replace("\r", "").replace("\n", "")
    assert ical._fold("X-TEST:" + line) == _foldline("X-TEST:" + line).encode("utf-8")


def test_the_feed_goes_compressed_to_clients_that_accept_gzip_and_revalidates_either_way(app, client):
    import gzip

    _upcoming(app, title="Compressed talk")
    plain = client.get("/calendar.ics")
    packed = client.get("/calendar.ics", headers={"Accept-Encoding": "gzip, deflate"})
    assert "Content-Encoding" not in plain.headers and packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.data) == plain.data and b"SUMMARY:Compressed talk" in plain.data
    assert "Accept-Encoding" in plain.headers["Vary"] and "Accept-Encoding" in packed.headers["Vary"]
    assert plain.headers["ETag"] != packed.headers["ETag"]  # two representations, each its own validator
    for response, headers in ((plain, {}), (packed, {"Accept-Encoding": "gzip"})):
        again = client.get("/calendar.ics", headers={**headers, "If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
