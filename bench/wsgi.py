"""What gunicorn serves in the benchmark: the product or the bare app, each wrapped in ServerTiming.

    gunicorn ... 'bench.wsgi:product()'   # webinars.create_app(), configured from the environment
    gunicorn ... 'bench.wsgi:bare()'      # bench.bare_app

The wrapper exists only here, never in the product: it adds `X-Bench-Server-Time` (microseconds
from the WSGI call to the finished body, teardown included; gunicorn's socket I/O excluded) and
`X-Bench-Worker` (the worker process's id, to see how the load spreads across workers).
"""

from __future__ import annotations

import os
from time import perf_counter

HEADER = "X-Bench-Server-Time"
WORKER_HEADER = "X-Bench-Worker"


class ServerTiming:
    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        started = perf_counter()
        captured: list = []

        def capture(status, headers, exc_info=None):
            captured[:] = [status, headers, exc_info]
            return _no_write

        # Flask builds the whole body (and pops its contexts) before returning, so the clock stops
        # after the work and the headers can still be amended.
        body = self.app(environ, capture)
        elapsed_us = int((perf_counter() - started) * 1e6)
        status, headers, exc_info = captured
        start_response(status, [*headers, (HEADER, str(elapsed_us)), (WORKER_HEADER, str(os.getpid()))], exc_info)
        return body


def _no_write(data):  # pragma: no cover - Flask never uses the write() callable
    raise RuntimeError("write() is not supported by the timing wrapper")


def product():
    from webinars import create_app

    return ServerTiming(create_app())


def bare():
    from .bare_app import create_app

    return ServerTiming(create_app())
