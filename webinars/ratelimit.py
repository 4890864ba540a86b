"""Fixed-window counters kept in the database, so that several app servers share them."""

from datetime import datetime, timedelta

from sqlalchemy import Index, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from .database import UTCDateTime, utcnow
from .extensions import db


class RateLimitHit(db.Model):
    __tablename__ = "rate_limit_hits"
    __table_args__ = (Index("ix_rate_limit_hits_bucket_key_at", "bucket", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40))  # e.g. "login", "newsletter-email"
    key: Mapped[str] = mapped_column(String(300))  # an address, an IP, ...
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def recent_hits(bucket: str, key: str, window: timedelta, now: datetime | None = None) -> int:
    now = now or utcnow()
    return db.session.scalar(
        select(func.count(RateLimitHit.id)).where(
            RateLimitHit.bucket == bucket, RateLimitHit.key == key, RateLimitHit.at > now - window
        )
    )


def allow(bucket: str, key: str, limit: int, window: timedelta, now: datetime | None = None) -> bool:
    """Record one hit and say whether it stays within `limit` hits per `window`.

    Refused hits are not recorded, so a client that keeps trying is let back in when the
    window has passed. The caller's transaction commits the hit.
    """
    now = now or utcnow()
    if recent_hits(bucket, key, window, now) >= limit:
        return False
    db.session.add(RateLimitHit(bucket=bucket, key=key, at=now))
    return True


def clear(bucket: str, key: str) -> None:
    db.session.execute(delete(RateLimitHit).where(RateLimitHit.bucket == bucket, RateLimitHit.key == key))


def prune(older_than: timedelta, now: datetime | None = None) -> int:
    now = now or utcnow()
    result = db.session.execute(delete(RateLimitHit).where(RateLimitHit.at < now - older_than))
    return result.rowcount or 0
