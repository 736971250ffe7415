"""Benchmarks that print figures (`python -m bench [NAME ...]`); never part of `make test`."""
