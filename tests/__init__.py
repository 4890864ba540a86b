"""Test suite; a package so that helpers import as `tests._support.<module>` from anywhere."""
