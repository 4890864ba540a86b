"""`make bench`: prepare SQLite and PostgreSQL, serve with gunicorn, load from wrk, print one table.

    .venv/bin/python -m bench [--databases sqlite,postgresql] [--duration 10] [--only pages,feed,...]

Every figure is a ratio against a bare baseline measured in the same run, on the same database
and gunicorn settings. Results go to bench/results/<timestamp>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

from . import bare_app, data, load, mail
from .servers import (
    GUNICORN_CLASS,
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    ROOT,
    BenchCluster,
    CpuMeter,
    Gunicorn,
    gunicorn_args,
)

RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent / "results")
PHASES = ("campaign", "digest", "pages", "topic", "feed", "registration")
TARGETS = {"page": 0.60, "registration": 0.50, "feed_304_ms": 5.0, "campaign": 1.0, "campaign_mb": 150.0}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def machine() -> dict:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "os": Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "",
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def git_state() -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    if commit := os.environ.get("BENCH_COMMIT"):  # a --snapshot run: an export of that commit
        return {"commit": commit, "product_files_uncommitted": 0}
    dirty = git("status", "--porcelain", "--", "webinars", "templates", "migrations", "config.py")
    return {"commit": git("rev-parse", "--short", "HEAD"), "product_files_uncommitted": len(dirty.splitlines())}


# -- phases ------------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace, workdir: Path, outdir: Path):
        self.args = args
        self.workdir = workdir
        self.outdir = outdir
        self.secret = secrets.token_hex(32)

    def env(self, url: str, base: str = "http://127.0.0.1:8000") -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            WEBINARS_ENV="production",
            SECRET_KEY=self.secret,
            DATABASE_URL=url,
            BASE_URL=base,
            PYTHONPATH=str(ROOT),
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT="9",  # queued only: nothing sends during the page and registration phases
        )
        env.pop("FLASK_DEBUG", None)
        return env

    def wrk(self, url: str, meter, script: Path | None = None) -> load.WrkResult:
        a = self.args
        if a.warmup:
            load.run_wrk(url, connections=a.connections, seconds=a.warmup, script=script)
        return load.run_wrk(url, connections=a.connections, seconds=a.duration, script=script, meter=meter)

    def meter(self, server: Gunicorn, cluster: BenchCluster | None) -> CpuMeter:
        groups = {"app": server.pids}
        if cluster:
            groups["postgres"] = cluster.pids
        return CpuMeter(groups)

    def count(self, url: str, sql: str, **params) -> int:
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return conn.execute(text(sql), params).scalar_one()
        finally:
            engine.dispose()

    def posts(self, server, url, meter, *, bare: bool, targets, sessions, table: str) -> dict:
        """wrk POSTs with unique emails; the rate counted from rows actually stored."""
        a = self.args
        tag = secrets.token_hex(3)
        warm = load.post_script(
            self.workdir / f"warm-{tag}.lua", targets=targets, sessions=sessions, prefix=f"warm{tag}-", bare=bare
        )
        real = load.post_script(
            self.workdir / f"post-{tag}.lua", targets=targets, sessions=sessions, prefix=f"bench{tag}-", bare=bare
        )
        if a.warmup:
            load.run_wrk(server.base + "/", connections=a.connections, seconds=a.warmup, script=warm)
        outbox_before = 0 if bare else self.count(url, "SELECT count(*) FROM outbox_messages")
        result = load.run_wrk(
            server.base + "/", connections=a.connections, seconds=a.duration, script=real, meter=meter
        )
        stored = self.count(url, f"SELECT count(*) FROM {table} WHERE email LIKE :p", p=f"bench{tag}-%")
        out = {**_wrk_dict(result), "stored": stored, "stored_per_s": stored / result.seconds if result.seconds else 0}
        if not bare:
            out["outbox_rows"] = self.count(url, "SELECT count(*) FROM outbox_messages") - outbox_before
        return out

    def database(self, kind: str) -> dict:
        a = self.args
        result: dict = {"database": kind}
        cluster = None
        if kind == "postgresql":
            cluster = BenchCluster()
            cluster.start()
            url = cluster.create_database("bench")
        else:
            url = f"sqlite:///{self.workdir / 'bench.sqlite3'}"
        try:
            log(f"{kind}: migrating and loading data (scale {a.scale})")
            prepared = data.prepare(url, data.Scale.scaled(a.scale))
            result["data"] = {"seconds": round(prepared.seconds, 1), "rows": prepared.counts}
            bare_app.create_table(url)
            feed_events = self.count(
                url,
                "SELECT count(*) FROM webinars WHERE status IN ('published', 'cancelled') AND starts_at >= :cut",
                cut=_feed_cutoff(),
            )
            result["data"]["feed_events"] = feed_events
            log(f"{kind}: data ready in {prepared.seconds:.0f} s; {feed_events} events in the feed window")

            if "campaign" in a.only:
                why_not = mail.available()
                if why_not:
                    result["campaign"] = {"skipped": why_not}
                else:
                    log(f"{kind}: campaign to {prepared.counts.get('subscribers')} subscribers")
                    campaign = mail.measure(
                        url,
                        self.env(url),
                        self.workdir,
                        bare_seconds=a.bare_mail_seconds,
                        timeout=a.campaign_timeout,
                    )
                    result["campaign"] = dataclasses.asdict(campaign)
                    log(f"{kind}: campaign {campaign.rate:.0f} msg/s vs bare {campaign.bare_rate:.0f} msg/s")

            if "digest" in a.only:
                log(f"{kind}: digest of the last 7 days to {prepared.counts.get('subscribers')} subscribers")
                campaign_rate = (result.get("campaign") or {}).get("rate")
                digest = mail.measure_digest(
                    url, self.env(url), self.workdir, timeout=a.campaign_timeout, campaign_rate=campaign_rate
                )
                result["digest"] = dataclasses.asdict(digest)
                log(f"{kind}: digest {digest.rate:.0f} msg/s vs campaign {digest.campaign_rate:.0f} msg/s")

            # Both servers run side by side (an idle one costs no CPU), so that each product figure is
            # measured right after its baseline: on a shared machine the background load drifts.
            bare = Gunicorn(
                "bench.wsgi:bare()", self.env(url), self.outdir / f"gunicorn-bare-{kind}.log", **_server_settings(a)
            )
            product = Gunicorn(
                "bench.wsgi:product()",
                self.env(url),
                self.outdir / f"gunicorn-product-{kind}.log",
                **_server_settings(a),
            )
            product.env["BASE_URL"] = f"http://127.0.0.1:{product.port}"
            try:
                bare.start("/")
                product.start("/webinars/" + prepared.upcoming_slugs[0])
                if "feed" in a.only:
                    log(f"{kind}: /calendar.ics")
                    result["feed"] = self.feed(product)
                if "pages" in a.only:
                    script = load.rotate_script(
                        self.workdir / "webinars.lua", ["/webinars/" + s for s in prepared.upcoming_slugs]
                    )
                    for key, label, script_ in (
                        ("catalogue", "catalogue page", None),
                        ("webinar", "webinar pages", script),
                    ):
                        log(f"{kind}: bare page, then {label}")
                        result[f"bare_page_{key}"] = _wrk_dict(self.wrk(bare.base + "/", self.meter(bare, cluster)))
                        result[key] = _wrk_dict(self.wrk(product.base + "/", self.meter(product, cluster), script_))
                if "topic" in a.only:
                    script = load.rotate_script(self.workdir / "topics.lua", topic_paths())
                    log(f"{kind}: bare page, then topic pages")
                    result["bare_page_topic"] = _wrk_dict(self.wrk(bare.base + "/", self.meter(bare, cluster)))
                    result["topic"] = _wrk_dict(self.wrk(product.base + "/", self.meter(product, cluster), script))
                if "registration" in a.only:
                    log(f"{kind}: bare insert, then registrations")
                    result["bare_insert"] = self.posts(
                        bare,
                        url,
                        self.meter(bare, cluster),
                        bare=True,
                        targets=["/insert"],
                        sessions=[],
                        table="bench_bare_rows",
                    )
                    result["registration"] = self.registration(product, url, cluster, prepared)
            finally:
                product.stop()
                bare.stop()
        finally:
            if cluster:
                cluster.stop()
        return result

    def feed(self, server: Gunicorn) -> dict:
        client = load.Client(server.port)
        try:
            full = [client.request("GET", "/calendar.ics") for _ in range(self.args.feed_full)]
            first = full[0]
            if first.status != 200:
                return {"error": f"/calendar.ics answered {first.status}"}
            etag = first.headers["ETag"]
            revalidations = [
                client.request("GET", "/calendar.ics", {"If-None-Match": etag})
                for _ in range(self.args.feed_revalidations)
            ]
        finally:
            client.close()
        statuses = sorted({r.status for r in revalidations})
        return {
            "events": first.body.count(b"BEGIN:VEVENT"),
            "bytes": len(first.body),
            "first_client_ms": round(first.client_ms, 1),
            "first_server_ms": first.server_ms,
            "full_client_ms": load.summary([r.client_ms for r in full[1:]]),
            "full_server_ms": load.summary([r.server_ms for r in full[1:]]),
            "revalidation_statuses": statuses,
            "revalidation_client_ms": load.summary([r.client_ms for r in revalidations]),
            "revalidation_server_ms": load.summary([r.server_ms for r in revalidations]),
        }

    def registration(self, server: Gunicorn, url: str, cluster, prepared: data.Prepared) -> dict:
        sessions, targets = [], []
        try:
            for i in range(self.args.connections):
                slug = prepared.upcoming_slugs[i % len(prepared.upcoming_slugs)]
                cookie, token, action = load.form_session(server.port, f"/webinars/{slug}")
                sessions.append((cookie, token))
                targets.append(action)
        except RuntimeError as error:
            return {"skipped": f"no registration form yet ({error})"}
        log(f"registration POSTs to {len(set(targets))} webinars with {len(sessions)} sessions")
        return self.posts(
            server,
            url,
            self.meter(server, cluster),
            bare=False,
            targets=targets,
            sessions=sessions,
            table="registrations",
        )


def topic_paths(seed: int = 11) -> list[str]:
    """What visitors of topic pages vary: the topic, the type filter and the page (mostly the first
    pages, sometimes deep ones), shuffled: 12 topics x 7 type choices x 25 pages = 2,100 addresses,
    eight times more than any per-process page cache holds."""
    import random

    pages = [*range(1, 21), 30, 50, 100, 200, 400]
    types = ["", "news", "article", "interview", "publication", "presentation", "video"]
    paths = []
    for slug, _ in data.TOPICS:
        for item_type in types:
            for page in pages:
                query = "&".join(part for part in (f"type={item_type}" if item_type else "", f"page={page}") if part)
                paths.append(f"/topics/{slug}?{query}")
    random.Random(seed).shuffle(paths)
    return paths


def _server_settings(args) -> dict:
    return {"workers": args.workers, "threads": args.threads, "worker_class": args.worker_class}


def _feed_cutoff():
    from webinars.catalogue.calendars import feed_cutoff
    from webinars.database import utcnow

    return feed_cutoff(utcnow()).replace(tzinfo=None)


def _wrk_dict(result: load.WrkResult) -> dict:
    out = dataclasses.asdict(result)
    out.pop("output")
    out["loadavg"] = loadavg()  # other work on the machine shows here
    return out


# -- the table -----------------------------------------------------------------------------------


def _ratio(value: float | None, base: float | None) -> float | None:
    if not value or not base:
        return None
    return value / base


def _cpu_ms(run: dict) -> str:
    """CPU the app's processes spent per request: robust to other load on the machine, unlike req/s."""
    requests = run.get("stored") or run.get("requests")
    if not requests:
        return "?"
    return f"{run['cpu'].get('app', 0) * run['seconds'] * 1000 / requests:.1f}"


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def rows_for(result: dict) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) lines for one database."""
    rows = []
    for key, label in (
        ("catalogue", "catalogue page /"),
        ("webinar", "webinar page"),
        ("topic", "topic page, rotating ?page= ?type="),
    ):
        page, bare = result.get(key), result.get(f"bare_page_{key}")
        if not page or not bare:
            continue
        r = _ratio(page["rps"], bare["rps"])
        p = _ratio(bare["p99_ms"], page["p99_ms"])
        rows.append(
            (
                f"{label}: req/s (bare page)",
                f"{page['rps']:.1f} ({bare['rps']:.1f}) = {r:.0%}" if r is not None else f"{page['rps']:.1f}",
                _mark(r >= TARGETS["page"] if r is not None else None),
            )
        )
        rows.append(
            (
                f"{label}: p99 ms (bare page)",
                f"{page['p99_ms']:.0f} ({bare['p99_ms']:.0f}) = {p:.0%}" if p is not None else "",
                _mark(p >= TARGETS["page"] if p is not None else None),
            )
        )
        rows.append((f"{label}: app CPU ms/request (bare page)", f"{_cpu_ms(page)} ({_cpu_ms(bare)})", ""))
    reg, ins = result.get("registration") or {}, result.get("bare_insert") or {}
    if reg.get("skipped"):
        rows.append(("registration POST: stored/s", reg["skipped"][:60], "n/a"))
    elif reg and ins:
        r = _ratio(reg["stored_per_s"], ins["stored_per_s"])
        rows.append(
            (
                "registration POST: stored/s (bare insert)",
                f"{reg['stored_per_s']:.1f} ({ins['stored_per_s']:.1f}) = {r:.0%}" if r is not None else "0",
                _mark(r >= TARGETS["registration"] if r is not None else False),
            )
        )
        rows.append(
            (
                "registration POST: p99 ms (bare insert)",
                f"{reg['p99_ms']:.0f} ({ins['p99_ms']:.0f}); {reg['errors']} errors, "
                f"{reg.get('outbox_rows', 0)} outbox rows",
                "",
            )
        )
        rows.append(("registration POST: app CPU ms/request (bare insert)", f"{_cpu_ms(reg)} ({_cpu_ms(ins)})", ""))
    feed = result.get("feed") or {}
    if feed and "error" not in feed:
        rows.append(
            (
                f"/calendar.ics, {feed['events']} events: first 200",
                f"{feed['first_client_ms']:.0f} ms client, {feed['first_server_ms']:.0f} ms server; "
                f"then median {feed['full_server_ms']['median']:.0f} ms",
                "",
            )
        )
        server = feed["revalidation_server_ms"]
        rows.append(
            (
                "/calendar.ics revalidation 304: server ms",
                f"median {server['median']:.2f}, p99 {server['p99']:.2f} "
                f"(client {feed['revalidation_client_ms']['median']:.2f})",
                _mark(server["median"] < TARGETS["feed_304_ms"]),
            )
        )
    camp = result.get("campaign") or {}
    if camp.get("skipped"):
        rows.append(("campaign: msg/s", camp["skipped"][:60], "n/a"))
    elif camp:
        r = _ratio(camp["rate"], camp["bare_rate"])
        done = "" if camp["complete"] else f", stopped at {camp['sent']}"
        rows.append(
            (
                f"campaign to {camp['recipients']}: msg/s (bare loop)",
                f"{camp['rate']:.0f} ({camp['bare_rate']:.0f}) = {r:.0%}{done}" if r is not None else "0",
                _mark(r >= TARGETS["campaign"] if r is not None else False),
            )
        )
        peak = max(camp["peak_mb"]) if camp["peak_mb"] else 0
        rows.append(
            (
                "campaign: sender peak RSS MB (bare loop)",
                f"{' + '.join(f'{m:.0f}' for m in camp['peak_mb'])} ({camp['bare_maxrss_mb']:.0f})",
                _mark(peak < TARGETS["campaign_mb"]),
            )
        )
    digest = result.get("digest") or {}
    if digest:
        per_process, campaign = digest["rate"] / digest["processes"], digest["campaign_rate"] / digest["processes"]
        done = "" if digest["complete"] else f", stopped at {digest['sent']}"
        rows.append(
            (
                f"digest to {digest['recipients']} of {digest['subscribers']}: msg/s per sender (campaign's)",
                f"{per_process:.0f} ({campaign:.0f}) = {per_process / campaign:.0%}{done}" if campaign else "0",
                _mark(per_process >= campaign * TARGETS["campaign"] if campaign else False),
            )
        )
        peak = max(digest["peak_mb"]) if digest["peak_mb"] else 0
        rows.append(
            (
                f"digest: expansion s, sender peak RSS MB ({digest['items']} items, {digest['webinars']} webinars)",
                f"{digest['expand_seconds']:.1f} s; {' + '.join(f'{m:.0f}' for m in digest['peak_mb'])} MB",
                _mark(peak < TARGETS["campaign_mb"]),
            )
        )
    return rows


def table(results: list[dict]) -> str:
    per_db = {r["database"]: rows_for(r) for r in results}
    labels: list[str] = []
    for rows in per_db.values():
        for label, _, _ in rows:
            if label not in labels:
                labels.append(label)
    header = ["figure", *[f"{db}" for db in per_db], *[f"{db} target" for db in per_db]]
    lines = [header]
    for label in labels:
        values, verdicts = [], []
        for rows in per_db.values():
            found = next((r for r in rows if r[0] == label), None)
            values.append(found[1] if found else "")
            verdicts.append(found[2] if found else "")
        lines.append([label, *values, *verdicts])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        out.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |")
        if n == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def _run_snapshot(argv: list[str] | None) -> int:
    """Re-run this command in an export of HEAD: others' half-written files never reach the servers."""
    import sys

    target = Path(tempfile.mkdtemp(prefix="webinars-bench-head-", dir="/var/tmp"))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
        rest = [arg for arg in (argv if argv is not None else sys.argv[1:]) if arg != "--snapshot"]
        env = dict(os.environ, BENCH_RESULTS=str(RESULTS), PYTHONPATH=str(target), BENCH_COMMIT=commit.stdout.strip())
        return subprocess.run([sys.executable, "-m", "bench", *rest], cwd=target, env=env).returncode
    finally:
        shutil.rmtree(target, ignore_errors=True)


