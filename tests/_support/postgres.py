"""A throwaway PostgreSQL cluster for the test session.

The cluster lives in a temporary directory, listens on a free TCP port on 127.0.0.1 and trusts
every local connection. It trades durability for speed (fsync=off): a crash loses it, which is the
point. As root, the server runs as the unprivileged `postgres` user because initdb refuses root.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"

# Safe to interpolate into SQL after this check; names come from the tests themselves.
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be started here; the message says why and what to install."""


def find_bindir() -> Path:
    """The directory holding initdb and pg_ctl, newest major version first.

    WEBINARS_PG_BINDIR overrides the search.
    """
    if override := os.environ.get("WEBINARS_PG_BINDIR"):
        if (Path(override) / "initdb").is_file() and (Path(override) / "pg_ctl").is_file():
            return Path(override)
        raise PostgresUnavailable(f"WEBINARS_PG_BINDIR={override} holds no initdb and pg_ctl")
    candidates: list[str] = []

    def major(path: str) -> int:
        version = Path(path).parent.name
        return int(version) if version.isdigit() else 0

    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    if initdb := shutil.which("initdb"):
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if (Path(candidate) / "initdb").is_file() and (Path(candidate) / "pg_ctl").is_file():
            return Path(candidate)
    raise PostgresUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install the Debian package "
        "`postgresql` (scripts/ensure-system-deps does it as root) or set WEBINARS_PG_BINDIR"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresCluster:
    """One initdb'd data directory and the server running on it."""

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or find_bindir()
        self.port: int | None = None
        self.basedir: Path | None = None
        self._running = False
        self._owner: pwd.struct_passwd | None = None
        if os.geteuid() == 0:
            try:
                self._owner = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable(
                    "running as root and there is no `postgres` system user to run the server as "
                    "(initdb refuses root); install the `postgresql` package"
                ) from None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self, attempts: int = 3) -> None:
        """initdb then start the server; retries on another port if the chosen one got taken."""
        # Not under pytest's tmp dir: that one is private to root and the server user must enter it.
        self.basedir = Path(tempfile.mkdtemp(prefix="webinars-pg-"))
        if self._owner:
            os.chown(self.basedir, self._owner.pw_uid, self._owner.pw_gid)
        self._run(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
            "--no-instructions",
        )
        error: Exception | None = None
        for _ in range(attempts):
            self.port = free_port()
            try:
                self._pg_ctl_start()
            except PostgresUnavailable as exc:
                error = exc
                continue
            self._running = True
            return
        raise PostgresUnavailable(f"PostgreSQL did not start after {attempts} attempts: {error}")

    def server_settings(self) -> dict:
        """`-c` settings for the server; a subclass (the benchmark's) changes what it needs."""
        return {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": self.basedir,
            # Speed over durability: the cluster is thrown away at the end of the session.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            # Tests open threads, subprocesses and one pool per app.
            "max_connections": 200,
            "shared_buffers": "32MB",
            "max_wal_size": "1GB",
            "timezone": "UTC",
            "log_min_messages": "warning",
        }

    start_timeout_seconds = 30

    def _pg_ctl_start(self) -> None:
        options = " ".join(f"-c {name}={value}" for name, value in self.server_settings().items())
        self._run(
            "pg_ctl",
            "start",
            "--pgdata",
            str(self.datadir),
            "--wait",
            "--timeout",
            str(self.start_timeout_seconds),
            "--log",
            str(self.logfile),
            "--options",
            options,
        )

    def stop(self) -> None:
        """Stop the server and delete its files; safe to call twice."""
        if self._running:
            self._running = False
            # immediate: nothing to flush that we would keep.
            self._run("pg_ctl", "stop", "--pgdata", str(self.datadir), "--mode", "immediate", "--wait", check=False)
        if self.basedir is not None:
            shutil.rmtree(self.basedir, ignore_errors=True)
            self.basedir = None

    # -- databases ------------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of a database on this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """The libpq connection string of a database on this cluster (for psycopg directly)."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={dbname}"

    def connect(self, dbname: str = "postgres") -> psycopg.Connection:
        """An autocommit psycopg connection; close it (use `with`)."""
        return psycopg.connect(self.dsn(dbname), autocommit=True)

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (optionally a copy of `template`) and return its SQLAlchemy URL."""
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_checked(name)))
        if template:
            query = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(_checked(name)), sql.Identifier(_checked(template))
            )
        with self.connect() as conn:
            conn.execute(query)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still in it (threads a test left behind)."""
        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(_checked(name))))

    # -- internals ------------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "data"

    @property
    def logfile(self) -> Path:
        assert self.basedir is not None
        return self.basedir / "server.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        command = [str(self.bindir / program), *args]
        if self._owner:
            command = [
                "setpriv",
                f"--reuid={self._owner.pw_uid}",
                f"--regid={self._owner.pw_gid}",
                "--init-groups",
                "--",
                *command,
            ]
        # The server inherits our cwd; root's may be unreadable to the postgres user.
        result = subprocess.run(command, capture_output=True, text=True, cwd=self.basedir, stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise PostgresUnavailable(
                f"{program} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
                f"\n--- server log ---\n{self.log_tail()}"
            )


def _checked(name: str) -> str:
    if not _DB_NAME.match(name):
        raise ValueError(f"unexpected database name {name!r}")
    return name


# Cheap enough to run after every test: changes when a table, column, index or the alembic revision does.
_SCHEMA_FINGERPRINT = """
SELECT md5(coalesce(string_agg(c.relname || '.' || a.attname || ':' || a.atttypid::text, ','
                               ORDER BY c.relname, a.attnum), '')
           || '|' || coalesce((SELECT string_agg(version_num, ',') FROM public.alembic_version), ''))
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
"""

SEED_SCHEMA = "_test_seed"


class DatabasePool:
    """Migrated databases handed out one per app fixture and wiped, not recreated, between tests.

    Copying a template database costs ~0.2-0.5 s on PostgreSQL; deleting a handful of rows costs
    milliseconds. Each database keeps a copy of the rows the migrations inserted (schema
    `_test_seed`) and its sequences' positions, so a wiped database equals a freshly migrated one.
    A test that changes the schema (downgrade, DDL) gets its database dropped instead of reused.
    """

    def __init__(self, cluster: PostgresCluster, template: str) -> None:
        self.cluster = cluster
        self.template = template
        self._free: list[str] = []
        self._reset_sql: dict[str, str] = {}
        self._fingerprint: str | None = None
        self._count = 0

    def acquire(self) -> str:
        """The name of a clean, migrated database nobody else is using."""
        if self._free:
            name = self._free.pop()
            with self.cluster.connect(name) as conn:
                conn.execute(self._reset_sql[name])
            return name
        self._count += 1
        name = f"{self.template}_{self._count}"
        self.cluster.create_database(name, template=self.template)
        with self.cluster.connect(name) as conn:
            self._reset_sql[name] = _prepare_reset(conn)
            fingerprint = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0]
        self._fingerprint = self._fingerprint or fingerprint
        return name

    def release(self, name: str) -> None:
        """Give the database back; it is wiped when next acquired."""
        # Terminate whatever a test left connected (threads, subprocesses) so the wipe never waits.
        with self.cluster.connect(name) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            unchanged = conn.execute(_SCHEMA_FINGERPRINT).fetchone()[0] == self._fingerprint
        if unchanged:
            self._free.append(name)
        else:
            self.cluster.drop_database(name)
            del self._reset_sql[name]


