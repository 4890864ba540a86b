"""Queued outgoing mail, the SMTP sender and the worker loop."""
