"""The newsletter digest: for each confirmed subscriber, what is new since the last digest.

A digest covers a period (period_start, period_end]: the content items that went public in it, and
the webinars starting within DIGEST_UPCOMING_DAYS after its end, of which those published in the
period are "new"; an email shows the newest DIGEST_MAX_ITEMS items and the first DIGEST_MAX_WEBINARS
webinars, and links to the rest. Each subscriber gets what matches their topics (none chosen: everything; an item
or webinar without topics is for everyone), with times in their zone when known, and nothing at
all when nothing new matches. The period starts where the last digest ended (or at --since), and
the unique period start recorded in `digests` is what makes the command safe to run from cron:
a second run for the same period cannot record it, so it sends nothing.

Like campaigns, the request records intent and the worker renders: expansion adds one outbox row
per recipient (ids only) in checkpointed id-ordered batches, and `digest_message_bytes(row)` builds
each message at send time. Rendering is cached per process: each item once per language, each
webinar once per zone and language, each distinct body once per (topic set, zone, language), and a
recipient's message is that body with their own links filled in. So 100,000 subscribers cost a few
hundred template renders, not 100,000.
"""

from __future__ import annotations

import quopri
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP

import pytz
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import exists, func, insert, literal, select, text
from sqlalchemy.exc import IntegrityError

from ..catalogue import queries as catalogue_queries
from ..catalogue.models import Topic, Webinar
from ..content import queries as content_queries
from ..content.feeds import item_url
from ..content.models import TYPE_LABELS, ContentItem
from ..database import UTCDateTime, utcnow
from ..extensions import db
from ..language import LOCALES, language_of
from ..outbox.models import OutboxMessage, Suppression
from ..timezones import canonical_zone_or_none, day_date, long_date, time_range, to_zone, zone_place, zone_times_line
from ..tokens import make_token
from ..urls import external_url, service_domain
from . import operations
from .campaigns import _crlf, _date_header, _qp
from .models import Digest, Subscriber, subscriber_topics

# A first digest with no --since covers everything published so far. A fixed instant, not "a week
# ago": two first runs at once must ask for the same period, so that only one can record it.
FIRST_PERIOD_START = datetime(2000, 1, 1, tzinfo=pytz.utc)
LOOKAHEAD = 500
LOOKUP_TTL_SECONDS = 5.0
BODY_CACHE_SIZE = 1024
CACHE_KEY = "newsletter.digest_cache"


class DigestExists(Exception):
    """A digest for this period is already recorded (another run got there first)."""

    def __init__(self, digest: Digest | None):
        super().__init__("a digest for this period exists")
        self.digest = digest


# -- what a period holds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemFacts:
    """What the digest shows of an item: plain values, safe to keep across the worker's commits."""

    id: int
    type: str
    label: str
    title: str
    published_on: date | None
    summary: str
    url: str | None
    topic_ids: frozenset[int]

    @classmethod
    def of(cls, item: ContentItem) -> ItemFacts:
        return cls(
            id=item.id,
            type=item.type,
            label=item.label,
            title=item.title,
            published_on=item.published_on,
            summary=item.summary,
            url=item_url(item),
            topic_ids=frozenset(topic.id for topic in item.topics),
        )


@dataclass(frozen=True)
class WebinarFacts:
    id: int
    title: str
    summary: str
    url: str
    title_fr: str
    summary_fr: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    display_zones: tuple[str, ...]
    topic_ids: frozenset[int]
    new: bool

    @classmethod
    def of(cls, webinar: Webinar, start: datetime, end: datetime) -> WebinarFacts:
        public_since = webinar.published_at or webinar.created_at
        return cls(
            id=webinar.id,
            title=webinar.title,
            summary=webinar.summary,
            url=external_url("catalogue.webinar", slug=webinar.slug),
            title_fr=webinar.title_fr,
            summary_fr=webinar.summary_fr,
            starts_at=webinar.starts_at,
            ends_at=webinar.ends_at,
            timezone=webinar.timezone,
            display_zones=tuple(webinar.display_zones),
            topic_ids=frozenset(topic.id for topic in webinar.topics),
            new=start < public_since <= end,
        )


