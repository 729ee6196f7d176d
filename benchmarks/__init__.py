"""Benchmarks that measure and print figures (never assert on time): `python -m benchmarks`."""
