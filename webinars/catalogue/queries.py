"""Read-side functions for the catalogue: what is upcoming, what is archived, one webinar."""

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app
from sqlalchemy import Select, func, select
from sqlalchemy.orm import selectinload

from ..cache import app_cache
from ..extensions import db
from ..timezones import utc_text
from .models import AgendaSection, Topic, Webinar, webinar_topics

PUBLIC_STATUSES = ("published", "cancelled")

log = logging.getLogger(__name__)


def shown(webinars: Iterable[Webinar], where: str) -> list[Webinar]:
    """The webinars that can be shown (Webinar.presentable); each one that cannot is logged, for an
    organiser to fix, and left out, so that one bad row never takes a page or a feed down."""
    kept = []
    for webinar in webinars:
        if webinar.presentable:
            kept.append(webinar)
        else:
            log.error(
                "webinar %s (%s) cannot be shown (starts %s, zone %r): left out of %s",
                webinar.id,
                webinar.slug,
                utc_text(webinar.starts_at),
                webinar.timezone,
                where,
            )
    return kept


def _public(query: Select, topic: Topic | None) -> Select:
    query = query.where(Webinar.status.in_(PUBLIC_STATUSES))
    if topic is not None:
        query = query.where(Webinar.topics.contains(topic))
    return query


def upcoming(now: datetime, topic: Topic | None = None) -> list[Webinar]:
    """Webinars that have not ended yet, soonest first."""
    # "Not over yet": a webinar that is live now is still listed as upcoming.
    query = _public(select(Webinar), topic).where(Webinar.ends_at > now).options(selectinload(Webinar.topics))
    # Sorted here, not in SQL: with ORDER BY starts_at, SQLite walks the whole starts_at index to skip a
    # sort, reading every past webinar; without it, it reads only the few rows that end in the future.
    return sorted(
        shown(db.session.scalars(query), "the catalogue"), key=lambda webinar: (webinar.starts_at, webinar.id)
    )


@dataclass
class Page:
    """One page of a list (the upcoming webinars), shaped as Flask-SQLAlchemy's pagination is."""

    items: list
    page: int
    per_page: int
    total: int
    # When the list changes by itself: the soonest end among its webinars (one moves to the archive), or
    # a start or registration deadline among those it shows (a card says live, or stops offering to
    # register). None: nothing will.
    next_change: datetime | None = None

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int:
        return self.page - 1

    @property
    def next_num(self) -> int:
        return self.page + 1


def upcoming_page(now: datetime, page: int, per_page: int, topic: Topic | None = None) -> Page:
    """One page of the webinars that have not ended yet, soonest first: the ids and start times of all
    of them (the rows that end in the future, a few hundred at most), then the page's rows."""
    query = _public(select(Webinar.id, Webinar.starts_at, Webinar.ends_at), topic).where(Webinar.ends_at > now)
    rows = sorted(db.session.execute(query), key=lambda row: (row.starts_at, row.id))
    ids = [row.id for row in rows][(page - 1) * per_page : page * per_page]
    found = {webinar.id: webinar for webinar in db.session.scalars(select(Webinar).where(Webinar.id.in_(ids)))}
    items = shown([found[i] for i in ids if i in found], "the catalogue")
    moments = [row.ends_at for row in rows]
    moments += [moment for w in items for moment in (w.starts_at, w.registration_closes_at) if moment > now]
    next_change = min(moments, default=None)
    return Page(items=items, page=page, per_page=per_page, total=len(rows), next_change=next_change)


def load_topics(webinars: list[Webinar]) -> None:
    """The topics of these webinars (what their cards show), onto them, in one query."""
    if webinars:
        query = select(Webinar).where(Webinar.id.in_([webinar.id for webinar in webinars]))
        db.session.scalars(query.options(selectinload(Webinar.topics))).all()


def archive(now: datetime, page: int, per_page: int, topic: Topic | None = None):
    """Past published webinars, most recent first, a page at a time."""
    query = (
        _public(select(Webinar), topic)
        .where(Webinar.status == "published", Webinar.ends_at <= now)
        .order_by(Webinar.starts_at.desc(), Webinar.id.desc())
    )
    pagination = db.paginate(query, page=page, per_page=per_page, error_out=False)
    pagination.items = shown(pagination.items, "the archive")
    return pagination


def topics_in_use() -> list[Topic]:
    """Topics with at least one public webinar, by name."""
    # EXISTS stops at the first public webinar of each topic; a join + GROUP BY read every webinar_topics row.
    has_public_webinar = (
        select(webinar_topics.c.webinar_id)
        .join(Webinar, Webinar.id == webinar_topics.c.webinar_id)
        .where(webinar_topics.c.topic_id == Topic.id, Webinar.status.in_(PUBLIC_STATUSES))
        .exists()
    )
    return list(db.session.scalars(select(Topic).where(has_public_webinar).order_by(Topic.name)))


