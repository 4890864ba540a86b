"""Small per-process caches for pages and files that are costly to build and cheap to version."""

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app


class BoundedCache:
    """A thread-safe LRU map. Values are built outside the lock: two threads may build the same
    value once at the same moment, which is cheaper than making every reader wait."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get_or_build(self, key: Hashable, build: Callable[[], object]):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = build()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


def app_cache(name: str, size: int) -> BoundedCache:
    """The named cache of the current app (each app, and so each test database, has its own)."""
    # setdefault is atomic on a dict, so two threads of a fresh worker end up with the same cache.
    return current_app.extensions.setdefault(f"webinars.cache.{name}", BoundedCache(size))
