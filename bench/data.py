"""The benchmark database: schema from the migrations, then realistic rows inserted in bulk with Core.

Shape (at scale 1): 10,000 webinars (60 upcoming, 940 in the last year, the rest older), each with
1-3 topics, 4 agenda sections with 0-3 speakers each, 2 partners and 2 related content items;
100,000 content items (all six types, 1-3 topics each, dated over ten years, 5% undated and 3%
drafts; 700 of them published in the last week, for the digest); 200,000 registrations, 10,000
of them on the first upcoming webinar, whose capacity leaves 1,500 seats free (the registration
figure concentrated on one webinar fills them, then waitlists, and must overbook nobody); 100,000
confirmed newsletter subscribers with 1-3 topics each, a third of them with a time zone. Exactly 1,000 public
webinars start within the feed window (FEED_HISTORY before today), so `/calendar.ics` has 1,000 events.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytz
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"

ZONES = [
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Seoul",
    "Australia/Sydney",
    "Africa/Nairobi",
    "Asia/Kolkata",
    "America/Los_Angeles",
]

TOPICS = [
    ("social-economy", "Social economy"),
    ("cooperatives", "Co-operatives"),
    ("local-development", "Local development"),
    ("future-of-work", "Future of work"),
    ("digital-economy", "Digital economy"),
    ("skills", "Skills and training"),
    ("entrepreneurship", "Entrepreneurship"),
    ("green-transition", "Green transition"),
    ("tourism", "Tourism"),
    ("regions", "Regions and cities"),
    ("inclusion", "Social inclusion"),
    ("finance", "Social finance"),
]

WORDS = (  # noqa: SIM905 - a sentence reads better than a list of 34 strings
    "local development social economy co-operatives platform workers skills regions cities inclusion "
    "innovation finance impact policy practice green transition jobs communities enterprises rural urban "
    "youth migrants women digital tools evidence measurement partnerships public procurement networks"
).split()

SUMMARY = (
    "Policy makers, practitioners and researchers discuss how {a} and {b} can create better jobs and "
    "stronger communities, with examples from several countries and new evidence on what works."
)
DESCRIPTION = (
    "Across OECD countries, **{a}** is moving from the margins to the mainstream of policy. This webinar "
    "brings together national and local governments, practitioners and international experts to share "
    "what they have learned about {b}, and what it takes to scale it up.\n\n"
    "Speakers will present recent reforms, discuss the evidence on outcomes for workers and communities, "
    "and look at the tools that helped: [legal frameworks](https://example.org/frameworks), access to "
    "finance, public procurement and measurement of social impact.\n\n"
    "- What changed in the last five years?\n- Which policies made the difference?\n"
    "- How can local and national levels work together?\n\n"
    "The discussion is followed by questions from the audience. Interpretation is available in French."
)
SECTION_TITLES = ["Opening remarks", "Setting the scene", "Panel discussion", "Questions and closing"]
PARTNER_TEXT = (
    "The Local Employment and Economic Development (LEED) Programme has supported national and local "
    "governments since 1982 through tailored reviews, capacity building, research and good practice "
    "reports on innovative approaches to local development."
)
FIRST = "Aiko Marie Jun Sofia Kwame Ana Lucas Priya Omar Elena Hiroshi Fatima Jonas Chloé Mateo Ingrid".split()  # noqa: SIM905
LAST = "Tanaka Dupont Kim García Mensah Silva Rossi Sharma Haddad Novak Sato Benali Berg Martin López".split()  # noqa: SIM905
ORGS = ["OECD", "JILPT", "ICA", "University of Bologna", "Ministry of Labour", "City of Seoul", "Social Value UK"]
COUNTRIES = ["France", "Japan", "Korea", "Spain", "United Kingdom", "Italy", "Brazil", "Kenya", "India"]


@dataclass
class Scale:
    webinars: int = 10_000
    in_feed: int = 1_000  # public webinars starting within the feed window, upcoming ones included
    upcoming: int = 60
    registrations: int = 200_000
    crowded: int = 10_000  # registrations on the first upcoming webinar
    crowded_free_seats: int = 1_500
    subscribers: int = 100_000
    speakers: int = 3_000
    items: int = 100_000
    items_last_week: int = 700

    @classmethod
    def scaled(cls, factor: float) -> Scale:
        if factor == 1:
            return cls()
        base = cls()
        return cls(
            webinars=max(200, int(base.webinars * factor)),
            in_feed=max(100, int(base.in_feed * factor)),
            upcoming=max(20, int(base.upcoming * factor)),
            registrations=max(1000, int(base.registrations * factor)),
            crowded=max(200, int(base.crowded * factor)),
            subscribers=max(1000, int(base.subscribers * factor)),
            speakers=max(100, int(base.speakers * factor)),
            items=max(1000, int(base.items * factor)),
            items_last_week=max(50, int(base.items_last_week * factor)),
        )


@dataclass
class Prepared:
    """What the load phases need to know about the data."""

    url: str
    upcoming_slugs: list[str] = field(default_factory=list)
    # Public webinars whose pages the benchmark visits: every upcoming one and the most recent past ones.
    page_slugs: list[str] = field(default_factory=list)
    # Other public webinars, never in a measured run: what a page costs before any process keeps it.
    cold_slugs: list[str] = field(default_factory=list)
    crowded_slug: str = ""
    crowded_capacity: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def migrate(url: str) -> None:
    """Build the schema with the migrations, exactly as production does (`flask db upgrade`)."""
    from flask_migrate import upgrade

    from webinars import create_app
    from webinars.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-migrations", "MAIL_SERVER": None})
    with app.app_context(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Flask-Migrate's env.py calls get_engine()
        upgrade(directory=str(MIGRATIONS))
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    # alembic's env.py runs logging.fileConfig, which silences every logger that existed before it.
    for logger in logging.Logger.manager.loggerDict.values():
        if isinstance(logger, logging.Logger):
            logger.disabled = False


def _slugify(words: list[str]) -> str:
    return "-".join(w.lower().replace("ó", "o") for w in words)


def _chunks(rows: list[dict], size: int = 5000):
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def load(url: str, scale: Scale, *, seed: int = 7) -> Prepared:
    """Fill a freshly migrated database. Returns the slugs of upcoming webinars and row counts."""
    from sqlalchemy import create_engine

    import webinars.models as models
    from webinars.catalogue.calendars import FEED_HISTORY
    from webinars.catalogue.models import section_speakers, webinar_topics
    from webinars.content.models import UNDATED, content_item_topics, webinar_items
    from webinars.newsletter.models import subscriber_topics

    started = time.perf_counter()
    rng = random.Random(seed)
    utc = pytz.utc
    now = datetime.now(utc).replace(second=0, microsecond=0)
    today = now.replace(hour=0, minute=0)
    prepared = Prepared(url=url)

    topics = [{"id": i + 1, "slug": slug, "name": name} for i, (slug, name) in enumerate(TOPICS)]
    speakers = [
        {
            "id": i + 1,
            "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            "role": rng.choice(["Policy Analyst", "Director", "Professor", "Head of Unit", "Founder"]),
            "organisation": rng.choice(ORGS),
            "country": rng.choice(COUNTRIES),
        }
        for i in range(scale.speakers)
    ]

    webinars, w_topics, sections, s_speakers, partners, w_items = [], [], [], [], [], []
    section_id = partner_id = 0
    past_in_feed = scale.in_feed - scale.upcoming
    window_days = FEED_HISTORY.days - 5  # a margin so that none ages out during the run
    for i in range(scale.webinars):
        wid = i + 1
        if i < scale.upcoming:
            start = today + timedelta(days=1 + i * 90 / scale.upcoming, hours=8 + i % 8)
            status = "published"
        elif i < scale.in_feed:
            start = today - timedelta(days=1 + (i - scale.upcoming) * window_days / past_in_feed, hours=-(8 + i % 8))
            status = "cancelled" if i % 33 == 0 else "published"
        else:
            start = today - timedelta(days=FEED_HISTORY.days + 2 + (i - scale.in_feed) * 3300 / scale.webinars)
            start += timedelta(hours=8 + i % 8)
            status = "draft" if i % 20 == 0 else "cancelled" if i % 50 == 0 else "published"
        a, b = rng.sample(WORDS, 2)
        title_words = rng.sample(WORDS, 6)
        zone = ZONES[i % len(ZONES)]
        extra = [z for z in rng.sample(ZONES, 2) if z != zone][:1]
        webinars.append(
            {
                "id": wid,
                "slug": f"w{wid:05d}-{_slugify(title_words[:4])}",
                "ical_uid": f"{secrets.token_hex(16)}@bench.localhost",
                "title": " ".join(title_words).capitalize() + f": lessons from {rng.choice(COUNTRIES)} and beyond",
                "summary": SUMMARY.format(a=a, b=b),
                "description": DESCRIPTION.format(a=a, b=b),
                "starts_at": start,
                "timezone": zone,
                "ends_at": start + timedelta(minutes=rng.choice([60, 75, 90, 120])),
                "display_zones": " ".join([zone, *extra]),
                "location": "Online",
                "capacity": 1_000_000 if i < scale.upcoming else rng.choice([None, 300, 500]),
                "registration_deadline": None,
                "status": status,
                "join_url": f"https://meet.example.org/j/{wid}",
                "recording_url": "" if i < scale.upcoming else f"https://video.example.org/{wid}",
                "sequence": i % 3,
                "created_at": start - timedelta(days=40),
                "updated_at": start - timedelta(days=10) if start - timedelta(days=10) < now else now,
                "published_at": None if status == "draft" else min(start - timedelta(days=30), now - timedelta(days=8)),
            }
        )
        for topic in rng.sample(topics, rng.randint(1, 3)):
            w_topics.append({"webinar_id": wid, "topic_id": topic["id"]})
        for position, title in enumerate(SECTION_TITLES):
            section_id += 1
            sections.append(
                {
                    "id": section_id,
                    "webinar_id": wid,
                    "position": position,
                    "title": title,
                    "description": f"{title} on {a} and {b}, with time for questions.",
                }
            )
            for p, speaker in enumerate(rng.sample(speakers, rng.randint(0, 3))):
                s_speakers.append({"section_id": section_id, "speaker_id": speaker["id"], "position": p})
        for position in range(2):
            partner_id += 1
            partners.append(
                {
                    "id": partner_id,
                    "webinar_id": wid,
                    "position": position,
                    "name": "OECD LEED Programme" if position == 0 else rng.choice(ORGS),
                    "description": PARTNER_TEXT,
                    "url": "https://example.org/partner",
                }
            )
            # Two items each, as the old "related documents": items 1-20,000 at scale 1.
            w_items.append({"webinar_id": wid, "item_id": 2 * i + position + 1, "position": position})

    registrations = []
    for n in range(scale.registrations):
        webinar = webinars[0] if n < scale.crowded else webinars[n % scale.webinars]
        state = n % 20
        status = "cancelled" if state == 0 else "waitlisted" if state == 1 else "confirmed"
        created = webinar["starts_at"] - timedelta(days=1 + n % 30)
        created = min(created, now)
        registrations.append(
            {
                "id": n + 1,
                "webinar_id": webinar["id"],
                "email": f"attendee{n}@example.org",
                "email_key": f"attendee{n}@example.org",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "organisation": rng.choice(ORGS),
                "country": rng.choice(COUNTRIES),
                "timezone": rng.choice(ZONES),
                "status": status,
                "wants_newsletter": n % 4 == 0,
                "created_at": created,
                "confirmed_at": created if status == "confirmed" else None,
                "cancelled_at": created if status == "cancelled" else None,
                "reminder_24h_at": None,
                "reminder_1h_at": None,
            }
        )

    crowded_seats = sum(1 for r in registrations if r["webinar_id"] == 1 and r["status"] == "confirmed")
    webinars[0]["capacity"] = crowded_seats + scale.crowded_free_seats
    prepared.crowded_slug, prepared.crowded_capacity = webinars[0]["slug"], webinars[0]["capacity"]

    item_types = ("news", "article", "interview", "publication", "presentation", "video")
    labels = ("", "", "", "Spotlight Interviews with Co-operators", "Decent work", "Our impact, Their voices")
    items, i_topics = [], []
    for n in range(scale.items):
        iid = n + 1
        recent = n >= scale.items - scale.items_last_week
        published_at = now - timedelta(days=rng.uniform(0.1, 6.9)) if recent else now - timedelta(days=8 + n % 3000)
        undated, draft = n % 20 == 7, n % 33 == 5 and not recent
        a, b = rng.sample(WORDS, 2)
        items.append(
            {
                "id": iid,
                "slug": f"i{iid:06d}-{a}-{b}",
                "type": item_types[n % len(item_types)],
                "label": labels[n % len(labels)],
                "title": f"{' '.join(rng.sample(WORDS, 7)).capitalize()}: notes from {rng.choice(COUNTRIES)}",
                "published_on": None if undated else (published_at - timedelta(days=n % 3)).date(),
                "sort_date": UNDATED if undated else (published_at - timedelta(days=n % 3)).date(),
                "summary": SUMMARY.format(a=a, b=b) if n % 3 else "",
                "body": DESCRIPTION.format(a=a, b=b) if n % 10 == 0 else "",
                "external_url": f"https://example.org/items/{iid}" if n % 10 else "",
                "image_url": "",
                "image_alt": "",
                "language": "en",
                "status": "draft" if draft else "published",
                "published_at": None if draft else published_at,
                "created_at": published_at,
                "updated_at": published_at,
            }
        )
        item = items[-1]
        for topic in rng.sample(topics, rng.randint(1, 3)):
            # The listing columns are copies of the item's, as the product keeps them.
            i_topics.append(
                {
                    "item_id": iid,
                    "topic_id": topic["id"],
                    "status": item["status"],
                    "type": item["type"],
                    "sort_date": item["sort_date"],
                }
            )

    subscribers, s_topics, consents = [], [], []
    for n in range(scale.subscribers):
        joined = now - timedelta(days=1 + n % 1500, minutes=n % 1440)
        subscribers.append(
            {
                "id": n + 1,
                "email": f"subscriber{n}@example.net",
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "status": "subscribed",
                "created_at": joined,
                "confirmed_at": joined + timedelta(minutes=5),
                "unsubscribed_at": None,
                "token_version": 0,
                "timezone": ZONES[n % len(ZONES)] if n % 3 == 0 else None,
            }
        )
        for topic in rng.sample(topics, rng.randint(1, 3)):
            s_topics.append({"subscriber_id": n + 1, "topic_id": topic["id"]})
        consents.append(
            {
                "id": n + 1,
                "subscriber_id": n + 1,
                "at": joined + timedelta(minutes=5),
                "action": "confirmed",
                "source": "confirmation_link",
                "consent_text": "Send me the newsletter",
                "detail": "",
            }
        )

    tables = [
        (models.Topic.__table__, topics),
        (models.Speaker.__table__, speakers),
        (models.Webinar.__table__, webinars),
        (webinar_topics, w_topics),
        (models.AgendaSection.__table__, sections),
        (section_speakers, s_speakers),
        (models.Partner.__table__, partners),
        (models.ContentItem.__table__, items),
        (content_item_topics, i_topics),
        (webinar_items, w_items),
        (models.Registration.__table__, registrations),
        (models.Subscriber.__table__, subscribers),
        (subscriber_topics, s_topics),
        (models.ConsentEvent.__table__, consents),
    ]
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            for table, rows in tables:
                for chunk in _chunks(rows):
                    conn.execute(table.insert(), chunk)
                prepared.counts[table.name] = len(rows)
            if engine.dialect.name == "postgresql":
                # Rows came with explicit ids: move each sequence past them, or the app's inserts collide.
                for table, rows in tables:
                    if "id" in table.c and rows:
                        conn.execute(
                            text(f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), :value)"),
                            {"value": max(r["id"] for r in rows)},
                        )
        # Statistics as a database in service would have them (autovacuum on PostgreSQL).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"))
    finally:
        engine.dispose()
    prepared.upcoming_slugs = [w["slug"] for w in webinars[: scale.upcoming]]
    public = [w["slug"] for w in webinars[: scale.in_feed] if w["status"] == "published"]
    prepared.page_slugs = public[:300]
    prepared.cold_slugs = public[300:600] or public[:300]
    prepared.seconds = time.perf_counter() - started
    return prepared


def prepare(url: str, scale: Scale) -> Prepared:
    migrate(url)
    return load(url, scale)


if __name__ == "__main__":  # python -m bench.data URL [scale]: a database for bench.profile
    import sys

    done = prepare(sys.argv[1], Scale.scaled(float(sys.argv[2]) if len(sys.argv) > 2 else 1.0))
    print(f"{done.counts} in {done.seconds:.0f} s; upcoming: /webinars/{done.upcoming_slugs[0]}")
