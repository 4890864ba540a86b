"""An SMTP sink for the campaign benchmark: accepts every message and throws it away.

    python -m bench.sink --port 2525 --stats /path/stats.txt

A separate process (aiosmtpd on its own event loop), so its CPU is not charged to the sender. It
writes `<messages> <bytes> <cpu_seconds>` to the stats file twice a second and on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import time

from aiosmtpd.smtp import SMTP


class Discard:
    def __init__(self) -> None:
        self.messages = 0
        self.bytes = 0

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        self.bytes += len(envelope.content or b"")
        return "250 OK"


def _write(path: str, handler: Discard) -> None:
    cpu = sum(os.times()[:2])
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{handler.messages} {handler.bytes} {cpu:.3f} {time.time():.3f}\n")
    os.replace(tmp, path)


async def serve(host: str, port: int, stats: str) -> None:
    handler = Discard()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink.localhost", enable_SMTPUTF8=True, ident="bench sink"), host, port
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    _write(stats, handler)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        _write(stats, handler)
    server.close()
    _write(stats, handler)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stats", required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(args.host, args.port, args.stats))


if __name__ == "__main__":
    main()
