"""Small builders for test data; each returns an unsaved-then-flushed model object."""

from datetime import datetime, timedelta

from webinars.catalogue.models import AgendaSection, Speaker, Topic, Webinar, new_ical_uid
from webinars.extensions import db
from webinars.timezones import localize

_counter = iter(range(1, 10**9))


def make_topic(slug: str = "cooperatives", name: str = "Co-operatives") -> Topic:
    topic = db.session.query(Topic).filter_by(slug=slug).one_or_none()
    if topic is None:
        topic = Topic(slug=slug, name=name)
        db.session.add(topic)
        db.session.flush()
    return topic


def make_webinar(
    *,
    local_start: datetime | None = None,
    timezone: str = "Europe/Paris",
    starts_at: datetime | None = None,
    minutes: int = 60,
    display_zones: list[str] | None = None,
    status: str = "published",
    slug: str | None = None,
    title: str | None = None,
    capacity: int | None = None,
    topics: list[Topic] | None = None,
    speakers: list[tuple[str, str, str, str]] | None = None,
    **fields,
) -> Webinar:
    n = next(_counter)
    if starts_at is None:
        starts_at = localize(local_start or datetime(2030, 6, 4, 10, 0), timezone)
    webinar = Webinar(
        slug=slug or f"webinar-{n}",
        ical_uid=new_ical_uid("webinars.test"),
        title=title or f"Webinar {n}",
        summary=fields.pop("summary", "A summary."),
        description=fields.pop("description", "A *description*."),
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=minutes),
        timezone=timezone,
        status=status,
        capacity=capacity,
        join_url=fields.pop("join_url", "https://meet.example.org/secret-room"),
        topics=topics or [],
        **fields,
    )
    webinar.display_zones = display_zones or [timezone]
    if speakers:
        section = AgendaSection(position=0, title="Panel discussion")
        section.speakers = [Speaker(name=a, role=b, organisation=c, country=d) for a, b, c, d in speakers]
        webinar.sections.append(section)
    db.session.add(webinar)
    db.session.flush()
    return webinar
