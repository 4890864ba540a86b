"""The campaign figure: the product's sender (two `flask --app webinars mail send` processes) against
a bare smtplib loop, both delivering to the same aiosmtpd sink."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from .servers import ROOT, VENV_BIN, Sink

SUBJECT = "Webinars this month: co-operatives, skills and the green transition"
BODY = """Dear reader,

This month we look at **worker co-operatives** in Japan and Europe, the skills that the green
transition asks of local labour markets, and new evidence on social enterprises in rural areas.

## Coming up

- *Worker co-operatives across continents* - policy and practice from Japan and beyond
- *Platform co-operatives* - building good jobs and great places
- *Skills for the green transition* - what regions can do now

Each webinar is free; registration takes a minute and you receive a calendar invitation.
[See the full programme](https://example.org/webinars) and share it with colleagues.

With best wishes,
The Local Development Forum team
"""


@dataclass
class CampaignResult:
    recipients: int = 0
    expand_seconds: float = 0.0
    bare_sent: int = 0
    bare_seconds: float = 0.0
    bare_rate: float = 0.0
    bare_maxrss_mb: float = 0.0
    single_sent: int = 0  # one sending process alone, as the bare loop is
    single_seconds: float = 0.0
    single_rate: float = 0.0
    sent: int = 0  # then `processes` at once
    seconds: float = 0.0
    rate: float = 0.0
    per_process: list[float] = field(default_factory=list)  # msg/s of each of them
    complete: bool = False
    peak_mb: list[float] = field(default_factory=list)
    sink_received: int = 0
    sink_cores: float = 0.0
    note: str = ""


def available() -> str | None:
    """None when the product has campaigns and a renderer for them; otherwise why not."""
    try:
        from webinars.newsletter import campaigns  # noqa: F401
        from webinars.newsletter.operations import create_campaign, expand_campaign  # noqa: F401
    except ImportError as error:
        return f"campaigns not in the product yet ({error})"
    return None


def create_and_expand(url: str) -> tuple[int, int, float]:
    """(campaign id, recipients, seconds to expand) through the product's own operations."""
    from webinars import create_app
    from webinars.extensions import db
    from webinars.newsletter.operations import create_campaign, expand_campaign

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-campaign", "BASE_URL": "http://127.0.0.1"})
    with app.app_context():
        campaign = create_campaign(SUBJECT, BODY, [], created_by="bench")
        db.session.commit()
        started = time.perf_counter()
        added = expand_campaign(campaign)
        seconds = time.perf_counter() - started
        campaign_id = campaign.id
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return campaign_id, added, seconds


def _sent(url: str, campaign_id: int) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text("SELECT count(*) FROM outbox_messages WHERE campaign_id = :c AND status = 'sent'"),
                {"c": campaign_id},
            ).scalar_one()
    finally:
        engine.dispose()


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident memory of a live process (VmHWM), in MiB; 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")), 0.0)


def run_bare(url: str, campaign_id: int, sink: Sink, seconds: float) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.bare_mailer",
            "--db",
            url,
            "--campaign",
            str(campaign_id),
            "--port",
            str(sink.port),
            "--seconds",
            str(seconds),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_product(env: dict[str, str], processes: int, timeout: float) -> tuple[float, list[float], bool, str]:
    """Start `processes` senders at once; (seconds until all exit, peak RSS MB each, finished, log)."""
    command = [str(VENV_BIN / "flask"), "--app", "webinars", "mail", "send"]
    started = time.perf_counter()
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for _ in range(processes)
    ]
    # VmHWM, sampled until exit: getrusage's ru_maxrss would also count the parent's memory at
    # fork time, which Linux carries across exec.
    peaks: dict[int, float] = {proc.pid: 0.0 for proc in procs}
    exited: set[int] = set()
    finished = True
    while len(exited) < len(procs):
        for proc in procs:
            if proc.pid in exited:
                continue
            peaks[proc.pid] = max(peaks[proc.pid], vm_hwm_mb(proc.pid))
            pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                exited.add(proc.pid)
        if time.perf_counter() - started > timeout and finished:
            finished = False
            for proc in procs:
                if proc.pid not in exited:
                    proc.send_signal(signal.SIGTERM)
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    log = "".join((proc.stdout.read() or b"").decode(errors="replace") for proc in procs)
    for proc in procs:
        proc.stdout.close()
    return seconds, [round(peaks[p.pid], 1) for p in procs], finished, log


