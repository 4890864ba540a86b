"""`make bench`: prepare SQLite and PostgreSQL, serve with gunicorn, load from wrk, print one table.

    .venv/bin/python -m bench [--databases sqlite,postgresql] [--duration 10] [--runs 3] [--only pages,...]

Every figure is measured against a bare baseline in the same run, on the same database and with the
same gunicorn settings, at least three times (bare and product in turn), and reported as the median
and the range of the runs. Results go to bench/results/<timestamp>/ (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
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
PHASES = ("campaign", "digest", "pages", "topic", "calendars", "registration")
TARGETS = {
    "page": 0.60,  # req/s of a page, at least this share of the bare page's
    "p99": 2.0,  # p99 at most this many times the bare page's
    "registration": 0.50,  # stored/s, at least this share of the bare insert's
    "calendar": 0.60,  # 200 answers of calendar files, share of the bare page's req/s
    "feed_event_ms": 0.3,  # cold feed build, server ms per event
    "revalidation_ms": 5.0,  # 304 answers, server ms at p99
    "campaign": 1.5,  # msg/s per sending process, times the bare loop's (one process)
    "campaign_mb": 150.0,  # peak RSS per sending process
    "digest": 1.0,  # digest msg/s per sender, times the campaign's per sender
}
# The catalogue as visitors vary it: a zone remembered from ?tz= and a page of the archive.
CATALOGUE_ZONES = 50
CATALOGUE_PAGES = 10


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


def catalogue_paths(seed: int = 5) -> list[str]:
    """`CATALOGUE_ZONES` zones (from pytz's common ones) x `CATALOGUE_PAGES` archive pages, shuffled."""
    import pytz

    zones = [zone for zone in pytz.common_timezones if "/" in zone]
    chosen = random.Random(seed).sample(zones, CATALOGUE_ZONES)
    paths = [f"/?tz={zone}&page={page}" for zone in chosen for page in range(1, CATALOGUE_PAGES + 1)]
    random.Random(seed).shuffle(paths)
    return paths


def topic_paths(seed: int = 11) -> list[str]:
    """What visitors of topic pages vary: the topic, the type filter and the page (mostly the first
    pages, sometimes deep ones), shuffled: 12 topics x 7 type choices x 25 pages = 2,100 addresses,
    eight times more than any per-process page cache holds."""
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
            # Every request of the load generator comes from 127.0.0.1: the per-client limit (60 posts per
            # 10 minutes, for an office behind one NAT) would answer 429 after the first minute.
            REGISTRATIONS_PER_CLIENT="100000000",
        )
        env.pop("FLASK_DEBUG", None)
        return env

    def script(self, name: str, paths: list[str]) -> Path:
        return load.rotate_script(self.workdir / f"{name}.lua", paths)

    def wrk(self, url: str, meter, script: Path | None = None) -> dict:
        a = self.args
        if a.warmup:
            load.run_wrk(url, connections=a.connections, seconds=a.warmup, script=script)
        return _wrk_dict(load.run_wrk(url, connections=a.connections, seconds=a.duration, script=script, meter=meter))

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

    def pairs(self, bare, product, cluster, *, bare_path="/", bare_script=None, path="/", script=None) -> dict:
        """`runs` times the bare page then the product (in turn, so that drift in the machine's load
        touches both alike)."""
        # A script even for one address: it counts the answers per worker.
        bare_script = bare_script or self.script(f"bare{bare_path.replace('/', '-')}", [bare_path])
        script = script or self.script(f"product{path.replace('/', '-').replace('.', '-')}", [path])
        runs: dict[str, list] = {"bare": [], "product": []}
        for _ in range(self.args.runs):
            runs["bare"].append(self.wrk(bare.base + bare_path, self.meter(bare, cluster), bare_script))
            runs["product"].append(self.wrk(product.base + path, self.meter(product, cluster), script))
        return runs

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
                result["campaign"] = self.campaign(url, prepared)
            if "digest" in a.only:
                result["digest"] = self.digest(url, prepared, result.get("campaign"))

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
                if "pages" in a.only:
                    result.update(self.pages(bare, product, cluster, prepared))
                if "topic" in a.only:
                    log(f"{kind}: bare page, then topic pages ({a.runs} runs)")
                    result["topic"] = self.pairs(bare, product, cluster, script=self.script("topics", topic_paths()))
                if "calendars" in a.only:
                    result.update(self.calendars(bare, product, cluster, prepared, url, kind))
                if "registration" in a.only:
                    result.update(self.registrations(bare, product, url, cluster, prepared))
            finally:
                product.stop()
                bare.stop()
        finally:
            if cluster:
                cluster.stop()
        return result

    # -- pages -----------------------------------------------------------------------------------

    def cold_cost(self, server, paths: list[str]) -> dict:
        """What a page costs before a process keeps it: every worker of `server` answers each of `paths`
        once (see load.prime). `paths` are never requested by a measured run, so that this warms
        nothing the run then reads: the measured runs render their own pages (the first run pays
        it, as a site does after a deploy; later runs find what a site in service keeps)."""
        return load.prime(server.port, paths, self.args.connections)

    def pages(self, bare, product, cluster, prepared: data.Prepared) -> dict:
        out = {}
        paths = catalogue_paths()
        catalogue = self.script("catalogue", paths)
        log(f"catalogue at {len(paths)} addresses, against the bare page ({self.args.runs} runs)")
        # The cost of a catalogue page not yet kept: archive pages beyond those the runs ask for, one
        # address each (a page is kept once for every zone).
        zones = [path.split("tz=")[1].split("&")[0] for path in paths]
        first = CATALOGUE_PAGES + 1
        cold = self.cold_cost(product, [f"/?tz={zones[n]}&page={first + n}" for n in range(2 * CATALOGUE_PAGES)])
        out["catalogue"] = self.pairs(bare, product, cluster, bare_script=catalogue, script=catalogue)
        out["catalogue"]["primed"] = cold
        slugs = prepared.page_slugs
        log(f"webinar pages of {len(slugs)} webinars, against the bare single-item page ({self.args.runs} runs)")
        pages = [f"/webinars/{slug}" for slug in slugs]
        cold = self.cold_cost(product, [f"/webinars/{slug}" for slug in prepared.cold_slugs])
        out["webinar"] = self.pairs(
            bare,
            product,
            cluster,
            bare_script=self.script("items", [f"/item/{slug}" for slug in slugs]),
            script=self.script("webinars", pages),
        )
        out["webinar"]["primed"] = cold
        client = load.Client(product.port)
        bare_client = load.Client(bare.port)
        try:
            out["webinar"]["bytes"] = len(client.request("GET", f"/webinars/{slugs[0]}").body)
            out["webinar"]["bare_bytes"] = len(bare_client.request("GET", f"/item/{slugs[0]}").body)
        finally:
            client.close()
            bare_client.close()
        return out

    # -- calendars -------------------------------------------------------------------------------

    def calendars(self, bare, product, cluster, prepared: data.Prepared, url: str, kind: str) -> dict:
        a = self.args
        out: dict = {"cold_feed": []}
        log(f"cold /calendar.ics: a fresh product server, its first request ({a.runs} runs)")
        for run in range(a.runs):
            fresh = Gunicorn(
                "bench.wsgi:product()",
                self.env(url),
                self.outdir / f"gunicorn-cold-{kind}-{run}.log",
                **_server_settings(a),
            )
            fresh.env["BASE_URL"] = product.env["BASE_URL"]  # the same addresses in the file
            try:
                fresh.start("/time-zones.json")
                client = load.Client(fresh.port)
                try:
                    first = client.request("GET", "/calendar.ics")
                finally:
                    client.close()
            finally:
                fresh.stop()
            events = first.body.count(b"BEGIN:VEVENT")
            out["cold_feed"].append(
                {"events": events, "server_ms": first.server_ms, "bytes": len(first.body), "status": first.status}
            )
        log(f"/calendar.ics and /webinars/<slug>.ics: 200 answers against the bare page ({a.runs} runs)")
        # Calendar clients ask for gzip (Google's, Apple's and Outlook's fetchers do); so does this.
        feed = load.rotate_script(self.workdir / "feed.lua", ["/calendar.ics"], {"Accept-Encoding": "gzip"})
        out["feed"] = self.pairs(bare, product, cluster, script=feed)
        slugs = prepared.page_slugs
        downloads = [f"/webinars/{slug}.ics" for slug in slugs]
        cold = self.cold_cost(product, [f"/webinars/{slug}.ics" for slug in prepared.cold_slugs])
        out["download"] = self.pairs(bare, product, cluster, script=self.script("downloads", downloads))
        out["download"]["primed"] = cold
        log("revalidation: 304 answers, server time")
        out["revalidation"] = [self.revalidations(product, slugs) for _ in range(a.runs)]
        return out

    def revalidations(self, server, slugs: list[str]) -> dict:
        client = load.Client(server.port)
        try:
            feed = client.request("GET", "/calendar.ics")
            feed_answers = [
                client.request("GET", "/calendar.ics", {"If-None-Match": feed.headers["ETag"]})
                for _ in range(self.args.revalidations)
            ]
            etags = {slug: client.request("GET", f"/webinars/{slug}.ics").headers["ETag"] for slug in slugs}
            download_answers = [
                client.request("GET", f"/webinars/{slug}.ics", {"If-None-Match": etags[slug]})
                for slug in (slugs * (1 + self.args.revalidations // len(slugs)))[: self.args.revalidations]
            ]
        finally:
            client.close()
        return {
            "feed_statuses": sorted({r.status for r in feed_answers}),
            "feed_server_ms": load.summary([r.server_ms for r in feed_answers]),
            "download_statuses": sorted({r.status for r in download_answers}),
            "download_server_ms": load.summary([r.server_ms for r in download_answers]),
        }

    # -- registrations ---------------------------------------------------------------------------

    def registrations(self, bare, product, url: str, cluster, prepared: data.Prepared) -> dict:
        a = self.args
        out: dict = {}
        spread = [prepared.upcoming_slugs[1 + i % (len(prepared.upcoming_slugs) - 1)] for i in range(a.connections)]
        crowded = [prepared.crowded_slug] * a.connections
        for key, slugs, what in (
            ("registration", spread, f"spread over {len(set(spread))} webinars"),
            ("registration_crowded", crowded, "on one webinar with 10,000 registrations"),
        ):
            try:
                sessions, targets = [], []
                for slug in slugs:
                    cookie, token, action = load.form_session(product.port, f"/webinars/{slug}")
                    sessions.append((cookie, token))
                    targets.append(action)
            except RuntimeError as error:
                out[key] = {"skipped": f"no registration form ({error})"}
                continue
            log(f"bare insert, then registration POSTs {what} ({a.runs} runs)")
            runs: dict[str, list] = {"bare": [], "product": []}
            for _ in range(a.runs):
                runs["bare"].append(
                    self.posts(
                        bare,
                        url,
                        self.meter(bare, cluster),
                        bare=True,
                        targets=["/insert"],
                        sessions=[],
                        table="bench_bare_rows",
                    )
                )
                product_run = self.posts(
                    product,
                    url,
                    self.meter(product, cluster),
                    bare=False,
                    targets=targets,
                    sessions=sessions,
                    table="registrations",
                )
                product_run["overbooked"] = self.overbooked(url)
                runs["product"].append(product_run)
            out[key] = runs
        out["crowded_capacity"] = prepared.crowded_capacity
        return out

    def overbooked(self, url: str) -> int:
        """Seats held beyond capacity, over every webinar (must stay 0)."""
        return self.count(
            url,
            "SELECT coalesce(sum(taken - capacity), 0) FROM ("
            " SELECT w.capacity, count(r.id) AS taken FROM webinars w JOIN registrations r ON r.webinar_id = w.id"
            " WHERE w.capacity IS NOT NULL AND r.status IN ('confirmed', 'pending')"
            " GROUP BY w.id, w.capacity HAVING count(r.id) > w.capacity) AS over",
        )

    # -- mail ----------------------------------------------------------------------------------------

    def campaign(self, url: str, prepared: data.Prepared) -> dict:
        why_not = mail.available()
        if why_not:
            return {"skipped": why_not}
        a = self.args
        runs = []
        for run in range(a.runs):
            log(f"campaign to {prepared.counts.get('subscribers')} subscribers, run {run + 1} of {a.runs}")
            result = mail.measure(
                url,
                self.env(url),
                self.workdir,
                bare_seconds=a.bare_mail_seconds,
                single_seconds=a.single_sender_seconds,
                timeout=a.campaign_timeout,
            )
            runs.append(dataclasses.asdict(result))
            log(
                f"campaign: one sender {result.single_rate:.0f} msg/s, two {result.rate:.0f} msg/s "
                f"{result.per_process}; bare loop {result.bare_rate:.0f} msg/s"
            )
        return {"runs": runs}

    def digest(self, url: str, prepared: data.Prepared, campaign: dict | None) -> dict:
        a = self.args
        rates = [run["rate"] for run in (campaign or {}).get("runs", [])]
        campaign_rate = statistics.median(rates) if rates else None
        runs = []
        for run in range(a.runs):
            log(f"digest of the last 7 days to {prepared.counts.get('subscribers')} subscribers, run {run + 1}")
            result = mail.measure_digest(
                url, self.env(url), self.workdir, timeout=a.campaign_timeout, campaign_rate=campaign_rate
            )
            campaign_rate = result.campaign_rate
            runs.append(dataclasses.asdict(result))
            log(f"digest {result.rate:.0f} msg/s vs campaign {result.campaign_rate:.0f} msg/s")
        return {"runs": runs}


def _server_settings(args) -> dict:
    return {
        "workers": args.workers,
        "threads": args.threads,
        "worker_class": args.worker_class,
        # Each worker takes its share of the load generator's connections (see bench/servers.py).
        "worker_connections": max(1, -(-args.connections // args.workers)),
    }


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


def _spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """median [lowest-highest] of the runs."""
    if not values:
        return "?"
    middle = fmt.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def _cpu_ms(run: dict, group: str = "app") -> float | None:
    """CPU a group of processes spent per request (or per stored row): robust to other load on the
    machine, unlike req/s."""
    requests = run.get("stored") or run.get("requests")
    if not requests or group not in run.get("cpu", {}):
        return None
    return run["cpu"][group] * run["seconds"] * 1000 / requests


def _cpu_line(runs: list[dict]) -> str:
    app = [v for v in (_cpu_ms(r) for r in runs) if v is not None]
    pg = [v for v in (_cpu_ms(r, "postgres") for r in runs) if v is not None]
    text = _spread(app, "{:.1f}")
    return text + (f" + pg {_spread(pg, '{:.1f}')}" if pg else "")


def _spread_line(runs: list[dict]) -> str:
    """How evenly the answers spread across the server's workers: the busiest worker's share."""
    shares = [max(r["workers"]) / sum(r["workers"]) for r in runs if r.get("workers")]
    if not shares:
        return ""
    counts = {len(r["workers"]) for r in runs if r.get("workers")}
    return f"busiest of {'/'.join(map(str, sorted(counts)))} workers {_spread([s * 100 for s in shares])}%"


def _mark(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def _pair_rows(label: str, pair: dict, *, rate: str = "rps", target: float, unit: str = "req/s") -> list:
    bare, product = pair["bare"], pair["product"]
    p_rates, b_rates = [r[rate] for r in product], [r[rate] for r in bare]
    ratio = statistics.median(p_rates) / statistics.median(b_rates) if b_rates and statistics.median(b_rates) else None
    p99, b99 = [r["p99_ms"] for r in product], [r["p99_ms"] for r in bare]
    p99_ratio = statistics.median(p99) / statistics.median(b99) if b99 and statistics.median(b99) else None
    errors = sum(r.get("errors", 0) for r in product)
    return [
        (
            f"{label}: {unit} (bare)",
            f"{_spread(p_rates)} ({_spread(b_rates)}) = {ratio:.0%}" if ratio is not None else _spread(p_rates),
            _mark(ratio >= target if ratio is not None else None),
        ),
        (
            f"{label}: p99 ms (bare)",
            f"{_spread(p99)} ({_spread(b99)}) = {p99_ratio:.1f}x" + (f"; {errors} errors" if errors else ""),
            _mark(p99_ratio <= TARGETS["p99"] if p99_ratio is not None else None),
        ),
        (f"{label}: CPU ms per answer, app (+ PostgreSQL) (bare)", f"{_cpu_line(product)} ({_cpu_line(bare)})", ""),
        (f"{label}: load across workers (bare)", f"{_spread_line(product)} ({_spread_line(bare)})", ""),
    ]


def rows_for(result: dict) -> list[tuple[str, str, str]]:
    """(figure, value, verdict) lines for one database."""
    rows = []
    n = CATALOGUE_ZONES * CATALOGUE_PAGES
    if "catalogue" in result:
        rows += _pair_rows(f"catalogue, {n} addresses", result["catalogue"], target=TARGETS["page"])
    if "webinar" in result:
        pages = result["webinar"]
        rows += _pair_rows("webinar pages (single-item page)", pages, target=TARGETS["page"])
        rows.append(("webinar page bytes (single-item page)", f"{pages['bytes']} ({pages['bare_bytes']})", ""))
    for key, what in (("catalogue", "catalogue page"), ("webinar", "webinar page"), ("download", "webinar .ics")):
        cold = (result.get(key) or {}).get("primed")
        if cold:
            first = cold["first_server_ms"]
            rows.append(
                (
                    f"{what} not yet kept by a process: server ms, median (p99)",
                    f"{first['median']:.1f} ({first['p99']:.1f}), {cold['paths']} addresses"
                    f" x {cold['workers']} workers",
                    "",
                )
            )
    if "topic" in result:
        rows += _pair_rows("topic pages, 2,100 addresses", result["topic"], target=TARGETS["page"])
    for key, label in (
        ("registration", "registration POSTs, spread"),
        ("registration_crowded", "registration POSTs, crowded"),
    ):
        reg = result.get(key)
        if not reg:
            continue
        if reg.get("skipped"):
            rows.append((f"{label}: stored/s", reg["skipped"][:60], "n/a"))
            continue
        rows += _pair_rows(label, reg, rate="stored_per_s", target=TARGETS["registration"], unit="stored/s")
        over = max(r.get("overbooked", 0) for r in reg["product"])
        outbox = sum(r.get("outbox_rows", 0) for r in reg["product"])
        stored = sum(r.get("stored", 0) for r in reg["product"])
        rows.append(
            (f"{label}: seats overbooked; rows stored, outbox rows", f"{over}; {stored}, {outbox}", _mark(over == 0))
        )
    if "cold_feed" in result:
        per_event = [r["server_ms"] / r["events"] for r in result["cold_feed"] if r["events"] and r["server_ms"]]
        events = result["cold_feed"][0]["events"]
        rows.append(
            (
                f"/calendar.ics cold build, {events} events: server ms per event",
                _spread(per_event, "{:.3f}"),
                _mark(statistics.median(per_event) <= TARGETS["feed_event_ms"] if per_event else None),
            )
        )
        rows += _pair_rows("/calendar.ics 200 answers", result["feed"], target=TARGETS["calendar"])
        rows += _pair_rows("/webinars/<slug>.ics 200 answers", result["download"], target=TARGETS["calendar"])
        for what in ("feed", "download"):
            p99 = [r[f"{what}_server_ms"]["p99"] for r in result["revalidation"]]
            median = [r[f"{what}_server_ms"]["median"] for r in result["revalidation"]]
            statuses = sorted({s for r in result["revalidation"] for s in r[f"{what}_statuses"]})
            rows.append(
                (
                    f"{'/calendar.ics' if what == 'feed' else '/webinars/<slug>.ics'} 304: server ms p99 (median)",
                    f"{_spread(p99, '{:.2f}')} ({_spread(median, '{:.2f}')}); statuses {statuses}",
                    _mark(statistics.median(p99) < TARGETS["revalidation_ms"] and statuses == [304]),
                )
            )
    camp = result.get("campaign") or {}
    if camp.get("skipped"):
        rows.append(("campaign: msg/s", camp["skipped"][:60], "n/a"))
    elif camp:
        runs = camp["runs"]
        single = [r["single_rate"] for r in runs]
        bare = [r["bare_rate"] for r in runs]
        ratio = statistics.median(single) / statistics.median(bare) if single and bare else None
        rows.append(
            (
                f"campaign to {runs[0]['recipients']}: msg/s of one sending process (bare loop)",
                f"{_spread(single)} ({_spread(bare)}) = {ratio:.1f}x" if ratio else "?",
                _mark(ratio >= TARGETS["campaign"] if ratio else None),
            )
        )
        senders = len(runs[0]["per_process"]) or 2
        total = [r["rate"] for r in runs]
        each = [statistics.mean(r["per_process"]) for r in runs if r["per_process"]]
        rows.append(
            (
                f"campaign: msg/s of {senders} senders at once, in total and each (bare loop)",
                f"{_spread(total)}, each {_spread(each)} ({_spread(bare)}) = "
                f"{statistics.median(total) / statistics.median(bare):.1f}x in total",
                "",
            )
        )
        peaks = [max(r["peak_mb"]) for r in runs if r["peak_mb"]]
        rows.append(
            (
                "campaign: sender peak RSS MB (bare loop)",
                f"{_spread(peaks)} ({_spread([r['bare_maxrss_mb'] for r in runs])})",
                _mark(max(peaks) < TARGETS["campaign_mb"] if peaks else None),
            )
        )
    digest = result.get("digest") or {}
    if digest:
        runs = digest["runs"]
        per_process = [r["rate"] / r["processes"] for r in runs]
        campaign = [r["campaign_rate"] / r["processes"] for r in runs]
        ratio = statistics.median(per_process) / statistics.median(campaign) if campaign else None
        rows.append(
            (
                f"digest to {runs[0]['recipients']} of {runs[0]['subscribers']}: msg/s per sender (campaign's)",
                f"{_spread(per_process)} ({_spread(campaign)}) = {ratio:.0%}" if ratio else "?",
                _mark(ratio >= TARGETS["digest"] if ratio else None),
            )
        )
        peaks = [max(r["peak_mb"]) for r in runs if r["peak_mb"]]
        rows.append(
            (
                f"digest: expansion s, sender peak RSS MB ({runs[0]['items']} items, {runs[0]['webinars']} webinars)",
                f"{_spread([r['expand_seconds'] for r in runs], '{:.1f}')} s; {_spread(peaks)} MB",
                _mark(max(peaks) < TARGETS["campaign_mb"] if peaks else None),
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
    parser.add_argument("--runs", type=int, default=3, help="runs of each figure (median and range are reported)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per run")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--scale", type=float, default=1.0, help="data size factor (1 = the full data set)")
    parser.add_argument("--revalidations", type=int, default=300, help="304 answers per run, for each calendar")
    parser.add_argument("--bare-mail-seconds", type=float, default=15.0)
    parser.add_argument("--single-sender-seconds", type=float, default=20.0, help="one sending process alone")
    parser.add_argument("--campaign-timeout", type=float, default=90.0, help="stop the senders after this")
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
        f"gunicorn {meta['gunicorn']}; wrk 1 thread, {args.connections} connections, {args.duration:.0f} s per run, "
        f"{args.runs} runs per figure: median [lowest-highest]"
    )
    print(text)
    return 0
