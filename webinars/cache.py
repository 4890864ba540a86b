"""Small per-process caches for pages and files that are costly to build and cheap to version."""

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from contextlib import contextmanager

from flask import current_app, g, has_app_context
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup


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
    extensions = current_app.extensions
    key = f"webinars.cache.{name}"
    cache = extensions.get(key)
    if cache is None:
        # setdefault is atomic on a dict, so two threads of a fresh worker end up with the same cache.
        cache = extensions.setdefault(key, BoundedCache(size))
    return cache


# -- pages served from the cache, each with the visitor's own parts -------------------------------------
#
# A page rendered for the cache holds a slot wherever it shows something of the visitor's (their CSRF
# token, their zone, the address they asked for); personal() fills the slots of the kept page for each
# request, with the fillers registered for them (register_slot). A slot is an HTML comment with a
# marker random per process: no text shown on a page can write one, because escaping turns its "<"
# into "&lt;" (and organisers' Markdown keeps no raw HTML nor comments, markup.py), and no stored
# text can hold the marker by chance.

_MARK = "<!--slot-" + secrets.token_hex(8) + " "
_END = "-->"

# The CSRF token's own slot, as it appears in a page rendered for the cache.
CSRF_PLACEHOLDER = _MARK + "csrf" + _END


class Slot(Markup):
    """A visitor's part of a page rendered for the cache: a marker in its HTML (see personal())."""


def slot(name: str, *args: str) -> Slot:
    """The marker of slot `name` with `args` (words without spaces: zone names, ISO instants)."""
    return Slot(_MARK + " ".join((name, *args)) + _END)


_FILLERS: dict[str, Callable[..., str]] = {}


def register_slot(name: str, fill: Callable[..., str]) -> None:
    """`fill(visitor, *args)` writes slot `name` for one request (HTML, escaped); `visitor` is what
    the view passed to personal(), a dict of this request only (fillers may note look-ups in it)."""
    _FILLERS[name] = fill


def _csrf(visitor: dict) -> str:
    return generate_csrf()


register_slot("csrf", _csrf)


def _placeholder() -> Slot:
    return slot("csrf")


_RENDERING = "webinars_rendering_for_cache"


@contextmanager
def rendering_for_cache():
    """While a page is rendered for the cache: shared helpers (the language switch's links) then write
    slots for what differs from one visitor to the next."""
    setattr(g, _RENDERING, True)
    try:
        yield
    finally:
        setattr(g, _RENDERING, False)


def for_the_cache() -> bool:
    """Whether the page being rendered will be kept for other visitors (see rendering_for_cache)."""
    return has_app_context() and getattr(g, _RENDERING, False)


def cacheable_context() -> dict:
    """Template context that makes a page the same for every visitor: forms write csrf_token() (the
    global Flask-WTF provides), which this shadows with the token's slot."""
    return {"csrf_token": _placeholder}


def personal(body: str, **visitor) -> str:
    """A kept page with this visitor's parts in its slots (the CSRF token: a cheap signature; the
    session cookie keeps the raw token, as with any form). What the fillers write is not read again
    for slots: a visitor's part cannot bring in another's."""
    if _MARK not in body:
        return body
    pieces = body.split(_MARK)
    written = [pieces[0]]
    for piece in pieces[1:]:
        spec, end, rest = piece.partition(_END)
        name, *args = spec.split(" ")
        fill = _FILLERS.get(name)
        if not end or fill is None:  # not a slot this process wrote: left as it was
            written.append(_MARK + piece)
            continue
        written.append(str(fill(visitor, *args)))
        written.append(rest)
    return "".join(written)
