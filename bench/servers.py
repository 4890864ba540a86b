"""The processes a benchmark run starts: PostgreSQL, gunicorn, the SMTP sink; and their CPU use."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests._support.postgres import PostgresCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# The production command the README recommends (`gunicorn -w 4 --threads 2`, i.e. the gthread
# worker): two processes per core, so that a worker waiting on the database never leaves a core
# idle, and two threads each. Override with --workers/--threads/--worker-class to compare.
GUNICORN_WORKERS = 4
GUNICORN_THREADS = 2


GUNICORN_CLASS = "gthread"
# gthread workers accept connections until they hold this many: with it at (connections / workers), the
# load generator's keep-alive connections are spread evenly instead of piling onto whichever worker
# accepted first. The same for the product and the baseline (run.py sets it from --connections).
GUNICORN_WORKER_CONNECTIONS = 1000


def gunicorn_args(
    port: int,
    workers: int = GUNICORN_WORKERS,
    threads: int = GUNICORN_THREADS,
    worker_class: str = GUNICORN_CLASS,
    worker_connections: int = GUNICORN_WORKER_CONNECTIONS,
) -> list[str]:
    return [
        str(VENV_BIN / "gunicorn"),
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--threads",
        str(threads),
        "--worker-connections",
        str(worker_connections),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
        "--keep-alive",
        "5",
        "--timeout",
        "60",
        "--graceful-timeout",
        "10",
        "--log-level",
        "warning",
    ]


class BenchCluster(PostgresCluster):
    """The tests' throwaway cluster, but with PostgreSQL's durable defaults (fsync and synchronous
    commit on), as in production, and memory sized for a 24 GB machine."""

    start_timeout_seconds = 60

    def server_settings(self) -> dict:
        settings = super().server_settings()
        for name in ("fsync", "synchronous_commit", "full_page_writes"):
            del settings[name]  # back to PostgreSQL's durable defaults
        settings.update(
            {
                "shared_buffers": "1GB",
                "effective_cache_size": "8GB",
                "work_mem": "16MB",
                "maintenance_work_mem": "256MB",
                "max_wal_size": "4GB",
            }
        )
        return settings

    def pids(self) -> list[int]:
        """The postmaster and its backends."""
        try:
            postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return []
        return tree(postmaster)


# -- CPU accounting ------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree(root: int) -> list[int]:
    """root and all its descendants."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))):
            parents[int(entry)] = stat[0]
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, ppid in parents.items() if ppid in frontier]
        found += frontier
    return found


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    out = {}
    for pid in pids:
        if stat := _stat(pid):
            out[pid] = stat[1]
    return out


class CpuMeter:
    """CPU seconds used by groups of processes between start() and stop() (processes that exit
    in between are not counted)."""

    def __init__(self, groups: dict[str, callable]):
        self.groups = groups
        self.before: dict[str, dict[int, float]] = {}
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()
        self.before = {name: cpu_seconds(get()) for name, get in self.groups.items()}

    def stop(self) -> dict[str, float]:
        """Cores used on average per group, e.g. {'app': 1.62, 'postgres': 0.21}."""
        wall = time.perf_counter() - self.started
        used = {}
        for name, get in self.groups.items():
            after = cpu_seconds(get())
            before = self.before.get(name, {})
            used[name] = round(sum(after[p] - before.get(p, 0.0) for p in after) / wall, 2) if wall else 0.0
        return used


# -- servers -------------------------------------------------------------------------------------


def wait_for_port(port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class Gunicorn:
    """`gunicorn <settings> <app>` in its own process group; stop() ends it and its workers."""

    def __init__(self, app_spec: str, env: dict[str, str], log_path: Path, **settings):
        self.port = free_port()
        self.app_spec = app_spec
        self.env = env
        self.log_path = log_path
        self.settings = settings
        self.proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [*gunicorn_args(self.port, **self.settings), self.app_spec]

    def start(self, ready_path: str = "/") -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
            deadline = time.monotonic() + 60
            while True:  # every worker imports the app; wait until one answers
                try:
                    with urllib.request.urlopen(self.base + ready_path, timeout=30) as response:
                        response.read()
                        break
                except OSError:
                    if time.monotonic() > deadline or self.proc.poll() is not None:
                        raise
                    time.sleep(0.2)
        except BaseException:
            self.stop()  # never leave a server behind
            raise

    def pids(self) -> list[int]:
        return tree(self.proc.pid) if self.proc and self.proc.poll() is None else []

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()
        self.proc = None


class Sink:
    """bench.sink in its own process."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.stats_path = workdir / f"sink-{self.port}.stats"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.sink", "--port", str(self.port), "--stats", str(self.stats_path)],
            cwd=ROOT,
            start_new_session=True,
        )
        wait_for_port(self.port, proc=self.proc)

    def stats(self) -> tuple[int, int, float]:
        """(messages, bytes, cpu seconds) so far."""
        try:
            messages, size, cpu, _ = self.stats_path.read_text().split()
        except (OSError, ValueError):
            return 0, 0, 0.0
        return int(messages), int(size), float(cpu)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