def _interrupted(signum, frame):
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--only", default=",".join(PHASES), help=f"any of {','.join(PHASES)}")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per figure")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (1 = the full data set)")
    parser.add_argument("--feed-full", type=int, default=6, help="full /calendar.ics requests")
    parser.add_argument("--feed-revalidations", type=int, default=300)
    parser.add_argument("--bare-mail-seconds", type=float, default=15.0)
    parser.add_argument("--campaign-timeout", type=float, default=180.0, help="stop the senders after this")
    parser.add_argument("--workers", type=int, default=GUNICORN_WORKERS)
    parser.add_argument("--threads", type=int, default=GUNICORN_THREADS)
    parser.add_argument("--worker-class", default=GUNICORN_CLASS)
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="measure the committed HEAD (git archive into a temporary directory), not the working tree",
    )
    args = parser.parse_args(argv)
    if args.snapshot:
        return _run_snapshot(argv)
    args.only = {p.strip() for p in args.only.split(",") if p.strip()}
    # Stopped with SIGTERM (or SIGINT when started in the background): unwind, so that every
    # server, sink and PostgreSQL cluster started so far is stopped by the finally blocks.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupted)

    load.wrk_path()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    outdir = RESULTS / stamp
    outdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="webinars-bench-", dir="/var/tmp"))
    started = time.perf_counter()
    meta = {
        "started": stamp,
        "machine": machine(),
        "git": git_state(),
        "gunicorn": " ".join(gunicorn_args(0, **_server_settings(args))[1:]).replace("127.0.0.1:0", "..."),
        "args": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items()},
        "loadavg_start": loadavg(),
    }
    if meta["loadavg_start"] > 1.5:
        log(f"warning: load average {meta['loadavg_start']} - other work on this machine skews every figure")
    log(f"results in {outdir}; gunicorn {meta['gunicorn']}")
    results = []
    run = Run(args, workdir, outdir)
    try:
        for kind in [d.strip() for d in args.databases.split(",") if d.strip()]:
            results.append(run.database(kind))
            (outdir / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = loadavg()
    meta["seconds"] = round(time.perf_counter() - started)
    text = table(results)
    (outdir / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2, default=str))
    (outdir / "table.md").write_text(text + "\n")
    m = meta["machine"]
    print()
    print(
        f"{m['nproc']} cores, {m['cpu']}, {m['memory_gb']} GB; commit {meta['git']['commit']}"
        f" (+{meta['git']['product_files_uncommitted']} uncommitted product files); "
        f"load average {meta['loadavg_start']} -> {meta['loadavg_end']}; {meta['seconds']} s"
    )
    print(
        f"gunicorn {meta['gunicorn']}; wrk 1 thread, {args.connections} connections, {args.duration:.0f} s per figure"
    )
    print(text)
    return 0
