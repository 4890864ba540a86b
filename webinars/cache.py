"""Small per-process caches for pages and files that are costly to build and cheap to version."""

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from flask import current_app
from flask_wtf.csrf import generate_csrf


class BoundedCache:
    """A thread-safe LRU map. Values are built outside the lock: two threads may build the same
    value once at the same moment, which is cheaper than making every reader wait."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def put(self, key: Hashable, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

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


# -- pages served from the cache, each with the visitor's own CSRF token --------------------------------

# Stands for the visitor's CSRF token in a page rendered for the cache: random per process, so that
# no stored text can contain it by chance.
CSRF_PLACEHOLDER = "csrf-" + secrets.token_hex(16)


def _placeholder() -> str:
    return CSRF_PLACEHOLDER


def cacheable_context() -> dict:
    """Template context that makes a page the same for every visitor: forms write csrf_token() (the
    global Flask-WTF provides), which this shadows with the placeholder."""
    return {"csrf_token": _placeholder}


def personal(body: str) -> str:
    """A cached page with this visitor's CSRF token in place of the placeholder (a cheap signature;
    the session cookie keeps the raw token, as with any form)."""
    if CSRF_PLACEHOLDER not in body:
        return body
    return body.replace(CSRF_PLACEHOLDER, generate_csrf())
