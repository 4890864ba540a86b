"""What the outbox knows about the mail it carries: one renderer per message kind, and idle-time hooks.

The outbox never imports the parts that send through it. Each part registers, when the app is built
(its `init_app`), a renderer for each kind of message it queues, and the housekeeping it wants done
while the mail worker has nothing to send. The worker claims a row, asks the renderer of its kind for
the bytes, and delivers them.

A renderer is `render(row) -> bytes | None`, where `row` is the claimed outbox row (id, kind,
to_address, payload, campaign_id, subscriber_id, attempts). It reads what it needs by the ids in the
payload and returns the message in its wire form (outbox.operations.message_bytes), or None when
there is nothing to send any more (the person's data was erased, the subscriber left): the row is
then marked 'suppressed'. A renderer that raises has a message that cannot be built: the row fails
at once with the reason, rather than being retried for hours, except for a database that is briefly
unavailable. `on_failure(row, error, now, worker_id)` may then stop whatever fails with it (a
campaign's other messages) and return (label, reason), said once in the worker's report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, current_app

EXTENSION = "webinars.outbox"

Render = Callable[[object], bytes | None]
OnFailure = Callable[[object, Exception, datetime, str], tuple[str, str] | None]
IdleHook = Callable[[datetime], object]


@dataclass(frozen=True)
class Renderer:
    render: Render
    on_failure: OnFailure | None = None


@dataclass
class Registry:
    renderers: dict[str, Renderer] = field(default_factory=dict)
    idle_hooks: list[IdleHook] = field(default_factory=list)


def registry(app: Flask | None = None) -> Registry:
    """The registry of `app` (the current one by default): each app has its own."""
    app = app or current_app._get_current_object()
    return app.extensions.setdefault(EXTENSION, Registry())


def register_renderer(app: Flask, kind: str, render: Render, *, on_failure: OnFailure | None = None) -> None:
    """Messages of `kind` are built at send time by `render` (see the module docstring)."""
    if len(kind) > 40:
        raise ValueError(f"message kind {kind!r} is longer than the outbox stores")
    registry(app).renderers[kind] = Renderer(render, on_failure)


def register_idle_hook(app: Flask, hook: IdleHook) -> None:
    """Run `hook(now)` in the mail worker whenever it is idle; the worker commits after it (or rolls
    back if it raises, and carries on)."""
    hooks = registry(app).idle_hooks
    if hook not in hooks:
        hooks.append(hook)


def renderer_for(kind: str) -> Renderer | None:
    return registry().renderers.get(kind)


def idle_hooks() -> list[IdleHook]:
    return list(registry().idle_hooks)
