"""The newsletter: double opt-in, preferences, one-click unsubscribe, campaigns."""
