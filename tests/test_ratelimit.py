"""Rate-limit counters in the database, and the mail worker's pruning of old ones."""

from datetime import timedelta

from sqlalchemy import func, select

from webinars import ratelimit
from webinars.database import utcnow
from webinars.extensions import db
from webinars.outbox import sender
from webinars.ratelimit import RateLimitHit


def test_allow_counts_within_the_window_only(app):
    now = utcnow()
    with app.app_context():
        assert ratelimit.allow("login", "a@example.org", 2, timedelta(minutes=15), now)
        assert ratelimit.allow("login", "a@example.org", 2, timedelta(minutes=15), now)
        assert not ratelimit.allow("login", "a@example.org", 2, timedelta(minutes=15), now)
        assert ratelimit.allow("login", "a@example.org", 2, timedelta(minutes=15), now + timedelta(minutes=16))


def test_worker_housekeeping_forgets_hits_older_than_any_window(app):
    now = utcnow()
    with app.app_context():
        db.session.add_all(
            [
                RateLimitHit(bucket="login", key="old", at=now - timedelta(days=2)),
                RateLimitHit(bucket="login", key="recent", at=now - timedelta(hours=2)),
            ]
        )
        db.session.commit()
        sender._housekeeping()
        keys = set(db.session.scalars(select(RateLimitHit.key)))
        assert keys == {"recent"}
        assert db.session.scalar(select(func.count(RateLimitHit.id))) == 1