def _prepare_reset(conn: psycopg.Connection) -> str:
    """Snapshot seed rows and sequence positions; return the SQL that restores exactly that."""
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )
    ]
    conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SEED_SCHEMA)))
    seeded = []
    for table in tables:
        name = sql.Identifier(table)
        if conn.execute(sql.SQL("SELECT EXISTS (SELECT FROM public.{})").format(name)).fetchone()[0]:
            conn.execute(
                sql.SQL("CREATE TABLE {}.{} AS TABLE public.{}").format(sql.Identifier(SEED_SCHEMA), name, name)
            )
            seeded.append(table)
    sequences = conn.execute(
        "SELECT schemaname, sequencename, coalesce(last_value, start_value), last_value IS NOT NULL "
        "FROM pg_sequences WHERE schemaname = 'public'"
    ).fetchall()

    # replica mode skips foreign-key triggers, so the order of the deletes does not matter.
    parts = [sql.SQL("BEGIN; SET LOCAL session_replication_role = replica")]
    parts += [sql.SQL("DELETE FROM public.{}").format(sql.Identifier(t)) for t in tables]
    parts += [
        sql.SQL("INSERT INTO public.{} OVERRIDING SYSTEM VALUE SELECT * FROM {}.{}").format(
            sql.Identifier(t), sql.Identifier(SEED_SCHEMA), sql.Identifier(t)
        )
        for t in seeded
    ]
    if sequences:
        parts.append(
            sql.SQL("SELECT {}").format(
                sql.SQL(", ").join(
                    sql.SQL("setval({}, {}, {})").format(
                        sql.Literal(f'"{schema}"."{seq}"'), sql.Literal(value), sql.Literal(called)
                    )
                    for schema, seq, value, called in sequences
                )
            )
        )
    parts.append(sql.SQL("COMMIT"))
    return sql.SQL("; ").join(parts).as_string(conn)