def _matches(topic_ids: frozenset[int], wanted: frozenset[int]) -> bool:
    # No topics chosen: everything. Something without topics: for everyone.
    return not wanted or not topic_ids or bool(topic_ids & wanted)


@dataclass
class Plan:
    """Everything new in a period, before anyone is chosen."""

    start: datetime
    end: datetime
    upcoming_days: int
    max_items: int = 10
    max_webinars: int = 10
    items: list[ItemFacts] = field(default_factory=list)
    webinars: list[WebinarFacts] = field(default_factory=list)

    @property
    def news(self) -> list:
        return [*self.items, *(webinar for webinar in self.webinars if webinar.new)]

    @property
    def anything_new(self) -> bool:
        return bool(self.news)

    @property
    def news_for_everyone(self) -> bool:
        """Something new without topics reaches every subscriber."""
        return any(not entry.topic_ids for entry in self.news)

    @property
    def news_topic_ids(self) -> set[int]:
        return set().union(*(entry.topic_ids for entry in self.news)) if self.news else set()

    def for_topics(self, wanted: frozenset[int]) -> tuple[list[ItemFacts], list[WebinarFacts]]:
        items = [item for item in self.items if _matches(item.topic_ids, wanted)]
        webinars = [webinar for webinar in self.webinars if _matches(webinar.topic_ids, wanted)]
        return items, webinars

    def has_news_for(self, wanted: frozenset[int]) -> bool:
        return any(_matches(entry.topic_ids, wanted) for entry in self.news)


def limits() -> tuple[int, int, int]:
    """(DIGEST_UPCOMING_DAYS, DIGEST_MAX_ITEMS, DIGEST_MAX_WEBINARS) from the settings."""
    config = current_app.config
    return (
        int(config.get("DIGEST_UPCOMING_DAYS", 30)),
        int(config.get("DIGEST_MAX_ITEMS", 10)),
        int(config.get("DIGEST_MAX_WEBINARS", 10)),
    )


def make_plan(start: datetime, end: datetime) -> Plan:
    days, max_items, max_webinars = limits()
    return Plan(
        start=start,
        end=end,
        upcoming_days=days,
        max_items=max_items,
        max_webinars=max_webinars,
        items=[ItemFacts.of(item) for item in content_queries.published_between(start, end)],
        webinars=[
            WebinarFacts.of(webinar, start, end)
            for webinar in catalogue_queries.upcoming_between(end, end + timedelta(days=days))
        ],
    )


def last_digest() -> Digest | None:
    return db.session.scalar(select(Digest).order_by(Digest.period_end.desc(), Digest.id.desc()).limit(1))