def topic_by_slug(slug: str | None) -> Topic | None:
    if not slug or len(slug) > 80:
        return None
    return db.session.scalar(select(Topic).where(Topic.slug == slug))


def public_webinar_or_404(slug: str) -> Webinar:
    """A published or cancelled webinar's own row (one indexed query); drafts are not public. What its
    page shows besides comes with load_page(), only when the page is rendered."""
    if len(slug) > 120:
        abort(404)
    webinar = db.session.scalar(select(Webinar).where(Webinar.slug == slug, Webinar.status.in_(PUBLIC_STATUSES)))
    if webinar is None or not shown([webinar], "its page"):
        abort(404)
    return webinar


def load_page(webinar: Webinar) -> Webinar:
    """Everything a webinar's page shows, loaded onto it: topics, the agenda with its speakers and
    the partners (one query each)."""
    query = (
        select(Webinar)
        .where(Webinar.id == webinar.id)
        .options(
            selectinload(Webinar.topics),
            selectinload(Webinar.sections).selectinload(AgendaSection.speakers),
            selectinload(Webinar.partners),
        )
    )
    return db.session.scalars(query).one()


def load_agenda(webinar: Webinar) -> Webinar:
    """A webinar's agenda with its speakers (what its calendar entries describe), loaded onto it."""
    query = (
        select(Webinar)
        .where(Webinar.id == webinar.id)
        .options(selectinload(Webinar.sections).selectinload(AgendaSection.speakers))
    )
    return db.session.scalars(query).one()


# -- what the organisers' screens and the audit trail need -------------------------------------------


def webinar_by_id(webinar_id: int | None) -> Webinar | None:
    return db.session.get(Webinar, webinar_id) if webinar_id is not None else None


def all_webinars() -> list[Webinar]:
    """Every webinar, drafts included, latest first (the organisers' dashboard)."""
    return list(db.session.scalars(select(Webinar).order_by(Webinar.starts_at.desc(), Webinar.id.desc())))


def webinars_by_id(ids) -> dict[int, Webinar]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {webinar.id: webinar for webinar in db.session.scalars(select(Webinar).where(Webinar.id.in_(ids)))}


def all_topics() -> list[Topic]:
    """Every topic, by name (topics are few)."""
    return list(db.session.scalars(select(Topic).order_by(Topic.name)))


def topic_by_id(topic_id: int | None) -> Topic | None:
    return db.session.get(Topic, topic_id) if topic_id is not None else None


def topics_by_id(ids) -> list[Topic]:
    ids = [i for i in ids or [] if i is not None]
    if not ids:
        return []
    return list(db.session.scalars(select(Topic).where(Topic.id.in_(ids)).order_by(Topic.name)))


def catalogue_version() -> tuple:
    """What the catalogue page depends on, from one aggregate query: every change to a webinar
    touches updated_at, the count and id sum catch webinars that appear or leave, and the topic
    count catches a new topic in the filter list."""
    topics = select(func.count(Topic.id)).scalar_subquery()
    row = db.session.execute(
        select(func.count(Webinar.id), func.max(Webinar.updated_at), func.sum(Webinar.id), topics).where(
            Webinar.status.in_(PUBLIC_STATUSES)
        )
    ).one()
    return tuple(row)


def recorded(now: datetime, topic: Topic | None = None, limit: int = 10) -> list[Webinar]:
    """Past published webinars whose recording can be watched, most recent first."""
    query = (
        _public(select(Webinar), topic)
        .where(Webinar.status == "published", Webinar.ends_at <= now, Webinar.recording_url != "")
        .order_by(Webinar.starts_at.desc(), Webinar.id.desc())
        .limit(limit)
        .options(selectinload(Webinar.topics))
    )
    return list(db.session.scalars(query))


def upcoming_between(start: datetime, end: datetime) -> list[Webinar]:
    """Published webinars starting in (start, end], soonest first, with their topics (the digest's)."""
    query = (
        select(Webinar)
        .where(Webinar.status == "published", Webinar.starts_at > start, Webinar.starts_at <= end)
        .order_by(Webinar.starts_at, Webinar.id)
        .options(selectinload(Webinar.topics))
    )
    return list(db.session.scalars(query))


def recent_catalogue_version(now: datetime) -> tuple:
    """catalogue_version(), re-read at most every CATALOGUE_VERSION_SECONDS per process: the aggregate
    reads every public webinar, and a page a second or two old is fine for visitors. For pages that
    cache what they show of the catalogue (the catalogue itself, topic pages)."""
    ttl = current_app.config.get("CATALOGUE_VERSION_SECONDS", 0)
    if not ttl:
        return catalogue_version()
    slot = int(now.timestamp() // ttl)
    return app_cache("catalogue-version", 2).get_or_build(slot, catalogue_version)
