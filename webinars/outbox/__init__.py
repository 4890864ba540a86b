"""Queued outgoing mail: the outbox table, the renderers and idle-time hooks that parts register, the
SMTP sender and the worker loop. It carries mail for every part and imports none of them."""

from .registry import register_idle_hook, register_renderer

__all__ = ["register_idle_hook", "register_renderer"]
