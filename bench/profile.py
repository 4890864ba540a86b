"""Profile one request path in-process (cProfile, CPU time), to see what limits a figure.

    .venv/bin/python -m bench.profile --db sqlite:////path/bench.sqlite3 / /webinars/<slug> /calendar.ics
    .venv/bin/python -m bench.profile --cold ...   # every request with the per-process caches emptied

Uses the production config (WEBINARS_ENV=production) with a throwaway SECRET_KEY; the database
must already hold the benchmark data (`python -m bench.data URL` builds one).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--cold", action="store_true", help="empty the per-process caches before each request")
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    base = "http://127.0.0.1:8000"
    os.environ.update(WEBINARS_ENV="production", SECRET_KEY=secrets.token_hex(32), DATABASE_URL=args.db, BASE_URL=base)

    from webinars import create_app

    app = create_app()
    client = app.test_client()
    headers = dict(h.split(": ", 1) for h in args.header)

    def get(path):
        if args.cold:
            for name in [name for name in app.extensions if name.startswith("webinars.cache.")]:
                del app.extensions[name]
        return client.get(path, headers=headers, base_url=base)

    for path in args.paths:
        get(path)  # compile templates, fill caches
        cpu = []
        for _ in range(args.repeat):
            started = time.process_time()
            response = get(path)
            cpu.append((time.process_time() - started) * 1000)
        profile = cProfile.Profile()
        profile.enable()
        get(path)
        profile.disable()
        out = io.StringIO()
        pstats.Stats(profile, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(f"== {path}: {response.status_code}, {len(response.data)} bytes, CPU ms per request {sorted(cpu)}")
        print(out.getvalue())


if __name__ == "__main__":
    main()
