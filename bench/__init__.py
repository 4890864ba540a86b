"""Benchmarks of the webinars service against bare baselines, run by `make bench` (never by `make test`).

See bench/README.md for what is measured, how, and the latest results.
"""
