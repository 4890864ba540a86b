"""Rate limits kept in the database, so that every app server and worker shares them.

Two kinds, each decided by ONE statement that changes a row and returns the outcome, so a limit
holds under parallel requests on PostgreSQL (the upsert takes the row's lock) and SQLite (one
writer at a time), where counting and then inserting let 18 of 40 parallel tries through a limit of 5:

- fixed-window counters (`check`, `allow`): `INSERT ... ON CONFLICT (bucket, key, window_start)
  DO UPDATE SET hits = hits + 1 RETURNING hits`. Windows are aligned on the epoch (an hourly limit
  resets on the hour), so a burst across a boundary may reach twice the limit within one window's
  length, never more.
- growing delays (`attempt`): one row per key with the number of attempts and the instant before
  which no further attempt is accepted; the conditional upsert only counts an attempt that is
  allowed, and sets the next delay in the same statement.

Statements run in the caller's transaction: the caller commits (views that throttle a client
commit at once, so that the attempt counts whatever happens next and no lock is held meanwhile).
Keys that are a person's address are the normalised address itself, so `forget(address)` erases them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import pytz
from sqlalchemy import Integer, String, bindparam, case, delete, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, mapped_column

from .addresses import lookup_key
from .database import UTCDateTime, utcnow
from .extensions import db

KEY_LENGTH = 300


class RateLimitCounter(db.Model):
    """Hits of one key in one fixed window of one bucket (say "registration-client", an IP address)."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True, index=True)  # index: pruning
    hits: Mapped[int] = mapped_column(Integer)


class RateLimitBackoff(db.Model):
    """Attempts of one key with growing delays between them (say a sign-in from one client for one address)."""

    __tablename__ = "rate_limit_backoffs"

    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(KEY_LENGTH), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime)  # no attempt is accepted before this instant
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    count: int  # hits in this window (counters) or attempts so far (backoffs), this one included if allowed
    retry_after: int = 0  # whole seconds until another try can succeed (0 when allowed)


def _insert():
    return pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _key(key: str) -> str:
    return (key or "")[:KEY_LENGTH]


def window_start(window: timedelta, now: datetime) -> datetime:
    """The start of the fixed window of length `window` that contains `now` (windows aligned on the epoch)."""
    seconds = max(1, int(window.total_seconds()))
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start, pytz.utc)


@lru_cache(maxsize=4)
def _count_hit(dialect: str):
    # Built once per database kind (registrations and emails count on every request): only the values change.
    table = RateLimitCounter.__table__
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (
        insert(table)
        .values(bucket=bindparam("bucket"), key=bindparam("key"), window_start=bindparam("start"), hits=1)
        .on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.key, table.c.window_start], set_={"hits": table.c.hits + 1}
        )
        .returning(table.c.hits)
    )


def check(bucket: str, key: str, limit: int, window: timedelta, now: datetime | None = None) -> Verdict:
    """Count one hit of `key` and say whether it stays within `limit` hits per fixed `window`.

    Refused hits count too (the counter only grows within a window); a new window starts from zero.
    """
    now = now or utcnow()
    start = window_start(window, now)
    statement = _count_hit(db.session.get_bind().dialect.name)
    hits = db.session.execute(statement, {"bucket": bucket, "key": _key(key), "start": start}).scalar_one()
    if hits <= limit:
        return Verdict(True, hits)
    retry_after = (start + window - now).total_seconds()
    return Verdict(False, hits, max(1, int(retry_after + 0.999)))


def hits(bucket: str, key: str, window: timedelta, now: datetime | None = None) -> int:
    """How many hits `key` has in the current window, without counting one (a cheap look before work
    that check() will count; check() alone decides)."""
    start = window_start(window, now or utcnow())
    found = db.session.execute(
        select(RateLimitCounter.hits).where(
            RateLimitCounter.bucket == bucket, RateLimitCounter.key == _key(key), RateLimitCounter.window_start == start
        )
    ).scalar()
    return found or 0


def allow(bucket: str, key: str, limit: int, window: timedelta, now: datetime | None = None) -> bool:
    """check(...).allowed."""
    return check(bucket, key, limit, window, now).allowed


def undo(bucket: str, key: str, window: timedelta, now: datetime | None = None) -> None:
    """Take back one hit counted by check() in the current window (say a sign-in that succeeded)."""
    now = now or utcnow()
    table = RateLimitCounter.__table__
    db.session.execute(
        table.update()
        .where(
            table.c.bucket == bucket,
            table.c.key == _key(key),
            table.c.window_start == window_start(window, now),
            table.c.hits > 0,
        )
        .values(hits=table.c.hits - 1)
    )


def delays(free: int, first: timedelta, longest: timedelta) -> list[timedelta]:
    """A schedule for attempt(): `free` attempts without delay, then `first`, doubling up to `longest`."""
    schedule = [timedelta(0)] * max(0, free - 1)
    step = first
    while step < longest:
        schedule.append(step)
        step *= 2
    schedule.append(longest)
    return schedule