def next_period(now: datetime, since: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the digest a run at `now` would send: from `since`, else from where the last
    digest ended, else from FIRST_PERIOD_START; up to now."""
    if since is None:
        previous = last_digest()
        since = previous.period_end if previous is not None else FIRST_PERIOD_START
    return since, now


# -- recording and expanding ------------------------------------------------------------------------


def create_digest(plan: Plan, *, created_by: str) -> Digest:
    """Record the period (flushed, not committed). DigestExists when it is already recorded."""
    existing = db.session.scalar(select(Digest).where(Digest.period_start == plan.start))
    if existing is not None:
        raise DigestExists(existing)
    digest = Digest(
        period_start=plan.start,
        period_end=plan.end,
        status="expanding",
        items_count=len(plan.items),
        webinars_count=len(plan.webinars),
        created_by=created_by,
        created_at=utcnow(),
    )
    try:
        # A savepoint: a concurrent run that recorded the same start a moment ago wins, calmly.
        with db.session.begin_nested():
            db.session.add(digest)
            db.session.flush()
    except IntegrityError as error:
        raise DigestExists(db.session.scalar(select(Digest).where(Digest.period_start == plan.start))) from error
    return digest


def _with_news(plan: Plan, subscriber_id, after_id: int = 0, through_id: int | None = None):
    """SQL condition: the subscriber has something new in this plan. Within an expansion batch the
    topic look-ups are bounded to the batch's ids: PostgreSQL hashes them whole, and unbounded they
    read every subscriber's topics for each batch (14 s instead of 2 s for 30,000 subscribers)."""
    if plan.news_for_everyone:
        return literal(True)
    links = subscriber_topics.c
    in_batch = [links.subscriber_id > after_id] + ([links.subscriber_id <= through_id] if through_id else [])
    has_no_topics = ~exists(select(links.topic_id).where(links.subscriber_id == subscriber_id, *in_batch))
    wanted = sorted(plan.news_topic_ids)
    if not wanted:
        return has_no_topics
    follows_news = exists(
        select(links.topic_id).where(links.subscriber_id == subscriber_id, links.topic_id.in_(wanted), *in_batch)
    )
    return has_no_topics | follows_news


def _recipients_between(digest_id: int, plan: Plan, after_id: int, through_id: int, now: datetime):
    s = Subscriber.__table__
    when = literal(now, UTCDateTime)
    return (
        select(literal("digest"), s.c.email, literal(digest_id), s.c.id, literal("queued"), literal(0), when, when)
        .where(
            s.c.id > after_id,
            s.c.id <= through_id,
            s.c.status == "subscribed",
            ~exists(select(Suppression.id).where(Suppression.email == s.c.email)),
            _with_news(plan, s.c.id, after_id, through_id),
            # Belt and braces beside the unique constraint, for a checkpoint saved late.
            ~exists(
                select(OutboxMessage.id).where(
                    OutboxMessage.digest_id == digest_id,
                    OutboxMessage.subscriber_id == s.c.id,
                    OutboxMessage.subscriber_id > after_id,
                    OutboxMessage.subscriber_id <= through_id,
                )
            ),
        )
        .order_by(s.c.id)
    )


def expand_digest(digest: Digest, batch_size: int = 5000) -> int:
    """Queue one outbox row per subscriber with something new, in id-ordered batches, each committed
    with its checkpoint (as campaigns do): a crash resumes from the checkpoint without adding anyone
    twice. Returns how many rows this call added."""
    if digest.status != "expanding":
        return 0
    plan = make_plan(digest.period_start, digest.period_end)
    columns = [
        "kind",
        "to_address",
        "digest_id",
        "subscriber_id",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    added = 0
    while plan.anything_new:
        after = digest.expanded_through_id
        batch = select(Subscriber.id).where(Subscriber.id > after).order_by(Subscriber.id).limit(batch_size).subquery()
        through = db.session.scalar(select(func.max(batch.c.id)))
        if through is None:
            break
        in_range = select(func.count(OutboxMessage.id)).where(
            OutboxMessage.digest_id == digest.id,
            OutboxMessage.subscriber_id > after,
            OutboxMessage.subscriber_id <= through,
        )
        considered = db.session.scalar(
            select(func.count(Subscriber.id)).where(
                Subscriber.id > after, Subscriber.id <= through, Subscriber.status == "subscribed"
            )
        )
        before = db.session.scalar(in_range)
        db.session.execute(
            insert(OutboxMessage.__table__).from_select(
                columns, _recipients_between(digest.id, plan, after, through, utcnow())
            )
        )
        count = db.session.scalar(in_range) - before
        digest.expanded_through_id = through
        digest.recipients_count = (digest.recipients_count or 0) + count
        digest.considered_count = (digest.considered_count or 0) + considered
        db.session.commit()
        added += count
    if not plan.anything_new:
        digest.considered_count = db.session.scalar(
            select(func.count(Subscriber.id)).where(Subscriber.status == "subscribed")
        )
    digest.status = "sending" if digest.recipients_count else "done"
    if digest.status == "done":
        digest.finished_at = utcnow()
    db.session.commit()
    if added and db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE outbox_messages"))  # as after a campaign: fresh statistics
        db.session.commit()
    return added


def estimate_recipients(plan: Plan) -> int:
    """How many subscribers a digest of this plan would go to now (for --dry-run and the admin)."""
    if not plan.anything_new:
        return 0
    s = Subscriber.__table__
    return db.session.scalar(
        select(func.count(s.c.id)).where(
            s.c.status == "subscribed",
            ~exists(select(Suppression.id).where(Suppression.email == s.c.email)),
            _with_news(plan, s.c.id),
        )
    )


def digest_progress(digest: Digest) -> dict:
    counts = dict.fromkeys(("queued", "sending", "sent", "failed", "suppressed"), 0)
    rows = db.session.execute(
        select(OutboxMessage.status, func.count(OutboxMessage.id))
        .where(OutboxMessage.digest_id == digest.id)
        .group_by(OutboxMessage.status)
    )
    for status, count in rows:
        counts[status] = count
    counts["total"] = sum(counts.values())
    return counts


def finish_digest_if_done(digest: Digest, now: datetime | None = None) -> bool:
    if digest.status != "sending":
        return digest.status == "done"
    progress = digest_progress(digest)
    if progress["queued"] or progress["sending"]:
        return False
    digest.status = "done"
    digest.finished_at = now or utcnow()
    return True


def tend_digests(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2)) -> None:
    """The mail worker's housekeeping: finish an expansion a crash interrupted, mark digests done."""
    now = now or utcnow()
    stale = select(Digest).where(Digest.status == "expanding", Digest.created_at < now - stale_after)
    for digest in db.session.scalars(stale.with_for_update(skip_locked=True)).all():
        try:
            expand_digest(digest)
        except IntegrityError:
            db.session.rollback()  # another worker expanded the same batch at the same moment
    for digest in db.session.scalars(select(Digest).where(Digest.status == "sending")).all():
        finish_digest_if_done(digest, now)
    db.session.commit()


def resume_unfinished(now: datetime | None = None, stale_after: timedelta = timedelta(minutes=2)) -> list[Digest]:
    """Expand every digest whose expansion stopped half-way (the command does this first). A digest
    recorded in the last minutes may still be expanding in another run: that one is left to it."""
    now = now or utcnow()
    unfinished = db.session.scalars(
        select(Digest).where(Digest.status == "expanding", Digest.created_at < now - stale_after).order_by(Digest.id)
    ).all()
    resumed = []
    for digest in unfinished:
        try:
            expand_digest(digest)
        except IntegrityError:
            db.session.rollback()  # another run was expanding it after all; its rows stand
            continue
        resumed.append(digest)
    return resumed


# -- rendering at send time -------------------------------------------------------------------------


def subscriber_language(language: str | None) -> str:
    """The locale a subscriber reads the digest in: that of the language they signed up in (English for
    the admin's preview, which stands for no one in particular). Everything below renders in it."""
    return LOCALES[language_of(language)]


def _webinar_context(webinar: WebinarFacts, zone: str | None, locale: str) -> dict:
    local = to_zone(webinar.starts_at, webinar.timezone)
    language = language_of(locale)
    context = {
        "webinar": webinar,
        "title": webinar.title_fr if language == "fr" and webinar.title_fr else webinar.title,
        "summary": webinar.summary_fr if language == "fr" and webinar.summary_fr else webinar.summary,
        "date": long_date(local, locale),
        "range": time_range(webinar.starts_at, webinar.ends_at, webinar.timezone, locale),
        "zones_line": zone_times_line(webinar.starts_at, list(webinar.display_zones), locale),
        "your_time": None,
    }
    if zone and zone not in webinar.display_zones:
        mine = to_zone(webinar.starts_at, zone)
        context["your_time"] = (
            f"{long_date(mine, locale)}, {time_range(webinar.starts_at, webinar.ends_at, zone, locale)}"
        )
        context["your_zone"] = zone_place(zone, locale)  # "São Paulo, Brazil", never the IANA id
    return context


@dataclass
class _Prepared:
    """One digest, ready to be filled in per recipient: fragments and bodies rendered once each."""

    digest_id: int
    plan: Plan
    boundary: str
    domain: str
    token_marker: str
    body_marker: str
    skeletons: dict = field(default_factory=dict)  # language -> (head bytes, text, html)
    items: dict = field(default_factory=dict)  # (item id, language) -> (text, html)
    webinars: dict = field(default_factory=dict)  # (webinar id, zone, language) -> (text, html)
    sections: dict = field(default_factory=dict)  # language -> {name: (text, html)}
    bodies: OrderedDict = field(default_factory=OrderedDict)  # (topics, zone, language) -> parts or None
    renders: int = 0  # template renders so far (the cost the caches keep down)

    def _render(self, name: str, **context) -> tuple[str, str]:
        self.renders += 2
        return (
            _crlf(render_template(f"emails/newsletter/{name}.txt", **context)),
            _crlf(render_template(f"emails/newsletter/{name}.html", **context)),
        )

    def skeleton(self, language: str):
        if language not in self.skeletons:
            with force_locale(language):
                since = None if self.plan.start <= FIRST_PERIOD_START else day_date(self.plan.start.date(), language)
                context = {
                    "body": self.body_marker,
                    "since": since,
                    "unsubscribe_url": operations.unsubscribe_url(self.token_marker),
                    "preferences_url": operations.preferences_url(self.token_marker),
                    "signup_url": external_url("newsletter.signup"),
                    "listing_url": external_url("content.listing"),
                }
                text, html = self._render("digest", **context)
                head = EmailMessage(policy=SMTP)
                head["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
                head["Subject"] = _("%(site)s: what is new", site=current_app.config["SITE_NAME"])
                head["MIME-Version"] = "1.0"
                head["Auto-Submitted"] = "auto-generated"
                head["Precedence"] = "bulk"
                head["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
                head["Content-Type"] = f'multipart/alternative; boundary="{self.boundary}"'
                head_bytes = bytes(head)
            self.skeletons[language] = (head_bytes[: head_bytes.index(b"\r\n\r\n") + 2], text, html)
        return self.skeletons[language]

    def section(self, language: str, name: str) -> tuple[str, str]:
        sections = self.sections.get(language)
        if sections is None:
            with force_locale(language):
                sections = self.sections[language] = {
                    "webinars": self._render(
                        "_digest_section",
                        title=_("Webinars in the next %(days)s days", days=self.plan.upcoming_days),
                    ),
                    "items": self._render("_digest_section", title=_("News and publications")),
                }
        return sections[name]

    def more(self, language: str, section: str, rest: list, wanted: frozenset[int]) -> tuple[str, str]:
        """'And 12 more' under a section cut short, linking to where the rest is: the pages of the
        subscriber's own topics that the rest belongs to, or the whole list for someone who follows
        everything (or when part of the rest has no topic, so is on no topic's page)."""
        topic_ids = tuple(sorted(wanted & frozenset().union(*(entry.topic_ids for entry in rest))))
        everything = not wanted or any(not entry.topic_ids for entry in rest)
        key = (section, len(rest), topic_ids, everything, language)
        if key not in self.items:
            with force_locale(language):
                links = [
                    (topic.name, external_url("content.topic", slug=topic.slug))
                    for topic in db.session.scalars(select(Topic).where(Topic.id.in_(topic_ids)).order_by(Topic.name))
                ]
                if everything:
                    endpoint, name = (
                        ("catalogue.index", _("All webinars"))
                        if section == "webinars"
                        else ("content.listing", _("All news and publications"))
                    )
                    links.append((name, external_url(endpoint)))
                self.items[key] = self._render("_digest_more", count=len(rest), links=links)
        return self.items[key]

    def item(self, item: ItemFacts, language: str) -> tuple[str, str]:
        key = (item.id, language)
        if key not in self.items:
            with force_locale(language):
                self.items[key] = self._render(
                    "_digest_item",
                    item=item,
                    type_label=str(TYPE_LABELS.get(item.type, item.type)),
                    date=day_date(item.published_on, language) if item.published_on else None,
                )
        return self.items[key]

    def webinar(self, webinar: WebinarFacts, zone: str | None, language: str) -> tuple[str, str]:
        key = (webinar.id, zone, language)
        if key not in self.webinars:
            with force_locale(language):
                self.webinars[key] = self._render("_digest_webinar", **_webinar_context(webinar, zone, language))
        return self.webinars[key]

    def body(self, topics: frozenset[int], zone: str | None, language: str):
        """(text parts, html parts) split around the token marker, or None: nothing new for them."""
        key = (topics, zone, language)
        if key in self.bodies:
            self.bodies.move_to_end(key)
            return self.bodies[key]
        parts = None
        if self.plan.has_news_for(topics):
            items, webinars = self.plan.for_topics(topics)
            fragments = []
            if webinars:
                fragments.append(self.section(language, "webinars"))
                fragments += [self.webinar(webinar, zone, language) for webinar in webinars[: self.plan.max_webinars]]
                if len(webinars) > self.plan.max_webinars:
                    fragments.append(self.more(language, "webinars", webinars[self.plan.max_webinars :], topics))
            if items:
                fragments.append(self.section(language, "items"))
                fragments += [self.item(item, language) for item in items[: self.plan.max_items]]
                if len(items) > self.plan.max_items:
                    fragments.append(self.more(language, "items", items[self.plan.max_items :], topics))
            _, text, html = self.skeleton(language)
            # Plain text has no boxes: a blank line sets each heading and entry apart, as paragraphs.
            body_text = "".join(fragment[0].rstrip("\r\n") + "\r\n\r\n" for fragment in fragments).removesuffix("\r\n")
            body_html = "".join(fragment[1] for fragment in fragments)
            parts = (
                _encoded(text.replace(self.body_marker, body_text).split(self.token_marker)),
                _encoded(html.replace(self.body_marker, body_html).split(self.token_marker)),
            )
        self.bodies[key] = parts
        while len(self.bodies) > BODY_CACHE_SIZE:
            self.bodies.popitem(last=False)
        return parts


def _encoded(parts: list[str]) -> tuple[bytes, ...]:
    """Each part quoted-printable encoded once, with a soft line break at its end: a recipient's
    token (URL-safe ASCII, never encoded, ~60 characters) then sits on a line of its own, so filling
    it in is a join of bytes and every line stays within the limit."""
    # b2a_qp breaks long lines with LF when a part has no line ending of its own to copy: make them CRLF.
    return tuple(_qp(part).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") + b"=\r\n" for part in parts)


def _fill(parts: tuple[bytes, ...], token: bytes) -> bytes:
    # The token's line ends with its own soft break; the last part's trailing one decodes to nothing.
    return (token + b"=\r\n").join(parts)


@dataclass
class _Recipient:
    email: str
    token_version: int
    deliverable: bool
    zone: str | None
    topics: frozenset[int]
    language: str
    loaded_at: float


class _Cache:
    def __init__(self) -> None:
        self.digests: dict[int, _Prepared] = {}
        self.recipients: dict[tuple[int, int], _Recipient] = {}


def _cache() -> _Cache:
    return current_app.extensions.setdefault(CACHE_KEY, _Cache())


def prepare(digest: Digest) -> _Prepared:
    return _Prepared(
        digest_id=digest.id,
        plan=make_plan(digest.period_start, digest.period_end),
        boundary="==dg_" + secrets.token_hex(16),
        domain=service_domain(),
        token_marker="ZQ" + secrets.token_hex(12),
        body_marker="ZB" + secrets.token_hex(12),
    )


def _prepared(digest_id: int) -> _Prepared | None:
    cache = _cache()
    prepared = cache.digests.get(digest_id)
    if prepared is None:
        digest = db.session.get(Digest, digest_id)
        if digest is None:
            return None
        if len(cache.digests) >= 4:
            cache.digests.clear()  # old digests are done; keep memory flat
        prepared = cache.digests[digest_id] = prepare(digest)
    return prepared


def _load_recipients(row, cache: _Cache) -> None:
    """This row's subscriber and those of the next LOOKAHEAD rows of the digest, in two queries."""
    query = (
        select(
            OutboxMessage.subscriber_id,
            Subscriber.email,
            Subscriber.status,
            Subscriber.token_version,
            Subscriber.timezone,
            Suppression.id,
            Subscriber.language,
        )
        .join(Subscriber, Subscriber.id == OutboxMessage.subscriber_id)
        .outerjoin(Suppression, Suppression.email == Subscriber.email)
        .where(
            OutboxMessage.digest_id == row.digest_id,
            OutboxMessage.id >= row.id,
            OutboxMessage.status.in_(("queued", "sending")),
        )
        .order_by(OutboxMessage.id)
        .limit(LOOKAHEAD)
    )
    found = db.session.execute(query).all()
    topics: dict[int, set[int]] = {}
    ids = [subscriber_id for subscriber_id, *_ in found]
    if ids:
        for subscriber_id, topic_id in db.session.execute(
            select(subscriber_topics.c.subscriber_id, subscriber_topics.c.topic_id).where(
                subscriber_topics.c.subscriber_id.in_(ids)
            )
        ):
            topics.setdefault(subscriber_id, set()).add(topic_id)
    now = time.monotonic()
    if len(cache.recipients) > 4 * LOOKAHEAD:
        cache.recipients.clear()
    for subscriber_id, email, status, version, zone, suppressed, language in found:
        cache.recipients[(row.digest_id, subscriber_id)] = _Recipient(
            email=email,
            token_version=version,
            deliverable=status == "subscribed" and suppressed is None,
            zone=canonical_zone_or_none(zone),
            topics=frozenset(topics.get(subscriber_id, ())),
            language=subscriber_language(language),
            loaded_at=now,
        )


def _recipient(row) -> _Recipient | None:
    cache = _cache()
    key = (row.digest_id, row.subscriber_id)
    found = cache.recipients.pop(key, None)
    if found is None or time.monotonic() - found.loaded_at > LOOKUP_TTL_SECONDS:
        _load_recipients(row, cache)
        found = cache.recipients.pop(key, None)
    return found


def digest_message_bytes(row) -> bytes | None:
    """The digest for one recipient, or None when they must be skipped (left, erased, suppressed,
    or nothing new for them any more): the renderer the newsletter registers for kind "digest"."""
    if row.digest_id is None or row.subscriber_id is None:
        return None
    recipient = _recipient(row)
    if recipient is None or not recipient.deliverable:
        return None
    address = row.to_address
    if any(ch in address for ch in "\r\n\x00") or recipient.email != address:
        return None
    prepared = _prepared(row.digest_id)
    if prepared is None:
        return None
    parts = prepared.body(recipient.topics, recipient.zone, recipient.language)
    if parts is None:
        return None
    text_parts, html_parts = parts
    head = prepared.skeleton(recipient.language)[0]
    token = make_token(operations.MANAGE_PURPOSE, {"s": row.subscriber_id, "v": recipient.token_version})
    token_bytes = token.encode("ascii")
    unsubscribe = operations.unsubscribe_url(token)
    boundary = prepared.boundary.encode()
    message_id = f"<d{prepared.digest_id}.m{row.id}.{secrets.token_hex(8)}@{prepared.domain}>"
    return b"".join(
        (
            head,
            f"To: {address}\r\nDate: {_date_header()}\r\nMessage-ID: {message_id}\r\n".encode(),
            f"List-Unsubscribe: <{unsubscribe}>\r\n\r\n".encode(),
            b"--",
            boundary,
            b'\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
            _fill(text_parts, token_bytes),
            b"\r\n--",
            boundary,
            b'\r\nContent-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n',
            _fill(html_parts, token_bytes),
            b"\r\n--",
            boundary,
            b"--\r\n",
        )
    )


def preview(plan: Plan, *, topics: frozenset[int] = frozenset(), zone: str | None = None) -> str | None:
    """The HTML of the digest a subscriber of `topics` would get from `plan` (for the admin), links
    pointing nowhere in particular; None when there is nothing new for them."""
    prepared = _Prepared(
        digest_id=0,
        plan=plan,
        boundary="",
        domain=service_domain(),
        token_marker="ZQ" + secrets.token_hex(12),
        body_marker="ZB" + secrets.token_hex(12),
    )
    parts = prepared.body(topics, zone, subscriber_language(None))
    if parts is None:
        return None
    return quopri.decodestring(_fill(parts[1], b"preview")).decode("utf-8")