def _sent_per_process(url: str, campaign_id: int) -> dict[str, int]:
    """Rows each sending process marked sent (a worker's id is in claimed_by)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT claimed_by, count(*) FROM outbox_messages WHERE campaign_id = :c AND status = 'sent'"
                    " GROUP BY claimed_by"
                ),
                {"c": campaign_id},
            )
            return dict(rows.all())
    finally:
        engine.dispose()


def measure(
    url: str,
    env: dict[str, str],
    workdir,
    *,
    bare_seconds: float,
    single_seconds: float,
    timeout: float,
    processes: int = 2,
):
    """One campaign run: a new campaign to every subscriber; the bare loop (one process) on it for
    `bare_seconds`; one sending process alone for `single_seconds` (the per-process figure, against the
    bare loop); then `processes` senders at once until it is sent or `timeout` passed (the total)."""
    result = CampaignResult()
    _abandon_queued(url)  # what an earlier run left queued is not this run's
    campaign_id, result.recipients, result.expand_seconds = create_and_expand(url)
    sink = Sink(workdir)
    sink.start()
    try:
        bare = run_bare(url, campaign_id, sink, bare_seconds)
        result.bare_sent, result.bare_seconds = bare["sent"], bare["seconds"]
        result.bare_rate = bare["sent"] / bare["seconds"]
        result.bare_maxrss_mb = round(bare["vmhwm_kb"] / 1024, 1)

        env = dict(env, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port))
        result.single_seconds, single_peak, _, _ = run_product(env, 1, single_seconds)
        result.single_sent = _sent(url, campaign_id)
        result.single_rate = result.single_sent / result.single_seconds
        single = set(_sent_per_process(url, campaign_id))

        time.sleep(0.6)  # the sink writes its counters twice a second: let the last ones land
        received_before, _, cpu_before = sink.stats()
        result.seconds, result.peak_mb, result.complete, log = run_product(env, processes, timeout)
        result.peak_mb = [max(single_peak[0], result.peak_mb[0]), *result.peak_mb[1:]]
        time.sleep(0.6)  # the sink writes its counters twice a second
        received_after, _, cpu_after = sink.stats()
        result.sink_received = received_after - received_before
        result.sink_cores = round((cpu_after - cpu_before) / result.seconds, 2)
        result.sent = _sent(url, campaign_id) - result.single_sent
        result.rate = result.sent / result.seconds
        # The single sender's rows are not this stage's: its claimed_by names its own process.
        stage = {worker: n for worker, n in _sent_per_process(url, campaign_id).items() if worker not in single}
        result.per_process = sorted((round(n / result.seconds, 1) for n in stage.values()), reverse=True)
        result.note = log.strip()[-500:]
    finally:
        sink.stop()
    return result


@dataclass
class DigestResult:
    subscribers: int = 0
    recipients: int = 0
    items: int = 0
    webinars: int = 0
    expand_seconds: float = 0.0
    sent: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    processes: int = 2
    complete: bool = False
    peak_mb: list[float] = field(default_factory=list)
    campaign_rate: float = 0.0  # msg/s of the campaign's senders, same processes, same machine
    campaign_measured_here: bool = False
    note: str = ""


def _abandon_queued(url: str) -> None:
    """Rows a stopped earlier phase left queued would be claimed first: take them out of the run."""
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE outbox_messages SET status = 'failed', last_error = 'bench: left by an earlier phase'"
                    " WHERE status IN ('queued', 'sending')"
                )
            )
    finally:
        engine.dispose()


def create_and_expand_digest(url: str, days: float = 7.0) -> tuple[int, dict, float]:
    """(digest id, its counts, seconds to expand) through the product's own operations: the digest of
    the last `days` days."""
    from datetime import timedelta

    from webinars import create_app
    from webinars.database import utcnow
    from webinars.extensions import db
    from webinars.newsletter import digest as digests

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-digest", "BASE_URL": "http://127.0.0.1"})
    with app.app_context():
        now = utcnow()
        start, end = digests.next_period(now, now - timedelta(days=days))
        plan = digests.make_plan(start, end)
        digest = digests.create_digest(plan, created_by="bench")
        db.session.commit()
        started = time.perf_counter()
        digests.expand_digest(digest)
        seconds = time.perf_counter() - started
        counts = {
            "recipients": digest.recipients_count,
            "subscribers": digest.considered_count,
            "items": len(plan.items),
            "webinars": len(plan.webinars),
        }
        digest_id = digest.id
        db.session.remove()
        for engine in db.engines.values():
            engine.dispose()
    return digest_id, counts, seconds


def _sent_rows(url: str, column: str, row_id: int) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                text(f"SELECT count(*) FROM outbox_messages WHERE {column} = :c AND status = 'sent'"), {"c": row_id}
            ).scalar_one()
    finally:
        engine.dispose()


def measure_digest(
    url: str, env: dict[str, str], workdir, *, timeout: float, campaign_rate: float | None, processes: int = 2
) -> DigestResult:
    """The digest to every subscriber with something new, sent by `processes` senders, against the
    campaign's rate with the same senders (from the campaign phase, or measured here for `timeout`)."""
    result = DigestResult(processes=processes)
    sink = Sink(workdir)
    sink.start()
    try:
        env = dict(env, MAIL_SERVER="127.0.0.1", MAIL_PORT=str(sink.port))
        if campaign_rate is None:
            _abandon_queued(url)
            campaign_id, _, _ = create_and_expand(url)
            seconds, _, _, _ = run_product(env, processes, timeout)
            campaign_rate = _sent_rows(url, "campaign_id", campaign_id) / seconds
            result.campaign_measured_here = True
        result.campaign_rate = campaign_rate
        _abandon_queued(url)
        digest_id, counts, result.expand_seconds = create_and_expand_digest(url)
        result.recipients, result.subscribers = counts["recipients"], counts["subscribers"]
        result.items, result.webinars = counts["items"], counts["webinars"]
        result.seconds, result.peak_mb, result.complete, log = run_product(env, processes, timeout)
        result.sent = _sent_rows(url, "digest_id", digest_id)
        result.rate = result.sent / result.seconds
        result.note = log.strip()[-500:]
    finally:
        sink.stop()
    return result