# The not_before of an attempt that leaves no delay: any instant before every clock reading will do.
NO_DELAY = datetime(2000, 1, 1, tzinfo=pytz.utc)


def attempt(
    bucket: str, key: str, schedule: Sequence[timedelta], *, forget_after: timedelta, now: datetime | None = None
) -> Verdict:
    """Record one attempt of `key` if its delay has passed; refused attempts change nothing.

    After the n-th attempt the next one is accepted from `schedule[n-1]` later (the last entry
    repeats). A key left alone for `forget_after` starts again from its first attempt.
    """
    now = now or utcnow()
    table = RateLimitBackoff.__table__
    fresh = table.c.last_at < now - forget_after

    def after(delay: timedelta) -> datetime:
        # No delay means "at once" for everyone: not this request's clock, which a parallel request that
        # read the clock a moment earlier would see as the future (and be refused a free attempt).
        return now + delay if delay else NO_DELAY

    attempts = case((fresh, 1), else_=table.c.attempts + 1)
    # The delay after this attempt, as an instant: a CASE over the schedule, so that it is set in the same statement.
    last = len(schedule) - 1
    not_before = case(
        *((attempts == n + 1, literal(after(delay), UTCDateTime)) for n, delay in enumerate(schedule[:last])),
        else_=literal(after(schedule[last]), UTCDateTime),
    )
    statement = (
        _insert()(table)
        .values(bucket=bucket, key=_key(key), attempts=1, not_before=after(schedule[0]), last_at=now)
        .on_conflict_do_update(
            index_elements=[table.c.bucket, table.c.key],
            set_={"attempts": attempts, "not_before": not_before, "last_at": now},
            where=or_(table.c.not_before <= now, fresh),
        )
        .returning(table.c.attempts)
    )
    done = db.session.execute(statement).scalar_one_or_none()
    if done is not None:
        return Verdict(True, done)
    row = db.session.execute(
        select(table.c.attempts, table.c.not_before).where(table.c.bucket == bucket, table.c.key == _key(key))
    ).one_or_none()
    if row is None:  # cleared in between: the next try will do
        return Verdict(False, 0, 1)
    return Verdict(False, row.attempts, max(1, int((row.not_before - now).total_seconds() + 0.999)))


def clear(bucket: str, key: str) -> None:
    """Forget one key's counters and attempts in one bucket (say after a successful sign-in)."""
    for model in (RateLimitCounter, RateLimitBackoff):
        db.session.execute(delete(model).where(model.bucket == bucket, model.key == _key(key)))


def forget(key: str) -> int:
    """Forget every counter and attempt of a key in every bucket (erasure of a person's address)."""
    removed = 0
    for model in (RateLimitCounter, RateLimitBackoff):
        removed += db.session.execute(delete(model).where(model.key == _key(key))).rowcount or 0
    return removed


def prune(older_than: timedelta, now: datetime | None = None) -> int:
    """Delete counters whose window ended, and attempts last seen, more than `older_than` ago."""
    now = now or utcnow()
    cutoff = now - older_than
    removed = db.session.execute(delete(RateLimitCounter).where(RateLimitCounter.window_start < cutoff)).rowcount
    removed += db.session.execute(delete(RateLimitBackoff).where(RateLimitBackoff.last_at < cutoff)).rowcount
    return removed or 0


# Longer than any window: counters older than this are no use to anyone.
HISTORY = timedelta(days=1)


def forget_stale(now: datetime | None = None) -> int:
    """Forget counters older than any rate-limit window, so that the table stays small (the mail
    worker's housekeeping)."""
    return prune(HISTORY, now)


def _address_keys(model, address: str):
    # An address is stored as its normalised self, alone or first in a composite key ("address client").
    key = _key(lookup_key(address))
    prefix = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + " %"
    return or_(model.key == key, model.key.like(prefix, escape="\\"))


def records_for_address(address: str) -> list[dict]:
    """Every counter and attempt kept under an address, in any bucket (a person's data, for export)."""
    records = []
    for row in db.session.scalars(select(RateLimitCounter).where(_address_keys(RateLimitCounter, address))):
        records.append({"bucket": row.bucket, "window_start": row.window_start.isoformat(), "hits": row.hits})
    for row in db.session.scalars(select(RateLimitBackoff).where(_address_keys(RateLimitBackoff, address))):
        records.append({"bucket": row.bucket, "last_at": row.last_at.isoformat(), "attempts": row.attempts})
    return records


def forget_address(address: str) -> int:
    """Forget every counter and attempt kept under an address, alone or with a client (erasure)."""
    removed = 0
    for model in (RateLimitCounter, RateLimitBackoff):
        statement = delete(model).where(_address_keys(model, address)).execution_options(synchronize_session=False)
        removed += db.session.execute(statement).rowcount or 0
    return removed
