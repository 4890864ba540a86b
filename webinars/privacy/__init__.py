"""A person's data rights: everything the service holds about one address, exported or erased.

The parts each own their data (newsletter, registrations, outbox, rate limits) and expose how to
find, export and erase it by address; this package composes them, for `flask privacy ...` and the
admin's Personal data page, and records each request in the audit trail without the address.
"""
