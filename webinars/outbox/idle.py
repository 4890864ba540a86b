"""Housekeeping the mail worker does while it has nothing to send, registered by the parts that need it.

A part registers a hook when the app is built (registrations expire lapsed seat holds); the outbox
runs each one and never imports the part itself.
"""

from collections.abc import Callable
from datetime import datetime

from flask import Flask

EXTENSION = "outbox_idle_hooks"


def on_idle(app: Flask, hook: Callable[[datetime], object]) -> None:
    """Run `hook(now)` in the mail worker whenever it is idle (the hook commits what it does)."""
    hooks = app.extensions.setdefault(EXTENSION, [])
    if hook not in hooks:
        hooks.append(hook)


def idle_hooks(app: Flask) -> list[Callable[[datetime], object]]:
    return list(app.extensions.get(EXTENSION, []))
