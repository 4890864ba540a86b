"""Serve the app for real on 127.0.0.1, in a thread or in separate processes, with mail workers.

In a thread (browser tests)
    LiveServer(app).start()          werkzeug's threaded server on a free port; `.url`
    MailWorkerThread(app).start()    the outbox worker loop (run_worker) delivering to MAIL_*

In processes (scale-out and fault tests)
    gunicorn_server(config, log_dir)   `gunicorn 'tests._support.live_server:app_from_env()'`
    mail_worker(config, log_dir)       `flask --app 'tests._support.live_server:app_from_env()' mail send --loop`
    flask_command(config, *args)       any other `flask` command, run to completion

Processes build the app with the same factory as production, `webinars.create_app`, from a JSON
config passed in WEBINARS_TEST_CONFIG (see app_from_env): environment variables cover only the
documented settings, and the tests also need short leases and retry delays.

TcpProxy sits between the app and PostgreSQL so a test can make the database refuse connections
for a moment (and drop the open ones) without touching the shared test cluster.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import suppress
from pathlib import Path

from .postgres import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CONFIG_ENV = "WEBINARS_TEST_CONFIG"


# -- configuration --------------------------------------------------------------------------------


def base_test_config(database_url: str, smtp_port: int, base_url: str = "http://webinars.test") -> dict:
    """What every test app shares: its database, mail to the test SMTP server, a fixed sender."""
    return {
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BASE_URL": base_url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "MAIL_USE_TLS": False,
        "MAIL_USERNAME": None,
        "MAIL_PASSWORD": None,
        "MAIL_DEFAULT_SENDER": "Webinars <webinars@webinars.test>",
        "MAIL_RATE_LIMIT": 0,
        # Warnings and errors only: background threads (the SMTP server's, workers') log between tests.
        "LOG_LEVEL": "WARNING",
    }


def live_config(database_url: str, smtp_port: int, base_url: str, **overrides) -> dict:
    """Settings for an app that is served for real: not TESTING, mail to the test SMTP server."""
    return {**base_test_config(database_url, smtp_port, base_url), "SECRET_KEY": "live-test-secret", **overrides}


def app_from_env():
    """The application factory for subprocesses: create_app() with the JSON config from the env."""
    from webinars import create_app

    return create_app(json.loads(os.environ[CONFIG_ENV]))


# -- in a thread ----------------------------------------------------------------------------------


class LiveServer:
    """The app behind werkzeug's threaded WSGI server on 127.0.0.1 and a free port."""

    def __init__(self, app, port: int | None = None) -> None:
        self.app = app
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LiveServer:
        from werkzeug.serving import make_server

        self._server = make_server(self.host, self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="live-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


class MailWorkerThread:
    """`mail send --loop` in a thread of this process: the outbox sender's own worker loop."""

    def __init__(self, app, poll_seconds: float = 0.1) -> None:
        self.app = app
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def start(self) -> MailWorkerThread:
        self._thread = threading.Thread(target=self._run, name="mail-worker", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from webinars.outbox.sender import run_worker

        try:
            with self.app.app_context():
                run_worker(self._stop, poll_seconds=self.poll_seconds)
        except BaseException as error:  # reported by stop(), so a broken worker fails the test
            self.error = error

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        if self.error is not None:
            raise AssertionError(f"the mail worker thread failed: {self.error!r}") from self.error


# -- in processes ---------------------------------------------------------------------------------


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: SIGKILL this child when the test process dies, so that an interrupted run (timeout,
    Ctrl-C twice, OOM) leaves no server or worker behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def subprocess_env(config: dict, extra_env: dict | None = None) -> dict:
    env = dict(os.environ)
    env[CONFIG_ENV] = json.dumps(config)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("WEBINARS_ENV", None)
    # Warnings as errors are for the test process; a server that prints one must keep serving.
    env.pop("PYTHONWARNINGS", None)
    # e.g. WEBINARS_ENV=production and a real SECRET_KEY, for a process configured as production is
    env.update(extra_env or {})
    return env


class ServiceProcess:
    """A long-running child process (app server or mail worker) with its output in a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        config: dict,
        log_dir: Path,
        port: int | None = None,
        env: dict | None = None,
        scheme: str = "http",
    ) -> None:
        self.name = name
        self.argv = argv
        self.config = config
        self.port = port
        self.env = env or {}
        self.scheme = scheme
        self.log_path = Path(log_dir) / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        assert self.port is not None
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60.0, wait: bool = True) -> ServiceProcess:
        """Start the process; with a port and `wait`, return once it accepts connections."""
        self._starts += 1
        log = self.log_path.open("ab")
        log.write(f"--- start #{self._starts}: {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            self.process = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=subprocess_env(self.config, self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a signal for the test run does not reach it by accident
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        finally:
            log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until the process listens on its port (no-op for processes without one)."""
        if self.port is None:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
            with socket.socket() as probe:
                probe.settimeout(0.2)
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not listen on port {self.port} within {timeout}s:\n{self.log_tail()}")

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the process (and, for gunicorn, its workers) and wait for it to go."""
        if self.process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
        # Whatever is left in its process group (gunicorn workers) goes too.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        return self.process.returncode

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


APP_SPEC = "tests._support.live_server:app_from_env()"


def gunicorn_server(
    config: dict,
    log_dir: Path,
    name: str = "gunicorn",
    workers: int = 1,
    threads: int = 8,
    *,
    certs=None,
    env: dict | None = None,
    conf: str | None = None,
):
    """An app server process, served the way the README recommends for production (not started).

    With `certs` (tests._support.tls.Certificates) gunicorn itself speaks TLS (--certfile/--keyfile).
    `env` adds environment variables, e.g. WEBINARS_ENV=production with a real SECRET_KEY.
    `conf`: a gunicorn config (`-c`), e.g. the README's "python:webinars.gunicorn_conf".
    """
    port = free_port()
    tls = ["--certfile", str(certs.cert_file), "--keyfile", str(certs.key_file)] if certs is not None else []
    argv = [
        str(VENV_BIN / "gunicorn"),
        *(["--config", conf] if conf else []),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--graceful-timeout",
        "5",
        *([] if conf else ["--access-logfile", "-"]),
        *tls,
        APP_SPEC,
    ]
    return ServiceProcess(name, argv, config, log_dir, port=port, env=env, scheme="https" if certs else "http")


def mail_worker(
    config: dict, log_dir: Path, name: str = "mail-worker", poll: float = 0.1, env: dict | None = None
) -> ServiceProcess:
    """A `flask mail send --loop` worker process (not started)."""
    argv = [str(VENV_BIN / "flask"), "--app", APP_SPEC, "mail", "send", "--loop", "--poll", str(poll)]
    return ServiceProcess(name, argv, config, log_dir, env=env)


def flask_command(config: dict, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Run `flask --app ... <args>` to completion; raises with its output when it fails."""
    result = subprocess.run(
        [str(VENV_BIN / "flask"), "--app", APP_SPEC, *args],
        cwd=ROOT,
        env=subprocess_env(config),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise AssertionError(f"flask {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# -- a database that goes away ---------------------------------------------------------------------


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a backend; `down()` refuses new connections and cuts open ones.

    Like Toxiproxy, but only the one fault we need: to the app, the database has gone away.
    """

    def __init__(self, backend_port: int, port: int | None = None) -> None:
        self.backend = ("127.0.0.1", backend_port)
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._thread: threading.Thread | None = None
        self._selector: selectors.BaseSelector | None = None
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False

    def rewrite(self, url: str, backend_port: int) -> str:
        """`url` with the backend's port replaced by the proxy's."""
        return url.replace(f":{backend_port}/", f":{self.port}/", 1)

    def up(self) -> TcpProxy:
        with self._lock:
            if self._listener is not None:
                return self
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            listener.setblocking(False)
            self._listener = listener
        if self._thread is None:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self._wake_r, selectors.EVENT_READ, None)
            self._thread = threading.Thread(target=self._loop, name="tcp-proxy", daemon=True)
            self._thread.start()
        self._wake()
        return self

    def down(self) -> None:
        """Stop listening (connections are refused) and close every open connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        self._wake()
        time.sleep(0.05)  # let the loop unregister them before they are closed
        if listener is not None:
            listener.close()
        for a, b in pairs:
            for sock in (a, b):
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def close(self) -> None:
        self.down()
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._selector is not None:
            self._selector.close()
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        with suppress(OSError):
            self._wake_w.send(b"x")

    def _loop(self) -> None:
        selector = self._selector
        registered_listener = None
        while not self._stopping:
            with self._lock:
                listener = self._listener
                live = {s for pair in self._pairs for s in pair}
            if listener is not registered_listener:
                if registered_listener is not None:
                    with suppress(KeyError, ValueError):
                        selector.unregister(registered_listener)
                if listener is not None:
                    selector.register(listener, selectors.EVENT_READ, "accept")
                registered_listener = listener
            for key in list(selector.get_map().values()):
                if isinstance(key.data, socket.socket) and key.fileobj not in live:
                    with suppress(KeyError, ValueError):
                        selector.unregister(key.fileobj)
            for key, _ in selector.select(timeout=0.5):
                if key.fileobj is self._wake_r:
                    with suppress(OSError):
                        self._wake_r.recv(4096)
                elif key.data == "accept":
                    self._accept(key.fileobj)
                else:
                    self._pump(key.fileobj, key.data)

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            server = socket.create_connection(self.backend, timeout=5)
        except OSError:
            client.close()
            return
        client.setblocking(False)
        server.setblocking(False)
        with self._lock:
            self._pairs.append((client, server))
        self._selector.register(client, selectors.EVENT_READ, server)
        self._selector.register(server, selectors.EVENT_READ, client)

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            data = source.recv(65536)
            if data:
                target.setblocking(True)
                target.sendall(data)
                target.setblocking(False)
                return
        except OSError:
            pass
        # One side closed: close both.
        with self._lock:
            self._pairs = [p for p in self._pairs if source not in p]
        for sock in (source, target):
            with suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()


# -- campaigns for the worker tests ----------------------------------------------------------------


def seed_subscribers(count: int, domain: str = "subscribers.test") -> list[str]:
    """Insert `count` confirmed subscribers in bulk (inside an app context); returns their addresses."""
    from sqlalchemy import insert

    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter.models import Subscriber

    now = utcnow()
    addresses = [f"reader{n:05d}@{domain}" for n in range(count)]
    rows = [
        {"email": a, "name": f"Reader {n}", "status": "subscribed", "created_at": now, "confirmed_at": now}
        for n, a in enumerate(addresses)
    ]
    for start in range(0, len(rows), 1000):
        db.session.execute(insert(Subscriber), rows[start : start + 1000])
    db.session.commit()
    return addresses


def queue_campaign(subject: str = "News from the forum", body: str = "Hello **everyone**.") -> int:
    """Create and expand a campaign to every subscriber, as `newsletter send` does; returns its id."""
    from webinars.newsletter.operations import create_campaign, expand_campaign

    campaign = create_campaign(subject, body, [], created_by="tests")
    expand_campaign(campaign)
    return campaign.id


def outbox_counts() -> dict[str, int]:
    """Outbox rows per status, read in a fresh transaction."""
    from sqlalchemy import func, select

    from webinars.extensions import db
    from webinars.outbox.models import OutboxMessage

    db.session.rollback()
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    db.session.rollback()
    return {status: count for status, count in rows}


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Poll `predicate` until it returns something truthy; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
