"""Helpers behind the fixtures in tests/conftest.py: a throwaway PostgreSQL, an SMTP server, forms."""
