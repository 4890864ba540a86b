"""Column types and helpers shared by every model."""

from datetime import datetime
from functools import lru_cache

import pytz
from sqlalchemy import DateTime, TypeDecorator, bindparam, func, select, text

from .addresses import delivery_address
from .extensions import db

# Ids are PostgreSQL integers: a larger number in a URL, a token or a command names no row (and would
# overflow the driver), so it is refused before any query.
MAX_ID = 2**31 - 1


def parse_id(text: str | None) -> int | None:
    """The id written in `text` (digits only, 1 to MAX_ID), or None."""
    if not text or not text.isascii() or not text.isdigit() or len(text) > 10:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def mailbox_key(address: str) -> str:
    """The mailbox an address names, for comparing: the domain in its ASCII form (the address rule,
    webinars/addresses.py) and everything case-folded, so that marie@bücher.example and
    marie@xn--bcher-kva.example are one address, and Ana.Lima@, ana.lima@, Élise@ and élise@ too
    (mailboxes are case-insensitive in practice). Python folds every script; SQL's lower() does not."""
    return delivery_address((address or "").strip()).casefold()


def same_address(a: str | None, b: str | None) -> bool:
    """Whether two spellings name the same mailbox (mailbox_key), for a person asking about their data."""
    return bool(a) and bool(b) and mailbox_key(a) == mailbox_key(b)


def address_condition(column, email: str):
    """An SQL condition true for every stored spelling of `email`, to narrow with same_address().

    ASCII addresses compare with lower() on both databases. SQLite's lower() leaves other letters as
    they are, so for an address with any, the condition is every address at the same domain."""
    email = delivery_address((email or "").strip())
    if email.isascii():
        return func.lower(column) == email.lower()
    domain = email.rsplit("@", 1)[-1].lower()
    pattern = "%@" + domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(column).like(pattern, escape="\\") | (column == email)


def utcnow() -> datetime:
    """The current instant, aware, in UTC (never the machine's local time)."""
    return datetime.now(pytz.utc)


class UTCDateTime(TypeDecorator):
    """Stores an aware datetime as naive UTC and hands back an aware UTC datetime.

    Naive values are refused: an instant without a zone is a bug waiting to happen.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given where an aware instant is required")
        return value.astimezone(pytz.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return pytz.utc.localize(value)


def lock_for_update(table_name: str, row_id: int) -> None:
    """Serialise writers on one row until the transaction ends.

    PostgreSQL takes a row lock. SQLite has one writer at a time: a no-op UPDATE as the
    first write makes the driver BEGIN and take the write lock before anything is read.
    """
    bind = db.session.get_bind()
    if bind.dialect.name == "postgresql":
        db.session.execute(text(f"SELECT id FROM {table_name} WHERE id = :id FOR UPDATE"), {"id": row_id})
    else:
        db.session.execute(text(f"UPDATE {table_name} SET id = id WHERE id = :id"), {"id": row_id})


def lock_and_load(model, row_id: int, *columns, params: dict | None = None):
    """Lock one row as lock_for_update() does and load it as it is now, in as few statements as each
    database allows. Returns (object or None if the row is gone, *values of `columns`, with their
    bound parameters from `params`).

    The identity map's copy is overwritten (populate_existing), so no refresh() is needed. The
    `columns` (say, scalar subqueries counting related rows) see every write committed before the
    lock was granted: on PostgreSQL they run as a second statement, because in READ COMMITTED a
    statement's snapshot is taken before it waits for the row lock; on SQLite they ride along with
    the reload, which comes after the no-op UPDATE that made the driver BEGIN and take the write lock.
    """
    dialect = db.session.get_bind().dialect.name
    lock, reload, read = _lock_statements(model, columns, dialect)
    params = {**(params or {}), "lock_id": row_id}
    if dialect == "postgresql":
        obj = db.session.scalars(lock, params).one_or_none()
        values = tuple(db.session.execute(read, params).one()) if columns and obj is not None else ()
        return (obj, *(values or (None,) * len(columns)))
    # The driver BEGINs before the first write, which takes SQLite's write lock: a transaction that has
    # written already holds it (a registration counted against its client's limit), so the no-op
    # UPDATE (a page written to the WAL) would add nothing.
    if not db.session.connection().connection.dbapi_connection.in_transaction:
        db.session.execute(lock, params)
    row = db.session.execute(reload, params).one_or_none()
    return tuple(row) if row is not None else (None,) * (1 + len(columns))


@lru_cache(maxsize=32)
def _lock_statements(model, columns: tuple, dialect: str):
    """lock_and_load()'s statements, built once per model, columns and database kind (registrations
    run them on every request): (lock, reload with the columns, the columns alone)."""
    query = select(model).where(model.id == bindparam("lock_id")).execution_options(populate_existing=True)
    if dialect == "postgresql":
        return query.with_for_update(), None, select(*columns) if columns else None
    lock = text(f"UPDATE {model.__tablename__} SET id = id WHERE id = :lock_id")
    return lock, query.add_columns(*columns), None


_engine_events_configured = False


def configure_engine_events() -> None:
    """SQLite settings every connection needs: foreign keys, WAL for readers beside a writer,
    and a busy timeout so that concurrent writers queue instead of failing."""
    global _engine_events_configured
    if _engine_events_configured:
        return
    import sqlite3

    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    @event.listens_for(Engine, "connect")
    def _sqlite_pragmas(dbapi_connection, connection_record):
        if isinstance(dbapi_connection, sqlite3.Connection):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA busy_timeout = 30000")
            cursor.close()

    _engine_events_configured = True
