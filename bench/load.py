"""Load from a second process: wrk (Debian's, C, one thread) for throughput, http.client for timings."""

from __future__ import annotations

import html
import http.client
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from .wsgi import HEADER, WORKER_HEADER

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0  # socket errors plus non-2xx/3xx answers
    cpu: dict[str, float] = field(default_factory=dict)
    workers: list[int] = field(default_factory=list)  # answers per server worker process, largest first
    output: str = ""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise RuntimeError("wrk is not installed: apt-get update && apt-get install -y wrk")
    return path


def _ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if not match:
        raise ValueError(f"unexpected latency {value!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str) -> WrkResult:
    result = WrkResult(output=output)
    if m := re.search(r"(\d+) requests in ([\d.]+)(\w+),", output):
        result.requests = int(m.group(1))
        result.seconds = _ms(m.group(2) + m.group(3)) / 1000
    if m := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result.rps = float(m.group(1))
    if m := re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE):
        result.p50_ms = _ms(m.group(1))
    if m := re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE):
        result.p99_ms = _ms(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output):
        result.errors += sum(int(g) for g in m.groups())
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", output):
        result.errors += int(m.group(1))
    result.workers = sorted((int(n) for n in re.findall(r"^worker \d+ (\d+)$", output, re.MULTILINE)), reverse=True)
    return result


def run_wrk(
    url: str, *, connections: int, seconds: float, script: Path | None = None, meter=None, threads: int = 1
) -> WrkResult:
    command = [
        wrk_path(),
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if meter:
        meter.start()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = meter.stop() if meter else {}
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    result.cpu = cpu
    return result


def _lua_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Appended to every script: each thread counts the answers per server worker (the X-Bench-Worker header of
# bench/wsgi.py), and the totals are printed at the end, so that the table can say how evenly the load
# was spread across the server's processes.
_COUNT_WORKERS = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
answers = {}
function response(status, headers, body)
  local worker = headers["X-Bench-Worker"]
  if worker then answers[worker] = (answers[worker] or 0) + 1 end
end
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for worker, count in pairs(thread:get("answers")) do total[worker] = (total[worker] or 0) + count end
  end
  for worker, count in pairs(total) do io.write(string.format("worker %s %d\\n", worker, count)) end
end
"""


def rotate_script(path: Path, paths: list[str], headers: dict[str, str] | None = None) -> Path:
    """GET each of `paths` in turn, with `headers` (say Accept-Encoding) on every request."""
    items = ",\n  ".join(_lua_string(p) for p in paths)
    # None: wrk's own headers (those given with -H); a table replaces them for every request.
    header_items = ", ".join(f"[{_lua_string(name)}] = {_lua_string(value)}" for name, value in (headers or {}).items())
    table = f"{{{header_items}}}" if headers else "nil"
    path.write_text(
        f"local paths = {{\n  {items}\n}}\nlocal headers = {table}\nlocal n = 0\n"
        "request = function()\n  n = n + 1\n"
        '  return wrk.format("GET", paths[(n % #paths) + 1], headers)\nend\n' + _COUNT_WORKERS
    )
    return path


def post_script(path: Path, *, targets: list[str], sessions: list[tuple[str, str]], prefix: str, bare: bool) -> Path:
    """POST a form with a unique email each time: registrations (CSRF token of one of `sessions`,
    whose cookie goes with it) or the bare insert (no session)."""
    target_items = ",\n  ".join(_lua_string(t) for t in targets)
    empty = '{"", ""}'
    session_items = ",\n  ".join(f"{{{_lua_string(c)}, {_lua_string(quote(t, safe=''))}}}" for c, t in sessions)
    if bare:
        body = '"name=Bench+User+" .. n .. "&email=" .. prefix .. n .. "%40example.com"'
        headers = '{["Content-Type"] = "application/x-www-form-urlencoded"}'
    else:
        body = (
            '"csrf_token=" .. s[2] .. "&name=Bench+User+" .. n .. "&email=" .. prefix .. n .. "%40example.com"'
            ' .. "&organisation=Bench+Co&country=France&timezone=Europe%2FParis"'
        )
        headers = '{["Content-Type"] = "application/x-www-form-urlencoded", ["Cookie"] = s[1]}'
    path.write_text(
        f"local targets = {{\n  {target_items}\n}}\n"
        f"local sessions = {{\n  {session_items or empty}\n}}\n"
        f"local prefix = {_lua_string(prefix)}\n"
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        "  local s = sessions[(n % #sessions) + 1]\n"
        f'  return wrk.format("POST", targets[(n % #targets) + 1], {headers}, {body})\n'
        "end\n" + _COUNT_WORKERS
    )
    return path


# -- single requests -------------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    headers: http.client.HTTPMessage
    client_ms: float

    @property
    def server_ms(self) -> float | None:
        value = self.headers.get(HEADER)
        return int(value) / 1000 if value else None


class Client:
    """One keep-alive connection to 127.0.0.1:port."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, headers: dict | None = None, body: str | None = None) -> Answer:
        started = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers or {})
        response = self.conn.getresponse()
        data = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.will_close:
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return Answer(response.status, data, response.headers, elapsed)

    def close(self) -> None:
        self.conn.close()


def prime(port: int, paths: list[str], connections: int) -> dict:
    """Have every server process answer every path once, as a site in service has (its per-process
    caches warm): open `connections` keep-alive connections at once (the servers' worker_connections
    spread them evenly), learn which worker holds each (X-Bench-Worker), and request every path on one
    connection per worker. Returns the workers' count and the server times of those first answers
    (what a page costs when it is not in the cache)."""
    import threading

    clients = [Client(port) for _ in range(connections)]
    try:
        for client in clients:
            client.conn.connect()
        by_worker: dict[str, Client] = {}
        for client in clients:
            answer = client.request("GET", paths[0])
            by_worker.setdefault(answer.headers.get(WORKER_HEADER, "?"), client)
        times: list[float] = []

        def walk(client: Client) -> None:
            for path in paths:
                answer = client.request("GET", path)
                if answer.server_ms is not None:
                    times.append(answer.server_ms)

        threads = [threading.Thread(target=walk, args=(client,)) for client in by_worker.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for client in clients:
            client.close()
    return {"workers": len(by_worker), "paths": len(paths), "first_server_ms": summary(times)}


_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"')
_FORM = re.compile(rb'<form[^>]*method="post"[^>]*action="([^"]*regist[^"]*)"', re.IGNORECASE)


def form_session(port: int, page: str) -> tuple[str, str, str]:
    """(Cookie header, CSRF token, form action) as a browser gets them from the webinar page."""
    client = Client(port)
    try:
        answer = client.request("GET", page)
    finally:
        client.close()
    if answer.status != 200:
        raise RuntimeError(f"GET {page} answered {answer.status}")
    token = _TOKEN.search(answer.body)
    action = _FORM.search(answer.body)
    if not token or not action:
        raise RuntimeError(f"no registration form with a CSRF token on {page}")
    cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or []]
    return "; ".join(cookies), html.unescape(token.group(1).decode()), html.unescape(action.group(1).decode())


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median": statistics.median(values) if values else 0.0,
        "p99": percentile(values, 0.99),
        "min": min(values) if values else 0.0,
        "max": max(values) if values else 0.0,
    }
